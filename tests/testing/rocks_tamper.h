#pragma once

// Tamper: damage done to a log directory with the RocksDB API directly, as an attacker or a faulty
// disk tool would (never through Passage's writer). For tamper and recovery tests on copies.

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/log/event_log.h"

namespace passage::testing {

class Tamper {
 public:
  explicit Tamper(const std::string& path) {
    std::vector<std::string> names;
    EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) {
      cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    }
    rocksdb::DB* raw = nullptr;
    EXPECT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, cfs, &handles_, &raw).ok());
    db_.reset(raw);
    for (size_t i = 0; i < names.size(); ++i) {
      by_name_[names[i]] = handles_[i];
    }
  }
  ~Tamper() {
    for (auto* h : handles_) {
      (void)db_->DestroyColumnFamilyHandle(h);
    }
  }
  Tamper(const Tamper&) = delete;
  Tamper& operator=(const Tamper&) = delete;

  rocksdb::DB* db() { return db_.get(); }
  rocksdb::ColumnFamilyHandle* cf(const std::string& name) { return by_name_.at(name); }

  std::string Get(const std::string& cf, const std::string& key) {
    std::string v;
    EXPECT_TRUE(db_->Get(rocksdb::ReadOptions(), by_name_.at(cf), key, &v).ok()) << cf;
    return v;
  }
  void Put(const std::string& cf, const std::string& key, const std::string& value) {
    EXPECT_TRUE(db_->Put(rocksdb::WriteOptions(), by_name_.at(cf), key, value).ok());
  }
  void Delete(const std::string& cf, const std::string& key) {
    EXPECT_TRUE(db_->Delete(rocksdb::WriteOptions(), by_name_.at(cf), key).ok());
  }
  std::string Event(uint64_t seq) { return Get("events", log::EncodeBe64(seq)); }
  void PutEvent(uint64_t seq, const std::string& v) { Put("events", log::EncodeBe64(seq), v); }
  // The tree sizes of the stored signed tree heads, ascending.
  std::vector<uint64_t> HeadSizes() {
    std::vector<uint64_t> out;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), by_name_.at("sth")));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      out.push_back(log::DecodeBe64(std::string_view(it->key().data(), 8)));
    }
    return out;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name_;
};

}  // namespace passage::testing
