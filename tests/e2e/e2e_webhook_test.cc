// Webhooks (issue 15, part 5): the agency's own case system hears of every new referral and every
// state change, signed, once, in order per case — across an outage of the receiving endpoint, a
// node killed with calls still queued, and an endpoint too slow to answer in time, over the real
// broker, router and agency nodes and a real HTTPS receiver (webhook_receiver.py, a Python 3
// standard-library server with a self-signed certificate made here with openssl).
//
// PASSAGE_WEBHOOK_OUTAGE_S sets how long the receiver stays down in the outage test (default 600,
// the ten minutes; shorten it while iterating).

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <set>

#include "core/codes.h"
#include "tests/e2e/nrm_harness.h"

namespace passage::e2e {
namespace {

constexpr const char* kVictimName = "Zarmeena";
constexpr const char* kVictimFamily = "Qureshi";

// One call as the receiver recorded it.
struct Call {
  std::string path;
  bool valid = false;
  std::string why;
  std::string body;
  std::string id, type, case_id, case_reference, referral_id, status;
  uint64_t sequence = 0;
};

std::string Str(const google::protobuf::Struct& s, const std::string& k) {
  auto it = s.fields().find(k);
  return it == s.fields().end() ? "" : it->second.string_value();
}

std::vector<Call> ReadCalls(const std::string& file) {
  std::vector<Call> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    google::protobuf::Struct rec, body;
    if (!google::protobuf::util::JsonStringToMessage(line, &rec).ok()) continue;
    Call c;
    c.path = Str(rec, "path");
    c.valid = rec.fields().at("valid").bool_value();
    c.why = Str(rec, "why");
    c.body = Str(rec, "body");
    if (google::protobuf::util::JsonStringToMessage(c.body, &body).ok()) {
      c.id = Str(body, "id");
      c.type = Str(body, "type");
      c.case_id = Str(body, "case_id");
      c.case_reference = Str(body, "case_reference");
      c.referral_id = Str(body, "referral_id");
      c.status = Str(body, "status");
      auto seq = body.fields().find("sequence");
      if (seq != body.fields().end()) c.sequence = static_cast<uint64_t>(seq->second.number_value());
    }
    out.push_back(std::move(c));
  }
  return out;
}

double Metric(int port, const std::string& series) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2);
  c.set_read_timeout(5);
  auto r = c.Get("/metrics");
  if (!r) return std::nan("");
  std::istringstream in(r->body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nan("");
}

// The HTTPS receiver: a certificate for 127.0.0.1, a secret, and the process, stoppable and
// restartable on the same port.
class Receiver {
 public:
  explicit Receiver(const std::string& dir) : dir_(dir) {
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
        key() + " -out " + cert() + " >/dev/null 2>&1";
    ok_ = std::system(cmd.c_str()) == 0;
    std::ofstream(secret()) << "0f9a6c1e5b2d48a7c3e1f0b9d8a7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9\n";
    ::chmod(secret().c_str(), 0600);
  }
  ~Receiver() { Stop(); }

  bool ok() const { return ok_; }
  std::string cert() const { return dir_ + "/receiver-cert.pem"; }
  std::string key() const { return dir_ + "/receiver-key.pem"; }
  std::string secret() const { return dir_ + "/webhook.secret"; }
  std::string record() const { return dir_ + "/calls.jsonl"; }
  int port() const { return port_; }

  // Starts it (on the port of the first start, when it ran before); waits until it listens.
  ::testing::AssertionResult Start(double delay_s = 0) {
    const std::string port_file = dir_ + "/receiver.port";
    std::filesystem::remove(port_file);
    std::vector<std::string> argv = {"python3", std::string(PASSAGE_SOURCE_DIR) +
                                                    "/tests/e2e/webhook_receiver.py",
                                     "--port", std::to_string(port_), "--port-file", port_file,
                                     "--cert", cert(), "--key", key(), "--secret-file", secret(),
                                     "--record", record(), "--delay-s", std::to_string(delay_s)};
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execvp("python3", args.data());
      _exit(127);
    }
    auto r = WaitUntil("the webhook receiver to listen", [&] {
      std::ifstream in(port_file);
      int p = 0;
      return static_cast<bool>(in >> p) && p > 0 && (port_ = p) > 0;
    });
    return r;
  }

  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int st = 0;
      waitpid(pid_, &st, 0);
      pid_ = -1;
    }
  }

  // The endpoint a node is configured with.
  v1::WebhookEndpoint Endpoint(const std::string& name, uint32_t timeout_ms = 5000) const {
    v1::WebhookEndpoint e;
    e.set_name(name);
    e.set_url("https://127.0.0.1:" + std::to_string(port_) + "/hooks/" + name);
    e.set_secret_file(secret());
    e.set_ca_file(cert());
    e.set_timeout_ms(timeout_ms);
    return e;
  }

  std::vector<Call> Calls() const { return ReadCalls(record()); }

 private:
  std::string dir_;
  bool ok_ = false;
  pid_t pid_ = -1;
  int port_ = 0;
};

std::vector<AgencySpec> Agencies() {
  return {FirstResponder("fia-karachi"),
          Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER})};
}

v1::IntakeRequest Victim() {
  v1::IntakeRequest in = AdultWomanSexuallyExploited();
  in.mutable_personal()->set_given_name(kVictimName);
  in.mutable_personal()->set_family_name(kVictimFamily);
  return in;
}

// What each endpoint must have heard, from the referrals' histories at the sender: the sender
// (path /hooks/fia) a state_change per status, SENT first; the recipient (/hooks/shelter) a
// new_referral, then a state_change per status after SENT. Keys "path referral" -> "type:STATUS".
std::map<std::string, std::vector<std::string>> Expected(Nrm& nrm, size_t* referrals) {
  std::map<std::string, std::vector<std::string>> out;
  *referrals = 0;
  for (const auto& cs : nrm.Cases("fia-karachi")) {
    for (const auto& r : cs.referrals()) {
      ++*referrals;
      auto& fia = out["/hooks/fia " + r.referral_id()];
      auto& shelter = out["/hooks/shelter " + r.referral_id()];
      shelter.push_back("new_referral:SENT");
      for (const auto& h : r.history()) {
        const std::string s = core::ReferralStatusName(h.to());
        fia.push_back("state_change:" + s);
        if (h.to() != v1::REFERRAL_STATUS_SENT) shelter.push_back("state_change:" + s);
      }
    }
  }
  return out;
}

std::map<std::string, std::vector<std::string>> Heard(const std::vector<Call>& calls) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& c : calls) {
    if (c.valid) out[c.path + " " + c.referral_id].push_back(c.type + ":" + c.status);
  }
  return out;
}

std::string Show(const std::map<std::string, std::vector<std::string>>& m) {
  std::string s;
  for (const auto& [k, v] : m) {
    s += "\n  " + k + ":";
    for (const auto& x : v) s += " " + x;
  }
  return s;
}

// Every call valid, each id once, sequences rising per endpoint in the order they arrived, no
// personal data in any body, and what was heard is what happened.
void CheckDelivery(Nrm& nrm, const Receiver& rx) {
  size_t referrals = 0;
  const auto expected = Expected(nrm, &referrals);
  const auto calls = rx.Calls();
  std::map<std::string, int> ids;
  std::map<std::string, uint64_t> last_seq;
  for (const auto& c : calls) {
    EXPECT_TRUE(c.valid) << "a call failed the receiver's check (" << c.why << "): " << c.body;
    ++ids[c.id];
    EXPECT_GT(c.sequence, last_seq[c.path]) << "out of order at " << c.path << ": " << c.body;
    last_seq[c.path] = c.sequence;
    EXPECT_EQ(c.body.find(kVictimName), std::string::npos) << "a name in a webhook: " << c.body;
    EXPECT_EQ(c.body.find(kVictimFamily), std::string::npos) << "a name in a webhook: " << c.body;
    // The recipient may not know the case's reference when the referral arrives.
    if (c.type != "new_referral") EXPECT_FALSE(c.case_reference.empty()) << c.body;
  }
  for (const auto& [id, n] : ids) {
    EXPECT_EQ(n, 1) << "call " << id << " delivered " << n << " times";
  }
  EXPECT_EQ(Heard(calls), expected) << "heard:" << Show(Heard(calls)) << "\nexpected:" << Show(expected);
}

::testing::AssertionResult WaitAllHeard(Nrm& nrm, const Receiver& rx, int timeout_ms) {
  return WaitUntil(
      "every webhook call to arrive",
      [&] {
        size_t referrals = 0;
        return Heard(rx.Calls()) == Expected(nrm, &referrals);
      },
      timeout_ms,
      [&] {
        size_t referrals = 0;
        return "heard:" + Show(Heard(rx.Calls())) + "\nexpected:" + Show(Expected(nrm, &referrals));
      },
      500);
}

// Every referral of the NRM accepted (the shelter accepts by policy).
::testing::AssertionResult WaitAllAccepted(Nrm& nrm, size_t cases) {
  return WaitUntil("every referral accepted", [&] {
    size_t accepted = 0;
    for (const auto& cs : nrm.Cases("fia-karachi")) {
      for (const auto& r : cs.referrals()) {
        accepted += r.status() == v1::REFERRAL_STATUS_ACCEPTED ? 1 : 0;
      }
    }
    return accepted == cases;
  });
}

int OutageSeconds() {
  const char* v = std::getenv("PASSAGE_WEBHOOK_OUTAGE_S");
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 600;
}

TEST(E2eWebhook, EveryCallArrivesOnceInOrderAcrossAnOutageOfTheEndpoint) {
  testing::TempDir dir;
  Receiver rx(dir.path());
  ASSERT_TRUE(rx.ok()) << "openssl could not make a certificate";
  ASSERT_TRUE(rx.Start());
  NrmOptions o;
  o.metrics = true;
  o.webhooks["fia-karachi"] = {rx.Endpoint("fia")};
  o.webhooks["shelter-a"] = {rx.Endpoint("shelter")};
  Nrm nrm(Agencies(), WomenToShelterRules(), o);
  ASSERT_TRUE(nrm.Start());

  // Before the outage: one case, heard at once.
  ASSERT_TRUE(nrm.Intake("fia-karachi", Victim()).ok());
  ASSERT_TRUE(WaitAllAccepted(nrm, 1));
  ASSERT_TRUE(WaitAllHeard(nrm, rx, kWaitMs));

  // The receiver is down while referrals keep coming.
  rx.Stop();
  const int outage_s = OutageSeconds();
  const int every_s = std::clamp(outage_s / 20, 2, 30);
  const auto begin = Clock::now();
  auto last = begin - std::chrono::hours(1);
  size_t cases = 1;
  while (Clock::now() - begin < std::chrono::seconds(outage_s) || cases < 4) {
    if (Clock::now() - last >= std::chrono::seconds(every_s)) {
      last = Clock::now();
      auto c = nrm.Intake("fia-karachi", Victim());
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      ++cases;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_TRUE(WaitAllAccepted(nrm, cases));
  // The calls wait in the queues, counted, with the failures.
  const int fia_metrics = nrm.MetricsPort("fia-karachi");
  const int shelter_metrics = nrm.MetricsPort("shelter-a");
  ASSERT_TRUE(WaitUntil("the queues to hold the outage's calls", [&] {
    return Metric(fia_metrics, "passage_node_webhook_queued{endpoint=\"fia\"}") >= 3 * (cases - 1) &&
           Metric(shelter_metrics, "passage_node_webhook_queued{endpoint=\"shelter\"}") >=
               3 * (cases - 1);
  }));
  EXPECT_GE(Metric(shelter_metrics, "passage_node_webhook_failures_total{endpoint=\"shelter\"}"), 1);
  EXPECT_GE(Metric(shelter_metrics,
                   "passage_node_webhook_last_success_age_seconds{endpoint=\"shelter\"}"),
            outage_s - 5);

  // Back: everything arrives within the backoff's cap (60 s) and the drain.
  ASSERT_TRUE(rx.Start());
  ASSERT_TRUE(WaitAllHeard(nrm, rx, 120000));
  ASSERT_TRUE(WaitUntil("the queues to empty", [&] {
    return Metric(fia_metrics, "passage_node_webhook_queued{endpoint=\"fia\"}") == 0 &&
           Metric(shelter_metrics, "passage_node_webhook_queued{endpoint=\"shelter\"}") == 0;
  }));
  std::this_thread::sleep_for(std::chrono::seconds(2));  // nothing more comes
  CheckDelivery(nrm, rx);
}

TEST(E2eWebhook, ANodeKilledWithCallsQueuedLosesNoneOfThem) {
  testing::TempDir dir;
  Receiver rx(dir.path());
  ASSERT_TRUE(rx.ok()) << "openssl could not make a certificate";
  ASSERT_TRUE(rx.Start());  // to learn a port, then down
  rx.Stop();
  NrmOptions o;
  o.metrics = true;
  o.webhooks["fia-karachi"] = {rx.Endpoint("fia")};
  o.webhooks["shelter-a"] = {rx.Endpoint("shelter")};
  Nrm nrm(Agencies(), WomenToShelterRules(), o);
  ASSERT_TRUE(nrm.Start());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(nrm.Intake("fia-karachi", Victim()).ok());
  }
  ASSERT_TRUE(WaitAllAccepted(nrm, 3));
  ASSERT_TRUE(WaitUntil("the calls to be queued", [&] {
    return Metric(nrm.MetricsPort("fia-karachi"), "passage_node_webhook_queued{endpoint=\"fia\"}") >= 9 &&
           Metric(nrm.MetricsPort("shelter-a"),
                  "passage_node_webhook_queued{endpoint=\"shelter\"}") >= 9;
  }));
  nrm.KillNode("shelter-a");
  nrm.KillNode("fia-karachi");
  ASSERT_TRUE(rx.Start());
  ASSERT_TRUE(nrm.StartNode("fia-karachi"));
  ASSERT_TRUE(nrm.StartNode("shelter-a"));
  ASSERT_TRUE(WaitAllHeard(nrm, rx, 60000));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  CheckDelivery(nrm, rx);
}

TEST(E2eWebhook, ASlowEndpointDoesNotStallTheNode) {
  testing::TempDir dir;
  Receiver rx(dir.path());
  ASSERT_TRUE(rx.ok()) << "openssl could not make a certificate";
  ASSERT_TRUE(rx.Start(/*delay_s=*/5));
  NrmOptions o;
  o.metrics = true;
  o.webhooks["shelter-a"] = {rx.Endpoint("shelter", /*timeout_ms=*/1000)};
  Nrm nrm(Agencies(), WomenToShelterRules(), o);
  ASSERT_TRUE(nrm.Start());
  auto c = nrm.Intake("fia-karachi", Victim());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  // The shelter accepts by policy, possibly before the router's view shows RECEIVED.
  ASSERT_TRUE(WaitAllAccepted(nrm, 1));
  const int port = nrm.MetricsPort("shelter-a");
  ASSERT_TRUE(WaitUntil("a call to time out", [&] {
    return Metric(port, "passage_node_webhook_failures_total{endpoint=\"shelter\"}") >= 2;
  }));
  // While its calls time out again and again, the node answers at once and keeps working.
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    auto st = nrm.NodeStatusOf("shelter-a", 3000);
    ASSERT_TRUE(st.has_value()) << "passagectl status got no answer";
    EXPECT_TRUE(st->connected);
    EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(1500));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  auto c2 = nrm.Intake("fia-karachi", Victim());
  ASSERT_TRUE(c2.ok());
  ASSERT_TRUE(WaitAllAccepted(nrm, 2));
  EXPECT_GE(Metric(port, "passage_node_webhook_queued{endpoint=\"shelter\"}"), 3);
}

}  // namespace
}  // namespace passage::e2e
