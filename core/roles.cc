#include "core/roles.h"

#include <algorithm>
#include <cctype>

namespace passage::core {
namespace {

namespace v1 = passage::v1;
using E = v1::Event;

constexpr v1::ActorRole kCw = v1::ACTOR_ROLE_CASE_WORKER;
constexpr v1::ActorRole kSup = v1::ACTOR_ROLE_SUPERVISOR;
constexpr v1::ActorRole kDo = v1::ACTOR_ROLE_DATA_OFFICER;
constexpr v1::ActorRole kCo = v1::ACTOR_ROLE_COORDINATOR;
constexpr v1::ActorRole kAud = v1::ACTOR_ROLE_AUDITOR;
constexpr v1::ActorRole kSys = v1::ACTOR_ROLE_SYSTEM;

}  // namespace

const std::vector<v1::ActorRole>& RolesForEvent(E::PayloadCase payload) {
  static const std::vector<v1::ActorRole> kNone;
  static const std::vector<v1::ActorRole> kCaseWork{kCw, kSup};
  static const std::vector<v1::ActorRole> kCaseWorkOrSystem{kCw, kSup, kSys};
  static const std::vector<v1::ActorRole> kSupervisorOnly{kSup};
  static const std::vector<v1::ActorRole> kAnyReader{kCw, kSup, kCo, kDo, kAud, kSys};
  switch (payload) {
    case E::kCaseOpened:
    case E::kIdentificationRecorded:
    case E::kConsentGiven:
    case E::kConsentWithdrawn:
    case E::kServiceDelivered:
    case E::kCriminalProceedingUpdated:
    case E::kReturnRecorded:
    case E::kOffenceRegistered:
    case E::kOffenceStatusChanged:
    case E::kSuspectRecorded:
    case E::kAccusedUpdated:
    case E::kSmugglingRecorded:
    case E::kNoteAdded:
    case E::kDocumentAttached:
    case E::kFieldCorrected:
    case E::kServicePlanned:
    case E::kServicePlanItemUpdated:
    case E::kFollowUpScheduled:
    case E::kFollowUpDone:
      return kCaseWork;
    case E::kProfileUpdated:      // SYSTEM: the owner's node re-wraps sealed data for recipients
    case E::kSuspectIdentityResealed:  // SYSTEM: the recording node re-wraps for new holders
    case E::kNoteResealed:        // SYSTEM: the writing node re-wraps for new holders
    case E::kPersonalKeysEscrowed:  // made by the owner's node at intake, as part of it
    case E::kReferralSent:        // SYSTEM: the referral engine sends on the owner's behalf
    case E::kReferralTransition:  // SYSTEM: automatic receipt, expiry, acceptance by policy
      return kCaseWorkOrSystem;
    case E::kCaseClosed:
      return kSupervisorOnly;
    case E::kRecordAccessed:
      return kAnyReader;
    default:
      return kNone;
  }
}

std::string RoleWords(v1::ActorRole role) {
  switch (role) {
    case v1::ACTOR_ROLE_CASE_WORKER:
      return "case worker";
    case v1::ACTOR_ROLE_SUPERVISOR:
      return "supervisor";
    case v1::ACTOR_ROLE_DATA_OFFICER:
      return "data officer";
    case v1::ACTOR_ROLE_COORDINATOR:
      return "coordinator";
    case v1::ACTOR_ROLE_AUDITOR:
      return "auditor";
    case v1::ACTOR_ROLE_SYSTEM:
      return "system";
    case v1::ACTOR_ROLE_NODE_ADMIN:
      return "node admin";
    default:
      return "no role";
  }
}

std::string RoleList(const std::vector<v1::ActorRole>& roles) {
  std::string out;
  for (auto r : roles) {
    out += out.empty() ? "" : ", ";
    out += RoleWords(r);
  }
  return out.empty() ? "none" : out;
}

Result<v1::ActorRole> ParseStaffRole(std::string_view text, std::string_view field) {
  std::string t;
  for (char c : text) {
    t +=
        c == '-' || c == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (t.rfind("ACTOR_ROLE_", 0) != 0) {
    t = "ACTOR_ROLE_" + t;
  }
  v1::ActorRole role;
  if (!v1::ActorRole_Parse(t, &role) || role == v1::ACTOR_ROLE_UNSPECIFIED ||
      role == v1::ACTOR_ROLE_SYSTEM) {
    return Status::InvalidArgument(std::string(field),
                                   "'" + std::string(text) +
                                       "' is not a staff role (case-worker, supervisor, "
                                       "data-officer, coordinator, auditor, node-admin)");
  }
  return role;
}

Status CheckActorRole(const E& e) {
  const auto& allowed = RolesForEvent(e.payload_case());
  if (allowed.empty()) {
    return Status::Ok();  // configuration events and unset payloads are judged elsewhere
  }
  if (std::find(allowed.begin(), allowed.end(), e.actor_role()) == allowed.end()) {
    return Status::PermissionDenied("a " + RoleWords(e.actor_role()) +
                                        " may not make this move (allowed: " + RoleList(allowed) +
                                        "; docs/roles.md)",
                                    "actor_role");
  }
  return Status::Ok();
}

}  // namespace passage::core
