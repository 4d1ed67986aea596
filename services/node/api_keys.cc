#include "services/node/api_keys.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "core/roles.h"
#include "services/runtime/sealing.h"

namespace passage::node {
namespace {

namespace v1 = passage::v1;

constexpr char kClientPrefix[] = "apikey/c/";
constexpr char kKeyPrefix[] = "psk_";
constexpr size_t kIdHex = 12;      // "k-" + 12 hex
constexpr size_t kSecretHex = 64;  // 32 random bytes
constexpr char kRefused[] = "the API key is not valid or was revoked (ask the node admin for a key)";

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  return runtime::ToHex(raw);
}

std::string KeyHash(const std::string& key) {
  unsigned char h[32];
  crypto_generichash(h, sizeof(h), reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                     nullptr, 0);
  return std::string(reinterpret_cast<char*>(h), sizeof(h));
}

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::unique_ptr<ApiKeys>> ApiKeys::Open(ApiKeyOptions options) {
  if (options.store == nullptr) {
    return Status::Internal("ApiKeys needs a store");
  }
  if (!options.clock) {
    options.clock = SystemNowMs;
  }
  if (sodium_init() < 0) {
    return Status::Internal("libsodium failed to initialise");
  }
  return std::unique_ptr<ApiKeys>(new ApiKeys(std::move(options)));
}

Result<NewApiKey> ApiKeys::Create(const std::string& name, const std::vector<v1::ActorRole>& roles,
                                  uint32_t rate_per_minute, const std::string& by) {
  if (name.empty() || name.size() > 64) {
    return Status::InvalidArgument("name", "name the external system in 1 to 64 characters");
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      return Status::InvalidArgument("name", "may not hold control characters");
    }
  }
  if (roles.empty()) {
    return Status::InvalidArgument("roles", "an API key needs at least one role");
  }
  std::set<int> unique;
  for (auto r : roles) {
    if (r == v1::ACTOR_ROLE_UNSPECIFIED || r == v1::ACTOR_ROLE_SYSTEM ||
        r == v1::ACTOR_ROLE_NODE_ADMIN || !v1::ActorRole_IsValid(r)) {
      return Status::InvalidArgument("roles", "'" + core::RoleWords(r) +
                                                  "' is not a role an API key may hold (work "
                                                  "roles only: no node admin)");
    }
    unique.insert(r);
  }
  if (rate_per_minute > kMaxApiRatePerMinute) {
    return Status::InvalidArgument("rate_per_minute", "at most " +
                                                          std::to_string(kMaxApiRatePerMinute) +
                                                          " requests a minute");
  }
  NewApiKey out;
  v1::ApiClient& c = out.client;
  c.set_key_id("k-" + RandomHex(kIdHex / 2));
  c.set_name(name);
  for (int r : unique) {
    c.add_roles(static_cast<v1::ActorRole>(r));
  }
  c.set_rate_per_minute(rate_per_minute == 0 ? kDefaultApiRatePerMinute : rate_per_minute);
  c.set_created_at_ms(Now());
  c.set_created_by(by);
  out.key = kKeyPrefix + c.key_id().substr(2) + "_" + RandomHex(kSecretHex / 2);
  c.set_key_hash(KeyHash(out.key));
  runtime::StateWrite w;
  w.Put(kClientPrefix + c.key_id(), c.SerializeAsString());
  RETURN_IF_ERROR(options_.store->Write(w));
  return out;
}

Status ApiKeys::Revoke(const std::string& key_id, const std::string& by) {
  ASSIGN_OR_RETURN(auto stored, options_.store->Get(kClientPrefix + key_id));
  v1::ApiClient c;
  if (!stored.has_value() || !c.ParseFromString(*stored)) {
    return Status::NotFound("no API key " + key_id + " on this node (passagectl apikey list)");
  }
  if (c.revoked_at_ms() != 0) {
    return Status::FailedPrecondition("API key " + key_id + " was revoked already", "key_id");
  }
  c.set_revoked_at_ms(Now());
  c.set_revoked_by(by);
  runtime::StateWrite w;
  w.Put(kClientPrefix + key_id, c.SerializeAsString());
  buckets_.erase(key_id);
  return options_.store->Write(w);
}

std::vector<v1::ApiClient> ApiKeys::List() const {
  std::vector<v1::ApiClient> out;
  (void)options_.store->Scan(kClientPrefix, [&](std::string_view, std::string_view v) {
    v1::ApiClient c;
    if (c.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      c.clear_key_hash();
      out.push_back(std::move(c));
    }
    return true;
  });
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created_at_ms() != b.created_at_ms() ? a.created_at_ms() < b.created_at_ms()
                                                  : a.key_id() < b.key_id();
  });
  return out;
}

Result<v1::ApiClient> ApiKeys::Authenticate(const std::string& key, std::string* cause) {
  // psk_<12 hex>_<64 hex>
  const size_t want = sizeof(kKeyPrefix) - 1 + kIdHex + 1 + kSecretHex;
  if (key.size() != want || key.compare(0, sizeof(kKeyPrefix) - 1, kKeyPrefix) != 0 ||
      key[sizeof(kKeyPrefix) - 1 + kIdHex] != '_' || !IsHex(key.substr(4, kIdHex)) ||
      !IsHex(key.substr(4 + kIdHex + 1))) {
    *cause = "malformed key";
    return Status::PermissionDenied(kRefused, "api_key");
  }
  const std::string key_id = "k-" + key.substr(4, kIdHex);
  ASSIGN_OR_RETURN(auto stored, options_.store->Get(kClientPrefix + key_id));
  v1::ApiClient c;
  if (!stored.has_value() || !c.ParseFromString(*stored)) {
    *cause = "unknown key id " + key_id;
    return Status::PermissionDenied(kRefused, "api_key");
  }
  const std::string h = KeyHash(key);
  if (c.key_hash().size() != h.size() ||
      sodium_memcmp(c.key_hash().data(), h.data(), h.size()) != 0) {
    *cause = "wrong secret for key id " + key_id;
    return Status::PermissionDenied(kRefused, "api_key");
  }
  if (c.revoked_at_ms() != 0) {
    *cause = "revoked key " + key_id;
    return Status::PermissionDenied(kRefused, "api_key");
  }
  if (Now() - c.last_used_at_ms() > 60'000) {
    c.set_last_used_at_ms(Now());
    runtime::StateWrite w;
    w.Put(kClientPrefix + key_id, c.SerializeAsString());
    (void)options_.store->Write(w);
  }
  c.clear_key_hash();
  return c;
}

Status ApiKeys::Take(const v1::ApiClient& client, int64_t* retry_after_s, bool* first_refusal) {
  const double rate = client.rate_per_minute() == 0 ? kDefaultApiRatePerMinute
                                                    : client.rate_per_minute();
  const double per_ms = rate / 60'000.0;
  const int64_t now = Now();
  auto [it, fresh] = buckets_.try_emplace(client.key_id(), Bucket{rate, now, 0});
  Bucket& b = it->second;
  if (!fresh) {
    b.tokens = std::min(rate, b.tokens + static_cast<double>(now - b.at_ms) * per_ms);
    b.at_ms = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return Status::Ok();
  }
  *first_refusal = now - b.refusal_logged_ms >= 60'000;
  if (*first_refusal) {
    b.refusal_logged_ms = now;
  }
  *retry_after_s = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - b.tokens) / per_ms / 1000.0)));
  return Status(StatusCode::kUnavailable,
                "this API key may make " + std::to_string(static_cast<int>(rate)) +
                    " requests a minute; try again in " + std::to_string(*retry_after_s) + " s",
                "rate_limit");
}

}  // namespace passage::node
