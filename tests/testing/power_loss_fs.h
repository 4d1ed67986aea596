#pragma once

// PowerLossFileSystem: a RocksDB FileSystem for power-loss tests. It passes everything through to
// the real file system and remembers, for every file written through it, how many bytes were
// appended and how many of those a Sync or Fsync made durable. PowerLoss() is the moment the
// machine loses power: from then on every write, sync, create, rename and delete fails (the
// process can no longer change the disk, and nothing it is told afterwards was acknowledged).
// DropUnsynced(), called once the writer is gone, makes the directory look like the disk after the
// reboot: each tracked file is cut back to its synced length, and a file created through this file
// system and never synced is deleted. A SIGKILL keeps the page cache; this does not.
//
// What it models and what not: data appended but not synced is lost; data synced survives; a file
// that was synced keeps its directory entry (RocksDB fsyncs its directory after creating the files
// it syncs, so this is what it relies on), and a rename is durable at once. RangeSync (the
// `bytes_per_sync` hint) does not count as a sync. Files that existed before this file system was
// created count as fully synced. Files opened for random-access writing (NewRandomRWFile, which
// the event log never uses) are passed through untracked.
//
// Thread-safety: every method may be called from any thread (RocksDB's writer and background
// threads do).

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>

namespace passage::testing {

class PowerLossFileSystem : public rocksdb::FileSystemWrapper {
 public:
  PowerLossFileSystem() : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()) {}

  const char* Name() const override { return "PowerLossFileSystem"; }

  // The power goes out: nothing written from now on reaches the disk or succeeds.
  void PowerLoss() {
    std::lock_guard lock(mu_);
    dead_ = true;
  }

  bool dead() const {
    std::lock_guard lock(mu_);
    return dead_;
  }

  struct Dropped {
    int files_deleted = 0;    // created, never synced
    int files_truncated = 0;  // cut back to their synced length
    uint64_t bytes = 0;       // unsynced bytes lost
  };

  // The disk after the reboot (see above). Call after PowerLoss(), once nothing uses the files.
  Dropped DropUnsynced() {
    std::lock_guard lock(mu_);
    Dropped d;
    for (const auto& [name, f] : files_) {
      std::error_code ec;
      const uint64_t size = std::filesystem::file_size(name, ec);
      if (ec) {
        continue;
      }
      if (f->created && f->synced == 0) {
        std::filesystem::remove(name, ec);
        ++d.files_deleted;
        d.bytes += size;
      } else if (size > f->synced) {
        std::filesystem::resize_file(name, f->synced, ec);
        ++d.files_truncated;
        d.bytes += size - f->synced;
      }
    }
    files_.clear();
    return d;
  }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    if (dead()) {
      return PowerIsOut();
    }
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, &file, dbg);
    if (!s.ok()) {
      return s;
    }
    auto state = std::make_shared<FileState>();
    state->created = true;
    Track(name, state);
    *result = std::make_unique<TrackedFile>(std::move(file), this, std::move(state));
    return s;
  }

  rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override {
    if (dead()) {
      return PowerIsOut();
    }
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->ReopenWritableFile(name, options, &file, dbg);
    if (!s.ok()) {
      return s;
    }
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(name, ec);
    std::shared_ptr<FileState> state;
    {
      std::lock_guard lock(mu_);
      auto it = files_.find(name);
      if (it != files_.end()) {
        state = it->second;
      } else {
        state = std::make_shared<FileState>();
        state->synced = ec ? 0 : size;  // there before us: durable
        files_[name] = state;
      }
      state->appended = ec ? 0 : size;
    }
    *result = std::make_unique<TrackedFile>(std::move(file), this, std::move(state));
    return s;
  }

  rocksdb::IOStatus ReuseWritableFile(const std::string& name, const std::string& old_name,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override {
    if (dead()) {
      return PowerIsOut();
    }
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->ReuseWritableFile(name, old_name, options, &file, dbg);
    if (!s.ok()) {
      return s;
    }
    auto state = std::make_shared<FileState>();
    state->created = true;
    {
      std::lock_guard lock(mu_);
      files_.erase(old_name);
    }
    Track(name, state);
    *result = std::make_unique<TrackedFile>(std::move(file), this, std::move(state));
    return s;
  }

  rocksdb::IOStatus DeleteFile(const std::string& name, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    std::lock_guard lock(mu_);
    if (dead_) {
      return PowerIsOut();
    }
    rocksdb::IOStatus s = target()->DeleteFile(name, options, dbg);
    if (s.ok()) {
      files_.erase(name);
    }
    return s;
  }

  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    std::lock_guard lock(mu_);
    if (dead_) {
      return PowerIsOut();
    }
    rocksdb::IOStatus s = target()->RenameFile(from, to, options, dbg);
    if (s.ok()) {
      auto it = files_.find(from);
      if (it != files_.end()) {
        files_[to] = it->second;
        files_.erase(it);
      } else {
        files_.erase(to);
      }
    }
    return s;
  }

  rocksdb::IOStatus LinkFile(const std::string& from, const std::string& to,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    if (dead()) {
      return PowerIsOut();
    }
    return target()->LinkFile(from, to, options, dbg);
  }

  rocksdb::IOStatus Truncate(const std::string& name, size_t size,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    std::lock_guard lock(mu_);
    if (dead_) {
      return PowerIsOut();
    }
    rocksdb::IOStatus s = target()->Truncate(name, size, options, dbg);
    if (auto it = files_.find(name); s.ok() && it != files_.end()) {
      it->second->appended = size;
      it->second->synced = std::min<uint64_t>(it->second->synced, size);
    }
    return s;
  }

 private:
  struct FileState {
    uint64_t appended = 0;  // logical size written through us
    uint64_t synced = 0;    // bytes a completed Sync/Fsync made durable
    bool created = false;   // created through us (else it was there before)
  };

  static rocksdb::IOStatus PowerIsOut() {
    return rocksdb::IOStatus::IOError("simulated power loss: the disk is gone");
  }

  void Track(const std::string& name, std::shared_ptr<FileState> state) {
    std::lock_guard lock(mu_);
    files_[name] = std::move(state);
  }

  class TrackedFile : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    TrackedFile(std::unique_ptr<rocksdb::FSWritableFile> file, PowerLossFileSystem* fs,
                std::shared_ptr<FileState> state)
        : rocksdb::FSWritableFileOwnerWrapper(std::move(file)), fs_(fs), state_(std::move(state)) {}

    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
      std::lock_guard lock(fs_->mu_);
      if (fs_->dead_) {
        return PowerIsOut();
      }
      rocksdb::IOStatus s = target()->Append(data, options, dbg);
      if (s.ok()) {
        state_->appended += data.size();
      }
      return s;
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& /*info*/,
                             rocksdb::IODebugContext* dbg) override {
      return Append(data, options, dbg);
    }
    rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override {
      std::lock_guard lock(fs_->mu_);
      if (fs_->dead_) {
        return PowerIsOut();
      }
      rocksdb::IOStatus s = target()->PositionedAppend(data, offset, options, dbg);
      if (s.ok()) {
        state_->appended = std::max<uint64_t>(state_->appended, offset + data.size());
      }
      return s;
    }
    rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                       const rocksdb::IOOptions& options,
                                       const rocksdb::DataVerificationInfo& /*info*/,
                                       rocksdb::IODebugContext* dbg) override {
      return PositionedAppend(data, offset, options, dbg);
    }
    rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
      std::lock_guard lock(fs_->mu_);
      if (fs_->dead_) {
        return PowerIsOut();
      }
      rocksdb::IOStatus s = target()->Truncate(size, options, dbg);
      if (s.ok()) {
        state_->appended = size;
        state_->synced = std::min(state_->synced, size);
      }
      return s;
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
      return Durable([&] { return target()->Sync(options, dbg); });
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      return Durable([&] { return target()->Fsync(options, dbg); });
    }
    rocksdb::IOStatus Close(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      // Closing releases the descriptor either way; after the power loss it changes nothing that
      // DropUnsynced keeps.
      rocksdb::IOStatus s = target()->Close(options, dbg);
      return fs_->dead() ? PowerIsOut() : s;
    }

   private:
    // Runs a sync; the bytes appended before it count as durable only if it completed before the
    // power loss.
    template <typename Fn>
    rocksdb::IOStatus Durable(Fn sync) {
      uint64_t upto = 0;
      {
        std::lock_guard lock(fs_->mu_);
        if (fs_->dead_) {
          return PowerIsOut();
        }
        upto = state_->appended;
      }
      rocksdb::IOStatus s = sync();
      std::lock_guard lock(fs_->mu_);
      if (fs_->dead_) {
        return PowerIsOut();
      }
      if (s.ok()) {
        state_->synced = std::max(state_->synced, upto);
      }
      return s;
    }

    PowerLossFileSystem* fs_;
    std::shared_ptr<FileState> state_;
  };

  mutable std::mutex mu_;
  bool dead_ = false;                                        // guarded by mu_
  std::map<std::string, std::shared_ptr<FileState>> files_;  // guarded by mu_
};

}  // namespace passage::testing
