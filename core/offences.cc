#include "core/offences.h"

#include <algorithm>
#include <ctime>
#include <set>
#include <string>

#include "core/case_projection.h"
#include "core/codes.h"
#include "core/validate.h"

namespace passage::core {
namespace {

using passage::v1::AccusedStatus;
using passage::v1::AccusedStep;
using passage::v1::Event;
using passage::v1::Offence;
using passage::v1::OffenceStatus;
using passage::v1::Suspect;
namespace v1 = passage::v1;

constexpr size_t kMaxFirNumber = 40;
constexpr size_t kMaxPlace = 120;
constexpr size_t kMaxLawSections = 20;
constexpr size_t kMaxTransit = 10;
constexpr uint32_t kMaxSentenceMonths = 1200;

std::string Q(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string At(std::string_view field, int i) {
  return std::string(field) + "[" + std::to_string(i) + "]";
}

template <typename Enum>
std::string EnumName(int value) {
  return ShortEnumName(google::protobuf::GetEnumDescriptor<Enum>(), value);
}

Status Invalid(std::string field, std::string reason) {
  return Status::InvalidArgument(std::move(field), std::move(reason));
}

// Short text: required or not, at most `max` bytes, no control characters.
Status CheckPlainText(std::string_view text, size_t max, bool required, const std::string& field) {
  if (required && text.find_first_not_of(' ') == std::string_view::npos) {
    return Invalid(field, "is required");
  }
  if (text.size() > max) {
    return Invalid(field, "is " + std::to_string(text.size()) + " bytes; at most " +
                              std::to_string(max));
  }
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      return Invalid(field, "holds a control character (code " + std::to_string(c) +
                                "); type it again without it");
    }
  }
  return Status::Ok();
}

template <typename Enum>
Status CheckEnumValue(int value, bool (*is_valid)(int), bool required, const std::string& field) {
  if (!is_valid(value)) {
    return Invalid(field, std::to_string(value) + " is not a known value");
  }
  if (required && value == 0) {
    return Invalid(field, "is required");
  }
  return Status::Ok();
}

// A YYYY-MM-DD date that exists, from 1990, not after today (UTC of `now_ms`, a day of slack for
// time zones).
Status CheckPastDate(std::string_view text, int64_t now_ms, const std::string& field) {
  RETURN_IF_ERROR(ValidateIsoDate(text, field));
  if (text < std::string_view("1990-01-01")) {
    return Invalid(field, Q(text) + " is before 1990");
  }
  const std::time_t t = static_cast<std::time_t>(now_ms / 1000 + 24 * 3600);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char today[32];
  std::snprintf(today, sizeof today, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday);
  if (text > std::string_view(today)) {
    return Invalid(field, Q(text) + " is in the future");
  }
  return Status::Ok();
}

Status CheckLawCodes(const google::protobuf::RepeatedPtrField<std::string>& codes, bool required,
                     const std::string& field) {
  if (required && codes.empty()) {
    return Invalid(field, "name at least one law section (e.g. PTPA-2018-3)");
  }
  if (static_cast<size_t>(codes.size()) > kMaxLawSections) {
    return Invalid(field, "at most " + std::to_string(kMaxLawSections) + " law sections");
  }
  std::set<std::string> seen;
  for (int i = 0; i < codes.size(); ++i) {
    RETURN_IF_ERROR(CheckPlainText(codes.Get(i), 32, true, At(field, i)));
    if (!seen.insert(codes.Get(i)).second) {
      return Invalid(At(field, i), "law section " + codes.Get(i) + " is listed twice");
    }
  }
  return Status::Ok();
}

Status CheckCurrency(std::string_view code, const std::string& field) {
  if (code.size() != 3 || !std::all_of(code.begin(), code.end(), [](char c) {
        return c >= 'A' && c <= 'Z';
      })) {
    return Invalid(field, Q(code) + " is not an ISO 4217 currency code (three capital letters, "
                                    "e.g. PKR)");
  }
  return Status::Ok();
}

Status CheckCountryList(const google::protobuf::RepeatedPtrField<std::string>& codes,
                        const std::string& field, std::set<std::string>* out) {
  for (int i = 0; i < codes.size(); ++i) {
    ASSIGN_OR_RETURN(std::string c, NormalizeCountry(codes.Get(i), At(field, i)));
    if (!out->insert(c).second) {
      return Invalid(At(field, i), "country " + c + " is listed twice");
    }
  }
  return Status::Ok();
}

Status ValidateOffence(const Offence& o, int64_t now_ms) {
  const std::string p = "offence_registered.offence.";
  RETURN_IF_ERROR(ValidateUuid(o.offence_id(), p + "offence_id"));
  RETURN_IF_ERROR(CheckPlainText(o.fir_number(), kMaxFirNumber, true, p + "fir_number"));
  RETURN_IF_ERROR(CheckPlainText(o.police_station(), kMaxPlace, true, p + "police_station"));
  if (o.province().empty()) {
    return Invalid(p + "province", "is required (ISO 3166-2, e.g. PK-SD)");
  }
  RETURN_IF_ERROR(NormalizeSubdivision(o.province(), p + "province").status());
  RETURN_IF_ERROR(CheckPlainText(o.district(), kMaxPlace, false, p + "district"));
  if (o.registered_on().empty()) {
    return Invalid(p + "registered_on", "is required (YYYY-MM-DD)");
  }
  RETURN_IF_ERROR(CheckPastDate(o.registered_on(), now_ms, p + "registered_on"));
  RETURN_IF_ERROR(CheckLawCodes(o.law_sections(), true, p + "law_sections"));
  if (o.crime_type() != v1::CRIME_TYPE_TIP && o.crime_type() != v1::CRIME_TYPE_SOM &&
      o.crime_type() != v1::CRIME_TYPE_BOTH) {
    return Invalid(p + "crime_type", "an offence is TIP, SOM or BOTH");
  }
  if (o.status() != v1::OFFENCE_STATUS_UNSPECIFIED && o.status() != v1::OFFENCE_STATUS_REGISTERED) {
    return Invalid(p + "status",
                   "an offence starts REGISTERED; later moves are OffenceStatusChanged events");
  }
  if (o.closure() != v1::OFFENCE_CLOSURE_UNSPECIFIED || o.history_size() > 0 ||
      !o.recorded_by().empty()) {
    return Invalid(p + (o.closure() != 0 ? "closure" : o.history_size() > 0 ? "history" : "recorded_by"),
                   "is set by the log, not by the sender");
  }
  if (!o.investigating_agency().empty()) {
    RETURN_IF_ERROR(ValidateAgencyId(o.investigating_agency(), p + "investigating_agency"));
  }
  if (!o.witness_referral_id().empty()) {
    RETURN_IF_ERROR(ValidateUuid(o.witness_referral_id(), p + "witness_referral_id"));
  }
  return Status::Ok();
}

Status ValidateSuspect(const Suspect& s) {
  const std::string p = "suspect_recorded.suspect.";
  RETURN_IF_ERROR(ValidateUuid(s.suspect_id(), p + "suspect_id"));
  RETURN_IF_ERROR(ValidateUuid(s.offence_id(), p + "offence_id"));
  if (s.has_identity()) {
    const v1::SealedPersonalData& id = s.identity();
    if (id.scheme() != 1 || id.nonce().size() != 24 || id.ciphertext().empty()) {
      return Invalid(p + "identity", "a suspect's identity travels sealed (scheme 1), never in "
                                     "the clear");
    }
    if (!id.person_key().empty()) {
      return Invalid(p + "identity.person_key", "suspects are not matched across cases");
    }
  }
  RETURN_IF_ERROR(CheckEnumValue<v1::Sex>(s.sex(), v1::Sex_IsValid, true, p + "sex"));
  RETURN_IF_ERROR(
      CheckEnumValue<v1::AgeBand>(s.age_band(), v1::AgeBand_IsValid, false, p + "age_band"));
  RETURN_IF_ERROR(CheckEnumValue<v1::MajorityStatus>(s.majority(), v1::MajorityStatus_IsValid,
                                                     false, p + "majority"));
  if (s.age_band() != v1::AGE_BAND_UNSPECIFIED && s.majority() != v1::MAJORITY_STATUS_UNSPECIFIED &&
      MajorityForAgeBand(s.age_band()) != s.majority()) {
    return Invalid(p + "majority", "age band " + EnumName<v1::AgeBand>(s.age_band()) + " is " +
                                       EnumName<v1::MajorityStatus>(MajorityForAgeBand(s.age_band())) +
                                       ", not " + EnumName<v1::MajorityStatus>(s.majority()));
  }
  std::set<std::string> countries;
  RETURN_IF_ERROR(CheckCountryList(s.citizenship(), p + "citizenship", &countries));
  if (s.roles().empty()) {
    return Invalid(p + "roles", "name the suspect's role in the crime (recruiter, transporter, "
                                "harbourer, exploiter, smuggler, document forger, financier, "
                                "other)");
  }
  std::set<int> roles;
  for (int i = 0; i < s.roles_size(); ++i) {
    RETURN_IF_ERROR(CheckEnumValue<v1::SuspectRole>(s.roles(i), v1::SuspectRole_IsValid, true,
                                                    At(p + "roles", i)));
    if (!roles.insert(s.roles(i)).second) {
      return Invalid(At(p + "roles", i), "role listed twice");
    }
  }
  RETURN_IF_ERROR(CheckEnumValue<v1::OrganisedGroup>(s.organised_group(),
                                                     v1::OrganisedGroup_IsValid, false,
                                                     p + "organised_group"));
  const char* set_by_log = s.status() != 0              ? "status"
                           : s.on_bail()                 ? "on_bail"
                           : !s.charged_sections().empty() ? "charged_sections"
                           : s.sentence_months() != 0    ? "sentence_months"
                           : s.fine_amount() != 0        ? "fine_amount"
                           : s.appealed()                ? "appealed"
                           : s.appeal_outcome() != 0     ? "appeal_outcome"
                           : !s.recorded_by().empty()    ? "recorded_by"
                           : s.history_size() > 0        ? "history"
                           : s.recorded_at_ms() != 0     ? "recorded_at_ms"
                                                         : nullptr;
  if (set_by_log != nullptr) {
    return Invalid(p + set_by_log, "is set by the log from AccusedUpdated events, not by the sender");
  }
  return Status::Ok();
}

Status ValidateAccusedUpdated(const v1::AccusedUpdated& u, int64_t now_ms) {
  const std::string p = "accused_updated.";
  RETURN_IF_ERROR(ValidateUuid(u.suspect_id(), p + "suspect_id"));
  RETURN_IF_ERROR(
      CheckEnumValue<v1::AccusedStep>(u.step(), v1::AccusedStep_IsValid, true, p + "step"));
  if (!u.on_date().empty()) {
    RETURN_IF_ERROR(CheckPastDate(u.on_date(), now_ms, p + "on_date"));
  }
  const bool charged = u.step() == v1::ACCUSED_STEP_CHARGED;
  RETURN_IF_ERROR(CheckLawCodes(u.charged_sections(), charged, p + "charged_sections"));
  if (!charged && !u.charged_sections().empty()) {
    return Invalid(p + "charged_sections", "only a CHARGED step names the sections charged");
  }
  const bool decided = u.step() == v1::ACCUSED_STEP_APPEAL_DECIDED;
  RETURN_IF_ERROR(CheckEnumValue<v1::AppealOutcome>(u.appeal_outcome(), v1::AppealOutcome_IsValid,
                                                    decided, p + "appeal_outcome"));
  if (!decided && u.appeal_outcome() != v1::APPEAL_OUTCOME_UNSPECIFIED) {
    return Invalid(p + "appeal_outcome", "only an APPEAL_DECIDED step has an appeal outcome");
  }
  const bool sentence = u.sentence_months() != 0 || u.fine_amount() != 0;
  // A sentence belongs to a conviction (or to an appeal that changes one); whether an overturned
  // acquittal needs one depends on the verdict it overturns (NextAccusedStatus).
  const bool may_sentence = u.step() == v1::ACCUSED_STEP_CONVICTED || decided;
  if (sentence && !may_sentence) {
    return Invalid(p + (u.sentence_months() != 0 ? "sentence_months" : "fine_amount"),
                   u.step() == v1::ACCUSED_STEP_ACQUITTED
                       ? "an acquittal carries no sentence"
                       : "a sentence is recorded only with a conviction");
  }
  if (u.step() == v1::ACCUSED_STEP_CONVICTED && !sentence) {
    return Invalid(p + "sentence_months",
                   "a conviction needs its sentence: imprisonment in months, a fine, or both");
  }
  if (u.sentence_months() > kMaxSentenceMonths) {
    return Invalid(p + "sentence_months", std::to_string(u.sentence_months()) +
                                              " months is more than " +
                                              std::to_string(kMaxSentenceMonths));
  }
  if (u.fine_amount() != 0) {
    RETURN_IF_ERROR(CheckCurrency(u.fine_currency(), p + "fine_currency"));
  } else if (!u.fine_currency().empty()) {
    return Invalid(p + "fine_currency", "a currency needs a fine_amount");
  }
  return Status::Ok();
}

Status ValidateSmuggling(const v1::SmugglingDetails& d) {
  const std::string p = "smuggling_recorded.details.";
  if (d.origin_country().empty()) {
    return Invalid(p + "origin_country", "is required (ISO 3166-1, e.g. PK)");
  }
  ASSIGN_OR_RETURN(std::string origin, NormalizeCountry(d.origin_country(), p + "origin_country"));
  if (d.destination_country().empty()) {
    return Invalid(p + "destination_country", "is required: the intended destination");
  }
  ASSIGN_OR_RETURN(std::string destination,
                   NormalizeCountry(d.destination_country(), p + "destination_country"));
  if (static_cast<size_t>(d.transit_countries_size()) > kMaxTransit) {
    return Invalid(p + "transit_countries", "at most " + std::to_string(kMaxTransit));
  }
  std::set<std::string> transit;
  RETURN_IF_ERROR(CheckCountryList(d.transit_countries(), p + "transit_countries", &transit));
  for (int i = 0; i < d.transit_countries_size(); ++i) {
    const std::string c = *NormalizeCountry(d.transit_countries(i), "");
    if (c == origin || c == destination) {
      return Invalid(At(p + "transit_countries", i),
                     c + " is the route's " + (c == origin ? "origin" : "destination") +
                         "; transit countries lie between them");
    }
  }
  if (origin == destination && transit.empty()) {
    return Invalid(p + "destination_country",
                   "the destination is the origin (" + origin +
                       ") with no transit country: that is no route; give the intended "
                       "destination");
  }
  RETURN_IF_ERROR(CheckEnumValue<v1::Interception>(d.interception(), v1::Interception_IsValid,
                                                   false, p + "interception"));
  if (!d.interception_province().empty()) {
    RETURN_IF_ERROR(NormalizeSubdivision(d.interception_province(), p + "interception_province")
                        .status());
  }
  RETURN_IF_ERROR(CheckEnumValue<v1::TransportMode>(d.transport(), v1::TransportMode_IsValid,
                                                    false, p + "transport"));
  RETURN_IF_ERROR(
      CheckEnumValue<v1::FeeBand>(d.fee_band(), v1::FeeBand_IsValid, false, p + "fee_band"));
  if (!d.fee_currency().empty()) {
    RETURN_IF_ERROR(CheckCurrency(d.fee_currency(), p + "fee_currency"));
  }
  std::set<int> seen;
  for (int i = 0; i < d.aggravations_size(); ++i) {
    RETURN_IF_ERROR(CheckEnumValue<v1::Aggravation>(d.aggravations(i), v1::Aggravation_IsValid,
                                                    true, At(p + "aggravations", i)));
    if (!seen.insert(d.aggravations(i)).second) {
      return Invalid(At(p + "aggravations", i), "listed twice");
    }
  }
  if (d.recorded_at_ms() != 0 || !d.recorded_by().empty()) {
    return Invalid(p + (d.recorded_at_ms() != 0 ? "recorded_at_ms" : "recorded_by"),
                   "is set by the log, not by the sender");
  }
  return Status::Ok();
}

// ---- state machines ---------------------------------------------------------------------------

struct OffenceMove {
  OffenceStatus from;
  OffenceStatus to;
};

constexpr OffenceMove kOffenceMoves[] = {
    {v1::OFFENCE_STATUS_REGISTERED, v1::OFFENCE_STATUS_UNDER_INVESTIGATION},
    {v1::OFFENCE_STATUS_UNDER_INVESTIGATION, v1::OFFENCE_STATUS_CHARGE_SHEET_SUBMITTED},
    {v1::OFFENCE_STATUS_CHARGE_SHEET_SUBMITTED, v1::OFFENCE_STATUS_SENT_TO_COURT},
    {v1::OFFENCE_STATUS_REGISTERED, v1::OFFENCE_STATUS_CLOSED},
    {v1::OFFENCE_STATUS_UNDER_INVESTIGATION, v1::OFFENCE_STATUS_CLOSED},
    {v1::OFFENCE_STATUS_CHARGE_SHEET_SUBMITTED, v1::OFFENCE_STATUS_CLOSED},
    {v1::OFFENCE_STATUS_SENT_TO_COURT, v1::OFFENCE_STATUS_CLOSED},
    {v1::OFFENCE_STATUS_CLOSED, v1::OFFENCE_STATUS_UNDER_INVESTIGATION},  // reopened
};


struct AccusedMove {
  AccusedStatus from;
  AccusedStep step;
  AccusedStatus to;  // UNSPECIFIED: stays where it is
};

constexpr AccusedMove kAccusedMoves[] = {
    {v1::ACCUSED_STATUS_SUSPECTED, v1::ACCUSED_STEP_ARRESTED, v1::ACCUSED_STATUS_ARRESTED},
    {v1::ACCUSED_STATUS_SUSPECTED, v1::ACCUSED_STEP_CAUTIONED, v1::ACCUSED_STATUS_CAUTIONED},
    {v1::ACCUSED_STATUS_SUSPECTED, v1::ACCUSED_STEP_CHARGED, v1::ACCUSED_STATUS_CHARGED},
    {v1::ACCUSED_STATUS_SUSPECTED, v1::ACCUSED_STEP_DISCHARGED, v1::ACCUSED_STATUS_DISCHARGED},
    {v1::ACCUSED_STATUS_ARRESTED, v1::ACCUSED_STEP_BAIL_GRANTED, v1::ACCUSED_STATUS_UNSPECIFIED},
    {v1::ACCUSED_STATUS_ARRESTED, v1::ACCUSED_STEP_CHARGED, v1::ACCUSED_STATUS_CHARGED},
    {v1::ACCUSED_STATUS_ARRESTED, v1::ACCUSED_STEP_DISCHARGED, v1::ACCUSED_STATUS_DISCHARGED},
    {v1::ACCUSED_STATUS_CAUTIONED, v1::ACCUSED_STEP_CHARGED, v1::ACCUSED_STATUS_CHARGED},
    {v1::ACCUSED_STATUS_CAUTIONED, v1::ACCUSED_STEP_DISCHARGED, v1::ACCUSED_STATUS_DISCHARGED},
    {v1::ACCUSED_STATUS_CHARGED, v1::ACCUSED_STEP_BAIL_GRANTED, v1::ACCUSED_STATUS_UNSPECIFIED},
    {v1::ACCUSED_STATUS_CHARGED, v1::ACCUSED_STEP_CONVICTED, v1::ACCUSED_STATUS_CONVICTED},
    {v1::ACCUSED_STATUS_CHARGED, v1::ACCUSED_STEP_ACQUITTED, v1::ACCUSED_STATUS_ACQUITTED},
    {v1::ACCUSED_STATUS_CHARGED, v1::ACCUSED_STEP_DISCHARGED, v1::ACCUSED_STATUS_DISCHARGED},
    {v1::ACCUSED_STATUS_CONVICTED, v1::ACCUSED_STEP_APPEAL_FILED, v1::ACCUSED_STATUS_UNSPECIFIED},
    {v1::ACCUSED_STATUS_ACQUITTED, v1::ACCUSED_STEP_APPEAL_FILED, v1::ACCUSED_STATUS_UNSPECIFIED},
    {v1::ACCUSED_STATUS_CONVICTED, v1::ACCUSED_STEP_APPEAL_DECIDED, v1::ACCUSED_STATUS_UNSPECIFIED},
    {v1::ACCUSED_STATUS_ACQUITTED, v1::ACCUSED_STEP_APPEAL_DECIDED, v1::ACCUSED_STATUS_UNSPECIFIED},
};

std::string StepWords(AccusedStep step) {
  std::string s = EnumName<v1::AccusedStep>(step);
  std::transform(s.begin(), s.end(), s.begin(), [](char c) { return c == '_' ? ' ' : std::tolower(c); });
  return s;
}

bool AppealPending(const Suspect& s) {
  return s.appealed() && s.appeal_outcome() == v1::APPEAL_OUTCOME_UNSPECIFIED;
}

std::string Format(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return buf;
}

Offence* FindMutableOffence(v1::CaseState* state, std::string_view id) {
  for (Offence& o : *state->mutable_offences()) {
    if (o.offence_id() == id) return &o;
  }
  return nullptr;
}

Suspect* FindMutableSuspect(v1::CaseState* state, std::string_view id) {
  for (Suspect& s : *state->mutable_suspects()) {
    if (s.suspect_id() == id) return &s;
  }
  return nullptr;
}

std::string Alpha2(const std::string& code) {
  const core::Country* c = FindCountry(code);
  return c != nullptr ? std::string(c->alpha2) : code;
}

// The actor may write `section`: it has access to the case and its type may hold the section.
Status RequireCrimeWriter(const v1::CaseState& state, const Event& e,
                          const AgencyDirectory& agencies, v1::DataSection section) {
  const v1::Agency* actor = agencies.Find(e.actor_agency());
  if (actor == nullptr) {
    return Status::PermissionDenied("agency " + Q(e.actor_agency()) + " is not registered",
                                    "actor_agency");
  }
  if (!agencies.crime_policy().MayHold(*actor, section)) {
    return Status::PermissionDenied(
        "agency " + Q(e.actor_agency()) + " (" + EnumName<v1::AgencyType>(actor->type()) +
            ") may not hold " + EnumName<v1::DataSection>(section) +
            " records; only " + agencies.crime_policy().AllowedTypesText(section) + " may",
        "actor_agency");
  }
  const v1::AccessGrant* grant = FindAccess(state, e.actor_agency());
  if (grant == nullptr) {
    return Status::PermissionDenied(
        "agency " + Q(e.actor_agency()) +
            " has no access to this case (it is neither the owner nor the recipient of an "
            "accepted referral)",
        "actor_agency");
  }
  if (!GrantIncludes(*grant, section)) {
    return Status::PermissionDenied("agency " + Q(e.actor_agency()) + " may not read the " +
                                        EnumName<v1::DataSection>(section) +
                                        " records of this case, so it may not add to them (its "
                                        "referral does not share them)",
                                    "actor_agency");
  }
  return Status::Ok();
}

// A suspect's identity opens only for agencies of a type that may hold SUSPECT which hold it for
// this case now (the owner or an accepted referral sharing SUSPECT); never the referral engine.
Status CheckIdentityReaders(const v1::CaseState& state, const v1::SealedPersonalData& identity,
                            const AgencyDirectory& agencies, const std::string& field) {
  const CrimePolicy& policy = agencies.crime_policy();
  for (int i = 0; i < identity.wrapped_keys_size(); ++i) {
    const std::string& id = identity.wrapped_keys(i).agency_id();
    const v1::Agency* a = agencies.Find(id);
    const v1::AccessGrant* grant = FindAccess(state, id);
    std::string why;
    if (a == nullptr) {
      why = Q(id) + " is not registered";
    } else if (a->system_principal() || !policy.MayHold(*a, v1::DATA_SECTION_SUSPECT)) {
      why = "it may be opened only by " + policy.AllowedTypesText(v1::DATA_SECTION_SUSPECT) +
            " agencies; " + Q(id) + " is " + EnumName<v1::AgencyType>(a->type());
    } else if (grant == nullptr || !GrantIncludes(*grant, v1::DATA_SECTION_SUSPECT)) {
      why = Q(id) + " does not hold the suspect records of this case (no accepted referral "
                    "shares them)";
    }
    if (!why.empty()) {
      return Status::PermissionDenied("the suspect's identity cannot be sealed for " + Q(id) + ": " +
                                          why,
                                      At(field, i) + ".agency_id");
    }
  }
  return Status::Ok();
}

}  // namespace

bool IsCrimeEvent(const Event& e) {
  switch (e.payload_case()) {
    case Event::kOffenceRegistered:
    case Event::kOffenceStatusChanged:
    case Event::kSuspectRecorded:
    case Event::kAccusedUpdated:
    case Event::kSmugglingRecorded:
    case Event::kSuspectIdentityResealed:
      return true;
    default:
      return false;
  }
}

Status ValidateCrimePayload(const Event& e, int64_t now_ms) {
  switch (e.payload_case()) {
    case Event::kOffenceRegistered:
      return ValidateOffence(e.offence_registered().offence(), now_ms);
    case Event::kOffenceStatusChanged: {
      const v1::OffenceStatusChanged& c = e.offence_status_changed();
      RETURN_IF_ERROR(ValidateUuid(c.offence_id(), "offence_status_changed.offence_id"));
      RETURN_IF_ERROR(CheckEnumValue<v1::OffenceStatus>(c.to(), v1::OffenceStatus_IsValid, true,
                                                        "offence_status_changed.to"));
      RETURN_IF_ERROR(CheckEnumValue<v1::OffenceClosure>(c.closure(), v1::OffenceClosure_IsValid,
                                                         false, "offence_status_changed.closure"));
      if (c.to() == v1::OFFENCE_STATUS_CLOSED && c.closure() == v1::OFFENCE_CLOSURE_UNSPECIFIED) {
        return Invalid("offence_status_changed.closure",
                       "closing an offence needs the reason (decided by court, untraced, "
                       "insufficient evidence, false complaint, compromise, transferred, other)");
      }
      if (c.to() != v1::OFFENCE_STATUS_CLOSED && c.closure() != v1::OFFENCE_CLOSURE_UNSPECIFIED) {
        return Invalid("offence_status_changed.closure", "only a closure has a closure reason");
      }
      if (!c.witness_referral_id().empty()) {
        RETURN_IF_ERROR(
            ValidateUuid(c.witness_referral_id(), "offence_status_changed.witness_referral_id"));
      }
      return Status::Ok();
    }
    case Event::kSuspectRecorded:
      return ValidateSuspect(e.suspect_recorded().suspect());
    case Event::kAccusedUpdated:
      return ValidateAccusedUpdated(e.accused_updated(), now_ms);
    case Event::kSmugglingRecorded:
      return ValidateSmuggling(e.smuggling_recorded().details());
    case Event::kSuspectIdentityResealed: {
      const v1::SuspectIdentityResealed& r = e.suspect_identity_resealed();
      RETURN_IF_ERROR(ValidateUuid(r.suspect_id(), "suspect_identity_resealed.suspect_id"));
      const v1::SealedPersonalData& id = r.identity();
      if (id.scheme() != 1 || id.nonce().size() != 24 || id.ciphertext().empty() ||
          id.wrapped_keys().empty()) {
        return Invalid("suspect_identity_resealed.identity",
                       "a re-seal carries the sealed identity (scheme 1) and its wrapped keys");
      }
      return Status::Ok();
    }
    default:
      return Status::Ok();
  }
}

Result<OffenceStatus> NextOffenceStatus(OffenceStatus from, OffenceStatus to) {
  for (const OffenceMove& m : kOffenceMoves) {
    if (m.from == from && m.to == to) {
      return to;
    }
  }
  std::string next;
  for (const OffenceMove& m : kOffenceMoves) {
    if (m.from == from) {
      next += next.empty() ? "" : ", ";
      next += EnumName<v1::OffenceStatus>(m.to);
    }
  }
  return Status::FailedPrecondition("an offence cannot move from " +
                                        EnumName<v1::OffenceStatus>(from) + " to " +
                                        EnumName<v1::OffenceStatus>(to) + " (from " +
                                        EnumName<v1::OffenceStatus>(from) + ": " +
                                        (next.empty() ? "nothing" : next) + ")",
                                    "offence_status_changed.to");
}

Result<AccusedStatus> NextAccusedStatus(const Suspect& suspect, const v1::AccusedUpdated& u) {
  const AccusedStatus from =
      suspect.status() == v1::ACCUSED_STATUS_UNSPECIFIED ? v1::ACCUSED_STATUS_SUSPECTED
                                                         : suspect.status();
  const AccusedMove* move = nullptr;
  for (const AccusedMove& m : kAccusedMoves) {
    if (m.from == from && m.step == u.step()) {
      move = &m;
    }
  }
  const std::string status = EnumName<v1::AccusedStatus>(from);
  if (move == nullptr) {
    std::string why;
    switch (u.step()) {
      case v1::ACCUSED_STEP_CONVICTED:
      case v1::ACCUSED_STEP_ACQUITTED:
        why = from == v1::ACCUSED_STATUS_CONVICTED || from == v1::ACCUSED_STATUS_ACQUITTED
                  ? "; a verdict was already recorded (an appeal changes it: APPEAL_FILED, then "
                    "APPEAL_DECIDED)"
                  : "; a verdict needs a charge first (CHARGED)";
        break;
      case v1::ACCUSED_STEP_APPEAL_FILED:
      case v1::ACCUSED_STEP_APPEAL_DECIDED:
        why = "; an appeal follows a verdict";
        break;
      default:
        break;
    }
    return Status::FailedPrecondition("suspect " + suspect.suspect_id() + " is " + status +
                                          ": cannot record " + StepWords(u.step()) + why,
                                      "accused_updated.step");
  }
  switch (u.step()) {
    case v1::ACCUSED_STEP_BAIL_GRANTED:
      if (suspect.on_bail()) {
        return Status::FailedPrecondition("suspect " + suspect.suspect_id() + " is already on bail",
                                          "accused_updated.step");
      }
      return from;
    case v1::ACCUSED_STEP_APPEAL_FILED:
      if (AppealPending(suspect)) {
        return Status::FailedPrecondition(
            "an appeal of suspect " + suspect.suspect_id() + " is pending already",
            "accused_updated.step");
      }
      return from;
    case v1::ACCUSED_STEP_APPEAL_DECIDED: {
      if (!AppealPending(suspect)) {
        return Status::FailedPrecondition(
            "no appeal of suspect " + suspect.suspect_id() + " is pending (APPEAL_FILED first)",
            "accused_updated.step");
      }
      const bool sentence = u.sentence_months() != 0 || u.fine_amount() != 0;
      switch (u.appeal_outcome()) {
        case v1::APPEAL_OUTCOME_UPHELD:
          if (sentence) {
            return Status::FailedPrecondition(
                "an upheld verdict keeps its sentence; record SENTENCE_CHANGED to change it",
                "accused_updated.sentence_months");
          }
          return from;
        case v1::APPEAL_OUTCOME_SENTENCE_CHANGED:
          if (from != v1::ACCUSED_STATUS_CONVICTED) {
            return Status::FailedPrecondition("an acquittal has no sentence to change",
                                              "accused_updated.appeal_outcome");
          }
          if (!sentence) {
            return Status::FailedPrecondition("give the new sentence (months and/or a fine)",
                                              "accused_updated.sentence_months");
          }
          return from;
        case v1::APPEAL_OUTCOME_OVERTURNED:
          if (from == v1::ACCUSED_STATUS_CONVICTED) {
            if (sentence) {
              return Status::FailedPrecondition("an overturned conviction is an acquittal, which "
                                                "carries no sentence",
                                                "accused_updated.sentence_months");
            }
            return v1::ACCUSED_STATUS_ACQUITTED;
          }
          if (!sentence) {
            return Status::FailedPrecondition(
                "an overturned acquittal is a conviction: give its sentence",
                "accused_updated.sentence_months");
          }
          return v1::ACCUSED_STATUS_CONVICTED;
        default:
          return Status::FailedPrecondition("the appeal's outcome is required",
                                            "accused_updated.appeal_outcome");
      }
    }
    default:
      return move->to;
  }
}

Status CheckCrimeEvent(const v1::CaseState& state, const Event& e, const AgencyDirectory& agencies) {
  const CrimePolicy& policy = agencies.crime_policy();
  switch (e.payload_case()) {
    case Event::kOffenceRegistered: {
      RETURN_IF_ERROR(RequireCrimeWriter(state, e, agencies, v1::DATA_SECTION_OFFENCE));
      const Offence& o = e.offence_registered().offence();
      const std::string p = "offence_registered.offence.";
      if (FindOffence(state, o.offence_id()) != nullptr) {
        return Status::FailedPrecondition("offence " + o.offence_id() + " is already recorded",
                                          p + "offence_id");
      }
      for (const Offence& other : state.offences()) {
        if (other.fir_number() == o.fir_number() && other.police_station() == o.police_station()) {
          return Status::FailedPrecondition("FIR " + o.fir_number() + " of " + o.police_station() +
                                                " is already recorded on this case as offence " +
                                                other.offence_id(),
                                            p + "fir_number");
        }
      }
      for (int i = 0; i < o.law_sections_size(); ++i) {
        RETURN_IF_ERROR(policy.CheckLawSection(o.law_sections(i), At(p + "law_sections", i)));
        // A smuggling section on a trafficking offence (or the other way round) would put the
        // offence in the wrong GLOTIP table: the offence is BOTH then.
        const v1::CrimeType section = policy.FindLawSection(o.law_sections(i))->crime_type();
        if (section != v1::CRIME_TYPE_BOTH && o.crime_type() != v1::CRIME_TYPE_BOTH &&
            section != o.crime_type()) {
          return Status::InvalidArgument(
              At(p + "law_sections", i),
              o.law_sections(i) + " is a " + EnumName<v1::CrimeType>(section) +
                  " section and the offence is " + EnumName<v1::CrimeType>(o.crime_type()) +
                  "; record the offence as BOTH if it is both");
        }
      }
      if (!o.investigating_agency().empty()) {
        const v1::Agency* a = agencies.Find(o.investigating_agency());
        if (a == nullptr) {
          return Status::FailedPrecondition(
              "agency " + Q(o.investigating_agency()) + " is not registered",
              p + "investigating_agency");
        }
        if (!policy.MayHold(*a, v1::DATA_SECTION_OFFENCE)) {
          return Status::FailedPrecondition(
              "agency " + Q(o.investigating_agency()) + " (" +
                  EnumName<v1::AgencyType>(a->type()) + ") does not investigate offences",
              p + "investigating_agency");
        }
      }
      if (!o.witness_referral_id().empty() &&
          FindReferral(state, o.witness_referral_id()) == nullptr) {
        return Status::FailedPrecondition(
            "referral " + o.witness_referral_id() + " is not in this case", p + "witness_referral_id");
      }
      return Status::Ok();
    }
    case Event::kOffenceStatusChanged: {
      RETURN_IF_ERROR(RequireCrimeWriter(state, e, agencies, v1::DATA_SECTION_OFFENCE));
      const v1::OffenceStatusChanged& c = e.offence_status_changed();
      const Offence* o = FindOffence(state, c.offence_id());
      if (o == nullptr) {
        return Status::FailedPrecondition("offence " + c.offence_id() + " is not in this case",
                                          "offence_status_changed.offence_id");
      }
      if (!c.witness_referral_id().empty() &&
          FindReferral(state, c.witness_referral_id()) == nullptr) {
        return Status::FailedPrecondition("referral " + c.witness_referral_id() +
                                              " is not in this case",
                                          "offence_status_changed.witness_referral_id");
      }
      if (c.to() == o->status() && !c.witness_referral_id().empty()) {
        return Status::Ok();  // only linking the victim-witness's referral
      }
      return NextOffenceStatus(o->status(), c.to()).status();
    }
    case Event::kSuspectRecorded: {
      RETURN_IF_ERROR(RequireCrimeWriter(state, e, agencies, v1::DATA_SECTION_SUSPECT));
      const Suspect& s = e.suspect_recorded().suspect();
      const std::string p = "suspect_recorded.suspect.";
      if (FindSuspect(state, s.suspect_id()) != nullptr) {
        return Status::FailedPrecondition("suspect " + s.suspect_id() + " is already recorded",
                                          p + "suspect_id");
      }
      const Offence* o = FindOffence(state, s.offence_id());
      if (o == nullptr) {
        return Status::FailedPrecondition(
            "offence " + s.offence_id() + " is not in this case; record the offence first",
            p + "offence_id");
      }
      if (s.has_identity()) {
        return CheckIdentityReaders(state, s.identity(), agencies, p + "identity.wrapped_keys");
      }
      return Status::Ok();
    }
    case Event::kSuspectIdentityResealed: {
      RETURN_IF_ERROR(RequireCrimeWriter(state, e, agencies, v1::DATA_SECTION_SUSPECT));
      const v1::SuspectIdentityResealed& r = e.suspect_identity_resealed();
      const Suspect* s = FindSuspect(state, r.suspect_id());
      if (s == nullptr || !s->has_identity()) {
        return Status::FailedPrecondition("suspect " + r.suspect_id() +
                                              " has no sealed identity in this case",
                                          "suspect_identity_resealed.suspect_id");
      }
      if (s->recorded_by() != e.actor_agency()) {
        return Status::PermissionDenied("only the agency that recorded suspect " + s->suspect_id() +
                                            " (" + s->recorded_by() + ") re-seals its identity",
                                        "actor_agency");
      }
      if (r.identity().nonce() != s->identity().nonce() ||
          r.identity().ciphertext() != s->identity().ciphertext()) {
        return Status::InvalidArgument("suspect_identity_resealed.identity",
                                       "a re-seal changes the wrapped keys only, never the sealed "
                                       "identity");
      }
      return CheckIdentityReaders(state, r.identity(), agencies,
                                  "suspect_identity_resealed.identity.wrapped_keys");
    }
    case Event::kAccusedUpdated: {
      RETURN_IF_ERROR(RequireCrimeWriter(state, e, agencies, v1::DATA_SECTION_SUSPECT));
      const v1::AccusedUpdated& u = e.accused_updated();
      const Suspect* s = FindSuspect(state, u.suspect_id());
      if (s == nullptr) {
        return Status::FailedPrecondition("suspect " + u.suspect_id() + " is not in this case",
                                          "accused_updated.suspect_id");
      }
      for (int i = 0; i < u.charged_sections_size(); ++i) {
        RETURN_IF_ERROR(
            policy.CheckLawSection(u.charged_sections(i), At("accused_updated.charged_sections", i)));
      }
      const Offence* o = FindOffence(state, s->offence_id());
      if (o != nullptr && o->status() == v1::OFFENCE_STATUS_CLOSED &&
          o->closure() != v1::OFFENCE_CLOSURE_DECIDED_BY_COURT &&
          u.step() != v1::ACCUSED_STEP_DISCHARGED) {
        return Status::FailedPrecondition(
            "offence " + o->offence_id() + " (FIR " + o->fir_number() + ") was closed as " +
                EnumName<v1::OffenceClosure>(o->closure()) +
                "; reopen it (UNDER_INVESTIGATION) before recording more for its accused",
            "accused_updated.step");
      }
      return NextAccusedStatus(*s, u).status();
    }
    case Event::kSmugglingRecorded:
      if (FindAccess(state, e.actor_agency()) == nullptr) {
        return Status::PermissionDenied("agency " + Q(e.actor_agency()) +
                                            " has no access to this case",
                                        "actor_agency");
      }
      return Status::Ok();
    default:
      return Status::InvalidArgument("payload", "not a crime-side event");
  }
}

void ApplyCrimeEvent(v1::CaseState* state, const v1::Envelope& env, const Event& e) {
  const int64_t at = e.occurred_at_ms();
  const std::string& actor = e.actor_agency();
  (void)env;
  switch (e.payload_case()) {
    case Event::kOffenceRegistered: {
      const Offence& given = e.offence_registered().offence();
      if (FindOffence(*state, given.offence_id()) != nullptr) {
        break;
      }
      Offence* o = state->add_offences();
      *o = given;
      o->set_status(v1::OFFENCE_STATUS_REGISTERED);
      o->set_closure(v1::OFFENCE_CLOSURE_UNSPECIFIED);
      o->set_recorded_by(actor);
      o->clear_history();
      if (o->investigating_agency().empty()) {
        o->set_investigating_agency(actor);
      }
      if (auto p = NormalizeSubdivision(o->province(), ""); p.ok()) {
        o->set_province(*p);
      }
      auto* h = o->add_history();
      h->set_to(v1::OFFENCE_STATUS_REGISTERED);
      h->set_at_ms(at);
      h->set_by_agency(actor);
      break;
    }
    case Event::kOffenceStatusChanged: {
      const v1::OffenceStatusChanged& c = e.offence_status_changed();
      Offence* o = FindMutableOffence(state, c.offence_id());
      if (o == nullptr) {
        break;
      }
      if (!c.witness_referral_id().empty()) {
        o->set_witness_referral_id(c.witness_referral_id());
      }
      if (c.to() == o->status()) {
        break;
      }
      o->set_status(c.to());
      o->set_closure(c.closure());
      auto* h = o->add_history();
      h->set_to(c.to());
      h->set_closure(c.closure());
      h->set_at_ms(at);
      h->set_by_agency(actor);
      break;
    }
    case Event::kSuspectRecorded: {
      const Suspect& given = e.suspect_recorded().suspect();
      if (FindSuspect(*state, given.suspect_id()) != nullptr) {
        break;
      }
      Suspect* s = state->add_suspects();
      *s = given;
      for (auto& c : *s->mutable_citizenship()) {
        c = Alpha2(c);
      }
      if (s->majority() == v1::MAJORITY_STATUS_UNSPECIFIED) {
        s->set_majority(MajorityForAgeBand(s->age_band()));
      }
      s->set_status(v1::ACCUSED_STATUS_SUSPECTED);
      s->set_recorded_by(actor);
      s->set_recorded_at_ms(at);
      break;
    }
    case Event::kAccusedUpdated: {
      const v1::AccusedUpdated& u = e.accused_updated();
      Suspect* s = FindMutableSuspect(state, u.suspect_id());
      if (s == nullptr) {
        break;
      }
      auto next = NextAccusedStatus(*s, u);
      if (!next.ok()) {
        break;
      }
      s->set_status(*next);
      if (*next == v1::ACCUSED_STATUS_CONVICTED || *next == v1::ACCUSED_STATUS_ACQUITTED ||
          *next == v1::ACCUSED_STATUS_DISCHARGED) {
        s->set_on_bail(false);  // bail ends with the verdict or the discharge
      }
      switch (u.step()) {
        case v1::ACCUSED_STEP_BAIL_GRANTED:
          s->set_on_bail(true);
          break;
        case v1::ACCUSED_STEP_CHARGED:
          *s->mutable_charged_sections() = u.charged_sections();
          break;
        case v1::ACCUSED_STEP_APPEAL_FILED:
          s->set_appealed(true);
          s->set_appeal_outcome(v1::APPEAL_OUTCOME_UNSPECIFIED);
          break;
        case v1::ACCUSED_STEP_APPEAL_DECIDED:
          s->set_appeal_outcome(u.appeal_outcome());
          break;
        default:
          break;
      }
      if (*next == v1::ACCUSED_STATUS_CONVICTED &&
          (u.sentence_months() != 0 || u.fine_amount() != 0)) {
        s->set_sentence_months(u.sentence_months());
        s->set_fine_amount(u.fine_amount());
        s->set_fine_currency(u.fine_currency());
      } else if (*next != v1::ACCUSED_STATUS_CONVICTED) {
        s->set_sentence_months(0);
        s->set_fine_amount(0);
        s->clear_fine_currency();
      }
      auto* h = s->add_history();
      h->set_step(u.step());
      h->set_at_ms(at);
      h->set_by_agency(actor);
      h->set_on_date(u.on_date());
      break;
    }
    case Event::kSuspectIdentityResealed: {
      const v1::SuspectIdentityResealed& r = e.suspect_identity_resealed();
      Suspect* s = FindMutableSuspect(state, r.suspect_id());
      if (s != nullptr && s->has_identity() && s->identity().nonce() == r.identity().nonce()) {
        *s->mutable_identity() = r.identity();
      }
      break;
    }
    case Event::kSmugglingRecorded: {
      v1::SmugglingDetails* d = state->mutable_smuggling();
      *d = e.smuggling_recorded().details();
      d->set_origin_country(Alpha2(d->origin_country()));
      d->set_destination_country(Alpha2(d->destination_country()));
      for (auto& c : *d->mutable_transit_countries()) {
        c = Alpha2(c);
      }
      if (auto p = NormalizeSubdivision(d->interception_province(), "");
          p.ok() && !d->interception_province().empty()) {
        d->set_interception_province(*p);
      }
      d->set_recorded_at_ms(at);
      d->set_recorded_by(actor);
      break;
    }
    default:
      break;
  }
}

const Offence* FindOffence(const v1::CaseState& state, std::string_view id) {
  for (const Offence& o : state.offences()) {
    if (o.offence_id() == id) return &o;
  }
  return nullptr;
}

const Suspect* FindSuspect(const v1::CaseState& state, std::string_view id) {
  for (const Suspect& s : state.suspects()) {
    if (s.suspect_id() == id) return &s;
  }
  return nullptr;
}

std::string AccusedRecordDate(const v1::AccusedRecord& record) {
  return !record.on_date().empty() ? record.on_date() : Format(record.at_ms());
}

const v1::AccusedRecord* LastStep(const Suspect& suspect, AccusedStep step) {
  for (int i = suspect.history_size() - 1; i >= 0; --i) {
    if (suspect.history(i).step() == step) return &suspect.history(i);
  }
  return nullptr;
}

}  // namespace passage::core
