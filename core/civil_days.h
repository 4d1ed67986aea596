#pragma once

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days-from-civil), for the
// parsers that turn a written date into an instant. Pure; header-only so that a change of codes.h
// is not needed to use it. `m` is 1..12 and `d` 1..31; the caller checks that the date exists.

#include <cstdint>

namespace passage::core {

constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

static_assert(DaysFromCivil(1970, 1, 1) == 0);
static_assert(DaysFromCivil(2000, 3, 1) == 11017);
static_assert(DaysFromCivil(1969, 12, 31) == -1);

}  // namespace passage::core
