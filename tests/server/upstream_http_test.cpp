// The registry client's pure parts: URLs, redirects, WWW-Authenticate
// challenges and token answers.
#include "server/upstream_http.hpp"

#include <gtest/gtest.h>

namespace drydock::server {
namespace {

TEST(UpstreamHttp, ParsesUrls) {
  auto u = parse_http_url("https://Registry.Example.com/token?x=1");
  ASSERT_TRUE(u) << u.error();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "Registry.Example.com");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->authority, "registry.example.com");
  EXPECT_EQ(u->target, "/token?x=1");
  u = parse_http_url("http://127.0.0.1:5001");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->port, "5001");
  EXPECT_EQ(u->authority, "127.0.0.1:5001");
  EXPECT_EQ(u->target, "/");
  u = parse_http_url("http://[::1]:8080?a");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->target, "/?a");
  EXPECT_FALSE(parse_http_url("ftp://x/"));
  EXPECT_FALSE(parse_http_url("registry.example.com/v2/"));
  EXPECT_FALSE(parse_http_url("http://:80/"));
}

TEST(UpstreamHttp, ResolvesRedirects) {
  auto base = parse_http_url("https://r.example.com/v2/a/blobs/sha256:1?x").value();
  EXPECT_EQ(resolve_location(base, "https://s3.example.com/b?sig=1").value().text(),
            "https://s3.example.com:443/b?sig=1");
  EXPECT_EQ(resolve_location(base, "/other").value().text(), "https://r.example.com:443/other");
  EXPECT_EQ(resolve_location(base, "c").value().target, "/v2/a/blobs/c");
  EXPECT_EQ(resolve_location(base, "//cdn.example.com/x").value().authority, "cdn.example.com");
}

TEST(UpstreamHttp, LoopbackHosts) {
  for (const char* h : {"localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "LocalHost"}) {
    EXPECT_TRUE(is_loopback_host(h)) << h;
  }
  for (const char* h : {"10.0.0.1", "example.com", "128.0.0.1", "::2", "localhost.example"}) {
    EXPECT_FALSE(is_loopback_host(h)) << h;
  }
}

TEST(UpstreamHttp, ParsesBearerChallenges) {
  auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:library/busybox:pull")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(c->param("service"), "registry.docker.io");
  EXPECT_EQ(c->param("scope"), "repository:library/busybox:pull");
  // Spaces, unquoted values, case, escapes.
  c = parse_www_authenticate(R"(  bearer Realm = "http://x/t" , service=drydock, error="a\"b")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->param("realm"), "http://x/t");
  EXPECT_EQ(c->param("service"), "drydock");
  EXPECT_EQ(c->param("error"), "a\"b");
}

TEST(UpstreamHttp, ParsesBasicAndRejectsGarbage) {
  auto c = parse_www_authenticate(R"(Basic realm="basic-realm")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "basic");
  EXPECT_EQ(c->param("realm"), "basic-realm");
  EXPECT_FALSE(parse_www_authenticate(""));
  EXPECT_FALSE(parse_www_authenticate(R"(Bearer realm="unterminated)"));
  // A second challenge is not mixed into the first.
  c = parse_www_authenticate(R"(Basic realm="a", Bearer realm="b")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "basic");
  EXPECT_EQ(c->param("realm"), "a");
}

TEST(UpstreamHttp, TokenUrlAsksForPullOnly) {
  auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.example.com/token?x=1",service="reg ist",)"
      R"(scope="repository:a/b:push,pull")");
  auto u = token_url(*c, "a/b");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->authority, "auth.example.com");
  EXPECT_EQ(u->target, "/token?x=1&service=reg%20ist&scope=repository%3Aa%2Fb%3Apull");
  AuthChallenge none{"bearer", {}};
  EXPECT_FALSE(token_url(none, "a"));
}

TEST(UpstreamHttp, ParsesTokenAnswers) {
  EXPECT_EQ(parse_token_answer(R"({"token":"t1","expires_in":300})").value(), "t1");
  EXPECT_EQ(parse_token_answer(R"({"access_token":"t2"})").value(), "t2");
  EXPECT_FALSE(parse_token_answer(R"({"token":""})"));
  EXPECT_FALSE(parse_token_answer("not json"));
}

}  // namespace
}  // namespace drydock::server
