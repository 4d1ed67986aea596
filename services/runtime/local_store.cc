#include "services/runtime/local_store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <mutex>

namespace passage::runtime {
namespace {

enum Cf : size_t { kDefault = 0, kOutbox, kSent, kState, kHeads, kNumCf };
constexpr const char* kCfNames[kNumCf] = {"default", "outbox", "sent", "state", "heads"};

std::string Be64(uint64_t v) {
  std::string b(8, '\0');
  for (int i = 7; i >= 0; --i) {
    b[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return b;
}

uint64_t FromBe64(std::string_view b) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < b.size(); ++i) {
    v = (v << 8) | static_cast<uint8_t>(b[i]);
  }
  return v;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) {
    return Status::Ok();
  }
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) {
    return Status::Corruption(msg);
  }
  if (s.IsIOError()) {
    return Status::IoError(msg);
  }
  return Status::Internal(msg);
}

std::string PositionKey(std::string_view stream) { return "pos/" + std::string(stream); }

class RocksLocalStore final : public LocalStore {
 public:
  ~RocksLocalStore() override {
    for (auto* h : handles_) {
      db_->DestroyColumnFamilyHandle(h);
    }
  }

  Status Init(const std::string& path) {
    rocksdb::DBOptions o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    o.paranoid_checks = true;
    o.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
    o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
    o.keep_log_file_num = 2;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (auto* n : kCfNames) {
      cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    }
    rocksdb::DB* raw = nullptr;
    RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(o, path, cfs, &handles_, &raw),
                              "opening the agency store at " + path));
    db_.reset(raw);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kOutbox]));
    it->SeekToLast();
    next_local_ = it->Valid() ? FromBe64(std::string_view(it->key().data(), it->key().size())) + 1 : 1;
    // Local seqs also must not reuse a seq already sent: keep a high-water mark in state.
    std::string hw;
    if (db_->Get(rocksdb::ReadOptions(), handles_[kState], "outbox_hw", &hw).ok()) {
      next_local_ = std::max<uint64_t>(next_local_, FromBe64(hw) + 1);
    }
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++outbox_size_;
    }
    return Status::Ok();
  }

  Result<uint64_t> Enqueue(std::string_view event_id, std::string_view event_bytes) override {
    std::lock_guard lock(mu_);
    uint64_t seq = next_local_++;
    std::string v = Be64(event_id.size());
    v.append(event_id);
    v.append(event_bytes);
    rocksdb::WriteBatch b;
    b.Put(handles_[kOutbox], Be64(seq), v);
    b.Put(handles_[kState], "outbox_hw", Be64(seq));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    RETURN_IF_ERROR(FromRocks(db_->Write(wo, &b), "writing the outbox"));
    ++outbox_size_;
    return seq;
  }

  Status RequeueFirst(const std::vector<OutboxEntry>& first) override {
    std::lock_guard lock(mu_);
    // The pending entries move behind `first`: every entry gets a fresh local seq, in order.
    std::vector<std::pair<std::string, std::string>> pending;  // old key, value
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kOutbox]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      pending.emplace_back(it->key().ToString(), it->value().ToString());
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "reading the outbox"));
    rocksdb::WriteBatch b;
    uint64_t seq = next_local_;
    for (const auto& e : first) {
      std::string v = Be64(e.event_id.size());
      v.append(e.event_id);
      v.append(e.event_bytes);
      b.Put(handles_[kOutbox], Be64(seq++), v);
    }
    for (const auto& [key, value] : pending) {
      b.Delete(handles_[kOutbox], key);
      b.Put(handles_[kOutbox], Be64(seq++), value);
    }
    b.Put(handles_[kState], "outbox_hw", Be64(seq - 1));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    RETURN_IF_ERROR(FromRocks(db_->Write(wo, &b), "writing the outbox"));
    next_local_ = seq;
    outbox_size_ += first.size();
    return Status::Ok();
  }

  Result<std::vector<OutboxEntry>> PendingOutbox(uint64_t after, size_t limit) const override {
    std::vector<OutboxEntry> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kOutbox]));
    for (it->Seek(Be64(after + 1)); it->Valid() && out.size() < limit; it->Next()) {
      std::string_view v(it->value().data(), it->value().size());
      if (v.size() < 8 || FromBe64(v) > v.size() - 8) {
        return Status::Corruption("malformed outbox entry");
      }
      uint64_t n = FromBe64(v);
      OutboxEntry e;
      e.local_seq = FromBe64(std::string_view(it->key().data(), it->key().size()));
      e.event_id = std::string(v.substr(8, n));
      e.event_bytes = std::string(v.substr(8 + n));
      out.push_back(std::move(e));
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "reading the outbox"));
    return out;
  }

  Status MarkSent(uint64_t local_seq, std::string_view event_id, std::string_view result) override {
    rocksdb::WriteBatch b;
    b.Delete(handles_[kOutbox], Be64(local_seq));
    b.Put(handles_[kSent], rocksdb::Slice(event_id.data(), event_id.size()),
          rocksdb::Slice(result.data(), result.size()));
    RETURN_IF_ERROR(FromRocks(db_->Write(rocksdb::WriteOptions(), &b), "recording an ack"));
    if (outbox_size_ > 0) {
      --outbox_size_;
    }
    return Status::Ok();
  }

  Result<std::optional<std::string>> SentResult(std::string_view event_id) const override {
    return GetCf(kSent, event_id);
  }

  size_t OutboxSize() const override { return outbox_size_; }

  uint64_t Position(std::string_view stream) const override {
    auto v = GetCf(kState, PositionKey(stream));
    if (!v.ok() || !v->has_value()) {
      return 0;
    }
    return FromBe64(**v);
  }

  Status Apply(std::string_view stream, uint64_t seq, const StateWrite& w) override {
    rocksdb::WriteBatch b;
    Fill(&b, w);
    b.Put(handles_[kState], PositionKey(stream), Be64(seq));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return FromRocks(db_->Write(wo, &b), "applying a delivery");
  }

  Status Write(const StateWrite& w) override {
    rocksdb::WriteBatch b;
    Fill(&b, w);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return FromRocks(db_->Write(wo, &b), "writing agency state");
  }

  Result<std::optional<std::string>> Get(std::string_view key) const override {
    return GetCf(kState, key);
  }

  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kState]));
    for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
      std::string_view k(it->key().data(), it->key().size());
      if (k.substr(0, prefix.size()) != prefix) {
        break;
      }
      if (!fn(k, std::string_view(it->value().data(), it->value().size()))) {
        break;
      }
    }
    return FromRocks(it->status(), "scanning agency state");
  }

  Status SaveTreeHead(uint64_t tree_size, std::string_view head_bytes) override {
    return FromRocks(db_->Put(rocksdb::WriteOptions(), handles_[kHeads], Be64(tree_size),
                              rocksdb::Slice(head_bytes.data(), head_bytes.size())),
                     "saving a tree head");
  }

  Result<std::optional<std::string>> LatestTreeHead() const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kHeads]));
    it->SeekToLast();
    if (!it->Valid()) {
      return std::optional<std::string>();
    }
    return std::optional<std::string>(it->value().ToString());
  }

 private:
  void Fill(rocksdb::WriteBatch* b, const StateWrite& w) {
    for (const auto& [k, v] : w.puts()) {
      b->Put(handles_[kState], k, v);
    }
    for (const auto& k : w.deletes()) {
      b->Delete(handles_[kState], k);
    }
  }

  Result<std::optional<std::string>> GetCf(Cf cf, std::string_view key) const {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), handles_[cf], rocksdb::Slice(key.data(), key.size()), &v);
    if (s.IsNotFound()) {
      return std::optional<std::string>();
    }
    RETURN_IF_ERROR(FromRocks(s, "reading agency store"));
    return std::optional<std::string>(std::move(v));
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::mutex mu_;
  uint64_t next_local_ = 1;
  std::atomic<size_t> outbox_size_{0};
};

}  // namespace

Result<std::unique_ptr<LocalStore>> LocalStore::Open(const std::string& path) {
  auto s = std::make_unique<RocksLocalStore>();
  RETURN_IF_ERROR(s->Init(path));
  return std::unique_ptr<LocalStore>(std::move(s));
}

}  // namespace passage::runtime
