#include "services/node/node.h"

#include <signal.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <zmq.hpp>

#include <google/protobuf/util/json_util.h>

#include "core/crime_reports.h"
#include "core/offences.h"
#include "core/case_reference.h"
#include "core/case_work.h"
#include "core/fhir.h"
#include "core/codes.h"
#include "core/ctdc/ctdc_export.h"
#include "core/ids.h"
#include "core/referral_state_machine.h"
#include "core/roles.h"
#include "core/text_proto.h"
#include "core/validate.h"
#include "services/runtime/sealing.h"
#include "services/node/access.h"
#include "ops/json_log.h"
#include "ops/service_notify.h"
#include "services/node/render.h"
#include "services/web/i18n.h"
#include "transport/keys.h"

namespace passage::node {
namespace {

namespace v1 = passage::v1;

std::string Be64(uint64_t v) {
  std::string b(8, '\0');
  for (int i = 7; i >= 0; --i) {
    b[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return b;
}

std::string JournalPrefix(const std::string& case_id) { return "j/" + case_id + std::string(1, '\0'); }
std::string KnownKey(const std::string& case_id) { return "k/" + case_id; }
std::string OwnKey(const std::string& event_id) { return "own/" + event_id; }

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::NotFound("cannot read " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// How far ahead `passagectl inbox` lists plan items and follow-ups (docs/case-work.md).
constexpr uint32_t kReminderDays = 7;

}  // namespace

v1::ControlCode CodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return v1::CONTROL_CODE_OK;
    case StatusCode::kInvalidArgument:
      return v1::CONTROL_CODE_INVALID;
    case StatusCode::kNotFound:
      return v1::CONTROL_CODE_NOT_FOUND;
    case StatusCode::kPermissionDenied:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists:
      return v1::CONTROL_CODE_REFUSED;
    case StatusCode::kUnavailable:
      return v1::CONTROL_CODE_UNAVAILABLE;
    default:
      return v1::CONTROL_CODE_INTERNAL;
  }
}

void SetError(v1::ControlResponse* r, const Status& s) {
  r->set_code(CodeFor(s));
  r->set_field(s.field());
  r->set_reason(s.message());
}

StatusCode StatusFromWire(v1::ErrorCode code) {
  switch (code) {
    case v1::ERROR_CODE_INVALID:
    case v1::ERROR_CODE_PROTOCOL:
      return StatusCode::kInvalidArgument;
    case v1::ERROR_CODE_UNAUTHORIZED:
      return StatusCode::kPermissionDenied;
    case v1::ERROR_CODE_CONFLICT:
      return StatusCode::kFailedPrecondition;
    case v1::ERROR_CODE_NOT_FOUND:
      return StatusCode::kNotFound;
    default:
      return StatusCode::kUnavailable;
  }
}

namespace {

// The broker names fields from the root of its PUBLISH batch ("events[3].referral_sent...");
// the position in the node's batch means nothing to whoever made the request.
std::string WithoutBatchPrefix(const std::string& field) {
  if (field.rfind("events[", 0) == 0) {
    auto close = field.find("].");
    if (close != std::string::npos) {
      return field.substr(close + 2);
    }
  }
  return field;
}

std::atomic<Node*> g_node{nullptr};
void OnSignal(int) {
  if (Node* n = g_node.load()) {
    n->RequestStop();
  }
}

}  // namespace

struct Node::ControlSocket {
  zmq::context_t ctx{1};
  zmq::socket_t sock{ctx, zmq::socket_type::rep};
  std::string endpoint;
};

Node::Node(NodeOptions options, std::unique_ptr<StageLogic> logic)
    : options_(std::move(options)), logic_(std::move(logic)) {}

Node::~Node() {
  if (web_) {
    web_->Stop();  // its requests call the control socket closed below
  }
  client_.reset();
  if (control_) {
    control_->sock.close();
    control_->ctx.close();
  }
}

int64_t Node::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Node::StableEventId(std::string_view key) {
  unsigned char h[16];
  crypto_generichash(h, sizeof(h), reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                     nullptr, 0);
  h[6] = static_cast<unsigned char>(0x40 | (h[6] & 0x0f));  // version 4 shape
  h[8] = static_cast<unsigned char>(0x80 | (h[8] & 0x3f));
  char out[37];
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1],
                h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14],
                h[15]);
  return out;
}

// The node's metrics (docs/operations.md): counts and timings, never case data.
struct Node::NodeMetrics {
  explicit NodeMetrics(ops::MetricsRegistry& r)
      : connected(r.AddGauge("passage_node_connected",
                             "1 while the node has a session with the broker, else 0.")),
        caught_up(r.AddGauge("passage_node_caught_up",
                             "1 once the node has read what the log held when it connected.")),
        outbox(r.AddGauge("passage_node_outbox_events",
                          "Events recorded here and not yet acknowledged by the broker.")),
        cases(r.AddGauge("passage_node_cases_known", "Cases in this node's journal.")),
        delivered(r.AddCounter("passage_node_events_received_total",
                               "Events received from the broker and written to the journal.")),
        open(r.AddGauge("passage_node_referrals_open",
                        "Referrals addressed to this agency that are not finished.")),
        unanswered(r.AddGauge("passage_node_referrals_unanswered",
                              "Referrals addressed to this agency still waiting for accept or "
                              "decline.")),
        due_soon(r.AddGauge("passage_node_referrals_due_within_day",
                            "Unanswered referrals due within 24 hours, the overdue included.")),
        overdue(r.AddGauge("passage_node_referrals_overdue",
                           "Unanswered referrals past their respond-by time.")) {}
  ops::Gauge& connected;
  ops::Gauge& caught_up;
  ops::Gauge& outbox;
  ops::Gauge& cases;
  ops::Counter& delivered;
  ops::Gauge& open;
  ops::Gauge& unanswered;
  ops::Gauge& due_soon;
  ops::Gauge& overdue;
};

Result<std::unique_ptr<Node>> Node::Create(NodeOptions options, std::unique_ptr<StageLogic> logic) {
  auto n = std::unique_ptr<Node>(new Node(std::move(options), std::move(logic)));
  RETURN_IF_ERROR(n->Init());
  return n;
}

Status Node::Init() {
  if (sodium_init() < 0) {
    return Status::Internal("libsodium failed to initialise");
  }
  ASSIGN_OR_RETURN(directory_, core::InMemoryAgencyDirectory::FromRegistry(options_.registry));
  if (directory_.Find(agency()) == nullptr) {
    return Status::InvalidArgument("agency_id", "'" + agency() + "' is not in the registry");
  }
  // Times in passagectl's text, journeys and note lists in the zone the workspace shows them in.
  RETURN_IF_ERROR(web::ValidateTimeZone(options_.config.http().time_zone()));
  if (!options_.config.http().time_zone().empty()) {
    core::SetShownTimeZone(web::ZoneOffset(options_.config.http().time_zone()));
  }
  std::filesystem::create_directories(options_.config.data_dir());
  // The store holds password hashes, sessions and the journal: the node's OS user and group only.
  if (::chmod(options_.config.data_dir().c_str(), 0750) != 0) {
    return Status::Unavailable("cannot restrict the data directory " +
                               options_.config.data_dir() + " to mode 0750");
  }
  ASSIGN_OR_RETURN(store_, runtime::LocalStore::Open(options_.config.data_dir() + "/store"));
  StaffOptions so;
  so.store = store_.get();
  so.node_id = agency();
  so.policy = options_.config.staff();
  ASSIGN_OR_RETURN(staff_, StaffDirectory::Open(so));
  ApiKeyOptions ko;
  ko.store = store_.get();
  ASSIGN_OR_RETURN(api_keys_, ApiKeys::Open(ko));
  ASSIGN_OR_RETURN(feed_, ReferralFeed::Open(store_.get(), agency()));
  {
    const auto& policy = options_.config.staff();
    std::string password;
    if (!policy.initial_admin_password_file().empty()) {
      ASSIGN_OR_RETURN(password, ReadFile(policy.initial_admin_password_file()));
      while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
        password.pop_back();
      }
    }
    const std::string login =
        policy.initial_admin_login().empty() ? "admin" : policy.initial_admin_login();
    auto made = staff_->EnsureFirstAdmin(login, password);
    if (!made.ok()) {
      return Status(made.status().code(),
                    "cannot make the first node admin: " + made.status().message(),
                    "staff.initial_admin_password_file");
    }
    if (made->has_value()) {
      // Not on the terminal: under systemd that is the journal, kept for good. A file only the
      // node's OS user can read, for the admin to read once and delete.
      const std::string path = options_.config.data_dir() + "/first-admin-password";
      ::unlink(path.c_str());
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      const std::string line = **made + "\n";
      const bool written =
          fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
      if (fd >= 0) {
        ::close(fd);
      }
      if (!written) {
        return Status::Unavailable("cannot write the first node admin's password to " + path);
      }
      std::fprintf(stderr,
                   "FIRST START: node admin '%s' created; its password is in %s (mode 0600).\n"
                   "Sign in with: passagectl --node %s login %s   then delete that file.\n",
                   login.c_str(), path.c_str(), options_.config.data_dir().c_str(),
                   login.c_str());
    }
  }
  // Remember which cases the journal holds.
  RETURN_IF_ERROR(store_->Scan("k/", [&](std::string_view k, std::string_view) {
    known_cases_[std::string(k.substr(2))] = true;
    return true;
  }));
  runtime::ClientOptions co;
  co.endpoint = options_.config.broker_endpoint();
  co.broker_public_z85 = options_.config.broker_public_key();
  co.public_z85 = options_.curve_public_z85;
  co.secret_z85 = options_.curve_secret_z85;
  co.agency_id = agency();
  co.insecure = options_.config.insecure();
  co.store = store_.get();
  co.on_log_restored = [this](uint64_t log_size, uint64_t seen) { OnLogRestored(log_size, seen); };
  ASSIGN_OR_RETURN(client_, runtime::Client::Create(co));
  client_->OnPublishResult([this](const v1::PublishResult& r) { OnResult(r); });

  control_ = std::make_unique<ControlSocket>();
  control_->endpoint = options_.config.control_endpoint().empty()
                           ? "ipc://" + options_.config.data_dir() + "/control.sock"
                           : options_.config.control_endpoint();
  // Only the node's OS user and group may open the control socket (docs/security.md): the socket
  // file is made under the process umask (NodeMain sets 027), then set to 0660 explicitly.
  try {
    control_->sock.set(zmq::sockopt::linger, 0);
    control_->sock.bind(control_->endpoint);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("cannot bind the control socket " + control_->endpoint + ": " +
                               e.what());
  }
  if (control_->endpoint.rfind("ipc://", 0) == 0) {
    const std::string path = control_->endpoint.substr(6);
    if (::chmod(path.c_str(), 0660) != 0) {
      return Status::Unavailable("cannot restrict the control socket " + path + " to mode 0660");
    }
  }
  if (!options_.config.notify_command().empty()) {
    if (options_.config.notify_command()[0] != '/' ||
        ::access(options_.config.notify_command().c_str(), X_OK) != 0) {
      return Status::InvalidArgument("notify_command",
                                     "'" + options_.config.notify_command() +
                                         "' is not an absolute path to a program this node may run");
    }
    notifier_ = std::make_unique<Notifier>(options_.config.notify_command(), store_.get(), agency());
  }
  if (!options_.config.http().listen().empty()) {
    web::WebOptions wo;
    wo.http = options_.config.http();
    wo.control_endpoint = control_->endpoint;
    wo.agency_id = agency();
    wo.agency_name = self()->name().empty() ? agency() : self()->name();
    for (const v1::Agency& a : options_.registry.agencies()) {
      if (!a.system_principal()) wo.agencies[a.id()] = a.name();
      wo.registry[a.id()] = a;
    }
    wo.port_file = options_.config.data_dir() + "/http.port";
    wo.data_dir = options_.config.data_dir();
    auto web = web::WebServer::Start(wo);
    if (!web.ok()) {
      return Status(web.status().code(), "web workspace: " + web.status().message(),
                    web.status().field());
    }
    web_ = std::move(web).value();
  }
  m_ = std::make_unique<NodeMetrics>(metrics_);
  if (!options_.config.metrics_listen().empty()) {
    auto started = ops::MetricsServer::Start(options_.config.metrics_listen(), &metrics_);
    if (!started.ok()) {
      return started.status();
    }
    metrics_server_ = std::move(started).value();
    metrics_server_->SetNotReady("not connected to the broker yet");
    // The port actually bound (port 0 picks one), for scripts and tests.
    std::ofstream(options_.config.data_dir() + "/metrics.port")
        << metrics_server_->port() << "\n";
  }
  if (options_.config.webhooks_size() > 0) {
    WebhookOptions wo;
    wo.endpoints.assign(options_.config.webhooks().begin(), options_.config.webhooks().end());
    wo.store = store_.get();
    wo.metrics = &metrics_;
    wo.agency = agency();
    ASSIGN_OR_RETURN(webhooks_, Webhooks::Start(std::move(wo)));
  }
  auto handler = [this](uint64_t seq, const v1::Envelope& env, runtime::StateWrite* w) -> Status {
    v1::Event e;
    if (!e.ParseFromString(env.event())) {
      return Status::InvalidArgument("envelope.event", "does not parse");
    }
    // In the write that journals the event: a call is queued exactly when its fact is recorded.
    QueueReferralWebhooks(env, e, w);
    RETURN_IF_ERROR(AddToJournal(env, w));
    m_->delivered.Add();
    delivered_.emplace_back(env, std::move(e));
    (void)seq;
    return Status::Ok();
  };
  std::optional<uint64_t> after;
  if (logic_->replay_on_start()) {
    after = 0;
  }
  RETURN_IF_ERROR(client_->Subscribe(logic_->selector(), 1024, handler, after));
  spdlog::info("{} node for {} started; control at {}", logic_->name(), agency(), control_->endpoint);
  return Status::Ok();
}

Status Node::AddToJournal(const v1::Envelope& env, runtime::StateWrite* w) {
  if (env.case_id().empty()) {
    return Status::Ok();
  }
  w->Put(JournalPrefix(env.case_id()) + Be64(env.global_seq()), env.SerializeAsString());
  w->Put(KnownKey(env.case_id()), "");
  RETURN_IF_ERROR(feed_->OnJournal(env, w));
  known_cases_[env.case_id()] = true;
  views_.erase(env.case_id());
  return Status::Ok();
}

void Node::QueueReferralWebhooks(const v1::Envelope& env, const v1::Event& e,
                                  runtime::StateWrite* w) {
  if (!webhooks_ || env.case_id().empty()) {
    return;
  }
  // The referrals as they were (the journal) and as they are after `e`.
  std::map<std::string, v1::ReferralStatus> before;
  core::CaseProjection after;
  if (auto view = View(env.case_id()); view.ok()) {
    for (const auto& r : (*view)->state().referrals()) {
      before[r.referral_id()] = r.status();
    }
    after = **view;
  }
  after.Apply(env, e);
  for (const auto& r : after.state().referrals()) {
    if (r.from_agency() != agency() && r.to_agency() != agency()) {
      continue;
    }
    auto was = before.find(r.referral_id());
    if (was != before.end() && was->second == r.status()) {
      continue;
    }
    WebhookNotice n;
    n.referral = r;
    if (n.referral.case_id().empty()) {
      n.referral.set_case_id(env.case_id());
    }
    const bool arrived = was == before.end() && r.to_agency() == agency();
    if (arrived) {
      // A referral to this agency: new_referral (or overdue when it comes late), as the notify
      // command hears of it, recorded so the periodic check does not give it again.
      const char* kind = NextNotice(r, agency(), now_ms(), *store_, "wh/notice/", w);
      if (kind == nullptr) {
        continue;
      }
      n.type = kind;
      n.id = StableEventId("webhook/" + agency() + "/" + n.type + "/" + r.referral_id());
      n.occurred_at_ms = now_ms();
    } else {
      n.type = "state_change";
      n.id = StableEventId("webhook/" + agency() + "/state_change/" + r.referral_id() + "/" +
                           env.event_id());
      n.occurred_at_ms = e.occurred_at_ms();
    }
    webhooks_->Queue(n, w);
  }
}

void Node::QueueInboxWebhooks(const std::vector<v1::Referral>& inbox) {
  runtime::StateWrite w;
  const int64_t now = now_ms();
  for (const auto& r : inbox) {
    const char* kind = NextNotice(r, agency(), now, *store_, "wh/notice/", &w);
    if (kind == nullptr) {
      continue;
    }
    WebhookNotice n;
    n.type = kind;
    n.referral = r;
    n.id = StableEventId("webhook/" + agency() + "/" + n.type + "/" + r.referral_id());
    n.occurred_at_ms = now;
    webhooks_->Queue(n, &w);
  }
  if (w.puts().empty()) {
    return;
  }
  if (Status s = store_->Write(w); !s.ok()) {
    spdlog::warn("{}: webhook calls for the inbox not recorded: {}", agency(), s.ToString());
  }
}

void Node::OnResult(const v1::PublishResult& r) {
  results_[r.event_id()] = r;
  auto own = store_->Get(OwnKey(r.event_id()));
  if (!own.ok() || !own->has_value()) {
    return;
  }
  runtime::StateWrite w;
  w.Delete(OwnKey(r.event_id()));
  if (r.ok()) {
    v1::Event e;
    e.ParseFromString(**own);
    v1::Envelope env;
    env.set_global_seq(r.global_seq());
    env.set_case_seq(r.case_seq());
    env.set_producer(agency());
    env.set_case_id(e.case_id());
    env.set_event_id(r.event_id());
    env.set_appended_at_ms(e.occurred_at_ms());
    env.set_event(**own);
    QueueReferralWebhooks(env, e, &w);
    (void)AddToJournal(env, &w);
  }
  Status s = store_->Write(w);
  if (!s.ok()) {
    spdlog::error("{}: journaling own event {}: {}", agency(), r.event_id(), s.ToString());
  }
}

v1::ControlResponse Node::CrimeReport(const v1::CrimeReportRequest& req, bool json) {
  v1::ControlResponse resp;
  core::CrimeReportOptions o;
  o.year = req.year();
  o.k = static_cast<int>(req.k() == 0 ? min_k() : req.k());
  if (req.k() != 0 && req.k() < min_k()) {
    SetError(&resp, Status::PermissionDenied("the NRM's policy keeps every cell below " +
                                                 std::to_string(min_k()) + " suppressed",
                                             "k"));
    return resp;
  }
  if (req.k() > min_k() && acting_role_ != v1::ACTOR_ROLE_DATA_OFFICER) {
    // As for stats: tables at several thresholds side by side would narrow hidden cells.
    SetError(&resp, Status::PermissionDenied("only a data officer may raise the suppression "
                                             "threshold above the policy's " +
                                                 std::to_string(min_k()),
                                             "k"));
    return resp;
  }
  // The NRM's own country: the one most registered agencies' regions lie in.
  std::map<std::string, int> countries;
  for (const auto& a : options_.registry.agencies()) {
    if (a.region().size() >= 2) ++countries[a.region().substr(0, 2)];
  }
  for (const auto& [c, n] : countries) {
    if (o.national.empty() || n > countries[o.national]) o.national = c;
  }
  if (!req.population_csv().empty()) {
    auto pop = core::ParsePopulation(req.population_csv());
    if (!pop.ok()) {
      SetError(&resp, pop.status());
      return resp;
    }
    o.population = std::move(*pop);
  }
  const std::vector<const v1::CaseState*> states = KnownStates();
  Result<std::vector<core::ReportSheet>> sheets = Status::InvalidArgument("kind", "choose a report");
  std::string heading;
  const std::string year = std::to_string(req.year());
  switch (req.kind()) {
    case v1::CrimeReportRequest::KIND_GLOTIP:
      sheets = core::GlotipReport(states, directory_, o);
      heading = "GLOTIP tables for " + year + " (cells below " + std::to_string(o.k) + " suppressed)";
      break;
    case v1::CrimeReportRequest::KIND_SMUGGLING:
      sheets = core::SmugglingReport(states, directory_, o);
      heading = "Smuggling of migrants, " + year + " (cells below " + std::to_string(o.k) + " suppressed)";
      break;
    case v1::CrimeReportRequest::KIND_SDG16:
      sheets = core::Sdg16Report(states, directory_, o);
      heading = "SDG 16.2.2, " + year;
      break;
    case v1::CrimeReportRequest::KIND_QUALITY:
      sheets = core::QualityReport(states, directory_, o);
      heading = "Data quality";
      break;
    default:
      break;
  }
  if (!sheets.ok()) {
    SetError(&resp, sheets.status());
    return resp;
  }
  if (json) {
    resp.set_json(core::ReportJson(*sheets));
  } else {
    resp.set_text(req.csv() ? core::ReportCsv(*sheets) : core::RenderReport(heading, *sheets));
  }
  return resp;
}

std::map<std::string, std::string> Node::SuspectReaders(const v1::CaseState& state) const {
  std::map<std::string, std::string> readers;
  for (const auto& g : state.access()) {
    const v1::Agency* a = directory_.Find(g.agency_id());
    if (a == nullptr || a->system_principal() || !core::GrantIncludes(g, v1::DATA_SECTION_SUSPECT) ||
        !directory_.crime_policy().MayHold(*a, v1::DATA_SECTION_SUSPECT)) {
      continue;
    }
    if (a->id() == agency()) {
      readers[a->id()] = options_.sealing.public_key;
      continue;
    }
    auto pk = runtime::FromHex(a->sealing_public_key(), "sealing_public_key");
    if (pk.ok() && pk->size() == 32) {
      readers[a->id()] = *pk;
    }
  }
  return readers;
}

void Node::ResealOwnSeals() {
  if (options_.sealing.secret_key.empty()) {
    return;
  }
  const bool suspects = PeopleSeeCrimeSide();
  for (const auto& id : KnownCases()) {
    auto view = View(id);
    if (!view.ok()) {
      continue;
    }
    // Most cases have no suspect this agency recorded: look before copying (publishing below
    // drops the cached view, so the loop works on a copy).
    bool mine = false;
    for (const v1::Suspect& x : (*view)->state().suspects()) {
      mine = mine || (suspects && x.recorded_by() == agency() && x.has_identity());
    }
    bool notes = false;
    for (const v1::CaseNote& n : (*view)->state().notes()) {
      notes = notes || n.written_by() == agency();
    }
    for (const v1::CaseDocument& d : (*view)->state().documents()) {
      notes = notes || d.written_by() == agency();
    }
    if (!mine && !notes) {
      continue;
    }
    const v1::CaseState s = (*view)->state();
    if (notes) {
      ResealNotesOf(s);
    }
    if (!mine) {
      continue;
    }
    for (const v1::Suspect& x : s.suspects()) {
      if (x.recorded_by() != agency() || !x.has_identity() || x.identity().ciphertext().empty()) {
        continue;
      }
      std::map<std::string, std::string> readers = SuspectReaders(s);
      readers[agency()] = options_.sealing.public_key;
      std::set<std::string> have, want;
      for (const auto& w : x.identity().wrapped_keys()) have.insert(w.agency_id());
      for (const auto& [a, _] : readers) want.insert(a);
      const std::string key = x.suspect_id() + "/" + std::to_string(s.version());
      if (have == want || !resealed_suspects_.insert(key).second) {
        continue;
      }
      readers.erase(agency());
      auto sealed = runtime::Rewrap(x.identity(), agency(), options_.sealing, readers);
      for (const auto& old : options_.previous_sealing) {
        if (sealed.ok()) break;
        sealed = runtime::Rewrap(x.identity(), agency(), old, readers);
      }
      if (!sealed.ok()) {
        spdlog::warn("{}: cannot re-seal a suspect's identity in case {}: {}", agency(), id,
                     sealed.status().ToString());
        continue;
      }
      v1::Event e;
      e.set_case_id(id);
      e.set_actor_role(v1::ACTOR_ROLE_SYSTEM);
      e.set_actor_user(agency() + "/sealing");
      e.mutable_suspect_identity_resealed()->set_suspect_id(x.suspect_id());
      *e.mutable_suspect_identity_resealed()->mutable_identity() = std::move(*sealed);
      if (Publish(std::move(e)).ok()) {
        spdlog::info("{}: a suspect's identity in case {} re-sealed for {} agencies", agency(), id,
                     want.size());
      }
    }
  }
}

bool Node::PeopleSeeCrimeSide() const {
  const v1::Agency* self = directory_.Find(agency());
  return self != nullptr &&
         directory_.crime_policy().TypeMayHold(self->type(), v1::DATA_SECTION_OFFENCE);
}

v1::ControlResponse Node::Cases(const v1::ControlRequest& req) {
  v1::ControlResponse resp;
  std::vector<const v1::CaseState*> states;
  if (!req.cases().case_id().empty()) {
    auto id = ResolveCase(req.cases().case_id(), "case_id");
    auto view = id.ok() ? View(*id) : Result<const core::CaseProjection*>(id.status());
    if (!view.ok() || !(*view)->exists()) {
      SetError(&resp, view.ok() ? Status::NotFound("no case " + req.cases().case_id() +
                                                   " is known to " + agency())
                                : view.status());
      resp.set_field("case_id");
      return resp;
    }
    states.push_back(&(*view)->state());
  } else {
    states = KnownStates();
  }
  std::vector<v1::CaseState> copies;
  if (!PeopleSeeCrimeSide()) {
    // The referral engine's people: the same answer from copies without offences and suspects.
    copies.reserve(states.size());
    for (const v1::CaseState* c : states) {
      copies.push_back(*c);
      copies.back().clear_offences();
      copies.back().clear_suspects();
    }
    for (size_t i = 0; i < copies.size(); ++i) states[i] = &copies[i];
  }
  resp.set_text(RenderCases(states, req.cases()));
  resp.set_json(CasesJson(states, req.cases()));
  return resp;
}

Status Node::SealSuspectIdentity(const v1::PersonalData& identity, v1::Event* e) {
  if (!e->has_suspect_recorded()) {
    return Status::InvalidArgument("suspect_identity",
                                   "only a suspect record (SuspectRecorded) carries an identity");
  }
  v1::Profile none;  // a suspect's age is a band, not checked against a date of birth
  RETURN_IF_ERROR(core::ValidatePersonalData(identity, none, now_ms(), "suspect_identity"));
  if (options_.sealing.public_key.empty()) {
    return Status::InvalidArgument("suspect_identity",
                                   "this node has no sealing key (sealing_key_file); a suspect's "
                                   "identity cannot be recorded");
  }
  // Readers: this agency and the agencies that hold the case's suspect records now; the node
  // re-seals when that set changes (ResealOwnSeals). Never the referral engine.
  auto view = View(e->case_id());
  if (!view.ok() || !(*view)->exists()) {
    return Status::NotFound("no case " + e->case_id() + " is known to " + agency());
  }
  std::map<std::string, std::string> readers = SuspectReaders((*view)->state());
  readers[agency()] = options_.sealing.public_key;
  ASSIGN_OR_RETURN(v1::SealedPersonalData sealed, runtime::Seal(identity, readers, ""));
  *e->mutable_suspect_recorded()->mutable_suspect()->mutable_identity() = std::move(sealed);
  return Status::Ok();
}

Result<std::string> Node::Publish(v1::Event e) {
  if (e.event_id().empty()) {
    e.set_event_id(core::NewUuidV7());
  }
  e.set_actor_agency(agency());
  if (e.occurred_at_ms() == 0) {
    e.set_occurred_at_ms(now_ms());
  }
  if (actor_) {
    // A person acts: who they are and in which role come from their session, never from input.
    e.set_actor_user(actor_->account.staff_id());
    e.set_actor_role(acting_role_);
    if (e.has_record_accessed()) {
      e.mutable_record_accessed()->set_actor_user(actor_->account.staff_id());
    }
    if (e.has_referral_sent() && e.referral_sent().referral().has_consent_override()) {
      auto* o = e.mutable_referral_sent()->mutable_referral()->mutable_consent_override();
      o->set_actor_user(actor_->account.staff_id());
      o->set_role(acting_role_);
    }
  } else if (e.actor_role() == v1::ACTOR_ROLE_UNSPECIFIED) {
    e.set_actor_role(v1::ACTOR_ROLE_SYSTEM);  // no person acts: the node on its own initiative
  }
  runtime::StateWrite w;
  w.Put(OwnKey(e.event_id()), e.SerializeAsString());
  RETURN_IF_ERROR(store_->Write(w));
  ASSIGN_OR_RETURN(uint64_t local, client_->Publish(e));
  (void)local;
  return e.event_id();
}

void Node::AwaitResults(const std::vector<std::string>& ids, int timeout_ms,
                        v1::ControlResponse* out) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    bool all = true;
    for (const auto& id : ids) {
      auto it = results_.find(id);
      if (it == results_.end()) {
        all = false;
        continue;
      }
      if (!it->second.ok() && out->code() == v1::CONTROL_CODE_OK) {
        const auto& err = it->second.error();
        out->set_code(err.code() == v1::ERROR_CODE_INVALID ? v1::CONTROL_CODE_INVALID
                      : err.code() == v1::ERROR_CODE_NOT_FOUND ? v1::CONTROL_CODE_NOT_FOUND
                                                               : v1::CONTROL_CODE_REFUSED);
        out->set_field(WithoutBatchPrefix(err.field()));
        out->set_reason(err.reason());
      }
    }
    if (all) {
      break;
    }
    if (std::chrono::steady_clock::now() >= until) {
      if (out->code() == v1::CONTROL_CODE_OK) {
        out->set_code(v1::CONTROL_CODE_UNAVAILABLE);
        out->set_reason("the broker has not answered yet; the events are queued in the outbox and "
                        "will be sent when it is reachable");
      }
      break;
    }
    (void)client_->Poll(10);
  }
  for (const auto& id : ids) {
    out->add_event_ids(id);
  }
}

Result<std::vector<JournalEntry>> Node::Journal(const std::string& case_id) {
  std::vector<JournalEntry> out;
  Status bad;
  RETURN_IF_ERROR(store_->Scan(JournalPrefix(case_id), [&](std::string_view, std::string_view v) {
    JournalEntry je;
    if (!je.first.ParseFromArray(v.data(), static_cast<int>(v.size())) ||
        !je.second.ParseFromString(je.first.event())) {
      bad = Status::Corruption("a journal entry of case " + case_id + " does not parse");
      return false;
    }
    out.push_back(std::move(je));
    return true;
  }));
  RETURN_IF_ERROR(bad);
  return out;
}

Result<const core::CaseProjection*> Node::View(const std::string& case_id) {
  if (auto it = views_.find(case_id); it != views_.end()) {
    return &it->second;
  }
  ASSIGN_OR_RETURN(auto entries, Journal(case_id));
  if (entries.empty()) {
    return Status::NotFound("case " + case_id + " is not known to " + agency());
  }
  core::CaseProjection p;
  for (const auto& [env, e] : entries) {
    p.Apply(env, e);
  }
  return &views_.emplace(case_id, std::move(p)).first->second;
}

std::vector<const v1::CaseState*> Node::KnownStates() {
  std::vector<const v1::CaseState*> out;
  for (const auto& id : KnownCases()) {
    auto view = View(id);
    if (view.ok() && (*view)->exists()) {
      out.push_back(&(*view)->state());
    }
  }
  return out;
}

std::vector<std::string> Node::KnownCases() {
  std::vector<std::string> out;
  for (const auto& [id, _] : known_cases_) {
    out.push_back(id);
  }
  return out;
}

Status Node::Fetch(const std::string& case_id, const std::string& purpose) {
  v1::ClientFrame req;
  req.mutable_case_events()->set_case_id(case_id);
  req.mutable_case_events()->set_purpose(purpose);
  ASSIGN_OR_RETURN(v1::ServerFrame reply, client_->Call(req, 5000));
  if (reply.has_error()) {
    return Status(StatusFromWire(reply.error().code()), reply.error().reason(),
                  reply.error().field());
  }
  runtime::StateWrite w;
  for (const auto& bytes : reply.case_events().envelopes()) {
    v1::Envelope env;
    if (!env.ParseFromString(bytes)) {
      return Status::Corruption("the broker sent an envelope that does not parse");
    }
    RETURN_IF_ERROR(AddToJournal(env, &w));
  }
  return store_->Write(w);
}

Result<std::string> Node::NextCaseReference(int64_t unix_ms) {
  const v1::Agency* me = self();
  if (me == nullptr) {
    return Status::FailedPrecondition("agency " + agency() + " is not in the registry");
  }
  const int year = core::UtcYear(unix_ms);
  const std::string key = "ref/" + std::to_string(year);
  ASSIGN_OR_RETURN(auto stored, store_->Get(key));
  uint64_t next = 1;
  if (stored.has_value()) {
    try {
      next = std::stoull(*stored) + 1;
    } catch (const std::exception&) {
      return Status::Corruption("the case reference count " + key + " does not parse");
    }
  }
  runtime::StateWrite w;
  w.Put(key, std::to_string(next));
  RETURN_IF_ERROR(store_->Write(w));
  return core::FormatCaseReference(core::ReferenceCodeOf(*me), year, next);
}

Result<std::string> Node::ResolveCase(const std::string& text, const std::string& field) {
  if (!core::LooksLikeCaseReference(text)) {
    RETURN_IF_ERROR(core::ValidateUuid(text, field));
    return text;
  }
  ASSIGN_OR_RETURN(std::string reference, core::ParseCaseReference(text, field));
  for (const auto& id : KnownCases()) {
    auto view = View(id);
    if (view.ok() && (*view)->state().reference() == reference) {
      return id;
    }
  }
  return Status(StatusCode::kNotFound, "no case " + reference + " is known to " + agency(), field);
}

std::vector<v1::Referral> Node::Inbox(bool include_terminal) {
  std::vector<v1::Referral> out;
  for (const auto& id : KnownCases()) {
    auto view = View(id);
    if (!view.ok()) {
      continue;
    }
    for (const auto& r : (*view)->state().referrals()) {
      if (r.to_agency() == agency() && (include_terminal || !core::IsTerminal(r.status()))) {
        out.push_back(r);
        if (out.back().case_id().empty()) {
          out.back().set_case_id(id);  // the carrying event names the case
        }
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const v1::Referral& a, const v1::Referral& b) {
    return std::make_tuple(-static_cast<int>(a.priority()), a.respond_by_ms(), a.referral_id()) <
           std::make_tuple(-static_cast<int>(b.priority()), b.respond_by_ms(), b.referral_id());
  });
  return out;
}

v1::ControlResponse Node::ReferralAction(const v1::ControlRequest& req) {
  v1::ControlResponse resp;
  const auto& a = req.referral_action();
  const v1::Referral* found = nullptr;
  std::string case_id;
  for (const auto& id : KnownCases()) {
    auto view = View(id);
    if (view.ok() && (found = core::FindReferral((*view)->state(), a.referral_id())) != nullptr) {
      case_id = id;
      break;
    }
  }
  if (found == nullptr) {
    SetError(&resp, Status::NotFound("no referral " + a.referral_id() + " is known to " + agency()));
    resp.set_field("referral_id");
    return resp;
  }
  v1::ReferralStatus to = a.to();
  if (to == v1::REFERRAL_STATUS_CANCELLED && found->from_agency() == agency() &&
      found->status() != v1::REFERRAL_STATUS_SENT) {
    // After receipt the sender can only ask; the recipient confirms.
    to = v1::REFERRAL_STATUS_CANCEL_REQUESTED;
  }
  v1::Event e;
  e.set_case_id(case_id);
  auto* t = e.mutable_referral_transition();
  t->set_referral_id(a.referral_id());
  t->set_to(to);
  t->set_reason(a.reason());
  t->set_note(a.note());
  t->set_outcome(a.outcome());
  auto id = Publish(e);
  if (!id.ok()) {
    SetError(&resp, id.status());
    return resp;
  }
  AwaitResults({*id}, 5000, &resp);
  if (resp.code() == v1::CONTROL_CODE_OK) {
    resp.set_text("referral " + a.referral_id() + " is now " + core::ReferralStatusName(to));
    resp.set_json("{\"referral_id\":\"" + a.referral_id() + "\",\"status\":\"" +
                  core::ReferralStatusName(to) + "\",\"event_id\":\"" + *id + "\"}");
  }
  return resp;
}

v1::ControlResponse Node::Personal(const v1::PersonalRequest& req) {
  v1::ControlResponse resp;
  auto view = View(req.case_id());
  if (!view.ok()) {
    SetError(&resp, view.status());
    resp.set_field("case_id");
    return resp;
  }
  // A copy: publishing below updates the journal, which drops the cached view.
  const v1::CaseState s = (*view)->state();
  // The victim's personal data, or (suspect_id) a suspect's sealed identity.
  const bool suspect = !req.suspect_id().empty();
  const v1::DataSection section = suspect ? v1::DATA_SECTION_SUSPECT : v1::DATA_SECTION_PERSONAL;
  const v1::SealedPersonalData* sealed = &s.personal();
  if (suspect) {
    const v1::Suspect* x = core::FindSuspect(s, req.suspect_id());
    if (x == nullptr || !x->has_identity() || x->identity().ciphertext().empty()) {
      SetError(&resp, Status::NotFound("no suspect " + req.suspect_id() +
                                       " with a recorded identity is known to " + agency() +
                                       " in case " + req.case_id()));
      resp.set_field("suspect_id");
      return resp;
    }
    sealed = &x->identity();
  } else if (!s.has_personal() || s.personal().ciphertext().empty()) {
    SetError(&resp, Status::NotFound("no personal data was recorded for case " + req.case_id() +
                                     " (or it was not shared with " + agency() + ")"));
    return resp;
  }
  // Open it in memory first; what is recorded is what happened: a read, or a refused attempt.
  const v1::AccessGrant* grant = core::FindAccess(s, agency());
  const bool granted = (s.owner_agency() == agency() ||
                        (grant != nullptr && core::GrantIncludes(*grant, section))) &&
                       directory_.MayHold(agency(), section);
  const std::string purpose = req.purpose().empty()
                                  ? (suspect ? "view a suspect's identity" : "view personal data")
                                  : req.purpose();
  std::string refusal;
  Result<v1::PersonalData> pd = Status::PermissionDenied("not opened");
  if (!granted) {
    refusal = suspect ? agency() + " does not hold the suspect records of this case"
                      : "no accepted referral of " + agency() +
                            " shares the personal data of this case";
  } else if (options_.sealing.secret_key.empty()) {
    refusal = "this node has no sealing key (sealing_key_file)";
  } else {
    pd = OpenSealed(*sealed);
    if (!suspect && !pd.ok() && pd.status().code() == StatusCode::kPermissionDenied) {
      // Not (yet) re-sealed for us by the owner's node, which may be offline: the broker hands out
      // the key the owner left for us at intake, now that our referral is accepted.
      v1::ClientFrame ask;
      ask.mutable_case_key()->set_case_id(req.case_id());
      auto reply = client_->Call(ask, 5000);
      if (reply.ok() && reply->has_case_key()) {
        if (reply->case_key().seal_nonce() == s.personal().nonce()) {
          pd = runtime::UnsealWithKey(s.personal(), reply->case_key().key(), options_.sealing);
          for (const auto& old : options_.previous_sealing) {
            if (pd.ok()) break;
            pd = runtime::UnsealWithKey(s.personal(), reply->case_key().key(), old);
          }
        } else {
          pd = Status::PermissionDenied("the personal data changed after the owner left its key");
        }
      } else if (reply.ok() && reply->has_error()) {
        pd = Status::PermissionDenied(reply->error().reason());
      }
    }
    if (!pd.ok() && suspect) {
      refusal = pd.status().code() == StatusCode::kPermissionDenied
                    ? "the suspect's identity was not sealed for " + agency() +
                          " (it was recorded before this agency was registered)"
                    : pd.status().message();
    } else if (!pd.ok()) {
      refusal = pd.status().code() == StatusCode::kPermissionDenied
                    ? "the personal data is not yet sealed for " + agency() + " (" +
                          pd.status().message() +
                          "; the owner's node re-seals it when it sees the acceptance)"
                    : pd.status().message();
    }
  }
  v1::Event e;
  e.set_case_id(req.case_id());
  auto* ra = e.mutable_record_accessed();
  ra->add_sections(section);
  ra->set_purpose(purpose);
  if (!refusal.empty()) {
    ra->set_refused(true);
    ra->set_refusal_reason(refusal);
    std::string recorded = "; the attempt was not recorded in the NRM's access log";
    if (auto id = Publish(e); id.ok()) {
      v1::ControlResponse attempt;
      AwaitResults({*id}, 5000, &attempt);
      if (attempt.code() == v1::CONTROL_CODE_OK) {
        recorded = "; the attempt was recorded in the NRM's access log";
      }
    }
    staff_->Record(suspect ? "suspect identity refused" : "personal data refused",
                   actor_ ? actor_->account.staff_id() : "", "case " + req.case_id() + ": " + refusal);
    SetError(&resp, Status::PermissionDenied(refusal + recorded, "case_id"));
    return resp;
  }
  // Record the read before showing it: if it cannot be recorded, nothing is shown.
  auto id = Publish(e);
  if (!id.ok()) {
    SetError(&resp, id.status());
    return resp;
  }
  AwaitResults({*id}, 5000, &resp);
  if (resp.code() != v1::CONTROL_CODE_OK) {
    return resp;
  }
  std::ostringstream t;
  t << "name            " << pd->given_name() << " " << pd->family_name() << "\n";
  if (!pd->date_of_birth().empty()) t << "date of birth   " << pd->date_of_birth() << "\n";
  if (!pd->cnic().empty()) t << "CNIC            " << pd->cnic() << "\n";
  if (!pd->passport_number().empty()) t << "passport        " << pd->passport_number() << "\n";
  if (!pd->phone().empty()) t << "phone           " << pd->phone() << "\n";
  if (!pd->address().empty()) t << "address         " << pd->address() << "\n";
  if (!pd->narrative().empty()) t << "narrative       " << pd->narrative() << "\n";
  t << "(this read was recorded in the NRM's access log)\n";
  resp.set_text(t.str());
  std::string json;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(*pd, &json, o);
  resp.set_json(json);
  return resp;
}

v1::ControlResponse Node::TreeHead() {
  v1::ControlResponse resp;
  auto saved = store_->LatestTreeHead();
  if (!saved.ok()) {
    SetError(&resp, saved.status());
    return resp;
  }
  v1::SignedTreeHead head;
  if (!saved->has_value()) {
    SetError(&resp, Status::NotFound("this node has not received a signed tree head from the "
                                     "broker yet"));
    return resp;
  }
  if (!head.ParseFromString(**saved)) {
    SetError(&resp, Status::Corruption("the latest saved tree head does not parse"));
    return resp;
  }
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(head, resp.mutable_json(), o);
  resp.set_text("signed tree head of size " + std::to_string(head.tree_size()));
  return resp;
}

v1::ControlResponse Node::ConsistencyProof(const v1::ConsistencyRequest& req) {
  v1::ControlResponse resp;
  v1::ClientFrame f;
  f.mutable_consistency_proof()->set_first_size(req.first_size());
  auto reply = client_->Call(f, 5000);
  if (!reply.ok()) {
    SetError(&resp, Status::Unavailable(reply.status().message()));
    return resp;
  }
  if (reply->has_error()) {
    SetError(&resp, Status(reply->error().code() == v1::ERROR_CODE_INVALID
                               ? StatusCode::kInvalidArgument
                               : StatusCode::kFailedPrecondition,
                           "the broker refused the consistency proof: " + reply->error().reason(),
                           reply->error().field()));
    return resp;
  }
  if (!reply->has_proof()) {
    SetError(&resp, Status::Internal("the broker answered a consistency proof request without "
                                     "a proof"));
    return resp;
  }
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(reply->proof(), resp.mutable_json(), o);
  resp.set_text("consistency proof from " + std::to_string(req.first_size()) + " to " +
                std::to_string(reply->proof().tree_size()));
  return resp;
}

// A journey view is a read of case data: it goes into the log as RecordAccessed (sections this
// agency may read; the personal data is never part of a journey). An agency that holds no grant yet
// (a referral it has not accepted) saw only what the broker already recorded when it was read.
void Node::RecordJourneyView(const std::string& case_id, const v1::JourneyRequest& req) {
  // One record per case and agency per ten minutes: a dashboard that refreshes is one viewing.
  constexpr int64_t kViewWindowMs = 10 * 60 * 1000;
  const int64_t now = now_ms();
  // Per person: a second staff member looking at the same case is a second reader.
  auto& last = journey_views_[case_id + "/" + (actor_ ? actor_->account.staff_id() : "")];
  if (last != 0 && now - last < kViewWindowMs) {
    return;
  }
  auto view = View(case_id);
  if (!view.ok()) {
    return;
  }
  const v1::CaseState& s = (*view)->state();
  std::vector<v1::DataSection> sections;
  const bool all = s.owner_agency() == agency() || directory_.IsSystemPrincipal(agency()) ||
                   (self() != nullptr && self()->type() == v1::AGENCY_TYPE_OVERSIGHT);
  const v1::AccessGrant* grant = core::FindAccess(s, agency());
  for (auto sec : {v1::DATA_SECTION_PROFILE, v1::DATA_SECTION_CONSENTS, v1::DATA_SECTION_REFERRALS,
                   v1::DATA_SECTION_SERVICES, v1::DATA_SECTION_PROCEEDINGS}) {
    if (all || (grant != nullptr && core::GrantIncludes(*grant, sec))) {
      sections.push_back(sec);
    }
  }
  if (sections.empty() || !(*view)->exists()) {
    return;
  }
  v1::Event e;
  e.set_case_id(case_id);
  auto* ra = e.mutable_record_accessed();
  for (auto sec : sections) {
    ra->add_sections(sec);
  }
  ra->set_purpose("journey view");
  auto id = Publish(std::move(e));
  if (!id.ok()) {
    spdlog::warn("{}: could not record the journey view of {}: {}", agency(), case_id,
                 id.status().ToString());
    return;
  }
  // The window starts with a recorded view: a look before the agency could read anything (no
  // record) does not hide the first real reading.
  last = now;
}

v1::ControlResponse Node::Fhir(const v1::FhirRequest& req) {
  v1::ControlResponse resp;
  if (req.has_export_referral()) {
    const auto& x = req.export_referral();
    auto case_id = ResolveCase(x.case_id(), "case_id");
    if (!case_id.ok()) {
      SetError(&resp, case_id.status());
      return resp;
    }
    auto view = View(*case_id);
    if (!view.ok() || !(*view)->exists()) {
      SetError(&resp, Status(StatusCode::kNotFound,
                             "no case " + x.case_id() + " is known to " + agency(), "case_id"));
      return resp;
    }
    for (const auto& r : (*view)->state().referrals()) {
      if (r.referral_id() == x.referral_id()) {
        v1::Referral copy = r;
        copy.set_case_id(*case_id);
        resp.set_json(core::ExportReferralFhir(copy));
        resp.set_text(resp.json());
        return resp;
      }
    }
    SetError(&resp, Status(StatusCode::kNotFound,
                           "case " + x.case_id() + " has no referral " + x.referral_id(),
                           "referral_id"));
    return resp;
  }
  if (!req.has_import_bundle()) {
    SetError(&resp, Status::InvalidArgument("fhir", "say export or import"));
    return resp;
  }
  const auto& in = req.import_bundle();
  std::string case_id;
  if (!in.case_id().empty()) {
    auto resolved = ResolveCase(in.case_id(), "case_id");
    if (!resolved.ok()) {
      SetError(&resp, resolved.status());
      return resp;
    }
    case_id = *resolved;
  }
  auto imported = core::ImportReferralFhir(in.bundle_json(), agency(), case_id, now_ms());
  if (!imported.ok()) {
    SetError(&resp, imported.status());
    return resp;
  }
  auto view = View(imported->case_id);
  if (!view.ok() || !(*view)->exists()) {
    SetError(&resp, Status(StatusCode::kNotFound,
                           "no case " + imported->case_id + " is known to " + agency(),
                           case_id.empty() ? "ServiceRequest.subject" : "case_id"));
    return resp;
  }
  v1::Event e;
  e.set_case_id(imported->case_id);
  *e.mutable_referral_sent()->mutable_referral() = imported->referral;
  auto id = Publish(e);
  if (!id.ok()) {
    SetError(&resp, id.status());
    return resp;
  }
  AwaitResults({*id}, 5000, &resp);
  if (resp.code() != v1::CONTROL_CODE_OK) {
    if (!resp.field().empty()) {
      resp.set_field(core::FhirPathOfReferralField(resp.field()));
    }
    return resp;
  }
  const v1::Referral& r = imported->referral;
  resp.set_text("sent referral " + r.referral_id() + " to " + r.to_agency() + " (event " + *id +
                ")");
  resp.set_json("{\"event_id\":" + core::JsonQuote(*id) + ",\"referral_id\":" +
                core::JsonQuote(r.referral_id()) + ",\"case_id\":" +
                core::JsonQuote(imported->case_id) + "}");
  return resp;
}

v1::ControlResponse Node::ExportCtdc(const v1::ExportRequest& req) {
  v1::ControlResponse resp;
  std::vector<v1::Profile> profiles;
  std::vector<std::string> ids;
  for (const auto& id : KnownCases()) {
    auto view = View(id);
    if (view.ok() && (*view)->exists()) {
      profiles.push_back((*view)->state().profile());
      ids.push_back(id);
    }
  }
  ctdc::ExportOptions o;
  o.k = req.k() == 0 ? 11 : static_cast<int>(req.k());
  if (o.k < static_cast<int>(min_k())) {
    SetError(&resp, Status::PermissionDenied(
                        "the NRM's policy keeps every exported class at " +
                            std::to_string(min_k()) +
                            " cases or more on this node; no one may lower it",
                        "k"));
    return resp;
  }
  auto out = ctdc::ExportCtdcCsv(profiles, o);
  if (!out.ok()) {
    SetError(&resp, out.status());
    return resp;
  }
  // Record the export of every case before handing the file out.
  std::vector<std::string> events;
  for (const auto& id : ids) {
    v1::Event e;
    e.set_case_id(id);
    auto* ra = e.mutable_record_accessed();
    ra->add_sections(v1::DATA_SECTION_PROFILE);
    ra->set_purpose("export (CTDC, k=" + std::to_string(o.k) + ")");
    auto published = Publish(std::move(e));
    if (!published.ok()) {
      SetError(&resp, published.status());
      return resp;
    }
    events.push_back(*published);
  }
  AwaitResults(events, 30000, &resp);
  if (resp.code() != v1::CONTROL_CODE_OK) {
    return resp;
  }
  resp.clear_event_ids();
  resp.set_text(out->csv);
  resp.set_json("{\"k\":" + std::to_string(o.k) +
                ",\"rows_written\":" + std::to_string(out->rows_written) +
                ",\"rows_generalised\":" + std::to_string(out->rows_generalised) +
                ",\"rows_suppressed\":" + std::to_string(out->rows_suppressed) +
                ",\"csv\":" + core::JsonQuote(out->csv) + "}");
  return resp;
}

uint32_t Node::min_k() const { return options_.config.min_k() == 0 ? 5 : options_.config.min_k(); }

v1::ControlResponse Node::HandleControl(const v1::ControlRequest& req) {
  v1::ControlResponse resp;
  if (req.command_case() == v1::ControlRequest::kLogin) {
    return Login(req);
  }
  if (req.command_case() == v1::ControlRequest::COMMAND_NOT_SET) {
    SetError(&resp, Status::InvalidArgument("command", "the request names no command"));
    return resp;
  }
  Result<SignedIn> who = Status::Internal("no session");
  if (!req.api_key().empty()) {
    who = AuthenticateApiKey(req, &resp);
    if (!who.ok()) {
      return resp;
    }
  } else {
    who = staff_->Authenticate(req.session_token());
  }
  if (!who.ok()) {
    resp.set_code(who.status().code() == StatusCode::kPermissionDenied
                      ? v1::CONTROL_CODE_UNAUTHENTICATED
                      : CodeFor(who.status()));
    resp.set_field(who.status().field());
    resp.set_reason(who.status().message());
    return resp;
  }
  const std::vector<v1::ActorRole> allowed = RolesForCommand(req);
  const std::vector<v1::ActorRole> held = RolesOf(who->account);
  const v1::ActorRole role = ActingRole(allowed, held);
  if (role == v1::ACTOR_ROLE_UNSPECIFIED) {
    staff_->Record("forbidden", who->account.staff_id(),
                   CommandName(req) + " refused: the account holds " + core::RoleList(held));
    resp.set_code(v1::CONTROL_CODE_FORBIDDEN);
    resp.set_field("role");
    resp.set_reason(allowed.empty()
                        ? CommandName(req) + " is not something a person may do on this node"
                        : "'" + CommandName(req) + "' needs one of: " + core::RoleList(allowed) +
                              "; your account holds " + core::RoleList(held) + " (docs/roles.md)");
    return resp;
  }
  if (who->account.must_change_password() &&
      req.command_case() != v1::ControlRequest::kPasswd &&
      req.command_case() != v1::ControlRequest::kWhoami &&
      req.command_case() != v1::ControlRequest::kLogout) {
    resp.set_code(v1::CONTROL_CODE_FORBIDDEN);
    resp.set_field("password");
    resp.set_reason("your password was set by a node admin: choose your own first "
                    "(passagectl passwd, or the workspace's password page)");
    return resp;
  }
  actor_ = std::move(who).value();
  acting_role_ = role;
  resp = HandleSignedIn(req);
  actor_.reset();
  acting_role_ = v1::ACTOR_ROLE_UNSPECIFIED;
  return resp;
}

Result<SignedIn> Node::AuthenticateApiKey(const v1::ControlRequest& req,
                                          v1::ControlResponse* refusal) {
  if (!req.session_token().empty()) {
    SetError(refusal, Status::InvalidArgument("api_key", "give a session or an API key, not both"));
    return Status::InvalidArgument("api_key", "both");
  }
  std::string cause;
  auto client = api_keys_->Authenticate(req.api_key(), &cause);
  if (!client.ok()) {
    staff_->Record("api key refused", "", cause + " (" + CommandName(req) + ")");
    refusal->set_code(client.status().code() == StatusCode::kPermissionDenied
                          ? v1::CONTROL_CODE_UNAUTHENTICATED
                          : CodeFor(client.status()));
    refusal->set_field(client.status().field());
    refusal->set_reason(client.status().message());
    return client.status();
  }
  switch (req.command_case()) {
    case v1::ControlRequest::kLogout:
    case v1::ControlRequest::kPasswd:
    case v1::ControlRequest::kPreferences:
    case v1::ControlRequest::kStaff:
    case v1::ControlRequest::kApiKeyAdmin:
      staff_->Record("forbidden", client->key_id(), CommandName(req) + " refused: an API key");
      refusal->set_code(v1::CONTROL_CODE_FORBIDDEN);
      refusal->set_field("api_key");
      refusal->set_reason("'" + CommandName(req) + "' is for people signed in, not for an API key");
      return Status::PermissionDenied("api key");
    default:
      break;
  }
  int64_t retry_after_s = 0;
  bool first = false;
  if (Status t = api_keys_->Take(*client, &retry_after_s, &first); !t.ok()) {
    if (first) {  // once a minute per key, so a runaway client does not flood the log
      staff_->Record("api key rate limited", client->key_id(), t.message());
    }
    SetError(refusal, t);
    refusal->set_json("{\"retry_after_s\":" + std::to_string(retry_after_s) + "}");
    return t;
  }
  SignedIn s;
  s.account.set_staff_id(client->key_id());
  s.account.set_login("api:" + client->key_id());
  s.account.set_display_name(client->name());
  *s.account.mutable_roles() = client->roles();
  return s;
}

v1::ControlResponse Node::ApiKeyAdmin(const v1::ApiKeyAdminRequest& req) {
  v1::ControlResponse resp;
  const std::string by = actor_->account.staff_id();
  auto client_json = [](const v1::ApiClient& c) {
    std::string roles;
    for (int r : c.roles()) {
      roles += (roles.empty() ? "\"" : ",\"") + core::RoleWords(static_cast<v1::ActorRole>(r)) + "\"";
    }
    return "{\"key_id\":\"" + c.key_id() + "\",\"name\":" + core::JsonQuote(c.name()) +
           ",\"roles\":[" + roles + "],\"rate_per_minute\":" +
           std::to_string(c.rate_per_minute()) +
           ",\"created_at_ms\":" + std::to_string(c.created_at_ms()) +
           ",\"created_by\":\"" + c.created_by() + "\",\"revoked_at_ms\":" +
           std::to_string(c.revoked_at_ms()) +
           ",\"last_used_at_ms\":" + std::to_string(c.last_used_at_ms()) + "}";
  };
  auto roles_of = [](const v1::ApiClient& c) {
    std::vector<v1::ActorRole> out;
    for (int r : c.roles()) out.push_back(static_cast<v1::ActorRole>(r));
    return out;
  };
  switch (req.op()) {
    case v1::ApiKeyAdminRequest::OP_CREATE: {
      std::vector<v1::ActorRole> roles;
      for (int r : req.roles()) roles.push_back(static_cast<v1::ActorRole>(r));
      auto made = api_keys_->Create(req.name(), roles, req.rate_per_minute(), by);
      if (!made.ok()) {
        SetError(&resp, made.status());
        return resp;
      }
      staff_->Record("api key created", by,
                     made->client.key_id() + " (" + core::RoleList(roles_of(made->client)) + ", " +
                         std::to_string(made->client.rate_per_minute()) + "/min)");
      resp.set_text("API key " + made->client.key_id() + " for " + made->client.name() + " (" +
                    core::RoleList(roles_of(made->client)) + "; " +
                    std::to_string(made->client.rate_per_minute()) +
                    " requests a minute)\nkey (shown once; keep it in the system's secret store):\n" +
                    made->key);
      std::string j = client_json(made->client);
      j.pop_back();
      resp.set_json(j + ",\"key\":\"" + made->key + "\"}");
      return resp;
    }
    case v1::ApiKeyAdminRequest::OP_LIST: {
      std::ostringstream t;
      std::string json = "[";
      for (const auto& c : api_keys_->List()) {
        char line[512];
        std::snprintf(line, sizeof(line), "%-16s %-8s %5u/min  %s  (%s)\n", c.key_id().c_str(),
                      c.revoked_at_ms() != 0 ? "revoked" : "active", c.rate_per_minute(),
                      core::RoleList(roles_of(c)).c_str(), c.name().c_str());
        t << line;
        json += (json.size() > 1 ? "," : "") + client_json(c);
      }
      resp.set_text(t.str());
      resp.set_json(json + "]");
      return resp;
    }
    case v1::ApiKeyAdminRequest::OP_REVOKE: {
      Status st = api_keys_->Revoke(req.key_id(), by);
      if (!st.ok()) {
        SetError(&resp, st);
        if (st.code() == StatusCode::kNotFound) resp.set_field("key_id");
        return resp;
      }
      staff_->Record("api key revoked", by, req.key_id());
      resp.set_text("API key " + req.key_id() + " revoked; requests with it are refused from now");
      resp.set_json("{\"key_id\":\"" + req.key_id() + "\",\"revoked\":true}");
      return resp;
    }
    default:
      SetError(&resp, Status::InvalidArgument("op", "name what to do with API keys"));
      return resp;
  }
}

v1::ControlResponse Node::Feed(const v1::FeedRequest& req) {
  v1::ControlResponse resp;
  if (req.limit() > kMaxFeedLimit) {
    SetError(&resp, Status::InvalidArgument("limit", "at most " + std::to_string(kMaxFeedLimit) +
                                                         " items at a time"));
    return resp;
  }
  auto items = feed_->Read(req.after(), req.limit());
  if (!items.ok()) {
    SetError(&resp, items.status());
    return resp;
  }
  std::ostringstream t;
  std::string json = "{\"items\":[";
  uint64_t next = req.after();
  for (auto& item : *items) {
    if (!item.case_id().empty() && known_cases_.count(item.case_id()) != 0) {
      if (auto view = View(item.case_id()); view.ok() && (*view)->exists()) {
        item.set_case_reference((*view)->state().reference());
      }
    }
    next = item.seq();
    t << item.seq() << "  " << core::FormatShownMs(item.at_ms()) << "  "
      << core::ShortEnumName(v1::FeedEventKind_descriptor(), item.kind()) << "  "
      << item.referral_id() << "  "
      << core::ShortEnumName(v1::ReferralStatus_descriptor(), item.status()) << "  "
      << item.from_agency() << " -> " << item.to_agency() << "\n";
    json += (json.back() == '[' ? "" : ",") + MessageJson(item);
  }
  resp.set_text(t.str());
  resp.set_json(json + "],\"next_after\":" + std::to_string(next) +
                ",\"last_seq\":" + std::to_string(feed_->last_seq()) + "}");
  return resp;
}

v1::ControlResponse Node::Login(const v1::ControlRequest& req) {
  v1::ControlResponse resp;
  auto s = staff_->SignIn(req.login().login(), req.login().password());
  if (!s.ok()) {
    resp.set_code(v1::CONTROL_CODE_UNAUTHENTICATED);
    resp.set_field(s.status().field());
    resp.set_reason(s.status().message());
    return resp;
  }
  resp.set_session_token(s->token);
  std::vector<v1::ActorRole> held = RolesOf(s->account);
  resp.set_text("signed in to " + agency() + " as " + s->account.display_name() + " (staff id " +
                s->account.staff_id() + "; " + core::RoleList(held) + ")" +
                (s->account.must_change_password()
                     ? "\nyour password was set by a node admin: choose your own now "
                       "(passagectl passwd)"
                     : ""));
  resp.set_json("{\"agency\":\"" + agency() + "\",\"staff_id\":\"" + s->account.staff_id() +
                "\",\"expires_at_ms\":" + std::to_string(s->expires_at_ms) + "}");
  return resp;
}

v1::ControlResponse Node::Whoami() {
  v1::ControlResponse resp;
  std::vector<v1::ActorRole> held = RolesOf(actor_->account);
  std::string roles_json;
  for (auto r : held) {
    roles_json += (roles_json.empty() ? "\"" : ",\"") + core::RoleWords(r) + "\"";
  }
  // The desk's counts for the workspace's header, for those who answer referrals.
  std::string desk;
  const auto inbox_roles = RolesForCommand([] {
    v1::ControlRequest q;
    q.mutable_inbox();
    return q;
  }());
  if (ActingRole(inbox_roles, held) != v1::ACTOR_ROLE_UNSPECIFIED) {
    const v1::InboxPage counts = InboxCounts(Inbox(false), now_ms());
    desk = ",\"to_answer\":" + std::to_string(counts.to_answer()) +
           ",\"due_within_day\":" + std::to_string(counts.due_within_day()) +
           ",\"overdue\":" + std::to_string(counts.overdue());
  }
  resp.set_text(actor_->account.display_name() + " (" + actor_->account.login() + ", staff id " +
                actor_->account.staff_id() + ") at " + agency() + "\nroles: " +
                core::RoleList(held) + "\nsession ends by " +
                core::FormatShownMs(actor_->expires_at_ms) + " unless used\n");
  resp.set_json("{\"agency\":\"" + agency() + "\",\"login\":" +
                core::JsonQuote(actor_->account.login()) + ",\"staff_id\":\"" +
                actor_->account.staff_id() + "\",\"roles\":[" + roles_json +
                "],\"expires_at_ms\":" + std::to_string(actor_->expires_at_ms) +
                ",\"language\":" + core::JsonQuote(actor_->account.language()) + desk + "}");
  return resp;
}

v1::ControlResponse Node::Staff(const v1::StaffRequest& req) {
  v1::ControlResponse resp;
  const std::string by = actor_->account.staff_id();
  std::vector<v1::ActorRole> roles;
  for (int r : req.roles()) {
    roles.push_back(static_cast<v1::ActorRole>(r));
  }
  auto password_answer = [&](const Result<std::string>& pw, const std::string& what) {
    if (!pw.ok()) {
      SetError(&resp, pw.status());
      return;
    }
    if (req.password().empty()) {
      resp.set_text(what + "; password (shown once): " + *pw);
      resp.set_json("{\"login\":" + core::JsonQuote(req.login()) +
                    ",\"password\":" + core::JsonQuote(*pw) + "}");
    } else {
      resp.set_text(what);
      resp.set_json("{\"login\":" + core::JsonQuote(req.login()) + "}");
    }
  };
  switch (req.op()) {
    case v1::StaffRequest::OP_ADD:
      password_answer(staff_->Add(req.login(), req.display_name(), roles, req.password(), by,
                                  !req.permanent()),
                      "account " + req.login() + " added");
      return resp;
    case v1::StaffRequest::OP_RESET_PASSWORD:
      password_answer(staff_->ResetPassword(req.login(), req.password(), by),
                      "password of " + req.login() + " reset; its sessions were ended");
      return resp;
    case v1::StaffRequest::OP_DISABLE:
    case v1::StaffRequest::OP_ENABLE: {
      const bool disable = req.op() == v1::StaffRequest::OP_DISABLE;
      Status st = staff_->SetDisabled(req.login(), disable, by);
      if (!st.ok()) {
        SetError(&resp, st);
        return resp;
      }
      resp.set_text("account " + req.login() + (disable ? " disabled; its sessions were ended"
                                                        : " enabled"));
      resp.set_json("{\"login\":" + core::JsonQuote(req.login()) + ",\"disabled\":" +
                    (disable ? "true" : "false") + "}");
      return resp;
    }
    case v1::StaffRequest::OP_SET_ROLES: {
      Status st = staff_->SetRoles(req.login(), roles, by);
      if (!st.ok()) {
        SetError(&resp, st);
        return resp;
      }
      resp.set_text("roles of " + req.login() + ": " + core::RoleList(roles));
      resp.set_json("{\"login\":" + core::JsonQuote(req.login()) + "}");
      return resp;
    }
    case v1::StaffRequest::OP_LIST: {
      std::ostringstream t;
      std::string json = "[";
      const int64_t now = now_ms();
      for (const auto& a : staff_->List()) {
        std::vector<v1::ActorRole> held = RolesOf(a);
        const bool locked = a.locked_until_ms() > now;
        const std::string state = a.disabled() ? "disabled" : locked ? "locked" : "active";
        char line[512];
        std::snprintf(line, sizeof(line), "%-20s %-16s %-9s %s  (%s)\n", a.login().c_str(),
                      a.staff_id().c_str(), state.c_str(), core::RoleList(held).c_str(),
                      a.display_name().c_str());
        t << line;
        std::string roles_json;
        for (auto r : held) {
          roles_json += (roles_json.empty() ? "\"" : ",\"") + core::RoleWords(r) + "\"";
        }
        json += (json.size() > 1 ? "," : "") + std::string("{\"login\":") +
                core::JsonQuote(a.login()) + ",\"staff_id\":\"" + a.staff_id() +
                "\",\"display_name\":" + core::JsonQuote(a.display_name()) + ",\"state\":\"" +
                state + "\",\"roles\":[" + roles_json + "]}";
      }
      resp.set_text(t.str());
      resp.set_json(json + "]");
      return resp;
    }
    case v1::StaffRequest::OP_SECURITY_LOG: {
      std::ostringstream t;
      std::string json = "[";
      for (const auto& r : staff_->SecurityLog(req.limit() == 0 ? 100 : req.limit())) {
        t << core::FormatShownMs(r.at_ms()) << "  " << r.what()
          << (r.staff_id().empty() ? "" : "  " + r.staff_id())
          << (r.detail().empty() ? "" : "  " + r.detail()) << "\n";
        json += (json.size() > 1 ? "," : "") + std::string("{\"at_ms\":") +
                std::to_string(r.at_ms()) + ",\"what\":" + core::JsonQuote(r.what()) +
                ",\"staff_id\":" + core::JsonQuote(r.staff_id()) +
                ",\"detail\":" + core::JsonQuote(r.detail()) + "}";
      }
      resp.set_text(t.str());
      resp.set_json(json + "]");
      return resp;
    }
    default:
      SetError(&resp, Status::InvalidArgument("op", "name what to do with staff accounts"));
      return resp;
  }
}

v1::ControlResponse Node::Find(const v1::FindRequest& req) {
  v1::ControlResponse resp;
  std::vector<const v1::CaseState*> found;
  if (!req.reference().empty()) {
    auto id = ResolveCase(req.reference(), "reference");
    if (!id.ok() && id.status().code() != StatusCode::kNotFound) {
      SetError(&resp, id.status());
      return resp;
    }
    if (id.ok()) {
      if (auto view = View(*id); view.ok() && (*view)->exists()) {
        found.push_back(&(*view)->state());
      }
    }
  } else if (!req.name().empty()) {
    if (options_.person_secret.empty()) {
      SetError(&resp, Status::FailedPrecondition(
                          "this node has no person secret (person_secret_file), so it cannot "
                          "compare names",
                          "name"));
      return resp;
    }
    if (!req.date_of_birth().empty()) {
      if (Status s = core::ValidateIsoDate(req.date_of_birth(), "date_of_birth"); !s.ok()) {
        SetError(&resp, s);
        return resp;
      }
    }
    v1::PersonalData pd;
    pd.set_given_name(req.name());
    pd.set_date_of_birth(req.date_of_birth());
    std::set<std::string> keys;
    for (int sex = 0; sex <= v1::Sex_MAX; ++sex) {
      if (v1::Sex_IsValid(sex) && (req.sex() == v1::SEX_UNSPECIFIED || req.sex() == sex)) {
        keys.insert(runtime::PersonKey(pd, static_cast<v1::Sex>(sex), options_.person_secret));
      }
    }
    keys.erase(std::string());
    if (keys.empty()) {
      SetError(&resp, Status::InvalidArgument("name", "give at least one letter of the name"));
      return resp;
    }
    for (const auto& id : KnownCases()) {
      auto view = View(id);
      if (!view.ok() || !(*view)->exists()) {
        continue;
      }
      const v1::CaseState& s = (*view)->state();
      bool may_open = s.owner_agency() == agency();
      for (const auto& g : s.access()) {
        may_open = may_open ||
                   (g.agency_id() == agency() && core::GrantIncludes(g, v1::DATA_SECTION_PERSONAL));
      }
      if (may_open && keys.count(s.personal().person_key()) > 0) {
        found.push_back(&s);
      }
    }
    // Who searched and how many were found; never the name.
    staff_->Record("find", actor_ ? actor_->account.staff_id() : "",
                   "searched by name and date of birth: " + std::to_string(found.size()) +
                       " case(s)");
  } else {
    SetError(&resp, Status::InvalidArgument(
                        "reference", "give a case reference, or a name and date of birth"));
    return resp;
  }
  v1::CasesRequest all;
  resp.set_text(found.empty() ? "no case found\n" : RenderCases(found, all));
  resp.set_json("{\"cases\":" + CasesJson(found, all) + "}");
  return resp;
}

v1::ControlResponse Node::HandleSignedIn(const v1::ControlRequest& original) {
  // A case reference wherever a case id is asked for: resolved here, once.
  const v1::ControlRequest* in = &original;
  v1::ControlRequest resolved;
  std::string* case_field = nullptr;
  if (original.has_journey() && core::LooksLikeCaseReference(original.journey().case_id())) {
    resolved = original;
    case_field = resolved.mutable_journey()->mutable_case_id();
  } else if (original.has_personal() &&
             core::LooksLikeCaseReference(original.personal().case_id())) {
    resolved = original;
    case_field = resolved.mutable_personal()->mutable_case_id();
  }
  if (case_field != nullptr) {
    auto id = ResolveCase(*case_field, "case_id");
    if (!id.ok()) {
      v1::ControlResponse resp;
      SetError(&resp, id.status());
      return resp;
    }
    *case_field = *id;
    in = &resolved;
  }
  const v1::ControlRequest& req = *in;
  if (auto r = logic_->OnControl(*this, req)) {
    return *r;
  }
  v1::ControlResponse resp;
  switch (req.command_case()) {
    case v1::ControlRequest::kStatus: {
      std::ostringstream t;
      t << "agency      " << agency() << " (" << logic_->name() << ")\n"
        << "broker      " << (client_->connected() ? "connected" : "not connected") << " at "
        << options_.config.broker_endpoint()
        << (client_->connection_problem().empty() ? "" : ": " + client_->connection_problem())
        << "\n"
        << "outbox      " << client_->outbox_size() << " events waiting\n"
        << "cases       " << known_cases_.size() << " known\n"
        << "log size    " << client_->last_tree_head().tree_size() << " (last signed tree head)\n";
      std::vector<std::string> problems = logic_->Problems();
      if (!restore_note_.empty()) {
        problems.push_back(restore_note_);
      }
      std::string problems_json;
      for (const auto& p : problems) {
        t << "PROBLEM     " << p << "\n";
        problems_json += (problems_json.empty() ? "" : ",") + core::JsonQuote(p);
      }
      resp.set_text(t.str());
      resp.set_json("{\"agency\":\"" + agency() + "\",\"connected\":" +
                    (client_->connected() ? "true" : "false") + ",\"connection_problem\":" +
                    core::JsonQuote(client_->connection_problem()) +
                    ",\"outbox\":" + std::to_string(client_->outbox_size()) +
                    ",\"cases\":" + std::to_string(known_cases_.size()) +
                    ",\"tree_size\":" + std::to_string(client_->last_tree_head().tree_size()) +
                    ",\"problems\":[" + problems_json + "]}");
      return resp;
    }
    case v1::ControlRequest::kInbox: {
      auto inbox = Inbox(req.inbox().include_closed());
      if (req.inbox().page_size() > 0) {
        // The workspace's page: only what it shows is rendered.
        resp.set_json(InboxPageJson(std::move(inbox), req.inbox(), now_ms()));
        return resp;
      }
      // Plan items and follow-ups of this agency due within a week, or overdue, after it.
      resp.set_text(RenderInbox(inbox, now_ms()) +
                    core::RenderReminders(core::DueReminders(KnownStates(), agency(), now_ms(),
                                                             kReminderDays)));
      resp.set_json(InboxJson(inbox));
      return resp;
    }
    case v1::ControlRequest::kReport: {
      const std::vector<const v1::CaseState*> states = KnownStates();
      resp.set_text(RenderReferralReport(states, now_ms()));
      resp.set_json(ReferralReportJson(states, now_ms()));
      return resp;
    }
    case v1::ControlRequest::kReferralAction:
      return ReferralAction(req);
    case v1::ControlRequest::kCorrect:
      return Correct(req.correct());
    case v1::ControlRequest::kPlan:
      return Plan(req.plan());
    case v1::ControlRequest::kPublish: {
      v1::Event event = req.publish().event();
      // A case reference where the case id goes (passagectl offence FIAKHI-26-00123-7 ...).
      if (core::LooksLikeCaseReference(event.case_id())) {
        auto case_id = ResolveCase(event.case_id(), "case_id");
        if (!case_id.ok()) {
          SetError(&resp, case_id.status());
          return resp;
        }
        event.set_case_id(*case_id);
      }
      if (req.publish().has_suspect_identity()) {
        if (Status st = SealSuspectIdentity(req.publish().suspect_identity(), &event); !st.ok()) {
          SetError(&resp, st);
          return resp;
        }
      }
      auto id = Publish(event);
      if (!id.ok()) {
        SetError(&resp, id.status());
        return resp;
      }
      AwaitResults({*id}, 5000, &resp);
      if (resp.code() == v1::CONTROL_CODE_OK) {
        const v1::Event& e = event;
        const std::string event_json = "{\"event_id\":\"" + *id + "\"";
        if (e.has_referral_sent()) {
          // What people act on next is the referral, not the event that carried it.
          const v1::Referral& r = e.referral_sent().referral();
          resp.set_text("sent referral " + r.referral_id() + " to " + r.to_agency() + " (event " +
                        *id + (r.consent_id().empty() ? "" : ", relying on consent " +
                                                                 r.consent_id()) +
                        ")");
          resp.set_json("{\"event_id\":\"" + *id + "\",\"referral_id\":" +
                        core::JsonQuote(r.referral_id()) +
                        ",\"consent_id\":" + core::JsonQuote(r.consent_id()) + "}");
        } else if (e.has_offence_registered()) {
          // The crime side: the ids people act on next, never a suspect's identity.
          const v1::Offence& o = e.offence_registered().offence();
          resp.set_text("recorded offence " + o.offence_id() + " (FIR " + o.fir_number() + ", " +
                        o.police_station() + "; event " + *id + ")");
          resp.set_json(event_json + ",\"offence_id\":" + core::JsonQuote(o.offence_id()) + "}");
        } else if (e.has_offence_status_changed()) {
          const v1::OffenceStatusChanged& c = e.offence_status_changed();
          std::string to = core::ShortEnumName(v1::OffenceStatus_descriptor(), c.to());
          if (c.closure() != v1::OFFENCE_CLOSURE_UNSPECIFIED) {
            to += " (" + core::ShortEnumName(v1::OffenceClosure_descriptor(), c.closure()) + ")";
          }
          resp.set_text("moved offence " + c.offence_id() + " to " + to + " (event " + *id + ")");
          resp.set_json(event_json + ",\"offence_id\":" + core::JsonQuote(c.offence_id()) + "}");
        } else if (e.has_suspect_recorded()) {
          const v1::Suspect& s = e.suspect_recorded().suspect();
          resp.set_text("recorded suspect " + s.suspect_id() + " of offence " + s.offence_id() +
                        (s.has_identity() ? ", identity sealed" : "") + " (event " + *id + ")");
          resp.set_json(event_json + ",\"suspect_id\":" + core::JsonQuote(s.suspect_id()) +
                        ",\"offence_id\":" + core::JsonQuote(s.offence_id()) + "}");
        } else if (e.has_accused_updated()) {
          const v1::AccusedUpdated& u = e.accused_updated();
          std::string step = core::ShortEnumName(v1::AccusedStep_descriptor(), u.step());
          for (char& c : step) {  // "BAIL_GRANTED" -> "bail granted"
            c = c == '_' ? ' ' : (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
          }
          resp.set_text("recorded " + step + " for suspect " + u.suspect_id() + " (event " + *id +
                        ")");
          resp.set_json(event_json + ",\"suspect_id\":" + core::JsonQuote(u.suspect_id()) + "}");
        } else if (e.has_smuggling_recorded()) {
          const v1::SmugglingDetails& d = e.smuggling_recorded().details();
          std::string route = d.origin_country();
          for (const auto& c : d.transit_countries()) {
            route += " \u2192 " + c;
          }
          route += " \u2192 " + d.destination_country();
          resp.set_text("recorded smuggling route " + route + " (event " + *id + ")");
          resp.set_json(event_json + "}");
        } else {
          resp.set_text("recorded event " + *id);
          resp.set_json(event_json + "}");
        }
      }
      return resp;
    }
    case v1::ControlRequest::kCases:
      return Cases(req);
    case v1::ControlRequest::kJourney: {
      const std::string& id = req.journey().case_id();
      auto entries = Journal(id);
      if (entries.ok() && entries->empty()) {
        // Not in this node's journal yet: ask the broker (recorded as an access).
        Status f = Fetch(id, "journey");
        if (!f.ok()) {
          SetError(&resp, f);
          return resp;
        }
        entries = Journal(id);
      }
      if (!entries.ok()) {
        SetError(&resp, entries.status());
        return resp;
      }
      RecordJourneyView(id, req.journey());
      if (!PeopleSeeCrimeSide()) {
        // The referral engine's node holds the crime side only to count it.
        std::erase_if(*entries, [](const JournalEntry& je) {
          return core::IsCrimeSection(core::SectionOf(je.second));
        });
      }
      resp.set_text(RenderJourneyText(*entries, directory_));
      resp.set_json(RenderJourneyJson(*entries, directory_));
      return resp;
    }
    case v1::ControlRequest::kExportCtdc:
      return ExportCtdc(req.export_ctdc());
    case v1::ControlRequest::kFhir:
      return Fhir(req.fhir());
    case v1::ControlRequest::kStats: {
      v1::StatsRequest stats = req.stats();
      if (stats.k() == 0) {
        stats.set_k(min_k());
      } else if (stats.k() < min_k()) {
        SetError(&resp, Status::PermissionDenied(
                            "the NRM's policy keeps every cell below " + std::to_string(min_k()) +
                                " suppressed on this node; no one may lower it",
                            "k"));
        return resp;
      } else if (stats.k() > min_k() && acting_role_ != v1::ACTOR_ROLE_DATA_OFFICER) {
        SetError(&resp, Status::PermissionDenied(
                            "only a data officer may raise the suppression threshold above the "
                            "policy's " + std::to_string(min_k()),
                            "k"));
        return resp;
      }
      const std::vector<const v1::CaseState*> states = KnownStates();
      auto out = RenderStats(states, stats, directory_, now_ms(), req.json());
      if (!out.ok()) {
        SetError(&resp, out.status());
        return resp;
      }
      (req.json() ? resp.mutable_json() : resp.mutable_text())->assign(*out);
      return resp;
    }
    case v1::ControlRequest::kCrimeReport:
      return CrimeReport(req.crime_report(), req.json());
    case v1::ControlRequest::kPersonal:
      return Personal(req.personal());
    case v1::ControlRequest::kNote:
      return Notes(req.note());
    case v1::ControlRequest::kDocument:
      return Documents(req.document());
    case v1::ControlRequest::kFind:
      return Find(req.find());
    case v1::ControlRequest::kPreferences: {
      Status st = staff_->SetLanguage(actor_->account.staff_id(), req.preferences().language());
      if (!st.ok()) {
        SetError(&resp, st);
        return resp;
      }
      resp.set_text("language set to " + req.preferences().language());
      resp.set_json("{}");
      return resp;
    }
    case v1::ControlRequest::kTreeHead:
      return TreeHead();
    case v1::ControlRequest::kConsistency:
      return ConsistencyProof(req.consistency());
    case v1::ControlRequest::kWhoami:
      return Whoami();
    case v1::ControlRequest::kLogout: {
      (void)staff_->SignOut(req.session_token());
      resp.set_text("signed out");
      resp.set_json("{}");
      return resp;
    }
    case v1::ControlRequest::kStaff:
      return Staff(req.staff());
    case v1::ControlRequest::kApiKeyAdmin:
      return ApiKeyAdmin(req.api_key_admin());
    case v1::ControlRequest::kFeed:
      return Feed(req.feed());
    case v1::ControlRequest::kPasswd: {
      Status st = staff_->ChangeOwnPassword(actor_->account.staff_id(),
                                            req.passwd().current_password(),
                                            req.passwd().new_password(), req.session_token());
      if (!st.ok()) {
        SetError(&resp, st);
        return resp;
      }
      resp.set_text("your password was changed; your other sessions were ended");
      resp.set_json("{}");
      return resp;
    }
    default:
      SetError(&resp, Status::InvalidArgument("command", "this node (" + logic_->name() +
                                                             ") does not handle that command"));
      return resp;
  }
}

void Node::ServeControl(int timeout_ms) {
  zmq::pollitem_t item{control_->sock.handle(), 0, ZMQ_POLLIN, 0};
  try {
    zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
  } catch (const zmq::error_t&) {
    return;
  }
  if ((item.revents & ZMQ_POLLIN) == 0) {
    return;
  }
  zmq::message_t msg;
  if (!control_->sock.recv(msg, zmq::recv_flags::dontwait)) {
    return;
  }
  while (msg.more()) {  // a REQ message is one frame; drop anything extra
    zmq::message_t extra;
    (void)control_->sock.recv(extra, zmq::recv_flags::dontwait);
    if (!extra.more()) {
      break;
    }
  }
  v1::ControlRequest req;
  v1::ControlResponse resp;
  if (!req.ParseFromArray(msg.data(), static_cast<int>(msg.size()))) {
    SetError(&resp, Status::InvalidArgument("request", "is not a ControlRequest"));
  } else {
    // Nothing a request carries may end the node: a failure inside (a bad_alloc, a library
    // throwing) answers INTERNAL and the node goes on serving.
    try {
      resp = HandleControl(req);
    } catch (const std::exception& ex) {
      actor_.reset();
      acting_role_ = v1::ACTOR_ROLE_UNSPECIFIED;
      spdlog::error("{}: a control request failed: {}", agency(), ex.what());
      SetError(&resp, Status::Internal("the node failed to handle the request; see its log"));
    }
  }
  std::string out = resp.SerializeAsString();
  try {
    control_->sock.send(zmq::buffer(out), zmq::send_flags::none);
  } catch (const zmq::error_t& e) {
    spdlog::warn("{}: control reply failed: {}", agency(), e.what());
  }
}

Status Node::Run() {
  const auto started = std::chrono::steady_clock::now();
  auto last_tick = std::chrono::steady_clock::now();
  auto last_notify = last_tick - std::chrono::hours(1);
  auto last_delivery = std::chrono::steady_clock::now();
  const auto tick = std::chrono::milliseconds(options_.config.tick_ms() > 0 ? options_.config.tick_ms() : 500);
  while (!stop_) {
    RETURN_IF_ERROR(client_->Poll(5));
    if (!delivered_.empty()) {
      last_delivery = std::chrono::steady_clock::now();
      auto batch = std::move(delivered_);
      delivered_.clear();
      for (const auto& [env, e] : batch) {
        logic_->OnDelivered(*this, env, e);
      }
    }
    if (!caught_up_ && client_->connected()) {
      if (catch_up_target_ == 0) {
        catch_up_target_ = std::max<uint64_t>(1, client_->last_tree_head().tree_size());
      }
      uint64_t pos = store_->Position(passage::v1::Selector_Name(logic_->selector()));
      bool idle = std::chrono::steady_clock::now() - last_delivery > std::chrono::milliseconds(300);
      if ((logic_->replay_on_start() && pos >= catch_up_target_ - 1 && idle) ||
          (!logic_->replay_on_start() && idle)) {
        caught_up_ = true;
        spdlog::info("{}: caught up (journal holds {} cases)", agency(), known_cases_.size());
      }
    }
    ServeControl(5);
    if (caught_up_ && std::chrono::steady_clock::now() - last_tick >= tick) {
      last_tick = std::chrono::steady_clock::now();
      logic_->OnTick(*this);
      ResealOwnSeals();
      // One inbox scan every 2 s for the feed's deadlines, the notifications, the webhooks and
      // the desk metrics.
      if (last_tick - last_notify >= std::chrono::seconds(2)) {
        last_notify = last_tick;
        const auto inbox = Inbox(false);
        if (Status f = feed_->CheckDeadlines(inbox, now_ms()); !f.ok()) {
          spdlog::warn("{}: referral feed deadlines not recorded: {}", agency(), f.ToString());
        }
        if (notifier_) {
          notifier_->Check(inbox, now_ms());
        }
        if (webhooks_) {
          QueueInboxWebhooks(inbox);
        }
        if (metrics_server_) {
          UpdateDeskMetrics(inbox);
        }
      }
    }
    UpdateReadiness(std::chrono::steady_clock::now() - started > std::chrono::minutes(1));
  }
  ops::NotifyStopping();
  if (metrics_server_) {
    metrics_server_->SetNotReady("stopping");
  }
  // Give queued events a moment to reach the broker; what remains is sent on the next start.
  (void)client_->Flush(1000);
  return Status::Ok();
}

void Node::RequestStop() { stop_ = true; }

Result<v1::PersonalData> Node::OpenSealed(const v1::SealedPersonalData& sealed) const {
  auto pd = runtime::Unseal(sealed, agency(), options_.sealing);
  // A key wrapped for an earlier sealing key does not open with the current one (Corruption).
  for (const auto& old : options_.previous_sealing) {
    if (pd.ok() || pd.status().code() != StatusCode::kCorruption) break;
    if (auto opened = runtime::Unseal(sealed, agency(), old); opened.ok()) {
      return opened;
    }
  }
  return pd;
}

void Node::OnLogRestored(uint64_t log_size, uint64_t seen) {
  constexpr char kHandled[] = "restore/handled";  // be64: the largest log size given up for a restore
  if (auto m = store_->Get(kHandled); m.ok() && m->has_value() && (*m)->size() == 8) {
    uint64_t handled = 0;
    for (unsigned char c : **m) handled = (handled << 8) | c;
    if (handled >= seen) {
      return;  // this restore was handled at an earlier connection
    }
  }
  // Where the restored log and the one this node followed part is not known here (the log may
  // have grown again before this node came back), so the journal, a copy of what the log said, is
  // rebuilt from the start of the log; this agency's own events are sent again first (those the
  // log holds come back as duplicates with their place, the others are appended again).
  runtime::StateWrite w;
  std::vector<std::pair<uint64_t, runtime::OutboxEntry>> own;
  size_t dropped = 0;
  (void)store_->Scan("j/", [&](std::string_view key, std::string_view v) {
    v1::Envelope env;
    if (env.ParseFromArray(v.data(), static_cast<int>(v.size())) && env.producer() == agency()) {
      own.push_back({env.global_seq(), runtime::OutboxEntry{0, env.event_id(), env.event()}});
      w.Put(OwnKey(env.event_id()), env.event());  // back in the journal when acknowledged
    }
    w.Delete(std::string(key));
    ++dropped;
    return true;
  });
  (void)store_->Scan("k/", [&](std::string_view key, std::string_view) {
    w.Delete(std::string(key));
    return true;
  });
  w.Put(kHandled, Be64(seen));
  const std::string stream = v1::Selector_Name(logic_->selector());
  if (Status st = store_->Apply(stream, 0, w); !st.ok()) {
    spdlog::critical("{}: could not record the broker's restore: {}", agency(), st.ToString());
    return;
  }
  known_cases_.clear();
  views_.clear();
  caught_up_ = false;
  catch_up_target_ = 0;
  logic_->OnLogRestored();
  std::sort(own.begin(), own.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<runtime::OutboxEntry> again;
  for (auto& [seq, e] : own) {
    again.push_back(std::move(e));
  }
  if (Status st = client_->RequeueFirst(again); !st.ok()) {
    spdlog::critical("{}: could not queue this agency's events again: {}", agency(), st.ToString());
  }
  restore_note_ = "the broker's log was restored from an older copy: it holds " +
                  std::to_string(log_size) + " entries where this node had seen " +
                  std::to_string(seen) + "; " + std::to_string(again.size()) +
                  " event(s) of this agency sent again and the journal (" +
                  std::to_string(dropped) + " entries) read again from the log";
  spdlog::critical("{}: {}", agency(), restore_note_);
}

// Readiness for systemd and /readyz, and the gauges that follow the connection. Ready once
// connected to the broker; after a minute without, systemd is told the node is up anyway (staff
// can work and the outbox carries their events), with the reason in its status line, while
// /readyz keeps answering 503 until the broker is reached.
void Node::UpdateReadiness(bool grace_over) {
  const bool connected = client_->connected();
  m_->connected.Set(connected ? 1 : 0);
  m_->caught_up.Set(caught_up_ ? 1 : 0);
  m_->outbox.Set(static_cast<double>(client_->outbox_size()));
  m_->cases.Set(static_cast<double>(known_cases_.size()));
  const std::string endpoint = options_.config.broker_endpoint();
  std::string status =
      connected ? "connected to the broker at " + endpoint +
                      (caught_up_ ? "" : ", catching up") +
                      (client_->outbox_size() > 0
                           ? ", " + std::to_string(client_->outbox_size()) + " event(s) to send"
                           : "")
                : "not connected to the broker at " + endpoint + ": " +
                      (client_->connection_problem().empty() ? std::string("no answer yet")
                                                             : client_->connection_problem()) +
                      " (" + std::to_string(client_->outbox_size()) +
                      " event(s) wait in the outbox)";
  if (metrics_server_) {
    if (connected) {
      metrics_server_->SetReady();
    } else {
      metrics_server_->SetNotReady(status);
    }
  }
  if (!notified_ready_ && (connected || grace_over)) {
    notified_ready_ = true;
    ops::NotifyReady(status);
  } else if (notified_ready_) {
    ops::NotifyStatus(status);
  }
}

void Node::UpdateDeskMetrics(const std::vector<v1::Referral>& inbox) {
  // The same counts as the workspace's inbox header (render.h, InboxCounts).
  const v1::InboxPage counts = InboxCounts(inbox, now_ms());
  int open = 0;
  for (const auto& r : inbox) {
    open += core::IsTerminal(r.status()) ? 0 : 1;
  }
  m_->open.Set(open);
  m_->unanswered.Set(counts.to_answer());
  m_->due_soon.Set(counts.due_within_day());
  m_->overdue.Set(counts.overdue());
}

Result<NodeOptions> LoadNodeOptions(const std::string& config_path) {
  NodeOptions o;
  ASSIGN_OR_RETURN(std::string text, ReadFile(config_path));
  RETURN_IF_ERROR(core::ParseConfigText(text, config_path, &o.config));
  const auto& c = o.config;
  if (c.agency_id().empty()) {
    return Status::InvalidArgument(config_path, "agency_id is required");
  }
  if (c.broker_endpoint().empty()) {
    return Status::InvalidArgument(config_path, "broker_endpoint is required");
  }
  if (c.data_dir().empty()) {
    return Status::InvalidArgument(config_path, "data_dir is required");
  }
  if (c.registry_file().empty()) {
    return Status::InvalidArgument(config_path, "registry_file is required");
  }
  ASSIGN_OR_RETURN(std::string reg, ReadFile(c.registry_file()));
  RETURN_IF_ERROR(core::ParseConfigText(reg, c.registry_file(), &o.registry));
  if (!c.broker_public_key().empty() && !c.broker_public_key_file().empty()) {
    return Status::InvalidArgument(config_path + ": broker_public_key_file",
                                   "give broker_public_key or broker_public_key_file, not both");
  }
  if (!c.broker_public_key_file().empty()) {
    ASSIGN_OR_RETURN(auto broker_key, transport::ReadKeyFile(c.broker_public_key_file()));
    if (!broker_key.secret_z85.empty()) {
      return Status::InvalidArgument(
          c.broker_public_key_file(),
          "holds the broker's secret key as well; give the node a copy with only the public "
          "line (passagectl keys show --public-only FILE)");
    }
    o.config.set_broker_public_key(broker_key.public_z85);
  }
  if (!c.insecure()) {
    if (c.secret_key_file().empty() || c.broker_public_key().empty()) {
      return Status::InvalidArgument(config_path,
                                     "secret_key_file and broker_public_key (or "
                                     "broker_public_key_file) are required unless insecure");
    }
    if (!transport::IsZ85Key(c.broker_public_key())) {
      return Status::InvalidArgument(config_path + ": broker_public_key",
                                     "is not a CURVE public key (40 Z85 characters)");
    }
    ASSIGN_OR_RETURN(auto keys, transport::ReadKeyFile(c.secret_key_file()));
    if (keys.secret_z85.empty()) {
      return Status::InvalidArgument(c.secret_key_file(), "holds no secret key");
    }
    o.curve_public_z85 = keys.public_z85;
    o.curve_secret_z85 = keys.secret_z85;
  }
  auto read_seal = [](const std::string& path) -> Result<runtime::SealingKeyPair> {
    runtime::SealingKeyPair keys;
    ASSIGN_OR_RETURN(std::string text2, ReadFile(path));
    std::istringstream in(text2);
    std::string label, value;
    while (in >> label >> value) {
      ASSIGN_OR_RETURN(std::string bytes, runtime::FromHex(value, path));
      (label == "public:" ? keys.public_key : keys.secret_key) = bytes;
    }
    return keys;
  };
  if (!c.sealing_key_file().empty()) {
    ASSIGN_OR_RETURN(o.sealing, read_seal(c.sealing_key_file()));
  }
  for (const auto& path : c.previous_sealing_key_files()) {
    ASSIGN_OR_RETURN(auto keys, read_seal(path));
    o.previous_sealing.push_back(std::move(keys));
  }
  if (!c.person_secret_file().empty()) {
    ASSIGN_OR_RETURN(std::string hex, ReadFile(c.person_secret_file()));
    ASSIGN_OR_RETURN(o.person_secret, runtime::FromHex(hex, c.person_secret_file()));
  }
  return o;
}

int NodeMain(int argc, char** argv, const std::string& program,
             const std::function<std::unique_ptr<StageLogic>()>& make_logic) {
  std::string config;
  // Flags that override the file, for hosts where only an address differs (a container's network).
  std::string broker_endpoint, http_listen, metrics_listen;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config = argv[++i];
    } else if (a == "--broker-endpoint" && i + 1 < argc) {
      broker_endpoint = argv[++i];
    } else if (a == "--http-listen" && i + 1 < argc) {
      http_listen = argv[++i];
    } else if (a == "--metrics-listen" && i + 1 < argc) {
      metrics_listen = argv[++i];
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: %s --config FILE [--broker-endpoint EP] [--http-listen ADDR:PORT]\n"
                  "       [--metrics-listen ADDR:PORT]\n\n"
                  "Runs this agency's %s node. FILE is a passage.v1.NodeConfig in text format\n"
                  "(docs/configuration.md); the flags override the file's broker_endpoint,\n"
                  "http.listen and metrics_listen.\n",
                  program.c_str(), program.c_str());
      return 0;
    } else {
      std::fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", program.c_str(), a.c_str());
      return 2;
    }
  }
  if (config.empty()) {
    std::fprintf(stderr, "%s: --config FILE is required\n", program.c_str());
    return 2;
  }
  // Everything the node writes (its store, the control socket) is for its OS user and group only.
  ::umask(0027);
  auto options = LoadNodeOptions(config);
  if (!options.ok()) {
    std::fprintf(stderr, "%s: %s\n", program.c_str(), options.status().ToString().c_str());
    return 2;
  }
  if (!ops::ConfigureLogFormat(options->config.log_format())) {
    std::fprintf(stderr, "%s: log_format: '%s' is not a log format (text or json)\n",
                 program.c_str(), options->config.log_format().c_str());
    return 2;
  }
  if (!broker_endpoint.empty()) {
    options->config.set_broker_endpoint(broker_endpoint);
  }
  if (!http_listen.empty()) {
    options->config.mutable_http()->set_listen(http_listen);
  }
  if (!metrics_listen.empty()) {
    options->config.set_metrics_listen(metrics_listen);
  }
  if (options->config.insecure()) {
    spdlog::warn("INSECURE MODE: no CURVE; development only, never with real case data");
  }
  auto node = Node::Create(std::move(options).value(), make_logic());
  if (!node.ok()) {
    std::fprintf(stderr, "%s: %s\n", program.c_str(), node.status().ToString().c_str());
    return 1;
  }
  g_node = node->get();
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  Status s = (*node)->Run();
  g_node = nullptr;
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", program.c_str(), s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace passage::node
