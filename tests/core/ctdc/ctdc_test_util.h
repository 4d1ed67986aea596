#pragma once

// Helpers shared by the CTDC tests: the sample file and rows in its layout.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/ctdc/csv.h"

namespace passage::ctdc::testing {

// tests/data/ctdc_kanon_small.csv: 200 rows of CTDC's public k-anonymised global dataset.
inline std::string SamplePath() {
  return std::string(PASSAGE_TEST_DATA_DIR) + "/ctdc_kanon_small.csv";
}

inline std::string ReadSample() {
  std::ifstream in(SamplePath(), std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << SamplePath();
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The sample's header line (64 fields, the first being the terms-of-use sentence), no line end.
inline std::string GlobalHeaderLine() {
  std::string sample = ReadSample();
  return sample.substr(0, sample.find('\n'));
}

// A data row in the global layout: `values` by column name, every other field empty.
inline std::string GlobalRow(const std::map<std::string, std::string>& values) {
  Result<std::vector<CsvRow>> header = ParseCsv(GlobalHeaderLine());
  EXPECT_TRUE(header.ok());
  std::vector<std::string> fields(header->front().fields.size());
  for (const auto& [name, value] : values) {
    bool found = false;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (header->front().fields[i] == name) {
        fields[i] = value;
        found = true;
      }
    }
    EXPECT_TRUE(found) << "no column " << name;
  }
  return FormatCsvRow(fields);
}

}  // namespace passage::ctdc::testing
