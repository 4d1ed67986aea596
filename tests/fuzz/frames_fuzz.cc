// Fuzz target: the wire frames an agency or the broker receives (docs/protocol.md), decoded as
// broker/server and services/runtime do, then the events of a Publish validated as the broker
// does before it looks at any case.
//
// Input: one selector byte, then the message. Selector % 8 < 6 gives the well-formed shape
// ["PSG1", rest]; 6 gives the single frame [rest]; 7 gives [rest[0..4), rest[4..)] so that the
// version frame itself is fuzzed.

#include <string>
#include <string_view>
#include <vector>

#include "core/validate.h"
#include "passage/v1/events.pb.h"
#include "tests/fuzz/fuzz_target.h"
#include "transport/frames.h"

namespace {

// 2026-01-01T00:00:00Z: a fixed clock keeps every run of an input the same.
constexpr int64_t kNowMs = 1'767'225'600'000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const uint8_t selector = data[0] % 8;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string_view> frames;
  if (selector < 6) {
    frames = {passage::transport::kVersionFrame, rest};
  } else if (selector == 6) {
    frames = {rest};
  } else {
    const size_t cut = rest.size() < 4 ? rest.size() : 4;
    frames = {rest.substr(0, cut), rest.substr(cut)};
  }

  auto client = passage::transport::ParseClientFrame(frames);
  if (client.ok()) {
    PASSAGE_FUZZ_CHECK(client->body_case() != 0, "a parsed ClientFrame has a command");
    // What the broker would send back to the same decoder must decode again.
    const std::string again = passage::transport::Serialize(*client);
    auto reparsed =
        passage::transport::ParseClientFrame({passage::transport::kVersionFrame, again});
    PASSAGE_FUZZ_CHECK(reparsed.ok(), "a re-serialized ClientFrame parses");
    if (client->has_publish()) {
      for (const std::string& raw : client->publish().events()) {
        passage::v1::Event e;
        if (e.ParseFromString(raw)) {
          (void)passage::core::ValidateEvent(e, kNowMs);
          (void)passage::core::IsConfigurationEvent(e);
        }
      }
    }
  } else {
    PASSAGE_FUZZ_CHECK(!client.status().message().empty(), "a refusal says why");
  }

  auto server = passage::transport::ParseServerFrame(frames);
  if (server.ok()) {
    PASSAGE_FUZZ_CHECK(server->body_case() != 0, "a parsed ServerFrame has a command");
  }
  return 0;
}
