#include "core/case_projection.h"

#include "core/notes.h"
#include "core/case_work.h"
#include "core/offences.h"

#include "core/case_reference.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "core/codes.h"
#include "core/roles.h"
#include "core/validate.h"

namespace passage::core {
namespace {

using passage::v1::AccessGrant;
using passage::v1::Agency;
using passage::v1::CaseState;
using passage::v1::Consent;
using passage::v1::DataSection;
using passage::v1::Event;
using passage::v1::Referral;
using passage::v1::ReferralStatus;

std::string Quoted(std::string_view s) {
  std::string out = "'";
  out += s;
  out += "'";
  return out;
}

Status Refuse(std::string message, std::string field) {
  return Status::FailedPrecondition(std::move(message), std::move(field));
}

Status Deny(std::string message, std::string field) {
  return Status::PermissionDenied(std::move(message), std::move(field));
}

std::string PayloadName(const Event& e) {
  const google::protobuf::FieldDescriptor* f =
      Event::descriptor()->FindFieldByNumber(static_cast<int>(e.payload_case()));
  return f == nullptr ? std::string("payload") : f->name();
}

std::string SectionName(int section) {
  return ShortEnumName(passage::v1::DataSection_descriptor(), section);
}

std::string RoleName(int role) { return ShortEnumName(passage::v1::ActorRole_descriptor(), role); }

bool IsLawEnforcementRecipient(const Agency& recipient, passage::v1::ServiceType service) {
  switch (recipient.type()) {
    case passage::v1::AGENCY_TYPE_LAW_ENFORCEMENT:
    case passage::v1::AGENCY_TYPE_PROSECUTION:
    case passage::v1::AGENCY_TYPE_COURT:
      return true;
    default:
      break;
  }
  return service == passage::v1::SERVICE_TYPE_INVESTIGATION ||
         service == passage::v1::SERVICE_TYPE_PROSECUTION;
}

bool IsProtectionService(passage::v1::ServiceType service) {
  switch (service) {
    case passage::v1::SERVICE_TYPE_SHELTER:
    case passage::v1::SERVICE_TYPE_MEDICAL:
    case passage::v1::SERVICE_TYPE_PSYCHOSOCIAL:
    case passage::v1::SERVICE_TYPE_LEGAL_AID:
    case passage::v1::SERVICE_TYPE_CHILD_PROTECTION:
    case passage::v1::SERVICE_TYPE_INTERPRETATION:
    case passage::v1::SERVICE_TYPE_LIVELIHOOD:
    case passage::v1::SERVICE_TYPE_OTHER:
      return true;
    default:
      return false;
  }
}

bool IsClosingMilestone(passage::v1::ProceedingMilestone m) {
  return m == passage::v1::PROCEEDING_MILESTONE_VERDICT_CONVICTION ||
         m == passage::v1::PROCEEDING_MILESTONE_VERDICT_ACQUITTAL ||
         m == passage::v1::PROCEEDING_MILESTONE_DISMISSED;
}

// A live referral that was accepted: its recipient may read the case within its data scope.
bool GrantsAccess(const Referral& r) { return IsLive(r.status()) && WasAccepted(r); }

Referral* FindMutableReferral(CaseState* state, std::string_view id) {
  for (Referral& r : *state->mutable_referrals()) {
    if (r.referral_id() == id) {
      return &r;
    }
  }
  return nullptr;
}

Consent* FindMutableConsent(CaseState* state, std::string_view id) {
  for (Consent& c : *state->mutable_consents()) {
    if (c.consent_id() == id) {
      return &c;
    }
  }
  return nullptr;
}

// Stored form of a profile: normalised where it can be (Apply must not fail), with the
// registration year derived from the case's opening time when unspecified.
passage::v1::Profile StoredProfile(const passage::v1::Profile& given, int64_t opened_at_ms) {
  passage::v1::Profile p = given;
  if (!NormalizeProfile(&p, "").ok()) {
    p = given;
  }
  if (p.year_of_registration() == 0 && !p.year_of_registration_unknown() && opened_at_ms != 0) {
    p.set_year_of_registration(UtcYearOfMs(opened_at_ms));
  }
  return p;
}

void RecomputeAccess(CaseState* state) {
  struct Grant {
    std::set<int> sections;
    std::set<std::string> via;
  };
  std::map<std::string, Grant> grants;
  if (!state->owner_agency().empty()) {
    Grant& owner = grants[state->owner_agency()];
    for (DataSection s : AllDataSections()) {
      owner.sections.insert(s);
    }
  }
  for (const Referral& r : state->referrals()) {
    if (!GrantsAccess(r) || r.to_agency().empty() || r.to_agency() == state->owner_agency()) {
      continue;
    }
    Grant& g = grants[r.to_agency()];
    for (int s : r.data_scope()) {
      g.sections.insert(s);
    }
    g.via.insert(r.referral_id());
  }
  state->clear_access();
  for (const auto& [agency, grant] : grants) {
    AccessGrant* out = state->add_access();
    out->set_agency_id(agency);
    for (int s : grant.sections) {
      out->add_sections(static_cast<DataSection>(s));
    }
    for (const std::string& id : grant.via) {
      out->add_via_referrals(id);
    }
  }
}

void RecomputeStages(CaseState* state) {
  state->clear_stages();
  if (state->closed()) {
    state->add_stages(passage::v1::STAGE_CLOSED);
    return;
  }
  bool referral = false;
  bool protection = false;
  bool criminal_justice = false;
  bool returning = state->returned_at_ms() != 0;
  for (const Referral& r : state->referrals()) {
    const bool accepted = WasAccepted(r);
    if (IsLive(r.status()) && !accepted) {
      referral = true;
    }
    if (IsProtectionService(r.service()) &&
        ((IsLive(r.status()) && accepted) ||
         r.status() == passage::v1::REFERRAL_STATUS_COMPLETED)) {
      protection = true;
    }
    if (r.service() == passage::v1::SERVICE_TYPE_RETURN_REINTEGRATION && IsLive(r.status()) &&
        accepted) {
      returning = true;
    }
  }
  for (const passage::v1::ServiceRecord& s : state->services()) {
    if (IsProtectionService(s.service())) {
      protection = true;
    }
  }
  for (int i = state->proceedings_size() - 1; i >= 0; --i) {
    const passage::v1::ProceedingMilestone m = state->proceedings(i).milestone();
    if (m == passage::v1::PROCEEDING_MILESTONE_COMPENSATION_ORDERED) {
      continue;
    }
    criminal_justice = !IsClosingMilestone(m);
    break;
  }
  if (referral) {
    state->add_stages(passage::v1::STAGE_REFERRAL);
  }
  if (protection) {
    state->add_stages(passage::v1::STAGE_PROTECTION);
  }
  if (criminal_justice) {
    state->add_stages(passage::v1::STAGE_CRIMINAL_JUSTICE);
  }
  if (returning) {
    state->add_stages(passage::v1::STAGE_RETURN_REINTEGRATION);
  }
  if (state->stages_size() == 0) {
    state->add_stages(state->referrals_size() == 0 ? passage::v1::STAGE_IDENTIFICATION
                                                   : passage::v1::STAGE_REFERRAL);
  }
  // Added in enum order above, so already sorted.
}

// Appends the case's classification when it differs from the last one kept.
void AddClassification(CaseState* state, int64_t at, const std::string& by) {
  const int n = state->classifications_size();
  if (n > 0 && state->classifications(n - 1).crime_type() == state->crime_type() &&
      state->classifications(n - 1).person_role() == state->person_role()) {
    return;
  }
  passage::v1::Classification* c = state->add_classifications();
  c->set_crime_type(state->crime_type());
  c->set_person_role(state->person_role());
  c->set_at_ms(at);
  c->set_by_agency(by);
}

// Who may do what, for the events that need access to the case.
Status RequireAccess(const CaseState& state, const Event& e) {
  if (FindAccess(state, e.actor_agency()) == nullptr) {
    return Deny("agency " + Quoted(e.actor_agency()) +
                    " has no access to this case (it is neither the owner nor the recipient of " +
                    "an accepted referral)",
                "actor_agency");
  }
  return Status::Ok();
}

Status RequireOwner(const CaseState& state, const Event& e, std::string_view what) {
  if (e.actor_agency() != state.owner_agency()) {
    return Deny("only the case owner (" + state.owner_agency() + ") may " + std::string(what),
                "actor_agency");
  }
  return Status::Ok();
}

// A seal of the case's personal data opens for the owner and for the agencies whose live, accepted
// referral shares PERSONAL (their access grant includes it), and for no one else: a wrapped key
// stays in the log for good, so one for an agency that declined, has not accepted, or no longer
// holds the case could never be taken back. The owner's node re-seals when that set changes.
Status CheckPersonalReaders(const CaseState& state, const std::string& owner,
                            const passage::v1::SealedPersonalData& sealed,
                            const std::string& field) {
  for (int i = 0; i < sealed.wrapped_keys_size(); ++i) {
    const std::string& id = sealed.wrapped_keys(i).agency_id();
    if (id == owner) {
      continue;
    }
    const AccessGrant* grant = FindAccess(state, id);
    if (grant == nullptr || !GrantIncludes(*grant, passage::v1::DATA_SECTION_PERSONAL)) {
      return Deny("the personal data cannot be sealed for agency " + Quoted(id) +
                      ": no live accepted referral of this case shares PERSONAL with it",
                  field + ".wrapped_keys[" + std::to_string(i) + "].agency_id");
    }
  }
  return Status::Ok();
}

Status CheckReferralSent(const CaseState& state, const Event& e, const AgencyDirectory& agencies) {
  const Referral& r = e.referral_sent().referral();
  const std::string prefix = "referral_sent.referral.";
  const std::string& sender = r.from_agency().empty() ? e.actor_agency() : r.from_agency();
  Side side = Side::kSender;
  if (sender != e.actor_agency()) {
    if (e.actor_role() != passage::v1::ACTOR_ROLE_SYSTEM ||
        !agencies.IsSystemPrincipal(e.actor_agency())) {
      return Deny("agency " + Quoted(e.actor_agency()) + " may not send a referral on behalf of " +
                      Quoted(sender) + "; only the system (referral engine) may",
                  prefix + "from_agency");
    }
    side = Side::kSystem;
  }
  const Agency* sending = agencies.Find(sender);
  if (sending == nullptr) {
    return Deny("the sending agency " + Quoted(sender) + " is not registered",
                prefix + "from_agency");
  }
  const AccessGrant* grant = FindAccess(state, sender);
  if (grant == nullptr) {
    return Deny("agency " + Quoted(sender) +
                    " may send referrals only for a case it owns or has accepted a referral for",
                prefix + "from_agency");
  }
  if (r.kind() == passage::v1::REFERRAL_KIND_TRANSFER && sender != state.owner_agency()) {
    return Deny("only the case owner (" + state.owner_agency() + ") may transfer the case",
                prefix + "kind");
  }
  for (int i = 0; i < r.data_scope_size(); ++i) {
    if (!GrantIncludes(*grant, static_cast<DataSection>(r.data_scope(i)))) {
      return Deny("agency " + Quoted(sender) + " cannot share section " +
                      SectionName(r.data_scope(i)) + ", which it may not read itself",
                  prefix + "data_scope[" + std::to_string(i) + "]");
    }
  }
  if (FindReferral(state, r.referral_id()) != nullptr) {
    return Refuse("referral " + r.referral_id() + " already exists in this case",
                  prefix + "referral_id");
  }
  if (!r.parent_referral_id().empty() && FindReferral(state, r.parent_referral_id()) == nullptr) {
    return Refuse("the parent referral " + r.parent_referral_id() + " is not in this case",
                  prefix + "parent_referral_id");
  }
  const Agency* recipient = agencies.Find(r.to_agency());
  if (recipient == nullptr) {
    return Refuse("the recipient agency " + Quoted(r.to_agency()) + " is not registered",
                  prefix + "to_agency");
  }
  if (r.to_agency() == sender) {
    return Refuse("an agency cannot refer a case to itself", prefix + "to_agency");
  }
  for (int i = 0; i < r.data_scope_size(); ++i) {
    const auto section = static_cast<DataSection>(r.data_scope(i));
    if (!agencies.crime_policy().MayHold(*recipient, section)) {
      // Neither a consent nor an override opens the crime side to a shelter or an NGO.
      return Deny("agency " + Quoted(r.to_agency()) + " (" +
                      ShortEnumName(passage::v1::AgencyType_descriptor(), recipient->type()) +
                      ") may never receive section " + SectionName(section) + "; only " +
                      agencies.crime_policy().AllowedTypesText(section) + " may",
                  prefix + "data_scope[" + std::to_string(i) + "]");
    }
  }
  if (r.kind() == passage::v1::REFERRAL_KIND_TRANSFER && r.to_agency() == state.owner_agency()) {
    return Refuse("agency " + Quoted(r.to_agency()) + " already owns the case",
                  prefix + "to_agency");
  }
  for (const Referral& other : state.referrals()) {
    if (IsLive(other.status()) && other.to_agency() == r.to_agency() &&
        other.service() == r.service()) {
      return Refuse("referral " + other.referral_id() + " to " + Quoted(r.to_agency()) +
                        " for the same service is still " + ReferralStatusName(other.status()),
                    prefix + "to_agency");
    }
  }

  if (r.has_consent_override()) {
    const passage::v1::ActorRole role = r.consent_override().role();
    if (role != e.actor_role()) {
      return Deny("a consent override is made by the acting role: the event acts as " +
                      RoleName(e.actor_role()) + ", the override names " + RoleName(role),
                  prefix + "consent_override.role");
    }
    const auto& allowed = sending->override_roles();
    if (std::find(allowed.begin(), allowed.end(), role) == allowed.end()) {
      std::string names;
      for (int a : allowed) {
        names += names.empty() ? "" : ", ";
        names += RoleName(a);
      }
      return Deny("role " + RoleName(role) + " may not override consent for agency " +
                      Quoted(sender) + " (allowed: " + (names.empty() ? "none" : names) + ")",
                  prefix + "consent_override.role");
    }
  } else {
    const Consent* consent = FindConsent(state, r.consent_id());
    if (consent == nullptr) {
      return Refuse("consent " + r.consent_id() + " is not recorded in this case",
                    prefix + "consent_id");
    }
    if (consent->withdrawn_at_ms() != 0) {
      return Refuse("consent " + r.consent_id() + " was withdrawn at " +
                        FormatUtcMs(consent->withdrawn_at_ms()),
                    prefix + "consent_id");
    }
    RETURN_IF_ERROR(ConsentCovers(*consent, r, *recipient, prefix + "consent_id"));
  }

  TransitionRequest request;
  request.from = passage::v1::REFERRAL_STATUS_UNSPECIFIED;
  request.to = passage::v1::REFERRAL_STATUS_SENT;
  request.side = side;
  request.sender_agency = sender;
  request.recipient_agency = r.to_agency();
  Result<ReferralStatus> next = CheckTransition(request);
  if (!next.ok()) {
    return Refuse(next.status().message(), "referral_sent.referral");
  }
  return Status::Ok();
}

Status CheckReferralTransition(const CaseState& state, const Event& e,
                               const AgencyDirectory& agencies) {
  const passage::v1::ReferralTransition& t = e.referral_transition();
  const Referral* r = FindReferral(state, t.referral_id());
  if (r == nullptr) {
    return Refuse("referral " + t.referral_id() + " is not in this case",
                  "referral_transition.referral_id");
  }
  ASSIGN_OR_RETURN(Side side, SideOf(*r, e.actor_agency(), e.actor_role(), agencies));
  if (t.consent_withdrawn()) {
    bool withdrawn = false;
    if (!r->consent_id().empty()) {
      const Consent* c = FindConsent(state, r->consent_id());
      withdrawn = c != nullptr && c->withdrawn_at_ms() != 0;
    } else {
      for (const Consent& c : state.consents()) {
        withdrawn = withdrawn || c.withdrawn_at_ms() != 0;
      }
    }
    if (!withdrawn) {
      return Refuse(r->consent_id().empty()
                        ? "referral " + r->referral_id() +
                              " was sent under a consent override and no consent of this case " +
                              "has been withdrawn"
                        : "consent " + r->consent_id() + " of referral " + r->referral_id() +
                              " is still in force",
                    "referral_transition.consent_withdrawn");
    }
  }
  TransitionRequest request;
  request.from = r->status();
  request.to = t.to();
  request.side = side;
  request.consent_withdrawn = t.consent_withdrawn();
  request.reason = t.reason();
  request.has_outcome = !t.outcome().empty();
  request.held_from = HeldFrom(*r);
  request.sender_agency = r->from_agency();
  request.recipient_agency = r->to_agency();
  Result<ReferralStatus> next = CheckTransition(request);
  if (!next.ok()) {
    return Refuse(next.status().message(), "referral_transition." + next.status().field());
  }
  return Status::Ok();
}

Status CheckServiceDelivered(const CaseState& state, const Event& e) {
  RETURN_IF_ERROR(RequireAccess(state, e));
  const passage::v1::ServiceDelivered& s = e.service_delivered();
  if (s.referral_id().empty()) {
    return Status::Ok();
  }
  const Referral* r = FindReferral(state, s.referral_id());
  if (r == nullptr) {
    return Refuse("referral " + s.referral_id() + " is not in this case",
                  "service_delivered.referral_id");
  }
  if (r->to_agency() != e.actor_agency()) {
    return Deny("only the recipient of referral " + r->referral_id() + " (" + r->to_agency() +
                    ") records services under it",
                "service_delivered.referral_id");
  }
  if (!GrantsAccess(*r)) {
    return Refuse("referral " + r->referral_id() + " is " + ReferralStatusName(r->status()) +
                      "; services are recorded under a referral while it is accepted",
                  "service_delivered.referral_id");
  }
  return Status::Ok();
}

Status CheckRecordAccessed(const CaseState& state, const Event& e,
                           const AgencyDirectory& agencies) {
  const Agency* actor = agencies.Find(e.actor_agency());
  if (actor != nullptr && (actor->type() == passage::v1::AGENCY_TYPE_OVERSIGHT ||
                           agencies.IsSystemPrincipal(e.actor_agency()))) {
    return Status::Ok();  // oversight and the NRM coordinator's engine read every case
  }
  const passage::v1::RecordAccessed& a = e.record_accessed();
  if (a.refused()) {
    // Recording that one tried and was refused needs only a link to the case: a referral to or
    // from the agency, or a grant. An agency with none learns nothing here and its node keeps
    // the attempt in its own security log.
    bool linked = FindAccess(state, e.actor_agency()) != nullptr;
    for (const Referral& r : state.referrals()) {
      linked = linked || r.to_agency() == e.actor_agency() || r.from_agency() == e.actor_agency();
    }
    if (!linked) {
      return Deny("agency " + Quoted(e.actor_agency()) + " has no referral in this case",
                  "actor_agency");
    }
    return Status::Ok();
  }
  const AccessGrant* grant = FindAccess(state, e.actor_agency());
  if (grant == nullptr) {
    return Deny("agency " + Quoted(e.actor_agency()) + " has no access to this case",
                "actor_agency");
  }
  for (int i = 0; i < a.sections_size(); ++i) {
    if (!GrantIncludes(*grant, static_cast<DataSection>(a.sections(i))) ||
        !agencies.MayHold(e.actor_agency(), static_cast<DataSection>(a.sections(i)))) {
      return Deny("agency " + Quoted(e.actor_agency()) + " may not read section " +
                      SectionName(a.sections(i)) + " of this case",
                  "record_accessed.sections[" + std::to_string(i) + "]");
    }
  }
  return Status::Ok();
}

void AddAll(const CaseState& state, std::set<std::string>* out) {
  for (const AccessGrant& g : state.access()) {
    out->insert(g.agency_id());
  }
}

void AddWithSection(const CaseState& state, DataSection section, std::set<std::string>* out) {
  for (const AccessGrant& g : state.access()) {
    if (GrantIncludes(g, section)) {
      out->insert(g.agency_id());
    }
  }
}

void AddReferralParties(const CaseState& state, const Referral& r, std::string_view actor,
                        std::set<std::string>* out) {
  out->insert(r.from_agency().empty() ? std::string(actor) : r.from_agency());
  out->insert(r.to_agency());
  if (!state.owner_agency().empty()) {
    out->insert(state.owner_agency());
  }
}

}  // namespace

std::vector<DataSection> AllDataSections() {
  std::vector<DataSection> out;
  const google::protobuf::EnumDescriptor* d = passage::v1::DataSection_descriptor();
  for (int i = 0; i < d->value_count(); ++i) {
    int number = d->value(i)->number();
    if (number != passage::v1::DATA_SECTION_UNSPECIFIED) {
      out.push_back(static_cast<DataSection>(number));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool GrantIncludes(const AccessGrant& grant, DataSection section) {
  return std::find(grant.sections().begin(), grant.sections().end(), section) !=
         grant.sections().end();
}

const Referral* FindReferral(const CaseState& state, std::string_view referral_id) {
  for (const Referral& r : state.referrals()) {
    if (r.referral_id() == referral_id) {
      return &r;
    }
  }
  return nullptr;
}

const Consent* FindConsent(const CaseState& state, std::string_view consent_id) {
  for (const Consent& c : state.consents()) {
    if (c.consent_id() == consent_id) {
      return &c;
    }
  }
  return nullptr;
}

const AccessGrant* FindAccess(const CaseState& state, std::string_view agency_id) {
  for (const AccessGrant& g : state.access()) {
    if (g.agency_id() == agency_id) {
      return &g;
    }
  }
  return nullptr;
}

std::string SerializeDeterministic(const google::protobuf::MessageLite& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    (void)message.SerializeToCodedStream(&coded);
  }
  return out;
}

Status ConsentCovers(const Consent& consent, const Referral& referral, const Agency& recipient,
                     std::string_view field) {
  const std::string scope = ShortEnumName(passage::v1::ConsentScope_descriptor(), consent.scope());
  const bool law_enforcement = IsLawEnforcementRecipient(recipient, referral.service());
  const std::string what = "a referral to " + Quoted(recipient.id()) + " for " +
                           ShortEnumName(passage::v1::ServiceType_descriptor(), referral.service());
  switch (consent.scope()) {
    case passage::v1::CONSENT_SCOPE_SHARE_WITH_AGENCIES:
      break;
    case passage::v1::CONSENT_SCOPE_SERVICES:
      if (law_enforcement) {
        return Refuse("consent " + consent.consent_id() + " covers services only; " + what +
                          " needs a LAW_ENFORCEMENT or SHARE_WITH_AGENCIES consent",
                      std::string(field));
      }
      break;
    case passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT:
      if (!law_enforcement) {
        return Refuse("consent " + consent.consent_id() + " covers law enforcement only; " + what +
                          " needs a SERVICES or SHARE_WITH_AGENCIES consent",
                      std::string(field));
      }
      break;
    default:
      return Refuse("consent " + consent.consent_id() + " has scope " + scope +
                        ", which does not allow sharing the case with another agency",
                    std::string(field));
  }
  if (consent.agency_ids_size() == 0 && consent.agency_types_size() == 0) {
    return Status::Ok();
  }
  for (const std::string& id : consent.agency_ids()) {
    if (id == recipient.id()) {
      return Status::Ok();
    }
  }
  for (int type : consent.agency_types()) {
    if (type == recipient.type()) {
      return Status::Ok();
    }
  }
  return Refuse("consent " + consent.consent_id() + " does not name agency " +
                    Quoted(recipient.id()) + " or its type " +
                    ShortEnumName(passage::v1::AgencyType_descriptor(), recipient.type()),
                std::string(field));
}

Result<Side> SideOf(const Referral& referral, std::string_view actor_agency,
                    passage::v1::ActorRole role, const AgencyDirectory& agencies) {
  if (actor_agency == referral.to_agency()) {
    return Side::kRecipient;
  }
  if (actor_agency == referral.from_agency()) {
    return Side::kSender;
  }
  if (role == passage::v1::ACTOR_ROLE_SYSTEM && agencies.IsSystemPrincipal(actor_agency)) {
    return Side::kSystem;
  }
  return Status::PermissionDenied("agency " + Quoted(actor_agency) +
                                      " is neither the sender nor the recipient of referral " +
                                      referral.referral_id(),
                                  "actor_agency");
}

Status CaseProjection::Check(const Event& e, const AgencyDirectory& agencies) const {
  RETURN_IF_ERROR(CheckMove(e, agencies));
  return CheckActorRole(e);
}

Status CaseProjection::CheckMove(const Event& e, const AgencyDirectory& agencies) const {
  if (IsConfigurationEvent(e)) {
    return Status::InvalidArgument(PayloadName(e), "a configuration event belongs to no case");
  }
  if (e.payload_case() == Event::PAYLOAD_NOT_SET) {
    return Status::InvalidArgument("payload", "the event has no payload");
  }
  const bool opening = e.payload_case() == Event::kCaseOpened;
  if (!exists()) {
    if (!opening) {
      return Refuse("case " + e.case_id() + " does not exist; a case starts with CaseOpened",
                    "case_id");
    }
  } else {
    if (opening) {
      return Refuse("case " + state_.case_id() + " is already open", "case_opened");
    }
    if (e.case_id() != state_.case_id()) {
      return Status::InvalidArgument("case_id", "the event is for case " + e.case_id() +
                                                    ", this projection holds " + state_.case_id());
    }
  }
  const uint64_t content =
      state_.content_version() != 0 ? state_.content_version() : state_.version();
  if (e.has_expected_case_version() && e.expected_case_version() != content) {
    return Refuse("the case is at version " + std::to_string(content) +
                      ", the event expected version " + std::to_string(e.expected_case_version()) +
                      "; read the case again (CaseEventsRequest gives its version) and decide "
                      "again",
                  "expected_case_version");
  }
  const Agency* actor = agencies.Find(e.actor_agency());
  if (actor == nullptr) {
    return Deny("agency " + Quoted(e.actor_agency()) + " is not registered", "actor_agency");
  }
  if (state_.closed()) {
    switch (e.payload_case()) {
      case Event::kReferralTransition:
      case Event::kConsentWithdrawn:
      case Event::kRecordAccessed:
        break;
      case Event::kOffenceRegistered:
      case Event::kOffenceStatusChanged:
      case Event::kSuspectRecorded:
      case Event::kAccusedUpdated:
      case Event::kSuspectIdentityResealed:
        break;  // a prosecution outlives the protection case
      case Event::kNoteResealed:
        break;  // new holders of the notes may still open them
      default:
        return Refuse("the case was closed at " + FormatUtcMs(state_.closed_at_ms()) +
                          "; it accepts only referral transitions, consent withdrawals and " +
                          "access records",
                      PayloadName(e));
    }
  }

  if (IsCrimeEvent(e)) {
    return CheckCrimeEvent(state_, e, agencies);
  }
  if (IsNoteEvent(e)) {
    return CheckNoteEvent(state_, e, agencies);
  }
  if (IsCaseWorkEvent(e)) {
    return CheckCaseWorkEvent(state_, e);
  }
  switch (e.payload_case()) {
    case Event::kCaseOpened:
      if (!actor->first_responder()) {
        return Deny("agency " + Quoted(e.actor_agency()) +
                        " is not a first responder and may not open cases",
                    "actor_agency");
      }
      if (const std::string& ref = e.case_opened().reference();
          !ref.empty() && ref.rfind(ReferenceCodeOf(*actor) + "-", 0) != 0) {
        return Deny("reference " + Quoted(ref) + " does not start with the reference code " +
                        Quoted(ReferenceCodeOf(*actor)) + " of agency " +
                        Quoted(e.actor_agency()),
                    "case_opened.reference");
      }
      return CheckPersonalReaders(state_, e.actor_agency(), e.case_opened().personal(),
                                  "case_opened.personal");
    case Event::kIdentificationRecorded:
      return RequireOwner(state_, e, "record the identification");
    case Event::kProfileUpdated:
      RETURN_IF_ERROR(RequireOwner(state_, e, "update the profile"));
      return CheckPersonalReaders(state_, state_.owner_agency(), e.profile_updated().personal(),
                                  "profile_updated.personal");
    case Event::kCaseClosed:
      return RequireOwner(state_, e, "close the case");
    case Event::kPersonalKeysEscrowed:
      RETURN_IF_ERROR(RequireOwner(state_, e, "escrow the personal data's key"));
      for (int i = 0; i < e.personal_keys_escrowed().keys_size(); ++i) {
        const std::string& id = e.personal_keys_escrowed().keys(i).agency_id();
        if (agencies.Find(id) == nullptr || id == state_.owner_agency()) {
          return Refuse("agency " + Quoted(id) + " is not a registered agency other than the owner",
                        "personal_keys_escrowed.keys[" + std::to_string(i) + "].agency_id");
        }
      }
      return Status::Ok();
    case Event::kConsentGiven: {
      RETURN_IF_ERROR(RequireAccess(state_, e));
      const std::string& id = e.consent_given().consent().consent_id();
      if (FindConsent(state_, id) != nullptr) {
        return Refuse("consent " + id + " is already recorded in this case",
                      "consent_given.consent.consent_id");
      }
      return Status::Ok();
    }
    case Event::kConsentWithdrawn: {
      RETURN_IF_ERROR(RequireAccess(state_, e));
      const passage::v1::ConsentWithdrawn& w = e.consent_withdrawn();
      const Consent* c = FindConsent(state_, w.consent_id());
      if (c == nullptr) {
        return Refuse("consent " + w.consent_id() + " is not recorded in this case",
                      "consent_withdrawn.consent_id");
      }
      if (c->withdrawn_at_ms() != 0) {
        return Refuse("consent " + w.consent_id() + " was already withdrawn at " +
                          FormatUtcMs(c->withdrawn_at_ms()),
                      "consent_withdrawn.consent_id");
      }
      if (w.scope() != passage::v1::CONSENT_SCOPE_UNSPECIFIED && w.scope() != c->scope()) {
        return Refuse("consent " + w.consent_id() + " has scope " +
                          ShortEnumName(passage::v1::ConsentScope_descriptor(), c->scope()) +
                          ", not " +
                          ShortEnumName(passage::v1::ConsentScope_descriptor(), w.scope()),
                      "consent_withdrawn.scope");
      }
      return Status::Ok();
    }
    case Event::kReferralSent:
      return CheckReferralSent(state_, e, agencies);
    case Event::kReferralTransition:
      return CheckReferralTransition(state_, e, agencies);
    case Event::kServiceDelivered:
      return CheckServiceDelivered(state_, e);
    case Event::kCriminalProceedingUpdated:
      return RequireAccess(state_, e);
    case Event::kReturnRecorded: {
      RETURN_IF_ERROR(RequireAccess(state_, e));
      const std::string& id = e.return_recorded().referral_id();
      if (!id.empty() && FindReferral(state_, id) == nullptr) {
        return Refuse("referral " + id + " is not in this case", "return_recorded.referral_id");
      }
      return Status::Ok();
    }
    case Event::kRecordAccessed:
      return CheckRecordAccessed(state_, e, agencies);
    default:
      return Status::InvalidArgument("payload", "this event does not belong to a case");
  }
}

void CaseProjection::Apply(const passage::v1::Envelope& env, const Event& e) {
  state_.set_version(env.case_seq());
  if (e.payload_case() != Event::kRecordAccessed) {
    state_.set_content_version(env.case_seq());
  }
  state_.set_last_global_seq(env.global_seq());
  const int64_t at = e.occurred_at_ms();
  const std::string& actor = e.actor_agency();

  switch (e.payload_case()) {
    case Event::kCaseOpened: {
      if (exists()) {
        break;  // a second opening changes nothing
      }
      const passage::v1::CaseOpened& p = e.case_opened();
      state_.set_case_id(e.case_id().empty() ? env.case_id() : e.case_id());
      state_.set_owner_agency(actor);
      state_.set_opened_by(actor);
      state_.set_opened_at_ms(at);
      state_.set_crime_type(p.crime_type());
      state_.set_person_role(p.person_role());
      state_.set_reference(p.reference());
      *state_.mutable_profile() = StoredProfile(p.profile(), at);
      if (p.has_personal() && keep_personal_) {
        *state_.mutable_personal() = p.personal();
      }
      AddClassification(&state_, at, actor);
      break;
    }
    case Event::kIdentificationRecorded: {
      const passage::v1::IdentificationRecorded& p = e.identification_recorded();
      state_.set_trafficking_status(p.trafficking_status());
      state_.set_trafficking_status_by(actor);
      state_.set_trafficking_status_at_ms(at);
      if (p.crime_type() != passage::v1::CRIME_TYPE_UNSPECIFIED) {
        state_.set_crime_type(p.crime_type());
      }
      if (p.person_role() != passage::v1::PERSON_ROLE_UNSPECIFIED) {
        state_.set_person_role(p.person_role());
      }
      if (p.channel() != passage::v1::IDENTIFICATION_CHANNEL_UNSPECIFIED) {
        state_.mutable_profile()->set_identification_channel(p.channel());
      }
      AddClassification(&state_, at, actor);
      break;
    }
    case Event::kProfileUpdated: {
      const passage::v1::ProfileUpdated& p = e.profile_updated();
      *state_.mutable_profile() = StoredProfile(p.profile(), state_.opened_at_ms());
      if (p.has_personal() && keep_personal_) {
        *state_.mutable_personal() = p.personal();
      }
      break;
    }
    case Event::kConsentGiven: {
      const Consent& given = e.consent_given().consent();
      if (FindConsent(state_, given.consent_id()) != nullptr) {
        break;
      }
      Consent* c = state_.add_consents();
      *c = given;
      if (c->given_at_ms() == 0) {
        c->set_given_at_ms(at);
      }
      c->set_withdrawn_at_ms(0);
      break;
    }
    case Event::kConsentWithdrawn: {
      Consent* c = FindMutableConsent(&state_, e.consent_withdrawn().consent_id());
      if (c != nullptr && c->withdrawn_at_ms() == 0) {
        c->set_withdrawn_at_ms(at != 0 ? at : 1);
      }
      break;
    }
    case Event::kReferralSent: {
      const Referral& sent = e.referral_sent().referral();
      if (FindReferral(state_, sent.referral_id()) != nullptr) {
        break;
      }
      Referral* r = state_.add_referrals();
      *r = sent;
      r->set_case_id(state_.case_id());
      r->set_case_reference(state_.reference());
      if (r->from_agency().empty()) {
        r->set_from_agency(actor);
      }
      r->set_status(passage::v1::REFERRAL_STATUS_SENT);
      r->set_status_reason(passage::v1::REJECT_REASON_UNSPECIFIED);
      r->clear_status_note();
      r->clear_outcome();
      r->clear_history();
      r->set_sent_at_ms(at);
      passage::v1::ReferralTransitionRecord* rec = r->add_history();
      rec->set_from(passage::v1::REFERRAL_STATUS_UNSPECIFIED);
      rec->set_to(passage::v1::REFERRAL_STATUS_SENT);
      rec->set_at_ms(at);
      rec->set_by_agency(actor);
      rec->set_global_seq(env.global_seq());
      break;
    }
    case Event::kReferralTransition: {
      const passage::v1::ReferralTransition& t = e.referral_transition();
      Referral* r = FindMutableReferral(&state_, t.referral_id());
      if (r == nullptr) {
        break;
      }
      passage::v1::ReferralTransitionRecord* rec = r->add_history();
      rec->set_from(r->status());
      rec->set_to(t.to());
      rec->set_at_ms(at);
      rec->set_by_agency(actor);
      rec->set_global_seq(env.global_seq());
      r->set_status(t.to());
      r->set_status_reason(t.reason());
      r->set_status_note(t.note());
      if (!t.outcome().empty()) {
        r->set_outcome(t.outcome());
      }
      if (t.to() == passage::v1::REFERRAL_STATUS_ACCEPTED &&
          r->kind() == passage::v1::REFERRAL_KIND_TRANSFER && !r->to_agency().empty()) {
        state_.set_owner_agency(r->to_agency());
      }
      break;
    }
    case Event::kServiceDelivered: {
      passage::v1::ServiceRecord* s = state_.add_services();
      s->set_referral_id(e.service_delivered().referral_id());
      s->set_service(e.service_delivered().service());
      s->set_at_ms(at);
      s->set_agency_id(actor);
      break;
    }
    case Event::kCriminalProceedingUpdated: {
      passage::v1::CriminalProceeding* p = state_.add_proceedings();
      *p = e.criminal_proceeding_updated().proceeding();
      if (p->at_ms() == 0) {
        p->set_at_ms(at);
      }
      if (p->agency_id().empty()) {
        p->set_agency_id(actor);
      }
      break;
    }
    case Event::kReturnRecorded: {
      const std::string& given = e.return_recorded().country();
      const Country* country = FindCountry(given);
      state_.set_return_country(country != nullptr ? std::string(country->alpha2) : given);
      state_.set_returned_at_ms(at != 0 ? at : 1);
      break;
    }
    case Event::kCaseClosed:
      state_.set_closed(true);
      state_.set_closed_at_ms(at);
      break;
    default:
      if (IsCrimeEvent(e)) {
        ApplyCrimeEvent(&state_, env, e);
      } else if (IsNoteEvent(e)) {
        ApplyNoteEvent(&state_, env, e);
      } else if (IsCaseWorkEvent(e)) {
        ApplyCaseWorkEvent(&state_, env, e);
      }
      break;  // else RecordAccessed, configuration events, unknown payloads: no state change
  }
  RecomputeAccess(&state_);
  RecomputeStages(&state_);
}

std::string CaseProjection::SerializeDeterministic() const {
  return core::SerializeDeterministic(state_);
}

std::vector<std::string> AudienceOf(const CaseState& state, const Event& e) {
  std::set<std::string> out;
  const std::string& actor = e.actor_agency();
  switch (e.payload_case()) {
    case Event::kReferralSent:
      AddReferralParties(state, e.referral_sent().referral(), actor, &out);
      break;
    case Event::kReferralTransition: {
      const Referral* r = FindReferral(state, e.referral_transition().referral_id());
      if (r != nullptr) {
        AddReferralParties(state, *r, actor, &out);
      }
      break;
    }
    case Event::kIdentificationRecorded:
      AddWithSection(state, passage::v1::DATA_SECTION_PROFILE, &out);
      break;
    case Event::kProfileUpdated:
      AddWithSection(state, passage::v1::DATA_SECTION_PROFILE, &out);
      if (e.profile_updated().has_personal()) {
        AddWithSection(state, passage::v1::DATA_SECTION_PERSONAL, &out);
      }
      break;
    case Event::kConsentGiven:
      AddWithSection(state, passage::v1::DATA_SECTION_CONSENTS, &out);
      break;
    case Event::kServiceDelivered: {
      AddWithSection(state, passage::v1::DATA_SECTION_SERVICES, &out);
      const Referral* r = FindReferral(state, e.service_delivered().referral_id());
      if (r != nullptr && !r->from_agency().empty()) {
        out.insert(r->from_agency());
      }
      break;
    }
    case Event::kCriminalProceedingUpdated:
      AddWithSection(state, passage::v1::DATA_SECTION_PROCEEDINGS, &out);
      break;
    case Event::kConsentWithdrawn:
    case Event::kReturnRecorded:
    case Event::kCaseClosed:
      AddAll(state, &out);
      break;
    default:
      if (IsCrimeEvent(e) || IsNoteEvent(e)) {
        // OFFENCE, SUSPECT, PROFILE (smuggling) or NOTES
        AddWithSection(state, SectionOf(e), &out);
      } else if (IsCaseWorkEvent(e)) {
        // The readers of the section, and both parties of the referral it is about.
        AddWithSection(state, SectionOf(e), &out);
        const Referral* r = FindReferral(state, CaseWorkReferralId(e));
        if (r != nullptr) {
          out.insert(r->from_agency());
          out.insert(r->to_agency());
        }
      }
      break;  // else CaseOpened, RecordAccessed, configuration events
  }
  out.erase(actor);
  out.erase(std::string());
  return std::vector<std::string>(out.begin(), out.end());
}

DataSection SectionOf(const Event& e) {
  switch (e.payload_case()) {
    case Event::kConsentGiven:
    case Event::kConsentWithdrawn:
      return passage::v1::DATA_SECTION_CONSENTS;
    case Event::kReferralSent:
    case Event::kReferralTransition:
      return passage::v1::DATA_SECTION_REFERRALS;
    case Event::kServiceDelivered:
    case Event::kReturnRecorded:
      return passage::v1::DATA_SECTION_SERVICES;
    case Event::kCriminalProceedingUpdated:
      return passage::v1::DATA_SECTION_PROCEEDINGS;
    case Event::kOffenceRegistered:
    case Event::kOffenceStatusChanged:
      return passage::v1::DATA_SECTION_OFFENCE;
    case Event::kSuspectRecorded:
    case Event::kAccusedUpdated:
    case Event::kSuspectIdentityResealed:
      return passage::v1::DATA_SECTION_SUSPECT;
    case Event::kNoteAdded:
    case Event::kDocumentAttached:
    case Event::kNoteResealed:
      return passage::v1::DATA_SECTION_NOTES;
    case Event::kFieldCorrected:
    case Event::kServicePlanned:
    case Event::kServicePlanItemUpdated:
    case Event::kFollowUpScheduled:
    case Event::kFollowUpDone:
      return CaseWorkSection(e);
    default:
      return passage::v1::DATA_SECTION_PROFILE;
  }
}

std::vector<std::string> AudienceOf(const CaseState& state, const Event& e,
                                    const AgencyDirectory& agencies) {
  std::vector<std::string> out = AudienceOf(state, e);
  const DataSection section = SectionOf(e);
  if (IsCrimeSection(section)) {
    std::erase_if(out, [&](const std::string& id) { return !agencies.MayHold(id, section); });
  }
  return out;
}

}  // namespace passage::core
