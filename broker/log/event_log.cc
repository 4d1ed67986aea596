#include "broker/log/event_log.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "passage/v1/events.pb.h"

namespace passage::log {
namespace {

constexpr char kFormatKey[] = "format";
constexpr char kFormatValue[] = "passage-log/1";
constexpr char kTreeKey[] = "tree";
constexpr char kLastLeafKey[] = "last_leaf";
constexpr char kPublicKeyKey[] = "log_public_key";

// Column family names and their index in handles_.
enum Cf : size_t {
  kDefault = 0,
  kMeta,
  kEvents,
  kCaseIndex,
  kDedup,
  kMerkle,
  kSth,
  kState,
  kCaseHead,
  kNumCf
};
constexpr const char* kCfNames[kNumCf] = {"default", "meta", "events", "case_index", "dedup",
                                          "merkle",  "sth",  "state",  "case_head"};

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) {
    return Status::Ok();
  }
  std::string msg(what);
  msg += ": ";
  msg += s.ToString();
  if (s.IsCorruption()) {
    return Status::Corruption(msg);
  }
  if (s.IsNotFound()) {
    return Status::NotFound(msg);
  }
  if (s.IsIOError()) {
    return Status::IoError(msg);
  }
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) {
    return Status::Unavailable(msg);
  }
  return Status::Internal(msg);
}

// RocksDB counts into a thread-local perf context by default, which from a shared library costs a
// __tls_get_addr call per counter: about a tenth of the writer thread's CPU. Nothing here reads
// those counters, so each thread that uses the log turns them off once.
void NoPerfCounters() {
  thread_local const bool done = [] {
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    return true;
  }();
  (void)done;
}

std::string MerkleKey(uint32_t level, uint64_t index) {
  std::string k(1, static_cast<char>(level));
  k += EncodeBe64(index);
  return k;
}

std::string DedupKey(std::string_view producer, std::string_view event_id) {
  std::string k(producer);
  k.push_back('\0');
  k.append(event_id);
  return k;
}

std::string CaseIndexKey(std::string_view case_id, uint64_t case_seq) {
  std::string k(case_id);
  k.push_back('\0');
  k += EncodeBe64(case_seq);
  return k;
}

// Dedup value: be64 global seq || be64 case seq || 32-byte leaf hash.
std::string EncodeOutcome(const AppendOutcome& o) {
  std::string v = EncodeBe64(o.global_seq) + EncodeBe64(o.case_seq);
  v.append(merkle::AsBytes(o.leaf_hash));
  return v;
}

Result<AppendOutcome> DecodeOutcome(std::string_view v) {
  if (v.size() != 48) {
    return Status::Corruption("dedup entry has " + std::to_string(v.size()) +
                              " bytes, expected 48");
  }
  AppendOutcome o;
  o.global_seq = DecodeBe64(v.substr(0, 8));
  o.case_seq = DecodeBe64(v.substr(8, 8));
  std::copy(v.begin() + 16, v.end(), o.leaf_hash.begin());
  o.duplicate = true;
  return o;
}

// STH value: root (32) || be64 timestamp_ms || signature (64).
std::string EncodeHead(const SignedHead& h) {
  std::string v(merkle::AsBytes(h.head.root));
  v += EncodeBe64(static_cast<uint64_t>(h.head.timestamp_ms));
  v += h.signature;
  return v;
}

int64_t SystemClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class RocksEventLog;

class RocksNodeReader : public merkle::NodeReader {
 public:
  RocksNodeReader(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) : db_(db), cf_(cf) {}
  Result<merkle::Hash> GetNode(uint32_t level, uint64_t index) const override {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), cf_, MerkleKey(level, index), &v);
    if (s.IsNotFound()) {
      return Status::Corruption("Merkle node (level " + std::to_string(level) + ", index " +
                                std::to_string(index) + ") is missing");
    }
    RETURN_IF_ERROR(FromRocks(s, "reading Merkle node"));
    return merkle::HashFromBytes(v, "merkle node");
  }

 private:
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
};

class RocksEventLog final : public EventLog {
 public:
  ~RocksEventLog() override {
    for (auto* h : handles_) {
      if (h != nullptr) {
        db_->DestroyColumnFamilyHandle(h);
      }
    }
    handles_.clear();
    db_.reset();
  }

  static Result<std::unique_ptr<EventLog>> OpenImpl(const EventLogOptions& options) {
    auto log = std::unique_ptr<RocksEventLog>(new RocksEventLog());
    RETURN_IF_ERROR(log->Init(options));
    return std::unique_ptr<EventLog>(std::move(log));
  }

  Result<std::vector<AppendOutcome>> Append(std::span<const AppendEntry> entries) override {
    std::lock_guard lock(write_mu_);
    if (read_only_) {
      return Status::FailedPrecondition("the log was opened read-only");
    }
    NoPerfCounters();
    std::vector<AppendOutcome> out(entries.size());
    rocksdb::WriteBatch& batch = batch_;
    batch.Clear();  // keeps its buffer: no large allocation per append
    merkle::CompactRange range = range_;
    merkle::Hash prev = last_leaf_;
    uint64_t seq = range.size();
    std::unordered_map<std::string, uint64_t> case_versions;  // cases touched in this batch
    std::unordered_map<std::string, size_t> batch_ids;        // dedup key -> entry index
    // Index keys are collected and put in key order per column family: consecutive inserts then
    // land next to each other in the memtable's skip list, which is much cheaper than inserting
    // randomly ordered ids one after another.
    std::vector<std::pair<std::string, std::string>> index_puts[kNumCf];
    passage::v1::Envelope env;
    std::string env_bytes;
    std::vector<std::string> fresh_envelopes;  // kept in memory for Read once durable
    fresh_envelopes.reserve(entries.size());
    size_t fresh = 0;

    for (size_t i = 0; i < entries.size(); ++i) {
      const AppendEntry& e = entries[i];
      std::string dkey = DedupKey(e.producer, e.event_id);
      if (auto it = batch_ids.find(dkey); it != batch_ids.end()) {
        out[i] = out[it->second];
        out[i].duplicate = true;
        continue;
      }
      if (!e.checked_new) {
        ASSIGN_OR_RETURN(auto existing, FindDuplicate(e.producer, e.event_id));
        if (existing.has_value()) {
          out[i] = *existing;
          continue;
        }
      }
      uint64_t case_seq = 0;
      if (!e.case_id.empty()) {
        auto it = case_versions.find(e.case_id);
        if (it == case_versions.end()) {
          uint64_t v = 0;
          if (e.known_case_seq != 0) {
            v = e.known_case_seq - 1;
          } else {
            ASSIGN_OR_RETURN(v, CaseVersion(e.case_id));
          }
          it = case_versions.emplace(e.case_id, v).first;
        }
        case_seq = ++it->second;
        if (e.known_case_seq != 0 && e.known_case_seq != case_seq) {
          return Status::Internal("entry " + std::to_string(i) + " of case " + e.case_id +
                                  " was expected to get case seq " +
                                  std::to_string(e.known_case_seq) + " but follows seq " +
                                  std::to_string(case_seq - 1) + " in its batch");
        }
      }
      ++seq;
      env.Clear();
      env.set_global_seq(seq);
      env.set_case_seq(case_seq);
      env.set_prev_leaf_hash(std::string(merkle::AsBytes(prev)));
      env.set_producer(e.producer);
      env.set_appended_at_ms(e.appended_at_ms);
      env.set_case_id(e.case_id);
      env.set_event_id(e.event_id);
      env.set_event(e.event_bytes);
      env_bytes.clear();
      if (!env.SerializeToString(&env_bytes)) {
        return Status::Internal("could not serialize the envelope of seq " + std::to_string(seq));
      }
      merkle::Hash leaf = merkle::LeafHash(env_bytes);
      std::string seq_key = EncodeBe64(seq);
      batch.Put(handles_[kEvents], seq_key, env_bytes);
      fresh_envelopes.push_back(env_bytes);
      if (!e.case_id.empty()) {
        index_puts[kCaseIndex].emplace_back(CaseIndexKey(e.case_id, case_seq), seq_key);
      } else {
        index_puts[kState].emplace_back(StateKeys::Configuration(seq), std::string());
      }
      range.Append(leaf, [&](uint32_t level, uint64_t index, const merkle::Hash& h) {
        index_puts[kMerkle].emplace_back(MerkleKey(level, index), merkle::AsBytes(h));
      });
      out[i] = AppendOutcome{seq, case_seq, leaf, false};
      index_puts[kDedup].emplace_back(dkey, EncodeOutcome(out[i]));
      for (const auto& agency : e.audience) {
        index_puts[kState].emplace_back(StateKeys::Audience(agency, seq), std::string());
      }
      batch_ids.emplace(std::move(dkey), i);
      prev = leaf;
      ++fresh;
    }
    if (fresh == 0) {
      return out;
    }
    for (const auto& [case_id, version] : case_versions) {
      index_puts[kCaseHead].emplace_back(case_id, EncodeBe64(version));
    }
    for (size_t cf = 0; cf < kNumCf; ++cf) {
      auto& puts = index_puts[cf];
      std::sort(puts.begin(), puts.end());
      for (const auto& [k, v] : puts) {
        batch.Put(handles_[cf], k, v);
      }
    }

    SignedHead head;
    head.head.tree_size = range.size();
    head.head.root = range.Root();
    head.head.timestamp_ms = clock_ms_();
    head.signature = signer_->Sign(head.head);
    head.public_key = signer_->public_key();
    batch.Put(handles_[kSth], EncodeBe64(head.head.tree_size), EncodeHead(head));
    batch.Put(handles_[kMeta], kTreeKey, range.Serialize());
    batch.Put(handles_[kMeta], kLastLeafKey, merkle::AsBytes(prev));

    rocksdb::WriteOptions wo;
    wo.sync = true;
    RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "appending to the event log"));

    RememberRecent(range_.size() + 1, std::move(fresh_envelopes));
    std::lock_guard state_lock(head_mu_);
    range_ = std::move(range);
    last_leaf_ = prev;
    head_ = std::move(head);
    return out;
  }

  Result<std::optional<AppendOutcome>> FindDuplicate(std::string_view producer,
                                                     std::string_view event_id) const override {
    NoPerfCounters();
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), handles_[kDedup], DedupKey(producer, event_id), &v);
    if (s.IsNotFound()) {
      return std::optional<AppendOutcome>();
    }
    RETURN_IF_ERROR(FromRocks(s, "reading the dedup table"));
    ASSIGN_OR_RETURN(AppendOutcome o, DecodeOutcome(v));
    return std::optional<AppendOutcome>(o);
  }

  uint64_t LastSeq() const override {
    std::lock_guard lock(head_mu_);
    return range_.size();
  }

  SignedHead LatestHead() const override {
    std::lock_guard lock(head_mu_);
    return head_;
  }

  Result<std::string> Read(uint64_t seq) const override {
    {
      // Deliveries read what was just appended: answered from memory, same bytes as stored.
      std::lock_guard lock(recent_mu_);
      if (seq >= recent_first_ && seq < recent_first_ + recent_.size()) {
        return recent_[seq - recent_first_];
      }
    }
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), handles_[kEvents], EncodeBe64(seq), &v);
    if (s.IsNotFound()) {
      return Status::NotFound("no event with sequence number " + std::to_string(seq));
    }
    RETURN_IF_ERROR(FromRocks(s, "reading event " + std::to_string(seq)));
    return v;
  }

  Status Scan(uint64_t after_seq, uint64_t limit,
              const std::function<bool(uint64_t, std::string_view)>& fn) const override {
    rocksdb::ReadOptions ro;
    ro.readahead_size = 2 << 20;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kEvents]));
    uint64_t expect = after_seq + 1;
    for (it->Seek(EncodeBe64(expect)); it->Valid() && expect - after_seq <= limit; it->Next()) {
      if (it->key().size() != 8) {
        return Status::Corruption("event key of " + std::to_string(it->key().size()) +
                                  " bytes before sequence number " + std::to_string(expect));
      }
      uint64_t seq = DecodeBe64(std::string_view(it->key().data(), 8));
      if (seq != expect) {
        return Status::Corruption("sequence number " + std::to_string(expect) +
                                  " is missing (next stored is " + std::to_string(seq) + ")");
      }
      if (!fn(seq, std::string_view(it->value().data(), it->value().size()))) {
        return Status::Ok();
      }
      ++expect;
    }
    return FromRocks(it->status(), "scanning events");
  }

  Result<uint64_t> CaseVersion(std::string_view case_id) const override {
    NoPerfCounters();
    std::string v;
    auto st = db_->Get(rocksdb::ReadOptions(), handles_[kCaseHead],
                       rocksdb::Slice(case_id.data(), case_id.size()), &v);
    if (st.IsNotFound()) {
      return uint64_t{0};
    }
    RETURN_IF_ERROR(FromRocks(st, "reading the case head"));
    if (v.size() != 8) {
      return Status::Corruption("case head of " + std::string(case_id) + " is not 8 bytes");
    }
    return DecodeBe64(v);
  }

  Result<std::vector<uint64_t>> CaseEvents(std::string_view case_id, uint64_t after_case_seq,
                                           uint64_t limit) const override {
    std::vector<uint64_t> out;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), handles_[kCaseIndex]));
    std::string prefix(case_id);
    prefix.push_back('\0');
    for (it->Seek(CaseIndexKey(case_id, after_case_seq + 1)); it->Valid() && out.size() < limit;
         it->Next()) {
      std::string_view k(it->key().data(), it->key().size());
      if (k.size() != prefix.size() + 8 || k.substr(0, prefix.size()) != prefix) {
        break;
      }
      if (it->value().size() != 8) {
        return Status::Corruption("case index entry for " + std::string(case_id) +
                                  " is not an 8-byte sequence number");
      }
      out.push_back(DecodeBe64(std::string_view(it->value().data(), 8)));
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "reading the case index"));
    return out;
  }

  Result<merkle::Hash> RootAt(uint64_t tree_size) const override {
    RETURN_IF_ERROR(CheckSize(tree_size, "tree_size"));
    return merkle::RootAt(RocksNodeReader(db_.get(), handles_[kMerkle]), tree_size);
  }

  Result<std::vector<merkle::Hash>> InclusionProof(uint64_t seq,
                                                   uint64_t tree_size) const override {
    RETURN_IF_ERROR(CheckSize(tree_size, "tree_size"));
    if (seq == 0 || seq > tree_size) {
      return Status::InvalidArgument("global_seq", "sequence number " + std::to_string(seq) +
                                                       " is not in a tree of " +
                                                       std::to_string(tree_size) + " events");
    }
    return merkle::InclusionProof(RocksNodeReader(db_.get(), handles_[kMerkle]), seq - 1,
                                  tree_size);
  }

  Result<std::vector<merkle::Hash>> ConsistencyProof(uint64_t first_size,
                                                     uint64_t second_size) const override {
    RETURN_IF_ERROR(CheckSize(second_size, "second_size"));
    if (first_size > second_size) {
      return Status::InvalidArgument("first_size", "is larger than second_size");
    }
    return merkle::ConsistencyProof(RocksNodeReader(db_.get(), handles_[kMerkle]), first_size,
                                    second_size);
  }

  Status ScanTreeHeads(uint64_t from_size,
                       const std::function<bool(const SignedHead&)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kSth]));
    for (it->Seek(EncodeBe64(from_size)); it->Valid(); it->Next()) {
      if (it->key().size() != 8 || it->value().size() != 32 + 8 + 64) {
        return Status::Corruption("malformed signed tree head entry");
      }
      SignedHead h;
      h.head.tree_size = DecodeBe64(std::string_view(it->key().data(), 8));
      std::copy(it->value().data(), it->value().data() + 32, h.head.root.begin());
      h.head.timestamp_ms =
          static_cast<int64_t>(DecodeBe64(std::string_view(it->value().data() + 32, 8)));
      h.signature.assign(it->value().data() + 40, 64);
      h.public_key = public_key_;
      if (!fn(h)) {
        return Status::Ok();
      }
    }
    return FromRocks(it->status(), "reading signed tree heads");
  }

  Status PutState(std::span<const std::pair<std::string, std::string>> puts,
                  std::span<const std::string> deletes, bool sync) override {
    if (read_only_) {
      return Status::FailedPrecondition("the log was opened read-only");
    }
    rocksdb::WriteBatch batch;
    for (const auto& [k, v] : puts) {
      batch.Put(handles_[kState], k, v);
    }
    for (const auto& k : deletes) {
      batch.Delete(handles_[kState], k);
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    return FromRocks(db_->Write(wo, &batch), "writing broker state");
  }

  Result<std::optional<std::string>> GetState(std::string_view key) const override {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), handles_[kState], key, &v);
    if (s.IsNotFound()) {
      return std::optional<std::string>();
    }
    RETURN_IF_ERROR(FromRocks(s, "reading broker state"));
    return std::optional<std::string>(std::move(v));
  }

  Status ScanState(
      std::string_view prefix, std::string_view start,
      const std::function<bool(std::string_view, std::string_view)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), handles_[kState]));
    std::string_view from = start > prefix ? start : prefix;
    for (it->Seek(rocksdb::Slice(from.data(), from.size())); it->Valid(); it->Next()) {
      std::string_view k(it->key().data(), it->key().size());
      if (k.substr(0, prefix.size()) != prefix) {
        break;
      }
      if (!fn(k, std::string_view(it->value().data(), it->value().size()))) {
        break;
      }
    }
    return FromRocks(it->status(), "scanning broker state");
  }

  Status Checkpoint(const std::string& dir) const override {
    rocksdb::Checkpoint* raw = nullptr;
    RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw), "creating checkpoint"));
    std::unique_ptr<rocksdb::Checkpoint> cp(raw);
    return FromRocks(cp->CreateCheckpoint(dir), "writing checkpoint to " + dir);
  }

 private:
  RocksEventLog() = default;

  Status CheckSize(uint64_t tree_size, std::string_view field) const {
    if (tree_size > LastSeq()) {
      return Status::InvalidArgument(std::string(field), "tree size " + std::to_string(tree_size) +
                                                             " is larger than the log (" +
                                                             std::to_string(LastSeq()) + ")");
    }
    return Status::Ok();
  }

  Status Init(const EventLogOptions& options) {
    read_only_ = options.read_only;
    clock_ms_ = options.clock_ms ? options.clock_ms : SystemClockMs;
    if (!read_only_) {
      ASSIGN_OR_RETURN(auto signer, merkle::TreeHeadSigner::FromSeed(options.signing_seed));
      signer_ = std::make_unique<merkle::TreeHeadSigner>(std::move(signer));
    }

    rocksdb::DBOptions dbo;
    if (options.file_system != nullptr) {
      env_ = rocksdb::NewCompositeEnv(options.file_system);
      dbo.env = env_.get();
    }
    dbo.create_if_missing = options.create_if_missing && !read_only_;
    dbo.create_missing_column_families = !read_only_;
    dbo.paranoid_checks = true;
    // A torn record at the very end of the WAL (an unacknowledged write cut by power loss) is
    // dropped; corruption anywhere before it makes Open fail instead of silently truncating.
    dbo.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
    dbo.max_background_jobs = 2;
    dbo.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
    dbo.keep_log_file_num = 4;
    // Smooth out flushes so they do not stall the synced writes.
    dbo.bytes_per_sync = 1 << 20;
    // Every SST file stays open (max_open_files = -1, RocksDB's default): a journey query reads
    // through pinned table readers. A 512-file table cache made Open ~5 ms faster at 1M events but
    // the 12-event journey query 2-2.5x slower there (growth_bench), the wrong trade.
    // Open does not read every file's table properties to tune compaction.
    dbo.skip_stats_update_on_db_open = true;

    rocksdb::BlockBasedTableOptions bloom;
    bloom.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    rocksdb::ColumnFamilyOptions plain;
    plain.write_buffer_size = 32 << 20;
    plain.max_write_buffer_number = 4;
    rocksdb::ColumnFamilyOptions with_bloom = plain;
    with_bloom.table_factory.reset(rocksdb::NewBlockBasedTableFactory(bloom));
    // Most lookups of these CFs miss (a new event id, a new case): a Bloom filter over the
    // memtable's keys answers a miss without walking the skip list.
    with_bloom.memtable_whole_key_filtering = true;
    with_bloom.memtable_prefix_bloom_size_ratio = 0.05;

    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (size_t i = 0; i < kNumCf; ++i) {
      // Filters only where point lookups miss often (a new event id, a new case): a filter costs
      // memory for every key of the log, and the case index and Merkle nodes are read by seeks or
      // by keys that exist.
      bool bloomed = i == kDedup || i == kCaseHead;
      cfs.emplace_back(kCfNames[i], bloomed ? with_bloom : plain);
    }
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s;
    if (read_only_) {
      s = rocksdb::DB::OpenForReadOnly(dbo, options.path, cfs, &handles_, &raw);
    } else {
      s = rocksdb::DB::Open(dbo, options.path, cfs, &handles_, &raw);
    }
    RETURN_IF_ERROR(FromRocks(s, "opening the event log at " + options.path));
    db_.reset(raw);
    return LoadAndCheck(options);
  }

  Status LoadAndCheck(const EventLogOptions& options) {
    const std::string where = "event log at " + options.path;
    std::string format;
    auto s = db_->Get(rocksdb::ReadOptions(), handles_[kMeta], kFormatKey, &format);
    bool fresh = s.IsNotFound();
    if (!fresh) {
      RETURN_IF_ERROR(FromRocks(s, "reading the log format"));
      if (format != kFormatValue) {
        return Status::Corruption(where + " has format '" + format + "', expected '" +
                                  kFormatValue + "'");
      }
    }
    if (fresh) {
      // A new log: nothing may be stored yet.
      std::unique_ptr<rocksdb::Iterator> it(
          db_->NewIterator(rocksdb::ReadOptions(), handles_[kEvents]));
      it->SeekToFirst();
      if (it->Valid()) {
        return Status::Corruption(where + " has events but no format record (meta damaged)");
      }
      if (read_only_) {
        return Status::NotFound(where + " is empty or not a Passage log");
      }
      rocksdb::WriteBatch batch;
      batch.Put(handles_[kMeta], kFormatKey, kFormatValue);
      batch.Put(handles_[kMeta], kTreeKey, merkle::CompactRange().Serialize());
      batch.Put(handles_[kMeta], kLastLeafKey, std::string(32, '\0'));
      batch.Put(handles_[kMeta], kPublicKeyKey, signer_->public_key());
      rocksdb::WriteOptions wo;
      wo.sync = true;
      RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "initialising the event log"));
    }

    std::string v;
    RETURN_IF_ERROR(FromRocks(db_->Get(rocksdb::ReadOptions(), handles_[kMeta], kPublicKeyKey, &v),
                              "reading the log's public key"));
    public_key_ = v;
    if (!read_only_ && public_key_ != signer_->public_key()) {
      return Status::FailedPrecondition(
          where + " was signed with a different tree-head key than the one configured");
    }
    RETURN_IF_ERROR(FromRocks(db_->Get(rocksdb::ReadOptions(), handles_[kMeta], kTreeKey, &v),
                              "reading the Merkle tree state"));
    ASSIGN_OR_RETURN(range_, merkle::CompactRange::Parse(v));
    RETURN_IF_ERROR(FromRocks(db_->Get(rocksdb::ReadOptions(), handles_[kMeta], kLastLeafKey, &v),
                              "reading the last leaf hash"));
    ASSIGN_OR_RETURN(last_leaf_, merkle::HashFromBytes(v, "meta.last_leaf"));

    const uint64_t size = range_.size();
    // The last stored event must be exactly `size`.
    {
      std::unique_ptr<rocksdb::Iterator> it(
          db_->NewIterator(rocksdb::ReadOptions(), handles_[kEvents]));
      it->SeekToLast();
      RETURN_IF_ERROR(FromRocks(it->status(), "reading the last event"));
      uint64_t last = 0;
      if (it->Valid()) {
        if (it->key().size() != 8) {
          return Status::Corruption(where +
                                    ": the last event key is not an 8-byte sequence number");
        }
        last = DecodeBe64(std::string_view(it->key().data(), 8));
      }
      if (last != size) {
        return Status::Corruption(
            where + ": the tree covers " + std::to_string(size) +
            " events but the last stored event is seq " + std::to_string(last) +
            (last < size ? " (events missing at the tail)" : " (events beyond the signed tree)"));
      }
    }
    // The tail of the hash chain.
    if (size > 0) {
      uint64_t first = size > options.tail_check ? size - options.tail_check + 1 : 1;
      merkle::Hash prev{};
      bool have_prev = false;
      if (first > 1) {
        ASSIGN_OR_RETURN(std::string before, Read(first - 1));
        prev = merkle::LeafHash(before);
        have_prev = true;
      }
      passage::v1::Envelope env;
      Status chain_error;
      Status scan = Scan(first - 1, size - first + 1, [&](uint64_t seq, std::string_view bytes) {
        if (!env.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
            env.global_seq() != seq) {
          prev = {};
          have_prev = false;
          chain_error = Status::Corruption(where + ": envelope of seq " + std::to_string(seq) +
                                           " is damaged (does not parse or names another seq)");
          return false;
        }
        if (have_prev && env.prev_leaf_hash() != merkle::AsBytes(prev)) {
          chain_error = BlameChainBreak(where, seq, env.prev_leaf_hash());
          return false;
        }
        prev = merkle::LeafHash(bytes);
        have_prev = true;
        return true;
      });
      RETURN_IF_ERROR(scan.WithContext(where));
      RETURN_IF_ERROR(chain_error);
      if (prev != last_leaf_) {
        return Status::Corruption(where + ": the leaf hash of the last event (seq " +
                                  std::to_string(size) + ") differs from the one recorded");
      }
      // The frontier must match the stored nodes it summarises.
      RocksNodeReader nodes(db_.get(), handles_[kMerkle]);
      ASSIGN_OR_RETURN(merkle::Hash root, merkle::RootAt(nodes, size));
      if (root != range_.Root()) {
        return Status::Corruption(where + ": stored Merkle nodes disagree with the tree state");
      }
    }
    // The latest signed head.
    bool found = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kSth]));
    it->SeekToLast();
    if (it->Valid()) {
      if (it->key().size() != 8) {
        return Status::Corruption(where + ": the latest signed tree head has a malformed key");
      }
      RETURN_IF_ERROR(ScanTreeHeads(DecodeBe64(std::string_view(it->key().data(), 8)),
                                    [&](const SignedHead& h) {
                                      head_ = h;
                                      found = true;
                                      return false;
                                    }));
    }
    if (size > 0) {
      if (!found || head_.head.tree_size != size || head_.head.root != range_.Root()) {
        return Status::Corruption(where + ": the latest signed tree head does not cover seq " +
                                  std::to_string(size));
      }
      RETURN_IF_ERROR(merkle::VerifyTreeHead(head_.head, head_.signature, public_key_)
                          .WithContext(where + ": latest signed tree head"));
    } else if (!found && !read_only_) {
      head_.head.tree_size = 0;
      head_.head.root = merkle::EmptyRoot();
      head_.head.timestamp_ms = clock_ms_();
      head_.signature = signer_->Sign(head_.head);
      head_.public_key = public_key_;
    }
    return Status::Ok();
  }

  // Declared before db_ so that it outlives the database, which writes through it.
  std::unique_ptr<rocksdb::Env> env_;
  // Seq `seq` does not chain to seq - 1: one of the two was altered. The refusal names which, on
  // hashed, signed data only (never the dedup table, which nothing signs): seq records the leaf
  // hash seq - 1 had when it was appended, and seq - 1 is the altered one exactly when the latest
  // signed head commits to that recorded leaf (its root, recomputed from the stored entries with
  // the recorded leaf in seq - 1's place, matches and its signature verifies).
  Status BlameChainBreak(const std::string& where, uint64_t seq, std::string_view recorded) {
    const std::string k = std::to_string(seq - 1);
    Result<bool> confirmed = HeadCommitsTo(seq - 1, recorded);
    const std::string next = std::to_string(seq);
    if (confirmed.ok() && *confirmed) {
      return Status::Corruption(where + ": seq " + k + " was altered: its stored bytes do not " +
                                "hash to the leaf hash that seq " + next + " records, and the " +
                                "latest signed tree head commits to the recorded one");
    }
    const std::string why = confirmed.ok() ? "" : " (" + confirmed.status().ToString() + ")";
    return Status::Corruption(where + ": seq " + next + " was altered: its prev_leaf_hash is " +
                              "not the leaf hash of seq " + k + ", and the latest signed tree " +
                              "head does not commit to what it records instead" + why);
  }

  // True when the latest stored head verifies under the log's key and covers `seq`, and its root is
  // the root of the stored entries with `leaf` as the leaf hash of `seq`. The tree before `seq` is
  // taken from the stored Merkle nodes: the signature, not they, confirms the result.
  Result<bool> HeadCommitsTo(uint64_t seq, std::string_view leaf) {
    if (leaf.size() != 32) {
      return false;
    }
    std::optional<SignedHead> head;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kSth]));
    it->SeekToLast();
    if (it->Valid() && it->key().size() == 8) {
      RETURN_IF_ERROR(ScanTreeHeads(DecodeBe64(std::string_view(it->key().data(), 8)),
                                    [&](const SignedHead& h) {
                                      head = h;
                                      return false;
                                    }));
    }
    if (!head.has_value() || head->head.tree_size < seq ||
        !merkle::VerifyTreeHead(head->head, head->signature, public_key_).ok()) {
      return false;
    }
    // The frontier at seq - 1: one stored perfect subtree per set bit, highest level first.
    RocksNodeReader nodes(db_.get(), handles_[kMerkle]);
    const uint64_t before = seq - 1;
    std::string frontier = EncodeBe64(before);
    uint64_t offset = 0;
    for (int level = 63; level >= 0; --level) {
      if ((before >> level) & 1) {
        ASSIGN_OR_RETURN(merkle::Hash h,
                         nodes.GetNode(static_cast<uint32_t>(level), offset >> level));
        frontier.append(merkle::AsBytes(h));
        offset += uint64_t{1} << level;
      }
    }
    ASSIGN_OR_RETURN(merkle::CompactRange range, merkle::CompactRange::Parse(frontier));
    merkle::Hash replaced{};
    std::copy(leaf.begin(), leaf.end(), replaced.begin());
    range.Append(replaced, {});
    RETURN_IF_ERROR(Scan(seq, head->head.tree_size - seq, [&](uint64_t, std::string_view bytes) {
      range.Append(merkle::LeafHash(bytes), {});
      return true;
    }));
    return range.size() == head->head.tree_size && range.Root() == head->head.root;
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  bool read_only_ = false;
  std::function<int64_t()> clock_ms_;
  std::unique_ptr<merkle::TreeHeadSigner> signer_;
  std::string public_key_;

  // The envelopes of the last appends (durable), from seq recent_first_ on; bounded by
  // kRecentBytes.
  void RememberRecent(uint64_t first_seq, std::vector<std::string> envelopes) {
    std::lock_guard lock(recent_mu_);
    if (recent_.empty() || recent_first_ + recent_.size() != first_seq) {
      recent_.clear();
      recent_bytes_ = 0;
      recent_first_ = first_seq;
    }
    for (auto& e : envelopes) {
      recent_bytes_ += e.size();
      recent_.push_back(std::move(e));
    }
    while (recent_bytes_ > kRecentBytes && !recent_.empty()) {
      recent_bytes_ -= recent_.front().size();
      recent_.pop_front();
      ++recent_first_;
    }
  }

  static constexpr size_t kRecentBytes = 8 << 20;
  mutable std::mutex recent_mu_;
  std::deque<std::string> recent_;
  uint64_t recent_first_ = 1;
  size_t recent_bytes_ = 0;

  std::mutex write_mu_;        // one appender at a time
  rocksdb::WriteBatch batch_;  // reused by Append under write_mu_
  mutable std::mutex head_mu_;
  merkle::CompactRange range_;
  merkle::Hash last_leaf_{};
  SignedHead head_;
};

}  // namespace

std::string StateKeys::AudiencePrefix(std::string_view agency) {
  std::string k = "a/";
  k.append(agency);
  k.push_back('\0');
  return k;
}

std::string StateKeys::Configuration(uint64_t seq) {
  return std::string(kConfigurationPrefix) + EncodeBe64(seq);
}

std::string StateKeys::Audience(std::string_view agency, uint64_t seq) {
  return AudiencePrefix(agency) + EncodeBe64(seq);
}

std::string EncodeBe64(uint64_t v) {
  std::string b(8, '\0');
  for (int i = 7; i >= 0; --i) {
    b[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return b;
}

uint64_t DecodeBe64(std::string_view b) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) {
    v = (v << 8) | static_cast<uint8_t>(b[i]);
  }
  return v;
}

Result<std::unique_ptr<EventLog>> EventLog::Open(const EventLogOptions& options) {
  return RocksEventLog::OpenImpl(options);
}

}  // namespace passage::log
