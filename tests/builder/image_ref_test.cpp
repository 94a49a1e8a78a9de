// Image references of FROM / COPY --from: parsing, which hosts are this
// server, where pulled images are kept, and the Docker Hub mirror.
#include "builder/image_ref.hpp"

#include <gtest/gtest.h>

namespace drydock::builder {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST(ImageRef, ParsesHostPathTagAndDigest) {
  auto r = parse_image_ref("Registry.Example.com:5000/team/base:1.2");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->host, "registry.example.com:5000");
  EXPECT_EQ(r->path, "team/base");
  EXPECT_EQ(r->tag, "1.2");
  EXPECT_FALSE(r->digest);
  EXPECT_EQ(r->manifest_reference(), "1.2");

  r = parse_image_ref("busybox");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "");
  EXPECT_EQ(r->path, "busybox");
  EXPECT_EQ(r->tag, "latest");

  r = parse_image_ref("localhost/a/b@" + kDigest);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "localhost");
  EXPECT_EQ(r->tag, "");
  EXPECT_EQ(r->manifest_reference(), kDigest);

  r = parse_image_ref("127.0.0.1:5001/lib/busybox:1@" + kDigest);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "127.0.0.1:5001");
  EXPECT_EQ(r->tag, "1");
  EXPECT_EQ(r->manifest_reference(), kDigest);  // the digest wins

  r = parse_image_ref("[::1]:5000/x:1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host, "[::1]:5000");
}

TEST(ImageRef, RejectsInvalidNames) {
  for (const char* bad : {"", "Team/base:1", "a//b", "a/-b", "base:", "base:-x", "base@sha256:12",
                          "host:5000/", "a__-b"}) {
    EXPECT_FALSE(parse_image_ref(bad)) << bad;
  }
  EXPECT_TRUE(parse_image_ref("a__b/c-d/e.f_g:T_1.x-y"));
}

TEST(ImageRef, LocalHostsMatchAnyPortOrTheirOwn) {
  UpstreamPolicy p;  // default: localhost on any port
  EXPECT_TRUE(is_local_host(p, "localhost"));
  EXPECT_TRUE(is_local_host(p, "localhost:5000"));
  EXPECT_TRUE(is_local_host(p, "LOCALHOST:1"));
  EXPECT_FALSE(is_local_host(p, "127.0.0.1:5000"));
  p.local_hosts = {"registry.example.com", "127.0.0.1:5000", "[::1]:5000"};
  EXPECT_TRUE(is_local_host(p, "registry.example.com:443"));
  EXPECT_TRUE(is_local_host(p, "127.0.0.1:5000"));
  EXPECT_FALSE(is_local_host(p, "127.0.0.1:5001"));
  EXPECT_FALSE(is_local_host(p, "127.0.0.1"));
  EXPECT_TRUE(is_local_host(p, "[::1]:5000"));
  EXPECT_FALSE(is_local_host(p, "localhost:5000"));
  // The port the server was bound to (port 0 in the config) is ours too on
  // loopback, once known.
  p.local_hosts = {};
  EXPECT_FALSE(is_local_host(p, "127.0.0.1:41234"));
  p.own_port->store(41234);
  EXPECT_TRUE(is_local_host(p, "127.0.0.1:41234"));
  EXPECT_TRUE(is_local_host(p, "[::1]:41234"));
  EXPECT_FALSE(is_local_host(p, "127.0.0.1:41235"));
  EXPECT_FALSE(is_local_host(p, "10.0.0.1:41234"));
}

TEST(ImageRef, SourceIsLocalOrAnUpstreamNamespace) {
  UpstreamPolicy p;
  auto src = source_of(p, *parse_image_ref("localhost:5000/base/busybox:1"));
  ASSERT_TRUE(src);
  EXPECT_FALSE(src->upstream);
  EXPECT_EQ(src->store_repository, "base/busybox");

  src = source_of(p, *parse_image_ref("base/busybox:1"));
  ASSERT_TRUE(src);
  EXPECT_FALSE(src->upstream);

  src = source_of(p, *parse_image_ref("127.0.0.1:5001/lib/busybox:1"));
  ASSERT_TRUE(src);
  EXPECT_TRUE(src->upstream);
  EXPECT_EQ(src->registry, "127.0.0.1:5001");
  EXPECT_EQ(src->remote_repository, "lib/busybox");
  EXPECT_EQ(src->store_repository, "upstream/127.0.0.1_5001/lib/busybox");
  EXPECT_EQ(src->endpoint, "");

  src = source_of(p, *parse_image_ref("ghcr.io/org/tool:2"));
  ASSERT_TRUE(src);
  EXPECT_EQ(src->store_repository, "upstream/ghcr.io/org/tool");
  EXPECT_TRUE(is_upstream_repository(src->store_repository));
  EXPECT_FALSE(is_upstream_repository("upstreamx/a"));
  EXPECT_FALSE(is_upstream_repository("team/upstream"));
}

TEST(ImageRef, DockerHubNamesAreNormalised) {
  UpstreamPolicy p;
  auto src = source_of(p, *parse_image_ref("docker.io/debian:bookworm"));
  ASSERT_TRUE(src);
  EXPECT_EQ(src->registry, "docker.io");
  EXPECT_EQ(src->remote_repository, "library/debian");
  EXPECT_EQ(src->store_repository, "upstream/docker.io/library/debian");
  EXPECT_EQ(src->endpoint, "https://registry-1.docker.io");
  src = source_of(p, *parse_image_ref("index.docker.io/grafana/grafana:1"));
  ASSERT_TRUE(src);
  EXPECT_EQ(src->registry, "docker.io");
  EXPECT_EQ(src->remote_repository, "grafana/grafana");
}

TEST(ImageRef, MirrorsRedirectARegistryAndUnqualifiedNames) {
  UpstreamPolicy p;
  EXPECT_FALSE(docker_hub_fallback(p, *parse_image_ref("debian:bookworm")));
  p.mirrors["docker.io"] = "http://127.0.0.1:5001";
  p.mirrors["ghcr.io"] = "https://ghcr-mirror.example.com";
  auto hub = docker_hub_fallback(p, *parse_image_ref("debian:bookworm"));
  ASSERT_TRUE(hub);
  EXPECT_TRUE(hub->upstream);
  EXPECT_EQ(hub->endpoint, "http://127.0.0.1:5001");
  EXPECT_EQ(hub->remote_repository, "library/debian");
  EXPECT_EQ(hub->store_repository, "upstream/docker.io/library/debian");
  hub = docker_hub_fallback(p, *parse_image_ref("team/app:1"));
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->remote_repository, "team/app");
  // Qualified names never fall back.
  EXPECT_FALSE(docker_hub_fallback(p, *parse_image_ref("localhost:5000/team/app:1")));
  auto src = source_of(p, *parse_image_ref("ghcr.io/org/tool:2"));
  ASSERT_TRUE(src);
  EXPECT_EQ(src->endpoint, "https://ghcr-mirror.example.com");
  EXPECT_EQ(src->store_repository, "upstream/ghcr.io/org/tool");  // kept under its own name
}

TEST(ImageRef, UpstreamRepositoryNamesStayValid) {
  EXPECT_EQ(upstream_repository("Quay.IO", "a/b").value(), "upstream/quay.io/a/b");
  EXPECT_EQ(upstream_repository("127.0.0.1:5001", "b").value(), "upstream/127.0.0.1_5001/b");
  EXPECT_FALSE(upstream_repository("[::1]:5000", "b"));  // "__1_5000" is no component
  EXPECT_TRUE(parse_image_ref(upstream_repository("my-reg.example:8443", "x/y").value()));
  // Found by fuzz/reference_fuzz.cpp: a 255-character reference, valid as
  // written, is over the limit once "upstream/<host>/" is prepended.
  const std::string path = "team/" + std::string(240, 'x');
  EXPECT_TRUE(parse_image_ref("reg.example:5000/" + path));
  EXPECT_FALSE(upstream_repository("reg.example:5000", path));
  auto ref = parse_image_ref("reg.example:5000/" + path);
  EXPECT_FALSE(source_of(UpstreamPolicy{}, ref.value()));
}

}  // namespace
}  // namespace drydock::builder
