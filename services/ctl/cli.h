#pragma once

// passagectl's command line: argv -> Invocation (what to do, and the ControlRequest to send), with
// every usage error found before anything is sent. Pure: no I/O, no environment reads (the caller
// passes $PASSAGE_NODE), so it is tested on its own (tests/services/ctl_test.cc).
//
//   passagectl [--node DIR|ENDPOINT] [--json] [--timeout MS] COMMAND [ARGS]
//
// Global options may also follow the command (`passagectl inbox --json`). Options take their value
// as the next argument or after '=' (`--reason=capacity_full`); `--` ends the options. `--help` (or
// `-h`) anywhere asks for the help of the command it follows, or of the tool.
//
// Exit codes (docs/passagectl.md): see ExitCode.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "passage/v1/common.pb.h"
#include "passage/v1/control.pb.h"

namespace passage::ctl {

// What scripts may rely on.
enum ExitCode : int {
  kExitOk = 0,
  kExitRefused = 1,      // CONTROL_CODE_REFUSED: state machine, consent, authorisation
  kExitUsage = 2,        // bad flags or invalid input (CONTROL_CODE_INVALID)
  kExitNotFound = 3,     // CONTROL_CODE_NOT_FOUND: unknown case or referral
  kExitUnavailable = 4,  // the node, or the broker behind it, did not answer in time
  kExitInternal = 5,
};

int ExitCodeFor(passage::v1::ControlCode code);
// For failures found by passagectl itself (parsing, files, the REQ call).
int ExitCodeFor(const Status& status);

inline constexpr int kDefaultTimeoutMs = 15000;
inline constexpr int kMaxTimeoutMs = 3'600'000;

enum class Action {
  kHelp,    // print Invocation::help on stdout, exit 0
  kCall,    // send Invocation::request (publish --file: the event is read from `file` first)
  kIntake,  // send request.intake, read from `file`, or asked interactively when `file` is empty
  kResume,  // referral resume: find the held-from state in the inbox, then send the action
  kImportCtdc,  // one intake per record of a CTDC CSV file
  kKeygen,      // write a CURVE and a sealing key pair; no node involved
};

struct ImportSettings {
  std::string file;
  uint64_t limit = 0;  // 0 = every record
  uint64_t skip = 0;   // records to leave out first (to continue an interrupted import)
  std::vector<passage::v1::ConsentScope> consents;
  std::string actor_user;
};

struct Invocation {
  Action action = Action::kHelp;
  std::string command;   // "status", "referral", "consent withdraw", ...; "" = the tool itself
  std::string help;      // kHelp: the text to print
  std::string endpoint;  // the node's control endpoint (empty for kHelp and kKeygen)
  bool json = false;
  int timeout_ms = kDefaultTimeoutMs;
  passage::v1::ControlRequest request;  // with request.json == json
  std::string file;                     // intake --file / publish --file; "-" = standard input
  ImportSettings import;                // kImportCtdc
  std::string key_prefix;               // kKeygen
  bool overwrite = false;               // kKeygen --force
};

// Parses the arguments after argv[0]. `env_node` is $PASSAGE_NODE ("" when unset). Errors are
// InvalidArgument with the offending option or argument as field (e.g. "--reason", "REFERRAL_ID"):
// exit code kExitUsage.
Result<Invocation> ParseArgs(const std::vector<std::string>& args, std::string_view env_node);

// The help of the tool ("") or of a command ("referral", "consent", ...); empty for unknown names.
std::string HelpText(std::string_view command);

// Fills the defaults passagectl adds to an intake: person_role from the crime type when unset
// (smuggling only -> SMUGGLED_MIGRANT, otherwise PRESUMED_VICTIM).
void ApplyIntakeDefaults(passage::v1::IntakeRequest* intake);

}  // namespace passage::ctl
