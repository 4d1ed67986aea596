// Fuzz target: the intake JSON a case worker gives `passagectl intake --file` (services/ctl
// LoadJson) or POSTs to the API (services/web): the strict JSON check (core/strict_json.h), then
// libprotobuf's JSON reader into an IntakeRequest, then the profile checks the node applies.
//
// Invariants: the strict check refuses with a status, never crashes; what libprotobuf writes as
// JSON passes the strict check and reads back to the same message.

#include <string>
#include <string_view>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include "core/strict_json.h"
#include "core/validate.h"
#include "passage/v1/control.pb.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)passage::core::CheckStrictJson(text, nullptr);
  if (!passage::core::CheckStrictJson(text, passage::v1::IntakeRequest::descriptor()).ok()) {
    return 0;
  }
  passage::v1::IntakeRequest intake;
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = false;
  if (!google::protobuf::util::JsonStringToMessage(text, &intake, parse).ok()) {
    return 0;
  }
  passage::v1::Profile profile = intake.profile();
  (void)passage::core::ValidateProfile(profile, "profile");
  (void)passage::core::NormalizeProfile(&profile, "profile");

  std::string out;
  if (!google::protobuf::util::MessageToJsonString(intake, &out).ok()) {
    return 0;  // e.g. a string field holding bytes that are not UTF-8 (protobuf refuses to write)
  }
  PASSAGE_FUZZ_CHECK(
      passage::core::CheckStrictJson(out, passage::v1::IntakeRequest::descriptor()).ok(),
      "libprotobuf's JSON output is strict JSON");
  passage::v1::IntakeRequest back;
  PASSAGE_FUZZ_CHECK(google::protobuf::util::JsonStringToMessage(out, &back, parse).ok(),
                     "libprotobuf's JSON output reads back");
  return 0;
}
