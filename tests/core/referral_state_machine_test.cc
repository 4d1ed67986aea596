#include "core/referral_state_machine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

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

constexpr Side kS = Side::kSender;
constexpr Side kR = Side::kRecipient;
constexpr Side kY = Side::kSystem;

struct Move {
  ReferralStatus from;
  ReferralStatus to;
  Side side;
};

// The state machine of docs/architecture.md, written out: every (from, to, side) allowed without a consent withdrawal.
constexpr Move kAllowed[] = {
    {kNew, kSent, kS},
    {kNew, kSent, kY},
    {kSent, kReceived, kR},
    {kSent, kCancelled, kS},
    {kSent, kExpired, kY},
    {kReceived, kExpired, kY},
    {kReceived, kAccepted, kR},
    {kReceived, kRejected, kR},
    {kAccepted, kInProgress, kR},
    {kReceived, kOnHold, kR},
    {kAccepted, kOnHold, kR},
    {kOnHold, kReceived, kR},
    {kOnHold, kAccepted, kR},
    {kAccepted, kCompleted, kR},
    {kAccepted, kFailed, kR},
    {kInProgress, kCompleted, kR},
    {kInProgress, kFailed, kR},
    {kReceived, kCancelRequested, kS},
    {kAccepted, kCancelRequested, kS},
    {kOnHold, kCancelRequested, kS},
    {kInProgress, kCancelRequested, kS},
    {kCancelRequested, kCancelled, kR},
    {kCancelRequested, kCompleted, kR},
};

// With consent_withdrawn set: only a cancellation, from any non-terminal state, by any side.
constexpr Move kAllowedOnConsentWithdrawal[] = {
    {kSent, kCancelled, kS},
    {kSent, kCancelled, kR},
    {kSent, kCancelled, kY},
    {kReceived, kCancelled, kS},
    {kReceived, kCancelled, kR},
    {kReceived, kCancelled, kY},
    {kAccepted, kCancelled, kS},
    {kAccepted, kCancelled, kR},
    {kAccepted, kCancelled, kY},
    {kInProgress, kCancelled, kS},
    {kInProgress, kCancelled, kR},
    {kInProgress, kCancelled, kY},
    {kOnHold, kCancelled, kS},
    {kOnHold, kCancelled, kR},
    {kOnHold, kCancelled, kY},
    {kCancelRequested, kCancelled, kS},
    {kCancelRequested, kCancelled, kR},
    {kCancelRequested, kCancelled, kY},
};

template <size_t N>
bool Contains(const Move (&table)[N], ReferralStatus from, ReferralStatus to, Side side) {
  return std::any_of(std::begin(table), std::end(table),
                     [&](const Move& m) { return m.from == from && m.to == to && m.side == side; });
}

std::string Describe(ReferralStatus from, ReferralStatus to, Side side, bool consent) {
  return ReferralStatusName(from) + " -> " + ReferralStatusName(to) + " by " +
         std::string(SideName(side)) + (consent ? " (consent withdrawn)" : "");
}

// Every status (UNSPECIFIED = new, then the 11 real ones) x every status x 3 sides x the consent
// flag, against the tables above. Reason and outcome are supplied so that only the table decides.
TEST(ReferralStateMachine, EveryCombinationMatchesTheDesignTable) {
  int allowed = 0;
  int refused = 0;
  for (int f = 0; f <= 11; ++f) {
    for (int t = 0; t <= 11; ++t) {
      for (Side side : {kS, kR, kY}) {
        for (bool consent : {false, true}) {
          const auto from = static_cast<ReferralStatus>(f);
          const auto to = static_cast<ReferralStatus>(t);
          TransitionRequest request;
          request.from = from;
          request.to = to;
          request.side = side;
          request.consent_withdrawn = consent;
          request.reason = passage::v1::REJECT_REASON_CAPACITY_FULL;
          request.has_outcome = true;
          const bool expected = consent ? Contains(kAllowedOnConsentWithdrawal, from, to, side)
                                        : Contains(kAllowed, from, to, side);
          Result<ReferralStatus> result = CheckTransition(request);
          EXPECT_EQ(result.ok(), expected)
              << Describe(from, to, side, consent) << ": " << result.status().ToString();
          if (result.ok()) {
            EXPECT_EQ(*result, to);
            ++allowed;
          } else {
            EXPECT_EQ(result.status().code(), StatusCode::kFailedPrecondition);
            EXPECT_FALSE(result.status().message().empty());
            ++refused;
          }
        }
      }
    }
  }
  EXPECT_EQ(allowed,
            static_cast<int>(std::size(kAllowed) + std::size(kAllowedOnConsentWithdrawal)));
  EXPECT_EQ(allowed + refused, 12 * 12 * 3 * 2);
}

TEST(ReferralStateMachine, UnknownNumericStatusesAreRefused) {
  for (int bad : {-1, 12, 99}) {
    TransitionRequest to_bad;
    to_bad.from = kReceived;
    to_bad.to = static_cast<ReferralStatus>(bad);
    to_bad.side = kR;
    EXPECT_FALSE(CheckTransition(to_bad).ok()) << bad;
    TransitionRequest from_bad;
    from_bad.from = static_cast<ReferralStatus>(bad);
    from_bad.to = kCancelled;
    from_bad.side = kS;
    from_bad.consent_withdrawn = true;
    EXPECT_FALSE(CheckTransition(from_bad).ok()) << bad;
  }
}

struct RefusalCase {
  const char* name;
  TransitionRequest request;
  const char* field;
  const char* message;
};

TEST(ReferralStateMachine, RefusalsNameTheRuleBroken) {
  auto req = [](ReferralStatus from, ReferralStatus to, Side side) {
    TransitionRequest r;
    r.from = from;
    r.to = to;
    r.side = side;
    r.sender_agency = "fia-karachi";
    r.recipient_agency = "ngo-x";
    r.has_outcome = true;
    r.reason = passage::v1::REJECT_REASON_OUT_OF_SCOPE;
    return r;
  };
  TransitionRequest reject_without_reason = req(kReceived, kRejected, kR);
  reject_without_reason.reason = passage::v1::REJECT_REASON_UNSPECIFIED;
  TransitionRequest complete_without_outcome = req(kInProgress, kCompleted, kR);
  complete_without_outcome.has_outcome = false;
  TransitionRequest fail_without_outcome = req(kAccepted, kFailed, kR);
  fail_without_outcome.has_outcome = false;
  TransitionRequest accept_with_consent_flag = req(kReceived, kAccepted, kR);
  accept_with_consent_flag.consent_withdrawn = true;
  TransitionRequest resume_elsewhere = req(kOnHold, kAccepted, kR);
  resume_elsewhere.held_from = kReceived;

  const RefusalCase cases[] = {
      {"sender accepts", req(kReceived, kAccepted, kS), "to",
       "only the recipient (ngo-x) may accept a referral"},
      {"system accepts", req(kReceived, kAccepted, kY), "to",
       "only the recipient (ngo-x) may accept a referral"},
      {"recipient cancels before receipt", req(kSent, kCancelled, kR), "to",
       "only the sender (fia-karachi) may cancel a referral before it is received"},
      {"sender expires", req(kSent, kExpired, kS), "to",
       "only the system (referral engine) may expire a referral once its respond-by time has "
       "passed"},
      {"recipient requests cancellation", req(kAccepted, kCancelRequested, kR), "to",
       "only the sender (fia-karachi) may request cancellation of a referral"},
      {"recipient sends", req(kNew, kSent, kR), "to",
       "only the sender (fia-karachi) or the system (referral engine) may send a referral"},
      {"completed is terminal", req(kCompleted, kCancelled, kS), "to",
       "the referral is COMPLETED, which is final: it cannot be changed any more"},
      {"expired is terminal", req(kExpired, kReceived, kR), "to",
       "the referral is EXPIRED, which is final: it cannot be changed any more"},
      {"skip acceptance", req(kReceived, kInProgress, kR), "to",
       "a referral that is RECEIVED cannot be moved to IN_PROGRESS (that is done from ACCEPTED); "
       "the recipient (ngo-x) may now accept it or reject it or put it on hold"},
      // Who may make the move comes first: the sender trying to accept work in progress is told
      // only the recipient accepts, not the state table.
      {"sender accepts work in progress", req(kInProgress, kAccepted, kS), "to",
       "only the recipient (ngo-x) may accept a referral"},
      {"recipient accepts work in progress", req(kInProgress, kAccepted, kR), "to",
       "a referral that is IN_PROGRESS cannot be moved to ACCEPTED (that is done from RECEIVED or "
       "ON_HOLD); the recipient (ngo-x) may now complete it or mark it as failed"},
      {"sender completes", req(kCancelRequested, kCompleted, kS), "to",
       "only the recipient (ngo-x) may complete a referral"},
      {"same state", req(kAccepted, kAccepted, kR), "to", "the referral is already ACCEPTED"},
      {"sent twice", req(kReceived, kSent, kS), "to",
       "a referral is SENT only once, when it is created (it is in RECEIVED)"},
      {"new not sent", req(kNew, kReceived, kR), "to",
       "a new referral can only be SENT, not RECEIVED"},
      {"reject without reason", reject_without_reason, "reason", "REJECTED needs a reason"},
      {"complete without outcome", complete_without_outcome, "outcome",
       "COMPLETED needs an outcome"},
      {"fail without outcome", fail_without_outcome, "outcome", "FAILED needs an outcome"},
      {"consent flag on acceptance", accept_with_consent_flag, "to",
       "a consent withdrawal can only cancel a referral, not move it to ACCEPTED"},
      {"resume to another state", resume_elsewhere, "to",
       "a referral put on hold from RECEIVED resumes only to RECEIVED"},
  };
  for (const RefusalCase& c : cases) {
    Result<ReferralStatus> result = CheckTransition(c.request);
    ASSERT_FALSE(result.ok()) << c.name;
    EXPECT_EQ(result.status().code(), StatusCode::kFailedPrecondition) << c.name;
    EXPECT_EQ(result.status().field(), c.field) << c.name;
    EXPECT_EQ(result.status().message(), c.message) << c.name;
  }
}

TEST(ReferralStateMachine, OnHoldResumesToTheStateItWasHeldFrom) {
  for (ReferralStatus held_from : {kReceived, kAccepted}) {
    for (ReferralStatus to : {kReceived, kAccepted}) {
      TransitionRequest r;
      r.from = kOnHold;
      r.to = to;
      r.side = kR;
      r.held_from = held_from;
      EXPECT_EQ(CheckTransition(r).ok(), to == held_from)
          << ReferralStatusName(held_from) << " -> " << ReferralStatusName(to);
    }
    TransitionRequest cancel;
    cancel.from = kOnHold;
    cancel.to = kCancelRequested;
    cancel.side = kS;
    cancel.held_from = held_from;
    EXPECT_TRUE(CheckTransition(cancel).ok());
  }
}

TEST(ReferralStateMachine, TerminalAndLiveStates) {
  const std::vector<std::tuple<ReferralStatus, bool, bool>> table = {
      {kNew, false, false},      {kSent, false, true},
      {kReceived, false, true},  {kAccepted, false, true},
      {kRejected, true, false},  {kInProgress, false, true},
      {kOnHold, false, true},    {kCompleted, true, false},
      {kFailed, true, false},    {kCancelRequested, false, true},
      {kCancelled, true, false}, {kExpired, true, false},
  };
  for (const auto& [status, terminal, live] : table) {
    EXPECT_EQ(IsTerminal(status), terminal) << ReferralStatusName(status);
    EXPECT_EQ(IsLive(status), live) << ReferralStatusName(status);
  }
}

TEST(ReferralStateMachine, HeldFromReadsTheHistory) {
  passage::v1::Referral r;
  auto add = [&r](ReferralStatus from, ReferralStatus to) {
    passage::v1::ReferralTransitionRecord* rec = r.add_history();
    rec->set_from(from);
    rec->set_to(to);
    r.set_status(to);
  };
  add(kNew, kSent);
  add(kSent, kReceived);
  EXPECT_EQ(HeldFrom(r), kNew);
  add(kReceived, kOnHold);
  EXPECT_EQ(HeldFrom(r), kReceived);
  EXPECT_FALSE(WasAccepted(r));
  add(kOnHold, kReceived);
  add(kReceived, kAccepted);
  add(kAccepted, kOnHold);
  EXPECT_EQ(HeldFrom(r), kAccepted);
  EXPECT_TRUE(WasAccepted(r));
}

}  // namespace
}  // namespace passage::core
