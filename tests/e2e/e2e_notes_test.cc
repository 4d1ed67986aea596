// End-to-end tests of case notes and documents (docs/notes-and-documents.md) through the real
// processes, driven as case workers drive them: passagectl signed in on their agency's node
// (note add|list|open, document attach|open, refer).
//
// 1. A note and a document written at the police are sealed for exactly the agencies that hold
//    the case's notes: a shelter whose accepted referral shares NOTES opens both (after the
//    police node re-seals them for it); a shelter whose referral does not share them receives
//    nothing and opens nothing; no store on the machine holds the text, the title or the
//    document's bytes in clear; every read is in the access log.
// 2. Bad input is refused (exit 2) with the field at fault: a text file named .pdf, a document over the
//    limit, an empty note, a note on a case the agency does not hold the notes of.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "tests/e2e/desk.h"
#include "tests/e2e/nrm_harness.h"

namespace passage::e2e {
namespace {

constexpr const char* kFia = "fia-karachi";
constexpr const char* kShelter = "dastak-shelter";
constexpr const char* kOther = "panah-shelter";

// Markers that must never be found in clear in any store.
constexpr const char* kNoteText = "Visited Ayesha-Notemarker at the clinic; she fears the agent.";
constexpr const char* kShelterNote = "Shelter-Notemarker: settled in, sleeping well.";
constexpr const char* kTitle = "Certificate-Titlemarker";
constexpr const char* kPdfMarker = "PDF-Bodymarker-5512";

std::string SmallPdf() {
  return std::string("%PDF-1.4\n% ") + kPdfMarker +
         "\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
}

std::set<std::string> Holders(const v1::SealedPersonalData& s) {
  std::set<std::string> out;
  for (const auto& k : s.wrapped_keys()) out.insert(k.agency_id());
  return out;
}

// Every file under `root` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& root, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& f : std::filesystem::recursive_directory_iterator(root)) {
    if (!f.is_regular_file()) continue;
    std::ifstream in(f.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) out.push_back(f.path().string());
  }
  return out;
}

TEST(E2eNotes, NotesAndDocumentsAreSealedForExactlyTheAgenciesThatHoldThem) {
  Nrm nrm({FirstResponder(kFia), Protection(kShelter, v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER}),
           Protection(kOther, v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER})},
          v1::RuleSet());
  ASSERT_TRUE(nrm.Start());
  Desk desk(nrm);
  for (const char* id : {kFia, kShelter, kOther}) {
    ASSERT_TRUE(desk.SignIn(id));
  }
  auto case_id = nrm.Intake(kFia, AdultWomanSexuallyExploited(true));
  ASSERT_TRUE(case_id.ok()) << case_id.status().ToString();
  const std::string case_arg = *case_id;
  v1::CaseState c;
  ASSERT_TRUE(desk.WaitCase(
      kFia, case_arg, [](const v1::CaseState& s) { return s.consents_size() == 2; }, &c,
      "the consents"));
  const std::string services = ConsentOf(c, v1::CONSENT_SCOPE_SERVICES);
  ASSERT_FALSE(services.empty());

  // The inputs live outside the NRM's directory, which is searched for them below.
  const std::string inputs = nrm.dir() + "-inputs";
  std::filesystem::create_directories(inputs);
  const std::string pdf = inputs + "/certificate.pdf";
  std::ofstream(pdf, std::ios::binary) << SmallPdf();

  // The police write a note (from standard input) and attach a medical certificate.
  CtlProc p = desk.Run(kFia, {"--json", "note", "add", case_arg, "--file", "-"}, kNoteText);
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string note = JsonField(p.out, "note_id");
  ASSERT_FALSE(note.empty()) << p.out;
  p = desk.Run(kFia, {"--json", "document", "attach", case_arg, pdf, "--kind",
                      "medical_certificate", "--title", kTitle});
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string document = JsonField(p.out, "document_id");
  ASSERT_FALSE(document.empty()) << p.out;
  EXPECT_EQ(JsonField(p.out, "media_type"), "application/pdf") << p.out;

  // One shelter's referral shares the notes, the other's does not.
  p = desk.Run(kFia, {"refer", case_arg, "--to", kShelter, "--service", "shelter", "--consent",
                      services, "--scope", "profile,referrals,notes"});
  ASSERT_EQ(p.code, 0) << p.err;
  p = desk.Run(kFia, {"refer", case_arg, "--to", kOther, "--service", "shelter", "--consent",
                      services, "--scope", "profile,referrals"});
  ASSERT_EQ(p.code, 0) << p.err;
  for (const char* id : {kShelter, kOther}) {
    ASSERT_TRUE(nrm.WaitInbox(
        id,
        [&](const std::vector<v1::Referral>& in) {
          return in.size() == 1 && in[0].status() == v1::REFERRAL_STATUS_ACCEPTED;
        },
        nullptr, std::string(id) + " to accept by policy"));
  }
  // The police node re-seals the note and the document for the shelter that now holds them.
  ASSERT_TRUE(desk.WaitCase(
      kShelter, case_arg,
      [&](const v1::CaseState& s) {
        return s.notes_size() == 1 && s.documents_size() == 1 &&
               Holders(s.notes(0).text()).count(kShelter) == 1 &&
               Holders(s.documents(0).meta()).count(kShelter) == 1;
      },
      &c, "the note and the document re-sealed for the shelter"));
  EXPECT_EQ(Holders(c.notes(0).text()), (std::set<std::string>{kFia, kShelter}));
  EXPECT_EQ(c.documents(0).size_bytes(), SmallPdf().size());

  // The shelter reads the note and the title, and opens the document: the same bytes.
  p = desk.Run(kShelter, {"note", "open", case_arg, "--purpose", "admission"});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find(kNoteText), std::string::npos) << p.out;
  EXPECT_NE(p.out.find(kTitle), std::string::npos) << p.out;
  const std::string opened = inputs + "/opened.pdf";
  p = desk.Run(kShelter, {"document", "open", case_arg, document, "--out", opened});
  ASSERT_EQ(p.code, 0) << p.err;
  {
    std::ifstream in(opened, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes, SmallPdf());
    EXPECT_EQ(std::filesystem::status(opened).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  // An existing file is not replaced.
  p = desk.Run(kShelter, {"document", "open", case_arg, document, "--out", opened});
  EXPECT_EQ(p.code, 2) << p.out;
  EXPECT_NE(p.err.find("--out"), std::string::npos) << p.err;

  // The shelter writes its own note; the police read both.
  p = desk.Run(kShelter, {"note", "add", case_arg, "--file", "-"}, kShelterNote);
  ASSERT_EQ(p.code, 0) << p.err;
  ASSERT_TRUE(desk.WaitCase(
      kFia, case_arg, [](const v1::CaseState& s) { return s.notes_size() == 2; }, nullptr,
      "the shelter's note at the police"));
  p = desk.Run(kFia, {"note", "open", case_arg});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find(kNoteText), std::string::npos) << p.out;
  EXPECT_NE(p.out.find(kShelterNote), std::string::npos) << p.out;

  // The other shelter receives neither the notes nor the document, and opens nothing.
  ASSERT_TRUE(nrm.Settle());
  auto other = desk.Case(kOther, case_arg);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->notes_size(), 0) << other->ShortDebugString().substr(0, 2000);
  EXPECT_EQ(other->documents_size(), 0);
  p = desk.Run(kOther, {"note", "open", case_arg, "--purpose", "curiosity"});
  EXPECT_NE(p.code, 0) << p.out;
  EXPECT_EQ(p.out.find("Notemarker"), std::string::npos) << p.out;
  EXPECT_NE(p.err.find("does not hold the notes"), std::string::npos) << p.err;
  p = desk.Run(kOther, {"document", "open", case_arg, document, "--out", inputs + "/x.pdf"});
  EXPECT_NE(p.code, 0) << p.out;
  EXPECT_FALSE(std::filesystem::exists(inputs + "/x.pdf"));
  p = desk.Run(kOther, {"note", "add", case_arg, "--file", "-"}, "a note it may not write");
  EXPECT_NE(p.code, 0) << p.out;
  EXPECT_NE(p.err.find("does not hold the notes"), std::string::npos) << p.err;

  // Nothing in clear anywhere: broker, log, every node's store, sessions.
  ASSERT_TRUE(nrm.Settle());
  for (const std::string& marker : {std::string("Ayesha-Notemarker"),
                                   std::string("Shelter-Notemarker"), std::string(kTitle),
                                   std::string(kPdfMarker)}) {
    EXPECT_EQ(FilesContaining(nrm.dir(), marker), std::vector<std::string>{}) << marker;
  }

  // Every read is in the access log, the refused attempt too.
  auto log = nrm.Journey(case_arg);
  ASSERT_TRUE(log.has_value());
  int reads = 0, refused = 0;
  for (const auto& e : log->entries) {
    if (e.event != "record_accessed" || e.text.find("NOTES") == std::string::npos) continue;
    ++reads;
    refused += e.text.find("refused") != std::string::npos;
  }
  EXPECT_GE(reads, 4) << log->Summary();
  EXPECT_GE(refused, 1) << log->Summary();  // the other shelter's try (its node never saw the
                                            // document, so it did not ask for it)
  std::filesystem::remove_all(inputs);
}

TEST(E2eNotes, BadNotesAndDocumentsAreRefusedNamingTheField) {
  Nrm nrm({FirstResponder(kFia)}, v1::RuleSet());
  ASSERT_TRUE(nrm.Start());
  Desk desk(nrm);
  ASSERT_TRUE(desk.SignIn(kFia));
  auto case_id = nrm.Intake(kFia, AdultWomanSexuallyExploited(true));
  ASSERT_TRUE(case_id.ok()) << case_id.status().ToString();
  ASSERT_TRUE(desk.WaitCase(
      kFia, *case_id, [](const v1::CaseState& s) { return s.consents_size() == 2; }, nullptr,
      "the case"));
  const std::string inputs = nrm.dir() + "-inputs";
  std::filesystem::create_directories(inputs);

  // A text file named .pdf: the type comes from the content.
  const std::string fake = inputs + "/summons.pdf";
  std::ofstream(fake) << "this is not a PDF at all\n";
  CtlProc p = desk.Run(kFia, {"document", "attach", *case_id, fake, "--kind", "court_summons"});
  EXPECT_EQ(p.code, 2) << p.out;
  EXPECT_NE(p.err.find("document.content"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("not a PDF, JPEG or PNG"), std::string::npos) << p.err;
  // Over 10 MiB.
  const std::string big = inputs + "/big.png";
  {
    std::string bytes("\x89PNG\r\n\x1a\n", 8);
    bytes.resize(10 * 1024 * 1024 + 1, 'x');
    std::ofstream(big, std::ios::binary) << bytes;
  }
  p = desk.Run(kFia, {"document", "attach", *case_id, big, "--kind", "other"});
  EXPECT_EQ(p.code, 2) << p.out;
  EXPECT_NE(p.err.find("at most 10485760"), std::string::npos) << p.err;
  // An unknown kind, with a suggestion.
  p = desk.Run(kFia, {"document", "attach", *case_id, fake, "--kind", "medical_certifcate"});
  EXPECT_EQ(p.code, 2) << p.out;
  EXPECT_NE(p.err.find("--kind"), std::string::npos) << p.err;
  // An empty note; a note with a control character; a note too long.
  p = desk.Run(kFia, {"note", "add", *case_id, "--file", "-"}, "   \n");
  EXPECT_EQ(p.code, 2) << p.out;
  EXPECT_NE(p.err.find("text"), std::string::npos) << p.err;
  p = desk.Run(kFia, {"note", "add", *case_id, "--file", "-"}, std::string("bell\x07here"));
  EXPECT_EQ(p.code, 2) << p.out;
  EXPECT_NE(p.err.find("control character"), std::string::npos) << p.err;
  p = desk.Run(kFia, {"note", "add", *case_id, "--file", "-"}, std::string(20001, 'a'));
  EXPECT_EQ(p.code, 2) << p.out;
  EXPECT_NE(p.err.find("at most 20000"), std::string::npos) << p.err;
  // A note's text is never an argument.
  p = desk.Run(kFia, {"note", "add", *case_id});
  EXPECT_EQ(p.code, 2) << p.out;
  EXPECT_NE(p.err.find("--file"), std::string::npos) << p.err;
  // Nothing of it was recorded.
  ASSERT_TRUE(nrm.Settle());
  auto at_fia = desk.Case(kFia, *case_id);
  ASSERT_TRUE(at_fia.has_value());
  EXPECT_EQ(at_fia->notes_size(), 0);
  EXPECT_EQ(at_fia->documents_size(), 0);
  std::filesystem::remove_all(inputs);
}

}  // namespace
}  // namespace passage::e2e
