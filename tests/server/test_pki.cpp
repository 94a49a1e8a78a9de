#include "tests/server/test_pki.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace drydock::testing {

namespace fs = std::filesystem;

namespace {

// Extensions for each kind of certificate; -subj gives the names.
constexpr const char* kConfig = R"([req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
)";

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

std::string new_key(KeyType type) {
  return type == KeyType::kRsa2048 ? "-newkey rsa:2048"
                                   : "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
}

}  // namespace

TestPki::TestPki(fs::path dir, std::string_view ca_name)
    : dir_(std::move(dir)), config_(dir_ / "pki.cnf") {
  fs::create_directories(dir_);
  std::ofstream(config_) << kConfig;
  ca_ = {dir_ / "ca.pem", dir_ / "ca.key"};
  run("openssl req -x509 -new -config " + quote(config_) + " -extensions ca " +
      new_key(KeyType::kEcP256) + " -nodes -days 2 -subj '/CN=" + std::string(ca_name) +
      "' -keyout " + quote(ca_.key) + " -out " + quote(ca_.cert));
}

Issued TestPki::server_cert(std::string_view name, KeyType type) {
  return issue(name, "server", type);
}

Issued TestPki::client_cert(std::string_view name) {
  return issue(name, "client", KeyType::kEcP256);
}

Issued TestPki::issue(std::string_view name, std::string_view extensions, KeyType type) {
  std::string base = std::string(name);
  Issued out{dir_ / (base + ".pem"), dir_ / (base + ".key")};
  fs::path csr = dir_ / (base + ".csr");
  run("openssl req -new -config " + quote(config_) + " " + new_key(type) +
      " -nodes -subj '/CN=" + base + "' -keyout " + quote(out.key) + " -out " + quote(csr));
  run("openssl x509 -req -in " + quote(csr) + " -CA " + quote(ca_.cert) + " -CAkey " +
      quote(ca_.key) + " -set_serial " + std::to_string(++serial_) + " -days 2 -extfile " +
      quote(config_) + " -extensions " + std::string(extensions) + " -out " + quote(out.cert));
  return out;
}

void TestPki::run(const std::string& command) const {
  fs::path log = dir_ / "openssl.log";
  if (std::system((command + " >" + quote(log) + " 2>&1").c_str()) == 0) return;
  std::ifstream in(log);
  std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  throw std::runtime_error("failed: " + command + "\n" + output);
}

}  // namespace drydock::testing
