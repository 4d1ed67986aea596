// passagectl replay: the state of cases, journeys and statistics as of a past point.

#include <google/protobuf/util/json_util.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "broker/merkle/merkle.h"
#include "core/agency_directory.h"
#include "core/case_projection.h"
#include "core/codes.h"
#include "core/text_proto.h"
#include "passage/v1/config.pb.h"
#include "passage/v1/events.pb.h"
#include "services/ctl/audit.h"
#include "services/ctl/audit_common.h"
#include "services/ctl/cli.h"
#include "services/ctl/ctl.h"
#include "services/node/render.h"

namespace passage::ctl {
namespace internal {
namespace {

namespace v1 = passage::v1;
using merkle::Hash;
constexpr std::string_view kDigestDomain = "passage-replay/1";

// ---------------------------------------------------------------------------------------------
// replay

int RunReplayImpl(const Invocation& inv, CtlIo& io) {
  const AuditSettings& a = inv.audit;
  CTL_ASSIGN_OR_FAIL(const std::string dir, ResolveLogDir(a.log, "--log"));
  NoteIfLive(dir, io);
  core::InMemoryAgencyDirectory directory;
  if (!a.registry.empty()) {
    CTL_ASSIGN_OR_FAIL(std::string text, ReadWholeFile(a.registry, "--registry"));
    v1::AgencyRegistry registry;
    CTL_FAIL_IF_ERROR(core::ParseConfigText(text, a.registry, &registry));
    CTL_ASSIGN_OR_FAIL(directory, core::InMemoryAgencyDirectory::FromRegistry(registry));
  }
  CTL_ASSIGN_OR_FAIL(auto log, OpenLog(dir));
  const uint64_t last = log->LastSeq();
  uint64_t limit = last;
  if (a.until_seq) {
    if (*a.until_seq > last) {
      return Fail(io, Status::InvalidArgument(
                          "--until", "the log holds only " + std::to_string(last) + " entries"));
    }
    limit = *a.until_seq;
  }
  std::map<std::string, core::CaseProjection> cases;
  std::vector<std::pair<v1::Envelope, v1::Event>> journey;
  merkle::CompactRange range;
  uint64_t size = 0;
  int64_t last_appended_ms = 0;
  Status bad;
  Status scan = log->Scan(0, limit, [&](uint64_t seq, std::string_view bytes) {
    v1::Envelope env;
    v1::Event e;
    if (!env.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
        !e.ParseFromString(env.event())) {
      bad = Damaged("seq " + std::to_string(seq),
                    "the entry does not parse (run passagectl audit verify)");
      return false;
    }
    if (a.until_ms && env.appended_at_ms() > *a.until_ms) {
      return false;
    }
    range.Append(merkle::LeafHash(bytes), [](uint32_t, uint64_t, const Hash&) {});
    size = seq;
    last_appended_ms = env.appended_at_ms();
    if (e.has_agency_registered()) {
      directory.Upsert(e.agency_registered().agency());
    }
    if (!env.case_id().empty()) {
      cases[env.case_id()].Apply(env, e);
      if (env.case_id() == a.journey_case) {
        journey.emplace_back(std::move(env), std::move(e));
      }
    }
    return true;
  });
  CTL_FAIL_IF_ERROR(bad);
  CTL_FAIL_IF_ERROR(scan);
  const Hash root = size == 0 ? merkle::EmptyRoot() : range.Root();
  if (auto stored = log->RootAt(size); stored.ok() && *stored != root) {
    io.err << "passagectl: note: the log's stored Merkle tree disagrees with its entries at size "
           << size << " (run passagectl audit verify --log " << dir << ")\n";
  }
  const int64_t now_ms = a.until_ms ? *a.until_ms : last_appended_ms;

  std::string case_json;
  if (!a.case_id.empty()) {
    auto it = cases.find(a.case_id);
    if (it == cases.end() || !it->second.exists()) {
      return Fail(io,
                  Status(StatusCode::kNotFound,
                         "case " + a.case_id + " has no events up to seq " + std::to_string(size),
                         "--case"));
    }
    v1::CaseState state = it->second.state();
    state.clear_personal();  // sealed ciphertext: nothing an auditor can read
    google::protobuf::util::JsonPrintOptions o;
    o.preserve_proto_field_names = true;
    o.add_whitespace = !inv.json;
    (void)google::protobuf::util::MessageToJsonString(state, &case_json, o);
  }
  if (!a.journey_case.empty() && journey.empty()) {
    return Fail(
        io, Status(StatusCode::kNotFound,
                   "case " + a.journey_case + " has no events up to seq " + std::to_string(size),
                   "--journey"));
  }
  std::string stats;
  if (a.stats) {
    std::vector<const v1::CaseState*> states;
    for (const auto& [id, p] : cases) {
      if (p.exists()) {
        states.push_back(&p.state());
      }
    }
    auto rendered = node::RenderStats(states, a.stats_request, directory, now_ms, inv.json);
    if (!rendered.ok()) {
      return Fail(io, Status::InvalidArgument("--stats", rendered.status().message()));
    }
    stats = *rendered;
  }
  std::string digest;
  if (a.digest) {
    std::string buf(kDigestDomain);
    buf += Be64(size);
    buf += merkle::AsBytes(root);
    for (const auto& [id, p] : cases) {
      const std::string state = p.SerializeDeterministic();
      buf += Be64(id.size()) + id + Be64(state.size()) + state;
    }
    digest = merkle::ToHex(merkle::Sha256(buf));
  }

  if (inv.json) {
    io.out << "{\"log\":" << Quote(dir) << ",\"until_seq\":" << size
           << ",\"last_appended_at_ms\":" << last_appended_ms << ",\"entries\":" << size
           << ",\"cases\":" << cases.size() << ",\"root\":" << Quote(merkle::ToHex(root));
    if (a.until_ms) {
      io.out << ",\"until_ms\":" << *a.until_ms;
    }
    if (!case_json.empty()) {
      io.out << ",\"case\":" << case_json;
    }
    if (!a.journey_case.empty()) {
      io.out << ",\"journey\":" << node::RenderJourneyJson(journey, directory);
    }
    if (a.stats) {
      io.out << ",\"stats\":" << stats;
    }
    if (a.digest) {
      io.out << ",\"digest\":" << Quote(digest);
    }
    io.out << "}\n";
    return kExitOk;
  }
  io.out << "replay of " << dir << " up to seq " << size;
  if (size > 0) {
    io.out << " (appended " << core::FormatUtcMs(last_appended_ms) << ")";
  }
  io.out << ": " << size << " entries, " << cases.size() << " cases\n"
         << "root    " << merkle::ToHex(root) << "\n";
  if (a.digest) {
    io.out << "digest  " << digest << "\n";
  }
  if (!case_json.empty()) {
    io.out << "\ncase " << a.case_id << " as of seq " << size
           << " (sealed personal data left out):\n"
           << case_json << "\n";
  }
  if (!a.journey_case.empty()) {
    io.out << "\n" << node::RenderJourneyText(journey, directory);
  }
  if (a.stats) {
    io.out << "\nstatistics as of seq " << size << ":\n" << stats;
    if (!stats.empty() && stats.back() != '\n') {
      io.out << "\n";
    }
  }
  return kExitOk;
}

}  // namespace
}  // namespace internal

int RunReplay(const Invocation& inv, CtlIo& io) { return internal::RunReplayImpl(inv, io); }

}  // namespace passage::ctl
