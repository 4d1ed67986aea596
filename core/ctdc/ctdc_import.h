#pragma once

// Import of CTDC (Counter Trafficking Data Collaborative) CSV files into Passage profiles.
//
// Operation: the header row is read first and columns are found BY NAME (case-insensitively,
// blanks trimmed), never by position; unknown columns are ignored. Two layouts are recognised:
//   - the k-anonymised global dataset: ';'-separated, a first index column whose header is the
//     terms-of-use sentence, then 63 named columns (yearOfRegistration, Datasource, gender, ...);
//   - the global synthetic dataset: ','-separated, 27 columns (yearOfRegistration, gender,
//     ageBroad, citizenship, CountryOfExploitation, traffickMonths, is*, means*, typeOf* or
//     sectorOf*, recruiterRelation*); its countries may be alpha-3 codes.
// Any other file is accepted when it has at least one of gender, ageBroad or citizenship.
//
// Mapping (values compared case-insensitively; the empty string is "missing"):
//   gender          Female/Woman -> SEX_FEMALE, Male/Man -> SEX_MALE, Transgender/NonConforming
//                   (and other trans/non-conforming spellings, "Other") -> SEX_OTHER,
//                   Unknown/Not specified -> SEX_UNKNOWN.
//   ageBroad        "0--8" ... "48+" (a single hyphen is accepted too) -> AgeBand.
//   majorityStatus, majorityStatusAtExploit
//                   Minor/Adult -> MajorityStatus; Unknown/Not specified -> unspecified.
//   citizenship, CountryOfExploitation
//                   upper-cased alpha-2 kept as is; alpha-3 converted; "-99", "00", "NULL",
//                   "Unknown" and the like -> none.
//   is* flags       -> exploitation_forms (isSexAndLabour sets forced labour AND sexual
//                   exploitation). The flags win: typeOfExploitConcatenated is read only when
//                   every exploitation flag of the row is empty. Same rule for meansOfControl*,
//                   typeOfLabour* and typeOfSex* and their *Concatenated columns.
//   recruiterRelation* flags and RecruiterRelationship text ("Family/Relative; Other" is two
//                   relations) -> recruiter_relations, their union; UNKNOWN ("Not Specified")
//                   is dropped when a known relation is present.
//   isAbduction     -> is_abduction.  yearOfRegistration -> year_of_registration.
//   Datasource      kept verbatim in CtdcRecord::datasource; "Case Management" ->
//                   IDENTIFICATION_CHANNEL_CASE_MANAGEMENT, "Hotline" -> ..._HOTLINE, any other
//                   non-empty value -> ..._OTHER.
// Repeated fields are sorted by enum number without duplicates. crime_type is always
// CRIME_TYPE_TIP: CTDC records trafficking cases only.
//
// Errors: a malformed row (field count unlike the header's, a flag other than 0, 1 or "1.0"/"0.0"
// or empty, an unknown gender, age band, majority status or recruiter relation, a year outside
// 1900..2100, a value that is not a country code, a CSV syntax error) yields no record and one
// Status per problem, e.g.
//   invalid argument: isForcedLabour: line 7, column 29: flag value '2' is not 0, 1 or empty
// where the column is the 1-based field position (for CSV syntax errors: the byte position in the
// line). The import then goes on with the next row. A header with none of the required columns
// yields a single error and no records.
//
// Limitations: the input is read into memory whole; values outside Profile (majorityEntry,
// traffickMonths, the synthetic composite means* columns) are dropped.
//
// Thread-safety: pure functions; the stream must not be used by another thread meanwhile.

#include <cstddef>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "passage/v1/case.pb.h"
#include "passage/v1/common.pb.h"

namespace passage::ctdc {

enum class CtdcLayout {
  kUnknown,      // header not recognised: the import failed
  kGlobalKAnon,  // k-anonymised global dataset (63 named columns)
  kSynthetic,    // global synthetic dataset (27 columns)
  kOther,        // some other file with CTDC column names
};

struct CtdcRecord {
  passage::v1::Profile profile;
  passage::v1::CrimeType crime_type = passage::v1::CRIME_TYPE_TIP;
  std::string datasource;  // the Datasource cell, verbatim (trimmed); empty when absent
  int line = 0;            // physical line of the row in the input (the header is line 1)
};

struct ImportOptions {
  // Field separator; '\0' detects ';' or ',' from the header (whichever names more CTDC columns).
  char separator = '\0';
  // At most this many errors are kept (one more says how many were left out); 0 keeps all.
  std::size_t max_errors = 1000;
};

struct ImportResult {
  std::vector<CtdcRecord> records;
  std::vector<Status> errors;
  CtdcLayout layout = CtdcLayout::kUnknown;
  int rows_rejected = 0;  // data rows that produced no record
};

// Reads a whole CTDC CSV file. Never fails as a whole: see ImportResult::errors.
ImportResult ImportCtdc(std::istream& in, const ImportOptions& options = {});
ImportResult ImportCtdcString(std::string_view csv, const ImportOptions& options = {});

// The CTDC texts for single values, shared with the exporter. ParseAgeBand also accepts a
// single hyphen; both return false for text they do not know. Empty text is AGE_BAND_UNSPECIFIED.
bool ParseAgeBand(std::string_view text, passage::v1::AgeBand* band);
std::string_view AgeBandText(passage::v1::AgeBand band);  // "" for AGE_BAND_UNSPECIFIED

}  // namespace passage::ctdc
