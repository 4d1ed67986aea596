#pragma once

// Signed tree heads: Ed25519 (libsodium) signatures over a fixed byte string that commits to the
// tree size, root and time. The signed bytes (docs/event-log-format.md):
//
//   "PSG-STH1" (8 ASCII bytes) || be64 tree_size || root (32 bytes) || be64 timestamp_ms
//
// Thread-safety: TreeHeadSigner is immutable after creation and safe to share across threads.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "broker/merkle/merkle.h"
#include "core/status.h"

namespace passage::merkle {

struct TreeHead {
  uint64_t tree_size = 0;
  Hash root{};
  int64_t timestamp_ms = 0;
};

std::string TreeHeadSigningBytes(const TreeHead& head);

class TreeHeadSigner {
 public:
  static constexpr size_t kSeedBytes = 32;
  static constexpr size_t kPublicKeyBytes = 32;
  static constexpr size_t kSignatureBytes = 64;

  // From a 32-byte seed (kept in the broker's key file).
  static Result<TreeHeadSigner> FromSeed(std::string_view seed);
  // A fresh random seed.
  static std::string GenerateSeed();

  std::string Sign(const TreeHead& head) const;  // 64 bytes
  const std::string& public_key() const { return public_key_; }

 private:
  std::string secret_key_;  // libsodium 64-byte secret key
  std::string public_key_;
};

// OK when `signature` is a valid Ed25519 signature of `head` by `public_key`; otherwise says why.
Status VerifyTreeHead(const TreeHead& head, std::string_view signature, std::string_view public_key);

}  // namespace passage::merkle
