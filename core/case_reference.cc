#include "core/case_reference.h"

#include <cctype>
#include <ctime>
#include <vector>

#include "core/codes.h"

namespace passage::core {
namespace {

// The weakly totally anti-symmetric quasigroup of order 10 from H. M. Damm's thesis (2004): row is
// the interim digit, column the next digit.
constexpr int kDamm[10][10] = {
    {0, 3, 1, 7, 5, 9, 8, 6, 4, 2}, {7, 0, 9, 2, 1, 5, 4, 8, 6, 3},
    {4, 2, 0, 6, 8, 7, 1, 3, 5, 9}, {1, 7, 5, 0, 9, 8, 3, 4, 2, 6},
    {6, 1, 2, 3, 0, 4, 5, 9, 7, 8}, {3, 6, 7, 4, 2, 0, 9, 5, 8, 1},
    {5, 8, 6, 9, 7, 2, 0, 1, 3, 4}, {8, 9, 4, 5, 3, 6, 2, 0, 1, 7},
    {9, 4, 3, 8, 6, 1, 7, 2, 0, 5}, {2, 5, 8, 1, 4, 3, 6, 7, 9, 0}};

constexpr char kShape[] =
    "a case reference has four parts, e.g. FIAKHI-26-00123-7: the agency's code, the year, the "
    "number and a check digit";

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return !s.empty();
}

}  // namespace

int DammCheckDigit(std::string_view digits) {
  int interim = 0;
  for (char c : digits) {
    if (c >= '0' && c <= '9') {
      interim = kDamm[interim][c - '0'];
    }
  }
  return interim;
}

bool IsReferenceCode(std::string_view code) {
  if (code.size() < 2 || code.size() > 6 || !(code[0] >= 'A' && code[0] <= 'Z')) {
    return false;
  }
  for (char c : code) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
      return false;
    }
  }
  return true;
}

std::string ReferenceCodeOf(const passage::v1::Agency& agency) {
  if (!agency.case_reference_code().empty()) {
    return agency.case_reference_code();
  }
  std::vector<std::string> words(1);
  for (char c : agency.id()) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      words.back().push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    } else if (!words.back().empty()) {
      words.emplace_back();
    }
  }
  if (words.back().empty()) {
    words.pop_back();
  }
  std::string code;
  if (words.size() == 1) {
    code = words[0].substr(0, 3);
  } else {
    for (const auto& w : words) {
      if (code.size() < 6) {
        code.push_back(w[0]);
      }
    }
  }
  while (!code.empty() && !(code[0] >= 'A' && code[0] <= 'Z')) {
    code.erase(0, 1);
  }
  while (code.size() < 2) {
    code.push_back('X');
  }
  return code;
}

std::string FormatCaseReference(std::string_view code, int year, uint64_t number) {
  char yy[3];
  std::snprintf(yy, sizeof(yy), "%02d", ((year % 100) + 100) % 100);
  std::string n = std::to_string(number);
  if (n.size() < 5) {
    n.insert(0, 5 - n.size(), '0');
  }
  const int check = DammCheckDigit(std::string(yy) + n);
  return std::string(code) + "-" + yy + "-" + n + "-" + std::to_string(check);
}

Result<std::string> ParseCaseReference(std::string_view text, const std::string& field) {
  std::vector<std::string> parts(1);
  for (char c : text) {
    if (c == '-' || c == ' ' || c == '\t') {
      if (!parts.back().empty()) {
        parts.emplace_back();
      }
    } else if (std::isalnum(static_cast<unsigned char>(c))) {
      parts.back().push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
      if (parts.size() > 4 || parts.back().size() > 12) {
        return Status::InvalidArgument(field, kShape);
      }
    } else {
      return Status::InvalidArgument(field, std::string(kShape) + "; it may hold only letters, "
                                                                  "digits, dashes and spaces");
    }
  }
  if (parts.back().empty()) {
    parts.pop_back();
  }
  if (parts.size() != 4) {
    return Status::InvalidArgument(field, kShape);
  }
  if (!IsReferenceCode(parts[0])) {
    return Status::InvalidArgument(
        field, "'" + parts[0] + "' is not an agency code: 2 to 6 letters or digits, from a letter");
  }
  if (parts[1].size() != 2 || !AllDigits(parts[1])) {
    return Status::InvalidArgument(field, "the year must be two digits, e.g. 26");
  }
  if (parts[2].size() > 9 || !AllDigits(parts[2])) {
    return Status::InvalidArgument(field, "the case number must be 1 to 9 digits");
  }
  if (parts[3].size() != 1 || !AllDigits(parts[3])) {
    return Status::InvalidArgument(field, "the check digit is one digit at the end");
  }
  const uint64_t number = std::stoull(parts[2]);
  const std::string canonical = FormatCaseReference(parts[0], std::stoi(parts[1]), number);
  if (canonical.back() != parts[3][0]) {
    return Status::InvalidArgument(field,
                                   "the check digit does not match: a digit was probably "
                                   "misheard or two were swapped; please check the reference");
  }
  return canonical;
}

bool LooksLikeCaseReference(std::string_view text) {
  if (ValidateUuid(text, "id").ok()) {
    return false;
  }
  for (char c : text) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      return true;
    }
  }
  return false;
}

int UtcYear(int64_t unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm.tm_year + 1900;
}

}  // namespace passage::core
