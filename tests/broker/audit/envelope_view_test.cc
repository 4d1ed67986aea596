#include "broker/audit/envelope_view.h"

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "passage/v1/events.pb.h"

namespace passage::audit::internal {
namespace {

passage::v1::Envelope Sample() {
  passage::v1::Envelope env;
  env.set_global_seq(123456789);
  env.set_case_seq(42);
  env.set_prev_leaf_hash(std::string(32, '\x7f'));
  env.set_producer("ngo-lahore");
  env.set_appended_at_ms(1'700'000'000'000);
  env.set_case_id("018f3a5e-0000-7000-8000-00000000000a");
  env.set_event_id("ev-9");
  env.set_event(std::string(300, 'e'));
  return env;
}

void ExpectSameFields(const passage::v1::Envelope& env, const EnvelopeView& view) {
  EXPECT_EQ(view.global_seq, env.global_seq());
  EXPECT_EQ(view.case_seq, env.case_seq());
  EXPECT_EQ(view.prev_leaf_hash, env.prev_leaf_hash());
  EXPECT_EQ(view.producer, env.producer());
  EXPECT_EQ(view.case_id, env.case_id());
  EXPECT_EQ(view.event_id, env.event_id());
}

TEST(EnvelopeView, ReadsTheFieldsOfASerializedEnvelope) {
  passage::v1::Envelope env = Sample();
  std::string bytes = env.SerializeAsString();
  EnvelopeView view;
  ASSERT_TRUE(ParseEnvelopeView(bytes, view));
  ExpectSameFields(env, view);

  passage::v1::Envelope empty;
  ASSERT_TRUE(ParseEnvelopeView(empty.SerializeAsString(), view));
  ExpectSameFields(empty, view);
}

TEST(EnvelopeView, SkipsUnknownFieldsAndKeepsTheLastOfARepeatedOne) {
  std::string bytes = Sample().SerializeAsString();
  bytes += std::string("\xa8\x06\x05", 3);    // field 101, varint 5
  bytes += std::string("\xb2\x06\x02hi", 5);  // field 102, 2 bytes
  bytes += std::string("\x08\x07", 2);        // global_seq again: 7
  passage::v1::Envelope env;
  ASSERT_TRUE(env.ParseFromString(bytes));
  EnvelopeView view;
  ASSERT_TRUE(ParseEnvelopeView(bytes, view));
  ExpectSameFields(env, view);
  EXPECT_EQ(view.global_seq, 7u);
}

TEST(EnvelopeView, RejectsMalformedBytes) {
  std::string bytes = Sample().SerializeAsString();
  EnvelopeView view;
  EXPECT_FALSE(ParseEnvelopeView(bytes.substr(0, bytes.size() - 1), view));  // short last field
  EXPECT_FALSE(ParseEnvelopeView(bytes + std::string(1, '\0'), view));       // zero tag
  EXPECT_FALSE(ParseEnvelopeView(bytes + "\x08", view));                     // truncated varint
  EXPECT_FALSE(ParseEnvelopeView(bytes + "\x0c", view));                     // stray end-group
  EXPECT_FALSE(ParseEnvelopeView("\x1a\xff\xff\xff\xff\x0f", view));         // huge length
}

// Random damage: whenever protobuf accepts the bytes, the view reads the same fields; whenever the
// view refuses them, protobuf does too. (Protobuf may refuse more: it also checks UTF-8.)
TEST(EnvelopeView, AgreesWithProtobufOnDamagedEnvelopes) {
  const std::string good = Sample().SerializeAsString();
  google::protobuf::LogSilencer quiet;  // protobuf logs every invalid UTF-8 string it refuses
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = good;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 3) {
        case 0:
          bytes[rng() % bytes.size()] ^= static_cast<char>(1 + rng() % 255);
          break;
        case 1:
          bytes.resize(rng() % bytes.size());
          break;
        default:
          bytes.insert(rng() % (bytes.size() + 1), 1, static_cast<char>(rng()));
          break;
      }
      if (bytes.empty()) {
        break;
      }
    }
    passage::v1::Envelope env;
    const bool proto_ok = env.ParseFromString(bytes);
    EnvelopeView view;
    const bool view_ok = ParseEnvelopeView(bytes, view);
    if (proto_ok) {
      ASSERT_TRUE(view_ok) << "edit " << i;
      ExpectSameFields(env, view);
    }
  }
}

}  // namespace
}  // namespace passage::audit::internal
