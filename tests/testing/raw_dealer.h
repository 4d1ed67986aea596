#pragma once

// Test helper: a bare ZeroMQ DEALER speaking to the broker with an agency's CURVE keys, for tests
// that must send what a well-behaved Client never would (raw frames, repeated bytes, NACKs by
// hand) and see every reply as it arrives.
//
// Concurrency: not thread-safe; one thread owns it (its own context and socket).

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "passage/v1/wire.pb.h"
#include "transport/frames.h"
#include "transport/keys.h"
#include "transport/socket_options.h"

namespace passage::testing {

class RawDealer {
 public:
  // Connects to `endpoint` as the holder of `keys` (CURVE client of `server_public_z85`). With
  // `monitor`, socket events are recorded from before the connect (see WaitForEvent).
  RawDealer(const std::string& endpoint, const std::string& server_public_z85,
            const transport::CurveKeyPair& keys, int max_message_bytes = 64 << 20,
            bool monitor = false)
      : ctx_(1), sock_(ctx_, zmq::socket_type::dealer) {
    transport::SocketSecurity sec;
    sec.own_public_z85 = keys.public_z85;
    sec.own_secret_z85 = keys.secret_z85;
    sec.server_public_z85 = server_public_z85;
    transport::SocketTuning tuning;
    tuning.max_message_bytes = max_message_bytes;
    status_ = transport::ConfigureClient(sock_, sec, tuning);
    sock_.set(zmq::sockopt::linger, 0);
    sock_.set(zmq::sockopt::reconnect_ivl, 100);
    if (monitor) {
      const std::string inproc = "inproc://raw-dealer-monitor";
      // Handshake outcomes only: few events, so the monitor queue never fills.
      zmq_socket_monitor(sock_.handle(), inproc.c_str(),
                         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                             ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
      monitor_ = zmq::socket_t(ctx_, zmq::socket_type::pair);
      monitor_.set(zmq::sockopt::linger, 0);
      monitor_.connect(inproc);
    }
    sock_.connect(endpoint);
  }
  ~RawDealer() {
    if (monitor_) {
      // Stopping sends a last event to the monitor: its PAIR must still be connected.
      zmq_socket_monitor(sock_.handle(), nullptr, 0);
      monitor_.close();
    }
    sock_.close();
    ctx_.close();
  }
  RawDealer(const RawDealer&) = delete;
  RawDealer& operator=(const RawDealer&) = delete;

  const Status& status() const { return status_; }
  zmq::socket_t& socket() { return sock_; }

  // With monitoring on: reads socket events for up to `timeout_ms`; true once `event` (e.g.
  // ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) was seen, with its value in *value.
  bool WaitForEvent(uint16_t event, int timeout_ms, uint32_t* value) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (monitor_ && std::chrono::steady_clock::now() < until) {
      zmq::pollitem_t item{monitor_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
      if ((item.revents & ZMQ_POLLIN) == 0) {
        continue;
      }
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(monitor_, std::back_inserter(parts), zmq::recv_flags::dontwait) ||
          parts.empty() || parts[0].size() < 6) {
        continue;
      }
      uint16_t ev = 0;
      uint32_t val = 0;
      std::memcpy(&ev, parts[0].data(), 2);
      std::memcpy(&val, static_cast<const char*>(parts[0].data()) + 2, 4);
      if (ev == event) {
        *value = val;
        return true;
      }
    }
    return false;
  }

  // Sends `frames` as one multi-part message (no routing id: the DEALER has none).
  bool SendFrames(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      if (!sock_.send(zmq::buffer(frames[i]), flags)) {
        return false;
      }
    }
    return true;
  }

  // Sends ["PSG1", body] with a fresh request id (unless one is set); returns the id.
  uint64_t Send(passage::v1::ClientFrame f) {
    if (f.request_id() == 0) {
      f.set_request_id(++next_request_);
    }
    SendFrames({std::string(transport::kVersionFrame), transport::Serialize(f)});
    return f.request_id();
  }

  // The next message, whatever it is, or nullopt after `timeout_ms`.
  std::optional<std::vector<std::string>> RecvFrames(int timeout_ms) {
    zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
    if ((item.revents & ZMQ_POLLIN) == 0) {
      return std::nullopt;
    }
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(sock_, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (auto& p : parts) {
      out.push_back(p.to_string());
    }
    return out;
  }

  // The next well-formed ServerFrame, or nullopt after `timeout_ms`.
  std::optional<passage::v1::ServerFrame> Recv(int timeout_ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      until - std::chrono::steady_clock::now())
                                      .count());
      auto frames = RecvFrames(std::max(left, 0));
      if (!frames) {
        return std::nullopt;
      }
      std::vector<std::string_view> views(frames->begin(), frames->end());
      auto f = transport::ParseServerFrame(views);
      if (f.ok()) {
        return std::move(f).value();
      }
    }
  }

  // Waits for the reply to `request_id`; other frames go to `others` (if given).
  std::optional<passage::v1::ServerFrame> Await(uint64_t request_id, int timeout_ms,
                                                std::vector<passage::v1::ServerFrame>* others =
                                                    nullptr) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      until - std::chrono::steady_clock::now())
                                      .count());
      auto f = Recv(std::max(left, 1));
      if (!f) {
        return std::nullopt;
      }
      if (f->request_id() == request_id && !f->has_deliver()) {
        return f;
      }
      if (others != nullptr) {
        others->push_back(std::move(*f));
      }
    }
    return std::nullopt;
  }

  // Sends `f` and waits for its reply.
  std::optional<passage::v1::ServerFrame> Call(passage::v1::ClientFrame f, int timeout_ms,
                                               std::vector<passage::v1::ServerFrame>* others =
                                                   nullptr) {
    uint64_t id = Send(std::move(f));
    return Await(id, timeout_ms, others);
  }

 private:
  zmq::context_t ctx_;
  zmq::socket_t sock_;
  zmq::socket_t monitor_;
  Status status_;
  uint64_t next_request_ = 1000;
};

// ClientFrame{publish{events}} from serialized events.
inline passage::v1::ClientFrame PublishFrame(const std::vector<std::string>& event_bytes) {
  passage::v1::ClientFrame f;
  for (const auto& b : event_bytes) {
    f.mutable_publish()->add_events(b);
  }
  return f;
}

}  // namespace passage::testing
