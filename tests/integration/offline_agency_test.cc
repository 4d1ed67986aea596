// An agency offline while 10,000 events for it accumulate receives all of them when it comes back,
// in per-case order, each applied exactly once, even when its node is killed and restarted
// mid-stream (quality bars, docs/architecture.md: "an agency offline for an hour receives everything, in per-case order").

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/case_projection.h"
#include "core/ids.h"
#include "tests/testing/agency_node.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/events.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace passage {
namespace {

namespace v1 = passage::v1;
using testing::AgencyNode;
using testing::BrokerProcess;

constexpr int kCases = 100;
constexpr int kRoundsPerCase = 50;  // each round: ReferralSent to shelter, then CANCELLED by fia
constexpr char kInbox[] = "SELECTOR_INBOX";

std::string Be64(uint64_t v) {
  std::string b(8, '\0');
  for (int i = 7; i >= 0; --i) {
    b[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return b;
}

int64_t ElapsedMs(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

// What the shelter's handler saw, kept across restarts of its node.
struct Consumer {
  std::map<uint64_t, int> calls;              // global seq -> handler calls
  std::map<std::string, uint64_t> case_seq;   // case id -> last case seq applied
  uint64_t last_global = 0;
  int order_violations = 0;
  std::string first_violation;

  runtime::DeliveryHandler Handler() {
    return [this](uint64_t seq, const v1::Envelope& env, runtime::StateWrite* w) {
      calls[seq]++;
      if (seq <= last_global || env.case_seq() <= case_seq[env.case_id()]) {
        if (order_violations++ == 0) {
          first_violation = "seq " + std::to_string(seq) + " (case seq " +
                            std::to_string(env.case_seq()) + ") after seq " +
                            std::to_string(last_global) + " (case seq " +
                            std::to_string(case_seq[env.case_id()]) + ")";
        }
      }
      last_global = std::max(last_global, seq);
      case_seq[env.case_id()] = std::max(case_seq[env.case_id()], env.case_seq());
      // The node's effect, committed by the client in the same batch as the position.
      w->Put("effect/" + Be64(seq), env.event_id());
      return Status::Ok();
    };
  }
};

Status StartShelter(BrokerProcess& broker, const std::string& dir, Consumer& consumer,
                    AgencyNode* node) {
  RETURN_IF_ERROR(testing::OpenNode(broker, "shelter", dir, node));
  return node->client->Subscribe(v1::SELECTOR_INBOX, 256, consumer.Handler());
}

// Polls the shelter until it applied `target` distinct seqs, or `timeout_ms` passes.
void PollUntil(AgencyNode& node, Consumer& consumer, size_t target, int timeout_ms) {
  auto start = std::chrono::steady_clock::now();
  while (consumer.calls.size() < target && ElapsedMs(start) < timeout_ms) {
    Status s = node.client->Poll(20);
    ASSERT_OK(s);
  }
}

TEST(OfflineAgency, ReceivesEveryAccumulatedEventInCaseOrderExactlyOnceAcrossNodeRestarts) {
  testing::TempDir dir;
  // The agency stores sync every outbox write and every applied delivery (~20,000 fsyncs here),
  // which is not what this test examines: they live in memory when they can, so that a busy
  // shared disk does not set the pace. The broker's log stays on disk.
  testing::TempDir nodes_dir(testing::MemoryTempBase());
  BrokerProcess broker(dir.Sub("broker"), testing::SampleAgencies());
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  const std::string shelter_dir = nodes_dir.Sub("shelter");
  Consumer consumer;

  AgencyNode fia;
  ASSERT_OK(testing::OpenNode(broker, "fia", nodes_dir.Sub("fia"), &fia,
                              [](runtime::ClientOptions& o) { o.resend_after_ms = 5000; }));
  std::map<std::string, v1::PublishResult> results;  // event id -> result
  int duplicates = 0;
  auto keep_result = [&](const v1::PublishResult& r) {
    if (r.duplicate()) {
      ++duplicates;  // a resend after a slow ack: must carry the original seq
    }
    results.emplace(r.event_id(), r);
  };
  fia.client->OnPublishResult(keep_result);

  // Warm-up: the shelter is online, receives one referral, then goes offline.
  std::set<std::string> for_shelter;  // event ids whose audience includes the shelter
  {
    std::string case_id = core::NewUuidV7();
    std::string consent = core::NewUuidV7();
    ASSERT_OK(fia.client->Publish(testing::CaseOpened("fia", case_id)));
    ASSERT_OK(fia.client->Publish(testing::ConsentGiven("fia", case_id, consent)));
    auto sent = testing::ReferralSent("fia", "shelter", case_id, core::NewUuidV7(), consent);
    for_shelter.insert(sent.event_id());
    ASSERT_OK(fia.client->Publish(sent));
    ASSERT_OK(fia.client->Flush(10000));
    AgencyNode shelter;
    ASSERT_OK(StartShelter(broker, shelter_dir, consumer, &shelter));
    PollUntil(shelter, consumer, 1, 10000);
    ASSERT_EQ(consumer.calls.size(), 1u);
    shelter.Close();
  }

  // 10,000 events for the offline shelter, cases interleaved so that per-case order is not
  // global order by accident. fia's node restarts first, and queues everything before its first
  // Poll (before WELCOME), so the outbox leaves in 256-event batches.
  fia.Close();
  ASSERT_OK(testing::OpenNode(broker, "fia", nodes_dir.Sub("fia"), &fia,
                              [](runtime::ClientOptions& o) { o.resend_after_ms = 5000; }));
  fia.client->OnPublishResult(keep_result);
  auto publish_start = std::chrono::steady_clock::now();
  const size_t total_events = 3 + 2 * kCases + 2 * kCases * kRoundsPerCase;
  std::vector<std::string> cases;
  std::vector<std::string> consents;
  for (int c = 0; c < kCases; ++c) {
    cases.push_back(core::NewUuidV7());
    consents.push_back(core::NewUuidV7());
    ASSERT_OK(fia.client->Publish(testing::CaseOpened("fia", cases.back())));
    ASSERT_OK(fia.client->Publish(testing::ConsentGiven("fia", cases.back(), consents.back())));
  }
  for (int r = 0; r < kRoundsPerCase; ++r) {
    std::vector<std::string> refs;
    for (int c = 0; c < kCases; ++c) {
      refs.push_back(core::NewUuidV7());
      auto e = testing::ReferralSent("fia", "shelter", cases[c], refs.back(), consents[c]);
      for_shelter.insert(e.event_id());
      ASSERT_OK(fia.client->Publish(e));
    }
    for (int c = 0; c < kCases; ++c) {
      auto e = testing::Transition("fia", cases[c], refs[c], v1::REFERRAL_STATUS_CANCELLED);
      for_shelter.insert(e.event_id());
      ASSERT_OK(fia.client->Publish(e));
    }
  }
  ASSERT_EQ(for_shelter.size(), 1u + 2 * kCases * kRoundsPerCase);
  int64_t enqueue_ms = ElapsedMs(publish_start);
  EXPECT_EQ(fia.client->outbox_size(), total_events - 3);
  auto flush_start = std::chrono::steady_clock::now();
  ASSERT_OK(fia.client->Flush(60000)) << broker.BrokerLog();
  int64_t publish_ms = ElapsedMs(flush_start);
  ASSERT_EQ(results.size(), total_events);
  std::set<uint64_t> expected_seqs;
  for (const auto& [id, r] : results) {
    ASSERT_TRUE(r.ok()) << r.DebugString();
    if (for_shelter.count(id) != 0) {
      expected_seqs.insert(r.global_seq());
    }
  }
  ASSERT_EQ(expected_seqs.size(), for_shelter.size());
  fia.Close();

  // The shelter comes back, and is killed twice mid-stream.
  auto deliver_start = std::chrono::steady_clock::now();
  AgencyNode shelter;
  ASSERT_OK(StartShelter(broker, shelter_dir, consumer, &shelter));
  EXPECT_EQ(shelter.store->Position(kInbox), *expected_seqs.begin());
  for (size_t stop_at : {size_t{3000}, size_t{7000}}) {
    PollUntil(shelter, consumer, stop_at, 60000);
    ASSERT_GE(consumer.calls.size(), stop_at);
    uint64_t position = shelter.store->Position(kInbox);
    shelter.Close();  // the node dies between two Polls
    ASSERT_OK(StartShelter(broker, shelter_dir, consumer, &shelter));
    EXPECT_EQ(shelter.store->Position(kInbox), position);
  }
  PollUntil(shelter, consumer, expected_seqs.size(), 60000);
  int64_t deliver_ms = ElapsedMs(deliver_start);
  // Nothing more may arrive: poll a little longer and look again.
  ASSERT_OK(shelter.client->Poll(500));

  // Everything, once, in order.
  std::set<uint64_t> got;
  int applied_twice = 0;
  for (const auto& [seq, n] : consumer.calls) {
    got.insert(seq);
    applied_twice += n > 1 ? 1 : 0;
  }
  EXPECT_EQ(got, expected_seqs);
  EXPECT_EQ(applied_twice, 0);
  EXPECT_EQ(consumer.order_violations, 0) << consumer.first_violation;
  EXPECT_EQ(shelter.store->Position(kInbox), *expected_seqs.rbegin());
  size_t stored_effects = 0;
  ASSERT_OK(shelter.store->Scan("effect/", [&](std::string_view, std::string_view) {
    ++stored_effects;
    return true;
  }));
  EXPECT_EQ(stored_effects, expected_seqs.size());
  shelter.Close();

  // The delivery index agrees with core::AudienceOf over the stored log: the shelter is in the
  // audience of exactly the referral events.
  broker.Stop();
  auto log = testing::ReadWholeLog(broker.log_dir());
  ASSERT_OK(log);
  ASSERT_EQ(log->size(), total_events);
  for (const auto& [id, r] : results) {  // every ack, duplicates included, names the stored seq
    ASSERT_EQ((*log)[r.global_seq() - 1].event_id(), id) << r.DebugString();
  }
  std::map<std::string, core::CaseProjection> projections;
  std::set<uint64_t> audience_shelter;
  for (const auto& env : *log) {
    v1::Event e;
    ASSERT_TRUE(e.ParseFromString(env.event()));
    auto& proj = projections[env.case_id()];
    proj.Apply(env, e);
    for (const auto& a : core::AudienceOf(proj.state(), e)) {
      if (a == "shelter" && env.producer() != "shelter") {
        audience_shelter.insert(env.global_seq());
      }
    }
  }
  EXPECT_EQ(audience_shelter, expected_seqs);

  std::printf("offline agency: %zu events (%zu for the shelter); enqueue %lld ms, drain of the "
              "outbox %lld ms (%d duplicate acks), delivery with 2 node restarts %lld ms\n",
              total_events, expected_seqs.size(), static_cast<long long>(enqueue_ms),
              static_cast<long long>(publish_ms), duplicates, static_cast<long long>(deliver_ms));
}

}  // namespace
}  // namespace passage
