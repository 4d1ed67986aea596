#pragma once

// Routing: the decisions of the referral engine (passage-router) as pure functions over the
// projection of one case. Which rules fire, which agency receives each referral, what to do when a
// referral is refused or runs out of time. No I/O and no clock: the router passes in the case
// state, the rule set, the agencies, their load and the time. It then publishes the results as
// ReferralSent events. It acts as its own agency (a system principal, role SYSTEM) and sends on
// behalf of the case owner, so every PlannedReferral has from_agency = the case owner. That is
// exactly the shape CaseProjection::Check accepts from the system side.
//
// Rule semantics (RoutingRule, RuleCondition in proto/passage/v1/config.proto):
// - A rule matches a case when every condition it sets holds (Matches); unset conditions hold.
// - A matching rule plans a referral for its service unless the case already has a live or
//   COMPLETED referral for that service, or the rule already made a referral in this case (a
//   referral whose reason is the rule's name). A rule fires once per case. Re-referral after a
//   REJECTED or EXPIRED referral is PlanEscalation's job. After a CANCELLED or FAILED referral
//   nothing is re-sent automatically: someone decided, and a person sends the next one.
// - Candidate recipients are the agencies that offer the service, are of one of the rule's
//   agency_types (empty = any type), are neither the case owner nor the sender, have never
//   REJECTED, EXPIRED or FAILED a referral for this service in this case, and are under their
//   declared capacity (Agency.capacity; 0 = unlimited; counted in AgencyLoad). They are
//   ordered by region when the rule has prefer_same_region (the agency's region equals the case's
//   province of identification, which comes first), then least loaded, then agency id. Of these,
//   the engine takes the first that a consent in force covers (ConsentCovers, the broker's rule).
//   It prefers a consent whose scope is the rule's consent_scope, then the earliest given. When
//   no candidate is covered, the rule is skipped and the reason says so.
// - Referral ids are derived, not random (PlannedReferralId), so two runs over the same state plan
//   the same ids. A router that crashes before its referral reached its projection plans the
//   same id again, and the broker refuses a second referral with that id.
//
// Thread-safety: pure functions over their arguments; AgencyRoster is safe for concurrent reads,
// and writes need external synchronisation.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/agency_directory.h"
#include "core/status.h"
#include "passage/v1/case.pb.h"
#include "passage/v1/config.pb.h"
#include "passage/v1/events.pb.h"
#include "passage/v1/referral.pb.h"

namespace passage::core {

// The registry as the engine needs it: an AgencyDirectory that can also list every agency (the
// AgencyDirectory interface only looks agencies up by id). The router builds one from its
// registry file and upserts AgencyRegistered events into it. Pass it wherever an
// AgencyDirectory is expected (e.g. CaseProjection::Check).
class AgencyRoster final : public AgencyDirectory {
 public:
  AgencyRoster() = default;

  // Validates every entry (InMemoryAgencyDirectory::FromRegistry: ValidateAgency, no duplicate
  // ids). Errors name the entry, e.g. "agencies[3].region".
  static Result<AgencyRoster> FromRegistry(const passage::v1::AgencyRegistry& registry);

  // Adds or replaces the entry with `agency.id()`. Does not validate. Invalidates the pointers
  // that Find and agencies() returned.
  void Upsert(passage::v1::Agency agency);
  // Forgets an agency (revoked): no referral goes to it any more.
  void Remove(std::string_view id);
  // Applies a configuration event (AgencyRegistered, KeyRotated, AgencyRevoked); others are
  // ignored.
  void Apply(const passage::v1::Event& e);

  const passage::v1::Agency* Find(std::string_view id) const override;

  // Every agency, in id order.
  const std::vector<passage::v1::Agency>& agencies() const { return agencies_; }

 private:
  std::vector<passage::v1::Agency> agencies_;  // sorted by id, unique ids
};

// Checks a rule set against the agencies. Each rule needs:
// - name: 1 to 128 of [A-Za-z0-9_-], unique (it becomes Referral.reason); description <= 500 bytes;
// - when: known enum values, no value listed twice, ISO country codes (alpha-2 or alpha-3),
//   ISO 3166-2 provinces, no country both in citizenship_in and citizenship_not_in;
// - service, priority, kind, consent_scope set; a deadline: respond_within_minutes (at most
//   525600, a year) or respond_within_seconds (at most a year; it wins when set);
//   data_scope non-empty; agency_types known;
// - consent_scope SERVICES, LAW_ENFORCEMENT or SHARE_WITH_AGENCIES (others allow no sharing);
// - at least one registered agency that could receive it (offers the service, of an allowed
//   type), and for each such agency a consent of consent_scope that names nobody must cover the
//   referral (ConsentCovers). A SERVICES rule cannot reach a prosecutor, for example.
// Errors: InvalidArgument with field "rules[i].<field>" (e.g. "rules[2].service"), the first one
// found.
Status ValidateRuleSet(const passage::v1::RuleSet& rules, const AgencyRoster& agencies);

// A service the case needs that no agency has taken: every referral for it ended without it
// (declined, expired, cancelled, could not help) and none is live or completed, in an open case.
struct UnplacedNeed {
  passage::v1::ServiceType service = passage::v1::SERVICE_TYPE_UNSPECIFIED;
  passage::v1::ReferralStatus last_status = passage::v1::REFERRAL_STATUS_UNSPECIFIED;
  std::string last_agency;  // the agency of the last referral for it
  int64_t last_sent_at_ms = 0;
};
// The case's unplaced needs, by service; none for a closed case.
std::vector<UnplacedNeed> UnplacedNeeds(const passage::v1::CaseState& state);

// True when the person is a minor: age_years < 18, or majority_at_identification MINOR, or (age
// unknown) age band 0-8 or 9-17.
bool IsMinor(const passage::v1::Profile& profile);
// True when the person is known to be an adult: not a minor, and age_years >= 18, or
// majority_at_identification ADULT, or (age unknown) an adult age band. A person of unknown age is
// neither a minor nor an adult, so rules on `majority` do not match them. An age assessment comes
// first.
bool IsAdult(const passage::v1::Profile& profile);

// True when every set condition of `when` holds for the case:
// - majority: MINOR needs IsMinor, ADULT needs IsAdult;
// - sex_in: the profile's sex is listed; any_exploitation: one of the case's forms is listed;
// - crime_type_in: the case's crime type is listed;
// - citizenship_in: one of the person's citizenships is listed; citizenship_not_in: at least one
//   citizenship is recorded and none is listed (unknown citizenship does not match);
//   alpha-2 and alpha-3 codes compare equal;
// - province_in: the province of identification is listed (case-insensitive);
// - requires_consent: for every listed scope, a consent with that scope is in force;
// - requires_wish_to_return: the profile records the wish to return.
bool Matches(const passage::v1::RuleCondition& when, const passage::v1::CaseState& state);

// How busy each agency is: the number of live referrals it has accepted (IsLive and WasAccepted:
// ACCEPTED, IN_PROGRESS, ON_HOLD after acceptance, CANCEL_REQUESTED after acceptance), over all
// cases. The router computes it from every case projection it holds. Pending (SENT, RECEIVED)
// referrals do not count: a place is taken when a referral is accepted.
struct AgencyLoad {
  std::map<std::string, uint32_t, std::less<>> open_referrals;

  uint32_t of(std::string_view agency_id) const {
    auto it = open_referrals.find(agency_id);
    return it == open_referrals.end() ? 0 : it->second;
  }
};

// Adds the case's live accepted referrals to `load`, one per recipient (to_agency).
void CountLoad(const passage::v1::CaseState& state, AgencyLoad* load);

// The deterministic referral id of attempt `attempt` of rule `rule` in case `case_id`: FNV-1a
// 128-bit over a version tag and the length-prefixed inputs, shaped as a version-4 UUID (version
// nibble 4, variant 10), lower-case canonical text, so it passes ValidateUuid. Attempt 0 is the
// rule's first referral. An escalation's attempt is the number of referrals the rule has made in
// the case so far. FNV is not a cryptographic hash. The id only has to be stable and unique
// within a case, and the inputs are not secret.
std::string PlannedReferralId(std::string_view case_id, std::string_view rule, uint32_t attempt);

// A referral the engine decided to send.
struct PlannedReferral {
  std::string rule;  // the rule's name, also referral.reason()
  // Ready for ReferralSent: referral_id, case_id, kind, from_agency (the case owner, or the sender
  // given to PlanReferrals), to_agency, service, reason, priority, respond_by_ms, data_scope,
  // consent_id, and parent_referral_id for escalations. Status, history and sent_at are left to
  // the projection.
  passage::v1::Referral referral;
};

struct PlanResult {
  std::vector<PlannedReferral> planned;
  // One line per rule that matched but could not be planned, e.g. "rule 'womens-shelter': no
  // consent in force covers a referral for SHELTER to any eligible agency (panah-shelter)".
  std::vector<std::string> skipped;
};

// The referrals the rules call for in this case, in rule order (see the header comment), with
// respond_by_ms = now_ms + the rule's deadline (respond_within_seconds when set, else
// respond_within_minutes). At most one per service: when two matching
// rules name the same service, the first wins. `on_behalf_of` is the sending agency; empty means
// the case owner (the router's normal use). A sender other than the owner must have access to the
// case, may share only the sections it may read, and may not transfer. Rules it cannot satisfy
// are skipped. A closed or non-existent case plans nothing.
PlanResult PlanReferrals(const passage::v1::CaseState& state, const passage::v1::RuleSet& rules,
                         const AgencyRoster& agencies, const AgencyLoad& load, int64_t now_ms,
                         std::string_view on_behalf_of = {});

// Re-referral after `failed` (looked up in `state` by id; its status there counts) was REJECTED or
// EXPIRED: a referral for the same service and rule (the rule named by failed.reason()) to the
// next agency in the rule's order. It excludes every agency that REJECTED, EXPIRED or FAILED a
// referral for this service in this case, or any referral up failed's parent chain. Its
// parent_referral_id is failed's id and it is sent on behalf of the case owner. The priority is
// failed's priority, raised one step (ROUTINE -> URGENT -> EMERGENCY) when it EXPIRED.
// respond_by_ms is now_ms + the rule's deadline. Returns nullopt, with the reason in
// `*why` when `why` is not null, when: failed is not in the case or not REJECTED/EXPIRED, the case
// is closed, its reason names no rule of `rules`, the rule no longer matches the case, failed was
// already escalated (a referral has it as parent), the case already has a live or COMPLETED
// referral for the service, no agency is left, or no consent in force covers any that is.
std::optional<PlannedReferral> PlanEscalation(const passage::v1::CaseState& state,
                                              const passage::v1::Referral& failed,
                                              const passage::v1::RuleSet& rules,
                                              const AgencyRoster& agencies, const AgencyLoad& load,
                                              int64_t now_ms, std::string* why = nullptr);

// ROUTINE -> URGENT -> EMERGENCY -> EMERGENCY; UNSPECIFIED -> ROUTINE.
passage::v1::Priority RaisePriority(passage::v1::Priority priority);

// Ids of the referrals in SENT or RECEIVED whose respond_by_ms is set and <= now_ms, in log order.
// The system side may expire them (ReferralTransition to EXPIRED, role SYSTEM).
std::vector<std::string> OverdueReferrals(const passage::v1::CaseState& state, int64_t now_ms);

}  // namespace passage::core
