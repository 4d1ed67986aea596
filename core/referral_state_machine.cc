#include "core/referral_state_machine.h"

#include <string>

#include "core/codes.h"

namespace passage::core {
namespace {

using passage::v1::ReferralStatus;

constexpr ReferralStatus kNew = passage::v1::REFERRAL_STATUS_UNSPECIFIED;
constexpr ReferralStatus kSent = passage::v1::REFERRAL_STATUS_SENT;
constexpr ReferralStatus kReceived = passage::v1::REFERRAL_STATUS_RECEIVED;
constexpr ReferralStatus kAccepted = passage::v1::REFERRAL_STATUS_ACCEPTED;
constexpr ReferralStatus kRejected = passage::v1::REFERRAL_STATUS_REJECTED;
constexpr ReferralStatus kInProgress = passage::v1::REFERRAL_STATUS_IN_PROGRESS;
constexpr ReferralStatus kOnHold = passage::v1::REFERRAL_STATUS_ON_HOLD;
constexpr ReferralStatus kCompleted = passage::v1::REFERRAL_STATUS_COMPLETED;
constexpr ReferralStatus kFailed = passage::v1::REFERRAL_STATUS_FAILED;
constexpr ReferralStatus kCancelRequested = passage::v1::REFERRAL_STATUS_CANCEL_REQUESTED;
constexpr ReferralStatus kCancelled = passage::v1::REFERRAL_STATUS_CANCELLED;
constexpr ReferralStatus kExpired = passage::v1::REFERRAL_STATUS_EXPIRED;

// Sides as bits, so one rule can name two sides.
constexpr unsigned kBySender = 1u << 0;
constexpr unsigned kByRecipient = 1u << 1;
constexpr unsigned kBySystem = 1u << 2;

unsigned Bit(Side side) {
  switch (side) {
    case Side::kSender:
      return kBySender;
    case Side::kRecipient:
      return kByRecipient;
    case Side::kSystem:
      return kBySystem;
  }
  return 0;
}

struct Rule {
  ReferralStatus from;
  ReferralStatus to;
  unsigned sides;
  const char* verb;  // "only the recipient may <verb> a referral"
};

// The table of docs/architecture.md, row by row (consent-withdrawn cancellation is handled separately).
constexpr Rule kRules[] = {
    {kNew, kSent, kBySender | kBySystem, "send"},
    {kSent, kReceived, kByRecipient, "mark as received"},
    {kSent, kCancelled, kBySender, "cancel"},
    {kSent, kExpired, kBySystem, "expire"},
    {kReceived, kExpired, kBySystem, "expire"},
    {kReceived, kAccepted, kByRecipient, "accept"},
    {kReceived, kRejected, kByRecipient, "reject"},
    {kAccepted, kInProgress, kByRecipient, "start work on"},
    {kReceived, kOnHold, kByRecipient, "put on hold"},
    {kAccepted, kOnHold, kByRecipient, "put on hold"},
    {kOnHold, kReceived, kByRecipient, "resume"},
    {kOnHold, kAccepted, kByRecipient, "resume"},
    {kAccepted, kCompleted, kByRecipient, "complete"},
    {kAccepted, kFailed, kByRecipient, "mark as failed"},
    {kInProgress, kCompleted, kByRecipient, "complete"},
    {kInProgress, kFailed, kByRecipient, "mark as failed"},
    {kReceived, kCancelRequested, kBySender, "request cancellation of"},
    {kAccepted, kCancelRequested, kBySender, "request cancellation of"},
    {kOnHold, kCancelRequested, kBySender, "request cancellation of"},
    {kInProgress, kCancelRequested, kBySender, "request cancellation of"},
    {kCancelRequested, kCancelled, kByRecipient, "confirm the cancellation of"},
    {kCancelRequested, kCompleted, kByRecipient, "complete"},
};

const Rule* FindRule(ReferralStatus from, ReferralStatus to) {
  for (const Rule& r : kRules) {
    if (r.from == from && r.to == to) {
      return &r;
    }
  }
  return nullptr;
}

std::string Named(std::string_view role, std::string_view agency) {
  std::string out(role);
  if (!agency.empty()) {
    out += " (";
    out += agency;
    out += ")";
  }
  return out;
}

std::string WhoMay(unsigned sides, const TransitionRequest& r) {
  std::string who;
  auto add = [&who](const std::string& part) {
    if (!who.empty()) {
      who += " or ";
    }
    who += part;
  };
  if ((sides & kBySender) != 0) {
    add(Named("the sender", r.sender_agency));
  }
  if ((sides & kByRecipient) != 0) {
    add(Named("the recipient", r.recipient_agency));
  }
  if ((sides & kBySystem) != 0) {
    add("the system (referral engine)");
  }
  return who;
}

Status Refuse(std::string field, std::string message) {
  return Status::FailedPrecondition(std::move(message), std::move(field));
}

}  // namespace

std::string_view SideName(Side side) {
  switch (side) {
    case Side::kSender:
      return "sender";
    case Side::kRecipient:
      return "recipient";
    case Side::kSystem:
      return "system";
  }
  return "unknown";
}

bool IsTerminal(ReferralStatus status) {
  switch (status) {
    case kRejected:
    case kCompleted:
    case kFailed:
    case kCancelled:
    case kExpired:
      return true;
    default:
      return false;
  }
}

bool IsLive(ReferralStatus status) {
  switch (status) {
    case kSent:
    case kReceived:
    case kAccepted:
    case kInProgress:
    case kOnHold:
    case kCancelRequested:
      return true;
    default:
      return false;
  }
}

ReferralStatus HeldFrom(const passage::v1::Referral& referral) {
  if (referral.status() != kOnHold) {
    return kNew;
  }
  for (int i = referral.history_size() - 1; i >= 0; --i) {
    const passage::v1::ReferralTransitionRecord& rec = referral.history(i);
    if (rec.to() == kOnHold) {
      return rec.from();
    }
  }
  return kNew;
}

bool WasAccepted(const passage::v1::Referral& referral) {
  for (const passage::v1::ReferralTransitionRecord& rec : referral.history()) {
    if (rec.to() == kAccepted) {
      return true;
    }
  }
  return false;
}

Result<ReferralStatus> CheckTransition(const TransitionRequest& r) {
  const std::string to_name = ReferralStatusName(r.to);
  const std::string from_name = ReferralStatusName(r.from);
  if (!passage::v1::ReferralStatus_IsValid(r.to) || r.to == kNew) {
    return Refuse("to", "'" + to_name + "' is not a state a referral can move to");
  }
  if (!passage::v1::ReferralStatus_IsValid(r.from)) {
    return Refuse("to", "the referral is in an unknown state " + from_name);
  }
  if (IsTerminal(r.from)) {
    return Refuse("to", "a referral in " + from_name + " is terminal");
  }
  if (r.from == kNew && r.to != kSent) {
    return Refuse("to", "a new referral can only be SENT, not " + to_name);
  }
  if (r.from != kNew && r.to == kSent) {
    return Refuse("to",
                  "a referral is SENT only once, when it is created (it is in " + from_name + ")");
  }
  if (r.from == r.to) {
    return Refuse("to", "the referral is already " + from_name);
  }
  if (r.consent_withdrawn) {
    if (r.to != kCancelled) {
      return Refuse("to",
                    "a consent withdrawal can only cancel a referral, not move it to " + to_name);
    }
    return r.to;  // any side, from any live state
  }
  const Rule* rule = FindRule(r.from, r.to);
  if (rule == nullptr) {
    return Refuse("to", "a referral cannot move from " + from_name + " to " + to_name);
  }
  if ((rule->sides & Bit(r.side)) == 0) {
    std::string message = "only " + WhoMay(rule->sides, r) + " may " + rule->verb + " a referral";
    if (r.from == kSent && r.to == kCancelled) {
      message += " before it is received";
    } else if (r.to == kExpired) {
      message += " once its respond-by time has passed";
    }
    return Refuse("to", message);
  }
  if (r.to == kRejected && (r.reason == passage::v1::REJECT_REASON_UNSPECIFIED ||
                            !passage::v1::RejectReason_IsValid(r.reason))) {
    return Refuse("reason", "REJECTED needs a reason");
  }
  if ((r.to == kCompleted || r.to == kFailed) && !r.has_outcome) {
    return Refuse("outcome", to_name + " needs an outcome");
  }
  if (r.from == kOnHold && (r.to == kReceived || r.to == kAccepted) && r.held_from != kNew &&
      r.to != r.held_from) {
    return Refuse("to", "a referral put on hold from " + ReferralStatusName(r.held_from) +
                            " resumes only to " + ReferralStatusName(r.held_from));
  }
  return r.to;
}

}  // namespace passage::core
