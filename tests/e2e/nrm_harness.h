#pragma once

// End-to-end harness: a small National Referral Mechanism made of the REAL processes — the
// passage-broker, the referral engine (passage-router) and a chosen set of agency nodes
// (passage-identification, passage-protection, passage-prosecution) — on loopback, in a temporary
// directory, from a registry and routing rules that each test writes for itself. Keys (CURVE and
// sealing) are generated on the fly.
//
// The test drives the nodes the way passagectl does: through each node's control socket
// (proto/passage/v1/control.proto, ZeroMQ REQ/REP over ipc://DATA_DIR/control.sock), and observes
// them through the same socket (inbox, cases, status, journey as JSON). Every wait is bounded.
//
//   e2e::Nrm nrm({e2e::FirstResponder("fia"), e2e::Recipient("shelter-a", ...)}, rules);
//   ASSERT_TRUE(nrm.Start());
//   auto case_id = nrm.Intake("fia", e2e::AdultWomanSexuallyExploited());
//   e2e::JourneyView j;
//   ASSERT_TRUE(nrm.WaitJourney(*case_id, [](const e2e::JourneyView& j) {...}, &j, "accepted"));
//
// Binaries come from compile definitions: PASSAGE_BROKER_BIN, PASSAGE_ROUTER_BIN,
// PASSAGE_IDENTIFICATION_BIN, PASSAGE_PROTECTION_BIN, PASSAGE_PROSECUTION_BIN.
//
// Process hygiene: every child gets PR_SET_PDEATHSIG(SIGKILL), so a test runner that is killed on a
// timeout leaves no process behind; the destructor stops nodes (SIGTERM, then SIGKILL after a grace
// period) and then the broker. When the test has failed, the tails of every process log are printed.
// Set PASSAGE_E2E_KEEP=1 to keep the temporary directory.
//
// Not thread-safe: one test thread drives one Nrm.

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <zmq.hpp>

#include "core/ids.h"
#include "core/text_proto.h"
#include "passage/v1/config.pb.h"
#include "passage/v1/control.pb.h"
#include "passage/v1/events.pb.h"
#include "services/runtime/sealing.h"
#include "tests/testing/temp_dir.h"
#include "transport/keys.h"

namespace passage::e2e {

namespace v1 = passage::v1;
using Clock = std::chrono::steady_clock;

// Default bound of every wait: generous for a loaded 2-core machine; a passing test is much faster.
inline constexpr int kWaitMs = 25000;
inline constexpr const char* kRouterId = "nrm-router";

inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- what the NRM is made of ----------------------------------------------------------------------

enum class NodeKind { kNone, kIdentification, kProtection, kProsecution };

struct AgencySpec {
  std::string id;
  v1::AgencyType type = v1::AGENCY_TYPE_NGO;
  NodeKind node = NodeKind::kProtection;  // which binary runs it; kNone = registered, no process
  std::vector<v1::ServiceType> services;
  uint32_t capacity = 0;                  // 0 = unlimited
  std::string region = "PK-SD";
  bool auto_accept = true;                // NodeConfig.auto_accept
  bool start = true;                      // started by Nrm::Start (else StartNode later)
  std::vector<v1::ActorRole> override_roles;
  std::string name;                       // the registered name; "" = "E2E agency <id>"
  // Not in the registry files of the broker and the other nodes at start: for registering it live
  // (passagectl admin agency add --file DIR/agencies/ID.textproto).
  bool registered = true;
};

// A first responder running passage-identification (may open cases).
inline AgencySpec FirstResponder(std::string id,
                                 v1::AgencyType type = v1::AGENCY_TYPE_LAW_ENFORCEMENT) {
  AgencySpec a;
  a.id = std::move(id);
  a.type = type;
  a.node = NodeKind::kIdentification;
  a.services = {v1::SERVICE_TYPE_INVESTIGATION};
  return a;
}

// A protection agency running passage-protection.
inline AgencySpec Protection(std::string id, v1::AgencyType type,
                             std::vector<v1::ServiceType> services, uint32_t capacity = 0,
                             bool auto_accept = true) {
  AgencySpec a;
  a.id = std::move(id);
  a.type = type;
  a.node = NodeKind::kProtection;
  a.services = std::move(services);
  a.capacity = capacity;
  a.auto_accept = auto_accept;
  return a;
}

// A prosecution service running passage-prosecution.
inline AgencySpec Prosecution(std::string id, bool auto_accept = true) {
  AgencySpec a;
  a.id = std::move(id);
  a.type = v1::AGENCY_TYPE_PROSECUTION;
  a.node = NodeKind::kProsecution;
  a.services = {v1::SERVICE_TYPE_PROSECUTION};
  a.auto_accept = auto_accept;
  return a;
}

// A routing rule with short drill deadlines; callers set `when` and adjust the rest.
inline v1::RoutingRule Rule(const std::string& name, v1::ServiceType service,
                            v1::Priority priority, uint32_t respond_within_seconds,
                            std::vector<v1::AgencyType> agency_types = {},
                            v1::ConsentScope consent_scope = v1::CONSENT_SCOPE_SERVICES) {
  v1::RoutingRule r;
  r.set_name(name);
  r.set_description("e2e rule " + name);
  r.set_service(service);
  r.set_priority(priority);
  r.set_respond_within_seconds(respond_within_seconds);
  r.set_kind(v1::REFERRAL_KIND_REFERRAL);
  r.add_data_scope(v1::DATA_SECTION_PROFILE);
  r.add_data_scope(v1::DATA_SECTION_PERSONAL);
  r.add_data_scope(v1::DATA_SECTION_CONSENTS);
  if (service == v1::SERVICE_TYPE_PROSECUTION) {
    r.add_data_scope(v1::DATA_SECTION_PROCEEDINGS);
  } else {
    r.add_data_scope(v1::DATA_SECTION_SERVICES);
  }
  r.set_consent_scope(consent_scope);
  for (auto t : agency_types) {
    r.add_agency_types(t);
  }
  return r;
}

// ---- intake requests --------------------------------------------------------------------------------

// One rule: every woman or girl to a shelter, urgent, one hour to answer.
inline v1::RuleSet WomenToShelterRules() {
  auto r = Rule("womens-shelter", v1::SERVICE_TYPE_SHELTER, v1::PRIORITY_URGENT, 3600,
                {v1::AGENCY_TYPE_SHELTER});
  r.mutable_when()->add_sex_in(v1::SEX_FEMALE);
  v1::RuleSet set;
  *set.add_rules() = r;
  return set;
}

// A referral sent by hand (ReferralSent) of `case_id` to `to` for `service`, relying on
// `consent_id` ("" = none), urgent, due in an hour, sharing the profile.
inline v1::Event HandReferral(const std::string& case_id, const std::string& to,
                              v1::ServiceType service, const std::string& consent_id,
                              const std::string& reason = "onward referral") {
  v1::Event e;
  e.set_case_id(case_id);
  auto* r = e.mutable_referral_sent()->mutable_referral();
  r->set_referral_id(core::NewUuidV7());
  r->set_case_id(case_id);
  r->set_kind(v1::REFERRAL_KIND_REFERRAL);
  r->set_to_agency(to);
  r->set_service(service);
  r->set_priority(v1::PRIORITY_URGENT);
  r->set_reason(reason);
  r->set_respond_by_ms(NowMs() + 3'600'000);
  r->add_data_scope(v1::DATA_SECTION_PROFILE);
  r->set_consent_id(consent_id);
  return e;
}

inline v1::Consent MakeConsent(v1::ConsentScope scope, v1::ConsentGiver by = v1::CONSENT_GIVER_SELF) {
  v1::Consent c;
  c.set_scope(scope);
  c.set_given_by(by);
  return c;
}

// An adult woman, sexually exploited, identified by a police operation in Sindh; consents to
// services (and to law enforcement when asked).
// A date of birth (1 July) that agrees with `age` today, within the year the node allows.
inline std::string DobForAge(int age) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return std::to_string(tm.tm_year + 1900 - age) + "-07-01";
}

inline v1::IntakeRequest AdultWomanSexuallyExploited(bool law_enforcement_consent = false,
                                                     uint32_t age = 24) {
  v1::IntakeRequest in;
  in.set_crime_type(v1::CRIME_TYPE_TIP);
  in.set_person_role(v1::PERSON_ROLE_PRESUMED_VICTIM);
  auto* p = in.mutable_profile();
  p->set_sex(v1::SEX_FEMALE);
  p->set_age_years(age);
  p->add_citizenship("PK");
  p->set_country_of_identification("PK");
  p->set_province_of_identification("PK-SD");
  p->set_country_of_exploitation("PK");
  p->add_exploitation_forms(v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION);
  p->set_identification_channel(v1::IDENTIFICATION_CHANNEL_POLICE_OPERATION);
  *in.add_consents() = MakeConsent(v1::CONSENT_SCOPE_SERVICES);
  if (law_enforcement_consent) {
    *in.add_consents() = MakeConsent(v1::CONSENT_SCOPE_LAW_ENFORCEMENT);
  }
  in.mutable_personal()->set_given_name("Synthetic");
  in.mutable_personal()->set_family_name("Person");
  return in;
}

// A 15-year-old boy in child labour (brick kilns), identified by labour inspection; a guardian
// consents to services.
inline v1::IntakeRequest MinorInChildLabour() {
  v1::IntakeRequest in;
  in.set_crime_type(v1::CRIME_TYPE_TIP);
  in.set_person_role(v1::PERSON_ROLE_PRESUMED_VICTIM);
  auto* p = in.mutable_profile();
  p->set_sex(v1::SEX_MALE);
  p->set_age_years(15);
  p->add_citizenship("PK");
  p->set_country_of_identification("PK");
  p->set_province_of_identification("PK-SD");
  p->add_exploitation_forms(v1::EXPLOITATION_FORM_CHILD_LABOUR);
  p->add_labour_sectors(v1::LABOUR_SECTOR_BRICK_KILNS);
  p->set_identification_channel(v1::IDENTIFICATION_CHANNEL_LABOUR_INSPECTION);
  *in.add_consents() = MakeConsent(v1::CONSENT_SCOPE_SERVICES, v1::CONSENT_GIVER_GUARDIAN);
  return in;
}

// ---- JSON views of what the nodes report -------------------------------------------------------------

// Parses a JSON array of protobuf messages (inbox, cases) rendered with MessageToJsonString.
template <typename T>
std::vector<T> ParseJsonArray(const std::string& json, std::string* error = nullptr) {
  std::vector<T> out;
  google::protobuf::ListValue list;
  auto s = google::protobuf::util::JsonStringToMessage(json, &list);
  if (!s.ok()) {
    if (error) *error = "not a JSON array: " + std::string(s.message());
    return out;
  }
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  for (const auto& v : list.values()) {
    std::string one;
    (void)google::protobuf::util::MessageToJsonString(v, &one);
    T m;
    auto ps = google::protobuf::util::JsonStringToMessage(one, &m, opts);
    if (!ps.ok()) {
      if (error) *error = "an element does not parse: " + std::string(ps.message());
      continue;
    }
    out.push_back(std::move(m));
  }
  return out;
}

struct JourneyStepView {
  std::string status;  // short name, e.g. "RECEIVED"
  std::string by_agency;
  uint64_t global_seq = 0;
  int64_t at_ms = 0;
};

struct JourneyReferralView {
  int number = 0;
  std::string referral_id, from_agency, to_agency, kind, service, priority, parent_referral_id,
      status, status_reason, outcome;
  int64_t respond_by_ms = 0;
  std::vector<std::string> child_referral_ids;
  std::vector<JourneyStepView> steps;

  int CountSteps(const std::string& s) const {
    return static_cast<int>(std::count_if(steps.begin(), steps.end(),
                                          [&](const JourneyStepView& x) { return x.status == s; }));
  }
  std::vector<std::string> StepNames() const {
    std::vector<std::string> out;
    for (const auto& s : steps) out.push_back(s.status);
    return out;
  }
};

struct JourneyEntryView {
  std::string agency, event, text, referral_id;
  uint64_t global_seq = 0, case_seq = 0;
  std::vector<std::string> stages;
};

struct StageIntervalView {
  std::string stage;
  bool ongoing = false;
  int64_t from_ms = 0, to_ms = 0;
};

struct JourneyView {
  std::string case_id;
  bool closed = false;
  std::vector<std::string> stages;
  std::vector<JourneyEntryView> entries;
  std::vector<StageIntervalView> stage_intervals;
  std::vector<JourneyReferralView> referrals;
  std::string json;  // as received

  const JourneyReferralView* Find(const std::string& referral_id) const {
    for (const auto& r : referrals) {
      if (r.referral_id == referral_id) return &r;
    }
    return nullptr;
  }
  std::vector<const JourneyReferralView*> To(const std::string& agency) const {
    std::vector<const JourneyReferralView*> out;
    for (const auto& r : referrals) {
      if (r.to_agency == agency) out.push_back(&r);
    }
    return out;
  }
  std::vector<const JourneyReferralView*> ChildrenOf(const std::string& parent) const {
    std::vector<const JourneyReferralView*> out;
    for (const auto& r : referrals) {
      if (r.parent_referral_id == parent) out.push_back(&r);
    }
    return out;
  }
  bool HasStage(const std::string& s) const {
    return std::find(stages.begin(), stages.end(), s) != stages.end();
  }
  // Short summary for failure messages: "R1 fia->shelter-a SHELTER URGENT [SENT,RECEIVED]; ...".
  std::string Summary() const {
    std::string out = "case " + case_id + " stages [";
    for (size_t i = 0; i < stages.size(); ++i) out += (i ? "," : "") + stages[i];
    out += "]";
    for (const auto& r : referrals) {
      out += "; R" + std::to_string(r.number) + " " + r.referral_id.substr(0, 8) + " " +
             r.from_agency + "->" + r.to_agency + " " + r.service + " " + r.priority + " " +
             r.status + (r.parent_referral_id.empty() ? "" : " parent " + r.parent_referral_id.substr(0, 8)) +
             " [";
      for (size_t i = 0; i < r.steps.size(); ++i) out += (i ? "," : "") + r.steps[i].status;
      out += "]";
    }
    return out;
  }
};

namespace detail {

inline const google::protobuf::Value* Get(const google::protobuf::Struct& s, const std::string& k) {
  auto it = s.fields().find(k);
  return it == s.fields().end() ? nullptr : &it->second;
}
inline std::string Str(const google::protobuf::Struct& s, const std::string& k) {
  const auto* v = Get(s, k);
  return v != nullptr && v->has_string_value() ? v->string_value() : std::string();
}
inline int64_t Num(const google::protobuf::Struct& s, const std::string& k) {
  const auto* v = Get(s, k);
  return v != nullptr && v->kind_case() == google::protobuf::Value::kNumberValue
             ? static_cast<int64_t>(v->number_value())
             : 0;
}
inline bool Bool(const google::protobuf::Struct& s, const std::string& k) {
  const auto* v = Get(s, k);
  return v != nullptr && v->kind_case() == google::protobuf::Value::kBoolValue && v->bool_value();
}
inline std::vector<const google::protobuf::Struct*> Objects(const google::protobuf::Struct& s,
                                                            const std::string& k) {
  std::vector<const google::protobuf::Struct*> out;
  const auto* v = Get(s, k);
  if (v != nullptr && v->has_list_value()) {
    for (const auto& e : v->list_value().values()) {
      if (e.has_struct_value()) out.push_back(&e.struct_value());
    }
  }
  return out;
}
inline std::vector<std::string> Strings(const google::protobuf::Struct& s, const std::string& k) {
  std::vector<std::string> out;
  const auto* v = Get(s, k);
  if (v != nullptr && v->has_list_value()) {
    for (const auto& e : v->list_value().values()) {
      if (e.has_string_value()) out.push_back(e.string_value());
    }
  }
  return out;
}

}  // namespace detail

// Parses core::JourneyToJson output.
inline std::optional<JourneyView> ParseJourney(const std::string& json, std::string* error = nullptr) {
  google::protobuf::Struct root;
  auto st = google::protobuf::util::JsonStringToMessage(json, &root);
  if (!st.ok()) {
    if (error) *error = "journey JSON does not parse: " + std::string(st.message());
    return std::nullopt;
  }
  using namespace detail;
  JourneyView j;
  j.json = json;
  j.case_id = Str(root, "case_id");
  j.closed = Bool(root, "closed");
  j.stages = Strings(root, "stages");
  for (const auto* e : Objects(root, "entries")) {
    JourneyEntryView v;
    v.agency = Str(*e, "agency");
    v.event = Str(*e, "event");
    v.text = Str(*e, "text");
    v.referral_id = Str(*e, "referral_id");
    v.global_seq = static_cast<uint64_t>(Num(*e, "global_seq"));
    v.case_seq = static_cast<uint64_t>(Num(*e, "case_seq"));
    v.stages = Strings(*e, "stages");
    j.entries.push_back(std::move(v));
  }
  for (const auto* e : Objects(root, "stage_intervals")) {
    StageIntervalView v;
    v.stage = Str(*e, "stage");
    v.ongoing = Bool(*e, "ongoing");
    v.from_ms = Num(*e, "from_ms");
    v.to_ms = Num(*e, "to_ms");
    j.stage_intervals.push_back(std::move(v));
  }
  for (const auto* r : Objects(root, "referrals")) {
    JourneyReferralView v;
    v.number = static_cast<int>(Num(*r, "number"));
    v.referral_id = Str(*r, "referral_id");
    v.from_agency = Str(*r, "from_agency");
    v.to_agency = Str(*r, "to_agency");
    v.kind = Str(*r, "kind");
    v.service = Str(*r, "service");
    v.priority = Str(*r, "priority");
    v.respond_by_ms = Num(*r, "respond_by_ms");
    v.parent_referral_id = Str(*r, "parent_referral_id");
    v.child_referral_ids = Strings(*r, "child_referral_ids");
    v.status = Str(*r, "status");
    v.status_reason = Str(*r, "status_reason");
    v.outcome = Str(*r, "outcome");
    for (const auto* s : Objects(*r, "steps")) {
      JourneyStepView step;
      step.status = Str(*s, "status");
      step.by_agency = Str(*s, "by_agency");
      step.global_seq = static_cast<uint64_t>(Num(*s, "global_seq"));
      step.at_ms = Num(*s, "at_ms");
      v.steps.push_back(std::move(step));
    }
    j.referrals.push_back(std::move(v));
  }
  return j;
}

// A node's status (ControlRequest.status, JSON).
struct NodeStatus {
  bool connected = false;
  uint64_t outbox = 0;
  uint64_t cases = 0;
  uint64_t tree_size = 0;
};

inline std::optional<NodeStatus> ParseStatus(const std::string& json) {
  google::protobuf::Struct root;
  if (!google::protobuf::util::JsonStringToMessage(json, &root).ok()) {
    return std::nullopt;
  }
  NodeStatus s;
  s.connected = detail::Bool(root, "connected");
  s.outbox = static_cast<uint64_t>(detail::Num(root, "outbox"));
  s.cases = static_cast<uint64_t>(detail::Num(root, "cases"));
  s.tree_size = static_cast<uint64_t>(detail::Num(root, "tree_size"));
  return s;
}

inline std::string CodeName(v1::ControlCode c) { return v1::ControlCode_Name(c); }

// "code field: reason" of a control response, for failure messages.
inline std::string Describe(const v1::ControlResponse& r) {
  return CodeName(r.code()) + (r.field().empty() ? "" : " field=" + r.field()) +
         (r.reason().empty() ? "" : " reason=" + r.reason());
}

// Polls `done` every `poll_ms` until it holds or `timeout_ms` passes. On timeout the failure names
// `what` and, when given, what `describe` says about the last state seen.
inline ::testing::AssertionResult WaitUntil(const std::string& what, const std::function<bool()>& done,
                                            int timeout_ms = kWaitMs,
                                            const std::function<std::string()>& describe = {},
                                            int poll_ms = 100) {
  auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (done()) {
      return ::testing::AssertionSuccess();
    }
    if (Clock::now() >= until) {
      auto r = ::testing::AssertionFailure() << "timed out after " << timeout_ms << " ms waiting for "
                                             << what;
      if (describe) {
        r << "\n  last seen: " << describe();
      }
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
}

// ---- the NRM ----------------------------------------------------------------------------------------

#ifdef PASSAGECTL_BIN
struct CtlProc {
  int code = -1;
  std::string out, err;
};

// Runs the real passagectl with `input` on standard input and sessions under `sessions`.
inline CtlProc Passagectl(const std::vector<std::string>& args, const std::string& input,
                const std::string& sessions, const std::string& dir) {
  const std::string in = dir + "/ctl.in", out = dir + "/ctl.out", err = dir + "/ctl.err";
  std::ofstream(in) << input;
  pid_t pid = fork();
  if (pid == 0) {
    (void)!freopen(in.c_str(), "r", stdin);
    (void)!freopen(out.c_str(), "w", stdout);
    (void)!freopen(err.c_str(), "w", stderr);
    setenv("PASSAGE_SESSION_DIR", sessions.c_str(), 1);
    std::vector<char*> argv;
    std::string bin = PASSAGECTL_BIN;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  CtlProc p;
  p.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream o(out), e(err);
  p.out.assign(std::istreambuf_iterator<char>(o), {});
  p.err.assign(std::istreambuf_iterator<char>(e), {});
  return p;
}
#endif  // PASSAGECTL_BIN

struct NrmOptions {
  uint32_t tick_ms = 100;
  uint32_t min_k = 0;                    // NodeConfig.min_k of every node (0 = the default, 5)
  bool http = false;                     // every node serves its web workspace on 127.0.0.1:0
  bool https = false;                    // ... over TLS with a self-signed certificate
  std::string notify_command;            // NodeConfig.notify_command of every agency node
  std::vector<std::string> broker_args;  // extra flags for passage-broker
  bool metrics = false;  // broker and nodes serve /metrics, /healthz, /readyz on 127.0.0.1:0
  // NodeConfig.webhooks of the agency nodes, by agency id.
  std::map<std::string, std::vector<v1::WebhookEndpoint>> webhooks;
};

class Nrm {
 public:
  Nrm(std::vector<AgencySpec> agencies, v1::RuleSet rules, NrmOptions options = {})
      : specs_(std::move(agencies)), rules_(std::move(rules)), options_(std::move(options)) {
    tmp_ = std::make_unique<testing::TempDir>();
    dir_ = tmp_->path();
    WriteFiles();
  }

  ~Nrm() {
    if (::testing::Test::HasFailure()) {
      DumpLogs();
    }
    StopAll();
    if (std::getenv("PASSAGE_E2E_KEEP") != nullptr) {
      std::printf("e2e: keeping %s\n", dir_.c_str());
      (void)tmp_.release();  // never destroyed: its destructor would remove the directory
    }
  }

  Nrm(const Nrm&) = delete;
  Nrm& operator=(const Nrm&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& endpoint() const { return endpoint_; }

  // Starts the broker, then the router and every node whose spec says start; waits until each is
  // connected to the broker.
  ::testing::AssertionResult Start() {
    if (auto r = StartBroker(); !r) return r;
    std::vector<std::string> started;
    for (auto& [id, p] : procs_) {
      if (id == "broker" || !autostart_[id]) continue;
      if (!Spawn(id)) return ::testing::AssertionFailure() << "cannot start " << id;
      started.push_back(id);
    }
    for (const auto& id : started) {
      if (auto r = WaitReady(id); !r) return r;
    }
    return ::testing::AssertionSuccess();
  }

  // Starts (or restarts after StopNode) one node and waits until it is connected.
  ::testing::AssertionResult StartNode(const std::string& id) {
    if (procs_.count(id) == 0) return ::testing::AssertionFailure() << "no node " << id;
    if (!Spawn(id)) return ::testing::AssertionFailure() << "cannot start " << id;
    return WaitReady(id);
  }

  // Stops the broker (if it runs) and starts it again on the same data directory: on the same
  // endpoint (the nodes reconnect), or on a new port (running nodes do not follow it; for checks
  // on the broker alone).
  ::testing::AssertionResult RestartBroker(bool same_endpoint = false) {
    Terminate("broker", SIGTERM);
    if (same_endpoint) {  // the nodes then reconnect to it
      auto& argv = procs_["broker"].argv;
      for (size_t i = 0; i + 1 < argv.size(); ++i) {
        if (argv[i] == "--listen") argv[i + 1] = endpoint_;
      }
    }
    return StartBroker();
  }

  // Starts one node without waiting for it to connect (for nodes that cannot).
  bool Launch(const std::string& id) { return procs_.count(id) != 0 && Spawn(id); }

  // Stops one node gracefully (SIGTERM; SIGKILL after 10 s).
  void StopNode(const std::string& id) { Terminate(id, SIGTERM); }
  // Kills one node (SIGKILL): a crash.
  void KillNode(const std::string& id) { Terminate(id, SIGKILL); }
  ::testing::AssertionResult RestartNode(const std::string& id) {
    StopNode(id);
    return StartNode(id);
  }
  bool Running(const std::string& id) {
    auto it = procs_.find(id);
    if (it == procs_.end() || it->second.pid <= 0) return false;
    int st = 0;
    if (waitpid(it->second.pid, &st, WNOHANG) == it->second.pid) {
      it->second.pid = -1;
      return false;
    }
    return true;
  }

  // ---- control socket ----

  // Every node's first admin ("admin") has this password; the harness signs in as "e2e.desk",
  // an account holding every work role (case worker, supervisor, data officer, coordinator,
  // auditor), made on first use.
  static constexpr const char* kAdminPassword = "e2e-admin-password";
  static constexpr const char* kDeskPassword = "e2e-desk-password";

  // Signs in on node `id` as `login`: the token, or the node's refusal.
  Result<std::string> SignIn(const std::string& id, const std::string& login,
                             const std::string& password) {
    v1::ControlRequest req;
    req.mutable_login()->set_login(login);
    req.mutable_login()->set_password(password);
    auto r = CallRaw(id, req);
    if (!r.ok()) return r.status();
    if (r->code() != v1::CONTROL_CODE_OK) return Status::PermissionDenied(r->reason(), r->field());
    return r->session_token();
  }

  // The session of the harness's desk account on `id`, made and signed in on first use.
  Result<std::string> DeskSession(const std::string& id) {
    std::string& token = sessions_[id];
    if (!token.empty()) return token;
    auto desk = SignIn(id, "e2e.desk", kDeskPassword);
    if (!desk.ok()) {
      auto admin = SignIn(id, "admin", kAdminPassword);
      if (!admin.ok()) return admin.status();
      v1::ControlRequest add;
      add.set_session_token(*admin);
      auto* st = add.mutable_staff();
      st->set_op(v1::StaffRequest::OP_ADD);
      st->set_login("e2e.desk");
      st->set_password(kDeskPassword);
      st->set_permanent(true);
      for (auto r : {v1::ACTOR_ROLE_CASE_WORKER, v1::ACTOR_ROLE_SUPERVISOR,
                     v1::ACTOR_ROLE_DATA_OFFICER, v1::ACTOR_ROLE_COORDINATOR,
                     v1::ACTOR_ROLE_AUDITOR}) {
        st->add_roles(r);
      }
      auto added = CallRaw(id, add);
      if (!added.ok()) return added.status();
      if (added->code() != v1::CONTROL_CODE_OK) return Status::Internal(added->reason());
      desk = SignIn(id, "e2e.desk", kDeskPassword);
      if (!desk.ok()) return desk.status();
    }
    token = *desk;
    return token;
  }

  // One request on a node's control socket, as the desk account. The error is transport only
  // (no answer in time) or a failed sign-in.
  Result<v1::ControlResponse> Call(const std::string& id, const v1::ControlRequest& req,
                                   int timeout_ms = 20000) {
    auto token = DeskSession(id);
    if (!token.ok()) return token.status();
    v1::ControlRequest signed_req = req;
    signed_req.set_session_token(*token);
    return CallRaw(id, signed_req, timeout_ms);
  }

  // The port of node `id`'s web workspace (NrmOptions.http), 0 when it has none yet.
  int HttpPort(const std::string& id) const {
    std::ifstream in(dir_ + "/nodes/" + id + "/http.port");
    int port = 0;
    in >> port;
    return port;
  }

  // The port of the metrics listener of node `id`, or of "broker" (NrmOptions.metrics); 0 when
  // none yet.
  int MetricsPort(const std::string& id) const {
    std::ifstream in(id == "broker" ? dir_ + "/broker/metrics.port"
                                    : dir_ + "/nodes/" + id + "/metrics.port");
    int port = 0;
    in >> port;
    return port;
  }

  // One request exactly as given (no session added).
  Result<v1::ControlResponse> CallRaw(const std::string& id, const v1::ControlRequest& req,
                                      int timeout_ms = 20000) {
    auto it = control_.find(id);
    if (it == control_.end()) return Status::NotFound("no node " + id);
    zmq::socket_t s(ctx_, zmq::socket_type::req);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::rcvtimeo, timeout_ms);
    s.set(zmq::sockopt::sndtimeo, timeout_ms);
    try {
      s.connect(it->second);
      std::string out = req.SerializeAsString();
      if (!s.send(zmq::buffer(out), zmq::send_flags::none)) {
        return Status::Unavailable(id + " did not take the request");
      }
      zmq::message_t m;
      if (!s.recv(m)) {
        return Status::Unavailable(id + " did not answer within " + std::to_string(timeout_ms) + " ms");
      }
      v1::ControlResponse r;
      if (!r.ParseFromArray(m.data(), static_cast<int>(m.size()))) {
        return Status::Internal(id + " sent a reply that is not a ControlResponse");
      }
      return r;
    } catch (const zmq::error_t& e) {
      return Status::Unavailable(id + ": " + e.what());
    }
  }

  // Intake at a first responder; the new case id, or the (non-OK) response.
  Result<std::string> Intake(const std::string& id, const v1::IntakeRequest& in,
                             v1::ControlResponse* response = nullptr) {
    v1::ControlRequest req;
    *req.mutable_intake() = in;
    auto r = Call(id, req);
    if (!r.ok()) return r.status();
    if (response) *response = *r;
    if (r->code() != v1::CONTROL_CODE_OK || r->case_ids_size() == 0) {
      return Status::FailedPrecondition("intake refused: " + Describe(*r), r->field());
    }
    return r->case_ids(0);
  }

  // Publishes an event as agency `id` (PublishRequest).
  Result<v1::ControlResponse> Publish(const std::string& id, const v1::Event& e) {
    v1::ControlRequest req;
    *req.mutable_publish()->mutable_event() = e;
    return Call(id, req);
  }

  // A referral move by agency `id` (ReferralActionRequest).
  Result<v1::ControlResponse> Act(const std::string& id, const std::string& referral_id,
                                  v1::ReferralStatus to, const std::string& outcome = "",
                                  v1::RejectReason reason = v1::REJECT_REASON_UNSPECIFIED) {
    v1::ControlRequest req;
    auto* a = req.mutable_referral_action();
    a->set_referral_id(referral_id);
    a->set_to(to);
    a->set_outcome(outcome);
    a->set_reason(reason);
    return Call(id, req);
  }

  std::vector<v1::Referral> Inbox(const std::string& id, bool include_closed = true) {
    v1::ControlRequest req;
    req.set_json(true);
    req.mutable_inbox()->set_include_closed(include_closed);
    auto r = Call(id, req);
    if (!r.ok() || r->code() != v1::CONTROL_CODE_OK) return {};
    return ParseJsonArray<v1::Referral>(r->json());
  }

  // The id of the first consent of `case_id` as node `id` knows it; "" when none.
  std::string FirstConsentId(const std::string& id, const std::string& case_id) {
    for (const auto& cs : Cases(id)) {
      if (cs.case_id() == case_id && cs.consents_size() > 0) return cs.consents(0).consent_id();
    }
    return "";
  }

  std::vector<v1::CaseState> Cases(const std::string& id) {
    v1::ControlRequest req;
    req.set_json(true);
    req.mutable_cases();
    auto r = Call(id, req);
    if (!r.ok() || r->code() != v1::CONTROL_CODE_OK) return {};
    return ParseJsonArray<v1::CaseState>(r->json());
  }

  std::optional<NodeStatus> NodeStatusOf(const std::string& id, int timeout_ms = 20000) {
    v1::ControlRequest req;
    req.set_json(true);
    req.mutable_status();
    auto r = Call(id, req, timeout_ms);
    if (!r.ok()) return std::nullopt;
    return ParseStatus(r->json());
  }

  // The journey of a case as node `id` (default: the router, which reads the whole log) tells it.
  // The raw response goes to `response` when given (e.g. to check NOT_FOUND).
  std::optional<JourneyView> Journey(const std::string& case_id, const std::string& id = kRouterId,
                                     v1::ControlResponse* response = nullptr) {
    v1::ControlRequest req;
    req.set_json(true);
    req.mutable_journey()->set_case_id(case_id);
    auto r = Call(id, req);
    if (!r.ok()) return std::nullopt;
    if (response) *response = *r;
    if (r->code() != v1::CONTROL_CODE_OK) return std::nullopt;
    return ParseJourney(r->json());
  }

  // The human-readable journey (for failure messages).
  std::string JourneyText(const std::string& case_id, const std::string& id = kRouterId) {
    v1::ControlRequest req;
    req.mutable_journey()->set_case_id(case_id);
    auto r = Call(id, req, 5000);
    if (!r.ok()) return r.status().ToString();
    return r->code() == v1::CONTROL_CODE_OK ? r->text() : Describe(*r);
  }

  // Polls the journey (router's view by default) until `pred` holds; the journey that satisfied
  // it goes to `out`.
  // Waits until the referral engine's one referral of `case_id` to `recipient` is RECEIVED there;
  // its id in `referral_id`.
  ::testing::AssertionResult WaitReceived(const std::string& case_id, const std::string& recipient,
                                          std::string* referral_id = nullptr) {
    JourneyView j;
    auto r = WaitJourney(
        case_id,
        [&](const JourneyView& v) {
          auto to = v.To(recipient);
          return to.size() == 1 && to[0]->status == "RECEIVED";
        },
        &j, "the referral to " + recipient + " to be RECEIVED");
    if (r && referral_id != nullptr) *referral_id = j.To(recipient)[0]->referral_id;
    return r;
  }

  ::testing::AssertionResult WaitJourney(const std::string& case_id,
                                         const std::function<bool(const JourneyView&)>& pred,
                                         JourneyView* out, const std::string& what,
                                         int timeout_ms = kWaitMs,
                                         const std::string& id = kRouterId) {
    JourneyView last;
    auto r = WaitUntil(
        what + " (case " + case_id + ")",
        [&] {
          auto j = Journey(case_id, id);
          if (!j) return false;
          last = *j;
          return pred(last);
        },
        timeout_ms, [&] { return last.Summary(); });
    if (r && out) *out = last;
    if (!r) r << "\n  journey:\n" << JourneyText(case_id, id);
    return r;
  }

  // Polls a node's inbox (terminal referrals included) until `pred` holds.
  ::testing::AssertionResult WaitInbox(const std::string& id,
                                       const std::function<bool(const std::vector<v1::Referral>&)>& pred,
                                       std::vector<v1::Referral>* out, const std::string& what,
                                       int timeout_ms = kWaitMs) {
    std::vector<v1::Referral> last;
    auto r = WaitUntil(
        what + " (inbox of " + id + ")",
        [&] {
          last = Inbox(id, true);
          return pred(last);
        },
        timeout_ms, [&] {
          std::string s = std::to_string(last.size()) + " referral(s):";
          for (const auto& x : last) {
            s += " " + x.referral_id().substr(0, 8) + "/" + v1::ReferralStatus_Name(x.status());
          }
          return s;
        });
    if (r && out) *out = last;
    return r;
  }

  // The number of case events the router has journaled (the sum of its cases' versions). The
  // router reads the whole log (SELECTOR_ALL_READABLE), so this is the size of the log without
  // configuration events, as far as it has been delivered. nullopt when the router does not answer.
  std::optional<uint64_t> RouterEventCount() {
    v1::ControlRequest req;
    req.set_json(true);
    req.mutable_cases();
    auto r = Call(kRouterId, req, 5000);
    if (!r.ok() || r->code() != v1::CONTROL_CODE_OK) return std::nullopt;
    std::string error;
    auto cases = ParseJsonArray<v1::CaseState>(r->json(), &error);
    if (!error.empty()) return std::nullopt;
    uint64_t n = 0;
    for (const auto& c : cases) n += c.version();
    return n;
  }

  // Waits until the log stops growing (as the router sees it) for `quiet_ms`, at most `timeout_ms`.
  ::testing::AssertionResult Settle(int quiet_ms = 1000, int timeout_ms = kWaitMs) {
    std::optional<uint64_t> last;
    bool first = true;
    auto since = Clock::now();
    return WaitUntil(
        "the log to stop growing",
        [&] {
          auto n = RouterEventCount();
          if (first || n != last) {
            first = false;
            last = n;
            since = Clock::now();
            return false;
          }
          return n.has_value() && Clock::now() - since >= std::chrono::milliseconds(quiet_ms);
        },
        timeout_ms,
        [&] { return last ? std::to_string(*last) + " case events" : std::string("no answer"); },
        200);
  }

  std::string Log(const std::string& id) const {
    std::ifstream in(dir_ + "/logs/" + id + ".log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  void DumpLogs(size_t tail_bytes = 4000) const {
    for (const auto& [id, p] : procs_) {
      std::string l = Log(id);
      if (l.size() > tail_bytes) l = "..." + l.substr(l.size() - tail_bytes);
      std::printf("---- log of %s (%s) ----\n%s\n", id.c_str(), dir_.c_str(), l.c_str());
    }
  }

 private:
  struct Proc {
    std::vector<std::string> argv;
    pid_t pid = -1;
  };

  static std::string BinaryFor(NodeKind k) {
    switch (k) {
      case NodeKind::kIdentification:
        return PASSAGE_IDENTIFICATION_BIN;
      case NodeKind::kProtection:
        return PASSAGE_PROTECTION_BIN;
      case NodeKind::kProsecution:
        return PASSAGE_PROSECUTION_BIN;
      case NodeKind::kNone:
        break;
    }
    return "";
  }

  void WriteFiles() {
    std::filesystem::create_directories(dir_ + "/keys");
    std::filesystem::create_directories(dir_ + "/logs");
    std::filesystem::create_directories(dir_ + "/nodes");
    broker_keys_ = transport::GenerateCurveKeyPair();
    (void)transport::WriteKeyFile(dir_ + "/keys/broker.curve", broker_keys_);
    std::ofstream(dir_ + "/keys/person.secret") << runtime::ToHex(std::string(32, '\x3c'));

    AgencySpec router;
    router.id = kRouterId;
    router.type = v1::AGENCY_TYPE_OTHER;
    router.node = NodeKind::kNone;  // started below with its own binary
    router.region = "PK-IS";
    router.override_roles = {v1::ACTOR_ROLE_SYSTEM};

    v1::AgencyRegistry reg;
    auto add = [&](const AgencySpec& a, bool system) {
      auto* e = reg.add_agencies();
      e->set_id(a.id);
      e->set_name(a.name.empty() ? "E2E agency " + a.id : a.name);
      e->set_type(a.type);
      e->set_region(a.region);
      for (auto s : a.services) e->add_services(s);
      e->set_capacity(a.capacity);
      for (auto r : a.override_roles) e->add_override_roles(r);
      e->set_first_responder(a.node == NodeKind::kIdentification);
      e->set_system_principal(system);
      auto curve = transport::GenerateCurveKeyPair();
      auto seal = runtime::GenerateSealingKeyPair();
      e->set_transport_public_key(curve.public_z85);
      e->set_sealing_public_key(runtime::ToHex(seal.public_key));
      std::string base = dir_ + "/keys/" + a.id;
      (void)transport::WriteKeyFile(base + ".curve", curve);
      std::ofstream(base + ".seal") << "public: " << runtime::ToHex(seal.public_key)
                                    << "\nsecret: " << runtime::ToHex(seal.secret_key) << "\n";
      std::filesystem::create_directories(dir_ + "/agencies");
      std::ofstream(dir_ + "/agencies/" + a.id + ".textproto") << e->DebugString();
    };
    for (const auto& a : specs_) add(a, false);
    add(router, true);
    // The NRM's law sections and section access, as the sample registry lists them.
    {
      v1::AgencyRegistry sample;
      std::ifstream in(std::string(PASSAGE_SOURCE_DIR) + "/deploy/config/registry.textproto");
      std::stringstream text;
      text << in.rdbuf();
      if (core::ParseConfigText(text.str(), "deploy/config/registry.textproto", &sample).ok()) {
        *reg.mutable_law_sections() = sample.law_sections();
        *reg.mutable_section_access() = sample.section_access();
      }
    }
    // The broker's and the nodes' copies leave out the agencies a test registers live; those
    // agencies' own nodes read the whole registry (registry-all.textproto), as an operator hands a
    // new agency the exported registry.
    v1::AgencyRegistry known;
    for (const auto& e : reg.agencies()) {
      bool later = false;
      for (const auto& a : specs_) later = later || (a.id == e.id() && !a.registered);
      if (!later) *known.add_agencies() = e;
    }
    *known.mutable_law_sections() = reg.law_sections();
    *known.mutable_section_access() = reg.section_access();
    std::ofstream(dir_ + "/registry-all.textproto") << reg.DebugString();
    std::ofstream(dir_ + "/registry.textproto") << known.DebugString();
    std::ofstream(dir_ + "/broker-registry.textproto") << known.DebugString();
    std::ofstream(dir_ + "/rules.textproto") << rules_.DebugString();

    procs_["broker"].argv = {PASSAGE_BROKER_BIN,    "--data-dir", dir_ + "/broker",
                             "--registry",          dir_ + "/broker-registry.textproto",
                             "--key-file",          dir_ + "/keys/broker.curve",
                             "--listen",            "tcp://127.0.0.1:0",
                             "--endpoint-file",     dir_ + "/broker.endpoint"};
    for (const auto& a : options_.broker_args) procs_["broker"].argv.push_back(a);
    if (options_.metrics) {
      procs_["broker"].argv.push_back("--metrics-listen");
      procs_["broker"].argv.push_back("127.0.0.1:0");
    }

    for (const auto& a : specs_) {
      if (a.node == NodeKind::kNone) continue;
      AddNode(a.id, BinaryFor(a.node), a.auto_accept, /*router=*/false);
      autostart_[a.id] = a.start;
    }
    AddNode(kRouterId, PASSAGE_ROUTER_BIN, false, /*router=*/true);
    autostart_[kRouterId] = true;
  }

  void AddNode(const std::string& id, const std::string& bin, bool auto_accept, bool router) {
    std::string data = dir_ + "/nodes/" + id;
    control_[id] = "ipc://" + data + "/control.sock";
    procs_[id].argv = {bin, "--config", data + ".textproto"};
    node_auto_accept_[id] = auto_accept;
    node_is_router_[id] = router;
  }

  // The node config needs the broker's endpoint, so it is written once the broker serves.
  void WriteNodeConfig(const std::string& id) {
    std::string data = dir_ + "/nodes/" + id;
    std::filesystem::create_directories(data);
    v1::NodeConfig c;
    c.set_agency_id(id);
    c.set_broker_endpoint(endpoint_);
    c.set_broker_public_key(broker_keys_.public_z85);
    c.set_secret_key_file(dir_ + "/keys/" + id + ".curve");
    c.set_sealing_key_file(dir_ + "/keys/" + id + ".seal");
    c.set_person_secret_file(dir_ + "/keys/person.secret");
    c.set_data_dir(data);
    bool later = false;
    for (const auto& a : specs_) later = later || (a.id == id && !a.registered);
    c.set_registry_file(dir_ + (later ? "/registry-all.textproto" : "/registry.textproto"));
    c.set_tick_ms(options_.tick_ms);
    c.set_auto_accept(node_auto_accept_[id]);
    c.set_min_k(options_.min_k);
    if (options_.http) {
      c.mutable_http()->set_listen("127.0.0.1:0");
      c.mutable_http()->set_time_zone("Asia/Karachi");
    }
    if (options_.https) c.mutable_http()->set_tls_self_signed(true);
    if (options_.metrics) c.set_metrics_listen("127.0.0.1:0");
    if (node_is_router_[id]) c.set_rules_file(dir_ + "/rules.textproto");
    if (!node_is_router_[id]) c.set_notify_command(options_.notify_command);
    if (auto w = options_.webhooks.find(id); w != options_.webhooks.end()) {
      for (const auto& e : w->second) *c.add_webhooks() = e;
    }
    std::ofstream(data + ".admin-password") << kAdminPassword << "\n";
    c.mutable_staff()->set_initial_admin_password_file(data + ".admin-password");
    std::ofstream(data + ".textproto") << c.DebugString();
  }

  ::testing::AssertionResult StartBroker() {
    std::filesystem::remove(dir_ + "/broker.endpoint");
    if (!Spawn("broker")) return ::testing::AssertionFailure() << "cannot fork the broker";
    auto r = WaitUntil(
        "the broker to serve",
        [&] {
          std::ifstream in(dir_ + "/broker.endpoint");
          std::string ep;
          if (in >> ep) {
            endpoint_ = ep;
            return true;
          }
          return !Running("broker");  // fail fast below
        },
        kWaitMs, {}, 20);
    if (!r || endpoint_.empty()) {
      return ::testing::AssertionFailure() << "the broker did not start:\n" << Log("broker");
    }
    for (const auto& [id, _] : control_) WriteNodeConfig(id);
    return ::testing::AssertionSuccess();
  }

  ::testing::AssertionResult WaitReady(const std::string& id) {
    return WaitUntil(
        id + " to connect to the broker",
        [&] {
          if (!Running(id)) return true;  // reported below
          auto s = NodeStatusOf(id, 1000);
          return s && s->connected;
        },
        kWaitMs, [&] { return Log(id); }, 100)
               ? (Running(id) ? ::testing::AssertionSuccess()
                              : ::testing::AssertionFailure() << id << " exited:\n" << Log(id))
               : ::testing::AssertionFailure() << id << " did not connect:\n" << Log(id);
  }

  bool Spawn(const std::string& id) {
    Proc& p = procs_[id];
    if (p.pid > 0 && Running(id)) return true;
    std::string log = dir_ + "/logs/" + id + ".log";
    {
      std::ofstream(log, std::ios::app) << "==== e2e: starting " << id << "\n";
    }
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(126);
      if (std::freopen(log.c_str(), "a", stdout) == nullptr ||
          std::freopen(log.c_str(), "a", stderr) == nullptr) {
        _exit(125);
      }
      std::vector<char*> argv;
      for (auto& s : p.argv) argv.push_back(s.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    p.pid = pid;
    return true;
  }

  void Terminate(const std::string& id, int sig) {
    auto it = procs_.find(id);
    if (it == procs_.end() || it->second.pid <= 0) return;
    pid_t pid = it->second.pid;
    kill(pid, sig);
    int st = 0;
    auto until = Clock::now() + std::chrono::seconds(10);
    while (waitpid(pid, &st, WNOHANG) == 0) {
      if (Clock::now() >= until) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    it->second.pid = -1;
  }

  void StopAll() {
    // Nodes first (all signalled at once, then reaped), then the broker.
    for (auto& [id, p] : procs_) {
      if (id != "broker" && p.pid > 0) kill(p.pid, SIGTERM);
    }
    for (auto& [id, p] : procs_) {
      if (id != "broker") Terminate(id, SIGTERM);
    }
    Terminate("broker", SIGTERM);
  }

  std::unique_ptr<testing::TempDir> tmp_;
  std::string dir_;
  std::vector<AgencySpec> specs_;
  v1::RuleSet rules_;
  NrmOptions options_;
  transport::CurveKeyPair broker_keys_;
  std::string endpoint_;
  std::map<std::string, Proc> procs_;
  std::map<std::string, std::string> control_;
  std::map<std::string, std::string> sessions_;  // node id -> the desk account's session
  std::map<std::string, bool> autostart_;
  std::map<std::string, bool> node_auto_accept_;
  std::map<std::string, bool> node_is_router_;
  zmq::context_t ctx_{1};
};

}  // namespace passage::e2e
