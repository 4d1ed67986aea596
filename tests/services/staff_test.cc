// StaffDirectory over a real LocalStore (RocksDB) with a fake clock: accounts, sign-in, lockout,
// session expiry, tokens of other nodes, and what the store keeps about passwords and tokens.

#include "services/node/staff.h"

#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace passage::node {
namespace {

namespace v1 = passage::v1;
constexpr int64_t kMinute = 60'000;

class StaffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = runtime::LocalStore::Open(dir_.path() + "/store");
    ASSERT_OK(store);
    store_ = std::move(store).value();
    Reopen(v1::StaffPolicy());
  }
  void Reopen(const v1::StaffPolicy& policy, const std::string& node = "fia-karachi") {
    StaffOptions o;
    o.store = store_.get();
    o.node_id = node;
    o.policy = policy;
    o.clock = [this] { return now_; };
    auto s = StaffDirectory::Open(o);
    ASSERT_OK(s);
    staff_ = std::move(s).value();
  }
  // Every value the store holds, concatenated (what a stolen disk shows of this directory).
  std::string StoreBytes() {
    std::string all;
    (void)store_->Scan("", [&](std::string_view k, std::string_view v) {
      all.append(k);
      all.append(v);
      return true;
    });
    return all;
  }

  passage::testing::TempDir dir_;
  std::unique_ptr<runtime::LocalStore> store_;
  std::unique_ptr<StaffDirectory> staff_;
  int64_t now_ = 1'790'000'000'000;
};

TEST_F(StaffTest, FirstAdminIsMadeOnceWithAPrintedPassword) {
  auto made = staff_->EnsureFirstAdmin("admin", "");
  ASSERT_OK(made);
  ASSERT_TRUE(made->has_value());
  EXPECT_GE((*made)->size(), kMinPasswordLength);
  auto again = staff_->EnsureFirstAdmin("admin", "");
  ASSERT_OK(again);
  EXPECT_FALSE(again->has_value());  // never a second admin, never the password again
  auto s = staff_->SignIn("admin", **made);
  ASSERT_OK(s);
  EXPECT_EQ(RolesOf(s->account), std::vector<v1::ActorRole>{v1::ACTOR_ROLE_NODE_ADMIN});
  EXPECT_EQ(staff_->List().size(), 1u);
}

TEST_F(StaffTest, PasswordsAreArgon2idAndNeitherPasswordNorTokenIsStored) {
  auto pw = staff_->Add("ayesha.k", "Ayesha Khan", {v1::ACTOR_ROLE_CASE_WORKER},
                        "correct horse battery", "test");
  ASSERT_OK(pw);
  auto s = staff_->SignIn("Ayesha.K", "correct horse battery");  // logins ignore case
  ASSERT_OK(s);
  const std::string bytes = StoreBytes();
  EXPECT_NE(bytes.find("$argon2id$"), std::string::npos);
  EXPECT_EQ(bytes.find("correct horse battery"), std::string::npos);
  EXPECT_EQ(bytes.find(s->token), std::string::npos);
  EXPECT_EQ(bytes.find(s->token.substr(s->token.find('.') + 1)), std::string::npos);
  EXPECT_TRUE(s->account.password_hash().empty());  // never handed out
  // The staff id is a pseudonym: nothing of the name or login in it.
  EXPECT_EQ(s->account.staff_id().find("ayesha"), std::string::npos);
  EXPECT_EQ(s->account.staff_id().rfind("s-", 0), 0u);
}

TEST_F(StaffTest, BadInputIsRefusedNamingTheField) {
  EXPECT_EQ(
      staff_->Add("a b", "", {v1::ACTOR_ROLE_CASE_WORKER}, "long enough pw", "t").status().field(),
      "login");
  EXPECT_EQ(staff_->Add("ab", "", {}, "long enough pw", "t").status().field(), "roles");
  EXPECT_EQ(staff_->Add("ab", "", {v1::ACTOR_ROLE_SYSTEM}, "long enough pw", "t").status().field(),
            "roles");
  EXPECT_EQ(staff_->Add("ab", "", {v1::ACTOR_ROLE_AUDITOR}, "short", "t").status().field(),
            "password");
  ASSERT_OK(staff_->Add("ab", "", {v1::ACTOR_ROLE_AUDITOR}, "long enough pw", "t"));
  auto dup = staff_->Add("AB", "", {v1::ACTOR_ROLE_AUDITOR}, "long enough pw", "t");
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(staff_->SetDisabled("nobody", true, "t").code(), StatusCode::kNotFound);
}

TEST_F(StaffTest, FiveWrongPasswordsLockTheAccountEvenForTheRightOne) {
  ASSERT_OK(staff_->Add("cw", "", {v1::ACTOR_ROLE_CASE_WORKER}, "the right password", "t"));
  for (int i = 0; i < 5; ++i) {
    auto s = staff_->SignIn("cw", "a wrong password");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
  }
  auto locked = staff_->SignIn("cw", "the right password");
  ASSERT_FALSE(locked.ok());
  // The answer does not say which it was; the security log does.
  auto unknown = staff_->SignIn("nobody", "the right password");
  EXPECT_EQ(locked.status().message(), unknown.status().message());
  const auto log = staff_->SecurityLog(0);
  bool locked_logged = false, refused_while_locked = false;
  for (const auto& r : log) {
    locked_logged |= r.detail().find("account locked for 15 min") != std::string::npos;
    refused_while_locked |= r.detail().find("the account is locked") != std::string::npos;
  }
  EXPECT_TRUE(locked_logged);
  EXPECT_TRUE(refused_while_locked);
  // The lockout runs out.
  now_ += 15 * kMinute;
  EXPECT_OK(staff_->SignIn("cw", "the right password"));
}

TEST_F(StaffTest, LockoutLimitsComeFromThePolicy) {
  v1::StaffPolicy p;
  p.set_lockout_after_failures(2);
  p.set_lockout_minutes(60);
  Reopen(p);
  ASSERT_OK(staff_->Add("cw", "", {v1::ACTOR_ROLE_CASE_WORKER}, "the right password", "t"));
  (void)staff_->SignIn("cw", "wrong one here");
  (void)staff_->SignIn("cw", "wrong one here");
  now_ += 59 * kMinute;
  EXPECT_FALSE(staff_->SignIn("cw", "the right password").ok());
  now_ += 1 * kMinute;
  EXPECT_OK(staff_->SignIn("cw", "the right password"));
}

TEST_F(StaffTest, SessionsEndWhenIdleAndAtTheAbsoluteLimit) {
  ASSERT_OK(staff_->Add("cw", "", {v1::ACTOR_ROLE_CASE_WORKER}, "the right password", "t"));
  auto s = staff_->SignIn("cw", "the right password");
  ASSERT_OK(s);
  now_ += 29 * kMinute;
  EXPECT_OK(staff_->Authenticate(s->token));  // used: the idle clock restarts
  now_ += 29 * kMinute;
  EXPECT_OK(staff_->Authenticate(s->token));
  now_ += 30 * kMinute;
  auto idle = staff_->Authenticate(s->token);
  ASSERT_FALSE(idle.ok());
  EXPECT_NE(idle.status().message().find("idle"), std::string::npos);
  EXPECT_FALSE(staff_->Authenticate(s->token).ok());  // and it stays ended

  // Used every 20 minutes, a session still ends 12 h after sign-in.
  auto s2 = staff_->SignIn("cw", "the right password");
  ASSERT_OK(s2);
  for (int i = 0; i < 35; ++i) {
    now_ += 20 * kMinute;
    ASSERT_OK(staff_->Authenticate(s2->token)) << i;
  }
  now_ += 20 * kMinute;  // 12 h
  auto old = staff_->Authenticate(s2->token);
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.status().message().find("limit of 12 h"), std::string::npos);
}

TEST_F(StaffTest, ForgedAndForeignTokensAreRefused) {
  ASSERT_OK(staff_->Add("cw", "", {v1::ACTOR_ROLE_CASE_WORKER}, "the right password", "t"));
  auto s = staff_->SignIn("cw", "the right password");
  ASSERT_OK(s);
  EXPECT_FALSE(staff_->Authenticate("").ok());
  EXPECT_FALSE(staff_->Authenticate("garbage").ok());
  std::string forged = s->token;
  forged.back() = forged.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(staff_->Authenticate(forged).ok());
  // The same store opened as another node: this node's token names fia-karachi.
  Reopen(v1::StaffPolicy(), "sindh-police");
  auto foreign = staff_->Authenticate(s->token);
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("another node"), std::string::npos);
}

TEST_F(StaffTest, DisablingOrResettingEndsSessions) {
  ASSERT_OK(staff_->Add("cw", "", {v1::ACTOR_ROLE_CASE_WORKER}, "the right password", "t"));
  auto s = staff_->SignIn("cw", "the right password");
  ASSERT_OK(s);
  ASSERT_OK(staff_->SetDisabled("cw", true, "t"));
  EXPECT_FALSE(staff_->Authenticate(s->token).ok());
  EXPECT_FALSE(staff_->SignIn("cw", "the right password").ok());
  ASSERT_OK(staff_->SetDisabled("cw", false, "t"));
  s = staff_->SignIn("cw", "the right password");
  ASSERT_OK(s);
  auto fresh = staff_->ResetPassword("cw", "", "t");
  ASSERT_OK(fresh);
  EXPECT_FALSE(staff_->Authenticate(s->token).ok());
  EXPECT_FALSE(staff_->SignIn("cw", "the right password").ok());
  EXPECT_OK(staff_->SignIn("cw", *fresh));
}

TEST_F(StaffTest, EveryRefusedSignInLooksTheSame) {
  ASSERT_OK(staff_->Add("cw", "", {v1::ACTOR_ROLE_CASE_WORKER}, "the right password", "t"));
  ASSERT_OK(staff_->Add("gone", "", {v1::ACTOR_ROLE_CASE_WORKER}, "the right password", "t"));
  ASSERT_OK(staff_->SetDisabled("gone", true, "t"));
  std::vector<Status> refusals = {staff_->SignIn("nobody", "the right password").status(),
                                  staff_->SignIn("cw", "not the password").status(),
                                  staff_->SignIn("gone", "the right password").status()};
  for (const auto& r : refusals) {
    EXPECT_EQ(r.code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(r.message(), refusals[0].message());
    EXPECT_EQ(r.field(), "");  // no field that tells a wrong login from a wrong password
  }
}

TEST_F(StaffTest, TheNodeAlwaysKeepsAnEnabledAdmin) {
  auto pw = staff_->EnsureFirstAdmin("admin", "first admin password");
  ASSERT_OK(pw);
  const std::string admin_id = staff_->List()[0].staff_id();
  EXPECT_EQ(staff_->SetDisabled("ADMIN", true, admin_id).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(staff_->SetRoles("admin", {v1::ACTOR_ROLE_SUPERVISOR}, admin_id).code(),
            StatusCode::kFailedPrecondition);  // not one's own roles
  EXPECT_EQ(staff_->SetRoles("admin", {v1::ACTOR_ROLE_SUPERVISOR}, "someone-else").code(),
            StatusCode::kFailedPrecondition);  // the last admin keeps the role
  EXPECT_EQ(staff_->SetDisabled("admin", true, "someone-else").code(),
            StatusCode::kFailedPrecondition);
  ASSERT_OK(staff_->Add("admin2", "", {v1::ACTOR_ROLE_NODE_ADMIN}, "second admin password", "t"));
  EXPECT_OK(staff_->SetDisabled("admin", true, "someone-else"));
  EXPECT_EQ(staff_->SetDisabled("admin2", true, "someone-else").code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(StaffTest, AnAdminChosenPasswordIsTemporaryUntilThePersonChangesIt) {
  ASSERT_OK(staff_->Add("cw", "", {v1::ACTOR_ROLE_CASE_WORKER}, "chosen by admin", "t"));
  auto s = staff_->SignIn("cw", "chosen by admin");
  ASSERT_OK(s);
  EXPECT_TRUE(s->account.must_change_password());
  auto other = staff_->SignIn("cw", "chosen by admin");
  ASSERT_OK(other);
  EXPECT_EQ(
      staff_->ChangeOwnPassword(s->account.staff_id(), "wrong", "my own password", s->token).code(),
      StatusCode::kPermissionDenied);
  EXPECT_EQ(staff_->ChangeOwnPassword(s->account.staff_id(), "chosen by admin", "short", s->token)
                .field(),
            "new_password");
  EXPECT_EQ(
      staff_
          ->ChangeOwnPassword(s->account.staff_id(), "chosen by admin", "chosen by admin", s->token)
          .field(),
      "new_password");
  ASSERT_OK(staff_->ChangeOwnPassword(s->account.staff_id(), "chosen by admin", "my own password",
                                      s->token));
  auto still = staff_->Authenticate(s->token);
  ASSERT_OK(still);  // this session goes on
  EXPECT_FALSE(still->account.must_change_password());
  EXPECT_FALSE(staff_->Authenticate(other->token).ok());  // the other one ended
  EXPECT_FALSE(staff_->SignIn("cw", "chosen by admin").ok());
  EXPECT_OK(staff_->SignIn("cw", "my own password"));
  // A reset makes it temporary again; a script's agreed password is not.
  ASSERT_OK(staff_->ResetPassword("cw", "reset by admin!", "t"));
  EXPECT_TRUE(staff_->SignIn("cw", "reset by admin!")->account.must_change_password());
  ASSERT_OK(staff_->Add("bot", "", {v1::ACTOR_ROLE_AUDITOR}, "agreed password", "t", false));
  EXPECT_FALSE(staff_->SignIn("bot", "agreed password")->account.must_change_password());
}

TEST_F(StaffTest, RolesCanBeChangedAndAreDeduplicated) {
  ASSERT_OK(staff_->Add("sup", "", {v1::ACTOR_ROLE_SUPERVISOR, v1::ACTOR_ROLE_SUPERVISOR},
                        "the right password", "t"));
  ASSERT_OK(staff_->SetRoles("sup", {v1::ACTOR_ROLE_CASE_WORKER, v1::ACTOR_ROLE_SUPERVISOR}, "t"));
  auto s = staff_->SignIn("sup", "the right password");
  ASSERT_OK(s);
  EXPECT_EQ(RolesOf(s->account),
            (std::vector<v1::ActorRole>{v1::ACTOR_ROLE_CASE_WORKER, v1::ACTOR_ROLE_SUPERVISOR}));
}

}  // namespace
}  // namespace passage::node
