#include "services/node/staff.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "core/roles.h"
#include "services/runtime/sealing.h"

namespace passage::node {
namespace {

namespace v1 = passage::v1;

constexpr char kAccountPrefix[] = "staff/a/";
constexpr char kLoginPrefix[] = "staff/l/";
constexpr char kSessionPrefix[] = "staff/s/";
constexpr char kLogPrefix[] = "staff/log/";

constexpr char kSignInRefused[] =
    "name or password not accepted, or the account is locked or disabled (ask your node admin)";

// Sorts as the numbers do: "at ms" and a counter, zero-padded decimal.
std::string LogKeySuffix(int64_t at_ms, uint32_t counter) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%020lld-%010u", static_cast<long long>(at_ms), counter);
  return buf;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  return runtime::ToHex(raw);
}

std::string TokenKey(const std::string& token) {
  unsigned char h[32];
  crypto_generichash(h, sizeof(h), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  return kSessionPrefix + runtime::ToHex(std::string(reinterpret_cast<char*>(h), sizeof(h)));
}

// Letters without the ones people confuse on a phone line (0/O, 1/l/I).
std::string GeneratePassword() {
  static constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::string out;
  for (int i = 0; i < 18; ++i) {
    out += kAlphabet[randombytes_uniform(sizeof(kAlphabet) - 1)];
    if (i % 6 == 5 && i != 17) {
      out += '-';
    }
  }
  return out;
}

Result<std::string> NormalLogin(const std::string& login) {
  std::string out;
  for (char c : login) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '.' || l == '-' || l == '_')) {
      return Status::InvalidArgument(
          "login", "may hold only letters a-z, digits, '.', '-' and '_' (no spaces)");
    }
    out += l;
  }
  if (out.size() < 2 || out.size() > 64) {
    return Status::InvalidArgument("login", "must be 2 to 64 characters long");
  }
  return out;
}

Status CheckPassword(const std::string& password) {
  if (password.size() < kMinPasswordLength) {
    return Status::InvalidArgument(
        "password", "must be at least " + std::to_string(kMinPasswordLength) + " characters long");
  }
  if (password.size() > kMaxPasswordLength) {
    return Status::InvalidArgument(
        "password", "must be at most " + std::to_string(kMaxPasswordLength) + " characters long");
  }
  return Status::Ok();
}

Result<std::string> HashPassword(const std::string& password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return Status::Internal("hashing the password failed (out of memory?)");
  }
  return std::string(out);
}

Status CheckRoles(const std::vector<v1::ActorRole>& roles) {
  if (roles.empty()) {
    return Status::InvalidArgument("roles", "an account needs at least one role");
  }
  for (auto r : roles) {
    if (r == v1::ACTOR_ROLE_UNSPECIFIED || r == v1::ACTOR_ROLE_SYSTEM ||
        !v1::ActorRole_IsValid(r)) {
      return Status::InvalidArgument(
          "roles", "'" + core::RoleWords(r) + "' is not a role a person can hold");
    }
  }
  return Status::Ok();
}

void SetRolesOf(v1::StaffAccount* a, const std::vector<v1::ActorRole>& roles) {
  std::set<int> unique(roles.begin(), roles.end());
  a->clear_roles();
  for (int r : unique) {
    a->add_roles(static_cast<v1::ActorRole>(r));
  }
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t OrDefault(uint32_t v, uint32_t def) { return v == 0 ? def : v; }

}  // namespace

std::vector<v1::ActorRole> RolesOf(const v1::StaffAccount& account) {
  std::vector<v1::ActorRole> out;
  for (int r : account.roles()) {
    out.push_back(static_cast<v1::ActorRole>(r));
  }
  return out;
}

StaffDirectory::StaffDirectory(StaffOptions options) : options_(std::move(options)) {
  if (!options_.clock) {
    options_.clock = SystemNowMs;
  }
  const auto& p = options_.policy;
  idle_ms_ = OrDefault(p.session_idle_minutes(), 30) * 60'000;
  max_ms_ = OrDefault(p.session_max_hours(), 12) * 3'600'000;
  lockout_after_ = static_cast<uint32_t>(OrDefault(p.lockout_after_failures(), 5));
  lockout_ms_ = OrDefault(p.lockout_minutes(), 15) * 60'000;
}

Result<std::unique_ptr<StaffDirectory>> StaffDirectory::Open(StaffOptions options) {
  if (options.store == nullptr) {
    return Status::InvalidArgument("store", "a staff directory needs the node's store");
  }
  if (sodium_init() < 0) {
    return Status::Internal("libsodium failed to initialise");
  }
  auto dir = std::unique_ptr<StaffDirectory>(new StaffDirectory(std::move(options)));
  ASSIGN_OR_RETURN(dir->dummy_hash_, HashPassword(RandomHex(16)));
  return dir;
}

Result<std::optional<v1::StaffAccount>> StaffDirectory::FindById(const std::string& id) const {
  ASSIGN_OR_RETURN(auto bytes, options_.store->Get(kAccountPrefix + id));
  if (!bytes.has_value()) {
    return std::optional<v1::StaffAccount>();
  }
  v1::StaffAccount a;
  if (!a.ParseFromString(*bytes)) {
    return Status::Corruption("the staff account " + id + " in the node's store does not parse");
  }
  return std::optional<v1::StaffAccount>(std::move(a));
}

Result<std::optional<v1::StaffAccount>> StaffDirectory::FindByLogin(
    const std::string& login) const {
  auto normal = NormalLogin(login);
  if (!normal.ok()) {
    return std::optional<v1::StaffAccount>();
  }
  ASSIGN_OR_RETURN(auto id, options_.store->Get(kLoginPrefix + *normal));
  if (!id.has_value()) {
    return std::optional<v1::StaffAccount>();
  }
  return FindById(*id);
}

Status StaffDirectory::Save(const v1::StaffAccount& a) {
  runtime::StateWrite w;
  w.Put(kAccountPrefix + a.staff_id(), a.SerializeAsString());
  w.Put(kLoginPrefix + a.login(), a.staff_id());
  return options_.store->Write(w);
}

Result<std::optional<std::string>> StaffDirectory::EnsureFirstAdmin(const std::string& login,
                                                                    const std::string& password) {
  bool any = false;
  RETURN_IF_ERROR(options_.store->Scan(kAccountPrefix, [&](std::string_view, std::string_view) {
    any = true;
    return false;
  }));
  if (any) {
    return std::optional<std::string>();
  }
  // A generated password was seen by whoever read the file: temporary. One from a file the
  // operator wrote stays (the operator is that admin).
  ASSIGN_OR_RETURN(std::string made, Add(login, "Node administrator", {v1::ACTOR_ROLE_NODE_ADMIN},
                                         password, "first start", password.empty()));
  if (!password.empty()) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(made);
}

Result<std::string> StaffDirectory::Add(const std::string& login, const std::string& display_name,
                                        const std::vector<v1::ActorRole>& roles,
                                        const std::string& password, const std::string& by,
                                        bool temporary) {
  ASSIGN_OR_RETURN(std::string normal, NormalLogin(login));
  if (display_name.size() > 200) {
    return Status::InvalidArgument("display_name", "must be at most 200 characters long");
  }
  RETURN_IF_ERROR(CheckRoles(roles));
  ASSIGN_OR_RETURN(auto existing, FindByLogin(normal));
  if (existing.has_value()) {
    return Status(StatusCode::kAlreadyExists,
                  "an account with login '" + normal + "' already exists", "login");
  }
  std::string pw = password.empty() ? GeneratePassword() : password;
  RETURN_IF_ERROR(CheckPassword(pw));
  v1::StaffAccount a;
  a.set_staff_id("s-" + RandomHex(6));
  a.set_login(normal);
  a.set_display_name(display_name.empty() ? normal : display_name);
  ASSIGN_OR_RETURN(std::string hash, HashPassword(pw));
  a.set_password_hash(hash);
  SetRolesOf(&a, roles);
  a.set_created_at_ms(Now());
  a.set_password_changed_at_ms(Now());
  a.set_must_change_password(temporary);
  RETURN_IF_ERROR(Save(a));
  Record("account added", a.staff_id(), "roles " + core::RoleList(RolesOf(a)) + "; by " + by);
  return pw;
}

bool StaffDirectory::IsLastAdmin(const v1::StaffAccount& a) const {
  auto roles = RolesOf(a);
  if (a.disabled() ||
      std::find(roles.begin(), roles.end(), v1::ACTOR_ROLE_NODE_ADMIN) == roles.end()) {
    return false;
  }
  for (const auto& other : List()) {
    auto r = RolesOf(other);
    if (other.staff_id() != a.staff_id() && !other.disabled() &&
        std::find(r.begin(), r.end(), v1::ACTOR_ROLE_NODE_ADMIN) != r.end()) {
      return false;
    }
  }
  return true;
}

Status StaffDirectory::SetDisabled(const std::string& login, bool disabled, const std::string& by) {
  ASSIGN_OR_RETURN(auto a, FindByLogin(login));
  if (!a.has_value()) {
    return Status(StatusCode::kNotFound, "no account with login '" + login + "' on this node",
                  "login");
  }
  if (disabled && a->staff_id() == by) {
    return Status(StatusCode::kFailedPrecondition, "you cannot disable your own account", "login");
  }
  if (disabled && IsLastAdmin(*a)) {
    return Status(StatusCode::kFailedPrecondition,
                  "'" + a->login() + "' is the last enabled node admin; add another first",
                  "login");
  }
  a->set_disabled(disabled);
  if (!disabled) {
    a->set_failed_sign_ins(0);
    a->set_locked_until_ms(0);
  }
  RETURN_IF_ERROR(Save(*a));
  if (disabled) {
    RETURN_IF_ERROR(EndSessionsOf(a->staff_id()));
  }
  Record(disabled ? "account disabled" : "account enabled", a->staff_id(), "by " + by);
  return Status::Ok();
}

Result<std::string> StaffDirectory::ResetPassword(const std::string& login,
                                                  const std::string& password,
                                                  const std::string& by) {
  ASSIGN_OR_RETURN(auto a, FindByLogin(login));
  if (!a.has_value()) {
    return Status(StatusCode::kNotFound, "no account with login '" + login + "' on this node",
                  "login");
  }
  std::string pw = password.empty() ? GeneratePassword() : password;
  RETURN_IF_ERROR(CheckPassword(pw));
  ASSIGN_OR_RETURN(std::string hash, HashPassword(pw));
  a->set_password_hash(hash);
  a->set_password_changed_at_ms(Now());
  a->set_failed_sign_ins(0);
  a->set_locked_until_ms(0);
  a->set_must_change_password(true);
  RETURN_IF_ERROR(Save(*a));
  RETURN_IF_ERROR(EndSessionsOf(a->staff_id()));
  Record("password reset", a->staff_id(), "by " + by);
  return pw;
}

Status StaffDirectory::ChangeOwnPassword(const std::string& staff_id, const std::string& current,
                                         const std::string& next, const std::string& keep_token) {
  ASSIGN_OR_RETURN(auto a, FindById(staff_id));
  if (!a.has_value() || a->disabled()) {
    return Status::PermissionDenied("the account is not active", "session");
  }
  if (crypto_pwhash_str_verify(a->password_hash().c_str(), current.data(), current.size()) != 0) {
    a->set_failed_sign_ins(a->failed_sign_ins() + 1);
    std::string detail = "wrong current password at a password change";
    if (a->failed_sign_ins() >= lockout_after_) {
      a->set_locked_until_ms(Now() + lockout_ms_);
      RETURN_IF_ERROR(EndSessionsOf(a->staff_id()));
      detail += "; account locked for " + std::to_string(lockout_ms_ / 60'000) + " min";
    }
    RETURN_IF_ERROR(Save(*a));
    Record("password change refused", staff_id, detail);
    return Status::PermissionDenied("the current password is not right", "current_password");
  }
  RETURN_IF_ERROR(CheckPassword(next).ok() ? Status::Ok()
                                           : Status::InvalidArgument("new_password",
                                                                     CheckPassword(next).message()));
  if (next == current) {
    return Status::InvalidArgument("new_password", "must differ from the current one");
  }
  ASSIGN_OR_RETURN(std::string hash, HashPassword(next));
  a->set_password_hash(hash);
  a->set_password_changed_at_ms(Now());
  a->set_failed_sign_ins(0);
  a->set_must_change_password(false);
  RETURN_IF_ERROR(Save(*a));
  // Other sessions of the person end; this one goes on.
  const std::string keep = keep_token.empty() ? std::string() : TokenKey(keep_token);
  runtime::StateWrite w;
  RETURN_IF_ERROR(options_.store->Scan(kSessionPrefix, [&](std::string_view k, std::string_view v) {
    v1::StaffSession s;
    if (s.ParseFromArray(v.data(), static_cast<int>(v.size())) && s.staff_id() == staff_id &&
        k != keep) {
      w.Delete(std::string(k));
    }
    return true;
  }));
  RETURN_IF_ERROR(options_.store->Write(w));
  Record("password changed", staff_id, "by the person");
  return Status::Ok();
}

Status StaffDirectory::SetLanguage(const std::string& staff_id, const std::string& language) {
  if (language.size() < 2 || language.size() > 3 ||
      language.find_first_not_of("abcdefghijklmnopqrstuvwxyz") != std::string::npos) {
    return Status::InvalidArgument("language", "a language code is 2 or 3 lower-case letters");
  }
  ASSIGN_OR_RETURN(auto a, FindById(staff_id));
  if (!a.has_value()) {
    return Status(StatusCode::kNotFound, "no such account on this node", "staff_id");
  }
  a->set_language(language);
  return Save(*a);
}

Status StaffDirectory::SetRoles(const std::string& login, const std::vector<v1::ActorRole>& roles,
                                const std::string& by) {
  RETURN_IF_ERROR(CheckRoles(roles));
  ASSIGN_OR_RETURN(auto a, FindByLogin(login));
  if (!a.has_value()) {
    return Status(StatusCode::kNotFound, "no account with login '" + login + "' on this node",
                  "login");
  }
  if (a->staff_id() == by) {
    return Status(StatusCode::kFailedPrecondition,
                  "you cannot change your own roles (another node admin can)", "login");
  }
  if (IsLastAdmin(*a) &&
      std::find(roles.begin(), roles.end(), v1::ACTOR_ROLE_NODE_ADMIN) == roles.end()) {
    return Status(StatusCode::kFailedPrecondition,
                  "'" + a->login() + "' is the last enabled node admin; add another first",
                  "roles");
  }
  SetRolesOf(&*a, roles);
  RETURN_IF_ERROR(Save(*a));
  Record("roles changed", a->staff_id(), "now " + core::RoleList(roles) + "; by " + by);
  return Status::Ok();
}

std::vector<v1::StaffAccount> StaffDirectory::List() const {
  std::vector<v1::StaffAccount> out;
  (void)options_.store->Scan(kAccountPrefix, [&](std::string_view, std::string_view v) {
    v1::StaffAccount a;
    if (a.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      a.clear_password_hash();
      out.push_back(std::move(a));
    }
    return true;
  });
  std::sort(out.begin(), out.end(),
            [](const auto& x, const auto& y) { return x.login() < y.login(); });
  return out;
}

Result<SignedIn> StaffDirectory::SignIn(const std::string& login, const std::string& password) {
  const int64_t now = Now();
  ASSIGN_OR_RETURN(auto a, FindByLogin(login));
  // Every refusal costs one argon2id verification and names no field, so neither the answer nor
  // its time tells an unknown login from a disabled, locked or real one.
  auto refuse = [&](const std::string& staff_id, const std::string& detail) {
    if (crypto_pwhash_str_verify(dummy_hash_.c_str(), password.data(), password.size()) == 0) {
      // Cannot match: nobody's password made this hash. The time spent is the point.
    }
    Record("sign-in refused", staff_id, detail);
    return Status::PermissionDenied(kSignInRefused);
  };
  if (!a.has_value()) {
    return refuse("", "unknown login (" + std::to_string(login.size()) + " characters)");
  }
  if (a->disabled()) {
    return refuse(a->staff_id(), "the account is disabled");
  }
  if (a->locked_until_ms() > now) {
    return refuse(a->staff_id(),
                  "the account is locked for another " +
                      std::to_string((a->locked_until_ms() - now + 59'999) / 60'000) + " min");
  }
  if (a->locked_until_ms() != 0) {  // a lockout that ran out starts a fresh count
    a->set_locked_until_ms(0);
    a->set_failed_sign_ins(0);
  }
  if (crypto_pwhash_str_verify(a->password_hash().c_str(), password.data(), password.size()) != 0) {
    a->set_failed_sign_ins(a->failed_sign_ins() + 1);
    std::string detail = "wrong password (" + std::to_string(a->failed_sign_ins()) + " in a row)";
    if (a->failed_sign_ins() >= lockout_after_) {
      a->set_locked_until_ms(now + lockout_ms_);
      detail += "; account locked for " + std::to_string(lockout_ms_ / 60'000) + " min";
    }
    RETURN_IF_ERROR(Save(*a));
    Record("sign-in refused", a->staff_id(), detail);
    return Status::PermissionDenied(kSignInRefused);
  }
  a->set_failed_sign_ins(0);
  RETURN_IF_ERROR(Save(*a));
  SignedIn s;
  s.token = options_.node_id + "." + RandomHex(32);
  v1::StaffSession session;
  session.set_staff_id(a->staff_id());
  session.set_started_at_ms(now);
  session.set_last_used_at_ms(now);
  runtime::StateWrite w;
  w.Put(TokenKey(s.token), session.SerializeAsString());
  RETURN_IF_ERROR(options_.store->Write(w));
  s.expires_at_ms = std::min(now + idle_ms_, now + max_ms_);
  a->clear_password_hash();
  s.account = std::move(*a);
  Record("sign-in", s.account.staff_id(), "");
  return s;
}

Result<SignedIn> StaffDirectory::Authenticate(const std::string& token) {
  constexpr char kSignInAgain[] = "; sign in again (passagectl login)";
  if (token.empty()) {
    return Status::PermissionDenied("you are not signed in" + std::string(kSignInAgain), "session");
  }
  const auto dot = token.find('.');
  if (dot == std::string::npos || dot == 0) {
    Record("session refused", "", "malformed token");
    return Status::PermissionDenied("the session token is malformed" + std::string(kSignInAgain),
                                    "session");
  }
  if (token.substr(0, dot) != options_.node_id) {
    // The prefix is the caller's text: shown only when it looks like an agency id.
    std::string other = token.substr(0, std::min<size_t>(dot, 64));
    for (char c : other) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
        other = "?";
        break;
      }
    }
    Record("session refused", "", "a token of node '" + other + "'");
    return Status::PermissionDenied("the session belongs to another node ('" + other +
                                        "'), not to " + options_.node_id + kSignInAgain,
                                    "session");
  }
  const std::string key = TokenKey(token);
  ASSIGN_OR_RETURN(auto bytes, options_.store->Get(key));
  if (!bytes.has_value()) {
    Record("session refused", "", "unknown token (signed out, ended or forged)");
    return Status::PermissionDenied(
        "the session is not valid on this node (signed out, ended by an admin, or never issued)" +
            std::string(kSignInAgain),
        "session");
  }
  v1::StaffSession session;
  if (!session.ParseFromString(*bytes)) {
    return Status::Corruption("a session in the node's store does not parse");
  }
  const int64_t now = Now();
  std::string expired;
  if (now - session.started_at_ms() >= max_ms_) {
    expired = "the session reached its limit of " + std::to_string(max_ms_ / 3'600'000) + " h";
  } else if (now - session.last_used_at_ms() >= idle_ms_) {
    expired = "the session was idle for more than " + std::to_string(idle_ms_ / 60'000) + " min";
  }
  ASSIGN_OR_RETURN(auto a, FindById(session.staff_id()));
  if (expired.empty() && (!a.has_value() || a->disabled())) {
    expired = "the account is disabled";
  }
  if (!expired.empty()) {
    runtime::StateWrite w;
    w.Delete(key);
    RETURN_IF_ERROR(options_.store->Write(w));
    Record("session refused", session.staff_id(), expired);
    return Status::PermissionDenied(expired + kSignInAgain, "session");
  }
  session.set_last_used_at_ms(now);
  runtime::StateWrite w;
  w.Put(key, session.SerializeAsString());
  RETURN_IF_ERROR(options_.store->Write(w));
  SignedIn s;
  a->clear_password_hash();
  s.account = std::move(*a);
  s.expires_at_ms = std::min(now + idle_ms_, session.started_at_ms() + max_ms_);
  return s;
}

Status StaffDirectory::SignOut(const std::string& token) {
  auto who = Authenticate(token);
  runtime::StateWrite w;
  w.Delete(TokenKey(token));
  RETURN_IF_ERROR(options_.store->Write(w));
  if (who.ok()) {
    Record("sign-out", who->account.staff_id(), "");
  }
  return Status::Ok();
}

Status StaffDirectory::EndSessionsOf(const std::string& staff_id) {
  runtime::StateWrite w;
  RETURN_IF_ERROR(options_.store->Scan(kSessionPrefix, [&](std::string_view k, std::string_view v) {
    v1::StaffSession s;
    if (s.ParseFromArray(v.data(), static_cast<int>(v.size())) && s.staff_id() == staff_id) {
      w.Delete(std::string(k));
    }
    return true;
  }));
  return options_.store->Write(w);
}

void StaffDirectory::Record(const std::string& what, const std::string& staff_id,
                            const std::string& detail) {
  v1::SecurityRecord r;
  r.set_at_ms(Now());
  r.set_what(what);
  r.set_staff_id(staff_id);
  r.set_detail(detail);
  runtime::StateWrite w;
  w.Put(kLogPrefix + LogKeySuffix(r.at_ms(), ++log_counter_) + "-" + RandomHex(4),
        r.SerializeAsString());
  (void)options_.store->Write(w);
}

std::vector<v1::SecurityRecord> StaffDirectory::SecurityLog(size_t limit) const {
  std::vector<v1::SecurityRecord> all;
  (void)options_.store->Scan(kLogPrefix, [&](std::string_view, std::string_view v) {
    v1::SecurityRecord r;
    if (r.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      all.push_back(std::move(r));
    }
    return true;
  });
  if (limit != 0 && all.size() > limit) {
    all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(limit));
  }
  return all;
}

}  // namespace passage::node
