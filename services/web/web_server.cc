#include "services/web/web_server.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <map>
#include <thread>

#include "core/codes.h"
#include "core/ids.h"
#include "passage/v1/control.pb.h"
#include "services/ctl/control_client.h"
#include "services/web/self_signed.h"

namespace passage::web {

namespace v1 = passage::v1;

std::string Esc(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

constexpr char kSessionCookie[] = "psg_session";
constexpr char kPreCookie[] = "psg_pre";
constexpr int kPageSize = 50;
constexpr int kCallTimeoutMs = 20000;

constexpr char kCss[] = R"(*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa;line-height:1.4}
header{background:#1d3557;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
header a{color:#fff}header .who{margin-left:auto}
main{padding:1rem;max-width:60rem;margin:auto}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}
.overdue{color:#b00020;font-weight:bold}.error{background:#fde8e8;border:1px solid #b00020;padding:.6rem}
.ok{background:#e8f5e9;border:1px solid #2e7d32;padding:.6rem}
.count{background:#ffd166;color:#1b1b1b;border-radius:1rem;padding:0 .5rem}
form.inline{display:inline}label{display:block;margin:.4rem 0}input,select,button{font-size:1rem;padding:.3rem}
pre{white-space:pre-wrap;background:#fff;padding:.6rem;border:1px solid #ddd}
@media (max-width:40rem){th:nth-child(4),td:nth-child(4){display:none}}
)";

std::string Cookie(const httplib::Request& req, const std::string& name) {
  const std::string header = req.get_header_value("Cookie");
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.erase(0, 1);
    if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return "";
}

bool IsUuid(const std::string& s) { return core::ValidateUuid(s, "id").ok(); }

// A field of a multipart form body (the intake form is sent so: it is large, and the query string
// is never read for it). Empty when absent.
std::string Posted(const httplib::Request& req, const std::string& name) {
  return req.has_file(name) ? req.get_file_value(name).content : std::string();
}

std::vector<std::string> PostedAll(const httplib::Request& req, const std::string& name) {
  std::vector<std::string> out;
  auto range = req.files.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) {
    out.push_back(it->second.content);
  }
  return out;
}

std::string Hex(const unsigned char* b, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += d[b[i] >> 4];
    out += d[b[i] & 15];
  }
  return out;
}

bool SameText(const std::string& a, const std::string& b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}


// "FORCED_LABOUR" -> "forced labour".
std::string Label(const google::protobuf::EnumDescriptor* type, int value) {
  if (type == v1::CrimeType_descriptor()) {
    switch (value) {
      case v1::CRIME_TYPE_TIP:
        return "trafficking in persons (TIP)";
      case v1::CRIME_TYPE_SOM:
        return "smuggling of migrants (SOM)";
      case v1::CRIME_TYPE_BOTH:
        return "both TIP and SOM";
      default:
        break;
    }
  }
  std::string s = core::ShortEnumName(type, value);
  for (char& c : s) {
    c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

// "CANCEL_REQUESTED" -> "cancel requested": people's words, not the schema's.
std::string StatusWord(int s) { return Label(v1::ReferralStatus_descriptor(), s); }

// The intake form's fields that carry one or more enum values, by form name.
struct EnumField {
  const char* name;
  const char* label;
  const google::protobuf::EnumDescriptor* type;
  bool multiple;
};

const std::vector<EnumField>& EnumFields() {
  static const std::vector<EnumField> kFields = {
      {"crime_type", "Crime", v1::CrimeType_descriptor(), false},
      {"sex", "Sex", v1::Sex_descriptor(), false},
      {"identification_channel", "Identified through", v1::IdentificationChannel_descriptor(),
       false},
      {"exploitation_forms", "Forms of exploitation", v1::ExploitationForm_descriptor(), true},
      {"labour_sectors", "Labour sectors", v1::LabourSector_descriptor(), true},
      {"means_of_control", "Means of control", v1::MeansOfControl_descriptor(), true},
      {"recruiter_relations", "Recruiter was", v1::RecruiterRelation_descriptor(), true},
      {"consents", "Consents given", v1::ConsentScope_descriptor(), true},
  };
  return kFields;
}

struct TextField {
  const char* name;
  const char* label;
  bool personal;  // sealed on the node
};

const std::vector<TextField>& TextFields() {
  static const std::vector<TextField> kFields = {
      {"age_years", "Age in years", false},
      {"citizenship", "Citizenship (ISO codes, comma-separated, e.g. PK, AF)", false},
      {"country_of_identification", "Country where identified (e.g. PK)", false},
      {"province_of_identification", "Province where identified (e.g. PK-SD)", false},
      {"country_of_exploitation", "Country of exploitation", false},
      {"given_name", "Given name", true},
      {"family_name", "Family name", true},
      {"date_of_birth", "Date of birth (YYYY-MM-DD)", true},
      {"cnic", "CNIC", true},
      {"phone", "Phone", true},
      {"address", "Address", true},
      {"narrative", "What happened, in the person's words", true},
  };
  return kFields;
}

// The form field a control answer's `field` is about: "profile.citizenship[0]" -> "citizenship",
// "consents[0].scope" -> "consents", "personal.given_name" -> "given_name".
std::string FormField(std::string field) {
  for (const char* prefix : {"profile.", "personal.", "case_opened."}) {
    if (field.rfind(prefix, 0) == 0) field = field.substr(std::string(prefix).size());
  }
  const auto cut = field.find_first_of("[.");
  return cut == std::string::npos ? field : field.substr(0, cut);
}

}  // namespace

class WebServer::Impl {
 public:
  explicit Impl(WebOptions o) : options_(std::move(o)) {
    randombytes_buf(secret_, sizeof(secret_));
  }

  Status Bind() {
    const std::string& listen = options_.http.listen();
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
      return Status::InvalidArgument("http.listen", "give HOST:PORT, e.g. 127.0.0.1:8080");
    }
    host_ = listen.substr(0, colon);
    int port = 0;
    try {
      port = std::stoi(listen.substr(colon + 1));
    } catch (...) {
      return Status::InvalidArgument("http.listen", "the port is not a number");
    }
    std::string cert = options_.http.tls_cert_file();
    std::string key = options_.http.tls_key_file();
    if (cert.empty() && options_.http.tls_self_signed()) {
      cert = options_.data_dir + "/http-cert.pem";
      key = options_.data_dir + "/http-key.pem";
      RETURN_IF_ERROR(EnsureSelfSignedCertificate(cert, key, host_));
    }
    tls_ = !cert.empty();
    secure_ = tls_ || options_.http.behind_tls_proxy();
    const bool loopback = host_ == "127.0.0.1" || host_ == "::1" || host_ == "localhost";
    if (!tls_ && !loopback) {
      return Status::InvalidArgument(
          "http.listen",
          "plain HTTP is served only on a loopback address; give tls_cert_file and "
          "tls_key_file to listen on " +
              host_);
    }
    if (tls_) {
      server_ = std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str());
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    if (!server_->is_valid()) {
      return Status::Unavailable("the TLS certificate or key could not be read");
    }
    Routes();
    port_ = port == 0 ? server_->bind_to_any_port(host_)
                      : (server_->bind_to_port(host_, port) ? port : -1);
    if (port_ <= 0) {
      return Status::Unavailable("cannot listen on " + listen);
    }
    if (!options_.port_file.empty()) {
      std::ofstream(options_.port_file) << port_ << "\n";
    }
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    spdlog::info("{}: web workspace at {}://{}:{}/", options_.agency_id, tls_ ? "https" : "http",
                 host_, port_);
    return Status::Ok();
  }

  void Stop() {
    if (server_) {
      server_->stop();
    }
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  int port() const { return port_; }

 private:
  // ---- plumbing ----
  struct Me {
    std::string token;
    std::string login;
    std::string roles;  // "case worker, supervisor"
    int fresh = -1;     // referrals waiting for an answer (SENT, RECEIVED); -1 = no inbox
    int due_soon = 0;   // of those, due within a day or overdue
  };

  Result<v1::ControlResponse> Call(v1::ControlRequest req, const std::string& token) {
    req.set_session_token(token);
    return ctl::CallNode(options_.control_endpoint, req, kCallTimeoutMs);
  }

  std::string Csrf(const std::string& token) const {
    unsigned char out[16];
    crypto_generichash(out, sizeof(out), reinterpret_cast<const unsigned char*>(token.data()),
                       token.size(), secret_, sizeof(secret_));
    return Hex(out, sizeof(out));
  }

  void Headers(httplib::Response& res) const {
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                   "frame-ancestors 'none'; base-uri 'none'");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Cache-Control", "no-store");
    if (secure_) {
      res.set_header("Strict-Transport-Security", "max-age=31536000");
    }
  }

  std::string Page(const std::string& title, const std::string& body, const Me* me) const {
    std::string h =
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        "<title>" +
        Esc(title) +
        " - Passage</title>"
        "<link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><header>"
        "<strong>Passage</strong> <span><bdi>" +
        Esc(options_.agency_name) + "</bdi></span>";
    if (me != nullptr) {
      std::string counts;
      if (me->fresh > 0) {
        counts = " <span class=\"count\">" + std::to_string(me->fresh) + " to answer" +
                 (me->due_soon > 0 ? ", " + std::to_string(me->due_soon) + " due within a day"
                                   : std::string()) +
                 "</span>";
      }
      h += " <a href=\"/\">Inbox</a>" + counts +
           " <a href=\"/intake\">New case</a><span class=\"who\">Signed in "
           "as <bdi>" +
           Esc(me->login) + "</bdi> (" + Esc(me->roles) +
           ")</span><form class=\"inline\" method=\"post\" "
           "action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"" +
           Csrf(me->token) + "\"><button>Sign out</button></form>";
    }
    return h + "</header><main><h1>" + Esc(title) + "</h1>" + body + "</main></body></html>";
  }

  void Send(httplib::Response& res, int status, const std::string& html) const {
    Headers(res);
    res.status = status;
    res.set_content(html, "text/html; charset=utf-8");
  }

  void Redirect(httplib::Response& res, const std::string& to) const {
    Headers(res);
    res.status = 303;
    res.set_header("Location", to);
  }

  // The signed-in person of `req`, or nullopt after answering (redirect to sign-in).
  std::optional<Me> Require(const httplib::Request& req, httplib::Response& res) {
    Me me;
    me.token = Cookie(req, kSessionCookie);
    // Only a token of this node's shape reaches the node: junk cookies cost it nothing.
    const std::string prefix = options_.agency_id + ".";
    if (me.token.size() != prefix.size() + 64 || me.token.rfind(prefix, 0) != 0 ||
        me.token.find_first_not_of("0123456789abcdef", prefix.size()) != std::string::npos) {
      res.set_header("Set-Cookie", std::string(kSessionCookie) + "=; Path=/; Max-Age=0; HttpOnly; "
                                                               "SameSite=Strict" +
                                       (secure_ ? "; Secure" : ""));
      Redirect(res, "/login");
      return std::nullopt;
    }
    v1::ControlRequest who;
    who.set_json(true);
    who.mutable_whoami();
    auto r = Call(who, me.token);
    if (!r.ok()) {
      Send(res, 503,
           Page("Node unavailable", "<p class=\"error\">" + Esc(r.status().message()) + "</p>",
                nullptr));
      return std::nullopt;
    }
    if (r->code() != v1::CONTROL_CODE_OK) {
      Redirect(res, "/login");
      return std::nullopt;
    }
    google::protobuf::Struct s;
    if (google::protobuf::util::JsonStringToMessage(r->json(), &s).ok()) {
      me.login = s.fields().count("login") ? s.fields().at("login").string_value() : "";
      if (s.fields().count("roles")) {
        for (const auto& v : s.fields().at("roles").list_value().values()) {
          me.roles += (me.roles.empty() ? "" : ", ") + v.string_value();
        }
      }
    }
    // The in-app notice on every page: referrals waiting for this agency's answer.
    if (auto inbox = InboxOf(me, false); inbox.ok()) {
      const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      me.fresh = 0;
      for (const v1::Referral& r : *inbox) {
        if (r.status() == v1::REFERRAL_STATUS_SENT || r.status() == v1::REFERRAL_STATUS_RECEIVED) {
          ++me.fresh;
          if (r.respond_by_ms() != 0 && r.respond_by_ms() < now + 24 * 3'600'000LL) {
            ++me.due_soon;
          }
        }
      }
    }
    return me;
  }

  // A POST of a signed-in page: the CSRF token must match the session.
  std::optional<Me> RequirePost(const httplib::Request& req, httplib::Response& res) {
    auto me = Require(req, res);
    if (!me) return std::nullopt;
    const std::string token =
        req.has_file("csrf") ? req.get_file_value("csrf").content : req.get_param_value("csrf");
    if (!SameText(token, Csrf(me->token))) {
      Send(res, 403,
           Page("Form expired",
                "<p class=\"error\">This form is no longer valid (it was "
                "opened before a sign-in or a restart, or did not come from this "
                "workspace). Nothing was recorded. <a href=\"/\">Back to the inbox</a></p>",
                &*me));
      return std::nullopt;
    }
    return me;
  }

  void Failure(httplib::Response& res, const v1::ControlResponse& r, const Me& me) {
    if (r.code() == v1::CONTROL_CODE_UNAUTHENTICATED) {
      Redirect(res, "/login");
      return;
    }
    if (r.code() == v1::CONTROL_CODE_FORBIDDEN && r.field() == "password") {
      Redirect(res, "/password");  // an admin-set password: the person chooses their own first
      return;
    }
    const int status = r.code() == v1::CONTROL_CODE_NOT_FOUND     ? 404
                       : r.code() == v1::CONTROL_CODE_INVALID     ? 400
                       : r.code() == v1::CONTROL_CODE_UNAVAILABLE ? 503
                       : r.code() == v1::CONTROL_CODE_INTERNAL    ? 500
                                                                  : 403;
    Send(res, status,
         Page("Not done",
              "<p class=\"error\">" + (r.field().empty() ? "" : "<b>" + Esc(r.field()) + "</b>: ") +
                  Esc(r.reason()) + "</p><p><a href=\"/\">Back to the inbox</a></p>",
              &me));
  }

  // ---- routes ----
  void Routes() {
    server_->set_payload_max_length(64 * 1024);
    server_->Get("/static/app.css", [this](const httplib::Request&, httplib::Response& res) {
      Headers(res);
      res.headers.erase("Cache-Control");
      res.set_header("Cache-Control", "max-age=3600");
      res.set_content(kCss, "text/css");
    });
    server_->Get("/login", [this](const httplib::Request& req, httplib::Response& res) {
      LoginPage(req, res, "");
    });
    server_->Post("/login", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string pre = Cookie(req, kPreCookie);
      if (pre.empty() || !SameText(req.get_param_value("pre"), pre)) {
        LoginPage(req, res, "This sign-in form expired; please try again.");
        return;
      }
      v1::ControlRequest login;
      login.mutable_login()->set_login(req.get_param_value("login"));
      login.mutable_login()->set_password(req.get_param_value("password"));
      auto r = ctl::CallNode(options_.control_endpoint, login, kCallTimeoutMs);
      if (!r.ok() || r->code() != v1::CONTROL_CODE_OK) {
        LoginPage(req, res, r.ok() ? r->reason() : r.status().message());
        return;
      }
      res.set_header("Set-Cookie", std::string(kSessionCookie) + "=" + r->session_token() +
                                       "; Path=/; HttpOnly; SameSite=Strict" +
                                       (secure_ ? "; Secure" : ""));
      Redirect(res, "/");
    });
    server_->Post("/logout", [this](const httplib::Request& req, httplib::Response& res) {
      auto me = RequirePost(req, res);
      if (!me) return;
      v1::ControlRequest out;
      out.mutable_logout();
      (void)Call(out, me->token);
      res.set_header("Set-Cookie", std::string(kSessionCookie) +
                                       "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" +
                                       (secure_ ? "; Secure" : ""));
      Redirect(res, "/login");
    });
    server_->Get("/",
                 [this](const httplib::Request& req, httplib::Response& res) { Inbox(req, res); });
    server_->Get("/password", [this](const httplib::Request& req, httplib::Response& res) {
      auto me = Require(req, res);
      if (!me) return;
      Send(res, 200, Page("Choose your password", PasswordForm(*me, ""), &*me));
    });
    server_->Post("/password", [this](const httplib::Request& req, httplib::Response& res) {
      auto me = RequirePost(req, res);
      if (!me) return;
      if (req.get_param_value("new") != req.get_param_value("again")) {
        Send(res, 400,
             Page("Choose your password", PasswordForm(*me, "the two new entries differ"), &*me));
        return;
      }
      v1::ControlRequest q;
      q.mutable_passwd()->set_current_password(req.get_param_value("current"));
      q.mutable_passwd()->set_new_password(req.get_param_value("new"));
      auto r = Call(q, me->token);
      if (!r.ok() || r->code() != v1::CONTROL_CODE_OK) {
        Send(res, 400,
             Page("Choose your password",
                  PasswordForm(*me, r.ok() ? r->reason() : r.status().message()), &*me));
        return;
      }
      Redirect(res, "/");
    });
    server_->Get("/intake", [this](const httplib::Request& req, httplib::Response& res) {
      auto me = Require(req, res);
      if (!me) return;
      Send(res, 200, Page("Record a presumed victim", IntakeForm(httplib::Request(), *me, "", ""),
                          &*me));  // never filled from the query string
    });
    server_->Post("/intake", [this](const httplib::Request& req, httplib::Response& res) {
      Intake(req, res);
    });
    server_->Get(R"(/cases/([0-9a-f-]{36}))",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   CasePage(req, res, req.matches[1]);
                 });
    server_->Post(R"(/cases/([0-9a-f-]{36})/personal)",
                  [this](const httplib::Request& req, httplib::Response& res) {
                    Personal(req, res, req.matches[1]);
                  });
    server_->Post(R"(/referrals/([0-9a-f-]{36}))",
                  [this](const httplib::Request& req, httplib::Response& res) {
                    Move(req, res, req.matches[1]);
                  });
    server_->set_error_handler([this](const httplib::Request&, httplib::Response& res) {
      if (res.status == 404 && res.body.empty()) {
        Send(res, 404,
             Page("Not found", "<p>There is no such page. <a href=\"/\">Inbox</a></p>", nullptr));
      } else if ((res.status == 413 || res.status == 400) && res.body.empty()) {
        // httplib refused to read the request: over the size limit, or not well formed.
        Send(res, 413, Page("Too large", "<p class=\"error\">The form is larger than this "
                                         "workspace accepts (64 KiB), or could not be read; nothing "
                                         "was recorded. Shorten the longest text and send it "
                                         "again.</p>", nullptr));
      }
    });
    server_->set_exception_handler(
        [this](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
          Send(res, 500,
               Page("Error",
                    "<p class=\"error\">The workspace failed to answer; nothing "
                    "was changed. See the node's log.</p>",
                    nullptr));
        });
  }

  std::string PasswordForm(const Me& me, const std::string& error) {
    std::string body;
    if (!error.empty()) body += "<p class=\"error\" role=\"alert\">" + Esc(error) + "</p>";
    return body +
           "<p>Choose a password only you know (10 characters or more). Your other "
           "sessions end.</p><form method=\"post\" action=\"/password\"><input "
           "type=\"hidden\" name=\"csrf\" value=\"" +
           Csrf(me.token) +
           "\"><label>Current "
           "password <input type=\"password\" name=\"current\" autocomplete=\"current-password\" "
           "required></label><label>New password <input type=\"password\" name=\"new\" "
           "autocomplete=\"new-password\" required minlength=\"10\"></label><label>New "
           "password again <input type=\"password\" name=\"again\" autocomplete=\"new-password\" "
           "required minlength=\"10\"></label><button>Change password</button></form>";
  }

  // The intake form, filled with what `req` sent (after an error) and the error next to its field.
  std::string IntakeForm(const httplib::Request& req, const Me& me, const std::string& error_field,
                         const std::string& error) {
    std::string body;
    if (!error.empty()) {
      body += "<p class=\"error\" role=\"alert\">Nothing was recorded: " +
              (error_field.empty() ? "" : "<b>" + Esc(error_field) + "</b>: ") + Esc(error) +
              "</p>";
    }
    auto note = [&](const std::string& name) {
      return FormField(error_field) == name && !error.empty()
                 ? "<span class=\"error\">" + Esc(error) + "</span>"
                 : std::string();
    };
    body +=
        "<form method=\"post\" action=\"/intake\" enctype=\"multipart/form-data\" "
            "autocomplete=\"off\"><input type=\"hidden\" name=\"csrf\" "
        "value=\"" +
        Csrf(me.token) + "\">";
    for (const EnumField& f : EnumFields()) {
      const std::vector<std::string> chosen = PostedAll(req, f.name);
      auto is_chosen = [&](const std::string& v) {
        return std::find(chosen.begin(), chosen.end(), v) != chosen.end();
      };
      if (f.multiple) {
        body += "<fieldset><legend>" + std::string(f.label) + "</legend>" + note(f.name);
        for (int i = 0; i < f.type->value_count(); ++i) {
          const auto* v = f.type->value(i);
          if (v->number() == 0) continue;
          body += "<label><input type=\"checkbox\" name=\"" + std::string(f.name) + "\" value=\"" +
                  v->name() + "\"" + (is_chosen(v->name()) ? " checked" : "") + "> " +
                  Esc(Label(f.type, v->number())) + "</label>";
        }
        body += "</fieldset>";
      } else {
        body += "<label>" + std::string(f.label) + " <select name=\"" + f.name +
                "\"><option value=\"\">"
                "</option>";
        for (int i = 0; i < f.type->value_count(); ++i) {
          const auto* v = f.type->value(i);
          if (v->number() == 0) continue;
          body += "<option value=\"" + v->name() + "\"" +
                  (is_chosen(v->name()) ? " selected" : "") + ">" +
                  Esc(Label(f.type, v->number())) + "</option>";
        }
        body += "</select>" + note(f.name) + "</label>";
      }
    }
    body += "<label><input type=\"checkbox\" name=\"age_estimated\" value=\"1\"" +
            std::string(!Posted(req, "age_estimated").empty() ? " checked" : "") +
            "> Age is estimated</label>";
    body += "<label><input type=\"checkbox\" name=\"wishes_to_return\" value=\"1\"" +
            std::string(!Posted(req, "wishes_to_return").empty() ? " checked" : "") +
            "> Wishes to return home</label><label>Consents given by <select name=\"given_by\">"
            "<option value=\"CONSENT_GIVER_SELF\">the person</option><option "
            "value=\"CONSENT_GIVER_GUARDIAN\"" +
            std::string(Posted(req, "given_by") == "CONSENT_GIVER_GUARDIAN" ? " selected"
                                                                                    : "") +
            ">a guardian</option></select></label>";
    bool personal_heading = false;
    for (const TextField& f : TextFields()) {
      if (f.personal && !personal_heading) {
        body +=
            "<h2>Personal data (sealed on this node; only agencies the victim agreed to share "
            "with can open it)</h2>";
        personal_heading = true;
      }
      const std::string value = Posted(req, f.name);
      if (std::string(f.name) == "narrative") {
        body += "<label>" + std::string(f.label) + note(f.name) +
                "<textarea name=\"narrative\" rows=\"4\" maxlength=\"4000\">" + Esc(value) +
                "</textarea></label>";
      } else {
        body += "<label>" + std::string(f.label) + " <input name=\"" + f.name + "\" value=\"" +
                Esc(value) + "\" maxlength=\"200\">" + note(f.name) + "</label>";
      }
    }
    return body + "<button>Record the case</button></form>";
  }

  void Intake(const httplib::Request& req, httplib::Response& res) {
    auto me = RequirePost(req, res);
    if (!me) return;
    auto fail = [&](const std::string& field, const std::string& why) {
      Send(res, 400, Page("Record a presumed victim", IntakeForm(req, *me, field, why), &*me));
    };
    v1::ControlRequest q;
    v1::IntakeRequest* in = q.mutable_intake();
    v1::Profile* p = in->mutable_profile();
    // Enum fields: a value the form did not offer is refused naming the field.
    for (const EnumField& f : EnumFields()) {
      for (const std::string& v : PostedAll(req, f.name)) {
        if (v.empty()) continue;
        const auto* ev = f.type->FindValueByName(v);
        if (ev == nullptr || ev->number() == 0) {
          fail(f.name, "'" + v + "' is not one of the choices");
          return;
        }
        const std::string name = f.name;
        if (name == "crime_type")
          in->set_crime_type(static_cast<v1::CrimeType>(ev->number()));
        else if (name == "sex")
          p->set_sex(static_cast<v1::Sex>(ev->number()));
        else if (name == "identification_channel")
          p->set_identification_channel(static_cast<v1::IdentificationChannel>(ev->number()));
        else if (name == "exploitation_forms")
          p->add_exploitation_forms(static_cast<v1::ExploitationForm>(ev->number()));
        else if (name == "labour_sectors")
          p->add_labour_sectors(static_cast<v1::LabourSector>(ev->number()));
        else if (name == "means_of_control")
          p->add_means_of_control(static_cast<v1::MeansOfControl>(ev->number()));
        else if (name == "recruiter_relations")
          p->add_recruiter_relations(static_cast<v1::RecruiterRelation>(ev->number()));
        else if (name == "consents") {
          auto* c = in->add_consents();
          c->set_scope(static_cast<v1::ConsentScope>(ev->number()));
          v1::ConsentGiver by = v1::CONSENT_GIVER_SELF;
          v1::ConsentGiver_Parse(Posted(req, "given_by"), &by);
          c->set_given_by(by);
        }
      }
    }
    const std::string age = Posted(req, "age_years");
    if (!age.empty()) {
      if (age.size() > 3 || age.find_first_not_of("0123456789") != std::string::npos) {
        fail("age_years", "give the age as a whole number of years");
        return;
      }
      p->set_age_years(static_cast<uint32_t>(std::stoi(age)));
    }
    p->set_age_estimated(!Posted(req, "age_estimated").empty());
    p->set_wishes_to_return(!Posted(req, "wishes_to_return").empty());
    std::string list = Posted(req, "citizenship");
    for (size_t pos = 0; pos <= list.size();) {
      size_t end = list.find(',', pos);
      if (end == std::string::npos) end = list.size();
      std::string item = list.substr(pos, end - pos);
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      if (!item.empty()) p->add_citizenship(item);
      pos = end + 1;
    }
    p->set_country_of_identification(Posted(req, "country_of_identification"));
    p->set_province_of_identification(Posted(req, "province_of_identification"));
    p->set_country_of_exploitation(Posted(req, "country_of_exploitation"));
    v1::PersonalData* pd = in->mutable_personal();
    pd->set_given_name(Posted(req, "given_name"));
    pd->set_family_name(Posted(req, "family_name"));
    pd->set_date_of_birth(Posted(req, "date_of_birth"));
    pd->set_cnic(Posted(req, "cnic"));
    pd->set_phone(Posted(req, "phone"));
    pd->set_address(Posted(req, "address"));
    pd->set_narrative(Posted(req, "narrative"));
    if (pd->ByteSizeLong() == 0) {
      in->clear_personal();
    }
    if (in->crime_type() == v1::CRIME_TYPE_UNSPECIFIED) {
      fail("crime_type", "choose trafficking, smuggling, both or undetermined");
      return;
    }
    if (in->person_role() == v1::PERSON_ROLE_UNSPECIFIED) {
      in->set_person_role(in->crime_type() == v1::CRIME_TYPE_SOM ? v1::PERSON_ROLE_SMUGGLED_MIGRANT
                                                                 : v1::PERSON_ROLE_PRESUMED_VICTIM);
    }
    auto r = Call(q, me->token);
    if (!r.ok()) {
      Send(res, 503,
           Page("Not recorded", "<p class=\"error\">" + Esc(r.status().message()) + "</p>", &*me));
      return;
    }
    if (r->code() == v1::CONTROL_CODE_INVALID) {
      fail(r->field(), r->reason());
      return;
    }
    if (r->code() != v1::CONTROL_CODE_OK) {
      Failure(res, *r, *me);
      return;
    }
    const std::string case_id = r->case_ids_size() > 0 ? r->case_ids(0) : "";
    std::string body =
        "<p class=\"ok\">The case was recorded. The referral engine sends the "
        "referrals the rules call for.</p>";
    // The node's warnings (possible duplicates) are lines after the first.
    const std::string& text = r->text();
    for (size_t pos = text.find('\n'); pos != std::string::npos;) {
      size_t end = text.find('\n', pos + 1);
      const std::string line =
          text.substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
      if (!line.empty()) body += "<p class=\"error\">" + Esc(line) + "</p>";
      pos = end;
    }
    body += "<p><a href=\"/cases/" + Esc(case_id) +
            "\">Open the case</a> or <a href=\"/intake\">"
            "record another</a>.</p>";
    Send(res, 200, Page("Case recorded", body, &*me));
  }

  void LoginPage(const httplib::Request&, httplib::Response& res, const std::string& error) {
    unsigned char b[16];
    randombytes_buf(b, sizeof(b));
    const std::string pre = Hex(b, sizeof(b));
    res.set_header("Set-Cookie", std::string(kPreCookie) + "=" + pre +
                                     "; Path=/login; HttpOnly; SameSite=Strict" +
                                     (secure_ ? "; Secure" : ""));
    std::string body;
    if (!error.empty()) body += "<p class=\"error\" role=\"alert\">" + Esc(error) + "</p>";
    body += "<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"pre\" value=\"" +
            pre +
            "\"><label>Login <input name=\"login\" autocomplete=\"username\" required></label>"
            "<label>Password <input name=\"password\" type=\"password\" "
            "autocomplete=\"current-password\" "
            "required></label><button>Sign in</button></form>";
    Send(res, error.empty() ? 200 : 401, Page("Sign in", body, nullptr));
  }

  Result<std::vector<v1::Referral>> InboxOf(const Me& me, bool all) {
    v1::ControlRequest q;
    q.set_json(true);
    q.mutable_inbox()->set_include_closed(all);
    ASSIGN_OR_RETURN(auto r, Call(q, me.token));
    if (r.code() != v1::CONTROL_CODE_OK) {
      return Status(r.code() == v1::CONTROL_CODE_UNAUTHENTICATED ? StatusCode::kPermissionDenied
                                                                 : StatusCode::kFailedPrecondition,
                    r.reason(), r.field());
    }
    v1::ReferralList list;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage("{\"referrals\":" + r.json() + "}", &list, o)
             .ok()) {
      return Status::Internal("the node's inbox does not parse");
    }
    return std::vector<v1::Referral>(list.referrals().begin(), list.referrals().end());
  }

  void Inbox(const httplib::Request& req, httplib::Response& res) {
    auto me = Require(req, res);
    if (!me) return;
    auto inbox = InboxOf(*me, req.get_param_value("all") == "1");
    if (!inbox.ok()) {
      if (inbox.status().code() == StatusCode::kPermissionDenied) {
        Redirect(res, "/login");
        return;
      }
      if (inbox.status().field() == "password") {
        Redirect(res, "/password");
        return;
      }
      Send(res, 403,
           Page("Inbox", "<p class=\"error\">" + Esc(inbox.status().message()) + "</p>", &*me));
      return;
    }
    int page = 0;
    const std::string asked = req.get_param_value("page");
    if (!asked.empty() && asked.size() <= 6 &&
        asked.find_first_not_of("0123456789") == std::string::npos) {
      page = std::stoi(asked);
    }
    page = std::min(page, std::max(0, (static_cast<int>(inbox->size()) - 1) / kPageSize));
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const int total = static_cast<int>(inbox->size());
    std::string body = "<p>" + std::to_string(total) +
                       " referral(s), most urgent first.</p>"
                       "<table><thead><tr><th>Priority</th><th>Service</th><th>Status</th>"
                       "<th>From</th><th>Respond by</th><th>Case</th></tr></thead><tbody>";
    for (int i = page * kPageSize; i < std::min(total, (page + 1) * kPageSize); ++i) {
      const v1::Referral& r = (*inbox)[static_cast<size_t>(i)];
      const bool overdue =
          r.respond_by_ms() != 0 && r.respond_by_ms() < now &&
          (r.status() == v1::REFERRAL_STATUS_SENT || r.status() == v1::REFERRAL_STATUS_RECEIVED);
      body += "<tr><td>" + Esc(Label(v1::Priority_descriptor(), r.priority())) +
              "</td><td>" + Esc(Label(v1::ServiceType_descriptor(), r.service())) +
              "</td><td>" + Esc(StatusWord(r.status())) + "</td><td><bdi>" + Esc(r.from_agency()) +
              "</bdi></td><td" + (overdue ? " class=\"overdue\"" : "") + ">" +
              Esc(r.respond_by_ms() ? core::FormatUtcMs(r.respond_by_ms()) : "") +
              (overdue ? " (overdue)" : "") + "</td><td><a href=\"/cases/" + Esc(r.case_id()) +
              "\">open</a></td></tr>";
    }
    body += "</tbody></table><p>";
    const std::string all = req.get_param_value("all") == "1" ? "&amp;all=1" : "";
    if (page > 0) body += "<a href=\"/?page=" + std::to_string(page - 1) + all + "\">previous</a> ";
    if ((page + 1) * kPageSize < total)
      body += "<a href=\"/?page=" + std::to_string(page + 1) + all + "\">next</a>";
    body += "</p>";
    Send(res, 200, Page("Inbox", body, &*me));
  }

  void CasePage(const httplib::Request& req, httplib::Response& res, const std::string& case_id) {
    auto me = Require(req, res);
    if (!me) return;
    if (!IsUuid(case_id)) {
      Send(res, 404, Page("Not found", "<p>There is no such case. <a href=\"/\">Inbox</a></p>", &*me));
      return;
    }
    v1::ControlRequest j;
    j.mutable_journey()->set_case_id(case_id);
    auto journey = Call(j, me->token);
    if (!journey.ok()) {
      Send(res, 503,
           Page("Case", "<p class=\"error\">" + Esc(journey.status().message()) + "</p>", &*me));
      return;
    }
    if (journey->code() != v1::CONTROL_CODE_OK) {
      Failure(res, *journey, *me);
      return;
    }
    const std::string csrf = Csrf(me->token);
    std::string body;
    auto inbox = InboxOf(*me, true);
    if (inbox.ok()) {
      for (const v1::Referral& r : *inbox) {
        if (r.case_id() != case_id) continue;
        // Only the moves open to the recipient from this status, the likeliest first.
        std::vector<std::pair<const char*, const char*>> moves;
        switch (r.status()) {
          case v1::REFERRAL_STATUS_SENT:
          case v1::REFERRAL_STATUS_RECEIVED:
            moves = {{"accept", "Accept"}, {"reject", "Decline"}};
            break;
          case v1::REFERRAL_STATUS_ACCEPTED:
            moves = {{"start", "Start"}, {"complete", "Complete"}, {"fail", "Could not help"}};
            break;
          case v1::REFERRAL_STATUS_IN_PROGRESS:
            moves = {{"complete", "Complete"}, {"fail", "Could not help"}};
            break;
          default:
            break;
        }
        body += "<section><h2>Referral for " +
                Esc(Label(v1::ServiceType_descriptor(), r.service())) + ": " +
                Esc(StatusWord(r.status())) + "</h2>";
        if (moves.empty()) {
          body += "<p>No move is open to your agency on this referral now.</p></section>";
          continue;
        }
        body += "<form method=\"post\" action=\"/referrals/" + Esc(r.referral_id()) +
                "\"><input type=\"hidden\" name=\"csrf\" value=\"" + csrf +
                "\"><input type=\"hidden\" name=\"case\" value=\"" + Esc(case_id) +
                "\"><label>Next step <select name=\"action\">";
        for (const auto& [value, words] : moves) {
          body += "<option value=\"" + std::string(value) + "\">" + words + "</option>";
        }
        body += "</select></label>";
        if (moves[0].first == std::string("accept")) {
          body += "<label>Reason, if you decline <select name=\"reason\"><option value=\"\">"
                  "</option><option value=\"REJECT_REASON_CAPACITY_FULL\">Capacity full</option>"
                  "<option value=\"REJECT_REASON_OUT_OF_SCOPE\">Out of scope</option><option "
                  "value=\"REJECT_REASON_INELIGIBLE\">Ineligible</option><option "
                  "value=\"REJECT_REASON_VICTIM_DECLINED\">Victim declined</option><option "
                  "value=\"REJECT_REASON_OTHER\">Other</option></select></label>";
        } else {
          body += "<label>Outcome, to complete or close <input name=\"outcome\" "
                  "maxlength=\"500\"></label>";
        }
        body += "<button>Record</button></form></section>";
      }
    }
    body += "<section><h2>Personal data</h2><form method=\"post\" action=\"/cases/" + Esc(case_id) +
            "/personal\"><input type=\"hidden\" name=\"csrf\" value=\"" + csrf +
            "\"><label>Purpose (recorded in the access log) <input name=\"purpose\" required "
            "maxlength=\"200\"></label><button>Open personal data</button></form></section>";
    // The journey quotes people's words (outcomes, purposes): isolated like every such text.
    body += "<section><h2>Journey</h2><pre><bdi>" + Esc(journey->text()) + "</bdi></pre></section>";
    Send(res, 200, Page("Case", body, &*me));
  }

  void Move(const httplib::Request& req, httplib::Response& res, const std::string& referral_id) {
    auto me = RequirePost(req, res);
    if (!me) return;
    static const std::map<std::string, v1::ReferralStatus> kActions = {
        {"accept", v1::REFERRAL_STATUS_ACCEPTED},
        {"reject", v1::REFERRAL_STATUS_REJECTED},
        {"start", v1::REFERRAL_STATUS_IN_PROGRESS},
        {"complete", v1::REFERRAL_STATUS_COMPLETED},
        {"fail", v1::REFERRAL_STATUS_FAILED}};
    auto it = kActions.find(req.get_param_value("action"));
    if (it == kActions.end()) {
      Send(res, 400,
           Page("Not done",
                "<p class=\"error\"><b>action</b>: choose one of the listed "
                "actions</p>",
                &*me));
      return;
    }
    v1::ControlRequest q;
    auto* a = q.mutable_referral_action();
    a->set_referral_id(referral_id);
    a->set_to(it->second);
    v1::RejectReason reason = v1::REJECT_REASON_UNSPECIFIED;
    if (!req.get_param_value("reason").empty() &&
        !v1::RejectReason_Parse(req.get_param_value("reason"), &reason)) {
      Send(res, 400,
           Page("Not done",
                "<p class=\"error\"><b>reason</b>: not a reason this "
                "workspace offers</p>",
                &*me));
      return;
    }
    a->set_reason(reason);
    a->set_outcome(req.get_param_value("outcome"));
    auto r = Call(q, me->token);
    if (!r.ok()) {
      Send(res, 503,
           Page("Not done", "<p class=\"error\">" + Esc(r.status().message()) + "</p>", &*me));
      return;
    }
    if (r->code() != v1::CONTROL_CODE_OK) {
      Failure(res, *r, *me);
      return;
    }
    const std::string case_id = req.get_param_value("case");
    Redirect(res, IsUuid(case_id) ? "/cases/" + case_id : "/");
  }

  void Personal(const httplib::Request& req, httplib::Response& res, const std::string& case_id) {
    auto me = RequirePost(req, res);
    if (!me) return;
    v1::ControlRequest q;
    q.set_json(true);
    q.mutable_personal()->set_case_id(case_id);
    q.mutable_personal()->set_purpose(req.get_param_value("purpose"));
    auto r = Call(q, me->token);
    if (!r.ok()) {
      Send(res, 503,
           Page("Not opened", "<p class=\"error\">" + Esc(r.status().message()) + "</p>", &*me));
      return;
    }
    if (r->code() != v1::CONTROL_CODE_OK) {
      Failure(res, *r, *me);
      return;
    }
    v1::PersonalData pd;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    (void)google::protobuf::util::JsonStringToMessage(r->json(), &pd, o);
    std::string body =
        "<p class=\"ok\">This opening was recorded in the NRM's access log.</p><table>";
    auto row = [&](const char* label, const std::string& value) {
      if (!value.empty())
        body +=
            "<tr><th>" + std::string(label) + "</th><td><bdi>" + Esc(value) + "</bdi></td></tr>";
    };
    row("Given name", pd.given_name());
    row("Family name", pd.family_name());
    row("Date of birth", pd.date_of_birth());
    row("CNIC", pd.cnic());
    row("Passport", pd.passport_number());
    row("Phone", pd.phone());
    row("Address", pd.address());
    row("Narrative", pd.narrative());
    body += "</table><p><a href=\"/cases/" + Esc(case_id) + "\">Back to the case</a></p>";
    Send(res, 200, Page("Personal data", body, &*me));
  }

  WebOptions options_;
  unsigned char secret_[32];
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string host_;
  int port_ = -1;
  bool tls_ = false;
  bool secure_ = false;  // cookies Secure and HSTS: TLS here or at a proxy in front
};

WebServer::WebServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebServer::~WebServer() { Stop(); }
int WebServer::port() const { return impl_->port(); }
void WebServer::Stop() { impl_->Stop(); }

Result<std::unique_ptr<WebServer>> WebServer::Start(WebOptions options) {
  if (sodium_init() < 0) {
    return Status::Internal("libsodium failed to initialise");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  RETURN_IF_ERROR(impl->Bind());
  return std::unique_ptr<WebServer>(new WebServer(std::move(impl)));
}

}  // namespace passage::web
