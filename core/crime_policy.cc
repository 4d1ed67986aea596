#include "core/crime_policy.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "core/codes.h"

namespace passage::core {

using passage::v1::DataSection;

namespace {

bool IsLawSectionCode(std::string_view code) {
  if (code.empty() || code.size() > 32 || !std::isupper(static_cast<unsigned char>(code[0]))) {
    return false;
  }
  for (char c : code) {
    if (!std::isupper(static_cast<unsigned char>(c)) && !std::isdigit(static_cast<unsigned char>(c)) &&
        c != '-') {
      return false;
    }
  }
  return true;
}

std::string TypeName(int type) {
  return ShortEnumName(passage::v1::AgencyType_descriptor(), type);
}

}  // namespace

bool IsCrimeSection(DataSection section) {
  return section == passage::v1::DATA_SECTION_OFFENCE || section == passage::v1::DATA_SECTION_SUSPECT;
}

CrimePolicy::CrimePolicy() {
  const std::set<int> defaults = {passage::v1::AGENCY_TYPE_LAW_ENFORCEMENT,
                                  passage::v1::AGENCY_TYPE_PROSECUTION,
                                  passage::v1::AGENCY_TYPE_COURT};
  allowed_[passage::v1::DATA_SECTION_OFFENCE] = defaults;
  allowed_[passage::v1::DATA_SECTION_SUSPECT] = defaults;
}

Result<CrimePolicy> CrimePolicy::FromRegistry(const passage::v1::AgencyRegistry& registry) {
  CrimePolicy policy;
  for (int i = 0; i < registry.law_sections_size(); ++i) {
    const passage::v1::LawSection& s = registry.law_sections(i);
    const std::string field = "law_sections[" + std::to_string(i) + "]";
    if (!IsLawSectionCode(s.code())) {
      return Status::InvalidArgument(
          field + ".code", "'" + s.code() +
                               "' is not a law-section code: 1 to 32 upper-case letters, digits "
                               "and '-', starting with a letter (e.g. PTPA-2018-3)");
    }
    if (s.crime_type() != passage::v1::CRIME_TYPE_TIP &&
        s.crime_type() != passage::v1::CRIME_TYPE_SOM &&
        s.crime_type() != passage::v1::CRIME_TYPE_BOTH) {
      return Status::InvalidArgument(field + ".crime_type",
                                     "law section " + s.code() + " needs TIP, SOM or BOTH");
    }
    if (s.law().empty()) {
      return Status::InvalidArgument(field + ".law", "law section " + s.code() +
                                                         " needs the name of its law");
    }
    if (!policy.law_sections_.emplace(s.code(), s).second) {
      return Status::InvalidArgument(field + ".code",
                                     "law section " + s.code() + " is listed twice");
    }
  }
  std::set<int> seen;
  for (int i = 0; i < registry.section_access_size(); ++i) {
    const passage::v1::SectionAccess& a = registry.section_access(i);
    const std::string field = "section_access[" + std::to_string(i) + "]";
    if (!IsCrimeSection(a.section())) {
      return Status::InvalidArgument(
          field + ".section",
          "only OFFENCE and SUSPECT have an access list; the other sections go where the "
          "victim's consents and the referrals send them");
    }
    if (!seen.insert(a.section()).second) {
      return Status::InvalidArgument(field + ".section", "section " +
                                                             ShortEnumName(passage::v1::DataSection_descriptor(), a.section()) +
                                                             " is listed twice");
    }
    std::set<int> types;
    for (int j = 0; j < a.agency_types_size(); ++j) {
      const int t = a.agency_types(j);
      const std::string tf = field + ".agency_types[" + std::to_string(j) + "]";
      if (!passage::v1::AgencyType_IsValid(t) || t == passage::v1::AGENCY_TYPE_UNSPECIFIED) {
        return Status::InvalidArgument(tf, "not an agency type");
      }
      if (t == passage::v1::AGENCY_TYPE_SHELTER || t == passage::v1::AGENCY_TYPE_NGO) {
        return Status::InvalidArgument(
            tf, TypeName(t) + " may never hold offence or suspect records: a shelter or an NGO "
                              "protects the victim, and the suspect's side must not reach it");
      }
      types.insert(t);
    }
    if (types.empty()) {
      return Status::InvalidArgument(
          field + ".agency_types",
          "no agency type may hold this section then, not even the police who record it; list "
          "the types that may (e.g. AGENCY_TYPE_LAW_ENFORCEMENT)");
    }
    policy.allowed_[a.section()] = std::move(types);
  }
  return policy;
}

const passage::v1::LawSection* CrimePolicy::FindLawSection(std::string_view code) const {
  auto it = law_sections_.find(code);
  return it == law_sections_.end() ? nullptr : &it->second;
}

Status CrimePolicy::CheckLawSection(std::string_view code, std::string_view field) const {
  if (FindLawSection(code) != nullptr) {
    return Status::Ok();
  }
  if (law_sections_.empty()) {
    return Status::InvalidArgument(std::string(field),
                                   "the NRM's registry lists no law sections, so '" +
                                       std::string(code) + "' cannot be checked; add law_sections "
                                                           "to the registry");
  }
  std::vector<std::string> known;
  for (const auto& [c, _] : law_sections_) known.push_back(c);
  const std::string nearest = Nearest(code, known);
  return Status::InvalidArgument(
      std::string(field),
      "'" + std::string(code) + "' is not a law section in the NRM's list" +
          (nearest.empty() ? std::string(" (the registry's law_sections list them)")
                           : "; did you mean " + nearest + "?"));
}

bool CrimePolicy::MayHold(const passage::v1::Agency& agency, DataSection section) const {
  return agency.system_principal() || TypeMayHold(agency.type(), section);
}

bool CrimePolicy::TypeMayHold(passage::v1::AgencyType type, DataSection section) const {
  if (!IsCrimeSection(section)) {
    return true;
  }
  auto it = allowed_.find(section);
  return it != allowed_.end() && it->second.count(type) != 0;
}

std::string CrimePolicy::AllowedTypesText(DataSection section) const {
  std::string out;
  auto it = allowed_.find(section);
  if (it == allowed_.end()) {
    return "none";
  }
  for (int t : it->second) {
    out += out.empty() ? "" : ", ";
    out += TypeName(t);
  }
  return out.empty() ? "none" : out;
}

}  // namespace passage::core
