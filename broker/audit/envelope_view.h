#pragma once

// EnvelopeView (private to broker/audit): the fields of a stored passage.v1.Envelope that the audit
// checks, read straight from the wire format without copying.
//
// ParseEnvelopeView walks every field with protobuf's CodedInputStream and fails exactly when the
// bytes are not a well-formed protobuf message (bad tag, truncated varint or length, a length past
// the end, a stray end-group). Unknown fields are skipped, and a repeated field keeps its last
// value, as protobuf does. It does not check UTF-8 in string fields: the audit judges bytes by
// their hashes.
//
// Thread-safety: a value type; the views point into the parsed bytes and live no longer than them.

#include <cstdint>
#include <string_view>

namespace passage::audit::internal {

struct EnvelopeView {
  uint64_t global_seq = 0;
  uint64_t case_seq = 0;
  std::string_view prev_leaf_hash;
  std::string_view producer;
  std::string_view case_id;
  std::string_view event_id;
};

// False when `bytes` is not a well-formed Envelope; `out` is then unspecified.
bool ParseEnvelopeView(std::string_view bytes, EnvelopeView& out);

}  // namespace passage::audit::internal
