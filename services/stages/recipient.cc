#include <spdlog/spdlog.h>

#include <set>

#include "core/codes.h"
#include "core/referral_state_machine.h"
#include "services/stages/stages.h"

namespace passage::stages {
namespace {

namespace v1 = passage::v1;

class RecipientLogic final : public node::StageLogic {
 public:
  explicit RecipientLogic(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }

  void OnLogRestored() override {
    attempted_.clear();
    accepting_.clear();
  }

  void OnTick(node::Node& node) override {
    auto inbox = node.Inbox(/*include_terminal=*/true);
    uint32_t load = 0;
    for (const auto& r : inbox) {
      if (r.status() == v1::REFERRAL_STATUS_ACCEPTED || r.status() == v1::REFERRAL_STATUS_IN_PROGRESS ||
          r.status() == v1::REFERRAL_STATUS_ON_HOLD || r.status() == v1::REFERRAL_STATUS_CANCEL_REQUESTED) {
        ++load;
      }
    }
    // Acceptances queued but not yet confirmed by the broker take a place too.
    for (const auto& r : inbox) {
      if (r.status() == v1::REFERRAL_STATUS_RECEIVED && accepting_.count(r.referral_id()) != 0) {
        ++load;
      }
    }
    const uint32_t capacity = node.self()->capacity();
    for (const auto& r : inbox) {
      if (r.status() == v1::REFERRAL_STATUS_SENT) {
        Receive(node, r);
      } else if (r.status() == v1::REFERRAL_STATUS_RECEIVED && node.config().auto_accept() &&
                 accepting_.count(r.referral_id()) == 0) {
        bool room = capacity == 0 || load < capacity;
        Decide(node, r, room);
        if (room) {
          ++load;
        }
      }
    }
  }

 private:
  void Receive(node::Node& node, const v1::Referral& r) {
    std::string id = node::Node::StableEventId(r.referral_id() + "/received/" + node.agency());
    if (!attempted_.insert(id).second) {
      return;
    }
    Status fetched = node.Fetch(r.case_id(), "referral review");
    if (!fetched.ok()) {
      spdlog::warn("{}: could not read case {} of referral {}: {}", node.agency(), r.case_id(),
                   r.referral_id(), fetched.ToString());
    }
    Move(node, r, id, v1::REFERRAL_STATUS_RECEIVED, v1::REJECT_REASON_UNSPECIFIED, "");
  }

  void Decide(node::Node& node, const v1::Referral& r, bool room) {
    std::string id = node::Node::StableEventId(r.referral_id() + "/decision/" + node.agency());
    if (!attempted_.insert(id).second) {
      return;
    }
    if (room) {
      accepting_.insert(r.referral_id());
      Move(node, r, id, v1::REFERRAL_STATUS_ACCEPTED, v1::REJECT_REASON_UNSPECIFIED,
           "accepted by policy (under declared capacity)");
    } else {
      Move(node, r, id, v1::REFERRAL_STATUS_REJECTED, v1::REJECT_REASON_CAPACITY_FULL,
           "declined by policy: declared capacity of " + std::to_string(node.self()->capacity()) +
               " reached");
    }
  }

  void Move(node::Node& node, const v1::Referral& r, const std::string& event_id,
            v1::ReferralStatus to, v1::RejectReason reason, const std::string& note) {
    v1::Event e;
    e.set_event_id(event_id);
    e.set_case_id(r.case_id());
    e.set_actor_role(v1::ACTOR_ROLE_SYSTEM);
    e.set_actor_user(node.agency() + "/policy");
    auto* t = e.mutable_referral_transition();
    t->set_referral_id(r.referral_id());
    t->set_to(to);
    t->set_reason(reason);
    t->set_note(note);
    auto published = node.Publish(e);
    if (!published.ok()) {
      spdlog::error("{}: could not queue {} of referral {}: {}", node.agency(),
                    core::ReferralStatusName(to), r.referral_id(), published.status().ToString());
      attempted_.erase(event_id);
    }
  }

  std::string name_;
  std::set<std::string> attempted_;  // stable ids already queued in this run
  std::set<std::string> accepting_;  // referrals this run decided to accept
};

}  // namespace

std::unique_ptr<node::StageLogic> MakeRecipientLogic(const std::string& name) {
  return std::make_unique<RecipientLogic>(name);
}

}  // namespace passage::stages
