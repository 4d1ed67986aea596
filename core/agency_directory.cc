#include "core/agency_directory.h"

#include <utility>

#include "core/validate.h"

namespace passage::core {

Result<InMemoryAgencyDirectory> InMemoryAgencyDirectory::FromRegistry(
    const passage::v1::AgencyRegistry& registry) {
  InMemoryAgencyDirectory directory;
  for (int i = 0; i < registry.agencies_size(); ++i) {
    const passage::v1::Agency& agency = registry.agencies(i);
    const std::string field = "agencies[" + std::to_string(i) + "]";
    RETURN_IF_ERROR(ValidateAgency(agency, field));
    if (directory.Find(agency.id()) != nullptr) {
      return Status::InvalidArgument(field + ".id",
                                     "agency id '" + agency.id() + "' is registered twice");
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
