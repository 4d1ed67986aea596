#include "ops/metrics.h"

#include <charconv>
#include <cmath>
#include <sstream>

namespace passage::ops {

// One metric family: its series by label values. Exactly one of the maps is used, by type.
struct MetricsRegistry::Family {
  std::string name, help, type;
  std::vector<std::string> label_names;
  std::mutex mu;
  std::map<std::vector<std::string>, std::unique_ptr<Counter>> counters;  // GUARDED_BY(mu)
  std::map<std::vector<std::string>, std::unique_ptr<Gauge>> gauges;      // GUARDED_BY(mu)
  std::unique_ptr<Histogram> histogram;  // set once at creation
};

namespace {

std::string Number(double v) {
  if (std::isnan(v)) {
    return "NaN";
  }
  if (std::isinf(v)) {
    return v > 0 ? "+Inf" : "-Inf";
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

std::string EscapeHelp(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeLabel(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string LabelText(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      const std::string& extra = "") {
  if (names.empty() && extra.empty()) {
    return "";
  }
  std::string out = "{";
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    out += (i ? "," : "") + names[i] + "=\"" + EscapeLabel(values[i]) + "\"";
  }
  if (!extra.empty()) {
    out += (names.empty() ? "" : ",") + extra;
  }
  return out + "}";
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    counts_[i].store(0);
  }
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) {
    ++i;
  }
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  double old = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

std::vector<uint64_t> Histogram::Cumulative() const {
  std::vector<uint64_t> out;
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    out.push_back(total);
  }
  return out;
}

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

MetricsRegistry::Family& MetricsRegistry::Add(const std::string& name, const std::string& help,
                                              const char* type,
                                              std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  auto f = std::make_unique<Family>();
  f->name = name;
  f->help = help;
  f->type = type;
  f->label_names = std::move(label_names);
  families_.push_back(std::move(f));
  return *families_.back();
}

Counter& MetricsRegistry::AddCounter(const std::string& name, const std::string& help) {
  Family& f = Add(name, help, "counter", {});
  std::lock_guard lock(f.mu);
  return *(f.counters[{}] = std::make_unique<Counter>());
}

Gauge& MetricsRegistry::AddGauge(const std::string& name, const std::string& help) {
  Family& f = Add(name, help, "gauge", {});
  std::lock_guard lock(f.mu);
  return *(f.gauges[{}] = std::make_unique<Gauge>());
}

Histogram& MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                         std::vector<double> upper_bounds) {
  Family& f = Add(name, help, "histogram", {});
  f.histogram = std::make_unique<Histogram>(std::move(upper_bounds));
  return *f.histogram;
}

MetricsRegistry::CounterFamily& MetricsRegistry::AddCounterFamily(
    const std::string& name, const std::string& help, std::vector<std::string> label_names) {
  Family& f = Add(name, help, "counter", std::move(label_names));
  std::lock_guard lock(mu_);
  counter_families_.push_back(std::make_unique<CounterFamily>());
  counter_families_.back()->f_ = &f;
  return *counter_families_.back();
}

MetricsRegistry::GaugeFamily& MetricsRegistry::AddGaugeFamily(
    const std::string& name, const std::string& help, std::vector<std::string> label_names) {
  Family& f = Add(name, help, "gauge", std::move(label_names));
  std::lock_guard lock(mu_);
  gauge_families_.push_back(std::make_unique<GaugeFamily>());
  gauge_families_.back()->f_ = &f;
  return *gauge_families_.back();
}

Counter& MetricsRegistry::CounterFamily::With(const std::vector<std::string>& labels) {
  std::lock_guard lock(f_->mu);
  auto& slot = f_->counters[labels];
  if (!slot) {
    slot = std::make_unique<Counter>();
  }
  return *slot;
}

Gauge& MetricsRegistry::GaugeFamily::With(const std::vector<std::string>& labels) {
  std::lock_guard lock(f_->mu);
  auto& slot = f_->gauges[labels];
  if (!slot) {
    slot = std::make_unique<Gauge>();
  }
  return *slot;
}

void MetricsRegistry::GaugeFamily::Remove(const std::vector<std::string>& labels) {
  std::lock_guard lock(f_->mu);
  f_->gauges.erase(labels);
}

std::string MetricsRegistry::Render() const {
  std::ostringstream out;
  std::lock_guard lock(mu_);
  for (const auto& fp : families_) {
    Family& f = *fp;
    out << "# HELP " << f.name << " " << EscapeHelp(f.help) << "\n";
    out << "# TYPE " << f.name << " " << f.type << "\n";
    std::lock_guard flock(f.mu);
    for (const auto& [labels, c] : f.counters) {
      out << f.name << LabelText(f.label_names, labels) << " " << c->value() << "\n";
    }
    for (const auto& [labels, g] : f.gauges) {
      out << f.name << LabelText(f.label_names, labels) << " " << Number(g->value()) << "\n";
    }
    if (f.histogram) {
      const auto cumulative = f.histogram->Cumulative();
      const auto& bounds = f.histogram->bounds();
      for (size_t i = 0; i < bounds.size(); ++i) {
        out << f.name << "_bucket{le=\"" << Number(bounds[i]) << "\"} " << cumulative[i] << "\n";
      }
      out << f.name << "_bucket{le=\"+Inf\"} " << cumulative.back() << "\n";
      out << f.name << "_sum " << Number(f.histogram->sum()) << "\n";
      out << f.name << "_count " << cumulative.back() << "\n";
    }
  }
  return out.str();
}

}  // namespace passage::ops
