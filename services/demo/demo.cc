// passage-demo: the main job. Starts a broker, the referral engine and the agency nodes of a sample
// NRM on loopback (keys made on the fly, an embedded temporary data directory), runs a realistic
// scenario through them — 200 cases whose attribute mix follows the CTDC reference rows, a declined
// referral that escalates, a missed deadline, an agency offline for part of the run that catches up,
// a withdrawn consent and a prosecution through to verdict — then prints three journeys, referral
// indicators, a disaggregated table and the log's signed tree head, and stops everything.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "core/codes.h"
#include "core/ctdc/ctdc_import.h"
#include "core/ids.h"
#include "core/text_proto.h"
#include "services/ctl/control_client.h"
#include "passage/v1/config.pb.h"
#include "passage/v1/control.pb.h"
#include "services/runtime/sealing.h"
#include "transport/keys.h"

namespace passage::demo {
namespace {

namespace v1 = passage::v1;
using Clock = std::chrono::steady_clock;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Say(const char* fmt, const std::string& a = "", const std::string& b = "") {
  std::printf(fmt, a.c_str(), b.c_str());
  std::fflush(stdout);
}

// A fresh password for the demo's staff accounts (printed when the nodes are up).
std::string RandomPassword() {
  static constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
  std::random_device rd;
  std::string out = "demo-";
  for (int i = 0; i < 10; ++i) {
    out += kAlphabet[rd() % (sizeof(kAlphabet) - 1)];
  }
  return out;
}

struct Proc {
  std::string name;
  std::vector<std::string> argv;
  pid_t pid = -1;
};

class Demo {
 public:
  Demo(std::string dir, std::string bin_dir, std::string source_dir)
      : dir_(std::move(dir)), bin_(std::move(bin_dir)), src_(std::move(source_dir)) {}

  ~Demo() { StopAll(); }

  int Run() {
    auto t0 = Clock::now();
    if (!Setup()) {
      return 1;
    }
    Say("== Passage demo: a sample NRM on one machine (data in %s)\n", dir_);
    if (!StartBroker() || !StartNodes()) {
      return 1;
    }
    // The legal-aid NGO is offline during intake; it catches up later.
    Stop("lhrla-legal-aid");
    Say("-- %s is offline for the first part of the run\n", "lhrla-legal-aid");

    if (!Intake()) {
      return 1;
    }
    IomCaseWorkers();
    LawEnforcement();
    Settle(8);
    NotesAndDocuments();
    Scenario();
    Say("-- %s comes back online and catches up\n", "lhrla-legal-aid");
    Start("lhrla-legal-aid");
    WaitReady("lhrla-legal-aid");
    Settle(6);
    Report();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (::isatty(STDIN_FILENO) == 1 && ::isatty(STDOUT_FILENO) == 1) {
      ServeUntilInterrupted(secs);
    }
    std::printf("\n== demo finished in %.1f s; stopping the NRM\n", secs);
    StopAll();
    return ok_ ? 0 : 1;
  }

 private:
  // ---- set-up -----------------------------------------------------------------------------------
  bool Setup() {
    std::filesystem::create_directories(dir_);
    std::string reg_text = Slurp(src_ + "/deploy/config/registry.textproto");
    Status s = core::ParseConfigText(reg_text, "deploy/config/registry.textproto", &registry_);
    if (!s.ok()) {
      std::fprintf(stderr, "passage-demo: %s\n", s.ToString().c_str());
      return false;
    }
    for (auto& a : *registry_.mutable_agencies()) {
      // Room for the demo's 200 cases, except the small shelter that must decline.
      if (a.id() == "dastak-shelter") {
        a.set_capacity(400);
      } else if (a.id() == "sindh-cpu") {
        a.set_capacity(100);
      }
      auto curve = transport::GenerateCurveKeyPair();
      auto seal = runtime::GenerateSealingKeyPair();
      a.set_transport_public_key(curve.public_z85);
      a.set_sealing_public_key(runtime::ToHex(seal.public_key));
      std::string base = dir_ + "/keys/" + a.id();
      std::filesystem::create_directories(dir_ + "/keys");
      (void)transport::WriteKeyFile(base + ".curve", curve);
      std::ofstream(base + ".seal") << "public: " << runtime::ToHex(seal.public_key)
                                    << "\nsecret: " << runtime::ToHex(seal.secret_key) << "\n";
    }
    std::ofstream(dir_ + "/registry.textproto") << registry_.DebugString();
    broker_keys_ = transport::GenerateCurveKeyPair();
    (void)transport::WriteKeyFile(dir_ + "/keys/broker.curve", broker_keys_);
    std::ofstream(dir_ + "/keys/person.secret")
        << runtime::ToHex(std::string(32, '\x5a'));  // demo NRM secret for person keys

    // The sample rules with drill deadlines, so a missed deadline happens within the demo.
    v1::RuleSet rules;
    s = core::ParseConfigText(Slurp(src_ + "/deploy/config/rules.textproto"),
                              "deploy/config/rules.textproto", &rules);
    if (!s.ok()) {
      std::fprintf(stderr, "passage-demo: %s\n", s.ToString().c_str());
      return false;
    }
    for (auto& r : *rules.mutable_rules()) {
      r.set_respond_within_seconds(r.name() == "return-reintegration" ? 6 : 300);
    }
    std::ofstream(dir_ + "/rules.textproto") << rules.DebugString();
    return true;
  }

  std::string StageOf(const v1::Agency& a) {
    if (a.system_principal()) {
      return "router";
    }
    if (a.first_responder()) {
      return "identification";
    }
    if (a.type() == v1::AGENCY_TYPE_PROSECUTION) {
      return "prosecution";
    }
    if (a.type() == v1::AGENCY_TYPE_OVERSIGHT) {
      return "";
    }
    return "protection";
  }

  bool StartBroker() {
    Proc p;
    p.name = "broker";
    p.argv = {bin_ + "/broker/server/passage-broker", "--data-dir", dir_ + "/broker", "--registry",
              dir_ + "/registry.textproto", "--key-file", dir_ + "/keys/broker.curve", "--listen",
              "tcp://127.0.0.1:0", "--endpoint-file", dir_ + "/broker.endpoint"};
    procs_["broker"] = p;
    Start("broker");
    for (int i = 0; i < 250; ++i) {
      std::ifstream in(dir_ + "/broker.endpoint");
      if (in >> endpoint_) {
        Say("-- broker serving on %s (CURVE, unknown keys refused)\n", endpoint_);
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::fprintf(stderr, "passage-demo: the broker did not start; see %s/logs/broker.log\n",
                 dir_.c_str());
    ok_ = false;
    return false;
  }

  bool StartNodes() {
    for (const auto& a : registry_.agencies()) {
      std::string stage = StageOf(a);
      if (stage.empty()) {
        continue;
      }
      std::string data = dir_ + "/nodes/" + a.id();
      std::filesystem::create_directories(data);
      v1::NodeConfig c;
      c.set_agency_id(a.id());
      c.set_broker_endpoint(endpoint_);
      c.set_broker_public_key(broker_keys_.public_z85);
      c.set_secret_key_file(dir_ + "/keys/" + a.id() + ".curve");
      c.set_sealing_key_file(dir_ + "/keys/" + a.id() + ".seal");
      c.set_person_secret_file(dir_ + "/keys/person.secret");
      c.set_data_dir(data);
      c.set_registry_file(dir_ + "/registry.textproto");
      c.set_tick_ms(200);
      c.mutable_http()->set_listen("127.0.0.1:0");  // the node writes the port to http.port
      c.mutable_http()->set_time_zone("Asia/Karachi");
      // The first node admin's password, so the demo can make its staff accounts.
      std::ofstream(dir_ + "/keys/" + a.id() + ".admin-password") << AdminPassword(a.id()) << "\n";
      c.mutable_staff()->set_initial_admin_password_file(dir_ + "/keys/" + a.id() +
                                                         ".admin-password");
      // IOM's case workers decide by hand (the demo leaves some to miss their deadline).
      c.set_auto_accept(a.id() != "iom-pakistan");
      if (stage == "router") {
        c.set_rules_file(dir_ + "/rules.textproto");
      }
      std::string cfg = data + ".textproto";
      std::ofstream(cfg) << c.DebugString();
      Proc p;
      p.name = a.id();
      p.argv = {bin_ + (stage == "router" ? "/services/router/passage-router"
                                          : "/services/stages/passage-" + stage),
                "--config", cfg};
      procs_[a.id()] = p;
      control_[a.id()] = "ipc://" + data + "/control.sock";
      Start(a.id());
    }
    // Every node at once: each makes its staff accounts (argon2id hashes, 141 ms each here) in its
    // own process, so waiting for them one by one would add seconds for nothing.
    std::map<std::string, std::future<bool>> ready;
    for (const auto& [id, _] : control_) {
      sessions_[id];  // the map is not changed by the threads below, only their own entries
    }
    for (const auto& [id, _] : control_) {
      ready[id] = std::async(std::launch::async, [this, id = id] { return WaitReady(id); });
    }
    for (auto& [id, f] : ready) {
      if (!f.get()) {
        std::fprintf(stderr, "passage-demo: node %s did not come up; see %s/logs/%s.log\n",
                     id.c_str(), dir_.c_str(), id.c_str());
        ok_ = false;
      }
    }
    if (!ok_) {
      return false;
    }
    Say("-- %s agency nodes and the referral engine are connected\n",
        std::to_string(control_.size() - 1));
    Say("-- staff accounts: admin (node admin) and demo.desk (the demo's script) on every node,\n"
        "   caseworker and supervisor at dastak-shelter and fia-ahtc-karachi. Sign in as a person\n"
        "   would (with --keep, once the nodes run again from %s/nodes/AGENCY.textproto):\n",
        dir_);
    Say("     passagectl --node %s/nodes/dastak-shelter login caseworker     (password: %s)\n",
        dir_, demo_password_);
    return true;
  }

  void Start(const std::string& name) {
    Proc& p = procs_[name];
    std::filesystem::create_directories(dir_ + "/logs");
    std::string log = dir_ + "/logs/" + name + ".log";
    p.pid = fork();
    if (p.pid == 0) {
      FILE* f = std::freopen(log.c_str(), "a", stderr);
      f = std::freopen(log.c_str(), "a", stdout);
      (void)f;
      std::vector<char*> argv;
      for (auto& s : p.argv) {
        argv.push_back(s.data());
      }
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }

  void Stop(const std::string& name) {
    Proc& p = procs_[name];
    if (p.pid > 0) {
      kill(p.pid, SIGTERM);
      int st = 0;
      waitpid(p.pid, &st, 0);
      p.pid = -1;
    }
  }

  void StopAll() {
    for (auto& [name, p] : procs_) {
      if (name != "broker") {
        Stop(name);
      }
    }
    Stop("broker");
  }

  // From a terminal: the NRM keeps running so people can try the web workspaces, until Ctrl-C.
  void ServeUntilInterrupted(double secs) {
    std::printf("\n== scenario done in %.1f s; the NRM keeps running. Web workspaces (sign in as\n"
                "   caseworker or supervisor with password %s where they exist, demo.desk\n"
                "   everywhere):\n",
                secs, demo_password_.c_str());
    for (const auto& [id, endpoint] : control_) {
      std::ifstream in(dir_ + "/nodes/" + id + "/http.port");
      int port = 0;
      if (in >> port && port > 0) {
        std::printf("   %-20s http://127.0.0.1:%d/\n", id.c_str(), port);
      }
    }
    std::printf("   Press Ctrl-C to stop.\n");
    std::fflush(stdout);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    int sig = 0;
    sigwait(&set, &sig);
  }

  // ---- control ----------------------------------------------------------------------------------
  // Every call acts as the demo's staff member on that node ("demo.desk": case worker,
  // supervisor, data officer, coordinator, auditor), signed in on first use.
  Result<v1::ControlResponse> Call(const std::string& agency, const v1::ControlRequest& req,
                                   int timeout_ms = 15000) {
    std::string& token = sessions_[agency];
    if (token.empty()) {
      // Making accounts hashes passwords (argon2id): give it more than a status call's time.
      ASSIGN_OR_RETURN(token, SignIn(agency, std::max(timeout_ms, 10000)));
    }
    v1::ControlRequest signed_req = req;
    signed_req.set_session_token(token);
    return ctl::CallNode(control_[agency], signed_req, timeout_ms);
  }

  std::string AdminPassword(const std::string& agency) {
    return "admin-" + agency + "-" + demo_password_;
  }

  // Makes the demo's accounts (first run of a node) and signs the driver in.
  Result<std::string> SignIn(const std::string& agency, int timeout_ms) {
    const std::string& at = control_[agency];
    auto desk = ctl::SignIn(at, "demo.desk", demo_password_, timeout_ms);
    if (desk.ok()) {
      return desk;
    }
    ASSIGN_OR_RETURN(std::string admin,
                     ctl::SignIn(at, "admin", AdminPassword(agency), timeout_ms));
    RETURN_IF_ERROR(ctl::AddStaff(
        at, admin, "demo.desk", "The demo's script",
        {v1::ACTOR_ROLE_CASE_WORKER, v1::ACTOR_ROLE_SUPERVISOR, v1::ACTOR_ROLE_DATA_OFFICER,
         v1::ACTOR_ROLE_COORDINATOR, v1::ACTOR_ROLE_AUDITOR},
        demo_password_, timeout_ms));
    if (agency != "dastak-shelter" && agency != "fia-ahtc-karachi") {
      // People's sample accounts only where the demo tells people to sign in: each account is a
      // deliberate argon2id hash (141 ms and 64 MiB here), and nine nodes make them at once.
      return ctl::SignIn(at, "demo.desk", demo_password_, timeout_ms);
    }
    RETURN_IF_ERROR(ctl::AddStaff(at, admin, "caseworker", "Sample case worker",
                                  {v1::ACTOR_ROLE_CASE_WORKER}, demo_password_, timeout_ms));
    RETURN_IF_ERROR(ctl::AddStaff(at, admin, "supervisor", "Sample supervisor",
                                  {v1::ACTOR_ROLE_SUPERVISOR, v1::ACTOR_ROLE_CASE_WORKER},
                                  demo_password_, timeout_ms));
    return ctl::SignIn(at, "demo.desk", demo_password_, timeout_ms);
  }

  bool WaitReady(const std::string& agency) {
    for (int i = 0; i < 100; ++i) {
      v1::ControlRequest req;
      req.mutable_status();
      req.set_json(true);
      auto r = Call(agency, req, 500);
      if (r.ok() && r->json().find("\"connected\":true") != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // Lets the referral engine and the agencies work for up to `seconds`, until the log stops growing.
  void Settle(int seconds) {
    uint64_t last = 0;
    int stable = 0;
    for (int i = 0; i < seconds * 5; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      uint64_t size = TreeSize();
      stable = size == last ? stable + 1 : 0;
      last = size;
      if (stable >= 5) {
        break;
      }
    }
  }

  uint64_t TreeSize() {
    v1::ControlRequest req;
    req.mutable_status();
    req.set_json(true);
    auto r = Call("nrm-router", req, 2000);
    if (!r.ok()) {
      return 0;
    }
    auto pos = r->json().find("\"tree_size\":");
    return pos == std::string::npos ? 0 : std::stoull(r->json().substr(pos + 12));
  }

  // ---- scenario ---------------------------------------------------------------------------------
  bool Intake() {
    std::ifstream in(src_ + "/tests/data/ctdc_kanon_small.csv");
    auto imported = ctdc::ImportCtdc(in);
    if (imported.records.empty()) {
      std::fprintf(stderr, "passage-demo: no CTDC reference rows found\n");
      ok_ = false;
      return false;
    }
    std::mt19937 rng(2018);  // the year of Pakistan's TIP and SOM Acts
    const char* provinces[] = {"PK-SD", "PK-SD", "PK-SD", "PK-PB", "PK-BA"};
    int n = 0;
    int refused = 0;
    Say("-- recording %s presumed victims (attribute mix from the CTDC reference rows)\n",
        std::to_string(imported.records.size()));
    for (const auto& rec : imported.records) {
      v1::ControlRequest req;
      auto* in_req = req.mutable_intake();
      *in_req->mutable_profile() = rec.profile;
      auto* p = in_req->mutable_profile();
      p->set_year_of_registration(0);  // registered today: the year comes from the opening
      p->clear_year_of_registration_unknown();
      p->set_country_of_identification("PK");
      p->set_province_of_identification(provinces[rng() % 5]);
      p->set_identification_channel(n % 3 == 0 ? v1::IDENTIFICATION_CHANNEL_POLICE_OPERATION
                                                : v1::IDENTIFICATION_CHANNEL_BORDER);
      bool som = rng() % 7 == 0;
      in_req->set_crime_type(som ? v1::CRIME_TYPE_SOM : v1::CRIME_TYPE_TIP);
      in_req->set_person_role(som ? v1::PERSON_ROLE_SMUGGLED_MIGRANT
                                  : v1::PERSON_ROLE_PRESUMED_VICTIM);
      if (som) {
        p->set_wishes_to_return(true);
      }
      auto* c = in_req->add_consents();
      c->set_scope(v1::CONSENT_SCOPE_SERVICES);
      c->set_given_by(p->majority_at_identification() == v1::MAJORITY_STATUS_MINOR
                          ? v1::CONSENT_GIVER_GUARDIAN
                          : v1::CONSENT_GIVER_SELF);
      if (rng() % 5 < 3) {
        auto* le = in_req->add_consents();
        le->set_scope(v1::CONSENT_SCOPE_LAW_ENFORCEMENT);
        le->set_given_by(c->given_by());
      }
      auto* pd = in_req->mutable_personal();
      pd->set_given_name("Demo person " + std::to_string(n + 1));
      pd->set_family_name("(synthetic)");
      const std::string responder = n % 2 == 0 ? "fia-ahtc-karachi" : "sindh-police";
      auto r = Call(responder, req);
      if (!r.ok() || r->code() != v1::CONTROL_CODE_OK) {
        ++refused;
        if (refused <= 3) {
          std::printf("   intake %d refused: %s %s\n", n + 1,
                      r.ok() ? r->field().c_str() : "", r.ok() ? r->reason().c_str()
                                                          : r.status().ToString().c_str());
        }
      } else {
        cases_.push_back({r->case_ids(0), responder});
        if (som) {
          som_cases_.insert(r->case_ids(0));
        }
      }
      ++n;
      if (n % 50 == 0) {
        std::printf("   %d/%zu recorded\n", n, imported.records.size());
        std::fflush(stdout);
      }
    }
    std::printf("   %zu cases opened, %d intakes refused\n", cases_.size(), refused);
    return !cases_.empty();
  }

  std::vector<v1::Referral> Referrals(const std::string& agency, bool all) {
    v1::ControlRequest req;
    req.mutable_inbox()->set_include_closed(all);
    req.set_json(true);
    auto r = Call(agency, req);
    std::vector<v1::Referral> out;
    if (!r.ok() || r->json().size() < 2) {
      return out;
    }
    // JSON array of Referral objects: parse each with protobuf's JSON parser.
    const std::string& j = r->json();
    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; i < j.size(); ++i) {
      if (j[i] == '{') {
        if (depth++ == 0) start = i;
      } else if (j[i] == '}') {
        if (--depth == 0) {
          v1::Referral ref;
          if (google::protobuf::util::JsonStringToMessage(j.substr(start, i - start + 1), &ref).ok()) {
            out.push_back(ref);
          }
        }
      }
    }
    return out;
  }

  bool Move(const std::string& agency, const std::string& referral, v1::ReferralStatus to,
            const std::string& outcome = "") {
    v1::ControlRequest req;
    auto* a = req.mutable_referral_action();
    a->set_referral_id(referral);
    a->set_to(to);
    a->set_outcome(outcome);
    auto r = Call(agency, req);
    return r.ok() && r->code() == v1::CONTROL_CODE_OK;
  }

  bool PublishAs(const std::string& agency, v1::Event e,
                 const v1::PersonalData* suspect_identity = nullptr) {
    v1::ControlRequest req;
    *req.mutable_publish()->mutable_event() = std::move(e);
    if (suspect_identity != nullptr) {
      *req.mutable_publish()->mutable_suspect_identity() = *suspect_identity;
    }
    auto r = Call(agency, req);
    if (!r.ok() || r->code() != v1::CONTROL_CODE_OK) {
      std::printf("   %s could not record an event: %s\n", agency.c_str(),
                  r.ok() ? r->reason().c_str() : r.status().ToString().c_str());
      return false;
    }
    return true;
  }

  // A case worker at the identifying agency writes a note and attaches a medical certificate on
  // a case whose shelter placement shares the notes (the womens-shelter rule); the writer's node
  // re-seals both for the shelter, whose case worker then reads them. Each read is recorded.
  void NotesAndDocuments() {
    for (const auto& r : Referrals("dastak-shelter", false)) {
      const bool notes = std::find(r.data_scope().begin(), r.data_scope().end(),
                                   v1::DATA_SECTION_NOTES) != r.data_scope().end();
      if (r.status() != v1::REFERRAL_STATUS_ACCEPTED || !notes) {
        continue;
      }
      std::string owner;
      for (const auto& [id, who] : cases_) {
        if (id == r.case_id()) owner = who;
      }
      if (owner.empty()) {
        continue;
      }
      v1::ControlRequest add;
      add.mutable_note()->set_case_id(r.case_id());
      add.mutable_note()->mutable_add()->set_text(
          "Met her at the shelter's clinic with a female officer; she is ready to give a "
          "statement next week. (synthetic)");
      v1::ControlRequest attach;
      attach.mutable_document()->set_case_id(r.case_id());
      auto* a = attach.mutable_document()->mutable_attach();
      a->set_kind(v1::DOCUMENT_KIND_MEDICAL_CERTIFICATE);
      a->set_title("Medical examination (synthetic)");
      a->set_file_name("certificate.pdf");
      a->set_content("%PDF-1.4\n% a synthetic medical certificate for the demo\n%%EOF\n");
      auto added = Call(owner, add);
      auto attached = Call(owner, attach, 30000);
      if (!added.ok() || added->code() != v1::CONTROL_CODE_OK || !attached.ok() ||
          attached->code() != v1::CONTROL_CODE_OK) {
        ok_ = false;
        std::printf("-- notes: %s could not record a note or a document: %s\n", owner.c_str(),
                    added.ok() && added->code() != v1::CONTROL_CODE_OK ? added->reason().c_str()
                    : attached.ok()                                    ? attached->reason().c_str()
                                                                       : "no answer");
        return;
      }
      const auto t0 = Clock::now();
      v1::ControlRequest open;
      open.mutable_note()->set_case_id(r.case_id());
      open.mutable_note()->mutable_open()->set_purpose("shelter case review");
      for (int i = 0; i < 40; ++i) {
        // The case as the shelter holds it: read once both are sealed for it.
        v1::ControlRequest cq;
        cq.set_json(true);
        cq.mutable_cases()->set_case_id(r.case_id());
        auto c = Call("dastak-shelter", cq);
        const bool sealed = c.ok() && ResealedFor(c->json(), "dastak-shelter");
        if (sealed) {
          auto read = Call("dastak-shelter", open);
          if (read.ok() && read->code() == v1::CONTROL_CODE_OK) {
            std::printf("-- notes: %s wrote a note and attached a medical certificate (PDF) on "
                        "case %s; dastak-shelter read them %.1f s later, once %s's node had "
                        "re-sealed them for it (both reads are in the access log)\n",
                        owner.c_str(), r.case_reference().c_str(),
                        std::chrono::duration<double>(Clock::now() - t0).count(), owner.c_str());
            return;
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
      ok_ = false;
      std::printf("-- notes: dastak-shelter could not read the note on case %s within 10 s\n",
                  r.case_reference().c_str());
      return;
    }
    std::printf("-- notes: no shelter placement in this run shares the case notes\n");
  }

  // Whether every note and document in a case's JSON carries a wrapped key for `agency`.
  static bool ResealedFor(const std::string& json, const std::string& agency) {
    v1::CaseList list;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage("{\"cases\":" + json + "}", &list, o).ok() ||
        list.cases_size() != 1 || list.cases(0).notes_size() == 0 ||
        list.cases(0).documents_size() == 0) {
      return false;
    }
    auto holds = [&](const v1::SealedPersonalData& s) {
      for (const auto& k : s.wrapped_keys()) {
        if (k.agency_id() == agency) return true;
      }
      return false;
    };
    for (const auto& n : list.cases(0).notes()) {
      if (!holds(n.text())) return false;
    }
    for (const auto& d : list.cases(0).documents()) {
      if (!holds(d.meta())) return false;
    }
    return true;
  }

  // IOM's case workers decide by hand: they accept what they can take today, but two return
  // referrals wait too long and miss their (drill) respond-by deadline.
  void IomCaseWorkers() {
    int accepted = 0;
    int returns = 0;
    int left = 0;
    for (int round = 0; round < 3; ++round) {
      for (const auto& r : Referrals("iom-pakistan", false)) {
        if (r.status() != v1::REFERRAL_STATUS_RECEIVED) {
          continue;
        }
        if (r.service() == v1::SERVICE_TYPE_RETURN_REINTEGRATION && returns >= 2) {
          ++left;
          continue;
        }
        if (Move("iom-pakistan", r.referral_id(), v1::REFERRAL_STATUS_ACCEPTED)) {
          ++accepted;
          returns += r.service() == v1::SERVICE_TYPE_RETURN_REINTEGRATION;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    std::printf("-- iom-pakistan's case workers accepted %d referral(s) by hand; return referrals "
                "waiting past their respond-by time will expire\n",
                accepted);
  }

  // A SERVICES consent in force for the case, from its owner's view.
  std::string ConsentOf(const std::string& case_id) {
    for (const auto& [id, owner] : cases_) {
      if (id != case_id) {
        continue;
      }
      v1::ControlRequest cq;
      cq.mutable_cases();
      cq.set_json(true);
      auto cr = Call(owner, cq);
      if (!cr.ok()) {
        return "";
      }
      auto at = cr->json().find("\"case_id\":\"" + case_id + "\"");
      auto cpos = at == std::string::npos ? at : cr->json().find("\"consent_id\":\"", at);
      return cpos == std::string::npos ? "" : cr->json().substr(cpos + 14, 36);
    }
    return "";
  }

  void Scenario() {

    // Protection delivered and completed for a few shelter placements.
    int completed = 0;
    for (const auto& r : Referrals("dastak-shelter", false)) {
      if (completed >= 3 || r.status() != v1::REFERRAL_STATUS_ACCEPTED) {
        continue;
      }
      v1::Event e;
      e.set_case_id(r.case_id());
      e.mutable_service_delivered()->set_referral_id(r.referral_id());
      e.mutable_service_delivered()->set_service(r.service());
      if (Move("dastak-shelter", r.referral_id(), v1::REFERRAL_STATUS_IN_PROGRESS) &&
          PublishAs("dastak-shelter", e) &&
          Move("dastak-shelter", r.referral_id(), v1::REFERRAL_STATUS_COMPLETED,
               "safe accommodation provided; moved to family reunification")) {
        ++completed;
      }
    }
    std::printf("-- dastak-shelter delivered and completed %d placement(s)\n", completed);

    // A prosecution through to verdict.
    for (const auto& r : Referrals("sindh-prosecution", false)) {
      if (r.status() != v1::REFERRAL_STATUS_ACCEPTED) {
        continue;
      }
      Move("sindh-prosecution", r.referral_id(), v1::REFERRAL_STATUS_IN_PROGRESS);
      const v1::ProceedingMilestone steps[] = {
          v1::PROCEEDING_MILESTONE_FIR_REGISTERED, v1::PROCEEDING_MILESTONE_INVESTIGATION_OPENED,
          v1::PROCEEDING_MILESTONE_CHARGE_FILED, v1::PROCEEDING_MILESTONE_TRIAL_STARTED,
          v1::PROCEEDING_MILESTONE_VERDICT_CONVICTION,
          v1::PROCEEDING_MILESTONE_COMPENSATION_ORDERED};
      bool all = true;
      for (auto m : steps) {
        v1::Event e;
        e.set_case_id(r.case_id());
        auto* p = e.mutable_criminal_proceeding_updated()->mutable_proceeding();
        p->set_milestone(m);
        p->set_agency_id("sindh-prosecution");
        p->set_reference("ATC-KHI-2026-" + r.referral_id().substr(0, 4));
        all = PublishAs("sindh-prosecution", e) && all;
      }
      // The victim will testify: the prosecutor refers back to protection for witness support.
      std::string consent = ConsentOf(r.case_id());
      if (!consent.empty()) {
        v1::Event ws;
        ws.set_case_id(r.case_id());
        auto* ref = ws.mutable_referral_sent()->mutable_referral();
        ref->set_referral_id(core::NewUuidV7());
        ref->set_case_id(r.case_id());
        ref->set_kind(v1::REFERRAL_KIND_REFERRAL);
        ref->set_to_agency("iom-pakistan");
        ref->set_service(v1::SERVICE_TYPE_INTERPRETATION);
        ref->set_reason("victim-witness support during trial");
        ref->set_priority(v1::PRIORITY_URGENT);
        ref->set_respond_by_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count() +
                               3600 * 1000);
        ref->add_data_scope(v1::DATA_SECTION_PROFILE);
        ref->set_consent_id(consent);
        ref->set_parent_referral_id(r.referral_id());
        if (PublishAs("sindh-prosecution", ws)) {
          std::printf("-- sindh-prosecution referred the witness back to protection (IOM, "
                      "interpretation during trial)\n");
        }
      }
      if (all && Move("sindh-prosecution", r.referral_id(), v1::REFERRAL_STATUS_COMPLETED,
                      "conviction; compensation ordered")) {
        prosecution_case_ = r.case_id();
        std::printf("-- sindh-prosecution took case %s from FIR to conviction\n",
                    prosecution_case_.c_str());
      }
      break;
    }

    // A withdrawn consent: the victim no longer wants services from anyone.
    for (const auto& [case_id, owner] : cases_) {
      if (case_id == prosecution_case_) {
        continue;
      }
      auto refs = Referrals("nrm-router", false);  // the router sees every case
      (void)refs;
      v1::ControlRequest j;
      j.mutable_journey()->set_case_id(case_id);
      j.set_json(true);
      auto jr = Call("nrm-router", j);
      if (!jr.ok() || jr->json().find("\"ACCEPTED\"") == std::string::npos) {
        continue;
      }
      // Find the consent id from the owner's view of the case.
      v1::ControlRequest cq;
      cq.mutable_cases()->set_limit(0);
      cq.set_json(true);
      auto cr = Call(owner, cq);
      std::string key = "\"case_id\":\"" + case_id + "\"";
      auto at = cr.ok() ? cr->json().find(key) : std::string::npos;
      if (at == std::string::npos) {
        continue;
      }
      auto cpos = cr->json().find("\"consent_id\":\"", at);
      if (cpos == std::string::npos) {
        continue;
      }
      std::string consent = cr->json().substr(cpos + 14, 36);
      v1::Event e;
      e.set_case_id(case_id);
      e.mutable_consent_withdrawn()->set_consent_id(consent);
      e.mutable_consent_withdrawn()->set_scope(v1::CONSENT_SCOPE_SERVICES);
      if (PublishAs(owner, e)) {
        withdrawn_case_ = case_id;
        std::printf("-- the victim of case %s withdrew consent to services; %s recorded it\n",
                    case_id.c_str(), owner.c_str());
      }
      break;
    }
    Settle(6);
  }

  static int32_t CurrentYear() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return tm.tm_year + 1900;
  }

  // ---- the crime side: offences, suspects, prosecutions, smuggling routes ------------------------
  // The police and the FIA register an FIR for part of their cases, record suspects and take some
  // of them to a verdict; for smuggling cases they record the route, one of them aggravated under
  // PSMA 2018 (a migrant died), and one smuggled migrant turns out to be a trafficking victim.
  void LawEnforcement() {
    std::mt19937 rng(2018);
    const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    auto date = [&](int days_ago) {
      // Within this calendar year, so the year's report counts it.
      const std::time_t t = static_cast<std::time_t>(now_s - 86400LL * days_ago);
      std::tm tm{};
      gmtime_r(&t, &tm);
      const std::time_t now_t = static_cast<std::time_t>(now_s);
      std::tm today{};
      gmtime_r(&now_t, &today);
      if (tm.tm_year != today.tm_year) tm = today;
      char buf[32];
      std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
      return std::string(buf);
    };
    auto step = [&](const std::string& agency, const std::string& case_id,
                    const std::string& suspect, v1::AccusedStep s, uint32_t months = 0) {
      v1::Event e;
      e.set_case_id(case_id);
      auto* u = e.mutable_accused_updated();
      u->set_suspect_id(suspect);
      u->set_step(s);
      if (s == v1::ACCUSED_STEP_CHARGED) u->add_charged_sections("PTPA-2018-3");
      if (months > 0) {
        u->set_sentence_months(months);
        u->set_fine_amount(100000 * (1 + rng() % 10));
        u->set_fine_currency("PKR");
      }
      return PublishAs(agency, e);
    };
    auto move = [&](const std::string& agency, const std::string& case_id,
                    const std::string& offence, v1::OffenceStatus to,
                    v1::OffenceClosure closure = v1::OFFENCE_CLOSURE_UNSPECIFIED) {
      v1::Event e;
      e.set_case_id(case_id);
      e.mutable_offence_status_changed()->set_offence_id(offence);
      e.mutable_offence_status_changed()->set_to(to);
      e.mutable_offence_status_changed()->set_closure(closure);
      return PublishAs(agency, e);
    };
    const char* citizenship[] = {"PK", "PK", "PK", "PK", "AF", "IR", "BD"};
    const v1::SuspectRole roles[] = {v1::SUSPECT_ROLE_RECRUITER, v1::SUSPECT_ROLE_TRANSPORTER,
                                     v1::SUSPECT_ROLE_HARBOURER, v1::SUSPECT_ROLE_EXPLOITER};
    struct Route {
      const char* origin;
      std::vector<const char*> transit;
      const char* destination;
      v1::Interception where;
      v1::TransportMode how;
      v1::FeeBand fee;
      const char* currency;
    };
    const Route routes[] = {
        {"PK", {"IR", "TR"}, "GR", v1::INTERCEPTION_LAND_BORDER, v1::TRANSPORT_MODE_MIXED,
         v1::FEE_BAND_5000_TO_9999, "EUR"},
        {"PK", {}, "AE", v1::INTERCEPTION_AIR_BORDER, v1::TRANSPORT_MODE_AIR,
         v1::FEE_BAND_1000_TO_4999, "PKR"},
        {"AF", {}, "PK", v1::INTERCEPTION_INLAND, v1::TRANSPORT_MODE_LAND_VEHICLE,
         v1::FEE_BAND_UNDER_1000, "PKR"},
        {"PK", {"IR"}, "OM", v1::INTERCEPTION_SEA_BORDER, v1::TRANSPORT_MODE_BOAT,
         v1::FEE_BAND_1000_TO_4999, "PKR"},
    };
    int offences = 0, suspects = 0, convicted = 0, routes_recorded = 0, n = 0;
    bool reclassified = false;
    for (const auto& [case_id, owner] : cases_) {
      const bool som = som_cases_.count(case_id) != 0;
      if (!som && n++ % 3 != 0) {
        continue;  // an FIR for about a third of the trafficking cases
      }
      const int k = offences + routes_recorded;
      if (som) {
        const Route& r = routes[k % 4];
        v1::Event e;
        e.set_case_id(case_id);
        auto* d = e.mutable_smuggling_recorded()->mutable_details();
        d->set_origin_country(r.origin);
        for (const char* t : r.transit) d->add_transit_countries(t);
        d->set_destination_country(r.destination);
        d->set_interception(r.where);
        d->set_interception_province(r.where == v1::INTERCEPTION_LAND_BORDER ? "PK-BA" : "PK-SD");
        d->set_transport(r.how);
        d->set_fee_band(r.fee);
        d->set_fee_currency(r.currency);
        d->set_document_fraud(r.where == v1::INTERCEPTION_AIR_BORDER);
        const bool aggravated = aggravated_case_.empty() && r.how == v1::TRANSPORT_MODE_MIXED;
        if (aggravated) {
          d->add_aggravations(v1::AGGRAVATION_DEATH);
          d->add_aggravations(v1::AGGRAVATION_INHUMAN_TREATMENT);
        }
        if (!PublishAs(owner, e)) continue;
        ++routes_recorded;
        if (aggravated) aggravated_case_ = case_id;
        if (!reclassified && !aggravated && r.how == v1::TRANSPORT_MODE_BOAT) {
          // At sea it came out that the fee was a debt to work off: trafficking, not smuggling.
          v1::Event id;
          id.set_case_id(case_id);
          auto* ir = id.mutable_identification_recorded();
          ir->set_trafficking_status(v1::TRAFFICKING_STATUS_ACTUAL);
          ir->set_crime_type(v1::CRIME_TYPE_TIP);
          ir->set_person_role(v1::PERSON_ROLE_VICTIM);
          reclassified = PublishAs(owner, id);
          if (reclassified) {
            std::printf("-- %s re-classified smuggled migrant %s as a trafficking victim "
                        "(history kept)\n", owner.c_str(), case_id.c_str());
          }
          continue;
        }
        if (k % 2 == 1 && !aggravated) continue;  // an FIR for half the smuggling cases
      }
      const std::string offence = core::NewUuidV7();
      v1::Event oe;
      oe.set_case_id(case_id);
      auto* o = oe.mutable_offence_registered()->mutable_offence();
      o->set_offence_id(offence);
      o->set_fir_number(std::to_string(100 + offences) + "/" + date(0).substr(0, 4));
      o->set_police_station(owner == "fia-ahtc-karachi" ? "FIA AHTC Karachi"
                                                        : "PS Preedy, Karachi South");
      o->set_province("PK-SD");
      o->set_district("Karachi South");
      o->set_registered_on(date(static_cast<int>(rng() % 200)));
      if (som) {
        o->add_law_sections(case_id == aggravated_case_ ? "PSMA-2018-4" : "PSMA-2018-3");
        o->set_crime_type(v1::CRIME_TYPE_SOM);
      } else {
        o->add_law_sections("PTPA-2018-3");
        if (rng() % 3 == 0) o->add_law_sections("PPC-371A");
        o->set_crime_type(v1::CRIME_TYPE_TIP);
      }
      if (!PublishAs(owner, oe)) continue;
      ++offences;
      const int people = case_id == aggravated_case_ ? 2 : 1 + static_cast<int>(rng() % 2);
      bool court = false, investigating = false;
      for (int i = 0; i < people; ++i) {
        const std::string suspect = core::NewUuidV7();
        v1::Event se;
        se.set_case_id(case_id);
        auto* x = se.mutable_suspect_recorded()->mutable_suspect();
        x->set_suspect_id(suspect);
        x->set_offence_id(offence);
        x->set_sex(rng() % 5 == 0 ? v1::SEX_FEMALE : v1::SEX_MALE);
        x->set_age_band(static_cast<v1::AgeBand>(3 + rng() % 7));
        x->add_citizenship(citizenship[rng() % 7]);
        x->add_roles(som ? v1::SUSPECT_ROLE_SMUGGLER : roles[rng() % 4]);
        x->set_organised_group(rng() % 3 == 0 ? v1::ORGANISED_GROUP_YES : v1::ORGANISED_GROUP_UNKNOWN);
        v1::PersonalData identity;
        identity.set_given_name("Suspect " + std::to_string(suspects + 1));
        identity.set_family_name("(synthetic)");
        if (!PublishAs(owner, se, &identity)) continue;
        ++suspects;
        if (!investigating) {
          investigating = move(owner, case_id, offence, v1::OFFENCE_STATUS_UNDER_INVESTIGATION);
        }
        const uint32_t fate = case_id == aggravated_case_ ? 0 : rng() % 4;
        if (fate == 3 || !step(owner, case_id, suspect, v1::ACCUSED_STEP_ARRESTED)) continue;
        if (fate == 2 || !step(owner, case_id, suspect, v1::ACCUSED_STEP_CHARGED)) continue;
        court = true;
        if (fate == 1) {
          (void)step(owner, case_id, suspect, v1::ACCUSED_STEP_BAIL_GRANTED);
          continue;  // on trial
        }
        if (rng() % 4 == 0) {
          (void)step(owner, case_id, suspect, v1::ACCUSED_STEP_ACQUITTED);
        } else if (step(owner, case_id, suspect, v1::ACCUSED_STEP_CONVICTED,
                        case_id == aggravated_case_ ? 168 : 36 + rng() % 84)) {
          ++convicted;
        }
      }
      if (court) {
        (void)move(owner, case_id, offence, v1::OFFENCE_STATUS_CHARGE_SHEET_SUBMITTED);
        (void)move(owner, case_id, offence, v1::OFFENCE_STATUS_SENT_TO_COURT);
      }
    }
    std::printf("-- police and FIA registered %d offence(s) with %d suspect(s) (identities sealed "
                "for the police and the prosecutors holding the case only); %d convicted; %d "
                "smuggling route(s) "
                "recorded\n",
                offences, suspects, convicted, routes_recorded);
  }

  // ---- report -----------------------------------------------------------------------------------
  std::string Text(const std::string& agency, v1::ControlRequest req) {
    auto r = Call(agency, req, 30000);
    if (!r.ok()) {
      ok_ = false;
      return r.status().ToString() + "\n";
    }
    if (r->code() != v1::CONTROL_CODE_OK) {
      ok_ = false;
      return r->field() + ": " + r->reason() + "\n";
    }
    return r->text();
  }

  void Journey(const std::string& title, const std::string& case_id) {
    if (case_id.empty()) {
      std::printf("\n== journey: %s — (no such case in this run)\n", title.c_str());
      return;
    }
    v1::ControlRequest req;
    req.mutable_journey()->set_case_id(case_id);
    std::printf("\n== journey: %s\n%s", title.c_str(), Text("nrm-router", req).c_str());
  }

  void Report() {
    // The escalated case: a referral with a parent.
    // The escalated case: the small shelter declined (capacity full) and the engine re-referred.
    std::string escalated;
    for (const auto& [case_id, owner] : cases_) {
      v1::ControlRequest j;
      j.mutable_journey()->set_case_id(case_id);
      auto r = Call("nrm-router", j);
      if (r.ok() && r->text().find("Panah") != std::string::npos &&
          r->text().find("rejected") != std::string::npos &&
          r->text().find("follow-up of") != std::string::npos) {
        escalated = case_id;
        break;
      }
    }
    Journey("a declined shelter referral escalated to the next shelter", escalated);
    Journey("a prosecution through to verdict", prosecution_case_);
    Journey("consent withdrawn: live referrals cancelled", withdrawn_case_);

    v1::ControlRequest stats;
    stats.mutable_stats()->add_by("sex");
    stats.mutable_stats()->add_by("age_band");
    stats.mutable_stats()->set_k(5);
    std::printf("\n== cases by sex and age band (cells below 5 suppressed) and referral indicators\n%s",
                Text("nrm-router", stats).c_str());
    v1::ControlRequest stats2;
    stats2.mutable_stats()->add_by("crime_type");
    stats2.mutable_stats()->add_by("form");
    stats2.mutable_stats()->set_k(5);
    auto t2 = Text("nrm-router", stats2);
    std::printf("\n== cases by TIP/SOM and form of exploitation\n%s",
                t2.substr(0, t2.find("\nreferral indicators")).c_str());
    v1::ControlRequest glotip;
    glotip.mutable_crime_report()->set_kind(v1::CrimeReportRequest::KIND_GLOTIP);
    glotip.mutable_crime_report()->set_year(CurrentYear());
    glotip.mutable_crime_report()->set_k(5);
    std::printf("\n== the state's report: %s", Text("nrm-router", glotip).c_str());
    v1::ControlRequest smuggling;
    smuggling.mutable_crime_report()->set_kind(v1::CrimeReportRequest::KIND_SMUGGLING);
    smuggling.mutable_crime_report()->set_year(CurrentYear());
    smuggling.mutable_crime_report()->set_k(5);
    const std::string sm = Text("nrm-router", smuggling);
    // The routes and the aggravated case; the rest is in passagectl report smuggling.
    const size_t routes = sm.find("Smuggled migrants by route");
    const size_t after = sm.find("\nSmuggled migrants by where", routes);
    std::printf("\n== smuggling of migrants (passagectl report smuggling: the route table)\n%s\n",
                routes == std::string::npos ? sm.c_str()
                                            : sm.substr(routes, after - routes).c_str());
    // Sealed personal data: readable by the agencies the victim's referrals shared it with, and
    // every read is itself in the log.
    std::string sheltered;
    for (const auto& r : Referrals("dastak-shelter", false)) {
      if (r.status() == v1::REFERRAL_STATUS_ACCEPTED) {
        sheltered = r.case_id();
        break;
      }
    }
    if (!sheltered.empty()) {
      for (const std::string agency : {"dastak-shelter", "panah-shelter"}) {
        v1::ControlRequest pr;
        pr.mutable_personal()->set_case_id(sheltered);
        pr.mutable_personal()->set_purpose("witness protection planning");
        auto r = Call(agency, pr);
        std::string line = !r.ok() ? r.status().ToString()
                           : r->code() == v1::CONTROL_CODE_OK
                               ? r->text().substr(0, r->text().find('\n'))
                               : "refused: " + r->reason();
        std::printf("\n== %s asks for the sealed personal data of case %s\n   %s\n",
                    agency.c_str(), sheltered.c_str(), line.c_str());
      }
    }
    v1::ControlRequest st;
    st.mutable_status();
    std::printf("\n== the NRM coordinator's node\n%s", Text("nrm-router", st).c_str());
    v1::ControlRequest la;
    la.mutable_inbox()->set_include_closed(true);
    auto legal = Referrals("lhrla-legal-aid", true);
    std::printf("\n== lhrla-legal-aid, offline during intake, holds %zu referral(s) after catching up\n",
                legal.size());
  }

  std::string dir_;
  std::string bin_;
  std::string src_;
  bool ok_ = true;
  v1::AgencyRegistry registry_;
  transport::CurveKeyPair broker_keys_;
  std::string endpoint_;
  std::map<std::string, Proc> procs_;
  std::map<std::string, std::string> control_;
  std::vector<std::pair<std::string, std::string>> cases_;  // case id, owner
  std::set<std::string> som_cases_;                         // opened as smuggling of migrants
  std::string aggravated_case_;                             // the PSMA aggravated case
  std::string prosecution_case_;
  std::string withdrawn_case_;
  std::map<std::string, std::string> sessions_;  // agency -> the driver's session token
  std::string demo_password_ = RandomPassword();
};

}  // namespace
}  // namespace passage::demo

int main(int argc, char** argv) {
  std::string dir;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: passage-demo [--dir DIR] [--keep]\n\nRuns the whole referral pipeline of "
                  "a sample NRM on this machine and prints journeys, indicators and statistics.\n"
                  "  --dir DIR  data directory (default: a new temporary directory)\n"
                  "  --keep     keep the data directory (logs, keys, the broker's log) afterwards\n");
      return 0;
    } else {
      std::fprintf(stderr, "passage-demo: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  if (dir.empty()) {
    char tmpl[] = "/tmp/passage-demo-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  signal(SIGPIPE, SIG_IGN);
  int rc;
  {
    passage::demo::Demo demo(dir, PASSAGE_BUILD_DIR, PASSAGE_SOURCE_DIR);
    rc = demo.Run();
  }
  if (!keep && rc == 0) {
    std::filesystem::remove_all(dir);
  } else {
    std::printf("data, keys and process logs kept in %s\n", dir.c_str());
  }
  return rc;
}
