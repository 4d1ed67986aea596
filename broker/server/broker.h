#pragma once

// Broker: the passage-broker application. Owns the event log, the ROUTER endpoint, the ZAP handler
// and the delivery state; wires them and runs the main loop.
//
// Operation: one thread (Run) owns the ROUTER socket. Each turn it drains the messages that are
// ready (up to `group_commit_max_events` events or `group_commit_max_micros`) and validates every
// published event against the projection of its case (core) including events staged but not yet
// durable. A writer thread appends one batch at a time in one synced RocksDB write; while it
// syncs, the loop stages the next batch, which goes to the writer as soon as it is free (so a
// batch grows with the load and the time a sync takes). Acks, gated replies and deliveries of a
// batch go out only once it is durable, in batch order. A third thread answers ZAP requests.
// If the log refuses a batch, every event not yet acknowledged gets RETRY_LATER and Run returns
// the error (the broker stops rather than serve from projections the log does not hold).
//
// Lifecycle: Create() opens the log, starts ZAP, binds, and (unless insecure) proves that an unknown
// CURVE key is refused before returning. Run() serves until RequestStop().
//
// Concurrency: RequestStop() and endpoint() may be called from any thread; everything else from the
// thread that calls Run().

#include <atomic>
#include <memory>
#include <string>

#include "core/status.h"
#include "ops/metrics.h"
#include "passage/v1/config.pb.h"

namespace rocksdb {
class FileSystem;
}  // namespace rocksdb

namespace passage::broker {

struct BrokerOptions {
  std::string listen = "tcp://127.0.0.1:7450";  // "tcp://127.0.0.1:0" picks a free port
  std::string data_dir;
  // The NRM admin's socket for live registry changes (docs/operations.md); "" = ipc://DATA_DIR/
  // admin.sock. Reachable only by those who can open the file: the broker's OS user and group.
  std::string admin_endpoint;
  std::string curve_public_z85;  // empty with insecure
  std::string curve_secret_z85;
  std::string signing_seed;      // 32 bytes
  passage::v1::AgencyRegistry registry;
  bool insecure = false;
  int max_message_bytes = 16 << 20;
  int group_commit_max_events = 4096;
  int group_commit_max_micros = 2000;
  int redelivery_timeout_ms = 5000;
  int max_delivery_attempts = 8;
  int default_credits = 256;
  int max_credits = 8192;
  // Where the broker's metrics go (docs/operations.md); not owned, outlives the broker. Null: kept
  // to itself.
  ops::MetricsRegistry* metrics = nullptr;
  // The file system the event log writes through; null is the operating system's. Only for tests
  // that inject faults (power loss); see EventLogOptions::file_system.
  std::shared_ptr<rocksdb::FileSystem> log_file_system;
};

class Broker {
 public:
  static Result<std::unique_ptr<Broker>> Create(const BrokerOptions& options);
  virtual ~Broker() = default;

  // Serves until RequestStop(); returns the first fatal error (the log failing), or OK.
  virtual Status Run() = 0;
  virtual void RequestStop() = 0;
  // Asks the serving loop to write a consistent checkpoint of the log (RocksDB Checkpoint, hard
  // links where possible) to DATA_DIR/checkpoints/<UTC time> from its loop (a RocksDB checkpoint is
  // consistent while the writer appends; it holds whole batches only), and to verify
  // it. Safe to call from a signal handler (SIGUSR1).
  virtual void RequestCheckpoint() = 0;
  // The bound endpoint, e.g. "tcp://127.0.0.1:41234".
  virtual std::string endpoint() const = 0;

 protected:
  Broker() = default;
};

}  // namespace passage::broker
