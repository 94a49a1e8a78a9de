#include "auth/secrets.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <stdexcept>
#include <string>

namespace drydock::auth {
namespace {

constexpr KdfCost kFast{10, 8, 1};

struct Vector {
  std::string_view plain, encoded;
};

// RFC 4648 section 10.
constexpr Vector kRfcVectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

TEST(Base64, EncodesRfcVectors) {
  for (const Vector& v : kRfcVectors) {
    EXPECT_EQ(base64_encode(v.plain), v.encoded) << v.plain;
    EXPECT_EQ(base64_decode(v.encoded), std::string(v.plain)) << v.encoded;
  }
}

TEST(Base64, RoundTripsEveryByteValue) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    std::string part = all.substr(0, n);
    EXPECT_EQ(base64_decode(base64_encode(part)), part);
    EXPECT_EQ(base64url_decode(base64url_encode(part)), part);
  }
}

TEST(Base64, RejectsMalformedInput) {
  for (std::string_view bad : {"Zm9v!", "Zg=", "Zg", "Z===", "Zh==", "Zm9v\n", "=Zm9", "Zm=v",
                               "Zm9vY", "Zm9v Zm9v", "Zm9-", "Zm9_", "===="}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

TEST(Base64Url, UsesUrlAlphabetWithoutPadding) {
  std::string bytes = "\xfb\xff";
  EXPECT_EQ(base64_encode(bytes), "+/8=");
  EXPECT_EQ(base64url_encode(bytes), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), bytes);
  EXPECT_EQ(base64url_decode("-_8="), bytes);  // padding accepted
  EXPECT_EQ(base64url_encode("f"), "Zg");
}

TEST(Base64Url, RejectsMalformedInput) {
  for (std::string_view bad : {"+/8", "-_8==", "Zg=", "Z", "Zh", "a.b", "Zm9v\n"}) {
    EXPECT_FALSE(base64url_decode(bad)) << bad;
  }
  EXPECT_FALSE(base64url_decode(std::string_view("Zm9v\0", 5)));
}

TEST(RandomSecret, IsUrlSafeAndFresh) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string s = random_secret();
    EXPECT_EQ(s.size(), 43u);  // 32 bytes, unpadded
    EXPECT_EQ(base64url_decode(s)->size(), 32u);
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(base64url_decode(random_secret(16))->size(), 16u);
}

TEST(Sha256Hex, MatchesKnownDigests) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("", "x"));
}

TEST(PasswordHash, HasTheDocumentedFormat) {
  std::string h = hash_password("hunter2", kFast);
  ASSERT_TRUE(h.starts_with("$scrypt$ln=10,r=8,p=1$")) << h;
  std::string_view rest =
      std::string_view(h).substr(std::string_view("$scrypt$ln=10,r=8,p=1$").size());
  std::size_t dollar = rest.find('$');
  ASSERT_NE(dollar, std::string_view::npos);
  EXPECT_EQ(base64_decode(rest.substr(0, dollar))->size(), 16u);
  EXPECT_EQ(base64_decode(rest.substr(dollar + 1))->size(), 32u);
}

TEST(PasswordHash, VerifiesOnlyTheRightPassword) {
  std::string h = hash_password("correct horse", kFast);
  EXPECT_TRUE(verify_password("correct horse", h));
  EXPECT_FALSE(verify_password("correct horse ", h));
  EXPECT_FALSE(verify_password("Correct horse", h));
  EXPECT_FALSE(verify_password("", h));
}

// HMAC pads a short key with zero bytes, so scrypt alone takes "p" and
// "p\0" for the same password (found by the token fuzzer).
TEST(PasswordHash, TrailingNulBytesDoNotMatch) {
  std::string h = hash_password("secret", kFast);
  EXPECT_TRUE(verify_password("secret", h));
  EXPECT_FALSE(verify_password(std::string("secret\0", 7), h));
  EXPECT_FALSE(verify_password(std::string("secret\0\0", 8), h));
  EXPECT_FALSE(acceptable_password(std::string("a\0b", 3)));
  EXPECT_FALSE(acceptable_password(""));
  EXPECT_TRUE(acceptable_password("a b"));
}

TEST(PasswordHash, SaltsEachHash) {
  std::string a = hash_password("same", kFast);
  std::string b = hash_password("same", kFast);
  EXPECT_NE(a, b);
  EXPECT_TRUE(verify_password("same", a));
  EXPECT_TRUE(verify_password("same", b));
}

TEST(PasswordHash, BinaryPasswordsVerifyButEmptyOrNulOnesNever) {
  std::string binary("a\x01" "b\xff", 4);
  std::string h = hash_password(binary, kFast);
  EXPECT_TRUE(verify_password(binary, h));
  EXPECT_FALSE(verify_password("a", h));
  EXPECT_FALSE(verify_password("", hash_password("", kFast)));
  std::string nul("a\0b", 3);
  EXPECT_FALSE(verify_password(nul, hash_password(nul, kFast)));
}

TEST(PasswordHash, TamperedCostDoesNotVerify) {
  std::string h = hash_password("pw", kFast);
  std::string other = h;
  other.replace(other.find("ln=10"), 5, "ln=11");
  EXPECT_FALSE(verify_password("pw", other));
}

TEST(PasswordHash, RejectsMalformedEncodings) {
  std::string good = hash_password("pw", kFast);
  std::string salt_and_key = good.substr(good.find("p=1$") + 4);
  for (const std::string& bad : {
           std::string(""),
           std::string("pw"),
           "$scrypt$ln=10,r=8,p=1$" + salt_and_key + "$",
           "$scrypt$ln=10,r=8$" + salt_and_key,
           "$scrypt$r=8,ln=10,p=1$" + salt_and_key,
           "$scrypt$ln=10,r=8,p=1,x=2$" + salt_and_key,
           "$scrypt$ln=x,r=8,p=1$" + salt_and_key,
           "$scrypt$ln=-1,r=8,p=1$" + salt_and_key,
           "$argon2$ln=10,r=8,p=1$" + salt_and_key,
           "$scrypt$ln=10,r=8,p=1$!!!$" + salt_and_key.substr(salt_and_key.find('$') + 1),
           "$scrypt$ln=10,r=8,p=1$" + salt_and_key.substr(0, salt_and_key.find('$') + 1) + "Zm9v",
           "$scrypt$ln=10,r=8,p=1$$" + salt_and_key.substr(salt_and_key.find('$') + 1),
       }) {
    EXPECT_FALSE(verify_password("pw", bad)) << bad;
  }
}

TEST(PasswordHash, RefusesAbsurdCostsWithoutRunningThem) {
  std::string good = hash_password("pw", kFast);
  std::string tail = good.substr(good.find("p=1$") + 3);
  for (std::string_view cost :
       {"ln=21,r=8,p=1", "ln=40,r=8,p=1", "ln=0,r=8,p=1", "ln=10,r=0,p=1", "ln=10,r=8,p=0",
        "ln=10,r=33,p=1", "ln=10,r=8,p=17", "ln=20,r=16,p=1", "ln=99999999999,r=8,p=1"}) {
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(verify_password("pw", "$scrypt$" + std::string(cost) + tail)) << cost;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << cost;
  }
  EXPECT_THROW(hash_password("pw", KdfCost{21, 8, 1}), std::invalid_argument);
  EXPECT_THROW(hash_password("pw", KdfCost{10, 0, 1}), std::invalid_argument);
}

// The default cost is the production one: it must work, and it costs
// measurably more than the test cost (OWASP minimum, ~50-100 ms here).
TEST(PasswordHash, DefaultCostWorksAndIsSlowish) {
  auto start = std::chrono::steady_clock::now();
  std::string h = hash_password("production password");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(h.starts_with("$scrypt$ln=15,r=8,p=1$")) << h;
  EXPECT_TRUE(verify_password("production password", h));
  EXPECT_FALSE(verify_password("production passwort", h));
  EXPECT_GE(took, std::chrono::milliseconds(5));
  RecordProperty(
      "default_cost_hash_ms",
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
}

}  // namespace
}  // namespace drydock::auth
