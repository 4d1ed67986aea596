#include "core/ctdc/csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/status_matchers.h"

namespace passage::ctdc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Fields(const Result<std::optional<CsvRow>>& r) {
  if (!r.ok() || !r->has_value()) {
    return {"<no row>"};
  }
  return (*r)->fields;
}

TEST(Csv, ParsesRowsWithCrLfAndLfLineEndings) {
  Result<std::vector<CsvRow>> rows = ParseCsv("a;b;c\r\nd;;f\ng;h;i");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_THAT((*rows)[0].fields, ElementsAre("a", "b", "c"));
  EXPECT_THAT((*rows)[1].fields, ElementsAre("d", "", "f"));
  EXPECT_THAT((*rows)[2].fields, ElementsAre("g", "h", "i"));
  EXPECT_EQ((*rows)[0].line, 1);
  EXPECT_EQ((*rows)[1].line, 2);
  EXPECT_EQ((*rows)[2].line, 3);
}

TEST(Csv, QuotedFieldKeepsSeparatorsDoubledQuotesAndNewlines) {
  Result<std::vector<CsvRow>> rows =
      ParseCsv("\"Other;Not specified\";\"say \"\"hi\"\"\";\"two\r\nlines\"\nnext;row;\"\"\n");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_THAT((*rows)[0].fields, ElementsAre("Other;Not specified", "say \"hi\"", "two\r\nlines"));
  EXPECT_THAT((*rows)[1].fields, ElementsAre("next", "row", ""));
  EXPECT_EQ((*rows)[1].line, 3);  // the quoted line break counts
}

TEST(Csv, CommaSeparatorIsConfigurable) {
  CsvOptions options;
  options.separator = ',';
  Result<std::vector<CsvRow>> rows = ParseCsv("a,\"b,c\",d;e\n", options);
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_THAT((*rows)[0].fields, ElementsAre("a", "b,c", "d;e"));
}

TEST(Csv, DropsLeadingBomAndSkipsEmptyLines) {
  Result<std::vector<CsvRow>> rows = ParseCsv("\xef\xbb\xbfx;y\n\n\r\nz;w\n\n");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_THAT((*rows)[0].fields, ElementsAre("x", "y"));
  EXPECT_THAT((*rows)[1].fields, ElementsAre("z", "w"));
  EXPECT_EQ((*rows)[1].line, 4);
}

TEST(Csv, PartialBomBytesAreData) {
  Result<std::vector<CsvRow>> rows = ParseCsv("\xef\xbbq;r\n");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_THAT((*rows)[0].fields, ElementsAre("\xef\xbbq", "r"));
}

TEST(Csv, CharacterAfterClosingQuoteIsAnErrorNamingLineAndColumnAndReadingGoesOn) {
  std::istringstream in("a;b\n\"x\"y;z\nc;d\n");
  Result<CsvReader> reader = CsvReader::Open(in);
  ASSERT_OK(reader);
  EXPECT_THAT(Fields(reader->Next()), ElementsAre("a", "b"));
  Result<std::optional<CsvRow>> bad = reader->Next();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("line 2, column 4"));
  EXPECT_THAT(bad.status().message(), HasSubstr("'y'"));
  Result<std::optional<CsvRow>> next = reader->Next();
  EXPECT_THAT(Fields(next), ElementsAre("c", "d"));
  EXPECT_EQ((*next)->line, 3);
  Result<std::optional<CsvRow>> end = reader->Next();
  ASSERT_OK(end);
  EXPECT_FALSE(end->has_value());
}

TEST(Csv, QuoteInsideUnquotedFieldIsAnError) {
  Result<std::vector<CsvRow>> rows = ParseCsv("ok;fine\nab\"c;d\n");
  ASSERT_FALSE(rows.ok());
  EXPECT_THAT(rows.status().message(), HasSubstr("line 2, column 3"));
}

TEST(Csv, UnclosedQuoteNamesWhereItOpened) {
  std::istringstream in("a;b\nc;\"never closed\nmore\n");
  Result<CsvReader> reader = CsvReader::Open(in);
  ASSERT_OK(reader);
  EXPECT_THAT(Fields(reader->Next()), ElementsAre("a", "b"));
  Result<std::optional<CsvRow>> bad = reader->Next();
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("line 2, column 3"));
  EXPECT_THAT(bad.status().message(), HasSubstr("not closed"));
  Result<std::optional<CsvRow>> end = reader->Next();
  ASSERT_OK(end);
  EXPECT_FALSE(end->has_value());
}

TEST(Csv, OverlongFieldIsAnError) {
  CsvOptions options;
  options.max_field_bytes = 4;
  std::istringstream in("abcd;abcdefgh\nx;y\n");
  Result<CsvReader> reader = CsvReader::Open(in, options);
  ASSERT_OK(reader);
  Result<std::optional<CsvRow>> bad = reader->Next();
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("line 1, column 10"));
  EXPECT_THAT(Fields(reader->Next()), ElementsAre("x", "y"));
}

TEST(Csv, OpenRejectsSeparatorEqualToQuote) {
  std::istringstream in("");
  CsvOptions options;
  options.separator = '"';
  EXPECT_FALSE(CsvReader::Open(in, options).ok());
  options.separator = '\n';
  EXPECT_FALSE(CsvReader::Open(in, options).ok());
}

TEST(Csv, EmptyInputHasNoRows) {
  Result<std::vector<CsvRow>> rows = ParseCsv("");
  ASSERT_OK(rows);
  EXPECT_TRUE(rows->empty());
}

TEST(Csv, FormatQuotesOnlyWhereNeededAndReadsBack) {
  std::vector<std::string> fields = {"plain", "a;b", "say \"x\"", "line\nbreak", " pad", ""};
  std::string line = FormatCsvRow(fields);
  EXPECT_EQ(line, "plain;\"a;b\";\"say \"\"x\"\"\";\"line\nbreak\";\" pad\";");
  Result<std::vector<CsvRow>> rows = ParseCsv(line + "\r\n");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].fields, fields);
}

TEST(Csv, FormatKeepsARowOfOneEmptyField) {
  std::vector<std::string> one_empty = {""};
  EXPECT_EQ(FormatCsvRow(one_empty), "\"\"");
  Result<std::vector<CsvRow>> rows = ParseCsv(FormatCsvRow(one_empty) + "\n");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_THAT((*rows)[0].fields, ElementsAre(""));
}

}  // namespace
}  // namespace passage::ctdc
