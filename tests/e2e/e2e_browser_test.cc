// The web workspace in a real browser (headless Chromium from Debian, driven by Selenium from
// Debian): tests/browser/workspace_flow.py has a police officer record a case in the intake form,
// then walks a shelter case worker through sign-in, the inbox, accepting the router's referral and
// opening the granted personal data, against this NRM.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "tests/e2e/nrm_harness.h"

namespace passage::e2e {
namespace {

constexpr char kCaseWorkerPassword[] = "case-worker-password-1";

TEST(E2eBrowser, ShelterCaseWorkerAcceptsAndOpensPersonalDataInChromium) {
  for (const char* tool : {"/usr/bin/chromium", "/usr/bin/chromedriver", "/usr/bin/python3"}) {
    ASSERT_TRUE(std::filesystem::exists(tool))
        << tool
        << " is missing: scripts/install-deps.sh installs chromium, chromium-driver and "
           "python3-selenium";
  }
  NrmOptions o;
  o.http = true;
  const v1::RuleSet rules = WomenToShelterRules();
  Nrm nrm({FirstResponder("fia-karachi"),
           Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER}, 0,
                      /*auto_accept=*/false)},
          rules, o);
  ASSERT_TRUE(nrm.Start());
  const std::string hostile = "<script>alert(1)</script>";
  v1::IntakeRequest in = AdultWomanSexuallyExploited();
  in.mutable_personal()->set_given_name(hostile);
  in.mutable_personal()->set_family_name("\"><img src=x onerror=alert(2)>");
  auto c = nrm.Intake("fia-karachi", in);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(nrm.WaitReceived(*c, "shelter-a"));
  ASSERT_TRUE(nrm.DeskSession("shelter-a").ok());
  ASSERT_TRUE(nrm.DeskSession("fia-karachi").ok());
  const int port = nrm.HttpPort("shelter-a");
  ASSERT_GT(port, 0);
  std::string reference;
  for (const auto& r : nrm.Inbox("shelter-a")) {
    if (r.case_id() == *c) reference = r.case_reference();
  }
  ASSERT_FALSE(reference.empty());
  // A case worker and nothing else, for the refused override.
  {
    auto admin = nrm.SignIn("shelter-a", "admin", Nrm::kAdminPassword);
    ASSERT_TRUE(admin.ok()) << admin.status().ToString();
    v1::ControlRequest add;
    add.set_session_token(*admin);
    add.mutable_staff()->set_op(v1::StaffRequest::OP_ADD);
    add.mutable_staff()->set_login("e2e.caseworker");
    add.mutable_staff()->set_password(kCaseWorkerPassword);
    add.mutable_staff()->set_permanent(true);
    add.mutable_staff()->add_roles(v1::ACTOR_ROLE_CASE_WORKER);
    auto added = nrm.CallRaw("shelter-a", add);
    ASSERT_TRUE(added.ok() && added->code() == v1::CONTROL_CODE_OK);
  }
  const std::string script = std::string(PASSAGE_SOURCE_DIR) + "/tests/browser/workspace_flow.py";
  const std::string shots = std::string(PASSAGE_BINARY_DIR) + "/screenshots";
  std::vector<std::string> args = {
      "/usr/bin/python3",
      script,
      "--url",
      "http://127.0.0.1:" + std::to_string(port),
      "--login",
      "e2e.desk",
      "--password",
      Nrm::kDeskPassword,
      "--case",
      *c,
      "--hostile",
      hostile,
      "--screenshots",
      shots,
      "--intake-url",
      "http://127.0.0.1:" + std::to_string(nrm.HttpPort("fia-karachi")),
      "--reference",
      reference,
      "--caseworker-login",
      "e2e.caseworker",
      "--caseworker-password",
      kCaseWorkerPassword,
      "--passagectl",
      PASSAGECTL_BIN,
      "--node-dir",
      nrm.dir() + "/nodes/shelter-a",
      "--sessions",
      nrm.dir() + "/sessions",
      "--axe",
      std::string(PASSAGE_SOURCE_DIR) + "/tests/browser/axe/axe.min.js"};
  const std::string out = nrm.dir() + "/browser.log";
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(out.c_str(), "w", stdout);
    f = std::freopen(out.c_str(), "a", stderr);
    (void)f;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  std::ifstream log(out);
  std::string text((std::istreambuf_iterator<char>(log)), {});
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << text;
  // The browser's clicks were real: the case it recorded is in the log, and the referral it
  // accepted is ACCEPTED.
  EXPECT_EQ(nrm.Cases("fia-karachi").size(), 2u);
  bool accepted = false;
  for (const auto& r : nrm.Inbox("shelter-a")) {
    accepted |= r.case_id() == *c && r.status() == v1::REFERRAL_STATUS_ACCEPTED;
  }
  EXPECT_TRUE(accepted);
  // The refused override recorded nothing: still one referral in the case.
  size_t referrals = 0;
  for (const auto& cs : nrm.Cases("fia-karachi")) {
    if (cs.case_id() == *c) referrals = static_cast<size_t>(cs.referrals_size());
  }
  EXPECT_EQ(referrals, 1u);
}

}  // namespace
}  // namespace passage::e2e
