#include "broker/audit/read_ahead.h"

#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace passage::audit::internal {
namespace {

// A run of consecutive events, copied out of RocksDB's blocks.
struct Batch {
  // Large enough that hand-overs (each may wait for a wake-up on a busy machine) are rare.
  static constexpr size_t kMaxBytes = 1 << 20;
  static constexpr size_t kMaxEvents = 2048;

  std::string bytes;  // the envelopes, back to back
  std::vector<uint64_t> seqs;
  std::vector<size_t> ends;  // ends[i] is where event i ends in `bytes`

  void Add(uint64_t seq, std::string_view event) {
    bytes.append(event);
    seqs.push_back(seq);
    ends.push_back(bytes.size());
  }
  bool full() const { return bytes.size() >= kMaxBytes || seqs.size() >= kMaxEvents; }
  size_t size() const { return seqs.size(); }
  std::string_view event(size_t i) const {
    const size_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(bytes).substr(begin, ends[i] - begin);
  }
  void Clear() {
    bytes.clear();
    seqs.clear();
    ends.clear();
  }
};

// Hands batches from one reader to one consumer. Batches circulate between `free_` and `full_`;
// the reader waits for a free one, the consumer for a full one.
class Pipe {
 public:
  Pipe() {
    for (auto& b : batches_) {
      free_.push_back(&b);
    }
  }

  // Reader: a batch to fill, or nullptr once the consumer has stopped.
  Batch* TakeFree() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stopped_ || !free_.empty(); });
    if (stopped_) {
      return nullptr;
    }
    Batch* b = free_.front();
    free_.pop_front();
    return b;
  }
  void PushFull(Batch* b) {
    {
      std::lock_guard lock(mu_);
      full_.push_back(b);
    }
    cv_.notify_all();
  }
  void Finish() {
    {
      std::lock_guard lock(mu_);
      finished_ = true;
    }
    cv_.notify_all();
  }

  // Consumer: the next full batch in order, or nullptr once the reader has finished and all were
  // taken.
  Batch* TakeFull() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return finished_ || !full_.empty(); });
    if (full_.empty()) {
      return nullptr;
    }
    Batch* b = full_.front();
    full_.pop_front();
    return b;
  }
  void Recycle(Batch* b) {
    b->Clear();
    {
      std::lock_guard lock(mu_);
      free_.push_back(b);
    }
    cv_.notify_all();
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::array<Batch, 6> batches_;  // lets the faster side run ahead by ~5 MiB
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch*> free_;
  std::deque<Batch*> full_;
  bool finished_ = false;
  bool stopped_ = false;
};

}  // namespace

Status ScanWithReadAhead(const LogSource& source, uint64_t after_seq, uint64_t limit,
                         const std::function<void(uint64_t seq)>& on_read,
                         const std::function<bool(uint64_t, std::string_view)>& fn) {
  Pipe pipe;
  Status scan_status;
  std::thread reader([&] {
    Batch* batch = pipe.TakeFree();
    if (batch != nullptr) {
      scan_status = source.Scan(after_seq, limit, [&](uint64_t seq, std::string_view bytes) {
        if (on_read) {
          on_read(seq);
        }
        batch->Add(seq, bytes);
        if (batch->full()) {
          pipe.PushFull(batch);
          batch = pipe.TakeFree();
          return batch != nullptr;
        }
        return true;
      });
      if (batch != nullptr) {
        pipe.PushFull(batch);
      }
    }
    pipe.Finish();
  });

  bool stopped = false;
  while (Batch* batch = pipe.TakeFull()) {
    for (size_t i = 0; i < batch->size(); ++i) {
      if (!fn(batch->seqs[i], batch->event(i))) {
        stopped = true;
        break;
      }
    }
    pipe.Recycle(batch);
    if (stopped) {
      pipe.Stop();
      break;
    }
  }
  reader.join();
  return stopped ? Status::Ok() : scan_status;
}

}  // namespace passage::audit::internal
