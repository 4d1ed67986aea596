#include "broker/audit/log_source.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>

#include <algorithm>
#include <cstdarg>
#include <utility>
#include <vector>

namespace passage::audit::internal {
namespace {

// ---------------------------------------------------------------------------------------------
// Through EventLog.

class EventLogSource final : public LogSource {
 public:
  explicit EventLogSource(std::unique_ptr<log::EventLog> log)
      : log_(std::move(log)), size_(log_->LastSeq()), public_key_(log_->LatestHead().public_key) {}

  uint64_t RecordedSize() const override { return size_; }
  const std::string& RecordedPublicKey() const override { return public_key_; }

  Status Scan(uint64_t after_seq, uint64_t limit,
              const std::function<bool(uint64_t, std::string_view)>& fn) const override {
    return log_->Scan(after_seq, limit, fn);
  }
  Status ScanTreeHeads(uint64_t from_size,
                       const std::function<bool(const log::SignedHead&)>& fn) const override {
    return log_->ScanTreeHeads(from_size, fn);
  }
  Result<std::string> Read(uint64_t seq) const override { return log_->Read(seq); }
  Result<std::optional<log::AppendOutcome>> FindDuplicate(
      std::string_view producer, std::string_view event_id) const override {
    return log_->FindDuplicate(producer, event_id);
  }
  Result<std::vector<uint64_t>> CaseEvents(std::string_view case_id, uint64_t after_case_seq,
                                           uint64_t limit) const override {
    return log_->CaseEvents(case_id, after_case_seq, limit);
  }
  Status CheckMeta(const merkle::CompactRange& range,
                   const merkle::Hash& last_leaf) const override {
    // EventLog::Open compared the tree state, the last leaf and the latest head with the tail.
    return Status::Ok();
  }

 private:
  std::unique_ptr<log::EventLog> log_;
  uint64_t size_;
  std::string public_key_;
};

// ---------------------------------------------------------------------------------------------
// Directly on RocksDB. Key and value layouts (docs/event-log-format.md):
//   meta:       "format" -> "passage-log/1"; "tree" -> CompactRange::Serialize();
//               "last_leaf" -> 32 bytes; "log_public_key" -> 32 bytes
//   events:     be64 global seq -> envelope bytes
//   case_index: case id || 0x00 || be64 case seq -> be64 global seq
//   dedup:      producer || 0x00 || event id -> be64 global seq || be64 case seq || leaf hash
//   sth:        be64 tree size -> root (32) || be64 timestamp_ms || signature (64)

constexpr char kFormatValue[] = "passage-log/1";
constexpr size_t kHeadValueBytes = 32 + 8 + 64;

std::string_view View(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) {
    return Status::Ok();
  }
  std::string msg(what);
  msg += ": ";
  msg += s.ToString();
  if (s.IsCorruption()) {
    return Status::Corruption(std::move(msg));
  }
  if (s.IsNotFound()) {
    return Status::NotFound(std::move(msg));
  }
  if (s.IsIOError()) {
    return Status::IoError(std::move(msg));
  }
  return Status::Internal(std::move(msg));
}

// RocksDB writes its info log into the database directory unless given a logger; an audit must
// leave the directory exactly as it found it.
class SilentLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

class RawSource final : public LogSource {
 public:
  ~RawSource() override {
    for (auto* h : handles_) {
      db_->DestroyColumnFamilyHandle(h);
    }
    handles_.clear();
    db_.reset();
  }

  static Result<std::unique_ptr<LogSource>> Open(const std::string& path) {
    auto src = std::unique_ptr<RawSource>(new RawSource());
    RETURN_IF_ERROR(src->Init(path));
    return std::unique_ptr<LogSource>(std::move(src));
  }

  uint64_t RecordedSize() const override { return size_; }
  const std::string& RecordedPublicKey() const override { return public_key_; }

  Status Scan(uint64_t after_seq, uint64_t limit,
              const std::function<bool(uint64_t, std::string_view)>& fn) const override {
    rocksdb::ReadOptions ro;
    ro.readahead_size = 2 << 20;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, events_));
    uint64_t expect = after_seq + 1;
    for (it->Seek(log::EncodeBe64(expect)); it->Valid() && expect - after_seq <= limit;
         it->Next()) {
      if (it->key().size() != 8) {
        return Status::Corruption("event key of " + std::to_string(it->key().size()) +
                                  " bytes before sequence number " + std::to_string(expect));
      }
      uint64_t seq = log::DecodeBe64(View(it->key()));
      if (seq != expect) {
        return Status::Corruption("sequence number " + std::to_string(expect) +
                                  " is missing (next stored is " + std::to_string(seq) + ")");
      }
      if (!fn(seq, View(it->value()))) {
        return Status::Ok();
      }
      ++expect;
    }
    return FromRocks(it->status(), "scanning events");
  }

  Status ScanTreeHeads(uint64_t from_size,
                       const std::function<bool(const log::SignedHead&)>& fn) const override {
    if (sth_ == nullptr) {
      return Status::Ok();
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), sth_));
    for (it->Seek(log::EncodeBe64(from_size)); it->Valid(); it->Next()) {
      if (it->key().size() != 8 || it->value().size() != kHeadValueBytes) {
        return Status::Corruption("malformed signed tree head entry (key of " +
                                  std::to_string(it->key().size()) + " bytes, value of " +
                                  std::to_string(it->value().size()) + " bytes)");
      }
      log::SignedHead h;
      h.head.tree_size = log::DecodeBe64(View(it->key()));
      std::copy(it->value().data(), it->value().data() + 32, h.head.root.begin());
      h.head.timestamp_ms =
          static_cast<int64_t>(log::DecodeBe64(std::string_view(it->value().data() + 32, 8)));
      h.signature.assign(it->value().data() + 40, 64);
      h.public_key = public_key_;
      if (!fn(h)) {
        return Status::Ok();
      }
    }
    return FromRocks(it->status(), "reading signed tree heads");
  }

  Result<std::string> Read(uint64_t seq) const override {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), events_, log::EncodeBe64(seq), &v);
    if (s.IsNotFound()) {
      return Status::NotFound("no event with sequence number " + std::to_string(seq));
    }
    RETURN_IF_ERROR(FromRocks(s, "reading event " + std::to_string(seq)));
    return v;
  }

  Result<std::optional<log::AppendOutcome>> FindDuplicate(
      std::string_view producer, std::string_view event_id) const override {
    if (dedup_ == nullptr) {
      return std::optional<log::AppendOutcome>();
    }
    std::string key(producer);
    key.push_back('\0');
    key.append(event_id);
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), dedup_, key, &v);
    if (s.IsNotFound()) {
      return std::optional<log::AppendOutcome>();
    }
    RETURN_IF_ERROR(FromRocks(s, "reading the dedup table"));
    if (v.size() != 48) {
      return Status::Corruption("dedup entry has " + std::to_string(v.size()) +
                                " bytes, expected 48");
    }
    log::AppendOutcome o;
    o.global_seq = log::DecodeBe64(std::string_view(v).substr(0, 8));
    o.case_seq = log::DecodeBe64(std::string_view(v).substr(8, 8));
    std::copy(v.begin() + 16, v.end(), o.leaf_hash.begin());
    o.duplicate = true;
    return std::optional<log::AppendOutcome>(o);
  }

  Result<std::vector<uint64_t>> CaseEvents(std::string_view case_id, uint64_t after_case_seq,
                                           uint64_t limit) const override {
    std::vector<uint64_t> out;
    if (case_index_ == nullptr) {
      return out;
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), case_index_));
    std::string prefix(case_id);
    prefix.push_back('\0');
    for (it->Seek(prefix + log::EncodeBe64(after_case_seq + 1)); it->Valid() && out.size() < limit;
         it->Next()) {
      std::string_view k = View(it->key());
      if (k.size() != prefix.size() + 8 || k.substr(0, prefix.size()) != prefix) {
        break;
      }
      if (it->value().size() != 8) {
        return Status::Corruption("case index entry for " + std::string(case_id) +
                                  " is not an 8-byte sequence number");
      }
      out.push_back(log::DecodeBe64(View(it->value())));
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "reading the case index"));
    return out;
  }

  Status CheckMeta(const merkle::CompactRange& range,
                   const merkle::Hash& last_leaf) const override {
    RETURN_IF_ERROR(meta_error_);
    if (tree_ != range.Serialize()) {
      return Status::Corruption("the Merkle tree state recorded in meta (" + std::to_string(size_) +
                                " events) differs from the one recomputed from the events (" +
                                std::to_string(range.size()) + " events)");
    }
    if (last_leaf_ != merkle::AsBytes(last_leaf)) {
      return Status::Corruption(
          "the last leaf hash recorded in meta differs from the leaf hash of seq " +
          std::to_string(range.size()));
    }
    return Status::Ok();
  }

 private:
  RawSource() = default;

  Status Init(const std::string& path) {
    rocksdb::DBOptions dbo;
    dbo.create_if_missing = false;
    dbo.paranoid_checks = true;
    dbo.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
    dbo.info_log = std::make_shared<SilentLogger>();
    std::vector<std::string> names;
    RETURN_IF_ERROR(FromRocks(rocksdb::DB::ListColumnFamilies(dbo, path, &names),
                              "listing the column families of " + path));
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) {
      cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    }
    rocksdb::DB* raw = nullptr;
    RETURN_IF_ERROR(FromRocks(rocksdb::DB::OpenForReadOnly(dbo, path, cfs, &handles_, &raw),
                              "opening " + path + " read-only"));
    db_.reset(raw);
    rocksdb::ColumnFamilyHandle* meta = nullptr;
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string& n = names[i];
      if (n == "events") {
        events_ = handles_[i];
      } else if (n == "meta") {
        meta = handles_[i];
      } else if (n == "dedup") {
        dedup_ = handles_[i];
      } else if (n == "case_index") {
        case_index_ = handles_[i];
      } else if (n == "sth") {
        sth_ = handles_[i];
      }
    }
    if (events_ == nullptr) {
      return Status::Corruption(path + " has no events column family: not a Passage log");
    }
    if (meta == nullptr) {
      meta_error_ = Status::Corruption("the meta column family is missing");
      return Status::Ok();
    }
    LoadMeta(meta);
    return Status::Ok();
  }

  // Reads what meta records; any damage is kept in meta_error_ and reported by CheckMeta, so that
  // the events can still be audited.
  void LoadMeta(rocksdb::ColumnFamilyHandle* meta) {
    std::string format;
    auto get = [&](const char* key, std::string* out) {
      return FromRocks(db_->Get(rocksdb::ReadOptions(), meta, key, out),
                       std::string("reading meta '") + key + "'");
    };
    if (Status s = get("format", &format); !s.ok()) {
      meta_error_ = s;
    } else if (format != kFormatValue) {
      meta_error_ = Status::Corruption("meta records format '" + format + "', expected '" +
                                       kFormatValue + "'");
    }
    if (Status s = get("log_public_key", &public_key_); !s.ok()) {
      public_key_.clear();
      meta_error_ = s;
    }
    if (Status s = get("last_leaf", &last_leaf_); !s.ok()) {
      meta_error_ = s;
    }
    if (Status s = get("tree", &tree_); !s.ok()) {
      meta_error_ = s;
      return;
    }
    auto range = merkle::CompactRange::Parse(tree_);
    if (!range.ok()) {
      meta_error_ = range.status().WithContext("meta 'tree'");
      return;
    }
    size_ = range->size();
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* events_ = nullptr;
  rocksdb::ColumnFamilyHandle* dedup_ = nullptr;
  rocksdb::ColumnFamilyHandle* case_index_ = nullptr;
  rocksdb::ColumnFamilyHandle* sth_ = nullptr;
  uint64_t size_ = 0;
  std::string public_key_;
  std::string tree_;
  std::string last_leaf_;
  Status meta_error_;
};

}  // namespace

Result<std::unique_ptr<LogSource>> OpenThroughEventLog(const std::string& path) {
  log::EventLogOptions o;
  o.path = path;
  o.read_only = true;
  o.create_if_missing = false;
  // The verifier re-checks every entry; Open only needs to confirm the tail it always checks.
  o.tail_check = 1;
  ASSIGN_OR_RETURN(auto log, log::EventLog::Open(o));
  return std::unique_ptr<LogSource>(std::make_unique<EventLogSource>(std::move(log)));
}

Result<std::unique_ptr<LogSource>> OpenRaw(const std::string& path) {
  return RawSource::Open(path);
}

}  // namespace passage::audit::internal
