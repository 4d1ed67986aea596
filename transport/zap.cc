#include "transport/zap.h"

#include <spdlog/spdlog.h>
#include <zmq.h>

#include <vector>

namespace passage::transport {

ZapHandler::ZapHandler(zmq::context_t& ctx, bool allow_plain)
    : ctx_(ctx), allow_plain_(allow_plain) {}

ZapHandler::~ZapHandler() { Stop(); }

Status ZapHandler::Start() {
  zmq::socket_t sock(ctx_, zmq::socket_type::rep);
  try {
    sock.set(zmq::sockopt::linger, 0);
    sock.bind("inproc://zeromq.zap.01");
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("binding the ZAP handler: ") + e.what());
  }
  thread_ = std::thread([this, s = std::move(sock)]() mutable { Run(std::move(s)); });
  return Status::Ok();
}

void ZapHandler::Stop() {
  stop_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
}

void ZapHandler::SetKeys(std::map<std::string, std::string> keys) {
  std::lock_guard lock(mu_);
  keys_ = std::move(keys);
}

void ZapHandler::Run(zmq::socket_t sock) {
  while (!stop_) {
    zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
    } catch (const zmq::error_t&) {
      break;  // context terminated
    }
    if ((item.revents & ZMQ_POLLIN) == 0) {
      continue;
    }
    std::vector<zmq::message_t> req;
    try {
      for (;;) {
        zmq::message_t m;
        if (!sock.recv(m)) {
          break;
        }
        bool more = m.more();
        req.push_back(std::move(m));
        if (!more) {
          break;
        }
      }
    } catch (const zmq::error_t&) {
      break;
    }
    // version, request id, domain, address, identity, mechanism, credentials...
    std::string status = "400";
    std::string text = "denied";
    std::string user;
    if (req.size() >= 6 && req[0].to_string_view() == "1.0") {
      std::string_view mechanism = req[5].to_string_view();
      if (mechanism == "CURVE" && req.size() >= 7 && req[6].size() == 32) {
        char z85[41] = {};
        zmq_z85_encode(z85, static_cast<const uint8_t*>(req[6].data()), 32);
        std::lock_guard lock(mu_);
        auto it = keys_.find(z85);
        if (it != keys_.end()) {
          status = "200";
          text = "OK";
          user = it->second;
        } else {
          text = "unknown agency key";
          spdlog::warn("zap: refused unknown CURVE key {} from {}", z85, req[3].to_string());
        }
      } else if (mechanism == "PLAIN" && allow_plain_ && req.size() >= 8 && req[6].size() > 0) {
        status = "200";
        text = "OK (insecure)";
        user = req[6].to_string();
      } else {
        text = "mechanism not allowed";
      }
    }
    (status == "200" ? accepted_ : denied_)++;
    try {
      sock.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
      sock.send(req.size() > 1 ? zmq::buffer(req[1].data(), req[1].size()) : zmq::str_buffer(""),
                zmq::send_flags::sndmore);
      sock.send(zmq::buffer(status), zmq::send_flags::sndmore);
      sock.send(zmq::buffer(text), zmq::send_flags::sndmore);
      sock.send(zmq::buffer(user), zmq::send_flags::sndmore);
      sock.send(zmq::str_buffer(""), zmq::send_flags::none);
    } catch (const zmq::error_t&) {
      break;
    }
  }
}

}  // namespace passage::transport
