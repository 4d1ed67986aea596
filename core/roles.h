#pragma once

// Which staff role may make which move on a case: the part of docs/roles.md that the broker
// enforces for every agency. The agency's node proves who the person is and which roles the account
// holds (services/node/staff.h); the broker trusts the node for that and checks here only that the
// role named in the event may make this kind of move (docs/security.md, "trust boundary").
//
// Pure; thread-safe (constant tables).

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "passage/v1/common.pb.h"
#include "passage/v1/events.pb.h"

namespace passage::core {

// The roles that may publish an event with this payload, in the order a node prefers when the
// signed-in account holds several (the first held one acts). Empty for configuration events and
// an unset payload.
const std::vector<passage::v1::ActorRole>& RolesForEvent(passage::v1::Event::PayloadCase payload);

// PermissionDenied naming `actor_role` when e.actor_role() may not make this move; a consent
// override additionally needs a role the sending agency's registry entry allows (checked by
// CaseProjection::Check).
Status CheckActorRole(const passage::v1::Event& e);

// "case worker", "data officer", ... (the words people use; docs/roles.md).
std::string RoleWords(passage::v1::ActorRole role);
// Parses "case-worker", "case_worker", "CASE_WORKER", "ACTOR_ROLE_CASE_WORKER", "supervisor"...
// InvalidArgument naming `field` for anything else (SYSTEM is not a role a person can hold).
Result<passage::v1::ActorRole> ParseStaffRole(std::string_view text, std::string_view field);
// Comma-separated RoleWords of `roles`.
std::string RoleList(const std::vector<passage::v1::ActorRole>& roles);

}  // namespace passage::core
