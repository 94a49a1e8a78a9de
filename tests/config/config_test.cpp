#include "config/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

namespace drydock::config {
namespace {

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("drydock-config-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(const std::string& text) {
    auto path = dir_ / "config.json";
    std::ofstream(path) << text;
    return path;
  }

  // The message of the runtime_error that loading `text` throws.
  std::string error_of(const std::string& text) {
    try {
      load_file(write(text));
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "no error";
  }

  std::filesystem::path dir_;
};

TEST(ConfigDefaults, MatchTheDocumentedEmbeddedDefault) {
  Config c;
  EXPECT_EQ(c.server.listen_host, "0.0.0.0");
  EXPECT_EQ(c.server.listen_port, 5000);
  EXPECT_EQ(c.storage.data_dir, std::filesystem::path("data"));
  EXPECT_EQ(c.registry.max_manifest_bytes, 4u * 1024 * 1024);
  EXPECT_EQ(c.server.header_limit_bytes, 16u * 1024);
  EXPECT_EQ(c.registry.upload_expiry_hours, 168u);
}

TEST_F(ConfigFileTest, EveryKeyIsRead) {
  Config c = load_file(write(R"({
    "listen": "127.0.0.1:6000", "data": "/srv/drydock",
    "server": {"io_threads": 3, "worker_threads": 5, "idle_timeout_seconds": 7,
               "body_timeout_seconds": 8, "header_limit_bytes": 9000,
               "shutdown_grace_seconds": 11, "access_log": false},
    "registry": {"max_manifest_bytes": 123456, "chunk_min_length": 1024,
                 "upload_expiry_hours": 24,
                 "immutable_tags": [{"repositories": "team/**", "tags": "v*"}, {"tags": "Stable"}]}
  })"));
  EXPECT_EQ(c.server.listen_host, "127.0.0.1");
  EXPECT_EQ(c.server.listen_port, 6000);
  EXPECT_EQ(c.storage.data_dir, std::filesystem::path("/srv/drydock"));
  EXPECT_EQ(c.server.io_threads, 3u);
  EXPECT_EQ(c.server.worker_threads, 5u);
  EXPECT_EQ(c.server.idle_timeout_seconds, 7u);
  EXPECT_EQ(c.server.body_timeout_seconds, 8u);
  EXPECT_EQ(c.server.header_limit_bytes, 9000u);
  EXPECT_EQ(c.server.shutdown_grace_seconds, 11u);
  EXPECT_FALSE(c.server.access_log);
  EXPECT_EQ(c.registry.max_manifest_bytes, 123456u);
  EXPECT_EQ(c.registry.chunk_min_length, 1024u);
  EXPECT_EQ(c.registry.upload_expiry_hours, 24u);
  ASSERT_EQ(c.registry.immutable_tags.size(), 2u);
  EXPECT_EQ(c.registry.immutable_tags[0].repositories, "team/**");
  EXPECT_EQ(c.registry.immutable_tags[0].tags, "v*");
  EXPECT_EQ(c.registry.immutable_tags[1].repositories, "**");
  EXPECT_EQ(c.registry.immutable_tags[1].tags, "Stable");
}

TEST_F(ConfigFileTest, QuotasAreReadWithUnits) {
  auto c = load_file(write(R"({"registry": {"quotas": {"default_bytes": "1.5 GiB",
      "namespaces": {"team": "10GiB", "ci": 5000000000, "free": null, "small": "500mb",
                     "k": "64K"}}}})"));
  const auto& q = c.registry.quotas;
  EXPECT_EQ(q.default_bytes, 3ULL << 29);
  ASSERT_EQ(q.namespaces.size(), 5u);
  EXPECT_EQ(q.namespaces.at("team"), 10ULL << 30);
  EXPECT_EQ(q.namespaces.at("ci"), 5'000'000'000ULL);
  EXPECT_EQ(q.namespaces.at("free"), std::nullopt);
  EXPECT_EQ(q.namespaces.at("small"), 500'000'000ULL);
  EXPECT_EQ(q.namespaces.at("k"), 65536u);
  EXPECT_FALSE(load_file(write(R"({"registry": {}})")).registry.quotas.default_bytes);
}

TEST(ConfigByteSize, ParsesAndRefuses) {
  EXPECT_EQ(config::parse_byte_size("0"), 0u);
  EXPECT_EQ(config::parse_byte_size("123"), 123u);
  EXPECT_EQ(config::parse_byte_size("2 KiB"), 2048u);
  EXPECT_EQ(config::parse_byte_size("2kb"), 2000u);
  EXPECT_EQ(config::parse_byte_size("1TiB"), 1ULL << 40);
  EXPECT_EQ(config::parse_byte_size("0.5M"), 1ULL << 19);
  for (const char* bad : {"", "GiB", "-1", "1.5", "1.5B", "10 XB", "1..5G", "1e9",
                          "99999999999999999999", "20000000TiB", " 5"}) {
    EXPECT_EQ(config::parse_byte_size(bad), std::nullopt) << bad;
  }
}

TEST_F(ConfigFileTest, TlsAndAuthSectionsAreRead) {
  Config c = load_file(write(R"({
    "tls": {"cert": "/etc/d/cert.pem", "key": "/etc/d/key.pem", "client_ca": "/etc/d/ca.pem"},
    "auth": {"enabled": true, "realm": "https://r.example/token", "service": "svc",
             "issuer": "iss", "token_ttl_seconds": 60, "refresh_token_days": 7,
             "anonymous_pull": ["public/**", "mirror/*"], "admin_user": "root",
             "admin_password": "pw", "free_failures": 3, "max_delay_seconds": 30}
  })"));
  EXPECT_EQ(c.tls.cert, std::filesystem::path("/etc/d/cert.pem"));
  EXPECT_EQ(c.tls.key, std::filesystem::path("/etc/d/key.pem"));
  EXPECT_EQ(c.tls.client_ca, std::filesystem::path("/etc/d/ca.pem"));
  EXPECT_TRUE(c.tls.enabled());
  EXPECT_TRUE(c.auth.enabled);
  EXPECT_EQ(c.auth.realm, "https://r.example/token");
  EXPECT_EQ(c.auth.service, "svc");
  EXPECT_EQ(c.auth.issuer, "iss");
  EXPECT_EQ(c.auth.token_ttl_seconds, 60u);
  EXPECT_EQ(c.auth.refresh_token_days, 7u);
  EXPECT_EQ(c.auth.anonymous_pull, (std::vector<std::string>{"public/**", "mirror/*"}));
  EXPECT_EQ(c.auth.admin_user, "root");
  EXPECT_EQ(c.auth.admin_password, "pw");
  EXPECT_EQ(c.auth.free_failures, 3u);
  EXPECT_EQ(c.auth.max_delay_seconds, 30u);
  EXPECT_NO_THROW(validate(c));
}

TEST_F(ConfigFileTest, AuthAndTlsDefaultsAreOff) {
  Config c;
  EXPECT_FALSE(c.auth.enabled);
  EXPECT_FALSE(c.tls.enabled());
  EXPECT_TRUE(c.auth.anonymous_pull.empty());
  EXPECT_NE(error_of(R"({"auth": {"enable": true}})").find("auth.enable"), std::string::npos);
  EXPECT_NE(error_of(R"({"tls": {"certificate": "x"}})").find("tls.certificate"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"auth": {"anonymous_pull": "public/**"}})").find("anonymous_pull"),
            std::string::npos);
}

TEST_F(ConfigFileTest, UpstreamRegistriesAreRead) {
  Config c = load_file(write(R"({
    "builder": {"local_hosts": ["registry.example.com:5000"], "pull": false,
                "pull_timeout_seconds": 5,
                "mirrors": {"docker.io": "http://127.0.0.1:5001"},
                "registries": {"127.0.0.1:5001": {"username": "u", "password": "p",
                                                  "insecure": true, "ca_file": "/ca.pem"}}}
  })"));
  const auto& b = c.builder;
  EXPECT_EQ(b.local_hosts, std::vector<std::string>{"registry.example.com:5000"});
  EXPECT_FALSE(b.pull);
  EXPECT_EQ(b.pull_timeout_seconds, 5u);
  EXPECT_EQ(b.mirrors.at("docker.io"), "http://127.0.0.1:5001");
  const auto& r = b.registries.at("127.0.0.1:5001");
  EXPECT_EQ(r.username, "u");
  EXPECT_EQ(r.password, "p");
  EXPECT_TRUE(r.insecure);
  EXPECT_EQ(r.ca_file, "/ca.pem");
  EXPECT_NO_THROW(validate(c));
  EXPECT_EQ(Config{}.builder.local_hosts, std::vector<std::string>{"localhost"});
  EXPECT_TRUE(Config{}.builder.pull);
  EXPECT_NE(error_of(R"({"builder": {"registries": {"h": {"user": "u"}}}})")
                .find("builder.registries.h.user"),
            std::string::npos);
  c.builder.mirrors["docker.io"] = "mirror.example.com";
  EXPECT_THROW(validate(c), std::runtime_error);
}

TEST_F(ConfigFileTest, BuilderSectionIsRead) {
  Config c = load_file(write(R"({
    "builder": {"enabled": false, "concurrency": 3, "build_timeout_seconds": 60,
                "step_timeout_seconds": 10, "max_context_bytes": 1000,
                "max_extracted_bytes": 2000, "max_context_entries": 30,
                "memory_limit_bytes": 4000, "pids_limit": 50, "runtime": "/bin/crun",
                "network": "host", "max_queued": 7, "cache_max_bytes": 99,
                "kept_contexts_max_bytes": 77}
  })"));
  const auto& b = c.builder;
  EXPECT_FALSE(b.enabled);
  EXPECT_EQ(b.concurrency, 3u);
  EXPECT_EQ(b.build_timeout_seconds, 60u);
  EXPECT_EQ(b.step_timeout_seconds, 10u);
  EXPECT_EQ(b.max_context_bytes, 1000u);
  EXPECT_EQ(b.max_extracted_bytes, 2000u);
  EXPECT_EQ(b.max_context_entries, 30u);
  EXPECT_EQ(b.memory_limit_bytes, 4000u);
  EXPECT_EQ(b.pids_limit, 50);
  EXPECT_EQ(b.runtime, "/bin/crun");
  EXPECT_EQ(b.network, "host");
  EXPECT_EQ(b.max_queued, 7u);
  EXPECT_EQ(b.cache_max_bytes, 99u);
  EXPECT_EQ(b.kept_contexts_max_bytes, 77u);
  EXPECT_NO_THROW(validate(c));
  EXPECT_NE(error_of(R"({"builder": {"concurency": 2}})").find("builder.concurency"),
            std::string::npos);
}

TEST(Validate, BuilderValues) {
  Config c;
  EXPECT_TRUE(c.builder.enabled);
  EXPECT_EQ(c.builder.network, "none");
  EXPECT_NO_THROW(validate(c));
  c.builder.network = "bridge";
  EXPECT_THROW(validate(c), std::runtime_error);
  c.builder.network = "none";
  c.builder.concurrency = 0;
  EXPECT_THROW(validate(c), std::runtime_error);
  c.builder.concurrency = 1;
  c.builder.max_context_bytes = 0;
  EXPECT_THROW(validate(c), std::runtime_error);
}

TEST(Validate, TlsNeedsCertAndKeyTogether) {
  Config c;
  c.tls.cert = "cert.pem";
  EXPECT_THROW(validate(c), std::runtime_error);
  c.tls.cert.clear();
  c.tls.key = "key.pem";
  EXPECT_THROW(validate(c), std::runtime_error);
  c.tls.key.clear();
  c.tls.client_ca = "ca.pem";
  EXPECT_THROW(validate(c), std::runtime_error);
  c.tls.cert = "cert.pem";
  c.tls.key = "key.pem";
  EXPECT_NO_THROW(validate(c));
}

TEST_F(ConfigFileTest, MissingKeysKeepTheBase) {
  Config base;
  base.server.listen_port = 7000;
  Config c = load_file(write(R"({"data": "elsewhere"})"), base);
  EXPECT_EQ(c.server.listen_port, 7000);
  EXPECT_EQ(c.storage.data_dir, std::filesystem::path("elsewhere"));
}

TEST_F(ConfigFileTest, CommentsAreAllowed) {
  Config c = load_file(write("{ // the port\n \"listen\": \":5001\" }"));
  EXPECT_EQ(c.server.listen_port, 5001);
  EXPECT_EQ(c.server.listen_host, "0.0.0.0");
}

TEST_F(ConfigFileTest, UnknownKeysAreErrorsNamingTheKey) {
  EXPECT_NE(error_of(R"({"lisen": "x:1"})").find("lisen"), std::string::npos);
  EXPECT_NE(error_of(R"({"server": {"io_thread": 1}})").find("server.io_thread"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"registry": {"max": 1}})").find("registry.max"), std::string::npos);
  EXPECT_NE(error_of(R"({"registry": {"immutable_tags": [{"tag": "v*"}]}})")
                .find("registry.immutable_tags[].tag"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"registry": {"immutable_tags": [{"tags": "v/*"}]}})")
                .find("tag pattern"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"registry": {"immutable_tags": {"tags": "v*"}}})").find("array"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"registry": {"quotas": {"default": 1}}})").find("registry.quotas.default"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"registry": {"quotas": {"namespaces": {"team/app": 1}}}})")
                .find("not a namespace"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"registry": {"quotas": {"namespaces": {"team": "lots"}}}})")
                .find("registry.quotas.namespaces.team"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"registry": {"quotas": {"default_bytes": -5}}})")
                .find("registry.quotas.default_bytes"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"registry": {"quotas": {"namespaces": []}}})").find("object"),
            std::string::npos);
}

TEST_F(ConfigFileTest, BadValuesAndBadJsonAreErrors) {
  EXPECT_NE(error_of(R"({"server": {"io_threads": "two"}})").find("io_threads"), std::string::npos);
  EXPECT_NE(error_of(R"({"server": []})").find("server."), std::string::npos);
  EXPECT_NE(error_of("{ not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("[1, 2]").find("must be an object"), std::string::npos);
}

TEST_F(ConfigFileTest, GcSectionIsReadAndChecked) {
  Config defaults;
  EXPECT_EQ(defaults.gc.interval_minutes, 360u);
  EXPECT_EQ(defaults.gc.grace_seconds, 3600u);
  EXPECT_EQ(defaults.gc.upload_session_hours, 24u);
  EXPECT_FALSE(defaults.gc.untagged_retention_hours);
  EXPECT_TRUE(defaults.gc.retention.empty());

  Config c = load_file(write(R"({"gc": {"interval_minutes": 0, "grace_seconds": 60,
      "untagged_retention_hours": 48, "upload_session_hours": 2,
      "retention": [{"repositories": "team/**", "keep_last": 10, "keep_tags": "v[0-9]+",
                     "keep_days": 30}, {"keep_last": 3}]}})"));
  EXPECT_EQ(c.gc.interval_minutes, 0u);
  EXPECT_EQ(c.gc.grace_seconds, 60u);
  EXPECT_EQ(c.gc.upload_session_hours, 2u);
  EXPECT_EQ(c.gc.untagged_retention_hours, 48u);
  ASSERT_EQ(c.gc.retention.size(), 2u);
  EXPECT_EQ(c.gc.retention[0].repositories, "team/**");
  EXPECT_EQ(c.gc.retention[0].keep_last, 10u);
  EXPECT_EQ(c.gc.retention[0].keep_tags, "v[0-9]+");
  EXPECT_EQ(c.gc.retention[0].keep_days, 30u);
  EXPECT_EQ(c.gc.retention[1].repositories, "**");
  EXPECT_FALSE(c.gc.retention[1].keep_days);
  EXPECT_FALSE(load_file(write(R"({"gc": {"untagged_retention_hours": null}})"))
                   .gc.untagged_retention_hours);

  EXPECT_NE(error_of(R"({"gc": {"retention": [{"repositories": "a"}]}})").find("needs keep_last"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"gc": {"retention": [{"keep_tags": "v[0-9"}]}})").find("not a valid regex"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"gc": {"retention": [{"keep": 1}]}})").find("gc.retention[].keep"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"gc": {"intervall": 1}})").find("gc.intervall"), std::string::npos);
  EXPECT_NE(error_of(R"({"gc": {"grace_seconds": -1}})").find("grace_seconds"), std::string::npos);
}

TEST_F(ConfigFileTest, MissingFileIsAnError) {
  EXPECT_THROW(load_file(dir_ / "absent.json"), std::runtime_error);
}

TEST(ApplyListen, ParsesHostPortForms) {
  ServerConfig s;
  apply_listen(s, "10.1.2.3:80");
  EXPECT_EQ(s.listen_host, "10.1.2.3");
  EXPECT_EQ(s.listen_port, 80);
  apply_listen(s, "[::1]:5000");
  EXPECT_EQ(s.listen_host, "::1");
  EXPECT_EQ(s.listen_port, 5000);
  apply_listen(s, ":0");
  EXPECT_EQ(s.listen_host, "0.0.0.0");
  EXPECT_EQ(s.listen_port, 0);
}

TEST(ApplyListen, RejectsMalformedAddresses) {
  ServerConfig s;
  for (const char* bad : {"localhost", "host:", "host:abc", "host:70000", "host:5000x", "h:-1"}) {
    EXPECT_THROW(apply_listen(s, bad), std::runtime_error) << bad;
  }
}

}  // namespace
}  // namespace drydock::config
