#include "core/codes.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <vector>

namespace passage::core {
namespace {

using passage::v1::AgeBand;
using passage::v1::MajorityStatus;

// ISO 3166-1: every officially assigned code, sorted by alpha-2 (checked by tests).
constexpr Country kCountries[] = {
    {"AD", "AND", "Andorra"},
    {"AE", "ARE", "United Arab Emirates"},
    {"AF", "AFG", "Afghanistan"},
    {"AG", "ATG", "Antigua and Barbuda"},
    {"AI", "AIA", "Anguilla"},
    {"AL", "ALB", "Albania"},
    {"AM", "ARM", "Armenia"},
    {"AO", "AGO", "Angola"},
    {"AQ", "ATA", "Antarctica"},
    {"AR", "ARG", "Argentina"},
    {"AS", "ASM", "American Samoa"},
    {"AT", "AUT", "Austria"},
    {"AU", "AUS", "Australia"},
    {"AW", "ABW", "Aruba"},
    {"AX", "ALA", "Aland Islands"},
    {"AZ", "AZE", "Azerbaijan"},
    {"BA", "BIH", "Bosnia and Herzegovina"},
    {"BB", "BRB", "Barbados"},
    {"BD", "BGD", "Bangladesh"},
    {"BE", "BEL", "Belgium"},
    {"BF", "BFA", "Burkina Faso"},
    {"BG", "BGR", "Bulgaria"},
    {"BH", "BHR", "Bahrain"},
    {"BI", "BDI", "Burundi"},
    {"BJ", "BEN", "Benin"},
    {"BL", "BLM", "Saint Barthelemy"},
    {"BM", "BMU", "Bermuda"},
    {"BN", "BRN", "Brunei Darussalam"},
    {"BO", "BOL", "Bolivia"},
    {"BQ", "BES", "Bonaire, Sint Eustatius and Saba"},
    {"BR", "BRA", "Brazil"},
    {"BS", "BHS", "Bahamas"},
    {"BT", "BTN", "Bhutan"},
    {"BV", "BVT", "Bouvet Island"},
    {"BW", "BWA", "Botswana"},
    {"BY", "BLR", "Belarus"},
    {"BZ", "BLZ", "Belize"},
    {"CA", "CAN", "Canada"},
    {"CC", "CCK", "Cocos (Keeling) Islands"},
    {"CD", "COD", "Congo, Democratic Republic of the"},
    {"CF", "CAF", "Central African Republic"},
    {"CG", "COG", "Congo"},
    {"CH", "CHE", "Switzerland"},
    {"CI", "CIV", "Cote d'Ivoire"},
    {"CK", "COK", "Cook Islands"},
    {"CL", "CHL", "Chile"},
    {"CM", "CMR", "Cameroon"},
    {"CN", "CHN", "China"},
    {"CO", "COL", "Colombia"},
    {"CR", "CRI", "Costa Rica"},
    {"CU", "CUB", "Cuba"},
    {"CV", "CPV", "Cabo Verde"},
    {"CW", "CUW", "Curacao"},
    {"CX", "CXR", "Christmas Island"},
    {"CY", "CYP", "Cyprus"},
    {"CZ", "CZE", "Czechia"},
    {"DE", "DEU", "Germany"},
    {"DJ", "DJI", "Djibouti"},
    {"DK", "DNK", "Denmark"},
    {"DM", "DMA", "Dominica"},
    {"DO", "DOM", "Dominican Republic"},
    {"DZ", "DZA", "Algeria"},
    {"EC", "ECU", "Ecuador"},
    {"EE", "EST", "Estonia"},
    {"EG", "EGY", "Egypt"},
    {"EH", "ESH", "Western Sahara"},
    {"ER", "ERI", "Eritrea"},
    {"ES", "ESP", "Spain"},
    {"ET", "ETH", "Ethiopia"},
    {"FI", "FIN", "Finland"},
    {"FJ", "FJI", "Fiji"},
    {"FK", "FLK", "Falkland Islands (Malvinas)"},
    {"FM", "FSM", "Micronesia, Federated States of"},
    {"FO", "FRO", "Faroe Islands"},
    {"FR", "FRA", "France"},
    {"GA", "GAB", "Gabon"},
    {"GB", "GBR", "United Kingdom"},
    {"GD", "GRD", "Grenada"},
    {"GE", "GEO", "Georgia"},
    {"GF", "GUF", "French Guiana"},
    {"GG", "GGY", "Guernsey"},
    {"GH", "GHA", "Ghana"},
    {"GI", "GIB", "Gibraltar"},
    {"GL", "GRL", "Greenland"},
    {"GM", "GMB", "Gambia"},
    {"GN", "GIN", "Guinea"},
    {"GP", "GLP", "Guadeloupe"},
    {"GQ", "GNQ", "Equatorial Guinea"},
    {"GR", "GRC", "Greece"},
    {"GS", "SGS", "South Georgia and the South Sandwich Islands"},
    {"GT", "GTM", "Guatemala"},
    {"GU", "GUM", "Guam"},
    {"GW", "GNB", "Guinea-Bissau"},
    {"GY", "GUY", "Guyana"},
    {"HK", "HKG", "Hong Kong"},
    {"HM", "HMD", "Heard Island and McDonald Islands"},
    {"HN", "HND", "Honduras"},
    {"HR", "HRV", "Croatia"},
    {"HT", "HTI", "Haiti"},
    {"HU", "HUN", "Hungary"},
    {"ID", "IDN", "Indonesia"},
    {"IE", "IRL", "Ireland"},
    {"IL", "ISR", "Israel"},
    {"IM", "IMN", "Isle of Man"},
    {"IN", "IND", "India"},
    {"IO", "IOT", "British Indian Ocean Territory"},
    {"IQ", "IRQ", "Iraq"},
    {"IR", "IRN", "Iran, Islamic Republic of"},
    {"IS", "ISL", "Iceland"},
    {"IT", "ITA", "Italy"},
    {"JE", "JEY", "Jersey"},
    {"JM", "JAM", "Jamaica"},
    {"JO", "JOR", "Jordan"},
    {"JP", "JPN", "Japan"},
    {"KE", "KEN", "Kenya"},
    {"KG", "KGZ", "Kyrgyzstan"},
    {"KH", "KHM", "Cambodia"},
    {"KI", "KIR", "Kiribati"},
    {"KM", "COM", "Comoros"},
    {"KN", "KNA", "Saint Kitts and Nevis"},
    {"KP", "PRK", "Korea, Democratic People's Republic of"},
    {"KR", "KOR", "Korea, Republic of"},
    {"KW", "KWT", "Kuwait"},
    {"KY", "CYM", "Cayman Islands"},
    {"KZ", "KAZ", "Kazakhstan"},
    {"LA", "LAO", "Lao People's Democratic Republic"},
    {"LB", "LBN", "Lebanon"},
    {"LC", "LCA", "Saint Lucia"},
    {"LI", "LIE", "Liechtenstein"},
    {"LK", "LKA", "Sri Lanka"},
    {"LR", "LBR", "Liberia"},
    {"LS", "LSO", "Lesotho"},
    {"LT", "LTU", "Lithuania"},
    {"LU", "LUX", "Luxembourg"},
    {"LV", "LVA", "Latvia"},
    {"LY", "LBY", "Libya"},
    {"MA", "MAR", "Morocco"},
    {"MC", "MCO", "Monaco"},
    {"MD", "MDA", "Moldova, Republic of"},
    {"ME", "MNE", "Montenegro"},
    {"MF", "MAF", "Saint Martin (French part)"},
    {"MG", "MDG", "Madagascar"},
    {"MH", "MHL", "Marshall Islands"},
    {"MK", "MKD", "North Macedonia"},
    {"ML", "MLI", "Mali"},
    {"MM", "MMR", "Myanmar"},
    {"MN", "MNG", "Mongolia"},
    {"MO", "MAC", "Macao"},
    {"MP", "MNP", "Northern Mariana Islands"},
    {"MQ", "MTQ", "Martinique"},
    {"MR", "MRT", "Mauritania"},
    {"MS", "MSR", "Montserrat"},
    {"MT", "MLT", "Malta"},
    {"MU", "MUS", "Mauritius"},
    {"MV", "MDV", "Maldives"},
    {"MW", "MWI", "Malawi"},
    {"MX", "MEX", "Mexico"},
    {"MY", "MYS", "Malaysia"},
    {"MZ", "MOZ", "Mozambique"},
    {"NA", "NAM", "Namibia"},
    {"NC", "NCL", "New Caledonia"},
    {"NE", "NER", "Niger"},
    {"NF", "NFK", "Norfolk Island"},
    {"NG", "NGA", "Nigeria"},
    {"NI", "NIC", "Nicaragua"},
    {"NL", "NLD", "Netherlands"},
    {"NO", "NOR", "Norway"},
    {"NP", "NPL", "Nepal"},
    {"NR", "NRU", "Nauru"},
    {"NU", "NIU", "Niue"},
    {"NZ", "NZL", "New Zealand"},
    {"OM", "OMN", "Oman"},
    {"PA", "PAN", "Panama"},
    {"PE", "PER", "Peru"},
    {"PF", "PYF", "French Polynesia"},
    {"PG", "PNG", "Papua New Guinea"},
    {"PH", "PHL", "Philippines"},
    {"PK", "PAK", "Pakistan"},
    {"PL", "POL", "Poland"},
    {"PM", "SPM", "Saint Pierre and Miquelon"},
    {"PN", "PCN", "Pitcairn"},
    {"PR", "PRI", "Puerto Rico"},
    {"PS", "PSE", "Palestine, State of"},
    {"PT", "PRT", "Portugal"},
    {"PW", "PLW", "Palau"},
    {"PY", "PRY", "Paraguay"},
    {"QA", "QAT", "Qatar"},
    {"RE", "REU", "Reunion"},
    {"RO", "ROU", "Romania"},
    {"RS", "SRB", "Serbia"},
    {"RU", "RUS", "Russian Federation"},
    {"RW", "RWA", "Rwanda"},
    {"SA", "SAU", "Saudi Arabia"},
    {"SB", "SLB", "Solomon Islands"},
    {"SC", "SYC", "Seychelles"},
    {"SD", "SDN", "Sudan"},
    {"SE", "SWE", "Sweden"},
    {"SG", "SGP", "Singapore"},
    {"SH", "SHN", "Saint Helena, Ascension and Tristan da Cunha"},
    {"SI", "SVN", "Slovenia"},
    {"SJ", "SJM", "Svalbard and Jan Mayen"},
    {"SK", "SVK", "Slovakia"},
    {"SL", "SLE", "Sierra Leone"},
    {"SM", "SMR", "San Marino"},
    {"SN", "SEN", "Senegal"},
    {"SO", "SOM", "Somalia"},
    {"SR", "SUR", "Suriname"},
    {"SS", "SSD", "South Sudan"},
    {"ST", "STP", "Sao Tome and Principe"},
    {"SV", "SLV", "El Salvador"},
    {"SX", "SXM", "Sint Maarten (Dutch part)"},
    {"SY", "SYR", "Syrian Arab Republic"},
    {"SZ", "SWZ", "Eswatini"},
    {"TC", "TCA", "Turks and Caicos Islands"},
    {"TD", "TCD", "Chad"},
    {"TF", "ATF", "French Southern Territories"},
    {"TG", "TGO", "Togo"},
    {"TH", "THA", "Thailand"},
    {"TJ", "TJK", "Tajikistan"},
    {"TK", "TKL", "Tokelau"},
    {"TL", "TLS", "Timor-Leste"},
    {"TM", "TKM", "Turkmenistan"},
    {"TN", "TUN", "Tunisia"},
    {"TO", "TON", "Tonga"},
    {"TR", "TUR", "Turkiye"},
    {"TT", "TTO", "Trinidad and Tobago"},
    {"TV", "TUV", "Tuvalu"},
    {"TW", "TWN", "Taiwan, Province of China"},
    {"TZ", "TZA", "Tanzania, United Republic of"},
    {"UA", "UKR", "Ukraine"},
    {"UG", "UGA", "Uganda"},
    {"UM", "UMI", "United States Minor Outlying Islands"},
    {"US", "USA", "United States of America"},
    {"UY", "URY", "Uruguay"},
    {"UZ", "UZB", "Uzbekistan"},
    {"VA", "VAT", "Holy See"},
    {"VC", "VCT", "Saint Vincent and the Grenadines"},
    {"VE", "VEN", "Venezuela, Bolivarian Republic of"},
    {"VG", "VGB", "Virgin Islands (British)"},
    {"VI", "VIR", "Virgin Islands (U.S.)"},
    {"VN", "VNM", "Viet Nam"},
    {"VU", "VUT", "Vanuatu"},
    {"WF", "WLF", "Wallis and Futuna"},
    {"WS", "WSM", "Samoa"},
    {"YE", "YEM", "Yemen"},
    {"YT", "MYT", "Mayotte"},
    {"ZA", "ZAF", "South Africa"},
    {"ZM", "ZMB", "Zambia"},
    {"ZW", "ZWE", "Zimbabwe"},
};

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

bool IsAsciiAlpha(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
}

const Country* FindAlpha2(std::string_view upper) {
  const Country* begin = std::begin(kCountries);
  const Country* end = std::end(kCountries);
  const Country* it = std::lower_bound(
      begin, end, upper, [](const Country& c, std::string_view key) { return c.alpha2 < key; });
  if (it != end && it->alpha2 == upper) {
    return it;
  }
  return nullptr;
}

const Country* FindAlpha3(std::string_view upper) {
  // Built once (thread-safe static initialisation), sorted by alpha-3.
  static const std::vector<const Country*> by_alpha3 = [] {
    std::vector<const Country*> v;
    v.reserve(std::size(kCountries));
    for (const Country& c : kCountries) {
      v.push_back(&c);
    }
    std::sort(v.begin(), v.end(),
              [](const Country* a, const Country* b) { return a->alpha3 < b->alpha3; });
    return v;
  }();
  auto it =
      std::lower_bound(by_alpha3.begin(), by_alpha3.end(), upper,
                       [](const Country* c, std::string_view key) { return c->alpha3 < key; });
  if (it != by_alpha3.end() && (*it)->alpha3 == upper) {
    return *it;
  }
  return nullptr;
}

std::string Quoted(std::string_view s) {
  std::string out = "'";
  out += s;
  out += "'";
  return out;
}

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool IsUpperAlnum(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); }

constexpr std::array<std::string_view, 10> kAgeBandText = {
    "", "0--8", "9--17", "18--20", "21--23", "24--26", "27--29", "30--38", "39--47", "48+"};

}  // namespace

std::span<const Country> AllCountries() { return std::span<const Country>(kCountries); }

const Country* FindCountry(std::string_view code) {
  if (!IsAsciiAlpha(code)) {
    return nullptr;
  }
  if (code.size() == 2) {
    return FindAlpha2(Upper(code));
  }
  if (code.size() == 3) {
    return FindAlpha3(Upper(code));
  }
  return nullptr;
}

bool IsCountryAlpha2(std::string_view code) {
  return code.size() == 2 && FindAlpha2(code) != nullptr;
}

Result<std::string> NormalizeCountry(std::string_view code, std::string_view field) {
  if (code.empty()) {
    return Status::InvalidArgument(std::string(field), "a country code is required");
  }
  const Country* c = FindCountry(code);
  if (c == nullptr) {
    return Status::InvalidArgument(std::string(field),
                                   Quoted(code) + " is not an ISO 3166-1 country code");
  }
  return std::string(c->alpha2);
}

bool IsSubdivisionSyntax(std::string_view code) {
  if (code.size() < 4 || code.size() > 6 || code[2] != '-') {
    return false;
  }
  if (!IsCountryAlpha2(code.substr(0, 2))) {
    return false;
  }
  std::string_view rest = code.substr(3);
  return std::all_of(rest.begin(), rest.end(), IsUpperAlnum);
}

Result<std::string> NormalizeSubdivision(std::string_view code, std::string_view field) {
  std::string upper = Upper(code);
  if (!IsSubdivisionSyntax(upper)) {
    return Status::InvalidArgument(
        std::string(field),
        Quoted(code) + " is not an ISO 3166-2 subdivision code (expected e.g. 'PK-SD')");
  }
  return upper;
}

bool IsValidUuid(std::string_view text) { return ValidateUuid(text, "").ok(); }

Status ValidateUuid(std::string_view text, std::string_view field) {
  // The field name is copied only for a refusal: this runs several times per published event.
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument(std::string(field), why);
  };
  if (text.empty()) {
    return bad("a UUID is required");
  }
  if (text.size() != 36) {
    return bad(Quoted(text) + " is not a UUID (expected 36 characters like " +
               "'0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b')");
  }
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool dash_position = (i == 8 || i == 13 || i == 18 || i == 23);
    if (dash_position) {
      if (c != '-') {
        return bad(Quoted(text) + " is not a UUID (hyphens misplaced)");
      }
      continue;
    }
    if (c >= 'A' && c <= 'F') {
      return bad(Quoted(text) + " is not a canonical UUID (use lower case)");
    }
    if (!IsLowerHex(c)) {
      return bad(Quoted(text) + " is not a UUID (non-hex character)");
    }
  }
  if (text[14] != '4' && text[14] != '7') {
    return bad(Quoted(text) + " is a version " + std::string(1, text[14]) +
               " UUID; only versions 4 and 7 are accepted");
  }
  char variant = text[19];
  if (variant != '8' && variant != '9' && variant != 'a' && variant != 'b') {
    return bad(Quoted(text) + " is not an RFC 4122 variant UUID");
  }
  return Status::Ok();
}

bool IsValidAgencyId(std::string_view id) {
  if (id.size() < 2 || id.size() > 64) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

Status ValidateAgencyId(std::string_view id, std::string_view field) {
  if (id.empty()) {
    return Status::InvalidArgument(std::string(field), "an agency id is required");
  }
  if (!IsValidAgencyId(id)) {
    return Status::InvalidArgument(
        std::string(field), Quoted(id) + " is not an agency id (2 to 64 of a-z, 0-9 and '-')");
  }
  return Status::Ok();
}

AgeBand AgeBandForAge(uint32_t years) {
  if (years <= 8) {
    return passage::v1::AGE_BAND_0_8;
  }
  if (years <= 17) {
    return passage::v1::AGE_BAND_9_17;
  }
  if (years <= 20) {
    return passage::v1::AGE_BAND_18_20;
  }
  if (years <= 23) {
    return passage::v1::AGE_BAND_21_23;
  }
  if (years <= 26) {
    return passage::v1::AGE_BAND_24_26;
  }
  if (years <= 29) {
    return passage::v1::AGE_BAND_27_29;
  }
  if (years <= 38) {
    return passage::v1::AGE_BAND_30_38;
  }
  if (years <= 47) {
    return passage::v1::AGE_BAND_39_47;
  }
  return passage::v1::AGE_BAND_48_PLUS;
}

MajorityStatus MajorityForAge(uint32_t years) {
  return years < 18 ? passage::v1::MAJORITY_STATUS_MINOR : passage::v1::MAJORITY_STATUS_ADULT;
}

MajorityStatus MajorityForAgeBand(AgeBand band) {
  switch (band) {
    case passage::v1::AGE_BAND_0_8:
    case passage::v1::AGE_BAND_9_17:
      return passage::v1::MAJORITY_STATUS_MINOR;
    case passage::v1::AGE_BAND_18_20:
    case passage::v1::AGE_BAND_21_23:
    case passage::v1::AGE_BAND_24_26:
    case passage::v1::AGE_BAND_27_29:
    case passage::v1::AGE_BAND_30_38:
    case passage::v1::AGE_BAND_39_47:
    case passage::v1::AGE_BAND_48_PLUS:
      return passage::v1::MAJORITY_STATUS_ADULT;
    default:
      return passage::v1::MAJORITY_STATUS_UNSPECIFIED;
  }
}

std::string_view AgeBandCtdcText(AgeBand band) {
  int i = static_cast<int>(band);
  if (i <= 0 || i >= static_cast<int>(kAgeBandText.size())) {
    return {};
  }
  return kAgeBandText[static_cast<size_t>(i)];
}

AgeBand AgeBandFromCtdcText(std::string_view text) {
  while (!text.empty() && text.front() == ' ') {
    text.remove_prefix(1);
  }
  while (!text.empty() && text.back() == ' ') {
    text.remove_suffix(1);
  }
  if (text.empty()) {
    return passage::v1::AGE_BAND_UNSPECIFIED;
  }
  for (size_t i = 1; i < kAgeBandText.size(); ++i) {
    if (kAgeBandText[i] == text) {
      return static_cast<AgeBand>(i);
    }
  }
  return passage::v1::AGE_BAND_UNSPECIFIED;
}

namespace {

struct CivilDate {
  int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};

// Days since 1970-01-01 -> proleptic Gregorian date (Howard Hinnant's days-to-civil algorithm).
CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);  // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                       // [0, 11]
  const unsigned d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  const unsigned m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  return CivilDate{y + (m <= 2 ? 1 : 0), m, d};
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) {
    --q;
  }
  return q;
}

}  // namespace

std::string FormatUtcMs(int64_t ms) {
  constexpr int64_t kMsPerDay = 86400000;
  // Clamp to a range the arithmetic below handles without overflow (about +-290 million years).
  constexpr int64_t kLimit = int64_t{1} << 62;
  if (ms > kLimit) {
    ms = kLimit;
  }
  if (ms < -kLimit) {
    ms = -kLimit;
  }
  const int64_t days = FloorDiv(ms, kMsPerDay);
  const int64_t secs_of_day = (ms - days * kMsPerDay) / 1000;
  const CivilDate date = CivilFromDays(days);
  char buf[64];
  std::snprintf(
      buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(date.year),
      date.month, date.day, static_cast<long long>(secs_of_day / 3600),
      static_cast<long long>((secs_of_day / 60) % 60), static_cast<long long>(secs_of_day % 60));
  return buf;
}

namespace {
// Set once at start (SetShownTimeZone), read by every thread after.
std::atomic<const UtcOffsetFn*> g_shown_zone{nullptr};
}  // namespace

void SetShownTimeZone(UtcOffsetFn offset) {
  // Kept for the life of the process: readers may hold the previous one.
  g_shown_zone.store(offset ? new UtcOffsetFn(std::move(offset)) : nullptr,
                     std::memory_order_release);
}

std::string FormatShownMs(int64_t ms) {
  const UtcOffsetFn* zone = g_shown_zone.load(std::memory_order_acquire);
  if (zone == nullptr) {
    return FormatUtcMs(ms);
  }
  const int64_t offset_s = (*zone)(ms);
  const std::string local = FormatUtcMs(ms + offset_s * 1000);  // "2024-05-01T15:00:00Z"
  const int64_t minutes = (offset_s < 0 ? -offset_s : offset_s) / 60;
  char zone_text[16];
  std::snprintf(zone_text, sizeof(zone_text), "%c%02lld:%02lld", offset_s < 0 ? '-' : '+',
                static_cast<long long>(minutes / 60), static_cast<long long>(minutes % 60));
  return local.substr(0, 10) + " " + local.substr(11, 5) + " " + zone_text;
}

int32_t UtcYearOfMs(int64_t ms) {
  constexpr int64_t kMsPerDay = 86400000;
  constexpr int64_t kLimit = int64_t{1} << 50;  // keeps the year inside int32_t
  if (ms > kLimit) {
    ms = kLimit;
  }
  if (ms < -kLimit) {
    ms = -kLimit;
  }
  return static_cast<int32_t>(CivilFromDays(FloorDiv(ms, kMsPerDay)).year);
}

std::string ShortEnumName(const google::protobuf::EnumDescriptor* type, int value) {
  const google::protobuf::EnumValueDescriptor* v = type->FindValueByNumber(value);
  if (v == nullptr) {
    return std::to_string(value);
  }
  const std::string& name = v->name();
  const google::protobuf::EnumValueDescriptor* zero = type->FindValueByNumber(0);
  if (zero != nullptr) {
    std::string_view zero_name = zero->name();
    constexpr std::string_view kUnspecified = "UNSPECIFIED";
    if (zero_name.size() > kUnspecified.size() &&
        zero_name.substr(zero_name.size() - kUnspecified.size()) == kUnspecified) {
      std::string_view prefix = zero_name.substr(0, zero_name.size() - kUnspecified.size());
      if (name.size() > prefix.size() &&
          std::string_view(name).substr(0, prefix.size()) == prefix) {
        return name.substr(prefix.size());
      }
    }
  }
  return name;
}

std::string ReferralStatusName(passage::v1::ReferralStatus status) {
  return ShortEnumName(passage::v1::ReferralStatus_descriptor(), static_cast<int>(status));
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

std::string JsonQuote(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  // Optimal string alignment: insertions, deletions, substitutions and swaps of two neighbours
  // ("stast" is one swap from "stats") each cost 1.
  auto same = [](char x, char y) {
    return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
  };
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (same(a[i - 1], b[j - 1]) ? 0 : 1)});
      if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) && same(a[i - 2], b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string Nearest(std::string_view word, const std::vector<std::string>& candidates,
                    size_t max_distance) {
  std::string best;
  size_t best_distance = max_distance + 1;
  for (const std::string& c : candidates) {
    const size_t d = EditDistance(word, c);
    if (d == 0) {
      return "";  // the word is a candidate itself: nothing to suggest
    }
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

}  // namespace passage::core
