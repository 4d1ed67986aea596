#pragma once

// The operator's HTTP listener of a program (metrics_listen in its config): plain HTTP, its own
// thread, three read-only paths and nothing else.
//   GET /metrics  the registry in Prometheus text format (text/plain; version=0.0.4)
//   GET /healthz  200 "ok" while the process answers (liveness)
//   GET /readyz   200 "ready", or 503 with the reason it is not (readiness: the broker's log is
//                 open and its socket bound; a node is connected to the broker)
// Plain HTTP, because nothing served is personal: counts, timings and agency ids.

#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"
#include "ops/metrics.h"

namespace passage::ops {

class MetricsServer {
 public:
  // Binds `listen` ("HOST:PORT", port 0 = any free port) and serves `registry` from a thread.
  // Errors name the address and the reason (a port in use, a malformed address).
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                      const MetricsRegistry* registry);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const;
  // What /readyz answers; "" = ready. Starts as "starting".
  void SetNotReady(std::string reason);
  void SetReady() { SetNotReady(""); }
  std::string not_ready() const;

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace passage::ops
