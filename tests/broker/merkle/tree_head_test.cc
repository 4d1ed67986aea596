#include "broker/merkle/tree_head.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/testing/status_matchers.h"

namespace passage::merkle {
namespace {

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    const auto b = static_cast<uint8_t>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

// RFC 8032 §7.1 TEST 1 secret key (the 32-byte seed) and its public key.
const char kRfc8032Seed[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const char kRfc8032PublicKey[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

// The root of the eight standard RFC 6962 test leaves.
const char kRoot8[] = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328";

TreeHead SampleHead() {
  TreeHead head;
  head.tree_size = 8;
  Result<Hash> root = HashFromBytes(FromHex(kRoot8), "root");
  EXPECT_OK(root);
  head.root = root.ok() ? *root : Hash{};
  head.timestamp_ms = 1700000000123;
  return head;
}

TreeHeadSigner Signer(std::string_view seed_hex = kRfc8032Seed) {
  Result<TreeHeadSigner> signer = TreeHeadSigner::FromSeed(FromHex(seed_hex));
  EXPECT_OK(signer);
  return std::move(signer).value();
}

std::string FlipBit(std::string s, size_t bit) {
  s[bit / 8] = static_cast<char>(s[bit / 8] ^ (1 << (bit % 8)));
  return s;
}

TEST(TreeHead, SigningBytesHaveTheDocumentedLayout) {
  EXPECT_EQ(Hex(TreeHeadSigningBytes(SampleHead())),
            "5053472d535448310000000000000008"
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
            "0000018bcfe5687b");
  TreeHead head;
  head.tree_size = 0x0102030405060708;
  head.timestamp_ms = -2;
  const std::string bytes = TreeHeadSigningBytes(head);
  ASSERT_EQ(bytes.size(), 8u + 8 + 32 + 8);
  EXPECT_EQ(bytes.substr(0, 8), "PSG-STH1");
  EXPECT_EQ(Hex(bytes.substr(8, 8)), "0102030405060708");
  EXPECT_EQ(bytes.substr(16, 32), std::string(32, '\0'));
  EXPECT_EQ(Hex(bytes.substr(48, 8)), "fffffffffffffffe");
}

TEST(TreeHeadSigner, PublicKeyFromSeedMatchesRfc8032) {
  EXPECT_EQ(Hex(Signer().public_key()), kRfc8032PublicKey);
}

TEST(TreeHeadSigner, SignatureMatchesAnIndependentEd25519Implementation) {
  // Computed with pyca/cryptography (OpenSSL) over the signing bytes of SampleHead().
  EXPECT_EQ(Hex(Signer().Sign(SampleHead())),
            "4ae35351b8d8c0254d6b4ffce03bbf93ba439b1142771500582f52ee2ab6530e"
            "1e2e9cb9162adff72ae95e52752b2e92f398a3c3800f165f3f8118325ebe7b06");
}

TEST(TreeHeadSigner, SignVerifyRoundTrip) {
  const TreeHeadSigner signer = Signer();
  const TreeHead head = SampleHead();
  const std::string signature = signer.Sign(head);
  EXPECT_EQ(signature.size(), TreeHeadSigner::kSignatureBytes);
  EXPECT_OK(VerifyTreeHead(head, signature, signer.public_key()));

  const TreeHeadSigner fresh = Signer(Hex(TreeHeadSigner::GenerateSeed()));
  TreeHead empty;
  empty.root = EmptyRoot();
  EXPECT_OK(VerifyTreeHead(empty, fresh.Sign(empty), fresh.public_key()));
}

TEST(TreeHeadSigner, SameSeedSameKeyAndSignature) {
  const std::string seed = TreeHeadSigner::GenerateSeed();
  Result<TreeHeadSigner> a = TreeHeadSigner::FromSeed(seed);
  Result<TreeHeadSigner> b = TreeHeadSigner::FromSeed(seed);
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->public_key(), b->public_key());
  EXPECT_EQ(a->public_key().size(), TreeHeadSigner::kPublicKeyBytes);
  EXPECT_EQ(a->Sign(SampleHead()), b->Sign(SampleHead()));
}

TEST(TreeHeadSigner, GeneratedSeedsAreFreshAndTheRightSize) {
  const std::string a = TreeHeadSigner::GenerateSeed();
  const std::string b = TreeHeadSigner::GenerateSeed();
  EXPECT_EQ(a.size(), TreeHeadSigner::kSeedBytes);
  EXPECT_EQ(b.size(), TreeHeadSigner::kSeedBytes);
  EXPECT_NE(a, b);
  EXPECT_NE(Signer(Hex(a)).public_key(), Signer(Hex(b)).public_key());
}

TEST(TreeHeadSigner, FromSeedRejectsWrongLength) {
  for (size_t n : {0u, 1u, 31u, 33u, 64u}) {
    Result<TreeHeadSigner> signer = TreeHeadSigner::FromSeed(std::string(n, '\x07'));
    ASSERT_FALSE(signer.ok()) << n;
    EXPECT_EQ(signer.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(signer.status().field(), "seed");
  }
}

TEST(TreeHeadVerify, FailsOnAnyFlippedSignatureBit) {
  const TreeHeadSigner signer = Signer();
  const TreeHead head = SampleHead();
  const std::string signature = signer.Sign(head);
  for (size_t bit = 0; bit < 8 * signature.size(); ++bit) {
    EXPECT_FALSE(VerifyTreeHead(head, FlipBit(signature, bit), signer.public_key()).ok()) << bit;
  }
}

TEST(TreeHeadVerify, FailsWhenRootSizeOrTimestampChanges) {
  const TreeHeadSigner signer = Signer();
  const TreeHead head = SampleHead();
  const std::string signature = signer.Sign(head);
  for (size_t bit = 0; bit < 256; ++bit) {
    TreeHead altered = head;
    altered.root[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    Status s = VerifyTreeHead(altered, signature, signer.public_key());
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << "root bit " << bit;
  }
  for (size_t bit = 0; bit < 64; ++bit) {
    TreeHead altered = head;
    altered.tree_size ^= uint64_t{1} << bit;
    EXPECT_FALSE(VerifyTreeHead(altered, signature, signer.public_key()).ok())
        << "size bit " << bit;
    altered = head;
    altered.timestamp_ms =
        static_cast<int64_t>(static_cast<uint64_t>(head.timestamp_ms) ^ (uint64_t{1} << bit));
    EXPECT_FALSE(VerifyTreeHead(altered, signature, signer.public_key()).ok())
        << "time bit " << bit;
  }
}

TEST(TreeHeadVerify, FailsUnderAnotherPublicKey) {
  const TreeHead head = SampleHead();
  const std::string signature = Signer().Sign(head);
  const TreeHeadSigner other = Signer(Hex(TreeHeadSigner::GenerateSeed()));
  EXPECT_EQ(VerifyTreeHead(head, signature, other.public_key()).code(), StatusCode::kCorruption);
  EXPECT_FALSE(VerifyTreeHead(head, signature, FlipBit(Signer().public_key(), 5)).ok());
  EXPECT_FALSE(VerifyTreeHead(head, signature, std::string(32, '\0')).ok());
}

TEST(TreeHeadVerify, RejectsWrongLengthKeyOrSignature) {
  const TreeHeadSigner signer = Signer();
  const TreeHead head = SampleHead();
  const std::string signature = signer.Sign(head);

  Status s = VerifyTreeHead(head, signature, signer.public_key().substr(0, 31));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.field(), "public_key");
  EXPECT_FALSE(VerifyTreeHead(head, signature, signer.public_key() + "x").ok());
  EXPECT_FALSE(VerifyTreeHead(head, signature, "").ok());

  s = VerifyTreeHead(head, signature.substr(0, 63), signer.public_key());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.field(), "signature");
  EXPECT_FALSE(VerifyTreeHead(head, signature + '\0', signer.public_key()).ok());
  EXPECT_FALSE(VerifyTreeHead(head, "", signer.public_key()).ok());
}

}  // namespace
}  // namespace passage::merkle
