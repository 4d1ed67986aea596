#include "core/routing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/case_projection.h"
#include "core/codes.h"
#include "core/text_proto.h"
#include "core/validate.h"
#include "tests/core/test_events.h"
#include "tests/testing/status_matchers.h"

namespace passage::core {
namespace {

using namespace passage::core::testing;  // NOLINT(google-build-using-namespace)
using passage::v1::Agency;
using passage::v1::CaseState;
using passage::v1::Event;
using passage::v1::Profile;
using passage::v1::Referral;
using passage::v1::RoutingRule;
using passage::v1::RuleSet;

// Ids of the sample registry (deploy/config/registry.textproto).
constexpr char kFia[] = "fia-ahtc-karachi";
constexpr char kPolice[] = "sindh-police";
constexpr char kIom[] = "iom-pakistan";
constexpr char kDastak[] = "dastak-shelter";
constexpr char kPanah[] = "panah-shelter";
constexpr char kCpu[] = "sindh-cpu";
constexpr char kLegalAid[] = "lhrla-legal-aid";
constexpr char kProsecution[] = "sindh-prosecution";
constexpr char kRouter[] = "nrm-router";
constexpr char kOversight[] = "nrm-oversight";

constexpr int64_t kMinuteMs = 60'000;

std::string ReadSourceFile(const std::string& relative) {
  std::ifstream in(std::string(PASSAGE_SOURCE_DIR) + "/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

passage::v1::AgencyRegistry SampleRegistry() {
  passage::v1::AgencyRegistry registry;
  const std::string path = "deploy/config/registry.textproto";
  Status parsed = ParseConfigText(ReadSourceFile(path), path, &registry);
  EXPECT_OK(parsed);
  return registry;
}

RuleSet SampleRules() {
  RuleSet rules;
  const std::string path = "deploy/config/rules.textproto";
  Status parsed = ParseConfigText(ReadSourceFile(path), path, &rules);
  EXPECT_OK(parsed);
  return rules;
}

AgencyRoster SampleRoster() {
  Result<AgencyRoster> roster = AgencyRoster::FromRegistry(SampleRegistry());
  EXPECT_OK(roster);
  return roster.ok() ? std::move(roster).value() : AgencyRoster();
}

// Plays the broker for one case: every event goes through ValidateEvent, CaseProjection::Check and
// Apply, exactly as the broker would take it.
class Nrm {
 public:
  explicit Nrm(AgencyRoster agencies) : agencies_(std::move(agencies)) {
    for (const Agency& a : agencies_.agencies()) {
      if (a.system_principal()) {
        router_ = a.id();
      }
    }
  }

  Status Publish(Event e) {
    e.set_event_id(EventId(next_event_++));
    e.set_occurred_at_ms(clock_ms_);
    RETURN_IF_ERROR(ValidateEvent(e, clock_ms_));
    RETURN_IF_ERROR(projection_.Check(e, agencies_));
    passage::v1::Envelope env;
    env.set_global_seq(++global_seq_);
    env.set_case_seq(projection_.state().version() + 1);
    env.set_producer(e.actor_agency());
    env.set_case_id(e.case_id());
    env.set_event_id(e.event_id());
    env.set_event(e.SerializeAsString());
    projection_.Apply(env, e);
    clock_ms_ += 1000;
    return Status::Ok();
  }

  // The router sends `planned` as the system principal, on the owner's behalf.
  Status RouterSends(const PlannedReferral& planned) {
    Event e = BaseEvent(router_, passage::v1::ACTOR_ROLE_SYSTEM);
    e.set_actor_user("");
    *e.mutable_referral_sent()->mutable_referral() = planned.referral;
    return Publish(e);
  }

  // Publishes every planned referral of `plan` as the router.
  void SendAll(const PlanResult& plan) {
    for (const PlannedReferral& p : plan.planned) {
      ASSERT_OK(RouterSends(p)) << "rule " << p.rule;
    }
  }

  Status Move(const std::string& actor, const std::string& referral_id,
              passage::v1::ReferralStatus to) {
    passage::v1::ActorRole role = passage::v1::ACTOR_ROLE_CASE_WORKER;
    if (to == passage::v1::REFERRAL_STATUS_RECEIVED || actor == router_) {
      role = passage::v1::ACTOR_ROLE_SYSTEM;
    }
    return Publish(TransitionEvent(actor, referral_id, to, role));
  }

  // Received and then `to` (ACCEPTED or REJECTED) by the recipient.
  void Answer(const std::string& referral_id, passage::v1::ReferralStatus to) {
    const Referral* r = FindReferral(state(), referral_id);
    ASSERT_NE(r, nullptr);
    const std::string recipient = r->to_agency();
    ASSERT_OK(Move(recipient, referral_id, passage::v1::REFERRAL_STATUS_RECEIVED));
    ASSERT_OK(Move(recipient, referral_id, to));
  }

  void OpenCase(const std::string& owner, const Profile& profile, passage::v1::CrimeType crime,
                const std::vector<passage::v1::ConsentScope>& consents) {
    Event open = CaseOpenedEvent(owner);
    open.mutable_case_opened()->set_crime_type(crime);
    *open.mutable_case_opened()->mutable_profile() = profile;
    ASSERT_OK(Publish(open));
    for (passage::v1::ConsentScope scope : consents) {
      ASSERT_OK(Publish(ConsentGivenEvent(owner, ConsentId(++next_consent_), scope)));
    }
  }

  PlanResult Plan(const RuleSet& rules, const AgencyLoad& load = {}) const {
    return PlanReferrals(state(), rules, agencies_, load, clock_ms_);
  }

  const CaseState& state() const { return projection_.state(); }
  const AgencyRoster& agencies() const { return agencies_; }
  const std::string& router() const { return router_; }
  int64_t now() const { return clock_ms_; }
  void Advance(int64_t ms) { clock_ms_ += ms; }

 private:
  AgencyRoster agencies_;
  std::string router_;  // the system principal
  CaseProjection projection_;
  uint64_t next_event_ = 1;
  uint64_t next_consent_ = 0;
  uint64_t global_seq_ = 100;
  int64_t clock_ms_ = kTestNowMs;
};

Profile Girl() { return ValidProfile(); }  // 16, female, forced labour + sexual exploitation, PK-SD

Profile Woman() {
  Profile p = ValidProfile();
  p.set_age_years(24);
  p.set_age_band(passage::v1::AGE_BAND_24_26);
  p.set_majority_at_identification(passage::v1::MAJORITY_STATUS_ADULT);
  p.set_majority_at_exploitation(passage::v1::MAJORITY_STATUS_ADULT);
  p.clear_exploitation_forms();
  p.add_exploitation_forms(passage::v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION);
  return p;
}

Profile Man() {
  Profile p = Woman();
  p.set_sex(passage::v1::SEX_MALE);
  p.set_age_years(30);
  p.set_age_band(passage::v1::AGE_BAND_30_38);
  p.clear_exploitation_forms();
  p.add_exploitation_forms(passage::v1::EXPLOITATION_FORM_FORCED_LABOUR);
  p.set_country_of_exploitation("IR");
  return p;
}

std::map<std::string, std::string> RulesToRecipients(const PlanResult& plan) {
  std::map<std::string, std::string> out;
  for (const PlannedReferral& p : plan.planned) {
    out[p.rule] = p.referral.to_agency();
  }
  return out;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) {
    out += line + "\n";
  }
  return out;
}

// ---- The sample configuration ----

TEST(RoutingSamples, RegistryAndRulesParseAndValidate) {
  const passage::v1::AgencyRegistry registry = SampleRegistry();
  Result<AgencyRoster> roster = AgencyRoster::FromRegistry(registry);
  ASSERT_OK(roster);
  std::vector<std::string> ids;
  for (const Agency& a : roster->agencies()) {
    ids.push_back(a.id());
    EXPECT_TRUE(a.transport_public_key().empty()) << a.id();
  }
  EXPECT_EQ(ids, (std::vector<std::string>{kDastak, kFia, kIom, kLegalAid, kOversight, kRouter,
                                           kPanah, kCpu, kPolice, kProsecution}));
  const Agency* fia = roster->Find(kFia);
  ASSERT_NE(fia, nullptr);
  EXPECT_TRUE(fia->first_responder());
  EXPECT_EQ(fia->type(), passage::v1::AGENCY_TYPE_LAW_ENFORCEMENT);
  EXPECT_EQ(fia->region(), "PK-SD");
  EXPECT_TRUE(roster->Find(kPolice)->first_responder());
  EXPECT_TRUE(roster->IsSystemPrincipal(kRouter));
  EXPECT_EQ(roster->Find(kPanah)->capacity(), 2u);
  EXPECT_EQ(roster->Find(kDastak)->capacity(), 40u);
  EXPECT_EQ(roster->Find(kCpu)->capacity(), 30u);
  EXPECT_EQ(roster->Find(kOversight)->type(), passage::v1::AGENCY_TYPE_OVERSIGHT);

  const RuleSet rules = SampleRules();
  EXPECT_OK(ValidateRuleSet(rules, *roster));
  // A shelter rule that would share the suspects section is refused when the rules are read,
  // naming the section (the broker would refuse each referral anyway).
  RuleSet leaky = rules;
  for (RoutingRule& rule : *leaky.mutable_rules()) {
    if (rule.service() == passage::v1::SERVICE_TYPE_SHELTER) {
      rule.add_data_scope(passage::v1::DATA_SECTION_SUSPECT);
      break;
    }
  }
  Status refused = ValidateRuleSet(leaky, *roster);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.field().find(".data_scope["), std::string::npos) << refused.ToString();
  EXPECT_NE(refused.message().find("may never hold it"), std::string::npos) << refused.ToString();
  std::set<std::string> names;
  for (const RoutingRule& rule : rules.rules()) {
    names.insert(rule.name());
  }
  EXPECT_EQ(names, (std::set<std::string>{"child-protection", "womens-shelter",
                                          "medical-sexual-exploitation", "psychosocial-support",
                                          "return-reintegration", "prosecution", "legal-aid"}));
}

struct SampleCase {
  std::string name;
  Profile profile;
  passage::v1::CrimeType crime = passage::v1::CRIME_TYPE_TIP;
  std::vector<passage::v1::ConsentScope> consents;
  std::map<std::string, std::string> expected;  // rule -> recipient
};

std::vector<SampleCase> SampleCases() {
  using passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT;
  using passage::v1::CONSENT_SCOPE_SERVICES;
  std::vector<SampleCase> cases;

  cases.push_back({"girl exploited sexually and in labour, Sindh",
                   Girl(),
                   passage::v1::CRIME_TYPE_TIP,
                   {CONSENT_SCOPE_SERVICES},
                   {{"child-protection", kCpu},
                    {"medical-sexual-exploitation", kDastak},
                    {"psychosocial-support", kDastak},
                    {"legal-aid", kLegalAid}}});

  cases.push_back({"woman exploited sexually, consents to law enforcement, Sindh",
                   Woman(),
                   passage::v1::CRIME_TYPE_TIP,
                   {CONSENT_SCOPE_SERVICES, CONSENT_SCOPE_LAW_ENFORCEMENT},
                   {{"womens-shelter", kPanah},
                    {"medical-sexual-exploitation", kDastak},
                    {"psychosocial-support", kDastak},
                    {"prosecution", kProsecution},
                    {"legal-aid", kLegalAid}}});

  cases.push_back({"woman exploited sexually, services consent only",
                   Woman(),
                   passage::v1::CRIME_TYPE_TIP,
                   {CONSENT_SCOPE_SERVICES},
                   {{"womens-shelter", kPanah},
                    {"medical-sexual-exploitation", kDastak},
                    {"psychosocial-support", kDastak},
                    {"legal-aid", kLegalAid}}});

  Profile returning = Man();
  returning.set_wishes_to_return(true);
  returning.clear_citizenship();
  returning.add_citizenship("AF");
  cases.push_back({"smuggled migrant who wishes to return",
                   returning,
                   passage::v1::CRIME_TYPE_SOM,
                   {CONSENT_SCOPE_SERVICES, CONSENT_SCOPE_LAW_ENFORCEMENT},
                   {{"return-reintegration", kIom}, {"legal-aid", kLegalAid}}});

  cases.push_back({"smuggled migrant who stays",
                   Man(),
                   passage::v1::CRIME_TYPE_SOM,
                   {CONSENT_SCOPE_SERVICES},
                   {{"legal-aid", kLegalAid}}});

  Profile labour = Woman();
  labour.clear_exploitation_forms();
  labour.add_exploitation_forms(passage::v1::EXPLOITATION_FORM_FORCED_LABOUR);
  labour.set_wishes_to_return(true);
  cases.push_back(
      {"trafficked and smuggled woman in forced labour who wishes to return",
       labour,
       passage::v1::CRIME_TYPE_BOTH,
       {CONSENT_SCOPE_SERVICES, CONSENT_SCOPE_LAW_ENFORCEMENT},
       {{"return-reintegration", kIom}, {"prosecution", kProsecution}, {"legal-aid", kLegalAid}}});

  Profile unknown_age = Woman();
  unknown_age.clear_age_years();
  unknown_age.set_age_band(passage::v1::AGE_BAND_UNSPECIFIED);
  unknown_age.set_majority_at_identification(passage::v1::MAJORITY_STATUS_UNSPECIFIED);
  unknown_age.set_majority_at_exploitation(passage::v1::MAJORITY_STATUS_UNSPECIFIED);
  cases.push_back({"woman of unknown age: neither child protection nor women's shelter",
                   unknown_age,
                   passage::v1::CRIME_TYPE_TIP,
                   {CONSENT_SCOPE_SERVICES},
                   {{"medical-sexual-exploitation", kDastak},
                    {"psychosocial-support", kDastak},
                    {"legal-aid", kLegalAid}}});

  Profile band_only = Man();
  band_only.clear_age_years();
  band_only.set_age_band(passage::v1::AGE_BAND_9_17);
  band_only.set_majority_at_identification(passage::v1::MAJORITY_STATUS_UNSPECIFIED);
  band_only.set_majority_at_exploitation(passage::v1::MAJORITY_STATUS_UNSPECIFIED);
  band_only.clear_exploitation_forms();
  band_only.add_exploitation_forms(passage::v1::EXPLOITATION_FORM_FORCED_BEGGING);
  cases.push_back({"boy of unknown age in the 9-17 band, forced begging",
                   band_only,
                   passage::v1::CRIME_TYPE_TIP,
                   {CONSENT_SCOPE_SERVICES},
                   {{"child-protection", kCpu}, {"legal-aid", kLegalAid}}});

  Profile marriage = Woman();
  marriage.clear_exploitation_forms();
  marriage.add_exploitation_forms(passage::v1::EXPLOITATION_FORM_FORCED_MARRIAGE);
  marriage.set_province_of_identification("PK-IS");
  cases.push_back({"woman in forced marriage identified in Islamabad: IOM is in her region",
                   marriage,
                   passage::v1::CRIME_TYPE_TIP,
                   {CONSENT_SCOPE_SERVICES},
                   {{"psychosocial-support", kIom}, {"legal-aid", kLegalAid}}});
  return cases;
}

TEST(RoutingSamples, EachRuleFiresForTheRightCasesAndTheBrokerAcceptsItsReferrals) {
  const RuleSet rules = SampleRules();
  for (const SampleCase& c : SampleCases()) {
    SCOPED_TRACE(c.name);
    Nrm nrm(SampleRoster());
    nrm.OpenCase(kFia, c.profile, c.crime, c.consents);
    const PlanResult plan = nrm.Plan(rules);
    EXPECT_EQ(RulesToRecipients(plan), c.expected);
    EXPECT_TRUE(plan.skipped.empty()) << Joined(plan.skipped);
    for (const PlannedReferral& p : plan.planned) {
      EXPECT_EQ(p.referral.from_agency(), kFia);
      EXPECT_EQ(p.referral.reason(), p.rule);
      EXPECT_EQ(p.referral.case_id(), kCaseId);
    }
    // The proof: every planned referral is accepted by the broker's checks when the router sends
    // it as the system principal on the owner's behalf.
    nrm.SendAll(plan);
    EXPECT_EQ(nrm.state().referrals_size(), static_cast<int>(c.expected.size()));
    // Planning again plans nothing: each rule fired once.
    const PlanResult again = nrm.Plan(rules);
    EXPECT_TRUE(again.planned.empty());
    EXPECT_TRUE(again.skipped.empty()) << Joined(again.skipped);
  }
}

TEST(RoutingSamples, ReferralFieldsFollowTheRule) {
  Nrm nrm(SampleRoster());
  nrm.OpenCase(kFia, Girl(), passage::v1::CRIME_TYPE_TIP, {passage::v1::CONSENT_SCOPE_SERVICES});
  const int64_t now = nrm.now();
  const PlanResult plan = nrm.Plan(SampleRules());
  ASSERT_FALSE(plan.planned.empty());
  const PlannedReferral& child = plan.planned[0];
  EXPECT_EQ(child.rule, "child-protection");
  const Referral& r = child.referral;
  EXPECT_OK(ValidateUuid(r.referral_id(), "referral_id"));
  EXPECT_EQ(r.referral_id(), PlannedReferralId(kCaseId, "child-protection", 0));
  EXPECT_EQ(r.kind(), passage::v1::REFERRAL_KIND_REFERRAL);
  EXPECT_EQ(r.service(), passage::v1::SERVICE_TYPE_CHILD_PROTECTION);
  EXPECT_EQ(r.priority(), passage::v1::PRIORITY_EMERGENCY);
  EXPECT_EQ(r.respond_by_ms(), now + 120 * kMinuteMs);
  EXPECT_EQ(r.to_agency(), kCpu);
  EXPECT_EQ(r.from_agency(), kFia);
  EXPECT_EQ(r.consent_id(), ConsentId(1));
  EXPECT_TRUE(r.parent_referral_id().empty());
  EXPECT_EQ(r.data_scope_size(), 5);
  EXPECT_EQ(r.status(), passage::v1::REFERRAL_STATUS_UNSPECIFIED);
  EXPECT_EQ(r.history_size(), 0);

  // On its own, wrapped in a ReferralSent event, it passes the stateless validator too.
  Event e = BaseEvent(kRouter, passage::v1::ACTOR_ROLE_SYSTEM);
  e.set_occurred_at_ms(now);
  *e.mutable_referral_sent()->mutable_referral() = r;
  EXPECT_OK(ValidateEvent(e, now));
}

// ---- Matches ----

CaseState StateWith(const Profile& profile, passage::v1::CrimeType crime) {
  CaseState s;
  s.set_case_id(kCaseId);
  s.set_owner_agency(kFia);
  s.set_crime_type(crime);
  *s.mutable_profile() = profile;
  return s;
}

TEST(RoutingMatches, EachConditionOnItsOwn) {
  using passage::v1::RuleCondition;
  CaseState woman = StateWith(Woman(), passage::v1::CRIME_TYPE_TIP);  // PK citizen, PK-SD
  passage::v1::Consent* services = woman.add_consents();
  services->set_consent_id(ConsentId(1));
  services->set_scope(passage::v1::CONSENT_SCOPE_SERVICES);
  passage::v1::Consent* withdrawn = woman.add_consents();
  withdrawn->set_consent_id(ConsentId(2));
  withdrawn->set_scope(passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT);
  withdrawn->set_withdrawn_at_ms(kTestNowMs);

  struct Row {
    std::string name;
    std::string condition;  // RuleCondition in text format
    bool matches;
  };
  const std::vector<Row> rows = {
      {"empty condition", "", true},
      {"adult", "majority: MAJORITY_STATUS_ADULT", true},
      {"minor", "majority: MAJORITY_STATUS_MINOR", false},
      {"sex listed", "sex_in: [SEX_MALE, SEX_FEMALE]", true},
      {"sex not listed", "sex_in: SEX_MALE", false},
      {"exploitation listed",
       "any_exploitation: [EXPLOITATION_FORM_FORCED_LABOUR, EXPLOITATION_FORM_SEXUAL_EXPLOITATION]",
       true},
      {"exploitation not listed", "any_exploitation: EXPLOITATION_FORM_FORCED_LABOUR", false},
      {"crime type listed", "crime_type_in: [CRIME_TYPE_TIP, CRIME_TYPE_BOTH]", true},
      {"crime type not listed", "crime_type_in: CRIME_TYPE_SOM", false},
      {"citizenship listed", "citizenship_in: [\"AF\", \"PK\"]", true},
      {"citizenship listed as alpha-3", "citizenship_in: \"pak\"", true},
      {"citizenship not listed", "citizenship_in: \"AF\"", false},
      {"citizenship_not_in holds", "citizenship_not_in: \"AF\"", true},
      {"citizenship_not_in fails", "citizenship_not_in: \"PAK\"", false},
      {"province listed", "province_in: [\"PK-PB\", \"pk-sd\"]", true},
      {"province not listed", "province_in: \"PK-BA\"", false},
      {"consent in force", "requires_consent: CONSENT_SCOPE_SERVICES", true},
      {"consent withdrawn", "requires_consent: CONSENT_SCOPE_LAW_ENFORCEMENT", false},
      {"consent never given", "requires_consent: CONSENT_SCOPE_STATISTICS", false},
      {"one of two consents missing",
       "requires_consent: [CONSENT_SCOPE_SERVICES, CONSENT_SCOPE_STATISTICS]", false},
      {"wish to return not recorded", "requires_wish_to_return: true", false},
      {"all together",
       "majority: MAJORITY_STATUS_ADULT sex_in: SEX_FEMALE "
       "any_exploitation: EXPLOITATION_FORM_SEXUAL_EXPLOITATION crime_type_in: CRIME_TYPE_TIP "
       "citizenship_in: \"PK\" province_in: \"PK-SD\" requires_consent: CONSENT_SCOPE_SERVICES",
       true},
      {"all but one", "majority: MAJORITY_STATUS_ADULT sex_in: SEX_MALE", false},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    RuleCondition when;
    ASSERT_OK(ParseConfigText(row.condition, row.name, &when));
    EXPECT_EQ(Matches(when, woman), row.matches);
  }

  RuleCondition wish;
  wish.set_requires_wish_to_return(true);
  woman.mutable_profile()->set_wishes_to_return(true);
  EXPECT_TRUE(Matches(wish, woman));

  // Unknown citizenship is never "not in" a list.
  RuleCondition not_in;
  not_in.add_citizenship_not_in("PK");
  woman.mutable_profile()->clear_citizenship();
  EXPECT_FALSE(Matches(not_in, woman));
  // Unknown province is in no list.
  RuleCondition province;
  province.add_province_in("PK-SD");
  woman.mutable_profile()->clear_province_of_identification();
  EXPECT_FALSE(Matches(province, woman));
}

TEST(RoutingMatches, MinorAndAdult) {
  struct Row {
    std::string name;
    std::optional<uint32_t> age;
    passage::v1::AgeBand band;
    passage::v1::MajorityStatus majority;
    bool minor;
    bool adult;
  };
  const std::vector<Row> rows = {
      {"age 17", 17, passage::v1::AGE_BAND_UNSPECIFIED, passage::v1::MAJORITY_STATUS_UNSPECIFIED,
       true, false},
      {"age 18", 18, passage::v1::AGE_BAND_UNSPECIFIED, passage::v1::MAJORITY_STATUS_UNSPECIFIED,
       false, true},
      {"age 0", 0, passage::v1::AGE_BAND_UNSPECIFIED, passage::v1::MAJORITY_STATUS_UNSPECIFIED,
       true, false},
      {"recorded minor", std::nullopt, passage::v1::AGE_BAND_UNSPECIFIED,
       passage::v1::MAJORITY_STATUS_MINOR, true, false},
      {"recorded adult", std::nullopt, passage::v1::AGE_BAND_UNSPECIFIED,
       passage::v1::MAJORITY_STATUS_ADULT, false, true},
      {"band 0-8", std::nullopt, passage::v1::AGE_BAND_0_8,
       passage::v1::MAJORITY_STATUS_UNSPECIFIED, true, false},
      {"band 9-17", std::nullopt, passage::v1::AGE_BAND_9_17,
       passage::v1::MAJORITY_STATUS_UNSPECIFIED, true, false},
      {"band 18-20", std::nullopt, passage::v1::AGE_BAND_18_20,
       passage::v1::MAJORITY_STATUS_UNSPECIFIED, false, true},
      {"nothing known", std::nullopt, passage::v1::AGE_BAND_UNSPECIFIED,
       passage::v1::MAJORITY_STATUS_UNSPECIFIED, false, false},
  };
  passage::v1::RuleCondition minor;
  minor.set_majority(passage::v1::MAJORITY_STATUS_MINOR);
  passage::v1::RuleCondition adult;
  adult.set_majority(passage::v1::MAJORITY_STATUS_ADULT);
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    Profile p;
    if (row.age) {
      p.set_age_years(*row.age);
    }
    p.set_age_band(row.band);
    p.set_majority_at_identification(row.majority);
    EXPECT_EQ(IsMinor(p), row.minor);
    EXPECT_EQ(IsAdult(p), row.adult);
    const CaseState s = StateWith(p, passage::v1::CRIME_TYPE_TIP);
    EXPECT_EQ(Matches(minor, s), row.minor);
    EXPECT_EQ(Matches(adult, s), row.adult);
  }
}

// ---- Recipient choice ----

Agency MakeAgency(const std::string& id, passage::v1::AgencyType type, const std::string& region,
                  std::vector<passage::v1::ServiceType> services, uint32_t capacity = 0) {
  Agency a;
  a.set_id(id);
  a.set_name("Agency " + id);
  a.set_type(type);
  a.set_region(region);
  for (passage::v1::ServiceType s : services) {
    a.add_services(s);
  }
  a.set_capacity(capacity);
  return a;
}

// A first responder in Sindh, the router, and shelters of several kinds.
passage::v1::AgencyRegistry ChoiceRegistry() {
  using passage::v1::SERVICE_TYPE_SHELTER;
  passage::v1::AgencyRegistry reg;
  Agency owner = MakeAgency("owner-le", passage::v1::AGENCY_TYPE_LAW_ENFORCEMENT, "PK-SD",
                            {passage::v1::SERVICE_TYPE_INVESTIGATION});
  owner.set_first_responder(true);
  *reg.add_agencies() = owner;
  Agency router = MakeAgency("router", passage::v1::AGENCY_TYPE_OTHER, "PK-IS", {});
  router.set_system_principal(true);
  *reg.add_agencies() = router;
  *reg.add_agencies() =
      MakeAgency("shelter-c", passage::v1::AGENCY_TYPE_SHELTER, "PK-SD", {SERVICE_TYPE_SHELTER});
  *reg.add_agencies() =
      MakeAgency("shelter-b", passage::v1::AGENCY_TYPE_SHELTER, "PK-SD", {SERVICE_TYPE_SHELTER}, 2);
  *reg.add_agencies() =
      MakeAgency("shelter-a", passage::v1::AGENCY_TYPE_SHELTER, "PK-PB", {SERVICE_TYPE_SHELTER});
  *reg.add_agencies() = MakeAgency("ngo-shelter", passage::v1::AGENCY_TYPE_NGO, "PK-SD",
                                   {SERVICE_TYPE_SHELTER, passage::v1::SERVICE_TYPE_MEDICAL});
  *reg.add_agencies() = MakeAgency("clinic", passage::v1::AGENCY_TYPE_HEALTH, "PK-SD",
                                   {passage::v1::SERVICE_TYPE_MEDICAL});
  *reg.add_agencies() = MakeAgency("other-le", passage::v1::AGENCY_TYPE_LAW_ENFORCEMENT, "PK-PB",
                                   {passage::v1::SERVICE_TYPE_INVESTIGATION});
  return reg;
}

AgencyRoster ChoiceRoster() {
  Result<AgencyRoster> roster = AgencyRoster::FromRegistry(ChoiceRegistry());
  EXPECT_OK(roster);
  return roster.ok() ? std::move(roster).value() : AgencyRoster();
}

RoutingRule ShelterRule() {
  RoutingRule rule;
  rule.set_name("shelter");
  rule.set_service(passage::v1::SERVICE_TYPE_SHELTER);
  rule.set_priority(passage::v1::PRIORITY_ROUTINE);
  rule.set_respond_within_minutes(60);
  rule.set_kind(passage::v1::REFERRAL_KIND_REFERRAL);
  rule.add_data_scope(passage::v1::DATA_SECTION_PROFILE);
  rule.set_consent_scope(passage::v1::CONSENT_SCOPE_SERVICES);
  rule.add_agency_types(passage::v1::AGENCY_TYPE_SHELTER);
  rule.set_prefer_same_region(true);
  return rule;
}

RuleSet OneRule(const RoutingRule& rule) {
  RuleSet set;
  *set.add_rules() = rule;
  return set;
}

TEST(RoutingChoice, RespectsTypeServiceCapacityRegionAndLoad) {
  struct Row {
    std::string name;
    bool prefer_same_region;
    std::vector<passage::v1::AgencyType> types;
    std::map<std::string, uint32_t> load;
    std::string expected;  // empty: nobody
  };
  using passage::v1::AGENCY_TYPE_NGO;
  using passage::v1::AGENCY_TYPE_SHELTER;
  const std::vector<Row> rows = {
      {"same region first, then id", true, {AGENCY_TYPE_SHELTER}, {}, "shelter-b"},
      {"less loaded within the region",
       true,
       {AGENCY_TYPE_SHELTER},
       {{"shelter-b", 1}},
       "shelter-c"},
      {"region before load",
       true,
       {AGENCY_TYPE_SHELTER},
       {{"shelter-b", 1}, {"shelter-c", 5}},
       "shelter-b"},
      {"full agencies are skipped",
       true,
       {AGENCY_TYPE_SHELTER},
       {{"shelter-b", 2}, {"shelter-c", 9}},
       "shelter-c"},
      {"without region preference, least loaded",
       false,
       {AGENCY_TYPE_SHELTER},
       {{"shelter-b", 1}, {"shelter-c", 1}},
       "shelter-a"},
      {"without region preference and equal load, id order",
       false,
       {AGENCY_TYPE_SHELTER},
       {},
       "shelter-a"},
      {"any type offering the service",
       true,
       {},
       {{"shelter-b", 1}, {"shelter-c", 1}},
       "ngo-shelter"},
      {"only the listed type", true, {AGENCY_TYPE_NGO}, {}, "ngo-shelter"},
      {"nobody of that type", true, {passage::v1::AGENCY_TYPE_LEGAL_AID}, {}, ""},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    RoutingRule rule = ShelterRule();
    rule.set_prefer_same_region(row.prefer_same_region);
    rule.clear_agency_types();
    for (passage::v1::AgencyType t : row.types) {
      rule.add_agency_types(t);
    }
    Nrm nrm(ChoiceRoster());
    nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP,
                 {passage::v1::CONSENT_SCOPE_SERVICES});
    AgencyLoad load;
    for (const auto& [id, n] : row.load) {
      load.open_referrals[id] = n;
    }
    const PlanResult plan = nrm.Plan(OneRule(rule), load);
    if (row.expected.empty()) {
      EXPECT_TRUE(plan.planned.empty());
      ASSERT_EQ(plan.skipped.size(), 1u);
      EXPECT_NE(plan.skipped[0].find("no agency is left"), std::string::npos) << plan.skipped[0];
    } else {
      ASSERT_EQ(plan.planned.size(), 1u) << Joined(plan.skipped);
      EXPECT_EQ(plan.planned[0].referral.to_agency(), row.expected);
    }
  }
}

TEST(RoutingChoice, NeverTheOwnerAndOnlyAgenciesOfferingTheService) {
  Nrm nrm(ChoiceRoster());
  nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP,
               {passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT});
  RoutingRule rule = ShelterRule();
  rule.set_name("investigation");
  rule.set_service(passage::v1::SERVICE_TYPE_INVESTIGATION);
  rule.clear_agency_types();
  rule.set_consent_scope(passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT);
  // owner-le is in the case's region and offers the service, but owns the case.
  const PlanResult plan = nrm.Plan(OneRule(rule));
  ASSERT_EQ(plan.planned.size(), 1u) << Joined(plan.skipped);
  EXPECT_EQ(plan.planned[0].referral.to_agency(), "other-le");
  EXPECT_EQ(plan.planned[0].referral.consent_id(), ConsentId(1));
  nrm.SendAll(plan);
}

TEST(RoutingChoice, DeterministicWhateverTheRegistryOrder) {
  passage::v1::AgencyRegistry reversed = ChoiceRegistry();
  std::reverse(reversed.mutable_agencies()->begin(), reversed.mutable_agencies()->end());
  Result<AgencyRoster> other = AgencyRoster::FromRegistry(reversed);
  ASSERT_OK(other);

  RoutingRule rule = ShelterRule();
  rule.set_prefer_same_region(false);
  rule.clear_agency_types();
  Nrm nrm(ChoiceRoster());
  nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP,
               {passage::v1::CONSENT_SCOPE_SERVICES});
  const RuleSet rules = OneRule(rule);
  const PlanResult first = nrm.Plan(rules);
  const PlanResult second = PlanReferrals(nrm.state(), rules, *other, {}, nrm.now());
  ASSERT_EQ(first.planned.size(), 1u);
  ASSERT_EQ(second.planned.size(), 1u);
  EXPECT_EQ(first.planned[0].referral.to_agency(), "ngo-shelter");
  EXPECT_EQ(SerializeDeterministic(first.planned[0].referral),
            SerializeDeterministic(second.planned[0].referral));
}

TEST(RoutingChoice, TwoRulesForOneServicePlanOneReferral) {
  RuleSet rules;
  *rules.add_rules() = ShelterRule();
  RoutingRule second = ShelterRule();
  second.set_name("shelter-again");
  second.set_prefer_same_region(false);
  *rules.add_rules() = second;
  Nrm nrm(ChoiceRoster());
  nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP,
               {passage::v1::CONSENT_SCOPE_SERVICES});
  const PlanResult plan = nrm.Plan(rules);
  ASSERT_EQ(plan.planned.size(), 1u);
  EXPECT_EQ(plan.planned[0].rule, "shelter");
}

// ---- Consent ----

TEST(RoutingConsent, NoConsentInForceSkipsTheRuleWithAReason) {
  Nrm nrm(ChoiceRoster());
  nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP, {});
  PlanResult plan = nrm.Plan(OneRule(ShelterRule()));
  EXPECT_TRUE(plan.planned.empty());
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_EQ(plan.skipped[0],
            "rule 'shelter': no consent in force covers a referral for SHELTER to any eligible "
            "agency (shelter-b, shelter-c, shelter-a)");

  // A withdrawn consent covers nothing either.
  ASSERT_OK(nrm.Publish(
      ConsentGivenEvent("owner-le", ConsentId(7), passage::v1::CONSENT_SCOPE_SERVICES)));
  ASSERT_EQ(nrm.Plan(OneRule(ShelterRule())).planned.size(), 1u);
  ASSERT_OK(nrm.Publish(ConsentWithdrawnEvent("owner-le", ConsentId(7))));
  plan = nrm.Plan(OneRule(ShelterRule()));
  EXPECT_TRUE(plan.planned.empty());
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_NE(plan.skipped[0].find("no consent in force covers"), std::string::npos);
}

TEST(RoutingConsent, ServicesConsentDoesNotReachLawEnforcement) {
  Nrm nrm(ChoiceRoster());
  nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP,
               {passage::v1::CONSENT_SCOPE_SERVICES, passage::v1::CONSENT_SCOPE_INTERVIEW});
  RoutingRule rule = ShelterRule();
  rule.set_name("investigation");
  rule.set_service(passage::v1::SERVICE_TYPE_INVESTIGATION);
  rule.clear_agency_types();
  rule.set_consent_scope(passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT);
  const PlanResult plan = nrm.Plan(OneRule(rule));
  EXPECT_TRUE(plan.planned.empty());
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_NE(plan.skipped[0].find("no consent in force covers a referral for INVESTIGATION"),
            std::string::npos)
      << plan.skipped[0];
}

TEST(RoutingConsent, AConsentNamingAnAgencyPicksThatAgency) {
  Nrm nrm(ChoiceRoster());
  nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP, {});
  Event named =
      ConsentGivenEvent("owner-le", ConsentId(9), passage::v1::CONSENT_SCOPE_SHARE_WITH_AGENCIES);
  named.mutable_consent_given()->mutable_consent()->add_agency_ids("shelter-a");
  ASSERT_OK(nrm.Publish(named));
  // shelter-b and shelter-c come first (same region) but the victim agreed to shelter-a only.
  const PlanResult plan = nrm.Plan(OneRule(ShelterRule()));
  ASSERT_EQ(plan.planned.size(), 1u) << Joined(plan.skipped);
  EXPECT_EQ(plan.planned[0].referral.to_agency(), "shelter-a");
  EXPECT_EQ(plan.planned[0].referral.consent_id(), ConsentId(9));
  nrm.SendAll(plan);
}

TEST(RoutingConsent, PrefersTheRuleScopeThenTheEarliest) {
  Nrm nrm(ChoiceRoster());
  // ConsentId(1) SHARE_WITH_AGENCIES, ConsentId(2) and (3) SERVICES.
  nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP,
               {passage::v1::CONSENT_SCOPE_SHARE_WITH_AGENCIES, passage::v1::CONSENT_SCOPE_SERVICES,
                passage::v1::CONSENT_SCOPE_SERVICES});
  PlanResult plan = nrm.Plan(OneRule(ShelterRule()));
  ASSERT_EQ(plan.planned.size(), 1u);
  EXPECT_EQ(plan.planned[0].referral.consent_id(), ConsentId(2));

  // With no consent of the rule's scope, any consent that covers the referral will do.
  RoutingRule rule = ShelterRule();
  rule.set_consent_scope(passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT);
  plan = nrm.Plan(OneRule(rule));
  ASSERT_EQ(plan.planned.size(), 1u);
  EXPECT_EQ(plan.planned[0].referral.consent_id(), ConsentId(1));
}

// ---- Who sends ----

TEST(RoutingSender, ClosedCasesAndSendersWithoutAccessPlanNothing) {
  Nrm nrm(ChoiceRoster());
  nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP,
               {passage::v1::CONSENT_SCOPE_SERVICES});
  const RuleSet rules = OneRule(ShelterRule());
  PlanResult plan = PlanReferrals(nrm.state(), rules, nrm.agencies(), {}, nrm.now(), "other-le");
  EXPECT_TRUE(plan.planned.empty());
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_EQ(plan.skipped[0], "rule 'shelter': agency 'other-le' has no access to the case");

  EXPECT_TRUE(PlanReferrals(CaseState(), rules, nrm.agencies(), {}, nrm.now()).planned.empty());
  Event close = BaseEvent("owner-le");
  close.mutable_case_closed()->set_reason("victim-reunited");
  close.set_actor_role(passage::v1::ACTOR_ROLE_SUPERVISOR);  // closing is a supervisor's call
  ASSERT_OK(nrm.Publish(close));
  plan = nrm.Plan(rules);
  EXPECT_TRUE(plan.planned.empty());
  EXPECT_TRUE(plan.skipped.empty());
}

TEST(RoutingSender, AnAgencyWithAccessMayRunTheRulesForItself) {
  Nrm nrm(ChoiceRoster());
  nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP,
               {passage::v1::CONSENT_SCOPE_SERVICES});
  // shelter-b accepts a shelter referral, then refers onward for medical care itself.
  Event sent = ReferralSentEvent("owner-le", ReferralId(1), "shelter-b",
                                 passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  ASSERT_OK(nrm.Publish(sent));
  nrm.Answer(ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED);
  RoutingRule medical = ShelterRule();
  medical.set_name("medical");
  medical.set_service(passage::v1::SERVICE_TYPE_MEDICAL);
  medical.clear_agency_types();
  const PlanResult plan =
      PlanReferrals(nrm.state(), OneRule(medical), nrm.agencies(), {}, nrm.now(), "shelter-b");
  ASSERT_EQ(plan.planned.size(), 1u) << Joined(plan.skipped);
  EXPECT_EQ(plan.planned[0].referral.from_agency(), "shelter-b");
  EXPECT_EQ(plan.planned[0].referral.to_agency(), "clinic");
  Event onward = BaseEvent("shelter-b");
  *onward.mutable_referral_sent()->mutable_referral() = plan.planned[0].referral;
  EXPECT_OK(nrm.Publish(onward));

  // It may not share what it cannot read, nor transfer the case.
  medical.set_name("medical-personal");
  medical.set_service(passage::v1::SERVICE_TYPE_PSYCHOSOCIAL);
  medical.add_data_scope(passage::v1::DATA_SECTION_PERSONAL);
  PlanResult refused =
      PlanReferrals(nrm.state(), OneRule(medical), nrm.agencies(), {}, nrm.now(), "shelter-b");
  EXPECT_TRUE(refused.planned.empty());
  ASSERT_EQ(refused.skipped.size(), 1u);
  EXPECT_NE(refused.skipped[0].find("may not share section PERSONAL"), std::string::npos);
  medical.clear_data_scope();
  medical.add_data_scope(passage::v1::DATA_SECTION_PROFILE);
  medical.set_kind(passage::v1::REFERRAL_KIND_TRANSFER);
  refused =
      PlanReferrals(nrm.state(), OneRule(medical), nrm.agencies(), {}, nrm.now(), "shelter-b");
  ASSERT_EQ(refused.skipped.size(), 1u);
  EXPECT_NE(refused.skipped[0].find("only the case owner"), std::string::npos);
}

TEST(RoutingSender, ExistingReferralsForTheServiceSuppressTheRule) {
  struct Row {
    std::string name;
    passage::v1::ReferralStatus end;  // the state a hand-made shelter referral reaches
    bool plans;
  };
  const std::vector<Row> rows = {
      {"live", passage::v1::REFERRAL_STATUS_RECEIVED, false},
      {"completed", passage::v1::REFERRAL_STATUS_COMPLETED, false},
      {"rejected", passage::v1::REFERRAL_STATUS_REJECTED, true},
      {"cancelled", passage::v1::REFERRAL_STATUS_CANCELLED, true},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    Nrm nrm(ChoiceRoster());
    nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP,
                 {passage::v1::CONSENT_SCOPE_SERVICES});
    ASSERT_OK(nrm.Publish(ReferralSentEvent("owner-le", ReferralId(1), "shelter-b",
                                            passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1))));
    const std::string id = ReferralId(1);
    switch (row.end) {
      case passage::v1::REFERRAL_STATUS_RECEIVED:
        ASSERT_OK(nrm.Move("shelter-b", id, passage::v1::REFERRAL_STATUS_RECEIVED));
        break;
      case passage::v1::REFERRAL_STATUS_COMPLETED:
        nrm.Answer(id, passage::v1::REFERRAL_STATUS_ACCEPTED);
        ASSERT_OK(nrm.Move("shelter-b", id, passage::v1::REFERRAL_STATUS_COMPLETED));
        break;
      case passage::v1::REFERRAL_STATUS_REJECTED:
        nrm.Answer(id, passage::v1::REFERRAL_STATUS_REJECTED);
        break;
      default:
        ASSERT_OK(nrm.Move("owner-le", id, passage::v1::REFERRAL_STATUS_CANCELLED));
        break;
    }
    const PlanResult plan = nrm.Plan(OneRule(ShelterRule()));
    ASSERT_EQ(plan.planned.size(), row.plans ? 1u : 0u) << Joined(plan.skipped);
    if (row.plans) {
      // An agency that declined is not asked again; one whose referral was cancelled may be.
      EXPECT_EQ(plan.planned[0].referral.to_agency(),
                row.end == passage::v1::REFERRAL_STATUS_REJECTED ? "shelter-c" : "shelter-b");
      nrm.SendAll(plan);
    }
  }
}

TEST(RoutingSender, ARuleFiresOncePerCase) {
  Nrm nrm(ChoiceRoster());
  nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP,
               {passage::v1::CONSENT_SCOPE_SERVICES});
  const RuleSet rules = OneRule(ShelterRule());
  const PlanResult plan = nrm.Plan(rules);
  ASSERT_EQ(plan.planned.size(), 1u);
  nrm.SendAll(plan);
  // The owner cancels the router's referral: the rule does not send it again.
  ASSERT_OK(nrm.Move("owner-le", plan.planned[0].referral.referral_id(),
                     passage::v1::REFERRAL_STATUS_CANCELLED));
  EXPECT_TRUE(nrm.Plan(rules).planned.empty());
}

// ---- Load ----

TEST(RoutingLoad, CountsLiveAcceptedReferrals) {
  Nrm nrm(SampleRoster());
  nrm.OpenCase(kFia, Woman(), passage::v1::CRIME_TYPE_TIP,
               {passage::v1::CONSENT_SCOPE_SERVICES, passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT});
  auto send = [&](uint64_t n, const std::string& to, passage::v1::ServiceType service,
                  uint64_t consent) {
    ASSERT_OK(nrm.Publish(ReferralSentEvent(kFia, ReferralId(n), to, service, ConsentId(consent))));
  };
  send(1, kPanah, passage::v1::SERVICE_TYPE_SHELTER, 1);
  nrm.Answer(ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED);  // counts
  send(2, kDastak, passage::v1::SERVICE_TYPE_MEDICAL, 1);
  nrm.Answer(ReferralId(2), passage::v1::REFERRAL_STATUS_ACCEPTED);
  ASSERT_OK(nrm.Move(kDastak, ReferralId(2), passage::v1::REFERRAL_STATUS_IN_PROGRESS));  // counts
  send(3, kDastak, passage::v1::SERVICE_TYPE_PSYCHOSOCIAL, 1);
  nrm.Answer(ReferralId(3), passage::v1::REFERRAL_STATUS_ACCEPTED);
  ASSERT_OK(nrm.Move(kDastak, ReferralId(3), passage::v1::REFERRAL_STATUS_COMPLETED));  // ended
  send(4, kLegalAid, passage::v1::SERVICE_TYPE_LEGAL_AID, 1);  // SENT: not yet a place
  send(5, kProsecution, passage::v1::SERVICE_TYPE_PROSECUTION, 2);
  nrm.Answer(ReferralId(5), passage::v1::REFERRAL_STATUS_REJECTED);  // ended

  AgencyLoad load;
  load.open_referrals[kPanah] = 1;  // from another case
  CountLoad(nrm.state(), &load);
  EXPECT_EQ(load.open_referrals,
            (std::map<std::string, uint32_t, std::less<>>{{kPanah, 2}, {kDastak, 1}}));
  EXPECT_EQ(load.of(kPanah), 2u);
  EXPECT_EQ(load.of(kLegalAid), 0u);
}

TEST(RoutingLoad, AFullAgencyGetsNoReferral) {
  Nrm nrm(SampleRoster());
  nrm.OpenCase(kFia, Woman(), passage::v1::CRIME_TYPE_TIP, {passage::v1::CONSENT_SCOPE_SERVICES});
  AgencyLoad load;
  load.open_referrals[kPanah] = 2;  // capacity 2
  const PlanResult plan = nrm.Plan(SampleRules(), load);
  EXPECT_EQ(RulesToRecipients(plan).at("womens-shelter"), kDastak);
}

// ---- Escalation ----

TEST(RoutingEscalation, ADeclinedReferralGoesToTheNextShelterThenNobody) {
  const RuleSet rules = SampleRules();
  Nrm nrm(SampleRoster());
  nrm.OpenCase(kFia, Woman(), passage::v1::CRIME_TYPE_TIP, {passage::v1::CONSENT_SCOPE_SERVICES});
  const PlanResult plan = nrm.Plan(rules);
  nrm.SendAll(plan);
  const std::string first = PlannedReferralId(kCaseId, "womens-shelter", 0);
  const Referral* sent = FindReferral(nrm.state(), first);
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(sent->to_agency(), kPanah);

  // Not escalated while it is live.
  std::string why;
  EXPECT_FALSE(PlanEscalation(nrm.state(), *sent, rules, nrm.agencies(), {}, nrm.now(), &why));
  EXPECT_EQ(why,
            "referral " + first + " is SENT; only REJECTED and EXPIRED referrals are escalated");

  nrm.Answer(first, passage::v1::REFERRAL_STATUS_REJECTED);
  const Referral failed = *FindReferral(nrm.state(), first);
  std::optional<PlannedReferral> next =
      PlanEscalation(nrm.state(), failed, rules, nrm.agencies(), {}, nrm.now(), &why);
  ASSERT_TRUE(next.has_value()) << why;
  EXPECT_EQ(next->rule, "womens-shelter");
  const Referral& r = next->referral;
  EXPECT_EQ(r.to_agency(), kDastak);
  EXPECT_EQ(r.parent_referral_id(), first);
  EXPECT_EQ(r.priority(), passage::v1::PRIORITY_URGENT);  // declined: same priority
  EXPECT_EQ(r.reason(), "womens-shelter");
  EXPECT_EQ(r.from_agency(), kFia);
  EXPECT_EQ(r.respond_by_ms(), nrm.now() + 240 * kMinuteMs);
  EXPECT_EQ(r.referral_id(), PlannedReferralId(kCaseId, "womens-shelter", 1));
  EXPECT_NE(r.referral_id(), first);
  // The plain planner leaves re-referral to escalation.
  EXPECT_TRUE(nrm.Plan(rules).planned.empty());
  ASSERT_OK(nrm.RouterSends(*next));

  // Once escalated, the same failure plans nothing more.
  EXPECT_FALSE(PlanEscalation(nrm.state(), failed, rules, nrm.agencies(), {}, nrm.now(), &why));
  EXPECT_EQ(why, "referral " + first + " was already escalated as " + r.referral_id());

  // Dastak declines too: no shelter is left (the CPU's shelter is for children).
  nrm.Answer(r.referral_id(), passage::v1::REFERRAL_STATUS_REJECTED);
  const Referral second = *FindReferral(nrm.state(), r.referral_id());
  EXPECT_FALSE(PlanEscalation(nrm.state(), second, rules, nrm.agencies(), {}, nrm.now(), &why));
  EXPECT_EQ(why,
            "rule 'womens-shelter': no agency is left to receive a referral for SHELTER: 2 "
            "eligible agencies other than the sender (2 already declined or failed it in this "
            "case, 0 at capacity)");
}

TEST(RoutingEscalation, ExpiryRaisesPriorityAndExcludesTheWholeChain) {
  using passage::v1::SERVICE_TYPE_SHELTER;
  passage::v1::AgencyRegistry reg = ChoiceRegistry();
  *reg.add_agencies() =
      MakeAgency("shelter-d", passage::v1::AGENCY_TYPE_SHELTER, "PK-BA", {SERVICE_TYPE_SHELTER});
  Result<AgencyRoster> roster = AgencyRoster::FromRegistry(reg);
  ASSERT_OK(roster);
  Nrm nrm(std::move(roster).value());
  nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP,
               {passage::v1::CONSENT_SCOPE_SERVICES});
  const RuleSet rules = OneRule(ShelterRule());  // ROUTINE, 60 minutes
  AgencyLoad load;
  const PlanResult plan = nrm.Plan(rules, load);
  ASSERT_EQ(plan.planned.size(), 1u);
  nrm.SendAll(plan);
  std::string id = plan.planned[0].referral.referral_id();
  std::vector<std::string> visited = {"shelter-b"};
  const std::vector<std::string> expected_next = {"shelter-c", "shelter-a", "shelter-d"};
  const std::vector<passage::v1::Priority> expected_priority = {passage::v1::PRIORITY_URGENT,
                                                                passage::v1::PRIORITY_EMERGENCY,
                                                                passage::v1::PRIORITY_EMERGENCY};
  for (size_t step = 0; step < expected_next.size(); ++step) {
    SCOPED_TRACE(step);
    // Nobody answers: the router finds it overdue and expires it.
    EXPECT_TRUE(OverdueReferrals(nrm.state(), nrm.now()).empty());
    nrm.Advance(61 * kMinuteMs);
    ASSERT_EQ(OverdueReferrals(nrm.state(), nrm.now()), std::vector<std::string>{id});
    ASSERT_OK(nrm.Move(nrm.router(), id, passage::v1::REFERRAL_STATUS_EXPIRED));
    EXPECT_TRUE(OverdueReferrals(nrm.state(), nrm.now()).empty());
    const Referral failed = *FindReferral(nrm.state(), id);
    std::string why;
    std::optional<PlannedReferral> next =
        PlanEscalation(nrm.state(), failed, rules, nrm.agencies(), load, nrm.now(), &why);
    ASSERT_TRUE(next.has_value()) << why;
    EXPECT_EQ(next->referral.to_agency(), expected_next[step]);
    EXPECT_EQ(next->referral.priority(), expected_priority[step]);
    EXPECT_EQ(next->referral.parent_referral_id(), id);
    EXPECT_EQ(std::count(visited.begin(), visited.end(), next->referral.to_agency()), 0);
    ASSERT_OK(nrm.RouterSends(*next));
    id = next->referral.referral_id();
    visited.push_back(next->referral.to_agency());
  }
  // The chain runs back to the first referral.
  int depth = 0;
  for (const Referral* r = FindReferral(nrm.state(), id); r != nullptr;
       r = FindReferral(nrm.state(), r->parent_referral_id())) {
    ++depth;
  }
  EXPECT_EQ(depth, 4);
  // All four shelters failed; the last one expires too and nobody is left.
  nrm.Advance(61 * kMinuteMs);
  ASSERT_OK(nrm.Move(nrm.router(), id, passage::v1::REFERRAL_STATUS_EXPIRED));
  std::string why;
  EXPECT_FALSE(PlanEscalation(nrm.state(), *FindReferral(nrm.state(), id), rules, nrm.agencies(),
                              load, nrm.now(), &why));
  EXPECT_NE(why.find("no agency is left"), std::string::npos) << why;
}

TEST(RoutingEscalation, SkipsFullAgenciesAndKeepsTheRuleConditions) {
  const RuleSet rules = SampleRules();
  Nrm nrm(SampleRoster());
  nrm.OpenCase(kFia, Woman(), passage::v1::CRIME_TYPE_TIP, {passage::v1::CONSENT_SCOPE_SERVICES});
  nrm.SendAll(nrm.Plan(rules));
  const std::string first = PlannedReferralId(kCaseId, "womens-shelter", 0);
  nrm.Answer(first, passage::v1::REFERRAL_STATUS_REJECTED);
  const Referral failed = *FindReferral(nrm.state(), first);

  AgencyLoad full;
  full.open_referrals[kDastak] = 40;
  std::string why;
  EXPECT_FALSE(PlanEscalation(nrm.state(), failed, rules, nrm.agencies(), full, nrm.now(), &why));
  EXPECT_NE(why.find("1 at capacity"), std::string::npos) << why;

  // A rule set without the rule (or a referral made by hand) is not escalated.
  RuleSet other = rules;
  other.mutable_rules()->erase(other.mutable_rules()->begin() + 1);
  EXPECT_FALSE(PlanEscalation(nrm.state(), failed, other, nrm.agencies(), {}, nrm.now(), &why));
  EXPECT_EQ(why, "referral " + first +
                     " was not made by a routing rule (reason 'womens-shelter' names none)");

  // The case no longer matches: the profile was corrected to a girl of 17.
  Event update = BaseEvent(kFia);
  Profile girl = Woman();
  girl.set_age_years(17);
  girl.set_age_band(passage::v1::AGE_BAND_9_17);
  girl.set_majority_at_identification(passage::v1::MAJORITY_STATUS_MINOR);
  girl.set_majority_at_exploitation(passage::v1::MAJORITY_STATUS_MINOR);
  *update.mutable_profile_updated()->mutable_profile() = girl;
  ASSERT_OK(nrm.Publish(update));
  EXPECT_FALSE(PlanEscalation(nrm.state(), failed, rules, nrm.agencies(), {}, nrm.now(), &why));
  EXPECT_EQ(why, "the case no longer matches rule 'womens-shelter'");
}

TEST(RoutingEscalation, ExcludesAgenciesThatFailedUpTheParentChainWhateverTheService) {
  Nrm nrm(ChoiceRoster());
  nrm.OpenCase("owner-le", Woman(), passage::v1::CRIME_TYPE_TIP,
               {passage::v1::CONSENT_SCOPE_SERVICES});
  // By hand: ngo-shelter declines medical care; the re-referral (for shelter, under the rule's
  // name) goes to shelter-b, which declines too.
  ASSERT_OK(nrm.Publish(ReferralSentEvent("owner-le", ReferralId(1), "ngo-shelter",
                                          passage::v1::SERVICE_TYPE_MEDICAL, ConsentId(1))));
  nrm.Answer(ReferralId(1), passage::v1::REFERRAL_STATUS_REJECTED);
  Event second = ReferralSentEvent("owner-le", ReferralId(2), "shelter-b",
                                   passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  second.mutable_referral_sent()->mutable_referral()->set_reason("shelter");
  second.mutable_referral_sent()->mutable_referral()->set_parent_referral_id(ReferralId(1));
  ASSERT_OK(nrm.Publish(second));
  nrm.Answer(ReferralId(2), passage::v1::REFERRAL_STATUS_REJECTED);

  RoutingRule rule = ShelterRule();
  rule.clear_agency_types();  // ngo-shelter offers SHELTER too, and would come first by id
  std::string why;
  std::optional<PlannedReferral> next =
      PlanEscalation(nrm.state(), *FindReferral(nrm.state(), ReferralId(2)), OneRule(rule),
                     nrm.agencies(), {}, nrm.now(), &why);
  ASSERT_TRUE(next.has_value()) << why;
  EXPECT_EQ(next->referral.to_agency(), "shelter-c");
  EXPECT_EQ(next->referral.parent_referral_id(), ReferralId(2));
  ASSERT_OK(nrm.RouterSends(*next));
}

TEST(RoutingEscalation, RaisePriority) {
  EXPECT_EQ(RaisePriority(passage::v1::PRIORITY_ROUTINE), passage::v1::PRIORITY_URGENT);
  EXPECT_EQ(RaisePriority(passage::v1::PRIORITY_URGENT), passage::v1::PRIORITY_EMERGENCY);
  EXPECT_EQ(RaisePriority(passage::v1::PRIORITY_EMERGENCY), passage::v1::PRIORITY_EMERGENCY);
  EXPECT_EQ(RaisePriority(passage::v1::PRIORITY_UNSPECIFIED), passage::v1::PRIORITY_ROUTINE);
}

// ---- Deadlines ----

TEST(RoutingDeadlines, SecondsOverrideMinutes) {
  RuleSet rules = SampleRules();
  for (RoutingRule& rule : *rules.mutable_rules()) {
    if (rule.name() == "legal-aid") {
      rule.set_respond_within_minutes(0);
      rule.set_respond_within_seconds(30);  // a drill
    }
    if (rule.name() == "womens-shelter") {
      rule.set_respond_within_seconds(90);
    }
  }
  Nrm nrm(SampleRoster());
  ASSERT_OK(ValidateRuleSet(rules, nrm.agencies()));
  nrm.OpenCase(kFia, Woman(), passage::v1::CRIME_TYPE_TIP, {passage::v1::CONSENT_SCOPE_SERVICES});
  const PlanResult plan = nrm.Plan(rules);
  std::map<std::string, int64_t> due;
  for (const PlannedReferral& p : plan.planned) {
    due[p.rule] = p.referral.respond_by_ms() - nrm.now();
  }
  EXPECT_EQ(due.at("legal-aid"), 30'000);
  EXPECT_EQ(due.at("womens-shelter"), 90'000);
  EXPECT_EQ(due.at("medical-sexual-exploitation"), 1440 * kMinuteMs);
  nrm.SendAll(plan);
}

TEST(RoutingDeadlines, OverdueWhileSentOrReceived) {
  Nrm nrm(SampleRoster());
  nrm.OpenCase(kFia, Woman(), passage::v1::CRIME_TYPE_TIP, {passage::v1::CONSENT_SCOPE_SERVICES});
  const PlanResult plan = nrm.Plan(SampleRules());
  nrm.SendAll(plan);
  const std::map<std::string, std::string> recipients = RulesToRecipients(plan);
  ASSERT_EQ(recipients.at("womens-shelter"), kPanah);
  const std::string shelter = PlannedReferralId(kCaseId, "womens-shelter", 0);               // 4 h
  const std::string medical = PlannedReferralId(kCaseId, "medical-sexual-exploitation", 0);  // 24 h
  const std::string legal = PlannedReferralId(kCaseId, "legal-aid", 0);                      // 72 h
  const int64_t shelter_due = FindReferral(nrm.state(), shelter)->respond_by_ms();

  EXPECT_TRUE(OverdueReferrals(nrm.state(), shelter_due - 1).empty());
  EXPECT_EQ(OverdueReferrals(nrm.state(), shelter_due), std::vector<std::string>{shelter});
  ASSERT_OK(nrm.Move(kPanah, shelter, passage::v1::REFERRAL_STATUS_RECEIVED));
  EXPECT_EQ(OverdueReferrals(nrm.state(), shelter_due), std::vector<std::string>{shelter});
  ASSERT_OK(nrm.Move(kPanah, shelter, passage::v1::REFERRAL_STATUS_ACCEPTED));
  EXPECT_TRUE(OverdueReferrals(nrm.state(), shelter_due).empty());

  // Three days later the medical (24 h), psychosocial (72 h) and legal-aid (72 h) referrals are
  // overdue, in log order.
  const std::vector<std::string> overdue =
      OverdueReferrals(nrm.state(), nrm.now() + 72 * 60 * kMinuteMs);
  ASSERT_EQ(overdue.size(), 3u);
  EXPECT_EQ(overdue.front(), medical);
  EXPECT_EQ(overdue.back(), legal);
}

// ---- Ids ----

TEST(RoutingIds, StableDistinctAndValid) {
  const std::string id = PlannedReferralId(kCaseId, "womens-shelter", 0);
  EXPECT_OK(ValidateUuid(id, "id"));
  EXPECT_EQ(id[14], '4');
  // Golden value (computed independently with Python big integers; the same code gives the
  // published FNV-1a 128 vector for "a": d228cb696f1a8caf78912b704e4a8964). It must not change
  // across platforms or releases, or a replaying router would re-send referrals under new ids.
  EXPECT_EQ(id, "24171f37-0842-45cc-846d-0f9730e2b493");
  EXPECT_EQ(PlannedReferralId(kCaseId, "womens-shelter", 0), id);

  std::set<std::string> ids;
  const std::vector<std::string> cases = {kCaseId, "0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7c"};
  const std::vector<std::string> rules = {"womens-shelter", "legal-aid", "a", "ab"};
  for (const std::string& c : cases) {
    for (const std::string& r : rules) {
      for (uint32_t attempt = 0; attempt < 50; ++attempt) {
        const std::string one = PlannedReferralId(c, r, attempt);
        EXPECT_TRUE(IsValidUuid(one)) << one;
        ids.insert(one);
      }
    }
  }
  EXPECT_EQ(ids.size(), 2u * 4u * 50u);
  // Length prefixes keep field boundaries apart.
  EXPECT_NE(PlannedReferralId("ab", "c", 0), PlannedReferralId("a", "bc", 0));
}

TEST(RoutingIds, TwoReplaysPlanTheSameReferrals) {
  const RuleSet rules = SampleRules();
  std::vector<std::string> runs;
  for (int run = 0; run < 2; ++run) {
    Nrm nrm(SampleRoster());
    nrm.OpenCase(kFia, Woman(), passage::v1::CRIME_TYPE_TIP,
                 {passage::v1::CONSENT_SCOPE_SERVICES, passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT});
    std::string all;
    for (const PlannedReferral& p : nrm.Plan(rules).planned) {
      all += SerializeDeterministic(p.referral);
    }
    runs.push_back(all);
  }
  EXPECT_FALSE(runs[0].empty());
  EXPECT_EQ(runs[0], runs[1]);
}

// ---- Rule set validation ----

TEST(RoutingValidate, NamesTheRuleAndField) {
  const AgencyRoster roster = SampleRoster();
  struct Row {
    std::string name;
    std::function<void(RuleSet*)> edit;
    std::string field;
    std::string message_part;
  };
  // Sample rule order: 0 child-protection, 1 womens-shelter, 2 medical, 3 psychosocial,
  // 4 return-reintegration, 5 prosecution, 6 legal-aid.
  const std::vector<Row> rows = {
      {"missing service", [](RuleSet* s) { s->mutable_rules(2)->clear_service(); },
       "rules[2].service", "must be set"},
      {"nobody offers the service",
       [](RuleSet* s) { s->mutable_rules(2)->set_service(passage::v1::SERVICE_TYPE_LIVELIHOOD); },
       "rules[2].service", "no registered agency offers LIVELIHOOD"},
      {"nobody of the type offers it",
       [](RuleSet* s) {
         s->mutable_rules(6)->clear_agency_types();
         s->mutable_rules(6)->add_agency_types(passage::v1::AGENCY_TYPE_HEALTH);
       },
       "rules[6].service", "no registered agency of type HEALTH offers LEGAL_AID"},
      {"duplicate name", [](RuleSet* s) { s->mutable_rules(1)->set_name("child-protection"); },
       "rules[1].name", "is used twice"},
      {"name with a space", [](RuleSet* s) { s->mutable_rules(0)->set_name("child protection"); },
       "rules[0].name", "letters, digits"},
      {"empty name", [](RuleSet* s) { s->mutable_rules(0)->clear_name(); }, "rules[0].name",
       "needs a name"},
      {"services consent for the prosecutor",
       [](RuleSet* s) {
         s->mutable_rules(5)->set_consent_scope(passage::v1::CONSENT_SCOPE_SERVICES);
       },
       "rules[5].consent_scope", "'sindh-prosecution' (PROSECUTION) for PROSECUTION"},
      {"law-enforcement consent for a shelter",
       [](RuleSet* s) {
         s->mutable_rules(1)->set_consent_scope(passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT);
       },
       "rules[1].consent_scope", "cannot cover a referral to 'dastak-shelter'"},
      {"statistics consent shares nothing",
       [](RuleSet* s) {
         s->mutable_rules(6)->set_consent_scope(passage::v1::CONSENT_SCOPE_STATISTICS);
       },
       "rules[6].consent_scope", "does not allow sharing"},
      {"no consent scope", [](RuleSet* s) { s->mutable_rules(6)->clear_consent_scope(); },
       "rules[6].consent_scope", "must be set"},
      {"no deadline", [](RuleSet* s) { s->mutable_rules(3)->set_respond_within_minutes(0); },
       "rules[3].respond_within_minutes", "needs a deadline"},
      {"deadline over a year",
       [](RuleSet* s) { s->mutable_rules(3)->set_respond_within_minutes(525601); },
       "rules[3].respond_within_minutes", "at most 525600"},
      {"deadline in seconds over a year",
       [](RuleSet* s) { s->mutable_rules(3)->set_respond_within_seconds(31536001); },
       "rules[3].respond_within_seconds", "at most 31536000"},
      {"no priority", [](RuleSet* s) { s->mutable_rules(3)->clear_priority(); },
       "rules[3].priority", "must be set"},
      {"no kind", [](RuleSet* s) { s->mutable_rules(3)->clear_kind(); }, "rules[3].kind",
       "must be set"},
      {"no data scope", [](RuleSet* s) { s->mutable_rules(4)->clear_data_scope(); },
       "rules[4].data_scope", "at least one"},
      {"data scope twice",
       [](RuleSet* s) { s->mutable_rules(4)->add_data_scope(passage::v1::DATA_SECTION_PROFILE); },
       "rules[4].data_scope[4]", "listed twice"},
      {"unknown enum value",
       [](RuleSet* s) {
         s->mutable_rules(0)->add_agency_types(static_cast<passage::v1::AgencyType>(99));
       },
       "rules[0].agency_types[1]", "not a known"},
      {"bad country",
       [](RuleSet* s) { s->mutable_rules(4)->mutable_when()->add_citizenship_in("PAK1"); },
       "rules[4].when.citizenship_in[0]", "'PAK1'"},
      {"country both in and not in",
       [](RuleSet* s) {
         s->mutable_rules(4)->mutable_when()->add_citizenship_in("AF");
         s->mutable_rules(4)->mutable_when()->add_citizenship_not_in("AFG");
       },
       "rules[4].when.citizenship_not_in[0]", "could never match"},
      {"bad province",
       [](RuleSet* s) { s->mutable_rules(4)->mutable_when()->add_province_in("Sindh"); },
       "rules[4].when.province_in[0]", ""},
      {"repeated consent requirement",
       [](RuleSet* s) {
         s->mutable_rules(5)->mutable_when()->add_requires_consent(
             passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT);
       },
       "rules[5].when.requires_consent[1]", "listed twice"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    RuleSet rules = SampleRules();
    row.edit(&rules);
    const Status s = ValidateRuleSet(rules, roster);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_EQ(s.field(), row.field) << s.ToString();
    EXPECT_NE(s.message().find(row.message_part), std::string::npos) << s.ToString();
  }
  // The error reads as "<field>: <reason>".
  RuleSet rules = SampleRules();
  rules.mutable_rules(2)->clear_service();
  EXPECT_NE(ValidateRuleSet(rules, roster).ToString().find("rules[2].service: "),
            std::string::npos);
}

// ---- AgencyRoster ----

TEST(RoutingRoster, ValidatesListsInIdOrderAndUpserts) {
  passage::v1::AgencyRegistry reg = ChoiceRegistry();
  *reg.add_agencies() = reg.agencies(2);
  Result<AgencyRoster> dup = AgencyRoster::FromRegistry(reg);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().field(), "agencies[8].id");

  AgencyRoster roster = ChoiceRoster();
  EXPECT_EQ(roster.agencies().size(), 8u);
  EXPECT_TRUE(std::is_sorted(roster.agencies().begin(), roster.agencies().end(),
                             [](const Agency& a, const Agency& b) { return a.id() < b.id(); }));
  EXPECT_EQ(roster.Find("nobody"), nullptr);
  Agency changed = *roster.Find("shelter-a");
  changed.set_capacity(7);
  roster.Upsert(changed);
  roster.Upsert(MakeAgency("aaa-new", passage::v1::AGENCY_TYPE_NGO, "PK-SD", {}));
  EXPECT_EQ(roster.agencies().size(), 9u);
  EXPECT_EQ(roster.agencies().front().id(), "aaa-new");
  EXPECT_EQ(roster.Find("shelter-a")->capacity(), 7u);
}

}  // namespace
}  // namespace passage::core
