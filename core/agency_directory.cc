#include "core/agency_directory.h"

#include <map>
#include <utility>

#include "core/case_reference.h"

#include "core/validate.h"

namespace passage::core {

Result<InMemoryAgencyDirectory> InMemoryAgencyDirectory::FromRegistry(
    const passage::v1::AgencyRegistry& registry) {
  InMemoryAgencyDirectory directory;
  ASSIGN_OR_RETURN(CrimePolicy policy, CrimePolicy::FromRegistry(registry));
  directory.set_crime_policy(std::move(policy));
  std::map<std::string, std::string> codes;  // reference code -> first responder's id
  for (int i = 0; i < registry.agencies_size(); ++i) {
    const passage::v1::Agency& agency = registry.agencies(i);
    const std::string field = "agencies[" + std::to_string(i) + "]";
    RETURN_IF_ERROR(ValidateAgency(agency, field));
    if (directory.Find(agency.id()) != nullptr) {
      return Status::InvalidArgument(field + ".id",
                                     "agency id '" + agency.id() + "' is registered twice");
    }
    if (agency.first_responder()) {
      const std::string code = ReferenceCodeOf(agency);
      auto [it, fresh] = codes.emplace(code, agency.id());
      if (!fresh) {
        return Status::InvalidArgument(
            field + ".case_reference_code",
            "agencies '" + it->second + "' and '" + agency.id() + "' would both give case " +
                "references starting " + code + "; give one of them its own case_reference_code");
      }
    }
    directory.Upsert(agency);
  }
  return directory;
}

void InMemoryAgencyDirectory::Upsert(passage::v1::Agency agency) {
  std::string id = agency.id();
  agencies_.insert_or_assign(std::move(id), std::move(agency));
}

const passage::v1::Agency* InMemoryAgencyDirectory::Find(std::string_view id) const {
  auto it = agencies_.find(id);
  return it == agencies_.end() ? nullptr : &it->second;
}

}  // namespace passage::core
