#pragma once

// Code tables and syntax checks shared by validation, projections, import and export.
//
// - ISO 3166-1 countries: the table of every officially assigned alpha-2 code with its alpha-3
//   code. Passage stores alpha-2, upper case (CTDC's convention); input may be alpha-2 or alpha-3
//   in any case. User-assigned codes such as "XK" are not in the table and are refused.
// - ISO 3166-2 subdivisions: a syntax check only ("PK-SD": a known alpha-2, '-', then 1 to 3
//   letters or digits).
// - UUIDs: canonical 36-character lower-case text, version 4 or 7, RFC 4122 variant.
// - Agency ids: [a-z0-9-]{2,64}.
// - CTDC age bands (ageBroad) and majority status.
//
// Everything here is pure and stateless; the tables are constants. Thread-safe.

#include <google/protobuf/descriptor.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "passage/v1/common.pb.h"

namespace passage::core {

// One row of the ISO 3166-1 table. `name` is a short English name for display only.
struct Country {
  std::string_view alpha2;
  std::string_view alpha3;
  std::string_view name;
};

// Every officially assigned ISO 3166-1 country, sorted by alpha-2.
std::span<const Country> AllCountries();

// The country whose alpha-2 or alpha-3 code is `code` (any case), or nullptr.
const Country* FindCountry(std::string_view code);

// True when `code` is exactly a stored-form code: an assigned alpha-2 code in upper case.
bool IsCountryAlpha2(std::string_view code);

// Returns the upper-case alpha-2 code for `code` given as alpha-2 or alpha-3 in any case.
// Errors: InvalidArgument naming `field`, e.g. "'PAK1' is not an ISO 3166-1 country code".
Result<std::string> NormalizeCountry(std::string_view code, std::string_view field);

// True when `code` has the ISO 3166-2 shape "CC-XXX": an assigned alpha-2 code in upper case, '-',
// then 1 to 3 upper-case letters or digits. Whether the subdivision exists is not checked.
bool IsSubdivisionSyntax(std::string_view code);

// Upper-cases `code` and checks it with IsSubdivisionSyntax. Errors: InvalidArgument naming
// `field`.
Result<std::string> NormalizeSubdivision(std::string_view code, std::string_view field);

// True when `text` is a canonical UUID: 8-4-4-4-12 lower-case hex digits, version 4 or 7, variant
// bits 10xx.
bool IsValidUuid(std::string_view text);

// OK for a canonical UUID; otherwise InvalidArgument naming `field` with the reason (empty, wrong
// length or shape, upper case, unsupported version or variant).
Status ValidateUuid(std::string_view text, std::string_view field);

// True when `id` matches [a-z0-9-]{2,64}.
bool IsValidAgencyId(std::string_view id);

// OK for a valid agency id; otherwise InvalidArgument naming `field`.
Status ValidateAgencyId(std::string_view id, std::string_view field);

// The CTDC ageBroad band of an age in whole years (0-8, 9-17, 18-20, ..., 39-47, 48+).
passage::v1::AgeBand AgeBandForAge(uint32_t years);

// MINOR below 18, ADULT from 18.
passage::v1::MajorityStatus MajorityForAge(uint32_t years);

// The majority status every age in `band` shares: MINOR for 0-8 and 9-17, ADULT for the others,
// UNSPECIFIED for UNSPECIFIED (or an unknown value).
passage::v1::MajorityStatus MajorityForAgeBand(passage::v1::AgeBand band);

// CTDC's text for a band: "0--8", "9--17", ..., "48+"; empty for UNSPECIFIED or unknown values.
std::string_view AgeBandCtdcText(passage::v1::AgeBand band);

// The band for CTDC text ("0--8", ..., "48+"; surrounding spaces ignored); UNSPECIFIED for "" or
// anything else.
passage::v1::AgeBand AgeBandFromCtdcText(std::string_view text);

// Unix milliseconds -> "2024-05-01T10:00:00Z" (UTC, proleptic Gregorian; milliseconds dropped).
std::string FormatUtcMs(int64_t ms);

// Seconds east of UTC of a time zone at the instant `utc_ms` (Asia/Karachi: 18000).
using UtcOffsetFn = std::function<int64_t(int64_t utc_ms)>;

// The time zone times are shown in to people in text (passagectl's answers, journeys, note lists):
// a node with a configured zone (http.time_zone) sets it once at start, before its threads run;
// until then, and without one, times are shown as FormatUtcMs gives them.
void SetShownTimeZone(UtcOffsetFn offset);

// A time for people: "2024-05-01 15:00 +05:00" in the shown zone, or FormatUtcMs's text when none
// is set.
std::string FormatShownMs(int64_t ms);

// The UTC calendar year of Unix milliseconds `ms`.
int32_t UtcYearOfMs(int64_t ms);

// Edit distance between `a` and `b` (insertions, deletions, substitutions and swaps of two
// neighbouring letters each count 1), letters compared without case.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate nearest to `word` (by EditDistance) when it is at most `max_distance` away;
// empty when none is, or when `word` is a candidate itself. For "did you mean".
std::string Nearest(std::string_view word, const std::vector<std::string>& candidates,
                    size_t max_distance = 2);

// The name of `value` in `type` without the type prefix that every Passage enum shares (the
// prefix of its *_UNSPECIFIED value): REFERRAL_STATUS_SENT -> "SENT". An unknown numeric value
// comes out as its number, e.g. "42".
// Appends `s` to `out` as a JSON string literal (quotes, backslashes and control characters
// escaped; other bytes as they are).
void AppendJsonString(std::string* out, std::string_view s);
// `s` as a JSON string literal.
std::string JsonQuote(std::string_view s);

std::string ShortEnumName(const google::protobuf::EnumDescriptor* type, int value);

// ShortEnumName for a ReferralStatus: "SENT", "CANCEL_REQUESTED", ...
std::string ReferralStatusName(passage::v1::ReferralStatus status);

}  // namespace passage::core
