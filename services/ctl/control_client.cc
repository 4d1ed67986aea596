#include "services/ctl/control_client.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <zmq.hpp>

namespace passage::ctl {
namespace {

namespace v1 = passage::v1;

constexpr std::string_view kIpc = "ipc://";

// One context per process, never terminated: a call that timed out closed its socket with linger 0,
// so nothing could make a termination wait; leaving it to process exit avoids static-destruction
// order problems for callers that keep calling from other statics.
zmq::context_t& Context() {
  static zmq::context_t* ctx = new zmq::context_t(1);
  return *ctx;
}

Status NodeError(StatusCode code, std::string message) {
  return Status(code, std::move(message), "node");
}

bool IsSocketFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// True when nothing listens on the unix socket at `path` (a file left by a node that stopped):
// connecting is refused at once, where ZeroMQ would keep retrying until the timeout.
bool IsStaleSocket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof(addr.sun_path) - 1));
  bool refused =
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno == ECONNREFUSED;
  ::close(fd);
  return refused;
}

}  // namespace

std::string NodeEndpoint(std::string_view node) {
  if (node.find("://") != std::string_view::npos) {
    return std::string(node);
  }
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(std::filesystem::path(node), ec);
  if (ec) {
    p = std::filesystem::path(node);
  }
  p = p.lexically_normal();
  std::string path = p.string();
  if (path.size() > 1 && path.back() == '/') {
    path.pop_back();
  }
  if (IsSocketFile(path)) {
    return std::string(kIpc) + path;
  }
  return std::string(kIpc) + path + "/control.sock";
}

Result<v1::ControlResponse> CallNode(const std::string& endpoint, const v1::ControlRequest& request,
                                     int timeout_ms) {
  if (timeout_ms <= 0) {
    timeout_ms = 1;
  }
  if (endpoint.rfind(kIpc, 0) == 0) {
    const std::string path = endpoint.substr(kIpc.size());
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
      return NodeError(StatusCode::kInvalidArgument,
                       "the control socket path " + path +
                           " is longer than an ipc socket allows (" +
                           std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)");
    }
    if (!path.empty() && path[0] != '@' && !IsSocketFile(path)) {  // '@': abstract namespace
      return NodeError(StatusCode::kUnavailable, "no control socket at " + path +
                                                     " (is the node running, and is this its data "
                                                     "directory?)");
    }
    if (path[0] != '@' && IsStaleSocket(path)) {
      return NodeError(StatusCode::kUnavailable, "the node is not running: nothing listens on " +
                                                     path + " (left from an earlier run)");
    }
  }
  const std::string bytes = request.SerializeAsString();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  try {
    zmq::socket_t sock(Context(), zmq::socket_type::req);
    sock.set(zmq::sockopt::linger, 0);
    sock.set(zmq::sockopt::sndtimeo, timeout_ms);
    try {
      sock.connect(endpoint);
    } catch (const zmq::error_t& e) {
      return NodeError(StatusCode::kInvalidArgument,
                       "cannot use the endpoint '" + endpoint + "': " + e.what());
    }
    if (!sock.send(zmq::buffer(bytes), zmq::send_flags::none)) {
      return NodeError(StatusCode::kUnavailable, "could not send to " + endpoint + " within " +
                                                     std::to_string(timeout_ms) +
                                                     " ms (is the node running?)");
    }
    zmq::message_t reply;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return NodeError(StatusCode::kUnavailable,
                         "no answer from " + endpoint + " within " + std::to_string(timeout_ms) +
                             " ms (is the node running? a busy node may need a longer --timeout)");
      }
      zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
      try {
        zmq::poll(&item, 1, left);
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) {
          continue;
        }
        throw;
      }
      if ((item.revents & ZMQ_POLLIN) != 0 && sock.recv(reply, zmq::recv_flags::dontwait)) {
        break;
      }
    }
    // The socket closes here (linger 0) whatever happened above.
    v1::ControlResponse resp;
    if (reply.more() || !resp.ParseFromArray(reply.data(), static_cast<int>(reply.size()))) {
      return NodeError(StatusCode::kInternal,
                       "the answer from " + endpoint + " is not a passage.v1.ControlResponse");
    }
    return resp;
  } catch (const zmq::error_t& e) {
    return NodeError(StatusCode::kUnavailable,
                     "talking to " + endpoint + " failed: " + std::string(e.what()));
  }
}

}  // namespace passage::ctl
