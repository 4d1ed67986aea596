// Journeys and statistics for the control interface, on top of core/journey and core/statistics.

#include <sstream>

#include "core/journey.h"
#include "core/statistics.h"
#include "services/node/render.h"

namespace passage::node {

std::string RenderJourneyText(
    const std::vector<std::pair<passage::v1::Envelope, passage::v1::Event>>& entries,
    const core::AgencyDirectory& directory) {
  return core::RenderJourney(core::BuildJourney(entries, &directory));
}

std::string RenderJourneyJson(
    const std::vector<std::pair<passage::v1::Envelope, passage::v1::Event>>& entries,
    const core::AgencyDirectory& directory) {
  return core::JourneyToJson(core::BuildJourney(entries, &directory));
}

Result<std::string> RenderStats(const std::vector<const passage::v1::CaseState*>& cases,
                                const passage::v1::StatsRequest& request,
                                const core::AgencyDirectory& directory, int64_t now_ms, bool json) {
  core::StatsQuery q;
  for (const auto& name : request.by()) {
    ASSIGN_OR_RETURN(core::Dimension d, core::ParseDimension(name));
    q.by.push_back(d);
  }
  if (request.k() > 0) {
    q.k = static_cast<int>(request.k());
  }
  ASSIGN_OR_RETURN(core::StatsTable table, core::ComputeTable(cases, q, directory));
  core::ReferralIndicators ind = core::ComputeIndicators(cases, now_ms);
  if (json) {
    return "{\"table\":" + core::ToJson(table) + ",\"indicators\":" + core::IndicatorsToJson(ind) +
           "}";
  }
  return core::RenderTable(table) + "\n" + core::RenderIndicators(ind);
}

}  // namespace passage::node
