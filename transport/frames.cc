#include "transport/frames.h"

namespace passage::transport {
namespace {

template <typename Frame>
Result<Frame> ParseFrame(const std::vector<std::string_view>& frames, std::string_view what) {
  if (frames.size() != 2) {
    return Status::InvalidArgument("frames", "expected 2 frames (version, body), got " +
                                                 std::to_string(frames.size()));
  }
  if (frames[0] != kVersionFrame) {
    return Status::InvalidArgument("version", "unsupported version frame (expected \"PSG1\")");
  }
  Frame f;
  if (!f.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size()))) {
    return Status::InvalidArgument("body", std::string("is not a valid ") + std::string(what));
  }
  if (f.body_case() == 0) {
    return Status::InvalidArgument("body", std::string(what) + " has no command set");
  }
  return f;
}

}  // namespace

Result<passage::v1::ClientFrame> ParseClientFrame(const std::vector<std::string_view>& frames) {
  return ParseFrame<passage::v1::ClientFrame>(frames, "ClientFrame");
}

Result<passage::v1::ServerFrame> ParseServerFrame(const std::vector<std::string_view>& frames) {
  return ParseFrame<passage::v1::ServerFrame>(frames, "ServerFrame");
}

std::string Serialize(const google::protobuf::Message& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

}  // namespace passage::transport
