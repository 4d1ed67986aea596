// passagectl admin: checkpoint, backup and restore of a log directory, each verified.

#include <google/protobuf/struct.pb.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/audit/verifier.h"
#include "broker/merkle/merkle.h"
#include "broker/merkle/tree_head.h"
#include "core/codes.h"
#include "services/ctl/audit.h"
#include "services/ctl/audit_common.h"
#include "services/ctl/cli.h"
#include "services/ctl/ctl.h"

namespace passage::ctl {
namespace internal {
namespace {

namespace fs = std::filesystem;
using google::protobuf::Struct;
using google::protobuf::Value;
constexpr std::string_view kBackupFormat = "passage-backup/1";
constexpr std::string_view kManifestName = "backup.json";

// ---------------------------------------------------------------------------------------------
// admin

Status RefuseIfOpen(const std::string& dir) {
  if (auto pid = LockHolder(dir)) {
    return Status::FailedPrecondition(
        dir + " is open in process " + std::to_string(*pid) +
            " (a running broker holds its lock): stop the broker first, or send it SIGUSR1 "
            "(kill -USR1 PID) for an online checkpoint in DATA_DIR/checkpoints; a copy taken beside a running writer may miss or tear its latest writes",
        "--log");
  }
  return Status::Ok();
}

// Full verification of a copy; Corruption when it fails or does not end at `expected`.
Result<audit::VerifyReport> VerifyCopy(const std::string& dir, const std::string& trusted_key,
                                       const std::optional<log::SignedHead>& expected,
                                       std::string_view what) {
  audit::VerifyOptions o;
  o.path = dir;
  o.trusted_public_key = trusted_key;
  o.against = expected;
  ASSIGN_OR_RETURN(audit::VerifyReport r, audit::VerifyLog(o));
  if (!r.ok()) {
    return Damaged(r.first_bad_seq ? "seq " + std::to_string(r.first_bad_seq) : std::string(what),
                   std::string(what) + " " + dir + " does not verify: " + audit::ToString(r));
  }
  if (expected &&
      (r.final_size != expected->head.tree_size || r.final_root != expected->head.root)) {
    return Damaged(std::string(what), std::string(what) + " " + dir + " ends at size " +
                                          std::to_string(r.final_size) + ", not at the head of " +
                                          HeadLine(*expected));
  }
  return r;
}

Status RequireAbsent(const std::string& path, std::string field, std::string_view why) {
  std::error_code ec;
  if (fs::exists(path, ec) || fs::is_symlink(path, ec)) {
    return Status(StatusCode::kAlreadyExists, path + " exists; " + std::string(why),
                  std::move(field));
  }
  return Status::Ok();
}

// Checkpoints `src` into the new directory `dst` and verifies it. Returns the verified head.
Result<log::SignedHead> CheckpointVerified(const std::string& src, const std::string& dst,
                                           const std::string& public_key,
                                           audit::VerifyReport* report) {
  RETURN_IF_ERROR(RefuseIfOpen(src));
  log::SignedHead head;
  {
    ASSIGN_OR_RETURN(auto log, OpenLog(src));
    head = log->LatestHead();
    if (!public_key.empty() && head.public_key != public_key) {
      return Damaged("--public-key", "the log's tree heads are signed by key " +
                                         Hex(head.public_key) + ", not by the key given");
    }
    RETURN_IF_ERROR(log->Checkpoint(dst));
  }
  ASSIGN_OR_RETURN(*report, VerifyCopy(dst, public_key.empty() ? head.public_key : public_key, head,
                                       "the checkpoint"));
  return head;
}

// "backups/x/" -> "backups/x": RocksDB and rename() want the directory's own name.
std::string CleanDir(const std::string& path) {
  fs::path p = fs::path(path).lexically_normal();
  if (!p.has_filename() && p.has_parent_path() && p != p.root_path()) {
    p = p.parent_path();
  }
  return p.string();
}

// The admin settings with their directories cleaned.
AuditSettings AdminSettings(const Invocation& inv) {
  AuditSettings a = inv.audit;
  a.dir = CleanDir(a.dir);
  a.target = CleanDir(a.target);
  return a;
}

int AdminCheckpoint(const Invocation& inv, CtlIo& io) {
  const AuditSettings a = AdminSettings(inv);
  CTL_ASSIGN_OR_FAIL(const std::string src, ResolveLogDir(a.log, "--log"));
  CTL_FAIL_IF_ERROR(RequireAbsent(a.dir, "DIR", "a checkpoint goes into a new directory"));
  audit::VerifyReport r;
  CTL_ASSIGN_OR_FAIL(const log::SignedHead head, CheckpointVerified(src, a.dir, a.public_key, &r));
  if (inv.json) {
    io.out << "{\"checkpoint\":" << Quote(a.dir) << ",\"log\":" << Quote(src)
           << ",\"verified\":true,\"events\":" << r.events_checked
           << ",\"heads\":" << r.heads_checked << ",\"tree_head\":" << SignedHeadToJson(head)
           << "}\n";
  } else {
    io.out << "checkpoint of " << src << " in " << a.dir << "\n"
           << "verified    " << r.events_checked << " events, " << r.heads_checked
           << " signed tree heads; " << HeadLine(head) << "\n";
  }
  return kExitOk;
}

int AdminBackup(const Invocation& inv, CtlIo& io) {
  const AuditSettings a = AdminSettings(inv);
  CTL_ASSIGN_OR_FAIL(const std::string src, ResolveLogDir(a.log, "--log"));
  CTL_FAIL_IF_ERROR(RequireAbsent(a.dir, "--to", "a backup goes into a new directory"));
  CTL_FAIL_IF_ERROR(RefuseIfOpen(src));
  std::error_code ec;
  fs::create_directories(a.dir, ec);
  if (ec) {
    return Fail(io,
                Status::InvalidArgument("--to", "cannot create " + a.dir + ": " + ec.message()));
  }
  const std::string log_dir = (fs::path(a.dir) / "log").string();
  audit::VerifyReport r;
  auto checkpointed = CheckpointVerified(src, log_dir, a.public_key, &r);
  if (!checkpointed.ok()) {
    if (checkpointed.status().code() != StatusCode::kCorruption) {
      fs::remove_all(a.dir, ec);  // nothing worth keeping: we made it a moment ago
    }
    return Fail(io, checkpointed.status());
  }
  const log::SignedHead head = *checkpointed;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(log_dir, ec)) {
    if (entry.is_regular_file()) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  const int64_t now_ms =
      static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
  std::string manifest = "{\"format\":" + Quote(kBackupFormat) +
                         ",\"created_at_ms\":" + std::to_string(now_ms) +
                         ",\"created_at\":" + Quote(core::FormatUtcMs(now_ms)) +
                         ",\"source\":" + Quote(fs::absolute(src).string()) +
                         ",\"tree_size\":" + std::to_string(r.final_size) +
                         ",\"root\":" + Quote(merkle::ToHex(r.final_root)) +
                         ",\"tree_head\":" + SignedHeadToJson(head) + ",\"files\":[";
  uint64_t total = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    CTL_ASSIGN_OR_FAIL(std::string sum, FileSha256(files[i].string()));
    const uint64_t bytes = fs::file_size(files[i], ec);
    total += bytes;
    manifest += (i ? "," : "") + std::string("{\"name\":") + Quote(files[i].filename().string()) +
                ",\"bytes\":" + std::to_string(bytes) + ",\"sha256\":" + Quote(sum) + "}";
  }
  manifest += "]}\n";
  for (const auto& f : files) {
    CTL_FAIL_IF_ERROR(SyncPath(f.string(), false));
  }
  CTL_FAIL_IF_ERROR(SyncPath(log_dir, true));
  CTL_FAIL_IF_ERROR(WriteFileDurably((fs::path(a.dir) / kManifestName).string(), manifest, "--to"));
  if (inv.json) {
    io.out << "{\"backup\":" << Quote(a.dir) << ",\"log\":" << Quote(src)
           << ",\"verified\":true,\"files\":" << files.size() << ",\"bytes\":" << total
           << ",\"tree_head\":" << SignedHeadToJson(head) << "}\n";
  } else {
    io.out << "backup of " << src << " in " << a.dir << "\n"
           << "verified    " << r.events_checked << " events, " << r.heads_checked
           << " signed tree heads; " << HeadLine(head) << "\n"
           << "manifest    " << (fs::path(a.dir) / kManifestName).string() << " (" << files.size()
           << " files, " << total << " bytes, SHA-256 each)\n";
  }
  return kExitOk;
}

struct ManifestFile {
  std::string name;
  uint64_t bytes = 0;
  std::string sha256;
};

// RocksDB may leave these beside a database it opened; they are not part of the data.
bool IsRocksDbBystander(const std::string& name) {
  return name == "LOCK" || name == "LOG" || name.rfind("LOG.old.", 0) == 0;
}

Result<std::vector<ManifestFile>> CheckBackupFiles(const Struct& manifest, const std::string& dir,
                                                   const std::string& log_dir) {
  const Value* files = Field(manifest, {"files"});
  if (files == nullptr || files->kind_case() != Value::kListValue) {
    return Status::InvalidArgument("--from", "the manifest lists no files");
  }
  std::vector<ManifestFile> out;
  std::map<std::string, bool> listed;
  for (const auto& v : files->list_value().values()) {
    if (v.kind_case() != Value::kStructValue) {
      return Status::InvalidArgument("--from", "the manifest's file list is malformed");
    }
    ManifestFile f;
    const Value* name = Field(v.struct_value(), {"name"});
    const Value* sum = Field(v.struct_value(), {"sha256"});
    if (name == nullptr || sum == nullptr || name->kind_case() != Value::kStringValue ||
        sum->kind_case() != Value::kStringValue || name->string_value().empty() ||
        name->string_value().find('/') != std::string::npos || name->string_value() == "." ||
        name->string_value() == "..") {
      return Status::InvalidArgument("--from", "the manifest's file list is malformed");
    }
    f.name = name->string_value();
    f.sha256 = sum->string_value();
    ASSIGN_OR_RETURN(f.bytes, Unsigned(Field(v.struct_value(), {"bytes"}), "bytes", "--from"));
    const std::string path = (fs::path(log_dir) / f.name).string();
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      return Damaged(f.name, "the backup in " + dir + " lacks " + f.name);
    }
    if (fs::file_size(path, ec) != f.bytes) {
      return Damaged(f.name, "the backup's " + f.name + " is " +
                                 std::to_string(fs::file_size(path, ec)) +
                                 " bytes, the manifest "
                                 "says " +
                                 std::to_string(f.bytes));
    }
    ASSIGN_OR_RETURN(std::string actual, FileSha256(path));
    if (actual != f.sha256) {
      return Damaged(f.name, "the backup's " + f.name +
                                 " does not match its SHA-256 in the "
                                 "manifest: it changed since the backup");
    }
    listed[f.name] = true;
    out.push_back(std::move(f));
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(log_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!listed.count(name) && !IsRocksDbBystander(name)) {
      return Damaged(name, "the backup holds " + name + ", which its manifest does not list");
    }
  }
  if (ec) {
    return Status::IoError("cannot list " + log_dir + ": " + ec.message());
  }
  return out;
}

int AdminRestore(const Invocation& inv, CtlIo& io) {
  const AuditSettings a = AdminSettings(inv);
  const std::string log_dir = (fs::path(a.dir) / "log").string();
  const std::string manifest_path = (fs::path(a.dir) / kManifestName).string();
  CTL_FAIL_IF_ERROR(
      RequireAbsent(a.target, "--to", "restore never overwrites a log (move it away first)"));
  CTL_ASSIGN_OR_FAIL(std::string text, ReadWholeFile(manifest_path, "--from"));
  CTL_ASSIGN_OR_FAIL(const Struct manifest, ParseJsonObject(text, manifest_path));
  const Value* format = Field(manifest, {"format"});
  if (format == nullptr || format->kind_case() != Value::kStringValue ||
      format->string_value() != kBackupFormat) {
    return Fail(
        io, Status::InvalidArgument(
                "--from", manifest_path + " is not a " + std::string(kBackupFormat) + " manifest"));
  }
  CTL_ASSIGN_OR_FAIL(const log::SignedHead head, HeadFromStruct(manifest, manifest_path));
  const std::string trusted = a.public_key.empty() ? head.public_key : a.public_key;
  if (head.public_key != trusted) {
    return Fail(io, Damaged("--public-key", "the backup's tree head is signed by key " +
                                                Hex(head.public_key) + ", not by the key given"));
  }
  if (Status s = merkle::VerifyTreeHead(head.head, head.signature, head.public_key); !s.ok()) {
    return Fail(io,
                Damaged("--from", "the backup's tree head is not validly signed: " + s.message()));
  }
  CTL_ASSIGN_OR_FAIL(const std::vector<ManifestFile> files,
                     CheckBackupFiles(manifest, a.dir, log_dir));
  CTL_ASSIGN_OR_FAIL(audit::VerifyReport before, VerifyCopy(log_dir, trusted, head, "the backup"));

  const std::string tmp = a.target + ".restoring";
  CTL_FAIL_IF_ERROR(
      RequireAbsent(tmp, "--to", "an interrupted restore left it; remove it and try again"));
  std::error_code ec;
  fs::create_directories(tmp, ec);
  if (ec) {
    return Fail(io, Status::InvalidArgument("--to", "cannot create " + tmp + ": " + ec.message()));
  }
  for (const auto& f : files) {
    const std::string to = (fs::path(tmp) / f.name).string();
    fs::copy_file(fs::path(log_dir) / f.name, to, ec);
    if (ec) {
      return Fail(io,
                  Status::IoError("cannot copy " + f.name + " to " + tmp + ": " + ec.message()));
    }
    CTL_FAIL_IF_ERROR(SyncPath(to, false));
  }
  CTL_FAIL_IF_ERROR(SyncPath(tmp, true));
  CTL_FAIL_IF_ERROR(RequireAbsent(a.target, "--to", "restore never overwrites a log"));
  fs::rename(tmp, a.target, ec);
  if (ec) {
    return Fail(io,
                Status::IoError("cannot rename " + tmp + " to " + a.target + ": " + ec.message()));
  }
  CTL_FAIL_IF_ERROR(SyncPath(fs::absolute(fs::path(a.target)).parent_path().string(), true));
  CTL_ASSIGN_OR_FAIL(audit::VerifyReport after,
                     VerifyCopy(a.target, trusted, head, "the restored log"));
  if (inv.json) {
    io.out << "{\"restored\":" << Quote(a.target) << ",\"from\":" << Quote(a.dir)
           << ",\"verified\":true,\"files\":" << files.size()
           << ",\"events\":" << after.events_checked << ",\"tree_head\":" << SignedHeadToJson(head)
           << "}\n";
  } else {
    io.out << "backup " << a.dir << ": manifest, " << files.size()
           << " file checksums and full verification ok (" << before.events_checked << " events)\n"
           << "restored    " << a.target << "\n"
           << "verified    " << after.events_checked << " events, " << after.heads_checked
           << " signed tree heads; " << HeadLine(head) << "\n";
  }
  return kExitOk;
}

}  // namespace
}  // namespace internal

int RunAdmin(const Invocation& inv, CtlIo& io) {
  if (inv.command == "admin checkpoint") {
    return internal::AdminCheckpoint(inv, io);
  }
  if (inv.command == "admin backup") {
    return internal::AdminBackup(inv, io);
  }
  if (inv.command == "admin restore") {
    return internal::AdminRestore(inv, io);
  }
  PrintError(io.err, "", "unknown command " + inv.command);
  return kExitUsage;
}

}  // namespace passage::ctl
