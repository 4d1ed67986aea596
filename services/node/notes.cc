// Case notes and documents on an agency node (docs/notes-and-documents.md): sealing them for the
// agencies that hold NOTES of the case, storing a document's encrypted bytes at the broker,
// opening them for people with the read recorded first, and re-sealing what this agency wrote
// when the holders change.

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <set>
#include <sstream>

#include "core/codes.h"
#include "core/ids.h"
#include "core/notes.h"
#include "services/node/node.h"
#include "services/runtime/sealing.h"

namespace passage::node {
namespace {

namespace v1 = passage::v1;

std::string Sha256(std::string_view bytes) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return std::string(reinterpret_cast<char*>(h), sizeof(h));
}

std::string JsonText(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof(b), "\\u%04x", c);
          out += b;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

std::string KindName(v1::DocumentKind k) {
  return core::ShortEnumName(v1::DocumentKind_descriptor(), k);
}

}  // namespace

std::map<std::string, std::string> Node::NotesReaders(const v1::CaseState& state) const {
  std::map<std::string, std::string> readers;
  for (const auto& g : state.access()) {
    const v1::Agency* a = directory_.Find(g.agency_id());
    if (a == nullptr || a->system_principal() || !core::GrantIncludes(g, v1::DATA_SECTION_NOTES) ||
        !directory_.MayHold(a->id(), v1::DATA_SECTION_NOTES)) {
      continue;
    }
    if (a->id() == agency()) {
      readers[a->id()] = options_.sealing.public_key;
      continue;
    }
    auto pk = runtime::FromHex(a->sealing_public_key(), "sealing_public_key");
    if (pk.ok() && pk->size() == 32) {
      readers[a->id()] = *pk;
    }
  }
  readers[agency()] = options_.sealing.public_key;
  return readers;
}

Status Node::RequireNotes(const v1::CaseState& state) const {
  const v1::AccessGrant* grant = core::FindAccess(state, agency());
  if (grant == nullptr || !core::GrantIncludes(*grant, v1::DATA_SECTION_NOTES) ||
      !directory_.MayHold(agency(), v1::DATA_SECTION_NOTES)) {
    return Status::PermissionDenied(agency() + " does not hold the notes and documents of this "
                                               "case (no accepted referral shares them)",
                                    "case_id");
  }
  if (options_.sealing.secret_key.empty()) {
    return Status::FailedPrecondition("this node has no sealing key (sealing_key_file); notes "
                                      "and documents cannot be sealed or opened",
                                      "case_id");
  }
  return Status::Ok();
}

Result<std::string> Node::OpenSealedBytes(const v1::SealedPersonalData& sealed) const {
  auto plain = runtime::UnsealBytes(sealed, agency(), options_.sealing);
  for (const auto& old : options_.previous_sealing) {
    if (plain.ok() || plain.status().code() != StatusCode::kCorruption) break;
    if (auto opened = runtime::UnsealBytes(sealed, agency(), old); opened.ok()) {
      return opened;
    }
  }
  return plain;
}

Status Node::RecordNotesRead(const std::string& case_id, const std::string& purpose,
                             const std::string& refusal) {
  v1::Event e;
  e.set_case_id(case_id);
  auto* ra = e.mutable_record_accessed();
  ra->add_sections(v1::DATA_SECTION_NOTES);
  ra->set_purpose(purpose);
  if (!refusal.empty()) {
    ra->set_refused(true);
    ra->set_refusal_reason(refusal);
  }
  ASSIGN_OR_RETURN(std::string id, Publish(std::move(e)));
  v1::ControlResponse r;
  AwaitResults({id}, 5000, &r);
  if (r.code() != v1::CONTROL_CODE_OK) {
    return Status::Unavailable("the read could not be recorded in the NRM's access log: " +
                               r.reason());
  }
  return Status::Ok();
}

Result<v1::CaseState> Node::KnownCaseCopy(const std::string& case_arg) {
  ASSIGN_OR_RETURN(std::string id, ResolveCase(case_arg, "case_id"));
  ASSIGN_OR_RETURN(const core::CaseProjection* view, View(id));
  if (!view->exists()) {
    return Status::NotFound("no case " + case_arg + " is known to " + agency());
  }
  // A copy: publishing updates the journal, which drops the cached view.
  return view->state();
}

v1::ControlResponse Node::Notes(const v1::NoteRequest& req) {
  v1::ControlResponse resp;
  auto known = KnownCaseCopy(req.case_id());
  if (!known.ok()) {
    SetError(&resp, known.status());
    resp.set_field("case_id");
    return resp;
  }
  const v1::CaseState& s = *known;
  switch (req.action_case()) {
    case v1::NoteRequest::kAdd: {
      const v1::NoteAdd& add = req.add();
      Status st = core::ValidateNoteText(add.text(), "text");
      if (st.ok()) st = RequireNotes(s);
      if (st.ok() && s.closed()) {
        st = Status::FailedPrecondition("case " + s.case_id() + " is closed", "case_id");
      }
      if (st.ok() && !add.referral_id().empty() &&
          core::FindReferral(s, add.referral_id()) == nullptr) {
        st = Status::InvalidArgument("referral_id",
                                     "referral " + add.referral_id() + " is not in this case");
      }
      auto sealed = st.ok() ? runtime::SealBytes(add.text(), NotesReaders(s))
                            : Result<v1::SealedPersonalData>(st);
      if (!sealed.ok()) {
        SetError(&resp, sealed.status());
        return resp;
      }
      v1::Event e;
      e.set_case_id(s.case_id());
      auto* n = e.mutable_note_added();
      n->set_note_id(core::NewUuidV7());
      n->set_referral_id(add.referral_id());
      *n->mutable_text() = std::move(*sealed);
      const std::string note_id = n->note_id();
      const int readers = n->text().wrapped_keys_size();
      auto published = Publish(std::move(e));
      if (!published.ok()) {
        SetError(&resp, published.status());
        return resp;
      }
      AwaitResults({*published}, 5000, &resp);
      if (resp.code() == v1::CONTROL_CODE_OK) {
        resp.set_text("note " + note_id + " added to case " + s.case_id() + ", sealed for " +
                      std::to_string(readers) + " agencies\n");
        resp.set_json("{\"note_id\":\"" + note_id + "\",\"case_id\":\"" + s.case_id() +
                      "\",\"sealed_for\":" + std::to_string(readers) + "}");
      }
      return resp;
    }
    case v1::NoteRequest::kList: {
      std::ostringstream t;
      std::string json = "{\"case_id\":\"" + s.case_id() + "\",\"notes\":[";
      for (int i = 0; i < s.notes_size(); ++i) {
        const v1::CaseNote& n = s.notes(i);
        t << "note      " << n.note_id() << "  " << core::FormatShownMs(n.at_ms()) << "  "
          << n.written_by() << (n.referral_id().empty() ? "" : "  referral " + n.referral_id())
          << "\n";
        json += std::string(i ? "," : "") + "{\"note_id\":\"" + n.note_id() +
                "\",\"written_by\":\"" + n.written_by() + "\",\"at\":\"" +
                core::FormatUtcMs(n.at_ms()) + "\",\"referral_id\":\"" + n.referral_id() + "\"}";
      }
      json += "],\"documents\":[";
      for (int i = 0; i < s.documents_size(); ++i) {
        const v1::CaseDocument& d = s.documents(i);
        t << "document  " << d.document_id() << "  " << core::FormatShownMs(d.at_ms()) << "  "
          << d.written_by() << "  " << KindName(d.kind()) << "  " << d.media_type() << "  "
          << d.size_bytes() << " bytes\n";
        json += std::string(i ? "," : "") + "{\"document_id\":\"" + d.document_id() +
                "\",\"written_by\":\"" + d.written_by() + "\",\"at\":\"" +
                core::FormatUtcMs(d.at_ms()) + "\",\"kind\":\"" + KindName(d.kind()) +
                "\",\"media_type\":\"" + d.media_type() +
                "\",\"size_bytes\":" + std::to_string(d.size_bytes()) + ",\"referral_id\":\"" +
                d.referral_id() + "\"}";
      }
      json += "]}";
      if (s.notes_size() == 0 && s.documents_size() == 0) {
        t << "no notes or documents in case " << s.case_id() << " that " << agency()
          << " holds\n";
      }
      resp.set_text(t.str());
      resp.set_json(json);
      return resp;
    }
    case v1::NoteRequest::kOpen: {
      const v1::NoteOpen& open = req.open();
      const std::string purpose = open.purpose().empty() ? "read case notes" : open.purpose();
      if (!open.note_id().empty() && core::FindNote(s, open.note_id()) == nullptr) {
        SetError(&resp, Status::NotFound("no note " + open.note_id() + " in case " + s.case_id() +
                                         " is known to " + agency()));
        resp.set_field("note_id");
        return resp;
      }
      Status st = RequireNotes(s);
      if (!st.ok()) {
        Status recorded = RecordNotesRead(s.case_id(), purpose, st.message());
        staff_->Record("notes refused", actor_ ? actor_->account.staff_id() : "",
                       "case " + s.case_id() + ": " + st.message());
        SetError(&resp, Status::PermissionDenied(
                            st.message() + (recorded.ok()
                                                ? "; the attempt was recorded in the NRM's "
                                                  "access log"
                                                : "; the attempt was not recorded"),
                            "case_id"));
        return resp;
      }
      // Open in memory first; record the read; only then show.
      struct Opened {
        const v1::CaseNote* note;
        std::string text;
      };
      std::vector<Opened> opened;
      std::string unopened;
      for (const v1::CaseNote& n : s.notes()) {
        if (!open.note_id().empty() && n.note_id() != open.note_id()) continue;
        auto text = OpenSealedBytes(n.text());
        if (text.ok()) {
          opened.push_back({&n, std::move(*text)});
        } else {
          unopened += "note " + n.note_id() + " does not open for " + agency() + " (" +
                      text.status().message() +
                      "; its writer's node re-seals it when it sees the new holder)\n";
        }
      }
      std::vector<std::pair<const v1::CaseDocument*, v1::DocumentMeta>> titles;
      if (open.note_id().empty()) {
        for (const v1::CaseDocument& d : s.documents()) {
          auto meta = OpenSealedBytes(d.meta());
          v1::DocumentMeta m;
          if (meta.ok() && m.ParseFromString(*meta)) {
            titles.emplace_back(&d, std::move(m));
          }
        }
      }
      if (opened.empty() && titles.empty() && !unopened.empty()) {
        // Nothing opened: what is recorded is what happened, a refused attempt.
        const std::string why = "none of the notes is sealed for " + agency() +
                                " yet (the writer's node re-seals them when it sees the new "
                                "holder)";
        Status recorded = RecordNotesRead(s.case_id(), purpose, why);
        SetError(&resp, Status::PermissionDenied(
                            why + (recorded.ok() ? "; the attempt was recorded in the NRM's "
                                                   "access log"
                                                 : "; the attempt was not recorded"),
                            "case_id"));
        return resp;
      }
      if (Status rec = RecordNotesRead(s.case_id(), purpose, ""); !rec.ok()) {
        SetError(&resp, rec);
        return resp;
      }
      std::ostringstream t;
      std::string json = "{\"case_id\":\"" + s.case_id() + "\",\"notes\":[";
      for (size_t i = 0; i < opened.size(); ++i) {
        const v1::CaseNote& n = *opened[i].note;
        t << "-- note " << n.note_id() << ", " << core::FormatShownMs(n.at_ms()) << ", "
          << n.written_by() << "\n"
          << opened[i].text << "\n";
        json += std::string(i ? "," : "") + "{\"note_id\":\"" + n.note_id() +
                "\",\"written_by\":\"" + n.written_by() + "\",\"at\":\"" +
                core::FormatUtcMs(n.at_ms()) + "\",\"text\":" + JsonText(opened[i].text) + "}";
      }
      json += "],\"documents\":[";
      for (size_t i = 0; i < titles.size(); ++i) {
        const v1::CaseDocument& d = *titles[i].first;
        t << "-- document " << d.document_id() << ", " << KindName(d.kind()) << ": "
          << titles[i].second.title() << " (" << titles[i].second.file_name() << ")\n";
        json += std::string(i ? "," : "") + "{\"document_id\":\"" + d.document_id() +
                "\",\"title\":" + JsonText(titles[i].second.title()) +
                ",\"file_name\":" + JsonText(titles[i].second.file_name()) + "}";
      }
      json += "]}";
      t << unopened << "(this read was recorded in the NRM's access log)\n";
      resp.set_text(t.str());
      resp.set_json(json);
      return resp;
    }
    default:
      SetError(&resp, Status::InvalidArgument("action", "add, list or open"));
      return resp;
  }
}

v1::ControlResponse Node::Documents(const v1::DocumentRequest& req) {
  v1::ControlResponse resp;
  auto known = KnownCaseCopy(req.case_id());
  if (!known.ok()) {
    SetError(&resp, known.status());
    resp.set_field("case_id");
    return resp;
  }
  const v1::CaseState& s = *known;
  if (req.has_attach()) {
    const v1::DocumentAttach& a = req.attach();
    Status st = core::ValidateDocumentUpload(a.kind(), a.title(), a.file_name(), a.content(),
                                             "document");
    if (st.ok()) st = RequireNotes(s);
    if (st.ok() && s.closed()) {
      st = Status::FailedPrecondition("case " + s.case_id() + " is closed", "case_id");
    }
    if (st.ok() && !a.referral_id().empty() && core::FindReferral(s, a.referral_id()) == nullptr) {
      st = Status::InvalidArgument("referral_id",
                                   "referral " + a.referral_id() + " is not in this case");
    }
    if (!st.ok()) {
      SetError(&resp, st);
      return resp;
    }
    v1::DocumentMeta meta;
    meta.set_title(a.title());
    meta.set_file_name(a.file_name());
    auto sealed = runtime::SealWithContent(meta.SerializeAsString(), a.content(), NotesReaders(s));
    if (!sealed.ok()) {
      SetError(&resp, sealed.status());
      return resp;
    }
    const std::string document_id = core::NewUuidV7();
    // The bytes first, synced at the broker; then the event that names them.
    v1::ClientFrame put;
    put.mutable_document_put()->set_case_id(s.case_id());
    put.mutable_document_put()->set_document_id(document_id);
    put.mutable_document_put()->set_content(sealed->content);
    auto stored = client_->Call(std::move(put), 30000);
    if (!stored.ok() || stored->has_error()) {
      SetError(&resp, stored.ok() ? Status(StatusFromWire(stored->error().code()),
                                           stored->error().reason(), stored->error().field())
                                  : stored.status());
      return resp;
    }
    v1::Event e;
    e.set_case_id(s.case_id());
    auto* d = e.mutable_document_attached();
    d->set_document_id(document_id);
    d->set_referral_id(a.referral_id());
    d->set_kind(a.kind());
    d->set_media_type(core::SniffMediaType(a.content()));
    d->set_size_bytes(a.content().size());
    d->set_content_sha256(Sha256(sealed->content));
    d->set_content_bytes(sealed->content.size());
    d->set_content_nonce(sealed->content_nonce);
    *d->mutable_meta() = std::move(sealed->meta);
    const std::string media = d->media_type();
    const int readers = d->meta().wrapped_keys_size();
    auto published = Publish(std::move(e));
    if (!published.ok()) {
      SetError(&resp, published.status());
      return resp;
    }
    AwaitResults({*published}, 5000, &resp);
    if (resp.code() == v1::CONTROL_CODE_OK) {
      resp.set_text("document " + document_id + " (" + media + ", " +
                    std::to_string(a.content().size()) + " bytes) attached to case " +
                    s.case_id() + ", sealed for " + std::to_string(readers) + " agencies\n");
      resp.set_json("{\"document_id\":\"" + document_id + "\",\"case_id\":\"" + s.case_id() +
                    "\",\"media_type\":\"" + media + "\",\"size_bytes\":" +
                    std::to_string(a.content().size()) + ",\"sealed_for\":" +
                    std::to_string(readers) + "}");
    }
    return resp;
  }
  if (!req.has_open()) {
    SetError(&resp, Status::InvalidArgument("action", "attach or open"));
    return resp;
  }
  const v1::DocumentOpen& o = req.open();
  const v1::CaseDocument* doc = core::FindDocument(s, o.document_id());
  if (doc == nullptr) {
    SetError(&resp, Status::NotFound("no document " + o.document_id() + " in case " +
                                     s.case_id() + " is known to " + agency()));
    resp.set_field("document_id");
    return resp;
  }
  const std::string purpose = o.purpose().empty() ? "open a document" : o.purpose();
  std::string refusal;
  Result<std::string> content = Status::PermissionDenied("not opened");
  v1::DocumentMeta meta;
  if (Status st = RequireNotes(s); !st.ok()) {
    refusal = st.message();
  } else {
    v1::ClientFrame get;
    get.mutable_document_get()->set_case_id(s.case_id());
    get.mutable_document_get()->set_document_id(doc->document_id());
    auto got = client_->Call(std::move(get), 30000);
    if (!got.ok() || got->has_error() || !got->has_document_content()) {
      SetError(&resp, !got.ok() ? got.status()
                                : got->has_error()
                                      ? Status(StatusFromWire(got->error().code()),
                                               got->error().reason(), got->error().field())
                                      : Status::Internal("the broker answered something else"));
      return resp;
    }
    const std::string& cipher = got->document_content().content();
    if (Sha256(cipher) != doc->content_sha256()) {
      SetError(&resp, Status::Corruption("the broker's copy of document " + doc->document_id() +
                                         " does not match the hash in the log: it was altered"));
      return resp;
    }
    auto m = OpenSealedBytes(doc->meta());
    if (!m.ok() || !meta.ParseFromString(*m)) {
      refusal = "the document is not (yet) sealed for " + agency() +
                " (its writer's node re-seals it when it sees the new holder)";
    } else {
      content = runtime::OpenContent(doc->meta(), doc->content_nonce(), cipher, agency(),
                                     options_.sealing);
      for (const auto& old : options_.previous_sealing) {
        if (content.ok()) break;
        content = runtime::OpenContent(doc->meta(), doc->content_nonce(), cipher, agency(), old);
      }
      if (!content.ok()) {
        refusal = content.status().message();
      }
    }
  }
  if (!refusal.empty()) {
    Status recorded = RecordNotesRead(s.case_id(), purpose, refusal);
    staff_->Record("document refused", actor_ ? actor_->account.staff_id() : "",
                   "case " + s.case_id() + ": " + refusal);
    SetError(&resp, Status::PermissionDenied(
                        refusal + (recorded.ok() ? "; the attempt was recorded in the NRM's "
                                                   "access log"
                                                 : "; the attempt was not recorded"),
                        "case_id"));
    return resp;
  }
  if (Status rec = RecordNotesRead(s.case_id(), purpose, ""); !rec.ok()) {
    SetError(&resp, rec);
    return resp;
  }
  resp.set_media_type(doc->media_type());
  resp.set_file_name(meta.file_name());
  resp.set_content(std::move(*content));
  resp.set_text("document " + doc->document_id() + " (" + doc->media_type() + ", " +
                std::to_string(resp.content().size()) +
                " bytes); this read was recorded in the NRM's access log\n");
  resp.set_json("{\"document_id\":\"" + doc->document_id() + "\",\"media_type\":\"" +
                doc->media_type() + "\",\"size_bytes\":" + std::to_string(resp.content().size()) +
                ",\"title\":" + JsonText(meta.title()) + ",\"file_name\":" +
                JsonText(meta.file_name()) + "}");
  return resp;
}

void Node::ResealNotesOf(const v1::CaseState& s) {
  std::map<std::string, std::string> readers = NotesReaders(s);
  std::set<std::string> want;
  for (const auto& [a, _] : readers) want.insert(a);
  readers.erase(agency());
  auto reseal = [&](const std::string& id, const v1::SealedPersonalData& sealed) {
    std::set<std::string> have;
    for (const auto& w : sealed.wrapped_keys()) have.insert(w.agency_id());
    const std::string key = id + "/" + std::to_string(s.version());
    if (have == want || !resealed_suspects_.insert(key).second) {
      return;
    }
    auto out = runtime::Rewrap(sealed, agency(), options_.sealing, readers);
    for (const auto& old : options_.previous_sealing) {
      if (out.ok()) break;
      out = runtime::Rewrap(sealed, agency(), old, readers);
    }
    if (!out.ok()) {
      spdlog::warn("{}: cannot re-seal a note in case {}: {}", agency(), s.case_id(),
                   out.status().ToString());
      return;
    }
    v1::Event e;
    e.set_case_id(s.case_id());
    e.set_actor_role(v1::ACTOR_ROLE_SYSTEM);
    e.set_actor_user(agency() + "/sealing");
    e.mutable_note_resealed()->set_note_id(id);
    *e.mutable_note_resealed()->mutable_sealed() = std::move(*out);
    if (Publish(std::move(e)).ok()) {
      spdlog::info("{}: a note in case {} re-sealed for {} agencies", agency(), s.case_id(),
                   want.size());
    }
  };
  for (const v1::CaseNote& n : s.notes()) {
    if (n.written_by() == agency()) reseal(n.note_id(), n.text());
  }
  for (const v1::CaseDocument& d : s.documents()) {
    if (d.written_by() == agency()) reseal(d.document_id(), d.meta());
  }
}

}  // namespace passage::node
