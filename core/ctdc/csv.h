#pragma once

// CSV reading and writing for the CTDC importer and exporter (RFC 4180 with a configurable
// separator: CTDC's global dataset uses ';', its synthetic dataset ',').
//
// Grammar accepted by CsvReader (S = separator, Q = quote, both configurable):
//
//   input  = [BOM] *(row eol / empty-line) [row]
//   row    = field *(S field)
//   field  = quoted / bare
//   quoted = Q *(any byte but Q / Q Q) Q      ; may hold S, CR and LF; Q Q is one Q
//   bare   = *(any byte but S, Q, CR, LF)
//   eol    = CR LF / LF / CR
//
// A UTF-8 byte-order mark (EF BB BF) before the first row is dropped. Empty physical lines are
// skipped: they would be rows of one empty field, which CTDC files never contain (the writer
// quotes such a row as `""` so that it survives).
//
// Errors (kInvalidArgument, message "line L, column C: ..."; L and C are 1-based, C counts bytes
// from the start of the physical line): a quote inside a bare field, anything but S or an eol
// after a closing quote, a quoted field still open at the end of the input, a field longer than
// CsvOptions::max_field_bytes. After an error the reader skips to the end of that physical line
// and may be called again, so one malformed row costs one row (an unclosed quote costs the rest
// of the input).
//
// Thread-safety: a CsvReader is used by one thread at a time and borrows its stream, which must
// outlive it. The free functions are pure.

#include <cstddef>
#include <istream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace passage::ctdc {

struct CsvOptions {
  char separator = ';';
  char quote = '"';
  // Longest field accepted, in bytes; guards memory against a runaway quoted field.
  std::size_t max_field_bytes = std::size_t{1} << 20;
};

// OK when the separator and the quote differ and neither is CR or LF.
Status ValidateCsvOptions(const CsvOptions& options);

struct CsvRow {
  std::vector<std::string> fields;
  int line = 0;  // physical line (1-based) on which the row starts
};

// Streams rows out of an std::istream.
class CsvReader {
 public:
  // Fails with kInvalidArgument when `options` does not pass ValidateCsvOptions.
  static Result<CsvReader> Open(std::istream& in, const CsvOptions& options = {});

  // The next row, or std::nullopt at the end of the input. A non-OK status describes one
  // malformed row; the reader has skipped past it and the caller may carry on.
  Result<std::optional<CsvRow>> Next();

 private:
  CsvReader(std::istream& in, const CsvOptions& options);

  int Peek();
  int Get();
  void SkipBom();
  void ConsumeEol();
  void SkipRestOfLine();
  Status Error(int line, int column, std::string_view what);

  std::streambuf* buf_;  // null when the stream has none: reads as empty
  CsvOptions options_;
  std::string pending_;  // bytes read while looking for a BOM, replayed first
  int line_ = 1;         // position of the next byte
  int column_ = 1;
  bool started_ = false;
  bool done_ = false;
};

// Reads every row of `text`; fails on the first malformed row.
Result<std::vector<CsvRow>> ParseCsv(std::string_view text, const CsvOptions& options = {});

// One row without a line ending. A field is quoted when it contains the separator, the quote,
// CR or LF, or has leading or trailing blanks; a row of a single empty field is written `""`.
std::string FormatCsvRow(std::span<const std::string> fields, const CsvOptions& options = {});

}  // namespace passage::ctdc
