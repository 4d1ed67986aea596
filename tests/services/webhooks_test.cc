// The node's webhook queue and dispatcher (services/node/webhooks.h) over a real LocalStore and a
// real HTTP server on loopback: the signature a receiver checks, the body's fields, the URL rules,
// one call per fact, order and retry after a failure, and the queue resumed after a restart.

#include "services/node/webhooks.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>

#include "tests/testing/temp_dir.h"

namespace passage::node {
namespace {

namespace v1 = passage::v1;

TEST(WebhookSignature, IsHmacSha256OfTimestampDotBodyInHex) {
  // Computed independently: hmac.new(b"k"*32, b'1700000000.{"a":1}', sha256).hexdigest().
  EXPECT_EQ(WebhookSignature(std::string(32, 'k'), 1700000000, "{\"a\":1}"),
            "t=1700000000,v1=6935b796c0fec66e5dee52c86c7fd1218a424c32f1adb239ff2893c31e54f033");
}

WebhookNotice Notice(const std::string& type, const std::string& id, v1::ReferralStatus status) {
  WebhookNotice n;
  n.type = type;
  n.id = id;
  n.occurred_at_ms = 1'780'000'000'000;
  n.referral.set_referral_id("r-1");
  n.referral.set_case_id("c-1");
  n.referral.set_case_reference("FK-26-00001-3");
  n.referral.set_from_agency("fia");
  n.referral.set_to_agency("shelter");
  n.referral.set_service(v1::SERVICE_TYPE_SHELTER);
  n.referral.set_priority(v1::PRIORITY_URGENT);
  n.referral.set_status(status);
  n.referral.set_reason("womens-shelter");
  n.referral.set_status_note("the victim's sister called");  // free text: never in a body
  return n;
}

TEST(WebhookBody, CarriesIdsCodesAndTimesOnly) {
  const std::string body = WebhookBody(Notice("state_change", "id-1", v1::REFERRAL_STATUS_ACCEPTED), 7);
  EXPECT_EQ(body,
            "{\"id\":\"id-1\",\"sequence\":7,\"type\":\"state_change\",\"case_id\":\"c-1\","
            "\"case_reference\":\"FK-26-00001-3\",\"referral_id\":\"r-1\",\"from_agency\":\"fia\","
            "\"to_agency\":\"shelter\",\"service\":\"SHELTER\",\"priority\":\"URGENT\","
            "\"status\":\"ACCEPTED\",\"respond_by\":null,\"occurred_at\":\"2026-05-28T20:26:40Z\"}");
}

TEST(WebhookUrl, HttpsAlwaysPlainHttpOnlyOnLoopback) {
  auto u = ParseWebhookUrl("https://cases.example.org:8443/hooks?x=1");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "cases.example.org");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->path, "/hooks?x=1");
  EXPECT_EQ(ParseWebhookUrl("https://[::1]/h")->host, "::1");
  EXPECT_TRUE(ParseWebhookUrl("http://127.0.0.1:9000/h").ok());
  EXPECT_FALSE(ParseWebhookUrl("http://10.0.0.5/h").ok());
  EXPECT_NE(ParseWebhookUrl("http://10.0.0.5/h").status().message().find("https://"),
            std::string::npos);
  EXPECT_FALSE(ParseWebhookUrl("ftp://x/").ok());
  EXPECT_FALSE(ParseWebhookUrl("https://user:pw@x/").ok());
  EXPECT_FALSE(ParseWebhookUrl("https://x:99999/").ok());
  EXPECT_FALSE(ParseWebhookUrl("https:///path").ok());
  EXPECT_FALSE(ParseWebhookUrl("https://x/a b").ok());
}

TEST(WebhookEndpoint, ASecretOthersCanReadIsRefused) {
  testing::TempDir dir;
  const std::string secret = dir.Sub("s");
  std::ofstream(secret) << std::string(64, 'a') << "\n";
  ::chmod(secret.c_str(), 0644);
  v1::WebhookEndpoint e;
  e.set_name("x");
  e.set_url("https://x.example/");
  e.set_secret_file(secret);
  auto p = CheckWebhookEndpoint(e);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].field, "secret_file");
  ::chmod(secret.c_str(), 0600);
  std::string read;
  EXPECT_TRUE(CheckWebhookEndpoint(e, &read).empty());
  EXPECT_EQ(read, std::string(64, 'a'));
  std::ofstream(secret) << "short\n";
  EXPECT_EQ(CheckWebhookEndpoint(e).size(), 1u);
}

// A receiver on loopback that refuses the first `fail_first` calls with 503.
class Receiver {
 public:
  explicit Receiver(int fail_first) : fail_first_(fail_first) {
    server_.Post("/hooks", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mu_);
      if (fail_first_ > 0) {
        --fail_first_;
        res.status = 503;
        return;
      }
      bodies_.push_back(req.body);
      signatures_.push_back(req.get_header_value("Passage-Signature"));
      res.status = 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> l(mu_);
    return bodies_;
  }
  std::vector<std::string> signatures() {
    std::lock_guard<std::mutex> l(mu_);
    return signatures_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  int fail_first_;
  std::vector<std::string> bodies_, signatures_;
};

bool WaitFor(const std::function<bool()>& f, int ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!f()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

TEST(Webhooks, QueuedCallsArriveOnceInOrderAfterAFailureAndAcrossARestart) {
  testing::TempDir dir;
  const std::string secret = dir.Sub("secret");
  std::ofstream(secret) << std::string(40, 's') << "\n";
  ::chmod(secret.c_str(), 0600);
  auto store = runtime::LocalStore::Open(dir.Sub("store"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Receiver rx(/*fail_first=*/1);
  v1::WebhookEndpoint e;
  e.set_name("cases");
  e.set_url("http://127.0.0.1:" + std::to_string(rx.port()) + "/hooks");
  e.set_secret_file(secret);
  e.add_events("state_change");
  e.set_timeout_ms(2000);
  ops::MetricsRegistry metrics, metrics_after;
  WebhookOptions o;
  o.endpoints = {e};
  o.store = store->get();
  o.metrics = &metrics;
  o.agency = "shelter";
  {
    auto hooks = Webhooks::Start(o);
    ASSERT_TRUE(hooks.ok()) << hooks.status().ToString();
    runtime::StateWrite w;
    EXPECT_TRUE((*hooks)->Queue(Notice("state_change", "a", v1::REFERRAL_STATUS_RECEIVED), &w));
    EXPECT_TRUE((*hooks)->Queue(Notice("state_change", "b", v1::REFERRAL_STATUS_ACCEPTED), &w));
    // Not a kind this endpoint takes.
    EXPECT_FALSE((*hooks)->Queue(Notice("due_soon", "c", v1::REFERRAL_STATUS_RECEIVED), &w));
    ASSERT_TRUE((*store)->Write(w).ok());
    // The same fact again (the journal read again): not queued twice.
    runtime::StateWrite again;
    EXPECT_FALSE((*hooks)->Queue(Notice("state_change", "a", v1::REFERRAL_STATUS_RECEIVED), &again));
    ASSERT_TRUE(WaitFor([&] { return rx.bodies().size() == 2; }, 10000));
  }
  const std::string page = metrics.Render();
  EXPECT_NE(page.find("passage_node_webhook_failures_total{endpoint=\"cases\"} 1"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("passage_node_webhook_delivered_total{endpoint=\"cases\"} 2"),
            std::string::npos)
      << page;
  // A new process on the same store: the sequence goes on, nothing is sent again.
  o.metrics = &metrics_after;
  auto hooks = Webhooks::Start(o);
  ASSERT_TRUE(hooks.ok());
  runtime::StateWrite w;
  EXPECT_TRUE((*hooks)->Queue(Notice("state_change", "d", v1::REFERRAL_STATUS_IN_PROGRESS), &w));
  ASSERT_TRUE((*store)->Write(w).ok());
  ASSERT_TRUE(WaitFor([&] { return rx.bodies().size() == 3; }, 10000));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto bodies = rx.bodies();
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_NE(bodies[0].find("\"id\":\"a\",\"sequence\":1,"), std::string::npos) << bodies[0];
  EXPECT_NE(bodies[1].find("\"id\":\"b\",\"sequence\":2,"), std::string::npos) << bodies[1];
  EXPECT_NE(bodies[2].find("\"id\":\"d\",\"sequence\":3,"), std::string::npos) << bodies[2];
  for (size_t i = 0; i < bodies.size(); ++i) {
    EXPECT_EQ(bodies[i].find("sister"), std::string::npos);
    const std::string sig = rx.signatures()[i];
    const std::string t = sig.substr(2, sig.find(',') - 2);
    EXPECT_EQ(sig, WebhookSignature(std::string(40, 's'), std::stoll(t), bodies[i]));
  }
  EXPECT_NE(metrics_after.Render().find("passage_node_webhook_queued{endpoint=\"cases\"} 0"),
            std::string::npos);
}

}  // namespace
}  // namespace passage::node
