#include "services/web/api_server.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "core/codes.h"
#include "core/strict_json.h"
#include "passage/v1/control.pb.h"
#include "services/ctl/control_client.h"

namespace passage::web {
namespace {

namespace v1 = passage::v1;

constexpr int kCallTimeoutMs = 20000;
constexpr uint32_t kDefaultPageSize = 50;
constexpr uint32_t kMaxPageSize = 500;

// The referral moves of POST /api/v1/referrals/{id}/{action}, as passagectl referral names them
// (resume is left out: it needs the state the referral was held from).
const std::map<std::string, v1::ReferralStatus>& Moves() {
  static const std::map<std::string, v1::ReferralStatus> kMoves = {
      {"receive", v1::REFERRAL_STATUS_RECEIVED},
      {"accept", v1::REFERRAL_STATUS_ACCEPTED},
      {"reject", v1::REFERRAL_STATUS_REJECTED},
      {"start", v1::REFERRAL_STATUS_IN_PROGRESS},
      {"hold", v1::REFERRAL_STATUS_ON_HOLD},
      {"complete", v1::REFERRAL_STATUS_COMPLETED},
      {"fail", v1::REFERRAL_STATUS_FAILED},
      {"cancel", v1::REFERRAL_STATUS_CANCELLED},
      {"request-cancel", v1::REFERRAL_STATUS_CANCEL_REQUESTED},
  };
  return kMoves;
}

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

void Send(httplib::Response& res, int status, const std::string& json) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content(json, "application/json");
}

// An enum value by its full name ("REFERRAL_STATUS_RECEIVED") or its short one ("RECEIVED",
// "received"); -1 when neither.
int EnumValue(const google::protobuf::EnumDescriptor* type, std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) {
    return c == '-' ? '_' : static_cast<char>(std::toupper(c));
  });
  if (const auto* v = type->FindValueByName(text); v != nullptr && v->number() != 0) {
    return v->number();
  }
  const std::string unspecified = type->value(0)->name();  // "REFERRAL_STATUS_UNSPECIFIED"
  const std::string type_prefix = unspecified.substr(0, unspecified.rfind("UNSPECIFIED"));
  if (const auto* v = type->FindValueByName(type_prefix + text); v != nullptr && v->number() != 0) {
    return v->number();
  }
  return -1;
}

std::string Choices(const google::protobuf::EnumDescriptor* type) {
  std::string out;
  for (int i = 1; i < type->value_count(); ++i) {
    out += (out.empty() ? "" : ", ") + core::ShortEnumName(type, type->value(i)->number());
  }
  return out;
}

// A non-negative whole number from the query, or an error naming `name`.
bool QueryNumber(const httplib::Request& req, const char* name, uint64_t min, uint64_t max,
                 uint64_t* out, httplib::Response& res) {
  if (!req.has_param(name)) {
    return true;
  }
  const std::string v = req.get_param_value(name);
  bool ok = !v.empty() && v.size() <= 19 &&
            std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (ok) {
    *out = std::stoull(v);
    ok = *out >= min && *out <= max;
  }
  if (!ok) {
    ApiServer::Error(res, 400, "invalid", name,
                     "must be a whole number from " + std::to_string(min) + " to " +
                         std::to_string(max));
  }
  return ok;
}

// The body as a JSON object of known keys (each given once), or an error naming the field.
bool BodyObject(const httplib::Request& req, const std::vector<std::string>& allowed,
                google::protobuf::Struct* out, httplib::Response& res) {
  std::string text = req.body;
  if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); })) {
    text = "{}";
  }
  if (Status s = core::CheckStrictJson(text, nullptr); !s.ok()) {
    ApiServer::Error(res, 400, "invalid", s.field().empty() ? "body" : s.field(), s.message());
    return false;
  }
  if (text.find_first_not_of(" \t\r\n") == std::string::npos || text[text.find_first_not_of(" \t\r\n")] != '{' ||
      !google::protobuf::util::JsonStringToMessage(text, out).ok()) {
    ApiServer::Error(res, 400, "invalid", "body", "must be a JSON object");
    return false;
  }
  for (const auto& [k, v] : out->fields()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      ApiServer::Error(res, 400, "invalid", k, "is not a field of this request");
      return false;
    }
    if (!v.has_string_value()) {
      ApiServer::Error(res, 400, "invalid", k, "must be a string");
      return false;
    }
  }
  return true;
}

std::string Str(const google::protobuf::Struct& s, const std::string& k) {
  auto it = s.fields().find(k);
  return it == s.fields().end() ? "" : it->second.string_value();
}

class Routes {
 public:
  explicit Routes(ApiOptions options) : options_(std::move(options)) {}

  // The bearer key of `req`, or an error sent.
  std::optional<std::string> Key(const httplib::Request& req, httplib::Response& res) {
    const std::string h = req.get_header_value("Authorization");
    if (h.size() > 7 && (h.compare(0, 7, "Bearer ") == 0 || h.compare(0, 7, "bearer ") == 0)) {
      std::string key = h.substr(7);
      while (!key.empty() && key.front() == ' ') key.erase(key.begin());
      if (!key.empty()) {
        return key;
      }
    }
    res.set_header("WWW-Authenticate", "Bearer realm=\"passage\"");
    ApiServer::Error(res, 401, "unauthenticated", "Authorization",
                     "send the system's API key as 'Authorization: Bearer <key>' (the API takes "
                     "no cookies; a node admin makes keys with passagectl apikey create)");
    return std::nullopt;
  }

  // Sends `q` with the caller's key; on success returns the node's answer, otherwise sends the
  // error and returns nullopt.
  std::optional<v1::ControlResponse> Call(v1::ControlRequest q, const std::string& key,
                                          httplib::Response& res) {
    q.set_api_key(key);
    q.set_json(true);
    auto r = ctl::CallNode(options_.control_endpoint, q, kCallTimeoutMs);
    if (!r.ok()) {
      res.set_header("Retry-After", "5");
      ApiServer::Error(res, 503, "unavailable", "",
                       "the node did not answer in time; nothing was recorded, try again");
      return std::nullopt;
    }
    switch (r->code()) {
      case v1::CONTROL_CODE_OK:
        return *r;
      case v1::CONTROL_CODE_INVALID:
        ApiServer::Error(res, 400, "invalid", r->field(), r->reason());
        break;
      case v1::CONTROL_CODE_UNAUTHENTICATED:
        res.set_header("WWW-Authenticate", "Bearer realm=\"passage\", error=\"invalid_token\"");
        ApiServer::Error(res, 401, "unauthenticated", r->field(), r->reason());
        break;
      case v1::CONTROL_CODE_FORBIDDEN:
        ApiServer::Error(res, 403, "forbidden", r->field(), r->reason());
        break;
      case v1::CONTROL_CODE_NOT_FOUND:
        ApiServer::Error(res, 404, "not_found", r->field(), r->reason());
        break;
      case v1::CONTROL_CODE_REFUSED:
        ApiServer::Error(res, 409, "conflict", r->field(), r->reason());
        break;
      case v1::CONTROL_CODE_UNAVAILABLE:
        if (r->field() == "rate_limit") {
          google::protobuf::Struct j;
          std::string retry = "60";
          if (google::protobuf::util::JsonStringToMessage(r->json(), &j).ok() &&
              j.fields().count("retry_after_s") != 0) {
            retry = std::to_string(
                static_cast<int64_t>(j.fields().at("retry_after_s").number_value()));
          }
          res.set_header("Retry-After", retry);
          ApiServer::Error(res, 429, "rate_limited", r->field(), r->reason());
        } else {
          res.set_header("Retry-After", "5");
          ApiServer::Error(res, 503, "unavailable", r->field(), r->reason());
        }
        break;
      default:
        ApiServer::Error(res, 500, "internal", r->field(), r->reason());
        break;
    }
    return std::nullopt;
  }

  void CreateCase(const httplib::Request& req, httplib::Response& res) {
    auto key = Key(req, res);
    if (!key) return;
    v1::ControlRequest q;
    v1::IntakeRequest* in = q.mutable_intake();
    if (Status s = core::CheckStrictJson(req.body, v1::IntakeRequest::descriptor()); !s.ok()) {
      ApiServer::Error(res, 400, "invalid", s.field().empty() ? "body" : s.field(), s.message());
      return;
    }
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = false;
    if (auto st = google::protobuf::util::JsonStringToMessage(req.body, in, opts); !st.ok()) {
      std::string m(st.message().data(), st.message().size());
      // libprotobuf names the field: "(profile.sex): invalid value ...", "(profile) colour:
      // Cannot find field.", "colour: Cannot find field.".
      std::string field = "body";
      constexpr std::string_view kUnknown = ": Cannot find field";
      std::string rest = m;
      if (!m.empty() && m[0] == '(' && m.find(')') != std::string::npos) {
        field = m.substr(1, m.find(')') - 1);
        rest = m.substr(m.find(')') + 1);
        if (rest.rfind(": ", 0) == 0) {
          m = rest.substr(2);
        }
        rest = rest.rfind(' ', 0) == 0 ? rest.substr(1) : std::string();
      } else {
        field.clear();
      }
      if (const size_t u = rest.find(kUnknown); u != std::string::npos) {
        field = (field.empty() ? "" : field + ".") + rest.substr(0, u);
        m = "there is no such field";
      } else if (field.empty()) {
        field = "body";
      }
      ApiServer::Error(res, 400, "invalid", field,
                       "not a valid passage.v1.IntakeRequest in JSON: " + m);
      return;
    }
    // As passagectl intake: a smuggled migrant for smuggling only, else a presumed victim.
    if (in->person_role() == v1::PERSON_ROLE_UNSPECIFIED) {
      in->set_person_role(in->crime_type() == v1::CRIME_TYPE_SOM ? v1::PERSON_ROLE_SMUGGLED_MIGRANT
                                                                 : v1::PERSON_ROLE_PRESUMED_VICTIM);
    }
    auto r = Call(std::move(q), *key, res);
    if (!r) return;
    Send(res, 201, r->json());
  }

  void ListReferrals(const httplib::Request& req, httplib::Response& res) {
    auto key = Key(req, res);
    if (!key) return;
    v1::ControlRequest q;
    v1::InboxRequest* in = q.mutable_inbox();
    uint64_t page = 0, size = kDefaultPageSize;
    if (!QueryNumber(req, "page", 0, UINT32_MAX, &page, res) ||
        !QueryNumber(req, "page_size", 1, kMaxPageSize, &size, res)) {
      return;
    }
    in->set_page(static_cast<uint32_t>(page));
    in->set_page_size(static_cast<uint32_t>(size));
    if (req.has_param("include_closed")) {
      const std::string v = req.get_param_value("include_closed");
      if (v != "true" && v != "false") {
        ApiServer::Error(res, 400, "invalid", "include_closed", "must be true or false");
        return;
      }
      in->set_include_closed(v == "true");
    }
    for (size_t i = 0; i < req.get_param_value_count("status"); ++i) {
      const int v = EnumValue(v1::ReferralStatus_descriptor(), req.get_param_value("status", i));
      if (v < 0) {
        ApiServer::Error(res, 400, "invalid", "status",
                         "'" + req.get_param_value("status", i) + "' is not one of: " +
                             Choices(v1::ReferralStatus_descriptor()));
        return;
      }
      in->add_status_in(static_cast<v1::ReferralStatus>(v));
      if (v > v1::REFERRAL_STATUS_ON_HOLD && v != v1::REFERRAL_STATUS_CANCEL_REQUESTED) {
        in->set_include_closed(true);  // asking for a terminal status means showing them
      }
    }
    auto r = Call(std::move(q), *key, res);
    if (!r) return;
    // Every count, zeros included (protobuf JSON would leave them out).
    v1::InboxPage p;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(r->json(), &p, o).ok()) {
      ApiServer::Error(res, 500, "internal", "", "the node's inbox answer could not be read");
      return;
    }
    std::string out = "{\"total\":" + std::to_string(p.total()) +
                      ",\"page\":" + std::to_string(p.page()) +
                      ",\"page_size\":" + std::to_string(p.page_size()) +
                      ",\"to_answer\":" + std::to_string(p.to_answer()) +
                      ",\"due_within_day\":" + std::to_string(p.due_within_day()) +
                      ",\"overdue\":" + std::to_string(p.overdue()) + ",\"referrals\":[";
    for (int i = 0; i < p.referrals_size(); ++i) {
      out += (i == 0 ? "" : ",") + Json(p.referrals(i));
    }
    Send(res, 200, out + "]}");
  }

  void GetCase(const httplib::Request& req, httplib::Response& res, const std::string& id) {
    auto key = Key(req, res);
    if (!key) return;
    v1::ControlRequest q;
    q.mutable_cases()->set_case_id(id);
    auto r = Call(std::move(q), *key, res);
    if (!r) return;
    v1::CaseList list;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    // The node answers `cases` with a JSON array of CaseState.
    if (!google::protobuf::util::JsonStringToMessage("{\"cases\":" + r->json() + "}", &list, o)
             .ok() ||
        list.cases().empty()) {
      ApiServer::Error(res, 404, "not_found", "case_id", "no case " + id + " is known to this node");
      return;
    }
    Send(res, 200, Json(list.cases(0)));
  }

  void GetJourney(const httplib::Request& req, httplib::Response& res, const std::string& id) {
    auto key = Key(req, res);
    if (!key) return;
    v1::ControlRequest q;
    q.mutable_journey()->set_case_id(id);
    auto r = Call(std::move(q), *key, res);
    if (!r) return;
    Send(res, 200, r->json());
  }

  void OpenPersonal(const httplib::Request& req, httplib::Response& res, const std::string& id) {
    auto key = Key(req, res);
    if (!key) return;
    google::protobuf::Struct body;
    if (!BodyObject(req, {"purpose"}, &body, res)) return;
    if (Str(body, "purpose").empty()) {
      ApiServer::Error(res, 400, "invalid", "purpose",
                       "say why the personal data is opened (it is recorded in the access log)");
      return;
    }
    v1::ControlRequest q;
    q.mutable_personal()->set_case_id(id);
    q.mutable_personal()->set_purpose(Str(body, "purpose"));
    auto r = Call(std::move(q), *key, res);
    if (!r) return;
    Send(res, 200, r->json());
  }

  void MoveReferral(const httplib::Request& req, httplib::Response& res, const std::string& id,
                    const std::string& action) {
    auto key = Key(req, res);
    if (!key) return;
    auto move = Moves().find(action);
    if (move == Moves().end()) {
      std::string names;
      for (const auto& [n, _] : Moves()) names += (names.empty() ? "" : ", ") + n;
      ApiServer::Error(res, 404, "not_found", "action",
                       "'" + action + "' is not a referral move; one of: " + names);
      return;
    }
    google::protobuf::Struct body;
    if (!BodyObject(req, {"reason", "note", "outcome"}, &body, res)) return;
    v1::ControlRequest q;
    v1::ReferralActionRequest* a = q.mutable_referral_action();
    a->set_referral_id(id);
    a->set_to(move->second);
    const std::string reason = Str(body, "reason");
    if (move->second == v1::REFERRAL_STATUS_REJECTED) {
      const int v = EnumValue(v1::RejectReason_descriptor(), reason);
      if (v < 0) {
        ApiServer::Error(res, 400, "invalid", "reason",
                         (reason.empty() ? std::string("required to reject a referral")
                                         : "'" + reason + "' is not a reason") +
                             "; one of: " + Choices(v1::RejectReason_descriptor()));
        return;
      }
      a->set_reason(static_cast<v1::RejectReason>(v));
    } else if (!reason.empty()) {
      ApiServer::Error(res, 400, "invalid", "reason",
                       "is for reject only (use note to explain other moves)");
      return;
    }
    const bool needs_outcome = move->second == v1::REFERRAL_STATUS_COMPLETED ||
                               move->second == v1::REFERRAL_STATUS_FAILED;
    const std::string outcome = Str(body, "outcome");
    if (needs_outcome && outcome.find_first_not_of(" \t\r\n") == std::string::npos) {
      ApiServer::Error(res, 400, "invalid", "outcome",
                       "required to " + action + " a referral: say what came of it");
      return;
    }
    if (!needs_outcome && !outcome.empty()) {
      ApiServer::Error(res, 400, "invalid", "outcome", "is for complete and fail only");
      return;
    }
    a->set_outcome(outcome);
    a->set_note(Str(body, "note"));
    auto r = Call(std::move(q), *key, res);
    if (!r) return;
    Send(res, 200, r->json());
  }

  void ListEvents(const httplib::Request& req, httplib::Response& res) {
    auto key = Key(req, res);
    if (!key) return;
    uint64_t after = 0, limit = 100;
    if (!QueryNumber(req, "after", 0, UINT64_MAX / 2, &after, res) ||
        !QueryNumber(req, "limit", 1, 1000, &limit, res)) {
      return;
    }
    v1::ControlRequest q;
    q.mutable_feed()->set_after(after);
    q.mutable_feed()->set_limit(static_cast<uint32_t>(limit));
    auto r = Call(std::move(q), *key, res);
    if (!r) return;
    Send(res, 200, r->json());
  }

 private:
  ApiOptions options_;
};

}  // namespace

bool ApiServer::IsApiPath(const std::string& path) {
  return path == "/api" || path.rfind("/api/", 0) == 0;
}

void ApiServer::Error(httplib::Response& res, int status, const std::string& code,
                      const std::string& field, const std::string& reason) {
  Send(res, status,
       "{\"code\":" + core::JsonQuote(code) + ",\"field\":" + core::JsonQuote(field) +
           ",\"reason\":" + core::JsonQuote(reason) + "}");
}

void ApiServer::RawError(httplib::Response& res, int status) {
  switch (status) {
    case 413:
      Error(res, 413, "too_large", "body",
            "the request body is larger than the API accepts (64 KiB); nothing was recorded");
      break;
    case 404:
      Error(res, 404, "not_found", "path",
            "there is no such API operation (docs/api/openapi.json lists them)");
      break;
    case 405:
      Error(res, 405, "invalid", "method", "this API operation does not take that method");
      break;
    case 500:
      Error(res, 500, "internal", "", "the node failed to answer; nothing was changed");
      break;
    default:
      Error(res, status, "invalid", "", "the request could not be read");
      break;
  }
}

void ApiServer::Register(httplib::Server& server) {
  auto routes = std::make_shared<Routes>(options_);
  server.Post("/api/v1/cases", [routes](const httplib::Request& req, httplib::Response& res) {
    routes->CreateCase(req, res);
  });
  server.Get(R"(/api/v1/cases/([^/]+))", [routes](const httplib::Request& req,
                                                  httplib::Response& res) {
    routes->GetCase(req, res, req.matches[1]);
  });
  server.Get(R"(/api/v1/cases/([^/]+)/journey)",
             [routes](const httplib::Request& req, httplib::Response& res) {
               routes->GetJourney(req, res, req.matches[1]);
             });
  server.Post(R"(/api/v1/cases/([^/]+)/personal)",
              [routes](const httplib::Request& req, httplib::Response& res) {
                routes->OpenPersonal(req, res, req.matches[1]);
              });
  server.Get("/api/v1/referrals", [routes](const httplib::Request& req, httplib::Response& res) {
    routes->ListReferrals(req, res);
  });
  server.Post(R"(/api/v1/referrals/([^/]+)/([a-z-]+))",
              [routes](const httplib::Request& req, httplib::Response& res) {
                routes->MoveReferral(req, res, req.matches[1], req.matches[2]);
              });
  server.Get("/api/v1/events", [routes](const httplib::Request& req, httplib::Response& res) {
    routes->ListEvents(req, res);
  });
}

}  // namespace passage::web
