#include "core/journey.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/case_projection.h"
#include "core/validate.h"
#include "tests/core/test_events.h"
#include "tests/testing/status_matchers.h"

namespace passage::core {
namespace {

using namespace passage::core::testing;  // NOLINT(google-build-using-namespace)
using passage::v1::Event;

constexpr char kFia[] = "fia-karachi";
constexpr char kShelter[] = "shelter-ngo";
constexpr char kShelterB[] = "shelter-b";
constexpr char kLegalAid[] = "legal-aid-ngo";
constexpr char kIom[] = "iom-pk";
constexpr char kProsecutor[] = "prosecutor-sd";
constexpr char kRouter[] = "passage-router";
constexpr char kOmbudsman[] = "ombudsman";

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kT0 = kTestNowMs;

constexpr char kSecret[] = "AYESHA-BIBI-CNIC-42101";

InMemoryAgencyDirectory Directory() {
  InMemoryAgencyDirectory d;
  auto add = [&](const std::string& id, const std::string& name, passage::v1::AgencyType type) {
    passage::v1::Agency a;
    a.set_id(id);
    a.set_name(name);
    a.set_type(type);
    a.set_region("PK-SD");
    a.set_first_responder(id == kFia);
    a.set_system_principal(id == kRouter);
    d.Upsert(a);
  };
  add(kFia, "FIA AHTC Karachi", passage::v1::AGENCY_TYPE_LAW_ENFORCEMENT);
  add(kShelter, kShelter, passage::v1::AGENCY_TYPE_SHELTER);
  add(kShelterB, kShelterB, passage::v1::AGENCY_TYPE_SHELTER);
  add(kLegalAid, kLegalAid, passage::v1::AGENCY_TYPE_LEGAL_AID);
  add(kIom, kIom, passage::v1::AGENCY_TYPE_INTERNATIONAL_ORGANISATION);
  add(kProsecutor, kProsecutor, passage::v1::AGENCY_TYPE_PROSECUTION);
  add(kRouter, kRouter, passage::v1::AGENCY_TYPE_OTHER);
  add(kOmbudsman, kOmbudsman, passage::v1::AGENCY_TYPE_OVERSIGHT);
  return d;
}

// Plays the broker for one case and keeps the log as (envelope, event) pairs.
class Log {
 public:
  Log() : agencies_(Directory()) {}

  Status Publish(Event e, int64_t at_ms) {
    e.set_event_id(EventId(++seq_));
    e.set_occurred_at_ms(at_ms);
    RETURN_IF_ERROR(ValidateEvent(e, kT0 + 365 * kDay));
    RETURN_IF_ERROR(projection_.Check(e, agencies_));
    passage::v1::Envelope env;
    env.set_global_seq(1000 + seq_);
    env.set_case_seq(projection_.state().version() + 1);
    env.set_producer(e.actor_agency());
    env.set_appended_at_ms(at_ms + 5);
    env.set_case_id(e.case_id());
    env.set_event_id(e.event_id());
    env.set_event(e.SerializeAsString());
    projection_.Apply(env, e);
    events_.emplace_back(env, e);
    return Status::Ok();
  }

  const std::vector<std::pair<passage::v1::Envelope, Event>>& events() const { return events_; }
  const InMemoryAgencyDirectory& agencies() const { return agencies_; }

 private:
  InMemoryAgencyDirectory agencies_;
  CaseProjection projection_;
  std::vector<std::pair<passage::v1::Envelope, Event>> events_;
  uint64_t seq_ = 0;
};

passage::v1::SealedPersonalData Sealed() {
  passage::v1::SealedPersonalData s;
  s.set_scheme(1);
  s.set_nonce(std::string(24, 'n'));
  s.set_ciphertext(kSecret);
  s.set_person_key(kSecret);
  return s;
}

Event Referral(uint64_t n, const std::string& to, passage::v1::ServiceType service,
               int64_t respond_by_ms, const std::string& consent_id = ConsentId(1),
               const std::string& parent = "") {
  Event e = ReferralSentEvent(kFia, ReferralId(n), to, service, consent_id);
  e.mutable_referral_sent()->mutable_referral()->set_respond_by_ms(respond_by_ms);
  e.mutable_referral_sent()->mutable_referral()->set_parent_referral_id(parent);
  return e;
}

Event Received(const std::string& to, uint64_t n) {
  return TransitionEvent(to, ReferralId(n), passage::v1::REFERRAL_STATUS_RECEIVED,
                         passage::v1::ACTOR_ROLE_SYSTEM);
}

Event Move(const std::string& actor, uint64_t n, passage::v1::ReferralStatus to) {
  return TransitionEvent(actor, ReferralId(n), to);
}

// Opened by FIA at kT0; R1 to a shelter is rejected; R2 to another shelter (parent R1) is
// accepted and completed; then the case is closed.
//   IDENTIFICATION  kT0 .. +10 min
//   REFERRAL        +10 min .. +100 min   (R1 sent, rejected, R2 sent and waiting)
//   PROTECTION      +100 min .. +2 days   (R2 accepted, then completed)
//   CLOSED          +2 days
void EscalatedCase(Log* log) {
  Event open = CaseOpenedEvent(kFia);
  *open.mutable_case_opened()->mutable_personal() = Sealed();
  ASSERT_OK(log->Publish(open, kT0));
  ASSERT_OK(log->Publish(ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES),
                         kT0 + kMinute));
  ASSERT_OK(log->Publish(Referral(1, kShelter, passage::v1::SERVICE_TYPE_SHELTER, kT0 + 2 * kHour),
                         kT0 + 10 * kMinute));
  ASSERT_OK(log->Publish(Received(kShelter, 1), kT0 + 11 * kMinute));
  ASSERT_OK(
      log->Publish(Move(kShelter, 1, passage::v1::REFERRAL_STATUS_REJECTED), kT0 + 30 * kMinute));
  ASSERT_OK(log->Publish(Referral(2, kShelterB, passage::v1::SERVICE_TYPE_SHELTER, kT0 + 3 * kHour,
                                  ConsentId(1), ReferralId(1)),
                         kT0 + 40 * kMinute));
  ASSERT_OK(log->Publish(Received(kShelterB, 2), kT0 + 41 * kMinute));
  ASSERT_OK(
      log->Publish(Move(kShelterB, 2, passage::v1::REFERRAL_STATUS_ACCEPTED), kT0 + 100 * kMinute));
  ASSERT_OK(log->Publish(
      ServiceDeliveredEvent(kShelterB, ReferralId(2), passage::v1::SERVICE_TYPE_SHELTER),
      kT0 + 2 * kHour));
  ASSERT_OK(log->Publish(Move(kShelterB, 2, passage::v1::REFERRAL_STATUS_COMPLETED), kT0 + kDay));
  Event close = BaseEvent(kFia);
  close.mutable_case_closed()->set_reason("services-complete");
  close.set_actor_role(passage::v1::ACTOR_ROLE_SUPERVISOR);  // closing is a supervisor's call
  ASSERT_OK(log->Publish(close, kT0 + 2 * kDay));
}

std::vector<std::string> Texts(const Journey& j) {
  std::vector<std::string> out;
  for (const JourneyEntry& e : j.entries) {
    out.push_back(e.text);
  }
  return out;
}

TEST(Journey, EscalatedCaseListsBothReferralsWithTheParentLink) {
  Log log;
  EscalatedCase(&log);
  const Journey j = BuildJourney(log.events(), &log.agencies());

  EXPECT_EQ(j.case_id, kCaseId);
  EXPECT_TRUE(j.closed);
  ASSERT_EQ(j.entries.size(), log.events().size());
  EXPECT_EQ(j.entries[0].text, "FIA AHTC Karachi opened the case (TIP, presumed victim)");
  EXPECT_EQ(j.entries[0].agency, kFia);
  EXPECT_EQ(j.entries[0].event, "case_opened");
  EXPECT_EQ(j.entries[0].global_seq, 1001u);
  EXPECT_EQ(j.entries[0].case_seq, 1u);
  EXPECT_EQ(j.entries[2].text,
            "FIA AHTC Karachi sent referral R1 to shelter-ngo for SHELTER (urgent, respond by "
            "2024-05-01T12:00:00Z)");
  EXPECT_EQ(j.entries[2].referral_id, ReferralId(1));
  EXPECT_EQ(j.entries[3].text, "shelter-ngo received R1");
  EXPECT_EQ(j.entries[4].text, "shelter-ngo rejected R1 (capacity full)");
  EXPECT_EQ(j.entries[5].text,
            "FIA AHTC Karachi sent referral R2 to shelter-b for SHELTER (urgent, respond by "
            "2024-05-01T13:00:00Z, follow-up of R1)");
  EXPECT_EQ(j.entries[7].text, "shelter-b accepted R2");
  EXPECT_EQ(j.entries[8].text, "shelter-b delivered a SHELTER service under R2");
  EXPECT_EQ(j.entries[9].text, "shelter-b completed R2 (outcome: service-plan-closed)");
  EXPECT_EQ(j.entries[10].text, "FIA AHTC Karachi closed the case (reason: services-complete)");

  ASSERT_EQ(j.referrals.size(), 2u);
  const ReferralPath& r1 = j.referrals[0];
  const ReferralPath& r2 = j.referrals[1];
  EXPECT_EQ(r1.number, 1);
  EXPECT_EQ(r1.referral_id, ReferralId(1));
  EXPECT_EQ(r1.to_agency, kShelter);
  EXPECT_EQ(r1.status, passage::v1::REFERRAL_STATUS_REJECTED);
  EXPECT_EQ(r1.status_reason, passage::v1::REJECT_REASON_CAPACITY_FULL);
  EXPECT_EQ(r1.child_referral_ids, std::vector<std::string>{ReferralId(2)});
  EXPECT_EQ(r2.number, 2);
  EXPECT_EQ(r2.parent_referral_id, ReferralId(1));
  EXPECT_EQ(r2.from_agency, kFia);
  EXPECT_EQ(r2.to_agency, kShelterB);
  EXPECT_EQ(r2.service, passage::v1::SERVICE_TYPE_SHELTER);
  EXPECT_EQ(r2.outcome, "service-plan-closed");

  std::vector<passage::v1::ReferralStatus> statuses;
  std::vector<int64_t> times;
  for (const ReferralStep& s : r1.steps) {
    statuses.push_back(s.status);
    times.push_back(s.at_ms - kT0);
  }
  EXPECT_EQ(statuses, (std::vector<passage::v1::ReferralStatus>{
                          passage::v1::REFERRAL_STATUS_SENT, passage::v1::REFERRAL_STATUS_RECEIVED,
                          passage::v1::REFERRAL_STATUS_REJECTED}));
  EXPECT_EQ(times, (std::vector<int64_t>{10 * kMinute, 11 * kMinute, 30 * kMinute}));
  ASSERT_EQ(r2.steps.size(), 4u);
  EXPECT_EQ(r2.steps[2].status, passage::v1::REFERRAL_STATUS_ACCEPTED);
  EXPECT_EQ(r2.steps[2].at_ms, kT0 + 100 * kMinute);
  EXPECT_EQ(r2.steps[2].by_agency, kShelterB);

  const std::string text = RenderJourney(j);
  EXPECT_NE(text.find("R2  " + ReferralId(2)), std::string::npos) << text;
  EXPECT_NE(text.find("follow-up of R1"), std::string::npos) << text;
  EXPECT_NE(text.find("followed by R2"), std::string::npos) << text;
}

TEST(Journey, StageDurationsAddUpToTheElapsedTime) {
  Log log;
  EscalatedCase(&log);
  const Journey j = BuildJourney(log.events());

  EXPECT_EQ(j.started_at_ms, kT0);
  EXPECT_EQ(j.ended_at_ms, kT0 + 2 * kDay);
  EXPECT_EQ(j.elapsed_ms(), 2 * kDay);

  ASSERT_EQ(j.periods.size(), 4u);
  EXPECT_EQ(j.periods[0].stages, std::vector{passage::v1::STAGE_IDENTIFICATION});
  EXPECT_EQ(j.periods[0].duration_ms(), 10 * kMinute);
  EXPECT_EQ(j.periods[1].stages, std::vector{passage::v1::STAGE_REFERRAL});
  EXPECT_EQ(j.periods[1].duration_ms(), 90 * kMinute);
  EXPECT_EQ(j.periods[2].stages, std::vector{passage::v1::STAGE_PROTECTION});
  EXPECT_EQ(j.periods[2].duration_ms(), 2 * kDay - 100 * kMinute);
  EXPECT_EQ(j.periods[3].stages, std::vector{passage::v1::STAGE_CLOSED});
  EXPECT_TRUE(j.periods[3].ongoing);
  EXPECT_EQ(j.stages, std::vector{passage::v1::STAGE_CLOSED});

  int64_t periods = 0;
  for (const StagePeriod& p : j.periods) {
    periods += p.duration_ms();
  }
  EXPECT_EQ(periods, j.elapsed_ms());

  // This case was never in two stages at once, so the per-stage totals add up too.
  int64_t stages = 0;
  for (const StageTime& t : j.time_in_stage) {
    stages += t.total_ms;
  }
  EXPECT_EQ(stages, j.elapsed_ms());
  ASSERT_EQ(j.time_in_stage.size(), 4u);
  EXPECT_EQ(j.time_in_stage[1].stage, passage::v1::STAGE_REFERRAL);
  EXPECT_EQ(j.time_in_stage[1].total_ms, 90 * kMinute);

  // The timeline marks where the stages changed.
  EXPECT_TRUE(j.entries[2].stages_changed);   // R1 sent: REFERRAL
  EXPECT_FALSE(j.entries[4].stages_changed);  // R1 rejected: still REFERRAL (re-referral due)
  EXPECT_TRUE(j.entries[7].stages_changed);   // R2 accepted: PROTECTION
}

TEST(Journey, OverlappingStagesAndAClockThatRunsBackwards) {
  Log log;
  ASSERT_OK(log.Publish(CaseOpenedEvent(kFia), kT0));
  ASSERT_OK(log.Publish(ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES),
                        kT0 + kMinute));
  ASSERT_OK(log.Publish(Referral(1, kShelter, passage::v1::SERVICE_TYPE_SHELTER, kT0 + kDay),
                        kT0 + kHour));
  ASSERT_OK(log.Publish(Received(kShelter, 1), kT0 + kHour));
  ASSERT_OK(log.Publish(Move(kShelter, 1, passage::v1::REFERRAL_STATUS_ACCEPTED), kT0 + 2 * kHour));
  // The police station's clock is behind: the FIR is stamped before the acceptance.
  ASSERT_OK(log.Publish(ProceedingEvent(kFia, passage::v1::PROCEEDING_MILESTONE_FIR_REGISTERED),
                        kT0 + 90 * kMinute));
  ASSERT_OK(log.Publish(ProceedingEvent(kFia, passage::v1::PROCEEDING_MILESTONE_VERDICT_CONVICTION),
                        kT0 + 5 * kHour));

  const Journey j = BuildJourney(log.events());
  EXPECT_EQ(j.entries[5].at_ms, kT0 + 90 * kMinute) << "entries show the producer's own time";
  int64_t periods = 0;
  for (const StagePeriod& p : j.periods) {
    EXPECT_GE(p.duration_ms(), 0);
    periods += p.duration_ms();
  }
  EXPECT_EQ(periods, j.elapsed_ms());
  EXPECT_EQ(j.elapsed_ms(), 5 * kHour);
  // PROTECTION from the acceptance; CRIMINAL_JUSTICE from the FIR (taken as happening at the
  // acceptance, 2 h) to the verdict (5 h).
  bool both = false;
  for (const StagePeriod& p : j.periods) {
    both = both || p.stages == std::vector{passage::v1::STAGE_PROTECTION,
                                           passage::v1::STAGE_CRIMINAL_JUSTICE};
  }
  EXPECT_TRUE(both);
  for (const StageTime& t : j.time_in_stage) {
    if (t.stage == passage::v1::STAGE_CRIMINAL_JUSTICE) {
      EXPECT_EQ(t.total_ms, 3 * kHour);
      EXPECT_FALSE(t.ongoing);
    }
    if (t.stage == passage::v1::STAGE_PROTECTION) {
      EXPECT_EQ(t.total_ms, 3 * kHour);
      EXPECT_TRUE(t.ongoing);
    }
  }
}

TEST(Journey, JsonParsesAndNeverCarriesPersonalData) {
  Log log;
  EscalatedCase(&log);
  Event update = BaseEvent(kFia);
  *update.mutable_profile_updated()->mutable_profile() = ValidProfile();
  *update.mutable_profile_updated()->mutable_personal() = Sealed();
  // The case is closed: a profile update would be refused, so build a second log for it.
  Log open;
  ASSERT_OK(open.Publish(CaseOpenedEvent(kFia), kT0));
  ASSERT_OK(open.Publish(update, kT0 + kMinute));

  for (const Log* l : {&log, &open}) {
    const Journey j = BuildJourney(l->events(), &l->agencies());
    const std::string json = JourneyToJson(j);
    const std::string text = RenderJourney(j);
    EXPECT_EQ(json.find("AYESHA"), std::string::npos) << json;
    EXPECT_EQ(text.find("AYESHA"), std::string::npos) << text;

    google::protobuf::Struct parsed;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
    EXPECT_EQ(parsed.fields().at("case_id").string_value(), kCaseId);
    EXPECT_EQ(static_cast<size_t>(parsed.fields().at("entries").list_value().values_size()),
              j.entries.size());
  }

  const Journey j = BuildJourney(log.events(), &log.agencies());
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(JourneyToJson(j), &parsed).ok());
  const auto& referrals = parsed.fields().at("referrals").list_value();
  ASSERT_EQ(referrals.values_size(), 2);
  const auto& r2 = referrals.values(1).struct_value().fields();
  EXPECT_EQ(r2.at("parent_referral_id").string_value(), ReferralId(1));
  EXPECT_EQ(r2.at("status").string_value(), "COMPLETED");
  EXPECT_EQ(r2.at("steps").list_value().values_size(), 4);
  EXPECT_EQ(
      r2.at("steps").list_value().values(2).struct_value().fields().at("status").string_value(),
      "ACCEPTED");
  EXPECT_EQ(parsed.fields().at("elapsed_ms").number_value(), 2.0 * kDay);
  EXPECT_EQ(BuildJourney(open.events()).entries[1].text,
            "fia-karachi updated the profile and replaced the sealed personal data");
}

TEST(Journey, EveryEventTypeAndTransitionHasWords) {
  Log log;
  int64_t t = kT0;
  auto at = [&t]() { return t += kMinute; };
  ASSERT_OK(log.Publish(CaseOpenedEvent(kFia), at()));
  Event identification = BaseEvent(kFia);
  identification.mutable_identification_recorded()->set_trafficking_status(
      passage::v1::TRAFFICKING_STATUS_POSSIBLE);
  identification.mutable_identification_recorded()->set_crime_type(passage::v1::CRIME_TYPE_BOTH);
  identification.mutable_identification_recorded()->set_channel(
      passage::v1::IDENTIFICATION_CHANNEL_BORDER);
  identification.mutable_identification_recorded()->set_screening_tool("IOM-HTCDS-screening-v2");
  ASSERT_OK(log.Publish(identification, at()));
  ASSERT_OK(log.Publish(ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES),
                        at()));
  ASSERT_OK(log.Publish(
      ConsentGivenEvent(kFia, ConsentId(2), passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT), at()));
  const int64_t later = kT0 + 30 * kDay;

  // R1: every recipient move, with holds, to completion.
  ASSERT_OK(log.Publish(Referral(1, kShelter, passage::v1::SERVICE_TYPE_SHELTER, later), at()));
  ASSERT_OK(log.Publish(Received(kShelter, 1), at()));
  ASSERT_OK(log.Publish(Move(kShelter, 1, passage::v1::REFERRAL_STATUS_ON_HOLD), at()));
  ASSERT_OK(log.Publish(Move(kShelter, 1, passage::v1::REFERRAL_STATUS_RECEIVED), at()));
  ASSERT_OK(log.Publish(Move(kShelter, 1, passage::v1::REFERRAL_STATUS_ACCEPTED), at()));
  ASSERT_OK(log.Publish(Move(kShelter, 1, passage::v1::REFERRAL_STATUS_ON_HOLD), at()));
  ASSERT_OK(log.Publish(Move(kShelter, 1, passage::v1::REFERRAL_STATUS_ACCEPTED), at()));
  ASSERT_OK(log.Publish(Move(kShelter, 1, passage::v1::REFERRAL_STATUS_IN_PROGRESS), at()));
  ASSERT_OK(log.Publish(
      ServiceDeliveredEvent(kShelter, ReferralId(1), passage::v1::SERVICE_TYPE_SHELTER), at()));
  ASSERT_OK(log.Publish(Move(kShelter, 1, passage::v1::REFERRAL_STATUS_COMPLETED), at()));
  // R2: cancellation requested and confirmed.
  ASSERT_OK(log.Publish(Referral(2, kLegalAid, passage::v1::SERVICE_TYPE_LEGAL_AID, later), at()));
  ASSERT_OK(log.Publish(Received(kLegalAid, 2), at()));
  ASSERT_OK(log.Publish(Move(kFia, 2, passage::v1::REFERRAL_STATUS_CANCEL_REQUESTED), at()));
  ASSERT_OK(log.Publish(Move(kLegalAid, 2, passage::v1::REFERRAL_STATUS_CANCELLED), at()));
  // R3: return, under a referral that then fails.
  ASSERT_OK(
      log.Publish(Referral(3, kIom, passage::v1::SERVICE_TYPE_RETURN_REINTEGRATION, later), at()));
  ASSERT_OK(log.Publish(Received(kIom, 3), at()));
  ASSERT_OK(log.Publish(Move(kIom, 3, passage::v1::REFERRAL_STATUS_ACCEPTED), at()));
  Event returned = BaseEvent(kIom);
  returned.mutable_return_recorded()->set_country("AF");
  returned.mutable_return_recorded()->set_referral_id(ReferralId(3));
  ASSERT_OK(log.Publish(returned, at()));
  ASSERT_OK(log.Publish(Move(kIom, 3, passage::v1::REFERRAL_STATUS_FAILED), at()));
  // R4 expires unanswered; R5 follows it, is accepted; the prosecutor records the FIR.
  ASSERT_OK(log.Publish(Referral(4, kProsecutor, passage::v1::SERVICE_TYPE_PROSECUTION,
                                 t + 10 * kMinute, ConsentId(2)),
                        at()));
  ASSERT_OK(
      log.Publish(TransitionEvent(kRouter, ReferralId(4), passage::v1::REFERRAL_STATUS_EXPIRED,
                                  passage::v1::ACTOR_ROLE_SYSTEM),
                  at()));
  ASSERT_OK(log.Publish(Referral(5, kProsecutor, passage::v1::SERVICE_TYPE_PROSECUTION, later,
                                 ConsentId(2), ReferralId(4)),
                        at()));
  ASSERT_OK(log.Publish(Received(kProsecutor, 5), at()));
  ASSERT_OK(log.Publish(Move(kProsecutor, 5, passage::v1::REFERRAL_STATUS_ACCEPTED), at()));
  ASSERT_OK(log.Publish(
      ProceedingEvent(kProsecutor, passage::v1::PROCEEDING_MILESTONE_FIR_REGISTERED), at()));
  // R6 is cancelled when the victim withdraws the consent it relies on.
  ASSERT_OK(log.Publish(Referral(6, kShelterB, passage::v1::SERVICE_TYPE_MEDICAL, later), at()));
  ASSERT_OK(log.Publish(ConsentWithdrawnEvent(kFia, ConsentId(1)), at()));
  Event cancel = Move(kFia, 6, passage::v1::REFERRAL_STATUS_CANCELLED);
  cancel.mutable_referral_transition()->set_consent_withdrawn(true);
  ASSERT_OK(log.Publish(cancel, at()));
  Event read = BaseEvent(kOmbudsman);
  read.mutable_record_accessed()->add_sections(passage::v1::DATA_SECTION_PROFILE);
  read.mutable_record_accessed()->set_purpose("audit");
  ASSERT_OK(log.Publish(read, at()));
  Event close = BaseEvent(kFia);
  close.mutable_case_closed();
  close.set_actor_role(passage::v1::ACTOR_ROLE_SUPERVISOR);  // closing is a supervisor's call
  ASSERT_OK(log.Publish(close, at()));

  const Journey j = BuildJourney(log.events());
  const std::vector<std::string> texts = Texts(j);
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string& text = texts[i];
    EXPECT_EQ(text.rfind(j.entries[i].agency + " ", 0), 0u) << text;
    EXPECT_EQ(text.find(" moved "), std::string::npos) << text;
    EXPECT_EQ(text.find("without a payload"), std::string::npos) << text;
  }
  auto has = [&](const std::string& words) {
    for (const std::string& text : texts) {
      if (text.find(words) != std::string::npos) {
        return true;
      }
    }
    ADD_FAILURE() << "no entry says '" << words << "'";
    return false;
  };
  has("recorded the identification (trafficking possible, TIP and SOM, via border, screening tool "
      "IOM-HTCDS-screening-v2)");
  has("recorded consent to services, given by the person");
  has("shelter-ngo put R1 on hold");
  has("shelter-ngo took R1 off hold (back to received)");
  has("shelter-ngo took R1 off hold (back to accepted)");
  has("shelter-ngo started work under R1");
  has("fia-karachi asked legal-aid-ngo to cancel R2");
  has("legal-aid-ngo confirmed the cancellation of R2");
  has("iom-pk recorded the return to Afghanistan (AF) under R3");
  has("iom-pk reported that R3 failed (outcome: service-plan-closed)");
  has("passage-router marked R4 expired: prosecutor-sd did not answer by");
  has("follow-up of R4");
  has("prosecutor-sd recorded a criminal proceeding: FIR registered (reference FIR-112/2024)");
  has("fia-karachi recorded that the consent to services was withdrawn");
  has("fia-karachi cancelled R6 because the victim withdrew consent");
  has("ombudsman read the case: PROFILE (purpose: audit)");
  has("fia-karachi closed the case");

  ASSERT_EQ(j.referrals.size(), 6u);
  EXPECT_EQ(j.referrals[4].parent_referral_id, ReferralId(4));
  EXPECT_EQ(j.referrals[3].child_referral_ids, std::vector<std::string>{ReferralId(5)});
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(JourneyToJson(j), &parsed).ok());
}

TEST(Journey, EmptyInputGivesAnEmptyJourney) {
  const Journey j = BuildJourney({});
  EXPECT_TRUE(j.entries.empty());
  EXPECT_TRUE(j.periods.empty());
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(JourneyToJson(j), &parsed).ok());
  EXPECT_NE(RenderJourney(j).find("no events"), std::string::npos);
}

}  // namespace
}  // namespace passage::core
