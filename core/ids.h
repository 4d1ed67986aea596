#pragma once

// Identifiers: UUIDv7 text (RFC 9562) for event ids (time-ordered idempotency keys) and for case and
// referral ids. Never derived from personal data.
//
// Thread-safety: thread-safe (a thread-local generator).

#include <cstdint>
#include <string>

namespace passage::core {

std::string NewUuidV7();
std::string NewUuidV7At(int64_t unix_ms);

}  // namespace passage::core
