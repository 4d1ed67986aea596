#pragma once

// Socket set-up shared by both ends: the options docs/protocol.md requires (bounded message size, short
// linger, heartbeats) and the security mechanism.

#include <zmq.hpp>

#include <string>

#include "core/status.h"

namespace passage::transport {

struct SocketSecurity {
  // CURVE when both keys are set; otherwise PLAIN with `agency_id` as user name (insecure mode:
  // development only, the broker trusts the claimed name).
  std::string own_public_z85;
  std::string own_secret_z85;
  std::string server_public_z85;  // clients only
  std::string agency_id;          // insecure clients only
};

struct SocketTuning {
  int max_message_bytes = 16 << 20;
  int linger_ms = 100;
  int heartbeat_ivl_ms = 1000;
  int heartbeat_timeout_ms = 5000;
  int sndhwm = 100000;
  int rcvhwm = 100000;
};

// ROUTER side: CURVE server (or PLAIN server when insecure), ZAP domain "passage".
Status ConfigureServer(zmq::socket_t& s, const SocketSecurity& sec, const SocketTuning& t);
// DEALER side: CURVE client (or PLAIN client when insecure).
Status ConfigureClient(zmq::socket_t& s, const SocketSecurity& sec, const SocketTuning& t);

}  // namespace passage::transport
