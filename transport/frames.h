#pragma once

// Wire framing (docs/protocol.md): every ZeroMQ message between an agency and the broker is exactly
// two frames, the 4-byte version frame "PSG1" and one serialized ClientFrame or ServerFrame. The
// ROUTER side sees a routing-id frame in front.
//
// Thread-safety: free functions, thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "passage/v1/wire.pb.h"

namespace passage::transport {

inline constexpr std::string_view kVersionFrame = "PSG1";
inline constexpr size_t kDefaultMaxMessageBytes = 16 << 20;

// Parses [version, body] (after any routing id was removed). Errors are ERROR_CODE_PROTOCOL-worthy
// and say what is wrong: frame count, version, or a body that does not parse.
Result<passage::v1::ClientFrame> ParseClientFrame(const std::vector<std::string_view>& frames);
Result<passage::v1::ServerFrame> ParseServerFrame(const std::vector<std::string_view>& frames);

std::string Serialize(const google::protobuf::Message& m);

}  // namespace passage::transport
