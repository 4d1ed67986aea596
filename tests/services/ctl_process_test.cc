// The real passagectl binary against a FAKE node: a REP socket on ipc:// in a temp directory that
// records each ControlRequest and answers with a canned ControlResponse. Checks what scripts rely
// on: exit codes, the single "passagectl: FIELD: REASON" line, --json, and that an unreachable or
// silent node ends in exit 4 within the timeout.

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <tuple>
#include <zmq.hpp>

#include "passage/v1/control.pb.h"
#include "tests/testing/temp_dir.h"

extern char** environ;

namespace passage::ctl {
namespace {

namespace v1 = passage::v1;

constexpr char kReferral[] = "0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b";
constexpr char kCase[] = "0190a3c4-6e7f-7000-8b1c-2d3e4f5a6b7c";

using Handler = std::function<v1::ControlResponse(const v1::ControlRequest&)>;

// A node's control socket and nothing else. Answers with `handler`; with `silent` it reads
// requests and never answers.
class FakeNode {
 public:
  FakeNode(const std::string& dir, Handler handler, bool silent = false)
      : handler_(std::move(handler)), silent_(silent) {
    sock_.set(zmq::sockopt::linger, 0);
    sock_.bind("ipc://" + dir + "/control.sock");
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeNode() {
    stop_ = true;
    thread_.join();
    sock_.close();
    ctx_.close();
  }

  std::vector<v1::ControlRequest> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      if ((item.revents & ZMQ_POLLIN) == 0) {
        continue;
      }
      zmq::message_t msg;
      if (!sock_.recv(msg, zmq::recv_flags::dontwait)) {
        continue;
      }
      v1::ControlRequest req;
      req.ParseFromArray(msg.data(), static_cast<int>(msg.size()));
      {
        std::lock_guard<std::mutex> l(mu_);
        requests_.push_back(req);
      }
      if (silent_) {
        continue;  // the REP socket now waits for a send that never comes
      }
      std::string out = handler_(req).SerializeAsString();
      sock_.send(zmq::buffer(out), zmq::send_flags::none);
    }
  }

  Handler handler_;
  bool silent_;
  zmq::context_t ctx_{1};
  zmq::socket_t sock_{ctx_, zmq::socket_type::rep};
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<v1::ControlRequest> requests_;
};

v1::ControlResponse Ok(std::string text, std::string json = "") {
  v1::ControlResponse r;
  r.set_text(std::move(text));
  r.set_json(std::move(json));
  return r;
}

v1::ControlResponse Error(v1::ControlCode code, std::string field, std::string reason) {
  v1::ControlResponse r;
  r.set_code(code);
  r.set_field(std::move(field));
  r.set_reason(std::move(reason));
  return r;
}

struct CtlRun {
  int exit_code = -1;
  std::string out;
  std::string err;
  double seconds = 0;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs passagectl with `args`, standard input from `stdin_text`, PASSAGE_NODE unset. Kills it
// after 30 s so a hang fails the test instead of blocking it.
CtlRun RunCtl(const testing::TempDir& dir, const std::vector<std::string>& args,
              const std::string& stdin_text = "") {
  static int counter = 0;
  const std::string base = dir.Sub("run" + std::to_string(++counter));
  { std::ofstream(base + ".in") << stdin_text; }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, (base + ".in").c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, (base + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&fa, 2, (base + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  std::vector<std::string> argv_s = {PASSAGECTL_BIN};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).rfind("PASSAGE_NODE=", 0) != 0) {
      envp.push_back(*e);
    }
  }
  envp.push_back(nullptr);
  CtlRun run;
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = 0;
  int rc = posix_spawn(&pid, PASSAGECTL_BIN, &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    ADD_FAILURE() << "cannot start " << PASSAGECTL_BIN;
    return run;
  }
  int status = 0;
  for (;;) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      break;
    }
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(30)) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "passagectl hung; killed";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.out = ReadAll(base + ".out");
  run.err = ReadAll(base + ".err");
  return run;
}

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(PassagectlProcess, StatusPrintsTheNodesTextOrJson) {
  testing::TempDir dir;
  FakeNode node(dir.path(), [](const v1::ControlRequest& req) {
    return Ok("agency      fia-ahtc (identification)\n",
              req.json() ? "{\"agency\":\"fia-ahtc\"}" : "");
  });
  CtlRun text = RunCtl(dir, {"--node", dir.path(), "status"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out, "agency      fia-ahtc (identification)\n");
  EXPECT_EQ(text.err, "");

  CtlRun json = RunCtl(dir, {"status", "--json", "--node", dir.path()});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.out, "{\"agency\":\"fia-ahtc\"}\n");

  auto reqs = node.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_TRUE(reqs[0].has_status());
  EXPECT_FALSE(reqs[0].json());
  EXPECT_TRUE(reqs[1].json());
}

TEST(PassagectlProcess, ControlCodesBecomeExitCodesWithOneErrorLine) {
  const std::vector<std::tuple<v1::ControlCode, std::string, std::string, int, std::string>> cases =
      {
          // The event's path is said as the user typed it: the move itself needs no field name,
          // the note is --note.
          {v1::CONTROL_CODE_REFUSED, "referral_transition.to",
           "only the recipient (ngo-x) may accept a referral", 1,
           "passagectl: only the recipient (ngo-x) may accept a referral\n"},
          {v1::CONTROL_CODE_INVALID, "referral_transition.note", "is too long", 2,
           "passagectl: --note: is too long\n"},
          {v1::CONTROL_CODE_INVALID, "note", "is too long", 2, "passagectl: note: is too long\n"},
          {v1::CONTROL_CODE_NOT_FOUND, "referral_id", "no referral X is known to ngo-x", 3,
           "passagectl: referral_id: no referral X is known to ngo-x\n"},
          {v1::CONTROL_CODE_UNAVAILABLE, "", "the broker has not answered yet;\nqueued", 4,
           "passagectl: the broker has not answered yet; queued\n"},
          {v1::CONTROL_CODE_INTERNAL, "", "store failed", 5, "passagectl: store failed\n"},
      };
  for (const auto& [code, field, reason, exit_code, line] : cases) {
    testing::TempDir dir;
    FakeNode node(dir.path(),
                  [&, code = code, field = field, reason = reason](const v1::ControlRequest&) {
                    return Error(code, field, reason);
                  });
    CtlRun r = RunCtl(dir, {"--node", dir.path(), "referral", "accept", kReferral});
    EXPECT_EQ(r.exit_code, exit_code) << r.err;
    EXPECT_EQ(r.err, line);
    EXPECT_EQ(Lines(r.err), 1);
    EXPECT_EQ(r.out, "");
    auto reqs = node.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].referral_action().to(), v1::REFERRAL_STATUS_ACCEPTED);
  }
}

TEST(PassagectlProcess, UsageErrorsExitTwoWithoutTouchingTheNode) {
  testing::TempDir dir;
  FakeNode node(dir.path(), [](const v1::ControlRequest&) { return Ok("x"); });
  CtlRun r = RunCtl(dir, {"--node", dir.path(), "referral", "reject", kReferral});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(Lines(r.err), 1);
  EXPECT_EQ(r.err.rfind("passagectl: --reason: required to reject", 0), 0u) << r.err;

  r = RunCtl(dir, {"status"});  // no --node, no PASSAGE_NODE
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("passagectl: --node: ", 0), 0u) << r.err;

  r = RunCtl(dir, {"referral", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("usage: passagectl referral"), std::string::npos);
  EXPECT_TRUE(node.requests().empty());
}

TEST(PassagectlProcess, MissingNodeExitsFourAtOnce) {
  testing::TempDir dir;  // no control socket in it
  CtlRun r = RunCtl(dir, {"--node", dir.path(), "--timeout", "2000", "status"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(Lines(r.err), 1);
  EXPECT_EQ(r.err.rfind("passagectl: node: no control socket at " + dir.path(), 0), 0u) << r.err;
  EXPECT_LT(r.seconds, 2.0);
}

TEST(PassagectlProcess, StaleSocketOfAStoppedNodeExitsFourAtOnce) {
  testing::TempDir dir;
  // A socket file nobody listens on, as a killed node leaves behind.
  const std::string path = dir.Sub("control.sock");
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(fd);
  CtlRun r = RunCtl(dir, {"--node", dir.path(), "--timeout", "5000", "status"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(Lines(r.err), 1);
  EXPECT_EQ(r.err.rfind("passagectl: node: the node is not running", 0), 0u) << r.err;
  EXPECT_LT(r.seconds, 2.0);
}

TEST(PassagectlProcess, SilentNodeExitsFourWithinTheTimeout) {
  testing::TempDir dir;
  FakeNode node(dir.path(), nullptr, /*silent=*/true);
  CtlRun r = RunCtl(dir, {"--node", dir.path(), "--timeout", "300", "inbox"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_EQ(Lines(r.err), 1);
  EXPECT_NE(r.err.find("no answer from ipc://" + dir.path() + "/control.sock within 300 ms"),
            std::string::npos)
      << r.err;
  EXPECT_GE(r.seconds, 0.29);
  EXPECT_LT(r.seconds, 3.0);  // the timed-out REQ socket did not hold the process
  EXPECT_EQ(node.requests().size(), 1u);
}

TEST(PassagectlProcess, NothingListeningOnTcpExitsFourWithinTheTimeout) {
  testing::TempDir dir;
  // Reserve a port, then free it: nothing listens there.
  std::string endpoint;
  {
    zmq::context_t ctx;
    zmq::socket_t s(ctx, zmq::socket_type::rep);
    s.set(zmq::sockopt::linger, 0);
    s.bind("tcp://127.0.0.1:*");
    endpoint = s.get(zmq::sockopt::last_endpoint);
  }
  CtlRun r = RunCtl(dir, {"--node", endpoint, "--timeout", "300", "status"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_EQ(Lines(r.err), 1);
  EXPECT_LT(r.seconds, 3.0);
}

TEST(PassagectlProcess, ResumeReturnsToTheHeldFromState) {
  testing::TempDir dir;
  v1::Referral ref;
  ref.set_referral_id(kReferral);
  ref.set_case_id(kCase);
  ref.set_status(v1::REFERRAL_STATUS_ON_HOLD);
  auto add = [&](v1::ReferralStatus from, v1::ReferralStatus to) {
    auto* h = ref.add_history();
    h->set_from(from);
    h->set_to(to);
  };
  add(v1::REFERRAL_STATUS_UNSPECIFIED, v1::REFERRAL_STATUS_SENT);
  add(v1::REFERRAL_STATUS_SENT, v1::REFERRAL_STATUS_RECEIVED);
  add(v1::REFERRAL_STATUS_RECEIVED, v1::REFERRAL_STATUS_ON_HOLD);
  add(v1::REFERRAL_STATUS_ON_HOLD, v1::REFERRAL_STATUS_RECEIVED);
  add(v1::REFERRAL_STATUS_RECEIVED, v1::REFERRAL_STATUS_ACCEPTED);
  add(v1::REFERRAL_STATUS_ACCEPTED, v1::REFERRAL_STATUS_ON_HOLD);
  std::string ref_json;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(ref, &ref_json, o).ok());
  FakeNode node(dir.path(), [&](const v1::ControlRequest& req) {
    if (req.has_inbox()) {
      return Ok("", "[" + ref_json + "]");
    }
    return Ok("referral " + req.referral_action().referral_id() + " is now ACCEPTED");
  });
  CtlRun r = RunCtl(dir, {"--node", dir.path(), "referral", "resume", kReferral, "--note", "back"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string("referral ") + kReferral + " is now ACCEPTED\n");
  auto reqs = node.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_TRUE(reqs[0].has_inbox());
  EXPECT_TRUE(reqs[0].inbox().include_closed());
  EXPECT_TRUE(reqs[0].json());
  EXPECT_EQ(reqs[1].referral_action().to(), v1::REFERRAL_STATUS_ACCEPTED);
  EXPECT_EQ(reqs[1].referral_action().note(), "back");

  // Not on hold: refused here, nothing sent.
  testing::TempDir dir2;
  ref.set_status(v1::REFERRAL_STATUS_IN_PROGRESS);
  ref_json.clear();
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(ref, &ref_json, o).ok());
  FakeNode node2(dir2.path(),
                 [&](const v1::ControlRequest&) { return Ok("", "[" + ref_json + "]"); });
  r = RunCtl(dir2, {"--node", dir2.path(), "referral", "resume", kReferral});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is IN_PROGRESS, not ON_HOLD"), std::string::npos) << r.err;
  EXPECT_EQ(node2.requests().size(), 1u);

  // Unknown referral: not found.
  testing::TempDir dir3;
  FakeNode node3(dir3.path(), [](const v1::ControlRequest&) { return Ok("", "[]"); });
  r = RunCtl(dir3, {"--node", dir3.path(), "referral", "resume", kReferral});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err.rfind("passagectl: REFERRAL_ID: no referral", 0), 0u) << r.err;
}

TEST(PassagectlProcess, IntakeFromAJsonFile) {
  testing::TempDir dir;
  FakeNode node(dir.path(), [](const v1::ControlRequest&) {
    v1::ControlResponse r = Ok(std::string("opened case ") + kCase + " (1 consent(s) recorded)");
    r.add_case_ids(kCase);
    return r;
  });
  std::ofstream(dir.Sub("victim.json"))
      << R"({"crime_type":"CRIME_TYPE_TIP","profile":{"sex":"SEX_FEMALE","age_years":16},
            "consents":[{"scope":"CONSENT_SCOPE_SHARE_WITH_AGENCIES","given_by":"CONSENT_GIVER_GUARDIAN"}],
            "personal":{"given_name":"Ayesha"}})";
  CtlRun r = RunCtl(dir, {"--node", dir.path(), "intake", "--file", dir.Sub("victim.json")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(kCase), std::string::npos);
  auto reqs = node.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& in = reqs[0].intake();
  EXPECT_EQ(in.crime_type(), v1::CRIME_TYPE_TIP);
  EXPECT_EQ(in.person_role(), v1::PERSON_ROLE_PRESUMED_VICTIM);  // defaulted by passagectl
  EXPECT_EQ(in.profile().age_years(), 16u);
  EXPECT_EQ(in.consents_size(), 1);
  EXPECT_EQ(in.personal().given_name(), "Ayesha");

  // The same from standard input.
  r = RunCtl(dir, {"--node", dir.path(), "intake", "--file", "-"}, ReadAll(dir.Sub("victim.json")));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(node.requests().size(), 2u);
}

TEST(PassagectlProcess, BadIntakeFileIsNamedAndNothingIsSent) {
  testing::TempDir dir;
  FakeNode node(dir.path(), [](const v1::ControlRequest&) { return Ok("x"); });
  std::ofstream(dir.Sub("bad.json")) << R"({"crime_type":"CRIME_TYPE_TIP","profil":{}})";
  CtlRun r = RunCtl(dir, {"--node", dir.path(), "intake", "--file", dir.Sub("bad.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(Lines(r.err), 1);
  EXPECT_EQ(r.err.rfind("passagectl: " + dir.Sub("bad.json") + ": is not a valid", 0), 0u) << r.err;

  // What the protobuf reader would forgive is refused, naming the field: TIP then SOM would have
  // stored the case as smuggling.
  std::ofstream(dir.Sub("twice.json"))
      << R"({"crime_type":"CRIME_TYPE_TIP","profile":{"sex":"SEX_FEMALE"},)"
      << R"("crime_type":"CRIME_TYPE_SOM"})";
  r = RunCtl(dir, {"--node", dir.path(), "intake", "--file", dir.Sub("twice.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("passagectl: crime_type: in " + dir.Sub("twice.json") +
                            ": is given twice",
                        0),
            0u)
      << r.err;
  std::ofstream(dir.Sub("nested.json")) << R"({"profile":{"citizenship":[["PK"]]}})";
  r = RunCtl(dir, {"--node", dir.path(), "intake", "--file", dir.Sub("nested.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("profile.citizenship[0]"), std::string::npos) << r.err;
  EXPECT_TRUE(node.requests().empty()) << "nothing was sent for a bad file";

  r = RunCtl(dir, {"--node", dir.path(), "intake", "--file", dir.Sub("missing.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("passagectl: " + dir.Sub("missing.json") + ": cannot be read", 0), 0u)
      << r.err;

  // No --file and standard input is not a terminal: no questions, a usage error.
  r = RunCtl(dir, {"--node", dir.path(), "intake"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("passagectl: --file: required", 0), 0u) << r.err;
  EXPECT_TRUE(node.requests().empty());
}

TEST(PassagectlProcess, PublishSendsTheEventFromJson) {
  testing::TempDir dir;
  FakeNode node(dir.path(), [](const v1::ControlRequest&) { return Ok("recorded event e-1"); });
  std::ofstream(dir.Sub("ev.json"))
      << R"({"case_id":")" << kCase << R"(","case_closed":{"reason":"duplicate"}})";
  CtlRun r = RunCtl(dir, {"--node", dir.path(), "publish", "--file", dir.Sub("ev.json")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "recorded event e-1\n");
  auto reqs = node.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].publish().event().case_id(), kCase);
  EXPECT_EQ(reqs[0].publish().event().case_closed().reason(), "duplicate");
}

TEST(PassagectlProcess, ImportCtdcCountsImportedRefusedAndBadRows) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("ctdc.csv")) << "yearOfRegistration,gender,ageBroad,citizenship\n"
                                        "2020,Female,9--17,PK\n"
                                        "2021,Male,18--20,AF\n"
                                        "2021,Alien,18--20,AF\n"
                                        "2022,Female,48+,PK\n";
  int n = 0;
  FakeNode node(dir.path(), [&](const v1::ControlRequest&) {
    if (++n == 2) {
      return Error(v1::CONTROL_CODE_INVALID, "profile.citizenship[0]", "not allowed here");
    }
    v1::ControlResponse r = Ok("opened");
    r.add_case_ids(kCase);
    return r;
  });
  CtlRun r = RunCtl(
      dir, {"--node", dir.path(), "import-ctdc", dir.Sub("ctdc.csv"), "--consent", "statistics"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("imported              2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("refused               1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 x profile.citizenship[0]: not allowed here"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CSV rows with errors  1"), std::string::npos) << r.out;
  // Not a terminal: progress lines, the last at 100%.
  EXPECT_NE(r.err.find("import-ctdc: 100% (3/3)"), std::string::npos) << r.err;
  auto reqs = node.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].intake().profile().age_band(), v1::AGE_BAND_9_17);
  ASSERT_EQ(reqs[0].intake().consents_size(), 1);
  EXPECT_EQ(reqs[0].intake().consents(0).scope(), v1::CONSENT_SCOPE_STATISTICS);
  EXPECT_EQ(reqs[0].intake().consents(0).given_by(), v1::CONSENT_GIVER_GUARDIAN);  // a minor
  EXPECT_EQ(reqs[2].intake().consents(0).given_by(), v1::CONSENT_GIVER_SELF);
  EXPECT_EQ(reqs[0].intake().person_role(), v1::PERSON_ROLE_PRESUMED_VICTIM);

  // --limit and --skip select records; --json gives a summary object.
  r = RunCtl(dir, {"--json", "--node", dir.path(), "import-ctdc", dir.Sub("ctdc.csv"), "--skip",
                   "2", "--limit", "5"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"selected\":1,\"imported\":1"), std::string::npos) << r.out;
}

TEST(PassagectlProcess, ImportCtdcFailsOnlyWhenNothingIsImported) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("ctdc.csv")) << "gender,ageBroad\nFemale,9--17\nMale,30--38\n";
  FakeNode node(dir.path(), [](const v1::ControlRequest&) {
    return Error(v1::CONTROL_CODE_REFUSED, "", "no sealing key");
  });
  CtlRun r = RunCtl(dir, {"--node", dir.path(), "import-ctdc", dir.Sub("ctdc.csv")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("2 x no sealing key"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("passagectl: nothing was imported"), std::string::npos) << r.err;

  // Not a CTDC file at all.
  std::ofstream(dir.Sub("other.csv")) << "a,b\n1,2\n";
  r = RunCtl(dir, {"--node", dir.path(), "import-ctdc", dir.Sub("other.csv")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(Lines(r.err), 1);
  EXPECT_EQ(r.err.rfind("passagectl: FILE: ", 0), 0u) << r.err;

  // Node gone: exit 4 after the first attempt, not one timeout per record.
  testing::TempDir empty;
  r = RunCtl(empty, {"--node", empty.path(), "import-ctdc", dir.Sub("ctdc.csv")});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("passagectl: node: nothing was imported"), std::string::npos) << r.err;
}

TEST(PassagectlProcess, KeygenWritesPrivateKeyFilesOnce) {
  testing::TempDir dir;
  const std::string prefix = dir.Sub("ngo-x");
  CtlRun r = RunCtl(dir, {"keygen", "--out", prefix});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string ext : {".curve", ".seal"}) {
    struct stat st {};
    ASSERT_EQ(stat((prefix + ext).c_str(), &st), 0) << ext;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << ext;
  }
  std::string curve = ReadAll(prefix + ".curve");
  std::string seal = ReadAll(prefix + ".seal");
  EXPECT_EQ(curve.rfind("public: ", 0), 0u);
  EXPECT_NE(curve.find("\nsecret: "), std::string::npos);
  EXPECT_EQ(seal.size(), std::string("public: \nsecret: \n").size() + 64 + 64) << seal;
  // The printed public keys are the files' public keys.
  EXPECT_NE(r.out.find(curve.substr(8, 40)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(seal.substr(8, 64)), std::string::npos) << r.out;

  CtlRun again = RunCtl(dir, {"keygen", "--out", prefix});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_EQ(again.err.rfind("passagectl: --out: ", 0), 0u) << again.err;
  EXPECT_EQ(ReadAll(prefix + ".curve"), curve);  // untouched

  CtlRun forced = RunCtl(dir, {"--json", "keygen", "--out", prefix, "--force"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(ReadAll(prefix + ".curve"), curve);
  EXPECT_NE(forced.out.find("\"sealing_public_key\":\""), std::string::npos);
}

}  // namespace
}  // namespace passage::ctl
