#include "services/node/access.h"

#include <algorithm>

#include "core/roles.h"

namespace passage::node {
namespace {

namespace v1 = passage::v1;
using R = v1::ControlRequest;

constexpr v1::ActorRole kCw = v1::ACTOR_ROLE_CASE_WORKER;
constexpr v1::ActorRole kSup = v1::ACTOR_ROLE_SUPERVISOR;
constexpr v1::ActorRole kDo = v1::ACTOR_ROLE_DATA_OFFICER;
constexpr v1::ActorRole kCo = v1::ACTOR_ROLE_COORDINATOR;
constexpr v1::ActorRole kAud = v1::ACTOR_ROLE_AUDITOR;
constexpr v1::ActorRole kAdm = v1::ACTOR_ROLE_NODE_ADMIN;

}  // namespace

std::vector<v1::ActorRole> RolesForCommand(const v1::ControlRequest& req) {
  switch (req.command_case()) {
    case R::kStatus:
    case R::kWhoami:
    case R::kLogout:
    case R::kPasswd:
    case R::kPreferences:
      return {kCw, kSup, kCo, kDo, kAud, kAdm};
    case R::kInbox:
    case R::kFeed:
      return {kCw, kSup, kCo};
    case R::kIntake:
    case R::kReferralAction:
    case R::kPersonal:
    case R::kDocument:
    case R::kCorrect:
      return {kCw, kSup};
    case R::kNote:
      if (req.note().has_list()) {
        return {kCw, kSup, kCo, kAud};  // who wrote what when: no text
      }
      return {kCw, kSup};
    case R::kPlan:
      if (req.plan().action() == v1::PlanRequest::ACTION_DUE) {
        return {kCw, kSup, kCo};  // as the inbox
      }
      return {kCw, kSup};
    case R::kJourney:
      return {kCw, kSup, kCo, kAud};
    case R::kFind:
      if (!req.find().name().empty() || !req.find().date_of_birth().empty()) {
        return {kCw, kSup};  // those who may open personal data
      }
      return {kCw, kSup, kCo, kAud};
    case R::kCases:
      return {kCw, kSup, kCo, kDo, kAud};
    case R::kStats:
    case R::kReport:
    case R::kCrimeReport:
      return {kDo, kCo, kSup};
    case R::kExportCtdc:
      return {kDo};
    case R::kFhir:
      // Export reads a referral (ids and codes); import sends one, as a referral by hand does.
      if (req.fhir().has_import_bundle()) {
        return {kCw, kSup};
      }
      return {kCw, kSup, kCo};
    case R::kTreeHead:
    case R::kConsistency:
      return {kAud, kCo};
    case R::kStaff:
    case R::kApiKeyAdmin:
      return {kAdm};
    case R::kPublish: {
      const v1::Event& e = req.publish().event();
      if (e.has_referral_sent() && e.referral_sent().referral().has_consent_override()) {
        return {kSup};
      }
      if (e.has_record_accessed()) {
        return {};  // the node records reads itself; nobody types one in
      }
      std::vector<v1::ActorRole> out;
      for (auto r : core::RolesForEvent(e.payload_case())) {
        if (r != v1::ACTOR_ROLE_SYSTEM) {
          out.push_back(r);
        }
      }
      return out;
    }
    default:
      return {};
  }
}

std::string CommandName(const v1::ControlRequest& req) {
  switch (req.command_case()) {
    case R::kStatus:
      return "status";
    case R::kWhoami:
      return "whoami";
    case R::kLogout:
      return "logout";
    case R::kLogin:
      return "login";
    case R::kInbox:
      return "inbox";
    case R::kIntake:
      return "intake";
    case R::kReferralAction:
      return "referral action";
    case R::kPersonal:
      return "personal";
    case R::kNote:
      return req.note().has_add() ? "note add" : req.note().has_open() ? "note open" : "note list";
    case R::kDocument:
      return req.document().has_attach() ? "document attach" : "document open";
    case R::kCorrect:
      return "correct";
    case R::kPlan:
      switch (req.plan().action()) {
        case v1::PlanRequest::ACTION_ADD_FOLLOW_UP:
          return "followup add";
        case v1::PlanRequest::ACTION_FOLLOW_UP_DONE:
          return "followup done";
        case v1::PlanRequest::ACTION_ITEM_DONE:
          return "plan done";
        case v1::PlanRequest::ACTION_ITEM_NOT_DONE:
          return "plan not-done";
        case v1::PlanRequest::ACTION_DUE:
          return "plan due";
        default:
          return "plan add";
      }
    case R::kJourney:
      return "journey";
    case R::kFind:
      return "find";
    case R::kCases:
      return "cases";
    case R::kStats:
      return "stats";
    case R::kReport:
      return "report";
    case R::kCrimeReport:
      return "crime report";
    case R::kExportCtdc:
      return "export";
    case R::kFhir:
      return req.fhir().has_import_bundle() ? "fhir import" : "fhir export";
    case R::kTreeHead:
      return "audit heads";
    case R::kConsistency:
      return "audit consistency";
    case R::kStaff:
      return "staff";
    case R::kApiKeyAdmin:
      return "apikey";
    case R::kFeed:
      return "feed";
    case R::kPasswd:
      return "passwd";
    case R::kPreferences:
      return "preferences";
    case R::kPublish: {
      const auto* field = req.publish().event().GetReflection()->GetOneofFieldDescriptor(
          req.publish().event(), v1::Event::descriptor()->FindOneofByName("payload"));
      return "publish " + (field != nullptr ? field->name() : std::string("(no payload)"));
    }
    default:
      return "unknown command";
  }
}

v1::ActorRole ActingRole(const std::vector<v1::ActorRole>& allowed,
                         const std::vector<v1::ActorRole>& held) {
  for (auto r : allowed) {
    if (std::find(held.begin(), held.end(), r) != held.end()) {
      return r;
    }
  }
  return v1::ACTOR_ROLE_UNSPECIFIED;
}

}  // namespace passage::node
