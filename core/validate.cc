#include "core/validate.h"

#include "core/notes.h"
#include "core/case_work.h"
#include "core/offences.h"

#include <google/protobuf/generated_enum_reflection.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "core/case_reference.h"
#include "core/codes.h"

namespace passage::core {
namespace {

using google::protobuf::RepeatedField;
using google::protobuf::RepeatedPtrField;
using passage::v1::Event;
using passage::v1::Profile;

constexpr size_t kMaxShortText = 128;  // codes, rule names, references, user ids
constexpr size_t kMaxNoteText = 500;   // notes, outcomes, override reasons
constexpr size_t kMaxGenderIdentity = 32;

std::string Join(std::string_view prefix, std::string_view name) {
  std::string out(prefix);
  if (!out.empty()) {
    out += '.';
  }
  out += name;
  return out;
}

std::string At(std::string_view field, int index) {
  std::string out(field);
  out += '[';
  out += std::to_string(index);
  out += ']';
  return out;
}

std::string Quoted(std::string_view s) {
  std::string out = "'";
  out += s;
  out += "'";
  return out;
}

Status Invalid(std::string field, std::string reason) {
  return Status::InvalidArgument(std::move(field), std::move(reason));
}

bool IsBlank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

enum class Need { kOptional, kRequired };

// Checks one enum value with its generated E_IsValid: an unknown number is refused naming the
// field; UNSPECIFIED (0) is refused when a value is required.
template <typename E>
Status CheckEnum(int value, bool (*is_valid)(int), const std::string& field, Need need) {
  const google::protobuf::EnumDescriptor* type = google::protobuf::GetEnumDescriptor<E>();
  if (!is_valid(value)) {
    return Invalid(field, std::to_string(value) + " is not a known " + type->name() + " value");
  }
  if (need == Need::kRequired && value == 0) {
    return Invalid(field, "must be set (" + type->value(0)->name() + " means not recorded)");
  }
  return Status::Ok();
}

// Every element known, none UNSPECIFIED, none listed twice.
template <typename E>
Status CheckEnumList(const RepeatedField<int>& values, bool (*is_valid)(int),
                     const std::string& field) {
  std::set<int> seen;
  for (int i = 0; i < values.size(); ++i) {
    RETURN_IF_ERROR(CheckEnum<E>(values.Get(i), is_valid, At(field, i), Need::kRequired));
    if (!seen.insert(values.Get(i)).second) {
      return Invalid(At(field, i),
                     ShortEnumName(google::protobuf::GetEnumDescriptor<E>(), values.Get(i)) +
                         " is listed twice");
    }
  }
  return Status::Ok();
}

Status CheckLength(std::string_view text, size_t max, const std::string& field) {
  if (text.size() > max) {
    return Invalid(field, "is " + std::to_string(text.size()) + " bytes long; at most " +
                              std::to_string(max) + " are allowed");
  }
  return Status::Ok();
}

Status CheckOptionalUuid(std::string_view text, const std::string& field) {
  if (text.empty()) {
    return Status::Ok();
  }
  return ValidateUuid(text, field);
}

Status CheckOptionalAgencyId(std::string_view id, const std::string& field) {
  if (id.empty()) {
    return Status::Ok();
  }
  return ValidateAgencyId(id, field);
}

// `ms` must lie in [earliest, now_ms + kMaxClockSkewMs].
Status CheckTime(int64_t ms, int64_t earliest, int64_t now_ms, const std::string& field) {
  if (ms < earliest) {
    return Invalid(field, std::to_string(ms) + " (" + FormatUtcMs(ms) + ") is before " +
                              FormatUtcMs(earliest).substr(0, 10) + ", an impossible date");
  }
  if (now_ms <= INT64_MAX - kMaxClockSkewMs && ms > now_ms + kMaxClockSkewMs) {
    return Invalid(field, std::to_string(ms) + " (" + FormatUtcMs(ms) +
                              ") is more than 24 hours in the future (now is " +
                              FormatUtcMs(now_ms) + ")");
  }
  return Status::Ok();
}

// A code: letters, digits, '-', '_'.
bool IsCodeText(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

// Validates `p`; when `out` is not null, writes the normal form there (countries alpha-2 upper
// case, subdivisions upper case, band and majority derived from the age where unspecified).
// The checks below build a field name (prefix.name[i]) only when they refuse: profiles are
// validated for every event the broker accepts.
template <typename E>
Status CheckOptionalEnumField(int value, bool (*is_valid)(int), std::string_view prefix,
                              std::string_view name) {
  if (is_valid(value)) {
    return Status::Ok();
  }
  return CheckEnum<E>(value, is_valid, Join(prefix, name), Need::kOptional);
}

template <typename E>
Status CheckEnumListField(const RepeatedField<int>& values, bool (*is_valid)(int),
                          std::string_view prefix, std::string_view name) {
  // Fast path: every element known, none UNSPECIFIED, none twice (lists hold a handful).
  bool fine = true;
  for (int i = 0; i < values.size() && fine; ++i) {
    const int v = values.Get(i);
    fine = v != 0 && is_valid(v);
    for (int j = 0; j < i && fine; ++j) {
      fine = values.Get(j) != v;
    }
  }
  if (fine) {
    return Status::Ok();
  }
  return CheckEnumList<E>(values, is_valid, Join(prefix, name));
}

Result<std::string> NormalizeCountryField(std::string_view code, std::string_view prefix,
                                          std::string_view name, int index = -1) {
  auto r = NormalizeCountry(code, name);
  if (r.ok()) {
    return r;
  }
  const std::string field = index < 0 ? Join(prefix, name) : At(Join(prefix, name), index);
  return NormalizeCountry(code, field);
}

Status CheckProfile(const Profile& p, std::string_view prefix, Profile* out) {
  RETURN_IF_ERROR(
      CheckOptionalEnumField<passage::v1::Sex>(p.sex(), passage::v1::Sex_IsValid, prefix, "sex"));
  if (p.gender_identity().size() > kMaxGenderIdentity || !IsCodeText(p.gender_identity())) {
    return Invalid(Join(prefix, "gender_identity"),
                   "holds a category code (up to 32 of A-Z, a-z, 0-9, '-', '_'), not free text");
  }
  RETURN_IF_ERROR(CheckOptionalEnumField<passage::v1::AgeBand>(
      p.age_band(), passage::v1::AgeBand_IsValid, prefix, "age_band"));
  RETURN_IF_ERROR(CheckOptionalEnumField<passage::v1::MajorityStatus>(
      p.majority_at_identification(), passage::v1::MajorityStatus_IsValid, prefix,
      "majority_at_identification"));
  RETURN_IF_ERROR(CheckOptionalEnumField<passage::v1::MajorityStatus>(
      p.majority_at_exploitation(), passage::v1::MajorityStatus_IsValid, prefix,
      "majority_at_exploitation"));

  // Derived values, written to `out` at the end.
  passage::v1::AgeBand band = p.age_band();
  passage::v1::MajorityStatus majority_at_identification = p.majority_at_identification();
  if (p.has_age_years()) {
    const uint32_t age = p.age_years();
    if (age > kMaxAgeYears) {
      return Invalid(Join(prefix, "age_years"),
                     "age " + std::to_string(age) + " is above " + std::to_string(kMaxAgeYears));
    }
    const passage::v1::AgeBand expected = AgeBandForAge(age);
    if (p.age_band() != passage::v1::AGE_BAND_UNSPECIFIED && p.age_band() != expected) {
      return Invalid(Join(prefix, "age_band"),
                     "age band " + std::string(AgeBandCtdcText(p.age_band())) +
                         " does not match age_years " + std::to_string(age) + " (expected " +
                         std::string(AgeBandCtdcText(expected)) + ")");
    }
    const passage::v1::MajorityStatus majority = MajorityForAge(age);
    if (p.majority_at_identification() != passage::v1::MAJORITY_STATUS_UNSPECIFIED &&
        p.majority_at_identification() != majority) {
      return Invalid(
          Join(prefix, "majority_at_identification"),
          ShortEnumName(passage::v1::MajorityStatus_descriptor(), p.majority_at_identification()) +
              " does not match age_years " + std::to_string(age));
    }
    band = expected;
    majority_at_identification = majority;
  } else if (p.age_band() != passage::v1::AGE_BAND_UNSPECIFIED) {
    const passage::v1::MajorityStatus majority = MajorityForAgeBand(p.age_band());
    if (p.majority_at_identification() != passage::v1::MAJORITY_STATUS_UNSPECIFIED &&
        p.majority_at_identification() != majority) {
      return Invalid(
          Join(prefix, "majority_at_identification"),
          ShortEnumName(passage::v1::MajorityStatus_descriptor(), p.majority_at_identification()) +
              " does not match age band " + std::string(AgeBandCtdcText(p.age_band())));
    }
    majority_at_identification = majority;
  }
  if (majority_at_identification == passage::v1::MAJORITY_STATUS_MINOR &&
      p.majority_at_exploitation() == passage::v1::MAJORITY_STATUS_ADULT) {
    return Invalid(Join(prefix, "majority_at_exploitation"),
                   "a person who is a minor at identification was a minor at exploitation too");
  }

  std::vector<std::string> citizenship;
  citizenship.reserve(static_cast<size_t>(p.citizenship_size()));
  for (int i = 0; i < p.citizenship_size(); ++i) {
    ASSIGN_OR_RETURN(std::string code, NormalizeCountryField(p.citizenship(i), prefix, "citizenship", i));
    for (const std::string& earlier : citizenship) {
      if (earlier == code) {
        return Invalid(At(Join(prefix, "citizenship"), i), Quoted(code) + " is listed twice");
      }
    }
    citizenship.push_back(std::move(code));
  }

  struct Place {
    const char* country_field;
    const char* province_field;
    const std::string& country;
    const std::string& province;
    std::string country_out;
    std::string province_out;
  };
  Place places[] = {
      {"country_of_identification", "province_of_identification", p.country_of_identification(),
       p.province_of_identification(), {}, {}},
      {"country_of_exploitation", "province_of_exploitation", p.country_of_exploitation(),
       p.province_of_exploitation(), {}, {}},
  };
  for (Place& place : places) {
    if (!place.country.empty()) {
      ASSIGN_OR_RETURN(place.country_out,
                       NormalizeCountryField(place.country, prefix, place.country_field));
    }
    if (!place.province.empty()) {
      auto province = NormalizeSubdivision(place.province, place.province_field);
      if (!province.ok()) {
        return NormalizeSubdivision(place.province, Join(prefix, place.province_field)).status();
      }
      place.province_out = std::move(*province);
      if (!place.country_out.empty() && place.province_out.substr(0, 2) != place.country_out) {
        return Invalid(Join(prefix, place.province_field),
                       Quoted(place.province_out) + " is not a subdivision of " +
                           place.country_field + " " + Quoted(place.country_out));
      }
    }
  }

  RETURN_IF_ERROR(CheckEnumListField<passage::v1::ExploitationForm>(
      p.exploitation_forms(), passage::v1::ExploitationForm_IsValid, prefix, "exploitation_forms"));
  RETURN_IF_ERROR(CheckEnumListField<passage::v1::LabourSector>(
      p.labour_sectors(), passage::v1::LabourSector_IsValid, prefix, "labour_sectors"));
  RETURN_IF_ERROR(CheckEnumListField<passage::v1::SexualExploitationType>(
      p.sexual_exploitation_types(), passage::v1::SexualExploitationType_IsValid, prefix,
      "sexual_exploitation_types"));
  RETURN_IF_ERROR(CheckEnumListField<passage::v1::MeansOfControl>(
      p.means_of_control(), passage::v1::MeansOfControl_IsValid, prefix, "means_of_control"));
  RETURN_IF_ERROR(CheckEnumListField<passage::v1::RecruiterRelation>(
      p.recruiter_relations(), passage::v1::RecruiterRelation_IsValid, prefix,
      "recruiter_relations"));
  RETURN_IF_ERROR(CheckOptionalEnumField<passage::v1::IdentificationChannel>(
      p.identification_channel(), passage::v1::IdentificationChannel_IsValid, prefix,
      "identification_channel"));

  const int32_t year = p.year_of_registration();
  if (year != 0 && (year < kMinYearOfRegistration || year > kMaxYearOfRegistration)) {
    return Invalid(Join(prefix, "year_of_registration"),
                   std::to_string(year) + " is not a plausible year (0 or 1990 to 2100)");
  }
  if (year != 0 && p.year_of_registration_unknown()) {
    return Invalid(Join(prefix, "year_of_registration_unknown"),
                   "the year is given (" + std::to_string(year) + "), so it is not unknown");
  }
  if (out != nullptr) {
    Profile n = p;
    n.set_age_band(band);
    n.set_majority_at_identification(majority_at_identification);
    n.clear_citizenship();
    for (std::string& code : citizenship) {
      n.add_citizenship(std::move(code));
    }
    for (int i = 0; i < 2; ++i) {
      Place& place = places[i];
      std::string* country = i == 0 ? n.mutable_country_of_identification()
                                    : n.mutable_country_of_exploitation();
      std::string* province = i == 0 ? n.mutable_province_of_identification()
                                     : n.mutable_province_of_exploitation();
      if (!place.country.empty()) {
        *country = std::move(place.country_out);
      }
      if (!place.province.empty()) {
        *province = std::move(place.province_out);
      }
    }
    *out = std::move(n);
  }
  return Status::Ok();
}

}  // namespace

Status ValidateSealed(const passage::v1::SealedPersonalData& s, std::string_view prefix) {
  if (s.scheme() > 1) {
    return Invalid(Join(prefix, "scheme"),
                   "sealing scheme " + std::to_string(s.scheme()) + " is not known (only 1)");
  }
  if (s.scheme() == 0) {
    if (!s.ciphertext().empty() || !s.nonce().empty() || s.wrapped_keys_size() > 0) {
      return Invalid(Join(prefix, "scheme"), "sealed data needs its scheme (1)");
    }
  } else {
    if (s.nonce().size() != 24) {
      return Invalid(Join(prefix, "nonce"), "scheme 1 needs a 24-byte nonce, got " +
                                                std::to_string(s.nonce().size()) + " bytes");
    }
    if (s.ciphertext().empty()) {
      return Invalid(Join(prefix, "ciphertext"), "sealed data has no ciphertext");
    }
  }
  const std::string keys = Join(prefix, "wrapped_keys");
  for (int i = 0; i < s.wrapped_keys_size(); ++i) {
    const passage::v1::WrappedKey& k = s.wrapped_keys(i);
    RETURN_IF_ERROR(ValidateAgencyId(k.agency_id(), Join(At(keys, i), "agency_id")));
    if (k.sealed_key().empty()) {
      return Invalid(Join(At(keys, i), "sealed_key"), "the wrapped key is empty");
    }
  }
  return Status::Ok();
}

namespace {

Status CheckTransitionPayload(const passage::v1::ReferralTransition& t) {
  RETURN_IF_ERROR(ValidateUuid(t.referral_id(), "referral_transition.referral_id"));
  RETURN_IF_ERROR(CheckEnum<passage::v1::ReferralStatus>(
      t.to(), passage::v1::ReferralStatus_IsValid, "referral_transition.to", Need::kRequired));
  if (t.to() == passage::v1::REFERRAL_STATUS_SENT) {
    return Invalid("referral_transition.to",
                   "SENT is not a transition; a referral is sent with ReferralSent");
  }
  RETURN_IF_ERROR(
      CheckEnum<passage::v1::RejectReason>(t.reason(), passage::v1::RejectReason_IsValid,
                                           "referral_transition.reason", Need::kOptional));
  if (t.to() == passage::v1::REFERRAL_STATUS_REJECTED &&
      t.reason() == passage::v1::REJECT_REASON_UNSPECIFIED) {
    return Invalid("referral_transition.reason", "REJECTED needs a reason");
  }
  if ((t.to() == passage::v1::REFERRAL_STATUS_COMPLETED ||
       t.to() == passage::v1::REFERRAL_STATUS_FAILED) &&
      IsBlank(t.outcome())) {
    return Invalid("referral_transition.outcome", ReferralStatusName(t.to()) + " needs an outcome");
  }
  if (t.consent_withdrawn() && t.to() != passage::v1::REFERRAL_STATUS_CANCELLED) {
    return Invalid("referral_transition.consent_withdrawn",
                   "a consent withdrawal can only cancel a referral (to CANCELLED)");
  }
  RETURN_IF_ERROR(CheckLength(t.note(), kMaxNoteText, "referral_transition.note"));
  RETURN_IF_ERROR(CheckLength(t.outcome(), kMaxNoteText, "referral_transition.outcome"));
  return Status::Ok();
}

Status CheckPayload(const Event& e, int64_t now_ms) {
  switch (e.payload_case()) {
    case Event::kPersonalKeysEscrowed: {
      const passage::v1::PersonalKeysEscrowed& p = e.personal_keys_escrowed();
      constexpr size_t kNonceBytes = 24;       // XChaCha20-Poly1305
      constexpr size_t kWrappedKeyBytes = 80;  // a 32-byte key in a sealed box (+48)
      if (p.seal_nonce().size() != kNonceBytes) {
        return Invalid("personal_keys_escrowed.seal_nonce",
                       "must be the 24-byte nonce of the seal the keys open");
      }
      if (p.keys_size() == 0 || p.keys_size() > 1000) {
        return Invalid("personal_keys_escrowed.keys", "give 1 to 1000 wrapped keys");
      }
      for (int i = 0; i < p.keys_size(); ++i) {
        const std::string f = "personal_keys_escrowed.keys[" + std::to_string(i) + "]";
        if (p.keys(i).agency_id().empty()) {
          return Invalid(f + ".agency_id", "name the agency the key is wrapped for");
        }
        RETURN_IF_ERROR(CheckLength(p.keys(i).agency_id(), kMaxShortText, f + ".agency_id"));
        if (p.keys(i).sealed_key().size() != kWrappedKeyBytes) {
          return Invalid(f + ".sealed_key", "must be an 80-byte sealed box of a 32-byte key");
        }
      }
      return Status::Ok();
    }
    case Event::kCaseOpened: {
      const passage::v1::CaseOpened& p = e.case_opened();
      RETURN_IF_ERROR(CheckEnum<passage::v1::CrimeType>(p.crime_type(),
                                                        passage::v1::CrimeType_IsValid,
                                                        "case_opened.crime_type", Need::kRequired));
      RETURN_IF_ERROR(
          CheckEnum<passage::v1::PersonRole>(p.person_role(), passage::v1::PersonRole_IsValid,
                                             "case_opened.person_role", Need::kRequired));
      RETURN_IF_ERROR(ValidateProfile(p.profile(), "case_opened.profile"));
      if (!p.reference().empty()) {
        auto canonical = ParseCaseReference(p.reference(), "case_opened.reference");
        RETURN_IF_ERROR(canonical.status());
        if (*canonical != p.reference()) {
          return Invalid("case_opened.reference",
                         Quoted(p.reference()) + " is not written in its canonical form " +
                             Quoted(*canonical));
        }
      }
      return ValidateSealed(p.personal(), "case_opened.personal");
    }
    case Event::kIdentificationRecorded: {
      const passage::v1::IdentificationRecorded& p = e.identification_recorded();
      RETURN_IF_ERROR(CheckEnum<passage::v1::TraffickingStatus>(
          p.trafficking_status(), passage::v1::TraffickingStatus_IsValid,
          "identification_recorded.trafficking_status", Need::kRequired));
      RETURN_IF_ERROR(
          CheckEnum<passage::v1::CrimeType>(p.crime_type(), passage::v1::CrimeType_IsValid,
                                            "identification_recorded.crime_type", Need::kOptional));
      RETURN_IF_ERROR(CheckEnum<passage::v1::PersonRole>(
          p.person_role(), passage::v1::PersonRole_IsValid, "identification_recorded.person_role",
          Need::kOptional));
      RETURN_IF_ERROR(CheckEnum<passage::v1::IdentificationChannel>(
          p.channel(), passage::v1::IdentificationChannel_IsValid,
          "identification_recorded.channel", Need::kOptional));
      return CheckLength(p.screening_tool(), kMaxShortText,
                         "identification_recorded.screening_tool");
    }
    case Event::kProfileUpdated: {
      const passage::v1::ProfileUpdated& p = e.profile_updated();
      if (!p.has_profile()) {
        return Invalid("profile_updated.profile", "the corrected profile is missing");
      }
      RETURN_IF_ERROR(ValidateProfile(p.profile(), "profile_updated.profile"));
      return ValidateSealed(p.personal(), "profile_updated.personal");
    }
    case Event::kConsentGiven: {
      if (!e.consent_given().has_consent()) {
        return Invalid("consent_given.consent", "the consent is missing");
      }
      return ValidateConsent(e.consent_given().consent(), "consent_given.consent", now_ms);
    }
    case Event::kConsentWithdrawn: {
      const passage::v1::ConsentWithdrawn& p = e.consent_withdrawn();
      RETURN_IF_ERROR(ValidateUuid(p.consent_id(), "consent_withdrawn.consent_id"));
      return CheckEnum<passage::v1::ConsentScope>(p.scope(), passage::v1::ConsentScope_IsValid,
                                                  "consent_withdrawn.scope", Need::kOptional);
    }
    case Event::kReferralSent: {
      if (!e.referral_sent().has_referral()) {
        return Invalid("referral_sent.referral", "the referral is missing");
      }
      const passage::v1::Referral& r = e.referral_sent().referral();
      RETURN_IF_ERROR(
          ValidateReferralToSend(r, "referral_sent.referral", e.case_id(), e.occurred_at_ms()));
      if (r.from_agency().empty() && r.to_agency() == e.actor_agency()) {
        return Invalid("referral_sent.referral.to_agency",
                       "an agency cannot refer a case to itself");
      }
      return Status::Ok();
    }
    case Event::kReferralTransition:
      return CheckTransitionPayload(e.referral_transition());
    case Event::kServiceDelivered: {
      const passage::v1::ServiceDelivered& p = e.service_delivered();
      RETURN_IF_ERROR(CheckOptionalUuid(p.referral_id(), "service_delivered.referral_id"));
      return CheckEnum<passage::v1::ServiceType>(p.service(), passage::v1::ServiceType_IsValid,
                                                 "service_delivered.service", Need::kRequired);
    }
    case Event::kCriminalProceedingUpdated: {
      const passage::v1::CriminalProceedingUpdated& p = e.criminal_proceeding_updated();
      if (!p.has_proceeding()) {
        return Invalid("criminal_proceeding_updated.proceeding", "the proceeding is missing");
      }
      const passage::v1::CriminalProceeding& c = p.proceeding();
      RETURN_IF_ERROR(CheckEnum<passage::v1::ProceedingMilestone>(
          c.milestone(), passage::v1::ProceedingMilestone_IsValid,
          "criminal_proceeding_updated.proceeding.milestone", Need::kRequired));
      if (c.at_ms() != 0) {
        RETURN_IF_ERROR(CheckTime(c.at_ms(), kEarliestFactMs, now_ms,
                                  "criminal_proceeding_updated.proceeding.at_ms"));
      }
      RETURN_IF_ERROR(
          CheckOptionalAgencyId(c.agency_id(), "criminal_proceeding_updated.proceeding.agency_id"));
      return CheckLength(c.reference(), kMaxShortText,
                         "criminal_proceeding_updated.proceeding.reference");
    }
    case Event::kReturnRecorded: {
      const passage::v1::ReturnRecorded& p = e.return_recorded();
      ASSIGN_OR_RETURN(std::string country,
                       NormalizeCountry(p.country(), "return_recorded.country"));
      (void)country;
      return CheckOptionalUuid(p.referral_id(), "return_recorded.referral_id");
    }
    case Event::kCaseClosed:
      return CheckLength(e.case_closed().reason(), kMaxShortText, "case_closed.reason");
    case Event::kRecordAccessed: {
      const passage::v1::RecordAccessed& p = e.record_accessed();
      if (p.sections_size() == 0) {
        return Invalid("record_accessed.sections", "name at least one section that was read");
      }
      RETURN_IF_ERROR(CheckEnumList<passage::v1::DataSection>(
          p.sections(), passage::v1::DataSection_IsValid, "record_accessed.sections"));
      RETURN_IF_ERROR(CheckLength(p.purpose(), kMaxShortText, "record_accessed.purpose"));
      if (p.refused() && p.refusal_reason().empty()) {
        return Invalid("record_accessed.refusal_reason", "a refused attempt says why it was refused");
      }
      if (!p.refused() && !p.refusal_reason().empty()) {
        return Invalid("record_accessed.refusal_reason", "only a refused attempt has a refusal reason");
      }
      RETURN_IF_ERROR(
          CheckLength(p.refusal_reason(), kMaxShortText, "record_accessed.refusal_reason"));
      return CheckLength(p.actor_user(), kMaxShortText, "record_accessed.actor_user");
    }
    case Event::kAgencyRegistered: {
      if (!e.agency_registered().has_agency()) {
        return Invalid("agency_registered.agency", "the agency is missing");
      }
      return ValidateAgency(e.agency_registered().agency(), "agency_registered.agency");
    }
    case Event::kKeyRotated: {
      const passage::v1::KeyRotated& p = e.key_rotated();
      RETURN_IF_ERROR(ValidateAgencyId(p.agency_id(), "key_rotated.agency_id"));
      if (p.transport_public_key().empty() && p.sealing_public_key().empty()) {
        return Invalid("key_rotated", "name at least one new public key");
      }
      RETURN_IF_ERROR(
          CheckLength(p.transport_public_key(), kMaxShortText, "key_rotated.transport_public_key"));
      return CheckLength(p.sealing_public_key(), kMaxShortText, "key_rotated.sealing_public_key");
    }
    case Event::kAgencyRevoked: {
      const passage::v1::AgencyRevoked& p = e.agency_revoked();
      RETURN_IF_ERROR(ValidateAgencyId(p.agency_id(), "agency_revoked.agency_id"));
      if (IsBlank(p.reason())) {
        return Invalid("agency_revoked.reason", "a revocation says why");
      }
      return CheckLength(p.reason(), kMaxShortText, "agency_revoked.reason");
    }
    case Event::kOffenceRegistered:
    case Event::kOffenceStatusChanged:
    case Event::kSuspectRecorded:
    case Event::kAccusedUpdated:
    case Event::kSmugglingRecorded:
    case Event::kSuspectIdentityResealed:
      return ValidateCrimePayload(e, now_ms);
    case Event::kNoteAdded:
    case Event::kDocumentAttached:
    case Event::kNoteResealed:
      return ValidateNotePayload(e);
    case Event::kFieldCorrected:
    case Event::kServicePlanned:
    case Event::kServicePlanItemUpdated:
    case Event::kFollowUpScheduled:
    case Event::kFollowUpDone:
      return ValidateCaseWorkPayload(e, now_ms);
    case Event::PAYLOAD_NOT_SET:
      break;
  }
  return Invalid("payload", "the event has no payload (or one this version does not know)");
}

}  // namespace

bool IsConfigurationEvent(const Event& e) {
  return e.payload_case() == Event::kAgencyRegistered || e.payload_case() == Event::kKeyRotated ||
         e.payload_case() == Event::kAgencyRevoked;
}

Status ValidateProfile(const Profile& p, std::string_view prefix) {
  return CheckProfile(p, prefix, nullptr);
}

Status NormalizeProfile(Profile* p, std::string_view prefix) {
  Profile normalized;
  RETURN_IF_ERROR(CheckProfile(*p, prefix, &normalized));
  *p = std::move(normalized);
  return Status::Ok();
}

Status NormalizeEvent(Event* e) {
  switch (e->payload_case()) {
    case Event::kCaseOpened:
      return NormalizeProfile(e->mutable_case_opened()->mutable_profile(), "case_opened.profile");
    case Event::kProfileUpdated:
      return NormalizeProfile(e->mutable_profile_updated()->mutable_profile(),
                              "profile_updated.profile");
    case Event::kReturnRecorded: {
      ASSIGN_OR_RETURN(std::string country,
                       NormalizeCountry(e->return_recorded().country(), "return_recorded.country"));
      e->mutable_return_recorded()->set_country(std::move(country));
      return Status::Ok();
    }
    default:
      return Status::Ok();
  }
}

Status ValidateConsent(const passage::v1::Consent& c, std::string_view prefix, int64_t now_ms) {
  RETURN_IF_ERROR(ValidateUuid(c.consent_id(), Join(prefix, "consent_id")));
  RETURN_IF_ERROR(CheckEnum<passage::v1::ConsentScope>(c.scope(), passage::v1::ConsentScope_IsValid,
                                                       Join(prefix, "scope"), Need::kRequired));
  RETURN_IF_ERROR(CheckEnum<passage::v1::ConsentGiver>(
      c.given_by(), passage::v1::ConsentGiver_IsValid, Join(prefix, "given_by"), Need::kRequired));
  if (c.given_at_ms() != 0) {
    RETURN_IF_ERROR(
        CheckTime(c.given_at_ms(), kEarliestFactMs, now_ms, Join(prefix, "given_at_ms")));
  }
  const std::string ids = Join(prefix, "agency_ids");
  for (int i = 0; i < c.agency_ids_size(); ++i) {
    RETURN_IF_ERROR(ValidateAgencyId(c.agency_ids(i), At(ids, i)));
    for (int j = 0; j < i; ++j) {
      if (c.agency_ids(j) == c.agency_ids(i)) {
        return Invalid(At(ids, i), Quoted(c.agency_ids(i)) + " is listed twice");
      }
    }
  }
  RETURN_IF_ERROR(CheckEnumList<passage::v1::AgencyType>(
      c.agency_types(), passage::v1::AgencyType_IsValid, Join(prefix, "agency_types")));
  if (c.withdrawn_at_ms() != 0) {
    return Invalid(Join(prefix, "withdrawn_at_ms"),
                   "a consent is given in force; withdrawal is a ConsentWithdrawn event");
  }
  return Status::Ok();
}

Status ValidateReferralToSend(const passage::v1::Referral& r, std::string_view prefix,
                              std::string_view case_id, int64_t occurred_at_ms) {
  RETURN_IF_ERROR(ValidateUuid(r.referral_id(), Join(prefix, "referral_id")));
  if (!r.case_id().empty() && r.case_id() != case_id) {
    return Invalid(Join(prefix, "case_id"),
                   Quoted(r.case_id()) + " differs from the event's case_id; leave it empty or " +
                       "repeat the event's");
  }
  RETURN_IF_ERROR(CheckEnum<passage::v1::ReferralKind>(r.kind(), passage::v1::ReferralKind_IsValid,
                                                       Join(prefix, "kind"), Need::kRequired));
  RETURN_IF_ERROR(CheckOptionalAgencyId(r.from_agency(), Join(prefix, "from_agency")));
  RETURN_IF_ERROR(ValidateAgencyId(r.to_agency(), Join(prefix, "to_agency")));
  if (r.to_agency() == r.from_agency()) {
    return Invalid(Join(prefix, "to_agency"), "an agency cannot refer a case to itself");
  }
  RETURN_IF_ERROR(CheckEnum<passage::v1::ServiceType>(r.service(), passage::v1::ServiceType_IsValid,
                                                      Join(prefix, "service"), Need::kRequired));
  RETURN_IF_ERROR(CheckLength(r.reason(), kMaxShortText, Join(prefix, "reason")));
  RETURN_IF_ERROR(CheckEnum<passage::v1::Priority>(r.priority(), passage::v1::Priority_IsValid,
                                                   Join(prefix, "priority"), Need::kRequired));
  if (r.respond_by_ms() <= 0) {
    return Invalid(Join(prefix, "respond_by_ms"), "a respond-by time is required");
  }
  if (r.respond_by_ms() <= occurred_at_ms) {
    return Invalid(Join(prefix, "respond_by_ms"),
                   "the respond-by time " + FormatUtcMs(r.respond_by_ms()) +
                       " is not after the time the referral was made (" +
                       FormatUtcMs(occurred_at_ms) + ")");
  }
  if (r.data_scope_size() == 0) {
    return Invalid(Join(prefix, "data_scope"),
                   "name at least one case section the recipient may read");
  }
  RETURN_IF_ERROR(CheckEnumList<passage::v1::DataSection>(
      r.data_scope(), passage::v1::DataSection_IsValid, Join(prefix, "data_scope")));

  if (r.has_consent_override()) {
    if (!r.consent_id().empty()) {
      return Invalid(Join(prefix, "consent_override"),
                     "give either a consent_id or a consent_override, not both");
    }
    const std::string o = Join(prefix, "consent_override");
    RETURN_IF_ERROR(CheckEnum<passage::v1::ActorRole>(r.consent_override().role(),
                                                      passage::v1::ActorRole_IsValid,
                                                      Join(o, "role"), Need::kRequired));
    if (IsBlank(r.consent_override().reason())) {
      return Invalid(Join(o, "reason"), "a consent override needs a reason");
    }
    RETURN_IF_ERROR(CheckLength(r.consent_override().reason(), kMaxNoteText, Join(o, "reason")));
    RETURN_IF_ERROR(
        CheckLength(r.consent_override().actor_user(), kMaxShortText, Join(o, "actor_user")));
  } else if (r.consent_id().empty()) {
    return Invalid(Join(prefix, "consent_id"),
                   "a referral needs the consent it relies on (consent_id) or a consent_override " +
                       std::string("with a role and a reason"));
  } else {
    RETURN_IF_ERROR(ValidateUuid(r.consent_id(), Join(prefix, "consent_id")));
  }
  RETURN_IF_ERROR(CheckOptionalUuid(r.parent_referral_id(), Join(prefix, "parent_referral_id")));
  if (r.parent_referral_id() == r.referral_id()) {
    return Invalid(Join(prefix, "parent_referral_id"), "a referral cannot be its own parent");
  }

  // Fields the projection owns.
  if (r.status() != passage::v1::REFERRAL_STATUS_UNSPECIFIED &&
      r.status() != passage::v1::REFERRAL_STATUS_SENT) {
    return Invalid(Join(prefix, "status"), "a referral is sent in SENT; leave status unset");
  }
  if (r.status_reason() != passage::v1::REJECT_REASON_UNSPECIFIED || !r.status_note().empty()) {
    return Invalid(Join(prefix, "status_reason"),
                   "status_reason and status_note are set by transitions, not by the sender");
  }
  if (r.history_size() > 0) {
    return Invalid(Join(prefix, "history"), "the history is kept by the case projection");
  }
  if (!r.outcome().empty()) {
    return Invalid(Join(prefix, "outcome"), "a referral's outcome is reported by its recipient");
  }
  if (r.sent_at_ms() != 0) {
    return Invalid(Join(prefix, "sent_at_ms"),
                   "sent_at_ms is the event's occurred_at_ms; leave it unset");
  }
  return Status::Ok();
}

Status ValidateAgency(const passage::v1::Agency& a, std::string_view prefix) {
  RETURN_IF_ERROR(ValidateAgencyId(a.id(), Join(prefix, "id")));
  if (IsBlank(a.name())) {
    return Invalid(Join(prefix, "name"), "an agency needs a name");
  }
  RETURN_IF_ERROR(CheckEnum<passage::v1::AgencyType>(a.type(), passage::v1::AgencyType_IsValid,
                                                     Join(prefix, "type"), Need::kRequired));
  if (!a.region().empty() && !IsSubdivisionSyntax(a.region()) && !IsCountryAlpha2(a.region())) {
    return Invalid(Join(prefix, "region"),
                   Quoted(a.region()) +
                       " is not an upper-case ISO 3166-2 subdivision (e.g. 'PK-SD') or " +
                       "ISO 3166-1 alpha-2 country code");
  }
  RETURN_IF_ERROR(CheckEnumList<passage::v1::ServiceType>(
      a.services(), passage::v1::ServiceType_IsValid, Join(prefix, "services")));
  if (!a.case_reference_code().empty() && !IsReferenceCode(a.case_reference_code())) {
    return Invalid(Join(prefix, "case_reference_code"),
                   Quoted(a.case_reference_code()) +
                       " is not a reference code: 2 to 6 upper-case letters or digits, from a "
                       "letter (e.g. 'FIAKHI')");
  }
  return CheckEnumList<passage::v1::ActorRole>(a.override_roles(), passage::v1::ActorRole_IsValid,
                                               Join(prefix, "override_roles"));
}

Status ValidateIsoDate(std::string_view text, std::string_view field) {
  const std::string shape = "a date is written YYYY-MM-DD, e.g. 2009-03-31";
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') {
    return Invalid(std::string(field), shape);
  }
  int parts[3] = {0, 0, 0};
  const size_t starts[3] = {0, 5, 8};
  const size_t lengths[3] = {4, 2, 2};
  for (int i = 0; i < 3; ++i) {
    for (size_t j = starts[i]; j < starts[i] + lengths[i]; ++j) {
      if (text[j] < '0' || text[j] > '9') {
        return Invalid(std::string(field), shape);
      }
      parts[i] = parts[i] * 10 + (text[j] - '0');
    }
  }
  const int y = parts[0], m = parts[1], d = parts[2];
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  const int days[12] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1900 || m < 1 || m > 12 || d < 1 || d > days[m - 1]) {
    return Invalid(std::string(field), Quoted(text) + " is not a date that exists (from 1900)");
  }
  return Status::Ok();
}

namespace {

// Control characters (C0, DEL); `breaks` allows \n, \r and \t.
Status CheckNoControl(std::string_view text, bool breaks, const std::string& field) {
  for (unsigned char c : text) {
    if ((c < 0x20 || c == 0x7f) && !(breaks && (c == '\n' || c == '\r' || c == '\t'))) {
      return Invalid(field, "holds a control character (code " + std::to_string(c) +
                                "); type it again without it");
    }
  }
  return Status::Ok();
}

Status CheckText(std::string_view text, size_t max, bool breaks, const std::string& field) {
  RETURN_IF_ERROR(CheckLength(text, max, field));
  return CheckNoControl(text, breaks, field);
}

// Whole years from (y, m, d) to the UTC date of `now_ms`.
int YearsSince(int y, int m, int d, int64_t now_ms) {
  const std::time_t t = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  int years = tm.tm_year + 1900 - y;
  if (tm.tm_mon + 1 < m || (tm.tm_mon + 1 == m && tm.tm_mday < d)) --years;
  return years;
}

}  // namespace

Status ValidatePersonalData(const passage::v1::PersonalData& pd, const passage::v1::Profile& profile,
                            int64_t now_ms, std::string_view prefix) {
  RETURN_IF_ERROR(CheckText(pd.given_name(), kMaxNameBytes, false, Join(prefix, "given_name")));
  RETURN_IF_ERROR(CheckText(pd.family_name(), kMaxNameBytes, false, Join(prefix, "family_name")));
  if (static_cast<size_t>(pd.other_names_size()) > kMaxOtherNames) {
    return Invalid(Join(prefix, "other_names"),
                   "at most " + std::to_string(kMaxOtherNames) + " other names");
  }
  for (int i = 0; i < pd.other_names_size(); ++i) {
    RETURN_IF_ERROR(
        CheckText(pd.other_names(i), kMaxNameBytes, false, At(Join(prefix, "other_names"), i)));
  }
  RETURN_IF_ERROR(CheckText(pd.address(), kMaxAddressBytes, true, Join(prefix, "address")));
  RETURN_IF_ERROR(CheckText(pd.narrative(), kMaxNarrativeBytes, true, Join(prefix, "narrative")));
  if (!pd.cnic().empty()) {
    size_t digits = 0;
    bool ok = pd.cnic().size() <= 15;
    for (char c : pd.cnic()) {
      digits += (c >= '0' && c <= '9') ? 1 : 0;
      ok = ok && ((c >= '0' && c <= '9') || c == '-');
    }
    if (!ok || digits != 13) {
      return Invalid(Join(prefix, "cnic"),
                     "a CNIC is 13 digits, written 12345-1234567-1 or without dashes");
    }
  }
  if (!pd.passport_number().empty()) {
    bool ok = pd.passport_number().size() >= 6 && pd.passport_number().size() <= 20;
    for (char c : pd.passport_number()) {
      ok = ok && ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
    }
    if (!ok) {
      return Invalid(Join(prefix, "passport_number"),
                     "a passport number is 6 to 20 letters and digits, without spaces");
    }
  }
  if (!pd.phone().empty()) {
    size_t digits = 0;
    bool ok = pd.phone().size() <= 24;
    for (char c : pd.phone()) {
      digits += (c >= '0' && c <= '9') ? 1 : 0;
      ok = ok && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == ' ' || c == '(' ||
                  c == ')');
    }
    if (!ok || digits < 7 || digits > 20) {
      return Invalid(Join(prefix, "phone"),
                     "a phone number is 7 to 20 digits, with + - ( ) and spaces if you like");
    }
  }
  if (static_cast<size_t>(pd.photos_size()) > kMaxPhotos) {
    return Invalid(Join(prefix, "photos"), "at most " + std::to_string(kMaxPhotos) + " photos");
  }
  for (int i = 0; i < pd.photos_size(); ++i) {
    if (pd.photos(i).size() > kMaxPhotoBytes) {
      return Invalid(At(Join(prefix, "photos"), i),
                     "is " + std::to_string(pd.photos(i).size()) + " bytes; at most " +
                         std::to_string(kMaxPhotoBytes) + " (2 MiB) per photo");
    }
  }
  if (!pd.date_of_birth().empty()) {
    const std::string field = Join(prefix, "date_of_birth");
    RETURN_IF_ERROR(ValidateIsoDate(pd.date_of_birth(), field));
    const std::string& d = pd.date_of_birth();
    const int y = std::stoi(d.substr(0, 4)), m = std::stoi(d.substr(5, 2)),
              day = std::stoi(d.substr(8, 2));
    const int age = YearsSince(y, m, day, now_ms);
    if (age < 0) {
      return Invalid(field, Quoted(d) + " is in the future");
    }
    if (age > 120) {
      return Invalid(field, Quoted(d) + " would make the person " + std::to_string(age) +
                                " years old");
    }
    if (profile.has_age_years()) {
      const int stated = static_cast<int>(profile.age_years());
      const int slack = profile.age_estimated() ? 5 : 1;
      if (std::abs(age - stated) > slack) {
        return Invalid(field, Quoted(d) + " makes the person " + std::to_string(age) +
                                  ", but the age given is " + std::to_string(stated) +
                                  (profile.age_estimated() ? " (estimated)" : "") +
                                  "; correct one of them");
      }
    }
  }
  return Status::Ok();
}

Status ValidateEvent(const Event& e, int64_t now_ms) {
  RETURN_IF_ERROR(ValidateUuid(e.event_id(), "event_id"));
  if (IsConfigurationEvent(e)) {
    if (!e.case_id().empty()) {
      return Invalid("case_id", "a configuration event belongs to no case; leave case_id empty");
    }
    if (e.has_expected_case_version()) {
      return Invalid("expected_case_version",
                     "a configuration event belongs to no case; leave it unset");
    }
  } else {
    RETURN_IF_ERROR(ValidateUuid(e.case_id(), "case_id"));
  }
  RETURN_IF_ERROR(CheckTime(e.occurred_at_ms(), kEarliestEventMs, now_ms, "occurred_at_ms"));
  RETURN_IF_ERROR(ValidateAgencyId(e.actor_agency(), "actor_agency"));
  RETURN_IF_ERROR(CheckEnum<passage::v1::ActorRole>(e.actor_role(), passage::v1::ActorRole_IsValid,
                                                    "actor_role", Need::kRequired));
  RETURN_IF_ERROR(CheckLength(e.actor_user(), kMaxShortText, "actor_user"));
  RETURN_IF_ERROR(CheckNoControl(e.actor_user(), false, "actor_user"));
  return CheckPayload(e, now_ms);
}

}  // namespace passage::core
