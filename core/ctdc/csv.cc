#include "core/ctdc/csv.h"

#include <sstream>
#include <utility>

namespace passage::ctdc {
namespace {

constexpr int kEof = std::char_traits<char>::eof();

std::string Printable(int c) {
  if (c >= 0x20 && c < 0x7f) {
    return std::string("'") + static_cast<char>(c) + "'";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "byte 0x";
  out.push_back(kHex[(c >> 4) & 0xf]);
  out.push_back(kHex[c & 0xf]);
  return out;
}

}  // namespace

Status ValidateCsvOptions(const CsvOptions& options) {
  auto bad = [](char c) { return c == '\r' || c == '\n'; };
  if (bad(options.separator) || bad(options.quote)) {
    return Status::InvalidArgument("csv_options", "separator and quote may not be CR or LF");
  }
  if (options.separator == options.quote) {
    return Status::InvalidArgument("csv_options", "separator and quote must differ");
  }
  if (options.max_field_bytes == 0) {
    return Status::InvalidArgument("csv_options.max_field_bytes", "must be positive");
  }
  return Status::Ok();
}

Result<CsvReader> CsvReader::Open(std::istream& in, const CsvOptions& options) {
  RETURN_IF_ERROR(ValidateCsvOptions(options));
  return CsvReader(in, options);
}

CsvReader::CsvReader(std::istream& in, const CsvOptions& options)
    : buf_(in.rdbuf()), options_(options) {}

int CsvReader::Peek() {
  if (!pending_.empty()) {
    return static_cast<unsigned char>(pending_.front());
  }
  if (buf_ == nullptr) {
    return kEof;
  }
  return buf_->sgetc();
}

int CsvReader::Get() {
  int c;
  if (!pending_.empty()) {
    c = static_cast<unsigned char>(pending_.front());
    pending_.erase(0, 1);
  } else if (buf_ == nullptr) {
    return kEof;
  } else {
    c = buf_->sbumpc();
  }
  if (c == kEof) {
    return c;
  }
  if (c == '\n') {
    ++line_;
    column_ = 1;
  } else if (c == '\r') {
    if (Peek() == '\n') {
      ++column_;  // the LF that follows ends the line
    } else {
      ++line_;
      column_ = 1;
    }
  } else {
    ++column_;
  }
  return c;
}

void CsvReader::SkipBom() {
  static constexpr unsigned char kBom[] = {0xef, 0xbb, 0xbf};
  std::string seen;
  for (unsigned char b : kBom) {
    if (buf_ == nullptr || buf_->sgetc() != b) {
      pending_ = std::move(seen);  // not a BOM: replay what was taken
      return;
    }
    seen.push_back(static_cast<char>(buf_->sbumpc()));
  }
}

void CsvReader::ConsumeEol() {
  int c = Get();
  if (c == '\r' && Peek() == '\n') {
    Get();
  }
}

void CsvReader::SkipRestOfLine() {
  for (;;) {
    int c = Peek();
    if (c == kEof) {
      return;
    }
    if (c == '\n' || c == '\r') {
      ConsumeEol();
      return;
    }
    Get();
  }
}

Status CsvReader::Error(int line, int column, std::string_view what) {
  return Status::InvalidArgument("", "line " + std::to_string(line) + ", column " +
                                         std::to_string(column) + ": " + std::string(what));
}

Result<std::optional<CsvRow>> CsvReader::Next() {
  if (done_) {
    return std::optional<CsvRow>();
  }
  if (!started_) {
    started_ = true;
    SkipBom();
  }
  for (;;) {  // skip empty physical lines
    int c = Peek();
    if (c == kEof) {
      done_ = true;
      return std::optional<CsvRow>();
    }
    if (c != '\n' && c != '\r') {
      break;
    }
    ConsumeEol();
  }

  CsvRow row;
  row.line = line_;
  std::string field;
  const char sep = options_.separator;
  const char quote = options_.quote;
  auto too_long = [&](int line, int column) {
    Status st = Error(line, column,
                      "field longer than " + std::to_string(options_.max_field_bytes) + " bytes");
    SkipRestOfLine();
    return st;
  };

  for (;;) {  // one field per iteration
    field.clear();
    int c = Peek();
    if (c == static_cast<unsigned char>(quote)) {
      const int open_line = line_;
      const int open_column = column_;
      Get();
      for (;;) {
        const int at_line = line_;
        const int at_column = column_;
        c = Get();
        if (c == kEof) {
          done_ = true;
          return Error(open_line, open_column,
                       "quoted field opened here is not closed before the end of the input");
        }
        if (c == static_cast<unsigned char>(quote)) {
          if (Peek() != static_cast<unsigned char>(quote)) {
            break;
          }
          Get();
        }
        if (field.size() >= options_.max_field_bytes) {
          return too_long(at_line, at_column);
        }
        field.push_back(static_cast<char>(c));
      }
      c = Peek();
      if (c != static_cast<unsigned char>(sep) && c != '\n' && c != '\r' && c != kEof) {
        Status st = Error(line_, column_,
                          "unexpected " + Printable(c) +
                              " after a closing quote (a quoted field must end at a separator "
                              "or the end of the line)");
        SkipRestOfLine();
        return st;
      }
    } else {
      for (;;) {
        c = Peek();
        if (c == static_cast<unsigned char>(sep) || c == '\n' || c == '\r' || c == kEof) {
          break;
        }
        if (c == static_cast<unsigned char>(quote)) {
          Status st = Error(line_, column_,
                            "quote character inside an unquoted field (quote the whole field "
                            "and double the quote)");
          SkipRestOfLine();
          return st;
        }
        if (field.size() >= options_.max_field_bytes) {
          return too_long(line_, column_);
        }
        field.push_back(static_cast<char>(Get()));
      }
    }
    row.fields.push_back(std::move(field));
    c = Peek();
    if (c == static_cast<unsigned char>(sep)) {
      Get();
      continue;
    }
    if (c != kEof) {
      ConsumeEol();
    }
    return std::optional<CsvRow>(std::move(row));
  }
}

Result<std::vector<CsvRow>> ParseCsv(std::string_view text, const CsvOptions& options) {
  std::istringstream in{std::string(text)};
  ASSIGN_OR_RETURN(CsvReader reader, CsvReader::Open(in, options));
  std::vector<CsvRow> rows;
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<CsvRow> row, reader.Next());
    if (!row.has_value()) {
      return rows;
    }
    rows.push_back(std::move(*row));
  }
}

std::string FormatCsvRow(std::span<const std::string> fields, const CsvOptions& options) {
  std::string out;
  const char sep = options.separator;
  const char quote = options.quote;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) {
      out.push_back(sep);
    }
    const std::string& f = fields[i];
    bool needs_quotes = f.find_first_of(std::string{sep, quote, '\r', '\n'}) != std::string::npos;
    if (!f.empty() &&
        (f.front() == ' ' || f.front() == '\t' || f.back() == ' ' || f.back() == '\t')) {
      needs_quotes = true;
    }
    if (fields.size() == 1 && f.empty()) {
      needs_quotes = true;
    }
    if (!needs_quotes) {
      out += f;
      continue;
    }
    out.push_back(quote);
    for (char c : f) {
      if (c == quote) {
        out.push_back(quote);
      }
      out.push_back(c);
    }
    out.push_back(quote);
  }
  return out;
}

}  // namespace passage::ctdc
