#include "services/runtime/sealing.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <vector>

namespace passage::runtime {
namespace {

void EnsureSodium() {
  static const bool ok = sodium_init() >= 0;
  (void)ok;
}

// Words of `s`: runs of ASCII letters and digits, lower-cased, and of bytes of other scripts
// (UTF-8 sequences, kept as they are); anything else separates words.
std::vector<std::string> Words(std::string_view s) {
  std::vector<std::string> out;
  std::string word;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) {
      word.push_back(u < 0x80 ? static_cast<char>(std::tolower(u)) : c);
    } else if (!word.empty()) {
      out.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) {
    out.push_back(std::move(word));
  }
  return out;
}

// One spelling for the common transliterations of a name word (after doubled letters are made
// single). A short list on purpose: see docs/security.md for what it misses.
std::string Canonical(std::string w) {
  std::string single;
  for (char c : w) {
    if (single.empty() || single.back() != c || static_cast<unsigned char>(c) >= 0x80) {
      single.push_back(c);
    }
  }
  static const std::map<std::string, std::string> kVariants = {
      {"muhamad", "muhamad"}, {"mohamad", "muhamad"}, {"mohamed", "muhamad"},
      {"muhamed", "muhamad"}, {"mohd", "muhamad"},    {"md", "muhamad"},
      {"mohammad", "muhamad"}, {"ahmed", "ahmad"},    {"husain", "husain"},
      {"husein", "husain"},   {"husian", "husain"},   {"hosain", "husain"},
      {"fatimah", "fatima"},  {"fatma", "fatima"},    {"ayesha", "aisha"},
      {"aysha", "aisha"},     {"ayisha", "aisha"},    {"aishah", "aisha"},
      {"rehman", "rahman"},   {"rahmaan", "rahman"},  {"zaynab", "zainab"},
      {"zenab", "zainab"},    {"begam", "begum"},     {"nor", "nur"},
      {"yusuf", "yusuf"},     {"yousuf", "yusuf"},    {"yousaf", "yusuf"},
      {"usuf", "yusuf"},      {"abdul", "abdul"},     {"abdal", "abdul"},
  };
  auto it = kVariants.find(single);
  return it == kVariants.end() ? single : it->second;
}

}  // namespace

SealingKeyPair GenerateSealingKeyPair() {
  EnsureSodium();
  unsigned char pk[crypto_box_PUBLICKEYBYTES];
  unsigned char sk[crypto_box_SECRETKEYBYTES];
  crypto_box_keypair(pk, sk);
  return SealingKeyPair{std::string(reinterpret_cast<char*>(pk), sizeof(pk)),
                        std::string(reinterpret_cast<char*>(sk), sizeof(sk))};
}

std::string ToHex(std::string_view bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

Result<std::string> FromHex(std::string_view hex, std::string_view field) {
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) {
    hex.remove_suffix(1);
  }
  if (hex.size() % 2 != 0) {
    return Status::InvalidArgument(std::string(field), "is not hexadecimal");
  }
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int a = nib(hex[i]);
    int b = nib(hex[i + 1]);
    if (a < 0 || b < 0) {
      return Status::InvalidArgument(std::string(field), "is not hexadecimal");
    }
    out.push_back(static_cast<char>(a * 16 + b));
  }
  return out;
}

namespace {

using DataKey = std::array<unsigned char, crypto_aead_xchacha20poly1305_ietf_KEYBYTES>;

std::string Encrypt(std::string_view plain, const DataKey& key, std::string* nonce_out) {
  unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  randombytes_buf(nonce, sizeof(nonce));
  std::string cipher(plain.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<unsigned char*>(cipher.data()), &clen,
                                             reinterpret_cast<const unsigned char*>(plain.data()),
                                             plain.size(), nullptr, 0, nullptr, nonce, key.data());
  cipher.resize(clen);
  nonce_out->assign(reinterpret_cast<char*>(nonce), sizeof(nonce));
  return cipher;
}

Result<std::string> Decrypt(std::string_view cipher, std::string_view nonce, const DataKey& key,
                            std::string_view what) {
  if (nonce.size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES ||
      cipher.size() < crypto_aead_xchacha20poly1305_ietf_ABYTES) {
    return Status::Corruption(std::string(what) + " is malformed");
  }
  std::string plain(cipher.size(), '\0');
  unsigned long long plen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &plen, nullptr,
          reinterpret_cast<const unsigned char*>(cipher.data()), cipher.size(), nullptr, 0,
          reinterpret_cast<const unsigned char*>(nonce.data()), key.data()) != 0) {
    sodium_memzero(plain.data(), plain.size());
    return Status::Corruption(std::string(what) + " was altered (authentication failed)");
  }
  plain.resize(plen);
  return plain;
}

Result<std::vector<passage::v1::WrappedKey>> WrapFor(
    const DataKey& key, const std::map<std::string, std::string>& readers);

// `plain` encrypted with a fresh data key, wrapped for each reader; the key is left in `key`.
Result<passage::v1::SealedPersonalData> SealWithKey(std::string_view plain,
                                                    const std::map<std::string, std::string>& readers,
                                                    DataKey* key) {
  EnsureSodium();
  if (readers.empty()) {
    return Status::InvalidArgument("readers",
                                   "personal data must be sealed for at least one agency");
  }
  crypto_aead_xchacha20poly1305_ietf_keygen(key->data());
  passage::v1::SealedPersonalData out;
  out.set_scheme(1);
  std::string nonce;
  out.set_ciphertext(Encrypt(plain, *key, &nonce));
  out.set_nonce(std::move(nonce));
  ASSIGN_OR_RETURN(auto wrapped, WrapFor(*key, readers));
  for (auto& w : wrapped) {
    *out.add_wrapped_keys() = std::move(w);
  }
  return out;
}

}  // namespace

Result<passage::v1::SealedPersonalData> Seal(const passage::v1::PersonalData& pd,
                                             const std::map<std::string, std::string>& readers,
                                             std::string_view person_secret) {
  (void)person_secret;  // the person key is set by the caller (PersonKey)
  std::string plain = pd.SerializeAsString();
  auto out = SealBytes(plain, readers);
  sodium_memzero(plain.data(), plain.size());
  return out;
}

Result<passage::v1::SealedPersonalData> SealBytes(std::string_view plain,
                                                  const std::map<std::string, std::string>& readers) {
  DataKey key;
  auto out = SealWithKey(plain, readers, &key);
  sodium_memzero(key.data(), key.size());
  return out;
}

Result<SealedContent> SealWithContent(std::string_view meta, std::string_view content,
                                      const std::map<std::string, std::string>& readers) {
  DataKey key;
  auto sealed = SealWithKey(meta, readers, &key);
  if (!sealed.ok()) {
    sodium_memzero(key.data(), key.size());
    return sealed.status();
  }
  SealedContent out;
  out.meta = std::move(*sealed);
  out.content = Encrypt(content, key, &out.content_nonce);
  sodium_memzero(key.data(), key.size());
  return out;
}

namespace {

Status OpenKey(const passage::v1::WrappedKey& w, const SealingKeyPair& keys, DataKey* key) {
  if (w.sealed_key().size() != key->size() + crypto_box_SEALBYTES ||
      keys.public_key.size() != crypto_box_PUBLICKEYBYTES ||
      keys.secret_key.size() != crypto_box_SECRETKEYBYTES ||
      crypto_box_seal_open(
          key->data(), reinterpret_cast<const unsigned char*>(w.sealed_key().data()),
          w.sealed_key().size(), reinterpret_cast<const unsigned char*>(keys.public_key.data()),
          reinterpret_cast<const unsigned char*>(keys.secret_key.data())) != 0) {
    return Status::Corruption("the wrapped data key does not open with this agency's sealing key");
  }
  return Status::Ok();
}

Result<std::vector<passage::v1::WrappedKey>> WrapFor(
    const DataKey& key, const std::map<std::string, std::string>& readers) {
  std::vector<passage::v1::WrappedKey> out;
  for (const auto& [agency, pk] : readers) {
    if (pk.size() != crypto_box_PUBLICKEYBYTES) {
      return Status::InvalidArgument("sealing_public_key",
                                     "the sealing key of " + agency + " is not 32 bytes");
    }
    std::string wrapped(key.size() + crypto_box_SEALBYTES, '\0');
    crypto_box_seal(reinterpret_cast<unsigned char*>(wrapped.data()), key.data(), key.size(),
                    reinterpret_cast<const unsigned char*>(pk.data()));
    passage::v1::WrappedKey w;
    w.set_agency_id(agency);
    w.set_sealed_key(std::move(wrapped));
    out.push_back(std::move(w));
  }
  return out;
}

const passage::v1::WrappedKey* KeyOf(const passage::v1::SealedPersonalData& sealed,
                                     std::string_view agency_id) {
  for (const auto& w : sealed.wrapped_keys()) {
    if (w.agency_id() == agency_id) {
      return &w;
    }
  }
  return nullptr;
}

}  // namespace

Result<std::vector<passage::v1::WrappedKey>> WrapDataKey(
    const passage::v1::SealedPersonalData& sealed, std::string_view self_id,
    const SealingKeyPair& self_keys, const std::map<std::string, std::string>& readers) {
  EnsureSodium();
  const passage::v1::WrappedKey* mine = KeyOf(sealed, self_id);
  if (mine == nullptr) {
    return Status::PermissionDenied("the personal data is not sealed for " + std::string(self_id));
  }
  DataKey key;
  RETURN_IF_ERROR(OpenKey(*mine, self_keys, &key));
  auto out = WrapFor(key, readers);
  sodium_memzero(key.data(), key.size());
  return out;
}

Result<passage::v1::SealedPersonalData> Rewrap(const passage::v1::SealedPersonalData& sealed,
                                               std::string_view self_id,
                                               const SealingKeyPair& self_keys,
                                               const std::map<std::string, std::string>& readers) {
  std::map<std::string, std::string> all = readers;
  all[std::string(self_id)] = self_keys.public_key;
  ASSIGN_OR_RETURN(auto keys, WrapDataKey(sealed, self_id, self_keys, all));
  passage::v1::SealedPersonalData out = sealed;
  out.clear_wrapped_keys();
  for (auto& w : keys) {
    *out.add_wrapped_keys() = std::move(w);
  }
  return out;
}

Result<passage::v1::PersonalData> UnsealWithKey(const passage::v1::SealedPersonalData& sealed,
                                                const passage::v1::WrappedKey& wrapped,
                                                const SealingKeyPair& keys) {
  EnsureSodium();
  DataKey key;
  RETURN_IF_ERROR(OpenKey(wrapped, keys, &key));
  auto plain = Decrypt(sealed.ciphertext(), sealed.nonce(), key, "sealed personal data");
  sodium_memzero(key.data(), key.size());
  if (!plain.ok()) {
    return plain.status();
  }
  passage::v1::PersonalData pd;
  const bool parsed = pd.ParseFromString(*plain);
  sodium_memzero(plain->data(), plain->size());
  if (!parsed) {
    return Status::Corruption("sealed personal data does not parse");
  }
  return pd;
}

Result<std::string> UnsealBytes(const passage::v1::SealedPersonalData& sealed,
                                std::string_view agency_id, const SealingKeyPair& keys) {
  EnsureSodium();
  const passage::v1::WrappedKey* mine = KeyOf(sealed, agency_id);
  if (mine == nullptr) {
    return Status::PermissionDenied("it was not sealed for " + std::string(agency_id));
  }
  DataKey key;
  RETURN_IF_ERROR(OpenKey(*mine, keys, &key));
  auto plain = Decrypt(sealed.ciphertext(), sealed.nonce(), key, "the sealed data");
  sodium_memzero(key.data(), key.size());
  return plain;
}

Result<std::string> OpenContent(const passage::v1::SealedPersonalData& sealed,
                                std::string_view content_nonce, std::string_view content,
                                std::string_view agency_id, const SealingKeyPair& keys) {
  EnsureSodium();
  const passage::v1::WrappedKey* mine = KeyOf(sealed, agency_id);
  if (mine == nullptr) {
    return Status::PermissionDenied("it was not sealed for " + std::string(agency_id));
  }
  DataKey key;
  RETURN_IF_ERROR(OpenKey(*mine, keys, &key));
  auto plain = Decrypt(content, content_nonce, key, "the document's content");
  sodium_memzero(key.data(), key.size());
  return plain;
}

Result<passage::v1::PersonalData> Unseal(const passage::v1::SealedPersonalData& sealed,
                                         std::string_view agency_id, const SealingKeyPair& keys) {
  const passage::v1::WrappedKey* mine = KeyOf(sealed, agency_id);
  if (mine == nullptr) {
    return Status::PermissionDenied("the personal data of this case was not shared with " +
                                    std::string(agency_id));
  }
  return UnsealWithKey(sealed, *mine, keys);
}

std::string NormalisedName(const passage::v1::PersonalData& pd) {
  std::vector<std::string> words = Words(pd.given_name());
  for (auto& w : Words(pd.family_name())) {
    words.push_back(std::move(w));
  }
  for (auto& w : words) {
    w = Canonical(std::move(w));
  }
  std::sort(words.begin(), words.end());
  std::string out;
  for (const auto& w : words) {
    out += (out.empty() ? "" : " ") + w;
  }
  return out;
}

std::string PersonKey(const passage::v1::PersonalData& pd, passage::v1::Sex sex,
                      std::string_view person_secret) {
  EnsureSodium();
  const std::string name = NormalisedName(pd);
  if (name.empty() || person_secret.empty()) {
    return {};
  }
  std::string dob;
  for (char c : pd.date_of_birth()) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      dob.push_back(c);  // "2001-03-04", "2001/03/04" and "20010304" are one date
    }
  }
  std::string id = "v2|" + name + "|" + dob + "|" + std::to_string(static_cast<int>(sex));
  unsigned char out[32];
  crypto_generichash(out, sizeof(out), reinterpret_cast<const unsigned char*>(id.data()), id.size(),
                     reinterpret_cast<const unsigned char*>(person_secret.data()),
                     person_secret.size() > crypto_generichash_KEYBYTES_MAX
                         ? crypto_generichash_KEYBYTES_MAX
                         : person_secret.size());
  return std::string(reinterpret_cast<char*>(out), sizeof(out));
}

}  // namespace passage::runtime
