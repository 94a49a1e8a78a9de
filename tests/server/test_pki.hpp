#pragma once

// A throwaway PKI for the TLS tests, made with the `openssl` command line in
// a directory the caller owns: one CA, then server certificates (for
// 127.0.0.1 and localhost) and client certificates it signs.

#include <filesystem>
#include <string>
#include <string_view>

namespace drydock::testing {

enum class KeyType { kEcP256, kRsa2048 };

// A certificate and its private key, both PEM files.
struct Issued {
  std::filesystem::path cert;
  std::filesystem::path key;
};

class TestPki {
 public:
  // Creates `dir` if needed and a CA ("/CN=<ca_name>") in it. Throws
  // std::runtime_error with openssl's output if a command fails.
  explicit TestPki(std::filesystem::path dir, std::string_view ca_name = "Drydock Test CA");

  const std::filesystem::path& ca_cert() const { return ca_.cert; }

  // A server certificate "/CN=<name>", subjectAltName IP:127.0.0.1 and
  // DNS:localhost, with a serial number of its own.
  Issued server_cert(std::string_view name, KeyType type = KeyType::kEcP256);
  // A client certificate "/CN=<name>" (extendedKeyUsage clientAuth).
  Issued client_cert(std::string_view name);

 private:
  Issued issue(std::string_view name, std::string_view extensions, KeyType type);
  void run(const std::string& command) const;

  std::filesystem::path dir_;
  std::filesystem::path config_;
  Issued ca_;
  int serial_ = 1;
};

}  // namespace drydock::testing
