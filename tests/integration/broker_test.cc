// The broker as agencies use it: a real passage-broker process on loopback with CURVE, real
// clients with their own RocksDB stores.

#include <gtest/gtest.h>

#include <chrono>
#include <signal.h>

#include <filesystem>
#include <set>
#include <thread>

#include "broker/log/event_log.h"
#include "broker/merkle/tree_head.h"
#include "core/ids.h"
#include "services/runtime/client.h"
#include "services/runtime/local_store.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/events.h"
#include "tests/testing/raw_dealer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace passage {
namespace {

namespace v1 = passage::v1;
using testing::BrokerProcess;
using testing::TestAgency;

std::vector<TestAgency> Agencies() {
  return {
      {"fia", v1::AGENCY_TYPE_LAW_ENFORCEMENT, true, false, {v1::SERVICE_TYPE_INVESTIGATION}, {}},
      {"police",
       v1::AGENCY_TYPE_LAW_ENFORCEMENT,
       true,
       false,
       {v1::SERVICE_TYPE_INVESTIGATION},
       {}},
      {"shelter", v1::AGENCY_TYPE_SHELTER, false, false, {v1::SERVICE_TYPE_SHELTER}, {}},
      {"iom",
       v1::AGENCY_TYPE_INTERNATIONAL_ORGANISATION,
       false,
       false,
       {v1::SERVICE_TYPE_RETURN_REINTEGRATION},
       {}},
  };
}

struct Node {
  std::unique_ptr<runtime::LocalStore> store;
  std::unique_ptr<runtime::Client> client;
};

Node Connect(BrokerProcess& broker, const std::string& agency, const std::string& dir) {
  Node n;
  auto store = runtime::LocalStore::Open(dir);
  EXPECT_OK(store);
  n.store = std::move(store).value();
  auto client = runtime::Client::Create(broker.ClientOptionsFor(agency, n.store.get()));
  EXPECT_OK(client);
  n.client = std::move(client).value();
  return n;
}

TEST(Broker, PublishIsAcknowledgedWithSequenceNumbersAndASignedTreeHead) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), Agencies());
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  Node fia = Connect(broker, "fia", dir.Sub("fia"));
  std::vector<v1::PublishResult> results;
  fia.client->OnPublishResult([&](const v1::PublishResult& r) { results.push_back(r); });

  std::string case_id = core::NewUuidV7();
  ASSERT_OK(fia.client->Publish(testing::CaseOpened("fia", case_id)));
  ASSERT_OK(fia.client->Publish(testing::ConsentGiven("fia", case_id, core::NewUuidV7())));
  ASSERT_OK(fia.client->Flush(10000)) << broker.BrokerLog();
  ASSERT_EQ(results.size(), 2u);
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_TRUE(results[i].ok()) << results[i].error().reason();
    EXPECT_FALSE(results[i].duplicate());
    EXPECT_EQ(results[i].global_seq(), i + 1);
    EXPECT_EQ(results[i].case_seq(), i + 1);
    EXPECT_EQ(results[i].leaf_hash().size(), 32u);
  }
  const auto& head = fia.client->last_tree_head();
  EXPECT_EQ(head.tree_size(), 2u);
  merkle::TreeHead th;
  th.tree_size = head.tree_size();
  std::copy(head.root_hash().begin(), head.root_hash().end(), th.root.begin());
  th.timestamp_ms = head.timestamp_ms();
  EXPECT_OK(merkle::VerifyTreeHead(th, head.signature(), head.log_public_key()));
}

TEST(Broker, ReferralIsDeliveredToTheRecipientOnlyAndExactlyOnce) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), Agencies());
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  Node fia = Connect(broker, "fia", dir.Sub("fia"));
  Node shelter = Connect(broker, "shelter", dir.Sub("shelter"));
  Node iom = Connect(broker, "iom", dir.Sub("iom"));
  std::vector<uint64_t> shelter_got;
  std::vector<uint64_t> iom_got;
  ASSERT_OK(shelter.client->Subscribe(v1::SELECTOR_INBOX, 64,
                                      [&](uint64_t seq, const v1::Envelope&, runtime::StateWrite*) {
                                        shelter_got.push_back(seq);
                                        return Status::Ok();
                                      }));
  ASSERT_OK(iom.client->Subscribe(v1::SELECTOR_INBOX, 64,
                                  [&](uint64_t seq, const v1::Envelope&, runtime::StateWrite*) {
                                    iom_got.push_back(seq);
                                    return Status::Ok();
                                  }));
  std::string case_id = core::NewUuidV7();
  std::string ref = core::NewUuidV7();
  ASSERT_OK(fia.client->Publish(testing::CaseOpened("fia", case_id)));
  std::string consent = core::NewUuidV7();
  ASSERT_OK(fia.client->Publish(testing::ConsentGiven("fia", case_id, consent)));
  ASSERT_OK(fia.client->Publish(testing::ReferralSent("fia", "shelter", case_id, ref, consent)));
  ASSERT_OK(fia.client->Flush(10000));
  for (int i = 0; i < 50 && shelter_got.empty(); ++i) {
    ASSERT_OK(shelter.client->Poll(20));
    ASSERT_OK(iom.client->Poll(1));
  }
  ASSERT_OK(iom.client->Poll(200));
  EXPECT_EQ(shelter_got, (std::vector<uint64_t>{3}));
  EXPECT_TRUE(iom_got.empty());
  EXPECT_EQ(shelter.store->Position("SELECTOR_INBOX"), 3u);
}

TEST(Broker, Sigusr1WritesAVerifiableCheckpointWhileServing) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), Agencies());
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  Node fia = Connect(broker, "fia", dir.Sub("fia"));
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(fia.client->Publish(testing::CaseOpened("fia", core::NewUuidV7())));
  }
  ASSERT_OK(fia.client->Flush(10000));
  ASSERT_EQ(kill(broker.pid(), SIGUSR1), 0);
  const std::string root = broker.dir() + "/data/checkpoints";
  std::string checkpoint;
  for (int i = 0; i < 100 && checkpoint.empty(); ++i) {
    ASSERT_OK(fia.client->Poll(50));  // the broker keeps serving meanwhile
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
      if (entry.path().extension() != ".tmp") {  // RocksDB stages the copy, then renames it
        checkpoint = entry.path().string();
      }
    }
  }
  ASSERT_FALSE(checkpoint.empty()) << broker.BrokerLog();
  // Let the broker finish writing it, then open the copy read-only.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  log::EventLogOptions ro;
  ro.path = checkpoint;
  ro.read_only = true;
  auto copy = log::EventLog::Open(ro);
  ASSERT_OK(copy);
  EXPECT_EQ((*copy)->LastSeq(), 5u);
  ASSERT_OK(fia.client->Publish(testing::CaseOpened("fia", core::NewUuidV7())));
  EXPECT_OK(fia.client->Flush(10000));  // and goes on serving
}

// A case read staged while an earlier batch is still being written must not miss that batch: its
// reply comes after the batch's acks, so it lists every event acknowledged before it.
TEST(Broker, CaseReadListsEveryEventAcknowledgedBeforeItsReply) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), Agencies());
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  testing::RawDealer fia(broker.endpoint(), broker.broker_keys().public_z85, broker.keys("fia"));
  ASSERT_OK(fia.status());
  const std::string case_id = core::NewUuidV7();
  const v1::Event opened_event = testing::CaseOpened("fia", case_id);
  std::string opened;
  opened_event.SerializeToString(&opened);
  auto first = fia.Call(testing::PublishFrame({opened}), 10000);
  ASSERT_TRUE(first.has_value() && first->has_publish_ack()) << broker.BrokerLog();

  for (int round = 0; round < 3; ++round) {
    // A large PUBLISH (its synced write takes milliseconds) ending with an event of the case,
    // then at once a read of the case.
    std::vector<std::string> events;
    for (int i = 0; i < 1500; ++i) {
      events.emplace_back();
      testing::CaseOpened("fia", core::NewUuidV7()).SerializeToString(&events.back());
    }
    const v1::Event consent = testing::ConsentGiven("fia", case_id, core::NewUuidV7());
    events.emplace_back();
    consent.SerializeToString(&events.back());
    const uint64_t publish_id = fia.Send(testing::PublishFrame(events));
    v1::ClientFrame read;
    read.mutable_case_events()->set_case_id(case_id);
    read.mutable_case_events()->set_purpose("test");
    const uint64_t read_id = fia.Send(read);

    bool acked = false;
    bool answered = false;
    while (!answered) {
      auto reply = fia.Recv(10000);
      ASSERT_TRUE(reply.has_value()) << broker.BrokerLog();
      if (reply->request_id() == publish_id) {
        ASSERT_TRUE(reply->has_publish_ack()) << reply->ShortDebugString();
        acked = true;
        continue;
      }
      ASSERT_EQ(reply->request_id(), read_id);
      ASSERT_TRUE(reply->has_case_events()) << reply->ShortDebugString();
      answered = true;
      std::set<std::string> listed;
      for (const auto& bytes : reply->case_events().envelopes()) {
        v1::Envelope env;
        ASSERT_TRUE(env.ParseFromString(bytes));
        listed.insert(env.event_id());
      }
      EXPECT_EQ(listed.count(opened_event.event_id()), 1u);
      if (acked) {
        EXPECT_EQ(listed.count(consent.event_id()), 1u)
            << "round " << round << ": the reply came after the ack of " << consent.event_id()
            << " but does not list it";
      }
    }
    if (!acked) {
      auto reply = fia.Recv(10000);
      ASSERT_TRUE(reply.has_value() && reply->request_id() == publish_id) << broker.BrokerLog();
    }
  }
}

// The key the owner escrowed at intake reaches an agency only while it holds an accepted referral
// that shares PERSONAL; the escrow itself is never listed in anyone else's case read.
TEST(Broker, EscrowedKeyIsReleasedOnlyToAnAcceptedRecipient) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), Agencies());
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  auto dealer = [&](const std::string& agency) {
    return std::make_unique<testing::RawDealer>(broker.endpoint(), broker.broker_keys().public_z85,
                                                broker.keys(agency));
  };
  auto fia = dealer("fia");
  auto shelter = dealer("shelter");
  auto iom = dealer("iom");
  const std::string case_id = core::NewUuidV7();
  const std::string consent_id = core::NewUuidV7();
  const std::string referral_id = core::NewUuidV7();
  v1::Event escrow = testing::BaseEvent("fia", case_id);
  auto* k = escrow.mutable_personal_keys_escrowed();
  k->set_seal_nonce(std::string(24, 'n'));
  for (const std::string agency : {"shelter", "iom"}) {
    auto* w = k->add_keys();
    w->set_agency_id(agency);
    w->set_sealed_key(std::string(80, agency[0]));
  }
  v1::Event sent = testing::ReferralSent("fia", "shelter", case_id, referral_id, consent_id);
  sent.mutable_referral_sent()->mutable_referral()->add_data_scope(v1::DATA_SECTION_PERSONAL);
  auto publish = [&](testing::RawDealer& d, const v1::Event& e) {
    std::string bytes;
    e.SerializeToString(&bytes);
    auto r = d.Call(testing::PublishFrame({bytes}), 10000);
    ASSERT_TRUE(r.has_value() && r->has_publish_ack()) << broker.BrokerLog();
    ASSERT_TRUE(r->publish_ack().results(0).ok()) << r->ShortDebugString();
  };
  publish(*fia, testing::CaseOpened("fia", case_id));
  publish(*fia, testing::ConsentGiven("fia", case_id, consent_id));
  publish(*fia, escrow);
  publish(*fia, sent);
  auto ask = [&](testing::RawDealer& d) {
    v1::ClientFrame f;
    f.mutable_case_key()->set_case_id(case_id);
    auto r = d.Call(f, 10000);
    EXPECT_TRUE(r.has_value());
    return r.value_or(v1::ServerFrame());
  };
  auto escrow_listed = [&](testing::RawDealer& d) {
    v1::ClientFrame f;
    f.mutable_case_events()->set_case_id(case_id);
    auto r = d.Call(f, 10000);
    EXPECT_TRUE(r.has_value() && r->has_case_events());
    bool listed = false;
    for (const auto& bytes : r->case_events().envelopes()) {
      v1::Envelope env;
      v1::Event ev;
      listed |= env.ParseFromString(bytes) && ev.ParseFromString(env.event()) &&
                ev.has_personal_keys_escrowed();
    }
    return listed;
  };

  // Received but not accepted: no key, and the escrow is not in its case read.
  publish(*shelter,
          testing::Transition("shelter", case_id, referral_id, v1::REFERRAL_STATUS_RECEIVED));
  v1::ServerFrame before = ask(*shelter);
  ASSERT_TRUE(before.has_error()) << before.ShortDebugString();
  EXPECT_EQ(before.error().code(), v1::ERROR_CODE_UNAUTHORIZED);
  EXPECT_FALSE(escrow_listed(*shelter));
  // iom has a key in escrow but no referral: nothing.
  v1::ServerFrame stranger = ask(*iom);
  ASSERT_TRUE(stranger.has_error());
  EXPECT_EQ(stranger.error().code(), v1::ERROR_CODE_UNAUTHORIZED);

  // Accepted: its own key, and only its own.
  publish(*shelter,
          testing::Transition("shelter", case_id, referral_id, v1::REFERRAL_STATUS_ACCEPTED));
  v1::ServerFrame after = ask(*shelter);
  ASSERT_TRUE(after.has_case_key()) << after.ShortDebugString();
  EXPECT_EQ(after.case_key().key().agency_id(), "shelter");
  EXPECT_EQ(after.case_key().key().sealed_key(), std::string(80, 's'));
  EXPECT_EQ(after.case_key().seal_nonce(), std::string(24, 'n'));
  EXPECT_FALSE(escrow_listed(*shelter));

  // Once the referral is over, no more releases.
  v1::Event done =
      testing::Transition("shelter", case_id, referral_id, v1::REFERRAL_STATUS_IN_PROGRESS);
  publish(*shelter, done);
  publish(*shelter,
          testing::Transition("shelter", case_id, referral_id, v1::REFERRAL_STATUS_COMPLETED));
  v1::ServerFrame ended = ask(*shelter);
  ASSERT_TRUE(ended.has_error()) << ended.ShortDebugString();
  EXPECT_EQ(ended.error().code(), v1::ERROR_CODE_UNAUTHORIZED);
}

// Only a first responder may ask whether a person key is known, and the answer names the owning
// agency and the case only.
TEST(Broker, PersonLookupIsForFirstRespondersAndNamesOnlyAgencyAndCase) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), Agencies());
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  testing::RawDealer fia(broker.endpoint(), broker.broker_keys().public_z85, broker.keys("fia"));
  testing::RawDealer police(broker.endpoint(), broker.broker_keys().public_z85,
                            broker.keys("police"));
  testing::RawDealer shelter(broker.endpoint(), broker.broker_keys().public_z85,
                             broker.keys("shelter"));
  const std::string key(32, 'p');
  const std::string case_id = core::NewUuidV7();
  v1::Event opened = testing::CaseOpened("fia", case_id);
  auto* sealed = opened.mutable_case_opened()->mutable_personal();
  sealed->set_scheme(1);
  sealed->set_nonce(std::string(24, 'n'));
  sealed->set_ciphertext(std::string(40, 'c'));
  auto* w = sealed->add_wrapped_keys();
  w->set_agency_id("fia");
  w->set_sealed_key(std::string(80, 'w'));
  sealed->set_person_key(key);
  std::string bytes;
  opened.SerializeToString(&bytes);
  auto ack = fia.Call(testing::PublishFrame({bytes}), 10000);
  ASSERT_TRUE(ack.has_value() && ack->has_publish_ack() && ack->publish_ack().results(0).ok())
      << (ack ? ack->ShortDebugString() : broker.BrokerLog());
  auto lookup = [&](testing::RawDealer& d, const std::string& k) {
    v1::ClientFrame f;
    f.mutable_person_lookup()->set_person_key(k);
    return d.Call(f, 10000).value_or(v1::ServerFrame());
  };
  v1::ServerFrame found = lookup(police, key);
  ASSERT_TRUE(found.has_person_matches()) << found.ShortDebugString();
  ASSERT_EQ(found.person_matches().matches_size(), 1);
  EXPECT_EQ(found.person_matches().matches(0).agency_id(), "fia");
  EXPECT_EQ(found.person_matches().matches(0).case_id(), case_id);
  v1::ServerFrame none = lookup(police, std::string(32, 'q'));
  ASSERT_TRUE(none.has_person_matches());
  EXPECT_EQ(none.person_matches().matches_size(), 0);
  v1::ServerFrame refused = lookup(shelter, key);
  ASSERT_TRUE(refused.has_error());
  EXPECT_EQ(refused.error().code(), v1::ERROR_CODE_UNAUTHORIZED);
  v1::ServerFrame malformed = lookup(police, "short");
  ASSERT_TRUE(malformed.has_error());
  EXPECT_EQ(malformed.error().code(), v1::ERROR_CODE_INVALID);
}

// One set of size limits: the broker stores no event larger than WELCOME's max_event_bytes
// (max_message_bytes less 64 KiB), so an event of exactly that size reaches a subscriber whose
// socket takes max_message_bytes and no more; one byte more is refused, naming the event. Before,
// a 16,777,200-byte event was stored and its 16,777,351-byte DELIVER cut such a client off.
TEST(Broker, EveryStoredEventReachesASubscriberWhoseSocketTakesMaxMessageBytes) {
  constexpr int kMax = 262144;
  testing::TempDir dir;
  auto agencies = Agencies();
  agencies.push_back({"router", v1::AGENCY_TYPE_OTHER, false, true, {}, {}});
  BrokerProcess broker(dir.Sub("broker"), agencies,
                       {"--max-message-bytes", std::to_string(kMax)});
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  testing::RawDealer fia(broker.endpoint(), broker.broker_keys().public_z85, broker.keys("fia"));
  v1::ClientFrame hello;
  hello.mutable_hello()->set_client_version("test");
  auto welcome = fia.Call(hello, 10000);
  ASSERT_TRUE(welcome.has_value() && welcome->has_welcome());
  const size_t limit = welcome->welcome().max_event_bytes();
  EXPECT_EQ(limit, static_cast<size_t>(kMax - 65536));

  // An event of exactly `limit` bytes, and one of a byte more.
  auto sized = [&](size_t want) {
    v1::Event e = testing::CaseOpened("fia", core::NewUuidV7());
    auto* sealed = e.mutable_case_opened()->mutable_personal();
    sealed->set_scheme(1);
    sealed->set_nonce(std::string(24, 'n'));
    auto* w = sealed->add_wrapped_keys();
    w->set_agency_id("fia");
    w->set_sealed_key(std::string(80, 'w'));
    size_t fill = want - e.ByteSizeLong() - 8;
    sealed->set_ciphertext(std::string(fill, 'c'));
    while (e.ByteSizeLong() < want) sealed->mutable_ciphertext()->push_back('c');
    while (e.ByteSizeLong() > want) sealed->mutable_ciphertext()->pop_back();
    EXPECT_EQ(e.ByteSizeLong(), want);
    return e.SerializeAsString();
  };
  auto too_big = fia.Call(testing::PublishFrame({sized(limit + 1)}), 10000);
  ASSERT_TRUE(too_big.has_value() && too_big->has_publish_ack());
  ASSERT_FALSE(too_big->publish_ack().results(0).ok());
  EXPECT_EQ(too_big->publish_ack().results(0).error().field(), "events[0]");
  EXPECT_NE(too_big->publish_ack().results(0).error().reason().find(std::to_string(limit + 1)),
            std::string::npos);
  auto fits = fia.Call(testing::PublishFrame({sized(limit)}), 10000);
  ASSERT_TRUE(fits.has_value() && fits->has_publish_ack());
  ASSERT_TRUE(fits->publish_ack().results(0).ok()) << fits->ShortDebugString().substr(0, 300);
  const uint64_t seq = fits->publish_ack().results(0).global_seq();

  testing::RawDealer router(broker.endpoint(), broker.broker_keys().public_z85,
                            broker.keys("router"), kMax);
  v1::ClientFrame sub;
  sub.mutable_subscribe()->set_selector(v1::SELECTOR_ALL_READABLE);
  sub.mutable_subscribe()->set_after_seq(0);
  sub.mutable_subscribe()->set_credits(8);
  router.Send(sub);
  bool delivered = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!delivered && std::chrono::steady_clock::now() < until) {
    auto f = router.Recv(100);
    if (f && f->has_deliver()) delivered = f->deliver().global_seq() == seq;
    if (f && f->has_deliver_batch()) {
      for (const auto& d : f->deliver_batch().deliveries()) delivered |= d.global_seq() == seq;
    }
  }
  EXPECT_TRUE(delivered) << "the largest stored event did not reach a max_message_bytes client";
}

// Optimistic concurrency a client can use: a case read carries the version to write against, and
// the access record the read leaves does not make it stale (issue 16, item 2). Before, every read
// raised the version the broker compared, so a client that read before writing always got
// CONFLICT.
TEST(Broker, ACaseReadGivesTheVersionToWriteAgainstAndDoesNotStaleIt) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), Agencies());
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  testing::RawDealer fia(broker.endpoint(), broker.broker_keys().public_z85, broker.keys("fia"));
  const std::string case_id = core::NewUuidV7();
  auto publish = [&](const v1::Event& e) {
    auto ack = fia.Call(testing::PublishFrame({e.SerializeAsString()}), 10000);
    EXPECT_TRUE(ack.has_value() && ack->has_publish_ack());
    return ack.has_value() ? ack->publish_ack().results(0) : v1::PublishResult();
  };
  ASSERT_TRUE(publish(testing::CaseOpened("fia", case_id)).ok());
  ASSERT_TRUE(publish(testing::ConsentGiven("fia", case_id, core::NewUuidV7())).ok());
  auto read = [&] {
    v1::ClientFrame f;
    f.mutable_case_events()->set_case_id(case_id);
    f.mutable_case_events()->set_purpose("before a change");
    auto r = fia.Call(f, 10000);
    EXPECT_TRUE(r.has_value() && r->has_case_events());
    return r.has_value() ? r->case_events().case_version() : 0;
  };
  const uint64_t version = read();
  EXPECT_EQ(version, 2u);
  EXPECT_EQ(read(), version) << "a read changed the version writers compare";
  v1::Event change = testing::ConsentGiven("fia", case_id, core::NewUuidV7());
  change.set_expected_case_version(version);
  v1::PublishResult ok = publish(change);
  EXPECT_TRUE(ok.ok()) << ok.ShortDebugString();
  // A write based on the older reading is now stale, and says how to recover.
  v1::Event stale = testing::ConsentGiven("fia", case_id, core::NewUuidV7());
  stale.set_expected_case_version(version);
  v1::PublishResult conflict = publish(stale);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code(), v1::ERROR_CODE_CONFLICT);
  EXPECT_NE(conflict.error().reason().find("CaseEventsRequest"), std::string::npos);
  EXPECT_EQ(read(), ok.case_seq());
}

}  // namespace
}  // namespace passage
