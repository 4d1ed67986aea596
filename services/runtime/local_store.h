#pragma once

// LocalStore: an agency node's own durable store (RocksDB): the outbox of events not yet
// acknowledged by the broker, the signed tree heads the broker showed us, and the node's state with
// its consumer positions.
//
// Exactly-once effect: a delivery is applied with Apply(), which writes the node's effects and the
// new consumer position in one synced WriteBatch; a redelivered seq at or below the position is
// skipped. The outbox entry of an event is written (synced) before it is sent and removed when the
// broker acknowledges it, so an agency offline for hours keeps working and sends later.
//
// Concurrency: all methods are thread-safe (RocksDB), but a node uses it from one thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace passage::runtime {

// Changes to the node's state, committed together with a consumer position.
class StateWrite {
 public:
  void Put(std::string key, std::string value) { puts_.emplace_back(std::move(key), std::move(value)); }
  void Delete(std::string key) { deletes_.push_back(std::move(key)); }
  const std::vector<std::pair<std::string, std::string>>& puts() const { return puts_; }
  const std::vector<std::string>& deletes() const { return deletes_; }

 private:
  std::vector<std::pair<std::string, std::string>> puts_;
  std::vector<std::string> deletes_;
};

struct OutboxEntry {
  uint64_t local_seq = 0;
  std::string event_id;
  std::string event_bytes;
};

class LocalStore {
 public:
  static Result<std::unique_ptr<LocalStore>> Open(const std::string& path);
  virtual ~LocalStore() = default;

  // Outbox.
  virtual Result<uint64_t> Enqueue(std::string_view event_id, std::string_view event_bytes) = 0;
  // Entries with local seq > after, ascending, at most limit.
  virtual Result<std::vector<OutboxEntry>> PendingOutbox(uint64_t after, size_t limit) const = 0;
  // Removes the entry and records the broker's result bytes under the event id.
  virtual Status MarkSent(uint64_t local_seq, std::string_view event_id, std::string_view result) = 0;
  virtual Result<std::optional<std::string>> SentResult(std::string_view event_id) const = 0;
  // Puts `first` at the head of the outbox, before every pending entry, in one synced write: the
  // events to send again after the broker was restored from an older copy of its log.
  virtual Status RequeueFirst(const std::vector<OutboxEntry>& first) = 0;
  virtual size_t OutboxSize() const = 0;

  // Consumer positions and state.
  virtual uint64_t Position(std::string_view stream) const = 0;
  // Writes `w` and sets the position of `stream` to `seq`, atomically and synced.
  virtual Status Apply(std::string_view stream, uint64_t seq, const StateWrite& w) = 0;
  virtual Status Write(const StateWrite& w) = 0;
  virtual Result<std::optional<std::string>> Get(std::string_view key) const = 0;
  virtual Status Scan(std::string_view prefix,
                      const std::function<bool(std::string_view, std::string_view)>& fn) const = 0;

  // The latest signed tree head seen (serialized passage.v1.SignedTreeHead), every one kept.
  virtual Status SaveTreeHead(uint64_t tree_size, std::string_view head_bytes) = 0;
  virtual Result<std::optional<std::string>> LatestTreeHead() const = 0;

 protected:
  LocalStore() = default;
};

}  // namespace passage::runtime
