#pragma once

// VerifyLog: the offline auditor of a Passage event log (docs/event-log-format.md).
//
// Operation: opens a log directory (normally a RocksDB checkpoint) read-only and, in one sequential
// pass over the events, recomputes everything the log claims: every envelope parses and names the
// sequence number it is stored under, no sequence number is missing, each envelope's
// prev_leaf_hash is the leaf hash of the one before, every leaf is SHA-256(0x00 || stored bytes),
// the RFC 6962 root at the size of every stored signed tree head equals that head's root, every
// head's Ed25519 signature verifies under the trusted key, and the last head covers exactly the
// last event. Optionally it checks that the log extends a tree head an agency saved earlier. It
// stops at the first failure and names the first bad sequence number and why.
//
// The directory is opened through EventLog::Open (read_only). When EventLog refuses to open it
// (damage at the tail, which EventLog checks on open), the refusal is kept in the report and the
// verifier reads the RocksDB column families directly, still read-only, so it can locate the
// damage. Nothing in the directory is written.
//
// Locating an edit: blame rests only on hashed, signed data, never on the dedup table (which
// nothing signs, and which an editor can rewrite to match an edited entry). Editing entry k
// changes its leaf hash, so the chain breaks at k + 1 (or, when k ends a batch, the root at k's
// head differs). Entry k + 1 records k's original leaf hash in its prev_leaf_hash; the report
// blames k (kModified at k) when the next signed head commits to that recorded leaf (its root,
// recomputed from the stored entries with the recorded leaf in k's place, matches), and k + 1
// otherwise (its prev_leaf_hash was edited) or when a verified head already covers k. When the
// chain holds but a head's root differs, the last entry that head covers is blamed.
//
// Which key is trusted: `trusted_public_key` when given; otherwise the key of the `against` head;
// otherwise the key recorded in the log itself (trust on first use: a wholesale forgery that
// replaces the key too is then only caught by comparing with an agency's head).
//
// Thread-safety: VerifyLog is reentrant. With `threads` = 2 it runs one helper thread for the
// duration of the call. Point it at a checkpoint or a copy, never at a live broker's directory.
//
// Limitations: Ed25519 verification costs ~50 µs per head, so a log appended one event per batch
// spends most of its audit time on signatures (see `check_every_head`).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "broker/log/event_log.h"
#include "broker/merkle/merkle.h"
#include "core/status.h"

namespace passage::audit {

// What is wrong, for the first bad sequence number.
enum class FailureKind {
  kNone = 0,
  // The stored bytes of the entry are not the ones that were appended (edited, or a field such as
  // prev_leaf_hash or the sequence number rewritten), or an entry exists that no head covers.
  kModified,
  // A sequence number inside the log has no entry (deleted).
  kMissing,
  // The entry stored under this sequence number is another sequence number's envelope (swapped or
  // moved entries).
  kReordered,
  // The log ends before what its tree state, its own signed heads or the agency's head cover.
  kTruncated,
  // A signed tree head is malformed or its signature does not verify under the trusted key (a
  // history re-hashed and re-signed by someone else, or an altered head).
  kBadSignature,
  // The log does not extend the agency's saved head: its root at that size differs.
  kFork,
  // The directory cannot be read (not a log, I/O error, RocksDB-level corruption, damaged
  // metadata).
  kUnreadable,
  // A dedup or case-index entry points at the wrong event (only with `check_indexes`).
  kBadIndex,
};

std::string_view FailureKindName(FailureKind kind);

struct VerifyProgress {
  uint64_t events_checked = 0;
  uint64_t heads_checked = 0;
  uint64_t expected_events = 0;  // the size the log's tree state records
};

struct VerifyOptions {
  // The log directory (a checkpoint or copy).
  std::string path;
  // 32-byte Ed25519 public key the heads must be signed by. Empty: see "Which key is trusted".
  std::string trusted_public_key;
  // A signed tree head an agency kept; the log must contain it (same root at its size).
  std::optional<log::SignedHead> against;
  // Verify the signature of every stored head (true), or only the latest head's (false, faster for
  // logs with tiny batches, but a forged head then shows as kModified). Roots are compared at every
  // head either way.
  bool check_every_head = true;
  // Also check that each event's dedup entry and case-index entry point back at it, and that case
  // sequence numbers are gap-free. Two point reads per event: several times slower.
  bool check_indexes = false;
  // 2: a helper thread reads RocksDB and checks head signatures while the calling thread hashes
  // (one pass, overlapped); 1: everything on the calling thread.
  int threads = 2;
  // Called every `progress_every` events and once at the end, on the calling thread; may be empty.
  std::function<void(const VerifyProgress&)> progress;
  uint64_t progress_every = 100'000;
};

struct VerifyReport {
  bool ok() const { return kind == FailureKind::kNone; }

  uint64_t events_checked = 0;  // events read and checked (on failure: before it was found)
  uint64_t heads_checked = 0;   // signed heads whose root (and signature) matched
  uint64_t final_size = 0;      // size of the recomputed tree (the events read in order)
  merkle::Hash final_root{};    // its RFC 6962 root
  bool key_pinned = false;      // the trusted key came from the caller or `against`, not the log

  FailureKind kind = FailureKind::kNone;
  // The first sequence number whose entry is bad (for kTruncated: the first one that should exist;
  // for kBadSignature: the first one not covered by a valid head; for kFork: the agency's head
  // size, the histories differ at or before it). 0 when the failure is not about one event.
  uint64_t first_bad_seq = 0;
  std::string reason;  // one line, for an operator
  // Why EventLog::Open refused the directory, when it did; the audit then read RocksDB directly.
  std::string open_error;
};

// Audits the log at options.path. Failures of the log are a report with !ok(); a non-OK Result is
// for bad options (missing path, malformed trusted key, an `against` head whose signature fails).
Result<VerifyReport> VerifyLog(const VerifyOptions& options);

// One line: "modified at seq 150: <reason> (150 events and 5 signed heads checked)", or
// "ok: 400 events and 10 signed heads checked, size 400, root <hex>".
std::string ToString(const VerifyReport& report);

}  // namespace passage::audit
