#include "core/validate.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "tests/core/test_events.h"
#include "tests/testing/status_matchers.h"

namespace passage::core {
namespace {

using namespace passage::core::testing;  // NOLINT(google-build-using-namespace)
using passage::v1::Event;

constexpr char kFia[] = "fia-karachi";
constexpr char kShelter[] = "shelter-ngo";

Event ValidReferralSent() {
  return ReferralSentEvent(kFia, ReferralId(1), kShelter, passage::v1::SERVICE_TYPE_SHELTER,
                           ConsentId(1));
}

std::vector<std::pair<std::string, Event>> ValidEvents() {
  std::vector<std::pair<std::string, Event>> out;
  out.emplace_back("case opened", CaseOpenedEvent(kFia));
  {
    Event e = BaseEvent(kFia);
    e.mutable_identification_recorded()->set_trafficking_status(
        passage::v1::TRAFFICKING_STATUS_POSSIBLE);
    e.mutable_identification_recorded()->set_screening_tool("IOM-HTCDS-screening-v2");
    out.emplace_back("identification", e);
  }
  {
    Event e = BaseEvent(kFia);
    *e.mutable_profile_updated()->mutable_profile() = ValidProfile();
    out.emplace_back("profile updated", e);
  }
  out.emplace_back("consent given",
                   ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES));
  out.emplace_back("consent withdrawn", ConsentWithdrawnEvent(kFia, ConsentId(1)));
  out.emplace_back("referral sent", ValidReferralSent());
  {
    Event e = ValidReferralSent();
    passage::v1::Referral* r = e.mutable_referral_sent()->mutable_referral();
    r->clear_consent_id();
    r->mutable_consent_override()->set_role(passage::v1::ACTOR_ROLE_SUPERVISOR);
    r->mutable_consent_override()->set_reason("child at immediate risk");
    out.emplace_back("referral sent with override", e);
  }
  out.emplace_back("transition",
                   TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_REJECTED));
  out.emplace_back(
      "service", ServiceDeliveredEvent(kShelter, ReferralId(1), passage::v1::SERVICE_TYPE_SHELTER));
  out.emplace_back("proceeding",
                   ProceedingEvent(kFia, passage::v1::PROCEEDING_MILESTONE_FIR_REGISTERED));
  {
    Event e = BaseEvent(kFia);
    e.mutable_return_recorded()->set_country("AFG");
    out.emplace_back("return", e);
  }
  {
    Event e = BaseEvent(kFia);
    e.mutable_case_closed()->set_reason("reintegrated");
    out.emplace_back("closed", e);
  }
  {
    Event e = BaseEvent(kShelter);
    e.mutable_record_accessed()->add_sections(passage::v1::DATA_SECTION_PROFILE);
    e.mutable_record_accessed()->set_purpose("delivery");
    out.emplace_back("accessed", e);
  }
  {
    Event e = BaseEvent("nrm-coordinator", passage::v1::ACTOR_ROLE_COORDINATOR);
    e.clear_case_id();
    passage::v1::Agency* a = e.mutable_agency_registered()->mutable_agency();
    a->set_id("shelter-ngo");
    a->set_name("Shelter NGO Karachi");
    a->set_type(passage::v1::AGENCY_TYPE_SHELTER);
    a->set_region("PK-SD");
    a->add_services(passage::v1::SERVICE_TYPE_SHELTER);
    out.emplace_back("agency registered", e);
  }
  {
    Event e = BaseEvent(kFia);
    e.clear_case_id();
    e.mutable_key_rotated()->set_agency_id(kFia);
    e.mutable_key_rotated()->set_sealing_public_key("ab12");
    out.emplace_back("key rotated", e);
  }
  return out;
}

TEST(ValidateEvent, AcceptsAValidEventOfEveryPayload) {
  for (const auto& [name, e] : ValidEvents()) {
    EXPECT_OK(ValidateEvent(e, kTestNowMs)) << name;
  }
}

struct BadCase {
  std::string name;
  std::function<void(Event*)> breaks;
  std::string field;
  std::string message;  // checked when not empty
};

Event Opened() { return CaseOpenedEvent(kFia); }

void Check(const Event& base, const std::vector<BadCase>& cases) {
  for (const BadCase& c : cases) {
    Event e = base;
    c.breaks(&e);
    Status s = ValidateEvent(e, kTestNowMs);
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(s.field(), c.field) << c.name << ": " << s.ToString();
    if (!c.message.empty()) {
      EXPECT_EQ(s.message(), c.message) << c.name;
    }
  }
}

TEST(ValidateEvent, UnknownEnumNumbersAreRefusedWithTheField) {
  Check(Opened(),
        {
            {"actor role",
             [](Event* e) { e->set_actor_role(static_cast<passage::v1::ActorRole>(42)); },
             "actor_role", "42 is not a known ActorRole value"},
            {"sex",
             [](Event* e) {
               e->mutable_case_opened()->mutable_profile()->set_sex(
                   static_cast<passage::v1::Sex>(99));
             },
             "case_opened.profile.sex", "99 is not a known Sex value"},
            {"exploitation form in a list",
             [](Event* e) {
               e->mutable_case_opened()->mutable_profile()->add_exploitation_forms(
                   static_cast<passage::v1::ExploitationForm>(77));
             },
             "case_opened.profile.exploitation_forms[2]", ""},
            {"means of control",
             [](Event* e) {
               e->mutable_case_opened()->mutable_profile()->add_means_of_control(
                   static_cast<passage::v1::MeansOfControl>(-3));
             },
             "case_opened.profile.means_of_control[1]", ""},
            {"crime type",
             [](Event* e) {
               e->mutable_case_opened()->set_crime_type(static_cast<passage::v1::CrimeType>(5));
             },
             "case_opened.crime_type", ""},
            {"channel",
             [](Event* e) {
               e->mutable_case_opened()->mutable_profile()->set_identification_channel(
                   static_cast<passage::v1::IdentificationChannel>(9));
             },
             "case_opened.profile.identification_channel", ""},
        });
  Check(ValidReferralSent(), {
                                 {"priority",
                                  [](Event* e) {
                                    e->mutable_referral_sent()->mutable_referral()->set_priority(
                                        static_cast<passage::v1::Priority>(9));
                                  },
                                  "referral_sent.referral.priority", ""},
                                 {"data scope",
                                  [](Event* e) {
                                    e->mutable_referral_sent()->mutable_referral()->add_data_scope(
                                        static_cast<passage::v1::DataSection>(12));
                                  },
                                  "referral_sent.referral.data_scope[2]", ""},
                             });
  Check(
      TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED),
      {
          {"status",
           [](Event* e) {
             e->mutable_referral_transition()->set_to(static_cast<passage::v1::ReferralStatus>(12));
           },
           "referral_transition.to", "12 is not a known ReferralStatus value"},
          {"reject reason",
           [](Event* e) {
             e->mutable_referral_transition()->set_reason(
                 static_cast<passage::v1::RejectReason>(40));
           },
           "referral_transition.reason", ""},
      });
}

TEST(ValidateEvent, UnspecifiedIsRefusedWhereAValueIsRequired) {
  Check(Opened(),
        {
            {"actor role", [](Event* e) { e->set_actor_role(passage::v1::ACTOR_ROLE_UNSPECIFIED); },
             "actor_role", "must be set (ACTOR_ROLE_UNSPECIFIED means not recorded)"},
            {"crime type",
             [](Event* e) {
               e->mutable_case_opened()->set_crime_type(passage::v1::CRIME_TYPE_UNSPECIFIED);
             },
             "case_opened.crime_type", ""},
            {"person role",
             [](Event* e) {
               e->mutable_case_opened()->set_person_role(passage::v1::PERSON_ROLE_UNSPECIFIED);
             },
             "case_opened.person_role", ""},
            {"unspecified inside a list",
             [](Event* e) {
               e->mutable_case_opened()->mutable_profile()->add_labour_sectors(
                   passage::v1::LABOUR_SECTOR_UNSPECIFIED);
             },
             "case_opened.profile.labour_sectors[1]", ""},
        });
  Check(ProceedingEvent(kFia, passage::v1::PROCEEDING_MILESTONE_CHARGE_FILED),
        {
            {"milestone",
             [](Event* e) {
               e->mutable_criminal_proceeding_updated()->mutable_proceeding()->set_milestone(
                   passage::v1::PROCEEDING_MILESTONE_UNSPECIFIED);
             },
             "criminal_proceeding_updated.proceeding.milestone", ""},
        });
  Check(ServiceDeliveredEvent(kShelter, "", passage::v1::SERVICE_TYPE_MEDICAL),
        {
            {"service",
             [](Event* e) {
               e->mutable_service_delivered()->set_service(passage::v1::SERVICE_TYPE_UNSPECIFIED);
             },
             "service_delivered.service", ""},
        });
}

TEST(ValidateEvent, ImpossibleDatesAreRefused) {
  Check(
      Opened(),
      {
          {"before 2000", [](Event* e) { e->set_occurred_at_ms(946684799999); }, "occurred_at_ms",
           "946684799999 (1999-12-31T23:59:59Z) is before 2000-01-01, an impossible date"},
          {"zero", [](Event* e) { e->set_occurred_at_ms(0); }, "occurred_at_ms", ""},
          {"negative", [](Event* e) { e->set_occurred_at_ms(-5); }, "occurred_at_ms", ""},
          {"25 hours ahead",
           [](Event* e) { e->set_occurred_at_ms(kTestNowMs + 25 * 3600 * 1000LL); },
           "occurred_at_ms", ""},
          {"far future", [](Event* e) { e->set_occurred_at_ms(INT64_MAX); }, "occurred_at_ms", ""},
      });
  Event ahead = Opened();
  ahead.set_occurred_at_ms(kTestNowMs + 23 * 3600 * 1000LL);
  EXPECT_OK(ValidateEvent(ahead, kTestNowMs));
  ahead.set_occurred_at_ms(kEarliestEventMs);
  EXPECT_OK(ValidateEvent(ahead, kTestNowMs));

  Check(ProceedingEvent(kFia, passage::v1::PROCEEDING_MILESTONE_FIR_REGISTERED),
        {
            {"milestone before 1990",
             [](Event* e) {
               e->mutable_criminal_proceeding_updated()->mutable_proceeding()->set_at_ms(1000);
             },
             "criminal_proceeding_updated.proceeding.at_ms", ""},
        });
  Check(ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES),
        {
            {"consent given in the future",
             [](Event* e) {
               e->mutable_consent_given()->mutable_consent()->set_given_at_ms(kTestNowMs +
                                                                              48 * 3600 * 1000LL);
             },
             "consent_given.consent.given_at_ms", ""},
        });
  Check(
      ValidReferralSent(),
      {
          {"respond-by before the referral",
           [](Event* e) {
             e->mutable_referral_sent()->mutable_referral()->set_respond_by_ms(e->occurred_at_ms());
           },
           "referral_sent.referral.respond_by_ms", ""},
          {"no respond-by",
           [](Event* e) { e->mutable_referral_sent()->mutable_referral()->set_respond_by_ms(0); },
           "referral_sent.referral.respond_by_ms", "a respond-by time is required"},
      });
}

TEST(ValidateEvent, WrongCountryCodesAreRefused) {
  Check(
      Opened(),
      {
          {"citizenship",
           [](Event* e) { e->mutable_case_opened()->mutable_profile()->add_citizenship("PAK1"); },
           "case_opened.profile.citizenship[1]", "'PAK1' is not an ISO 3166-1 country code"},
          {"unassigned",
           [](Event* e) { e->mutable_case_opened()->mutable_profile()->set_citizenship(0, "XX"); },
           "case_opened.profile.citizenship[0]", ""},
          {"listed twice",
           [](Event* e) { e->mutable_case_opened()->mutable_profile()->add_citizenship("pak"); },
           "case_opened.profile.citizenship[1]", "'PK' is listed twice"},
          {"country of identification",
           [](Event* e) {
             e->mutable_case_opened()->mutable_profile()->set_country_of_identification("Pakistan");
           },
           "case_opened.profile.country_of_identification", ""},
          {"country of exploitation",
           [](Event* e) {
             e->mutable_case_opened()->mutable_profile()->set_country_of_exploitation("UAE");
           },
           "case_opened.profile.country_of_exploitation", ""},
          {"province syntax",
           [](Event* e) {
             e->mutable_case_opened()->mutable_profile()->set_province_of_identification("Sindh");
           },
           "case_opened.profile.province_of_identification", ""},
          {"province of another country",
           [](Event* e) {
             e->mutable_case_opened()->mutable_profile()->set_province_of_identification("IN-MH");
           },
           "case_opened.profile.province_of_identification",
           "'IN-MH' is not a subdivision of country_of_identification 'PK'"},
      });
  Event back = BaseEvent(kFia);
  back.mutable_return_recorded()->set_country("ZZZ");
  Check(back, {{"return country", [](Event*) {}, "return_recorded.country", ""}});
  back.mutable_return_recorded()->clear_country();
  Check(back, {{"return country missing", [](Event*) {}, "return_recorded.country",
                "a country code is required"}});
}

TEST(ValidateEvent, Alpha3AndLowerCaseCountriesAreAccepted) {
  Event e = Opened();
  passage::v1::Profile* p = e.mutable_case_opened()->mutable_profile();
  p->set_citizenship(0, "pak");
  p->add_citizenship("AFG");
  p->set_country_of_identification("pak");
  p->set_province_of_identification("pk-sd");
  p->set_country_of_exploitation("are");
  ASSERT_OK(ValidateEvent(e, kTestNowMs));

  ASSERT_OK(NormalizeEvent(&e));
  const passage::v1::Profile& n = e.case_opened().profile();
  ASSERT_EQ(n.citizenship_size(), 2);
  EXPECT_EQ(n.citizenship(0), "PK");
  EXPECT_EQ(n.citizenship(1), "AF");
  EXPECT_EQ(n.country_of_identification(), "PK");
  EXPECT_EQ(n.province_of_identification(), "PK-SD");
  EXPECT_EQ(n.country_of_exploitation(), "AE");
}

TEST(ValidateEvent, MissingPayloadIsRefused) {
  Event e = BaseEvent(kFia);
  Status s = ValidateEvent(e, kTestNowMs);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.field(), "payload");
  Check(BaseEvent(kFia),
        {
            {"empty consent", [](Event* e) { e->mutable_consent_given(); }, "consent_given.consent",
             ""},
            {"empty referral", [](Event* e) { e->mutable_referral_sent(); },
             "referral_sent.referral", ""},
            {"empty profile update", [](Event* e) { e->mutable_profile_updated(); },
             "profile_updated.profile", ""},
            {"empty proceeding", [](Event* e) { e->mutable_criminal_proceeding_updated(); },
             "criminal_proceeding_updated.proceeding", ""},
            {"no sections read", [](Event* e) { e->mutable_record_accessed(); },
             "record_accessed.sections", ""},
        });
}

TEST(ValidateEvent, BadUuidsAreRefused) {
  Check(Opened(), {
                      {"event id upper case",
                       [](Event* e) { e->set_event_id("0190A3C4-5D6E-7F80-9A1B-2C3D4E5F6A7B"); },
                       "event_id", ""},
                      {"event id version 1",
                       [](Event* e) { e->set_event_id("0190a3c4-5d6e-1f80-9a1b-2c3d4e5f6a7b"); },
                       "event_id", ""},
                      {"event id missing", [](Event* e) { e->clear_event_id(); }, "event_id",
                       "a UUID is required"},
                      {"case id short", [](Event* e) { e->set_case_id("0190a3c4-5d6e-7f80-9a1b"); },
                       "case_id", ""},
                      {"case id missing", [](Event* e) { e->clear_case_id(); }, "case_id", ""},
                  });
  Check(
      ValidReferralSent(),
      {
          {"referral id",
           [](Event* e) { e->mutable_referral_sent()->mutable_referral()->set_referral_id("r-1"); },
           "referral_sent.referral.referral_id", ""},
          {"consent id",
           [](Event* e) { e->mutable_referral_sent()->mutable_referral()->set_consent_id("c1"); },
           "referral_sent.referral.consent_id", ""},
          {"parent id",
           [](Event* e) {
             e->mutable_referral_sent()->mutable_referral()->set_parent_referral_id("nope");
           },
           "referral_sent.referral.parent_referral_id", ""},
      });
  Check(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED),
        {
            {"transition referral id",
             [](Event* e) { e->mutable_referral_transition()->set_referral_id(""); },
             "referral_transition.referral_id", ""},
        });
  Check(ConsentWithdrawnEvent(kFia, ConsentId(1)),
        {
            {"withdrawn consent id",
             [](Event* e) { e->mutable_consent_withdrawn()->set_consent_id("x"); },
             "consent_withdrawn.consent_id", ""},
        });
}

TEST(ValidateEvent, AgeAndBandMustAgree) {
  Check(
      Opened(),
      {
          {"band of another age",
           [](Event* e) {
             e->mutable_case_opened()->mutable_profile()->set_age_band(passage::v1::AGE_BAND_18_20);
           },
           "case_opened.profile.age_band",
           "age band 18--20 does not match age_years 16 (expected 9--17)"},
          {"too old",
           [](Event* e) { e->mutable_case_opened()->mutable_profile()->set_age_years(121); },
           "case_opened.profile.age_years", "age 121 is above 120"},
          {"majority of another age",
           [](Event* e) {
             e->mutable_case_opened()->mutable_profile()->set_majority_at_identification(
                 passage::v1::MAJORITY_STATUS_ADULT);
           },
           "case_opened.profile.majority_at_identification", ""},
          {"majority of another band",
           [](Event* e) {
             passage::v1::Profile* p = e->mutable_case_opened()->mutable_profile();
             p->clear_age_years();
             p->set_majority_at_identification(passage::v1::MAJORITY_STATUS_ADULT);
           },
           "case_opened.profile.majority_at_identification", ""},
          {"adult at exploitation, minor now",
           [](Event* e) {
             e->mutable_case_opened()->mutable_profile()->set_majority_at_exploitation(
                 passage::v1::MAJORITY_STATUS_ADULT);
           },
           "case_opened.profile.majority_at_exploitation", ""},
          {"year of registration",
           [](Event* e) {
             e->mutable_case_opened()->mutable_profile()->set_year_of_registration(1989);
           },
           "case_opened.profile.year_of_registration", ""},
          {"gender identity as free text",
           [](Event* e) {
             e->mutable_case_opened()->mutable_profile()->set_gender_identity("Ayesha from Lyari");
           },
           "case_opened.profile.gender_identity", ""},
      });
  // Age alone, band alone, both consistent, age 0 and 120: all fine.
  for (uint32_t age : {0u, 8u, 9u, 17u, 18u, 47u, 48u, 120u}) {
    Event e = Opened();
    passage::v1::Profile* p = e.mutable_case_opened()->mutable_profile();
    p->set_age_years(age);
    p->clear_age_band();
    p->clear_majority_at_identification();
    p->clear_majority_at_exploitation();
    EXPECT_OK(ValidateEvent(e, kTestNowMs)) << age;
  }
  Event band_only = Opened();
  band_only.mutable_case_opened()->mutable_profile()->clear_age_years();
  EXPECT_OK(ValidateEvent(band_only, kTestNowMs));
}

TEST(ValidateEvent, ActorAndConfigurationRules) {
  Check(Opened(), {
                      {"agency id with capitals",
                       [](Event* e) { e->set_actor_agency("FIA Karachi"); }, "actor_agency", ""},
                      {"agency id missing", [](Event* e) { e->clear_actor_agency(); },
                       "actor_agency", "an agency id is required"},
                  });
  Event key = BaseEvent(kFia);
  key.mutable_key_rotated()->set_agency_id(kFia);
  key.mutable_key_rotated()->set_transport_public_key("k");
  Check(key, {
                 {"configuration event with a case", [](Event*) {}, "case_id", ""},
                 {"configuration event with a version",
                  [](Event* e) {
                    e->clear_case_id();
                    e->set_expected_case_version(3);
                  },
                  "expected_case_version", ""},
                 {"no key",
                  [](Event* e) {
                    e->clear_case_id();
                    e->mutable_key_rotated()->clear_transport_public_key();
                  },
                  "key_rotated", ""},
             });
  Event reg = BaseEvent(kFia);
  reg.clear_case_id();
  passage::v1::Agency* a = reg.mutable_agency_registered()->mutable_agency();
  a->set_id("new-ngo");
  a->set_name("New NGO");
  a->set_type(passage::v1::AGENCY_TYPE_NGO);
  ASSERT_OK(ValidateEvent(reg, kTestNowMs));
  Check(
      reg,
      {
          {"agency type",
           [](Event* e) {
             e->mutable_agency_registered()->mutable_agency()->set_type(
                 passage::v1::AGENCY_TYPE_UNSPECIFIED);
           },
           "agency_registered.agency.type", ""},
          {"override role",
           [](Event* e) {
             e->mutable_agency_registered()->mutable_agency()->add_override_roles(
                 static_cast<passage::v1::ActorRole>(17));
           },
           "agency_registered.agency.override_roles[0]", ""},
          {"region",
           [](Event* e) { e->mutable_agency_registered()->mutable_agency()->set_region("Sindh"); },
           "agency_registered.agency.region", ""},
      });
}

TEST(ValidateEvent, ReferralShape) {
  Check(ValidReferralSent(),
        {
            {"no consent and no override",
             [](Event* e) { e->mutable_referral_sent()->mutable_referral()->clear_consent_id(); },
             "referral_sent.referral.consent_id", ""},
            {"override without reason",
             [](Event* e) {
               passage::v1::Referral* r = e->mutable_referral_sent()->mutable_referral();
               r->clear_consent_id();
               r->mutable_consent_override()->set_role(passage::v1::ACTOR_ROLE_SUPERVISOR);
               r->mutable_consent_override()->set_reason("   ");
             },
             "referral_sent.referral.consent_override.reason", "a consent override needs a reason"},
            {"override without role",
             [](Event* e) {
               passage::v1::Referral* r = e->mutable_referral_sent()->mutable_referral();
               r->clear_consent_id();
               r->mutable_consent_override()->set_reason("risk to life");
             },
             "referral_sent.referral.consent_override.role", ""},
            {"consent and override",
             [](Event* e) {
               passage::v1::Referral* r = e->mutable_referral_sent()->mutable_referral();
               r->mutable_consent_override()->set_role(passage::v1::ACTOR_ROLE_SUPERVISOR);
               r->mutable_consent_override()->set_reason("risk to life");
             },
             "referral_sent.referral.consent_override", ""},
            {"bad recipient",
             [](Event* e) {
               e->mutable_referral_sent()->mutable_referral()->set_to_agency("Shelter");
             },
             "referral_sent.referral.to_agency", ""},
            {"to itself",
             [](Event* e) { e->mutable_referral_sent()->mutable_referral()->set_to_agency(kFia); },
             "referral_sent.referral.to_agency", "an agency cannot refer a case to itself"},
            {"no service",
             [](Event* e) {
               e->mutable_referral_sent()->mutable_referral()->set_service(
                   passage::v1::SERVICE_TYPE_UNSPECIFIED);
             },
             "referral_sent.referral.service", ""},
            {"no priority",
             [](Event* e) {
               e->mutable_referral_sent()->mutable_referral()->set_priority(
                   passage::v1::PRIORITY_UNSPECIFIED);
             },
             "referral_sent.referral.priority", ""},
            {"no kind",
             [](Event* e) {
               e->mutable_referral_sent()->mutable_referral()->set_kind(
                   passage::v1::REFERRAL_KIND_UNSPECIFIED);
             },
             "referral_sent.referral.kind", ""},
            {"no data scope",
             [](Event* e) { e->mutable_referral_sent()->mutable_referral()->clear_data_scope(); },
             "referral_sent.referral.data_scope", ""},
            {"another case",
             [](Event* e) {
               e->mutable_referral_sent()->mutable_referral()->set_case_id(ReferralId(99));
             },
             "referral_sent.referral.case_id", ""},
            {"status set by sender",
             [](Event* e) {
               e->mutable_referral_sent()->mutable_referral()->set_status(
                   passage::v1::REFERRAL_STATUS_ACCEPTED);
             },
             "referral_sent.referral.status", ""},
            {"history set by sender",
             [](Event* e) { e->mutable_referral_sent()->mutable_referral()->add_history(); },
             "referral_sent.referral.history", ""},
        });
}

TEST(ValidateEvent, TransitionShape) {
  Check(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED),
        {
            {"to unspecified",
             [](Event* e) {
               e->mutable_referral_transition()->set_to(passage::v1::REFERRAL_STATUS_UNSPECIFIED);
             },
             "referral_transition.to", ""},
            {"to sent",
             [](Event* e) {
               e->mutable_referral_transition()->set_to(passage::v1::REFERRAL_STATUS_SENT);
             },
             "referral_transition.to", ""},
            {"rejected without reason",
             [](Event* e) {
               e->mutable_referral_transition()->set_to(passage::v1::REFERRAL_STATUS_REJECTED);
             },
             "referral_transition.reason", "REJECTED needs a reason"},
            {"completed without outcome",
             [](Event* e) {
               e->mutable_referral_transition()->set_to(passage::v1::REFERRAL_STATUS_COMPLETED);
             },
             "referral_transition.outcome", "COMPLETED needs an outcome"},
            {"failed without outcome",
             [](Event* e) {
               e->mutable_referral_transition()->set_to(passage::v1::REFERRAL_STATUS_FAILED);
             },
             "referral_transition.outcome", "FAILED needs an outcome"},
            {"consent flag on acceptance",
             [](Event* e) { e->mutable_referral_transition()->set_consent_withdrawn(true); },
             "referral_transition.consent_withdrawn", ""},
        });
}

TEST(ValidateEvent, ConsentShape) {
  Check(ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SHARE_WITH_AGENCIES),
        {
            {"no scope",
             [](Event* e) {
               e->mutable_consent_given()->mutable_consent()->set_scope(
                   passage::v1::CONSENT_SCOPE_UNSPECIFIED);
             },
             "consent_given.consent.scope", ""},
            {"no giver",
             [](Event* e) {
               e->mutable_consent_given()->mutable_consent()->set_given_by(
                   passage::v1::CONSENT_GIVER_UNSPECIFIED);
             },
             "consent_given.consent.given_by", ""},
            {"already withdrawn",
             [](Event* e) {
               e->mutable_consent_given()->mutable_consent()->set_withdrawn_at_ms(kTestNowMs);
             },
             "consent_given.consent.withdrawn_at_ms", ""},
            {"bad agency id",
             [](Event* e) { e->mutable_consent_given()->mutable_consent()->add_agency_ids("IOM"); },
             "consent_given.consent.agency_ids[0]", ""},
            {"agency type unspecified",
             [](Event* e) {
               e->mutable_consent_given()->mutable_consent()->add_agency_types(
                   passage::v1::AGENCY_TYPE_UNSPECIFIED);
             },
             "consent_given.consent.agency_types[0]", ""},
        });
}

TEST(ValidateProfile, PrefixIsOptional) {
  passage::v1::Profile p = ValidProfile();
  p.add_citizenship("nowhere");
  EXPECT_EQ(ValidateProfile(p, "").field(), "citizenship[1]");
  EXPECT_EQ(ValidateProfile(p, "intake").field(), "intake.citizenship[1]");
}

TEST(NormalizeProfile, DerivesBandAndMajorityFromAge) {
  passage::v1::Profile p;
  p.set_age_years(34);
  p.add_citizenship("afg");
  ASSERT_OK(NormalizeProfile(&p, ""));
  EXPECT_EQ(p.age_band(), passage::v1::AGE_BAND_30_38);
  EXPECT_EQ(p.majority_at_identification(), passage::v1::MAJORITY_STATUS_ADULT);
  EXPECT_EQ(p.citizenship(0), "AF");

  passage::v1::Profile bad;
  bad.add_citizenship("PK");
  bad.add_citizenship("Q");
  passage::v1::Profile before = bad;
  EXPECT_FALSE(NormalizeProfile(&bad, "").ok());
  EXPECT_EQ(bad.SerializeAsString(), before.SerializeAsString());
}

// Personal data is checked before it is sealed: real dates that agree with the age, identifiers in
// their shapes, limits on every field, no control characters (a NUL in a name was stored before).
TEST(ValidatePersonalData, DatesShapesLimitsAndControlCharacters) {
  // kTestNowMs is in 2024 (see test_events.h).
  passage::v1::Profile adult;
  adult.set_age_years(24);
  passage::v1::PersonalData pd;
  pd.set_given_name("Ayesha");
  pd.set_family_name("Khan");
  pd.set_cnic("42101-1234567-1");
  pd.set_passport_number("AB1234567");
  pd.set_phone("+92 (300) 123-4567");
  pd.set_narrative("line one\nline two\twith a tab");
  pd.set_date_of_birth("2000-01-02");
  EXPECT_OK(ValidatePersonalData(pd, adult, kTestNowMs, "personal"));

  auto refused = [&](const std::function<void(passage::v1::PersonalData&, passage::v1::Profile&)>& f,
                     const std::string& field) {
    passage::v1::PersonalData p = pd;
    passage::v1::Profile prof = adult;
    f(p, prof);
    Status s = ValidatePersonalData(p, prof, kTestNowMs, "personal");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << field;
    EXPECT_EQ(s.field(), field) << s.ToString();
  };
  using PD = passage::v1::PersonalData;
  using PR = passage::v1::Profile;
  refused([](PD& p, PR&) { p.set_date_of_birth("2023-02-30"); }, "personal.date_of_birth");
  refused([](PD& p, PR&) { p.set_date_of_birth("yesterday"); }, "personal.date_of_birth");
  refused([](PD& p, PR&) { p.set_date_of_birth("2099-01-01"); }, "personal.date_of_birth");
  refused([](PD& p, PR&) { p.set_date_of_birth("1900-01-01"); }, "personal.date_of_birth");
  refused([](PD& p, PR&) { p.set_date_of_birth("2010-01-01"); }, "personal.date_of_birth");  // 14, not 24
  refused([](PD& p, PR&) { p.set_given_name(std::string("Aye\0sha", 7)); }, "personal.given_name");
  refused([](PD& p, PR&) { p.set_family_name("Khan\x1b[31m"); }, "personal.family_name");
  refused([](PD& p, PR&) { p.set_given_name(std::string(201, 'a')); }, "personal.given_name");
  refused([](PD& p, PR&) { p.set_narrative(std::string(kMaxNarrativeBytes + 1, 'x')); },
          "personal.narrative");
  refused([](PD& p, PR&) { p.set_cnic("12345"); }, "personal.cnic");
  refused([](PD& p, PR&) { p.set_passport_number("AB 12345"); }, "personal.passport_number");
  refused([](PD& p, PR&) { p.set_phone("call me"); }, "personal.phone");
  refused([](PD& p, PR&) { for (int i = 0; i < 11; ++i) p.add_other_names("x"); },
          "personal.other_names");
  refused([](PD& p, PR&) { p.add_other_names("ok"); p.add_other_names("bad\x07"); },
          "personal.other_names[1]");
  refused([](PD& p, PR&) { p.add_photos(std::string(kMaxPhotoBytes + 1, 'p')); },
          "personal.photos[0]");
  // An estimated age allows five years either way.
  passage::v1::Profile estimated = adult;
  estimated.set_age_estimated(true);
  passage::v1::PersonalData near = pd;
  near.set_date_of_birth("1996-01-02");  // 28 in 2024
  EXPECT_OK(ValidatePersonalData(near, estimated, kTestNowMs, "personal"));
  EXPECT_FALSE(ValidatePersonalData(near, adult, kTestNowMs, "personal").ok());
}

TEST(ValidateEvent, ActorUserWithAControlCharacterIsRefused) {
  passage::v1::Event e = CaseOpenedEvent("fia-karachi");
  e.set_actor_user(std::string("s-12\0ab", 7));
  Status s = ValidateEvent(e, kTestNowMs);
  EXPECT_EQ(s.field(), "actor_user") << s.ToString();
}

}  // namespace
}  // namespace passage::core
