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
      // A referral counts under its recipient, whose decision its outcome is; a case under its
      // owner.
      const passage::v1::Agency* owner =
          agencies.Find(r != nullptr ? r->to_agency() : c.owner_agency());
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
      if (r != nullptr && !IsTerminal(r->status())) {
        out.push_back(Value{kLast - 1, "OPEN"});  // no outcome yet, whatever the current step
      } else {
        out.push_back(EnumValue(passage::v1::ReferralStatus_descriptor(),
                                r == nullptr ? 0 : static_cast<int>(r->status())));
      }
      break;
    case Dimension::kYear: {
      int32_t year = p.year_of_registration();
      if (year == 0 && !p.year_of_registration_unknown() && c.opened_at_ms() != 0) {
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

// ---- suppression ----

// What the published table tells a reader about one number.
enum class Mark {
  kShown,      // the number itself
  kPrimary,    // "<k": 1 to k-1
  kSecondary,  // "x": hidden to protect another cell; never 1 to k-1, so 0 or at least k
};

Mark MarkOf(int64_t count, bool suppressed, int k) {
  if (!suppressed) {
    return Mark::kShown;
  }
  return count > 0 && count < k ? Mark::kPrimary : Mark::kSecondary;
}

// One published number as an arc of a circulation: every table consistent with what is published
// is a circulation (flow in = flow out at each node) whose arcs keep their marks. `id` names the
// number: a grid index, kMarginId + ..., kTotalId, or kAggregateId for a sum the reader is taken to
// know although it is not published (which only makes the reader stronger).
struct Arc {
  int from = 0;
  int to = 0;
  int64_t value = 0;
  Mark mark = Mark::kShown;
  int64_t upper = std::numeric_limits<int64_t>::max();
  int64_t id = 0;
};

constexpr int64_t kTotalId = -1;
constexpr int64_t kAggregateId = -2;
constexpr int64_t kMarginId = int64_t{1} << 40;  // + axis * kMaxStatsCells + position

bool Allowed(const Arc& a, int64_t v, int k) {
  if (v < 0 || v > a.upper) {
    return false;
  }
  switch (a.mark) {
    case Mark::kShown:
      return v == a.value;
    case Mark::kPrimary:
      return v >= 1 && v < k;
    case Mark::kSecondary:
      return v == 0 || v >= k;
  }
  return false;
}

struct Network {
  int nodes = 0;
  std::vector<Arc> arcs;
};

// Whether `to` can be reached from `from` moving every arc but `skip` by `step` along its
// direction (when its mark allows value + step) or against it (value - step).
bool Reaches(const Network& net, size_t skip, int from, int to, int64_t step, int k) {
  std::vector<std::vector<int>> next(static_cast<size_t>(net.nodes));
  for (size_t q = 0; q < net.arcs.size(); ++q) {
    const Arc& a = net.arcs[q];
    if (q == skip || a.mark == Mark::kShown) {
      continue;
    }
    if (Allowed(a, a.value + step, k)) {
      next[static_cast<size_t>(a.from)].push_back(a.to);
    }
    if (Allowed(a, a.value - step, k)) {
      next[static_cast<size_t>(a.to)].push_back(a.from);
    }
  }
  std::vector<bool> seen(static_cast<size_t>(net.nodes), false);
  std::vector<int> todo = {from};
  seen[static_cast<size_t>(from)] = true;
  while (!todo.empty()) {
    const int u = todo.back();
    todo.pop_back();
    if (u == to) {
      return true;
    }
    for (int v : next[static_cast<size_t>(u)]) {
      if (!seen[static_cast<size_t>(v)]) {
        seen[static_cast<size_t>(v)] = true;
        todo.push_back(v);
      }
    }
  }
  return false;
}

// Whether arc `p` lies on a cycle of moves by some step from 1 to k: then another table, consistent
// with every published number and mark, gives it another value.
bool Movable(const Network& net, size_t p, int k) {
  const Arc& a = net.arcs[p];
  for (int64_t step = 1; step <= k; ++step) {
    if (Allowed(a, a.value + step, k) && Reaches(net, p, a.to, a.from, step, k)) {
      return true;
    }
    if (Allowed(a, a.value - step, k) && Reaches(net, p, a.from, a.to, step, k)) {
      return true;
    }
  }
  return false;
}

// A shown non-zero cell: hiding it makes it an "x" (its count is at least k, so 0 or at least k).
bool Hideable(const Arc& a) {
  return a.mark == Mark::kShown && a.id >= 0 && a.id < kMarginId && a.value > 0;
}

bool AllowedOnceHidden(const Arc& a, int64_t v, int k) {
  if (!Hideable(a)) {
    return false;
  }
  Arc hidden = a;
  hidden.mark = Mark::kSecondary;
  return Allowed(hidden, v, k);
}

// The cheapest cycle through arc `p` moving it by `sign` * `step` (sign +1 or -1): every other arc
// on it moves by `step` within its mark, a shown non-zero cell counting as hidden at the price of
// its count. Returns the price (-1 when there is no such cycle) and, in `hide`, the shown cells
// the cycle passes through.
int64_t CheapestCycle(const Network& net, size_t p, int64_t step, int sign, int k,
                      std::vector<int64_t>* hide) {
  const Arc& a = net.arcs[p];
  if (!Allowed(a, a.value + sign * step, k)) {
    return -1;
  }
  const int from = sign > 0 ? a.to : a.from;
  const int to = sign > 0 ? a.from : a.to;
  struct Step {
    int node;
    size_t arc;
    int64_t price;
  };
  std::vector<std::vector<Step>> next(static_cast<size_t>(net.nodes));
  for (size_t q = 0; q < net.arcs.size(); ++q) {
    const Arc& b = net.arcs[q];
    if (q == p) {
      continue;
    }
    const bool hidden = b.mark != Mark::kShown;
    const int64_t price = hidden ? 0 : b.value;
    if (hidden ? Allowed(b, b.value + step, k) : AllowedOnceHidden(b, b.value + step, k)) {
      next[static_cast<size_t>(b.from)].push_back({b.to, q, price});
    }
    if (hidden ? Allowed(b, b.value - step, k) : AllowedOnceHidden(b, b.value - step, k)) {
      next[static_cast<size_t>(b.to)].push_back({b.from, q, price});
    }
  }
  constexpr int64_t kFar = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> dist(static_cast<size_t>(net.nodes), kFar);
  std::vector<size_t> via(static_cast<size_t>(net.nodes), net.arcs.size());
  std::vector<int> prev(static_cast<size_t>(net.nodes), -1);
  std::set<std::pair<int64_t, int>> todo;
  dist[static_cast<size_t>(from)] = 0;
  todo.insert({0, from});
  while (!todo.empty()) {
    const auto [d, u] = *todo.begin();
    todo.erase(todo.begin());
    if (u == to) {
      break;
    }
    for (const Step& e : next[static_cast<size_t>(u)]) {
      const int64_t nd = d + e.price;
      if (nd < dist[static_cast<size_t>(e.node)]) {
        todo.erase({dist[static_cast<size_t>(e.node)], e.node});
        dist[static_cast<size_t>(e.node)] = nd;
        via[static_cast<size_t>(e.node)] = e.arc;
        prev[static_cast<size_t>(e.node)] = u;
        todo.insert({nd, e.node});
      }
    }
  }
  if (dist[static_cast<size_t>(to)] == kFar) {
    return -1;
  }
  hide->clear();
  for (int u = to; u != from; u = prev[static_cast<size_t>(u)]) {
    const Arc& b = net.arcs[via[static_cast<size_t>(u)]];
    if (b.mark == Mark::kShown) {
      hide->push_back(b.id);
    }
  }
  return dist[static_cast<size_t>(to)];
}

// The cheapest set of shown cells whose hiding puts the number `id` on a cycle in some network;
// false when there is none.
bool CheapestProtection(const std::vector<Network>& nets, int64_t id, int k,
                        std::vector<int64_t>* hide) {
  int64_t best = -1;
  std::vector<int64_t> cells;
  for (const Network& net : nets) {
    for (size_t p = 0; p < net.arcs.size(); ++p) {
      if (net.arcs[p].id != id) {
        continue;
      }
      for (int64_t step = 1; step <= k; ++step) {
        for (int sign : {1, -1}) {
          const int64_t price = CheapestCycle(net, p, step, sign, k, &cells);
          if (price >= 0 && (best < 0 || price < best)) {
            best = price;
            *hide = cells;
          }
        }
      }
    }
  }
  return best >= 0;
}

// The table being suppressed, with what else is published beside it.
struct SuppressionInput {
  int k = 5;
  int64_t total = 0;                           // units counted; suppressed when 0 < total < k
  std::vector<bool> multi_valued;              // per axis
  const std::vector<Grid>* margins = nullptr;  // with two or more axes: suppressed already
};

bool TotalHidden(const SuppressionInput& in) { return in.total > 0 && in.total < in.k; }

Arc NumberArc(int from, int to, int64_t count, bool suppressed, int64_t id, int k) {
  Arc a;
  a.from = from;
  a.to = to;
  a.value = count;
  a.mark = MarkOf(count, suppressed, k);
  a.id = id;
  return a;
}

Arc FixedArc(int from, int to, int64_t value) {
  Arc a;
  a.from = from;
  a.to = to;
  a.value = value;
  a.id = kAggregateId;
  return a;
}

// The networks whose circulations are the tables a reader cannot tell from `g` (or a superset of
// them: sums the reader is not shown may be taken as known). Node 0 is the source, 1 the sink.
//   one axis: cell arcs 0 -> 1, the total 1 -> 0 (a fixed sum when multi-valued).
//   two axes: 0 -> row i (the row's margin), row i -> column j (cell), column j -> 1 (margin),
//             1 -> 0 (total); a line along a multi-valued axis has a fixed sum instead of its
//             margin.
//   more:     one network per axis d: rows are d's values, columns the combinations of the other
//             axes, whose sums are taken as known.
std::vector<Network> Networks(const Grid& g, const SuppressionInput& in) {
  const int k = in.k;
  const size_t n = g.axes.size();
  std::vector<int64_t> upper(static_cast<size_t>(g.size()), std::numeric_limits<int64_t>::max());
  bool any_multi = false;
  for (bool m : in.multi_valued) {
    any_multi = any_multi || m;
  }
  // Where a line does not sum to a margin, a cell still counts no more units than its margins.
  if (any_multi && n == 1) {
    upper.assign(upper.size(), in.total);
  } else if (any_multi && in.margins != nullptr && !in.margins->empty()) {
    for (int64_t i = 0; i < g.size(); ++i) {
      for (size_t d = 0; d < n; ++d) {
        upper[i] = std::min(upper[i], (*in.margins)[d].counts[g.Position(i, d)]);
      }
    }
  }
  auto cell_arc = [&](int from, int to, int64_t i) {
    Arc a = NumberArc(from, to, g.counts[i], g.suppressed[i], i, k);
    a.upper = upper[i];
    return a;
  };
  std::vector<Network> out;
  if (n == 1) {
    Network net;
    net.nodes = 2;
    int64_t sum = 0;
    for (int64_t i = 0; i < g.size(); ++i) {
      net.arcs.push_back(cell_arc(0, 1, i));
      sum += g.counts[i];
    }
    net.arcs.push_back(any_multi ? FixedArc(1, 0, sum)
                                 : NumberArc(1, 0, in.total, TotalHidden(in), kTotalId, k));
    out.push_back(std::move(net));
    return out;
  }
  const std::vector<Grid>& margins = *in.margins;
  for (size_t d = 0; d < n; ++d) {
    if (n == 2 && d == 1) {
      break;
    }
    const int64_t rows = g.AxisSize(d);
    const int64_t cols = g.size() / std::max<int64_t>(1, rows);
    Network net;
    net.nodes = static_cast<int>(2 + rows + cols);
    std::vector<int64_t> row_sum(static_cast<size_t>(rows), 0);
    std::vector<int64_t> col_sum(static_cast<size_t>(cols), 0);
    int64_t sum = 0;
    for (int64_t i = 0; i < g.size(); ++i) {
      const int64_t r = static_cast<int64_t>(g.Position(i, d));
      const int64_t c = (i / (g.strides[d] * rows)) * g.strides[d] + i % g.strides[d];
      row_sum[r] += g.counts[i];
      col_sum[c] += g.counts[i];
      sum += g.counts[i];
      net.arcs.push_back(cell_arc(static_cast<int>(2 + r), static_cast<int>(2 + rows + c), i));
    }
    bool others_multi = false;
    for (size_t e = 0; e < n; ++e) {
      others_multi = others_multi || (e != d && in.multi_valued[e]);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const Grid& m = margins[d];
      net.arcs.push_back(
          others_multi ? FixedArc(0, static_cast<int>(2 + r), row_sum[r])
                       : NumberArc(0, static_cast<int>(2 + r), m.counts[r], m.suppressed[r],
                                   kMarginId + static_cast<int64_t>(d) * kMaxStatsCells + r, k));
    }
    for (int64_t c = 0; c < cols; ++c) {
      const int to = 1;
      const int from = static_cast<int>(2 + rows + c);
      const Grid& m = margins[1 - d];
      net.arcs.push_back(
          n > 2 || in.multi_valued[d]
              ? FixedArc(from, to, col_sum[c])
              : NumberArc(from, to, m.counts[c], m.suppressed[c],
                          kMarginId + static_cast<int64_t>(1 - d) * kMaxStatsCells + c, k));
    }
    net.arcs.push_back(n > 2 || any_multi
                           ? FixedArc(1, 0, sum)
                           : NumberArc(1, 0, in.total, TotalHidden(in), kTotalId, k));
    out.push_back(std::move(net));
  }
  return out;
}

// Whether the published number `id` can take another value in some network.
bool Protected(const std::vector<Network>& nets, int64_t id, int k) {
  for (const Network& net : nets) {
    for (size_t p = 0; p < net.arcs.size(); ++p) {
      if (net.arcs[p].id == id && Movable(net, p, k)) {
        return true;
      }
    }
  }
  return false;
}

// The line rule: whenever a line holds exactly one suppressed cell, its smallest unsuppressed
// non-zero cell that `accept` takes is suppressed too; repeated until nothing changes.
template <typename Accept>
void SuppressLines(Grid* g, const Accept& accept) {
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
        std::vector<int64_t> shown;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t i = base + j * stride;
          if (g->suppressed[i]) {
            ++suppressed;
          } else if (g->counts[i] > 0) {
            shown.push_back(i);
          }
        }
        if (suppressed != 1) {
          continue;
        }
        std::stable_sort(shown.begin(), shown.end(),
                         [&](int64_t a, int64_t b) { return g->counts[a] < g->counts[b]; });
        for (int64_t i : shown) {
          if (accept(i)) {
            g->suppressed[i] = true;
            changed = true;
            break;
          }
        }
      }
    }
  }
}

// Primary and complementary suppression, as the header describes. Returns false when some
// suppressed number could not be protected.
bool Suppress(Grid* g, const SuppressionInput& in) {
  const int k = in.k;
  for (int64_t i = 0; i < g->size(); ++i) {
    g->suppressed[i] = g->counts[i] > 0 && g->counts[i] < k;
  }
  if (k <= 1) {
    return true;
  }
  const size_t n = g->axes.size();
  // The published numbers to protect: suppressed cells, suppressed margin cells, the total.
  std::vector<int64_t> ids;
  auto collect = [&] {
    ids.clear();
    for (int64_t i = 0; i < g->size(); ++i) {
      if (g->suppressed[i]) ids.push_back(i);
    }
    if (n >= 2) {
      for (size_t d = 0; d < n; ++d) {
        const Grid& m = (*in.margins)[d];
        for (int64_t r = 0; r < m.size(); ++r) {
          if (m.suppressed[r])
            ids.push_back(kMarginId + static_cast<int64_t>(d) * kMaxStatsCells + r);
        }
      }
    }
    if (TotalHidden(in)) ids.push_back(kTotalId);
  };
  const bool check = g->size() <= kMaxCheckedCells;
  std::vector<int64_t> hide;
  // Whether cell i, once hidden, could be put on a cycle by hiding more.
  auto protectable = [&](int64_t i) {
    if (!check) {
      return true;
    }
    g->suppressed[i] = true;
    const bool ok = CheapestProtection(Networks(*g, in), i, k, &hide);
    g->suppressed[i] = false;
    return ok;
  };
  std::set<int64_t> settled;  // protected (stays so as more is hidden) or beyond help
  bool all_protected = true;
  while (true) {
    SuppressLines(g, protectable);
    if (!check) {
      return true;
    }
    collect();
    const std::vector<Network> nets = Networks(*g, in);
    int64_t open = kAggregateId;
    for (int64_t id : ids) {
      if (settled.count(id) != 0) continue;
      if (Protected(nets, id, k)) {
        settled.insert(id);
      } else {
        open = id;
        break;
      }
    }
    if (open == kAggregateId) {
      return all_protected;
    }
    // Only cells of the table are hidden: its margins and total stay those of the tables of fewer
    // dimensions, which are published too.
    if (!CheapestProtection(nets, open, k, &hide)) {
      settled.insert(open);  // nothing left to hide can help
      all_protected = false;
      continue;
    }
    if (hide.empty()) {
      settled.insert(open);
      continue;
    }
    for (int64_t i : hide) {
      g->suppressed[i] = true;
    }
  }
}

StatsCell ShownCell(std::vector<std::string> values, int64_t count, bool suppressed, int k) {
  StatsCell cell;
  cell.values = std::move(values);
  cell.suppressed = suppressed;
  cell.secondary = MarkOf(count, suppressed, k) == Mark::kSecondary;
  cell.count = suppressed ? 0 : count;
  return cell;
}

// ---- text helpers ----

std::string CountText(const StatsCell& cell, int k) {
  return cell.suppressed ? std::string(SuppressionMark(cell, k)) : std::to_string(cell.count);
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
  *out += ",";
  JsonKey(out, "suppression");
  *out += !cell.suppressed ? "null" : cell.secondary ? "\"secondary\"" : "\"primary\"";
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
  if (k < 1 || k == 2) {
    return Status::InvalidArgument(
        "k", "the suppression threshold k must be 1 (no suppression) or at least 3, not " +
                 std::to_string(k) + " (with k = 2 the mark \"<2\" would say the count is 1)");
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
  table.total = ShownCell({}, units, units > 0 && units < k, k);
  if (n == 0 || table.total.suppressed) {
    return table;  // fewer than k units: which values they have would give their counts away
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

  std::vector<bool> multi(n, false);
  for (size_t d = 0; d < n; ++d) {
    multi[d] = std::find(multi_valued.begin(), multi_valued.end(), names[d]) != multi_valued.end();
  }
  bool safe = true;
  for (size_t d = 0; d < margins.size(); ++d) {
    safe = Suppress(&margins[d], SuppressionInput{k, units, {multi[d]}, nullptr}) && safe;
  }
  safe = Suppress(&grid, SuppressionInput{k, units, multi, &margins}) && safe;
  if (!safe) {
    table.withheld = true;  // see "Guarantee" in the header
    return table;
  }
  for (int64_t i = 0; i < grid.size(); ++i) {
    if (grid.counts[i] == 0 && !grid.suppressed[i]) {
      continue;
    }
    std::vector<std::string> labels;
    labels.reserve(n);
    for (size_t d = 0; d < n; ++d) {
      labels.push_back(grid.axes[d][grid.Position(i, d)].label);
    }
    table.cells.push_back(ShownCell(std::move(labels), grid.counts[i], grid.suppressed[i], k));
  }
  for (size_t d = 0; d < margins.size(); ++d) {
    StatsMargin margin;
    margin.name = names[d];
    for (int64_t i = 0; i < margins[d].size(); ++i) {
      margin.cells.push_back(ShownCell({margins[d].axes[0][static_cast<size_t>(i)].label},
                                       margins[d].counts[i], margins[d].suppressed[i], k));
    }
    table.margins.push_back(std::move(margin));
  }
  return table;
}

std::string SuppressionMark(const StatsCell& cell, int k) {
  if (!cell.suppressed) {
    return "";
  }
  return cell.secondary ? "x" : "<" + std::to_string(k);
}

std::string SuppressionLegend(const StatsTable& table) {
  bool primary = false;
  bool secondary = false;
  auto see = [&](const StatsCell& c) {
    primary = primary || (c.suppressed && !c.secondary);
    secondary = secondary || c.secondary;
  };
  see(table.total);
  for (const StatsCell& c : table.cells) {
    see(c);
  }
  for (const StatsMargin& m : table.margins) {
    for (const StatsCell& c : m.cells) {
      see(c);
    }
  }
  std::string out;
  const std::string k = std::to_string(table.k);
  if (primary) {
    out += "<" + k + ": suppressed, a count from 1 to " + std::to_string(table.k - 1) + "\n";
  }
  if (secondary) {
    out +=
        "x: hidden so that the totals cannot reveal a suppressed count (0 or at least " + k + ")\n";
  }
  return out;
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
  if (table.withheld) {
    out += "cells withheld: the counts are so small that any table of them would give some away\n";
  }

  out += SuppressionLegend(table);
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
  JsonKey(&out, "withheld");
  out += table.withheld ? "true," : "false,";
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
