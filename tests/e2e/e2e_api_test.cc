// The HTTP API end to end (issue #15, part 4): a broker, the router and two agency nodes (a first
// responder and a shelter) serving the API on loopback; API keys made with the real passagectl by
// each node's admin; and a client written in Python from docs/api/openapi.json alone
// (tests/api/api_client.py), which creates a case at the first responder, finds the referral in the
// shelter's event feed, accepts it, sees the acceptance in the first responder's feed, and checks
// the bad input. The shelter's node is then restarted and its feed read again.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "tests/e2e/nrm_harness.h"

namespace passage::e2e {
namespace {

constexpr const char* kFia = "fia-api";
constexpr const char* kShelter = "shelter-api";

// Runs the Python client with `phase`; its exit status and output.
CtlProc RunClient(const std::string& phase, const std::string& config, const std::string& dir) {
  const std::string out = dir + "/client-" + phase + ".out";
  pid_t pid = fork();
  if (pid == 0) {
    (void)!freopen("/dev/null", "r", stdin);
    (void)!freopen(out.c_str(), "w", stdout);
    (void)dup2(fileno(stdout), fileno(stderr));
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::vector<std::string> args = {PASSAGE_PYTHON3,
                                     std::string(PASSAGE_SOURCE_DIR) + "/tests/api/api_client.py",
                                     "--openapi",
                                     std::string(PASSAGE_SOURCE_DIR) + "/docs/api/openapi.json",
                                     "--config",
                                     config,
                                     "--phase",
                                     phase};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  CtlProc p;
  p.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream o(out);
  p.out.assign(std::istreambuf_iterator<char>(o), {});
  return p;
}

class ApiE2e : public ::testing::Test {
 protected:
  // Signs the node's admin in with passagectl (the session is kept under sessions_).
  void AdminLogin(const std::string& node) {
    CtlProc p = Passagectl({"--node", Dir(node), "login", "admin", "--password-file", "-"},
                           std::string(Nrm::kAdminPassword) + "\n", sessions_, nrm_->dir());
    ASSERT_EQ(p.code, 0) << p.err;
  }
  std::string Dir(const std::string& node) const { return nrm_->dir() + "/nodes/" + node; }

  // `passagectl apikey create` as the node's admin: the key id and the key.
  std::pair<std::string, std::string> CreateKey(const std::string& node, const std::string& name,
                                                const std::string& roles, int rate = 0) {
    std::vector<std::string> args = {"--node", Dir(node), "--json", "apikey", "create", name,
                                     "--roles", roles};
    if (rate > 0) {
      args.push_back("--rate");
      args.push_back(std::to_string(rate));
    }
    CtlProc p = Passagectl(args, "", sessions_, nrm_->dir());
    EXPECT_EQ(p.code, 0) << p.err;
    google::protobuf::Struct j;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(p.out, &j).ok()) << p.out;
    return {detail::Str(j, "key_id"), detail::Str(j, "key")};
  }

  std::unique_ptr<Nrm> nrm_;
  std::string sessions_;
};

TEST_F(ApiE2e, AClientWrittenFromTheOpenApiDocumentCreatesACaseAndAcceptsItsReferral) {
  NrmOptions o;
  o.http = true;
  nrm_ = std::make_unique<Nrm>(
      std::vector<AgencySpec>{FirstResponder(kFia),
                              Protection(kShelter, v1::AGENCY_TYPE_SHELTER,
                                         {v1::SERVICE_TYPE_SHELTER}, 0, /*auto_accept=*/false)},
      WomenToShelterRules(), o);
  ASSERT_TRUE(nrm_->Start());
  sessions_ = nrm_->dir() + "/sessions";
  AdminLogin(kFia);
  AdminLogin(kShelter);

  const auto a = CreateKey(kFia, "fia-register", "case-worker");
  const auto b = CreateKey(kShelter, "shelter-oscar", "case-worker,supervisor");
  const auto auditor = CreateKey(kShelter, "shelter-audit", "auditor");
  const auto slow = CreateKey(kShelter, "shelter-slow", "case-worker", 3);
  const auto revoked = CreateKey(kShelter, "shelter-old", "case-worker");
  ASSERT_FALSE(a.second.empty());
  CtlProc p = Passagectl({"--node", Dir(kShelter), "apikey", "revoke", revoked.first}, "",
                         sessions_, nrm_->dir());
  ASSERT_EQ(p.code, 0) << p.err;
  p = Passagectl({"--node", Dir(kShelter), "apikey", "list"}, "", sessions_, nrm_->dir());
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find(revoked.first), std::string::npos);
  EXPECT_NE(p.out.find("revoked"), std::string::npos);
  EXPECT_EQ(p.out.find(b.second), std::string::npos) << "the list shows a key";
  // A role an API key may not hold, and a key id that does not exist, are named.
  p = Passagectl({"--node", Dir(kShelter), "apikey", "create", "x", "--roles", "node-admin"}, "",
                 sessions_, nrm_->dir());
  EXPECT_EQ(p.code, 2);
  EXPECT_NE(p.err.find("--roles"), std::string::npos) << p.err;
  p = Passagectl({"--node", Dir(kShelter), "apikey", "revoke", "k-000000000000"}, "", sessions_,
                 nrm_->dir());
  EXPECT_EQ(p.code, 3) << p.err;

  std::string intake;
  google::protobuf::util::JsonPrintOptions jo;
  jo.preserve_proto_field_names = true;
  ASSERT_TRUE(
      google::protobuf::util::MessageToJsonString(AdultWomanSexuallyExploited(), &intake, jo).ok());
  const std::string config = nrm_->dir() + "/api-client.json";
  // The nodes listen on any free port: written again after a restart.
  auto write_config = [&] {
    std::ofstream(config) << "{\"a_url\":\"http://127.0.0.1:" << nrm_->HttpPort(kFia)
                          << "\",\"b_url\":\"http://127.0.0.1:" << nrm_->HttpPort(kShelter)
                          << "\",\"keys\":{\"a\":\"" << a.second << "\",\"b\":\"" << b.second
                          << "\",\"b_auditor\":\"" << auditor.second << "\",\"b_slow\":\""
                          << slow.second << "\",\"b_revoked\":\"" << revoked.second
                          << "\"},\"intake\":" << intake << ",\"state_file\":\"" << nrm_->dir()
                          << "/api-client-state.json\"}";
  };
  write_config();

  CtlProc run = RunClient("main", config, nrm_->dir());
  ASSERT_EQ(run.code, 0) << run.out;

  // The refusals are in the shelter's security log, with the true cause; never a key.
  p = Passagectl({"--node", Dir(kShelter), "staff", "log", "--limit", "200"}, "", sessions_,
                 nrm_->dir());
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("api key refused"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("revoked key " + revoked.first), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("api key rate limited"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("forbidden"), std::string::npos) << p.out;
  EXPECT_EQ(p.out.find(revoked.second), std::string::npos);

  // The feed is durable: the shelter's node restarts and its client finds the same items.
  ASSERT_TRUE(nrm_->RestartNode(kShelter));
  write_config();
  run = RunClient("restart", config, nrm_->dir());
  ASSERT_EQ(run.code, 0) << run.out;

  // No key and no personal data in any process log.
  for (const std::string id : {kFia, kShelter}) {
    const std::string log = nrm_->Log(id);
    EXPECT_EQ(log.find(b.second), std::string::npos) << id;
    EXPECT_EQ(log.find("Synthetic"), std::string::npos) << id;
  }
}

}  // namespace
}  // namespace passage::e2e
