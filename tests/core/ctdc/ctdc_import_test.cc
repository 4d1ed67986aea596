#include "core/ctdc/ctdc_import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include "tests/core/ctdc/ctdc_test_util.h"
#include "tests/testing/status_matchers.h"

namespace passage::ctdc {
namespace {

using ::testing::ElementsAre;
using testing::GlobalHeaderLine;
using testing::GlobalRow;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::ReadSample;
using testing::SamplePath;

const CtdcRecord* FindLine(const ImportResult& result, int line) {
  for (const CtdcRecord& r : result.records) {
    if (r.line == line) {
      return &r;
    }
  }
  return nullptr;
}

std::string ErrorsToString(const ImportResult& result) {
  std::string out;
  for (const Status& s : result.errors) {
    out += s.ToString() + "\n";
  }
  return out;
}

TEST(CtdcImport, ImportsEveryRowOfTheSampleWithoutErrors) {
  std::ifstream in(SamplePath(), std::ios::binary);
  ASSERT_TRUE(in.good());
  ImportResult result = ImportCtdc(in);
  EXPECT_THAT(result.errors, IsEmpty()) << ErrorsToString(result);
  EXPECT_EQ(result.layout, CtdcLayout::kGlobalKAnon);
  EXPECT_EQ(result.rows_rejected, 0);
  ASSERT_EQ(result.records.size(), 200u);
  EXPECT_EQ(result.records.front().line, 2);
  EXPECT_EQ(result.records.back().line, 201);
  for (const CtdcRecord& r : result.records) {
    EXPECT_EQ(r.crime_type, v1::CRIME_TYPE_TIP);
  }
}

// The expected counts below were computed outside this code base from the CSV itself, with
//   awk -F';' 'NR>1{n[$4]++} END{for(k in n) print k, n[k]}' tests/data/ctdc_kanon_small.csv
// ($4 = gender, $5 = ageBroad, $3 = Datasource, $2 = yearOfRegistration, $9 = citizenship; these
// columns come before the first quoted field, so splitting on ';' is exact for them).
TEST(CtdcImport, CountsByGenderMatchTheFile) {
  ImportResult result = ImportCtdcString(ReadSample());
  std::map<v1::Sex, int> by_sex;
  for (const CtdcRecord& r : result.records) {
    ++by_sex[r.profile.sex()];
  }
  EXPECT_EQ(by_sex[v1::SEX_FEMALE], 145);
  EXPECT_EQ(by_sex[v1::SEX_MALE], 34);
  EXPECT_EQ(by_sex[v1::SEX_UNSPECIFIED], 21);
  EXPECT_EQ(by_sex.size(), 3u);
}

TEST(CtdcImport, CountsByAgeBandMatchTheFile) {
  ImportResult result = ImportCtdcString(ReadSample());
  std::map<v1::AgeBand, int> by_band;
  for (const CtdcRecord& r : result.records) {
    ++by_band[r.profile.age_band()];
  }
  EXPECT_EQ(by_band[v1::AGE_BAND_UNSPECIFIED], 118);
  EXPECT_EQ(by_band[v1::AGE_BAND_0_8], 10);
  EXPECT_EQ(by_band[v1::AGE_BAND_9_17], 22);
  EXPECT_EQ(by_band[v1::AGE_BAND_18_20], 3);
  EXPECT_EQ(by_band[v1::AGE_BAND_21_23], 5);
  EXPECT_EQ(by_band[v1::AGE_BAND_24_26], 27);
  EXPECT_EQ(by_band[v1::AGE_BAND_27_29], 5);
  EXPECT_EQ(by_band[v1::AGE_BAND_30_38], 3);
  EXPECT_EQ(by_band[v1::AGE_BAND_39_47], 4);
  EXPECT_EQ(by_band[v1::AGE_BAND_48_PLUS], 3);
}

TEST(CtdcImport, CountsByChannelYearAndCitizenshipMatchTheFile) {
  ImportResult result = ImportCtdcString(ReadSample());
  std::map<v1::IdentificationChannel, int> by_channel;
  std::map<int, int> by_year;
  std::map<std::string, int> by_citizenship;
  for (const CtdcRecord& r : result.records) {
    ++by_channel[r.profile.identification_channel()];
    ++by_year[r.profile.year_of_registration()];
    ++by_citizenship[r.profile.citizenship_size() > 0 ? r.profile.citizenship(0) : ""];
    EXPECT_LE(r.profile.citizenship_size(), 1);
  }
  EXPECT_EQ(by_channel[v1::IDENTIFICATION_CHANNEL_CASE_MANAGEMENT], 51);
  EXPECT_EQ(by_channel[v1::IDENTIFICATION_CHANNEL_HOTLINE], 149);
  EXPECT_EQ(by_year[0], 3);
  // The three rows without a year stay unknown: marked so, never given the import's year.
  int unknown = 0;
  for (const CtdcRecord& r : result.records) {
    if (r.profile.year_of_registration_unknown()) {
      ++unknown;
      EXPECT_EQ(r.profile.year_of_registration(), 0) << r.line;
    }
  }
  EXPECT_EQ(unknown, 3);
  EXPECT_EQ(by_year[2002], 2);
  EXPECT_EQ(by_year[2018], 71);
  EXPECT_EQ(by_year[2019], 29);
  EXPECT_EQ(by_citizenship[""], 149);
  EXPECT_EQ(by_citizenship["UA"], 18);
  EXPECT_EQ(by_citizenship["PH"], 12);
  EXPECT_EQ(by_citizenship["BY"], 8);
}

// Computed with Python's csv module (delimiter ';'): rows with isForcedLabour or isSexAndLabour
// = 1, with isSexualExploit or isSexAndLabour = 1, with isSlaveryAndPractices = 1; the union of
// recruiterRelation* flags and RecruiterRelationship parts per row, "Not Specified" dropped when
// another relation is present; typeOfLabourConstruction = 1.
TEST(CtdcImport, CountsOfFormsSectorsAndRelationsMatchTheFile) {
  ImportResult result = ImportCtdcString(ReadSample());
  std::map<int, int> forms;
  std::map<int, int> relations;
  int construction = 0;
  int abductions = 0;
  for (const CtdcRecord& r : result.records) {
    for (int f : r.profile.exploitation_forms()) {
      ++forms[f];
    }
    for (int rel : r.profile.recruiter_relations()) {
      ++relations[rel];
    }
    for (int s : r.profile.labour_sectors()) {
      construction += s == v1::LABOUR_SECTOR_CONSTRUCTION ? 1 : 0;
    }
    abductions += r.profile.is_abduction() ? 1 : 0;
  }
  EXPECT_EQ(forms[v1::EXPLOITATION_FORM_FORCED_LABOUR], 25);
  EXPECT_EQ(forms[v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION], 143);
  EXPECT_EQ(forms[v1::EXPLOITATION_FORM_SLAVERY_AND_PRACTICES], 5);
  EXPECT_EQ(relations[v1::RECRUITER_RELATION_UNKNOWN], 126);
  EXPECT_EQ(relations[v1::RECRUITER_RELATION_OTHER], 24);
  EXPECT_EQ(relations[v1::RECRUITER_RELATION_INTIMATE_PARTNER], 21);
  EXPECT_EQ(relations[v1::RECRUITER_RELATION_FAMILY], 16);
  EXPECT_EQ(relations[v1::RECRUITER_RELATION_FRIEND], 13);
  EXPECT_EQ(construction, 12);
  EXPECT_EQ(abductions, 2);
}

TEST(CtdcImport, FlagsGiveTheFormWhenTypeOfExploitConcatenatedIsEmpty) {
  ImportResult result = ImportCtdcString(ReadSample());
  // Lines 13, 24 and 200 of the sample have an empty typeOfExploitConcatenated.
  const CtdcRecord* labour = FindLine(result, 13);
  ASSERT_NE(labour, nullptr);
  EXPECT_THAT(labour->profile.exploitation_forms(),
              ElementsAre(v1::EXPLOITATION_FORM_FORCED_LABOUR));
  EXPECT_EQ(labour->profile.sex(), v1::SEX_MALE);
  EXPECT_THAT(labour->profile.citizenship(), ElementsAre("UA"));
  EXPECT_EQ(labour->profile.country_of_exploitation(), "RU");
  const CtdcRecord* sexual = FindLine(result, 24);
  ASSERT_NE(sexual, nullptr);
  EXPECT_THAT(sexual->profile.exploitation_forms(),
              ElementsAre(v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION));
  const CtdcRecord* last = FindLine(result, 200);
  ASSERT_NE(last, nullptr);
  EXPECT_THAT(last->profile.exploitation_forms(), ElementsAre(v1::EXPLOITATION_FORM_FORCED_LABOUR));

  std::string csv = GlobalHeaderLine() + "\n" +
                    GlobalRow({{"isForcedLabour", "1"},
                               {"isSexualExploit", "1"},
                               {"typeOfExploitConcatenated", ""},
                               {"gender", "Female"}}) +
                    "\n";
  ImportResult inline_result = ImportCtdcString(csv);
  ASSERT_THAT(inline_result.errors, IsEmpty()) << ErrorsToString(inline_result);
  ASSERT_EQ(inline_result.records.size(), 1u);
  EXPECT_THAT(
      inline_result.records[0].profile.exploitation_forms(),
      ElementsAre(v1::EXPLOITATION_FORM_FORCED_LABOUR, v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION));
}

TEST(CtdcImport, SexAndLabourSetsBothForms) {
  std::string csv = GlobalHeaderLine() + "\n" +
                    GlobalRow({{"isSexAndLabour", "1"}, {"isForcedLabour", "0"}}) + "\n";
  ImportResult result = ImportCtdcString(csv);
  ASSERT_EQ(result.records.size(), 1u) << ErrorsToString(result);
  EXPECT_THAT(
      result.records[0].profile.exploitation_forms(),
      ElementsAre(v1::EXPLOITATION_FORM_FORCED_LABOUR, v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION));
}

TEST(CtdcImport, FamilyRelativeAndOtherGiveTwoRelations) {
  std::string csv =
      GlobalHeaderLine() + "\n" +
      GlobalRow({{"RecruiterRelationship", "Family/Relative; Other"}, {"gender", "Female"}}) +
      "\n" + GlobalRow({{"RecruiterRelationship", "family/relative;OTHER"}}) + "\n" +
      GlobalRow({{"RecruiterRelationship", "Not Specified"}, {"recruiterRelationFriend", "1"}}) +
      "\n";
  ImportResult result = ImportCtdcString(csv);
  ASSERT_THAT(result.errors, IsEmpty()) << ErrorsToString(result);
  ASSERT_EQ(result.records.size(), 3u);
  EXPECT_THAT(result.records[0].profile.recruiter_relations(),
              ElementsAre(v1::RECRUITER_RELATION_FAMILY, v1::RECRUITER_RELATION_OTHER));
  EXPECT_THAT(result.records[1].profile.recruiter_relations(),
              ElementsAre(v1::RECRUITER_RELATION_FAMILY, v1::RECRUITER_RELATION_OTHER));
  EXPECT_THAT(result.records[2].profile.recruiter_relations(),
              ElementsAre(v1::RECRUITER_RELATION_FRIEND));
}

TEST(CtdcImport, QuotedFieldContainingTheSeparatorParses) {
  // Line 9 of the sample quotes meansOfControlConcatenated, which holds eight ';'.
  ImportResult sample = ImportCtdcString(ReadSample());
  const CtdcRecord* quoted = FindLine(sample, 9);
  ASSERT_NE(quoted, nullptr);
  EXPECT_THAT(quoted->profile.means_of_control(),
              ElementsAre(v1::MEANS_OF_CONTROL_DEBT_BONDAGE, v1::MEANS_OF_CONTROL_TAKES_EARNINGS,
                          v1::MEANS_OF_CONTROL_THREATS, v1::MEANS_OF_CONTROL_PSYCHOLOGICAL_ABUSE,
                          v1::MEANS_OF_CONTROL_PHYSICAL_ABUSE, v1::MEANS_OF_CONTROL_FALSE_PROMISES,
                          v1::MEANS_OF_CONTROL_RESTRICTS_MOVEMENT,
                          v1::MEANS_OF_CONTROL_EXCESSIVE_WORKING_HOURS,
                          v1::MEANS_OF_CONTROL_WITHHOLDS_DOCUMENTS));
  EXPECT_EQ(quoted->profile.country_of_exploitation(), "PL");  // columns after it stay aligned

  // Without flag columns the concatenated text is used; the column after it stays aligned.
  ImportResult result = ImportCtdcString(
      "gender;meansOfControlConcatenated;ageBroad\n"
      "Female;\"Threats;Physical Abuse\";9--17\n");
  ASSERT_THAT(result.errors, IsEmpty()) << ErrorsToString(result);
  EXPECT_EQ(result.layout, CtdcLayout::kOther);
  ASSERT_EQ(result.records.size(), 1u);
  EXPECT_THAT(result.records[0].profile.means_of_control(),
              ElementsAre(v1::MEANS_OF_CONTROL_THREATS, v1::MEANS_OF_CONTROL_PHYSICAL_ABUSE));
  EXPECT_EQ(result.records[0].profile.age_band(), v1::AGE_BAND_9_17);
}

TEST(CtdcImport, MalformedRowsGiveErrorsNamingLineColumnAndValueAndTheImportGoesOn) {
  std::string csv = GlobalHeaderLine() + "\n" +                                        // line 1
                    GlobalRow({{"gender", "Female"}}) + "\n" +                         // line 2
                    GlobalRow({{"gender", "Male"}, {"isForcedLabour", "2"}}) + "\n" +  // 3
                    ";2019;Hotline;Female\n" +                                         // line 4
                    GlobalRow({{"ageBroad", "18-25"}}) + "\n" +                        // line 5
                    GlobalRow({{"ageBroad", "48+"}}) + "\n";                           // line 6
  ImportResult result = ImportCtdcString(csv);
  ASSERT_EQ(result.records.size(), 2u);
  EXPECT_EQ(result.records[0].line, 2);
  EXPECT_EQ(result.records[1].line, 6);
  EXPECT_EQ(result.rows_rejected, 3);
  ASSERT_EQ(result.errors.size(), 3u) << ErrorsToString(result);
  // isForcedLabour is the 29th field of the published header (the index column is the first).
  EXPECT_EQ(result.errors[0].ToString(),
            "invalid argument: isForcedLabour: line 3, column 29: flag value '2' is not 0, 1 or "
            "empty");
  EXPECT_THAT(result.errors[1].message(), HasSubstr("line 4, column 5"));
  EXPECT_THAT(result.errors[1].message(), HasSubstr("4 fields but the header has 64"));
  EXPECT_EQ(result.errors[2].field(), "ageBroad");
  EXPECT_THAT(result.errors[2].message(), HasSubstr("line 5, column 5"));
  EXPECT_THAT(result.errors[2].message(), HasSubstr("'18-25'"));
}

TEST(CtdcImport, EveryBadFieldOfARowIsReported) {
  std::string csv = GlobalHeaderLine() + "\n" +
                    GlobalRow({{"gender", "Robot"},
                               {"yearOfRegistration", "20X9"},
                               {"majorityStatus", "Teen"},
                               {"citizenship", "Philippines"},
                               {"RecruiterRelationship", "Family/Relative; Neighbour"},
                               {"isAbduction", "yes"}}) +
                    "\n";
  ImportResult result = ImportCtdcString(csv);
  EXPECT_TRUE(result.records.empty());
  EXPECT_EQ(result.rows_rejected, 1);
  std::vector<std::string> fields;
  for (const Status& s : result.errors) {
    fields.push_back(s.field());
    EXPECT_THAT(s.message(), HasSubstr("line 2, column "));
  }
  EXPECT_THAT(fields, ElementsAre("yearOfRegistration", "gender", "majorityStatus", "citizenship",
                                  "RecruiterRelationship", "isAbduction"));
}

// Found by fuzzing: two letters that are no assigned country, and a year the broker's validation
// refuses, were imported and only refused later at intake. The import names them itself.
TEST(CtdcImport, UnassignedCountryCodesAndImplausibleYearsAreRefusedAtImport) {
  std::string csv = GlobalHeaderLine() + "\n" +
                    GlobalRow({{"CountryOfExploitation", "UP"}, {"citizenship", "XX"},
                               {"yearOfRegistration", "1950"}}) +
                    "\n";
  ImportResult result = ImportCtdcString(csv);
  EXPECT_TRUE(result.records.empty());
  std::vector<std::string> fields;
  for (const Status& s : result.errors) fields.push_back(s.field());
  EXPECT_THAT(fields, ElementsAre("yearOfRegistration", "citizenship", "CountryOfExploitation"));
}

TEST(CtdcImport, CsvSyntaxErrorCostsOneRow) {
  std::string csv = GlobalHeaderLine() + "\n" + GlobalRow({{"gender", "Female"}}) + "\n" +
                    ";\"2019\"x;Hotline\n" + GlobalRow({{"gender", "Male"}}) + "\n";
  ImportResult result = ImportCtdcString(csv);
  ASSERT_EQ(result.records.size(), 2u);
  EXPECT_EQ(result.records[1].profile.sex(), v1::SEX_MALE);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_THAT(result.errors[0].message(), HasSubstr("line 3, column 8"));
}

TEST(CtdcImport, ValuesCompareCaseInsensitively) {
  std::string csv = GlobalHeaderLine() + "\n" +
                    GlobalRow({{"gender", "FEMALE"},
                               {"Datasource", "case management"},
                               {"majorityStatus", "minor"},
                               {"meansOfControlConcatenated", "Physical abuse"},
                               {"RecruiterRelationship", "not specified"}}) +
                    "\n" +
                    GlobalRow({{"gender", "transgender/nonconforming"},
                               {"Datasource", "HOTLINE"},
                               {"meansOfControlConcatenated", "Physical Abuse"}}) +
                    "\n" + GlobalRow({{"gender", "male"}, {"Datasource", "Polaris Partner"}}) +
                    "\n";
  ImportResult result = ImportCtdcString(csv);
  ASSERT_THAT(result.errors, IsEmpty()) << ErrorsToString(result);
  ASSERT_EQ(result.records.size(), 3u);
  const v1::Profile& a = result.records[0].profile;
  EXPECT_EQ(a.sex(), v1::SEX_FEMALE);
  EXPECT_EQ(a.identification_channel(), v1::IDENTIFICATION_CHANNEL_CASE_MANAGEMENT);
  EXPECT_EQ(a.majority_at_identification(), v1::MAJORITY_STATUS_MINOR);
  EXPECT_THAT(a.means_of_control(), ElementsAre(v1::MEANS_OF_CONTROL_PHYSICAL_ABUSE));
  EXPECT_THAT(a.recruiter_relations(), ElementsAre(v1::RECRUITER_RELATION_UNKNOWN));
  EXPECT_EQ(result.records[0].datasource, "case management");
  const v1::Profile& b = result.records[1].profile;
  EXPECT_EQ(b.sex(), v1::SEX_OTHER);
  EXPECT_EQ(b.identification_channel(), v1::IDENTIFICATION_CHANNEL_HOTLINE);
  EXPECT_THAT(b.means_of_control(), ElementsAre(v1::MEANS_OF_CONTROL_PHYSICAL_ABUSE));
  EXPECT_EQ(result.records[2].profile.identification_channel(), v1::IDENTIFICATION_CHANNEL_OTHER);
}

TEST(CtdcImport, CountryCodesAreNormalised) {
  std::string csv = GlobalHeaderLine() + "\n" +
                    GlobalRow({{"citizenship", "ph"}, {"CountryOfExploitation", "-99"}}) + "\n" +
                    GlobalRow({{"citizenship", "00"}, {"CountryOfExploitation", "PHL"}}) + "\n" +
                    GlobalRow({{"citizenship", "NA"}, {"CountryOfExploitation", " us "}}) + "\n";
  ImportResult result = ImportCtdcString(csv);
  ASSERT_THAT(result.errors, IsEmpty()) << ErrorsToString(result);
  ASSERT_EQ(result.records.size(), 3u);
  EXPECT_THAT(result.records[0].profile.citizenship(), ElementsAre("PH"));
  EXPECT_EQ(result.records[0].profile.country_of_exploitation(), "");
  EXPECT_THAT(result.records[1].profile.citizenship(), IsEmpty());
  EXPECT_EQ(result.records[1].profile.country_of_exploitation(), "PH");
  EXPECT_THAT(result.records[2].profile.citizenship(), ElementsAre("NA"));  // Namibia
  EXPECT_EQ(result.records[2].profile.country_of_exploitation(), "US");
}

TEST(CtdcImport, ReadsTheSyntheticDatasetLayoutByName) {
  // The 27 columns of CTDC's global synthetic dataset, in a different order than CTDC's file to
  // show that only names matter; ',' is detected; countries are alpha-3.
  std::string csv =
      "gender,yearOfRegistration,ageBroad,citizenship,CountryOfExploitation,traffickMonths,"
      "meansDebtBondageEarnings,meansThreats,meansAbusePsyPhySex,meansFalsePromises,"
      "meansDrugsAlcohol,meansDenyBasicNeeds,meansExcessiveWorkHours,meansWithholdDocs,"
      "isForcedLabour,isSexualExploit,isOtherExploit,typeOfLabourAgriculture,"
      "typeOfLabourConstruction,typeOfLabourDomesticWork,typeOfLabourHospitality,"
      "typeOfSexProstitution,typeOfSexPornography,recruiterRelationIntimatePartner,"
      "recruiterRelationFriend,recruiterRelationFamily,recruiterRelationOther\r\n"
      "Female,2021,9--17,PHL,USA,0--12 (0-1 yr),1,1,1,0,1,0,0,0,0,1,0,,,,,1,0,0,0,1,0\r\n"
      "Man,2020,30--38,,MYS,,,,,,,,,1,1,0,0,0,1,0,0,,,,,,\r\n";
  ImportResult result = ImportCtdcString(csv);
  ASSERT_THAT(result.errors, IsEmpty()) << ErrorsToString(result);
  EXPECT_EQ(result.layout, CtdcLayout::kSynthetic);
  ASSERT_EQ(result.records.size(), 2u);
  const v1::Profile& a = result.records[0].profile;
  EXPECT_EQ(a.sex(), v1::SEX_FEMALE);
  EXPECT_EQ(a.year_of_registration(), 2021);
  EXPECT_EQ(a.age_band(), v1::AGE_BAND_9_17);
  EXPECT_THAT(a.citizenship(), ElementsAre("PH"));
  EXPECT_EQ(a.country_of_exploitation(), "US");
  // meansDebtBondageEarnings and meansAbusePsyPhySex lump several values: not mapped.
  EXPECT_THAT(a.means_of_control(), ElementsAre(v1::MEANS_OF_CONTROL_THREATS,
                                                v1::MEANS_OF_CONTROL_PSYCHOACTIVE_SUBSTANCES));
  EXPECT_THAT(a.exploitation_forms(), ElementsAre(v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION));
  EXPECT_THAT(a.sexual_exploitation_types(),
              ElementsAre(v1::SEXUAL_EXPLOITATION_TYPE_PROSTITUTION));
  EXPECT_THAT(a.recruiter_relations(), ElementsAre(v1::RECRUITER_RELATION_FAMILY));
  EXPECT_EQ(a.identification_channel(), v1::IDENTIFICATION_CHANNEL_UNSPECIFIED);
  const v1::Profile& b = result.records[1].profile;
  EXPECT_EQ(b.sex(), v1::SEX_MALE);
  EXPECT_THAT(b.citizenship(), IsEmpty());
  EXPECT_EQ(b.country_of_exploitation(), "MY");
  EXPECT_THAT(b.means_of_control(), ElementsAre(v1::MEANS_OF_CONTROL_WITHHOLDS_DOCUMENTS));
  EXPECT_THAT(b.exploitation_forms(), ElementsAre(v1::EXPLOITATION_FORM_FORCED_LABOUR));
  EXPECT_THAT(b.labour_sectors(), ElementsAre(v1::LABOUR_SECTOR_CONSTRUCTION));
}

TEST(CtdcImport, HeaderWithoutRequiredColumnsIsOneError) {
  ImportResult result = ImportCtdcString("name;phone\nAlice;123\n");
  EXPECT_TRUE(result.records.empty());
  EXPECT_EQ(result.layout, CtdcLayout::kUnknown);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_THAT(result.errors[0].message(), HasSubstr("gender, ageBroad, citizenship"));

  ImportResult empty = ImportCtdcString("");
  EXPECT_TRUE(empty.records.empty());
  ASSERT_EQ(empty.errors.size(), 1u);
}

TEST(CtdcImport, ErrorListIsCapped) {
  std::string csv = "gender;isForcedLabour\n";
  for (int i = 0; i < 50; ++i) {
    csv += "Female;7\n";
  }
  ImportOptions options;
  options.max_errors = 10;
  ImportResult result = ImportCtdcString(csv, options);
  EXPECT_EQ(result.rows_rejected, 50);
  ASSERT_EQ(result.errors.size(), 11u);
  EXPECT_THAT(result.errors.back().message(), HasSubstr("40 more errors"));
}

TEST(CtdcImport, ParseAgeBandAcceptsCtdcTextsOnly) {
  v1::AgeBand band = v1::AGE_BAND_UNSPECIFIED;
  EXPECT_TRUE(ParseAgeBand("0--8", &band));
  EXPECT_EQ(band, v1::AGE_BAND_0_8);
  EXPECT_TRUE(ParseAgeBand("30-38", &band));
  EXPECT_EQ(band, v1::AGE_BAND_30_38);
  EXPECT_TRUE(ParseAgeBand("48+", &band));
  EXPECT_EQ(band, v1::AGE_BAND_48_PLUS);
  EXPECT_TRUE(ParseAgeBand("", &band));
  EXPECT_EQ(band, v1::AGE_BAND_UNSPECIFIED);
  EXPECT_FALSE(ParseAgeBand("18--25", &band));
  EXPECT_FALSE(ParseAgeBand("adult", &band));
  for (int i = 1; i <= 9; ++i) {
    auto b = static_cast<v1::AgeBand>(i);
    ASSERT_TRUE(ParseAgeBand(AgeBandText(b), &band));
    EXPECT_EQ(band, b);
  }
}

TEST(CtdcImport, SurvivesMangledInput) {
  // Damaged copies of the sample (bytes replaced by separators, quotes, line breaks, NULs and
  // random values) must give records and errors, never a crash or a hang.
  const std::string sample = ReadSample();
  std::mt19937 rng(20240611);
  const char kNasty[] = {';', '"', '\n', '\r', '\0', ',', '1', '-'};
  for (int round = 0; round < 40; ++round) {
    std::string damaged = sample;
    for (int i = 0; i < 60; ++i) {
      std::size_t at = rng() % damaged.size();
      damaged[at] =
          (rng() % 2 == 0) ? kNasty[rng() % sizeof(kNasty)] : static_cast<char>(rng() % 256);
    }
    ImportResult result = ImportCtdcString(damaged);
    EXPECT_LE(result.records.size(), 400u);
  }
}

}  // namespace
}  // namespace passage::ctdc
