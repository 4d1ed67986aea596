#include "broker/audit/envelope_view.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <limits>

namespace passage::audit::internal {
namespace {

using google::protobuf::internal::WireFormatLite;

// Field numbers of passage.v1.Envelope (proto/passage/v1/events.proto).
enum EnvelopeField : uint32_t {
  kGlobalSeq = 1,
  kCaseSeq = 2,
  kPrevLeafHash = 3,
  kProducer = 4,
  kAppendedAtMs = 5,
  kCaseId = 6,
  kEventId = 7,
  kEvent = 8,
};

// Reads a length-delimited field as a view into `bytes`.
bool ReadBytes(google::protobuf::io::CodedInputStream& in, std::string_view bytes,
               std::string_view& out) {
  uint32_t length = 0;
  if (!in.ReadVarint32(&length) || length > static_cast<uint32_t>(in.BytesUntilLimit())) {
    return false;
  }
  out = bytes.substr(static_cast<size_t>(in.CurrentPosition()), length);
  return in.Skip(static_cast<int>(length));
}

}  // namespace

bool ParseEnvelopeView(std::string_view bytes, EnvelopeView& out) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return false;
  }
  out = EnvelopeView{};
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  in.PushLimit(static_cast<int>(bytes.size()));
  std::string_view ignored;
  while (in.CurrentPosition() < static_cast<int>(bytes.size())) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) {
      return false;  // a zero tag, or a truncated one
    }
    const auto type = WireFormatLite::GetTagWireType(tag);
    const bool varint = type == WireFormatLite::WIRETYPE_VARINT;
    const bool delimited = type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    bool ok = true;
    switch (WireFormatLite::GetTagFieldNumber(tag)) {
      case kGlobalSeq:
        ok = varint ? in.ReadVarint64(&out.global_seq) : WireFormatLite::SkipField(&in, tag);
        break;
      case kCaseSeq:
        ok = varint ? in.ReadVarint64(&out.case_seq) : WireFormatLite::SkipField(&in, tag);
        break;
      case kPrevLeafHash:
        ok = delimited ? ReadBytes(in, bytes, out.prev_leaf_hash)
                       : WireFormatLite::SkipField(&in, tag);
        break;
      case kProducer:
        ok = delimited ? ReadBytes(in, bytes, out.producer) : WireFormatLite::SkipField(&in, tag);
        break;
      case kCaseId:
        ok = delimited ? ReadBytes(in, bytes, out.case_id) : WireFormatLite::SkipField(&in, tag);
        break;
      case kEventId:
        ok = delimited ? ReadBytes(in, bytes, out.event_id) : WireFormatLite::SkipField(&in, tag);
        break;
      case kAppendedAtMs:
      case kEvent:
      default:
        ok = WireFormatLite::SkipField(&in, tag);
        break;
    }
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace passage::audit::internal
