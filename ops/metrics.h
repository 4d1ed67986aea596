#pragma once

// Metrics in the Prometheus text exposition format (version 0.0.4), for the operator's monitoring
// (docs/operations.md lists every metric and what it means). Counts and timings only: no label or
// value ever carries case data, a name or a reference; agency ids are the only label values.
//
// Threads: series are updated by the program's own threads (atomics, no lock on the hot path) and
// read by the metrics listener's thread (Render). Families create series under a mutex.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace passage::ops {

class Counter {
 public:
  void Add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Observations counted in buckets with fixed upper bounds (seconds for latencies), plus their sum
// and count, as Prometheus histograms are.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound, then the total (the +Inf bucket).
  std::vector<uint64_t> Cumulative() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // one per bound, then +Inf
  std::atomic<double> sum_{0};
};

// Latency buckets from 100 us to 10 s, in seconds.
std::vector<double> LatencyBuckets();

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // One series without labels. The reference stays valid as long as the registry.
  Counter& AddCounter(const std::string& name, const std::string& help);
  Gauge& AddGauge(const std::string& name, const std::string& help);
  Histogram& AddHistogram(const std::string& name, const std::string& help,
                          std::vector<double> upper_bounds);

  // A family of series by label values (label names given once): With({"dastak-shelter"}).
  class CounterFamily;
  class GaugeFamily;
  CounterFamily& AddCounterFamily(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names);
  GaugeFamily& AddGaugeFamily(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names);

  // Every metric, in the order they were added.
  std::string Render() const;

 private:
  struct Family;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;  // GUARDED_BY(mu_) for the vector itself

  Family& Add(const std::string& name, const std::string& help, const char* type,
              std::vector<std::string> label_names);

 public:
  class CounterFamily {
   public:
    Counter& With(const std::vector<std::string>& labels);

   private:
    friend class MetricsRegistry;
    Family* f_ = nullptr;
  };
  class GaugeFamily {
   public:
    Gauge& With(const std::vector<std::string>& labels);
    // Drops a series (an agency that disconnected): it is no longer exported.
    void Remove(const std::vector<std::string>& labels);

   private:
    friend class MetricsRegistry;
    Family* f_ = nullptr;
  };

 private:
  std::vector<std::unique_ptr<CounterFamily>> counter_families_;
  std::vector<std::unique_ptr<GaugeFamily>> gauge_families_;
};

}  // namespace passage::ops
