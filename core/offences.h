#pragma once

// The crime side of a case (docs/law-enforcement.md): offences, suspects and accused, smuggling
// details. Called by CaseProjection and ValidateEvent; pure, no I/O, thread-safe.
//
// Offence status (OffenceStatus), one table (kOffenceMoves):
//   REGISTERED -> UNDER_INVESTIGATION -> CHARGE_SHEET_SUBMITTED -> SENT_TO_COURT
//   any of those -> CLOSED (with a closure reason); CLOSED -> UNDER_INVESTIGATION (reopened)
// Accused status (AccusedStatus) by step (AccusedStep), one table (kAccusedMoves):
//   SUSPECTED  --ARRESTED--> ARRESTED, --CAUTIONED--> CAUTIONED, --CHARGED--> CHARGED
//   ARRESTED, CAUTIONED --CHARGED--> CHARGED
//   CHARGED --CONVICTED--> CONVICTED, --ACQUITTED--> ACQUITTED
//   SUSPECTED, ARRESTED, CAUTIONED, CHARGED --DISCHARGED--> DISCHARGED
//   ARRESTED, CHARGED --BAIL_GRANTED--> unchanged, on bail (once)
//   CONVICTED, ACQUITTED --APPEAL_FILED--> unchanged, appeal pending (once at a time)
//   CONVICTED, ACQUITTED --APPEAL_DECIDED--> UPHELD: unchanged; OVERTURNED: the other verdict
//     (a conviction then needs its sentence); SENTENCE_CHANGED: CONVICTED only, a new sentence
//
// Who may record (Check): an agency with access to the case whose type may hold the section
// (core/crime_policy.h) and whose grant includes the section — OFFENCE for offences, SUSPECT for
// suspects and accused. Smuggling details: any agency with access. Offence, suspect and accused
// events are accepted on a closed case too (a prosecution outlives the protection case);
// smuggling details are not.

#include <cstdint>
#include <string_view>

#include "core/agency_directory.h"
#include "core/status.h"
#include "passage/v1/case.pb.h"
#include "passage/v1/events.pb.h"

namespace passage::core {

// OffenceRegistered, OffenceStatusChanged, SuspectRecorded, AccusedUpdated, SmugglingRecorded.
bool IsCrimeEvent(const passage::v1::Event& e);

// The event's payload on its own (ValidateEvent calls it for crime events): identifiers, enums,
// dates not in the future (`now_ms`), country and subdivision codes, the route, sentence and
// charge fields that belong to the step, no fields the projection sets.
Status ValidateCrimePayload(const passage::v1::Event& e, int64_t now_ms);

// The offence state machine: the status after moving `from` to `to`, or FailedPrecondition
// naming field "offence_status_changed.to".
Result<passage::v1::OffenceStatus> NextOffenceStatus(passage::v1::OffenceStatus from,
                                                     passage::v1::OffenceStatus to);

// The accused state machine: the status of `suspect` after `update`, or FailedPrecondition naming
// the field ("accused_updated.step", "accused_updated.sentence_months").
Result<passage::v1::AccusedStatus> NextAccusedStatus(const passage::v1::Suspect& suspect,
                                                     const passage::v1::AccusedUpdated& update);

// The event against the case (see above). Assumes ValidateCrimePayload passed.
Status CheckCrimeEvent(const passage::v1::CaseState& state, const passage::v1::Event& e,
                       const AgencyDirectory& agencies);

// Folds a crime event into `state` (never fails; ignores what Check would refuse).
void ApplyCrimeEvent(passage::v1::CaseState* state, const passage::v1::Envelope& env,
                     const passage::v1::Event& e);

const passage::v1::Offence* FindOffence(const passage::v1::CaseState& state, std::string_view id);
const passage::v1::Suspect* FindSuspect(const passage::v1::CaseState& state, std::string_view id);

// The date of `record` (its on_date when given, else the producer's clock) as "YYYY-MM-DD".
std::string AccusedRecordDate(const passage::v1::AccusedRecord& record);

// The latest record of `step` for `suspect`, or nullptr.
const passage::v1::AccusedRecord* LastStep(const passage::v1::Suspect& suspect,
                                           passage::v1::AccusedStep step);

}  // namespace passage::core
