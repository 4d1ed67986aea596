#pragma once

// Which staff role may run which command on an agency node: the node's half of docs/roles.md (the
// broker's half, which roles may make which move on a case, is core/roles.h). The node refuses a
// command none of the signed-in account's roles may run, and acts in the first role of the
// command's list that the account holds.
//
// Pure; thread-safe (constant tables).

#include <string>
#include <vector>

#include "passage/v1/common.pb.h"
#include "passage/v1/control.pb.h"

namespace passage::node {

// The roles that may run `req`, in the order the node prefers when the account holds several.
// Empty for `login` (no session needed) and for an unset command. For `publish`, the roles
// core::RolesForEvent allows for the event's kind, less SYSTEM; a referral with a consent override
// needs a supervisor.
std::vector<passage::v1::ActorRole> RolesForCommand(const passage::v1::ControlRequest& req);

// The command's name as passagectl and docs/roles.md spell it ("referral action", "publish
// consent_withdrawn", ...).
std::string CommandName(const passage::v1::ControlRequest& req);

// The acting role: the first of `allowed` that `held` contains; UNSPECIFIED when none.
passage::v1::ActorRole ActingRole(const std::vector<passage::v1::ActorRole>& allowed,
                                  const std::vector<passage::v1::ActorRole>& held);

}  // namespace passage::node
