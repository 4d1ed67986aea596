// Power loss: the log runs on a file system that forgets every byte not synced when the power goes
// (tests/testing/power_loss_fs.h). A SIGKILL (log_crash_test) keeps the page cache, so it cannot
// tell a synced append from one that was only written; this can. Appends of single events and of
// batches run until the power goes at a random moment; after the "reboot" every acknowledged event
// must be there, byte for byte, under its sequence number, the whole chain and the Merkle root must
// recompute, and appending must go on.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "broker/log/event_log.h"
#include "broker/merkle/merkle.h"
#include "passage/v1/events.pb.h"
#include "tests/testing/power_loss_fs.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace passage::log {
namespace {

std::string Seed() { return std::string(32, 'p'); }

struct Acked {
  std::string producer;
  uint64_t seq = 0;
  merkle::Hash leaf{};
  std::string event_bytes;
};

AppendEntry Entry(uint64_t n) {
  AppendEntry e;
  e.producer = n % 3 == 0 ? "fia" : "shelter";
  e.event_id = "power-" + std::to_string(n);
  e.case_id = "case-" + std::to_string(n % 7);
  e.event_bytes = "event " + std::to_string(n) + " " + std::string(n % 300, 'x');
  e.appended_at_ms = 1'700'000'000'000 + static_cast<int64_t>(n);
  e.audience = {"iom"};
  return e;
}

// Reopens the log on the real file system and checks every acknowledged event and the whole chain.
void CheckAfterReboot(const std::string& path, const std::map<std::string, Acked>& acked) {
  EventLogOptions o;
  o.path = path;
  o.signing_seed = Seed();
  o.tail_check = UINT32_MAX;  // the whole chain, not only the tail
  auto log = EventLog::Open(o);
  ASSERT_OK(log);
  for (const auto& [id, a] : acked) {
    auto found = (*log)->FindDuplicate(a.producer, id);
    ASSERT_OK(found);
    ASSERT_TRUE(found->has_value())
        << "acknowledged event " << id << " (seq " << a.seq << ") is gone after the power loss";
    EXPECT_EQ((*found)->global_seq, a.seq) << id;
    EXPECT_EQ((*found)->leaf_hash, a.leaf) << id;
    auto bytes = (*log)->Read(a.seq);
    ASSERT_OK(bytes);
    EXPECT_EQ(merkle::LeafHash(*bytes), a.leaf) << "seq " << a.seq << " changed";
    passage::v1::Envelope env;
    ASSERT_TRUE(env.ParseFromString(*bytes));
    EXPECT_EQ(env.event(), a.event_bytes);
  }
  // The chain and the tree over everything that survived, against the latest signed head.
  merkle::CompactRange range;
  merkle::Hash prev{};
  ASSERT_OK((*log)->Scan(0, UINT64_MAX, [&](uint64_t seq, std::string_view bytes) {
    passage::v1::Envelope env;
    EXPECT_TRUE(env.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
    EXPECT_EQ(env.global_seq(), seq);
    EXPECT_EQ(env.prev_leaf_hash(), merkle::AsBytes(prev)) << "seq " << seq;
    prev = merkle::LeafHash(bytes);
    range.Append(prev, {});
    return true;
  }));
  EXPECT_EQ(range.size(), (*log)->LastSeq());
  EXPECT_EQ(range.Root(), (*log)->LatestHead().head.root);
  ASSERT_OK(merkle::VerifyTreeHead((*log)->LatestHead().head, (*log)->LatestHead().signature,
                                   (*log)->LatestHead().public_key));
  // Appending goes on without a gap.
  const uint64_t last = (*log)->LastSeq();
  AppendEntry next = Entry(1'000'000 + last);
  next.event_id = "after-reboot-" + std::to_string(last);
  auto out = (*log)->Append(std::span<const AppendEntry>(&next, 1));
  ASSERT_OK(out);
  EXPECT_EQ((*out)[0].global_seq, last + 1);
}

// Appends from one thread (batches of 1 to 40 events, about one in three a single event) until the
// power goes after `run_ms`; returns the events whose Append returned OK.
void RunUntilPowerLoss(const std::string& path, uint64_t* next, std::mt19937_64& rng, int run_ms,
                       std::map<std::string, Acked>* acked) {
  auto fs = std::make_shared<testing::PowerLossFileSystem>();
  EventLogOptions o;
  o.path = path;
  o.signing_seed = Seed();
  o.file_system = fs;
  auto opened = EventLog::Open(o);
  ASSERT_OK(opened);
  std::unique_ptr<EventLog> log = std::move(*opened);

  std::mutex mu;
  std::atomic<bool> stop{false};
  uint64_t first = *next;
  const uint64_t batch_seed = rng();
  std::thread writer([&] {
    std::mt19937_64 r(batch_seed);
    uint64_t n = first;
    while (!stop.load()) {
      const size_t size = r() % 3 == 0 ? 1 : 1 + r() % 40;
      std::vector<AppendEntry> batch;
      for (size_t i = 0; i < size; ++i) {
        batch.push_back(Entry(n++));
      }
      auto out = log->Append(batch);
      if (!out.ok()) {
        break;  // the power is out: not acknowledged
      }
      std::lock_guard lock(mu);
      for (size_t i = 0; i < batch.size(); ++i) {
        (*acked)[batch[i].event_id] = Acked{batch[i].producer, (*out)[i].global_seq,
                                            (*out)[i].leaf_hash, batch[i].event_bytes};
      }
    }
    std::lock_guard lock(mu);
    *next = n;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(run_ms));
  fs->PowerLoss();
  stop = true;
  writer.join();
  log.reset();  // what RocksDB does on the way down no longer reaches the disk
  testing::PowerLossFileSystem::Dropped d = fs->DropUnsynced();
  (void)d;
}

TEST(EventLogPowerLoss, EveryAcknowledgedEventSurvivesLosingWhatWasNotSynced) {
  for (uint64_t seed : {1u, 2u, 3u, 4u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    testing::TempDir dir;
    const std::string path = dir.Sub("log");
    std::mt19937_64 rng(seed);
    std::map<std::string, Acked> acked;
    uint64_t next = 1;
    // Three power cycles on the same log: later cycles start from what the earlier ones left.
    for (int cycle = 0; cycle < 3; ++cycle) {
      SCOPED_TRACE("cycle " + std::to_string(cycle));
      const size_t before = acked.size();
      RunUntilPowerLoss(path, &next, rng, 40 + static_cast<int>(rng() % 200), &acked);
      ASSERT_GT(acked.size(), before) << "nothing was acknowledged before the power went";
      CheckAfterReboot(path, acked);
      if (::testing::Test::HasFatalFailure() || ::testing::Test::HasNonfatalFailure()) {
        return;
      }
      // The event appended after the reboot is acknowledged too.
      EventLogOptions o;
      o.path = path;
      o.signing_seed = Seed();
      auto log = EventLog::Open(o);
      ASSERT_OK(log);
      const uint64_t last = (*log)->LastSeq();
      auto bytes = (*log)->Read(last);
      ASSERT_OK(bytes);
      passage::v1::Envelope env;
      ASSERT_TRUE(env.ParseFromString(*bytes));
      acked[env.event_id()] = Acked{env.producer(), last, merkle::LeafHash(*bytes), env.event()};
    }
  }
}

}  // namespace
}  // namespace passage::log
