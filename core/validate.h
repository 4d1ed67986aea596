#pragma once

// Stateless validation of events and of the messages they carry.
//
// ValidateEvent checks what can be checked from one event alone: identifiers, timestamps, that
// exactly one payload is set, that every enum holds a known value (and not UNSPECIFIED where a
// value is required), country and subdivision codes, age consistency, and the shape of referrals,
// transitions and consents. Checks against the case (does the referral exist, who may make this
// move, is there consent) belong to CaseProjection::Check.
//
// Errors are Status::InvalidArgument(field, reason): `field` is a dotted path from the Event root,
// e.g. "case_opened.profile.citizenship[1]", and `reason` a plain sentence, e.g.
// "'PAK1' is not an ISO 3166-1 country code". Validation stops at the first error.
//
// Country codes: ISO 3166-1 alpha-2 or alpha-3 in any case are accepted (an event is stored as its
// producer sent it); projections store the upper-case alpha-2 form. Producers should call
// NormalizeEvent before publishing so that stored events carry the normal form too.
//
// Thread-safety: pure functions, no state.

#include <cstdint>
#include <string_view>

#include "core/status.h"
#include "passage/v1/case.pb.h"
#include "passage/v1/config.pb.h"
#include "passage/v1/events.pb.h"
#include "passage/v1/referral.pb.h"

namespace passage::core {

// 2000-01-01T00:00:00Z: no event of this system happened before.
inline constexpr int64_t kEarliestEventMs = 946'684'800'000;
// How far in the future (relative to the validator's clock) an event's own clock may be.
inline constexpr int64_t kMaxClockSkewMs = 24LL * 60 * 60 * 1000;
// 1990-01-01T00:00:00Z: earliest date accepted for facts that predate the system (a proceeding's
// milestone, a consent recorded on paper).
inline constexpr int64_t kEarliestFactMs = 631'152'000'000;
inline constexpr uint32_t kMaxAgeYears = 120;
inline constexpr int32_t kMinYearOfRegistration = 1990;
inline constexpr int32_t kMaxYearOfRegistration = 2100;

// True for AgencyRegistered, KeyRotated and AgencyRevoked: events about the NRM, not about a case
// (case_id empty).
bool IsConfigurationEvent(const passage::v1::Event& e);

// Validates one event on its own. `now_ms` is the validator's clock (Unix ms): occurred_at_ms must
// lie in [kEarliestEventMs, now_ms + kMaxClockSkewMs].
Status ValidateEvent(const passage::v1::Event& e, int64_t now_ms);

// Validates a Profile; errors name fields below `prefix` ("case_opened.profile" gives
// "case_opened.profile.age_band"; an empty prefix gives "age_band").
Status ValidateProfile(const passage::v1::Profile& p, std::string_view prefix);

// Validates a Consent as given (withdrawn_at_ms must be 0). `now_ms` bounds given_at_ms.
Status ValidateConsent(const passage::v1::Consent& c, std::string_view prefix, int64_t now_ms);

// Validates a referral as its sender writes it in ReferralSent (status, history, outcome and
// sent_at are the projection's). `case_id` and `occurred_at_ms` are the carrying event's.
Status ValidateReferralToSend(const passage::v1::Referral& r, std::string_view prefix,
                              std::string_view case_id, int64_t occurred_at_ms);

// Validates an agency registry entry (AgencyRegistered, registry files).
Status ValidateAgency(const passage::v1::Agency& a, std::string_view prefix);

// A calendar date written YYYY-MM-DD, from 1900-01-01, that exists (no 31 April, 29 February
// only in leap years).
Status ValidateIsoDate(std::string_view text, std::string_view field);

// The shape of sealed data (scheme, nonce, ciphertext, wrapped keys), errors under `prefix`.
Status ValidateSealed(const passage::v1::SealedPersonalData& s, std::string_view prefix);

// Limits on personal data (docs/architecture.md, "Quality bars"), checked on the node before it
// seals anything: names 200 bytes each, at most 10 other names, address 500, narrative 32 KiB,
// CNIC 13 digits (dashes allowed), passport 6 to 20 letters and digits, phone 7 to 20 digits with
// + - ( ) and spaces, at most 4 photos of 2 MiB each. No control character in any of them (line
// breaks and tabs allowed in the address and narrative). The date of birth must be a real date,
// not in the future, at most 120 years ago, and agree with the profile: within a year of
// `age_years` (five when the age is estimated).
// InvalidArgument names the field under `prefix` ("personal.date_of_birth").
inline constexpr size_t kMaxNameBytes = 200;
inline constexpr size_t kMaxOtherNames = 10;
inline constexpr size_t kMaxAddressBytes = 500;
inline constexpr size_t kMaxNarrativeBytes = 32 * 1024;
inline constexpr size_t kMaxPhotos = 4;
inline constexpr size_t kMaxPhotoBytes = 2 * 1024 * 1024;
Status ValidatePersonalData(const passage::v1::PersonalData& pd, const passage::v1::Profile& profile,
                            int64_t now_ms, std::string_view prefix);

// Validates `p` and rewrites it in normal form: countries as upper-case alpha-2, subdivisions upper
// case, age_band and majority_at_identification derived from age_years when those are UNSPECIFIED.
// On error `p` is unchanged.
Status NormalizeProfile(passage::v1::Profile* p, std::string_view prefix);

// NormalizeProfile on the profile of CaseOpened / ProfileUpdated and normal form of the country of
// ReturnRecorded. Does not validate the rest of the event. On error `e` is unchanged.
Status NormalizeEvent(passage::v1::Event* e);

}  // namespace passage::core
