// Writes the binary seeds of the frames and event fuzz targets (tests/fuzz/{frames,event}/corpus)
// from the test NRM's scenarios (tests/core/test_broker.h), so that they hold events the broker
// accepts. Run after changing the protocol or the test events:
//   build/tests/fuzz/fuzz_make_seeds tests/fuzz
// Text seeds (intake JSON, configuration, CTDC CSV) are kept by hand.

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "passage/v1/wire.pb.h"
#include "tests/core/test_broker.h"
#include "transport/frames.h"

namespace {

using namespace passage::core::testing;  // NOLINT: the test NRM's names
namespace v1 = passage::v1;

void Write(const std::filesystem::path& dir, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string PublishOf(const std::vector<v1::Envelope>& log) {
  v1::Publish p;
  for (const auto& env : log) {
    p.add_events(env.event());
  }
  return p.SerializeAsString();
}

// A frames-target input: selector byte 0 (the well-formed shape) and the ClientFrame.
std::string FrameInput(const v1::ClientFrame& f) { return std::string(1, '\0') + f.SerializeAsString(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_seeds TESTS_FUZZ_DIR\n";
    return 2;
  }
  const std::filesystem::path root(argv[1]);
  const std::filesystem::path events = root / "event" / "corpus";
  const std::filesystem::path frames = root / "frames" / "corpus";

  Broker opened;
  if (!opened.Publish(CaseOpenedEvent(kFia)).ok()) {
    std::cerr << "the test NRM refused CaseOpened\n";
    return 1;
  }
  Write(events, "case-opened.pb", PublishOf(opened.log()));

  Broker consents;
  consents.OpenWithConsents();
  Write(events, "opened-with-consents.pb", PublishOf(consents.log()));

  Broker referred;
  referred.OpenWithConsents();
  referred.SendAndAccept(1, kFia, kShelter, v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  (void)referred.Publish(ServiceDeliveredEvent(kShelter, ReferralId(1), v1::SERVICE_TYPE_SHELTER));
  (void)referred.Publish(ConsentWithdrawnEvent(kFia, ConsentId(2)));
  Write(events, "referral-accepted-and-delivered.pb", PublishOf(referred.log()));

  v1::ClientFrame hello;
  hello.set_request_id(1);
  hello.mutable_hello()->set_client_version("passage-node 0.1.0");
  Write(frames, "hello.bin", FrameInput(hello));
  v1::ClientFrame ping;
  ping.set_request_id(2);
  ping.mutable_ping()->set_sent_at_ms(kTestNowMs);
  Write(frames, "ping.bin", FrameInput(ping));
  v1::ClientFrame publish;
  publish.set_request_id(3);
  for (const auto& env : referred.log()) {
    publish.mutable_publish()->add_events(env.event());
  }
  Write(frames, "publish.bin", FrameInput(publish));
  v1::ClientFrame subscribe;
  subscribe.set_request_id(4);
  subscribe.mutable_subscribe();
  Write(frames, "subscribe.bin", FrameInput(subscribe));
  v1::ClientFrame ack;
  ack.set_request_id(5);
  ack.mutable_ack()->add_global_seqs(7);
  Write(frames, "ack.bin", FrameInput(ack));
  v1::ServerFrame error;
  error.set_request_id(6);
  error.mutable_error()->set_field("version");
  error.mutable_error()->set_reason("unsupported version frame (expected \"PSG1\")");
  Write(frames, "server-error.bin", std::string(1, '\0') + error.SerializeAsString());
  // The version frame fuzzed (selector 7): "PSG1" then the body.
  Write(frames, "split-version.bin", std::string(1, '\7') + "PSG1" + ping.SerializeAsString());
  std::cout << "seeds written under " << root.string() << "\n";
  return 0;
}
