#pragma once

// ReferralFeed: one agency's feed of referral events, kept in the node's own RocksDB
// (runtime::LocalStore, keys under "feed/"). It owns the feed's items, their sequence numbers and
// the rule of what goes in; the HTTP API serves it (GET /api/v1/events) and other consumers (a
// webhook sender) may read it with their own cursor.
//
// What goes in (no personal data and no free text, only ids, agencies, codes and times):
//   - NEW_REFERRAL: a ReferralSent to this agency;
//   - STATE_CHANGED: a ReferralSent by this agency, and every ReferralTransition of a referral
//     this agency sent or received;
//   - DUE_SOON: an unanswered (SENT, RECEIVED) referral to this agency falls due within a day,
//     once, and only when it arrived with more than a day to answer;
//   - OVERDUE: its respond-by passed unanswered, once.
// Each item has a stable id (the event id; "due_soon:" or "overdue:" + referral id) and is added
// once, whatever the redeliveries and re-reads of the same event.
//
// Operation: journal entries are added in the caller's StateWrite (the same synced batch as the
// journal entry and the stream position), so the feed is exactly as durable as the journal and
// survives a restart. Sequence numbers increase in the order items are recorded; a write that
// failed may leave a gap, never a repeat. Deadline items are written by CheckDeadlines itself.
//
// Limits: reading scans the feed from its start (fine for the tens of thousands of items of an
// agency's year; a seek would be the next step); items are kept for ever.
//
// Concurrency: not thread-safe; the node's one thread owns it.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "passage/v1/events.pb.h"
#include "passage/v1/referral.pb.h"
#include "passage/v1/staff.pb.h"
#include "services/runtime/local_store.h"

namespace passage::node {

inline constexpr uint32_t kDefaultFeedLimit = 100;
inline constexpr uint32_t kMaxFeedLimit = 1000;

class ReferralFeed {
 public:
  // `store` is not owned and outlives the feed; `agency` is this node's agency id.
  static Result<std::unique_ptr<ReferralFeed>> Open(runtime::LocalStore* store, std::string agency);

  // A journal entry of this node: puts its item into `w` when it belongs in the feed and is not
  // there yet (in the store or earlier in `w`).
  Status OnJournal(const passage::v1::Envelope& env, runtime::StateWrite* w);

  // Adds DUE_SOON and OVERDUE items for `inbox` (the referrals to this agency) as of `now_ms`.
  Status CheckDeadlines(const std::vector<passage::v1::Referral>& inbox, int64_t now_ms);

  // Items with seq > `after`, oldest first, at most `limit` (0 = 100, at most 1000).
  Result<std::vector<passage::v1::FeedItem>> Read(uint64_t after, uint32_t limit) const;

  // The highest seq given so far (0 for an empty feed).
  uint64_t last_seq() const { return next_seq_ - 1; }

 private:
  ReferralFeed(runtime::LocalStore* store, std::string agency)
      : store_(store), agency_(std::move(agency)) {}
  // Whether `key` is in the store or among `w`'s puts.
  Result<bool> Has(const std::string& key, const runtime::StateWrite* w) const;
  Result<std::optional<std::string>> Lookup(const std::string& key,
                                            const runtime::StateWrite* w) const;
  void Add(passage::v1::FeedItem item, runtime::StateWrite* w);

  runtime::LocalStore* store_;
  std::string agency_;
  uint64_t next_seq_ = 1;
};

}  // namespace passage::node
