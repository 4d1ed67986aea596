#pragma once

// Country-code normalisation for CTDC columns (citizenship, CountryOfExploitation). Private to
// core/ctdc.
//
// Thread-safety: pure functions over constant tables.

#include <optional>
#include <string>
#include <string_view>

namespace passage::ctdc::internal {

struct CountryCode {
  enum class Kind {
    kNone,     // empty or an "unknown" placeholder ("-99", "00", "NULL", "Unknown", ...)
    kCode,     // alpha2 holds an upper-case ISO 3166-1 alpha-2 code
    kInvalid,  // neither: not a country code this importer understands
  };
  Kind kind = Kind::kNone;
  std::string alpha2;
};

// Upper-cases `raw`; keeps any two-letter code as it is (CTDC publishes alpha-2), converts an
// officially assigned alpha-3 code ("PHL" -> "PH", as in CTDC's synthetic dataset) and maps
// placeholders for "unknown" to kNone. `raw` should already be trimmed.
CountryCode NormalizeCountryCode(std::string_view raw);

// The alpha-2 code for an upper-case ISO 3166-1 alpha-3 code, or nullopt.
std::optional<std::string_view> Alpha2FromAlpha3(std::string_view alpha3);

}  // namespace passage::ctdc::internal
