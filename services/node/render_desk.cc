// The web workspace's desk views on the control interface: the paged inbox with its counts and
// the dashboard's referral report. No personal data: referrals and case references only.

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>

#include "core/codes.h"
#include "core/referral_state_machine.h"
#include "core/routing.h"
#include "services/node/render.h"

namespace passage::node {
namespace {

namespace v1 = passage::v1;

constexpr int64_t kDayMs = 24 * 3'600'000LL;
constexpr uint32_t kMaxPageSize = 500;

bool Awaiting(const v1::Referral& r) {
  return r.status() == v1::REFERRAL_STATUS_SENT || r.status() == v1::REFERRAL_STATUS_RECEIVED;
}

// 0 awaiting and overdue, 1 awaiting and due within a day, 2 other awaiting, 3 being worked on,
// 4 the rest.
int DeskRank(const v1::Referral& r, int64_t now_ms) {
  if (Awaiting(r)) {
    if (r.respond_by_ms() != 0 && r.respond_by_ms() < now_ms) return 0;
    if (r.respond_by_ms() != 0 && r.respond_by_ms() < now_ms + kDayMs) return 1;
    return 2;
  }
  if (!core::IsTerminal(r.status())) return 3;
  return 4;
}

template <typename T>
bool In(const google::protobuf::RepeatedField<int>& set, T value) {
  return set.empty() || std::find(set.begin(), set.end(), static_cast<int>(value)) != set.end();
}

std::string Month(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
  return buf;
}

std::string Short(int value, const google::protobuf::EnumDescriptor* d) {
  return core::ShortEnumName(d, value);
}

}  // namespace

v1::InboxPage InboxCounts(const std::vector<v1::Referral>& inbox, int64_t now_ms) {
  v1::InboxPage page;
  for (const auto& r : inbox) {
    if (!Awaiting(r)) continue;
    page.set_to_answer(page.to_answer() + 1);
    if (r.respond_by_ms() != 0 && r.respond_by_ms() < now_ms + kDayMs) {
      page.set_due_within_day(page.due_within_day() + 1);
    }
    if (r.respond_by_ms() != 0 && r.respond_by_ms() < now_ms) {
      page.set_overdue(page.overdue() + 1);
    }
  }
  return page;
}

std::string InboxPageJson(std::vector<v1::Referral> inbox, const v1::InboxRequest& request,
                          int64_t now_ms) {
  v1::InboxPage page = InboxCounts(inbox, now_ms);
  std::vector<const v1::Referral*> kept;
  for (const auto& r : inbox) {
    if (In(request.status_in(), r.status()) && In(request.service_in(), r.service()) &&
        In(request.priority_in(), r.priority())) {
      kept.push_back(&r);
    }
  }
  auto key = [now_ms](const v1::Referral* r) {
    return std::make_tuple(DeskRank(*r, now_ms), -static_cast<int>(r->priority()),
                           r->respond_by_ms() == 0 ? INT64_MAX : r->respond_by_ms(),
                           r->referral_id());
  };
  const uint32_t size = std::min(std::max<uint32_t>(request.page_size(), 1), kMaxPageSize);
  const uint32_t total = static_cast<uint32_t>(kept.size());
  const uint32_t last = total == 0 ? 0 : (total - 1) / size;
  const uint32_t number = std::min(request.page(), last);
  const size_t begin = static_cast<size_t>(number) * size;
  const size_t end = std::min<size_t>(kept.size(), begin + size);
  // Only the page needs its order settled: nth_element and a partial sort, not a full sort.
  if (end < kept.size()) {
    std::nth_element(kept.begin(), kept.begin() + static_cast<long>(end), kept.end(),
                     [&](auto* a, auto* b) { return key(a) < key(b); });
  }
  std::sort(kept.begin(), kept.begin() + static_cast<long>(end),
            [&](auto* a, auto* b) { return key(a) < key(b); });
  page.set_total(total);
  page.set_page(number);
  page.set_page_size(size);
  for (size_t i = begin; i < end; ++i) {
    *page.add_referrals() = *kept[i];
  }
  return MessageJson(page);
}

namespace {

struct Row {
  int64_t pending = 0, overdue = 0, active = 0, completed = 0, rejected = 0, expired = 0, other = 0;
};

struct Unplaced {
  std::string case_id, reference;
  int service = 0;
  int last_status = 0;
  std::string last_agency;
};

struct Escalation {
  const v1::Referral* r;
  std::string reference;
};

struct MonthRow {
  int64_t sent = 0, accepted = 0, rejected = 0;
  std::vector<int64_t> waits;
};

struct Report {
  std::map<std::pair<std::string, int>, Row> rows;
  std::vector<Unplaced> unplaced;
  std::vector<Escalation> escalations;
  std::map<std::string, MonthRow> months;
};

Report Build(const std::vector<const v1::CaseState*>& cases, int64_t now_ms) {
  Report out;
  for (const v1::CaseState* c : cases) {
    if (c == nullptr) continue;
    for (const v1::Referral& r : c->referrals()) {
      Row& row = out.rows[{r.to_agency(), r.service()}];
      const bool awaiting = Awaiting(r);
      switch (r.status()) {
        case v1::REFERRAL_STATUS_SENT:
        case v1::REFERRAL_STATUS_RECEIVED:
          ++row.pending;
          break;
        case v1::REFERRAL_STATUS_ACCEPTED:
        case v1::REFERRAL_STATUS_IN_PROGRESS:
        case v1::REFERRAL_STATUS_ON_HOLD:
        case v1::REFERRAL_STATUS_CANCEL_REQUESTED:
          ++row.active;
          break;
        case v1::REFERRAL_STATUS_COMPLETED:
          ++row.completed;
          break;
        case v1::REFERRAL_STATUS_REJECTED:
          ++row.rejected;
          break;
        case v1::REFERRAL_STATUS_EXPIRED:
          ++row.expired;
          break;
        default:
          ++row.other;
      }
      if (awaiting && r.respond_by_ms() != 0 && r.respond_by_ms() < now_ms) {
        ++row.overdue;
      }
      if (!r.parent_referral_id().empty()) {
        out.escalations.push_back({&r, c->reference()});
      }
      MonthRow& m = out.months[Month(r.sent_at_ms())];
      ++m.sent;
      if (r.status() == v1::REFERRAL_STATUS_REJECTED) ++m.rejected;
      for (const auto& h : r.history()) {
        if (h.to() == v1::REFERRAL_STATUS_ACCEPTED) {
          ++m.accepted;
          m.waits.push_back(h.at_ms() - r.sent_at_ms());
          break;
        }
      }
    }
    for (const core::UnplacedNeed& n : core::UnplacedNeeds(*c)) {
      out.unplaced.push_back({c->case_id(), c->reference(), n.service, n.last_status, n.last_agency});
    }
  }
  return out;
}

std::optional<int64_t> Median(std::vector<int64_t> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

std::string ReferralReportJson(const std::vector<const v1::CaseState*>& cases, int64_t now_ms) {
  const Report rep = Build(cases, now_ms);
  std::ostringstream j;
  j << "{\"now_ms\":" << now_ms << ",\"by_agency_service\":[";
  bool first = true;
  for (const auto& [k, row] : rep.rows) {
    j << (first ? "" : ",") << "{\"agency\":" << core::JsonQuote(k.first) << ",\"service\":\""
      << Short(k.second, v1::ServiceType_descriptor()) << "\",\"pending\":" << row.pending
      << ",\"overdue\":" << row.overdue << ",\"active\":" << row.active
      << ",\"completed\":" << row.completed << ",\"rejected\":" << row.rejected
      << ",\"expired\":" << row.expired << ",\"other\":" << row.other << "}";
    first = false;
  }
  j << "],\"unplaced\":[";
  first = true;
  for (const auto& u : rep.unplaced) {
    j << (first ? "" : ",") << "{\"case_id\":\"" << u.case_id
      << "\",\"reference\":" << core::JsonQuote(u.reference) << ",\"service\":\""
      << Short(u.service, v1::ServiceType_descriptor()) << "\",\"last_status\":\""
      << Short(u.last_status, v1::ReferralStatus_descriptor())
      << "\",\"last_agency\":" << core::JsonQuote(u.last_agency) << "}";
    first = false;
  }
  j << "],\"escalations\":[";
  first = true;
  for (const auto& e : rep.escalations) {
    j << (first ? "" : ",") << "{\"referral_id\":\"" << e.r->referral_id() << "\",\"case_id\":\""
      << e.r->case_id() << "\",\"reference\":" << core::JsonQuote(e.reference)
      << ",\"service\":\"" << Short(e.r->service(), v1::ServiceType_descriptor())
      << "\",\"from\":" << core::JsonQuote(e.r->from_agency())
      << ",\"to\":" << core::JsonQuote(e.r->to_agency()) << ",\"status\":\""
      << Short(e.r->status(), v1::ReferralStatus_descriptor()) << "\",\"parent_referral_id\":\""
      << e.r->parent_referral_id() << "\"}";
    first = false;
  }
  j << "],\"months\":[";
  first = true;
  for (const auto& [month, m] : rep.months) {
    auto median = Median(m.waits);
    j << (first ? "" : ",") << "{\"month\":\"" << month << "\",\"sent\":" << m.sent
      << ",\"accepted\":" << m.accepted << ",\"rejected\":" << m.rejected
      << ",\"median_ms_to_acceptance\":" << (median ? std::to_string(*median) : "null") << "}";
    first = false;
  }
  j << "]}";
  return j.str();
}

std::string RenderReferralReport(const std::vector<const v1::CaseState*>& cases, int64_t now_ms) {
  const Report rep = Build(cases, now_ms);
  std::ostringstream t;
  t << "referrals by agency and service (pending / overdue / active / completed / rejected / "
       "expired)\n";
  for (const auto& [k, row] : rep.rows) {
    t << "  " << k.first << " " << Short(k.second, v1::ServiceType_descriptor()) << ": "
      << row.pending << " / " << row.overdue << " / " << row.active << " / " << row.completed
      << " / " << row.rejected << " / " << row.expired << "\n";
  }
  t << rep.unplaced.size() << " unplaced, " << rep.escalations.size() << " escalation(s)\n";
  return t.str();
}

}  // namespace passage::node
