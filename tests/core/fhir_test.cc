// FHIR R4 referral exchange (core/fhir.h): the exported Bundle checked element by element against
// the R4 definitions of the elements it uses (tests/data/fhir_r4_referral.defs: known element,
// type, cardinality, required value sets), every referral status mapped, a round trip onto another
// case, and hostile Bundles refused naming the FHIR element.

#include "core/fhir.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "core/codes.h"

namespace passage::core {
namespace {

namespace v1 = passage::v1;
namespace pb = google::protobuf;

constexpr int64_t kNow = 1'780'000'000'000;  // 2026-05-28T20:26:40Z
constexpr char kCase[] = "01930000-0000-7000-8000-000000000001";
constexpr char kOtherCase[] = "01930000-0000-7000-8000-000000000002";
constexpr char kReferral[] = "01930000-0000-7000-8000-0000000000a1";
constexpr char kConsent[] = "01930000-0000-7000-8000-0000000000c1";

// ---- the R4 definitions, as tests/data/fhir_r4_referral.defs writes them -----------------------

struct ElementDef {
  int min = 0;
  bool many = false;
  std::vector<std::string> types;
  std::string valueset;
};

struct Defs {
  std::map<std::string, ElementDef> elements;  // "ServiceRequest.status", "Task.restriction.period"
  std::map<std::string, std::set<std::string>> valuesets;
};

Defs LoadDefs() {
  Defs d;
  std::ifstream in(std::string(PASSAGE_SOURCE_DIR) + "/tests/data/fhir_r4_referral.defs");
  EXPECT_TRUE(in.good()) << "tests/data/fhir_r4_referral.defs not found";
  for (std::string line; std::getline(in, line);) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream ls(line);
    std::string kind;
    if (!(ls >> kind)) continue;
    if (kind == "element") {
      std::string path, min, max, types, binding;
      ls >> path >> min >> max >> types >> binding;
      ElementDef e;
      e.min = std::stoi(min);
      e.many = max == "*";
      std::stringstream ts(types);
      for (std::string t; std::getline(ts, t, '|');) e.types.push_back(t);
      if (binding.rfind("required:", 0) == 0) e.valueset = binding.substr(9);
      d.elements[path] = e;
    } else if (kind == "valueset") {
      std::string name, code;
      ls >> name;
      while (ls >> code) d.valuesets[name].insert(code);
    }
  }
  return d;
}

// Checks a JSON value against the definitions; problems as "path: what".
class Validator {
 public:
  explicit Validator(const Defs& d) : d_(d) {}
  std::vector<std::string> problems;

  void Resource(const pb::Value& v, const std::string& at) {
    if (!v.has_struct_value()) return Problem(at, "is not an object");
    auto rt = v.struct_value().fields().find("resourceType");
    if (rt == v.struct_value().fields().end() || !rt->second.has_string_value()) {
      return Problem(at, "has no resourceType");
    }
    const std::string type = rt->second.string_value();
    bool known = false;
    for (const auto& [path, _] : d_.elements) known = known || path.rfind(type + ".", 0) == 0;
    if (!known) return Problem(at, "resourceType " + type + " is not defined");
    Object(v.struct_value(), type, at, /*resource=*/true);
  }

 private:
  void Problem(const std::string& at, const std::string& what) { problems.push_back(at + ": " + what); }

  // The definition of JSON key `key` under `ctx`, and the type a choice key names.
  const ElementDef* Find(const std::string& ctx, const std::string& key, std::string* choice_type) {
    if (auto it = d_.elements.find(ctx + "." + key); it != d_.elements.end()) return &it->second;
    for (const auto& [path, def] : d_.elements) {
      if (path.size() < 3 || path.substr(path.size() - 3) != "[x]") continue;
      const std::string base = path.substr(0, path.size() - 3);
      if (base.rfind(ctx + ".", 0) != 0) continue;
      const std::string stem = base.substr(ctx.size() + 1);
      if (stem.find('.') != std::string::npos || key.rfind(stem, 0) != 0) continue;
      for (const auto& t : def.types) {
        std::string cap = t;
        cap[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(cap[0])));
        if (key == stem + cap) {
          *choice_type = t;
          return &def;
        }
      }
    }
    return nullptr;
  }

  void Object(const pb::Struct& s, const std::string& ctx, const std::string& at, bool resource) {
    for (const auto& [key, value] : s.fields()) {
      if (resource && key == "resourceType") continue;
      std::string choice;
      const ElementDef* def = Find(ctx, key, &choice);
      const std::string here = at + "." + key;
      if (def == nullptr) {
        Problem(here, "is not an element of " + ctx + " in R4");
        continue;
      }
      if (def->many) {
        if (!value.has_list_value()) {
          Problem(here, "has cardinality 0..* and must be a JSON array");
          continue;
        }
        if (value.list_value().values_size() == 0) Problem(here, "is an empty array");
        for (int i = 0; i < value.list_value().values_size(); ++i) {
          Typed(value.list_value().values(i), *def, choice, ctx + "." + key,
                here + "[" + std::to_string(i) + "]");
        }
      } else {
        if (value.has_list_value()) {
          Problem(here, "has cardinality ..1 and must not be an array");
          continue;
        }
        Typed(value, *def, choice, ctx + "." + key, here);
      }
    }
    // Required elements of this context.
    for (const auto& [path, def] : d_.elements) {
      if (def.min == 0 || path.rfind(ctx + ".", 0) != 0) continue;
      const std::string rest = path.substr(ctx.size() + 1);
      if (rest.find('.') != std::string::npos) continue;
      if (rest.size() > 3 && rest.substr(rest.size() - 3) == "[x]") continue;
      if (s.fields().count(rest) == 0) Problem(at + "." + rest, "is required (min 1)");
    }
  }

  void Typed(const pb::Value& v, const ElementDef& def, const std::string& choice,
             const std::string& path, const std::string& at) {
    const std::string type = !choice.empty() ? choice : def.types.at(0);
    static const std::regex kCode(R"([^\s]+( [^\s]+)*)");
    static const std::regex kId(R"([A-Za-z0-9\-\.]{1,64})");
    static const std::regex kUri(R"(\S+)");
    static const std::regex kDateTime(
        R"(([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?)");
    auto str = [&](const std::regex& re, const char* what) {
      if (!v.has_string_value() || !std::regex_match(v.string_value(), re)) {
        Problem(at, std::string("is not a valid ") + what);
        return false;
      }
      return true;
    };
    if (type == "string") {
      if (!v.has_string_value() || v.string_value().empty()) Problem(at, "is not a non-empty string");
    } else if (type == "code") {
      if (str(kCode, "code") && !def.valueset.empty()) {
        const auto& vs = d_.valuesets.at(def.valueset);
        if (vs.count(v.string_value()) == 0) {
          Problem(at, "'" + v.string_value() + "' is not in the required value set " + def.valueset);
        }
      }
    } else if (type == "uri") {
      str(kUri, "uri");
    } else if (type == "id") {
      str(kId, "id");
    } else if (type == "dateTime") {
      str(kDateTime, "dateTime");
    } else if (type == "positiveInt") {
      if (!v.has_number_value() || v.number_value() < 1) Problem(at, "is not a positiveInt");
    } else if (type == "BackboneElement") {
      if (!v.has_struct_value()) return Problem(at, "is not an object");
      Object(v.struct_value(), path, at, false);
    } else if (type == "Resource") {
      Resource(v, at);
    } else {
      if (!v.has_struct_value()) return Problem(at, "is not an object (" + type + ")");
      Object(v.struct_value(), type, at, false);
    }
  }

  const Defs& d_;
};

v1::Referral SampleReferral(v1::ReferralStatus status) {
  v1::Referral r;
  r.set_referral_id(kReferral);
  r.set_case_id(kCase);
  r.set_case_reference("FK-26-00001-3");
  r.set_kind(v1::REFERRAL_KIND_REFERRAL);
  r.set_from_agency("fia-karachi");
  r.set_to_agency("shelter-a");
  r.set_service(v1::SERVICE_TYPE_SHELTER);
  r.set_reason("womens-shelter");
  r.set_priority(v1::PRIORITY_URGENT);
  r.set_respond_by_ms(kNow + 3'600'000);
  r.add_data_scope(v1::DATA_SECTION_PROFILE);
  r.add_data_scope(v1::DATA_SECTION_PERSONAL);
  r.set_consent_id(kConsent);
  r.set_status(status);
  r.set_sent_at_ms(kNow - 60'000);
  r.set_status_note("Nasreen's brother will bring her");  // free text: never exported
  r.set_outcome("placed with her aunt Shazia");
  if (status == v1::REFERRAL_STATUS_REJECTED) r.set_status_reason(v1::REJECT_REASON_CAPACITY_FULL);
  auto* h = r.add_history();
  h->set_to(v1::REFERRAL_STATUS_SENT);
  h->set_at_ms(kNow - 60'000);
  return r;
}

pb::Value Parse(const std::string& json) {
  pb::Value v;
  EXPECT_TRUE(pb::util::JsonStringToMessage(json, &v).ok()) << json;
  return v;
}

TEST(FhirExport, EveryElementIsAnR4ElementOfTheRightTypeCardinalityAndValueSet) {
  const Defs defs = LoadDefs();
  ASSERT_GT(defs.elements.size(), 40u);
  for (int s = v1::REFERRAL_STATUS_SENT; s <= v1::REFERRAL_STATUS_EXPIRED; ++s) {
    const auto status = static_cast<v1::ReferralStatus>(s);
    const std::string json = ExportReferralFhir(SampleReferral(status));
    Validator val(defs);
    val.Resource(Parse(json), "Bundle");
    std::string all;
    for (const auto& p : val.problems) all += "\n  " + p;
    EXPECT_TRUE(val.problems.empty()) << ReferralStatusName(status) << ":" << all << "\n" << json;
    // Ids and codes only: no free text of the referral.
    EXPECT_EQ(json.find("Nasreen"), std::string::npos);
    EXPECT_EQ(json.find("Shazia"), std::string::npos);
  }
}

TEST(FhirExport, TheValidatorRefusesWhatR4Refuses) {
  // A check of the check: each mistake below is one R4 forbids.
  const Defs defs = LoadDefs();
  const std::string good = ExportReferralFhir(SampleReferral(v1::REFERRAL_STATUS_ACCEPTED));
  auto problems = [&](std::string json) {
    Validator val(defs);
    val.Resource(Parse(json), "Bundle");
    return val.problems;
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string j = good;
    const size_t at = j.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return j.replace(at, from.size(), to);
  };
  EXPECT_TRUE(problems(good).empty());
  EXPECT_FALSE(problems(replaced("\"status\": \"accepted\"", "\"status\": \"done\"")).empty());
  EXPECT_FALSE(problems(replaced("\"intent\": \"order\"", "\"intent\": \"wish\"")).empty());
  EXPECT_FALSE(problems(replaced("\"type\": \"collection\"", "\"type\": \"pile\"")).empty());
  EXPECT_FALSE(problems(replaced("\"priority\": \"urgent\"", "\"priority\": \"high\"")).empty());
  EXPECT_FALSE(problems(replaced("\"authoredOn\"", "\"writtenOn\"")).empty());
  EXPECT_FALSE(problems(replaced("\"intent\": \"order\",", "")).empty());  // required
  EXPECT_FALSE(
      problems(replaced("\"lastModified\": \"", "\"lastModified\": \"yesterday ")).empty());
}

TEST(FhirExport, MapsEveryReferralStatusToTaskStatusAndBusinessStatus) {
  const std::map<v1::ReferralStatus, std::pair<std::string, std::string>> want = {
      {v1::REFERRAL_STATUS_SENT, {"requested", "active"}},
      {v1::REFERRAL_STATUS_RECEIVED, {"received", "active"}},
      {v1::REFERRAL_STATUS_ACCEPTED, {"accepted", "active"}},
      {v1::REFERRAL_STATUS_REJECTED, {"rejected", "revoked"}},
      {v1::REFERRAL_STATUS_IN_PROGRESS, {"in-progress", "active"}},
      {v1::REFERRAL_STATUS_ON_HOLD, {"on-hold", "on-hold"}},
      {v1::REFERRAL_STATUS_COMPLETED, {"completed", "completed"}},
      {v1::REFERRAL_STATUS_FAILED, {"failed", "revoked"}},
      {v1::REFERRAL_STATUS_CANCEL_REQUESTED, {"in-progress", "active"}},
      {v1::REFERRAL_STATUS_CANCELLED, {"cancelled", "revoked"}},
      {v1::REFERRAL_STATUS_EXPIRED, {"cancelled", "revoked"}},
  };
  ASSERT_EQ(want.size(), static_cast<size_t>(v1::ReferralStatus_descriptor()->value_count() - 1));
  for (const auto& [status, codes] : want) {
    EXPECT_EQ(FhirTaskStatus(status), codes.first) << ReferralStatusName(status);
    EXPECT_EQ(FhirServiceRequestStatus(status), codes.second) << ReferralStatusName(status);
    const std::string json = ExportReferralFhir(SampleReferral(status));
    EXPECT_NE(json.find("\"code\": \"" + ReferralStatusName(status) + "\""), std::string::npos)
        << "businessStatus of " << ReferralStatusName(status);
  }
  const std::string rejected = ExportReferralFhir(SampleReferral(v1::REFERRAL_STATUS_REJECTED));
  EXPECT_NE(rejected.find("\"code\": \"CAPACITY_FULL\""), std::string::npos) << rejected;
}

TEST(FhirImport, ARoundTripOntoAnotherCaseGivesAnEqualReferral) {
  const v1::Referral original = SampleReferral(v1::REFERRAL_STATUS_SENT);
  const std::string json = ExportReferralFhir(original);
  auto in = ImportReferralFhir(json, "fia-karachi", kOtherCase, kNow);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(in->case_id, kOtherCase);
  v1::Referral got = in->referral;
  EXPECT_NE(got.referral_id(), original.referral_id());  // a new referral
  EXPECT_TRUE(IsValidUuid(got.referral_id()));
  // Everything a sender writes is equal (respond-by to the second: FHIR dateTime as exported).
  v1::Referral want;
  want.set_kind(original.kind());
  want.set_from_agency(original.from_agency());
  want.set_to_agency(original.to_agency());
  want.set_service(original.service());
  want.set_reason(original.reason());
  want.set_priority(original.priority());
  want.set_respond_by_ms(original.respond_by_ms() / 1000 * 1000);
  *want.mutable_data_scope() = original.data_scope();
  want.set_consent_id(original.consent_id());
  got.clear_referral_id();
  EXPECT_EQ(got.DebugString(), want.DebugString());
  // Without --case, the subject names the case.
  auto same = ImportReferralFhir(json, "fia-karachi", "", kNow);
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_EQ(same->case_id, kCase);
}

TEST(FhirImport, HostileBundlesAreRefusedNamingTheElement) {
  const std::string good = ExportReferralFhir(SampleReferral(v1::REFERRAL_STATUS_SENT));
  auto field_of = [&](const std::string& json) {
    auto r = ImportReferralFhir(json, "fia-karachi", "", kNow);
    EXPECT_FALSE(r.ok()) << json;
    EXPECT_EQ(r.ok() ? StatusCode::kOk : r.status().code(), StatusCode::kInvalidArgument);
    return r.ok() ? std::string("(accepted)") : r.status().field() + ": " + r.status().message();
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string j = good;
    const size_t at = j.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? j : j.replace(at, from.size(), to);
  };
  // Not a Bundle at all, or a resource that is not a referral's.
  EXPECT_EQ(field_of("{\"resourceType\": \"Patient\", \"name\": [{\"text\": \"Nasreen\"}]}")
                .rfind("Bundle.resourceType: ", 0),
            0u);
  EXPECT_EQ(field_of(replaced("\"resourceType\": \"Task\"", "\"resourceType\": \"Patient\""))
                .rfind("Bundle.entry[1].resource.resourceType: ", 0),
            0u);
  EXPECT_EQ(field_of("[]").rfind("Bundle: ", 0), 0u);
  EXPECT_EQ(field_of("{\"resourceType\": \"Bundle\", \"entry\": []}").rfind("Bundle.entry: ", 0), 0u);
  // An unknown status, a missing performer, a performer that is not an agency.
  EXPECT_EQ(field_of(replaced("\"status\": \"active\"", "\"status\": \"finished\""))
                .rfind("ServiceRequest.status: ", 0),
            0u);
  {
    std::string j = good;
    const size_t at = j.find("\"performer\"");
    const size_t end = j.find("]", at);
    j.erase(at, end + 2 - at);
    EXPECT_EQ(field_of(j).rfind("ServiceRequest.performer: is required", 0), 0u) << field_of(j);
  }
  EXPECT_EQ(field_of(replaced("\"value\": \"shelter-a\"", "\"value\": \"Shelter A!\""))
                .rfind("ServiceRequest.performer[0]", 0),
            0u);
  EXPECT_EQ(field_of(replaced("\"value\": \"shelter-a\"", "\"value\": \"fia-karachi\""))
                .rfind("ServiceRequest.performer[0]: ", 0),
            0u);  // to itself
  // Wrong types, codes and times.
  EXPECT_EQ(field_of(replaced("\"code\": \"SHELTER\"", "\"code\": \"SPA\""))
                .rfind("ServiceRequest.code: ", 0),
            0u);
  EXPECT_EQ(field_of(replaced("\"priority\": \"urgent\"", "\"priority\": 3"))
                .rfind("ServiceRequest.priority: ", 0),
            0u);
  EXPECT_EQ(field_of(replaced("\"intent\": \"order\"", "\"intent\": \"plan\""))
                .rfind("ServiceRequest.intent: ", 0),
            0u);
  EXPECT_EQ(field_of(replaced("2026-05-28T21:26:40Z", "next week")).rfind("ServiceRequest.occurrencePeriod.end: ", 0),
            0u);
  EXPECT_EQ(field_of(replaced("2026-05-28T21:26:40Z", "2026-05-28T19:00:00Z"))
                .rfind("ServiceRequest.occurrencePeriod.end: ", 0),
            0u);  // respond-by already passed
  // A huge string, a huge file, a key given twice.
  EXPECT_EQ(field_of(replaced("\"text\": \"womens-shelter\"",
                              "\"text\": \"" + std::string(100'000, 'x') + "\""))
                .rfind("ServiceRequest.reasonCode[0].text: ", 0),
            0u);
  EXPECT_EQ(field_of(good + std::string(300'000, ' ')).rfind("Bundle: ", 0), 0u);
  EXPECT_EQ(field_of(replaced("\"intent\": \"order\"", "\"intent\": \"order\", \"intent\": \"plan\""))
                .rfind("Bundle.", 0),
            0u);
  // A subject that is not a case id.
  EXPECT_EQ(field_of(replaced(std::string("\"value\": \"") + kCase + "\"", "\"value\": \"Nasreen\""))
                .rfind("ServiceRequest.subject", 0),
            0u);
}

}  // namespace
}  // namespace passage::core
