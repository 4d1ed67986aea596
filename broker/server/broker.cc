#include "broker/server/broker.h"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <list>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <span>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "broker/log/event_log.h"
#include "core/agency_directory.h"
#include "core/case_projection.h"
#include "core/notes.h"
#include "core/codes.h"
#include "core/ids.h"
#include "core/validate.h"
#include "passage/v1/control.pb.h"
#include "passage/v1/events.pb.h"
#include "passage/v1/wire.pb.h"
#include "transport/frames.h"
#include "transport/keys.h"
#include "transport/socket_options.h"
#include "transport/zap.h"

namespace passage::broker {
namespace {

namespace v1 = passage::v1;

constexpr char kBrokerVersion[] = "passage-broker/0.1";
constexpr size_t kMaxCachedCases = 50000;
constexpr int64_t kCursorSaveEveryMs = 100;
constexpr uint32_t kMaxDeliverBatch = 1024;         // cap on Subscribe.max_batch
constexpr size_t kMaxDeliverBatchBytes = 16 << 20;  // cap on a DeliverBatch frame
// Producer name of the events the broker writes itself (access records).
constexpr char kBrokerProducer[] = "passage-broker";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MonoUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

v1::ErrorCode CodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return v1::ERROR_CODE_INVALID;
    case StatusCode::kPermissionDenied:
      return v1::ERROR_CODE_UNAUTHORIZED;
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists:
      return v1::ERROR_CODE_CONFLICT;
    case StatusCode::kNotFound:
      return v1::ERROR_CODE_NOT_FOUND;
    default:
      // Unavailable, I/O, corruption, internal: the broker's trouble, not the event's. Resend
      // later.
      return v1::ERROR_CODE_RETRY_LATER;
  }
}

void FillError(v1::Error* e, const Status& s, const std::string& field_prefix = {}) {
  e->set_code(CodeFor(s));
  std::string field = s.field();
  if (!field_prefix.empty()) {
    field = field.empty() ? field_prefix : field_prefix + "." + field;
  }
  e->set_field(field);
  e->set_reason(s.message());
}

void FillHead(v1::SignedTreeHead* out, const log::SignedHead& h) {
  out->set_tree_size(h.head.tree_size);
  out->set_root_hash(std::string(merkle::AsBytes(h.head.root)));
  out->set_timestamp_ms(h.head.timestamp_ms);
  out->set_signature(h.signature);
  out->set_log_public_key(h.public_key);
}

std::string CursorKey(const std::string& agency, v1::Selector sel) {
  return "c/" + agency + "/" + std::to_string(static_cast<int>(sel));
}

std::string ParkKey(const std::string& agency, uint64_t seq) {
  std::string k = "p/" + agency;
  k.push_back('\0');
  k += log::EncodeBe64(seq);
  return k;
}

struct InFlight {
  uint32_t attempt = 1;
  int64_t deadline_ms = 0;
};

struct Subscription {
  std::string routing_id;
  std::string agency;
  v1::Selector selector = v1::SELECTOR_INBOX;
  bool whole_log = false;  // system principal reading everything
  uint64_t scan_pos = 0;   // every seq <= scan_pos was handed to delivery
  uint32_t window = 0;
  uint32_t max_batch = 1;  // deliveries per frame (Subscribe.max_batch)
  std::map<uint64_t, InFlight> inflight;
  // No deadline in `inflight` is earlier than this (it may be earlier than the true minimum after
  // acks); the timers look at this subscription's deliveries only once it has passed.
  int64_t next_deadline_ms = INT64_MAX;
  bool cursor_dirty = false;  // acks moved the cursor; stored at the end of the loop turn
};

// The position a subscription resumes after: every seq up to it was acknowledged or parked.
uint64_t CursorOf(const Subscription& sub) {
  return sub.inflight.empty() ? sub.scan_pos : sub.inflight.begin()->first - 1;
}

// Time from a PUBLISH being read off the socket to its ACK being handed to the socket, over one
// status period: what the broker itself adds, queueing and the synced write included.
class LatencyHistogram {
 public:
  void Add(int64_t us) {
    size_t b = 0;
    // Bucket b holds [10 us x 1.19^(b-1), 10 us x 1.19^b); bucket 0 everything under 10 us and the
    // last one everything above its lower edge.
    for (double edge = 10; b + 1 < kBuckets && static_cast<double>(us) >= edge; edge *= 1.19) {
      ++b;
    }
    ++counts_[b];
    ++n_;
    max_us_ = std::max(max_us_, us);
  }
  // Upper edge of the bucket holding the q-quantile, in ms (0 when empty).
  double QuantileMs(double q) const {
    if (n_ == 0) {
      return 0;
    }
    const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(n_ - 1)) + 1;
    uint64_t seen = 0;
    double edge = 10;  // upper edge of bucket b: 10 us x 1.19^b
    for (size_t b = 0; b < kBuckets; ++b, edge *= 1.19) {
      seen += counts_[b];
      if (seen >= rank) {
        // The last bucket has no upper edge: the largest value seen is the honest bound.
        return (b + 1 == kBuckets ? static_cast<double>(max_us_)
                                  : std::min(edge, static_cast<double>(max_us_))) /
               1000.0;
      }
    }
    return static_cast<double>(max_us_) / 1000.0;
  }
  double MaxMs() const { return static_cast<double>(max_us_) / 1000.0; }
  void Reset() { *this = LatencyHistogram(); }

 private:
  static constexpr size_t kBuckets = 80;  // the last one starts at 10 us x 1.19^78, about 7.8 s
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t n_ = 0;
  int64_t max_us_ = 0;
};

// A published event waiting for the batch's synced write.
struct Staged {
  uint64_t expected_seq = 0;
};

struct PendingAck {
  std::string routing_id;
  std::string agency;
  uint64_t request_id = 0;
  int64_t received_us = 0;  // MonoUs() when the PUBLISH was read
  v1::PublishAck ack;
  // result index -> entry index in its batch (fresh or in-batch duplicate)
  std::vector<std::pair<int, size_t>> fills;
  // result index -> event id of a repeat of an event that was in the batch being written when
  // this one came in; its original outcome is read from the log once that batch is durable.
  std::vector<std::pair<int, std::string>> late;
};

// A reply sent only once the batch holding its access record is durable. A case read lists the
// case's envelopes then, up to the record, so that it holds everything acknowledged before it.
struct GatedReply {
  std::string routing_id;
  v1::ServerFrame frame;
  std::set<v1::DataSection> sections;  // a case read: the sections it may list
  uint64_t access_seq = 0;             // a case read: the global seq of its RecordAccessed
};

// One group commit: the events staged in one turn of the loop and everything that waits for them
// to be durable. While one batch is written (synced) by the writer thread the loop stages the next.
struct Batch {
  std::vector<log::AppendEntry> entries;
  std::vector<Staged> staged;  // parallel to entries
  std::vector<PendingAck> acks;
  std::vector<GatedReply> gated;                  // replies sent once durable
  std::set<std::string> dirty;                    // agencies with new deliveries
  std::vector<std::string> cases;                 // cases whose working projection this batch holds
  std::unordered_map<std::string, size_t> dedup;  // agency \0 event id -> entry index
  Result<std::vector<log::AppendOutcome>> out = std::vector<log::AppendOutcome>{};
};

// Projections of recently used cases, least recently used evicted one at a time (no pauses to
// free a whole cache at once).
class CaseCache {
 public:
  explicit CaseCache(size_t capacity) : capacity_(capacity) {}

  const core::CaseProjection* Find(const std::string& case_id) {
    auto it = index_.find(case_id);
    if (it == index_.end()) {
      return nullptr;
    }
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  void Put(const std::string& case_id, core::CaseProjection proj) {
    if (auto it = index_.find(case_id); it != index_.end()) {
      it->second->second = std::move(proj);
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    order_.emplace_front(case_id, std::move(proj));
    index_.emplace(case_id, order_.begin());
    if (index_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

 private:
  using Entry = std::pair<std::string, core::CaseProjection>;
  size_t capacity_;
  std::list<Entry> order_;
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

struct Counters {
  uint64_t published = 0;
  uint64_t duplicates = 0;
  uint64_t refused = 0;
  uint64_t malformed = 0;
  uint64_t delivered = 0;
  uint64_t redelivered = 0;
  uint64_t parked = 0;
  uint64_t batches = 0;
};

// The broker's metrics (docs/operations.md). Counters are bumped where the Counters above are;
// the per-agency gauges are set by the loop once a second.
struct BrokerMetrics {
  explicit BrokerMetrics(ops::MetricsRegistry& r)
      : appended(r.AddCounter("passage_broker_events_appended_total",
                              "Events written to the log (acknowledged as new).")),
        acks(r.AddCounter("passage_broker_publish_acks_total",
                          "PUBLISH requests answered with an ACK (after the synced write).")),
        duplicates(r.AddCounter("passage_broker_duplicates_total",
                                "Events published again and answered with their first outcome.")),
        refused(r.AddCounter("passage_broker_events_refused_total",
                             "Events refused by validation, the state machine or consent.")),
        malformed(r.AddCounter("passage_broker_frames_malformed_total",
                               "Frames that could not be read as the protocol's messages.")),
        delivered(r.AddCounter("passage_broker_deliveries_total", "Events delivered.")),
        redelivered(r.AddCounter("passage_broker_redeliveries_total",
                                 "Deliveries repeated after no ACK within the timeout.")),
        publish_to_ack(r.AddHistogram(
            "passage_broker_publish_to_ack_seconds",
            "Time from a PUBLISH read off the socket to its ACK, the synced write included.",
            ops::LatencyBuckets())),
        write(r.AddHistogram("passage_broker_log_write_seconds",
                             "Time of one group commit: the batch's synced RocksDB write.",
                             ops::LatencyBuckets())),
        last_seq(r.AddGauge("passage_broker_log_last_seq", "The log's last global seq.")),
        connected(r.AddGauge("passage_broker_connected_agencies",
                             "Agencies with at least one open stream.")),
        parked(r.AddCounterFamily("passage_broker_deliveries_parked_total",
                                  "Deliveries parked after the last attempt, or by the consumer.",
                                  {"agency"})),
        lag(r.AddGaugeFamily("passage_broker_delivery_lag_events",
                             "Log entries after the agency's stream position (its cursor) while "
                             "it is connected.",
                             {"agency"})),
        agency_up(r.AddGaugeFamily("passage_broker_agency_connected",
                                   "1 while a registered agency has an open stream, else 0.",
                                   {"agency"})) {}
  ops::Counter& appended;
  ops::Counter& acks;
  ops::Counter& duplicates;
  ops::Counter& refused;
  ops::Counter& malformed;
  ops::Counter& delivered;
  ops::Counter& redelivered;
  ops::Histogram& publish_to_ack;
  ops::Histogram& write;
  ops::Gauge& last_seq;
  ops::Gauge& connected;
  ops::MetricsRegistry::CounterFamily& parked;
  ops::MetricsRegistry::GaugeFamily& lag;
  ops::MetricsRegistry::GaugeFamily& agency_up;
};

class BrokerImpl final : public Broker {
 public:
  explicit BrokerImpl(const BrokerOptions& o)
      : options_(o),
        ctx_(1),
        own_metrics_(o.metrics == nullptr ? std::make_unique<ops::MetricsRegistry>() : nullptr),
        metrics_(o.metrics != nullptr ? *o.metrics : *own_metrics_) {}

  ~BrokerImpl() override {
    StopWriter();
    if (wake_fd_ >= 0) {
      ::close(wake_fd_);
    }
    router_.close();
    admin_.close();  // every socket of ctx_ closes before ctx_.close(), which waits for them
    if (zap_) {
      zap_->Stop();
    }
    ctx_.shutdown();
    ctx_.close();
  }

  Status Init() {
    logger_ = spdlog::get("broker");
    if (!logger_) {
      logger_ = spdlog::default_logger()->clone("broker");
    }
    if (options_.insecure) {
      logger_->warn(
          "INSECURE MODE: no CURVE encryption or authentication; any client may claim any agency. "
          "For local development only, never with real case data.");
    } else if (options_.curve_secret_z85.empty()) {
      return Status::InvalidArgument("curve_secret_key",
                                     "a CURVE key pair is required unless --insecure");
    }
    ASSIGN_OR_RETURN(directory_, core::InMemoryAgencyDirectory::FromRegistry(options_.registry));
    registry_ = options_.registry;

    log::EventLogOptions lo;
    lo.path = options_.data_dir + "/log";
    lo.signing_seed = options_.signing_seed;
    lo.file_system = options_.log_file_system;
    ASSIGN_OR_RETURN(log_, log::EventLog::Open(lo));
    next_seq_ = log_->LastSeq() + 1;
    // The registry file, then every change the NRM's admin made since (configuration events).
    RETURN_IF_ERROR(ApplyStoredConfiguration());
    std::map<std::string, std::string> keys = ZapKeys();
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
      return Status::Internal(std::string("eventfd: ") + std::strerror(errno));
    }

    zap_ = std::make_unique<transport::ZapHandler>(ctx_, options_.insecure);
    zap_->SetKeys(std::move(keys));
    RETURN_IF_ERROR(zap_->Start());  // before the ROUTER binds

    router_ = zmq::socket_t(ctx_, zmq::socket_type::router);
    transport::SocketSecurity sec;
    sec.own_public_z85 = options_.curve_public_z85;
    sec.own_secret_z85 = options_.insecure ? "" : options_.curve_secret_z85;
    transport::SocketTuning tuning;
    tuning.max_message_bytes = options_.max_message_bytes * 4;  // oversize below this gets a reply
    RETURN_IF_ERROR(transport::ConfigureServer(router_, sec, tuning));
    std::string listen = options_.listen;
    if (listen.size() > 2 && listen.substr(listen.size() - 2) == ":0") {
      listen = listen.substr(0, listen.size() - 1) + "*";
    }
    try {
      router_.bind(listen);
      endpoint_ = router_.get(zmq::sockopt::last_endpoint);
    } catch (const zmq::error_t& e) {
      return Status::Unavailable("cannot listen on " + options_.listen + ": " + e.what());
    }
    if (!options_.insecure) {
      RETURN_IF_ERROR(ProveUnknownKeysAreRefused());
    }
    admin_ = zmq::socket_t(ctx_, zmq::socket_type::rep);
    admin_.set(zmq::sockopt::linger, 0);
    admin_.set(zmq::sockopt::maxmsgsize, int64_t{1} << 20);
    const std::string admin_ep = options_.admin_endpoint.empty()
                                     ? "ipc://" + options_.data_dir + "/admin.sock"
                                     : options_.admin_endpoint;
    try {
      admin_.bind(admin_ep);
    } catch (const zmq::error_t& e) {
      return Status::Unavailable("cannot open the admin socket " + admin_ep + ": " + e.what());
    }
    logger_->info("listening on {} with {} agencies ({} revoked), log at seq {}; admin socket {}",
                  endpoint_, registry_.agencies_size(), revoked_.size(), log_->LastSeq(),
                  admin_ep);
    return Status::Ok();
  }

  std::string endpoint() const override { return endpoint_; }
  void RequestStop() override { stop_ = true; }
  void RequestCheckpoint() override { checkpoint_ = true; }

  Status Run() override {
    int64_t last_report = NowMs();
    writer_ = std::thread([this] { WriterLoop(); });
    if (!early_.empty()) {
      // Messages that arrived during the start-up check, in arrival order.
      for (auto& parts : early_) {
        HandleMessage(parts);
      }
      early_.clear();
      SendReplies();
    }
    Status failed;
    while (!stop_ && failed.ok()) {
      // While a batch is written the loop keeps staging the next one, up to the batch limit;
      // then it only waits for the writer.
      const bool room = entries_.size() < static_cast<size_t>(options_.group_commit_max_events);
      zmq::pollitem_t items[3] = {
          {router_.handle(), 0, static_cast<short>(room ? ZMQ_POLLIN : 0), 0},
          {nullptr, wake_fd_, ZMQ_POLLIN, 0},
          {admin_.handle(), 0, static_cast<short>(admin_pending_ ? 0 : ZMQ_POLLIN), 0}};
      const bool ready_to_submit = writing_ == nullptr && HasStaged();
      try {
        zmq::poll(items, 3, std::chrono::milliseconds(ready_to_submit ? 0 : NextTimerMs()));
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) {
          failed = Status::Internal(std::string("poll: ") + e.what());
          break;
        }
      }
      if ((items[1].revents & ZMQ_POLLIN) != 0) {
        DrainWake();  // also a token left by a batch completed before its eventfd write
      }
      if (written_.load(std::memory_order_acquire)) {
        failed = CompleteWritten();
        if (!failed.ok()) {
          break;
        }
      }
      if ((items[2].revents & ZMQ_POLLIN) != 0 && !admin_pending_) {
        OnAdminRequest();
      }
      int64_t start = MonoUs();
      while (entries_.size() < static_cast<size_t>(options_.group_commit_max_events)) {
        std::vector<zmq::message_t> parts;
        zmq::recv_result_t got;
        try {
          got = zmq::recv_multipart(router_, std::back_inserter(parts), zmq::recv_flags::dontwait);
        } catch (const zmq::error_t& e) {
          logger_->warn("receive failed: {}", e.what());
          break;
        }
        if (!got) {
          break;
        }
        HandleMessage(parts);
        // Stop draining when the writer is free again: its acks go out and what is staged is
        // handed over at once, so one batch never waits for the next to fill.
        if (MonoUs() - start > options_.group_commit_max_micros ||
            written_.load(std::memory_order_acquire)) {
          break;
        }
      }
      SendReplies();  // what does not wait for a durable write
      if (NowMs() - last_cursor_save_ms_ >= kCursorSaveEveryMs) {
        SaveDirtyCursors();
      }
      if (writing_ == nullptr && HasStaged()) {
        failed = Submit();
        if (!failed.ok()) {
          break;
        }
      }
      RunTimers();
      if (checkpoint_.exchange(false)) {
        WriteCheckpoint();
      }
      if (NowMs() - last_gauges_ms_ >= 1000) {
        last_gauges_ms_ = NowMs();
        UpdateGauges();
      }
      // The status line every 10 s, and only when something happened since the last one.
      if (NowMs() - last_report > 10000 &&
          (log_->LastSeq() != reported_seq_ || counters_.delivered != reported_delivered_ ||
           counters_.refused + counters_.malformed + counters_.parked != reported_problems_)) {
        last_report = NowMs();
        reported_seq_ = log_->LastSeq();
        reported_delivered_ = counters_.delivered;
        reported_problems_ = counters_.refused + counters_.malformed + counters_.parked;
        logger_->info(
            "seq {} published {} duplicates {} refused {} malformed {} delivered {} redelivered {} "
            "parked {} batches {} slowest_write_ms {:.1f} publish_to_ack_ms p50 {:.2f} p99 {:.2f} "
            "max {:.1f}",
            log_->LastSeq(), counters_.published, counters_.duplicates, counters_.refused,
            counters_.malformed, counters_.delivered, counters_.redelivered, counters_.parked,
            counters_.batches, slowest_write_us_.exchange(0) / 1000.0, ack_latency_.QuantileMs(0.5),
            ack_latency_.QuantileMs(0.99), ack_latency_.MaxMs());
        ack_latency_.Reset();
      }
    }
    if (failed.ok()) {
      failed = Flush();  // everything staged is written and answered before stopping
    } else {
      FailStaged();
    }
    StopWriter();
    SendReplies();
    SaveDirtyCursors();
    logger_->info("stopping at seq {}", log_->LastSeq());
    return failed;
  }

 private:
  // ---- online backup ---------------------------------------------------------------------------
  void WriteCheckpoint() {
    std::string when = core::FormatUtcMs(NowMs());
    for (char& c : when) {
      if (c == ':') {
        c = '-';
      }
    }
    const std::string root = options_.data_dir + "/checkpoints";
    std::error_code ec;
    std::filesystem::create_directories(root, ec);
    const std::string dir = root + "/" + when;
    const uint64_t size = log_->LastSeq();
    Status s = log_->Checkpoint(dir);
    if (!s.ok()) {
      logger_->error("checkpoint to {} failed: {}", dir, s.ToString());
      return;
    }
    // A quick check that the copy opens and holds what the log held; `passagectl audit verify`
    // does the full verification.
    log::EventLogOptions ro;
    ro.path = dir;
    ro.read_only = true;
    auto copy = log::EventLog::Open(ro);
    if (!copy.ok() || (*copy)->LastSeq() < size) {
      logger_->error("checkpoint {} does not open as a log of {} events: {}", dir, size,
                     copy.ok() ? "too short" : copy.status().ToString());
      return;
    }
    logger_->info(
        "checkpoint of {} events written to {}; verify it with passagectl audit verify "
        "--log {}",
        (*copy)->LastSeq(), dir, dir);
  }

  // ---- start-up self check ----------------------------------------------------------------
  Status ProveUnknownKeysAreRefused() {
    uint64_t denied_before = zap_->denied();
    auto stranger = transport::GenerateCurveKeyPair();
    zmq::socket_t probe(ctx_, zmq::socket_type::dealer);
    transport::SocketSecurity sec{stranger.public_z85, stranger.secret_z85,
                                  options_.curve_public_z85, ""};
    RETURN_IF_ERROR(transport::ConfigureClient(probe, sec, transport::SocketTuning{}));
    probe.set(zmq::sockopt::linger, 0);
    const std::string probe_id = "passage-startup-probe-" + core::NewUuidV7();
    probe.set(zmq::sockopt::routing_id, probe_id);
    probe.connect(endpoint_);
    v1::ClientFrame ping;
    ping.mutable_ping()->set_sent_at_ms(NowMs());
    std::string body = transport::Serialize(ping);
    probe.send(zmq::buffer(transport::kVersionFrame),
               zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    probe.send(zmq::buffer(body), zmq::send_flags::dontwait);
    // Registered agencies may already be reconnecting: their messages are kept for Run(); only a
    // message from the probe proves that an unknown key got in.
    auto probe_got_in = [&](int wait_ms) {
      zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(wait_ms));
      bool seen = false;
      for (;;) {
        std::vector<zmq::message_t> parts;
        auto got =
            zmq::recv_multipart(router_, std::back_inserter(parts), zmq::recv_flags::dontwait);
        if (!got) {
          break;
        }
        if (!parts.empty() && parts[0].to_string_view() == probe_id) {
          seen = true;
        } else {
          early_.push_back(std::move(parts));
        }
      }
      return seen;
    };
    int64_t until = NowMs() + 3000;
    while (NowMs() < until && zap_->denied() == denied_before) {
      if (probe_got_in(20)) {
        return Status::PermissionDenied(
            "start-up check failed: a client with an unknown CURVE key got through; refusing to "
            "start");
      }
    }
    if (zap_->denied() == denied_before) {
      return Status::Internal(
          "start-up check failed: the ZAP handler was not consulted for an unknown key; refusing "
          "to "
          "start");
    }
    // Give libzmq a moment to drop the refused connection before serving.
    if (probe_got_in(50)) {
      return Status::PermissionDenied(
          "start-up check failed: a client with an unknown CURVE key got through; refusing to "
          "start");
    }
    logger_->info("start-up check: an unknown CURVE key is refused");
    return Status::Ok();
  }

  // ---- receiving ----------------------------------------------------------------------------
  // Returns the number of events staged.
  int HandleMessage(std::vector<zmq::message_t>& parts) {
    if (parts.empty()) {
      return 0;
    }
    std::string routing = parts[0].to_string();
    std::string agency;
    try {
      const char* uid = parts.back().gets("User-Id");
      agency = uid != nullptr ? uid : "";
    } catch (const zmq::error_t&) {
      agency.clear();
    }
    size_t total = 0;
    std::vector<std::string_view> frames;
    for (size_t i = 1; i < parts.size(); ++i) {
      frames.push_back(parts[i].to_string_view());
      total += parts[i].size();
    }
    if (!agency.empty() && (revoked_.count(agency) != 0 || retired_routes_.count(routing) != 0)) {
      counters_.refused++;
      metrics_.refused.Add();
      ReplyError(routing, 0,
                 Status::PermissionDenied(revoked_.count(agency) != 0
                                              ? "agency " + agency + " is revoked: " +
                                                    revoked_[agency]
                                              : "this connection used a key of " + agency +
                                                    " that was replaced; reconnect with the new key"));
      return 0;
    }
    if (agency.empty() || directory_.Find(agency) == nullptr) {
      counters_.malformed++;
      metrics_.malformed.Add();
      ReplyError(routing, 0, Status::PermissionDenied("the connection is not a registered agency"));
      return 0;
    }
    if (auto& seen = routes_[agency]; seen.size() < 64) {
      seen.insert(routing);
    }
    if (total > static_cast<size_t>(options_.max_message_bytes)) {
      counters_.malformed++;
      metrics_.malformed.Add();
      ReplyError(routing, 0,
                 Status::InvalidArgument("message", "of " + std::to_string(total) +
                                                        " bytes exceeds the limit of " +
                                                        std::to_string(options_.max_message_bytes)),
                 v1::ERROR_CODE_PROTOCOL);
      return 0;
    }
    auto frame = transport::ParseClientFrame(frames);
    if (!frame.ok()) {
      counters_.malformed++;
      metrics_.malformed.Add();
      if (counters_.malformed < 20 || counters_.malformed % 1000 == 0) {
        logger_->warn("malformed message from {}: {} ({} so far)", agency,
                      frame.status().ToString(), counters_.malformed);
      }
      ReplyError(routing, 0, frame.status(), v1::ERROR_CODE_PROTOCOL);
      return 0;
    }
    const v1::ClientFrame& f = *frame;
    switch (f.body_case()) {
      case v1::ClientFrame::kHello:
        OnHello(routing, agency, f);
        return 0;
      case v1::ClientFrame::kPublish:
        return OnPublish(routing, agency, f);
      case v1::ClientFrame::kSubscribe:
        OnSubscribe(routing, agency, f);
        return 0;
      case v1::ClientFrame::kAck:
        OnAck(agency, f.ack());
        return 0;
      case v1::ClientFrame::kNack:
        OnNack(agency, f.nack());
        return 0;
      case v1::ClientFrame::kCredit:
        OnCredit(agency, f.credit());
        return 0;
      case v1::ClientFrame::kPing: {
        v1::ServerFrame r;
        r.set_request_id(f.request_id());
        r.mutable_pong()->set_sent_at_ms(f.ping().sent_at_ms());
        r.mutable_pong()->set_broker_run_id(run_id_);
        Queue(routing, std::move(r));
        return 0;
      }
      case v1::ClientFrame::kCaseEvents:
        return OnCaseEvents(routing, agency, f);
      case v1::ClientFrame::kCaseKey:
        OnCaseKey(routing, agency, f);
        return 0;
      case v1::ClientFrame::kPersonLookup:
        OnPersonLookup(routing, agency, f);
        return 0;
      case v1::ClientFrame::kDocumentPut:
        OnDocumentPut(routing, agency, f);
        return 0;
      case v1::ClientFrame::kDocumentGet:
        OnDocumentGet(routing, agency, f);
        return 0;
      case v1::ClientFrame::kInclusionProof:
      case v1::ClientFrame::kConsistencyProof:
        OnProof(routing, f);
        return 0;
      default:
        counters_.malformed++;
      metrics_.malformed.Add();
        ReplyError(routing, f.request_id(), Status::InvalidArgument("body", "unknown command"),
                   v1::ERROR_CODE_PROTOCOL);
        return 0;
    }
  }

  void OnHello(const std::string& routing, const std::string& agency, const v1::ClientFrame& f) {
    v1::ServerFrame r;
    r.set_request_id(f.request_id());
    auto* w = r.mutable_welcome();
    w->set_agency_id(agency);
    w->set_broker_version(kBrokerVersion);
    FillHead(w->mutable_tree_head(), log_->LatestHead());
    w->set_inbox_cursor(StoredCursor(agency, v1::SELECTOR_INBOX));
    w->set_max_message_bytes(static_cast<uint32_t>(options_.max_message_bytes));
    w->set_max_event_bytes(static_cast<uint32_t>(MaxEventBytes()));
    w->set_max_batch(static_cast<uint32_t>(options_.group_commit_max_events));
    w->set_max_delivery_attempts(static_cast<uint32_t>(options_.max_delivery_attempts));
    w->set_broker_run_id(run_id_);
    if (f.hello().has_last_seen() && f.hello().last_seen().tree_size() > log_->LastSeq()) {
      logger_->error(
          "agency {} has seen a tree of {} events but the log holds {}: the log was truncated or "
          "replaced",
          agency, f.hello().last_seen().tree_size(), log_->LastSeq());
    }
    logger_->info("agency {} connected", agency);
    Queue(routing, std::move(r));
  }

  // ---- publishing ---------------------------------------------------------------------------
  int OnPublish(const std::string& routing, const std::string& agency, const v1::ClientFrame& f) {
    PendingAck pa;
    pa.routing_id = routing;
    pa.agency = agency;
    pa.request_id = f.request_id();
    pa.received_us = MonoUs();
    const auto& events = f.publish().events();
    int staged = 0;
    for (int i = 0; i < events.size(); ++i) {
      auto* res = pa.ack.add_results();
      const std::string prefix = "events[" + std::to_string(i) + "]";
      v1::Event e;
      if (!e.ParseFromString(events[i])) {
        counters_.refused++;
        metrics_.refused.Add();
        FillError(res->mutable_error(), Status::InvalidArgument(prefix, "is not a valid Event"));
        continue;
      }
      res->set_event_id(e.event_id());
      if (e.event_id().empty()) {
        counters_.refused++;
        metrics_.refused.Add();
        FillError(res->mutable_error(), Status::InvalidArgument("event_id", "is required"), prefix);
        continue;
      }
      // Every stored event must be deliverable to a client whose socket takes max_message_bytes.
      if (events[i].size() > MaxEventBytes()) {
        counters_.refused++;
        metrics_.refused.Add();
        FillError(res->mutable_error(),
                  Status::InvalidArgument(
                      prefix, "an event of " + std::to_string(events[i].size()) +
                                  " bytes is larger than this broker stores (" +
                                  std::to_string(MaxEventBytes()) +
                                  " bytes: max_message_bytes less 65536 for the envelope and "
                                  "the delivery); split it"));
        continue;
      }
      // A repeat of a stored event gets its original ack, whatever the state is now.
      std::string dkey = agency + '\0' + e.event_id();
      if (auto it = batch_index_.find(dkey); it != batch_index_.end()) {
        pa.fills.emplace_back(i, it->second);
        continue;
      }
      if (writing_ != nullptr && writing_->dedup.count(dkey) != 0) {
        pa.late.emplace_back(i, e.event_id());
        continue;
      }
      auto dup = log_->FindDuplicate(agency, e.event_id());
      if (!dup.ok()) {
        FillError(res->mutable_error(), dup.status(), prefix);
        continue;
      }
      if (dup->has_value()) {
        counters_.duplicates++;
        metrics_.duplicates.Add();
        FillDuplicate(res, **dup);
        continue;
      }
      Status st = Stage(agency, e, events[i]);
      if (!st.ok()) {
        counters_.refused++;
        metrics_.refused.Add();
        FillError(res->mutable_error(), st, prefix);
        continue;
      }
      batch_index_[dkey] = entries_.size() - 1;
      pa.fills.emplace_back(i, entries_.size() - 1);
      ++staged;
    }
    acks_.push_back(std::move(pa));
    return staged;
  }

  // Validates `e` against its case (including earlier events of this batch) and stages it.
  Status Stage(const std::string& agency, const v1::Event& e, const std::string& raw) {
    if (e.actor_agency() != agency) {
      return Status::PermissionDenied("this connection is authenticated as '" + agency +
                                          "'; an agency publishes only as itself",
                                      "actor_agency");
    }
    RETURN_IF_ERROR(core::ValidateEvent(e, NowMs()));
    if (core::IsConfigurationEvent(e)) {
      return Status::PermissionDenied(
          "configuration events are written by the broker from its registry", "payload");
    }
    if (e.has_referral_sent()) {
      const std::string& to = e.referral_sent().referral().to_agency();
      if (auto it = revoked_.find(to); it != revoked_.end()) {
        return Status::PermissionDenied("agency " + to + " is revoked (" + it->second +
                                            "): nothing can be referred to it",
                                        "referral_sent.referral.to_agency");
      }
    }
    if (e.has_suspect_recorded() || e.has_suspect_identity_resealed()) {
      // A suspect's identity is never sealed for a revoked agency.
      const bool resealed = e.has_suspect_identity_resealed();
      const auto& keys = resealed ? e.suspect_identity_resealed().identity().wrapped_keys()
                                  : e.suspect_recorded().suspect().identity().wrapped_keys();
      for (int i = 0; i < keys.size(); ++i) {
        const std::string field =
            std::string(resealed ? "suspect_identity_resealed.identity"
                                 : "suspect_recorded.suspect.identity") +
            ".wrapped_keys[" + std::to_string(i) + "].agency_id";
        if (auto it = revoked_.find(keys.Get(i).agency_id()); it != revoked_.end()) {
          return Status::PermissionDenied("agency " + it->first + " is revoked (" + it->second +
                                              "): nothing may be sealed for it",
                                          field);
        }
      }
    }
    ASSIGN_OR_RETURN(core::CaseProjection * proj, Working(e.case_id()));
    RETURN_IF_ERROR(proj->Check(e, directory_));
    if (e.has_document_attached()) {
      RETURN_IF_ERROR(CheckStoredDocument(e));
    }
    const uint64_t seq = next_seq_++;
    v1::Envelope env;
    env.set_global_seq(seq);
    env.set_case_seq(proj->state().version() + 1);
    env.set_producer(agency);
    env.set_appended_at_ms(NowMs());
    env.set_case_id(e.case_id());
    env.set_event_id(e.event_id());
    proj->Apply(env, e);

    log::AppendEntry entry;
    entry.producer = agency;
    entry.event_id = e.event_id();
    entry.case_id = e.case_id();
    entry.appended_at_ms = env.appended_at_ms();
    entry.event_bytes = raw;   // the producer's exact bytes, never re-serialized
    entry.checked_new = true;  // OnPublish looked it up just before
    entry.known_case_seq = env.case_seq();
    for (auto& a : core::AudienceOf(proj->state(), e, directory_)) {
      if (a != agency) {
        entry.audience.push_back(std::move(a));
      }
    }
    for (const auto& a : entry.audience) {
      dirty_agencies_.insert(a);
    }
    entries_.push_back(std::move(entry));
    staged_.push_back(Staged{seq});
    return Status::Ok();
  }

  // The projection of `case_id` including every staged event, held in working_ until the batches
  // that use it are durable.
  Result<core::CaseProjection*> Working(const std::string& case_id) {
    ASSIGN_OR_RETURN(core::CaseProjection * proj, LoadWorking(case_id));
    if (batch_case_set_.insert(case_id).second) {
      batch_cases_.push_back(case_id);
      case_holds_[case_id]++;
    }
    return proj;
  }

  Result<core::CaseProjection*> LoadWorking(const std::string& case_id) {
    if (auto it = working_.find(case_id); it != working_.end()) {
      return &it->second;
    }
    if (const core::CaseProjection* cached = cache_.Find(case_id)) {
      return &working_.emplace(case_id, *cached).first->second;
    }
    core::CaseProjection proj = core::CaseProjection::WithoutPersonalData();
    ASSIGN_OR_RETURN(uint64_t version, log_->CaseVersion(case_id));
    if (version == 0) {
      // A new case: nothing to fold (a point lookup, cheaper than a scan).
      return &working_.emplace(case_id, std::move(proj)).first->second;
    }
    ASSIGN_OR_RETURN(auto seqs, log_->CaseEvents(case_id, 0, UINT64_MAX));
    for (uint64_t seq : seqs) {
      ASSIGN_OR_RETURN(std::string bytes, log_->Read(seq));
      v1::Envelope env;
      v1::Event ev;
      if (!env.ParseFromString(bytes) || !ev.ParseFromString(env.event())) {
        return Status::Corruption("event " + std::to_string(seq) + " of case " + case_id +
                                  " does not parse");
      }
      proj.Apply(env, ev);
    }
    return &working_.emplace(case_id, std::move(proj)).first->second;
  }

  // ---- group commit ---------------------------------------------------------------------------
  bool HasStaged() const { return !entries_.empty() || !acks_.empty() || !gated_replies_.empty(); }

  // Takes what this turn staged as a batch.
  std::unique_ptr<Batch> TakeStaged() {
    auto b = std::make_unique<Batch>();
    b->entries = std::move(entries_);
    b->staged = std::move(staged_);
    b->acks = std::move(acks_);
    b->gated = std::move(gated_replies_);
    b->dirty = std::move(dirty_agencies_);
    b->cases = std::move(batch_cases_);
    b->dedup = std::move(batch_index_);
    entries_.clear();
    staged_.clear();
    acks_.clear();
    gated_replies_.clear();
    dirty_agencies_.clear();
    batch_cases_.clear();
    batch_case_set_.clear();
    batch_index_.clear();
    return b;
  }

  // Hands the staged batch to the writer thread (or answers it at once when it holds no event).
  // Requires that no batch is being written.
  Status Submit() {
    auto b = TakeStaged();
    if (b->entries.empty()) {
      return Complete(*b);
    }
    writing_ = std::move(b);
    written_.store(false, std::memory_order_relaxed);
    {
      std::lock_guard lock(writer_mu_);
      to_write_ = writing_.get();
    }
    writer_cv_.notify_one();
    return Status::Ok();
  }

  void WriterLoop() {
    std::unique_lock lock(writer_mu_);
    for (;;) {
      writer_cv_.wait(lock, [&] { return to_write_ != nullptr || writer_stop_; });
      if (to_write_ == nullptr) {
        return;
      }
      Batch* b = to_write_;
      to_write_ = nullptr;
      lock.unlock();
      const int64_t began = MonoUs();
      b->out = log_->Append(b->entries);
      const int64_t took = MonoUs() - began;
      metrics_.write.Observe(static_cast<double>(took) / 1e6);
      if (took > slowest_write_us_.load(std::memory_order_relaxed)) {
        slowest_write_us_.store(took, std::memory_order_relaxed);
      }
      written_.store(true, std::memory_order_release);
      uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
      lock.lock();
    }
  }

  void StopWriter() {
    {
      std::lock_guard lock(writer_mu_);
      writer_stop_ = true;
    }
    writer_cv_.notify_one();
    if (writer_.joinable()) {
      writer_.join();
    }
  }

  void DrainWake() {
    uint64_t drained = 0;
    [[maybe_unused]] ssize_t n = ::read(wake_fd_, &drained, sizeof(drained));
  }

  // Blocks until the writer finished the batch it holds (if any). Signals do not end the wait.
  void WaitForWriter() {
    while (writing_ != nullptr && !written_.load(std::memory_order_acquire)) {
      zmq::pollitem_t item{nullptr, wake_fd_, ZMQ_POLLIN, 0};
      try {
        zmq::poll(&item, 1, std::chrono::milliseconds(100));
      } catch (const zmq::error_t&) {
        // EINTR (a second SIGTERM, SIGUSR1): keep waiting.
      }
    }
  }

  // Answers the batch the writer finished.
  Status CompleteWritten() {
    DrainWake();
    written_.store(false, std::memory_order_relaxed);
    std::unique_ptr<Batch> b = std::move(writing_);
    if (b == nullptr) {
      return Status::Ok();
    }
    return Complete(*b);
  }

  // Waits for the batch being written, then writes and answers what is staged.
  Status Flush() {
    for (int round = 0; round < 2; ++round) {
      WaitForWriter();
      if (writing_ != nullptr) {
        RETURN_IF_ERROR(CompleteWritten());
      }
      if (round == 0 && HasStaged()) {
        RETURN_IF_ERROR(Submit());
      }
    }
    return Status::Ok();
  }

  // The loop is ending on an error: a batch the writer stored is still answered; every other
  // event not yet acknowledged gets RETRY_LATER.
  void FailStaged() {
    WaitForWriter();
    std::vector<std::unique_ptr<Batch>> batches;
    if (writing_ != nullptr) {
      std::unique_ptr<Batch> written = std::move(writing_);
      if (written->out.ok()) {
        if (Complete(*written).ok()) {
          written.reset();
        }
      }
      if (written != nullptr) {
        batches.push_back(std::move(written));
      }
    }
    batches.push_back(TakeStaged());
    for (auto& b : batches) {
      FailBatch(*b, Status::Unavailable("the broker could not store the event; resend later"));
    }
    working_.clear();
    case_holds_.clear();
  }

  void FailBatch(Batch& b, const Status& why) {
    for (auto& pa : b.acks) {
      for (auto [ri, ei] : pa.fills) {
        FillError(pa.ack.mutable_results(ri)->mutable_error(), why);
      }
      for (const auto& [ri, id] : pa.late) {
        FillError(pa.ack.mutable_results(ri)->mutable_error(), why);
      }
      pa.fills.clear();
      pa.late.clear();
      SendAck(pa);
    }
    for (auto& g : b.gated) {
      v1::ServerFrame e;
      e.set_request_id(g.frame.request_id());
      FillError(e.mutable_error(),
                Status::Unavailable("the broker could not record the read; retry later"));
      Send(g.routing_id, e);
    }
  }

  // Sends the acks and replies of a durable (or empty) batch, releases its projections to the
  // cache and delivers its events.
  Status Complete(Batch& b) {
    if (!b.out.ok()) {
      logger_->critical("the event log refused a batch of {}: {}", b.entries.size(),
                        b.out.status().ToString());
      FailBatch(b, Status::Unavailable("the broker could not store the event; resend later"));
      FailStaged();
      return b.out.status();
    }
    const auto& out = *b.out;
    if (!b.entries.empty()) {
      counters_.batches++;
    }
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i].global_seq != b.staged[i].expected_seq || out[i].duplicate) {
        logger_->critical("log assigned seq {} where the broker expected {}", out[i].global_seq,
                          b.staged[i].expected_seq);
        std::abort();  // broken invariant: projections would disagree with the log
      }
    }
    counters_.published += out.size();
    metrics_.appended.Add(out.size());
    std::vector<bool> first_use(out.size(), true);
    const auto head = log_->LatestHead();
    for (auto& pa : b.acks) {
      for (auto [ri, ei] : pa.fills) {
        auto* res = pa.ack.mutable_results(ri);
        const auto& o = out[ei];
        res->set_ok(true);
        res->set_duplicate(!first_use[ei]);
        if (!first_use[ei]) {
          counters_.duplicates++;
        metrics_.duplicates.Add();
        }
        first_use[ei] = false;
        res->set_global_seq(o.global_seq);
        res->set_case_seq(o.case_seq);
        res->set_leaf_hash(std::string(merkle::AsBytes(o.leaf_hash)));
      }
      for (const auto& [ri, id] : pa.late) {
        auto* res = pa.ack.mutable_results(ri);
        auto dup = log_->FindDuplicate(pa.agency, id);
        if (!dup.ok() || !dup->has_value()) {
          FillError(res->mutable_error(),
                    dup.ok() ? Status::Unavailable("the original is not stored yet; resend later")
                             : dup.status(),
                    "events[" + std::to_string(ri) + "]");
          continue;
        }
        counters_.duplicates++;
        metrics_.duplicates.Add();
        FillDuplicate(res, **dup);
      }
      FillHead(pa.ack.mutable_tree_head(), head);
      SendAck(pa);
    }
    for (auto& g : b.gated) {
      if (g.access_seq != 0) {
        if (Status listed = ListCaseEvents(g); !listed.ok()) {
          v1::ServerFrame e;
          e.set_request_id(g.frame.request_id());
          FillError(e.mutable_error(), listed);
          Send(g.routing_id, e);
          continue;
        }
      }
      Send(g.routing_id, g.frame);
    }
    for (const auto& id : b.cases) {
      auto hold = case_holds_.find(id);
      if (hold == case_holds_.end() || --hold->second > 0) {
        continue;  // a later batch still builds on it
      }
      case_holds_.erase(hold);
      if (auto w = working_.find(id); w != working_.end()) {
        cache_.Put(id, std::move(w->second));
        working_.erase(w);
      }
    }
    PumpDirty(b.dirty);
    if (admin_pending_ && admin_pending_->seq <= log_->LastSeq()) {
      SendAdmin(admin_pending_->reply);
      admin_pending_.reset();
    }
    return Status::Ok();
  }

  void SendAck(PendingAck& pa) {
    if (!pa.ack.has_tree_head()) {
      FillHead(pa.ack.mutable_tree_head(), log_->LatestHead());
    }
    v1::ServerFrame r;
    r.set_request_id(pa.request_id);
    *r.mutable_publish_ack() = std::move(pa.ack);
    Send(pa.routing_id, r);
    metrics_.acks.Add();
    if (pa.received_us != 0) {
      const int64_t us = MonoUs() - pa.received_us;
      ack_latency_.Add(us);
      metrics_.publish_to_ack.Observe(static_cast<double>(us) / 1e6);
    }
  }

  static void FillDuplicate(v1::PublishResult* res, const log::AppendOutcome& o) {
    res->set_ok(true);
    res->set_duplicate(true);
    res->set_global_seq(o.global_seq);
    res->set_case_seq(o.case_seq);
    res->set_leaf_hash(std::string(merkle::AsBytes(o.leaf_hash)));
  }

  void SendReplies() {
    for (auto& [routing, frame] : replies_) {
      Send(routing, frame);
    }
    replies_.clear();
  }

  // ---- delivery -----------------------------------------------------------------------------
  uint64_t StoredCursor(const std::string& agency, v1::Selector sel) {
    auto v = log_->GetState(CursorKey(agency, sel));
    if (!v.ok() || !v->has_value() || (*v)->size() != 8) {
      return 0;
    }
    return log::DecodeBe64(**v);
  }

  void OnSubscribe(const std::string& routing, const std::string& agency,
                   const v1::ClientFrame& f) {
    const auto& s = f.subscribe();
    if (s.selector() != v1::SELECTOR_INBOX && s.selector() != v1::SELECTOR_ALL_READABLE) {
      ReplyError(routing, f.request_id(),
                 Status::InvalidArgument("subscribe.selector", "must be INBOX or ALL_READABLE"));
      return;
    }
    // A position beyond the log cannot be served: delivery would start after events that do not
    // exist and everything new would wait behind them. Said with both numbers, never guessed.
    const uint64_t end = log_->LastSeq();
    if (s.has_after_seq() && s.after_seq() > end) {
      ReplyError(routing, f.request_id(),
                 Status::InvalidArgument(
                     "subscribe.after_seq",
                     "after_seq " + std::to_string(s.after_seq()) +
                         " is beyond the end of this log (" + std::to_string(end) +
                         " events): the log was restored from an older copy, or the position "
                         "belongs to another log. Subscribe with an after_seq of at most " +
                         std::to_string(end) + ", or without one to resume from this agency's "
                         "stored cursor (" +
                         std::to_string(StoredCursor(agency, s.selector())) + ")"));
      logger_->warn("agency {}: refused a {} subscription after seq {}: the log ends at {}",
                    agency, v1::Selector_Name(s.selector()), s.after_seq(), end);
      return;
    }
    Subscription sub;
    sub.routing_id = routing;
    sub.agency = agency;
    sub.selector = s.selector();
    sub.whole_log =
        s.selector() == v1::SELECTOR_ALL_READABLE && directory_.IsSystemPrincipal(agency);
    sub.scan_pos = s.has_after_seq() ? s.after_seq() : StoredCursor(agency, s.selector());
    sub.window = ClampCredits(s.credits());
    sub.max_batch = std::clamp<uint32_t>(s.max_batch(), 1, kMaxDeliverBatch);
    auto key = std::make_pair(agency, static_cast<int>(sub.selector));
    if (auto old = subs_.find(key); old != subs_.end()) {
      // A new connection of the same agency takes the stream over from where it chose to start.
      logger_->info("agency {}: a new {} subscription replaces the previous one", agency,
                    v1::Selector_Name(s.selector()));
      if (!s.has_after_seq()) {
        // Unset means the stored cursor, always: the old stream's progress is stored first.
        SaveCursor(old->second);
        sub.scan_pos = StoredCursor(agency, s.selector());
      }
    }
    subs_[key] = std::move(sub);
    logger_->info("agency {} subscribed to {} after seq {}", agency,
                  v1::Selector_Name(s.selector()), subs_[key].scan_pos);
    Pump(subs_[key]);
  }

  // The largest event stored: room is kept under max_message_bytes for the envelope's fields and
  // the DELIVER frame around it (a few hundred bytes; 64 KiB is generous and round).
  size_t MaxEventBytes() const {
    const size_t limit = static_cast<size_t>(options_.max_message_bytes);
    return limit > 2 * 65536 ? limit - 65536 : limit / 2;
  }

  uint32_t ClampCredits(uint32_t c) const {
    if (c == 0) {
      return static_cast<uint32_t>(options_.default_credits);
    }
    return std::min<uint32_t>(c, static_cast<uint32_t>(options_.max_credits));
  }

  Subscription* FindSub(const std::string& agency, v1::Selector sel) {
    auto it = subs_.find(std::make_pair(agency, static_cast<int>(sel)));
    return it == subs_.end() ? nullptr : &it->second;
  }

  void OnAck(const std::string& agency, const v1::ConsumerAck& a) {
    Subscription* sub = FindSub(agency, a.selector());
    if (sub == nullptr) {
      return;
    }
    for (uint64_t seq : a.global_seqs()) {
      sub->inflight.erase(seq);
    }
    sub->cursor_dirty = true;
    Pump(*sub);
  }

  // How long attempt `attempt` of a delivery may stay unanswered before the next one.
  int64_t RedeliveryWaitMs(uint32_t attempt) const {
    const int shift = std::min<int>(static_cast<int>(attempt) - 1, 4);
    return static_cast<int64_t>(options_.redelivery_timeout_ms) << shift;
  }

  void OnNack(const std::string& agency, const v1::ConsumerNack& n) {
    Subscription* sub = FindSub(agency, n.selector());
    if (sub == nullptr) {
      return;
    }
    auto it = sub->inflight.find(n.global_seq());
    if (it == sub->inflight.end()) {
      return;
    }
    if (n.park()) {
      Park(*sub, n.global_seq(), "parked by the consumer: " + n.reason());
      sub->inflight.erase(it);
      SaveCursor(*sub);
      Pump(*sub);
    } else {
      // "Not now": the next attempt comes after the wait an unanswered one gets (5 s x 2^(a-1),
      // capped at 80 s, by default), so a consumer that is unavailable for a while has minutes
      // before the event is parked, not the milliseconds that redelivering at once gave it.
      it->second.deadline_ms = NowMs() + RedeliveryWaitMs(it->second.attempt);
      sub->next_deadline_ms = std::min(sub->next_deadline_ms, it->second.deadline_ms);
    }
  }

  void OnCredit(const std::string& agency, const v1::Credit& c) {
    Subscription* sub = FindSub(agency, c.selector());
    if (sub == nullptr) {
      return;
    }
    sub->window = ClampCredits(c.credits());
    Pump(*sub);
  }

  void Park(const Subscription& sub, uint64_t seq, const std::string& reason) {
    counters_.parked++;
    metrics_.parked.With({sub.agency}).Add();
    std::vector<std::pair<std::string, std::string>> puts = {{ParkKey(sub.agency, seq), reason}};
    Status s = log_->PutState(puts, {}, true);
    logger_->warn("parked seq {} for agency {}: {}{}", seq, sub.agency, reason,
                  s.ok() ? "" : " (recording failed: " + s.ToString() + ")");
  }

  // Stores every cursor that acks moved, in one write, at most every kCursorSaveEveryMs (not
  // synced: a cursor that is a little behind after a crash only means redelivery, which consumers
  // dedup).
  void SaveDirtyCursors() {
    last_cursor_save_ms_ = NowMs();
    std::vector<std::pair<std::string, std::string>> puts;
    for (auto& [key, sub] : subs_) {
      if (sub.cursor_dirty) {
        sub.cursor_dirty = false;
        puts.emplace_back(CursorKey(sub.agency, sub.selector), log::EncodeBe64(CursorOf(sub)));
      }
    }
    if (puts.empty()) {
      return;
    }
    Status s = log_->PutState(puts, {}, false);
    if (!s.ok()) {
      logger_->warn("could not store {} delivery cursors: {}", puts.size(), s.ToString());
    }
  }

  void SaveCursor(Subscription& sub) {
    sub.cursor_dirty = false;
    const uint64_t cursor = CursorOf(sub);
    std::vector<std::pair<std::string, std::string>> puts = {
        {CursorKey(sub.agency, sub.selector), log::EncodeBe64(cursor)}};
    Status s = log_->PutState(puts, {}, false);
    if (!s.ok()) {
      logger_->warn("could not store the cursor of {}: {}", sub.agency, s.ToString());
    }
  }

  std::vector<uint64_t> NextSeqs(const Subscription& sub, size_t n) {
    std::vector<uint64_t> seqs;
    if (sub.whole_log) {
      for (uint64_t s = sub.scan_pos + 1; s <= log_->LastSeq() && seqs.size() < n; ++s) {
        seqs.push_back(s);
      }
      return seqs;
    }
    std::string prefix = log::StateKeys::AudiencePrefix(sub.agency);
    Status st = log_->ScanState(prefix, log::StateKeys::Audience(sub.agency, sub.scan_pos + 1),
                                [&](std::string_view k, std::string_view) {
                                  seqs.push_back(log::DecodeBe64(k.substr(prefix.size())));
                                  return seqs.size() < n;
                                });
    if (!st.ok()) {
      logger_->error("reading the delivery index of {}: {}", sub.agency, st.ToString());
    }
    return seqs;
  }

  // Sends what the window allows. Returns false when the subscriber is gone.
  bool Pump(Subscription& sub) {
    while (sub.inflight.size() < sub.window) {
      auto seqs = NextSeqs(sub, sub.window - sub.inflight.size());
      if (seqs.empty()) {
        return true;
      }
      for (size_t i = 0; i < seqs.size();) {
        size_t sent = 0;
        bool read_failed = false;
        SendResult r =
            DeliverFirst(sub, std::span<const uint64_t>(seqs).subspan(i), &sent, &read_failed);
        if (r == SendResult::kGone) {
          DropSubscription(sub);
          return false;
        }
        if (r == SendResult::kFull || sent == 0) {
          return true;
        }
        const int64_t deadline = NowMs() + RedeliveryWaitMs(1);
        for (size_t k = i; k < i + sent; ++k) {
          sub.inflight[seqs[k]] = InFlight{1, deadline};
          sub.scan_pos = seqs[k];
        }
        sub.next_deadline_ms = std::min(sub.next_deadline_ms, deadline);
        counters_.delivered += sent;
        metrics_.delivered.Add(sent);
        i += sent;
        if (read_failed) {
          return true;
        }
      }
    }
    return true;
  }

  enum class SendResult { kSent, kFull, kGone };

  // First deliveries of the leading `seqs`, in one frame: a Deliver, or a DeliverBatch of up to the
  // subscription's max_batch events whose serialized frame stays within max_message_bytes (a
  // single larger event still goes, alone, as it would in a Deliver). `*sent` is how many went out;
  // `*read_failed` says the log could not be read at seqs[*sent], so the pump stops there.
  SendResult DeliverFirst(const Subscription& sub, std::span<const uint64_t> seqs, size_t* sent,
                          bool* read_failed) {
    *sent = 0;
    *read_failed = false;
    const size_t most = std::min<size_t>(seqs.size(), sub.max_batch);
    if (most <= 1) {
      SendResult r = Deliver(sub, seqs[0], 1);
      *sent = r == SendResult::kSent ? 1 : 0;
      return r;
    }
    // Per element: the envelope plus at most 32 bytes of Deliver fields and framing; the frame
    // itself adds a few more, kept clear of the limit by the same margin. Batches stop at 16 MiB
    // whatever max_message_bytes allows: beyond that they save nothing, and a subscriber that
    // takes single deliveries of max_message_bytes (the client library's socket takes 64 MiB)
    // takes every batch.
    constexpr size_t kElementOverhead = 32;
    const size_t limit = std::clamp<size_t>(static_cast<size_t>(options_.max_message_bytes), 64,
                                            kMaxDeliverBatchBytes) -
                         kElementOverhead;
    v1::ServerFrame f;
    auto* batch = f.mutable_deliver_batch();
    size_t bytes = 0;
    for (size_t k = 0; k < most; ++k) {
      auto env = log_->Read(seqs[k]);
      if (!env.ok()) {
        // What was read goes out; the timers or the next ack, credit or event try this one again.
        logger_->error("cannot read seq {} for delivery to {}: {}", seqs[k], sub.agency,
                       env.status().ToString());
        *read_failed = true;
        break;
      }
      if (k > 0 && bytes + env->size() + kElementOverhead > limit) {
        break;
      }
      bytes += env->size() + kElementOverhead;
      auto* d = batch->add_deliveries();
      d->set_selector(sub.selector);
      d->set_global_seq(seqs[k]);
      d->set_attempt(1);
      d->set_envelope(std::move(*env));
    }
    const size_t n = static_cast<size_t>(batch->deliveries_size());
    if (n == 0) {
      return SendResult::kFull;
    }
    if (n == 1) {  // a lone event goes as a plain Deliver (this ends `batch`)
      v1::Deliver one = std::move(*batch->mutable_deliveries(0));
      *f.mutable_deliver() = std::move(one);
    }
    SendResult r = Send(sub.routing_id, f);
    *sent = r == SendResult::kSent ? n : 0;
    return r;
  }

  SendResult Deliver(const Subscription& sub, uint64_t seq, uint32_t attempt) {
    auto bytes = log_->Read(seq);
    if (!bytes.ok()) {
      // Leave it pending; the redelivery timer retries. Loud, because it means storage trouble.
      logger_->error("cannot read seq {} for delivery to {}: {}", seq, sub.agency,
                     bytes.status().ToString());
      return SendResult::kFull;
    }
    v1::ServerFrame f;
    auto* d = f.mutable_deliver();
    d->set_selector(sub.selector);
    d->set_global_seq(seq);
    d->set_attempt(attempt);
    d->set_envelope(std::move(*bytes));
    return Send(sub.routing_id, f);
  }

  // The gauges of docs/operations.md, from the loop's own state.
  void UpdateGauges() {
    const uint64_t last = log_->LastSeq();
    metrics_.last_seq.Set(static_cast<double>(last));
    std::map<std::string, uint64_t> lag;  // agency -> the largest lag of its streams
    for (const auto& [key, sub] : subs_) {
      const uint64_t cursor = CursorOf(sub);
      uint64_t& l = lag[sub.agency];
      l = std::max(l, last > cursor ? last - cursor : 0);
    }
    metrics_.connected.Set(static_cast<double>(lag.size()));
    for (const auto& a : options_.registry.agencies()) {
      auto it = lag.find(a.id());
      metrics_.agency_up.With({a.id()}).Set(it != lag.end() ? 1 : 0);
      if (it != lag.end()) {
        metrics_.lag.With({a.id()}).Set(static_cast<double>(it->second));
      } else {
        metrics_.lag.Remove({a.id()});
      }
    }
  }

  void DropSubscription(Subscription& sub) {
    logger_->info("agency {} is unreachable; its {} stream resumes from seq {} on reconnect",
                  sub.agency, v1::Selector_Name(sub.selector), CursorOf(sub));
    SaveCursor(sub);
    subs_.erase(std::make_pair(sub.agency, static_cast<int>(sub.selector)));
  }

  void PumpDirty(const std::set<std::string>& dirty) {
    std::vector<std::pair<std::string, int>> keys;
    for (auto& [key, sub] : subs_) {
      if (sub.whole_log || dirty.count(key.first) != 0) {
        keys.push_back(key);
      }
    }
    for (const auto& k : keys) {
      auto it = subs_.find(k);
      if (it != subs_.end()) {
        Pump(it->second);
      }
    }
  }

  int NextTimerMs() const {
    int64_t next = NowMs() + 100;
    for (const auto& [key, sub] : subs_) {
      if (!sub.inflight.empty()) {
        next = std::min(next, sub.next_deadline_ms);
      }
    }
    return static_cast<int>(std::max<int64_t>(0, next - NowMs()));
  }

  void RunTimers() {
    int64_t now = NowMs();
    std::vector<std::pair<std::string, int>> gone;
    std::vector<std::pair<std::string, int>> refill;  // parked here: room in the window
    for (auto& [key, sub] : subs_) {
      if (sub.inflight.empty()) {
        sub.next_deadline_ms = INT64_MAX;
        continue;
      }
      if (sub.next_deadline_ms > now) {
        continue;
      }
      std::vector<uint64_t> park;
      int64_t next_deadline = INT64_MAX;
      for (auto& [seq, f] : sub.inflight) {
        if (f.deadline_ms > now) {
          next_deadline = std::min(next_deadline, f.deadline_ms);
          continue;
        }
        if (static_cast<int>(f.attempt) >= options_.max_delivery_attempts) {
          park.push_back(seq);
          continue;
        }
        SendResult r = Deliver(sub, seq, f.attempt + 1);
        if (r == SendResult::kGone) {
          gone.push_back(key);
          break;
        }
        if (r == SendResult::kFull) {
          // Not sent: try again shortly without spending an attempt.
          f.deadline_ms = now + 100;
          next_deadline = std::min(next_deadline, f.deadline_ms);
          continue;
        }
        f.attempt++;
        f.deadline_ms = now + RedeliveryWaitMs(f.attempt);
        next_deadline = std::min(next_deadline, f.deadline_ms);
        counters_.redelivered++;
        metrics_.redelivered.Add();
      }
      // A delivery left unvisited (the subscriber went away) is looked at again next pass.
      sub.next_deadline_ms = gone.empty() || gone.back() != key ? next_deadline : now;
      for (uint64_t seq : park) {
        Park(sub, seq,
             "no acknowledgement after " + std::to_string(options_.max_delivery_attempts) +
                 " attempts");
        sub.inflight.erase(seq);
      }
      if (!park.empty()) {
        SaveCursor(sub);
        refill.push_back(key);
      }
    }
    for (const auto& k : gone) {
      auto it = subs_.find(k);
      if (it != subs_.end()) {
        DropSubscription(it->second);
      }
    }
    // A park frees window slots: the events behind it go out now, not on the next ack or credit
    // (a subscriber whose window held only the parked event would otherwise wait for ever).
    for (const auto& k : refill) {
      auto it = subs_.find(k);
      if (it != subs_.end()) {
        Pump(it->second);
      }
    }
  }

  // ---- case reads ----------------------------------------------------------------------------
  // The sections of `state` that `agency` may read now (empty: none).
  std::set<v1::DataSection> ReadableSections(const v1::CaseState& state,
                                             const std::string& agency) {
    std::set<v1::DataSection> out;
    if (state.owner_agency() == agency || directory_.IsSystemPrincipal(agency)) {
      for (auto s : core::AllDataSections()) {
        if (directory_.MayHold(agency, s)) {
          out.insert(s);
        }
      }
      return out;
    }
    if (const auto* g = core::FindAccess(state, agency)) {
      for (int s : g->sections()) {
        out.insert(static_cast<v1::DataSection>(s));
      }
    }
    // A recipient deciding on a live referral it has not accepted yet sees what the referral
    // shares but the personal data: that opens only with acceptance (and the owner's key), so the
    // access record must not say it was read.
    for (const auto& r : state.referrals()) {
      if (r.to_agency() == agency && core::IsLive(r.status())) {
        for (int s : r.data_scope()) {
          if (s != v1::DATA_SECTION_PERSONAL) {
            out.insert(static_cast<v1::DataSection>(s));
          }
        }
        out.insert(v1::DATA_SECTION_REFERRALS);
      }
    }
    // The crime side stays with the agency types that may hold it, owners included.
    std::erase_if(out, [&](v1::DataSection s) { return !directory_.MayHold(agency, s); });
    return out;
  }

  // ---- the registry, changed live ------------------------------------------------------------

  // Applies one configuration event to the registry as the broker knows it.
  // The registry entry of `id` as applied (revoked ones included); nullptr when none.
  v1::Agency* Registered(const std::string& id) {
    for (auto& a : *registry_.mutable_agencies()) {
      if (a.id() == id) return &a;
    }
    return nullptr;
  }

  void ApplyConfiguration(const v1::Event& e) {
    switch (e.payload_case()) {
      case v1::Event::kAgencyRegistered: {
        const v1::Agency& a = e.agency_registered().agency();
        if (v1::Agency* old = Registered(a.id()); old != nullptr) {
          *old = a;
        } else {
          *registry_.add_agencies() = a;
        }
        directory_.Upsert(a);
        revoked_.erase(a.id());
        break;
      }
      case v1::Event::kKeyRotated: {
        const v1::KeyRotated& k = e.key_rotated();
        if (v1::Agency* a = Registered(k.agency_id()); a != nullptr) {
          if (!k.transport_public_key().empty()) a->set_transport_public_key(k.transport_public_key());
          if (!k.sealing_public_key().empty()) a->set_sealing_public_key(k.sealing_public_key());
          directory_.Upsert(*a);
        }
        break;
      }
      case v1::Event::kAgencyRevoked:
        // It stays in the directory (events that name it, such as a first responder's escrowed
        // keys from a registry copy that still lists it, remain valid); what is addressed to it
        // is refused in Stage.
        revoked_[e.agency_revoked().agency_id()] = e.agency_revoked().reason();
        break;
      default:
        break;
    }
  }

  Status ApplyStoredConfiguration() {
    std::vector<uint64_t> seqs;
    RETURN_IF_ERROR(log_->ScanState(log::StateKeys::kConfigurationPrefix, "",
                                    [&](std::string_view key, std::string_view) {
                                      seqs.push_back(log::DecodeBe64(key.substr(2)));
                                      return true;
                                    }));
    for (uint64_t seq : seqs) {
      ASSIGN_OR_RETURN(std::string bytes, log_->Read(seq));
      v1::Envelope env;
      v1::Event e;
      if (!env.ParseFromString(bytes) || !e.ParseFromString(env.event())) {
        return Status::Corruption("configuration event at seq " + std::to_string(seq) +
                                  " does not parse");
      }
      ApplyConfiguration(e);
    }
    if (!seqs.empty()) {
      logger_->info("applied {} registry change(s) from the log over the registry file",
                    seqs.size());
    }
    return Status::Ok();
  }

  // CURVE key -> agency, for the ZAP handler: every registered agency that is not revoked.
  std::map<std::string, std::string> ZapKeys() const {
    std::map<std::string, std::string> keys;
    for (const auto& a : registry_.agencies()) {
      if (!a.transport_public_key().empty() && revoked_.count(a.id()) == 0) {
        keys[a.transport_public_key()] = a.id();
      }
    }
    return keys;
  }

  // Connections of `agency` made before now can do nothing more (a key replaced or revoked), and
  // its streams stop.
  void RetireConnections(const std::string& agency) {
    if (auto it = routes_.find(agency); it != routes_.end()) {
      retired_routes_.insert(it->second.begin(), it->second.end());
      routes_.erase(it);
    }
    std::vector<std::pair<std::string, int>> keys;
    for (const auto& [key, sub] : subs_) {
      if (sub.agency == agency) keys.push_back(key);
    }
    for (const auto& k : keys) {
      DropSubscription(subs_.at(k));
    }
  }

  void SendAdmin(const v1::ControlResponse& r) {
    try {
      admin_.send(zmq::buffer(r.SerializeAsString()), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      logger_->warn("admin reply failed: {}", e.what());
    }
  }

  void AdminError(v1::ControlCode code, const Status& s) {
    v1::ControlResponse r;
    r.set_code(code);
    r.set_field(s.field());
    r.set_reason(s.message());
    SendAdmin(r);
  }

  // One request on the admin socket: validated against the registry as applied, recorded as a
  // configuration event, applied at once (new connections are checked against it from now on),
  // and answered once the event is durable.
  void OnAdminRequest() {
    zmq::message_t msg;
    try {
      if (!admin_.recv(msg, zmq::recv_flags::dontwait)) return;
      while (admin_.get(zmq::sockopt::rcvmore)) {  // a REP answers one message: drop extra frames
        zmq::message_t extra;
        (void)admin_.recv(extra, zmq::recv_flags::dontwait);
      }
    } catch (const zmq::error_t& e) {
      logger_->warn("admin socket: {}", e.what());
      return;
    }
    v1::BrokerAdminRequest req;
    if (!req.ParseFromArray(msg.data(), static_cast<int>(msg.size()))) {
      AdminError(v1::CONTROL_CODE_INVALID,
                 Status::InvalidArgument("request", "is not a passage.v1.BrokerAdminRequest"));
      return;
    }
    auto key_owner = [&](const std::string& key) -> std::string {
      for (const auto& a : registry_.agencies()) {
        if (!key.empty() && a.transport_public_key() == key) return a.id();
      }
      return "";
    };
    v1::Event e;
    std::string what;
    switch (req.op_case()) {
      case v1::BrokerAdminRequest::kExportRegistry: {
        v1::ControlResponse r;
        std::string text = "# The agency registry as the broker applies it at seq " +
                           std::to_string(log_->LastSeq()) +
                           " (the registry file and every change since).\n";
        for (const auto& [id, reason] : revoked_) {
          text += "# revoked: " + id + " (" + reason + ")\n";
        }
        v1::AgencyRegistry live;
        *live.mutable_law_sections() = registry_.law_sections();
        *live.mutable_section_access() = registry_.section_access();
        for (const auto& a : registry_.agencies()) {
          if (revoked_.count(a.id()) == 0) *live.add_agencies() = a;
        }
        r.set_text(text + live.DebugString());
        SendAdmin(r);
        return;
      }
      case v1::BrokerAdminRequest::kAddAgency: {
        const v1::Agency& a = req.add_agency().agency();
        if (Registered(a.id()) != nullptr) {
          AdminError(v1::CONTROL_CODE_REFUSED,
                     Status::AlreadyExists("agency '" + a.id() + "' is already registered" +
                                           (revoked_.count(a.id()) ? " (and revoked)" : "") +
                                           "; rotate its keys instead"));
          return;
        }
        if (!transport::IsZ85Key(a.transport_public_key())) {
          AdminError(v1::CONTROL_CODE_INVALID,
                     Status::InvalidArgument("agency.transport_public_key",
                                             "a CURVE public key (40 Z85 characters) is required"));
          return;
        }
        if (std::string owner = key_owner(a.transport_public_key()); !owner.empty()) {
          AdminError(v1::CONTROL_CODE_REFUSED,
                     Status::InvalidArgument("agency.transport_public_key",
                                             "is already the key of agency '" + owner + "'"));
          return;
        }
        v1::AgencyRegistry next = registry_;
        *next.add_agencies() = a;
        if (auto ok = core::InMemoryAgencyDirectory::FromRegistry(next); !ok.ok()) {
          AdminError(v1::CONTROL_CODE_INVALID, ok.status());
          return;
        }
        *e.mutable_agency_registered()->mutable_agency() = a;
        what = "registered agency " + a.id();
        break;
      }
      case v1::BrokerAdminRequest::kRotateKey: {
        const v1::KeyRotated& k = req.rotate_key();
        const v1::Agency* a = Registered(k.agency_id());
        if (a == nullptr || revoked_.count(k.agency_id()) != 0) {
          AdminError(v1::CONTROL_CODE_NOT_FOUND,
                     Status::NotFound(a == nullptr ? "no agency '" + k.agency_id() + "'"
                                                   : "agency '" + k.agency_id() + "' is revoked"));
          return;
        }
        if (!k.transport_public_key().empty() && !transport::IsZ85Key(k.transport_public_key())) {
          AdminError(v1::CONTROL_CODE_INVALID,
                     Status::InvalidArgument("key_rotated.transport_public_key",
                                             "is not a CURVE public key (40 Z85 characters)"));
          return;
        }
        if (std::string owner = key_owner(k.transport_public_key()); !owner.empty()) {
          AdminError(v1::CONTROL_CODE_REFUSED,
                     Status::InvalidArgument("key_rotated.transport_public_key",
                                             "is already the key of agency '" + owner + "'"));
          return;
        }
        const std::string& seal = k.sealing_public_key();
        if (!seal.empty() && (seal.size() != 64 || seal.find_first_not_of("0123456789abcdef") !=
                                                       std::string::npos)) {
          AdminError(v1::CONTROL_CODE_INVALID,
                     Status::InvalidArgument("key_rotated.sealing_public_key",
                                             "is not a sealing public key (64 hex digits)"));
          return;
        }
        *e.mutable_key_rotated() = k;
        what = "new key(s) for agency " + k.agency_id();
        break;
      }
      case v1::BrokerAdminRequest::kRevoke: {
        const v1::AgencyRevoked& r = req.revoke();
        const v1::Agency* a = Registered(r.agency_id());
        if (a == nullptr || revoked_.count(r.agency_id()) != 0) {
          AdminError(v1::CONTROL_CODE_NOT_FOUND,
                     Status::NotFound(a == nullptr ? "no agency '" + r.agency_id() + "'"
                                                   : "agency '" + r.agency_id() +
                                                         "' is already revoked"));
          return;
        }
        if (a->system_principal()) {
          AdminError(v1::CONTROL_CODE_REFUSED,
                     Status::PermissionDenied("agency '" + r.agency_id() +
                                                  "' is the referral engine: revoking it would stop "
                                                  "all routing; rotate its key instead",
                                              "revoke.agency_id"));
          return;
        }
        *e.mutable_agency_revoked() = r;
        what = "revoked agency " + r.agency_id();
        break;
      }
      case v1::BrokerAdminRequest::OP_NOT_SET:
        AdminError(v1::CONTROL_CODE_INVALID,
                   Status::InvalidArgument("op", "say what to do: add, rotate-key, revoke or "
                                                 "export"));
        return;
    }
    e.set_event_id(core::NewUuidV7());
    e.set_occurred_at_ms(NowMs());
    e.set_actor_agency(kBrokerProducer);
    e.set_actor_role(v1::ACTOR_ROLE_SYSTEM);
    e.set_actor_user(req.operator_name().empty() ? "nrm-admin" : req.operator_name().substr(0, 64));
    if (Status v = core::ValidateEvent(e, NowMs()); !v.ok()) {
      AdminError(v1::CONTROL_CODE_INVALID, v);
      return;
    }
    const uint64_t seq = next_seq_++;
    log::AppendEntry entry;
    entry.producer = kBrokerProducer;
    entry.event_id = e.event_id();
    entry.appended_at_ms = NowMs();
    entry.event_bytes = e.SerializeAsString();
    entry.checked_new = true;  // a fresh UUIDv7
    entries_.push_back(std::move(entry));
    staged_.push_back(Staged{seq});
    // Applied now: what arrives after this request is judged by the new registry.
    ApplyConfiguration(e);
    zap_->SetKeys(ZapKeys());
    if (e.has_agency_revoked()) {
      RetireConnections(e.agency_revoked().agency_id());
    } else if (e.has_key_rotated() && !e.key_rotated().transport_public_key().empty()) {
      RetireConnections(e.key_rotated().agency_id());
    }
    logger_->warn("registry: {} by {} (configuration event, seq {})", what, e.actor_user(), seq);
    v1::ControlResponse r;
    r.set_text(what + ": recorded in the log as seq " + std::to_string(seq) +
               " and applied; nodes and the referral engine read the registry file at start");
    r.add_event_ids(e.event_id());
    admin_pending_ = PendingAdmin{seq, std::move(r)};
  }

  // Answers after the batch that records the read (RecordAccessed) is durable.
  int OnCaseEvents(const std::string& routing, const std::string& agency,
                   const v1::ClientFrame& f) {
    const auto& req = f.case_events();
    if (Status u = core::ValidateUuid(req.case_id(), "case_events.case_id"); !u.ok()) {
      ReplyError(routing, f.request_id(), u);
      return 0;
    }
    auto proj = Working(req.case_id());
    if (!proj.ok()) {
      ReplyError(routing, f.request_id(), proj.status());
      return 0;
    }
    const v1::CaseState& state = (*proj)->state();
    if (!(*proj)->exists()) {
      ReplyError(routing, f.request_id(), Status::NotFound("no case " + req.case_id()));
      return 0;
    }
    auto sections = ReadableSections(state, agency);
    if (sections.empty()) {
      ReplyError(routing, f.request_id(),
                 Status::PermissionDenied(
                     "agency " + agency + " holds no referral or access for case " + req.case_id(),
                     "case_events.case_id"));
      return 0;
    }
    v1::ServerFrame r;
    r.set_request_id(f.request_id());
    auto* out = r.mutable_case_events();
    out->set_case_id(req.case_id());
    out->set_case_version(state.content_version() != 0 ? state.content_version()
                                                       : state.version());
    for (auto sec : sections) {
      out->add_sections(sec);
    }
    // Record the read in this batch; the answer, with the envelopes listed then, waits for it to
    // be durable.
    v1::Event access;
    access.set_event_id(core::NewUuidV7());
    access.set_case_id(req.case_id());
    access.set_occurred_at_ms(NowMs());
    access.set_actor_agency(agency);
    access.set_actor_role(v1::ACTOR_ROLE_SYSTEM);
    auto* ra = access.mutable_record_accessed();
    for (auto sec : sections) {
      ra->add_sections(sec);
    }
    ra->set_purpose(req.purpose().empty() ? "case read" : req.purpose());
    std::string raw = access.SerializeAsString();
    const uint64_t seq = next_seq_++;
    v1::Envelope env;
    env.set_global_seq(seq);
    env.set_case_seq((*proj)->state().version() + 1);
    env.set_producer(kBrokerProducer);
    env.set_appended_at_ms(NowMs());
    env.set_case_id(req.case_id());
    env.set_event_id(access.event_id());
    (*proj)->Apply(env, access);
    log::AppendEntry entry;
    entry.producer = kBrokerProducer;
    entry.event_id = access.event_id();
    entry.case_id = req.case_id();
    entry.appended_at_ms = env.appended_at_ms();
    entry.event_bytes = std::move(raw);
    entry.checked_new = true;  // a fresh UUIDv7
    entry.known_case_seq = env.case_seq();
    entries_.push_back(std::move(entry));
    staged_.push_back(Staged{seq});
    GatedReply g;
    g.routing_id = routing;
    g.frame = std::move(r);
    g.sections = std::move(sections);
    g.access_seq = seq;
    gated_replies_.push_back(std::move(g));
    return 1;
  }

  // Hands `agency` its wrapped data key of the case's sealed personal data, from the owner's
  // escrow (PersonalKeysEscrowed), while it holds an accepted referral that shares PERSONAL and
  // the case is open. The key stays a sealed box to the agency's own sealing key: the broker
  // never sees the data key.
  void OnCaseKey(const std::string& routing, const std::string& agency, const v1::ClientFrame& f) {
    const auto& req = f.case_key();
    if (Status u = core::ValidateUuid(req.case_id(), "case_key.case_id"); !u.ok()) {
      ReplyError(routing, f.request_id(), u);
      return;
    }
    auto proj = Working(req.case_id());
    if (!proj.ok()) {
      ReplyError(routing, f.request_id(), proj.status());
      return;
    }
    const v1::CaseState& state = (*proj)->state();
    if (!(*proj)->exists()) {
      ReplyError(routing, f.request_id(), Status::NotFound("no case " + req.case_id()));
      return;
    }
    const v1::AccessGrant* grant = core::FindAccess(state, agency);
    if (state.owner_agency() == agency || state.closed() || grant == nullptr ||
        !core::GrantIncludes(*grant, v1::DATA_SECTION_PERSONAL)) {
      ReplyError(routing, f.request_id(),
                 Status::PermissionDenied(
                     state.closed() ? "case " + req.case_id() + " is closed: no key is released"
                                    : "agency " + agency +
                                          " holds no accepted referral that shares the personal "
                                          "data of case " + req.case_id(),
                     "case_key.case_id"));
      return;
    }
    // The newest escrow of the case that holds a key for this agency (stored events only).
    auto seqs = log_->CaseEvents(req.case_id(), 0, UINT64_MAX);
    if (!seqs.ok()) {
      ReplyError(routing, f.request_id(), seqs.status());
      return;
    }
    v1::ServerFrame r;
    r.set_request_id(f.request_id());
    bool found = false;
    for (auto it = seqs->rbegin(); it != seqs->rend() && !found; ++it) {
      auto bytes = log_->Read(*it);
      v1::Envelope env;
      v1::Event ev;
      if (!bytes.ok() || !env.ParseFromString(*bytes) || !ev.ParseFromString(env.event()) ||
          !ev.has_personal_keys_escrowed()) {
        continue;
      }
      for (const auto& k : ev.personal_keys_escrowed().keys()) {
        if (k.agency_id() == agency) {
          auto* out = r.mutable_case_key();
          out->set_case_id(req.case_id());
          out->set_seal_nonce(ev.personal_keys_escrowed().seal_nonce());
          *out->mutable_key() = k;
          found = true;
          break;
        }
      }
    }
    if (!found) {
      ReplyError(routing, f.request_id(),
                 Status::NotFound("the owner left no key for " + agency + " in case " +
                                  req.case_id() + " (the consents did not cover it at intake)"));
      return;
    }
    Queue(routing, std::move(r));
  }

  // The key of a document's encrypted bytes in the state column family
  // (docs/event-log-format.md §7).
  static std::string DocumentKey(const std::string& case_id, const std::string& document_id) {
    return "d/" + case_id + "/" + document_id;
  }

  // Whether `agency` holds NOTES of the case (the documents' section); the reason when not.
  Result<const core::CaseProjection*> NotesHolder(const std::string& agency,
                                                  const std::string& case_id,
                                                  const std::string& field) {
    if (Status u = core::ValidateUuid(case_id, field); !u.ok()) {
      return u;
    }
    ASSIGN_OR_RETURN(core::CaseProjection * proj, Working(case_id));
    if (!proj->exists()) {
      return Status::NotFound("no case " + case_id);
    }
    const v1::AccessGrant* grant = core::FindAccess(proj->state(), agency);
    if (grant == nullptr || !core::GrantIncludes(*grant, v1::DATA_SECTION_NOTES) ||
        !directory_.MayHold(agency, v1::DATA_SECTION_NOTES)) {
      return Status::PermissionDenied("agency " + agency + " does not hold the notes and "
                                          "documents of case " + case_id,
                                      field);
    }
    return static_cast<const core::CaseProjection*>(proj);
  }

  // Stores a document's encrypted bytes, synced, before the DocumentAttached event that names
  // them may be published. The bytes are opaque here: sealed on the writer's node.
  void OnDocumentPut(const std::string& routing, const std::string& agency,
                     const v1::ClientFrame& f) {
    const auto& req = f.document_put();
    auto holder = NotesHolder(agency, req.case_id(), "document_put.case_id");
    Status st = holder.ok() ? core::ValidateUuid(req.document_id(), "document_put.document_id")
                            : holder.status();
    if (st.ok() && (*holder)->state().closed()) {
      st = Status::FailedPrecondition("case " + req.case_id() + " is closed", "document_put");
    }
    if (st.ok() && (req.content().empty() ||
                    req.content().size() > core::kMaxDocumentBytes + core::kSealOverheadBytes)) {
      st = Status::InvalidArgument("document_put.content",
                                   "the encrypted document is " +
                                       std::to_string(req.content().size()) +
                                       " bytes; from 1 to " +
                                       std::to_string(core::kMaxDocumentBytes +
                                                      core::kSealOverheadBytes));
    }
    if (st.ok() && core::FindDocument((*holder)->state(), req.document_id()) != nullptr) {
      st = Status::FailedPrecondition("document " + req.document_id() +
                                          " is already attached to this case",
                                      "document_put.document_id");
    }
    const std::string key = DocumentKey(req.case_id(), req.document_id());
    if (st.ok()) {
      auto stored = log_->GetState(key);
      if (!stored.ok()) {
        st = stored.status();
      } else if (stored->has_value() && **stored != req.content()) {
        st = Status::FailedPrecondition("other bytes are already stored as document " +
                                            req.document_id() + "; use a new document id",
                                        "document_put.document_id");
      } else if (!stored->has_value()) {
        const std::pair<std::string, std::string> put{key, req.content()};
        st = log_->PutState(std::span(&put, 1), {}, /*sync=*/true);
      }
    }
    if (!st.ok()) {
      ReplyError(routing, f.request_id(), st);
      return;
    }
    const merkle::Hash h = merkle::Sha256(req.content());
    v1::ServerFrame r;
    r.set_request_id(f.request_id());
    auto* out = r.mutable_document_stored();
    out->set_case_id(req.case_id());
    out->set_document_id(req.document_id());
    out->set_content_sha256(std::string(reinterpret_cast<const char*>(h.data()), h.size()));
    out->set_content_bytes(req.content().size());
    Queue(routing, std::move(r));
  }

  // A DocumentAttached event is accepted only over bytes stored for its case and id with its
  // hash and size, so no acknowledged document is missing its content.
  Status CheckStoredDocument(const v1::Event& e) {
    const v1::DocumentAttached& d = e.document_attached();
    ASSIGN_OR_RETURN(auto stored, log_->GetState(DocumentKey(e.case_id(), d.document_id())));
    if (!stored.has_value()) {
      return Status::FailedPrecondition("no bytes are stored for document " + d.document_id() +
                                            " of this case; store them first (DocumentPut)",
                                        "document_attached.document_id");
    }
    const merkle::Hash h = merkle::Sha256(*stored);
    if (stored->size() != d.content_bytes() ||
        std::string_view(reinterpret_cast<const char*>(h.data()), h.size()) !=
            d.content_sha256()) {
      return Status::FailedPrecondition("the stored bytes of document " + d.document_id() +
                                            " do not have this hash and size",
                                        "document_attached.content_sha256");
    }
    return Status::Ok();
  }

  // The encrypted bytes of an attached document, for an agency holding NOTES of the case.
  void OnDocumentGet(const std::string& routing, const std::string& agency,
                     const v1::ClientFrame& f) {
    const auto& req = f.document_get();
    auto holder = NotesHolder(agency, req.case_id(), "document_get.case_id");
    if (!holder.ok()) {
      ReplyError(routing, f.request_id(), holder.status());
      return;
    }
    if (core::FindDocument((*holder)->state(), req.document_id()) == nullptr) {
      ReplyError(routing, f.request_id(),
                 Status::NotFound("no document " + req.document_id() + " is attached to case " +
                                  req.case_id()));
      return;
    }
    auto stored = log_->GetState(DocumentKey(req.case_id(), req.document_id()));
    if (!stored.ok() || !stored->has_value()) {
      ReplyError(routing, f.request_id(),
                 stored.ok() ? Status::Corruption("the bytes of document " + req.document_id() +
                                                  " are missing from the broker's store")
                             : stored.status());
      return;
    }
    v1::ServerFrame r;
    r.set_request_id(f.request_id());
    auto* out = r.mutable_document_content();
    out->set_case_id(req.case_id());
    out->set_document_id(req.document_id());
    out->set_content(std::move(**stored));
    Queue(routing, std::move(r));
  }

  // Duplicate-person check. The index of person keys is built from the stored log on the first
  // lookup and brought up to date (the events stored since) on each later one, so its cost falls
  // on lookups, never on publishing.
  void OnPersonLookup(const std::string& routing, const std::string& agency,
                      const v1::ClientFrame& f) {
    const v1::Agency* asker = directory_.Find(agency);
    if (asker == nullptr || !asker->first_responder()) {
      ReplyError(routing, f.request_id(),
                 Status::PermissionDenied("only a first responder checks for a duplicate person "
                                          "at intake",
                                          "person_lookup"));
      return;
    }
    if (f.person_lookup().person_key().size() != 32) {
      ReplyError(routing, f.request_id(),
                 Status::InvalidArgument("person_lookup.person_key", "must be 32 bytes"));
      return;
    }
    const uint64_t last = log_->LastSeq();
    for (uint64_t seq = person_index_upto_ + 1; seq <= last; ++seq) {
      auto bytes = log_->Read(seq);
      v1::Envelope env;
      v1::Event ev;
      if (!bytes.ok() || !env.ParseFromString(*bytes) || !ev.ParseFromString(env.event())) {
        continue;
      }
      const v1::SealedPersonalData* sealed =
          ev.has_case_opened()      ? &ev.case_opened().personal()
          : ev.has_profile_updated() ? &ev.profile_updated().personal()
                                     : nullptr;
      if (sealed != nullptr && sealed->person_key().size() == 32) {
        auto& cases = person_index_[sealed->person_key()];
        const std::pair<std::string, std::string> entry{env.case_id(), ev.actor_agency()};
        if (std::find(cases.begin(), cases.end(), entry) == cases.end()) {
          cases.push_back(entry);
        }
      }
    }
    person_index_upto_ = last;
    v1::ServerFrame r;
    r.set_request_id(f.request_id());
    auto* out = r.mutable_person_matches();
    auto it = person_index_.find(f.person_lookup().person_key());
    if (it != person_index_.end()) {
      for (const auto& [case_id, owner] : it->second) {
        if (out->matches_size() == 20) {
          break;
        }
        auto* m = out->add_matches();
        m->set_case_id(case_id);
        m->set_agency_id(owner);
      }
    }
    Queue(routing, std::move(r));
  }

  // Adds to a durable case read the envelopes of its case before its access record, in the
  // sections it may read (access records themselves are not listed).
  Status ListCaseEvents(GatedReply& g) {
    auto* out = g.frame.mutable_case_events();
    ASSIGN_OR_RETURN(auto seqs, log_->CaseEvents(out->case_id(), 0, UINT64_MAX));
    for (uint64_t seq : seqs) {
      if (seq >= g.access_seq) {
        break;
      }
      auto bytes = log_->Read(seq);
      v1::Envelope env;
      v1::Event ev;
      if (!bytes.ok() || !env.ParseFromString(*bytes) || !ev.ParseFromString(env.event())) {
        return Status::Corruption("event " + std::to_string(seq) + " of case " + out->case_id() +
                                  " is unreadable");
      }
      // Escrowed keys are never listed: an agency gets its own key from OnCaseKey, and only while
      // an accepted referral shares PERSONAL.
      if (g.sections.count(core::SectionOf(ev)) != 0 && ev.payload_case() != v1::Event::kRecordAccessed &&
          ev.payload_case() != v1::Event::kPersonalKeysEscrowed) {
        out->add_envelopes(std::move(*bytes));
      }
    }
    return Status::Ok();
  }

  // ---- proofs -------------------------------------------------------------------------------
  void OnProof(const std::string& routing, const v1::ClientFrame& f) {
    v1::ServerFrame r;
    r.set_request_id(f.request_id());
    auto head = log_->LatestHead();
    auto* p = r.mutable_proof();
    FillHead(p->mutable_tree_head(), head);
    Result<std::vector<merkle::Hash>> hashes = std::vector<merkle::Hash>{};
    if (f.has_inclusion_proof()) {
      uint64_t size = f.inclusion_proof().tree_size() == 0 ? head.head.tree_size
                                                           : f.inclusion_proof().tree_size();
      p->set_leaf_index(f.inclusion_proof().global_seq() - 1);
      p->set_tree_size(size);
      hashes = log_->InclusionProof(f.inclusion_proof().global_seq(), size);
    } else {
      uint64_t second = f.consistency_proof().second_size() == 0
                            ? head.head.tree_size
                            : f.consistency_proof().second_size();
      p->set_first_size(f.consistency_proof().first_size());
      p->set_tree_size(second);
      hashes = log_->ConsistencyProof(f.consistency_proof().first_size(), second);
    }
    if (!hashes.ok()) {
      ReplyError(routing, f.request_id(), hashes.status());
      return;
    }
    for (const auto& h : *hashes) {
      p->add_hashes(std::string(merkle::AsBytes(h)));
    }
    Queue(routing, std::move(r));
  }

  // ---- sending ------------------------------------------------------------------------------
  void Queue(const std::string& routing, v1::ServerFrame f) {
    replies_.emplace_back(routing, std::move(f));
  }

  void ReplyError(const std::string& routing, uint64_t request_id, const Status& s,
                  v1::ErrorCode code = v1::ERROR_CODE_UNSPECIFIED) {
    v1::ServerFrame r;
    r.set_request_id(request_id);
    FillError(r.mutable_error(), s);
    if (code != v1::ERROR_CODE_UNSPECIFIED) {
      r.mutable_error()->set_code(code);
    }
    Queue(routing, std::move(r));
  }

  SendResult Send(const std::string& routing, const v1::ServerFrame& f) {
    std::string body = transport::Serialize(f);
    try {
      auto sent =
          router_.send(zmq::buffer(routing), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      if (!sent) {
        return SendResult::kFull;
      }
      router_.send(zmq::buffer(transport::kVersionFrame), zmq::send_flags::sndmore);
      router_.send(zmq::buffer(body), zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
      if (e.num() == EHOSTUNREACH) {
        return SendResult::kGone;
      }
      logger_->warn("send failed: {}", e.what());
      return SendResult::kFull;
    }
    return SendResult::kSent;
  }

  BrokerOptions options_;
  zmq::context_t ctx_;
  zmq::socket_t router_;
  std::unique_ptr<transport::ZapHandler> zap_;
  std::unique_ptr<log::EventLog> log_;
  core::InMemoryAgencyDirectory directory_;
  std::shared_ptr<spdlog::logger> logger_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> checkpoint_{false};
  Counters counters_;

  // The batch being staged.
  std::vector<log::AppendEntry> entries_;
  std::vector<Staged> staged_;  // parallel to entries_
  std::unordered_map<std::string, size_t> batch_index_;
  std::vector<std::string> batch_cases_;  // cases it holds in working_
  std::unordered_set<std::string> batch_case_set_;
  std::vector<PendingAck> acks_;
  std::vector<std::pair<std::string, v1::ServerFrame>> replies_;
  std::vector<GatedReply> gated_replies_;  // after a durable commit
  // Duplicate-person check (OnPersonLookup): person key -> (case id, owner), from the log up to
  // person_index_upto_.
  std::unordered_map<std::string, std::vector<std::pair<std::string, std::string>>> person_index_;
  uint64_t person_index_upto_ = 0;
  std::set<std::string> dirty_agencies_;
  uint64_t next_seq_ = 1;  // global seq of the next staged event

  // Projections with staged events (not yet durable), and how many batches hold each.
  std::unordered_map<std::string, core::CaseProjection> working_;
  std::unordered_map<std::string, int> case_holds_;

  // The writer thread and the batch it writes (one at a time).
  std::thread writer_;
  std::mutex writer_mu_;
  std::condition_variable writer_cv_;
  Batch* to_write_ = nullptr;  // guarded by writer_mu_
  bool writer_stop_ = false;   // guarded by writer_mu_
  std::unique_ptr<Batch> writing_;
  std::atomic<bool> written_{false};
  int wake_fd_ = -1;                          // eventfd: the writer finished a batch
  std::atomic<int64_t> slowest_write_us_{0};  // since the last periodic report
  LatencyHistogram ack_latency_;              // since the last periodic report
  int64_t last_cursor_save_ms_ = 0;
  std::vector<std::vector<zmq::message_t>> early_;  // received during the start-up check

  CaseCache cache_{kMaxCachedCases};
  std::map<std::pair<std::string, int>, Subscription> subs_;

  // The registry as applied: the file, then the configuration events of the log.
  passage::v1::AgencyRegistry registry_;
  std::map<std::string, std::string> revoked_;  // agency -> reason
  // Connections seen per agency (bounded), and those whose key was replaced or revoked.
  std::map<std::string, std::set<std::string>> routes_;
  std::set<std::string> retired_routes_;
  zmq::socket_t admin_;  // REP: live registry changes (OnAdminRequest)
  struct PendingAdmin {
    uint64_t seq = 0;  // the configuration event; answered once it is durable
    v1::ControlResponse reply;
  };
  std::optional<PendingAdmin> admin_pending_;

  // Random per process run, in WELCOME and PONG: lets a client see that the broker restarted
  // behind a connection ZeroMQ re-established by itself.
  const uint64_t run_id_ = std::random_device{}() * 0x100000000ull ^ std::random_device{}() ^
                           static_cast<uint64_t>(NowMs());

  std::unique_ptr<ops::MetricsRegistry> own_metrics_;  // when the options bring none
  BrokerMetrics metrics_;
  int64_t last_gauges_ms_ = 0;
  uint64_t reported_seq_ = 0;       // what the last status line said
  uint64_t reported_delivered_ = 0;
  uint64_t reported_problems_ = 0;
};

}  // namespace

Result<std::unique_ptr<Broker>> Broker::Create(const BrokerOptions& options) {
  auto b = std::make_unique<BrokerImpl>(options);
  RETURN_IF_ERROR(b->Init());
  return std::unique_ptr<Broker>(std::move(b));
}

}  // namespace passage::broker
