#pragma once

// Terminal and JSON renderings of what a node shows people: inbox, cases, journeys, statistics.
// Nothing here prints personal data: SealedPersonalData is never rendered.

#include <string>
#include <vector>

#include "core/agency_directory.h"
#include "core/status.h"
#include "passage/v1/case.pb.h"
#include "passage/v1/control.pb.h"
#include "passage/v1/events.pb.h"
#include "passage/v1/referral.pb.h"

namespace passage::node {

// A message as protobuf JSON with the .proto's field names (what every `json` answer uses).
std::string MessageJson(const google::protobuf::Message& m);

std::string RenderInbox(const std::vector<passage::v1::Referral>& inbox, int64_t now_ms);
std::string InboxJson(const std::vector<passage::v1::Referral>& inbox);

std::string RenderCases(const std::vector<const passage::v1::CaseState*>& cases,
                        const passage::v1::CasesRequest& filter);
std::string CasesJson(const std::vector<const passage::v1::CaseState*>& cases,
                      const passage::v1::CasesRequest& filter);

std::string RenderJourneyText(
    const std::vector<std::pair<passage::v1::Envelope, passage::v1::Event>>& entries,
    const core::AgencyDirectory& directory);
std::string RenderJourneyJson(
    const std::vector<std::pair<passage::v1::Envelope, passage::v1::Event>>& entries,
    const core::AgencyDirectory& directory);

// One page of `inbox` (this agency's referrals, any order) in desk order, filtered as `request`
// says; the counts over all of `inbox` (InboxRequest, InboxPage in control.proto). As JSON.
std::string InboxPageJson(std::vector<passage::v1::Referral> inbox,
                          const passage::v1::InboxRequest& request, int64_t now_ms);
// The counts of an inbox page alone: to_answer, due_within_day, overdue.
passage::v1::InboxPage InboxCounts(const std::vector<passage::v1::Referral>& inbox, int64_t now_ms);

// The dashboard's referral report (ReportRequest in control.proto): JSON and terminal text.
std::string ReferralReportJson(const std::vector<const passage::v1::CaseState*>& cases,
                               int64_t now_ms);
std::string RenderReferralReport(const std::vector<const passage::v1::CaseState*>& cases,
                                 int64_t now_ms);

Result<std::string> RenderStats(const std::vector<const passage::v1::CaseState*>& cases,
                                const passage::v1::StatsRequest& request,
                                const core::AgencyDirectory& directory, int64_t now_ms, bool json);

}  // namespace passage::node
