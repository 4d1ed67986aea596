#include "core/strict_json.h"

#include <gtest/gtest.h>

#include <string>

#include "passage/v1/control.pb.h"
#include "passage/v1/events.pb.h"

namespace passage::core {
namespace {

const google::protobuf::Descriptor* Intake() { return passage::v1::IntakeRequest::descriptor(); }

void ExpectRefused(const std::string& json, const std::string& field, const std::string& words) {
  Status s = CheckStrictJson(json, Intake());
  EXPECT_FALSE(s.ok()) << json;
  EXPECT_EQ(s.field(), field) << json << "\n" << s.ToString();
  EXPECT_NE(s.message().find(words), std::string::npos) << s.ToString();
}

TEST(StrictJson, AcceptsWhatTheDocsShow) {
  EXPECT_TRUE(CheckStrictJson(R"({"crime_type": "CRIME_TYPE_TIP",
      "profile": {"sex": "SEX_FEMALE", "citizenship": ["PK", "AF"], "ageYears": 24},
      "personal": {"given_name": "Rukhsana \u0627 \ud83d\ude00 \u062e\u0627\u0646", "photos": []},
      "consents": [{"scope": "CONSENT_SCOPE_SERVICES"}], "x": null, "n": -1.5e3})",
                              Intake())
                  .ok());
  EXPECT_TRUE(CheckStrictJson("  [1, 2, {\"a\": [true, false, null]}]  ", nullptr).ok());
}

TEST(StrictJson, EachLenienceOfTheProtobufReaderIsRefusedNamingTheField) {
  // A trailing comma.
  ExpectRefused(R"({"crime_type": "CRIME_TYPE_TIP",})", "", "trailing comma");
  ExpectRefused(R"({"profile": {"citizenship": ["PK",]}})", "profile.citizenship",
                "trailing comma");
  // A key given twice: the last one would win and the case be stored as smuggling.
  ExpectRefused(R"({"crime_type": "CRIME_TYPE_TIP", "crime_type": "CRIME_TYPE_SOM"})",
                "crime_type", "given twice");
  // The same field under its JSON name and its proto name.
  ExpectRefused(R"({"profile": {"age_years": 3, "ageYears": 4}})", "profile.age_years",
                "given twice");
  // A single value where a list is expected, and a list in a list.
  ExpectRefused(R"({"profile": {"citizenship": "PK"}})", "profile.citizenship", "expects a list");
  ExpectRefused(R"({"profile": {"citizenship": [["PK"]]}})", "profile.citizenship[0]",
                "a list inside a list");
  ExpectRefused(R"({"consents": {"scope": "CONSENT_SCOPE_SERVICES"}})", "consents",
                "expects a list");
  // Not UTF-8: the field is named, not only the file.
  ExpectRefused("{\"personal\": {\"given_name\": \"Ruk\xff\"}}", "personal.given_name",
                "not UTF-8");
  ExpectRefused("{\"personal\": {\"family_name\": \"\xc0\xaf\"}}", "personal.family_name",
                "not UTF-8");  // an overlong '/'
  ExpectRefused(R"({"personal": {"narrative": "\ud800 alone"}})", "personal.narrative",
                "surrogate");
  ExpectRefused("{\"personal\": {\"address\": \"a\x01b\"}}", "personal.address",
                "control character");
  // Not JSON at all.
  ExpectRefused(R"({"crime_type": 'TIP'})", "crime_type", "does not start a JSON value");
  ExpectRefused(R"({"crime_type": "CRIME_TYPE_TIP"} x)", "", "more text");
  std::string deep_path;
  for (int i = 0; i <= kMaxJsonDepth; ++i) deep_path += "[0]";
  ExpectRefused(std::string(100, '[') + std::string(100, ']'), deep_path, "deeper than 64");
}

}  // namespace
}  // namespace passage::core
