#pragma once

// Builders of valid events for tests: a case opened by a first responder, a consent, referrals and
// their transitions. Each call makes a fresh event id (UUIDv7).

#include <chrono>
#include <string>

#include "passage/v1/events.pb.h"
#include "core/ids.h"

namespace passage::testing {

inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline passage::v1::Event BaseEvent(const std::string& agency, const std::string& case_id) {
  passage::v1::Event e;
  e.set_event_id(core::NewUuidV7());
  e.set_case_id(case_id);
  e.set_occurred_at_ms(NowMs());
  e.set_actor_agency(agency);
  e.set_actor_role(passage::v1::ACTOR_ROLE_CASE_WORKER);
  e.set_actor_user("tester");
  return e;
}

inline passage::v1::Event CaseOpened(const std::string& agency, const std::string& case_id) {
  auto e = BaseEvent(agency, case_id);
  auto* o = e.mutable_case_opened();
  o->set_crime_type(passage::v1::CRIME_TYPE_TIP);
  o->set_person_role(passage::v1::PERSON_ROLE_PRESUMED_VICTIM);
  auto* p = o->mutable_profile();
  p->set_sex(passage::v1::SEX_FEMALE);
  p->set_age_years(24);
  p->set_age_band(passage::v1::AGE_BAND_24_26);
  p->set_majority_at_identification(passage::v1::MAJORITY_STATUS_ADULT);
  p->add_citizenship("PK");
  p->set_country_of_identification("PK");
  p->add_exploitation_forms(passage::v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION);
  p->set_identification_channel(passage::v1::IDENTIFICATION_CHANNEL_POLICE_OPERATION);
  return e;
}

inline passage::v1::Event ConsentGiven(const std::string& agency, const std::string& case_id,
                                       const std::string& consent_id,
                                       passage::v1::ConsentScope scope =
                                           passage::v1::CONSENT_SCOPE_SHARE_WITH_AGENCIES) {
  auto e = BaseEvent(agency, case_id);
  auto* c = e.mutable_consent_given()->mutable_consent();
  c->set_consent_id(consent_id);
  c->set_scope(scope);
  c->set_given_by(passage::v1::CONSENT_GIVER_SELF);
  c->set_given_at_ms(NowMs());
  return e;
}

inline passage::v1::Event ReferralSent(const std::string& from, const std::string& to,
                                       const std::string& case_id, const std::string& referral_id,
                                       const std::string& consent_id) {
  auto e = BaseEvent(from, case_id);
  auto* r = e.mutable_referral_sent()->mutable_referral();
  r->set_referral_id(referral_id);
  r->set_case_id(case_id);
  r->set_kind(passage::v1::REFERRAL_KIND_REFERRAL);
  r->set_from_agency(from);
  r->set_to_agency(to);
  r->set_service(passage::v1::SERVICE_TYPE_SHELTER);
  r->set_reason("test");
  r->set_priority(passage::v1::PRIORITY_URGENT);
  r->set_respond_by_ms(NowMs() + 3600 * 1000);
  r->add_data_scope(passage::v1::DATA_SECTION_PROFILE);
  r->set_consent_id(consent_id);
  return e;
}

inline passage::v1::Event Transition(const std::string& agency, const std::string& case_id,
                                     const std::string& referral_id, passage::v1::ReferralStatus to) {
  auto e = BaseEvent(agency, case_id);
  auto* t = e.mutable_referral_transition();
  t->set_referral_id(referral_id);
  t->set_to(to);
  if (to == passage::v1::REFERRAL_STATUS_REJECTED) {
    t->set_reason(passage::v1::REJECT_REASON_CAPACITY_FULL);
  }
  if (to == passage::v1::REFERRAL_STATUS_COMPLETED || to == passage::v1::REFERRAL_STATUS_FAILED) {
    t->set_outcome("done");
  }
  return e;
}

}  // namespace passage::testing
