#include "services/ctl/intake_prompt.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "core/codes.h"
#include "core/ctdc/ctdc_import.h"
#include "services/ctl/names.h"

namespace passage::ctl {
namespace {

namespace v1 = passage::v1;

class Asker {
 public:
  Asker(std::istream& in, std::ostream& out) : in_(in), out_(out) {}

  // Asks until `accept` takes the (trimmed) answer. False at end of input.
  template <typename F>
  bool Ask(std::string_view question, F&& accept) {
    for (;;) {
      out_ << question << ": " << std::flush;
      std::string line;
      if (!std::getline(in_, line)) {
        out_ << "\n";
        return false;
      }
      Status s = accept(Trim(line));
      if (s.ok()) {
        return true;
      }
      out_ << "  not valid: " << s.message() << "\n";
    }
  }

  std::ostream& out() { return out_; }

 private:
  std::istream& in_;
  std::ostream& out_;
};

Status Cancelled() {
  return Status::InvalidArgument("intake", "cancelled at the end of input; nothing was recorded");
}

std::string Lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

Result<bool> YesNo(const std::string& answer, bool default_value) {
  std::string a = Lower(answer);
  if (a.empty()) {
    return default_value;
  }
  if (a == "y" || a == "yes") {
    return true;
  }
  if (a == "n" || a == "no") {
    return false;
  }
  return Status::InvalidArgument("", "answer y or n");
}

bool IsMinor(const v1::Profile& p) {
  if (p.has_age_years()) {
    return p.age_years() < 18;
  }
  return p.age_band() == v1::AGE_BAND_0_8 || p.age_band() == v1::AGE_BAND_9_17;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    out += (out.empty() ? "" : ", ") + i;
  }
  return out.empty() ? "-" : out;
}

template <typename List>
std::string EnumList(const google::protobuf::EnumDescriptor* type, const List& values) {
  std::vector<std::string> names;
  for (int v : values) {
    names.push_back(ShortName(type, v));
  }
  return Join(names);
}

}  // namespace

Result<v1::IntakeRequest> PromptIntake(std::istream& in, std::ostream& out) {
  v1::IntakeRequest req;
  v1::Profile* p = req.mutable_profile();
  Asker ask(in, out);
  out << "Recording a presumed victim. Press Enter to leave an optional answer empty; Ctrl-D "
         "cancels.\n";

  if (!ask.Ask("crime type (" + EnumChoices(v1::CrimeType_descriptor(), "/") + ")",
               [&](const std::string& a) -> Status {
                 ASSIGN_OR_RETURN(int v,
                                  ParseEnumName(v1::CrimeType_descriptor(), a, "crime type"));
                 req.set_crime_type(static_cast<v1::CrimeType>(v));
                 return Status::Ok();
               })) {
    return Cancelled();
  }
  if (!ask.Ask("sex (" + EnumChoices(v1::Sex_descriptor(), "/") + ")",
               [&](const std::string& a) -> Status {
                 ASSIGN_OR_RETURN(int v, ParseEnumName(v1::Sex_descriptor(), a, "sex"));
                 p->set_sex(static_cast<v1::Sex>(v));
                 return Status::Ok();
               })) {
    return Cancelled();
  }
  bool has_years = false;
  if (!ask.Ask("age in years, or age band (0-8, 9-17, 18-20, 21-23, 24-26, 27-29, 30-38, 39-47, "
               "48+); empty if unknown",
               [&](const std::string& a) -> Status {
                 p->clear_age_years();
                 p->clear_age_band();
                 if (a.empty()) {
                   return Status::Ok();
                 }
                 if (std::all_of(a.begin(), a.end(), [](char c) {
                       return std::isdigit(static_cast<unsigned char>(c));
                     })) {
                   ASSIGN_OR_RETURN(uint64_t years, ParseCount(a, "age", 0, 120));
                   p->set_age_years(static_cast<uint32_t>(years));
                   has_years = true;
                   return Status::Ok();
                 }
                 v1::AgeBand band = v1::AGE_BAND_UNSPECIFIED;
                 if (!ctdc::ParseAgeBand(a, &band) || band == v1::AGE_BAND_UNSPECIFIED) {
                   return Status::InvalidArgument(
                       "age", "'" + a + "' is neither an age in years (0 to 120) nor an age band");
                 }
                 p->set_age_band(band);
                 return Status::Ok();
               })) {
    return Cancelled();
  }
  if (has_years && !ask.Ask("is the age estimated? (y/N)", [&](const std::string& a) -> Status {
        ASSIGN_OR_RETURN(bool yes, YesNo(a, false));
        p->set_age_estimated(yes);
        return Status::Ok();
      })) {
    return Cancelled();
  }
  if (!ask.Ask("citizenship (ISO codes, comma separated, e.g. PK or PK,AF); empty if unknown",
               [&](const std::string& a) -> Status {
                 p->clear_citizenship();
                 for (const auto& code : SplitList(a)) {
                   ASSIGN_OR_RETURN(std::string c, core::NormalizeCountry(code, "citizenship"));
                   if (std::find(p->citizenship().begin(), p->citizenship().end(), c) ==
                       p->citizenship().end()) {
                     p->add_citizenship(c);
                   }
                 }
                 return Status::Ok();
               })) {
    return Cancelled();
  }
  if (!ask.Ask("country of identification (ISO code) [PK]", [&](const std::string& a) -> Status {
        ASSIGN_OR_RETURN(std::string c,
                         core::NormalizeCountry(a.empty() ? "PK" : a, "country of identification"));
        p->set_country_of_identification(c);
        return Status::Ok();
      })) {
    return Cancelled();
  }
  if (!ask.Ask("province of identification (ISO 3166-2, e.g. " + p->country_of_identification() +
                   "-SD); empty if unknown",
               [&](const std::string& a) -> Status {
                 p->clear_province_of_identification();
                 if (a.empty()) {
                   return Status::Ok();
                 }
                 ASSIGN_OR_RETURN(std::string s, core::NormalizeSubdivision(a, "province"));
                 if (s.rfind(p->country_of_identification() + "-", 0) != 0) {
                   return Status::InvalidArgument(
                       "province",
                       "'" + s + "' is not a subdivision of " + p->country_of_identification());
                 }
                 p->set_province_of_identification(s);
                 return Status::Ok();
               })) {
    return Cancelled();
  }
  if (!ask.Ask("forms of exploitation (comma separated: " +
                   EnumChoices(v1::ExploitationForm_descriptor(), ", ") + "); empty if unknown",
               [&](const std::string& a) -> Status {
                 p->clear_exploitation_forms();
                 std::vector<int> forms;
                 for (const auto& name : SplitList(a)) {
                   ASSIGN_OR_RETURN(int v, ParseEnumName(v1::ExploitationForm_descriptor(), name,
                                                         "form of exploitation"));
                   if (std::find(forms.begin(), forms.end(), v) == forms.end()) {
                     forms.push_back(v);
                   }
                 }
                 std::sort(forms.begin(), forms.end());
                 for (int v : forms) {
                   p->add_exploitation_forms(static_cast<v1::ExploitationForm>(v));
                 }
                 return Status::Ok();
               })) {
    return Cancelled();
  }
  if (!ask.Ask("identification channel (" +
                   EnumChoices(v1::IdentificationChannel_descriptor(), "/") + "); empty if unknown",
               [&](const std::string& a) -> Status {
                 p->clear_identification_channel();
                 if (a.empty()) {
                   return Status::Ok();
                 }
                 ASSIGN_OR_RETURN(
                     int v, ParseEnumName(v1::IdentificationChannel_descriptor(), a, "channel"));
                 p->set_identification_channel(static_cast<v1::IdentificationChannel>(v));
                 return Status::Ok();
               })) {
    return Cancelled();
  }
  std::vector<v1::ConsentScope> scopes;
  if (!ask.Ask(
          "consents given (comma separated: " + EnumChoices(v1::ConsentScope_descriptor(), ", ") +
              "); empty for none (no referral can then be shared)",
          [&](const std::string& a) -> Status {
            scopes.clear();
            for (const auto& name : SplitList(a)) {
              ASSIGN_OR_RETURN(int v,
                               ParseEnumName(v1::ConsentScope_descriptor(), name, "consent"));
              auto scope = static_cast<v1::ConsentScope>(v);
              if (std::find(scopes.begin(), scopes.end(), scope) == scopes.end()) {
                scopes.push_back(scope);
              }
            }
            return Status::Ok();
          })) {
    return Cancelled();
  }
  if (!scopes.empty()) {
    const v1::ConsentGiver fallback =
        IsMinor(*p) ? v1::CONSENT_GIVER_GUARDIAN : v1::CONSENT_GIVER_SELF;
    v1::ConsentGiver giver = fallback;
    if (!ask.Ask("consents given by (self/guardian) [" +
                     ShortName(v1::ConsentGiver_descriptor(), fallback) + "]",
                 [&](const std::string& a) -> Status {
                   if (a.empty()) {
                     giver = fallback;
                     return Status::Ok();
                   }
                   ASSIGN_OR_RETURN(int v,
                                    ParseEnumName(v1::ConsentGiver_descriptor(), a, "given by"));
                   giver = static_cast<v1::ConsentGiver>(v);
                   return Status::Ok();
                 })) {
      return Cancelled();
    }
    for (auto scope : scopes) {
      auto* c = req.add_consents();
      c->set_scope(scope);
      c->set_given_by(giver);
    }
  }
  v1::PersonalData personal;
  if (!ask.Ask("given name (sealed on the node); empty to skip", [&](const std::string& a) {
        personal.set_given_name(a);
        return Status::Ok();
      })) {
    return Cancelled();
  }
  if (!ask.Ask("family name (sealed on the node); empty to skip", [&](const std::string& a) {
        personal.set_family_name(a);
        return Status::Ok();
      })) {
    return Cancelled();
  }
  if (!personal.given_name().empty() || !personal.family_name().empty()) {
    *req.mutable_personal() = personal;
  }

  std::string age = p->has_age_years() ? std::to_string(p->age_years()) +
                                             (p->age_estimated() ? " (estimated)" : "")
                    : p->age_band() != v1::AGE_BAND_UNSPECIFIED
                        ? std::string(core::AgeBandCtdcText(p->age_band()))
                        : "-";
  std::vector<std::string> consent_names;
  for (const auto& c : req.consents()) {
    consent_names.push_back(ShortName(v1::ConsentScope_descriptor(), c.scope()) + " (" +
                            ShortName(v1::ConsentGiver_descriptor(), c.given_by()) + ")");
  }
  std::ostream& o = ask.out();
  o << "\n  crime type     " << ShortName(v1::CrimeType_descriptor(), req.crime_type())
    << "\n  sex            " << ShortName(v1::Sex_descriptor(), p->sex()) << "\n  age            "
    << age << "\n  citizenship    "
    << Join(std::vector<std::string>(p->citizenship().begin(), p->citizenship().end()))
    << "\n  identified in  " << p->country_of_identification()
    << (p->province_of_identification().empty() ? "" : " / " + p->province_of_identification())
    << "\n  exploitation   " << EnumList(v1::ExploitationForm_descriptor(), p->exploitation_forms())
    << "\n  channel        "
    << (p->identification_channel() == v1::IDENTIFICATION_CHANNEL_UNSPECIFIED
            ? "-"
            : ShortName(v1::IdentificationChannel_descriptor(), p->identification_channel()))
    << "\n  consents       " << Join(consent_names) << "\n  name           "
    << (req.has_personal() ? "given (sealed before sending)" : "-") << "\n\n";
  bool confirmed = false;
  if (!ask.Ask("record this case? (y/N)", [&](const std::string& a) -> Status {
        ASSIGN_OR_RETURN(confirmed, YesNo(a, false));
        return Status::Ok();
      })) {
    return Cancelled();
  }
  if (!confirmed) {
    return Status::InvalidArgument("intake", "not confirmed; nothing was recorded");
  }
  return req;
}

}  // namespace passage::ctl
