#pragma once

// Case references: the short code people read out on the phone instead of a case's UUID, e.g.
// "FIAKHI-26-00123-7": the opening agency's reference code, the two-digit year the case was
// opened (UTC), a number the opening node counts per year, and a Damm check digit over the year
// and number, which catches every single misheard digit and every swap of two neighbouring digits.
//
// A reference is unique because each agency's code is unique in the registry (checked when the
// registry is loaded) and each node counts durably. It is carried by CaseOpened.reference and
// checked by the broker: a well-formed reference with the opening agency's own code.
//
// Thread-safety: pure functions.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "passage/v1/config.pb.h"

namespace passage::core {

// The Damm check digit of a string of decimal digits ('0'..'9'; anything else is skipped).
int DammCheckDigit(std::string_view digits);

// Whether `code` can be an agency's reference code: 2 to 6 upper-case ASCII letters or digits,
// starting with a letter.
bool IsReferenceCode(std::string_view code);

// The agency's reference code: Agency.case_reference_code when set, otherwise one derived from its
// id: the upper-cased initials of its dash-separated words ("fia-ahtc-karachi" -> "FAK"), or the
// first three letters of a one-word id ("police" -> "POL").
std::string ReferenceCodeOf(const passage::v1::Agency& agency);

// The reference of the `number`th case an agency with `code` opened in `year` (e.g. 2026).
std::string FormatCaseReference(std::string_view code, int year, uint64_t number);

// Reads what a person typed or heard: letters in any case, the parts separated by dashes or
// spaces, leading zeros of the number optional. The canonical reference, or InvalidArgument on
// `field` saying what is wrong in people's words (not a reference; the check digit does not
// match, so a digit was probably misheard or two were swapped).
Result<std::string> ParseCaseReference(std::string_view text, const std::string& field);

// Whether `text` is meant as a case reference rather than a case id (it has a letter and is not a
// UUID); the caller then parses it for the precise error.
bool LooksLikeCaseReference(std::string_view text);

// The year (UTC) of a Unix time in milliseconds.
int UtcYear(int64_t unix_ms);

}  // namespace passage::core
