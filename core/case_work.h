#pragma once

// Working a case (docs/case-work.md): field-level corrections of the profile, a consent or a
// referral detail (FieldCorrected), and the service plans and follow-up reminders of a referral's
// receiving agency (ServicePlanned, ServicePlanItemUpdated, FollowUpScheduled, FollowUpDone).
// Called by ValidateEvent and CaseProjection, as the crime side is (core/offences.h).
//
// Corrections. A path names one field:
//   profile.<field>                      every field of Profile (the analytic attributes)
//   consents[<consent_id>].<field>       scope, agency_ids, agency_types
//   referrals[<referral_id>].<field>     service, priority, respond_by_ms, reason
// Nothing else: not ids, statuses, history or times the projection keeps, nothing sealed (sealed
// personal data is replaced whole by ProfileUpdated.personal).
//
// Canonical encoding of a field's value (what new_value holds and what old_value_sha256 hashes):
// the value in compact JSON, as proto3 JSON writes it, with no whitespace:
//   enum      its full name in quotes: "SEX_FEMALE" (an unknown number: the number, unquoted)
//   string    in quotes; '"' and '\' escaped by '\', \n \r \t as such, other bytes below 0x20 as
//             \u00XX (lower-case hex); every other byte as it is (UTF-8)
//   bool      true / false
//   int32, uint32   decimal: 16
//   int64     decimal in quotes: "1767225599000"
//   a field with presence (optional) that is not set: null
//   repeated  [e1,e2] in stored order; [] when empty
// old_value_sha256 is the lower-case hex SHA-256 of those bytes. Example: profile.citizenship
// holding PK and AF encodes as ["PK","AF"].
//
// Who may correct: the case owner for the profile and consents; the referral's sender for a
// referral's details; roles case worker and supervisor (core/roles.h). The hash must match the
// current value (else FailedPrecondition: CONFLICT on the wire), the new value must differ from it
// and be in normal form (countries upper-case alpha-2, as NormalizeProfile writes them), and the
// whole corrected profile, consent or referral must still be valid. Correcting profile.age_years
// derives age_band and majority_at_identification again from the new age.
//
// Plans and follow-ups: only the receiving agency of a referral that was accepted and is live
// (ACCEPTED, IN_PROGRESS, ON_HOLD, CANCEL_REQUESTED) plans or schedules; it marks its items and
// follow-ups once each, while the case is open.
//
// Pure, no I/O; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/agency_directory.h"
#include "core/status.h"
#include "passage/v1/case.pb.h"
#include "passage/v1/events.pb.h"

namespace passage::core {

inline constexpr size_t kMaxCorrectionReason = 500;
inline constexpr size_t kMaxPlanText = 140;  // plan notes and follow-up purposes
inline constexpr int64_t kDayMs = 24LL * 60 * 60 * 1000;

// FieldCorrected, ServicePlanned, ServicePlanItemUpdated, FollowUpScheduled, FollowUpDone.
bool IsCaseWorkEvent(const passage::v1::Event& e);

// The payload on its own: a known path, a new value of the field's type, a reason, ids, dates.
Status ValidateCaseWorkPayload(const passage::v1::Event& e, int64_t now_ms);

// The event against the case (see above). Assumes ValidateCaseWorkPayload passed.
Status CheckCaseWorkEvent(const passage::v1::CaseState& state, const passage::v1::Event& e);

// Folds the event into `state` (never fails; ignores what Check would refuse).
void ApplyCaseWorkEvent(passage::v1::CaseState* state, const passage::v1::Envelope& env,
                        const passage::v1::Event& e);

// The section whose readers see the event: the corrected field's (PROFILE, CONSENTS,
// REFERRALS); SERVICES for plans and follow-ups.
passage::v1::DataSection CaseWorkSection(const passage::v1::Event& e);

// The referral the event is about ("" for a correction of the profile or a consent).
std::string CaseWorkReferralId(const passage::v1::Event& e);

// A parsed correction path.
struct FieldPath {
  enum class Target { kProfile, kConsent, kReferral };
  Target target = Target::kProfile;
  std::string id;     // consent or referral id
  std::string field;  // field name, e.g. "sex"
  passage::v1::DataSection section = passage::v1::DATA_SECTION_PROFILE;
};

// Parses `path`; InvalidArgument naming `field` ("... is not a field that can be corrected; did
// you mean ...?") otherwise.
Result<FieldPath> ParseFieldPath(std::string_view path, std::string_view field);

// The canonical encoding of the field's current value in `state`; NotFound naming `field` when
// the consent or referral is not in the case.
Result<std::string> CurrentValue(const passage::v1::CaseState& state, const FieldPath& path,
                                 std::string_view field);

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

// A value typed by a person as the canonical encoding: accepts the canonical encoding itself, or
// a plain value (FEMALE or SEX_FEMALE; PK,AF for a list; a bare text; 16; true; none for an unset
// optional; YYYY-MM-DD for respond_by_ms, meaning the end of that day, UTC). Countries are
// normalised. InvalidArgument naming `field` in the field's terms.
Result<std::string> CanonicalValueFromText(const FieldPath& path, std::string_view text,
                                           std::string_view field);

// `value` (canonical encoding) in words for the journey: "FEMALE", "PK, AF", "none".
std::string ValueWords(const FieldPath& path, std::string_view value);

// The path in words: "profile: sex", "consent <id>: agency_types".
std::string PathWords(const FieldPath& path);

// Every correctable path, with <consent_id> and <referral_id> as placeholders.
std::vector<std::string> CorrectablePaths();

// Look-ups in a case's referrals; nullptr when absent.
const passage::v1::ServicePlanItem* FindPlanItem(const passage::v1::CaseState& state,
                                                 std::string_view item_id,
                                                 const passage::v1::Referral** referral = nullptr);
const passage::v1::FollowUp* FindFollowUp(const passage::v1::CaseState& state,
                                          std::string_view follow_up_id,
                                          const passage::v1::Referral** referral = nullptr);

// Unix ms of 00:00 UTC of a YYYY-MM-DD date (assumed valid: ValidateIsoDate).
int64_t DateStartMs(std::string_view date);

// One open plan item or follow-up of `agency` (the receiving agency) due by `until_ms`.
struct Reminder {
  std::string case_id;
  std::string case_reference;
  std::string referral_id;
  std::string id;          // item or follow-up id
  bool follow_up = false;  // else a plan item
  std::string due_date;
  std::string what;      // service code (plan item) or purpose (follow-up)
  bool overdue = false;  // due date before today
};

// The open plan items and follow-ups of referrals `agency` receives, due on or before the day
// `within_days` after `now_ms` (UTC days), overdue included; by due date, then case.
std::vector<Reminder> DueReminders(const std::vector<const passage::v1::CaseState*>& cases,
                                   std::string_view agency, int64_t now_ms, uint32_t within_days);

// Terminal lines for reminders ("" when none) and a JSON array.
std::string RenderReminders(const std::vector<Reminder>& reminders);
std::string RemindersJson(const std::vector<Reminder>& reminders);

}  // namespace passage::core
