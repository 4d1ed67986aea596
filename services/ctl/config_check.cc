#include "services/ctl/config_check.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "broker/merkle/tree_head.h"
#include "core/codes.h"
#include "core/routing.h"
#include "core/text_proto.h"
#include "core/validate.h"
#include "passage/v1/config.pb.h"
#include "services/node/webhooks.h"
#include "services/runtime/sealing.h"
#include "transport/keys.h"

namespace passage::ctl {
namespace {

namespace pb = google::protobuf;
using passage::v1::AgencyRegistry;
using passage::v1::BrokerConfig;
using passage::v1::NodeConfig;
using passage::v1::RuleSet;

std::string KindName(ConfigKind k) {
  switch (k) {
    case ConfigKind::kRegistry:
      return "registry";
    case ConfigKind::kRules:
      return "rules";
    case ConfigKind::kBroker:
      return "broker";
    case ConfigKind::kNode:
      return "node";
    case ConfigKind::kUnknown:
      break;
  }
  return "unknown";
}

bool IsHex(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

std::string Trimmed(std::string s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  size_t b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// "public: X" / "secret: Y" lines of a key file.
struct KeyLines {
  std::string public_key, secret_key, problem;
};

KeyLines ParseKeyLines(const std::string& text) {
  KeyLines k;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = Trimmed(line);
    if (line.empty() || line[0] == '#') {
      continue;
    }
    if (line.rfind("public:", 0) == 0) {
      k.public_key = Trimmed(line.substr(7));
    } else if (line.rfind("secret:", 0) == 0) {
      k.secret_key = Trimmed(line.substr(7));
    } else {
      k.problem = "has a line that is neither 'public: KEY' nor 'secret: KEY'";
    }
  }
  if (k.problem.empty() && k.public_key.empty()) {
    k.problem = "has no 'public:' line";
  }
  return k;
}

// Where each field of a text-format file was set. Field paths as the validators give them:
// "agencies[2].id", "http.listen", "rules[0].when.sex_in".
class Locator {
 public:
  Locator(const pb::Descriptor* type, const std::string& text) : type_(type) {
    size_t first = text.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && text[first] == '{') {
      return;  // JSON: no positions
    }
    pb::TextFormat::Parser parser;
    parser.WriteLocationsTo(&tree_);
    parser.AllowPartialMessage(true);
    struct Quiet : pb::io::ErrorCollector {
      void AddError(int, pb::io::ColumnNumber, const std::string&) override {}
    } quiet;
    parser.RecordErrorsTo(&quiet);
    msg_.reset(pb::MessageFactory::generated_factory()->GetPrototype(type)->New());
    pb::io::ArrayInputStream in(text.data(), static_cast<int>(text.size()));
    parsed_ = parser.Parse(&in, msg_.get());
  }

  // 1-based line of the deepest part of `path` that was written in the file; 0 when none.
  int LineOf(std::string_view path) const {
    if (!parsed_) {
      return 0;
    }
    const pb::TextFormat::ParseInfoTree* tree = &tree_;
    const pb::Descriptor* type = type_;
    int line = 0;
    size_t pos = 0;
    while (pos <= path.size() && tree != nullptr && type != nullptr) {
      size_t dot = path.find('.', pos);
      std::string_view part = path.substr(pos, dot == std::string_view::npos ? path.npos : dot - pos);
      int index = -1;
      size_t bracket = part.find('[');
      if (bracket != std::string_view::npos) {
        index = std::atoi(std::string(part.substr(bracket + 1)).c_str());
        part = part.substr(0, bracket);
      }
      const pb::FieldDescriptor* f = type->FindFieldByName(std::string(part));
      if (f == nullptr) {
        break;
      }
      if (f->is_repeated() && index < 0) {
        index = 0;
      }
      if (!f->is_repeated()) {
        index = -1;
      }
      pb::TextFormat::ParseLocation loc = tree->GetLocation(f, index);
      if (loc.line >= 0) {
        line = loc.line + 1;
      }
      if (dot == std::string_view::npos || f->type() != pb::FieldDescriptor::TYPE_MESSAGE) {
        break;
      }
      tree = tree->GetTreeForNested(f, index);
      type = f->message_type();
      pos = dot + 1;
    }
    return line;
  }

 private:
  const pb::Descriptor* type_;
  pb::TextFormat::ParseInfoTree tree_;
  std::unique_ptr<pb::Message> msg_;
  bool parsed_ = false;
};

// As the node's web server decides it (plain HTTP only on these).
bool IsLoopbackHost(std::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]";
}

// "HOST:PORT" with a port of 0..65535: "" when fine, else why not.
std::string CheckHostPort(std::string_view v, std::string* host_out = nullptr) {
  size_t colon = v.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == v.size()) {
    return "'" + std::string(v) + "' is not HOST:PORT (e.g. 127.0.0.1:9451)";
  }
  std::string_view port = v.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string_view::npos || port.size() > 5 ||
      std::stoi(std::string(port)) > 65535) {
    return "'" + std::string(port) + "' is not a port number (0 to 65535)";
  }
  if (host_out != nullptr) {
    *host_out = std::string(v.substr(0, colon));
  }
  return "";
}

// A ZeroMQ endpoint the programs can use: tcp://HOST:PORT or ipc://PATH.
std::string CheckEndpoint(std::string_view v) {
  if (v.rfind("tcp://", 0) == 0) {
    std::string why = CheckHostPort(v.substr(6));
    return why.empty() ? "" : why + " (tcp://HOST:PORT)";
  }
  if (v.rfind("ipc://", 0) == 0 && v.size() > 6) {
    return "";
  }
  return "'" + std::string(v) + "' is not a ZeroMQ endpoint (tcp://HOST:PORT or ipc://PATH)";
}

class Checker {
 public:
  explicit Checker(const ConfigCheckOptions& o) : options_(o) {}

  void CheckFile(const std::string& path, ConfigKind want) {
    if (!seen_.insert(path).second) {
      return;
    }
    std::string text;
    if (!Read(path, &text, path, 0, "")) {
      if (want == ConfigKind::kRegistry) {
        registries_[path] = nullptr;  // reported once, not again by each node naming it
      }
      return;
    }
    ConfigKind kind = want != ConfigKind::kUnknown ? want : GuessConfigKind(path, text);
    switch (kind) {
      case ConfigKind::kRegistry:
        CheckRegistry(path, text);
        break;
      case ConfigKind::kRules:
        CheckRules(path, text);
        break;
      case ConfigKind::kBroker:
        CheckBroker(path, text);
        break;
      case ConfigKind::kNode:
        CheckNode(path, text);
        break;
      case ConfigKind::kUnknown:
        Add(path, 0, "", "is not a Passage configuration (no '# proto-message:' line, and its name "
                         "and fields fit no kind: registry, rules, broker or node)");
        result_.files.push_back({path, kind, "unknown"});
        break;
    }
  }

  // Rules given before their registry are checked at the end.
  void Finish() {
    for (const auto& [path, text] : pending_rules_) {
      CheckRulesAgainst(path, text);
    }
    pending_rules_.clear();
  }

  ConfigCheckResult take() { return std::move(result_); }

  void set_default_registry(const std::string& path) { default_registry_ = path; }

 private:
  // ---- helpers ----------------------------------------------------------------------------
  std::string Resolve(const std::string& path) const {
    if (options_.root.empty() || path.empty() || path[0] != '/') {
      return path;
    }
    return options_.root + path;
  }

  void Add(const std::string& file, int line, std::string field, std::string reason,
           bool error = true) {
    result_.findings.push_back({file, line, std::move(field), std::move(reason), error});
  }

  // Reads a file named by `file`'s `field` (or the file itself when field is empty).
  bool Read(const std::string& path, std::string* text, const std::string& file, int line,
            const std::string& field) {
    const std::string real = field.empty() ? path : Resolve(path);
    std::error_code ec;
    if (!std::filesystem::exists(real, ec)) {
      Add(file, line, field, (field.empty() ? std::string("cannot be read: ") : "") + path +
                                 " does not exist" +
                                 (real != path ? " (looked for " + real + ")" : ""));
      return false;
    }
    std::ifstream in(real, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) {
      Add(file, line, field, path + " cannot be read (permissions?)");
      return false;
    }
    *text = ss.str();
    return true;
  }

  template <typename M>
  bool Parse(const std::string& path, const std::string& text, M* msg) {
    Status s = core::ParseConfigText(text, path, msg);
    if (s.ok()) {
      return true;
    }
    // "FILE:LINE:COL: message" from the parser: keep the line.
    std::string m = s.message();
    int line = 0;
    if (m.rfind(path + ":", 0) == 0) {
      std::string rest = m.substr(path.size() + 1);
      line = std::atoi(rest.c_str());
      size_t sep = rest.find(": ");
      m = sep == std::string::npos ? rest : rest.substr(sep + 2);
    }
    Add(path, line, "", "does not parse as " + M::descriptor()->full_name() + ": " + m);
    return false;
  }

  void FromStatus(const std::string& file, const Locator& loc, const Status& s,
                  const std::string& field_prefix = "") {
    std::string field = s.field();
    if (!field_prefix.empty() && field.rfind("rules[0]", 0) == 0) {
      field = field_prefix + field.substr(8);
    }
    Add(file, loc.LineOf(field), field, s.message());
  }

  // ---- registry ---------------------------------------------------------------------------
  const AgencyRegistry* LoadRegistry(const std::string& path) {
    auto it = registries_.find(path);
    if (it != registries_.end()) {
      return it->second.get();
    }
    auto reg = std::make_unique<AgencyRegistry>();
    std::string text;
    bool ok = Read(path, &text, path, 0, "") && Parse(path, text, reg.get());
    auto* out = ok ? reg.get() : nullptr;
    registries_[path] = ok ? std::move(reg) : nullptr;
    return out;
  }

  void CheckRegistry(const std::string& path, const std::string& text) {
    AgencyRegistry reg;
    if (!Parse(path, text, &reg)) {
      registries_[path] = nullptr;  // named again by a node config: not read twice
      result_.files.push_back({path, ConfigKind::kRegistry, "agency registry (does not parse)"});
      return;
    }
    registries_[path] = std::make_unique<AgencyRegistry>(reg);
    if (last_registry_.empty()) {
      last_registry_ = path;
    }
    Locator loc(AgencyRegistry::descriptor(), text);
    int principals = 0;
    std::map<std::string, std::string> transport_keys;
    for (int i = 0; i < reg.agencies_size(); ++i) {
      const auto& a = reg.agencies(i);
      const std::string at = "agencies[" + std::to_string(i) + "]";
      principals += a.system_principal() ? 1 : 0;
      // Oversight works from log copies and runs no node: it needs no keys in the registry.
      const bool runs_node = a.type() != passage::v1::AGENCY_TYPE_OVERSIGHT;
      const bool wants_seal = runs_node && !a.system_principal();
      if ((runs_node && a.transport_public_key().empty()) ||
          (wants_seal && a.sealing_public_key().empty())) {
        std::string missing = a.transport_public_key().empty() ? "transport_public_key" : "";
        if (wants_seal && a.sealing_public_key().empty()) {
          missing += missing.empty() ? "sealing_public_key" : " and sealing_public_key";
        }
        Add(path, loc.LineOf(at + ".id"), at,
            "agency '" + a.id() + "' has no " + missing + " yet (passagectl keygen prints them): " +
                (a.transport_public_key().empty() ? "the broker refuses its node"
                                                  : "no personal data can be shared with it") +
                " until then",
            false);
      }
      if (!a.transport_public_key().empty() && !transport::IsZ85Key(a.transport_public_key())) {
        Add(path, loc.LineOf(at + ".transport_public_key"), at + ".transport_public_key",
            "is not a CURVE public key (40 Z85 characters, as passagectl keygen prints it)");
      } else if (!a.transport_public_key().empty()) {
        if (auto [it, fresh] = transport_keys.emplace(a.transport_public_key(), a.id()); !fresh) {
          Add(path, loc.LineOf(at + ".transport_public_key"), at + ".transport_public_key",
              "agencies '" + it->second + "' and '" + a.id() + "' have the same transport key; "
              "the broker knows an agency by its key, so each needs its own (passagectl keygen)");
        }
      }
      if (!a.sealing_public_key().empty() &&
          (a.sealing_public_key().size() != 64 || !IsHex(a.sealing_public_key()))) {
        Add(path, loc.LineOf(at + ".sealing_public_key"), at + ".sealing_public_key",
            "is not a sealing public key (64 hex digits, as passagectl keygen prints it)");
      }
    }
    auto dir = core::AgencyRoster::FromRegistry(reg);
    if (!dir.ok()) {
      FromStatus(path, loc, dir.status());
    }
    if (principals == 0) {
      Add(path, 0, "agencies",
          "no agency is the referral engine (system_principal: true): no referral is made "
          "automatically", false);
    }
    result_.files.push_back(
        {path, ConfigKind::kRegistry,
         "agency registry: " + std::to_string(reg.agencies_size()) + " agencies"});
  }

  // ---- rules ------------------------------------------------------------------------------
  void CheckRules(const std::string& path, const std::string& text) {
    RuleSet rules;
    if (!Parse(path, text, &rules)) {
      result_.files.push_back({path, ConfigKind::kRules, "routing rules (do not parse)"});
      return;
    }
    pending_rules_.emplace_back(path, text);
  }

  void CheckRulesAgainst(const std::string& path, const std::string& text) {
    RuleSet rules;
    (void)core::ParseConfigText(text, path, &rules);
    Locator loc(RuleSet::descriptor(), text);
    std::string reg_path = !options_.registry.empty()  ? options_.registry
                           : !rules_registry_.empty()  ? rules_registry_
                           : !last_registry_.empty()   ? last_registry_
                                                       : default_registry_;
    const AgencyRegistry* reg = reg_path.empty() ? nullptr : LoadRegistry(reg_path);
    std::string what = "routing rules: " + std::to_string(rules.rules_size()) + " rules";
    if (reg == nullptr) {
      Add(path, 0, "",
          "not checked against an agency registry (give one with --registry, or among the "
          "files): only its form was checked",
          false);
      result_.files.push_back({path, ConfigKind::kRules, what});
      return;
    }
    auto roster = core::AgencyRoster::FromRegistry(*reg);
    if (!roster.ok()) {
      Add(path, 0, "", "its registry " + reg_path + " is not valid, so the rules were not checked");
      result_.files.push_back({path, ConfigKind::kRules, what});
      return;
    }
    // Each rule on its own, so that every broken rule is named (the engine skips those and
    // routes with the others).
    std::set<std::string> names;
    int broken = 0;
    for (int i = 0; i < rules.rules_size(); ++i) {
      RuleSet one;
      *one.add_rules() = rules.rules(i);
      const std::string at = "rules[" + std::to_string(i) + "]";
      Status s = core::ValidateRuleSet(one, *roster);
      if (!s.ok()) {
        ++broken;
        FromStatus(path, loc, s, at);
      }
      if (!names.insert(rules.rules(i).name()).second) {
        Add(path, loc.LineOf(at + ".name"), at + ".name",
            "rule name '" + rules.rules(i).name() + "' is used twice; referrals carry it as their "
            "reason");
      }
    }
    what += " checked against " + reg_path;
    if (broken > 0) {
      what += " (" + std::to_string(broken) + " cannot be used)";
    }
    result_.files.push_back({path, ConfigKind::kRules, what});
  }

  // ---- key files --------------------------------------------------------------------------
  // The "public:"/"secret:" lines of a key file a config names; nullopt (reported) when unusable.
  std::optional<KeyLines> ReadKeyFile(const std::string& file, int line, const std::string& field,
                                      const std::string& path) {
    std::string text;
    if (!Read(path, &text, file, line, field)) {
      return std::nullopt;
    }
    KeyLines k = ParseKeyLines(text);
    if (!k.problem.empty()) {
      Add(file, line, field, path + " " + k.problem);
      return std::nullopt;
    }
    return k;
  }

  void CheckLogFormat(const std::string& file, int line, const std::string& format) {
    if (!format.empty() && format != "text" && format != "json") {
      Add(file, line, "log_format", "'" + format + "' is not a log format (text or json)");
    }
  }

  // A CURVE key file: returns its public key ("" when unusable).
  std::string CheckCurveKey(const std::string& file, int line, const std::string& field,
                            const std::string& path, bool need_secret, bool forbid_secret) {
    std::optional<KeyLines> read = ReadKeyFile(file, line, field, path);
    if (!read) {
      return "";
    }
    const KeyLines& k = *read;
    if (!transport::IsZ85Key(k.public_key)) {
      Add(file, line, field, path + " does not hold a CURVE key (40 Z85 characters after 'public:')");
      return "";
    }
    if (need_secret && !transport::IsZ85Key(k.secret_key)) {
      Add(file, line, field, path + " holds no CURVE secret key ('secret:' line)");
      return "";
    }
    if (forbid_secret && !k.secret_key.empty()) {
      Add(file, line, field,
          path + " holds a secret key as well; a node needs only the broker's public key "
                 "(passagectl keys show --public-only)");
    }
    return k.public_key;
  }

  std::string CheckSealKey(const std::string& file, int line, const std::string& field,
                           const std::string& path) {
    std::optional<KeyLines> read = ReadKeyFile(file, line, field, path);
    if (!read) {
      return "";
    }
    const KeyLines& k = *read;
    if (k.public_key.size() != 64 || !IsHex(k.public_key) || k.secret_key.size() != 64 ||
        !IsHex(k.secret_key)) {
      Add(file, line, field,
          path + " is not a sealing key pair ('public: ' and 'secret: ' with 64 hex digits each, "
                 "as passagectl keygen writes them)");
      return "";
    }
    return k.public_key;
  }

  void CheckHexSecret(const std::string& file, int line, const std::string& field,
                      const std::string& path, const std::string& what) {
    std::string text;
    if (!Read(path, &text, file, line, field)) {
      return;
    }
    text = Trimmed(text);
    if (text.size() != 64 || !IsHex(text)) {
      Add(file, line, field, path + " does not hold " + what + " (64 hex digits)");
    }
  }

  // ---- broker -----------------------------------------------------------------------------
  void CheckBroker(const std::string& path, const std::string& text) {
    BrokerConfig c;
    if (!Parse(path, text, &c)) {
      result_.files.push_back({path, ConfigKind::kBroker, "broker config (does not parse)"});
      return;
    }
    Locator loc(BrokerConfig::descriptor(), text);
    auto L = [&](const char* f) { return loc.LineOf(f); };
    if (!c.listen().empty()) {
      if (std::string why = CheckEndpoint(c.listen()); !why.empty()) {
        Add(path, L("listen"), "listen", why);
      }
    }
    if (c.data_dir().empty()) {
      Add(path, 0, "data_dir", "is required: where the event log lives");
    } else if (c.data_dir()[0] != '/') {
      Add(path, L("data_dir"), "data_dir",
          "'" + c.data_dir() + "' is relative: give an absolute path (services start in /)", false);
    }
    if (c.registry_file().empty()) {
      Add(path, 0, "registry_file", "is required: who may connect");
    } else {
      CheckFile(Resolve(c.registry_file()), ConfigKind::kRegistry);
      if (LoadRegistry(Resolve(c.registry_file())) == nullptr) {
        Add(path, L("registry_file"), "registry_file",
            c.registry_file() + " cannot be used (see its own findings): the broker would not "
            "start");
      }
    }
    if (!c.metrics_listen().empty()) {
      if (std::string why = CheckHostPort(c.metrics_listen()); !why.empty()) {
        Add(path, L("metrics_listen"), "metrics_listen", why);
      }
    }
    auto made_at_start = [&](const char* field, const std::string& file, bool curve) {
      std::error_code ec;
      if (file.empty()) {
        return;
      }
      if (!std::filesystem::exists(Resolve(file), ec)) {
        return;  // made at first start
      }
      if (curve) {
        CheckCurveKey(path, L(field), field, file, true, false);
      } else {
        CheckHexSecret(path, L(field), field, file, "a tree-head signing seed");
      }
    };
    if (!c.insecure()) {
      made_at_start("secret_key_file", c.secret_key_file(), true);
    } else {
      Add(path, L("insecure"), "insecure",
          "no CURVE: anyone who reaches the port can connect as any agency; development only",
          false);
    }
    made_at_start("signing_key_file", c.signing_key_file(), false);
    CheckLogFormat(path, L("log_format"), c.log_format());
    if (c.max_message_bytes() > (1u << 28)) {
      Add(path, L("max_message_bytes"), "max_message_bytes",
          std::to_string(c.max_message_bytes()) + " is above the limit of 268435456 (256 MiB)");
    }
    result_.files.push_back({path, ConfigKind::kBroker, "broker config"});
  }

  // ---- node -------------------------------------------------------------------------------
  void CheckNode(const std::string& path, const std::string& text) {
    NodeConfig c;
    if (!Parse(path, text, &c)) {
      result_.files.push_back({path, ConfigKind::kNode, "node config (does not parse)"});
      return;
    }
    Locator loc(NodeConfig::descriptor(), text);
    auto L = [&](const char* f) { return loc.LineOf(f); };
    std::string what = "node config";
    if (c.agency_id().empty()) {
      Add(path, 0, "agency_id", "is required: the agency this node speaks for");
    } else if (Status s = core::ValidateAgencyId(c.agency_id(), "agency_id"); !s.ok()) {
      Add(path, L("agency_id"), "agency_id", s.message());
    }
    if (c.broker_endpoint().empty()) {
      Add(path, 0, "broker_endpoint", "is required (e.g. tcp://broker.nrm.example:7450)");
    } else if (std::string why = CheckEndpoint(c.broker_endpoint()); !why.empty()) {
      Add(path, L("broker_endpoint"), "broker_endpoint", why);
    }
    if (c.data_dir().empty()) {
      Add(path, 0, "data_dir", "is required: where the node keeps its journal and outbox");
    } else if (c.data_dir()[0] != '/') {
      Add(path, L("data_dir"), "data_dir",
          "'" + c.data_dir() + "' is relative: give an absolute path (services start in /)", false);
    }
    // The registry, and this agency in it.
    const passage::v1::Agency* agency = nullptr;
    if (c.registry_file().empty()) {
      Add(path, 0, "registry_file", "is required: the NRM's agency registry");
    } else {
      const std::string reg_path = Resolve(c.registry_file());
      CheckFile(reg_path, ConfigKind::kRegistry);
      const AgencyRegistry* reg = LoadRegistry(reg_path);
      if (reg == nullptr) {
        Add(path, L("registry_file"), "registry_file",
            c.registry_file() + " cannot be used (see its own findings): the node would not "
            "start");
      } else {
        for (const auto& a : reg->agencies()) {
          if (a.id() == c.agency_id()) {
            agency = &a;
          }
        }
        if (agency == nullptr && !c.agency_id().empty()) {
          Add(path, L("agency_id"), "agency_id",
              "agency '" + c.agency_id() + "' is not in the registry " + c.registry_file() +
                  ": the broker refuses it");
        }
      }
    }
    const bool router = agency != nullptr && agency->system_principal();
    if (agency != nullptr) {
      what = std::string("node config of ") + c.agency_id() + " (" +
             (router                                                   ? "passage-router"
              : agency->first_responder()                              ? "passage-identification"
              : agency->type() == passage::v1::AGENCY_TYPE_PROSECUTION ? "passage-prosecution"
                                                                       : "passage-protection") +
             ")";
    }
    // Keys.
    if (!c.broker_public_key().empty() && !c.broker_public_key_file().empty()) {
      Add(path, L("broker_public_key_file"), "broker_public_key_file",
          "give broker_public_key or broker_public_key_file, not both");
    } else if (!c.broker_public_key().empty() && !transport::IsZ85Key(c.broker_public_key())) {
      Add(path, L("broker_public_key"), "broker_public_key",
          "is not a CURVE public key (40 Z85 characters)");
    } else if (!c.broker_public_key_file().empty()) {
      CheckCurveKey(path, L("broker_public_key_file"), "broker_public_key_file",
                    c.broker_public_key_file(), false, true);
    } else if (!c.insecure()) {
      Add(path, 0, "broker_public_key_file",
          "the broker's public key is required (broker_public_key or broker_public_key_file)");
    }
    if (c.insecure()) {
      Add(path, L("insecure"), "insecure",
          "no CURVE: traffic to the broker is neither encrypted nor authenticated; development "
          "only",
          false);
    } else if (c.secret_key_file().empty()) {
      Add(path, 0, "secret_key_file",
          "is required: the agency's CURVE key pair (passagectl keygen --out PREFIX)");
    } else {
      std::string pub = CheckCurveKey(path, L("secret_key_file"), "secret_key_file",
                                      c.secret_key_file(), true, false);
      if (!pub.empty() && agency != nullptr && !agency->transport_public_key().empty() &&
          agency->transport_public_key() != pub) {
        Add(path, L("secret_key_file"), "secret_key_file",
            "its public key " + pub + " is not the one the registry lists for " + c.agency_id() +
                " (" + agency->transport_public_key() + "): the broker will refuse this node");
      }
    }
    if (!c.sealing_key_file().empty()) {
      std::string pub = CheckSealKey(path, L("sealing_key_file"), "sealing_key_file",
                                     c.sealing_key_file());
      if (!pub.empty() && agency != nullptr && !agency->sealing_public_key().empty() &&
          agency->sealing_public_key() != pub) {
        Add(path, L("sealing_key_file"), "sealing_key_file",
            "its public key is not the one the registry lists for " + c.agency_id() +
                ": personal data sealed for this agency would not open");
      }
    } else if (!router) {
      Add(path, 0, "sealing_key_file",
          "not set: this node can neither seal nor open personal data", false);
    }
    for (int i = 0; i < c.previous_sealing_key_files_size(); ++i) {
      const std::string field = "previous_sealing_key_files[" + std::to_string(i) + "]";
      CheckSealKey(path, loc.LineOf(field), field, c.previous_sealing_key_files(i));
    }
    if (!c.person_secret_file().empty()) {
      CheckHexSecret(path, L("person_secret_file"), "person_secret_file", c.person_secret_file(),
                     "the NRM's person-key secret");
    } else if (agency != nullptr && agency->first_responder()) {
      Add(path, 0, "person_secret_file",
          "not set: a first responder cannot warn of a person already known to the NRM", false);
    }
    // The router's rules.
    if (router) {
      if (c.rules_file().empty()) {
        Add(path, 0, "rules_file", "is required for the referral engine: its routing rules");
      } else {
        rules_registry_ = Resolve(c.registry_file());
        CheckFile(Resolve(c.rules_file()), ConfigKind::kRules);
      }
    } else if (!c.rules_file().empty()) {
      Add(path, L("rules_file"), "rules_file",
          "only the referral engine (passage-router) reads routing rules; this node ignores it",
          false);
    }
    if (!c.control_endpoint().empty()) {
      if (std::string why = CheckEndpoint(c.control_endpoint()); !why.empty()) {
        Add(path, L("control_endpoint"), "control_endpoint", why);
      } else if (c.control_endpoint().rfind("tcp://", 0) == 0 &&
                 !IsLoopbackHost(c.control_endpoint().substr(6, c.control_endpoint().rfind(':') - 6))) {
        Add(path, L("control_endpoint"), "control_endpoint",
            "the control socket must stay on this machine (ipc:// or a loopback address)");
      }
    }
    if (c.has_http()) {
      CheckHttp(path, loc, c.http());
    }
    if (!c.metrics_listen().empty()) {
      if (std::string why = CheckHostPort(c.metrics_listen()); !why.empty()) {
        Add(path, L("metrics_listen"), "metrics_listen", why);
      }
    }
    if (!c.notify_command().empty()) {
      const std::string& cmd = c.notify_command();
      if (cmd[0] != '/') {
        Add(path, L("notify_command"), "notify_command",
            "'" + cmd + "' is not an absolute path (it is run without a shell or PATH)");
      } else if (::access(Resolve(cmd).c_str(), X_OK) != 0) {
        Add(path, L("notify_command"), "notify_command",
            cmd + " does not exist or is not executable");
      }
    }
    std::set<std::string> webhook_names;
    for (int i = 0; i < c.webhooks_size(); ++i) {
      passage::v1::WebhookEndpoint e = c.webhooks(i);
      e.set_secret_file(Resolve(e.secret_file()));
      e.set_ca_file(Resolve(e.ca_file()));
      const std::string at = "webhooks[" + std::to_string(i) + "]";
      for (const auto& p : node::CheckWebhookEndpoint(e)) {
        Add(path, loc.LineOf(at + "." + p.field), at + "." + p.field, p.reason);
      }
      if (!e.name().empty() && !webhook_names.insert(e.name()).second) {
        Add(path, loc.LineOf(at + ".name"), at + ".name",
            "'" + e.name() + "' names two endpoints; each needs its own (it names its queue)");
      }
    }
    if (!c.staff().initial_admin_password_file().empty()) {
      std::error_code ec;
      if (!std::filesystem::exists(Resolve(c.staff().initial_admin_password_file()), ec)) {
        Add(path, L("staff.initial_admin_password_file"), "staff.initial_admin_password_file",
            c.staff().initial_admin_password_file() +
                " does not exist (it is read at first start only; unset = a generated password "
                "written to DATA_DIR/first-admin-password)",
            false);
      }
    }
    CheckLogFormat(path, L("log_format"), c.log_format());
    if (c.min_k() == 1) {
      Add(path, L("min_k"), "min_k",
          "1 suppresses nothing: a statistic could then single out a person (the default is 5)",
          false);
    }
    result_.files.push_back({path, ConfigKind::kNode, what});
  }

  void CheckHttp(const std::string& path, const Locator& loc, const passage::v1::HttpConfig& h) {
    auto L = [&](const char* f) { return loc.LineOf(f); };
    std::string host;
    if (h.listen().empty()) {
      Add(path, L("http"), "http.listen", "is required when http is set (e.g. 0.0.0.0:8443)");
    } else if (std::string why = CheckHostPort(h.listen(), &host); !why.empty()) {
      Add(path, L("http.listen"), "http.listen", why);
    }
    const bool tls_files = !h.tls_cert_file().empty() || !h.tls_key_file().empty();
    if (tls_files && (h.tls_cert_file().empty() || h.tls_key_file().empty())) {
      Add(path, L(h.tls_cert_file().empty() ? "http.tls_key_file" : "http.tls_cert_file"),
          h.tls_cert_file().empty() ? "http.tls_cert_file" : "http.tls_key_file",
          "TLS needs both a certificate and its key");
    }
    for (const auto& [field, file] : {std::pair<const char*, std::string>{"http.tls_cert_file",
                                                                          h.tls_cert_file()},
                                      {"http.tls_key_file", h.tls_key_file()}}) {
      std::error_code ec;
      if (!file.empty() && !std::filesystem::exists(Resolve(file), ec)) {
        Add(path, L(field), field, file + " does not exist");
      }
    }
    if (!host.empty() && !IsLoopbackHost(host) && !tls_files && !h.tls_self_signed()) {
      Add(path, L("http.listen"), "http.listen",
          "'" + h.listen() + "' is reachable from other machines, so the workspace needs TLS: "
          "set tls_cert_file and tls_key_file, or tls_self_signed: true (the node refuses to "
          "start otherwise)");
    }
    if (h.behind_tls_proxy() && !host.empty() && !IsLoopbackHost(host)) {
      Add(path, L("http.behind_tls_proxy"), "http.behind_tls_proxy",
          "behind_tls_proxy expects the node on a loopback address, with the proxy in front");
    }
    if (!h.time_zone().empty()) {
      const std::string& tz = h.time_zone();
      std::error_code ec;
      bool shaped = tz.find("..") == std::string::npos && tz[0] != '/';
      if (!shaped || !std::filesystem::exists("/usr/share/zoneinfo/" + tz, ec)) {
        Add(path, L("http.time_zone"), "http.time_zone",
            "'" + tz + "' is not an IANA time zone name known here (e.g. Asia/Karachi)");
      }
    }
  }

  ConfigCheckOptions options_;
  ConfigCheckResult result_;
  std::set<std::string> seen_;
  std::map<std::string, std::unique_ptr<AgencyRegistry>> registries_;
  std::vector<std::pair<std::string, std::string>> pending_rules_;
  std::string last_registry_;   // the first registry given or named
  std::string rules_registry_;  // the registry of the router whose rules were named
  std::string default_registry_;
};


}  // namespace

int ConfigCheckResult::errors() const {
  int n = 0;
  for (const auto& f : findings) {
    n += f.error ? 1 : 0;
  }
  return n;
}

int ConfigCheckResult::warnings() const {
  return static_cast<int>(findings.size()) - errors();
}

ConfigKind GuessConfigKind(const std::string& path, const std::string& text) {
  size_t at = text.find("proto-message:");
  if (at != std::string::npos) {
    std::string rest = text.substr(at + 14, text.find('\n', at) - at - 14);
    rest = Trimmed(rest);
    if (rest == "passage.v1.AgencyRegistry") return ConfigKind::kRegistry;
    if (rest == "passage.v1.RuleSet") return ConfigKind::kRules;
    if (rest == "passage.v1.BrokerConfig") return ConfigKind::kBroker;
    if (rest == "passage.v1.NodeConfig") return ConfigKind::kNode;
  }
  const std::string name = std::filesystem::path(path).filename().string();
  if (name.rfind("registry", 0) == 0) return ConfigKind::kRegistry;
  if (name.rfind("rules", 0) == 0) return ConfigKind::kRules;
  if (name.rfind("broker", 0) == 0) return ConfigKind::kBroker;
  // By the fields it sets: the first message kind that parses it.
  AgencyRegistry reg;
  RuleSet rules;
  NodeConfig node;
  BrokerConfig broker;
  if (core::ParseConfigText(text, path, &node).ok() && !node.agency_id().empty()) {
    return ConfigKind::kNode;
  }
  if (core::ParseConfigText(text, path, &reg).ok() && reg.agencies_size() > 0) {
    return ConfigKind::kRegistry;
  }
  if (core::ParseConfigText(text, path, &rules).ok() && rules.rules_size() > 0) {
    return ConfigKind::kRules;
  }
  if (core::ParseConfigText(text, path, &broker).ok() && !broker.data_dir().empty()) {
    return ConfigKind::kBroker;
  }
  return ConfigKind::kUnknown;
}

ConfigCheckResult CheckConfigFiles(const std::vector<std::string>& files,
                                   const ConfigCheckOptions& options) {
  Checker checker(options);
  if (!options.root.empty()) {
    checker.set_default_registry(options.root + "/etc/passage/registry.textproto");
  }
  for (const auto& f : files) {
    checker.CheckFile(f, ConfigKind::kUnknown);
  }
  checker.Finish();
  return checker.take();
}

std::string FormatConfigCheck(const ConfigCheckResult& r) {
  std::ostringstream out;
  for (const auto& f : r.findings) {
    out << f.file;
    if (f.line > 0) {
      out << ":" << f.line;
    }
    out << ": " << (f.error ? "error" : "warning") << ": ";
    if (!f.field.empty()) {
      out << f.field << ": ";
    }
    out << f.reason << "\n";
  }
  for (const auto& c : r.files) {
    bool bad = false;
    for (const auto& f : r.findings) {
      bad = bad || (f.error && f.file == c.file);
    }
    out << (bad ? "FAILED " : "ok     ") << c.file << ": " << c.what << "\n";
  }
  out << "config check: " << r.files.size() << " file(s), " << r.errors() << " error(s), "
      << r.warnings() << " warning(s)\n";
  return out.str();
}

std::string ConfigCheckJson(const ConfigCheckResult& r) {
  std::ostringstream out;
  out << "{\"files\":[";
  for (size_t i = 0; i < r.files.size(); ++i) {
    out << (i ? "," : "") << "{\"file\":" << core::JsonQuote(r.files[i].file)
        << ",\"kind\":" << core::JsonQuote(KindName(r.files[i].kind))
        << ",\"what\":" << core::JsonQuote(r.files[i].what) << "}";
  }
  out << "],\"findings\":[";
  for (size_t i = 0; i < r.findings.size(); ++i) {
    const auto& f = r.findings[i];
    out << (i ? "," : "") << "{\"file\":" << core::JsonQuote(f.file) << ",\"line\":" << f.line
        << ",\"field\":" << core::JsonQuote(f.field) << ",\"severity\":\""
        << (f.error ? "error" : "warning") << "\",\"reason\":" << core::JsonQuote(f.reason) << "}";
  }
  out << "],\"errors\":" << r.errors() << ",\"warnings\":" << r.warnings() << "}\n";
  return out.str();
}

PublicKeyInfo ReadPublicKey(const std::string& path, bool tree_head) {
  PublicKeyInfo info;
  info.file = path;
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) {
    info.error = "cannot be read";
    return info;
  }
  const std::string text = ss.str();
  if (tree_head) {
    std::string hex = Trimmed(text);
    if (hex.size() != 64 || !IsHex(hex)) {
      info.error = "is not a tree-head seed (64 hex digits, as the broker writes signing.key)";
      return info;
    }
    auto seed = runtime::FromHex(hex, path);
    if (!seed.ok()) {
      info.error = seed.status().message();
      return info;
    }
    auto signer = merkle::TreeHeadSigner::FromSeed(*seed);
    if (!signer.ok()) {
      info.error = signer.status().message();
      return info;
    }
    info.public_key = runtime::ToHex(signer->public_key());
    info.kind = "tree-head";
    return info;
  }
  KeyLines k = ParseKeyLines(text);
  if (!k.problem.empty()) {
    info.error = k.problem +
                 (IsHex(Trimmed(text)) ? " (a bare 64-hex-digit file is a tree-head seed: give it "
                                         "with --tree-head; a person-key secret has no public half)"
                                       : "");
    return info;
  }
  if (transport::IsZ85Key(k.public_key)) {
    info.kind = "curve";
  } else if (k.public_key.size() == 64 && IsHex(k.public_key)) {
    info.kind = "sealing";
  } else {
    info.error = "holds neither a CURVE key (40 Z85 characters) nor a sealing key (64 hex digits)";
    return info;
  }
  info.public_key = k.public_key;
  return info;
}

}  // namespace passage::ctl
