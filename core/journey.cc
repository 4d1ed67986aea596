#include "core/journey.h"

#include "core/case_work.h"
#include "core/offences.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "core/case_projection.h"
#include "core/codes.h"

namespace passage::core {
namespace {

using passage::v1::CaseState;
using passage::v1::Event;
using passage::v1::Referral;
using passage::v1::ReferralStatus;

// ---- words ----

// The short enum name in lower case with spaces: PRIORITY_URGENT -> "urgent".
std::string Words(const google::protobuf::EnumDescriptor* type, int value) {
  std::string s = ShortEnumName(type, value);
  for (char& c : s) {
    c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string Upper(const google::protobuf::EnumDescriptor* type, int value) {
  return ShortEnumName(type, value);
}

std::string StageName(int stage) { return Upper(passage::v1::Stage_descriptor(), stage); }

std::string StageList(const std::vector<passage::v1::Stage>& stages) {
  std::string out;
  for (passage::v1::Stage s : stages) {
    out += out.empty() ? "" : ", ";
    out += StageName(s);
  }
  return out.empty() ? "no stage" : out;
}

std::string CrimeWords(passage::v1::CrimeType t) {
  switch (t) {
    case passage::v1::CRIME_TYPE_TIP:
      return "TIP";
    case passage::v1::CRIME_TYPE_SOM:
      return "SOM";
    case passage::v1::CRIME_TYPE_BOTH:
      return "TIP and SOM";
    case passage::v1::CRIME_TYPE_UNDETERMINED:
      return "crime type undetermined";
    default:
      return "";
  }
}

std::string TraffickingWords(passage::v1::TraffickingStatus s) {
  switch (s) {
    case passage::v1::TRAFFICKING_STATUS_POSSIBLE:
      return "trafficking possible";
    case passage::v1::TRAFFICKING_STATUS_ACTUAL:
      return "trafficking confirmed";
    case passage::v1::TRAFFICKING_STATUS_NOT_TRAFFICKED:
      return "not trafficked";
    default:
      return "";
  }
}

std::string MilestoneWords(passage::v1::ProceedingMilestone m) {
  switch (m) {
    case passage::v1::PROCEEDING_MILESTONE_FIR_REGISTERED:
      return "FIR registered";
    case passage::v1::PROCEEDING_MILESTONE_INVESTIGATION_OPENED:
      return "investigation opened";
    case passage::v1::PROCEEDING_MILESTONE_CHARGE_FILED:
      return "charge filed";
    case passage::v1::PROCEEDING_MILESTONE_TRIAL_STARTED:
      return "trial started";
    case passage::v1::PROCEEDING_MILESTONE_VERDICT_CONVICTION:
      return "verdict: conviction";
    case passage::v1::PROCEEDING_MILESTONE_VERDICT_ACQUITTAL:
      return "verdict: acquittal";
    case passage::v1::PROCEEDING_MILESTONE_COMPENSATION_ORDERED:
      return "compensation ordered";
    case passage::v1::PROCEEDING_MILESTONE_DISMISSED:
      return "case dismissed";
    default:
      return "milestone " + Upper(passage::v1::ProceedingMilestone_descriptor(), m);
  }
}

std::string ConsentScopeWords(passage::v1::ConsentScope scope) {
  switch (scope) {
    case passage::v1::CONSENT_SCOPE_INTERVIEW:
      return "an interview";
    case passage::v1::CONSENT_SCOPE_SERVICES:
      return "services";
    case passage::v1::CONSENT_SCOPE_SHARE_WITH_AGENCIES:
      return "sharing the case with agencies";
    case passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT:
      return "law enforcement";
    case passage::v1::CONSENT_SCOPE_STATISTICS:
      return "statistics";
    case passage::v1::CONSENT_SCOPE_CROSS_BORDER:
      return "cross-border sharing";
    default:
      return "an unspecified scope";
  }
}

std::string PayloadName(const Event& e) {
  const google::protobuf::FieldDescriptor* f =
      Event::descriptor()->FindFieldByNumber(static_cast<int>(e.payload_case()));
  return f == nullptr ? std::string("none") : f->name();
}

// Names agencies and referrals in texts.
class Namer {
 public:
  explicit Namer(const AgencyDirectory* agencies) : agencies_(agencies) {}

  std::string Agency(const std::string& id) const {
    if (id.empty()) {
      return "an unnamed agency";
    }
    if (agencies_ != nullptr) {
      const passage::v1::Agency* a = agencies_->Find(id);
      if (a != nullptr && !a->name().empty()) {
        return a->name();
      }
    }
    return id;
  }

  // "R2" for a referral sent in this journey, else its id.
  std::string Referral(const std::string& id) const {
    auto it = numbers_.find(id);
    return it == numbers_.end() ? "referral " + id : "R" + std::to_string(it->second);
  }

  void Number(const std::string& id) {
    if (numbers_.find(id) == numbers_.end()) {
      const int n = static_cast<int>(numbers_.size()) + 1;
      numbers_.emplace(id, n);
    }
  }

  int NumberOf(const std::string& id) const {
    auto it = numbers_.find(id);
    return it == numbers_.end() ? 0 : it->second;
  }

 private:
  const AgencyDirectory* agencies_;
  std::map<std::string, int> numbers_;
};

std::string Parenthesised(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    if (p.empty()) {
      continue;
    }
    out += out.empty() ? " (" : ", ";
    out += p;
  }
  return out.empty() ? out : out + ")";
}

std::string DescribeReferralSent(const Event& e, const Namer& names) {
  const Referral& r = e.referral_sent().referral();
  const std::string actor = names.Agency(e.actor_agency());
  std::string text =
      actor + " sent " +
      (r.kind() == passage::v1::REFERRAL_KIND_TRANSFER ? "a transfer of the case, " : "referral ") +
      names.Referral(r.referral_id());
  if (!r.from_agency().empty() && r.from_agency() != e.actor_agency()) {
    text += ", on behalf of " + names.Agency(r.from_agency()) + ",";
  }
  text += " to " + names.Agency(r.to_agency()) + " for " +
          Upper(passage::v1::ServiceType_descriptor(), r.service());
  std::vector<std::string> parts;
  if (r.priority() != passage::v1::PRIORITY_UNSPECIFIED) {
    parts.push_back(Words(passage::v1::Priority_descriptor(), r.priority()));
  }
  if (r.respond_by_ms() != 0) {
    parts.push_back("respond by " + FormatUtcMs(r.respond_by_ms()));
  }
  if (!r.parent_referral_id().empty()) {
    parts.push_back("follow-up of " + names.Referral(r.parent_referral_id()));
  }
  if (r.has_consent_override()) {
    parts.push_back("consent overridden by a " +
                    Words(passage::v1::ActorRole_descriptor(), r.consent_override().role()));
  }
  return text + Parenthesised(parts);
}

std::string DescribeTransition(const Event& e, const CaseState& before, const Namer& names) {
  const passage::v1::ReferralTransition& t = e.referral_transition();
  const std::string actor = names.Agency(e.actor_agency());
  const std::string ref = names.Referral(t.referral_id());
  const Referral* r = FindReferral(before, t.referral_id());
  if (r == nullptr) {
    return actor + " moved " + ref + ", which is not in this case, to " +
           ReferralStatusName(t.to());
  }
  const ReferralStatus from = r->status();
  const std::string outcome = t.outcome().empty() ? "" : " (outcome: " + t.outcome() + ")";
  std::string text;
  switch (t.to()) {
    case passage::v1::REFERRAL_STATUS_RECEIVED:
      text = from == passage::v1::REFERRAL_STATUS_ON_HOLD
                 ? actor + " took " + ref + " off hold (back to received)"
                 : actor + " received " + ref;
      break;
    case passage::v1::REFERRAL_STATUS_ACCEPTED:
      if (from == passage::v1::REFERRAL_STATUS_ON_HOLD) {
        text = actor + " took " + ref + " off hold (back to accepted)";
      } else {
        text = actor + " accepted " + ref;
        if (r->kind() == passage::v1::REFERRAL_KIND_TRANSFER) {
          text += "; the case now belongs to " + names.Agency(r->to_agency());
        }
      }
      break;
    case passage::v1::REFERRAL_STATUS_REJECTED:
      text = actor + " rejected " + ref + " (" +
             Words(passage::v1::RejectReason_descriptor(), t.reason()) + ")";
      break;
    case passage::v1::REFERRAL_STATUS_IN_PROGRESS:
      text = actor + " started work under " + ref;
      break;
    case passage::v1::REFERRAL_STATUS_ON_HOLD:
      text = actor + " put " + ref + " on hold";
      break;
    case passage::v1::REFERRAL_STATUS_COMPLETED:
      text = from == passage::v1::REFERRAL_STATUS_CANCEL_REQUESTED
                 ? actor + " answered the cancellation request: " + ref + " was already completed" +
                       outcome
                 : actor + " completed " + ref + outcome;
      break;
    case passage::v1::REFERRAL_STATUS_FAILED:
      text = actor + " reported that " + ref + " failed" + outcome;
      break;
    case passage::v1::REFERRAL_STATUS_CANCEL_REQUESTED:
      text = actor + " asked " + names.Agency(r->to_agency()) + " to cancel " + ref;
      break;
    case passage::v1::REFERRAL_STATUS_CANCELLED:
      if (t.consent_withdrawn()) {
        text = actor + " cancelled " + ref + " because the victim withdrew consent";
      } else if (from == passage::v1::REFERRAL_STATUS_CANCEL_REQUESTED) {
        text = actor + " confirmed the cancellation of " + ref;
      } else {
        text = actor + " cancelled " + ref;
      }
      break;
    case passage::v1::REFERRAL_STATUS_EXPIRED:
      text = actor + " marked " + ref + " expired: " + names.Agency(r->to_agency()) +
             " did not answer" +
             (r->respond_by_ms() != 0 ? " by " + FormatUtcMs(r->respond_by_ms()) : std::string());
      break;
    default:
      text = actor + " moved " + ref + " to " + ReferralStatusName(t.to());
      break;
  }
  if (!t.note().empty()) {
    text += " (note: " + t.note() + ")";
  }
  return text;
}

// "Correction: profile: sex changed from MALE to FEMALE — reason". The old value is shown only
// when the case as this reader holds it has the value the correction replaced (a reader without
// the section never held it).
std::string DescribeCorrection(const Event& e, const CaseState& before, const std::string& actor) {
  const passage::v1::FieldCorrected& c = e.field_corrected();
  auto path = ParseFieldPath(c.path(), "path");
  if (!path.ok()) {
    return actor + " corrected " + c.path();
  }
  std::string from;
  if (auto current = CurrentValue(before, *path, "path");
      current.ok() && Sha256Hex(*current) == c.old_value_sha256()) {
    from = " from " + ValueWords(*path, *current);
  }
  return "Correction: " + PathWords(*path) + " changed" + from + " to " +
         ValueWords(*path, c.new_value()) + " \u2014 " + c.reason() + " (by " + actor + ")";
}

// What `e` did, in words, given the case state before it.
std::string Describe(const Event& e, const CaseState& before, const Namer& names) {
  const std::string actor = names.Agency(e.actor_agency());
  switch (e.payload_case()) {
    case Event::kPersonalKeysEscrowed:
      return actor + " left the personal data's key with the broker for " +
             std::to_string(e.personal_keys_escrowed().keys_size()) +
             " agencies the consents cover (released to one only when it accepts a referral)";
    case Event::kCaseOpened: {
      const passage::v1::CaseOpened& p = e.case_opened();
      return actor + " opened the case" +
             Parenthesised({CrimeWords(p.crime_type()),
                            p.person_role() == passage::v1::PERSON_ROLE_UNSPECIFIED
                                ? std::string()
                                : Words(passage::v1::PersonRole_descriptor(), p.person_role())});
    }
    case Event::kIdentificationRecorded: {
      const passage::v1::IdentificationRecorded& p = e.identification_recorded();
      return actor + " recorded the identification" +
             Parenthesised({TraffickingWords(p.trafficking_status()), CrimeWords(p.crime_type()),
                            p.person_role() == passage::v1::PERSON_ROLE_UNSPECIFIED
                                ? std::string()
                                : Words(passage::v1::PersonRole_descriptor(), p.person_role()),
                            p.channel() == passage::v1::IDENTIFICATION_CHANNEL_UNSPECIFIED
                                ? std::string()
                                : "via " + Words(passage::v1::IdentificationChannel_descriptor(),
                                                 p.channel()),
                            p.screening_tool().empty() ? std::string()
                                                       : "screening tool " + p.screening_tool()});
    }
    case Event::kProfileUpdated:
      return actor + " updated the profile" +
             (e.profile_updated().has_personal() ? " and replaced the sealed personal data" : "");
    case Event::kConsentGiven: {
      const passage::v1::Consent& c = e.consent_given().consent();
      std::string text = actor + " recorded consent to " + ConsentScopeWords(c.scope());
      if (c.given_by() == passage::v1::CONSENT_GIVER_SELF) {
        text += ", given by the person";
      } else if (c.given_by() == passage::v1::CONSENT_GIVER_GUARDIAN) {
        text += ", given by a guardian";
      }
      std::vector<std::string> limits;
      for (const std::string& id : c.agency_ids()) {
        limits.push_back(names.Agency(id));
      }
      for (int type : c.agency_types()) {
        limits.push_back(Words(passage::v1::AgencyType_descriptor(), type) + " agencies");
      }
      if (!limits.empty()) {
        std::string list;
        for (const std::string& l : limits) {
          list += list.empty() ? "" : ", ";
          list += l;
        }
        text += " (limited to " + list + ")";
      }
      return text;
    }
    case Event::kConsentWithdrawn: {
      const passage::v1::ConsentWithdrawn& w = e.consent_withdrawn();
      passage::v1::ConsentScope scope = w.scope();
      const passage::v1::Consent* c = FindConsent(before, w.consent_id());
      if (c != nullptr) {
        scope = c->scope();
      }
      return actor + " recorded that the consent to " + ConsentScopeWords(scope) + " was withdrawn";
    }
    case Event::kReferralSent:
      return DescribeReferralSent(e, names);
    case Event::kReferralTransition:
      return DescribeTransition(e, before, names);
    case Event::kServiceDelivered: {
      const passage::v1::ServiceDelivered& s = e.service_delivered();
      return actor + " delivered a " + Upper(passage::v1::ServiceType_descriptor(), s.service()) +
             " service" +
             (s.referral_id().empty() ? std::string()
                                      : " under " + names.Referral(s.referral_id()));
    }
    case Event::kCriminalProceedingUpdated: {
      const passage::v1::CriminalProceeding& p = e.criminal_proceeding_updated().proceeding();
      return actor + " recorded a criminal proceeding: " + MilestoneWords(p.milestone()) +
             (p.reference().empty() ? std::string() : " (reference " + p.reference() + ")");
    }
    case Event::kReturnRecorded: {
      const passage::v1::ReturnRecorded& r = e.return_recorded();
      const Country* country = FindCountry(r.country());
      const std::string where = country == nullptr ? r.country()
                                                   : std::string(country->name) + " (" +
                                                         std::string(country->alpha2) + ")";
      return actor + " recorded the return to " + where +
             (r.referral_id().empty() ? std::string()
                                      : " under " + names.Referral(r.referral_id()));
    }
    case Event::kCaseClosed:
      return actor + " closed the case" +
             (e.case_closed().reason().empty() ? std::string()
                                               : " (reason: " + e.case_closed().reason() + ")");
    case Event::kRecordAccessed: {
      const passage::v1::RecordAccessed& a = e.record_accessed();
      std::string sections;
      for (int s : a.sections()) {
        sections += sections.empty() ? "" : ", ";
        sections += Upper(passage::v1::DataSection_descriptor(), s);
      }
      if (a.refused()) {
        return actor + " tried to read the case" + (sections.empty() ? "" : ": " + sections) +
               " and was refused (" + a.refusal_reason() + "); nothing was shown";
      }
      return actor + " read the case" + (sections.empty() ? "" : ": " + sections) +
             (a.purpose().empty() ? std::string() : " (purpose: " + a.purpose() + ")");
    }
    case Event::kOffenceRegistered: {
      const passage::v1::Offence& o = e.offence_registered().offence();
      std::string sections;
      for (const std::string& code : o.law_sections()) {
        sections += (sections.empty() ? "" : ", ") + code;
      }
      return actor + " registered FIR " + o.fir_number() + " at " + o.police_station() + " (" +
             CrimeWords(o.crime_type()) + "; " + sections + "; registered " + o.registered_on() +
             ")";
    }
    case Event::kOffenceStatusChanged: {
      const passage::v1::OffenceStatusChanged& c = e.offence_status_changed();
      const passage::v1::Offence* o = FindOffence(before, c.offence_id());
      const std::string fir = o == nullptr ? "an offence" : "FIR " + o->fir_number();
      return actor + " moved " + fir + " to " +
             Words(passage::v1::OffenceStatus_descriptor(), c.to()) +
             (c.closure() == passage::v1::OFFENCE_CLOSURE_UNSPECIFIED
                  ? std::string()
                  : " (" + Words(passage::v1::OffenceClosure_descriptor(), c.closure()) + ")");
    }
    case Event::kSuspectRecorded: {
      const passage::v1::Suspect& x = e.suspect_recorded().suspect();
      const passage::v1::Offence* o = FindOffence(before, x.offence_id());
      std::string roles;
      for (int r : x.roles()) {
        roles += (roles.empty() ? "" : ", ") + Words(passage::v1::SuspectRole_descriptor(), r);
      }
      return actor + " recorded a suspect" +
             (o == nullptr ? std::string() : " of FIR " + o->fir_number()) + " (" +
             Words(passage::v1::Sex_descriptor(), x.sex()) + ", " + roles +
             (x.has_identity() ? "; identity sealed" : "") + ")";
    }
    case Event::kAccusedUpdated: {
      const passage::v1::AccusedUpdated& u = e.accused_updated();
      std::string detail;
      if (u.sentence_months() != 0) detail += std::to_string(u.sentence_months()) + " months";
      if (u.fine_amount() != 0) {
        detail += (detail.empty() ? "" : " and a fine of ") + std::to_string(u.fine_amount()) +
                  " " + u.fine_currency();
      }
      for (const std::string& code : u.charged_sections()) {
        detail += (detail.empty() ? "under " : ", ") + code;
      }
      if (u.appeal_outcome() != passage::v1::APPEAL_OUTCOME_UNSPECIFIED) {
        detail = Words(passage::v1::AppealOutcome_descriptor(), u.appeal_outcome()) +
                 (detail.empty() ? "" : ": " + detail);
      }
      return actor + " recorded that a suspect was " +
             Words(passage::v1::AccusedStep_descriptor(), u.step()) +
             (detail.empty() ? std::string() : " (" + detail + ")") +
             (u.on_date().empty() ? std::string() : " on " + u.on_date());
    }
    case Event::kNoteAdded:
      return actor + " wrote a case note" +
             (e.note_added().referral_id().empty() ? std::string() : " on a referral") +
             " (sealed for " + std::to_string(e.note_added().text().wrapped_keys_size()) +
             " agencies)";
    case Event::kDocumentAttached: {
      const passage::v1::DocumentAttached& d = e.document_attached();
      return actor + " attached a document: " +
             Words(passage::v1::DocumentKind_descriptor(), d.kind()) + " (" + d.media_type() +
             ", " + std::to_string((d.size_bytes() + 1023) / 1024) + " KiB; sealed for " +
             std::to_string(d.meta().wrapped_keys_size()) + " agencies)";
    }
    case Event::kNoteResealed:
      return actor + " re-sealed a note for the " +
             std::to_string(e.note_resealed().sealed().wrapped_keys_size()) +
             " agencies that now hold the case notes";
    case Event::kSuspectIdentityResealed:
      return actor + " re-sealed a suspect's identity for the " +
             std::to_string(e.suspect_identity_resealed().identity().wrapped_keys_size()) +
             " agencies that now hold the suspect records";
    case Event::kSmugglingRecorded: {
      const passage::v1::SmugglingDetails& d = e.smuggling_recorded().details();
      std::string route = d.origin_country();
      for (const std::string& t : d.transit_countries()) route += " > " + t;
      route += " > " + d.destination_country();
      std::string aggravations;
      for (int a : d.aggravations()) {
        aggravations += (aggravations.empty() ? "" : ", ") +
                        Words(passage::v1::Aggravation_descriptor(), a);
      }
      return actor + " recorded the smuggling route " + route +
             (d.interception() == passage::v1::INTERCEPTION_UNSPECIFIED
                  ? std::string()
                  : ", intercepted " + Words(passage::v1::Interception_descriptor(), d.interception())) +
             (aggravations.empty() ? std::string() : " (aggravated: " + aggravations + ")");
    }
    case Event::kFieldCorrected:
      return DescribeCorrection(e, before, actor);
    case Event::kServicePlanned: {
      const passage::v1::ServicePlanItem& i = e.service_planned().item();
      return actor + " planned a " + Upper(passage::v1::ServiceType_descriptor(), i.service()) +
             " service under " + names.Referral(e.service_planned().referral_id()) + ", due " +
             i.due_date() + (i.note().empty() ? std::string() : " (" + i.note() + ")");
    }
    case Event::kServicePlanItemUpdated: {
      const passage::v1::ServicePlanItemUpdated& u = e.service_plan_item_updated();
      const passage::v1::ServicePlanItem* i = FindPlanItem(before, u.item_id());
      const std::string what =
          i == nullptr
              ? std::string("a planned service")
              : "the planned " + Upper(passage::v1::ServiceType_descriptor(), i->service()) +
                    " service (due " + i->due_date() + ")";
      if (u.to() == passage::v1::PLAN_ITEM_STATUS_NOT_DONE) {
        return actor + " marked " + what + " not done: " + u.reason();
      }
      return actor + " marked " + what + " done" +
             (u.reason().empty() ? std::string() : " (" + u.reason() + ")");
    }
    case Event::kFollowUpScheduled: {
      const passage::v1::FollowUp& f = e.follow_up_scheduled().follow_up();
      return actor + " scheduled a follow-up under " +
             names.Referral(e.follow_up_scheduled().referral_id()) + " for " + f.due_date() +
             ": " + f.purpose();
    }
    case Event::kFollowUpDone: {
      const passage::v1::FollowUp* f = FindFollowUp(before, e.follow_up_done().follow_up_id());
      return actor + " completed the follow-up" +
             (f == nullptr ? std::string() : " due " + f->due_date() + " (" + f->purpose() + ")");
    }
    case Event::kAgencyRegistered:
    case Event::kKeyRotated:
    case Event::kAgencyRevoked:
      return actor + " published a configuration event (" + PayloadName(e) + ")";
    default:
      return actor + " published an event without a payload";
  }
}

std::string ReferralIdOf(const Event& e) {
  switch (e.payload_case()) {
    case Event::kReferralSent:
      return e.referral_sent().referral().referral_id();
    case Event::kReferralTransition:
      return e.referral_transition().referral_id();
    case Event::kServiceDelivered:
      return e.service_delivered().referral_id();
    case Event::kReturnRecorded:
      return e.return_recorded().referral_id();
    default:
      return CaseWorkReferralId(e);
  }
}

std::vector<passage::v1::Stage> StagesOf(const CaseState& s) {
  std::vector<passage::v1::Stage> out;
  for (int stage : s.stages()) {
    out.push_back(static_cast<passage::v1::Stage>(stage));
  }
  return out;
}

// ---- JSON ----

void JsonString(std::string* out, std::string_view s) { AppendJsonString(out, s); }

// Appends `"key":` (with a leading comma unless `first`).
class JsonObject {
 public:
  explicit JsonObject(std::string* out) : out_(out) { out_->push_back('{'); }
  void Key(std::string_view key) {
    if (!first_) {
      out_->push_back(',');
    }
    first_ = false;
    JsonString(out_, key);
    out_->push_back(':');
  }
  void Str(std::string_view key, std::string_view value) {
    Key(key);
    JsonString(out_, value);
  }
  void Int(std::string_view key, int64_t value) {
    Key(key);
    *out_ += std::to_string(value);
  }
  void Uint(std::string_view key, uint64_t value) {
    Key(key);
    *out_ += std::to_string(value);
  }
  void Bool(std::string_view key, bool value) {
    Key(key);
    *out_ += value ? "true" : "false";
  }
  // "<key>_ms": n and "<key>": "2024-...Z" (or null when 0).
  void Time(std::string_view key, int64_t ms) {
    Int(std::string(key) + "_ms", ms);
    Key(key);
    if (ms == 0) {
      *out_ += "null";
    } else {
      JsonString(out_, FormatUtcMs(ms));
    }
  }
  void End() { out_->push_back('}'); }

 private:
  std::string* out_;
  bool first_ = true;
};

void JsonStages(std::string* out, const std::vector<passage::v1::Stage>& stages) {
  out->push_back('[');
  for (size_t i = 0; i < stages.size(); ++i) {
    if (i > 0) {
      out->push_back(',');
    }
    JsonString(out, StageName(stages[i]));
  }
  out->push_back(']');
}

void AlignInto(std::string* out, const std::vector<std::vector<std::string>>& rows,
               const std::string& indent) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) {
      width.resize(row.size(), 0);
    }
    for (size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  for (const auto& row : rows) {
    std::string line = indent;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) {
        line += "  ";
      }
      line += row[c];
      if (c + 1 < row.size()) {
        line += std::string(width[c] - row[c].size(), ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    *out += line + "\n";
  }
}

}  // namespace

std::string FormatDurationMs(int64_t ms) {
  if (ms < 0) {
    return "-" + FormatDurationMs(-ms);
  }
  const long long s = static_cast<long long>(ms / 1000);
  const long long d = s / 86400;
  const long long h = (s / 3600) % 24;
  const long long m = (s / 60) % 60;
  const long long sec = s % 60;
  char buf[64];
  if (d > 0) {
    std::snprintf(buf, sizeof(buf), "%lldd %02lldh %02lldm", d, h, m);
  } else if (h > 0) {
    std::snprintf(buf, sizeof(buf), "%lldh %02lldm", h, m);
  } else if (m > 0) {
    std::snprintf(buf, sizeof(buf), "%lldm %02llds", m, sec);
  } else {
    std::snprintf(buf, sizeof(buf), "%llds", sec);
  }
  return buf;
}

Journey BuildJourney(
    const std::vector<std::pair<passage::v1::Envelope, passage::v1::Event>>& events,
    const AgencyDirectory* agencies) {
  Journey j;
  if (events.empty()) {
    return j;
  }
  Namer names(agencies);
  CaseProjection projection;
  std::vector<passage::v1::Stage> current;      // stages before the event
  std::map<passage::v1::Stage, int64_t> since;  // start of each held stage
  int64_t period_start = 0;
  int64_t clock = 0;
  bool first = true;

  for (const auto& [env, e] : events) {
    const int64_t stamped = e.occurred_at_ms() != 0 ? e.occurred_at_ms() : env.appended_at_ms();
    const int64_t t = first ? stamped : std::max(clock, stamped);
    if (first) {
      j.started_at_ms = t;
      period_start = t;
      first = false;
    }
    clock = t;

    if (e.payload_case() == Event::kReferralSent) {
      names.Number(e.referral_sent().referral().referral_id());
    }
    JourneyEntry entry;
    entry.at_ms = stamped;
    entry.global_seq = env.global_seq();
    entry.case_seq = env.case_seq();
    entry.agency = e.actor_agency().empty() ? env.producer() : e.actor_agency();
    entry.event = PayloadName(e);
    entry.text = Describe(e, projection.state(), names);
    entry.referral_id = ReferralIdOf(e);

    projection.Apply(env, e);

    std::vector<passage::v1::Stage> now = StagesOf(projection.state());
    entry.stages = now;
    entry.stages_changed = now != current;
    if (entry.stages_changed) {
      if (!current.empty() && t > period_start) {
        j.periods.push_back(StagePeriod{current, period_start, t, false});
      }
      period_start = t;
      for (passage::v1::Stage s : current) {
        if (std::find(now.begin(), now.end(), s) == now.end()) {
          if (t > since[s]) {
            j.stage_intervals.push_back(StageInterval{s, since[s], t, false});
          }
          since.erase(s);
        }
      }
      for (passage::v1::Stage s : now) {
        if (std::find(current.begin(), current.end(), s) == current.end()) {
          since[s] = t;
        }
      }
      current = now;
    }
    j.entries.push_back(std::move(entry));
  }

  j.ended_at_ms = clock;
  if (!current.empty()) {
    // Kept even when empty in time: it names the stages the case is in now.
    j.periods.push_back(StagePeriod{current, period_start, clock, true});
  }
  for (const auto& [stage, from] : since) {
    j.stage_intervals.push_back(StageInterval{stage, from, clock, true});
  }
  std::sort(j.stage_intervals.begin(), j.stage_intervals.end(),
            [](const StageInterval& a, const StageInterval& b) {
              return std::tie(a.from_ms, a.stage) < std::tie(b.from_ms, b.stage);
            });
  std::map<passage::v1::Stage, StageTime> times;
  for (const StageInterval& i : j.stage_intervals) {
    StageTime& t = times[i.stage];
    t.stage = i.stage;
    t.total_ms += i.duration_ms();
    ++t.intervals;
    t.ongoing = t.ongoing || i.ongoing;
  }
  for (const auto& [stage, time] : times) {
    j.time_in_stage.push_back(time);
  }

  const CaseState& state = projection.state();
  j.case_id = state.case_id().empty() ? events.front().first.case_id() : state.case_id();
  j.closed = state.closed();
  j.stages = current;
  for (const Referral& r : state.referrals()) {
    ReferralPath path;
    path.number = names.NumberOf(r.referral_id());
    path.referral_id = r.referral_id();
    path.from_agency = r.from_agency();
    path.to_agency = r.to_agency();
    path.kind = r.kind();
    path.service = r.service();
    path.priority = r.priority();
    path.respond_by_ms = r.respond_by_ms();
    path.parent_referral_id = r.parent_referral_id();
    for (const Referral& other : state.referrals()) {
      if (other.parent_referral_id() == r.referral_id()) {
        path.child_referral_ids.push_back(other.referral_id());
      }
    }
    path.status = r.status();
    path.status_reason = r.status_reason();
    path.outcome = r.outcome();
    for (const passage::v1::ReferralTransitionRecord& h : r.history()) {
      path.steps.push_back(ReferralStep{h.to(), h.at_ms(), h.by_agency(), h.global_seq()});
    }
    j.referrals.push_back(std::move(path));
  }
  std::sort(j.referrals.begin(), j.referrals.end(),
            [](const ReferralPath& a, const ReferralPath& b) { return a.number < b.number; });
  j.unplaced = UnplacedNeeds(projection.state());
  return j;
}

std::string RenderJourney(const Journey& j) {
  std::string out = "Journey of case " + (j.case_id.empty() ? "(none)" : j.case_id) + "\n";
  if (j.entries.empty()) {
    return out + "  no events\n";
  }
  out += "  from " + FormatShownMs(j.started_at_ms) + " to " + FormatShownMs(j.ended_at_ms) + " (" +
         FormatDurationMs(j.elapsed_ms()) + "); " + (j.closed ? "closed" : "open") + ", now in " +
         StageList(j.stages) + "\n";

  std::map<std::string, int> numbers;
  for (const ReferralPath& r : j.referrals) {
    numbers[r.referral_id] = r.number;
  }
  auto ref_name = [&](const std::string& id) {
    auto it = numbers.find(id);
    return it == numbers.end() || it->second == 0 ? id : "R" + std::to_string(it->second);
  };

  out += "\nTimeline\n";
  for (const JourneyEntry& e : j.entries) {
    out += "  " + FormatShownMs(e.at_ms) + "  " + e.text + "\n";
    if (e.stages_changed) {
      out += std::string(24, ' ') + "-> now in " + StageList(e.stages) + "\n";
    }
  }

  out += "\nTime in each stage\n";
  std::vector<std::vector<std::string>> rows;
  for (const StageTime& t : j.time_in_stage) {
    rows.push_back({StageName(t.stage), FormatDurationMs(t.total_ms),
                    (t.intervals > 1 ? std::to_string(t.intervals) + " stays" : std::string()) +
                        (t.ongoing ? (t.intervals > 1 ? ", ongoing" : "ongoing") : "")});
  }
  AlignInto(&out, rows, "  ");

  out += "\nStage periods\n";
  rows.clear();
  for (const StagePeriod& p : j.periods) {
    rows.push_back({FormatShownMs(p.from_ms), FormatDurationMs(p.duration_ms()),
                    StageList(p.stages) + (p.ongoing ? " (ongoing)" : "")});
  }
  AlignInto(&out, rows, "  ");

  out += "\nReferrals\n";
  if (j.referrals.empty()) {
    out += "  none\n";
  }
  for (const ReferralPath& r : j.referrals) {
    std::string line = "  " + ref_name(r.referral_id) + "  " + r.referral_id + "  " +
                       r.from_agency + " -> " + r.to_agency + "  " +
                       ShortEnumName(passage::v1::ServiceType_descriptor(), r.service);
    if (r.kind == passage::v1::REFERRAL_KIND_TRANSFER) {
      line += " (transfer)";
    }
    if (r.priority != passage::v1::PRIORITY_UNSPECIFIED) {
      line += ", " + Words(passage::v1::Priority_descriptor(), r.priority);
    }
    line += "  " + ReferralStatusName(r.status);
    if (r.status == passage::v1::REFERRAL_STATUS_REJECTED) {
      line += " (" + Words(passage::v1::RejectReason_descriptor(), r.status_reason) + ")";
    }
    if (!r.outcome.empty()) {
      line += " (outcome: " + r.outcome + ")";
    }
    out += line + "\n";
    if (!r.parent_referral_id.empty()) {
      out += "      follow-up of " + ref_name(r.parent_referral_id) + "\n";
    }
    if (!r.child_referral_ids.empty()) {
      std::string list;
      for (const std::string& c : r.child_referral_ids) {
        list += list.empty() ? "" : ", ";
        list += ref_name(c);
      }
      out += "      followed by " + list + "\n";
    }
    int64_t previous = 0;
    for (const ReferralStep& s : r.steps) {
      out += "      " + FormatShownMs(s.at_ms) + "  " + ReferralStatusName(s.status) + " by " +
             s.by_agency;
      if (previous != 0 && s.at_ms >= previous) {
        out += " (+" + FormatDurationMs(s.at_ms - previous) + ")";
      }
      out += "\n";
      previous = s.at_ms;
    }
  }
  if (!j.unplaced.empty()) {
    out += "\nNeeds no agency has taken (refer by hand, or close the case)\n";
    for (const UnplacedNeed& n : j.unplaced) {
      out += "  " + Upper(passage::v1::ServiceType_descriptor(), n.service) +
             ": the last referral, to " + n.last_agency + ", was " +
             ReferralStatusName(n.last_status) + "\n";
    }
  }
  return out;
}

std::string JourneyToJson(const Journey& j) {
  std::string out;
  JsonObject root(&out);
  root.Str("case_id", j.case_id);
  root.Time("started_at", j.started_at_ms);
  root.Time("ended_at", j.ended_at_ms);
  root.Int("elapsed_ms", j.elapsed_ms());
  root.Bool("closed", j.closed);
  root.Key("stages");
  JsonStages(&out, j.stages);

  root.Key("entries");
  out += "[";
  for (size_t i = 0; i < j.entries.size(); ++i) {
    const JourneyEntry& e = j.entries[i];
    out += i == 0 ? "" : ",";
    JsonObject o(&out);
    o.Time("at", e.at_ms);
    o.Uint("global_seq", e.global_seq);
    o.Uint("case_seq", e.case_seq);
    o.Str("agency", e.agency);
    o.Str("event", e.event);
    o.Str("text", e.text);
    o.Str("referral_id", e.referral_id);
    o.Key("stages");
    JsonStages(&out, e.stages);
    o.Bool("stages_changed", e.stages_changed);
    o.End();
  }
  out += "]";

  root.Key("periods");
  out += "[";
  for (size_t i = 0; i < j.periods.size(); ++i) {
    const StagePeriod& p = j.periods[i];
    out += i == 0 ? "" : ",";
    JsonObject o(&out);
    o.Key("stages");
    JsonStages(&out, p.stages);
    o.Time("from", p.from_ms);
    o.Time("to", p.to_ms);
    o.Int("duration_ms", p.duration_ms());
    o.Bool("ongoing", p.ongoing);
    o.End();
  }
  out += "]";

  root.Key("stage_intervals");
  out += "[";
  for (size_t i = 0; i < j.stage_intervals.size(); ++i) {
    const StageInterval& s = j.stage_intervals[i];
    out += i == 0 ? "" : ",";
    JsonObject o(&out);
    o.Str("stage", StageName(s.stage));
    o.Time("from", s.from_ms);
    o.Time("to", s.to_ms);
    o.Int("duration_ms", s.duration_ms());
    o.Bool("ongoing", s.ongoing);
    o.End();
  }
  out += "]";

  root.Key("time_in_stage");
  out += "[";
  for (size_t i = 0; i < j.time_in_stage.size(); ++i) {
    const StageTime& s = j.time_in_stage[i];
    out += i == 0 ? "" : ",";
    JsonObject o(&out);
    o.Str("stage", StageName(s.stage));
    o.Int("total_ms", s.total_ms);
    o.Int("intervals", s.intervals);
    o.Bool("ongoing", s.ongoing);
    o.End();
  }
  out += "]";

  root.Key("referrals");
  out += "[";
  for (size_t i = 0; i < j.referrals.size(); ++i) {
    const ReferralPath& r = j.referrals[i];
    out += i == 0 ? "" : ",";
    JsonObject o(&out);
    o.Int("number", r.number);
    o.Str("referral_id", r.referral_id);
    o.Str("from_agency", r.from_agency);
    o.Str("to_agency", r.to_agency);
    o.Str("kind", ShortEnumName(passage::v1::ReferralKind_descriptor(), r.kind));
    o.Str("service", ShortEnumName(passage::v1::ServiceType_descriptor(), r.service));
    o.Str("priority", ShortEnumName(passage::v1::Priority_descriptor(), r.priority));
    o.Time("respond_by", r.respond_by_ms);
    o.Str("parent_referral_id", r.parent_referral_id);
    o.Key("child_referral_ids");
    out += "[";
    for (size_t c = 0; c < r.child_referral_ids.size(); ++c) {
      out += c == 0 ? "" : ",";
      JsonString(&out, r.child_referral_ids[c]);
    }
    out += "]";
    o.Str("status", ReferralStatusName(r.status));
    o.Str("status_reason", ShortEnumName(passage::v1::RejectReason_descriptor(), r.status_reason));
    o.Str("outcome", r.outcome);
    o.Key("steps");
    out += "[";
    for (size_t s = 0; s < r.steps.size(); ++s) {
      out += s == 0 ? "" : ",";
      JsonObject step(&out);
      step.Str("status", ReferralStatusName(r.steps[s].status));
      step.Time("at", r.steps[s].at_ms);
      step.Str("by_agency", r.steps[s].by_agency);
      step.Uint("global_seq", r.steps[s].global_seq);
      step.End();
    }
    out += "]";
    o.End();
  }
  out += "]";
  root.End();
  return out;
}

}  // namespace passage::core
