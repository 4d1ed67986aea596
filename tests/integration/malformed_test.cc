// Malformed messages from an authenticated agency (docs/protocol.md §7, §8): each gets an Error
// with ERROR_CODE_PROTOCOL, and the broker keeps serving the sender and everyone else. Then 2,000
// fuzzed messages, after which the broker still acknowledges a valid publish.

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
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

constexpr int kMaxMessageBytes = 4096;

std::string Bytes(const google::protobuf::Message& m) {
  std::string b;
  m.SerializeToString(&b);
  return b;
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) {
    c = static_cast<char>(rng() & 0xff);
  }
  return s;
}

// A registered agency publishing normally next to the misbehaving connection: one event per
// PUBLISH (the broker's limit is small), each acknowledged.
class Bystander {
 public:
  Status Open(BrokerProcess& broker, const std::string& dir) {
    RETURN_IF_ERROR(testing::OpenNode(broker, "police", dir, &node_,
                                      [](runtime::ClientOptions& o) { o.max_batch = 1; }));
    node_.client->OnPublishResult([this](const v1::PublishResult& r) {
      if (r.ok()) {
        ++acked_;
      }
    });
    case_id_ = core::NewUuidV7();
    RETURN_IF_ERROR(node_.client->Publish(testing::CaseOpened("police", case_id_)).status());
    ++published_;
    return node_.client->Flush(5000);
  }
  // Publishes one event and waits for its ack.
  Status PublishOne() {
    RETURN_IF_ERROR(
        node_.client->Publish(testing::ConsentGiven("police", case_id_, core::NewUuidV7()))
            .status());
    ++published_;
    return node_.client->Flush(5000);
  }
  int acked() const { return acked_; }
  int published() const { return published_; }
  void Close() { node_.Close(); }

 private:
  AgencyNode node_;
  std::string case_id_;
  int acked_ = 0;
  int published_ = 0;
};

// Expects the next reply on `raw` to be a PROTOCOL error naming `field`.
void ExpectProtocolError(RawDealer& raw, const std::string& field, const std::string& what) {
  auto f = raw.Recv(5000);
  ASSERT_TRUE(f.has_value()) << what << ": no reply";
  ASSERT_TRUE(f->has_error()) << what << ": " << f->DebugString();
  EXPECT_EQ(f->error().code(), v1::ERROR_CODE_PROTOCOL) << what << ": " << f->DebugString();
  EXPECT_EQ(f->error().field(), field) << what << ": " << f->DebugString();
  EXPECT_EQ(f->request_id(), 0u) << what;
}

TEST(Malformed, EachBadMessageGetsAProtocolErrorAndTheBrokerKeepsServing) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), testing::SampleAgencies(),
                       {"--max-message-bytes", std::to_string(kMaxMessageBytes)});
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  Bystander police;
  ASSERT_OK(police.Open(broker, dir.Sub("police")));
  RawDealer fia(broker.endpoint(), broker.broker_keys().public_z85, broker.keys("fia"));
  ASSERT_OK(fia.status());
  std::mt19937_64 rng(7);

  v1::ClientFrame ping;
  ping.set_request_id(1);
  ping.mutable_ping()->set_sent_at_ms(1740819600000);
  const std::string ping_body = Bytes(ping);
  v1::ClientFrame publish = testing::PublishFrame(
      {Bytes(testing::CaseOpened("fia", core::NewUuidV7()))});
  publish.set_request_id(2);
  const std::string publish_body = Bytes(publish);
  ASSERT_GT(publish_body.size(), 100u);

  struct Case {
    std::string what;
    std::vector<std::string> frames;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"random bytes, one frame", {RandomBytes(rng, 57)}, "frames"},
      {"an empty single frame", {std::string()}, "frames"},
      {"wrong version frame", {"PSG9", ping_body}, "version"},
      {"truncated protobuf body", {"PSG1", publish_body.substr(0, publish_body.size() - 20)}, "body"},
      {"random body", {"PSG1", std::string("\xff\xff\xff\xff\xff", 5) + RandomBytes(rng, 40)},
       "body"},
      {"oversize message", {"PSG1", std::string(kMaxMessageBytes + 100, 'x')}, "message"},
      {"three frames", {"PSG1", ping_body, ping_body}, "frames"},
      {"empty body", {"PSG1", std::string()}, "body"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    ASSERT_TRUE(fia.SendFrames(c.frames));
    ExpectProtocolError(fia, c.field, c.what);
    // The same connection is still served...
    auto pong = fia.Call(ping, 5000);
    ASSERT_TRUE(pong.has_value()) << c.what;
    EXPECT_TRUE(pong->has_pong()) << pong->DebugString();
    // ...and so is everyone else.
    ASSERT_OK(police.PublishOne()) << broker.BrokerLog();
  }

  // Far beyond the limit (over 4x): libzmq cuts the connection without a reply. The broker keeps
  // serving the others, and the DEALER reconnects and is served again.
  ASSERT_TRUE(fia.SendFrames({"PSG1", std::string(5 * kMaxMessageBytes, 'y')}));
  EXPECT_FALSE(fia.Recv(500).has_value());
  ASSERT_OK(police.PublishOne()) << broker.BrokerLog();
  std::optional<v1::ServerFrame> ack;
  for (int i = 0; i < 20 && !ack; ++i) {
    ack = fia.Call(publish, 500);
  }
  ASSERT_TRUE(ack.has_value()) << "the fia connection was not served again";
  ASSERT_TRUE(ack->has_publish_ack()) << ack->DebugString();
  EXPECT_TRUE(ack->publish_ack().results(0).ok()) << ack->DebugString();

  EXPECT_EQ(police.acked(), police.published());
  EXPECT_TRUE(broker.Alive()) << broker.BrokerLog();
  police.Close();
}

// One fuzzed message: random frame count and sizes, sometimes a valid version frame with a
// mutated valid body (which may parse into any command), sometimes pure noise.
std::vector<std::string> FuzzMessage(std::mt19937_64& rng, const std::vector<std::string>& seeds) {
  std::uniform_int_distribution<int> kind(0, 9);
  std::uniform_int_distribution<size_t> small(0, 300);
  std::vector<std::string> frames;
  int k = kind(rng);
  if (k <= 4) {
    // Mutated valid body behind "PSG1".
    std::string body = seeds[rng() % seeds.size()];
    int flips = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < flips && !body.empty(); ++i) {
      switch (rng() % 4) {
        case 0:
          body[rng() % body.size()] ^= static_cast<char>(1u << (rng() % 8));
          break;
        case 1:
          body[rng() % body.size()] = static_cast<char>(rng() & 0xff);
          break;
        case 2:
          body.resize(rng() % body.size());
          break;
        default:
          body.insert(rng() % (body.size() + 1), RandomBytes(rng, 1 + rng() % 16));
          break;
      }
    }
    frames = {"PSG1", body};
  } else if (k <= 6) {
    frames = {"PSG1", RandomBytes(rng, small(rng))};
  } else if (k == 7) {
    frames = {RandomBytes(rng, rng() % 8), RandomBytes(rng, small(rng))};
  } else {
    size_t n = 1 + rng() % 5;
    for (size_t i = 0; i < n; ++i) {
      frames.push_back(RandomBytes(rng, rng() % 64 == 0 ? kMaxMessageBytes + rng() % 2048
                                                        : small(rng)));
    }
  }
  return frames;
}

TEST(Malformed, TwoThousandFuzzedMessagesLeaveTheBrokerServing) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), testing::SampleAgencies(),
                       {"--max-message-bytes", std::to_string(kMaxMessageBytes)});
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  Bystander police;
  ASSERT_OK(police.Open(broker, dir.Sub("police")));
  RawDealer fia(broker.endpoint(), broker.broker_keys().public_z85, broker.keys("fia"));
  std::mt19937_64 rng(20240229);

  // Seeds: one valid frame of each command.
  const std::string case_id = core::NewUuidV7();
  std::vector<v1::ClientFrame> valid(9);
  valid[0].mutable_hello()->set_client_version("fuzz");
  valid[1] = testing::PublishFrame({Bytes(testing::CaseOpened("fia", case_id)),
                                    Bytes(testing::ConsentGiven("fia", case_id, "c1"))});
  valid[2].mutable_subscribe()->set_selector(v1::SELECTOR_INBOX);
  valid[2].mutable_subscribe()->set_credits(16);
  valid[3].mutable_ack()->set_selector(v1::SELECTOR_INBOX);
  valid[3].mutable_ack()->add_global_seqs(1);
  valid[4].mutable_nack()->set_selector(v1::SELECTOR_INBOX);
  valid[4].mutable_nack()->set_global_seq(1);
  valid[4].mutable_nack()->set_park(true);
  valid[5].mutable_credit()->set_selector(v1::SELECTOR_INBOX);
  valid[5].mutable_credit()->set_credits(3);
  valid[6].mutable_ping()->set_sent_at_ms(1);
  valid[7].mutable_inclusion_proof()->set_global_seq(1);
  valid[8].mutable_consistency_proof()->set_first_size(1);
  std::vector<std::string> seeds;
  for (auto& f : valid) {
    f.set_request_id(rng() % 1000);
    seeds.push_back(Bytes(f));
  }

  int replies = 0;
  int protocol_errors = 0;
  auto drain = [&] {
    while (auto f = fia.Recv(0)) {
      ++replies;
      protocol_errors += f->has_error() && f->error().code() == v1::ERROR_CODE_PROTOCOL ? 1 : 0;
    }
  };
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(fia.SendFrames(FuzzMessage(rng, seeds)));
    drain();
    if (i % 250 == 249) {
      ASSERT_TRUE(broker.Alive()) << "after " << i + 1 << " messages\n" << broker.BrokerLog();
      ASSERT_OK(police.PublishOne()) << "after " << i + 1 << " messages\n" << broker.BrokerLog();
    }
  }
  ASSERT_TRUE(broker.Alive()) << broker.BrokerLog();

  // A valid publish is still acknowledged, on the fuzzed connection and on another one.
  v1::ClientFrame publish =
      testing::PublishFrame({Bytes(testing::CaseOpened("fia", core::NewUuidV7()))});
  publish.set_request_id(987654321);
  std::optional<v1::ServerFrame> ack;
  for (int i = 0; i < 20 && !ack; ++i) {
    ack = fia.Call(publish, 1000);  // may need a reconnect after an over-large fuzzed message
  }
  ASSERT_TRUE(ack.has_value()) << broker.BrokerLog();
  ASSERT_TRUE(ack->has_publish_ack()) << ack->DebugString();
  EXPECT_TRUE(ack->publish_ack().results(0).ok()) << ack->DebugString();
  drain();
  ASSERT_OK(police.PublishOne());
  EXPECT_EQ(police.acked(), police.published());
  EXPECT_TRUE(broker.Alive());
  EXPECT_GT(protocol_errors, 500);
  std::printf("fuzz: 2000 messages, %d replies, %d protocol errors\n", replies, protocol_errors);
  police.Close();
}

TEST(Malformed, ClientKeepsItsBatchesUnderTheBrokersMessageLimit) {
  testing::TempDir dir;
  BrokerProcess broker(dir.Sub("broker"), testing::SampleAgencies(),
                       {"--max-message-bytes", std::to_string(kMaxMessageBytes)});
  ASSERT_TRUE(broker.Start()) << broker.BrokerLog();
  AgencyNode fia;
  ASSERT_OK(testing::OpenNode(broker, "fia", dir.Sub("fia"), &fia));
  int acked = 0;
  fia.client->OnPublishResult([&](const v1::PublishResult& r) { acked += r.ok() ? 1 : 0; });
  // Queued before the first Poll (before WELCOME): they leave together, ~12 KB in one PUBLISH.
  for (int i = 0; i < 50; ++i) {
    ASSERT_OK(fia.client->Publish(testing::CaseOpened("fia", core::NewUuidV7())));
  }
  EXPECT_OK(fia.client->Flush(8000));
  EXPECT_EQ(acked, 50);
}

}  // namespace
}  // namespace passage
