#include "core/case_reference.h"

#include <gtest/gtest.h>

#include <string>

#include "core/agency_directory.h"
#include "core/validate.h"

namespace passage::core {
namespace {

// The Damm quasigroup must be one: every row and column a permutation, zeros on the diagonal.
TEST(CaseReference, DammTableIsAWeaklyTotallyAntiSymmetricQuasigroup) {
  for (int a = 0; a < 10; ++a) {
    for (int b = 0; b < 10; ++b) {
      // Anti-symmetry: (c*a)*b == (c*b)*a only when a == b, for every interim c. Checked through
      // DammCheckDigit on two-digit strings prefixed with every c.
      for (int c = 0; c < 10; ++c) {
        const std::string ab = {char('0' + c), char('0' + a), char('0' + b)};
        const std::string ba = {char('0' + c), char('0' + b), char('0' + a)};
        if (a != b) {
          EXPECT_NE(DammCheckDigit(ab), DammCheckDigit(ba)) << c << a << b;
        }
      }
    }
  }
}

// What the check digit is for: every single misheard digit and every swap of neighbours in the
// year and number is caught when read back.
TEST(CaseReference, EverySingleDigitErrorAndAdjacentSwapIsRefused) {
  const std::string ref = FormatCaseReference("FIAKHI", 2026, 123);
  EXPECT_EQ(ref.substr(0, 16), "FIAKHI-26-00123-");
  ASSERT_TRUE(ParseCaseReference(ref, "reference").ok());
  const std::string digits = "2600123";
  int refused = 0;
  int tried = 0;
  for (size_t i = 0; i < digits.size(); ++i) {
    for (char d = '0'; d <= '9'; ++d) {
      if (d == digits[i]) {
        continue;
      }
      std::string wrong = digits;
      wrong[i] = d;
      const std::string typed = "FIAKHI-" + wrong.substr(0, 2) + "-" + wrong.substr(2) + "-" +
                                ref.substr(ref.size() - 1);
      ++tried;
      refused += ParseCaseReference(typed, "reference").ok() ? 0 : 1;
    }
    if (i + 1 < digits.size() && digits[i] != digits[i + 1]) {
      std::string swapped = digits;
      std::swap(swapped[i], swapped[i + 1]);
      const std::string typed = "FIAKHI-" + swapped.substr(0, 2) + "-" + swapped.substr(2) + "-" +
                                ref.substr(ref.size() - 1);
      ++tried;
      refused += ParseCaseReference(typed, "reference").ok() ? 0 : 1;
    }
  }
  EXPECT_EQ(refused, tried);
  EXPECT_GT(tried, 60);
}

TEST(CaseReference, ReadsWhatPeopleTypeAndSaysWhatIsWrong) {
  const std::string ref = FormatCaseReference("SDPOL", 2027, 7);
  EXPECT_EQ(ref.substr(0, 15), "SDPOL-27-00007-");
  std::string lower = ref;
  for (char& c : lower) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  auto spaced = ParseCaseReference(" sdpol 27 7 " + ref.substr(ref.size() - 1) + " ", "ref");
  ASSERT_TRUE(spaced.ok()) << spaced.status().ToString();
  EXPECT_EQ(*spaced, ref);
  ASSERT_TRUE(ParseCaseReference(lower, "ref").ok());
  EXPECT_EQ(*ParseCaseReference(lower, "ref"), ref);

  auto typo = ParseCaseReference("SDPOL-27-00008-" + ref.substr(ref.size() - 1), "ref");
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.status().field(), "ref");
  EXPECT_NE(typo.status().message().find("check digit does not match"), std::string::npos);

  for (const char* bad : {"", "SDPOL", "SDPOL-27-00007", "1DPOL-27-00007-1", "SDPOL-2027-7-1",
                          "SDPOL-27-00x07-1", "SDPOL-27-7-12", "SD<POL-27-7-1",
                          "SDPOL-27-1234567890-1", "A-27-1-1", "ABCDEFG-27-1-1",
                          "SDPOL-27-1-1-1"}) {
    auto r = ParseCaseReference(bad, "ref");
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(r.status().field(), "ref") << bad;
  }
  EXPECT_FALSE(LooksLikeCaseReference("0190a3c4-5d6e-7f00-8a1b-2c3d4e5f6a7b"));
  EXPECT_TRUE(LooksLikeCaseReference(ref));
  EXPECT_FALSE(LooksLikeCaseReference("12345"));
}

TEST(CaseReference, NumbersGrowPastFiveDigitsAndYearsWrap) {
  EXPECT_EQ(FormatCaseReference("FIA", 2026, 123456).substr(0, 14), "FIA-26-123456-");
  EXPECT_EQ(FormatCaseReference("FIA", 2100, 1).substr(0, 13), "FIA-00-00001-");
  EXPECT_TRUE(ParseCaseReference(FormatCaseReference("FIA", 2026, 123456), "r").ok());
  EXPECT_EQ(UtcYear(0), 1970);
  EXPECT_EQ(UtcYear(1798761599000), 2026);  // 2026-12-31 23:59:59 UTC
  EXPECT_EQ(UtcYear(1798761600000), 2027);
}

TEST(CaseReference, CodesComeFromTheRegistryOrTheId) {
  passage::v1::Agency a;
  a.set_id("fia-ahtc-karachi");
  EXPECT_EQ(ReferenceCodeOf(a), "FAK");
  a.set_case_reference_code("FIAKHI");
  EXPECT_EQ(ReferenceCodeOf(a), "FIAKHI");
  a.clear_case_reference_code();
  a.set_id("police");
  EXPECT_EQ(ReferenceCodeOf(a), "POL");
  a.set_id("9-police");
  EXPECT_TRUE(IsReferenceCode(ReferenceCodeOf(a))) << ReferenceCodeOf(a);
  a.set_id("a-b-c-d-e-f-g-h");
  EXPECT_EQ(ReferenceCodeOf(a), "ABCDEF");
}

passage::v1::Agency Responder(const std::string& id, const std::string& code) {
  passage::v1::Agency a;
  a.set_id(id);
  a.set_name(id);
  a.set_type(passage::v1::AGENCY_TYPE_LAW_ENFORCEMENT);
  a.set_first_responder(true);
  a.set_case_reference_code(code);
  return a;
}

TEST(CaseReference, TheRegistryRefusesTwoFirstRespondersWithOneCodeAndABadCode) {
  passage::v1::AgencyRegistry reg;
  *reg.add_agencies() = Responder("sindh-police", "");
  *reg.add_agencies() = Responder("sindh-prosecution", "");  // also "SP"
  auto d = InMemoryAgencyDirectory::FromRegistry(reg);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().field(), "agencies[1].case_reference_code");
  EXPECT_NE(d.status().message().find("sindh-police"), std::string::npos);

  reg.mutable_agencies(1)->set_case_reference_code("SDPRO");
  EXPECT_TRUE(InMemoryAgencyDirectory::FromRegistry(reg).ok());
  reg.mutable_agencies(1)->set_first_responder(false);
  reg.mutable_agencies(1)->clear_case_reference_code();
  EXPECT_TRUE(InMemoryAgencyDirectory::FromRegistry(reg).ok());  // only first responders number

  reg.mutable_agencies(0)->set_case_reference_code("sp");
  auto bad = InMemoryAgencyDirectory::FromRegistry(reg);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().field(), "agencies[0].case_reference_code");
}

TEST(CaseReference, DatesAreCheckedAsCalendarDates) {
  EXPECT_TRUE(ValidateIsoDate("2009-03-31", "dob").ok());
  EXPECT_TRUE(ValidateIsoDate("2000-02-29", "dob").ok());
  for (const char* bad : {"1900-02-29", "2009-04-31", "2009-13-01", "2009-3-31", "31-03-2009",
                          "2009/03/31", "1899-12-31", "", "2009-03-3x"}) {
    Status s = ValidateIsoDate(bad, "dob");
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.field(), "dob") << bad;
  }
}

}  // namespace
}  // namespace passage::core
