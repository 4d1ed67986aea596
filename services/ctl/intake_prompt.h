#pragma once

// The interactive intake of `passagectl intake` (no --file, standard input a terminal): asks for
// each value of an IntakeRequest in the words a case worker uses, accepts the short lower-case
// names ("tip", "female", "forced_labour", "share_with_agencies"), and asks again, with the reason,
// when an answer is not valid. Ends with a summary and a confirmation.
//
// Questions, in order (empty answers leave optional values unrecorded):
//   crime type (tip/som/both/undetermined), sex, age in years or an age band (and whether the age
//   is estimated), citizenship (ISO codes, comma list), country of identification (default PK),
//   province of identification (ISO 3166-2, e.g. PK-SD), forms of exploitation (comma list),
//   identification channel, consents (comma list of scopes) and who gave them, given and family
//   name (sealed on the node).
//
// Thread-safety: uses the streams it is given; one call at a time per stream pair.

#include <istream>
#include <ostream>

#include "core/status.h"
#include "passage/v1/control.pb.h"

namespace passage::ctl {

// Asks on `out`, reads answers from `in`. Errors: InvalidArgument ("intake") when input ends or the
// summary is not confirmed; nothing is recorded then.
Result<passage::v1::IntakeRequest> PromptIntake(std::istream& in, std::ostream& out);

}  // namespace passage::ctl
