#pragma once

// What a person at a desk types in the end-to-end tests: passagectl signed in on the nodes of
// the test's NRM, with helpers to read answers and wait for a node's view of a case.

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/codes.h"
#include "tests/e2e/nrm_harness.h"

namespace passage::e2e {

// One string field of a flat JSON object ("" when absent).
inline std::string JsonField(const std::string& json, const std::string& key) {
  google::protobuf::Struct s;
  if (!google::protobuf::util::JsonStringToMessage(json, &s).ok()) {
    return "";
  }
  return detail::Str(s, key);
}

inline std::string Today() { return core::FormatUtcMs(NowMs()).substr(0, 10); }

// What a person at a desk types: passagectl signed in on the nodes of the test's NRM as the
// harness's desk account (sessions in one directory, one per node).
class Desk {
 public:
  explicit Desk(Nrm& nrm) : nrm_(nrm), sessions_(nrm.dir() + "/sessions") {}

  ::testing::AssertionResult SignIn(const std::string& id) {
    auto made = nrm_.DeskSession(id);  // makes the account on first use
    if (!made.ok()) {
      return ::testing::AssertionFailure()
             << "desk account on " << id << ": " << made.status().ToString();
    }
    CtlProc p = Run(id, {"login", "e2e.desk", "--password-file", "-"},
                    std::string(Nrm::kDeskPassword) + "\n");
    if (p.code != 0) {
      return ::testing::AssertionFailure() << "login on " << id << ": " << p.err;
    }
    return ::testing::AssertionSuccess();
  }

  CtlProc Run(const std::string& id, std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--node", nrm_.dir() + "/nodes/" + id});
    return Passagectl(args, input, sessions_, nrm_.dir());
  }

  // A command that needs no node (replay, admin on a log copy).
  CtlProc RunOffline(const std::vector<std::string>& args) {
    return Passagectl(args, "", sessions_, nrm_.dir());
  }

  // The case as node `id` lists it (passagectl --json cases), or nullopt.
  std::optional<v1::CaseState> Case(const std::string& id, const std::string& case_id) {
    CtlProc p = Run(id, {"--json", "cases"});
    if (p.code != 0) {
      return std::nullopt;
    }
    for (auto& c : ParseJsonArray<v1::CaseState>(p.out)) {
      if (c.case_id() == case_id) {
        return c;
      }
    }
    return std::nullopt;
  }

  // Polls node `id`'s view of the case until `pred` holds; the state that satisfied it in `out`.
  ::testing::AssertionResult WaitCase(const std::string& id, const std::string& case_id,
                                      const std::function<bool(const v1::CaseState&)>& pred,
                                      v1::CaseState* out, const std::string& what) {
    v1::CaseState last;
    auto r = WaitUntil(
        what + " (" + id + "'s view of case " + case_id + ")",
        [&] {
          auto c = Case(id, case_id);
          if (!c) {
            return false;
          }
          last = *c;
          return pred(last);
        },
        kWaitMs, [&] { return last.ShortDebugString().substr(0, 3000); }, 200);
    if (r && out != nullptr) {
      *out = last;
    }
    return r;
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = nrm_.dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

 private:
  Nrm& nrm_;
  std::string sessions_;
};

// The id of the case's consent of `scope` ("" when none).
inline std::string ConsentOf(const v1::CaseState& c, v1::ConsentScope scope) {
  for (const auto& x : c.consents()) {
    if (x.scope() == scope) return x.consent_id();
  }
  return "";
}

}  // namespace passage::e2e
