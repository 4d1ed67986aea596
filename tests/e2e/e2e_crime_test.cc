// End-to-end tests of the crime side of a case (offences, suspects and accused, smuggling details)
// through the real processes, driven the way police investigators and prosecutors drive them:
// passagectl signed in on their agency's node (offence, offence-status, suspect, accused,
// smuggling, refer, cases, journey).
//
// 1. An investigator at a law-enforcement first responder records an offence, a suspect with an
//    identity file, and takes the accused from arrest to a conviction and an appeal.
// 2. Bad input is refused with the field at fault, and nothing of it is recorded.
// 3. The crime side reaches a prosecution service that accepted a referral sharing it, never a
//    shelter, whatever the consent or an override; the suspect's identity is sealed for law
//    enforcement and prosecution only.

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "core/codes.h"
#include "tests/e2e/desk.h"
#include "tests/e2e/nrm_harness.h"

namespace passage::e2e {
namespace {

constexpr const char* kFia = "fia-karachi";
constexpr const char* kShelter = "dastak-shelter";
constexpr const char* kProsecution = "sindh-prosecution";

const v1::Suspect* SuspectOf(const v1::CaseState& c, const std::string& id) {
  for (const auto& s : c.suspects()) {
    if (s.suspect_id() == id) return &s;
  }
  return nullptr;
}

const v1::Offence* OffenceOf(const v1::CaseState& c, const std::string& id) {
  for (const auto& o : c.offences()) {
    if (o.offence_id() == id) return &o;
  }
  return nullptr;
}

std::set<std::string> KeyHolders(const v1::Suspect& s) {
  std::set<std::string> out;
  for (const auto& k : s.identity().wrapped_keys()) out.insert(k.agency_id());
  return out;
}

constexpr const char* kIdentity = R"(# the suspect, as the FIR names him (synthetic)
given_name: "Imran"
family_name: "Synthetic-Khan"
other_names: "Billa"
cnic: "42101-1234567-1"
narrative: "Recruited the victim in Hyderabad with a promise of domestic work."
)";

// ---- 1. an investigation through to a conviction and an appeal
// -------------------------------------

TEST(E2eCrime, AnInvestigatorRecordsAnOffenceASuspectAndAConvictionThroughPassagectl) {
  Nrm nrm({FirstResponder(kFia)}, v1::RuleSet());
  ASSERT_TRUE(nrm.Start());
  Desk desk(nrm);
  ASSERT_TRUE(desk.SignIn(kFia));

  // The investigator opens the victim's case.
  std::string intake_json;
  ASSERT_TRUE(
      google::protobuf::util::MessageToJsonString(AdultWomanSexuallyExploited(true), &intake_json)
          .ok());
  CtlProc p =
      desk.Run(kFia, {"--json", "intake", "--file", desk.WriteFile("victim.json", intake_json)});
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string case_id = JsonField(p.out, "case_id");
  ASSERT_FALSE(case_id.empty()) << p.out;
  v1::CaseState c;
  ASSERT_TRUE(desk.WaitCase(
      kFia, case_id, [](const v1::CaseState&) { return true; }, &c, "the new case"));
  // By its reference, as it is read out on the phone (the node resolves it).
  ASSERT_FALSE(c.reference().empty()) << c.ShortDebugString();
  const std::string case_arg = c.reference();

  // The FIR.
  p = desk.Run(kFia,
               {"--json", "offence", case_arg, "--fir", "112/2026", "--station", "FIA AHTC Karachi",
                "--province", "PK-SD", "--district", "Karachi South", "--registered", Today(),
                "--sections", "PTPA-2018-3,PPC-370", "--crime", "tip"});
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string offence = JsonField(p.out, "offence_id");
  ASSERT_FALSE(offence.empty()) << p.out;
  EXPECT_FALSE(JsonField(p.out, "event_id").empty()) << p.out;
  p = desk.Run(kFia, {"offence-status", case_arg, offence, "under_investigation"});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("moved offence " + offence + " to UNDER_INVESTIGATION"), std::string::npos)
      << p.out;

  // The suspect, his identity from a file (never an argument).
  const std::string identity = desk.WriteFile("suspect.txtpb", kIdentity);
  p = desk.Run(
      kFia, {"--json", "suspect", case_arg, offence, "--sex", "male", "--role",
             "recruiter,transporter", "--age-band", "30-38", "--majority", "adult", "--citizenship",
             "PK,AF", "--organised-group", "yes", "--identity-file", identity});
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string suspect = JsonField(p.out, "suspect_id");
  ASSERT_FALSE(suspect.empty()) << p.out;
  EXPECT_EQ(JsonField(p.out, "offence_id"), offence);
  EXPECT_EQ(p.out.find("Imran"), std::string::npos) << "the identity is never echoed: " << p.out;

  // Arrested, charged, convicted; an appeal filed and decided.
  const std::vector<std::vector<std::string>> steps = {
      {"arrested", "--on", Today()},
      {"charged", "--sections", "PTPA-2018-3"},
      {"convicted", "--months", "84", "--fine", "500000", "--currency", "PKR"},
      {"appeal_filed"},
      {"appeal_decided", "--appeal-outcome", "upheld"},
  };
  for (const auto& step : steps) {
    std::vector<std::string> args = {"accused", case_arg, suspect};
    args.insert(args.end(), step.begin(), step.end());
    p = desk.Run(kFia, args);
    ASSERT_EQ(p.code, 0) << step[0] << ": " << p.err;
    std::string words = step[0];
    std::replace(words.begin(), words.end(), '_', ' ');
    EXPECT_NE(p.out.find("recorded " + words + " for suspect " + suspect), std::string::npos)
        << p.out;
  }

  // The agency's own view of the case shows it all.
  ASSERT_TRUE(desk.WaitCase(
      kFia, case_id,
      [&](const v1::CaseState& s) {
        const auto* x = SuspectOf(s, suspect);
        return x != nullptr && x->appeal_outcome() == v1::APPEAL_OUTCOME_UPHELD;
      },
      &c, "the appeal decided"));
  const v1::Offence* o = OffenceOf(c, offence);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->fir_number(), "112/2026");
  EXPECT_EQ(o->police_station(), "FIA AHTC Karachi");
  EXPECT_EQ(o->province(), "PK-SD");
  EXPECT_EQ(o->district(), "Karachi South");
  EXPECT_EQ(o->registered_on(), Today());
  EXPECT_EQ(std::vector<std::string>(o->law_sections().begin(), o->law_sections().end()),
            (std::vector<std::string>{"PTPA-2018-3", "PPC-370"}));
  EXPECT_EQ(o->crime_type(), v1::CRIME_TYPE_TIP);
  EXPECT_EQ(o->status(), v1::OFFENCE_STATUS_UNDER_INVESTIGATION);
  const v1::Suspect* s = SuspectOf(c, suspect);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->offence_id(), offence);
  EXPECT_EQ(s->sex(), v1::SEX_MALE);
  EXPECT_EQ(s->age_band(), v1::AGE_BAND_30_38);
  EXPECT_EQ(s->majority(), v1::MAJORITY_STATUS_ADULT);
  EXPECT_EQ(std::vector<std::string>(s->citizenship().begin(), s->citizenship().end()),
            (std::vector<std::string>{"PK", "AF"}));
  EXPECT_EQ(s->roles_size(), 2);
  EXPECT_EQ(s->organised_group(), v1::ORGANISED_GROUP_YES);
  EXPECT_EQ(s->status(), v1::ACCUSED_STATUS_CONVICTED);
  EXPECT_EQ(std::vector<std::string>(s->charged_sections().begin(), s->charged_sections().end()),
            (std::vector<std::string>{"PTPA-2018-3"}));
  EXPECT_EQ(s->sentence_months(), 84u);
  EXPECT_EQ(s->fine_amount(), 500000u);
  EXPECT_EQ(s->fine_currency(), "PKR");
  EXPECT_TRUE(s->appealed());
  ASSERT_EQ(s->history_size(), 5) << s->ShortDebugString();
  EXPECT_EQ(s->history(0).step(), v1::ACCUSED_STEP_ARRESTED);
  EXPECT_EQ(s->history(0).on_date(), Today());
  EXPECT_EQ(s->history(4).step(), v1::ACCUSED_STEP_APPEAL_DECIDED);
  // Sealed, for this agency among others; the clear text never reaches the log.
  EXPECT_TRUE(s->has_identity());
  EXPECT_EQ(KeyHolders(*s).count(kFia), 1u);
  EXPECT_EQ(c.ShortDebugString().find("Imran"), std::string::npos);

  // The journey tells the same story.
  p = desk.Run(kFia, {"--json", "journey", case_id});
  ASSERT_EQ(p.code, 0) << p.err;
  auto j = ParseJourney(p.out);
  ASSERT_TRUE(j.has_value()) << p.out;
  int offences = 0, suspects = 0, accused = 0;
  for (const auto& e : j->entries) {
    offences += e.event == "offence_registered";
    suspects += e.event == "suspect_recorded";
    accused += e.event == "accused_updated";
  }
  EXPECT_EQ(offences, 1) << j->Summary();
  EXPECT_EQ(suspects, 1) << j->Summary();
  EXPECT_EQ(accused, 5) << j->Summary();
}

// ---- 2. bad input: the field at fault, nothing recorded
// ---------------------------------------------

TEST(E2eCrime, BadInputIsRefusedNamingTheFieldAndNothingOfItIsRecorded) {
  Nrm nrm({FirstResponder(kFia)}, v1::RuleSet());
  ASSERT_TRUE(nrm.Start());
  Desk desk(nrm);
  ASSERT_TRUE(desk.SignIn(kFia));
  auto case_id = nrm.Intake(kFia, AdultWomanSexuallyExploited(true));
  ASSERT_TRUE(case_id.ok()) << case_id.status().ToString();
  const std::string case_arg = *case_id;
  auto refused = [](const CtlProc& p, const std::string& field) {
    if (p.code == 0) {
      return ::testing::AssertionFailure() << "accepted: " << p.out;
    }
    if (p.err.find(field) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "exit " << p.code << ", the error does not name " << field << ": " << p.err;
    }
    return ::testing::AssertionSuccess() << p.err;
  };
  const std::vector<std::string> fir = {"--fir",      "7/2026", "--station",    "PS Saddar",
                                        "--province", "PK-SD",  "--registered", Today(),
                                        "--crime",    "tip"};
  auto offence_args = [&](const std::string& sections) {
    std::vector<std::string> a = {"--json", "offence", case_arg, "--sections", sections};
    a.insert(a.end(), fir.begin(), fir.end());
    return a;
  };

  // A law section the NRM does not list: the broker names the code at fault.
  CtlProc p = desk.Run(kFia, offence_args("PTPA-2018-99"));
  EXPECT_TRUE(refused(p, "offence_registered.offence.law_sections[0]"));
  EXPECT_NE(p.err.find("PTPA-2018-99"), std::string::npos) << p.err;
  // Required options are named by passagectl itself.
  p = desk.Run(kFia, {"offence", case_arg, "--fir", "7/2026", "--station", "PS Saddar",
                      "--province", "PK-SD", "--registered", Today(), "--crime", "tip"});
  EXPECT_EQ(p.code, 2);
  EXPECT_TRUE(refused(p, "--sections"));

  // One good offence and suspect to go on with.
  p = desk.Run(kFia, offence_args("PTPA-2018-3"));
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string offence = JsonField(p.out, "offence_id");
  ASSERT_FALSE(offence.empty()) << p.out;
  const std::vector<std::string> suspect_args = {"suspect", case_arg, offence,    "--sex",
                                                 "male",    "--role", "recruiter"};
  p = desk.Run(kFia, [&] {
    auto a = suspect_args;
    a.insert(a.begin(), "--json");
    return a;
  }());
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string suspect = JsonField(p.out, "suspect_id");
  ASSERT_FALSE(suspect.empty()) << p.out;

  // A suspect's identity cannot be given on the command line: there is no such option.
  for (const std::string flag : {"--name", "--given-name", "--cnic", "--identity"}) {
    auto a = suspect_args;
    a.push_back(flag);
    a.push_back("Imran");
    p = desk.Run(kFia, a);
    EXPECT_EQ(p.code, 2) << flag << ": " << p.err;
    EXPECT_TRUE(refused(p, flag));
    EXPECT_NE(p.err.find("unknown option"), std::string::npos) << p.err;
  }
  // A mistake in the identity file is named by file, line and field.
  auto a = suspect_args;
  a.push_back("--identity-file");
  a.push_back(desk.WriteFile("typo.txtpb", "given_name: \"Imran\"\ngivn_name: \"Khan\"\n"));
  p = desk.Run(kFia, a);
  EXPECT_EQ(p.code, 2);
  EXPECT_TRUE(refused(p, "--identity-file"));
  EXPECT_NE(p.err.find("typo.txtpb:2:"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("givn_name"), std::string::npos) << p.err;

  // A verdict before a charge; a sentence on an acquittal.
  p = desk.Run(kFia, {"accused", case_arg, suspect, "convicted", "--months", "12"});
  EXPECT_TRUE(refused(p, "accused_updated.step"));
  p = desk.Run(kFia, {"accused", case_arg, suspect, "charged", "--sections", "PTPA-2018-3"});
  ASSERT_EQ(p.code, 0) << p.err;
  p = desk.Run(kFia, {"accused", case_arg, suspect, "acquitted", "--months", "12"});
  EXPECT_TRUE(refused(p, "accused_updated.sentence_months"));
  // A fine needs its currency (passagectl), and a charge a known section (the broker).
  p = desk.Run(kFia, {"accused", case_arg, suspect, "convicted", "--fine", "1000"});
  EXPECT_EQ(p.code, 2);
  EXPECT_TRUE(refused(p, "--currency"));

  // A route that is none; a country that does not exist.
  p = desk.Run(kFia, {"smuggling", case_arg, "--origin", "PK", "--destination", "PK"});
  EXPECT_TRUE(refused(p, "smuggling_recorded.details.destination_country"));
  p = desk.Run(kFia, {"smuggling", case_arg, "--origin", "PK", "--destination", "XQ"});
  EXPECT_EQ(p.code, 2);
  EXPECT_TRUE(refused(p, "--destination"));
  p = desk.Run(
      kFia, {"smuggling", case_arg, "--origin", "PK", "--transit", "IR,PK", "--destination", "GR"});
  EXPECT_TRUE(refused(p, "smuggling_recorded.details.transit_countries[1]"));
  // Unknown enum words are named by passagectl.
  p = desk.Run(
      kFia, {"smuggling", case_arg, "--origin", "PK", "--destination", "GR", "--fee-band", "lots"});
  EXPECT_EQ(p.code, 2);
  EXPECT_TRUE(refused(p, "--fee-band"));

  // A route that is one, for contrast.
  p = desk.Run(kFia, {"smuggling",
                      case_arg,
                      "--origin",
                      "pk",
                      "--transit",
                      "IRN,TR",
                      "--destination",
                      "GR",
                      "--interception",
                      "land_border",
                      "--interception-province",
                      "PK-BA",
                      "--transport",
                      "mixed",
                      "--fee-band",
                      "5000_to_9999",
                      "--currency",
                      "EUR",
                      "--document-fraud",
                      "yes",
                      "--aggravation",
                      "inhuman_treatment"});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("recorded smuggling route PK \u2192 IR \u2192 TR \u2192 GR"),
            std::string::npos)
      << p.out;

  // The case holds only what was accepted.
  v1::CaseState c;
  ASSERT_TRUE(desk.WaitCase(
      kFia, case_arg,
      [&](const v1::CaseState& s) {
        return s.has_smuggling() && SuspectOf(s, suspect) != nullptr &&
               SuspectOf(s, suspect)->status() == v1::ACCUSED_STATUS_CHARGED;
      },
      &c, "the charge and the route"));
  ASSERT_TRUE(nrm.Settle());
  auto last = desk.Case(kFia, case_arg);
  ASSERT_TRUE(last.has_value());
  c = *last;
  ASSERT_EQ(c.offences_size(), 1) << c.ShortDebugString();
  EXPECT_EQ(c.offences(0).offence_id(), offence);
  ASSERT_EQ(c.suspects_size(), 1);
  const v1::Suspect& s = c.suspects(0);
  EXPECT_FALSE(s.has_identity());
  EXPECT_EQ(s.status(), v1::ACCUSED_STATUS_CHARGED);
  ASSERT_EQ(s.history_size(), 1);
  EXPECT_EQ(s.sentence_months(), 0u);
  EXPECT_EQ(s.fine_amount(), 0u);
  EXPECT_EQ(c.smuggling().origin_country(), "PK");
  EXPECT_EQ(std::vector<std::string>(c.smuggling().transit_countries().begin(),
                                     c.smuggling().transit_countries().end()),
            (std::vector<std::string>{"IR", "TR"}));
  EXPECT_EQ(c.smuggling().destination_country(), "GR");
  EXPECT_TRUE(c.smuggling().document_fraud());
}

// ---- 3. who receives the crime side
// ---------------------------------------------------------------

TEST(E2eCrime, TheCrimeSideReachesAProsecutorThatAcceptedItNeverAShelter) {
  AgencySpec fia = FirstResponder(kFia);
  fia.override_roles = {v1::ACTOR_ROLE_SUPERVISOR};
  Nrm nrm({fia, Protection(kShelter, v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER}),
           Prosecution(kProsecution)},
          v1::RuleSet());
  ASSERT_TRUE(nrm.Start());
  Desk desk(nrm);
  for (const char* id : {kFia, kShelter, kProsecution}) {
    ASSERT_TRUE(desk.SignIn(id));
  }
  auto case_id = nrm.Intake(kFia, AdultWomanSexuallyExploited(true));
  ASSERT_TRUE(case_id.ok()) << case_id.status().ToString();
  const std::string case_arg = *case_id;
  v1::CaseState c;
  ASSERT_TRUE(desk.WaitCase(
      kFia, case_arg, [](const v1::CaseState& s) { return s.consents_size() == 2; }, &c,
      "the consents"));
  const std::string services = ConsentOf(c, v1::CONSENT_SCOPE_SERVICES);
  const std::string law_enforcement = ConsentOf(c, v1::CONSENT_SCOPE_LAW_ENFORCEMENT);
  ASSERT_FALSE(services.empty());
  ASSERT_FALSE(law_enforcement.empty());

  // A shelter never receives the crime side: not with the victim's consent, not by a supervisor's
  // override.
  CtlProc p = desk.Run(kFia, {"refer", case_arg, "--to", kShelter, "--service", "shelter",
                              "--consent", services, "--scope", "profile,suspect"});
  EXPECT_EQ(p.code, 1) << p.err;
  EXPECT_NE(p.err.find("--scope (entry 2)"), std::string::npos) << p.err;
  p = desk.Run(kFia,
               {"refer", case_arg, "--to", kShelter, "--service", "shelter", "--override-reason",
                "the victim is in danger tonight", "--scope", "profile,referrals,suspect"});
  EXPECT_EQ(p.code, 1) << p.err;
  EXPECT_NE(p.err.find("--scope (entry 3)"), std::string::npos) << p.err;
  p = desk.Run(kFia, {"refer", case_arg, "--to", kShelter, "--service", "shelter", "--consent",
                      services, "--scope", "offence"});
  EXPECT_EQ(p.code, 1) << p.err;
  EXPECT_NE(p.err.find("--scope (entry 1)"), std::string::npos) << p.err;

  // The ordinary referrals: the shelter for shelter, the prosecutor for the prosecution (sharing
  // the offence and the suspect).
  p = desk.Run(kFia, {"--json", "refer", case_arg, "--to", kShelter, "--service", "shelter",
                      "--consent", services, "--scope", "profile,referrals"});
  ASSERT_EQ(p.code, 0) << p.err;
  ASSERT_TRUE(nrm.WaitInbox(
      kShelter,
      [&](const std::vector<v1::Referral>& in) {
        return in.size() == 1 && in[0].status() == v1::REFERRAL_STATUS_ACCEPTED;
      },
      nullptr, "the shelter to accept by policy"));

  // The police record the offence, the suspect (with his identity) and the arrest.
  p = desk.Run(kFia, {"--json", "offence", case_arg, "--fir", "99/2026", "--station", "PS Clifton",
                      "--province", "PK-SD", "--registered", Today(), "--sections", "PTPA-2018-3",
                      "--crime", "tip"});
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string offence = JsonField(p.out, "offence_id");
  p = desk.Run(kFia, {"--json", "suspect", case_arg, offence, "--sex", "female", "--role",
                      "exploiter", "--age-band", "39-47", "--citizenship", "PK", "--identity-file",
                      desk.WriteFile("suspect.txtpb", kIdentity)});
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string suspect = JsonField(p.out, "suspect_id");
  ASSERT_FALSE(suspect.empty()) << p.out;
  p = desk.Run(kFia, {"accused", case_arg, suspect, "arrested"});
  ASSERT_EQ(p.code, 0) << p.err;
  // Sealed for the police alone so far: no one else holds the suspect records yet.
  {
    auto at_fia = desk.Case(kFia, case_arg);
    ASSERT_TRUE(at_fia.has_value());
    const v1::Suspect* x = SuspectOf(*at_fia, suspect);
    ASSERT_NE(x, nullptr);
    EXPECT_EQ(KeyHolders(*x), std::set<std::string>{kFia});
  }

  // Then the case goes to the prosecutor, sharing the offence and the suspect: the police node
  // re-seals the identity for it.
  p = desk.Run(kFia,
               {"--json", "refer", case_arg, "--to", kProsecution, "--service", "prosecution",
                "--consent", law_enforcement, "--scope", "profile,referrals,offence,suspect"});
  ASSERT_EQ(p.code, 0) << p.err;
  ASSERT_TRUE(nrm.WaitInbox(
      kProsecution,
      [&](const std::vector<v1::Referral>& in) {
        return in.size() == 1 && in[0].status() == v1::REFERRAL_STATUS_ACCEPTED;
      },
      nullptr, "the prosecutor to accept by policy"));

  // The prosecutor sees them, with the suspect's attributes, and charges on its own node.
  ASSERT_TRUE(desk.WaitCase(
      kProsecution, case_arg,
      [&](const v1::CaseState& s) {
        const auto* x = SuspectOf(s, suspect);
        return OffenceOf(s, offence) != nullptr && x != nullptr &&
               x->status() == v1::ACCUSED_STATUS_ARRESTED && KeyHolders(*x).count(kProsecution);
      },
      &c, "the offence, the suspect, the arrest and the identity re-sealed for the prosecutor"));
  const v1::Suspect* s = SuspectOf(c, suspect);
  EXPECT_EQ(s->sex(), v1::SEX_FEMALE);
  EXPECT_EQ(s->age_band(), v1::AGE_BAND_39_47);
  EXPECT_EQ(s->roles_size(), 1);
  // The identity is sealed for law enforcement and prosecution: the prosecutor holds a key, the
  // shelter and the referral engine none.
  const std::set<std::string> holders = KeyHolders(*s);
  EXPECT_EQ(holders.count(kFia), 1u);
  EXPECT_EQ(holders.count(kProsecution), 1u);
  EXPECT_EQ(holders.count(kShelter), 0u);
  EXPECT_EQ(holders.count(kRouterId), 0u);
  p = desk.Run(kProsecution,
               {"accused", case_arg, suspect, "charged", "--sections", "PTPA-2018-3"});
  ASSERT_EQ(p.code, 0) << p.err;
  ASSERT_TRUE(desk.WaitCase(
      kFia, case_arg,
      [&](const v1::CaseState& x) {
        const auto* y = SuspectOf(x, suspect);
        return y != nullptr && y->status() == v1::ACCUSED_STATUS_CHARGED;
      },
      nullptr, "the prosecutor's charge"));

  // The prosecutor opens the suspect's identity; the read is recorded. The shelter cannot.
  p = desk.Run(kProsecution, {"personal", case_arg, "--suspect", suspect, "--purpose",
                              "summons for the hearing"});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("Imran Synthetic-Khan"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("42101-1234567-1"), std::string::npos) << p.out;
  p = desk.Run(kShelter, {"personal", case_arg, "--suspect", suspect, "--purpose", "curiosity"});
  EXPECT_NE(p.code, 0) << p.out;
  EXPECT_EQ(p.out.find("Imran"), std::string::npos) << p.out;
  EXPECT_EQ(p.err.find("Imran"), std::string::npos) << p.err;

  // The shelter: the case, never the crime side. It may not record any either.
  p = desk.Run(kShelter,
               {"offence", case_arg, "--fir", "1/2026", "--station", "x", "--province", "PK-SD",
                "--registered", Today(), "--sections", "PTPA-2018-3", "--crime", "tip"});
  EXPECT_EQ(p.code, 1) << p.err;
  EXPECT_NE(p.err.find("actor_agency"), std::string::npos) << p.err;
  ASSERT_TRUE(nrm.Settle());
  auto at_shelter = desk.Case(kShelter, case_arg);
  ASSERT_TRUE(at_shelter.has_value());
  EXPECT_EQ(at_shelter->offences_size(), 0) << at_shelter->ShortDebugString();
  EXPECT_EQ(at_shelter->suspects_size(), 0) << at_shelter->ShortDebugString();
  p = desk.Run(kShelter, {"--json", "journey", case_arg});
  ASSERT_EQ(p.code, 0) << p.err;
  auto j = ParseJourney(p.out);
  ASSERT_TRUE(j.has_value()) << p.out;
  for (const auto& e : j->entries) {
    EXPECT_NE(e.event, "offence_registered");
    EXPECT_NE(e.event, "suspect_recorded");
    EXPECT_NE(e.event, "accused_updated");
  }
  EXPECT_EQ(p.out.find(suspect), std::string::npos);
  EXPECT_EQ(p.out.find(offence), std::string::npos);
  // They are in the log, as the police see it; the referral engine, which receives them only to
  // count them, shows its own people none of them.
  p = desk.Run(kFia, {"--json", "journey", case_arg});
  ASSERT_EQ(p.code, 0) << p.err;
  auto all = ParseJourney(p.out);
  ASSERT_TRUE(all.has_value()) << p.out;
  int crime = 0;
  for (const auto& e : all->entries) {
    crime += e.event == "offence_registered" || e.event == "suspect_recorded" ||
             e.event == "accused_updated";
  }
  EXPECT_EQ(crime, 4) << all->Summary();
  auto at_router = nrm.Journey(case_arg);
  ASSERT_TRUE(at_router.has_value());
  for (const auto& e : at_router->entries) {
    EXPECT_NE(e.event, "offence_registered");
    EXPECT_NE(e.event, "suspect_recorded");
    EXPECT_NE(e.event, "accused_updated");
  }
  bool read_recorded = false;  // access records go to the log's auditors, not to the owner
  for (const auto& e : at_router->entries) {
    read_recorded = read_recorded || (e.event == "record_accessed" &&
                                      e.text.find("SUSPECT") != std::string::npos &&
                                      e.text.find("summons for the hearing") != std::string::npos);
  }
  EXPECT_TRUE(read_recorded) << at_router->Summary();
}

}  // namespace
}  // namespace passage::e2e
