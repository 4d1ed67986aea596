#include "core/case_work.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/case_projection.h"
#include "core/journey.h"
#include "core/statistics.h"
#include "tests/core/test_broker.h"
#include "tests/core/test_events.h"
#include "tests/testing/status_matchers.h"

namespace passage::core {
namespace {

using namespace passage::core::testing;  // NOLINT(google-build-using-namespace)
using passage::v1::Event;

std::string ItemId(uint64_t n) { return TestUuid(0xb0, n); }

// A correction of `path` by `actor`, against the value the broker's case holds now.
Event Correction(const Broker& b, const std::string& actor, const std::string& path,
                 const std::string& new_value, const std::string& reason = "typed wrongly") {
  Event e = BaseEvent(actor);
  auto* c = e.mutable_field_corrected();
  c->set_path(path);
  c->set_new_value(new_value);
  c->set_reason(reason);
  auto p = ParseFieldPath(path, "path");
  if (p.ok()) {
    auto current = CurrentValue(b.state(), *p, "path");
    c->set_old_value_sha256(Sha256Hex(current.ok() ? *current : ""));
  } else {
    c->set_old_value_sha256(std::string(64, '0'));
  }
  return e;
}

Event PlanEvent(const std::string& actor, const std::string& referral_id, const std::string& item,
                const std::string& due) {
  Event e = BaseEvent(actor);
  auto* s = e.mutable_service_planned();
  s->set_referral_id(referral_id);
  s->mutable_item()->set_item_id(item);
  s->mutable_item()->set_service(passage::v1::SERVICE_TYPE_MEDICAL);
  s->mutable_item()->set_due_date(due);
  s->mutable_item()->set_note("MED-CHECK");
  return e;
}

Event ItemUpdate(const std::string& actor, const std::string& referral_id, const std::string& item,
                 passage::v1::PlanItemStatus to, const std::string& reason = "") {
  Event e = BaseEvent(actor);
  auto* u = e.mutable_service_plan_item_updated();
  u->set_referral_id(referral_id);
  u->set_item_id(item);
  u->set_to(to);
  u->set_reason(reason);
  return e;
}

Event FollowUpEvent(const std::string& actor, const std::string& referral_id, const std::string& id,
                    const std::string& due) {
  Event e = BaseEvent(actor);
  auto* s = e.mutable_follow_up_scheduled();
  s->set_referral_id(referral_id);
  s->mutable_follow_up()->set_follow_up_id(id);
  s->mutable_follow_up()->set_due_date(due);
  s->mutable_follow_up()->set_purpose("check-in call");
  return e;
}

Event FollowUpDoneEvent(const std::string& actor, const std::string& referral_id,
                        const std::string& id) {
  Event e = BaseEvent(actor);
  e.mutable_follow_up_done()->set_referral_id(referral_id);
  e.mutable_follow_up_done()->set_follow_up_id(id);
  return e;
}

std::vector<std::pair<passage::v1::Envelope, Event>> Events(const Broker& b) {
  std::vector<std::pair<passage::v1::Envelope, Event>> out;
  for (const auto& env : b.log()) {
    Event e;
    EXPECT_TRUE(e.ParseFromString(env.event()));
    out.emplace_back(env, e);
  }
  return out;
}

TEST(CaseWork, CanonicalEncodingIsTheDocumentedOne) {
  passage::v1::CaseState s;
  *s.mutable_profile() = ValidProfile();
  s.mutable_profile()->add_citizenship("AF");
  auto value = [&](const std::string& path) {
    auto p = ParseFieldPath(path, "path");
    EXPECT_OK(p);
    return *CurrentValue(s, *p, "path");
  };
  EXPECT_EQ(value("profile.sex"), "\"SEX_FEMALE\"");
  EXPECT_EQ(value("profile.citizenship"), "[\"PK\",\"AF\"]");
  EXPECT_EQ(value("profile.age_years"), "16");
  EXPECT_EQ(value("profile.minority_group"), "null");
  EXPECT_EQ(value("profile.is_abduction"), "false");
  EXPECT_EQ(value("profile.sexual_exploitation_types"), "[]");
  // The hash another implementation computes: SHA-256 of the bytes "SEX_FEMALE" in quotes.
  EXPECT_EQ(Sha256Hex("\"SEX_FEMALE\""), Sha256Hex(value("profile.sex")));
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // Plain values typed by a person become the canonical encoding.
  auto sex = *ParseFieldPath("profile.citizenship", "path");
  EXPECT_EQ(*CanonicalValueFromText(sex, "pak, af", "NEW_VALUE"), "[\"PK\",\"AF\"]");
  auto s2 = *ParseFieldPath("profile.sex", "path");
  EXPECT_EQ(*CanonicalValueFromText(s2, "male", "NEW_VALUE"), "\"SEX_MALE\"");
  EXPECT_EQ(CanonicalValueFromText(s2, "martian", "NEW_VALUE").status().field(), "NEW_VALUE");
}

TEST(CaseWork, ProfileCorrectionIsAppliedRecordedAndCounted) {
  Broker b;
  b.OpenWithConsents();
  passage::v1::CaseState before = b.state();
  ASSERT_OK(b.Publish(Correction(b, kFia, "profile.sex", "\"SEX_MALE\"", "sex recorded wrongly")));
  EXPECT_EQ(b.state().profile().sex(), passage::v1::SEX_MALE);
  ASSERT_EQ(b.state().corrections_size(), 1);
  const passage::v1::Correction& c = b.state().corrections(0);
  EXPECT_EQ(c.path(), "profile.sex");
  EXPECT_EQ(c.old_value(), "\"SEX_FEMALE\"");
  EXPECT_EQ(c.old_value_sha256(), Sha256Hex("\"SEX_FEMALE\""));
  EXPECT_EQ(c.new_value(), "\"SEX_MALE\"");
  EXPECT_EQ(c.reason(), "sex recorded wrongly");
  EXPECT_EQ(c.by_agency(), kFia);
  EXPECT_EQ(c.global_seq(), b.log().back().global_seq());

  // Statistics fold the projection: the case now counts as male.
  StatsQuery q;
  q.by = {Dimension::kSex};
  q.k = 1;
  auto old_table = ComputeTable({&before}, q, b.agencies());
  auto new_table = ComputeTable({&b.state()}, q, b.agencies());
  ASSERT_OK(old_table);
  ASSERT_OK(new_table);
  ASSERT_EQ(old_table->cells.size(), 1u);
  ASSERT_EQ(new_table->cells.size(), 1u);
  EXPECT_EQ(old_table->cells[0].values[0], "FEMALE");
  EXPECT_EQ(new_table->cells[0].values[0], "MALE");

  // The original stays in the log: the opening event still says FEMALE.
  Event opened;
  ASSERT_TRUE(opened.ParseFromString(b.log().front().event()));
  EXPECT_EQ(opened.case_opened().profile().sex(), passage::v1::SEX_FEMALE);
}

TEST(CaseWork, StaleHashIsAConflict) {
  Broker b;
  b.OpenWithConsents();
  Event first = Correction(b, kFia, "profile.sex", "\"SEX_MALE\"");
  Event stale = Correction(b, kFia, "profile.sex", "\"SEX_OTHER\"");  // made against FEMALE too
  ASSERT_OK(b.Publish(first));
  Status s = b.Publish(stale);
  ExpectRefused(s, StatusCode::kFailedPrecondition, "field_corrected.old_value_sha256");
  EXPECT_NE(s.message().find("changed since it was read"), std::string::npos) << s.ToString();
  EXPECT_EQ(b.state().profile().sex(), passage::v1::SEX_MALE);
  EXPECT_EQ(b.state().corrections_size(), 1);
}

TEST(CaseWork, BadCorrectionsAreRefusedNamingTheField) {
  Broker b;
  b.OpenWithConsents();
  Status unknown = b.Publish(Correction(b, kFia, "profile.sexx", "\"SEX_MALE\""));
  ExpectRefused(unknown, StatusCode::kInvalidArgument, "field_corrected.path");
  EXPECT_NE(unknown.message().find("is not a field that can be corrected"), std::string::npos);
  EXPECT_NE(unknown.message().find("did you mean 'profile.sex'"), std::string::npos)
      << unknown.ToString();
  b.SendAndAccept(1, kFia, kShelter, passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  Status status_path =
      b.Publish(Correction(b, kFia, "referrals[" + ReferralId(1) + "].status", "\"X\""));
  ExpectRefused(status_path, StatusCode::kInvalidArgument, "field_corrected.path");
  EXPECT_NE(status_path.message().find("statuses"), std::string::npos) << status_path.ToString();

  ExpectRefused(b.Publish(Correction(b, kFia, "profile.sex", "\"SEX_MARTIAN\"")),
                StatusCode::kInvalidArgument, "field_corrected.new_value");
  ExpectRefused(b.Publish(Correction(b, kFia, "profile.age_years", "\"seventeen\"")),
                StatusCode::kInvalidArgument, "field_corrected.new_value");
  ExpectRefused(b.Publish(Correction(b, kFia, "profile.age_years", "200")),
                StatusCode::kInvalidArgument, "field_corrected.new_value");
  ExpectRefused(b.Publish(Correction(b, kFia, "profile.citizenship", "[\"pak\"]")),
                StatusCode::kInvalidArgument, "field_corrected.new_value");
  ExpectRefused(b.Publish(Correction(b, kFia, "profile.sex", "\"SEX_MALE\"", "  ")),
                StatusCode::kInvalidArgument, "field_corrected.reason");
  ExpectRefused(b.Publish(Correction(b, kFia, "profile.sex", "\"SEX_MALE\"",
                                     std::string(kMaxCorrectionReason + 1, 'x'))),
                StatusCode::kInvalidArgument, "field_corrected.reason");
  ExpectRefused(b.Publish(Correction(b, kFia, "profile.sex", "\"SEX_FEMALE\"")),
                StatusCode::kFailedPrecondition, "field_corrected.new_value");
  // Who: the profile is the owner's; a referral's details are its sender's.
  ExpectRefused(b.Publish(Correction(b, kShelter, "profile.sex", "\"SEX_MALE\"")),
                StatusCode::kPermissionDenied, "actor_agency");
  const std::string priority = "referrals[" + ReferralId(1) + "].priority";
  ExpectRefused(b.Publish(Correction(b, kShelter, priority, "\"PRIORITY_EMERGENCY\"")),
                StatusCode::kPermissionDenied, "actor_agency");
  ExpectRefused(b.Publish(Correction(b, kFia, "referrals[" + ReferralId(9) + "].priority",
                                     "\"PRIORITY_EMERGENCY\"")),
                StatusCode::kNotFound, "field_corrected.path");
  Event auditor = Correction(b, kFia, priority, "\"PRIORITY_EMERGENCY\"");
  auditor.set_actor_role(passage::v1::ACTOR_ROLE_AUDITOR);
  ExpectRefused(b.Publish(auditor), StatusCode::kPermissionDenied, "actor_role");
  ASSERT_OK(b.Publish(Correction(b, kFia, priority, "\"PRIORITY_EMERGENCY\"")));
  EXPECT_EQ(b.referral(1).priority(), passage::v1::PRIORITY_EMERGENCY);
  EXPECT_EQ(b.state().corrections_size(), 1);
}

TEST(CaseWork, ConsentAndAgeCorrections) {
  Broker b;
  b.OpenWithConsents();
  const std::string types = "consents[" + ConsentId(1) + "].agency_types";
  ASSERT_OK(b.Publish(Correction(b, kFia, types, "[\"AGENCY_TYPE_SHELTER\"]")));
  ASSERT_EQ(FindConsent(b.state(), ConsentId(1))->agency_types_size(), 1);
  ExpectRefused(b.Publish(Correction(b, kFia, "consents[" + ConsentId(1) + "].scope",
                                     "\"CONSENT_SCOPE_UNSPECIFIED\"")),
                StatusCode::kInvalidArgument, "field_corrected.new_value");
  // A new age derives the band and majority again.
  ASSERT_OK(b.Publish(Correction(b, kFia, "profile.age_years", "25")));
  EXPECT_EQ(b.state().profile().age_years(), 25u);
  EXPECT_EQ(b.state().profile().age_band(), passage::v1::AGE_BAND_24_26);
  EXPECT_EQ(b.state().profile().majority_at_identification(), passage::v1::MAJORITY_STATUS_ADULT);
}

TEST(CaseWork, ACorrectionReplaysByteIdentically) {
  Broker b;
  b.OpenWithConsents();
  b.SendAndAccept(1, kFia, kShelter, passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  ASSERT_OK(b.Publish(Correction(b, kFia, "profile.citizenship", "[\"AF\"]")));
  ASSERT_OK(b.Publish(PlanEvent(kShelter, ReferralId(1), ItemId(1), "2024-05-10")));
  auto replay = [&] {
    CaseProjection p;
    for (const auto& [env, e] : Events(b)) {
      p.Apply(env, e);
    }
    return p;
  };
  const CaseProjection one = replay();
  const CaseProjection two = replay();
  EXPECT_EQ(one.SerializeDeterministic(), two.SerializeDeterministic());
  EXPECT_EQ(one.SerializeDeterministic(), b.projection().SerializeDeterministic());
  ASSERT_EQ(one.state().profile().citizenship_size(), 1);
  EXPECT_EQ(one.state().profile().citizenship(0), "AF");
  EXPECT_EQ(one.state().corrections_size(), 1);
}

TEST(CaseWork, JourneyShowsTheCorrection) {
  Broker b;
  b.OpenWithConsents();
  ASSERT_OK(b.Publish(Correction(b, kFia, "profile.sex", "\"SEX_MALE\"", "sex typed wrongly")));
  const Journey j = BuildJourney(Events(b));
  ASSERT_FALSE(j.entries.empty());
  EXPECT_EQ(j.entries.back().text,
            "Correction: profile: sex changed from FEMALE to MALE \u2014 sex typed wrongly (by "
            "fia-karachi)");
  // A reader whose copy of the case never held the old value is not shown it.
  auto events = Events(b);
  events.erase(events.begin());  // no CaseOpened: the profile was never seen
  const Journey partial = BuildJourney(events);
  EXPECT_EQ(partial.entries.back().text.find("from"), std::string::npos)
      << partial.entries.back().text;
}

TEST(CaseWork, PlansBelongToTheReceivingAgencyOfAnAcceptedReferral) {
  Broker b;
  b.OpenWithConsents();
  ASSERT_OK(b.Publish(ReferralSentEvent(kFia, ReferralId(1), kShelter,
                                        passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1))));
  ExpectRefused(b.Publish(PlanEvent(kShelter, ReferralId(1), ItemId(1), "2024-05-10")),
                StatusCode::kFailedPrecondition, "service_planned.referral_id");
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_RECEIVED,
                                passage::v1::ACTOR_ROLE_SYSTEM)));
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED)));
  ExpectRefused(b.Publish(PlanEvent(kFia, ReferralId(1), ItemId(1), "2024-05-10")),
                StatusCode::kPermissionDenied, "service_planned.referral_id");
  ExpectRefused(b.Publish(PlanEvent(kShelter, ReferralId(7), ItemId(1), "2024-05-10")),
                StatusCode::kNotFound, "service_planned.referral_id");
  ExpectRefused(b.Publish(PlanEvent(kShelter, ReferralId(1), ItemId(1), "2024-02-30")),
                StatusCode::kInvalidArgument, "service_planned.item.due_date");
  ExpectRefused(b.Publish(PlanEvent(kShelter, ReferralId(1), ItemId(1), "10/05/2024")),
                StatusCode::kInvalidArgument, "service_planned.item.due_date");
  Event long_note = PlanEvent(kShelter, ReferralId(1), ItemId(1), "2024-05-10");
  long_note.mutable_service_planned()->mutable_item()->set_note(std::string(200, 'n'));
  ExpectRefused(b.Publish(long_note), StatusCode::kInvalidArgument, "service_planned.item.note");

  ASSERT_OK(b.Publish(PlanEvent(kShelter, ReferralId(1), ItemId(1), "2024-05-10")));
  ASSERT_EQ(b.referral(1).plan_size(), 1);
  EXPECT_EQ(b.referral(1).plan(0).status(), passage::v1::PLAN_ITEM_STATUS_PLANNED);
  EXPECT_EQ(b.referral(1).plan(0).planned_by(), kShelter);
  ExpectRefused(b.Publish(PlanEvent(kShelter, ReferralId(1), ItemId(1), "2024-05-11")),
                StatusCode::kFailedPrecondition, "service_planned.item.item_id");
  // The sender hears of it too (SERVICES readers and both parties).
  EXPECT_EQ(AudienceOf(b.state(), PlanEvent(kShelter, ReferralId(1), ItemId(2), "2024-05-10")),
            std::vector<std::string>{kFia});

  ExpectRefused(b.Publish(ItemUpdate(kShelter, ReferralId(1), ItemId(1),
                                     passage::v1::PLAN_ITEM_STATUS_NOT_DONE)),
                StatusCode::kInvalidArgument, "service_plan_item_updated.reason");
  ExpectRefused(
      b.Publish(ItemUpdate(kFia, ReferralId(1), ItemId(1), passage::v1::PLAN_ITEM_STATUS_DONE)),
      StatusCode::kPermissionDenied, "service_plan_item_updated.item_id");
  ASSERT_OK(b.Publish(
      ItemUpdate(kShelter, ReferralId(1), ItemId(1), passage::v1::PLAN_ITEM_STATUS_DONE)));
  EXPECT_EQ(b.referral(1).plan(0).status(), passage::v1::PLAN_ITEM_STATUS_DONE);
  ExpectRefused(b.Publish(ItemUpdate(kShelter, ReferralId(1), ItemId(1),
                                     passage::v1::PLAN_ITEM_STATUS_NOT_DONE, "victim moved")),
                StatusCode::kFailedPrecondition, "service_plan_item_updated.item_id");

  ASSERT_OK(b.Publish(FollowUpEvent(kShelter, ReferralId(1), ItemId(2), "2024-05-03")));
  ASSERT_OK(b.Publish(FollowUpDoneEvent(kShelter, ReferralId(1), ItemId(2))));
  EXPECT_TRUE(b.referral(1).follow_ups(0).done());
  ExpectRefused(b.Publish(FollowUpDoneEvent(kShelter, ReferralId(1), ItemId(2))),
                StatusCode::kFailedPrecondition, "follow_up_done.follow_up_id");
  ExpectRefused(b.Publish(FollowUpDoneEvent(kShelter, ReferralId(1), ItemId(3))),
                StatusCode::kNotFound, "follow_up_done.follow_up_id");

  const Journey j = BuildJourney(Events(b));
  std::string all;
  for (const auto& e : j.entries) all += e.text + "\n";
  EXPECT_NE(all.find("planned a MEDICAL service under R1, due 2024-05-10 (MED-CHECK)"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("marked the planned MEDICAL service (due 2024-05-10) done"), std::string::npos)
      << all;
  EXPECT_NE(all.find("completed the follow-up due 2024-05-03 (check-in call)"), std::string::npos)
      << all;
}

TEST(CaseWork, DueRemindersAreTheOpenItemsOfTheReceivingAgency) {
  Broker b;
  b.OpenWithConsents();
  b.SendAndAccept(1, kFia, kShelter, passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  ASSERT_OK(b.Publish(PlanEvent(kShelter, ReferralId(1), ItemId(1), "2024-04-20")));  // overdue
  ASSERT_OK(b.Publish(PlanEvent(kShelter, ReferralId(1), ItemId(2), "2024-05-03")));  // in 2 days
  ASSERT_OK(b.Publish(PlanEvent(kShelter, ReferralId(1), ItemId(3), "2024-06-30")));  // later
  ASSERT_OK(b.Publish(FollowUpEvent(kShelter, ReferralId(1), ItemId(4), "2024-05-01")));  // today
  ASSERT_OK(b.Publish(FollowUpEvent(kShelter, ReferralId(1), ItemId(5), "2024-04-01")));
  ASSERT_OK(b.Publish(FollowUpDoneEvent(kShelter, ReferralId(1), ItemId(5))));  // done: gone
  const std::vector<Reminder> due = DueReminders({&b.state()}, kShelter, kTestNowMs, 7);
  ASSERT_EQ(due.size(), 3u);
  EXPECT_EQ(due[0].id, ItemId(1));
  EXPECT_TRUE(due[0].overdue);
  EXPECT_EQ(due[1].id, ItemId(4));
  EXPECT_TRUE(due[1].follow_up);
  EXPECT_FALSE(due[1].overdue);
  EXPECT_EQ(due[2].id, ItemId(2));
  EXPECT_TRUE(DueReminders({&b.state()}, kFia, kTestNowMs, 7).empty());  // not the recipient
  EXPECT_NE(RenderReminders(due).find("OVERDUE"), std::string::npos);
}

}  // namespace
}  // namespace passage::core
