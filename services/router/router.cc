#include <spdlog/spdlog.h>

#include <fstream>
#include <set>
#include <sstream>

#include "core/case_projection.h"
#include "core/codes.h"
#include "core/referral_state_machine.h"
#include "core/routing.h"
#include "core/text_proto.h"
#include "core/validate.h"
#include "services/node/node.h"

// passage-router: the referral engine. It reads the whole log (ALL_READABLE, replayed on every
// start, so deadlines and pending escalations survive restarts), and for every case it applies the
// routing rules: referrals on behalf of the case owner, expiry of overdue referrals, re-referral to
// the next eligible agency after a decline or an expiry, and cancellation of live referrals when the
// victim withdraws the consent they rely on. Every move it makes has a stable event id, so a repeat
// after a crash is recognised by the broker as the same event.

namespace passage::router {
namespace {

namespace v1 = passage::v1;

class RouterLogic final : public node::StageLogic {
 public:
  std::string name() const override { return "router"; }
  v1::Selector selector() const override { return v1::SELECTOR_ALL_READABLE; }
  bool replay_on_start() const override { return true; }

  void OnDelivered(node::Node& node, const v1::Envelope& env, const v1::Event& e) override {
    if (!env.case_id().empty()) {
      dirty_.insert(env.case_id());
    }
    if (core::IsConfigurationEvent(e)) {
      // A registry change made live on the broker: rebuild the roster (file + every change) and
      // check the rules again at the next tick, so a new agency is routed to, a revoked one not.
      registry_changes_.push_back(e);
      loaded_ = false;
      for (const auto& id : node.KnownCases()) dirty_.insert(id);
    }
  }

  void OnTick(node::Node& node) override {
    if (!loaded_ && !Load(node)) {
      return;
    }
    const int64_t now = node.now_ms();
    core::AgencyLoad load;
    size_t unplaced = 0;
    const bool count_unplaced = unplaced_ != nullptr && node.serves_metrics();
    for (const auto& id : node.KnownCases()) {
      auto view = node.View(id);
      if (view.ok()) {
        core::CountLoad((*view)->state(), &load);
        if (count_unplaced) {
          unplaced += core::UnplacedNeeds((*view)->state()).size();
        }
      }
    }
    if (count_unplaced) {
      unplaced_->Set(static_cast<double>(unplaced));
    }
    std::set<std::string> work = std::move(dirty_);
    dirty_.clear();
    work.insert(watch_.begin(), watch_.end());
    for (const auto& id : work) {
      auto view = node.View(id);
      if (!view.ok() || !(*view)->exists()) {
        continue;
      }
      Route(node, (*view)->state(), load, now);
    }
  }

 private:
  // Reads the rules and checks each against the registry on its own: a rule that cannot be used
  // (no registered agency could receive it, a consent scope that covers none of them, ...) is
  // reported and skipped, and every other rule routes. Only an unreadable file stops routing.
  bool Load(node::Node& node) {
    const std::string& path = node.config().rules_file();
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    v1::RuleSet all;
    Status s = in ? core::ParseConfigText(ss.str(), path, &all)
                  : Status::NotFound("cannot read the rules file '" + path + "'");
    if (s.ok()) {
      auto roster = core::AgencyRoster::FromRegistry(node.options().registry);
      if (!roster.ok()) {
        s = roster.status();
      } else {
        roster_ = std::move(roster).value();
        for (const auto& change : registry_changes_) {
          roster_.Apply(change);
        }
      }
    }
    if (!s.ok()) {
      if (load_error_ != s.ToString()) {  // said once, not at every tick
        load_error_ = s.ToString();
        spdlog::critical("router: {}; no referral will be made until the rules are fixed",
                         load_error_);
      }
      problems_ = {"no routing: " + load_error_};
      return false;
    }
    auto& metrics = node.metrics();
    if (broken_family_ == nullptr) {  // registered once; a reload after a registry change reuses them
      broken_family_ = &metrics.AddGaugeFamily(
          "passage_router_rule_broken",
          "1 for each routing rule the engine cannot use and skips (passagectl status says why).",
          {"rule"});
      in_use_ = &metrics.AddGauge("passage_router_rules_in_use", "Routing rules the engine applies.");
      broken_ = &metrics.AddGauge("passage_router_rules_broken", "Routing rules the engine skips.");
      unplaced_ = &metrics.AddGauge(
          "passage_router_unplaced_needs",
          "Needs of open cases that no agency has taken: every referral for the service ended "
          "without it.");
    }
    auto& broken_family = *broken_family_;
    problems_.clear();
    rules_.clear_rules();
    std::set<std::string> names;
    for (const auto& rule : all.rules()) {
      v1::RuleSet one;
      *one.add_rules() = rule;
      Status r = core::ValidateRuleSet(one, roster_);
      if (r.ok() && !names.insert(rule.name()).second) {
        r = Status::InvalidArgument("name", "rule name '" + rule.name() + "' is used twice");
      }
      broken_family.With({rule.name()}).Set(r.ok() ? 0 : 1);
      if (!r.ok()) {
        std::string why = r.field().rfind("rules[0].", 0) == 0 ? r.field().substr(9) + ": " + r.message()
                                                               : r.ToString();
        problems_.push_back("rule '" + rule.name() + "' is skipped: " + why);
        spdlog::critical("router: rule '{}' cannot be used and is skipped ({}); the other rules "
                         "route",
                         rule.name(), why);
        continue;
      }
      *rules_.add_rules() = rule;
    }
    in_use_->Set(rules_.rules_size());
    broken_->Set(static_cast<double>(problems_.size()));
    loaded_ = true;
    spdlog::info("router: {} routing rules in use from {}{}", rules_.rules_size(), path,
                 problems_.empty() ? "" : ", " + std::to_string(problems_.size()) + " skipped");
    return true;
  }

  std::vector<std::string> Problems() const override { return problems_; }

  void OnLogRestored() override {
    attempted_.clear();
    reported_.clear();
    dirty_.clear();
    watch_.clear();
  }

  void Publish(node::Node& node, v1::Event e, const std::string& what) {
    if (!attempted_.insert(e.event_id()).second) {
      return;
    }
    e.set_actor_role(v1::ACTOR_ROLE_SYSTEM);
    e.set_actor_user("nrm-router");
    auto r = node.Publish(std::move(e));
    if (!r.ok()) {
      spdlog::error("router: could not queue {}: {}", what, r.status().ToString());
    } else {
      spdlog::info("router: {}", what);
    }
  }

  void Send(node::Node& node, const v1::CaseState& s, core::PlannedReferral p) {
    v1::Event e;
    e.set_event_id(node::Node::StableEventId("router/send/" + p.referral.referral_id()));
    e.set_case_id(s.case_id());
    std::string what = "referral " + p.referral.referral_id() + " of case " + s.case_id() + " to " +
                       p.referral.to_agency() + " (" + p.rule +
                       (p.referral.parent_referral_id().empty() ? ")" : ", escalation)");
    *e.mutable_referral_sent()->mutable_referral() = std::move(p.referral);
    Publish(node, std::move(e), what);
  }

  void Move(node::Node& node, const v1::CaseState& s, const v1::Referral& r, v1::ReferralStatus to,
            bool consent_withdrawn, const std::string& note) {
    v1::Event e;
    e.set_event_id(node::Node::StableEventId("router/" + core::ReferralStatusName(to) + "/" +
                                             r.referral_id()));
    e.set_case_id(s.case_id());
    auto* t = e.mutable_referral_transition();
    t->set_referral_id(r.referral_id());
    t->set_to(to);
    t->set_consent_withdrawn(consent_withdrawn);
    t->set_note(note);
    Publish(node, std::move(e),
            "referral " + r.referral_id() + " -> " + core::ReferralStatusName(to) + " (" + note + ")");
  }

  void Route(node::Node& node, const v1::CaseState& s, core::AgencyLoad& load, int64_t now) {
    bool pending = false;
    // Consent withdrawn: live referrals relying on it are cancelled.
    for (const auto& r : s.referrals()) {
      if (!core::IsLive(r.status()) || r.consent_id().empty()) {
        continue;
      }
      const auto* c = core::FindConsent(s, r.consent_id());
      if (c != nullptr && c->withdrawn_at_ms() != 0) {
        Move(node, s, r, v1::REFERRAL_STATUS_CANCELLED, true, "the victim withdrew consent");
      }
    }
    // Deadlines.
    for (const auto& id : core::OverdueReferrals(s, now)) {
      if (const auto* r = core::FindReferral(s, id)) {
        Move(node, s, *r, v1::REFERRAL_STATUS_EXPIRED, false, "respond-by time passed");
      }
    }
    // Escalation after a decline or an expiry.
    for (const auto& r : s.referrals()) {
      if (r.status() != v1::REFERRAL_STATUS_REJECTED && r.status() != v1::REFERRAL_STATUS_EXPIRED) {
        continue;
      }
      std::string why;
      auto next = core::PlanEscalation(s, r, rules_, roster_, load, now, &why);
      if (next) {
        Send(node, s, std::move(*next));
      } else if (reported_.insert("esc/" + r.referral_id()).second) {
        spdlog::info("router: no escalation for referral {}: {}", r.referral_id(), why);
      }
    }
    // New referrals the rules call for.
    auto plan = core::PlanReferrals(s, rules_, roster_, load, now);
    for (auto& p : plan.planned) {
      Send(node, s, std::move(p));
    }
    for (const auto& why : plan.skipped) {
      if (reported_.insert(s.case_id() + "/" + why).second) {
        spdlog::info("router: case {}: {}", s.case_id(), why);
      }
    }
    for (const auto& r : s.referrals()) {
      if (r.status() == v1::REFERRAL_STATUS_SENT || r.status() == v1::REFERRAL_STATUS_RECEIVED) {
        pending = true;
      }
    }
    if (pending) {
      watch_.insert(s.case_id());
    } else {
      watch_.erase(s.case_id());
    }
  }

  bool loaded_ = false;
  std::string load_error_;               // the last reason the rules could not be read
  std::vector<std::string> problems_;    // for passagectl status
  ops::MetricsRegistry::GaugeFamily* broken_family_ = nullptr;  // registered at the first load
  ops::Gauge* in_use_ = nullptr;
  ops::Gauge* broken_ = nullptr;
  ops::Gauge* unplaced_ = nullptr;        // passage_router_unplaced_needs
  std::vector<v1::Event> registry_changes_;  // configuration events read from the log
  v1::RuleSet rules_;                    // the rules in use
  core::AgencyRoster roster_;
  std::set<std::string> dirty_;      // cases with new events
  std::set<std::string> watch_;      // cases with referrals awaiting an answer (deadlines)
  std::set<std::string> attempted_;  // stable event ids queued in this run
  std::set<std::string> reported_;
};

}  // namespace
}  // namespace passage::router

int main(int argc, char** argv) {
  return passage::node::NodeMain(argc, argv, "passage-router", [] {
    return std::unique_ptr<passage::node::StageLogic>(new passage::router::RouterLogic());
  });
}
