// HTTPS: the whole server in process with a throwaway PKI made by the
// `openssl` command line: verification against the CA, push and pull of a
// multi-MiB blob (the pread path, not sendfile), the protocol and cipher
// floor, plain HTTP on the TLS port, mutual TLS, and certificate reload.

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "tests/server/api_fixture.hpp"
#include "tests/server/test_pki.hpp"

namespace drydock::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void write_text(const fs::path& p, std::string_view text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

// The request reached the server and came back 200 over this TLS setup.
bool get_base(std::uint16_t port, const TlsOptions& tls) {
  try {
    Connection c(port, tls);
    return c.roundtrip(Request{.target = "/v2/"}).status == 200;
  } catch (const HttpError&) {
    return false;
  }
}

// The handshake fails; the error text, for the test to check.
std::string handshake_error(std::uint16_t port, const TlsOptions& tls) {
  try {
    Connection c(port, tls);
  } catch (const HttpError& e) {
    return e.what();
  }
  return "";
}

class TlsTest : public ApiTest {
 protected:
  // One CA and one server certificate (RSA, so that TLS 1.2 suites without
  // ECDHE exist to be refused) for the whole suite: key generation is slow.
  static void SetUpTestSuite() {
    suite_dir = std::make_unique<TempDir>();
    suite_pki = std::make_unique<TestPki>(suite_dir->path() / "ca");
    suite_server = suite_pki->server_cert("server-1", KeyType::kRsa2048);
  }
  static void TearDownTestSuite() {
    suite_pki.reset();
    suite_dir.reset();
  }

  // Each test serves its own copies of the files: reload tests replace them.
  void SetUp() override {
    fs::copy_file(suite_server.cert, cert_path());
    fs::copy_file(suite_server.key, key_path());
    use_tls(server_tls(), client_tls());
    ApiTest::SetUp();
  }

  fs::path cert_path() const { return files_.path() / "server.pem"; }
  fs::path key_path() const { return files_.path() / "server.key"; }
  config::TlsConfig server_tls() const { return {cert_path(), key_path(), {}}; }
  static TlsOptions client_tls() { return TlsOptions{.ca = suite_pki->ca_cert()}; }

  static inline std::unique_ptr<TempDir> suite_dir;
  static inline std::unique_ptr<TestPki> suite_pki;
  static inline Issued suite_server;
  TempDir files_;
};

// --- basics ------------------------------------------------------------------------

TEST_F(TlsTest, BaseOverHttpsVerifiesAgainstTheCa) {
  Connection c = connect();
  EXPECT_EQ(c.peer_subject(), "/CN=server-1");
  EXPECT_EQ(c.tls_version(), "TLSv1.3");
  Response r = c.roundtrip(Request{.target = "/v2/"});
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("Docker-Distribution-API-Version"), "registry/2.0");
  // Keep-alive works over TLS as over TCP.
  EXPECT_EQ(c.roundtrip(Request{.target = "/v2/_catalog"}).status, 200u);

  // The certificate names localhost too.
  TlsOptions by_name = client_tls();
  by_name.host = "localhost";
  EXPECT_TRUE(get_base(port(), by_name));

  // A client trusting another CA refuses the server: verification is real.
  TestPki other(files_.path() / "other-ca", "Some Other CA");
  EXPECT_NE(handshake_error(port(), TlsOptions{.ca = other.ca_cert()}), "");
  EXPECT_NE(handshake_error(port(), TlsOptions{.ca = suite_pki->ca_cert(), .host = "127.0.0.2"}),
            "");
  expect_alive();
}

TEST_F(TlsTest, PushAndPullMultiMiBBlob) {
  // Not a multiple of the server's 256 KiB copy buffer.
  std::string layer = random_bytes((6u << 20) + 12345, 7);
  std::string digest = sha256(layer);
  std::string location = start_upload("tls/app");
  Response put = http().put(with_digest(location, digest), layer);
  ASSERT_EQ(put.status, 201u) << put.body;
  std::string config = R"({"architecture":"amd64","os":"linux"})";
  std::string config_digest = push_blob("tls/app", config);
  std::string manifest =
      image_manifest(kOciManifest, descriptor(kOciConfig, config_digest, config.size()),
                     nlohmann::json::array({descriptor(kOciLayer, digest, layer.size())}));
  std::string manifest_digest = push_manifest("tls/app", "v1", kOciManifest, manifest);

  Response got = http().get("/v2/tls/app/manifests/v1", {{"Accept", std::string(kOciManifest)}});
  ASSERT_EQ(got.status, 200u);
  EXPECT_EQ(got.body, manifest);
  EXPECT_EQ(got.header("Docker-Content-Digest"), manifest_digest);

  Response blob = http().get("/v2/tls/app/blobs/" + digest);
  ASSERT_EQ(blob.status, 200u);
  EXPECT_EQ(blob.body.size(), layer.size());
  EXPECT_TRUE(blob.body == layer) << "the blob came back different";

  // A range across several copy pieces, starting mid-piece.
  std::size_t first = 1000003, last = 4000001;
  std::string range = std::to_string(first) + "-" + std::to_string(last);
  Response part = http().get("/v2/tls/app/blobs/" + digest, {{"Range", "bytes=" + range}});
  ASSERT_EQ(part.status, 206u);
  EXPECT_EQ(part.header("Content-Range"), "bytes " + range + "/" + std::to_string(layer.size()));
  EXPECT_TRUE(part.body == layer.substr(first, last - first + 1))
      << "the range came back different";

  Response head = http().head("/v2/tls/app/blobs/" + digest);
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("Content-Length"), std::to_string(layer.size()));
  // The keep-alive connection is still in sync after all that.
  EXPECT_EQ(http().get("/v2/").status, 200u);
}

TEST_F(TlsTest, ClientLeavingMidDownloadLeavesTheServerServing) {
  std::string layer = random_bytes(8u << 20, 9);
  std::string digest = push_blob("tls/gone", layer);
  Connection c = connect();
  c.send(Request{.target = "/v2/tls/gone/blobs/" + digest}.serialize());
  ASSERT_TRUE(c.wait_readable(5s));
  c.reset();
  expect_alive();
  EXPECT_TRUE(http().get("/v2/tls/gone/blobs/" + digest).body == layer);
}

// An oversized manifest is refused before its body is read: the 413 must
// still reach the client through TLS (linger, then close_notify).
TEST_F(TlsTest, RefusedBodyStillGetsItsAnswer) {
  std::string big(5u << 20, 'x');
  Response r = put_manifest("tls/big", "v1", kOciManifest, big);
  EXPECT_EQ(r.status, 413u) << r.body;
  expect_alive();
}

// --- what the TLS port refuses -----------------------------------------------------

TEST_F(TlsTest, PlainHttpOnTheTlsPortIsRefusedCleanly) {
  Connection plain(port());
  Response r = plain.roundtrip(Request{.target = "/v2/"});
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.body.find("HTTPS"), std::string::npos) << r.body;
  EXPECT_TRUE(plain.wait_closed(5s));

  // Bytes that are neither HTTP nor TLS: the connection just closes.
  Connection junk(port());
  junk.send(std::string(64, '\x07'));
  EXPECT_TRUE(junk.wait_closed(5s));
  expect_alive();
}

TEST_F(TlsTest, Tls11IsRefused) {
  // OpenSSL 3 keeps TLS 1.1 below security level 1; level 0 lets the client
  // at least offer it.
  TlsOptions old = client_tls();
  old.min_version = TLS1_1_VERSION;
  old.max_version = TLS1_1_VERSION;
  old.ciphers = "DEFAULT:@SECLEVEL=0";
  std::string error = handshake_error(port(), old);
  if (error.find("no protocols available") != std::string::npos ||
      error.find("no ciphers available") != std::string::npos) {
    GTEST_SKIP() << "this OpenSSL cannot even offer TLS 1.1: " << error;
  }
  EXPECT_NE(error.find("protocol version"), std::string::npos) << error;
  expect_alive();
}

TEST_F(TlsTest, Tls12OnlyWithEcdheAndAead) {
  auto tls12 = [](const std::string& ciphers) {
    TlsOptions o = client_tls();
    o.max_version = TLS1_2_VERSION;
    o.ciphers = ciphers;
    return o;
  };
  for (const char* refused : {"AES128-GCM-SHA256", "AES256-SHA256", "DHE-RSA-AES128-GCM-SHA256",
                              "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384"}) {
    EXPECT_NE(handshake_error(port(), tls12(refused)), "") << refused << " was accepted";
  }
  for (const char* allowed : {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                              "ECDHE-RSA-CHACHA20-POLY1305"}) {
    Connection c(port(), tls12(allowed));
    EXPECT_EQ(c.tls_version(), "TLSv1.2");
    EXPECT_EQ(c.tls_cipher(), allowed);
    EXPECT_EQ(c.roundtrip(Request{.target = "/v2/"}).status, 200u);
  }
  // The server's order wins over the client's.
  Connection c(port(), tls12("ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256"));
  EXPECT_EQ(c.tls_cipher(), "ECDHE-RSA-AES128-GCM-SHA256");
  expect_alive();
}

// A client that connects and never starts the handshake is closed after the
// idle timeout, like one that never sends a request header.
TEST_F(TlsTest, SilentClientIsClosedAfterTheIdleTimeout) {
  stop_server();
  auto c = default_config();
  c.idle_timeout_seconds = 1;
  start_server(c);
  Connection silent(port());
  EXPECT_TRUE(silent.wait_closed(5s));
  expect_alive();
}

// --- mutual TLS --------------------------------------------------------------------

TEST_F(TlsTest, MutualTlsNeedsACertificateFromTheClientCa) {
  Issued alice = suite_pki->client_cert("alice");
  stop_server();
  use_tls({cert_path(), key_path(), suite_pki->ca_cert()}, client_tls());
  start_server();

  EXPECT_FALSE(get_base(port(), client_tls())) << "no client certificate, yet served";
  TestPki other(files_.path() / "other-ca", "Some Other CA");
  Issued mallory = other.client_cert("mallory");
  TlsOptions with_mallory = client_tls();
  with_mallory.cert = mallory.cert;
  with_mallory.key = mallory.key;
  EXPECT_FALSE(get_base(port(), with_mallory)) << "a certificate from another CA, yet served";

  TlsOptions with_alice = client_tls();
  with_alice.cert = alice.cert;
  with_alice.key = alice.key;
  EXPECT_TRUE(get_base(port(), with_alice));
  // TLS 1.2 too, where the refusal happens inside the handshake itself.
  with_alice.max_version = TLS1_2_VERSION;
  EXPECT_TRUE(get_base(port(), with_alice));
  TlsOptions anonymous12 = client_tls();
  anonymous12.max_version = TLS1_2_VERSION;
  EXPECT_NE(handshake_error(port(), anonymous12), "");
}

// --- reload ------------------------------------------------------------------------

TEST_F(TlsTest, ReloadServesNewCertificateToNewConnectionsOnly) {
  Connection before = connect();
  ASSERT_EQ(before.roundtrip(Request{.target = "/v2/"}).status, 200u);
  ASSERT_EQ(before.peer_subject(), "/CN=server-1");

  Issued next = suite_pki->server_cert("server-2");
  fs::copy_file(next.cert, cert_path(), fs::copy_options::overwrite_existing);
  fs::copy_file(next.key, key_path(), fs::copy_options::overwrite_existing);
  auto reloaded = server().reload_tls();
  ASSERT_TRUE(reloaded.has_value()) << reloaded.error();

  Connection after = connect();
  EXPECT_EQ(after.peer_subject(), "/CN=server-2");
  EXPECT_EQ(after.roundtrip(Request{.target = "/v2/"}).status, 200u);
  // The connection opened before the reload goes on, on its old session.
  EXPECT_EQ(before.roundtrip(Request{.target = "/v2/_catalog"}).status, 200u);
  EXPECT_EQ(before.peer_subject(), "/CN=server-1");
}

TEST_F(TlsTest, FailedReloadKeepsTheCurrentCertificate) {
  Issued next = suite_pki->server_cert("server-3");
  // A certificate that is not PEM.
  write_text(cert_path(), "not a certificate\n");
  auto bad = server().reload_tls();
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find(cert_path().string()), std::string::npos) << bad.error();
  // A certificate with somebody else's key.
  fs::copy_file(next.cert, cert_path(), fs::copy_options::overwrite_existing);
  bad = server().reload_tls();
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find("does not match"), std::string::npos) << bad.error();
  // A key that is gone.
  fs::remove(key_path());
  bad = server().reload_tls();
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find(key_path().string()), std::string::npos) << bad.error();

  Connection c = connect();
  EXPECT_EQ(c.peer_subject(), "/CN=server-1");
  EXPECT_EQ(c.roundtrip(Request{.target = "/v2/"}).status, 200u);
}

TEST_F(TlsTest, StartFailsNamingTheFile) {
  stop_server();
  fs::path missing = files_.path() / "missing.pem";
  use_tls({missing, key_path(), {}}, client_tls());
  try {
    start_server();
    ADD_FAILURE() << "started without a certificate";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  stop_server();
  Issued other = suite_pki->server_cert("server-4");
  use_tls({other.cert, key_path(), {}}, client_tls());
  try {
    start_server();
    ADD_FAILURE() << "started with a key that does not match the certificate";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("does not match"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace drydock::testing
