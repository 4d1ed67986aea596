// passagectl's command line: argv -> Invocation (ControlRequest or usage error), exit codes, names,
// and the interactive intake. Pure: no node, no processes (ctl_process_test.cc runs the binary).

#include "services/ctl/ctl.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "services/ctl/cli.h"
#include "core/case_reference.h"
#include "core/codes.h"
#include "services/ctl/intake_prompt.h"
#include "services/ctl/names.h"
#include "tests/testing/status_matchers.h"

namespace passage::ctl {
namespace {

namespace v1 = passage::v1;

constexpr char kReferral[] = "0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b";
constexpr char kCase[] = "0190a3c4-6e7f-7000-8b1c-2d3e4f5a6b7c";
constexpr char kConsent[] = "0190a3c4-7f80-7000-9c2d-3e4f5a6b7c8d";

Result<Invocation> Parse(std::vector<std::string> args, std::string env_node = "/srv/node") {
  return ParseArgs(args, env_node);
}

// The usage error of `args`: its field, and that it is one.
std::string UsageField(std::vector<std::string> args, std::string env_node = "/srv/node") {
  auto r = ParseArgs(args, env_node);
  EXPECT_FALSE(r.ok()) << "parsed, but expected a usage error";
  if (r.ok()) {
    return "<ok>";
  }
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ExitCodeFor(r.status()), kExitUsage);
  return r.status().field();
}

TEST(CtlArgs, EveryReferralActionMapsToItsTargetState) {
  const std::vector<std::pair<std::string, v1::ReferralStatus>> cases = {
      {"receive", v1::REFERRAL_STATUS_RECEIVED},
      {"accept", v1::REFERRAL_STATUS_ACCEPTED},
      {"start", v1::REFERRAL_STATUS_IN_PROGRESS},
      {"hold", v1::REFERRAL_STATUS_ON_HOLD},
      {"cancel", v1::REFERRAL_STATUS_CANCELLED},
      {"request-cancel", v1::REFERRAL_STATUS_CANCEL_REQUESTED},
  };
  for (const auto& [action, to] : cases) {
    auto inv = Parse({"referral", action, kReferral});
    ASSERT_OK(inv);
    EXPECT_EQ(inv->action, Action::kCall) << action;
    ASSERT_TRUE(inv->request.has_referral_action()) << action;
    EXPECT_EQ(inv->request.referral_action().to(), to) << action;
    EXPECT_EQ(inv->request.referral_action().referral_id(), kReferral);
  }
}

TEST(CtlArgs, RejectNeedsAKnownReason) {
  EXPECT_EQ(UsageField({"referral", "reject", kReferral}), "--reason");
  EXPECT_EQ(UsageField({"referral", "reject", kReferral, "--reason", "too-busy"}), "--reason");
  auto inv =
      Parse({"referral", "reject", kReferral, "--reason", "capacity_full", "--note", "full"});
  ASSERT_OK(inv);
  const auto& a = inv->request.referral_action();
  EXPECT_EQ(a.to(), v1::REFERRAL_STATUS_REJECTED);
  EXPECT_EQ(a.reason(), v1::REJECT_REASON_CAPACITY_FULL);
  EXPECT_EQ(a.note(), "full");
  // Every documented reason parses, in either spelling.
  for (std::string r : {"capacity_full", "out_of_scope", "ineligible", "no_consent", "duplicate",
                        "victim_declined", "unreachable", "other", "OUT-OF-SCOPE"}) {
    EXPECT_OK(Parse({"referral", "reject", kReferral, "--reason=" + r})) << r;
  }
  // A reason is for rejections only.
  EXPECT_EQ(UsageField({"referral", "accept", kReferral, "--reason", "other"}), "--reason");
}

TEST(CtlArgs, CompleteAndFailNeedAnOutcome) {
  EXPECT_EQ(UsageField({"referral", "complete", kReferral}), "--outcome");
  EXPECT_EQ(UsageField({"referral", "fail", kReferral, "--outcome", " "}), "--outcome");
  EXPECT_EQ(UsageField({"referral", "start", kReferral, "--outcome", "x"}), "--outcome");
  auto inv = Parse({"referral", "complete", kReferral, "--outcome", "shelter for 30 days"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.referral_action().to(), v1::REFERRAL_STATUS_COMPLETED);
  EXPECT_EQ(inv->request.referral_action().outcome(), "shelter for 30 days");
  inv = Parse({"referral", "fail", kReferral, "--outcome", "victim unreachable"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.referral_action().to(), v1::REFERRAL_STATUS_FAILED);
}

TEST(CtlArgs, ResumeIsResolvedAgainstTheInbox) {
  auto inv = Parse({"referral", "resume", kReferral});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->action, Action::kResume);
  EXPECT_EQ(inv->request.referral_action().to(), v1::REFERRAL_STATUS_UNSPECIFIED);
}

// Who acts is the signed-in person, never a typed word: the old flags are refused by name.
TEST(CtlArgs, NoCommandTakesAUserOrRoleFlag) {
  for (std::vector<std::string> cmd :
       {std::vector<std::string>{"referral", "accept", kReferral},
        std::vector<std::string>{"personal", kCase},
        std::vector<std::string>{"intake", "--file", "-"},
        std::vector<std::string>{"close", kCase},
        std::vector<std::string>{"service", kCase, kReferral, "medical"},
        std::vector<std::string>{"import-ctdc", "data.csv"},
        std::vector<std::string>{"refer", kCase, "--to", "x-y", "--service", "shelter",
                                 "--override-reason", "life at risk"}}) {
    for (std::string flag : {"--user", "--role"}) {
      auto with = cmd;
      with.push_back(flag);
      with.push_back("supervisor");
      EXPECT_EQ(UsageField(with), flag) << cmd[0];
    }
  }
}

TEST(CtlArgs, SignInAndStaffCommands) {
  auto inv = Parse({"login", "ayesha.k", "--password-file", "-"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->action, Action::kLogin);
  EXPECT_EQ(inv->request.login().login(), "ayesha.k");
  EXPECT_EQ(inv->file, "-");
  EXPECT_TRUE(inv->request.login().password().empty());  // read later, never from argv
  inv = Parse({"logout"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->action, Action::kLogout);
  inv = Parse({"staff", "add", "ayesha.k", "--roles", "case-worker,SUPERVISOR", "--name", "A K"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.staff().op(), v1::StaffRequest::OP_ADD);
  ASSERT_EQ(inv->request.staff().roles_size(), 2);
  EXPECT_EQ(inv->request.staff().roles(0), v1::ACTOR_ROLE_CASE_WORKER);
  EXPECT_EQ(inv->request.staff().roles(1), v1::ACTOR_ROLE_SUPERVISOR);
  EXPECT_EQ(UsageField({"staff", "add", "x1"}), "--roles");
  EXPECT_EQ(UsageField({"staff", "add", "x1", "--roles", "boss"}), "--roles");
  EXPECT_EQ(UsageField({"staff", "add", "x1", "--roles", "system"}), "--roles");
  EXPECT_EQ(UsageField({"staff", "disable"}), "LOGIN");
  EXPECT_EQ(UsageField({"staff", "list", "--roles", "auditor"}), "--roles");
  EXPECT_EQ(UsageField({"staff", "fire", "x1"}), "");
  inv = Parse({"staff", "log", "--limit", "20"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.staff().op(), v1::StaffRequest::OP_SECURITY_LOG);
  EXPECT_EQ(inv->request.staff().limit(), 20u);
}

TEST(CtlArgs, ApiKeyCommands) {
  auto inv = Parse({"apikey", "create", "oscar-sync", "--roles", "case-worker", "--rate", "60"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.api_key_admin().op(), v1::ApiKeyAdminRequest::OP_CREATE);
  EXPECT_EQ(inv->request.api_key_admin().name(), "oscar-sync");
  EXPECT_EQ(inv->request.api_key_admin().rate_per_minute(), 60u);
  ASSERT_EQ(inv->request.api_key_admin().roles_size(), 1);
  EXPECT_EQ(UsageField({"apikey", "create", "x"}), "--roles");
  EXPECT_EQ(UsageField({"apikey", "create", "x", "--roles", "node-admin"}), "--roles");
  EXPECT_EQ(UsageField({"apikey", "create", "x", "--roles", "auditor", "--rate", "0"}), "--rate");
  EXPECT_EQ(UsageField({"apikey", "revoke"}), "KEY_ID");
  EXPECT_EQ(UsageField({"apikey", "list", "--rate", "3"}), "--rate");
  EXPECT_EQ(UsageField({"apikey", "burn", "x"}), "");
  inv = Parse({"apikey", "revoke", "k-0123456789ab"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.api_key_admin().key_id(), "k-0123456789ab");
}

TEST(CtlArgs, ReferralArgumentsAreChecked) {
  EXPECT_EQ(UsageField({"referral"}), "ACTION");
  EXPECT_EQ(UsageField({"referral", "accept"}), "REFERRAL_ID");
  EXPECT_EQ(UsageField({"referral", "approve", kReferral}), "ACTION");
  EXPECT_EQ(UsageField({"referral", "accept", "not-a-uuid"}), "REFERRAL_ID");
  EXPECT_EQ(UsageField({"referral", "accept", kReferral, "extra"}), "");
  EXPECT_EQ(UsageField({"referral", "accept", kReferral, "--outcom", "x"}), "--outcom");
  EXPECT_EQ(UsageField({"referral", "accept", kReferral, "--note"}), "--note");
}

TEST(CtlArgs, NodeIsADataDirectoryOrAnEndpoint) {
  auto inv = Parse({"--node", "/var/lib/passage/ngo-x", "status"}, "");
  ASSERT_OK(inv);
  EXPECT_EQ(inv->endpoint, "ipc:///var/lib/passage/ngo-x/control.sock");
  EXPECT_TRUE(inv->request.has_status());

  inv = Parse({"status", "--node", "/var/lib/passage/ngo-x/"}, "");
  ASSERT_OK(inv);
  EXPECT_EQ(inv->endpoint, "ipc:///var/lib/passage/ngo-x/control.sock");

  inv = Parse({"status", "--node=tcp://127.0.0.1:7000"}, "");
  ASSERT_OK(inv);
  EXPECT_EQ(inv->endpoint, "tcp://127.0.0.1:7000");

  // Relative directories are made absolute, so the endpoint does not depend on a later chdir.
  inv = Parse({"--node", "data/fia", "status"}, "");
  ASSERT_OK(inv);
  EXPECT_EQ(inv->endpoint,
            "ipc://" + (std::filesystem::current_path() / "data/fia/control.sock").string());

  // $PASSAGE_NODE is the default; --node wins over it.
  inv = Parse({"status"}, "/srv/env-node");
  ASSERT_OK(inv);
  EXPECT_EQ(inv->endpoint, "ipc:///srv/env-node/control.sock");
  inv = Parse({"--node", "/srv/flag-node", "status"}, "/srv/env-node");
  ASSERT_OK(inv);
  EXPECT_EQ(inv->endpoint, "ipc:///srv/flag-node/control.sock");

  EXPECT_EQ(UsageField({"status"}, ""), "--node");
  EXPECT_EQ(UsageField({"--node"}, ""), "--node");
}

TEST(CtlArgs, GlobalOptionsGoBeforeOrAfterTheCommand) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"--json", "--timeout", "250", "inbox", "--all"},
           {"inbox", "--all", "--json", "--timeout=250"},
       }) {
    auto inv = Parse(args);
    ASSERT_OK(inv);
    EXPECT_TRUE(inv->json);
    EXPECT_TRUE(inv->request.json());
    EXPECT_EQ(inv->timeout_ms, 250);
    EXPECT_TRUE(inv->request.inbox().include_closed());
  }
  auto inv = Parse({"inbox"});
  ASSERT_OK(inv);
  EXPECT_FALSE(inv->request.json());
  EXPECT_EQ(inv->timeout_ms, kDefaultTimeoutMs);
  EXPECT_FALSE(inv->request.inbox().include_closed());

  EXPECT_EQ(UsageField({"--timeout", "0", "status"}), "--timeout");
  EXPECT_EQ(UsageField({"--timeout", "soon", "status"}), "--timeout");
  EXPECT_EQ(UsageField({"--json=yes", "status"}), "--json");
  EXPECT_EQ(UsageField({"--verbose", "status"}), "--verbose");
  EXPECT_EQ(UsageField({"frobnicate"}), "");
  EXPECT_EQ(UsageField({}), "COMMAND");
}

TEST(CtlArgs, EveryCommandHasHelp) {
  for (std::string cmd :
       {"status", "intake", "inbox", "referral", "journey", "personal", "cases", "stats", "consent",
        "service", "refer", "export-ctdc", "proceeding", "return", "close", "publish", "import-ctdc", "keygen",
        "offence", "offence-status", "suspect", "accused", "smuggling"}) {
    // --help needs no node and wins over anything else on the line.
    for (auto args : std::vector<std::vector<std::string>>{{cmd, "--help"},
                                                           {cmd, "-h"},
                                                           {"--help", cmd},
                                                           {"help", cmd},
                                                           {cmd, "--bogus", "--help"}}) {
      auto inv = Parse(args, "");
      ASSERT_OK(inv) << cmd;
      EXPECT_EQ(inv->action, Action::kHelp) << cmd;
      EXPECT_NE(inv->help.find("usage: passagectl " + cmd), std::string::npos) << inv->help;
      EXPECT_NE(inv->help.find("example"), std::string::npos) << cmd;
      EXPECT_NE(inv->help.find("exit codes"), std::string::npos) << cmd;
    }
  }
  auto tool = Parse({"--help"}, "");
  ASSERT_OK(tool);
  EXPECT_EQ(tool->action, Action::kHelp);
  for (std::string needle : {"exit codes", "0  ok", "1  refused", "2  usage", "3  not found",
                             "4  unavailable", "5  internal", "PASSAGE_NODE", "import-ctdc"}) {
    EXPECT_NE(tool->help.find(needle), std::string::npos) << needle;
  }
  auto consent = Parse({"consent", "withdraw", "--help"}, "");
  ASSERT_OK(consent);
  EXPECT_NE(consent->help.find("consent withdraw CASE_ID CONSENT_ID"), std::string::npos);
  EXPECT_EQ(UsageField({"help", "nope"}), "COMMAND");
}

TEST(CtlArgs, CasesFilters) {
  auto inv = Parse({"cases", "--stage", "return", "--crime", "som", "--minors", "--limit", "20"});
  ASSERT_OK(inv);
  const auto& c = inv->request.cases();
  EXPECT_EQ(c.stage(), v1::STAGE_RETURN_REINTEGRATION);
  EXPECT_EQ(c.crime_type(), v1::CRIME_TYPE_SOM);
  EXPECT_TRUE(c.minors_only());
  EXPECT_EQ(c.limit(), 20u);
  for (auto [name, stage] : std::vector<std::pair<std::string, v1::Stage>>{
           {"identification", v1::STAGE_IDENTIFICATION},
           {"referral", v1::STAGE_REFERRAL},
           {"protection", v1::STAGE_PROTECTION},
           {"criminal_justice", v1::STAGE_CRIMINAL_JUSTICE},
           {"closed", v1::STAGE_CLOSED}}) {
    inv = Parse({"cases", "--stage", name});
    ASSERT_OK(inv);
    EXPECT_EQ(inv->request.cases().stage(), stage);
  }
  inv = Parse({"cases"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.cases().stage(), v1::STAGE_UNSPECIFIED);
  EXPECT_FALSE(inv->request.cases().minors_only());
  EXPECT_EQ(UsageField({"cases", "--stage", "court"}), "--stage");
  EXPECT_EQ(UsageField({"cases", "--crime", "fraud"}), "--crime");
  EXPECT_EQ(UsageField({"cases", "--limit", "-3"}), "--limit");
  EXPECT_EQ(UsageField({"cases", "--minors=1"}), "--minors");
}

TEST(CtlArgs, StatsDimensionsAreCheckedHere) {
  auto inv = Parse({"stats", "--by", "sex, age_band", "--k", "10"});
  ASSERT_OK(inv);
  ASSERT_EQ(inv->request.stats().by_size(), 2);
  EXPECT_EQ(inv->request.stats().by(0), "sex");
  EXPECT_EQ(inv->request.stats().by(1), "age_band");
  EXPECT_EQ(inv->request.stats().k(), 10u);
  EXPECT_EQ(UsageField({"stats", "--by", "sex,shoe_size"}), "--by");
  EXPECT_EQ(UsageField({"stats", "--by", ","}), "--by");
  EXPECT_EQ(UsageField({"stats", "--k", "0"}), "--k");
}

TEST(CtlArgs, JourneyNeedsACaseIdOrReference) {
  auto inv = Parse({"journey", kCase});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.journey().case_id(), kCase);
  EXPECT_EQ(UsageField({"journey"}), "CASE");
  EXPECT_EQ(UsageField({"journey", "CASE-1"}), "CASE");
  EXPECT_EQ(UsageField({"journey", "12345"}), "CASE");
  // A reference is passed on as typed (the node resolves it); a misheard digit stops here.
  const std::string ref = core::FormatCaseReference("FIAKHI", 2026, 123);
  inv = Parse({"journey", "fiakhi 26 123 " + ref.substr(ref.size() - 1)});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.journey().case_id(), "fiakhi 26 123 " + ref.substr(ref.size() - 1));
  EXPECT_EQ(UsageField({"journey", "FIAKHI-26-00124-" + ref.substr(ref.size() - 1)}), "CASE");
}

TEST(CtlArgs, FindTakesAReferenceOrAsksForTheName) {
  const std::string ref = core::FormatCaseReference("SDPOL", 2026, 9);
  auto inv = Parse({"find", ref});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.find().reference(), ref);
  inv = Parse({"find", "--person", "--sex", "female"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->action, Action::kFindPerson);
  EXPECT_EQ(inv->request.find().sex(), v1::SEX_FEMALE);
  EXPECT_TRUE(inv->request.find().name().empty());  // asked, never an argument
  EXPECT_EQ(UsageField({"find"}), "REFERENCE");
  EXPECT_EQ(UsageField({"find", "Ayesha Khan"}), "REFERENCE");
  EXPECT_EQ(UsageField({"find", "--person", "Ayesha"}), "");
  EXPECT_EQ(UsageField({"find", ref, "--sex", "female"}), "--sex");
}

TEST(CtlArgs, PersonalDataReadCarriesPurpose) {
  auto inv = Parse({"personal", kCase, "--purpose", "shelter admission"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.personal().case_id(), kCase);
  EXPECT_EQ(inv->request.personal().purpose(), "shelter admission");
  EXPECT_EQ(UsageField({"personal"}), "CASE");
}

TEST(CtlArgs, EventCommandsBuildThePublishedEvent) {
  auto inv = Parse(
      {"consent", "withdraw", kCase, kConsent, "--scope", "share_with_agencies"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->command, "consent withdraw");
  const v1::Event* e = &inv->request.publish().event();
  EXPECT_EQ(e->case_id(), kCase);
  EXPECT_TRUE(e->event_id().empty());  // the node fills it
  EXPECT_EQ(e->consent_withdrawn().consent_id(), kConsent);
  EXPECT_EQ(e->consent_withdrawn().scope(), v1::CONSENT_SCOPE_SHARE_WITH_AGENCIES);
  EXPECT_TRUE(e->actor_user().empty());  // the node fills it from the session
  EXPECT_EQ(UsageField({"consent", "give", kCase, kConsent}), "");
  EXPECT_EQ(UsageField({"consent", "withdraw", kCase}), "CONSENT_ID");

  inv = Parse({"service", kCase, kReferral, "legal_aid"});
  ASSERT_OK(inv);
  e = &inv->request.publish().event();
  EXPECT_EQ(e->service_delivered().referral_id(), kReferral);
  EXPECT_EQ(e->service_delivered().service(), v1::SERVICE_TYPE_LEGAL_AID);
  EXPECT_EQ(UsageField({"service", kCase, kReferral, "massage"}), "SERVICE");

  inv = Parse({"refer", kCase, "--to", "dastak-shelter", "--service", "psychosocial", "--consent",
               kConsent, "--priority", "urgent", "--within-hours", "4", "--parent", kReferral});
  ASSERT_OK(inv);
  e = &inv->request.publish().event();
  EXPECT_EQ(e->case_id(), kCase);
  EXPECT_EQ(e->referral_sent().referral().to_agency(), "dastak-shelter");
  EXPECT_EQ(e->referral_sent().referral().service(), v1::SERVICE_TYPE_PSYCHOSOCIAL);
  EXPECT_EQ(e->referral_sent().referral().priority(), v1::PRIORITY_URGENT);
  EXPECT_EQ(e->referral_sent().referral().consent_id(), kConsent);
  EXPECT_EQ(e->referral_sent().referral().parent_referral_id(), kReferral);
  EXPECT_EQ(e->referral_sent().referral().referral_id().size(), 36u);
  EXPECT_GT(e->referral_sent().referral().respond_by_ms(), 0);
  inv = Parse({"refer", kCase, "--to", "iom-pakistan", "--service", "interpretation", "--consent",
               kConsent, "--scope", "profile"});
  ASSERT_OK(inv);
  ASSERT_EQ(inv->request.publish().event().referral_sent().referral().data_scope_size(), 1);
  EXPECT_EQ(UsageField({"refer", kCase, "--to", "x-y", "--service", "shelter", "--consent",
                        kConsent, "--scope", "everything"}),
            "--scope");
  EXPECT_EQ(UsageField({"refer", kCase, "--service", "shelter", "--consent", kConsent}), "--to");
  EXPECT_EQ(UsageField({"refer", kCase, "--to", "x-y", "--service", "shelter"}), "--consent");
  inv = Parse({"refer", kCase, "--to", "x-y", "--service", "shelter", "--override-reason",
               "life at risk"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.publish().event().referral_sent().referral().consent_override().reason(),
            "life at risk");

  inv = Parse({"export-ctdc", "--k", "5"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.export_ctdc().k(), 5u);
  EXPECT_EQ(UsageField({"export-ctdc", "--k", "0"}), "--k");

  inv = Parse({"proceeding", kCase, "verdict_conviction", "--reference", "ATC-II/44/2024"});
  ASSERT_OK(inv);
  e = &inv->request.publish().event();
  EXPECT_EQ(e->criminal_proceeding_updated().proceeding().milestone(),
            v1::PROCEEDING_MILESTONE_VERDICT_CONVICTION);
  EXPECT_EQ(e->criminal_proceeding_updated().proceeding().reference(), "ATC-II/44/2024");
  for (std::string m :
       {"fir_registered", "investigation_opened", "charge_filed", "trial_started",
        "verdict_conviction", "verdict_acquittal", "compensation_ordered", "dismissed"}) {
    EXPECT_OK(Parse({"proceeding", kCase, m})) << m;
  }
  EXPECT_EQ(UsageField({"proceeding", kCase, "appeal"}), "MILESTONE");

  inv = Parse({"return", kCase, "bgd", "--referral", kReferral});
  ASSERT_OK(inv);
  e = &inv->request.publish().event();
  EXPECT_EQ(e->return_recorded().country(), "BD");
  EXPECT_EQ(e->return_recorded().referral_id(), kReferral);
  EXPECT_EQ(UsageField({"return", kCase, "Bangladesh"}), "COUNTRY");

  inv = Parse({"close", kCase, "--reason", "reintegrated"});
  ASSERT_OK(inv);
  e = &inv->request.publish().event();
  EXPECT_TRUE(e->has_case_closed());
  EXPECT_EQ(e->case_closed().reason(), "reintegrated");
}

TEST(CtlArgs, CrimeCommandsBuildTheirEvents) {
  constexpr char kOffence[] = "0190a3c4-8091-7000-8d3e-4f5a6b7c8d9e";
  const std::string reference = core::FormatCaseReference("FIAKHI", 2026, 123);
  auto inv = Parse({"offence", reference, "--fir", "112/2026", "--station",
                    "FIA AHTC Karachi", "--province", "PK-SD", "--registered", "2026-11-20",
                    "--sections", "PTPA-2018-3, PPC-370", "--crime", "tip"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->action, Action::kCall);
  const v1::Event* e = &inv->request.publish().event();
  EXPECT_EQ(e->case_id(), reference);  // the node resolves a reference
  const v1::Offence& o = e->offence_registered().offence();
  EXPECT_OK(core::ValidateUuid(o.offence_id(), "offence_id"));
  EXPECT_EQ(o.fir_number(), "112/2026");
  EXPECT_EQ(o.law_sections_size(), 2);
  EXPECT_EQ(o.law_sections(1), "PPC-370");
  EXPECT_EQ(o.crime_type(), v1::CRIME_TYPE_TIP);
  // Options passagectl can check are named by it; the rest is the broker's.
  EXPECT_EQ(UsageField({"offence", kCase, "--fir", "1", "--station", "x", "--province", "PK-SD",
                        "--registered", "2026-11-20", "--crime", "tip"}),
            "--sections");
  EXPECT_EQ(UsageField({"offence", kCase, "--fir", "1", "--station", "x", "--province", "PK-SD",
                        "--registered", "2026-11-20", "--sections", "PTPA-2018-3", "--crime",
                        "undetermined"}),
            "--crime");
  auto unknown = Parse({"offence", kCase, "--fir", "1", "--station", "x", "--province", "PK-SD",
                        "--registered", "2026-11-20", "--sections", "PTPA-2018-99", "--crime",
                        "som"});
  ASSERT_OK(unknown);

  inv = Parse({"offence-status", kCase, kOffence, "closed", "--closure", "untraced"});
  ASSERT_OK(inv);
  e = &inv->request.publish().event();
  EXPECT_EQ(e->offence_status_changed().to(), v1::OFFENCE_STATUS_CLOSED);
  EXPECT_EQ(e->offence_status_changed().closure(), v1::OFFENCE_CLOSURE_UNTRACED);
  EXPECT_EQ(UsageField({"offence-status", kCase, kOffence, "closed"}), "--closure");
  EXPECT_EQ(UsageField({"offence-status", kCase, kOffence, "sent_to_court", "--closure", "other"}),
            "--closure");
  EXPECT_EQ(UsageField({"offence-status", kCase, kOffence, "registered"}), "STATUS");

  inv = Parse({"suspect", kCase, kOffence, "--sex", "male", "--role", "recruiter,smuggler",
               "--age-band", "30-38", "--majority", "adult", "--citizenship", "pk,AFG",
               "--organised-group", "unknown", "--identity-file", "suspect.txtpb"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->action, Action::kSuspect);
  EXPECT_EQ(inv->file, "suspect.txtpb");
  const v1::Suspect& s = inv->request.publish().event().suspect_recorded().suspect();
  EXPECT_OK(core::ValidateUuid(s.suspect_id(), "suspect_id"));
  EXPECT_EQ(s.offence_id(), kOffence);
  EXPECT_EQ(s.roles_size(), 2);
  EXPECT_EQ(s.age_band(), v1::AGE_BAND_30_38);
  EXPECT_EQ(s.citizenship(1), "AF");
  EXPECT_EQ(s.organised_group(), v1::ORGANISED_GROUP_UNKNOWN);
  EXPECT_FALSE(inv->request.publish().has_suspect_identity());  // read from the file later
  EXPECT_EQ(Parse({"suspect", kCase, kOffence, "--sex", "male", "--role", "other"})->action,
            Action::kCall);
  for (std::string flag : {"--name", "--given-name", "--cnic", "--identity", "--passport"}) {
    EXPECT_EQ(
        UsageField({"suspect", kCase, kOffence, "--sex", "male", "--role", "other", flag, "Imran"}),
        flag);
  }
  EXPECT_EQ(UsageField({"suspect", kCase, kOffence, "--sex", "male", "--role", "boss"}), "--role");
  EXPECT_EQ(UsageField({"suspect", kCase, kOffence, "--sex", "male", "--role", "other",
                        "--age-band", "30-40"}),
            "--age-band");
  EXPECT_EQ(UsageField({"suspect", kCase, kOffence, "--role", "other"}), "--sex");

  inv = Parse({"accused", kCase, kReferral, "convicted", "--months", "84", "--fine", "500000",
               "--currency", "PKR", "--on", "2026-11-30"});
  ASSERT_OK(inv);
  const v1::AccusedUpdated& u = inv->request.publish().event().accused_updated();
  EXPECT_EQ(u.step(), v1::ACCUSED_STEP_CONVICTED);
  EXPECT_EQ(u.sentence_months(), 84u);
  EXPECT_EQ(u.fine_amount(), 500000u);
  EXPECT_EQ(u.fine_currency(), "PKR");
  EXPECT_EQ(u.on_date(), "2026-11-30");
  EXPECT_EQ(UsageField({"accused", kCase, kReferral, "convicted", "--fine", "10"}), "--currency");
  EXPECT_EQ(UsageField({"accused", kCase, kReferral, "hanged"}), "STEP");
  // A sentence on an acquittal is the broker's to refuse (accused_updated.sentence_months).
  EXPECT_OK(Parse({"accused", kCase, kReferral, "acquitted", "--months", "12"}));

  inv = Parse({"smuggling", kCase, "--origin", "PAK", "--transit", "ir,TR", "--destination", "GR",
               "--fee-band", "5000_to_9999", "--document-fraud", "no", "--aggravation",
               "death,child_involved"});
  ASSERT_OK(inv);
  const v1::SmugglingDetails& d = inv->request.publish().event().smuggling_recorded().details();
  EXPECT_EQ(d.origin_country(), "PK");
  EXPECT_EQ(d.transit_countries(0), "IR");
  EXPECT_EQ(d.fee_band(), v1::FEE_BAND_5000_TO_9999);
  EXPECT_TRUE(d.has_document_fraud());
  EXPECT_FALSE(d.document_fraud());
  EXPECT_EQ(d.aggravations_size(), 2);
  EXPECT_EQ(UsageField({"smuggling", kCase, "--origin", "PK", "--destination", "XQ"}),
            "--destination");
  EXPECT_EQ(UsageField({"smuggling", kCase, "--destination", "GR"}), "--origin");
  EXPECT_EQ(UsageField({"smuggling", kCase, "--origin", "PK", "--destination", "GR",
                        "--document-fraud", "maybe"}),
            "--document-fraud");
  // Origin = destination is no route, but that is the broker's to say.
  EXPECT_OK(Parse({"smuggling", kCase, "--origin", "PK", "--destination", "PK"}));
}

TEST(CtlArgs, PublishAndIntakeTakeFiles) {
  auto inv = Parse({"publish", "--file", "event.json"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->action, Action::kCall);
  EXPECT_EQ(inv->file, "event.json");
  EXPECT_TRUE(inv->request.has_publish());
  EXPECT_EQ(UsageField({"publish"}), "--file");

  inv = Parse({"intake", "--file", "-"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->action, Action::kIntake);
  EXPECT_EQ(inv->file, "-");
  inv = Parse({"intake"});
  ASSERT_OK(inv);
  EXPECT_TRUE(inv->file.empty());  // interactive
}

TEST(CtlArgs, ImportCtdcSettings) {
  auto inv = Parse({"import-ctdc", "data.csv", "--limit", "50", "--skip", "10", "--consent",
                    "statistics,share_with_agencies,statistics"});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->action, Action::kImportCtdc);
  EXPECT_EQ(inv->import.file, "data.csv");
  EXPECT_EQ(inv->import.limit, 50u);
  EXPECT_EQ(inv->import.skip, 10u);
  EXPECT_EQ(inv->import.consents,
            (std::vector<v1::ConsentScope>{v1::CONSENT_SCOPE_STATISTICS,
                                           v1::CONSENT_SCOPE_SHARE_WITH_AGENCIES}));
  EXPECT_EQ(UsageField({"import-ctdc"}), "FILE");
  EXPECT_EQ(UsageField({"import-ctdc", "data.csv", "--consent", "everything"}), "--consent");
}

TEST(CtlArgs, KeygenNeedsNoNode) {
  auto inv = Parse({"keygen", "--out", "keys/ngo-x"}, "");
  ASSERT_OK(inv);
  EXPECT_EQ(inv->action, Action::kKeygen);
  EXPECT_EQ(inv->key_prefix, "keys/ngo-x");
  EXPECT_FALSE(inv->overwrite);
  EXPECT_TRUE(inv->endpoint.empty());
  EXPECT_EQ(UsageField({"keygen"}, ""), "--out");
}

TEST(CtlArgs, DoubleDashEndsOptions) {
  auto inv = Parse({"referral", "accept", "--note", "--", kReferral});
  ASSERT_OK(inv);  // an option's value is taken verbatim, even "--"
  EXPECT_EQ(inv->request.referral_action().note(), "--");
  inv = Parse({"referral", "accept", "--", kReferral});
  ASSERT_OK(inv);
  EXPECT_EQ(inv->request.referral_action().referral_id(), kReferral);
}

TEST(CtlExitCodes, ControlCodesMapToDocumentedExitCodes) {
  EXPECT_EQ(ExitCodeFor(v1::CONTROL_CODE_OK), 0);
  EXPECT_EQ(ExitCodeFor(v1::CONTROL_CODE_REFUSED), 1);
  EXPECT_EQ(ExitCodeFor(v1::CONTROL_CODE_INVALID), 2);
  EXPECT_EQ(ExitCodeFor(v1::CONTROL_CODE_NOT_FOUND), 3);
  EXPECT_EQ(ExitCodeFor(v1::CONTROL_CODE_UNAVAILABLE), 4);
  EXPECT_EQ(ExitCodeFor(v1::CONTROL_CODE_INTERNAL), 5);
  EXPECT_EQ(ExitCodeFor(static_cast<v1::ControlCode>(42)), 5);
  EXPECT_EQ(ExitCodeFor(Status::Unavailable("x")), 4);
  EXPECT_EQ(ExitCodeFor(Status::Internal("x")), 5);
}

TEST(CtlOutput, ErrorIsOneLineWithOptionalField) {
  std::ostringstream a;
  PrintError(a, "referral_transition.to", "a referral REJECTED\ncannot move");
  EXPECT_EQ(a.str(), "passagectl: referral_transition.to: a referral REJECTED cannot move\n");
  std::ostringstream b;
  PrintError(b, "", "nothing was imported");
  EXPECT_EQ(b.str(), "passagectl: nothing was imported\n");
}

TEST(CtlNames, ShortNamesParseInAnyCaseAndSpelling) {
  auto v = ParseEnumName(v1::ExploitationForm_descriptor(), "forced-labour", "form");
  ASSERT_OK(v);
  EXPECT_EQ(*v, v1::EXPLOITATION_FORM_FORCED_LABOUR);
  v = ParseEnumName(v1::ExploitationForm_descriptor(), "EXPLOITATION_FORM_CHILD_LABOUR", "form");
  ASSERT_OK(v);
  EXPECT_EQ(*v, v1::EXPLOITATION_FORM_CHILD_LABOUR);
  auto bad = ParseEnumName(v1::ExploitationForm_descriptor(), "unspecified", "form");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().field(), "form");
  EXPECT_NE(bad.status().message().find("forced_labour"), std::string::npos);
  EXPECT_EQ(EnumChoices(v1::CrimeType_descriptor()), "tip|som|both|undetermined");
  EXPECT_EQ(SplitList(" a, b,,c ,"), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(CtlIntakeDefaults, PersonRoleFollowsTheCrimeType) {
  v1::IntakeRequest tip;
  tip.set_crime_type(v1::CRIME_TYPE_TIP);
  ApplyIntakeDefaults(&tip);
  EXPECT_EQ(tip.person_role(), v1::PERSON_ROLE_PRESUMED_VICTIM);
  v1::IntakeRequest som;
  som.set_crime_type(v1::CRIME_TYPE_SOM);
  ApplyIntakeDefaults(&som);
  EXPECT_EQ(som.person_role(), v1::PERSON_ROLE_SMUGGLED_MIGRANT);
  v1::IntakeRequest given;
  given.set_crime_type(v1::CRIME_TYPE_SOM);
  given.set_person_role(v1::PERSON_ROLE_WITNESS);
  ApplyIntakeDefaults(&given);
  EXPECT_EQ(given.person_role(), v1::PERSON_ROLE_WITNESS);
}

TEST(CtlIntakePrompt, AsksAgainWithTheReasonAndBuildsTheRequest) {
  std::istringstream in(
      "trafficking\n"  // not a crime type: asked again
      "tip\n"
      "female\n"
      "16\n"
      "y\n"
      "pak, AF\n"  // alpha-3 accepted
      "\n"         // country of identification: default PK
      "PK-XX-1\n"  // bad subdivision: asked again
      "pk-sd\n"
      "forced_labour, sexual-exploitation\n"
      "police_operation\n"
      "share_with_agencies,statistics\n"
      "\n"  // given by: default guardian (a minor)
      "Ayesha\n"
      "\n"
      "y\n");
  std::ostringstream out;
  auto req = PromptIntake(in, out);
  ASSERT_OK(req) << out.str();
  EXPECT_NE(out.str().find("not valid: 'trafficking' is not known"), std::string::npos)
      << out.str();
  EXPECT_EQ(req->crime_type(), v1::CRIME_TYPE_TIP);
  const auto& p = req->profile();
  EXPECT_EQ(p.sex(), v1::SEX_FEMALE);
  EXPECT_EQ(p.age_years(), 16u);
  EXPECT_TRUE(p.age_estimated());
  ASSERT_EQ(p.citizenship_size(), 2);
  EXPECT_EQ(p.citizenship(0), "PK");
  EXPECT_EQ(p.citizenship(1), "AF");
  EXPECT_EQ(p.country_of_identification(), "PK");
  EXPECT_EQ(p.province_of_identification(), "PK-SD");
  ASSERT_EQ(p.exploitation_forms_size(), 2);
  EXPECT_EQ(p.exploitation_forms(0), v1::EXPLOITATION_FORM_FORCED_LABOUR);
  EXPECT_EQ(p.exploitation_forms(1), v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION);
  EXPECT_EQ(p.identification_channel(), v1::IDENTIFICATION_CHANNEL_POLICE_OPERATION);
  ASSERT_EQ(req->consents_size(), 2);
  EXPECT_EQ(req->consents(0).scope(), v1::CONSENT_SCOPE_SHARE_WITH_AGENCIES);
  EXPECT_EQ(req->consents(0).given_by(), v1::CONSENT_GIVER_GUARDIAN);
  EXPECT_EQ(req->consents(1).scope(), v1::CONSENT_SCOPE_STATISTICS);
  EXPECT_EQ(req->personal().given_name(), "Ayesha");
}

TEST(CtlIntakePrompt, AgeBandsAndOptionalAnswers) {
  std::istringstream in("som\nmale\n18-20\n" + std::string(8, '\n') + "y\n");
  std::ostringstream out;
  auto req = PromptIntake(in, out);
  ASSERT_OK(req) << out.str();
  EXPECT_EQ(req->crime_type(), v1::CRIME_TYPE_SOM);
  EXPECT_FALSE(req->profile().has_age_years());
  EXPECT_EQ(req->profile().age_band(), v1::AGE_BAND_18_20);
  EXPECT_EQ(req->consents_size(), 0);
  EXPECT_FALSE(req->has_personal());
}

TEST(CtlIntakePrompt, EndOfInputOrNoConfirmationRecordsNothing) {
  std::istringstream cut("tip\nfemale\n");
  std::ostringstream out;
  auto r = PromptIntake(cut, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().field(), "intake");
  EXPECT_EQ(ExitCodeFor(r.status()), kExitUsage);

  std::istringstream declined("tip\nfemale\n30\n" + std::string(9, '\n') + "n\n");
  r = PromptIntake(declined, out);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not confirmed"), std::string::npos);
}

}  // namespace
}  // namespace passage::ctl
