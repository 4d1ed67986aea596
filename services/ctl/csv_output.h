#pragma once

// passagectl --format csv: the list in a node's JSON answer as CSV for a spreadsheet
// (docs/passagectl.md, "Output formats"). Pure; no I/O.
//
// The rows are the objects of the answer's lists: the answer itself when it is a list (inbox,
// cases), or every member of the answer object that is a list of objects (note list: "notes" and
// "documents"; stats: "cells"). When the answer holds more than one such list, a first column
// `list` names the one a row comes from. The answer's other plain members (a note list's
// `case_id`) are repeated on every row.
//
// Columns are the rows' fields in the order they first appear, nested objects flattened with
// dots (`values.sex`); a list of plain values becomes one cell joined with "; "; a list of objects
// inside a row (a referral's history) is left out (use --json for it). A field ending in `_ms`
// that holds a time after 1973 becomes an RFC 3339 UTC time in a column without the `_ms`
// (`respond_by_ms` -> `respond_by`).
//
// CSV as RFC 4180: a header row, comma separated, CRLF line ends, a cell quoted when it holds a
// comma, a quote, CR or LF. A text cell a spreadsheet would run as a formula (starting with '=',
// '+', '-', '@', a tab or CR, and not a number) is written with a leading apostrophe.

#include <string>
#include <string_view>

#include "core/status.h"

namespace passage::ctl {

// Errors: InvalidArgument naming `--format` when `json` is not JSON or holds no list of objects.
Result<std::string> JsonListToCsv(std::string_view json);

// One CSV cell, quoted and guarded against formulas as above.
std::string CsvCell(std::string_view text);

}  // namespace passage::ctl
