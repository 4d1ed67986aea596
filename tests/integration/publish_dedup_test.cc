// Producer dedup through the real broker process: resending an event that is already stored (same
// event id) is answered ok + duplicate with the original global seq, case seq and leaf hash, and
// stores nothing, also after the broker was SIGKILLed and restarted (docs/protocol.md §4).

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

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
using testing::BrokerProcess;
using testing::RawDealer;

constexpr int kReplyMs = 10000;

std::string Bytes(const v1::Event& e) {
  std::string b;
  e.SerializeToString(&b);
  return b;
}

// Publishes `events` (serialized) from a raw DEALER and returns the results, in order.
std::vector<v1::PublishResult> PublishRaw(RawDealer& dealer, const std::vector<std::string>& events) {
  auto reply = dealer.Call(testing::PublishFrame(events), kReplyMs);
  EXPECT_TRUE(reply.has_value()) << "no answer to PUBLISH";
  if (!reply.has_value()) {
    return {};
  }
  EXPECT_TRUE(reply->has_publish_ack()) << reply->DebugString();
  return {reply->publish_ack().results().begin(), reply->publish_ack().results().end()};
}

void ExpectSameAck(const v1::PublishResult& dup, const v1::PublishResult& original) {
  EXPECT_TRUE(dup.ok()) << dup.DebugString();
  EXPECT_TRUE(dup.duplicate()) << dup.DebugString();
  EXPECT_EQ(dup.event_id(), original.event_id());
  EXPECT_EQ(dup.global_seq(), original.global_seq());
  EXPECT_EQ(dup.case_seq(), original.case_seq());
  EXPECT_EQ(dup.leaf_hash(), original.leaf_hash());
}

TEST(PublishDedup, ResendOfAStoredEventGetsTheOriginalAckAlsoAfterABrokerCrash) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), testing::SampleAgencies());
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();

  const std::string case_id = core::NewUuidV7();
  const v1::Event opened = testing::CaseOpened("fia", case_id);
  const v1::Event consent = testing::ConsentGiven("fia", case_id, core::NewUuidV7());
  const std::string opened_bytes = Bytes(opened);
  const std::string consent_bytes = Bytes(consent);

  v1::PublishResult first_opened;
  v1::PublishResult first_consent;
  {
    RawDealer fia(broker.endpoint(), broker.broker_keys().public_z85, broker.keys("fia"));
    ASSERT_OK(fia.status());

    auto r = PublishRaw(fia, {opened_bytes});
    ASSERT_EQ(r.size(), 1u);
    first_opened = r[0];
    ASSERT_TRUE(first_opened.ok()) << first_opened.DebugString();
    EXPECT_FALSE(first_opened.duplicate());
    EXPECT_EQ(first_opened.global_seq(), 1u);
    EXPECT_EQ(first_opened.case_seq(), 1u);
    EXPECT_EQ(first_opened.leaf_hash().size(), 32u);

    // The same bytes again, on the same connection.
    r = PublishRaw(fia, {opened_bytes});
    ASSERT_EQ(r.size(), 1u);
    ExpectSameAck(r[0], first_opened);

    // One batch: a new event, a repeat of a stored one, and a repeat of the new one.
    r = PublishRaw(fia, {consent_bytes, opened_bytes, consent_bytes});
    ASSERT_EQ(r.size(), 3u);
    first_consent = r[0];
    ASSERT_TRUE(first_consent.ok()) << first_consent.DebugString();
    EXPECT_FALSE(first_consent.duplicate());
    EXPECT_EQ(first_consent.global_seq(), 2u);
    EXPECT_EQ(first_consent.case_seq(), 2u);
    ExpectSameAck(r[1], first_opened);
    ExpectSameAck(r[2], first_consent);

    // Content is not compared: a changed event under a stored id gets the original's ack.
    v1::Event changed = opened;
    changed.set_actor_user("someone else");
    changed.mutable_case_opened()->mutable_profile()->set_age_years(31);
    r = PublishRaw(fia, {Bytes(changed)});
    ASSERT_EQ(r.size(), 1u);
    ExpectSameAck(r[0], first_opened);
  }

  // SIGKILL, restart on the same port, resend both from a new connection.
  broker.Kill();
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  {
    RawDealer fia(broker.endpoint(), broker.broker_keys().public_z85, broker.keys("fia"));
    auto r = PublishRaw(fia, {consent_bytes, opened_bytes});
    ASSERT_EQ(r.size(), 2u);
    ExpectSameAck(r[0], first_consent);
    ExpectSameAck(r[1], first_opened);
  }

  // The Client path: the outbox resends whatever it is given; a second Publish of the same event
  // (same id) comes back as a duplicate of the original.
  testing::AgencyNode node;
  ASSERT_OK(testing::OpenNode(broker, "fia", dir.Sub("fia"), &node));
  std::vector<v1::PublishResult> results;
  node.client->OnPublishResult([&](const v1::PublishResult& r) { results.push_back(r); });
  const v1::Event third = testing::ConsentGiven("fia", case_id, core::NewUuidV7());
  ASSERT_OK(node.client->Publish(opened));
  ASSERT_OK(node.client->Publish(third));
  ASSERT_OK(node.client->Publish(third));
  ASSERT_OK(node.client->Flush(kReplyMs)) << broker.BrokerLog();
  ASSERT_EQ(results.size(), 3u);
  ExpectSameAck(results[0], first_opened);
  ASSERT_TRUE(results[1].ok()) << results[1].DebugString();
  EXPECT_FALSE(results[1].duplicate());
  EXPECT_EQ(results[1].global_seq(), 3u);
  EXPECT_EQ(results[1].case_seq(), 3u);
  ExpectSameAck(results[2], results[1]);

  // Once more across a crash, through the client.
  broker.Kill();
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  results.clear();
  ASSERT_OK(node.client->Publish(third));
  ASSERT_OK(node.client->Publish(consent));
  ASSERT_OK(node.client->Flush(kReplyMs)) << broker.BrokerLog();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].duplicate());
  EXPECT_EQ(results[0].global_seq(), 3u);
  ExpectSameAck(results[1], first_consent);
  node.Close();

  // The log holds each event exactly once, under the seqs the acks named.
  broker.Stop();
  auto log = testing::ReadWholeLog(broker.log_dir());
  ASSERT_OK(log);
  ASSERT_EQ(log->size(), 3u);
  EXPECT_EQ((*log)[0].event_id(), opened.event_id());
  EXPECT_EQ((*log)[0].event(), opened_bytes);
  EXPECT_EQ((*log)[1].event_id(), consent.event_id());
  EXPECT_EQ((*log)[1].event(), consent_bytes);
  EXPECT_EQ((*log)[2].event_id(), third.event_id());
  for (const auto& env : *log) {
    EXPECT_EQ(env.producer(), "fia");
    EXPECT_EQ(env.case_id(), case_id);
    EXPECT_EQ(env.case_seq(), env.global_seq());
  }
}

// The broker stages the next batch while the previous one is being synced; a repeat that arrives
// then must still get the original's ack, and nothing is stored twice. One large PUBLISH (its
// synced write takes milliseconds) is followed at once by frames repeating parts of it.
TEST(PublishDedup, RepeatsArrivingWhileTheOriginalIsWrittenGetTheOriginalAck) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), testing::SampleAgencies());
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  RawDealer fia(broker.endpoint(), broker.broker_keys().public_z85, broker.keys("fia"));
  ASSERT_OK(fia.status());

  constexpr size_t kEvents = 1500;
  constexpr size_t kRepeatFrames = 30;
  constexpr size_t kPerRepeat = 50;
  std::vector<std::string> bytes;
  for (size_t i = 0; i < kEvents; ++i) {
    bytes.push_back(Bytes(testing::CaseOpened("fia", core::NewUuidV7())));
  }
  const uint64_t first_id = fia.Send(testing::PublishFrame(bytes));
  std::map<uint64_t, std::vector<size_t>> repeat_of;  // request id -> event indexes
  for (size_t f = 0; f < kRepeatFrames; ++f) {
    std::vector<std::string> frame;
    std::vector<size_t> which;
    for (size_t k = 0; k < kPerRepeat; ++k) {
      size_t i = (f * 37 + k * 29) % kEvents;
      frame.push_back(bytes[i]);
      which.push_back(i);
    }
    repeat_of[fia.Send(testing::PublishFrame(frame))] = which;
  }

  std::vector<v1::PublishResult> originals;
  std::map<uint64_t, std::vector<v1::PublishResult>> repeats;
  while (originals.empty() || repeats.size() < repeat_of.size()) {
    auto reply = fia.Recv(kReplyMs);
    ASSERT_TRUE(reply.has_value()) << "answers missing\n" << broker.BrokerLog();
    ASSERT_TRUE(reply->has_publish_ack()) << reply->DebugString();
    const auto& results = reply->publish_ack().results();
    if (reply->request_id() == first_id) {
      originals.assign(results.begin(), results.end());
    } else {
      ASSERT_EQ(repeat_of.count(reply->request_id()), 1u);
      repeats[reply->request_id()].assign(results.begin(), results.end());
    }
  }
  ASSERT_EQ(originals.size(), kEvents);
  for (size_t i = 0; i < kEvents; ++i) {
    ASSERT_TRUE(originals[i].ok()) << originals[i].DebugString();
    EXPECT_FALSE(originals[i].duplicate());
    EXPECT_EQ(originals[i].global_seq(), i + 1);
  }
  for (const auto& [id, results] : repeats) {
    const auto& which = repeat_of[id];
    ASSERT_EQ(results.size(), which.size());
    for (size_t k = 0; k < which.size(); ++k) {
      ExpectSameAck(results[k], originals[which[k]]);
    }
  }
  broker.Stop();
  auto log = testing::ReadWholeLog(broker.log_dir());
  ASSERT_OK(log);
  EXPECT_EQ(log->size(), kEvents);
}

}  // namespace
}  // namespace passage
