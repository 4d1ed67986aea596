#pragma once

// StaffDirectory: the people who work at one agency node, their sign-ins and the node's security
// log, kept in the node's own RocksDB (runtime::LocalStore, keys under "staff/"). Nothing here
// leaves the node: events carry only an account's `staff_id`, a random pseudonym.
//
// Operation:
//   - Passwords are hashed with libsodium's crypto_pwhash_str (argon2id) at the interactive limits
//     (opslimit 2, memlimit 64 MiB: 141 ms (median of 5) and 64 MiB per hash on the development machine),
//     so a sign-in costs that much and a stolen store costs an attacker as much per guess.
//   - A sign-in returns a token "<agency id>.<64 hex>"; only the BLAKE2b-256 hash of the token is
//     stored, so the store alone yields no usable session. A session ends after `idle` without use,
//     `max` after sign-in, at sign-out, or when its account is disabled or its password reset.
//   - `lockout_after` failed sign-ins in a row lock the account for `lockout`; a sign-in while
//     locked is refused even with the right password. Every sign-in, refusal and account change is
//     one SecurityRecord.
//   - Refusals of a sign-in give one reason for wrong login, wrong password, disabled and locked
//     ("name or password not accepted, or the account is locked or disabled"), so the answer does
//     not tell an attacker which; the security log records the true cause.
//
// Concurrency: not thread-safe; the node's one thread owns it. Clock injected (Options::clock).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "passage/v1/config.pb.h"
#include "passage/v1/staff.pb.h"
#include "services/runtime/local_store.h"

namespace passage::node {

struct StaffOptions {
  runtime::LocalStore* store = nullptr;  // not owned; outlives the directory
  std::string node_id;                   // the agency id: tokens name it
  passage::v1::StaffPolicy policy;       // 0 = default (see config.proto)
  std::function<int64_t()> clock;        // Unix ms; default the system clock
};

// A proven person: what a valid session stands for.
struct SignedIn {
  passage::v1::StaffAccount account;
  std::string token;          // set by SignIn only
  int64_t expires_at_ms = 0;  // the sooner of the idle and the absolute limit
};

// The roles an account holds, as enum values.
std::vector<passage::v1::ActorRole> RolesOf(const passage::v1::StaffAccount& account);

inline constexpr size_t kMinPasswordLength = 10;
inline constexpr size_t kMaxPasswordLength = 256;

class StaffDirectory {
 public:
  static Result<std::unique_ptr<StaffDirectory>> Open(StaffOptions options);

  // When the node has no account at all, makes the first node admin with `password`, or with a
  // generated one when `password` is empty. Returns the generated password (to print once), or
  // nullopt when an account already existed or the password was given.
  Result<std::optional<std::string>> EnsureFirstAdmin(const std::string& login,
                                                      const std::string& password);

  // Account management (the caller checked that a node admin asks; `by` is that admin's staff
  // id). `password` empty = generate one; the generated password is returned. Errors name the
  // field: "login", "roles", "password". Nobody disables themselves or changes their own roles,
  // and the last enabled node admin is neither disabled nor stripped of the role, so a node can
  // always be administered.
  // `temporary`: the person must choose their own password before anything else (see
  // StaffAccount.must_change_password).
  Result<std::string> Add(const std::string& login, const std::string& display_name,
                          const std::vector<passage::v1::ActorRole>& roles,
                          const std::string& password, const std::string& by,
                          bool temporary = true);
  Status SetDisabled(const std::string& login, bool disabled, const std::string& by);
  Result<std::string> ResetPassword(const std::string& login, const std::string& password,
                                    const std::string& by);
  // The person's own workspace language ("en", "ur"): 2 or 3 lower-case letters.
  Status SetLanguage(const std::string& staff_id, const std::string& language);
  Status SetRoles(const std::string& login, const std::vector<passage::v1::ActorRole>& roles,
                  const std::string& by);
  // The person's own change: `current` must be their password; ends their sessions other than
  // `keep_token`'s and clears must_change_password. PermissionDenied for a wrong current password
  // (counted like a failed sign-in), InvalidArgument "new_password" for a weak or unchanged one.
  Status ChangeOwnPassword(const std::string& staff_id, const std::string& current,
                           const std::string& next, const std::string& keep_token);
  std::vector<passage::v1::StaffAccount> List() const;

  // Sign-in: PermissionDenied (one reason, see above) or the new session.
  Result<SignedIn> SignIn(const std::string& login, const std::string& password);
  // A request's token: PermissionDenied with the reason (expired, ended, another node's, ...).
  // Refreshes the idle timer.
  Result<SignedIn> Authenticate(const std::string& token);
  Status SignOut(const std::string& token);

  // The node's security log.
  void Record(const std::string& what, const std::string& staff_id, const std::string& detail);
  std::vector<passage::v1::SecurityRecord> SecurityLog(size_t limit) const;

  int64_t idle_ms() const { return idle_ms_; }
  int64_t max_ms() const { return max_ms_; }

 private:
  explicit StaffDirectory(StaffOptions options);
  int64_t Now() const { return options_.clock(); }
  Result<std::optional<passage::v1::StaffAccount>> FindByLogin(const std::string& login) const;
  Result<std::optional<passage::v1::StaffAccount>> FindById(const std::string& staff_id) const;
  Status Save(const passage::v1::StaffAccount& a);
  Status EndSessionsOf(const std::string& staff_id);
  // True when `a` is an enabled node admin and no other enabled account is one.
  bool IsLastAdmin(const passage::v1::StaffAccount& a) const;

  StaffOptions options_;
  int64_t idle_ms_ = 0;
  int64_t max_ms_ = 0;
  uint32_t lockout_after_ = 0;
  int64_t lockout_ms_ = 0;
  uint32_t log_counter_ = 0;
  std::string dummy_hash_;  // of a random password: refusals verify against it (same time)
};

}  // namespace passage::node
