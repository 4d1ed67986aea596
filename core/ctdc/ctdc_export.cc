#include "core/ctdc/ctdc_export.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/ctdc/csv.h"
#include "core/ctdc/ctdc_columns.h"
#include "core/ctdc/ctdc_import.h"

namespace passage::ctdc {
namespace {

using internal::FlagColumn;

std::size_t Col(std::string_view name) {
  for (std::size_t i = 0; i < std::size(internal::kGlobalColumns); ++i) {
    if (internal::kGlobalColumns[i] == name) {
      return i;
    }
  }
  return std::size(internal::kGlobalColumns);  // unreachable for the names used below
}

const std::size_t kYear = Col("yearOfRegistration");
const std::size_t kGender = Col("gender");
const std::size_t kAge = Col("ageBroad");
const std::size_t kCitizenship = Col("citizenship");
const std::size_t kCountry = Col("CountryOfExploitation");

struct Row {
  std::vector<std::string> cells;  // in kGlobalColumns order
  bool generalised = false;
  bool suppressed = false;
};

std::string_view SexText(v1::Sex sex) {
  switch (sex) {
    case v1::SEX_FEMALE:
      return "Female";
    case v1::SEX_MALE:
      return "Male";
    case v1::SEX_OTHER:
      return "Transgender/NonConforming";
    case v1::SEX_UNKNOWN:
      return "Unknown";
    default:
      return "";
  }
}

std::string_view MajorityText(v1::MajorityStatus status) {
  switch (status) {
    case v1::MAJORITY_STATUS_MINOR:
      return "Minor";
    case v1::MAJORITY_STATUS_ADULT:
      return "Adult";
    default:
      return "";
  }
}

std::string_view DatasourceText(v1::IdentificationChannel channel) {
  switch (channel) {
    case v1::IDENTIFICATION_CHANNEL_UNSPECIFIED:
      return "";
    case v1::IDENTIFICATION_CHANNEL_CASE_MANAGEMENT:
      return "Case Management";
    case v1::IDENTIFICATION_CHANNEL_HOTLINE:
      return "Hotline";
    default:
      return "Other";
  }
}

v1::AgeBand BandFromYears(std::uint32_t years) {
  if (years <= 8) {
    return v1::AGE_BAND_0_8;
  }
  if (years <= 17) {
    return v1::AGE_BAND_9_17;
  }
  if (years <= 20) {
    return v1::AGE_BAND_18_20;
  }
  if (years <= 23) {
    return v1::AGE_BAND_21_23;
  }
  if (years <= 26) {
    return v1::AGE_BAND_24_26;
  }
  if (years <= 29) {
    return v1::AGE_BAND_27_29;
  }
  if (years <= 38) {
    return v1::AGE_BAND_30_38;
  }
  if (years <= 47) {
    return v1::AGE_BAND_39_47;
  }
  return v1::AGE_BAND_48_PLUS;
}

// Writes one flag group: "1"/"0" per exported flag and the labels of the set values, or all
// empty when `values` is empty.
void WriteGroup(std::span<const FlagColumn> flags, const std::set<int>& values,
                std::string_view concatenated, std::string_view joiner, Row* row) {
  if (values.empty()) {
    return;
  }
  std::string labels;
  for (const FlagColumn& f : flags) {
    if (!f.exported) {
      continue;
    }
    bool set = f.value != 0 && values.count(f.value) > 0;
    row->cells[Col(f.name)] = set ? "1" : "0";
    if (set) {
      if (!labels.empty()) {
        labels += joiner;
      }
      labels += f.label;
    }
  }
  if (!concatenated.empty()) {
    row->cells[Col(concatenated)] = std::move(labels);
  }
}

template <typename Repeated>
std::set<int> ToSet(const Repeated& repeated) {
  std::set<int> out;
  for (int v : repeated) {
    if (v != 0) {
      out.insert(v);
    }
  }
  return out;
}

Row BuildRow(const v1::Profile& p) {
  Row row;
  row.cells.resize(std::size(internal::kGlobalColumns));
  auto& c = row.cells;
  if (p.year_of_registration() != 0) {
    c[kYear] = std::to_string(p.year_of_registration());
  }
  c[Col("Datasource")] = DatasourceText(p.identification_channel());
  c[kGender] = SexText(p.sex());
  v1::AgeBand band = p.age_band();
  if (band == v1::AGE_BAND_UNSPECIFIED && p.has_age_years()) {
    band = BandFromYears(p.age_years());
  }
  c[kAge] = AgeBandText(band);
  c[Col("majorityStatus")] = MajorityText(p.majority_at_identification());
  c[Col("majorityStatusAtExploit")] = MajorityText(p.majority_at_exploitation());
  if (p.citizenship_size() > 0) {
    c[kCitizenship] = p.citizenship(0);
  }
  c[kCountry] = p.country_of_exploitation();

  WriteGroup(internal::kMeansOfControlFlags, ToSet(p.means_of_control()),
             "meansOfControlConcatenated", ";", &row);

  std::set<int> forms;
  for (int v : ToSet(p.exploitation_forms())) {
    bool has_flag = std::any_of(std::begin(internal::kExploitationFlags),
                                std::end(internal::kExploitationFlags),
                                [v](const FlagColumn& f) { return f.value == v; });
    forms.insert(has_flag ? v : static_cast<int>(v1::EXPLOITATION_FORM_OTHER));
  }
  WriteGroup(internal::kExploitationFlags, forms, "typeOfExploitConcatenated", ";", &row);
  if (!forms.empty()) {
    bool both = forms.count(v1::EXPLOITATION_FORM_FORCED_LABOUR) > 0 &&
                forms.count(v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION) > 0;
    c[Col(internal::kSexAndLabourColumn)] = both ? "1" : "0";
  }

  std::set<int> sectors;
  for (int v : ToSet(p.labour_sectors())) {
    sectors.insert(v == v1::LABOUR_SECTOR_BRICK_KILNS ? static_cast<int>(v1::LABOUR_SECTOR_OTHER)
                                                      : v);
  }
  WriteGroup(internal::kLabourFlags, sectors, "typeOfLabourConcatenated", ";", &row);
  WriteGroup(internal::kSexFlags, ToSet(p.sexual_exploitation_types()), "typeOfSexConcatenated",
             ";", &row);
  WriteGroup(internal::kRecruiterFlags, ToSet(p.recruiter_relations()), "RecruiterRelationship",
             "; ", &row);
  if (p.is_abduction()) {
    c[Col("isAbduction")] = "1";
  }
  return row;
}

std::string QiKey(const Row& row) {
  std::string key;
  for (std::size_t i : {kGender, kAge, kCitizenship, kCountry, kYear}) {
    key += row.cells[i];
    key.push_back('\x1f');
  }
  return key;
}

// One step of the rule: rows of classes smaller than k get column `blank` emptied, or are
// suppressed when `blank` is npos.
void ApplyStep(std::vector<Row>& rows, int k, std::size_t blank) {
  std::unordered_map<std::string, int> counts;
  for (const Row& r : rows) {
    if (!r.suppressed) {
      ++counts[QiKey(r)];
    }
  }
  for (Row& r : rows) {
    if (r.suppressed || counts[QiKey(r)] >= k) {
      continue;
    }
    if (blank == std::string::npos) {
      r.suppressed = true;
    } else if (!r.cells[blank].empty()) {
      r.cells[blank].clear();
      r.generalised = true;
    }
  }
}

}  // namespace

Result<ExportResult> ExportCtdcCsv(std::span<const v1::Profile> profiles,
                                   const ExportOptions& options) {
  if (options.k < 0) {
    return Status::InvalidArgument("k", "must not be negative");
  }
  if (options.line_ending != "\r\n" && options.line_ending != "\n") {
    return Status::InvalidArgument("line_ending", "must be \"\\r\\n\" or \"\\n\"");
  }
  CsvOptions csv;
  csv.separator = options.separator;
  RETURN_IF_ERROR(ValidateCsvOptions(csv));

  std::vector<Row> rows;
  rows.reserve(profiles.size());
  for (const v1::Profile& p : profiles) {
    rows.push_back(BuildRow(p));
  }

  ExportResult result;
  if (options.k >= 2) {
    for (std::size_t column : {kCitizenship, kAge, kYear}) {
      ApplyStep(rows, options.k, column);
    }
    ApplyStep(rows, options.k, std::string::npos);
  }

  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].suppressed) {
      ++result.rows_suppressed;
    } else {
      order.push_back(i);
    }
  }
  if (options.sort_rows) {
    std::stable_sort(order.begin(), order.end(), [&rows](std::size_t a, std::size_t b) {
      const auto& x = rows[a].cells;
      const auto& y = rows[b].cells;
      return std::tie(x[kYear], x[kGender], x[kAge], x[kCitizenship], x[kCountry]) <
             std::tie(y[kYear], y[kGender], y[kAge], y[kCitizenship], y[kCountry]);
    });
  }

  const bool index = !options.index_column_header.empty();
  std::vector<std::string> header;
  if (index) {
    header.push_back(options.index_column_header);
  }
  for (std::string_view name : internal::kGlobalColumns) {
    header.emplace_back(name);
  }
  result.csv = FormatCsvRow(header, csv) + options.line_ending;
  for (std::size_t i : order) {
    Row& row = rows[i];
    if (index) {
      row.cells.insert(row.cells.begin(), std::string());
    }
    result.csv += FormatCsvRow(row.cells, csv);
    result.csv += options.line_ending;
    ++result.rows_written;
    result.rows_generalised += row.generalised ? 1 : 0;
  }
  return result;
}

}  // namespace passage::ctdc
