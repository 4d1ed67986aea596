// Redelivery and parking through the real broker (docs/protocol.md §5): a NACK without park brings
// the event back as the next attempt; a parked event is recorded and the stream moves past it;
// the Client maps a handler's Unavailable to "again later" and any other error to "park".

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "broker/log/event_log.h"
#include "core/ids.h"
#include "tests/testing/agency_node.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/events.h"
#include "tests/testing/raw_dealer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace passage {
namespace {

namespace v1 = passage::v1;
using testing::AgencyNode;
using testing::BrokerProcess;
using testing::RawDealer;

constexpr char kInbox[] = "SELECTOR_INBOX";

std::string ParkKey(const std::string& agency, uint64_t seq) {
  std::string k = "p/" + agency;
  k.push_back('\0');
  k += log::EncodeBe64(seq);
  return k;
}

// fia opens a case and sends `referrals` referrals to the shelter, each cancelled before the next
// (so every one is allowed): 2 * referrals - 1 events for the shelter's inbox. Returns their seqs.
std::vector<uint64_t> PublishReferrals(AgencyNode& fia, int referrals) {
  std::map<std::string, uint64_t> seq_of;
  fia.client->OnPublishResult([&](const v1::PublishResult& r) {
    EXPECT_TRUE(r.ok()) << r.DebugString();
    seq_of[r.event_id()] = r.global_seq();
  });
  std::vector<std::string> for_shelter;
  std::string case_id = core::NewUuidV7();
  std::string consent = core::NewUuidV7();
  EXPECT_OK(fia.client->Publish(testing::CaseOpened("fia", case_id)));
  EXPECT_OK(fia.client->Publish(testing::ConsentGiven("fia", case_id, consent)));
  for (int i = 0; i < referrals; ++i) {
    std::string ref = core::NewUuidV7();
    auto sent = testing::ReferralSent("fia", "shelter", case_id, ref, consent);
    for_shelter.push_back(sent.event_id());
    EXPECT_OK(fia.client->Publish(sent));
    if (i + 1 < referrals) {
      auto cancel = testing::Transition("fia", case_id, ref, v1::REFERRAL_STATUS_CANCELLED);
      for_shelter.push_back(cancel.event_id());
      EXPECT_OK(fia.client->Publish(cancel));
    }
  }
  EXPECT_OK(fia.client->Flush(10000));
  fia.client->OnPublishResult(nullptr);
  std::vector<uint64_t> seqs;
  for (const auto& id : for_shelter) {
    seqs.push_back(seq_of[id]);
  }
  return seqs;
}

// Waits for the next DELIVER on `raw`; nullopt after `timeout_ms`.
std::optional<v1::Deliver> NextDelivery(RawDealer& raw, int timeout_ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    auto f = raw.Recv(50);
    if (f && f->has_deliver()) {
      return f->deliver();
    }
  }
  return std::nullopt;
}

void Nack(RawDealer& raw, uint64_t seq, bool park, const std::string& reason = "test") {
  v1::ClientFrame f;
  f.mutable_nack()->set_selector(v1::SELECTOR_INBOX);
  f.mutable_nack()->set_global_seq(seq);
  f.mutable_nack()->set_park(park);
  f.mutable_nack()->set_reason(reason);
  raw.Send(f);
}

void Ack(RawDealer& raw, uint64_t seq) {
  v1::ClientFrame f;
  f.mutable_ack()->set_selector(v1::SELECTOR_INBOX);
  f.mutable_ack()->add_global_seqs(seq);
  raw.Send(f);
}

void Subscribe(RawDealer& raw, std::optional<uint64_t> after_seq, uint32_t credits,
               uint32_t max_batch = 0) {
  v1::ClientFrame f;
  f.mutable_subscribe()->set_selector(v1::SELECTOR_INBOX);
  f.mutable_subscribe()->set_credits(credits);
  f.mutable_subscribe()->set_max_batch(max_batch);
  if (after_seq) {
    f.mutable_subscribe()->set_after_seq(*after_seq);
  }
  raw.Send(f);
}

// Broker flags for a config with a shorter redelivery wait (and, when set, fewer attempts) than the
// defaults (5 s, 8), so that redeliveries happen within a test's time.
std::vector<std::string> RedeliveryConfig(testing::TempDir& dir, int timeout_ms, int attempts = 0) {
  const std::string path = dir.Sub("broker-config.textproto");
  std::ofstream out(path);
  out << "redelivery_timeout_ms: " << timeout_ms << "\n";
  if (attempts > 0) {
    out << "max_delivery_attempts: " << attempts << "\n";
  }
  return {"--config", path};
}

// A broker with a short redelivery config, fia's node, and the seven events fia published for
// the shelter's inbox (four referrals, the first three cancelled). Start() asserts.
struct SevenForShelter {
  explicit SevenForShelter(int timeout_ms, int attempts = 0)
      : broker(dir.Sub("broker"), testing::SampleAgencies(),
               RedeliveryConfig(dir, timeout_ms, attempts)) {}
  void Start() {
    ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
    ASSERT_OK(testing::OpenNode(broker, "fia", dir.Sub("fia"), &fia));
    seqs = PublishReferrals(fia, 4);
    ASSERT_EQ(seqs.size(), 7u);
  }
  testing::TempDir dir;
  BrokerProcess broker;
  AgencyNode fia;
  std::vector<uint64_t> seqs;
};

TEST(Redelivery, NackRedeliversAsTheNextAttemptAndParkMovesTheStreamOn) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), testing::SampleAgencies(),
                       RedeliveryConfig(dir, /*timeout_ms=*/300));
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  AgencyNode fia;
  ASSERT_OK(testing::OpenNode(broker, "fia", dir.Sub("fia"), &fia));
  std::vector<uint64_t> seqs = PublishReferrals(fia, 2);  // ref1, cancel1, ref2
  ASSERT_EQ(seqs.size(), 3u);
  const uint64_t a = seqs[0], b = seqs[1], c = seqs[2];

  {
    RawDealer shelter(broker.endpoint(), broker.broker_keys().public_z85, broker.keys("shelter"));
    Subscribe(shelter, 0, 8);
    for (uint64_t want : seqs) {
      auto d = NextDelivery(shelter, 5000);
      ASSERT_TRUE(d.has_value()) << "seq " << want;
      EXPECT_EQ(d->global_seq(), want);
      EXPECT_EQ(d->attempt(), 1u);
    }
    Ack(shelter, b);
    Ack(shelter, c);
    // NACK without park: the same seq again as the next attempt, after the wait an unanswered
    // attempt gets (300 ms, then 600 ms here), not at once.
    for (uint32_t attempt : {2u, 3u}) {
      const auto nacked = std::chrono::steady_clock::now();
      Nack(shelter, a, false);
      auto d = NextDelivery(shelter, 5000);
      const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - nacked);
      ASSERT_TRUE(d.has_value()) << "no redelivery after a NACK";
      EXPECT_EQ(d->global_seq(), a);
      EXPECT_EQ(d->attempt(), attempt);
      EXPECT_GE(waited.count(), (300 << (attempt - 2)) - 50) << "redelivered before its wait";
      v1::Envelope env;
      ASSERT_TRUE(env.ParseFromString(d->envelope()));
      EXPECT_EQ(env.global_seq(), a);
    }
    // Park it: it is not delivered again.
    Nack(shelter, a, true, "cannot apply");
    // A later event follows; the parked one never comes back.
    ASSERT_OK(fia.client->Publish(testing::CaseOpened("fia", core::NewUuidV7())));
    ASSERT_OK(fia.client->Flush(5000));
    EXPECT_FALSE(NextDelivery(shelter, 1000).has_value());
  }
  fia.Close();

  // The park is recorded (synced) with the consumer's reason; after a restart the stream resumes
  // past it, and an explicit after_seq below it delivers it again.
  broker.Stop();
  auto parked = testing::ReadBrokerState(broker.log_dir(), ParkKey("shelter", a));
  ASSERT_OK(parked);
  ASSERT_TRUE(parked->has_value());
  EXPECT_NE((*parked)->find("parked by the consumer: cannot apply"), std::string::npos) << **parked;
  auto not_parked = testing::ReadBrokerState(broker.log_dir(), ParkKey("shelter", c));
  ASSERT_OK(not_parked);
  EXPECT_FALSE(not_parked->has_value());

  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  RawDealer shelter(broker.endpoint(), broker.broker_keys().public_z85, broker.keys("shelter"));
  Subscribe(shelter, std::nullopt, 8);
  EXPECT_FALSE(NextDelivery(shelter, 1000).has_value());
  Subscribe(shelter, a - 1, 8);
  auto again = NextDelivery(shelter, 3000);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->global_seq(), a);
  EXPECT_EQ(again->attempt(), 1u);
}

// The shelter's node with a handler that fails on purpose: Unavailable once for one seq, an
// InvalidArgument for another.
struct FlakyShelter {
  uint64_t unavailable_once = 0;
  uint64_t unavailable_always = 0;
  uint64_t broken = 0;
  std::map<uint64_t, int> calls;
  runtime::DeliveryHandler Handler() {
    return [this](uint64_t seq, const v1::Envelope& env, runtime::StateWrite* w) {
      int n = ++calls[seq];
      if ((seq == unavailable_once && n == 1) || seq == unavailable_always) {
        return Status::Unavailable("the case worker's screen is locked; later");
      }
      if (seq == broken) {
        return Status::InvalidArgument("referral", "names a service this node does not know");
      }
      w->Put("effect/" + log::EncodeBe64(seq), env.event_id());
      return Status::Ok();
    };
  }
};

size_t CountEffects(runtime::LocalStore& store) {
  size_t n = 0;
  Status s = store.Scan("effect/", [&](std::string_view, std::string_view) {
    ++n;
    return true;
  });
  EXPECT_OK(s);
  return n;
}

void RunFlakyShelter(uint32_t credits) {
  SevenForShelter t(/*timeout_ms=*/300);
  ASSERT_NO_FATAL_FAILURE(t.Start());

  FlakyShelter flaky;
  flaky.unavailable_once = t.seqs[1];
  flaky.broken = t.seqs[4];
  AgencyNode shelter;
  ASSERT_OK(testing::OpenNode(t.broker, "shelter", t.dir.Sub("shelter"), &shelter));
  ASSERT_OK(shelter.client->Subscribe(v1::SELECTOR_INBOX, credits, flaky.Handler()));
  for (int i = 0; i < 250 && CountEffects(*shelter.store) < t.seqs.size() - 1; ++i) {
    ASSERT_OK(shelter.client->Poll(20));
  }
  ASSERT_OK(shelter.client->Poll(1000));  // a parked event must not come back

  EXPECT_EQ(flaky.calls[t.seqs[1]], 2) << "the Unavailable event was not retried";
  EXPECT_EQ(flaky.calls[t.seqs[4]], 1) << "the parked event came back";
  for (uint64_t s : t.seqs) {
    if (s != t.seqs[1] && s != t.seqs[4]) {
      EXPECT_EQ(flaky.calls[s], 1) << "seq " << s;
    }
  }
  EXPECT_EQ(CountEffects(*shelter.store), t.seqs.size() - 1);
  auto effect = shelter.store->Get("effect/" + log::EncodeBe64(t.seqs[1]));
  ASSERT_OK(effect);
  EXPECT_TRUE(effect->has_value()) << "the retried event never took effect";
  EXPECT_EQ(shelter.store->Position(kInbox), t.seqs.back());
  shelter.Close();
  t.fia.Close();

  t.broker.Stop();
  auto parked = testing::ReadBrokerState(t.broker.log_dir(), ParkKey("shelter", t.seqs[4]));
  ASSERT_OK(parked);
  ASSERT_TRUE(parked->has_value()) << "the broker did not record the park";
  EXPECT_NE((*parked)->find("names a service this node does not know"), std::string::npos);
}

// The deliveries of the next frame, whether it is a DELIVER or a DELIVER_BATCH; empty after
// `timeout_ms` without one.
std::vector<v1::Deliver> NextFrameOfDeliveries(RawDealer& raw, int timeout_ms, bool* was_batch) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    auto f = raw.Recv(50);
    if (f && f->has_deliver()) {
      *was_batch = false;
      return {f->deliver()};
    }
    if (f && f->has_deliver_batch()) {
      *was_batch = true;
      return {f->deliver_batch().deliveries().begin(), f->deliver_batch().deliveries().end()};
    }
  }
  return {};
}

std::vector<uint64_t> SeqsOf(const std::vector<v1::Deliver>& ds) {
  std::vector<uint64_t> out;
  for (const auto& d : ds) {
    out.push_back(d.global_seq());
    v1::Envelope env;
    EXPECT_TRUE(env.ParseFromString(d.envelope()));
    EXPECT_EQ(env.global_seq(), d.global_seq()) << "the envelope is not the one of its seq";
    EXPECT_EQ(d.selector(), v1::SELECTOR_INBOX);
  }
  return out;
}

TEST(Redelivery, BatchedDeliveriesFillTheWindowAndEachIsAcknowledgedOnItsOwn) {
  SevenForShelter t(/*timeout_ms=*/1500);
  ASSERT_NO_FATAL_FAILURE(t.Start());
  using Seqs = std::vector<uint64_t>;
  bool batch = false;

  {
    RawDealer shelter(t.broker.endpoint(), t.broker.broker_keys().public_z85,
                      t.broker.keys("shelter"));
    Subscribe(shelter, 0, /*credits=*/5, /*max_batch=*/4);
    // A window of 5 in frames of at most 4: one batch of 4, then the fifth alone as a DELIVER.
    auto first = NextFrameOfDeliveries(shelter, 5000, &batch);
    EXPECT_TRUE(batch);
    EXPECT_EQ(SeqsOf(first), Seqs(t.seqs.begin(), t.seqs.begin() + 4));
    for (const auto& d : first) {
      EXPECT_EQ(d.attempt(), 1u);
    }
    auto second = NextFrameOfDeliveries(shelter, 5000, &batch);
    EXPECT_FALSE(batch);
    EXPECT_EQ(SeqsOf(second), Seqs{t.seqs[4]});
    EXPECT_TRUE(NextFrameOfDeliveries(shelter, 500, &batch).empty()) << "the window was overrun";

    // Acknowledging two of the batch frees two slots: the last two events come together.
    v1::ClientFrame ack;
    ack.mutable_ack()->set_selector(v1::SELECTOR_INBOX);
    ack.mutable_ack()->add_global_seqs(t.seqs[0]);
    ack.mutable_ack()->add_global_seqs(t.seqs[2]);
    shelter.Send(ack);
    auto third = NextFrameOfDeliveries(shelter, 5000, &batch);
    EXPECT_TRUE(batch);
    EXPECT_EQ(SeqsOf(third), (Seqs{t.seqs[5], t.seqs[6]}));

    // One event of a batch NACKed, the rest acknowledged: it is redelivered alone, as the next
    // attempt, after the redelivery wait (1.5 s here).
    for (uint64_t s : {t.seqs[3], t.seqs[4], t.seqs[5], t.seqs[6]}) {
      Ack(shelter, s);
    }
    Nack(shelter, t.seqs[1], false);
    auto again = NextFrameOfDeliveries(shelter, 5000, &batch);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].global_seq(), t.seqs[1]);
    EXPECT_EQ(again[0].attempt(), 2u);
    EXPECT_FALSE(batch) << "a redelivery goes alone";
    Ack(shelter, t.seqs[1]);
    // A PONG proves the broker has taken the acks, which it handles in order.
    v1::ClientFrame ping;
    ping.mutable_ping()->set_sent_at_ms(1);
    auto pong = shelter.Call(ping, 5000);
    ASSERT_TRUE(pong.has_value() && pong->has_pong());
  }
  // Everything acknowledged: the stored cursor is past the last one, so after a restart a
  // resubscription without after_seq gets only what is new.
  t.broker.Stop();
  ASSERT_TRUE(t.broker.Start()) << t.broker.BrokerLog();
  RawDealer again_shelter(t.broker.endpoint(), t.broker.broker_keys().public_z85,
                          t.broker.keys("shelter"));
  Subscribe(again_shelter, std::nullopt, 8, 4);
  std::vector<uint64_t> later = PublishReferrals(t.fia, 1);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(SeqsOf(NextFrameOfDeliveries(again_shelter, 5000, &batch)), later);
  EXPECT_TRUE(NextFrameOfDeliveries(again_shelter, 500, &batch).empty());
  t.fia.Close();
}

TEST(Redelivery, ClientRetriesUnavailableAndParksOtherHandlerErrorsOneAtATime) {
  RunFlakyShelter(/*credits=*/1);
}

TEST(Redelivery, ClientRetriesUnavailableWhenLaterEventsAreInTheWindow) {
  RunFlakyShelter(/*credits=*/64);
}

// An event that stays Unavailable up to the broker's last attempt is parked by the client itself
// (it learns the limit from WELCOME), and the later events it held back are applied, not parked
// after it. Before, a NACK brought the event back at once, so a consumer unavailable for about a
// second lost it, and every later event went the same way.
TEST(Redelivery, ClientParksAnEventStillUnavailableAtTheLastAttemptAndTheRestAreApplied) {
  SevenForShelter t(/*timeout_ms=*/200, /*attempts=*/3);
  ASSERT_NO_FATAL_FAILURE(t.Start());

  FlakyShelter flaky;
  flaky.unavailable_always = t.seqs[1];
  AgencyNode shelter;
  ASSERT_OK(testing::OpenNode(t.broker, "shelter", t.dir.Sub("shelter"), &shelter));
  ASSERT_OK(shelter.client->Subscribe(v1::SELECTOR_INBOX, 64, flaky.Handler()));
  for (int i = 0; i < 250 && shelter.store->Position(kInbox) < t.seqs.back(); ++i) {
    ASSERT_OK(shelter.client->Poll(20));
  }
  ASSERT_OK(shelter.client->Poll(500));

  EXPECT_EQ(flaky.calls[t.seqs[1]], 3) << "tried once per attempt, 3 attempts";
  EXPECT_EQ(CountEffects(*shelter.store), t.seqs.size() - 1);
  EXPECT_EQ(shelter.store->Position(kInbox), t.seqs.back());
  shelter.Close();
  t.fia.Close();

  t.broker.Stop();
  auto parked = testing::ReadBrokerState(t.broker.log_dir(), ParkKey("shelter", t.seqs[1]));
  ASSERT_OK(parked);
  ASSERT_TRUE(parked->has_value()) << "the event was not parked";
  EXPECT_NE((*parked)->find("parked by the consumer: still unavailable at attempt 3 of 3"),
            std::string::npos)
      << **parked;
  for (uint64_t s : t.seqs) {
    if (s == t.seqs[1]) {
      continue;
    }
    auto other = testing::ReadBrokerState(t.broker.log_dir(), ParkKey("shelter", s));
    ASSERT_OK(other);
    EXPECT_FALSE(other->has_value()) << "seq " << s << " was parked: " << **other;
  }
}

// A delivery nobody answers comes back after waits that double from redelivery_timeout_ms and
// stop growing at 16 times it (docs/protocol.md §5): with 50 ms, the gaps between the attempts are
// 50, 100, 200, 400, 800, 800 ms, and after the last attempt's wait the event is parked, not sent
// again. The gaps are measured where the subscriber receives them; the bounds allow a loaded
// machine some lateness but no earliness, so a constant or missing wait, or no cap, fails.
TEST(Redelivery, UnansweredDeliveryWaitsDoubleFromTheTimeoutUpToTheCap) {
  constexpr int kTimeoutMs = 50;
  constexpr int kAttempts = 7;
  SevenForShelter t(kTimeoutMs, kAttempts);
  ASSERT_NO_FATAL_FAILURE(t.Start());
  RawDealer shelter(t.broker.endpoint(), t.broker.broker_keys().public_z85,
                    t.broker.keys("shelter"));
  Subscribe(shelter, 0, /*credits=*/1);  // one in flight: only the first event, never answered
  std::vector<std::chrono::steady_clock::time_point> arrived;
  for (uint32_t attempt = 1; attempt <= kAttempts; ++attempt) {
    auto d = NextDelivery(shelter, 5000);
    ASSERT_TRUE(d.has_value()) << "attempt " << attempt << " never came";
    arrived.push_back(std::chrono::steady_clock::now());
    EXPECT_EQ(d->global_seq(), t.seqs[0]);
    EXPECT_EQ(d->attempt(), attempt);
  }
  // Earliness is judged on the time since the first attempt: the broker times each wait from its
  // own send, so a late arrival here shortens the next gap as seen here but never the total.
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  int64_t scheduled = 0;  // the waits so far
  for (size_t i = 1; i < arrived.size(); ++i) {
    const int64_t gap = ms(arrived[i] - arrived[i - 1]);
    const int64_t want = int64_t{kTimeoutMs} << std::min<size_t>(i - 1, 4);  // after attempt i
    scheduled += want;
    const int64_t since_first = ms(arrived[i] - arrived[0]);
    SCOPED_TRACE("gap after attempt " + std::to_string(i) + ": " + std::to_string(gap) +
                 " ms, expected " + std::to_string(want) + " ms; " + std::to_string(since_first) +
                 " ms since the first, expected " + std::to_string(scheduled));
    EXPECT_GE(since_first, scheduled - 25) << "redelivered before its wait";
    EXPECT_LE(gap, want + std::max<int64_t>(150, want / 2)) << "waited far longer than scheduled";
  }
  // Parked after the last attempt's wait (800 ms): nothing more comes, the next event does.
  auto next = NextDelivery(shelter, 3000);
  ASSERT_TRUE(next.has_value()) << "the stream did not move on after the last attempt";
  const int64_t parked_after = ms(std::chrono::steady_clock::now() - arrived[0]);
  EXPECT_EQ(next->global_seq(), t.seqs[1]) << "the unanswered event was sent again";
  EXPECT_EQ(next->attempt(), 1u);
  EXPECT_GE(parked_after, scheduled + (kTimeoutMs << 4) - 25);
}

}  // namespace
// After a restore from an older copy, an agency's position can lie beyond the log's end. The broker
// refuses such an after_seq with both numbers (it used to start after it, so nothing new was ever
// delivered, and a later subscription without after_seq inherited the bad position); unset means
// the stored cursor; and the client library resumes at the log's end by itself.
TEST(Redelivery, PositionBeyondTheLogIsRefusedWithBothNumbersAndTheClientResumesAtTheEnd) {
  SevenForShelter t(/*timeout_ms=*/5000);
  ASSERT_NO_FATAL_FAILURE(t.Start());
  const uint64_t end = t.seqs.back();
  {
    RawDealer shelter(t.broker.endpoint(), t.broker.broker_keys().public_z85,
                      t.broker.keys("shelter"));
    v1::ClientFrame f;
    f.set_request_id(41);
    f.mutable_subscribe()->set_selector(v1::SELECTOR_INBOX);
    f.mutable_subscribe()->set_credits(8);
    f.mutable_subscribe()->set_after_seq(1'009'247);
    auto reply = shelter.Call(f, 5000);
    ASSERT_TRUE(reply.has_value());
    ASSERT_TRUE(reply->has_error()) << reply->DebugString();
    EXPECT_EQ(reply->error().field(), "subscribe.after_seq");
    EXPECT_NE(reply->error().reason().find("1009247"), std::string::npos) << reply->error().reason();
    EXPECT_NE(reply->error().reason().find("(" + std::to_string(end) + " events)"),
              std::string::npos)
        << reply->error().reason();
    // Without after_seq: the stored cursor (nothing acknowledged yet: from the start).
    Subscribe(shelter, std::nullopt, 8);
    auto first = NextDelivery(shelter, 5000);
    ASSERT_TRUE(first.has_value()) << "nothing delivered after the refused subscription";
    EXPECT_EQ(first->global_seq(), t.seqs.front());
  }
  // The client library with a position far beyond the log: it resumes at the end and receives
  // what is published next.
  AgencyNode shelter;
  ASSERT_OK(testing::OpenNode(t.broker, "shelter", t.dir.Sub("shelter"), &shelter));
  ASSERT_OK(shelter.store->Apply(kInbox, 1'009'247, runtime::StateWrite()));
  std::vector<uint64_t> got;
  ASSERT_OK(shelter.client->Subscribe(
      v1::SELECTOR_INBOX, 16,
      [&](uint64_t seq, const v1::Envelope&, runtime::StateWrite*) -> Status {
        got.push_back(seq);
        return Status::Ok();
      }));
  for (int i = 0; i < 50; ++i) ASSERT_OK(shelter.client->Poll(20));
  EXPECT_EQ(shelter.store->Position(kInbox), end);
  std::vector<uint64_t> later = PublishReferrals(t.fia, 1);
  ASSERT_EQ(later.size(), 1u);
  for (int i = 0; i < 250 && got.empty(); ++i) ASSERT_OK(shelter.client->Poll(20));
  EXPECT_EQ(got, later) << "a referral published after the restore was not delivered";
  shelter.Close();
  t.fia.Close();
}

}  // namespace passage
