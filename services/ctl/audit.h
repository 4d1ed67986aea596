#pragma once

// passagectl audit, replay and admin: the oversight side of the event log (docs/audit.md).
//
// Offline commands work on a log directory (a broker's DATA_DIR/log, a copy, a checkpoint or a
// backup) that they open read-only through EventLog / VerifyLog and never modify. The online ones
// (audit heads, audit consistency without --log) ask the agency's node, which keeps every signed
// tree head the broker sent it and forwards consistency-proof requests to the broker; passagectl
// verifies what comes back itself (signatures with the head's key, proofs with broker/merkle).
//
// Output contract as in ctl.h: results on `out`, one failure line on `err`; a log, head, proof or
// backup that does not verify exits kExitVerifyFailed (6) and still prints the report on `out`.
//
// Thread-safety: one call at a time (it uses the streams it is given).

#include <optional>
#include <string>
#include <string_view>

#include "broker/log/event_log.h"
#include "core/status.h"

namespace passage::ctl {

struct Invocation;
struct CtlIo;

int RunAudit(const Invocation& inv, CtlIo& io);
int RunReplay(const Invocation& inv, CtlIo& io);
int RunAdmin(const Invocation& inv, CtlIo& io);

// A signed tree head as passagectl writes it (audit heads, inside proofs and backup manifests):
//   {"format":"passage-sth/1","tree_size":N,"root_hash":"<64 hex>","timestamp_ms":T,
//    "timestamp":"2026-11-28T23:59:00Z","signature":"<128 hex>","log_public_key":"<64 hex>"}
std::string SignedHeadToJson(const log::SignedHead& head);

// Reads a signed tree head from JSON: the form above, or a passage.v1.SignedTreeHead in protobuf
// JSON (byte fields in base64, proto or lowerCamelCase field names). Checks only the shape (the
// byte lengths), not the signature. Errors: InvalidArgument naming `source`.
Result<log::SignedHead> ParseSignedHeadJson(std::string_view text, std::string_view source);

// The id of another process holding the RocksDB lock (DIR/LOCK) of `dir`, normally a running
// broker; nullopt when nobody holds it. Reads only. Note: POSIX record locks are per process, so
// a lock this process holds itself is not reported (and must not be: closing any descriptor of
// LOCK would release it, which is why passagectl never opens a log for writing).
std::optional<int> LockHolder(const std::string& dir);

}  // namespace passage::ctl
