#pragma once

// Export of Passage profiles as a CTDC-compatible CSV file, k-anonymised.
//
// Operation: one row per profile, the 63 named columns of CTDC's k-anonymised global dataset
// with their CTDC names and order (optionally behind an index column, as CTDC publishes),
// separator ';' by default, fields quoted only where needed (see FormatCsvRow). The file reads
// back with ImportCtdc: every mapped field survives the round trip except as listed under
// Limitations.
//
// Cell values: flags are "1"/"0" when the profile has any value of that group and empty when it
// has none (CTDC's "missing"); the *Concatenated columns join the CTDC labels with ';'
// (RecruiterRelationship with "; "); Datasource is "Case Management", "Hotline", "Other" or
// empty after identification_channel; ageBroad comes from age_band, or from age_years when
// age_band is unset; citizenship is the first citizenship only. age_years, provinces,
// gender_identity and the sensitive attributes are never written.
//
// k-anonymity. The quasi-identifier (QI) of a row is the tuple (gender, ageBroad, citizenship,
// CountryOfExploitation, yearOfRegistration) as written. With k >= 2 the rule is:
//   1. Count the rows of every QI tuple. In each row whose tuple occurs fewer than k times,
//      blank citizenship.
//   2. Recount; in each row whose tuple still occurs fewer than k times, blank ageBroad.
//   3. Recount; same for yearOfRegistration.
//   4. Recount; drop every row whose tuple still occurs fewer than k times ("suppressed").
// A step only moves rows out of tuples with fewer than k rows, and only into other tuples, so a
// tuple that has k rows keeps them: in the output every QI tuple occurs at least k times (or the
// output has no rows). gender and CountryOfExploitation are never blanked, only suppressed.
// Worked example, k = 2: rows (F,9--17,PH,US,2019), (F,9--17,UA,US,2019) and (F,9--17,,US,2019)
// are each alone; step 1 blanks both citizenships and all three share (F,9--17,,US,2019).
// Other columns are not generalised: k-anonymity here bounds re-identification through the QI
// columns only. k = 0 or 1 exports every row unchanged.
//
// Limitations (lossy mappings): exploitation forms with no CTDC flag (child labour, forced
// begging, forced criminality) are written as isOtherExploit; LABOUR_SECTOR_BRICK_KILNS as
// typeOfLabourOther; SEX_UNKNOWN as "Unknown"; only the first citizenship.
//
// Thread-safety: pure function.

#include <span>
#include <string>

#include "core/status.h"
#include "passage/v1/case.pb.h"

namespace passage::ctdc {

struct ExportOptions {
  // Minimum size of every quasi-identifier class in the output; 0 or 1 turns the rule off.
  int k = 11;
  char separator = ';';
  // "\r\n" as CTDC publishes, or "\n".
  std::string line_ending = "\r\n";
  // When non-empty, a first column with this header and empty cells, like the index column of
  // CTDC's own file (whose header is its terms-of-use sentence).
  std::string index_column_header;
  // Sort rows by (yearOfRegistration, gender, ageBroad, citizenship, CountryOfExploitation) so
  // that the input order (e.g. by registration date) cannot be used to link rows back to cases.
  // When false, rows keep the input order.
  bool sort_rows = true;
};

struct ExportResult {
  std::string csv;  // header and rows
  int rows_written = 0;
  int rows_generalised = 0;  // written rows with at least one QI field blanked by the rule
  int rows_suppressed = 0;   // rows dropped by step 4
};

// Fails with kInvalidArgument when k < 0 or the separator is '"', CR or LF.
Result<ExportResult> ExportCtdcCsv(std::span<const passage::v1::Profile> profiles,
                                   const ExportOptions& options = {});

}  // namespace passage::ctdc
