#pragma once

// ZapHandler: the ZeroMQ authentication handler (ZAP, RFC 27) of the broker.
//
// Lifecycle: Start() binds inproc://zeromq.zap.01 in the given context and must run before the
// ROUTER binds, otherwise libzmq lets every client in. Stop() (or the destructor) ends the thread.
// Operation: CURVE clients are admitted when their public key is in the key map, and the agency id
// becomes the connection's User-Id. PLAIN clients are admitted only when `allow_plain` (the broker's
// --insecure mode) and get their user name as User-Id.
// Concurrency: the handler thread owns its REP socket; SetKeys and the counters are thread-safe.

#include <zmq.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "core/status.h"

namespace passage::transport {

class ZapHandler {
 public:
  ZapHandler(zmq::context_t& ctx, bool allow_plain);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  Status Start();
  void Stop();

  // public key (Z85) -> agency id.
  void SetKeys(std::map<std::string, std::string> keys);

  uint64_t accepted() const { return accepted_.load(); }
  uint64_t denied() const { return denied_.load(); }

 private:
  void Run(zmq::socket_t sock);

  zmq::context_t& ctx_;
  const bool allow_plain_;
  std::mutex mu_;
  std::map<std::string, std::string> keys_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> denied_{0};
  std::thread thread_;
};

}  // namespace passage::transport
