#pragma once

// ApiServer: the node's HTTP/JSON API for the agency's own systems (docs/api/openapi.json is the
// contract; docs/api/README.md the guide), under /api/v1/ on the web workspace's listener.
//
// Operation: every route turns the request into one ControlRequest carrying the caller's API key
// (`Authorization: Bearer <key>`) and sends it to the node's control socket (ctl::CallNode), like
// the web workspace and passagectl do; the node authenticates the key, checks its roles, applies
// its rate limit, validates and records accesses exactly as for a signed-in person. No cookies, no
// CSRF (nothing here reads a cookie: a request without a bearer key is refused). JSON in and out;
// every error is {"code", "field", "reason"} with an HTTP status: 400 invalid (field names it),
// 401 no or bad key, 403 role, 404 unknown case or referral, 409 refused by the state machine or
// consent, 413 body over 64 KiB, 429 rate limit (with Retry-After), 503 node or broker unavailable.
// Personal data goes only in POST bodies and answers, never in a URL.
//
// Thread-safety: routes run on httplib's pool; each call opens its own socket to the node.

#include <httplib.h>

#include <string>

namespace passage::web {

struct ApiOptions {
  std::string control_endpoint;  // the node's control socket
};

class ApiServer {
 public:
  explicit ApiServer(ApiOptions options) : options_(std::move(options)) {}

  // Adds the /api/v1/ routes to `server` (before it listens).
  void Register(httplib::Server& server);

  // Whether `path` belongs to the API (its errors are JSON, not pages).
  static bool IsApiPath(const std::string& path);
  // The JSON answer for an error httplib raised itself (413, 400, 404) or an exception.
  static void RawError(httplib::Response& res, int status);
  // Writes an error answer.
  static void Error(httplib::Response& res, int status, const std::string& code,
                    const std::string& field, const std::string& reason);

 private:
  ApiOptions options_;
};

}  // namespace passage::web
