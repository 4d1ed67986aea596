#include "broker/log/event_log.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "passage/v1/events.pb.h"
#include "tests/testing/rocks_tamper.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace passage::log {
namespace {

constexpr char kCaseA[] = "018f3a5e-0000-7000-8000-00000000000a";
constexpr char kCaseB[] = "018f3a5e-0000-7000-8000-00000000000b";

std::string Seed(char c = 's') { return std::string(32, c); }

EventLogOptions Options(const std::string& path, char seed = 's') {
  EventLogOptions o;
  o.path = path;
  o.signing_seed = Seed(seed);
  o.clock_ms = [] { return int64_t{1'700'000'000'000}; };
  return o;
}

AppendEntry Entry(const std::string& id, const std::string& case_id, const std::string& producer = "fia") {
  AppendEntry e;
  e.producer = producer;
  e.event_id = id;
  e.case_id = case_id;
  e.event_bytes = "payload of " + id;
  e.appended_at_ms = 1'700'000'000'000;
  return e;
}

std::unique_ptr<EventLog> MustOpen(const EventLogOptions& o) {
  auto r = EventLog::Open(o);
  EXPECT_OK(r);
  return r.ok() ? std::move(r).value() : nullptr;
}

std::vector<merkle::Hash> AllLeaves(const EventLog& log) {
  std::vector<merkle::Hash> leaves;
  EXPECT_OK(log.Scan(0, UINT64_MAX, [&](uint64_t, std::string_view bytes) {
    leaves.push_back(merkle::LeafHash(bytes));
    return true;
  }));
  return leaves;
}

TEST(EventLog, AppendAssignsGapFreeGlobalAndPerCaseSequenceNumbers) {
  testing::TempDir dir;
  auto log = MustOpen(Options(dir.Sub("log")));
  std::vector<AppendEntry> batch = {Entry("e1", kCaseA), Entry("e2", kCaseB), Entry("e3", kCaseA),
                                    Entry("cfg", "")};
  auto out = log->Append(batch);
  ASSERT_OK(out);
  ASSERT_EQ(out->size(), 4u);
  EXPECT_EQ((*out)[0].global_seq, 1u);
  EXPECT_EQ((*out)[1].global_seq, 2u);
  EXPECT_EQ((*out)[2].global_seq, 3u);
  EXPECT_EQ((*out)[3].global_seq, 4u);
  EXPECT_EQ((*out)[0].case_seq, 1u);
  EXPECT_EQ((*out)[1].case_seq, 1u);
  EXPECT_EQ((*out)[2].case_seq, 2u);
  EXPECT_EQ((*out)[3].case_seq, 0u);
  auto more = log->Append(std::vector<AppendEntry>{Entry("e4", kCaseA)});
  ASSERT_OK(more);
  EXPECT_EQ((*more)[0].global_seq, 5u);
  EXPECT_EQ((*more)[0].case_seq, 3u);
  EXPECT_EQ(log->LastSeq(), 5u);

  auto seqs = log->CaseEvents(kCaseA, 0, 100);
  ASSERT_OK(seqs);
  EXPECT_EQ(*seqs, (std::vector<uint64_t>{1, 3, 5}));
  auto after = log->CaseEvents(kCaseA, 1, 100);
  ASSERT_OK(after);
  EXPECT_EQ(*after, (std::vector<uint64_t>{3, 5}));
  auto version = log->CaseVersion(kCaseA);
  ASSERT_OK(version);
  EXPECT_EQ(*version, 3u);
  auto none = log->CaseVersion("018f3a5e-0000-7000-8000-0000000000ff");
  ASSERT_OK(none);
  EXPECT_EQ(*none, 0u);
}

TEST(EventLog, KnownCaseSeqIsUsedAndAMismatchRefusesTheWholeBatch) {
  testing::TempDir dir;
  auto log = MustOpen(Options(dir.Sub("log")));
  ASSERT_OK(log->Append(std::vector<AppendEntry>{Entry("e1", kCaseA), Entry("e2", kCaseA)}));

  // The broker's projection knows case A is at version 2.
  AppendEntry next = Entry("e3", kCaseA);
  next.known_case_seq = 3;
  AppendEntry after = Entry("e4", kCaseA);
  after.known_case_seq = 4;
  auto out = log->Append(std::vector<AppendEntry>{next, after});
  ASSERT_OK(out);
  EXPECT_EQ((*out)[0].case_seq, 3u);
  EXPECT_EQ((*out)[1].case_seq, 4u);

  // Two entries claiming the same case seq: nothing of the batch is written.
  AppendEntry a = Entry("e5", kCaseA);
  a.known_case_seq = 5;
  AppendEntry b = Entry("e6", kCaseA);
  b.known_case_seq = 5;
  auto refused = log->Append(std::vector<AppendEntry>{Entry("e7", kCaseB), a, b});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInternal);
  EXPECT_NE(refused.status().message().find("case seq 5"), std::string::npos)
      << refused.status().ToString();
  EXPECT_EQ(log->LastSeq(), 4u);
  auto version = log->CaseVersion(kCaseA);
  ASSERT_OK(version);
  EXPECT_EQ(*version, 4u);
  auto b_version = log->CaseVersion(kCaseB);
  ASSERT_OK(b_version);
  EXPECT_EQ(*b_version, 0u);
}

// Read answers recent seqs from memory and older ones from RocksDB: both give the stored bytes.
TEST(EventLog, ReadGivesTheStoredBytesForRecentAndOlderEvents) {
  testing::TempDir dir;
  auto log = MustOpen(Options(dir.Sub("log")));
  constexpr int kBatches = 12;
  constexpr int kPerBatch = 1000;  // 12,000 envelopes of about 1 KiB: more than the memory keeps
  for (int b = 0; b < kBatches; ++b) {
    std::vector<AppendEntry> batch;
    for (int i = 0; i < kPerBatch; ++i) {
      AppendEntry e = Entry("e" + std::to_string(b * kPerBatch + i), kCaseA);
      e.event_bytes = std::string(1000, static_cast<char>('a' + (i % 26)));
      batch.push_back(std::move(e));
    }
    ASSERT_OK(log->Append(batch));
  }
  std::map<uint64_t, std::string> stored;
  ASSERT_OK(log->Scan(0, UINT64_MAX, [&](uint64_t seq, std::string_view bytes) {
    stored[seq] = std::string(bytes);
    return true;
  }));
  ASSERT_EQ(stored.size(), static_cast<size_t>(kBatches * kPerBatch));
  for (uint64_t seq : {uint64_t{1}, uint64_t{2}, uint64_t{5000}, uint64_t{11999}, uint64_t{12000}}) {
    auto r = log->Read(seq);
    ASSERT_OK(r);
    EXPECT_EQ(*r, stored[seq]) << "seq " << seq;
  }
  EXPECT_EQ(log->Read(12001).status().code(), StatusCode::kNotFound);
  log.reset();
  auto reopened = MustOpen(Options(dir.Sub("log")));
  auto r = reopened->Read(12000);
  ASSERT_OK(r);
  EXPECT_EQ(*r, stored[12000]);
}

TEST(EventLog, EnvelopeKeepsTheProducersBytesAndChainsThePreviousLeaf) {
  testing::TempDir dir;
  auto log = MustOpen(Options(dir.Sub("log")));
  ASSERT_OK(log->Append(std::vector<AppendEntry>{Entry("e1", kCaseA), Entry("e2", kCaseA)}));
  auto first = log->Read(1);
  auto second = log->Read(2);
  ASSERT_OK(first);
  ASSERT_OK(second);
  passage::v1::Envelope e1;
  passage::v1::Envelope e2;
  ASSERT_TRUE(e1.ParseFromString(*first));
  ASSERT_TRUE(e2.ParseFromString(*second));
  EXPECT_EQ(e1.event(), "payload of e1");
  EXPECT_EQ(e1.producer(), "fia");
  EXPECT_EQ(e1.event_id(), "e1");
  EXPECT_EQ(e1.prev_leaf_hash(), std::string(32, '\0'));
  EXPECT_EQ(e2.prev_leaf_hash(), merkle::AsBytes(merkle::LeafHash(*first)));
  EXPECT_EQ(log->Read(3).status().code(), StatusCode::kNotFound);
}

TEST(EventLog, RepeatedEventIdReturnsTheOriginalOutcomeEvenAfterReopen) {
  testing::TempDir dir;
  AppendOutcome original;
  {
    auto log = MustOpen(Options(dir.Sub("log")));
    auto out = log->Append(std::vector<AppendEntry>{Entry("e1", kCaseA), Entry("e1", kCaseA)});
    ASSERT_OK(out);
    original = (*out)[0];
    EXPECT_FALSE(original.duplicate);
    EXPECT_TRUE((*out)[1].duplicate);
    EXPECT_EQ((*out)[1].global_seq, 1u);
    EXPECT_EQ(log->LastSeq(), 1u);
  }
  auto log = MustOpen(Options(dir.Sub("log")));
  auto again = log->Append(std::vector<AppendEntry>{Entry("e1", kCaseA)});
  ASSERT_OK(again);
  EXPECT_TRUE((*again)[0].duplicate);
  EXPECT_EQ((*again)[0].global_seq, original.global_seq);
  EXPECT_EQ((*again)[0].case_seq, original.case_seq);
  EXPECT_EQ((*again)[0].leaf_hash, original.leaf_hash);
  EXPECT_EQ(log->LastSeq(), 1u);
  // The same event id from another producer is another event.
  auto other = log->Append(std::vector<AppendEntry>{Entry("e1", kCaseA, "iom")});
  ASSERT_OK(other);
  EXPECT_FALSE((*other)[0].duplicate);
  EXPECT_EQ((*other)[0].global_seq, 2u);
}

TEST(EventLog, ReopenKeepsEverySyncedEventAndContinuesWithoutGap) {
  testing::TempDir dir;
  std::vector<merkle::Hash> leaves;
  {
    auto log = MustOpen(Options(dir.Sub("log")));
    for (int b = 0; b < 10; ++b) {
      std::vector<AppendEntry> batch;
      for (int i = 0; i < 7; ++i) {
        batch.push_back(Entry("e" + std::to_string(b * 7 + i), i % 2 ? kCaseA : kCaseB));
      }
      auto out = log->Append(batch);
      ASSERT_OK(out);
      for (const auto& o : *out) {
        leaves.push_back(o.leaf_hash);
      }
    }
  }
  auto log = MustOpen(Options(dir.Sub("log")));
  EXPECT_EQ(log->LastSeq(), 70u);
  EXPECT_EQ(AllLeaves(*log), leaves);
  auto out = log->Append(std::vector<AppendEntry>{Entry("next", kCaseA)});
  ASSERT_OK(out);
  EXPECT_EQ((*out)[0].global_seq, 71u);
  EXPECT_EQ((*out)[0].case_seq, 31u);  // 3 of every 7 went to case A
}

TEST(EventLog, TreeHeadsAreSignedAndProofsVerifyAgainstTheRecomputedRoot) {
  testing::TempDir dir;
  auto log = MustOpen(Options(dir.Sub("log")));
  std::vector<uint64_t> sizes;
  for (int b = 0; b < 13; ++b) {
    std::vector<AppendEntry> batch;
    for (int i = 0; i <= b; ++i) {
      batch.push_back(Entry("e" + std::to_string(b) + "-" + std::to_string(i), kCaseA));
    }
    ASSERT_OK(log->Append(batch));
    sizes.push_back(log->LastSeq());
  }
  std::vector<merkle::Hash> leaves = AllLeaves(*log);
  ASSERT_EQ(leaves.size(), log->LastSeq());
  SignedHead head = log->LatestHead();
  EXPECT_EQ(head.head.tree_size, leaves.size());
  EXPECT_EQ(head.head.root, merkle::RootOfLeaves(leaves));
  EXPECT_OK(merkle::VerifyTreeHead(head.head, head.signature, head.public_key));

  std::vector<uint64_t> head_sizes;
  ASSERT_OK(log->ScanTreeHeads(0, [&](const SignedHead& h) {
    head_sizes.push_back(h.head.tree_size);
    std::vector<merkle::Hash> prefix(leaves.begin(), leaves.begin() + h.head.tree_size);
    EXPECT_EQ(h.head.root, merkle::RootOfLeaves(prefix));
    EXPECT_OK(merkle::VerifyTreeHead(h.head, h.signature, h.public_key));
    return true;
  }));
  EXPECT_EQ(head_sizes, sizes);

  for (uint64_t size : {uint64_t{1}, uint64_t{6}, uint64_t{45}, uint64_t{91}}) {
    auto root = log->RootAt(size);
    ASSERT_OK(root);
    for (uint64_t seq = 1; seq <= size; ++seq) {
      auto proof = log->InclusionProof(seq, size);
      ASSERT_OK(proof);
      EXPECT_OK(merkle::VerifyInclusion(leaves[seq - 1], seq - 1, size, *proof, *root));
    }
    auto cons = log->ConsistencyProof(size, log->LastSeq());
    ASSERT_OK(cons);
    EXPECT_OK(merkle::VerifyConsistency(size, log->LastSeq(), *root, head.head.root, *cons));
  }
  EXPECT_FALSE(log->InclusionProof(0, 5).ok());
  EXPECT_FALSE(log->InclusionProof(6, 5).ok());
  EXPECT_FALSE(log->RootAt(log->LastSeq() + 1).ok());
}

TEST(EventLog, RefusesToOpenWithAnotherSigningKey) {
  testing::TempDir dir;
  { ASSERT_OK(MustOpen(Options(dir.Sub("log")))->Append(std::vector<AppendEntry>{Entry("e1", kCaseA)})); }
  auto other = EventLog::Open(Options(dir.Sub("log"), 'x'));
  EXPECT_FALSE(other.ok());
}

TEST(EventLog, CheckpointOpensReadOnlyWithTheSameContent) {
  testing::TempDir dir;
  auto log = MustOpen(Options(dir.Sub("log")));
  ASSERT_OK(log->Append(std::vector<AppendEntry>{Entry("e1", kCaseA), Entry("e2", kCaseB)}));
  ASSERT_OK(log->Checkpoint(dir.Sub("cp")));
  EventLogOptions ro;
  ro.path = dir.Sub("cp");
  ro.read_only = true;
  auto copy = EventLog::Open(ro);
  ASSERT_OK(copy);
  EXPECT_EQ((*copy)->LastSeq(), 2u);
  EXPECT_EQ((*copy)->LatestHead().head.root, log->LatestHead().head.root);
  EXPECT_FALSE((*copy)->Append(std::vector<AppendEntry>{Entry("e3", kCaseA)}).ok());
}

TEST(EventLog, BrokerStateRoundTrips) {
  testing::TempDir dir;
  auto log = MustOpen(Options(dir.Sub("log")));
  std::vector<std::pair<std::string, std::string>> puts = {{"cursor/iom", "7"}, {"cursor/fia", "3"},
                                                           {"other", "x"}};
  ASSERT_OK(log->PutState(puts, {}, true));
  std::vector<std::string> keys;
  ASSERT_OK(log->ScanState("cursor/", "", [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  }));
  EXPECT_EQ(keys, (std::vector<std::string>{"cursor/fia", "cursor/iom"}));
  std::vector<std::string> dels = {"cursor/fia"};
  ASSERT_OK(log->PutState({}, dels, false));
  auto v = log->GetState("cursor/fia");
  ASSERT_OK(v);
  EXPECT_FALSE(v->has_value());
}

TEST(EventLog, AppendIndexesEachEventUnderItsAudience) {
  testing::TempDir dir;
  auto log = MustOpen(Options(dir.Sub("log")));
  AppendEntry a = Entry("e1", kCaseA);
  a.audience = {"iom", "shelter"};
  AppendEntry b = Entry("e2", kCaseB);
  b.audience = {"iom"};
  AppendEntry dup = Entry("e1", kCaseA);
  dup.audience = {"prosecutor"};  // a duplicate writes nothing, not even its audience
  ASSERT_OK(log->Append(std::vector<AppendEntry>{a, b, dup}));
  auto seqs_of = [&](const std::string& agency) {
    std::vector<uint64_t> seqs;
    std::string prefix = StateKeys::AudiencePrefix(agency);
    EXPECT_OK(log->ScanState(prefix, "", [&](std::string_view k, std::string_view) {
      seqs.push_back(DecodeBe64(k.substr(prefix.size())));
      return true;
    }));
    return seqs;
  };
  EXPECT_EQ(seqs_of("iom"), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(seqs_of("shelter"), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(seqs_of("prosecutor").empty());
  // Scanning from a position skips what came before it.
  std::vector<uint64_t> after;
  std::string prefix = StateKeys::AudiencePrefix("iom");
  ASSERT_OK(log->ScanState(prefix, StateKeys::Audience("iom", 2), [&](std::string_view k, std::string_view) {
    after.push_back(DecodeBe64(k.substr(prefix.size())));
    return true;
  }));
  EXPECT_EQ(after, (std::vector<uint64_t>{2}));
}

// Damage done with RocksDB directly, as an attacker or a faulty disk tool would.
using ::passage::testing::Tamper;

void FillLog(const std::string& path, int n) {
  auto log = MustOpen(Options(path));
  for (int i = 0; i < n; ++i) {
    ASSERT_OK(log->Append(std::vector<AppendEntry>{Entry("e" + std::to_string(i), kCaseA)}));
  }
}

TEST(EventLog, RefusesToOpenWhenTheLastEventIsModified) {
  testing::TempDir dir;
  FillLog(dir.Sub("log"), 20);
  {
    Tamper t(dir.Sub("log"));
    std::string v;
    ASSERT_TRUE(t.db()->Get(rocksdb::ReadOptions(), t.cf("events"), EncodeBe64(20), &v).ok());
    v[v.size() - 1] ^= 0x01;
    ASSERT_TRUE(t.db()->Put(rocksdb::WriteOptions(), t.cf("events"), EncodeBe64(20), v).ok());
  }
  auto r = EventLog::Open(Options(dir.Sub("log")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("seq 20"), std::string::npos) << r.status().ToString();
}

TEST(EventLog, RefusesToOpenWhenAnEventInTheTailIsModified) {
  testing::TempDir dir;
  FillLog(dir.Sub("log"), 20);
  {
    Tamper t(dir.Sub("log"));
    std::string v;
    ASSERT_TRUE(t.db()->Get(rocksdb::ReadOptions(), t.cf("events"), EncodeBe64(12), &v).ok());
    v[v.size() - 1] ^= 0x01;
    ASSERT_TRUE(t.db()->Put(rocksdb::WriteOptions(), t.cf("events"), EncodeBe64(12), v).ok());
  }
  // The chain breaks at 13, but 13 records 12's original leaf hash and the signed head commits to
  // it: the refusal names 12, the entry that was edited, not 13.
  auto r = EventLog::Open(Options(dir.Sub("log")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("seq 12 was altered"), std::string::npos)
      << r.status().ToString();
}

// Blame rests on hashed, signed data only: an edit whose dedup record was rewritten to match still
// names the edited entry (in the middle of a batch, so no head ends at it), and an edited
// prev_leaf_hash names the entry that holds it.
TEST(EventLog, RefusalNamesTheEditedEntryNotTheNextOneWhateverTheDedupTableSays) {
  for (bool edit_prev : {false, true}) {
    SCOPED_TRACE(edit_prev ? "prev_leaf_hash of 13 edited" : "payload of 12 edited");
    testing::TempDir dir;
    {
      auto log = MustOpen(Options(dir.Sub("log")));
      std::vector<AppendEntry> batch;
      for (int i = 1; i <= 20; ++i) {
        batch.push_back(Entry("e" + std::to_string(i), kCaseA));
      }
      ASSERT_OK(log->Append(batch));
    }
    {
      Tamper t(dir.Sub("log"));
      const uint64_t seq = edit_prev ? 13 : 12;
      passage::v1::Envelope env;
      ASSERT_TRUE(env.ParseFromString(t.Event(seq)));
      if (edit_prev) {
        std::string prev = env.prev_leaf_hash();
        prev[0] ^= 0x01;
        env.set_prev_leaf_hash(prev);
      } else {
        env.set_event("forged: consent withdrawn");
      }
      std::string bytes = env.SerializeAsString();
      t.PutEvent(seq, bytes);
      // The unhashed dedup record made to agree with the edit.
      std::string key = env.producer() + std::string(1, '\0') + env.event_id();
      std::string rec = t.Get("dedup", key);
      t.Put("dedup", key,
            rec.substr(0, 16) + std::string(merkle::AsBytes(merkle::LeafHash(bytes))));
    }
    auto r = EventLog::Open(Options(dir.Sub("log")));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
    EXPECT_NE(r.status().message().find(edit_prev ? "seq 13 was altered" : "seq 12 was altered"),
              std::string::npos)
        << r.status().ToString();
  }
}

TEST(EventLog, RefusesToOpenWhenTheTailIsTruncatedOrAGapAppears) {
  testing::TempDir dir;
  FillLog(dir.Sub("log"), 20);
  {
    Tamper t(dir.Sub("log"));
    ASSERT_TRUE(t.db()->Delete(rocksdb::WriteOptions(), t.cf("events"), EncodeBe64(20)).ok());
  }
  auto truncated = EventLog::Open(Options(dir.Sub("log")));
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), StatusCode::kCorruption);

  testing::TempDir dir2;
  FillLog(dir2.Sub("log"), 20);
  {
    Tamper t(dir2.Sub("log"));
    ASSERT_TRUE(t.db()->Delete(rocksdb::WriteOptions(), t.cf("events"), EncodeBe64(15)).ok());
  }
  auto gap = EventLog::Open(Options(dir2.Sub("log")));
  ASSERT_FALSE(gap.ok());
  EXPECT_NE(gap.status().message().find("15"), std::string::npos) << gap.status().ToString();
}

}  // namespace
}  // namespace passage::log
