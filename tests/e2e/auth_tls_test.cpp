// Real clients with credentials over TLS: Drydock runs with --auth and a
// certificate from a CA this test makes; docker trusts it through
// /etc/docker/certs.d/HOST:PORT/ca.crt, skopeo and podman through a cert dir.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "e2e_fixture.hpp"

namespace drydock::e2e {
namespace {

constexpr const char* kAdminPassword = "admin-secret-1";
constexpr const char* kAlicePassword = "alice-secret-2";
constexpr const char* kReaderPassword = "reader-secret-3";

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class AuthTls : public E2E {
 protected:
  void configure_registry(RegistryOptions* options) override {
    binary_ = options->binary;
    certs_ = tmp_dir_ / "certs";
    std::filesystem::create_directories(certs_);
    const std::string d = shell_quote(certs_.string());
    // A CA, and a server certificate for localhost / 127.0.0.1 signed by it.
    ASSERT_COMMAND_OK(sh("cd " + d +
                         " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                         " -keyout ca.key -out ca.crt -days 2 -subj /CN=drydock-e2e-ca 2>&1"
                         " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                         " -keyout server.key -out server.csr -subj /CN=localhost 2>&1"
                         " && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext"
                         " && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key"
                         " -CAcreateserial -out server.crt -days 2 -extfile san.ext 2>&1"));
    options->extra_args = {"--auth", "--tls-cert", (certs_ / "server.crt").string(),
                           "--tls-key", (certs_ / "server.key").string()};
    options->env = {{"DRYDOCK_ADMIN_USER", "admin"}, {"DRYDOCK_ADMIN_PASSWORD", kAdminPassword}};
    options->ca_cert = certs_ / "ca.crt";
    // skopeo and podman read CA files (*.crt) from a directory.
    client_certs_ = tmp_dir_ / "client-certs";
    std::filesystem::create_directories(client_certs_);
    std::filesystem::copy_file(certs_ / "ca.crt", client_certs_ / "ca.crt");
  }

  void TearDown() override {
    if (!docker_certs_.empty()) std::filesystem::remove_all(docker_certs_);
    E2E::TearDown();
  }

  // `drydock ARGS --data DIR` next to the running server.
  CommandResult drydock(const std::string& args, const std::string& stdin_text = "") {
    std::string cmd = shell_quote(binary_.string()) + " " + args + " --data " +
                      shell_quote(registry_->data_dir().string());
    if (!stdin_text.empty()) cmd = "printf '%s\\n' " + shell_quote(stdin_text) + " | " + cmd;
    return sh(cmd + " 2>&1");
  }

  // Users made with the CLI while the server runs: alice pushes to e2e/**,
  // reader only pulls.
  void add_users() {
    ASSERT_COMMAND_OK(drydock("user add alice --password-stdin", kAlicePassword));
    ASSERT_COMMAND_OK(drydock("grant alice 'e2e/**' pull,push"));
    ASSERT_COMMAND_OK(drydock("user add reader --password-stdin", kReaderPassword));
    ASSERT_COMMAND_OK(drydock("grant reader 'e2e/**' pull"));
  }

  // Makes dockerd trust the test CA for this registry.
  void trust_in_docker() {
    docker_certs_ = "/etc/docker/certs.d/" + registry_->host();
    std::filesystem::create_directories(docker_certs_);
    std::filesystem::copy_file(certs_ / "ca.crt", docker_certs_ / "ca.crt",
                               std::filesystem::copy_options::overwrite_existing);
  }

  std::string login(const std::string& tool, const std::string& user,
                    const std::string& password) {
    return "printf '%s' " + shell_quote(password) + " | " + tool + " login -u " + user +
           " --password-stdin " + registry_->host();
  }

  std::filesystem::path binary_;
  std::filesystem::path certs_;
  std::filesystem::path client_certs_;
  std::filesystem::path docker_certs_;
};

TEST_F(AuthTls, PlainHttpIsNotServedAndCurlSeesTheChallenge) {
  auto plain = sh("curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:" +
                  std::to_string(registry_->port()) + "/v2/ 2>&1");
  EXPECT_NE(plain.output, "200") << plain.describe();
  auto challenge = sh("curl -sS -D - -o /dev/null " + registry_->curl_tls() + " " +
                      registry_->base_url() + "/v2/");
  ASSERT_COMMAND_OK(challenge);
  EXPECT_NE(challenge.output.find("HTTP/1.1 401"), std::string::npos) << challenge.output;
  EXPECT_NE(challenge.output.find("Bearer realm=\"https://localhost:" +
                                  std::to_string(registry_->port()) + "/token\""),
            std::string::npos)
      << challenge.output;
  // The admin from the environment logs in.
  auto admin = sh("curl -sS -o /dev/null -w '%{http_code}' -u admin:" +
                  std::string(kAdminPassword) + " " + registry_->curl_tls() + " " +
                  registry_->base_url() + "/v2/");
  EXPECT_EQ(admin.output, "200") << admin.describe();
}

TEST_F(AuthTls, DockerLoginPushPullLogout) {
  ASSERT_NO_FATAL_FAILURE(ensure_dockerd());
  ASSERT_NO_FATAL_FAILURE(add_users());
  ASSERT_NO_FATAL_FAILURE(trust_in_docker());
  ASSERT_NO_FATAL_FAILURE(build_busybox_images());
  // A config dir of our own: the test must not touch the machine's logins.
  const std::string config = tmp("docker-config");
  const std::string client = "env DOCKER_CONFIG=" + config + " " + docker();

  auto bad = sh(login(client, "alice", "wrong-password") + " 2>&1");
  EXPECT_FALSE(bad.ok()) << bad.describe();
  auto good = sh(login(client, "alice", kAlicePassword) + " 2>&1");
  ASSERT_COMMAND_OK(good);
  EXPECT_NE(good.output.find("Login Succeeded"), std::string::npos) << good.describe();
  // docker keeps the refresh token (identitytoken), not the password.
  std::string stored = slurp(tmp_dir_ / "docker-config" / "config.json");
  EXPECT_NE(stored.find("identitytoken"), std::string::npos) << stored;
  EXPECT_EQ(stored.find(kAlicePassword), std::string::npos) << stored;

  auto push = sh(client + " push " + image("e2e/busybox:1") + " 2>&1");
  ASSERT_COMMAND_OK(push);
  ASSERT_COMMAND_OK(sh(docker() + " rmi " + image("e2e/busybox:1")));
  ASSERT_COMMAND_OK(sh(client + " pull " + image("e2e/busybox:1") + " 2>&1"));
  auto run = sh(docker() + " run --rm --network none " + image("e2e/busybox:1") + " echo ok");
  ASSERT_COMMAND_OK(run);
  EXPECT_EQ(trim(run.output), "ok");

  // Logged out: the pull is refused.
  ASSERT_COMMAND_OK(sh(client + " logout " + registry_->host() + " 2>&1"));
  ASSERT_COMMAND_OK(sh(docker() + " rmi " + image("e2e/busybox:1")));
  auto denied = sh(client + " pull " + image("e2e/busybox:1") + " 2>&1");
  EXPECT_FALSE(denied.ok()) << denied.describe();
  EXPECT_TRUE(denied.output.find("unauthorized") != std::string::npos ||
              denied.output.find("denied") != std::string::npos ||
              denied.output.find("authentication required") != std::string::npos)
      << denied.describe();

  // A pull-only user can pull but not push.
  ASSERT_COMMAND_OK(sh(login(client, "reader", kReaderPassword) + " 2>&1"));
  ASSERT_COMMAND_OK(sh(client + " pull " + image("e2e/busybox:1") + " 2>&1"));
  auto refused = sh(client + " push " + image("e2e/busybox:2") + " 2>&1");
  EXPECT_FALSE(refused.ok()) << refused.describe();
  EXPECT_NE(refused.output.find("denied"), std::string::npos) << refused.describe();
}

TEST_F(AuthTls, SkopeoWithCreds) {
  ASSERT_NO_FATAL_FAILURE(add_users());
  ASSERT_COMMAND_OK(sh(script("make_oci_layout.sh") + " " + tmp("layout") + " 1"));
  const std::string certs = " --dest-cert-dir " + shell_quote(client_certs_.string());
  const std::string dest = " docker://" + image("e2e/skopeo:1");
  auto refused = sh("skopeo copy --all --dest-creds reader:" + std::string(kReaderPassword) +
                    certs + " oci:" + tmp("layout") + ":1" + dest + " 2>&1");
  EXPECT_FALSE(refused.ok()) << refused.describe();
  ASSERT_COMMAND_OK(sh("skopeo copy --all --dest-creds alice:" + std::string(kAlicePassword) +
                       certs + " oci:" + tmp("layout") + ":1" + dest + " 2>&1"));
  const std::string src_certs = " --cert-dir " + shell_quote(client_certs_.string());
  auto inspect = sh("skopeo inspect --raw --creds reader:" + std::string(kReaderPassword) +
                    src_certs + dest + " 2>&1");
  ASSERT_COMMAND_OK(inspect);
  EXPECT_NE(inspect.output.find("manifests"), std::string::npos) << inspect.describe();
  auto wrong = sh("skopeo inspect --raw --creds reader:nope" + src_certs + dest + " 2>&1");
  EXPECT_FALSE(wrong.ok()) << wrong.describe();
  auto anonymous = sh("skopeo inspect --raw --no-creds" + src_certs + dest + " 2>&1");
  EXPECT_FALSE(anonymous.ok()) << anonymous.describe();
}

TEST_F(AuthTls, PodmanLoginPushPull) {
  ASSERT_NO_FATAL_FAILURE(add_users());
  used_podman_ = true;
  const std::string auth_file = tmp("podman-auth.json");
  const std::string p = podman() + " --log-level=error";
  const std::string opts =
      " --authfile " + auth_file + " --cert-dir " + shell_quote(client_certs_.string());
  ASSERT_COMMAND_OK(sh(script("make_rootfs.sh") + " " + tmp("rootfs.tar")));
  ASSERT_COMMAND_OK(sh(p + " import " + tmp("rootfs.tar") + " " + image("e2e/podman:1") + " 2>&1"));
  auto bad = sh("printf '%s' nope | " + p + " login" + opts + " -u alice --password-stdin " +
                registry_->host() + " 2>&1");
  EXPECT_FALSE(bad.ok()) << bad.describe();
  ASSERT_COMMAND_OK(sh("printf '%s' " + shell_quote(kAlicePassword) + " | " + p + " login" +
                       opts + " -u alice --password-stdin " + registry_->host() + " 2>&1"));
  ASSERT_COMMAND_OK(sh(p + " push" + opts + " " + image("e2e/podman:1") + " 2>&1"));
  ASSERT_COMMAND_OK(sh(p + " rmi " + image("e2e/podman:1") + " 2>&1"));
  ASSERT_COMMAND_OK(sh(p + " pull" + opts + " " + image("e2e/podman:1") + " 2>&1"));
  ASSERT_COMMAND_OK(sh(p + " logout --authfile " + auth_file + " " + registry_->host() + " 2>&1"));
  auto denied = sh(p + " pull" + opts + " " + image("e2e/podman:1") + " 2>&1");
  // The image is local now; a pull still asks the registry, which refuses.
  EXPECT_FALSE(denied.ok()) << denied.describe();
}

}  // namespace
}  // namespace drydock::e2e
