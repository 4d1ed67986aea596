#include "services/node/referral_feed.h"

#include <algorithm>
#include <optional>

namespace passage::node {
namespace {

namespace v1 = passage::v1;

constexpr char kItemPrefix[] = "feed/i/";      // + 8-byte big-endian seq -> FeedItem
constexpr char kSeenPrefix[] = "feed/d/";      // + item id -> seq (decimal)
constexpr char kReferralPrefix[] = "feed/r/";  // + referral id -> FeedItem (the referral's parties)
constexpr int64_t kDayMs = 24 * 3'600'000LL;

std::string Be64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

uint64_t FromBe64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) {
    v = (v << 8) | static_cast<unsigned char>(s[i]);
  }
  return v;
}

}  // namespace

Result<std::unique_ptr<ReferralFeed>> ReferralFeed::Open(runtime::LocalStore* store,
                                                         std::string agency) {
  std::unique_ptr<ReferralFeed> feed(new ReferralFeed(store, std::move(agency)));
  uint64_t last = 0;
  RETURN_IF_ERROR(store->Scan(kItemPrefix, [&](std::string_view k, std::string_view) {
    last = FromBe64(k.substr(sizeof(kItemPrefix) - 1));
    return true;
  }));
  feed->next_seq_ = last + 1;
  return feed;
}

Result<std::optional<std::string>> ReferralFeed::Lookup(const std::string& key,
                                                        const runtime::StateWrite* w) const {
  if (w != nullptr) {
    for (auto it = w->puts().rbegin(); it != w->puts().rend(); ++it) {
      if (it->first == key) {
        return std::optional<std::string>(it->second);
      }
    }
  }
  return store_->Get(key);
}

Result<bool> ReferralFeed::Has(const std::string& key, const runtime::StateWrite* w) const {
  ASSIGN_OR_RETURN(auto v, Lookup(key, w));
  return v.has_value();
}

void ReferralFeed::Add(v1::FeedItem item, runtime::StateWrite* w) {
  item.set_seq(next_seq_++);
  w->Put(kSeenPrefix + item.id(), std::to_string(item.seq()));
  w->Put(kItemPrefix + Be64(item.seq()), item.SerializeAsString());
}

Status ReferralFeed::OnJournal(const v1::Envelope& env, runtime::StateWrite* w) {
  v1::Event e;
  if (!e.ParseFromString(env.event())) {
    return Status::Ok();  // the journal reports it; nothing for the feed
  }
  if (!e.has_referral_sent() && !e.has_referral_transition()) {
    return Status::Ok();
  }
  const std::string id = env.event_id().empty() ? e.event_id() : env.event_id();
  if (id.empty()) {
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(bool seen, Has(kSeenPrefix + id, w));
  if (seen) {
    return Status::Ok();
  }
  const int64_t at = e.occurred_at_ms() != 0 ? e.occurred_at_ms() : env.appended_at_ms();
  v1::FeedItem item;
  if (e.has_referral_sent()) {
    const v1::Referral& r = e.referral_sent().referral();
    if (r.to_agency() != agency_ && r.from_agency() != agency_) {
      return Status::Ok();
    }
    item.set_referral_id(r.referral_id());
    item.set_case_id(r.case_id().empty() ? e.case_id() : r.case_id());
    item.set_from_agency(r.from_agency());
    item.set_to_agency(r.to_agency());
    item.set_service(r.service());
    item.set_priority(r.priority());
    item.set_respond_by_ms(r.respond_by_ms());
    item.set_at_ms(at);
    // The referral's parties, for its later transitions.
    w->Put(kReferralPrefix + r.referral_id(), item.SerializeAsString());
    item.set_kind(r.to_agency() == agency_ ? v1::FEED_EVENT_KIND_NEW_REFERRAL
                                           : v1::FEED_EVENT_KIND_STATE_CHANGED);
    item.set_status(v1::REFERRAL_STATUS_SENT);
  } else {
    const v1::ReferralTransition& t = e.referral_transition();
    ASSIGN_OR_RETURN(auto parties, Lookup(kReferralPrefix + t.referral_id(), w));
    if (!parties.has_value() || !item.ParseFromString(*parties)) {
      return Status::Ok();  // not a referral this agency sent or received
    }
    item.set_kind(v1::FEED_EVENT_KIND_STATE_CHANGED);
    item.set_status(t.to());
    item.set_reason(t.reason());
    item.set_at_ms(at);
  }
  item.set_id(id);
  item.set_global_seq(env.global_seq());
  Add(std::move(item), w);
  return Status::Ok();
}

Status ReferralFeed::CheckDeadlines(const std::vector<v1::Referral>& inbox, int64_t now_ms) {
  runtime::StateWrite w;
  for (const auto& r : inbox) {
    if (r.to_agency() != agency_ || r.respond_by_ms() == 0 ||
        (r.status() != v1::REFERRAL_STATUS_SENT && r.status() != v1::REFERRAL_STATUS_RECEIVED)) {
      continue;
    }
    const bool overdue = r.respond_by_ms() < now_ms;
    const bool due_soon = r.respond_by_ms() < now_ms + kDayMs;
    if (!due_soon) {
      continue;
    }
    // DUE_SOON only for a referral that arrived with more than a day to answer.
    const bool arrived_urgent = r.sent_at_ms() != 0 && r.respond_by_ms() - r.sent_at_ms() <= kDayMs;
    const char* kind_name = overdue ? "overdue:" : "due_soon:";
    if (!overdue && arrived_urgent) {
      continue;
    }
    const std::string id = kind_name + r.referral_id();
    ASSIGN_OR_RETURN(bool seen, Has(kSeenPrefix + id, &w));
    if (seen) {
      continue;
    }
    v1::FeedItem item;
    item.set_id(id);
    item.set_kind(overdue ? v1::FEED_EVENT_KIND_OVERDUE : v1::FEED_EVENT_KIND_DUE_SOON);
    item.set_referral_id(r.referral_id());
    item.set_case_id(r.case_id());
    item.set_from_agency(r.from_agency());
    item.set_to_agency(r.to_agency());
    item.set_status(r.status());
    item.set_service(r.service());
    item.set_priority(r.priority());
    item.set_respond_by_ms(r.respond_by_ms());
    item.set_at_ms(now_ms);
    Add(std::move(item), &w);
  }
  if (w.puts().empty()) {
    return Status::Ok();
  }
  return store_->Write(w);
}

Result<std::vector<v1::FeedItem>> ReferralFeed::Read(uint64_t after, uint32_t limit) const {
  if (limit == 0) {
    limit = kDefaultFeedLimit;
  }
  limit = std::min(limit, kMaxFeedLimit);
  std::vector<v1::FeedItem> out;
  Status bad = Status::Ok();
  RETURN_IF_ERROR(store_->Scan(kItemPrefix, [&](std::string_view k, std::string_view v) {
    if (FromBe64(k.substr(sizeof(kItemPrefix) - 1)) <= after) {
      return true;
    }
    v1::FeedItem item;
    if (!item.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      bad = Status::Corruption("feed item " + std::to_string(FromBe64(k.substr(7))) +
                               " does not parse");
      return false;
    }
    out.push_back(std::move(item));
    return out.size() < limit;
  }));
  RETURN_IF_ERROR(bad);
  return out;
}

}  // namespace passage::node
