#include "broker/audit/verifier.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "broker/log/event_log.h"
#include "broker/merkle/merkle.h"
#include "broker/merkle/tree_head.h"
#include "passage/v1/events.pb.h"
#include "tests/testing/rocks_tamper.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace passage::audit {
namespace {

namespace fs = std::filesystem;
using log::AppendEntry;
using log::EncodeBe64;
using log::EventLog;
using log::EventLogOptions;
using log::SignedHead;

// The log every test damages a copy of: 400 events in 10 batches, so signed heads at these sizes.
constexpr uint64_t kBatches[] = {1, 5, 17, 33, 64, 40, 3, 90, 47, 100};
constexpr uint64_t kEvents = 400;
// Head sizes: 1, 6, 23, 56, 120, 160, 163, 253, 300, 400.

std::string Seed(char c) { return std::string(32, c); }

std::string PublicKey(char seed) {
  return merkle::TreeHeadSigner::FromSeed(Seed(seed)).value().public_key();
}

std::string CaseId(uint64_t n) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "018f3a5e-%04x-7000-8000-%012llx", static_cast<unsigned>(n % 25),
                static_cast<unsigned long long>(n % 25 + 1000));
  return buf;
}

AppendEntry Entry(uint64_t n, const std::string& flavour) {
  static const char* kProducers[] = {"fia", "iom", "ngo-lahore", "police-punjab"};
  AppendEntry e;
  e.producer = kProducers[n % 4];
  e.event_id = "ev-" + std::to_string(n);
  e.case_id = n % 10 == 9 ? "" : CaseId(n);  // every tenth is a configuration event
  e.event_bytes = flavour + " referral event " + std::to_string(n) + ": " + std::string(100, 'x');
  e.appended_at_ms = 1'700'000'000'000 + static_cast<int64_t>(n);
  return e;
}

// Appends the kBatches pattern to the log at `path`, events [first, last] of it; a different
// `flavour` gives different events (the same ids) from `flavour_from` on.
void Build(const std::string& path, uint64_t last, const std::string& flavour = "original",
           uint64_t flavour_from = 1) {
  EventLogOptions o;
  o.path = path;
  o.signing_seed = Seed('s');
  o.clock_ms = [] { return int64_t{1'700'000'000'000}; };
  auto log = EventLog::Open(o);
  ASSERT_OK(log);
  uint64_t n = (*log)->LastSeq();
  uint64_t boundary = 0;
  for (uint64_t size : kBatches) {
    boundary += size;
    if (boundary <= n) {
      continue;
    }
    std::vector<AppendEntry> batch;
    for (; n < boundary && n < last; ++n) {
      batch.push_back(Entry(n + 1, n + 1 >= flavour_from ? flavour : "original"));
    }
    if (batch.empty()) {
      break;
    }
    ASSERT_OK((*log)->Append(batch));
  }
}

// Damage done with RocksDB directly, as an attacker or a faulty disk tool would.
using ::passage::testing::Tamper;

passage::v1::Envelope Parse(const std::string& bytes) {
  passage::v1::Envelope env;
  EXPECT_TRUE(env.ParseFromString(bytes));
  return env;
}

std::string Serialize(const passage::v1::Envelope& env) {
  std::string out;
  EXPECT_TRUE(env.SerializeToString(&out));
  return out;
}

// Rewrites history from `from` on as a thorough forger would: edits event `from`, re-chains every
// later envelope, rewrites the Merkle nodes, dedup entries, tree state and the heads of size >=
// from, signed with the forger's key. `replace_key` also records the forger's key in meta.
void Forge(const std::string& path, uint64_t from, char forger_seed, bool replace_key) {
  Tamper t(path);
  auto signer = merkle::TreeHeadSigner::FromSeed(Seed(forger_seed)).value();
  std::vector<uint64_t> heads = t.HeadSizes();
  merkle::CompactRange range;
  merkle::Hash prev{};
  size_t next_head = 0;
  for (uint64_t seq = 1; seq <= kEvents; ++seq) {
    std::string bytes = t.Event(seq);
    if (seq >= from) {
      passage::v1::Envelope env = Parse(bytes);
      if (seq == from) {
        env.set_event("forged: the victim withdrew consent");
      }
      env.set_prev_leaf_hash(std::string(merkle::AsBytes(prev)));
      bytes = Serialize(env);
      t.PutEvent(seq, bytes);
      std::string dedup_key = env.producer() + std::string(1, '\0') + env.event_id();
      std::string rec = t.Get("dedup", dedup_key);
      t.Put("dedup", dedup_key,
            rec.substr(0, 16) + std::string(merkle::AsBytes(merkle::LeafHash(bytes))));
    }
    prev = merkle::LeafHash(bytes);
    range.Append(prev, [&](uint32_t level, uint64_t index, const merkle::Hash& h) {
      std::string key(1, static_cast<char>(level));
      t.Put("merkle", key + EncodeBe64(index), std::string(merkle::AsBytes(h)));
    });
    if (next_head < heads.size() && heads[next_head] == seq) {
      ++next_head;
      if (seq >= from) {
        std::string old = t.Get("sth", EncodeBe64(seq));
        merkle::TreeHead head;
        head.tree_size = seq;
        head.root = range.Root();
        head.timestamp_ms = static_cast<int64_t>(log::DecodeBe64(old.substr(32, 8)));
        t.Put("sth", EncodeBe64(seq),
              std::string(merkle::AsBytes(head.root)) + old.substr(32, 8) + signer.Sign(head));
      }
    }
  }
  t.Put("meta", "tree", range.Serialize());
  t.Put("meta", "last_leaf", std::string(merkle::AsBytes(prev)));
  if (replace_key) {
    t.Put("meta", "log_public_key", signer.public_key());
  }
}

SignedHead HeadAt(const std::string& path, uint64_t size) {
  EventLogOptions o;
  o.path = path;
  o.read_only = true;
  auto log = EventLog::Open(o);
  EXPECT_OK(log);
  SignedHead out;
  EXPECT_OK((*log)->ScanTreeHeads(size, [&](const SignedHead& h) {
    out = h;
    return false;
  }));
  EXPECT_EQ(out.head.tree_size, size);
  return out;
}

// Audits with the reader thread (the default) and on one thread; both must say the same.
VerifyReport Verify(VerifyOptions o) {
  o.threads = 1;
  auto single = VerifyLog(o);
  o.threads = 2;
  auto r = VerifyLog(o);
  EXPECT_OK(r);
  EXPECT_OK(single);
  if (r.ok() && single.ok()) {
    EXPECT_EQ(ToString(*single), ToString(*r)) << "one thread and two disagree";
  }
  if (r.ok() && std::getenv("PASSAGE_AUDIT_TEST_VERBOSE") != nullptr) {
    std::printf("    %s%s%s\n", ToString(*r).c_str(),
                r->open_error.empty() ? "" : "\n      open: ", r->open_error.c_str());
  }
  return r.ok() ? *r : VerifyReport{};
}

VerifyReport Verify(const std::string& path) {
  VerifyOptions o;
  o.path = path;
  return Verify(o);
}

// Every file under `dir` with its size, mtime and contents, to show an audit writes nothing.
std::map<std::string, std::string> Fingerprint(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    ::stat(e.path().c_str(), &st);
    std::string contents;
    if (e.is_regular_file()) {
      FILE* f = std::fopen(e.path().c_str(), "rb");
      char buf[4096];
      size_t n = 0;
      while (f != nullptr && (n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
        contents.append(buf, n);
      }
      if (f != nullptr) {
        std::fclose(f);
      }
    }
    out[e.path().string()] = std::to_string(st.st_size) + "/" + std::to_string(st.st_mtim.tv_sec) +
                             "." + std::to_string(st.st_mtim.tv_nsec) + "/" +
                             merkle::ToHex(merkle::Sha256(contents));
  }
  return out;
}

class Audit : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = new testing::TempDir();
    Build(base_->Sub("log"), kEvents);
  }
  static void TearDownTestSuite() {
    delete base_;
    base_ = nullptr;
  }

  // A fresh copy of the reference log.
  std::string Copy(const std::string& name = "log") {
    std::string to = dir_.Sub(name);
    fs::copy(base_->Sub("log"), to, fs::copy_options::recursive);
    return to;
  }
  static std::string Original() { return base_->Sub("log"); }

  static testing::TempDir* base_;
  testing::TempDir dir_;
};

testing::TempDir* Audit::base_ = nullptr;

#define EXPECT_FAILURE(report, want_kind, want_seq)                    \
  do {                                                                 \
    EXPECT_EQ((report).kind, (want_kind)) << ToString(report);         \
    EXPECT_EQ((report).first_bad_seq, (want_seq)) << ToString(report); \
    EXPECT_FALSE((report).reason.empty());                             \
  } while (0)

TEST_F(Audit, CleanLogVerifiesWithEveryEventAndHeadCounted) {
  std::string path = Copy();
  auto before = Fingerprint(path);
  std::vector<VerifyProgress> calls;
  VerifyOptions o;
  o.path = path;
  o.progress_every = 100;
  o.progress = [&](const VerifyProgress& p) { calls.push_back(p); };
  VerifyReport r = Verify(o);
  EXPECT_TRUE(r.ok()) << ToString(r);
  EXPECT_EQ(r.events_checked, kEvents);
  EXPECT_EQ(r.heads_checked, std::size(kBatches));
  EXPECT_EQ(r.final_size, kEvents);
  EXPECT_EQ(r.final_root, HeadAt(path, kEvents).head.root);
  EXPECT_TRUE(r.open_error.empty()) << r.open_error;
  EXPECT_FALSE(r.key_pinned);
  calls.clear();
  ASSERT_OK(VerifyLog(o));
  ASSERT_EQ(calls.size(), 5u);  // every 100 events and once at the end
  EXPECT_EQ(calls[0].events_checked, 100u);
  EXPECT_EQ(calls[0].expected_events, kEvents);
  EXPECT_EQ(calls.back().events_checked, kEvents);
  EXPECT_EQ(calls.back().heads_checked, std::size(kBatches));
  EXPECT_EQ(Fingerprint(path), before) << "the audit changed the directory";

  o.check_indexes = true;
  o.trusted_public_key = PublicKey('s');
  VerifyReport full = Verify(o);
  EXPECT_TRUE(full.ok()) << ToString(full);
  EXPECT_TRUE(full.key_pinned);
  EXPECT_EQ(full.final_root, r.final_root);
  EXPECT_EQ(Fingerprint(path), before) << "the audit changed the directory";
}

TEST_F(Audit, EmptyLogVerifies) {
  std::string path = dir_.Sub("empty");
  {
    EventLogOptions o;
    o.path = path;
    o.signing_seed = Seed('s');
    ASSERT_OK(EventLog::Open(o));
  }
  VerifyReport r = Verify(path);
  EXPECT_TRUE(r.ok()) << ToString(r);
  EXPECT_EQ(r.final_size, 0u);
  EXPECT_EQ(r.final_root, merkle::EmptyRoot());
}

// A flipped payload byte changes the entry's leaf hash. The chain break shows at seq + 1, whose
// prev_leaf_hash no longer matches; the verifier blames seq itself because the signed head commits
// to the leaf hash seq + 1 records for it: kModified at exactly the edited seq.
TEST_F(Audit, EditedPayloadIsModifiedAtThatSeq) {
  // 150: mid-batch, found by the chain; 160: ends a batch, found by the head's root; 400: the last
  // event, which EventLog refuses to open (the audit then reads RocksDB directly).
  for (uint64_t seq : {uint64_t{150}, uint64_t{160}, uint64_t{1}, kEvents}) {
    SCOPED_TRACE(seq);
    std::string path = Copy("edit" + std::to_string(seq));
    {
      Tamper t(path);
      std::string v = t.Event(seq);
      v[v.size() - 1] ^= 0x01;  // the last bytes are the producer's event
      t.PutEvent(seq, v);
    }
    VerifyReport r = Verify(path);
    EXPECT_FAILURE(r, FailureKind::kModified, seq);
    EXPECT_EQ(r.open_error.empty(), seq != kEvents) << r.open_error;
  }
}

// The dedup table is not hashed or signed: an editor who rewrites the edited entry's dedup record
// to match must not move the blame to the next entry. 150: mid-batch (chain break at 151);
// 160: ends a batch (root mismatch at its head); 400: the last event.
TEST_F(Audit, EditedEntryIsBlamedEvenWhenItsDedupRecordWasRewrittenToMatch) {
  for (uint64_t seq : {uint64_t{150}, uint64_t{160}, uint64_t{122}, kEvents}) {
    SCOPED_TRACE(seq);
    std::string path = Copy("edit" + std::to_string(seq));
    {
      Tamper t(path);
      passage::v1::Envelope env = Parse(t.Event(seq));
      env.set_event("forged: the victim withdrew consent");
      const std::string bytes = Serialize(env);
      t.PutEvent(seq, bytes);
      const std::string key = env.producer() + std::string(1, '\0') + env.event_id();
      const std::string rec = t.Get("dedup", key);
      t.Put("dedup", key,
            rec.substr(0, 16) + std::string(merkle::AsBytes(merkle::LeafHash(bytes))));
    }
    VerifyReport r = Verify(path);
    EXPECT_FAILURE(r, FailureKind::kModified, seq);
  }
}

TEST_F(Audit, EditedPrevLeafHashIsModifiedAtThatSeq) {
  std::string path = Copy();
  {
    Tamper t(path);
    passage::v1::Envelope env = Parse(t.Event(151));
    std::string prev = env.prev_leaf_hash();
    prev[0] ^= 0x01;
    env.set_prev_leaf_hash(prev);
    t.PutEvent(151, Serialize(env));
  }
  VerifyReport r = Verify(path);
  EXPECT_FAILURE(r, FailureKind::kModified, 151u);
}

TEST_F(Audit, EnvelopeThatNoLongerParsesIsModified) {
  std::string path = Copy();
  {
    Tamper t(path);
    std::string v = t.Event(77);
    t.PutEvent(77, v.substr(0, v.size() - 3));  // cut inside the event bytes field
  }
  VerifyReport r = Verify(path);
  EXPECT_FAILURE(r, FailureKind::kModified, 77u);
}

TEST_F(Audit, DeletedEntryIsMissing) {
  // 200 passes EventLog's open checks; 399 is next to the tail, which EventLog checks on open.
  for (uint64_t seq : {uint64_t{200}, uint64_t{399}}) {
    SCOPED_TRACE(seq);
    std::string path = Copy("del" + std::to_string(seq));
    {
      Tamper t(path);
      t.Delete("events", EncodeBe64(seq));
    }
    VerifyReport r = Verify(path);
    EXPECT_FAILURE(r, FailureKind::kMissing, seq);
    EXPECT_EQ(r.events_checked, seq - 1);
    EXPECT_EQ(r.open_error.empty(), seq == 200) << r.open_error;
  }
}

TEST_F(Audit, SwappedEntriesAreReorderedAtTheFirst) {
  for (uint64_t seq : {uint64_t{120}, uint64_t{398}}) {
    SCOPED_TRACE(seq);
    std::string path = Copy("swap" + std::to_string(seq));
    {
      Tamper t(path);
      std::string a = t.Event(seq);
      std::string b = t.Event(seq + 1);
      t.PutEvent(seq, b);
      t.PutEvent(seq + 1, a);
    }
    VerifyReport r = Verify(path);
    EXPECT_FAILURE(r, FailureKind::kReordered, seq);
  }
}

TEST_F(Audit, RenumberedEnvelopeIsModifiedNotReordered) {
  std::string path = Copy();
  {
    Tamper t(path);
    passage::v1::Envelope env = Parse(t.Event(42));
    env.set_global_seq(43);
    t.PutEvent(42, Serialize(env));
  }
  VerifyReport r = Verify(path);
  EXPECT_FAILURE(r, FailureKind::kModified, 42u);
}

TEST_F(Audit, DeletedTailWithMetaLeftIsTruncated) {
  std::string path = Copy();
  {
    Tamper t(path);
    for (uint64_t seq = 381; seq <= kEvents; ++seq) {
      t.Delete("events", EncodeBe64(seq));
    }
  }
  VerifyReport r = Verify(path);
  EXPECT_FAILURE(r, FailureKind::kTruncated, 381u);
  EXPECT_EQ(r.events_checked, 380u);
  EXPECT_EQ(r.final_size, 380u);
  EXPECT_FALSE(r.open_error.empty()) << "EventLog should have refused the truncated log";
}

TEST_F(Audit, DeletedTailWithTreeStateAndHeadsRewrittenIsTruncatedAgainstTheAgencysHead) {
  // A consistent shorter log: a checkpoint taken at 300 events, while the agency saw 400.
  std::string path = dir_.Sub("short");
  Build(path, 300);
  VerifyReport alone = Verify(path);
  EXPECT_TRUE(alone.ok()) << ToString(alone);  // nothing in the log itself shows it
  VerifyOptions o;
  o.path = path;
  o.against = HeadAt(Original(), kEvents);
  VerifyReport r = Verify(o);
  EXPECT_FAILURE(r, FailureKind::kTruncated, 301u);
  EXPECT_TRUE(r.key_pinned);
}

TEST_F(Audit, AlteredHeadIsABadSignatureAfterTheLastGoodHead) {
  std::string path = Copy();
  {
    Tamper t(path);
    std::string v = t.Get("sth", EncodeBe64(253));
    v[3] ^= 0x40;  // a root byte
    t.Put("sth", EncodeBe64(253), v);
  }
  VerifyReport r = Verify(path);
  EXPECT_FAILURE(r, FailureKind::kBadSignature, 164u);  // the head at 163 is the last good one
  EXPECT_EQ(r.heads_checked, 7u);
}

// Forged from 254 (the first event after the head at 253): every hash is consistent, but the heads
// from 300 on are signed by another key.
TEST_F(Audit, ConsistentlyRehashedHistoryWithAnotherKeyIsABadSignature) {
  {
    SCOPED_TRACE("forger keeps the recorded key");
    std::string path = Copy("keep");
    Forge(path, 254, 'f', /*replace_key=*/false);
    VerifyReport r = Verify(path);
    EXPECT_FAILURE(r, FailureKind::kBadSignature, 254u);
    EXPECT_FALSE(r.open_error.empty()) << "EventLog checks the latest head on open";
  }
  {
    SCOPED_TRACE("forger records its own key");
    std::string path = Copy("replace");
    Forge(path, 254, 'f', /*replace_key=*/true);
    // Trusting the log's own key, the broker's genuine old heads are the ones that fail.
    VerifyReport tofu = Verify(path);
    EXPECT_FAILURE(tofu, FailureKind::kBadSignature, 1u);
    EXPECT_TRUE(tofu.open_error.empty()) << tofu.open_error;
    // Pinning the broker's key (or trusting an agency's head) locates the forgery.
    VerifyOptions o;
    o.path = path;
    o.trusted_public_key = PublicKey('s');
    VerifyReport pinned = Verify(o);
    EXPECT_FAILURE(pinned, FailureKind::kBadSignature, 254u);
    EXPECT_EQ(pinned.heads_checked, 8u);
    o.trusted_public_key.clear();
    o.against = HeadAt(Original(), 160);
    VerifyReport against = Verify(o);
    EXPECT_FAILURE(against, FailureKind::kBadSignature, 254u);
  }
  {
    SCOPED_TRACE("forger rewrites everything");
    std::string path = Copy("all");
    Forge(path, 1, 'f', /*replace_key=*/true);
    VerifyReport tofu = Verify(path);
    EXPECT_TRUE(tofu.ok()) << "undetectable without a trusted key: " << ToString(tofu);
    VerifyOptions o;
    o.path = path;
    o.trusted_public_key = PublicKey('s');
    VerifyReport pinned = Verify(o);
    EXPECT_FAILURE(pinned, FailureKind::kBadSignature, 1u);
  }
}

TEST_F(Audit, LogThatDoesNotExtendTheAgencysHeadIsAFork) {
  // Same key, same first 200 events, different events afterwards: a rewritten history, re-signed by
  // the broker's own key (a stolen key, or a broker restored from an old backup and refilled).
  std::string path = dir_.Sub("fork");
  Build(path, kEvents, "rewritten", 201);
  VerifyReport alone = Verify(path);
  EXPECT_TRUE(alone.ok()) << ToString(alone);

  VerifyOptions o;
  o.path = path;
  o.against = HeadAt(Original(), 300);
  VerifyReport r = Verify(o);
  EXPECT_FAILURE(r, FailureKind::kFork, 300u);
  EXPECT_EQ(r.events_checked, 300u);

  // A head from before the divergence is extended.
  o.against = HeadAt(Original(), 160);
  VerifyReport older = Verify(o);
  EXPECT_TRUE(older.ok()) << ToString(older);

  // The original log extends its own earlier heads.
  o.path = Original();
  o.against = HeadAt(Original(), 300);
  VerifyReport same = Verify(o);
  EXPECT_TRUE(same.ok()) << ToString(same);
}

// 16000 events fill more read-ahead batches (2048 events each) than the reader thread has, so it
// recycles them before the damage is found.
TEST_F(Audit, LongLogIsCheckedAcrossReadAheadBatches) {
  std::string path = dir_.Sub("long");
  {
    EventLogOptions o;
    o.path = path;
    o.signing_seed = Seed('s');
    auto log = EventLog::Open(o);
    ASSERT_OK(log);
    for (uint64_t b = 0; b < 16; ++b) {
      std::vector<AppendEntry> batch;
      for (uint64_t i = 1; i <= 1000; ++i) {
        batch.push_back(Entry(b * 1000 + i, "long"));
      }
      ASSERT_OK((*log)->Append(batch));
    }
  }
  VerifyReport clean = Verify(path);
  EXPECT_TRUE(clean.ok()) << ToString(clean);
  EXPECT_EQ(clean.events_checked, 16000u);
  EXPECT_EQ(clean.heads_checked, 16u);
  {
    Tamper t(path);
    std::string v = t.Event(14321);
    v[v.size() - 10] ^= 0x20;
    t.PutEvent(14321, v);
    t.Delete("events", EncodeBe64(15555));
  }
  VerifyReport r = Verify(path);
  EXPECT_FAILURE(r, FailureKind::kModified, 14321u);
}

TEST_F(Audit, AgencyHeadThatDoesNotVerifyIsAnInvalidArgument) {
  VerifyOptions o;
  o.path = Original();
  o.against = HeadAt(Original(), 300);
  o.against->head.root[0] ^= 1;
  auto r = VerifyLog(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(Audit, WrongDedupEntryIsABadIndexOnlyWhenIndexesAreChecked) {
  std::string path = Copy();
  {
    Tamper t(path);
    passage::v1::Envelope env = Parse(t.Event(88));
    t.Delete("dedup", env.producer() + std::string(1, '\0') + env.event_id());
  }
  VerifyReport quick = Verify(path);
  EXPECT_TRUE(quick.ok()) << ToString(quick);
  VerifyOptions o;
  o.path = path;
  o.check_indexes = true;
  VerifyReport r = Verify(o);
  EXPECT_FAILURE(r, FailureKind::kBadIndex, 88u);
}

TEST_F(Audit, UnreadableDirectoryIsReportedWithTheReason) {
  VerifyReport missing = Verify(dir_.Sub("nothing-here"));
  EXPECT_FAILURE(missing, FailureKind::kUnreadable, 0u);
  EXPECT_FALSE(missing.open_error.empty());

  std::string path = Copy();
  {
    Tamper t(path);
    t.Put("meta", "format", "something-else/9");
  }
  VerifyReport meta = Verify(path);
  EXPECT_FAILURE(meta, FailureKind::kUnreadable, 0u);
  EXPECT_NE(meta.reason.find("something-else/9"), std::string::npos) << meta.reason;
  EXPECT_EQ(meta.events_checked, kEvents);  // the events themselves were still audited
}

TEST_F(Audit, BadOptionsAreErrors) {
  EXPECT_EQ(VerifyLog(VerifyOptions{}).status().code(), StatusCode::kInvalidArgument);
  VerifyOptions o;
  o.path = Original();
  o.trusted_public_key = "short";
  EXPECT_EQ(VerifyLog(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace passage::audit
