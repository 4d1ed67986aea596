#include "broker/merkle/tree_head.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace passage::merkle {
namespace {

constexpr char kDomain[] = "PSG-STH1";
constexpr size_t kDomainBytes = sizeof(kDomain) - 1;
constexpr size_t kSigningBytes = kDomainBytes + 8 + 32 + 8;

static_assert(TreeHeadSigner::kSeedBytes == crypto_sign_SEEDBYTES);
static_assert(TreeHeadSigner::kPublicKeyBytes == crypto_sign_PUBLICKEYBYTES);
static_assert(TreeHeadSigner::kSignatureBytes == crypto_sign_BYTES);

// libsodium must be initialised before use; sodium_init is idempotent and thread-safe, and only
// fails when the system has no usable randomness source, which leaves nothing safe to do.
void EnsureSodium() {
  static const bool ready = [] {
    if (sodium_init() < 0) {
      std::fprintf(stderr, "passage::merkle: libsodium failed to initialise\n");
      std::abort();
    }
    return true;
  }();
  (void)ready;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

void PutBe64(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

}  // namespace

std::string TreeHeadSigningBytes(const TreeHead& head) {
  std::string out(kSigningBytes, '\0');
  char* p = out.data();
  std::memcpy(p, kDomain, kDomainBytes);
  p += kDomainBytes;
  PutBe64(head.tree_size, p);
  p += 8;
  std::memcpy(p, head.root.data(), head.root.size());
  p += head.root.size();
  PutBe64(static_cast<uint64_t>(head.timestamp_ms), p);
  return out;
}

Result<TreeHeadSigner> TreeHeadSigner::FromSeed(std::string_view seed) {
  if (seed.size() != kSeedBytes) {
    return Status::InvalidArgument("seed", "an Ed25519 signing seed is " +
                                               std::to_string(kSeedBytes) + " bytes, got " +
                                               std::to_string(seed.size()));
  }
  EnsureSodium();
  TreeHeadSigner signer;
  signer.public_key_.assign(crypto_sign_PUBLICKEYBYTES, '\0');
  signer.secret_key_.assign(crypto_sign_SECRETKEYBYTES, '\0');
  crypto_sign_seed_keypair(reinterpret_cast<unsigned char*>(signer.public_key_.data()),
                           reinterpret_cast<unsigned char*>(signer.secret_key_.data()),
                           Bytes(seed));
  return signer;
}

std::string TreeHeadSigner::GenerateSeed() {
  EnsureSodium();
  std::string seed(kSeedBytes, '\0');
  randombytes_buf(seed.data(), seed.size());
  return seed;
}

std::string TreeHeadSigner::Sign(const TreeHead& head) const {
  if (secret_key_.size() != crypto_sign_SECRETKEYBYTES) {
    // Only a default-constructed signer gets here; FromSeed always sets the key.
    std::fprintf(stderr, "passage::merkle: TreeHeadSigner used without a key (use FromSeed)\n");
    std::abort();
  }
  const std::string message = TreeHeadSigningBytes(head);
  std::string signature(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr, Bytes(message),
                       message.size(), Bytes(secret_key_));
  return signature;
}

Status VerifyTreeHead(const TreeHead& head, std::string_view signature,
                      std::string_view public_key) {
  if (public_key.size() != TreeHeadSigner::kPublicKeyBytes) {
    return Status::InvalidArgument(
        "public_key", "an Ed25519 public key is " +
                          std::to_string(TreeHeadSigner::kPublicKeyBytes) + " bytes, got " +
                          std::to_string(public_key.size()));
  }
  if (signature.size() != TreeHeadSigner::kSignatureBytes) {
    return Status::InvalidArgument(
        "signature", "an Ed25519 signature is " + std::to_string(TreeHeadSigner::kSignatureBytes) +
                         " bytes, got " + std::to_string(signature.size()));
  }
  EnsureSodium();
  const std::string message = TreeHeadSigningBytes(head);
  if (crypto_sign_verify_detached(Bytes(signature), Bytes(message), message.size(),
                                  Bytes(public_key)) != 0) {
    return Status::Corruption("tree head signature does not verify for tree size " +
                              std::to_string(head.tree_size) + ", root " + ToHex(head.root) +
                              ", timestamp " + std::to_string(head.timestamp_ms) +
                              " ms: the head was altered or signed by another key");
  }
  return Status::Ok();
}

}  // namespace passage::merkle
