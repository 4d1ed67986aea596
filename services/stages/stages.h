#pragma once

// The stage logic of the agency nodes.
//
// IdentificationLogic (passage-identification): intake of a presumed victim — validation with
// field-level errors, sealing of personal data on this machine, then CaseOpened,
// IdentificationRecorded and the consents, published in order. Nothing is published when any part
// of the intake is invalid.
//
// RecipientLogic (passage-protection, passage-prosecution): confirms receipt of every referral
// addressed to the agency once it is durable in the node's journal (RECEIVED), reads the case data the
// referral grants (the broker records the read), and — with auto_accept — accepts while the agency is
// under its declared capacity and declines (CAPACITY_FULL) above it. Case workers make every other
// move through passagectl. The policy is level-triggered: each tick re-checks the inbox, so a crash
// between two steps is mended on the next tick, with stable event ids so nothing happens twice.

#include <memory>

#include "services/node/node.h"

namespace passage::stages {

std::unique_ptr<node::StageLogic> MakeIdentificationLogic();
std::unique_ptr<node::StageLogic> MakeRecipientLogic(const std::string& name);

}  // namespace passage::stages
