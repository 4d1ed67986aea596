#pragma once

// A victim's journey (docs/architecture.md): the ordered events of one case told in plain words, the time the
// case spent in each stage, and every referral's path, for the terminal and as JSON.
//
// BuildJourney replays the case's events through core::CaseProjection (the same fold the broker
// and the audit use), so stages and referral states are exactly the projection's. For each event
// it writes one timeline entry from the state just before the event (who moved which referral
// from where to where). Stage intervals come from watching CaseState.stages after each event:
// a stage starts when it appears and ends when it disappears.
//
// Time: every entry shows the producer's occurred_at_ms (appended_at_ms when that is 0). Stage
// arithmetic uses a clock that never runs backwards (an event stamped earlier than the one before
// it counts as happening at the same moment), so durations are never negative. The journey runs
// from its first event to its last event; a stage still held at the last event is "ongoing" and
// its interval ends there. Periods partition that span exactly, so their durations always add up
// to the elapsed time; per-stage totals add up to it too when the case was never in two stages at
// once (protection and criminal justice may overlap).
//
// Privacy: nothing here reads SealedPersonalData beyond noticing that an event carries one ("the
// sealed personal data was replaced"); texts name agencies, codes, times and ids only.
//
// Pure, no I/O; thread-safe for distinct inputs.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/agency_directory.h"
#include "core/routing.h"
#include "passage/v1/common.pb.h"
#include "passage/v1/events.pb.h"

namespace passage::core {

// One event of the case, in words.
struct JourneyEntry {
  int64_t at_ms = 0;
  uint64_t global_seq = 0;
  uint64_t case_seq = 0;
  std::string agency;       // the acting agency's id
  std::string event;        // payload name: "case_opened", "referral_transition", ...
  std::string text;         // e.g. "fia-karachi sent referral R1 to shelter-ngo for SHELTER (...)"
  std::string referral_id;  // the referral the event is about, if any
  std::vector<passage::v1::Stage> stages;  // the case's stages after the event
  bool stages_changed = false;             // differ from the stages before the event
};

// A span during which the case's set of stages did not change.
struct StagePeriod {
  std::vector<passage::v1::Stage> stages;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  bool ongoing = false;  // still so at the last event
  int64_t duration_ms() const { return to_ms - from_ms; }
};

// One continuous stay in one stage.
struct StageInterval {
  passage::v1::Stage stage = passage::v1::STAGE_UNSPECIFIED;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  bool ongoing = false;
  int64_t duration_ms() const { return to_ms - from_ms; }
};

// Total time in one stage over all its intervals.
struct StageTime {
  passage::v1::Stage stage = passage::v1::STAGE_UNSPECIFIED;
  int64_t total_ms = 0;
  int intervals = 0;
  bool ongoing = false;
};

struct ReferralStep {
  passage::v1::ReferralStatus status = passage::v1::REFERRAL_STATUS_UNSPECIFIED;
  int64_t at_ms = 0;
  std::string by_agency;
  uint64_t global_seq = 0;
};

struct ReferralPath {
  int number = 0;  // 1-based, in the order the referrals were sent: "R1", "R2", ...
  std::string referral_id;
  std::string from_agency;
  std::string to_agency;
  passage::v1::ReferralKind kind = passage::v1::REFERRAL_KIND_UNSPECIFIED;
  passage::v1::ServiceType service = passage::v1::SERVICE_TYPE_UNSPECIFIED;
  passage::v1::Priority priority = passage::v1::PRIORITY_UNSPECIFIED;
  int64_t respond_by_ms = 0;
  std::string parent_referral_id;               // escalation, onward or re-referral of
  std::vector<std::string> child_referral_ids;  // referrals whose parent this is, in order
  passage::v1::ReferralStatus status = passage::v1::REFERRAL_STATUS_UNSPECIFIED;
  passage::v1::RejectReason status_reason = passage::v1::REJECT_REASON_UNSPECIFIED;
  std::string outcome;
  std::vector<ReferralStep> steps;  // SENT first, then every transition
};

struct Journey {
  std::string case_id;
  int64_t started_at_ms = 0;  // the first event
  int64_t ended_at_ms = 0;    // the last event (monotonic clock, see above)
  bool closed = false;
  std::vector<passage::v1::Stage> stages;  // at the last event
  std::vector<JourneyEntry> entries;
  // In time order; zero-length spans are left out except the last, which holds the current
  // stages.
  std::vector<StagePeriod> periods;
  std::vector<StageInterval> stage_intervals;  // by start time, then stage
  std::vector<StageTime> time_in_stage;        // stages ever held, in enum order
  std::vector<ReferralPath> referrals;         // in the order they were sent
  std::vector<UnplacedNeed> unplaced;          // needs no agency has taken (core/routing.h)

  int64_t elapsed_ms() const { return ended_at_ms - started_at_ms; }
};

// Builds the journey of one case from its events in log order (case_seq ascending). When
// `agencies` is given, texts use agencies' registered names instead of their ids (ids stay in
// JourneyEntry::agency and ReferralPath). An empty input gives an empty journey.
Journey BuildJourney(
    const std::vector<std::pair<passage::v1::Envelope, passage::v1::Event>>& events,
    const AgencyDirectory* agencies = nullptr);

// Terminal text: a header, the timeline (with the stages each time they change), time in each
// stage, the stage periods, and the referrals with their paths. Ends with a newline.
std::string RenderJourney(const Journey& journey);

// One JSON object with every field of Journey (times as Unix ms and as UTC text, enums by their
// short names, e.g. "ACCEPTED").
std::string JourneyToJson(const Journey& journey);

// "3d 04h 05m", "2h 05m", "5m 03s", "12s".
std::string FormatDurationMs(int64_t ms);

}  // namespace passage::core
