#pragma once

// CURVE key pairs (Z85 text, 40 characters each) and their files.
//
// Key file format (text, one key per line; the secret line only in secret files):
//   public: <40 Z85 chars>
//   secret: <40 Z85 chars>

#include <string>

#include "core/status.h"

namespace passage::transport {

struct CurveKeyPair {
  std::string public_z85;
  std::string secret_z85;
};

CurveKeyPair GenerateCurveKeyPair();
// Writes the pair with mode 0600.
Status WriteKeyFile(const std::string& path, const CurveKeyPair& keys);
// Reads a key file; `secret_z85` is empty when the file holds only a public key.
Result<CurveKeyPair> ReadKeyFile(const std::string& path);
bool IsZ85Key(const std::string& key);

}  // namespace passage::transport
