// Fuzz target: CTDC CSV import (core/ctdc/ctdc_import.h), the file an analyst gives
// `passagectl ctdc import`, with the separator detected from the header as the command does, and
// the CSV reader on its own with both of CTDC's separators.
//
// Invariants: the import never fails as a whole and never crashes; every record it returns
// passes core::ValidateProfile, since imported profiles are published as events.

#include <string>
#include <string_view>

#include "core/ctdc/csv.h"
#include "core/ctdc/ctdc_import.h"
#include "core/validate.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view csv(reinterpret_cast<const char*>(data), size);
  passage::ctdc::ImportResult result = passage::ctdc::ImportCtdcString(csv);
  for (const passage::ctdc::CtdcRecord& record : result.records) {
    const passage::Status s = passage::core::ValidateProfile(record.profile, "profile");
    PASSAGE_FUZZ_CHECK(s.ok(), s.ToString().c_str());
  }
  for (char separator : {';', ','}) {
    passage::ctdc::CsvOptions options;
    options.separator = separator;
    (void)passage::ctdc::ParseCsv(csv, options);
  }
  return 0;
}
