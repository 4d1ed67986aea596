#include "core/ctdc/ctdc_export.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/ctdc/ctdc_import.h"
#include "tests/core/ctdc/ctdc_test_util.h"
#include "tests/testing/status_matchers.h"

namespace passage::ctdc {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing::ReadSample;

std::vector<v1::Profile> Profiles(const ImportResult& result) {
  std::vector<v1::Profile> out;
  for (const CtdcRecord& r : result.records) {
    out.push_back(r.profile);
  }
  return out;
}

using Qi = std::tuple<int, int, std::string, std::string, int>;

Qi QiOf(const v1::Profile& p) {
  return {p.sex(), p.age_band(), p.citizenship_size() > 0 ? p.citizenship(0) : "",
          p.country_of_exploitation(), p.year_of_registration()};
}

v1::Profile FullProfile() {
  v1::Profile p;
  p.set_sex(v1::SEX_FEMALE);
  p.set_age_band(v1::AGE_BAND_9_17);
  p.set_majority_at_identification(v1::MAJORITY_STATUS_MINOR);
  p.set_majority_at_exploitation(v1::MAJORITY_STATUS_MINOR);
  p.add_citizenship("PK");
  p.set_country_of_exploitation("AE");
  p.add_exploitation_forms(v1::EXPLOITATION_FORM_FORCED_LABOUR);
  p.add_exploitation_forms(v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION);
  p.add_exploitation_forms(v1::EXPLOITATION_FORM_FORCED_MARRIAGE);
  p.add_labour_sectors(v1::LABOUR_SECTOR_BEGGING);  // repeated values in enum order, as imported
  p.add_labour_sectors(v1::LABOUR_SECTOR_DOMESTIC_WORK);
  p.add_sexual_exploitation_types(v1::SEXUAL_EXPLOITATION_TYPE_PROSTITUTION);
  p.add_sexual_exploitation_types(v1::SEXUAL_EXPLOITATION_TYPE_PORNOGRAPHY);
  p.add_means_of_control(v1::MEANS_OF_CONTROL_DEBT_BONDAGE);
  p.add_means_of_control(v1::MEANS_OF_CONTROL_THREATS);
  p.add_means_of_control(v1::MEANS_OF_CONTROL_WITHHOLDS_DOCUMENTS);
  p.add_recruiter_relations(v1::RECRUITER_RELATION_FAMILY);
  p.add_recruiter_relations(v1::RECRUITER_RELATION_OTHER);
  p.set_is_abduction(true);
  p.set_identification_channel(v1::IDENTIFICATION_CHANNEL_CASE_MANAGEMENT);
  p.set_year_of_registration(2023);
  return p;
}

ExportOptions NoKAnonymity() {
  ExportOptions options;
  options.k = 0;
  options.sort_rows = false;
  return options;
}

TEST(CtdcExport, RoundTripKeepsTheMappedFields) {
  v1::Profile full = FullProfile();
  v1::Profile sparse;
  sparse.set_sex(v1::SEX_MALE);
  sparse.set_identification_channel(v1::IDENTIFICATION_CHANNEL_HOTLINE);
  // The sparse profiles have no year: the export leaves it empty and the import says unknown.
  sparse.set_year_of_registration_unknown(true);
  v1::Profile other;
  other.set_sex(v1::SEX_OTHER);
  other.set_country_of_exploitation("US");
  other.add_recruiter_relations(v1::RECRUITER_RELATION_UNKNOWN);
  other.set_year_of_registration_unknown(true);
  std::vector<v1::Profile> profiles = {full, sparse, other};

  Result<ExportResult> exported = ExportCtdcCsv(profiles, NoKAnonymity());
  ASSERT_OK(exported);
  EXPECT_EQ(exported->rows_written, 3);
  ImportResult back = ImportCtdcString(exported->csv);
  ASSERT_THAT(back.errors, IsEmpty()) << exported->csv;
  ASSERT_EQ(back.records.size(), 3u);
  for (std::size_t i = 0; i < profiles.size(); ++i) {
    std::string diff;
    MessageDifferencer differ;
    differ.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differ.Compare(profiles[i], back.records[i].profile)) << i << ": " << diff;
  }
  EXPECT_EQ(back.records[0].datasource, "Case Management");
  EXPECT_EQ(back.records[1].datasource, "Hotline");
}

TEST(CtdcExport, TheSampleSurvivesExportAndImport) {
  ImportResult first = ImportCtdcString(ReadSample());
  ASSERT_EQ(first.records.size(), 200u);
  std::vector<v1::Profile> profiles = Profiles(first);
  Result<ExportResult> exported = ExportCtdcCsv(profiles, NoKAnonymity());
  ASSERT_OK(exported);
  ImportResult second = ImportCtdcString(exported->csv);
  ASSERT_THAT(second.errors, IsEmpty());
  ASSERT_EQ(second.records.size(), 200u);
  for (std::size_t i = 0; i < profiles.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(profiles[i], second.records[i].profile))
        << "row " << i << "\n"
        << profiles[i].DebugString() << "---\n"
        << second.records[i].profile.DebugString();
  }
}

TEST(CtdcExport, WritesCtdcColumnsSeparatorAndQuoting) {
  ExportOptions options = NoKAnonymity();
  options.line_ending = "\n";
  options.index_column_header =
      "By using this data you agree to the Terms of Use: https://www.ctdatacollaborative.org/"
      "terms-use";
  std::vector<v1::Profile> profiles = {FullProfile()};
  Result<ExportResult> exported = ExportCtdcCsv(profiles, options);
  ASSERT_OK(exported);
  // The header is the sample's header, byte for byte.
  std::string sample = ReadSample();
  std::string header = sample.substr(0, sample.find('\n') + 1);
  EXPECT_EQ(exported->csv.substr(0, header.size()), header);
  EXPECT_THAT(exported->csv, HasSubstr(";\"Debt bondage;Threats;Withholds documents\";"));
  // Quoted because of the ';', as in CTDC's own file.
  EXPECT_THAT(exported->csv, HasSubstr(";\"Family/Relative; Other\";AE;"));
  EXPECT_THAT(exported->csv, HasSubstr("\n;2023;Case Management;Female;9--17;Minor;Minor;;PK;"));
  ImportResult back = ImportCtdcString(exported->csv);
  EXPECT_EQ(back.layout, CtdcLayout::kGlobalKAnon);
  ASSERT_EQ(back.records.size(), 1u);
}

TEST(CtdcExport, DerivesTheAgeBandAndWritesNoPersonalDetail) {
  v1::Profile p;
  p.set_age_years(19);
  p.set_gender_identity("self-described");
  p.set_province_of_identification("PK-SD");
  p.set_disability(true);
  std::vector<v1::Profile> profiles = {p};
  Result<ExportResult> exported = ExportCtdcCsv(profiles, NoKAnonymity());
  ASSERT_OK(exported);
  EXPECT_THAT(exported->csv, Not(HasSubstr("self-described")));
  EXPECT_THAT(exported->csv, Not(HasSubstr("PK-SD")));
  EXPECT_THAT(exported->csv, Not(HasSubstr("19;")));
  ImportResult back = ImportCtdcString(exported->csv);
  ASSERT_EQ(back.records.size(), 1u);
  EXPECT_EQ(back.records[0].profile.age_band(), v1::AGE_BAND_18_20);
  EXPECT_FALSE(back.records[0].profile.has_age_years());
}

TEST(CtdcExport, FormsWithoutACtdcFlagBecomeOther) {
  v1::Profile p;
  p.add_exploitation_forms(v1::EXPLOITATION_FORM_FORCED_BEGGING);
  p.add_exploitation_forms(v1::EXPLOITATION_FORM_FORCED_LABOUR);
  p.add_labour_sectors(v1::LABOUR_SECTOR_BRICK_KILNS);
  std::vector<v1::Profile> profiles = {p};
  Result<ExportResult> exported = ExportCtdcCsv(profiles, NoKAnonymity());
  ASSERT_OK(exported);
  ImportResult back = ImportCtdcString(exported->csv);
  ASSERT_EQ(back.records.size(), 1u);
  EXPECT_THAT(back.records[0].profile.exploitation_forms(),
              ElementsAre(v1::EXPLOITATION_FORM_FORCED_LABOUR, v1::EXPLOITATION_FORM_OTHER));
  EXPECT_THAT(back.records[0].profile.labour_sectors(), ElementsAre(v1::LABOUR_SECTOR_OTHER));
}

TEST(CtdcExport, KAnonymityElevenHoldsOnTheSample) {
  ImportResult first = ImportCtdcString(ReadSample());
  ASSERT_EQ(first.records.size(), 200u);
  ExportOptions options;
  options.k = 11;
  Result<ExportResult> exported = ExportCtdcCsv(Profiles(first), options);
  ASSERT_OK(exported);
  EXPECT_EQ(exported->rows_written + exported->rows_suppressed, 200);
  EXPECT_GT(exported->rows_written, 100);  // generalising keeps most rows
  EXPECT_GT(exported->rows_generalised, 0);

  ImportResult back = ImportCtdcString(exported->csv);
  ASSERT_THAT(back.errors, IsEmpty());
  ASSERT_EQ(back.records.size(), static_cast<std::size_t>(exported->rows_written));
  std::map<Qi, int> classes;
  for (const CtdcRecord& r : back.records) {
    ++classes[QiOf(r.profile)];
  }
  for (const auto& [qi, count] : classes) {
    EXPECT_GE(count, 11) << "sex " << std::get<0>(qi) << " band " << std::get<1>(qi) << " cit "
                         << std::get<2>(qi) << " country " << std::get<3>(qi) << " year "
                         << std::get<4>(qi);
  }
  // gender is never generalised: every written row keeps its gender.
  std::map<int, int> sex_before;
  for (const CtdcRecord& r : first.records) {
    ++sex_before[r.profile.sex()];
  }
  std::map<int, int> sex_after;
  for (const CtdcRecord& r : back.records) {
    ++sex_after[r.profile.sex()];
  }
  for (const auto& [sex, count] : sex_after) {
    EXPECT_LE(count, sex_before[sex]);
  }
}

TEST(CtdcExport, WorkedExampleFromTheHeader) {
  auto make = [](const std::string& citizenship) {
    v1::Profile p;
    p.set_sex(v1::SEX_FEMALE);
    p.set_age_band(v1::AGE_BAND_9_17);
    if (!citizenship.empty()) {
      p.add_citizenship(citizenship);
    }
    p.set_country_of_exploitation("US");
    p.set_year_of_registration(2019);
    return p;
  };
  std::vector<v1::Profile> profiles = {make("PH"), make("UA"), make("")};
  ExportOptions options;
  options.k = 2;
  Result<ExportResult> exported = ExportCtdcCsv(profiles, options);
  ASSERT_OK(exported);
  EXPECT_EQ(exported->rows_written, 3);
  EXPECT_EQ(exported->rows_generalised, 2);
  EXPECT_EQ(exported->rows_suppressed, 0);
  ImportResult back = ImportCtdcString(exported->csv);
  ASSERT_EQ(back.records.size(), 3u);
  for (const CtdcRecord& r : back.records) {
    EXPECT_THAT(r.profile.citizenship(), IsEmpty());
    EXPECT_EQ(r.profile.age_band(), v1::AGE_BAND_9_17);
    EXPECT_EQ(r.profile.year_of_registration(), 2019);
  }
}

TEST(CtdcExport, RowsThatStayUniqueAreSuppressed) {
  v1::Profile a;
  a.set_sex(v1::SEX_FEMALE);
  a.set_country_of_exploitation("US");
  v1::Profile b;
  b.set_sex(v1::SEX_MALE);
  b.set_country_of_exploitation("US");
  b.set_age_band(v1::AGE_BAND_48_PLUS);
  std::vector<v1::Profile> profiles = {a, a, b};
  ExportOptions options;
  options.k = 2;
  Result<ExportResult> exported = ExportCtdcCsv(profiles, options);
  ASSERT_OK(exported);
  EXPECT_EQ(exported->rows_written, 2);
  EXPECT_EQ(exported->rows_suppressed, 1);
  ImportResult back = ImportCtdcString(exported->csv);
  ASSERT_EQ(back.records.size(), 2u);
  for (const CtdcRecord& r : back.records) {
    EXPECT_EQ(r.profile.sex(), v1::SEX_FEMALE);
  }

  options.k = 5;
  Result<ExportResult> none = ExportCtdcCsv(profiles, options);
  ASSERT_OK(none);
  EXPECT_EQ(none->rows_written, 0);
  EXPECT_EQ(none->rows_suppressed, 3);
  EXPECT_EQ(std::count(none->csv.begin(), none->csv.end(), '\n'), 1);  // header only
}

TEST(CtdcExport, SortsRowsUnlessAskedNotTo) {
  v1::Profile late;
  late.set_year_of_registration(2020);
  v1::Profile early;
  early.set_year_of_registration(2010);
  std::vector<v1::Profile> profiles = {late, early};
  ExportOptions options;
  options.k = 0;
  Result<ExportResult> sorted = ExportCtdcCsv(profiles, options);
  ASSERT_OK(sorted);
  ImportResult back = ImportCtdcString(sorted->csv);
  ASSERT_EQ(back.records.size(), 2u);
  EXPECT_EQ(back.records[0].profile.year_of_registration(), 2010);
  options.sort_rows = false;
  Result<ExportResult> kept = ExportCtdcCsv(profiles, options);
  ASSERT_OK(kept);
  back = ImportCtdcString(kept->csv);
  ASSERT_EQ(back.records.size(), 2u);
  EXPECT_EQ(back.records[0].profile.year_of_registration(), 2020);
}

TEST(CtdcExport, RejectsBadOptions) {
  std::vector<v1::Profile> profiles;
  ExportOptions options;
  options.k = -1;
  EXPECT_EQ(ExportCtdcCsv(profiles, options).status().code(), StatusCode::kInvalidArgument);
  options = ExportOptions();
  options.separator = '"';
  EXPECT_EQ(ExportCtdcCsv(profiles, options).status().code(), StatusCode::kInvalidArgument);
  options = ExportOptions();
  options.line_ending = "\r";
  EXPECT_EQ(ExportCtdcCsv(profiles, options).status().code(), StatusCode::kInvalidArgument);
}

TEST(CtdcExport, CommaSeparatedExportReadsBack) {
  ExportOptions options = NoKAnonymity();
  options.separator = ',';
  std::vector<v1::Profile> profiles = {FullProfile()};
  Result<ExportResult> exported = ExportCtdcCsv(profiles, options);
  ASSERT_OK(exported);
  ImportResult back = ImportCtdcString(exported->csv);  // ',' is detected
  ASSERT_THAT(back.errors, IsEmpty());
  ASSERT_EQ(back.records.size(), 1u);
  EXPECT_TRUE(MessageDifferencer::Equals(back.records[0].profile, FullProfile()));
}

}  // namespace
}  // namespace passage::ctdc
