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
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/codes.h"
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
  kExitVerifyFailed = 6,  // audit, replay, admin: the log, a head or a proof failed verification
  kExitNotSignedIn = 7,   // CONTROL_CODE_UNAUTHENTICATED: no session, or it ended
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
  kAudit,       // audit verify|proof|consistency|access|heads: on a log directory, or via the node
  kReplay,      // fold a log directory up to a point: case state, journey, statistics, digest
  kAdmin,       // admin checkpoint|backup|restore of a log directory; no node involved
  kLogin,       // ask for the password (or read `file`), send request.login, save the session
  kLogout,      // send request.logout, delete the session file
  kPasswd,      // ask the current and the new password (or read `file`), send request.passwd
  kFindPerson,  // ask the name and date of birth (or read two lines), send request.find
  kKeysShow,    // print the public halves of key files; no node involved
  kConfigCheck, // check configuration files as the programs would read them; no node involved
  kBrokerAdmin, // admin agency ...: a BrokerAdminRequest on the broker's admin socket
  kSuspect,     // suspect --identity-file: send request.publish with suspect_identity read from
                // `file` (a PersonalData in text format), never from an argument
  kNoteAdd,     // note add --file: send request.note with the text read from `file`
  kDocumentAttach,  // document attach: send request.document with the content of `file`
  kDocumentOpen,    // document open: send request.document, write the content to `file`
  kFhir,        // fhir export (to `file`, "" = standard output) / import (the Bundle from `file`)
};

// keys show and config check (docs/configuration.md).
struct OpsSettings {
  std::vector<std::string> files;
  bool public_only = false;   // keys show --public-only: a key file with only the public line
  std::string tree_head;      // keys show --tree-head FILE: the broker's signing seed
  std::string root;           // config check --root DIR
  std::string registry;       // config check --registry FILE
  std::string broker_admin;   // admin agency: the broker's admin socket
  std::string keys_prefix;    // admin agency rotate-key --keys PREFIX
};

// audit, replay and admin (docs/passagectl.md, docs/audit.md). Invocation::command names the
// subcommand ("audit verify", "replay", "admin backup", ...). Paths are kept as given.
struct AuditSettings {
  std::string log;             // --log: a log directory (a copy, checkpoint or backup); "" = node
  std::string sth_file;        // --sth / --against-sth: a signed tree head as JSON
  std::string public_key;      // --public-key: the trusted 32-byte key (raw); "" = not pinned
  bool check_indexes = false;  // audit verify --check-indexes
  uint64_t seq = 0;            // audit proof --seq
  uint64_t size = 0;           // audit proof / heads --size; 0 = the latest signed head
  std::string out;             // --out FILE; "" = standard output
  std::string envelope_out;    // audit proof --envelope FILE: the stored envelope bytes
  std::string case_id;         // audit access CASE_ID; replay --case
  // replay
  std::optional<uint64_t> until_seq;        // --until SEQ
  std::optional<int64_t> until_ms;          // --until TIME (RFC 3339 UTC), Unix ms
  std::string journey_case;                 // --journey CASE_ID
  bool stats = false;                       // --stats given
  passage::v1::StatsRequest stats_request;  // --stats D,... and --k
  bool digest = false;                      // --digest
  std::string registry;  // --registry: an AgencyRegistry text file (agency types)
  // admin
  std::string dir;     // checkpoint DIR, backup --to DIR, restore --from DIR
  std::string target;  // restore --to LOG
};

struct ImportSettings {
  std::string file;
  uint64_t limit = 0;  // 0 = every record
  uint64_t skip = 0;   // records to leave out first (to continue an interrupted import)
  std::vector<passage::v1::ConsentScope> consents;
};

struct Invocation {
  Action action = Action::kHelp;
  std::string command;      // "status", "referral", "consent withdraw", ...; "" = the tool itself
  std::string help;         // kHelp: the text to print
  std::string endpoint;     // the node's control endpoint (empty for kHelp and kKeygen)
  bool needs_node = false;  // set by commands that need a node only in some uses (audit)
  bool json = false;
  // --format csv: `json` is asked of the node and its list printed as CSV (services/ctl/
  // csv_output.h); for `report` the node's own CSV (CrimeReportRequest.csv) is printed as it is.
  bool csv = false;
  int timeout_ms = kDefaultTimeoutMs;
  passage::v1::ControlRequest request;  // with request.json == json
  std::string file;  // intake/publish --file, login/staff --password-file, suspect
                     // --identity-file; "-" = standard input
  ImportSettings import;                // kImportCtdc
  std::string key_prefix;               // kKeygen
  bool overwrite = false;               // kKeygen --force
  AuditSettings audit;                  // kAudit, kReplay, kAdmin
  OpsSettings ops;                      // kKeysShow, kConfigCheck, kBrokerAdmin
  passage::v1::BrokerAdminRequest broker_admin;  // kBrokerAdmin
};

using core::UtcOffsetFn;

// The machine's local time zone ($TZ, else /etc/localtime), as localtime_r sees it.
int64_t LocalUtcOffsetSeconds(int64_t utc_ms);

// Parses the arguments after argv[0]. `env_node` is $PASSAGE_NODE ("" when unset); `local` is the
// time zone a time without an offset is read in. Errors are InvalidArgument with the offending
// option or argument as field (e.g. "--reason", "REFERRAL_ID"): exit code kExitUsage.
Result<Invocation> ParseArgs(const std::vector<std::string>& args, std::string_view env_node,
                             const UtcOffsetFn& local = LocalUtcOffsetSeconds);

// The help of the tool ("") or of a command ("referral", "consent", ...); empty for unknown names.
std::string HelpText(std::string_view command);

// A time as people write it -> Unix milliseconds (a fraction of a second truncated to ms):
//   2026-11-28T23:59:00Z, 2026-11-28T23:59:00+05:00   RFC 3339, in UTC or at that offset
//   2026-11-28T23:59, 2026-11-28 23:59:30             a date and time in the `local` time zone
//   2026-11-28                                        a date in `local`: its first millisecond,
//                                                     or its last when `end_of_day`
// Errors: InvalidArgument naming `field` and showing the forms.
Result<int64_t> ParseTime(std::string_view text, std::string_view field, const UtcOffsetFn& local,
                          bool end_of_day);

// Fills the defaults passagectl adds to an intake: person_role from the crime type when unset
// (smuggling only -> SMUGGLED_MIGRANT, otherwise PRESUMED_VICTIM).
void ApplyIntakeDefaults(passage::v1::IntakeRequest* intake);

}  // namespace passage::ctl
