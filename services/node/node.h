#pragma once

// Node: the runtime of an agency node (passage-identification, -protection, -prosecution, and the
// referral engine passage-router). It owns the agency's LocalStore, its broker Client and the local
// control socket that passagectl talks to, and runs one StageLogic.
//
// Operation: every delivered event is written to the node's journal ("j/" keys, by case and global
// seq) in the same synced batch as the stream position, then handed to the stage logic. Events the
// node publishes itself enter the journal when the broker acknowledges them. The node's view of a case
// is a fold of its journal (core::CaseProjection) — only what this agency may see.
//
// People: every control request but `login` carries a staff session (services/node/staff.h) or an
// external system's API key (services/node/api_keys.h), which acts like a person. The
// node refuses a command none of the account's roles may run (services/node/access.h) and, while it
// handles the request, acts as that person: every event it publishes carries the account's staff id
// and the acting role. Events made on the node's own initiative (automatic receipt, the referral
// engine) act as SYSTEM.
//
// Concurrency: one thread (Run) owns the client, the control socket and the logic.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/agency_directory.h"
#include "core/case_projection.h"
#include "core/status.h"
#include "ops/metrics.h"
#include "ops/metrics_server.h"
#include "passage/v1/config.pb.h"
#include "passage/v1/control.pb.h"
#include "passage/v1/events.pb.h"
#include "services/runtime/client.h"
#include "services/runtime/local_store.h"
#include "services/node/api_keys.h"
#include "services/node/notifier.h"
#include "services/node/referral_feed.h"
#include "services/node/staff.h"
#include "services/node/webhooks.h"
#include "services/web/web_server.h"
#include "services/runtime/sealing.h"

namespace passage::node {

struct NodeOptions {
  passage::v1::NodeConfig config;
  passage::v1::AgencyRegistry registry;
  runtime::SealingKeyPair sealing;
  std::vector<runtime::SealingKeyPair> previous_sealing;  // previous_sealing_key_files
  std::string person_secret;
  std::string curve_public_z85;
  std::string curve_secret_z85;
};

class Node;

using JournalEntry = std::pair<passage::v1::Envelope, passage::v1::Event>;

class StageLogic {
 public:
  virtual ~StageLogic() = default;
  virtual std::string name() const = 0;
  virtual passage::v1::Selector selector() const { return passage::v1::SELECTOR_INBOX; }
  // Replay the whole readable log on every start instead of resuming (the referral engine).
  virtual bool replay_on_start() const { return false; }
  // A delivered event, durable in the journal.
  virtual void OnDelivered(Node& node, const passage::v1::Envelope& env,
                           const passage::v1::Event& e) {}
  // Commands this stage handles itself; nullopt lets the runtime answer.
  virtual std::optional<passage::v1::ControlResponse> OnControl(
      Node& node, const passage::v1::ControlRequest& req) {
    return std::nullopt;
  }
  // Called every tick_ms once the node has caught up with the log.
  virtual void OnTick(Node& node) {}
  // The broker's log was restored from an older copy and the journal is read again from its
  // start: forget what was attempted from memory (a move refused while the log caught up must be
  // made again).
  virtual void OnLogRestored() {}
  // What an operator must fix, one line each, shown by `passagectl status` (the router: rules it
  // cannot use).
  virtual std::vector<std::string> Problems() const { return {}; }
};

class Node {
 public:
  static Result<std::unique_ptr<Node>> Create(NodeOptions options, std::unique_ptr<StageLogic> logic);
  ~Node();

  Status Run();
  void RequestStop();

  // ---- for stage logic ----
  const std::string& agency() const { return options_.config.agency_id(); }
  const passage::v1::NodeConfig& config() const { return options_.config; }
  const core::AgencyDirectory& directory() const { return directory_; }
  const passage::v1::Agency* self() const { return directory_.Find(agency()); }
  const NodeOptions& options() const { return options_; }
  bool caught_up() const { return caught_up_; }

  // False on a node whose agency's type may not hold the crime side (the referral engine's):
  // its people see no offence or suspect in journeys and case views; reports still count them.
  bool PeopleSeeCrimeSide() const;
  // Agency id -> sealing public key of the agencies that hold SUSPECT for `state` now and whose
  // type may (never the referral engine).
  std::map<std::string, std::string> SuspectReaders(const passage::v1::CaseState& state) const;
  // Each tick: re-seals what this agency sealed for a case's holders when they changed: the
  // identities of the suspects it recorded (SuspectIdentityResealed) and the notes and
  // documents it wrote (NoteResealed), as the owner's node re-seals personal data.
  void ResealOwnSeals();
  // Agency id -> sealing public key of this agency and the agencies that hold NOTES for `state`
  // now (never a system principal): whom a note or document is sealed for.
  std::map<std::string, std::string> NotesReaders(const passage::v1::CaseState& state) const;
  // PermissionDenied (field case_id) unless this agency holds NOTES of the case and can seal.
  Status RequireNotes(const passage::v1::CaseState& state) const;
  // Bytes sealed for this agency, opened with its sealing key or an earlier one.
  Result<std::string> OpenSealedBytes(const passage::v1::SealedPersonalData& sealed) const;
  // Records a read (or, with `refusal`, a refused attempt) of section NOTES; waits for the ack.
  Status RecordNotesRead(const std::string& case_id, const std::string& purpose,
                         const std::string& refusal);
  // A copy of the state of a case this node knows (by id or reference); NotFound when none.
  Result<passage::v1::CaseState> KnownCaseCopy(const std::string& case_arg);
  // The note and document commands (services/node/notes.cc).
  passage::v1::ControlResponse Notes(const passage::v1::NoteRequest& req);
  passage::v1::ControlResponse Documents(const passage::v1::DocumentRequest& req);
  // Re-seals the notes and documents this agency wrote in `state` whose readers changed.
  void ResealNotesOf(const passage::v1::CaseState& state);
  // The cases command: one case or every case this node knows, without the crime side where its
  // people do not see it.
  passage::v1::ControlResponse Cases(const passage::v1::ControlRequest& req);
  // The GLOTIP, smuggling, SDG 16.2.2 or data-quality report over the cases this node knows.
  passage::v1::ControlResponse CrimeReport(const passage::v1::CrimeReportRequest& req, bool json);
  // Seals `identity` into the SuspectRecorded `e` for this agency and every agency that may hold
  // SUSPECT (core/crime_policy.h). InvalidArgument naming the field when it is not a suspect
  // record or the identity is malformed.
  Status SealSuspectIdentity(const passage::v1::PersonalData& identity, passage::v1::Event* e);
  // Publishes as this agency: fills event_id (UUIDv7) when empty, actor_agency and occurred_at_ms.
  // While a control request is handled, actor_user and actor_role are the signed-in person's staff
  // id and acting role, whatever `e` said; otherwise actor_role is SYSTEM when unset. Returns the
  // event id.
  Result<std::string> Publish(passage::v1::Event e);
  // Polls until the broker answered every id (or timeout); fills code/field/reason of `out`.
  void AwaitResults(const std::vector<std::string>& event_ids, int timeout_ms,
                    passage::v1::ControlResponse* out);
  // A stable event id for an automatic move, so a repeat after a crash is the same event.
  static std::string StableEventId(std::string_view key);

  // This agency's view of a case: a fold of its journal.
  Result<const core::CaseProjection*> View(const std::string& case_id);
  Result<std::vector<JournalEntry>> Journal(const std::string& case_id);
  std::vector<std::string> KnownCases();
  // The state of every case this node knows that exists (views stay valid until the journal
  // changes).
  std::vector<const passage::v1::CaseState*> KnownStates();
  // Reads the case from the broker into the journal (the broker records the access).
  Status Fetch(const std::string& case_id, const std::string& purpose);
  // Referrals addressed to this agency, from the journal.
  std::vector<passage::v1::Referral> Inbox(bool include_terminal);

  // The next case reference of this agency for the year of `unix_ms` (core/case_reference.h). The
  // count is written durably before it is returned, so a number is never given twice, even across
  // a crash (one may be skipped).
  Result<std::string> NextCaseReference(int64_t unix_ms);
  // The case `text` names: a case id as is, or a case reference (any case, dashes or spaces)
  // looked up among the cases this node knows. InvalidArgument on `field` for a malformed
  // reference (naming what is wrong), NotFound when no known case has it.
  Result<std::string> ResolveCase(const std::string& text, const std::string& field);

  // The person the current control request acts for (nullptr outside a request), and the role
  // the node acts in for it.
  const SignedIn* actor() const { return actor_ ? &*actor_ : nullptr; }
  passage::v1::ActorRole acting_role() const { return acting_role_; }
  // Opens this agency's wrapped key of `sealed` with the current sealing key, then each previous
  // one: the personal data, or the current key's error.
  Result<passage::v1::PersonalData> OpenSealed(const passage::v1::SealedPersonalData& sealed) const;
  // The NRM's small-cell threshold for this node (NodeConfig.min_k, default 5).
  uint32_t min_k() const;

  // The node's metrics (docs/operations.md); stage logic adds its own (the router's rules).
  ops::MetricsRegistry& metrics() { return metrics_; }
  // Whether anyone can read them (metrics_listen set): metrics that cost a scan are kept only then.
  bool serves_metrics() const { return metrics_server_ != nullptr; }

  runtime::LocalStore& store() { return *store_; }
  StaffDirectory& staff() { return *staff_; }
  // This agency's feed of referral events (for the API and any other reader with a cursor).
  ReferralFeed& feed() { return *feed_; }
  runtime::Client& client() { return *client_; }
  int64_t now_ms() const;

 private:
  Node(NodeOptions options, std::unique_ptr<StageLogic> logic);
  Status Init();
  Status AddToJournal(const passage::v1::Envelope& env, runtime::StateWrite* w);
  void OnResult(const passage::v1::PublishResult& r);
  void ServeControl(int timeout_ms);
  passage::v1::ControlResponse HandleControl(const passage::v1::ControlRequest& req);
  passage::v1::ControlResponse HandleSignedIn(const passage::v1::ControlRequest& req);
  passage::v1::ControlResponse Login(const passage::v1::ControlRequest& req);
  passage::v1::ControlResponse Staff(const passage::v1::StaffRequest& req);
  passage::v1::ControlResponse ApiKeyAdmin(const passage::v1::ApiKeyAdminRequest& req);
  passage::v1::ControlResponse Feed(const passage::v1::FeedRequest& req);
  // The API key of `req` as a signed-in actor, or the refusal to answer (401, 403, rate limit).
  Result<SignedIn> AuthenticateApiKey(const passage::v1::ControlRequest& req,
                                      passage::v1::ControlResponse* refusal);
  passage::v1::ControlResponse Whoami();
  passage::v1::ControlResponse ReferralAction(const passage::v1::ControlRequest& req);
  // Case work (services/node/case_work.cc; docs/case-work.md).
  passage::v1::ControlResponse Correct(const passage::v1::CorrectRequest& req);
  passage::v1::ControlResponse Plan(const passage::v1::PlanRequest& req);
  // A case id, or the id of the case a reference names (InvalidArgument / NotFound on "case_id").
  Result<std::string> CaseIdFor(const std::string& text);
  passage::v1::ControlResponse Personal(const passage::v1::PersonalRequest& req);
  passage::v1::ControlResponse Find(const passage::v1::FindRequest& req);
  passage::v1::ControlResponse ExportCtdc(const passage::v1::ExportRequest& req);
  // passagectl fhir export / import (core/fhir.h, docs/fhir.md).
  passage::v1::ControlResponse Fhir(const passage::v1::FhirRequest& req);
  void RecordJourneyView(const std::string& case_id, const passage::v1::JourneyRequest& req);
  passage::v1::ControlResponse TreeHead();
  passage::v1::ControlResponse ConsistencyProof(const passage::v1::ConsistencyRequest& req);

  NodeOptions options_;
  std::unique_ptr<StageLogic> logic_;
  core::InMemoryAgencyDirectory directory_;
  std::unique_ptr<runtime::LocalStore> store_;
  std::unique_ptr<StaffDirectory> staff_;
  std::unique_ptr<ApiKeys> api_keys_;
  std::unique_ptr<ReferralFeed> feed_;
  std::optional<SignedIn> actor_;
  passage::v1::ActorRole acting_role_ = passage::v1::ACTOR_ROLE_UNSPECIFIED;
  std::unique_ptr<runtime::Client> client_;
  struct ControlSocket;
  std::unique_ptr<ControlSocket> control_;
  std::unique_ptr<web::WebServer> web_;  // when config.http.listen is set
  std::unique_ptr<Notifier> notifier_;   // when config.notify_command is set
  ops::MetricsRegistry metrics_;
  std::unique_ptr<ops::MetricsServer> metrics_server_;  // when config.metrics_listen is set
  std::unique_ptr<Webhooks> webhooks_;  // when config.webhooks is set; stopped before the store
  // Queues in `w` the state_change and new_referral webhook calls the event `e` (stored under
  // `env`, not yet in the journal) makes for referrals this agency sent or receives.
  void QueueReferralWebhooks(const passage::v1::Envelope& env, const passage::v1::Event& e,
                             runtime::StateWrite* w);
  // Queues and records the due_soon / overdue (and any missed new_referral) calls of `inbox`.
  void QueueInboxWebhooks(const std::vector<passage::v1::Referral>& inbox);
  struct NodeMetrics;
  std::unique_ptr<NodeMetrics> m_;
  void UpdateReadiness(bool grace_over);
  // The broker's log holds `log_size` entries where this node saw `seen` (restored from an older
  // copy): drops the journal entries it no longer has and sends this agency's own ones again.
  void OnLogRestored(uint64_t log_size, uint64_t seen);
  std::string restore_note_;  // for passagectl status, once it happened
  std::set<std::string> resealed_suspects_;  // suspect/case version re-sealed in this run
  void UpdateDeskMetrics(const std::vector<passage::v1::Referral>& inbox);
  bool notified_ready_ = false;
  bool stop_ = false;
  bool caught_up_ = false;
  uint64_t catch_up_target_ = 0;
  std::vector<JournalEntry> delivered_;                       // to hand to the logic
  std::map<std::string, passage::v1::PublishResult> results_;  // event id -> broker's answer
  std::map<std::string, core::CaseProjection> views_;         // cache, invalidated on new entries
  std::map<std::string, bool> known_cases_;
  std::map<std::string, int64_t> journey_views_;  // case id/staff id -> its last recorded view
};

// Reads a NodeConfig file and everything it points to (registry, keys) into NodeOptions.
// The control code for a status; a response carrying it (code, field, reason); the status of a
// broker error code. Shared by the node's source files.
passage::v1::ControlCode CodeFor(const Status& s);
void SetError(passage::v1::ControlResponse* r, const Status& s);
StatusCode StatusFromWire(passage::v1::ErrorCode code);

Result<NodeOptions> LoadNodeOptions(const std::string& config_path);

// The `main` of every node binary: flags (--config FILE), signals, Run.
int NodeMain(int argc, char** argv, const std::string& program,
             const std::function<std::unique_ptr<StageLogic>()>& make_logic);

}  // namespace passage::node
