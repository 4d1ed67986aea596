#pragma once

// Notifier: the node's optional hook for people away from the workspace (NodeConfig.notify_command).
// When a referral arrives for this agency, falls due within a day, or goes overdue while still
// unanswered, the node runs the agency's own command (e-mail or SMS through the agency's gateway),
// without a shell:
//
//   COMMAND EVENT REFERRAL_ID CASE_REFERENCE SERVICE PRIORITY RESPOND_BY_UTC
//
// EVENT is new_referral (the first call; RESPOND_BY_UTC says how urgent), due_soon (later, when a
// referral that arrived with more than a day to answer has less), or overdue (its time passed
// unanswered; also the first call for a referral first seen late). No personal data is ever an
// argument. Each (referral, event) is notified once, recorded in the node's store before the
// command starts (a crash may lose a notification, never repeat one). A command that runs longer
// than 10 s is killed; a failing exit status is logged.
//
// Thread-safety: the node's thread only.

#include <string>
#include <vector>

#include "core/status.h"
#include "passage/v1/referral.pb.h"
#include "services/runtime/local_store.h"

namespace passage::node {

// The detection the notifier and the webhooks (services/node/webhooks.h) share: the notice `r`
// calls for at `now_ms` — "new_referral", "due_soon", "overdue" — or nullptr. Only referrals to
// `agency` still waiting for an answer (SENT, RECEIVED) call for one. What was given before is read
// from `store` under `prefix` + referral id; the notice given now (and the ones it makes moot: an
// overdue one is no longer due soon) is recorded in `w`, which the caller writes. Each notice is
// given once per prefix: the notifier and the webhooks keep their own records.
const char* NextNotice(const passage::v1::Referral& r, const std::string& agency, int64_t now_ms,
                       const runtime::LocalStore& store, const std::string& prefix,
                       runtime::StateWrite* w);

class Notifier {
 public:
  Notifier(std::string command, runtime::LocalStore* store, std::string agency);
  ~Notifier();

  // Looks at the agency's unanswered referrals and starts the command for what is new; reaps and
  // times out commands started earlier.
  void Check(const std::vector<passage::v1::Referral>& inbox, int64_t now_ms);

 private:
  struct Running {
    int pid;
    int64_t started_ms;
    std::string what;
  };
  void Start(const std::string& event, const passage::v1::Referral& r);
  void Reap(int64_t now_ms);

  std::string command_;
  runtime::LocalStore* store_;
  std::string agency_;
  std::vector<Running> running_;
};

}  // namespace passage::node
