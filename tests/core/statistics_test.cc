#include "core/statistics.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/case_projection.h"
#include "core/validate.h"
#include "tests/core/suppression_check.h"
#include "tests/core/test_events.h"
#include "tests/testing/status_matchers.h"

namespace passage::core {
namespace {

using namespace passage::core::testing;  // NOLINT(google-build-using-namespace)
using passage::v1::CaseState;
using passage::v1::Event;

constexpr char kFia[] = "fia-karachi";
constexpr char kNgo[] = "outreach-ngo";
constexpr char kShelter[] = "shelter-ngo";
constexpr char kLegalAid[] = "legal-aid-ngo";
constexpr char kLegalAidB[] = "legal-aid-b";
constexpr char kRouter[] = "passage-router";

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kT0 = kTestNowMs;

InMemoryAgencyDirectory Directory() {
  InMemoryAgencyDirectory d;
  auto add = [&](const std::string& id, passage::v1::AgencyType type, bool first_responder) {
    passage::v1::Agency a;
    a.set_id(id);
    a.set_name(id);
    a.set_type(type);
    a.set_region("PK-SD");
    a.set_first_responder(first_responder);
    if (id == kRouter) {
      a.set_system_principal(true);
    }
    d.Upsert(a);
  };
  add(kFia, passage::v1::AGENCY_TYPE_LAW_ENFORCEMENT, true);
  add(kNgo, passage::v1::AGENCY_TYPE_NGO, true);
  add(kShelter, passage::v1::AGENCY_TYPE_SHELTER, false);
  add(kLegalAid, passage::v1::AGENCY_TYPE_LEGAL_AID, false);
  add(kLegalAidB, passage::v1::AGENCY_TYPE_LEGAL_AID, false);
  add(kRouter, passage::v1::AGENCY_TYPE_OTHER, false);
  return d;
}

// One case, built the way the broker builds it: validate, check, number, apply.
class TestCase {
 public:
  TestCase(const AgencyDirectory& agencies, uint64_t n)
      : agencies_(agencies), case_id_(TestUuid(0xca, n)) {}

  Status Publish(Event e, int64_t at_ms) {
    e.set_case_id(case_id_);
    e.set_event_id(EventId(++seq_));
    e.set_occurred_at_ms(at_ms);
    RETURN_IF_ERROR(ValidateEvent(e, kT0 + 365LL * 24 * kHour));
    RETURN_IF_ERROR(projection_.Check(e, agencies_));
    passage::v1::Envelope env;
    env.set_global_seq(seq_);
    env.set_case_seq(projection_.state().version() + 1);
    env.set_producer(e.actor_agency());
    env.set_case_id(case_id_);
    env.set_event_id(e.event_id());
    env.set_event(e.SerializeAsString());
    projection_.Apply(env, e);
    return Status::Ok();
  }

  const CaseState& state() const { return projection_.state(); }

 private:
  const AgencyDirectory& agencies_;
  std::string case_id_;
  CaseProjection projection_;
  uint64_t seq_ = 0;
};

Event Opening(passage::v1::Sex sex, uint32_t age, const std::string& opener = kFia) {
  Event e = CaseOpenedEvent(opener);
  passage::v1::Profile* p = e.mutable_case_opened()->mutable_profile();
  p->set_sex(sex);
  p->set_age_years(age);
  p->clear_age_band();
  p->clear_majority_at_identification();
  p->clear_majority_at_exploitation();
  return e;
}

Event Referral(const std::string& from, uint64_t n, const std::string& to,
               passage::v1::ServiceType service, int64_t respond_by_ms,
               const std::string& parent = "") {
  Event e = ReferralSentEvent(from, ReferralId(n), to, service, ConsentId(1));
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

// Owns the cases of a test and hands them out as the statistics functions take them.
class Population {
 public:
  Population() : agencies_(Directory()) {}

  TestCase& Add() {
    cases_.push_back(std::make_unique<TestCase>(agencies_, cases_.size() + 1));
    return *cases_.back();
  }

  // Opens `count` cases of `sex` aged `age` (FIA, TIP, the test profile otherwise).
  void Open(int count, passage::v1::Sex sex, uint32_t age) {
    for (int i = 0; i < count; ++i) {
      ASSERT_OK(Add().Publish(Opening(sex, age), kT0));
    }
  }

  std::vector<const CaseState*> states() const {
    std::vector<const CaseState*> out;
    for (const auto& c : cases_) {
      out.push_back(&c->state());
    }
    return out;
  }

  const InMemoryAgencyDirectory& agencies() const { return agencies_; }

 private:
  InMemoryAgencyDirectory agencies_;
  std::vector<std::unique_ptr<TestCase>> cases_;
};

// 17 cases: 7 girls of 16, 2 women of 19, 1 boy of 12, 6 men of 25, 1 other of 33.
void OpenKnownCases(Population* p) {
  p->Open(7, passage::v1::SEX_FEMALE, 16);
  p->Open(2, passage::v1::SEX_FEMALE, 19);
  p->Open(1, passage::v1::SEX_MALE, 12);
  p->Open(6, passage::v1::SEX_MALE, 25);
  p->Open(1, passage::v1::SEX_OTHER, 33);
}

StatsTable MustCompute(const Population& p, std::vector<Dimension> by, int k,
                       bool sensitive = false) {
  StatsQuery q;
  q.by = std::move(by);
  q.k = k;
  q.count_sensitive = sensitive;
  Result<StatsTable> t = ComputeTable(p.states(), q, p.agencies());
  EXPECT_OK(t);
  return t.ok() ? *t : StatsTable{};
}

// label(s) joined by '|' -> cell.
std::map<std::string, StatsCell> ByLabel(const std::vector<StatsCell>& cells) {
  std::map<std::string, StatsCell> out;
  for (const StatsCell& c : cells) {
    std::string key;
    for (const std::string& v : c.values) {
      key += key.empty() ? v : "|" + v;
    }
    out[key] = c;
  }
  return out;
}

std::vector<std::string> Labels(const std::vector<StatsCell>& cells) {
  std::vector<std::string> out;
  for (const StatsCell& c : cells) {
    std::string key;
    for (const std::string& v : c.values) {
      key += key.empty() ? v : "|" + v;
    }
    out.push_back(key);
  }
  return out;
}

// The first line of `text` that starts with `prefix`, or "".
std::string LineStarting(const std::string& text, const std::string& prefix) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) {
      end = text.size();
    }
    if (text.compare(at, prefix.size(), prefix) == 0) {
      return text.substr(at, end - at);
    }
    at = end + 1;
  }
  return "";
}

// The words of a line, split on spaces.
std::vector<std::string> Cells(const std::string& line) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < line.size()) {
    const size_t end = std::min(line.find(' ', at), line.size());
    if (end > at) {
      out.push_back(line.substr(at, end - at));
    }
    at = end + 1;
  }
  return out;
}

bool ParsesAsJson(const std::string& json, google::protobuf::Struct* out) {
  return google::protobuf::util::JsonStringToMessage(json, out).ok();
}

TEST(Statistics, CountsBySexAndAgeBandOnKnownCases) {
  Population p;
  OpenKnownCases(&p);

  StatsTable sex = MustCompute(p, {Dimension::kSex}, 1);
  EXPECT_EQ(sex.unit, "cases");
  EXPECT_EQ(Labels(sex.cells), (std::vector<std::string>{"FEMALE", "MALE", "OTHER"}));
  auto s = ByLabel(sex.cells);
  EXPECT_EQ(s["FEMALE"].count, 9);
  EXPECT_EQ(s["MALE"].count, 7);
  EXPECT_EQ(s["OTHER"].count, 1);
  EXPECT_EQ(sex.total.count, 17);
  EXPECT_FALSE(sex.total.suppressed);
  EXPECT_TRUE(sex.margins.empty());

  StatsTable age = MustCompute(p, {Dimension::kAgeBand}, 1);
  EXPECT_EQ(Labels(age.cells), (std::vector<std::string>{"9--17", "18--20", "24--26", "30--38"}));
  auto a = ByLabel(age.cells);
  EXPECT_EQ(a["9--17"].count, 8);
  EXPECT_EQ(a["18--20"].count, 2);
  EXPECT_EQ(a["24--26"].count, 6);
  EXPECT_EQ(a["30--38"].count, 1);

  StatsTable majority = MustCompute(p, {Dimension::kMajority}, 1);
  auto m = ByLabel(majority.cells);
  EXPECT_EQ(m["MINOR"].count, 8);
  EXPECT_EQ(m["ADULT"].count, 9);

  StatsTable both = MustCompute(p, {Dimension::kSex, Dimension::kAgeBand}, 1);
  EXPECT_EQ(Labels(both.cells),
            (std::vector<std::string>{"FEMALE|9--17", "FEMALE|18--20", "MALE|9--17", "MALE|24--26",
                                      "OTHER|30--38"}));
  auto b = ByLabel(both.cells);
  EXPECT_EQ(b["FEMALE|9--17"].count, 7);
  EXPECT_EQ(b["FEMALE|18--20"].count, 2);
  EXPECT_EQ(b["MALE|9--17"].count, 1);
  EXPECT_EQ(b["MALE|24--26"].count, 6);
  ASSERT_EQ(both.margins.size(), 2u);
  EXPECT_EQ(both.margins[0].dimension, Dimension::kSex);
  EXPECT_EQ(ByLabel(both.margins[0].cells)["FEMALE"].count, 9);
  EXPECT_EQ(ByLabel(both.margins[1].cells)["24--26"].count, 6);
}

TEST(Statistics, OtherDimensionsOfTheTestProfile) {
  Population p;
  OpenKnownCases(&p);
  ASSERT_OK(p.Add().Publish(Opening(passage::v1::SEX_MALE, 30, kNgo), kT0));

  // Every case has two forms: the table counts each case twice and says so.
  StatsTable forms = MustCompute(p, {Dimension::kForm}, 1);
  EXPECT_TRUE(forms.multi_valued);
  auto f = ByLabel(forms.cells);
  EXPECT_EQ(f["FORCED_LABOUR"].count, 18);
  EXPECT_EQ(f["SEXUAL_EXPLOITATION"].count, 18);
  EXPECT_EQ(forms.total.count, 18);
  EXPECT_NE(RenderTable(forms).find("do not sum to the total"), std::string::npos);

  auto agency = ByLabel(MustCompute(p, {Dimension::kAgencyType}, 1).cells);
  EXPECT_EQ(agency["LAW_ENFORCEMENT"].count, 17);
  EXPECT_EQ(agency["NGO"].count, 1);
  auto citizenship = ByLabel(MustCompute(p, {Dimension::kCitizenship}, 1).cells);
  EXPECT_EQ(citizenship["PK"].count, 18);
  auto country = ByLabel(MustCompute(p, {Dimension::kCountry}, 1).cells);
  EXPECT_EQ(country["AE"].count, 18);
  auto crime = ByLabel(MustCompute(p, {Dimension::kCrimeType}, 1).cells);
  EXPECT_EQ(crime["TIP"].count, 18);
  auto year = ByLabel(MustCompute(p, {Dimension::kYear}, 1).cells);
  EXPECT_EQ(year["2024"].count, 18);
  auto stage = ByLabel(MustCompute(p, {Dimension::kStage}, 1).cells);
  EXPECT_EQ(stage["IDENTIFICATION"].count, 18);
  auto channel = ByLabel(MustCompute(p, {Dimension::kChannel}, 1).cells);
  EXPECT_EQ(channel["POLICE_OPERATION"].count, 18);
}

// A case whose source recorded no year (CTDC rows without yearOfRegistration) is counted as
// "unknown", not in the year it was imported.
TEST(Statistics, AnUnknownYearOfRegistrationIsCountedAsUnknown) {
  Population p;
  OpenKnownCases(&p);
  auto unknown = Opening(passage::v1::SEX_MALE, 30, kNgo);
  unknown.mutable_case_opened()->mutable_profile()->clear_year_of_registration();
  unknown.mutable_case_opened()->mutable_profile()->set_year_of_registration_unknown(true);
  ASSERT_OK(p.Add().Publish(unknown, kT0));
  auto year = ByLabel(MustCompute(p, {Dimension::kYear}, 1).cells);
  EXPECT_EQ(year["2024"].count, 17);
  EXPECT_EQ(year["unknown"].count, 1);
}

TEST(Statistics, SmallCellsAreSuppressedWithOneComplementaryCell) {
  Population p;
  OpenKnownCases(&p);

  // FEMALE 9, MALE 7, OTHER 1: OTHER is below k; MALE, the next smallest, is hidden with it.
  StatsTable t = MustCompute(p, {Dimension::kSex}, 5);
  auto s = ByLabel(t.cells);
  EXPECT_FALSE(s["FEMALE"].suppressed);
  EXPECT_EQ(s["FEMALE"].count, 9);
  EXPECT_TRUE(s["OTHER"].suppressed);
  EXPECT_TRUE(s["MALE"].suppressed);
  EXPECT_EQ(s["OTHER"].count, 0) << "a suppressed cell never carries its number";
  EXPECT_EQ(s["MALE"].count, 0);
  EXPECT_FALSE(t.total.suppressed);
  EXPECT_EQ(t.total.count, 17);

  // The total minus the shown cells leaves 8 for two hidden cells: neither can be worked out.
  int64_t shown = 0;
  int hidden = 0;
  for (const StatsCell& c : t.cells) {
    shown += c.count;
    hidden += c.suppressed ? 1 : 0;
  }
  EXPECT_EQ(t.total.count - shown, 8);
  EXPECT_EQ(hidden, 2);

  const std::string text = RenderTable(t);
  EXPECT_EQ(Cells(LineStarting(text, "FEMALE ")), (std::vector<std::string>{"FEMALE", "9"}))
      << text;
  EXPECT_EQ(Cells(LineStarting(text, "MALE ")), (std::vector<std::string>{"MALE", "x"})) << text;
  EXPECT_EQ(Cells(LineStarting(text, "OTHER ")), (std::vector<std::string>{"OTHER", "<5"})) << text;
  EXPECT_EQ(Cells(LineStarting(text, "total ")), (std::vector<std::string>{"total", "17"})) << text;
  EXPECT_EQ(text.find(" 7\n"), std::string::npos) << text;

  google::protobuf::Struct json;
  ASSERT_TRUE(ParsesAsJson(ToJson(t), &json)) << ToJson(t);
  EXPECT_EQ(json.fields().at("total").struct_value().fields().at("count").number_value(), 17);
  const auto& cells = json.fields().at("cells").list_value();
  ASSERT_EQ(cells.values_size(), 3);
  const auto& other = cells.values(2).struct_value().fields();
  EXPECT_EQ(other.at("values").struct_value().fields().at("sex").string_value(), "OTHER");
  EXPECT_TRUE(other.at("suppressed").bool_value());
  EXPECT_TRUE(other.at("count").has_null_value());
}

TEST(Statistics, NoSuppressionWhenEveryCellReachesK) {
  Population p;
  p.Open(5, passage::v1::SEX_FEMALE, 16);
  p.Open(6, passage::v1::SEX_MALE, 16);
  StatsTable t = MustCompute(p, {Dimension::kSex}, 5);
  for (const StatsCell& c : t.cells) {
    EXPECT_FALSE(c.suppressed);
  }
  EXPECT_EQ(RenderTable(t).find("<5"), std::string::npos);
}

// A node with no case yet (a new agency, a fresh NRM) asked for a table by any dimension: an empty
// table, not a division by zero that kills the node (found by the small-cell policy test).
TEST(Statistics, NoCasesGiveAnEmptyTableForEveryDimension) {
  Population p;
  for (Dimension d : {Dimension::kSex, Dimension::kAgeBand, Dimension::kCitizenship,
                      Dimension::kForm, Dimension::kOutcome, Dimension::kYear}) {
    StatsTable t = MustCompute(p, {d}, 5);
    EXPECT_EQ(t.total.count, 0);
    EXPECT_TRUE(t.cells.empty());
    EXPECT_FALSE(RenderTable(t).empty());
  }
  StatsTable t = MustCompute(p, {Dimension::kSex, Dimension::kAgeBand}, 1);
  EXPECT_TRUE(t.cells.empty());
}

TEST(Statistics, TotalBelowKIsSuppressed) {
  Population p;
  p.Open(3, passage::v1::SEX_FEMALE, 16);
  StatsTable t = MustCompute(p, {Dimension::kSex}, 5);
  EXPECT_TRUE(t.total.suppressed);
  EXPECT_EQ(t.total.count, 0);
  EXPECT_TRUE(t.cells.empty()) << "which values occur would give the counts away";
}

TEST(Statistics, CrossTabThatNoHidingProtectsIsWithheld) {
  Population p;
  OpenKnownCases(&p);
  StatsTable t = MustCompute(p, {Dimension::kSex, Dimension::kAgeBand}, 5);

  //            9--17  18--20  24--26  30--38  total
  //   FEMALE       7       2       0       0      9
  //   MALE         1       0       6       0      x
  //   OTHER        0       0       0       1     <5
  // OTHER|30--38 is alone in its row and its column, whose totals are "<5" as well: whatever
  // else is hidden, the marks give it away (the one-line rule of old showed MALE|24--26 = 6 and so
  // MALE = 7, MALE|9--17 = 1 and OTHER|30--38 = 1). The table gives its total only.
  EXPECT_TRUE(t.withheld);
  EXPECT_TRUE(t.cells.empty());
  EXPECT_TRUE(t.margins.empty());
  EXPECT_EQ(t.total.count, 17);
  const std::string text = RenderTable(t);
  EXPECT_NE(text.find("cells withheld"), std::string::npos) << text;
  google::protobuf::Struct json;
  ASSERT_TRUE(ParsesAsJson(ToJson(t), &json)) << ToJson(t);
  EXPECT_TRUE(json.fields().at("withheld").bool_value());

  // The one-dimensional tables are published on their own, protected.
  auto sex = ByLabel(MustCompute(p, {Dimension::kSex}, 5).cells);
  EXPECT_EQ(sex["FEMALE"].count, 9);
  EXPECT_TRUE(sex["MALE"].secondary);
  EXPECT_TRUE(sex["OTHER"].suppressed);
  EXPECT_FALSE(sex["OTHER"].secondary);
}

TEST(Statistics, SensitiveAttributesNeedTheFlagAndAStatisticsConsent) {
  Population p;
  auto open_disabled = [&](bool consent, bool withdraw) {
    TestCase& c = p.Add();
    Event e = Opening(passage::v1::SEX_FEMALE, 30);
    e.mutable_case_opened()->mutable_profile()->set_disability(true);
    ASSERT_OK(c.Publish(e, kT0));
    if (consent) {
      ASSERT_OK(c.Publish(
          ConsentGivenEvent(kFia, ConsentId(9), passage::v1::CONSENT_SCOPE_STATISTICS), kT0 + 1));
    }
    if (withdraw) {
      ASSERT_OK(c.Publish(ConsentWithdrawnEvent(kFia, ConsentId(9)), kT0 + 2));
    }
  };
  for (int i = 0; i < 3; ++i) {
    open_disabled(/*consent=*/true, /*withdraw=*/false);
  }
  open_disabled(false, false);
  open_disabled(false, false);
  open_disabled(true, true);

  StatsQuery q;
  q.by = {Dimension::kDisability};
  q.k = 1;
  Result<StatsTable> refused = ComputeTable(p.states(), q, p.agencies());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().field(), "by[0]");

  StatsTable t = MustCompute(p, {Dimension::kDisability}, 1, /*sensitive=*/true);
  EXPECT_EQ(Labels(t.cells), (std::vector<std::string>{"yes", "withheld"}));
  auto d = ByLabel(t.cells);
  EXPECT_EQ(d["yes"].count, 3) << "only the cases with a STATISTICS consent in force";
  EXPECT_EQ(d["withheld"].count, 3);

  // minority_group is not recorded in these cases: "unknown" where consent allows reading it.
  auto m = ByLabel(MustCompute(p, {Dimension::kMinorityGroup}, 1, true).cells);
  EXPECT_EQ(m["unknown"].count, 3);
  EXPECT_EQ(m["withheld"].count, 3);
}

TEST(Statistics, RefusesBadQueries) {
  Population p;
  p.Open(1, passage::v1::SEX_FEMALE, 16);
  StatsQuery q;
  q.by = {Dimension::kSex, Dimension::kSex};
  EXPECT_EQ(ComputeTable(p.states(), q, p.agencies()).status().field(), "by[1]");
  q.by = {Dimension::kSex};
  q.k = 0;
  EXPECT_EQ(ComputeTable(p.states(), q, p.agencies()).status().field(), "k");
}

TEST(Statistics, DimensionNamesRoundTrip) {
  for (Dimension d : AllDimensions()) {
    Result<Dimension> parsed = ParseDimension(DimensionName(d));
    ASSERT_OK(parsed);
    EXPECT_EQ(*parsed, d);
  }
  ASSERT_OK(ParseDimension("Country-Of-Exploitation"));
  EXPECT_EQ(*ParseDimension("Country-Of-Exploitation"), Dimension::kCountry);
  EXPECT_EQ(*ParseDimension("referral_outcome"), Dimension::kOutcome);
  EXPECT_FALSE(ParseDimension("name").ok());
}

// Three cases, seven referrals, with known answers (times in minutes after kT0):
//   A: R1 shelter  sent 2, received 3, accepted 62 (60 min), in progress, completed
//      R2 legal    sent 5, received 6, rejected 20 (capacity full)
//   B: R3 shelter  sent 2, received 3, accepted 32 (30 min)
//      R4 legal    sent 5, respond by 60, still SENT             -> overdue at kT0 + 5 h
//   C: R5 shelter  sent 2, received 3, accepted 122 (120 min)
//      R6 legal    sent 5, received 6, expired 66 (router)       -> overdue
//      R7 legal-b  parent R6, sent 67, received 68, respond by 10 h
void OpenReferralCases(Population* p) {
  const int64_t later = kT0 + 10 * kHour;
  auto open = [&](TestCase& c) {
    ASSERT_OK(c.Publish(Opening(passage::v1::SEX_FEMALE, 16), kT0));
    ASSERT_OK(c.Publish(ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES),
                        kT0 + kMinute));
  };
  TestCase& a = p->Add();
  open(a);
  ASSERT_OK(a.Publish(Referral(kFia, 1, kShelter, passage::v1::SERVICE_TYPE_SHELTER, later),
                      kT0 + 2 * kMinute));
  ASSERT_OK(a.Publish(Received(kShelter, 1), kT0 + 3 * kMinute));
  ASSERT_OK(
      a.Publish(Move(kShelter, 1, passage::v1::REFERRAL_STATUS_ACCEPTED), kT0 + 62 * kMinute));
  ASSERT_OK(
      a.Publish(Move(kShelter, 1, passage::v1::REFERRAL_STATUS_IN_PROGRESS), kT0 + 70 * kMinute));
  ASSERT_OK(
      a.Publish(Move(kShelter, 1, passage::v1::REFERRAL_STATUS_COMPLETED), kT0 + 200 * kMinute));
  ASSERT_OK(a.Publish(Referral(kFia, 2, kLegalAid, passage::v1::SERVICE_TYPE_LEGAL_AID, later),
                      kT0 + 5 * kMinute));
  ASSERT_OK(a.Publish(Received(kLegalAid, 2), kT0 + 6 * kMinute));
  ASSERT_OK(
      a.Publish(Move(kLegalAid, 2, passage::v1::REFERRAL_STATUS_REJECTED), kT0 + 20 * kMinute));

  TestCase& b = p->Add();
  open(b);
  ASSERT_OK(b.Publish(Referral(kFia, 3, kShelter, passage::v1::SERVICE_TYPE_SHELTER, later),
                      kT0 + 2 * kMinute));
  ASSERT_OK(b.Publish(Received(kShelter, 3), kT0 + 3 * kMinute));
  ASSERT_OK(
      b.Publish(Move(kShelter, 3, passage::v1::REFERRAL_STATUS_ACCEPTED), kT0 + 32 * kMinute));
  ASSERT_OK(b.Publish(
      Referral(kFia, 4, kLegalAid, passage::v1::SERVICE_TYPE_LEGAL_AID, kT0 + 60 * kMinute),
      kT0 + 5 * kMinute));

  TestCase& c = p->Add();
  open(c);
  ASSERT_OK(c.Publish(Referral(kFia, 5, kShelter, passage::v1::SERVICE_TYPE_SHELTER, later),
                      kT0 + 2 * kMinute));
  ASSERT_OK(c.Publish(Received(kShelter, 5), kT0 + 3 * kMinute));
  ASSERT_OK(
      c.Publish(Move(kShelter, 5, passage::v1::REFERRAL_STATUS_ACCEPTED), kT0 + 122 * kMinute));
  ASSERT_OK(c.Publish(
      Referral(kFia, 6, kLegalAid, passage::v1::SERVICE_TYPE_LEGAL_AID, kT0 + 65 * kMinute),
      kT0 + 5 * kMinute));
  ASSERT_OK(c.Publish(Received(kLegalAid, 6), kT0 + 6 * kMinute));
  ASSERT_OK(c.Publish(TransitionEvent(kRouter, ReferralId(6), passage::v1::REFERRAL_STATUS_EXPIRED,
                                      passage::v1::ACTOR_ROLE_SYSTEM),
                      kT0 + 66 * kMinute));
  ASSERT_OK(c.Publish(
      Referral(kFia, 7, kLegalAidB, passage::v1::SERVICE_TYPE_LEGAL_AID, later, ReferralId(6)),
      kT0 + 67 * kMinute));
  ASSERT_OK(c.Publish(Received(kLegalAidB, 7), kT0 + 68 * kMinute));
}

TEST(ReferralIndicators, KnownAnswersOnAHandMadeSet) {
  Population p;
  OpenReferralCases(&p);
  const ReferralIndicators ind = ComputeIndicators(p.states(), kT0 + 5 * kHour);
  EXPECT_EQ(ind.referrals, 7);
  EXPECT_EQ(ind.accepted, 3);
  EXPECT_EQ(ind.rejected, 1);
  ASSERT_TRUE(ind.acceptance_rate.has_value());
  EXPECT_DOUBLE_EQ(*ind.acceptance_rate, 0.75);
  EXPECT_EQ(ind.timed_acceptances, 3);
  ASSERT_TRUE(ind.median_ms_to_acceptance.has_value());
  EXPECT_EQ(*ind.median_ms_to_acceptance, 60 * kMinute);
  ASSERT_TRUE(ind.p90_ms_to_acceptance.has_value());
  EXPECT_EQ(*ind.p90_ms_to_acceptance, 108 * kMinute);  // 60 + 0.8 * (120 - 60)
  EXPECT_EQ(ind.overdue, 2);                            // R4 past respond-by, R6 expired
  EXPECT_EQ(ind.terminal, 3);
  EXPECT_EQ(ind.completed, 1);
  ASSERT_TRUE(ind.share_completed.has_value());
  EXPECT_DOUBLE_EQ(*ind.share_completed, 1.0 / 3.0);
  ASSERT_EQ(ind.rejected_by_reason.size(), 1u);
  EXPECT_EQ(ind.rejected_by_reason[0].first, passage::v1::REJECT_REASON_CAPACITY_FULL);
  EXPECT_EQ(ind.rejected_by_reason[0].second, 1);
  EXPECT_EQ(ind.escalations, 1);

  // Before R4's respond-by passed, only the expired referral is overdue.
  EXPECT_EQ(ComputeIndicators(p.states(), kT0 + 30 * kMinute).overdue, 1);

  const std::string text = RenderIndicators(ind);
  EXPECT_NE(text.find("75.0%"), std::string::npos) << text;
  EXPECT_NE(text.find("1h 00m"), std::string::npos) << text;
  google::protobuf::Struct json;
  ASSERT_TRUE(ParsesAsJson(IndicatorsToJson(ind), &json)) << IndicatorsToJson(ind);
  EXPECT_EQ(json.fields().at("overdue").number_value(), 2);
  EXPECT_EQ(json.fields().at("acceptance_rate").number_value(), 0.75);
  EXPECT_EQ(json.fields().at("median_ms_to_acceptance").number_value(), 3'600'000);
  EXPECT_EQ(json.fields()
                .at("rejected_by_reason")
                .struct_value()
                .fields()
                .at("CAPACITY_FULL")
                .number_value(),
            1);
}

TEST(ReferralIndicators, EmptySetHasNoRates) {
  const ReferralIndicators ind = ComputeIndicators({}, kT0);
  EXPECT_EQ(ind.referrals, 0);
  EXPECT_FALSE(ind.acceptance_rate.has_value());
  EXPECT_FALSE(ind.median_ms_to_acceptance.has_value());
  EXPECT_FALSE(ind.share_completed.has_value());
  google::protobuf::Struct json;
  ASSERT_TRUE(ParsesAsJson(IndicatorsToJson(ind), &json)) << IndicatorsToJson(ind);
  EXPECT_TRUE(json.fields().at("acceptance_rate").has_null_value());
}

// Issue #16 item 10: outcome columns are final outcomes (a referral merely RECEIVED or ACCEPTED
// has none yet: OPEN).
TEST(Statistics, OutcomeCountsReferralsByTheirFinalOutcome) {
  Population p;
  OpenReferralCases(&p);
  StatsTable t = MustCompute(p, {Dimension::kOutcome}, 1);
  EXPECT_EQ(t.unit, "referrals");
  EXPECT_EQ(t.total.count, 7);
  EXPECT_EQ(Labels(t.cells),
            (std::vector<std::string>{"REJECTED", "COMPLETED", "EXPIRED", "OPEN"}));
  auto o = ByLabel(t.cells);
  EXPECT_EQ(o["COMPLETED"].count, 1);
  EXPECT_EQ(o["OPEN"].count, 4);  // SENT, RECEIVED and two ACCEPTED

  // Stage: a case with a live unaccepted referral and an accepted shelter one is in both.
  auto stages = ByLabel(MustCompute(p, {Dimension::kStage}, 1).cells);
  EXPECT_EQ(stages["PROTECTION"].count, 3);
  EXPECT_EQ(stages["REFERRAL"].count, 2);
}

// ---- the suppression guarantee (core/statistics.h), checked from the published table ----

namespace suppression {

using testing::FeasibleRanges;
using testing::SuppressedRange;

// A two-dimensional table counted from a grid of counts: rows[i] x columns[j] holds grid[i][j]
// units.
StatsTable FromGrid(const std::vector<std::string>& rows, const std::vector<std::string>& columns,
                    const std::vector<std::vector<int>>& grid, int k) {
  std::vector<std::vector<std::vector<StatsValue>>> units;
  for (size_t i = 0; i < grid.size(); ++i) {
    for (size_t j = 0; j < grid[i].size(); ++j) {
      for (int u = 0; u < grid[i][j]; ++u) {
        units.push_back({{StatsValue{static_cast<int64_t>(i), rows[i]}},
                         {StatsValue{static_cast<int64_t>(j), columns[j]}}});
      }
    }
  }
  auto t = CountUnits({"sex", "age_band"}, units, k, "cases");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : StatsTable{};
}

// The suppressed numbers a reader can pin to one value; empty when the guarantee holds.
std::string Pinned(const StatsTable& t, bool exact_marks) {
  std::string out;
  for (const SuppressedRange& r : FeasibleRanges(t, exact_marks)) {
    if (r.high <= r.low) {
      out += r.where + " = " + std::to_string(r.low) + "; ";
    }
  }
  return out;
}

int SecondaryCount(const StatsTable& t) {
  int n = t.total.secondary ? 1 : 0;
  for (const StatsCell& c : t.cells) n += c.secondary ? 1 : 0;
  for (const StatsMargin& m : t.margins) {
    for (const StatsCell& c : m.cells) n += c.secondary ? 1 : 0;
  }
  return n;
}

// Issue #16 item 16: FEMALE {10, 10, 20} / MALE {2, 30, 10} at k = 5. MALE|9--17 = 2 is primary;
// the cells hidden with it must leave it (and themselves) more than one possible value.
TEST(Suppression, ComplementaryCellsLeaveEverySuppressedCellOpen) {
  const StatsTable t =
      FromGrid({"FEMALE", "MALE"}, {"9--17", "18--20", "24--26"}, {{10, 10, 20}, {2, 30, 10}}, 5);
  auto c = ByLabel(t.cells);
  EXPECT_TRUE(c["MALE|9--17"].suppressed);
  EXPECT_FALSE(c["MALE|9--17"].secondary);
  EXPECT_EQ(Pinned(t, true), "") << RenderTable(t);
  for (const SuppressedRange& r : FeasibleRanges(t, true)) {
    if (r.where == "cell MALE|9--17") {
      EXPECT_EQ(r.low, 1) << RenderTable(t);
      EXPECT_EQ(r.high, 4) << RenderTable(t);
    }
  }
}

// Issue #16 item 8: hiding zero cells with a small cell of another row left a row whose shown
// cells already made its total (0 + 0 + 5 + 6 + 5 + 18 = 34), so every hidden cell of it was 0.
TEST(Suppression, NoRowOfHiddenZerosThatItsTotalGivesAway) {
  const StatsTable t =
      FromGrid({"FEMALE", "MALE"},
               {"0--8", "9--17", "18--20", "21--23", "24--26", "27--29", "30--38", "48+"},
               {{3, 4, 2, 1, 9, 12, 7, 20}, {0, 0, 0, 0, 5, 6, 5, 18}}, 5);
  EXPECT_EQ(Pinned(t, true), "") << RenderTable(t);
  EXPECT_EQ(Pinned(t, false), "") << RenderTable(t);
}

// Issue #16 item 9: a cell hidden only to protect another is not shown as "<5".
TEST(Suppression, SecondaryCellsHaveTheirOwnMark) {
  const StatsTable t =
      FromGrid({"FEMALE", "MALE"}, {"9--17", "18--20", "24--26"}, {{10, 10, 20}, {2, 30, 10}}, 5);
  int secondary = 0;
  for (const StatsCell& c : t.cells) {
    if (c.secondary) {
      ++secondary;
      EXPECT_TRUE(c.suppressed);
      EXPECT_EQ(SuppressionMark(c, 5), "x");
    }
  }
  EXPECT_GE(secondary, 1);
  const std::string text = RenderTable(t);
  EXPECT_EQ(Cells(LineStarting(text, "MALE ")).at(1), "<5") << text;
  EXPECT_NE(text.find("\n<5: suppressed, a count from 1 to 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nx: hidden so that the totals cannot reveal a suppressed count (0 or at "
                      "least 5)\n"),
            std::string::npos)
      << text;
  google::protobuf::Struct json;
  ASSERT_TRUE(ParsesAsJson(ToJson(t), &json)) << ToJson(t);
  std::map<std::string, int> kinds;
  for (const auto& v : json.fields().at("cells").list_value().values()) {
    const auto& f = v.struct_value().fields();
    kinds[f.at("suppression").has_null_value() ? "shown" : f.at("suppression").string_value()]++;
  }
  EXPECT_EQ(kinds["primary"], 1) << ToJson(t);
  EXPECT_EQ(kinds["secondary"], secondary) << ToJson(t);
}

// The demo test reads its printed table back with ParseCrossTab: the same table as RenderTable's.
TEST(Suppression, TheRenderedCrossTabReadsBackAsTheTable) {
  const StatsTable t = FromGrid({"FEMALE", "MALE"}, {"9--17", "18--20", "24--26"},
                                {{10, 10, 20}, {2, 30, 10}}, 5);
  const auto back = testing::ParseCrossTab("== title\n" + RenderTable(t), 5);
  ASSERT_TRUE(back.has_value()) << RenderTable(t);
  EXPECT_EQ(RenderTable(*back).substr(RenderTable(*back).find('\n')),
            RenderTable(t).substr(RenderTable(t).find('\n')));
  EXPECT_EQ(Pinned(*back, true), "");
}

TEST(Suppression, KOfTwoIsRefused) {
  EXPECT_FALSE(CountUnits({"sex"}, {}, 2, "cases").ok());
  EXPECT_TRUE(CountUnits({"sex"}, {}, 3, "cases").ok());
  EXPECT_TRUE(CountUnits({"sex"}, {}, 1, "cases").ok());
}

// Issue #16 items 8 and 16: over many random tables (seeded, so every run checks the same ones),
// of one and two dimensions, various k, with many zeros and small cells, no suppressed number can
// be narrowed to one value from the published table and its marks.
TEST(Suppression, NoSuppressedNumberOfARandomTableCanBeWorkedOut) {
  std::mt19937 rng(16);
  const std::vector<std::string> labels = {"a", "b", "c", "d", "e", "f", "g"};
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  constexpr int kTables = 3000;
  int exact = 0;
  int withheld = 0;
  int suppressed_tables = 0;
  for (int n = 0; n < kTables; ++n) {
    const int k = std::vector<int>{3, 4, 5, 5, 5, 10}[static_cast<size_t>(uniform(0, 5))];
    const int rows = uniform(1, 5);
    const int cols = n % 5 == 0 ? 1 : uniform(2, 6);
    const int zeros = uniform(0, 60);  // percent
    const int small = uniform(0, 60);
    std::vector<std::vector<int>> grid(static_cast<size_t>(rows),
                                       std::vector<int>(static_cast<size_t>(cols), 0));
    for (auto& row : grid) {
      for (int& v : row) {
        const int p = uniform(0, 99);
        v = p < zeros ? 0 : p < zeros + small ? uniform(1, k - 1) : uniform(k, 4 * k);
      }
    }
    StatsTable t;
    if (cols == 1) {
      // One dimension: the rows' values as one column.
      std::vector<std::vector<std::vector<StatsValue>>> units;
      for (int i = 0; i < rows; ++i) {
        for (int u = 0; u < grid[i][0]; ++u) {
          units.push_back({{StatsValue{i, labels[static_cast<size_t>(i)]}}});
        }
      }
      auto one = CountUnits({"sex"}, units, k, "cases");
      ASSERT_TRUE(one.ok());
      t = *one;
    } else {
      t = FromGrid(labels, labels, grid, k);
    }
    bool any = t.total.suppressed;
    for (const StatsCell& c : t.cells) any = any || c.suppressed;
    suppressed_tables += any ? 1 : 0;
    const bool exact_marks = SecondaryCount(t) <= 6;
    exact += exact_marks ? 1 : 0;
    withheld += t.withheld ? 1 : 0;
    const std::string pinned = Pinned(t, exact_marks);
    ASSERT_EQ(pinned, "") << "table " << n << ", k = " << k << ":\n" << RenderTable(t);
  }
  EXPECT_GT(suppressed_tables, kTables / 2);
  EXPECT_GT(exact, kTables / 2);
  std::printf("%d tables, %d with suppression, %d checked exactly, %d withheld\n", kTables,
              suppressed_tables, exact, withheld);
  // 298 of 3000: these grids are far denser in small cells than real tables.
  EXPECT_LT(withheld, kTables / 5);
}

}  // namespace suppression

// Issue #16 item 10: a referral counts under the type of the agency it was sent to (whose
// decision its outcome is), not under the sender's.
TEST(Statistics, ReferralsCountUnderTheRecipientsAgencyType) {
  Population p;
  OpenReferralCases(&p);
  StatsTable t = MustCompute(p, {Dimension::kAgencyType, Dimension::kOutcome}, 1);
  auto c = ByLabel(t.cells);
  EXPECT_EQ(c["SHELTER|COMPLETED"].count, 1);
  EXPECT_EQ(c["SHELTER|OPEN"].count, 2);
  EXPECT_EQ(c["LEGAL_AID|REJECTED"].count, 1);
  EXPECT_EQ(c["LEGAL_AID|EXPIRED"].count, 1);
  EXPECT_EQ(c["LEGAL_AID|OPEN"].count, 2);
  EXPECT_EQ(c.count("LAW_ENFORCEMENT|OPEN"), 0u) << "the sender's type";
  // Cases still count under their owner.
  auto owners = ByLabel(MustCompute(p, {Dimension::kAgencyType}, 1).cells);
  EXPECT_EQ(owners["LAW_ENFORCEMENT"].count, 3);
}

}  // namespace
}  // namespace passage::core
