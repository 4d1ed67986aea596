#pragma once

// CaseProjection: the state of one case as a pure fold over its events, and the checks the broker
// makes against that state before it appends an event.
//
// Lifecycle: a default-constructed projection is a case that does not exist yet; the first event
// it accepts is CaseOpened. For each event the broker calls, in this order:
//   1. ValidateEvent(e, now)          (core/validate.h: the event on its own)
//   2. projection.Check(e, agencies)  (the event against this case: existence, version, who may do
//                                      it, the referral state machine, consent)
//   3. append durably, then projection.Apply(envelope, e)
// Replay calls only Apply, over the stored envelopes in log order. Apply never fails and never
// crashes, whatever it is given; its result depends only on the envelopes and events, so two
// replays of the same log give byte-identical states (SerializeDeterministic).
//
// Authorisation rules (Check):
// - Every actor is a registered agency (system principals, Agency.system_principal, included).
// - CaseOpened: only on a new case, by a first responder; the opener owns the case.
// - IdentificationRecorded, ProfileUpdated, CaseClosed: the owner only.
// - ConsentGiven, ConsentWithdrawn, ServiceDelivered, CriminalProceedingUpdated, ReturnRecorded:
//   any agency with access (the owner, or the recipient of a live accepted referral).
// - RecordAccessed: an agency with access, for sections it may read; or an OVERSIGHT agency.
// - ReferralSent: the sender (from_agency, default the actor) must have access and may share only
//   sections it may read itself; a TRANSFER only by the owner. A system principal may send on a
//   sender's behalf. Needs a consent in force that covers the recipient (ConsentCovers) or an
//   override whose role is the acting role and is listed in the sender's Agency.override_roles.
//   The recipient must be registered, and must not already hold a live referral for the same
//   service in this case; a parent referral must exist in the case.
// - ReferralTransition: the side is the recipient if the actor is to_agency, else the sender if it
//   is from_agency, else the system if it is a system principal acting with role SYSTEM; the move
//   must then pass CheckTransition. A consent_withdrawn cancellation needs the referral's consent
//   (or, for an override referral, some consent of the case) to be withdrawn already.
// - A closed case accepts only ReferralTransition, ConsentWithdrawn and RecordAccessed.
//
// Derived state (Apply):
// - Timestamps are the producer's occurred_at_ms (the envelope's appended_at_ms is in the log).
// - Countries are stored as upper-case alpha-2; age_band, majority_at_identification and
//   year_of_registration are derived when unspecified.
// - Access: the owner holds every section; the recipient of a live referral that was accepted
//   holds the referral's data_scope (via_referrals names the referrals); access ends when no such
//   referral is left. An accepted TRANSFER makes the recipient the owner, and the previous owner
//   keeps no access unless another live accepted referral grants it. Recomputed after every event.
// - Stages (sorted): CLOSED alone once closed; otherwise REFERRAL while a live referral has not
//   been accepted; PROTECTION while an accepted live referral for a protection service exists, or
//   once such a referral completed or a protection service was delivered; CRIMINAL_JUSTICE while
//   proceedings exist and the latest (ignoring COMPENSATION_ORDERED) is not a verdict or a
//   dismissal; RETURN_REINTEGRATION once a return is recorded or while an accepted live return
//   referral exists; and when none of these holds, IDENTIFICATION before any referral was sent,
//   REFERRAL after (waiting for re-referral).
// - Referrals and consents are kept in log order, access sorted by agency id, stages sorted.
//
// Thread-safety: not synchronised; const methods may run concurrently with each other only.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/agency_directory.h"
#include "core/referral_state_machine.h"
#include "core/status.h"
#include "passage/v1/case.pb.h"
#include "passage/v1/config.pb.h"
#include "passage/v1/events.pb.h"

namespace passage::core {

class CaseProjection {
 public:
  // A case that does not exist yet.
  CaseProjection() = default;
  // Resumes from a snapshot (e.g. a checkpointed projection).
  explicit CaseProjection(passage::v1::CaseState state) : state_(std::move(state)) {}

  // A projection that leaves CaseState.personal (the sealed names and contacts) empty: the broker
  // decides everything without it and keeps many projections in memory. Everything else is as
  // in a full projection.
  static CaseProjection WithoutPersonalData() {
    CaseProjection p;
    p.keep_personal_ = false;
    return p;
  }

  const passage::v1::CaseState& state() const { return state_; }

  // True once a CaseOpened was applied.
  bool exists() const { return !state_.case_id().empty(); }

  // Checks `e` against the current state (see the rules above). Assumes ValidateEvent passed, and
  // that e.actor_agency() is the authenticated agency. Errors: FailedPrecondition (state, version,
  // consent), PermissionDenied (who), InvalidArgument (an event that belongs elsewhere); the
  // status's field names the offending field of the event.
  // Last of all, the event's actor_role must be one that may make this kind of move
  // (core/roles.h).
  Status Check(const passage::v1::Event& e, const AgencyDirectory& agencies) const;

  // Folds `e`, stored under `env`, into the state: version = env.case_seq, last_global_seq =
  // env.global_seq. Assumes Check passed; given anything else it still neither fails nor crashes.
  void Apply(const passage::v1::Envelope& env, const passage::v1::Event& e);

  // The state serialized with deterministic serialization.
  std::string SerializeDeterministic() const;

 private:
  Status CheckMove(const passage::v1::Event& e, const AgencyDirectory& agencies) const;

  passage::v1::CaseState state_;
  bool keep_personal_ = true;
};

// The agencies (sorted, without the actor) whose inbox must receive `e`:
// - ReferralSent and ReferralTransition: the referral's sender and recipient, and the case owner;
// - IdentificationRecorded, ProfileUpdated: agencies with access to PROFILE (or PERSONAL when
//   sealed data changes); ConsentGiven: CONSENTS; ServiceDelivered: SERVICES, plus the sender of
//   the referral it serves; CriminalProceedingUpdated: PROCEEDINGS;
// - ConsentWithdrawn, ReturnRecorded, CaseClosed: every agency with access;
// - CaseOpened (only the opener has access), RecordAccessed (audit only) and configuration
//   events: nobody.
// `state` may be the case before or after applying `e`; both give the same answer except that after
// an accepted TRANSFER the new owner is already the owner.
std::vector<std::string> AudienceOf(const passage::v1::CaseState& state,
                                    const passage::v1::Event& e);

// AudienceOf without the agencies that may not hold the event's section (OFFENCE, SUSPECT:
// core/crime_policy.h), whatever their grants say: what the broker delivers.
std::vector<std::string> AudienceOf(const passage::v1::CaseState& state,
                                    const passage::v1::Event& e, const AgencyDirectory& agencies);

// The section whose readers may see `e`: CONSENTS, REFERRALS, SERVICES (services, returns),
// PROCEEDINGS, OFFENCE (offences), SUSPECT (suspects, accused), else PROFILE.
passage::v1::DataSection SectionOf(const passage::v1::Event& e);

// OK when `consent` (assumed in force) covers a referral of `referral.service()` to `recipient`:
// - SHARE_WITH_AGENCIES covers any recipient;
// - SERVICES covers recipients that are not law enforcement, prosecution or courts, for services
//   other than INVESTIGATION and PROSECUTION;
// - LAW_ENFORCEMENT covers exactly those;
// - other scopes cover no referral.
// When the consent names agency_ids or agency_types, the recipient must be named in one of them.
// Errors: FailedPrecondition explaining the mismatch, with field `field`.
Status ConsentCovers(const passage::v1::Consent& consent, const passage::v1::Referral& referral,
                     const passage::v1::Agency& recipient, std::string_view field);

// The side `actor_agency` acting with `role` plays on `referral`, or PermissionDenied.
Result<Side> SideOf(const passage::v1::Referral& referral, std::string_view actor_agency,
                    passage::v1::ActorRole role, const AgencyDirectory& agencies);

// Look-ups in a case state; nullptr when absent.
const passage::v1::Referral* FindReferral(const passage::v1::CaseState& state,
                                          std::string_view referral_id);
const passage::v1::Consent* FindConsent(const passage::v1::CaseState& state,
                                        std::string_view consent_id);
const passage::v1::AccessGrant* FindAccess(const passage::v1::CaseState& state,
                                           std::string_view agency_id);

// True when `grant` includes `section`.
bool GrantIncludes(const passage::v1::AccessGrant& grant, passage::v1::DataSection section);

// Every DataSection except UNSPECIFIED, in enum order: the owner's grant.
std::vector<passage::v1::DataSection> AllDataSections();

// `message` serialized with deterministic serialization.
std::string SerializeDeterministic(const google::protobuf::MessageLite& message);

}  // namespace passage::core
