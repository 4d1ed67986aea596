#include "core/crime_reports.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "core/codes.h"
#include "core/offences.h"

namespace passage::core {
namespace {

namespace v1 = passage::v1;
using passage::v1::CaseState;
using Values = std::vector<StatsValue>;
using Unit = std::vector<Values>;

constexpr int64_t kLast = 1'000'000;

StatsValue Enum(const google::protobuf::EnumDescriptor* type, int number) {
  return StatsValue{number == 0 ? kLast : number, ShortEnumName(type, number)};
}

StatsValue Text(const std::string& text) {
  return text.empty() ? StatsValue{kLast, "unknown"} : StatsValue{0, text};
}

int32_t YearOfDate(const std::string& date) {
  return date.size() >= 4 ? std::atoi(date.substr(0, 4).c_str()) : 0;
}

int32_t RegistrationYear(const CaseState& c) {
  if (c.profile().year_of_registration() != 0) return c.profile().year_of_registration();
  if (c.profile().year_of_registration_unknown()) return 0;  // the source recorded none
  return c.opened_at_ms() != 0 ? UtcYearOfMs(c.opened_at_ms()) : 0;
}

StatsValue AgeGroup(v1::MajorityStatus majority, v1::AgeBand band) {
  if (majority == v1::MAJORITY_STATUS_UNSPECIFIED) majority = MajorityForAgeBand(band);
  switch (majority) {
    case v1::MAJORITY_STATUS_MINOR:
      return {1, "CHILD"};
    case v1::MAJORITY_STATUS_ADULT:
      return {2, "ADULT"};
    default:
      return {kLast, "unknown"};
  }
}

StatsValue Nationality(const google::protobuf::RepeatedPtrField<std::string>& citizenship,
                       const std::string& national) {
  if (citizenship.empty()) return {kLast, "unknown"};
  return citizenship.Get(0) == national ? StatsValue{1, "NATIONAL"} : StatsValue{2, "FOREIGN"};
}

StatsValue FirstCountry(const google::protobuf::RepeatedPtrField<std::string>& citizenship) {
  return Text(citizenship.empty() ? std::string() : citizenship.Get(0));
}

bool IsTraffickingVictim(const CaseState& c) {
  return (c.crime_type() == v1::CRIME_TYPE_TIP || c.crime_type() == v1::CRIME_TYPE_BOTH) &&
         c.trafficking_status() != v1::TRAFFICKING_STATUS_NOT_TRAFFICKED;
}

// A smuggled migrant now, or when first detected: one re-classified as a trafficking victim
// still counts among the migrants smuggled in the year they were detected.
bool IsSmuggledMigrant(const CaseState& c) {
  auto smuggling = [](v1::CrimeType crime, v1::PersonRole role) {
    return crime == v1::CRIME_TYPE_SOM || crime == v1::CRIME_TYPE_BOTH ||
           role == v1::PERSON_ROLE_SMUGGLED_MIGRANT;
  };
  if (smuggling(c.crime_type(), c.person_role())) return true;
  for (const v1::Classification& k : c.classifications()) {
    if (smuggling(k.crime_type(), k.person_role())) return true;
  }
  return false;
}

// The agencies named, as "Name (id), ...".
std::string SourceText(const std::set<std::string>& ids, const AgencyDirectory& agencies,
                       const std::string& what) {
  if (ids.empty()) return "no records";
  std::string out;
  for (const std::string& id : ids) {
    const v1::Agency* a = agencies.Find(id);
    out += out.empty() ? "" : ", ";
    out += a != nullptr && !a->name().empty() ? a->name() + " (" + id + ")" : id;
  }
  return what + " of " + out;
}

Result<ReportSheet> Sheet(std::string name, std::string title, std::string source,
                          std::vector<std::string> dims, const std::vector<Unit>& units, int k,
                          std::string unit, std::vector<std::string> multi = {}) {
  ReportSheet s;
  s.name = std::move(name);
  s.title = std::move(title);
  s.source = std::move(source);
  s.has_table = true;
  ASSIGN_OR_RETURN(s.table, CountUnits(dims, units, k, std::move(unit), multi));
  s.table.title = s.title;
  return s;
}

// A suspect's stages of the justice process within `year`.
Values JusticeStages(const v1::Suspect& s, int32_t year) {
  Values out;
  if (s.recorded_at_ms() != 0 && UtcYearOfMs(s.recorded_at_ms()) == year) {
    out.push_back({1, "FORMAL_CONTACT"});
  }
  bool charged = false, convicted = false;
  for (const v1::AccusedRecord& r : s.history()) {
    const int32_t y = YearOfDate(AccusedRecordDate(r));
    charged = charged || (r.step() == v1::ACCUSED_STEP_CHARGED && y == year);
    convicted = convicted || (r.step() == v1::ACCUSED_STEP_CONVICTED && y == year);
  }
  if (charged) out.push_back({2, "PROSECUTED"});
  if (convicted) out.push_back({3, "CONVICTED"});
  return out;
}

// One offence with several victims is recorded on each victim's case: the same FIR of the same
// station is one offence, whatever its ids. Spaces and case do not make another FIR.
std::string FirKey(const v1::Offence& o) {
  std::string key;
  for (const std::string* part : {&o.police_station(), &o.fir_number()}) {
    for (char c : *part) {
      if (c != ' ') key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    key += '|';
  }
  return key;
}

struct Collected {
  std::map<std::string, const v1::Offence*> offences;  // by FIR key
  // A person accused in several victims' cases carries one suspect id; each case's copy holds
  // the steps recorded there, so the copies are merged: the earliest recording, every step.
  std::map<std::string, std::pair<v1::Suspect, const v1::Offence*>> suspects;
};

Collected Collect(const std::vector<const CaseState*>& cases) {
  Collected c;
  for (const CaseState* s : cases) {
    if (s == nullptr) continue;
    for (const v1::Offence& o : s->offences()) c.offences.emplace(FirKey(o), &o);
    for (const v1::Suspect& x : s->suspects()) {
      auto [it, fresh] =
          c.suspects.emplace(x.suspect_id(), std::make_pair(x, FindOffence(*s, x.offence_id())));
      if (fresh) continue;
      v1::Suspect& merged = it->second.first;
      if (x.recorded_at_ms() != 0 &&
          (merged.recorded_at_ms() == 0 || x.recorded_at_ms() < merged.recorded_at_ms())) {
        merged.set_recorded_at_ms(x.recorded_at_ms());
      }
      for (const v1::AccusedRecord& r : x.history()) {
        bool seen = false;
        for (const v1::AccusedRecord& m : merged.history()) {
          seen = seen || (m.step() == r.step() && AccusedRecordDate(m) == AccusedRecordDate(r));
        }
        if (!seen) *merged.add_history() = r;
      }
    }
  }
  return c;
}

// Persons by justice stage and each of sex, age group, nationality, country.
Status PersonSheets(const std::vector<std::pair<const v1::Suspect*, const v1::Offence*>>& people,
                    const std::string& prefix, const std::string& who,
                    const AgencyDirectory& agencies, const CrimeReportOptions& o,
                    std::vector<ReportSheet>* out) {
  std::vector<Unit> by_sex, by_age, by_nat, by_country;
  std::set<std::string> source;
  for (const auto& [s, offence] : people) {
    Values stages = JusticeStages(*s, o.year);
    if (stages.empty()) continue;
    source.insert(s->recorded_by());
    for (const auto& r : s->history()) source.insert(r.by_agency());
    by_sex.push_back({stages, {Enum(v1::Sex_descriptor(), s->sex())}});
    by_age.push_back({stages, {AgeGroup(s->majority(), s->age_band())}});
    by_nat.push_back({stages, {Nationality(s->citizenship(), o.national)}});
    by_country.push_back({stages, {FirstCountry(s->citizenship())}});
  }
  const std::string src = SourceText(source, agencies, "suspect and accused records");
  const std::string y = std::to_string(o.year);
  const std::vector<std::string> multi = {"stage"};
  ASSIGN_OR_RETURN(ReportSheet a, Sheet(prefix + "_by_sex", who + " by stage and sex, " + y, src,
                                        {"stage", "sex"}, by_sex, o.k, "persons", multi));
  ASSIGN_OR_RETURN(ReportSheet b, Sheet(prefix + "_by_age", who + " by stage, adult or child, " + y,
                                        src, {"stage", "age_group"}, by_age, o.k, "persons", multi));
  ASSIGN_OR_RETURN(ReportSheet c,
                   Sheet(prefix + "_by_citizenship", who + " by stage, national or foreign, " + y,
                         src, {"stage", "citizenship"}, by_nat, o.k, "persons", multi));
  out->push_back(std::move(a));
  out->push_back(std::move(b));
  out->push_back(std::move(c));
  if (prefix == "persons") {
    ASSIGN_OR_RETURN(ReportSheet d,
                     Sheet(prefix + "_by_country", who + " by stage and country of citizenship, " + y,
                           src, {"stage", "country"}, by_country, o.k, "persons", multi));
    out->push_back(std::move(d));
  }
  return Status::Ok();
}

Status CheckYear(const CrimeReportOptions& o) {
  if (o.year < 1990 || o.year > 2100) {
    return Status::InvalidArgument("year", "give the reference year, e.g. --year 2026");
  }
  return Status::Ok();
}

std::string Percent(int64_t part, int64_t whole) {
  if (whole == 0) return "";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return buf;
}

// Each distinct form of exploitation of a victim's case (a case counts under each);
// UNSPECIFIED when none was recorded.
Values FormsOf(const CaseState& c) {
  Values forms;
  for (int f : c.profile().exploitation_forms()) {
    forms.push_back(Enum(v1::ExploitationForm_descriptor(), f));
  }
  if (forms.empty()) forms.push_back({kLast, "UNSPECIFIED"});
  std::sort(forms.begin(), forms.end());
  forms.erase(std::unique(forms.begin(), forms.end()), forms.end());
  return forms;
}

std::string Month(int64_t ms) { return ms == 0 ? "unknown" : FormatUtcMs(ms).substr(0, 7); }

}  // namespace

Result<std::vector<ReportSheet>> GlotipReport(const std::vector<const CaseState*>& cases,
                                              const AgencyDirectory& agencies,
                                              const CrimeReportOptions& o) {
  RETURN_IF_ERROR(CheckYear(o));
  const std::string y = std::to_string(o.year);
  std::vector<ReportSheet> out;
  const Collected all = Collect(cases);

  // Offences recorded.
  std::vector<Unit> by_section, by_province;
  std::set<std::string> source;
  for (const auto& [id, off] : all.offences) {
    if (YearOfDate(off->registered_on()) != o.year) continue;
    source.insert(off->recorded_by());
    Values sections;
    for (const std::string& code : off->law_sections()) sections.push_back({0, code});
    std::sort(sections.begin(), sections.end());
    const StatsValue crime = Enum(v1::CrimeType_descriptor(), off->crime_type());
    by_section.push_back({sections, {crime}});
    by_province.push_back({{Text(off->province())}, {crime}});
  }
  const std::string src = SourceText(source, agencies, "offence records");
  ASSIGN_OR_RETURN(ReportSheet s1, Sheet("offences_by_section",
                                         "Offences recorded by law section and crime type, " + y,
                                         src, {"law_section", "crime_type"}, by_section, o.k,
                                         "offences", {"law_section"}));
  ASSIGN_OR_RETURN(ReportSheet s2, Sheet("offences_by_province",
                                         "Offences recorded by province and crime type, " + y, src,
                                         {"province", "crime_type"}, by_province, o.k, "offences"));
  out.push_back(std::move(s1));
  out.push_back(std::move(s2));

  // Persons brought into formal contact, prosecuted, convicted.
  std::vector<std::pair<const v1::Suspect*, const v1::Offence*>> people;
  for (const auto& [id, p] : all.suspects) people.emplace_back(&p.first, p.second);
  RETURN_IF_ERROR(PersonSheets(people, "persons",
                               "Persons in formal contact with the police, prosecuted, convicted",
                               agencies, o, &out));

  // Victims detected.
  std::vector<Unit> by_form, by_age, by_nat;
  std::set<std::string> victims_source;
  for (const CaseState* c : cases) {
    if (c == nullptr || !IsTraffickingVictim(*c) || RegistrationYear(*c) != o.year) continue;
    victims_source.insert(c->opened_by());
    const StatsValue sex = Enum(v1::Sex_descriptor(), c->profile().sex());
    by_form.push_back({FormsOf(*c), {sex}});
    by_age.push_back({{AgeGroup(c->profile().majority_at_identification(), c->profile().age_band())},
                      {sex}});
    by_nat.push_back({{Nationality(c->profile().citizenship(), o.national)}, {sex}});
  }
  const std::string vsrc = SourceText(victims_source, agencies, "case records");
  ASSIGN_OR_RETURN(ReportSheet v1s, Sheet("victims_by_form", "Victims detected by form of "
                                          "exploitation and sex, " + y, vsrc, {"form", "sex"},
                                          by_form, o.k, "victims", {"form"}));
  ASSIGN_OR_RETURN(ReportSheet v2s, Sheet("victims_by_age", "Victims detected, adult or child, by "
                                          "sex, " + y, vsrc, {"age_group", "sex"}, by_age, o.k,
                                          "victims"));
  ASSIGN_OR_RETURN(ReportSheet v3s, Sheet("victims_by_citizenship", "Victims detected, national "
                                          "or foreign, by sex, " + y, vsrc, {"citizenship", "sex"},
                                          by_nat, o.k, "victims"));
  out.push_back(std::move(v1s));
  out.push_back(std::move(v2s));
  out.push_back(std::move(v3s));
  return out;
}

Result<std::vector<ReportSheet>> SmugglingReport(const std::vector<const CaseState*>& cases,
                                                 const AgencyDirectory& agencies,
                                                 const CrimeReportOptions& o) {
  RETURN_IF_ERROR(CheckYear(o));
  const std::string y = std::to_string(o.year);
  std::vector<ReportSheet> out;
  std::vector<Unit> by_sex_age, by_citizenship, by_route, by_interception, by_aggravation;
  std::set<std::string> source;
  for (const CaseState* c : cases) {
    if (c == nullptr || !IsSmuggledMigrant(*c) || RegistrationYear(*c) != o.year) continue;
    source.insert(c->opened_by());
    const v1::Profile& p = c->profile();
    const StatsValue sex = Enum(v1::Sex_descriptor(), p.sex());
    const std::string band(AgeBandCtdcText(p.age_band()));
    by_sex_age.push_back({{sex}, {band.empty() ? StatsValue{kLast, "unknown"}
                                               : StatsValue{p.age_band(), band}}});
    by_citizenship.push_back({{FirstCountry(p.citizenship())}, {sex}});
    const v1::SmugglingDetails& d = c->smuggling();
    std::string route;
    if (!d.origin_country().empty()) {
      route = d.origin_country();
      for (const std::string& t : d.transit_countries()) route += " > " + t;
      route += " > " + d.destination_country();
    }
    by_route.push_back({{Text(route)}});
    by_interception.push_back({{Enum(v1::Interception_descriptor(), d.interception())},
                               {Enum(v1::TransportMode_descriptor(), d.transport())}});
    Values aggravations;
    for (int a : d.aggravations()) aggravations.push_back(Enum(v1::Aggravation_descriptor(), a));
    if (aggravations.empty()) aggravations.push_back({kLast, "NONE_RECORDED"});
    std::sort(aggravations.begin(), aggravations.end());
    by_aggravation.push_back({aggravations});
  }
  const std::string src = SourceText(source, agencies, "case records");
  ASSIGN_OR_RETURN(ReportSheet a, Sheet("migrants_by_sex_age", "Smuggled migrants by sex and age "
                                        "band, " + y, src, {"sex", "age_band"}, by_sex_age, o.k,
                                        "migrants"));
  ASSIGN_OR_RETURN(ReportSheet b, Sheet("migrants_by_citizenship", "Smuggled migrants by "
                                        "citizenship and sex, " + y, src, {"citizenship", "sex"},
                                        by_citizenship, o.k, "migrants"));
  ASSIGN_OR_RETURN(ReportSheet r, Sheet("migrants_by_route", "Smuggled migrants by route "
                                        "(origin > transit > destination), " + y, src, {"route"},
                                        by_route, o.k, "migrants"));
  ASSIGN_OR_RETURN(ReportSheet i, Sheet("migrants_by_interception", "Smuggled migrants by where "
                                        "intercepted and mode of transport, " + y, src,
                                        {"interception", "transport"}, by_interception, o.k,
                                        "migrants"));
  ASSIGN_OR_RETURN(ReportSheet g, Sheet("migrants_by_aggravation", "Smuggled migrants by "
                                        "aggravating circumstance (PSMA 2018), " + y, src,
                                        {"aggravation"}, by_aggravation, o.k, "migrants",
                                        {"aggravation"}));
  for (ReportSheet* s : {&a, &b, &r, &i, &g}) out.push_back(std::move(*s));

  const Collected all = Collect(cases);
  std::vector<std::pair<const v1::Suspect*, const v1::Offence*>> smugglers;
  for (const auto& [id, p] : all.suspects) {
    const bool som_offence = p.second != nullptr && (p.second->crime_type() == v1::CRIME_TYPE_SOM ||
                                                     p.second->crime_type() == v1::CRIME_TYPE_BOTH);
    const bool smuggler = std::find(p.first.roles().begin(), p.first.roles().end(),
                                    v1::SUSPECT_ROLE_SMUGGLER) != p.first.roles().end();
    if (som_offence || smuggler) smugglers.emplace_back(&p.first, p.second);
  }
  RETURN_IF_ERROR(PersonSheets(smugglers, "smugglers",
                               "Smugglers in formal contact, prosecuted, convicted", agencies, o,
                               &out));
  return out;
}

Result<std::vector<ReportSheet>> Sdg16Report(const std::vector<const CaseState*>& cases,
                                             const AgencyDirectory& agencies,
                                             const CrimeReportOptions& o) {
  RETURN_IF_ERROR(CheckYear(o));
  if (o.population.empty()) {
    return Status::InvalidArgument("population",
                                   "SDG 16.2.2 is a rate per 100,000 people: give the population "
                                   "table (--population FILE, lines sex,age_group,population)");
  }
  std::vector<Unit> units;
  std::vector<Unit> forms;
  std::set<std::string> source;
  for (const CaseState* c : cases) {
    if (c == nullptr || !IsTraffickingVictim(*c) || RegistrationYear(*c) != o.year) continue;
    source.insert(c->opened_by());
    units.push_back({{Enum(v1::Sex_descriptor(), c->profile().sex())},
                     {AgeGroup(c->profile().majority_at_identification(), c->profile().age_band())}});
    forms.push_back({FormsOf(*c)});
  }
  ASSIGN_OR_RETURN(StatsTable t, CountUnits({"sex", "age_group"}, units, o.k, "victims"));
  ASSIGN_OR_RETURN(StatsTable tf, CountUnits({"form"}, forms, o.k, "victims", {"form"}));
  // The whole population only when every group is given: a rate over part of it would be wrong.
  int64_t everyone = 0;
  if (o.population.size() == 4) {
    for (const auto& [key, n] : o.population) everyone += n;
  }
  auto rate = [](int64_t count, int64_t population) -> std::string {
    if (population <= 0) return "";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", 1e5 * static_cast<double>(count) / static_cast<double>(population));
    return buf;
  };
  ReportSheet s;
  s.name = "sdg16_by_sex_age";
  s.title = "SDG 16.2.2: victims detected per 100,000 population by sex and age group, " +
            std::to_string(o.year);
  s.source = SourceText(source, agencies, "case records") + "; population as given";
  s.header = {"sex", "age_group", "victims", "population", "per_100000"};
  s.key_columns = 2;
  for (const StatsCell& c : t.cells) {
    auto it = o.population.find({c.values[0], c.values[1]});
    const int64_t pop = it == o.population.end() ? 0 : it->second;
    s.rows.push_back({c.values[0], c.values[1],
                      c.suppressed ? SuppressionMark(c, o.k) : std::to_string(c.count),
                      pop > 0 ? std::to_string(pop) : "not given",
                      c.secondary    ? "x"
                      : c.suppressed ? "suppressed"
                                     : rate(c.count, pop)});
  }
  s.rows.push_back(
      {"total", "",
       t.total.suppressed ? SuppressionMark(t.total, o.k) : std::to_string(t.total.count),
       everyone > 0 ? std::to_string(everyone) : "not all given",
       t.total.suppressed ? "suppressed" : rate(t.total.count, everyone)});
  ReportSheet f;
  f.name = "sdg16_by_form";
  f.title = "SDG 16.2.2: victims detected per 100,000 population by form of exploitation, " +
            std::to_string(o.year);
  f.source = s.source;
  f.header = {"form", "victims", "per_100000"};
  for (const StatsCell& c : tf.cells) {
    f.rows.push_back({c.values[0], c.suppressed ? SuppressionMark(c, o.k) : std::to_string(c.count),
                      c.secondary    ? "x"
                      : c.suppressed ? "suppressed"
                                     : rate(c.count, everyone)});
  }
  s.legend = SuppressionLegend(t);
  f.legend = SuppressionLegend(tf);
  return std::vector<ReportSheet>{std::move(s), std::move(f)};
}

Result<std::vector<ReportSheet>> QualityReport(const std::vector<const CaseState*>& cases,
                                               const AgencyDirectory& agencies,
                                               const CrimeReportOptions& o) {
  (void)agencies;
  struct Counts {
    int64_t records = 0, sex = 0, age = 0, citizenship = 0, trafficking = 0, form = 0;
  };
  std::map<std::tuple<std::string, std::string, std::string>, Counts> rows;
  std::map<std::string, std::vector<Unit>> units;  // kind -> (agency, month) units
  auto missing_sex = [](v1::Sex s) { return s == v1::SEX_UNSPECIFIED || s == v1::SEX_UNKNOWN; };
  for (const CaseState* c : cases) {
    if (c == nullptr) continue;
    if (o.year == 0 || RegistrationYear(*c) == o.year) {
      const v1::Profile& p = c->profile();
      const std::string month = Month(c->opened_at_ms());
      Counts& n = rows[{c->opened_by(), month, "victims"}];
      units["victims"].push_back({{Text(c->opened_by())}, {Text(month)}});
      ++n.records;
      n.sex += missing_sex(p.sex());
      n.age += p.age_band() == v1::AGE_BAND_UNSPECIFIED && !p.has_age_years();
      n.citizenship += p.citizenship().empty();
      if (IsTraffickingVictim(*c)) {
        ++n.trafficking;
        n.form += p.exploitation_forms().empty();
      }
    }
    for (const v1::Suspect& s : c->suspects()) {
      if (o.year != 0 && UtcYearOfMs(s.recorded_at_ms()) != o.year) continue;
      const std::string month = Month(s.recorded_at_ms());
      Counts& n = rows[{s.recorded_by(), month, "suspects"}];
      units["suspects"].push_back({{Text(s.recorded_by())}, {Text(month)}});
      ++n.records;
      n.sex += missing_sex(s.sex());
      n.age += s.age_band() == v1::AGE_BAND_UNSPECIFIED &&
               s.majority() == v1::MAJORITY_STATUS_UNSPECIFIED;
      n.citizenship += s.citizenship().empty();
    }
  }
  // The record counts suppressed as a table of agency x month, for each kind.
  std::set<std::tuple<std::string, std::string, std::string>> hidden;
  for (const auto& [kind, list] : units) {
    ASSIGN_OR_RETURN(StatsTable t, CountUnits({"agency", "month"}, list, o.k, kind));
    for (const StatsCell& cell : t.cells) {
      if (cell.suppressed) hidden.insert({cell.values[0], cell.values[1], kind});
    }
  }
  const std::string small = "<" + std::to_string(o.k);
  auto share = [&](int64_t missing, int64_t of) -> std::string {
    if (of == 0) return "n/a";
    if ((missing > 0 && missing < o.k) || (of - missing > 0 && of - missing < o.k)) return small;
    return Percent(missing, of);
  };
  ReportSheet q;
  q.name = "data_quality";
  q.title = "Records missing each required disaggregation, by agency and month" +
            (o.year == 0 ? std::string() : ", " + std::to_string(o.year));
  q.source = "every case and suspect record this node knows";
  q.header = {"agency", "month", "kind", "records", "no_sex", "no_age", "no_citizenship",
              "no_form"};
  q.key_columns = 3;
  for (const auto& [key, n] : rows) {
    const auto& [agency, month, kind] = key;
    if (hidden.count({agency, month, kind}) != 0) {
      q.rows.push_back({agency, month, kind, small, "", "", "", ""});
      continue;
    }
    q.rows.push_back({agency, month, kind, std::to_string(n.records), share(n.sex, n.records),
                      share(n.age, n.records), share(n.citizenship, n.records),
                      kind == "victims" ? share(n.form, n.trafficking) : "n/a"});
  }
  return std::vector<ReportSheet>{std::move(q)};
}

Result<std::map<std::pair<std::string, std::string>, int64_t>> ParsePopulation(std::string_view csv) {
  std::map<std::pair<std::string, std::string>, int64_t> out;
  std::istringstream in{std::string(csv)};
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) f.push_back(cell);
    const std::string where = "population line " + std::to_string(number);
    if (f.size() != 3) {
      return Status::InvalidArgument("population", where + ": give sex,age_group,population");
    }
    for (auto& x : f) {
      x.erase(0, x.find_first_not_of(' '));
      x.erase(x.find_last_not_of(' ') + 1);
    }
    std::string third = f[2];
    std::transform(third.begin(), third.end(), third.begin(), ::tolower);
    if (number == 1 && third == "population") continue;  // the header
    std::string sex = f[0], group = f[1];
    std::transform(sex.begin(), sex.end(), sex.begin(), ::toupper);
    std::transform(group.begin(), group.end(), group.begin(), ::toupper);
    if (sex != "FEMALE" && sex != "MALE") {
      return Status::InvalidArgument("population", where + ": sex is FEMALE or MALE, not '" + f[0] + "'");
    }
    if (group != "CHILD" && group != "ADULT") {
      return Status::InvalidArgument("population", where + ": age_group is CHILD or ADULT, not '" +
                                                       f[1] + "'");
    }
    char* end = nullptr;
    errno = 0;
    const long long n = std::strtoll(f[2].c_str(), &end, 10);
    if (f[2].empty() || *end != '\0' || errno == ERANGE || n <= 0 || n > 100'000'000'000LL) {
      return Status::InvalidArgument("population", where + ": '" + f[2] +
                                                       "' is not a population (a whole number from 1 to 100000000000)");
    }
    if (!out.emplace(std::make_pair(sex, group), n).second) {
      return Status::InvalidArgument("population", where + ": " + sex + "," + group + " is given twice");
    }
  }
  return out;
}

std::string RenderReport(const std::string& heading, const std::vector<ReportSheet>& sheets) {
  std::string out = heading + "\n";
  for (const ReportSheet& s : sheets) {
    out += "\n";
    if (s.has_table) {
      out += RenderTable(s.table);
    } else {
      out += s.title + "\n";
      std::vector<size_t> width(s.header.size(), 0);
      auto measure = [&](const std::vector<std::string>& row) {
        for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
      };
      measure(s.header);
      for (const auto& r : s.rows) measure(r);
      auto line = [&](const std::vector<std::string>& row) {
        std::string l;
        for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
          l += (i == 0 ? "" : "  ") + row[i] + std::string(width[i] - row[i].size(), ' ');
        }
        while (!l.empty() && l.back() == ' ') l.pop_back();
        return l + "\n";
      };
      out += line(s.header);
      for (const auto& r : s.rows) out += line(r);
      if (s.rows.empty()) out += "(no records)\n";
      out += s.legend;
    }
    out += "source: " + s.source + "\n";
  }
  return out;
}

namespace {

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    out += c == '"' ? std::string("\"\"") : std::string(1, c);
  }
  return out + "\"";
}

std::string CsvCount(const StatsCell& c) {
  if (!c.suppressed) {
    return std::to_string(c.count) + ",";
  }
  return c.secondary ? ",secondary" : ",suppressed";
}

}  // namespace

std::string ReportCsv(const std::vector<ReportSheet>& sheets) {
  std::string out = "sheet,row,column,count,flag\n";
  for (const ReportSheet& s : sheets) {
    if (!s.has_table) {
      for (const auto& r : s.rows) {
        std::string key;
        for (size_t i = 0; i < s.key_columns && i < r.size(); ++i) {
          key += (i == 0 ? "" : " / ") + r[i];
        }
        for (size_t i = s.key_columns; i < r.size() && i < s.header.size(); ++i) {
          const bool secondary = r[i] == "x";
          const bool hidden = r[i].rfind("<", 0) == 0 || r[i] == "suppressed";
          out += CsvField(s.name) + "," + CsvField(key) + "," + CsvField(s.header[i]) + "," +
                 (secondary ? std::string(",secondary")
                  : hidden  ? std::string(",suppressed")
                            : CsvField(r[i]) + ",") +
                 "\n";
        }
      }
      continue;
    }
    const StatsTable& t = s.table;
    for (const StatsCell& c : t.cells) {
      out += CsvField(s.name) + "," + CsvField(c.values.empty() ? "" : c.values[0]) + "," +
             CsvField(c.values.size() > 1 ? c.values[1] : "") + "," + CsvCount(c) + "\n";
    }
    if (t.margins.size() == 2) {
      for (const StatsCell& c : t.margins[0].cells) {
        out += CsvField(s.name) + "," + CsvField(c.values[0]) + ",total," + CsvCount(c) + "\n";
      }
      for (const StatsCell& c : t.margins[1].cells) {
        out += CsvField(s.name) + ",total," + CsvField(c.values[0]) + "," + CsvCount(c) + "\n";
      }
    }
    out += CsvField(s.name) + ",total,total," + CsvCount(t.total) + "\n";
  }
  return out;
}

std::string ReportJson(const std::vector<ReportSheet>& sheets) {
  std::string out = "{\"sheets\":[";
  for (size_t i = 0; i < sheets.size(); ++i) {
    const ReportSheet& s = sheets[i];
    out += i == 0 ? "{" : ",{";
    out += "\"name\":" + JsonQuote(s.name) + ",\"title\":" + JsonQuote(s.title) +
           ",\"source\":" + JsonQuote(s.source) + ",";
    if (s.has_table) {
      out += "\"table\":" + ToJson(s.table);
    } else {
      out += "\"header\":[";
      for (size_t j = 0; j < s.header.size(); ++j) out += (j ? "," : "") + JsonQuote(s.header[j]);
      out += "],\"rows\":[";
      for (size_t r = 0; r < s.rows.size(); ++r) {
        out += r ? ",[" : "[";
        for (size_t j = 0; j < s.rows[r].size(); ++j) out += (j ? "," : "") + JsonQuote(s.rows[r][j]);
        out += "]";
      }
      out += "]";
    }
    out += "}";
  }
  return out + "]}";
}

}  // namespace passage::core
