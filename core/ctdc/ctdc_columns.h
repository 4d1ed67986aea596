#pragma once

// CTDC column names, value labels and their Passage enums: the tables shared by the importer and
// the exporter. Private to core/ctdc.
//
// Thread-safety: constant data.

#include <span>
#include <string_view>

#include "passage/v1/common.pb.h"

namespace passage::ctdc::internal {

// The 63 named columns of CTDC's k-anonymised global dataset, in its order (the published file
// has one more column in front: an index column whose header is the terms-of-use sentence).
inline constexpr std::string_view kGlobalColumns[] = {
    "yearOfRegistration",
    "Datasource",
    "gender",
    "ageBroad",
    "majorityStatus",
    "majorityStatusAtExploit",
    "majorityEntry",
    "citizenship",
    "meansOfControlDebtBondage",
    "meansOfControlTakesEarnings",
    "meansOfControlRestrictsFinancialAccess",
    "meansOfControlThreats",
    "meansOfControlPsychologicalAbuse",
    "meansOfControlPhysicalAbuse",
    "meansOfControlSexualAbuse",
    "meansOfControlFalsePromises",
    "meansOfControlPsychoactiveSubstances",
    "meansOfControlRestrictsMovement",
    "meansOfControlRestrictsMedicalCare",
    "meansOfControlExcessiveWorkingHours",
    "meansOfControlUsesChildren",
    "meansOfControlThreatOfLawEnforcement",
    "meansOfControlWithholdsNecessities",
    "meansOfControlWithholdsDocuments",
    "meansOfControlOther",
    "meansOfControlNotSpecified",
    "meansOfControlConcatenated",
    "isForcedLabour",
    "isSexualExploit",
    "isOtherExploit",
    "isSexAndLabour",
    "isForcedMarriage",
    "isForcedMilitary",
    "isOrganRemoval",
    "isSlaveryAndPractices",
    "typeOfExploitConcatenated",
    "typeOfLabourAgriculture",
    "typeOfLabourAquafarming",
    "typeOfLabourBegging",
    "typeOfLabourConstruction",
    "typeOfLabourDomesticWork",
    "typeOfLabourHospitality",
    "typeOfLabourIllicitActivities",
    "typeOfLabourManufacturing",
    "typeOfLabourMiningOrDrilling",
    "typeOfLabourPeddling",
    "typeOfLabourTransportation",
    "typeOfLabourOther",
    "typeOfLabourNotSpecified",
    "typeOfLabourConcatenated",
    "typeOfSexProstitution",
    "typeOfSexPornography",
    "typeOfSexRemoteInteractiveServices",
    "typeOfSexPrivateSexualServices",
    "typeOfSexConcatenated",
    "isAbduction",
    "RecruiterRelationship",
    "CountryOfExploitation",
    "recruiterRelationIntimatePartner",
    "recruiterRelationFriend",
    "recruiterRelationFamily",
    "recruiterRelationOther",
    "recruiterRelationUnknown",
};

// Start of the first header field of the global dataset.
inline constexpr std::string_view kTermsOfUsePrefix = "By using this data you agree";

// One 0/1 flag column. `value` is the Passage enum number it sets; 0 means the column is checked
// as a flag but maps to nothing (a "NotSpecified" column, or a synthetic-dataset column that
// lumps several Passage values together). `label` is CTDC's text for the value in the matching
// *Concatenated column. `exported` is false for columns of other CTDC datasets.
struct FlagColumn {
  std::string_view name;
  int value;
  std::string_view label;
  bool exported;
};

inline constexpr FlagColumn kMeansOfControlFlags[] = {
    {"meansOfControlDebtBondage", v1::MEANS_OF_CONTROL_DEBT_BONDAGE, "Debt bondage", true},
    {"meansOfControlTakesEarnings", v1::MEANS_OF_CONTROL_TAKES_EARNINGS, "Takes earnings", true},
    {"meansOfControlRestrictsFinancialAccess", v1::MEANS_OF_CONTROL_RESTRICTS_FINANCIAL_ACCESS,
     "Restricts financial access", true},
    {"meansOfControlThreats", v1::MEANS_OF_CONTROL_THREATS, "Threats", true},
    {"meansOfControlPsychologicalAbuse", v1::MEANS_OF_CONTROL_PSYCHOLOGICAL_ABUSE,
     "Psychological abuse", true},
    {"meansOfControlPhysicalAbuse", v1::MEANS_OF_CONTROL_PHYSICAL_ABUSE, "Physical abuse", true},
    {"meansOfControlSexualAbuse", v1::MEANS_OF_CONTROL_SEXUAL_ABUSE, "Sexual abuse", true},
    {"meansOfControlFalsePromises", v1::MEANS_OF_CONTROL_FALSE_PROMISES, "False promises", true},
    {"meansOfControlPsychoactiveSubstances", v1::MEANS_OF_CONTROL_PSYCHOACTIVE_SUBSTANCES,
     "Psychoactive substances", true},
    {"meansOfControlRestrictsMovement", v1::MEANS_OF_CONTROL_RESTRICTS_MOVEMENT,
     "Restricts movement", true},
    {"meansOfControlRestrictsMedicalCare", v1::MEANS_OF_CONTROL_RESTRICTS_MEDICAL_CARE,
     "Restricts medical care", true},
    {"meansOfControlExcessiveWorkingHours", v1::MEANS_OF_CONTROL_EXCESSIVE_WORKING_HOURS,
     "Excessive working hours", true},
    {"meansOfControlUsesChildren", v1::MEANS_OF_CONTROL_USES_CHILDREN, "Uses children", true},
    {"meansOfControlThreatOfLawEnforcement", v1::MEANS_OF_CONTROL_THREAT_OF_LAW_ENFORCEMENT,
     "Threat of law enforcement", true},
    {"meansOfControlWithholdsNecessities", v1::MEANS_OF_CONTROL_WITHHOLDS_NECESSITIES,
     "Withholds necessities", true},
    {"meansOfControlWithholdsDocuments", v1::MEANS_OF_CONTROL_WITHHOLDS_DOCUMENTS,
     "Withholds documents", true},
    {"meansOfControlOther", v1::MEANS_OF_CONTROL_OTHER, "Other", true},
    {"meansOfControlNotSpecified", 0, "Not specified", true},
    // Synthetic dataset. Its composites (debt bondage or earnings taken; psychological, physical
    // or sexual abuse; denial of basic needs) cannot be split into Passage values: not mapped.
    {"meansThreats", v1::MEANS_OF_CONTROL_THREATS, "", false},
    {"meansFalsePromises", v1::MEANS_OF_CONTROL_FALSE_PROMISES, "", false},
    {"meansDrugsAlcohol", v1::MEANS_OF_CONTROL_PSYCHOACTIVE_SUBSTANCES, "", false},
    {"meansExcessiveWorkHours", v1::MEANS_OF_CONTROL_EXCESSIVE_WORKING_HOURS, "", false},
    {"meansWithholdDocs", v1::MEANS_OF_CONTROL_WITHHOLDS_DOCUMENTS, "", false},
    {"meansDebtBondageEarnings", 0, "", false},
    {"meansAbusePsyPhySex", 0, "", false},
    {"meansDenyBasicNeeds", 0, "", false},
};

// isSexAndLabour is handled apart: it sets both forced labour and sexual exploitation.
inline constexpr std::string_view kSexAndLabourColumn = "isSexAndLabour";

inline constexpr FlagColumn kExploitationFlags[] = {
    {"isForcedLabour", v1::EXPLOITATION_FORM_FORCED_LABOUR, "Forced labour", true},
    {"isSexualExploit", v1::EXPLOITATION_FORM_SEXUAL_EXPLOITATION, "Sexual exploitation", true},
    {"isOtherExploit", v1::EXPLOITATION_FORM_OTHER, "Other", true},
    {"isForcedMarriage", v1::EXPLOITATION_FORM_FORCED_MARRIAGE, "Forced marriage", true},
    {"isForcedMilitary", v1::EXPLOITATION_FORM_FORCED_MILITARY, "Forced military", true},
    {"isOrganRemoval", v1::EXPLOITATION_FORM_ORGAN_REMOVAL, "Organ removal", true},
    {"isSlaveryAndPractices", v1::EXPLOITATION_FORM_SLAVERY_AND_PRACTICES,
     "Slavery and similar practices", true},
};

inline constexpr FlagColumn kLabourFlags[] = {
    {"typeOfLabourAgriculture", v1::LABOUR_SECTOR_AGRICULTURE, "Agriculture", true},
    {"typeOfLabourAquafarming", v1::LABOUR_SECTOR_AQUAFARMING, "Aquafarming", true},
    {"typeOfLabourBegging", v1::LABOUR_SECTOR_BEGGING, "Begging", true},
    {"typeOfLabourConstruction", v1::LABOUR_SECTOR_CONSTRUCTION, "Construction", true},
    {"typeOfLabourDomesticWork", v1::LABOUR_SECTOR_DOMESTIC_WORK, "Domestic work", true},
    {"typeOfLabourHospitality", v1::LABOUR_SECTOR_HOSPITALITY, "Hospitality", true},
    {"typeOfLabourIllicitActivities", v1::LABOUR_SECTOR_ILLICIT_ACTIVITIES, "Illicit activities",
     true},
    {"typeOfLabourManufacturing", v1::LABOUR_SECTOR_MANUFACTURING, "Manufacturing", true},
    {"typeOfLabourMiningOrDrilling", v1::LABOUR_SECTOR_MINING_OR_DRILLING, "Mining or drilling",
     true},
    {"typeOfLabourPeddling", v1::LABOUR_SECTOR_PEDDLING, "Peddling", true},
    {"typeOfLabourTransportation", v1::LABOUR_SECTOR_TRANSPORTATION, "Transportation", true},
    {"typeOfLabourOther", v1::LABOUR_SECTOR_OTHER, "Other", true},
    {"typeOfLabourNotSpecified", 0, "Not specified", true},
    // Synthetic dataset (some releases spell these sectorOfLabour*).
    {"sectorOfLabourAgriculture", v1::LABOUR_SECTOR_AGRICULTURE, "", false},
    {"sectorOfLabourConstruction", v1::LABOUR_SECTOR_CONSTRUCTION, "", false},
    {"sectorOfLabourDomesticWork", v1::LABOUR_SECTOR_DOMESTIC_WORK, "", false},
    {"sectorOfLabourHospitality", v1::LABOUR_SECTOR_HOSPITALITY, "", false},
};

inline constexpr FlagColumn kSexFlags[] = {
    {"typeOfSexProstitution", v1::SEXUAL_EXPLOITATION_TYPE_PROSTITUTION, "Prostitution", true},
    {"typeOfSexPornography", v1::SEXUAL_EXPLOITATION_TYPE_PORNOGRAPHY, "Pornography", true},
    {"typeOfSexRemoteInteractiveServices", v1::SEXUAL_EXPLOITATION_TYPE_REMOTE_INTERACTIVE_SERVICES,
     "Remote interactive services", true},
    {"typeOfSexPrivateSexualServices", v1::SEXUAL_EXPLOITATION_TYPE_PRIVATE_SEXUAL_SERVICES,
     "Private sexual services", true},
    {"sectorOfSexProstitution", v1::SEXUAL_EXPLOITATION_TYPE_PROSTITUTION, "", false},
    {"sectorOfSexPornography", v1::SEXUAL_EXPLOITATION_TYPE_PORNOGRAPHY, "", false},
};

// Labels are RecruiterRelationship's texts (values in one cell are joined with "; ").
inline constexpr FlagColumn kRecruiterFlags[] = {
    {"recruiterRelationIntimatePartner", v1::RECRUITER_RELATION_INTIMATE_PARTNER,
     "Intimate Partner", true},
    {"recruiterRelationFriend", v1::RECRUITER_RELATION_FRIEND, "Friend/Acquaintance", true},
    {"recruiterRelationFamily", v1::RECRUITER_RELATION_FAMILY, "Family/Relative", true},
    {"recruiterRelationOther", v1::RECRUITER_RELATION_OTHER, "Other", true},
    {"recruiterRelationUnknown", v1::RECRUITER_RELATION_UNKNOWN, "Not Specified", true},
};

// CTDC ageBroad texts, index = AgeBand enum number - 1.
inline constexpr std::string_view kAgeBandTexts[] = {
    "0--8", "9--17", "18--20", "21--23", "24--26", "27--29", "30--38", "39--47", "48+",
};

}  // namespace passage::ctdc::internal
