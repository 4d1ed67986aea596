// Power loss under the broker's group commit: an in-process broker whose event log writes through a
// file system that forgets every unsynced byte when the power goes (tests/testing/power_loss_fs.h).
// Several publishers keep the writer busy, so batches hold events of several PUBLISH frames; at a
// random moment the power goes. After the "reboot" every event the broker acknowledged (a
// PublishResult with ok) must be in the log under the sequence number and leaf hash it was
// acknowledged with. A SIGKILL (broker_crash_test) keeps the page cache and cannot see an
// acknowledgement sent before the synced write; this can.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "broker/log/event_log.h"
#include "broker/server/broker.h"
#include "core/ids.h"
#include "tests/testing/events.h"
#include "tests/testing/power_loss_fs.h"
#include "tests/testing/raw_dealer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "transport/keys.h"

namespace passage {
namespace {

namespace v1 = passage::v1;

struct Acked {
  uint64_t seq = 0;
  std::string leaf_hash;
};

std::string Seed() { return std::string(32, 'b'); }

// One power cycle: serve, publish from `publishers` threads, lose the power after `run_ms`, stop.
// Returns what was acknowledged (event id -> outcome).
std::map<std::string, Acked> ServeUntilPowerLoss(const std::string& data_dir, int run_ms,
                                                 uint64_t seed) {
  std::filesystem::create_directories(data_dir);
  auto fs = std::make_shared<testing::PowerLossFileSystem>();
  const transport::CurveKeyPair broker_keys = transport::GenerateCurveKeyPair();
  const transport::CurveKeyPair fia_keys = transport::GenerateCurveKeyPair();
  broker::BrokerOptions o;
  o.listen = "tcp://127.0.0.1:0";
  o.data_dir = data_dir;
  o.admin_endpoint = "ipc://" + data_dir + "/admin.sock";
  o.curve_public_z85 = broker_keys.public_z85;
  o.curve_secret_z85 = broker_keys.secret_z85;
  o.signing_seed = Seed();
  auto* fia = o.registry.add_agencies();
  fia->set_id("fia");
  fia->set_name("Test agency fia");
  fia->set_type(v1::AGENCY_TYPE_LAW_ENFORCEMENT);
  fia->set_region("PK-SD");
  fia->set_first_responder(true);
  fia->set_transport_public_key(fia_keys.public_z85);
  o.log_file_system = fs;
  auto created = broker::Broker::Create(o);
  EXPECT_OK(created);
  if (!created.ok()) {
    return {};
  }
  std::unique_ptr<broker::Broker> b = std::move(*created);
  Status run_status;
  std::thread run([&] { run_status = b->Run(); });

  std::mutex mu;
  std::map<std::string, Acked> acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> publishers;
  for (int p = 0; p < 3; ++p) {
    publishers.emplace_back([&, p] {
      testing::RawDealer dealer(b->endpoint(), broker_keys.public_z85, fia_keys);
      std::mt19937_64 rng(seed * 31 + static_cast<uint64_t>(p));
      while (!stop.load()) {
        std::vector<std::string> bytes;
        const size_t n = 1 + rng() % 12;
        for (size_t i = 0; i < n; ++i) {
          bytes.push_back(testing::CaseOpened("fia", core::NewUuidV7()).SerializeAsString());
        }
        auto reply = dealer.Call(testing::PublishFrame(bytes), 500);
        if (!reply.has_value() || !reply->has_publish_ack()) {
          continue;
        }
        std::lock_guard lock(mu);
        for (const v1::PublishResult& r : reply->publish_ack().results()) {
          if (r.ok()) {
            acked[r.event_id()] = Acked{r.global_seq(), r.leaf_hash()};
          }
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(run_ms));
  fs->PowerLoss();
  // Keep publishing a little: the writer's next batch meets the dead disk and the broker stops.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop = true;
  for (auto& t : publishers) {
    t.join();
  }
  b->RequestStop();
  run.join();
  EXPECT_FALSE(run_status.ok()) << "the broker went on serving on a dead disk";
  b.reset();
  fs->DropUnsynced();
  return acked;
}

TEST(BrokerPowerLoss, EveryAcknowledgedEventSurvivesLosingWhatWasNotSynced) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    testing::TempDir dir;
    std::mt19937_64 rng(seed);
    std::map<std::string, Acked> acked =
        ServeUntilPowerLoss(dir.Sub("data"), 150 + static_cast<int>(rng() % 300), seed);
    ASSERT_FALSE(acked.empty()) << "nothing was acknowledged before the power went";

    log::EventLogOptions lo;
    lo.path = dir.Sub("data") + "/log";
    lo.signing_seed = Seed();
    lo.tail_check = UINT32_MAX;  // the whole chain
    auto log = log::EventLog::Open(lo);
    ASSERT_OK(log);
    size_t lost = 0;
    for (const auto& [id, a] : acked) {
      auto found = (*log)->FindDuplicate("fia", id);
      ASSERT_OK(found);
      if (!found->has_value()) {
        ++lost;
        continue;
      }
      EXPECT_EQ((*found)->global_seq, a.seq) << id;
      EXPECT_EQ(merkle::AsBytes((*found)->leaf_hash), a.leaf_hash) << id;
    }
    EXPECT_EQ(lost, 0u) << lost << " of " << acked.size()
                        << " acknowledged events are gone after the power loss";
  }
}

}  // namespace
}  // namespace passage
