// broker_load: open-loop load test of the real passage-broker, against Redis Streams and the disk,
// for the ratios the quality bars (docs/architecture.md) judge the broker by. A plain executable
// (not Google Benchmark): the load is open loop, with its own clock.
//
// The servers run side by side for the whole run, each on loopback in the temp dir:
//   passage  the passage-broker binary with CURVE, and a second one with --insecure (PLAIN). N
//            publisher agencies (threads), each with its own raw DEALER socket (no runtime::Client:
//            its RocksDB outbox would measure the client's disk), W PUBLISH frames of K events in
//            flight; each event a 500-byte CaseOpened of a new case whose sealed personal data
//            (random ciphertext) pads it to size.
//   redis    redis-server (appendonly yes, appendfsync always, no RDB): XADD of the same
//            event bytes
//            to one stream over N connections with W x K commands pipelined.
//   redis-equal  a second redis-server, configured alike, doing Passage's per-event work in one
//            Redis function (kRedisLibrary: dedup by (producer, event id) with SET NX, XADD to the
//            log, RPUSH of the entry id to the case's index list, HSET of the case head), called
//            with FCALL over the same connections and pipelining.
//   postgres PostgreSQL 15 (fsync, synchronous_commit=on) as an event store (kPostgresSchema):
//            one transaction per event calling a plpgsql function that does the same work, over
//            N connections in libpq pipeline mode with W x K events in flight. Flat out only.
// Every peer gets the same producers, event bytes, event and case ids (a new case per event, as
// the Passage events open one) and the same number of events in flight.
// Two phases, each `--seconds` of measurement split into `--rounds` rounds that take the servers in
// turn (so that the drifting load of a shared machine hits them alike), each round after a warm-up
// that is not counted:
//   flat out    acknowledged (durable) events/s and publish->ack latency from the send.
//   fixed rate  open loop at R events/s over all publishers, each event sent at its scheduled time
//               (or as soon as the window allows): publish->ack and publish->delivered latency from
//               the *scheduled* time, so queueing counts (coordinated-omission safe); events that
//               were due but never sent count as at least as late as the end of the round. One
//               system-principal agency subscribes to SELECTOR_ALL_READABLE (every event) with a
//               large window and acks every delivery (one ConsumerAck per burst received).
//   disk        4 KiB append + fdatasync in the same temp dir (~2,000 samples, taken between the
//               fixed-rate rounds): the physical floor.
// Then it prints a table, CPU use per thread of each server (and how long its main thread waited
// for a CPU), server CPU per acknowledged event, synced batches seen in the acks, and the ratios
// with PASS/MISS, each the median of the ratios of the rounds (round i of Passage against round i
// of the peer, which ran next to it in time).
//
// The scheduled time of each event travels in the event itself (actor_user = "bench:" +
// steady-clock ns) so the subscriber can measure publish->delivered without shared state.
//
// Everything lives in a fresh directory under $PASSAGE_BENCH_DIR (default /tmp), removed at exit
// (a full run writes ~1 GB there). Servers are started by this process and stopped (SIGTERM, then
// SIGKILL) by their pid; they also get SIGKILL if this process dies (PR_SET_PDEATHSIG). Exit
// status: 0 when every phase ran (whatever the ratios), 1 when a server did not start or events
// were refused, unanswered or not delivered, 130 when interrupted.

#include <fcntl.h>
#include <grp.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "core/case_reference.h"
#include "passage/v1/config.pb.h"
#include "passage/v1/events.pb.h"
#include "passage/v1/wire.pb.h"
#include "transport/frames.h"
#include "transport/keys.h"
#include "transport/socket_options.h"

#ifdef PASSAGE_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#ifndef PASSAGE_BROKER_BIN
#define PASSAGE_BROKER_BIN "passage-broker"
#endif

namespace passage::bench {
namespace {

namespace v1 = passage::v1;
namespace fs = std::filesystem;

constexpr int64_t kNsPerMs = 1'000'000;
constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr int64_t kDrainNs = 15 * kNsPerSec;  // after sending stops, how long to wait for replies
constexpr char kTimeTag[] = "bench:";
constexpr char kSubscriber[] = "bench-sub";
constexpr char kStream[] = "passage-bench";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SleepUntil(int64_t t_ns) {
  int64_t now = NowNs();
  if (t_ns > now) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(t_ns - now));
  }
}

// Set by SIGINT/SIGTERM: the running round finishes, the rest are skipped, servers are stopped and
// the temp dir is removed.
std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted = true; }

// Whether `bin` names an executable file, directly or on $PATH.
bool Executable(const std::string& bin) {
  if (bin.find('/') != std::string::npos) {
    return ::access(bin.c_str(), X_OK) == 0;
  }
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && ::access((dir + "/" + bin).c_str(), X_OK) == 0) {
      return true;
    }
  }
  return false;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "broker_load: %s\n", what.c_str());
  std::exit(1);
}

// A UUIDv7 (RFC 9562) as 36 lower-case characters: 48 bits of Unix ms, then random bits. Its own
// copy so that the benchmark does not follow where the project keeps its id helpers.
std::string NewUuidV7() {
  thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }());
  const uint64_t ms = static_cast<uint64_t>(WallMs());
  const uint64_t r1 = rng();
  const uint64_t r2 = rng();
  uint8_t b[16];
  for (int i = 0; i < 6; ++i) {
    b[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  }
  for (int i = 6; i < 16; ++i) {
    b[i] = static_cast<uint8_t>(i < 11 ? r1 >> (8 * (i - 6)) : r2 >> (8 * (i - 11)));
  }
  b[6] = static_cast<uint8_t>(0x70 | (b[6] & 0x0f));
  b[8] = static_cast<uint8_t>(0x80 | (b[8] & 0x3f));
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out.push_back('-');
    }
    out.push_back(hex[b[i] >> 4]);
    out.push_back(hex[b[i] & 15]);
  }
  return out;
}

// ---- options ------------------------------------------------------------------------------------

struct Options {
  std::string broker_bin = PASSAGE_BROKER_BIN;
  std::string redis_bin = "redis-server";
  int publishers = 32;
  int window = 16;  // PUBLISH frames (Redis: commands x batch) in flight per publisher
  int batch = 1;    // events per PUBLISH frame
  double rate = 10000;
  double seconds = 10;
  double warmup = 1;
  size_t payload = 500;
  int fsync_samples = 2000;
  std::string base_dir;
  int rounds = 3;  // each phase's measured time is split over this many interleaved rounds
  bool skip_insecure = false;
  bool skip_redis = false;
  bool skip_postgres = false;
  int postgres_connections = 0;  // 0: one per publisher
  std::string summary;           // --summary: append the bars' ratios here, tab-separated
  bool flat_with_subscriber = false;
  bool keep = false;
  bool timeline = false;
  int deliver_batch = 64;  // Subscribe.max_batch of the subscriber, as runtime::Client asks
  bool run_flat = true;    // --phases
  bool run_fixed = true;
};

constexpr char kUsage[] =
    "usage: broker_load [--quick] [--seconds S] [--rounds R] [--warmup S] [--publishers N]\n"
    "                   [--window W] [--batch K] [--rate EVENTS_PER_S] [--payload BYTES]\n"
    "                   [--fsync-samples N]\n"
    "                   [--broker PATH] [--redis-server PATH] [--dir DIR] [--skip-insecure]\n"
    "                   [--skip-redis] [--skip-postgres] [--flat-with-subscriber] [--keep]\n"
    "                   [--timeline] [--summary FILE] [--postgres-connections N]\n"
    "                   [--phases flat|fixed|both] [--deliver-batch N]\n"
    "\n"
    "Load test of passage-broker (CURVE and --insecure) against redis-server XADD with\n"
    "appendfsync always, Redis doing Passage's per-event work in one function (redis-equal),\n"
    "PostgreSQL 15 as an event store (synchronous_commit=on, flat out only), and the disk's\n"
    "fdatasync; prints the ratios of docs/architecture.md's quality bars.\n"
    "  --seconds S              measured seconds per phase (default 10), split over R rounds\n"
    "  --rounds R               interleave the servers R times (default 3), so that the load of a\n"
    "                           shared machine drifts over all of them alike; the ratios are\n"
    "                           medians of the per-round ratios\n"
    "  --warmup S               unmeasured seconds before each round of a phase (default 1)\n"
    "  --quick                  2 s per phase in 1 round, 0.5 s warm-up\n"
    "  --publishers N           publisher agencies / connections (default 32)\n"
    "  --window W               PUBLISH frames in flight per publisher (default 16); Redis gets\n"
    "                           W x K commands in flight, the same number of events\n"
    "  --batch K                events per PUBLISH frame (default 1)\n"
    "  --rate R                 fixed offered rate over all publishers, events/s (default 10000)\n"
    "  --payload B              serialized event size in bytes (default 500)\n"
    "  --flat-with-subscriber   also run CURVE flat out with the subscriber attached (info)\n"
    "  --dir DIR                parent of the temp dir (default $PASSAGE_BENCH_DIR or /tmp)\n"
    "  --postgres-connections N PostgreSQL connections (default: one per publisher), the same\n"
    "                           events in flight spread over them (e.g. 512: one per event in\n"
    "                           flight, no pipelining)\n"
    "  --summary FILE           append each bar's ratio (key, median, min, max, bar, verdict;\n"
    "                           tab-separated) to FILE, for bench/run.sh's table\n"
    "  --keep                   keep the temp dir (server logs) instead of removing it\n"
    "  --timeline               print acknowledged events/s per half second of every round\n"
    "  --deliver-batch N        deliveries per frame the subscriber accepts (default 64, as the\n"
    "                           client library; 1 = a DELIVER frame per event)\n"
    "  --phases P               flat, fixed or both (default): which phases to run; the\n"
    "                           ratios of a phase not run are not printed\n";

Options ParseOptions(int argc, char** argv) {
  Options o;
  const char* env_dir = std::getenv("PASSAGE_BENCH_DIR");
  o.base_dir = env_dir != nullptr && *env_dir != '\0' ? env_dir : "/tmp";
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "broker_load: %s needs a value\n%s", a.c_str(), kUsage);
        std::exit(2);
      }
      return args[++i];
    };
    auto number = [&]() -> double {
      std::string v = value();
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || !(d >= 0)) {
        std::fprintf(stderr, "broker_load: %s: '%s' is not a number\n", a.c_str(), v.c_str());
        std::exit(2);
      }
      return d;
    };
    if (a == "--quick") {
      o.seconds = 2;
      o.warmup = 0.5;
      o.rounds = 1;
    } else if (a == "--rounds") {
      o.rounds = static_cast<int>(number());
    } else if (a == "--seconds") {
      o.seconds = number();
    } else if (a == "--warmup") {
      o.warmup = number();
    } else if (a == "--publishers") {
      o.publishers = static_cast<int>(number());
    } else if (a == "--window") {
      o.window = static_cast<int>(number());
    } else if (a == "--batch") {
      o.batch = static_cast<int>(number());
    } else if (a == "--rate") {
      o.rate = number();
    } else if (a == "--payload") {
      o.payload = static_cast<size_t>(number());
    } else if (a == "--fsync-samples") {
      o.fsync_samples = static_cast<int>(number());
    } else if (a == "--broker") {
      o.broker_bin = value();
    } else if (a == "--redis-server") {
      o.redis_bin = value();
    } else if (a == "--dir") {
      o.base_dir = value();
    } else if (a == "--skip-insecure") {
      o.skip_insecure = true;
    } else if (a == "--skip-redis") {
      o.skip_redis = true;
    } else if (a == "--postgres-connections") {
      o.postgres_connections = static_cast<int>(number());
    } else if (a == "--summary") {
      o.summary = value();
    } else if (a == "--skip-postgres") {
      o.skip_postgres = true;
    } else if (a == "--flat-with-subscriber") {
      o.flat_with_subscriber = true;
    } else if (a == "--keep") {
      o.keep = true;
    } else if (a == "--timeline") {
      o.timeline = true;
    } else if (a == "--deliver-batch") {
      o.deliver_batch = static_cast<int>(number());
    } else if (a == "--phases") {
      const std::string v = value();
      if (v != "flat" && v != "fixed" && v != "both") {
        std::fprintf(stderr, "broker_load: --phases: '%s' is not flat, fixed or both\n%s",
                     v.c_str(), kUsage);
        std::exit(2);
      }
      o.run_flat = v != "fixed";
      o.run_fixed = v != "flat";
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      std::fprintf(stderr, "broker_load: unknown argument '%s'\n%s", a.c_str(), kUsage);
      std::exit(2);
    }
  }
  if (o.publishers < 1 || o.publishers > 1000 || o.window < 1 || o.batch < 1 || o.batch > 4096 ||
      o.seconds <= 0 || o.seconds > 3600 || o.warmup > 600 || o.rate <= 0 || o.payload < 200 ||
      o.payload > (1 << 20) || o.fsync_samples < 10 || o.deliver_batch < 1 ||
      o.deliver_batch > 1024 || o.rounds < 1 || o.rounds > 100 || o.postgres_connections < 0 ||
      o.postgres_connections > 2000) {
    std::fprintf(stderr, "broker_load: option out of range\n%s", kUsage);
    std::exit(2);
  }
  return o;
}

// ---- statistics ---------------------------------------------------------------------------------

struct Latency {
  size_t n = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
};

Latency Summarize(std::vector<int64_t> ns) {
  Latency l;
  l.n = ns.size();
  if (ns.empty()) {
    return l;
  }
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(ns.size())));
    i = std::clamp<size_t>(i, 1, ns.size()) - 1;
    return static_cast<double>(ns[i]) / 1000.0;
  };
  l.p50_us = at(0.50);
  l.p99_us = at(0.99);
  l.p999_us = at(0.999);
  l.max_us = static_cast<double>(ns.back()) / 1000.0;
  return l;
}

std::string Ms(double us) {
  char b[32];
  if (us >= 100000) {
    std::snprintf(b, sizeof(b), "%.0f", us / 1000);
  } else if (us >= 10000) {
    std::snprintf(b, sizeof(b), "%.1f", us / 1000);
  } else {
    std::snprintf(b, sizeof(b), "%.2f", us / 1000);
  }
  return b;
}

std::string Rate(double r) {
  char b[32];
  if (r >= 1e6) {
    std::snprintf(b, sizeof(b), "%.2fM", r / 1e6);
  } else if (r >= 1e3) {
    std::snprintf(b, sizeof(b), "%.1fk", r / 1e3);
  } else {
    std::snprintf(b, sizeof(b), "%.0f", r);
  }
  return b;
}

// ---- CPU accounting -----------------------------------------------------------------------------

// CPU ticks per thread of a process, by tid, with the thread's name ("main" for the first thread).
struct ThreadTicks {
  std::string name;
  uint64_t ticks = 0;
  uint64_t wait_ns = 0;  // time runnable but waiting for a CPU (/proc/.../schedstat)
};
using ProcessTicks = std::map<int, ThreadTicks>;

ProcessTicks ReadProcessTicks(pid_t pid) {
  ProcessTicks out;
  std::error_code ec;
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  for (fs::directory_iterator it(task_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::ifstream in(it->path() / "stat");
    std::string line;
    if (!std::getline(in, line)) {
      continue;
    }
    size_t open = line.find('(');
    size_t close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) {
      continue;
    }
    int tid = std::atoi(line.c_str());
    std::istringstream rest(line.substr(close + 2));
    std::vector<std::string> f;
    std::string tok;
    while (rest >> tok && f.size() < 16) {
      f.push_back(tok);
    }
    if (f.size() < 13) {
      continue;
    }
    ThreadTicks t;
    t.name = tid == pid ? "main" : line.substr(open + 1, close - open - 1);
    t.ticks = std::strtoull(f[11].c_str(), nullptr, 10) + std::strtoull(f[12].c_str(), nullptr, 10);
    std::ifstream sched(it->path() / "schedstat");
    uint64_t run_ns = 0;
    if (sched >> run_ns >> t.wait_ns) {
      // fine; zero when the kernel has no schedstats
    }
    out[tid] = t;
  }
  return out;
}

struct MachineTicks {
  uint64_t busy = 0;
  uint64_t total = 0;
};

MachineTicks ReadMachineTicks() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  MachineTicks m;
  in >> cpu;
  uint64_t v = 0;
  for (int i = 0; i < 10 && (in >> v); ++i) {
    if (i < 8) {  // guest times are already counted in user
      m.total += v;
      if (i != 3 && i != 4) {  // idle, iowait
        m.busy += v;
      }
    }
  }
  return m;
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct CpuSnapshot {
  int64_t at_ns = 0;
  ProcessTicks server;
  MachineTicks machine;
  double self_s = 0;
};

std::string ReadText(const std::string& path);

// The CPU ticks of `root`'s child processes, each thread named after its process's title
// ("postgres: walwriter" -> "walwriter"; client backends, "... [local] ...", all as "backends").
void AddChildTicks(pid_t root, ProcessTicks* out) {
  std::error_code ec;
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    const std::string stat = ReadText(it->path().string() + "/stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) {
      continue;
    }
    int ppid = 0;
    char state = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) != 2 || ppid != root) {
      continue;
    }
    const pid_t pid = std::atoi(name.c_str());
    std::string title = ReadText(it->path().string() + "/cmdline");
    title = title.substr(0, title.find('\0'));
    if (const size_t colon = title.find(": "); colon != std::string::npos) {
      title = title.substr(colon + 2);
    }
    title.erase(title.find_last_not_of(' ') + 1);  // the title is padded with spaces
    if (title.find('[') != std::string::npos) {
      title = "backends";
    } else if (title.empty()) {
      title = "other";  // exited meanwhile, or no title yet
    }
    for (auto& [tid, t] : ReadProcessTicks(pid)) {
      t.name = title;
      (*out)[tid] = t;
    }
  }
}

CpuSnapshot TakeSnapshot(pid_t server, bool with_children = false) {
  CpuSnapshot s;
  s.at_ns = NowNs();
  s.server = ReadProcessTicks(server);
  if (with_children) {
    AddChildTicks(server, &s.server);
  }
  s.machine = ReadMachineTicks();
  s.self_s = SelfCpuSeconds();
  return s;
}

// CPU use over one or more measured windows: by thread of the server, this process, the machine.
struct CpuAccount {
  double secs = 0;
  std::map<std::string, double> server_s;  // CPU seconds by thread name
  double main_wait_s = 0;                  // server main thread: runnable, waiting for a CPU
  double self_s = 0;
  double machine_s = 0;  // CPU seconds used on the whole machine

  void Add(const CpuSnapshot& a, const CpuSnapshot& b) {
    const double window = static_cast<double>(b.at_ns - a.at_ns) / 1e9;
    if (window <= 0) {
      return;
    }
    const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
    secs += window;
    for (const auto& [tid, t] : b.server) {
      uint64_t before = 0;
      uint64_t wait_before = 0;
      if (auto it = a.server.find(tid); it != a.server.end()) {
        before = it->second.ticks;
        wait_before = it->second.wait_ns;
      }
      server_s[t.name] += static_cast<double>(t.ticks - std::min(before, t.ticks)) / hz;
      if (t.name == "main") {
        main_wait_s += static_cast<double>(t.wait_ns - std::min(wait_before, t.wait_ns)) / 1e9;
      }
    }
    self_s += b.self_s - a.self_s;
    if (b.machine.total > a.machine.total) {
      machine_s += static_cast<double>(b.machine.busy - a.machine.busy) /
                   static_cast<double>(b.machine.total - a.machine.total) * Cpus() * window;
    }
  }

  static double Cpus() {
    return static_cast<double>(std::max(1u, std::thread::hardware_concurrency()));
  }

  // CPU seconds the server (all its threads and, for PostgreSQL, processes) used.
  double ServerSeconds() const {
    double total = 0;
    for (const auto& [name, s] : server_s) {
      total += s;
    }
    return total;
  }

  // "broker 150% (main 90%, ZMQbg/IO/0 45%); its main thread waited for a CPU 30% of the time; load
  // generator 40%; rest of the machine 5% (of 200%)"
  std::string Report(const std::string& server_name) const {
    if (secs <= 0) {
      return "n/a";
    }
    auto pct = [&](double s) {
      return std::to_string(static_cast<int>(std::lround(s / secs * 100))) + "%";
    };
    double total = 0;
    std::vector<std::pair<double, std::string>> sorted;
    for (const auto& [name, s] : server_s) {
      sorted.emplace_back(s, name);
      total += s;
    }
    std::sort(sorted.rbegin(), sorted.rend());
    std::string out = server_name + " " + pct(total) + " (";
    int shown = 0;
    for (const auto& [s, name] : sorted) {
      if (shown == 5 || s / secs < 0.01) {
        break;
      }
      out += (shown++ ? ", " : "") + name + " " + pct(s);
    }
    out += ")";
    if (main_wait_s > 0) {
      out += "; its main thread waited for a CPU " + pct(main_wait_s) + " of the time";
    }
    out += "; load generator " + pct(self_s) + "; rest of the machine " +
           pct(std::max(0.0, machine_s - total - self_s)) + " (of " +
           std::to_string(static_cast<int>(Cpus() * 100)) + "%)";
    return out;
  }
};

// ---- files and processes ------------------------------------------------------------------------

class TempDir {
 public:
  TempDir(const std::string& base, bool keep) : keep_(keep) {
    std::string tmpl = base + "/passage-broker-load-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      Die("cannot create a temp dir under " + base + ": " + std::strerror(errno));
    }
    path_ = tmpl;
  }
  ~TempDir() {
    if (keep_) {
      std::fprintf(stderr, "broker_load: kept %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool keep_;
};

// A child process (a server), stopped by pid when this object goes away.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { Stop(); }

  // Starts `args` with stdout and stderr to `log_path`; as `user` (uid, gid) when given, which
  // needs root (PostgreSQL refuses to run as root).
  bool Start(std::vector<std::string> args, const std::string& log_path,
             std::optional<std::pair<uid_t, gid_t>> user = std::nullopt) {
    pid_ = fork();
    if (pid_ < 0) {
      pid_ = -1;
      return false;
    }
    if (pid_ == 0) {
      int fd = ::open(log_path.c_str(), O_CREAT | O_WRONLY | O_APPEND, 0600);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        ::close(fd);
      }
      if (user &&
          (setgroups(0, nullptr) != 0 || setgid(user->second) != 0 || setuid(user->first) != 0)) {
        _exit(126);
      }
      // Never outlive the benchmark (set after setuid, which clears it).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::vector<char*> argv;
      for (auto& a : args) {
        argv.push_back(a.data());
      }
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    return true;
  }

  bool Exited() {
    if (pid_ <= 0) {
      return true;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return false;
  }

  // Waits for the process to exit by itself; its exit status, or -1 when it had to be killed
  // after `timeout_ns`.
  int Wait(int64_t timeout_ns) {
    const int64_t deadline = NowNs() + timeout_ns;
    while (pid_ > 0 && NowNs() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Stop();
    return -1;
  }

  // SIGTERM, then SIGKILL after 10 s.
  void Stop() {
    if (pid_ <= 0) {
      return;
    }
    kill(pid_, SIGTERM);
    for (int i = 0; i < 1000; ++i) {
      if (Exited()) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string LastLines(const std::string& text, int n) {
  size_t pos = text.size();
  for (int i = 0; i <= n && pos != std::string::npos && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

// ---- the disk -----------------------------------------------------------------------------------

// 4 KiB appends, each followed by fdatasync, accumulated over the rounds.
struct DiskResult {
  std::vector<int64_t> ns;
  int64_t elapsed_ns = 0;
  Latency sync;  // after Finish()
  double per_second = 0;

  void Finish() {
    sync = Summarize(ns);
    per_second =
        elapsed_ns > 0 ? static_cast<double>(ns.size()) * 1e9 / static_cast<double>(elapsed_ns) : 0;
  }
};

// Appends 4 KiB and fdatasyncs it, `samples` times, in `dir`: what one synced commit costs here.
void MeasureFdatasync(const std::string& dir, int samples, DiskResult* out) {
  fs::create_directories(dir);
  const std::string path = dir + "/fdatasync.tmp";
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0) {
    Die("cannot create " + path + ": " + std::strerror(errno));
  }
  std::string block(4096, 'p');
  off_t offset = 0;
  const int64_t start = NowNs();
  for (int i = 0; i < samples; ++i) {
    block[static_cast<size_t>(i) % block.size()] = static_cast<char>(i);
    const int64_t t = NowNs();
    if (::pwrite(fd, block.data(), block.size(), offset) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      Die("write + fdatasync failed in " + dir + ": " + std::strerror(errno));
    }
    out->ns.push_back(NowNs() - t);
    offset += static_cast<off_t>(block.size());
  }
  out->elapsed_ns += NowNs() - start;
  ::close(fd);
  fs::remove(path);
}

// ---- events -------------------------------------------------------------------------------------

// Builds valid CaseOpened events of fresh cases for one agency, padded to `target` serialized bytes
// with random (incompressible) sealed personal data, as real sealed PII is. The scheduled send time
// travels in actor_user as "bench:" + 20 digits (fixed width, so every event has the same size).
class EventMaker {
 public:
  EventMaker(const std::string& agency, size_t target, uint64_t seed)
      : code_(PublisherCode(agency)), rng_(seed * 2654435761u + 1) {
    event_.set_actor_agency(agency);
    event_.set_actor_role(v1::ACTOR_ROLE_CASE_WORKER);
    auto* o = event_.mutable_case_opened();
    o->set_crime_type(v1::CRIME_TYPE_TIP);
    o->set_person_role(v1::PERSON_ROLE_PRESUMED_VICTIM);
    auto* p = o->mutable_profile();
    p->set_sex(v1::SEX_FEMALE);
    p->set_age_years(24);
    p->set_age_band(v1::AGE_BAND_24_26);
    p->set_majority_at_identification(v1::MAJORITY_STATUS_ADULT);
    p->add_citizenship("PK");
    p->set_country_of_identification("PK");
    p->add_exploitation_forms(v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION);
    p->set_identification_channel(v1::IDENTIFICATION_CHANNEL_POLICE_OPERATION);
    auto* s = o->mutable_personal();
    s->set_scheme(1);
    s->set_nonce(std::string(24, '\0'));
    s->set_person_key(std::string(32, '\0'));
    auto* k = s->add_wrapped_keys();
    k->set_agency_id(agency);
    k->set_sealed_key(std::string(80, '\0'));  // crypto_box_seal of a 32-byte data key
    size_t cipher = 64;
    for (int i = 0; i < 6; ++i) {
      s->set_ciphertext(std::string(cipher, '\0'));
      const size_t size = Make(NowNs()).size();
      if (size == target) {
        break;
      }
      const auto next = static_cast<long long>(cipher) + static_cast<long long>(target) -
                        static_cast<long long>(size);
      cipher = static_cast<size_t>(std::max(16LL, next));
    }
  }

  size_t ciphertext_bytes() const { return event_.case_opened().personal().ciphertext().size(); }
  // The ids of the event Make() returned last.
  const std::string& event_id() const { return event_.event_id(); }
  const std::string& case_id() const { return event_.case_id(); }

  // The case reference code of publisher "load-pub-NNN": "LP" + NNN, so that no two are alike.
  static std::string PublisherCode(const std::string& agency) {
    const size_t dash = agency.rfind('-');
    return "LP" + (dash == std::string::npos ? std::string("0") : agency.substr(dash + 1));
  }

  std::string Make(int64_t scheduled_ns) {
    event_.set_event_id(NewUuidV7());
    event_.set_case_id(NewUuidV7());
    event_.set_occurred_at_ms(WallMs());
    // The agency's next case reference, with a fixed-width number (every event the same size).
    event_.mutable_case_opened()->set_reference(
        core::FormatCaseReference(code_, 2026, 10000000 + next_reference_++));
    char user[40];
    std::snprintf(user, sizeof(user), "%s%020" PRId64, kTimeTag, scheduled_ns);
    event_.set_actor_user(user);
    auto* s = event_.mutable_case_opened()->mutable_personal();
    Randomize(s->mutable_nonce());
    Randomize(s->mutable_person_key());
    Randomize(s->mutable_ciphertext());
    Randomize(s->mutable_wrapped_keys(0)->mutable_sealed_key());
    return event_.SerializeAsString();
  }

 private:
  std::string code_;
  uint64_t next_reference_ = 0;

  void Randomize(std::string* s) {
    for (size_t i = 0; i < s->size(); i += 8) {
      rng_ ^= rng_ << 13;
      rng_ ^= rng_ >> 7;
      rng_ ^= rng_ << 17;
      const size_t n = std::min<size_t>(8, s->size() - i);
      std::memcpy(s->data() + i, &rng_, n);
    }
  }

  v1::Event event_;
  uint64_t rng_;
};

// The scheduled time an event carries (see EventMaker), or nullopt.
std::optional<int64_t> ScheduledTimeOf(const std::string& actor_user) {
  const size_t tag = std::strlen(kTimeTag);
  if (actor_user.size() <= tag || actor_user.compare(0, tag, kTimeTag) != 0) {
    return std::nullopt;
  }
  return std::strtoll(actor_user.c_str() + tag, nullptr, 10);
}

// ---- load shape shared by the Passage and Redis publishers --------------------------------------

struct LoadSpec {
  bool flat_out = true;
  double rate = 0;  // events/s over all publishers, when !flat_out
  int publishers = 32;
  int window = 16;  // units in flight per publisher: PUBLISH frames, or Redis commands
  int batch = 1;    // events per unit (Redis: 1)
  int64_t warmup_ns = 0;
  int64_t measure_ns = 0;
};

// The clock of one phase, fixed by the main thread once every publisher is connected.
struct PhaseClock {
  static constexpr int64_t kSlotNs = 500 * kNsPerMs;
  static constexpr size_t kSlots = 2000;

  std::atomic<int64_t> t0{0};  // sending starts
  int64_t measure_start() const { return t0.load() + warmup_ns; }
  int64_t send_end() const { return t0.load() + warmup_ns + measure_ns; }
  int64_t warmup_ns = 0;
  int64_t measure_ns = 0;
  // Events acknowledged per half second since t0 (--timeline).
  mutable std::array<std::atomic<uint32_t>, kSlots> acked_per_slot{};

  void CountAck(int64_t at) const {
    const int64_t slot = (at - t0.load()) / kSlotNs;
    if (slot >= 0 && static_cast<size_t>(slot) < kSlots) {
      acked_per_slot[static_cast<size_t>(slot)].fetch_add(1, std::memory_order_relaxed);
    }
  }
  // "11.2k 10.9k | 9.8k ..." in events/s per half second, "|" where measuring starts and ends.
  std::string Timeline() const {
    size_t last = 0;
    for (size_t i = 0; i < kSlots; ++i) {
      if (acked_per_slot[i].load() != 0) {
        last = i;
      }
    }
    std::string out;
    for (size_t i = 0; i <= last; ++i) {
      const int64_t slot_start = static_cast<int64_t>(i) * kSlotNs;
      if (slot_start == warmup_ns || slot_start == warmup_ns + measure_ns) {
        out += "| ";
      }
      out += Rate(static_cast<double>(acked_per_slot[i].load()) * 1e9 / kSlotNs) + " ";
    }
    return out;
  }

  int64_t WaitStart() const {
    while (t0.load() == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    SleepUntil(t0.load());
    return t0.load();
  }
};

// When each event of one publisher is due: every `interval` from a per-publisher offset (open
// loop), or "now" (flat out).
class Schedule {
 public:
  Schedule(const LoadSpec& spec, int index, int64_t t0) : flat_(spec.flat_out) {
    if (!flat_) {
      interval_ = static_cast<double>(spec.publishers) * 1e9 / spec.rate;
      start_ = t0 + static_cast<int64_t>(interval_ * index / spec.publishers);
    }
  }
  bool flat() const { return flat_; }
  // Time the next event is due.
  int64_t next() const {
    return flat_ ? 0 : start_ + static_cast<int64_t>(interval_ * static_cast<double>(n_));
  }
  // Takes the next due time (call only when next() <= now, or flat out).
  int64_t Take(int64_t now) {
    if (flat_) {
      return now;
    }
    return start_ + static_cast<int64_t>(interval_ * static_cast<double>(n_++));
  }
  // The times of the events scheduled in [from, to) that were never taken (a backlog when the rate
  // was not met).
  std::vector<int64_t> Untaken(int64_t from, int64_t to) const {
    std::vector<int64_t> out;
    if (flat_) {
      return out;
    }
    for (uint64_t i = n_;; ++i) {
      int64_t t = start_ + static_cast<int64_t>(interval_ * static_cast<double>(i));
      if (t >= to) {
        break;
      }
      if (t >= from) {
        out.push_back(t);
      }
    }
    return out;
  }

 private:
  bool flat_;
  double interval_ = 0;
  int64_t start_ = 0;
  uint64_t n_ = 0;
};

// Until when a publisher waits for replies: the next due time while it may send, else a while.
int64_t WakeTime(const Schedule& sched, int64_t now, int64_t send_end, int64_t drain_end,
                 bool may_send) {
  if (now < send_end && may_send) {
    return sched.flat() ? now : std::min(sched.next(), send_end);
  }
  return std::min(now + 100 * kNsPerMs, now < send_end ? send_end : drain_end);
}

struct PublisherStats {
  std::vector<int64_t> ack_ns;  // latency of each event scheduled inside the measured window
  uint64_t sent = 0;
  uint64_t acked = 0;            // ok results, whenever
  uint64_t acked_in_window = 0;  // ok results received inside the measured window
  uint64_t refused = 0;
  uint64_t unanswered = 0;  // sent, no reply by the drain deadline
  uint64_t backlog = 0;     // scheduled inside the window, never sent (rate not met)
  std::string error;        // set when the publisher could not run at all
  std::string first_refusal;
  std::vector<uint64_t> heads;      // Passage: tree size of each ack received inside the window
  std::vector<int64_t> backlog_ns;  // never sent: at least this late (see RecordBacklog)
};

// Counts what was scheduled inside the measured window but never sent, with a latency of at least
// "until the publisher gave up": leaving it out would hide exactly the queueing an open loop shows.
void RecordBacklog(PublisherStats& st, const Schedule& sched, const PhaseClock& clock) {
  const int64_t now = NowNs();
  for (int64_t t : sched.Untaken(clock.measure_start(), clock.send_end())) {
    st.backlog++;
    st.backlog_ns.push_back(now - t);
  }
}

// Records one answered event.
void RecordAnswer(PublisherStats& st, const PhaseClock& clock, int64_t scheduled, int64_t now,
                  bool ok) {
  if (!ok) {
    st.refused++;
    return;
  }
  st.acked++;
  clock.CountAck(now);
  const int64_t m0 = clock.measure_start();
  const int64_t m1 = clock.send_end();
  if (now >= m0 && now < m1) {
    st.acked_in_window++;
  }
  if (scheduled >= m0 && scheduled < m1) {
    st.ack_ns.push_back(now - scheduled);
  }
}

// ---- passage: broker, publishers, subscriber ----------------------------------------------------

class PassageBroker {
 public:
  PassageBroker(std::string dir, int publishers, bool insecure)
      : dir_(std::move(dir)), insecure_(insecure) {
    fs::create_directories(dir_);
    broker_keys_ = transport::GenerateCurveKeyPair();
    if (!transport::WriteKeyFile(dir_ + "/broker.key", broker_keys_).ok()) {
      Die("cannot write " + dir_ + "/broker.key");
    }
    v1::AgencyRegistry reg;
    auto add = [&](const std::string& id, v1::AgencyType type, bool first_responder, bool system) {
      auto keys = transport::GenerateCurveKeyPair();
      keys_[id] = keys;
      auto* a = reg.add_agencies();
      a->set_id(id);
      a->set_name("Load agency " + id);
      a->set_type(type);
      a->set_region("PK-SD");
      a->set_first_responder(first_responder);
      if (first_responder) {
        a->set_case_reference_code(EventMaker::PublisherCode(id));
      }
      a->set_system_principal(system);
      a->set_transport_public_key(keys.public_z85);
    };
    for (int i = 0; i < publishers; ++i) {
      add(PublisherId(i), v1::AGENCY_TYPE_LAW_ENFORCEMENT, true, false);
    }
    add(kSubscriber, v1::AGENCY_TYPE_INTERNATIONAL_ORGANISATION, false, true);
    std::ofstream(dir_ + "/registry.textproto") << reg.DebugString();
  }

  static std::string PublisherId(int i) {
    char b[32];
    std::snprintf(b, sizeof(b), "load-pub-%03d", i);
    return b;
  }

  bool Start(const std::string& bin) {
    const std::string ep_file = dir_ + "/endpoint";
    std::vector<std::string> args = {bin,
                                     "--data-dir",
                                     dir_ + "/data",
                                     "--registry",
                                     dir_ + "/registry.textproto",
                                     "--key-file",
                                     dir_ + "/broker.key",
                                     "--listen",
                                     "tcp://127.0.0.1:0",
                                     "--endpoint-file",
                                     ep_file};
    if (insecure_) {
      args.push_back("--insecure");
    }
    if (!child_.Start(args, log_path())) {
      return false;
    }
    for (int i = 0; i < 1500; ++i) {  // 30 s
      std::ifstream in(ep_file);
      std::string ep;
      if (in >> ep) {
        endpoint_ = ep;
        return true;
      }
      if (child_.Exited()) {
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void Stop() { child_.Stop(); }
  pid_t pid() const { return child_.pid(); }
  bool insecure() const { return insecure_; }
  const std::string& endpoint() const { return endpoint_; }
  std::string log_path() const { return dir_ + "/broker.log"; }

  transport::SocketSecurity SecurityFor(const std::string& agency) {
    transport::SocketSecurity s;
    if (insecure_) {
      s.agency_id = agency;
    } else {
      s.own_public_z85 = keys_[agency].public_z85;
      s.own_secret_z85 = keys_[agency].secret_z85;
      s.server_public_z85 = broker_keys_.public_z85;
    }
    return s;
  }

 private:
  std::string dir_;
  bool insecure_;
  Child child_;
  std::string endpoint_;
  transport::CurveKeyPair broker_keys_;
  std::map<std::string, transport::CurveKeyPair> keys_;
};

void SendFrame(zmq::socket_t& s, const v1::ClientFrame& f) {
  const std::string body = transport::Serialize(f);
  s.send(zmq::buffer(transport::kVersionFrame), zmq::send_flags::sndmore);
  s.send(zmq::buffer(body), zmq::send_flags::none);
}

// Receives one message without blocking; false when none is waiting. Malformed replies are
// reported in `error`.
bool TryRecv(zmq::socket_t& s, v1::ServerFrame* out, std::string* error) {
  std::vector<zmq::message_t> parts;
  auto got = zmq::recv_multipart(s, std::back_inserter(parts), zmq::recv_flags::dontwait);
  if (!got) {
    return false;
  }
  std::vector<std::string_view> frames;
  for (auto& p : parts) {
    frames.push_back(p.to_string_view());
  }
  auto f = transport::ParseServerFrame(frames);
  if (!f.ok()) {
    *error = f.status().ToString();
    out->Clear();
    return true;
  }
  *out = std::move(*f);
  return true;
}

// Waits until `s` has a message or `deadline_ns` passes, with the resolution of ppoll (zmq_poll
// only has milliseconds, which would add up to 1 ms to every scheduled send).
bool WaitReadable(zmq::socket_t& s, int fd, int64_t deadline_ns) {
  for (;;) {
    if (s.get(zmq::sockopt::events) & ZMQ_POLLIN) {
      return true;
    }
    const int64_t left = deadline_ns - NowNs();
    if (left <= 0) {
      return false;
    }
    pollfd p{fd, POLLIN, 0};
    timespec ts{static_cast<time_t>(left / kNsPerSec), static_cast<long>(left % kNsPerSec)};
    ppoll(&p, 1, &ts, nullptr);
  }
}

// Connects `s` and does HELLO/WELCOME; returns the log size the broker reported, or an error text.
std::optional<uint64_t> Handshake(zmq::socket_t& s, const std::string& agency, std::string* error) {
  v1::ClientFrame hello;
  hello.set_request_id(1);
  hello.mutable_hello()->set_client_version("broker_load");
  SendFrame(s, hello);
  const int fd = s.get(zmq::sockopt::fd);
  const int64_t deadline = NowNs() + 20 * kNsPerSec;
  while (WaitReadable(s, fd, deadline)) {
    v1::ServerFrame f;
    std::string bad;
    if (!TryRecv(s, &f, &bad)) {
      continue;
    }
    if (f.has_welcome()) {
      if (f.welcome().agency_id() != agency) {
        *error = "WELCOME names agency '" + f.welcome().agency_id() + "', expected " + agency;
        return std::nullopt;
      }
      return f.welcome().tree_head().tree_size();
    }
    *error = "unexpected reply to HELLO: " + (bad.empty() ? f.ShortDebugString() : bad);
    return std::nullopt;
  }
  *error = "no WELCOME within 20 s (handshake refused?)";
  return std::nullopt;
}

void PassagePublisher(PassageBroker* broker, zmq::context_t* ctx, const LoadSpec& spec,
                      const Options& opt, int index, PhaseClock* clock, std::atomic<int>* ready,
                      PublisherStats* st) {
  prctl(PR_SET_TIMERSLACK, 1UL);
  const std::string agency = PassageBroker::PublisherId(index);
  zmq::socket_t s(*ctx, zmq::socket_type::dealer);
  std::optional<uint64_t> ok;
  if (!transport::ConfigureClient(s, broker->SecurityFor(agency), transport::SocketTuning{}).ok()) {
    st->error = "cannot configure the socket";
  } else {
    s.connect(broker->endpoint());
    ok = Handshake(s, agency, &st->error);
  }
  EventMaker maker(agency, opt.payload, static_cast<uint64_t>(index) + 1);
  ready->fetch_add(1);
  if (!ok) {
    return;
  }
  const int fd = s.get(zmq::sockopt::fd);
  const int64_t t0 = clock->WaitStart();
  const int64_t send_end = clock->send_end();
  const int64_t drain_end = send_end + kDrainNs;
  Schedule sched(spec, index, t0);
  std::unordered_map<uint64_t, std::vector<int64_t>> pending;  // request id -> scheduled times
  uint64_t next_request = 2;
  st->ack_ns.reserve(spec.flat_out
                         ? 1 << 18
                         : static_cast<size_t>(spec.rate / spec.publishers *
                                               static_cast<double>(spec.measure_ns) / 1e9 * 1.2) +
                               16);
  v1::ClientFrame frame;
  v1::ServerFrame reply;
  std::string bad;
  for (;;) {
    int64_t now = NowNs();
    if (now >= drain_end || (now >= send_end && pending.empty())) {
      break;
    }
    // Send what is due while the window allows.
    while (now < send_end && static_cast<int>(pending.size()) < spec.window &&
           (sched.flat() || sched.next() <= now)) {
      frame.Clear();
      frame.set_request_id(next_request);
      auto* pub = frame.mutable_publish();
      std::vector<int64_t> times;
      while (static_cast<int>(times.size()) < spec.batch && (sched.flat() || sched.next() <= now)) {
        const int64_t t = sched.Take(now);
        times.push_back(t);
        pub->add_events(maker.Make(t));
      }
      SendFrame(s, frame);
      st->sent += times.size();
      pending.emplace(next_request++, std::move(times));
      now = NowNs();
    }
    // Wait for replies until the next event is due (or a while, when the window is full).
    const int64_t wake =
        WakeTime(sched, now, send_end, drain_end, static_cast<int>(pending.size()) < spec.window);
    if (!WaitReadable(s, fd, wake)) {
      continue;
    }
    while (TryRecv(s, &reply, &bad)) {
      const int64_t at = NowNs();
      if (!bad.empty()) {
        if (st->first_refusal.empty()) {
          st->first_refusal = "malformed reply: " + bad;
        }
        bad.clear();
        continue;
      }
      if (reply.has_error()) {
        if (st->first_refusal.empty()) {
          st->first_refusal = "error frame: " + reply.error().ShortDebugString();
        }
      }
      auto it = pending.find(reply.request_id());
      if (it == pending.end()) {
        continue;
      }
      const std::vector<int64_t>& times = it->second;
      if (reply.has_publish_ack()) {
        if (at >= clock->measure_start() && at < clock->send_end()) {
          st->heads.push_back(reply.publish_ack().tree_head().tree_size());
        }
        const auto& results = reply.publish_ack().results();
        for (size_t i = 0; i < times.size(); ++i) {
          const bool good = static_cast<int>(i) < results.size() &&
                            results[static_cast<int>(i)].ok() &&
                            !results[static_cast<int>(i)].duplicate();
          if (!good && st->first_refusal.empty()) {
            st->first_refusal = static_cast<int>(i) < results.size()
                                    ? results[static_cast<int>(i)].ShortDebugString()
                                    : "missing result";
          }
          RecordAnswer(*st, *clock, times[i], at, good);
        }
      } else {
        st->refused += times.size();
      }
      pending.erase(it);
    }
  }
  for (const auto& [id, times] : pending) {
    st->unanswered += times.size();
  }
  RecordBacklog(*st, sched, *clock);
}

struct SubscriberStats {
  std::vector<int64_t> deliver_ns;     // events scheduled inside the measured window
  std::atomic<uint64_t> delivered{0};  // distinct first deliveries of tagged events
  uint64_t redelivered = 0;
  std::string error;
};

// One system-principal agency reading every event (SELECTOR_ALL_READABLE) from the current end of
// the log, acking each delivery (one ConsumerAck per burst received).
void PassageSubscriber(PassageBroker* broker, zmq::context_t* ctx, int opt_deliver_batch,
                       const PhaseClock* clock, std::atomic<int>* ready,
                       const std::atomic<bool>* stop, SubscriberStats* st) {
  zmq::socket_t s(*ctx, zmq::socket_type::dealer);
  std::optional<uint64_t> size;
  if (!transport::ConfigureClient(s, broker->SecurityFor(kSubscriber), transport::SocketTuning{})
           .ok()) {
    st->error = "cannot configure the socket";
  } else {
    s.connect(broker->endpoint());
    size = Handshake(s, kSubscriber, &st->error);
  }
  if (size) {
    v1::ClientFrame sub;
    sub.set_request_id(2);
    sub.mutable_subscribe()->set_selector(v1::SELECTOR_ALL_READABLE);
    sub.mutable_subscribe()->set_after_seq(*size);
    sub.mutable_subscribe()->set_credits(8192);
    sub.mutable_subscribe()->set_max_batch(static_cast<uint32_t>(opt_deliver_batch));
    SendFrame(s, sub);
    // A PING after it: its PONG proves the broker has registered the subscription.
    v1::ClientFrame ping;
    ping.set_request_id(3);
    ping.mutable_ping()->set_sent_at_ms(WallMs());
    SendFrame(s, ping);
    const int fd = s.get(zmq::sockopt::fd);
    bool ponged = false;
    const int64_t deadline = NowNs() + 20 * kNsPerSec;
    while (!ponged && WaitReadable(s, fd, deadline)) {
      v1::ServerFrame f;
      std::string bad;
      while (TryRecv(s, &f, &bad)) {
        if (f.has_pong()) {
          ponged = true;
        } else if (f.has_error()) {
          st->error = "SUBSCRIBE refused: " + f.error().ShortDebugString();
        }
      }
    }
    if (!ponged && st->error.empty()) {
      st->error = "no PONG after SUBSCRIBE";
    }
  }
  ready->fetch_add(1);
  if (!st->error.empty()) {
    return;
  }
  const int fd = s.get(zmq::sockopt::fd);
  v1::ServerFrame f;
  v1::Envelope env;
  v1::Event ev;
  v1::ClientFrame ack;
  std::string bad;
  uint64_t last_seq = 0;
  while (!stop->load()) {
    if (!WaitReadable(s, fd, NowNs() + 20 * kNsPerMs)) {
      continue;
    }
    ack.Clear();
    auto* a = ack.mutable_ack();
    a->set_selector(v1::SELECTOR_ALL_READABLE);
    while (TryRecv(s, &f, &bad)) {
      const int64_t at = NowNs();
      auto take = [&](const v1::Deliver& d) {
        a->add_global_seqs(d.global_seq());
        if (d.attempt() > 1 || d.global_seq() <= last_seq) {
          st->redelivered++;
          return;
        }
        last_seq = d.global_seq();
        if (!env.ParseFromString(d.envelope()) || !ev.ParseFromString(env.event())) {
          return;
        }
        auto t = ScheduledTimeOf(ev.actor_user());
        if (!t) {
          return;
        }
        st->delivered.fetch_add(1, std::memory_order_relaxed);
        if (*t >= clock->measure_start() && *t < clock->send_end()) {
          st->deliver_ns.push_back(at - *t);
        }
      };
      if (f.has_deliver()) {
        take(f.deliver());
      } else if (f.has_deliver_batch()) {
        for (const auto& d : f.deliver_batch().deliveries()) {
          take(d);
        }
      }
    }
    if (a->global_seqs_size() > 0) {
      SendFrame(s, ack);
    }
  }
}

// One kind of load on one server, accumulated over the rounds it ran in.
struct PhaseResult {
  std::string name;
  std::string shape;  // "flat out" or "10.0k/s"
  bool with_delivery = false;
  std::vector<int64_t> ack_ns;
  std::vector<int64_t> deliver_ns;
  int64_t measured_ns = 0;
  uint64_t acked_in_window = 0;
  uint64_t sent = 0;
  uint64_t acked = 0;
  uint64_t refused = 0;
  uint64_t unanswered = 0;
  uint64_t backlog = 0;
  uint64_t delivered = 0;
  uint64_t undelivered = 0;
  uint64_t redelivered = 0;
  uint64_t commits = 0;  // Passage: distinct signed tree heads in the acks of the windows
  CpuAccount cpu;
  std::string problem;
  std::vector<std::string> timelines;  // one per round
  // Per round, in round order (the ratios are medians of per-round ratios): acknowledged events/s
  // in the window, p99 publish->ack of the events scheduled in it, server CPU us per acked event.
  std::vector<double> round_rate;
  std::vector<double> round_p99_us;
  std::vector<double> round_cpu_us;

  // Summaries, after the last round (Finish).
  double throughput = 0;
  Latency ack;
  std::optional<Latency> deliver;

  void Finish() {
    throughput = measured_ns > 0
                     ? static_cast<double>(acked_in_window) * 1e9 / static_cast<double>(measured_ns)
                     : 0;
    ack = Summarize(ack_ns);
    if (with_delivery) {
      deliver = Summarize(deliver_ns);
    }
  }
  bool Failed() const {
    return !problem.empty() || refused > 0 || unanswered > 0 || undelivered > 0;
  }
};

void AddPublishers(const std::vector<PublisherStats>& stats, const LoadSpec& spec, PhaseResult* r) {
  std::vector<uint64_t> heads;
  for (const auto& st : stats) {
    heads.insert(heads.end(), st.heads.begin(), st.heads.end());
    r->ack_ns.insert(r->ack_ns.end(), st.ack_ns.begin(), st.ack_ns.end());
    r->ack_ns.insert(r->ack_ns.end(), st.backlog_ns.begin(), st.backlog_ns.end());
    r->sent += st.sent;
    r->acked += st.acked;
    r->refused += st.refused;
    r->unanswered += st.unanswered;
    r->backlog += st.backlog;
    r->acked_in_window += st.acked_in_window;
    if (!st.error.empty() && r->problem.empty()) {
      r->problem = st.error;
    }
    if (!st.first_refusal.empty() && r->problem.empty()) {
      r->problem = "refused: " + st.first_refusal;
    }
  }
  std::sort(heads.begin(), heads.end());
  r->commits += static_cast<uint64_t>(std::unique(heads.begin(), heads.end()) - heads.begin());
  r->measured_ns += spec.measure_ns;
  r->shape = spec.flat_out ? "flat out" : Rate(spec.rate) + "/s";
}

// One round of `spec` against the broker, added to `r`.
void RunPassagePhase(PassageBroker& broker, const LoadSpec& spec, const Options& opt,
                     bool with_subscriber, PhaseResult* r) {
  zmq::context_t ctx(2);
  PhaseClock clock;
  clock.warmup_ns = spec.warmup_ns;
  clock.measure_ns = spec.measure_ns;
  std::atomic<int> ready{0};
  std::atomic<bool> stop_sub{false};
  SubscriberStats sub;
  std::thread sub_thread;
  int expected_ready = spec.publishers;
  if (with_subscriber) {
    ++expected_ready;
    sub_thread = std::thread(PassageSubscriber, &broker, &ctx, opt.deliver_batch, &clock, &ready,
                             &stop_sub, &sub);
  }
  std::vector<PublisherStats> stats(static_cast<size_t>(spec.publishers));
  std::vector<std::thread> threads;
  for (int i = 0; i < spec.publishers; ++i) {
    threads.emplace_back(PassagePublisher, &broker, &ctx, std::cref(spec), std::cref(opt), i,
                         &clock, &ready, &stats[static_cast<size_t>(i)]);
  }
  while (ready.load() < expected_ready) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  clock.t0 = NowNs() + 100 * kNsPerMs;
  SleepUntil(clock.measure_start());
  CpuSnapshot before = TakeSnapshot(broker.pid());
  SleepUntil(clock.send_end());
  CpuSnapshot after = TakeSnapshot(broker.pid());
  for (auto& t : threads) {
    t.join();
  }
  const uint64_t acked_before = r->acked;
  AddPublishers(stats, spec, r);
  r->cpu.Add(before, after);
  r->timelines.push_back(clock.Timeline());
  if (with_subscriber) {
    r->with_delivery = true;
    const uint64_t acked = r->acked - acked_before;
    const int64_t deadline = NowNs() + kDrainNs;
    while (sub.error.empty() && sub.delivered.load() < acked && NowNs() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stop_sub = true;
    sub_thread.join();
    const uint64_t delivered = sub.delivered.load();
    r->delivered += delivered;
    r->undelivered += acked > delivered ? acked - delivered : 0;
    r->redelivered += sub.redelivered;
    r->deliver_ns.insert(r->deliver_ns.end(), sub.deliver_ns.begin(), sub.deliver_ns.end());
    for (const auto& st : stats) {  // never sent, so never delivered either: as late as for the ack
      r->deliver_ns.insert(r->deliver_ns.end(), st.backlog_ns.begin(), st.backlog_ns.end());
    }
    if (!sub.error.empty() && r->problem.empty()) {
      r->problem = "subscriber: " + sub.error;
    }
  }
}

// ---- redis --------------------------------------------------------------------------------------

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = -1;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  if (fd >= 0) {
    ::close(fd);
  }
  return port;
}

// Passage's per-event work as one Redis function (FCALL passage_publish 4 <dedup key> <log stream>
// <case list> <case heads> <case id> <event>), atomic as a function is: dedup by (producer, event
// id), append to the global log, index the new entry under its case, move the case head. Returns
// "<stream id> <case seq>", or "dup <stream id> <case seq>" (the stored outcome, nothing appended)
// for an event id seen before. GET then SET NX inside one function is the dedup of SET NX with the
// outcome as its value, which is only known after the XADD.
constexpr char kRedisLibrary[] = R"lua(#!lua name=passage
redis.register_function('passage_publish', function(keys, args)
  local prior = redis.call('GET', keys[1])
  if prior then
    return 'dup ' .. prior
  end
  local id = redis.call('XADD', keys[2], '*', 'e', args[2])
  local case_seq = redis.call('RPUSH', keys[3], id)
  redis.call('HSET', keys[4], args[1], id)
  local outcome = id .. ' ' .. case_seq
  redis.call('SET', keys[1], outcome, 'NX')
  return outcome
end)
)lua";

class RedisServer {
 public:
  explicit RedisServer(std::string dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }

  bool Start(const std::string& bin) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = FreeLoopbackPort();
      if (port_ <= 0) {
        return false;
      }
      std::vector<std::string> args = {bin,
                                       "--port",
                                       std::to_string(port_),
                                       "--bind",
                                       "127.0.0.1",
                                       "--dir",
                                       dir_,
                                       "--appendonly",
                                       "yes",
                                       "--appendfsync",
                                       "always",
                                       "--save",
                                       "",
                                       "--daemonize",
                                       "no",
                                       "--protected-mode",
                                       "yes",
                                       "--logfile",
                                       ""};
      if (!child_.Start(args, dir_ + "/redis.log")) {
        return false;
      }
      for (int i = 0; i < 500; ++i) {  // 10 s
        if (child_.Exited()) {
          break;
        }
        redisContext* c = redisConnect("127.0.0.1", port_);
        if (c != nullptr && c->err == 0) {
          auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
          const bool pong = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
          if (reply != nullptr) {
            freeReplyObject(reply);
          }
          redisFree(c);
          if (pong) {
            return true;
          }
        } else if (c != nullptr) {
          redisFree(c);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      child_.Stop();  // most likely the port was taken meanwhile: try another
    }
    return false;
  }

  // Loads kRedisLibrary (FUNCTION LOAD REPLACE); false with the reason in `error`.
  bool LoadLibrary(std::string* error) {
    redisContext* c = redisConnect("127.0.0.1", port_);
    if (c == nullptr || c->err != 0) {
      *error = c != nullptr ? c->errstr : "out of memory";
      if (c != nullptr) {
        redisFree(c);
      }
      return false;
    }
    auto* reply = static_cast<redisReply*>(
        redisCommand(c, "FUNCTION LOAD REPLACE %b", kRedisLibrary, std::strlen(kRedisLibrary)));
    const bool ok = reply != nullptr && reply->type == REDIS_REPLY_STRING;
    if (!ok) {
      *error = reply == nullptr                   ? std::string(c->errstr)
               : reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len)
                                                  : "unexpected reply to FUNCTION LOAD";
    }
    if (reply != nullptr) {
      freeReplyObject(reply);
    }
    redisFree(c);
    return ok;
  }

  void Stop() { child_.Stop(); }
  pid_t pid() const { return child_.pid(); }
  int port() const { return port_; }
  std::string log_path() const { return dir_ + "/redis.log"; }

 private:
  std::string dir_;
  Child child_;
  int port_ = -1;
};

// What a Redis publisher sends per event: a plain XADD, or Passage's work in kRedisLibrary.
enum class RedisWork { kXadd, kEqual };

void RedisPublisher(int port, RedisWork work, const LoadSpec& spec, const Options& opt, int index,
                    PhaseClock* clock, std::atomic<int>* ready, PublisherStats* st) {
  prctl(PR_SET_TIMERSLACK, 1UL);
  redisContext* c = redisConnect("127.0.0.1", port);
  if (c == nullptr || c->err != 0) {
    st->error =
        std::string("cannot connect to redis: ") + (c != nullptr ? c->errstr : "out of memory");
    if (c != nullptr) {
      redisFree(c);
    }
    ready->fetch_add(1);
    return;
  }
  const std::string producer = PassageBroker::PublisherId(index);
  EventMaker maker(producer, opt.payload, static_cast<uint64_t>(index) + 1001);
  ready->fetch_add(1);
  const int64_t t0 = clock->WaitStart();
  const int64_t send_end = clock->send_end();
  const int64_t drain_end = send_end + kDrainNs;
  const size_t depth = static_cast<size_t>(spec.window) * static_cast<size_t>(spec.batch);
  Schedule sched(spec, index, t0);
  std::deque<int64_t> pending;  // scheduled times, in command order (replies come in order)
  for (;;) {
    int64_t now = NowNs();
    if (now >= drain_end || (now >= send_end && pending.empty())) {
      break;
    }
    bool appended = false;
    while (now < send_end && pending.size() < depth && (sched.flat() || sched.next() <= now)) {
      const int64_t t = sched.Take(now);
      const std::string e = maker.Make(t);
      if (work == RedisWork::kXadd) {
        redisAppendCommand(c, "XADD %s * e %b", kStream, e.data(), e.size());
      } else {
        const std::string dedup = "dedup:" + producer + ":" + maker.event_id();
        const std::string case_list = "case:" + maker.case_id();
        redisAppendCommand(c, "FCALL passage_publish 4 %s %s %s casehead %s %b", dedup.c_str(),
                           kStream, case_list.c_str(), maker.case_id().c_str(), e.data(), e.size());
      }
      pending.push_back(t);
      st->sent++;
      appended = true;
    }
    if (appended) {
      int done = 0;
      while (!done) {
        if (redisBufferWrite(c, &done) != REDIS_OK) {
          st->error = std::string("redis write: ") + c->errstr;
          break;
        }
      }
      if (!st->error.empty()) {
        break;
      }
    }
    const int64_t wake = WakeTime(sched, now, send_end, drain_end, pending.size() < depth);
    const int64_t left = std::max<int64_t>(0, wake - NowNs());
    pollfd p{c->fd, POLLIN, 0};
    timespec ts{static_cast<time_t>(left / kNsPerSec), static_cast<long>(left % kNsPerSec)};
    if (ppoll(&p, 1, &ts, nullptr) <= 0) {
      continue;
    }
    if (redisBufferRead(c) != REDIS_OK) {
      st->error = std::string("redis read: ") + c->errstr;
      break;
    }
    void* raw = nullptr;
    while (redisGetReplyFromReader(c, &raw) == REDIS_OK && raw != nullptr) {
      auto* reply = static_cast<redisReply*>(raw);
      const int64_t at = NowNs();
      // A duplicate is not an acknowledged new event (as for Passage's duplicate results).
      const bool good = reply->type == REDIS_REPLY_STRING &&
                        !(reply->len >= 4 && std::memcmp(reply->str, "dup ", 4) == 0);
      if (!good && st->first_refusal.empty()) {
        const bool text = reply->type == REDIS_REPLY_ERROR || reply->type == REDIS_REPLY_STRING;
        st->first_refusal = text ? std::string(reply->str, reply->len) : "unexpected reply type";
      }
      freeReplyObject(reply);
      raw = nullptr;
      if (pending.empty()) {
        continue;
      }
      RecordAnswer(*st, *clock, pending.front(), at, good);
      pending.pop_front();
    }
  }
  st->unanswered += pending.size();
  RecordBacklog(*st, sched, *clock);
  redisFree(c);
}

// One round of `spec` against Redis, added to `r`.
void RunRedisPhase(RedisServer& redis, RedisWork work, const LoadSpec& spec, const Options& opt,
                   PhaseResult* r) {
  PhaseClock clock;
  clock.warmup_ns = spec.warmup_ns;
  clock.measure_ns = spec.measure_ns;
  std::atomic<int> ready{0};
  std::vector<PublisherStats> stats(static_cast<size_t>(spec.publishers));
  std::vector<std::thread> threads;
  for (int i = 0; i < spec.publishers; ++i) {
    threads.emplace_back(RedisPublisher, redis.port(), work, std::cref(spec), std::cref(opt), i,
                         &clock, &ready, &stats[static_cast<size_t>(i)]);
  }
  while (ready.load() < spec.publishers) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  clock.t0 = NowNs() + 100 * kNsPerMs;
  SleepUntil(clock.measure_start());
  CpuSnapshot before = TakeSnapshot(redis.pid());
  SleepUntil(clock.send_end());
  CpuSnapshot after = TakeSnapshot(redis.pid());
  for (auto& t : threads) {
    t.join();
  }
  AddPublishers(stats, spec, r);
  r->cpu.Add(before, after);
  r->timelines.push_back(clock.Timeline());
}

// ---- postgresql ---------------------------------------------------------------------------------

#ifdef PASSAGE_HAVE_LIBPQ

// The event store PostgreSQL is measured as: the global log with its dedup constraint and case
// index, the case heads, and one function doing Passage's per-event work, called once per event in
// its own transaction. Every event here opens a new case (as the Passage events do), so the case
// seq is always 1 and the case-head row never contended; the FOR UPDATE serializes two events of
// one case all the same.
constexpr char kPostgresSchema[] = R"sql(
CREATE TABLE events (
  seq bigserial PRIMARY KEY,
  producer text NOT NULL,
  event_id text NOT NULL,
  case_id text NOT NULL,
  case_seq bigint NOT NULL,
  body bytea NOT NULL,
  UNIQUE (producer, event_id)
);
CREATE INDEX events_by_case ON events (case_id, case_seq);
CREATE TABLE case_head (
  case_id text PRIMARY KEY,
  seq bigint NOT NULL,
  case_seq bigint NOT NULL
);
CREATE FUNCTION passage_publish(p_producer text, p_event_id text, p_case_id text, p_body bytea,
                                OUT out_seq bigint, OUT out_case_seq bigint,
                                OUT out_duplicate boolean)
LANGUAGE plpgsql AS $$
BEGIN
  SELECT h.case_seq + 1 INTO out_case_seq FROM case_head h WHERE h.case_id = p_case_id FOR UPDATE;
  IF NOT FOUND THEN
    out_case_seq := 1;
  END IF;
  INSERT INTO events (producer, event_id, case_id, case_seq, body)
    VALUES (p_producer, p_event_id, p_case_id, out_case_seq, p_body)
    ON CONFLICT (producer, event_id) DO NOTHING
    RETURNING seq INTO out_seq;
  IF out_seq IS NULL THEN
    SELECT e.seq, e.case_seq INTO out_seq, out_case_seq FROM events e
      WHERE e.producer = p_producer AND e.event_id = p_event_id;
    out_duplicate := true;
    RETURN;
  END IF;
  INSERT INTO case_head (case_id, seq, case_seq) VALUES (p_case_id, out_seq, out_case_seq)
    ON CONFLICT (case_id) DO UPDATE SET seq = EXCLUDED.seq, case_seq = EXCLUDED.case_seq;
  out_duplicate := false;
END
$$;
)sql";

constexpr char kPostgresBinDir[] = "/usr/lib/postgresql/15/bin";

// A PostgreSQL 15 cluster of its own in `dir` (initdb, then postgres on a unix socket in `dir`),
// fsync=on, synchronous_commit=on, otherwise Debian's defaults. When this process runs as root, the
// server runs as the "postgres" user (or "nobody"), which then owns `dir`; the parent directories
// must let it through.
class PostgresServer {
 public:
  explicit PostgresServer(std::string dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }

  static bool Available() {
    return ::access((std::string(kPostgresBinDir) + "/postgres").c_str(), X_OK) == 0;
  }

  // initdb, start, schema; false with the reason in `error`.
  bool Start(int max_connections, std::string* error) {
    std::optional<std::pair<uid_t, gid_t>> user;
    if (geteuid() == 0) {
      const passwd* pw = getpwnam("postgres");
      if (pw == nullptr) {
        pw = getpwnam("nobody");
      }
      if (pw == nullptr) {
        *error = "running as root and there is no postgres or nobody user to run PostgreSQL as";
        return false;
      }
      user = std::pair{pw->pw_uid, pw->pw_gid};
      if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        *error = "cannot chown " + dir_ + ": " + std::strerror(errno);
        return false;
      }
    }
    const std::string bin = kPostgresBinDir;
    Child initdb;
    if (!initdb.Start({bin + "/initdb", "-D", dir_ + "/data", "-U", "passage", "--auth=trust", "-E",
                       "UTF8", "--no-sync", "--no-instructions"},
                      log_path(), user) ||
        initdb.Wait(120 * kNsPerSec) != 0) {
      *error = "initdb failed:\n" + LastLines(ReadText(log_path()), 10);
      return false;
    }
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = FreeLoopbackPort();  // names the socket file only: no TCP listener
      if (!child_.Start({bin + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-c",
                         "listen_addresses=", "-c", "unix_socket_directories=" + dir_, "-c",
                         "fsync=on", "-c", "synchronous_commit=on", "-c",
                         "max_connections=" + std::to_string(max_connections + 10)},
                        log_path(), user)) {
        *error = "cannot start postgres";
        return false;
      }
      for (int i = 0; i < 1500 && !child_.Exited(); ++i) {  // 30 s
        if (PQping(conninfo().c_str()) == PQPING_OK) {
          return CreateSchema(error);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      child_.Stop();
    }
    *error = "postgres did not start:\n" + LastLines(ReadText(log_path()), 10);
    return false;
  }

  void Stop() { child_.Stop(); }
  pid_t pid() const { return child_.pid(); }
  std::string conninfo() const {
    return "host=" + dir_ + " port=" + std::to_string(port_) + " user=passage dbname=postgres";
  }
  std::string log_path() const { return dir_ + "/postgres.log"; }

 private:
  bool CreateSchema(std::string* error) {
    PGconn* c = PQconnectdb(conninfo().c_str());
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
      PGresult* r = PQexec(c, kPostgresSchema);
      ok = PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
    }
    if (!ok) {
      *error = std::string("schema: ") + PQerrorMessage(c);
    }
    PQfinish(c);
    return ok;
  }

  std::string dir_;
  Child child_;
  int port_ = -1;
};

// One publisher on its own connection in pipeline mode: per event a call of passage_publish and a
// sync (so one transaction, committed and flushed before its sync result arrives), up to W x K
// events in flight. The ack is the sync's result: the query's row comes before the commit.
void PostgresPublisher(const std::string& conninfo, const LoadSpec& spec, const Options& opt,
                       int index, PhaseClock* clock, std::atomic<int>* ready, PublisherStats* st) {
  prctl(PR_SET_TIMERSLACK, 1UL);
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult* r = PQprepare(c, "publish",
                            "SELECT out_seq, out_case_seq, out_duplicate FROM "
                            "passage_publish($1, $2, $3, $4)",
                            4, nullptr);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      st->error = std::string("postgres prepare: ") + PQerrorMessage(c);
    }
    PQclear(r);
  } else {
    st->error = std::string("cannot connect to postgres: ") + PQerrorMessage(c);
  }
  if (st->error.empty() && (PQsetnonblocking(c, 1) != 0 || PQenterPipelineMode(c) != 1)) {
    st->error = std::string("postgres pipeline mode: ") + PQerrorMessage(c);
  }
  const std::string producer = PassageBroker::PublisherId(index);
  EventMaker maker(producer, opt.payload, static_cast<uint64_t>(index) + 2001);
  ready->fetch_add(1);
  if (!st->error.empty()) {
    PQfinish(c);
    return;
  }
  const int64_t t0 = clock->WaitStart();
  const int64_t send_end = clock->send_end();
  const int64_t drain_end = send_end + kDrainNs;
  const size_t depth = static_cast<size_t>(spec.window) * static_cast<size_t>(spec.batch);
  Schedule sched(spec, index, t0);
  struct Pending {
    int64_t scheduled;
    bool ok;
  };
  std::deque<Pending> pending;  // in send order; the front is the one whose results come next
  bool flushing = false;
  for (;;) {
    int64_t now = NowNs();
    if (now >= drain_end || (now >= send_end && pending.empty())) {
      break;
    }
    bool appended = false;
    while (now < send_end && pending.size() < depth && (sched.flat() || sched.next() <= now)) {
      const int64_t t = sched.Take(now);
      const std::string e = maker.Make(t);
      const char* values[4] = {producer.c_str(), maker.event_id().c_str(), maker.case_id().c_str(),
                               e.data()};
      const int lengths[4] = {0, 0, 0, static_cast<int>(e.size())};
      const int formats[4] = {0, 0, 0, 1};
      if (PQsendQueryPrepared(c, "publish", 4, values, lengths, formats, 0) != 1 ||
          PQpipelineSync(c) != 1) {
        st->error = std::string("postgres send: ") + PQerrorMessage(c);
        break;
      }
      pending.push_back({t, false});
      st->sent++;
      appended = true;
    }
    if (!st->error.empty()) {
      break;
    }
    if (appended || flushing) {
      const int f = PQflush(c);
      if (f < 0) {
        st->error = std::string("postgres flush: ") + PQerrorMessage(c);
        break;
      }
      flushing = f == 1;
    }
    const int64_t wake = WakeTime(sched, now, send_end, drain_end, pending.size() < depth);
    const int64_t left = std::max<int64_t>(0, wake - NowNs());
    pollfd p{PQsocket(c), static_cast<short>(POLLIN | (flushing ? POLLOUT : 0)), 0};
    timespec ts{static_cast<time_t>(left / kNsPerSec), static_cast<long>(left % kNsPerSec)};
    if (ppoll(&p, 1, &ts, nullptr) <= 0 || !(p.revents & (POLLIN | POLLERR | POLLHUP))) {
      continue;
    }
    if (PQconsumeInput(c) != 1) {
      st->error = std::string("postgres read: ") + PQerrorMessage(c);
      break;
    }
    // Results come as: the query's row, a null (end of that query), the sync; a null with nothing
    // queued twice in a row means nothing more has arrived.
    bool last_null = false;
    while (!PQisBusy(c)) {
      PGresult* r = PQgetResult(c);
      if (r == nullptr) {
        if (last_null) {
          break;
        }
        last_null = true;
        continue;
      }
      last_null = false;
      const ExecStatusType status = PQresultStatus(r);
      if (status == PGRES_TUPLES_OK && !pending.empty()) {
        pending.front().ok = PQntuples(r) == 1 && std::strcmp(PQgetvalue(r, 0, 2), "f") == 0;
        if (!pending.front().ok && st->first_refusal.empty()) {
          st->first_refusal = "duplicate";
        }
      } else if (status == PGRES_PIPELINE_SYNC && !pending.empty()) {
        RecordAnswer(*st, *clock, pending.front().scheduled, NowNs(), pending.front().ok);
        pending.pop_front();
      } else if (status != PGRES_PIPELINE_SYNC && st->first_refusal.empty()) {
        st->first_refusal = std::string("postgres: ") + PQresultErrorMessage(r);
      }
      PQclear(r);
    }
  }
  st->unanswered += pending.size();
  RecordBacklog(*st, sched, *clock);
  PQfinish(c);
}

// One round of `in` against PostgreSQL, added to `r`: over --postgres-connections connections
// (one thread each) with the same events in flight in all, W x K x N / connections each.
void RunPostgresPhase(PostgresServer& pg, const LoadSpec& in, const Options& opt, PhaseResult* r) {
  LoadSpec spec = in;
  if (opt.postgres_connections > 0) {
    const int in_flight = in.publishers * in.window * in.batch;
    spec.publishers = opt.postgres_connections;
    spec.window = std::max(1, in_flight / spec.publishers);
    spec.batch = 1;
  }
  PhaseClock clock;
  clock.warmup_ns = spec.warmup_ns;
  clock.measure_ns = spec.measure_ns;
  std::atomic<int> ready{0};
  std::vector<PublisherStats> stats(static_cast<size_t>(spec.publishers));
  std::vector<std::thread> threads;
  const std::string conninfo = pg.conninfo();
  for (int i = 0; i < spec.publishers; ++i) {
    threads.emplace_back(PostgresPublisher, std::cref(conninfo), std::cref(spec), std::cref(opt), i,
                         &clock, &ready, &stats[static_cast<size_t>(i)]);
  }
  while (ready.load() < spec.publishers) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  clock.t0 = NowNs() + 100 * kNsPerMs;
  SleepUntil(clock.measure_start());
  CpuSnapshot before = TakeSnapshot(pg.pid(), true);
  SleepUntil(clock.send_end());
  CpuSnapshot after = TakeSnapshot(pg.pid(), true);
  for (auto& t : threads) {
    t.join();
  }
  AddPublishers(stats, spec, r);
  r->cpu.Add(before, after);
  r->timelines.push_back(clock.Timeline());
}

#endif  // PASSAGE_HAVE_LIBPQ

// ---- report -------------------------------------------------------------------------------------

std::string LoadAverage() {
  std::string s = ReadText("/proc/loadavg");
  std::istringstream in(s);
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// "published P ... batches B" from the broker's last periodic counters line (it logs every 10 s).
std::string BrokerCounters(const std::string& log_path) {
  std::istringstream in(ReadText(log_path));
  std::string line;
  std::string last;
  while (std::getline(in, line)) {
    if (line.find(" batches ") != std::string::npos) {
      last = line;
    }
  }
  if (last.empty()) {
    return "";
  }
  auto field = [&](const std::string& name) -> double {
    size_t p = last.find(" " + name + " ");
    return p == std::string::npos ? -1 : std::atof(last.c_str() + p + name.size() + 2);
  };
  const double published = field("published");
  const double batches = field("batches");
  if (published < 0 || batches <= 0) {
    return "";
  }
  char b[160];
  std::snprintf(b, sizeof(b), "%.0f events in %.0f synced batches so far, %.1f events per batch",
                published, batches, published / batches);
  return b;
}

void PrintRow(const PhaseResult& r) {
  std::string deliver = "-";
  if (r.deliver && r.deliver->n > 0) {
    deliver =
        Ms(r.deliver->p50_us) + " / " + Ms(r.deliver->p99_us) + " / " + Ms(r.deliver->p999_us);
  }
  std::printf("  %-22s %-9s %9s %8s %8s %9s %8s   %s\n", r.name.c_str(), r.shape.c_str(),
              Rate(r.throughput).c_str(), Ms(r.ack.p50_us).c_str(), Ms(r.ack.p99_us).c_str(),
              Ms(r.ack.p999_us).c_str(), Ms(r.ack.max_us).c_str(), deliver.c_str());
}

void PrintRatio(const char* what, std::optional<double> value, double bar, bool at_least) {
  if (!value) {
    std::printf("  %-58s      n/a   (bar %s %.2f)  n/a\n", what, at_least ? ">=" : "<=", bar);
    return;
  }
  const bool pass = at_least ? *value >= bar : *value <= bar;
  std::printf("  %-58s %8.2f   (bar %s %.2f)  %s\n", what, *value, at_least ? ">=" : "<=", bar,
              pass ? "PASS" : "MISS");
}

// The median of the per-round ratios a[i] / b[i] (rounds where either is missing or zero left
// out), with their minimum and maximum; nullopt when no round has both.
struct RoundRatio {
  double median = 0;
  double min = 0;
  double max = 0;
  size_t rounds = 0;
};

std::optional<RoundRatio> MedianRatio(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> r;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] > 0 && b[i] > 0) {
      r.push_back(a[i] / b[i]);
    }
  }
  if (r.empty()) {
    return std::nullopt;
  }
  std::sort(r.begin(), r.end());
  RoundRatio out;
  const size_t n = r.size();
  out.median = n % 2 == 1 ? r[n / 2] : (r[n / 2 - 1] + r[n / 2]) / 2;
  out.min = r.front();
  out.max = r.back();
  out.rounds = n;
  return out;
}

// Prints one bar's ratio (median over the rounds, with its range) and, when `summary` is open,
// appends "key<TAB>median<TAB>min<TAB>max<TAB>bar<TAB>verdict" to it for bench/run.sh's table.
void PrintRoundRatio(std::FILE* summary, const char* key, const std::string& what,
                     const std::optional<RoundRatio>& value, double bar, bool at_least) {
  const char* op = at_least ? ">=" : "<=";
  if (!value) {
    std::printf("  %-58s      n/a   (bar %s %.2f)  n/a\n", what.c_str(), op, bar);
    return;
  }
  const bool pass = at_least ? value->median >= bar : value->median <= bar;
  std::printf("  %-58s %8.2f   (bar %s %.2f)  %s   (%zu round(s): %.2f to %.2f)\n", what.c_str(),
              value->median, op, bar, pass ? "PASS" : "MISS", value->rounds, value->min,
              value->max);
  if (summary != nullptr) {
    std::fprintf(summary, "%s\t%.3f\t%.3f\t%.3f\t%s %.2f\t%s\n", key, value->median, value->min,
                 value->max, op, bar, pass ? "pass" : "miss");
  }
}

std::optional<double> Ratio(double a, double b, bool ok = true) {
  if (!ok || !(b > 0) || !(a > 0)) {
    return std::nullopt;
  }
  return a / b;
}

int Main(int argc, char** argv) {
  Options opt = ParseOptions(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, OnInterrupt);
  signal(SIGTERM, OnInterrupt);
  if (!Executable(opt.broker_bin)) {
    std::fprintf(stderr,
                 "broker_load: %s is not an executable (build passage-broker or pass --broker)\n",
                 opt.broker_bin.c_str());
    return 1;
  }
  if (!opt.skip_redis && !Executable(opt.redis_bin)) {
    std::fprintf(stderr,
                 "broker_load: %s not found: the Redis phases are skipped (apt-get install "
                 "redis-server)\n",
                 opt.redis_bin.c_str());
    opt.skip_redis = true;
  }
#ifdef PASSAGE_HAVE_LIBPQ
  if (!opt.skip_postgres && !PostgresServer::Available()) {
    std::fprintf(stderr,
                 "broker_load: %s/postgres not found: the PostgreSQL phase is skipped (apt-get "
                 "install postgresql)\n",
                 kPostgresBinDir);
    opt.skip_postgres = true;
  }
#else
  if (!opt.skip_postgres) {
    std::fprintf(stderr,
                 "broker_load: built without libpq: the PostgreSQL phase is skipped (apt-get "
                 "install libpq-dev, then reconfigure)\n");
    opt.skip_postgres = true;
  }
#endif
  TempDir root(opt.base_dir, opt.keep);
  if (geteuid() == 0 && !opt.skip_postgres) {
    ::chmod(root.path().c_str(), 0711);  // PostgreSQL runs as another user below it
  }
  const int64_t warmup_ns = static_cast<int64_t>(opt.warmup * 1e9);
  const int64_t round_ns = static_cast<int64_t>(opt.seconds * 1e9 / opt.rounds);
  const std::string load_before = LoadAverage();
  const int64_t run_start = NowNs();

  std::printf("== Passage broker load (quality bars, docs/architecture.md) ==\n");
  std::printf(
      "%d publishers, each %d PUBLISH frame(s) of %d event(s) in flight (peers: %d events in "
      "flight per connection); fixed rate %s events/s; %.1f s measured per phase in %d interleaved "
      "round(s), each after %.1f s warm-up\n",
      opt.publishers, opt.window, opt.batch, opt.window * opt.batch, Rate(opt.rate).c_str(),
      opt.seconds, opt.rounds, opt.warmup);
  std::printf("host: %u CPUs, load average %s; temp dir %s\n", std::thread::hardware_concurrency(),
              load_before.c_str(), root.path().c_str());
  {
    EventMaker probe(PassageBroker::PublisherId(0), opt.payload, 7);
    const size_t size = probe.Make(NowNs()).size();
    std::printf(
        "events: CaseOpened of a new case, %zu bytes serialized (%zu of them random sealed "
        "ciphertext); the peers store the same bytes (redis: XADD %s * e <event>; redis-equal: "
        "FCALL passage_publish; postgres: SELECT passage_publish(...) per transaction)\n",
        size, probe.ciphertext_bytes(), kStream);
  }
  std::fflush(stdout);

  auto spec = [&](bool flat) {
    LoadSpec s;
    s.flat_out = flat;
    s.rate = opt.rate;
    s.publishers = opt.publishers;
    s.window = opt.window;
    s.batch = opt.batch;
    s.warmup_ns = warmup_ns;
    s.measure_ns = round_ns;
    return s;
  };

  // The servers, all up for the whole run so that their rounds can interleave.
  std::unique_ptr<PassageBroker> curve =
      std::make_unique<PassageBroker>(root.path() + "/passage-curve", opt.publishers, false);
  std::unique_ptr<PassageBroker> plain;
  if (!opt.skip_insecure) {
    plain = std::make_unique<PassageBroker>(root.path() + "/passage-plain", opt.publishers, true);
  }
  for (PassageBroker* b : {curve.get(), plain.get()}) {
    if (b != nullptr && !b->Start(opt.broker_bin)) {
      std::fprintf(stderr, "broker_load: %s did not start; its log:\n%s\n", opt.broker_bin.c_str(),
                   LastLines(ReadText(b->log_path()), 20).c_str());
      return 1;
    }
  }
  // Two Redis servers, each with its own append-only file: plain XADD, and Passage's work.
  std::unique_ptr<RedisServer> redis;
  std::unique_ptr<RedisServer> redis_equal;
  if (!opt.skip_redis) {
    redis = std::make_unique<RedisServer>(root.path() + "/redis");
    redis_equal = std::make_unique<RedisServer>(root.path() + "/redis-equal");
    for (RedisServer* r : {redis.get(), redis_equal.get()}) {
      if (!r->Start(opt.redis_bin)) {
        std::fprintf(stderr, "broker_load: %s did not start; its log:\n%s\n", opt.redis_bin.c_str(),
                     LastLines(ReadText(r->log_path()), 20).c_str());
        return 1;
      }
    }
    std::string error;
    if (!redis_equal->LoadLibrary(&error)) {
      std::fprintf(stderr, "broker_load: FUNCTION LOAD of the passage library failed: %s\n",
                   error.c_str());
      return 1;
    }
  }
#ifdef PASSAGE_HAVE_LIBPQ
  std::unique_ptr<PostgresServer> postgres;
  if (!opt.skip_postgres) {
    postgres = std::make_unique<PostgresServer>(root.path() + "/postgres");
    std::string error;
    if (!postgres->Start(std::max(opt.publishers, opt.postgres_connections), &error)) {
      std::fprintf(stderr, "broker_load: PostgreSQL: %s\n", error.c_str());
      return 1;
    }
  }
#endif

  PhaseResult curve_flat, curve_sub, plain_flat, redis_flat, equal_flat, curve_fixed, plain_fixed,
      redis_fixed, equal_fixed, pg_flat;
  curve_flat.name = curve_fixed.name = "passage CURVE";
  curve_sub.name = "passage CURVE +sub";
  plain_flat.name = plain_fixed.name = "passage PLAIN";
  redis_flat.name = redis_fixed.name = "redis XADD";
  equal_flat.name = equal_fixed.name = "redis-equal";
  pg_flat.name = "postgres";
  DiskResult disk;

  // Runs one round of one phase and says how it went (stderr: progress, not results).
  auto round = [&](PhaseResult* r, int n, const std::function<void()>& run) {
    if (g_interrupted) {
      return;
    }
    const uint64_t acked = r->acked_in_window;
    const size_t samples = r->ack_ns.size();
    const double cpu_s = r->cpu.ServerSeconds();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    run();
    std::vector<int64_t> mine(r->ack_ns.begin() + static_cast<std::ptrdiff_t>(samples),
                              r->ack_ns.end());
    const Latency l = Summarize(std::move(mine));
    const double acked_now = static_cast<double>(r->acked_in_window - acked);
    r->round_rate.push_back(acked_now * 1e9 / static_cast<double>(round_ns));
    r->round_p99_us.push_back(l.p99_us);
    r->round_cpu_us.push_back(acked_now > 0 ? (r->cpu.ServerSeconds() - cpu_s) / acked_now * 1e6
                                            : 0);
    std::fprintf(
        stderr, "broker_load: round %d/%d  %-20s %-9s %8s/s acked, p99 %s ms%s\n", n + 1,
        opt.rounds, r->name.c_str(), r->shape.c_str(),
        Rate(static_cast<double>(r->acked_in_window - acked) * 1e9 / static_cast<double>(round_ns))
            .c_str(),
        Ms(l.p99_us).c_str(), r->problem.empty() ? "" : ("  !! " + r->problem).c_str());
  };

  for (int n = 0; opt.run_flat && n < opt.rounds; ++n) {
    round(&curve_flat, n, [&] { RunPassagePhase(*curve, spec(true), opt, false, &curve_flat); });
    if (opt.flat_with_subscriber) {
      round(&curve_sub, n, [&] { RunPassagePhase(*curve, spec(true), opt, true, &curve_sub); });
    }
    if (plain) {
      round(&plain_flat, n, [&] { RunPassagePhase(*plain, spec(true), opt, false, &plain_flat); });
    }
    if (redis) {
      round(&redis_flat, n,
            [&] { RunRedisPhase(*redis, RedisWork::kXadd, spec(true), opt, &redis_flat); });
      round(&equal_flat, n,
            [&] { RunRedisPhase(*redis_equal, RedisWork::kEqual, spec(true), opt, &equal_flat); });
    }
#ifdef PASSAGE_HAVE_LIBPQ
    if (postgres) {
      round(&pg_flat, n, [&] { RunPostgresPhase(*postgres, spec(true), opt, &pg_flat); });
    }
#endif
  }
  for (int n = 0; opt.run_fixed && n < opt.rounds; ++n) {
    // The disk, in the directory the brokers write to, between the rounds it is compared with.
    const int samples =
        opt.fsync_samples / opt.rounds + (n < opt.fsync_samples % opt.rounds ? 1 : 0);
    if (g_interrupted) {
      break;
    }
    MeasureFdatasync(root.path() + "/disk", samples, &disk);
    round(&curve_fixed, n, [&] { RunPassagePhase(*curve, spec(false), opt, true, &curve_fixed); });
    if (plain) {
      round(&plain_fixed, n,
            [&] { RunPassagePhase(*plain, spec(false), opt, true, &plain_fixed); });
    }
    if (redis) {
      round(&redis_fixed, n,
            [&] { RunRedisPhase(*redis, RedisWork::kXadd, spec(false), opt, &redis_fixed); });
      round(&equal_fixed, n, [&] {
        RunRedisPhase(*redis_equal, RedisWork::kEqual, spec(false), opt, &equal_fixed);
      });
    }
  }

  std::vector<std::string> notes;
  for (auto [b, label] :
       {std::pair{curve.get(), "passage CURVE"}, std::pair{plain.get(), "passage PLAIN"}}) {
    if (b == nullptr) {
      continue;
    }
    b->Stop();
    const std::string counters = BrokerCounters(b->log_path());
    if (!counters.empty()) {
      notes.push_back(std::string(label) + " broker log: " + counters);
    }
  }
  if (redis) {
    redis->Stop();
    redis_equal->Stop();
  }
#ifdef PASSAGE_HAVE_LIBPQ
  if (postgres) {
    postgres->Stop();
  }
#endif

  std::vector<PhaseResult*> results;
  for (PhaseResult* r : {&curve_flat, &curve_sub, &plain_flat, &redis_flat, &equal_flat, &pg_flat,
                         &curve_fixed, &plain_fixed, &redis_fixed, &equal_fixed}) {
    if (r->measured_ns > 0) {
      r->Finish();
      results.push_back(r);
    }
  }
  disk.Finish();
  bool failed = false;

  // The table.
  std::printf("disk: 4 KiB append + fdatasync x %zu: %s/s, p50 %s ms, p99 %s ms, p99.9 %s ms\n",
              disk.ns.size(), Rate(disk.per_second).c_str(), Ms(disk.sync.p50_us).c_str(),
              Ms(disk.sync.p99_us).c_str(), Ms(disk.sync.p999_us).c_str());
  std::printf("\n  %-22s %-9s %9s   %-35s   %s\n", "", "", "", "publish -> ack, ms",
              "publish -> delivered, ms");
  std::printf("  %-22s %-9s %9s %8s %8s %9s %8s   %s\n", "phase", "load", "acked/s", "p50", "p99",
              "p99.9", "max", "p50 / p99 / p99.9");
  for (const PhaseResult* r : results) {
    PrintRow(*r);
  }
  std::printf("\n");
  for (const PhaseResult* rp : results) {
    const PhaseResult& r = *rp;
    failed = failed || r.Failed();
    std::string line = r.name + " " + r.shape + ": sent " + std::to_string(r.sent) + ", acked " +
                       std::to_string(r.acked) + ", latency samples " + std::to_string(r.ack.n);
    if (r.with_delivery) line += ", delivered " + std::to_string(r.delivered);
    if (r.commits > 0) {
      char b[160];
      std::snprintf(
          b, sizeof(b), "; %s synced batches/s of %.1f events",
          Rate(static_cast<double>(r.commits) * 1e9 / static_cast<double>(r.measured_ns)).c_str(),
          static_cast<double>(r.acked_in_window) / static_cast<double>(r.commits));
      line += b;
    }
    if (r.refused) line += "; REFUSED " + std::to_string(r.refused);
    if (r.unanswered) line += "; UNANSWERED " + std::to_string(r.unanswered);
    if (r.backlog)
      line += "; rate not met: " + std::to_string(r.backlog) + " scheduled events never sent";
    if (r.undelivered) line += "; NOT DELIVERED " + std::to_string(r.undelivered);
    if (r.redelivered) line += "; redelivered " + std::to_string(r.redelivered);
    if (!r.problem.empty()) line += "; " + r.problem;
    std::printf("  %s\n", line.c_str());
  }
  std::printf("\n  CPU during the measured windows:\n");
  for (const PhaseResult* r : results) {
    const char* server = r->name.rfind("redis", 0) == 0 ? "redis"
                         : r->name == "postgres"        ? "postgres"
                                                        : "broker";
    std::printf("  %-19s %-9s %s\n", r->name.c_str(), r->shape.c_str(),
                r->cpu.Report(server).c_str());
  }
  for (const auto& n : notes) {
    std::printf("  %s\n", n.c_str());
  }
  if (opt.timeline) {
    std::printf("\n  acknowledged events/s per half second (| = measured window):\n");
    for (const PhaseResult* r : results) {
      for (size_t i = 0; i < r->timelines.size(); ++i) {
        std::printf("  %-19s %-9s round %zu: %s\n", r->name.c_str(), r->shape.c_str(), i + 1,
                    r->timelines[i].c_str());
      }
    }
  }

  std::printf("  server CPU per acknowledged event (flat out):");
  for (const PhaseResult* r : results) {
    if (r->shape == "flat out" && r->acked_in_window > 0) {
      std::printf(" %s %.1f us;", r->name.c_str(),
                  r->cpu.ServerSeconds() / static_cast<double>(r->acked_in_window) * 1e6);
    }
  }
  std::printf("\n");

  // The ratios: each the median of the per-round ratios (the rounds interleave the servers).
  std::FILE* summary = nullptr;
  if (!opt.summary.empty()) {
    summary = std::fopen(opt.summary.c_str(), "a");
    if (summary == nullptr) {
      std::fprintf(stderr, "broker_load: cannot append to %s: %s\n", opt.summary.c_str(),
                   std::strerror(errno));
    }
  }
  const std::string key_prefix = "k" + std::to_string(opt.batch) + ".";
  auto key = [&](const char* k) { return key_prefix + k; };
  const bool have_fixed = curve_fixed.measured_ns > 0;
  std::printf(
      "\nratios (bars from docs/architecture.md, CURVE on; median of the per-round ratios of this "
      "run):\n");
  if (curve_flat.measured_ns > 0) {
    if (equal_flat.measured_ns > 0) {
      PrintRoundRatio(summary, key("vs_redis_equal").c_str(),
                      "throughput / redis-equal (Passage's work in a function)",
                      MedianRatio(curve_flat.round_rate, equal_flat.round_rate), 1.5, true);
    }
    if (redis_flat.measured_ns > 0) {
      PrintRoundRatio(summary, key("vs_redis_xadd").c_str(), "throughput / plain Redis XADD",
                      MedianRatio(curve_flat.round_rate, redis_flat.round_rate), 0.5, true);
    }
    if (pg_flat.measured_ns > 0) {
      PrintRoundRatio(summary, key("vs_postgres").c_str(),
                      "throughput / PostgreSQL (synchronous_commit=on)",
                      MedianRatio(curve_flat.round_rate, pg_flat.round_rate), 8.0, true);
    }
    if (redis_flat.measured_ns > 0) {
      PrintRoundRatio(summary, key("cpu_vs_redis_xadd").c_str(),
                      "broker CPU per acked event / plain Redis XADD's",
                      MedianRatio(curve_flat.round_cpu_us, redis_flat.round_cpu_us), 3.0, false);
    }
  }
  if (have_fixed && equal_fixed.measured_ns > 0) {
    PrintRoundRatio(summary, key("p99_vs_redis_equal").c_str(),
                    "p99 publish->ack / redis-equal p99, both at " + Rate(opt.rate) + "/s",
                    MedianRatio(curve_fixed.round_p99_us, equal_fixed.round_p99_us), 1.0, false);
  }
  if (summary != nullptr) {
    std::fclose(summary);
  }
  if (have_fixed) {
    PrintRatio("p99 publish->delivered / p99 publish->ack (fixed rate)",
               Ratio(curve_fixed.deliver ? curve_fixed.deliver->p99_us : 0, curve_fixed.ack.p99_us),
               2.0, false);
  }
  for (const PhaseResult* r : {&curve_fixed, &plain_fixed, &redis_fixed, &equal_fixed}) {
    if (r->backlog > 0) {
      std::printf(
          "  note: %s did not sustain %s/s (%" PRIu64
          " scheduled events never sent): its "
          "fixed-rate latencies are queueing behind a backlog, counted from the scheduled time\n",
          r->name.c_str(), Rate(opt.rate).c_str(), r->backlog);
    }
  }
  std::printf("info:\n");
  if (plain_flat.measured_ns > 0) {
    std::printf("  CURVE / PLAIN throughput (what CURVE costs)                  %8.2f\n",
                curve_flat.throughput / std::max(1.0, plain_flat.throughput));
    if (redis_flat.measured_ns > 0) {
      std::printf("  PLAIN throughput / Redis throughput                          %8.2f\n",
                  plain_flat.throughput / std::max(1.0, redis_flat.throughput));
    }
  }
  if (have_fixed && redis_fixed.measured_ns > 0) {
    const auto r = MedianRatio(curve_fixed.round_p99_us, redis_fixed.round_p99_us);
    std::printf("  p99 publish->ack / plain Redis XADD p99, both at %s/s     %8.2f\n",
                Rate(opt.rate).c_str(), r ? r->median : 0.0);
  }
  if (have_fixed && disk.sync.n > 0) {
    std::printf("  p99 publish->ack at %s/s / fdatasync p99                  %8.2f\n",
                Rate(opt.rate).c_str(), curve_fixed.ack.p99_us / std::max(1.0, disk.sync.p99_us));
  }
  if (redis_fixed.measured_ns > 0 && disk.sync.n > 0) {
    std::printf("  Redis p99 at %s/s / fdatasync p99                          %8.2f\n",
                Rate(opt.rate).c_str(), redis_fixed.ack.p99_us / std::max(1.0, disk.sync.p99_us));
  }
  std::printf(
      "  run took %.0f s; load average %s before / %s after (shared machine: the rounds "
      "interleave the servers, compare ratios within one run)\n",
      static_cast<double>(NowNs() - run_start) / 1e9, load_before.c_str(), LoadAverage().c_str());
  if (failed) {
    std::printf(
        "\n!! some events were refused, lost or not delivered, or a phase failed (see above)\n");
  }
  std::fflush(stdout);
  if (g_interrupted) {
    std::fprintf(stderr, "broker_load: interrupted; the figures above cover the rounds that ran\n");
    return 130;
  }
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace passage::bench

int main(int argc, char** argv) { return passage::bench::Main(argc, argv); }
