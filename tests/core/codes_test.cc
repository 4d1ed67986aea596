#include "core/codes.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tests/testing/status_matchers.h"

namespace passage::core {
namespace {

TEST(Countries, TableHasEveryAssignedCodeSortedAndUnique) {
  std::span<const Country> all = AllCountries();
  EXPECT_EQ(all.size(), 249u);
  std::set<std::string_view> alpha3;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].alpha2.size(), 2u) << all[i].name;
    EXPECT_EQ(all[i].alpha3.size(), 3u) << all[i].name;
    EXPECT_FALSE(all[i].name.empty());
    EXPECT_TRUE(alpha3.insert(all[i].alpha3).second) << all[i].alpha3 << " twice";
    if (i > 0) {
      EXPECT_LT(all[i - 1].alpha2, all[i].alpha2);
    }
    EXPECT_EQ(FindCountry(all[i].alpha2), &all[i]);
    EXPECT_EQ(FindCountry(all[i].alpha3), &all[i]);
  }
}

TEST(Countries, NormalizeAcceptsAlpha2AndAlpha3InAnyCase) {
  const std::pair<const char*, const char*> cases[] = {
      {"PK", "PK"},  {"pk", "PK"},  {"Pk", "PK"}, {"PAK", "PK"}, {"pak", "PK"},
      {"AFG", "AF"}, {"gbr", "GB"}, {"us", "US"}, {"USA", "US"}, {"Ind", "IN"},
      {"SSD", "SS"}, {"bes", "BQ"}, {"NA", "NA"},  // Namibia, not "missing"
  };
  for (const auto& [in, out] : cases) {
    Result<std::string> r = NormalizeCountry(in, "citizenship[0]");
    ASSERT_OK(r);
    EXPECT_EQ(*r, out) << in;
  }
}

TEST(Countries, NormalizeRefusesUnknownCodesNamingTheField) {
  for (const char* bad : {"PAK1", "", "XK", "XKX", "ZZ", "P", "PKST", "P1", "é", "UK"}) {
    Result<std::string> r = NormalizeCountry(bad, "case_opened.profile.citizenship[1]");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().field(), "case_opened.profile.citizenship[1]");
  }
  EXPECT_EQ(NormalizeCountry("PAK1", "f").status().message(),
            "'PAK1' is not an ISO 3166-1 country code");
}

TEST(Countries, StoredFormIsUpperCaseAlpha2) {
  EXPECT_TRUE(IsCountryAlpha2("PK"));
  EXPECT_FALSE(IsCountryAlpha2("pk"));
  EXPECT_FALSE(IsCountryAlpha2("PAK"));
  EXPECT_FALSE(IsCountryAlpha2("XK"));
}

TEST(Subdivisions, SyntaxIsAlpha2DashOneToThreeAlphanumerics) {
  for (const char* good :
       {"PK-SD", "PK-PB", "PK-IS", "IN-MH", "GB-ENG", "FR-75", "US-CA", "PK-1"}) {
    EXPECT_TRUE(IsSubdivisionSyntax(good)) << good;
  }
  for (const char* bad :
       {"", "PK", "PK-", "PK-ABCD", "XX-SD", "pk-sd", "PKSD", "PK_SD", "PK-S D", "PAK-SD"}) {
    EXPECT_FALSE(IsSubdivisionSyntax(bad)) << bad;
  }
  Result<std::string> r = NormalizeSubdivision("pk-sd", "province_of_identification");
  ASSERT_OK(r);
  EXPECT_EQ(*r, "PK-SD");
  EXPECT_EQ(NormalizeSubdivision("Sindh", "p").status().field(), "p");
}

TEST(Uuids, CanonicalVersion4And7Only) {
  for (const char* good :
       {"0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b", "f47ac10b-58cc-4372-a567-0e02b2c3d479",
        "00000000-0000-4000-8000-000000000000", "ffffffff-ffff-7fff-bfff-ffffffffffff"}) {
    EXPECT_TRUE(IsValidUuid(good)) << good;
  }
  const std::pair<const char*, const char*> bad[] = {
      {"", "a UUID is required"},
      {"F47AC10B-58CC-4372-A567-0E02B2C3D479",
       "'F47AC10B-58CC-4372-A567-0E02B2C3D479' is not a canonical UUID (use lower case)"},
      {"f47ac10b-58cc-1372-a567-0e02b2c3d479",
       "'f47ac10b-58cc-1372-a567-0e02b2c3d479' is a version 1 UUID; only versions 4 and 7 are "
       "accepted"},
      {"f47ac10b-58cc-4372-c567-0e02b2c3d479",
       "'f47ac10b-58cc-4372-c567-0e02b2c3d479' is not an RFC 4122 variant UUID"},
      {"f47ac10b58cc4372a5670e02b2c3d479", nullptr},
      {"{f47ac10b-58cc-4372-a567-0e02b2c3d479}", nullptr},
      {"f47ac10b-58cc-4372-a567_0e02b2c3d479", nullptr},
      {"g47ac10b-58cc-4372-a567-0e02b2c3d479", nullptr},
  };
  for (const auto& [text, message] : bad) {
    EXPECT_FALSE(IsValidUuid(text)) << text;
    Status s = ValidateUuid(text, "event_id");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << text;
    EXPECT_EQ(s.field(), "event_id");
    if (message != nullptr) {
      EXPECT_EQ(s.message(), message);
    }
  }
}

TEST(AgencyIds, LowerCaseDigitsAndHyphens) {
  for (const char* good : {"fia-ahtc-karachi", "iom", "ngo-1", "99"}) {
    EXPECT_TRUE(IsValidAgencyId(good)) << good;
  }
  for (const char* bad : {"", "a", "FIA", "fia_karachi", "fia karachi", "fiä",
                          "a1234567890123456789012345678901234567890123456789012345678901234"}) {
    EXPECT_FALSE(IsValidAgencyId(bad)) << bad;
  }
  EXPECT_EQ(ValidateAgencyId("FIA", "actor_agency").field(), "actor_agency");
}

TEST(AgeBands, EveryBoundary) {
  using passage::v1::AgeBand;
  const std::pair<uint32_t, AgeBand> table[] = {
      {0, passage::v1::AGE_BAND_0_8},
      {8, passage::v1::AGE_BAND_0_8},
      {9, passage::v1::AGE_BAND_9_17},
      {17, passage::v1::AGE_BAND_9_17},
      {18, passage::v1::AGE_BAND_18_20},
      {20, passage::v1::AGE_BAND_18_20},
      {21, passage::v1::AGE_BAND_21_23},
      {23, passage::v1::AGE_BAND_21_23},
      {24, passage::v1::AGE_BAND_24_26},
      {26, passage::v1::AGE_BAND_24_26},
      {27, passage::v1::AGE_BAND_27_29},
      {29, passage::v1::AGE_BAND_27_29},
      {30, passage::v1::AGE_BAND_30_38},
      {38, passage::v1::AGE_BAND_30_38},
      {39, passage::v1::AGE_BAND_39_47},
      {47, passage::v1::AGE_BAND_39_47},
      {48, passage::v1::AGE_BAND_48_PLUS},
      {120, passage::v1::AGE_BAND_48_PLUS},
      {4000000000u, passage::v1::AGE_BAND_48_PLUS},
  };
  for (const auto& [age, band] : table) {
    EXPECT_EQ(AgeBandForAge(age), band) << age;
    EXPECT_EQ(MajorityForAgeBand(band), MajorityForAge(age)) << age;
  }
  EXPECT_EQ(MajorityForAge(17), passage::v1::MAJORITY_STATUS_MINOR);
  EXPECT_EQ(MajorityForAge(18), passage::v1::MAJORITY_STATUS_ADULT);
  EXPECT_EQ(MajorityForAgeBand(passage::v1::AGE_BAND_UNSPECIFIED),
            passage::v1::MAJORITY_STATUS_UNSPECIFIED);
}

TEST(AgeBands, CtdcTextRoundTrips) {
  const std::pair<const char*, passage::v1::AgeBand> table[] = {
      {"0--8", passage::v1::AGE_BAND_0_8},     {"9--17", passage::v1::AGE_BAND_9_17},
      {"18--20", passage::v1::AGE_BAND_18_20}, {"21--23", passage::v1::AGE_BAND_21_23},
      {"24--26", passage::v1::AGE_BAND_24_26}, {"27--29", passage::v1::AGE_BAND_27_29},
      {"30--38", passage::v1::AGE_BAND_30_38}, {"39--47", passage::v1::AGE_BAND_39_47},
      {"48+", passage::v1::AGE_BAND_48_PLUS},
  };
  for (const auto& [text, band] : table) {
    EXPECT_EQ(AgeBandCtdcText(band), text);
    EXPECT_EQ(AgeBandFromCtdcText(text), band);
  }
  EXPECT_EQ(AgeBandFromCtdcText(" 48+ "), passage::v1::AGE_BAND_48_PLUS);
  EXPECT_EQ(AgeBandFromCtdcText(""), passage::v1::AGE_BAND_UNSPECIFIED);
  EXPECT_EQ(AgeBandFromCtdcText("0-8"), passage::v1::AGE_BAND_UNSPECIFIED);
  EXPECT_EQ(AgeBandCtdcText(passage::v1::AGE_BAND_UNSPECIFIED), "");
  EXPECT_EQ(AgeBandCtdcText(static_cast<passage::v1::AgeBand>(42)), "");
}

TEST(Time, FormatsUtc) {
  EXPECT_EQ(FormatUtcMs(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatUtcMs(946684800000), "2000-01-01T00:00:00Z");
  EXPECT_EQ(FormatUtcMs(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatUtcMs(1709251199999), "2024-02-29T23:59:59Z");
  EXPECT_EQ(UtcYearOfMs(1709251199999), 2024);
  EXPECT_EQ(UtcYearOfMs(1704067200000), 2024);
  EXPECT_EQ(UtcYearOfMs(1704067199999), 2023);
  EXPECT_FALSE(FormatUtcMs(INT64_MAX).empty());
  EXPECT_FALSE(FormatUtcMs(INT64_MIN).empty());
}

TEST(FormatShownMs, UtcUntilAZoneIsSetThenTheLocalTimeWithItsOffset) {
  const int64_t instant = 1'765'375'200'000;  // 2025-12-10T14:00:00Z
  EXPECT_EQ(FormatShownMs(instant), "2025-12-10T14:00:00Z");
  SetShownTimeZone([](int64_t) -> int64_t { return 5 * 3600; });
  EXPECT_EQ(FormatShownMs(instant), "2025-12-10 19:00 +05:00");
  EXPECT_EQ(FormatShownMs(instant + 10 * 3'600'000), "2025-12-11 05:00 +05:00");  // next day
  SetShownTimeZone([](int64_t) -> int64_t { return -(3 * 3600 + 30 * 60); });
  EXPECT_EQ(FormatShownMs(instant), "2025-12-10 10:30 -03:30");
  SetShownTimeZone(nullptr);
  EXPECT_EQ(FormatShownMs(instant), "2025-12-10T14:00:00Z");
}

TEST(EnumNames, PrefixIsStripped) {
  EXPECT_EQ(ReferralStatusName(passage::v1::REFERRAL_STATUS_CANCEL_REQUESTED), "CANCEL_REQUESTED");
  EXPECT_EQ(ReferralStatusName(static_cast<passage::v1::ReferralStatus>(42)), "42");
  EXPECT_EQ(ShortEnumName(passage::v1::DataSection_descriptor(), 2), "PERSONAL");
}

}  // namespace
TEST(Nearest, SwappedLettersTypedAndMissingOnesFindTheWord) {
  const std::vector<std::string> commands = {"stats", "staff", "status", "inbox", "report"};
  EXPECT_EQ(EditDistance("stast", "stats"), 1u);
  EXPECT_EQ(EditDistance("STATS", "stats"), 0u);
  EXPECT_EQ(Nearest("stast", commands), "stats");
  EXPECT_EQ(Nearest("inbx", commands), "inbox");
  EXPECT_EQ(Nearest("reprot", commands), "report");
  EXPECT_EQ(Nearest("zzzzzz", commands), "");
  EXPECT_EQ(Nearest("stats", commands), "") << "the word itself is no suggestion";
}

}  // namespace passage::core
