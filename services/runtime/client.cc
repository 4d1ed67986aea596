#include "services/runtime/client.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <set>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "transport/frames.h"
#include "transport/socket_options.h"

namespace passage::runtime {
namespace {

namespace v1 = passage::v1;

// Deliveries the client takes per frame: a catch-up or a burst arrives in a few messages instead of
// one per event; each is still applied and acknowledged on its own.
constexpr uint32_t kDeliverBatch = 64;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string StreamName(v1::Selector s) { return v1::Selector_Name(s); }

struct Stream {
  uint32_t credits = 0;
  DeliveryHandler handler;
  std::optional<uint64_t> after_seq;
};

struct Sent {
  std::string event_id;
  int64_t sent_at_ms = 0;
};

class ClientImpl final : public Client {
 public:
  explicit ClientImpl(const ClientOptions& o) : o_(o), ctx_(1) {}
  ~ClientImpl() override {
    StopMonitor();
    sock_.close();
    ctx_.close();
  }

  Status Init() {
    if (o_.store == nullptr) {
      return Status::InvalidArgument("store", "a LocalStore is required");
    }
    auto head = o_.store->LatestTreeHead();
    if (head.ok() && head->has_value()) {
      last_head_.ParseFromString(**head);
    }
    return Reconnect();
  }

  Result<uint64_t> Publish(const v1::Event& event) override {
    std::string bytes;
    if (!event.SerializeToString(&bytes)) {
      return Status::InvalidArgument("event", "cannot be serialized");
    }
    ASSIGN_OR_RETURN(uint64_t seq, o_.store->Enqueue(event.event_id(), bytes));
    SendOutbox();
    return seq;
  }

  void OnPublishResult(PublishCallback cb) override { publish_cb_ = std::move(cb); }

  Status Subscribe(v1::Selector selector, uint32_t credits, DeliveryHandler handler,
                   std::optional<uint64_t> after_seq) override {
    Stream& s = streams_[selector];
    s.credits = credits;
    s.handler = std::move(handler);
    s.after_seq = after_seq;
    if (welcomed_) {
      SendSubscribe(selector, s);
    }
    return Status::Ok();
  }

  Status Poll(int timeout_ms) override {
    int64_t until = NowMs() + timeout_ms;
    do {
      int64_t now = NowMs();
      if (now - last_rx_ms_ > o_.liveness_ms) {
        RETURN_IF_ERROR(Reconnect());
      }
      if (!welcomed_ && now - hello_sent_ms_ >= 250) {
        SendHello();  // the first one may have gone to a connection that died
      }
      if (now - last_ping_ms_ >= o_.ping_every_ms) {
        last_ping_ms_ = now;
        v1::ClientFrame f;
        f.mutable_ping()->set_sent_at_ms(now);
        Send(f);
      }
      ResendExpired();
      SendOutbox();
      int wait = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(until - NowMs(), 100)));
      zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
      try {
        zmq::poll(&item, 1, std::chrono::milliseconds(wait));
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) {
          return Status::Internal(std::string("poll: ") + e.what());
        }
      }
      RETURN_IF_ERROR(Drain());
      ReadMonitor();
    } while (NowMs() < until);
    return Status::Ok();
  }

  Status Flush(int timeout_ms) override {
    int64_t until = NowMs() + timeout_ms;
    while (o_.store->OutboxSize() > 0) {
      if (NowMs() >= until) {
        return Status::Unavailable(std::to_string(o_.store->OutboxSize()) +
                                   " events still wait for the broker's acknowledgement");
      }
      RETURN_IF_ERROR(Poll(20));
    }
    return Status::Ok();
  }

  Result<v1::ServerFrame> Call(v1::ClientFrame request, int timeout_ms) override {
    uint64_t id = ++next_request_;
    request.set_request_id(id);
    Send(request);
    int64_t until = NowMs() + timeout_ms;
    while (NowMs() < until) {
      RETURN_IF_ERROR(Poll(20));
      auto it = replies_.find(id);
      if (it != replies_.end()) {
        v1::ServerFrame f = std::move(it->second);
        replies_.erase(it);
        return f;
      }
    }
    return Status::Unavailable("no answer from the broker within " + std::to_string(timeout_ms) +
                               " ms");
  }

  bool connected() const override { return welcomed_ && NowMs() - last_rx_ms_ <= o_.liveness_ms; }
  std::string connection_problem() const override { return connected() ? "" : problem_; }
  const v1::SignedTreeHead& last_tree_head() const override { return last_head_; }
  size_t outbox_size() const override { return o_.store->OutboxSize(); }
  Status RequeueFirst(const std::vector<OutboxEntry>& first) override {
    return o_.store->RequeueFirst(first);
  }

 private:
  Status Reconnect() {
    StopMonitor();
    if (sock_) {
      sock_.close();
    }
    sock_ = zmq::socket_t(ctx_, zmq::socket_type::dealer);
    StartMonitor();
    transport::SocketSecurity sec;
    if (!o_.insecure) {
      sec.own_public_z85 = o_.public_z85;
      sec.own_secret_z85 = o_.secret_z85;
      sec.server_public_z85 = o_.broker_public_z85;
    }
    sec.agency_id = o_.agency_id;
    transport::SocketTuning tuning;
    tuning.max_message_bytes = 64 << 20;  // a delivery carries an event plus its envelope
    RETURN_IF_ERROR(transport::ConfigureClient(sock_, sec, tuning));
    try {
      // ZMQ_IMMEDIATE stays off: with it, libzmq 4.3 terminates the pipe when the connection
      // drops, and a receive that is between the two frames of a message then aborts the process
      // (assertion !_more in fq.cpp) -- seen when the broker was SIGKILLed mid-burst. Messages
      // queued for a dead connection are harmless: everything unacknowledged is resent from the
      // outbox, and a liveness timeout replaces the socket.
      sock_.set(zmq::sockopt::reconnect_ivl, 100);
      sock_.set(zmq::sockopt::reconnect_ivl_max, 2000);
      sock_.connect(o_.endpoint);
    } catch (const zmq::error_t& e) {
      return Status::InvalidArgument("endpoint",
                                     "cannot connect to " + o_.endpoint + ": " + e.what());
    }
    welcomed_ = false;
    inflight_.clear();
    sent_after_ = 0;
    last_rx_ms_ = NowMs();
    SendHello();
    return Status::Ok();
  }

  void SendHello() {
    hello_sent_ms_ = NowMs();
    v1::ClientFrame hello;
    hello.mutable_hello()->set_client_version("passage-client/0.1");
    if (last_head_.tree_size() > 0) {
      *hello.mutable_hello()->mutable_last_seen() = last_head_;
    }
    Send(hello);
  }

  void Send(const v1::ClientFrame& f) {
    std::string body = transport::Serialize(f);
    try {
      auto ok = sock_.send(zmq::buffer(transport::kVersionFrame),
                           zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      if (!ok) {
        return;  // queue full: the resend timer retries
      }
      sock_.send(zmq::buffer(body), zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
      spdlog::warn("client {}: send failed: {}", o_.agency_id, e.what());
    }
  }

  // A broker restored from an older copy has a shorter log than this agency has read. Every event
  // up to its end was read already; what it appends next must not wait behind a position it will
  // take months to reach (and the broker refuses an after_seq beyond its log). Resume at its end,
  // loudly.
  void ClampToLog(v1::Selector sel, Stream& s) {
    if (!welcome_log_end_.has_value()) {
      return;
    }
    const uint64_t end = *welcome_log_end_;
    const uint64_t pos = s.after_seq.value_or(o_.store->Position(StreamName(sel)));
    if (pos <= end) {
      return;
    }
    spdlog::error(
        "client {}: this agency has read the {} stream up to seq {}, but the broker's log holds "
        "{} events: it was restored from an older copy or replaced. Resuming after seq {}; "
        "events the old log held beyond it are not in this one (passagectl audit consistency "
        "tells more)",
        o_.agency_id, StreamName(sel), pos, end, end);
    if (s.after_seq.has_value()) {
      s.after_seq = end;
    } else if (Status st = o_.store->Apply(StreamName(sel), end, StateWrite()); !st.ok()) {
      spdlog::error("client {}: {}", o_.agency_id, st.ToString());
    }
  }

  void SendSubscribe(v1::Selector sel, Stream& s) {
    ClampToLog(sel, s);
    v1::ClientFrame f;
    auto* sub = f.mutable_subscribe();
    sub->set_selector(sel);
    sub->set_credits(s.credits);
    sub->set_max_batch(kDeliverBatch);
    sub->set_after_seq(s.after_seq.value_or(o_.store->Position(StreamName(sel))));
    Send(f);
  }

  // Sends outbox entries not yet in flight, in batches.
  void SendOutbox() {
    if (!welcomed_) {
      return;
    }
    while (inflight_.size() < o_.max_unacked_events) {
      size_t room = std::min<size_t>(o_.max_batch, o_.max_unacked_events - inflight_.size());
      auto pending = o_.store->PendingOutbox(sent_after_, room);
      if (!pending.ok()) {
        spdlog::error("client {}: {}", o_.agency_id, pending.status().ToString());
        return;
      }
      if (pending->empty()) {
        return;
      }
      v1::ClientFrame f;
      f.set_request_id(++next_request_);
      std::vector<uint64_t> seqs;
      size_t bytes = 64;  // frame overhead
      for (auto& e : *pending) {
        const size_t size = e.event_bytes.size() + 16;
        if (size + 64 > max_message_bytes_) {
          // Can never be sent: answer it locally so the outbox does not stall behind it.
          RefuseLocally(e, "the event is " + std::to_string(e.event_bytes.size()) +
                               " bytes, more than the broker accepts (" +
                               std::to_string(max_message_bytes_) + ")");
          sent_after_ = e.local_seq;
          continue;
        }
        if (!seqs.empty() && bytes + size > max_message_bytes_) {
          break;  // the rest goes in the next frame
        }
        bytes += size;
        f.mutable_publish()->add_events(std::move(e.event_bytes));
        inflight_[e.local_seq] = Sent{e.event_id, NowMs()};
        seqs.push_back(e.local_seq);
        sent_after_ = e.local_seq;
      }
      if (seqs.empty()) {
        continue;
      }
      requests_[f.request_id()] = std::move(seqs);
      Send(f);
    }
  }

  void ResendExpired() {
    if (!welcomed_ || inflight_.empty()) {
      return;
    }
    int64_t now = NowMs();
    if (inflight_.begin()->second.sent_at_ms + o_.resend_after_ms > now) {
      return;
    }
    // The oldest unacknowledged event timed out: resend everything from it (same event ids).
    sent_after_ = inflight_.begin()->first - 1;
    inflight_.clear();
    requests_.clear();
    SendOutbox();
  }

  Status Drain() {
    std::vector<uint64_t> acks_inbox;
    std::vector<uint64_t> acks_all;
    for (;;) {
      std::vector<zmq::message_t> parts;
      zmq::recv_result_t got;
      try {
        got = zmq::recv_multipart(sock_, std::back_inserter(parts), zmq::recv_flags::dontwait);
      } catch (const zmq::error_t& e) {
        return Status::Internal(std::string("receive: ") + e.what());
      }
      if (!got) {
        break;
      }
      last_rx_ms_ = NowMs();
      std::vector<std::string_view> frames;
      for (auto& p : parts) {
        frames.push_back(p.to_string_view());
      }
      auto f = transport::ParseServerFrame(frames);
      if (!f.ok()) {
        spdlog::warn("client {}: malformed frame from the broker: {}", o_.agency_id,
                     f.status().ToString());
        continue;
      }
      switch (f->body_case()) {
        case v1::ServerFrame::kWelcome:
          OnWelcome(f->welcome());
          break;
        case v1::ServerFrame::kPublishAck:
          RETURN_IF_ERROR(OnPublishAck(f->request_id(), f->publish_ack()));
          break;
        case v1::ServerFrame::kDeliver: {
          const auto& d = f->deliver();
          RETURN_IF_ERROR(OnDeliver(d, d.selector() == v1::SELECTOR_INBOX ? acks_inbox : acks_all));
          break;
        }
        case v1::ServerFrame::kDeliverBatch: {
          // Every element is looked at even after one fails to apply: the ones after it are then
          // NACKed as waiting for it (see OnDeliver), each answered like its own Deliver.
          Status first_error;
          for (const auto& d : f->deliver_batch().deliveries()) {
            Status s = OnDeliver(d, d.selector() == v1::SELECTOR_INBOX ? acks_inbox : acks_all);
            if (!s.ok() && first_error.ok()) {
              first_error = s;
            }
          }
          RETURN_IF_ERROR(first_error);
          break;
        }
        case v1::ServerFrame::kPong:
          if (welcomed_ && broker_run_id_ != 0 && f->pong().broker_run_id() != 0 &&
              f->pong().broker_run_id() != broker_run_id_) {
            // The broker restarted and ZeroMQ reconnected underneath: the session (subscriptions,
            // credits) is gone. HELLO again on this working connection; its WELCOME resubscribes.
            // Until then every PONG of the new run says the same, so a lost HELLO is sent again.
            spdlog::warn("client {}: the broker restarted; starting a new session", o_.agency_id);
            SendHello();
          }
          break;
        case v1::ServerFrame::kError:
          if (f->request_id() == 0 || replies_.size() > 1000) {
            spdlog::warn("client {}: broker error: {} {}", o_.agency_id, f->error().field(),
                         f->error().reason());
          }
          if (f->request_id() == 0 && f->error().code() == v1::ERROR_CODE_UNAUTHORIZED) {
            // The broker no longer serves this connection (the agency was revoked, or its key
            // replaced): say so, and connect again, which the broker then answers at the handshake.
            problem_ = "the broker closed this connection: " + f->error().reason();
            welcomed_ = false;
            return Reconnect();
          }
          if (f->request_id() != 0) {
            replies_[f->request_id()] = std::move(*f);
          }
          break;
        default:
          if (f->request_id() != 0) {
            replies_[f->request_id()] = std::move(*f);
          }
          break;
      }
    }
    SendAcks(v1::SELECTOR_INBOX, acks_inbox);
    SendAcks(v1::SELECTOR_ALL_READABLE, acks_all);
    return Status::Ok();
  }

  void RefuseLocally(const OutboxEntry& e, const std::string& reason) {
    v1::PublishResult r;
    r.set_event_id(e.event_id);
    r.mutable_error()->set_code(v1::ERROR_CODE_INVALID);
    r.mutable_error()->set_field("event");
    r.mutable_error()->set_reason(reason);
    Status s = o_.store->MarkSent(e.local_seq, e.event_id, transport::Serialize(r));
    spdlog::error("client {}: event {} refused: {}{}", o_.agency_id, e.event_id, reason,
                  s.ok() ? "" : " (" + s.ToString() + ")");
    if (publish_cb_) {
      publish_cb_(r);
    }
  }

  void OnWelcome(const v1::Welcome& w) {
    welcomed_ = true;
    broker_run_id_ = w.broker_run_id();
    blocked_.clear();  // the streams resume from the stored positions
    if (w.max_message_bytes() > 0) {
      max_message_bytes_ = w.max_message_bytes();
    }
    max_delivery_attempts_ = w.max_delivery_attempts();
    if (w.agency_id() != o_.agency_id && !o_.agency_id.empty()) {
      spdlog::warn("client: broker says this key is agency '{}', configured as '{}'", w.agency_id(),
                   o_.agency_id);
    }
    welcome_log_end_.reset();
    if (w.has_tree_head() && !w.tree_head().signature().empty()) {
      welcome_log_end_ = w.tree_head().tree_size();
      // What this agency saw of the log: the largest signed head, or further when its streams
      // read past it.
      uint64_t seen = last_head_.tree_size();
      for (const auto& [sel, s] : streams_) {
        seen = std::max(seen, o_.store->Position(StreamName(sel)));
      }
      if (w.tree_head().tree_size() < seen && o_.on_log_restored) {
        // Restored from an older copy: what this agency sent beyond it is sent again (the
        // callee queues it first), and the broker's head is the one to follow from now on.
        o_.on_log_restored(w.tree_head().tree_size(), seen);
        last_head_ = w.tree_head();
      }
    }
    KeepHead(w.tree_head());
    for (auto& [sel, s] : streams_) {
      SendSubscribe(sel, s);
      s.after_seq.reset();  // later reconnects resume from the stored position
    }
    sent_after_ = 0;
    inflight_.clear();
    requests_.clear();
    SendOutbox();
  }

  void KeepHead(const v1::SignedTreeHead& h) {
    if (h.tree_size() < last_head_.tree_size() && h.tree_size() > 0) {
      spdlog::error(
          "client {}: the broker's log shrank from {} to {} events: it was truncated or "
          "replaced; run passagectl audit consistency",
          o_.agency_id, last_head_.tree_size(), h.tree_size());
      return;
    }
    if (h.tree_size() > last_head_.tree_size()) {
      last_head_ = h;
      Status s = o_.store->SaveTreeHead(h.tree_size(), transport::Serialize(h));
      if (!s.ok()) {
        spdlog::warn("client {}: {}", o_.agency_id, s.ToString());
      }
    }
  }

  Status OnPublishAck(uint64_t request_id, const v1::PublishAck& ack) {
    KeepHead(ack.tree_head());
    auto it = requests_.find(request_id);
    if (it == requests_.end()) {
      return Status::Ok();  // an answer to a batch we already resent
    }
    const auto& seqs = it->second;
    for (int i = 0; i < ack.results_size() && i < static_cast<int>(seqs.size()); ++i) {
      const auto& r = ack.results(i);
      uint64_t local = seqs[static_cast<size_t>(i)];
      bool final_answer = r.ok() || r.error().code() != v1::ERROR_CODE_RETRY_LATER;
      // A refusal that depends on the case's state (conflict, not found) is not final while an
      // earlier event of ours is unanswered: it may have been lost with a dead connection and
      // overtaken; the resend timer sends both again, in order.
      const bool state_dependent = !r.ok() && (r.error().code() == v1::ERROR_CODE_CONFLICT ||
                                               r.error().code() == v1::ERROR_CODE_NOT_FOUND);
      if (state_dependent && !inflight_.empty() && inflight_.begin()->first < local) {
        final_answer = false;
      }
      if (!final_answer) {
        continue;  // stays in flight; the resend timer sends it again
      }
      RETURN_IF_ERROR(o_.store->MarkSent(local, r.event_id(), transport::Serialize(r)));
      inflight_.erase(local);
      if (!r.ok()) {
        spdlog::warn("client {}: event {} refused: {} {}", o_.agency_id, r.event_id(),
                     r.error().field(), r.error().reason());
      }
      if (publish_cb_) {
        publish_cb_(r);
      }
    }
    requests_.erase(it);
    return Status::Ok();
  }

  // Asks the broker to deliver `d` again later (park false) or to stop delivering it (park true).
  void SendNack(const v1::Deliver& d, bool park, std::string reason) {
    v1::ClientFrame f;
    auto* n = f.mutable_nack();
    n->set_selector(d.selector());
    n->set_global_seq(d.global_seq());
    n->set_park(park);
    n->set_reason(std::move(reason));
    Send(f);
  }

  // `d` no longer holds later deliveries of its stream back (applied or parked).
  void Unblock(const v1::Deliver& d) {
    if (auto b = blocked_.find(d.selector()); b != blocked_.end() && b->second == d.global_seq()) {
      blocked_.erase(b);
    }
  }

  Status OnDeliver(const v1::Deliver& d, std::vector<uint64_t>& acks) {
    auto sit = streams_.find(d.selector());
    if (sit == streams_.end()) {
      return Status::Ok();
    }
    const std::string stream = StreamName(d.selector());
    if (d.global_seq() <= o_.store->Position(stream)) {
      acks.push_back(d.global_seq());  // already applied: exactly once in effect
      return Status::Ok();
    }
    if (auto b = blocked_.find(d.selector()); b != blocked_.end() && d.global_seq() > b->second) {
      // An earlier delivery asked to be retried: applying this one would move the position past
      // it. Ask for this one again too.
      SendNack(d, false, "waiting for an earlier delivery to be retried");
      return Status::Ok();
    }
    v1::Envelope env;
    StateWrite w;
    Status h;
    if (!env.ParseFromString(d.envelope())) {
      h = Status::InvalidArgument("envelope", "does not parse");
    } else {
      h = sit->second.handler(d.global_seq(), env, &w);
    }
    if (!h.ok()) {
      // Unavailable asks for the event again later, unless this is the broker's last attempt:
      // then the client parks it itself, as the broker would, and the stream moves on instead of
      // holding every later event back until they are parked too.
      const bool last_attempt = max_delivery_attempts_ > 0 && d.attempt() >= max_delivery_attempts_;
      const bool park = h.code() != StatusCode::kUnavailable || last_attempt;
      const std::string reason =
          park && h.code() == StatusCode::kUnavailable
              ? "still unavailable at attempt " + std::to_string(d.attempt()) + " of " +
                    std::to_string(max_delivery_attempts_) + ": " + h.ToString()
              : h.ToString();
      SendNack(d, park, reason);
      if (!park) {
        blocked_[d.selector()] = d.global_seq();
        return Status::Ok();
      }
      spdlog::error("client {}: could not apply seq {}: {} (parked)", o_.agency_id, d.global_seq(),
                    reason);
      RETURN_IF_ERROR(o_.store->Apply(stream, d.global_seq(), StateWrite()));
      Unblock(d);
      return Status::Ok();
    }
    if (Status applied = o_.store->Apply(stream, d.global_seq(), w); !applied.ok()) {
      // Not applied: asked for again (after the broker's redelivery wait), like a handler's
      // Unavailable, and nothing after it may be applied first (the position would pass it), so
      // later deliveries are asked again too.
      SendNack(d, false, "the local store could not apply it: " + applied.ToString());
      blocked_[d.selector()] = d.global_seq();
      return applied;
    }
    acks.push_back(d.global_seq());
    Unblock(d);
    return Status::Ok();
  }

  void SendAcks(v1::Selector sel, const std::vector<uint64_t>& seqs) {
    if (seqs.empty()) {
      return;
    }
    v1::ClientFrame f;
    f.mutable_ack()->set_selector(sel);
    for (uint64_t s : seqs) {
      f.mutable_ack()->add_global_seqs(s);
    }
    Send(f);
  }

  // ZeroMQ's socket monitor: connection and handshake events of sock_, read after each poll, so
  // that a node can say why it is not connected instead of only that it is not.
  void StartMonitor() {
    const std::string addr = "inproc://passage-client-monitor-" + std::to_string(++monitors_);
    if (zmq_socket_monitor(sock_.handle(), addr.c_str(),
                           ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0) {
      return;  // no monitor: the problem stays unexplained, nothing else changes
    }
    monitor_ = zmq::socket_t(ctx_, zmq::socket_type::pair);
    monitor_.set(zmq::sockopt::linger, 0);
    monitor_.connect(addr);
  }

  void StopMonitor() {
    if (!monitor_) {
      return;
    }
    if (sock_) {
      zmq_socket_monitor(sock_.handle(), nullptr, 0);
    }
    monitor_.close();
  }

  void ReadMonitor() {
    while (monitor_) {
      zmq::message_t head;
      zmq::message_t address;
      try {
        if (!monitor_.recv(head, zmq::recv_flags::dontwait)) {
          return;
        }
        if (!monitor_.recv(address, zmq::recv_flags::dontwait)) {
          return;
        }
      } catch (const zmq::error_t&) {
        return;
      }
      if (head.size() < 6) {
        continue;
      }
      uint16_t event = 0;
      uint32_t value = 0;
      std::memcpy(&event, head.data(), sizeof(event));
      std::memcpy(&value, static_cast<const char*>(head.data()) + 2, sizeof(value));
      const std::string at = o_.endpoint;
      switch (event) {
        case ZMQ_EVENT_CONNECT_RETRIED:
          if (problem_.empty() || problem_.rfind("nothing answers", 0) == 0) {
            problem_ = "nothing answers at " + at +
                       " (is the broker running, and is broker_endpoint its address?)";
          }
          break;
        case ZMQ_EVENT_CONNECTED:
          if (problem_.rfind("nothing answers", 0) == 0) {
            problem_ = "reached " + at + ", waiting for the broker's handshake";
          }
          break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
          problem_ = "the broker refused this agency's key (CURVE authentication failed, status " +
                     std::to_string(value) +
                     "): the registry's transport_public_key for " + o_.agency_id +
                     " must be the public half of secret_key_file (passagectl keys show)";
          break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
          problem_ = "the handshake with " + at +
                     " failed: is broker_public_key the broker's key, and is it a Passage broker?";
          break;
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
          problem_.clear();
          break;
        case ZMQ_EVENT_DISCONNECTED:
          if (problem_.empty()) {
            problem_ = "the connection to " + at + " was closed";
          }
          break;
        default:
          break;
      }
    }
  }

  ClientOptions o_;
  zmq::context_t ctx_;
  zmq::socket_t sock_;
  zmq::socket_t monitor_;  // PAIR end of sock_'s monitor
  int monitors_ = 0;
  std::string problem_;    // the last thing the monitor said went wrong
  uint64_t broker_run_id_ = 0;  // from the last WELCOME
  bool welcomed_ = false;
  int64_t hello_sent_ms_ = 0;
  size_t max_message_bytes_ = 16 << 20;
  uint32_t max_delivery_attempts_ = 0;        // from WELCOME; 0: not told (an older broker)
  std::map<v1::Selector, uint64_t> blocked_;  // stream -> seq waiting for its retry
  int64_t last_rx_ms_ = 0;
  int64_t last_ping_ms_ = 0;
  uint64_t next_request_ = 0;
  uint64_t sent_after_ = 0;
  std::map<uint64_t, Sent> inflight_;                   // local seq -> sent
  std::map<uint64_t, std::vector<uint64_t>> requests_;  // request id -> local seqs
  std::map<uint64_t, v1::ServerFrame> replies_;
  std::map<v1::Selector, Stream> streams_;
  v1::SignedTreeHead last_head_;
  std::optional<uint64_t> welcome_log_end_;  // the log size in the last WELCOME (signed)
  PublishCallback publish_cb_;
};

}  // namespace

Result<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  auto c = std::make_unique<ClientImpl>(options);
  RETURN_IF_ERROR(c->Init());
  return std::unique_ptr<Client>(std::move(c));
}

}  // namespace passage::runtime
