#include "builder/image_config.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace drydock::builder {
namespace {

using nlohmann::json;

// What `docker build` wrote for busybox-based images (Docker v2 config with
// the upper-case keys, sets as objects, nanosecond durations).
constexpr const char* kDockerConfig = R"({
  "architecture": "amd64", "os": "linux", "created": "2026-11-27T05:00:00Z",
  "config": {
    "User": "app:app", "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
    "Env": ["PATH=/usr/bin:/bin", "MODE=prod"], "Entrypoint": ["/bin/app"], "Cmd": null,
    "Volumes": {"/data": {}}, "WorkingDir": "/srv", "Labels": {"a": "1", "b": "two"},
    "StopSignal": "SIGQUIT", "OnBuild": ["RUN echo child"], "Shell": ["/bin/ash", "-c"],
    "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 30000000000, "Retries": 3},
    "Image": "sha256:ignored", "Hostname": ""
  },
  "rootfs": {"type": "layers", "diff_ids": ["sha256:aa", "sha256:bb"]},
  "history": [{"created": "2026-11-27T05:00:00Z", "created_by": "ADD rootfs.tar /"},
              {"created_by": "ENV MODE=prod", "empty_layer": true}],
  "container_config": {"Cmd": ["ignored"]}
})";

TEST(ImageConfig, ReadsDockerAndOciConfigs) {
  auto c = parse_image_config(kDockerConfig);
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->architecture, "amd64");
  EXPECT_EQ(c->created, "2026-11-27T05:00:00Z");
  EXPECT_EQ(c->config.user, "app:app");
  EXPECT_EQ(c->config.exposed_ports, (std::vector<std::string>{"53/udp", "8080/tcp"}));
  EXPECT_EQ(c->config.env, (std::vector<std::string>{"PATH=/usr/bin:/bin", "MODE=prod"}));
  EXPECT_EQ(c->config.entrypoint, std::vector<std::string>{"/bin/app"});
  EXPECT_FALSE(c->config.cmd.has_value()) << "null Cmd is unset, not []";
  EXPECT_EQ(c->config.volumes, std::vector<std::string>{"/data"});
  EXPECT_EQ(c->config.working_dir, "/srv");
  EXPECT_EQ(c->config.labels.at("b"), "two");
  EXPECT_EQ(c->config.stop_signal, "SIGQUIT");
  EXPECT_EQ(c->config.on_build, std::vector<std::string>{"RUN echo child"});
  EXPECT_EQ(c->config.shell, (std::vector<std::string>{"/bin/ash", "-c"}));
  ASSERT_TRUE(c->config.healthcheck);
  EXPECT_EQ(c->config.healthcheck->interval_ns, 30'000'000'000);
  EXPECT_EQ(c->config.healthcheck->retries, 3);
  EXPECT_EQ(c->diff_ids, (std::vector<std::string>{"sha256:aa", "sha256:bb"}));
  ASSERT_EQ(c->history.size(), 2u);
  EXPECT_TRUE(c->history[1].empty_layer);
  EXPECT_EQ(c->history[0].created_by, "ADD rootfs.tar /");
}

TEST(ImageConfig, RoundTripsAndIsDeterministic) {
  auto c = parse_image_config(kDockerConfig);
  ASSERT_TRUE(c);
  std::string once = to_json(*c);
  auto again = parse_image_config(once);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(*again, *c);
  EXPECT_EQ(to_json(*again), once);
  json doc = json::parse(once);
  EXPECT_EQ(doc["rootfs"]["type"], "layers");
  EXPECT_EQ(doc["config"]["ExposedPorts"], json({{"53/udp", json::object()}, {"8080/tcp", json::object()}}));
  EXPECT_FALSE(doc["config"].contains("Cmd"));
  EXPECT_FALSE(doc["config"].contains("Image")) << "unknown fields are not carried over";
  EXPECT_FALSE(doc.contains("container_config"));
}

TEST(ImageConfig, EmptyCmdIsKeptDistinctFromUnset) {
  ImageConfig c;
  c.config.cmd = std::vector<std::string>{};
  json doc = json::parse(to_json(c));
  ASSERT_TRUE(doc["config"].contains("Cmd"));
  EXPECT_EQ(doc["config"]["Cmd"], json::array());
  auto back = parse_image_config(to_json(c));
  ASSERT_TRUE(back);
  ASSERT_TRUE(back->config.cmd.has_value());
  EXPECT_TRUE(back->config.cmd->empty());
}

TEST(ImageConfig, EnvIsReplacedInPlace) {
  RunConfig r;
  r.setenv("PATH", "/bin");
  r.setenv("A", "1");
  r.setenv("PATH", "/usr/bin:/bin");
  EXPECT_EQ(r.env, (std::vector<std::string>{"PATH=/usr/bin:/bin", "A=1"}));
  EXPECT_EQ(r.getenv("A"), "1");
  EXPECT_EQ(r.getenv("PAT"), std::nullopt);
  r.env.push_back("NOVALUE");
  EXPECT_EQ(r.getenv("NOVALUE"), "");
}

TEST(ImageConfig, RefusesWhatIsNotAConfig) {
  for (const char* bad : {"", "[]", "42", "{\"config\": []}", "{\"config\": {\"Env\": \"x\"}}",
                          "{\"rootfs\": {\"diff_ids\": [1]}}", "{\"history\": {}}",
                          "{\"config\": {\"ExposedPorts\": [\"80/tcp\"]}}", "{not json"}) {
    auto c = parse_image_config(bad);
    EXPECT_FALSE(c) << bad;
  }
}

TEST(ImageConfig, DefaultShellIsBinShDashC) {
  EXPECT_EQ(default_shell(), (std::vector<std::string>{"/bin/sh", "-c"}));
}

}  // namespace
}  // namespace drydock::builder
