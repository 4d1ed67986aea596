#include "core/statistics.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "core/codes.h"
#include "core/referral_state_machine.h"

namespace passage::core {
namespace {

using passage::v1::CaseState;
using passage::v1::Referral;

// Sort position of "not recorded", "unregistered", "withheld": after every real value.
constexpr int64_t kLast = std::numeric_limits<int64_t>::max();

using Value = StatsValue;

struct DimensionInfo {
  Dimension dimension;
  std::string_view name;
};

constexpr DimensionInfo kDimensions[] = {
    {Dimension::kSex, "sex"},
    {Dimension::kAgeBand, "age_band"},
    {Dimension::kMajority, "majority"},
    {Dimension::kCitizenship, "citizenship"},
    {Dimension::kCountry, "country"},
    {Dimension::kForm, "form"},
    {Dimension::kCrimeType, "crime_type"},
    {Dimension::kChannel, "channel"},
    {Dimension::kAgencyType, "agency_type"},
    {Dimension::kStage, "stage"},
    {Dimension::kOutcome, "outcome"},
    {Dimension::kYear, "year"},
    {Dimension::kMinorityGroup, "minority_group"},
    {Dimension::kDisability, "disability"},
};

constexpr DimensionInfo kAliases[] = {
    {Dimension::kMajority, "minor_adult"},     {Dimension::kCountry, "country_of_exploitation"},
    {Dimension::kForm, "exploitation_form"},   {Dimension::kChannel, "identification_channel"},
    {Dimension::kOutcome, "referral_outcome"}, {Dimension::kYear, "year_of_registration"},
};

Value EnumValue(const google::protobuf::EnumDescriptor* type, int number) {
  return Value{number == 0 ? kLast : number, ShortEnumName(type, number)};
}

Value TextValue(const std::string& text) {
  return text.empty() ? Value{kLast, "unknown"} : Value{0, text};
}

bool HasStatisticsConsent(const CaseState& c) {
  for (const passage::v1::Consent& consent : c.consents()) {
    if (consent.scope() == passage::v1::CONSENT_SCOPE_STATISTICS &&
        consent.withdrawn_at_ms() == 0) {
      return true;
    }
  }
  return false;
}

Value SensitiveValue(const CaseState& c, bool has, bool value) {
  if (!HasStatisticsConsent(c)) {
    return Value{kLast, "withheld"};
  }
  if (!has) {
    return Value{kLast - 1, "unknown"};
  }
  return value ? Value{1, "yes"} : Value{2, "no"};
}

// The values `d` gives the unit (case `c`, referral `r` when the unit is a referral); distinct and
// sorted, never empty.
std::vector<Value> ValuesOf(Dimension d, const CaseState& c, const Referral* r,
                            const AgencyDirectory& agencies) {
  const passage::v1::Profile& p = c.profile();
  std::vector<Value> out;
  switch (d) {
    case Dimension::kSex:
      out.push_back(EnumValue(passage::v1::Sex_descriptor(), p.sex()));
      break;
    case Dimension::kAgeBand: {
      const std::string_view text = AgeBandCtdcText(p.age_band());
      out.push_back(text.empty() ? Value{kLast, "unknown"}
                                 : Value{static_cast<int64_t>(p.age_band()), std::string(text)});
      break;
    }
    case Dimension::kMajority: {
      passage::v1::MajorityStatus m = p.majority_at_identification();
      if (m == passage::v1::MAJORITY_STATUS_UNSPECIFIED) {
        m = MajorityForAgeBand(p.age_band());
      }
      out.push_back(EnumValue(passage::v1::MajorityStatus_descriptor(), m));
      break;
    }
    case Dimension::kCitizenship:
      out.push_back(TextValue(p.citizenship().empty() ? std::string() : p.citizenship(0)));
      break;
    case Dimension::kCountry:
      out.push_back(TextValue(p.country_of_exploitation()));
      break;
    case Dimension::kForm:
      for (int form : p.exploitation_forms()) {
        out.push_back(EnumValue(passage::v1::ExploitationForm_descriptor(), form));
      }
      if (out.empty()) {
        out.push_back(EnumValue(passage::v1::ExploitationForm_descriptor(), 0));
      }
      break;
    case Dimension::kCrimeType:
      out.push_back(EnumValue(passage::v1::CrimeType_descriptor(), c.crime_type()));
      break;
    case Dimension::kChannel:
      out.push_back(
          EnumValue(passage::v1::IdentificationChannel_descriptor(), p.identification_channel()));
      break;
    case Dimension::kAgencyType: {
      const passage::v1::Agency* owner = agencies.Find(c.owner_agency());
      out.push_back(owner == nullptr
                        ? Value{kLast, "unregistered"}
                        : EnumValue(passage::v1::AgencyType_descriptor(), owner->type()));
      break;
    }
    case Dimension::kStage:
      for (int stage : c.stages()) {
        out.push_back(EnumValue(passage::v1::Stage_descriptor(), stage));
      }
      if (out.empty()) {
        out.push_back(EnumValue(passage::v1::Stage_descriptor(), 0));
      }
      break;
    case Dimension::kOutcome:
      out.push_back(EnumValue(passage::v1::ReferralStatus_descriptor(),
                              r == nullptr ? 0 : static_cast<int>(r->status())));
      break;
    case Dimension::kYear: {
      int32_t year = p.year_of_registration();
      if (year == 0 && c.opened_at_ms() != 0) {
        year = UtcYearOfMs(c.opened_at_ms());
      }
      out.push_back(year == 0 ? Value{kLast, "unknown"} : Value{year, std::to_string(year)});
      break;
    }
    case Dimension::kMinorityGroup:
      out.push_back(SensitiveValue(c, p.has_minority_group(), p.minority_group()));
      break;
    case Dimension::kDisability:
      out.push_back(SensitiveValue(c, p.has_disability(), p.disability()));
      break;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// A dense table: every combination of the values of each axis, row-major (axis 0 slowest).
struct Grid {
  std::vector<std::vector<Value>> axes;
  std::vector<int64_t> strides;
  std::vector<int64_t> counts;
  std::vector<bool> suppressed;

  int64_t size() const { return static_cast<int64_t>(counts.size()); }
  int64_t AxisSize(size_t d) const { return static_cast<int64_t>(axes[d].size()); }
  size_t Position(int64_t index, size_t d) const {
    return static_cast<size_t>((index / strides[d]) % AxisSize(d));
  }
};

// Sizes the grid for its axes; InvalidArgument above kMaxStatsCells.
Status Allocate(Grid* g) {
  int64_t total = 1;
  for (const std::vector<Value>& axis : g->axes) {
    const int64_t n = std::max<int64_t>(1, static_cast<int64_t>(axis.size()));
    if (total > kMaxStatsCells / n) {
      return Status::InvalidArgument("by", "the table would have more than " +
                                               std::to_string(kMaxStatsCells) +
                                               " combinations of values; ask for fewer dimensions");
    }
    total *= n;
  }
  for (const std::vector<Value>& axis : g->axes) {
    if (axis.empty()) {
      total = 0;  // no value on some axis (e.g. no cases at all): no cell to count or show
    }
  }
  g->strides.assign(g->axes.size(), 1);
  for (size_t d = g->axes.size(); d-- > 1;) {
    g->strides[d - 1] = g->strides[d] * g->AxisSize(d);
  }
  g->counts.assign(static_cast<size_t>(total), 0);
  g->suppressed.assign(static_cast<size_t>(total), false);
  return Status::Ok();
}

// Primary and complementary suppression, as the header describes.
void Suppress(Grid* g, int k) {
  for (int64_t i = 0; i < g->size(); ++i) {
    g->suppressed[i] = g->counts[i] > 0 && g->counts[i] < k;
  }
  bool changed = true;
  while (changed) {
    changed = false;
    for (size_t d = 0; d < g->axes.size(); ++d) {
      const int64_t n = g->AxisSize(d);
      const int64_t stride = g->strides[d];
      for (int64_t base = 0; base < g->size(); ++base) {
        if (g->Position(base, d) != 0) {
          continue;  // each line once, from its first cell
        }
        int suppressed = 0;
        int64_t smallest = -1;
        int64_t first_zero = -1;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t i = base + j * stride;
          if (g->suppressed[i]) {
            ++suppressed;
          } else if (g->counts[i] > 0) {
            if (smallest < 0 || g->counts[i] < g->counts[smallest]) {
              smallest = i;
            }
          } else if (first_zero < 0) {
            first_zero = i;
          }
        }
        if (suppressed != 1) {
          continue;
        }
        const int64_t pick = smallest >= 0 ? smallest : first_zero;
        if (pick >= 0) {
          g->suppressed[pick] = true;
          changed = true;
        }
      }
    }
  }
}

StatsCell ShownCell(std::vector<std::string> values, int64_t count, bool suppressed) {
  StatsCell cell;
  cell.values = std::move(values);
  cell.suppressed = suppressed;
  cell.count = suppressed ? 0 : count;
  return cell;
}

// ---- text helpers ----

std::string CountText(const StatsCell& cell, int k) {
  return cell.suppressed ? "<" + std::to_string(k) : std::to_string(cell.count);
}

// Columns separated by two spaces; the first `left` columns left-aligned, the others
// right-aligned.
std::string AlignRows(const std::vector<std::vector<std::string>>& rows, size_t left = 1) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) {
      width.resize(row.size(), 0);
    }
    for (size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      const std::string pad(width[c] - row[c].size(), ' ');
      if (c > 0) {
        line += "  ";
      }
      line += c < left ? row[c] + pad : pad + row[c];
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out += line;
    out += '\n';
  }
  return out;
}

std::string FormatDuration(int64_t ms) {
  if (ms < 0) {
    return "-" + FormatDuration(-ms);
  }
  const int64_t s = ms / 1000;
  const int64_t d = s / 86400;
  const int64_t h = (s / 3600) % 24;
  const int64_t m = (s / 60) % 60;
  const int64_t sec = s % 60;
  char buf[64];
  if (d > 0) {
    std::snprintf(buf, sizeof(buf), "%lldd %02lldh %02lldm", static_cast<long long>(d),
                  static_cast<long long>(h), static_cast<long long>(m));
  } else if (h > 0) {
    std::snprintf(buf, sizeof(buf), "%lldh %02lldm", static_cast<long long>(h),
                  static_cast<long long>(m));
  } else if (m > 0) {
    std::snprintf(buf, sizeof(buf), "%lldm %02llds", static_cast<long long>(m),
                  static_cast<long long>(sec));
  } else {
    std::snprintf(buf, sizeof(buf), "%llds", static_cast<long long>(sec));
  }
  return buf;
}

std::string Percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", share * 100.0);
  return buf;
}

// ---- JSON helpers ----

void JsonString(std::string* out, std::string_view s) { AppendJsonString(out, s); }

void JsonKey(std::string* out, std::string_view key) {
  JsonString(out, key);
  out->push_back(':');
}

void JsonDouble(std::string* out, double v) {
  if (!std::isfinite(v)) {
    *out += "null";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  *out += buf;
}

void JsonCount(std::string* out, const StatsCell& cell) {
  JsonKey(out, "count");
  *out += cell.suppressed ? "null" : std::to_string(cell.count);
  *out += ",";
  JsonKey(out, "suppressed");
  *out += cell.suppressed ? "true" : "false";
}

template <typename T>
void JsonOptionalInt(std::string* out, const std::optional<T>& v) {
  *out += v.has_value() ? std::to_string(*v) : "null";
}

void JsonOptionalDouble(std::string* out, const std::optional<double>& v) {
  if (v.has_value()) {
    JsonDouble(out, *v);
  } else {
    *out += "null";
  }
}

// Linear interpolation between closest ranks of sorted `values` (non-empty).
int64_t Percentile(const std::vector<int64_t>& values, double p) {
  const double h = static_cast<double>(values.size() - 1) * p;
  const size_t lo = static_cast<size_t>(std::floor(h));
  const double frac = h - static_cast<double>(lo);
  double v = static_cast<double>(values[lo]);
  if (lo + 1 < values.size()) {
    v += frac * static_cast<double>(values[lo + 1] - values[lo]);
  }
  return std::llround(v);
}

}  // namespace

const std::vector<Dimension>& AllDimensions() {
  static const std::vector<Dimension> kAll = [] {
    std::vector<Dimension> all;
    for (const DimensionInfo& info : kDimensions) {
      all.push_back(info.dimension);
    }
    return all;
  }();
  return kAll;
}

std::string_view DimensionName(Dimension d) {
  for (const DimensionInfo& info : kDimensions) {
    if (info.dimension == d) {
      return info.name;
    }
  }
  return "unknown";
}

Result<Dimension> ParseDimension(std::string_view name) {
  std::string key(name);
  for (char& c : key) {
    c = c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  for (const DimensionInfo& info : kDimensions) {
    if (info.name == key) {
      return info.dimension;
    }
  }
  for (const DimensionInfo& info : kAliases) {
    if (info.name == key) {
      return info.dimension;
    }
  }
  std::string names;
  for (const DimensionInfo& info : kDimensions) {
    names += names.empty() ? "" : ", ";
    names += info.name;
  }
  return Status::InvalidArgument(
      "by", "'" + std::string(name) + "' is not a statistics dimension (one of: " + names + ")");
}

bool IsSensitiveDimension(Dimension d) {
  return d == Dimension::kMinorityGroup || d == Dimension::kDisability;
}

bool IsMultiValuedDimension(Dimension d) { return d == Dimension::kForm || d == Dimension::kStage; }

Result<StatsTable> ComputeTable(const std::vector<const CaseState*>& cases, const StatsQuery& query,
                                const AgencyDirectory& agencies) {
  if (query.k < 1) {
    return Status::InvalidArgument(
        "k", "the suppression threshold k must be at least 1, not " + std::to_string(query.k));
  }
  bool per_referral = false;
  for (size_t i = 0; i < query.by.size(); ++i) {
    const Dimension d = query.by[i];
    const std::string field = "by[" + std::to_string(i) + "]";
    if (std::find(query.by.begin(), query.by.begin() + static_cast<std::ptrdiff_t>(i), d) !=
        query.by.begin() + static_cast<std::ptrdiff_t>(i)) {
      return Status::InvalidArgument(
          field, "dimension " + std::string(DimensionName(d)) + " is listed twice");
    }
    if (IsSensitiveDimension(d) && !query.count_sensitive) {
      return Status::InvalidArgument(
          field, std::string(DimensionName(d)) +
                     " is a sensitive attribute: it is counted only on explicit request "
                     "(count_sensitive), and then only for cases with a STATISTICS consent");
    }
    per_referral = per_referral || d == Dimension::kOutcome;
  }

  StatsTable table;
  table.by = query.by;
  table.k = query.k;
  table.unit = per_referral ? "referrals" : "cases";
  for (Dimension d : query.by) {
    table.multi_valued = table.multi_valued || IsMultiValuedDimension(d);
  }

  // The units and their values.
  const size_t n = query.by.size();
  std::vector<std::vector<std::vector<Value>>> unit_values;
  for (const CaseState* c : cases) {
    if (c == nullptr) {
      continue;
    }
    auto add = [&](const Referral* r) {
      std::vector<std::vector<Value>> values;
      values.reserve(n);
      for (size_t d = 0; d < n; ++d) {
        values.push_back(ValuesOf(query.by[d], *c, r, agencies));
      }
      unit_values.push_back(std::move(values));
    };
    if (per_referral) {
      for (const Referral& r : c->referrals()) {
        add(&r);
      }
    } else {
      add(nullptr);
    }
  }
  std::vector<std::string> names;
  std::vector<std::string> multi;
  for (Dimension d : query.by) {
    names.emplace_back(DimensionName(d));
    if (IsMultiValuedDimension(d)) multi.emplace_back(DimensionName(d));
  }
  ASSIGN_OR_RETURN(StatsTable counted,
                   CountUnits(names, unit_values, query.k, table.unit, multi));
  counted.by = query.by;
  for (size_t d = 0; d < counted.margins.size(); ++d) {
    counted.margins[d].dimension = query.by[d];
  }
  return counted;
}

Result<StatsTable> CountUnits(const std::vector<std::string>& names,
                              const std::vector<std::vector<std::vector<StatsValue>>>& unit_values,
                              int k, std::string unit,
                              const std::vector<std::string>& multi_valued) {
  if (k < 1) {
    return Status::InvalidArgument(
        "k", "the suppression threshold k must be at least 1, not " + std::to_string(k));
  }
  StatsTable table;
  table.names = names;
  table.k = k;
  table.unit = std::move(unit);
  table.multi_valued_names = multi_valued;
  table.multi_valued = !multi_valued.empty();
  const size_t n = names.size();
  std::vector<std::set<Value>> seen(n);
  for (const auto& values : unit_values) {
    for (size_t d = 0; d < n && d < values.size(); ++d) {
      seen[d].insert(values[d].begin(), values[d].end());
    }
  }
  const int64_t units = static_cast<int64_t>(unit_values.size());
  table.total = ShownCell({}, units, units > 0 && units < k);
  if (n == 0) {
    return table;
  }

  Grid grid;
  for (size_t d = 0; d < n; ++d) {
    grid.axes.emplace_back(seen[d].begin(), seen[d].end());
  }
  RETURN_IF_ERROR(Allocate(&grid));
  std::vector<Grid> margins(n > 1 ? n : 0);
  for (size_t d = 0; d < margins.size(); ++d) {
    margins[d].axes = {grid.axes[d]};
    RETURN_IF_ERROR(Allocate(&margins[d]));
  }

  auto index_of = [&](size_t d, const Value& v) {
    const std::vector<Value>& axis = grid.axes[d];
    return static_cast<int64_t>(std::lower_bound(axis.begin(), axis.end(), v) - axis.begin());
  };
  for (const auto& values : unit_values) {
    std::vector<std::vector<int64_t>> idx(n);
    for (size_t d = 0; d < n; ++d) {
      for (const Value& v : values[d]) {
        idx[d].push_back(index_of(d, v));
      }
      if (!margins.empty()) {
        for (int64_t i : idx[d]) {
          ++margins[d].counts[static_cast<size_t>(i)];
        }
      }
    }
    // Every combination of the unit's values (an odometer over idx).
    std::vector<size_t> pos(n, 0);
    bool done = false;
    while (!done) {
      int64_t flat = 0;
      for (size_t d = 0; d < n; ++d) {
        flat += idx[d][pos[d]] * grid.strides[d];
      }
      ++grid.counts[static_cast<size_t>(flat)];
      done = true;
      for (size_t d = n; d-- > 0;) {
        if (++pos[d] < idx[d].size()) {
          done = false;
          break;
        }
        pos[d] = 0;
      }
    }
  }

  Suppress(&grid, k);
  for (int64_t i = 0; i < grid.size(); ++i) {
    if (grid.counts[i] == 0 && !grid.suppressed[i]) {
      continue;
    }
    std::vector<std::string> labels;
    labels.reserve(n);
    for (size_t d = 0; d < n; ++d) {
      labels.push_back(grid.axes[d][grid.Position(i, d)].label);
    }
    table.cells.push_back(ShownCell(std::move(labels), grid.counts[i], grid.suppressed[i]));
  }
  for (size_t d = 0; d < margins.size(); ++d) {
    Suppress(&margins[d], k);
    StatsMargin margin;
    margin.name = names[d];
    for (int64_t i = 0; i < margins[d].size(); ++i) {
      margin.cells.push_back(ShownCell({margins[d].axes[0][static_cast<size_t>(i)].label},
                                       margins[d].counts[i], margins[d].suppressed[i]));
    }
    table.margins.push_back(std::move(margin));
  }
  return table;
}

std::string RenderTable(const StatsTable& table) {
  std::string title = table.unit + " by ";
  if (table.names.empty()) {
    title = table.unit;
  }
  for (size_t d = 0; d < table.names.size(); ++d) {
    title += d == 0 ? "" : " x ";
    title += table.names[d];
  }
  if (!table.title.empty()) {
    title = table.title;
  }
  std::string out = title + "\n";

  std::vector<std::vector<std::string>> rows;
  size_t left = 1;
  if (table.names.empty()) {
    rows.push_back({"total", CountText(table.total, table.k)});
  } else if (table.names.size() == 2 && table.margins.size() == 2) {
    // Cross-tab: rows are the first dimension's values, columns the second's.
    std::map<std::pair<std::string, std::string>, const StatsCell*> cells;
    for (const StatsCell& c : table.cells) {
      cells[{c.values[0], c.values[1]}] = &c;
    }
    std::vector<std::string> header = {table.names[0] + " \\ " + table.names[1]};
    for (const StatsCell& col : table.margins[1].cells) {
      header.push_back(col.values[0]);
    }
    header.push_back("total");
    rows.push_back(std::move(header));
    for (const StatsCell& row : table.margins[0].cells) {
      std::vector<std::string> line = {row.values[0]};
      for (const StatsCell& col : table.margins[1].cells) {
        auto it = cells.find({row.values[0], col.values[0]});
        line.push_back(it == cells.end() ? "0" : CountText(*it->second, table.k));
      }
      line.push_back(CountText(row, table.k));
      rows.push_back(std::move(line));
    }
    std::vector<std::string> totals = {"total"};
    for (const StatsCell& col : table.margins[1].cells) {
      totals.push_back(CountText(col, table.k));
    }
    totals.push_back(CountText(table.total, table.k));
    rows.push_back(std::move(totals));
  } else {
    left = table.names.size();
    std::vector<std::string> header = table.names;
    header.push_back(table.unit);
    rows.push_back(header);
    for (const StatsCell& c : table.cells) {
      std::vector<std::string> line = c.values;
      line.push_back(CountText(c, table.k));
      rows.push_back(std::move(line));
    }
    std::vector<std::string> totals(table.names.size());
    totals[0] = "total";
    totals.push_back(CountText(table.total, table.k));
    rows.push_back(std::move(totals));
  }
  out += AlignRows(rows, left);

  const std::string mark = "<" + std::to_string(table.k);
  bool any_suppressed = table.total.suppressed;
  for (const StatsCell& c : table.cells) {
    any_suppressed = any_suppressed || c.suppressed;
  }
  for (const StatsMargin& m : table.margins) {
    for (const StatsCell& c : m.cells) {
      any_suppressed = any_suppressed || c.suppressed;
    }
  }
  if (any_suppressed) {
    out += mark + ": suppressed (a count from 1 to " + std::to_string(table.k - 1) +
           ", or a cell hidden with one so that totals cannot reveal it)\n";
  }
  if (table.multi_valued) {
    std::string names;
    for (const std::string& d : table.multi_valued_names) {
      names += names.empty() ? "" : ", ";
      names += d;
    }
    out += std::string("note: ") + (table.unit == "referrals" ? "a referral"
                                    : table.unit == "cases"   ? "a case"
                                                              : "one of the " + table.unit) +
           " can count under several values of " + names +
           ", so counts across those values do not sum to the total\n";
  }
  return out;
}

std::string ToJson(const StatsTable& table) {
  std::string out = "{";
  JsonKey(&out, "by");
  out += "[";
  for (size_t d = 0; d < table.names.size(); ++d) {
    out += d == 0 ? "" : ",";
    JsonString(&out, table.names[d]);
  }
  out += "],";
  JsonKey(&out, "unit");
  JsonString(&out, table.unit);
  out += ",";
  JsonKey(&out, "k");
  out += std::to_string(table.k) + ",";
  JsonKey(&out, "multi_valued");
  out += table.multi_valued ? "true," : "false,";
  JsonKey(&out, "cells");
  out += "[";
  for (size_t i = 0; i < table.cells.size(); ++i) {
    const StatsCell& c = table.cells[i];
    out += i == 0 ? "{" : ",{";
    JsonKey(&out, "values");
    out += "{";
    for (size_t d = 0; d < c.values.size() && d < table.names.size(); ++d) {
      out += d == 0 ? "" : ",";
      JsonKey(&out, table.names[d]);
      JsonString(&out, c.values[d]);
    }
    out += "},";
    JsonCount(&out, c);
    out += "}";
  }
  out += "],";
  JsonKey(&out, "total");
  out += "{";
  JsonCount(&out, table.total);
  out += "},";
  JsonKey(&out, "margins");
  out += "{";
  for (size_t m = 0; m < table.margins.size(); ++m) {
    out += m == 0 ? "" : ",";
    JsonKey(&out, table.margins[m].name);
    out += "[";
    for (size_t i = 0; i < table.margins[m].cells.size(); ++i) {
      const StatsCell& c = table.margins[m].cells[i];
      out += i == 0 ? "{" : ",{";
      JsonKey(&out, "value");
      JsonString(&out, c.values.empty() ? std::string() : c.values[0]);
      out += ",";
      JsonCount(&out, c);
      out += "}";
    }
    out += "]";
  }
  out += "}}";
  return out;
}

ReferralIndicators ComputeIndicators(const std::vector<const CaseState*>& cases, int64_t now_ms) {
  ReferralIndicators ind;
  ind.now_ms = now_ms;
  std::vector<int64_t> times;
  std::map<int, int64_t> by_reason;
  for (const CaseState* c : cases) {
    if (c == nullptr) {
      continue;
    }
    for (const Referral& r : c->referrals()) {
      ++ind.referrals;
      const passage::v1::ReferralStatus status = r.status();
      if (WasAccepted(r)) {
        ++ind.accepted;
      }
      if (status == passage::v1::REFERRAL_STATUS_REJECTED) {
        ++ind.rejected;
        ++by_reason[r.status_reason()];
      }
      int64_t sent_at = 0;
      int64_t accepted_at = 0;
      for (const passage::v1::ReferralTransitionRecord& h : r.history()) {
        if (h.to() == passage::v1::REFERRAL_STATUS_SENT && sent_at == 0) {
          sent_at = h.at_ms();
        }
        if (h.to() == passage::v1::REFERRAL_STATUS_ACCEPTED && accepted_at == 0) {
          accepted_at = h.at_ms();
        }
      }
      if (sent_at == 0) {
        sent_at = r.sent_at_ms();
      }
      if (sent_at != 0 && accepted_at != 0 && accepted_at >= sent_at) {
        times.push_back(accepted_at - sent_at);
      }
      const bool waiting = status == passage::v1::REFERRAL_STATUS_SENT ||
                           status == passage::v1::REFERRAL_STATUS_RECEIVED;
      if ((waiting && r.respond_by_ms() != 0 && r.respond_by_ms() < now_ms) ||
          status == passage::v1::REFERRAL_STATUS_EXPIRED) {
        ++ind.overdue;
      }
      if (IsTerminal(status)) {
        ++ind.terminal;
        if (status == passage::v1::REFERRAL_STATUS_COMPLETED) {
          ++ind.completed;
        }
      }
      if (!r.parent_referral_id().empty()) {
        ++ind.escalations;
      }
    }
  }
  if (ind.accepted + ind.rejected > 0) {
    ind.acceptance_rate =
        static_cast<double>(ind.accepted) / static_cast<double>(ind.accepted + ind.rejected);
  }
  if (ind.terminal > 0) {
    ind.share_completed = static_cast<double>(ind.completed) / static_cast<double>(ind.terminal);
  }
  std::sort(times.begin(), times.end());
  ind.timed_acceptances = static_cast<int64_t>(times.size());
  if (!times.empty()) {
    ind.median_ms_to_acceptance = Percentile(times, 0.5);
    ind.p90_ms_to_acceptance = Percentile(times, 0.9);
  }
  for (const auto& [reason, count] : by_reason) {
    ind.rejected_by_reason.emplace_back(static_cast<passage::v1::RejectReason>(reason), count);
  }
  return ind;
}

std::string RenderIndicators(const ReferralIndicators& ind) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"referrals", std::to_string(ind.referrals)});
  rows.push_back(
      {"accepted / decided",
       std::to_string(ind.accepted) + " / " + std::to_string(ind.accepted + ind.rejected),
       ind.acceptance_rate ? Percent(*ind.acceptance_rate) : "-"});
  rows.push_back({"time to acceptance, median",
                  ind.median_ms_to_acceptance ? FormatDuration(*ind.median_ms_to_acceptance) : "-",
                  "over " + std::to_string(ind.timed_acceptances)});
  rows.push_back({"time to acceptance, p90",
                  ind.p90_ms_to_acceptance ? FormatDuration(*ind.p90_ms_to_acceptance) : "-"});
  rows.push_back({"overdue", std::to_string(ind.overdue)});
  rows.push_back({"completed / terminal",
                  std::to_string(ind.completed) + " / " + std::to_string(ind.terminal),
                  ind.share_completed ? Percent(*ind.share_completed) : "-"});
  rows.push_back({"escalations", std::to_string(ind.escalations)});
  for (const auto& [reason, count] : ind.rejected_by_reason) {
    rows.push_back({"rejected: " + ShortEnumName(passage::v1::RejectReason_descriptor(), reason),
                    std::to_string(count)});
  }
  return "referral indicators as of " + FormatUtcMs(ind.now_ms) + "\n" + AlignRows(rows);
}

std::string IndicatorsToJson(const ReferralIndicators& ind) {
  std::string out = "{";
  auto int_field = [&](std::string_view key, int64_t v) {
    JsonKey(&out, key);
    out += std::to_string(v) + ",";
  };
  int_field("now_ms", ind.now_ms);
  JsonKey(&out, "now");
  JsonString(&out, FormatUtcMs(ind.now_ms));
  out += ",";
  int_field("referrals", ind.referrals);
  int_field("accepted", ind.accepted);
  int_field("rejected", ind.rejected);
  JsonKey(&out, "acceptance_rate");
  JsonOptionalDouble(&out, ind.acceptance_rate);
  out += ",";
  int_field("timed_acceptances", ind.timed_acceptances);
  JsonKey(&out, "median_ms_to_acceptance");
  JsonOptionalInt(&out, ind.median_ms_to_acceptance);
  out += ",";
  JsonKey(&out, "p90_ms_to_acceptance");
  JsonOptionalInt(&out, ind.p90_ms_to_acceptance);
  out += ",";
  int_field("overdue", ind.overdue);
  int_field("terminal", ind.terminal);
  int_field("completed", ind.completed);
  JsonKey(&out, "share_completed");
  JsonOptionalDouble(&out, ind.share_completed);
  out += ",";
  JsonKey(&out, "rejected_by_reason");
  out += "{";
  for (size_t i = 0; i < ind.rejected_by_reason.size(); ++i) {
    out += i == 0 ? "" : ",";
    JsonKey(&out,
            ShortEnumName(passage::v1::RejectReason_descriptor(), ind.rejected_by_reason[i].first));
    out += std::to_string(ind.rejected_by_reason[i].second);
  }
  out += "},";
  JsonKey(&out, "escalations");
  out += std::to_string(ind.escalations) + "}";
  return out;
}

}  // namespace passage::core
