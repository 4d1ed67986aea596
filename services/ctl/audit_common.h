#pragma once

// Private to passagectl's audit, replay and admin commands (audit.cc, replay.cc, admin.cc): the
// failure convention, JSON and hex text, durable file writes, opening log directories read-only,
// and reading signed tree heads from JSON. Not a public API.
//
// Thread-safety: pure functions, or functions of the files and streams they are given.

#include <google/protobuf/struct.pb.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/audit/verifier.h"
#include "broker/log/event_log.h"
#include "broker/merkle/merkle.h"
#include "core/status.h"
#include "passage/v1/wire.pb.h"
#include "services/ctl/ctl.h"

namespace passage::ctl::internal {

inline constexpr std::string_view kSthFormat = "passage-sth/1";

// A failure: its one line on `err`; returns the exit code. Corruption (something did not verify)
// exits kExitVerifyFailed, anything else as ExitCodeFor says.
int Fail(CtlIo& io, const Status& s);
// A Corruption status: a log, head, proof or backup that does not verify.
Status Damaged(std::string field, std::string message);

// As ASSIGN_OR_RETURN / RETURN_IF_ERROR, for functions that return an exit code and have a
// CtlIo `io` in scope: a failure is reported with Fail.
#define CTL_ASSIGN_OR_FAIL(lhs, expr) \
  CTL_ASSIGN_OR_FAIL_IMPL(PASSAGE_CONCAT(ctl_result_, __LINE__), lhs, expr)
#define CTL_ASSIGN_OR_FAIL_IMPL(tmp, lhs, expr)              \
  auto tmp = (expr);                                         \
  if (!tmp.ok()) {                                           \
    return ::passage::ctl::internal::Fail(io, tmp.status()); \
  }                                                          \
  lhs = std::move(tmp).value()
#define CTL_FAIL_IF_ERROR(expr)                               \
  do {                                                        \
    ::passage::Status ctl_status_ = (expr);                   \
    if (!ctl_status_.ok()) {                                  \
      return ::passage::ctl::internal::Fail(io, ctl_status_); \
    }                                                         \
  } while (0)

// ---- text ----
std::string Hex(std::string_view bytes);                        // lower-case
std::optional<std::string> FromHex(std::string_view text);      // either case; nullopt when not hex
std::optional<std::string> FromBase64(std::string_view text);   // standard or URL-safe
std::string Quote(std::string_view s);                          // a JSON string
std::string HashList(const std::vector<merkle::Hash>& hashes);  // a JSON array of hex
std::string Be64(uint64_t v);
// "bad signature" -> "bad_signature": the kind as a JSON token.
std::string KindToken(audit::FailureKind kind);
// "size 40, root ab12..., signed 2026-11-28T23:59:00Z".
std::string HeadLine(const log::SignedHead& h);

// ---- files ----
// InvalidArgument naming `field` when `path` cannot be read.
Result<std::string> ReadWholeFile(const std::string& path, std::string_view field);
Status SyncPath(const std::string& path, bool directory);
// Replaces `path` with `data` durably: a temporary file, fsync, rename, fsync of the directory.
Status WriteFileDurably(const std::string& path, std::string_view data, std::string_view field);
// SHA-256 of a file's content (hex), streamed.
Result<std::string> FileSha256(const std::string& path);

// ---- log directories ----
// The RocksDB directory of a log: `path` itself, or path/log (a broker data directory or a
// backup). InvalidArgument naming `field` otherwise.
Result<std::string> ResolveLogDir(const std::string& path, std::string_view field);
// EventLog::Open read-only; a refusal keeps its code (Corruption for damage) and says to run
// passagectl audit verify.
Result<std::unique_ptr<log::EventLog>> OpenLog(const std::string& dir);
// A note on `err` when another process (a running broker) holds the directory's lock.
void NoteIfLive(const std::string& dir, CtlIo& io);
// The stored signed head of exactly `size`; NotFound naming the nearest otherwise.
Result<log::SignedHead> HeadOfSize(const log::EventLog& log, uint64_t size);

// ---- JSON ----
// The first of `names` present in `s`, or nullptr.
const google::protobuf::Value* Field(const google::protobuf::Struct& s,
                                     std::initializer_list<const char*> names);
// A whole number given as a JSON number or a decimal string (protobuf JSON's 64-bit integers);
// 0 when absent (protobuf JSON leaves zero values out). Errors name `source`.
Result<uint64_t> Unsigned(const google::protobuf::Value* v, std::string_view name,
                          std::string_view source);
Result<int64_t> Signed(const google::protobuf::Value* v, std::string_view name,
                       std::string_view source);
// Exactly `want` bytes, as 2 * want hex digits or base64.
Result<std::string> Bytes(const google::protobuf::Value* v, size_t want, std::string_view name,
                          std::string_view source);
Result<google::protobuf::Struct> ParseJsonObject(std::string_view text, std::string_view source);
// A signed tree head in `top`, or in its "tree_head" member (a proof, a backup manifest).
Result<log::SignedHead> HeadFromStruct(const google::protobuf::Struct& top,
                                       std::string_view source);
// A signed tree head file (SignedHeadToJson's form or protobuf JSON); errors name `field`.
Result<log::SignedHead> LoadHeadFile(const std::string& path, std::string_view field);
log::SignedHead FromWire(const passage::v1::SignedTreeHead& w);

}  // namespace passage::ctl::internal
