#include "broker/server/application.h"

#include <signal.h>
#include <sys/stat.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "broker/merkle/tree_head.h"
#include "broker/server/broker.h"
#include "core/text_proto.h"
#include "ops/json_log.h"
#include "ops/metrics_server.h"
#include "ops/service_notify.h"
#include "passage/v1/config.pb.h"
#include "transport/keys.h"

namespace passage::broker {
namespace {

constexpr char kUsage[] =
    "usage: passage-broker --config FILE [--insecure]\n"
    "       passage-broker --data-dir DIR --registry FILE [--listen EP] [--key-file F]\n"
    "                      [--signing-key-file F] [--max-message-bytes N] [--insecure]\n"
    "\n"
    "Runs the NRM broker: the durable, tamper-evident event log and delivery to agencies.\n"
    "  --config FILE            passage.v1.BrokerConfig in text format (flags override it)\n"
    "  --data-dir DIR           where the event log lives (created if missing)\n"
    "  --registry FILE          passage.v1.AgencyRegistry in text format\n"
    "  --listen EP              ZeroMQ endpoint, default tcp://127.0.0.1:7450\n"
    "  --key-file F             broker CURVE key file (passagectl keygen); created if missing\n"
    "  --signing-key-file F     Ed25519 seed for tree heads (hex); created if missing\n"
    "  --endpoint-file F        write the bound endpoint to F once serving\n"
    "  --max-message-bytes N    largest client message answered normally (default 16777216)\n"
    "  --metrics-listen A:P     Prometheus metrics, /healthz and /readyz (plain HTTP)\n"
    "  --insecure               no CURVE: development only, never with real data\n"
    "\n"
    "Online backup: `kill -USR1 PID` writes a consistent checkpoint of the log to\n"
    "DATA_DIR/checkpoints/<UTC time> holding whole batches only (see docs/audit.md).\n";

std::atomic<Broker*> g_broker{nullptr};

void OnCheckpointSignal(int) {
  if (Broker* b = g_broker.load()) {
    b->RequestCheckpoint();
  }
}

void OnSignal(int) {
  if (Broker* b = g_broker.load()) {
    b->RequestStop();
  }
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::NotFound("cannot read " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Hex(std::string_view b) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

Result<std::string> Unhex(std::string_view h, const std::string& what) {
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  while (!h.empty() && (h.back() == '\n' || h.back() == ' ')) {
    h.remove_suffix(1);
  }
  if (h.size() % 2 != 0) {
    return Status::InvalidArgument(what, "is not hex");
  }
  std::string out;
  for (size_t i = 0; i < h.size(); i += 2) {
    int a = nib(h[i]);
    int b = nib(h[i + 1]);
    if (a < 0 || b < 0) {
      return Status::InvalidArgument(what, "is not hex");
    }
    out.push_back(static_cast<char>(a * 16 + b));
  }
  return out;
}

Result<std::string> LoadOrCreateSeed(const std::string& path) {
  if (std::filesystem::exists(path)) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    ASSIGN_OR_RETURN(std::string seed, Unhex(text, path));
    if (seed.size() != merkle::TreeHeadSigner::kSeedBytes) {
      return Status::InvalidArgument(path, "must hold a 32-byte seed in hex");
    }
    return seed;
  }
  std::string seed = merkle::TreeHeadSigner::GenerateSeed();
  std::ofstream out(path, std::ios::trunc);
  out << Hex(seed) << "\n";
  out.close();
  if (!out) {
    return Status::IoError("cannot write " + path);
  }
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write);
  spdlog::info("created tree-head signing key {}", path);
  return seed;
}

}  // namespace

int RunBrokerMain(int argc, char** argv) {
  // The log, keys and checkpoints are for the broker's OS user and group only.
  ::umask(0027);
  passage::v1::BrokerConfig config;
  std::string endpoint_file;
  bool insecure_flag = false;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto need = [&](size_t& i) -> std::string {
    if (i + 1 >= args.size()) {
      std::fprintf(stderr, "passage-broker: %s needs a value\n%s", args[i].c_str(), kUsage);
      std::exit(2);
    }
    return args[++i];
  };
  // The config file first, so that flags override it.
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config") {
      std::string path = need(i);
      auto text = ReadFile(path);
      if (!text.ok()) {
        std::fprintf(stderr, "passage-broker: %s\n", text.status().ToString().c_str());
        return 2;
      }
      Status s = core::ParseConfigText(*text, path, &config);
      if (!s.ok()) {
        std::fprintf(stderr, "passage-broker: %s\n", s.ToString().c_str());
        return 2;
      }
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--config") {
      ++i;
    } else if (a == "--data-dir") {
      config.set_data_dir(need(i));
    } else if (a == "--registry") {
      config.set_registry_file(need(i));
    } else if (a == "--listen") {
      config.set_listen(need(i));
    } else if (a == "--key-file") {
      config.set_secret_key_file(need(i));
    } else if (a == "--signing-key-file") {
      config.set_signing_key_file(need(i));
    } else if (a == "--metrics-listen") {
      config.set_metrics_listen(need(i));
    } else if (a == "--endpoint-file") {
      endpoint_file = need(i);
    } else if (a == "--max-message-bytes") {
      std::string v = need(i);
      char* end = nullptr;
      unsigned long n = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n == 0 || n > (1UL << 28)) {
        std::fprintf(stderr, "passage-broker: --max-message-bytes must be 1..%lu, got '%s'\n%s",
                     1UL << 28, v.c_str(), kUsage);
        return 2;
      }
      config.set_max_message_bytes(static_cast<uint32_t>(n));
    } else if (a == "--insecure") {
      insecure_flag = true;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "passage-broker: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (!ops::ConfigureLogFormat(config.log_format())) {
    std::fprintf(stderr, "passage-broker: log_format: '%s' is not a log format (text or json)\n",
                 config.log_format().c_str());
    return 2;
  }
  if (config.data_dir().empty() || config.registry_file().empty()) {
    std::fprintf(stderr, "passage-broker: --data-dir and --registry are required\n%s", kUsage);
    return 2;
  }
  BrokerOptions o;
  o.data_dir = config.data_dir();
  if (!config.listen().empty()) {
    o.listen = config.listen();
  }
  o.insecure = insecure_flag || config.insecure();
  if (config.max_message_bytes() > 0) o.max_message_bytes = static_cast<int>(config.max_message_bytes());
  if (config.group_commit_max_events() > 0) o.group_commit_max_events = static_cast<int>(config.group_commit_max_events());
  if (config.group_commit_max_micros() > 0) o.group_commit_max_micros = static_cast<int>(config.group_commit_max_micros());
  if (config.redelivery_timeout_ms() > 0) o.redelivery_timeout_ms = static_cast<int>(config.redelivery_timeout_ms());
  if (config.max_delivery_attempts() > 0) o.max_delivery_attempts = static_cast<int>(config.max_delivery_attempts());

  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) {
    std::fprintf(stderr, "passage-broker: cannot create %s: %s\n", o.data_dir.c_str(), ec.message().c_str());
    return 1;
  }
  auto reg_text = ReadFile(config.registry_file());
  if (!reg_text.ok()) {
    std::fprintf(stderr, "passage-broker: %s\n", reg_text.status().ToString().c_str());
    return 2;
  }
  Status s = core::ParseConfigText(*reg_text, config.registry_file(), &o.registry);
  if (!s.ok()) {
    std::fprintf(stderr, "passage-broker: %s\n", s.ToString().c_str());
    return 2;
  }
  std::string seed_path = config.signing_key_file().empty() ? o.data_dir + "/signing.key"
                                                            : config.signing_key_file();
  auto seed = LoadOrCreateSeed(seed_path);
  if (!seed.ok()) {
    std::fprintf(stderr, "passage-broker: %s\n", seed.status().ToString().c_str());
    return 1;
  }
  o.signing_seed = *seed;
  if (!o.insecure) {
    std::string key_path = config.secret_key_file().empty() ? o.data_dir + "/broker.key"
                                                            : config.secret_key_file();
    if (!std::filesystem::exists(key_path)) {
      Status w = transport::WriteKeyFile(key_path, transport::GenerateCurveKeyPair());
      if (!w.ok()) {
        std::fprintf(stderr, "passage-broker: %s\n", w.ToString().c_str());
        return 1;
      }
      spdlog::info("created broker CURVE key {}", key_path);
    }
    auto keys = transport::ReadKeyFile(key_path);
    if (!keys.ok() || keys->secret_z85.empty()) {
      std::fprintf(stderr, "passage-broker: %s\n",
                   keys.ok() ? (key_path + " has no secret key").c_str()
                             : keys.status().ToString().c_str());
      return 1;
    }
    o.curve_public_z85 = keys->public_z85;
    o.curve_secret_z85 = keys->secret_z85;
  }
  // The metrics listener first: a port already in use is said before the log is opened.
  ops::MetricsRegistry metrics;
  std::unique_ptr<ops::MetricsServer> metrics_server;
  if (!config.metrics_listen().empty()) {
    auto started = ops::MetricsServer::Start(config.metrics_listen(), &metrics);
    if (!started.ok()) {
      std::fprintf(stderr, "passage-broker: %s\n", started.status().ToString().c_str());
      return 1;
    }
    metrics_server = std::move(started).value();
    metrics_server->SetNotReady("opening the log");
    // The port actually bound (port 0 picks one), for scripts and tests.
    std::ofstream(o.data_dir + "/metrics.port") << metrics_server->port() << "\n";
    spdlog::info("metrics, /healthz and /readyz on port {} ({})", metrics_server->port(),
                 config.metrics_listen());
  }
  o.metrics = &metrics;
  auto broker = Broker::Create(o);
  if (!broker.ok()) {
    std::fprintf(stderr, "passage-broker: %s\n", broker.status().ToString().c_str());
    return 1;
  }
  // The log is open and the socket bound: ready for systemd and for /readyz.
  ops::NotifyReady("serving on " + (*broker)->endpoint());
  if (metrics_server) {
    metrics_server->SetReady();
  }
  g_broker = broker->get();
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction cp {};
  cp.sa_handler = OnCheckpointSignal;
  sigaction(SIGUSR1, &cp, nullptr);  // online backup: DATA_DIR/checkpoints/<time>
  if (!endpoint_file.empty()) {
    std::string tmp = endpoint_file + ".tmp";
    std::ofstream(tmp) << (*broker)->endpoint() << "\n";
    std::filesystem::rename(tmp, endpoint_file, ec);
  }
  Status run = (*broker)->Run();
  ops::NotifyStopping();
  if (metrics_server) {
    metrics_server->SetNotReady("stopping");
  }
  g_broker = nullptr;
  if (!run.ok()) {
    std::fprintf(stderr, "passage-broker: %s\n", run.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace passage::broker
