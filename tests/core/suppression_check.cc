#include "tests/core/suppression_check.h"

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

namespace passage::core::testing {
namespace {

constexpr double kEps = 1e-9;
constexpr double kInf = std::numeric_limits<double>::infinity();

// min c.x subject to a.x = b, x >= 0, by the two-phase tableau simplex with Bland's rule. Empty
// when infeasible; -inf when unbounded below.
std::optional<double> Simplex(std::vector<std::vector<double>> a, std::vector<double> b,
                              const std::vector<double>& c) {
  const size_t m = a.size();
  const size_t n = c.size();
  for (size_t i = 0; i < m; ++i) {
    if (b[i] < 0) {
      for (double& v : a[i]) v = -v;
      b[i] = -b[i];
    }
  }
  // Columns: n originals, m artificials; then the right-hand side.
  const size_t cols = n + m;
  std::vector<std::vector<double>> t(m, std::vector<double>(cols + 1, 0.0));
  std::vector<size_t> basis(m);
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) t[i][j] = a[i][j];
    t[i][n + i] = 1.0;
    t[i][cols] = b[i];
    basis[i] = n + i;
  }
  auto run = [&](const std::vector<double>& cost, size_t allowed) -> bool {
    while (true) {
      // Reduced costs: cost_j - sum_i cost_basis(i) t[i][j].
      size_t enter = cols;
      for (size_t j = 0; j < allowed; ++j) {
        double r = cost[j];
        for (size_t i = 0; i < m; ++i) r -= cost[basis[i]] * t[i][j];
        if (r < -kEps) {
          enter = j;
          break;
        }
      }
      if (enter == cols) return true;
      size_t leave = m;
      double best = kInf;
      for (size_t i = 0; i < m; ++i) {
        if (t[i][enter] > kEps) {
          const double ratio = t[i][cols] / t[i][enter];
          if (ratio < best - kEps || (std::abs(ratio - best) <= kEps && basis[i] < basis[leave])) {
            best = ratio;
            leave = i;
          }
        }
      }
      if (leave == m) return false;  // unbounded
      const double pivot = t[leave][enter];
      for (double& v : t[leave]) v /= pivot;
      for (size_t i = 0; i < m; ++i) {
        if (i != leave && std::abs(t[i][enter]) > kEps) {
          const double f = t[i][enter];
          for (size_t j = 0; j <= cols; ++j) t[i][j] -= f * t[leave][j];
        }
      }
      basis[leave] = enter;
    }
  };
  std::vector<double> phase1(cols, 0.0);
  for (size_t j = n; j < cols; ++j) phase1[j] = 1.0;
  run(phase1, cols);
  double infeasibility = 0;
  for (size_t i = 0; i < m; ++i) {
    if (basis[i] >= n) infeasibility += t[i][cols];
  }
  if (infeasibility > 1e-7) return std::nullopt;
  // Drive artificials out of the basis where possible (degenerate rows).
  for (size_t i = 0; i < m; ++i) {
    if (basis[i] < n) continue;
    for (size_t j = 0; j < n; ++j) {
      if (std::abs(t[i][j]) > kEps) {
        const double pivot = t[i][j];
        for (double& v : t[i]) v /= pivot;
        for (size_t r = 0; r < m; ++r) {
          if (r != i && std::abs(t[r][j]) > kEps) {
            const double f = t[r][j];
            for (size_t q = 0; q <= cols; ++q) t[r][q] -= f * t[i][q];
          }
        }
        basis[i] = j;
        break;
      }
    }
  }
  std::vector<double> phase2(cols, 0.0);
  for (size_t j = 0; j < n; ++j) phase2[j] = c[j];
  if (!run(phase2, n)) return -kInf;
  double value = 0;
  for (size_t i = 0; i < m; ++i) value += phase2[basis[i]] * t[i][cols];
  return value;
}

struct Unknown {
  std::string where;
  bool secondary = false;
  double low = 0;
  double high = kInf;
};

// Sum constraints: each is a list of (unknown, coefficient) and a constant right-hand side.
struct Constraint {
  std::vector<std::pair<size_t, double>> terms;
  double rhs = 0;
};

class Model {
 public:
  explicit Model(int k) : k_(k) {}

  // A published number: a term of the sums it takes part in.
  struct Term {
    std::optional<size_t> unknown;
    double value = 0;
  };

  Term Number(const std::string& where, const StatsCell& c) {
    if (!c.suppressed) return Term{std::nullopt, static_cast<double>(c.count)};
    Unknown u;
    u.where = where;
    u.secondary = c.secondary;
    if (!c.secondary) {
      u.low = 1;
      u.high = k_ - 1;
    }
    unknowns_.push_back(u);
    return Term{unknowns_.size() - 1, 0};
  }

  // sum(parts) = whole.
  void Sum(const std::vector<Term>& parts, const Term& whole) {
    Constraint c;
    for (const Term& t : parts) {
      if (t.unknown) {
        c.terms.emplace_back(*t.unknown, 1.0);
      } else {
        c.rhs -= t.value;
      }
    }
    if (whole.unknown) {
      c.terms.emplace_back(*whole.unknown, -1.0);
    } else {
      c.rhs += whole.value;
    }
    constraints_.push_back(std::move(c));
  }

  std::vector<SuppressedRange> Ranges(bool exact_marks) const {
    std::vector<size_t> secondary;
    for (size_t v = 0; v < unknowns_.size(); ++v) {
      if (unknowns_[v].secondary) secondary.push_back(v);
    }
    std::vector<SuppressedRange> out(unknowns_.size());
    std::vector<double> low(unknowns_.size(), kInf);
    std::vector<double> high(unknowns_.size(), -kInf);
    const size_t branches = exact_marks ? (size_t{1} << secondary.size()) : 1;
    for (size_t branch = 0; branch < branches; ++branch) {
      std::vector<Unknown> u = unknowns_;
      if (exact_marks) {
        for (size_t s = 0; s < secondary.size(); ++s) {
          Unknown& x = u[secondary[s]];
          if ((branch >> s) & 1) {
            x.low = k_;
          } else {
            x.high = 0;
          }
        }
      }
      for (size_t v = 0; v < u.size(); ++v) {
        if (std::optional<double> lo = Optimize(u, v, false)) {
          low[v] = std::min(low[v], *lo);
          high[v] = std::max(high[v], *Optimize(u, v, true));
        }
      }
    }
    for (size_t v = 0; v < unknowns_.size(); ++v) {
      out[v].where = unknowns_[v].where;
      out[v].low = std::llround(low[v]);
      out[v].high =
          std::isinf(high[v]) ? std::numeric_limits<int64_t>::max() : std::llround(high[v]);
    }
    return out;
  }

 private:
  // The least (or greatest) value of unknown `target` under bounds `u`; empty when infeasible.
  std::optional<double> Optimize(const std::vector<Unknown>& u, size_t target,
                                 bool maximize) const {
    // x = low + y, y >= 0; a finite high adds y + slack = high - low.
    const size_t n = u.size();
    std::vector<size_t> slack_of(n, 0);
    size_t columns = n;
    for (size_t v = 0; v < n; ++v) {
      if (!std::isinf(u[v].high)) slack_of[v] = columns++;
    }
    std::vector<std::vector<double>> a;
    std::vector<double> b;
    for (const Constraint& c : constraints_) {
      std::vector<double> row(columns, 0.0);
      double rhs = c.rhs;
      for (const auto& [v, coef] : c.terms) {
        row[v] += coef;
        rhs -= coef * u[v].low;
      }
      a.push_back(std::move(row));
      b.push_back(rhs);
    }
    for (size_t v = 0; v < n; ++v) {
      if (std::isinf(u[v].high)) continue;
      if (u[v].high < u[v].low) return std::nullopt;
      std::vector<double> row(columns, 0.0);
      row[v] = 1.0;
      row[slack_of[v]] = 1.0;
      a.push_back(std::move(row));
      b.push_back(u[v].high - u[v].low);
    }
    std::vector<double> cost(columns, 0.0);
    cost[target] = maximize ? -1.0 : 1.0;
    std::optional<double> best = Simplex(std::move(a), std::move(b), cost);
    if (!best) return std::nullopt;
    if (std::isinf(*best)) return maximize ? kInf : -kInf;
    return (maximize ? -*best : *best) + u[target].low;
  }

  int k_;
  std::vector<Unknown> unknowns_;
  std::vector<Constraint> constraints_;
};

}  // namespace

std::vector<SuppressedRange> FeasibleRanges(const StatsTable& table, bool exact_marks) {
  Model model(table.k);
  const Model::Term total = model.Number("total", table.total);
  if (table.cells.empty() && table.margins.empty()) {
    return model.Ranges(exact_marks);  // the total alone
  }
  if (table.names.size() == 1) {
    std::vector<Model::Term> parts;
    for (const StatsCell& c : table.cells) {
      parts.push_back(model.Number("cell " + c.values[0], c));
    }
    model.Sum(parts, total);
    return model.Ranges(exact_marks);
  }
  // Two dimensions: rows and columns are the margins' values; a combination not listed is 0.
  std::map<std::pair<std::string, std::string>, const StatsCell*> listed;
  for (const StatsCell& c : table.cells) listed[{c.values[0], c.values[1]}] = &c;
  const std::vector<StatsCell>& rows = table.margins.at(0).cells;
  const std::vector<StatsCell>& cols = table.margins.at(1).cells;
  std::vector<std::vector<Model::Term>> grid(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < cols.size(); ++j) {
      auto it = listed.find({rows[i].values[0], cols[j].values[0]});
      StatsCell zero;
      grid[i].push_back(model.Number("cell " + rows[i].values[0] + "|" + cols[j].values[0],
                                     it == listed.end() ? zero : *it->second));
    }
  }
  std::vector<Model::Term> row_terms;
  std::vector<Model::Term> col_terms;
  for (const StatsCell& r : rows) {
    row_terms.push_back(model.Number("margin " + table.names[0] + "=" + r.values[0], r));
  }
  for (const StatsCell& c : cols) {
    col_terms.push_back(model.Number("margin " + table.names[1] + "=" + c.values[0], c));
  }
  for (size_t i = 0; i < rows.size(); ++i) model.Sum(grid[i], row_terms[i]);
  for (size_t j = 0; j < cols.size(); ++j) {
    std::vector<Model::Term> column;
    for (size_t i = 0; i < rows.size(); ++i) column.push_back(grid[i][j]);
    model.Sum(column, col_terms[j]);
  }
  model.Sum(row_terms, total);
  model.Sum(col_terms, total);
  return model.Ranges(exact_marks);
}

std::optional<StatsTable> ParseCrossTab(const std::string& text, int k) {
  std::istringstream in(text);
  std::string line;
  auto words = [](const std::string& l) {
    std::istringstream ws(l);
    std::vector<std::string> out;
    for (std::string w; ws >> w;) out.push_back(w);
    return out;
  };
  auto cell = [&](const std::vector<std::string>& values, const std::string& word) {
    StatsCell c;
    c.values = values;
    c.suppressed = word == "<" + std::to_string(k) || word == "x";
    c.secondary = word == "x";
    c.count = c.suppressed ? 0 : std::stoll(word);
    return c;
  };
  while (std::getline(in, line)) {
    const std::vector<std::string> head = words(line);
    if (head.size() < 4 || head[1] != "\\") continue;
    StatsTable t;
    t.k = k;
    t.names = {head[0], head[2]};
    const std::vector<std::string> columns(head.begin() + 3, head.end() - 1);  // less "total"
    t.margins.resize(2);
    t.margins[0].name = head[0];
    t.margins[1].name = head[2];
    while (std::getline(in, line)) {
      const std::vector<std::string> row = words(line);
      if (row.size() != columns.size() + 2) return std::nullopt;
      if (row[0] == "total") {
        for (size_t j = 0; j < columns.size(); ++j) {
          t.margins[1].cells.push_back(cell({columns[j]}, row[j + 1]));
        }
        t.total = cell({}, row.back());
        return t;
      }
      for (size_t j = 0; j < columns.size(); ++j) {
        StatsCell c = cell({row[0], columns[j]}, row[j + 1]);
        if (c.suppressed || c.count != 0) t.cells.push_back(c);
      }
      t.margins[0].cells.push_back(cell({row[0]}, row.back()));
    }
  }
  return std::nullopt;
}

}  // namespace passage::core::testing
