// End-to-end tests of case work (docs/case-work.md) through the real processes, driven with
// passagectl signed in on each agency's node:
//
// 1. The owner corrects a profile field: accepted, shown in the journey, kept in the case's
//    correction history; a correction against a stale value is refused as a conflict, an unknown
//    field and a value of the wrong type are refused naming the field; replaying the broker's log
//    twice gives the same bytes and the corrected value.
// 2. The receiving agency plans a service and a follow-up under an accepted referral; overdue ones
//    appear in its inbox; it marks them done once. Bad input (a date that does not exist, another
//    agency's referral, a referral not accepted yet, marking twice) is refused naming the field.

#include <gtest/gtest.h>

#include <fstream>

#include "core/case_work.h"
#include "core/codes.h"
#include "tests/e2e/desk.h"
#include "tests/e2e/nrm_harness.h"

namespace passage::e2e {
namespace {

constexpr const char* kFia = "fia-karachi";
constexpr const char* kShelter = "dastak-shelter";
constexpr const char* kClinic = "karachi-clinic";  // answers its referrals by hand

std::string DayFromToday(int days) {
  return core::FormatUtcMs(NowMs() + static_cast<int64_t>(days) * core::kDayMs).substr(0, 10);
}

TEST(E2eCaseWork, ACorrectionIsCheckedShownAndReplayedByteIdentically) {
  Nrm nrm({FirstResponder(kFia)}, v1::RuleSet());
  ASSERT_TRUE(nrm.Start());
  Desk desk(nrm);
  ASSERT_TRUE(desk.SignIn(kFia));
  auto case_id = nrm.Intake(kFia, AdultWomanSexuallyExploited(true));
  ASSERT_TRUE(case_id.ok()) << case_id.status().ToString();
  v1::CaseState c;
  ASSERT_TRUE(desk.WaitCase(
      kFia, *case_id, [](const v1::CaseState& s) { return s.consents_size() == 2; }, &c,
      "the new case"));
  ASSERT_EQ(c.profile().sex(), v1::SEX_FEMALE);

  // Accepted: the node hashes the value it holds now.
  CtlProc p = desk.Run(kFia, {"--json", "correct", c.reference(), "profile.sex", "male", "--reason",
                              "sex recorded wrongly at intake"});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(JsonField(p.out, "new_value"), "\"SEX_MALE\"") << p.out;
  EXPECT_EQ(JsonField(p.out, "old_value_sha256"), core::Sha256Hex("\"SEX_FEMALE\"")) << p.out;
  ASSERT_TRUE(desk.WaitCase(
      kFia, *case_id, [](const v1::CaseState& s) { return s.corrections_size() == 1; }, &c,
      "the correction"));
  EXPECT_EQ(c.profile().sex(), v1::SEX_MALE);
  EXPECT_EQ(c.corrections(0).path(), "profile.sex");
  EXPECT_EQ(c.corrections(0).reason(), "sex recorded wrongly at intake");
  EXPECT_EQ(c.corrections(0).by_agency(), kFia);
  EXPECT_FALSE(c.corrections(0).by_user().empty());
  p = desk.Run(kFia, {"journey", *case_id});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("Correction: profile: sex changed from FEMALE to MALE \u2014 sex recorded "
                       "wrongly at intake"),
            std::string::npos)
      << p.out;

  // A correction decided on the value seen before: a conflict, nothing recorded.
  p = desk.Run(kFia, {"correct", *case_id, "profile.sex", "other", "--reason", "second thoughts",
                      "--old-value-sha256", core::Sha256Hex("\"SEX_FEMALE\"")});
  EXPECT_EQ(p.code, 1) << p.err;
  EXPECT_NE(p.err.find("field_corrected.old_value_sha256"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("changed since it was read"), std::string::npos) << p.err;
  // A field that is not there, a value of the wrong kind, no reason: named.
  p = desk.Run(kFia, {"correct", *case_id, "profile.sexx", "male", "--reason", "typo"});
  EXPECT_EQ(p.code, 2) << p.err;
  EXPECT_NE(p.err.find("PATH"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("did you mean 'profile.sex'"), std::string::npos) << p.err;
  p = desk.Run(kFia, {"correct", *case_id, "profile.age_years", "old", "--reason", "typo"});
  EXPECT_EQ(p.code, 2) << p.err;
  EXPECT_NE(p.err.find("new_value"), std::string::npos) << p.err;
  p = desk.Run(kFia, {"correct", *case_id, "profile.citizenship", "XX", "--reason", "typo"});
  EXPECT_EQ(p.code, 2) << p.err;
  EXPECT_NE(p.err.find("citizenship"), std::string::npos) << p.err;
  p = desk.Run(kFia, {"correct", *case_id, "profile.sex", "female"});
  EXPECT_EQ(p.code, 2) << p.err;
  EXPECT_NE(p.err.find("--reason"), std::string::npos) << p.err;
  // A second correction on the corrected value is fine.
  p = desk.Run(kFia,
               {"correct", *case_id, "profile.citizenship", "PAK,AFG", "--reason", "dual citizen"});
  ASSERT_EQ(p.code, 0) << p.err;
  ASSERT_TRUE(desk.WaitCase(
      kFia, *case_id, [](const v1::CaseState& s) { return s.corrections_size() == 2; }, &c,
      "the second correction"));
  EXPECT_EQ(c.profile().citizenship_size(), 2);

  // Replaying the log: the same bytes twice, with the corrected values.
  nrm.StopNode("broker");
  const std::string cp = nrm.dir() + "/cp";
  CtlProc made = desk.RunOffline({"admin", "checkpoint", cp, "--log", nrm.dir() + "/broker"});
  ASSERT_EQ(made.code, 0) << made.err;
  CtlProc one = desk.RunOffline({"--json", "replay", "--log", cp, "--case", *case_id, "--digest"});
  CtlProc two = desk.RunOffline({"--json", "replay", "--log", cp, "--case", *case_id, "--digest"});
  ASSERT_EQ(one.code, 0) << one.err;
  ASSERT_EQ(two.code, 0) << two.err;
  EXPECT_EQ(one.out, two.out);
  EXPECT_FALSE(JsonField(one.out, "digest").empty()) << one.out.substr(0, 2000);
  EXPECT_NE(one.out.find("SEX_MALE"), std::string::npos) << one.out.substr(0, 3000);
  EXPECT_NE(one.out.find("dual citizen"), std::string::npos) << one.out.substr(0, 3000);
}

TEST(E2eCaseWork, PlansAndFollowUpsUnderAnAcceptedReferralReachTheInbox) {
  Nrm nrm({FirstResponder(kFia),
           Protection(kShelter, v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER}),
           Protection(kClinic, v1::AGENCY_TYPE_HEALTH, {v1::SERVICE_TYPE_MEDICAL}, 0,
                      /*auto_accept=*/false)},
          v1::RuleSet());
  ASSERT_TRUE(nrm.Start());
  Desk desk(nrm);
  for (const char* id : {kFia, kShelter, kClinic}) {
    ASSERT_TRUE(desk.SignIn(id));
  }
  auto case_id = nrm.Intake(kFia, AdultWomanSexuallyExploited(true));
  ASSERT_TRUE(case_id.ok()) << case_id.status().ToString();
  v1::CaseState c;
  ASSERT_TRUE(desk.WaitCase(
      kFia, *case_id, [](const v1::CaseState& s) { return s.consents_size() == 2; }, &c,
      "the consents"));
  const std::string consent = ConsentOf(c, v1::CONSENT_SCOPE_SERVICES);
  CtlProc p = desk.Run(kFia, {"--json", "refer", *case_id, "--to", kShelter, "--service", "shelter",
                              "--consent", consent, "--scope", "profile,referrals,services"});
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string to_shelter = JsonField(p.out, "referral_id");
  p = desk.Run(kFia, {"--json", "refer", *case_id, "--to", kClinic, "--service", "medical",
                      "--consent", consent, "--scope", "profile,services"});
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string to_clinic = JsonField(p.out, "referral_id");
  ASSERT_TRUE(desk.WaitCase(
      kShelter, *case_id,
      [&](const v1::CaseState& s) {
        for (const auto& r : s.referrals()) {
          if (r.referral_id() == to_shelter) return r.status() == v1::REFERRAL_STATUS_ACCEPTED;
        }
        return false;
      },
      &c, "the shelter to accept by policy"));

  // The sender trying to accept is told who may, in words, not by the event's field path.
  p = desk.Run(kFia, {"referral", "accept", to_shelter});
  EXPECT_EQ(p.code, 1) << p.err;
  EXPECT_EQ(p.err, std::string("passagectl: only the recipient (") + kShelter +
                       ") may accept a referral\n");

  // The shelter's inbox as CSV for a spreadsheet: a header and one row per referral, the
  // respond-by time readable.
  p = desk.Run(kShelter, {"inbox", "--format", "csv"});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(p.out.rfind("referral_id,case_id,", 0), 0u) << p.out;
  EXPECT_NE(p.out.find(",respond_by,"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("\r\n" + to_shelter + "," + *case_id + ","), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("REFERRAL_STATUS_ACCEPTED"), std::string::npos) << p.out;
  p = desk.Run(kShelter, {"status", "--format", "csv"});
  EXPECT_EQ(p.code, 2) << p.err;
  EXPECT_NE(p.err.find("--format"), std::string::npos) << p.err;

  // Bad input, each named.
  p = desk.Run(kShelter, {"plan", "add", *case_id, to_shelter, "--service", "medical", "--due",
                          "2026-02-30"});
  EXPECT_EQ(p.code, 2) << p.err;
  EXPECT_NE(p.err.find("--due"), std::string::npos) << p.err;
  p = desk.Run(kFia, {"plan", "add", *case_id, to_shelter, "--service", "medical", "--due",
                      DayFromToday(3)});
  EXPECT_EQ(p.code, 1) << p.err;
  EXPECT_NE(p.err.find("service_planned.referral_id"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("only the agency that received"), std::string::npos) << p.err;
  ASSERT_TRUE(desk.WaitCase(
      kClinic, *case_id,
      [&](const v1::CaseState& s) {
        for (const auto& r : s.referrals()) {
          if (r.referral_id() == to_clinic) return r.status() == v1::REFERRAL_STATUS_RECEIVED;
        }
        return false;
      },
      nullptr, "the clinic to receive"));
  p = desk.Run(kClinic, {"plan", "add", *case_id, to_clinic, "--service", "medical", "--due",
                         DayFromToday(3)});
  EXPECT_EQ(p.code, 1) << p.err;
  EXPECT_NE(p.err.find("service_planned.referral_id"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("accepted"), std::string::npos) << p.err;

  // A plan item due yesterday, one next month, and a follow-up due today.
  p = desk.Run(kShelter, {"--json", "plan", "add", *case_id, to_shelter, "--service", "medical",
                          "--due", DayFromToday(-1), "--note", "MED-CHECK"});
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string overdue_item = JsonField(p.out, "id");
  p = desk.Run(kShelter, {"--json", "plan", "add", *case_id, to_shelter, "--service",
                          "psychosocial", "--due", DayFromToday(30)});
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string later_item = JsonField(p.out, "id");
  p = desk.Run(kShelter, {"--json", "followup", "add", *case_id, to_shelter, "--due",
                          DayFromToday(0), "--purpose", "check-in call"});
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string follow_up = JsonField(p.out, "id");
  ASSERT_FALSE(overdue_item.empty());
  ASSERT_FALSE(follow_up.empty());

  // The inbox lists what is due within a week, the overdue item marked; not next month's.
  ASSERT_TRUE(WaitUntil(
      "the reminders in the shelter's inbox",
      [&] {
        p = desk.Run(kShelter, {"inbox"});
        return p.code == 0 && p.out.find(follow_up) != std::string::npos &&
               p.out.find(overdue_item) != std::string::npos;
      },
      kWaitMs, [&] { return p.out + p.err; }, 200));
  EXPECT_NE(p.out.find(DayFromToday(-1) + " OVERDUE plan item " + overdue_item), std::string::npos)
      << p.out;
  EXPECT_EQ(p.out.find(later_item), std::string::npos) << p.out;
  p = desk.Run(kShelter, {"--json", "plan", "due", "--within", "40"});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find(later_item), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("\"overdue\":true"), std::string::npos) << p.out;
  // The sender's inbox has none of them.
  p = desk.Run(kFia, {"plan", "due"});
  EXPECT_EQ(p.out.find(overdue_item), std::string::npos) << p.out;

  // Done once; the second time is refused naming the item.
  p = desk.Run(kShelter, {"plan", "done", *case_id, overdue_item});
  ASSERT_EQ(p.code, 0) << p.err;
  p = desk.Run(kShelter, {"plan", "done", *case_id, overdue_item});
  EXPECT_EQ(p.code, 1) << p.err;
  EXPECT_NE(p.err.find("service_plan_item_updated.item_id"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("already marked DONE"), std::string::npos) << p.err;
  p = desk.Run(kShelter, {"plan", "not-done", *case_id, later_item});
  EXPECT_EQ(p.code, 2) << p.err;
  EXPECT_NE(p.err.find("--reason"), std::string::npos) << p.err;
  p = desk.Run(kShelter,
               {"plan", "not-done", *case_id, later_item, "--reason", "victim moved away"});
  ASSERT_EQ(p.code, 0) << p.err;
  p = desk.Run(kShelter, {"followup", "done", *case_id, follow_up});
  ASSERT_EQ(p.code, 0) << p.err;

  // The sender sees the plan as it stands, and the journey tells it.
  ASSERT_TRUE(desk.WaitCase(
      kFia, *case_id,
      [&](const v1::CaseState& s) {
        for (const auto& r : s.referrals()) {
          if (r.referral_id() == to_shelter) {
            return r.plan_size() == 2 && r.follow_ups_size() == 1 && r.follow_ups(0).done() &&
                   r.plan(1).status() == v1::PLAN_ITEM_STATUS_NOT_DONE;
          }
        }
        return false;
      },
      &c, "the plan at the sender"));
  p = desk.Run(kShelter, {"inbox"});
  EXPECT_EQ(p.out.find(overdue_item), std::string::npos) << p.out;
  EXPECT_EQ(p.out.find(follow_up), std::string::npos) << p.out;
  p = desk.Run(kFia, {"journey", *case_id});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("planned a MEDICAL service"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("not done: victim moved away"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("completed the follow-up due " + DayFromToday(0)), std::string::npos)
      << p.out;
}

}  // namespace
}  // namespace passage::e2e
