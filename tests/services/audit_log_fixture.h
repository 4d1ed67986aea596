#pragma once

// Test support for passagectl's audit, replay and admin commands: a small broker event log written
// with EventLog from real events (every one checked against core::CaseProjection first, as the
// broker would), RocksDB-level damage done to copies of it the way a tool other than Passage's
// writer would do it, and a checksum of a directory's files to prove a command left it alone.
//
// The log (kEntries entries in the batches of kBatches, so signed heads at their running sums):
//   case A: opened by fia-khi, consent, referral R1 to shelter-khi, RECEIVED, ACCEPTED, two reads
//           by shelter-khi (one recorded by the broker), IN_PROGRESS, a service, COMPLETED
//   case B: opened by fia-khi, consent, referral R2 to shelter-khi, RECEIVED
//   one configuration event (AgencyRegistered), then reads of case B by its owner as filler.
// Entry `seq` is appended at AppendedAt(seq), one minute apart.

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "broker/log/event_log.h"
#include "broker/merkle/merkle.h"
#include "broker/merkle/tree_head.h"
#include "core/agency_directory.h"
#include "core/case_projection.h"
#include "passage/v1/events.pb.h"
#include "tests/testing/rocks_tamper.h"
#include "tests/testing/events.h"
#include "tests/testing/status_matchers.h"

namespace passage::testing::audit_fixture {

namespace v1 = passage::v1;

inline constexpr char kFia[] = "fia-khi";
inline constexpr char kShelter[] = "shelter-khi";
inline constexpr char kBroker[] = "passage-broker";  // the producer of reads it records
inline constexpr char kCaseA[] = "0190a3c4-0000-7000-8000-00000000000a";
inline constexpr char kCaseB[] = "0190a3c4-0000-7000-8000-00000000000b";
inline constexpr char kReferral1[] = "0190a3c4-0000-7000-8000-0000000000e1";
inline constexpr char kReferral2[] = "0190a3c4-0000-7000-8000-0000000000e2";
inline constexpr char kConsentA[] = "0190a3c4-0000-7000-8000-0000000000c1";
inline constexpr char kConsentB[] = "0190a3c4-0000-7000-8000-0000000000c2";
inline constexpr int64_t kT0 = 1'795'900'000'000;  // 2026-11-27T...Z

// Batch sizes: heads at 1, 3, 6, 11, 19, 26, 34, 40.
inline constexpr uint64_t kBatches[] = {1, 2, 3, 5, 8, 7, 8, 6};
inline constexpr uint64_t kEntries = 40;
// Where the story's moves land.
inline constexpr uint64_t kSeqR1Received = 5;
inline constexpr uint64_t kSeqR1Accepted = 7;
inline constexpr uint64_t kSeqRead = 8;
inline constexpr uint64_t kSeqBrokerRead = 9;
inline constexpr uint64_t kSeqR1Completed = 12;

inline std::string Seed(char c = 's') { return std::string(32, c); }
inline std::string PublicKey(char c = 's') {
  return merkle::TreeHeadSigner::FromSeed(Seed(c)).value().public_key();
}
inline int64_t AppendedAt(uint64_t seq) { return kT0 + static_cast<int64_t>(seq) * 60'000; }

inline core::InMemoryAgencyDirectory Directory() {
  core::InMemoryAgencyDirectory d;
  v1::Agency fia;
  fia.set_id(kFia);
  fia.set_type(v1::AGENCY_TYPE_LAW_ENFORCEMENT);
  fia.set_first_responder(true);
  d.Upsert(fia);
  v1::Agency shelter;
  shelter.set_id(kShelter);
  shelter.set_type(v1::AGENCY_TYPE_SHELTER);
  shelter.add_services(v1::SERVICE_TYPE_SHELTER);
  d.Upsert(shelter);
  return d;
}

struct Step {
  std::string producer;
  v1::Event event;
};

inline v1::Event Read(const std::string& agency, const std::string& case_id,
                      const std::string& purpose, const std::string& user,
                      v1::ActorRole role = v1::ACTOR_ROLE_CASE_WORKER) {
  auto e = BaseEvent(agency, case_id);
  e.set_actor_role(role);
  e.set_actor_user(user);
  auto* ra = e.mutable_record_accessed();
  ra->add_sections(v1::DATA_SECTION_PROFILE);
  ra->set_purpose(purpose);
  ra->set_actor_user(user);
  return e;
}

// The story, in log order (kEntries steps).
inline std::vector<Step> Story() {
  std::vector<Step> s;
  s.push_back({kFia, CaseOpened(kFia, kCaseA)});
  s.push_back({kFia, ConsentGiven(kFia, kCaseA, kConsentA)});
  s.push_back({kFia, ReferralSent(kFia, kShelter, kCaseA, kReferral1, kConsentA)});
  s.push_back({kFia, CaseOpened(kFia, kCaseB)});
  s.push_back({kShelter, Transition(kShelter, kCaseA, kReferral1, v1::REFERRAL_STATUS_RECEIVED)});
  s.push_back({kFia, ConsentGiven(kFia, kCaseB, kConsentB)});
  s.push_back({kShelter, Transition(kShelter, kCaseA, kReferral1, v1::REFERRAL_STATUS_ACCEPTED)});
  s.push_back({kShelter, Read(kShelter, kCaseA, "shelter admission", "sw-12")});
  s.push_back({kBroker, Read(kShelter, kCaseA, "journey", "", v1::ACTOR_ROLE_SYSTEM)});
  s.push_back(
      {kShelter, Transition(kShelter, kCaseA, kReferral1, v1::REFERRAL_STATUS_IN_PROGRESS)});
  auto service = BaseEvent(kShelter, kCaseA);
  service.mutable_service_delivered()->set_referral_id(kReferral1);
  service.mutable_service_delivered()->set_service(v1::SERVICE_TYPE_SHELTER);
  s.push_back({kShelter, service});
  s.push_back({kShelter, Transition(kShelter, kCaseA, kReferral1, v1::REFERRAL_STATUS_COMPLETED)});
  s.push_back({kFia, ReferralSent(kFia, kShelter, kCaseB, kReferral2, kConsentB)});
  s.push_back({kShelter, Transition(kShelter, kCaseB, kReferral2, v1::REFERRAL_STATUS_RECEIVED)});
  auto reg = BaseEvent(kBroker, "");
  reg.mutable_agency_registered()->mutable_agency()->set_id("legal-aid-khi");
  reg.mutable_agency_registered()->mutable_agency()->set_type(v1::AGENCY_TYPE_LEGAL_AID);
  s.push_back({kBroker, reg});
  while (s.size() < kEntries) {
    s.push_back({kFia, Read(kFia, kCaseB, "case review " + std::to_string(s.size()), "u17")});
  }
  // Deterministic times: occurred a second before it was appended.
  for (size_t i = 0; i < s.size(); ++i) {
    s[i].event.set_occurred_at_ms(AppendedAt(i + 1) - 1000);
  }
  return s;
}

// Writes the story (entries (from, to], 1-based) to the log at `path` in the kBatches pattern,
// checking each event against the projection of its case first.
inline void BuildLog(const std::string& path, uint64_t to = kEntries, char seed = 's') {
  log::EventLogOptions o;
  o.path = path;
  o.signing_seed = Seed(seed);
  o.clock_ms = [] { return kT0 + 5'000'000; };
  auto opened = log::EventLog::Open(o);
  ASSERT_OK(opened);
  auto& log = *opened;
  const auto directory = Directory();
  std::map<std::string, core::CaseProjection> cases;
  const std::vector<Step> story = Story();
  uint64_t n = log->LastSeq();
  // Replay what is already there so that checks see the current state.
  for (uint64_t seq = 1; seq <= n; ++seq) {
    const auto& e = story[seq - 1].event;
    v1::Envelope env;
    ASSERT_TRUE(env.ParseFromString(log->Read(seq).value()));
    if (!e.case_id().empty()) {
      cases[e.case_id()].Apply(env, e);
    }
  }
  uint64_t boundary = 0;
  for (uint64_t size : kBatches) {
    boundary += size;
    if (boundary <= n) {
      continue;
    }
    std::vector<log::AppendEntry> batch;
    for (; n < boundary && n < to; ++n) {
      const Step& step = story[n];
      const v1::Event& e = step.event;
      if (!e.case_id().empty()) {
        ASSERT_OK(cases[e.case_id()].Check(e, directory)) << "story step " << n + 1;
        v1::Envelope env;
        env.set_global_seq(n + 1);
        env.set_case_seq(cases[e.case_id()].state().version() + 1);
        cases[e.case_id()].Apply(env, e);
      }
      log::AppendEntry entry;
      entry.producer = step.producer;
      entry.event_id = e.event_id();
      entry.case_id = e.case_id();
      entry.event_bytes = e.SerializeAsString();
      entry.appended_at_ms = AppendedAt(n + 1);
      batch.push_back(std::move(entry));
    }
    if (batch.empty()) {
      break;
    }
    ASSERT_OK(log->Append(batch));
  }
}

// Damage done with the RocksDB API directly, as a tool other than Passage's writer would.
using ::passage::testing::Tamper;

// Rewrites history from `from` on as a thorough forger would, re-hashing everything: edits entry
// `from`, re-chains every later envelope, rewrites Merkle nodes, dedup entries, the tree state and
// the heads of size >= from, signed with the seed `forger` (not the broker's key, unless it is
// 's'); `replace_key` also records the forger's key in meta and re-signs every head with it.
inline void Forge(const std::string& path, uint64_t from, char forger, bool replace_key) {
  Tamper t(path);
  auto signer = merkle::TreeHeadSigner::FromSeed(Seed(forger)).value();
  std::vector<uint64_t> heads = t.HeadSizes();
  merkle::CompactRange range;
  merkle::Hash prev{};
  size_t next_head = 0;
  const uint64_t size = heads.empty() ? 0 : heads.back();
  for (uint64_t seq = 1; seq <= size; ++seq) {
    std::string bytes = t.Event(seq);
    if (seq >= from) {
      v1::Envelope env;
      EXPECT_TRUE(env.ParseFromString(bytes));
      if (seq == from) {
        v1::Event e;
        EXPECT_TRUE(e.ParseFromString(env.event()));
        e.set_actor_user("forged");
        env.set_event(e.SerializeAsString());
      }
      env.set_prev_leaf_hash(std::string(merkle::AsBytes(prev)));
      bytes = env.SerializeAsString();
      t.PutEvent(seq, bytes);
      const std::string dedup_key = env.producer() + std::string(1, '\0') + env.event_id();
      const std::string rec = t.Get("dedup", dedup_key);
      t.Put("dedup", dedup_key,
            rec.substr(0, 16) + std::string(merkle::AsBytes(merkle::LeafHash(bytes))));
    }
    prev = merkle::LeafHash(bytes);
    range.Append(prev, [&](uint32_t level, uint64_t index, const merkle::Hash& h) {
      t.Put("merkle", std::string(1, static_cast<char>(level)) + log::EncodeBe64(index),
            std::string(merkle::AsBytes(h)));
    });
    if (next_head < heads.size() && heads[next_head] == seq) {
      ++next_head;
      if (seq >= from || replace_key) {
        const std::string old = t.Get("sth", log::EncodeBe64(seq));
        merkle::TreeHead head;
        head.tree_size = seq;
        head.root = range.Root();
        head.timestamp_ms = static_cast<int64_t>(log::DecodeBe64(old.substr(32, 8)));
        t.Put("sth", log::EncodeBe64(seq),
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

// name -> SHA-256 of content, for every regular file under `dir`; proves nothing was written.
inline std::map<std::string, std::string> DirectoryChecksums(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) {
      out[std::filesystem::relative(e.path(), dir).string()] = "<not a regular file>";
      continue;
    }
    std::ifstream f(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    out[std::filesystem::relative(e.path(), dir).string()] =
        merkle::ToHex(merkle::Sha256(ss.str()));
  }
  return out;
}

inline void CopyDir(const std::string& from, const std::string& to) {
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
}

}  // namespace passage::testing::audit_fixture
