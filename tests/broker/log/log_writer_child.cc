// Child process for the crash test: appends batches to the log in a loop and reports each
// acknowledged event on stdout as "counter global_seq leaf_hex duplicate\n", flushed before the next
// batch. The parent SIGKILLs it at random moments.
//
// usage: log_writer_child DIR FIRST_COUNTER RNG_SEED

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "broker/log/event_log.h"
#include "tests/broker/log/crash_payload.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DIR FIRST_COUNTER RNG_SEED\n", argv[0]);
    return 2;
  }
  passage::log::EventLogOptions options;
  options.path = argv[1];
  options.signing_seed = passage::testing::kCrashSeed;
  auto opened = passage::log::EventLog::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  auto log = std::move(opened).value();
  uint64_t counter = std::strtoull(argv[2], nullptr, 10);
  std::mt19937_64 rng(std::strtoull(argv[3], nullptr, 10));
  std::uniform_int_distribution<int> batch_size(1, 64);
  for (;;) {
    std::vector<passage::log::AppendEntry> batch(static_cast<size_t>(batch_size(rng)));
    std::vector<uint64_t> counters;
    for (auto& e : batch) {
      counters.push_back(counter);
      e = passage::testing::CrashEntry(counter++);
    }
    auto out = log->Append(batch);
    if (!out.ok()) {
      std::fprintf(stderr, "append: %s\n", out.status().ToString().c_str());
      return 1;
    }
    for (size_t i = 0; i < out->size(); ++i) {
      const auto& o = (*out)[i];
      std::printf("%llu %llu %s %d\n", static_cast<unsigned long long>(counters[i]),
                  static_cast<unsigned long long>(o.global_seq),
                  passage::merkle::ToHex(o.leaf_hash).c_str(), o.duplicate ? 1 : 0);
    }
    std::fflush(stdout);
  }
}
