// What an operator sees of a running NRM (issue 12): the metrics, health and readiness of the
// broker and every node, as Prometheus and Kubernetes read them, and a routing rule no agency can
// receive reported and skipped while every other rule keeps routing.

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <regex>

#include "tests/e2e/nrm_harness.h"

namespace passage::e2e {
namespace {

// The value of one series ("name" or "name{label=\"v\"}") in a Prometheus text page; NaN when the
// series is not there.
double Metric(const std::string& page, const std::string& series) {
  std::istringstream in(page);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nan("");
}

std::string Get(int port, const std::string& path, int* status = nullptr) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2);
  c.set_read_timeout(5);
  auto r = c.Get(path);
  if (status != nullptr) {
    *status = r ? r->status : -1;
  }
  return r ? r->body : "";
}

// promtool (Debian's prometheus package) accepts the page: exit status and what it said.
std::pair<int, std::string> Promtool(const std::string& page) {
  testing::TempDir dir;
  const std::string file = dir.path() + "/page.txt";
  std::ofstream(file) << page;
  const std::string cmd = "promtool check metrics < " + file + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p != nullptr && std::fgets(buf, sizeof buf, p) != nullptr) {
    out += buf;
  }
  const int rc = p == nullptr ? -1 : ::pclose(p);
  return {rc, out};
}

bool HavePromtool() { return std::system("command -v promtool > /dev/null 2>&1") == 0; }

TEST(E2eOps, MetricsHealthReadinessAndABrokenRuleThatDoesNotStopRouting) {
  v1::RuleSet rules = WomenToShelterRules();
  // Legal aid, but no legal-aid agency is registered: the rule cannot be used.
  *rules.add_rules() = Rule("legal-aid-for-everyone", v1::SERVICE_TYPE_LEGAL_AID,
                            v1::PRIORITY_ROUTINE, 3600, {v1::AGENCY_TYPE_LEGAL_AID});
  NrmOptions o;
  o.metrics = true;
  Nrm nrm({FirstResponder("fia-karachi"),
           Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER}, 0,
                      /*auto_accept=*/false)},
          rules, o);
  ASSERT_TRUE(nrm.Start());

  // The other rule still routes.
  auto c = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::string referral;
  ASSERT_TRUE(nrm.WaitReceived(*c, "shelter-a", &referral));

  // The operator is told which rule is skipped and why: passagectl status and the metrics.
  v1::ControlRequest status;
  status.mutable_status();
  auto st = nrm.Call(kRouterId, status);
  ASSERT_TRUE(st.ok());
  EXPECT_NE(st->text().find("PROBLEM     rule 'legal-aid-for-everyone' is skipped"),
            std::string::npos)
      << st->text();
  EXPECT_NE(st->text().find("LEGAL_AID"), std::string::npos) << st->text();
  const int router_port = nrm.MetricsPort(kRouterId);
  ASSERT_GT(router_port, 0);
  const std::string router_page = Get(router_port, "/metrics");
  EXPECT_EQ(Metric(router_page, "passage_router_rules_in_use"), 1);
  EXPECT_EQ(Metric(router_page, "passage_router_rules_broken"), 1);
  EXPECT_EQ(Metric(router_page, "passage_router_rule_broken{rule=\"legal-aid-for-everyone\"}"), 1);
  // Said once, not at every tick.
  EXPECT_EQ(nrm.Log(kRouterId).find("legal-aid-for-everyone' cannot be used"),
            nrm.Log(kRouterId).rfind("legal-aid-for-everyone' cannot be used"));

  // The broker: counts that agree with what happened, per-agency connection and lag.
  const int broker_port = nrm.MetricsPort("broker");
  ASSERT_GT(broker_port, 0);
  std::string broker_page;
  // The gauges follow once a second; the counters at once.
  ASSERT_TRUE(WaitUntil("the broker's gauges to catch up with its counters", [&] {
    broker_page = Get(broker_port, "/metrics");
    return Metric(broker_page, "passage_broker_connected_agencies") == 3 &&
           Metric(broker_page, "passage_broker_log_last_seq") >=
               Metric(broker_page, "passage_broker_events_appended_total");
  }));
  EXPECT_EQ(Metric(broker_page, "passage_broker_agency_connected{agency=\"shelter-a\"}"), 1);
  EXPECT_GE(Metric(broker_page, "passage_broker_events_appended_total"), 2);  // case + referral
  EXPECT_LE(Metric(broker_page, "passage_broker_events_appended_total"),
            Metric(broker_page, "passage_broker_log_last_seq"));
  EXPECT_GE(Metric(broker_page, "passage_broker_publish_acks_total"), 2);
  EXPECT_EQ(Metric(broker_page, "passage_broker_publish_to_ack_seconds_count"),
            Metric(broker_page, "passage_broker_publish_acks_total"));
  EXPECT_GE(Metric(broker_page, "passage_broker_log_write_seconds_count"), 1);
  EXPECT_FALSE(std::isnan(Metric(broker_page, "passage_broker_delivery_lag_events{agency=\"shelter-a\"}")));

  // A node: connected, and its desk counts those of its inbox.
  const int shelter_port = nrm.MetricsPort("shelter-a");
  ASSERT_GT(shelter_port, 0);
  std::string shelter_page;
  ASSERT_TRUE(WaitUntil("the shelter's desk gauges", [&] {
    shelter_page = Get(shelter_port, "/metrics");
    return Metric(shelter_page, "passage_node_referrals_unanswered") == 1;
  }));
  EXPECT_EQ(Metric(shelter_page, "passage_node_connected"), 1);
  EXPECT_EQ(Metric(shelter_page, "passage_node_referrals_open"), 1);
  EXPECT_EQ(Metric(shelter_page, "passage_node_referrals_overdue"), 0);
  EXPECT_GE(Metric(shelter_page, "passage_node_events_received_total"), 1);
  // Nothing personal in any page: no name, no case id, no reference.
  for (const std::string* page : std::vector<const std::string*>{&broker_page, &shelter_page, &router_page}) {
    EXPECT_EQ(page->find(*c), std::string::npos);
    EXPECT_EQ(page->find(AdultWomanSexuallyExploited().personal().given_name()),
              std::string::npos);
  }

  // Prometheus's own checker accepts every page.
  if (HavePromtool()) {
    for (const auto& [who, page] : {std::pair{"broker", broker_page},
                                    std::pair{"shelter", shelter_page},
                                    std::pair{"router", router_page}}) {
      auto [rc, said] = Promtool(page);
      EXPECT_EQ(rc, 0) << who << ": promtool check metrics: " << said;
    }
  } else {
    ADD_FAILURE() << "promtool is missing (scripts/install-deps.sh installs it from Debian's "
                     "prometheus package)";
  }

  // Health and readiness as a probe reads them.
  int code = 0;
  EXPECT_EQ(Get(broker_port, "/healthz", &code), "ok\n");
  EXPECT_EQ(code, 200);
  Get(broker_port, "/readyz", &code);
  EXPECT_EQ(code, 200);
  Get(shelter_port, "/readyz", &code);
  EXPECT_EQ(code, 200);
  Get(shelter_port, "/nothing-here", &code);
  EXPECT_EQ(code, 404);

  // The broker goes away: the node stays alive (healthz) but is not ready, and says why.
  nrm.StopNode("broker");
  std::string why;
  ASSERT_TRUE(WaitUntil("the shelter to say it is not ready", [&] {
    why = Get(shelter_port, "/readyz", &code);
    return code == 503;
  }));
  EXPECT_NE(why.find("not connected to the broker at tcp://127.0.0.1:"), std::string::npos) << why;
  Get(shelter_port, "/healthz", &code);
  EXPECT_EQ(code, 200);
  EXPECT_EQ(Metric(Get(shelter_port, "/metrics"), "passage_node_connected"), 0);
}

// A node whose key pair is not the one the registry lists: the broker refuses it, and the node
// says so (passagectl status, /readyz) instead of only "not connected".
TEST(E2eOps, ANodeSaysTheBrokerRefusedItsKey) {
  NrmOptions o;
  o.metrics = true;
  Nrm nrm({FirstResponder("fia-karachi"),
           Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER})},
          WomenToShelterRules(), o);
  ASSERT_TRUE(nrm.Start());
  nrm.StopNode("shelter-a");
  // A new key pair the registry does not know.
  ASSERT_TRUE(transport::WriteKeyFile(nrm.dir() + "/keys/shelter-a.curve",
                                      transport::GenerateCurveKeyPair())
                  .ok());
  ASSERT_TRUE(nrm.Launch("shelter-a"));
  v1::ControlRequest status;
  status.mutable_status();
  std::string text;
  ASSERT_TRUE(WaitUntil("the shelter to say why it is not connected", [&] {
    auto st = nrm.Call("shelter-a", status, 2000);
    text = st.ok() ? st->text() : "";
    return text.find("refused this agency's key") != std::string::npos;
  })) << text;
  EXPECT_NE(text.find("not connected at tcp://127.0.0.1:"), std::string::npos) << text;
  EXPECT_NE(text.find("transport_public_key for shelter-a"), std::string::npos) << text;
  int code = 0;
  const std::string why = Get(nrm.MetricsPort("shelter-a"), "/readyz", &code);
  EXPECT_EQ(code, 503);
  EXPECT_NE(why.find("refused this agency's key"), std::string::npos) << why;
}

// The NRM's admin registers an agency, replaces a key and revokes an agency on the running broker
// (passagectl admin agency, the broker's admin socket): each takes effect at once, without a
// restart, is recorded in the log, and is still in force after the broker restarts.
TEST(E2eOps, TheRegistryChangesLiveThroughTheBrokerAdminSocket) {
  AgencySpec late = Protection("shelter-b", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER});
  late.registered = false;
  late.start = false;
  // One place at shelter-a: once it is taken, only a shelter registered live can take a woman.
  Nrm nrm({FirstResponder("fia-karachi"),
           Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER}, 1), late},
          WomenToShelterRules());
  ASSERT_TRUE(nrm.Start());
  auto first = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(nrm.WaitInbox(
      "shelter-a",
      [](const std::vector<v1::Referral>& in) {
        return in.size() == 1 && in[0].status() == v1::REFERRAL_STATUS_ACCEPTED;
      },
      nullptr, "shelter-a's one place taken"));
  const std::string admin = "ipc://" + nrm.dir() + "/broker/admin.sock";
  const std::string sessions = nrm.dir() + "/sessions";
  auto ctl = [&](std::vector<std::string> args) {
    args.push_back("--broker-admin");
    args.push_back(admin);
    return Passagectl(args, "", sessions, nrm.dir());
  };
  v1::ControlRequest status;
  status.mutable_status();
  auto status_says = [&](const std::string& id, const std::string& what) {
    std::string text;
    bool ok = WaitUntil(id + " to say '" + what + "'", [&] {
      auto st = nrm.Call(id, status, 2000);
      text = st.ok() ? st->text() : "";
      return text.find(what) != std::string::npos;
    });
    return ok ? ::testing::AssertionSuccess() : ::testing::AssertionFailure() << text;
  };

  // 1. Register shelter-b: its node connects, with no broker restart.
  CtlProc add = ctl({"admin", "agency", "add", "--file", nrm.dir() + "/agencies/shelter-b.textproto"});
  ASSERT_EQ(add.code, 0) << add.err;
  EXPECT_NE(add.out.find("registered agency shelter-b: recorded in the log as seq"),
            std::string::npos)
      << add.out;
  ASSERT_TRUE(nrm.StartNode("shelter-b"));
  // The referral engine learned of it from the log: the next woman goes to shelter-b.
  auto second = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_TRUE(nrm.WaitReceived(*second, "shelter-b"));
  CtlProc again = ctl({"admin", "agency", "add", "--file", nrm.dir() + "/agencies/shelter-b.textproto"});
  EXPECT_EQ(again.code, 1) << again.err;
  EXPECT_NE(again.err.find("already registered"), std::string::npos) << again.err;

  // 2. A new transport key for shelter-a: the old key is refused, the new one connects.
  const auto fresh = transport::GenerateCurveKeyPair();
  CtlProc rotate = ctl({"admin", "agency", "rotate-key", "shelter-a", "--transport-key",
                     fresh.public_z85});
  ASSERT_EQ(rotate.code, 0) << rotate.err;
  nrm.StopNode("shelter-a");
  ASSERT_TRUE(nrm.Launch("shelter-a"));  // still with the old key: refused
  EXPECT_TRUE(status_says("shelter-a", "refused this agency's key"));
  nrm.StopNode("shelter-a");
  ASSERT_TRUE(transport::WriteKeyFile(nrm.dir() + "/keys/shelter-a.curve", fresh).ok());
  ASSERT_TRUE(nrm.StartNode("shelter-a"));

  // 3. Revoke shelter-b: its connection is cut at once and it cannot come back.
  CtlProc router = ctl({"admin", "agency", "revoke", kRouterId, "--reason", "test"});
  EXPECT_EQ(router.code, 1) << router.err;
  EXPECT_NE(router.err.find("referral engine"), std::string::npos) << router.err;
  CtlProc nobody = ctl({"admin", "agency", "revoke", "no-such-agency", "--reason", "test"});
  EXPECT_EQ(nobody.code, 3) << nobody.err;
  CtlProc revoke = ctl({"admin", "agency", "revoke", "shelter-b", "--reason",
                     "the shelter closed on 2026-12-01"});
  ASSERT_EQ(revoke.code, 0) << revoke.err;
  // The running node is cut off at once: its next frame is refused, it connects again, and the
  // handshake is refused.
  EXPECT_TRUE(status_says("shelter-b", "refused this agency's key"));
  // And it tells its staff it is not connected.
  v1::ControlRequest broker_status;
  broker_status.mutable_status();
  auto st = nrm.Call("shelter-b", broker_status, 2000);
  ASSERT_TRUE(st.ok());
  EXPECT_NE(st->text().find("not connected"), std::string::npos) << st->text();
  // Nothing can be addressed to it any more: a referral by hand to it is refused.
  v1::IntakeRequest in = AdultWomanSexuallyExploited();
  in.mutable_profile()->set_sex(v1::SEX_MALE);  // not one the rules route
  auto c = nrm.Intake("fia-karachi", in);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const std::string consent = nrm.FirstConsentId("fia-karachi", *c);
  ASSERT_FALSE(consent.empty());
  const v1::Event e = HandReferral(*c, "shelter-b", v1::SERVICE_TYPE_SHELTER, consent);
  auto sent = nrm.Publish("fia-karachi", e);
  ASSERT_TRUE(sent.ok());
  EXPECT_NE(sent->code(), v1::CONTROL_CODE_OK) << sent->text();
  EXPECT_NE(sent->reason().find("shelter-b"), std::string::npos) << sent->reason();

  // 4. The broker restarts from its registry file and the log: every change still holds.
  ASSERT_TRUE(nrm.RestartBroker());
  CtlProc exported = ctl({"admin", "agency", "export"});
  ASSERT_EQ(exported.code, 0) << exported.err;
  EXPECT_NE(exported.out.find("# revoked: shelter-b (the shelter closed on 2026-12-01)"),
            std::string::npos)
      << exported.out;
  EXPECT_EQ(exported.out.find("id: \"shelter-b\""), std::string::npos) << exported.out;
  EXPECT_NE(exported.out.find(fresh.public_z85), std::string::npos) << exported.out;
  EXPECT_NE(nrm.Log("broker").find("applied 3 registry change(s) from the log"), std::string::npos)
      << nrm.Log("broker");
}

// The broker is restored from a copy of its log older than what the agencies saw: each node
// notices (WELCOME says a shorter log than it saw), says so, drops what the old log held beyond the
// copy from its journal and sends its own events again, so the case recorded after the copy comes
// back, with its referral, once.
TEST(E2eOps, ABrokerRestoredFromAnOlderCopyGetsBackWhatAgenciesSentSince) {
  Nrm nrm({FirstResponder("fia-karachi"),
           Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER})},
          WomenToShelterRules());
  ASSERT_TRUE(nrm.Start());
  auto one_accepted_per_case = [&](const std::vector<std::string>& cases) {
    return [cases](const std::vector<v1::Referral>& inbox) {
      for (const auto& c : cases) {
        int n = 0;
        for (const auto& r : inbox) {
          n += r.case_id() == c && r.status() == v1::REFERRAL_STATUS_ACCEPTED ? 1 : 0;
        }
        if (n != 1) return false;
      }
      return inbox.size() == cases.size();
    };
  };
  auto first = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(nrm.WaitInbox("shelter-a", one_accepted_per_case({*first}), nullptr,
                            "the first referral accepted"));
  ASSERT_TRUE(nrm.Settle(800));

  // The backup: a copy of the stopped broker's log.
  namespace fs = std::filesystem;
  const std::string log_dir = nrm.dir() + "/broker/log";
  const std::string backup = nrm.dir() + "/backup-log";
  nrm.StopNode("broker");
  fs::copy(log_dir, backup, fs::copy_options::recursive);
  ASSERT_TRUE(nrm.RestartBroker(/*same_endpoint=*/true));

  // Work after the backup.
  auto second = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_TRUE(nrm.WaitInbox("shelter-a", one_accepted_per_case({*first, *second}), nullptr,
                            "the second referral accepted"));
  ASSERT_TRUE(nrm.Settle(800));

  // The restore: the log as the backup had it.
  nrm.StopNode("broker");
  fs::remove_all(log_dir);
  fs::copy(backup, log_dir, fs::copy_options::recursive);
  ASSERT_TRUE(nrm.RestartBroker(/*same_endpoint=*/true));

  // The agencies say what happened ...
  v1::ControlRequest status;
  status.mutable_status();
  std::string text;
  ASSERT_TRUE(WaitUntil("the first responder to report the restore", [&] {
    auto st = nrm.Call("fia-karachi", status, 2000);
    text = st.ok() ? st->text() : "";
    return text.find("the broker's log was restored from an older copy") != std::string::npos;
  })) << text;
  EXPECT_NE(text.find("event(s) of this agency sent again"), std::string::npos) << text;
  // ... and the second case comes back, with one accepted referral at the shelter, nothing twice.
  std::vector<v1::Referral> inbox;
  EXPECT_TRUE(nrm.WaitInbox("shelter-a", one_accepted_per_case({*first, *second}), &inbox,
                            "both referrals accepted again after the restore"));
  EXPECT_TRUE(nrm.Settle(800));
  const auto router_cases = nrm.Cases(kRouterId);
  int seen = 0;
  for (const auto& c : router_cases) {
    seen += (c.case_id() == *first || c.case_id() == *second) ? 1 : 0;
  }
  EXPECT_EQ(seen, 2) << "the referral engine knows both cases again";
}

// An agency replaces its sealing key: what was sealed for the old key still opens, once the node
// lists the old key file in previous_sealing_key_files; without it, the opening is refused.
TEST(E2eOps, PersonalDataSealedForAReplacedKeyStillOpensWithTheOldKeyFile) {
  Nrm nrm({FirstResponder("fia-karachi"),
           Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER})},
          WomenToShelterRules());
  ASSERT_TRUE(nrm.Start());
  auto c = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(nrm.WaitInbox(
      "shelter-a",
      [&](const std::vector<v1::Referral>& in) {
        return in.size() == 1 && in[0].status() == v1::REFERRAL_STATUS_ACCEPTED;
      },
      nullptr, "the referral accepted"));
  auto personal = [&]() {
    v1::ControlRequest q;
    q.mutable_personal()->set_case_id(*c);
    q.mutable_personal()->set_purpose("admission");
    auto r = nrm.Call("shelter-a", q);
    return r.ok() ? *r : v1::ControlResponse();
  };
  v1::ControlResponse opened;
  ASSERT_TRUE(WaitUntil("the shelter to open the personal data", [&] {
    opened = personal();
    return opened.code() == v1::CONTROL_CODE_OK;
  })) << Describe(opened);
  EXPECT_NE(opened.text().find("Synthetic"), std::string::npos) << opened.text();

  // A new sealing key pair; the old file kept aside.
  namespace fs = std::filesystem;
  const std::string keys = nrm.dir() + "/keys/";
  nrm.StopNode("shelter-a");
  fs::rename(keys + "shelter-a.seal", keys + "shelter-a.seal.2026");
  const auto fresh = runtime::GenerateSealingKeyPair();
  std::ofstream(keys + "shelter-a.seal") << "public: " << runtime::ToHex(fresh.public_key)
                                         << "\nsecret: " << runtime::ToHex(fresh.secret_key)
                                         << "\n";
  ASSERT_TRUE(nrm.StartNode("shelter-a"));
  opened = personal();
  EXPECT_NE(opened.code(), v1::CONTROL_CODE_OK) << "the new key alone cannot open the old seal";

  // The old key file listed: it opens again.
  const std::string config = nrm.dir() + "/nodes/shelter-a.textproto";
  nrm.StopNode("shelter-a");
  std::ofstream(config, std::ios::app) << "previous_sealing_key_files: \"" << keys
                                       << "shelter-a.seal.2026\"\n";
  ASSERT_TRUE(nrm.StartNode("shelter-a"));
  ASSERT_TRUE(WaitUntil("the shelter to open the personal data with its old key", [&] {
    opened = personal();
    return opened.code() == v1::CONTROL_CODE_OK;
  })) << Describe(opened);
  EXPECT_NE(opened.text().find("Synthetic"), std::string::npos) << opened.text();
}

// The only shelter declines and no other agency offers shelter: the need is "unplaced", and the
// case's owner sees it on the case page and in the journey, the coordinator's metrics count it.
TEST(E2eOps, ANeedNoAgencyTookIsShownOnTheCaseTheJourneyAndTheMetrics) {
  NrmOptions o;
  o.metrics = true;
  o.http = true;
  Nrm nrm({FirstResponder("fia-karachi"),
           Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER}, 0,
                      /*auto_accept=*/false)},
          WomenToShelterRules(), o);
  ASSERT_TRUE(nrm.Start());
  auto c = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::string referral;
  ASSERT_TRUE(nrm.WaitReceived(*c, "shelter-a", &referral));
  auto declined = nrm.Act("shelter-a", referral, v1::REFERRAL_STATUS_REJECTED, "no bed",
                          v1::REJECT_REASON_CAPACITY_FULL);
  ASSERT_TRUE(declined.ok());
  ASSERT_EQ(declined->code(), v1::CONTROL_CODE_OK) << Describe(*declined);

  const int router_port = nrm.MetricsPort(kRouterId);
  ASSERT_TRUE(WaitUntil("the referral engine to count one unplaced need", [&] {
    return Metric(Get(router_port, "/metrics"), "passage_router_unplaced_needs") == 1;
  }));
  const std::string journey = nrm.JourneyText(*c, "fia-karachi");
  EXPECT_NE(journey.find("Needs no agency has taken"), std::string::npos) << journey;
  EXPECT_NE(journey.find("SHELTER: the last referral, to shelter-a, was REJECTED"),
            std::string::npos)
      << journey;

  // The owner's case page says so, above everything else but its own moves.
  ASSERT_TRUE(nrm.DeskSession("fia-karachi").ok());
  httplib::Client web("127.0.0.1", nrm.HttpPort("fia-karachi"));
  web.set_follow_location(false);
  auto form = web.Get("/login");
  ASSERT_TRUE(form);
  std::string pre;
  for (const auto& [k, v] : form->headers) {
    if (k == "Set-Cookie" && v.rfind("psg_pre=", 0) == 0) pre = v.substr(8, v.find(';') - 8);
  }
  ASSERT_FALSE(pre.empty());
  auto signed_in = web.Post("/login", {{"Cookie", "psg_pre=" + pre}},
                            httplib::Params{{"pre", pre}, {"login", "e2e.desk"},
                                            {"password", Nrm::kDeskPassword}});
  ASSERT_TRUE(signed_in);
  ASSERT_EQ(signed_in->status, 303);
  std::string session;
  for (const auto& [k, v] : signed_in->headers) {
    if (k == "Set-Cookie" && v.rfind("psg_session=", 0) == 0) {
      session = v.substr(12, v.find(';') - 12);
    }
  }
  auto page = web.Get("/cases/" + *c, {{"Cookie", "psg_session=" + session}});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200) << page->body;
  EXPECT_NE(page->body.find("Needs no agency has taken"), std::string::npos) << page->body;
  EXPECT_NE(page->body.find("the last referral, to"), std::string::npos) << page->body;
}

}  // namespace
}  // namespace passage::e2e
