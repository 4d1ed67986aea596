#include "core/fhir.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <optional>

#include "core/civil_days.h"
#include "core/codes.h"
#include "core/ids.h"
#include "core/strict_json.h"
#include "core/validate.h"

namespace passage::core {
namespace {

namespace v1 = passage::v1;
namespace pb = google::protobuf;

// ---- building -----------------------------------------------------------------------------------

// A JSON value that keeps its keys in the order they were set, so an export is the same bytes
// every time, resourceType first as FHIR writes it.
// J holds vectors of itself. Its special members are defined after the class, where J is
// complete: clang instantiates std::pair<std::string, J>'s destructor at the definition otherwise.
struct J {
  enum Kind { kStr, kObj, kList } kind = kObj;
  std::string str;
  std::vector<std::pair<std::string, J>> fields;
  std::vector<J> items;

  J();
  J(const J&);
  J(J&&) noexcept;
  J& operator=(const J&);
  J& operator=(J&&) noexcept;
  ~J();
};

J::J() = default;
J::J(const J&) = default;
J::J(J&&) noexcept = default;
J& J::operator=(const J&) = default;
J& J::operator=(J&&) noexcept = default;
J::~J() = default;

J Str(std::string_view s) {
  J v;
  v.kind = J::kStr;
  v.str = std::string(s);
  return v;
}

J Obj(J o) { return o; }

J List(std::vector<J> items) {
  J v;
  v.kind = J::kList;
  v.items = std::move(items);
  return v;
}

void Set(J* o, const std::string& key, J v) { o->fields.emplace_back(key, std::move(v)); }

void Write(const J& v, int indent, std::string* out) {
  const std::string pad(static_cast<size_t>(indent) + 2, ' ');
  switch (v.kind) {
    case J::kStr:
      AppendJsonString(out, v.str);
      return;
    case J::kList:
      *out += "[\n";
      for (size_t i = 0; i < v.items.size(); ++i) {
        *out += pad;
        Write(v.items[i], indent + 2, out);
        *out += i + 1 < v.items.size() ? ",\n" : "\n";
      }
      *out += std::string(static_cast<size_t>(indent), ' ') + "]";
      return;
    case J::kObj:
      *out += "{\n";
      for (size_t i = 0; i < v.fields.size(); ++i) {
        *out += pad;
        AppendJsonString(out, v.fields[i].first);
        *out += ": ";
        Write(v.fields[i].second, indent + 2, out);
        *out += i + 1 < v.fields.size() ? ",\n" : "\n";
      }
      *out += std::string(static_cast<size_t>(indent), ' ') + "}";
      return;
  }
}

J Identifier(std::string_view system, std::string_view value) {
  J s;
  Set(&s, "system", Str(system));
  Set(&s, "value", Str(value));
  return Obj(std::move(s));
}

// A logical reference: a resource type and an identifier, no resource behind it.
J LogicalRef(std::string_view type, std::string_view system, std::string_view value) {
  J s;
  Set(&s, "type", Str(type));
  Set(&s, "identifier", Identifier(system, value));
  return Obj(std::move(s));
}

J Concept(std::string_view system, std::string_view code) {
  J coding;
  Set(&coding, "system", Str(system));
  Set(&coding, "code", Str(code));
  J s;
  Set(&s, "coding", List({Obj(std::move(coding))}));
  return Obj(std::move(s));
}

std::string PriorityCode(v1::Priority p) {
  switch (p) {
    case v1::PRIORITY_ROUTINE:
      return "routine";
    case v1::PRIORITY_URGENT:
      return "urgent";
    case v1::PRIORITY_EMERGENCY:
      return "stat";
    default:
      return "";
  }
}

// ---- reading ------------------------------------------------------------------------------------

Status Bad(const std::string& path, const std::string& why) {
  return Status::InvalidArgument(path, why);
}

// FHIR dateTime with a time and zone ("2026-12-08T09:00:00Z", "...+05:00", fractions allowed).
Result<int64_t> ParseDateTime(const std::string& text, const std::string& path) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, n = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 ||
      n != 19 || text[4] != '-' || text[7] != '-' || text[13] != ':' || text[16] != ':') {
    return Bad(path, "'" + text + "' is not a FHIR dateTime with a time (2026-12-08T09:00:00Z)");
  }
  static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] || h > 23 || mi > 59 || s > 59) {
    return Bad(path, "'" + text + "' is not a date and time that exists");
  }
  size_t at = 19;
  if (at < text.size() && text[at] == '.') {
    ++at;
    while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) ++at;
  }
  int64_t offset_min = 0;
  const std::string zone = text.substr(at);
  if (zone == "Z") {
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
             std::isdigit(static_cast<unsigned char>(zone[1])) &&
             std::isdigit(static_cast<unsigned char>(zone[2])) &&
             std::isdigit(static_cast<unsigned char>(zone[4])) &&
             std::isdigit(static_cast<unsigned char>(zone[5]))) {
    offset_min = ((zone[1] - '0') * 10 + (zone[2] - '0')) * 60 + (zone[4] - '0') * 10 + (zone[5] - '0');
    if (zone[0] == '-') offset_min = -offset_min;
  } else {
    return Bad(path, "'" + text + "' has no time zone (Z or +hh:mm)");
  }
  const int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 86400 + h * 3600 + mi * 60 + s) - offset_min * 60) * 1000;
}

// Read access to a JSON object with paths for the errors.
class Node {
 public:
  Node(const pb::Value* v, std::string path) : v_(v), path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  bool present() const { return v_ != nullptr && !v_->has_null_value(); }
  Node Renamed(std::string path) const { return Node(v_, std::move(path)); }

  Result<Node> Field(const std::string& key, bool required) const {
    const std::string p = path_ + "." + key;
    if (v_ == nullptr || !v_->has_struct_value()) {
      return Bad(path_, "is not a JSON object");
    }
    auto it = v_->struct_value().fields().find(key);
    if (it == v_->struct_value().fields().end() || it->second.has_null_value()) {
      if (required) return Bad(p, "is required");
      return Node(nullptr, p);
    }
    return Node(&it->second, p);
  }
  Result<std::string> String() const {
    if (!v_->has_string_value()) return Bad(path_, "is not a string");
    const std::string& s = v_->string_value();
    if (s.size() > kMaxFhirStringBytes) {
      return Bad(path_, "is " + std::to_string(s.size()) + " bytes long; at most " +
                            std::to_string(kMaxFhirStringBytes) + " are taken");
    }
    if (s.empty()) return Bad(path_, "is empty");
    return s;
  }
  Result<std::string> StringField(const std::string& key, bool required) const {
    ASSIGN_OR_RETURN(Node n, Field(key, required));
    if (!n.present()) return std::string();
    return n.String();
  }
  // The items of a list (a single value where a list goes is refused).
  Result<std::vector<Node>> Items() const {
    std::vector<Node> out;
    if (!present()) return out;
    if (!v_->has_list_value()) return Bad(path_, "is not a list ([...])");
    for (int i = 0; i < v_->list_value().values_size(); ++i) {
      out.emplace_back(&v_->list_value().values(i), path_ + "[" + std::to_string(i) + "]");
    }
    return out;
  }

 private:
  const pb::Value* v_;
  std::string path_;
};

// The value of the identifier of a reference with `system` ("" when none).
Result<std::string> RefIdentifier(const Node& ref, const char* system, const char* type) {
  if (!ref.present()) return std::string();
  ASSIGN_OR_RETURN(std::string t, ref.StringField("type", false));
  if (!t.empty() && t != type) {
    return Bad(ref.path() + ".type", "is '" + t + "'; a " + std::string(type) + " is expected");
  }
  ASSIGN_OR_RETURN(Node id, ref.Field("identifier", true));
  ASSIGN_OR_RETURN(std::string sys, id.StringField("system", true));
  if (sys != system) {
    return Bad(id.path() + ".system", "is '" + sys + "'; Passage reads " + std::string(system));
  }
  return id.StringField("value", true);
}

// The code of the first coding with `system` in a CodeableConcept ("" when none).
Result<std::string> ConceptCode(const Node& cc, const char* system) {
  if (!cc.present()) return std::string();
  ASSIGN_OR_RETURN(Node codings, cc.Field("coding", true));
  ASSIGN_OR_RETURN(auto items, codings.Items());
  for (const auto& c : items) {
    ASSIGN_OR_RETURN(std::string sys, c.StringField("system", false));
    if (sys == system) return c.StringField("code", true);
  }
  return Bad(codings.path(), "has no coding of system " + std::string(system));
}

template <typename E>
Result<E> EnumCode(const std::string& code, const pb::EnumDescriptor* type, const char* prefix,
                   const std::string& path, bool (*valid)(int)) {
  const pb::EnumValueDescriptor* v = type->FindValueByName(prefix + code);
  if (v == nullptr || v->number() == 0 || !valid(v->number())) {
    return Bad(path, "'" + code + "' is not a Passage code here (docs/fhir.md)");
  }
  return static_cast<E>(v->number());
}

}  // namespace

std::string FhirPathOfReferralField(std::string_view field) {
  static const std::pair<const char*, const char*> kMap[] = {
      {"to_agency", "ServiceRequest.performer[0]"},
      {"from_agency", "ServiceRequest.requester"},
      {"service", "ServiceRequest.code"},
      {"priority", "ServiceRequest.priority"},
      {"respond_by_ms", "ServiceRequest.occurrencePeriod.end"},
      {"consent_id", "ServiceRequest.supportingInfo"},
      {"consent_override", "ServiceRequest.supportingInfo"},
      {"case_id", "ServiceRequest.subject"},
      {"reason", "ServiceRequest.reasonCode[0]"},
      {"data_scope", "ServiceRequest.extension"},
      {"kind", "ServiceRequest.category"},
      {"parent_referral_id", "ServiceRequest.basedOn[0]"},
      {"referral_id", "ServiceRequest.identifier"},
  };
  for (const std::string_view prefix : {"referral_sent.referral.", "referral."}) {
    if (field.substr(0, prefix.size()) == prefix) field.remove_prefix(prefix.size());
  }
  for (const auto& [from, to] : kMap) {
    const std::string f(from);
    if (field == f || field.substr(0, f.size() + 1) == f + "." ||
        field.substr(0, f.size() + 1) == f + "[") {
      return to;
    }
  }
  return "ServiceRequest" + (field.empty() ? std::string() : "." + std::string(field));
}

std::string FhirTaskStatus(v1::ReferralStatus s) {
  switch (s) {
    case v1::REFERRAL_STATUS_SENT:
      return "requested";
    case v1::REFERRAL_STATUS_RECEIVED:
      return "received";
    case v1::REFERRAL_STATUS_ACCEPTED:
      return "accepted";
    case v1::REFERRAL_STATUS_REJECTED:
      return "rejected";
    case v1::REFERRAL_STATUS_IN_PROGRESS:
      return "in-progress";
    case v1::REFERRAL_STATUS_ON_HOLD:
      return "on-hold";
    case v1::REFERRAL_STATUS_COMPLETED:
      return "completed";
    case v1::REFERRAL_STATUS_FAILED:
      return "failed";
    case v1::REFERRAL_STATUS_CANCEL_REQUESTED:
      return "in-progress";  // the recipient still holds it until it confirms (businessStatus)
    case v1::REFERRAL_STATUS_CANCELLED:
      return "cancelled";
    case v1::REFERRAL_STATUS_EXPIRED:
      return "cancelled";  // no answer in time (businessStatus EXPIRED)
    default:
      return "";
  }
}

std::string FhirServiceRequestStatus(v1::ReferralStatus s) {
  switch (s) {
    case v1::REFERRAL_STATUS_ON_HOLD:
      return "on-hold";
    case v1::REFERRAL_STATUS_COMPLETED:
      return "completed";
    case v1::REFERRAL_STATUS_REJECTED:
    case v1::REFERRAL_STATUS_FAILED:
    case v1::REFERRAL_STATUS_CANCELLED:
    case v1::REFERRAL_STATUS_EXPIRED:
      return "revoked";
    case v1::REFERRAL_STATUS_UNSPECIFIED:
      return "draft";
    default:
      return "active";
  }
}

std::string ExportReferralFhir(const v1::Referral& r) {
  const J subject = LogicalRef("Patient", kFhirCaseSystem, r.case_id());
  const J from = LogicalRef("Organization", kFhirAgencySystem, r.from_agency());
  const J to = LogicalRef("Organization", kFhirAgencySystem, r.to_agency());
  const std::string service = ShortEnumName(v1::ServiceType_descriptor(), r.service());
  const std::string status = ReferralStatusName(r.status());

  J sr;
  Set(&sr, "resourceType", Str("ServiceRequest"));
  Set(&sr, "id", Str(r.referral_id()));
  Set(&sr, "identifier", List({Identifier(kFhirReferralSystem, r.referral_id())}));
  Set(&sr, "status", Str(FhirServiceRequestStatus(r.status())));
  Set(&sr, "intent", Str("order"));
  Set(&sr, "category",
      List({Concept(kFhirKindSystem, ShortEnumName(v1::ReferralKind_descriptor(), r.kind()))}));
  if (const std::string p = PriorityCode(r.priority()); !p.empty()) {
    Set(&sr, "priority", Str(p));
  }
  Set(&sr, "code", Concept(kFhirServiceSystem, service));
  Set(&sr, "subject", subject);
  if (r.sent_at_ms() != 0) {
    Set(&sr, "authoredOn", Str(FormatUtcMs(r.sent_at_ms())));
  }
  if (r.respond_by_ms() != 0) {
    J period;
    Set(&period, "end", Str(FormatUtcMs(r.respond_by_ms())));
    Set(&sr, "occurrencePeriod", Obj(std::move(period)));
  }
  Set(&sr, "requester", from);
  Set(&sr, "performer", List({to}));
  if (!r.reason().empty()) {
    J reason;
    Set(&reason, "text", Str(r.reason()));  // a rule name or a short code, never a narrative
    Set(&sr, "reasonCode", List({Obj(std::move(reason))}));
  }
  if (!r.consent_id().empty()) {
    Set(&sr, "supportingInfo", List({LogicalRef("Consent", kFhirConsentSystem, r.consent_id())}));
  }
  if (!r.parent_referral_id().empty()) {
    Set(&sr, "basedOn",
        List({LogicalRef("ServiceRequest", kFhirReferralSystem, r.parent_referral_id())}));
  }
  std::vector<J> scope;
  for (int d : r.data_scope()) {
    J ext;
    Set(&ext, "url", Str(kFhirDataScopeUrl));
    Set(&ext, "valueCode", Str(ShortEnumName(v1::DataSection_descriptor(), d)));
    scope.push_back(Obj(std::move(ext)));
  }
  if (!scope.empty()) {
    Set(&sr, "extension", List(std::move(scope)));
  }

  J task;
  Set(&task, "resourceType", Str("Task"));
  Set(&task, "id", Str(r.referral_id()));
  Set(&task, "identifier", List({Identifier(kFhirReferralSystem, r.referral_id())}));
  Set(&task, "status", Str(FhirTaskStatus(r.status()).empty() ? "draft" : FhirTaskStatus(r.status())));
  Set(&task, "businessStatus", Concept(kFhirStatusSystem, status));
  if (r.status() == v1::REFERRAL_STATUS_REJECTED && r.status_reason() != v1::REJECT_REASON_UNSPECIFIED) {
    Set(&task, "statusReason",
        Concept(kFhirRejectSystem, ShortEnumName(v1::RejectReason_descriptor(), r.status_reason())));
  }
  Set(&task, "intent", Str("order"));
  if (const std::string p = PriorityCode(r.priority()); !p.empty()) {
    Set(&task, "priority", Str(p));
  }
  J focus;
  Set(&focus, "reference", Str("ServiceRequest/" + r.referral_id()));
  Set(&task, "focus", Obj(std::move(focus)));
  Set(&task, "for", subject);
  if (r.sent_at_ms() != 0) {
    Set(&task, "authoredOn", Str(FormatUtcMs(r.sent_at_ms())));
  }
  if (r.history_size() > 0) {
    Set(&task, "lastModified", Str(FormatUtcMs(r.history(r.history_size() - 1).at_ms())));
  }
  Set(&task, "requester", from);
  Set(&task, "owner", to);
  if (r.respond_by_ms() != 0) {
    J period, restriction;
    Set(&period, "end", Str(FormatUtcMs(r.respond_by_ms())));
    Set(&restriction, "period", Obj(std::move(period)));
    Set(&task, "restriction", Obj(std::move(restriction)));
  }

  J bundle;
  Set(&bundle, "resourceType", Str("Bundle"));
  Set(&bundle, "type", Str("collection"));
  std::vector<J> entries;
  for (auto* res : {&sr, &task}) {
    J entry;
    Set(&entry, "resource", Obj(std::move(*res)));
    entries.push_back(Obj(std::move(entry)));
  }
  Set(&bundle, "entry", List(std::move(entries)));
  std::string out;
  Write(bundle, 0, &out);
  return out + "\n";
}

Result<FhirImported> ImportReferralFhir(std::string_view json, const std::string& agency,
                                        const std::string& case_id, int64_t now_ms) {
  if (json.size() > kMaxFhirBundleBytes) {
    return Bad("Bundle", "is " + std::to_string(json.size()) + " bytes; at most " +
                             std::to_string(kMaxFhirBundleBytes) + " are read");
  }
  if (Status st = CheckStrictJson(json, nullptr); !st.ok()) {
    return Bad(st.field().empty() ? "Bundle" : "Bundle." + st.field(), st.message());
  }
  pb::Value root;
  if (!pb::util::JsonStringToMessage(std::string(json), &root).ok() || !root.has_struct_value()) {
    return Bad("Bundle", "is not a JSON object");
  }
  Node bundle(&root, "Bundle");
  ASSIGN_OR_RETURN(std::string rt, bundle.StringField("resourceType", true));
  if (rt != "Bundle") {
    return Bad("Bundle.resourceType", "is '" + rt + "'; a Bundle is expected");
  }
  ASSIGN_OR_RETURN(Node entry_list, bundle.Field("entry", true));
  ASSIGN_OR_RETURN(auto entries, entry_list.Items());
  std::optional<Node> sr_node;
  int tasks = 0;
  for (const auto& e : entries) {
    ASSIGN_OR_RETURN(Node res, e.Field("resource", true));
    ASSIGN_OR_RETURN(std::string type, res.StringField("resourceType", true));
    if (type == "ServiceRequest") {
      if (sr_node) return Bad(res.path(), "is a second ServiceRequest; one referral per Bundle");
      sr_node = Node(res);
    } else if (type == "Task") {
      if (++tasks > 1) return Bad(res.path(), "is a second Task; one referral per Bundle");
    } else {
      return Bad(res.path() + ".resourceType",
                 "is '" + type + "'; a referral Bundle holds a ServiceRequest and a Task only");
    }
  }
  if (!sr_node) {
    return Bad("Bundle.entry", "holds no ServiceRequest");
  }
  // From here on, errors name the element as "ServiceRequest.<element>".
  Node sr = sr_node->Renamed("ServiceRequest");

  FhirImported out;
  v1::Referral& r = out.referral;
  r.set_referral_id(NewUuidV7At(now_ms));
  r.set_from_agency(agency);

  ASSIGN_OR_RETURN(std::string status, sr.StringField("status", true));
  if (status != "active" && status != "draft") {
    return Bad("ServiceRequest.status",
               "is '" + status + "'; a referral to send is 'active' (or 'draft')");
  }
  ASSIGN_OR_RETURN(std::string intent, sr.StringField("intent", true));
  if (intent != "order") {
    return Bad("ServiceRequest.intent", "is '" + intent + "'; Passage sends referrals as 'order'");
  }
  ASSIGN_OR_RETURN(Node code, sr.Field("code", true));
  ASSIGN_OR_RETURN(std::string service, ConceptCode(code, kFhirServiceSystem));
  ASSIGN_OR_RETURN(auto st, EnumCode<v1::ServiceType>(service, v1::ServiceType_descriptor(),
                                                        "SERVICE_TYPE_", "ServiceRequest.code",
                                                        v1::ServiceType_IsValid));
  r.set_service(st);

  ASSIGN_OR_RETURN(std::string priority, sr.StringField("priority", false));
  if (priority == "routine") {
    r.set_priority(v1::PRIORITY_ROUTINE);
  } else if (priority == "urgent") {
    r.set_priority(v1::PRIORITY_URGENT);
  } else if (priority == "stat" || priority == "asap") {
    r.set_priority(v1::PRIORITY_EMERGENCY);
  } else if (!priority.empty()) {
    return Bad("ServiceRequest.priority",
               "'" + priority + "' is not a request priority (routine, urgent, asap, stat)");
  } else {
    r.set_priority(v1::PRIORITY_ROUTINE);  // FHIR: absent means routine
  }

  ASSIGN_OR_RETURN(Node categories, sr.Field("category", false));
  ASSIGN_OR_RETURN(auto cats, categories.Items());
  r.set_kind(v1::REFERRAL_KIND_REFERRAL);
  for (const auto& c : cats) {
    ASSIGN_OR_RETURN(Node codings, c.Field("coding", false));
    ASSIGN_OR_RETURN(auto items, codings.Items());
    for (const auto& coding : items) {
      ASSIGN_OR_RETURN(std::string sys, coding.StringField("system", false));
      if (sys != kFhirKindSystem) continue;
      ASSIGN_OR_RETURN(std::string k, coding.StringField("code", true));
      ASSIGN_OR_RETURN(auto kind, EnumCode<v1::ReferralKind>(k, v1::ReferralKind_descriptor(),
                                                             "REFERRAL_KIND_", coding.path(),
                                                             v1::ReferralKind_IsValid));
      r.set_kind(kind);
    }
  }

  ASSIGN_OR_RETURN(Node subject, sr.Field("subject", true));
  ASSIGN_OR_RETURN(std::string subject_case, RefIdentifier(subject, kFhirCaseSystem, "Patient"));
  out.case_id = case_id.empty() ? subject_case : case_id;
  if (case_id.empty()) {
    RETURN_IF_ERROR(ValidateUuid(subject_case, "ServiceRequest.subject.identifier.value"));
  }

  ASSIGN_OR_RETURN(Node requester, sr.Field("requester", false));
  ASSIGN_OR_RETURN(std::string from, RefIdentifier(requester, kFhirAgencySystem, "Organization"));
  (void)from;  // the sender is always the importing agency, whoever sent it before

  ASSIGN_OR_RETURN(Node performers, sr.Field("performer", true));
  ASSIGN_OR_RETURN(auto perf, performers.Items());
  if (perf.empty()) {
    return Bad("ServiceRequest.performer", "names no agency to refer to");
  }
  if (perf.size() > 1) {
    return Bad("ServiceRequest.performer[1]",
               "one agency per referral: a referral to several agencies is several Bundles");
  }
  ASSIGN_OR_RETURN(std::string to, RefIdentifier(perf[0], kFhirAgencySystem, "Organization"));
  if (!IsValidAgencyId(to)) {
    return Bad("ServiceRequest.performer[0]", "'" + to + "' is not an agency id");
  }
  r.set_to_agency(to);

  ASSIGN_OR_RETURN(Node occurrence, sr.Field("occurrencePeriod", false));
  std::string respond_by;
  std::string respond_by_path = "ServiceRequest.occurrencePeriod.end";
  if (occurrence.present()) {
    ASSIGN_OR_RETURN(respond_by, occurrence.StringField("end", false));
  }
  if (respond_by.empty()) {
    ASSIGN_OR_RETURN(Node odt, sr.Field("occurrenceDateTime", false));
    if (odt.present()) {
      ASSIGN_OR_RETURN(respond_by, odt.String());
      respond_by_path = "ServiceRequest.occurrenceDateTime";
    }
  }
  if (respond_by.empty()) {
    return Bad("ServiceRequest.occurrencePeriod.end", "is required: the respond-by time");
  }
  ASSIGN_OR_RETURN(int64_t by, ParseDateTime(respond_by, respond_by_path));
  r.set_respond_by_ms(by);

  ASSIGN_OR_RETURN(Node reasons, sr.Field("reasonCode", false));
  ASSIGN_OR_RETURN(auto reason_items, reasons.Items());
  if (!reason_items.empty()) {
    ASSIGN_OR_RETURN(std::string text, reason_items[0].StringField("text", false));
    r.set_reason(text);
  }

  ASSIGN_OR_RETURN(Node support, sr.Field("supportingInfo", false));
  ASSIGN_OR_RETURN(auto support_items, support.Items());
  for (const auto& s : support_items) {
    ASSIGN_OR_RETURN(std::string t, s.StringField("type", false));
    if (t != "Consent") continue;
    ASSIGN_OR_RETURN(std::string consent, RefIdentifier(s, kFhirConsentSystem, "Consent"));
    r.set_consent_id(consent);
  }

  ASSIGN_OR_RETURN(Node based, sr.Field("basedOn", false));
  ASSIGN_OR_RETURN(auto based_items, based.Items());
  if (!based_items.empty()) {
    ASSIGN_OR_RETURN(std::string parent,
                     RefIdentifier(based_items[0], kFhirReferralSystem, "ServiceRequest"));
    r.set_parent_referral_id(parent);
  }

  ASSIGN_OR_RETURN(Node extensions, sr.Field("extension", false));
  ASSIGN_OR_RETURN(auto ext_items, extensions.Items());
  for (const auto& e : ext_items) {
    ASSIGN_OR_RETURN(std::string url, e.StringField("url", true));
    if (url != kFhirDataScopeUrl) continue;  // extensions Passage does not know are ignored
    ASSIGN_OR_RETURN(std::string section, e.StringField("valueCode", true));
    ASSIGN_OR_RETURN(auto d, EnumCode<v1::DataSection>(section, v1::DataSection_descriptor(),
                                                       "DATA_SECTION_", e.path() + ".valueCode",
                                                       v1::DataSection_IsValid));
    r.add_data_scope(d);
  }
  if (r.data_scope_size() == 0) {
    r.add_data_scope(v1::DATA_SECTION_PROFILE);  // the least a recipient needs
  }

  if (Status st = ValidateReferralToSend(r, "", out.case_id, now_ms); !st.ok()) {
    return Status(st.code(), st.message(), FhirPathOfReferralField(st.field()));
  }
  return out;
}

}  // namespace passage::core
