// passagectl --format csv: a node's JSON list as CSV rows (services/ctl/csv_output.h).

#include "services/ctl/csv_output.h"

#include <gtest/gtest.h>

#include "services/ctl/cli.h"

namespace passage::ctl {
namespace {

TEST(CsvOutput, AListOfObjectsBecomesOneRowEachWithTheFieldsInTheOrderTheyAppear) {
  // Two inbox entries as the node writes them (protobuf JSON: int64 as strings, defaults left
  // out), with a list of objects (history) that CSV leaves out and a list of names it joins.
  auto csv = JsonListToCsv(
      R"([{"referral_id":"r-1","service":"SERVICE_TYPE_SHELTER","respond_by_ms":"1765103700000",)"
      R"("data_scope":["DATA_SECTION_PROFILE","DATA_SECTION_PERSONAL"],)"
      R"("history":[{"to":"REFERRAL_STATUS_SENT"}]},)"
      R"({"referral_id":"r-2","priority":"PRIORITY_URGENT","service":"SERVICE_TYPE_MEDICAL"}])");
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  EXPECT_EQ(*csv,
            "referral_id,service,respond_by,data_scope,priority\r\n"
            "r-1,SERVICE_TYPE_SHELTER,2025-12-07T10:35:00Z,"
            "DATA_SECTION_PROFILE; DATA_SECTION_PERSONAL,\r\n"
            "r-2,SERVICE_TYPE_MEDICAL,,,PRIORITY_URGENT\r\n");
}

TEST(CsvOutput, SeveralListsAreNamedAndTheAnswersPlainMembersRepeatOnEveryRow) {
  auto csv = JsonListToCsv(
      R"({"case_id":"c-1","notes":[{"note_id":"n-1","written_by":"fia"}],)"
      R"("documents":[{"document_id":"d-1","kind":"DOCUMENT_KIND_CERTIFICATE"}],"count":2})");
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  EXPECT_EQ(*csv,
            "list,case_id,count,note_id,written_by,document_id,kind\r\n"
            "notes,c-1,2,n-1,fia,,\r\n"
            "documents,c-1,2,,,d-1,DOCUMENT_KIND_CERTIFICATE\r\n");
}

TEST(CsvOutput, NestedObjectsAreFlattenedWithDots) {
  auto csv = JsonListToCsv(
      R"({"table":"x","cells":[{"values":{"sex":"FEMALE","age_band":"18-24"},"count":12}]})");
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  EXPECT_EQ(*csv, "table,values.sex,values.age_band,count\r\nx,FEMALE,18-24,12\r\n");
}

TEST(CsvOutput, CellsAreQuotedAndNeverRunAsFormulas) {
  EXPECT_EQ(CsvCell("plain"), "plain");
  EXPECT_EQ(CsvCell("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvCell("say \"no\""), "\"say \"\"no\"\"\"");
  EXPECT_EQ(CsvCell("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvCell("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
  EXPECT_EQ(CsvCell("+92 300"), "'+92 300");
  EXPECT_EQ(CsvCell("@sum"), "'@sum");
  EXPECT_EQ(CsvCell("-3"), "-3");  // a number stays a number
  EXPECT_EQ(CsvCell("-1.5"), "-1.5");
  EXPECT_EQ(CsvCell("-x"), "'-x");
  // Escapes in the JSON come out as the characters they stand for, Urdu included.
  auto csv = JsonListToCsv(R"([{"name":"\u0627\u06cc\u0641 \"q\"","n":"a\\b"}])");
  ASSERT_TRUE(csv.ok());
  EXPECT_EQ(*csv, "name,n\r\n\"\u0627\u06cc\u0641 \"\"q\"\"\",a\\b\r\n");
}

TEST(CsvOutput, AnEmptyListGivesAHeaderOnlyAndNoListIsAnError) {
  auto empty = JsonListToCsv(R"({"items":[],"next_after":"0"})");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "next_after\r\n");
  for (const char* bad : {R"({"login":"a"})", "[1,2]", "{", R"([{"a":1},)", "", "\"x\""}) {
    auto r = JsonListToCsv(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().field(), "--format") << bad;
  }
  // Nesting beyond 64 is refused, not a stack overflow.
  std::string deep = "[{\"a\":" + std::string(200, '[') + std::string(200, ']') + "}]";
  EXPECT_FALSE(JsonListToCsv(deep).ok());
}

TEST(CsvOutput, FormatIsAGlobalOptionForListCommands) {
  auto inbox = ParseArgs({"inbox", "--format", "csv"}, "/srv/node");
  ASSERT_TRUE(inbox.ok()) << inbox.status().ToString();
  EXPECT_TRUE(inbox->csv);
  EXPECT_TRUE(inbox->request.json());  // the node is asked for JSON
  auto staff = ParseArgs({"--format=csv", "staff", "list"}, "/srv/node");
  ASSERT_TRUE(staff.ok()) << staff.status().ToString();
  EXPECT_TRUE(staff->csv);
  // report: the node's own CSV sheets, as text.
  auto report = ParseArgs({"report", "quality", "--format", "csv"}, "/srv/node");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->request.crime_report().csv());
  EXPECT_FALSE(report->request.json());
  auto json = ParseArgs({"inbox", "--format", "json"}, "/srv/node");
  ASSERT_TRUE(json.ok());
  EXPECT_TRUE(json->json);
  EXPECT_FALSE(json->csv);

  struct Bad {
    std::vector<std::string> args;
    const char* says;
  };
  const Bad bad[] = {
      {{"inbox", "--format", "xml"}, "not text, json or csv"},
      {{"inbox", "--format", "cvs"}, "did you mean csv?"},
      {{"inbox", "--json", "--format", "csv"}, "give one of them"},
      {{"status", "--format", "csv"}, "status does not"},
      {{"staff", "add", "x", "--roles", "case_worker", "--format", "csv"}, "staff does not"},
  };
  for (const Bad& b : bad) {
    auto r = ParseArgs(b.args, "/srv/node");
    ASSERT_FALSE(r.ok()) << b.args[0];
    EXPECT_EQ(r.status().field(), "--format");
    EXPECT_NE(r.status().message().find(b.says), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace passage::ctl
