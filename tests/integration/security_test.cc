// Authentication and authorisation at the real broker process (docs/security.md): an unknown CURVE key
// never gets a Passage frame; an agency publishes only as itself and receives only its own
// deliveries, whichever selector it asks for.

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/ids.h"
#include "tests/testing/agency_node.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/events.h"
#include "tests/testing/raw_dealer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace passage {
namespace {

namespace v1 = passage::v1;
using testing::AgencyNode;
using testing::BrokerProcess;
using testing::RawDealer;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Bytes(const v1::Event& e) {
  std::string b;
  e.SerializeToString(&b);
  return b;
}

TEST(Security, AnUnknownCurveKeyNeverGetsWelcomeWhileAKnownAgencyKeepsWorking) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), testing::SampleAgencies());
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();

  AgencyNode fia;
  ASSERT_OK(testing::OpenNode(broker, "fia", dir.Sub("fia"), &fia));
  int fia_acked = 0;
  fia.client->OnPublishResult([&](const v1::PublishResult& r) { fia_acked += r.ok() ? 1 : 0; });

  // A client library user with a key pair the registry does not know, claiming to be fia.
  const transport::CurveKeyPair stranger_keys = transport::GenerateCurveKeyPair();
  AgencyNode stranger;
  ASSERT_OK(testing::OpenNode(broker, "fia", dir.Sub("stranger"), &stranger,
                              [&](runtime::ClientOptions& o) {
                                o.public_z85 = stranger_keys.public_z85;
                                o.secret_z85 = stranger_keys.secret_z85;
                              }));
  int stranger_results = 0;
  stranger.client->OnPublishResult([&](const v1::PublishResult&) { ++stranger_results; });
  const std::string stranger_case = core::NewUuidV7();
  ASSERT_OK(stranger.client->Publish(testing::CaseOpened("fia", stranger_case)));

  // A raw DEALER with another unknown key, watched by a socket monitor.
  const transport::CurveKeyPair raw_keys = transport::GenerateCurveKeyPair();
  RawDealer raw(broker.endpoint(), broker.broker_keys().public_z85, raw_keys, 64 << 20,
                /*monitor=*/true);
  v1::ClientFrame ping;
  ping.mutable_ping()->set_sent_at_ms(testing::NowMs());
  raw.Send(ping);

  const std::string case_id = core::NewUuidV7();
  ASSERT_OK(fia.client->Publish(testing::CaseOpened("fia", case_id)));
  for (int round = 0; round < 3; ++round) {
    v1::ClientFrame hello;
    hello.mutable_hello()->set_client_version("stranger/0.1");
    auto reply = stranger.client->Call(hello, 1500);
    EXPECT_FALSE(reply.ok()) << "an unknown key got an answer: " << reply->DebugString();
    EXPECT_FALSE(stranger.client->connected());

    // The registered agency is served meanwhile.
    ASSERT_OK(fia.client->Publish(testing::ConsentGiven("fia", case_id, core::NewUuidV7())));
    ASSERT_OK(fia.client->Flush(5000)) << broker.BrokerLog();
  }
  EXPECT_EQ(fia_acked, 4);
  EXPECT_TRUE(fia.client->connected());

  // The stranger's event never reached the log: no result, still in its outbox.
  EXPECT_FALSE(stranger.client->Flush(500).ok());
  EXPECT_EQ(stranger_results, 0);
  EXPECT_EQ(stranger.client->outbox_size(), 1u);

  // The raw stranger: the handshake fails with ZAP status 400 and no frame ever arrives.
  uint32_t status_code = 0;
  EXPECT_TRUE(raw.WaitForEvent(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 5000, &status_code));
  EXPECT_EQ(status_code, 400u);
  EXPECT_FALSE(raw.RecvFrames(200).has_value());

  // The broker says so in its log, naming the refused keys.
  std::string log = broker.BrokerLog();
  EXPECT_NE(log.find(stranger_keys.public_z85), std::string::npos) << log;
  EXPECT_NE(log.find(raw_keys.public_z85), std::string::npos) << log;
  EXPECT_TRUE(broker.Alive());
  stranger.Close();
  fia.Close();

  broker.Stop();
  auto stored = testing::ReadWholeLog(broker.log_dir());
  ASSERT_OK(stored);
  EXPECT_EQ(stored->size(), 4u);
  for (const auto& env : *stored) {
    EXPECT_EQ(env.producer(), "fia");
    EXPECT_NE(env.case_id(), stranger_case);
  }
}

TEST(Security, AnAgencyPublishesOnlyAsItself) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), testing::SampleAgencies());
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();

  AgencyNode fia;
  ASSERT_OK(testing::OpenNode(broker, "fia", dir.Sub("fia"), &fia));
  std::map<std::string, v1::PublishResult> results;
  fia.client->OnPublishResult([&](const v1::PublishResult& r) { results[r.event_id()] = r; });

  // fia's connection claims to be the police.
  const v1::Event as_police = testing::CaseOpened("police", core::NewUuidV7());
  ASSERT_OK(fia.client->Publish(as_police));
  ASSERT_OK(fia.client->Flush(5000));
  ASSERT_EQ(results.count(as_police.event_id()), 1u);
  const auto& r = results[as_police.event_id()];
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), v1::ERROR_CODE_UNAUTHORIZED) << r.DebugString();
  EXPECT_TRUE(EndsWith(r.error().field(), "actor_agency")) << r.error().field();
  EXPECT_EQ(r.global_seq(), 0u);

  // In a raw batch the refusal is per event, named by position.
  RawDealer raw(broker.endpoint(), broker.broker_keys().public_z85, broker.keys("fia"));
  const std::string fia_case = core::NewUuidV7();
  const v1::Event own = testing::CaseOpened("fia", fia_case);
  const v1::Event forged = testing::CaseOpened("police", core::NewUuidV7());
  auto reply = raw.Call(testing::PublishFrame({Bytes(own), Bytes(forged)}), 5000);
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->publish_ack().results_size(), 2);
  EXPECT_TRUE(reply->publish_ack().results(0).ok());
  const auto& refused = reply->publish_ack().results(1);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), v1::ERROR_CODE_UNAUTHORIZED);
  EXPECT_EQ(refused.error().field(), "events[1].actor_agency");

  // The police's own case: fia, with no access to it, may not add to it as itself either.
  AgencyNode police;
  ASSERT_OK(testing::OpenNode(broker, "police", dir.Sub("police"), &police));
  const std::string police_case = core::NewUuidV7();
  ASSERT_OK(police.client->Publish(testing::CaseOpened("police", police_case)));
  ASSERT_OK(police.client->Flush(5000));
  const v1::Event intrusion = testing::ConsentGiven("fia", police_case, core::NewUuidV7());
  ASSERT_OK(fia.client->Publish(intrusion));
  ASSERT_OK(fia.client->Flush(5000));
  EXPECT_FALSE(results[intrusion.event_id()].ok());
  EXPECT_EQ(results[intrusion.event_id()].error().code(), v1::ERROR_CODE_UNAUTHORIZED)
      << results[intrusion.event_id()].DebugString();
  police.Close();
  fia.Close();

  broker.Stop();
  auto stored = testing::ReadWholeLog(broker.log_dir());
  ASSERT_OK(stored);
  ASSERT_EQ(stored->size(), 2u);
  EXPECT_EQ((*stored)[0].event_id(), own.event_id());
  EXPECT_EQ((*stored)[0].producer(), "fia");
  EXPECT_EQ((*stored)[1].producer(), "police");
}

TEST(Security, AnAgencyNeverReceivesEventsMeantForAnotherAgency) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), testing::SampleAgencies());
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  AgencyNode fia;
  AgencyNode shelter;
  AgencyNode iom;
  ASSERT_OK(testing::OpenNode(broker, "fia", dir.Sub("fia"), &fia));
  ASSERT_OK(testing::OpenNode(broker, "shelter", dir.Sub("shelter"), &shelter));
  ASSERT_OK(testing::OpenNode(broker, "iom", dir.Sub("iom"), &iom));
  std::map<std::string, v1::PublishResult> results;
  auto keep = [&](const v1::PublishResult& r) {
    EXPECT_TRUE(r.ok()) << r.DebugString();
    results[r.event_id()] = r;
  };
  fia.client->OnPublishResult(keep);
  shelter.client->OnPublishResult(keep);

  std::set<uint64_t> shelter_got;
  std::set<uint64_t> iom_inbox;
  std::set<uint64_t> iom_all;
  auto into = [](std::set<uint64_t>& s) {
    return [&s](uint64_t seq, const v1::Envelope&, runtime::StateWrite*) {
      s.insert(seq);
      return Status::Ok();
    };
  };
  ASSERT_OK(shelter.client->Subscribe(v1::SELECTOR_INBOX, 64, into(shelter_got)));
  ASSERT_OK(iom.client->Subscribe(v1::SELECTOR_INBOX, 64, into(iom_inbox)));
  ASSERT_OK(iom.client->Subscribe(v1::SELECTOR_ALL_READABLE, 64, into(iom_all)));

  // Ten cases referred to the shelter (data scope: profile and consents); the shelter receives
  // and accepts half of them, after which fia records more consents (their audience: agencies
  // that may read CONSENTS, i.e. now the shelter too).
  std::set<std::string> shelter_events;
  std::set<std::string> iom_events;
  std::vector<std::pair<std::string, std::string>> accepted;  // case, referral
  for (int c = 0; c < 10; ++c) {
    std::string case_id = core::NewUuidV7();
    std::string consent = core::NewUuidV7();
    std::string ref = core::NewUuidV7();
    ASSERT_OK(fia.client->Publish(testing::CaseOpened("fia", case_id)));
    ASSERT_OK(fia.client->Publish(testing::ConsentGiven("fia", case_id, consent)));
    auto sent = testing::ReferralSent("fia", "shelter", case_id, ref, consent);
    sent.mutable_referral_sent()->mutable_referral()->add_data_scope(v1::DATA_SECTION_CONSENTS);
    shelter_events.insert(sent.event_id());
    ASSERT_OK(fia.client->Publish(sent));
    if (c % 2 == 0) {
      accepted.emplace_back(case_id, ref);
    }
  }
  // One case referred to IOM: a positive control that IOM's subscriptions work.
  std::string iom_case = core::NewUuidV7();
  {
    std::string consent = core::NewUuidV7();
    ASSERT_OK(fia.client->Publish(testing::CaseOpened("fia", iom_case)));
    ASSERT_OK(fia.client->Publish(testing::ConsentGiven("fia", iom_case, consent)));
    auto sent = testing::ReferralSent("fia", "iom", iom_case, core::NewUuidV7(), consent);
    sent.mutable_referral_sent()->mutable_referral()->set_service(
        v1::SERVICE_TYPE_RETURN_REINTEGRATION);
    iom_events.insert(sent.event_id());
    ASSERT_OK(fia.client->Publish(sent));
  }
  ASSERT_OK(fia.client->Flush(10000));
  for (const auto& [case_id, ref] : accepted) {
    ASSERT_OK(shelter.client->Publish(
        testing::Transition("shelter", case_id, ref, v1::REFERRAL_STATUS_RECEIVED)));
    ASSERT_OK(shelter.client->Publish(
        testing::Transition("shelter", case_id, ref, v1::REFERRAL_STATUS_ACCEPTED)));
  }
  ASSERT_OK(shelter.client->Flush(10000));
  for (const auto& [case_id, ref] : accepted) {
    auto consent = testing::ConsentGiven("fia", case_id, core::NewUuidV7());
    shelter_events.insert(consent.event_id());
    ASSERT_OK(fia.client->Publish(consent));
  }
  ASSERT_OK(fia.client->Flush(10000));
  ASSERT_EQ(results.size(), 10u * 3 + 3 + accepted.size() * 3);

  std::set<uint64_t> shelter_seqs;
  for (const auto& id : shelter_events) {
    shelter_seqs.insert(results[id].global_seq());
  }
  std::set<uint64_t> iom_seqs;
  for (const auto& id : iom_events) {
    iom_seqs.insert(results[id].global_seq());
  }
  for (int i = 0; i < 200 && (shelter_got.size() < shelter_seqs.size() || iom_all.empty() ||
                              iom_inbox.empty());
       ++i) {
    ASSERT_OK(shelter.client->Poll(10));
    ASSERT_OK(iom.client->Poll(10));
  }
  ASSERT_OK(iom.client->Poll(300));
  EXPECT_EQ(shelter_got, shelter_seqs);
  EXPECT_EQ(iom_inbox, iom_seqs);
  EXPECT_EQ(iom_all, iom_seqs);
  iom.Close();

  // The protocol has no field naming another agency: a raw IOM connection asking for every
  // stream from the start still gets only IOM's events; a selector outside the enum is refused.
  RawDealer raw(broker.endpoint(), broker.broker_keys().public_z85, broker.keys("iom"));
  std::set<uint64_t> raw_got;
  for (v1::Selector sel : {v1::SELECTOR_INBOX, v1::SELECTOR_ALL_READABLE}) {
    v1::ClientFrame sub;
    sub.mutable_subscribe()->set_selector(sel);
    sub.mutable_subscribe()->set_after_seq(0);
    sub.mutable_subscribe()->set_credits(8192);
    raw.Send(sub);
  }
  v1::ClientFrame bad;
  bad.mutable_subscribe()->set_selector(static_cast<v1::Selector>(3));
  std::vector<v1::ServerFrame> others;
  auto err = raw.Call(bad, 5000, &others);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->error().code(), v1::ERROR_CODE_INVALID);
  EXPECT_EQ(err->error().field(), "subscribe.selector");
  while (auto f = raw.Recv(500)) {
    others.push_back(std::move(*f));
  }
  for (const auto& f : others) {
    ASSERT_TRUE(f.has_deliver()) << f.DebugString();
    raw_got.insert(f.deliver().global_seq());
  }
  EXPECT_EQ(raw_got, iom_seqs);
  for (uint64_t s : shelter_seqs) {
    EXPECT_EQ(raw_got.count(s) + iom_inbox.count(s) + iom_all.count(s), 0u) << "seq " << s;
  }
  shelter.Close();
  fia.Close();
}

}  // namespace
}  // namespace passage
