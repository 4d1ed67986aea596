#include "core/crime_reports.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/codes.h"
#include "tests/core/test_broker.h"

namespace passage::core {
namespace {

namespace v1 = passage::v1;
using passage::core::testing::TestDirectory;

constexpr int64_t kMs2025 = 1'736'000'000'000;  // 2025-01-04

std::string Id(char kind, int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "0190a3c4-5d6e-7f80-9a1b-%c%011d", kind, n);
  return buf;
}

// Random cases, each with a random offence and suspects taken part way through the process.
std::vector<v1::CaseState> Generate(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<uint32_t>(k)); };
  const char* countries[] = {"PK", "AF", "BD", "IN"};
  const char* sections[] = {"PTPA-2018-3", "PPC-370", "PSMA-2018-3"};
  std::vector<v1::CaseState> out;
  for (int i = 0; i < n; ++i) {
    v1::CaseState c;
    c.set_case_id(Id('c', i));
    c.set_opened_by(pick(2) ? "fia-karachi" : "sindh-police");
    c.set_opened_at_ms(kMs2025);
    c.set_crime_type(pick(3) ? v1::CRIME_TYPE_TIP : v1::CRIME_TYPE_SOM);
    c.set_trafficking_status(pick(5) ? v1::TRAFFICKING_STATUS_POSSIBLE
                                     : v1::TRAFFICKING_STATUS_NOT_TRAFFICKED);
    v1::Profile* p = c.mutable_profile();
    p->set_sex(static_cast<v1::Sex>(pick(3)));  // some UNSPECIFIED
    p->set_age_band(static_cast<v1::AgeBand>(pick(10)));
    p->set_year_of_registration(2024 + pick(2));
    if (pick(4)) p->add_citizenship(countries[pick(4)]);
    if (pick(4)) p->add_exploitation_forms(static_cast<v1::ExploitationForm>(1 + pick(3)));
    if (pick(2)) {
      v1::Offence* o = c.add_offences();
      o->set_offence_id(Id('f', i));
      o->set_fir_number(std::to_string(i) + "/2025");
      o->set_police_station(pick(2) ? "PS Clifton" : "FIA AHTC Karachi");
      o->set_registered_on(pick(3) ? "2025-02-03" : "2024-11-30");
      o->set_province(pick(2) ? "PK-SD" : "PK-BA");
      o->add_law_sections(sections[pick(3)]);
      if (pick(3) == 0) o->add_law_sections("PPC-471");
      o->set_crime_type(c.crime_type());
      o->set_recorded_by(c.opened_by());
      for (int s = 0; s < 1 + pick(3); ++s) {
        v1::Suspect* x = c.add_suspects();
        x->set_suspect_id(Id('s', i * 10 + s));
        x->set_offence_id(o->offence_id());
        x->set_sex(pick(4) ? v1::SEX_MALE : v1::SEX_FEMALE);
        x->set_age_band(static_cast<v1::AgeBand>(pick(10)));
        x->set_majority(MajorityForAgeBand(x->age_band()));
        if (pick(3)) x->add_citizenship(countries[pick(4)]);
        x->set_recorded_by(c.opened_by());
        x->set_recorded_at_ms(pick(4) ? kMs2025 : kMs2025 - 200LL * 86400 * 1000);
        if (pick(2)) {
          auto* h = x->add_history();
          h->set_step(v1::ACCUSED_STEP_CHARGED);
          h->set_at_ms(kMs2025);
          h->set_on_date(pick(4) ? "2025-03-01" : "2024-12-01");
          if (pick(2)) {
            auto* v = x->add_history();
            v->set_step(v1::ACCUSED_STEP_CONVICTED);
            v->set_at_ms(kMs2025 + 86400000);
          }
        }
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

const StatsCell* Cell(const StatsTable& t, const std::string& a, const std::string& b) {
  for (const StatsCell& c : t.cells) {
    if (c.values.size() == 2 && c.values[0] == a && c.values[1] == b) return &c;
  }
  return nullptr;
}

int64_t Shown(const StatsTable& t, const std::string& a, const std::string& b) {
  const StatsCell* c = Cell(t, a, b);
  return c == nullptr ? 0 : c->count;
}

const ReportSheet& SheetNamed(const std::vector<ReportSheet>& sheets, const std::string& name) {
  for (const ReportSheet& s : sheets) {
    if (s.name == name) return s;
  }
  ADD_FAILURE() << "no sheet " << name;
  static const ReportSheet kNone;
  return kNone;
}

TEST(GlotipReport, EveryCellAgreesWithCountsMadeIndependently) {
  const std::vector<v1::CaseState> cases = Generate(400, 7);
  std::vector<const v1::CaseState*> ptrs;
  for (const auto& c : cases) ptrs.push_back(&c);
  CrimeReportOptions o;
  o.year = 2025;
  o.k = 1;  // nothing suppressed: every count must be exact
  o.national = "PK";
  auto report = GlotipReport(ptrs, TestDirectory(), o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();

  // Offences by law section x crime type, counted here by hand.
  std::map<std::pair<std::string, std::string>, int64_t> offences;
  // Persons by stage x sex.
  std::map<std::pair<std::string, std::string>, int64_t> persons;
  // Victims by age group x sex, national or foreign x sex.
  std::map<std::pair<std::string, std::string>, int64_t> victims_age, victims_nat;
  for (const auto& c : cases) {
    for (const auto& off : c.offences()) {
      if (off.registered_on().substr(0, 4) != "2025") continue;
      for (const auto& code : off.law_sections()) {
        ++offences[{code, c.crime_type() == v1::CRIME_TYPE_TIP ? "TIP" : "SOM"}];
      }
    }
    for (const auto& s : c.suspects()) {
      const std::string sex = s.sex() == v1::SEX_MALE ? "MALE" : "FEMALE";
      if (UtcYearOfMs(s.recorded_at_ms()) == 2025) ++persons[{"FORMAL_CONTACT", sex}];
      bool charged = false, convicted = false;
      for (const auto& h : s.history()) {
        const std::string date = h.on_date().empty() ? "2025" : h.on_date();
        charged |= h.step() == v1::ACCUSED_STEP_CHARGED && date.substr(0, 4) == "2025";
        convicted |= h.step() == v1::ACCUSED_STEP_CONVICTED && UtcYearOfMs(h.at_ms()) == 2025;
      }
      if (charged) ++persons[{"PROSECUTED", sex}];
      if (convicted) ++persons[{"CONVICTED", sex}];
    }
    const bool victim = c.crime_type() == v1::CRIME_TYPE_TIP &&
                        c.trafficking_status() != v1::TRAFFICKING_STATUS_NOT_TRAFFICKED &&
                        c.profile().year_of_registration() == 2025;
    if (victim) {
      const std::string sex = c.profile().sex() == v1::SEX_UNSPECIFIED ? "UNSPECIFIED"
                              : c.profile().sex() == v1::SEX_FEMALE    ? "FEMALE"
                                                                       : "MALE";
      const v1::AgeBand b = c.profile().age_band();
      const std::string age = b == v1::AGE_BAND_UNSPECIFIED ? "unknown"
                              : (b == v1::AGE_BAND_0_8 || b == v1::AGE_BAND_9_17) ? "CHILD"
                                                                                   : "ADULT";
      ++victims_age[{age, sex}];
      const std::string nat = c.profile().citizenship().empty()        ? "unknown"
                              : c.profile().citizenship(0) == "PK"     ? "NATIONAL"
                                                                       : "FOREIGN";
      ++victims_nat[{nat, sex}];
    }
  }
  ASSERT_FALSE(offences.empty());
  ASSERT_FALSE(persons.empty());
  for (const auto& [key, n] : offences) {
    EXPECT_EQ(Shown(SheetNamed(*report, "offences_by_section").table, key.first, key.second), n)
        << key.first << " " << key.second;
  }
  for (const auto& [key, n] : persons) {
    EXPECT_EQ(Shown(SheetNamed(*report, "persons_by_sex").table, key.first, key.second), n)
        << key.first << " " << key.second;
  }
  for (const auto& [key, n] : victims_age) {
    EXPECT_EQ(Shown(SheetNamed(*report, "victims_by_age").table, key.first, key.second), n)
        << key.first << " " << key.second;
  }
  for (const auto& [key, n] : victims_nat) {
    EXPECT_EQ(Shown(SheetNamed(*report, "victims_by_citizenship").table, key.first, key.second),
              n)
        << key.first << " " << key.second;
  }
  // Every listed cell was counted here too (nothing extra).
  int64_t listed = 0, counted = 0;
  for (const auto& c : SheetNamed(*report, "persons_by_sex").table.cells) listed += c.count;
  for (const auto& [key, n] : persons) counted += n;
  EXPECT_EQ(listed, counted);
  EXPECT_NE(SheetNamed(*report, "offences_by_section").source.find("fia-karachi"),
            std::string::npos);

  // With k = 5 no shown cell lies between 1 and 4, and the CSV marks the hidden ones.
  o.k = 5;
  auto suppressed = GlotipReport(ptrs, TestDirectory(), o);
  ASSERT_TRUE(suppressed.ok());
  int hidden = 0;
  for (const ReportSheet& s : *suppressed) {
    for (const StatsCell& c : s.table.cells) {
      EXPECT_TRUE(c.suppressed || c.count == 0 || c.count >= 5) << s.name;
      hidden += c.suppressed;
    }
  }
  EXPECT_GT(hidden, 0) << "the generated data has small cells";
  const std::string csv = ReportCsv(*suppressed);
  EXPECT_NE(csv.find(",suppressed"), std::string::npos);
  EXPECT_EQ(csv.rfind("sheet,row,column,count,flag\n", 0), 0u);
}

TEST(SmugglingReport, RoutesAndSmugglersAreCounted) {
  std::vector<v1::CaseState> cases(12);
  for (int i = 0; i < 12; ++i) {
    v1::CaseState& c = cases[static_cast<size_t>(i)];
    c.set_case_id(Id('c', i));
    c.set_crime_type(v1::CRIME_TYPE_SOM);
    c.set_opened_by("fia-karachi");
    c.mutable_profile()->set_year_of_registration(2025);
    v1::SmugglingDetails* d = c.mutable_smuggling();
    d->set_origin_country("PK");
    if (i < 5) d->add_transit_countries("IR");
    d->set_destination_country(i < 5 ? "GR" : "AE");
    d->set_interception(v1::INTERCEPTION_LAND_BORDER);
    if (i == 0) d->add_aggravations(v1::AGGRAVATION_DEATH);
    if (i == 11) c.set_crime_type(v1::CRIME_TYPE_TIP);  // not smuggling: not counted
    if (i == 10) {
      // Detected as a smuggled migrant, re-classified since as a trafficking victim: counted.
      auto* k = c.add_classifications();
      k->set_crime_type(v1::CRIME_TYPE_SOM);
      k->set_person_role(v1::PERSON_ROLE_SMUGGLED_MIGRANT);
      c.set_crime_type(v1::CRIME_TYPE_TIP);
      c.set_person_role(v1::PERSON_ROLE_VICTIM);
    }
  }
  std::vector<const v1::CaseState*> ptrs;
  for (const auto& c : cases) ptrs.push_back(&c);
  CrimeReportOptions o;
  o.year = 2025;
  o.k = 5;
  o.national = "PK";
  auto r = SmugglingReport(ptrs, TestDirectory(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const StatsTable& routes = SheetNamed(*r, "migrants_by_route").table;
  ASSERT_FALSE(routes.cells.empty());
  bool found = false;
  for (const auto& c : routes.cells) {
    if (c.values[0] == "PK > IR > GR") {
      found = true;
      EXPECT_EQ(c.count, 5);
    }
    if (c.values[0] == "PK > AE") {
      EXPECT_EQ(c.count, 6);
    }
  }
  EXPECT_TRUE(found);
}

TEST(Sdg16Report, RatesPer100000FromThePopulationTable) {
  auto pop = ParsePopulation("sex,age_group,population\nFEMALE,CHILD,1000000\nMALE,CHILD,1000000\n"
                             "FEMALE,ADULT,2000000\nMALE,ADULT,2000000\n");
  ASSERT_TRUE(pop.ok()) << pop.status().ToString();
  EXPECT_FALSE(ParsePopulation("FEMALE,CHILD,many\n").ok());
  EXPECT_FALSE(ParsePopulation("WOMAN,CHILD,5\n").ok());
  std::vector<v1::CaseState> cases(16);
  for (int i = 0; i < 16; ++i) {
    v1::CaseState& c = cases[static_cast<size_t>(i)];
    c.set_case_id(Id('c', i));
    c.set_crime_type(v1::CRIME_TYPE_TIP);
    c.mutable_profile()->set_year_of_registration(2025);
    c.mutable_profile()->set_sex(v1::SEX_FEMALE);
    c.mutable_profile()->set_age_band(i < 10 ? v1::AGE_BAND_9_17 : v1::AGE_BAND_30_38);
  }
  std::vector<const v1::CaseState*> ptrs;
  for (const auto& c : cases) ptrs.push_back(&c);
  CrimeReportOptions o;
  o.year = 2025;
  o.k = 5;
  o.population = *pop;
  auto r = Sdg16Report(ptrs, TestDirectory(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  bool child = false;
  for (const auto& row : (*r)[0].rows) {
    if (row[0] == "FEMALE" && row[1] == "CHILD") {
      child = true;
      EXPECT_EQ(row[2], "10");
      EXPECT_EQ(row[4], "1.00");  // 10 per 1,000,000
    }
    if (row[0] == "FEMALE" && row[1] == "ADULT") {
      EXPECT_EQ(row[4], "0.30");  // 6 per 2,000,000
    }
  }
  EXPECT_TRUE(child);
  o.population.clear();
  EXPECT_EQ(Sdg16Report(ptrs, TestDirectory(), o).status().field(), "population");
}

TEST(GlotipReport, OneFirWithThreeVictimsAndOneAccusedCountOnce) {
  // The police record one FIR on each of three victims' cases (the CLI gave each recording its own
  // id) and the one accused on each with the same suspect id; the conviction is recorded on the
  // second case only.
  std::vector<v1::CaseState> cases(3);
  for (int i = 0; i < 3; ++i) {
    v1::CaseState& c = cases[static_cast<size_t>(i)];
    c.set_case_id(Id('c', i));
    c.set_crime_type(v1::CRIME_TYPE_TIP);
    v1::Offence* o = c.add_offences();
    o->set_offence_id(Id('f', i));
    o->set_fir_number(i == 1 ? "112/2025 " : "112/2025");
    o->set_police_station(i == 2 ? "fia ahtc karachi" : "FIA AHTC Karachi");
    o->set_registered_on("2025-02-01");
    o->add_law_sections("PTPA-2018-3");
    o->set_crime_type(v1::CRIME_TYPE_TIP);
    v1::Suspect* x = c.add_suspects();
    x->set_suspect_id(Id('s', 1));
    x->set_offence_id(o->offence_id());
    x->set_sex(v1::SEX_MALE);
    x->set_recorded_at_ms(kMs2025 + i * 1000);
    if (i == 1) {
      auto* h = x->add_history();
      h->set_step(v1::ACCUSED_STEP_CONVICTED);
      h->set_on_date("2025-06-01");
    }
  }
  std::vector<const v1::CaseState*> ptrs;
  for (const auto& c : cases) ptrs.push_back(&c);
  CrimeReportOptions o;
  o.year = 2025;
  o.k = 1;
  auto r = GlotipReport(ptrs, TestDirectory(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(SheetNamed(*r, "offences_by_section").table.total.count, 1);
  EXPECT_EQ(Shown(SheetNamed(*r, "persons_by_sex").table, "FORMAL_CONTACT", "MALE"), 1);
  EXPECT_EQ(Shown(SheetNamed(*r, "persons_by_sex").table, "CONVICTED", "MALE"), 1)
      << "the conviction recorded on another victim's case counts";
}

TEST(QualityReport, NoSmallCountOfPeopleCanBeReadFromIt) {
  // 12 victims of one agency in one month (3 without a sex), 2 of another agency.
  std::vector<v1::CaseState> cases(14);
  for (int i = 0; i < 14; ++i) {
    v1::CaseState& c = cases[static_cast<size_t>(i)];
    c.set_case_id(Id('c', i));
    c.set_crime_type(v1::CRIME_TYPE_TIP);
    c.set_opened_by(i < 12 ? "fia-karachi" : "sindh-police");
    c.set_opened_at_ms(kMs2025);
    c.mutable_profile()->set_year_of_registration(2025);
    c.mutable_profile()->set_sex(i < 3 ? v1::SEX_UNSPECIFIED : v1::SEX_FEMALE);
    c.mutable_profile()->set_age_band(v1::AGE_BAND_24_26);
    c.mutable_profile()->add_citizenship("PK");
    c.mutable_profile()->add_exploitation_forms(v1::EXPLOITATION_FORM_FORCED_LABOUR);
  }
  std::vector<const v1::CaseState*> ptrs;
  for (const auto& c : cases) ptrs.push_back(&c);
  CrimeReportOptions o;
  o.year = 2025;
  o.k = 5;
  auto r = QualityReport(ptrs, TestDirectory(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ReportSheet& q = (*r)[0];
  ASSERT_EQ(q.rows.size(), 2u);
  for (const auto& row : q.rows) {
    ASSERT_EQ(row.size(), q.header.size());
    EXPECT_EQ(row[2], "victims");
    if (row[0] == "sindh-police") {
      EXPECT_EQ(row[3], "<5") << "two records: the count is hidden";
      EXPECT_EQ(row[4], "");
    } else {
      // 12 is hidden too: with the other agency's 2 hidden, the month's line would give it away.
      EXPECT_EQ(row[3], "<5");
    }
  }
  // With more records the shares show, but never a share that is 1 to 4 people.
  for (int i = 0; i < 6; ++i) {
    cases.push_back(cases[13]);
    cases.back().set_case_id(Id('d', i));
  }
  ptrs.clear();
  for (const auto& c : cases) ptrs.push_back(&c);
  r = QualityReport(ptrs, TestDirectory(), o);
  ASSERT_TRUE(r.ok());
  for (const auto& row : (*r)[0].rows) {
    if (row[0] == "fia-karachi") {
      EXPECT_EQ(row[3], "12");
      EXPECT_EQ(row[4], "<5") << "3 of 12 without a sex: not shown as 25%";
      EXPECT_EQ(row[5], "0%");
    } else {
      EXPECT_EQ(row[3], "8");
    }
  }
  const std::string csv = ReportCsv(*r);
  EXPECT_NE(csv.find("data_quality,fia-karachi / 2025-01 / victims,no_sex,,suppressed"),
            std::string::npos)
      << csv;
}

TEST(Sdg16Report, APartialPopulationGivesNoTotalAndTheCsvKeepsBothKeys) {
  auto pop = ParsePopulation("Sex,Age_Group,Population\nFEMALE,CHILD,1000000\n");
  ASSERT_TRUE(pop.ok()) << pop.status().ToString();
  EXPECT_FALSE(ParsePopulation("FEMALE,CHILD,99999999999999999999\n").ok());
  std::vector<v1::CaseState> cases(6);
  for (int i = 0; i < 6; ++i) {
    v1::CaseState& c = cases[static_cast<size_t>(i)];
    c.set_case_id(Id('c', i));
    c.set_crime_type(v1::CRIME_TYPE_TIP);
    c.mutable_profile()->set_year_of_registration(2025);
    c.mutable_profile()->set_sex(v1::SEX_FEMALE);
    c.mutable_profile()->set_age_band(v1::AGE_BAND_9_17);
  }
  std::vector<const v1::CaseState*> ptrs;
  for (const auto& c : cases) ptrs.push_back(&c);
  CrimeReportOptions o;
  o.year = 2025;
  o.k = 5;
  o.population = *pop;
  auto r = Sdg16Report(ptrs, TestDirectory(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& total = (*r)[0].rows.back();
  EXPECT_EQ(total[3], "not all given");
  EXPECT_EQ(total[4], "");
  const std::string csv = ReportCsv(*r);
  EXPECT_NE(csv.find("sdg16_by_sex_age,FEMALE / CHILD,per_100000,0.60,"), std::string::npos)
      << csv;
}

// Issue #16 item 9: in a report, a cell hidden only to protect another is told apart from a small
// one: "x" and flag "secondary", against "<5" and flag "suppressed".
TEST(ReportCsv, PrimaryAndSecondaryCellsHaveTheirOwnFlags) {
  std::vector<std::vector<std::vector<StatsValue>>> units;
  const std::vector<std::vector<int>> grid = {{10, 10, 20}, {2, 30, 10}};
  for (size_t i = 0; i < grid.size(); ++i) {
    for (size_t j = 0; j < grid[i].size(); ++j) {
      for (int u = 0; u < grid[i][j]; ++u) {
        units.push_back({{StatsValue{static_cast<int64_t>(i), i == 0 ? "FEMALE" : "MALE"}},
                         {StatsValue{static_cast<int64_t>(j), "band" + std::to_string(j)}}});
      }
    }
  }
  auto t = CountUnits({"sex", "band"}, units, 5, "victims");
  ASSERT_TRUE(t.ok());
  ReportSheet sheet;
  sheet.name = "by_sex";
  sheet.title = "Victims by sex and band";
  sheet.source = "test";
  sheet.has_table = true;
  sheet.table = *t;
  const std::string csv = ReportCsv({sheet});
  EXPECT_NE(csv.find("by_sex,MALE,band0,,suppressed\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",,secondary\n"), std::string::npos) << csv;
  const std::string text = RenderReport("heading", {sheet});
  EXPECT_NE(text.find("\nx: hidden so that"), std::string::npos) << text;
}

}  // namespace
}  // namespace passage::core
