// The node's side of case work (docs/case-work.md): corrections (CorrectRequest) and service
// plans and follow-ups (PlanRequest). Each request becomes one event, checked by the broker like
// any other; the node fills in what a person should not have to type (the old value's hash, new
// ids) from its own view of the case.

#include "core/case_work.h"

#include "core/case_reference.h"
#include "core/codes.h"
#include "core/ids.h"
#include "services/node/node.h"

namespace passage::node {
namespace {

namespace v1 = passage::v1;

void Fail(v1::ControlResponse* r, const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      r->set_code(v1::CONTROL_CODE_INVALID);
      break;
    case StatusCode::kNotFound:
      r->set_code(v1::CONTROL_CODE_NOT_FOUND);
      break;
    case StatusCode::kPermissionDenied:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists:
      r->set_code(v1::CONTROL_CODE_REFUSED);
      break;
    case StatusCode::kUnavailable:
      r->set_code(v1::CONTROL_CODE_UNAVAILABLE);
      break;
    default:
      r->set_code(v1::CONTROL_CODE_INTERNAL);
      break;
  }
  r->set_field(s.field());
  r->set_reason(s.message());
}

}  // namespace

Result<std::string> Node::CaseIdFor(const std::string& text) {
  if (text.empty()) {
    return Status::InvalidArgument("case_id", "name the case (its id or its reference)");
  }
  if (core::LooksLikeCaseReference(text)) {
    return ResolveCase(text, "case_id");
  }
  RETURN_IF_ERROR(core::ValidateUuid(text, "case_id"));
  return text;
}

v1::ControlResponse Node::Correct(const v1::CorrectRequest& req) {
  v1::ControlResponse resp;
  auto case_id = CaseIdFor(req.case_id());
  if (!case_id.ok()) {
    Fail(&resp, case_id.status());
    return resp;
  }
  auto path = core::ParseFieldPath(req.path(), "path");
  if (!path.ok()) {
    Fail(&resp, path.status());
    return resp;
  }
  auto new_value = core::CanonicalValueFromText(*path, req.new_value(), "new_value");
  if (!new_value.ok()) {
    Fail(&resp, new_value.status());
    return resp;
  }
  std::string old_hash = req.old_value_sha256();
  std::string old_value;
  {
    auto view = View(*case_id);
    if (!view.ok()) {
      Fail(&resp, view.status());
      resp.set_field("case_id");
      return resp;
    }
    auto current = core::CurrentValue((*view)->state(), *path, "path");
    if (!current.ok()) {
      Fail(&resp, current.status());
      return resp;
    }
    old_value = *current;
    if (old_hash.empty()) {
      old_hash = core::Sha256Hex(*current);
    }
  }
  v1::Event e;
  e.set_case_id(*case_id);
  auto* c = e.mutable_field_corrected();
  c->set_path(req.path());
  c->set_old_value_sha256(old_hash);
  c->set_new_value(*new_value);
  c->set_reason(req.reason());
  auto id = Publish(e);
  if (!id.ok()) {
    Fail(&resp, id.status());
    return resp;
  }
  AwaitResults({*id}, 5000, &resp);
  if (resp.code() == v1::CONTROL_CODE_OK) {
    resp.set_text("corrected " + core::PathWords(*path) + ": " +
                  core::ValueWords(*path, old_value) + " -> " +
                  core::ValueWords(*path, *new_value) + " (event " + *id + ")");
    resp.set_json("{\"event_id\":\"" + *id + "\",\"case_id\":" + core::JsonQuote(*case_id) +
                  ",\"path\":" + core::JsonQuote(req.path()) +
                  ",\"old_value_sha256\":" + core::JsonQuote(old_hash) +
                  ",\"new_value\":" + core::JsonQuote(*new_value) + "}");
  }
  return resp;
}

v1::ControlResponse Node::Plan(const v1::PlanRequest& req) {
  v1::ControlResponse resp;
  using A = v1::PlanRequest;
  if (req.action() == A::ACTION_DUE) {
    const uint32_t days = req.within_days() == 0 ? 7 : req.within_days();
    if (days > 366) {
      Fail(&resp, Status::InvalidArgument("within_days", "at most 366 days"));
      return resp;
    }
    const auto due = core::DueReminders(KnownStates(), agency(), now_ms(), days);
    resp.set_text(due.empty() ? "nothing due within " + std::to_string(days) + " days\n"
                              : core::RenderReminders(due));
    resp.set_json("{\"within_days\":" + std::to_string(days) +
                  ",\"reminders\":" + core::RemindersJson(due) + "}");
    return resp;
  }
  if (req.action() == A::ACTION_UNSPECIFIED || !A::Action_IsValid(req.action())) {
    Fail(&resp, Status::InvalidArgument("action", "name what to do with the plan"));
    return resp;
  }
  auto case_id = CaseIdFor(req.case_id());
  if (!case_id.ok()) {
    Fail(&resp, case_id.status());
    return resp;
  }
  v1::Event e;
  e.set_case_id(*case_id);
  std::string what;
  std::string new_id;
  // Marking an item: the node finds its referral in its view of the case.
  auto referral_of = [&](bool follow_up) -> Result<std::string> {
    auto view = View(*case_id);
    if (!view.ok()) {
      return Status(StatusCode::kNotFound, view.status().message(), "case_id");
    }
    const v1::Referral* r = nullptr;
    const bool found = follow_up
                           ? core::FindFollowUp((*view)->state(), req.item_id(), &r) != nullptr
                           : core::FindPlanItem((*view)->state(), req.item_id(), &r) != nullptr;
    if (!found) {
      return Status(StatusCode::kNotFound,
                    std::string(follow_up ? "no follow-up " : "no planned service ") +
                        req.item_id() + " in case " + *case_id + " as " + agency() + " knows it",
                    "item_id");
    }
    return r->referral_id();
  };
  switch (req.action()) {
    case A::ACTION_ADD_ITEM: {
      new_id = core::NewUuidV7();
      auto* s = e.mutable_service_planned();
      s->set_referral_id(req.referral_id());
      s->mutable_item()->set_item_id(new_id);
      s->mutable_item()->set_service(req.service());
      s->mutable_item()->set_due_date(req.due_date());
      s->mutable_item()->set_note(req.note());
      what = "planned " + core::ShortEnumName(v1::ServiceType_descriptor(), req.service()) +
             " due " + req.due_date() + " as item " + new_id;
      break;
    }
    case A::ACTION_ITEM_DONE:
    case A::ACTION_ITEM_NOT_DONE: {
      auto referral = referral_of(false);
      if (!referral.ok()) {
        Fail(&resp, referral.status());
        return resp;
      }
      auto* u = e.mutable_service_plan_item_updated();
      u->set_referral_id(*referral);
      u->set_item_id(req.item_id());
      const bool done = req.action() == A::ACTION_ITEM_DONE;
      u->set_to(done ? v1::PLAN_ITEM_STATUS_DONE : v1::PLAN_ITEM_STATUS_NOT_DONE);
      u->set_reason(req.reason());
      what = "marked item " + req.item_id() + (done ? " done" : " not done");
      break;
    }
    case A::ACTION_ADD_FOLLOW_UP: {
      new_id = core::NewUuidV7();
      auto* s = e.mutable_follow_up_scheduled();
      s->set_referral_id(req.referral_id());
      s->mutable_follow_up()->set_follow_up_id(new_id);
      s->mutable_follow_up()->set_due_date(req.due_date());
      s->mutable_follow_up()->set_purpose(req.note());
      what = "scheduled follow-up " + new_id + " for " + req.due_date();
      break;
    }
    case A::ACTION_FOLLOW_UP_DONE: {
      auto referral = referral_of(true);
      if (!referral.ok()) {
        Fail(&resp, referral.status());
        return resp;
      }
      e.mutable_follow_up_done()->set_referral_id(*referral);
      e.mutable_follow_up_done()->set_follow_up_id(req.item_id());
      what = "marked follow-up " + req.item_id() + " done";
      break;
    }
    default:
      break;
  }
  auto id = Publish(e);
  if (!id.ok()) {
    Fail(&resp, id.status());
    return resp;
  }
  AwaitResults({*id}, 5000, &resp);
  if (resp.code() == v1::CONTROL_CODE_OK) {
    resp.set_text(what + " (event " + *id + ")");
    resp.set_json("{\"event_id\":\"" + *id + "\",\"case_id\":" + core::JsonQuote(*case_id) +
                  (new_id.empty() ? std::string() : ",\"id\":" + core::JsonQuote(new_id)) + "}");
  }
  return resp;
}

}  // namespace passage::node
