#include "services/node/webhooks.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "core/codes.h"

namespace passage::node {
namespace {

namespace v1 = passage::v1;

constexpr int64_t kFirstRetryMs = 1'000;
constexpr int64_t kMaxRetryMs = 60'000;
constexpr int kIdlePollMs = 200;
constexpr uint32_t kDefaultTimeoutMs = 10'000;
constexpr uint32_t kMaxTimeoutMs = 120'000;
constexpr size_t kBatch = 64;
constexpr size_t kMinSecretBytes = 32;

const std::set<std::string>& Kinds() {
  static const std::set<std::string> kinds = {"new_referral", "state_change", "due_soon",
                                              "overdue"};
  return kinds;
}

std::string Be64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

std::string QueuePrefix(const std::string& endpoint) { return "wh/q/" + endpoint + "/"; }
std::string NextKey(const std::string& endpoint) { return "wh/next/" + endpoint; }
std::string IdKey(const std::string& id) { return "wh/id/" + id; }

std::string Trimmed(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws) == std::string::npos ? s.size() : s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost";
}

bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > 40) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string WebhookBody(const WebhookNotice& n, uint64_t sequence) {
  const v1::Referral& r = n.referral;
  std::string out = "{\"id\":";
  core::AppendJsonString(&out, n.id);
  out += ",\"sequence\":" + std::to_string(sequence);
  auto field = [&](const char* name, std::string_view value) {
    out += ",\"";
    out += name;
    out += "\":";
    core::AppendJsonString(&out, value);
  };
  field("type", n.type);
  field("case_id", r.case_id());
  if (!r.case_reference().empty()) {
    field("case_reference", r.case_reference());
  } else {
    out += ",\"case_reference\":null";  // not known here yet: a referral just arrived
  }
  field("referral_id", r.referral_id());
  field("from_agency", r.from_agency());
  field("to_agency", r.to_agency());
  field("service", core::ShortEnumName(v1::ServiceType_descriptor(), r.service()));
  field("priority", core::ShortEnumName(v1::Priority_descriptor(), r.priority()));
  field("status", core::ReferralStatusName(r.status()));
  if (r.respond_by_ms() != 0) {
    field("respond_by", core::FormatUtcMs(r.respond_by_ms()));
  } else {
    out += ",\"respond_by\":null";
  }
  field("occurred_at", core::FormatUtcMs(n.occurred_at_ms));
  out += "}";
  return out;
}

std::string WebhookSignature(std::string_view secret, int64_t unix_s, std::string_view body) {
  const std::string t = std::to_string(unix_s);
  std::string signed_text = t + "." + std::string(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac, &len);
  static const char* hex = "0123456789abcdef";
  std::string out = "t=" + t + ",v1=";
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 0xf];
  }
  return out;
}

Result<WebhookUrl> ParseWebhookUrl(std::string_view url) {
  WebhookUrl u;
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("url", "'" + std::string(url) + "' " + why);
  };
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return bad("holds a space or control character");
    }
  }
  std::string_view rest;
  if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    u.tls = false;
    u.port = 80;
    rest = url.substr(7);
  } else {
    return bad("is not an https:// URL");
  }
  const size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (path.find('#') != std::string_view::npos) {
    return bad("has a #fragment, which is never sent");
  }
  if (authority.find('@') != std::string_view::npos) {
    return bad("carries a user name or password; the calls are signed with secret_file instead");
  }
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("has an unclosed [IPv6 address]");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("has something after the [IPv6 address] that is not :PORT");
      port = after.substr(1);
      if (port.empty()) return bad("has an empty port");
    }
  } else {
    const size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return bad("has an empty port");
    }
  }
  if (u.host.empty()) return bad("names no host");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
      return bad("has a port that is not a number from 1 to 65535");
    }
    u.port = std::stoi(std::string(port));
  }
  u.path = path.empty() ? "/" : std::string(path);
  if (u.path[0] == '?') u.path = "/" + u.path;
  if (!u.tls && !IsLoopback(u.host)) {
    return bad("is plain http to another machine: the calls must use https:// (plain http only "
               "to a loopback address, 127.0.0.1, ::1 or localhost)");
  }
  return u;
}

std::vector<WebhookProblem> CheckWebhookEndpoint(const v1::WebhookEndpoint& e,
                                                 std::string* secret) {
  std::vector<WebhookProblem> out;
  if (!ValidName(e.name())) {
    out.push_back({"name", e.name().empty()
                               ? "is required (it names the endpoint's queue, metrics and logs)"
                               : "'" + e.name() +
                                     "' is not a name of 1 to 40 letters, digits, '-' or '_'"});
  }
  if (e.url().empty()) {
    out.push_back({"url", "is required (https://HOST[:PORT]/PATH)"});
  } else if (auto u = ParseWebhookUrl(e.url()); !u.ok()) {
    out.push_back({"url", u.status().message()});
  }
  if (e.secret_file().empty()) {
    out.push_back({"secret_file", "is required: the calls are signed with its secret"});
  } else {
    struct stat st {};
    if (::stat(e.secret_file().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      out.push_back({"secret_file", e.secret_file() + " does not exist or is not a file"});
    } else if ((st.st_mode & 077) != 0) {
      out.push_back({"secret_file", e.secret_file() +
                                        " can be read by other users: make it mode 0600 "
                                        "(chmod 600), owned by the node's OS user"});
    } else {
      std::ifstream in(e.secret_file(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string s = Trimmed(ss.str());
      if (!in) {
        out.push_back({"secret_file", e.secret_file() + " cannot be read"});
      } else if (s.size() < kMinSecretBytes) {
        out.push_back({"secret_file", e.secret_file() + " holds " + std::to_string(s.size()) +
                                          " bytes; a secret needs at least 32 (e.g. openssl "
                                          "rand -hex 32)"});
      } else if (secret != nullptr) {
        *secret = s;
      }
    }
  }
  std::set<std::string> seen;
  for (int i = 0; i < e.events_size(); ++i) {
    const std::string& k = e.events(i);
    if (Kinds().count(k) == 0) {
      out.push_back({"events[" + std::to_string(i) + "]",
                     "'" + k + "' is not a webhook event (new_referral, state_change, due_soon, "
                               "overdue)"});
    } else if (!seen.insert(k).second) {
      out.push_back({"events[" + std::to_string(i) + "]", "'" + k + "' is listed twice"});
    }
  }
  if (!e.ca_file().empty()) {
    struct stat st {};
    if (::stat(e.ca_file().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      out.push_back({"ca_file", e.ca_file() + " does not exist or is not a file"});
    } else {
      std::ifstream in(e.ca_file());
      std::stringstream ss;
      ss << in.rdbuf();
      if (ss.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
        out.push_back({"ca_file", e.ca_file() + " holds no PEM certificate"});
      }
    }
  }
  if (e.timeout_ms() > kMaxTimeoutMs) {
    out.push_back({"timeout_ms", std::to_string(e.timeout_ms()) +
                                     " is more than 120000 (two minutes) for one call"});
  }
  return out;
}

struct Webhooks::Endpoint {
  v1::WebhookEndpoint config;
  WebhookUrl url;
  std::string secret;
  std::set<std::string> kinds;
  uint64_t next_seq = 0;  // the node's thread only
  ops::Gauge* queued = nullptr;
  ops::Counter* failures = nullptr;
  ops::Counter* delivered = nullptr;
  ops::Gauge* success_age = nullptr;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;  // guarded by mu
};

Webhooks::Webhooks(WebhookOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<Webhooks>> Webhooks::Start(WebhookOptions options) {
  auto w = std::unique_ptr<Webhooks>(new Webhooks(std::move(options)));
  std::set<std::string> names;
  auto& m = *w->options_.metrics;
  auto& queued = m.AddGaugeFamily("passage_node_webhook_queued",
                                  "Webhook calls waiting to be delivered, by endpoint.",
                                  {"endpoint"});
  auto& failures = m.AddCounterFamily(
      "passage_node_webhook_failures_total",
      "Webhook calls that failed (no connection, timeout, not 2xx) and will be tried again.",
      {"endpoint"});
  auto& delivered = m.AddCounterFamily("passage_node_webhook_delivered_total",
                                       "Webhook calls answered with 2xx, by endpoint.",
                                       {"endpoint"});
  auto& age = m.AddGaugeFamily(
      "passage_node_webhook_last_success_age_seconds",
      "Seconds since the endpoint last answered 2xx (since the node started, when not yet).",
      {"endpoint"});
  for (size_t i = 0; i < w->options_.endpoints.size(); ++i) {
    const auto& c = w->options_.endpoints[i];
    const std::string at = "webhooks[" + std::to_string(i) + "]";
    auto ep = std::make_unique<Endpoint>();
    auto problems = CheckWebhookEndpoint(c, &ep->secret);
    if (!problems.empty()) {
      return Status::InvalidArgument(at + "." + problems[0].field, problems[0].reason);
    }
    if (!names.insert(c.name()).second) {
      return Status::InvalidArgument(at + ".name", "'" + c.name() + "' names two endpoints");
    }
    ep->config = c;
    ASSIGN_OR_RETURN(ep->url, ParseWebhookUrl(c.url()));
    for (const auto& k : c.events()) ep->kinds.insert(k);
    if (ep->kinds.empty()) ep->kinds = Kinds();
    ASSIGN_OR_RETURN(auto next, w->options_.store->Get(NextKey(c.name())));
    if (next.has_value()) {
      try {
        ep->next_seq = std::stoull(*next);
      } catch (const std::exception&) {
        return Status::Corruption("the webhook queue position " + NextKey(c.name()) +
                                  " does not parse");
      }
    }
    ep->queued = &queued.With({c.name()});
    ep->failures = &failures.With({c.name()});
    ep->delivered = &delivered.With({c.name()});
    ep->success_age = &age.With({c.name()});
    w->endpoints_.push_back(std::move(ep));
  }
  for (auto& ep : w->endpoints_) {
    Endpoint* raw = ep.get();
    ep->thread = std::thread([self = w.get(), raw] { self->Dispatch(raw); });
  }
  return w;
}

Webhooks::~Webhooks() {
  for (auto& ep : endpoints_) {
    {
      std::lock_guard<std::mutex> l(ep->mu);
      ep->stop = true;
    }
    ep->cv.notify_all();
  }
  for (auto& ep : endpoints_) {
    if (ep->thread.joinable()) ep->thread.join();
  }
}

bool Webhooks::Wants(std::string_view type) const {
  for (const auto& ep : endpoints_) {
    if (ep->kinds.count(std::string(type)) != 0) return true;
  }
  return false;
}

bool Webhooks::Queue(const WebhookNotice& n, runtime::StateWrite* w) {
  if (!Wants(n.type)) {
    return false;
  }
  auto seen = options_.store->Get(IdKey(n.id));
  if (!seen.ok() || seen->has_value()) {
    return false;
  }
  w->Put(IdKey(n.id), "");
  for (auto& ep : endpoints_) {
    if (ep->kinds.count(n.type) == 0) continue;
    const uint64_t seq = ++ep->next_seq;
    w->Put(QueuePrefix(ep->config.name()) + Be64(seq), WebhookBody(n, seq));
    w->Put(NextKey(ep->config.name()), std::to_string(seq));
  }
  return true;
}

void Webhooks::Dispatch(Endpoint* ep) {
  const std::string& name = ep->config.name();
  const std::string prefix = QueuePrefix(name);
  const uint32_t timeout_ms = ep->config.timeout_ms() == 0 ? kDefaultTimeoutMs : ep->config.timeout_ms();
  std::unique_ptr<httplib::ClientImpl> client;
  if (ep->url.tls) {
    auto ssl = std::make_unique<httplib::SSLClient>(ep->url.host, ep->url.port);
    ssl->enable_server_certificate_verification(true);
    if (!ep->config.ca_file().empty()) {
      ssl->set_ca_cert_path(ep->config.ca_file().c_str());
    }
    client = std::move(ssl);
  } else {
    client = std::make_unique<httplib::ClientImpl>(ep->url.host, ep->url.port);
  }
  client->set_connection_timeout(timeout_ms / 1000, (timeout_ms % 1000) * 1000);
  client->set_read_timeout(timeout_ms / 1000, (timeout_ms % 1000) * 1000);
  client->set_write_timeout(timeout_ms / 1000, (timeout_ms % 1000) * 1000);
  client->set_keep_alive(false);

  auto last_success = std::chrono::steady_clock::now();
  auto set_age = [&] {
    ep->success_age->Set(std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                       last_success)
                             .count());
  };
  // Waits up to `ms` (updating the age gauge each second); false when stopping.
  auto wait = [&](int64_t ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    std::unique_lock<std::mutex> l(ep->mu);
    while (!ep->stop && std::chrono::steady_clock::now() < until) {
      ep->cv.wait_until(l, std::min(until, std::chrono::steady_clock::now() +
                                               std::chrono::seconds(1)));
      set_age();
    }
    return !ep->stop;
  };
  auto stopping = [&] {
    std::lock_guard<std::mutex> l(ep->mu);
    return ep->stop;
  };

  int64_t backoff_ms = 0;
  uint64_t failed_in_row = 0;
  while (!stopping()) {
    std::vector<std::pair<std::string, std::string>> batch;
    size_t depth = 0;
    Status scanned = options_.store->Scan(prefix, [&](std::string_view k, std::string_view v) {
      ++depth;
      if (batch.size() < kBatch) batch.emplace_back(std::string(k), std::string(v));
      return true;
    });
    ep->queued->Set(static_cast<double>(depth));
    set_age();
    if (!scanned.ok()) {
      spdlog::error("{}: webhook {}: reading its queue: {}", options_.agency, name,
                    scanned.ToString());
      if (!wait(kMaxRetryMs)) break;
      continue;
    }
    if (batch.empty()) {
      if (!wait(kIdlePollMs)) break;
      continue;
    }
    for (const auto& [key, body] : batch) {
      if (stopping()) break;
      httplib::Headers headers = {
          {"Passage-Signature", WebhookSignature(ep->secret, UnixMs() / 1000, body)},
          {"User-Agent", "passage-node"}};
      auto res = client->Post(ep->url.path.c_str(), headers, body, "application/json");
      std::string why;
      if (!res) {
        why = httplib::to_string(res.error());
        if (ep->url.tls && res.error() == httplib::Error::SSLServerVerification) {
          why += " (its certificate is not trusted: set ca_file to the CA or certificate)";
        }
      } else if (res->status < 200 || res->status > 299) {
        why = "answered HTTP " + std::to_string(res->status);
      }
      if (!why.empty()) {
        ep->failures->Add();
        if (failed_in_row++ == 0) {
          spdlog::warn("{}: webhook {} failed: {}; {} call(s) wait and are tried again with "
                       "backoff (at most 60 s apart)",
                       options_.agency, name, why, depth);
        }
        backoff_ms = backoff_ms == 0 ? kFirstRetryMs : std::min(backoff_ms * 2, kMaxRetryMs);
        break;
      }
      runtime::StateWrite done;
      done.Delete(key);
      if (Status s = options_.store->Write(done); !s.ok()) {
        // Sent but still queued: sent again later, and the receiver dedupes on the id.
        spdlog::error("{}: webhook {}: removing a delivered call: {}", options_.agency, name,
                      s.ToString());
        backoff_ms = kMaxRetryMs;
        break;
      }
      ep->delivered->Add();
      last_success = std::chrono::steady_clock::now();
      ep->queued->Set(static_cast<double>(--depth));
      if (failed_in_row > 0) {
        spdlog::info("{}: webhook {} delivers again after {} failed attempt(s)", options_.agency,
                     name, failed_in_row);
        failed_in_row = 0;
      }
      backoff_ms = 0;
    }
    if (backoff_ms > 0 && !wait(backoff_ms)) break;
  }
}

}  // namespace passage::node
