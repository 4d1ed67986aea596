// The audit commands against a real NRM (tests/e2e/nrm_harness.h: passage-broker, the referral
// engine and an identification node, on loopback): the node exports the signed tree head it
// kept, proves through the broker that the grown log extends it, and the broker's log directory is
// audited read-only, refused for checkpoints while the broker holds it, and checkpointed and
// checked against the agency's head once the broker has stopped.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "services/ctl/audit.h"
#include "services/ctl/cli.h"
#include "services/ctl/ctl.h"
#include "tests/services/ctl_runner.h"
#include "tests/e2e/nrm_harness.h"

namespace passage::ctl {
namespace {

namespace fs = std::filesystem;


std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(CtlAuditE2e, AgencyHeadIsExtendedByTheBrokersLogAndTheLogAudits) {
  e2e::Nrm nrm({e2e::FirstResponder("fia-karachi")}, v1::RuleSet{});
  ASSERT_TRUE(nrm.Start());
  const std::string node = nrm.dir() + "/nodes/fia-karachi";
  const std::string broker_log = nrm.dir() + "/broker/log";

  auto first = nrm.Intake("fia-karachi", e2e::AdultWomanSexuallyExploited());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  // Tree heads and proofs are for an auditor (or coordinator): sign in first, as a person would.
  ASSERT_TRUE(nrm.DeskSession("fia-karachi").ok());
  CtlRun unsigned_heads = Ctl({"--node", node, "audit", "heads"});
  EXPECT_EQ(unsigned_heads.code, kExitNotSignedIn) << unsigned_heads.err;
  CtlRun login = Ctl({"--node", node, "login", "e2e.desk", "--password-file", "-"},
                     std::string(e2e::Nrm::kDeskPassword) + "\n");
  ASSERT_EQ(login.code, 0) << login.err;
  const std::string head_file = nrm.dir() + "/fia-head.json";
  CtlRun heads = Ctl({"--node", node, "audit", "heads", "--out", head_file});
  ASSERT_EQ(heads.code, 0) << heads.err;
  auto head = ParseSignedHeadJson(ReadFile(head_file), head_file);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_GE(head->head.tree_size, 3u);  // CaseOpened, IdentificationRecorded, ConsentGiven...

  auto second = nrm.Intake("fia-karachi", e2e::MinorInChildLabour());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  CtlRun online = Ctl({"--json", "--node", node, "audit", "consistency", "--sth", head_file});
  ASSERT_EQ(online.code, 0) << online.out << online.err;
  EXPECT_NE(online.out.find("\"consistent\":true"), std::string::npos) << online.out;
  EXPECT_EQ(online.out.find("\"second_size\":" + std::to_string(head->head.tree_size) + ","),
            std::string::npos)
      << "the log should have grown: " << online.out;

  // The live directory: readable (with a note), not checkpointed behind the broker's back.
  CtlRun live = Ctl({"audit", "verify", "--log", broker_log, "--against-sth", head_file});
  EXPECT_EQ(live.code, 0) << live.out << live.err;
  CtlRun refused = Ctl({"admin", "checkpoint", nrm.dir() + "/cp", "--log", broker_log});
  EXPECT_EQ(refused.code, kExitRefused) << refused.err;
  EXPECT_NE(refused.err.find("stop the broker"), std::string::npos) << refused.err;

  nrm.StopNode("broker");
  CtlRun cp = Ctl({"admin", "checkpoint", nrm.dir() + "/cp", "--log", nrm.dir() + "/broker"});
  ASSERT_EQ(cp.code, 0) << cp.err;
  CtlRun audit = Ctl({"audit", "verify", "--log", nrm.dir() + "/cp", "--against-sth", head_file});
  EXPECT_EQ(audit.code, 0) << audit.out << audit.err;
  CtlRun offline = Ctl({"audit", "consistency", "--sth", head_file, "--log", nrm.dir() + "/cp"});
  EXPECT_EQ(offline.code, 0) << offline.out << offline.err;
  CtlRun replay = Ctl({"replay", "--log", nrm.dir() + "/cp", "--case", *second, "--digest"});
  EXPECT_EQ(replay.code, 0) << replay.err;
}

}  // namespace
}  // namespace passage::ctl
