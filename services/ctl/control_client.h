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

#include "core/status.h"
#include "passage/v1/control.pb.h"

namespace passage::ctl {

// The control endpoint for --node / $PASSAGE_NODE: a ZeroMQ endpoint ("ipc://...", "tcp://...")
// is kept as is; anything else is a node's data directory and becomes ipc://<absolute
// dir>/control.sock (or ipc://<absolute path> when it names the socket file itself).
std::string NodeEndpoint(std::string_view node);

// Sends `request` to the node at `endpoint` and waits at most `timeout_ms` for its answer.
Result<passage::v1::ControlResponse> CallNode(const std::string& endpoint,
                                              const passage::v1::ControlRequest& request,
                                              int timeout_ms);

}  // namespace passage::ctl
