#pragma once

// Parsing of configuration text (protobuf text format, or JSON when the text starts with '{').
// Errors name the file, line, column and field, e.g.
//   "deploy/config/rules.textproto:12:5: Message type "passage.v1.RoutingRule" has no field named
//   "servce"."

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

#include "core/status.h"

namespace passage::core {

Status ParseConfigText(std::string_view text, std::string_view filename,
                       google::protobuf::Message* out);

}  // namespace passage::core
