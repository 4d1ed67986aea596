// Fuzz target: events as the broker takes them in. The input is a serialized passage.v1.Publish
// (the wire message that carries events); each event is parsed, validated (core/validate.h),
// normalized, checked against its case (CaseProjection::Check, with the test NRM's agencies of
// tests/core/test_broker.h) and, when accepted, applied, as broker/server's Stage does. A
// sequence of events thus drives a case through its state machine.
//
// Invariants: validation and checking refuse with a status, never crash; an event that was
// accepted still validates after NormalizeEvent; the projection's state serializes.

#include <map>
#include <string>

#include "core/case_projection.h"
#include "core/validate.h"
#include "passage/v1/events.pb.h"
#include "passage/v1/wire.pb.h"
#include "tests/core/test_broker.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

// The test broker's clock (tests/core/test_broker.h): test events lie a minute before kTestNowMs.
constexpr int64_t kNowMs = passage::core::testing::kTestNowMs + 30LL * 24 * 3600 * 1000;
// Enough events for a case's life; more only slows each run down.
constexpr int kMaxEvents = 64;

const passage::core::InMemoryAgencyDirectory& Directory() {
  static const auto* directory =
      new passage::core::InMemoryAgencyDirectory(passage::core::testing::TestDirectory());
  return *directory;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  passage::v1::Publish publish;
  if (!publish.ParseFromArray(data, static_cast<int>(size))) {
    return 0;
  }
  std::map<std::string, passage::core::CaseProjection> cases;
  uint64_t seq = 0;
  int n = 0;
  for (const std::string& raw : publish.events()) {
    if (++n > kMaxEvents) {
      break;
    }
    passage::v1::Event e;
    if (!e.ParseFromString(raw)) {
      continue;
    }
    if (!passage::core::ValidateEvent(e, kNowMs).ok() ||
        passage::core::IsConfigurationEvent(e)) {
      continue;
    }
    passage::v1::Event normal = e;
    if (passage::core::NormalizeEvent(&normal).ok()) {
      PASSAGE_FUZZ_CHECK(passage::core::ValidateEvent(normal, kNowMs).ok(),
                         "a valid event stays valid in normal form");
    }
    passage::core::CaseProjection& proj = cases[e.case_id()];
    if (!proj.Check(e, Directory()).ok()) {
      continue;
    }
    passage::v1::Envelope env;
    env.set_global_seq(++seq);
    env.set_case_seq(proj.state().version() + 1);
    env.set_producer(e.actor_agency());
    env.set_appended_at_ms(kNowMs);
    env.set_case_id(e.case_id());
    env.set_event_id(e.event_id());
    proj.Apply(env, e);
    (void)passage::core::AudienceOf(proj.state(), e, Directory());
    PASSAGE_FUZZ_CHECK(!proj.SerializeDeterministic().empty() || !proj.exists(),
                       "an opened case's state serializes");
  }
  return 0;
}
