#pragma once

// The listener's TLS settings, as an OpenSSL context. Kept apart from
// server.hpp so that only the server's own files see Asio SSL and OpenSSL.

#include <memory>

#include "config/config.hpp"

namespace boost::asio::ssl {
class context;
}

namespace drydock::server {

// A server context built from the PEM files of `tls`: TLS 1.2 or later; TLS
// 1.2 limited to ECDHE key exchange with AES-GCM or ChaCha20-Poly1305; the
// server's cipher order; no compression, no renegotiation; session tickets
// on. The certificate chain and key must match. With `client_ca`, every
// client must present a certificate that CA signed. Throws
// std::runtime_error naming the file that could not be used.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const config::TlsConfig& tls);

}  // namespace drydock::server
