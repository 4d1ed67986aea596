#include "services/ctl/control_client.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
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

std::string SessionPath(const std::string& session_dir, const std::string& endpoint) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : endpoint) {
    h = (h ^ c) * 1099511628211ull;
  }
  std::string name;
  std::filesystem::path p(endpoint.substr(endpoint.find("://") == std::string::npos
                                              ? 0
                                              : endpoint.find("://") + 3));
  if (p.filename() == "control.sock") {
    p = p.parent_path();
  }
  for (char c : p.filename().string()) {
    name += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return session_dir + "/" + (name.empty() ? "node" : name.substr(0, 40)) + "-" + hex;
}

Result<std::string> LoadSession(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return std::string();
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    return Status(StatusCode::kPermissionDenied,
                  "the session file is not a plain file of yours; delete it and sign in again "
                  "(passagectl login)",
                  path);
  }
  if ((st.st_mode & 077) != 0) {
    return Status(StatusCode::kPermissionDenied, "the session file is readable by others than you; delete it "
                                    "and sign in again (passagectl login)",
                                    path);
  }
  std::ifstream in(path);
  std::string token;
  std::getline(in, token);
  return token;
}

Status SaveSession(const std::string& path, const std::string& token) {
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::filesystem::create_directories(dir, ec);
  if (ec || ::chmod(dir.c_str(), 0700) != 0) {
    return Status(StatusCode::kIoError, "cannot make the session folder (mode 0700)", dir.string());
  }
  const std::string tmp = path + ".new";
  ::unlink(tmp.c_str());  // a leftover could have another mode or be a link
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(StatusCode::kIoError, "cannot write the session file: " + std::string(std::strerror(errno)),
                           tmp);
  }
  const std::string line = token + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status(StatusCode::kIoError, "cannot write the session file", path);
  }
  return Status::Ok();
}

Result<std::string> SignIn(const std::string& endpoint, const std::string& login,
                           const std::string& password, int timeout_ms) {
  v1::ControlRequest req;
  req.mutable_login()->set_login(login);
  req.mutable_login()->set_password(password);
  ASSIGN_OR_RETURN(v1::ControlResponse r, CallNode(endpoint, req, timeout_ms));
  if (r.code() != v1::CONTROL_CODE_OK) {
    return Status::PermissionDenied(r.reason(), r.field());
  }
  return r.session_token();
}

Status AddStaff(const std::string& endpoint, const std::string& admin_token,
                const std::string& login, const std::string& display_name,
                const std::vector<v1::ActorRole>& roles, const std::string& password,
                int timeout_ms) {
  v1::ControlRequest req;
  req.set_session_token(admin_token);
  auto* st = req.mutable_staff();
  st->set_op(v1::StaffRequest::OP_ADD);
  st->set_login(login);
  st->set_display_name(display_name);
  st->set_password(password);
  st->set_permanent(true);  // a script provisions it with a password agreed for it
  for (auto r : roles) {
    st->add_roles(r);
  }
  ASSIGN_OR_RETURN(v1::ControlResponse r, CallNode(endpoint, req, timeout_ms));
  if (r.code() != v1::CONTROL_CODE_OK) {
    return Status(r.code() == v1::CONTROL_CODE_INVALID ? StatusCode::kInvalidArgument
                                                       : StatusCode::kPermissionDenied,
                  "cannot add staff account " + login + ": " + r.reason(), r.field());
  }
  return Status::Ok();
}

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

Result<v1::ControlResponse> CallSocket(const std::string& endpoint, const std::string& bytes,
                                       int timeout_ms, std::string_view who) {
  const std::string w(who);
  const std::string socket_name = w == "node" ? "control socket" : w + "'s admin socket";
  if (timeout_ms <= 0) {
    timeout_ms = 1;
  }
  if (endpoint.rfind(kIpc, 0) == 0) {
    const std::string path = endpoint.substr(kIpc.size());
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
      return NodeError(StatusCode::kInvalidArgument,
                       "the " + socket_name + " path " + path +
                           " is longer than an ipc socket allows (" +
                           std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)");
    }
    if (!path.empty() && path[0] != '@' && !IsSocketFile(path)) {  // '@': abstract namespace
      return NodeError(StatusCode::kUnavailable, "no " + socket_name + " at " + path +
                                                     " (is the " + w +
                                                     " running, and is this its data directory?)");
    }
    if (path[0] != '@' && IsStaleSocket(path)) {
      return NodeError(StatusCode::kUnavailable, "the " + w + " is not running: nothing listens on " +
                                                     path + " (left from an earlier run)");
    }
  }
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
                                                     " ms (is the " + w + " running?)");
    }
    zmq::message_t reply;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return NodeError(StatusCode::kUnavailable,
                         "no answer from " + endpoint + " within " + std::to_string(timeout_ms) +
                             " ms (is the " + w + " running? a busy one may need a longer --timeout)");
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

Result<v1::ControlResponse> CallNode(const std::string& endpoint, const v1::ControlRequest& request,
                                     int timeout_ms) {
  return CallSocket(endpoint, request.SerializeAsString(), timeout_ms, "node");
}

}  // namespace passage::ctl
