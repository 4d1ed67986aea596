// log_bench: the event log against the limits that bound it (quality bars, docs/architecture.md).
//
//   BM_DurableAppend/batch:N  EventLog::Append of N ~500-byte events per synced batch
//   BM_Fdatasync              4 KiB append + fdatasync beside the log: the disk's commit rate
//   BM_PlainRocksScan         a bare RocksDB iterator over the events of a prebuilt 200k-event log
//   BM_VerifiedReplay         audit::VerifyLog over the same log (every hash, chain and signature)
//   BM_HashOnly               one RFC 6962 leaf hash of 500 bytes: the CPU floor of a verified
//   event
//
// Every write is synced (sync=true / fdatasync); nothing here trades durability for a figure. Rates
// are per wall-clock second (UseRealTime). Files live under $PASSAGE_BENCH_DIR (default /tmp) in a
// fresh directory removed at exit. bench/run.sh runs this and prints the ratios.

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "broker/audit/verifier.h"
#include "broker/log/event_log.h"
#include "broker/merkle/merkle.h"

namespace passage::bench {
namespace {

constexpr size_t kEventBytes = 500;
constexpr uint64_t kPrebuiltEvents = 200'000;
constexpr size_t kPrebuiltBatch = 256;  // a busy broker's group commit
constexpr uint64_t kOpenCases = 20'000;

// A fresh directory under $PASSAGE_BENCH_DIR or /tmp, removed (with everything in it) at exit.
class BenchDir {
 public:
  BenchDir() {
    const char* base = std::getenv("PASSAGE_BENCH_DIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/passage-log-bench-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::exit(1);
    }
    path_ = tmpl;
  }
  ~BenchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

BenchDir& Dir() {
  static BenchDir dir;
  return dir;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "log_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string CaseId(uint64_t n) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "018f3a5e-%04llx-7%03llx-8000-%012llx",
                static_cast<unsigned long long>(n >> 16 & 0xffff),
                static_cast<unsigned long long>(n & 0xfff), static_cast<unsigned long long>(n));
  return buf;
}

// Produces realistic entries: four producers, ids unique per producer, one of kOpenCases cases per
// event (uniformly, so a batch touches many cases), 500 bytes of incompressible event body.
class EntryMaker {
 public:
  EntryMaker() : rng_(42) {
    bodies_.resize(64);
    for (auto& b : bodies_) {
      b.resize(kEventBytes);
      for (auto& c : b) {
        c = static_cast<char>(rng_());
      }
    }
  }
  void Fill(std::vector<log::AppendEntry>& batch) {
    static const char* kProducers[] = {"fia", "iom", "ngo-lahore", "police-punjab"};
    for (auto& e : batch) {
      const uint64_t n = next_++;
      e.producer = kProducers[n & 3];
      e.event_id = "ev-" + std::to_string(n);
      e.case_id = CaseId(rng_() % kOpenCases);
      e.event_bytes = bodies_[n % bodies_.size()];
      e.appended_at_ms = 1'700'000'000'000 + static_cast<int64_t>(n);
    }
  }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> bodies_;
  uint64_t next_ = 0;
};

std::unique_ptr<log::EventLog> OpenLog(const std::string& path) {
  log::EventLogOptions o;
  o.path = path;
  o.signing_seed = std::string(32, 'b');
  auto log = log::EventLog::Open(o);
  if (!log.ok()) {
    Die(log.status().ToString());
  }
  return std::move(log).value();
}

// The 200k-event log the scan and replay benchmarks share, built on first use. Like an audit, both
// read a RocksDB checkpoint of it (memtables flushed, so opening does not replay a large WAL).
const std::string& PrebuiltLog() {
  static const std::string path = [] {
    std::string source = Dir().Sub("prebuilt-source");
    std::string p = Dir().Sub("prebuilt");
    auto log = OpenLog(source);
    EntryMaker maker;
    std::vector<log::AppendEntry> batch(kPrebuiltBatch);
    while (log->LastSeq() < kPrebuiltEvents) {
      batch.resize(std::min<uint64_t>(kPrebuiltBatch, kPrebuiltEvents - log->LastSeq()));
      maker.Fill(batch);
      auto out = log->Append(batch);
      if (!out.ok()) {
        Die(out.status().ToString());
      }
    }
    if (Status s = log->Checkpoint(p); !s.ok()) {
      Die(s.ToString());
    }
    log.reset();
    std::error_code ec;
    std::filesystem::remove_all(source, ec);
    return p;
  }();
  return path;
}

void BM_DurableAppend(benchmark::State& state) {
  static int run = 0;
  const std::string path = Dir().Sub("append-" + std::to_string(run++));
  {
    auto log = OpenLog(path);
    EntryMaker maker;
    std::vector<log::AppendEntry> batch(static_cast<size_t>(state.range(0)));
    for (auto _ : state) {
      maker.Fill(batch);
      auto out = log->Append(batch);
      if (!out.ok()) {
        state.SkipWithError(out.status().ToString().c_str());
        break;
      }
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
  }
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}
BENCHMARK(BM_DurableAppend)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(16)
    ->Arg(64)
    ->Arg(256)
    ->Arg(1024)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Appends 4 KiB and fdatasyncs, as a write-ahead log does (the file grows, so each sync also
// commits the new size). The file restarts every 16 MiB, outside the timed region.
void BM_Fdatasync(benchmark::State& state) {
  const std::string path = Dir().Sub("fdatasync.tmp");
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0) {
    state.SkipWithError("cannot create the fdatasync file");
    return;
  }
  std::string block(4096, 'p');
  std::vector<double> latencies_us;
  latencies_us.reserve(1 << 16);
  off_t offset = 0;
  for (auto _ : state) {
    if (offset >= (16 << 20)) {
      state.PauseTiming();
      const bool restarted = ::ftruncate(fd, 0) == 0 && ::fdatasync(fd) == 0;
      offset = 0;
      state.ResumeTiming();
      if (!restarted) {
        state.SkipWithError("ftruncate failed");
        break;
      }
    }
    auto start = std::chrono::steady_clock::now();
    if (::pwrite(fd, block.data(), block.size(), offset) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      state.SkipWithError("write or fdatasync failed");
      break;
    }
    auto end = std::chrono::steady_clock::now();
    latencies_us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
    offset += static_cast<off_t>(block.size());
  }
  ::close(fd);
  ::unlink(path.c_str());
  state.SetItemsProcessed(state.iterations());
  if (!latencies_us.empty()) {
    std::sort(latencies_us.begin(), latencies_us.end());
    auto at = [&](double q) {
      return latencies_us[std::min(
          latencies_us.size() - 1,
          static_cast<size_t>(q * static_cast<double>(latencies_us.size())))];
    };
    state.counters["p50_us"] = at(0.50);
    state.counters["p99_us"] = at(0.99);
  }
}
BENCHMARK(BM_Fdatasync)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The same column family and read options EventLog::Scan uses, with nothing done per event but
// touching its bytes.
void BM_PlainRocksScan(benchmark::State& state) {
  const std::string& path = PrebuiltLog();
  std::vector<std::string> names;
  rocksdb::DBOptions dbo;
  if (!rocksdb::DB::ListColumnFamilies(dbo, path, &names).ok()) {
    Die("cannot list column families of " + path);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  size_t events = names.size();
  for (size_t i = 0; i < names.size(); ++i) {
    cfs.emplace_back(names[i], rocksdb::ColumnFamilyOptions());
    if (names[i] == "events") {
      events = i;
    }
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (events == names.size() ||
      !rocksdb::DB::OpenForReadOnly(dbo, path, cfs, &handles, &raw).ok()) {
    Die("cannot open " + path + " read-only");
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  uint64_t count = 0;
  for (auto _ : state) {
    rocksdb::ReadOptions ro;
    ro.readahead_size = 2 << 20;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, handles[events]));
    uint64_t bytes = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      bytes += it->key().size() + it->value().size();
      ++count;
    }
    benchmark::DoNotOptimize(bytes);
    if (!it->status().ok()) {
      state.SkipWithError(it->status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(count));
  for (auto* h : handles) {
    db->DestroyColumnFamilyHandle(h);
  }
}
BENCHMARK(BM_PlainRocksScan)->UseRealTime()->MinTime(1.0)->Unit(benchmark::kMillisecond);

void BM_VerifiedReplay(benchmark::State& state) {
  audit::VerifyOptions o;
  o.path = PrebuiltLog();
  uint64_t count = 0;
  for (auto _ : state) {
    auto report = audit::VerifyLog(o);
    if (!report.ok() || !report->ok()) {
      state.SkipWithError(report.ok() ? audit::ToString(*report).c_str()
                                      : report.status().ToString().c_str());
      break;
    }
    count += report->events_checked;
    state.counters["heads"] = static_cast<double>(report->heads_checked);
  }
  state.SetItemsProcessed(static_cast<int64_t>(count));
}
BENCHMARK(BM_VerifiedReplay)->UseRealTime()->MinTime(1.0)->Unit(benchmark::kMillisecond);

void BM_HashOnly(benchmark::State& state) {
  std::string bytes(kEventBytes, 'h');
  for (auto _ : state) {
    merkle::Hash h = merkle::LeafHash(bytes);
    benchmark::DoNotOptimize(h);
    bytes[0] = static_cast<char>(h[0]);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HashOnly);

}  // namespace
}  // namespace passage::bench

BENCHMARK_MAIN();
