#pragma once

// The short names passagectl accepts for Passage enums, and small text helpers shared by the
// argument parser and the interactive intake.
//
// A short name is the enum value's name without the type prefix, in lower case:
// EXPLOITATION_FORM_FORCED_LABOUR -> "forced_labour", REJECT_REASON_CAPACITY_FULL ->
// "capacity_full". Parsing ignores case, accepts '-' for '_' and also the full upper-case name;
// *_UNSPECIFIED is never accepted.
//
// Thread-safety: pure functions.

#include <google/protobuf/descriptor.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace passage::ctl {

// The short name of `value` in `type` ("forced_labour"); the number as text for unknown values.
std::string ShortName(const google::protobuf::EnumDescriptor* type, int value);

// Every short name of `type` except UNSPECIFIED, in enum order, joined by `separator`.
std::string EnumChoices(const google::protobuf::EnumDescriptor* type,
                        std::string_view separator = "|");

// Parses a short or full name. Errors: InvalidArgument naming `field`, e.g.
// "'forced-labor' is not one of: forced_labour, sexual_exploitation, ...".
Result<int> ParseEnumName(const google::protobuf::EnumDescriptor* type, std::string_view text,
                          std::string_view field);

// Splits "a, b,,c" into {"a", "b", "c"}: on ',', blanks trimmed, empty items dropped.
std::vector<std::string> SplitList(std::string_view text);

// `text` without leading and trailing blanks.
std::string Trim(std::string_view text);

// Parses a whole number in [min, max]. Errors: InvalidArgument naming `field`.
Result<uint64_t> ParseCount(std::string_view text, std::string_view field, uint64_t min,
                            uint64_t max);

}  // namespace passage::ctl
