// End-to-end tests of the referral pipeline flows (issue 4 §9) through the real processes: intake
// at an identification node, automatic referral by passage-router, automatic receipt and
// accept/decline policy at protection and prosecution nodes, deadlines and escalation, an agency
// that is offline and catches up, consent withdrawal, and a prosecution through to verdict.
//
// Assertions read what an operator would see: the recipient's inbox and the router's journey of the
// case (JSON), both through the nodes' control sockets.

#include <gtest/gtest.h>

#include <set>

#include "tests/e2e/nrm_harness.h"

namespace passage::e2e {
namespace {

// Adult women exploited sexually -> a women's shelter.
v1::RoutingRule WomensShelterRule(uint32_t seconds = 600, bool prefer_same_region = true) {
  auto r = Rule("womens-shelter", v1::SERVICE_TYPE_SHELTER, v1::PRIORITY_URGENT, seconds,
                {v1::AGENCY_TYPE_SHELTER});
  r.mutable_when()->set_majority(v1::MAJORITY_STATUS_ADULT);
  r.mutable_when()->add_sex_in(v1::SEX_FEMALE);
  r.mutable_when()->add_any_exploitation(v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION);
  r.set_prefer_same_region(prefer_same_region);
  return r;
}

// Children -> child protection, emergency.
v1::RoutingRule ChildProtectionRule(uint32_t seconds = 600) {
  auto r = Rule("child-protection", v1::SERVICE_TYPE_CHILD_PROTECTION, v1::PRIORITY_EMERGENCY,
                seconds, {v1::AGENCY_TYPE_CHILD_PROTECTION});
  r.mutable_when()->set_majority(v1::MAJORITY_STATUS_MINOR);
  r.set_prefer_same_region(true);
  return r;
}

v1::RuleSet Rules(std::initializer_list<v1::RoutingRule> rules) {
  v1::RuleSet set;
  for (const auto& r : rules) *set.add_rules() = r;
  return set;
}

const v1::Referral* InboxFor(const std::vector<v1::Referral>& inbox, const std::string& case_id) {
  for (const auto& r : inbox) {
    if (r.case_id() == case_id) return &r;
  }
  return nullptr;
}

bool HasReferralTo(const JourneyView& j, const std::string& agency, const std::string& status) {
  for (const auto* r : j.To(agency)) {
    if (r->status == status) return true;
  }
  return false;
}

// ---- 1. intake -> automatic referral -> RECEIVED -> ACCEPTED by policy ---------------------------

TEST(E2eFlows, IntakeIsReferredReceivedAndAcceptedByPolicy) {
  Nrm nrm({FirstResponder("fia-karachi"),
           Protection("panah-shelter", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER}),
           Protection("sindh-cpu", v1::AGENCY_TYPE_CHILD_PROTECTION,
                      {v1::SERVICE_TYPE_CHILD_PROTECTION})},
          Rules({ChildProtectionRule(), WomensShelterRule()}));
  ASSERT_TRUE(nrm.Start());

  auto woman = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(woman.ok()) << woman.status().ToString();
  auto child = nrm.Intake("fia-karachi", MinorInChildLabour());
  ASSERT_TRUE(child.ok()) << child.status().ToString();

  // The woman: a shelter referral, received and accepted by the shelter's policy.
  JourneyView jw;
  ASSERT_TRUE(nrm.WaitJourney(*woman, [](const JourneyView& j) {
    return HasReferralTo(j, "panah-shelter", "ACCEPTED");
  }, &jw, "the shelter referral to be accepted"));
  ASSERT_EQ(jw.referrals.size(), 1u) << jw.Summary();  // no child protection for an adult
  const auto& rs = jw.referrals[0];
  EXPECT_EQ(rs.from_agency, "fia-karachi");  // on behalf of the case owner
  EXPECT_EQ(rs.service, "SHELTER");
  EXPECT_EQ(rs.priority, "URGENT");
  EXPECT_EQ(rs.StepNames(), (std::vector<std::string>{"SENT", "RECEIVED", "ACCEPTED"}));
  EXPECT_EQ(rs.steps[1].by_agency, "panah-shelter");
  EXPECT_EQ(rs.steps[2].by_agency, "panah-shelter");
  EXPECT_TRUE(jw.HasStage("PROTECTION")) << jw.Summary();

  std::vector<v1::Referral> inbox;
  ASSERT_TRUE(nrm.WaitInbox("panah-shelter", [&](const std::vector<v1::Referral>& in) {
    const auto* r = InboxFor(in, *woman);
    return r != nullptr && r->status() == v1::REFERRAL_STATUS_ACCEPTED;
  }, &inbox, "the accepted shelter referral"));
  const auto* in_shelter = InboxFor(inbox, *woman);
  EXPECT_EQ(in_shelter->referral_id(), rs.referral_id);
  EXPECT_EQ(in_shelter->from_agency(), "fia-karachi");
  EXPECT_EQ(in_shelter->to_agency(), "panah-shelter");
  EXPECT_EQ(in_shelter->service(), v1::SERVICE_TYPE_SHELTER);
  EXPECT_EQ(in_shelter->priority(), v1::PRIORITY_URGENT);
  EXPECT_EQ(in_shelter->reason(), "womens-shelter");
  EXPECT_FALSE(in_shelter->consent_id().empty());  // relies on the SERVICES consent
  EXPECT_GT(in_shelter->respond_by_ms(), 0);
  EXPECT_EQ(InboxFor(inbox, *child), nullptr) << "the shelter must not get the child's case";

  // The child: child protection, EMERGENCY, accepted by the CPU's policy.
  JourneyView jc;
  ASSERT_TRUE(nrm.WaitJourney(*child, [](const JourneyView& j) {
    return HasReferralTo(j, "sindh-cpu", "ACCEPTED");
  }, &jc, "the child-protection referral to be accepted"));
  ASSERT_EQ(jc.referrals.size(), 1u) << jc.Summary();
  EXPECT_EQ(jc.referrals[0].service, "CHILD_PROTECTION");
  EXPECT_EQ(jc.referrals[0].priority, "EMERGENCY");
  EXPECT_EQ(jc.referrals[0].StepNames(), (std::vector<std::string>{"SENT", "RECEIVED", "ACCEPTED"}));

  ASSERT_TRUE(nrm.WaitInbox("sindh-cpu", [&](const std::vector<v1::Referral>& in) {
    const auto* r = InboxFor(in, *child);
    return r != nullptr && r->status() == v1::REFERRAL_STATUS_ACCEPTED;
  }, &inbox, "the accepted child-protection referral"));
  const auto* in_cpu = InboxFor(inbox, *child);
  EXPECT_EQ(in_cpu->priority(), v1::PRIORITY_EMERGENCY);
  EXPECT_EQ(in_cpu->service(), v1::SERVICE_TYPE_CHILD_PROTECTION);
  EXPECT_EQ(in_cpu->reason(), "child-protection");
  EXPECT_EQ(InboxFor(inbox, *woman), nullptr) << "the CPU must not get the adult's case";
}

// ---- 2. a declined referral escalates to the next shelter --------------------------------------

TEST(E2eFlows, DeclinedReferralEscalatesToNextShelter) {
  // shelter-a (same region as the cases, comes first) has one place; it is offline while both
  // cases are referred to it, so both referrals reach it before it accepts either.
  AgencySpec a = Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER},
                            /*capacity=*/1);
  a.start = false;
  AgencySpec b = Protection("shelter-b", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER});
  b.region = "PK-PB";
  Nrm nrm({FirstResponder("fia-karachi"), a, b}, Rules({WomensShelterRule()}));
  ASSERT_TRUE(nrm.Start());

  auto c1 = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited(false, 22));
  ASSERT_TRUE(c1.ok()) << c1.status().ToString();
  auto c2 = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited(false, 31));
  ASSERT_TRUE(c2.ok()) << c2.status().ToString();
  for (const auto& id : {*c1, *c2}) {
    ASSERT_TRUE(nrm.WaitJourney(id, [](const JourneyView& j) {
      return HasReferralTo(j, "shelter-a", "SENT");
    }, nullptr, "a referral to shelter-a"));
  }

  ASSERT_TRUE(nrm.StartNode("shelter-a"));

  // One is accepted (the one place), the other declined for capacity.
  std::vector<v1::Referral> inbox;
  ASSERT_TRUE(nrm.WaitInbox("shelter-a", [](const std::vector<v1::Referral>& in) {
    int decided = 0;
    for (const auto& r : in) {
      decided += r.status() == v1::REFERRAL_STATUS_ACCEPTED || r.status() == v1::REFERRAL_STATUS_REJECTED;
    }
    return in.size() == 2 && decided == 2;
  }, &inbox, "shelter-a to decide both referrals"));
  const v1::Referral* accepted = nullptr;
  const v1::Referral* rejected = nullptr;
  for (const auto& r : inbox) {
    (r.status() == v1::REFERRAL_STATUS_ACCEPTED ? accepted : rejected) = &r;
  }
  ASSERT_NE(accepted, nullptr) << "shelter-a (capacity 1) accepted nothing";
  ASSERT_NE(rejected, nullptr) << "shelter-a (capacity 1) accepted both referrals";
  EXPECT_EQ(rejected->status(), v1::REFERRAL_STATUS_REJECTED);
  EXPECT_EQ(rejected->status_reason(), v1::REJECT_REASON_CAPACITY_FULL);
  const std::string rejected_id = rejected->referral_id();
  const std::string rejected_case = rejected->case_id();
  const std::string accepted_case = accepted->case_id();

  // The router re-refers the declined case to shelter-b, child of the rejected referral.
  JourneyView j;
  ASSERT_TRUE(nrm.WaitJourney(rejected_case, [](const JourneyView& j) {
    return HasReferralTo(j, "shelter-b", "ACCEPTED");
  }, &j, "the escalation to shelter-b to be accepted"));
  ASSERT_EQ(j.referrals.size(), 2u) << j.Summary();
  const auto* first = j.Find(rejected_id);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->status, "REJECTED");
  EXPECT_EQ(first->status_reason, "CAPACITY_FULL");
  EXPECT_EQ(first->StepNames(), (std::vector<std::string>{"SENT", "RECEIVED", "REJECTED"}));
  auto to_b = j.To("shelter-b");
  ASSERT_EQ(to_b.size(), 1u);
  EXPECT_EQ(to_b[0]->parent_referral_id, rejected_id);
  EXPECT_EQ(first->child_referral_ids, std::vector<std::string>{to_b[0]->referral_id});
  EXPECT_EQ(to_b[0]->priority, first->priority) << "a decline escalates at the same priority";
  EXPECT_EQ(to_b[0]->from_agency, "fia-karachi");

  std::vector<v1::Referral> inbox_b;
  ASSERT_TRUE(nrm.WaitInbox("shelter-b", [&](const std::vector<v1::Referral>& in) {
    const auto* r = InboxFor(in, rejected_case);
    return r != nullptr && r->status() == v1::REFERRAL_STATUS_ACCEPTED;
  }, &inbox_b, "shelter-b to accept the escalated referral"));
  EXPECT_EQ(InboxFor(inbox_b, rejected_case)->parent_referral_id(), rejected_id);

  // The accepted case stays with shelter-a alone.
  auto ja = nrm.Journey(accepted_case);
  ASSERT_TRUE(ja.has_value());
  EXPECT_EQ(ja->referrals.size(), 1u) << ja->Summary();
  EXPECT_TRUE(ja->To("shelter-b").empty());
}

// ---- 3. a missed deadline: EXPIRED, escalated one priority higher, then no agency left ------------

TEST(E2eFlows, MissedDeadlineExpiresAndEscalatesWithHigherPriority) {
  // Two IOM offices whose case workers never answer (no auto accept); 2-second deadlines.
  AgencySpec a = Protection("iom-karachi", v1::AGENCY_TYPE_INTERNATIONAL_ORGANISATION,
                            {v1::SERVICE_TYPE_RETURN_REINTEGRATION}, 0, /*auto_accept=*/false);
  AgencySpec b = Protection("iom-islamabad", v1::AGENCY_TYPE_INTERNATIONAL_ORGANISATION,
                            {v1::SERVICE_TYPE_RETURN_REINTEGRATION}, 0, /*auto_accept=*/false);
  b.region = "PK-IS";
  auto rule = Rule("return-reintegration", v1::SERVICE_TYPE_RETURN_REINTEGRATION,
                   v1::PRIORITY_ROUTINE, /*seconds=*/2, {v1::AGENCY_TYPE_INTERNATIONAL_ORGANISATION});
  rule.mutable_when()->add_crime_type_in(v1::CRIME_TYPE_SOM);
  rule.mutable_when()->set_requires_wish_to_return(true);
  rule.set_prefer_same_region(true);
  Nrm nrm({FirstResponder("fia-karachi"), a, b}, Rules({rule}));
  ASSERT_TRUE(nrm.Start());

  auto in = AdultWomanSexuallyExploited();
  in.set_crime_type(v1::CRIME_TYPE_SOM);
  in.set_person_role(v1::PERSON_ROLE_SMUGGLED_MIGRANT);
  in.mutable_profile()->clear_exploitation_forms();
  in.mutable_profile()->add_citizenship("AF");
  in.mutable_profile()->set_wishes_to_return(true);
  in.mutable_profile()->set_identification_channel(v1::IDENTIFICATION_CHANNEL_BORDER);
  auto c = nrm.Intake("fia-karachi", in);
  ASSERT_TRUE(c.ok()) << c.status().ToString();

  // R1 to iom-karachi is received, never answered, and expires; R2 goes to iom-islamabad, URGENT.
  JourneyView j;
  ASSERT_TRUE(nrm.WaitJourney(*c, [](const JourneyView& j) {
    return HasReferralTo(j, "iom-karachi", "EXPIRED") && !j.To("iom-islamabad").empty();
  }, &j, "expiry of R1 and its escalation"));
  auto r1s = j.To("iom-karachi");
  ASSERT_EQ(r1s.size(), 1u) << j.Summary();
  const auto r1 = *r1s[0];
  EXPECT_EQ(r1.priority, "ROUTINE");
  EXPECT_EQ(r1.StepNames(), (std::vector<std::string>{"SENT", "RECEIVED", "EXPIRED"}));
  EXPECT_EQ(r1.steps.back().by_agency, kRouterId);
  EXPECT_GE(r1.steps.back().at_ms, r1.respond_by_ms) << "expired before its respond-by time";
  const auto r2 = *j.To("iom-islamabad")[0];
  EXPECT_EQ(r2.parent_referral_id, r1.referral_id);
  EXPECT_EQ(r2.priority, "URGENT") << "an expiry escalates one priority step higher";
  EXPECT_EQ(r2.service, "RETURN_REINTEGRATION");

  // The expired referral is in the first office's inbox as EXPIRED.
  ASSERT_TRUE(nrm.WaitInbox("iom-karachi", [&](const std::vector<v1::Referral>& in) {
    const auto* r = InboxFor(in, *c);
    return r != nullptr && r->status() == v1::REFERRAL_STATUS_EXPIRED;
  }, nullptr, "R1 shown as EXPIRED"));

  // R2 expires too; no agency is left, so the router reports that and sends nothing more.
  ASSERT_TRUE(nrm.WaitJourney(*c, [&](const JourneyView& j) {
    const auto* x = j.Find(r2.referral_id);
    return x != nullptr && x->status == "EXPIRED";
  }, &j, "expiry of R2"));
  ASSERT_TRUE(WaitUntil("the router to report that no agency is left for R2", [&] {
    std::string log = nrm.Log(kRouterId);
    auto at = log.find("no escalation for referral " + r2.referral_id);
    if (at == std::string::npos) return false;
    std::string line = log.substr(at, log.find('\n', at) - at);
    return line.find("no agency is left") != std::string::npos;
  }, kWaitMs, [&] { return nrm.Log(kRouterId); }));
  ASSERT_TRUE(nrm.Settle(1000));
  j = *nrm.Journey(*c);
  EXPECT_EQ(j.referrals.size(), 2u) << j.Summary();
  EXPECT_EQ(j.Find(r2.referral_id)->StepNames(),
            (std::vector<std::string>{"SENT", "RECEIVED", "EXPIRED"}));
}

// ---- 4. an agency offline catches up ------------------------------------------------------------

TEST(E2eFlows, OfflineAgencyCatchesUpAndReceivesEachReferralOnce) {
  constexpr int kCases = 20;
  auto rule = Rule("legal-aid", v1::SERVICE_TYPE_LEGAL_AID, v1::PRIORITY_ROUTINE, 3600,
                   {v1::AGENCY_TYPE_LEGAL_AID});
  Nrm nrm({FirstResponder("fia-karachi"),
           Protection("lhrla-legal-aid", v1::AGENCY_TYPE_LEGAL_AID, {v1::SERVICE_TYPE_LEGAL_AID}, 0,
                      /*auto_accept=*/false)},
          Rules({rule}));
  ASSERT_TRUE(nrm.Start());
  nrm.StopNode("lhrla-legal-aid");

  std::vector<std::string> cases;
  for (int i = 0; i < kCases; ++i) {
    auto c = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited(false, 18 + i));
    ASSERT_TRUE(c.ok()) << "intake " << i << ": " << c.status().ToString();
    cases.push_back(*c);
  }
  // The router refers every case while the agency is offline.
  std::map<std::string, std::string> referral_of;  // case -> referral
  ASSERT_TRUE(WaitUntil("a referral of every case to the offline agency", [&] {
    for (const auto& id : cases) {
      if (referral_of.count(id)) continue;
      auto j = nrm.Journey(id);
      if (!j || j->To("lhrla-legal-aid").empty()) return false;
      referral_of[id] = j->To("lhrla-legal-aid")[0]->referral_id;
    }
    return true;
  }, kWaitMs, [&] { return std::to_string(referral_of.size()) + " of " + std::to_string(kCases); }));
  for (const auto& id : cases) {
    auto j = nrm.Journey(id);
    ASSERT_TRUE(j.has_value());
    EXPECT_EQ(j->To("lhrla-legal-aid")[0]->status, "SENT") << "moved while the agency was offline";
  }

  // Back online: it receives all of them.
  ASSERT_TRUE(nrm.StartNode("lhrla-legal-aid"));
  std::vector<v1::Referral> inbox;
  ASSERT_TRUE(nrm.WaitInbox("lhrla-legal-aid", [&](const std::vector<v1::Referral>& in) {
    return in.size() == kCases &&
           std::all_of(in.begin(), in.end(), [](const v1::Referral& r) {
             return r.status() == v1::REFERRAL_STATUS_RECEIVED;
           });
  }, &inbox, "every referral RECEIVED"));
  std::set<std::string> ids;
  for (const auto& r : inbox) {
    ids.insert(r.referral_id());
    EXPECT_EQ(referral_of[r.case_id()], r.referral_id());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kCases));

  // A restart after catching up must not receive anything twice.
  ASSERT_TRUE(nrm.RestartNode("lhrla-legal-aid"));
  ASSERT_TRUE(nrm.Settle(1500));

  for (const auto& id : cases) {
    auto j = nrm.Journey(id);
    ASSERT_TRUE(j.has_value());
    ASSERT_EQ(j->referrals.size(), 1u) << j->Summary();
    const auto& r = j->referrals[0];
    EXPECT_EQ(r.CountSteps("RECEIVED"), 1) << j->Summary();
    EXPECT_EQ(r.StepNames(), (std::vector<std::string>{"SENT", "RECEIVED"})) << j->Summary();
    EXPECT_EQ(r.steps[1].by_agency, "lhrla-legal-aid");
    EXPECT_GT(r.steps[1].global_seq, r.steps[0].global_seq);
    // The agency's own journal of the case: in case order, the referral before its receipt.
    auto mine = nrm.Journey(id, "lhrla-legal-aid");
    ASSERT_TRUE(mine.has_value()) << "the agency cannot tell the journey of case " << id;
    int sent_at = -1, received_at = -1, received = 0;
    for (size_t k = 0; k < mine->entries.size(); ++k) {
      const auto& e = mine->entries[k];
      if (k > 0) {
        EXPECT_GT(e.case_seq, mine->entries[k - 1].case_seq) << "out of case order in " << id;
        EXPECT_GT(e.global_seq, mine->entries[k - 1].global_seq);
      }
      if (e.event == "referral_sent" && e.referral_id == r.referral_id) sent_at = static_cast<int>(k);
      if (e.event == "referral_transition" && e.referral_id == r.referral_id &&
          e.text.find("received") != std::string::npos) {
        received_at = static_cast<int>(k);
        ++received;
      }
    }
    EXPECT_GE(sent_at, 0) << "the agency's journal lacks the referral of case " << id;
    EXPECT_GT(received_at, sent_at);
    EXPECT_EQ(received, 1);
  }
}

// ---- 5. withdrawn consent cancels live referrals --------------------------------------------------

TEST(E2eFlows, WithdrawnConsentCancelsLiveReferralsAndStopsRouting) {
  auto medical = Rule("medical-care", v1::SERVICE_TYPE_MEDICAL, v1::PRIORITY_ROUTINE, 3600,
                      {v1::AGENCY_TYPE_HEALTH});
  medical.mutable_when()->add_any_exploitation(v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION);
  Nrm nrm({FirstResponder("fia-karachi"),
           Protection("panah-shelter", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER}),
           Protection("civil-hospital", v1::AGENCY_TYPE_HEALTH, {v1::SERVICE_TYPE_MEDICAL}, 0,
                      /*auto_accept=*/false)},
          Rules({WomensShelterRule(), medical}));
  ASSERT_TRUE(nrm.Start());

  auto c = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  JourneyView j;
  ASSERT_TRUE(nrm.WaitJourney(*c, [](const JourneyView& j) {
    return HasReferralTo(j, "panah-shelter", "ACCEPTED") &&
           HasReferralTo(j, "civil-hospital", "RECEIVED");
  }, &j, "an accepted shelter referral and a received medical referral"));
  ASSERT_EQ(j.referrals.size(), 2u) << j.Summary();

  // The owner's view of the case gives the consent id.
  std::string consent_id;
  for (const auto& s : nrm.Cases("fia-karachi")) {
    if (s.case_id() == *c && s.consents_size() == 1) consent_id = s.consents(0).consent_id();
  }
  ASSERT_FALSE(consent_id.empty()) << "the owner does not list the case's consent";

  v1::Event w;
  w.set_case_id(*c);
  w.mutable_consent_withdrawn()->set_consent_id(consent_id);
  w.mutable_consent_withdrawn()->set_scope(v1::CONSENT_SCOPE_SERVICES);
  auto pr = nrm.Publish("fia-karachi", w);
  ASSERT_TRUE(pr.ok()) << pr.status().ToString();
  ASSERT_EQ(pr->code(), v1::CONTROL_CODE_OK) << Describe(*pr);

  ASSERT_TRUE(nrm.WaitJourney(*c, [](const JourneyView& j) {
    return std::all_of(j.referrals.begin(), j.referrals.end(),
                       [](const JourneyReferralView& r) { return r.status == "CANCELLED"; });
  }, &j, "every live referral CANCELLED"));
  for (const auto& r : j.referrals) {
    EXPECT_EQ(r.steps.back().by_agency, kRouterId) << r.referral_id;
    bool because_consent = false;
    for (const auto& e : j.entries) {
      if (e.event == "referral_transition" && e.referral_id == r.referral_id &&
          e.text.find("withdrew consent") != std::string::npos) {
        because_consent = true;
      }
    }
    EXPECT_TRUE(because_consent) << "referral " << r.referral_id
                                 << " was not cancelled as consent_withdrawn";
  }
  std::vector<v1::Referral> inbox;
  for (const std::string agency : {"panah-shelter", "civil-hospital"}) {
    ASSERT_TRUE(nrm.WaitInbox(agency, [&](const std::vector<v1::Referral>& in) {
      const auto* r = InboxFor(in, *c);
      return r != nullptr && r->status() == v1::REFERRAL_STATUS_CANCELLED;
    }, &inbox, "the referral shown as CANCELLED"));
    EXPECT_NE(InboxFor(inbox, *c)->status_note().find("withdrew consent"), std::string::npos)
        << agency << ": " << InboxFor(inbox, *c)->status_note();
  }

  // No new referral for the case: not now, not after the router replays the log on a restart.
  ASSERT_TRUE(nrm.Settle(1500));
  j = *nrm.Journey(*c);
  EXPECT_EQ(j.referrals.size(), 2u) << j.Summary();
  ASSERT_TRUE(nrm.RestartNode(kRouterId));
  ASSERT_TRUE(nrm.Settle(1500));
  j = *nrm.Journey(*c);
  EXPECT_EQ(j.referrals.size(), 2u) << j.Summary();
  EXPECT_FALSE(HasReferralTo(j, "panah-shelter", "SENT"));

  // And nobody can refer the case on the withdrawn consent by hand.
  v1::Event manual;
  manual.set_case_id(*c);
  auto* r = manual.mutable_referral_sent()->mutable_referral();
  r->set_referral_id(core::NewUuidV7());
  r->set_case_id(*c);
  r->set_kind(v1::REFERRAL_KIND_REFERRAL);
  r->set_from_agency("fia-karachi");
  r->set_to_agency("panah-shelter");
  r->set_service(v1::SERVICE_TYPE_SHELTER);
  r->set_reason("manual");
  r->set_priority(v1::PRIORITY_URGENT);
  r->set_respond_by_ms(NowMs() + 3600 * 1000);
  r->add_data_scope(v1::DATA_SECTION_PROFILE);
  r->set_consent_id(consent_id);
  auto refused = nrm.Publish("fia-karachi", manual);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->code(), v1::CONTROL_CODE_REFUSED) << Describe(*refused);
  EXPECT_NE(refused->field().find("consent_id"), std::string::npos) << Describe(*refused);
}

// ---- 6. prosecution through to verdict ------------------------------------------------------------

TEST(E2eFlows, ProsecutionThroughToVerdict) {
  auto rule = Rule("prosecution", v1::SERVICE_TYPE_PROSECUTION, v1::PRIORITY_ROUTINE, 3600,
                   {v1::AGENCY_TYPE_PROSECUTION}, v1::CONSENT_SCOPE_LAW_ENFORCEMENT);
  rule.mutable_when()->add_crime_type_in(v1::CRIME_TYPE_TIP);
  rule.mutable_when()->add_requires_consent(v1::CONSENT_SCOPE_LAW_ENFORCEMENT);
  Nrm nrm({FirstResponder("fia-karachi"), Prosecution("sindh-prosecution")}, Rules({rule}));
  ASSERT_TRUE(nrm.Start());

  auto c = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited(/*law_enforcement_consent=*/true));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  JourneyView j;
  ASSERT_TRUE(nrm.WaitJourney(*c, [](const JourneyView& j) {
    return HasReferralTo(j, "sindh-prosecution", "ACCEPTED");
  }, &j, "the prosecutor to accept by policy"));
  ASSERT_EQ(j.referrals.size(), 1u) << j.Summary();
  const std::string ref = j.referrals[0].referral_id;
  EXPECT_FALSE(j.HasStage("CRIMINAL_JUSTICE"));

  auto act = nrm.Act("sindh-prosecution", ref, v1::REFERRAL_STATUS_IN_PROGRESS);
  ASSERT_TRUE(act.ok());
  ASSERT_EQ(act->code(), v1::CONTROL_CODE_OK) << Describe(*act);

  const v1::ProceedingMilestone steps[] = {
      v1::PROCEEDING_MILESTONE_FIR_REGISTERED, v1::PROCEEDING_MILESTONE_INVESTIGATION_OPENED,
      v1::PROCEEDING_MILESTONE_CHARGE_FILED, v1::PROCEEDING_MILESTONE_TRIAL_STARTED,
      v1::PROCEEDING_MILESTONE_VERDICT_CONVICTION};
  for (auto m : steps) {
    v1::Event e;
    e.set_case_id(*c);
    auto* p = e.mutable_criminal_proceeding_updated()->mutable_proceeding();
    p->set_milestone(m);
    p->set_agency_id("sindh-prosecution");
    p->set_reference("ATC-KHI-2026-17");
    auto r = nrm.Publish("sindh-prosecution", e);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->code(), v1::CONTROL_CODE_OK)
        << v1::ProceedingMilestone_Name(m) << ": " << Describe(*r);
    if (m == v1::PROCEEDING_MILESTONE_FIR_REGISTERED) {
      ASSERT_TRUE(nrm.WaitJourney(*c, [](const JourneyView& j) {
        return j.HasStage("CRIMINAL_JUSTICE");
      }, nullptr, "the case to enter CRIMINAL_JUSTICE"));
    }
  }
  act = nrm.Act("sindh-prosecution", ref, v1::REFERRAL_STATUS_COMPLETED,
                "conviction; sentence 7 years");
  ASSERT_TRUE(act.ok());
  ASSERT_EQ(act->code(), v1::CONTROL_CODE_OK) << Describe(*act);

  ASSERT_TRUE(nrm.WaitJourney(*c, [&](const JourneyView& j) {
    const auto* r = j.Find(ref);
    return r != nullptr && r->status == "COMPLETED";
  }, &j, "the prosecution referral COMPLETED"));
  const auto* r = j.Find(ref);
  EXPECT_EQ(r->outcome, "conviction; sentence 7 years");
  EXPECT_EQ(r->StepNames(), (std::vector<std::string>{"SENT", "RECEIVED", "ACCEPTED", "IN_PROGRESS",
                                                      "COMPLETED"}));
  EXPECT_FALSE(j.HasStage("CRIMINAL_JUSTICE")) << "still in criminal justice after the verdict";
  int entered = 0;
  for (const auto& s : j.stage_intervals) {
    if (s.stage == "CRIMINAL_JUSTICE") {
      ++entered;
      EXPECT_FALSE(s.ongoing);
      EXPECT_GE(s.to_ms, s.from_ms);
    }
  }
  EXPECT_EQ(entered, 1) << "CRIMINAL_JUSTICE should be entered and left once";
  int milestones = 0;
  for (const auto& e : j.entries) {
    if (e.event == "criminal_proceeding_updated") {
      ++milestones;
      EXPECT_EQ(e.agency, "sindh-prosecution");
    }
  }
  EXPECT_EQ(milestones, 5);

  // The prosecutor's inbox shows it completed, with the outcome.
  ASSERT_TRUE(nrm.WaitInbox("sindh-prosecution", [&](const std::vector<v1::Referral>& in) {
    const auto* x = InboxFor(in, *c);
    return x != nullptr && x->status() == v1::REFERRAL_STATUS_COMPLETED &&
           x->outcome() == "conviction; sentence 7 years";
  }, nullptr, "the completed referral with its outcome"));
}

}  // namespace
}  // namespace passage::e2e

namespace passage::e2e {
namespace {

// An export is a read of case data: the router's CTDC export records each exported case in the log
// before it hands the file out, and the file carries no sealed field.
TEST(E2eFlows, CtdcExportIsKAnonymousAndRecordedAsAnAccess) {
  NrmOptions o;
  o.min_k = 1;  // this NRM's policy allows a class of one, so the single case shows as a row
  Nrm nrm({FirstResponder("fia-karachi")}, Rules({}), o);
  ASSERT_TRUE(nrm.Start());
  auto c = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited(/*law_enforcement_consent=*/false));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  JourneyView j;
  ASSERT_TRUE(nrm.WaitJourney(*c, [](const JourneyView& v) { return !v.entries.empty(); }, &j,
                              "the router to know the case"));
  v1::ControlRequest req;
  req.mutable_export_ctdc()->set_k(1);  // one case: no suppression, so the row is there
  auto r = nrm.Call(kRouterId, req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->code(), v1::CONTROL_CODE_OK) << r->reason();
  {
    // Under the default policy (k >= 5) the same export is refused, naming k.
    Nrm strict({FirstResponder("fia-karachi")}, Rules({}));
    ASSERT_TRUE(strict.Start());
    auto refused = strict.Call(kRouterId, req);
    ASSERT_TRUE(refused.ok());
    EXPECT_EQ(refused->code(), v1::CONTROL_CODE_REFUSED) << refused->reason();
    EXPECT_EQ(refused->field(), "k");
  }
  r = nrm.Call(kRouterId, req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->code(), v1::CONTROL_CODE_OK) << r->reason();
  EXPECT_NE(r->text().find("yearOfRegistration;"), std::string::npos);
  EXPECT_NE(r->text().find("Female"), std::string::npos);
  EXPECT_EQ(r->text().find("Synthetic"), std::string::npos);  // the intake's name: never exported
  const std::string journey = nrm.JourneyText(*c);  // the coordinator's view: the whole log
  EXPECT_NE(journey.find("export (CTDC, k=1)"), std::string::npos) << journey;
}

}  // namespace
}  // namespace passage::e2e
