#pragma once

// Client: an agency's connection to the broker, used by every service and by passagectl.
//
// Operation: Publish() first writes the event to the LocalStore outbox (synced), then sends it; an
// event stays in the outbox until the broker acknowledges it (or refuses it for good), and is resent
// with the same event id after a timeout or a reconnect, so an acknowledged event is stored exactly
// once whatever the network does. Subscribe() registers a handler for a delivery stream; each
// delivery is applied through LocalStore::Apply together with the stream position, so a redelivered
// event never takes effect twice. All I/O happens inside Poll().
//
// Lifecycle: Create() connects and sends HELLO; a silent broker (no frame for `liveness_ms`) makes
// the client reconnect, and every WELCOME re-subscribes from the stored positions and resends the
// outbox.
//
// Concurrency: not thread-safe; one thread owns the client (and its ZeroMQ socket) for life.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "passage/v1/events.pb.h"
#include "passage/v1/wire.pb.h"
#include "services/runtime/local_store.h"

namespace passage::runtime {

struct ClientOptions {
  std::string endpoint;
  std::string broker_public_z85;
  std::string public_z85;
  std::string secret_z85;
  std::string agency_id;  // the PLAIN user name in insecure mode
  bool insecure = false;
  LocalStore* store = nullptr;  // required; not owned
  uint32_t max_unacked_events = 4096;
  uint32_t max_batch = 256;
  int resend_after_ms = 3000;
  int liveness_ms = 4000;
  int ping_every_ms = 1000;
  // Called from WELCOME when the broker's log holds fewer entries than this agency saw before
  // (restored from an older copy): (entries it holds, entries seen). The callee decides what to
  // send again (Client::RequeueFirst) before the outbox is sent; the client then takes the
  // broker's head as the one to follow.
  std::function<void(uint64_t log_size, uint64_t seen_size)> on_log_restored;
};

// Handles one delivered event; adds its effects to `write`. kUnavailable asks for redelivery
// later (the broker's backoff: 5 s, 10 s, 20 s, ... by default) and holds later events back until
// it is applied; at the broker's last attempt it parks the event instead. Any other error parks
// the delivery at the broker (logged, the stream moves on).
using DeliveryHandler =
    std::function<Status(uint64_t seq, const passage::v1::Envelope& envelope, StateWrite* write)>;
// Told the broker's final answer for each published event (ok, duplicate or refused).
using PublishCallback = std::function<void(const passage::v1::PublishResult& result)>;

class Client {
 public:
  static Result<std::unique_ptr<Client>> Create(const ClientOptions& options);
  virtual ~Client() = default;

  // Durably queues `event` (serialized once; those bytes are what the broker stores).
  virtual Result<uint64_t> Publish(const passage::v1::Event& event) = 0;
  virtual void OnPublishResult(PublishCallback cb) = 0;

  // Starts (or restarts) a stream from the stored position, or from `after_seq` when given.
  virtual Status Subscribe(passage::v1::Selector selector, uint32_t credits, DeliveryHandler handler,
                           std::optional<uint64_t> after_seq = std::nullopt) = 0;

  // Does I/O for up to `timeout_ms` (at least one pass).
  virtual Status Poll(int timeout_ms) = 0;
  // Polls until the outbox is empty; Unavailable when `timeout_ms` passes first.
  virtual Status Flush(int timeout_ms) = 0;
  // Sends a request and polls until its reply (a ServerFrame with the same request id) arrives.
  virtual Result<passage::v1::ServerFrame> Call(passage::v1::ClientFrame request, int timeout_ms) = 0;

  virtual bool connected() const = 0;
  // Why the node is not connected, in an operator's words, from ZeroMQ's socket monitor: the
  // broker refused this agency's key, the handshake failed, nothing answers at the endpoint.
  // Empty while connected, or before anything was seen.
  virtual std::string connection_problem() const = 0;
  virtual const passage::v1::SignedTreeHead& last_tree_head() const = 0;
  virtual size_t outbox_size() const = 0;
  // Queues already serialized events ahead of everything pending (see on_log_restored).
  virtual Status RequeueFirst(const std::vector<OutboxEntry>& first) = 0;

 protected:
  Client() = default;
};

}  // namespace passage::runtime
