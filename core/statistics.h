#pragma once

// Disaggregated statistics and referral indicators computed from case projections (docs/architecture.md).
//
// Everything here is pure: it reads CaseStates (core::CaseProjection) and an AgencyDirectory and
// returns values; rendering produces strings. No I/O. Thread-safe as long as the inputs are not
// modified concurrently.
//
// ## Tables
//
// ComputeTable counts units by every combination of the requested dimensions. The unit is the
// case, except when `by` contains kReferralOutcome: then it is the referral (each referral of each
// case is one unit, carrying the attributes of its case), and cases without referrals are not
// counted. Each dimension gives a unit one or more values:
//
//   dimension       name         values (the label of "not recorded" in brackets)
//   kSex            sex          FEMALE, MALE, OTHER, UNKNOWN [UNSPECIFIED]
//   kAgeBand        age_band     CTDC ageBroad text: 0--8, 9--17, ..., 48+ [unknown]
//   kMajority       majority     MINOR, ADULT at identification (from the age band when not
//                                recorded) [UNSPECIFIED]
//   kCitizenship    citizenship  the FIRST citizenship, ISO alpha-2 [unknown]
//   kCountry        country      country of exploitation, ISO alpha-2 [unknown]
//   kForm           form         every distinct form of exploitation of the case [UNSPECIFIED]
//   kCrimeType      crime_type   TIP, SOM, BOTH, UNDETERMINED [UNSPECIFIED]
//   kChannel        channel      identification channel [UNSPECIFIED]
//   kAgencyType     agency_type  type, in the directory, of the agency that owns the case; when
//                                the unit is the referral, of the agency the referral was sent to
//                                (the recipient, whose decision the outcome is) [unregistered]
//   kStage          stage        every current stage of the case
//   kOutcome        outcome      the referral's final outcome: COMPLETED (accepted and the service
//                                delivered), REJECTED (declined), FAILED, CANCELLED (withdrawn by
//                                the sender or the victim), EXPIRED (no answer in time), or OPEN
//                                (no outcome yet: SENT, RECEIVED, ACCEPTED, IN_PROGRESS, ON_HOLD,
//                                CANCEL_REQUESTED)
//   kYear           year         profile.year_of_registration, else the year of opened_at_ms
//                                [unknown]
//   kMinorityGroup  minority_group  sensitive: yes / no [unknown]
//   kDisability     disability   sensitive: yes / no [unknown]
//
// Multi-valued dimensions (form, stage): a case with two forms of exploitation counts once under
// each, so such a table (and its margin for that dimension) does not sum to its total; the total
// is always the number of distinct units counted.
//
// Sensitive dimensions (minority_group, disability) are refused unless the query sets
// count_sensitive. Even then the attribute is read only for cases with a STATISTICS consent in
// force (given and not withdrawn); every other case counts under the value "withheld".
//
// Rows are sorted by each dimension's natural order in turn: enum values in enum order, age bands
// young to old, years ascending, country codes alphabetically; "not recorded" and "withheld" last.
//
// ## Small-cell suppression (threshold k)
//
// k is 1 (nothing suppressed) or at least 3: with k = 2 the mark "<2" would itself say "1".
//
// 1. Primary: every cell with 0 < count < k is suppressed and marked "<k" (e.g. "<5"): the reader
//    learns that its count is from 1 to k-1, and nothing more. Zero cells are shown as "0".
// 2. Totals: the grand total is shown unless 0 < total < k: then it reads "<k" and the table
//    lists no cells and no margins, since even which values occur could give the counts away
//    (with k = 3, two values and a total "<3", each must be 1). A table with two
//    or more dimensions carries, for each dimension, its margin: exactly the one-dimensional table
//    of that dimension over the same units, with that table's own suppression (so asking for the
//    one-dimensional table tells nothing new).
// 3. Complementary (secondary): further cells are suppressed, marked "x", until the guarantee
//    below holds. An "x" cell was hidden only to protect another number; since it is not primary,
//    its count is 0 or at least k, and the guarantee assumes the reader knows that. The cells are
//    chosen in turn: (a) the line rule: whenever a line (the cells that differ in one dimension
//    only) holds exactly one suppressed cell, its smallest non-zero shown cell is hidden, if hiding
//    more could protect it; repeated until no line changes; (b) then every suppressed number is
//    checked (below), and for the first that fails, the cheapest cycle that would protect it is
//    found (each shown non-zero cell on it costs its count) and the shown cells on it are hidden;
//    then (a) and (b) again, until every suppressed number passes or one cannot be helped. Zero
//    cells are never hidden: an "x" that is 0 could seldom move and would need protecting itself.
//
// ### Guarantee
//
// Given every published number of a table (shown cells, margins, total) and its marks, no
// suppressed number (cell, margin cell or total) can be narrowed to a single value: another table
// of non-negative integers with the same shown numbers and marks, and the same sums, gives it
// another value. The check proves this with such a table: the tables consistent with what is
// published are the circulations of a small network (one arc per number; node sums are the sums
// the table states), and a suppressed number passes when it lies on a cycle along which every
// suppressed number can move by the same step (1 to k), staying within its mark ("<k": 1 to k-1;
// "x": 0 or at least k; a cell never above its smallest margin). For one and two dimensions the
// network is exactly the table's own sums; where a dimension is multi-valued (its lines do not sum
// to a margin) and for three or more dimensions (one network per dimension, the other dimensions'
// combinations as columns) the reader is assumed to know more sums than are published, which
// only makes the check stricter. tests/core/statistics_test.cc checks the guarantee from the
// outside, by linear programming over the published table alone, on thousands of random tables.
// The guarantee gives at least two possible values, not a wide interval: a "<5" cell is known to
// lie between 1 and 4 whatever else is published.
//
// Only cells are hidden by step 3: a table's margins and total stay exactly those of the tables
// of fewer dimensions. When some suppressed number cannot be protected however many cells are
// hidden (tables made mostly of counts below k, whose marks alone pin them: with k = 5, a
// one-dimensional table "<5", "<5", total 8, makes both 4), the table is withheld: it lists no
// cells and no margins, only its total, and says so ("withheld" in JSON; the text says "cells
// withheld"). In the property test's random tables, dense in small cells, about one in ten is.
//
// Limits: the guarantee is for one table. Several tables over overlapping dimensions, published
// together (sex x age_band beside sex x form), are not checked against each other; the line rule
// keeps the commonest such leak (a line whose total another table shows) closed where it can.
// The grid is capped at kMaxStatsCells combinations; above kMaxCheckedCells only the line rule
// runs, without the check. Referral indicators are operational figures about referrals and are
// not suppressed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/agency_directory.h"
#include "core/status.h"
#include "passage/v1/case.pb.h"
#include "passage/v1/common.pb.h"

namespace passage::core {

enum class Dimension {
  kSex,
  kAgeBand,
  kMajority,
  kCitizenship,
  kCountry,  // of exploitation
  kForm,     // of exploitation; multi-valued
  kCrimeType,
  kChannel,        // identification channel
  kAgencyType,     // of the owning agency; of the recipient when the unit is the referral
  kStage,          // multi-valued
  kOutcome,        // final referral outcome or OPEN; makes the unit the referral
  kYear,           // of registration
  kMinorityGroup,  // sensitive
  kDisability,     // sensitive
};

// Every dimension, in enum order.
const std::vector<Dimension>& AllDimensions();

// The dimension's name as in the table above ("sex", "age_band", ...): used in the CLI, in
// StatsRequest.by and as JSON keys.
std::string_view DimensionName(Dimension d);

// The dimension named `name`: a name above, or one of the long aliases "minor_adult",
// "country_of_exploitation", "exploitation_form", "identification_channel", "referral_outcome",
// "year_of_registration"; case-insensitive, '-' taken as '_'. Errors: InvalidArgument listing the
// names.
Result<Dimension> ParseDimension(std::string_view name);

// minority_group and disability.
bool IsSensitiveDimension(Dimension d);

// form and stage: a unit may count under several values.
bool IsMultiValuedDimension(Dimension d);

// The largest number of combinations (grid cells) a table may have.
inline constexpr int64_t kMaxStatsCells = 2'000'000;

// The largest grid whose suppression is checked cell by cell (see "Guarantee" above); a larger
// grid gets the line rule only.
inline constexpr int64_t kMaxCheckedCells = 20'000;

struct StatsQuery {
  std::vector<Dimension> by;     // in display order; may be empty (total only)
  int k = 5;                     // suppression threshold, >= 1 (1 = no suppression)
  bool count_sensitive = false;  // allow minority_group / disability (consent-gated per case)
};

// One cell: a combination of values (one label per dimension of the table, in `by` order) and its
// count. A suppressed cell has count 0.
struct StatsCell {
  std::vector<std::string> values;
  int64_t count = 0;
  bool suppressed = false;
  // Suppressed only to protect another number (complementary): its count is 0 or at least k.
  // false for a primary-suppressed cell (a count from 1 to k-1) and for a shown one.
  bool secondary = false;
};

// The one-dimensional table of one dimension, shown as a margin of a larger table.
struct StatsMargin {
  Dimension dimension = Dimension::kSex;  // for ComputeTable's tables
  std::string name;                       // the dimension's name
  std::vector<StatsCell> cells;  // values has one element
};

struct StatsTable {
  std::vector<Dimension> by;        // ComputeTable's dimensions; empty for CountUnits tables
  std::vector<std::string> names;   // every table: the dimensions' names, in display order
  std::vector<std::string> multi_valued_names;  // those a unit may count under several values of
  std::string title;                // RenderTable's first line; empty: "<unit> by <names>"
  std::string unit = "cases";  // "cases", or "referrals" when `by` has kOutcome
  int k = 5;
  bool multi_valued = false;  // some dimension is multi-valued: cells may not sum to the total
  // No cells and no margins are given because some suppressed number could not be protected
  // (see "Guarantee" above); the total is.
  bool withheld = false;
  // Every combination whose count is non-zero or that is suppressed, sorted; a combination not
  // listed is zero. With no dimensions: empty.
  std::vector<StatsCell> cells;
  StatsCell total;  // values empty
  // With two or more dimensions: one per dimension, in `by` order. Empty otherwise.
  std::vector<StatsMargin> margins;
};

// Counts `cases` (null pointers are skipped) by `query`. Errors: InvalidArgument for k < 1, a
// dimension listed twice, a sensitive dimension without count_sensitive, or a grid above
// kMaxStatsCells.
Result<StatsTable> ComputeTable(const std::vector<const passage::v1::CaseState*>& cases,
                                const StatsQuery& query, const AgencyDirectory& agencies);

// One value of a dimension for CountUnits: its label and its place in the dimension's order
// (ties broken by label).
struct StatsValue {
  int64_t order = 0;
  std::string label;

  friend bool operator<(const StatsValue& a, const StatsValue& b) {
    return std::tie(a.order, a.label) < std::tie(b.order, b.label);
  }
  friend bool operator==(const StatsValue& a, const StatsValue& b) {
    return a.order == b.order && a.label == b.label;
  }
};

// The counting and suppression of ComputeTable over units given directly: unit_values[u][d] are
// the values unit u counts under in dimension d (several for a multi-valued dimension, named in
// `multi_valued`). Same grid, suppression, totals and margins as ComputeTable. Errors: k < 1, or
// a grid above kMaxStatsCells.
Result<StatsTable> CountUnits(const std::vector<std::string>& names,
                              const std::vector<std::vector<std::vector<StatsValue>>>& unit_values,
                              int k, std::string unit,
                              const std::vector<std::string>& multi_valued = {});

// The mark of a suppressed cell: "<k" (e.g. "<5") when primary, "x" when secondary; "" when shown.
std::string SuppressionMark(const StatsCell& cell, int k);

// The legend of the marks the table uses, one line per mark ("<5: suppressed, a count from 1 to
// 4", "x: hidden so that the totals cannot reveal a suppressed count (0 or at least 5)"); empty
// when nothing is suppressed.
std::string SuppressionLegend(const StatsTable& table);

// An aligned text table for the terminal. One dimension: a value column and a count column, then
// the total; two: a cross-tab with row and column totals (the margins); more: one row per listed
// combination, then the total. Suppressed cells read their SuppressionMark, zero cells "0"; the
// SuppressionLegend follows the table. Ends with a newline.
std::string RenderTable(const StatsTable& table);

// The table as one JSON object:
//   {"by":["sex"],"unit":"cases","k":5,"multi_valued":false,"withheld":false,
//    "cells":[{"values":{"sex":"FEMALE"},"count":9,"suppressed":false,"suppression":null},
//             {"values":{"sex":"OTHER"},"count":null,"suppressed":true,
//              "suppression":"primary"}, ...],
//    "total":{"count":17,"suppressed":false,"suppression":null},
//    "margins":{"sex":[{"value":"FEMALE","count":9,"suppressed":false,"suppression":null}, ...],
//               ...}}
// "suppression" is "primary" (shown as "<k") or "secondary" (shown as "x") for a suppressed cell.
std::string ToJson(const StatsTable& table);

// Referral indicators over every referral of the given cases.
struct ReferralIndicators {
  int64_t now_ms = 0;
  int64_t referrals = 0;
  int64_t accepted = 0;  // accepted at some point (history has a move to ACCEPTED)
  int64_t rejected = 0;  // status REJECTED
  // accepted / (accepted + rejected); empty when nothing was decided.
  std::optional<double> acceptance_rate;
  // Time from SENT to the first ACCEPTED, from the history timestamps, over `timed_acceptances`
  // referrals. Percentiles interpolate linearly between closest ranks (the median of an even
  // number of values is the mean of the middle two; numpy's default); rounded to milliseconds.
  int64_t timed_acceptances = 0;
  std::optional<int64_t> median_ms_to_acceptance;
  std::optional<int64_t> p90_ms_to_acceptance;
  // SENT or RECEIVED with respond_by_ms < now_ms, or EXPIRED.
  int64_t overdue = 0;
  int64_t terminal = 0;                   // REJECTED, COMPLETED, FAILED, CANCELLED, EXPIRED
  int64_t completed = 0;                  // COMPLETED
  std::optional<double> share_completed;  // completed / terminal; empty when none is terminal
  // Referrals in status REJECTED per reason, in enum order, non-zero only.
  std::vector<std::pair<passage::v1::RejectReason, int64_t>> rejected_by_reason;
  int64_t escalations = 0;  // referrals with a parent referral
};

// Computes the indicators over every referral of `cases` (null pointers skipped) as of `now_ms`.
ReferralIndicators ComputeIndicators(const std::vector<const passage::v1::CaseState*>& cases,
                                     int64_t now_ms);

// Aligned text for the terminal; ends with a newline.
std::string RenderIndicators(const ReferralIndicators& indicators);

// One JSON object: {"now_ms":..., "now":"2024-05-01T10:00:00Z", "referrals":7, "accepted":3,
// "rejected":1, "acceptance_rate":0.75, "timed_acceptances":3, "median_ms_to_acceptance":3600000,
// "p90_ms_to_acceptance":6480000, "overdue":2, "terminal":3, "completed":1,
// "share_completed":0.333333, "rejected_by_reason":{"CAPACITY_FULL":1}, "escalations":1}; absent
// values are null.
std::string IndicatorsToJson(const ReferralIndicators& indicators);

}  // namespace passage::core
