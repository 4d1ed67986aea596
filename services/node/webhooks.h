#pragma once

// Webhooks: the node's signed calls to the agency's own case system (NodeConfig.webhooks; the
// receiver's contract is docs/webhooks.md). Four kinds of call: new_referral (a referral to this
// agency arrived), state_change (a referral this agency sent or received moved), due_soon and
// overdue (an unanswered referral to this agency; found by NextNotice, services/node/notifier.h,
// the detection the notify command uses).
//
// What this component owns: the durable webhook queue in the node's LocalStore, under "wh/" keys
// that nothing else reads or writes:
//
//   wh/q/<endpoint>/<seq: 8 bytes big-endian>  ->  the call's JSON body, the exact bytes sent
//   wh/next/<endpoint>                        ->  the last seq given to that endpoint (decimal)
//   wh/id/<call id>                           ->  "" : this call was queued (a fact seen twice,
//                                                 e.g. after the journal was read again, once)
//   wh/notice/<referral id>/<kind>            ->  Unix ms: the notices given (NextNotice records)
//
// Operation: the node's thread calls Queue() with the StateWrite that records the fact (the
// journal entry of a delivery, of an own event the broker acknowledged, or the notice record), so
// a call is durable before anything is sent and exists exactly when the fact does. One dispatcher
// thread per endpoint sends its queue in seq order (hence in order per case), one call at a time,
// and deletes a call only after a 2xx answer. A failed call (no connection, TLS refused, timeout,
// any other status) is tried again after 1 s, 2 s, 4 s ... at most 60 s apart, so an endpoint back
// after hours has everything within a minute. A restart resumes the queue where it stopped; a call
// may then be sent twice (sent, the node died before deleting it): receivers dedupe on the id.
//
// Metrics (docs/operations.md), by endpoint name: passage_node_webhook_queued (calls waiting),
// passage_node_webhook_failures_total, passage_node_webhook_delivered_total and
// passage_node_webhook_last_success_age_seconds. The log says when an endpoint starts failing
// and when it recovers, not at every retry.
//
// Thread-safety: Queue() from the node's thread only. The dispatchers touch only their own
// endpoint's wh/q/ keys. The destructor stops and joins the dispatchers (a call in flight may
// take up to its timeout).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "ops/metrics.h"
#include "passage/v1/config.pb.h"
#include "passage/v1/referral.pb.h"
#include "services/runtime/local_store.h"

namespace passage::node {

// One call to make: what happened to which referral, and when.
struct WebhookNotice {
  std::string type;  // new_referral, state_change, due_soon or overdue
  // Stable for the fact (Node::StableEventId of its kind, referral and event), so that queueing
  // the same fact again is recognised and a receiver can dedupe on it.
  std::string id;
  passage::v1::Referral referral;  // its state after the fact; case_id set
  int64_t occurred_at_ms = 0;
};

// The JSON body of a call: id, sequence, type, case_id, case_reference, referral_id,
// from_agency, to_agency, service, priority, status, respond_by, occurred_at. Ids, codes and
// times only: never a name, narrative or note (personal data stays behind the node's API).
std::string WebhookBody(const WebhookNotice& n, uint64_t sequence);

// The Passage-Signature header value: "t=<unix_s>,v1=<hex HMAC-SHA256(secret, t + "." + body)>".
std::string WebhookSignature(std::string_view secret, int64_t unix_s, std::string_view body);

// A webhook URL taken apart. https always; http only on a loopback host.
struct WebhookUrl {
  bool tls = true;
  std::string host;  // without brackets for IPv6
  int port = 443;
  std::string path;  // "/" when none; query included
};
// InvalidArgument with the reason (the field is left to the caller) when `url` is not one.
Result<WebhookUrl> ParseWebhookUrl(std::string_view url);

// What is wrong with one configured endpoint, as (field relative to the endpoint, reason) pairs;
// empty when it is usable. Reads secret_file (and checks its mode) and ca_file; `secret`, when
// given, receives the secret.
struct WebhookProblem {
  std::string field;
  std::string reason;
};
std::vector<WebhookProblem> CheckWebhookEndpoint(const passage::v1::WebhookEndpoint& e,
                                                 std::string* secret = nullptr);

struct WebhookOptions {
  std::vector<passage::v1::WebhookEndpoint> endpoints;
  runtime::LocalStore* store = nullptr;      // not owned; outlives the Webhooks
  ops::MetricsRegistry* metrics = nullptr;   // not owned; outlives the Webhooks
  std::string agency;                        // this node's agency (the log lines)
};

class Webhooks {
 public:
  // Checks every endpoint (InvalidArgument naming "webhooks[i].field" and the reason), reads the
  // secrets and the queue positions and starts one dispatcher per endpoint.
  static Result<std::unique_ptr<Webhooks>> Start(WebhookOptions options);
  ~Webhooks();
  Webhooks(const Webhooks&) = delete;
  Webhooks& operator=(const Webhooks&) = delete;

  // Adds a call of `n` for every endpoint that takes its type to `w`, unless a call with its id
  // was queued before. True when something was added. The caller writes `w`.
  bool Queue(const WebhookNotice& n, runtime::StateWrite* w);
  // Whether any endpoint takes calls of `type`.
  bool Wants(std::string_view type) const;

 private:
  struct Endpoint;
  explicit Webhooks(WebhookOptions options);
  void Dispatch(Endpoint* ep);

  WebhookOptions options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
};

}  // namespace passage::node
