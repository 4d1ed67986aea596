#pragma once

// LogSource (private to broker/audit): the read-only view of a log directory the verifier works on.
//
// Two implementations: one over EventLog::Open(read_only), used whenever EventLog accepts the
// directory, and one that reads the RocksDB column families directly (layouts from
// docs/event-log-format.md and broker/log/event_log.cc), used when EventLog refuses to open it.
// Both follow EventLog's contracts for the methods they share, so the verifier cannot tell them
// apart.
//
// Thread-safety: const methods may be called from any thread; the verifier uses one.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "broker/log/event_log.h"
#include "broker/merkle/merkle.h"
#include "core/status.h"

namespace passage::audit::internal {

class LogSource {
 public:
  virtual ~LogSource() = default;

  // Events covered by the Merkle tree state recorded in meta (0 when that state is unreadable).
  virtual uint64_t RecordedSize() const = 0;
  // The tree-head public key recorded in meta (empty when unreadable).
  virtual const std::string& RecordedPublicKey() const = 0;

  // As EventLog::Scan: seq in (after_seq, after_seq + limit] in order, Corruption on a gap.
  virtual Status Scan(uint64_t after_seq, uint64_t limit,
                      const std::function<bool(uint64_t, std::string_view)>& fn) const = 0;
  // As EventLog::ScanTreeHeads; public_key is RecordedPublicKey().
  virtual Status ScanTreeHeads(uint64_t from_size,
                               const std::function<bool(const log::SignedHead&)>& fn) const = 0;
  // As EventLog::Read (NotFound when absent).
  virtual Result<std::string> Read(uint64_t seq) const = 0;
  // As EventLog::FindDuplicate.
  virtual Result<std::optional<log::AppendOutcome>> FindDuplicate(
      std::string_view producer, std::string_view event_id) const = 0;
  // As EventLog::CaseEvents.
  virtual Result<std::vector<uint64_t>> CaseEvents(std::string_view case_id,
                                                   uint64_t after_case_seq,
                                                   uint64_t limit) const = 0;
  // Checks what meta records about the tail (tree state, last leaf) against the recomputed values.
  // OK when it agrees (or when EventLog already checked it on open); Corruption saying why
  // otherwise.
  virtual Status CheckMeta(const merkle::CompactRange& range,
                           const merkle::Hash& last_leaf) const = 0;
};

// Opens through EventLog::Open with read_only = true. Errors are EventLog's.
Result<std::unique_ptr<LogSource>> OpenThroughEventLog(const std::string& path);

// Opens the RocksDB database read-only and reads its column families directly. Fails only when
// RocksDB cannot open the directory or the events column family is absent; damaged meta shows as
// RecordedSize() == 0 / an empty key, and in CheckMeta.
Result<std::unique_ptr<LogSource>> OpenRaw(const std::string& path);

}  // namespace passage::audit::internal
