// passage-verify-proof: checks, without any of Passage's libraries, that an entry is in the
// broker's event log as a signed tree head describes it.
//
//   passage-verify-proof PROOF.json [--leaf-file F | --envelope-hex H] [--public-key HEX]
//
// PROOF.json is written by `passagectl audit proof` (format "passage-inclusion-proof/1",
// docs/audit.md). The checks, each from its specification only:
//   1. the leaf: SHA-256(0x00 || entry bytes) equals the proof's leaf_hash, when the entry's stored
//      bytes are given (and the entry says it is global_seq leaf_index + 1);
//   2. the audit path: RFC 9162 §2.1.3.2 recomputes the root from the leaf hash, its index and the
//      tree size, and it equals the proof's root and the tree head's root;
//   3. the tree head: its Ed25519 signature (libsodium crypto_sign_verify_detached) over
//      "PSG-STH1" || be64(tree_size) || root || be64(timestamp_ms) verifies under its public key,
//      which must be --public-key when that is given (the key an agency or an oversight body
//      trusts; docs/event-log-format.md §6).
//
// Exit codes: 0 the proof holds; 1 it does not (the reason on stderr); 2 usage, or a file that
// cannot be read or is not a proof.
//
// This file shares no code path with the writer (broker/log, broker/merkle) on purpose: it is
// the second, independent implementation an auditor can read in one sitting.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Hash = std::array<unsigned char, 32>;
using google::protobuf::Struct;
using google::protobuf::Value;

constexpr int kValid = 0;
constexpr int kInvalid = 1;
constexpr int kUsage = 2;

constexpr std::string_view kUsageText =
    R"(usage: passage-verify-proof PROOF.json [--leaf-file F | --envelope-hex H] [--public-key HEX]

Checks an inclusion proof written by `passagectl audit proof`: the audit path leads from the leaf
to the root (RFC 9162), and the tree head carrying that root is signed (Ed25519) by the log's key.

  --leaf-file F      the entry's stored bytes (e.g. from `passagectl audit proof --envelope F`);
                     its leaf hash must be the proof's
  --envelope-hex H   the same bytes in hex (e.g. from ldb ... get --value_hex)
  --public-key HEX   the tree-head key you trust (64 hex digits); without it the key in the proof
                     is used, which only shows that the holder of that key signed the head

exit codes: 0 valid, 1 invalid, 2 usage or unreadable proof
)";

// A failure of the proof (exit 1) or of the input (exit 2), with the reason.
struct Failure {
  int code;
  std::string reason;
};

std::string Hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

std::string Hex(const Hash& h) { return Hex(h.data(), h.size()); }

std::optional<std::string> FromHex(std::string_view text) {
  auto digit = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);  // ldb prints 0x...
  }
  if (text.size() % 2 != 0) {
    return std::nullopt;
  }
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = digit(text[i]);
    int lo = digit(text[i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// SHA-256(prefix || a || b), straight from OpenSSL.
Hash Sha256(unsigned char prefix, std::string_view a, std::string_view b = {}) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Hash out{};
  unsigned int len = 0;
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, &prefix, 1) != 1 || EVP_DigestUpdate(ctx, a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx, b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != out.size()) {
    std::cerr << "passage-verify-proof: OpenSSL SHA-256 failed\n";
    std::exit(kUsage);
  }
  EVP_MD_CTX_free(ctx);
  return out;
}

std::string_view View(const Hash& h) {
  return std::string_view(reinterpret_cast<const char*>(h.data()), h.size());
}

// RFC 6962 leaf and interior node hashes.
Hash LeafHash(std::string_view leaf) { return Sha256(0x00, leaf); }
Hash NodeHash(const Hash& left, const Hash& right) { return Sha256(0x01, View(left), View(right)); }

// RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or nullopt when the path does not fit
// the index and size.
std::optional<Hash> RootFromInclusionProof(uint64_t leaf_index, uint64_t tree_size,
                                           const Hash& leaf_hash, const std::vector<Hash>& path) {
  if (leaf_index >= tree_size) {
    return std::nullopt;
  }
  uint64_t fn = leaf_index;
  uint64_t sn = tree_size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : path) {
    if (sn == 0) {
      return std::nullopt;
    }
    if ((fn & 1) == 1 || fn == sn) {
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
    return std::nullopt;
  }
  return r;
}

// The 56 bytes the broker signs (docs/event-log-format.md §6).
std::string SigningBytes(uint64_t tree_size, const Hash& root, int64_t timestamp_ms) {
  std::string out = "PSG-STH1";
  auto be64 = [&](uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>((v >> shift) & 0xff));
    }
  };
  be64(tree_size);
  out.append(View(root));
  be64(static_cast<uint64_t>(timestamp_ms));
  return out;
}

// The first field of a stored Envelope is global_seq (field 1, varint): tag byte 0x08.
std::optional<uint64_t> EnvelopeSeq(std::string_view bytes) {
  if (bytes.empty() || static_cast<unsigned char>(bytes[0]) != 0x08) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (size_t i = 1, shift = 0; i < bytes.size() && shift < 64; ++i, shift += 7) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      return v;
    }
  }
  return std::nullopt;
}

std::string Utc(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// ---- reading the proof --------------------------------------------------------------------

const Value* Get(const Struct& s, const char* name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}

std::optional<Failure> Number(const Struct& s, const char* name, double* out) {
  const Value* v = Get(s, name);
  if (v == nullptr || v->kind_case() != Value::kNumberValue) {
    return Failure{kUsage, std::string("the proof has no number \"") + name + "\""};
  }
  const double d = v->number_value();
  if (std::floor(d) != d || std::fabs(d) > 9007199254740992.0) {
    return Failure{kUsage, std::string("\"") + name + "\" is not a whole number"};
  }
  *out = d;
  return std::nullopt;
}

std::optional<Failure> Unsigned(const Struct& s, const char* name, uint64_t* out) {
  double d = 0;
  if (auto f = Number(s, name, &d)) {
    return f;
  }
  if (d < 0) {
    return Failure{kUsage, std::string("\"") + name + "\" is negative"};
  }
  *out = static_cast<uint64_t>(d);
  return std::nullopt;
}

std::optional<Failure> HexBytes(const Value* v, const std::string& name, size_t want,
                                std::string* out) {
  std::optional<std::string> bytes;
  if (v != nullptr && v->kind_case() == Value::kStringValue) {
    bytes = FromHex(v->string_value());
  }
  if (!bytes || bytes->size() != want) {
    return Failure{kUsage, "\"" + name + "\" must be " + std::to_string(want) + " bytes in hex"};
  }
  *out = *bytes;
  return std::nullopt;
}

std::optional<Failure> HashField(const Value* v, const std::string& name, Hash* out) {
  std::string bytes;
  if (auto f = HexBytes(v, name, 32, &bytes)) {
    return f;
  }
  std::copy(bytes.begin(), bytes.end(), out->begin());
  return std::nullopt;
}

struct Proof {
  uint64_t leaf_index = 0;
  uint64_t tree_size = 0;
  Hash leaf_hash{};
  std::vector<Hash> path;
  Hash root{};
  uint64_t head_size = 0;
  Hash head_root{};
  int64_t timestamp_ms = 0;
  std::string signature;
  std::string public_key;
};

std::optional<Failure> ReadProof(const std::string& text, Proof* p) {
  Struct s;
  if (!google::protobuf::util::JsonStringToMessage(text, &s).ok()) {
    return Failure{kUsage, "the proof file is not a JSON object"};
  }
  if (const Value* f = Get(s, "format"); f == nullptr || f->kind_case() != Value::kStringValue ||
                                         f->string_value() != "passage-inclusion-proof/1") {
    return Failure{kUsage, "the proof file's format is not \"passage-inclusion-proof/1\""};
  }
  if (auto f = Unsigned(s, "leaf_index", &p->leaf_index)) return f;
  if (auto f = Unsigned(s, "tree_size", &p->tree_size)) return f;
  if (auto f = HashField(Get(s, "leaf_hash"), "leaf_hash", &p->leaf_hash)) return f;
  if (auto f = HashField(Get(s, "root"), "root", &p->root)) return f;
  const Value* path = Get(s, "audit_path");
  if (path == nullptr || path->kind_case() != Value::kListValue) {
    return Failure{kUsage, "the proof has no \"audit_path\" list"};
  }
  for (int i = 0; i < path->list_value().values_size(); ++i) {
    Hash h{};
    if (auto f =
            HashField(&path->list_value().values(i), "audit_path[" + std::to_string(i) + "]", &h)) {
      return f;
    }
    p->path.push_back(h);
  }
  const Value* head = Get(s, "tree_head");
  if (head == nullptr || head->kind_case() != Value::kStructValue) {
    return Failure{kUsage, "the proof has no \"tree_head\" object"};
  }
  const Struct& h = head->struct_value();
  if (auto f = Unsigned(h, "tree_size", &p->head_size)) return f;
  if (auto f = HashField(Get(h, "root_hash"), "tree_head.root_hash", &p->head_root)) return f;
  double ts = 0;
  if (auto f = Number(h, "timestamp_ms", &ts)) return f;
  p->timestamp_ms = static_cast<int64_t>(ts);
  if (auto f =
          HexBytes(Get(h, "signature"), "tree_head.signature", crypto_sign_BYTES, &p->signature)) {
    return f;
  }
  if (auto f = HexBytes(Get(h, "log_public_key"), "tree_head.log_public_key",
                        crypto_sign_PUBLICKEYBYTES, &p->public_key)) {
    return f;
  }
  return std::nullopt;
}

// ---- the checks ---------------------------------------------------------------------------

struct Options {
  std::string proof_file;
  std::optional<std::string> leaf;  // the entry's stored bytes
  std::string public_key;           // raw; empty = the proof's
};

std::optional<Failure> Check(const Options& o, const Proof& p, std::ostream& out) {
  // 1. The leaf.
  if (o.leaf) {
    const Hash computed = LeafHash(*o.leaf);
    if (computed != p.leaf_hash) {
      return Failure{kInvalid, "the entry's leaf hash is " + Hex(computed) + ", the proof is for " +
                                   Hex(p.leaf_hash) + ": these are not the bytes the log holds"};
    }
    if (auto seq = EnvelopeSeq(*o.leaf); seq && *seq != p.leaf_index + 1) {
      return Failure{kInvalid, "the entry is seq " + std::to_string(*seq) +
                                   ", the proof is for seq " + std::to_string(p.leaf_index + 1)};
    }
    out << "leaf        SHA-256(0x00 || " << o.leaf->size() << " entry bytes) = " << Hex(computed)
        << "\n";
  } else {
    out << "leaf        " << Hex(p.leaf_hash)
        << " (as stated; give --leaf-file to check the entry itself)\n";
  }
  // 2. The audit path.
  auto root = RootFromInclusionProof(p.leaf_index, p.tree_size, p.leaf_hash, p.path);
  if (!root) {
    return Failure{kInvalid, "an audit path of " + std::to_string(p.path.size()) +
                                 " hash(es) does not fit leaf index " +
                                 std::to_string(p.leaf_index) + " in a tree of size " +
                                 std::to_string(p.tree_size)};
  }
  if (*root != p.root) {
    return Failure{kInvalid, "the audit path leads to root " + Hex(*root) +
                                 ", not to the proof's root " + Hex(p.root)};
  }
  if (p.head_size != p.tree_size || p.head_root != p.root) {
    return Failure{kInvalid, "the tree head (size " + std::to_string(p.head_size) + ", root " +
                                 Hex(p.head_root) + ") is not the tree the path leads to (size " +
                                 std::to_string(p.tree_size) + ", root " + Hex(p.root) + ")"};
  }
  out << "path        " << p.path.size() << " hash(es): leaf index " << p.leaf_index
      << " in tree size " << p.tree_size << " -> root " << Hex(*root) << "\n";
  // 3. The signature.
  if (!o.public_key.empty() && o.public_key != p.public_key) {
    return Failure{kInvalid, "the tree head is signed by key " +
                                 Hex(reinterpret_cast<const unsigned char*>(p.public_key.data()),
                                     p.public_key.size()) +
                                 ", not by the key given with --public-key"};
  }
  const std::string msg = SigningBytes(p.head_size, p.head_root, p.timestamp_ms);
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(p.signature.data()),
                                  reinterpret_cast<const unsigned char*>(msg.data()), msg.size(),
                                  reinterpret_cast<const unsigned char*>(p.public_key.data())) !=
      0) {
    return Failure{kInvalid, "the tree head's Ed25519 signature does not verify"};
  }
  out << "signature   Ed25519 by "
      << Hex(reinterpret_cast<const unsigned char*>(p.public_key.data()), p.public_key.size())
      << (o.public_key.empty() ? " (the key in the proof; pin it with --public-key)"
                               : " (the key given)")
      << " over the head signed " << Utc(p.timestamp_ms) << "\n";
  return std::nullopt;
}

int Run(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* v) {
      if (i + 1 >= argc) {
        std::cerr << "passage-verify-proof: " << a << " needs a value\n";
        return false;
      }
      *v = argv[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      std::cout << kUsageText;
      return kValid;
    } else if (a == "--leaf-file" || a == "--envelope-hex") {
      if (o.leaf) {
        std::cerr << "passage-verify-proof: give --leaf-file or --envelope-hex once\n";
        return kUsage;
      }
      if (!value(&v)) {
        return kUsage;
      }
      if (a == "--leaf-file") {
        std::ifstream f(v, std::ios::binary);
        if (!f) {
          std::cerr << "passage-verify-proof: --leaf-file: cannot read " << v << "\n";
          return kUsage;
        }
        std::stringstream ss;
        ss << f.rdbuf();
        o.leaf = ss.str();
      } else {
        o.leaf = FromHex(v);
        if (!o.leaf) {
          std::cerr << "passage-verify-proof: --envelope-hex: not hex\n";
          return kUsage;
        }
      }
    } else if (a == "--public-key") {
      if (!value(&v)) {
        return kUsage;
      }
      auto key = FromHex(v);
      if (!key || key->size() != crypto_sign_PUBLICKEYBYTES) {
        std::cerr << "passage-verify-proof: --public-key: must be 64 hex digits\n";
        return kUsage;
      }
      o.public_key = *key;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "passage-verify-proof: unknown option " << a << " (try --help)\n";
      return kUsage;
    } else if (o.proof_file.empty()) {
      o.proof_file = a;
    } else {
      std::cerr << "passage-verify-proof: unexpected argument " << a << " (try --help)\n";
      return kUsage;
    }
  }
  if (o.proof_file.empty()) {
    std::cerr << kUsageText;
    return kUsage;
  }
  std::ifstream f(o.proof_file, std::ios::binary);
  if (!f) {
    std::cerr << "passage-verify-proof: cannot read " << o.proof_file << "\n";
    return kUsage;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  Proof p;
  if (auto fail = ReadProof(ss.str(), &p)) {
    std::cerr << "passage-verify-proof: " << o.proof_file << ": " << fail->reason << "\n";
    return fail->code;
  }
  if (auto fail = Check(o, p, std::cout)) {
    std::cout << "result      INVALID: " << fail->reason << "\n";
    std::cerr << "passage-verify-proof: invalid: " << fail->reason << "\n";
    return fail->code;
  }
  std::cout << "result      valid: entry seq " << p.leaf_index + 1
            << " is in the log as the signed tree head of size " << p.tree_size
            << " describes it\n";
  return kValid;
}

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) {
    std::cerr << "passage-verify-proof: libsodium failed to initialise\n";
    return kUsage;
  }
  return Run(argc, argv);
}
