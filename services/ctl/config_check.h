#pragma once

// `passagectl config check` and `passagectl keys show` (docs/configuration.md): what an operator
// runs after editing a configuration file or making keys. Nothing here talks to a node or writes a
// file.
//
// A check reads each file as the program that uses it would (the broker, a node, the referral
// engine), then checks what that program would only find out at start-up or later: the files a
// configuration names exist and hold keys of the right kind, a node's keys are the ones the
// registry lists for its agency, a routing rule can reach at least one registered agency. Every
// finding names the file, the line and the field.

#include <string>
#include <vector>

namespace passage::ctl {

enum class ConfigKind { kUnknown, kRegistry, kRules, kBroker, kNode };

struct ConfigFinding {
  std::string file;
  int line = 0;           // 1-based; 0 = the file as a whole
  std::string field;      // "agencies[2].transport_public_key", "http.listen"; may be empty
  std::string reason;
  bool error = true;      // false: a warning (the program runs, but probably not as meant)
};

struct ConfigCheckOptions {
  // Absolute paths inside the files are read under this directory, as if it were "/" (an
  // unpacked package, a container image's tree, a staging copy of /etc). Empty = "/".
  std::string root;
  // The registry to check rules against when none of the files is one; empty = the registry the
  // other files name, else none (rules are then only parsed).
  std::string registry;
};

struct ConfigCheckResult {
  struct Checked {
    std::string file;
    ConfigKind kind = ConfigKind::kUnknown;
    std::string what;  // "node config of dastak-shelter (passage-protection)", "agency registry: 9 agencies"
  };
  std::vector<Checked> files;  // every file read, including those the given files name
  std::vector<ConfigFinding> findings;
  int errors() const;
  int warnings() const;
};

// Kind from the file's "# proto-message:" line, else from its name (registry*, rules*, broker*),
// else from the fields it sets.
ConfigKind GuessConfigKind(const std::string& path, const std::string& text);

ConfigCheckResult CheckConfigFiles(const std::vector<std::string>& files,
                                   const ConfigCheckOptions& options);

// "FILE:LINE: error: FIELD: REASON" lines, then a one-line summary.
std::string FormatConfigCheck(const ConfigCheckResult& result);
std::string ConfigCheckJson(const ConfigCheckResult& result);

// One key file's public half, never its secret.
struct PublicKeyInfo {
  std::string file;
  std::string kind;        // "curve", "sealing", "tree-head"
  std::string public_key;  // Z85 for curve; hex for the others
  std::string error;       // set when the file is unreadable or of no known form
};
// Reads a CURVE key file ("public: Z85" [+ "secret: Z85"]) or a sealing key file ("public: HEX"
// [+ "secret: HEX"]); with `tree_head`, a broker's tree-head seed (64 hex digits) whose Ed25519
// public key is derived.
PublicKeyInfo ReadPublicKey(const std::string& path, bool tree_head);

}  // namespace passage::ctl
