// Sealing of personal data: what the owner seals, who can open it, the escrowed keys, and the
// person key of the duplicate-person check.

#include "services/runtime/sealing.h"

#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace passage::runtime {
namespace {

namespace v1 = passage::v1;

v1::PersonalData Person(const std::string& given, const std::string& family,
                        const std::string& dob = "2001-03-04") {
  v1::PersonalData pd;
  pd.set_given_name(given);
  pd.set_family_name(family);
  pd.set_date_of_birth(dob);
  return pd;
}

const std::string kSecret(32, 'k');

TEST(Sealing, OnlyTheAgenciesSealedForOpenIt) {
  auto owner = GenerateSealingKeyPair();
  auto shelter = GenerateSealingKeyPair();
  auto other = GenerateSealingKeyPair();
  auto sealed = Seal(Person("Ayesha", "Khan"), {{"fia", owner.public_key}}, kSecret);
  ASSERT_OK(sealed);
  EXPECT_EQ(sealed->ciphertext().find("Ayesha"), std::string::npos);
  auto opened = Unseal(*sealed, "fia", owner);
  ASSERT_OK(opened);
  EXPECT_EQ(opened->given_name(), "Ayesha");
  EXPECT_EQ(Unseal(*sealed, "shelter", shelter).status().code(), StatusCode::kPermissionDenied);
  // A key wrapped for fia does not open with another agency's key pair.
  EXPECT_EQ(Unseal(*sealed, "fia", other).status().code(), StatusCode::kCorruption);
  // Altered ciphertext is caught.
  v1::SealedPersonalData bad = *sealed;
  bad.mutable_ciphertext()->back() ^= 1;
  EXPECT_EQ(Unseal(bad, "fia", owner).status().code(), StatusCode::kCorruption);
}

TEST(Sealing, EscrowedAndRewrappedKeysOpenTheSameSeal) {
  auto owner = GenerateSealingKeyPair();
  auto shelter = GenerateSealingKeyPair();
  auto iom = GenerateSealingKeyPair();
  auto sealed = Seal(Person("Ayesha", "Khan"), {{"fia", owner.public_key}}, kSecret);
  ASSERT_OK(sealed);
  auto escrow = WrapDataKey(*sealed, "fia", owner,
                            {{"shelter", shelter.public_key}, {"iom", iom.public_key}});
  ASSERT_OK(escrow);
  ASSERT_EQ(escrow->size(), 2u);
  for (const auto& w : *escrow) {
    const auto& keys = w.agency_id() == "shelter" ? shelter : iom;
    auto opened = UnsealWithKey(*sealed, w, keys);
    ASSERT_OK(opened);
    EXPECT_EQ(opened->family_name(), "Khan");
    // Each key opens only with its own agency's key pair.
    const auto& wrong = w.agency_id() == "shelter" ? iom : shelter;
    EXPECT_FALSE(UnsealWithKey(*sealed, w, wrong).ok());
  }
  // Re-wrapping for a new reader keeps the nonce and ciphertext: the escrow still opens it.
  auto rewrapped = Rewrap(*sealed, "fia", owner, {{"shelter", shelter.public_key}});
  ASSERT_OK(rewrapped);
  EXPECT_EQ(rewrapped->nonce(), sealed->nonce());
  EXPECT_EQ(rewrapped->ciphertext(), sealed->ciphertext());
  EXPECT_EQ(rewrapped->wrapped_keys_size(), 2);
  EXPECT_OK(Unseal(*rewrapped, "shelter", shelter));
  EXPECT_OK(Unseal(*rewrapped, "fia", owner));
  EXPECT_OK(
      UnsealWithKey(*rewrapped, (*escrow)[0], (*escrow)[0].agency_id() == "iom" ? iom : shelter));
  // Only an agency the seal was made for can wrap its key for others.
  EXPECT_EQ(WrapDataKey(*sealed, "shelter", shelter, {{"iom", iom.public_key}}).status().code(),
            StatusCode::kPermissionDenied);
}

TEST(Sealing, ADocumentsContentOpensForWhoeverItsTitleIsRewrappedFor) {
  auto fia = GenerateSealingKeyPair();
  auto shelter = GenerateSealingKeyPair();
  const std::string content = "%PDF-1.4 a certificate";
  auto sealed = SealWithContent("title", content, {{"fia", fia.public_key}});
  ASSERT_OK(sealed);
  EXPECT_EQ(sealed->content.size(), content.size() + 16);
  EXPECT_EQ(sealed->content.find("certificate"), std::string::npos);
  EXPECT_NE(sealed->content_nonce, sealed->meta.nonce());
  // Not sealed for the shelter yet.
  EXPECT_EQ(OpenContent(sealed->meta, sealed->content_nonce, sealed->content, "shelter", shelter)
                .status()
                .code(),
            StatusCode::kPermissionDenied);
  // Re-wrapping the title's key opens the content too.
  auto rewrapped = Rewrap(sealed->meta, "fia", fia, {{"shelter", shelter.public_key}});
  ASSERT_OK(rewrapped);
  auto opened = OpenContent(*rewrapped, sealed->content_nonce, sealed->content, "shelter", shelter);
  ASSERT_OK(opened);
  EXPECT_EQ(*opened, content);
  auto title = UnsealBytes(*rewrapped, "shelter", shelter);
  ASSERT_OK(title);
  EXPECT_EQ(*title, "title");
  // One altered byte is detected.
  std::string altered = sealed->content;
  altered[3] ^= 1;
  EXPECT_EQ(OpenContent(*rewrapped, sealed->content_nonce, altered, "fia", fia).status().code(),
            StatusCode::kCorruption);
}

TEST(PersonKey, SpellingsOfOneNameAreOnePerson) {
  EXPECT_EQ(NormalisedName(Person("Muhammad", "Hussain")),
            NormalisedName(Person("mohammed", "HUSAIN")));
  EXPECT_EQ(NormalisedName(Person("Mohd.  Ahmed", "")), "ahmad muhamad");
  EXPECT_EQ(NormalisedName(Person("Ayesha", "Khan")), NormalisedName(Person("Khan", "Aisha")));
  EXPECT_EQ(NormalisedName(Person("Fatimah Bibi", "")), NormalisedName(Person("fatima", "bibi")));
  const std::string a =
      PersonKey(Person("Muhammad", "Yousaf", "2001-03-04"), v1::SEX_MALE, kSecret);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a, PersonKey(Person("  MOHAMMAD ", "Yusuf", "2001/03/04"), v1::SEX_MALE, kSecret));
  // A different date of birth, sex or secret is another key.
  EXPECT_NE(a, PersonKey(Person("Muhammad", "Yousaf", "2001-03-05"), v1::SEX_MALE, kSecret));
  EXPECT_NE(a, PersonKey(Person("Muhammad", "Yousaf", "2001-03-04"), v1::SEX_FEMALE, kSecret));
  EXPECT_NE(
      a, PersonKey(Person("Muhammad", "Yousaf", "2001-03-04"), v1::SEX_MALE, std::string(32, 'x')));
  EXPECT_NE(a, PersonKey(Person("Ali", "Yousaf", "2001-03-04"), v1::SEX_MALE, kSecret));
}

TEST(PersonKey, NamesInUrduScriptCountAndNoNameMeansNoKey) {
  // "عائشہ خان" and "فاطمہ خان": other scripts are kept, so two different names differ.
  const std::string ayesha = "\xd8\xb9\xd8\xa7\xd8\xa6\xd8\xb4\xdb\x81";
  const std::string fatima = "\xd9\x81\xd8\xa7\xd8\xb7\xd9\x85\xdb\x81";
  const std::string khan = "\xd8\xae\xd8\xa7\xd9\x86";
  const std::string k1 = PersonKey(Person(ayesha, khan), v1::SEX_FEMALE, kSecret);
  const std::string k2 = PersonKey(Person(fatima, khan), v1::SEX_FEMALE, kSecret);
  EXPECT_EQ(k1.size(), 32u);
  EXPECT_NE(k1, k2);
  EXPECT_EQ(k1, PersonKey(Person(" " + ayesha + "  ", khan), v1::SEX_FEMALE, kSecret));
  // Without a name there is nothing to recognise a person by: no key, never a match.
  EXPECT_TRUE(PersonKey(Person("", "", "2001-03-04"), v1::SEX_FEMALE, kSecret).empty());
  EXPECT_TRUE(PersonKey(Person("...", "-", "2001-03-04"), v1::SEX_FEMALE, kSecret).empty());
  EXPECT_TRUE(PersonKey(Person("Ayesha", "Khan"), v1::SEX_FEMALE, "").empty());
}

}  // namespace
}  // namespace passage::runtime
