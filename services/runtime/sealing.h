#pragma once

// Sealing of personal data (docs/security.md): PersonalData is encrypted on the producing agency's machine
// with a fresh per-case data key (XChaCha20-Poly1305), and the data key is wrapped with a libsodium
// sealed box for each agency allowed to read it. The broker, the log and the statistics only ever see
// ciphertext. A person key (keyed BLAKE2b over normalised name, date of birth and sex, keyed with a
// secret shared by NRM members) lets agencies notice the same person across cases without learning
// who it is.
//
// Thread-safety: free functions, thread-safe.

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "passage/v1/case.pb.h"

namespace passage::runtime {

struct SealingKeyPair {
  std::string public_key;  // 32 bytes
  std::string secret_key;  // 32 bytes
};

SealingKeyPair GenerateSealingKeyPair();
std::string ToHex(std::string_view bytes);
Result<std::string> FromHex(std::string_view hex, std::string_view field);

// Seals `pd` for each agency id -> sealing public key in `readers`. `person_secret` (32 bytes) keys the
// person key; empty = no person key.
Result<passage::v1::SealedPersonalData> Seal(const passage::v1::PersonalData& pd,
                                             const std::map<std::string, std::string>& readers,
                                             std::string_view person_secret);

// Seals any bytes as Seal does (no person key): case notes, a document's title.
Result<passage::v1::SealedPersonalData> SealBytes(std::string_view plain,
                                                  const std::map<std::string, std::string>& readers);

// Opens bytes sealed by SealBytes as `agency_id` (PermissionDenied, Corruption as Unseal).
Result<std::string> UnsealBytes(const passage::v1::SealedPersonalData& sealed,
                                std::string_view agency_id, const SealingKeyPair& keys);

// A document: `meta` sealed as SealBytes does, and `content` encrypted with the same data key
// under a nonce of its own (so a re-wrap of `meta` opens the content for new readers too).
struct SealedContent {
  passage::v1::SealedPersonalData meta;
  std::string content_nonce;  // 24 bytes
  std::string content;        // ciphertext: the content's size + 16 bytes
};
Result<SealedContent> SealWithContent(std::string_view meta, std::string_view content,
                                      const std::map<std::string, std::string>& readers);

// The content of a SealWithContent, opened with the data key `sealed` wraps for `agency_id`.
Result<std::string> OpenContent(const passage::v1::SealedPersonalData& sealed,
                                std::string_view content_nonce, std::string_view content,
                                std::string_view agency_id, const SealingKeyPair& keys);

// Opens `sealed` as `agency_id`. PermissionDenied when no key was wrapped for it; Corruption when the
// ciphertext was altered.
Result<passage::v1::PersonalData> Unseal(const passage::v1::SealedPersonalData& sealed,
                                         std::string_view agency_id, const SealingKeyPair& keys);

// The data key of `sealed`, opened with `self_id`'s own wrapped key, wrapped again for each agency
// id -> sealing public key in `readers` (the seal itself is unchanged). For escrow
// (PersonalKeysEscrowed) and for sharing with new readers without a new key.
Result<std::vector<passage::v1::WrappedKey>> WrapDataKey(
    const passage::v1::SealedPersonalData& sealed, std::string_view self_id,
    const SealingKeyPair& self_keys, const std::map<std::string, std::string>& readers);

// `sealed` with the same nonce and ciphertext, its wrapped keys replaced by `self_id`'s own and
// one for each of `readers`: whoever holds an escrowed key of this seal can still open it.
Result<passage::v1::SealedPersonalData> Rewrap(const passage::v1::SealedPersonalData& sealed,
                                               std::string_view self_id,
                                               const SealingKeyPair& self_keys,
                                               const std::map<std::string, std::string>& readers);

// Opens `sealed` with `key` (a wrapped key for this agency's sealing key pair, e.g. one the broker
// released from escrow). Corruption when the key does not open or the ciphertext was altered.
Result<passage::v1::PersonalData> UnsealWithKey(const passage::v1::SealedPersonalData& sealed,
                                                const passage::v1::WrappedKey& key,
                                                const SealingKeyPair& keys);

// The name as the person key sees it (docs/security.md, "duplicate-person check"): given and
// family names split into words at anything but letters and digits (other scripts kept as they
// are), lower-cased, doubled letters made single, common Urdu/English transliteration variants
// mapped to one spelling ("Mohammed", "Muhammad", "Mohd" -> "muhamad"), the words sorted so the
// order of given and family names does not matter, joined by single spaces.
std::string NormalisedName(const passage::v1::PersonalData& pd);

// Keyed BLAKE2b-256 of NormalisedName | date of birth | sex, keyed with the NRM's shared secret.
// Empty when there is no name to key on (or no secret): such a person is never matched.
std::string PersonKey(const passage::v1::PersonalData& pd, passage::v1::Sex sex,
                      std::string_view person_secret);

}  // namespace passage::runtime
