#include "services/web/web_server.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <deque>
#include <map>
#include <regex>
#include <mutex>
#include <thread>

#include "broker/merkle/merkle.h"
#include "broker/merkle/tree_head.h"
#include "core/case_projection.h"
#include "core/case_reference.h"
#include "core/codes.h"
#include "core/routing.h"
#include "core/ids.h"
#include "passage/v1/control.pb.h"
#include "passage/v1/wire.pb.h"
#include "services/ctl/control_client.h"
#include "services/web/api_server.h"
#include "services/web/i18n.h"
#include "services/web/self_signed.h"
#include "services/web/timeline.h"

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

// The language and time zone of the request this thread serves: cpp-httplib serves each request
// on one pool thread from start to end, and the pre-routing handler sets both first.
thread_local std::string tl_lang = "en";
thread_local std::string tl_tz;

const Translator* Tx() {
  static const Translator* t = [] {
    auto r = Translator::Builtin();
    if (!r.ok()) {
      spdlog::error("web: message catalogs: {}", r.status().ToString());
      return static_cast<Translator*>(nullptr);
    }
    return r->release();
  }();
  return t;
}

// A fixed English text in the request's language, as text (escape it) or as HTML.
std::string TrText(std::string_view english) {
  return Tx() != nullptr ? Tx()->T(tl_lang, english) : std::string(english);
}
std::string Tr(std::string_view english) { return Esc(TrText(english)); }
// A translated text with {0}, {1}... replaced by `html` arguments (already escaped).
std::string Fmt(std::string_view english, std::initializer_list<std::string_view> html) {
  if (Tx() != nullptr) return Tx()->FormatHtml(tl_lang, english, html);
  std::string out = Esc(english);
  int i = 0;
  for (auto a : html) {
    const std::string key = "{" + std::to_string(i++) + "}";
    if (auto at = out.find(key); at != std::string::npos) out.replace(at, key.size(), a);
  }
  return out;
}
std::string WordsText(std::string_view english) { return TrText(english); }

// A time as people read it: the node's time zone in the page's language, UTC on hover.
// Request bodies: a document upload up to 10 MiB (with its form around it), anything else 64 KiB.
constexpr size_t kMaxFormBytes = 64 * 1024;
constexpr size_t kMaxUploadBytes = 10 * 1024 * 1024 + 64 * 1024;
const std::regex kUploadPath(R"(/cases/[0-9a-f-]{36}/documents)");

std::string When(int64_t ms) {
  if (ms == 0) return "";
  return "<time datetime=\"" + core::FormatUtcMs(ms) + "\" title=\"" + Esc(FormatUtc(ms)) +
         "\">" + Esc(FormatTime(ms, tl_tz, tl_lang)) + "</time>";
}
std::string WhenText(int64_t ms) { return FormatTime(ms, tl_tz, tl_lang); }

constexpr char kSessionCookie[] = "psg_session";
constexpr char kPreCookie[] = "psg_pre";
constexpr char kLangCookie[] = "psg_lang";
const Language kEnglish{"en", "English", false};
constexpr int kPageSize = 50;
constexpr int kCallTimeoutMs = 20000;

constexpr char kCss[] = R"(*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa;line-height:1.4}
header{background:#1d3557;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;font-size:.95rem}
header .who{font-size:.85rem}
header a{color:#fff}header .who{margin-inline-start:auto}header nav a{margin-inline-end:.5rem}
header .count{color:#1b1b1b}header label{display:inline;margin:0}
main{padding:1rem;max-width:60rem;margin:auto}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #ddd;padding:.4rem;text-align:start;vertical-align:top}
td.num{text-align:end;font-variant-numeric:tabular-nums}
.overdue{color:#b00020;font-weight:bold}.error{background:#fde8e8;border:1px solid #b00020;padding:.6rem}.unplaced{background:#fff4e5;border:1px solid #b45309;padding:.2rem .8rem;margin:1rem 0}
.ok{background:#e8f5e9;border:1px solid #2e7d32;padding:.6rem}
.count{background:#ffd166;color:#1b1b1b;border-radius:1rem;padding:0 .5rem}
.ref{font-family:ui-monospace,monospace;letter-spacing:.03em;white-space:nowrap}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
form.inline{display:inline}label{display:block;margin:.4rem 0}input,select,button{font-size:1rem;padding:.3rem}
form.filters label{display:inline-block;margin-inline-end:.6rem}
svg.timeline{width:100%;height:auto;background:#fff;border:1px solid #ddd}
svg.bar{width:8rem;height:.8rem}
pre{white-space:pre-wrap;background:#fff;padding:.6rem;border:1px solid #ddd}
section{margin:1rem 0;overflow-x:auto}
@media (max-width:40rem){table.inbox th:nth-child(5),table.inbox td:nth-child(5){display:none}svg.bar{width:4rem}}
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
        return TrText("trafficking in persons (TIP)");
      case v1::CRIME_TYPE_SOM:
        return TrText("smuggling of migrants (SOM)");
      case v1::CRIME_TYPE_BOTH:
        return TrText("both TIP and SOM");
      default:
        break;
    }
  }
  std::string s = core::ShortEnumName(type, value);
  for (char& c : s) {
    c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return TrText(s);
}

// "0-8", "24-26", "48+": an age band as people write it (CTDC's own text doubles the dash).
std::string AgeBandText(int band) {
  std::string s(core::AgeBandCtdcText(static_cast<v1::AgeBand>(band)));
  if (auto at = s.find("--"); at != std::string::npos) s.erase(at, 1);
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
      {"person_role", "The person is", v1::PersonRole_descriptor(), false},
      {"trafficking_status", "Trafficking status", v1::TraffickingStatus_descriptor(), false},
      {"sex", "Sex", v1::Sex_descriptor(), false},
      {"majority_at_exploitation", "When exploited, the person was",
       v1::MajorityStatus_descriptor(), false},
      {"minority_group", "Belongs to a minority group (counted only with a statistics consent)",
       nullptr, false},
      {"disability", "Has a disability (counted only with a statistics consent)", nullptr, false},
      {"identification_channel", "Identified through", v1::IdentificationChannel_descriptor(),
       false},
      {"exploitation_forms", "Forms of exploitation", v1::ExploitationForm_descriptor(), true},
      {"sexual_exploitation_types", "Kinds of sexual exploitation",
       v1::SexualExploitationType_descriptor(), true},
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
      {"province_of_exploitation", "Province of exploitation (e.g. PK-PB)", false},
      {"gender_identity", "Gender identity (a category code, never a name)", false},
      {"screening_tool", "Screening tool used (e.g. IOM-HTCDS-screening-v2)", false},
      {"given_name", "Given name", true},
      {"family_name", "Family name", true},
      {"other_names", "Other names (comma-separated)", true},
      {"date_of_birth", "Date of birth (YYYY-MM-DD)", true},
      {"cnic", "CNIC", true},
      {"passport_number", "Passport number", true},
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
  explicit Impl(WebOptions o) : options_(std::move(o)), agency_names_(options_.agencies) {
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
    if (!options_.http.time_zone().empty()) {
      RETURN_IF_ERROR(ValidateTimeZone(options_.http.time_zone()));
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
    std::vector<std::string> roles;  // "case worker", "supervisor", ...
    std::string language;            // the account's choice; empty = not chosen
    int fresh = -1;     // referrals waiting for an answer (SENT, RECEIVED); -1 = no inbox
    int due_soon = 0;   // of those, due within a day or overdue
    bool Has(std::string_view role) const {
      return std::find(roles.begin(), roles.end(), role) != roles.end();
    }
    bool Answers() const { return Has("case worker") || Has("supervisor"); }
    bool Oversees() const {
      return Has("supervisor") || Has("coordinator") || Has("data officer");
    }
    bool Audits() const { return Has("auditor") || Has("coordinator"); }
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

  // A whole page. `title` is a fixed English text (translated here); `body` is HTML.
  std::string Page(const std::string& title, const std::string& body, const Me* me) const {
    const Language& lang = Tx() != nullptr ? Tx()->Find(tl_lang) : kEnglish;
    std::string h = "<!doctype html><html lang=\"" + Esc(lang.code) + "\" dir=\"" +
                    (lang.rtl ? "rtl" : "ltr") +
                    "\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                    "<title>" +
                    Tr(title) +
                    " - Passage</title>"
                    "<link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><header>"
                    "<strong>Passage</strong> <span><bdi>" +
                    Esc(options_.agency_name) + "</bdi></span>";
    if (me != nullptr) {
      const std::string csrf = Csrf(me->token);
      std::string counts;
      if (me->fresh > 0) {
        counts = " <a class=\"count\" href=\"/?status=REFERRAL_STATUS_SENT&amp;status="
                 "REFERRAL_STATUS_RECEIVED\">" +
                 (me->due_soon > 0 ? Fmt("{0} to answer, {1} due within a day",
                                         {std::to_string(me->fresh), std::to_string(me->due_soon)})
                                   : Fmt("{0} to answer", {std::to_string(me->fresh)})) +
                 "</a>";
      }
      h += "<nav>";
      if (me->Answers()) {
        h += "<a href=\"/\">" + Tr("Inbox") + "</a>" + counts + " <a href=\"/intake\">" +
             Tr("New case") + "</a> <a href=\"/search\">" + Tr("Find") + "</a>";
      }
      if (me->Oversees()) h += " <a href=\"/dashboard\">" + Tr("Dashboard") + "</a>";
      if (me->Oversees()) h += " <a href=\"/reports\">" + Tr("The state's reports") + "</a>";
      if (me->Audits()) h += " <a href=\"/audit\">" + Tr("Audit") + "</a>";
      h += "</nav>";
      if (me->Answers() || me->Audits()) {
        h += "<form class=\"inline search\" method=\"post\" action=\"/search\"><input "
             "type=\"hidden\" name=\"csrf\" value=\"" +
             csrf + "\"><label><span class=\"sr\">" + Tr("Case reference") +
             "</span><input name=\"reference\" size=\"17\" maxlength=\"40\" "
             "placeholder=\"FIAKHI-26-00123-7\" autocomplete=\"off\"></label><button>" +
             Tr("Find") + "</button></form>";
      }
      std::string roles;
      for (const auto& r : me->roles) roles += (roles.empty() ? "" : ", ") + TrText(r);
      // The roles on hover: on a phone the header stays two lines shorter.
      h += "<span class=\"who\" title=\"" + Esc(roles) + "\">" +
           Fmt("Signed in as {0}", {"<bdi>" + Esc(me->login) + "</bdi>"}) +
           "</span><form class=\"inline\" method=\"post\" action=\"/language\"><input "
           "type=\"hidden\" name=\"csrf\" value=\"" +
           csrf + "\"><label><span class=\"sr\">" + Tr("Language") +
           "</span><select name=\"lang\">";
      if (Tx() != nullptr) {
        for (const Language& l : Tx()->languages()) {
          h += "<option value=\"" + Esc(l.code) + "\"" + (l.code == lang.code ? " selected" : "") +
               " lang=\"" + Esc(l.code) + "\">" + Esc(l.name) + "</option>";
        }
      }
      h += "</select></label><button>" + Tr("Language") +
           "</button></form><form class=\"inline\" method=\"post\" "
           "action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"" +
           csrf + "\"><button>" + Tr("Sign out") + "</button></form>";
    } else if (Tx() != nullptr) {
      // Before sign-in: the language links (remembered in a cookie until the account's own).
      h += "<nav class=\"who\">";
      for (const Language& l : Tx()->languages()) {
        h += " <a href=\"/login?lang=" + Esc(l.code) + "\" lang=\"" + Esc(l.code) + "\">" +
             Esc(l.name) + "</a>";
      }
      h += "</nav>";
    }
    return h + "</header><main><h1>" + Tr(title) + "</h1>" + body + "</main></body></html>";
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
    if (r->code() == v1::CONTROL_CODE_UNAUTHENTICATED) {
      Redirect(res, "/login");
      return std::nullopt;
    }
    if (r->code() != v1::CONTROL_CODE_OK) {
      Send(res, 503, Page("Node unavailable", "<p class=\"error\">" + Esc(r->reason()) + "</p>",
                          nullptr));
      return std::nullopt;
    }
    google::protobuf::Struct s;
    if (google::protobuf::util::JsonStringToMessage(r->json(), &s).ok()) {
      auto str = [&](const char* k) {
        return s.fields().count(k) ? s.fields().at(k).string_value() : std::string();
      };
      me.login = str("login");
      me.language = str("language");
      if (s.fields().count("roles")) {
        for (const auto& v : s.fields().at("roles").list_value().values()) {
          me.roles.push_back(v.string_value());
        }
      }
      // The in-app notice on every page: the node counts referrals waiting for an answer.
      if (s.fields().count("to_answer")) {
        me.fresh = static_cast<int>(s.fields().at("to_answer").number_value());
        me.due_soon = s.fields().count("due_within_day")
                          ? static_cast<int>(s.fields().at("due_within_day").number_value())
                          : 0;
      }
    }
    if (!me.language.empty()) {
      tl_lang = me.language;
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
                "<p class=\"error\">" + Tr("This form is no longer valid (it was opened before a sign-in or a restart, or did not come from this workspace). Nothing was recorded.") + " <a href=\"/\">" + Tr("Back to the inbox") + "</a></p>",
                &*me));
      return std::nullopt;
    }
    // cpp-httplib merges the address's query into a form's fields: a form posted to an address
    // with a query (a name put in a link, say) is refused, so no field ever comes from a URL.
    if (req.target.find('?') != std::string::npos) {
      Send(res, 400,
           Page("Not done",
                "<p class=\"error\">" +
                    Tr("This form takes no values in its address; send it from the workspace. Nothing was recorded.") +
                    "</p>",
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
    if (r.code() == v1::CONTROL_CODE_UNAVAILABLE) {
      // The node keeps the events in its outbox and sends them when the broker answers: done here,
      // not yet everywhere. Saying "not done" would have people enter it again.
      Send(res, 202, Page("Saved, not yet sent",
                          "<p class=\"ok\">" +
                              Tr("Saved on this node. It reaches the other agencies as soon as the NRM's broker answers again; do not enter it again.") +
                              "</p><p><a href=\"/\">" + Tr("Back to the inbox") + "</a></p>",
                          &me));
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
                  Esc(r.reason()) + "</p><p><a href=\"/\">" + Tr("Back to the inbox") + "</a></p>",
              &me));
  }

  // ---- routes ----
  void Routes() {
    // A document upload takes up to 10 MiB (docs/notes-and-documents.md); every other request
    // is refused above 64 KiB before its body is read.
    server_->set_payload_max_length(kMaxUploadBytes);
    // The HTTP/JSON API for the agency's own systems (api_server.h), on the same listener; its
    // bodies are held to 64 KiB like every request but a document upload.
    ApiOptions api;
    api.control_endpoint = options_.control_endpoint;
    ApiServer(api).Register(*server_);
    // Every request starts in the language its cookie asks for (the account's own choice replaces
    // it once signed in) and in the node's time zone.
    server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) >
              kMaxFormBytes &&
          !std::regex_match(req.path, kUploadPath)) {
        res.status = 413;  // the error handler writes the page
        return httplib::Server::HandlerResponse::Handled;
      }
      tl_lang = "en";
      const std::string asked =
          req.path == "/login" && req.has_param("lang") ? req.get_param_value("lang")
                                                        : Cookie(req, kLangCookie);
      if (Tx() != nullptr && Tx()->Find(asked).code == asked) {
        tl_lang = asked;
      }
      tl_tz = options_.http.time_zone();
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server_->Get("/static/app.css", [this](const httplib::Request&, httplib::Response& res) {
      Headers(res);
      res.headers.erase("Cache-Control");
      res.set_header("Cache-Control", "max-age=3600");
      res.set_content(kCss, "text/css");
    });
    server_->Get("/login", [this](const httplib::Request& req, httplib::Response& res) {
      LoginPage(req, res, "");
      if (req.has_param("lang") && tl_lang == req.get_param_value("lang")) {
        res.headers.emplace("Set-Cookie", std::string(kLangCookie) + "=" + tl_lang +
                                              "; Path=/; Max-Age=31536000; HttpOnly; SameSite=Strict" +
                                              (secure_ ? "; Secure" : ""));
      }
    });
    server_->Post("/language", [this](const httplib::Request& req, httplib::Response& res) {
      auto me = RequirePost(req, res);
      if (!me) return;
      const std::string lang = req.get_param_value("lang");
      if (Tx() == nullptr || Tx()->Find(lang).code != lang) {
        Send(res, 400, Page("Not done", "<p class=\"error\"><b>lang</b>: " +
                                            Tr("not a language this workspace offers") + "</p>",
                            &*me));
        return;
      }
      v1::ControlRequest q;
      q.mutable_preferences()->set_language(lang);
      auto r = Call(q, me->token);
      if (!r.ok() || r->code() != v1::CONTROL_CODE_OK) {
        if (r.ok()) Failure(res, *r, *me);
        else Send(res, 503, Page("Node unavailable", "<p class=\"error\">" +
                                                         Esc(r.status().message()) + "</p>", &*me));
        return;
      }
      res.headers.emplace("Set-Cookie", std::string(kLangCookie) + "=" + lang +
                                            "; Path=/; Max-Age=31536000; HttpOnly; SameSite=Strict" +
                                            (secure_ ? "; Secure" : ""));
      Redirect(res, "/");
    });
    server_->Get("/search", [this](const httplib::Request& req, httplib::Response& res) {
      auto me = Require(req, res);
      if (!me) return;
      Send(res, 200, Page("Find a case", SearchForms(*me, ""), &*me));
    });
    server_->Post("/search", [this](const httplib::Request& req, httplib::Response& res) {
      Search(req, res);
    });
    server_->Get("/dashboard", [this](const httplib::Request& req, httplib::Response& res) {
      Dashboard(req, res);
    });
    server_->Get(R"(/dashboard/([a-z_]+)\.csv)",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   DashboardCsv(req, res, req.matches[1]);
                 });
    server_->Get("/reports", [this](const httplib::Request& req, httplib::Response& res) {
      StateReport(req, res, false);
    });
    server_->Get("/reports.csv", [this](const httplib::Request& req, httplib::Response& res) {
      StateReport(req, res, true);
    });
    // SDG 16.2.2 needs the population table: posted, never in a URL.
    server_->Post("/reports", [this](const httplib::Request& req, httplib::Response& res) {
      auto me = RequirePost(req, res);
      if (!me) return;
      StateReport(req, res, req.get_param_value("format") == "csv");
    });
    server_->Get("/audit", [this](const httplib::Request& req, httplib::Response& res) {
      Audit(req, res);
    });
    server_->Post("/audit/check", [this](const httplib::Request& req, httplib::Response& res) {
      AuditCheck(req, res);
    });
    server_->Post(R"(/cases/([0-9a-f-]{36})/service)",
                  [this](const httplib::Request& req, httplib::Response& res) {
                    ServiceDone(req, res, req.matches[1]);
                  });
    server_->Post(R"(/cases/([0-9a-f-]{36})/plan)",
                  [this](const httplib::Request& req, httplib::Response& res) {
                    PlanStep(req, res, req.matches[1]);
                  });
    server_->Post(R"(/cases/([0-9a-f-]{36})/refer)",
                  [this](const httplib::Request& req, httplib::Response& res) {
                    ReferOnward(req, res, req.matches[1]);
                  });
    server_->Post("/login", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string pre = Cookie(req, kPreCookie);
      if (pre.empty() || !SameText(req.get_param_value("pre"), pre)) {
        LoginPage(req, res, TrText("This sign-in form expired; please try again."));
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
             Page("Choose your password", PasswordForm(*me, TrText("the two new entries differ")), &*me));
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
    server_->Post(R"(/cases/([0-9a-f-]{36})/notes)",
                  [this](const httplib::Request& req, httplib::Response& res) {
                    NoteAdd(req, res, req.matches[1]);
                  });
    server_->Post(R"(/cases/([0-9a-f-]{36})/notes/open)",
                  [this](const httplib::Request& req, httplib::Response& res) {
                    NotesOpen(req, res, req.matches[1]);
                  });
    server_->Post(R"(/cases/([0-9a-f-]{36})/documents)",
                  [this](const httplib::Request& req, httplib::Response& res) {
                    DocumentAttach(req, res, req.matches[1]);
                  });
    server_->Post(R"(/cases/([0-9a-f-]{36})/documents/([0-9a-f-]{36}))",
                  [this](const httplib::Request& req, httplib::Response& res) {
                    DocumentOpen(req, res, req.matches[1], req.matches[2]);
                  });
    server_->Post(R"(/referrals/([0-9a-f-]{36}))",
                  [this](const httplib::Request& req, httplib::Response& res) {
                    Move(req, res, req.matches[1]);
                  });
    server_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (ApiServer::IsApiPath(req.path)) {
        if (res.body.empty()) {
          ApiServer::RawError(res, res.status);  // JSON, never a page, for the API
        }
        return;
      }
      // A request httplib could not read never reached the pre-routing handler: its language is
      // its own cookie's, not the one this thread served last.
      tl_lang = "en";
      if (const std::string c = Cookie(req, kLangCookie); Tx() != nullptr && Tx()->Find(c).code == c) {
        tl_lang = c;
      }
      tl_tz = options_.http.time_zone();
      if (res.status == 404 && res.body.empty()) {
        Send(res, 404,
             Page("Not found", "<p>" + Tr("There is no such page.") + " <a href=\"/\">" + Tr("Inbox") + "</a></p>", nullptr));
      } else if ((res.status == 413 || res.status == 400) && res.body.empty()) {
        // httplib refused to read the request: over the size limit, or not well formed.
        Send(res, res.status, Page(res.status == 413 ? "Too large" : "Error", "<p class=\"error\">" + Tr("The form is larger than this workspace accepts (64 KiB), or could not be read; nothing was recorded. Shorten the longest text and send it again.") + "</p>", nullptr));
      }
    });
    server_->set_exception_handler(
        [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
          if (ApiServer::IsApiPath(req.path)) {
            ApiServer::RawError(res, 500);
            return;
          }
          Send(res, 500,
               Page("Error",
                    "<p class=\"error\">" + Tr("The workspace failed to answer; nothing was changed. See the node's log.") + "</p>",
                    nullptr));
        });
  }

  std::string PasswordForm(const Me& me, const std::string& error) {
    std::string body;
    if (!error.empty()) body += "<p class=\"error\" role=\"alert\">" + Esc(error) + "</p>";
    return body +
           "<p>" + Tr("Choose a password only you know (10 characters or more). Your other sessions end.") + "</p><form method=\"post\" action=\"/password\"><input "
           "type=\"hidden\" name=\"csrf\" value=\"" +
           Csrf(me.token) +
           "\"><label>" + Tr("Current password") + " <input type=\"password\" name=\"current\" autocomplete=\"current-password\" "
           "required></label><label>" + Tr("New password") + " <input type=\"password\" name=\"new\" "
           "autocomplete=\"new-password\" required minlength=\"10\"></label><label>" + Tr("New password again") + " <input type=\"password\" name=\"again\" autocomplete=\"new-password\" "
           "required minlength=\"10\"></label><button>" + Tr("Change password") + "</button></form>";
  }

  // The intake form, filled with what `req` sent (after an error) and the error next to its field.
  std::string IntakeForm(const httplib::Request& req, const Me& me, const std::string& error_field,
                         const std::string& error) {
    std::string body;
    if (!error.empty()) {
      body += "<p class=\"error\" role=\"alert\">" +
              Fmt("Nothing was recorded: {0}",
                  {(error_field.empty() ? "" : "<b>" + Esc(error_field) + "</b>: ") + Esc(error)}) +
              "</p>";
    }
    auto note = [&](const std::string& name) {
      return FormField(error_field) == name && !error.empty()
                 ? "<span class=\"error\">" + Esc(error) + "</span>"
                 : std::string();
    };
    unsigned char once[16];
    randombytes_buf(once, sizeof(once));
    body +=
        "<form method=\"post\" action=\"/intake\" enctype=\"multipart/form-data\" "
            "autocomplete=\"off\"><input type=\"hidden\" name=\"csrf\" "
        "value=\"" +
        Csrf(me.token) + "\"><input type=\"hidden\" name=\"once\" value=\"" +
        Hex(once, sizeof(once)) + "\">";
    for (const EnumField& f : EnumFields()) {
      const std::vector<std::string> chosen = PostedAll(req, f.name);
      auto is_chosen = [&](const std::string& v) {
        return std::find(chosen.begin(), chosen.end(), v) != chosen.end();
      };
      if (f.type == nullptr) {  // yes, no, or not known
        body += "<label>" + Tr(f.label) + " <select name=\"" + f.name + "\"><option value=\"\">" +
                Tr("not known") + "</option><option value=\"yes\"" +
                (is_chosen("yes") ? " selected" : "") + ">" + Tr("yes") +
                "</option><option value=\"no\"" + (is_chosen("no") ? " selected" : "") + ">" +
                Tr("no") + "</option></select>" + note(f.name) + "</label>";
        continue;
      }
      if (f.multiple) {
        body += "<fieldset><legend>" + Tr(f.label) + "</legend>" + note(f.name);
        for (int i = 0; i < f.type->value_count(); ++i) {
          const auto* v = f.type->value(i);
          if (v->number() == 0) continue;
          body += "<label><input type=\"checkbox\" name=\"" + std::string(f.name) + "\" value=\"" +
                  v->name() + "\"" + (is_chosen(v->name()) ? " checked" : "") + "> " +
                  Esc(Label(f.type, v->number())) + "</label>";
        }
        body += "</fieldset>";
      } else {
        body += "<label>" + Tr(f.label) + " <select name=\"" + f.name +
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
            "> " + Tr("Age is estimated") + "</label>";
    body += "<label><input type=\"checkbox\" name=\"is_abduction\" value=\"1\"" +
            std::string(!Posted(req, "is_abduction").empty() ? " checked" : "") + "> " +
            Tr("The person was abducted") + "</label>";
    body += "<label><input type=\"checkbox\" name=\"wishes_to_return\" value=\"1\"" +
            std::string(!Posted(req, "wishes_to_return").empty() ? " checked" : "") +
            "> " + Tr("Wishes to return home") + "</label><label>" + Tr("Consents given by") + " <select name=\"given_by\">"
            "<option value=\"CONSENT_GIVER_SELF\">" + Tr("the person") + "</option><option "
            "value=\"CONSENT_GIVER_GUARDIAN\"" +
            std::string(Posted(req, "given_by") == "CONSENT_GIVER_GUARDIAN" ? " selected"
                                                                                    : "") +
            ">" + Tr("a guardian") + "</option></select></label>";
    bool personal_heading = false;
    for (const TextField& f : TextFields()) {
      if (f.personal && !personal_heading) {
        body += "<h2>" +
                Tr("Personal data (sealed on this node; only agencies the victim agreed to share with can open it)") +
                "</h2>";
        personal_heading = true;
      }
      const std::string value = Posted(req, f.name);
      if (std::string(f.name) == "narrative") {
        body += "<label>" + Tr(f.label) + note(f.name) +
                "<textarea name=\"narrative\" rows=\"4\" maxlength=\"4000\">" + Esc(value) +
                "</textarea></label>";
      } else {
        body += "<label>" + Tr(f.label) + " <input name=\"" + f.name + "\" value=\"" +
                Esc(value) + "\" maxlength=\"200\">" + note(f.name) + "</label>";
      }
    }
    return body + "<button>" + Tr("Record the case") + "</button></form>";
  }

  void Intake(const httplib::Request& req, httplib::Response& res) {
    auto me = RequirePost(req, res);
    if (!me) return;
    // One form, one case: a second post of the same form (a double click, a reload) shows the
    // case the first one recorded instead of recording another.
    const std::string once = Posted(req, "once");
    bool claimed = false;
    auto release = [&] {  // nothing recorded: the same form may be sent again
      if (!claimed) return;
      std::lock_guard<std::mutex> lock(once_mu_);
      once_.erase(once);
    };
    // A refused form records nothing and comes back with the error next to its field.
    auto fail = [&](const std::string& field, const std::string& why) {
      release();
      Send(res, 400, Page("Record a presumed victim", IntakeForm(req, *me, field, why), &*me));
    };
    if (once.size() != 32 || once.find_first_not_of("0123456789abcdef") != std::string::npos) {
      fail("once", TrText("this form is not one this workspace gave out; open a new one"));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(once_mu_);
      if (auto it = once_.find(once); it != once_.end()) {
        Send(res, 409, Page("Case recorded",
                            "<p class=\"error\">" +
                                Tr("This form was already sent; the case was recorded once.") +
                                "</p>" +
                                (it->second.empty()
                                     ? std::string()
                                     : "<p><a href=\"/cases/" + Esc(it->second) + "\">" +
                                           Tr("Open the case") + "</a></p>"),
                            &*me));
        return;
      }
      once_[once] = "";  // claimed: a concurrent second post sees it
      claimed = true;
      once_order_.push_back(once);
      if (once_order_.size() > 4096) {
        once_.erase(once_order_.front());
        once_order_.pop_front();
      }
    }
    v1::ControlRequest q;
    v1::IntakeRequest* in = q.mutable_intake();
    v1::Profile* p = in->mutable_profile();
    // Enum fields: a value the form did not offer is refused naming the field.
    for (const EnumField& f : EnumFields()) {
      for (const std::string& v : PostedAll(req, f.name)) {
        if (v.empty()) continue;
        if (f.type == nullptr) {
          if (v != "yes" && v != "no") {
            fail(f.name, Tx() != nullptr
                             ? Tx()->Format(tl_lang, "'{0}' is not one of the choices", {v})
                             : "'" + v + "' is not one of the choices");
            return;
          }
          if (std::string(f.name) == "minority_group") p->set_minority_group(v == "yes");
          if (std::string(f.name) == "disability") p->set_disability(v == "yes");
          continue;
        }
        const auto* ev = f.type->FindValueByName(v);
        if (ev == nullptr || ev->number() == 0) {
          fail(f.name, Tx() != nullptr ? Tx()->Format(tl_lang, "'{0}' is not one of the choices", {v})
                                       : "'" + v + "' is not one of the choices");
          return;
        }
        const std::string name = f.name;
        if (name == "crime_type")
          in->set_crime_type(static_cast<v1::CrimeType>(ev->number()));
        else if (name == "person_role")
          in->set_person_role(static_cast<v1::PersonRole>(ev->number()));
        else if (name == "trafficking_status")
          in->set_trafficking_status(static_cast<v1::TraffickingStatus>(ev->number()));
        else if (name == "majority_at_exploitation")
          p->set_majority_at_exploitation(static_cast<v1::MajorityStatus>(ev->number()));
        else if (name == "sexual_exploitation_types")
          p->add_sexual_exploitation_types(static_cast<v1::SexualExploitationType>(ev->number()));
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
        fail("age_years", TrText("give the age as a whole number of years"));
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
    p->set_province_of_exploitation(Posted(req, "province_of_exploitation"));
    p->set_gender_identity(Posted(req, "gender_identity"));
    p->set_is_abduction(!Posted(req, "is_abduction").empty());
    in->set_screening_tool(Posted(req, "screening_tool"));
    v1::PersonalData* pd = in->mutable_personal();
    pd->set_given_name(Posted(req, "given_name"));
    pd->set_family_name(Posted(req, "family_name"));
    {
      const std::string others = Posted(req, "other_names");
      for (size_t pos = 0; pos <= others.size();) {
        size_t end = others.find(',', pos);
        if (end == std::string::npos) end = others.size();
        std::string item = others.substr(pos, end - pos);
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        if (!item.empty()) pd->add_other_names(item);
        pos = end + 1;
      }
    }
    pd->set_passport_number(Posted(req, "passport_number"));
    pd->set_date_of_birth(Posted(req, "date_of_birth"));
    pd->set_cnic(Posted(req, "cnic"));
    pd->set_phone(Posted(req, "phone"));
    pd->set_address(Posted(req, "address"));
    pd->set_narrative(Posted(req, "narrative"));
    if (pd->ByteSizeLong() == 0) {
      in->clear_personal();
    }
    if (in->crime_type() == v1::CRIME_TYPE_UNSPECIFIED) {
      fail("crime_type", TrText("choose trafficking, smuggling, both or undetermined"));
      return;
    }
    if (in->person_role() == v1::PERSON_ROLE_UNSPECIFIED) {
      in->set_person_role(in->crime_type() == v1::CRIME_TYPE_SOM ? v1::PERSON_ROLE_SMUGGLED_MIGRANT
                                                                 : v1::PERSON_ROLE_PRESUMED_VICTIM);
    }
    auto r = Call(q, me->token);
    if (!r.ok()) {
      // The node did not answer: it may still record the case. The form stays claimed.
      Send(res, 503,
           Page("Not recorded", "<p class=\"error\">" + Esc(r.status().message()) + "</p>", &*me));
      return;
    }
    const bool queued = r->code() == v1::CONTROL_CODE_UNAVAILABLE && r->case_ids_size() > 0;
    if (r->code() == v1::CONTROL_CODE_INVALID) {
      fail(r->field(), r->reason());
      return;
    }
    if (r->code() != v1::CONTROL_CODE_OK && !queued) {
      if (r->code() != v1::CONTROL_CODE_UNAVAILABLE) release();
      Failure(res, *r, *me);
      return;
    }
    const std::string case_id = r->case_ids_size() > 0 ? r->case_ids(0) : "";
    {
      std::lock_guard<std::mutex> lock(once_mu_);
      if (auto it = once_.find(once); it != once_.end()) it->second = case_id;
    }
    std::string reference;
    if (auto at = r->json().find("\"reference\":\""); at != std::string::npos) {
      reference = r->json().substr(at + 13, r->json().find('"', at + 13) - at - 13);
    }
    std::string body = "<p class=\"ok\">" +
                       Tr("The case was recorded. The referral engine sends the referrals the rules call for.") +
                       "</p>";
    if (queued) {
      body += "<p class=\"error\">" +
              Tr("Saved on this node. It reaches the other agencies as soon as the NRM's broker answers again; do not enter it again.") +
              "</p>";
    }
    if (!reference.empty()) {
      body += "<p>" + Tr("Case reference") + ": <strong class=\"ref\">" + Esc(reference) +
              "</strong></p>";
    }
    // The node's warnings (possible duplicates) are lines after the first.
    const std::string& text = r->text();
    for (size_t pos = text.find('\n'); pos != std::string::npos;) {
      size_t end = text.find('\n', pos + 1);
      const std::string line =
          text.substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
      if (!line.empty()) body += "<p class=\"error\">" + Esc(line) + "</p>";
      pos = end;
    }
    body += "<p>" +
            Fmt("{0} or {1}.", {"<a href=\"/cases/" + Esc(case_id) + "\">" + Tr("Open the case") + "</a>",
                                "<a href=\"/intake\">" + Tr("record another") + "</a>"}) +
            "</p>";
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
            "\"><label>" + Tr("Login") + " <input name=\"login\" autocomplete=\"username\" required></label>"
            "<label>" + Tr("Password") + " <input name=\"password\" type=\"password\" "
            "autocomplete=\"current-password\" "
            "required></label><button>" + Tr("Sign in") + "</button></form>";
    Send(res, error.empty() ? 200 : 401, Page("Sign in", body, nullptr));
  }

  // ---- answers of the node as data ----
  // The node's JSON answer to `q` as a Struct; a refusal as its status (field kept).
  Result<google::protobuf::Struct> CallStruct(v1::ControlRequest q, const Me& me,
                                              v1::ControlResponse* raw = nullptr) {
    q.set_json(true);
    ASSIGN_OR_RETURN(auto r, Call(q, me.token));
    if (raw != nullptr) *raw = r;
    if (r.code() != v1::CONTROL_CODE_OK) {
      return Status(r.code() == v1::CONTROL_CODE_NOT_FOUND ? StatusCode::kNotFound
                                                           : StatusCode::kFailedPrecondition,
                    r.reason(), r.field());
    }
    google::protobuf::Struct s;
    std::string json = r.json();
    if (!json.empty() && json[0] == '[') json = "{\"list\":" + json + "}";
    if (!google::protobuf::util::JsonStringToMessage(json, &s).ok()) {
      return Status::Internal("the node's answer does not parse");
    }
    return s;
  }

  static std::string S(const google::protobuf::Struct& s, const char* k) {
    auto it = s.fields().find(k);
    if (it == s.fields().end()) return "";
    if (it->second.has_string_value()) return it->second.string_value();
    if (it->second.has_number_value()) {
      return std::to_string(static_cast<int64_t>(it->second.number_value()));
    }
    return "";
  }
  static int64_t N(const google::protobuf::Struct& s, const char* k) {
    auto it = s.fields().find(k);
    if (it == s.fields().end()) return 0;
    if (it->second.has_number_value()) return static_cast<int64_t>(it->second.number_value());
    if (it->second.has_string_value()) {
      try {
        return std::stoll(it->second.string_value());
      } catch (...) {
        return 0;
      }
    }
    return 0;
  }
  static std::vector<const google::protobuf::Struct*> L(const google::protobuf::Struct& s,
                                                        const char* k) {
    std::vector<const google::protobuf::Struct*> out;
    auto it = s.fields().find(k);
    if (it != s.fields().end() && it->second.has_list_value()) {
      for (const auto& v : it->second.list_value().values()) {
        if (v.has_struct_value()) out.push_back(&v.struct_value());
      }
    }
    return out;
  }

  std::string AgencyName(const std::string& id) const {
    auto it = agency_names_.find(id);
    return it == agency_names_.end() || it->second.empty() ? id : it->second;
  }

  // ---- inbox ----
  static void Filter(const httplib::Request& req, const char* name,
                     const google::protobuf::EnumDescriptor* type,
                     google::protobuf::RepeatedField<int>* out, std::string* query) {
    const size_t n = req.get_param_value_count(name);
    for (size_t i = 0; i < n && i < 20; ++i) {
      const std::string v = req.get_param_value(name, i);
      const auto* ev = type->FindValueByName(v);
      if (ev != nullptr && ev->number() != 0) {
        out->Add(ev->number());
        *query += std::string("&amp;") + name + "=" + v;
      }
    }
  }

  void Inbox(const httplib::Request& req, httplib::Response& res) {
    auto me = Require(req, res);
    if (!me) return;
    if (!me->Answers()) {
      if (me->Oversees() || me->Audits()) {
        Redirect(res, me->Oversees() ? "/dashboard" : "/audit");
      } else {
        // A node admin: accounts are managed with passagectl staff on the node itself.
        Send(res, 200, Page("Passage", "<p>" + Tr("None of your roles works in this workspace; node admins manage accounts with passagectl staff on the node.") + "</p>", &*me));
      }
      return;
    }
    v1::ControlRequest q;
    auto* in = q.mutable_inbox();
    const bool all = req.get_param_value("all") == "1";
    in->set_include_closed(all);
    in->set_page_size(kPageSize);
    const std::string asked = req.get_param_value("page");
    if (!asked.empty() && asked.size() <= 6 &&
        asked.find_first_not_of("0123456789") == std::string::npos) {
      in->set_page(static_cast<uint32_t>(std::stoi(asked)));
    }
    std::string query = all ? "&amp;all=1" : "";
    Filter(req, "status", v1::ReferralStatus_descriptor(),
                               in->mutable_status_in(), &query);
    Filter(req, "service", v1::ServiceType_descriptor(), in->mutable_service_in(),
                            &query);
    Filter(req, "priority", v1::Priority_descriptor(), in->mutable_priority_in(),
                         &query);
    v1::ControlResponse raw;
    auto page = CallStruct(q, *me, &raw);
    if (!page.ok()) {
      if (raw.code() != v1::CONTROL_CODE_OK && raw.code() != v1::CONTROL_CODE_NOT_FOUND) {
        Failure(res, raw, *me);
      } else {
        Send(res, 503, Page("Inbox", "<p class=\"error\">" + Esc(page.status().message()) + "</p>",
                            &*me));
      }
      return;
    }
    v1::InboxPage p;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    (void)google::protobuf::util::JsonStringToMessage(raw.json(), &p, o);
    const int64_t now = NowMs();
    // Filters: plain GET selects, nothing personal in them.
    auto select = [&](const char* name, const char* label,
                      const google::protobuf::EnumDescriptor* type,
                      const google::protobuf::RepeatedField<int>& chosen) {
      std::string h = "<label>" + Tr(label) + " <select name=\"" + name +
                      "\"><option value=\"\">" + Tr("any") + "</option>";
      for (int i = 0; i < type->value_count(); ++i) {
        const auto* v = type->value(i);
        if (v->number() == 0) continue;
        const bool on = std::find(chosen.begin(), chosen.end(), v->number()) != chosen.end();
        h += "<option value=\"" + v->name() + "\"" + (on ? " selected" : "") + ">" +
             Esc(Label(type, v->number())) + "</option>";
      }
      return h + "</select></label>";
    };
    std::string body = "<form class=\"filters\" method=\"get\" action=\"/\">" +
                       select("status", "Status", v1::ReferralStatus_descriptor(), in->status_in()) +
                       select("service", "Service", v1::ServiceType_descriptor(),
                              in->service_in()) +
                       select("priority", "Priority", v1::Priority_descriptor(),
                              in->priority_in()) +
                       "<label><input type=\"checkbox\" name=\"all\" value=\"1\"" +
                       (all ? " checked" : "") + "> " + Tr("also finished ones") +
                       "</label><button>" + Tr("Show") + "</button></form>";
    body += "<p>" + Fmt("{0} referral(s), most urgent first.", {std::to_string(p.total())}) +
            (p.overdue() > 0 ? " <span class=\"overdue\">" +
                                   Fmt("{0} overdue", {std::to_string(p.overdue())}) + "</span>"
                             : "") +
            "</p><table class=\"inbox\"><thead><tr><th>" + Tr("Case") + "</th><th>" +
            Tr("Priority") + "</th><th>" + Tr("Service") + "</th><th>" + Tr("Status") +
            "</th><th>" + Tr("From") +
            "</th><th>" + Tr("Respond by") + "</th></tr></thead><tbody>";
    for (const v1::Referral& r : p.referrals()) {
      const bool overdue =
          r.respond_by_ms() != 0 && r.respond_by_ms() < now &&
          (r.status() == v1::REFERRAL_STATUS_SENT || r.status() == v1::REFERRAL_STATUS_RECEIVED);
      const std::string ref =
          r.case_reference().empty() ? r.case_id().substr(0, 8) : r.case_reference();
      body += "<tr><td><a class=\"ref\" href=\"/cases/" + Esc(r.case_id()) + "\">" + Esc(ref) +
              "</a></td><td>" + Esc(Label(v1::Priority_descriptor(), r.priority())) +
              "</td><td>" + Esc(Label(v1::ServiceType_descriptor(), r.service())) +
              "</td><td>" + Esc(StatusWord(r.status())) + "</td><td><bdi>" +
              Esc(AgencyName(r.from_agency())) + "</bdi></td><td" +
              (overdue ? " class=\"overdue\"" : "") + ">" + When(r.respond_by_ms()) +
              (overdue ? " " + Tr("(overdue)") : "") + "</td></tr>";
    }
    body += "</tbody></table><p>";
    const uint32_t pages = p.total() == 0 ? 1 : (p.total() + kPageSize - 1) / kPageSize;
    if (p.page() > 0)
      body += "<a href=\"/?page=" + std::to_string(p.page() - 1) + query + "\">" +
              Tr("previous") + "</a> ";
    if (p.page() + 1 < pages)
      body += "<a href=\"/?page=" + std::to_string(p.page() + 1) + query + "\">" + Tr("next") +
              "</a>";
    body += "</p>";
    body += DueSection(*me);
    Send(res, 200, Page("Inbox", body, &*me));
  }

  // This agency's plan items and follow-ups due within a week or overdue (PlanRequest DUE).
  std::string DueSection(const Me& me) {
    v1::ControlRequest q;
    q.mutable_plan()->set_action(v1::PlanRequest::ACTION_DUE);
    auto due = CallStruct(q, me);
    if (!due.ok()) return "";
    auto it = due->fields().find("reminders");
    if (it == due->fields().end() || it->second.list_value().values_size() == 0) return "";
    std::string body = "<section><h2>" + Tr("Due and overdue") +
                       "</h2><table class=\"inbox\"><thead><tr><th>" + Tr("Due date") +
                       "</th><th>" + Tr("Case") + "</th><th>" + Tr("Service plan") +
                       "</th></tr></thead><tbody>";
    for (const auto& v : it->second.list_value().values()) {
      const auto& m = v.struct_value();
      const bool overdue = m.fields().count("overdue") != 0 &&
                           m.fields().at("overdue").bool_value();
      const std::string ref = S(m, "case_reference").empty() ? S(m, "case_id").substr(0, 8)
                                                             : S(m, "case_reference");
      body += "<tr><td" + std::string(overdue ? " class=\"overdue\"" : "") + ">" +
              Esc(S(m, "due_date")) + (overdue ? " " + Tr("(overdue)") : "") +
              "</td><td><a class=\"ref\" href=\"/cases/" + Esc(S(m, "case_id")) + "\">" +
              Esc(ref) + "</a></td><td>" +
              (S(m, "kind") == "follow_up" ? Tr("Follow-up") : Tr("Plan item")) + ": " +
              Esc(S(m, "what")) + "</td></tr>";
    }
    return body + "</tbody></table></section>";
  }

  // The node's state of one case (CasesRequest.case_id) into `list`. On failure answers `res`
  // with the node's reason and status (when given) and returns false.
  bool CaseOf(const Me& me, const std::string& case_id, v1::CaseList* list,
              httplib::Response* res) {
    v1::ControlRequest cq;
    cq.set_json(true);
    cq.mutable_cases()->set_case_id(case_id);
    auto cr = Call(cq, me.token);
    if (!cr.ok() || cr->code() != v1::CONTROL_CODE_OK) {
      if (res != nullptr && cr.ok()) Failure(*res, *cr, me);
      if (res != nullptr && !cr.ok()) {
        Send(*res, 503,
             Page("Not done", "<p class=\"error\">" + Esc(cr.status().message()) + "</p>", &me));
      }
      return false;
    }
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    return google::protobuf::util::JsonStringToMessage("{\"cases\":" + cr->json() + "}", list, o)
        .ok();
  }

  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // ---- case page ----
  void CasePage(const httplib::Request& req, httplib::Response& res, const std::string& case_id) {
    auto me = Require(req, res);
    if (!me) return;
    if (!IsUuid(case_id)) {
      Send(res, 404, Page("Not found", "<p>" + Tr("There is no such case.") + " <a href=\"/\">" +
                                           Tr("Inbox") + "</a></p>",
                          &*me));
      return;
    }
    v1::ControlRequest j;
    j.set_json(true);
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
    v1::CaseList list;
    (void)CaseOf(*me, case_id, &list, nullptr);  // the journey alone when the node has no state
    const std::string csrf = Csrf(me->token);
    std::string body;
    if (list.cases_size() == 1) {
      body += CaseSummary(list.cases(0), *me, csrf);
    }
    // The journey drawn, then in words.
    body += "<section><h2>" + Tr("Journey") + "</h2>" +
            JourneySvg(journey->json(), &WordsText, &WhenText) +
            "<details><summary>" + Tr("Every step in words") +
            "</summary><pre><bdi>";
    // The words come with the same answer's text; one read is recorded, not two.
    body += Esc(journey->text()) + "</bdi></pre></details></section>";
    Send(res, 200, Page("Case", body, &*me));
  }

  std::string CaseSummary(const v1::CaseState& c, const Me& me, const std::string& csrf) {
    const v1::Profile& p = c.profile();
    std::string body = "<p class=\"ref-line\">" + Tr("Case reference") + ": <strong class=\"ref\">" +
                       Esc(c.reference().empty() ? c.case_id() : c.reference()) + "</strong> · " +
                       Esc(Label(v1::CrimeType_descriptor(), c.crime_type())) + " · " +
                       Tr("opened by") + " <bdi>" + Esc(AgencyName(c.owner_agency())) +
                       "</bdi> " + When(c.opened_at_ms()) + (c.closed() ? " · " + Tr("closed") : "") +
                       "</p>";
    // What this agency has to do comes first: on a phone it is the first thing on the screen.
    for (const auto& r : c.referrals()) {
      if (r.to_agency() != options_.agency_id || !me.Answers()) continue;
      body += MoveForm(r, c.case_id(), csrf);
    }
    // A need no agency has taken: the owner and the coordinators see it until someone places it.
    const auto unplaced = core::UnplacedNeeds(c);
    if (!unplaced.empty() && (c.owner_agency() == options_.agency_id || me.Has("coordinator"))) {
      body += "<section class=\"unplaced\" role=\"alert\"><h2>" + Tr("Needs no agency has taken") +
              "</h2><ul>";
      for (const auto& n : unplaced) {
        body += "<li>" +
                Fmt("{0}: the last referral, to {1}, was {2}. Refer it by hand below, or record "
                    "why it is no longer needed.",
                    {Esc(Label(v1::ServiceType_descriptor(), n.service)),
                     "<bdi>" + Esc(AgencyName(n.last_agency)) + "</bdi>",
                     Esc(Label(v1::ReferralStatus_descriptor(), n.last_status))}) +
                "</li>";
      }
      body += "</ul></section>";
    }
    // Profile: no personal data, the statistics' own fields.
    std::string forms;
    for (int f : p.exploitation_forms()) {
      forms += (forms.empty() ? "" : ", ") + Label(v1::ExploitationForm_descriptor(), f);
    }
    std::string citizenship;
    for (const auto& cc : p.citizenship()) citizenship += (citizenship.empty() ? "" : ", ") + cc;
    body += "<section><h2>" + Tr("Profile") + "</h2><table>";
    auto row = [&](const char* label, const std::string& value) {
      if (!value.empty()) body += "<tr><th>" + Tr(label) + "</th><td>" + Esc(value) + "</td></tr>";
    };
    row("Sex", p.sex() ? Label(v1::Sex_descriptor(), p.sex()) : "");
    row("Age band", p.age_band() ? AgeBandText(p.age_band()) : "");
    row("Citizenship", citizenship);
    row("Forms of exploitation", forms);
    row("Identified through",
        p.identification_channel() ? Label(v1::IdentificationChannel_descriptor(),
                                           p.identification_channel())
                                   : "");
    row("Country of exploitation", p.country_of_exploitation());
    body += "</table></section>";
    // Consents.
    body += "<section><h2>" + Tr("Consents") + "</h2><table><thead><tr><th>" + Tr("Scope") +
            "</th><th>" + Tr("Given by") + "</th><th>" + Tr("Given") + "</th><th>" +
            Tr("Withdrawn") + "</th></tr></thead><tbody>";
    for (const auto& k : c.consents()) {
      body += "<tr><td>" + Esc(Label(v1::ConsentScope_descriptor(), k.scope())) + "</td><td>" +
              Esc(Label(v1::ConsentGiver_descriptor(), k.given_by())) + "</td><td>" +
              When(k.given_at_ms()) + "</td><td>" + When(k.withdrawn_at_ms()) + "</td></tr>";
    }
    body += "</tbody></table></section>";
    // Referrals: all of them, with the moves this agency may make on its own.
    body += "<section><h2>" + Tr("Referrals") + "</h2><table><thead><tr><th>" + Tr("Service") +
            "</th><th>" + Tr("From") + "</th><th>" + Tr("To") + "</th><th>" + Tr("Status") +
            "</th><th>" + Tr("Respond by") + "</th></tr></thead><tbody>";
    for (const auto& r : c.referrals()) {
      body += "<tr><td>" + Esc(Label(v1::ServiceType_descriptor(), r.service())) +
              "</td><td><bdi>" + Esc(AgencyName(r.from_agency())) + "</bdi></td><td><bdi>" +
              Esc(AgencyName(r.to_agency())) + "</bdi></td><td>" + Esc(StatusWord(r.status())) +
              "</td><td>" + When(r.respond_by_ms()) + "</td></tr>";
    }
    body += "</tbody></table></section>";
    // The crime side: only nodes of agencies that may hold it ever receive it (the broker keeps
    // it from everyone else), and the referral engine's node, which receives it to count it,
    // leaves it out of the case views it gives (Node::PeopleSeeCrimeSide). No identity: it stays
    // sealed until someone opens it, and that opening is recorded.
    if (c.offences_size() > 0) {
      body += "<section id=\"offences\"><h2>" + Tr("Offences and accused") +
              "</h2><table><thead><tr><th>" + Tr("FIR") + "</th><th>" + Tr("Police station") +
              "</th><th>" + Tr("Law sections") + "</th><th>" + Tr("Registered") + "</th><th>" +
              Tr("Status") + "</th></tr></thead><tbody>";
      for (const auto& o : c.offences()) {
        std::string sections;
        for (const auto& code : o.law_sections()) sections += (sections.empty() ? "" : ", ") + code;
        body += "<tr><td><bdi>" + Esc(o.fir_number()) + "</bdi></td><td><bdi>" +
                Esc(o.police_station()) + "</bdi></td><td dir=\"ltr\">" + Esc(sections) +
                "</td><td>" + Esc(o.registered_on()) + "</td><td>" +
                Esc(Label(v1::OffenceStatus_descriptor(), o.status())) + "</td></tr>";
      }
      body += "</tbody></table>";
      if (c.suspects_size() > 0) {
        body += "<table><thead><tr><th>" + Tr("Suspect") + "</th><th>" + Tr("Sex") + "</th><th>" +
                Tr("Role") + "</th><th>" + Tr("Status") + "</th><th>" + Tr("Sentence") +
                "</th><th></th></tr></thead><tbody>";
        int n = 0;
        for (const auto& x : c.suspects()) {
          std::string roles;
          for (int r : x.roles()) {
            roles += (roles.empty() ? "" : ", ") + Label(v1::SuspectRole_descriptor(), r);
          }
          std::string sentence;
          if (x.sentence_months() != 0) {
            sentence = Fmt("{0} months", {std::to_string(x.sentence_months())});
          }
          if (x.fine_amount() != 0) {
            sentence += (sentence.empty() ? "" : ", ") + std::to_string(x.fine_amount()) + " " +
                        Esc(x.fine_currency());
          }
          std::string open;
          if (me.Answers() && x.has_identity()) {
            open = "<form method=\"post\" action=\"/cases/" + Esc(c.case_id()) +
                   "/personal\"><input type=\"hidden\" name=\"csrf\" value=\"" + csrf +
                   "\"><input type=\"hidden\" name=\"suspect\" value=\"" + Esc(x.suspect_id()) +
                   "\"><label>" + Tr("Purpose (recorded in the access log)") +
                   " <input name=\"purpose\" required maxlength=\"200\"></label><button>" +
                   Tr("Open identity") + "</button></form>";
          }
          body += "<tr><td>" + std::to_string(++n) + "</td><td>" +
                  Esc(Label(v1::Sex_descriptor(), x.sex())) + "</td><td>" + Esc(roles) +
                  "</td><td>" + Esc(Label(v1::AccusedStatus_descriptor(), x.status())) +
                  "</td><td>" + sentence + "</td><td>" + open + "</td></tr>";
        }
        body += "</tbody></table>";
      }
      body += "</section>";
    }
    body += NotesSection(c, me, csrf);
    if (me.Answers()) {
      body += "<section><h2>" + Tr("Personal data") +
              "</h2><form method=\"post\" action=\"/cases/" + Esc(c.case_id()) +
              "/personal\"><input type=\"hidden\" name=\"csrf\" value=\"" + csrf + "\"><label>" +
              Tr("Purpose (recorded in the access log)") +
              " <input name=\"purpose\" required maxlength=\"200\"></label><button>" +
              Tr("Open personal data") + "</button></form></section>";
      body += ReferForm(c, csrf);
    }
    return body;
  }

  std::string MoveForm(const v1::Referral& r, const std::string& case_id, const std::string& csrf) {
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
    std::string body = "<section><h2>" +
                       Fmt("Referral for {0}: {1}",
                           {Esc(Label(v1::ServiceType_descriptor(), r.service())),
                            Esc(StatusWord(r.status()))}) +
                       "</h2>";
    if (moves.empty()) {
      return body + "<p>" + Tr("No move is open to your agency on this referral now.") +
             "</p></section>";
    }
    body += "<form method=\"post\" action=\"/referrals/" + Esc(r.referral_id()) +
            "\"><input type=\"hidden\" name=\"csrf\" value=\"" + csrf +
            "\"><input type=\"hidden\" name=\"case\" value=\"" + Esc(case_id) + "\"><label>" +
            Tr("Next step") + " <select name=\"action\">";
    for (const auto& [value, words] : moves) {
      body += "<option value=\"" + std::string(value) + "\">" + Tr(words) + "</option>";
    }
    body += "</select></label>";
    if (moves[0].first == std::string("accept")) {
      body += "<label>" + Tr("Reason, if you decline") + " <select name=\"reason\"><option " +
              "value=\"\"></option>";
      for (auto [v, w] : std::vector<std::pair<const char*, const char*>>{
               {"REJECT_REASON_CAPACITY_FULL", "Capacity full"},
               {"REJECT_REASON_OUT_OF_SCOPE", "Out of scope"},
               {"REJECT_REASON_INELIGIBLE", "Ineligible"},
               {"REJECT_REASON_VICTIM_DECLINED", "Victim declined"},
               {"REJECT_REASON_OTHER", "Other"}}) {
        body += "<option value=\"" + std::string(v) + "\">" + Tr(w) + "</option>";
      }
      body += "</select></label>";
    } else {
      body += "<label>" + Tr("Outcome, to complete or close") +
              " <input name=\"outcome\" maxlength=\"500\"></label>";
    }
    body += "<button>" + Tr("Record") + "</button></form>";
    if (r.status() == v1::REFERRAL_STATUS_ACCEPTED ||
        r.status() == v1::REFERRAL_STATUS_IN_PROGRESS) {
      body += "<form method=\"post\" action=\"/cases/" + Esc(case_id) +
              "/service\"><input type=\"hidden\" name=\"csrf\" value=\"" + csrf +
              "\"><input type=\"hidden\" name=\"referral\" value=\"" + Esc(r.referral_id()) +
              "\"><button>" +
              Fmt("Record a {0} service given", {Esc(Label(v1::ServiceType_descriptor(),
                                                           r.service()))}) +
              "</button></form>";
      body += PlanForms(r, case_id, csrf);
    }
    return body + "</section>";
  }

  // The service plan and follow-ups of a referral this agency accepted (docs/case-work.md): each
  // open item with its "done" / "not done" form, and forms to add one. POST /cases/{id}/plan.
  // Field names differ from the other forms of the case page ("purpose" is the personal data's).
  std::string PlanForms(const v1::Referral& r, const std::string& case_id,
                        const std::string& csrf) {
    const std::string open = "<form method=\"post\" action=\"/cases/" + Esc(case_id) +
                             "/plan\"><input type=\"hidden\" name=\"csrf\" value=\"" + csrf +
                             "\"><input type=\"hidden\" name=\"referral\" value=\"" +
                             Esc(r.referral_id()) + "\">";
    std::string body = "<h3>" + Tr("Service plan") + "</h3>";
    if (r.plan_size() > 0 || r.follow_ups_size() > 0) {
      body += "<ul class=\"plan\">";
      for (const auto& i : r.plan()) {
        body += "<li>" +
                Fmt("{0}, due {1}", {Esc(Label(v1::ServiceType_descriptor(), i.service())),
                                     Esc(i.due_date())}) +
                (i.note().empty() ? "" : " (" + Esc(i.note()) + ")") + " · " +
                Esc(Label(v1::PlanItemStatus_descriptor(), i.status())) +
                (i.status_reason().empty() ? "" : ": " + Esc(i.status_reason()));
        if (i.status() == v1::PLAN_ITEM_STATUS_PLANNED) {
          body += open + "<input type=\"hidden\" name=\"item\" value=\"" + Esc(i.item_id()) +
                  "\"><button name=\"step\" value=\"done\">" + Tr("Mark done") +
                  "</button><label>" + Tr("Not done, because") +
                  " <input name=\"reason\" maxlength=\"500\"></label><button name=\"step\" "
                  "value=\"not_done\">" +
                  Tr("Mark not done") + "</button></form>";
        }
        body += "</li>";
      }
      for (const auto& f : r.follow_ups()) {
        body += "<li>" + Fmt("Follow-up due {0}: {1}", {Esc(f.due_date()), Esc(f.purpose())});
        if (f.done()) {
          body += " · " + Esc(Label(v1::PlanItemStatus_descriptor(), v1::PLAN_ITEM_STATUS_DONE));
        } else {
          body += open + "<input type=\"hidden\" name=\"item\" value=\"" +
                  Esc(f.follow_up_id()) + "\"><button name=\"step\" value=\"followup_done\">" +
                  Tr("Mark done") + "</button></form>";
        }
        body += "</li>";
      }
      body += "</ul>";
    }
    body += open + "<input type=\"hidden\" name=\"step\" value=\"add\"><label>" +
            Tr("Service") + " <select name=\"service\">";
    for (int i = 1; i < v1::ServiceType_descriptor()->value_count(); ++i) {
      const auto* v = v1::ServiceType_descriptor()->value(i);
      body += "<option value=\"" + v->name() + "\">" +
              Esc(Label(v1::ServiceType_descriptor(), v->number())) + "</option>";
    }
    body += "</select></label><label>" + Tr("Due date") +
            " <input type=\"date\" name=\"due\" required></label><label>" +
            Tr("Short note (a service code; no names)") +
            " <input name=\"note\" maxlength=\"140\"></label><button>" + Tr("Plan a service") +
            "</button></form>";
    body += open + "<input type=\"hidden\" name=\"step\" value=\"followup\"><label>" +
            Tr("Due date") + " <input type=\"date\" name=\"due\" required></label><label>" +
            Tr("Purpose (no names)") +
            " <input name=\"followup_purpose\" required maxlength=\"140\"></label><button>" +
            Tr("Schedule a follow-up") + "</button></form>";
    return body;
  }

  void PlanStep(const httplib::Request& req, httplib::Response& res, const std::string& case_id) {
    auto me = RequirePost(req, res);
    if (!me) return;
    using A = v1::PlanRequest;
    v1::ControlRequest q;
    auto* p = q.mutable_plan();
    p->set_case_id(case_id);
    p->set_referral_id(req.get_param_value("referral"));
    p->set_item_id(req.get_param_value("item"));
    const std::string step = req.get_param_value("step");
    if (step == "add") {
      v1::ServiceType service = v1::SERVICE_TYPE_UNSPECIFIED;
      (void)v1::ServiceType_Parse(req.get_param_value("service"), &service);
      p->set_action(A::ACTION_ADD_ITEM);
      p->set_service(service);
      p->set_due_date(req.get_param_value("due"));
      p->set_note(req.get_param_value("note"));
    } else if (step == "followup") {
      p->set_action(A::ACTION_ADD_FOLLOW_UP);
      p->set_due_date(req.get_param_value("due"));
      p->set_note(req.get_param_value("followup_purpose"));
    } else if (step == "done") {
      p->set_action(A::ACTION_ITEM_DONE);
    } else if (step == "not_done") {
      p->set_action(A::ACTION_ITEM_NOT_DONE);
      p->set_reason(req.get_param_value("reason"));
    } else if (step == "followup_done") {
      p->set_action(A::ACTION_FOLLOW_UP_DONE);
    } else {
      Send(res, 400, Page("Not done", "<p class=\"error\">" + Tr("choose what to record") +
                                          "</p>", &*me));
      return;
    }
    Done(res, Call(q, me->token), *me, "/cases/" + case_id);
  }

  std::string ReferForm(const v1::CaseState& c, const std::string& csrf) {
    std::string body = "<section><h2>" + Tr("Refer onward") + "</h2><form method=\"post\" "
                       "action=\"/cases/" + Esc(c.case_id()) +
                       "/refer\"><input type=\"hidden\" name=\"csrf\" value=\"" + csrf +
                       "\"><label>" + Tr("To") + " <select name=\"to\">";
    for (const auto& [id, name] : agency_names_) {
      if (id == options_.agency_id) continue;
      body += "<option value=\"" + Esc(id) + "\">" + Esc(name.empty() ? id : name) + "</option>";
    }
    body += "</select></label><label>" + Tr("Service") + " <select name=\"service\">";
    for (int i = 1; i < v1::ServiceType_descriptor()->value_count(); ++i) {
      const auto* v = v1::ServiceType_descriptor()->value(i);
      body += "<option value=\"" + v->name() + "\">" +
              Esc(Label(v1::ServiceType_descriptor(), v->number())) + "</option>";
    }
    body += "</select></label><label><input type=\"checkbox\" name=\"override\" value=\"1\"> " +
            Tr("Without the victim's consent: the person is in danger now (supervisors only)") +
            "</label><label>" + Tr("Why, if without consent") +
            " <input name=\"override_reason\" maxlength=\"300\"></label><button>" +
            Tr("Send the referral") + "</button></form></section>";
    return body;
  }

  void ServiceDone(const httplib::Request& req, httplib::Response& res,
                   const std::string& case_id) {
    auto me = RequirePost(req, res);
    if (!me) return;
    const std::string referral = req.get_param_value("referral");
    v1::CaseList list;
    if (!CaseOf(*me, case_id, &list, &res)) return;
    const v1::Referral* found = nullptr;
    for (const auto& c : list.cases()) {
      for (const auto& r : c.referrals()) {
        if (r.referral_id() == referral && r.to_agency() == options_.agency_id) found = &r;
      }
    }
    if (found == nullptr) {
      Send(res, 404, Page("Not done", "<p class=\"error\"><b>referral</b>: " +
                                          Tr("no referral of this case is addressed to your agency") +
                                          "</p>", &*me));
      return;
    }
    v1::ControlRequest q;
    v1::Event* e = q.mutable_publish()->mutable_event();
    e->set_case_id(case_id);
    e->mutable_service_delivered()->set_referral_id(referral);
    e->mutable_service_delivered()->set_service(found->service());
    Done(res, Call(q, me->token), *me, "/cases/" + case_id);
  }

  void ReferOnward(const httplib::Request& req, httplib::Response& res,
                   const std::string& case_id) {
    auto me = RequirePost(req, res);
    if (!me) return;
    v1::ServiceType service = v1::SERVICE_TYPE_UNSPECIFIED;
    const std::string to = req.get_param_value("to");
    if (!v1::ServiceType_Parse(req.get_param_value("service"), &service) ||
        service == v1::SERVICE_TYPE_UNSPECIFIED || agency_names_.count(to) == 0) {
      Send(res, 400, Page("Not done", "<p class=\"error\">" + Tr("choose an agency and a service") +
                                          "</p>", &*me));
      return;
    }
    v1::CaseList list;
    if (!CaseOf(*me, case_id, &list, &res)) return;
    v1::ControlRequest q;
    v1::Event* e = q.mutable_publish()->mutable_event();
    e->set_case_id(case_id);
    auto* r = e->mutable_referral_sent()->mutable_referral();
    r->set_referral_id(core::NewUuidV7());
    r->set_case_id(case_id);
    r->set_kind(v1::REFERRAL_KIND_REFERRAL);
    r->set_to_agency(to);
    r->set_service(service);
    r->set_priority(v1::PRIORITY_ROUTINE);
    r->set_reason("onward referral");
    r->set_respond_by_ms(NowMs() + 72LL * 3'600'000);
    for (auto sec : {v1::DATA_SECTION_PROFILE, v1::DATA_SECTION_PERSONAL, v1::DATA_SECTION_CONSENTS,
                     v1::DATA_SECTION_REFERRALS}) {
      r->add_data_scope(sec);
    }
    if (!req.get_param_value("override").empty()) {
      auto* o = r->mutable_consent_override();
      o->set_role(v1::ACTOR_ROLE_SUPERVISOR);
      o->set_reason(req.get_param_value("override_reason"));
      r->set_priority(v1::PRIORITY_URGENT);
    } else {
      // The first consent in force that covers this recipient, by the broker's own rule.
      auto recipient = options_.registry.find(to);
      for (const auto& c : list.cases()) {
        for (const auto& k : c.consents()) {
          if (r->consent_id().empty() && k.withdrawn_at_ms() == 0 &&
              recipient != options_.registry.end() &&
              core::ConsentCovers(k, *r, recipient->second, "consent").ok()) {
            r->set_consent_id(k.consent_id());
          }
        }
      }
      if (r->consent_id().empty()) {
        Send(res, 400, Page("Not done", "<p class=\"error\"><b>consent</b>: " +
                                            Tr("no consent in force covers this agency and service; only a supervisor may refer without it") +
                                            "</p>", &*me));
        return;
      }
    }
    Done(res, Call(q, me->token), *me, "/cases/" + case_id);
  }

  // After a POST that the node answers: back to `to`, or the refusal page.
  void Done(httplib::Response& res, const Result<v1::ControlResponse>& r, const Me& me,
            const std::string& to) {
    if (!r.ok()) {
      Send(res, 503,
           Page("Not done", "<p class=\"error\">" + Esc(r.status().message()) + "</p>", &me));
      return;
    }
    if (r->code() != v1::CONTROL_CODE_OK) {
      Failure(res, *r, me);
      return;
    }
    Redirect(res, to);
  }

  // ---- search ----
  std::string SearchForms(const Me& me, const std::string& error) {
    const std::string csrf = Csrf(me.token);
    std::string body;
    if (!error.empty()) body += "<p class=\"error\" role=\"alert\">" + error + "</p>";
    body += "<section><h2>" + Tr("By case reference") +
            "</h2><form method=\"post\" action=\"/search\" autocomplete=\"off\"><input "
            "type=\"hidden\" name=\"csrf\" value=\"" +
            csrf + "\"><label>" + Tr("Case reference") +
            " <input name=\"reference\" maxlength=\"40\" placeholder=\"FIAKHI-26-00123-7\">"
            "</label><button>" +
            Tr("Find") + "</button></form></section>";
    if (me.Answers()) {
      body += "<section><h2>" + Tr("By name and date of birth") + "</h2><p>" +
              Tr("Among the cases whose personal data your agency may open. The name is compared as a keyed hash, never stored or sent in clear.") +
              "</p><form method=\"post\" action=\"/search\" autocomplete=\"off\"><input "
              "type=\"hidden\" name=\"csrf\" value=\"" +
              csrf + "\"><label>" + Tr("Name") +
              " <input name=\"name\" maxlength=\"200\" required></label><label>" +
              Tr("Date of birth (YYYY-MM-DD)") +
              " <input name=\"date_of_birth\" maxlength=\"10\"></label><button>" + Tr("Find") +
              "</button></form></section>";
    }
    return body;
  }

  void Search(const httplib::Request& req, httplib::Response& res) {
    auto me = RequirePost(req, res);
    if (!me) return;
    v1::ControlRequest q;
    q.set_json(true);
    auto* f = q.mutable_find();
    f->set_reference(req.get_param_value("reference"));
    f->set_name(req.get_param_value("name"));
    f->set_date_of_birth(req.get_param_value("date_of_birth"));
    if (f->reference().empty() && f->name().empty()) {
      Send(res, 400, Page("Find a case", SearchForms(*me, Tr("give a case reference, or a name")), &*me));
      return;
    }
    auto r = Call(q, me->token);
    if (!r.ok()) {
      Send(res, 503, Page("Find a case", SearchForms(*me, Esc(r.status().message())), &*me));
      return;
    }
    if (r->code() != v1::CONTROL_CODE_OK) {
      if (r->code() == v1::CONTROL_CODE_INVALID) {
        Send(res, 400, Page("Find a case",
                            SearchForms(*me, "<b>" + Esc(r->field()) + "</b>: " + Esc(r->reason())),
                            &*me));
      } else {
        Failure(res, *r, *me);
      }
      return;
    }
    v1::CaseList list;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    (void)google::protobuf::util::JsonStringToMessage(r->json(), &list, o);
    if (list.cases_size() == 1 && !f->reference().empty() && IsUuid(list.cases(0).case_id())) {
      Redirect(res, "/cases/" + list.cases(0).case_id());
      return;
    }
    std::string body;
    if (list.cases_size() == 0) {
      body = "<p>" + Tr("No case found.") + "</p>";
    } else {
      body = "<table><thead><tr><th>" + Tr("Case") + "</th><th>" + Tr("Opened") + "</th><th>" +
             Tr("Owner") + "</th></tr></thead><tbody>";
      for (const auto& c : list.cases()) {
        body += "<tr><td><a class=\"ref\" href=\"/cases/" + Esc(c.case_id()) + "\">" +
                Esc(c.reference().empty() ? c.case_id() : c.reference()) + "</a></td><td>" +
                When(c.opened_at_ms()) + "</td><td><bdi>" + Esc(AgencyName(c.owner_agency())) +
                "</bdi></td></tr>";
      }
      body += "</tbody></table>";
    }
    Send(res, 200, Page("Find a case", body + SearchForms(*me, ""), &*me));
  }

  // ---- dashboard ----
  struct StatsTableSpec {
    const char* id;
    const char* title;
    std::vector<std::string> by;
  };
  static const std::vector<StatsTableSpec>& StatsTables() {
    static const std::vector<StatsTableSpec> kTables = {
        {"sex_age_band", "Victims by sex and age band", {"sex", "age_band"}},
        {"form", "Forms of exploitation", {"form"}},
        {"citizenship", "Citizenship", {"citizenship"}},
        {"crime_type", "Trafficking (TIP) and smuggling (SOM)", {"crime_type"}},
    };
    return kTables;
  }

  // The mark of a suppressed cell of a stats table's JSON: "<k" when primary, "x" when secondary
  // (core::SuppressionMark); empty when shown.
  static std::string StatsMark(const google::protobuf::Struct& cell, int64_t k) {
    auto sup = cell.fields().find("suppressed");
    if (sup == cell.fields().end() || !sup->second.bool_value()) return "";
    auto kind = cell.fields().find("suppression");
    if (kind != cell.fields().end() && kind->second.string_value() == "secondary") return "x";
    return "<" + std::to_string(k);
  }

  // Rows of a stats table: values..., count (its StatsMark when suppressed).
  static std::vector<std::vector<std::string>> StatsRows(const google::protobuf::Struct& table,
                                                         int64_t k) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> by;
    if (auto it = table.fields().find("by"); it != table.fields().end()) {
      for (const auto& v : it->second.list_value().values()) by.push_back(v.string_value());
    }
    for (const auto* cell : L(table, "cells")) {
      std::vector<std::string> row;
      auto vs = cell->fields().find("values");
      for (const auto& d : by) {
        std::string v;
        if (vs != cell->fields().end()) {
          auto x = vs->second.struct_value().fields().find(d);
          if (x != vs->second.struct_value().fields().end()) v = x->second.string_value();
        }
        if (auto dd = v.find("--"); dd != std::string::npos) v.erase(dd, 1);  // "24-26"
        row.push_back(v);
      }
      const std::string mark = StatsMark(*cell, k);
      row.push_back(!mark.empty() ? mark : std::to_string(N(*cell, "count")));
      rows.push_back(row);
    }
    return rows;
  }

  Result<google::protobuf::Struct> StatsOf(const Me& me, const std::vector<std::string>& by,
                                           v1::ControlResponse* raw) {
    v1::ControlRequest q;
    for (const auto& d : by) q.mutable_stats()->add_by(d);
    return CallStruct(q, me, raw);
  }

  void Dashboard(const httplib::Request& req, httplib::Response& res) {
    auto me = Require(req, res);
    if (!me) return;
    v1::ControlRequest rq;
    rq.mutable_report();
    v1::ControlResponse raw;
    auto report = CallStruct(rq, *me, &raw);
    if (!report.ok()) {
      if (raw.code() != v1::CONTROL_CODE_OK) Failure(res, raw, *me);
      else Send(res, 503, Page("Dashboard", "<p class=\"error\">" + Esc(report.status().message()) + "</p>", &*me));
      return;
    }
    std::string body = "<p>" + Tr("Figures over the cases this node knows, now.") + "</p>";
    auto table = [&](const std::string& id, const char* title,
                     const std::vector<std::string>& head,
                     const std::vector<std::vector<std::string>>& rows, bool bars) {
      body += "<section><h2>" + Tr(title) + "</h2><p><a href=\"/dashboard/" + id + ".csv\">" +
              Tr("Download as CSV") + "</a></p>";
      if (rows.empty()) {
        body += "<p>" + Tr("Nothing to show.") + "</p></section>";
        return;
      }
      int64_t max = 1;
      if (bars) {
        for (const auto& r : rows) {
          if (r.back().find_first_not_of("0123456789") == std::string::npos && !r.back().empty())
            max = std::max<int64_t>(max, std::stoll(r.back()));
        }
      }
      body += "<table id=\"t-" + id + "\"><thead><tr>";
      for (const auto& h : head) body += "<th>" + Tr(h) + "</th>";
      body += bars ? "<th></th>" : "";
      body += "</tr></thead><tbody>";
      for (const auto& r : rows) {
        body += "<tr>";
        for (size_t i = 0; i < r.size(); ++i) {
          body += (i + 1 == r.size() ? "<td class=\"num\">" : "<td>") + Esc(r[i]) + "</td>";
        }
        if (bars) {
          int64_t v = 0;
          if (!r.back().empty() && r.back().find_first_not_of("0123456789") == std::string::npos)
            v = std::stoll(r.back());
          body += "<td><svg class=\"bar\" viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" "
                  "aria-hidden=\"true\"><rect width=\"" +
                  std::to_string(100 * v / max) + "\" height=\"10\" fill=\"#457b9d\"/></svg></td>";
        }
        body += "</tr>";
      }
      body += "</tbody></table></section>";
    };
    auto rows = ReportRows(*report);
    table("referrals", "Referrals by agency and service",
          {"Agency", "Service", "Pending", "Overdue", "Active", "Completed", "Rejected", "Expired"},
          rows["referrals"], false);
    table("unplaced", "Victims with no agency left for a needed service",
          {"Case", "Service", "Last status", "Last agency"}, rows["unplaced"], false);
    table("escalations", "Escalations", {"Case", "Service", "From", "To", "Status"},
          rows["escalations"], false);
    table("months", "Referrals by month",
          {"Month", "Sent", "Accepted", "Rejected", "Median hours to acceptance"}, rows["months"],
          false);
    // Disaggregated tables: exactly what `passagectl stats --json` gives, with its suppression.
    int64_t stats_k = 0;
    for (const auto& spec : StatsTables()) {
      v1::ControlResponse sraw;
      auto stats = StatsOf(*me, spec.by, &sraw);
      if (!stats.ok()) continue;
      auto t = stats->fields().find("table");
      if (t == stats->fields().end()) continue;
      const auto& ts = t->second.struct_value();
      // People's words on the page ("female", "Age band"); the CSV keeps the stable codes.
      static const std::map<std::string, std::pair<const char*,
                                                   const google::protobuf::EnumDescriptor*>>
          kDims = {{"sex", {"Sex", v1::Sex_descriptor()}},
                   {"age_band", {"Age band", nullptr}},
                   {"form", {"Forms of exploitation", v1::ExploitationForm_descriptor()}},
                   {"citizenship", {"Citizenship", nullptr}},
                   {"crime_type", {"Crime", v1::CrimeType_descriptor()}}};
      std::vector<std::string> head;
      for (const auto& d : spec.by) head.push_back(kDims.at(d).first);
      head.push_back("Count");
      std::vector<std::vector<std::string>> srows = StatsRows(ts, N(ts, "k"));
      for (auto& row : srows) {
        for (size_t i = 0; i < spec.by.size() && i < row.size(); ++i) {
          const auto* type = kDims.at(spec.by[i]).second;
          for (int j = 0; type != nullptr && j < type->value_count(); ++j) {
            if (core::ShortEnumName(type, type->value(j)->number()) == row[i]) {
              row[i] = Label(type, type->value(j)->number());
              break;
            }
          }
        }
      }
      const auto total = ts.fields().find("total");
      if (total != ts.fields().end()) {
        std::vector<std::string> tr(spec.by.size(), "");
        tr[0] = TrText("total");
        const auto& tt = total->second.struct_value();
        const std::string mark = StatsMark(tt, N(ts, "k"));
        tr.push_back(!mark.empty() ? mark : std::to_string(N(tt, "count")));
        srows.push_back(tr);
      }
      table(spec.id, spec.title, head, srows, true);
      stats_k = N(ts, "k");
    }
    if (stats_k > 0) {
      const std::string k = std::to_string(stats_k);
      const std::string k1 = std::to_string(stats_k - 1);
      body += "<p class=\"legend\" id=\"suppression-legend\">" +
              Fmt("<{0}: suppressed, a count from 1 to {1}. x: hidden so that the totals cannot "
                  "reveal a suppressed count (0 or at least {0}).",
                  {k, k1}) +
              "</p>";
    }
    Send(res, 200, Page("Dashboard", body, &*me));
  }

  // The state's reports (docs/law-enforcement.md): GLOTIP, smuggling, data quality, as the node
  // renders them for `passagectl report`, with the same suppression; the sheets' titles and codes
  // are the report's own (English), the page around them is in the person's language.
  void StateReport(const httplib::Request& req, httplib::Response& res, bool csv) {
    auto me = Require(req, res);
    if (!me) return;
    static const std::vector<std::pair<std::string, const char*>> kKinds = {
        {"glotip", "GLOTIP tables"}, {"smuggling", "Smuggling of migrants"},
        {"sdg16", "SDG 16.2.2 (victims per 100,000)"}, {"quality", "Data quality"}};
    std::string kind = req.has_param("kind") ? req.get_param_value("kind") : "glotip";
    bool known = false;
    for (const auto& [k, _] : kKinds) known = known || k == kind;
    if (!known) kind = "glotip";
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    int year = tm.tm_year + 1900;
    std::string error;
    if (req.has_param("year")) {
      const std::string y = req.get_param_value("year");
      if (y.size() == 4 && y.find_first_not_of("0123456789") == std::string::npos &&
          std::stoi(y) >= 1990 && std::stoi(y) <= 2100) {
        year = std::stoi(y);
      } else {
        error = TrText("Give a year from 1990 to 2100, e.g. 2026.");
      }
    }
    v1::ControlRequest rq;
    auto* cr = rq.mutable_crime_report();
    cr->set_kind(kind == "smuggling" ? v1::CrimeReportRequest::KIND_SMUGGLING
                 : kind == "quality" ? v1::CrimeReportRequest::KIND_QUALITY
                 : kind == "sdg16"   ? v1::CrimeReportRequest::KIND_SDG16
                                     : v1::CrimeReportRequest::KIND_GLOTIP);
    cr->set_year(year);
    cr->set_csv(csv);
    const std::string population = req.get_param_value("population");
    cr->set_population_csv(population);
    const bool ask_population = kind == "sdg16" && population.empty();
    std::string text;
    if (error.empty() && !ask_population) {
      auto r = Call(rq, me->token);
      if (!r.ok()) {
        error = r.status().message();
      } else if (r->code() == v1::CONTROL_CODE_INVALID && r->field() == "population") {
        error = r->reason();  // shown beside the table to correct
      } else if (r->code() != v1::CONTROL_CODE_OK) {
        Failure(res, *r, *me);
        return;
      } else {
        text = r->text();
      }
    }
    if (csv && error.empty()) {
      Headers(res);
      res.status = 200;
      res.set_header("Content-Disposition", "attachment; filename=\"" + kind + "-" +
                                                std::to_string(year) + ".csv\"");
      res.set_content(text, "text/csv; charset=utf-8");
      return;
    }
    std::string body = "<p>" +
                       Tr("The reports the state owes, over the cases this node knows. Small "
                          "cells are suppressed; no personal data.") +
                       "</p><form method=\"get\" action=\"/reports\" class=\"inline\"><label>" +
                       Tr("Report") + " <select name=\"kind\">";
    for (const auto& [k, title] : kKinds) {
      body += "<option value=\"" + k + "\"" + (k == kind ? " selected" : "") + ">" + Tr(title) +
              "</option>";
    }
    body += "</select></label> <label>" + Tr("Year") +
            " <input name=\"year\" inputmode=\"numeric\" size=\"4\" value=\"" +
            std::to_string(year) + "\"></label> <button type=\"submit\">" + Tr("Show") +
            "</button></form>";
    if (kind == "sdg16") {
      // The population table is posted with the year; the answer's CSV is posted again.
      auto form = [&](const std::string& format, const char* button) {
        return "<form method=\"post\" action=\"/reports\"><input type=\"hidden\" name=\"csrf\" "
               "value=\"" + Csrf(me->token) + "\"><input type=\"hidden\" name=\"kind\" "
               "value=\"sdg16\"><input type=\"hidden\" name=\"format\" value=\"" + format +
               "\"><label>" + Tr("Year") + " <input name=\"year\" inputmode=\"numeric\" size=\"4\" "
               "value=\"" + std::to_string(year) + "\"></label><label>" +
               Tr("Population (CSV lines: sex,age_group,population)") +
               " <textarea name=\"population\" rows=\"5\" cols=\"40\" required dir=\"ltr\">" +
               Esc(population) + "</textarea></label><button>" + Tr(button) + "</button></form>";
      };
      body += form("text", "Show");
      if (!population.empty() && error.empty()) body += form("csv", "Download as CSV");
    }
    if (!error.empty()) {
      body += "<p class=\"error\" role=\"alert\">" + Esc(error) + "</p>";
    } else if (!ask_population) {
      if (kind != "sdg16") {
        body += "<p><a href=\"/reports.csv?kind=" + kind + "&amp;year=" + std::to_string(year) +
                "\">" + Tr("Download as CSV") + "</a></p>";
      }
      body += "<pre id=\"state-report\" dir=\"ltr\">" + Esc(text) + "</pre>";
    }
    Send(res, error.empty() ? 200 : 400, Page("The state's reports", body, &*me));
  }

  std::map<std::string, std::vector<std::vector<std::string>>> ReportRows(
      const google::protobuf::Struct& rep) {
    std::map<std::string, std::vector<std::vector<std::string>>> out;
    auto svc = [](const std::string& s) {
      const auto* v = v1::ServiceType_descriptor()->FindValueByName("SERVICE_TYPE_" + s);
      return v == nullptr ? s : Label(v1::ServiceType_descriptor(), v->number());
    };
    auto st = [](const std::string& s) {
      const auto* v = v1::ReferralStatus_descriptor()->FindValueByName("REFERRAL_STATUS_" + s);
      return v == nullptr ? s : StatusWord(v->number());
    };
    for (const auto* r : L(rep, "by_agency_service")) {
      out["referrals"].push_back({AgencyName(S(*r, "agency")), svc(S(*r, "service")),
                                  S(*r, "pending"), S(*r, "overdue"), S(*r, "active"),
                                  S(*r, "completed"), S(*r, "rejected"), S(*r, "expired")});
    }
    for (const auto* r : L(rep, "unplaced")) {
      out["unplaced"].push_back({S(*r, "reference").empty() ? S(*r, "case_id") : S(*r, "reference"),
                                 svc(S(*r, "service")), st(S(*r, "last_status")),
                                 AgencyName(S(*r, "last_agency"))});
    }
    for (const auto* r : L(rep, "escalations")) {
      out["escalations"].push_back(
          {S(*r, "reference").empty() ? S(*r, "case_id") : S(*r, "reference"),
           svc(S(*r, "service")), AgencyName(S(*r, "from")), AgencyName(S(*r, "to")),
           st(S(*r, "status"))});
    }
    for (const auto* r : L(rep, "months")) {
      const int64_t med = N(*r, "median_ms_to_acceptance");
      char hours[32] = "";
      if (r->fields().count("median_ms_to_acceptance") &&
          r->fields().at("median_ms_to_acceptance").has_number_value()) {
        std::snprintf(hours, sizeof(hours), "%.1f", static_cast<double>(med) / 3'600'000.0);
      }
      out["months"].push_back({S(*r, "month"), S(*r, "sent"), S(*r, "accepted"),
                               S(*r, "rejected"), hours});
    }
    return out;
  }

  static std::string CsvField(const std::string& v) {
    // Quoted always; a leading = + - @ is prefixed with ' so spreadsheets do not run it.
    std::string out = "\"";
    if (!v.empty() && std::string("=+-@\t\r").find(v[0]) != std::string::npos) out += "'";
    for (char c : v) {
      out += c;
      if (c == '"') out += '"';
    }
    return out + "\"";
  }

  void DashboardCsv(const httplib::Request& req, httplib::Response& res, const std::string& id) {
    auto me = Require(req, res);
    if (!me) return;
    std::vector<std::string> head;
    std::vector<std::vector<std::string>> rows;
    v1::ControlResponse raw;
    const StatsTableSpec* spec = nullptr;
    for (const auto& s : StatsTables()) {
      if (s.id == id) spec = &s;
    }
    if (spec != nullptr) {
      auto stats = StatsOf(*me, spec->by, &raw);
      if (!stats.ok()) {
        if (raw.code() != v1::CONTROL_CODE_OK) Failure(res, raw, *me);
        else Send(res, 503, Page("Dashboard", "<p class=\"error\">" + Esc(stats.status().message()) + "</p>", &*me));
        return;
      }
      auto table = stats->fields().find("table");
      if (table == stats->fields().end()) {
        Send(res, 500, Page("Error", "<p class=\"error\">" + Tr("The workspace failed to answer; nothing was changed. See the node's log.") + "</p>", &*me));
        return;
      }
      const auto& ts = table->second.struct_value();
      head.assign(spec->by.begin(), spec->by.end());
      head.push_back("count");
      rows = StatsRows(ts, N(ts, "k"));
      // The total, as on the dashboard (a table of fewer than k cases lists nothing else).
      if (auto total = ts.fields().find("total"); total != ts.fields().end()) {
        std::vector<std::string> tr(spec->by.size(), "");
        tr[0] = "total";
        const std::string mark = StatsMark(total->second.struct_value(), N(ts, "k"));
        tr.push_back(!mark.empty() ? mark
                                   : std::to_string(N(total->second.struct_value(), "count")));
        rows.push_back(tr);
      }
    } else {
      v1::ControlRequest rq;
      rq.mutable_report();
      auto report = CallStruct(rq, *me, &raw);
      if (!report.ok()) {
        if (raw.code() != v1::CONTROL_CODE_OK) Failure(res, raw, *me);
        else Send(res, 503, Page("Dashboard", "<p class=\"error\">" + Esc(report.status().message()) + "</p>", &*me));
        return;
      }
      static const std::map<std::string, std::vector<std::string>> kHeads = {
          {"referrals", {"agency", "service", "pending", "overdue", "active", "completed",
                         "rejected", "expired"}},
          {"unplaced", {"case", "service", "last_status", "last_agency"}},
          {"escalations", {"case", "service", "from", "to", "status"}},
          {"months", {"month", "sent", "accepted", "rejected", "median_hours_to_acceptance"}}};
      auto it = kHeads.find(id);
      if (it == kHeads.end()) {
        Send(res, 404, Page("Not found", "<p>" + Tr("There is no such page.") + "</p>", &*me));
        return;
      }
      head = it->second;
      rows = ReportRows(*report)[id];
    }
    std::string csv = "\xEF\xBB\xBF";  // UTF-8 byte-order mark: spreadsheets then read Urdu right
    for (size_t i = 0; i < head.size(); ++i) csv += (i ? "," : "") + CsvField(head[i]);
    csv += "\r\n";
    for (const auto& r : rows) {
      for (size_t i = 0; i < r.size(); ++i) csv += (i ? "," : "") + CsvField(r[i]);
      csv += "\r\n";
    }
    Headers(res);
    res.status = 200;
    res.set_header("Content-Disposition", "attachment; filename=\"" + id + ".csv\"");
    res.set_content(csv, "text/csv; charset=utf-8");
  }

  // ---- auditor ----
  void Audit(const httplib::Request& req, httplib::Response& res) {
    auto me = Require(req, res);
    if (!me) return;
    v1::ControlRequest hq;
    hq.mutable_tree_head();
    v1::ControlResponse raw;
    auto head = CallStruct(hq, *me, &raw);
    if (!head.ok() && raw.code() == v1::CONTROL_CODE_FORBIDDEN) {
      Failure(res, raw, *me);
      return;
    }
    std::string body = "<section><h2>" + Tr("Latest signed tree head") + "</h2>";
    if (head.ok()) {
      body += "<table><tr><th>" + Tr("Log size") + "</th><td>" + Esc(S(*head, "tree_size")) +
              "</td></tr><tr><th>" + Tr("Signed at") + "</th><td>" +
              When(N(*head, "timestamp_ms")) + "</td></tr><tr><th>" + Tr("Root hash") +
              "</th><td><code>" + Esc(S(*head, "root_hash")) + "</code></td></tr><tr><th>" +
              Tr("Log key") + "</th><td><code>" + Esc(S(*head, "log_public_key")) +
              "</code></td></tr></table>";
    } else {
      body += "<p>" + Esc(head.status().message()) + "</p>";
    }
    body += "</section><section><h2>" + Tr("Last check of the log") + "</h2>";
    {
      std::lock_guard<std::mutex> lock(check_mu_);
      if (last_check_ms_ == 0) {
        body += "<p>" + Tr("Not checked since this node started.") + "</p>";
      } else {
        body += "<p class=\"" + std::string(last_check_ok_ ? "ok" : "error") + "\">" +
                When(last_check_ms_) + ": " + Esc(last_check_result_) + "</p>";
      }
    }
    body += "<form method=\"post\" action=\"/audit/check\"><input type=\"hidden\" name=\"csrf\" "
            "value=\"" +
            Csrf(me->token) + "\"><button>" + Tr("Check now") + "</button></form></section>";
    // A case's access log: the access records of its journey (this read is itself recorded).
    const std::string asked = req.get_param_value("case");
    body += "<section><h2>" + Tr("Who read a case") +
            "</h2><form method=\"get\" action=\"/audit\"><label>" + Tr("Case reference") +
            " <input name=\"case\" maxlength=\"40\" value=\"" + Esc(asked) +
            "\" placeholder=\"FIAKHI-26-00123-7\"></label><button>" + Tr("Show") +
            "</button></form>";
    if (!asked.empty() && !IsUuid(asked) && !core::LooksLikeCaseReference(asked)) {
      body += "<p class=\"error\"><b>case</b>: " +
              Tr("give a case reference (e.g. FIAKHI-26-00123-7) or a case id, nothing else") +
              "</p>";
    } else if (!asked.empty()) {
      v1::ControlRequest jq;
      jq.mutable_journey()->set_case_id(asked);
      v1::ControlResponse jraw;
      auto journey = CallStruct(jq, *me, &jraw);
      if (!journey.ok()) {
        body += "<p class=\"error\">" +
                (jraw.field().empty() ? "" : "<b>" + Esc(jraw.field()) + "</b>: ") +
                Esc(journey.status().message()) + "</p>";
      } else {
        body += "<table><thead><tr><th>" + Tr("When") + "</th><th>" + Tr("What") +
                "</th></tr></thead><tbody>";
        int n = 0;
        for (const auto* e : L(*journey, "entries")) {
          if (S(*e, "event") != "record_accessed") continue;
          ++n;
          body += "<tr><td>" + When(N(*e, "at_ms")) + "</td><td><bdi>" + Esc(S(*e, "text")) +
                  "</bdi></td></tr>";
        }
        body += "</tbody></table><p>" + Fmt("{0} access record(s)", {std::to_string(n)}) + "</p>";
      }
    }
    body += "<p>" + Tr("From a copy of the log, offline:") +
            "</p><pre>passagectl audit access CASE_ID --log LOG_DIR</pre><h2>" +
            Tr("Proving one entry") + "</h2><p>" +
            Tr("An inclusion proof shows one event is in the signed log; verify it anywhere with passage-verify-proof:") +
            "</p><pre>passagectl --json audit proof GLOBAL_SEQ &gt; proof.json\n"
            "passage-verify-proof proof.json</pre><p>" +
            Tr("A saved head can be checked against the log at any later time:") +
            "</p><pre>passagectl --json audit heads &gt; head.json\n"
            "passagectl audit consistency --sth head.json</pre></section>";
    Send(res, 200, Page("Audit", body, &*me));
  }

  // Checks that the broker's log still extends the last head this node saved: the head's
  // signature, the broker's current head's signature by the same key, and the RFC 6962
  // consistency proof between them.
  void AuditCheck(const httplib::Request& req, httplib::Response& res) {
    auto me = RequirePost(req, res);
    if (!me) return;
    v1::ControlRequest hq;
    hq.set_json(true);
    hq.mutable_tree_head();
    auto hr = Call(hq, me->token);
    std::string result;
    bool ok = false;
    v1::SignedTreeHead saved;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    if (!hr.ok() || hr->code() != v1::CONTROL_CODE_OK ||
        !google::protobuf::util::JsonStringToMessage(hr->json(), &saved, o).ok()) {
      // Only "no head yet" is a result of the check; a node that did not answer, or an ended
      // session, says nothing about the log and is not recorded as the last check.
      if (!hr.ok()) {
        Send(res, 503, Page("Node unavailable",
                            "<p class=\"error\">" + Esc(hr.status().message()) + "</p>", &*me));
        return;
      }
      if (hr->code() != v1::CONTROL_CODE_OK && hr->code() != v1::CONTROL_CODE_NOT_FOUND) {
        Failure(res, *hr, *me);
        return;
      }
      result = TrText("no signed tree head saved yet");
    } else {
      v1::ControlRequest cq;
      cq.set_json(true);
      cq.mutable_consistency()->set_first_size(saved.tree_size());
      auto cr = Call(cq, me->token);
      v1::Proof proof;
      if (!cr.ok() || cr->code() != v1::CONTROL_CODE_OK ||
          !google::protobuf::util::JsonStringToMessage(cr->json(), &proof, o).ok()) {
        result = TrText("the broker did not give a consistency proof: ") +
                 (cr.ok() ? cr->reason() : cr.status().message());
      } else {
        result = CheckConsistency(saved, proof, &ok);
      }
    }
    {
      std::lock_guard<std::mutex> lock(check_mu_);
      last_check_ms_ = NowMs();
      last_check_ok_ = ok;
      last_check_result_ = result;
    }
    Redirect(res, "/audit");
  }

  static std::string CheckConsistency(const v1::SignedTreeHead& saved, const v1::Proof& proof,
                                      bool* ok) {
    *ok = false;
    auto head_of = [](const v1::SignedTreeHead& h) {
      merkle::TreeHead t;
      t.tree_size = h.tree_size();
      t.timestamp_ms = h.timestamp_ms();
      if (h.root_hash().size() == t.root.size()) {
        std::copy(h.root_hash().begin(), h.root_hash().end(), t.root.begin());
      }
      return t;
    };
    const v1::SignedTreeHead& now = proof.tree_head();
    if (Status s = merkle::VerifyTreeHead(head_of(saved), saved.signature(),
                                          saved.log_public_key());
        !s.ok()) {
      return TrText("the saved head's signature does not verify: ") + s.message();
    }
    if (now.log_public_key() != saved.log_public_key()) {
      return TrText("the broker now signs with another key");
    }
    if (Status s = merkle::VerifyTreeHead(head_of(now), now.signature(), now.log_public_key());
        !s.ok()) {
      return TrText("the broker's current head's signature does not verify: ") + s.message();
    }
    std::vector<merkle::Hash> hashes;
    for (const auto& h : proof.hashes()) {
      merkle::Hash x{};
      if (h.size() != x.size()) return TrText("the proof holds a hash that is not 32 bytes");
      std::copy(h.begin(), h.end(), x.begin());
      hashes.push_back(x);
    }
    if (Status s = merkle::VerifyConsistency(saved.tree_size(), now.tree_size(),
                                             head_of(saved).root, head_of(now).root, hashes);
        !s.ok()) {
      return TrText("NOT CONSISTENT: the log no longer extends what this node saw: ") +
             s.message();
    }
    *ok = true;
    const std::string a = std::to_string(now.tree_size()), b = std::to_string(saved.tree_size());
    return Tx() != nullptr
               ? Tx()->Format(tl_lang,
                              "consistent: the log of {0} entries extends the head of {1} this "
                              "node saved",
                              {a, b})
               : "consistent: the log of " + a + " entries extends the head of " + b +
                     " this node saved";
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
                "<p class=\"error\"><b>action</b>: " + Tr("choose one of the listed actions") + "</p>",
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
                "<p class=\"error\"><b>reason</b>: " + Tr("not a reason this workspace offers") + "</p>",
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

  // Notes and documents (docs/notes-and-documents.md): the list for whoever sees the case, the
  // forms for those who work it. Nodes of agencies that do not hold the notes never receive them.
  std::string NotesSection(const v1::CaseState& c, const Me& me, const std::string& csrf) {
    const std::string action = "/cases/" + Esc(c.case_id());
    const std::string hidden = "<input type=\"hidden\" name=\"csrf\" value=\"" + csrf + "\">";
    std::string body = "<section id=\"notes\"><h2>" + Tr("Notes and documents") + "</h2>";
    if (c.notes_size() + c.documents_size() > 0) {
      body += "<table><thead><tr><th>" + Tr("What") + "</th><th>" + Tr("Written by") +
              "</th><th>" + Tr("When") + "</th><th></th></tr></thead><tbody>";
      for (const auto& n : c.notes()) {
        body += "<tr><td>" + Tr("Note") + "</td><td><bdi>" + Esc(AgencyName(n.written_by())) +
                "</bdi></td><td>" + When(n.at_ms()) + "</td><td></td></tr>";
      }
      for (const auto& d : c.documents()) {
        std::string open;
        if (me.Answers()) {
          open = "<form method=\"post\" action=\"" + action + "/documents/" +
                 Esc(d.document_id()) + "\">" + hidden + "<label>" +
                 Tr("Purpose (recorded in the access log)") +
                 " <input name=\"purpose\" required maxlength=\"200\"></label><button>" +
                 Tr("Download") + "</button></form>";
        }
        body += "<tr><td>" + Esc(Label(v1::DocumentKind_descriptor(), d.kind())) + " (" +
                Esc(d.media_type()) + ", " + std::to_string((d.size_bytes() + 1023) / 1024) +
                " KiB)</td><td><bdi>" + Esc(AgencyName(d.written_by())) + "</bdi></td><td>" +
                When(d.at_ms()) + "</td><td>" + open + "</td></tr>";
      }
      body += "</tbody></table>";
    } else {
      body += "<p>" + Tr("No notes or documents your agency can read.") + "</p>";
    }
    if (!me.Answers()) {
      return body + "</section>";
    }
    if (c.notes_size() > 0 || c.documents_size() > 0) {
      body += "<form method=\"post\" action=\"" + action + "/notes/open\">" + hidden +
              "<label>" + Tr("Purpose (recorded in the access log)") +
              " <input name=\"purpose\" required maxlength=\"200\"></label><button>" +
              Tr("Read the notes") + "</button></form>";
    }
    body += "<form method=\"post\" action=\"" + action + "/notes\">" + hidden + "<label>" +
            Tr("New note (sealed: only agencies that hold the case's notes can read it)") +
            " <textarea name=\"text\" required maxlength=\"20000\" rows=\"4\"></textarea></label>"
            "<button>" + Tr("Save the note") + "</button></form>";
    body += "<form method=\"post\" action=\"" + action +
            "/documents\" enctype=\"multipart/form-data\">" + hidden + "<label>" +
            Tr("Document (PDF, JPEG or PNG, up to 10 MiB)") +
            " <input type=\"file\" name=\"file\" required "
            "accept=\"application/pdf,image/jpeg,image/png\"></label><label>" +
            Tr("Kind") + " <select name=\"kind\">";
    for (int i = 1; i < v1::DocumentKind_descriptor()->value_count(); ++i) {
      const auto* v = v1::DocumentKind_descriptor()->value(i);
      body += "<option value=\"" + v->name() + "\">" +
              Esc(Label(v1::DocumentKind_descriptor(), v->number())) + "</option>";
    }
    body += "</select></label><label>" + Tr("Title") +
            " <input name=\"title\" maxlength=\"200\"></label><button>" +
            Tr("Attach the document") + "</button></form>";
    return body + "</section>";
  }

  // Answers a note or document command: the error page, or nullopt when it succeeded.
  std::optional<v1::ControlResponse> CallNotes(const v1::ControlRequest& q, const Me& me,
                                               httplib::Response& res, const char* title) {
    auto r = Call(q, me.token);
    if (!r.ok()) {
      Send(res, 503, Page(title, "<p class=\"error\">" + Esc(r.status().message()) + "</p>", &me));
      return std::nullopt;
    }
    if (r->code() != v1::CONTROL_CODE_OK) {
      Failure(res, *r, me);
      return std::nullopt;
    }
    return *r;
  }

  void NoteAdd(const httplib::Request& req, httplib::Response& res, const std::string& case_id) {
    auto me = RequirePost(req, res);
    if (!me) return;
    v1::ControlRequest q;
    q.set_json(true);
    q.mutable_note()->set_case_id(case_id);
    q.mutable_note()->mutable_add()->set_text(req.get_param_value("text"));
    if (CallNotes(q, *me, res, "Not done")) {
      Redirect(res, "/cases/" + case_id + "#notes");
    }
  }

  void NotesOpen(const httplib::Request& req, httplib::Response& res, const std::string& case_id) {
    auto me = RequirePost(req, res);
    if (!me) return;
    v1::ControlRequest q;
    q.set_json(true);
    q.mutable_note()->set_case_id(case_id);
    q.mutable_note()->mutable_open()->set_purpose(req.get_param_value("purpose"));
    auto r = CallNotes(q, *me, res, "Not opened");
    if (!r) return;
    google::protobuf::Struct opened;
    (void)google::protobuf::util::JsonStringToMessage(r->json(), &opened);
    std::string body = "<p class=\"ok\">" +
                       Tr("This opening was recorded in the NRM's access log.") + "</p>";
    const auto& f = opened.fields();
    if (auto it = f.find("notes"); it != f.end()) {
      for (const auto& v : it->second.list_value().values()) {
        const auto& n = v.struct_value().fields();
        auto str = [&](const char* k) {
          auto x = n.find(k);
          return x == n.end() ? std::string() : x->second.string_value();
        };
        body += "<article class=\"note\"><p class=\"meta\"><bdi>" +
                Esc(AgencyName(str("written_by"))) + "</bdi> · " + Esc(str("at")) +
                "</p><p class=\"text\"><bdi>" + Esc(str("text")) + "</bdi></p></article>";
      }
    }
    if (auto it = f.find("documents"); it != f.end() && it->second.list_value().values_size() > 0) {
      body += "<h2>" + Tr("Documents") + "</h2><ul>";
      for (const auto& v : it->second.list_value().values()) {
        const auto& d = v.struct_value().fields();
        auto str = [&](const char* k) {
          auto x = d.find(k);
          return x == d.end() ? std::string() : x->second.string_value();
        };
        body += "<li><bdi>" + Esc(str("title").empty() ? str("file_name") : str("title")) +
                "</bdi></li>";
      }
      body += "</ul>";
    }
    body += "<p><a href=\"/cases/" + Esc(case_id) + "\">" + Tr("Back to the case") + "</a></p>";
    Send(res, 200, Page("Notes and documents", body, &*me));
  }

  void DocumentAttach(const httplib::Request& req, httplib::Response& res,
                      const std::string& case_id) {
    auto me = RequirePost(req, res);
    if (!me) return;
    v1::ControlRequest q;
    q.set_json(true);
    q.mutable_document()->set_case_id(case_id);
    auto* a = q.mutable_document()->mutable_attach();
    const auto field = [&](const char* k) {
      return req.has_file(k) ? req.get_file_value(k).content : std::string();
    };
    v1::DocumentKind kind = v1::DOCUMENT_KIND_UNSPECIFIED;
    (void)v1::DocumentKind_Parse(field("kind"), &kind);
    a->set_kind(kind);
    a->set_title(field("title"));
    if (req.has_file("file")) {
      const auto& file = req.get_file_value("file");
      a->set_file_name(file.filename);
      a->set_content(file.content);
    }
    if (CallNotes(q, *me, res, "Not done")) {
      Redirect(res, "/cases/" + case_id + "#notes");
    }
  }

  void DocumentOpen(const httplib::Request& req, httplib::Response& res,
                    const std::string& case_id, const std::string& document_id) {
    auto me = RequirePost(req, res);
    if (!me) return;
    v1::ControlRequest q;
    q.mutable_document()->set_case_id(case_id);
    q.mutable_document()->mutable_open()->set_document_id(document_id);
    q.mutable_document()->mutable_open()->set_purpose(req.get_param_value("purpose"));
    auto r = CallNotes(q, *me, res, "Not opened");
    if (!r) return;
    // A download, never shown in the page: the browser keeps it as a file. The name is the
    // sealed one only when it is plain ASCII, otherwise a neutral one.
    std::string name = "document";
    if (r->media_type() == "application/pdf") name += ".pdf";
    else if (r->media_type() == "image/png") name += ".png";
    else name += ".jpg";
    bool plain = !r->file_name().empty() && r->file_name().size() <= 100;
    for (unsigned char ch : r->file_name()) {
      plain = plain && (std::isalnum(ch) || ch == '.' || ch == '-' || ch == '_');
    }
    if (plain) name = r->file_name();
    res.set_header("Content-Disposition", "attachment; filename=\"" + name + "\"");
    res.set_content(r->content(), r->media_type());
  }

  void Personal(const httplib::Request& req, httplib::Response& res, const std::string& case_id) {
    auto me = RequirePost(req, res);
    if (!me) return;
    v1::ControlRequest q;
    q.set_json(true);
    q.mutable_personal()->set_case_id(case_id);
    q.mutable_personal()->set_purpose(req.get_param_value("purpose"));
    if (const std::string suspect = req.get_param_value("suspect"); IsUuid(suspect)) {
      q.mutable_personal()->set_suspect_id(suspect);  // a suspect's identity, not the victim's
    }
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
        "<p class=\"ok\">" + Tr("This opening was recorded in the NRM's access log.") + "</p><table>";
    auto row = [&](const char* label, const std::string& value) {
      if (!value.empty())
        body +=
            "<tr><th>" + Tr(label) + "</th><td><bdi>" + Esc(value) + "</bdi></td></tr>";
    };
    row("Given name", pd.given_name());
    row("Family name", pd.family_name());
    {
      std::string others;
      for (const auto& o : pd.other_names()) others += (others.empty() ? "" : ", ") + o;
      row("Other names", others);
    }
    row("Date of birth", pd.date_of_birth());
    row("CNIC", pd.cnic());
    row("Passport", pd.passport_number());
    row("Phone", pd.phone());
    row("Address", pd.address());
    row("Narrative", pd.narrative());
    body += "</table><p><a href=\"/cases/" + Esc(case_id) + "\">" + Tr("Back to the case") + "</a></p>";
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
  std::map<std::string, std::string> agency_names_;  // id -> registered name
  std::mutex check_mu_;
  std::mutex once_mu_;
  std::map<std::string, std::string> once_;  // GUARDED_BY(once_mu_): intake form -> case id
  std::deque<std::string> once_order_;       // GUARDED_BY(once_mu_): oldest first, at most 4096
  int64_t last_check_ms_ = 0;       // GUARDED_BY(check_mu_)
  bool last_check_ok_ = false;      // GUARDED_BY(check_mu_)
  std::string last_check_result_;   // GUARDED_BY(check_mu_)
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
