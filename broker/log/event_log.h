#pragma once

// EventLog: the broker's durable, tamper-evident, append-only event log.
//
// Operation: every Append is one atomic RocksDB WriteBatch written with sync=true. It assigns
// gap-free global sequence numbers (from 1), per-case sequence numbers, wraps each event's exact
// bytes in an Envelope that carries the previous leaf hash, adds the leaf to an RFC 6962 Merkle tree
// and stores a new Ed25519-signed tree head. Nothing an Append returned can be lost after it returns.
// The on-disk layout is specified in docs/event-log-format.md.
//
// Dedup: (producer, event id) is remembered for the life of the log; appending it again returns the
// original sequence numbers and leaf hash with `duplicate = true`, and writes nothing.
//
// Recovery: Open checks that the stored tree, the last envelope and the tail of the hash chain agree
// and refuses to open (Corruption, naming the sequence number and what is wrong) otherwise; it never
// truncates. Full verification of every entry is the auditor's job (broker/audit).
//
// Concurrency: Append and the state writes are serialised internally; reads may run from any thread
// concurrently with one appender.
//
// Limitations: one process at a time (RocksDB's LOCK file); read-only opens see the log as of opening.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/merkle/merkle.h"
#include "broker/merkle/tree_head.h"
#include "core/status.h"

namespace rocksdb {
class FileSystem;
}  // namespace rocksdb

namespace passage::log {

struct EventLogOptions {
  std::string path;
  // 32-byte Ed25519 seed for signing tree heads. Required unless read_only.
  std::string signing_seed;
  bool create_if_missing = true;
  // Open without the write lock, for audits of a copy or checkpoint. Append fails.
  bool read_only = false;
  // Broker clock for tree-head timestamps; defaults to the system clock.
  std::function<int64_t()> clock_ms;
  // How many envelopes at the tail Open re-checks (hash chain and sequence numbers).
  uint32_t tail_check = 256;
  // The file system RocksDB writes through; null is the operating system's. For tests that inject
  // faults (power loss: tests/testing/power_loss_fs.h); the broker never sets it otherwise.
  std::shared_ptr<rocksdb::FileSystem> file_system;
};

struct AppendEntry {
  std::string producer;      // authenticated agency id
  std::string event_id;      // producer's idempotency key
  std::string case_id;       // empty for configuration events (not case-indexed)
  std::string event_bytes;   // the producer's serialized Event, stored as is
  int64_t appended_at_ms = 0;
  // Agencies that must receive this event: the log indexes it under StateKeys::Audience in the same
  // atomic batch, so a delivery index can never miss an acknowledged event.
  std::vector<std::string> audience;
  // The caller already looked (producer, event_id) up with FindDuplicate and found nothing, with no
  // append in between; Append skips the second lookup. Repeats within one batch are still caught.
  bool checked_new = false;
  // The case seq this entry must get, when the caller already knows the case's version (the
  // broker's projection, itself built from CaseVersion/CaseEvents, does); 0 makes Append look the
  // case head up. A known seq is trusted against the stored head (no lookup: that is its point);
  // Append refuses the batch (Internal) only if it does not follow the case's earlier entries in
  // the same batch.
  uint64_t known_case_seq = 0;
};

// Keys the log itself writes into the broker state key space.
struct StateKeys {
  // "a/" agency 0x00 be64(global seq) -> empty value
  static std::string Audience(std::string_view agency, uint64_t seq);
  static std::string AudiencePrefix(std::string_view agency);
  // "r/" be64(global seq) -> empty value: a configuration event (no case id: a registry change),
  // so that the broker finds the registry changes at start without reading the whole log.
  static std::string Configuration(uint64_t seq);
  static constexpr std::string_view kConfigurationPrefix = "r/";
};

struct AppendOutcome {
  uint64_t global_seq = 0;
  uint64_t case_seq = 0;
  merkle::Hash leaf_hash{};
  bool duplicate = false;
};

struct SignedHead {
  merkle::TreeHead head;
  std::string signature;   // 64 bytes
  std::string public_key;  // 32 bytes
};

class EventLog {
 public:
  static Result<std::unique_ptr<EventLog>> Open(const EventLogOptions& options);

  virtual ~EventLog() = default;
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Appends all entries in one synced batch; outcomes in entry order. Either every new entry is
  // durable or none is (on error nothing was written).
  virtual Result<std::vector<AppendOutcome>> Append(std::span<const AppendEntry> entries) = 0;

  // The original outcome of (producer, event_id), if stored.
  virtual Result<std::optional<AppendOutcome>> FindDuplicate(std::string_view producer,
                                                             std::string_view event_id) const = 0;

  virtual uint64_t LastSeq() const = 0;
  virtual SignedHead LatestHead() const = 0;

  // Stored envelope bytes of `seq`; NotFound past the end.
  virtual Result<std::string> Read(uint64_t seq) const = 0;
  // Calls fn(seq, envelope bytes) for seq in (after_seq, after_seq + limit], in order, until fn
  // returns false. Corruption if a sequence number is missing.
  virtual Status Scan(uint64_t after_seq, uint64_t limit,
                      const std::function<bool(uint64_t, std::string_view)>& fn) const = 0;

  // Last case seq of `case_id` (0 when the case has no event).
  virtual Result<uint64_t> CaseVersion(std::string_view case_id) const = 0;
  // Global seqs of the case's events with case seq in (after_case_seq, ...], at most `limit`.
  virtual Result<std::vector<uint64_t>> CaseEvents(std::string_view case_id, uint64_t after_case_seq,
                                                   uint64_t limit) const = 0;

  virtual Result<merkle::Hash> RootAt(uint64_t tree_size) const = 0;
  virtual Result<std::vector<merkle::Hash>> InclusionProof(uint64_t seq,
                                                           uint64_t tree_size) const = 0;
  virtual Result<std::vector<merkle::Hash>> ConsistencyProof(uint64_t first_size,
                                                             uint64_t second_size) const = 0;
  // Every stored signed tree head with tree size in [from_size, ...], ascending, until fn is false.
  virtual Status ScanTreeHeads(uint64_t from_size,
                               const std::function<bool(const SignedHead&)>& fn) const = 0;

  // Broker bookkeeping (delivery cursors, parked deliveries) in its own key space. Writes are
  // atomic; `sync` chooses whether this write waits for the disk.
  virtual Status PutState(std::span<const std::pair<std::string, std::string>> puts,
                          std::span<const std::string> deletes, bool sync) = 0;
  virtual Result<std::optional<std::string>> GetState(std::string_view key) const = 0;
  // Keys with `prefix`, ascending from max(prefix, start) until fn returns false.
  virtual Status ScanState(std::string_view prefix, std::string_view start,
                           const std::function<bool(std::string_view, std::string_view)>& fn) const = 0;

  // A consistent on-disk copy (RocksDB checkpoint) in `dir`, which must not exist.
  virtual Status Checkpoint(const std::string& dir) const = 0;

 protected:
  EventLog() = default;
};

// Big-endian fixed-width encodings used in keys (docs/event-log-format.md).
std::string EncodeBe64(uint64_t v);
uint64_t DecodeBe64(std::string_view b);  // requires b.size() >= 8

}  // namespace passage::log
