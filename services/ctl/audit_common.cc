#include "services/ctl/audit_common.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "broker/merkle/tree_head.h"
#include "core/codes.h"
#include "services/ctl/audit.h"
#include "services/ctl/cli.h"
#include "services/ctl/names.h"

namespace passage::ctl {
namespace internal {

namespace fs = std::filesystem;
using google::protobuf::Struct;
using google::protobuf::Value;
using merkle::Hash;

// A failure: one line on `err`. Corruption (something did not verify) exits kExitVerifyFailed.
int Fail(CtlIo& io, const Status& s) {
  PrintError(io.err, s.field(), s.message());
  return s.code() == StatusCode::kCorruption ? kExitVerifyFailed : ExitCodeFor(s);
}

Status Damaged(std::string field, std::string message) {
  return Status(StatusCode::kCorruption, std::move(message), std::move(field));
}

// ---------------------------------------------------------------------------------------------
// Text helpers

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

std::string Quote(std::string_view s) { return core::JsonQuote(s); }

std::string HashList(const std::vector<Hash>& hashes) {
  std::string out = "[";
  for (size_t i = 0; i < hashes.size(); ++i) {
    out += (i ? "," : "") + Quote(merkle::ToHex(hashes[i]));
  }
  return out + "]";
}

std::string Be64(uint64_t v) { return log::EncodeBe64(v); }

std::string KindToken(audit::FailureKind kind) {
  std::string s(audit::FailureKindName(kind));
  std::replace(s.begin(), s.end(), ' ', '_');
  return s;
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

std::optional<std::string> FromHex(std::string_view text) {
  if (text.size() % 2 != 0) {
    return std::nullopt;
  }
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = HexValue(text[i]);
    int lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// Standard or URL-safe base64, padding optional.
std::optional<std::string> FromBase64(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t padding = 0;
  for (char c : text) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+' || c == '-') {
      v = 62;
    } else if (c == '/' || c == '_') {
      v = 63;
    } else if (c == '=') {
      ++padding;
      continue;
    }
    if (v < 0 || padding > 0) {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (padding > 2) {
    return std::nullopt;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Files

Result<std::string> ReadWholeFile(const std::string& path, std::string_view field) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return Status::InvalidArgument(std::string(field),
                                   path + " cannot be read: " + std::strerror(errno));
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Status SyncPath(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) {
    return Status::IoError("cannot open " + path + " to sync it: " + std::strerror(errno));
  }
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    return Status::IoError("cannot sync " + path + ": " + std::strerror(err));
  }
  return Status::Ok();
}

// Writes `data` to `path` (replacing it), durably: a temporary file, fsync, rename.
Status WriteFileDurably(const std::string& path, std::string_view data, std::string_view field) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) {
      return Status::InvalidArgument(std::string(field),
                                     "cannot create " + tmp + ": " + std::strerror(errno));
    }
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    f.flush();
    if (!f) {
      return Status::IoError("cannot write " + tmp + ": " + std::strerror(errno));
    }
  }
  RETURN_IF_ERROR(SyncPath(tmp, false));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IoError("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  }
  fs::path parent = fs::absolute(fs::path(path)).parent_path();
  return SyncPath(parent.string(), true);
}

// SHA-256 of a file's content, streamed.
Result<std::string> FileSha256(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return Status::IoError("cannot read " + path + ": " + std::strerror(errno));
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return Status::Internal("OpenSSL cannot compute SHA-256");
  }
  std::vector<char> buf(1 << 16);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (f.gcount() > 0) {
      EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(f.gcount()));
    }
  }
  if (f.bad()) {
    return Status::IoError("cannot read " + path);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return Hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

// ---------------------------------------------------------------------------------------------
// Log directories

// The RocksDB directory of a log: DIR itself, or DIR/log for a broker data directory or a backup.
Result<std::string> ResolveLogDir(const std::string& path, std::string_view field) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    return Status::InvalidArgument(std::string(field), path + " is not a directory");
  }
  if (fs::exists(fs::path(path) / "CURRENT", ec)) {
    return path;
  }
  if (fs::exists(fs::path(path) / "log" / "CURRENT", ec)) {
    return (fs::path(path) / "log").string();
  }
  return Status::InvalidArgument(std::string(field),
                                 path +
                                     " is not a log directory (no RocksDB CURRENT file): give "
                                     "the broker's DATA_DIR/log, a copy, a checkpoint or a "
                                     "backup");
}

Result<std::unique_ptr<log::EventLog>> OpenLog(const std::string& dir) {
  log::EventLogOptions o;
  o.path = dir;
  o.read_only = true;
  o.create_if_missing = false;
  auto opened = log::EventLog::Open(o);
  if (!opened.ok()) {
    const Status& s = opened.status();
    return Status(s.code() == StatusCode::kCorruption ? StatusCode::kCorruption : s.code(),
                  dir + " cannot be opened as a Passage log: " + s.message() +
                      " (passagectl audit verify --log " + dir + " locates the damage)",
                  "--log");
  }
  return std::move(opened).value();
}

// A log opened by a running broker can be read, but only as of the moment it is opened.
void NoteIfLive(const std::string& dir, CtlIo& io) {
  if (auto pid = LockHolder(dir)) {
    io.err << "passagectl: note: " << dir << " is open in process " << *pid
           << " (a running broker?); it is read as it is now. Audit a copy or a checkpoint for a "
              "stable record.\n";
  }
}

Result<log::SignedHead> HeadOfSize(const log::EventLog& log, uint64_t size) {
  std::optional<log::SignedHead> found;
  std::optional<uint64_t> above;
  RETURN_IF_ERROR(log.ScanTreeHeads(size, [&](const log::SignedHead& h) {
    if (h.head.tree_size == size) {
      found = h;
    } else {
      above = h.head.tree_size;
    }
    return false;
  }));
  if (!found) {
    std::string next =
        above ? "; the next stored head is of size " + std::to_string(*above)
              : "; the latest head is of size " + std::to_string(log.LatestHead().head.tree_size);
    return Status::NotFound("no signed tree head of size " + std::to_string(size) + " is stored" +
                            next);
  }
  return *found;
}

// ---------------------------------------------------------------------------------------------
// Signed tree heads as JSON

const Value* Field(const Struct& s, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    auto it = s.fields().find(n);
    if (it != s.fields().end()) {
      return &it->second;
    }
  }
  return nullptr;
}

Result<uint64_t> Unsigned(const Value* v, std::string_view name, std::string_view source) {
  if (v == nullptr) {
    return uint64_t{0};  // protobuf JSON leaves zero values out
  }
  if (v->kind_case() == Value::kNumberValue) {
    double d = v->number_value();
    if (d < 0 || d > 9007199254740992.0 || std::floor(d) != d) {
      return Status::InvalidArgument(std::string(source),
                                     std::string(name) + " is not a whole number >= 0");
    }
    return static_cast<uint64_t>(d);
  }
  if (v->kind_case() == Value::kStringValue) {
    return ParseCount(v->string_value(), std::string(source) + ": " + std::string(name), 0,
                      UINT64_MAX);
  }
  return Status::InvalidArgument(std::string(source), std::string(name) + " is not a number");
}

Result<int64_t> Signed(const Value* v, std::string_view name, std::string_view source) {
  if (v == nullptr) {
    return int64_t{0};
  }
  if (v->kind_case() == Value::kNumberValue) {
    double d = v->number_value();
    if (std::fabs(d) > 9007199254740992.0 || std::floor(d) != d) {
      return Status::InvalidArgument(std::string(source),
                                     std::string(name) + " is not a whole number");
    }
    return static_cast<int64_t>(d);
  }
  if (v->kind_case() == Value::kStringValue) {
    const std::string& t = v->string_value();
    bool neg = !t.empty() && t[0] == '-';
    auto n = ParseCount(neg ? t.substr(1) : t, std::string(source) + ": " + std::string(name), 0,
                        static_cast<uint64_t>(INT64_MAX));
    if (!n.ok()) {
      return n.status();
    }
    return neg ? -static_cast<int64_t>(*n) : static_cast<int64_t>(*n);
  }
  return Status::InvalidArgument(std::string(source), std::string(name) + " is not a number");
}

// Bytes as hex (exactly 2 * want digits) or base64 (protobuf JSON).
Result<std::string> Bytes(const Value* v, size_t want, std::string_view name,
                          std::string_view source) {
  auto bad = Status::InvalidArgument(
      std::string(source),
      std::string(name) + " must be " + std::to_string(want) + " bytes, in hex or base64");
  if (v == nullptr || v->kind_case() != Value::kStringValue) {
    return bad;
  }
  const std::string& t = v->string_value();
  if (t.size() == want * 2) {
    if (auto h = FromHex(t)) {
      return *h;
    }
  }
  auto b = FromBase64(t);
  if (!b || b->size() != want) {
    return bad;
  }
  return *b;
}

Result<log::SignedHead> HeadFromStruct(const Struct& top, std::string_view source) {
  const Struct* s = &top;
  // A proof or a backup manifest carries the head as "tree_head".
  if (const Value* inner = Field(top, {"tree_head", "treeHead"});
      inner != nullptr && inner->kind_case() == Value::kStructValue) {
    s = &inner->struct_value();
  }
  if (const Value* f = Field(*s, {"format"}); f != nullptr) {
    if (f->kind_case() != Value::kStringValue || f->string_value() != kSthFormat) {
      return Status::InvalidArgument(std::string(source),
                                     "format is not \"" + std::string(kSthFormat) + "\"");
    }
  }
  log::SignedHead h;
  ASSIGN_OR_RETURN(h.head.tree_size,
                   Unsigned(Field(*s, {"tree_size", "treeSize"}), "tree_size", source));
  ASSIGN_OR_RETURN(std::string root,
                   Bytes(Field(*s, {"root_hash", "rootHash", "root"}), 32, "root_hash", source));
  std::copy(root.begin(), root.end(), h.head.root.begin());
  ASSIGN_OR_RETURN(h.head.timestamp_ms,
                   Signed(Field(*s, {"timestamp_ms", "timestampMs"}), "timestamp_ms", source));
  ASSIGN_OR_RETURN(h.signature, Bytes(Field(*s, {"signature"}), 64, "signature", source));
  ASSIGN_OR_RETURN(h.public_key, Bytes(Field(*s, {"log_public_key", "logPublicKey", "public_key"}),
                                       32, "log_public_key", source));
  return h;
}

Result<Struct> ParseJsonObject(std::string_view text, std::string_view source) {
  Struct s;
  google::protobuf::util::JsonParseOptions opts;
  auto st = google::protobuf::util::JsonStringToMessage(std::string(text), &s, opts);
  if (!st.ok()) {
    auto m = st.message();
    return Status::InvalidArgument(std::string(source),
                                   "is not a JSON object: " + std::string(m.data(), m.size()));
  }
  return s;
}

Result<log::SignedHead> LoadHeadFile(const std::string& path, std::string_view field) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, field));
  auto head = ParseSignedHeadJson(text, path);
  if (!head.ok()) {
    return Status::InvalidArgument(std::string(field),
                                   head.status().message().empty()
                                       ? path + " is not a signed tree head"
                                       : head.status().field() + ": " + head.status().message());
  }
  return head;
}

log::SignedHead FromWire(const v1::SignedTreeHead& w) {
  log::SignedHead h;
  h.head.tree_size = w.tree_size();
  if (w.root_hash().size() == 32) {
    std::copy(w.root_hash().begin(), w.root_hash().end(), h.head.root.begin());
  }
  h.head.timestamp_ms = w.timestamp_ms();
  h.signature = w.signature();
  h.public_key = w.log_public_key();
  return h;
}

std::string HeadLine(const log::SignedHead& h) {
  return "size " + std::to_string(h.head.tree_size) + ", root " + merkle::ToHex(h.head.root) +
         ", signed " + core::FormatUtcMs(h.head.timestamp_ms);
}

}  // namespace internal

// ---------------------------------------------------------------------------------------------
// Public

using internal::Hex;
using internal::Quote;

std::string SignedHeadToJson(const log::SignedHead& h) {
  return "{\"format\":" + Quote(internal::kSthFormat) +
         ",\"tree_size\":" + std::to_string(h.head.tree_size) +
         ",\"root_hash\":" + Quote(merkle::ToHex(h.head.root)) +
         ",\"timestamp_ms\":" + std::to_string(h.head.timestamp_ms) +
         ",\"timestamp\":" + Quote(core::FormatUtcMs(h.head.timestamp_ms)) +
         ",\"signature\":" + Quote(Hex(h.signature)) +
         ",\"log_public_key\":" + Quote(Hex(h.public_key)) + "}";
}

Result<log::SignedHead> ParseSignedHeadJson(std::string_view text, std::string_view source) {
  ASSIGN_OR_RETURN(google::protobuf::Struct s, internal::ParseJsonObject(text, source));
  return internal::HeadFromStruct(s, source);
}

std::optional<int> LockHolder(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "LOCK").string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return std::nullopt;
  }
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;
  const int rc = ::fcntl(fd, F_GETLK, &fl);
  ::close(fd);
  if (rc != 0 || fl.l_type == F_UNLCK) {
    return std::nullopt;
  }
  return static_cast<int>(fl.l_pid);
}

}  // namespace passage::ctl
