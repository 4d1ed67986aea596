#include "core/offences.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/case_projection.h"
#include "core/validate.h"
#include "tests/core/test_broker.h"
#include "tests/core/test_events.h"
#include "tests/testing/status_matchers.h"

namespace passage::core {
namespace {

using namespace passage::core::testing;  // NOLINT(google-build-using-namespace)
namespace v1 = passage::v1;
using passage::v1::DataSection;

std::string OffenceId(uint64_t n) { return TestUuid(0x0f, n); }
std::string SuspectId(uint64_t n) { return TestUuid(0x5e, n); }

Event OffenceEvent(const std::string& actor, uint64_t n, std::vector<std::string> sections = {
                                                             "PTPA-2018-3"}) {
  Event e = BaseEvent(actor);
  v1::Offence* o = e.mutable_offence_registered()->mutable_offence();
  o->set_offence_id(OffenceId(n));
  o->set_fir_number(std::to_string(100 + n) + "/2024");
  o->set_police_station("FIA AHTC Karachi");
  o->set_province("pk-sd");
  o->set_district("Karachi South");
  o->set_registered_on("2024-03-01");
  for (const auto& s : sections) o->add_law_sections(s);
  o->set_crime_type(v1::CRIME_TYPE_TIP);
  return e;
}

Event SuspectEvent(const std::string& actor, uint64_t n, uint64_t offence) {
  Event e = BaseEvent(actor);
  v1::Suspect* s = e.mutable_suspect_recorded()->mutable_suspect();
  s->set_suspect_id(SuspectId(n));
  s->set_offence_id(OffenceId(offence));
  s->set_sex(v1::SEX_MALE);
  s->set_age_band(v1::AGE_BAND_30_38);
  s->add_citizenship("pak");
  s->add_roles(v1::SUSPECT_ROLE_RECRUITER);
  s->set_organised_group(v1::ORGANISED_GROUP_YES);
  return e;
}

Event AccusedEvent(const std::string& actor, uint64_t n, v1::AccusedStep step) {
  Event e = BaseEvent(actor);
  v1::AccusedUpdated* u = e.mutable_accused_updated();
  u->set_suspect_id(SuspectId(n));
  u->set_step(step);
  if (step == v1::ACCUSED_STEP_CHARGED) u->add_charged_sections("PTPA-2018-3");
  if (step == v1::ACCUSED_STEP_CONVICTED) u->set_sentence_months(84);
  return e;
}

// ---- the offence state machine, every pair of statuses --------------------------------------

TEST(OffenceStateMachine, EveryPairOfStatuses) {
  using S = v1::OffenceStatus;
  const S R = v1::OFFENCE_STATUS_REGISTERED, I = v1::OFFENCE_STATUS_UNDER_INVESTIGATION,
          C = v1::OFFENCE_STATUS_CHARGE_SHEET_SUBMITTED, T = v1::OFFENCE_STATUS_SENT_TO_COURT,
          X = v1::OFFENCE_STATUS_CLOSED;
  struct Row {
    S from;
    std::vector<S> allowed;
  };
  const Row table[] = {{R, {I, X}}, {I, {C, X}}, {C, {T, X}}, {T, {X}}, {X, {I}}};
  for (const Row& row : table) {
    for (S to : {R, I, C, T, X}) {
      const bool want = std::find(row.allowed.begin(), row.allowed.end(), to) != row.allowed.end();
      auto got = NextOffenceStatus(row.from, to);
      EXPECT_EQ(got.ok(), want) << v1::OffenceStatus_Name(row.from) << " -> "
                                << v1::OffenceStatus_Name(to);
      if (!got.ok()) {
        EXPECT_EQ(got.status().field(), "offence_status_changed.to");
      }
    }
  }
}

// ---- the accused state machine: (status, step) -> status or refusal --------------------------

TEST(AccusedStateMachine, EveryStatusAndStep) {
  using A = v1::AccusedStatus;
  using St = v1::AccusedStep;
  const A kNo = v1::ACCUSED_STATUS_UNSPECIFIED;  // refused
  struct Row {
    A from;
    St step;
    A to;
  };
  const A SU = v1::ACCUSED_STATUS_SUSPECTED, AR = v1::ACCUSED_STATUS_ARRESTED,
          CA = v1::ACCUSED_STATUS_CAUTIONED, CH = v1::ACCUSED_STATUS_CHARGED,
          CO = v1::ACCUSED_STATUS_CONVICTED, AQ = v1::ACCUSED_STATUS_ACQUITTED,
          DI = v1::ACCUSED_STATUS_DISCHARGED;
  const St sARR = v1::ACCUSED_STEP_ARRESTED, sCAU = v1::ACCUSED_STEP_CAUTIONED,
           sBAIL = v1::ACCUSED_STEP_BAIL_GRANTED, sCHG = v1::ACCUSED_STEP_CHARGED,
           sCON = v1::ACCUSED_STEP_CONVICTED, sACQ = v1::ACCUSED_STEP_ACQUITTED,
           sDIS = v1::ACCUSED_STEP_DISCHARGED, sAPF = v1::ACCUSED_STEP_APPEAL_FILED;
  const std::vector<Row> table = {
      {SU, sARR, AR}, {SU, sCAU, CA}, {SU, sBAIL, kNo}, {SU, sCHG, CH}, {SU, sCON, kNo},
      {SU, sACQ, kNo}, {SU, sDIS, DI}, {SU, sAPF, kNo},
      {AR, sARR, kNo}, {AR, sCAU, kNo}, {AR, sBAIL, AR}, {AR, sCHG, CH}, {AR, sCON, kNo},
      {AR, sACQ, kNo}, {AR, sDIS, DI}, {AR, sAPF, kNo},
      {CA, sARR, kNo}, {CA, sBAIL, kNo}, {CA, sCHG, CH}, {CA, sCON, kNo}, {CA, sDIS, DI},
      {CH, sARR, kNo}, {CH, sBAIL, CH}, {CH, sCHG, kNo}, {CH, sCON, CO}, {CH, sACQ, AQ},
      {CH, sDIS, DI}, {CH, sAPF, kNo},
      {CO, sCON, kNo}, {CO, sACQ, kNo}, {CO, sDIS, kNo}, {CO, sAPF, CO}, {CO, sBAIL, kNo},
      {AQ, sCON, kNo}, {AQ, sAPF, AQ}, {AQ, sCHG, kNo},
      {DI, sARR, kNo}, {DI, sCHG, kNo}, {DI, sCON, kNo}, {DI, sAPF, kNo},
  };
  for (const Row& row : table) {
    v1::Suspect s;
    s.set_suspect_id(SuspectId(1));
    s.set_status(row.from);
    v1::AccusedUpdated u;
    u.set_suspect_id(SuspectId(1));
    u.set_step(row.step);
    if (row.step == sCON) u.set_sentence_months(12);
    auto got = NextAccusedStatus(s, u);
    const std::string what = v1::AccusedStatus_Name(row.from) + " + " + v1::AccusedStep_Name(row.step);
    if (row.to == kNo) {
      EXPECT_FALSE(got.ok()) << what;
      if (!got.ok()) {
        EXPECT_EQ(got.status().field(), "accused_updated.step") << what;
      }
    } else {
      ASSERT_TRUE(got.ok()) << what << ": " << got.status().ToString();
      EXPECT_EQ(*got, row.to) << what;
    }
  }
}

TEST(AccusedStateMachine, BailOnceAppealsOneAtATimeAndOutcomes) {
  v1::Suspect s;
  s.set_suspect_id(SuspectId(1));
  s.set_status(v1::ACCUSED_STATUS_ARRESTED);
  s.set_on_bail(true);
  v1::AccusedUpdated u;
  u.set_step(v1::ACCUSED_STEP_BAIL_GRANTED);
  EXPECT_FALSE(NextAccusedStatus(s, u).ok());

  s.set_status(v1::ACCUSED_STATUS_CONVICTED);
  u.set_step(v1::ACCUSED_STEP_APPEAL_DECIDED);
  u.set_appeal_outcome(v1::APPEAL_OUTCOME_UPHELD);
  EXPECT_FALSE(NextAccusedStatus(s, u).ok()) << "no appeal pending";
  s.set_appealed(true);
  EXPECT_EQ(*NextAccusedStatus(s, u), v1::ACCUSED_STATUS_CONVICTED);
  u.set_appeal_outcome(v1::APPEAL_OUTCOME_OVERTURNED);
  EXPECT_EQ(*NextAccusedStatus(s, u), v1::ACCUSED_STATUS_ACQUITTED);
  u.set_appeal_outcome(v1::APPEAL_OUTCOME_SENTENCE_CHANGED);
  EXPECT_EQ(NextAccusedStatus(s, u).status().field(), "accused_updated.sentence_months");
  u.set_sentence_months(36);
  EXPECT_EQ(*NextAccusedStatus(s, u), v1::ACCUSED_STATUS_CONVICTED);
  v1::AccusedUpdated again;
  again.set_step(v1::ACCUSED_STEP_APPEAL_FILED);
  EXPECT_FALSE(NextAccusedStatus(s, again).ok()) << "an appeal is pending";

  s.set_status(v1::ACCUSED_STATUS_ACQUITTED);
  u.set_appeal_outcome(v1::APPEAL_OUTCOME_OVERTURNED);
  u.set_sentence_months(0);
  EXPECT_EQ(NextAccusedStatus(s, u).status().field(), "accused_updated.sentence_months")
      << "an overturned acquittal is a conviction and needs a sentence";
  u.set_sentence_months(60);
  EXPECT_EQ(*NextAccusedStatus(s, u), v1::ACCUSED_STATUS_CONVICTED);
}

// ---- a whole prosecution through the projection ----------------------------------------------

TEST(CrimeSide, OffenceSuspectAndConvictionThroughTheProjection) {
  Broker b;
  b.OpenWithConsents();
  ASSERT_OK(b.Publish(OffenceEvent(kFia, 1, {"PTPA-2018-3", "PPC-370"})));
  ASSERT_EQ(b.state().offences_size(), 1);
  const v1::Offence& o = b.state().offences(0);
  EXPECT_EQ(o.status(), v1::OFFENCE_STATUS_REGISTERED);
  EXPECT_EQ(o.province(), "PK-SD");
  EXPECT_EQ(o.investigating_agency(), kFia);
  EXPECT_EQ(o.recorded_by(), kFia);

  ASSERT_OK(b.Publish(SuspectEvent(kFia, 1, 1)));
  ASSERT_EQ(b.state().suspects_size(), 1);
  EXPECT_EQ(b.state().suspects(0).citizenship(0), "PK");
  EXPECT_EQ(b.state().suspects(0).majority(), v1::MAJORITY_STATUS_ADULT);
  EXPECT_EQ(b.state().suspects(0).status(), v1::ACCUSED_STATUS_SUSPECTED);

  ASSERT_OK(b.Publish(AccusedEvent(kFia, 1, v1::ACCUSED_STEP_ARRESTED)));
  ASSERT_OK(b.Publish(AccusedEvent(kFia, 1, v1::ACCUSED_STEP_CHARGED)));
  ASSERT_OK(b.Publish(AccusedEvent(kFia, 1, v1::ACCUSED_STEP_BAIL_GRANTED)));
  EXPECT_TRUE(b.state().suspects(0).on_bail());
  Event conviction = AccusedEvent(kFia, 1, v1::ACCUSED_STEP_CONVICTED);
  conviction.mutable_accused_updated()->set_fine_amount(500000);
  conviction.mutable_accused_updated()->set_fine_currency("PKR");
  conviction.mutable_accused_updated()->set_on_date("2024-04-20");
  ASSERT_OK(b.Publish(conviction));
  const v1::Suspect& s = b.state().suspects(0);
  EXPECT_EQ(s.status(), v1::ACCUSED_STATUS_CONVICTED);
  EXPECT_EQ(s.sentence_months(), 84u);
  EXPECT_FALSE(s.on_bail()) << "bail ends with the verdict";
  EXPECT_EQ(s.fine_amount(), 500000u);
  ASSERT_EQ(s.charged_sections_size(), 1);
  ASSERT_EQ(s.history_size(), 4);
  EXPECT_EQ(AccusedRecordDate(s.history(3)), "2024-04-20");

  Event moved = BaseEvent(kFia);
  moved.mutable_offence_status_changed()->set_offence_id(OffenceId(1));
  moved.mutable_offence_status_changed()->set_to(v1::OFFENCE_STATUS_SENT_TO_COURT);
  ExpectRefused(b.Publish(moved), StatusCode::kFailedPrecondition, "offence_status_changed.to");
  moved.mutable_offence_status_changed()->set_to(v1::OFFENCE_STATUS_UNDER_INVESTIGATION);
  ASSERT_OK(b.Publish(moved));
  EXPECT_EQ(b.state().offences(0).history_size(), 2);

  // Replay gives the same state, byte for byte.
  CaseProjection replay;
  for (const auto& env : b.log()) {
    Event e;
    ASSERT_TRUE(e.ParseFromString(env.event()));
    replay.Apply(env, e);
  }
  EXPECT_EQ(replay.SerializeDeterministic(), b.projection().SerializeDeterministic());
}

// ---- bad input: each names its field, nothing recorded ----------------------------------------

TEST(CrimeSide, BadInputNamesTheFieldAndRecordsNothing) {
  Broker b;
  b.OpenWithConsents();
  const uint64_t version = b.state().version();
  ExpectRefused(b.Publish(OffenceEvent(kFia, 1, {"PTPA-2018-99"})), StatusCode::kInvalidArgument,
                "offence_registered.offence.law_sections[0]");
  Status unknown = b.Publish(OffenceEvent(kFia, 1, {"PTPA-2018-33"}));
  EXPECT_NE(unknown.message().find("did you mean PTPA-2018-3"), std::string::npos)
      << unknown.ToString();
  Event future = OffenceEvent(kFia, 1);
  future.mutable_offence_registered()->mutable_offence()->set_registered_on("2031-01-01");
  ExpectRefused(b.Publish(future), StatusCode::kInvalidArgument,
                "offence_registered.offence.registered_on");
  Event no_fir = OffenceEvent(kFia, 1);
  no_fir.mutable_offence_registered()->mutable_offence()->set_fir_number(" ");
  ExpectRefused(b.Publish(no_fir), StatusCode::kInvalidArgument,
                "offence_registered.offence.fir_number");
  Event mixed = OffenceEvent(kFia, 1, {"PTPA-2018-3", "PSMA-2018-3"});
  ExpectRefused(b.Publish(mixed), StatusCode::kInvalidArgument,
                "offence_registered.offence.law_sections[1]");
  mixed.mutable_offence_registered()->mutable_offence()->set_crime_type(v1::CRIME_TYPE_BOTH);
  mixed.mutable_offence_registered()->mutable_offence()->set_offence_id(OffenceId(9));
  mixed.mutable_offence_registered()->mutable_offence()->set_fir_number("909/2024");
  EXPECT_EQ(b.state().version(), version);
  EXPECT_EQ(b.state().offences_size(), 0);
  ASSERT_OK(b.Publish(mixed)) << "a TIP and a SOM section on an offence of both";
  EXPECT_EQ(b.state().offences_size(), 1);

  ASSERT_OK(b.Publish(OffenceEvent(kFia, 1)));
  ExpectRefused(b.Publish(SuspectEvent(kFia, 1, 2)), StatusCode::kFailedPrecondition,
                "suspect_recorded.suspect.offence_id");
  ASSERT_OK(b.Publish(SuspectEvent(kFia, 1, 1)));
  // A verdict before a charge.
  ExpectRefused(b.Publish(AccusedEvent(kFia, 1, v1::ACCUSED_STEP_CONVICTED)),
                StatusCode::kFailedPrecondition, "accused_updated.step");
  // A sentence on an acquittal.
  ASSERT_OK(b.Publish(AccusedEvent(kFia, 1, v1::ACCUSED_STEP_CHARGED)));
  Event acquittal = AccusedEvent(kFia, 1, v1::ACCUSED_STEP_ACQUITTED);
  acquittal.mutable_accused_updated()->set_sentence_months(12);
  ExpectRefused(b.Publish(acquittal), StatusCode::kInvalidArgument,
                "accused_updated.sentence_months");
  EXPECT_EQ(b.state().suspects(0).status(), v1::ACCUSED_STATUS_CHARGED);

  // A closed offence (no offender traced) takes no more steps for its accused until reopened.
  Event closed = BaseEvent(kFia);
  closed.mutable_offence_status_changed()->set_offence_id(OffenceId(1));
  closed.mutable_offence_status_changed()->set_to(v1::OFFENCE_STATUS_CLOSED);
  closed.mutable_offence_status_changed()->set_closure(v1::OFFENCE_CLOSURE_UNTRACED);
  ASSERT_OK(b.Publish(closed));
  ExpectRefused(b.Publish(AccusedEvent(kFia, 1, v1::ACCUSED_STEP_ACQUITTED)),
                StatusCode::kFailedPrecondition, "accused_updated.step");

  // Impossible routes and unknown countries.
  Event route = BaseEvent(kFia);
  v1::SmugglingDetails* d = route.mutable_smuggling_recorded()->mutable_details();
  d->set_origin_country("PK");
  d->set_destination_country("PAK");
  ExpectRefused(b.Publish(route), StatusCode::kInvalidArgument,
                "smuggling_recorded.details.destination_country");
  d->set_destination_country("XX");
  ExpectRefused(b.Publish(route), StatusCode::kInvalidArgument,
                "smuggling_recorded.details.destination_country");
  d->set_destination_country("GR");
  d->add_transit_countries("IR");
  d->add_transit_countries("GR");
  ExpectRefused(b.Publish(route), StatusCode::kInvalidArgument,
                "smuggling_recorded.details.transit_countries[1]");
  d->mutable_transit_countries()->RemoveLast();
  d->add_transit_countries("TUR");
  d->add_aggravations(v1::AGGRAVATION_DEATH);
  d->set_fee_currency("usd");
  ExpectRefused(b.Publish(route), StatusCode::kInvalidArgument,
                "smuggling_recorded.details.fee_currency");
  d->set_fee_currency("USD");
  ASSERT_OK(b.Publish(route));
  EXPECT_EQ(b.state().smuggling().transit_countries(1), "TR");

  // Fields the log sets are not the sender's.
  Event forged = SuspectEvent(kFia, 2, 1);
  forged.mutable_suspect_recorded()->mutable_suspect()->set_status(v1::ACCUSED_STATUS_CONVICTED);
  ExpectRefused(b.Publish(forged), StatusCode::kInvalidArgument,
                "suspect_recorded.suspect.status");
}

// ---- who may see and write the crime side -----------------------------------------------------

TEST(CrimeSide, AShelterNeverHoldsOffenceOrSuspectRecordsEvenByOverride) {
  Broker b;
  b.OpenWithConsents();
  // Asking a shelter to take the suspect section: refused with a consent...
  Event sent = ReferralSentEvent(kFia, ReferralId(1), kShelter, v1::SERVICE_TYPE_SHELTER,
                                 ConsentId(1));
  sent.mutable_referral_sent()->mutable_referral()->add_data_scope(v1::DATA_SECTION_SUSPECT);
  Status s = b.Publish(sent);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.field().find("referral_sent.referral.data_scope["), std::string::npos) << s.field();
  // ... and with a supervisor's consent override.
  Event overridden = sent;
  auto* r = overridden.mutable_referral_sent()->mutable_referral();
  r->clear_consent_id();
  r->mutable_consent_override()->set_role(v1::ACTOR_ROLE_SUPERVISOR);
  r->mutable_consent_override()->set_reason("emergency");
  r->mutable_consent_override()->set_actor_user("sup-1");
  overridden.set_actor_role(v1::ACTOR_ROLE_SUPERVISOR);
  s = b.Publish(overridden);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  r->clear_data_scope();
  r->add_data_scope(v1::DATA_SECTION_OFFENCE);
  EXPECT_EQ(b.Publish(overridden).code(), StatusCode::kPermissionDenied);

  // An NGO neither.
  b.agencies().Upsert(MakeAgency("outreach-ngo", v1::AGENCY_TYPE_NGO));
  Event to_ngo = ReferralSentEvent(kFia, ReferralId(7), "outreach-ngo",
                                   v1::SERVICE_TYPE_PSYCHOSOCIAL, ConsentId(1));
  to_ngo.mutable_referral_sent()->mutable_referral()->add_data_scope(v1::DATA_SECTION_OFFENCE);
  s = b.Publish(to_ngo);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_FALSE(b.agencies().MayHold("outreach-ngo", v1::DATA_SECTION_OFFENCE));
  EXPECT_FALSE(b.agencies().MayHold("outreach-ngo", v1::DATA_SECTION_SUSPECT));

  // A plain referral to the shelter, accepted; the prosecution gets OFFENCE and SUSPECT.
  b.SendAndAccept(2, kFia, kShelter, v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  Event to_prosecutor = ReferralSentEvent(kFia, ReferralId(3), kProsecutor,
                                          v1::SERVICE_TYPE_PROSECUTION, ConsentId(2));
  to_prosecutor.mutable_referral_sent()->mutable_referral()->add_data_scope(
      v1::DATA_SECTION_OFFENCE);
  to_prosecutor.mutable_referral_sent()->mutable_referral()->add_data_scope(
      v1::DATA_SECTION_SUSPECT);
  ASSERT_OK(b.Publish(to_prosecutor));
  ASSERT_OK(b.Publish(TransitionEvent(kProsecutor, ReferralId(3), v1::REFERRAL_STATUS_RECEIVED,
                                      v1::ACTOR_ROLE_SYSTEM)));
  ASSERT_OK(b.Publish(TransitionEvent(kProsecutor, ReferralId(3), v1::REFERRAL_STATUS_ACCEPTED)));

  Event offence = OffenceEvent(kFia, 1);
  Event suspect = SuspectEvent(kFia, 1, 1);
  ASSERT_OK(b.Publish(offence));
  const std::vector<std::string> who = AudienceOf(b.state(), suspect, b.agencies());
  EXPECT_EQ(who, std::vector<std::string>{kProsecutor});
  EXPECT_EQ(AudienceOf(b.state(), offence, b.agencies()), std::vector<std::string>{kProsecutor});
  ASSERT_OK(b.Publish(suspect));

  // A suspect's identity is sealed only for agencies that hold the suspect records of the case:
  // the police station with no referral of it holds none, the referral engine never.
  for (const char* reader : {kPolice, kRouter, kShelter}) {
    Event sealed = SuspectEvent(kFia, 2, 1);
    auto* id = sealed.mutable_suspect_recorded()->mutable_suspect()->mutable_identity();
    id->set_scheme(1);
    id->set_nonce(std::string(24, 'n'));
    id->set_ciphertext("c");
    id->add_wrapped_keys()->set_agency_id(kFia);
    id->mutable_wrapped_keys(0)->set_sealed_key("k");
    id->add_wrapped_keys()->set_agency_id(reader);
    id->mutable_wrapped_keys(1)->set_sealed_key("k");
    ExpectRefused(b.Publish(sealed), StatusCode::kPermissionDenied,
                  "suspect_recorded.suspect.identity.wrapped_keys[1].agency_id");
  }
  Event sealed = SuspectEvent(kFia, 3, 1);
  auto* id = sealed.mutable_suspect_recorded()->mutable_suspect()->mutable_identity();
  id->set_scheme(1);
  id->set_nonce(std::string(24, 'n'));
  id->set_ciphertext("c");
  for (const char* reader : {kFia, kProsecutor}) {
    auto* w = id->add_wrapped_keys();
    w->set_agency_id(reader);
    w->set_sealed_key("k");
  }
  ASSERT_OK(b.Publish(sealed));
  // Re-sealed by the recorder only, and only its keys may change.
  Event reseal = BaseEvent(kProsecutor);
  reseal.set_actor_role(v1::ACTOR_ROLE_SYSTEM);
  reseal.mutable_suspect_identity_resealed()->set_suspect_id(SuspectId(3));
  *reseal.mutable_suspect_identity_resealed()->mutable_identity() = *id;
  ExpectRefused(b.Publish(reseal), StatusCode::kPermissionDenied, "actor_agency");
  reseal.set_actor_agency(kFia);
  reseal.mutable_suspect_identity_resealed()->mutable_identity()->set_ciphertext("other");
  ExpectRefused(b.Publish(reseal), StatusCode::kInvalidArgument,
                "suspect_identity_resealed.identity");
  reseal.mutable_suspect_identity_resealed()->mutable_identity()->set_ciphertext("c");
  reseal.mutable_suspect_identity_resealed()->mutable_identity()->mutable_wrapped_keys()->RemoveLast();
  ASSERT_OK(b.Publish(reseal));
  EXPECT_EQ(FindSuspect(b.state(), SuspectId(3))->identity().wrapped_keys_size(), 1);

  // The shelter may neither write the crime side nor record having read it.
  Event by_shelter = OffenceEvent(kShelter, 2);
  EXPECT_EQ(b.Publish(by_shelter).code(), StatusCode::kPermissionDenied);
  Event read = BaseEvent(kShelter);
  read.mutable_record_accessed()->add_sections(v1::DATA_SECTION_SUSPECT);
  read.mutable_record_accessed()->set_purpose("curiosity");
  read.set_actor_role(v1::ACTOR_ROLE_SYSTEM);
  EXPECT_EQ(b.Publish(read).code(), StatusCode::kPermissionDenied);
  // The prosecution records the next step.
  ASSERT_OK(b.Publish(AccusedEvent(kProsecutor, 1, v1::ACCUSED_STEP_CHARGED)));

  // A shelter that came to own the case (a transfer) still receives none of it.
  EXPECT_FALSE(b.agencies().MayHold(kShelter, v1::DATA_SECTION_SUSPECT));
  EXPECT_TRUE(b.agencies().MayHold(kRouter, v1::DATA_SECTION_SUSPECT));
  v1::CaseState owned_by_shelter = b.state();
  owned_by_shelter.set_owner_agency(kShelter);
  for (auto& g : *owned_by_shelter.mutable_access()) {
    if (g.agency_id() == kShelter) {
      for (DataSection section : AllDataSections()) g.add_sections(section);
    }
  }
  const Event convicted = AccusedEvent(kProsecutor, 1, v1::ACCUSED_STEP_CONVICTED);
  EXPECT_EQ(AudienceOf(owned_by_shelter, convicted),
            (std::vector<std::string>{kFia, kShelter}))
      << "the grants alone would send it to the shelter";
  EXPECT_EQ(AudienceOf(owned_by_shelter, convicted, b.agencies()), std::vector<std::string>{kFia});
}

TEST(CrimeSide, ASmuggledMigrantReclassifiedAsAVictimKeepsTheHistory) {
  Broker b;
  Event opened = CaseOpenedEvent(kFia);
  opened.mutable_case_opened()->set_crime_type(v1::CRIME_TYPE_SOM);
  opened.mutable_case_opened()->set_person_role(v1::PERSON_ROLE_SMUGGLED_MIGRANT);
  ASSERT_OK(b.Publish(opened));
  Event again = BaseEvent(kFia);
  auto* id = again.mutable_identification_recorded();
  id->set_trafficking_status(v1::TRAFFICKING_STATUS_ACTUAL);
  id->set_crime_type(v1::CRIME_TYPE_TIP);
  id->set_person_role(v1::PERSON_ROLE_VICTIM);
  ASSERT_OK(b.Publish(again));
  ASSERT_EQ(b.state().classifications_size(), 2);
  EXPECT_EQ(b.state().classifications(0).crime_type(), v1::CRIME_TYPE_SOM);
  EXPECT_EQ(b.state().classifications(0).person_role(), v1::PERSON_ROLE_SMUGGLED_MIGRANT);
  EXPECT_EQ(b.state().classifications(1).crime_type(), v1::CRIME_TYPE_TIP);
  EXPECT_EQ(b.state().classifications(1).by_agency(), kFia);
}

TEST(CrimePolicy, TheRegistryCannotOpenTheCrimeSideToSheltersOrNgos) {
  v1::AgencyRegistry r = TestLawSections();
  auto* a = r.add_section_access();
  a->set_section(v1::DATA_SECTION_SUSPECT);
  a->add_agency_types(v1::AGENCY_TYPE_LAW_ENFORCEMENT);
  a->add_agency_types(v1::AGENCY_TYPE_NGO);
  auto p = CrimePolicy::FromRegistry(r);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().field(), "section_access[0].agency_types[1]");
  a->mutable_agency_types()->RemoveLast();
  ASSERT_TRUE(CrimePolicy::FromRegistry(r).ok());
  v1::AgencyRegistry empty = r;
  empty.mutable_section_access(0)->clear_agency_types();
  EXPECT_EQ(CrimePolicy::FromRegistry(empty).status().field(), "section_access[0].agency_types");
  v1::Agency prosecutor = MakeAgency("p", v1::AGENCY_TYPE_PROSECUTION);
  EXPECT_FALSE(CrimePolicy::FromRegistry(r)->MayHold(prosecutor, v1::DATA_SECTION_SUSPECT))
      << "narrowed to law enforcement";
  EXPECT_TRUE(CrimePolicy::FromRegistry(r)->MayHold(prosecutor, v1::DATA_SECTION_OFFENCE));
  r.add_law_sections()->set_code("PTPA-2018-3");
  r.mutable_law_sections()->rbegin()->set_law("x");
  r.mutable_law_sections()->rbegin()->set_crime_type(v1::CRIME_TYPE_TIP);
  EXPECT_EQ(CrimePolicy::FromRegistry(r).status().field(), "law_sections[5].code");
}

}  // namespace
}  // namespace passage::core
