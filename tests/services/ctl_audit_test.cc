// passagectl audit, replay and admin against real log directories (EventLog + RocksDB), run
// in-process through RunPassagectl: a clean copy verifies and is left byte-for-byte untouched;
// each kind of damage done with the RocksDB API (one byte of a value, a deleted key, two swapped
// entries, a cut tail, a forged history re-signed with another key) is detected and located;
// proofs, consistency with saved heads, replay, the access log, and checkpoint / backup / restore.
// The online commands (audit heads / consistency via a node) run against a fake node socket that
// answers with heads and proofs taken from a real log.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <zmq.hpp>

#include "broker/log/event_log.h"
#include "broker/merkle/merkle.h"
#include "core/codes.h"
#include "passage/v1/control.pb.h"
#include "passage/v1/wire.pb.h"
#include "services/ctl/audit.h"
#include "services/ctl/cli.h"
#include "services/ctl/ctl.h"
#include "tests/services/ctl_runner.h"
#include "tests/services/audit_log_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace passage::ctl {
namespace {

namespace fs = std::filesystem;
namespace v1 = passage::v1;
using namespace passage::testing::audit_fixture;  // NOLINT: the fixture's names are the story


google::protobuf::Struct Json(const std::string& text) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &s).ok()) << text;
  return s;
}

double Num(const google::protobuf::Struct& s, const std::string& k) {
  return s.fields().at(k).number_value();
}
std::string Str(const google::protobuf::Struct& s, const std::string& k) {
  return s.fields().at(k).string_value();
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The broker's tree-head key (seed 's') in hex, as an agency would pin it.
std::string KeyHex(char seed = 's') {
  std::string hex;
  for (unsigned char c : PublicKey(seed)) {
    char b[3];
    std::snprintf(b, sizeof(b), "%02x", c);
    hex += b;
  }
  return hex;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

// One clean log per test binary; each test damages its own copy.
class AuditTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new testing::TempDir();
    BuildLog(Template());
    // To look at the log by hand (passagectl, ldb): PASSAGE_AUDIT_KEEP_LOG=/some/new/dir.
    if (const char* keep = std::getenv("PASSAGE_AUDIT_KEEP_LOG"); keep != nullptr) {
      CopyDir(Template(), keep);
    }
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }
  static std::string Template() { return tmp_->Sub("template-log"); }

  // A fresh copy of the clean log.
  std::string Copy(const std::string& name = "log") {
    const std::string dir = dir_.Sub(name);
    CopyDir(Template(), dir);
    return dir;
  }

  // `audit heads` of a log at `size` (0 = latest), into a file.
  std::string HeadFile(const std::string& log, uint64_t size, const std::string& name) {
    const std::string file = dir_.Sub(name);
    std::vector<std::string> args = {"audit", "heads", "--log", log, "--out", file};
    if (size != 0) {
      args.push_back("--size");
      args.push_back(std::to_string(size));
    }
    CtlRun r = Ctl(args);
    EXPECT_EQ(r.code, 0) << r.err;
    return file;
  }

  CtlRun Verify(const std::string& log, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--json", "audit", "verify", "--log", log};
    args.insert(args.end(), extra.begin(), extra.end());
    return Ctl(args);
  }

  static testing::TempDir* tmp_;
  testing::TempDir dir_;
};

testing::TempDir* AuditTest::tmp_ = nullptr;

// Expects `r` to be a failed verification naming `kind` at `seq` (0: any seq).
void ExpectDamage(const CtlRun& r, const std::string& kind, uint64_t seq) {
  EXPECT_EQ(r.code, kExitVerifyFailed) << r.out << r.err;
  auto j = Json(r.out);
  EXPECT_FALSE(j.fields().at("ok").bool_value());
  EXPECT_EQ(Str(j, "kind"), kind) << Str(j, "reason");
  if (seq != 0) {
    EXPECT_EQ(Num(j, "first_bad_seq"), seq) << Str(j, "reason");
    EXPECT_NE(r.err.find("passagectl: seq " + std::to_string(seq) + ": "), std::string::npos)
        << r.err;
  }
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(AuditTest, CleanCopyVerifiesAndOfflineCommandsLeaveItUntouched) {
  const std::string log = Copy();
  const auto before = DirectoryChecksums(log);
  CtlRun r = Ctl({"audit", "verify", "--log", log, "--check-indexes"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("result      ok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("events      40 checked"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("heads       8 signed tree heads"), std::string::npos) << r.out;

  r = Verify(log, {"--public-key", KeyHex()});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = Json(r.out);
  EXPECT_TRUE(j.fields().at("ok").bool_value());
  EXPECT_TRUE(j.fields().at("key_pinned").bool_value());
  EXPECT_EQ(Num(j, "final_size"), kEntries);

  // Every offline command, then the same bytes.
  const std::string head = HeadFile(log, 11, "head11.json");
  EXPECT_EQ(Ctl({"audit", "consistency", "--sth", head, "--log", log}).code, 0);
  EXPECT_EQ(Ctl({"audit", "proof", "--log", log, "--seq", "3", "--out", dir_.Sub("p.json")}).code,
            0);
  EXPECT_EQ(Ctl({"audit", "access", kCaseA, "--log", log}).code, 0);
  EXPECT_EQ(Ctl({"replay", "--log", log, "--until", "20", "--case", kCaseA, "--journey", kCaseA,
                 "--stats", "sex", "--digest"})
                .code,
            0);
  EXPECT_EQ(Ctl({"admin", "checkpoint", dir_.Sub("cp"), "--log", log}).code, 0);
  EXPECT_EQ(before, DirectoryChecksums(log));
}

TEST_F(AuditTest, OneChangedByteIsModifiedAtItsSeq) {
  const std::string log = Copy();
  {
    Tamper t(log);
    std::string v = t.Event(17);
    v[v.size() - 3] ^= 0x01;  // inside the event bytes
    t.PutEvent(17, v);
  }
  ExpectDamage(Verify(log), "modified", 17);
}

TEST_F(AuditTest, DeletedEntryIsMissingAtItsSeq) {
  const std::string log = Copy();
  {
    Tamper t(log);
    t.Delete("events", log::EncodeBe64(13));
  }
  ExpectDamage(Verify(log), "missing", 13);
}

TEST_F(AuditTest, SwappedEntriesAreReordered) {
  const std::string log = Copy();
  {
    Tamper t(log);
    const std::string a = t.Event(21);
    const std::string b = t.Event(22);
    t.PutEvent(21, b);
    t.PutEvent(22, a);
  }
  ExpectDamage(Verify(log), "reordered", 21);
}

TEST_F(AuditTest, CutTailIsTruncated) {
  const std::string log = Copy();
  {
    Tamper t(log);
    for (uint64_t seq = 36; seq <= kEntries; ++seq) {
      t.Delete("events", log::EncodeBe64(seq));
    }
  }
  ExpectDamage(Verify(log), "truncated", 36);
}

TEST_F(AuditTest, ForgedHistoryIsCaughtByTheTrustedKeyOrAnAgencysHead) {
  const std::string log = Copy();
  const std::string agency_head = HeadFile(log, 26, "agency-head.json");
  Forge(log, 15, 'f', /*replace_key=*/true);
  // Trust on first use believes the forger's key...
  EXPECT_EQ(Verify(log).code, 0);
  // ...the broker's real key does not: the first head not validly signed covers seq 15.
  CtlRun pinned = Verify(log, {"--public-key", KeyHex()});
  EXPECT_EQ(pinned.code, kExitVerifyFailed) << pinned.out;
  EXPECT_EQ(Str(Json(pinned.out), "kind"), "bad_signature");
  EXPECT_LE(Num(Json(pinned.out), "first_bad_seq"), 15);
  // An agency's saved head pins the key too, and names the damage against it.
  CtlRun against = Verify(log, {"--against-sth", agency_head});
  EXPECT_EQ(against.code, kExitVerifyFailed) << against.out;
  const std::string kind = Str(Json(against.out), "kind");
  EXPECT_TRUE(kind == "bad_signature" || kind == "fork") << kind;
  // And the consistency check against that head fails.
  CtlRun c = Ctl({"audit", "consistency", "--sth", agency_head, "--log", log});
  EXPECT_EQ(c.code, kExitVerifyFailed) << c.out << c.err;
}

TEST_F(AuditTest, HistoryRewrittenWithTheRealKeyIsAForkAgainstAnOlderHead) {
  const std::string log = Copy();
  const std::string agency_head = HeadFile(log, 19, "agency-head.json");
  Forge(log, 10, 's', /*replace_key=*/false);  // someone holding the broker's key
  EXPECT_EQ(Verify(log).code, 0);              // self-consistent
  ExpectDamage(Verify(log, {"--against-sth", agency_head}), "fork", 19);
  CtlRun c = Ctl({"--json", "audit", "consistency", "--sth", agency_head, "--log", log});
  EXPECT_EQ(c.code, kExitVerifyFailed) << c.out << c.err;
  EXPECT_EQ(Str(Json(c.out), "kind"), "fork");
}

TEST_F(AuditTest, ConsistencyWithOlderHeadsAndAgainstForkedOrTruncatedCopies) {
  const std::string log = Copy();
  for (uint64_t size : {1, 6, 26, 40}) {
    const std::string head = HeadFile(log, size, "head" + std::to_string(size) + ".json");
    CtlRun r = Ctl({"--json", "audit", "consistency", "--sth", head, "--log", log});
    EXPECT_EQ(r.code, 0) << size << r.out << r.err;
    auto j = Json(r.out);
    EXPECT_TRUE(j.fields().at("consistent").bool_value());
    EXPECT_TRUE(j.fields().at("recomputed").bool_value());
    EXPECT_EQ(Num(j, "second_size"), kEntries);
  }
  // A head a forked history signed (same key, other entries).
  const std::string fork = dir_.Sub("fork");
  BuildLog(fork, 30);
  const std::string fork_head = HeadFile(fork, 26, "fork26.json");
  CtlRun f = Ctl({"--json", "audit", "consistency", "--sth", fork_head, "--log", log});
  EXPECT_EQ(f.code, kExitVerifyFailed) << f.out;
  EXPECT_EQ(Str(Json(f.out), "kind"), "fork");
  EXPECT_NE(f.err.find("passagectl: --sth: fork: "), std::string::npos) << f.err;
  // A copy rolled back to an older state than the head an agency holds.
  const std::string old = dir_.Sub("old");
  {
    log::EventLogOptions o;
    o.path = dir_.Sub("growing");
    o.signing_seed = Seed();
    BuildLog(o.path, 19);
    auto l = log::EventLog::Open(o);
    ASSERT_OK(l);
    ASSERT_OK((*l)->Checkpoint(old));
  }
  BuildLog(dir_.Sub("growing"));
  const std::string newer = HeadFile(dir_.Sub("growing"), 34, "growing34.json");
  CtlRun t = Ctl({"--json", "audit", "consistency", "--sth", newer, "--log", old});
  EXPECT_EQ(t.code, kExitVerifyFailed) << t.out;
  EXPECT_EQ(Str(Json(t.out), "kind"), "truncated");
  // A head signed by another key is refused before anything else.
  const std::string other = dir_.Sub("other-key");
  BuildLog(other, 6, 'o');
  CtlRun k = Ctl({"audit", "consistency", "--sth", HeadFile(other, 6, "o6.json"), "--log", log});
  EXPECT_EQ(k.code, kExitVerifyFailed) << k.out;
  EXPECT_NE(k.out.find("bad_signature"), std::string::npos) << k.out;
  // A head whose signature was altered.
  std::string text = ReadFile(dir_.Sub("head6.json"));
  auto pos = text.find("\"signature\":\"") + 13;
  text[pos] = text[pos] == 'a' ? 'b' : 'a';
  WriteFile(dir_.Sub("bad.json"), text);
  CtlRun b = Ctl({"audit", "consistency", "--sth", dir_.Sub("bad.json"), "--log", log});
  EXPECT_EQ(b.code, kExitVerifyFailed);
  EXPECT_NE(b.err.find("not validly signed"), std::string::npos) << b.err;
}

TEST_F(AuditTest, ProofJsonVerifiesWithTheLogsOwnHashes) {
  const std::string log = Copy();
  const std::string file = dir_.Sub("proof.json");
  const std::string env = dir_.Sub("entry.bin");
  CtlRun r = Ctl({"audit", "proof", "--log", log, "--seq", "9", "--size", "26", "--out", file,
                  "--envelope", env});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = Json(ReadFile(file));
  EXPECT_EQ(Str(j, "format"), "passage-inclusion-proof/1");
  EXPECT_EQ(Num(j, "seq"), 9);
  EXPECT_EQ(Num(j, "leaf_index"), 8);
  EXPECT_EQ(Num(j, "tree_size"), 26);
  const std::string bytes = ReadFile(env);
  EXPECT_EQ(Str(j, "leaf_hash"), merkle::ToHex(merkle::LeafHash(bytes)));
  std::vector<merkle::Hash> path;
  for (const auto& v : j.fields().at("audit_path").list_value().values()) {
    merkle::Hash h{};
    for (size_t i = 0; i < 32; ++i) {
      h[i] = static_cast<uint8_t>(std::stoi(v.string_value().substr(2 * i, 2), nullptr, 16));
    }
    path.push_back(h);
  }
  auto head = ParseSignedHeadJson(ReadFile(file), "proof");  // the head inside the proof
  ASSERT_OK(head);
  EXPECT_EQ(head->head.tree_size, 26u);
  EXPECT_EQ(merkle::ToHex(head->head.root), Str(j, "root"));
  EXPECT_OK(merkle::VerifyInclusion(merkle::LeafHash(bytes), 8, 26, path, head->head.root));
  EXPECT_OK(merkle::VerifyTreeHead(head->head, head->signature, head->public_key));
  // Sizes without a stored head, and entries past the end, are refused.
  EXPECT_EQ(Ctl({"audit", "proof", "--log", log, "--seq", "9", "--size", "25"}).code,
            kExitNotFound);
  EXPECT_EQ(Ctl({"audit", "proof", "--log", log, "--seq", "41"}).code, kExitNotFound);
  // Without --out the proof goes to standard output, against the latest head.
  CtlRun latest = Ctl({"audit", "proof", "--log", log, "--seq", "40"});
  ASSERT_EQ(latest.code, 0);
  EXPECT_EQ(Num(Json(latest.out), "tree_size"), 40);
}

TEST_F(AuditTest, HeadFilesRoundTripInBothJsonForms) {
  const std::string log = Copy();
  auto mine = ParseSignedHeadJson(ReadFile(HeadFile(log, 11, "h.json")), "h.json");
  ASSERT_OK(mine);
  EXPECT_EQ(mine->head.tree_size, 11u);
  EXPECT_OK(merkle::VerifyTreeHead(mine->head, mine->signature, mine->public_key));
  // The same head as a passage.v1.SignedTreeHead in protobuf JSON (base64 bytes, camelCase).
  v1::SignedTreeHead wire;
  wire.set_tree_size(mine->head.tree_size);
  wire.set_root_hash(std::string(merkle::AsBytes(mine->head.root)));
  wire.set_timestamp_ms(mine->head.timestamp_ms);
  wire.set_signature(mine->signature);
  wire.set_log_public_key(mine->public_key);
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(wire, &json).ok());
  auto theirs = ParseSignedHeadJson(json, "wire");
  ASSERT_OK(theirs);
  EXPECT_EQ(theirs->head.root, mine->head.root);
  EXPECT_EQ(theirs->signature, mine->signature);
  EXPECT_EQ(theirs->head.timestamp_ms, mine->head.timestamp_ms);
  WriteFile(dir_.Sub("wire.json"), json);
  EXPECT_EQ(Ctl({"audit", "consistency", "--sth", dir_.Sub("wire.json"), "--log", log}).code, 0);
  EXPECT_FALSE(ParseSignedHeadJson("{\"tree_size\":3}", "x").ok());
  EXPECT_FALSE(ParseSignedHeadJson("not json", "x").ok());
}

TEST_F(AuditTest, ReplayUntilIsDeterministicAndStopsBeforeLaterMoves) {
  const std::string log = Copy();
  const std::string until = std::to_string(kSeqR1Accepted - 1);
  CtlRun a = Ctl({"--json", "replay", "--log", log, "--until", until, "--digest"});
  CtlRun b = Ctl({"--json", "replay", "--log", log, "--until", until, "--digest"});
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  const std::string digest = Str(Json(a.out), "digest");
  EXPECT_EQ(digest.size(), 64u);
  // The same point given as a time (the entry's append time, RFC 3339) gives the same digest.
  const std::string at = core::FormatUtcMs(AppendedAt(kSeqR1Accepted - 1));
  CtlRun t = Ctl({"--json", "replay", "--log", log, "--until", at, "--digest"});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_EQ(Str(Json(t.out), "digest"), digest);
  EXPECT_EQ(Num(Json(t.out), "until_seq"), kSeqR1Accepted - 1);
  // Its root is the log's root at that size.
  {
    log::EventLogOptions o;
    o.path = log;
    o.read_only = true;
    auto l = log::EventLog::Open(o);
    ASSERT_OK(l);
    EXPECT_EQ(Str(Json(a.out), "root"), merkle::ToHex((*l)->RootAt(kSeqR1Accepted - 1).value()));
  }
  // Later: another digest.
  CtlRun later = Ctl({"--json", "replay", "--log", log, "--until", "20", "--digest"});
  EXPECT_NE(Str(Json(later.out), "digest"), digest);

  // The case as it was: the referral received, not yet accepted.
  CtlRun then = Ctl({"--json", "replay", "--log", log, "--until", until, "--case", kCaseA});
  ASSERT_EQ(then.code, 0) << then.err;
  EXPECT_NE(then.out.find("REFERRAL_STATUS_RECEIVED"), std::string::npos) << then.out;
  EXPECT_EQ(then.out.find("REFERRAL_STATUS_ACCEPTED"), std::string::npos) << then.out;
  EXPECT_EQ(then.out.find("REFERRAL_STATUS_COMPLETED"), std::string::npos) << then.out;
  CtlRun now = Ctl({"--json", "replay", "--log", log, "--case", kCaseA});
  EXPECT_NE(now.out.find("REFERRAL_STATUS_COMPLETED"), std::string::npos) << now.out;

  // Journey and statistics as of then, in text.
  CtlRun text = Ctl({"replay", "--log", log, "--until", until, "--journey", kCaseA, "--stats",
                     "sex,stage", "--k", "1"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("up to seq " + until), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("statistics as of seq " + until), std::string::npos) << text.out;
  // A time before the first entry replays nothing; a case without events then is not found.
  CtlRun none = Ctl({"--json", "replay", "--log", log, "--until", "2000-01-01T00:00:00Z"});
  EXPECT_EQ(Num(Json(none.out), "entries"), 0);
  EXPECT_EQ(Ctl({"replay", "--log", log, "--until", "3", "--case", kCaseB}).code, kExitNotFound);
  EXPECT_EQ(Ctl({"replay", "--log", log, "--until", "41"}).code, kExitUsage);
}

TEST_F(AuditTest, AccessListsReadsAndReceivedReferrals) {
  const std::string log = Copy();
  CtlRun r = Ctl({"--json", "audit", "access", kCaseA, "--log", log});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = Json(r.out);
  EXPECT_EQ(Num(j, "reads"), 2);
  EXPECT_EQ(Num(j, "referrals_received"), 1);
  const auto& entries = j.fields().at("entries").list_value().values();
  std::vector<std::string> kinds;
  for (const auto& e : entries) {
    kinds.push_back(Str(e.struct_value(), "kind"));
  }
  EXPECT_EQ(kinds,
            (std::vector<std::string>{"referral_sent", "received_referral", "read", "read"}));
  const auto& read = entries[2].struct_value();
  EXPECT_EQ(Num(read, "seq"), kSeqRead);
  EXPECT_EQ(Str(read, "agency"), kShelter);
  EXPECT_EQ(Str(read, "purpose"), "shelter admission");
  EXPECT_EQ(Str(read, "actor_user"), "sw-12");
  EXPECT_EQ(Str(read, "at"), core::FormatUtcMs(AppendedAt(kSeqRead)));
  EXPECT_EQ(read.fields().at("sections").list_value().values(0).string_value(), "PROFILE");
  const auto& by_broker = entries[3].struct_value();
  EXPECT_EQ(Str(by_broker, "recorded_by"), kBroker);
  EXPECT_EQ(Str(by_broker, "purpose"), "journey");
  EXPECT_EQ(Num(entries[1].struct_value(), "seq"), kSeqR1Received);

  CtlRun text = Ctl({"audit", "access", kCaseA, "--log", log});
  EXPECT_NE(text.out.find("received referral " + std::string(kReferral1)), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("purpose \"shelter admission\"  user sw-12"), std::string::npos)
      << text.out;
  EXPECT_EQ(Ctl({"audit", "access", "0190a3c4-0000-7000-8000-0000000000ff", "--log", log}).code,
            kExitNotFound);
}

TEST_F(AuditTest, CheckpointBackupAndRestoreRoundTrip) {
  const std::string log = Copy();
  const std::string cp = dir_.Sub("checkpoint");
  CtlRun c = Ctl({"admin", "checkpoint", cp, "--log", log});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(Verify(cp).code, 0);
  EXPECT_EQ(Ctl({"admin", "checkpoint", cp, "--log", log}).code, kExitRefused);  // exists

  const std::string backup = dir_.Sub("backup");
  CtlRun b = Ctl({"--json", "admin", "backup", "--log", log, "--to", backup});
  ASSERT_EQ(b.code, 0) << b.err;
  auto manifest = Json(ReadFile(backup + "/backup.json"));
  EXPECT_EQ(Str(manifest, "format"), "passage-backup/1");
  EXPECT_EQ(Num(manifest, "tree_size"), kEntries);
  const auto backup_sums = DirectoryChecksums(backup);

  const std::string restored = dir_.Sub("restored/log");
  CtlRun r = Ctl({"admin", "restore", "--from", backup, "--to", restored});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Verify(restored).code, 0);
  EXPECT_EQ(Str(Json(Verify(restored).out), "final_root"), Str(manifest, "root"));
  EXPECT_EQ(backup_sums, DirectoryChecksums(backup));  // restore reads the backup only
  // Never over an existing log.
  const auto restored_sums = DirectoryChecksums(restored);
  CtlRun again = Ctl({"admin", "restore", "--from", backup, "--to", restored});
  EXPECT_EQ(again.code, kExitRefused);
  EXPECT_NE(again.err.find("never overwrites"), std::string::npos) << again.err;
  EXPECT_EQ(restored_sums, DirectoryChecksums(restored));

  // A damaged backup is refused before anything is copied.
  std::string victim;
  for (const auto& e : fs::directory_iterator(backup + "/log")) {
    if (e.path().extension() == ".sst" || e.path().extension() == ".log") {
      victim = e.path().string();
    }
  }
  ASSERT_FALSE(victim.empty());
  std::string bytes = ReadFile(victim);
  bytes[bytes.size() / 2] ^= 0x20;
  fs::remove(victim);  // a hard link to the source's file: do not damage the source
  WriteFile(victim, bytes);
  CtlRun bad = Ctl({"admin", "restore", "--from", backup, "--to", dir_.Sub("restored2")});
  EXPECT_EQ(bad.code, kExitVerifyFailed) << bad.err;
  EXPECT_NE(bad.err.find("SHA-256"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(dir_.Sub("restored2")));
  EXPECT_EQ(Verify(log).code, 0);  // the source is intact
}

// ---------------------------------------------------------------------------------------------
// Online: a fake node that answers tree-head and consistency requests from a real log.

class FakeNode {
 public:
  using Handler = std::function<v1::ControlResponse(const v1::ControlRequest&)>;
  FakeNode(const std::string& dir, Handler handler) : handler_(std::move(handler)) {
    sock_.set(zmq::sockopt::linger, 0);
    sock_.bind("ipc://" + dir + "/control.sock");
    thread_ = std::thread([this] {
      while (!stop_) {
        zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(20));
        zmq::message_t msg;
        if ((item.revents & ZMQ_POLLIN) == 0 || !sock_.recv(msg, zmq::recv_flags::dontwait)) {
          continue;
        }
        v1::ControlRequest req;
        req.ParseFromArray(msg.data(), static_cast<int>(msg.size()));
        const std::string out = handler_(req).SerializeAsString();
        sock_.send(zmq::buffer(out), zmq::send_flags::none);
      }
    });
  }
  ~FakeNode() {
    stop_ = true;
    thread_.join();
    sock_.close();
    ctx_.close();
  }

 private:
  Handler handler_;
  zmq::context_t ctx_{1};
  zmq::socket_t sock_{ctx_, zmq::socket_type::rep};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

v1::SignedTreeHead Wire(const log::SignedHead& h) {
  v1::SignedTreeHead w;
  w.set_tree_size(h.head.tree_size);
  w.set_root_hash(std::string(merkle::AsBytes(h.head.root)));
  w.set_timestamp_ms(h.head.timestamp_ms);
  w.set_signature(h.signature);
  w.set_log_public_key(h.public_key);
  return w;
}

std::string ProtoJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(m, &out, o).ok());
  return out;
}

// Answers like a node in front of the broker whose log is at `path`.
FakeNode::Handler BrokerBehind(const std::string& path) {
  return [path](const v1::ControlRequest& req) {
    log::EventLogOptions o;
    o.path = path;
    o.read_only = true;
    auto l = log::EventLog::Open(o);
    v1::ControlResponse resp;
    if (!l.ok()) {
      resp.set_code(v1::CONTROL_CODE_INTERNAL);
      return resp;
    }
    const log::SignedHead latest = (*l)->LatestHead();
    if (req.has_tree_head()) {
      resp.set_json(ProtoJson(Wire(latest)));
    } else if (req.has_consistency()) {
      const uint64_t m = req.consistency().first_size();
      auto hashes = (*l)->ConsistencyProof(m, latest.head.tree_size);
      if (!hashes.ok()) {  // what the node says when the broker refuses
        resp.set_code(v1::CONTROL_CODE_INVALID);
        resp.set_field("first_size");
        resp.set_reason("the broker refused the consistency proof: " + hashes.status().message());
        return resp;
      }
      v1::Proof p;
      p.set_first_size(m);
      p.set_tree_size(latest.head.tree_size);
      for (const auto& h : *hashes) {
        p.add_hashes(std::string(merkle::AsBytes(h)));
      }
      *p.mutable_tree_head() = Wire(latest);
      resp.set_json(ProtoJson(p));
    }
    return resp;
  };
}

TEST_F(AuditTest, OnlineHeadsAndConsistencyThroughTheNode) {
  const std::string log = Copy();
  const std::string node_dir = dir_.Sub("node");
  fs::create_directories(node_dir);
  FakeNode node(node_dir, BrokerBehind(log));

  const std::string saved = dir_.Sub("saved.json");
  CtlRun h = Ctl({"--node", node_dir, "audit", "heads", "--out", saved});
  ASSERT_EQ(h.code, 0) << h.err;
  auto head = ParseSignedHeadJson(ReadFile(saved), saved);
  ASSERT_OK(head);
  EXPECT_EQ(head->head.tree_size, kEntries);

  // An older head the agency kept: consistent.
  const std::string older = HeadFile(log, 19, "older.json");
  CtlRun c = Ctl({"--json", "--node", node_dir, "audit", "consistency", "--sth", older});
  ASSERT_EQ(c.code, 0) << c.out << c.err;
  EXPECT_TRUE(Json(c.out).fields().at("consistent").bool_value());
  EXPECT_EQ(Num(Json(c.out), "second_size"), kEntries);
  EXPECT_EQ(Ctl({"--node", node_dir, "audit", "consistency", "--sth", saved}).code, 0);

  // A head from a forked history: not consistent.
  const std::string fork = dir_.Sub("fork");
  BuildLog(fork, 26);
  CtlRun f = Ctl({"--json", "--node", node_dir, "audit", "consistency", "--sth",
                  HeadFile(fork, 19, "fork19.json")});
  EXPECT_EQ(f.code, kExitVerifyFailed) << f.out;
  EXPECT_EQ(Str(Json(f.out), "kind"), "fork");

  // The broker now serves a log shorter than a head the agency holds: truncated.
  const std::string shorter = dir_.Sub("shorter");
  BuildLog(shorter, 11);
  const std::string grown = dir_.Sub("grown");
  CopyDir(shorter, grown);
  BuildLog(grown, 26);
  const std::string future = HeadFile(grown, 26, "grown26.json");
  const std::string node2 = dir_.Sub("node2");
  fs::create_directories(node2);
  FakeNode rolled_back(node2, BrokerBehind(shorter));
  CtlRun t = Ctl({"--json", "--node", node2, "audit", "consistency", "--sth", future});
  EXPECT_EQ(t.code, kExitVerifyFailed) << t.out << t.err;
  EXPECT_EQ(Str(Json(t.out), "kind"), "truncated");

  // --log and --node together are a usage error; verify needs --log.
  EXPECT_EQ(Ctl({"--node", node_dir, "audit", "consistency", "--sth", saved, "--log", log}).code,
            kExitUsage);
  EXPECT_EQ(Ctl({"--node", node_dir, "audit", "verify"}).code, kExitUsage);
}

// ---------------------------------------------------------------------------------------------
// The parser.

TEST(CtlAuditArgs, SubcommandsTakeTheirOwnOptionsOnly) {
  auto inv = ParseArgs({"audit", "verify", "--log", "/x", "--check-indexes"}, "");
  ASSERT_OK(inv);
  EXPECT_EQ(inv->action, Action::kAudit);
  EXPECT_EQ(inv->command, "audit verify");
  EXPECT_TRUE(inv->audit.check_indexes);
  EXPECT_TRUE(inv->endpoint.empty());
  auto bad = ParseArgs({"audit", "verify", "--log", "/x", "--seq", "3"}, "");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().field(), "--seq");
  EXPECT_FALSE(ParseArgs({"audit", "verify"}, "").ok());  // --log required
  EXPECT_FALSE(ParseArgs({"audit", "nope"}, "").ok());
  EXPECT_FALSE(ParseArgs({"audit", "proof", "--log", "/x"}, "").ok());  // --seq required
  EXPECT_FALSE(ParseArgs({"audit", "proof", "--log", "/x", "--seq", "9", "--size", "3"}, "").ok());
  auto key = ParseArgs({"audit", "verify", "--log", "/x", "--public-key", "zz"}, "");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().field(), "--public-key");
  EXPECT_FALSE(ParseArgs({"audit", "access", "not-a-uuid", "--log", "/x"}, "").ok());
}

TEST(CtlAuditArgs, OnlineCommandsNeedANode) {
  auto heads = ParseArgs({"audit", "heads", "--out", "h.json"}, "/srv/node");
  ASSERT_OK(heads);
  EXPECT_TRUE(heads->request.has_tree_head());
  EXPECT_NE(heads->endpoint.find("/srv/node/control.sock"), std::string::npos);
  auto c = ParseArgs({"audit", "consistency", "--sth", "h.json"}, "/srv/node");
  ASSERT_OK(c);
  EXPECT_TRUE(c->request.has_consistency());
  auto none = ParseArgs({"audit", "consistency", "--sth", "h.json"}, "");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().field(), "--node");
  auto offline = ParseArgs({"audit", "consistency", "--sth", "h.json", "--log", "/x"}, "/srv/node");
  ASSERT_OK(offline);  // $PASSAGE_NODE does not get in the way of --log
  EXPECT_TRUE(offline->endpoint.empty());
}

TEST(CtlAuditArgs, ReplayUntilIsASeqOrATimeAsPeopleWriteIt) {
  auto seq = ParseArgs({"replay", "--log", "/x", "--until", "1200"}, "");
  ASSERT_OK(seq);
  EXPECT_EQ(seq->audit.until_seq, 1200u);
  EXPECT_FALSE(seq->audit.until_ms.has_value());
  auto t = ParseArgs({"replay", "--log", "/x", "--until", "2026-11-28T23:59:00Z"}, "");
  ASSERT_OK(t);
  ASSERT_TRUE(t->audit.until_ms.has_value());
  EXPECT_EQ(core::FormatUtcMs(*t->audit.until_ms), "2026-11-28T23:59:00Z");

  // Pakistan's time (UTC+5, no daylight saving) as the local zone.
  const UtcOffsetFn karachi = [](int64_t) -> int64_t { return 5 * 3600; };
  auto until = [&](const std::string& text) -> std::string {
    auto r = ParseArgs({"replay", "--log", "/x", "--until", text}, "", karachi);
    if (!r.ok()) {
      return "error: " + r.status().message();
    }
    return core::FormatUtcMs(*r->audit.until_ms);
  };
  EXPECT_EQ(until("2026-12-07T14:55:00+05:00"), "2026-12-07T09:55:00Z");
  EXPECT_EQ(until("2026-12-07T14:55:00-0330"), "2026-12-07T18:25:00Z");
  EXPECT_EQ(until("2026-12-07T14:55"), "2026-12-07T09:55:00Z");    // local
  EXPECT_EQ(until("2026-12-07 14:55:30"), "2026-12-07T09:55:30Z");  // local, with a space
  // A date alone: through the end of that local day, 23:59:59.999 PKT.
  auto day = ParseArgs({"replay", "--log", "/x", "--until", "2026-12-07"}, "", karachi);
  ASSERT_OK(day);
  EXPECT_EQ(*day->audit.until_ms, *ParseTime("2026-12-08T00:00:00+05:00", "t", karachi, false) - 1);
  EXPECT_EQ(*ParseTime("2026-12-07", "t", karachi, false),
            *ParseTime("2026-12-06T19:00:00Z", "t", karachi, false));

  // A zone whose offset changes (UTC+1 from 2026-03-29T01:00Z): a local time after the change is
  // read at the new offset, one before at the old.
  const int64_t change = *ParseTime("2026-03-29T01:00:00Z", "t", karachi, false);
  const UtcOffsetFn summer = [change](int64_t ms) -> int64_t { return ms >= change ? 3600 : 0; };
  EXPECT_EQ(core::FormatUtcMs(*ParseTime("2026-03-29T03:00", "t", summer, false)),
            "2026-03-29T02:00:00Z");
  EXPECT_EQ(core::FormatUtcMs(*ParseTime("2026-03-29T00:30", "t", summer, false)),
            "2026-03-29T00:30:00Z");

  EXPECT_EQ(*ParseTime("1970-01-01T00:00:01.5Z", "t", karachi, false), 1500);
  EXPECT_EQ(*ParseTime("2024-02-29T00:00:00+00:00", "t", karachi, false), 1709164800000);
  for (const char* bad : {"2026-02-30T00:00:00Z", "yesterday", "2026-11-28T25:00", "2026-11-28T",
                          "2026-11-28T23:59:00+5", "2026-11-28T23:59:00+19:00", "2026-11-28x",
                          "2026-11-28T23:59:00 PKT", "2026-11-28T23:59:00.Z"}) {
    auto r = ParseArgs({"replay", "--log", "/x", "--until", bad}, "", karachi);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().field(), "--until") << bad;
  }
  auto stats = ParseArgs({"replay", "--log", "/x", "--stats", "sex,age_band", "--k", "3"}, "");
  ASSERT_OK(stats);
  EXPECT_EQ(stats->audit.stats_request.by_size(), 2);
  EXPECT_EQ(stats->audit.stats_request.k(), 3u);
  EXPECT_FALSE(ParseArgs({"replay", "--log", "/x", "--stats", "shoe_size"}, "").ok());
  EXPECT_FALSE(ParseArgs({"replay", "--log", "/x", "--k", "3"}, "").ok());
}

TEST(CtlAuditArgs, AdminSubcommands) {
  auto cp = ParseArgs({"admin", "checkpoint", "/cp", "--log", "/x"}, "");
  ASSERT_OK(cp);
  EXPECT_EQ(cp->action, Action::kAdmin);
  EXPECT_EQ(cp->audit.dir, "/cp");
  EXPECT_FALSE(ParseArgs({"admin", "backup", "--log", "/x"}, "").ok());  // --to
  auto restore = ParseArgs({"admin", "restore", "--from", "/b", "--to", "/l"}, "");
  ASSERT_OK(restore);
  EXPECT_EQ(restore->audit.target, "/l");
  EXPECT_FALSE(
      ParseArgs({"admin", "restore", "--from", "/b", "--to", "/l", "--log", "/x"}, "").ok());
  for (std::string cmd : {"audit", "replay", "admin"}) {
    auto help = ParseArgs({cmd, "--help"}, "");
    ASSERT_OK(help);
    EXPECT_NE(help->help.find("usage: passagectl " + cmd), std::string::npos);
    EXPECT_NE(help->help.find("6 verification failed"), std::string::npos);
  }
}

}  // namespace
}  // namespace passage::ctl
