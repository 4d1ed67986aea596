#include "core/ctdc/ctdc_import.h"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "core/ctdc/country_codes.h"
#include "core/ctdc/csv.h"
#include "core/ctdc/ctdc_columns.h"
#include "core/validate.h"

namespace passage::ctdc {
namespace {

using internal::FlagColumn;

std::string_view Trim(std::string_view s) {
  auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && blank(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && blank(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Splits "a;b; c" into trimmed, non-empty parts.
std::vector<std::string_view> SplitList(std::string_view text) {
  std::vector<std::string_view> parts;
  while (!text.empty()) {
    std::size_t cut = text.find(';');
    std::string_view part = Trim(text.substr(0, cut));
    if (!part.empty()) {
      parts.push_back(part);
    }
    if (cut == std::string_view::npos) {
      break;
    }
    text.remove_prefix(cut + 1);
  }
  return parts;
}

// Column positions by lower-cased, trimmed header name (first occurrence wins).
class Header {
 public:
  explicit Header(const std::vector<std::string>& names) : size_(names.size()) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      std::string_view name = Trim(names[i]);
      index_.emplace(Lower(name), static_cast<int>(i));
    }
  }
  int Find(std::string_view name) const {
    auto it = index_.find(Lower(name));
    return it == index_.end() ? -1 : it->second;
  }
  bool Has(std::string_view name) const { return Find(name) >= 0; }
  std::size_t size() const { return size_; }

 private:
  std::unordered_map<std::string, int> index_;
  std::size_t size_;
};

// Collects errors up to a limit and counts the rest.
class ErrorSink {
 public:
  explicit ErrorSink(std::size_t max_errors, std::vector<Status>* out)
      : max_(max_errors), out_(out) {}
  void Add(Status status) {
    if (max_ == 0 || out_->size() < max_) {
      out_->push_back(std::move(status));
    } else {
      ++dropped_;
    }
  }
  void Finish() {
    if (dropped_ > 0) {
      out_->push_back(Status::InvalidArgument(
          "", std::to_string(dropped_) + " more errors were found and not listed"));
    }
  }

 private:
  std::size_t max_;
  std::vector<Status>* out_;
  std::size_t dropped_ = 0;
};

enum class Flag { kMissing, kNo, kYes };

// Maps one data row; records problems instead of stopping at the first.
class RowMapper {
 public:
  RowMapper(const Header& header, const CsvRow& row) : header_(header), row_(row) {}

  std::vector<Status>& errors() { return errors_; }

  std::string_view Cell(std::string_view name) const {
    int i = header_.Find(name);
    if (i < 0 || static_cast<std::size_t>(i) >= row_.fields.size()) {
      return {};
    }
    return Trim(row_.fields[static_cast<std::size_t>(i)]);
  }

  void Fail(std::string_view name, std::string_view what) {
    int i = header_.Find(name);
    errors_.push_back(Status::InvalidArgument(
        std::string(name), "line " + std::to_string(row_.line) + ", column " +
                               std::to_string(i + 1) + ": " + std::string(what)));
  }

  void FailValue(std::string_view name, std::string_view value, std::string_view expected) {
    Fail(name, "value '" + std::string(value) + "' is not " + std::string(expected));
  }

  Flag ReadFlag(std::string_view name) {
    std::string_view v = Cell(name);
    if (v.empty()) {
      return Flag::kMissing;
    }
    if (v == "1" || v == "1.0") {
      return Flag::kYes;
    }
    if (v == "0" || v == "0.0") {
      return Flag::kNo;
    }
    Fail(name, "flag value '" + std::string(v) + "' is not 0, 1 or empty");
    return Flag::kMissing;
  }

  // Reads a flag group; falls back to the *Concatenated text only when every flag is empty.
  void ReadGroup(std::span<const FlagColumn> flags, std::string_view concatenated,
                 std::set<int>* values) {
    bool any_flag = false;
    for (const FlagColumn& f : flags) {
      Flag v = ReadFlag(f.name);
      any_flag = any_flag || v != Flag::kMissing;
      if (v == Flag::kYes && f.value != 0) {
        values->insert(f.value);
      }
    }
    if (any_flag || concatenated.empty()) {
      return;
    }
    for (std::string_view part : SplitList(Cell(concatenated))) {
      for (const FlagColumn& f : flags) {
        if (f.exported && f.value != 0 && EqualsIgnoreCase(f.label, part)) {
          values->insert(f.value);
        }
      }
    }
  }

 private:
  const Header& header_;
  const CsvRow& row_;
  std::vector<Status> errors_;
};

std::optional<v1::Sex> ParseSex(std::string_view text) {
  std::string v = Lower(text);
  if (v.empty()) {
    return v1::SEX_UNSPECIFIED;
  }
  if (v == "female" || v == "woman") {
    return v1::SEX_FEMALE;
  }
  if (v == "male" || v == "man") {
    return v1::SEX_MALE;
  }
  if (v == "transgender/nonconforming" || v == "transgender/non-conforming" ||
      v == "trans/transgender/nonconforming" || v == "transgender" || v == "nonconforming" ||
      v == "non-conforming" || v == "other") {
    return v1::SEX_OTHER;
  }
  if (v == "unknown" || v == "not specified" || v == "not known") {
    return v1::SEX_UNKNOWN;
  }
  return std::nullopt;
}

std::optional<v1::MajorityStatus> ParseMajority(std::string_view text) {
  std::string v = Lower(text);
  if (v.empty() || v == "unknown" || v == "not specified") {
    return v1::MAJORITY_STATUS_UNSPECIFIED;
  }
  if (v == "minor") {
    return v1::MAJORITY_STATUS_MINOR;
  }
  if (v == "adult") {
    return v1::MAJORITY_STATUS_ADULT;
  }
  return std::nullopt;
}

std::optional<v1::RecruiterRelation> ParseRelation(std::string_view text) {
  std::string v = Lower(text);
  if (v == "intimate partner") {
    return v1::RECRUITER_RELATION_INTIMATE_PARTNER;
  }
  if (v == "friend/acquaintance" || v == "friend" || v == "acquaintance") {
    return v1::RECRUITER_RELATION_FRIEND;
  }
  if (v == "family/relative" || v == "family" || v == "relative") {
    return v1::RECRUITER_RELATION_FAMILY;
  }
  if (v == "other") {
    return v1::RECRUITER_RELATION_OTHER;
  }
  if (v == "not specified" || v == "unknown") {
    return v1::RECRUITER_RELATION_UNKNOWN;
  }
  return std::nullopt;
}

v1::IdentificationChannel ChannelFromDatasource(std::string_view datasource) {
  if (datasource.empty()) {
    return v1::IDENTIFICATION_CHANNEL_UNSPECIFIED;
  }
  if (EqualsIgnoreCase(datasource, "Case Management")) {
    return v1::IDENTIFICATION_CHANNEL_CASE_MANAGEMENT;
  }
  if (EqualsIgnoreCase(datasource, "Hotline")) {
    return v1::IDENTIFICATION_CHANNEL_HOTLINE;
  }
  return v1::IDENTIFICATION_CHANNEL_OTHER;
}

// Reads citizenship or CountryOfExploitation; "" when missing or on error.
std::string ReadCountry(RowMapper& m, std::string_view column) {
  std::string_view raw = m.Cell(column);
  internal::CountryCode code = internal::NormalizeCountryCode(raw);
  if (code.kind == internal::CountryCode::Kind::kInvalid) {
    m.FailValue(column, raw, "an ISO 3166-1 country code");
    return {};
  }
  return code.alpha2;
}

// Maps one row into `record`; returns the problems found (none: the record is good).
std::vector<Status> MapRow(const Header& header, const CsvRow& row, CtdcRecord* record) {
  RowMapper m(header, row);
  v1::Profile& p = record->profile;
  record->line = row.line;
  record->crime_type = v1::CRIME_TYPE_TIP;

  if (std::string_view year = m.Cell("yearOfRegistration"); !year.empty()) {
    bool digits = year.size() <= 4 && std::all_of(year.begin(), year.end(), [](char c) {
                    return std::isdigit(static_cast<unsigned char>(c)) != 0;
                  });
    int value = digits ? std::stoi(std::string(year)) : 0;
    if (value < core::kMinYearOfRegistration || value > core::kMaxYearOfRegistration) {
      m.FailValue("yearOfRegistration", year,
                  "a year between " + std::to_string(core::kMinYearOfRegistration) + " and " +
                      std::to_string(core::kMaxYearOfRegistration));
    } else {
      p.set_year_of_registration(value);
    }
  } else {
    p.set_year_of_registration_unknown(true);  // not the year of the import
  }

  record->datasource = std::string(m.Cell("Datasource"));
  p.set_identification_channel(ChannelFromDatasource(record->datasource));

  if (std::string_view g = m.Cell("gender"); std::optional<v1::Sex> sex = ParseSex(g)) {
    p.set_sex(*sex);
  } else {
    m.FailValue("gender", g, "a CTDC gender (Female, Male, Transgender/NonConforming)");
  }

  v1::AgeBand band = v1::AGE_BAND_UNSPECIFIED;
  if (std::string_view a = m.Cell("ageBroad"); ParseAgeBand(a, &band)) {
    p.set_age_band(band);
  } else {
    m.FailValue("ageBroad", a, "a CTDC age band (0--8, 9--17, ..., 39--47, 48+)");
  }

  if (std::string_view s = m.Cell("majorityStatus");
      std::optional<v1::MajorityStatus> ms = ParseMajority(s)) {
    p.set_majority_at_identification(*ms);
  } else {
    m.FailValue("majorityStatus", s, "Minor, Adult or empty");
  }
  if (std::string_view s = m.Cell("majorityStatusAtExploit");
      std::optional<v1::MajorityStatus> ms = ParseMajority(s)) {
    p.set_majority_at_exploitation(*ms);
  } else {
    m.FailValue("majorityStatusAtExploit", s, "Minor, Adult or empty");
  }

  if (std::string c = ReadCountry(m, "citizenship"); !c.empty()) {
    p.add_citizenship(std::move(c));
  }
  p.set_country_of_exploitation(ReadCountry(m, "CountryOfExploitation"));

  std::set<int> forms;
  Flag sex_and_labour = m.ReadFlag(internal::kSexAndLabourColumn);
  if (sex_and_labour == Flag::kYes) {
    forms.insert(v1::EXPLOITATION_FORM_FORCED_LABOUR);
    forms.insert(v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION);
  }
  m.ReadGroup(internal::kExploitationFlags,
              sex_and_labour == Flag::kMissing ? "typeOfExploitConcatenated" : "", &forms);
  for (int v : forms) {
    p.add_exploitation_forms(static_cast<v1::ExploitationForm>(v));
  }

  std::set<int> sectors;
  m.ReadGroup(internal::kLabourFlags, "typeOfLabourConcatenated", &sectors);
  for (int v : sectors) {
    p.add_labour_sectors(static_cast<v1::LabourSector>(v));
  }

  std::set<int> sex_types;
  m.ReadGroup(internal::kSexFlags, "typeOfSexConcatenated", &sex_types);
  for (int v : sex_types) {
    p.add_sexual_exploitation_types(static_cast<v1::SexualExploitationType>(v));
  }

  std::set<int> means;
  m.ReadGroup(internal::kMeansOfControlFlags, "meansOfControlConcatenated", &means);
  for (int v : means) {
    p.add_means_of_control(static_cast<v1::MeansOfControl>(v));
  }

  std::set<int> relations;
  m.ReadGroup(internal::kRecruiterFlags, "", &relations);
  std::string_view relationship = m.Cell("RecruiterRelationship");
  for (std::string_view part : SplitList(relationship)) {
    if (std::optional<v1::RecruiterRelation> r = ParseRelation(part)) {
      relations.insert(*r);
    } else {
      m.FailValue("RecruiterRelationship", part,
                  "a CTDC recruiter relation (Intimate Partner, Friend/Acquaintance, "
                  "Family/Relative, Other, Not Specified)");
    }
  }
  if (relations.size() > 1) {
    relations.erase(v1::RECRUITER_RELATION_UNKNOWN);
  }
  for (int v : relations) {
    p.add_recruiter_relations(static_cast<v1::RecruiterRelation>(v));
  }

  p.set_is_abduction(m.ReadFlag("isAbduction") == Flag::kYes);

  return std::move(m.errors());
}

// Every column name the importer knows, lower-cased.
std::set<std::string> KnownColumns() {
  std::set<std::string> known;
  for (std::string_view name : internal::kGlobalColumns) {
    known.insert(Lower(name));
  }
  for (std::span<const FlagColumn> group :
       {std::span<const FlagColumn>(internal::kMeansOfControlFlags),
        std::span<const FlagColumn>(internal::kLabourFlags),
        std::span<const FlagColumn>(internal::kSexFlags)}) {
    for (const FlagColumn& f : group) {
      known.insert(Lower(f.name));
    }
  }
  known.insert("traffickmonths");
  return known;
}

int CountKnown(std::string_view header_line, char separator) {
  static const std::set<std::string> kKnown = KnownColumns();
  CsvOptions options;
  options.separator = separator;
  Result<std::vector<CsvRow>> rows = ParseCsv(header_line, options);
  if (!rows.ok() || rows->empty()) {
    return 0;
  }
  int n = 0;
  for (const std::string& name : rows->front().fields) {
    n += kKnown.count(Lower(Trim(name))) > 0 ? 1 : 0;
  }
  return n;
}

char DetectSeparator(std::string_view csv) {
  if (csv.starts_with("\xef\xbb\xbf")) {
    csv.remove_prefix(3);
  }
  std::size_t end = csv.find_first_of("\r\n");
  std::string_view first = csv.substr(0, end);
  return CountKnown(first, ',') > CountKnown(first, ';') ? ',' : ';';
}

CtdcLayout DetectLayout(const Header& header, const std::vector<std::string>& names) {
  bool terms = !names.empty() && Trim(names.front()).starts_with(internal::kTermsOfUsePrefix);
  std::size_t global = 0;
  for (std::string_view name : internal::kGlobalColumns) {
    global += header.Has(name) ? 1 : 0;
  }
  if (terms || global == std::size(internal::kGlobalColumns)) {
    return CtdcLayout::kGlobalKAnon;
  }
  if (header.Has("traffickMonths") || header.Has("meansDebtBondageEarnings") ||
      header.Has("meansAbusePsyPhySex")) {
    return CtdcLayout::kSynthetic;
  }
  return CtdcLayout::kOther;
}

}  // namespace

bool ParseAgeBand(std::string_view text, v1::AgeBand* band) {
  text = Trim(text);
  if (text.empty()) {
    *band = v1::AGE_BAND_UNSPECIFIED;
    return true;
  }
  for (std::size_t i = 0; i < std::size(internal::kAgeBandTexts); ++i) {
    std::string_view canonical = internal::kAgeBandTexts[i];
    std::string single(canonical);
    if (std::size_t at = single.find("--"); at != std::string::npos) {
      single.erase(at, 1);
    }
    if (text == canonical || text == single) {
      *band = static_cast<v1::AgeBand>(i + 1);
      return true;
    }
  }
  return false;
}

std::string_view AgeBandText(v1::AgeBand band) {
  int i = static_cast<int>(band);
  if (i < 1 || i > static_cast<int>(std::size(internal::kAgeBandTexts))) {
    return {};
  }
  return internal::kAgeBandTexts[i - 1];
}

ImportResult ImportCtdcString(std::string_view csv, const ImportOptions& options) {
  ImportResult result;
  ErrorSink sink(options.max_errors, &result.errors);

  CsvOptions csv_options;
  csv_options.separator = options.separator != '\0' ? options.separator : DetectSeparator(csv);
  std::istringstream in{std::string(csv)};
  Result<CsvReader> opened = CsvReader::Open(in, csv_options);
  if (!opened.ok()) {
    sink.Add(opened.status());
    return result;
  }
  CsvReader& reader = *opened;

  Result<std::optional<CsvRow>> first = reader.Next();
  if (!first.ok()) {
    sink.Add(first.status().WithContext("header row"));
    sink.Finish();
    return result;
  }
  std::optional<CsvRow>& header_row = *first;
  if (!header_row.has_value()) {
    sink.Add(Status::InvalidArgument("", "the input is empty: no CTDC header row"));
    sink.Finish();
    return result;
  }
  Header header(header_row->fields);
  if (!header.Has("gender") && !header.Has("ageBroad") && !header.Has("citizenship")) {
    sink.Add(Status::InvalidArgument(
        "", "line " + std::to_string(header_row->line) +
                ": not a CTDC file: the header has none of the columns gender, ageBroad, "
                "citizenship (separator '" +
                std::string(1, csv_options.separator) + "')"));
    sink.Finish();
    return result;
  }
  result.layout = DetectLayout(header, header_row->fields);

  for (;;) {
    Result<std::optional<CsvRow>> next = reader.Next();
    if (!next.ok()) {
      ++result.rows_rejected;
      sink.Add(next.status());
      continue;
    }
    if (!next->has_value()) {
      break;
    }
    const CsvRow& row = **next;
    if (row.fields.size() != header.size()) {
      ++result.rows_rejected;
      sink.Add(Status::InvalidArgument(
          "", "line " + std::to_string(row.line) + ", column " +
                  std::to_string(std::min(row.fields.size(), header.size()) + 1) + ": row has " +
                  std::to_string(row.fields.size()) + " fields but the header has " +
                  std::to_string(header.size())));
      continue;
    }
    CtdcRecord record;
    std::vector<Status> problems = MapRow(header, row, &record);
    if (!problems.empty()) {
      ++result.rows_rejected;
      for (Status& s : problems) {
        sink.Add(std::move(s));
      }
      continue;
    }
    result.records.push_back(std::move(record));
  }
  sink.Finish();
  return result;
}

ImportResult ImportCtdc(std::istream& in, const ImportOptions& options) {
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return ImportCtdcString(text, options);
}

}  // namespace passage::ctdc
