#pragma once

// CrimePolicy: the NRM's rules for the crime side of a case (docs/law-enforcement.md), read from
// the agency registry: which law sections offences and charges may invoke (a code list, not
// compiled in), and which agency types may hold the OFFENCE and SUSPECT sections.
//
// Who may hold a section: a system principal (the referral engine, which counts but cannot open
// a sealed identity) always; for OFFENCE and SUSPECT, an agency whose type the registry's
// section_access lists, by default LAW_ENFORCEMENT, PROSECUTION and COURT; every other section,
// anyone the case's grants name. SHELTER and NGO can never be listed: FromRegistry refuses it.
//
// Thread-safety: immutable after construction; const methods are safe to call concurrently.

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "core/status.h"
#include "passage/v1/config.pb.h"

namespace passage::core {

// OFFENCE and SUSPECT.
bool IsCrimeSection(passage::v1::DataSection section);

class CrimePolicy {
 public:
  // No law sections; the default section access.
  CrimePolicy();

  // Reads registry.law_sections and registry.section_access. Errors: InvalidArgument naming the
  // field (a malformed or repeated code, a law section without a crime type, a section_access for
  // a section other than OFFENCE and SUSPECT, or one listing SHELTER or NGO).
  static Result<CrimePolicy> FromRegistry(const passage::v1::AgencyRegistry& registry);

  // The law section with `code` (exact, upper case), or nullptr.
  const passage::v1::LawSection* FindLawSection(std::string_view code) const;
  const std::map<std::string, passage::v1::LawSection, std::less<>>& law_sections() const {
    return law_sections_;
  }

  // OK when `code` is a listed law section; else InvalidArgument naming `field` (and the nearest
  // listed code when one is close).
  Status CheckLawSection(std::string_view code, std::string_view field) const;

  // True when `agency` may hold `section` of a case it has access to (see above).
  bool MayHold(const passage::v1::Agency& agency, passage::v1::DataSection section) const;

  // True when agencies of `type` may hold `section`: MayHold without the system principal's
  // exception. What a node shows its own people (journeys, case views) follows this: the
  // referral engine receives the crime side to count it, its staff do not read it.
  bool TypeMayHold(passage::v1::AgencyType type, passage::v1::DataSection section) const;

  // The agency types that may hold `section`, e.g. "LAW_ENFORCEMENT, PROSECUTION, COURT".
  std::string AllowedTypesText(passage::v1::DataSection section) const;

 private:
  std::map<std::string, passage::v1::LawSection, std::less<>> law_sections_;
  std::map<int, std::set<int>> allowed_;  // section -> agency types
};

}  // namespace passage::core
