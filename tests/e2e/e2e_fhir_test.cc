// FHIR R4 referral exchange through the real passagectl, node and broker (issue 15, part 6): a
// referral exported as a ServiceRequest + Task Bundle, imported onto another case as an equal
// referral that the recipient receives, and bad Bundles refused naming the FHIR element.

#include <gtest/gtest.h>

#include "tests/e2e/nrm_harness.h"

namespace passage::e2e {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

TEST(E2eFhir, AReferralExportedAndImportedOntoAnotherCaseIsTheSameReferral) {
  Nrm nrm({FirstResponder("fia-karachi"),
           Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER}, 0,
                      /*auto_accept=*/false)},
          WomenToShelterRules());
  ASSERT_TRUE(nrm.Start());
  auto a = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  // Case B is not routed by the rules (a man): its referral comes from the import.
  v1::IntakeRequest man = AdultWomanSexuallyExploited();
  man.mutable_profile()->set_sex(v1::SEX_MALE);
  auto b = nrm.Intake("fia-karachi", man);
  ASSERT_TRUE(a.ok() && b.ok());
  std::string ra;
  ASSERT_TRUE(nrm.WaitReceived(*a, "shelter-a", &ra));
  const std::string consent_a = nrm.FirstConsentId("fia-karachi", *a);
  const std::string consent_b = nrm.FirstConsentId("fia-karachi", *b);
  ASSERT_FALSE(consent_a.empty());
  ASSERT_FALSE(consent_b.empty());

  // passagectl signed in as the harness's desk account.
  ASSERT_TRUE(nrm.DeskSession("fia-karachi").ok());
  const std::string node = nrm.dir() + "/nodes/fia-karachi";
  const std::string sessions = nrm.dir() + "/ctl-sessions";
  CtlProc p = Passagectl({"--node", node, "login", "e2e.desk", "--password-file", "-"},
                         std::string(Nrm::kDeskPassword) + "\n", sessions, nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;

  const std::string file = nrm.dir() + "/referral.fhir.json";
  p = Passagectl({"--node", node, "fhir", "export", *a, ra, "--out", file}, "", sessions, nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string bundle = Slurp(file);
  EXPECT_NE(bundle.find("\"resourceType\": \"Bundle\""), std::string::npos) << bundle;
  EXPECT_NE(bundle.find("\"resourceType\": \"ServiceRequest\""), std::string::npos);
  EXPECT_NE(bundle.find("\"resourceType\": \"Task\""), std::string::npos);
  EXPECT_EQ(bundle.find("Synthetic"), std::string::npos) << "a name in the export";

  // The unchanged Bundle onto case B relies on A's consent: the broker refuses, and the answer
  // names the FHIR element.
  p = Passagectl({"--node", node, "fhir", "import", file, "--case", *b}, "", sessions, nrm.dir());
  EXPECT_EQ(p.code, 1) << p.out << p.err;
  EXPECT_NE(p.err.find("ServiceRequest.supportingInfo"), std::string::npos) << p.err;
  // As the other system would send it for case B: B's consent. Onto case B, it is the same
  // referral under a new id, and the shelter receives it.
  const std::string for_b = nrm.dir() + "/for-b.fhir.json";
  std::ofstream(for_b) << Replaced(bundle, consent_a, consent_b);
  p = Passagectl({"--node", node, "--json", "fhir", "import", for_b, "--case", *b}, "", sessions,
                 nrm.dir());
  ASSERT_EQ(p.code, 0) << p.out << p.err;
  const size_t at = p.out.find("\"referral_id\":\"");
  ASSERT_NE(at, std::string::npos) << p.out;
  const std::string imported = p.out.substr(at + 15, 36);
  ASSERT_TRUE(WaitUntil("the imported referral to reach the shelter", [&] {
    for (const auto& r : nrm.Inbox("shelter-a")) {
      if (r.referral_id() == imported) return true;
    }
    return false;
  }));
  v1::Referral original, copy;
  for (const auto& cs : nrm.Cases("fia-karachi")) {
    for (const auto& r : cs.referrals()) {
      if (r.referral_id() == ra) original = r;
      if (r.referral_id() == imported) copy = r;
    }
  }
  ASSERT_EQ(copy.referral_id(), imported);
  EXPECT_EQ(copy.case_id(), *b);
  EXPECT_EQ(copy.to_agency(), original.to_agency());
  EXPECT_EQ(copy.from_agency(), original.from_agency());
  EXPECT_EQ(copy.service(), original.service());
  EXPECT_EQ(copy.priority(), original.priority());
  EXPECT_EQ(copy.kind(), original.kind());
  EXPECT_EQ(copy.reason(), original.reason());
  EXPECT_EQ(copy.respond_by_ms(), original.respond_by_ms() / 1000 * 1000);
  EXPECT_EQ(copy.data_scope().size(), original.data_scope().size());
  EXPECT_EQ(copy.consent_id(), consent_b);

  // No performer, and something that is not FHIR at all: refused before anything is sent.
  const std::string no_performer = nrm.dir() + "/no-performer.json";
  std::string broken = bundle;
  const size_t perf = broken.find("\"performer\"");
  broken.erase(perf, broken.find("\"reasonCode\"") - perf);
  std::ofstream(no_performer) << broken;
  p = Passagectl({"--node", node, "fhir", "import", no_performer}, "", sessions, nrm.dir());
  EXPECT_EQ(p.code, 2) << p.out << p.err;
  EXPECT_NE(p.err.find("passagectl: ServiceRequest.performer: is required"), std::string::npos)
      << p.err;
  p = Passagectl({"--node", node, "fhir", "import", "-"}, "{\"resourceType\": \"Patient\"}", sessions,
                 nrm.dir());
  EXPECT_EQ(p.code, 2);
  EXPECT_NE(p.err.find("Bundle.resourceType"), std::string::npos) << p.err;
  // A referral that is not the case's.
  p = Passagectl({"--node", node, "fhir", "export", *b, ra}, "", sessions, nrm.dir());
  EXPECT_EQ(p.code, 3) << p.err;
}

}  // namespace
}  // namespace passage::e2e
