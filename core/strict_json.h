#pragma once

// Strict JSON (RFC 8259) for the files people give passagectl and the nodes (intake, publish,
// configuration in JSON), checked before libprotobuf reads them, because its JSON reader is
// lenient where a mistake would be stored silently: it takes a trailing comma, lets the last of
// two equal keys win (`crime_type` TIP then SOM stores smuggling), and folds `[["PK"]]` into one
// list. CheckStrictJson refuses, naming the field by its path from the root
// ("profile.citizenship[1]"):
// - a trailing comma in an object or a list;
// - a key given twice in one object;
// - a single value where `type` has a list (a repeated field), and a list inside such a list;
// - a string that is not UTF-8 (raw bytes, or \u escapes that pair no surrogates);
// - anything else that is not JSON (a reason and the byte offset), and nesting deeper than 64.
// Unknown fields and wrong value types are left to the protobuf reader, which names them.
//
// Pure; thread-safe.

#include <string_view>

#include <google/protobuf/descriptor.h>

#include "core/status.h"

namespace passage::core {

inline constexpr int kMaxJsonDepth = 64;

// OK when `text` is one strict JSON value whose lists match `type`'s repeated fields (`type` may
// be null: then only the syntax, the keys and UTF-8 are checked). Errors: InvalidArgument with the
// field path (empty for the document itself) and the reason.
Status CheckStrictJson(std::string_view text, const google::protobuf::Descriptor* type);

}  // namespace passage::core
