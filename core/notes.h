#pragma once

// Case notes and documents (docs/notes-and-documents.md), section NOTES of a case. Called by
// ValidateEvent and CaseProjection; pure, no I/O, thread-safe.
//
// A note's text and a document's title, file name and bytes are sealed on the writing agency's
// node. Rules the broker enforces through Check:
//   - the writer holds NOTES of the case (the owner always does; another agency through an
//     accepted referral that shares NOTES) and the case is open;
//   - keys are wrapped only for the writer and agencies that hold NOTES of the case (never a
//     system principal): the seal is for exactly the granted agencies;
//   - ids are new in the case; a referral named is one of the case's;
//   - only the writer re-seals (NoteResealed), with the seal's nonce and ciphertext unchanged.
// Sizes: a note at most kMaxNoteBytes of UTF-8; a document of a type read from its first bytes
// (PDF, JPEG, PNG), at most kMaxDocumentBytes.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/agency_directory.h"
#include "core/status.h"
#include "passage/v1/case.pb.h"
#include "passage/v1/events.pb.h"

namespace passage::core {

inline constexpr size_t kMaxNoteBytes = 20'000;
inline constexpr size_t kMaxDocumentBytes = 10 * 1024 * 1024;
inline constexpr size_t kMaxDocumentTitleBytes = 200;
// Sealing adds a 16-byte tag to the content; a seal's ciphertext of a note adds the same.
inline constexpr size_t kSealOverheadBytes = 16;

// NoteAdded, DocumentAttached, NoteResealed.
bool IsNoteEvent(const passage::v1::Event& e);

// The payload on its own: ids, enums, media type, sizes, the seal's shape.
Status ValidateNotePayload(const passage::v1::Event& e);

// The event against the case (see above). Assumes ValidateNotePayload passed.
Status CheckNoteEvent(const passage::v1::CaseState& state, const passage::v1::Event& e,
                      const AgencyDirectory& agencies);

// Folds a note event into `state` (never fails; ignores what Check would refuse).
void ApplyNoteEvent(passage::v1::CaseState* state, const passage::v1::Envelope& env,
                    const passage::v1::Event& e);

// The media type of a document from its first bytes: "application/pdf", "image/jpeg",
// "image/png", or empty when it is none of them.
std::string SniffMediaType(std::string_view content);

// The case's note or document with this id (nullptr when none).
const passage::v1::CaseNote* FindNote(const passage::v1::CaseState& state, std::string_view id);
const passage::v1::CaseDocument* FindDocument(const passage::v1::CaseState& state,
                                              std::string_view id);

// The document limits and checks of a DocumentAttach before anything is sealed: kind, title
// length, plain-text title and file name, content type from the bytes, size.
Status ValidateDocumentUpload(passage::v1::DocumentKind kind, std::string_view title,
                              std::string_view file_name, std::string_view content,
                              std::string_view prefix);

// A note's text before sealing: required, valid UTF-8 without control characters other than
// line breaks and tabs, at most kMaxNoteBytes.
Status ValidateNoteText(std::string_view text, std::string_view field);

}  // namespace passage::core
