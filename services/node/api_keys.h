#pragma once

// ApiKeys: the API keys of an agency node's external systems (case-management systems such as
// OSCaR or Primero, an agency's own register), kept in the node's own RocksDB
// (runtime::LocalStore, keys under "apikey/"). A key stands for a pseudonymous actor, its key id
// ("k-" + 12 hex), holding the work roles the node admin gave it; events the node publishes for a
// key's requests carry that id as actor_user, as they carry a staff id for a person.
//
// Operation:
//   - Create makes a key "psk_<key id>_<64 hex>" and stores only its BLAKE2b-256 hash with the
//     ApiClient record, so the store alone (a stolen disk) yields no usable key; the key is
//     returned once.
//   - Authenticate finds the record by the key id the key names and compares hashes in constant
//     time; a revoked, unknown or malformed key is PermissionDenied with a reason that does not
//     tell an attacker which part was wrong.
//   - Rate limit: a token bucket per key, `rate_per_minute` tokens, refilled continuously. A
//     request that finds it empty is Unavailable with field "rate_limit"; `retry_after_s` says
//     when one token is back.
//     Buckets live in memory: a restarted node starts every key with a full bucket.
//
// Concurrency: not thread-safe; the node's one thread owns it. Clock injected (ApiKeyOptions::clock).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "passage/v1/staff.pb.h"
#include "services/runtime/local_store.h"

namespace passage::node {

inline constexpr uint32_t kDefaultApiRatePerMinute = 120;
inline constexpr uint32_t kMaxApiRatePerMinute = 6000;

struct ApiKeyOptions {
  runtime::LocalStore* store = nullptr;  // not owned; outlives the registry
  std::function<int64_t()> clock;        // Unix ms; default the system clock
};

// A key that was just made: the record and the key itself (shown once).
struct NewApiKey {
  passage::v1::ApiClient client;
  std::string key;
};

class ApiKeys {
 public:
  static Result<std::unique_ptr<ApiKeys>> Open(ApiKeyOptions options);

  // A new key for the system `name` (1 to 64 printable characters) with `roles` (work roles: not
  // node admin, not system) and `rate_per_minute` (0 = 120; at most 6000). `by` is the node
  // admin's staff id. InvalidArgument naming "name", "roles" or "rate_per_minute".
  Result<NewApiKey> Create(const std::string& name, const std::vector<passage::v1::ActorRole>& roles,
                           uint32_t rate_per_minute, const std::string& by);
  // NotFound for an unknown key id; FailedPrecondition when it was revoked already.
  Status Revoke(const std::string& key_id, const std::string& by);
  // Every key ever made, oldest first (never the key itself).
  std::vector<passage::v1::ApiClient> List() const;

  // A request's key: the client record, or PermissionDenied ("the API key is not valid or was
  // revoked") with `cause` set to the true reason for the security log.
  Result<passage::v1::ApiClient> Authenticate(const std::string& key, std::string* cause);
  // Takes one token of `client`'s bucket: OK, or Unavailable (field "rate_limit") with
  // *retry_after_s set (at least 1).
  // *first_refusal: the first refusal of this key in a minute (for the security log).
  Status Take(const passage::v1::ApiClient& client, int64_t* retry_after_s, bool* first_refusal);

 private:
  explicit ApiKeys(ApiKeyOptions options) : options_(std::move(options)) {}
  int64_t Now() const { return options_.clock(); }

  struct Bucket {
    double tokens = 0;
    int64_t at_ms = 0;
    int64_t refusal_logged_ms = 0;
  };
  ApiKeyOptions options_;
  std::map<std::string, Bucket> buckets_;  // by key id
};

}  // namespace passage::node
