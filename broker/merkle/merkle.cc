#include "broker/merkle/merkle.h"

#include <openssl/evp.h>

#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

namespace passage::merkle {
namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;
constexpr size_t kHashBytes = 32;

[[noreturn]] void DieOnCryptoFailure(const char* what) {
  // Only reachable when libcrypto itself is broken (no SHA-256 provider, out of memory): a broken
  // invariant, not an input error, so the process stops rather than producing a wrong hash.
  std::fprintf(stderr, "passage::merkle: OpenSSL %s failed\n", what);
  std::abort();
}

// SHA-256 is fetched from the provider once; every thread reuses one digest context, so hashing
// allocates nothing after the first call on a thread.
const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) {
      DieOnCryptoFailure("EVP_MD_fetch(SHA256)");
    }
    return fetched;
  }();
  return md;
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

EVP_MD_CTX* ThreadCtx() {
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) {
    DieOnCryptoFailure("EVP_MD_CTX_new");
  }
  return ctx.get();
}

// SHA-256 over the concatenation of up to two byte ranges.
Hash Digest(const void* a, size_t a_len, const void* b, size_t b_len) {
  EVP_MD_CTX* ctx = ThreadCtx();
  Hash out;
  if (EVP_DigestInit_ex2(ctx, Sha256Md(), nullptr) != 1) {
    DieOnCryptoFailure("EVP_DigestInit_ex2");
  }
  if (a_len > 0 && EVP_DigestUpdate(ctx, a, a_len) != 1) {
    DieOnCryptoFailure("EVP_DigestUpdate");
  }
  if (b_len > 0 && EVP_DigestUpdate(ctx, b, b_len) != 1) {
    DieOnCryptoFailure("EVP_DigestUpdate");
  }
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != kHashBytes) {
    DieOnCryptoFailure("EVP_DigestFinal_ex");
  }
  return out;
}

// Number of bits needed to represent x (0 for x == 0).
uint32_t BitLength(uint64_t x) { return static_cast<uint32_t>(std::bit_width(x)); }

std::string SizeText(uint64_t n) { return std::to_string(n); }

// Shape of an RFC 6962 audit path for node (level, index) in a tree of `size` leaves (see
// AppendPath). `inner` siblings lie below the point where the path joins the right border of the
// tree; `border` left siblings lie above it.
struct PathShape {
  uint32_t inner = 0;
  uint32_t border = 0;
  size_t length() const { return static_cast<size_t>(inner) + border; }
};

// `index` is the node index at `level`, `size` > (index << level).
PathShape ShapeOf(uint32_t level, uint64_t index, uint64_t size) {
  const uint64_t last = (size - 1) >> level;  // index of the last (possibly partial) node
  PathShape shape;
  shape.inner = BitLength(index ^ last);
  shape.border = static_cast<uint32_t>(std::popcount(shape.inner >= 64 ? 0 : index >> shape.inner));
  return shape;
}

// RFC 6962 hash of leaves [begin, end), which must be a node of some tree: `begin` a multiple of
// the power of two that is at least end - begin. Reads one perfect subtree per set bit of end -
// begin (largest first, starting at `begin`) and folds them right to left, as MTH's recursion does.
Result<Hash> RangeHash(const NodeReader& nodes, uint64_t begin, uint64_t end) {
  uint64_t remaining = end - begin;
  Hash chunks[64];
  int count = 0;
  uint64_t pos = begin;
  while (remaining != 0) {
    const uint32_t level = static_cast<uint32_t>(std::bit_width(remaining) - 1);
    Result<Hash> h = nodes.GetNode(level, pos >> level);
    if (!h.ok()) {
      return h.status().WithContext("reading Merkle node (level " + std::to_string(level) +
                                    ", index " + std::to_string(pos >> level) + ")");
    }
    chunks[count++] = *h;
    const uint64_t width = uint64_t{1} << level;
    pos += width;
    remaining -= width;
  }
  Hash acc = chunks[count - 1];
  for (int i = count - 2; i >= 0; --i) {
    acc = NodeHash(chunks[i], acc);
  }
  return acc;
}

// Appends the audit path of node (level, index) in a tree of `size` leaves, bottom-up.
Status AppendPath(const NodeReader& nodes, uint32_t level, uint64_t index, uint64_t size,
                  std::vector<Hash>& out) {
  const PathShape shape = ShapeOf(level, index, size);
  out.reserve(out.size() + shape.length());
  for (uint32_t i = 0; i < shape.inner; ++i) {
    const uint32_t lvl = level + i;
    const uint64_t sibling = (index >> i) ^ 1;
    if (i + 1 < shape.inner) {
      ASSIGN_OR_RETURN(Hash h, RangeHash(nodes, sibling << lvl, (sibling + 1) << lvl));
      out.push_back(h);
    } else {
      // The sibling that reaches the right edge of the tree may be a partial subtree.
      const uint64_t begin = sibling << lvl;
      const uint64_t width = uint64_t{1} << lvl;
      const uint64_t end = size - begin > width ? begin + width : size;
      ASSIGN_OR_RETURN(Hash h, RangeHash(nodes, begin, end));
      out.push_back(h);
    }
  }
  for (uint32_t i = shape.inner; i < 64 && (index >> i) != 0; ++i) {
    if (((index >> i) & 1) != 0) {
      const uint32_t lvl = level + i;
      const uint64_t sibling = (index >> i) - 1;
      ASSIGN_OR_RETURN(Hash h, RangeHash(nodes, sibling << lvl, (sibling + 1) << lvl));
      out.push_back(h);
    }
  }
  return Status::Ok();
}

Status RootMismatch(std::string_view what, const Hash& computed, const Hash& expected) {
  return Status::Corruption(std::string(what) + " does not match: the proof leads to " +
                            ToHex(computed) + " but the expected root is " + ToHex(expected));
}

void PutBe64(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

uint64_t GetBe64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | static_cast<uint8_t>(in[i]);
  }
  return v;
}

}  // namespace

Hash Sha256(std::string_view data) { return Digest(data.data(), data.size(), nullptr, 0); }

Hash LeafHash(std::string_view leaf_bytes) {
  return Digest(&kLeafPrefix, 1, leaf_bytes.data(), leaf_bytes.size());
}

Hash NodeHash(const Hash& left, const Hash& right) {
  uint8_t buf[1 + 2 * kHashBytes];
  buf[0] = kNodePrefix;
  std::memcpy(buf + 1, left.data(), kHashBytes);
  std::memcpy(buf + 1 + kHashBytes, right.data(), kHashBytes);
  return Digest(buf, sizeof(buf), nullptr, 0);
}

Hash EmptyRoot() {
  static const Hash empty = Sha256(std::string_view());
  return empty;
}

std::string ToHex(const Hash& h) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * h.size(), '\0');
  for (size_t i = 0; i < h.size(); ++i) {
    out[2 * i] = kDigits[h[i] >> 4];
    out[2 * i + 1] = kDigits[h[i] & 0xf];
  }
  return out;
}

std::string_view AsBytes(const Hash& h) {
  return std::string_view(reinterpret_cast<const char*>(h.data()), h.size());
}

Result<Hash> HashFromBytes(std::string_view bytes, std::string_view field) {
  if (bytes.size() != kHashBytes) {
    return Status::InvalidArgument(
        std::string(field), "a SHA-256 hash is 32 bytes, got " + std::to_string(bytes.size()));
  }
  Hash h;
  std::memcpy(h.data(), bytes.data(), kHashBytes);
  return h;
}

Hash RootOfLeaves(std::span<const Hash> leaf_hashes) {
  const size_t n = leaf_hashes.size();
  if (n == 0) {
    return EmptyRoot();
  }
  if (n == 1) {
    return leaf_hashes[0];
  }
  const size_t k = std::bit_floor(n - 1);  // largest power of two < n
  return NodeHash(RootOfLeaves(leaf_hashes.first(k)), RootOfLeaves(leaf_hashes.subspan(k)));
}

// ---------------------------------------------------------------------------------------------
// CompactRange

void CompactRange::Append(const Hash& leaf_hash, const NodeSink& on_node) {
  uint64_t index = size_;
  Hash acc = leaf_hash;
  if (on_node) {
    on_node(0, index, acc);
  }
  uint32_t level = 0;
  // Each trailing set bit of the old size is a perfect subtree that the new leaf completes a
  // sibling for; merge them bottom-up.
  while (level < 64 && ((size_ >> level) & 1) != 0) {
    acc = NodeHash(hashes_.back(), acc);
    hashes_.pop_back();
    ++level;
    index >>= 1;
    if (on_node) {
      on_node(level, index, acc);
    }
  }
  hashes_.push_back(acc);
  ++size_;
}

Hash CompactRange::Root() const {
  if (hashes_.empty()) {
    return EmptyRoot();
  }
  Hash acc = hashes_.back();
  for (size_t i = hashes_.size() - 1; i-- > 0;) {
    acc = NodeHash(hashes_[i], acc);
  }
  return acc;
}

std::string CompactRange::Serialize() const {
  std::string out(8 + kHashBytes * hashes_.size(), '\0');
  PutBe64(size_, out.data());
  char* p = out.data() + 8;
  for (const Hash& h : hashes_) {
    std::memcpy(p, h.data(), kHashBytes);
    p += kHashBytes;
  }
  return out;
}

Result<CompactRange> CompactRange::Parse(std::string_view bytes) {
  if (bytes.size() < 8) {
    return Status::Corruption("Merkle compact range is " + std::to_string(bytes.size()) +
                              " bytes, shorter than its 8-byte size header");
  }
  const uint64_t size = GetBe64(bytes.data());
  const size_t count = static_cast<size_t>(std::popcount(size));
  const size_t expected = 8 + kHashBytes * count;
  if (bytes.size() != expected) {
    return Status::Corruption("Merkle compact range for tree size " + SizeText(size) + " must be " +
                              std::to_string(expected) + " bytes (" + std::to_string(count) +
                              " hashes), got " + std::to_string(bytes.size()));
  }
  CompactRange range;
  range.size_ = size;
  range.hashes_.resize(count);
  const char* p = bytes.data() + 8;
  for (Hash& h : range.hashes_) {
    std::memcpy(h.data(), p, kHashBytes);
    p += kHashBytes;
  }
  return range;
}

// ---------------------------------------------------------------------------------------------
// Proof generation

Result<Hash> RootAt(const NodeReader& nodes, uint64_t tree_size) {
  if (tree_size == 0) {
    return EmptyRoot();
  }
  return RangeHash(nodes, 0, tree_size);
}

Result<std::vector<Hash>> InclusionProof(const NodeReader& nodes, uint64_t leaf_index,
                                         uint64_t tree_size) {
  if (leaf_index >= tree_size) {
    return Status::InvalidArgument(
        "leaf_index",
        "leaf " + SizeText(leaf_index) + " is not in a tree of " + SizeText(tree_size) + " leaves");
  }
  std::vector<Hash> proof;
  RETURN_IF_ERROR(AppendPath(nodes, 0, leaf_index, tree_size, proof));
  return proof;
}

Result<std::vector<Hash>> ConsistencyProof(const NodeReader& nodes, uint64_t first_size,
                                           uint64_t second_size) {
  if (first_size > second_size) {
    return Status::InvalidArgument("first_size", "first tree size " + SizeText(first_size) +
                                                     " is larger than second tree size " +
                                                     SizeText(second_size));
  }
  std::vector<Hash> proof;
  if (first_size == 0 || first_size == second_size) {
    return proof;
  }
  // The largest perfect subtree that ends at first_size is a node of both trees; the proof is that
  // node (omitted when it is the whole first tree, whose root the verifier already has) followed by
  // its audit path in the second tree.
  const uint32_t level = static_cast<uint32_t>(std::countr_zero(first_size));
  const uint64_t index = (first_size - 1) >> level;
  if (index != 0) {
    ASSIGN_OR_RETURN(Hash h, RangeHash(nodes, index << level, (index + 1) << level));
    proof.push_back(h);
  }
  RETURN_IF_ERROR(AppendPath(nodes, level, index, second_size, proof));
  return proof;
}

// ---------------------------------------------------------------------------------------------
// Verification

Status VerifyInclusion(const Hash& leaf_hash, uint64_t leaf_index, uint64_t tree_size,
                       std::span<const Hash> proof, const Hash& root) {
  if (leaf_index >= tree_size) {
    return Status::InvalidArgument(
        "leaf_index",
        "leaf " + SizeText(leaf_index) + " is not in a tree of " + SizeText(tree_size) + " leaves");
  }
  const size_t expected = ShapeOf(0, leaf_index, tree_size).length();
  if (proof.size() != expected) {
    return Status::InvalidArgument("proof", "inclusion proof for leaf " + SizeText(leaf_index) +
                                                " in a tree of " + SizeText(tree_size) +
                                                " leaves must have " + std::to_string(expected) +
                                                " hashes, got " + std::to_string(proof.size()));
  }
  // RFC 9162 §2.1.3.2.
  uint64_t fn = leaf_index;
  uint64_t sn = tree_size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) {
      return Status::InvalidArgument("proof", "inclusion proof has too many hashes");
    }
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return Status::InvalidArgument("proof", "inclusion proof has too few hashes");
  }
  if (r != root) {
    return RootMismatch(
        "inclusion proof for leaf " + SizeText(leaf_index) + " in tree size " + SizeText(tree_size),
        r, root);
  }
  return Status::Ok();
}

Status VerifyConsistency(uint64_t first_size, uint64_t second_size, const Hash& first_root,
                         const Hash& second_root, std::span<const Hash> proof) {
  if (first_size > second_size) {
    return Status::InvalidArgument("first_size", "first tree size " + SizeText(first_size) +
                                                     " is larger than second tree size " +
                                                     SizeText(second_size) +
                                                     ": a log never shrinks");
  }
  if (first_size == second_size || first_size == 0) {
    if (!proof.empty()) {
      return Status::InvalidArgument("proof", "consistency proof from tree size " +
                                                  SizeText(first_size) + " to " +
                                                  SizeText(second_size) + " must be empty, got " +
                                                  std::to_string(proof.size()) + " hashes");
    }
    if (first_size == 0) {
      if (first_root != EmptyRoot()) {
        return Status::Corruption("root of the empty tree must be " + ToHex(EmptyRoot()) +
                                  ", got " + ToHex(first_root));
      }
      return Status::Ok();
    }
    if (first_root != second_root) {
      return Status::Corruption("two tree heads of size " + SizeText(first_size) +
                                " have different roots: " + ToHex(first_root) + " and " +
                                ToHex(second_root));
    }
    return Status::Ok();
  }

  const uint32_t level = static_cast<uint32_t>(std::countr_zero(first_size));
  const uint64_t index = (first_size - 1) >> level;
  const size_t expected = ShapeOf(level, index, second_size).length() + (index != 0 ? 1 : 0);
  if (proof.size() != expected) {
    return Status::InvalidArgument(
        "proof", "consistency proof from tree size " + SizeText(first_size) + " to " +
                     SizeText(second_size) + " must have " + std::to_string(expected) +
                     " hashes, got " + std::to_string(proof.size()));
  }

  // RFC 9162 §2.1.4.2; when first_size is a power of two the first tree's root is the implicit
  // first element of the path.
  size_t next = 0;
  Hash fr;
  if (std::has_single_bit(first_size)) {
    fr = first_root;
  } else {
    fr = proof[next++];
  }
  Hash sr = fr;
  uint64_t fn = first_size - 1;
  uint64_t sn = second_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  for (; next < proof.size(); ++next) {
    const Hash& c = proof[next];
    if (sn == 0) {
      return Status::InvalidArgument("proof", "consistency proof has too many hashes");
    }
    if ((fn & 1) != 0 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return Status::InvalidArgument("proof", "consistency proof has too few hashes");
  }
  if (fr != first_root) {
    return RootMismatch("consistency proof from tree size " + SizeText(first_size) + " to " +
                            SizeText(second_size) + " (first root)",
                        fr, first_root);
  }
  if (sr != second_root) {
    return RootMismatch("consistency proof from tree size " + SizeText(first_size) + " to " +
                            SizeText(second_size) + " (second root)",
                        sr, second_root);
  }
  return Status::Ok();
}

}  // namespace passage::merkle
