// Fuzz target: configuration text (protobuf text format, or JSON when it starts with '{') read
// by core::ParseConfigText as the broker, the nodes and passage-router read their files, then
// the checks they apply at start-up: the registry's entries (AgencyRoster, CrimePolicy) and the
// routing rules against the sample registry of deploy/config. The input is parsed as each of
// the four configuration messages, as `passagectl config check` tries the kinds.
//
// Invariants: parsing and checking refuse with a status, never crash; a message that parsed
// parses again from its own text form.

#include <google/protobuf/text_format.h>

#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "core/agency_directory.h"
#include "core/crime_policy.h"
#include "core/routing.h"
#include "core/text_proto.h"
#include "passage/v1/config.pb.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

const passage::core::AgencyRoster& SampleRoster() {
  static const auto* roster = [] {
    std::ifstream in(PASSAGE_SOURCE_DIR "/deploy/config/registry.textproto");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    passage::v1::AgencyRegistry registry;
    PASSAGE_FUZZ_CHECK(
        passage::core::ParseConfigText(text, "registry.textproto", &registry).ok(),
        "deploy/config/registry.textproto parses");
    auto r = passage::core::AgencyRoster::FromRegistry(registry);
    PASSAGE_FUZZ_CHECK(r.ok(), "deploy/config/registry.textproto is a valid registry");
    return new passage::core::AgencyRoster(std::move(r).value());
  }();
  return *roster;
}

// Parses `text` as an M; when it parses, its text form must parse again.
template <typename M>
bool Parse(std::string_view text, M* out) {
  if (!passage::core::ParseConfigText(text, "fuzz.textproto", out).ok()) {
    return false;
  }
  std::string printed;
  PASSAGE_FUZZ_CHECK(google::protobuf::TextFormat::PrintToString(*out, &printed),
                     "a parsed configuration prints");
  M again;
  PASSAGE_FUZZ_CHECK(passage::core::ParseConfigText(printed, "printed.textproto", &again).ok(),
                     "a printed configuration parses again");
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const passage::core::AgencyRoster& roster = SampleRoster();

  passage::v1::AgencyRegistry registry;
  if (Parse(text, &registry)) {
    (void)passage::core::AgencyRoster::FromRegistry(registry);
    (void)passage::core::InMemoryAgencyDirectory::FromRegistry(registry);
    (void)passage::core::CrimePolicy::FromRegistry(registry);
  }
  passage::v1::RuleSet rules;
  if (Parse(text, &rules)) {
    (void)passage::core::ValidateRuleSet(rules, roster);
  }
  passage::v1::BrokerConfig broker;
  (void)Parse(text, &broker);
  passage::v1::NodeConfig node;
  (void)Parse(text, &node);
  return 0;
}
