#pragma once

// Builders of valid events for the core tests. Each returns an event that passes ValidateEvent at
// kTestNowMs; tests then break one field.

#include <cstdint>
#include <cstdio>
#include <string>

#include "passage/v1/events.pb.h"

namespace passage::core::testing {

// 2024-05-01T10:00:00Z.
inline constexpr int64_t kTestNowMs = 1'714'557'600'000;

inline constexpr char kCaseId[] = "0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";

// A deterministic version-4 UUID per `n`: 00000000-0000-4000-8000-<n in 12 hex digits>, with the
// first group naming the `kind` of object so ids of different kinds never collide.
inline std::string TestUuid(uint32_t kind, uint64_t n) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-0000-4000-8000-%012llx", kind,
                static_cast<unsigned long long>(n));
  return buf;
}
inline std::string EventId(uint64_t n) { return TestUuid(0xe0, n); }
inline std::string ConsentId(uint64_t n) { return TestUuid(0xc0, n); }
inline std::string ReferralId(uint64_t n) { return TestUuid(0xa0, n); }

inline passage::v1::Event BaseEvent(
    const std::string& actor, passage::v1::ActorRole role = passage::v1::ACTOR_ROLE_CASE_WORKER) {
  passage::v1::Event e;
  e.set_event_id(EventId(1));
  e.set_case_id(kCaseId);
  e.set_occurred_at_ms(kTestNowMs - 60'000);
  e.set_actor_agency(actor);
  e.set_actor_role(role);
  e.set_actor_user("staff-17");
  return e;
}

inline passage::v1::Profile ValidProfile() {
  passage::v1::Profile p;
  p.set_sex(passage::v1::SEX_FEMALE);
  p.set_age_years(16);
  p.set_age_estimated(true);
  p.set_age_band(passage::v1::AGE_BAND_9_17);
  p.set_majority_at_identification(passage::v1::MAJORITY_STATUS_MINOR);
  p.set_majority_at_exploitation(passage::v1::MAJORITY_STATUS_MINOR);
  p.add_citizenship("PK");
  p.set_country_of_identification("PK");
  p.set_province_of_identification("PK-SD");
  p.set_country_of_exploitation("AE");
  p.add_exploitation_forms(passage::v1::EXPLOITATION_FORM_FORCED_LABOUR);
  p.add_exploitation_forms(passage::v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION);
  p.add_labour_sectors(passage::v1::LABOUR_SECTOR_DOMESTIC_WORK);
  p.add_means_of_control(passage::v1::MEANS_OF_CONTROL_WITHHOLDS_DOCUMENTS);
  p.add_recruiter_relations(passage::v1::RECRUITER_RELATION_FAMILY);
  p.set_identification_channel(passage::v1::IDENTIFICATION_CHANNEL_POLICE_OPERATION);
  p.set_year_of_registration(2024);
  return p;
}

inline passage::v1::Event CaseOpenedEvent(const std::string& actor) {
  passage::v1::Event e = BaseEvent(actor);
  passage::v1::CaseOpened* p = e.mutable_case_opened();
  p->set_crime_type(passage::v1::CRIME_TYPE_TIP);
  p->set_person_role(passage::v1::PERSON_ROLE_PRESUMED_VICTIM);
  *p->mutable_profile() = ValidProfile();
  return e;
}

inline passage::v1::Event ConsentGivenEvent(const std::string& actor, const std::string& consent_id,
                                            passage::v1::ConsentScope scope) {
  passage::v1::Event e = BaseEvent(actor);
  passage::v1::Consent* c = e.mutable_consent_given()->mutable_consent();
  c->set_consent_id(consent_id);
  c->set_scope(scope);
  c->set_given_by(passage::v1::CONSENT_GIVER_SELF);
  return e;
}

inline passage::v1::Event ConsentWithdrawnEvent(const std::string& actor,
                                                const std::string& consent_id) {
  passage::v1::Event e = BaseEvent(actor);
  e.mutable_consent_withdrawn()->set_consent_id(consent_id);
  return e;
}

// A referral relying on `consent_id`; pass an empty consent id and set an override afterwards for
// an override referral.
inline passage::v1::Event ReferralSentEvent(const std::string& actor,
                                            const std::string& referral_id, const std::string& to,
                                            passage::v1::ServiceType service,
                                            const std::string& consent_id) {
  passage::v1::Event e = BaseEvent(actor);
  passage::v1::Referral* r = e.mutable_referral_sent()->mutable_referral();
  r->set_referral_id(referral_id);
  r->set_kind(passage::v1::REFERRAL_KIND_REFERRAL);
  r->set_to_agency(to);
  r->set_service(service);
  r->set_reason("rule:test");
  r->set_priority(passage::v1::PRIORITY_URGENT);
  r->set_respond_by_ms(kTestNowMs + 2 * 3600 * 1000);
  r->add_data_scope(passage::v1::DATA_SECTION_PROFILE);
  r->add_data_scope(passage::v1::DATA_SECTION_SERVICES);
  r->set_consent_id(consent_id);
  return e;
}

inline passage::v1::Event TransitionEvent(
    const std::string& actor, const std::string& referral_id, passage::v1::ReferralStatus to,
    passage::v1::ActorRole role = passage::v1::ACTOR_ROLE_CASE_WORKER) {
  passage::v1::Event e = BaseEvent(actor, role);
  passage::v1::ReferralTransition* t = e.mutable_referral_transition();
  t->set_referral_id(referral_id);
  t->set_to(to);
  if (to == passage::v1::REFERRAL_STATUS_REJECTED) {
    t->set_reason(passage::v1::REJECT_REASON_CAPACITY_FULL);
  }
  if (to == passage::v1::REFERRAL_STATUS_COMPLETED || to == passage::v1::REFERRAL_STATUS_FAILED) {
    t->set_outcome("service-plan-closed");
  }
  return e;
}

inline passage::v1::Event ServiceDeliveredEvent(const std::string& actor,
                                                const std::string& referral_id,
                                                passage::v1::ServiceType service) {
  passage::v1::Event e = BaseEvent(actor);
  e.mutable_service_delivered()->set_referral_id(referral_id);
  e.mutable_service_delivered()->set_service(service);
  return e;
}

inline passage::v1::Event ProceedingEvent(const std::string& actor,
                                          passage::v1::ProceedingMilestone milestone) {
  passage::v1::Event e = BaseEvent(actor);
  passage::v1::CriminalProceeding* p =
      e.mutable_criminal_proceeding_updated()->mutable_proceeding();
  p->set_milestone(milestone);
  p->set_reference("FIR-112/2024");
  return e;
}

}  // namespace passage::core::testing
