#include "core/routing.h"

#include <google/protobuf/generated_enum_reflection.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <utility>

#include "core/case_projection.h"
#include "core/codes.h"
#include "core/referral_state_machine.h"

namespace passage::core {
namespace {

using google::protobuf::RepeatedField;
using passage::v1::Agency;
using passage::v1::CaseState;
using passage::v1::Consent;
using passage::v1::Referral;
using passage::v1::RoutingRule;
using passage::v1::RuleCondition;

constexpr size_t kMaxRuleName = 128;  // Referral.reason holds it: ValidateReferralToSend's limit
constexpr size_t kMaxDescription = 500;
constexpr uint32_t kMaxRespondWithinMinutes = 365 * 24 * 60;
constexpr uint32_t kMaxRespondWithinSeconds = kMaxRespondWithinMinutes * 60;
constexpr int64_t kMsPerMinute = 60'000;

std::string Quoted(std::string_view s) {
  std::string out = "'";
  out += s;
  out += "'";
  return out;
}

std::string At(std::string_view field, int index) {
  return std::string(field) + "[" + std::to_string(index) + "]";
}

template <typename E>
std::string Name(int value) {
  return ShortEnumName(google::protobuf::GetEnumDescriptor<E>(), value);
}

std::string ServiceName(int service) { return Name<passage::v1::ServiceType>(service); }

bool Contains(const RepeatedField<int>& values, int value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return out;
}

// Alpha-2 upper case for any country code FindCountry knows; the upper-cased text otherwise.
std::string CountryKey(std::string_view code) {
  const Country* country = FindCountry(code);
  return country != nullptr ? std::string(country->alpha2) : Upper(code);
}

bool IsRuleNameText(std::string_view s) {
  return !s.empty() && s.size() <= kMaxRuleName && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

// ---- Rule set validation ----

enum class Need { kOptional, kRequired };

template <typename E>
Status CheckEnum(int value, bool (*is_valid)(int), const std::string& field, Need need) {
  const google::protobuf::EnumDescriptor* type = google::protobuf::GetEnumDescriptor<E>();
  if (!is_valid(value)) {
    return Status::InvalidArgument(
        field, std::to_string(value) + " is not a known " + type->name() + " value");
  }
  if (need == Need::kRequired && value == 0) {
    return Status::InvalidArgument(field,
                                   "must be set (" + type->value(0)->name() + " means not set)");
  }
  return Status::Ok();
}

template <typename E>
Status CheckEnumList(const RepeatedField<int>& values, bool (*is_valid)(int),
                     const std::string& field) {
  std::set<int> seen;
  for (int i = 0; i < values.size(); ++i) {
    RETURN_IF_ERROR(CheckEnum<E>(values.Get(i), is_valid, At(field, i), Need::kRequired));
    if (!seen.insert(values.Get(i)).second) {
      return Status::InvalidArgument(At(field, i), Name<E>(values.Get(i)) + " is listed twice");
    }
  }
  return Status::Ok();
}

// Normalised country codes of `codes`, refusing unknown and repeated ones.
Result<std::set<std::string>> CheckCountries(
    const google::protobuf::RepeatedPtrField<std::string>& codes, const std::string& field) {
  std::set<std::string> out;
  for (int i = 0; i < codes.size(); ++i) {
    ASSIGN_OR_RETURN(std::string code, NormalizeCountry(codes.Get(i), At(field, i)));
    if (!out.insert(code).second) {
      return Status::InvalidArgument(At(field, i), Quoted(code) + " is listed twice");
    }
  }
  return out;
}

Status CheckCondition(const RuleCondition& w, const std::string& prefix) {
  RETURN_IF_ERROR(CheckEnum<passage::v1::MajorityStatus>(
      w.majority(), passage::v1::MajorityStatus_IsValid, prefix + ".majority", Need::kOptional));
  RETURN_IF_ERROR(
      CheckEnumList<passage::v1::Sex>(w.sex_in(), passage::v1::Sex_IsValid, prefix + ".sex_in"));
  RETURN_IF_ERROR(CheckEnumList<passage::v1::ExploitationForm>(
      w.any_exploitation(), passage::v1::ExploitationForm_IsValid, prefix + ".any_exploitation"));
  RETURN_IF_ERROR(CheckEnumList<passage::v1::CrimeType>(
      w.crime_type_in(), passage::v1::CrimeType_IsValid, prefix + ".crime_type_in"));
  ASSIGN_OR_RETURN(std::set<std::string> in,
                   CheckCountries(w.citizenship_in(), prefix + ".citizenship_in"));
  ASSIGN_OR_RETURN(std::set<std::string> not_in,
                   CheckCountries(w.citizenship_not_in(), prefix + ".citizenship_not_in"));
  for (int i = 0; i < w.citizenship_not_in_size(); ++i) {
    const std::string code = CountryKey(w.citizenship_not_in(i));
    if (in.count(code) != 0) {
      return Status::InvalidArgument(
          At(prefix + ".citizenship_not_in", i),
          Quoted(code) + " is also in citizenship_in, so the rule could never match");
    }
  }
  std::set<std::string> provinces;
  for (int i = 0; i < w.province_in_size(); ++i) {
    ASSIGN_OR_RETURN(std::string code,
                     NormalizeSubdivision(w.province_in(i), At(prefix + ".province_in", i)));
    if (!provinces.insert(code).second) {
      return Status::InvalidArgument(At(prefix + ".province_in", i),
                                     Quoted(code) + " is listed twice");
    }
  }
  return CheckEnumList<passage::v1::ConsentScope>(
      w.requires_consent(), passage::v1::ConsentScope_IsValid, prefix + ".requires_consent");
}

// True when `agency` could receive referrals made by `rule` (ignoring case-specific limits).
bool EligibleByRule(const Agency& agency, const RoutingRule& rule) {
  return Contains(agency.services(), rule.service()) &&
         (rule.agency_types_size() == 0 || Contains(rule.agency_types(), agency.type()));
}

Status CheckRule(const RoutingRule& rule, const std::string& prefix, const AgencyRoster& agencies) {
  if (!IsRuleNameText(rule.name())) {
    return Status::InvalidArgument(
        prefix + ".name", "a rule needs a name of 1 to 128 letters, digits, '-' or '_' (" +
                              Quoted(rule.name()) + "); referrals carry it as their reason");
  }
  if (rule.description().size() > kMaxDescription) {
    return Status::InvalidArgument(
        prefix + ".description",
        "is " + std::to_string(rule.description().size()) + " bytes long; at most 500 are allowed");
  }
  RETURN_IF_ERROR(CheckCondition(rule.when(), prefix + ".when"));
  RETURN_IF_ERROR(CheckEnum<passage::v1::ServiceType>(
      rule.service(), passage::v1::ServiceType_IsValid, prefix + ".service", Need::kRequired));
  RETURN_IF_ERROR(CheckEnum<passage::v1::Priority>(rule.priority(), passage::v1::Priority_IsValid,
                                                   prefix + ".priority", Need::kRequired));
  if (rule.respond_within_seconds() > kMaxRespondWithinSeconds) {
    return Status::InvalidArgument(prefix + ".respond_within_seconds",
                                   "must be at most 31536000 seconds (a year), not " +
                                       std::to_string(rule.respond_within_seconds()));
  }
  if (rule.respond_within_minutes() > kMaxRespondWithinMinutes) {
    return Status::InvalidArgument(prefix + ".respond_within_minutes",
                                   "must be at most 525600 minutes (a year), not " +
                                       std::to_string(rule.respond_within_minutes()));
  }
  if (rule.respond_within_minutes() == 0 && rule.respond_within_seconds() == 0) {
    return Status::InvalidArgument(prefix + ".respond_within_minutes",
                                   "a rule needs a deadline: set respond_within_minutes (or "
                                   "respond_within_seconds for drills and demos)");
  }
  RETURN_IF_ERROR(CheckEnum<passage::v1::ReferralKind>(
      rule.kind(), passage::v1::ReferralKind_IsValid, prefix + ".kind", Need::kRequired));
  if (rule.data_scope_size() == 0) {
    return Status::InvalidArgument(prefix + ".data_scope",
                                   "name at least one case section the recipient may read");
  }
  RETURN_IF_ERROR(CheckEnumList<passage::v1::DataSection>(
      rule.data_scope(), passage::v1::DataSection_IsValid, prefix + ".data_scope"));
  RETURN_IF_ERROR(CheckEnumList<passage::v1::AgencyType>(
      rule.agency_types(), passage::v1::AgencyType_IsValid, prefix + ".agency_types"));
  RETURN_IF_ERROR(CheckEnum<passage::v1::ConsentScope>(rule.consent_scope(),
                                                       passage::v1::ConsentScope_IsValid,
                                                       prefix + ".consent_scope", Need::kRequired));
  switch (rule.consent_scope()) {
    case passage::v1::CONSENT_SCOPE_SERVICES:
    case passage::v1::CONSENT_SCOPE_LAW_ENFORCEMENT:
    case passage::v1::CONSENT_SCOPE_SHARE_WITH_AGENCIES:
      break;
    default:
      return Status::InvalidArgument(
          prefix + ".consent_scope",
          Name<passage::v1::ConsentScope>(rule.consent_scope()) +
              " consent does not allow sharing a case; use SERVICES, LAW_ENFORCEMENT or " +
              "SHARE_WITH_AGENCIES");
  }

  Consent consent;
  consent.set_consent_id("rule-consent-scope");
  consent.set_scope(rule.consent_scope());
  Referral referral;
  referral.set_service(rule.service());
  int eligible = 0;
  for (const Agency& agency : agencies.agencies()) {
    if (!EligibleByRule(agency, rule)) {
      continue;
    }
    ++eligible;
    for (int i = 0; i < rule.data_scope_size(); ++i) {
      const auto section = static_cast<passage::v1::DataSection>(rule.data_scope(i));
      if (!agencies.crime_policy().MayHold(agency, section)) {
        // The broker would refuse every such referral; say so when the rules are read.
        return Status::InvalidArgument(
            prefix + ".data_scope[" + std::to_string(i) + "]",
            "the rule could send section " + Name<passage::v1::DataSection>(section) + " to " +
                Quoted(agency.id()) + " (" + Name<passage::v1::AgencyType>(agency.type()) +
                "), which may never hold it; only " +
                agencies.crime_policy().AllowedTypesText(section) +
                " may (narrow agency_types or drop the section)");
      }
    }
    Status covered = ConsentCovers(consent, referral, agency, prefix + ".consent_scope");
    if (!covered.ok()) {
      return Status::InvalidArgument(prefix + ".consent_scope",
                                     "a " + Name<passage::v1::ConsentScope>(rule.consent_scope()) +
                                         " consent cannot cover a referral to " +
                                         Quoted(agency.id()) + " (" +
                                         Name<passage::v1::AgencyType>(agency.type()) + ") for " +
                                         ServiceName(rule.service()) + ", which this rule allows");
    }
  }
  if (eligible == 0) {
    std::string types;
    for (int t : rule.agency_types()) {
      types += types.empty() ? "" : ", ";
      types += Name<passage::v1::AgencyType>(t);
    }
    return Status::InvalidArgument(prefix + ".service",
                                   "no registered agency" +
                                       (types.empty() ? std::string() : " of type " + types) +
                                       " offers " + ServiceName(rule.service()));
  }
  return Status::Ok();
}

// ---- Planning ----

// The rule's deadline: respond_within_seconds when set, else respond_within_minutes.
int64_t RespondWithinMs(const RoutingRule& rule) {
  if (rule.respond_within_seconds() != 0) {
    return static_cast<int64_t>(rule.respond_within_seconds()) * 1000;
  }
  return static_cast<int64_t>(rule.respond_within_minutes()) * kMsPerMinute;
}

bool IsFailure(passage::v1::ReferralStatus status) {
  return status == passage::v1::REFERRAL_STATUS_REJECTED ||
         status == passage::v1::REFERRAL_STATUS_EXPIRED ||
         status == passage::v1::REFERRAL_STATUS_FAILED;
}

// A live or completed referral for `service`: the need is being (or was) met.
const Referral* ServiceCovered(const CaseState& state, passage::v1::ServiceType service) {
  for (const Referral& r : state.referrals()) {
    if (r.service() == service &&
        (IsLive(r.status()) || r.status() == passage::v1::REFERRAL_STATUS_COMPLETED)) {
      return &r;
    }
  }
  return nullptr;
}

uint32_t ReferralsOfRule(const CaseState& state, std::string_view rule) {
  uint32_t n = 0;
  for (const Referral& r : state.referrals()) {
    if (r.reason() == rule) {
      ++n;
    }
  }
  return n;
}

// Agencies that refused or failed `service` in this case.
std::set<std::string, std::less<>> FailedRecipients(const CaseState& state,
                                                    passage::v1::ServiceType service) {
  std::set<std::string, std::less<>> out;
  for (const Referral& r : state.referrals()) {
    if (r.service() == service && IsFailure(r.status())) {
      out.insert(r.to_agency());
    }
  }
  return out;
}

const Consent* CoveringConsent(const CaseState& state, const Referral& referral,
                               const Agency& recipient, passage::v1::ConsentScope preferred) {
  const Consent* fallback = nullptr;
  for (const Consent& c : state.consents()) {
    if (c.withdrawn_at_ms() != 0 || !ConsentCovers(c, referral, recipient, "").ok()) {
      continue;
    }
    if (c.scope() == preferred) {
      return &c;
    }
    if (fallback == nullptr) {
      fallback = &c;
    }
  }
  return fallback;
}

struct Choice {
  const Agency* agency = nullptr;
  const Consent* consent = nullptr;
  std::string why;  // when agency is null
};

// Picks the recipient of `rule`'s referral (see the header comment for the order).
Choice ChooseRecipient(const CaseState& state, const RoutingRule& rule,
                       const AgencyRoster& agencies, const AgencyLoad& load,
                       std::string_view sender,
                       const std::set<std::string, std::less<>>& excluded) {
  const std::string province = Upper(state.profile().province_of_identification());
  int offering = 0;
  int full = 0;
  int declined = 0;
  std::vector<const Agency*> candidates;
  for (const Agency& agency : agencies.agencies()) {
    if (!EligibleByRule(agency, rule) || agency.id() == state.owner_agency() ||
        agency.id() == sender) {
      continue;
    }
    ++offering;
    if (excluded.count(agency.id()) != 0) {
      ++declined;
      continue;
    }
    if (agency.capacity() != 0 && load.of(agency.id()) >= agency.capacity()) {
      ++full;
      continue;
    }
    candidates.push_back(&agency);
  }
  auto away = [&](const Agency* a) {
    return rule.prefer_same_region() && (province.empty() || a->region() != province);
  };
  std::stable_sort(candidates.begin(), candidates.end(), [&](const Agency* a, const Agency* b) {
    const bool away_a = away(a);
    const bool away_b = away(b);
    if (away_a != away_b) {
      return !away_a;
    }
    const uint32_t load_a = load.of(a->id());
    const uint32_t load_b = load.of(b->id());
    if (load_a != load_b) {
      return load_a < load_b;
    }
    return a->id() < b->id();
  });

  Choice choice;
  const std::string service = ServiceName(rule.service());
  if (candidates.empty()) {
    choice.why = "no agency is left to receive a referral for " + service + ": " +
                 std::to_string(offering) + " eligible agenc" + (offering == 1 ? "y" : "ies") +
                 " other than the sender";
    if (offering > 0) {
      choice.why += " (" + std::to_string(declined) + " already declined or failed it in this " +
                    "case, " + std::to_string(full) + " at capacity)";
    }
    return choice;
  }
  Referral probe;
  probe.set_service(rule.service());
  std::string names;
  for (const Agency* agency : candidates) {
    const Consent* consent = CoveringConsent(state, probe, *agency, rule.consent_scope());
    if (consent != nullptr) {
      choice.agency = agency;
      choice.consent = consent;
      return choice;
    }
    names += names.empty() ? "" : ", ";
    names += agency->id();
  }
  choice.why = "no consent in force covers a referral for " + service +
               " to any eligible agency (" + names + ")";
  return choice;
}

PlannedReferral BuildReferral(const CaseState& state, const RoutingRule& rule, const Choice& choice,
                              std::string_view sender, int64_t now_ms) {
  uint32_t attempt = ReferralsOfRule(state, rule.name());
  std::string id = PlannedReferralId(state.case_id(), rule.name(), attempt);
  while (FindReferral(state, id) != nullptr) {  // a hand-made referral reusing the rule's name
    id = PlannedReferralId(state.case_id(), rule.name(), ++attempt);
  }
  PlannedReferral out;
  out.rule = rule.name();
  Referral& r = out.referral;
  r.set_referral_id(std::move(id));
  r.set_case_id(state.case_id());
  r.set_kind(rule.kind());
  r.set_from_agency(std::string(sender));
  r.set_to_agency(choice.agency->id());
  r.set_service(rule.service());
  r.set_reason(rule.name());
  r.set_priority(rule.priority());
  r.set_respond_by_ms(now_ms + RespondWithinMs(rule));
  for (int section : rule.data_scope()) {
    r.add_data_scope(static_cast<passage::v1::DataSection>(section));
  }
  r.set_consent_id(choice.consent->consent_id());
  return out;
}

// Why `sender` cannot send `rule`'s referral in this case, or empty when it can.
std::string SenderLimit(const CaseState& state, const RoutingRule& rule, std::string_view sender) {
  if (sender == state.owner_agency()) {
    return {};
  }
  const passage::v1::AccessGrant* grant = FindAccess(state, sender);
  if (grant == nullptr) {
    return "agency " + Quoted(sender) + " has no access to the case";
  }
  if (rule.kind() == passage::v1::REFERRAL_KIND_TRANSFER) {
    return "only the case owner (" + state.owner_agency() + ") may transfer the case";
  }
  for (int section : rule.data_scope()) {
    if (!GrantIncludes(*grant, static_cast<passage::v1::DataSection>(section))) {
      return "agency " + Quoted(sender) + " may not share section " +
             Name<passage::v1::DataSection>(section) + ", which it may not read itself";
    }
  }
  return {};
}

const RoutingRule* FindRule(const passage::v1::RuleSet& rules, std::string_view name) {
  for (const RoutingRule& rule : rules.rules()) {
    if (rule.name() == name) {
      return &rule;
    }
  }
  return nullptr;
}

// FNV-1a, 128 bits (prime 2^88 + 0x13b), on two 64-bit halves.
class Fnv1a128 {
 public:
  void Add(std::string_view bytes) {
    for (unsigned char b : bytes) {
      lo_ ^= b;
      Multiply();
    }
  }
  // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
  void AddField(std::string_view bytes) {
    Add(std::to_string(bytes.size()));
    Add(":");
    Add(bytes);
  }
  uint64_t hi() const { return hi_; }
  uint64_t lo() const { return lo_; }

 private:
  // (hi, lo) *= 2^88 + 0x13b, modulo 2^128.
  void Multiply() {
    constexpr uint64_t kLowPrime = 0x13b;
    const uint64_t lo_low = (lo_ & 0xffffffffu) * kLowPrime;  // < 2^41
    const uint64_t lo_high = (lo_ >> 32) * kLowPrime;         // < 2^41
    const uint64_t low = lo_low + (lo_high << 32);
    const uint64_t carry = (lo_high >> 32) + (low < lo_low ? 1 : 0);
    hi_ = hi_ * kLowPrime + carry + (lo_ << 24);  // lo * 2^88 reaches the high half only
    lo_ = low;
  }

  uint64_t hi_ = 0x6c62272e07bb0142ULL;  // offset basis
  uint64_t lo_ = 0x62b821756295c58dULL;
};

}  // namespace

// ---- AgencyRoster ----

Result<AgencyRoster> AgencyRoster::FromRegistry(const passage::v1::AgencyRegistry& registry) {
  Result<InMemoryAgencyDirectory> checked = InMemoryAgencyDirectory::FromRegistry(registry);
  if (!checked.ok()) {
    return checked.status();
  }
  AgencyRoster roster;
  roster.set_crime_policy(checked->crime_policy());
  for (const Agency& agency : registry.agencies()) {
    roster.Upsert(agency);
  }
  return roster;
}

void AgencyRoster::Upsert(Agency agency) {
  auto it = std::lower_bound(agencies_.begin(), agencies_.end(), agency.id(),
                             [](const Agency& a, const std::string& id) { return a.id() < id; });
  if (it != agencies_.end() && it->id() == agency.id()) {
    *it = std::move(agency);
  } else {
    agencies_.insert(it, std::move(agency));
  }
}

void AgencyRoster::Remove(std::string_view id) {
  auto it = std::lower_bound(agencies_.begin(), agencies_.end(), id,
                             [](const Agency& a, std::string_view key) { return a.id() < key; });
  if (it != agencies_.end() && it->id() == id) {
    agencies_.erase(it);
  }
}

void AgencyRoster::Apply(const passage::v1::Event& e) {
  switch (e.payload_case()) {
    case passage::v1::Event::kAgencyRegistered:
      Upsert(e.agency_registered().agency());
      break;
    case passage::v1::Event::kKeyRotated:
      if (const Agency* a = Find(e.key_rotated().agency_id()); a != nullptr) {
        Agency copy = *a;
        if (!e.key_rotated().transport_public_key().empty()) {
          copy.set_transport_public_key(e.key_rotated().transport_public_key());
        }
        if (!e.key_rotated().sealing_public_key().empty()) {
          copy.set_sealing_public_key(e.key_rotated().sealing_public_key());
        }
        Upsert(std::move(copy));
      }
      break;
    case passage::v1::Event::kAgencyRevoked:
      Remove(e.agency_revoked().agency_id());
      break;
    default:
      break;
  }
}

const Agency* AgencyRoster::Find(std::string_view id) const {
  auto it = std::lower_bound(agencies_.begin(), agencies_.end(), id,
                             [](const Agency& a, std::string_view key) { return a.id() < key; });
  return it != agencies_.end() && it->id() == id ? &*it : nullptr;
}

// ---- Public functions ----

Status ValidateRuleSet(const passage::v1::RuleSet& rules, const AgencyRoster& agencies) {
  std::set<std::string, std::less<>> names;
  for (int i = 0; i < rules.rules_size(); ++i) {
    const std::string prefix = At("rules", i);
    RETURN_IF_ERROR(CheckRule(rules.rules(i), prefix, agencies));
    if (!names.insert(rules.rules(i).name()).second) {
      return Status::InvalidArgument(prefix + ".name",
                                     "rule name " + Quoted(rules.rules(i).name()) +
                                         " is used twice; referrals carry it as their reason");
    }
  }
  return Status::Ok();
}

std::vector<UnplacedNeed> UnplacedNeeds(const passage::v1::CaseState& state) {
  std::vector<UnplacedNeed> out;
  if (state.closed()) {
    return out;
  }
  // service -> (a referral still live or completed, the last referral)
  std::map<int, std::pair<bool, const passage::v1::Referral*>> services;
  for (const passage::v1::Referral& r : state.referrals()) {
    auto& [placed, last] = services[r.service()];
    placed = placed || !IsTerminal(r.status()) || r.status() == passage::v1::REFERRAL_STATUS_COMPLETED;
    if (last == nullptr || r.sent_at_ms() >= last->sent_at_ms()) {
      last = &r;
    }
  }
  for (const auto& [service, entry] : services) {
    if (!entry.first && entry.second != nullptr) {
      out.push_back({static_cast<passage::v1::ServiceType>(service), entry.second->status(),
                     entry.second->to_agency(), entry.second->sent_at_ms()});
    }
  }
  return out;
}

bool IsMinor(const passage::v1::Profile& p) {
  if (p.has_age_years() && p.age_years() < 18) {
    return true;
  }
  if (p.majority_at_identification() == passage::v1::MAJORITY_STATUS_MINOR) {
    return true;
  }
  return !p.has_age_years() &&
         MajorityForAgeBand(p.age_band()) == passage::v1::MAJORITY_STATUS_MINOR;
}

bool IsAdult(const passage::v1::Profile& p) {
  if (IsMinor(p)) {
    return false;
  }
  if (p.has_age_years()) {
    return true;  // >= 18, or IsMinor would hold
  }
  return p.majority_at_identification() == passage::v1::MAJORITY_STATUS_ADULT ||
         MajorityForAgeBand(p.age_band()) == passage::v1::MAJORITY_STATUS_ADULT;
}

bool Matches(const RuleCondition& when, const CaseState& state) {
  const passage::v1::Profile& p = state.profile();
  switch (when.majority()) {
    case passage::v1::MAJORITY_STATUS_MINOR:
      if (!IsMinor(p)) {
        return false;
      }
      break;
    case passage::v1::MAJORITY_STATUS_ADULT:
      if (!IsAdult(p)) {
        return false;
      }
      break;
    default:
      break;
  }
  if (when.sex_in_size() > 0 && !Contains(when.sex_in(), p.sex())) {
    return false;
  }
  if (when.any_exploitation_size() > 0 &&
      std::none_of(p.exploitation_forms().begin(), p.exploitation_forms().end(),
                   [&](int form) { return Contains(when.any_exploitation(), form); })) {
    return false;
  }
  if (when.crime_type_in_size() > 0 && !Contains(when.crime_type_in(), state.crime_type())) {
    return false;
  }
  auto listed = [](const google::protobuf::RepeatedPtrField<std::string>& list,
                   const std::string& code) {
    const std::string key = CountryKey(code);
    return std::any_of(list.begin(), list.end(),
                       [&](const std::string& c) { return CountryKey(c) == key; });
  };
  if (when.citizenship_in_size() > 0 &&
      std::none_of(p.citizenship().begin(), p.citizenship().end(),
                   [&](const std::string& c) { return listed(when.citizenship_in(), c); })) {
    return false;
  }
  if (when.citizenship_not_in_size() > 0 &&
      (p.citizenship_size() == 0 ||
       std::any_of(p.citizenship().begin(), p.citizenship().end(),
                   [&](const std::string& c) { return listed(when.citizenship_not_in(), c); }))) {
    return false;
  }
  if (when.province_in_size() > 0) {
    const std::string province = Upper(p.province_of_identification());
    if (province.empty() ||
        std::none_of(when.province_in().begin(), when.province_in().end(),
                     [&](const std::string& s) { return Upper(s) == province; })) {
      return false;
    }
  }
  for (int scope : when.requires_consent()) {
    if (std::none_of(state.consents().begin(), state.consents().end(), [&](const Consent& c) {
          return c.scope() == scope && c.withdrawn_at_ms() == 0;
        })) {
      return false;
    }
  }
  return !when.requires_wish_to_return() || p.wishes_to_return();
}

void CountLoad(const CaseState& state, AgencyLoad* load) {
  for (const Referral& r : state.referrals()) {
    if (IsLive(r.status()) && WasAccepted(r) && !r.to_agency().empty()) {
      ++load->open_referrals[r.to_agency()];
    }
  }
}

std::string PlannedReferralId(std::string_view case_id, std::string_view rule, uint32_t attempt) {
  Fnv1a128 h;
  h.AddField("passage.routing.referral-id.v1");
  h.AddField(case_id);
  h.AddField(rule);
  h.AddField(std::to_string(attempt));
  uint64_t hi = h.hi();
  uint64_t lo = h.lo();
  hi = (hi & ~(0xfULL << 12)) | (0x4ULL << 12);  // version 4
  lo = (lo & ~(0x3ULL << 62)) | (0x2ULL << 62);  // variant 10
  char buf[37];
  std::snprintf(buf, sizeof(buf), "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xffff),
                static_cast<unsigned long long>(hi & 0xffff),
                static_cast<unsigned long long>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

PlanResult PlanReferrals(const CaseState& state, const passage::v1::RuleSet& rules,
                         const AgencyRoster& agencies, const AgencyLoad& load, int64_t now_ms,
                         std::string_view on_behalf_of) {
  PlanResult out;
  if (state.case_id().empty() || state.closed()) {
    return out;
  }
  const std::string sender =
      on_behalf_of.empty() ? state.owner_agency() : std::string(on_behalf_of);
  std::set<int> planned_services;
  for (const RoutingRule& rule : rules.rules()) {
    if (!Matches(rule.when(), state) || ServiceCovered(state, rule.service()) != nullptr ||
        planned_services.count(rule.service()) != 0 || ReferralsOfRule(state, rule.name()) != 0) {
      continue;
    }
    const std::string limit = SenderLimit(state, rule, sender);
    if (!limit.empty()) {
      out.skipped.push_back("rule " + Quoted(rule.name()) + ": " + limit);
      continue;
    }
    Choice choice = ChooseRecipient(state, rule, agencies, load, sender,
                                    FailedRecipients(state, rule.service()));
    if (choice.agency == nullptr) {
      out.skipped.push_back("rule " + Quoted(rule.name()) + ": " + choice.why);
      continue;
    }
    planned_services.insert(rule.service());
    out.planned.push_back(BuildReferral(state, rule, choice, sender, now_ms));
  }
  return out;
}

std::optional<PlannedReferral> PlanEscalation(const CaseState& state, const Referral& failed,
                                              const passage::v1::RuleSet& rules,
                                              const AgencyRoster& agencies, const AgencyLoad& load,
                                              int64_t now_ms, std::string* why) {
  auto none = [why](std::string reason) -> std::optional<PlannedReferral> {
    if (why != nullptr) {
      *why = std::move(reason);
    }
    return std::nullopt;
  };
  const Referral* f = FindReferral(state, failed.referral_id());
  if (f == nullptr) {
    return none("referral " + failed.referral_id() + " is not in case " + state.case_id());
  }
  if (f->status() != passage::v1::REFERRAL_STATUS_REJECTED &&
      f->status() != passage::v1::REFERRAL_STATUS_EXPIRED) {
    return none("referral " + f->referral_id() + " is " + ReferralStatusName(f->status()) +
                "; only REJECTED and EXPIRED referrals are escalated");
  }
  if (state.closed()) {
    return none("case " + state.case_id() + " is closed");
  }
  const RoutingRule* rule = FindRule(rules, f->reason());
  if (rule == nullptr) {
    return none("referral " + f->referral_id() + " was not made by a routing rule (reason " +
                Quoted(f->reason()) + " names none)");
  }
  if (!Matches(rule->when(), state)) {
    return none("the case no longer matches rule " + Quoted(rule->name()));
  }
  for (const Referral& r : state.referrals()) {
    if (r.parent_referral_id() == f->referral_id()) {
      return none("referral " + f->referral_id() + " was already escalated as " + r.referral_id());
    }
  }
  if (const Referral* covered = ServiceCovered(state, rule->service()); covered != nullptr) {
    return none("referral " + covered->referral_id() + " for " + ServiceName(rule->service()) +
                " is " + ReferralStatusName(covered->status()));
  }

  std::set<std::string, std::less<>> excluded = FailedRecipients(state, rule->service());
  excluded.insert(f->to_agency());
  std::set<std::string, std::less<>> seen;
  for (const Referral* r = f; r != nullptr && seen.insert(r->referral_id()).second;
       r = r->parent_referral_id().empty() ? nullptr
                                           : FindReferral(state, r->parent_referral_id())) {
    if (IsFailure(r->status())) {
      excluded.insert(r->to_agency());
    }
  }

  const std::string& sender = state.owner_agency();
  Choice choice = ChooseRecipient(state, *rule, agencies, load, sender, excluded);
  if (choice.agency == nullptr) {
    return none("rule " + Quoted(rule->name()) + ": " + choice.why);
  }
  PlannedReferral out = BuildReferral(state, *rule, choice, sender, now_ms);
  out.referral.set_parent_referral_id(f->referral_id());
  out.referral.set_priority(f->status() == passage::v1::REFERRAL_STATUS_EXPIRED
                                ? RaisePriority(f->priority())
                                : f->priority());
  if (out.referral.priority() == passage::v1::PRIORITY_UNSPECIFIED) {
    out.referral.set_priority(rule->priority());
  }
  return out;
}

passage::v1::Priority RaisePriority(passage::v1::Priority priority) {
  switch (priority) {
    case passage::v1::PRIORITY_ROUTINE:
      return passage::v1::PRIORITY_URGENT;
    case passage::v1::PRIORITY_URGENT:
    case passage::v1::PRIORITY_EMERGENCY:
      return passage::v1::PRIORITY_EMERGENCY;
    default:
      return passage::v1::PRIORITY_ROUTINE;
  }
}

std::vector<std::string> OverdueReferrals(const CaseState& state, int64_t now_ms) {
  std::vector<std::string> out;
  for (const Referral& r : state.referrals()) {
    if ((r.status() == passage::v1::REFERRAL_STATUS_SENT ||
         r.status() == passage::v1::REFERRAL_STATUS_RECEIVED) &&
        r.respond_by_ms() != 0 && r.respond_by_ms() <= now_ms) {
      out.push_back(r.referral_id());
    }
  }
  return out;
}

}  // namespace passage::core
