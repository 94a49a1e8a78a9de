#include "registry/reference.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace drydock::registry {
namespace {

const std::string kHex64 = "6f4e69a5ff18d92e7315e3ee31c62165ebf25bfa05cad05c0d09d8f412dae401";
const std::string kHex128 = kHex64 + kHex64;

struct Case {
  std::string input;
  bool valid;
};

TEST(RepositoryName, Table) {
  const std::vector<Case> cases = {
      {"a", true},
      {"library/ubuntu", true},
      {"a/b/c/d/e", true},
      {"foo.bar", true},
      {"foo_bar", true},
      {"foo__bar", true},
      {"foo-bar", true},
      {"foo---bar", true},
      {"a1/b2.c3_d4__e5-f6", true},
      {"0", true},
      {"blobs/manifests/tags", true},  // marker words are legal components
      {"", false},
      {"Foo", false},
      {"library/Ubuntu", false},
      {"foo/", false},
      {"/foo", false},
      {"foo//bar", false},
      {"..", false},
      {"foo/../bar", false},
      {"foo/./bar", false},
      {".foo", false},
      {"foo.", false},
      {"foo..bar", false},
      {"foo___bar", false},
      {"foo_.bar", false},
      {"foo.-bar", false},
      {"-foo", false},
      {"foo-", false},
      {"_foo", false},
      {"foo bar", false},
      {"foo:bar", false},
      {"foo@sha256", false},
      {"caf\xc3\xa9", false},  // UTF-8 "café"
      {std::string("foo\0bar", 7), false},
      {"foo\n", false},
      {"foo%2fbar", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(valid_repository_name(c.input), c.valid) << "name: " << c.input;
  }
}

TEST(RepositoryName, LengthLimitIs255) {
  EXPECT_TRUE(valid_repository_name(std::string(255, 'a')));
  EXPECT_FALSE(valid_repository_name(std::string(256, 'a')));
  std::string many;  // "a/a/a/..." of exactly 255 characters
  while (many.size() < 253) many += "a/";
  many += "a";
  ASSERT_EQ(many.size(), 255u);
  EXPECT_TRUE(valid_repository_name(many));
  EXPECT_FALSE(valid_repository_name(many + "/a"));
}

TEST(RepositoryName, HugeInputIsRejectedQuickly) {
  EXPECT_FALSE(valid_repository_name(std::string(10'000'000, 'a')));
  EXPECT_FALSE(valid_repository_name(std::string(10'000'000, '-')));
}

TEST(Tag, Table) {
  const std::vector<Case> cases = {
      {"latest", true},
      {"v1.0.0", true},
      {"1", true},
      {"_", true},
      {"_hidden", true},
      {"V1-RC_2", true},
      {"a.b-c_d", true},
      {"sha256-abc", true},
      {"", false},
      {".hidden", false},
      {"-dash", false},
      {"a/b", false},
      {"a:b", false},
      {"a b", false},
      {"a+b", false},
      {"caf\xc3\xa9", false},
      {"sha256:" + kHex64, false},
  };
  for (const Case& c : cases) EXPECT_EQ(valid_tag(c.input), c.valid) << "tag: " << c.input;
}

TEST(Tag, LengthLimitIs128) {
  EXPECT_TRUE(valid_tag(std::string(128, 'a')));
  EXPECT_FALSE(valid_tag(std::string(129, 'a')));
}

TEST(LooksLikeDigest, Table) {
  const std::vector<Case> cases = {
      {"sha256:" + kHex64, true},
      {"sha512:" + kHex128, true},
      {"sha256:abc", true},  // grammar only; lengths are parse_client_digest's job
      {"sha256:ABC", true},
      {"multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", true},
      {"sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", true},
      {"a.b_c-d:x=", true},
      {"", false},
      {"sha256", false},
      {"sha256:", false},
      {":" + kHex64, false},
      {"SHA256:" + kHex64, false},
      {"sha256::" + kHex64, false},
      {"sha256:" + kHex64 + " ", false},
      {"sha256:abc/def", false},
      {"sha256:abc+def", false},
      {"+sha256:abc", false},
      {"sha256+:abc", false},
      {"sha..256:abc", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(looks_like_digest(c.input), c.valid) << "digest: " << c.input;
  }
}

TEST(ParseClientDigest, Sha256) {
  const auto d = parse_client_digest("sha256:" + kHex64);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->algorithm, storage::DigestAlgorithm::kSha256);
  EXPECT_EQ(d->hex, kHex64);
}

TEST(ParseClientDigest, Sha512) {
  const auto d = parse_client_digest("sha512:" + kHex128);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->algorithm, storage::DigestAlgorithm::kSha512);
  EXPECT_EQ(d->hex, kHex128);
}

TEST(ParseClientDigest, Errors) {
  struct ErrCase {
    std::string input;
    ErrorCode code;
  };
  std::string upper = kHex64;
  upper[0] = 'A';
  const std::vector<ErrCase> cases = {
      {"", ErrorCode::kDigestInvalid},
      {"latest", ErrorCode::kDigestInvalid},
      {"sha256:", ErrorCode::kDigestInvalid},
      {"sha256:" + kHex64.substr(1), ErrorCode::kDigestInvalid},  // 63
      {"sha256:" + kHex64 + "0", ErrorCode::kDigestInvalid},      // 65
      {"sha256:" + upper, ErrorCode::kDigestInvalid},
      {"sha256:" + std::string(63, 'a') + "g", ErrorCode::kDigestInvalid},
      {"sha256:" + kHex128, ErrorCode::kDigestInvalid},
      {"sha512:" + kHex64, ErrorCode::kDigestInvalid},
      {"SHA256:" + kHex64, ErrorCode::kDigestInvalid},
      {"sha256:" + kHex64 + "\n", ErrorCode::kDigestInvalid},
      {"sha256 :" + kHex64, ErrorCode::kDigestInvalid},
      {"md5:d41d8cd98f00b204e9800998ecf8427e", ErrorCode::kUnsupported},
      {"blake3:" + kHex64, ErrorCode::kUnsupported},
      {"sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", ErrorCode::kUnsupported},
  };
  for (const ErrCase& c : cases) {
    const auto d = parse_client_digest(c.input);
    ASSERT_FALSE(d.has_value()) << c.input;
    EXPECT_EQ(d.error().code, c.code) << c.input;
    EXPECT_FALSE(d.error().message.empty()) << c.input;
  }
}

TEST(ParseClientDigest, UnsupportedMessageIsBounded) {
  const auto d = parse_client_digest(std::string(100'000, 'x') + ":abc");
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code, ErrorCode::kUnsupported);
  EXPECT_LT(d.error().message.size(), 200u);
}

}  // namespace
}  // namespace drydock::registry
