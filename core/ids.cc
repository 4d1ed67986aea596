#include "core/ids.h"

#include <chrono>
#include <cstdio>
#include <random>

namespace passage::core {

std::string NewUuidV7At(int64_t unix_ms) {
  thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }());
  uint8_t b[16];
  uint64_t ms = static_cast<uint64_t>(unix_ms);
  for (int i = 0; i < 6; ++i) {
    b[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  }
  uint64_t r1 = rng();
  uint64_t r2 = rng();
  for (int i = 6; i < 16; ++i) {
    b[i] = static_cast<uint8_t>(i < 11 ? r1 >> (8 * (i - 6)) : r2 >> (8 * (i - 11)));
  }
  b[6] = static_cast<uint8_t>(0x70 | (b[6] & 0x0f));  // version 7
  b[8] = static_cast<uint8_t>(0x80 | (b[8] & 0x3f));  // variant 10
  char out[37];
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

std::string NewUuidV7() {
  return NewUuidV7At(std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count());
}

}  // namespace passage::core
