#include "services/ctl/names.h"

#include <cctype>
#include <charconv>

#include "core/codes.h"

namespace passage::ctl {

std::string ShortName(const google::protobuf::EnumDescriptor* type, int value) {
  std::string s = core::ShortEnumName(type, value);
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string EnumChoices(const google::protobuf::EnumDescriptor* type, std::string_view separator) {
  std::string out;
  for (int i = 0; i < type->value_count(); ++i) {
    int number = type->value(i)->number();
    if (number == 0) {
      continue;
    }
    if (!out.empty()) {
      out += separator;
    }
    out += ShortName(type, number);
  }
  return out;
}

Result<int> ParseEnumName(const google::protobuf::EnumDescriptor* type, std::string_view text,
                          std::string_view field) {
  std::string key = Trim(text);
  for (char& c : key) {
    c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (!key.empty()) {
    for (int i = 0; i < type->value_count(); ++i) {
      const google::protobuf::EnumValueDescriptor* v = type->value(i);
      if (v->number() == 0) {
        continue;
      }
      std::string short_name = core::ShortEnumName(type, v->number());
      if (key == short_name || key == v->name()) {
        return v->number();
      }
    }
  }
  std::string shown = Trim(text);
  return Status::InvalidArgument(
      std::string(field),
      (shown.empty() ? std::string("a value is required") : "'" + shown + "' is not known") +
          "; one of: " + EnumChoices(type, ", "));
}

std::string Trim(std::string_view text) {
  size_t b = 0;
  size_t e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) {
    ++b;
  }
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) {
    --e;
  }
  return std::string(text.substr(b, e - b));
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) {
      comma = text.size();
    }
    std::string item = Trim(text.substr(start, comma - start));
    if (!item.empty()) {
      out.push_back(std::move(item));
    }
    start = comma + 1;
  }
  return out;
}

Result<uint64_t> ParseCount(std::string_view text, std::string_view field, uint64_t min,
                            uint64_t max) {
  std::string t = Trim(text);
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) {
    return Status::InvalidArgument(std::string(field), "'" + t + "' is not a whole number");
  }
  if (v < min || v > max) {
    return Status::InvalidArgument(
        std::string(field),
        std::to_string(v) + " is outside " + std::to_string(min) + ".." + std::to_string(max));
  }
  return v;
}

}  // namespace passage::ctl
