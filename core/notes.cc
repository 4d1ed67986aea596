#include "core/notes.h"

#include <set>
#include <string>

#include "core/case_projection.h"
#include "core/codes.h"
#include "core/validate.h"

namespace passage::core {
namespace {

namespace v1 = passage::v1;
using v1::Event;

std::string Q(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string At(std::string_view field, int i) {
  return std::string(field) + "[" + std::to_string(i) + "]";
}

Status Invalid(std::string field, std::string reason) {
  return Status::InvalidArgument(std::move(field), std::move(reason));
}

// Length of the UTF-8 sequence starting at text[i], or 0 when it is not one.
size_t Utf8Length(std::string_view text, size_t i) {
  const unsigned char c = static_cast<unsigned char>(text[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > text.size()) {
    return 0;
  }
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
      return 0;
    }
  }
  return n;
}

// UTF-8 text without control characters (line breaks and tabs allowed when `multiline`).
Status CheckText(std::string_view text, size_t max, bool required, bool multiline,
                 const std::string& field) {
  if (required && text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Invalid(field, "is required");
  }
  if (text.size() > max) {
    return Invalid(field, "is " + std::to_string(text.size()) + " bytes; at most " +
                              std::to_string(max));
  }
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8Length(text, i);
    if (n == 0) {
      return Invalid(field, "is not UTF-8 text (byte " + std::to_string(i) + ")");
    }
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const bool allowed_control = multiline && (c == '\n' || c == '\r' || c == '\t');
    if (n == 1 && (c < 0x20 || c == 0x7f) && !allowed_control) {
      return Invalid(field, "holds a control character (code " + std::to_string(c) +
                                "); type it again without it");
    }
    i += n;
  }
  return Status::Ok();
}

Status CheckSealShape(const v1::SealedPersonalData& s, const std::string& field) {
  if (s.scheme() != 1) {
    return Invalid(field + ".scheme", "a note or document is sealed with scheme 1");
  }
  RETURN_IF_ERROR(ValidateSealed(s, field));
  if (s.wrapped_keys_size() == 0) {
    return Invalid(field + ".wrapped_keys", "the seal opens for no agency");
  }
  if (!s.person_key().empty()) {
    return Invalid(field + ".person_key", "a note or document carries no person key");
  }
  return Status::Ok();
}

// The agencies a note of this case may be sealed for: those holding NOTES (never a system
// principal) and the writer.
Status CheckReaders(const v1::CaseState& state, const v1::SealedPersonalData& sealed,
                    const std::string& writer, const AgencyDirectory& agencies,
                    const std::string& field) {
  std::set<std::string> seen;
  for (int i = 0; i < sealed.wrapped_keys_size(); ++i) {
    const std::string& id = sealed.wrapped_keys(i).agency_id();
    const std::string f = At(field + ".wrapped_keys", i) + ".agency_id";
    if (!seen.insert(id).second) {
      return Invalid(f, Q(id) + " has two wrapped keys");
    }
    if (id == writer) {
      continue;
    }
    const v1::Agency* a = agencies.Find(id);
    const v1::AccessGrant* grant = FindAccess(state, id);
    std::string why;
    if (a == nullptr) {
      why = Q(id) + " is not registered";
    } else if (a->system_principal()) {
      why = Q(id) + " is a system principal; notes are for people of agencies";
    } else if (grant == nullptr || !GrantIncludes(*grant, v1::DATA_SECTION_NOTES) ||
               !agencies.MayHold(id, v1::DATA_SECTION_NOTES)) {
      why = Q(id) + " does not hold the notes of this case (no accepted referral shares them)";
    }
    if (!why.empty()) {
      return Status::PermissionDenied("a note or document cannot be sealed for " + Q(id) + ": " +
                                          why,
                                      f);
    }
  }
  if (seen.count(writer) == 0) {
    return Invalid(field + ".wrapped_keys",
                   "the seal must open for the writing agency " + Q(writer) + " too");
  }
  return Status::Ok();
}

Status RequireWriter(const v1::CaseState& state, const Event& e, const AgencyDirectory& agencies) {
  const v1::AccessGrant* grant = FindAccess(state, e.actor_agency());
  if (grant == nullptr || !GrantIncludes(*grant, v1::DATA_SECTION_NOTES) ||
      !agencies.MayHold(e.actor_agency(), v1::DATA_SECTION_NOTES)) {
    return Status::PermissionDenied(
        "agency " + Q(e.actor_agency()) +
            " does not hold the notes of this case: only the owner and agencies whose accepted "
            "referral shares NOTES write notes and attach documents",
        "actor_agency");
  }
  return Status::Ok();
}

Status CheckNewId(const v1::CaseState& state, const std::string& id, const std::string& field) {
  if (FindNote(state, id) != nullptr || FindDocument(state, id) != nullptr) {
    return Status::FailedPrecondition(Q(id) + " is already a note or document of this case",
                                      field);
  }
  return Status::Ok();
}

Status CheckReferral(const v1::CaseState& state, const std::string& id, const std::string& field) {
  if (!id.empty() && FindReferral(state, id) == nullptr) {
    return Invalid(field, "referral " + id + " is not in this case");
  }
  return Status::Ok();
}

}  // namespace

bool IsNoteEvent(const Event& e) {
  return e.payload_case() == Event::kNoteAdded || e.payload_case() == Event::kDocumentAttached ||
         e.payload_case() == Event::kNoteResealed;
}

std::string SniffMediaType(std::string_view c) {
  if (c.size() >= 5 && c.substr(0, 5) == "%PDF-") {
    return "application/pdf";
  }
  if (c.size() >= 3 && static_cast<unsigned char>(c[0]) == 0xFF &&
      static_cast<unsigned char>(c[1]) == 0xD8 && static_cast<unsigned char>(c[2]) == 0xFF) {
    return "image/jpeg";
  }
  if (c.size() >= 8 && c.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) {
    return "image/png";
  }
  return {};
}

Status ValidateNoteText(std::string_view text, std::string_view field) {
  return CheckText(text, kMaxNoteBytes, true, true, std::string(field));
}

Status ValidateDocumentUpload(v1::DocumentKind kind, std::string_view title,
                              std::string_view file_name, std::string_view content,
                              std::string_view prefix) {
  const std::string p(prefix);
  if (!v1::DocumentKind_IsValid(kind) || kind == v1::DOCUMENT_KIND_UNSPECIFIED) {
    return Invalid(p + ".kind", "say what the document is (medical_certificate, court_summons, "
                                "court_order, identity_document, police_report, assessment, "
                                "consent_form or other)");
  }
  RETURN_IF_ERROR(CheckText(title, kMaxDocumentTitleBytes, false, false, p + ".title"));
  RETURN_IF_ERROR(CheckText(file_name, kMaxDocumentTitleBytes, false, false, p + ".file_name"));
  if (content.empty()) {
    return Invalid(p + ".content", "the document is empty");
  }
  if (content.size() > kMaxDocumentBytes) {
    return Invalid(p + ".content", "the document is " + std::to_string(content.size()) +
                                       " bytes; at most " + std::to_string(kMaxDocumentBytes) +
                                       " (10 MiB)");
  }
  if (SniffMediaType(content).empty()) {
    return Invalid(p + ".content",
                   "is not a PDF, JPEG or PNG file (read from its first bytes, whatever its "
                   "name says)");
  }
  return Status::Ok();
}

Status ValidateNotePayload(const Event& e) {
  switch (e.payload_case()) {
    case Event::kNoteAdded: {
      const v1::NoteAdded& n = e.note_added();
      RETURN_IF_ERROR(ValidateUuid(n.note_id(), "note_added.note_id"));
      if (!n.referral_id().empty()) {
        RETURN_IF_ERROR(ValidateUuid(n.referral_id(), "note_added.referral_id"));
      }
      RETURN_IF_ERROR(CheckSealShape(n.text(), "note_added.text"));
      if (n.text().ciphertext().size() > kMaxNoteBytes + kSealOverheadBytes) {
        return Invalid("note_added.text.ciphertext",
                       "a sealed note is at most " +
                           std::to_string(kMaxNoteBytes + kSealOverheadBytes) + " bytes");
      }
      return Status::Ok();
    }
    case Event::kDocumentAttached: {
      const v1::DocumentAttached& d = e.document_attached();
      RETURN_IF_ERROR(ValidateUuid(d.document_id(), "document_attached.document_id"));
      if (!d.referral_id().empty()) {
        RETURN_IF_ERROR(ValidateUuid(d.referral_id(), "document_attached.referral_id"));
      }
      if (!v1::DocumentKind_IsValid(d.kind()) || d.kind() == v1::DOCUMENT_KIND_UNSPECIFIED) {
        return Invalid("document_attached.kind", "say what the document is");
      }
      if (d.media_type() != "application/pdf" && d.media_type() != "image/jpeg" &&
          d.media_type() != "image/png") {
        return Invalid("document_attached.media_type",
                       Q(d.media_type()) + " is not accepted (application/pdf, image/jpeg, "
                                           "image/png)");
      }
      if (d.size_bytes() == 0 || d.size_bytes() > kMaxDocumentBytes) {
        return Invalid("document_attached.size_bytes",
                       std::to_string(d.size_bytes()) + " is not a size from 1 byte to " +
                           std::to_string(kMaxDocumentBytes));
      }
      if (d.content_bytes() != d.size_bytes() + kSealOverheadBytes) {
        return Invalid("document_attached.content_bytes",
                       "the encrypted content is the document's size plus " +
                           std::to_string(kSealOverheadBytes) + " bytes");
      }
      if (d.content_sha256().size() != 32) {
        return Invalid("document_attached.content_sha256", "must be 32 bytes");
      }
      if (d.content_nonce().size() != 24) {
        return Invalid("document_attached.content_nonce", "must be 24 bytes");
      }
      RETURN_IF_ERROR(CheckSealShape(d.meta(), "document_attached.meta"));
      if (d.meta().ciphertext().size() > 2 * kMaxDocumentTitleBytes + 64) {
        return Invalid("document_attached.meta.ciphertext", "the sealed title is too long");
      }
      if (d.meta().nonce() == d.content_nonce()) {
        return Invalid("document_attached.content_nonce",
                       "the content must be sealed with a nonce of its own");
      }
      return Status::Ok();
    }
    case Event::kNoteResealed: {
      const v1::NoteResealed& r = e.note_resealed();
      RETURN_IF_ERROR(ValidateUuid(r.note_id(), "note_resealed.note_id"));
      return CheckSealShape(r.sealed(), "note_resealed.sealed");
    }
    default:
      return Invalid("payload", "not a note event");
  }
}

Status CheckNoteEvent(const v1::CaseState& state, const Event& e,
                      const AgencyDirectory& agencies) {
  RETURN_IF_ERROR(RequireWriter(state, e, agencies));
  switch (e.payload_case()) {
    case Event::kNoteAdded: {
      const v1::NoteAdded& n = e.note_added();
      RETURN_IF_ERROR(CheckNewId(state, n.note_id(), "note_added.note_id"));
      RETURN_IF_ERROR(CheckReferral(state, n.referral_id(), "note_added.referral_id"));
      return CheckReaders(state, n.text(), e.actor_agency(), agencies, "note_added.text");
    }
    case Event::kDocumentAttached: {
      const v1::DocumentAttached& d = e.document_attached();
      RETURN_IF_ERROR(CheckNewId(state, d.document_id(), "document_attached.document_id"));
      RETURN_IF_ERROR(CheckReferral(state, d.referral_id(), "document_attached.referral_id"));
      return CheckReaders(state, d.meta(), e.actor_agency(), agencies, "document_attached.meta");
    }
    case Event::kNoteResealed: {
      const v1::NoteResealed& r = e.note_resealed();
      const v1::SealedPersonalData* old = nullptr;
      std::string writer;
      if (const v1::CaseNote* n = FindNote(state, r.note_id()); n != nullptr) {
        old = &n->text();
        writer = n->written_by();
      } else if (const v1::CaseDocument* d = FindDocument(state, r.note_id()); d != nullptr) {
        old = &d->meta();
        writer = d->written_by();
      }
      if (old == nullptr) {
        return Status::FailedPrecondition("no note or document " + r.note_id() + " in this case",
                                          "note_resealed.note_id");
      }
      if (writer != e.actor_agency()) {
        return Status::PermissionDenied("only the agency that wrote it (" + writer +
                                            ") re-seals note " + r.note_id(),
                                        "actor_agency");
      }
      if (r.sealed().nonce() != old->nonce() || r.sealed().ciphertext() != old->ciphertext()) {
        return Invalid("note_resealed.sealed",
                       "a re-seal keeps the nonce and ciphertext; only the wrapped keys change");
      }
      return CheckReaders(state, r.sealed(), e.actor_agency(), agencies, "note_resealed.sealed");
    }
    default:
      return Invalid("payload", "not a note event");
  }
}

void ApplyNoteEvent(v1::CaseState* state, const v1::Envelope& env, const Event& e) {
  switch (e.payload_case()) {
    case Event::kNoteAdded: {
      const v1::NoteAdded& n = e.note_added();
      v1::CaseNote* out = state->add_notes();
      out->set_note_id(n.note_id());
      out->set_referral_id(n.referral_id());
      out->set_written_by(e.actor_agency());
      out->set_author_user(e.actor_user());
      out->set_at_ms(e.occurred_at_ms());
      out->set_global_seq(env.global_seq());
      *out->mutable_text() = n.text();
      break;
    }
    case Event::kDocumentAttached: {
      const v1::DocumentAttached& d = e.document_attached();
      v1::CaseDocument* out = state->add_documents();
      out->set_document_id(d.document_id());
      out->set_referral_id(d.referral_id());
      out->set_kind(d.kind());
      out->set_media_type(d.media_type());
      out->set_size_bytes(d.size_bytes());
      out->set_content_sha256(d.content_sha256());
      out->set_content_bytes(d.content_bytes());
      out->set_content_nonce(d.content_nonce());
      *out->mutable_meta() = d.meta();
      out->set_written_by(e.actor_agency());
      out->set_author_user(e.actor_user());
      out->set_at_ms(e.occurred_at_ms());
      out->set_global_seq(env.global_seq());
      break;
    }
    case Event::kNoteResealed: {
      const v1::NoteResealed& r = e.note_resealed();
      for (v1::CaseNote& n : *state->mutable_notes()) {
        if (n.note_id() == r.note_id()) {
          *n.mutable_text() = r.sealed();
        }
      }
      for (v1::CaseDocument& d : *state->mutable_documents()) {
        if (d.document_id() == r.note_id()) {
          *d.mutable_meta() = r.sealed();
        }
      }
      break;
    }
    default:
      break;
  }
}

const v1::CaseNote* FindNote(const v1::CaseState& state, std::string_view id) {
  for (const v1::CaseNote& n : state.notes()) {
    if (n.note_id() == id) return &n;
  }
  return nullptr;
}

const v1::CaseDocument* FindDocument(const v1::CaseState& state, std::string_view id) {
  for (const v1::CaseDocument& d : state.documents()) {
    if (d.document_id() == id) return &d;
  }
  return nullptr;
}

}  // namespace passage::core
