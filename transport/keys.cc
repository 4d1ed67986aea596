#include "transport/keys.h"

#include <sys/stat.h>
#include <zmq.h>

#include <fstream>
#include <sstream>

namespace passage::transport {

CurveKeyPair GenerateCurveKeyPair() {
  char pub[41] = {};
  char sec[41] = {};
  zmq_curve_keypair(pub, sec);
  return CurveKeyPair{pub, sec};
}

bool IsZ85Key(const std::string& key) {
  if (key.size() != 40) {
    return false;
  }
  uint8_t raw[32];
  return zmq_z85_decode(raw, key.c_str()) != nullptr;
}

Status WriteKeyFile(const std::string& path, const CurveKeyPair& keys) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) {
    return Status::IoError("cannot write key file " + path);
  }
  out << "public: " << keys.public_z85 << "\n";
  if (!keys.secret_z85.empty()) {
    out << "secret: " << keys.secret_z85 << "\n";
  }
  out.close();
  if (!out) {
    return Status::IoError("cannot write key file " + path);
  }
  if (!keys.secret_z85.empty() && chmod(path.c_str(), 0600) != 0) {
    return Status::IoError("cannot restrict permissions of " + path);
  }
  return Status::Ok();
}

Result<CurveKeyPair> ReadKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Status::NotFound("cannot read key file " + path);
  }
  CurveKeyPair keys;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') {
      continue;
    }
    std::istringstream ls(line);
    std::string label;
    std::string value;
    ls >> label >> value;
    if (label != "public:" && label != "secret:") {
      return Status::InvalidArgument(path + ":" + std::to_string(n),
                                     "expected 'public: KEY' or 'secret: KEY'");
    }
    if (!IsZ85Key(value)) {
      return Status::InvalidArgument(path + ":" + std::to_string(n),
                                     "is not a 40-character Z85 CURVE key");
    }
    (label == "public:" ? keys.public_z85 : keys.secret_z85) = value;
  }
  if (keys.public_z85.empty()) {
    return Status::InvalidArgument(path, "has no 'public:' line");
  }
  return keys;
}

}  // namespace passage::transport
