#include "core/strict_json.h"

#include <set>
#include <string>

namespace passage::core {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  Status Document(const Descriptor* type) {
    Space();
    RETURN_IF_ERROR(Value(type, nullptr, "", 0));
    Space();
    if (pos_ != text_.size()) {
      return Error("", "more text after the JSON value");
    }
    return Status::Ok();
  }

 private:
  Status Error(const std::string& path, const std::string& reason) const {
    return Status::InvalidArgument(path, reason + " (at byte " + std::to_string(pos_) + ")");
  }

  void Space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Eat(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  // `type`: the message this value is (objects); `field`: the field it belongs to, when it is a
  // field's value (lists are checked against it).
  Status Value(const Descriptor* type, const FieldDescriptor* field, const std::string& path,
               int depth) {
    if (depth > kMaxJsonDepth) {
      return Error(path, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    if (pos_ >= text_.size()) {
      return Error(path, "the text ends where a value was expected");
    }
    const char c = text_[pos_];
    const bool list_field = field != nullptr && field->is_repeated() && !field->is_map();
    if (list_field && c != '[' && !Literal("null")) {
      return Error(path, "expects a list ([...]), not a single value");
    }
    if (list_field && c == '[') {
      return List(field, path, depth);
    }
    if (c == '{') {
      const Descriptor* inner = type;
      if (field != nullptr) {
        inner = field->is_map() || field->message_type() == nullptr ? nullptr
                                                                     : field->message_type();
      }
      return Object(field != nullptr && field->is_map() ? nullptr : inner, path, depth);
    }
    if (c == '[') {
      return List(nullptr, path, depth);
    }
    if (c == '"') {
      std::string ignored;
      return String(path, &ignored);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      return Number(path);
    }
    for (std::string_view word : {"true", "false", "null"}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return Status::Ok();
      }
    }
    return Error(path, std::string("'") + c + "' does not start a JSON value");
  }

  bool Literal(std::string_view word) const { return text_.substr(pos_, word.size()) == word; }

  // A well-known type (Struct, Value, Timestamp, ...) has its own JSON form: not checked against
  // its descriptor.
  static const Descriptor* Checked(const Descriptor* type) {
    if (type == nullptr || type->file()->package() == "google.protobuf") return nullptr;
    return type;
  }

  Status Object(const Descriptor* type, const std::string& path, int depth) {
    type = Checked(type);
    ++pos_;  // '{'
    Space();
    if (Eat('}')) return Status::Ok();
    std::set<std::string> keys;
    for (;;) {
      Space();
      if (pos_ < text_.size() && text_[pos_] == '}') {
        return Error(path, "a trailing comma before '}'");
      }
      if (pos_ >= text_.size() || text_[pos_] != '"') {
        return Error(path, "expects a quoted key");
      }
      std::string key;
      RETURN_IF_ERROR(String(path, &key));
      const FieldDescriptor* field = nullptr;
      if (type != nullptr) {
        field = type->FindFieldByName(key);
        for (int i = 0; field == nullptr && i < type->field_count(); ++i) {
          if (type->field(i)->json_name() == key) field = type->field(i);
        }
      }
      const std::string name = field != nullptr ? field->name() : key;
      const std::string child = path.empty() ? name : path + "." + name;
      if (!keys.insert(name).second) {
        return Error(child, "is given twice in one object (which one counts would be a guess)");
      }
      Space();
      if (!Eat(':')) return Error(child, "expects ':' after the key");
      Space();
      RETURN_IF_ERROR(Value(field != nullptr ? field->message_type() : nullptr, field, child,
                            depth + 1));
      Space();
      if (Eat('}')) return Status::Ok();
      if (!Eat(',')) return Error(path, "expects ',' or '}'");
    }
  }

  // `field`: the repeated field this list is the value of (null for a list of no known field).
  Status List(const FieldDescriptor* field, const std::string& path, int depth) {
    ++pos_;  // '['
    Space();
    if (Eat(']')) return Status::Ok();
    for (int i = 0;; ++i) {
      Space();
      if (pos_ < text_.size() && text_[pos_] == ']') {
        return Error(path, "a trailing comma before ']'");
      }
      const std::string item = path + "[" + std::to_string(i) + "]";
      if (field != nullptr && pos_ < text_.size() && text_[pos_] == '[') {
        return Error(item, "a list inside a list: give the values in one list");
      }
      RETURN_IF_ERROR(Value(field != nullptr ? field->message_type() : nullptr, nullptr, item,
                            depth + 1));
      Space();
      if (Eat(']')) return Status::Ok();
      if (!Eat(',')) return Error(path, "expects ',' or ']'");
    }
  }

  Status Number(const std::string& path) {
    const size_t start = pos_;
    Eat('-');
    if (Eat('0')) {
    } else if (pos_ < text_.size() && text_[pos_] >= '1' && text_[pos_] <= '9') {
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    } else {
      return Error(path, "is not a number");
    }
    if (Eat('.')) {
      const size_t digits = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      if (pos_ == digits) return Error(path, "a number needs digits after '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (!Eat('+')) Eat('-');
      const size_t digits = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      if (pos_ == digits) return Error(path, "a number needs digits in its exponent");
    }
    (void)start;
    return Status::Ok();
  }

  static int Hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  Status Hex4(const std::string& path, unsigned* out) {
    if (pos_ + 4 > text_.size()) return Error(path, "a \\u escape needs four hex digits");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = Hex(text_[pos_ + static_cast<size_t>(i)]);
      if (h < 0) return Error(path, "a \\u escape needs four hex digits");
      v = v * 16 + static_cast<unsigned>(h);
    }
    pos_ += 4;
    *out = v;
    return Status::Ok();
  }

  // A string; its raw bytes must be UTF-8 and its escapes valid. `out` gets the key text (escapes
  // other than \" and \\ kept as written: keys are ASCII names).
  Status String(const std::string& path, std::string* out) {
    ++pos_;  // '"'
    for (;;) {
      if (pos_ >= text_.size()) return Error(path, "a string is not closed");
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return Status::Ok();
      }
      if (c < 0x20) {
        return Error(path, "holds a control character (code " + std::to_string(c) +
                               "); write it as an escape, e.g. \\n");
      }
      if (c == '\\') {
        ++pos_;
        if (pos_ >= text_.size()) return Error(path, "a string is not closed");
        const char e = text_[pos_++];
        if (e == 'u') {
          unsigned v = 0;
          RETURN_IF_ERROR(Hex4(path, &v));
          if (v >= 0xD800 && v <= 0xDBFF) {
            unsigned low = 0;
            if (!(Eat('\\') && Eat('u')) || !Hex4(path, &low).ok() || low < 0xDC00 ||
                low > 0xDFFF) {
              return Error(path, "is not UTF-8 text: a \\u escape starts a surrogate pair it "
                                 "does not finish");
            }
          } else if (v >= 0xDC00 && v <= 0xDFFF) {
            return Error(path, "is not UTF-8 text: a lone \\u escape of a low surrogate");
          }
          out->append("?");
          continue;
        }
        if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return Error(path, std::string("'\\") + e + "' is not a JSON escape");
        }
        out->push_back(e);
        continue;
      }
      // UTF-8: the lead byte says how many continuation bytes follow; no overlong forms, no
      // surrogates, nothing above U+10FFFF.
      size_t n = 0;
      unsigned cp = 0;
      if (c < 0x80) {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      } else if (c >= 0xC2 && c <= 0xDF) {
        n = 1;
        cp = c & 0x1F;
      } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2;
        cp = c & 0x0F;
      } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3;
        cp = c & 0x07;
      } else {
        return Error(path, "is not UTF-8 text (byte " + std::to_string(c) + ")");
      }
      if (pos_ + n >= text_.size()) return Error(path, "is not UTF-8 text (cut short)");
      for (size_t i = 1; i <= n; ++i) {
        const auto b = static_cast<unsigned char>(text_[pos_ + i]);
        if ((b & 0xC0) != 0x80) return Error(path, "is not UTF-8 text");
        cp = (cp << 6) | (b & 0x3F);
      }
      if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
          (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
        return Error(path, "is not UTF-8 text");
      }
      out->append(text_.substr(pos_, n + 1));
      pos_ += n + 1;
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

Status CheckStrictJson(std::string_view text, const Descriptor* type) {
  return Reader(text).Document(type);
}

}  // namespace passage::core
