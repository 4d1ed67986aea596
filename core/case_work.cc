#include "core/case_work.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <tuple>

#include "core/case_projection.h"
#include "core/civil_days.h"
#include "core/codes.h"
#include "core/referral_state_machine.h"
#include "core/validate.h"

namespace passage::core {
namespace {

namespace v1 = passage::v1;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using v1::CaseState;
using v1::Event;

const std::vector<std::string>& ConsentFields() {
  static const std::vector<std::string> k{"scope", "agency_ids", "agency_types"};
  return k;
}
const std::vector<std::string>& ReferralFields() {
  static const std::vector<std::string> k{"service", "priority", "respond_by_ms", "reason"};
  return k;
}

std::string Quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

Status Invalid(std::string field, std::string reason) {
  return Status::InvalidArgument(std::move(field), std::move(reason));
}
Status Refuse(std::string message, std::string field) {
  return Status::FailedPrecondition(std::move(message), std::move(field));
}
Status Deny(std::string message, std::string field) {
  return Status::PermissionDenied(std::move(message), std::move(field));
}

Status NotFound(std::string message, std::string field) {
  return Status(StatusCode::kNotFound, std::move(message), std::move(field));
}

// `s` reported on `field`, the inner field named in the message.
Status Named(const Status& s, const std::string& field) {
  if (s.ok()) {
    return s;
  }
  return Status(s.code(), (s.field().empty() ? "" : s.field() + ": ") + s.message(), field);
}

bool IsBlank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

Status CheckText(std::string_view text, size_t max, const std::string& field) {
  if (text.size() > max) {
    return Invalid(field, "is " + std::to_string(text.size()) + " bytes long; at most " +
                              std::to_string(max) + " are allowed");
  }
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      return Invalid(field, "holds a control character (code " + std::to_string(c) +
                                "); type it again without it");
    }
  }
  return Status::Ok();
}

const Descriptor* TargetType(FieldPath::Target t) {
  switch (t) {
    case FieldPath::Target::kConsent:
      return v1::Consent::descriptor();
    case FieldPath::Target::kReferral:
      return v1::Referral::descriptor();
    case FieldPath::Target::kProfile:
      break;
  }
  return v1::Profile::descriptor();
}

const FieldDescriptor* FieldOf(const FieldPath& p) {
  return TargetType(p.target)->FindFieldByName(p.field);
}

// The canonical encoding of one element (index >= 0) or of a singular field (index < 0).
void EncodeElement(const Message& m, const FieldDescriptor* fd, int index, std::string* out) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (fd->cpp_type()) {
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int v = rep ? r->GetRepeatedEnumValue(m, fd, index) : r->GetEnumValue(m, fd);
      const auto* ev = fd->enum_type()->FindValueByNumber(v);
      if (ev == nullptr) {
        *out += std::to_string(v);
      } else {
        AppendJsonString(out, ev->name());
      }
      return;
    }
    case FieldDescriptor::CPPTYPE_STRING:
      AppendJsonString(out, rep ? r->GetRepeatedString(m, fd, index) : r->GetString(m, fd));
      return;
    case FieldDescriptor::CPPTYPE_BOOL:
      *out += (rep ? r->GetRepeatedBool(m, fd, index) : r->GetBool(m, fd)) ? "true" : "false";
      return;
    case FieldDescriptor::CPPTYPE_INT32:
      *out += std::to_string(rep ? r->GetRepeatedInt32(m, fd, index) : r->GetInt32(m, fd));
      return;
    case FieldDescriptor::CPPTYPE_UINT32:
      *out += std::to_string(rep ? r->GetRepeatedUInt32(m, fd, index) : r->GetUInt32(m, fd));
      return;
    case FieldDescriptor::CPPTYPE_INT64:
      *out += "\"" + std::to_string(rep ? r->GetRepeatedInt64(m, fd, index) : r->GetInt64(m, fd)) +
              "\"";
      return;
    case FieldDescriptor::CPPTYPE_UINT64:
      *out += "\"" +
              std::to_string(rep ? r->GetRepeatedUInt64(m, fd, index) : r->GetUInt64(m, fd)) + "\"";
      return;
    default:
      *out += "null";  // no correctable field has another type
      return;
  }
}

std::string Encode(const Message& m, const FieldDescriptor* fd) {
  std::string out;
  const Reflection* r = m.GetReflection();
  if (fd->is_repeated()) {
    out += '[';
    for (int i = 0; i < r->FieldSize(m, fd); ++i) {
      if (i > 0) {
        out += ',';
      }
      EncodeElement(m, fd, i, &out);
    }
    out += ']';
    return out;
  }
  if (fd->has_presence() && !r->HasField(m, fd)) {
    return "null";
  }
  EncodeElement(m, fd, -1, &out);
  return out;
}

// Sets the field of `m` from a canonical encoding; false when it does not parse as the field's
// type. Only the named field changes.
bool Decode(std::string_view value, const FieldDescriptor* fd, Message* m) {
  std::unique_ptr<Message> tmp(m->New());
  std::string json = "{";
  AppendJsonString(&json, fd->name());
  json += ":";
  json += value;
  json += "}";
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  if (!google::protobuf::util::JsonStringToMessage(json, tmp.get(), options).ok()) {
    return false;
  }
  m->GetReflection()->SwapFields(m, tmp.get(), {fd});
  return true;
}

std::string TypeWords(const FieldDescriptor* fd) {
  std::string what;
  switch (fd->cpp_type()) {
    case FieldDescriptor::CPPTYPE_ENUM: {
      std::string names;
      for (int i = 1; i < fd->enum_type()->value_count(); ++i) {
        names += (names.empty() ? "" : ", ") + fd->enum_type()->value(i)->name();
      }
      what = "a " + fd->enum_type()->name() + " (" + names + ")";
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING:
      what = "a text in quotes";
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      what = "true or false";
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      what = "a number in quotes (Unix milliseconds)";
      break;
    default:
      what = "a whole number";
      break;
  }
  if (fd->is_repeated()) {
    return "a list [..] of " + what;
  }
  if (fd->has_presence()) {
    return what + ", or null";
  }
  return what;
}

// A consent or referral with the field set from `value`, or an error naming `field`.
template <typename M>
Result<M> WithValue(const M& current, const FieldPath& p, std::string_view value,
                    const std::string& field) {
  M copy = current;
  const FieldDescriptor* fd = FieldOf(p);
  if (fd == nullptr || !Decode(value, fd, &copy)) {
    return Invalid(field, Quoted(value) + " is not " + (fd ? TypeWords(fd) : "a value") +
                              " in its canonical encoding (docs/data-standards.md, section 11)");
  }
  return copy;
}

// The profile with the correction applied, derived values recomputed for an age correction.
v1::Profile CorrectedProfile(const v1::Profile& current, const FieldPath& p, std::string_view value,
                             bool* ok) {
  v1::Profile copy = current;
  const FieldDescriptor* fd = FieldOf(p);
  *ok = fd != nullptr && Decode(value, fd, &copy);
  if (*ok && p.field == "age_years") {
    copy.set_age_band(v1::AGE_BAND_UNSPECIFIED);
    copy.set_majority_at_identification(v1::MAJORITY_STATUS_UNSPECIFIED);
    if (!copy.has_age_years()) {
      copy.set_age_band(current.age_band());
      copy.set_majority_at_identification(current.majority_at_identification());
    }
  }
  return copy;
}

bool WasAccepted(const v1::Referral& r) {
  for (const auto& h : r.history()) {
    if (h.to() == v1::REFERRAL_STATUS_ACCEPTED) {
      return true;
    }
  }
  return false;
}

v1::Referral* FindMutableReferral(CaseState* state, std::string_view id) {
  for (v1::Referral& r : *state->mutable_referrals()) {
    if (r.referral_id() == id) {
      return &r;
    }
  }
  return nullptr;
}

// The referral of a plan or follow-up event, checked: in the case, received by the actor, and
// accepted and still live.
Status CheckReceivingReferral(const CaseState& state, const Event& e, std::string_view referral_id,
                              const std::string& field, std::string_view what) {
  const v1::Referral* r = FindReferral(state, referral_id);
  if (r == nullptr) {
    return NotFound("referral " + std::string(referral_id) + " is not in this case", field);
  }
  if (r->to_agency() != e.actor_agency()) {
    return Deny("only the agency that received referral " + r->referral_id() + " (" +
                    r->to_agency() + ") " + std::string(what) + " under it",
                field);
  }
  if (!WasAccepted(*r) || !IsLive(r->status())) {
    return Refuse("referral " + r->referral_id() + " is " + ReferralStatusName(r->status()) +
                      "; services are planned and followed up under a referral once it is "
                      "accepted and while it is live",
                  field);
  }
  return Status::Ok();
}

bool IdTaken(const CaseState& state, std::string_view id) {
  return FindPlanItem(state, id) != nullptr || FindFollowUp(state, id) != nullptr;
}

Status ValidateCorrection(const Event& e) {
  const v1::FieldCorrected& c = e.field_corrected();
  ASSIGN_OR_RETURN(FieldPath p, ParseFieldPath(c.path(), "field_corrected.path"));
  const std::string& h = c.old_value_sha256();
  const bool hex = h.size() == 64 && std::all_of(h.begin(), h.end(), [](char ch) {
                     return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
                   });
  if (!hex) {
    return Invalid("field_corrected.old_value_sha256",
                   "is the SHA-256 of the value being corrected, as 64 lower-case hex digits "
                   "(passagectl correct computes it from the case as the node holds it)");
  }
  const FieldDescriptor* fd = FieldOf(p);
  // Type check: decode into an empty message of the target type and re-encode.
  std::unique_ptr<Message> probe;
  switch (p.target) {
    case FieldPath::Target::kProfile:
      probe = std::make_unique<v1::Profile>();
      break;
    case FieldPath::Target::kConsent:
      probe = std::make_unique<v1::Consent>();
      break;
    case FieldPath::Target::kReferral:
      probe = std::make_unique<v1::Referral>();
      break;
  }
  if (!Decode(c.new_value(), fd, probe.get())) {
    return Invalid("field_corrected.new_value",
                   Quoted(c.new_value()) + " is not " + TypeWords(fd) + " for " + c.path() +
                       " (canonical encoding: docs/data-standards.md, section 11)");
  }
  const std::string canonical = Encode(*probe, fd);
  if (canonical != c.new_value()) {
    return Invalid("field_corrected.new_value",
                   Quoted(c.new_value()) + " is not in canonical form; write it as " + canonical);
  }
  if (IsBlank(c.reason())) {
    return Invalid("field_corrected.reason", "a correction needs a reason");
  }
  return CheckText(c.reason(), kMaxCorrectionReason, "field_corrected.reason");
}

Status CheckCorrection(const CaseState& state, const Event& e) {
  const v1::FieldCorrected& c = e.field_corrected();
  ASSIGN_OR_RETURN(FieldPath p, ParseFieldPath(c.path(), "field_corrected.path"));
  const std::string nv = "field_corrected.new_value";
  switch (p.target) {
    case FieldPath::Target::kProfile:
    case FieldPath::Target::kConsent:
      if (e.actor_agency() != state.owner_agency()) {
        return Deny("only the case owner (" + state.owner_agency() + ") may correct " +
                        (p.target == FieldPath::Target::kProfile ? "the profile" : "a consent"),
                    "actor_agency");
      }
      break;
    case FieldPath::Target::kReferral: {
      const v1::Referral* r = FindReferral(state, p.id);
      if (r != nullptr && r->from_agency() != e.actor_agency()) {
        return Deny("only the sender of referral " + p.id + " (" + r->from_agency() +
                        ") may correct its details",
                    "actor_agency");
      }
      break;
    }
  }
  ASSIGN_OR_RETURN(std::string current, CurrentValue(state, p, "field_corrected.path"));
  if (Sha256Hex(current) != c.old_value_sha256()) {
    return Refuse("the value of " + c.path() + " changed since it was read (it is now " + current +
                      "); read the case again and decide again",
                  "field_corrected.old_value_sha256");
  }
  if (current == c.new_value()) {
    return Refuse(c.path() + " already holds " + current + "; nothing to correct", nv);
  }
  switch (p.target) {
    case FieldPath::Target::kProfile: {
      bool ok = false;
      v1::Profile corrected = CorrectedProfile(state.profile(), p, c.new_value(), &ok);
      if (!ok) {
        return Invalid(nv, Quoted(c.new_value()) + " is not a value of " + c.path());
      }
      v1::Profile normal = corrected;
      RETURN_IF_ERROR(Named(NormalizeProfile(&normal, "profile"), nv));
      const std::string want = Encode(normal, FieldOf(p));
      if (want != c.new_value()) {
        return Invalid(nv, Quoted(c.new_value()) + " is not in normal form; write it as " + want);
      }
      return Status::Ok();
    }
    case FieldPath::Target::kConsent: {
      const v1::Consent* consent = FindConsent(state, p.id);
      ASSIGN_OR_RETURN(v1::Consent corrected, WithValue(*consent, p, c.new_value(), nv));
      corrected.set_withdrawn_at_ms(0);
      return Named(ValidateConsent(corrected, "consent", e.occurred_at_ms() + kMaxClockSkewMs), nv);
    }
    case FieldPath::Target::kReferral: {
      const v1::Referral* r = FindReferral(state, p.id);
      ASSIGN_OR_RETURN(v1::Referral corrected, WithValue(*r, p, c.new_value(), nv));
      if (p.field == "service" || p.field == "priority") {
        if (Encode(corrected, FieldOf(p)).find("_UNSPECIFIED") != std::string::npos) {
          return Invalid(nv, "a referral's " + p.field + " must be set");
        }
      }
      if (p.field == "reason" && corrected.reason().size() > 128) {
        return Invalid(nv, "a referral's reason is at most 128 bytes");
      }
      if (p.field == "respond_by_ms" && corrected.respond_by_ms() <= corrected.sent_at_ms()) {
        return Invalid(nv, "the respond-by time " + FormatUtcMs(corrected.respond_by_ms()) +
                               " is not after the time the referral was sent (" +
                               FormatUtcMs(corrected.sent_at_ms()) + ")");
      }
      return Status::Ok();
    }
  }
  return Status::Ok();
}

void ApplyCorrection(CaseState* state, const v1::Envelope& env, const Event& e) {
  const v1::FieldCorrected& c = e.field_corrected();
  auto p = ParseFieldPath(c.path(), "path");
  if (!p.ok()) {
    return;
  }
  auto current = CurrentValue(*state, *p, "path");
  if (!current.ok()) {
    return;
  }
  const FieldDescriptor* fd = FieldOf(*p);
  bool ok = false;
  switch (p->target) {
    case FieldPath::Target::kProfile: {
      v1::Profile corrected = CorrectedProfile(state->profile(), *p, c.new_value(), &ok);
      if (ok) {
        if (NormalizeProfile(&corrected, "").ok()) {
          *state->mutable_profile() = std::move(corrected);
        } else {
          ok = false;
        }
      }
      break;
    }
    case FieldPath::Target::kConsent:
      for (v1::Consent& consent : *state->mutable_consents()) {
        if (consent.consent_id() == p->id) {
          ok = Decode(c.new_value(), fd, &consent);
        }
      }
      break;
    case FieldPath::Target::kReferral:
      if (v1::Referral* r = FindMutableReferral(state, p->id)) {
        ok = Decode(c.new_value(), fd, r);
      }
      break;
  }
  if (!ok) {
    return;
  }
  v1::Correction* rec = state->add_corrections();
  rec->set_path(c.path());
  rec->set_old_value_sha256(c.old_value_sha256());
  rec->set_old_value(*current);
  rec->set_new_value(c.new_value());
  rec->set_reason(c.reason());
  rec->set_by_agency(e.actor_agency());
  rec->set_by_user(e.actor_user());
  rec->set_at_ms(e.occurred_at_ms());
  rec->set_global_seq(env.global_seq());
}

Status ValidatePlanPayload(const Event& e) {
  switch (e.payload_case()) {
    case Event::kServicePlanned: {
      const v1::ServicePlanned& s = e.service_planned();
      RETURN_IF_ERROR(ValidateUuid(s.referral_id(), "service_planned.referral_id"));
      const v1::ServicePlanItem& i = s.item();
      RETURN_IF_ERROR(ValidateUuid(i.item_id(), "service_planned.item.item_id"));
      if (i.service() == v1::SERVICE_TYPE_UNSPECIFIED || !v1::ServiceType_IsValid(i.service())) {
        return Invalid("service_planned.item.service", "name the service planned");
      }
      RETURN_IF_ERROR(ValidateIsoDate(i.due_date(), "service_planned.item.due_date"));
      RETURN_IF_ERROR(CheckText(i.note(), kMaxPlanText, "service_planned.item.note"));
      if (i.status() != v1::PLAN_ITEM_STATUS_UNSPECIFIED || !i.status_reason().empty() ||
          i.planned_at_ms() != 0 || !i.planned_by().empty() || i.updated_at_ms() != 0) {
        return Invalid("service_planned.item.status",
                       "status, reason, times and the planning agency are kept by the case "
                       "projection; leave them unset");
      }
      return Status::Ok();
    }
    case Event::kServicePlanItemUpdated: {
      const v1::ServicePlanItemUpdated& u = e.service_plan_item_updated();
      RETURN_IF_ERROR(ValidateUuid(u.referral_id(), "service_plan_item_updated.referral_id"));
      RETURN_IF_ERROR(ValidateUuid(u.item_id(), "service_plan_item_updated.item_id"));
      if (u.to() != v1::PLAN_ITEM_STATUS_DONE && u.to() != v1::PLAN_ITEM_STATUS_NOT_DONE) {
        return Invalid("service_plan_item_updated.to",
                       "a planned service is marked DONE or "
                       "NOT_DONE");
      }
      if (u.to() == v1::PLAN_ITEM_STATUS_NOT_DONE && IsBlank(u.reason())) {
        return Invalid("service_plan_item_updated.reason",
                       "say why the service was not done (--reason)");
      }
      return CheckText(u.reason(), kMaxCorrectionReason, "service_plan_item_updated.reason");
    }
    case Event::kFollowUpScheduled: {
      const v1::FollowUpScheduled& s = e.follow_up_scheduled();
      RETURN_IF_ERROR(ValidateUuid(s.referral_id(), "follow_up_scheduled.referral_id"));
      const v1::FollowUp& f = s.follow_up();
      RETURN_IF_ERROR(ValidateUuid(f.follow_up_id(), "follow_up_scheduled.follow_up.follow_up_id"));
      RETURN_IF_ERROR(ValidateIsoDate(f.due_date(), "follow_up_scheduled.follow_up.due_date"));
      if (IsBlank(f.purpose())) {
        return Invalid("follow_up_scheduled.follow_up.purpose", "say what the follow-up is for");
      }
      RETURN_IF_ERROR(
          CheckText(f.purpose(), kMaxPlanText, "follow_up_scheduled.follow_up.purpose"));
      if (f.done() || f.scheduled_at_ms() != 0 || !f.scheduled_by().empty() ||
          f.done_at_ms() != 0) {
        return Invalid("follow_up_scheduled.follow_up.done",
                       "done, times and the scheduling agency are kept by the case projection; "
                       "leave them unset");
      }
      return Status::Ok();
    }
    case Event::kFollowUpDone: {
      RETURN_IF_ERROR(ValidateUuid(e.follow_up_done().referral_id(), "follow_up_done.referral_id"));
      return ValidateUuid(e.follow_up_done().follow_up_id(), "follow_up_done.follow_up_id");
    }
    default:
      return Status::Ok();
  }
}

Status CheckPlan(const CaseState& state, const Event& e) {
  switch (e.payload_case()) {
    case Event::kServicePlanned: {
      const v1::ServicePlanned& s = e.service_planned();
      RETURN_IF_ERROR(CheckReceivingReferral(state, e, s.referral_id(),
                                             "service_planned.referral_id", "plans services"));
      if (IdTaken(state, s.item().item_id())) {
        return Refuse("item " + s.item().item_id() + " is already planned in this case",
                      "service_planned.item.item_id");
      }
      return Status::Ok();
    }
    case Event::kServicePlanItemUpdated: {
      const v1::ServicePlanItemUpdated& u = e.service_plan_item_updated();
      const v1::Referral* r = nullptr;
      const v1::ServicePlanItem* item = FindPlanItem(state, u.item_id(), &r);
      if (item == nullptr || r->referral_id() != u.referral_id()) {
        return NotFound("no planned service " + u.item_id() + " under referral " + u.referral_id() +
                            " in this case",
                        "service_plan_item_updated.item_id");
      }
      if (r->to_agency() != e.actor_agency()) {
        return Deny("only the agency that planned it (" + r->to_agency() + ") marks it",
                    "service_plan_item_updated.item_id");
      }
      if (item->status() != v1::PLAN_ITEM_STATUS_PLANNED) {
        return Refuse("planned service " + u.item_id() + " was already marked " +
                          ShortEnumName(v1::PlanItemStatus_descriptor(), item->status()) + " at " +
                          FormatUtcMs(item->updated_at_ms()),
                      "service_plan_item_updated.item_id");
      }
      return Status::Ok();
    }
    case Event::kFollowUpScheduled: {
      const v1::FollowUpScheduled& s = e.follow_up_scheduled();
      RETURN_IF_ERROR(CheckReceivingReferral(
          state, e, s.referral_id(), "follow_up_scheduled.referral_id", "schedules follow-ups"));
      if (IdTaken(state, s.follow_up().follow_up_id())) {
        return Refuse("follow-up " + s.follow_up().follow_up_id() + " is already in this case",
                      "follow_up_scheduled.follow_up.follow_up_id");
      }
      return Status::Ok();
    }
    case Event::kFollowUpDone: {
      const v1::FollowUpDone& d = e.follow_up_done();
      const v1::Referral* r = nullptr;
      const v1::FollowUp* f = FindFollowUp(state, d.follow_up_id(), &r);
      if (f == nullptr || r->referral_id() != d.referral_id()) {
        return NotFound("no follow-up " + d.follow_up_id() + " under referral " + d.referral_id() +
                            " in this case",
                        "follow_up_done.follow_up_id");
      }
      if (r->to_agency() != e.actor_agency()) {
        return Deny("only the agency that scheduled it (" + r->to_agency() + ") marks it done",
                    "follow_up_done.follow_up_id");
      }
      if (f->done()) {
        return Refuse("follow-up " + d.follow_up_id() + " was already marked done at " +
                          FormatUtcMs(f->done_at_ms()),
                      "follow_up_done.follow_up_id");
      }
      return Status::Ok();
    }
    default:
      return Status::Ok();
  }
}

void ApplyPlan(CaseState* state, const Event& e) {
  const int64_t at = e.occurred_at_ms();
  switch (e.payload_case()) {
    case Event::kServicePlanned: {
      v1::Referral* r = FindMutableReferral(state, e.service_planned().referral_id());
      if (r == nullptr || IdTaken(*state, e.service_planned().item().item_id())) {
        return;
      }
      v1::ServicePlanItem* i = r->add_plan();
      *i = e.service_planned().item();
      i->set_status(v1::PLAN_ITEM_STATUS_PLANNED);
      i->clear_status_reason();
      i->set_planned_at_ms(at);
      i->set_planned_by(e.actor_agency());
      i->set_updated_at_ms(0);
      return;
    }
    case Event::kServicePlanItemUpdated: {
      const v1::ServicePlanItemUpdated& u = e.service_plan_item_updated();
      v1::Referral* r = FindMutableReferral(state, u.referral_id());
      if (r == nullptr) {
        return;
      }
      for (v1::ServicePlanItem& i : *r->mutable_plan()) {
        if (i.item_id() == u.item_id() && i.status() == v1::PLAN_ITEM_STATUS_PLANNED) {
          i.set_status(u.to());
          i.set_status_reason(u.reason());
          i.set_updated_at_ms(at != 0 ? at : 1);
        }
      }
      return;
    }
    case Event::kFollowUpScheduled: {
      v1::Referral* r = FindMutableReferral(state, e.follow_up_scheduled().referral_id());
      if (r == nullptr || IdTaken(*state, e.follow_up_scheduled().follow_up().follow_up_id())) {
        return;
      }
      v1::FollowUp* f = r->add_follow_ups();
      *f = e.follow_up_scheduled().follow_up();
      f->set_done(false);
      f->set_scheduled_at_ms(at);
      f->set_scheduled_by(e.actor_agency());
      f->set_done_at_ms(0);
      return;
    }
    case Event::kFollowUpDone: {
      v1::Referral* r = FindMutableReferral(state, e.follow_up_done().referral_id());
      if (r == nullptr) {
        return;
      }
      for (v1::FollowUp& f : *r->mutable_follow_ups()) {
        if (f.follow_up_id() == e.follow_up_done().follow_up_id() && !f.done()) {
          f.set_done(true);
          f.set_done_at_ms(at != 0 ? at : 1);
        }
      }
      return;
    }
    default:
      return;
  }
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

// One plain element as canonical JSON, or "" when it does not fit the type.
std::string PlainElement(const FieldDescriptor* fd, std::string_view text) {
  const std::string t = Trim(text);
  switch (fd->cpp_type()) {
    case FieldDescriptor::CPPTYPE_ENUM: {
      std::string up;
      for (char c : t) {
        up += c == '-' || c == ' ' ? '_'
                                   : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
      const auto* type = fd->enum_type();
      std::string prefix = type->value(0)->name();
      prefix = prefix.substr(0, prefix.size() - std::string("UNSPECIFIED").size());
      const auto* v = type->FindValueByName(up);
      if (v == nullptr) {
        v = type->FindValueByName(prefix + up);
      }
      return v == nullptr || v->number() == 0 ? "" : JsonQuote(v->name());
    }
    case FieldDescriptor::CPPTYPE_STRING:
      return JsonQuote(t);
    case FieldDescriptor::CPPTYPE_BOOL:
      if (t == "true" || t == "yes") return "true";
      if (t == "false" || t == "no") return "false";
      return "";
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_UINT32:
      return AllDigits(t) && t.size() <= 9 ? std::to_string(std::stoul(t)) : "";
    case FieldDescriptor::CPPTYPE_INT64:
      if (AllDigits(t) && t.size() <= 15) {
        return "\"" + std::to_string(std::stoll(t)) + "\"";
      }
      if (ValidateIsoDate(t, "x").ok()) {
        return "\"" + std::to_string(DateStartMs(t) + kDayMs - 1000) + "\"";
      }
      return "";
    default:
      return "";
  }
}

}  // namespace

bool IsCaseWorkEvent(const Event& e) {
  switch (e.payload_case()) {
    case Event::kFieldCorrected:
    case Event::kServicePlanned:
    case Event::kServicePlanItemUpdated:
    case Event::kFollowUpScheduled:
    case Event::kFollowUpDone:
      return true;
    default:
      return false;
  }
}

Status ValidateCaseWorkPayload(const Event& e, int64_t /*now_ms*/) {
  if (e.payload_case() == Event::kFieldCorrected) {
    return ValidateCorrection(e);
  }
  return ValidatePlanPayload(e);
}

Status CheckCaseWorkEvent(const CaseState& state, const Event& e) {
  if (e.payload_case() == Event::kFieldCorrected) {
    return CheckCorrection(state, e);
  }
  return CheckPlan(state, e);
}

void ApplyCaseWorkEvent(CaseState* state, const v1::Envelope& env, const Event& e) {
  if (e.payload_case() == Event::kFieldCorrected) {
    ApplyCorrection(state, env, e);
  } else {
    ApplyPlan(state, e);
  }
}

v1::DataSection CaseWorkSection(const Event& e) {
  if (e.payload_case() == Event::kFieldCorrected) {
    auto p = ParseFieldPath(e.field_corrected().path(), "path");
    return p.ok() ? p->section : v1::DATA_SECTION_PROFILE;
  }
  return v1::DATA_SECTION_SERVICES;
}

std::string CaseWorkReferralId(const Event& e) {
  switch (e.payload_case()) {
    case Event::kFieldCorrected: {
      auto p = ParseFieldPath(e.field_corrected().path(), "path");
      return p.ok() && p->target == FieldPath::Target::kReferral ? p->id : "";
    }
    case Event::kServicePlanned:
      return e.service_planned().referral_id();
    case Event::kServicePlanItemUpdated:
      return e.service_plan_item_updated().referral_id();
    case Event::kFollowUpScheduled:
      return e.follow_up_scheduled().referral_id();
    case Event::kFollowUpDone:
      return e.follow_up_done().referral_id();
    default:
      return "";
  }
}

std::vector<std::string> CorrectablePaths() {
  std::vector<std::string> out;
  const Descriptor* profile = v1::Profile::descriptor();
  for (int i = 0; i < profile->field_count(); ++i) {
    out.push_back("profile." + profile->field(i)->name());
  }
  for (const auto& f : ConsentFields()) {
    out.push_back("consents[<consent_id>]." + f);
  }
  for (const auto& f : ReferralFields()) {
    out.push_back("referrals[<referral_id>]." + f);
  }
  return out;
}

Result<FieldPath> ParseFieldPath(std::string_view path, std::string_view field) {
  FieldPath p;
  std::string_view rest;
  std::string canonical_prefix;  // for "did you mean"
  if (path.rfind("profile.", 0) == 0) {
    p.target = FieldPath::Target::kProfile;
    rest = path.substr(8);
    canonical_prefix = "profile.";
  } else {
    const bool consent = path.rfind("consents[", 0) == 0;
    const bool referral = path.rfind("referrals[", 0) == 0;
    const size_t close = path.find("].");
    if ((consent || referral) && close != std::string_view::npos) {
      const size_t open = path.find('[');
      p.target = consent ? FieldPath::Target::kConsent : FieldPath::Target::kReferral;
      p.id = std::string(path.substr(open + 1, close - open - 1));
      rest = path.substr(close + 2);
      canonical_prefix = std::string(consent ? "consents[" : "referrals[") + p.id + "].";
      if (!ValidateUuid(p.id, "id").ok()) {
        return Invalid(std::string(field), Quoted(p.id) + " is not a " +
                                               (consent ? "consent" : "referral") +
                                               " id (a UUID) in " + Quoted(path));
      }
    }
  }
  p.field = std::string(rest);
  std::vector<std::string> allowed;
  switch (p.target) {
    case FieldPath::Target::kProfile: {
      const Descriptor* d = v1::Profile::descriptor();
      for (int i = 0; i < d->field_count(); ++i) {
        allowed.push_back(d->field(i)->name());
      }
      p.section = v1::DATA_SECTION_PROFILE;
      break;
    }
    case FieldPath::Target::kConsent:
      allowed = ConsentFields();
      p.section = v1::DATA_SECTION_CONSENTS;
      break;
    case FieldPath::Target::kReferral:
      allowed = ReferralFields();
      p.section = v1::DATA_SECTION_REFERRALS;
      break;
  }
  if (!canonical_prefix.empty() &&
      std::find(allowed.begin(), allowed.end(), p.field) != allowed.end()) {
    return p;
  }
  // Refused: say why, and the nearest correctable path.
  std::vector<std::string> candidates;
  if (!canonical_prefix.empty()) {
    for (const auto& f : allowed) {
      candidates.push_back(canonical_prefix + f);
    }
  } else {
    candidates = CorrectablePaths();
  }
  std::string reason = Quoted(path) + " is not a field that can be corrected";
  if (!canonical_prefix.empty() && TargetType(p.target)->FindFieldByName(p.field) != nullptr) {
    reason +=
        " (ids, statuses, history, times the case keeps and sealed personal data are not "
        "corrected; docs/case-work.md)";
  }
  std::string near = Nearest(path, candidates, 3);
  if (near.empty() && !canonical_prefix.empty()) {
    std::vector<std::string> names;
    for (const auto& f : allowed) names.push_back(f);
    const std::string f = Nearest(p.field, names, 3);
    near = f.empty() ? "" : canonical_prefix + f;
  }
  if (!near.empty()) {
    reason += "; did you mean " + Quoted(near) + "?";
  } else {
    reason +=
        "; correctable: profile.<field>, consents[<consent_id>].{scope,agency_ids,"
        "agency_types}, referrals[<referral_id>].{service,priority,respond_by_ms,reason}";
  }
  return Invalid(std::string(field), reason);
}

Result<std::string> CurrentValue(const CaseState& state, const FieldPath& path,
                                 std::string_view field) {
  const FieldDescriptor* fd = FieldOf(path);
  switch (path.target) {
    case FieldPath::Target::kProfile:
      return Encode(state.profile(), fd);
    case FieldPath::Target::kConsent: {
      const v1::Consent* c = FindConsent(state, path.id);
      if (c == nullptr) {
        return NotFound("consent " + path.id + " is not recorded in this case", std::string(field));
      }
      return Encode(*c, fd);
    }
    case FieldPath::Target::kReferral: {
      const v1::Referral* r = FindReferral(state, path.id);
      if (r == nullptr) {
        return NotFound("referral " + path.id + " is not in this case", std::string(field));
      }
      return Encode(*r, fd);
    }
  }
  return Status::Internal("unknown target");
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    return "";
  }
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

Result<std::string> CanonicalValueFromText(const FieldPath& path, std::string_view text,
                                           std::string_view field) {
  const FieldDescriptor* fd = FieldOf(path);
  const std::string f(field);
  std::string canonical;
  // The canonical encoding itself?
  v1::Profile profile;
  v1::Consent consent;
  v1::Referral referral;
  Message* probe = path.target == FieldPath::Target::kProfile   ? static_cast<Message*>(&profile)
                   : path.target == FieldPath::Target::kConsent ? static_cast<Message*>(&consent)
                                                                : static_cast<Message*>(&referral);
  if (Decode(text, fd, probe)) {
    canonical = Encode(*probe, fd);
  } else {
    const std::string t = Trim(text);
    if (fd->is_repeated()) {
      canonical = "[";
      size_t start = 0;
      bool first = true;
      while (!t.empty() && start <= t.size()) {
        size_t comma = t.find(',', start);
        if (comma == std::string::npos) comma = t.size();
        const std::string el = PlainElement(fd, t.substr(start, comma - start));
        if (el.empty() || el == "\"\"") {
          return Invalid(f, Quoted(t.substr(start, comma - start)) + " is not " +
                                TypeWords(fd).substr(std::string("a list [..] of ").size()));
        }
        canonical += (first ? "" : ",") + el;
        first = false;
        start = comma + 1;
      }
      canonical += "]";
    } else if (fd->has_presence() && (t == "none" || t == "null" || t.empty())) {
      canonical = "null";
    } else {
      canonical = PlainElement(fd, t);
      if (canonical.empty()) {
        return Invalid(f, Quoted(t) + " is not " + TypeWords(fd));
      }
    }
    probe->Clear();
    if (!Decode(canonical, fd, probe)) {
      return Invalid(f, Quoted(t) + " is not " + TypeWords(fd));
    }
  }
  if (path.target == FieldPath::Target::kProfile) {
    // Countries and subdivisions in normal form, as the case keeps them.
    v1::Profile normal;
    if (!Decode(canonical, fd, &normal)) {
      return Invalid(f, Quoted(text) + " is not " + TypeWords(fd));
    }
    RETURN_IF_ERROR(Named(NormalizeProfile(&normal, "profile"), f));
    canonical = Encode(normal, fd);
  }
  return canonical;
}

std::string ValueWords(const FieldPath& path, std::string_view value) {
  const FieldDescriptor* fd = FieldOf(path);
  if (fd == nullptr) {
    return std::string(value);
  }
  v1::Profile profile;
  v1::Consent consent;
  v1::Referral referral;
  Message* m = path.target == FieldPath::Target::kProfile   ? static_cast<Message*>(&profile)
               : path.target == FieldPath::Target::kConsent ? static_cast<Message*>(&consent)
                                                            : static_cast<Message*>(&referral);
  if (!Decode(value, fd, m)) {
    return std::string(value);
  }
  const Reflection* r = m->GetReflection();
  auto one = [&](int index) -> std::string {
    const bool rep = index >= 0;
    switch (fd->cpp_type()) {
      case FieldDescriptor::CPPTYPE_ENUM:
        return ShortEnumName(fd->enum_type(), rep ? r->GetRepeatedEnumValue(*m, fd, index)
                                                  : r->GetEnumValue(*m, fd));
      case FieldDescriptor::CPPTYPE_STRING: {
        const std::string s = rep ? r->GetRepeatedString(*m, fd, index) : r->GetString(*m, fd);
        return s.empty() ? "(empty)" : s;
      }
      case FieldDescriptor::CPPTYPE_INT64: {
        const int64_t v = r->GetInt64(*m, fd);
        return fd->name().size() > 3 && fd->name().substr(fd->name().size() - 3) == "_ms"
                   ? FormatUtcMs(v)
                   : std::to_string(v);
      }
      default: {
        std::string out;
        EncodeElement(*m, fd, index, &out);
        return out;
      }
    }
  };
  if (fd->is_repeated()) {
    std::string out;
    for (int i = 0; i < r->FieldSize(*m, fd); ++i) {
      out += (i == 0 ? "" : ", ") + one(i);
    }
    return out.empty() ? "none" : out;
  }
  if (fd->has_presence() && !r->HasField(*m, fd)) {
    return "none";
  }
  return one(-1);
}

std::string PathWords(const FieldPath& path) {
  switch (path.target) {
    case FieldPath::Target::kConsent:
      return "consent " + path.id + ": " + path.field;
    case FieldPath::Target::kReferral:
      return "referral " + path.id + ": " + path.field;
    case FieldPath::Target::kProfile:
      break;
  }
  return "profile: " + path.field;
}

const v1::ServicePlanItem* FindPlanItem(const CaseState& state, std::string_view item_id,
                                        const v1::Referral** referral) {
  for (const v1::Referral& r : state.referrals()) {
    for (const v1::ServicePlanItem& i : r.plan()) {
      if (i.item_id() == item_id) {
        if (referral != nullptr) *referral = &r;
        return &i;
      }
    }
  }
  return nullptr;
}

const v1::FollowUp* FindFollowUp(const CaseState& state, std::string_view follow_up_id,
                                 const v1::Referral** referral) {
  for (const v1::Referral& r : state.referrals()) {
    for (const v1::FollowUp& f : r.follow_ups()) {
      if (f.follow_up_id() == follow_up_id) {
        if (referral != nullptr) *referral = &r;
        return &f;
      }
    }
  }
  return nullptr;
}

int64_t DateStartMs(std::string_view date) {
  if (date.size() != 10) {
    return 0;
  }
  const int y = std::stoi(std::string(date.substr(0, 4)));
  const unsigned m = static_cast<unsigned>(std::stoi(std::string(date.substr(5, 2))));
  const unsigned d = static_cast<unsigned>(std::stoi(std::string(date.substr(8, 2))));
  return DaysFromCivil(y, m, d) * kDayMs;
}

std::vector<Reminder> DueReminders(const std::vector<const CaseState*>& cases,
                                   std::string_view agency, int64_t now_ms, uint32_t within_days) {
  const int64_t today = now_ms - (now_ms % kDayMs + kDayMs) % kDayMs;
  const int64_t last_day = today + static_cast<int64_t>(within_days) * kDayMs;
  std::vector<Reminder> out;
  for (const CaseState* s : cases) {
    if (s == nullptr || s->closed()) {
      continue;
    }
    for (const v1::Referral& r : s->referrals()) {
      if (r.to_agency() != agency || !IsLive(r.status())) {
        continue;
      }
      auto add = [&](const std::string& id, bool follow_up, const std::string& due,
                     const std::string& what) {
        const int64_t day = DateStartMs(due);
        if (day > last_day) {
          return;
        }
        Reminder m;
        m.case_id = s->case_id();
        m.case_reference = s->reference();
        m.referral_id = r.referral_id();
        m.id = id;
        m.follow_up = follow_up;
        m.due_date = due;
        m.what = what;
        m.overdue = day < today;
        out.push_back(std::move(m));
      };
      for (const v1::ServicePlanItem& i : r.plan()) {
        if (i.status() == v1::PLAN_ITEM_STATUS_PLANNED) {
          add(i.item_id(), false, i.due_date(),
              ShortEnumName(v1::ServiceType_descriptor(), i.service()) +
                  (i.note().empty() ? "" : " (" + i.note() + ")"));
        }
      }
      for (const v1::FollowUp& f : r.follow_ups()) {
        if (!f.done()) {
          add(f.follow_up_id(), true, f.due_date(), f.purpose());
        }
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Reminder& a, const Reminder& b) {
    return std::tie(a.due_date, a.case_id, a.id) < std::tie(b.due_date, b.case_id, b.id);
  });
  return out;
}

std::string RenderReminders(const std::vector<Reminder>& reminders) {
  if (reminders.empty()) {
    return "";
  }
  std::string out = "due or overdue plan items and follow-ups:\n";
  for (const Reminder& m : reminders) {
    out += "  " + m.due_date + (m.overdue ? " OVERDUE " : "         ") +
           (m.follow_up ? "follow-up " : "plan item ") + m.id + "  " + m.what + "  case " +
           (m.case_reference.empty() ? m.case_id : m.case_reference) + "  referral " +
           m.referral_id + "\n";
  }
  return out;
}

std::string RemindersJson(const std::vector<Reminder>& reminders) {
  std::string out = "[";
  for (const Reminder& m : reminders) {
    if (out.size() > 1) out += ",";
    out += "{\"kind\":" + JsonQuote(m.follow_up ? "follow_up" : "plan_item") +
           ",\"id\":" + JsonQuote(m.id) + ",\"case_id\":" + JsonQuote(m.case_id) +
           ",\"case_reference\":" + JsonQuote(m.case_reference) +
           ",\"referral_id\":" + JsonQuote(m.referral_id) +
           ",\"due_date\":" + JsonQuote(m.due_date) + ",\"what\":" + JsonQuote(m.what) +
           ",\"overdue\":" + (m.overdue ? "true" : "false") + "}";
  }
  return out + "]";
}

}  // namespace passage::core
