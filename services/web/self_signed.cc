#include "services/web/self_signed.h"

#include <fcntl.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>

namespace passage::web {
namespace {

struct Freer {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};

Result<std::string> Pem(const std::function<int(BIO*)>& write) {
  std::unique_ptr<BIO, Freer> bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) {
    return Status::Internal("cannot write PEM");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Status WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    return Status::Unavailable("cannot create " + path);
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok ? Status::Ok() : Status::Unavailable("cannot write " + path);
}

}  // namespace

Status EnsureSelfSignedCertificate(const std::string& cert_path, const std::string& key_path,
                                   const std::string& host) {
  if (std::filesystem::exists(cert_path) && std::filesystem::exists(key_path)) {
    return Status::Ok();
  }
  std::unique_ptr<EVP_PKEY, Freer> key(EVP_EC_gen("P-256"));
  if (!key) {
    return Status::Internal("cannot make an EC P-256 key");
  }
  std::unique_ptr<X509, Freer> cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) {
    return Status::Internal("no randomness for the certificate serial");
  }
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 825L * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  // Listening on every address (0.0.0.0, ::): the certificate names the machine, and loopback.
  const bool wildcard = host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
  std::string cn = host;
  std::string san;
  if (wildcard) {
    char machine[256] = {};
    cn = ::gethostname(machine, sizeof(machine) - 1) == 0 && machine[0] != '\0' ? machine
                                                                                 : "localhost";
    san = "DNS:" + cn + (cn == "localhost" ? "" : ",DNS:localhost") + ",IP:127.0.0.1";
  } else {
    const bool is_ip = host.find_first_not_of("0123456789.:") == std::string::npos;
    san = (is_ip ? "IP:" : "DNS:") + host;
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Passage node"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
  if (ext != nullptr) {
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return Status::Internal("cannot sign the self-signed certificate");
  }
  ASSIGN_OR_RETURN(std::string key_pem, Pem([&](BIO* b) {
                     return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr,
                                                     nullptr);
                   }));
  ASSIGN_OR_RETURN(std::string cert_pem,
                   Pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); }));
  ::unlink(key_path.c_str());
  ::unlink(cert_path.c_str());
  RETURN_IF_ERROR(WriteFile(key_path, key_pem, 0600));
  return WriteFile(cert_path, cert_pem, 0644);
}

}  // namespace passage::web
