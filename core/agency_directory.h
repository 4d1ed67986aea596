#pragma once

// AgencyDirectory: who the agencies of the NRM are, as the case projection needs to know them
// (type, first responder, roles allowed to override consent, system principal: the referral
// engine, which acts as the system side of the referral state machine).
//
// The broker keeps one built from its registry file and AgencyRegistered events; tests build
// InMemoryAgencyDirectory by hand.
//
// Thread-safety: the interface's const methods must be safe to call concurrently;
// InMemoryAgencyDirectory is safe for concurrent reads, and writes need external synchronisation.

#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "core/crime_policy.h"
#include "core/status.h"
#include "passage/v1/config.pb.h"

namespace passage::core {

class AgencyDirectory {
 public:
  virtual ~AgencyDirectory() = default;

  // The registry entry for `id`, or nullptr when no such agency is registered. The pointer stays
  // valid until the directory is next modified.
  virtual const passage::v1::Agency* Find(std::string_view id) const = 0;

  // True when `id` is registered with Agency.system_principal: acting with role SYSTEM it is the
  // state machine's system side (Side::kSystem): it expires referrals, sends referrals on behalf of
  // an agency and cascades consent withdrawals.
  bool IsSystemPrincipal(std::string_view id) const {
    const passage::v1::Agency* agency = Find(id);
    return agency != nullptr && agency->system_principal();
  }

  // The NRM's law sections and who may hold the crime sections (core/crime_policy.h), from the
  // same registry as the agencies.
  const CrimePolicy& crime_policy() const { return crime_policy_; }
  void set_crime_policy(CrimePolicy policy) { crime_policy_ = std::move(policy); }

  // True when the registered agency `id` may hold `section` (CrimePolicy::MayHold); false for an
  // agency that is not registered.
  bool MayHold(std::string_view id, passage::v1::DataSection section) const {
    const passage::v1::Agency* agency = Find(id);
    return agency != nullptr && crime_policy_.MayHold(*agency, section);
  }

 private:
  CrimePolicy crime_policy_;
};

// A map held in memory.
class InMemoryAgencyDirectory final : public AgencyDirectory {
 public:
  InMemoryAgencyDirectory() = default;

  // Validates every entry (core::ValidateAgency) and refuses duplicate ids.
  static Result<InMemoryAgencyDirectory> FromRegistry(const passage::v1::AgencyRegistry& registry);

  // Adds or replaces the entry with `agency.id()`. Does not validate.
  void Upsert(passage::v1::Agency agency);

  const passage::v1::Agency* Find(std::string_view id) const override;

  size_t size() const { return agencies_.size(); }

 private:
  std::map<std::string, passage::v1::Agency, std::less<>> agencies_;
};

}  // namespace passage::core
