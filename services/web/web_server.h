#pragma once

// WebServer: an agency node's web workspace (docs/web.md). Server-rendered HTML, no script; every
// page is built from the node's own control interface (the same ControlRequests passagectl sends),
// so sign-in, roles, validation and access logging are exactly those of every other path.
//
// Operation: cpp-httplib serves on its own thread pool; each request opens its own REQ socket to
// the node's control endpoint (ctl::CallNode), so the node's single thread stays the only owner of
// its state. The browser holds the node session token in an HttpOnly, SameSite=Strict cookie
// (Secure under TLS); every form carries a CSRF token derived from the session with a secret made
// at start; the sign-in form a double-submit token. Every response carries a
// Content-Security-Policy without script, X-Frame-Options DENY, nosniff, no-referrer and
// Cache-Control no-store. No personal data goes in a URL: case ids are random UUIDs, personal data
// is shown only in the answer to a POST.
//
// Limits: English and Urdu (services/web/po); plain HTTP only on a loopback address (TLS with a certificate and key
// otherwise); pages of 50 referrals.
//
// Thread-safety: Start/Stop from one thread; requests are served concurrently.

#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "passage/v1/config.pb.h"

namespace passage::web {

struct WebOptions {
  passage::v1::HttpConfig http;  // listen address, TLS files
  std::string control_endpoint;  // the node's control socket
  std::string agency_id;
  std::string agency_name;
  // The NRM's agencies people may refer to (id -> registered name): names in lists and the
  // onward-referral form. System principals are left out.
  std::map<std::string, std::string> agencies;
  std::map<std::string, passage::v1::Agency> registry;  // every registered agency, by id
  std::string port_file;  // when set, the bound port is written there (listen port 0 = any)
  std::string data_dir;   // where a self-signed certificate is kept (http.tls_self_signed)
};

class WebServer {
 public:
  // Binds and starts serving. InvalidArgument for a bad listen address or plain HTTP on a
  // non-loopback address; Unavailable when the address cannot be bound or TLS files not read.
  static Result<std::unique_ptr<WebServer>> Start(WebOptions options);
  ~WebServer();

  int port() const;
  void Stop();

  class Impl;

 private:
  explicit WebServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// HTML-escapes `text` for element content and attribute values (& < > " ').
std::string Esc(std::string_view text);

}  // namespace passage::web
