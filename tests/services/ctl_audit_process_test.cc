// The audit tools as separate processes: the passagectl binary, the standalone
// passage-verify-proof (which shares no code with the log's writer), and RocksDB's own `ldb`
// (Debian's rocksdb-tools) as the tool that damages copies of a log. Also: a log held open by a
// writer (as a running broker holds it) is refused by admin checkpoint/backup, and the offline
// commands leave the directory byte-for-byte as they found it.

#include <fcntl.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "broker/log/event_log.h"
#include "tests/services/audit_log_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

extern char** environ;

namespace passage::ctl {
namespace {

namespace fs = std::filesystem;
using namespace passage::testing::audit_fixture;  // NOLINT: the fixture's names are the story

struct Proc {
  int code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

// Runs `argv` to completion with stdout and stderr captured through files in `dir`.
Proc Exec(const std::vector<std::string>& argv, const std::string& dir) {
  const std::string out = dir + "/.stdout";
  const std::string err = dir + "/.stderr";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  std::vector<char*> args;
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  pid_t pid = 0;
  Proc p;
  if (posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    p.err = "cannot start " + argv[0];
    return p;
  }
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  waitpid(pid, &status, 0);
  p.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  p.out = ReadFile(out);
  p.err = ReadFile(err);
  return p;
}

bool HaveLdb() { return std::system("command -v ldb >/dev/null 2>&1") == 0; }

std::string Hex(std::string_view bytes) {
  std::string out;
  char b[3];
  for (unsigned char c : bytes) {
    std::snprintf(b, sizeof(b), "%02X", c);
    out += b;
  }
  return out;
}

std::string KeyHex() {
  std::string hex = Hex(PublicKey());
  for (char& c : hex) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return hex;
}

class AuditProcessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new testing::TempDir();
    BuildLog(tmp_->Sub("template"));
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }
  std::string Copy(const std::string& name) {
    const std::string dir = dir_.Sub(name);
    CopyDir(tmp_->Sub("template"), dir);
    return dir;
  }
  Proc Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), PASSAGECTL_BIN);
    return Exec(args, dir_.path());
  }
  Proc VerifyProof(std::vector<std::string> args) {
    args.insert(args.begin(), VERIFY_PROOF_BIN);
    return Exec(args, dir_.path());
  }
  Proc Ldb(const std::string& db, std::vector<std::string> args) {
    args.insert(args.begin(), {"ldb", "--db=" + db, "--column_family=events"});
    return Exec(args, dir_.path());
  }
  std::string Key(uint64_t seq) { return "0x" + Hex(log::EncodeBe64(seq)); }
  std::string LdbGet(const std::string& db, uint64_t seq) {
    Proc p = Ldb(db, {"get", "--key_hex", "--value_hex", Key(seq)});
    EXPECT_EQ(p.code, 0) << p.err;
    std::string v = p.out;
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) {
      v.pop_back();
    }
    return v;
  }
  void LdbPut(const std::string& db, uint64_t seq, const std::string& value_hex) {
    Proc p = Ldb(db, {"put", "--key_hex", "--value_hex", Key(seq), value_hex});
    ASSERT_EQ(p.code, 0) << p.out << p.err;
  }
  void LdbDelete(const std::string& db, uint64_t seq) {
    Proc p = Ldb(db, {"delete", "--key_hex", Key(seq)});
    ASSERT_EQ(p.code, 0) << p.out << p.err;
  }
  // passagectl audit verify: the failure line names `seq` and `kind`.
  void ExpectLocated(const std::string& db, uint64_t seq, const std::string& kind) {
    Proc p = Ctl({"audit", "verify", "--log", db});
    EXPECT_EQ(p.code, 6) << p.out << p.err;
    EXPECT_EQ(p.err.rfind("passagectl: seq " + std::to_string(seq) + ": " + kind + ": ", 0), 0u)
        << p.err;
    EXPECT_NE(p.out.find("result      FAILED: " + kind + " at seq " + std::to_string(seq)),
              std::string::npos)
        << p.out;
  }

  static testing::TempDir* tmp_;
  testing::TempDir dir_;
};

testing::TempDir* AuditProcessTest::tmp_ = nullptr;

TEST_F(AuditProcessTest, StandaloneVerifierAcceptsTheProofAndRejectsEveryBitFlip) {
  const std::string db = Copy("log");
  const std::string proof = dir_.Sub("proof.json");
  const std::string entry = dir_.Sub("entry.bin");
  Proc p = Ctl({"audit", "proof", "--log", db, "--seq", "13", "--out", proof, "--envelope", entry});
  ASSERT_EQ(p.code, 0) << p.err;

  Proc ok = VerifyProof({proof, "--leaf-file", entry, "--public-key", KeyHex()});
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("result      valid"), std::string::npos) << ok.out;
  EXPECT_EQ(VerifyProof({proof}).code, 0);
  EXPECT_EQ(VerifyProof({proof, "--envelope-hex", Hex(ReadFile(entry))}).code, 0);

  // Another entry's bytes, or the entry with one bit flipped.
  std::string other = ReadFile(entry);
  other[other.size() - 1] ^= 0x01;
  WriteFile(dir_.Sub("flipped.bin"), other);
  EXPECT_EQ(VerifyProof({proof, "--leaf-file", dir_.Sub("flipped.bin")}).code, 1);
  // Another key than the broker's.
  EXPECT_EQ(VerifyProof({proof, "--public-key", std::string(64, 'a')}).code, 1);
  // One bit of each hex field of the proof.
  const std::string text = ReadFile(proof);
  for (const std::string field :
       {"\"leaf_hash\":\"", "\"audit_path\":[\"", "\"root\":\"", "\"signature\":\"",
        "\"root_hash\":\"", "\"log_public_key\":\""}) {
    const size_t at = text.find(field);
    ASSERT_NE(at, std::string::npos) << field;
    std::string bad = text;
    char& c = bad[at + field.size() + 5];
    c = c == '0' ? '1' : '0';
    WriteFile(dir_.Sub("bad.json"), bad);
    Proc r = VerifyProof({dir_.Sub("bad.json")});
    EXPECT_EQ(r.code, 1) << field << r.out;
    EXPECT_NE(r.err.find("invalid"), std::string::npos) << field << r.err;
  }
  // A different tree size or leaf index does not fit the path.
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"\"leaf_index\":12", "\"leaf_index\":11"},
           {"\"tree_size\":40,", "\"tree_size\":39,"}}) {
    std::string bad = text;
    const size_t at = bad.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    bad.replace(at, from.size(), to);
    WriteFile(dir_.Sub("bad.json"), bad);
    EXPECT_EQ(VerifyProof({dir_.Sub("bad.json")}).code, 1) << to;
  }
  // Not a proof at all.
  WriteFile(dir_.Sub("junk.json"), "{\"hello\":1}");
  EXPECT_EQ(VerifyProof({dir_.Sub("junk.json")}).code, 2);
  EXPECT_EQ(VerifyProof({}).code, 2);
}

TEST_F(AuditProcessTest, DamageDoneWithLdbIsDetectedAndLocated) {
  if (!HaveLdb()) {
    GTEST_SKIP() << "ldb (Debian package rocksdb-tools) is not installed";
  }
  {  // one byte of a value
    const std::string db = Copy("byte");
    std::string v = LdbGet(db, 17);
    ASSERT_EQ(v.rfind("0x", 0), 0u) << v;
    char& c = v[v.size() - 5];
    c = c == '0' ? '1' : '0';
    LdbPut(db, 17, v);
    ExpectLocated(db, 17, "modified");
  }
  {  // a deleted key
    const std::string db = Copy("delete");
    LdbDelete(db, 13);
    ExpectLocated(db, 13, "missing");
  }
  {  // two entries swapped
    const std::string db = Copy("swap");
    const std::string a = LdbGet(db, 21);
    const std::string b = LdbGet(db, 22);
    LdbPut(db, 21, b);
    LdbPut(db, 22, a);
    ExpectLocated(db, 21, "reordered");
  }
  {  // the tail cut off
    const std::string db = Copy("tail");
    for (uint64_t seq = 38; seq <= kEntries; ++seq) {
      LdbDelete(db, seq);
    }
    ExpectLocated(db, 38, "truncated");
  }
}

TEST_F(AuditProcessTest, ForgedHistoryIsLocatedByThePinnedKey) {
  const std::string db = Copy("forged");
  Forge(db, 24, 'f', /*replace_key=*/true);  // re-hashed and re-signed without the broker's key
  Proc tofu = Ctl({"audit", "verify", "--log", db});
  EXPECT_EQ(tofu.code, 0) << tofu.out;  // self-consistent under the forger's key
  Proc pinned = Ctl({"--json", "audit", "verify", "--log", db, "--public-key", KeyHex()});
  EXPECT_EQ(pinned.code, 6) << pinned.out;
  google::protobuf::Struct j;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(pinned.out, &j).ok()) << pinned.out;
  EXPECT_EQ(j.fields().at("kind").string_value(), "bad_signature");
  EXPECT_EQ(j.fields().at("first_bad_seq").number_value(), 1);  // no head is the broker's
  EXPECT_NE(pinned.err.find("passagectl: seq 1: bad signature: "), std::string::npos) << pinned.err;
}

TEST_F(AuditProcessTest, AdminRefusesALogHeldOpenByAWriter) {
  const std::string db = Copy("live");
  {
    log::EventLogOptions o;
    o.path = db;
    o.signing_seed = Seed();
    auto writer = log::EventLog::Open(o);  // holds RocksDB's LOCK, as the broker does
    ASSERT_OK(writer);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"admin", "checkpoint", dir_.Sub("cp"), "--log", db},
          std::vector<std::string>{"admin", "backup", "--log", db, "--to", dir_.Sub("bk")}}) {
      Proc p = Ctl(args);
      EXPECT_EQ(p.code, 1) << p.out << p.err;
      EXPECT_NE(p.err.find("stop the broker first"), std::string::npos) << p.err;
      EXPECT_NE(p.err.find(std::to_string(::getpid())), std::string::npos) << p.err;
    }
    EXPECT_FALSE(fs::exists(dir_.Sub("cp")));
    EXPECT_FALSE(fs::exists(dir_.Sub("bk")));
    // Reading it is allowed, with a note that it is live.
    Proc v = Ctl({"audit", "verify", "--log", db});
    EXPECT_EQ(v.code, 0) << v.out << v.err;
    EXPECT_NE(v.err.find("note:"), std::string::npos) << v.err;
  }
  Proc cp = Ctl({"admin", "checkpoint", dir_.Sub("cp"), "--log", db});
  EXPECT_EQ(cp.code, 0) << cp.out << cp.err;
  EXPECT_EQ(Ctl({"audit", "verify", "--log", dir_.Sub("cp")}).code, 0);
}

TEST_F(AuditProcessTest, OfflineCommandsNeverModifyTheDirectory) {
  const std::string db = Copy("ro");
  const auto before = DirectoryChecksums(db);
  EXPECT_EQ(Ctl({"audit", "verify", "--log", db, "--check-indexes"}).code, 0);
  EXPECT_EQ(Ctl({"audit", "heads", "--log", db, "--size", "19", "--out", dir_.Sub("h.json")}).code,
            0);
  EXPECT_EQ(Ctl({"audit", "verify", "--log", db, "--against-sth", dir_.Sub("h.json")}).code, 0);
  EXPECT_EQ(Ctl({"audit", "consistency", "--log", db, "--sth", dir_.Sub("h.json")}).code, 0);
  EXPECT_EQ(Ctl({"audit", "proof", "--log", db, "--seq", "2"}).code, 0);
  EXPECT_EQ(Ctl({"audit", "access", kCaseB, "--log", db}).code, 0);
  Proc a = Ctl({"replay", "--log", db, "--until", "30", "--digest", "--stats", "total"});
  Proc b = Ctl({"replay", "--log", db, "--until", "30", "--digest", "--stats", "total"});
  EXPECT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(Ctl({"admin", "backup", "--log", db, "--to", dir_.Sub("backup")}).code, 0);
  EXPECT_EQ(before, DirectoryChecksums(db));
}

}  // namespace
}  // namespace passage::ctl
