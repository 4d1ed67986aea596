// The broker's half of docs/roles.md: which role may make which move on a case, as a table.

#include "core/roles.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "tests/testing/status_matchers.h"

namespace passage::core {
namespace {

namespace v1 = passage::v1;
using E = v1::Event;

constexpr v1::ActorRole kCw = v1::ACTOR_ROLE_CASE_WORKER;
constexpr v1::ActorRole kSup = v1::ACTOR_ROLE_SUPERVISOR;
constexpr v1::ActorRole kDo = v1::ACTOR_ROLE_DATA_OFFICER;
constexpr v1::ActorRole kCo = v1::ACTOR_ROLE_COORDINATOR;
constexpr v1::ActorRole kAud = v1::ACTOR_ROLE_AUDITOR;
constexpr v1::ActorRole kSys = v1::ACTOR_ROLE_SYSTEM;
constexpr v1::ActorRole kAdm = v1::ACTOR_ROLE_NODE_ADMIN;

E WithPayload(E::PayloadCase payload) {
  E e;
  const auto* field = E::descriptor()->FindFieldByNumber(static_cast<int>(payload));
  e.GetReflection()->MutableMessage(&e, field);
  return e;
}

// docs/roles.md, "moves on a case", transcribed.
TEST(Roles, EveryEventKindAndRoleAsDocumented) {
  const std::map<E::PayloadCase, std::set<v1::ActorRole>> table = {
      {E::kCaseOpened, {kCw, kSup}},
      {E::kIdentificationRecorded, {kCw, kSup}},
      {E::kProfileUpdated, {kCw, kSup, kSys}},
      {E::kPersonalKeysEscrowed, {kCw, kSup, kSys}},
      {E::kConsentGiven, {kCw, kSup}},
      {E::kConsentWithdrawn, {kCw, kSup}},
      {E::kReferralSent, {kCw, kSup, kSys}},
      {E::kReferralTransition, {kCw, kSup, kSys}},
      {E::kServiceDelivered, {kCw, kSup}},
      {E::kCriminalProceedingUpdated, {kCw, kSup}},
      {E::kReturnRecorded, {kCw, kSup}},
      {E::kCaseClosed, {kSup}},
      {E::kRecordAccessed, {kCw, kSup, kDo, kCo, kAud, kSys}},
  };
  int checked = 0;
  for (const auto& [payload, allowed] : table) {
    for (auto role : {kCw, kSup, kDo, kCo, kAud, kSys, kAdm, v1::ACTOR_ROLE_UNSPECIFIED}) {
      E e = WithPayload(payload);
      ASSERT_EQ(e.payload_case(), payload);
      e.set_actor_role(role);
      Status s = CheckActorRole(e);
      SCOPED_TRACE(std::to_string(payload) + " as " + v1::ActorRole_Name(role));
      if (allowed.count(role) != 0) {
        EXPECT_OK(s);
      } else {
        EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
        EXPECT_EQ(s.field(), "actor_role");
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 13 * 8);
  // A node admin makes no move on a case at all.
  for (const auto& [payload, allowed] : table) {
    EXPECT_EQ(allowed.count(kAdm), 0u);
  }
}

TEST(Roles, StaffRolesParseInThePeoplesSpellings) {
  for (std::string s :
       {"case-worker", "case_worker", "CASE_WORKER", "ACTOR_ROLE_CASE_WORKER", "Case Worker"}) {
    auto r = ParseStaffRole(s, "--roles");
    ASSERT_OK(r);
    EXPECT_EQ(*r, kCw) << s;
  }
  EXPECT_EQ(*ParseStaffRole("node-admin", "x"), kAdm);
  for (std::string s : {"system", "boss", "", "unspecified"}) {
    auto r = ParseStaffRole(s, "--roles");
    EXPECT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().field(), "--roles");
  }
  EXPECT_EQ(RoleList({kCw, kDo}), "case worker, data officer");
  EXPECT_EQ(RoleList({}), "none");
}

}  // namespace
}  // namespace passage::core
