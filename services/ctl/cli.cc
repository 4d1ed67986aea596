#include "services/ctl/cli.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "core/case_reference.h"
#include "core/case_work.h"
#include "core/civil_days.h"
#include "core/codes.h"
#include "core/ctdc/ctdc_import.h"
#include "core/ids.h"
#include "core/roles.h"
#include "core/statistics.h"
#include "core/validate.h"
#include "services/ctl/control_client.h"
#include "services/ctl/names.h"

namespace passage::ctl {
namespace {

namespace v1 = passage::v1;

// ---------------------------------------------------------------------------------------------
// Help texts

constexpr std::string_view kToolHelp =
    R"(usage: passagectl [--node DIR|ENDPOINT] [--json|--format F] [--timeout MS] COMMAND [ARGS]

Talks to an agency node (passage-identification, passage-protection, passage-prosecution) over its
local control socket: intake, inbox, referral moves, journeys, statistics, CTDC import, keys.

global options (before or after the command):
  --node DIR|ENDPOINT  the node's data directory (its socket is DIR/control.sock) or a ZeroMQ
                       endpoint (ipc://..., tcp://...); default: $PASSAGE_NODE
  --json               print the node's JSON answer instead of text (for scripts)
  --format text|json|csv
                       text (default), json (= --json), or csv: a list the command answers with
                       (inbox, cases, staff list, apikey list, note list, plan due, stats,
                       report, audit access, find) as CSV for a spreadsheet, one row per entry
  --timeout MS         how long to wait for the node, in milliseconds (default 15000)
  -h, --help           this help; `passagectl COMMAND --help` explains a command

commands:
  status               the node: agency, broker connection, outbox, known cases
  intake               record a presumed victim (JSON file or interactive questions)
  inbox                referrals addressed to this agency, and plan items and follow-ups due
  referral             move a referral: receive, accept, reject, start, hold, resume, complete,
                       fail, cancel, request-cancel
  find                 a case by its reference, or a person by name and date of birth
  journey              the journey of one case, step by step
  personal             open a case's sealed personal data (the read is logged)
  cases                the cases this agency knows, with filters
  stats                disaggregated statistics with small-cell suppression
  report               the state's reports: glotip, smuggling, sdg16, quality
  consent withdraw     record that the victim withdrew a consent
  service              record a service delivered under a referral
  correct              correct a field of the profile, a consent or a referral, with a reason
  plan                 plan services under an accepted referral; mark them done or not done
  followup             schedule a follow-up under an accepted referral; mark it done
  refer                send a referral (onward, or back to protection for a witness)
  proceeding           record a criminal-proceeding milestone
  return               record a return to the country of origin
  close                close a case
  offence              record an offence (FIR) on a case (law enforcement, prosecution)
  offence-status       move an offence record: investigation, charge sheet, court, closed
  suspect              record a suspect of an offence (identity from a file, sealed)
  accused              record an accused's step: arrest, charge, verdict, sentence, appeal
  smuggling            record a smuggled migrant's route, interception and fee
  publish              publish any event given as JSON
  import-ctdc          import a CTDC CSV file, one intake per record
  export-ctdc          the cases this node knows as k-anonymised CTDC CSV (recorded)
  fhir                 a referral as an HL7 FHIR R4 ServiceRequest + Task Bundle: export, import
  keygen               make an agency's transport (CURVE) and sealing key pairs
  keys show            the public halves of key files, as the registry and auditors need them
  config check         check configuration files as the broker and nodes would read them
  audit                verify a log, prove an entry, check a saved tree head, list who read a
                       case, export tree heads (on a log directory with --log, or via the node)
  replay               rebuild cases, journeys and statistics as of a past seq or time (--log)
  admin                checkpoint, back up and restore a log directory, with verification
  apikey               API keys of the agency's own systems: create, list, revoke
  help [COMMAND]       this help, or a command's

exit codes:
  0  ok
  1  refused: the state machine, a missing consent, authorisation or your roles forbade it
  2  usage error or invalid input (bad options or values, unreadable or invalid files)
  7  not signed in: no session, or it expired or was ended (passagectl login)
  3  not found: unknown case or referral
  4  unavailable: the node did not answer in time, or it could not reach the broker
  5  internal error
  6  verification failed: a log, tree head, proof or backup does not check (audit, replay, admin)
On failure passagectl prints one line on stderr: "passagectl: FIELD: REASON" (FIELD names the
option, argument or input field at fault and is left out when there is none).

examples:
  export PASSAGE_NODE=/var/lib/passage/fia-ahtc
  passagectl status
  passagectl inbox --json
  passagectl --node /var/lib/passage/ngo-shelter referral accept 0190a3c4-...
)";

constexpr std::string_view kGlobalFooter = R"(
global options: --node DIR|ENDPOINT, --json, --format text|json|csv, --timeout MS (see
passagectl --help).
exit codes: 0 ok, 1 refused, 2 usage or invalid input, 3 not found, 4 unavailable, 5 internal,
6 verification failed, 7 not signed in.
)";

struct CommandSpec {
  std::string_view name;
  std::vector<std::pair<std::string_view, bool>> flags;  // name, takes a value
  bool needs_node;
  std::string_view help;
};

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec> kCommands = {
      {"status", {}, true, R"(usage: passagectl status

Shows the node: its agency and stage, whether it is connected to the broker, how many events wait
in its outbox, how many cases it knows and the size of the log at the last signed tree head.

examples:
  passagectl status
  passagectl --json status | jq .outbox
)"},
      {"login", {{"--password-file", true}}, true, R"(usage: passagectl login [LOGIN] [--password-file F]

Signs you in to the node as a member of its staff. Asks for the password on the terminal (not
echoed), or reads its first line from F ("-" = standard input). The session is kept in
~/.passage/sessions/ (mode 0600), one per node, and sent with every later command; it ends after
the node's idle and absolute limits (default 30 min idle, 12 h in all), at logout, or when an admin
disables the account. After 5 failed sign-ins in a row the account is locked for a while
(docs/security.md). Every command but login, keygen, audit/replay on a log copy and admin needs a
session; the events it makes carry your pseudonymous staff id and the role your account holds.

examples:
  passagectl --node /var/lib/passage/fia-ahtc login ayesha.k
  passagectl login ayesha.k --password-file - < secret.txt
)"},
      {"passwd", {{"--password-file", true}}, true, R"(usage: passagectl passwd [--password-file F]

Changes your own password on the node. Asks for the current one and the new one twice on the
terminal (not echoed), or reads the current from the first line of F and the new from the second
("-" = standard input). At least 10 characters. Your other sessions end; this one goes on. An
account whose password a node admin set (staff add, reset-password) must do this before anything
else.
)"},
      {"logout", {}, true, R"(usage: passagectl logout

Ends your session on the node and deletes the session file.
)"},
      {"whoami", {}, true, R"(usage: passagectl whoami

Shows who is signed in to the node: name, login, pseudonymous staff id, roles, and when the
session ends if unused.
)"},
      {"staff",
       {{"--name", true}, {"--roles", true}, {"--password-file", true}, {"--limit", true}},
       true,
       R"(usage: passagectl staff add LOGIN --roles ROLE,... [--name "DISPLAY NAME"] [--password-file F]
       passagectl staff list
       passagectl staff roles LOGIN --roles ROLE,...
       passagectl staff disable|enable LOGIN
       passagectl staff reset-password LOGIN [--password-file F]
       passagectl staff log [--limit N]

Manages the node's staff accounts (node admin only). Accounts, names and passwords stay on this
node; events carry only each account's pseudonymous staff id. Without --password-file a password
is generated and printed once. `disable` and `reset-password` end the account's sessions; `enable`
also lifts a lockout. `log` prints the node's security log: sign-ins, refusals, account changes.

roles: case-worker, supervisor, data-officer, coordinator, auditor, node-admin (docs/roles.md)

examples:
  passagectl staff add ayesha.k --name "Ayesha K." --roles case-worker,supervisor
  passagectl staff disable intern-99
  passagectl staff log --limit 20
)"},
      {"apikey",
       {{"--roles", true}, {"--rate", true}},
       true,
       R"(usage: passagectl apikey create NAME --roles ROLE,... [--rate N]
       passagectl apikey list
       passagectl apikey revoke KEY_ID

Manages the API keys of the agency's own systems (node admin only; docs/api/README.md). One key
per external system: it acts on the HTTP API (/api/v1/ on the node's web listener) as a
pseudonymous actor, its key id ("k-" + 12 hex), holding the roles given here; the node checks
its requests exactly as a signed-in person's. `create` prints the key once: only its hash is
kept. `--rate` is the number of requests a minute the key may make (1 to 6000; default 120).
`revoke` refuses the key from then on. Every change is in the node's security log.

roles: case-worker, supervisor, data-officer, coordinator, auditor (not node-admin)

examples:
  passagectl apikey create oscar-sync --roles case-worker --rate 60
  passagectl apikey list
  passagectl apikey revoke k-3f2a9c0d41be
)"},
      {"intake",
       {{"--file", true}},
       true,
       R"(usage: passagectl intake [--file F.json]

Records a presumed victim at an identification node: CaseOpened, IdentificationRecorded and one
ConsentGiven per consent. Personal data is sealed on the node before anything leaves it. Prints
the new case id.

With --file, F.json is a passage.v1.IntakeRequest in protobuf JSON ("-" reads standard input).
Without --file and on a terminal, passagectl asks for each value: crime type, sex, age or age
band, citizenship, where the person was identified, forms of exploitation, channel, consents and
optional names; invalid answers are asked again with the reason. person_role defaults to
PERSON_ROLE_SMUGGLED_MIGRANT for smuggling only (CRIME_TYPE_SOM), otherwise
PERSON_ROLE_PRESUMED_VICTIM.

options:
  --file F     read the IntakeRequest from F (JSON); "-" = standard input

example file:
  {"crime_type": "CRIME_TYPE_TIP",
   "profile": {"sex": "SEX_FEMALE", "age_years": 16, "citizenship": ["PK"],
               "country_of_identification": "PK", "province_of_identification": "PK-SD",
               "exploitation_forms": ["EXPLOITATION_FORM_FORCED_LABOUR"],
               "identification_channel": "IDENTIFICATION_CHANNEL_POLICE_OPERATION"},
   "consents": [{"scope": "CONSENT_SCOPE_SHARE_WITH_AGENCIES",
                 "given_by": "CONSENT_GIVER_GUARDIAN"}],
   "personal": {"given_name": "..."}}

examples:
  passagectl intake
  passagectl intake --file victim.json
  CASE=$(passagectl --json intake --file victim.json | jq -r .case_id)
)"},
      {"inbox", {{"--all", false}}, true, R"(usage: passagectl inbox [--all]

Lists the referrals addressed to this agency, most urgent first: priority, then respond-by time.
Overdue referrals (still SENT or RECEIVED after their respond-by time) are marked. Then the plan
items and follow-ups of this agency due within 7 days or overdue (passagectl plan due --within N
for another horizon); in --json each referral carries its "plan" and "follow_ups".

options:
  --all        also list referrals in a terminal state (rejected, completed, failed, cancelled,
               expired)

examples:
  passagectl inbox
  passagectl --json inbox --all | jq '.[] | select(.status == "REFERRAL_STATUS_ON_HOLD")'
)"},
      {"referral",
       {{"--reason", true},
        {"--note", true},
        {"--outcome", true}},
       true,
       R"(usage: passagectl referral ACTION REFERRAL_ID [--reason R] [--note N] [--outcome O]

Moves a referral. The broker checks the state machine (docs/architecture.md), who may make the move and the
victim's consent; a refused move exits 1 with the rule that was broken.

actions:
  receive          -> RECEIVED     (recipient; nodes confirm receipt themselves)
  accept           -> ACCEPTED     (recipient)
  reject           -> REJECTED     (recipient; --reason required)
  start            -> IN_PROGRESS  (recipient, once accepted)
  hold             -> ON_HOLD      (recipient, from RECEIVED or ACCEPTED)
  resume           -> the state the referral was put on hold from (RECEIVED or ACCEPTED),
                      read from its history in this agency's inbox
  complete         -> COMPLETED    (recipient; --outcome required)
  fail             -> FAILED       (recipient; --outcome required)
  cancel           -> CANCELLED    (sender; or the recipient confirming a cancel request)
  request-cancel   -> CANCEL_REQUESTED (sender, once the recipient has it)

options:
  --reason R   reject only: capacity_full|out_of_scope|ineligible|no_consent|duplicate|
               victim_declined|unreachable|other
  --note N     free note about the move (no personal data)
  --outcome O  complete and fail only: what came of it, e.g. "shelter provided for 30 days"

The move is recorded as made by the signed-in person (passagectl login), in a role the account
holds (docs/roles.md).

examples:
  passagectl referral accept 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b
  passagectl referral reject 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b --reason capacity_full
  passagectl referral complete 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b --outcome "returned home"
)"},
      {"find",
       {{"--person", false}, {"--sex", true}},
       true,
       R"(usage: passagectl find REFERENCE
       passagectl find --person [--sex S]

Finds a case this agency knows by its reference (as read out on the phone: FIAKHI-26-00123-7, in
any letter case, with dashes or spaces), or finds a person by name and date of birth among the
cases whose personal data this agency may open. With --person the name and the date of birth are
asked on the terminal (or read as two lines from standard input), never given as arguments, so
they stay out of the shell history and the process list. The node compares keyed hashes, never
names; the search is noted in the node's security log without the name.

options:
  --person  search by name and date of birth (YYYY-MM-DD; an empty line when unknown)
  --sex S   female|male|other: narrows a --person search (default: any)

examples:
  passagectl find fiakhi-26-00123-7
  passagectl find --person --sex female
)"},
      {"journey", {}, true, R"(usage: passagectl journey CASE

Shows one case's journey: every step from identification through referrals, services,
proceedings and return to closure, with who did what and when. CASE is the case's reference
(FIAKHI-26-00123-7) or its id. A case this node has not seen yet is read from the broker by id
(the broker records that access).

examples:
  passagectl journey FIAKHI-26-00123-7
  passagectl journey 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b
  passagectl --json journey 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b
)"},
      {"note",
       {{"--file", true}, {"--referral", true}, {"--note", true}, {"--purpose", true}},
       true,
       R"(usage: passagectl note add CASE --file FILE [--referral REFERRAL_ID]
       passagectl note list CASE
       passagectl note open CASE [--note NOTE_ID] [--purpose P]

Case notes (docs/notes-and-documents.md). A note is sealed on this node for this agency and the
agencies that hold the case's notes (the owner, and agencies whose accepted referral shares
NOTES); neither the broker nor the log ever hold its text in clear. The text is read from a file
("-" for standard input), never from an argument, because it is personal data.

  add    seal and record a note (UTF-8, at most 20,000 bytes)
  list   who wrote which note or attached which document, and when (no text)
  open   show the notes' texts and the documents' titles; the read is recorded first in the
         NRM's access log (section NOTES)

options:
  --file FILE         add: the note's text ("-" = standard input)
  --referral ID       add: the referral the note is about
  --note NOTE_ID      open: only this note
  --purpose P         open: why it is read, recorded with the access

examples:
  passagectl note add FIAKHI-26-00123-7 --file visit.txt
  echo "Called the family; safe." | passagectl note add FIAKHI-26-00123-7 --file -
  passagectl note open FIAKHI-26-00123-7 --purpose "case conference"
)"},
      {"document",
       {{"--kind", true}, {"--title", true}, {"--referral", true}, {"--out", true},
        {"--purpose", true}},
       true,
       R"(usage: passagectl document attach CASE FILE --kind KIND [--title T] [--referral ID]
       passagectl document open CASE DOCUMENT_ID --out FILE [--purpose P]

Documents of a case (docs/notes-and-documents.md): PDF, JPEG or PNG files up to 10 MiB, the type
read from the file's first bytes, not its name. The file is encrypted on this node; the broker
keeps the encrypted bytes outside the event log and the log keeps their SHA-256, so an altered
copy is detected when opened. Title and file name are sealed like a note.

  attach   encrypt, store and record a document
  open     fetch and decrypt a document into FILE (created with mode 0600; an existing file is
           not overwritten); the read is recorded first in the NRM's access log

kinds: medical_certificate, court_summons, court_order, identity_document, police_report,
       assessment, consent_form, other

options:
  --kind KIND       attach: what the document is
  --title T         attach: a short title (sealed; at most 200 characters)
  --referral ID     attach: the referral the document belongs to
  --out FILE        open: where to write the document
  --purpose P       open: why it is read, recorded with the access

examples:
  passagectl document attach FIAKHI-26-00123-7 certificate.pdf --kind medical_certificate
  passagectl document open FIAKHI-26-00123-7 0190a3c4-... --out /tmp/certificate.pdf
)"},
      {"personal",
       {{"--purpose", true}, {"--suspect", true}},
       true,
       R"(usage: passagectl personal CASE [--purpose P] [--suspect SUSPECT_ID]

Shows the personal data of a case (names, date of birth, CNIC, ...) opened with this agency's
sealing key. The read is first recorded in the NRM's access log (RecordAccessed, section
PERSONAL); if it cannot be recorded nothing is shown. Only agencies the data was sealed for can
read it. CASE is the case's reference or its id.

options:
  --purpose P     why it is read, recorded with the access (default "view personal data")
  --suspect ID    open that suspect's sealed identity instead (section SUSPECT: law
                  enforcement, prosecution and courts that hold the case's suspect records)

examples:
  passagectl personal 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b --purpose "shelter admission"
  passagectl personal FIAKHI-26-00123-7 --suspect 0190a3c4-... --purpose "summons"
)"},
      {"cases",
       {{"--stage", true}, {"--crime", true}, {"--minors", false}, {"--limit", true}},
       true,
       R"(usage: passagectl cases [--stage S] [--crime C] [--minors] [--limit N]

Lists the cases this agency knows.

options:
  --stage S    identification|referral|protection|criminal_justice|return|closed
  --crime C    tip|som|both|undetermined
  --minors     only cases of persons who were minors when identified
  --limit N    at most N cases

examples:
  passagectl cases --stage protection --minors
  passagectl --json cases --crime tip --limit 20
)"},
      {"stats",
       {{"--by", true}, {"--k", true}, {"--quality", false}},
       true,
       R"(usage: passagectl stats [--by D1,D2,...] [--k N] | --quality

Counts the cases this agency knows by the given dimensions, suppressing small cells (fewer than
k cases, shown "<k"; and the cells that would reveal them, shown "x"), followed by referral
indicators. No suppressed number can be worked out from the rest of its table.

options:
  --by D,...   sex, age_band, majority, citizenship, country, form, crime_type, channel,
               agency_type, stage, outcome, year (default: the total only)
               outcome: the referral's final outcome (COMPLETED, REJECTED, FAILED, CANCELLED,
               EXPIRED) or OPEN; it counts referrals instead of cases. agency_type: of the agency
               owning the case, or with outcome, of the agency the referral was sent to.
  --k N        suppression threshold (default: the node's)
  --quality    instead: per agency and month, the share of records missing sex, age,
               citizenship or form (as passagectl report quality)

examples:
  passagectl stats --by sex,age_band
  passagectl --json stats --by form --k 10
)"},
      {"report",
       {{"--year", true}, {"--k", true}, {"--population", true}, {"--csv", false}},
       true,
       R"(usage: passagectl report glotip|smuggling|sdg16|quality [--year Y] [--k N] [--csv]
                         [--population FILE]

The reports the state owes, over the cases this agency knows (docs/law-enforcement.md). Small
cells are suppressed as in passagectl stats; no personal data.

  glotip     UNODC GLOTIP questionnaire tables for year Y: offences recorded by law section and
             province; persons in formal contact, prosecuted and convicted by sex, adult/child,
             national/foreign and country; victims detected by form, sex, age and citizenship
  smuggling  smuggled migrants by sex and age band, citizenship, route, interception and
             aggravating circumstances; smugglers in formal contact, prosecuted, convicted
  sdg16      SDG 16.2.2: victims detected per 100,000 population by sex and age group and by
             form (needs --population)
  quality    per agency and month, the share of records missing sex, age, citizenship or form

options:
  --year Y           the reference year (required but for quality)
  --k N              suppression threshold (default: the node's)
  --population FILE  CSV lines sex,age_group,population (FEMALE/MALE, CHILD/ADULT)
  --csv              every sheet as one CSV: sheet,row,column,count,flag

examples:
  passagectl report glotip --year 2026
  passagectl report glotip --year 2026 --csv > glotip-2026.csv
  passagectl report sdg16 --year 2026 --population population-2026.csv
)"},
      {"consent",
       {{"--scope", true}},
       true,
       R"(usage: passagectl consent withdraw CASE_ID CONSENT_ID [--scope S]

Records that the victim (or their guardian) withdrew a consent (a ConsentWithdrawn event). The
referrals that relied on it are cancelled by the referral engine.

options:
  --scope S    the consent's scope, as a check: interview|services|share_with_agencies|
               law_enforcement|statistics|cross_border

examples:
  passagectl consent withdraw 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b 0190a3c4-6e7f-7000-8b1c-2d3e4f5a6b7c
)"},
      {"export-ctdc",
       {{"--k", true}},
       true,
       R"(usage: passagectl export-ctdc [--k N] > cases.csv

Writes the cases this node knows as CTDC-compatible CSV (the 63 CTDC column names, ';'
separated), k-anonymised: quasi-identifier combinations (gender, age band, citizenship, country of
exploitation, year) rarer than k are generalised or suppressed (core/ctdc/ctdc_export.h). Names and
every sealed field are never exported. Each exported case is recorded in the log as read for
"export" before the file is written.

  --k N   minimum class size (default 11, CTDC's own)

examples:
  passagectl --node /var/lib/passage/router export-ctdc --k 11 > nrm-2026.csv
)"},
      {"fhir",
       {{"--out", true}, {"--case", true}},
       true,
       R"(usage: passagectl fhir export CASE REFERRAL_ID [--out FILE]
       passagectl fhir import FILE [--case CASE]

export writes one referral of CASE (a case id or reference) as an HL7 FHIR R4 Bundle (type
collection) holding a ServiceRequest and a Task, in JSON, to FILE or standard output: ids, codes
and times only, the case as an identifier, never a name or a note (docs/fhir.md has the mapping).

import reads such a Bundle (FILE, "-" = standard input) from a system that speaks FHIR and sends
its ServiceRequest as a new referral from this agency, for the case its subject names or for
--case CASE. It is checked like any referral; a mistake is named by its FHIR element, e.g.
"ServiceRequest.performer[0]: is required".

examples:
  passagectl fhir export FIAKHI-26-00123-7 0190a3c5-... --out referral.json
  passagectl fhir import referral.json --case FIAKHI-26-00124-5
)"},
      {"refer",
       {{"--to", true}, {"--service", true}, {"--priority", true}, {"--within-hours", true},
        {"--consent", true}, {"--parent", true}, {"--kind", true}, {"--reason", true},
        {"--scope", true},
        {"--override-reason", true}},
       true,
       R"(usage: passagectl refer CASE_ID --to AGENCY --service SERVICE [--consent CONSENT_ID]
                      [--priority routine|urgent|emergency] [--within-hours H] [--parent REFERRAL_ID]
                      [--kind referral|transfer] [--reason TEXT] [--scope SECTION,...]
                      [--override-reason TEXT]

Sends a referral from this agency (an onward referral, or a prosecutor's referral back to
protection for victim-witness support). The broker checks that this agency may share the case and
that a consent in force covers the recipient, or that --override-reason is given: an override needs
a signed-in supervisor (docs/roles.md). Shares the profile, personal data, consents and referrals.

  --within-hours H   respond-by time from now (default 72)
  --parent ID        the referral this one follows (onward referral or re-referral)
  --scope LIST       sections shared: profile,personal,consents,referrals,services,proceedings,
                     offence,suspect (default profile,personal,consents,referrals; only sections
                     you may read; offence and suspect only to law enforcement, prosecution and
                     courts, whatever the consent or override)

examples:
  passagectl refer 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b --to dastak-shelter --service psychosocial \
      --consent 0190a3c4-6e7f-7000-8b1c-2d3e4f5a6b7c --priority urgent --reason witness-support
)"},
      {"service",
       {},
       true,
       R"(usage: passagectl service CASE_ID REFERRAL_ID SERVICE

Records a service delivered to the victim under a referral (a ServiceDelivered event).

SERVICE: shelter|medical|psychosocial|legal_aid|child_protection|return_reintegration|
         prosecution|investigation|interpretation|livelihood|other

examples:
  passagectl service 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b 0190a3c5-0000-7000-8000-000000000001 medical
)"},
      {"correct",
       {{"--reason", true}, {"--old-value-sha256", true}},
       true,
       R"(usage: passagectl correct CASE PATH NEW_VALUE --reason TEXT [--old-value-sha256 HEX]

Corrects one field of the case profile, a consent or a referral detail (a FieldCorrected event).
The original stays in the log; the journey shows "Correction: ... changed from X to Y - reason",
and statistics count the corrected value. The node hashes the value it holds now (or give
--old-value-sha256): if the case changed since, the broker refuses the correction (exit 1) and you
read the case again. Sealed personal data is not corrected here (docs/case-work.md).

PATH:
  profile.FIELD                      any profile field: sex, age_years, citizenship,
                                     country_of_exploitation, exploitation_forms, ...
  consents[CONSENT_ID].FIELD         scope, agency_ids, agency_types   (the case owner)
  referrals[REFERRAL_ID].FIELD       service, priority, respond_by_ms, reason  (the sender)
NEW_VALUE: a plain value (male; PK,AF for a list; 25; none for an unset optional; YYYY-MM-DD for
  respond_by_ms, the end of that day UTC) or its canonical encoding ("SEX_MALE", ["PK","AF"]).
  Quote paths with [ ] in the shell.

options:
  --reason TEXT            required: why (at most 500 bytes; no personal data)
  --old-value-sha256 HEX   the SHA-256 of the value you saw (docs/case-work.md, "Canonical
                           encoding"), for a correction decided elsewhere

examples:
  passagectl correct FIAKHI-26-00123-7 profile.sex male --reason "sex recorded wrongly at intake"
  passagectl correct 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b 'referrals[0190a3c5-0000-7000-8000-000000000001].priority' \
      urgent --reason "victim's health worsened"
)"},
      {"plan",
       {{"--service", true}, {"--due", true}, {"--note", true}, {"--reason", true},
        {"--within", true}},
       true,
       R"(usage: passagectl plan add CASE REFERRAL_ID --service S --due YYYY-MM-DD [--note N]
       passagectl plan done CASE ITEM_ID
       passagectl plan not-done CASE ITEM_ID --reason TEXT
       passagectl plan due [--within DAYS]

The service plan of a referral this agency received and accepted (docs/case-work.md). `add` plans
a service with a due date (a ServicePlanned event) and prints the new item's id; `done` and
`not-done` mark an item once (not-done needs a reason); `due` lists this agency's open plan items
and follow-ups due within DAYS (default 7) or overdue (passagectl inbox lists a week's).

options:
  --service S   shelter|medical|psychosocial|legal_aid|child_protection|return_reintegration|
                prosecution|investigation|interpretation|livelihood|other
  --due DATE    YYYY-MM-DD
  --note N      a short code or note, at most 140 bytes: never a name, a number or an address
  --reason R    not-done: why
  --within N    due: days ahead, 1 to 366

examples:
  passagectl plan add FIAKHI-26-00123-7 0190a3c5-0000-7000-8000-000000000001 --service medical \
      --due 2026-12-20 --note MED-CHECK
  passagectl plan not-done FIAKHI-26-00123-7 0190a3c6-0000-7000-8000-000000000002 \
      --reason "victim moved to another province"
)"},
      {"followup",
       {{"--due", true}, {"--purpose", true}},
       true,
       R"(usage: passagectl followup add CASE REFERRAL_ID --due YYYY-MM-DD --purpose TEXT
       passagectl followup done CASE FOLLOW_UP_ID

A follow-up reminder under a referral this agency received and accepted (FollowUpScheduled,
FollowUpDone; docs/case-work.md). It shows in passagectl inbox from a week before it is due
until it is marked done.

options:
  --due DATE       YYYY-MM-DD
  --purpose TEXT   what to follow up, at most 140 bytes: never a name, a number or an address

examples:
  passagectl followup add FIAKHI-26-00123-7 0190a3c5-0000-7000-8000-000000000001 --due 2026-12-24 \
      --purpose "check-in call after discharge"
)"},
      {"proceeding",
       {{"--reference", true}},
       true,
       R"(usage: passagectl proceeding CASE_ID MILESTONE [--reference REF]

Records a criminal-proceeding milestone (a CriminalProceedingUpdated event), dated now.

MILESTONE: fir_registered|investigation_opened|charge_filed|trial_started|verdict_conviction|
           verdict_acquittal|compensation_ordered|dismissed

options:
  --reference REF   FIR or court reference number (never personal data)

examples:
  passagectl proceeding 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b fir_registered --reference FIR-112/2024
)"},
      {"return",
       {{"--referral", true}},
       true,
       R"(usage: passagectl return CASE_ID COUNTRY [--referral REFERRAL_ID]

Records that the person returned to COUNTRY (ISO 3166-1 alpha-2 or alpha-3, e.g. PK or PAK) (a
ReturnRecorded event).

options:
  --referral ID   the return and reintegration referral it completes

examples:
  passagectl return 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b BD
)"},
      {"close",
       {{"--reason", true}},
       true,
       R"(usage: passagectl close CASE_ID [--reason R]

Closes a case (a CaseClosed event). A closed case accepts only referral moves, consent withdrawals
and access records.

options:
  --reason R   why, in a few words (no personal data)

examples:
  passagectl close 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b --reason "reintegrated"
)"},
      {"offence",
       {{"--fir", true}, {"--station", true}, {"--province", true}, {"--district", true},
        {"--registered", true}, {"--sections", true}, {"--crime", true},
        {"--investigating-agency", true}, {"--witness-referral", true}, {"--offence-id", true}},
       true,
       R"(usage: passagectl offence CASE --fir N --station S --province PK-XX [--district D]
                          --registered YYYY-MM-DD --sections CODE,... --crime tip|som|both
                          [--investigating-agency ID] [--witness-referral REFERRAL_ID]
                          [--offence-id ID]

Records an offence (FIR or complaint) on the victim's case (an OffenceRegistered event) with a new
offence id, and prints it. An FIR with several victims is recorded on each victim's case with
the same --offence-id (the id the first recording printed); the reports count it once (and count
one FIR of one station once whatever its ids). Only law-enforcement and prosecution agencies (the registry's
section_access for OFFENCE) may; the offence starts REGISTERED. CASE is the case's reference or
its id.

options:
  --fir N                      the FIR or complaint number, e.g. 112/2026
  --station S                  the police station or FIA circle, e.g. "FIA AHTC Karachi"
  --province PK-XX             where it was registered (ISO 3166-2), e.g. PK-SD
  --district D                 e.g. "Karachi South"
  --registered YYYY-MM-DD      the date of the FIR (not in the future)
  --sections CODE,...          law sections from the NRM's list (the registry's law_sections),
                               e.g. PTPA-2018-3,PPC-370
  --crime C                    tip|som|both
  --investigating-agency ID    the agency investigating (default: this agency)
  --witness-referral ID        the victim's protection referral while a witness

examples:
  passagectl offence FIAKHI-26-00123-7 --fir 112/2026 --station "FIA AHTC Karachi" \
      --province PK-SD --registered 2026-11-20 --sections PTPA-2018-3,PPC-370 --crime tip
  OFFENCE=$(passagectl --json offence ... | jq -r .offence_id)
)"},
      {"offence-status",
       {{"--closure", true}, {"--witness-referral", true}},
       true,
       R"(usage: passagectl offence-status CASE OFFENCE_ID STATUS [--closure REASON]
                                 [--witness-referral REFERRAL_ID]

Moves an offence record (an OffenceStatusChanged event): REGISTERED -> under_investigation ->
charge_sheet_submitted (challan) -> sent_to_court; closed (with --closure) from any of those; a
closed offence may be reopened (under_investigation). The broker refuses other moves.

STATUS: under_investigation|charge_sheet_submitted|sent_to_court|closed

options:
  --closure REASON        closed only: decided_by_court|untraced|insufficient_evidence|
                          false_complaint|compromise|transferred|other
  --witness-referral ID   link the victim-witness's protection referral

examples:
  passagectl offence-status FIAKHI-26-00123-7 0190a3c4-... under_investigation
  passagectl offence-status FIAKHI-26-00123-7 0190a3c4-... closed --closure untraced
)"},
      {"suspect",
       {{"--sex", true}, {"--role", true}, {"--age-band", true}, {"--majority", true},
        {"--citizenship", true}, {"--organised-group", true}, {"--identity-file", true},
        {"--suspect-id", true}},
       true,
       R"(usage: passagectl suspect CASE OFFENCE_ID --sex S --role ROLE,... [--age-band B]
                          [--majority minor|adult] [--citizenship CC,...]
                          [--organised-group yes|no|unknown] [--identity-file FILE]
                          [--suspect-id ID]

Records a suspect of an offence of the case (a SuspectRecorded event) with a new suspect id, and
prints it. The same person accused in several victims' cases is recorded on each with the same
--suspect-id; the reports count the person once, with every step recorded on any of the cases. The suspect's identity (names, CNIC, passport, ...) is never given as an argument (it
would show in the process list and the shell history): it is read from FILE, a
passage.v1.PersonalData in protobuf text format ("-" = standard input), and sealed on the node for
the law-enforcement and prosecution agencies of the registry only, never a shelter or an NGO.

options:
  --sex S                 female|male|other|unknown
  --role ROLE,...         recruiter|transporter|harbourer|exploiter|smuggler|document_forger|
                          financier|other
  --age-band B            0-8|9-17|18-20|21-23|24-26|27-29|30-38|39-47|48+
  --majority M            minor|adult (at the time of the offence)
  --citizenship CC,...    ISO 3166-1 codes, e.g. PK,AF
  --organised-group G     yes|no|unknown: part of an organised criminal group
  --identity-file FILE    the identity, e.g.
                            given_name: "Imran"
                            family_name: "Khan"
                            cnic: "42101-1234567-1"

examples:
  passagectl suspect FIAKHI-26-00123-7 0190a3c4-... --sex male --role recruiter,transporter \
      --age-band 30-38 --citizenship PK --identity-file suspect.txtpb
)"},
      {"accused",
       {{"--on", true}, {"--sections", true}, {"--months", true}, {"--fine", true},
        {"--currency", true}, {"--appeal-outcome", true}},
       true,
       R"(usage: passagectl accused CASE SUSPECT_ID STEP [--on YYYY-MM-DD] [--sections CODE,...]
                          [--months N] [--fine AMOUNT --currency CUR]
                          [--appeal-outcome upheld|overturned|sentence_changed]

Records a step of the criminal-justice process for a suspect (an AccusedUpdated event). The broker
checks it against where the accused stands: arrested or cautioned, then charged, then convicted
or acquitted; discharged before a verdict; an appeal after a verdict (docs/law-enforcement.md).

STEP: arrested|cautioned|bail_granted|charged|convicted|acquitted|discharged|appeal_filed|
      appeal_decided

options:
  --on YYYY-MM-DD      the date of the step (default: now)
  --sections CODE,...  charged only: the law sections charged
  --months N           convicted (or appeal_decided sentence_changed): imprisonment in months
  --fine AMOUNT        ... and/or a fine, in whole units of --currency (ISO 4217, e.g. PKR)
  --appeal-outcome O   appeal_decided only: upheld|overturned|sentence_changed

examples:
  passagectl accused FIAKHI-26-00123-7 0190a3c5-... arrested --on 2026-11-21
  passagectl accused FIAKHI-26-00123-7 0190a3c5-... charged --sections PTPA-2018-3
  passagectl accused FIAKHI-26-00123-7 0190a3c5-... convicted --months 84 --fine 500000 \
      --currency PKR
)"},
      {"smuggling",
       {{"--origin", true}, {"--destination", true}, {"--transit", true},
        {"--interception", true}, {"--interception-province", true}, {"--transport", true},
        {"--fee-band", true}, {"--currency", true}, {"--document-fraud", true},
        {"--aggravation", true}},
       true,
       R"(usage: passagectl smuggling CASE --origin CC --destination CC [--transit CC,...]
                            [--interception WHERE] [--interception-province PK-XX]
                            [--transport MODE] [--fee-band BAND] [--currency CUR]
                            [--document-fraud yes|no] [--aggravation A,...]

Records what is known of a smuggled migrant's movement (a SmugglingRecorded event; it names no
one). A later record replaces the earlier one; the log keeps both.

options:
  --origin CC                 the country the journey began in (ISO 3166-1, e.g. PK)
  --destination CC            the intended destination
  --transit CC,...            the countries in between, in order
  --interception WHERE        land_border|sea_border|air_border|inland
  --interception-province P   where intercepted (ISO 3166-2), e.g. PK-BA
  --transport MODE            land_vehicle|on_foot|boat|air|mixed|other
  --fee-band BAND             in US dollars' worth: none|under_1000|1000_to_4999|5000_to_9999|
                              10000_or_more|unknown
  --currency CUR              the currency the fee was paid in (ISO 4217), e.g. EUR
  --document-fraud yes|no     forged or fraudulently obtained documents were used
  --aggravation A,...         death|injury|inhuman_treatment|child_involved (PSMA 2018)

examples:
  passagectl smuggling FIAKHI-26-00123-7 --origin PK --transit IR,TR --destination GR \
      --interception land_border --interception-province PK-BA --transport mixed \
      --fee-band 5000_to_9999 --currency EUR --document-fraud yes
)"},
      {"publish", {{"--file", true}}, true, R"(usage: passagectl publish --file EVENT.json

Publishes any passage.v1.Event given in protobuf JSON ("-" reads standard input) as this agency.
event_id, actor_agency and occurred_at_ms are filled in by the node when empty.

examples:
  passagectl publish --file closed.json
  echo '{"case_id":"0190a3c4-...","case_closed":{"reason":"duplicate"}}' | passagectl publish --file -
)"},
      {"import-ctdc",
       {{"--limit", true}, {"--skip", true}, {"--consent", true}},
       true,
       R"(usage: passagectl import-ctdc FILE [--limit N] [--skip N] [--consent SCOPE,...]

Reads a CTDC CSV file (the k-anonymised global dataset or the synthetic dataset) and sends one
intake per record to the node, which must be an identification node. Shows a progress bar on a
terminal (otherwise a line every 10%), then a summary: cases imported, intakes refused (counted by
reason), CSV rows with errors. Exits non-zero only when nothing could be imported.

options:
  --limit N          import at most N records
  --skip N           leave out the first N records (to continue an interrupted import)
  --consent S,...    consents to record with each case (scopes: interview, services,
                     share_with_agencies, law_enforcement, statistics, cross_border), given by
                     the guardian for minors and by the person otherwise

If the broker stops answering, the import stops after the case whose events are queued in the
node's outbox and says how many records to --skip when continuing.

examples:
  passagectl import-ctdc CTDC_global_synthetic_data_v2024.csv --limit 500 --consent statistics
)"},
      {"audit",
       {{"--log", true},
        {"--against-sth", true},
        {"--public-key", true},
        {"--check-indexes", false},
        {"--seq", true},
        {"--size", true},
        {"--out", true},
        {"--envelope", true},
        {"--sth", true}},
       false,
       R"(usage: passagectl audit verify --log DIR [--against-sth FILE] [--public-key HEX]
                        [--check-indexes]
       passagectl audit proof --log DIR --seq N [--size N] [--out FILE] [--envelope FILE]
       passagectl audit consistency --sth FILE [--log DIR] [--public-key HEX]
       passagectl audit access CASE_ID --log DIR
       passagectl audit heads [--log DIR [--size N]] [--out FILE]

Checks the broker's event log for an oversight body (docs/audit.md). DIR is a broker's log
directory (DATA_DIR/log), a copy of it, a checkpoint or a backup; it is opened read-only and never
modified. Prefer a checkpoint (passagectl admin checkpoint) to the directory of a running broker.

subcommands:
  verify        recomputes every leaf hash, the previous-hash chain, the Merkle root at every
                signed tree head and every head's signature. Prints a summary and exits 0, or
                names the first bad sequence number and the kind of damage (modified, missing,
                reordered, truncated, bad_signature, fork, unreadable, bad_index) and exits 6.
  proof         an inclusion proof of entry N (JSON) against the signed tree head of size N
                (default: the latest), for passage-verify-proof
  consistency   proves that the log extends the signed tree head in FILE (one an agency kept):
                offline against DIR with --log, otherwise by asking the broker through the node
  access        who read the case and when: every RecordAccessed event (agency, sections,
                purpose, user) and every referral delivered to a recipient
  heads         writes a signed tree head as JSON: the node's latest (every head the broker sent
                it is kept), or with --log the log's latest (or the one of size --size)

options:
  --log DIR            the log directory to audit (read-only)
  --against-sth FILE   verify: also check that the log contains this signed tree head
  --sth FILE           consistency: the signed tree head to check (JSON from audit heads, or a
                       passage.v1.SignedTreeHead in protobuf JSON)
  --public-key HEX     the broker's tree-head key (64 hex digits) to trust; default: the key of
                       the head given, else the key recorded in the log (trust on first use)
  --check-indexes      verify: also check the dedup and case-index entries of every event
  --seq N              proof: the entry to prove (global sequence number)
  --size N             proof, heads: the tree size of a stored signed tree head
  --out FILE           write the proof or the head to FILE instead of standard output
  --envelope FILE      proof: also write the entry's stored bytes to FILE
                       (passage-verify-proof PROOF --leaf-file FILE)

examples:
  passagectl admin checkpoint /srv/audit/cp-2026-11-28 --log /var/lib/passage/broker/log
  passagectl audit verify --log /srv/audit/cp-2026-11-28 --against-sth fia-head.json
  passagectl audit proof --log /srv/audit/cp-2026-11-28 --seq 42 --out seq42.json
  passagectl --node /var/lib/passage/fia-ahtc audit heads --out fia-head.json
  passagectl --node /var/lib/passage/fia-ahtc audit consistency --sth fia-head-last-month.json
  passagectl audit access 0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b --log /srv/audit/cp-2026-11-28
)"},
      {"replay",
       {{"--log", true},
        {"--until", true},
        {"--case", true},
        {"--journey", true},
        {"--stats", true},
        {"--k", true},
        {"--digest", false},
        {"--registry", true}},
       false,
       R"(usage: passagectl replay --log DIR [--until SEQ|TIME] [--case CASE_ID] [--journey CASE_ID]
                        [--stats D,...|total] [--k N] [--digest] [--registry FILE]

Rebuilds the state of the NRM as it was at a past point, by folding the log's events in order
through the same projection the broker uses (read-only; DIR as for passagectl audit). Without
--until the whole log is replayed.

  --until SEQ    every entry with sequence number <= SEQ
  --until TIME   the entries appended at or before TIME: 2026-11-28T23:59:00Z or with an
                 offset (2026-11-28T23:59:00+05:00); without an offset (2026-11-28 23:59) in
                 this machine's time zone ($TZ); a date alone (2026-11-28) through the end of
                 that day. The replay stops at the first entry appended later

Prints a summary (entries, cases, Merkle root at that size), then what was asked for:
  --case ID      the case's state then (JSON; sealed personal data left out)
  --journey ID   the case's journey then (timeline, stages, referrals)
  --stats D,...  statistics then, by dimensions as in passagectl stats ("total" for the total
                 only), with small-cell suppression threshold --k (default 5); agency types come
                 from AgencyRegistered events and from --registry FILE (an AgencyRegistry in text
                 format, like the broker's)
  --digest       SHA-256 over every case's state in case-id order and the Merkle root: two
                 replays of the same log to the same point print the same digest

examples:
  passagectl replay --log /srv/audit/cp --until 2026-11-28T23:59:00Z --case 0190a3c4-...
  TZ=Asia/Karachi passagectl replay --log /srv/audit/cp --until 2026-11-28 --stats sex
  passagectl replay --log /srv/audit/cp --until 1200 --stats sex,age_band --k 10
  passagectl --json replay --log /srv/audit/cp --until 1200 --digest | jq -r .digest
)"},
      {"admin",
       {{"--log", true}, {"--to", true}, {"--from", true}, {"--public-key", true},
        {"--broker-admin", true}, {"--file", true}, {"--keys", true}, {"--transport-key", true},
        {"--sealing-key", true}, {"--reason", true}},
       false,
       R"(usage: passagectl admin checkpoint DIR --log LOG [--public-key HEX]
       passagectl admin backup --log LOG --to DIR [--public-key HEX]
       passagectl admin restore --from DIR --to LOG [--public-key HEX]
       passagectl admin agency add --file AGENCY_FILE [--broker-admin EP]
       passagectl admin agency rotate-key AGENCY (--keys PREFIX | --transport-key Z85
                                                  [--sealing-key HEX]) [--broker-admin EP]
       passagectl admin agency revoke AGENCY --reason TEXT [--broker-admin EP]
       passagectl admin agency export [--broker-admin EP]

The agency registry, changed live (on the broker's machine, as its OS user or root): each change
is checked against the registry the broker applies, recorded in the log as a configuration event
(AgencyRegistered, KeyRotated, AgencyRevoked) and applied at once, without a restart:
  add          a new agency, from a file holding one passage.v1.Agency in text format (the fields
               of an `agencies { ... }` entry of the registry, keys included)
  rotate-key   new public keys for an agency: --keys PREFIX reads PREFIX.curve and PREFIX.seal
               (passagectl keygen); connections made with the old transport key are cut
  revoke       the agency may no longer connect, publish, read or receive; its connections are cut
  export       the registry as the broker applies it (file and changes), to copy to every node
--broker-admin is the broker's admin socket (default ipc:///var/lib/passage/broker/admin.sock).

Copies of the broker's event log, each verified like passagectl audit verify before it is
trusted. LOG is a broker's log directory (DATA_DIR/log); it must not be open: a running broker
holds its lock, and these commands then refuse (stop the broker first, or send the broker
SIGUSR1: it writes an online checkpoint to DATA_DIR/checkpoints/<time>).

subcommands:
  checkpoint DIR   a RocksDB checkpoint of LOG in the new directory DIR (hard links where the
                   file system allows), then verified
  backup           a checkpoint in DIR/log, verified, and a manifest DIR/backup.json with the
                   tree size, root, latest signed tree head and the SHA-256 of every file
  restore          checks a backup (manifest, file checksums, full verification), then copies it
                   to LOG, which must not exist, and verifies the copy; an existing log is never
                   overwritten

options:
  --public-key HEX   the broker's tree-head key to trust (default: the key recorded in the log,
                     or for restore the key in the backup's manifest)

examples:
  passagectl admin backup --log /var/lib/passage/broker/log --to /backup/passage-2026-11-28
  passagectl admin restore --from /backup/passage-2026-11-28 --to /var/lib/passage/broker/log
)"},
      {"keygen",
       {{"--out", true}, {"--force", false}},
       false,
       R"(usage: passagectl keygen --out PREFIX [--force]

Makes an agency's key pairs and prints the two public keys for the agency registry:
  PREFIX.curve   CURVE transport key pair ("public: Z85", "secret: Z85"), mode 0600
  PREFIX.seal    libsodium sealing key pair ("public: HEX", "secret: HEX"), mode 0600
Existing files are never overwritten unless --force is given.

examples:
  passagectl keygen --out /etc/passage/keys/ngo-shelter
)"},
      {"keys",
       {{"--public-only", false}, {"--tree-head", true}},
       false,
       R"(usage: passagectl keys show [--public-only] [--tree-head SEED_FILE] [--json] [KEY_FILE...]

Prints the public half of each key file, never a secret, in the form it is needed:
  a CURVE key file (passagectl keygen's PREFIX.curve, the broker's broker.key)
                   transport_public_key for the agency registry; broker_public_key for node
                   configs when it is the broker's key
  a sealing key file (PREFIX.seal)
                   sealing_public_key for the agency registry
  --tree-head F    the broker's tree-head signing seed (DATA_DIR/signing.key): the Ed25519
                   public key auditors pin (passage-verify-proof --public-key, passagectl audit
                   --public-key)
  --public-only    one key file in, a key file out with only its 'public:' line (on standard
                   output), e.g. the broker.pub a node's broker_public_key_file names

examples:
  passagectl keys show /etc/passage/keys/dastak-shelter.curve /etc/passage/keys/dastak-shelter.seal
  passagectl keys show --tree-head /var/lib/passage/broker/signing.key
  passagectl keys show --public-only /var/lib/passage/broker/broker.key > /etc/passage/keys/broker.pub
)"},
      {"config",
       {{"--root", true}, {"--registry", true}},
       false,
       R"(usage: passagectl config check [--root DIR] [--registry FILE] [--json] FILE...

Reads each file as the program that uses it would, and everything it names: a node config's
registry, keys and (for the referral engine) rules; a broker config's registry. Finds what the
programs would find only at start-up or later: a missing or wrong key file, a key that is not the
one the registry lists for the agency, a routing rule no registered agency can receive, a web
workspace open to the network without TLS. Every finding names the file, the line and the field:
  /etc/passage/nodes/x.textproto:14: error: secret_key_file: /etc/passage/keys/x.curve does not exist
Warnings (the program runs, but probably not as meant) do not fail the check.

The kind of each file comes from its '# proto-message:' line (the samples in deploy/config carry
one), else from its name (registry*, rules*, broker*), else from its fields.

options:
  --root DIR        read absolute paths inside the files under DIR (an unpacked package, an
                    image's tree, a staging copy of /etc)
  --registry FILE   the registry to check rules against when no file given is one

exit codes: 0 no errors, 2 errors (or a usage error)

examples:
  passagectl config check /etc/passage/broker.textproto /etc/passage/nodes/*.textproto
)"},
  };
  return kCommands;
}

const CommandSpec* FindCommand(std::string_view name) {
  for (const auto& c : Commands()) {
    if (c.name == name) {
      return &c;
    }
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Parsing

Status Usage(std::string field, std::string reason) {
  return Status::InvalidArgument(std::move(field), std::move(reason));
}

struct Parsed {
  std::string command;
  std::vector<std::string> positionals;
  std::map<std::string, std::string, std::less<>> flags;  // name -> value ("" for switches)
  bool help = false;
  std::optional<std::string> node;
  bool json = false;
  std::optional<std::string> timeout;
  std::optional<std::string> format;
  const UtcOffsetFn* local = nullptr;  // ParseArgs's time zone for times without an offset
};

bool IsGlobalFlag(std::string_view name) {
  return name == "--node" || name == "--json" || name == "--timeout" || name == "--format";
}

Status Tokenize(const std::vector<std::string>& args, Parsed* p) {
  const CommandSpec* spec = nullptr;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-' || a == "-") {
      if (p->command.empty()) {
        p->command = a;
        spec = FindCommand(a);
        if (spec == nullptr && a != "help") {
          std::vector<std::string> names;
          for (const auto& c : Commands()) {
            names.emplace_back(c.name.substr(0, c.name.find(' ')));
          }
          const std::string near = core::Nearest(a, names);
          return Usage("", "unknown command '" + a + "'" +
                               (near.empty() ? "" : "; did you mean '" + near + "'?") +
                               " (try passagectl --help)");
        }
      } else {
        p->positionals.push_back(a);
      }
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    if (a == "-h" || a == "--help") {
      p->help = true;
      continue;
    }
    std::string name = a;
    std::optional<std::string> inline_value;
    if (size_t eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      name = a.substr(0, eq);
      inline_value = a.substr(eq + 1);
    }
    bool takes_value = false;
    bool known = false;
    if (IsGlobalFlag(name)) {
      known = true;
      takes_value = name != "--json";
    } else if (spec != nullptr) {
      for (const auto& [flag, value] : spec->flags) {
        if (flag == name) {
          known = true;
          takes_value = value;
        }
      }
    }
    if (!known) {
      if (p->help) {
        continue;  // `passagectl referral --help --whatever`: help wins
      }
      std::vector<std::string> flags = {"--node", "--json", "--format", "--timeout", "--help"};
      if (spec != nullptr) {
        for (const auto& [flag, _] : spec->flags) flags.emplace_back(flag);
      }
      const std::string near = core::Nearest(name, flags);
      const std::string hint = near.empty() ? "" : "; did you mean " + near + "?";
      return Usage(name, p->command.empty() || p->command == "help"
                             ? "unknown option" + hint + " (try passagectl --help)"
                             : "unknown option for " + p->command + hint + " (try passagectl " +
                                   p->command + " --help)");
    }
    std::string value;
    if (takes_value) {
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        if (p->help) {
          continue;
        }
        return Usage(name, "needs a value");
      }
    } else if (inline_value) {
      return Usage(name, "takes no value");
    }
    if (name == "--node") {
      p->node = value;
    } else if (name == "--json") {
      p->json = true;
    } else if (name == "--timeout") {
      p->timeout = value;
    } else if (name == "--format") {
      p->format = value;
    } else {
      p->flags[name] = value;
    }
  }
  return Status::Ok();
}

std::optional<std::string> Flag(const Parsed& p, std::string_view name) {
  auto it = p.flags.find(name);
  if (it == p.flags.end()) {
    return std::nullopt;
  }
  return it->second;
}

Status ExpectPositionals(const Parsed& p, std::vector<std::string_view> names) {
  if (p.positionals.size() < names.size()) {
    return Usage(std::string(names[p.positionals.size()]),
                 "missing (usage: see passagectl " + p.command + " --help)");
  }
  if (p.positionals.size() > names.size()) {
    return Usage("", "unexpected argument '" + p.positionals[names.size()] + "' for " + p.command +
                         " (try passagectl " + p.command + " --help)");
  }
  return Status::Ok();
}

Status CheckId(const std::string& id, std::string_view what) {
  Status s = core::ValidateUuid(id, what);
  if (!s.ok()) {
    return Usage(std::string(what), s.message());
  }
  return Status::Ok();
}

// A case id or a case reference (resolved by the node).
Status CheckCase(const std::string& text, std::string_view what) {
  if (core::LooksLikeCaseReference(text)) {
    auto r = core::ParseCaseReference(text, std::string(what));
    return r.ok() ? Status::Ok() : Usage(std::string(what), r.status().message());
  }
  return CheckId(text, what);
}

template <typename E>
Result<E> ParseEnumFlag(const google::protobuf::EnumDescriptor* type, std::string_view text,
                        std::string_view field) {
  ASSIGN_OR_RETURN(int v, ParseEnumName(type, text, field));
  return static_cast<E>(v);
}


Result<v1::ReferralStatus> ReferralTarget(std::string_view action, bool* resume) {
  static const std::map<std::string_view, v1::ReferralStatus> kActions = {
      {"receive", v1::REFERRAL_STATUS_RECEIVED},
      {"accept", v1::REFERRAL_STATUS_ACCEPTED},
      {"reject", v1::REFERRAL_STATUS_REJECTED},
      {"start", v1::REFERRAL_STATUS_IN_PROGRESS},
      {"hold", v1::REFERRAL_STATUS_ON_HOLD},
      {"resume", v1::REFERRAL_STATUS_UNSPECIFIED},
      {"complete", v1::REFERRAL_STATUS_COMPLETED},
      {"fail", v1::REFERRAL_STATUS_FAILED},
      {"cancel", v1::REFERRAL_STATUS_CANCELLED},
      {"request-cancel", v1::REFERRAL_STATUS_CANCEL_REQUESTED},
      {"request_cancel", v1::REFERRAL_STATUS_CANCEL_REQUESTED},
  };
  auto it = kActions.find(action);
  if (it == kActions.end()) {
    return Usage("ACTION", "'" + std::string(action) +
                               "' is not one of: receive, accept, reject, start, hold, resume, "
                               "complete, fail, cancel, request-cancel");
  }
  *resume = action == "resume";
  return it->second;
}

Status BuildReferral(const Parsed& p, Invocation* inv) {
  RETURN_IF_ERROR(ExpectPositionals(p, {"ACTION", "REFERRAL_ID"}));
  const std::string& action = p.positionals[0];
  bool resume = false;
  ASSIGN_OR_RETURN(v1::ReferralStatus to, ReferralTarget(action, &resume));
  RETURN_IF_ERROR(CheckId(p.positionals[1], "REFERRAL_ID"));
  auto* a = inv->request.mutable_referral_action();
  a->set_referral_id(p.positionals[1]);
  a->set_to(to);
  auto reason = Flag(p, "--reason");
  if (to == v1::REFERRAL_STATUS_REJECTED) {
    if (!reason) {
      return Usage("--reason", "required to reject a referral; one of: " +
                                   EnumChoices(v1::RejectReason_descriptor(), ", "));
    }
    ASSIGN_OR_RETURN(v1::RejectReason r, ParseEnumFlag<v1::RejectReason>(
                                             v1::RejectReason_descriptor(), *reason, "--reason"));
    a->set_reason(r);
  } else if (reason) {
    return Usage("--reason", "is for reject only (use --note to explain other moves)");
  }
  auto outcome = Flag(p, "--outcome");
  const bool needs_outcome =
      to == v1::REFERRAL_STATUS_COMPLETED || to == v1::REFERRAL_STATUS_FAILED;
  if (needs_outcome) {
    if (!outcome || Trim(*outcome).empty()) {
      return Usage("--outcome", "required to " + action + " a referral: say what came of it");
    }
    a->set_outcome(*outcome);
  } else if (outcome) {
    return Usage("--outcome", "is for complete and fail only");
  }
  if (auto note = Flag(p, "--note")) {
    a->set_note(*note);
  }
  inv->action = resume ? Action::kResume : Action::kCall;
  return Status::Ok();
}

Status BuildCorrect(const Parsed& p, Invocation* inv) {
  RETURN_IF_ERROR(ExpectPositionals(p, {"CASE", "PATH", "NEW_VALUE"}));
  RETURN_IF_ERROR(CheckCase(p.positionals[0], "CASE"));
  if (auto path = core::ParseFieldPath(p.positionals[1], "PATH"); !path.ok()) {
    return Usage("PATH", path.status().message());
  }
  auto reason = Flag(p, "--reason");
  if (!reason || Trim(*reason).empty()) {
    return Usage("--reason", "required: say why the value is corrected");
  }
  auto* c = inv->request.mutable_correct();
  c->set_case_id(p.positionals[0]);
  c->set_path(p.positionals[1]);
  c->set_new_value(p.positionals[2]);
  c->set_reason(*reason);
  if (auto hash = Flag(p, "--old-value-sha256")) {
    c->set_old_value_sha256(*hash);
  }
  return Status::Ok();
}

Status BuildPlan(const Parsed& p, Invocation* inv) {
  using A = v1::PlanRequest;
  auto* r = inv->request.mutable_plan();
  const std::string sub = p.positionals.empty() ? "" : p.positionals[0];
  auto due = [&]() -> Status {
    auto d = Flag(p, "--due");
    if (!d) {
      return Usage("--due", "required: the due date, YYYY-MM-DD");
    }
    if (Status s = core::ValidateIsoDate(*d, "--due"); !s.ok()) {
      return Usage("--due", s.message());
    }
    r->set_due_date(*d);
    return Status::Ok();
  };
  if (p.command == "followup") {
    if (sub == "add") {
      RETURN_IF_ERROR(ExpectPositionals(p, {"add", "CASE", "REFERRAL_ID"}));
      RETURN_IF_ERROR(CheckCase(p.positionals[1], "CASE"));
      RETURN_IF_ERROR(CheckId(p.positionals[2], "REFERRAL_ID"));
      r->set_action(A::ACTION_ADD_FOLLOW_UP);
      r->set_case_id(p.positionals[1]);
      r->set_referral_id(p.positionals[2]);
      RETURN_IF_ERROR(due());
      auto purpose = Flag(p, "--purpose");
      if (!purpose || Trim(*purpose).empty()) {
        return Usage("--purpose", "required: what the follow-up is for");
      }
      r->set_note(*purpose);
      return Status::Ok();
    }
    if (sub == "done") {
      RETURN_IF_ERROR(ExpectPositionals(p, {"done", "CASE", "FOLLOW_UP_ID"}));
      RETURN_IF_ERROR(CheckCase(p.positionals[1], "CASE"));
      RETURN_IF_ERROR(CheckId(p.positionals[2], "FOLLOW_UP_ID"));
      r->set_action(A::ACTION_FOLLOW_UP_DONE);
      r->set_case_id(p.positionals[1]);
      r->set_item_id(p.positionals[2]);
      return Status::Ok();
    }
    return Usage("ACTION", "'" + sub + "' is not a followup action (add, done)");
  }
  if (sub == "add") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"add", "CASE", "REFERRAL_ID"}));
    RETURN_IF_ERROR(CheckCase(p.positionals[1], "CASE"));
    RETURN_IF_ERROR(CheckId(p.positionals[2], "REFERRAL_ID"));
    r->set_action(A::ACTION_ADD_ITEM);
    r->set_case_id(p.positionals[1]);
    r->set_referral_id(p.positionals[2]);
    auto service = Flag(p, "--service");
    if (!service) {
      return Usage("--service", "required: the service planned");
    }
    ASSIGN_OR_RETURN(v1::ServiceType st, ParseEnumFlag<v1::ServiceType>(
                                             v1::ServiceType_descriptor(), *service, "--service"));
    r->set_service(st);
    RETURN_IF_ERROR(due());
    r->set_note(Flag(p, "--note").value_or(""));
    return Status::Ok();
  }
  if (sub == "done" || sub == "not-done") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"ACTION", "CASE", "ITEM_ID"}));
    RETURN_IF_ERROR(CheckCase(p.positionals[1], "CASE"));
    RETURN_IF_ERROR(CheckId(p.positionals[2], "ITEM_ID"));
    r->set_case_id(p.positionals[1]);
    r->set_item_id(p.positionals[2]);
    auto reason = Flag(p, "--reason");
    if (sub == "done") {
      r->set_action(A::ACTION_ITEM_DONE);
      r->set_reason(reason.value_or(""));
    } else {
      if (!reason || Trim(*reason).empty()) {
        return Usage("--reason", "required: say why the service was not done");
      }
      r->set_action(A::ACTION_ITEM_NOT_DONE);
      r->set_reason(*reason);
    }
    return Status::Ok();
  }
  if (sub == "due") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"due"}));
    r->set_action(A::ACTION_DUE);
    if (auto w = Flag(p, "--within")) {
      ASSIGN_OR_RETURN(uint64_t n, ParseCount(*w, "--within", 1, 366));
      r->set_within_days(static_cast<uint32_t>(n));
    }
    return Status::Ok();
  }
  return Usage("ACTION", sub.empty() ? "missing: add, done, not-done or due"
                                     : "'" + sub + "' is not a plan action (add, done, not-done, "
                                                   "due)");
}

Status BuildCases(const Parsed& p, Invocation* inv) {
  RETURN_IF_ERROR(ExpectPositionals(p, {}));
  auto* c = inv->request.mutable_cases();
  if (auto stage = Flag(p, "--stage")) {
    std::string s = Trim(*stage);
    if (s == "return" || s == "RETURN" || s == "Return") {
      s = "return_reintegration";
    }
    ASSIGN_OR_RETURN(v1::Stage st, ParseEnumFlag<v1::Stage>(v1::Stage_descriptor(), s, "--stage"));
    c->set_stage(st);
  }
  if (auto crime = Flag(p, "--crime")) {
    ASSIGN_OR_RETURN(v1::CrimeType ct,
                     ParseEnumFlag<v1::CrimeType>(v1::CrimeType_descriptor(), *crime, "--crime"));
    c->set_crime_type(ct);
  }
  c->set_minors_only(Flag(p, "--minors").has_value());
  if (auto limit = Flag(p, "--limit")) {
    ASSIGN_OR_RETURN(uint64_t n, ParseCount(*limit, "--limit", 1, UINT32_MAX));
    c->set_limit(static_cast<uint32_t>(n));
  }
  return Status::Ok();
}

Status BuildStats(const Parsed& p, Invocation* inv) {
  RETURN_IF_ERROR(ExpectPositionals(p, {}));
  if (Flag(p, "--quality").has_value()) {
    // The data-quality view of the state's reports (passagectl report quality).
    inv->request.mutable_crime_report()->set_kind(v1::CrimeReportRequest::KIND_QUALITY);
    return Status::Ok();
  }
  auto* s = inv->request.mutable_stats();
  if (auto by = Flag(p, "--by")) {
    auto names = SplitList(*by);
    if (names.empty()) {
      return Usage("--by", "give one or more dimensions, e.g. --by sex,age_band");
    }
    for (const auto& name : names) {
      auto d = core::ParseDimension(name);
      if (!d.ok()) {
        return Usage("--by", d.status().message());
      }
      s->add_by(name);
    }
  }
  if (auto k = Flag(p, "--k")) {
    ASSIGN_OR_RETURN(uint64_t n, ParseCount(*k, "--k", 1, 1000000));
    s->set_k(static_cast<uint32_t>(n));
  }
  return Status::Ok();
}

Status BuildCrimeReport(const Parsed& p, Invocation* inv) {
  using Kind = v1::CrimeReportRequest;
  if (p.positionals.size() != 1) {
    return Usage("", "give one report: glotip, smuggling, sdg16 or quality");
  }
  auto* r = inv->request.mutable_crime_report();
  const std::string& which = p.positionals[0];
  if (which == "glotip") {
    r->set_kind(Kind::KIND_GLOTIP);
  } else if (which == "smuggling") {
    r->set_kind(Kind::KIND_SMUGGLING);
  } else if (which == "sdg16") {
    r->set_kind(Kind::KIND_SDG16);
  } else if (which == "quality") {
    r->set_kind(Kind::KIND_QUALITY);
  } else {
    const std::string near = core::Nearest(which, {"glotip", "smuggling", "sdg16", "quality"});
    return Usage("", "unknown report '" + which + "'" +
                         (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                         "; the reports are glotip, smuggling, sdg16 and quality");
  }
  if (auto y = Flag(p, "--year")) {
    ASSIGN_OR_RETURN(uint64_t n, ParseCount(*y, "--year", 1990, 2100));
    r->set_year(static_cast<int32_t>(n));
  } else if (r->kind() != Kind::KIND_QUALITY) {
    return Usage("--year", "required: the reference year, e.g. --year 2026");
  }
  if (auto k = Flag(p, "--k")) {
    ASSIGN_OR_RETURN(uint64_t n, ParseCount(*k, "--k", 1, 1000000));
    r->set_k(static_cast<uint32_t>(n));
  }
  if (auto file = Flag(p, "--population")) {
    std::ifstream in(*file);
    if (!in) {
      return Usage("--population", "cannot read " + *file);
    }
    std::stringstream text;
    text << in.rdbuf();
    r->set_population_csv(text.str());
  } else if (r->kind() == Kind::KIND_SDG16) {
    return Usage("--population", "required for sdg16: CSV lines sex,age_group,population");
  }
  r->set_csv(Flag(p, "--csv").has_value() || inv->csv);
  return Status::Ok();
}

Status BuildEventCommand(const Parsed& p, Invocation* inv) {
  v1::Event* e = inv->request.mutable_publish()->mutable_event();
  const std::string& cmd = p.command;
  if (cmd == "consent") {
    if (p.positionals.empty() || p.positionals[0] != "withdraw") {
      return Usage("", p.positionals.empty()
                           ? "missing subcommand: passagectl consent withdraw CASE_ID CONSENT_ID"
                           : "unknown subcommand '" + p.positionals[0] +
                                 "' (only: consent withdraw CASE_ID CONSENT_ID)");
    }
    inv->command = "consent withdraw";
    RETURN_IF_ERROR(ExpectPositionals(p, {"withdraw", "CASE_ID", "CONSENT_ID"}));
    RETURN_IF_ERROR(CheckId(p.positionals[1], "CASE_ID"));
    RETURN_IF_ERROR(CheckId(p.positionals[2], "CONSENT_ID"));
    e->set_case_id(p.positionals[1]);
    auto* w = e->mutable_consent_withdrawn();
    w->set_consent_id(p.positionals[2]);
    if (auto scope = Flag(p, "--scope")) {
      ASSIGN_OR_RETURN(v1::ConsentScope sc, ParseEnumFlag<v1::ConsentScope>(
                                                v1::ConsentScope_descriptor(), *scope, "--scope"));
      w->set_scope(sc);
    }
  } else if (cmd == "refer") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"CASE_ID"}));
    RETURN_IF_ERROR(CheckId(p.positionals[0], "CASE_ID"));
    auto to = Flag(p, "--to");
    if (!to || !core::IsValidAgencyId(*to)) {
      return Usage("--to", "required: the receiving agency's id");
    }
    auto service = Flag(p, "--service");
    if (!service) {
      return Usage("--service", "required: what the recipient is asked to provide");
    }
    ASSIGN_OR_RETURN(v1::ServiceType st, ParseEnumFlag<v1::ServiceType>(
                                             v1::ServiceType_descriptor(), *service, "--service"));
    v1::Priority pr = v1::PRIORITY_ROUTINE;
    if (auto f = Flag(p, "--priority")) {
      ASSIGN_OR_RETURN(pr, ParseEnumFlag<v1::Priority>(v1::Priority_descriptor(), *f, "--priority"));
    }
    v1::ReferralKind kind = v1::REFERRAL_KIND_REFERRAL;
    if (auto f = Flag(p, "--kind")) {
      ASSIGN_OR_RETURN(kind,
                       ParseEnumFlag<v1::ReferralKind>(v1::ReferralKind_descriptor(), *f, "--kind"));
    }
    uint64_t hours = 72;
    if (auto f = Flag(p, "--within-hours")) {
      ASSIGN_OR_RETURN(hours, ParseCount(*f, "--within-hours", 1, 24 * 365));
    }
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    e->set_case_id(p.positionals[0]);
    auto* r = e->mutable_referral_sent()->mutable_referral();
    r->set_referral_id(core::NewUuidV7());
    r->set_case_id(p.positionals[0]);
    r->set_kind(kind);
    r->set_to_agency(*to);
    r->set_service(st);
    r->set_priority(pr);
    r->set_reason(Flag(p, "--reason").value_or("onward referral"));
    r->set_respond_by_ms(now + static_cast<int64_t>(hours) * 3600 * 1000);
    if (auto scope = Flag(p, "--scope")) {
      auto names = SplitList(*scope);
      if (names.empty()) {
        return Usage("--scope", "give one or more sections, e.g. --scope profile,personal");
      }
      for (const auto& name : names) {
        ASSIGN_OR_RETURN(v1::DataSection sec, ParseEnumFlag<v1::DataSection>(
                                                  v1::DataSection_descriptor(), name, "--scope"));
        r->add_data_scope(sec);
      }
    } else {
      for (auto sec : {v1::DATA_SECTION_PROFILE, v1::DATA_SECTION_PERSONAL,
                       v1::DATA_SECTION_CONSENTS, v1::DATA_SECTION_REFERRALS}) {
        r->add_data_scope(sec);
      }
    }
    if (auto parent = Flag(p, "--parent")) {
      RETURN_IF_ERROR(CheckId(*parent, "--parent"));
      r->set_parent_referral_id(*parent);
    }
    auto consent = Flag(p, "--consent");
    auto override_reason = Flag(p, "--override-reason");
    if (consent) {
      RETURN_IF_ERROR(CheckId(*consent, "--consent"));
      r->set_consent_id(*consent);
    } else if (override_reason && !Trim(*override_reason).empty()) {
      // The node fills in who overrides, from the session; only a supervisor may.
      auto* o = r->mutable_consent_override();
      o->set_role(v1::ACTOR_ROLE_SUPERVISOR);
      o->set_reason(*override_reason);
    } else {
      return Usage("--consent", "give the consent the referral relies on, or (a supervisor) "
                                "--override-reason");
    }
  } else if (cmd == "service") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"CASE_ID", "REFERRAL_ID", "SERVICE"}));
    RETURN_IF_ERROR(CheckId(p.positionals[0], "CASE_ID"));
    RETURN_IF_ERROR(CheckId(p.positionals[1], "REFERRAL_ID"));
    ASSIGN_OR_RETURN(
        v1::ServiceType st,
        ParseEnumFlag<v1::ServiceType>(v1::ServiceType_descriptor(), p.positionals[2], "SERVICE"));
    e->set_case_id(p.positionals[0]);
    e->mutable_service_delivered()->set_referral_id(p.positionals[1]);
    e->mutable_service_delivered()->set_service(st);
  } else if (cmd == "proceeding") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"CASE_ID", "MILESTONE"}));
    RETURN_IF_ERROR(CheckId(p.positionals[0], "CASE_ID"));
    ASSIGN_OR_RETURN(v1::ProceedingMilestone m,
                     ParseEnumFlag<v1::ProceedingMilestone>(v1::ProceedingMilestone_descriptor(),
                                                            p.positionals[1], "MILESTONE"));
    e->set_case_id(p.positionals[0]);
    auto* pr = e->mutable_criminal_proceeding_updated()->mutable_proceeding();
    pr->set_milestone(m);
    if (auto ref = Flag(p, "--reference")) {
      pr->set_reference(*ref);
    }
  } else if (cmd == "return") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"CASE_ID", "COUNTRY"}));
    RETURN_IF_ERROR(CheckId(p.positionals[0], "CASE_ID"));
    auto country = core::NormalizeCountry(p.positionals[1], "COUNTRY");
    if (!country.ok()) {
      return Usage("COUNTRY", country.status().message());
    }
    e->set_case_id(p.positionals[0]);
    e->mutable_return_recorded()->set_country(*country);
    if (auto ref = Flag(p, "--referral")) {
      RETURN_IF_ERROR(CheckId(*ref, "--referral"));
      e->mutable_return_recorded()->set_referral_id(*ref);
    }
  } else if (cmd == "close") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"CASE_ID"}));
    RETURN_IF_ERROR(CheckId(p.positionals[0], "CASE_ID"));
    e->set_case_id(p.positionals[0]);
    e->mutable_case_closed()->set_reason(Flag(p, "--reason").value_or(""));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// The crime side: offence, offence-status, suspect, accused, smuggling (docs/law-enforcement.md).
// Only what the command line itself gets wrong is refused here, naming the option; the broker
// checks the rest (law-section codes, dates, the state machines) and names the event's field.

Result<std::string> RequiredFlag(const Parsed& p, std::string_view name, std::string_view what) {
  auto v = Flag(p, name);
  if (!v || Trim(*v).empty()) {
    return Usage(std::string(name), "required: " + std::string(what));
  }
  return Trim(*v);
}

// "a,b" -> one enum value per item, each named by `flag` when it is not one of the choices.
template <typename E>
Result<std::vector<E>> EnumListFlag(const google::protobuf::EnumDescriptor* type,
                                    const std::string& text, std::string_view flag) {
  std::vector<E> out;
  for (const auto& name : SplitList(text)) {
    ASSIGN_OR_RETURN(E v, ParseEnumFlag<E>(type, name, flag));
    out.push_back(v);
  }
  if (out.empty()) {
    return Usage(std::string(flag), "give one or more of: " + EnumChoices(type, ", "));
  }
  return out;
}

// "pk,af" -> {"PK", "AF"} (alpha-3 accepted), each checked against ISO 3166-1.
Result<std::vector<std::string>> CountryListFlag(const std::string& text, std::string_view flag) {
  std::vector<std::string> out;
  for (const auto& code : SplitList(text)) {
    auto c = core::NormalizeCountry(code, flag);
    if (!c.ok()) {
      return Usage(std::string(flag), c.status().message());
    }
    out.push_back(*c);
  }
  if (out.empty()) {
    return Usage(std::string(flag), "give one or more ISO 3166-1 country codes, e.g. PK,AF");
  }
  return out;
}

Result<std::string> CountryFlag(const std::string& text, std::string_view flag) {
  ASSIGN_OR_RETURN(auto list, CountryListFlag(text, flag));
  if (list.size() != 1) {
    return Usage(std::string(flag), "give one country code, e.g. PK");
  }
  return list[0];
}

Result<bool> YesNoFlag(const std::string& text, std::string_view flag) {
  const std::string t = Trim(text);
  if (t == "yes" || t == "YES" || t == "Yes") {
    return true;
  }
  if (t == "no" || t == "NO" || t == "No") {
    return false;
  }
  return Usage(std::string(flag), "'" + t + "' is not one of: yes, no");
}

Status AddLawSections(const std::string& text, std::string_view flag,
                      google::protobuf::RepeatedPtrField<std::string>* out) {
  for (const auto& code : SplitList(text)) {
    *out->Add() = code;
  }
  if (out->empty()) {
    return Usage(std::string(flag), "give one or more law sections, e.g. PTPA-2018-3,PPC-370");
  }
  return Status::Ok();
}

Status BuildOffence(const Parsed& p, v1::Event* e) {
  RETURN_IF_ERROR(ExpectPositionals(p, {"CASE"}));
  RETURN_IF_ERROR(CheckCase(p.positionals[0], "CASE"));
  e->set_case_id(p.positionals[0]);
  v1::Offence* o = e->mutable_offence_registered()->mutable_offence();
  if (auto id = Flag(p, "--offence-id")) {
    RETURN_IF_ERROR(CheckId(*id, "--offence-id"));
    o->set_offence_id(*id);  // the same FIR, recorded on another victim's case
  } else {
    o->set_offence_id(core::NewUuidV7());
  }
  ASSIGN_OR_RETURN(*o->mutable_fir_number(),
                   RequiredFlag(p, "--fir", "the FIR or complaint number, e.g. 112/2026"));
  ASSIGN_OR_RETURN(*o->mutable_police_station(),
                   RequiredFlag(p, "--station", "the police station or FIA circle"));
  ASSIGN_OR_RETURN(
      *o->mutable_province(),
      RequiredFlag(p, "--province", "where it was registered (ISO 3166-2, e.g. PK-SD)"));
  o->set_district(Trim(Flag(p, "--district").value_or("")));
  ASSIGN_OR_RETURN(*o->mutable_registered_on(),
                   RequiredFlag(p, "--registered", "the date of the FIR (YYYY-MM-DD)"));
  ASSIGN_OR_RETURN(std::string sections,
                   RequiredFlag(p, "--sections", "the law sections, e.g. PTPA-2018-3,PPC-370"));
  RETURN_IF_ERROR(AddLawSections(sections, "--sections", o->mutable_law_sections()));
  ASSIGN_OR_RETURN(std::string crime, RequiredFlag(p, "--crime", "tip, som or both"));
  ASSIGN_OR_RETURN(v1::CrimeType ct,
                   ParseEnumFlag<v1::CrimeType>(v1::CrimeType_descriptor(), crime, "--crime"));
  if (ct != v1::CRIME_TYPE_TIP && ct != v1::CRIME_TYPE_SOM && ct != v1::CRIME_TYPE_BOTH) {
    return Usage("--crime", "an offence is tip, som or both");
  }
  o->set_crime_type(ct);
  if (auto agency = Flag(p, "--investigating-agency")) {
    if (!core::IsValidAgencyId(*agency)) {
      return Usage("--investigating-agency", "'" + *agency + "' is not an agency id");
    }
    o->set_investigating_agency(*agency);
  }
  if (auto ref = Flag(p, "--witness-referral")) {
    RETURN_IF_ERROR(CheckId(*ref, "--witness-referral"));
    o->set_witness_referral_id(*ref);
  }
  return Status::Ok();
}

Status BuildOffenceStatus(const Parsed& p, v1::Event* e) {
  RETURN_IF_ERROR(ExpectPositionals(p, {"CASE", "OFFENCE_ID", "STATUS"}));
  RETURN_IF_ERROR(CheckCase(p.positionals[0], "CASE"));
  RETURN_IF_ERROR(CheckId(p.positionals[1], "OFFENCE_ID"));
  ASSIGN_OR_RETURN(v1::OffenceStatus to,
                   ParseEnumFlag<v1::OffenceStatus>(v1::OffenceStatus_descriptor(),
                                                    p.positionals[2], "STATUS"));
  if (to == v1::OFFENCE_STATUS_REGISTERED) {
    return Usage("STATUS", "an offence is registered once (passagectl offence); move it to "
                           "under_investigation, charge_sheet_submitted, sent_to_court or closed");
  }
  e->set_case_id(p.positionals[0]);
  auto* c = e->mutable_offence_status_changed();
  c->set_offence_id(p.positionals[1]);
  c->set_to(to);
  auto closure = Flag(p, "--closure");
  if (to == v1::OFFENCE_STATUS_CLOSED) {
    if (!closure) {
      return Usage("--closure", "required to close an offence; one of: " +
                                    EnumChoices(v1::OffenceClosure_descriptor(), ", "));
    }
    ASSIGN_OR_RETURN(v1::OffenceClosure r, ParseEnumFlag<v1::OffenceClosure>(
                                               v1::OffenceClosure_descriptor(), *closure,
                                               "--closure"));
    c->set_closure(r);
  } else if (closure) {
    return Usage("--closure", "is for closed only");
  }
  if (auto ref = Flag(p, "--witness-referral")) {
    RETURN_IF_ERROR(CheckId(*ref, "--witness-referral"));
    c->set_witness_referral_id(*ref);
  }
  return Status::Ok();
}

Status BuildSuspect(const Parsed& p, Invocation* inv, v1::Event* e) {
  RETURN_IF_ERROR(ExpectPositionals(p, {"CASE", "OFFENCE_ID"}));
  RETURN_IF_ERROR(CheckCase(p.positionals[0], "CASE"));
  RETURN_IF_ERROR(CheckId(p.positionals[1], "OFFENCE_ID"));
  e->set_case_id(p.positionals[0]);
  v1::Suspect* s = e->mutable_suspect_recorded()->mutable_suspect();
  if (auto id = Flag(p, "--suspect-id")) {
    RETURN_IF_ERROR(CheckId(*id, "--suspect-id"));
    s->set_suspect_id(*id);  // the same person, accused in another victim's case
  } else {
    s->set_suspect_id(core::NewUuidV7());
  }
  s->set_offence_id(p.positionals[1]);
  ASSIGN_OR_RETURN(std::string sex, RequiredFlag(p, "--sex", "female, male, other or unknown"));
  ASSIGN_OR_RETURN(v1::Sex sx, ParseEnumFlag<v1::Sex>(v1::Sex_descriptor(), sex, "--sex"));
  s->set_sex(sx);
  ASSIGN_OR_RETURN(std::string roles,
                   RequiredFlag(p, "--role", "the suspect's role(s), e.g. recruiter,transporter"));
  ASSIGN_OR_RETURN(auto rs, EnumListFlag<v1::SuspectRole>(v1::SuspectRole_descriptor(), roles,
                                                          "--role"));
  for (auto r : rs) {
    s->add_roles(r);
  }
  if (auto band = Flag(p, "--age-band")) {
    const std::string t = Trim(*band);
    v1::AgeBand b = v1::AGE_BAND_UNSPECIFIED;
    if (!ctdc::ParseAgeBand(t, &b) || b == v1::AGE_BAND_UNSPECIFIED) {
      auto named = ParseEnumFlag<v1::AgeBand>(v1::AgeBand_descriptor(), t, "--age-band");
      if (!named.ok()) {
        return Usage("--age-band", "'" + t + "' is not one of: 0-8, 9-17, 18-20, 21-23, 24-26, "
                                             "27-29, 30-38, 39-47, 48+");
      }
      b = *named;
    }
    s->set_age_band(b);
  }
  if (auto m = Flag(p, "--majority")) {
    ASSIGN_OR_RETURN(v1::MajorityStatus ms, ParseEnumFlag<v1::MajorityStatus>(
                                                v1::MajorityStatus_descriptor(), *m, "--majority"));
    s->set_majority(ms);
  }
  if (auto c = Flag(p, "--citizenship")) {
    ASSIGN_OR_RETURN(auto list, CountryListFlag(*c, "--citizenship"));
    for (auto& code : list) {
      s->add_citizenship(std::move(code));
    }
  }
  if (auto g = Flag(p, "--organised-group")) {
    ASSIGN_OR_RETURN(v1::OrganisedGroup og, ParseEnumFlag<v1::OrganisedGroup>(
                                                v1::OrganisedGroup_descriptor(), *g,
                                                "--organised-group"));
    s->set_organised_group(og);
  }
  // The identity is read from a file by RunSuspect, never taken from an argument.
  if (auto f = Flag(p, "--identity-file")) {
    if (f->empty()) {
      return Usage("--identity-file", "needs a file name (\"-\" for standard input)");
    }
    inv->file = *f;
    inv->action = Action::kSuspect;
  }
  return Status::Ok();
}

Status BuildNote(const Parsed& p, Invocation* inv) {
  if (p.positionals.empty()) {
    return Usage("ACTION", "say add, list or open");
  }
  const std::string& action = p.positionals[0];
  auto* n = inv->request.mutable_note();
  if (action == "add") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"ACTION", "CASE"}));
    auto f = Flag(p, "--file");
    if (!f || f->empty()) {
      return Usage("--file", "the note's text comes from a file (\"-\" for standard input), "
                             "never from an argument");
    }
    inv->file = *f;
    inv->action = Action::kNoteAdd;
    n->mutable_add()->set_referral_id(Flag(p, "--referral").value_or(""));
    if (!n->add().referral_id().empty()) {
      RETURN_IF_ERROR(CheckId(n->add().referral_id(), "--referral"));
    }
  } else if (action == "list") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"ACTION", "CASE"}));
    n->set_list(true);
  } else if (action == "open") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"ACTION", "CASE"}));
    n->mutable_open()->set_note_id(Flag(p, "--note").value_or(""));
    if (!n->open().note_id().empty()) {
      RETURN_IF_ERROR(CheckId(n->open().note_id(), "--note"));
    }
    n->mutable_open()->set_purpose(Flag(p, "--purpose").value_or(""));
  } else {
    return Usage("ACTION", "'" + action + "' is not add, list or open");
  }
  for (std::string_view only : {"--file", "--referral"}) {
    if (action != "add" && Flag(p, std::string(only))) {
      return Usage(std::string(only), "only for note add");
    }
  }
  RETURN_IF_ERROR(CheckCase(p.positionals[1], "CASE"));
  n->set_case_id(p.positionals[1]);
  return Status::Ok();
}

Status BuildDocument(const Parsed& p, Invocation* inv) {
  if (p.positionals.empty()) {
    return Usage("ACTION", "say attach or open");
  }
  const std::string& action = p.positionals[0];
  auto* d = inv->request.mutable_document();
  if (action == "attach") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"ACTION", "CASE", "FILE"}));
    auto kind = Flag(p, "--kind");
    if (!kind) {
      return Usage("--kind", "say what the document is (medical_certificate, court_summons, ...)");
    }
    ASSIGN_OR_RETURN(v1::DocumentKind k, ParseEnumFlag<v1::DocumentKind>(
                                             v1::DocumentKind_descriptor(), *kind, "--kind"));
    auto* a = d->mutable_attach();
    a->set_kind(k);
    a->set_title(Flag(p, "--title").value_or(""));
    a->set_referral_id(Flag(p, "--referral").value_or(""));
    if (!a->referral_id().empty()) {
      RETURN_IF_ERROR(CheckId(a->referral_id(), "--referral"));
    }
    inv->file = p.positionals[2];
    const size_t slash = inv->file.find_last_of('/');
    a->set_file_name(slash == std::string::npos ? inv->file : inv->file.substr(slash + 1));
    inv->action = Action::kDocumentAttach;
  } else if (action == "open") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"ACTION", "CASE", "DOCUMENT_ID"}));
    RETURN_IF_ERROR(CheckId(p.positionals[2], "DOCUMENT_ID"));
    auto out = Flag(p, "--out");
    if (!out || out->empty()) {
      return Usage("--out", "name the file to write the document to");
    }
    d->mutable_open()->set_document_id(p.positionals[2]);
    d->mutable_open()->set_purpose(Flag(p, "--purpose").value_or(""));
    inv->file = *out;
    inv->action = Action::kDocumentOpen;
  } else {
    return Usage("ACTION", "'" + action + "' is not attach or open");
  }
  RETURN_IF_ERROR(CheckCase(p.positionals[1], "CASE"));
  d->set_case_id(p.positionals[1]);
  return Status::Ok();
}

Status BuildAccused(const Parsed& p, v1::Event* e) {
  RETURN_IF_ERROR(ExpectPositionals(p, {"CASE", "SUSPECT_ID", "STEP"}));
  RETURN_IF_ERROR(CheckCase(p.positionals[0], "CASE"));
  RETURN_IF_ERROR(CheckId(p.positionals[1], "SUSPECT_ID"));
  ASSIGN_OR_RETURN(v1::AccusedStep step, ParseEnumFlag<v1::AccusedStep>(
                                             v1::AccusedStep_descriptor(), p.positionals[2],
                                             "STEP"));
  e->set_case_id(p.positionals[0]);
  auto* u = e->mutable_accused_updated();
  u->set_suspect_id(p.positionals[1]);
  u->set_step(step);
  if (auto on = Flag(p, "--on")) {
    u->set_on_date(Trim(*on));
  }
  if (auto sections = Flag(p, "--sections")) {
    RETURN_IF_ERROR(AddLawSections(*sections, "--sections", u->mutable_charged_sections()));
  }
  if (auto months = Flag(p, "--months")) {
    ASSIGN_OR_RETURN(uint64_t n, ParseCount(*months, "--months", 1, UINT32_MAX));
    u->set_sentence_months(static_cast<uint32_t>(n));
  }
  auto fine = Flag(p, "--fine");
  auto currency = Flag(p, "--currency");
  if (fine) {
    ASSIGN_OR_RETURN(uint64_t n, ParseCount(*fine, "--fine", 1, UINT64_MAX));
    u->set_fine_amount(n);
    if (!currency) {
      return Usage("--currency", "required with --fine: the fine's currency (ISO 4217, e.g. PKR)");
    }
  }
  if (currency) {
    if (!fine) {
      return Usage("--currency", "only with --fine");
    }
    u->set_fine_currency(Trim(*currency));
  }
  if (auto outcome = Flag(p, "--appeal-outcome")) {
    ASSIGN_OR_RETURN(v1::AppealOutcome o, ParseEnumFlag<v1::AppealOutcome>(
                                              v1::AppealOutcome_descriptor(), *outcome,
                                              "--appeal-outcome"));
    u->set_appeal_outcome(o);
  }
  return Status::Ok();
}

Status BuildSmuggling(const Parsed& p, v1::Event* e) {
  RETURN_IF_ERROR(ExpectPositionals(p, {"CASE"}));
  RETURN_IF_ERROR(CheckCase(p.positionals[0], "CASE"));
  e->set_case_id(p.positionals[0]);
  v1::SmugglingDetails* d = e->mutable_smuggling_recorded()->mutable_details();
  ASSIGN_OR_RETURN(std::string origin,
                   RequiredFlag(p, "--origin", "the country the journey began in, e.g. PK"));
  ASSIGN_OR_RETURN(*d->mutable_origin_country(), CountryFlag(origin, "--origin"));
  ASSIGN_OR_RETURN(std::string destination,
                   RequiredFlag(p, "--destination", "the intended destination, e.g. GR"));
  ASSIGN_OR_RETURN(*d->mutable_destination_country(), CountryFlag(destination, "--destination"));
  if (auto transit = Flag(p, "--transit")) {
    ASSIGN_OR_RETURN(auto list, CountryListFlag(*transit, "--transit"));
    for (auto& code : list) {
      d->add_transit_countries(std::move(code));
    }
  }
  if (auto f = Flag(p, "--interception")) {
    ASSIGN_OR_RETURN(v1::Interception i, ParseEnumFlag<v1::Interception>(
                                             v1::Interception_descriptor(), *f, "--interception"));
    d->set_interception(i);
  }
  if (auto f = Flag(p, "--interception-province")) {
    d->set_interception_province(Trim(*f));
  }
  if (auto f = Flag(p, "--transport")) {
    ASSIGN_OR_RETURN(v1::TransportMode t, ParseEnumFlag<v1::TransportMode>(
                                              v1::TransportMode_descriptor(), *f, "--transport"));
    d->set_transport(t);
  }
  if (auto f = Flag(p, "--fee-band")) {
    ASSIGN_OR_RETURN(v1::FeeBand b,
                     ParseEnumFlag<v1::FeeBand>(v1::FeeBand_descriptor(), *f, "--fee-band"));
    d->set_fee_band(b);
  }
  if (auto f = Flag(p, "--currency")) {
    d->set_fee_currency(Trim(*f));
  }
  if (auto f = Flag(p, "--document-fraud")) {
    ASSIGN_OR_RETURN(bool fraud, YesNoFlag(*f, "--document-fraud"));
    d->set_document_fraud(fraud);
  }
  if (auto f = Flag(p, "--aggravation")) {
    ASSIGN_OR_RETURN(auto list, EnumListFlag<v1::Aggravation>(v1::Aggravation_descriptor(), *f,
                                                              "--aggravation"));
    for (auto a : list) {
      d->add_aggravations(a);
    }
  }
  return Status::Ok();
}

Status BuildCrimeCommand(const Parsed& p, Invocation* inv) {
  v1::Event* e = inv->request.mutable_publish()->mutable_event();
  const std::string& cmd = p.command;
  if (cmd == "offence") {
    return BuildOffence(p, e);
  }
  if (cmd == "offence-status") {
    return BuildOffenceStatus(p, e);
  }
  if (cmd == "suspect") {
    return BuildSuspect(p, inv, e);
  }
  if (cmd == "accused") {
    return BuildAccused(p, e);
  }
  return BuildSmuggling(p, e);
}

Status BuildImport(const Parsed& p, Invocation* inv) {
  RETURN_IF_ERROR(ExpectPositionals(p, {"FILE"}));
  inv->action = Action::kImportCtdc;
  ImportSettings& s = inv->import;
  s.file = p.positionals[0];
  if (auto v = Flag(p, "--limit")) {
    ASSIGN_OR_RETURN(s.limit, ParseCount(*v, "--limit", 1, UINT32_MAX));
  }
  if (auto v = Flag(p, "--skip")) {
    ASSIGN_OR_RETURN(s.skip, ParseCount(*v, "--skip", 0, UINT32_MAX));
  }
  if (auto v = Flag(p, "--consent")) {
    for (const auto& name : SplitList(*v)) {
      ASSIGN_OR_RETURN(v1::ConsentScope sc, ParseEnumFlag<v1::ConsentScope>(
                                                v1::ConsentScope_descriptor(), name, "--consent"));
      if (std::find(s.consents.begin(), s.consents.end(), sc) == s.consents.end()) {
        s.consents.push_back(sc);
      }
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// audit, replay, admin

// Refuses every option of `p` that is not in `allowed` (the command's spec accepts the union of
// its subcommands' options).
Status OnlyFlags(const Parsed& p, std::string_view sub, std::vector<std::string_view> allowed) {
  for (const auto& [name, value] : p.flags) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return Usage(name, "is not an option of " + std::string(sub) + " (try passagectl " +
                             p.command + " --help)");
    }
  }
  return Status::Ok();
}

Result<std::string> PathFlag(const Parsed& p, std::string_view name, bool required,
                             std::string_view what) {
  auto v = Flag(p, name);
  if (!v) {
    if (required) {
      return Usage(std::string(name), "required: " + std::string(what));
    }
    return std::string();
  }
  if (v->empty()) {
    return Usage(std::string(name), "needs a path: " + std::string(what));
  }
  return *v;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

Result<std::string> PublicKeyFlag(const Parsed& p) {
  auto v = Flag(p, "--public-key");
  if (!v) {
    return std::string();
  }
  std::string hex = Trim(*v);
  std::string out;
  bool ok = hex.size() == 64;
  for (size_t i = 0; ok && i < hex.size(); i += 2) {
    int hi = HexDigit(hex[i]);
    int lo = HexDigit(hex[i + 1]);
    ok = hi >= 0 && lo >= 0;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  if (!ok) {
    return Usage("--public-key",
                 "must be the broker's 32-byte Ed25519 tree-head key as 64 hex digits");
  }
  return out;
}

Status BuildAudit(const Parsed& p, Invocation* inv) {
  if (p.positionals.empty()) {
    return Usage("", "missing subcommand: passagectl audit verify|proof|consistency|access|heads");
  }
  const std::string sub = p.positionals[0];
  inv->command = "audit " + sub;
  inv->action = Action::kAudit;
  AuditSettings& a = inv->audit;
  const char* kLogWhat = "the log directory (a broker's DATA_DIR/log, a copy or a checkpoint)";
  if (sub == "verify") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"verify"}));
    RETURN_IF_ERROR(
        OnlyFlags(p, inv->command, {"--log", "--against-sth", "--public-key", "--check-indexes"}));
    ASSIGN_OR_RETURN(a.log, PathFlag(p, "--log", true, kLogWhat));
    ASSIGN_OR_RETURN(a.sth_file,
                     PathFlag(p, "--against-sth", false, "a signed tree head file (JSON)"));
    a.check_indexes = Flag(p, "--check-indexes").has_value();
  } else if (sub == "proof") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"proof"}));
    RETURN_IF_ERROR(
        OnlyFlags(p, inv->command, {"--log", "--seq", "--size", "--out", "--envelope"}));
    ASSIGN_OR_RETURN(a.log, PathFlag(p, "--log", true, kLogWhat));
    auto seq = Flag(p, "--seq");
    if (!seq) {
      return Usage("--seq", "required: the sequence number of the entry to prove");
    }
    ASSIGN_OR_RETURN(a.seq, ParseCount(*seq, "--seq", 1, UINT64_MAX));
    if (auto size = Flag(p, "--size")) {
      ASSIGN_OR_RETURN(a.size, ParseCount(*size, "--size", 1, UINT64_MAX));
      if (a.size < a.seq) {
        return Usage("--size", "a tree of size " + std::to_string(a.size) +
                                   " does not hold entry " + std::to_string(a.seq));
      }
    }
    ASSIGN_OR_RETURN(a.out, PathFlag(p, "--out", false, "where to write the proof"));
    ASSIGN_OR_RETURN(a.envelope_out,
                     PathFlag(p, "--envelope", false, "where to write the entry's bytes"));
  } else if (sub == "consistency") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"consistency"}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {"--sth", "--log", "--public-key"}));
    ASSIGN_OR_RETURN(a.sth_file, PathFlag(p, "--sth", true,
                                          "the signed tree head to check (JSON, e.g. from "
                                          "passagectl audit heads)"));
    ASSIGN_OR_RETURN(a.log, PathFlag(p, "--log", false, kLogWhat));
  } else if (sub == "access") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"access", "CASE_ID"}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {"--log"}));
    RETURN_IF_ERROR(CheckId(p.positionals[1], "CASE_ID"));
    a.case_id = p.positionals[1];
    ASSIGN_OR_RETURN(a.log, PathFlag(p, "--log", true, kLogWhat));
  } else if (sub == "heads") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"heads"}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {"--log", "--size", "--out"}));
    ASSIGN_OR_RETURN(a.log, PathFlag(p, "--log", false, kLogWhat));
    if (auto size = Flag(p, "--size")) {
      if (a.log.empty()) {
        return Usage("--size", "only with --log (the node exports its latest head)");
      }
      ASSIGN_OR_RETURN(a.size, ParseCount(*size, "--size", 1, UINT64_MAX));
    }
    ASSIGN_OR_RETURN(a.out, PathFlag(p, "--out", false, "where to write the head"));
  } else {
    return Usage("", "unknown subcommand '" + sub +
                         "' (audit verify|proof|consistency|access|heads; try passagectl audit "
                         "--help)");
  }
  ASSIGN_OR_RETURN(a.public_key, PublicKeyFlag(p));
  const bool online = a.log.empty();
  if (!online && p.node) {
    return Usage("--node",
                 "give --log DIR (offline, a log directory) or --node (via the agency's "
                 "node), not both");
  }
  if (online) {
    inv->needs_node = true;
    if (sub == "heads") {
      inv->request.mutable_tree_head();
    } else {
      inv->request.mutable_consistency();  // first_size is filled in from the head file
    }
  }
  return Status::Ok();
}

Status BuildReplay(const Parsed& p, Invocation* inv) {
  RETURN_IF_ERROR(ExpectPositionals(p, {}));
  inv->action = Action::kReplay;
  AuditSettings& a = inv->audit;
  ASSIGN_OR_RETURN(a.log, PathFlag(p, "--log", true,
                                   "the log directory (a broker's DATA_DIR/log, a copy or a "
                                   "checkpoint)"));
  if (auto until = Flag(p, "--until")) {
    std::string t = Trim(*until);
    if (!t.empty() &&
        std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      ASSIGN_OR_RETURN(uint64_t seq, ParseCount(t, "--until", 0, UINT64_MAX));
      a.until_seq = seq;
    } else {
      // A date alone means through the end of that day.
      auto ms = ParseTime(t, "--until", *p.local, /*end_of_day=*/true);
      if (!ms.ok()) {
        return Usage("--until", "neither a sequence number nor a time: " + ms.status().message());
      }
      a.until_ms = *ms;
    }
  }
  if (auto c = Flag(p, "--case")) {
    RETURN_IF_ERROR(CheckId(*c, "--case"));
    a.case_id = *c;
  }
  if (auto j = Flag(p, "--journey")) {
    RETURN_IF_ERROR(CheckId(*j, "--journey"));
    a.journey_case = *j;
  }
  if (auto by = Flag(p, "--stats")) {
    a.stats = true;
    std::string t = Trim(*by);
    if (t.empty()) {
      return Usage("--stats", "give dimensions (e.g. --stats sex,age_band) or \"total\"");
    }
    if (t != "total") {
      for (const auto& name : SplitList(t)) {
        auto d = core::ParseDimension(name);
        if (!d.ok()) {
          return Usage("--stats", d.status().message());
        }
        a.stats_request.add_by(name);
      }
    }
  }
  if (auto k = Flag(p, "--k")) {
    if (!a.stats) {
      return Usage("--k", "only with --stats");
    }
    ASSIGN_OR_RETURN(uint64_t n, ParseCount(*k, "--k", 1, 1000000));
    a.stats_request.set_k(static_cast<uint32_t>(n));
  }
  a.digest = Flag(p, "--digest").has_value();
  ASSIGN_OR_RETURN(a.registry, PathFlag(p, "--registry", false, "an AgencyRegistry text file"));
  return Status::Ok();
}

Status BuildAgencyAdmin(const Parsed& p, Invocation* inv) {
  if (p.positionals.size() < 2) {
    return Usage("", "missing subcommand: passagectl admin agency add|rotate-key|revoke|export");
  }
  const std::string sub = p.positionals[1];
  inv->command = "admin agency " + sub;
  inv->action = Action::kBrokerAdmin;
  OpsSettings& o = inv->ops;
  o.broker_admin = Flag(p, "--broker-admin").value_or("ipc:///var/lib/passage/broker/admin.sock");
  auto* req = &inv->broker_admin;
  if (sub == "add") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"agency", "add"}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {"--file", "--broker-admin"}));
    inv->file = Flag(p, "--file").value_or("");
    if (inv->file.empty()) {
      return Usage("--file", "required: a file with the agency (passage.v1.Agency, text format)");
    }
    req->mutable_add_agency();
  } else if (sub == "rotate-key") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"agency", "rotate-key", "AGENCY"}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command,
                              {"--keys", "--transport-key", "--sealing-key", "--broker-admin"}));
    auto* k = req->mutable_rotate_key();
    k->set_agency_id(p.positionals[2]);
    o.keys_prefix = Flag(p, "--keys").value_or("");
    k->set_transport_public_key(Flag(p, "--transport-key").value_or(""));
    k->set_sealing_public_key(Flag(p, "--sealing-key").value_or(""));
    if (o.keys_prefix.empty() == (k->transport_public_key().empty() &&
                                  k->sealing_public_key().empty())) {
      return Usage("--keys", "give --keys PREFIX, or the new public keys with --transport-key "
                             "and/or --sealing-key");
    }
  } else if (sub == "revoke") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"agency", "revoke", "AGENCY"}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {"--reason", "--broker-admin"}));
    auto* r = req->mutable_revoke();
    r->set_agency_id(p.positionals[2]);
    r->set_reason(Flag(p, "--reason").value_or(""));
    if (r->reason().empty()) {
      return Usage("--reason", "required: why the agency is revoked (it is recorded in the log)");
    }
  } else if (sub == "export") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"agency", "export"}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {"--broker-admin"}));
    req->set_export_registry(true);
  } else {
    return Usage("", "unknown subcommand '" + sub +
                         "' (admin agency add|rotate-key|revoke|export; try passagectl admin --help)");
  }
  return Status::Ok();
}

Status BuildAdmin(const Parsed& p, Invocation* inv) {
  if (p.positionals.empty()) {
    return Usage("", "missing subcommand: passagectl admin checkpoint|backup|restore|agency");
  }
  const std::string sub = p.positionals[0];
  if (sub == "agency") {
    return BuildAgencyAdmin(p, inv);
  }
  inv->command = "admin " + sub;
  inv->action = Action::kAdmin;
  AuditSettings& a = inv->audit;
  const char* kLogWhat = "the broker's log directory (DATA_DIR/log)";
  if (sub == "checkpoint") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"checkpoint", "DIR"}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {"--log", "--public-key"}));
    a.dir = p.positionals[1];
    ASSIGN_OR_RETURN(a.log, PathFlag(p, "--log", true, kLogWhat));
  } else if (sub == "backup") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"backup"}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {"--log", "--to", "--public-key"}));
    ASSIGN_OR_RETURN(a.log, PathFlag(p, "--log", true, kLogWhat));
    ASSIGN_OR_RETURN(a.dir, PathFlag(p, "--to", true, "the new backup directory"));
  } else if (sub == "restore") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"restore"}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {"--from", "--to", "--public-key"}));
    ASSIGN_OR_RETURN(a.dir, PathFlag(p, "--from", true, "the backup directory"));
    ASSIGN_OR_RETURN(a.target,
                     PathFlag(p, "--to", true, "the log directory to create (must not exist)"));
  } else {
    return Usage("", "unknown subcommand '" + sub +
                         "' (admin checkpoint|backup|restore; try passagectl admin --help)");
  }
  ASSIGN_OR_RETURN(a.public_key, PublicKeyFlag(p));
  return Status::Ok();
}

Status BuildStaff(const Parsed& p, Invocation* inv) {
  if (p.positionals.empty()) {
    return Usage("", "missing subcommand: passagectl staff add|list|disable|enable|reset-password|"
                     "roles|log");
  }
  const std::string sub = p.positionals[0];
  inv->command = "staff " + sub;
  auto* r = inv->request.mutable_staff();
  auto roles = [&]() -> Status {
    auto v = Flag(p, "--roles");
    if (!v || SplitList(*v).empty()) {
      return Usage("--roles", "give one or more of case-worker, supervisor, data-officer, "
                              "coordinator, auditor, node-admin (comma-separated)");
    }
    for (const auto& name : SplitList(*v)) {
      ASSIGN_OR_RETURN(v1::ActorRole role, core::ParseStaffRole(name, "--roles"));
      r->add_roles(role);
    }
    return Status::Ok();
  };
  if (sub == "list" || sub == "log") {
    RETURN_IF_ERROR(ExpectPositionals(p, {sub.c_str()}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, sub == "log" ? std::vector<std::string_view>{"--limit"}
                                                            : std::vector<std::string_view>{}));
    r->set_op(sub == "list" ? v1::StaffRequest::OP_LIST : v1::StaffRequest::OP_SECURITY_LOG);
    if (auto v = Flag(p, "--limit")) {
      ASSIGN_OR_RETURN(uint64_t n, ParseCount(*v, "--limit", 1, 100000));
      r->set_limit(static_cast<uint32_t>(n));
    }
    return Status::Ok();
  }
  RETURN_IF_ERROR(ExpectPositionals(p, {sub.c_str(), "LOGIN"}));
  r->set_login(p.positionals[1]);
  if (sub == "add") {
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {"--name", "--roles", "--password-file"}));
    r->set_op(v1::StaffRequest::OP_ADD);
    r->set_display_name(Flag(p, "--name").value_or(""));
    RETURN_IF_ERROR(roles());
  } else if (sub == "roles") {
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {"--roles"}));
    r->set_op(v1::StaffRequest::OP_SET_ROLES);
    RETURN_IF_ERROR(roles());
  } else if (sub == "disable" || sub == "enable") {
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {}));
    r->set_op(sub == "disable" ? v1::StaffRequest::OP_DISABLE : v1::StaffRequest::OP_ENABLE);
  } else if (sub == "reset-password") {
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {"--password-file"}));
    r->set_op(v1::StaffRequest::OP_RESET_PASSWORD);
  } else {
    return Usage("", "unknown subcommand '" + sub +
                         "' (staff add|list|disable|enable|reset-password|roles|log)");
  }
  // The password itself never goes on a command line (it would show in `ps` and shell history).
  inv->file = Flag(p, "--password-file").value_or("");
  return Status::Ok();
}

Status BuildApiKey(const Parsed& p, Invocation* inv) {
  if (p.positionals.empty()) {
    return Usage("", "missing subcommand: passagectl apikey create|list|revoke");
  }
  const std::string sub = p.positionals[0];
  inv->command = "apikey " + sub;
  auto* r = inv->request.mutable_api_key_admin();
  if (sub == "list") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"list"}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {}));
    r->set_op(v1::ApiKeyAdminRequest::OP_LIST);
  } else if (sub == "revoke") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"revoke", "KEY_ID"}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {}));
    r->set_op(v1::ApiKeyAdminRequest::OP_REVOKE);
    r->set_key_id(p.positionals[1]);
  } else if (sub == "create") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"create", "NAME"}));
    RETURN_IF_ERROR(OnlyFlags(p, inv->command, {"--roles", "--rate"}));
    r->set_op(v1::ApiKeyAdminRequest::OP_CREATE);
    r->set_name(p.positionals[1]);
    auto v = Flag(p, "--roles");
    if (!v || SplitList(*v).empty()) {
      return Usage("--roles", "give one or more of case-worker, supervisor, data-officer, "
                              "coordinator, auditor (comma-separated)");
    }
    for (const auto& name : SplitList(*v)) {
      ASSIGN_OR_RETURN(v1::ActorRole role, core::ParseStaffRole(name, "--roles"));
      if (role == v1::ACTOR_ROLE_NODE_ADMIN) {
        return Usage("--roles", "an API key may not be a node admin");
      }
      r->add_roles(role);
    }
    if (auto rate = Flag(p, "--rate")) {
      ASSIGN_OR_RETURN(uint64_t n, ParseCount(*rate, "--rate", 1, 6000));
      r->set_rate_per_minute(static_cast<uint32_t>(n));
    }
  } else {
    return Usage("", "unknown subcommand '" + sub + "' (apikey create|list|revoke)");
  }
  return Status::Ok();
}

Status BuildCommand(const Parsed& p, Invocation* inv) {
  const std::string& cmd = p.command;
  inv->action = Action::kCall;
  if (cmd == "status") {
    RETURN_IF_ERROR(ExpectPositionals(p, {}));
    inv->request.mutable_status();
  } else if (cmd == "login") {
    if (p.positionals.size() > 1) {
      return Usage("", "login takes one LOGIN (try passagectl login --help)");
    }
    inv->action = Action::kLogin;
    inv->request.mutable_login()->set_login(p.positionals.empty() ? "" : p.positionals[0]);
    inv->file = Flag(p, "--password-file").value_or("");
  } else if (cmd == "logout") {
    RETURN_IF_ERROR(ExpectPositionals(p, {}));
    inv->action = Action::kLogout;
    inv->request.mutable_logout();
  } else if (cmd == "passwd") {
    RETURN_IF_ERROR(ExpectPositionals(p, {}));
    inv->action = Action::kPasswd;
    inv->request.mutable_passwd();
    inv->file = Flag(p, "--password-file").value_or("");
  } else if (cmd == "whoami") {
    RETURN_IF_ERROR(ExpectPositionals(p, {}));
    inv->request.mutable_whoami();
  } else if (cmd == "staff") {
    RETURN_IF_ERROR(BuildStaff(p, inv));
  } else if (cmd == "apikey") {
    RETURN_IF_ERROR(BuildApiKey(p, inv));
  } else if (cmd == "intake") {
    RETURN_IF_ERROR(ExpectPositionals(p, {}));
    inv->action = Action::kIntake;
    inv->file = Flag(p, "--file").value_or("");
    if (Flag(p, "--file") && inv->file.empty()) {
      return Usage("--file", "needs a file name (\"-\" for standard input)");
    }
  } else if (cmd == "inbox") {
    RETURN_IF_ERROR(ExpectPositionals(p, {}));
    inv->request.mutable_inbox()->set_include_closed(Flag(p, "--all").has_value());
  } else if (cmd == "referral") {
    RETURN_IF_ERROR(BuildReferral(p, inv));
  } else if (cmd == "correct") {
    RETURN_IF_ERROR(BuildCorrect(p, inv));
  } else if (cmd == "plan" || cmd == "followup") {
    RETURN_IF_ERROR(BuildPlan(p, inv));
  } else if (cmd == "find") {
    auto* f = inv->request.mutable_find();
    if (Flag(p, "--person")) {
      RETURN_IF_ERROR(ExpectPositionals(p, {}));
      inv->action = Action::kFindPerson;
      if (auto sex = Flag(p, "--sex")) {
        ASSIGN_OR_RETURN(v1::Sex s, ParseEnumFlag<v1::Sex>(v1::Sex_descriptor(), *sex, "--sex"));
        f->set_sex(s);
      }
    } else {
      RETURN_IF_ERROR(ExpectPositionals(p, {"REFERENCE"}));
      if (Flag(p, "--sex")) {
        return Usage("--sex", "only narrows a --person search");
      }
      if (auto r = core::ParseCaseReference(p.positionals[0], "REFERENCE"); !r.ok()) {
        return Usage("REFERENCE", r.status().message());
      }
      f->set_reference(p.positionals[0]);
    }
  } else if (cmd == "journey") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"CASE"}));
    RETURN_IF_ERROR(CheckCase(p.positionals[0], "CASE"));
    inv->request.mutable_journey()->set_case_id(p.positionals[0]);
  } else if (cmd == "note") {
    RETURN_IF_ERROR(BuildNote(p, inv));
  } else if (cmd == "document") {
    RETURN_IF_ERROR(BuildDocument(p, inv));
  } else if (cmd == "personal") {
    RETURN_IF_ERROR(ExpectPositionals(p, {"CASE"}));
    RETURN_IF_ERROR(CheckCase(p.positionals[0], "CASE"));
    auto* r = inv->request.mutable_personal();
    r->set_case_id(p.positionals[0]);
    r->set_purpose(Flag(p, "--purpose").value_or(""));
    if (auto suspect = Flag(p, "--suspect")) {
      RETURN_IF_ERROR(CheckId(*suspect, "--suspect"));
      r->set_suspect_id(*suspect);
    }
  } else if (cmd == "cases") {
    RETURN_IF_ERROR(BuildCases(p, inv));
  } else if (cmd == "stats") {
    RETURN_IF_ERROR(BuildStats(p, inv));
  } else if (cmd == "report") {
    RETURN_IF_ERROR(BuildCrimeReport(p, inv));
  } else if (cmd == "consent" || cmd == "service" || cmd == "proceeding" || cmd == "return" ||
             cmd == "close" || cmd == "refer") {
    RETURN_IF_ERROR(BuildEventCommand(p, inv));
  } else if (cmd == "offence" || cmd == "offence-status" || cmd == "suspect" ||
             cmd == "accused" || cmd == "smuggling") {
    RETURN_IF_ERROR(BuildCrimeCommand(p, inv));
  } else if (cmd == "fhir") {
    const std::string sub = p.positionals.empty() ? "" : p.positionals[0];
    inv->action = Action::kFhir;
    if (sub == "export") {
      RETURN_IF_ERROR(ExpectPositionals(p, {"export", "CASE", "REFERRAL_ID"}));
      RETURN_IF_ERROR(CheckCase(p.positionals[1], "CASE"));
      RETURN_IF_ERROR(CheckId(p.positionals[2], "REFERRAL_ID"));
      if (Flag(p, "--case")) {
        return Usage("--case", "only with fhir import (export names the case as CASE)");
      }
      inv->command = "fhir export";
      auto* x = inv->request.mutable_fhir()->mutable_export_referral();
      x->set_case_id(p.positionals[1]);
      x->set_referral_id(p.positionals[2]);
      inv->file = Flag(p, "--out").value_or("");
    } else if (sub == "import") {
      RETURN_IF_ERROR(ExpectPositionals(p, {"import", "FILE"}));
      if (Flag(p, "--out")) {
        return Usage("--out", "only with fhir export");
      }
      inv->command = "fhir import";
      auto* x = inv->request.mutable_fhir()->mutable_import_bundle();
      if (auto c = Flag(p, "--case")) {
        RETURN_IF_ERROR(CheckCase(*c, "--case"));
        x->set_case_id(*c);
      }
      inv->file = p.positionals[1];
    } else {
      return Usage("", sub.empty() ? "missing subcommand: passagectl fhir export|import"
                                   : "unknown subcommand '" + sub +
                                         "' (passagectl fhir export|import)");
    }
  } else if (cmd == "export-ctdc") {
    RETURN_IF_ERROR(ExpectPositionals(p, {}));
    auto* x = inv->request.mutable_export_ctdc();
    if (auto k = Flag(p, "--k")) {
      ASSIGN_OR_RETURN(uint64_t n, ParseCount(*k, "--k", 1, 1000));
      x->set_k(static_cast<uint32_t>(n));
    }
  } else if (cmd == "publish") {
    RETURN_IF_ERROR(ExpectPositionals(p, {}));
    inv->file = Flag(p, "--file").value_or("");
    if (inv->file.empty()) {
      return Usage("--file", "required: the event in JSON (\"-\" for standard input)");
    }
    inv->request.mutable_publish();
  } else if (cmd == "import-ctdc") {
    RETURN_IF_ERROR(BuildImport(p, inv));
  } else if (cmd == "keygen") {
    RETURN_IF_ERROR(ExpectPositionals(p, {}));
    inv->action = Action::kKeygen;
    inv->key_prefix = Flag(p, "--out").value_or("");
    if (inv->key_prefix.empty()) {
      return Usage("--out", "required: the path prefix of the key files, e.g. --out keys/ngo-x");
    }
    inv->overwrite = Flag(p, "--force").has_value();
  } else if (cmd == "keys") {
    if (p.positionals.empty() || p.positionals[0] != "show") {
      return Usage("", p.positionals.empty() ? "missing subcommand: passagectl keys show FILE..."
                                             : "unknown subcommand '" + p.positionals[0] +
                                                   "' (passagectl keys show)");
    }
    inv->command = "keys show";
    inv->action = Action::kKeysShow;
    inv->ops.files.assign(p.positionals.begin() + 1, p.positionals.end());
    inv->ops.public_only = Flag(p, "--public-only").has_value();
    inv->ops.tree_head = Flag(p, "--tree-head").value_or("");
    if (inv->ops.files.empty() && inv->ops.tree_head.empty()) {
      return Usage("KEY_FILE", "give at least one key file (or --tree-head SEED_FILE)");
    }
    if (inv->ops.public_only && (inv->ops.files.size() != 1 || !inv->ops.tree_head.empty())) {
      return Usage("--public-only", "takes exactly one key file (its public line is printed)");
    }
  } else if (cmd == "config") {
    if (p.positionals.empty() || p.positionals[0] != "check") {
      return Usage("", p.positionals.empty() ? "missing subcommand: passagectl config check FILE..."
                                             : "unknown subcommand '" + p.positionals[0] +
                                                   "' (passagectl config check)");
    }
    inv->command = "config check";
    inv->action = Action::kConfigCheck;
    inv->ops.files.assign(p.positionals.begin() + 1, p.positionals.end());
    inv->ops.root = Flag(p, "--root").value_or("");
    inv->ops.registry = Flag(p, "--registry").value_or("");
    if (inv->ops.files.empty()) {
      return Usage("FILE", "give at least one configuration file");
    }
    while (inv->ops.root.size() > 1 && inv->ops.root.back() == '/') {
      inv->ops.root.pop_back();
    }
  } else if (cmd == "audit") {
    RETURN_IF_ERROR(BuildAudit(p, inv));
  } else if (cmd == "replay") {
    RETURN_IF_ERROR(BuildReplay(p, inv));
  } else if (cmd == "admin") {
    RETURN_IF_ERROR(BuildAdmin(p, inv));
  }
  return Status::Ok();
}

}  // namespace

int ExitCodeFor(v1::ControlCode code) {
  switch (code) {
    case v1::CONTROL_CODE_OK:
      return kExitOk;
    case v1::CONTROL_CODE_REFUSED:
    case v1::CONTROL_CODE_FORBIDDEN:
      return kExitRefused;
    case v1::CONTROL_CODE_UNAUTHENTICATED:
      return kExitNotSignedIn;
    case v1::CONTROL_CODE_INVALID:
      return kExitUsage;
    case v1::CONTROL_CODE_NOT_FOUND:
      return kExitNotFound;
    case v1::CONTROL_CODE_UNAVAILABLE:
      return kExitUnavailable;
    default:
      return kExitInternal;
  }
}

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kNotFound:
      return kExitNotFound;
    case StatusCode::kPermissionDenied:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists:
      return kExitRefused;
    case StatusCode::kUnavailable:
      return kExitUnavailable;
    default:
      return kExitInternal;
  }
}

std::string HelpText(std::string_view command) {
  if (command.empty()) {
    return std::string(kToolHelp);
  }
  if (command == "help") {
    return "usage: passagectl help [COMMAND]\n\nShows the help of passagectl, or of COMMAND.\n" +
           std::string(kGlobalFooter);
  }
  if (command == "consent withdraw") {
    command = "consent";
  }
  const CommandSpec* spec = FindCommand(command);
  if (spec == nullptr) {
    return "";
  }
  return std::string(spec->help) + std::string(kGlobalFooter);
}

int64_t LocalUtcOffsetSeconds(int64_t utc_ms) {
  const time_t t = static_cast<time_t>(utc_ms / 1000 - (utc_ms % 1000 < 0 ? 1 : 0));
  struct tm local {};
  if (localtime_r(&t, &local) == nullptr) {
    return 0;
  }
  return local.tm_gmtoff;
}

Result<int64_t> ParseTime(std::string_view text, std::string_view field, const UtcOffsetFn& local,
                          bool end_of_day) {
  const std::string t = Trim(text);
  auto bad = [&](const std::string& why) -> Status {
    return Usage(std::string(field),
                 "'" + t + "' is not a time: " + why +
                     " (write 2026-11-28T23:59:00Z, 2026-11-28T23:59:00+05:00, a local "
                     "2026-11-28 23:59, or a date 2026-11-28)");
  };
  auto num = [&](size_t pos, size_t len, int64_t* out) {
    if (pos + len > t.size()) {
      return false;
    }
    int64_t v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (t[i] < '0' || t[i] > '9') {
        return false;
      }
      v = v * 10 + (t[i] - '0');
    }
    *out = v;
    return true;
  };
  int64_t y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!num(0, 4, &y) || t.size() < 10 || t[4] != '-' || !num(5, 2, &mo) || t[7] != '-' ||
      !num(8, 2, &d)) {
    return bad("it does not start with a date YYYY-MM-DD");
  }
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] || (mo == 2 && d == 29 && !leap)) {
    return bad("there is no such date");
  }
  const int64_t days =
      core::DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  constexpr int64_t kDayMs = 86'400'000;
  // The instant whose local reading is `civil_ms` (read as if UTC); the second look settles a
  // guess that fell on the other side of a change of offset.
  auto from_local = [&](int64_t civil_ms) {
    const int64_t guess = civil_ms - local(civil_ms) * 1000;
    return civil_ms - local(guess) * 1000;
  };
  if (t.size() == 10) {
    return end_of_day ? from_local((days + 1) * kDayMs) - 1 : from_local(days * kDayMs);
  }
  if ((t[10] != 'T' && t[10] != 't' && t[10] != ' ') || !num(11, 2, &h) || t.size() < 16 ||
      t[13] != ':' || !num(14, 2, &mi)) {
    return bad("the date must be followed by a time HH:MM");
  }
  size_t pos = 16;
  if (pos < t.size() && t[pos] == ':') {
    if (!num(pos + 1, 2, &sec)) {
      return bad("seconds need two digits");
    }
    pos += 3;
  }
  int64_t frac_ms = 0;
  if (pos < t.size() && t[pos] == '.') {
    size_t digits = 0;
    ++pos;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      if (digits < 3) {
        frac_ms = frac_ms * 10 + (t[pos] - '0');
      }
      ++digits;
      ++pos;
    }
    if (digits == 0) {
      return bad("a '.' needs digits after it");
    }
    for (size_t i = digits; i < 3; ++i) {
      frac_ms *= 10;
    }
  }
  if (h > 23 || mi > 59 || sec > 60) {
    return bad("there is no such time of day");
  }
  const int64_t civil_ms = ((days * 24 + h) * 60 + mi) * 60'000 + sec * 1000 + frac_ms;
  const std::string zone = t.substr(pos);
  if (zone.empty()) {
    return from_local(civil_ms);
  }
  if (zone == "Z" || zone == "z") {
    return civil_ms;
  }
  int64_t oh = 0, om = 0;
  const bool colon = zone.size() == 6 && zone[3] == ':';
  if ((zone[0] != '+' && zone[0] != '-') || (zone.size() != 6 && zone.size() != 5) ||
      !num(pos + 1, 2, &oh) || !num(pos + (colon ? 4 : 3), 2, &om) ||
      (zone.size() == 6 && !colon)) {
    return bad("'" + zone + "' is not a time zone offset (Z, +05:00 or -0300)");
  }
  if (oh > 18 || om > 59) {
    return bad("the offset " + zone + " is beyond 18 hours");
  }
  const int64_t offset_ms = (oh * 60 + om) * 60'000 * (zone[0] == '-' ? -1 : 1);
  return civil_ms - offset_ms;
}

void ApplyIntakeDefaults(v1::IntakeRequest* intake) {
  if (intake->person_role() == v1::PERSON_ROLE_UNSPECIFIED) {
    intake->set_person_role(intake->crime_type() == v1::CRIME_TYPE_SOM
                                ? v1::PERSON_ROLE_SMUGGLED_MIGRANT
                                : v1::PERSON_ROLE_PRESUMED_VICTIM);
  }
}

// The commands whose answer holds a list, for --format csv ("staff" and the like: their list
// subcommand).
bool AnswersWithAList(const std::string& command, const std::vector<std::string>& positionals) {
  const std::string sub = positionals.empty() ? "" : positionals[0];
  return command == "inbox" || command == "cases" || command == "stats" || command == "report" ||
         command == "find" || (command == "staff" && sub == "list") ||
         (command == "apikey" && sub == "list") || (command == "note" && sub == "list") ||
         (command == "plan" && sub == "due") || (command == "audit" && sub == "access");
}

Status ApplyFormat(const Parsed& p, Invocation* inv) {
  if (!p.format) {
    return Status::Ok();
  }
  const std::string f = Trim(*p.format);
  if (f != "text" && f != "json" && f != "csv") {
    const std::string near = core::Nearest(f, {"text", "json", "csv"});
    return Usage("--format", "'" + f + "' is not text, json or csv" +
                                 (near.empty() ? "" : "; did you mean " + near + "?"));
  }
  if (p.json && f != "json") {
    return Usage("--format", "--json asks for json; give one of them");
  }
  if (f == "csv" && !AnswersWithAList(p.command, p.positionals)) {
    return Usage("--format",
                 "csv is for commands that answer with a list (inbox, cases, staff list, apikey "
                 "list, note list, plan due, stats, report, audit access, find); " +
                     p.command + " does not");
  }
  inv->json = f == "json" || (f == "csv" && p.command != "report");
  inv->csv = f == "csv";
  return Status::Ok();
}

Result<Invocation> ParseArgs(const std::vector<std::string>& args, std::string_view env_node,
                             const UtcOffsetFn& local) {
  Parsed p;
  p.local = &local;
  for (const auto& a : args) {  // `--help` anywhere (before `--`) asks for help
    if (a == "--") {
      break;
    }
    p.help = p.help || a == "-h" || a == "--help";
  }
  Status tokens = Tokenize(args, &p);
  // `--help` anywhere wins over errors in the other arguments, as long as the command is known.
  if (!tokens.ok() && !(p.help && (p.command.empty() || FindCommand(p.command) != nullptr))) {
    return tokens;
  }
  Invocation inv;
  inv.command = p.command;
  if (p.command == "help") {
    std::string topic = p.positionals.empty() ? "" : p.positionals[0];
    if (topic == "consent" && p.positionals.size() > 1) {
      topic = "consent withdraw";
    }
    inv.help = HelpText(topic);
    if (inv.help.empty()) {
      return Usage("COMMAND", "unknown command '" + topic + "' (try passagectl --help)");
    }
    inv.action = Action::kHelp;
    return inv;
  }
  if (p.help) {
    inv.action = Action::kHelp;
    inv.help = HelpText(p.command);
    return inv;
  }
  if (p.command.empty()) {
    return Usage("COMMAND", "missing (try passagectl --help)");
  }
  inv.json = p.json;
  RETURN_IF_ERROR(ApplyFormat(p, &inv));
  if (p.timeout) {
    ASSIGN_OR_RETURN(uint64_t t, ParseCount(*p.timeout, "--timeout", 1, kMaxTimeoutMs));
    inv.timeout_ms = static_cast<int>(t);
  }
  RETURN_IF_ERROR(BuildCommand(p, &inv));
  const CommandSpec* spec = FindCommand(p.command);
  if (spec != nullptr && (spec->needs_node || inv.needs_node)) {
    std::string node = p.node.value_or(std::string(env_node));
    if (Trim(node).empty()) {
      return Usage("--node", "no node given: use --node DIR|ENDPOINT or set PASSAGE_NODE");
    }
    inv.endpoint = NodeEndpoint(node);
  }
  inv.request.set_json(inv.json);
  return inv;
}

}  // namespace passage::ctl
