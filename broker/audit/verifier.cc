#include "broker/audit/verifier.h"

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "broker/audit/envelope_view.h"
#include "broker/audit/log_source.h"
#include "broker/audit/read_ahead.h"
#include "broker/merkle/tree_head.h"
#include "passage/v1/events.pb.h"

namespace passage::audit {
namespace {

using internal::LogSource;

// Heads are read in chunks so that a log with one head per event does not hold them all at once.
constexpr size_t kHeadChunk = 4096;

std::string Seq(uint64_t seq) { return "seq " + std::to_string(seq); }

std::string ShortHex(const merkle::Hash& h) { return merkle::ToHex(h).substr(0, 16); }

// One audit of one source. Run() fills the report; the first failure stops it.
class Verifier {
 public:
  Verifier(const VerifyOptions& options, const LogSource& source, std::string trusted_key,
           VerifyReport& report)
      : options_(options), source_(source), trusted_key_(std::move(trusted_key)), report_(report) {}

  void Run() {
    progress_.expected_events = source_.RecordedSize();
    CheckAgainstAt(0);
    uint64_t from_size = 0;
    bool heads_done = false;
    Status head_error;
    while (!failed()) {
      heads_.clear();
      signature_ok_.clear();
      next_head_ = 0;
      if (!heads_done) {
        Status s = source_.ScanTreeHeads(from_size, [&](const log::SignedHead& h) {
          heads_.push_back(h);
          max_head_size_ = std::max(max_head_size_, h.head.tree_size);
          return heads_.size() < kHeadChunk;
        });
        if (!s.ok()) {
          head_error = s;
          heads_done = true;
        } else if (heads_.size() < kHeadChunk) {
          heads_done = true;
        }
      }
      last_chunk_ = heads_done;
      signature_ok_.assign(heads_.size(), 0);
      if (heads_.empty()) {
        break;
      }
      // Heads at or below the current size cannot be reached by appending (a size-0 head, or keys
      // out of order): check them against the current state now.
      if (!CheckDueHeads()) {
        break;
      }
      const uint64_t target = heads_.back().head.tree_size;
      if (target > range_.size() && !ScanEvents(target - range_.size())) {
        break;
      }
      if (range_.size() < target) {
        break;  // the events end before the heads do: truncation, reported below
      }
      from_size = target + 1;
    }
    if (failed()) {
      return Finish();
    }
    if (!head_error.ok()) {
      Fail(FailureKind::kBadSignature, verified_size_ + 1,
           "the signed tree heads after size " + std::to_string(verified_size_) +
               " cannot be read: " + head_error.ToString());
      return Finish();
    }
    // Whatever follows the last head is covered by no signature.
    const uint64_t covered = range_.size();
    if (!ScanEvents(UINT64_MAX)) {
      return Finish();
    }
    if (range_.size() > covered) {
      // ScanEvents stops at the first uncovered event (see OnEvent).
      return Finish();
    }
    uint64_t claimed = std::max(source_.RecordedSize(), max_head_size_);
    if (range_.size() < claimed) {
      Fail(FailureKind::kTruncated, range_.size() + 1,
           "the log ends at " + Seq(range_.size()) + " but " +
               (max_head_size_ >= source_.RecordedSize()
                    ? "a signed tree head covers " + std::to_string(max_head_size_) + " events"
                    : "its tree state records " + std::to_string(source_.RecordedSize()) +
                          " events"));
      return Finish();
    }
    if (options_.against.has_value() && options_.against->head.tree_size > range_.size()) {
      Fail(FailureKind::kTruncated, range_.size() + 1,
           "the log ends at " + Seq(range_.size()) + " but the agency's signed head covers " +
               std::to_string(options_.against->head.tree_size) + " events");
      return Finish();
    }
    if (Status meta = source_.CheckMeta(range_, prev_leaf_); !meta.ok()) {
      Fail(FailureKind::kUnreadable, 0, "the log's metadata is damaged: " + meta.message());
      return Finish();
    }
    if (!report_.open_error.empty()) {
      Fail(FailureKind::kUnreadable, 0,
           "every event verifies, but the broker refuses to open the log: " + report_.open_error);
      return Finish();
    }
    Finish();
  }

 private:
  bool failed() const { return report_.kind != FailureKind::kNone; }

  void Fail(FailureKind kind, uint64_t seq, std::string reason) {
    if (failed()) {
      return;
    }
    report_.kind = kind;
    report_.first_bad_seq = seq;
    report_.reason = std::move(reason);
  }

  void Finish() {
    report_.final_size = range_.size();
    report_.final_root = range_.Root();
    report_.events_checked = progress_.events_checked;
    report_.heads_checked = progress_.heads_checked;
    if (options_.progress) {
      options_.progress(progress_);
    }
  }

  // Reads up to `limit` events after the current size. False when a failure was recorded.
  bool ScanEvents(uint64_t limit) {
    const uint64_t after = range_.size();
    auto on_event = [this](uint64_t seq, std::string_view bytes) { return OnEvent(seq, bytes); };
    Status s;
    if (options_.threads >= 2) {
      // The reader thread also checks each head's signature as it passes the head's last event.
      size_t reader_head = next_head_;
      auto on_read = [this, reader_head](uint64_t seq) mutable {
        while (reader_head < heads_.size() && heads_[reader_head].head.tree_size <= seq) {
          if (heads_[reader_head].head.tree_size == seq && NeedsSignature(reader_head)) {
            const log::SignedHead& h = heads_[reader_head];
            signature_ok_[reader_head] =
                merkle::VerifyTreeHead(h.head, h.signature, trusted_key_).ok() ? 1 : -1;
          }
          ++reader_head;
        }
      };
      s = internal::ScanWithReadAhead(source_, after, limit, on_read, on_event);
    } else {
      s = source_.Scan(after, limit, on_event);
    }
    if (failed()) {
      return false;
    }
    if (!s.ok()) {
      // Scan stops at a gap (Corruption) or when RocksDB cannot read. Ask which.
      const uint64_t seq = range_.size() + 1;
      Result<std::string> probe = source_.Read(seq);
      if (probe.status().code() == StatusCode::kNotFound) {
        Fail(FailureKind::kMissing, seq, s.message());
      } else {
        Fail(FailureKind::kUnreadable, seq, "cannot read " + Seq(seq) + ": " + s.ToString());
      }
      return false;
    }
    return true;
  }

  bool OnEvent(uint64_t seq, std::string_view bytes) {
    if (last_chunk_ && next_head_ >= heads_.size()) {
      Fail(FailureKind::kModified, seq,
           Seq(seq) + " is stored but no signed tree head covers it (the latest covers " +
               std::to_string(max_head_size_) + " events)");
      return false;
    }
    if (!internal::ParseEnvelopeView(bytes, env_)) {
      Fail(FailureKind::kModified, seq, "the envelope of " + Seq(seq) + " does not parse");
      return false;
    }
    const bool chains = env_.prev_leaf_hash == merkle::AsBytes(prev_leaf_);
    if (env_.global_seq != seq) {
      if (chains) {
        Fail(FailureKind::kModified, seq,
             "the envelope of " + Seq(seq) + " names seq " + std::to_string(env_.global_seq) +
                 " but chains to seq " + std::to_string(seq - 1) +
                 ": its sequence number was altered");
      } else {
        Fail(FailureKind::kReordered, seq,
             "the entry stored under " + Seq(seq) + " is the envelope of seq " +
                 std::to_string(env_.global_seq) + " (entries swapped or moved)");
      }
      return false;
    }
    if (!chains) {
      LocateChainBreak(seq);
      return false;
    }
    const merkle::Hash leaf = merkle::LeafHash(bytes);
    if (options_.check_indexes && !CheckIndexes(seq, leaf)) {
      return false;
    }
    range_.Append(leaf, no_sink_);
    prev_leaf_ = leaf;
    ++progress_.events_checked;
    if (!CheckDueHeads()) {
      return false;
    }
    CheckAgainstAt(range_.size());
    if (failed()) {
      return false;
    }
    if (options_.progress && options_.progress_every > 0 &&
        progress_.events_checked % options_.progress_every == 0) {
      options_.progress(progress_);
    }
    return true;
  }

  // Checks every loaded head whose size the recomputed tree has reached. False on failure.
  bool CheckDueHeads() {
    while (next_head_ < heads_.size() && heads_[next_head_].head.tree_size <= range_.size()) {
      const log::SignedHead& h = heads_[next_head_];
      if (h.head.tree_size < range_.size()) {
        Fail(FailureKind::kBadSignature, verified_size_ + 1,
             "a signed tree head for size " + std::to_string(h.head.tree_size) +
                 " is stored out of order");
        return false;
      }
      if (NeedsSignature(next_head_) && signature_ok_[next_head_] <= 0) {
        // Not checked yet (no reader thread), or checked and bad: (re)check for the reason.
        Status sig = merkle::VerifyTreeHead(h.head, h.signature, trusted_key_);
        if (!sig.ok()) {
          std::string why = "the signed tree head for size " + std::to_string(h.head.tree_size) +
                            " does not verify under the trusted key";
          if (!trusted_key_.empty() && trusted_key_ != source_.RecordedPublicKey()) {
            why += " (the log records another key)";
          }
          Fail(FailureKind::kBadSignature, verified_size_ + 1, why + ": " + sig.message());
          return false;
        }
      }
      if (h.head.root != range_.Root()) {
        LocateRootMismatch(h);
        return false;
      }
      verified_size_ = h.head.tree_size;
      verified_range_ = range_;
      ++progress_.heads_checked;
      ++next_head_;
    }
    return true;
  }

  bool NeedsSignature(size_t head_index) const {
    return options_.check_every_head || (last_chunk_ && head_index + 1 == heads_.size());
  }

  void CheckAgainstAt(uint64_t size) {
    if (!options_.against.has_value() || options_.against->head.tree_size != size) {
      return;
    }
    const merkle::Hash root = range_.Root();
    if (root != options_.against->head.root) {
      Fail(FailureKind::kFork, size,
           "the log's root at size " + std::to_string(size) + " is " + ShortHex(root) +
               ".. but the agency's signed head has " + ShortHex(options_.against->head.root) +
               "..: the log does not extend it (history rewritten at or before " + Seq(size) + ")");
    }
  }

  // seq's prev_leaf_hash is not the leaf hash of seq - 1: one of the two was altered. Only hashed,
  // signed data decides which (never the dedup table, which nothing signs and an editor can
  // rewrite to match): seq - 1 is known good when a verified head covers it; otherwise seq's
  // envelope records the leaf seq - 1 had when seq was appended, and seq - 1 is the altered one
  // exactly when the next signed head commits to that recorded leaf.
  void LocateChainBreak(uint64_t seq) {
    const std::string what = "the prev_leaf_hash of " + Seq(seq) + " is not the leaf hash of seq " +
                             std::to_string(seq - 1);
    if (seq == 1) {
      Fail(FailureKind::kModified, seq, "the prev_leaf_hash of seq 1 is not 32 zero bytes");
      return;
    }
    if (verified_size_ >= seq - 1) {
      Fail(FailureKind::kModified, seq,
           what + ", which a verified signed head covers: " + Seq(seq) + " was altered");
      return;
    }
    auto recorded = merkle::HashFromBytes(env_.prev_leaf_hash, "prev_leaf_hash");
    uint64_t head_size = 0;
    if (recorded.ok() && HeadCommitsTo(seq - 1, *recorded, &head_size)) {
      Fail(FailureKind::kModified, seq - 1,
           "the stored bytes of seq " + std::to_string(seq - 1) +
               " do not hash to the leaf hash that " + Seq(seq) +
               " records, and the signed tree head for size " + std::to_string(head_size) +
               " commits to the recorded one: seq " + std::to_string(seq - 1) + " was altered");
      return;
    }
    Fail(FailureKind::kModified, seq,
         what + ", and no signed tree head commits to the leaf hash it records instead: " +
             Seq(seq) + " was altered");
  }

  // The root at head `h` differs while every envelope since the last verified head chains. An
  // edit of an entry before h's last one would have broken the chain at the entry after it, so the
  // last entry h covers is blamed; when the entry after it still records its original leaf hash
  // and h commits to that, the blame is certain.
  void LocateRootMismatch(const log::SignedHead& h) {
    const uint64_t last = h.head.tree_size;
    const std::string what = "the recomputed root at size " + std::to_string(last) +
                             " differs from its signed tree head";
    Result<std::string> next = source_.Read(last + 1);
    passage::v1::Envelope env;
    if (next.ok() && env.ParseFromString(*next) && env.global_seq() == last + 1) {
      auto recorded = merkle::HashFromBytes(env.prev_leaf_hash(), "prev_leaf_hash");
      uint64_t head_size = 0;
      if (recorded.ok() && *recorded != prev_leaf_ && HeadCommitsTo(last, *recorded, &head_size)) {
        Fail(FailureKind::kModified, last,
             what + "; the stored bytes of " + Seq(last) +
                 " do not hash to the leaf hash that seq " + std::to_string(last + 1) +
                 " records, which the head commits to: " + Seq(last) + " was altered");
        return;
      }
    }
    Fail(FailureKind::kModified, last,
         what + " although every entry since the last verified head (size " +
             std::to_string(verified_size_) + ") chains: " + Seq(last) +
             " was altered (or an earlier entry after size " + std::to_string(verified_size_) +
             " together with the prev_leaf_hash of every entry after it)");
  }

  // True when the first signed head of the current chunk at or after `seq` verifies under the
  // trusted key and its root is the root of the entries as stored with `leaf` as the leaf hash of
  // `seq` (the entries before verified_size_ as verified); *head_size is that head's size.
  bool HeadCommitsTo(uint64_t seq, const merkle::Hash& leaf, uint64_t* head_size) {
    const log::SignedHead* h = nullptr;
    for (size_t i = next_head_; i < heads_.size() && h == nullptr; ++i) {
      if (heads_[i].head.tree_size >= seq) {
        h = &heads_[i];
      }
    }
    if (h == nullptr || !merkle::VerifyTreeHead(h->head, h->signature, trusted_key_).ok()) {
      return false;
    }
    merkle::CompactRange range = verified_range_;
    Status s = source_.Scan(verified_size_, h->head.tree_size - verified_size_,
                            [&](uint64_t i, std::string_view bytes) {
                              range.Append(i == seq ? leaf : merkle::LeafHash(bytes), no_sink_);
                              return true;
                            });
    *head_size = h->head.tree_size;
    return s.ok() && range.size() == h->head.tree_size && range.Root() == h->head.root;
  }

  // check_indexes: the dedup entry names this event with this leaf, the case index maps the case
  // seq back to it, and case sequence numbers have no gap.
  bool CheckIndexes(uint64_t seq, const merkle::Hash& leaf) {
    auto rec = source_.FindDuplicate(env_.producer, env_.event_id);
    if (!rec.ok() || !rec->has_value() || (*rec)->global_seq != seq ||
        (*rec)->case_seq != env_.case_seq || (*rec)->leaf_hash != leaf) {
      Fail(FailureKind::kBadIndex, seq,
           "the dedup entry of (" + std::string(env_.producer) + ", " + std::string(env_.event_id) +
               ") does not point at " + Seq(seq) +
               (rec.ok() ? "" : " (" + rec.status().ToString() + ")"));
      return false;
    }
    if (env_.case_id.empty()) {
      return true;
    }
    case_key_.assign(env_.case_id);
    uint64_t& last = case_versions_[case_key_];
    if (env_.case_seq != last + 1) {
      Fail(FailureKind::kBadIndex, seq,
           Seq(seq) + " has case seq " + std::to_string(env_.case_seq) + " of case " + case_key_ +
               ", expected " + std::to_string(last + 1));
      return false;
    }
    last = env_.case_seq;
    auto indexed = source_.CaseEvents(env_.case_id, env_.case_seq - 1, 1);
    if (!indexed.ok() || indexed->size() != 1 || indexed->front() != seq) {
      Fail(FailureKind::kBadIndex, seq,
           "the case index entry (" + case_key_ + ", " + std::to_string(env_.case_seq) +
               ") does not point at " + Seq(seq));
      return false;
    }
    return true;
  }

  const VerifyOptions& options_;
  const LogSource& source_;
  const std::string trusted_key_;
  VerifyReport& report_;

  merkle::CompactRange range_;
  merkle::Hash prev_leaf_{};    // leaf hash of the last event appended to range_
  uint64_t verified_size_ = 0;  // size of the last head whose signature and root matched
  merkle::CompactRange verified_range_;  // the tree at verified_size_
  uint64_t max_head_size_ = 0;
  std::vector<log::SignedHead> heads_;  // the current chunk, ascending
  // Per head of the chunk: 1 / -1 when the reader thread found its signature good / bad, else 0.
  std::vector<int8_t> signature_ok_;
  size_t next_head_ = 0;
  bool last_chunk_ = false;
  VerifyProgress progress_;
  internal::EnvelopeView env_;  // the event being checked; points into its bytes
  const merkle::CompactRange::NodeSink no_sink_;
  std::string case_key_;
  std::unordered_map<std::string, uint64_t> case_versions_;
};

}  // namespace

std::string_view FailureKindName(FailureKind kind) {
  switch (kind) {
    case FailureKind::kNone:
      return "ok";
    case FailureKind::kModified:
      return "modified";
    case FailureKind::kMissing:
      return "missing";
    case FailureKind::kReordered:
      return "reordered";
    case FailureKind::kTruncated:
      return "truncated";
    case FailureKind::kBadSignature:
      return "bad signature";
    case FailureKind::kFork:
      return "fork";
    case FailureKind::kUnreadable:
      return "unreadable";
    case FailureKind::kBadIndex:
      return "bad index";
  }
  return "unknown";
}

std::string ToString(const VerifyReport& r) {
  std::string counts = std::to_string(r.events_checked) + " events and " +
                       std::to_string(r.heads_checked) + " signed heads checked";
  if (r.ok()) {
    return "ok: " + counts + ", size " + std::to_string(r.final_size) + ", root " +
           merkle::ToHex(r.final_root);
  }
  std::string out(FailureKindName(r.kind));
  if (r.first_bad_seq != 0) {
    out += " at seq " + std::to_string(r.first_bad_seq);
  }
  out += ": " + r.reason + " (" + counts + ")";
  return out;
}

Result<VerifyReport> VerifyLog(const VerifyOptions& options) {
  if (options.path.empty()) {
    return Status::InvalidArgument("path", "no log directory given");
  }
  if (!options.trusted_public_key.empty() &&
      options.trusted_public_key.size() != merkle::TreeHeadSigner::kPublicKeyBytes) {
    return Status::InvalidArgument("trusted_public_key",
                                   "an Ed25519 public key is 32 bytes, got " +
                                       std::to_string(options.trusted_public_key.size()));
  }
  std::string trusted = options.trusted_public_key;
  if (options.against.has_value()) {
    if (trusted.empty()) {
      trusted = options.against->public_key;
    }
    if (Status s =
            merkle::VerifyTreeHead(options.against->head, options.against->signature, trusted);
        !s.ok()) {
      return Status::InvalidArgument("against",
                                     "the agency's tree head does not verify: " + s.message());
    }
  }

  VerifyReport report;
  report.key_pinned = !trusted.empty();
  std::unique_ptr<LogSource> source;
  if (auto opened = internal::OpenThroughEventLog(options.path); opened.ok()) {
    source = std::move(opened).value();
  } else {
    report.open_error = opened.status().ToString();
    const StatusCode opened_code = opened.status().code();
    auto raw = internal::OpenRaw(options.path);
    if (!raw.ok()) {
      report.kind = FailureKind::kUnreadable;
      report.reason = "cannot open the log: " + report.open_error;
      if (raw.status().code() != opened_code) {
        report.reason += " (reading it directly: " + raw.status().ToString() + ")";
      }
      return report;
    }
    source = std::move(raw).value();
  }
  if (trusted.empty()) {
    trusted = source->RecordedPublicKey();
  }
  Verifier(options, *source, std::move(trusted), report).Run();
  return report;
}

}  // namespace passage::audit
