#pragma once

// Deterministic events for the crash test: event N's id, case and ~500 payload bytes are a function
// of N, so the parent can check every acknowledged event byte for byte after a crash.

#include <cstdint>
#include <random>
#include <string>

#include "broker/log/event_log.h"

namespace passage::testing {

inline const std::string kCrashSeed(32, 'k');

inline std::string CrashCaseId(uint64_t n) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "018f3a5e-0000-7000-8000-%012llu",
                static_cast<unsigned long long>(n % 97));
  return buf;
}

inline std::string CrashPayload(uint64_t n) {
  std::mt19937_64 rng(n * 0x9e3779b97f4a7c15ULL + 1);
  std::string p(480 + n % 40, '\0');
  for (auto& c : p) {
    c = static_cast<char>(rng());
  }
  return p;
}

inline log::AppendEntry CrashEntry(uint64_t n) {
  log::AppendEntry e;
  e.producer = "crash-writer";
  e.event_id = "evt-" + std::to_string(n);
  e.case_id = CrashCaseId(n);
  e.event_bytes = CrashPayload(n);
  e.appended_at_ms = 1'700'000'000'000 + static_cast<int64_t>(n);
  return e;
}

}  // namespace passage::testing
