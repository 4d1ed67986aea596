#pragma once

// What a reader can work out from a published table: for each suppressed number of a
// StatsTable with one or two dimensions (neither multi-valued), the least and greatest value
// consistent with every other published number of the table and with the marks. Used by the
// statistics tests to check the suppression guarantee of core/statistics.h from the outside: it
// shares no code with the suppression itself.
//
// The reader's knowledge, as linear constraints over the unknowns (suppressed cells, suppressed
// margin cells, a suppressed total): each row, each column and the whole table sums to its total;
// a "<k" number lies in [1, k-1]; an "x" number is 0 or at least k; a shown number is fixed. The
// bounds are found by linear programming (a dense simplex with Bland's rule). Two-dimensional
// tables with margins are transportation problems, so the bounds of the linear programme are
// integers and every integer between them is reached.
//
// "x" (0 or at least k) is not convex: with `exact_marks` the bounds are the union over every
// choice of "0" or "at least k" for each "x" number (2^n programmes); without it "x" is read as
// "at least 0", which can only widen a range.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/statistics.h"

namespace passage::core::testing {

struct SuppressedRange {
  std::string where;  // "cell FEMALE|9--17", "margin sex=MALE", "total"
  int64_t low = 0;
  int64_t high = 0;  // std::numeric_limits<int64_t>::max() when unbounded
};

// The range of every suppressed number of `table`. The table must have one or two dimensions,
// none multi-valued.
std::vector<SuppressedRange> FeasibleRanges(const StatsTable& table, bool exact_marks);

// The table a reader sees in RenderTable's text of a two-dimensional cross-tab with threshold
// `k` (the part of `text` from its "a \\ b" header line to its "total" line; labels without
// spaces): the shown counts, "<k" as primary and "x" as secondary. Empty when `text` holds no
// such table.
std::optional<StatsTable> ParseCrossTab(const std::string& text, int k);

}  // namespace passage::core::testing
