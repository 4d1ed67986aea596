#include "services/ctl/csv_output.h"

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "core/codes.h"

namespace passage::ctl {
namespace {

// A parsed JSON value that keeps the order of an object's members.
struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  std::string text;  // kBool "true"/"false", kNumber as written, kString decoded
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  bool Plain() const { return kind != Kind::kArray && kind != Kind::kObject; }
};

constexpr int kMaxDepth = 64;

class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in) {}

  Result<Json> Document() {
    Json v;
    RETURN_IF_ERROR(Value(&v, 0));
    Space();
    if (pos_ != in_.size()) {
      return Fail("text after the end");
    }
    return v;
  }

 private:
  Status Fail(const std::string& why) const {
    return Status::InvalidArgument(
        "--format",
        "the node's answer is not JSON (" + why + " at byte " + std::to_string(pos_) + ")");
  }

  void Space() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\n' || in_[pos_] == '\r' || in_[pos_] == '\t')) {
      ++pos_;
    }
  }

  bool Eat(char c) {
    Space();
    if (pos_ < in_.size() && in_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  bool Word(std::string_view w) {
    if (in_.substr(pos_, w.size()) == w) {
      pos_ += w.size();
      return true;
    }
    return false;
  }

  Status Value(Json* v, int depth) {
    if (depth > kMaxDepth) {
      return Fail("nested too deep");
    }
    Space();
    if (pos_ >= in_.size()) {
      return Fail("unexpected end");
    }
    const char c = in_[pos_];
    if (c == '{') {
      ++pos_;
      v->kind = Json::Kind::kObject;
      if (Eat('}')) {
        return Status::Ok();
      }
      do {
        Space();
        std::string key;
        RETURN_IF_ERROR(String(&key));
        if (!Eat(':')) {
          return Fail("':' expected");
        }
        Json member;
        RETURN_IF_ERROR(Value(&member, depth + 1));
        v->members.emplace_back(std::move(key), std::move(member));
      } while (Eat(','));
      return Eat('}') ? Status::Ok() : Fail("'}' expected");
    }
    if (c == '[') {
      ++pos_;
      v->kind = Json::Kind::kArray;
      if (Eat(']')) {
        return Status::Ok();
      }
      do {
        Json item;
        RETURN_IF_ERROR(Value(&item, depth + 1));
        v->items.push_back(std::move(item));
      } while (Eat(','));
      return Eat(']') ? Status::Ok() : Fail("']' expected");
    }
    if (c == '"') {
      v->kind = Json::Kind::kString;
      return String(&v->text);
    }
    if (Word("true")) {
      v->kind = Json::Kind::kBool;
      v->text = "true";
      return Status::Ok();
    }
    if (Word("false")) {
      v->kind = Json::Kind::kBool;
      v->text = "false";
      return Status::Ok();
    }
    if (Word("null")) {
      return Status::Ok();
    }
    const size_t start = pos_;
    while (pos_ < in_.size() && (std::string_view("+-.eE0123456789").find(in_[pos_]) !=
                                 std::string_view::npos)) {
      ++pos_;
    }
    if (pos_ == start) {
      return Fail("a value expected");
    }
    v->kind = Json::Kind::kNumber;
    v->text = std::string(in_.substr(start, pos_ - start));
    return Status::Ok();
  }

  static void Utf8(unsigned cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  Status Hex4(unsigned* out) {
    if (pos_ + 4 > in_.size()) {
      return Fail("a \\u escape needs four hex digits");
    }
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = in_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') {
        v |= static_cast<unsigned>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        v |= static_cast<unsigned>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        v |= static_cast<unsigned>(h - 'A' + 10);
      } else {
        return Fail("a \\u escape needs four hex digits");
      }
    }
    *out = v;
    return Status::Ok();
  }

  Status String(std::string* out) {
    if (pos_ >= in_.size() || in_[pos_] != '"') {
      return Fail("a string expected");
    }
    ++pos_;
    while (pos_ < in_.size()) {
      const char c = in_[pos_++];
      if (c == '"') {
        return Status::Ok();
      }
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= in_.size()) {
        break;
      }
      const char e = in_[pos_++];
      switch (e) {
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'u': {
          unsigned cp = 0;
          RETURN_IF_ERROR(Hex4(&cp));
          if (cp >= 0xD800 && cp < 0xDC00 && Word("\\u")) {
            unsigned low = 0;
            RETURN_IF_ERROR(Hex4(&low));
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          Utf8(cp, out);
          break;
        }
        default: out->push_back(e); break;
      }
    }
    return Fail("a string is not closed");
  }

  std::string_view in_;
  size_t pos_ = 0;
};

bool IsListOfObjects(const Json& v) {
  if (v.kind != Json::Kind::kArray) {
    return false;
  }
  for (const Json& item : v.items) {
    if (item.kind != Json::Kind::kObject) {
      return false;
    }
  }
  return true;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// A field's cell, under the column name it goes in.
using Cells = std::vector<std::pair<std::string, std::string>>;

void Flatten(const Json& v, const std::string& name, Cells* out) {
  if (v.kind == Json::Kind::kObject) {
    for (const auto& [key, member] : v.members) {
      Flatten(member, name.empty() ? key : name + "." + key, out);
    }
    return;
  }
  if (v.kind == Json::Kind::kArray) {
    std::string joined;
    for (const Json& item : v.items) {
      if (!item.Plain()) {
        return;  // a list of objects inside a row: left out
      }
      joined += (joined.empty() ? "" : "; ") + item.text;
    }
    out->emplace_back(name, joined);
    return;
  }
  // A time in Unix ms (protobuf JSON writes int64 as a string), after 1973.
  if (name.size() > 3 && name.ends_with("_ms") && AllDigits(v.text) && v.text.size() >= 12 &&
      v.text.size() <= 15) {
    out->emplace_back(name.substr(0, name.size() - 3), core::FormatUtcMs(std::stoll(v.text)));
    return;
  }
  out->emplace_back(name, v.text);
}

bool IsNumber(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  size_t i = s[0] == '-' || s[0] == '+' ? 1 : 0;
  bool digit = false;
  bool dot = false;
  for (; i < s.size(); ++i) {
    if (s[i] >= '0' && s[i] <= '9') {
      digit = true;
    } else if (s[i] == '.' && !dot) {
      dot = true;
    } else {
      return false;
    }
  }
  return digit;
}

}  // namespace

std::string CsvCell(std::string_view text) {
  std::string cell(text);
  if (!cell.empty() && std::string_view("=+-@\t\r").find(cell[0]) != std::string_view::npos &&
      !IsNumber(cell)) {
    cell.insert(0, "'");
  }
  if (cell.find_first_of(",\"\r\n") == std::string::npos) {
    return cell;
  }
  std::string quoted = "\"";
  for (char c : cell) {
    if (c == '"') {
      quoted.push_back('"');
    }
    quoted.push_back(c);
  }
  return quoted + "\"";
}

Result<std::string> JsonListToCsv(std::string_view json) {
  ASSIGN_OR_RETURN(Json root, Parser(json).Document());
  // The lists of rows, with their names, and the plain members repeated on every row.
  std::vector<std::pair<std::string, const Json*>> lists;
  Cells shared;
  if (IsListOfObjects(root)) {
    lists.emplace_back("", &root);
  } else if (root.kind == Json::Kind::kObject) {
    for (const auto& [key, member] : root.members) {
      if (member.kind == Json::Kind::kArray && !member.items.empty() && IsListOfObjects(member)) {
        lists.emplace_back(key, &member);
      } else if (member.kind == Json::Kind::kArray && member.items.empty()) {
        lists.emplace_back(key, &member);  // an empty list still gives the header
      } else if (member.Plain()) {
        shared.emplace_back(key, member.text);
      }
    }
  }
  if (lists.empty()) {
    return Status::InvalidArgument(
        "--format", "this command's answer holds no list to write as CSV; use --format json");
  }
  const bool named = lists.size() > 1;
  std::vector<std::string> columns;
  std::vector<Cells> rows;
  auto column = [&columns](const std::string& name) {
    for (const std::string& c : columns) {
      if (c == name) {
        return;
      }
    }
    columns.push_back(name);
  };
  if (named) {
    column("list");
  }
  for (const auto& [name, _] : shared) {
    column(name);
  }
  for (const auto& [list_name, list] : lists) {
    for (const Json& item : list->items) {
      Cells row;
      if (named) {
        row.emplace_back("list", list_name);
      }
      row.insert(row.end(), shared.begin(), shared.end());
      Flatten(item, "", &row);
      for (const auto& [name, _] : row) {
        column(name);
      }
      rows.push_back(std::move(row));
    }
  }
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i) {
    out += (i ? "," : "") + CsvCell(columns[i]);
  }
  out += "\r\n";
  for (const Cells& row : rows) {
    for (size_t i = 0; i < columns.size(); ++i) {
      out += i ? "," : "";
      for (const auto& [name, value] : row) {
        if (name == columns[i]) {
          out += CsvCell(value);
          break;
        }
      }
    }
    out += "\r\n";
  }
  return out;
}

}  // namespace passage::ctl
