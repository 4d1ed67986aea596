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
  const char* it;    // the same move said of "it": "(now the recipient may <it>)"
};

// The table of docs/architecture.md, row by row (consent-withdrawn cancellation is handled separately).
constexpr Rule kRules[] = {
    {kNew, kSent, kBySender | kBySystem, "send", "send it"},
    {kSent, kReceived, kByRecipient, "mark as received", "mark it as received"},
    {kSent, kCancelled, kBySender, "cancel", "cancel it"},
    {kSent, kExpired, kBySystem, "expire", "expire it"},
    {kReceived, kExpired, kBySystem, "expire", "expire it"},
    {kReceived, kAccepted, kByRecipient, "accept", "accept it"},
    {kReceived, kRejected, kByRecipient, "reject", "reject it"},
    {kAccepted, kInProgress, kByRecipient, "start work on", "start work on it"},
    {kReceived, kOnHold, kByRecipient, "put on hold", "put it on hold"},
    {kAccepted, kOnHold, kByRecipient, "put on hold", "put it on hold"},
    {kOnHold, kReceived, kByRecipient, "resume", "resume it"},
    {kOnHold, kAccepted, kByRecipient, "resume", "resume it"},
    {kAccepted, kCompleted, kByRecipient, "complete", "complete it"},
    {kAccepted, kFailed, kByRecipient, "mark as failed", "mark it as failed"},
    {kInProgress, kCompleted, kByRecipient, "complete", "complete it"},
    {kInProgress, kFailed, kByRecipient, "mark as failed", "mark it as failed"},
    {kReceived, kCancelRequested, kBySender, "request cancellation of", "ask to cancel it"},
    {kAccepted, kCancelRequested, kBySender, "request cancellation of", "ask to cancel it"},
    {kOnHold, kCancelRequested, kBySender, "request cancellation of", "ask to cancel it"},
    {kInProgress, kCancelRequested, kBySender, "request cancellation of", "ask to cancel it"},
    {kCancelRequested, kCancelled, kByRecipient, "confirm the cancellation of",
     "confirm its cancellation"},
    {kCancelRequested, kCompleted, kByRecipient, "complete", "complete it"},
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

// "only the recipient (ngo-x) may accept a referral", with when, where the rule says.
std::string OnlyWho(unsigned sides, const char* verb, const TransitionRequest& r) {
  std::string message = "only " + WhoMay(sides, r) + " may " + verb + " a referral";
  if (r.from == kSent && r.to == kCancelled) {
    message += " before it is received";
  } else if (r.to == kExpired) {
    message += " once its respond-by time has passed";
  }
  return message;
}

// The sides that may make some move into `to`, and the first rule's verb for it.
unsigned SidesInto(ReferralStatus to, const char** verb) {
  unsigned sides = 0;
  for (const Rule& r : kRules) {
    if (r.to == to) {
      sides |= r.sides;
      if (*verb == nullptr) {
        *verb = r.verb;
      }
    }
  }
  return sides;
}

// "RECEIVED or ON_HOLD": the states `side` may move a referral into `to` from.
std::string StatesFrom(ReferralStatus to, Side side) {
  std::string out;
  for (const Rule& r : kRules) {
    if (r.to == to && (r.sides & Bit(side)) != 0 && out.find(ReferralStatusName(r.from)) ==
                                                        std::string::npos) {
      out += (out.empty() ? "" : " or ") + ReferralStatusName(r.from);
    }
  }
  return out;
}

// "the recipient (ngo-x) may now complete it or mark it as failed", or what is awaited.
std::string WhatNow(const TransitionRequest& r) {
  std::string moves;
  std::string seen;
  for (const Rule& rule : kRules) {
    if (rule.from == r.from && (rule.sides & Bit(r.side)) != 0 &&
        seen.find(std::string("|") + rule.it + "|") == std::string::npos) {
      seen += std::string("|") + rule.it + "|";
      moves += (moves.empty() ? "" : " or ") + std::string(rule.it);
    }
  }
  const std::string who = r.side == Side::kSender ? Named("the sender", r.sender_agency)
                          : r.side == Side::kRecipient ? Named("the recipient", r.recipient_agency)
                                                       : "the system (referral engine)";
  if (moves.empty()) {
    return "there is nothing for " + who + " to do with it now";
  }
  return who + " may now " + moves;
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
  // Who may make such a move at all comes first: a sender trying to accept is told "only the
  // recipient may accept", whatever state the referral is in.
  if (!r.consent_withdrawn) {
    const char* verb = nullptr;
    const unsigned sides = SidesInto(r.to, &verb);
    if (verb != nullptr && (sides & Bit(r.side)) == 0) {
      return Refuse("to", OnlyWho(sides, verb, r));
    }
  }
  if (IsTerminal(r.from)) {
    return Refuse("to", "the referral is " + from_name +
                            ", which is final: it cannot be changed any more");
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
    // Say first who may make such a move at all: a sender trying to accept needs "only the
    // recipient may accept", not the state table.
    const char* verb = nullptr;
    SidesInto(r.to, &verb);
    if (verb != nullptr) {
      return Refuse("to", "a referral that is " + from_name + " cannot be " +
                              "moved to " + to_name + " (that is done from " +
                              StatesFrom(r.to, r.side) + "); " + WhatNow(r));
    }
    return Refuse("to", "a referral cannot move from " + from_name + " to " + to_name);
  }
  if ((rule->sides & Bit(r.side)) == 0) {
    return Refuse("to", OnlyWho(rule->sides, rule->verb, r));
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
