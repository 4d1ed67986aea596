#pragma once

// A test NRM for case projections: a directory of sample agencies (with the sample registry's
// law sections) and TestBroker, which plays the broker for one case: validates, checks, numbers
// the envelope and applies, as broker/server does.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/case_projection.h"
#include "core/validate.h"
#include "tests/core/test_events.h"
#include "tests/testing/status_matchers.h"

namespace passage::core::testing {

using passage::v1::Event;

inline constexpr char kFia[] = "fia-karachi";
inline constexpr char kPolice[] = "sindh-police";
inline constexpr char kShelter[] = "shelter-ngo";
inline constexpr char kLegalAid[] = "legal-aid-ngo";
inline constexpr char kProsecutor[] = "prosecutor-sd";
inline constexpr char kIom[] = "iom-pk";
inline constexpr char kRouter[] = "passage-router";
inline constexpr char kOmbudsman[] = "ombudsman";

inline passage::v1::Agency MakeAgency(const std::string& id, passage::v1::AgencyType type) {
  passage::v1::Agency a;
  a.set_id(id);
  a.set_name(id);
  a.set_type(type);
  a.set_region("PK-SD");
  return a;
}

// Law sections as the sample registry lists a few of them.
inline passage::v1::AgencyRegistry TestLawSections() {
  passage::v1::AgencyRegistry r;
  auto add = [&](const char* code, passage::v1::CrimeType type) {
    passage::v1::LawSection* s = r.add_law_sections();
    s->set_code(code);
    s->set_law("test law");
    s->set_crime_type(type);
  };
  add("PTPA-2018-3", passage::v1::CRIME_TYPE_TIP);
  add("PTPA-2018-4", passage::v1::CRIME_TYPE_TIP);
  add("PSMA-2018-3", passage::v1::CRIME_TYPE_SOM);
  add("PPC-370", passage::v1::CRIME_TYPE_TIP);
  add("PPC-471", passage::v1::CRIME_TYPE_BOTH);
  return r;
}

inline InMemoryAgencyDirectory TestDirectory() {
  InMemoryAgencyDirectory d;
  d.set_crime_policy(*CrimePolicy::FromRegistry(TestLawSections()));
  passage::v1::Agency fia = MakeAgency(kFia, passage::v1::AGENCY_TYPE_LAW_ENFORCEMENT);
  fia.set_first_responder(true);
  fia.add_override_roles(passage::v1::ACTOR_ROLE_SUPERVISOR);
  d.Upsert(fia);
  passage::v1::Agency police = MakeAgency(kPolice, passage::v1::AGENCY_TYPE_LAW_ENFORCEMENT);
  police.set_first_responder(true);
  d.Upsert(police);
  d.Upsert(MakeAgency(kShelter, passage::v1::AGENCY_TYPE_SHELTER));
  d.Upsert(MakeAgency(kLegalAid, passage::v1::AGENCY_TYPE_LEGAL_AID));
  d.Upsert(MakeAgency(kProsecutor, passage::v1::AGENCY_TYPE_PROSECUTION));
  d.Upsert(MakeAgency(kIom, passage::v1::AGENCY_TYPE_INTERNATIONAL_ORGANISATION));
  d.Upsert(MakeAgency(kOmbudsman, passage::v1::AGENCY_TYPE_OVERSIGHT));
  passage::v1::Agency router = MakeAgency(kRouter, passage::v1::AGENCY_TYPE_OTHER);
  router.set_system_principal(true);
  d.Upsert(router);
  return d;
}

// Plays the broker: validates, checks, "appends" (numbers the envelope) and applies.
class Broker {
 public:
  Broker() : agencies_(TestDirectory()) {}

  Status Publish(Event e) {
    e.set_event_id(EventId(next_event_++));
    e.set_occurred_at_ms(clock_ms_);
    clock_ms_ += 1000;
    RETURN_IF_ERROR(ValidateEvent(e, kTestNowMs + 30LL * 24 * 3600 * 1000));
    RETURN_IF_ERROR(projection_.Check(e, agencies_));
    passage::v1::Envelope env;
    env.set_global_seq(++global_seq_);
    env.set_case_seq(projection_.state().version() + 1);
    env.set_producer(e.actor_agency());
    env.set_case_id(e.case_id());
    env.set_event_id(e.event_id());
    env.set_event(e.SerializeAsString());
    projection_.Apply(env, e);
    log_.push_back(env);
    return Status::Ok();
  }

  const passage::v1::CaseState& state() const { return projection_.state(); }
  const CaseProjection& projection() const { return projection_; }
  const std::vector<passage::v1::Envelope>& log() const { return log_; }
  InMemoryAgencyDirectory& agencies() { return agencies_; }

  const passage::v1::Referral& referral(uint64_t n) const {
    const passage::v1::Referral* r = FindReferral(state(), ReferralId(n));
    EXPECT_NE(r, nullptr) << "no referral " << n;
    static const passage::v1::Referral kEmpty;
    return r == nullptr ? kEmpty : *r;
  }

  // Opens the case as FIA, records a SERVICES consent (ConsentId(1)) and a LAW_ENFORCEMENT consent
  // (ConsentId(2)).
  void OpenWithConsents() {
    ASSERT_OK(Publish(CaseOpenedEvent(kFia)));
    ASSERT_OK(Publish(ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES)));
    ASSERT_OK(
        Publish(ConsentGivenEvent(kFia, ConsentId(2), passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT)));
  }

  // Sends referral `n` from `from` to `to` and has the recipient receive and accept it.
  void SendAndAccept(uint64_t n, const std::string& from, const std::string& to,
                     passage::v1::ServiceType service, const std::string& consent_id) {
    ASSERT_OK(Publish(ReferralSentEvent(from, ReferralId(n), to, service, consent_id)));
    ASSERT_OK(Publish(TransitionEvent(to, ReferralId(n), passage::v1::REFERRAL_STATUS_RECEIVED,
                                      passage::v1::ACTOR_ROLE_SYSTEM)));
    ASSERT_OK(Publish(TransitionEvent(to, ReferralId(n), passage::v1::REFERRAL_STATUS_ACCEPTED)));
  }

 private:
  InMemoryAgencyDirectory agencies_;
  CaseProjection projection_;
  std::vector<passage::v1::Envelope> log_;
  uint64_t next_event_ = 1;
  uint64_t global_seq_ = 100;  // other cases' events came first
  int64_t clock_ms_ = kTestNowMs;
};

inline void ExpectRefused(const Status& s, StatusCode code, const std::string& field) {
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_EQ(s.field(), field) << s.ToString();
}

}  // namespace passage::core::testing
