#include "services/node/render.h"

#include <google/protobuf/util/json_util.h>

#include <iomanip>
#include <sstream>

#include "core/codes.h"

namespace passage::node {

std::string MessageJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

namespace {

namespace v1 = passage::v1;

std::string Json(const google::protobuf::Message& m) { return MessageJson(m); }

std::string Short(const std::string& id) { return id.size() > 8 ? id.substr(0, 8) : id; }

bool Keep(const v1::CaseState& s, const v1::CasesRequest& f) {
  if (f.stage() != v1::STAGE_UNSPECIFIED &&
      std::find(s.stages().begin(), s.stages().end(), f.stage()) == s.stages().end()) {
    return false;
  }
  if (f.crime_type() != v1::CRIME_TYPE_UNSPECIFIED && s.crime_type() != f.crime_type()) {
    return false;
  }
  if (f.minors_only() &&
      s.profile().majority_at_identification() != v1::MAJORITY_STATUS_MINOR) {
    return false;
  }
  return true;
}

}  // namespace

std::string RenderInbox(const std::vector<v1::Referral>& inbox, int64_t now_ms) {
  if (inbox.empty()) {
    return "inbox is empty\n";
  }
  std::ostringstream t;
  t << std::left << std::setw(38) << "REFERRAL" << std::setw(20) << "CASE" << std::setw(20)
    << "SERVICE" << std::setw(11) << "PRIORITY" << std::setw(17) << "STATUS" << std::setw(20)
    << "FROM" << "RESPOND BY\n";
  for (const auto& r : inbox) {
    std::string due = core::FormatShownMs(r.respond_by_ms());
    if (r.respond_by_ms() <= now_ms &&
        (r.status() == v1::REFERRAL_STATUS_SENT || r.status() == v1::REFERRAL_STATUS_RECEIVED)) {
      due += " (overdue)";
    }
    t << std::setw(38) << r.referral_id() << std::setw(20)
      << (r.case_reference().empty() ? Short(r.case_id()) : r.case_reference()) << std::setw(20)
      << core::ShortEnumName(v1::ServiceType_descriptor(), r.service()) << std::setw(11)
      << core::ShortEnumName(v1::Priority_descriptor(), r.priority()) << std::setw(17)
      << core::ReferralStatusName(r.status()) << std::setw(20) << r.from_agency() << due << "\n";
  }
  t << inbox.size() << " referral(s)\n";
  return t.str();
}

std::string InboxJson(const std::vector<v1::Referral>& inbox) {
  std::string out = "[";
  for (size_t i = 0; i < inbox.size(); ++i) {
    out += (i ? "," : "") + Json(inbox[i]);
  }
  return out + "]";
}

std::string RenderCases(const std::vector<const v1::CaseState*>& cases, const v1::CasesRequest& f) {
  std::ostringstream t;
  t << std::left << std::setw(38) << "CASE (REFERENCE OR ID)" << std::setw(6) << "TYPE" << std::setw(8) << "SEX"
    << std::setw(8) << "AGE" << std::setw(10) << "CITIZEN" << std::setw(22) << "OWNER"
    << "STAGES\n";
  size_t n = 0;
  for (const auto* s : cases) {
    if (!Keep(*s, f)) {
      continue;
    }
    if (f.limit() > 0 && n >= f.limit()) {
      break;
    }
    ++n;
    std::string stages;
    for (int st : s->stages()) {
      stages += (stages.empty() ? "" : ",") + core::ShortEnumName(v1::Stage_descriptor(), st);
    }
    t << std::setw(38) << (s->reference().empty() ? s->case_id() : s->reference()) << std::setw(6)
      << core::ShortEnumName(v1::CrimeType_descriptor(), s->crime_type()) << std::setw(8)
      << core::ShortEnumName(v1::Sex_descriptor(), s->profile().sex()) << std::setw(8)
      << std::string(core::AgeBandCtdcText(s->profile().age_band())) << std::setw(10)
      << (s->profile().citizenship_size() ? s->profile().citizenship(0) : "-") << std::setw(22)
      << s->owner_agency() << stages << "\n";
  }
  t << n << " case(s)\n";
  return t.str();
}

std::string CasesJson(const std::vector<const v1::CaseState*>& cases, const v1::CasesRequest& f) {
  std::string out = "[";
  size_t n = 0;
  for (const auto* s : cases) {
    if (!Keep(*s, f) || (f.limit() > 0 && n >= f.limit())) {
      continue;
    }
    v1::CaseState copy = *s;
    copy.clear_personal();  // ciphertext only, but it has no place in a listing
    out += (n++ ? "," : "") + Json(copy);
  }
  return out + "]";
}

}  // namespace passage::node
