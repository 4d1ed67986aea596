// growth_bench: the growth bar of docs/architecture.md. A journey query, a broker restart after SIGKILL and
// the process's RSS with the log open must cost at most 1.5x at the large size (default 1M events)
// what they cost at 10k events.
//
// A plain program (not Google Benchmark) because it owns its fixture: for each size it builds one
// log of ~500-byte events appended in synced batches of 1024 across 100k distinct case ids, plus a
// "probe" case whose 12 events are spread evenly through the log (so its journey has the same
// length at every size). Each log is compacted once built (a settled log, as a broker's is most of
// the time), and both are measured in turn, one sample of the small then one of the large, so that
// the drift of a shared machine falls on both sizes alike. It measures:
//   reopen (clean)        EventLog::Open (with its tail check) after a clean close, median of 9
//   reopen after SIGKILL  a child process opens the log, appends a few synced batches and is
//                         SIGKILLed; then the parent's Open is timed, median of 5
//   journey query         CaseEvents(probe) + Read of each envelope, median of 200, on the logs
//                         compacted again (the SIGKILLed writers left small files behind)
//   RSS                   VmHWM of a fresh process (re-exec of this binary) that opens the log and
//                         runs the journey query once
//
// Usage: growth_bench [--small N] [--large N]   (defaults 10000 and 1000000)
// Files live under $PASSAGE_BENCH_DIR (default /tmp) in a fresh directory removed at exit.

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "broker/log/event_log.h"

namespace passage::bench {
namespace {

constexpr size_t kEventBytes = 500;
constexpr size_t kBatch = 1024;
constexpr uint64_t kCases = 100'000;
constexpr uint64_t kProbeEvents = 12;
constexpr int kCleanReopens = 9;
constexpr int kKillReopens = 5;
constexpr int kKillBatches = 4;
constexpr int kJourneyReps = 200;
const char* const kProbeCase = "probe-case-00000000-0000-7000-8000-000000000000";

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "growth_bench: %s\n", what.c_str());
  std::_Exit(1);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string CaseId(uint64_t n) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "018f3a5e-%04llx-7%03llx-8000-%012llx",
                static_cast<unsigned long long>(n >> 16 & 0xffff),
                static_cast<unsigned long long>(n & 0xfff), static_cast<unsigned long long>(n));
  return buf;
}

std::unique_ptr<log::EventLog> OpenLog(const std::string& path) {
  log::EventLogOptions o;
  o.path = path;
  o.signing_seed = std::string(32, 'g');
  auto opened = log::EventLog::Open(o);
  if (!opened.ok()) {
    Die("open " + path + ": " + opened.status().ToString());
  }
  return std::move(opened).value();
}

// Entries with unique (producer, event id), a uniformly random case out of kCases and 500 bytes of
// incompressible body. `prefix` keeps ids distinct between the builder and the SIGKILLed children.
class EntryMaker {
 public:
  EntryMaker(std::string prefix, uint64_t seed) : prefix_(std::move(prefix)), rng_(seed) {
    bodies_.resize(64);
    for (auto& b : bodies_) {
      b.resize(kEventBytes);
      for (auto& c : b) {
        c = static_cast<char>(rng_());
      }
    }
  }
  // Fills `batch`; entries whose index (0-based, over all entries made) is in `probe_at` go to the
  // probe case.
  void Fill(std::vector<log::AppendEntry>& batch, const std::vector<uint64_t>& probe_at) {
    static const char* kProducers[] = {"fia", "iom", "ngo-lahore", "police-punjab"};
    for (auto& e : batch) {
      const uint64_t n = next_++;
      e.producer = kProducers[n & 3];
      e.event_id = prefix_ + std::to_string(n);
      const bool probe = std::binary_search(probe_at.begin(), probe_at.end(), n);
      e.case_id = probe ? std::string(kProbeCase) : CaseId(rng_() % kCases);
      e.event_bytes = bodies_[n % bodies_.size()];
      e.appended_at_ms = 1'700'000'000'000 + static_cast<int64_t>(n);
      e.audience = {"fia", "iom"};
    }
  }

 private:
  std::string prefix_;
  std::mt19937_64 rng_;
  std::vector<std::string> bodies_;
  uint64_t next_ = 0;
};

// CaseEvents(probe) + Read of each envelope; returns the number of bytes read (and dies on error).
size_t Journey(const log::EventLog& log) {
  auto seqs = log.CaseEvents(kProbeCase, 0, 1'000'000);
  if (!seqs.ok()) {
    Die("CaseEvents: " + seqs.status().ToString());
  }
  if (seqs->size() != kProbeEvents) {
    Die("probe case has " + std::to_string(seqs->size()) + " events, expected " +
        std::to_string(kProbeEvents));
  }
  size_t bytes = 0;
  for (uint64_t seq : *seqs) {
    auto env = log.Read(seq);
    if (!env.ok()) {
      Die("Read " + std::to_string(seq) + ": " + env.status().ToString());
    }
    bytes += env->size();
  }
  return bytes;
}

long VmHwmKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::strtol(line.c_str() + 6, nullptr, 10);
    }
  }
  return -1;
}

// --- child modes (run through a re-exec of this binary, so each starts from a fresh process) ---

// Opens the log, appends kKillBatches synced batches and SIGKILLs itself.
[[noreturn]] void ChildKill(const std::string& path, const std::string& round) {
  auto log = OpenLog(path);
  EntryMaker maker("kill-" + round + "-", 1000 + std::strtoull(round.c_str(), nullptr, 10));
  std::vector<log::AppendEntry> batch(kBatch);
  for (int i = 0; i < kKillBatches; ++i) {
    maker.Fill(batch, {});
    auto out = log->Append(batch);
    if (!out.ok()) {
      Die("child append: " + out.status().ToString());
    }
  }
  ::raise(SIGKILL);
  std::abort();
}

// Opens the log, runs the journey once and prints VmHWM in kB on stdout.
[[noreturn]] void ChildRss(const std::string& path) {
  {
    auto log = OpenLog(path);
    Journey(*log);
    std::printf("%ld\n", VmHwmKb());
    std::fflush(stdout);
  }
  std::_Exit(0);
}

// Runs this binary with `args`; returns its wait status and (if `out`) its stdout.
int RunSelf(const std::vector<std::string>& args, std::string* out) {
  int fds[2];
  if (::pipe(fds) != 0) {
    Die("pipe");
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    Die("fork");
  }
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv;
    static char self[] = "growth_bench";
    argv.push_back(self);
    for (const auto& a : args) {
      argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    std::_Exit(127);
  }
  ::close(fds[1]);
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) {
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      Die("waitpid");
    }
  }
  if (out != nullptr) {
    *out = text;
  }
  return status;
}

// Compacts every column family of the log at `path` to the bottom level and closes it: no flush
// or compaction is left running or pending when a measurement opens it next. Background work
// started by an open otherwise competes for the two cores and moves the probe's events between
// files while they are read; from run to run the 1M journey took 26 to 62 us.
void Settle(const std::string& path) {
  std::vector<std::string> names;
  rocksdb::DBOptions dbo;
  if (auto s = rocksdb::DB::ListColumnFamilies(dbo, path, &names); !s.ok()) {
    Die("list column families of " + path + ": " + s.ToString());
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) {
    cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (auto s = rocksdb::DB::Open(dbo, path, cfs, &handles, &raw); !s.ok()) {
    Die("open " + path + " to compact it: " + s.ToString());
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  for (auto* h : handles) {
    if (auto s = db->CompactRange(rocksdb::CompactRangeOptions(), h, nullptr, nullptr); !s.ok()) {
      Die("compact " + path + ": " + s.ToString());
    }
  }
  for (auto* h : handles) {
    db->DestroyColumnFamilyHandle(h);
  }
}

// --- the fixture and measurements ---

struct Figures {
  uint64_t events = 0;
  double build_s = 0;
  double reopen_ms = 0;
  double kill_reopen_ms = 0;
  double journey_us = 0;
  double rss_mib = 0;
  double disk_mib = 0;
};

uint64_t DirBytes(const std::string& path) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(path)) {
    std::error_code ec;
    if (e.is_regular_file(ec)) {
      total += e.file_size(ec);
    }
  }
  return total;
}

// Builds the fixture of `events` events at `path` (closed and settled afterwards).
void Build(const std::string& path, uint64_t events, Figures* f) {
  f->events = events;
  // Probe events at evenly spread positions (the first at the middle of the first twelfth).
  std::vector<uint64_t> probe_at;
  for (uint64_t i = 0; i < kProbeEvents; ++i) {
    probe_at.push_back((2 * i + 1) * events / (2 * kProbeEvents));
  }
  {
    const auto t0 = Clock::now();
    auto log = OpenLog(path);
    EntryMaker maker("ev-", 42);
    std::vector<log::AppendEntry> batch;
    while (log->LastSeq() < events) {
      batch.resize(std::min<uint64_t>(kBatch, events - log->LastSeq()));
      maker.Fill(batch, probe_at);
      auto out = log->Append(batch);
      if (!out.ok()) {
        Die("append: " + out.status().ToString());
      }
    }
    f->build_s = SecondsSince(t0);
  }  // clean close
  Settle(path);
}

// Measures both fixtures, each measurement taken in turn on the small and the large log so that a
// shared machine's drift (seen here: the same journey at 22 us in one minute and 40 us the next)
// falls on both alike.
void MeasureBoth(const std::string& small_path, const std::string& large_path, Figures* s,
                 Figures* l) {
  const std::string paths[2] = {small_path, large_path};
  Figures* figs[2] = {s, l};

  // (1a) clean reopen.
  std::vector<double> ms[2];
  for (int i = 0; i < kCleanReopens; ++i) {
    for (int k = 0; k < 2; ++k) {
      const auto t0 = Clock::now();
      auto log = OpenLog(paths[k]);
      ms[k].push_back(SecondsSince(t0) * 1e3);
    }
  }
  for (int k = 0; k < 2; ++k) {
    figs[k]->reopen_ms = Median(ms[k]);
    ms[k].clear();
  }

  // (1b) reopen after a SIGKILLed writer.
  for (int i = 0; i < kKillReopens; ++i) {
    for (int k = 0; k < 2; ++k) {
      const int status = RunSelf(
          {"--child-kill", paths[k], std::to_string(figs[k]->events) + "-" + std::to_string(i)},
          nullptr);
      if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        Die("the writer child was not SIGKILLed (wait status " + std::to_string(status) + ")");
      }
      const auto t0 = Clock::now();
      auto log = OpenLog(paths[k]);
      ms[k].push_back(SecondsSince(t0) * 1e3);
    }
  }
  for (int k = 0; k < 2; ++k) {
    figs[k]->kill_reopen_ms = Median(ms[k]);
  }

  // (3) RSS of a fresh process that opens the log and runs the journey once.
  for (int k = 0; k < 2; ++k) {
    std::string out;
    const int status = RunSelf({"--child-rss", paths[k]}, &out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      Die("the RSS child failed (wait status " + std::to_string(status) + ")");
    }
    figs[k]->rss_mib = std::strtod(out.c_str(), nullptr) / 1024.0;
  }

  // (2) journey query, on settled logs, one query on each in turn.
  Settle(small_path);
  Settle(large_path);
  {
    std::unique_ptr<log::EventLog> logs[2] = {OpenLog(small_path), OpenLog(large_path)};
    std::vector<double> us[2];
    size_t sink[2] = {0, 0};
    for (int i = 0; i < kJourneyReps; ++i) {
      for (int k = 0; k < 2; ++k) {
        const auto t0 = Clock::now();
        sink[k] += Journey(*logs[k]);
        us[k].push_back(SecondsSince(t0) * 1e6);
      }
    }
    for (int k = 0; k < 2; ++k) {
      if (sink[k] == 0) {
        Die("empty journey");
      }
      figs[k]->journey_us = Median(us[k]);
    }
  }
  for (int k = 0; k < 2; ++k) {
    figs[k]->disk_mib = static_cast<double>(DirBytes(paths[k])) / (1024.0 * 1024.0);
  }
}

std::string Count(uint64_t n) {
  if (n >= 1'000'000 && n % 1'000'000 == 0) {
    return std::to_string(n / 1'000'000) + "M";
  }
  if (n >= 1'000 && n % 1'000 == 0) {
    return std::to_string(n / 1'000) + "k";
  }
  return std::to_string(n);
}

int Main(int argc, char** argv) {
  if (argc >= 4 && std::strcmp(argv[1], "--child-kill") == 0) {
    ChildKill(argv[2], argv[3]);
  }
  if (argc >= 3 && std::strcmp(argv[1], "--child-rss") == 0) {
    ChildRss(argv[2]);
  }
  uint64_t small = 10'000;
  uint64_t large = 1'000'000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--large") == 0 && i + 1 < argc) {
      large = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--small") == 0 && i + 1 < argc) {
      small = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: growth_bench [--small N] [--large N]\n");
      return 2;
    }
  }
  if (small < kProbeEvents * 2 || large < small) {
    std::fprintf(stderr, "growth_bench: need %llu <= small <= large\n",
                 static_cast<unsigned long long>(kProbeEvents * 2));
    return 2;
  }

  const char* base = std::getenv("PASSAGE_BENCH_DIR");
  std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                     "/passage-growth-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    Die("mkdtemp: " + std::string(std::strerror(errno)));
  }
  const std::string dir = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};

  Figures s;
  Figures l;
  std::fprintf(stderr, "growth_bench: building %s events...\n", Count(small).c_str());
  Build(dir + "/small", small, &s);
  std::fprintf(stderr, "growth_bench: building %s events...\n", Count(large).c_str());
  Build(dir + "/large", large, &l);
  std::fprintf(stderr, "growth_bench: measuring both, in turn...\n");
  MeasureBoth(dir + "/small", dir + "/large", &s, &l);

  constexpr double kBar = 1.5;
  std::printf(
      "\n== Passage growth (quality bars, docs/architecture.md): cost at %s events / cost at %s, bar <= %.1f ==\n",
      Count(large).c_str(), Count(small).c_str(), kBar);
  std::printf(
      "fixture: ~%zu B events, synced batches of %zu, %llu case ids + 1 probe case of %llu "
      "events spread through the log\n",
      kEventBytes, kBatch, static_cast<unsigned long long>(kCases),
      static_cast<unsigned long long>(kProbeEvents));
  std::printf(
      "build: %s in %.1f s (%.0f events/s), %s in %.1f s (%.0f events/s); on disk %.0f MiB / "
      "%.0f MiB\n\n",
      Count(s.events).c_str(), s.build_s, static_cast<double>(s.events) / s.build_s,
      Count(l.events).c_str(), l.build_s, static_cast<double>(l.events) / l.build_s, s.disk_mib,
      l.disk_mib);
  std::printf("%-42s %12s %12s %8s  %s\n", "metric", Count(s.events).c_str(),
              Count(l.events).c_str(), "ratio", "verdict");
  bool all = true;
  auto row = [&](const char* name, double a, double b, const char* unit) {
    const double r = a > 0 ? b / a : 0;
    const bool pass = a > 0 && r <= kBar;
    all = all && pass;
    char left[64];
    char right[64];
    std::snprintf(left, sizeof(left), "%.2f %s", a, unit);
    std::snprintf(right, sizeof(right), "%.2f %s", b, unit);
    std::printf("%-42s %12s %12s %8.2f  %s\n", name, left, right, r, pass ? "PASS" : "MISS");
  };
  row("reopen, clean close (median of 9)", s.reopen_ms, l.reopen_ms, "ms");
  row("reopen after SIGKILLed writer (median of 5)", s.kill_reopen_ms, l.kill_reopen_ms, "ms");
  row("journey query, 12 events (median of 200)", s.journey_us, l.journey_us, "us");
  row("RSS VmHWM, fresh open + journey", s.rss_mib, l.rss_mib, "MiB");
  std::printf("\ngrowth bar: %s\n", all ? "PASS" : "MISS");
  return 0;
}

}  // namespace
}  // namespace passage::bench

int main(int argc, char** argv) { return passage::bench::Main(argc, argv); }
