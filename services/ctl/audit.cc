// passagectl audit: verify, proof, consistency, heads, access (docs/audit.md).

#include "services/ctl/audit.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "broker/audit/verifier.h"
#include "broker/merkle/merkle.h"
#include "broker/merkle/tree_head.h"
#include "core/codes.h"
#include "passage/v1/events.pb.h"
#include "passage/v1/wire.pb.h"
#include "services/ctl/audit_common.h"
#include "services/ctl/cli.h"
#include "services/ctl/control_client.h"
#include "services/ctl/ctl.h"

namespace passage::ctl {
namespace internal {
namespace {

namespace v1 = passage::v1;
using merkle::Hash;
constexpr std::string_view kProofFormat = "passage-inclusion-proof/1";

// ---------------------------------------------------------------------------------------------
// audit verify

// Which tree-head key the audit trusted, and why.
std::string KeySource(const AuditSettings& a, const std::optional<log::SignedHead>& against) {
  if (!a.public_key.empty()) {
    return Hex(a.public_key) + " (--public-key)";
  }
  if (against) {
    return Hex(against->public_key) + " (the key of the head in " + a.sth_file + ")";
  }
  return "recorded in the log itself (trust on first use: compare with an agency's head)";
}

int AuditVerify(const Invocation& inv, CtlIo& io) {
  const AuditSettings& a = inv.audit;
  CTL_ASSIGN_OR_FAIL(const std::string dir, ResolveLogDir(a.log, "--log"));
  NoteIfLive(dir, io);
  audit::VerifyOptions o;
  o.path = dir;
  o.trusted_public_key = a.public_key;
  o.check_indexes = a.check_indexes;
  std::optional<log::SignedHead> against;
  if (!a.sth_file.empty()) {
    CTL_ASSIGN_OR_FAIL(against, LoadHeadFile(a.sth_file, "--against-sth"));
    if (!a.public_key.empty() && against->public_key != a.public_key) {
      return Fail(io, Damaged("--against-sth", "the head in " + a.sth_file + " is signed by key " +
                                                   Hex(against->public_key) +
                                                   ", not by the key given with --public-key"));
    }
    if (Status s = merkle::VerifyTreeHead(against->head, against->signature, against->public_key);
        !s.ok()) {
      return Fail(io, Damaged("--against-sth", "the head in " + a.sth_file +
                                                   " is not validly signed: " + s.message()));
    }
    o.against = against;
  }
  bool drawn = false;
  if (io.stderr_is_terminal) {
    o.progress_every = 20'000;
    o.progress = [&](const audit::VerifyProgress& p) {
      io.err << "\rverifying: " << p.events_checked << "/" << p.expected_events << " events, "
             << p.heads_checked << " heads" << std::flush;
      drawn = true;
    };
  }
  auto report = audit::VerifyLog(o);
  if (drawn) {
    io.err << "\n";
  }
  CTL_FAIL_IF_ERROR(report.status());
  const audit::VerifyReport& r = *report;
  if (inv.json) {
    io.out << "{\"log\":" << Quote(dir) << ",\"ok\":" << (r.ok() ? "true" : "false")
           << ",\"events_checked\":" << r.events_checked << ",\"heads_checked\":" << r.heads_checked
           << ",\"final_size\":" << r.final_size
           << ",\"final_root\":" << Quote(merkle::ToHex(r.final_root))
           << ",\"key_pinned\":" << (r.key_pinned ? "true" : "false")
           << ",\"key_source\":" << Quote(KeySource(a, against));
    if (against) {
      io.out << ",\"against\":{\"tree_size\":" << against->head.tree_size
             << ",\"root\":" << Quote(merkle::ToHex(against->head.root)) << "}";
    }
    io.out << ",\"kind\":" << Quote(KindToken(r.kind)) << ",\"first_bad_seq\":" << r.first_bad_seq
           << ",\"reason\":" << Quote(r.reason) << ",\"open_error\":" << Quote(r.open_error)
           << "}\n";
  } else {
    io.out << "log         " << dir << "\n"
           << "events      " << r.events_checked << " checked\n"
           << "heads       " << r.heads_checked << " signed tree heads checked\n"
           << "size        " << r.final_size << "\n"
           << "root        " << merkle::ToHex(r.final_root) << "\n"
           << "key         " << KeySource(a, against) << "\n";
    if (against) {
      io.out << "against     " << HeadLine(*against) << " (" << a.sth_file << ")"
             << (r.ok() ? ": contained" : "") << "\n";
    }
    if (!r.open_error.empty()) {
      io.out << "open        EventLog refused the directory (" << r.open_error
             << "); it was read directly\n";
    }
    io.out << "result      " << (r.ok() ? "ok" : "FAILED: " + audit::ToString(r)) << "\n";
  }
  if (r.ok()) {
    return kExitOk;
  }
  std::string field = r.first_bad_seq != 0 ? "seq " + std::to_string(r.first_bad_seq) : "--log";
  PrintError(io.err, field, std::string(audit::FailureKindName(r.kind)) + ": " + r.reason);
  return kExitVerifyFailed;
}

// ---------------------------------------------------------------------------------------------
// audit proof

int AuditProof(const Invocation& inv, CtlIo& io) {
  const AuditSettings& a = inv.audit;
  CTL_ASSIGN_OR_FAIL(const std::string dir, ResolveLogDir(a.log, "--log"));
  NoteIfLive(dir, io);
  CTL_ASSIGN_OR_FAIL(auto log, OpenLog(dir));
  if (a.seq > log->LastSeq()) {
    return Fail(io,
                Status(StatusCode::kNotFound,
                       "the log holds " + std::to_string(log->LastSeq()) + " entries", "--seq"));
  }
  log::SignedHead head = log->LatestHead();
  if (a.size != 0) {
    auto found = HeadOfSize(*log, a.size);
    if (!found.ok()) {
      return Fail(io, Status(found.status().code(), found.status().message(), "--size"));
    }
    head = *found;
  }
  const uint64_t size = head.head.tree_size;
  CTL_ASSIGN_OR_FAIL(std::string bytes, log->Read(a.seq));
  const Hash leaf = merkle::LeafHash(bytes);
  CTL_ASSIGN_OR_FAIL(std::vector<Hash> path, log->InclusionProof(a.seq, size));
  if (Status s = merkle::VerifyTreeHead(head.head, head.signature, head.public_key); !s.ok()) {
    return Fail(io, Damaged("--size", "the log's signed tree head of size " + std::to_string(size) +
                                          " is not validly signed: " + s.message() +
                                          " (run passagectl audit verify)"));
  }
  if (Status s = merkle::VerifyInclusion(leaf, a.seq - 1, size, path, head.head.root); !s.ok()) {
    return Fail(io, Damaged("seq " + std::to_string(a.seq),
                            "the log does not prove its own entry against its head of size " +
                                std::to_string(size) + ": " + s.message() +
                                " (run passagectl audit verify)"));
  }
  std::string json =
      "{\"format\":" + Quote(kProofFormat) + ",\"seq\":" + std::to_string(a.seq) +
      ",\"leaf_index\":" + std::to_string(a.seq - 1) + ",\"tree_size\":" + std::to_string(size) +
      ",\"leaf_hash\":" + Quote(merkle::ToHex(leaf)) + ",\"audit_path\":" + HashList(path) +
      ",\"root\":" + Quote(merkle::ToHex(head.head.root)) +
      ",\"tree_head\":" + SignedHeadToJson(head) + "}";
  if (!a.envelope_out.empty()) {
    CTL_FAIL_IF_ERROR(WriteFileDurably(a.envelope_out, bytes, "--envelope"));
  }
  if (a.out.empty()) {
    io.out << json << "\n";
    return kExitOk;
  }
  CTL_FAIL_IF_ERROR(WriteFileDurably(a.out, json + "\n", "--out"));
  if (inv.json) {
    io.out << "{\"out\":" << Quote(a.out) << ",\"seq\":" << a.seq << ",\"tree_size\":" << size
           << ",\"root\":" << Quote(merkle::ToHex(head.head.root)) << "}\n";
  } else {
    io.out << "inclusion proof of seq " << a.seq << " in the signed tree of " << HeadLine(head)
           << "\nwrote " << a.out << "\n";
    if (!a.envelope_out.empty()) {
      io.out << "wrote " << a.envelope_out << " (the entry's stored bytes, " << bytes.size()
             << " bytes)\n";
    }
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// audit consistency

struct ConsistencyOutcome {
  bool consistent = false;
  std::string kind;  // on failure: truncated, fork, modified, bad_signature
  std::string reason;
  log::SignedHead current;
  std::vector<Hash> proof;
  bool recomputed = false;
};

int PrintConsistency(const Invocation& inv, CtlIo& io, const log::SignedHead& head,
                     const ConsistencyOutcome& c, std::string_view source) {
  const AuditSettings& a = inv.audit;
  if (inv.json) {
    io.out << "{\"consistent\":" << (c.consistent ? "true" : "false")
           << ",\"source\":" << Quote(source) << ",\"first_size\":" << head.head.tree_size
           << ",\"first_root\":" << Quote(merkle::ToHex(head.head.root))
           << ",\"second_size\":" << c.current.head.tree_size
           << ",\"second_root\":" << Quote(merkle::ToHex(c.current.head.root))
           << ",\"second_timestamp_ms\":" << c.current.head.timestamp_ms
           << ",\"proof\":" << HashList(c.proof)
           << ",\"recomputed\":" << (c.recomputed ? "true" : "false");
    if (!c.consistent) {
      io.out << ",\"kind\":" << Quote(c.kind) << ",\"reason\":" << Quote(c.reason);
    }
    io.out << "}\n";
  } else {
    io.out << "head        " << HeadLine(head) << " (" << a.sth_file << ")\n"
           << "log         " << (c.current.signature.empty() ? "-" : HeadLine(c.current)) << " ("
           << source << ")\n"
           << "proof       " << c.proof.size() << " hash(es)\n";
    if (c.recomputed) {
      io.out << "recomputed  both roots from the stored entries\n";
    }
    io.out << "result      "
           << (c.consistent ? "consistent: the log extends the head"
                            : "NOT CONSISTENT (" + c.kind + "): " + c.reason)
           << "\n";
  }
  if (c.consistent) {
    return kExitOk;
  }
  PrintError(io.err, "--sth", c.kind + ": " + c.reason);
  return kExitVerifyFailed;
}

// Checks `current` (the log's or the broker's head) and the proof between the two heads.
void CheckProof(const log::SignedHead& head, const std::string& trusted, ConsistencyOutcome* c) {
  const uint64_t m = head.head.tree_size;
  const uint64_t n = c->current.head.tree_size;
  if (c->current.public_key != trusted) {
    c->kind = "bad_signature";
    c->reason = "the log's tree heads are signed by key " + Hex(c->current.public_key) +
                ", not by the trusted key " + Hex(trusted) +
                ": another log, or a history re-signed with another key";
    return;
  }
  if (Status s =
          merkle::VerifyTreeHead(c->current.head, c->current.signature, c->current.public_key);
      !s.ok()) {
    c->kind = "bad_signature";
    c->reason = "the log's current tree head is not validly signed: " + s.message();
    return;
  }
  if (m > n) {
    c->kind = "truncated";
    c->reason = "the log holds " + std::to_string(n) + " entries but the head covers " +
                std::to_string(m) + ": the history was truncated or rolled back";
    return;
  }
  if (Status s = merkle::VerifyConsistency(m, n, head.head.root, c->current.head.root, c->proof);
      !s.ok()) {
    c->kind = "fork";
    c->reason = "the log's first " + std::to_string(m) +
                " entries are not the ones the head signed (history rewritten): " + s.message();
    return;
  }
  c->consistent = true;
}

int ConsistencyOffline(const Invocation& inv, CtlIo& io, const log::SignedHead& head,
                       const std::string& trusted) {
  CTL_ASSIGN_OR_FAIL(const std::string dir, ResolveLogDir(inv.audit.log, "--log"));
  NoteIfLive(dir, io);
  CTL_ASSIGN_OR_FAIL(auto log, OpenLog(dir));
  ConsistencyOutcome c;
  c.current = log->LatestHead();
  const uint64_t m = head.head.tree_size;
  const uint64_t n = c.current.head.tree_size;
  if (m <= n) {
    CTL_ASSIGN_OR_FAIL(c.proof, log->ConsistencyProof(m, n));
  }
  CheckProof(head, trusted, &c);
  if (c.consistent) {
    // The proof came from the log's stored tree; recompute both roots from the entries too, so
    // that entries edited under an intact tree are caught here as well.
    merkle::CompactRange range;
    std::optional<Hash> root_m = m == 0 ? std::optional<Hash>(merkle::EmptyRoot()) : std::nullopt;
    Status bad;
    Status scan = log->Scan(0, n, [&](uint64_t seq, std::string_view bytes) {
      range.Append(merkle::LeafHash(bytes), [](uint32_t, uint64_t, const Hash&) {});
      if (seq == m) {
        root_m = range.Root();
      }
      return true;
    });
    c.recomputed = true;
    if (!scan.ok()) {
      c.consistent = false;
      c.kind = "modified";
      c.reason = "the entries cannot be read back: " + scan.message();
    } else if (root_m != head.head.root) {
      c.consistent = false;
      c.kind = "fork";
      c.reason = "the stored entries 1.." + std::to_string(m) +
                 " do not hash to the head's root: the history was rewritten";
    } else if (range.Root() != c.current.head.root) {
      c.consistent = false;
      c.kind = "modified";
      c.reason =
          "the stored entries do not hash to the log's own latest root (run passagectl "
          "audit verify)";
    }
  }
  return PrintConsistency(inv, io, head, c, dir);
}

Result<v1::Proof> AskProof(const Invocation& inv, uint64_t first_size, v1::ControlResponse* resp) {
  v1::ControlRequest req = inv.request;
  req.mutable_consistency()->set_first_size(first_size);
  ASSIGN_OR_RETURN(*resp, CallNode(inv.endpoint, req, inv.timeout_ms));
  v1::Proof proof;
  if (resp->code() != v1::CONTROL_CODE_OK) {
    return proof;
  }
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(resp->json(), &proof, opts).ok()) {
    return Status::Internal("the node's answer is not a passage.v1.Proof in JSON");
  }
  return proof;
}

int ConsistencyOnline(const Invocation& inv, CtlIo& io, const log::SignedHead& head,
                      const std::string& trusted) {
  const uint64_t m = head.head.tree_size;
  v1::ControlResponse resp;
  CTL_ASSIGN_OR_FAIL(v1::Proof proof, AskProof(inv, m, &resp));
  ConsistencyOutcome c;
  if (resp.code() != v1::CONTROL_CODE_OK) {
    // The broker refuses a proof from a size beyond its own: ask for its current head alone.
    v1::ControlResponse now;
    auto current = AskProof(inv, 0, &now);
    if (!current.ok() || now.code() != v1::CONTROL_CODE_OK ||
        current->tree_head().tree_size() >= m) {
      PrintError(io.err, resp.field(), resp.reason().empty() ? "the node refused" : resp.reason());
      return ExitCodeFor(resp.code());
    }
    c.current = FromWire(current->tree_head());
    CheckProof(head, trusted, &c);  // reports the truncation (or a bad key first)
    return PrintConsistency(inv, io, head, c, "broker via " + inv.endpoint);
  }
  c.current = FromWire(proof.tree_head());
  if (proof.tree_head().root_hash().size() != 32 || proof.first_size() != m ||
      proof.tree_size() != c.current.head.tree_size) {
    return Fail(io, Status::Internal("the broker's proof does not match the request (first size " +
                                     std::to_string(proof.first_size()) + ", tree size " +
                                     std::to_string(proof.tree_size()) + ")"));
  }
  for (const auto& h : proof.hashes()) {
    auto parsed = merkle::HashFromBytes(h, "proof.hashes");
    if (!parsed.ok()) {
      return Fail(io, Status::Internal("the broker's proof holds a hash that is not 32 bytes"));
    }
    c.proof.push_back(*parsed);
  }
  CheckProof(head, trusted, &c);
  return PrintConsistency(inv, io, head, c, "broker via " + inv.endpoint);
}

int AuditConsistency(const Invocation& inv, CtlIo& io) {
  const AuditSettings& a = inv.audit;
  CTL_ASSIGN_OR_FAIL(const log::SignedHead head, LoadHeadFile(a.sth_file, "--sth"));
  const std::string trusted = a.public_key.empty() ? head.public_key : a.public_key;
  if (head.public_key != trusted) {
    return Fail(io, Damaged("--sth", "the head in " + a.sth_file + " is signed by key " +
                                         Hex(head.public_key) +
                                         ", not by the key given with --public-key"));
  }
  if (Status s = merkle::VerifyTreeHead(head.head, head.signature, head.public_key); !s.ok()) {
    return Fail(io, Damaged("--sth", "the head in " + a.sth_file +
                                         " is not validly signed: " + s.message()));
  }
  return a.log.empty() ? ConsistencyOnline(inv, io, head, trusted)
                       : ConsistencyOffline(inv, io, head, trusted);
}

// ---------------------------------------------------------------------------------------------
// audit heads

int AuditHeads(const Invocation& inv, CtlIo& io) {
  const AuditSettings& a = inv.audit;
  log::SignedHead head;
  std::string source;
  if (!a.log.empty()) {
    CTL_ASSIGN_OR_FAIL(const std::string dir, ResolveLogDir(a.log, "--log"));
    NoteIfLive(dir, io);
    CTL_ASSIGN_OR_FAIL(auto log, OpenLog(dir));
    head = log->LatestHead();
    if (a.size != 0) {
      auto found = HeadOfSize(*log, a.size);
      if (!found.ok()) {
        return Fail(io, Status(found.status().code(), found.status().message(), "--size"));
      }
      head = *found;
    }
    source = dir;
  } else {
    CTL_ASSIGN_OR_FAIL(v1::ControlResponse resp,
                       CallNode(inv.endpoint, inv.request, inv.timeout_ms));
    if (resp.code() != v1::CONTROL_CODE_OK) {
      PrintError(io.err, resp.field(), resp.reason().empty() ? "the node refused" : resp.reason());
      return ExitCodeFor(resp.code());
    }
    CTL_ASSIGN_OR_FAIL(head, ParseSignedHeadJson(resp.json(), "the node's answer"));
    source = "node " + inv.endpoint;
  }
  if (Status s = merkle::VerifyTreeHead(head.head, head.signature, head.public_key); !s.ok()) {
    return Fail(io, Damaged("", "the signed tree head from " + source +
                                    " is not validly signed: " + s.message()));
  }
  const std::string json = SignedHeadToJson(head);
  if (a.out.empty()) {
    io.out << json << "\n";
    return kExitOk;
  }
  CTL_FAIL_IF_ERROR(WriteFileDurably(a.out, json + "\n", "--out"));
  if (inv.json) {
    io.out << "{\"out\":" << Quote(a.out) << ",\"tree_head\":" << json << "}\n";
  } else {
    io.out << "signed tree head of " << HeadLine(head) << " (signature verified)\nwrote " << a.out
           << "\n";
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// audit access

struct AccessLine {
  uint64_t seq = 0;
  int64_t at_ms = 0;
  int64_t occurred_at_ms = 0;
  std::string kind;  // read, refused_read, referral_sent, received_referral
  std::string agency;
  std::vector<std::string> sections;
  std::string purpose;
  std::string actor_user;
  std::string referral_id;
  std::string recorded_by;
};

std::vector<std::string> SectionNames(const google::protobuf::RepeatedField<int>& sections) {
  std::vector<std::string> out;
  for (int s : sections) {
    out.push_back(core::ShortEnumName(v1::DataSection_descriptor(), s));
  }
  return out;
}

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    out += (i ? std::string(sep) : "") + items[i];
  }
  return out;
}

int AuditAccess(const Invocation& inv, CtlIo& io) {
  const AuditSettings& a = inv.audit;
  CTL_ASSIGN_OR_FAIL(const std::string dir, ResolveLogDir(a.log, "--log"));
  NoteIfLive(dir, io);
  CTL_ASSIGN_OR_FAIL(auto log, OpenLog(dir));
  CTL_ASSIGN_OR_FAIL(std::vector<uint64_t> seqs, log->CaseEvents(a.case_id, 0, UINT64_MAX));
  if (seqs.empty()) {
    return Fail(io, Status(StatusCode::kNotFound, "no events of case " + a.case_id + " in " + dir,
                           "CASE_ID"));
  }
  std::map<std::string, std::vector<std::string>> scope_of;  // referral id -> data scope
  std::vector<AccessLine> lines;
  size_t reads = 0;
  size_t received = 0;
  size_t refused = 0;
  for (uint64_t seq : seqs) {
    CTL_ASSIGN_OR_FAIL(std::string bytes, log->Read(seq));
    v1::Envelope env;
    v1::Event e;
    if (!env.ParseFromString(bytes) || !e.ParseFromString(env.event())) {
      return Fail(io, Damaged("seq " + std::to_string(seq),
                              "the entry does not parse (run passagectl audit verify)"));
    }
    AccessLine l;
    l.seq = seq;
    l.at_ms = env.appended_at_ms();
    l.occurred_at_ms = e.occurred_at_ms();
    if (env.producer() != e.actor_agency()) {
      l.recorded_by = env.producer();
    }
    if (e.has_record_accessed()) {
      const auto& ra = e.record_accessed();
      l.kind = ra.refused() ? "refused_read" : "read";
      l.agency = e.actor_agency();
      l.sections = SectionNames(ra.sections());
      l.purpose = ra.purpose();
      l.actor_user = ra.actor_user().empty() ? e.actor_user() : ra.actor_user();
      if (ra.refused()) {
        l.purpose = ra.refusal_reason();
        ++refused;
      } else {
        ++reads;
      }
    } else if (e.has_referral_sent()) {
      const auto& r = e.referral_sent().referral();
      scope_of[r.referral_id()] = SectionNames(r.data_scope());
      l.kind = "referral_sent";
      l.agency = r.to_agency();
      l.sections = scope_of[r.referral_id()];
      l.referral_id = r.referral_id();
      l.purpose = core::ShortEnumName(v1::ServiceType_descriptor(), r.service());
      l.actor_user = e.actor_user();
    } else if (e.has_referral_transition() &&
               e.referral_transition().to() == v1::REFERRAL_STATUS_RECEIVED) {
      const auto& t = e.referral_transition();
      l.kind = "received_referral";
      l.agency = e.actor_agency();
      l.referral_id = t.referral_id();
      l.sections = scope_of[t.referral_id()];
      l.actor_user = e.actor_user();
      ++received;
    } else {
      continue;
    }
    lines.push_back(std::move(l));
  }
  if (inv.json) {
    std::ostringstream json;
    json << "{\"case_id\":" << Quote(a.case_id) << ",\"reads\":" << reads
           << ",\"refused_reads\":" << refused
           << ",\"referrals_received\":" << received << ",\"entries\":[";
    for (size_t i = 0; i < lines.size(); ++i) {
      const AccessLine& l = lines[i];
      json << (i ? "," : "") << "{\"seq\":" << l.seq << ",\"at_ms\":" << l.at_ms
             << ",\"at\":" << Quote(core::FormatUtcMs(l.at_ms))
             << ",\"occurred_at_ms\":" << l.occurred_at_ms << ",\"kind\":" << Quote(l.kind)
             << ",\"agency\":" << Quote(l.agency) << ",\"sections\":[";
      for (size_t j = 0; j < l.sections.size(); ++j) {
        json << (j ? "," : "") << Quote(l.sections[j]);
      }
      json << "],\"purpose\":" << Quote(l.purpose) << ",\"actor_user\":" << Quote(l.actor_user)
             << ",\"referral_id\":" << Quote(l.referral_id)
             << ",\"recorded_by\":" << Quote(l.recorded_by) << "}";
    }
    json << "]}";
    return PrintJsonOrCsv(inv, json.str(), io);
  }
  io.out << "access to case " << a.case_id << " (" << dir << ")\n";
  io.out << "WHEN (UTC)            SEQ       AGENCY                    WHAT\n";
  for (const AccessLine& l : lines) {
    std::string what;
    if (l.kind == "read") {
      what = "read " + Join(l.sections, ",") + "  purpose \"" + l.purpose + "\"";
      if (!l.actor_user.empty()) {
        what += "  user " + l.actor_user;
      }
      if (!l.recorded_by.empty()) {
        what += "  (recorded by " + l.recorded_by + ")";
      }
    } else if (l.kind == "refused_read") {
      what = "was REFUSED reading " + Join(l.sections, ",") + ": " + l.purpose +
             " (nothing shown)";
      if (!l.actor_user.empty()) {
        what += "  user " + l.actor_user;
      }
    } else if (l.kind == "referral_sent") {
      what = "was sent referral " + l.referral_id + " (" + l.purpose + "; may read " +
             Join(l.sections, ",") + " once accepted)";
    } else {
      what = "received referral " + l.referral_id + " (" + Join(l.sections, ",") + ")";
    }
    char head[96];
    std::snprintf(head, sizeof(head), "%-21s %-9llu %-25s ", core::FormatUtcMs(l.at_ms).c_str(),
                  static_cast<unsigned long long>(l.seq), l.agency.c_str());
    io.out << head << what << "\n";
  }
  io.out << reads << " read(s), " << refused << " refused attempt(s), " << received
         << " referral(s) received\n";
  return kExitOk;
}

}  // namespace
}  // namespace internal

int RunAudit(const Invocation& inv, CtlIo& io) {
  if (inv.command == "audit verify") {
    return internal::AuditVerify(inv, io);
  }
  if (inv.command == "audit proof") {
    return internal::AuditProof(inv, io);
  }
  if (inv.command == "audit consistency") {
    return internal::AuditConsistency(inv, io);
  }
  if (inv.command == "audit access") {
    return internal::AuditAccess(inv, io);
  }
  if (inv.command == "audit heads") {
    return internal::AuditHeads(inv, io);
  }
  PrintError(io.err, "", "unknown command " + inv.command);
  return kExitUsage;
}

}  // namespace passage::ctl
