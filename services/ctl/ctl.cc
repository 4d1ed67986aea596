#include "services/ctl/ctl.h"

#include <fcntl.h>
#include <pwd.h>
#include <termios.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "core/strict_json.h"
#include "core/codes.h"
#include "core/ctdc/ctdc_import.h"
#include "core/fhir.h"
#include "core/referral_state_machine.h"
#include "core/text_proto.h"
#include "services/ctl/audit.h"
#include "services/ctl/cli.h"
#include "services/ctl/config_check.h"
#include "services/ctl/control_client.h"
#include "services/ctl/csv_output.h"
#include "services/ctl/intake_prompt.h"
#include "services/ctl/names.h"
#include "services/runtime/sealing.h"
#include "transport/keys.h"

namespace passage::ctl {
namespace {

namespace v1 = passage::v1;

int Fail(CtlIo& io, const Status& s) {
  PrintError(io.err, s.field(), s.message());
  return ExitCodeFor(s);
}

std::string DefaultReason(v1::ControlCode code) {
  switch (code) {
    case v1::CONTROL_CODE_INVALID:
      return "the node found the request invalid";
    case v1::CONTROL_CODE_REFUSED:
      return "refused";
    case v1::CONTROL_CODE_NOT_FOUND:
      return "not found";
    case v1::CONTROL_CODE_UNAVAILABLE:
      return "the broker did not answer in time";
    default:
      return "the node failed to handle the request";
  }
}

// The node names a refused field by its place in the event (`referral_transition.to`); a person
// typed an option. Returns the option for the commands whose events are made from options, ""
// where the reason alone says it (the move itself), or the path unchanged.
std::string FieldAsTyped(const std::string& command, const std::string& path_in_event) {
  struct Typed {
    const char* command;
    const char* path;
    const char* option;
  };
  static constexpr Typed kTyped[] = {
      {"referral", "referral_transition.to", ""},
      {"referral", "referral_transition.referral_id", "REFERRAL_ID"},
      {"referral", "referral_transition.reason", "--reason"},
      {"referral", "referral_transition.note", "--note"},
      {"referral", "referral_transition.outcome", "--outcome"},
      {"referral", "referral_transition.consent_withdrawn", ""},
      {"refer", "referral_sent.referral", ""},
      {"refer", "referral_sent.referral.to_agency", "--to"},
      {"refer", "referral_sent.referral.service", "--service"},
      {"refer", "referral_sent.referral.priority", "--priority"},
      {"refer", "referral_sent.referral.respond_by_ms", "--within-hours"},
      {"refer", "referral_sent.referral.consent_id", "--consent"},
      {"refer", "referral_sent.referral.consent_override", "--override-reason"},
      {"refer", "referral_sent.referral.consent_override.reason", "--override-reason"},
      {"refer", "referral_sent.referral.parent_referral_id", "--parent"},
      {"refer", "referral_sent.referral.kind", "--kind"},
      {"refer", "referral_sent.referral.reason", "--reason"},
      {"refer", "referral_sent.referral.data_scope", "--scope"},
  };
  // The broker prefixes the event's place in its publish frame: "events[0].referral_sent...".
  std::string field = path_in_event;
  if (field.starts_with("events[")) {
    const size_t close = field.find("].");
    if (close != std::string::npos) {
      field = field.substr(close + 2);
    }
  }
  for (const Typed& t : kTyped) {
    if (command != t.command) {
      continue;
    }
    if (field == t.path) {
      return t.option;
    }
    // A list option's entry: `data_scope[1]` is the second name given to --scope.
    const std::string_view path = t.path;
    if (*t.option != '\0' && field.size() > path.size() + 2 && field.starts_with(path) &&
        field[path.size()] == '[' && field.back() == ']') {
      const std::string index = field.substr(path.size() + 1, field.size() - path.size() - 2);
      if (!index.empty() && index.size() < 4 &&
          index.find_first_not_of("0123456789") == std::string::npos) {
        return std::string(t.option) + " (entry " + std::to_string(std::stoi(index) + 1) + ")";
      }
    }
  }
  return path_in_event;
}

// Prints a node's answer: the result on `out`, or the one failure line on `err`.
int Report(const Invocation& inv, const v1::ControlResponse& resp, CtlIo& io) {
  if (resp.code() != v1::CONTROL_CODE_OK) {
    if (resp.code() == v1::CONTROL_CODE_UNAVAILABLE && resp.case_ids_size() > 0) {
      // The intake is queued in the node's outbox: the case id is still worth keeping.
      for (const auto& id : resp.case_ids()) {
        io.out << (inv.json ? "{\"case_id\":\"" + id + "\",\"queued\":true}" : "queued case " + id)
               << "\n";
      }
    }
    PrintError(io.err, FieldAsTyped(inv.command, resp.field()),
               resp.reason().empty() ? DefaultReason(resp.code()) : resp.reason());
    return ExitCodeFor(resp.code());
  }
  if (inv.json) {
    return PrintJsonOrCsv(inv, resp.json().empty() ? "{}" : resp.json(), io);
  }
  std::string text = resp.text();
  if (text.empty()) {
    for (const auto& id : resp.case_ids()) {
      text += id + "\n";
    }
  }
  io.out << text;
  if (!text.empty() && text.back() != '\n') {
    io.out << "\n";
  }
  return kExitOk;
}

int CallAndReport(const Invocation& inv, const v1::ControlRequest& req, CtlIo& io) {
  auto resp = CallNode(inv.endpoint, req, inv.timeout_ms);
  if (!resp.ok()) {
    return Fail(io, resp.status());
  }
  return Report(inv, *resp, io);
}

Result<std::string> ReadInput(const std::string& file, std::istream& in) {
  std::stringstream ss;
  if (file == "-") {
    ss << in.rdbuf();
    return ss.str();
  }
  std::ifstream f(file, std::ios::binary);
  if (!f) {
    return Status::InvalidArgument(file, "cannot be read: " + std::string(std::strerror(errno)));
  }
  ss << f.rdbuf();
  return ss.str();
}

Status LoadJson(const std::string& file, std::istream& in, google::protobuf::Message* msg) {
  ASSIGN_OR_RETURN(std::string text, ReadInput(file, in));
  const std::string name = file == "-" ? "standard input" : file;
  if (Trim(text).empty()) {
    return Status::InvalidArgument(name, "is empty; expected a " + msg->GetTypeName() + " in JSON");
  }
  // The protobuf reader forgives what would store a mistake (a key given twice, a trailing
  // comma, a value for a list): refused first, naming the field.
  if (Status strict = core::CheckStrictJson(text, msg->GetDescriptor()); !strict.ok()) {
    return Status::InvalidArgument(
        strict.field().empty() ? name : strict.field(),
        (strict.field().empty() ? "" : "in " + name + ": ") + strict.message());
  }
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(text, msg, opts);
  if (!st.ok()) {
    auto m = st.message();
    return Status::InvalidArgument(name, "is not a valid " + msg->GetTypeName() +
                                             " in JSON: " + std::string(m.data(), m.size()));
  }
  return Status::Ok();
}

int RunIntake(const Invocation& inv, CtlIo& io) {
  v1::ControlRequest req = inv.request;
  v1::IntakeRequest intake;
  if (!inv.file.empty()) {
    Status s = LoadJson(inv.file, io.in, &intake);
    if (!s.ok()) {
      return Fail(io, s);
    }
  } else if (io.stdin_is_terminal) {
    auto asked = PromptIntake(io.in, io.err);
    if (!asked.ok()) {
      return Fail(io, asked.status());
    }
    intake = std::move(asked).value();
  } else {
    return Fail(
        io, Status::InvalidArgument("--file",
                                    "required when standard input is not a terminal (\"-\" reads "
                                    "the JSON from standard input)"));
  }
  ApplyIntakeDefaults(&intake);
  *req.mutable_intake() = std::move(intake);
  return CallAndReport(inv, req, io);
}

int RunPublish(const Invocation& inv, CtlIo& io) {
  v1::ControlRequest req = inv.request;
  Status s = LoadJson(inv.file, io.in, req.mutable_publish()->mutable_event());
  if (!s.ok()) {
    return Fail(io, s);
  }
  return CallAndReport(inv, req, io);
}

// `suspect --identity-file F`: the identity goes to the node beside the event, which seals it; a
// mistake in F is named as F:LINE: field.
int RunSuspect(const Invocation& inv, CtlIo& io) {
  v1::ControlRequest req = inv.request;
  auto text = ReadInput(inv.file, io.in);
  const std::string name = inv.file == "-" ? "standard input" : inv.file;
  if (!text.ok()) {
    return Fail(
        io, Status(text.status().code(), name + " " + text.status().message(), "--identity-file"));
  }
  if (Trim(*text).empty()) {
    return Fail(io, Status::InvalidArgument("--identity-file",
                                            name + " is empty; expected a passage.v1.PersonalData "
                                                   "in text format (given_name: \"...\")"));
  }
  Status s = core::ParseConfigText(*text, name, req.mutable_publish()->mutable_suspect_identity());
  if (!s.ok()) {
    return Fail(io, Status(s.code(), s.message(), "--identity-file"));
  }
  return CallAndReport(inv, req, io);
}

int RunNoteAdd(const Invocation& inv, CtlIo& io) {
  v1::ControlRequest req = inv.request;
  auto text = ReadInput(inv.file, io.in);
  if (!text.ok()) {
    return Fail(io, Status(text.status().code(),
                           (inv.file == "-" ? std::string("standard input") : inv.file) + " " +
                               text.status().message(),
                           "--file"));
  }
  req.mutable_note()->mutable_add()->set_text(std::move(*text));
  return CallAndReport(inv, req, io);
}

int RunDocumentAttach(const Invocation& inv, CtlIo& io) {
  v1::ControlRequest req = inv.request;
  std::ifstream f(inv.file, std::ios::binary);
  if (!f) {
    return Fail(io, Status::InvalidArgument(
                        "FILE", inv.file + " cannot be read: " + std::strerror(errno)));
  }
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  req.mutable_document()->mutable_attach()->set_content(std::move(bytes));
  Invocation slow = inv;
  slow.timeout_ms = std::max(inv.timeout_ms, 60000);  // up to 10 MiB sealed and stored
  return CallAndReport(slow, req, io);
}

int RunDocumentOpen(const Invocation& inv, CtlIo& io) {
  Invocation slow = inv;
  slow.timeout_ms = std::max(inv.timeout_ms, 60000);
  auto resp = CallNode(inv.endpoint, inv.request, slow.timeout_ms);
  if (!resp.ok()) {
    return Fail(io, resp.status());
  }
  if (resp->code() != v1::CONTROL_CODE_OK) {
    return Report(inv, *resp, io);
  }
  // Personal data: a new file only the user can read.
  const int fd = ::open(inv.file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail(io, Status::InvalidArgument("--out", inv.file + " cannot be created: " +
                                                         std::strerror(errno) +
                                                         " (an existing file is not replaced)"));
  }
  const std::string& c = resp->content();
  size_t done = 0;
  while (done < c.size()) {
    const ssize_t n = ::write(fd, c.data() + done, c.size() - done);
    if (n <= 0) {
      ::close(fd);
      ::unlink(inv.file.c_str());
      return Fail(io, Status::IoError("writing " + inv.file + ": " + std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return Fail(io, Status::IoError("writing " + inv.file + ": " + std::strerror(errno)));
  }
  v1::ControlResponse shown = *resp;
  shown.clear_content();
  shown.set_text(shown.text() + "written to " + inv.file + "\n");
  return Report(inv, shown, io);
}

// `fhir import FILE`: the Bundle goes to the node as read; `fhir export --out FILE`: the Bundle
// the node gives is written to FILE (created, or replaced).
int RunFhir(const Invocation& inv, CtlIo& io) {
  v1::ControlRequest req = inv.request;
  if (req.fhir().has_import_bundle()) {
    auto text = ReadInput(inv.file, io.in);
    if (!text.ok()) {
      return Fail(io, Status(text.status().code(), text.status().message(), "FILE"));
    }
    if (text->size() > core::kMaxFhirBundleBytes) {
      return Fail(io, Status::InvalidArgument(
                          "FILE", (inv.file == "-" ? std::string("standard input") : inv.file) +
                                      " is " + std::to_string(text->size()) +
                                      " bytes; a referral Bundle is at most " +
                                      std::to_string(core::kMaxFhirBundleBytes)));
    }
    req.mutable_fhir()->mutable_import_bundle()->set_bundle_json(*text);
    return CallAndReport(inv, req, io);
  }
  auto resp = CallNode(inv.endpoint, req, inv.timeout_ms);
  if (!resp.ok()) {
    return Fail(io, resp.status());
  }
  if (resp->code() != v1::CONTROL_CODE_OK || inv.file.empty()) {
    return Report(inv, *resp, io);
  }
  std::ofstream out(inv.file, std::ios::binary | std::ios::trunc);
  out << resp->json() << "\n";
  out.close();
  if (!out) {
    return Fail(io, Status::InvalidArgument("--out", inv.file + " cannot be written"));
  }
  io.out << (inv.json ? "{\"written\":" + core::JsonQuote(inv.file) + "}"
                      : "wrote " + inv.file) << "\n";
  return kExitOk;
}

// `referral resume`: the node takes a target state, so find the state the referral was held from.
int RunResume(const Invocation& inv, CtlIo& io) {
  const std::string& id = inv.request.referral_action().referral_id();
  v1::ControlRequest q;
  q.set_json(true);
  q.set_session_token(inv.request.session_token());
  q.mutable_inbox()->set_include_closed(true);
  auto inbox = CallNode(inv.endpoint, q, inv.timeout_ms);
  if (!inbox.ok()) {
    return Fail(io, inbox.status());
  }
  if (inbox->code() != v1::CONTROL_CODE_OK) {
    return Report(inv, *inbox, io);
  }
  v1::CaseState holder;  // its `referrals` field takes the inbox's JSON array
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  auto st = google::protobuf::util::JsonStringToMessage(
      "{\"referrals\":" + (inbox->json().empty() ? std::string("[]") : inbox->json()) + "}",
      &holder, opts);
  if (!st.ok()) {
    return Fail(io, Status::Internal("the node's inbox is not a JSON list of referrals"));
  }
  const v1::Referral* found = nullptr;
  for (const auto& r : holder.referrals()) {
    if (r.referral_id() == id) {
      found = &r;
    }
  }
  if (found == nullptr) {
    PrintError(io.err, "REFERRAL_ID",
               "no referral " + id + " in this agency's inbox (only its recipient can resume it)");
    return kExitNotFound;
  }
  if (found->status() != v1::REFERRAL_STATUS_ON_HOLD) {
    PrintError(io.err, "REFERRAL_ID",
               "referral " + id + " is " + core::ReferralStatusName(found->status()) +
                   ", not ON_HOLD: there is nothing to resume");
    return kExitRefused;
  }
  v1::ReferralStatus to = core::HeldFrom(*found);
  if (to == v1::REFERRAL_STATUS_UNSPECIFIED) {
    to = core::WasAccepted(*found) ? v1::REFERRAL_STATUS_ACCEPTED : v1::REFERRAL_STATUS_RECEIVED;
  }
  v1::ControlRequest req = inv.request;
  req.mutable_referral_action()->set_to(to);
  return CallAndReport(inv, req, io);
}

std::string JsonString(std::string_view s) { return core::JsonQuote(s); }

Status WriteSealFile(const std::string& path, const runtime::SealingKeyPair& keys, bool overwrite) {
  int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (overwrite ? 0 : O_EXCL);
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) {
    return Status::IoError("cannot create " + path + ": " + std::strerror(errno));
  }
  std::string text = "public: " + runtime::ToHex(keys.public_key) +
                     "\nsecret: " + runtime::ToHex(keys.secret_key) + "\n";
  bool ok = ::fchmod(fd, 0600) == 0;
  size_t off = 0;
  while (ok && off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    ok = n > 0;
    off += n > 0 ? static_cast<size_t>(n) : 0;
  }
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    return Status::IoError("cannot write " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

int RunKeygen(const Invocation& inv, CtlIo& io) {
  const std::string curve_path = inv.key_prefix + ".curve";
  const std::string seal_path = inv.key_prefix + ".seal";
  if (!inv.overwrite) {
    for (const auto& path : {curve_path, seal_path}) {
      std::error_code ec;
      if (std::filesystem::exists(path, ec)) {
        return Fail(io,
                    Status::InvalidArgument(
                        "--out", path + " exists; keys are never replaced silently (use --force "
                                        "to replace it: the old key pair is then lost)"));
      }
    }
  }
  transport::CurveKeyPair curve = transport::GenerateCurveKeyPair();
  if (!transport::IsZ85Key(curve.public_z85) || !transport::IsZ85Key(curve.secret_z85)) {
    return Fail(io, Status::Internal("libzmq could not make a CURVE key pair (built without "
                                     "CURVE support?)"));
  }
  runtime::SealingKeyPair seal = runtime::GenerateSealingKeyPair();
  // New files are private from the first byte: transport::WriteKeyFile restricts them only after
  // writing.
  const mode_t old_mask = ::umask(077);
  Status s = transport::WriteKeyFile(curve_path, curve);
  if (s.ok()) {
    s = WriteSealFile(seal_path, seal, inv.overwrite);
  }
  ::umask(old_mask);
  if (!s.ok()) {
    return Fail(io, Status(s.code(), s.message(), "--out"));
  }
  const std::string seal_public = runtime::ToHex(seal.public_key);
  if (inv.json) {
    io.out << "{\"curve_file\":" << JsonString(curve_path)
           << ",\"seal_file\":" << JsonString(seal_path)
           << ",\"transport_public_key\":" << JsonString(curve.public_z85)
           << ",\"sealing_public_key\":" << JsonString(seal_public) << "}\n";
  } else {
    io.out << "wrote " << curve_path << " (CURVE transport key pair, mode 0600)\n"
           << "wrote " << seal_path << " (sealing key pair, mode 0600)\n"
           << "for the agency registry:\n"
           << "  transport_public_key: \"" << curve.public_z85 << "\"\n"
           << "  sealing_public_key: \"" << seal_public << "\"\n";
  }
  return kExitOk;
}

int RunKeysShow(const Invocation& inv, CtlIo& io) {
  std::vector<PublicKeyInfo> keys;
  for (const auto& f : inv.ops.files) {
    keys.push_back(ReadPublicKey(f, false));
  }
  if (!inv.ops.tree_head.empty()) {
    keys.push_back(ReadPublicKey(inv.ops.tree_head, true));
  }
  int rc = kExitOk;
  for (const auto& k : keys) {
    if (!k.error.empty()) {
      PrintError(io.err, k.file, k.error);
      rc = kExitUsage;
    }
  }
  if (rc != kExitOk) {
    return rc;
  }
  if (inv.ops.public_only) {
    io.out << "public: " << keys[0].public_key << "\n";
    return kExitOk;
  }
  if (inv.json) {
    io.out << "[";
    for (size_t i = 0; i < keys.size(); ++i) {
      io.out << (i ? "," : "") << "{\"file\":" << JsonString(keys[i].file)
             << ",\"kind\":" << JsonString(keys[i].kind)
             << ",\"public_key\":" << JsonString(keys[i].public_key) << "}";
    }
    io.out << "]\n";
    return kExitOk;
  }
  for (const auto& k : keys) {
    io.out << k.file << ": ";
    if (k.kind == "curve") {
      io.out << "CURVE transport key\n"
             << "  transport_public_key: \"" << k.public_key << "\"   (agency registry)\n"
             << "  broker_public_key: \"" << k.public_key
             << "\"      (node configs, when this is the broker's key)\n";
    } else if (k.kind == "sealing") {
      io.out << "sealing key\n"
             << "  sealing_public_key: \"" << k.public_key << "\"   (agency registry)\n";
    } else {
      io.out << "tree-head signing key (Ed25519)\n"
             << "  public key: " << k.public_key
             << "\n  (passage-verify-proof --public-key, passagectl audit --public-key)\n";
    }
  }
  return kExitOk;
}

int RunConfigCheck(const Invocation& inv, CtlIo& io) {
  ConfigCheckOptions o;
  o.root = inv.ops.root;
  o.registry = inv.ops.registry;
  ConfigCheckResult r = CheckConfigFiles(inv.ops.files, o);
  io.out << (inv.json ? ConfigCheckJson(r) : FormatConfigCheck(r));
  return r.errors() > 0 ? kExitUsage : kExitOk;
}

// `admin agency ...`: one BrokerAdminRequest on the broker's admin socket.
int RunBrokerAdmin(const Invocation& inv, CtlIo& io) {
  v1::BrokerAdminRequest req = inv.broker_admin;
  if (req.has_add_agency()) {
    auto text = ReadInput(inv.file, io.in);
    if (!text.ok()) {
      return Fail(io, Status(text.status().code(), text.status().message(), "--file"));
    }
    Status s = core::ParseConfigText(*text, inv.file, req.mutable_add_agency()->mutable_agency());
    if (!s.ok()) {
      return Fail(io, Status(s.code(), s.message(), "--file"));
    }
  }
  if (!inv.ops.keys_prefix.empty()) {
    PublicKeyInfo curve = ReadPublicKey(inv.ops.keys_prefix + ".curve", false);
    PublicKeyInfo seal = ReadPublicKey(inv.ops.keys_prefix + ".seal", false);
    for (const auto* k : {&curve, &seal}) {
      if (!k->error.empty()) {
        PrintError(io.err, k->file, k->error);
        return kExitUsage;
      }
    }
    req.mutable_rotate_key()->set_transport_public_key(curve.public_key);
    req.mutable_rotate_key()->set_sealing_public_key(seal.public_key);
  }
  const char* sudo_user = std::getenv("SUDO_USER");
  const passwd* pw = ::getpwuid(::getuid());
  req.set_operator_name(sudo_user != nullptr && *sudo_user != '\0' ? sudo_user
                        : pw != nullptr                           ? pw->pw_name
                                                                  : "uid " + std::to_string(::getuid()));
  auto r = CallSocket(inv.ops.broker_admin, req.SerializeAsString(), inv.timeout_ms, "broker");
  if (!r.ok()) {
    return Fail(io, r.status());
  }
  if (r->code() != v1::CONTROL_CODE_OK) {
    PrintError(io.err, r->field(), r->reason());
    return ExitCodeFor(r->code());
  }
  if (inv.json) {
    io.out << "{\"text\":" << JsonString(r->text()) << ",\"event_ids\":[";
    for (int i = 0; i < r->event_ids_size(); ++i) {
      io.out << (i ? "," : "") << JsonString(r->event_ids(i));
    }
    io.out << "]}\n";
  } else {
    io.out << r->text() << (r->text().empty() || r->text().back() == '\n' ? "" : "\n");
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// import-ctdc

class Progress {
 public:
  Progress(std::ostream& err, bool terminal, size_t total)
      : err_(err), terminal_(terminal), total_(total) {}

  void Update(size_t done, size_t imported, size_t refused) {
    if (total_ == 0) {
      return;
    }
    const size_t pct = done * 100 / total_;
    if (terminal_) {
      constexpr size_t kWidth = 30;
      const size_t filled = done * kWidth / total_;
      err_ << "\rimporting [" << std::string(filled, '#') << std::string(kWidth - filled, '.')
           << "] "
           << (pct < 10    ? "  "
               : pct < 100 ? " "
                           : "")
           << pct << "% " << done << "/" << total_ << "  imported " << imported << "  refused "
           << refused << std::flush;
      drawn_ = true;
      return;
    }
    const size_t tenth = done * 10 / total_;
    if (tenth > last_tenth_) {
      last_tenth_ = tenth;
      err_ << "import-ctdc: " << tenth * 10 << "% (" << done << "/" << total_ << "): " << imported
           << " imported, " << refused << " refused\n"
           << std::flush;
    }
  }

  void Finish() {
    if (drawn_) {
      err_ << "\n" << std::flush;
      drawn_ = false;
    }
  }

 private:
  std::ostream& err_;
  bool terminal_;
  size_t total_;
  size_t last_tenth_ = 0;
  bool drawn_ = false;
};

std::string LayoutName(ctdc::CtdcLayout layout) {
  switch (layout) {
    case ctdc::CtdcLayout::kGlobalKAnon:
      return "k-anonymised global dataset";
    case ctdc::CtdcLayout::kSynthetic:
      return "synthetic dataset";
    case ctdc::CtdcLayout::kOther:
      return "CTDC columns";
    default:
      return "not recognised";
  }
}

bool IsMinor(const v1::Profile& p) {
  return p.majority_at_identification() == v1::MAJORITY_STATUS_MINOR ||
         p.age_band() == v1::AGE_BAND_0_8 || p.age_band() == v1::AGE_BAND_9_17 ||
         (p.has_age_years() && p.age_years() < 18);
}

int RunImport(const Invocation& inv, CtlIo& io) {
  const ImportSettings& s = inv.import;
  std::ifstream file(s.file, std::ios::binary);
  if (!file) {
    return Fail(io, Status::InvalidArgument(
                        "FILE", s.file + " cannot be read: " + std::string(std::strerror(errno))));
  }
  ctdc::ImportResult csv = ctdc::ImportCtdc(file);
  if (csv.layout == ctdc::CtdcLayout::kUnknown) {
    std::string why = csv.errors.empty() ? "no CTDC columns found" : csv.errors[0].ToString();
    return Fail(io, Status::InvalidArgument("FILE", s.file + " is not a CTDC file: " + why));
  }
  size_t begin = std::min<size_t>(s.skip, csv.records.size());
  size_t end = csv.records.size();
  if (s.limit > 0) {
    end = std::min<size_t>(end, begin + s.limit);
  }
  const size_t total = end - begin;

  size_t imported = 0;
  size_t queued = 0;
  size_t refused = 0;
  size_t processed = 0;
  std::map<std::string, size_t> reasons;
  std::vector<std::string> case_ids;
  std::optional<Status> stopped;  // why the import ended early
  int first_failure_exit = kExitOk;
  Progress progress(io.err, io.stderr_is_terminal, total);
  progress.Update(0, 0, 0);

  for (size_t i = begin; i < end; ++i) {
    const ctdc::CtdcRecord& rec = csv.records[i];
    v1::ControlRequest req;
    req.set_json(false);
    req.set_session_token(inv.request.session_token());
    v1::IntakeRequest* in = req.mutable_intake();
    in->set_crime_type(rec.crime_type);
    *in->mutable_profile() = rec.profile;
    in->set_screening_tool("ctdc-import");
    for (v1::ConsentScope scope : s.consents) {
      auto* c = in->add_consents();
      c->set_scope(scope);
      c->set_given_by(IsMinor(rec.profile) ? v1::CONSENT_GIVER_GUARDIAN : v1::CONSENT_GIVER_SELF);
    }
    ApplyIntakeDefaults(in);
    auto resp = CallNode(inv.endpoint, req, inv.timeout_ms);
    if (!resp.ok()) {
      stopped = resp.status();
      if (first_failure_exit == kExitOk) {
        first_failure_exit = ExitCodeFor(resp.status());
      }
      break;
    }
    ++processed;
    if (resp->code() == v1::CONTROL_CODE_OK) {
      ++imported;
      for (const auto& id : resp->case_ids()) {
        case_ids.push_back(id);
      }
    } else if (resp->code() == v1::CONTROL_CODE_UNAVAILABLE) {
      ++queued;
      for (const auto& id : resp->case_ids()) {
        case_ids.push_back(id);
      }
      stopped = Status(StatusCode::kUnavailable,
                       "the broker is not answering; the last case is queued in the node's outbox. "
                       "Continue later with --skip " +
                           std::to_string(i + 1));
      if (first_failure_exit == kExitOk) {
        first_failure_exit = kExitUnavailable;
      }
      break;
    } else {
      ++refused;
      std::string key =
          resp->field().empty() ? resp->reason() : resp->field() + ": " + resp->reason();
      ++reasons[key];
      if (first_failure_exit == kExitOk) {
        first_failure_exit = ExitCodeFor(resp->code());
      }
      if (resp->field() == "command") {  // not an identification node: every record would fail
        stopped = Status(StatusCode::kInvalidArgument, resp->reason(), "--node");
        break;
      }
    }
    progress.Update(processed, imported, refused);
  }
  progress.Finish();

  std::vector<std::pair<std::string, size_t>> by_count(reasons.begin(), reasons.end());
  std::stable_sort(by_count.begin(), by_count.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (inv.json) {
    io.out << "{\"file\":" << JsonString(s.file)
           << ",\"layout\":" << JsonString(LayoutName(csv.layout))
           << ",\"records\":" << csv.records.size() << ",\"selected\":" << total
           << ",\"imported\":" << imported << ",\"queued\":" << queued << ",\"refused\":" << refused
           << ",\"refused_reasons\":{";
    for (size_t i = 0; i < by_count.size(); ++i) {
      io.out << (i ? "," : "") << JsonString(by_count[i].first) << ":" << by_count[i].second;
    }
    io.out << "},\"csv_rows_with_errors\":" << csv.rows_rejected << ",\"csv_errors\":[";
    for (size_t i = 0; i < csv.errors.size() && i < 20; ++i) {
      io.out << (i ? "," : "") << JsonString(csv.errors[i].ToString());
    }
    io.out << "],\"stopped\":" << (stopped ? JsonString(stopped->message()) : "null")
           << ",\"case_ids\":[";
    for (size_t i = 0; i < case_ids.size(); ++i) {
      io.out << (i ? "," : "") << "\"" << case_ids[i] << "\"";
    }
    io.out << "]}\n";
  } else {
    io.out << "import-ctdc: " << s.file << " (" << LayoutName(csv.layout)
           << "): " << csv.records.size() << " record(s)";
    if (total != csv.records.size()) {
      io.out << ", " << total << " selected";
    }
    io.out << "\n  imported              " << imported << "\n";
    if (queued > 0) {
      io.out << "  queued (broker away)  " << queued << "\n";
    }
    io.out << "  refused               " << refused << "\n";
    constexpr size_t kShownReasons = 10;
    for (size_t i = 0; i < by_count.size() && i < kShownReasons; ++i) {
      io.out << "    " << by_count[i].second << " x " << by_count[i].first << "\n";
    }
    if (by_count.size() > kShownReasons) {
      io.out << "    ... and " << by_count.size() - kShownReasons << " other reason(s)\n";
    }
    io.out << "  CSV rows with errors  " << csv.rows_rejected << "\n";
    constexpr size_t kShownErrors = 5;
    for (size_t i = 0; i < csv.errors.size() && i < kShownErrors; ++i) {
      io.out << "    " << csv.errors[i].ToString() << "\n";
    }
    if (csv.errors.size() > kShownErrors) {
      io.out << "    ... (" << csv.errors.size() - kShownErrors << " more; see --json)\n";
    }
    if (stopped) {
      io.out << "  stopped after " << processed << " of " << total << ": " << stopped->message()
             << "\n";
    }
  }
  if (imported + queued > 0) {
    return kExitOk;
  }
  if (total == 0) {
    if (csv.records.empty() && csv.rows_rejected > 0) {
      PrintError(io.err, "FILE", "nothing to import: every data row of " + s.file + " has errors");
      return kExitUsage;
    }
    return kExitOk;  // nothing selected: not a failure
  }
  if (stopped) {
    PrintError(io.err, stopped->field(), "nothing was imported: " + stopped->message());
  } else {
    PrintError(io.err, "",
               "nothing was imported: every intake was refused (" +
                   (by_count.empty() ? std::string("?") : by_count[0].first) + ")");
  }
  return first_failure_exit == kExitOk ? kExitInternal : first_failure_exit;
}

}  // namespace

int PrintJsonOrCsv(const Invocation& inv, const std::string& json, CtlIo& io) {
  if (!inv.csv) {
    io.out << json << "\n";
    return kExitOk;
  }
  auto csv = JsonListToCsv(json);
  if (!csv.ok()) {
    return Fail(io, csv.status());
  }
  io.out << *csv;
  return kExitOk;
}

void PrintError(std::ostream& err, std::string_view field, std::string_view reason) {
  std::string line = "passagectl: ";
  if (!field.empty()) {
    line += std::string(field) + ": ";
  }
  line += reason;
  for (char& c : line) {
    if (c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  while (!line.empty() && line.back() == ' ') {
    line.pop_back();
  }
  err << line << "\n" << std::flush;
}

// Reads a password: the first line of `file` ("-" = standard input), or asked on the terminal
// without echo.
Result<std::string> ReadPassword(const std::string& file, CtlIo& io, const std::string& prompt) {
  std::string pw;
  if (!file.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadInput(file, io.in));
    pw = text.substr(0, text.find('\n'));
    if (!pw.empty() && pw.back() == '\r') {
      pw.pop_back();
    }
    if (pw.empty()) {
      return Status::InvalidArgument("--password-file", "the first line is empty");
    }
    return pw;
  }
  if (!io.stdin_is_terminal) {
    return Status::InvalidArgument("--password-file", "required when standard input is not a "
                                                      "terminal (\"-\" reads it from standard "
                                                      "input)");
  }
  io.err << prompt << std::flush;
  termios old {};
  const bool tty = ::tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::getline(io.in, pw);
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
  }
  io.err << "\n";
  return pw;
}

// The name and date of birth come from the terminal or standard input, never from arguments.
int RunFindPerson(Invocation inv, CtlIo& io) {
  auto* f = inv.request.mutable_find();
  std::string name;
  std::string dob;
  if (io.stdin_is_terminal) {
    io.err << "name (given and family, any order): " << std::flush;
  }
  std::getline(io.in, name);
  if (io.stdin_is_terminal) {
    io.err << "date of birth (YYYY-MM-DD, empty when unknown): " << std::flush;
  }
  std::getline(io.in, dob);
  f->set_name(Trim(name));
  f->set_date_of_birth(Trim(dob));
  if (f->name().empty()) {
    return Fail(io, Status::InvalidArgument("name", "give the person's name on the first line"));
  }
  return CallAndReport(inv, inv.request, io);
}

int RunLogin(Invocation inv, CtlIo& io) {
  auto* login = inv.request.mutable_login();
  if (login->login().empty()) {
    if (!io.stdin_is_terminal) {
      return Fail(io, Status::InvalidArgument("LOGIN", "give your login (passagectl login NAME)"));
    }
    io.err << "login: " << std::flush;
    std::string name;
    std::getline(io.in, name);
    login->set_login(Trim(name));
  }
  auto pw = ReadPassword(inv.file, io, "password for " + login->login() + ": ");
  if (!pw.ok()) {
    return Fail(io, pw.status());
  }
  login->set_password(*pw);
  inv.request.clear_session_token();
  auto resp = CallNode(inv.endpoint, inv.request, inv.timeout_ms);
  if (!resp.ok()) {
    return Fail(io, resp.status());
  }
  if (resp->code() == v1::CONTROL_CODE_OK) {
    Status saved = SaveSession(SessionPath(io.session_dir, inv.endpoint), resp->session_token());
    if (!saved.ok()) {
      return Fail(io, saved);
    }
  }
  return Report(inv, *resp, io);
}

int RunLogout(const Invocation& inv, CtlIo& io) {
  const std::string path = SessionPath(io.session_dir, inv.endpoint);
  if (inv.request.session_token().empty()) {
    io.out << (inv.json ? "{}" : "not signed in") << "\n";
    return kExitOk;
  }
  auto resp = CallNode(inv.endpoint, inv.request, inv.timeout_ms);
  ::unlink(path.c_str());  // the local copy goes whatever the node said
  if (!resp.ok()) {
    return Fail(io, resp.status());
  }
  if (resp->code() == v1::CONTROL_CODE_UNAUTHENTICATED) {
    io.out << (inv.json ? "{}" : "signed out (the session had already ended)") << "\n";
    return kExitOk;
  }
  return Report(inv, *resp, io);
}

int RunPasswd(Invocation inv, CtlIo& io) {
  std::string current, next;
  if (!inv.file.empty()) {
    auto text = ReadInput(inv.file, io.in);
    if (!text.ok()) {
      return Fail(io, text.status());
    }
    std::istringstream lines(*text);
    std::getline(lines, current);
    std::getline(lines, next);
    for (std::string* s : {&current, &next}) {
      if (!s->empty() && s->back() == '\r') s->pop_back();
    }
    if (current.empty() || next.empty()) {
      return Fail(io, Status::InvalidArgument("--password-file", "give the current password on "
                                                                 "the first line and the new one "
                                                                 "on the second"));
    }
  } else {
    auto c = ReadPassword("", io, "current password: ");
    auto n = c.ok() ? ReadPassword("", io, "new password: ") : c;
    auto again = n.ok() ? ReadPassword("", io, "new password again: ") : n;
    if (!again.ok()) {
      return Fail(io, again.status());
    }
    if (*n != *again) {
      return Fail(io, Status::InvalidArgument("new_password", "the two entries differ"));
    }
    current = *c;
    next = *n;
  }
  inv.request.mutable_passwd()->set_current_password(current);
  inv.request.mutable_passwd()->set_new_password(next);
  return CallAndReport(inv, inv.request, io);
}

int RunStaff(Invocation inv, CtlIo& io) {
  if (!inv.file.empty()) {
    auto pw = ReadPassword(inv.file, io, "");
    if (!pw.ok()) {
      return Fail(io, pw.status());
    }
    inv.request.mutable_staff()->set_password(*pw);
  }
  return CallAndReport(inv, inv.request, io);
}

int RunPassagectl(const std::vector<std::string>& args, CtlIo& io) {
  auto parsed = ParseArgs(args, io.env_node);
  if (!parsed.ok()) {
    PrintError(io.err, parsed.status().field(), parsed.status().message());
    return kExitUsage;
  }
  Invocation inv = std::move(parsed).value();
  if (!inv.endpoint.empty() && inv.action != Action::kLogin) {
    if (io.session_dir.empty()) {
      const char* home = std::getenv("HOME");
      io.session_dir = std::string(home != nullptr ? home : ".") + "/.passage/sessions";
    }
    auto token = LoadSession(SessionPath(io.session_dir, inv.endpoint));
    if (!token.ok()) {
      return Fail(io, token.status());
    }
    inv.request.set_session_token(*token);
  }
  switch (inv.action) {
    case Action::kLogin:
      if (io.session_dir.empty()) {
        const char* home = std::getenv("HOME");
        io.session_dir = std::string(home != nullptr ? home : ".") + "/.passage/sessions";
      }
      return RunLogin(inv, io);
    case Action::kLogout:
      return RunLogout(inv, io);
    case Action::kPasswd:
      return RunPasswd(inv, io);
    case Action::kHelp:
      io.out << inv.help;
      return kExitOk;
    case Action::kIntake:
      return RunIntake(inv, io);
    case Action::kFindPerson:
      return RunFindPerson(inv, io);
    case Action::kResume:
      return RunResume(inv, io);
    case Action::kImportCtdc:
      return RunImport(inv, io);
    case Action::kKeygen:
      return RunKeygen(inv, io);
    case Action::kKeysShow:
      return RunKeysShow(inv, io);
    case Action::kConfigCheck:
      return RunConfigCheck(inv, io);
    case Action::kBrokerAdmin:
      return RunBrokerAdmin(inv, io);
    case Action::kSuspect:
      return RunSuspect(inv, io);
    case Action::kNoteAdd:
      return RunNoteAdd(inv, io);
    case Action::kDocumentAttach:
      return RunDocumentAttach(inv, io);
    case Action::kDocumentOpen:
      return RunDocumentOpen(inv, io);
    case Action::kFhir:
      return RunFhir(inv, io);
    case Action::kAudit:
      return RunAudit(inv, io);
    case Action::kReplay:
      return RunReplay(inv, io);
    case Action::kAdmin:
      return RunAdmin(inv, io);
    case Action::kCall:
      if (inv.request.has_publish() && !inv.file.empty()) {
        return RunPublish(inv, io);
      }
      if (inv.request.has_staff()) {
        return RunStaff(inv, io);
      }
      return CallAndReport(inv, inv.request, io);
  }
  return kExitInternal;
}

}  // namespace passage::ctl
