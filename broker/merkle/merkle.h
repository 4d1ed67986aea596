#pragma once

// RFC 6962 (Certificate Transparency) Merkle tree hashing, proofs and verification over SHA-256.
//
//   leaf hash  = SHA-256(0x00 || leaf bytes)
//   node hash  = SHA-256(0x01 || left || right)
//   empty root = SHA-256("")
//
// Proof generation reads perfect-subtree hashes through a NodeReader, so the log can keep them in
// RocksDB and a test can keep them in memory. Node (level, index) is the root of the perfect subtree
// over leaves [index << level, (index + 1) << level); level 0 nodes are leaf hashes.
//
// Thread-safety: free functions are thread-safe; CompactRange is a value type (one writer).

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace passage::merkle {

using Hash = std::array<uint8_t, 32>;

Hash Sha256(std::string_view data);
Hash LeafHash(std::string_view leaf_bytes);
Hash NodeHash(const Hash& left, const Hash& right);
Hash EmptyRoot();
std::string ToHex(const Hash& h);
std::string_view AsBytes(const Hash& h);
// Parses 32 raw bytes; anything else is an InvalidArgument naming `field`.
Result<Hash> HashFromBytes(std::string_view bytes, std::string_view field);

// Root over the given leaf hashes, computed directly from the RFC's recursive definition (O(n)).
Hash RootOfLeaves(std::span<const Hash> leaf_hashes);

// The right edge of the tree: one perfect-subtree hash per set bit of size(). Appending a leaf
// reports every node it completes (the leaf itself at level 0, then each parent it closes).
class CompactRange {
 public:
  using NodeSink = std::function<void(uint32_t level, uint64_t index, const Hash& hash)>;

  CompactRange() = default;

  void Append(const Hash& leaf_hash, const NodeSink& on_node);
  uint64_t size() const { return size_; }
  Hash Root() const;

  // Fixed layout: be64 size || 32 bytes per set bit of size, highest level first.
  std::string Serialize() const;
  static Result<CompactRange> Parse(std::string_view bytes);

 private:
  uint64_t size_ = 0;
  std::vector<Hash> hashes_;  // highest level first
};

class NodeReader {
 public:
  virtual ~NodeReader() = default;
  // The perfect-subtree hash at (level, index); NotFound / Corruption when missing.
  virtual Result<Hash> GetNode(uint32_t level, uint64_t index) const = 0;
};

// MTH of leaves [0, tree_size).
Result<Hash> RootAt(const NodeReader& nodes, uint64_t tree_size);
// RFC 6962 §2.1.1 audit path for leaf_index in a tree of tree_size leaves.
Result<std::vector<Hash>> InclusionProof(const NodeReader& nodes, uint64_t leaf_index,
                                         uint64_t tree_size);
// RFC 6962 §2.1.2 consistency proof between first_size and second_size (first <= second).
Result<std::vector<Hash>> ConsistencyProof(const NodeReader& nodes, uint64_t first_size,
                                           uint64_t second_size);

// Verification (RFC 9162 §2.1.3.2 / §2.1.4.2 algorithms). A non-OK status says why the proof fails.
Status VerifyInclusion(const Hash& leaf_hash, uint64_t leaf_index, uint64_t tree_size,
                       std::span<const Hash> proof, const Hash& root);
Status VerifyConsistency(uint64_t first_size, uint64_t second_size, const Hash& first_root,
                         const Hash& second_root, std::span<const Hash> proof);

}  // namespace passage::merkle
