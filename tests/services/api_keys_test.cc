// ApiKeys and ReferralFeed over a real LocalStore (RocksDB) with a fake clock: what the store keeps
// of a key, revocation, the token bucket, and the feed's items, dedup, deadlines and reopening.

#include "services/node/api_keys.h"

#include <gtest/gtest.h>

#include "services/node/referral_feed.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace passage::node {
namespace {

namespace v1 = passage::v1;
constexpr int64_t kHour = 3'600'000;

class ApiKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = runtime::LocalStore::Open(dir_.path() + "/store");
    ASSERT_OK(store);
    store_ = std::move(store).value();
    ApiKeyOptions o;
    o.store = store_.get();
    o.clock = [this] { return now_; };
    auto k = ApiKeys::Open(o);
    ASSERT_OK(k);
    keys_ = std::move(k).value();
  }
  std::string StoreBytes() {
    std::string all;
    (void)store_->Scan("", [&](std::string_view k, std::string_view v) {
      all.append(k);
      all.append(v);
      return true;
    });
    return all;
  }

  testing::TempDir dir_;
  std::unique_ptr<runtime::LocalStore> store_;
  std::unique_ptr<ApiKeys> keys_;
  int64_t now_ = 1'800'000'000'000;
};

TEST_F(ApiKeysTest, AKeyIsStoredOnlyAsItsHashAndWorksUntilRevoked) {
  auto made = keys_->Create("oscar-sync", {v1::ACTOR_ROLE_CASE_WORKER}, 0, "s-admin");
  ASSERT_OK(made);
  EXPECT_EQ(made->client.rate_per_minute(), kDefaultApiRatePerMinute);
  EXPECT_EQ(StoreBytes().find(made->key), std::string::npos);
  EXPECT_EQ(StoreBytes().find(made->key.substr(made->key.size() - 64)), std::string::npos);
  std::string cause;
  auto who = keys_->Authenticate(made->key, &cause);
  ASSERT_OK(who);
  EXPECT_EQ(who->key_id(), made->client.key_id());
  EXPECT_TRUE(who->key_hash().empty());
  // One character of the secret changed: refused, and the log learns why.
  std::string wrong = made->key;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  EXPECT_EQ(keys_->Authenticate(wrong, &cause).status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(cause.find("wrong secret"), std::string::npos);
  EXPECT_EQ(keys_->Authenticate("Bearer nonsense", &cause).status().code(),
            StatusCode::kPermissionDenied);
  ASSERT_OK(keys_->Revoke(made->client.key_id(), "s-admin"));
  EXPECT_EQ(keys_->Authenticate(made->key, &cause).status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(cause.find("revoked"), std::string::npos);
  EXPECT_EQ(keys_->Revoke(made->client.key_id(), "s-admin").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(keys_->Revoke("k-000000000000", "s-admin").code(), StatusCode::kNotFound);
  ASSERT_EQ(keys_->List().size(), 1u);
  EXPECT_NE(keys_->List()[0].revoked_at_ms(), 0);
}

TEST_F(ApiKeysTest, BadCreationsNameTheField) {
  EXPECT_EQ(keys_->Create("", {v1::ACTOR_ROLE_CASE_WORKER}, 0, "s").status().field(), "name");
  EXPECT_EQ(keys_->Create("x", {}, 0, "s").status().field(), "roles");
  EXPECT_EQ(keys_->Create("x", {v1::ACTOR_ROLE_NODE_ADMIN}, 0, "s").status().field(), "roles");
  EXPECT_EQ(keys_->Create("x", {v1::ACTOR_ROLE_SYSTEM}, 0, "s").status().field(), "roles");
  EXPECT_EQ(keys_->Create("x", {v1::ACTOR_ROLE_AUDITOR}, 6001, "s").status().field(),
            "rate_per_minute");
}

TEST_F(ApiKeysTest, TheBucketRefillsAtTheKeysRate) {
  auto made = keys_->Create("sys", {v1::ACTOR_ROLE_CASE_WORKER}, 3, "s");
  ASSERT_OK(made);
  int64_t retry = 0;
  bool first = false;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(keys_->Take(made->client, &retry, &first));
  }
  Status s = keys_->Take(made->client, &retry, &first);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.field(), "rate_limit");
  EXPECT_EQ(retry, 20);  // 3 a minute: one every 20 s
  EXPECT_TRUE(first);
  (void)keys_->Take(made->client, &retry, &first);
  EXPECT_FALSE(first);  // logged once a minute
  now_ += 20'000;
  ASSERT_OK(keys_->Take(made->client, &retry, &first));
  EXPECT_FALSE(keys_->Take(made->client, &retry, &first).ok());
}

v1::Envelope Env(uint64_t seq, const v1::Event& e) {
  v1::Envelope env;
  env.set_global_seq(seq);
  env.set_case_id(e.case_id());
  env.set_event_id(e.event_id());
  env.set_event(e.SerializeAsString());
  return env;
}

v1::Event Sent(const std::string& id, const std::string& referral, const std::string& from,
               const std::string& to) {
  v1::Event e;
  e.set_event_id(id);
  e.set_case_id("case-1");
  e.set_occurred_at_ms(1000);
  auto* r = e.mutable_referral_sent()->mutable_referral();
  r->set_referral_id(referral);
  r->set_case_id("case-1");
  r->set_from_agency(from);
  r->set_to_agency(to);
  r->set_service(v1::SERVICE_TYPE_SHELTER);
  r->set_respond_by_ms(1000 + 2 * kHour);
  return e;
}

v1::Event Move(const std::string& id, const std::string& referral, v1::ReferralStatus to) {
  v1::Event e;
  e.set_event_id(id);
  e.set_case_id("case-1");
  e.mutable_referral_transition()->set_referral_id(referral);
  e.mutable_referral_transition()->set_to(to);
  return e;
}

TEST_F(ApiKeysTest, TheFeedHoldsThisAgencysReferralEventsOnceAndSurvivesAReopen) {
  auto feed = ReferralFeed::Open(store_.get(), "shelter");
  ASSERT_OK(feed);
  runtime::StateWrite w;
  ASSERT_OK((*feed)->OnJournal(Env(1, Sent("e1", "r1", "fia", "shelter")), &w));
  ASSERT_OK((*feed)->OnJournal(Env(1, Sent("e1", "r1", "fia", "shelter")), &w));  // same write
  ASSERT_OK((*feed)->OnJournal(Env(2, Sent("e2", "r2", "fia", "other")), &w));    // not ours
  ASSERT_OK((*feed)->OnJournal(Env(3, Move("e3", "r1", v1::REFERRAL_STATUS_RECEIVED)), &w));
  ASSERT_OK((*feed)->OnJournal(Env(4, Move("e4", "r2", v1::REFERRAL_STATUS_RECEIVED)), &w));
  ASSERT_OK(store_->Write(w));
  runtime::StateWrite again;  // a redelivery after the write
  ASSERT_OK((*feed)->OnJournal(Env(3, Move("e3", "r1", v1::REFERRAL_STATUS_RECEIVED)), &again));
  EXPECT_TRUE(again.puts().empty());

  auto items = (*feed)->Read(0, 0);
  ASSERT_OK(items);
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[0].kind(), v1::FEED_EVENT_KIND_NEW_REFERRAL);
  EXPECT_EQ((*items)[0].id(), "e1");
  EXPECT_EQ((*items)[1].kind(), v1::FEED_EVENT_KIND_STATE_CHANGED);
  EXPECT_EQ((*items)[1].status(), v1::REFERRAL_STATUS_RECEIVED);
  EXPECT_EQ((*items)[1].from_agency(), "fia");
  EXPECT_LT((*items)[0].seq(), (*items)[1].seq());

  // Deadlines: two hours to answer, so not DUE_SOON (it arrived urgent); OVERDUE once.
  v1::Referral r = Sent("e1", "r1", "fia", "shelter").referral_sent().referral();
  r.set_status(v1::REFERRAL_STATUS_RECEIVED);
  r.set_sent_at_ms(1000);
  ASSERT_OK((*feed)->CheckDeadlines({r}, 1000 + kHour));
  ASSERT_OK((*feed)->CheckDeadlines({r}, 1000 + 3 * kHour));
  ASSERT_OK((*feed)->CheckDeadlines({r}, 1000 + 4 * kHour));

  // A new feed over the same store (a restarted node) continues the numbering.
  auto reopened = ReferralFeed::Open(store_.get(), "shelter");
  ASSERT_OK(reopened);
  items = (*reopened)->Read((*items)[1].seq(), 10);
  ASSERT_OK(items);
  ASSERT_EQ(items->size(), 1u);
  EXPECT_EQ((*items)[0].kind(), v1::FEED_EVENT_KIND_OVERDUE);
  EXPECT_EQ((*items)[0].id(), "overdue:r1");
  EXPECT_EQ((*reopened)->last_seq(), (*items)[0].seq());
}

}  // namespace
}  // namespace passage::node
