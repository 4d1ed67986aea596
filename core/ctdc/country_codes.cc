#include "core/ctdc/country_codes.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "core/codes.h"

namespace passage::ctdc::internal {
namespace {

bool IsAsciiLetters(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
}

// "-99", "00", "0", "-1.0": the numeric placeholders some sources use for an unknown country.
bool IsNumericPlaceholder(std::string_view s) {
  bool digit = false;
  for (char c : s) {
    if (std::isdigit(static_cast<unsigned char>(c)) != 0) {
      digit = true;
    } else if (c != '-' && c != '+' && c != '.') {
      return false;
    }
  }
  return digit;
}

}  // namespace

std::optional<std::string_view> Alpha2FromAlpha3(std::string_view alpha3) {
  // One ISO 3166-1 table for the whole project: core/codes.
  const core::Country* c = alpha3.size() == 3 ? core::FindCountry(alpha3) : nullptr;
  if (c == nullptr) {
    return std::nullopt;
  }
  return c->alpha2;
}

CountryCode NormalizeCountryCode(std::string_view raw) {
  std::string upper;
  upper.reserve(raw.size());
  for (char c : raw) {
    upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  CountryCode out;
  // "NA" is Namibia, so it is not a placeholder here.
  if (upper.empty() || IsNumericPlaceholder(upper) || upper == "N/A" || upper == "NAN" ||
      upper == "NULL" || upper == "NONE" || upper == "UNKNOWN" || upper == "NOT SPECIFIED") {
    out.kind = CountryCode::Kind::kNone;
    return out;
  }
  // Two letters must be an assigned code ("UP" is not): the import hands on only what the
  // broker's validation accepts.
  if (upper.size() == 2 && IsAsciiLetters(upper) && passage::core::IsCountryAlpha2(upper)) {
    out.kind = CountryCode::Kind::kCode;
    out.alpha2 = std::move(upper);
    return out;
  }
  if (upper.size() == 3 && IsAsciiLetters(upper)) {
    if (std::optional<std::string_view> a2 = Alpha2FromAlpha3(upper)) {
      out.kind = CountryCode::Kind::kCode;
      out.alpha2 = std::string(*a2);
      return out;
    }
  }
  out.kind = CountryCode::Kind::kInvalid;
  return out;
}

}  // namespace passage::ctdc::internal
