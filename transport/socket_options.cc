#include "transport/socket_options.h"

namespace passage::transport {
namespace {

void Common(zmq::socket_t& s, const SocketTuning& t) {
  s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(t.max_message_bytes));
  s.set(zmq::sockopt::linger, t.linger_ms);
  s.set(zmq::sockopt::heartbeat_ivl, t.heartbeat_ivl_ms);
  s.set(zmq::sockopt::heartbeat_timeout, t.heartbeat_timeout_ms);
  s.set(zmq::sockopt::heartbeat_ttl, t.heartbeat_timeout_ms);
  s.set(zmq::sockopt::sndhwm, t.sndhwm);
  s.set(zmq::sockopt::rcvhwm, t.rcvhwm);
}

}  // namespace

Status ConfigureServer(zmq::socket_t& s, const SocketSecurity& sec, const SocketTuning& t) {
  try {
    Common(s, t);
    s.set(zmq::sockopt::zap_domain, "passage");
    if (!sec.own_secret_z85.empty()) {
      s.set(zmq::sockopt::curve_server, 1);
      s.set(zmq::sockopt::curve_secretkey, sec.own_secret_z85);
    } else {
      s.set(zmq::sockopt::plain_server, 1);
    }
    s.set(zmq::sockopt::router_mandatory, 1);
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("configuring the broker socket: ") + e.what());
  }
  return Status::Ok();
}

Status ConfigureClient(zmq::socket_t& s, const SocketSecurity& sec, const SocketTuning& t) {
  try {
    Common(s, t);
    if (!sec.own_secret_z85.empty()) {
      s.set(zmq::sockopt::curve_serverkey, sec.server_public_z85);
      s.set(zmq::sockopt::curve_publickey, sec.own_public_z85);
      s.set(zmq::sockopt::curve_secretkey, sec.own_secret_z85);
    } else {
      s.set(zmq::sockopt::plain_username, sec.agency_id);
      s.set(zmq::sockopt::plain_password, "insecure");
    }
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("configuring the agency socket: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace passage::transport
