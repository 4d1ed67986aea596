#include "broker/merkle/merkle.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/testing/status_matchers.h"

namespace passage::merkle {
namespace {

// ---------------------------------------------------------------------------------------------
// Helpers

Hash H(std::string_view hex) {
  Hash h{};
  EXPECT_EQ(hex.size(), 64u) << hex;
  for (size_t i = 0; i < 32 && 2 * i + 1 < hex.size(); ++i) {
    h[i] = static_cast<uint8_t>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
  }
  return h;
}

std::vector<Hash> Hs(std::initializer_list<std::string_view> hexes) {
  std::vector<Hash> out;
  for (std::string_view hex : hexes) {
    out.push_back(H(hex));
  }
  return out;
}

// The eight leaves of the certificate-transparency RFC 6962 test vectors.
std::vector<std::string> StandardLeaves() {
  return {std::string(),
          std::string("\x00", 1),
          "\x10",
          "\x20\x21",
          "\x30\x31",
          "\x40\x41\x42\x43",
          "\x50\x51\x52\x53\x54\x55\x56\x57",
          "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"};
}

std::vector<Hash> LeafHashes(const std::vector<std::string>& leaves) {
  std::vector<Hash> out;
  for (const std::string& leaf : leaves) {
    out.push_back(LeafHash(leaf));
  }
  return out;
}

std::vector<Hash> NumberedLeafHashes(size_t n) {
  std::vector<Hash> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(LeafHash("leaf #" + std::to_string(i)));
  }
  return out;
}

// Stores every node CompactRange reports. A view (`At`) only answers for nodes that are complete
// in a tree of a given size, so a proof generator that asks for anything else (a node past the
// tree's end, or a partial subtree) fails the test.
class MemoryNodes {
 public:
  CompactRange::NodeSink Sink() {
    return [this](uint32_t level, uint64_t index, const Hash& hash) {
      const bool inserted = nodes_.emplace(std::make_pair(level, index), hash).second;
      EXPECT_TRUE(inserted) << "node (" << level << ", " << index << ") reported twice";
    };
  }
  size_t count() const { return nodes_.size(); }
  const std::map<std::pair<uint32_t, uint64_t>, Hash>& nodes() const { return nodes_; }

  class View : public NodeReader {
   public:
    View(const MemoryNodes& nodes, uint64_t tree_size) : nodes_(nodes), tree_size_(tree_size) {}
    Result<Hash> GetNode(uint32_t level, uint64_t index) const override {
      ++reads_;
      if (level >= 64 || ((index + 1) << level) > tree_size_) {
        ADD_FAILURE() << "read of node (" << level << ", " << index
                      << ") which is not a perfect subtree of a tree of size " << tree_size_;
        return Status::Internal("not a perfect subtree");
      }
      auto it = nodes_.nodes_.find({level, index});
      if (it == nodes_.nodes_.end()) {
        return Status::NotFound("node missing");
      }
      return it->second;
    }
    int reads() const { return reads_; }

   private:
    const MemoryNodes& nodes_;
    uint64_t tree_size_;
    mutable int reads_ = 0;
  };

  View At(uint64_t tree_size) const { return View(*this, tree_size); }

 private:
  std::map<std::pair<uint32_t, uint64_t>, Hash> nodes_;
};

// A test-only transcription of RFC 6962 §2.1.1 / §2.1.2 (recursive PATH and SUBPROOF), used to
// check that generated proofs are exactly the RFC's, not merely proofs that happen to verify.
size_t SplitPoint(size_t n) { return std::bit_floor(n - 1); }

std::vector<Hash> RefPath(size_t m, std::span<const Hash> d) {
  if (d.size() <= 1) {
    return {};
  }
  const size_t k = SplitPoint(d.size());
  std::vector<Hash> out;
  if (m < k) {
    out = RefPath(m, d.first(k));
    out.push_back(RootOfLeaves(d.subspan(k)));
  } else {
    out = RefPath(m - k, d.subspan(k));
    out.push_back(RootOfLeaves(d.first(k)));
  }
  return out;
}

std::vector<Hash> RefSubproof(size_t m, std::span<const Hash> d, bool b) {
  if (m == d.size()) {
    if (b) {
      return {};
    }
    return {RootOfLeaves(d)};
  }
  const size_t k = SplitPoint(d.size());
  std::vector<Hash> out;
  if (m <= k) {
    out = RefSubproof(m, d.first(k), b);
    out.push_back(RootOfLeaves(d.subspan(k)));
  } else {
    out = RefSubproof(m - k, d.subspan(k), false);
    out.push_back(RootOfLeaves(d.first(k)));
  }
  return out;
}

std::vector<Hash> RefConsistency(size_t m, std::span<const Hash> d) {
  if (m == 0 || m == d.size()) {
    return {};
  }
  return RefSubproof(m, d, true);
}

struct Tree {
  std::vector<Hash> leaves;
  CompactRange range;
  MemoryNodes nodes;
};

void Grow(Tree& tree, const std::vector<Hash>& leaves) {
  for (const Hash& leaf : leaves) {
    tree.leaves.push_back(leaf);
    tree.range.Append(leaf, tree.nodes.Sink());
  }
}

Hash Flip(Hash h, int bit) {
  h[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  return h;
}

// ---------------------------------------------------------------------------------------------
// Known answers (computed independently with a Python hashlib transcription of RFC 6962).

TEST(MerkleHash, Sha256OfEmptyStringIsTheEmptyRoot) {
  EXPECT_EQ(ToHex(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(EmptyRoot(), Sha256(""));
}

TEST(MerkleHash, LeafHashesMatchKnownAnswers) {
  const std::vector<std::string> expected = {
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
      "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
  };
  const std::vector<Hash> leaves = LeafHashes(StandardLeaves());
  ASSERT_EQ(leaves.size(), expected.size());
  for (size_t i = 0; i < leaves.size(); ++i) {
    EXPECT_EQ(ToHex(leaves[i]), expected[i]) << "leaf " << i;
  }
}

TEST(MerkleHash, NodeHashPrefixesOneAndConcatenates) {
  const Hash l = LeafHash("a");
  const Hash r = LeafHash("b");
  std::string input = "\x01";
  input += AsBytes(l);
  input += AsBytes(r);
  EXPECT_EQ(NodeHash(l, r), Sha256(input));
  EXPECT_NE(NodeHash(l, r), NodeHash(r, l));
}

TEST(MerkleHash, HexAndBytesRoundTrip) {
  const Hash h = LeafHash("x");
  EXPECT_EQ(AsBytes(h).size(), 32u);
  Result<Hash> back = HashFromBytes(AsBytes(h), "root");
  ASSERT_OK(back);
  EXPECT_EQ(*back, h);
  EXPECT_EQ(H(ToHex(h)), h);
}

TEST(MerkleHash, HashFromBytesRejectsWrongLengthNamingTheField) {
  for (size_t n : {0u, 31u, 33u, 64u}) {
    Result<Hash> r = HashFromBytes(std::string(n, 'a'), "tree_head.root");
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().field(), "tree_head.root");
  }
}

TEST(MerkleKnownAnswer, RootsOfStandardTrees) {
  const std::vector<std::pair<size_t, std::string>> expected = {
      {0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {1, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"},
      {2, "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"},
      {3, "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"},
      {4, "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"},
      {5, "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"},
      {6, "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"},
      {7, "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"},
      {8, "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"},
  };
  const std::vector<Hash> leaves = LeafHashes(StandardLeaves());
  Tree tree;
  for (const auto& [n, hex] : expected) {
    if (n > 0) {
      Grow(tree, {leaves[n - 1]});
    }
    ASSERT_EQ(tree.range.size(), n);
    EXPECT_EQ(ToHex(RootOfLeaves(std::span(leaves).first(n))), hex) << "RootOfLeaves, size " << n;
    EXPECT_EQ(ToHex(tree.range.Root()), hex) << "CompactRange, size " << n;
    Result<Hash> at = RootAt(tree.nodes.At(n), n);
    ASSERT_OK(at);
    EXPECT_EQ(ToHex(*at), hex) << "RootAt, size " << n;
  }
}

struct InclusionCase {
  uint64_t index;
  uint64_t size;
  std::vector<Hash> proof;
};

TEST(MerkleKnownAnswer, InclusionProofsOfStandardTrees) {
  const std::vector<InclusionCase> cases = {
      {0, 1, {}},
      {0, 8,
       Hs({"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
           "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"})},
      {5, 8,
       Hs({"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
           "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
      {2, 3, Hs({"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"})},
      {1, 5,
       Hs({"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
           "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"})},
      {4, 5, Hs({"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
      {6, 7,
       Hs({"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
      {3, 8,
       Hs({"0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
           "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
           "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"})},
  };
  const std::vector<Hash> leaves = LeafHashes(StandardLeaves());
  Tree tree;
  Grow(tree, leaves);
  for (const InclusionCase& c : cases) {
    SCOPED_TRACE("leaf " + std::to_string(c.index) + " of " + std::to_string(c.size));
    Result<std::vector<Hash>> proof = InclusionProof(tree.nodes.At(c.size), c.index, c.size);
    ASSERT_OK(proof);
    EXPECT_EQ(*proof, c.proof);
    const Hash root = RootOfLeaves(std::span(leaves).first(c.size));
    EXPECT_OK(VerifyInclusion(leaves[c.index], c.index, c.size, c.proof, root));
  }
}

struct ConsistencyCase {
  uint64_t first;
  uint64_t second;
  std::vector<Hash> proof;
};

TEST(MerkleKnownAnswer, ConsistencyProofsOfStandardTrees) {
  const std::vector<ConsistencyCase> cases = {
      {1, 1, {}},
      {1, 8,
       Hs({"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
           "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"})},
      {6, 8,
       Hs({"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
           "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
      {2, 5,
       Hs({"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"})},
      {3, 7,
       Hs({"0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
           "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
           "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
           "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"})},
      {4, 7, Hs({"837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"})},
      {5, 8,
       Hs({"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
           "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
           "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
      {3, 8,
       Hs({"0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
           "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
           "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
           "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"})},
      {7, 8,
       Hs({"b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
           "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
           "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
  };
  const std::vector<Hash> leaves = LeafHashes(StandardLeaves());
  Tree tree;
  Grow(tree, leaves);
  for (const ConsistencyCase& c : cases) {
    SCOPED_TRACE(std::to_string(c.first) + " -> " + std::to_string(c.second));
    Result<std::vector<Hash>> proof = ConsistencyProof(tree.nodes.At(c.second), c.first, c.second);
    ASSERT_OK(proof);
    EXPECT_EQ(*proof, c.proof);
    EXPECT_OK(VerifyConsistency(c.first, c.second, RootOfLeaves(std::span(leaves).first(c.first)),
                                RootOfLeaves(std::span(leaves).first(c.second)), c.proof));
  }
}

// ---------------------------------------------------------------------------------------------
// CompactRange

TEST(CompactRange, ReportsEveryLeafAndEveryCompletedParent) {
  const std::vector<Hash> leaves = NumberedLeafHashes(8);
  CompactRange range;
  std::vector<std::tuple<uint32_t, uint64_t, Hash>> seen;
  auto sink = [&](uint32_t level, uint64_t index, const Hash& hash) {
    seen.emplace_back(level, index, hash);
  };
  for (size_t i = 0; i < 7; ++i) {
    range.Append(leaves[i], sink);
  }
  seen.clear();
  range.Append(leaves[7], sink);
  ASSERT_EQ(seen.size(), 4u);
  const std::span<const Hash> all(leaves);
  EXPECT_EQ(seen[0], std::make_tuple(0u, uint64_t{7}, leaves[7]));
  EXPECT_EQ(seen[1], std::make_tuple(1u, uint64_t{3}, RootOfLeaves(all.subspan(6, 2))));
  EXPECT_EQ(seen[2], std::make_tuple(2u, uint64_t{1}, RootOfLeaves(all.subspan(4, 4))));
  EXPECT_EQ(seen[3], std::make_tuple(3u, uint64_t{0}, RootOfLeaves(all)));
}

TEST(CompactRange, EveryReportedNodeIsThePerfectSubtreeItNames) {
  const std::vector<Hash> leaves = NumberedLeafHashes(70);
  Tree tree;
  Grow(tree, leaves);
  // A tree of n leaves has 2n - popcount(n) perfect subtrees.
  EXPECT_EQ(tree.nodes.count(), static_cast<size_t>(2 * 70 - std::popcount(70u)));
  for (const auto& [key, hash] : tree.nodes.nodes()) {
    const auto [level, index] = key;
    const uint64_t begin = index << level;
    const uint64_t width = uint64_t{1} << level;
    ASSERT_LE(begin + width, 70u);
    EXPECT_EQ(hash, RootOfLeaves(std::span(leaves).subspan(begin, width)))
        << "node (" << level << ", " << index << ")";
  }
}

TEST(CompactRange, AcceptsAnEmptySink) {
  CompactRange range;
  range.Append(LeafHash("a"), nullptr);
  range.Append(LeafHash("b"), {});
  EXPECT_EQ(range.size(), 2u);
  EXPECT_EQ(range.Root(), NodeHash(LeafHash("a"), LeafHash("b")));
}

TEST(CompactRange, SerializeHasTheDocumentedLayout) {
  const std::vector<Hash> leaves = NumberedLeafHashes(5);
  CompactRange range;
  for (const Hash& leaf : leaves) {
    range.Append(leaf, nullptr);
  }
  const std::string bytes = range.Serialize();
  // be64 size 5, then the level-2 hash (leaves 0..3), then the level-0 hash (leaf 4).
  ASSERT_EQ(bytes.size(), 8u + 2 * 32);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\0\0\0\0\0\0\0\x05", 8));
  EXPECT_EQ(bytes.substr(8, 32), AsBytes(RootOfLeaves(std::span(leaves).first(4))));
  EXPECT_EQ(bytes.substr(40, 32), AsBytes(leaves[4]));
  EXPECT_EQ(CompactRange().Serialize(), std::string(8, '\0'));
}

TEST(CompactRange, ParseRoundTripsAndKeepsAppending) {
  const std::vector<Hash> leaves = NumberedLeafHashes(40);
  for (size_t cut = 0; cut <= 23; ++cut) {
    CompactRange original;
    for (size_t i = 0; i < cut; ++i) {
      original.Append(leaves[i], nullptr);
    }
    Result<CompactRange> parsed = CompactRange::Parse(original.Serialize());
    ASSERT_OK(parsed);
    EXPECT_EQ(parsed->size(), cut);
    EXPECT_EQ(parsed->Root(), original.Root());
    for (size_t i = cut; i < leaves.size(); ++i) {
      parsed->Append(leaves[i], nullptr);
    }
    EXPECT_EQ(parsed->Root(), RootOfLeaves(leaves)) << "cut at " << cut;
  }
}

TEST(CompactRange, ParseRejectsWrongLengths) {
  CompactRange range;
  for (const Hash& leaf : NumberedLeafHashes(5)) {
    range.Append(leaf, nullptr);
  }
  const std::string good = range.Serialize();
  for (const std::string& bad :
       {std::string(), std::string(7, '\0'), good.substr(0, good.size() - 1), good + "x",
        good.substr(0, 8) + good.substr(40), std::string("\0\0\0\0\0\0\0\x01", 8)}) {
    Result<CompactRange> parsed = CompactRange::Parse(bad);
    ASSERT_FALSE(parsed.ok()) << bad.size() << " bytes";
    EXPECT_EQ(parsed.status().code(), StatusCode::kCorruption);
    EXPECT_FALSE(parsed.status().message().empty());
  }
}

// ---------------------------------------------------------------------------------------------
// Property: every proof of every tree up to 70 leaves is the RFC's and verifies.

TEST(MerkleProperty, EveryProofUpTo70LeavesIsTheRfcProofAndVerifies) {
  constexpr size_t kMax = 70;
  const std::vector<Hash> leaves = NumberedLeafHashes(kMax);
  Tree tree;
  std::vector<Hash> roots = {EmptyRoot()};
  for (size_t n = 1; n <= kMax; ++n) {
    Grow(tree, {leaves[n - 1]});
    const std::span<const Hash> first_n = std::span(leaves).first(n);
    roots.push_back(RootOfLeaves(first_n));
    ASSERT_EQ(tree.range.Root(), roots[n]) << "size " << n;
    Result<Hash> at = RootAt(tree.nodes.At(n), n);
    ASSERT_OK(at);
    ASSERT_EQ(*at, roots[n]) << "size " << n;
  }
  // O(log n) reads: one per proof hash plus the perfect pieces of at most two partial subtrees.
  const auto max_reads = [](uint64_t n) { return 3 * (std::bit_width(n) + 1); };

  for (uint64_t n = 1; n <= kMax; ++n) {
    const std::span<const Hash> first_n = std::span(leaves).first(n);
    for (uint64_t i = 0; i < n; ++i) {
      SCOPED_TRACE("inclusion of leaf " + std::to_string(i) + " in " + std::to_string(n));
      MemoryNodes::View view = tree.nodes.At(n);
      Result<std::vector<Hash>> proof = InclusionProof(view, i, n);
      ASSERT_OK(proof);
      EXPECT_LE(view.reads(), static_cast<int>(max_reads(n)));
      EXPECT_EQ(*proof, RefPath(i, first_n));
      EXPECT_OK(VerifyInclusion(leaves[i], i, n, *proof, roots[n]));
    }
    for (uint64_t m = 0; m <= n; ++m) {
      SCOPED_TRACE("consistency " + std::to_string(m) + " -> " + std::to_string(n));
      MemoryNodes::View view = tree.nodes.At(n);
      Result<std::vector<Hash>> proof = ConsistencyProof(view, m, n);
      ASSERT_OK(proof);
      EXPECT_LE(view.reads(), static_cast<int>(max_reads(n)));
      EXPECT_EQ(*proof, RefConsistency(m, first_n));
      EXPECT_OK(VerifyConsistency(m, n, roots[m], roots[n], *proof));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Negative cases

class MerkleNegative : public ::testing::Test {
 protected:
  static constexpr size_t kMax = 24;
  void SetUp() override {
    leaves_ = NumberedLeafHashes(kMax);
    Grow(tree_, leaves_);
    roots_.push_back(EmptyRoot());
    for (size_t n = 1; n <= kMax; ++n) {
      roots_.push_back(RootOfLeaves(std::span(leaves_).first(n)));
    }
  }
  std::vector<Hash> Inclusion(uint64_t i, uint64_t n) {
    Result<std::vector<Hash>> p = InclusionProof(tree_.nodes.At(n), i, n);
    EXPECT_OK(p);
    return p.ok() ? *p : std::vector<Hash>{};
  }
  std::vector<Hash> Consistency(uint64_t m, uint64_t n) {
    Result<std::vector<Hash>> p = ConsistencyProof(tree_.nodes.At(n), m, n);
    EXPECT_OK(p);
    return p.ok() ? *p : std::vector<Hash>{};
  }

  std::vector<Hash> leaves_;
  Tree tree_;
  std::vector<Hash> roots_;
};

TEST_F(MerkleNegative, InclusionFailsOnAnyFlippedBitInAnyProofHash) {
  for (uint64_t n : {2u, 7u, 8u, 13u, 24u}) {
    for (uint64_t i = 0; i < n; ++i) {
      const std::vector<Hash> good = Inclusion(i, n);
      for (size_t k = 0; k < good.size(); ++k) {
        for (int bit : {0, 7, 100, 255}) {
          std::vector<Hash> bad = good;
          bad[k] = Flip(bad[k], bit);
          Status s = VerifyInclusion(leaves_[i], i, n, bad, roots_[n]);
          EXPECT_EQ(s.code(), StatusCode::kCorruption) << i << "/" << n << " hash " << k;
        }
      }
      EXPECT_FALSE(VerifyInclusion(Flip(leaves_[i], 3), i, n, good, roots_[n]).ok());
      EXPECT_FALSE(VerifyInclusion(leaves_[i], i, n, good, Flip(roots_[n], 200)).ok());
    }
  }
}

TEST_F(MerkleNegative, InclusionFailsForAnotherIndex) {
  for (uint64_t n : {3u, 8u, 13u, 24u}) {
    for (uint64_t i = 0; i < n; ++i) {
      const std::vector<Hash> good = Inclusion(i, n);
      for (uint64_t j = 0; j < n; ++j) {
        if (j != i) {
          EXPECT_FALSE(VerifyInclusion(leaves_[i], j, n, good, roots_[n]).ok()) << i << " as " << j;
        }
      }
      EXPECT_EQ(VerifyInclusion(leaves_[i], n, n, good, roots_[n]).code(),
                StatusCode::kInvalidArgument);
    }
  }
}

TEST_F(MerkleNegative, InclusionFailsForAnotherTreeSize) {
  // The tree size is bound through the root it commits to: a proof checked against the signed
  // head of a different size fails, by length or by root.
  for (uint64_t n = 2; n <= kMax; ++n) {
    for (uint64_t i = 0; i < n; ++i) {
      const std::vector<Hash> good = Inclusion(i, n);
      for (uint64_t other = i + 1; other <= kMax; ++other) {
        if (other != n) {
          EXPECT_FALSE(VerifyInclusion(leaves_[i], i, other, good, roots_[other]).ok())
              << i << "/" << n << " claimed in " << other;
        }
      }
    }
  }
  // A size that changes the path length is reported as a wrong length.
  Status s = VerifyInclusion(leaves_[2], 2, 4, Inclusion(2, 3), roots_[3]);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.field(), "proof");
}

TEST_F(MerkleNegative, InclusionFailsOnTruncatedOrExtendedProof) {
  for (uint64_t n : {1u, 2u, 5u, 8u, 21u}) {
    for (uint64_t i = 0; i < n; ++i) {
      const std::vector<Hash> good = Inclusion(i, n);
      if (!good.empty()) {
        std::vector<Hash> shorter(good.begin(), good.end() - 1);
        EXPECT_EQ(VerifyInclusion(leaves_[i], i, n, shorter, roots_[n]).code(),
                  StatusCode::kInvalidArgument);
        EXPECT_FALSE(VerifyInclusion(leaves_[i], i, n, {}, roots_[n]).ok());
      }
      std::vector<Hash> longer = good;
      longer.push_back(roots_[n]);
      EXPECT_EQ(VerifyInclusion(leaves_[i], i, n, longer, roots_[n]).code(),
                StatusCode::kInvalidArgument);
      std::vector<Hash> oversize(80, leaves_[0]);
      EXPECT_FALSE(VerifyInclusion(leaves_[i], i, n, oversize, roots_[n]).ok());
    }
  }
}

TEST_F(MerkleNegative, InclusionRejectsEmptyTreeAndOutOfRangeIndex) {
  EXPECT_EQ(VerifyInclusion(leaves_[0], 0, 0, {}, EmptyRoot()).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyInclusion(leaves_[0], 5, 3, {}, roots_[3]).code(), StatusCode::kInvalidArgument);
  Result<std::vector<Hash>> p = InclusionProof(tree_.nodes.At(3), 3, 3);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p.status().field(), "leaf_index");
  EXPECT_FALSE(InclusionProof(tree_.nodes.At(0), 0, 0).ok());
}

TEST_F(MerkleNegative, ConsistencyFailsOnAnyFlippedBitInAnyProofHash) {
  for (uint64_t n : {2u, 7u, 8u, 13u, 24u}) {
    for (uint64_t m = 1; m < n; ++m) {
      const std::vector<Hash> good = Consistency(m, n);
      ASSERT_FALSE(good.empty());
      for (size_t k = 0; k < good.size(); ++k) {
        for (int bit : {0, 9, 128, 255}) {
          std::vector<Hash> bad = good;
          bad[k] = Flip(bad[k], bit);
          EXPECT_EQ(VerifyConsistency(m, n, roots_[m], roots_[n], bad).code(),
                    StatusCode::kCorruption)
              << m << " -> " << n << " hash " << k;
        }
      }
      EXPECT_FALSE(VerifyConsistency(m, n, Flip(roots_[m], 1), roots_[n], good).ok());
      EXPECT_FALSE(VerifyConsistency(m, n, roots_[m], Flip(roots_[n], 1), good).ok());
    }
  }
}

TEST_F(MerkleNegative, ConsistencyFailsForSwappedRootsAndWrongSizes) {
  for (uint64_t n = 2; n <= kMax; ++n) {
    for (uint64_t m = 1; m < n; ++m) {
      const std::vector<Hash> good = Consistency(m, n);
      EXPECT_FALSE(VerifyConsistency(m, n, roots_[n], roots_[m], good).ok()) << m << " -> " << n;
      for (uint64_t other = m + 1; other <= kMax; ++other) {
        if (other != n) {
          EXPECT_FALSE(VerifyConsistency(m, other, roots_[m], roots_[other], good).ok())
              << m << " -> " << n << " claimed as -> " << other;
        }
      }
      for (uint64_t other = 1; other < n; ++other) {
        if (other != m) {
          EXPECT_FALSE(VerifyConsistency(other, n, roots_[other], roots_[n], good).ok())
              << m << " -> " << n << " claimed as " << other << " ->";
        }
      }
    }
  }
}

TEST_F(MerkleNegative, ConsistencyFailsOnTruncatedOrExtendedProof) {
  for (uint64_t n : {2u, 5u, 8u, 21u}) {
    for (uint64_t m = 1; m < n; ++m) {
      const std::vector<Hash> good = Consistency(m, n);
      std::vector<Hash> shorter(good.begin(), good.end() - 1);
      EXPECT_EQ(VerifyConsistency(m, n, roots_[m], roots_[n], shorter).code(),
                StatusCode::kInvalidArgument);
      EXPECT_EQ(VerifyConsistency(m, n, roots_[m], roots_[n], {}).code(),
                StatusCode::kInvalidArgument);
      std::vector<Hash> longer = good;
      longer.push_back(roots_[n]);
      EXPECT_EQ(VerifyConsistency(m, n, roots_[m], roots_[n], longer).code(),
                StatusCode::kInvalidArgument);
      std::vector<Hash> oversize(80, leaves_[0]);
      EXPECT_FALSE(VerifyConsistency(m, n, roots_[m], roots_[n], oversize).ok());
    }
  }
}

TEST_F(MerkleNegative, ConsistencyEdgeCases) {
  // first > second: a log never shrinks.
  Status s = VerifyConsistency(5, 3, roots_[5], roots_[3], {});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.field(), "first_size");
  Result<std::vector<Hash>> p = ConsistencyProof(tree_.nodes.At(5), 5, 3);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);

  // Equal sizes: an empty proof, and the roots must agree.
  EXPECT_OK(VerifyConsistency(7, 7, roots_[7], roots_[7], {}));
  EXPECT_FALSE(VerifyConsistency(7, 7, roots_[7], roots_[6], {}).ok());
  EXPECT_FALSE(VerifyConsistency(7, 7, roots_[7], roots_[7], std::vector<Hash>{roots_[7]}).ok());

  // From the empty tree: an empty proof, and the first root must be the empty root.
  EXPECT_OK(VerifyConsistency(0, 9, EmptyRoot(), roots_[9], {}));
  EXPECT_OK(VerifyConsistency(0, 0, EmptyRoot(), EmptyRoot(), {}));
  EXPECT_FALSE(VerifyConsistency(0, 9, roots_[1], roots_[9], {}).ok());
  EXPECT_FALSE(VerifyConsistency(0, 9, EmptyRoot(), roots_[9], std::vector<Hash>{roots_[9]}).ok());
}

TEST_F(MerkleNegative, HugeSizesDoNotCrash) {
  constexpr uint64_t kTop = std::numeric_limits<uint64_t>::max();
  const std::vector<Hash> junk64(64, leaves_[1]);
  const std::vector<Hash> junk63(63, leaves_[1]);
  const std::vector<Hash> junk200(200, leaves_[1]);
  for (const auto& [index, size] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, kTop}, {kTop - 1, kTop}, {kTop / 2, kTop}, {1, uint64_t{1} << 63}}) {
    for (const std::vector<Hash>* proof : {&junk63, &junk64, &junk200}) {
      EXPECT_FALSE(VerifyInclusion(leaves_[0], index, size, *proof, roots_[1]).ok());
      EXPECT_FALSE(VerifyConsistency(index, size, roots_[1], roots_[2], *proof).ok());
    }
    EXPECT_FALSE(VerifyInclusion(leaves_[0], index, size, {}, roots_[1]).ok());
    EXPECT_FALSE(VerifyConsistency(index + 1, size, roots_[1], roots_[2], {}).ok());
  }
  // Generation over a huge tree fails cleanly through the reader rather than crashing.
  MemoryNodes empty;
  EXPECT_FALSE(InclusionProof(empty.At(kTop), kTop - 1, kTop).ok());
  EXPECT_FALSE(ConsistencyProof(empty.At(kTop), kTop - 1, kTop).ok());
  EXPECT_FALSE(RootAt(empty.At(kTop), kTop).ok());
}

TEST(MerkleReader, MissingNodeIsReportedWithItsCoordinates) {
  MemoryNodes nodes;
  CompactRange range;
  for (const Hash& leaf : NumberedLeafHashes(3)) {
    range.Append(leaf, nodes.Sink());
  }
  Result<Hash> root = RootAt(nodes.At(3), 3);
  ASSERT_OK(root);
  // A reader that knows nothing: NotFound, naming the node.
  MemoryNodes empty;
  Result<Hash> missing = RootAt(empty.At(3), 3);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("level 1, index 0"), std::string::npos)
      << missing.status().ToString();
}

}  // namespace
}  // namespace passage::merkle
