#include <spdlog/spdlog.h>

#include <map>
#include <optional>
#include <set>

#include "core/case_projection.h"
#include "core/ids.h"
#include "core/validate.h"
#include "services/runtime/sealing.h"
#include "services/stages/stages.h"

namespace passage::stages {
namespace {

namespace v1 = passage::v1;

void Fail(v1::ControlResponse* r, const Status& s) {
  r->set_code(s.code() == StatusCode::kInvalidArgument ? v1::CONTROL_CODE_INVALID
                                                       : v1::CONTROL_CODE_INTERNAL);
  r->set_field(s.field());
  r->set_reason(s.message());
}

class IdentificationLogic final : public node::StageLogic {
 private:
  std::set<std::string> resealed_;  // case/version already handled in this run

 public:
  std::string name() const override { return "identification"; }

  // Keeps the sealed personal data of every case this agency owns readable by exactly the agencies
  // that hold PERSONAL access (accepted referrals whose data scope includes it): when the set
  // changes, the data key is re-wrapped and a ProfileUpdated carries the new seal.
  void OnTick(node::Node& node) override {
    if (node.options().sealing.secret_key.empty()) {
      return;
    }
    for (const auto& id : node.KnownCases()) {
      auto view = node.View(id);
      if (!view.ok()) {
        continue;
      }
      const v1::CaseState& s = (*view)->state();
      if (s.owner_agency() != node.agency() || s.closed() || !s.has_personal() ||
          s.personal().wrapped_keys().empty()) {
        continue;
      }
      std::map<std::string, std::string> readers;
      readers[node.agency()] = node.options().sealing.public_key;
      for (const auto& g : s.access()) {
        if (!core::GrantIncludes(g, v1::DATA_SECTION_PERSONAL) || g.agency_id() == node.agency()) {
          continue;
        }
        const v1::Agency* a = node.directory().Find(g.agency_id());
        auto pk = a == nullptr ? Result<std::string>(Status::NotFound("no agency"))
                               : runtime::FromHex(a->sealing_public_key(), "sealing_public_key");
        if (pk.ok() && pk->size() == 32) {
          readers[g.agency_id()] = *pk;
        }
      }
      std::set<std::string> have;
      for (const auto& w : s.personal().wrapped_keys()) {
        have.insert(w.agency_id());
      }
      std::set<std::string> want;
      for (const auto& [agency, _] : readers) {
        want.insert(agency);
      }
      const std::string key = id + "/" + std::to_string(s.version());
      if (have == want || !resealed_.insert(key).second) {
        continue;
      }
      // The same data key, wrapped for the new set of readers: keys escrowed at intake still
      // open this seal.
      readers.erase(node.agency());
      auto sealed = runtime::Rewrap(s.personal(), node.agency(), node.options().sealing, readers);
      // Sealed before this agency's sealing key was replaced: opened with an earlier one.
      for (const auto& old : node.options().previous_sealing) {
        if (sealed.ok()) break;
        sealed = runtime::Rewrap(s.personal(), node.agency(), old, readers);
      }
      if (!sealed.ok()) {
        spdlog::warn("{}: cannot re-seal case {}: {}", node.agency(), id,
                     sealed.status().ToString());
        continue;
      }
      v1::Event e;
      e.set_case_id(id);
      e.set_actor_role(v1::ACTOR_ROLE_SYSTEM);
      e.set_actor_user(node.agency() + "/sealing");
      auto* u = e.mutable_profile_updated();
      *u->mutable_profile() = s.profile();
      *u->mutable_personal() = std::move(*sealed);
      auto published = node.Publish(std::move(e));
      if (published.ok()) {
        spdlog::info("{}: personal data of case {} re-sealed for {} agencies", node.agency(), id,
                     readers.size());
      }
    }
  }

  std::optional<v1::ControlResponse> OnControl(node::Node& node,
                                               const v1::ControlRequest& req) override {
    if (req.command_case() != v1::ControlRequest::kIntake) {
      return std::nullopt;
    }
    return Intake(node, req.intake());
  }

 private:
  // The agencies whose sealing keys the consents given at intake could cover (consent scopes that
  // share the case, their named agencies or agency types, or any agency when they name none),
  // less this one, system principals and agencies without a sealing key. Errors only from
  // unwrapping this node's own key.
  static Result<v1::Event> Escrow(node::Node& node, const std::string& case_id,
                                  const v1::SealedPersonalData& sealed,
                                  const google::protobuf::RepeatedPtrField<v1::Consent>& consents) {
    std::map<std::string, std::string> readers;
    for (const v1::Agency& a : node.options().registry.agencies()) {
      if (a.id() == node.agency() || a.system_principal() || a.sealing_public_key().empty()) {
        continue;
      }
      bool covered = false;
      for (const v1::Consent& c : consents) {
        const bool shares = c.scope() == v1::CONSENT_SCOPE_SHARE_WITH_AGENCIES ||
                            c.scope() == v1::CONSENT_SCOPE_SERVICES ||
                            c.scope() == v1::CONSENT_SCOPE_LAW_ENFORCEMENT;
        if (!shares) {
          continue;
        }
        bool named = c.agency_ids_size() == 0 && c.agency_types_size() == 0;
        for (const auto& id : c.agency_ids()) {
          named = named || id == a.id();
        }
        for (int t : c.agency_types()) {
          named = named || t == a.type();
        }
        covered = covered || named;
      }
      auto pk = runtime::FromHex(a.sealing_public_key(), "sealing_public_key");
      if (covered && pk.ok() && pk->size() == 32) {
        readers[a.id()] = *pk;
      }
    }
    v1::Event e;
    e.set_case_id(case_id);
    if (readers.empty()) {
      return e;  // no payload: nothing to escrow
    }
    ASSIGN_OR_RETURN(auto keys,
                     runtime::WrapDataKey(sealed, node.agency(), node.options().sealing, readers));
    auto* k = e.mutable_personal_keys_escrowed();
    k->set_seal_nonce(sealed.nonce());
    for (auto& w : keys) {
      *k->add_keys() = std::move(w);
    }
    return e;
  }

  v1::ControlResponse Intake(node::Node& node, const v1::IntakeRequest& in) {
    v1::ControlResponse resp;
    const int64_t now = node.now_ms();
    const std::string case_id = core::NewUuidV7();
    std::vector<v1::Event> events;

    v1::Event opened;
    opened.set_case_id(case_id);
    auto* o = opened.mutable_case_opened();
    o->set_crime_type(in.crime_type());
    v1::PersonRole role = in.person_role();
    if (role == v1::PERSON_ROLE_UNSPECIFIED) {
      role = in.crime_type() == v1::CRIME_TYPE_SOM ? v1::PERSON_ROLE_SMUGGLED_MIGRANT
                                                   : v1::PERSON_ROLE_PRESUMED_VICTIM;
    }
    o->set_person_role(role);
    *o->mutable_profile() = in.profile();
    if (Status s = core::NormalizeProfile(o->mutable_profile(), "profile"); !s.ok()) {
      Fail(&resp, s);
      return resp;
    }
    if (in.has_personal()) {
      // Checked before sealing: once sealed, nothing downstream can read it to check.
      if (Status s = core::ValidatePersonalData(in.personal(), o->profile(), now, "personal");
          !s.ok()) {
        Fail(&resp, s);
        return resp;
      }
      // Sealed here, for this agency only; sharing with recipients re-wraps the data key.
      std::map<std::string, std::string> readers;
      if (node.options().sealing.public_key.empty()) {
        Fail(&resp, Status::InvalidArgument("personal",
                                            "this node has no sealing key "
                                            "(sealing_key_file); personal data cannot be "
                                            "recorded"));
        return resp;
      }
      readers[node.agency()] = node.options().sealing.public_key;
      auto sealed = runtime::Seal(in.personal(), readers, node.options().person_secret);
      if (!sealed.ok()) {
        Fail(&resp, sealed.status());
        return resp;
      }
      if (!node.options().person_secret.empty()) {
        sealed->set_person_key(
            runtime::PersonKey(in.personal(), o->profile().sex(), node.options().person_secret));
      }
      *o->mutable_personal() = std::move(*sealed);
    }
    events.push_back(std::move(opened));
    std::optional<v1::Event> escrow_event;  // published after the consents
    if (in.has_personal()) {
      // The key for every agency the consents could let the case be shared with, left with the
      // broker, which hands one out only to an agency that accepted a referral sharing PERSONAL:
      // recipients can open the data even while this node is offline (docs/security.md).
      auto escrow = Escrow(node, case_id, events.back().case_opened().personal(), in.consents());
      if (!escrow.ok()) {
        Fail(&resp, escrow.status());
        return resp;
      }
      if (escrow->has_personal_keys_escrowed()) {
        escrow_event = std::move(*escrow);
      }
    }

    v1::Event ident;
    ident.set_case_id(case_id);
    auto* id = ident.mutable_identification_recorded();
    id->set_trafficking_status(in.trafficking_status() == v1::TRAFFICKING_STATUS_UNSPECIFIED
                                   ? v1::TRAFFICKING_STATUS_POSSIBLE
                                   : in.trafficking_status());
    id->set_crime_type(in.crime_type());
    id->set_person_role(role);
    id->set_channel(in.profile().identification_channel());
    id->set_screening_tool(in.screening_tool());
    events.push_back(std::move(ident));

    for (int i = 0; i < in.consents_size(); ++i) {
      v1::Event c;
      c.set_case_id(case_id);
      auto* consent = c.mutable_consent_given()->mutable_consent();
      *consent = in.consents(i);
      if (consent->consent_id().empty()) {
        consent->set_consent_id(core::NewUuidV7());
      }
      if (consent->given_at_ms() == 0) {
        consent->set_given_at_ms(now);
      }
      events.push_back(std::move(c));
    }

    if (escrow_event) {
      events.push_back(std::move(*escrow_event));
    }

    // Validate everything before anything is published: a bad intake records nothing.
    for (size_t i = 0; i < events.size(); ++i) {
      auto& e = events[i];
      e.set_event_id(core::NewUuidV7());
      e.set_actor_agency(node.agency());
      e.set_occurred_at_ms(now);
      // The signed-in person (Node::Publish sets the same); validated as the broker will see it.
      if (node.actor() != nullptr) {
        e.set_actor_user(node.actor()->account.staff_id());
        e.set_actor_role(node.acting_role());
      } else {
        e.set_actor_role(v1::ACTOR_ROLE_CASE_WORKER);
      }
      Status s = core::ValidateEvent(e, now);
      if (!s.ok()) {
        // Consents are numbered as the caller gave them.
        std::string field = s.field();
        if (e.has_consent_given()) {
          field = "consents[" + std::to_string(i - 2) + "]" +
                  field.substr(std::string("consent_given.consent").size());
        } else if (field.rfind("case_opened.", 0) == 0) {
          field = field.substr(std::string("case_opened.").size());
        } else if (field.rfind("identification_recorded.", 0) == 0) {
          field = field.substr(std::string("identification_recorded.").size());
        }
        Fail(&resp, Status::InvalidArgument(field, s.message()));
        return resp;
      }
    }
    // Duplicate-person check, before this case is in the log: a warning, never a refusal.
    std::vector<std::pair<std::string, std::string>> duplicates;  // agency, case
    std::string duplicate_note;
    const std::string& person_key = events.front().case_opened().personal().person_key();
    if (!person_key.empty()) {
      v1::ClientFrame ask;
      ask.mutable_person_lookup()->set_person_key(person_key);
      auto reply = node.client().Call(ask, 2000);
      if (reply.ok() && reply->has_person_matches()) {
        for (const auto& m : reply->person_matches().matches()) {
          duplicates.emplace_back(m.agency_id(), m.case_id());
        }
      } else {
        duplicate_note = "\nnote: the duplicate-person check could not be made (the broker did not "
                         "answer); the case is recorded all the same";
      }
    }
    // Numbered only once the intake is known to be valid, so a refused form uses no number.
    auto reference = node.NextCaseReference(now);
    if (!reference.ok()) {
      Fail(&resp, reference.status());
      return resp;
    }
    events.front().mutable_case_opened()->set_reference(*reference);
    std::vector<std::string> ids;
    for (auto& e : events) {
      auto published = node.Publish(e);
      if (!published.ok()) {
        Fail(&resp, published.status());
        return resp;
      }
      ids.push_back(*published);
    }
    node.AwaitResults(ids, 10000, &resp);
    resp.add_case_ids(case_id);
    if (resp.code() == v1::CONTROL_CODE_OK) {
      std::string text = "opened case " + *reference + " (id " + case_id + ", " +
                         std::to_string(in.consents_size()) + " consent(s) recorded)";
      std::string json = "[";
      for (const auto& [agency, other] : duplicates) {
        const v1::Agency* a = node.directory().Find(agency);
        text += "\nwarning: a case for this person may already exist at " +
                (a != nullptr && !a->name().empty() ? a->name() + " (" + agency + ")" : agency) +
                ", case " + other;
        json += (json.size() > 1 ? "," : "") + std::string("{\"agency_id\":\"") + agency +
                "\",\"case_id\":\"" + other + "\"}";
      }
      resp.set_text(text + duplicate_note);
      resp.set_json("{\"case_id\":\"" + case_id + "\",\"reference\":\"" + *reference +
                    "\",\"events\":" + std::to_string(ids.size()) +
                    ",\"possible_duplicates\":" + json + "]}");
    }
    return resp;
  }
};

}  // namespace

std::unique_ptr<node::StageLogic> MakeIdentificationLogic() {
  return std::make_unique<IdentificationLogic>();
}

}  // namespace passage::stages
