#pragma once

// The client side of a node's local control interface (proto/passage/v1/control.proto): one
// ControlRequest, one ControlResponse, over a ZeroMQ REQ socket. Used by passagectl and the demo.
//
// Operation: every call opens a fresh REQ socket (linger 0) on a process-wide context, sends the
// request, waits at most `timeout_ms` for the answer and closes the socket. A call that timed out
// therefore leaves nothing behind: no queued request, no blocked close, no half-used REQ socket.
//
// Errors (the Status field is "node"):
//   Unavailable      no control socket file at an ipc:// path, nothing answering within the
//                    timeout (the node is not running, or is busy past the timeout);
//   InvalidArgument  an endpoint ZeroMQ does not accept (bad scheme, ipc path too long);
//   Internal         the answer is not a ControlResponse.
// A response whose `code` is not OK is still a successful call: the caller reads code/field/reason.
//
// Thread-safety: CallNode may be called from several threads at once (each call has its own
// socket; the context is thread-safe).

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "passage/v1/control.pb.h"

namespace passage::ctl {

// The control endpoint for --node / $PASSAGE_NODE: a ZeroMQ endpoint ("ipc://...", "tcp://...")
// is kept as is; anything else is a node's data directory and becomes ipc://<absolute
// dir>/control.sock (or ipc://<absolute path> when it names the socket file itself).
std::string NodeEndpoint(std::string_view node);

// Where passagectl keeps the session of a node: DIR/<last folder of the endpoint>-<16 hex of a
// hash of the whole endpoint>, so two nodes never share a file and the name says which node.
std::string SessionPath(const std::string& session_dir, const std::string& endpoint);
// The token saved at `path`; "" when there is none. A file readable by others than its owner is
// refused (PermissionDenied naming the path): fix its mode or sign in again.
Result<std::string> LoadSession(const std::string& path);
// Writes the token with mode 0600 (the folder 0700), replacing any earlier one atomically.
Status SaveSession(const std::string& path, const std::string& token);

// Signs in to the node: the session token, or the node's refusal as PermissionDenied (field
// "login" or "password") and transport failures as CallNode's.
Result<std::string> SignIn(const std::string& endpoint, const std::string& login,
                           const std::string& password, int timeout_ms);
// With a node admin's session, adds a staff account with the given password, as permanent (no
// change asked at first sign-in): for scripts that provision accounts.
Status AddStaff(const std::string& endpoint, const std::string& admin_token,
                const std::string& login, const std::string& display_name,
                const std::vector<passage::v1::ActorRole>& roles, const std::string& password,
                int timeout_ms);

// Sends serialized request bytes to a REP socket at `endpoint` (a node's control socket, the
// broker's admin socket: `who` says which, for the errors) and waits at most `timeout_ms` for its
// ControlResponse.
Result<passage::v1::ControlResponse> CallSocket(const std::string& endpoint,
                                                const std::string& bytes, int timeout_ms,
                                                std::string_view who);

// Sends `request` to the node at `endpoint` and waits at most `timeout_ms` for its answer.
Result<passage::v1::ControlResponse> CallNode(const std::string& endpoint,
                                              const passage::v1::ControlRequest& request,
                                              int timeout_ms);

}  // namespace passage::ctl
