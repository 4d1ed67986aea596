#pragma once

// The referral state machine of docs/architecture.md, as one pure function.
//
// Every move of a referral is one event, made by the side that owns it:
//
//   from                          to                   side
//   (new) = UNSPECIFIED           SENT                 sender, or the system on its behalf
//   SENT                          RECEIVED             recipient (its node, automatically)
//   SENT                          CANCELLED            sender
//   SENT, RECEIVED                EXPIRED              system
//   RECEIVED                      ACCEPTED             recipient
//   RECEIVED                      REJECTED             recipient, with a reason
//   ACCEPTED                      IN_PROGRESS          recipient
//   RECEIVED, ACCEPTED            ON_HOLD              recipient
//   ON_HOLD                       RECEIVED / ACCEPTED  recipient, to the held-from state
//   ACCEPTED, IN_PROGRESS         COMPLETED / FAILED   recipient, with an outcome
//   RECEIVED, ACCEPTED, ON_HOLD,  CANCEL_REQUESTED     sender
//     IN_PROGRESS
//   CANCEL_REQUESTED              CANCELLED            recipient (confirms)
//   CANCEL_REQUESTED              COMPLETED            recipient, with an outcome
//   any non-terminal              CANCELLED            sender, recipient or system, when the
//                                                      victim withdrew consent
//
// Terminal states: REJECTED, COMPLETED, FAILED, CANCELLED, EXPIRED.
//
// ON_HOLD return rule: a referral put on hold resumes to exactly the state it was held from
// (RECEIVED or ACCEPTED), read from its history by HeldFrom(). When the caller does not know it
// (`held_from` UNSPECIFIED) either RECEIVED or ACCEPTED is allowed.
//
// Consent-withdrawn cancellation: the flag only says what the actor claims; the case projection
// checks that a consent was actually withdrawn. The system side may use it too, so the referral
// engine can cascade a withdrawal to referrals it is not a party of.
//
// Thread-safety: pure functions, no state.

#include <string_view>

#include "core/status.h"
#include "passage/v1/common.pb.h"
#include "passage/v1/referral.pb.h"

namespace passage::core {

// Who makes a move, relative to the referral.
enum class Side {
  kSender,     // the referral's from_agency
  kRecipient,  // the referral's to_agency (also its node acting with role SYSTEM)
  kSystem,     // the referral engine / broker: expiry, sends on behalf of the sender
};

std::string_view SideName(Side side);

struct TransitionRequest {
  passage::v1::ReferralStatus from = passage::v1::REFERRAL_STATUS_UNSPECIFIED;  // UNSPECIFIED = new
  passage::v1::ReferralStatus to = passage::v1::REFERRAL_STATUS_UNSPECIFIED;
  Side side = Side::kSender;
  bool consent_withdrawn = false;  // a cancellation because the victim withdrew consent
  passage::v1::RejectReason reason = passage::v1::REJECT_REASON_UNSPECIFIED;
  bool has_outcome = false;
  // For a move out of ON_HOLD: the state the referral was held from; UNSPECIFIED = unknown.
  passage::v1::ReferralStatus held_from = passage::v1::REFERRAL_STATUS_UNSPECIFIED;
  // Used in error messages only ("only the recipient (ngo-x) may accept a referral").
  std::string_view sender_agency;
  std::string_view recipient_agency;
};

// Returns the new state (`to`) when the move is allowed, else FailedPrecondition naming the rule
// broken. The status's field is relative to a ReferralTransition payload: "to", "reason" or
// "outcome".
Result<passage::v1::ReferralStatus> CheckTransition(const TransitionRequest& request);

// REJECTED, COMPLETED, FAILED, CANCELLED, EXPIRED.
bool IsTerminal(passage::v1::ReferralStatus status);

// A state a referral can be in and still move: SENT, RECEIVED, ACCEPTED, IN_PROGRESS, ON_HOLD,
// CANCEL_REQUESTED.
bool IsLive(passage::v1::ReferralStatus status);

// The state an ON_HOLD referral was put on hold from (the `from` of the last history record that
// entered ON_HOLD), or UNSPECIFIED if the referral is not on hold or its history does not say.
passage::v1::ReferralStatus HeldFrom(const passage::v1::Referral& referral);

// True when the referral was accepted at some point (its history has a move to ACCEPTED).
bool WasAccepted(const passage::v1::Referral& referral);

}  // namespace passage::core
