#include "builder/engine_api.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

namespace drydock::builder {
namespace {

using json = nlohmann::json;
using Query = std::multimap<std::string, std::string, std::less<>>;

QueryValues values(const Query& q) {
  return [&q](std::string_view key) {
    std::vector<std::string> out;
    auto [b, e] = q.equal_range(key);
    for (auto it = b; it != e; ++it) out.push_back(it->second);
    return out;
  };
}

// The messages of a stream: one JSON document per CRLF-terminated line.
std::vector<json> messages(const std::string& stream) {
  std::vector<json> out;
  std::size_t start = 0;
  for (auto end = stream.find("\r\n"); end != std::string::npos; end = stream.find("\r\n", start)) {
    out.push_back(json::parse(stream.substr(start, end - start)));
    start = end + 2;
  }
  EXPECT_EQ(start, stream.size()) << "a message without CRLF: " << stream;
  return out;
}

TEST(EngineEndpoint, VersionedAndPlain) {
  EXPECT_EQ(engine_endpoint("/_ping"), EngineEndpoint::kPing);
  EXPECT_EQ(engine_endpoint("/v1.41/_ping"), EngineEndpoint::kPing);
  EXPECT_EQ(engine_endpoint("/version"), EngineEndpoint::kVersion);
  EXPECT_EQ(engine_endpoint("/v1.24/version"), EngineEndpoint::kVersion);
  EXPECT_EQ(engine_endpoint("/build"), EngineEndpoint::kBuild);
  EXPECT_EQ(engine_endpoint("/v1.41/build"), EngineEndpoint::kBuild);
  EXPECT_EQ(engine_endpoint("/session"), EngineEndpoint::kBuildKit);
  EXPECT_EQ(engine_endpoint("/v1.43/grpc"), EngineEndpoint::kBuildKit);
  EXPECT_EQ(engine_endpoint("/v1.41/containers/json"), EngineEndpoint::kUnknown);
}

TEST(EngineEndpoint, RegistryPathsAreNotEngineOnes) {
  EXPECT_EQ(engine_endpoint("/v2/"), std::nullopt);
  EXPECT_EQ(engine_endpoint("/v2/build/manifests/1"), std::nullopt);
  EXPECT_EQ(engine_endpoint("/builds"), std::nullopt);
  EXPECT_EQ(engine_endpoint("/v1/build"), std::nullopt);
  EXPECT_EQ(engine_endpoint("/containers/json"), std::nullopt);
}

TEST(EnginePing, ClassicBuilderAndApiVersion) {
  std::map<std::string, std::string> h;
  for (auto& [k, v] : ping_headers()) h[k] = v;
  EXPECT_EQ(h["Api-Version"], "1.41");
  EXPECT_EQ(h["Ostype"], "linux");
  EXPECT_EQ(h["Builder-Version"], "1");
}

TEST(EngineVersion, Body) {
  json j = json::parse(version_json("0.5.0"));
  EXPECT_EQ(j["ApiVersion"], "1.41");
  EXPECT_EQ(j["MinAPIVersion"], "1.24");
  EXPECT_EQ(j["Version"], "0.5.0");
  EXPECT_EQ(j["Os"], "linux");
  EXPECT_EQ(j["Arch"], "amd64");
  EXPECT_EQ(j["Components"][0]["Name"], "Engine");
}

TEST(EngineError, MessageBody) {
  EXPECT_EQ(json::parse(engine_error_json("no \"x\""))["message"], "no \"x\"");
}

TEST(EngineTag, RegistryHostDropped) {
  EXPECT_EQ(engine_tag("127.0.0.1:5000/app:1"), "app:1");
  EXPECT_EQ(engine_tag("localhost/team/app"), "team/app:latest");
  EXPECT_EQ(engine_tag("registry.example.com/team/app:v2"), "team/app:v2");
  EXPECT_EQ(engine_tag("team/app"), "team/app:latest");
  EXPECT_EQ(engine_tag("app:1"), "app:1");
  EXPECT_EQ(engine_tag("localhost:5000/app"), "app:latest");
  EXPECT_EQ(engine_tag("app@sha256:abcd"), "");
  EXPECT_EQ(engine_tag(""), "");
}

TEST(EngineBuildQuery, WhatDockerSends) {
  // What `docker build -t 127.0.0.1:5000/app:1 -t app --build-arg V=2
  // --label a=b --target final --no-cache -q -f sub/Dockerfile .` sends.
  Query q{{"t", "127.0.0.1:5000/app:1"},
          {"t", "app"},
          {"buildargs", R"({"V":"2","UNSET":null})"},
          {"labels", R"({"a":"b","org.x":"$y"})"},
          {"target", "final"},
          {"nocache", "1"},
          {"q", "1"},
          {"dockerfile", "sub/Dockerfile"},
          {"rm", "1"},
          {"forcerm", "0"},
          {"memory", "0"},
          {"cachefrom", "[]"},
          {"networkmode", "default"},
          {"shmsize", "0"},
          {"pull", ""}};
  auto b = parse_engine_build(values(q));
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(b->params.tags, (std::vector<std::string>{"app:1", "app:latest"}));
  EXPECT_EQ(b->shown_tags, (std::vector<std::string>{"127.0.0.1:5000/app:1", "app:latest"}));
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(b->params.build_args, (Pairs{{"V", "2"}}));
  EXPECT_EQ(b->params.labels, (Pairs{{"a", "b"}, {"org.x", "$y"}}));
  EXPECT_EQ(b->params.target, "final");
  EXPECT_EQ(b->params.dockerfile, "sub/Dockerfile");
  EXPECT_TRUE(b->params.no_cache);
  EXPECT_TRUE(b->quiet);
}

TEST(EngineBuildQuery, Defaults) {
  Query q;
  auto b = parse_engine_build(values(q));
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->params.tags.empty());
  EXPECT_EQ(b->params.dockerfile, "Dockerfile");
  EXPECT_FALSE(b->params.no_cache);
  EXPECT_FALSE(b->quiet);
}

TEST(EngineBuildQuery, Refusals) {
  auto refused = [](Query q) { return !parse_engine_build(values(q)).has_value(); };
  EXPECT_TRUE(refused({{"version", "2"}}));
  EXPECT_TRUE(refused({{"remote", "https://github.com/x/y.git"}}));
  EXPECT_TRUE(refused({{"platform", "linux/arm64"}}));
  EXPECT_FALSE(refused({{"platform", "linux/amd64"}}));
  EXPECT_TRUE(refused({{"buildargs", "[1]"}}));
  EXPECT_TRUE(refused({{"buildargs", "{"}}));
  EXPECT_TRUE(refused({{"labels", R"({"a":1})"}}));
  EXPECT_TRUE(refused({{"t", "app@sha256:00"}}));
  auto e = parse_engine_build(values({{"version", "2"}}));
  EXPECT_NE(e.error().find("DOCKER_BUILDKIT=0"), std::string::npos);
}

TEST(BuildMessages, StepsOutputAndSuccess) {
  BuildMessages m;
  std::string out = m.feed("#1 [stage-0 1/3] FROM base\n#2 [stage-0 2/3] RUN echo hi\nhi\n");
  out += m.feed("#3 [stage-0 3/3] LABEL a=b\n#done writing image sha256:aaaa 1.0s\n");
  out += m.feed("#done image config sha256:0123456789abcdef\n#done naming to app:1\n");
  out += m.succeeded({"127.0.0.1:5000/app:1"});
  auto j = messages(out);
  ASSERT_EQ(j.size(), 7u) << out;
  EXPECT_EQ(j[0]["stream"], "Step 1/3 : FROM base\n");
  EXPECT_EQ(j[1]["stream"], "Step 2/3 : RUN echo hi\n");
  EXPECT_EQ(j[2]["stream"], "hi\n");
  EXPECT_EQ(j[3]["stream"], "Step 3/3 : LABEL a=b\n");
  EXPECT_EQ(j[4]["aux"]["ID"], "sha256:0123456789abcdef");
  EXPECT_EQ(j[5]["stream"], "Successfully built 0123456789ab\n");
  EXPECT_EQ(j[6]["stream"], "Successfully tagged 127.0.0.1:5000/app:1\n");
  EXPECT_EQ(m.image_id(), "sha256:0123456789abcdef");
}

TEST(BuildMessages, LaterStagesSayWhichStep) {
  BuildMessages m;
  auto j = messages(m.feed("#4 [final 1/2] FROM base\n#5 [0] ONBUILD RUN x\n"));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["stream"], "Step 4 [final 1/2] : FROM base\n");
  EXPECT_EQ(j[1]["stream"], "Step 5 : ONBUILD RUN x\n");
}

TEST(BuildMessages, CacheHits) {
  BuildMessages m;
  auto j = messages(m.feed("#2 [stage-0 2/2] RUN make\n#2 CACHED\n"));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["stream"], " ---> Using cache\n");
}

TEST(BuildMessages, PartialLinesWaitForTheRest) {
  BuildMessages m;
  EXPECT_EQ(m.feed("#1 [stage-0 1/2] FR"), "");
  EXPECT_EQ(m.flush(), "");  // maybe half a step line: held
  auto j = messages(m.feed("OM base\nprogress 50%"));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["stream"], "Step 1/2 : FROM base\n");
  j = messages(m.flush());
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["stream"], "progress 50%");
}

TEST(BuildMessages, FailureEndsWithErrorDetail) {
  BuildMessages m;
  std::string out = m.feed("#1 [stage-0 1/2] FROM base\n#2 [stage-0 2/2] RUN exit 3\n");
  out += m.feed("ERROR: Dockerfile:2: RUN exit 3: exit code 3\n");
  out += m.failed("Dockerfile:2: RUN exit 3: exit code 3");
  auto j = messages(out);
  ASSERT_EQ(j.size(), 3u) << out;
  EXPECT_EQ(j[2]["errorDetail"]["message"], "Dockerfile:2: RUN exit 3: exit code 3");
  EXPECT_EQ(j[2]["error"], "Dockerfile:2: RUN exit 3: exit code 3");
}

TEST(BuildMessages, OutputThatLooksLikeAnErrorIsKept) {
  BuildMessages m;
  std::string out = m.feed("ERROR: from the RUN step\nmore\n");
  out += m.succeeded({});
  auto j = messages(out);
  ASSERT_EQ(j.size(), 2u) << out;
  EXPECT_EQ(j[0]["stream"], "ERROR: from the RUN step\n");
  EXPECT_EQ(j[1]["stream"], "more\n");
}

TEST(BuildMessages, QuietGivesTheIdOnly) {
  BuildMessages m(true);
  std::string out = m.feed("#1 [stage-0 1/1] FROM base\nnoise\n#done image config sha256:ab\n");
  out += m.succeeded({"app:1"});
  auto j = messages(out);
  ASSERT_EQ(j.size(), 2u) << out;
  EXPECT_EQ(j[0]["aux"]["ID"], "sha256:ab");
  EXPECT_EQ(j[1]["stream"], "sha256:ab\n");
}

TEST(BuildMessages, InvalidUtf8IsReplaced) {
  BuildMessages m;
  auto j = messages(m.feed("bad \xff\xfe bytes\n"));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_NE(j[0]["stream"].get<std::string>().find("bytes"), std::string::npos);
}

TEST(BuildMessages, LongOutputLine) {
  BuildMessages m;
  std::string big = "#" + std::string(200000, 'x') + "\n";
  auto j = messages(m.feed(big));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["stream"].get<std::string>().size(), big.size());
}

// A tar the way the docker CLI sends it with `-f` outside the context: the
// last entry's data, then nothing.
TEST(CompleteTar, AddsPaddingAndEndBlocks) {
  auto path =
      std::filesystem::temp_directory_path() / ("complete-tar-" + std::to_string(::getpid()));
  std::string header(512, '\0');
  header.replace(0, 1, "a");
  header.replace(124, 11, "00000000005");  // size 5, octal
  header.replace(257, 5, "ustar");
  { std::ofstream(path, std::ios::binary) << header << "hello"; }
  ASSERT_TRUE(complete_tar(path));
  EXPECT_EQ(std::filesystem::file_size(path), 512u + 512u + 1024u);
  // Not a tar (a gzip context): untouched.
  { std::ofstream(path, std::ios::binary) << "\x1f\x8b\x08" << std::string(600, 'x'); }
  ASSERT_TRUE(complete_tar(path));
  EXPECT_EQ(std::filesystem::file_size(path), 603u);
  std::filesystem::remove(path);
  EXPECT_FALSE(complete_tar(path));
}

}  // namespace
}  // namespace drydock::builder
