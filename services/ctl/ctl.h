#pragma once

// passagectl: runs one parsed command line against an agency node and turns the outcome into output
// and an exit code (cli.h lists them; docs/passagectl.md is the user's reference).
//
// Output contract: results go to `out` (the node's text, or its JSON with --json); a failure is ONE
// line on `err`, "passagectl: FIELD: REASON" (FIELD left out when empty). Interactive questions and
// import progress also go to `err`, so `out` stays clean for scripts.
//
// Thread-safety: one call at a time (it uses the streams it is given).

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "services/ctl/cli.h"

namespace passage::ctl {

struct CtlIo {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  bool stdin_is_terminal = false;   // interactive intake allowed
  bool stderr_is_terminal = false;  // progress bar instead of progress lines
  std::string env_node;             // $PASSAGE_NODE
  std::string session_dir;          // where sessions are kept; "" = $PASSAGE_SESSION_DIR or
                                    // ~/.passage/sessions (read by main)
};

// Runs passagectl with the arguments after argv[0]; returns the exit code.
int RunPassagectl(const std::vector<std::string>& args, CtlIo& io);

// Writes the one failure line.
void PrintError(std::ostream& err, std::string_view field, std::string_view reason);

// A JSON answer as it is, or with --format csv its list as CSV (services/ctl/csv_output.h).
int PrintJsonOrCsv(const Invocation& inv, const std::string& json, CtlIo& io);

}  // namespace passage::ctl
