// Crash safety with real kills: a child process appends batches and reports every acknowledged event;
// the parent SIGKILLs it at random moments, reopens the log and checks that every reported event is
// present and byte-identical, that the chain and the Merkle root recompute, and that appending goes on
// without a gap. PASSAGE_SOAK_CYCLES raises the number of cycles (default 20).

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "broker/log/event_log.h"
#include "passage/v1/events.pb.h"
#include "tests/broker/log/crash_payload.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace passage::log {
namespace {

struct Acked {
  uint64_t seq;
  std::string leaf_hex;
};

// Runs the child for about `run_ms` after its first acknowledgement, then SIGKILLs it. Returns the
// events it acknowledged (counter -> seq, leaf).
std::map<uint64_t, Acked> RunAndKill(const std::string& dir, uint64_t first_counter, uint64_t seed,
                                     int run_ms) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::string counter = std::to_string(first_counter);
    std::string s = std::to_string(seed);
    execl(PASSAGE_LOG_WRITER_CHILD, PASSAGE_LOG_WRITER_CHILD, dir.c_str(), counter.c_str(),
          s.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::map<uint64_t, Acked> acked;
  std::string pending;
  bool killed = false;
  auto deadline = std::chrono::steady_clock::time_point::max();
  char buf[65536];
  for (;;) {
    if (!killed && std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      killed = true;
    }
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n <= 0) {
      break;  // EOF: the child is dead and every line it wrote has been read
    }
    pending.append(buf, static_cast<size_t>(n));
    size_t pos;
    while ((pos = pending.find('\n')) != std::string::npos) {
      std::istringstream line(pending.substr(0, pos));
      pending.erase(0, pos + 1);
      uint64_t counter = 0;
      Acked a;
      int dup = 0;
      line >> counter >> a.seq >> a.leaf_hex >> dup;
      acked[counter] = a;
      if (deadline == std::chrono::steady_clock::time_point::max()) {
        deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(run_ms);
      }
    }
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the writer died on its own, status " << status;
  return acked;
}

TEST(LogCrash, EveryAcknowledgedEventSurvivesSigkill) {
  int cycles = 20;
  if (const char* env = std::getenv("PASSAGE_SOAK_CYCLES")) {
    cycles = std::max(1, std::atoi(env));
  }
  testing::TempDir dir;
  const std::string path = dir.Sub("log");
  std::mt19937_64 rng(std::random_device{}());
  std::map<uint64_t, Acked> all;  // counter -> first acknowledgement
  uint64_t next_counter = 0;

  for (int cycle = 0; cycle < cycles; ++cycle) {
    int run_ms = static_cast<int>(rng() % 120);
    auto acked = RunAndKill(path, next_counter, rng(), run_ms);
    ASSERT_FALSE(acked.empty()) << "cycle " << cycle << ": the writer acknowledged nothing";
    for (const auto& [counter, a] : acked) {
      auto [it, fresh] = all.emplace(counter, a);
      if (!fresh) {
        // Resent after a crash: the original seq and leaf come back (dedup across restarts).
        EXPECT_EQ(it->second.seq, a.seq) << "event " << counter << " got two sequence numbers";
        EXPECT_EQ(it->second.leaf_hex, a.leaf_hex);
      }
    }
    next_counter = acked.rbegin()->first + 1;

    EventLogOptions options;
    options.path = path;
    options.signing_seed = testing::kCrashSeed;
    auto opened = EventLog::Open(options);
    ASSERT_OK(opened) << "cycle " << cycle;
    auto& log = *opened;

    // Every acknowledged event is there, byte for byte.
    for (const auto& [counter, a] : all) {
      auto bytes = log->Read(a.seq);
      ASSERT_OK(bytes) << "cycle " << cycle << ": acknowledged seq " << a.seq << " lost";
      ASSERT_EQ(merkle::ToHex(merkle::LeafHash(*bytes)), a.leaf_hex) << "seq " << a.seq;
      passage::v1::Envelope env;
      ASSERT_TRUE(env.ParseFromString(*bytes));
      ASSERT_EQ(env.event_id(), "evt-" + std::to_string(counter));
      ASSERT_EQ(env.event(), testing::CrashPayload(counter));
    }
    // No gap, an unbroken chain, and the signed root equals a recomputation.
    std::vector<merkle::Hash> leaves;
    merkle::Hash prev{};
    ASSERT_OK(log->Scan(0, UINT64_MAX, [&](uint64_t seq, std::string_view bytes) {
      passage::v1::Envelope env;
      EXPECT_TRUE(env.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
      EXPECT_EQ(env.global_seq(), seq);
      EXPECT_EQ(env.prev_leaf_hash(), merkle::AsBytes(prev)) << "chain broken at " << seq;
      prev = merkle::LeafHash(bytes);
      leaves.push_back(prev);
      return true;
    }));
    ASSERT_EQ(leaves.size(), log->LastSeq());
    ASSERT_GE(log->LastSeq(), all.rbegin()->second.seq);
    auto head = log->LatestHead();
    ASSERT_EQ(head.head.tree_size, leaves.size());
    ASSERT_EQ(head.head.root, merkle::RootOfLeaves(leaves));
    ASSERT_OK(merkle::VerifyTreeHead(head.head, head.signature, head.public_key));
  }

  // Appending continues with no gap.
  EventLogOptions options;
  options.path = path;
  options.signing_seed = testing::kCrashSeed;
  auto log = EventLog::Open(options);
  ASSERT_OK(log);
  uint64_t last = (*log)->LastSeq();
  auto out = (*log)->Append(std::vector<AppendEntry>{testing::CrashEntry(1'000'000'000)});
  ASSERT_OK(out);
  EXPECT_EQ((*out)[0].global_seq, last + 1);
  std::printf("crash test: %d SIGKILL cycles, %zu acknowledged events, %llu in the log\n", cycles,
              all.size(), static_cast<unsigned long long>(last));
}

}  // namespace
}  // namespace passage::log
