#pragma once

// The reports a state owes on trafficking and smuggling (docs/law-enforcement.md, "Reports"),
// computed from case projections: the UNODC GLOTIP questionnaire's tables, the smuggling report,
// SDG 16.2.2 rates and the data-quality view. Pure: no I/O; thread-safe for unchanging inputs.
//
// Every count table goes through CountUnits (core/statistics.h), so small cells are suppressed
// exactly as `passagectl stats` suppresses them. Units are deduplicated by id (an offence or a
// suspect counts once however many cases carry it).
//
// Dates: an offence counts in the year of its registered_on; a suspect is "in formal contact" in
// the year it was recorded, "prosecuted" in the year of a CHARGED step and "convicted" in the
// year of a CONVICTED step (the step's on_date, else when it was recorded; a conviction reached
// on appeal is not a first-instance conviction and is not counted); a victim or smuggled migrant
// counts in its year of registration (profile.year_of_registration, else the year it was opened).
// Adult/child: the suspect's majority (else from its age band); the victim's majority at
// identification (else from its age band). National/foreign: the first citizenship against
// `national` (the NRM's own country).

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/agency_directory.h"
#include "core/statistics.h"
#include "core/status.h"
#include "passage/v1/case.pb.h"

namespace passage::core {

struct CrimeReportOptions {
  int32_t year = 0;       // the reference year (0: every year, for the quality view only)
  int k = 5;              // suppression threshold
  std::string national;   // ISO alpha-2 of the NRM's country, e.g. "PK"
  // SDG 16.2.2: population by (sex, age group), e.g. {"FEMALE","CHILD"} -> 41000000.
  std::map<std::pair<std::string, std::string>, int64_t> population;
};

// One sheet of a report: a suppressed count table, or (rates, data quality) plain rows.
struct ReportSheet {
  std::string name;    // short id used in CSV, e.g. "offences_by_section"
  std::string title;   // what it counts, for people
  std::string source;  // which agencies' records it counts
  bool has_table = false;
  StatsTable table;
  std::vector<std::string> header;            // rows sheets
  std::vector<std::vector<std::string>> rows;
  size_t key_columns = 1;  // rows sheets: the leading columns that name a row (the CSV's row)
  std::string legend;      // rows sheets: SuppressionLegend of the table the rows show, if any
};

Result<std::vector<ReportSheet>> GlotipReport(const std::vector<const passage::v1::CaseState*>& cases,
                                              const AgencyDirectory& agencies,
                                              const CrimeReportOptions& options);
Result<std::vector<ReportSheet>> SmugglingReport(
    const std::vector<const passage::v1::CaseState*>& cases, const AgencyDirectory& agencies,
    const CrimeReportOptions& options);
// Needs options.population; InvalidArgument "population" when it is empty.
Result<std::vector<ReportSheet>> Sdg16Report(const std::vector<const passage::v1::CaseState*>& cases,
                                             const AgencyDirectory& agencies,
                                             const CrimeReportOptions& options);
// Per agency and month: records and the share missing each required disaggregation (victims:
// sex, age, citizenship, form of exploitation, the last over trafficking victims only; suspects:
// sex, age, citizenship). Unspecified and "unknown" both count as missing. The record counts are
// a table (agency x month, for victims and for suspects) suppressed like the others, and a share
// is shown only where neither the records missing it nor those having it number 1 to k-1, so
// that no small count of people can be worked out from a share.
Result<std::vector<ReportSheet>> QualityReport(
    const std::vector<const passage::v1::CaseState*>& cases, const AgencyDirectory& agencies,
    const CrimeReportOptions& options);

// Parses the population table: CSV lines "sex,age_group,population" (a header line is skipped,
// any case); sex FEMALE or MALE, age group CHILD or ADULT, population a whole number from 1 to
// 10^11. InvalidArgument naming "population" and the line. The total and by-form rates need all
// four groups; with fewer, only the groups given have a rate.
Result<std::map<std::pair<std::string, std::string>, int64_t>> ParsePopulation(std::string_view csv);

// Printable text: each sheet's title, its table and its source.
std::string RenderReport(const std::string& heading, const std::vector<ReportSheet>& sheets);
// One CSV stream: sheet,row,column,count,flag. The flag is empty for a shown count,
// "suppressed" for a primary-suppressed one (1 to k-1; shown as "<k" in text) and "secondary" for
// one hidden only to protect another (0 or at least k; shown as "x"). Row and column are
// the values of the first and second dimension ("total" for margins); for a rows sheet, row is
// its key columns joined with " / " and column the name of each other column.
std::string ReportCsv(const std::vector<ReportSheet>& sheets);
// {"sheets":[{"name","title","source","table":<ToJson>} | {"name","title","source","header":[..],"rows":[[..]]}]}
std::string ReportJson(const std::vector<ReportSheet>& sheets);

}  // namespace passage::core
