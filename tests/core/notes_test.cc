// Case notes and documents (core/notes.h): who may write them, for whom they may be sealed, the
// shape of a document event, and who receives them.

#include "core/notes.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/case_projection.h"
#include "tests/core/test_broker.h"
#include "tests/core/test_events.h"
#include "tests/testing/status_matchers.h"

namespace passage::core::testing {
namespace {

namespace v1 = passage::v1;
using v1::Event;

// A seal's shape with wrapped keys for `readers` (the bytes are not real ciphertext: the broker
// never opens them).
v1::SealedPersonalData SealFor(std::initializer_list<const char*> readers,
                               const std::string& nonce = std::string(24, 'n')) {
  v1::SealedPersonalData s;
  s.set_scheme(1);
  s.set_nonce(nonce);
  s.set_ciphertext(std::string(40, 'c'));
  for (const char* r : readers) {
    auto* k = s.add_wrapped_keys();
    k->set_agency_id(r);
    k->set_sealed_key(std::string(80, 'k'));
  }
  return s;
}

Event NoteEvent(const std::string& actor, int n, std::initializer_list<const char*> readers) {
  Event e = BaseEvent(actor);
  e.mutable_note_added()->set_note_id("00000000-0000-4000-8000-0000000000" +
                                      std::to_string(10 + n));
  *e.mutable_note_added()->mutable_text() = SealFor(readers);
  return e;
}

Event DocumentEvent(const std::string& actor, std::initializer_list<const char*> readers) {
  Event e = BaseEvent(actor);
  auto* d = e.mutable_document_attached();
  d->set_document_id("00000000-0000-4000-8000-000000000099");
  d->set_kind(v1::DOCUMENT_KIND_MEDICAL_CERTIFICATE);
  d->set_media_type("application/pdf");
  d->set_size_bytes(1000);
  d->set_content_bytes(1016);
  d->set_content_sha256(std::string(32, 'h'));
  d->set_content_nonce(std::string(24, 'm'));
  *d->mutable_meta() = SealFor(readers);
  return e;
}

// The case opened by FIA with a referral to the shelter, sharing NOTES when `notes`, accepted.
void ShelterAccepted(Broker& b, bool notes) {
  b.OpenWithConsents();
  Event sent = ReferralSentEvent(kFia, ReferralId(1), kShelter, v1::SERVICE_TYPE_SHELTER,
                                 ConsentId(1));
  if (notes) {
    sent.mutable_referral_sent()->mutable_referral()->add_data_scope(v1::DATA_SECTION_NOTES);
  }
  ASSERT_OK(b.Publish(sent));
  ASSERT_OK(b.Publish(TransitionEvent(kShelter, ReferralId(1), v1::REFERRAL_STATUS_RECEIVED,
                                      v1::ACTOR_ROLE_SYSTEM)));
  ASSERT_OK(b.Publish(TransitionEvent(kShelter, ReferralId(1), v1::REFERRAL_STATUS_ACCEPTED)));
}

bool InAudience(const v1::CaseState& s, const Event& e, const std::string& agency) {
  const auto a = AudienceOf(s, e);
  return std::find(a.begin(), a.end(), agency) != a.end();
}

TEST(Notes, TheOwnerWritesANoteSealedForTheAgenciesThatHoldTheNotes) {
  Broker b;
  ShelterAccepted(b, /*notes=*/true);
  ASSERT_OK(b.Publish(NoteEvent(kFia, 1, {kFia, kShelter})));
  ASSERT_EQ(b.state().notes_size(), 1);
  EXPECT_EQ(b.state().notes(0).written_by(), kFia);
  EXPECT_TRUE(InAudience(b.state(), NoteEvent(kFia, 2, {kFia}), kShelter));
  // The shelter holds them too: it writes one, sealed for itself and the owner.
  ASSERT_OK(b.Publish(NoteEvent(kShelter, 3, {kShelter, kFia})));
  EXPECT_EQ(b.state().notes_size(), 2);
  // The same id twice is refused.
  ExpectRefused(b.Publish(NoteEvent(kFia, 1, {kFia})), StatusCode::kFailedPrecondition,
                "note_added.note_id");
}

TEST(Notes, AnAgencyWhoseReferralDoesNotShareTheNotesNeitherWritesNorReceivesThem) {
  Broker b;
  ShelterAccepted(b, /*notes=*/false);
  ExpectRefused(b.Publish(NoteEvent(kShelter, 1, {kShelter})), StatusCode::kPermissionDenied,
                "actor_agency");
  // Not sealed for it either, and it is not in the note's audience.
  ExpectRefused(b.Publish(NoteEvent(kFia, 1, {kFia, kShelter})), StatusCode::kPermissionDenied,
                "note_added.text.wrapped_keys[1].agency_id");
  EXPECT_FALSE(InAudience(b.state(), NoteEvent(kFia, 2, {kFia}), kShelter));
  // Never for the referral engine, whatever it is granted.
  ExpectRefused(b.Publish(NoteEvent(kFia, 1, {kFia, kRouter})), StatusCode::kPermissionDenied,
                "note_added.text.wrapped_keys[1].agency_id");
  // A seal that does not open for its writer.
  ExpectRefused(b.Publish(NoteEvent(kFia, 1, {})), StatusCode::kInvalidArgument,
                "note_added.text.wrapped_keys");
  EXPECT_EQ(b.state().notes_size(), 0);
}

TEST(Notes, OnlyTheWriterReSealsAndOnlyItsKeysChange) {
  Broker b;
  ShelterAccepted(b, /*notes=*/true);
  ASSERT_OK(b.Publish(NoteEvent(kFia, 1, {kFia})));
  const std::string id = b.state().notes(0).note_id();
  Event reseal = BaseEvent(kFia, v1::ACTOR_ROLE_SYSTEM);
  reseal.mutable_note_resealed()->set_note_id(id);
  *reseal.mutable_note_resealed()->mutable_sealed() = SealFor({kFia, kShelter});
  Event by_shelter = reseal;
  by_shelter.set_actor_agency(kShelter);
  ExpectRefused(b.Publish(by_shelter), StatusCode::kPermissionDenied, "actor_agency");
  Event other_text = reseal;
  other_text.mutable_note_resealed()->mutable_sealed()->set_ciphertext(std::string(40, 'x'));
  ExpectRefused(b.Publish(other_text), StatusCode::kInvalidArgument, "note_resealed.sealed");
  ASSERT_OK(b.Publish(reseal));
  EXPECT_EQ(b.state().notes(0).text().wrapped_keys_size(), 2);
}

TEST(Notes, ADocumentEventIsCheckedFieldByField) {
  Broker b;
  b.OpenWithConsents();
  Event d = DocumentEvent(kFia, {kFia});
  d.mutable_document_attached()->set_media_type("text/html");
  ExpectRefused(b.Publish(d), StatusCode::kInvalidArgument, "document_attached.media_type");
  d = DocumentEvent(kFia, {kFia});
  d.mutable_document_attached()->set_content_bytes(1000);
  ExpectRefused(b.Publish(d), StatusCode::kInvalidArgument, "document_attached.content_bytes");
  d = DocumentEvent(kFia, {kFia});
  d.mutable_document_attached()->set_size_bytes(kMaxDocumentBytes + 1);
  d.mutable_document_attached()->set_content_bytes(kMaxDocumentBytes + 17);
  ExpectRefused(b.Publish(d), StatusCode::kInvalidArgument, "document_attached.size_bytes");
  d = DocumentEvent(kFia, {kFia});
  d.mutable_document_attached()->set_content_nonce(std::string(24, 'n'));  // the title's nonce
  ExpectRefused(b.Publish(d), StatusCode::kInvalidArgument, "document_attached.content_nonce");
  d = DocumentEvent(kFia, {kFia});
  d.mutable_document_attached()->set_kind(v1::DOCUMENT_KIND_UNSPECIFIED);
  ExpectRefused(b.Publish(d), StatusCode::kInvalidArgument, "document_attached.kind");
  ASSERT_OK(b.Publish(DocumentEvent(kFia, {kFia})));
  ASSERT_EQ(b.state().documents_size(), 1);
  EXPECT_EQ(b.state().documents(0).content_bytes(), 1016u);
  // A closed case takes no new note.
  Event close = BaseEvent(kFia, v1::ACTOR_ROLE_SUPERVISOR);
  close.mutable_case_closed()->set_reason("done");
  ASSERT_OK(b.Publish(close));
  EXPECT_EQ(b.Publish(NoteEvent(kFia, 5, {kFia})).code(), StatusCode::kFailedPrecondition);
}

TEST(Notes, TheTypeOfADocumentComesFromItsFirstBytes) {
  EXPECT_EQ(SniffMediaType("%PDF-1.7\n..."), "application/pdf");
  EXPECT_EQ(SniffMediaType(std::string("\xFF\xD8\xFF\xE0", 4)), "image/jpeg");
  EXPECT_EQ(SniffMediaType(std::string("\x89PNG\r\n\x1a\n\0", 9)), "image/png");
  EXPECT_EQ(SniffMediaType("<html>%PDF-"), "");
  EXPECT_EQ(SniffMediaType(""), "");
  ExpectRefused(ValidateDocumentUpload(v1::DOCUMENT_KIND_OTHER, "", "x.pdf", "GIF89a...", "doc"),
                StatusCode::kInvalidArgument, "doc.content");
  ExpectRefused(ValidateDocumentUpload(v1::DOCUMENT_KIND_OTHER, std::string(201, 't'), "",
                                       "%PDF-", "doc"),
                StatusCode::kInvalidArgument, "doc.title");
  ExpectRefused(ValidateDocumentUpload(v1::DOCUMENT_KIND_UNSPECIFIED, "", "", "%PDF-", "doc"),
                StatusCode::kInvalidArgument, "doc.kind");
  EXPECT_OK(ValidateDocumentUpload(v1::DOCUMENT_KIND_COURT_SUMMONS, "Summons", "s.pdf",
                                   "%PDF-1.4", "doc"));
  ExpectRefused(ValidateNoteText("ok\nthen \x01", "text"), StatusCode::kInvalidArgument, "text");
  ExpectRefused(ValidateNoteText(std::string("\xC3\x28", 2), "text"),
                StatusCode::kInvalidArgument, "text");
  EXPECT_OK(ValidateNoteText("Met her at the clinic.\n\tAll well. آج ملاقات ہوئی", "text"));
}

}  // namespace
}  // namespace passage::core::testing
