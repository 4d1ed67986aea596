#pragma once

// A self-signed TLS certificate for a node's web workspace (HttpConfig.tls_self_signed): an EC P-256
// key and an X.509 certificate for `host` valid 825 days, written as PEM (the key 0600). Existing
// files are kept, so the certificate a browser was told to trust stays the same across restarts.

#include <string>

#include "core/status.h"

namespace passage::web {

Status EnsureSelfSignedCertificate(const std::string& cert_path, const std::string& key_path,
                                   const std::string& host);

}  // namespace passage::web
