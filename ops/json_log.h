#pragma once

// Logs as JSON lines, one object per line, for log collectors (BrokerConfig.log_format and
// NodeConfig.log_format "json", or PASSAGE_LOG_FORMAT=json):
//   {"time":"2026-12-07T18:07:37.123Z","level":"info","logger":"broker","message":"..."}
// The message is the same text as in plain logs (no personal data either way), escaped for JSON.

#include <string>

namespace passage::ops {

// Switches every logger, present and future clones of the default one, to JSON lines when
// `format` is "json" (or, with `format` empty, when PASSAGE_LOG_FORMAT is "json"). "text" and ""
// leave the plain format. Returns false, doing nothing, for any other value.
bool ConfigureLogFormat(const std::string& format);

}  // namespace passage::ops
