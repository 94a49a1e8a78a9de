#include "server/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/context.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace drydock::server {

namespace {

namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;

// TLS 1.2 suites with forward secrecy and authenticated encryption only, in
// the server's order of preference (Mozilla's "intermediate" list). Every
// TLS 1.3 suite is of that kind already, so OpenSSL's TLS 1.3 defaults stay.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The whole file, or an error naming it: a clearer message than OpenSSL's
// for the common mistakes (wrong path, no permission).
std::string read_pem(const fs::path& file, const char* what) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw std::runtime_error(std::string("cannot read TLS ") + what + " " + file.string() + ": " +
                             std::strerror(errno));
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

[[noreturn]] void load_failed(const char* what, const fs::path& file,
                              const boost::system::error_code& ec, std::string_view hint = {}) {
  throw std::runtime_error(std::string("cannot load TLS ") + what + " from " + file.string() +
                           ": " + ec.message() + std::string(hint));
}

// OpenSSL compares a key with the certificate already loaded when the two
// are of the same type, and says so in its own words.
bool key_mismatch(const boost::system::error_code& ec) {
  auto code = static_cast<unsigned long>(ec.value());
  return ERR_GET_LIB(code) == ERR_LIB_X509 && (ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH ||
                                               ERR_GET_REASON(code) == X509_R_KEY_TYPE_MISMATCH);
}

[[noreturn]] void mismatch(const config::TlsConfig& tls) {
  throw std::runtime_error("TLS key " + tls.key.string() + " does not match certificate " +
                           tls.cert.string());
}

void set_protocol(ssl::context& ctx) {
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(
      native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    throw std::runtime_error("this OpenSSL offers none of the TLS 1.2 ciphers we allow");
  }
  // Needed for session resumption once client certificates are verified;
  // harmless otherwise.
  static constexpr unsigned char kSessionContext[] = "drydock";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  // An encrypted key must fail to load, not prompt on the terminal.
  ctx.set_password_callback(
      [](std::size_t, ssl::context::password_purpose) { return std::string(); });
}

void load_identity(ssl::context& ctx, const config::TlsConfig& tls) {
  if (tls.key.empty()) throw std::runtime_error("TLS needs both a certificate and a key");
  read_pem(tls.cert, "certificate");
  std::string key = read_pem(tls.key, "key");
  boost::system::error_code ec;
  ctx.use_certificate_chain_file(tls.cert.string(), ec);
  if (ec) load_failed("certificate chain", tls.cert, ec);
  ctx.use_private_key_file(tls.key.string(), ssl::context::pem, ec);
  if (ec && key_mismatch(ec)) mismatch(tls);
  if (ec) {
    bool encrypted = key.find("ENCRYPTED") != std::string::npos;
    load_failed("key", tls.key, ec, encrypted ? " (encrypted keys are not supported)" : "");
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) mismatch(tls);
}

// Mutual TLS: the handshake fails unless the client presents a certificate
// signed by `ca`; the CA's name is sent so clients can pick the right one.
void require_client_certificates(ssl::context& ctx, const fs::path& ca) {
  read_pem(ca, "client CA");
  boost::system::error_code ec;
  ctx.load_verify_file(ca.string(), ec);
  if (ec) load_failed("client CA", ca, ec);
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str());
  if (names == nullptr) {
    throw std::runtime_error("cannot load TLS client CA from " + ca.string() +
                             ": no certificate in it");
  }
  SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
  ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
}

}  // namespace

std::shared_ptr<ssl::context> make_tls_context(const config::TlsConfig& tls) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  set_protocol(*ctx);
  load_identity(*ctx, tls);
  if (!tls.client_ca.empty()) require_client_certificates(*ctx, tls.client_ca);
  return ctx;
}

}  // namespace drydock::server
