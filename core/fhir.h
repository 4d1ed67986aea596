#pragma once

// FHIR R4 referral exchange (docs/fhir.md is the mapping): a Passage referral as the pair of
// resources that closed-loop referrals use in HL7 FHIR R4 — a ServiceRequest (what is asked of
// whom) and a Task (where the asking stands) — in a Bundle of type "collection", and back.
//
// Export carries ids, codes and times only: the subject is a logical reference holding the case
// id, the agencies are Organization references by registry id, and no free text of the referral
// (status note, outcome) is written, since it may name a person.
//
// Import reads a Bundle holding one ServiceRequest (and at most one Task, whose contents are not
// needed for a new referral) into a referral to send from the importing agency: a new referral
// id, validated as any referral (core/validate.h). Errors are InvalidArgument with the FHIR
// element path as the field ("ServiceRequest.performer[0]", "Bundle.entry[1].resource") and the
// reason in the user's terms.
//
// Pure; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "passage/v1/referral.pb.h"

namespace passage::core {

// Identifier systems and code systems of docs/fhir.md.
inline constexpr char kFhirAgencySystem[] = "urn:passage:agency";
inline constexpr char kFhirCaseSystem[] = "urn:passage:case";
inline constexpr char kFhirReferralSystem[] = "urn:passage:referral";
inline constexpr char kFhirConsentSystem[] = "urn:passage:consent";
inline constexpr char kFhirServiceSystem[] = "urn:passage:service-type";
inline constexpr char kFhirKindSystem[] = "urn:passage:referral-kind";
inline constexpr char kFhirStatusSystem[] = "urn:passage:referral-status";
inline constexpr char kFhirRejectSystem[] = "urn:passage:reject-reason";
inline constexpr char kFhirDataScopeUrl[] = "urn:passage:data-scope";

// The largest Bundle Import reads, and the longest string it takes in any element.
inline constexpr size_t kMaxFhirBundleBytes = 256 * 1024;
inline constexpr size_t kMaxFhirStringBytes = 1024;

// The FHIR Task.status code for a referral status (docs/fhir.md); "" for UNSPECIFIED.
std::string FhirTaskStatus(passage::v1::ReferralStatus s);
// The FHIR ServiceRequest.status code for a referral status.
std::string FhirServiceRequestStatus(passage::v1::ReferralStatus s);

// The FHIR element a referral field ("to_agency", "referral_sent.referral.consent_id") comes from
// on import: "ServiceRequest.performer[0]", "ServiceRequest.supportingInfo".
std::string FhirPathOfReferralField(std::string_view field);

// `r` (as a node's projection holds it, case_id set) as a Bundle, JSON text.
std::string ExportReferralFhir(const passage::v1::Referral& r);

struct FhirImported {
  passage::v1::Referral referral;  // new referral id; from_agency the importing agency
  std::string case_id;             // from ServiceRequest.subject, unless `case_id` was given
};

// Reads a Bundle (JSON text) into a referral from `agency`. `case_id` (a case id, may be empty)
// takes the place of the subject's. `now_ms` is the clock respond-by is checked against.
Result<FhirImported> ImportReferralFhir(std::string_view json, const std::string& agency,
                                        const std::string& case_id, int64_t now_ms);

}  // namespace passage::core
