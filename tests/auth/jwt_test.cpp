#include "auth/jwt.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "auth/secrets.hpp"
#include "tests/storage/temp_dir.hpp"

namespace drydock::auth {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using storage::testing::read_file;
using storage::testing::TempDir;
using storage::testing::write_file;

constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::string_view kIssuer = "drydock-test";
constexpr std::string_view kAudience = "registry.example";

TokenClaims sample_claims() {
  TokenClaims c;
  c.issuer = std::string(kIssuer);
  c.subject = "alice";
  c.audience = std::string(kAudience);
  c.issued_at = kNow;
  c.not_before = kNow;
  c.expires_at = kNow + 300;
  c.id = "jti-1";
  c.access = {{"repository", "team/app", {"pull", "push"}}, {"registry", "catalog", {"*"}}};
  return c;
}

struct Parts {
  std::string header, payload, signature;
};

Parts split(const std::string& token) {
  std::size_t a = token.find('.');
  std::size_t b = token.find('.', a + 1);
  return {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

std::string join(const Parts& p) { return p.header + "." + p.payload + "." + p.signature; }

std::string encode_json(const json& j) { return base64url_encode(j.dump()); }

json decode_part(const std::string& part) { return json::parse(*base64url_decode(part)); }

int mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return static_cast<int>(st.st_mode & 07777);
}

// Signs `header`.`payload` with the PEM key in `pem_file`, independently of
// JwtSigner, to craft tokens the signer would never produce.
std::string sign_with_key_file(const fs::path& pem_file, const json& header, const json& payload) {
  std::string input = encode_json(header) + "." + encode_json(payload);
  BIO* bio = BIO_new_file(pem_file.c_str(), "r");
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EXPECT_NE(key, nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::vector<unsigned char> der(len);
  EXPECT_EQ(EVP_DigestSign(ctx, der.data(), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()),
            1);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return input + "." + base64url_encode(raw);
}

std::optional<JwtError> error_of(const std::expected<TokenClaims, JwtError>& r) {
  if (r) return std::nullopt;
  return r.error();
}

json sample_header() { return {{"alg", "ES256"}, {"typ", "JWT"}}; }

json sample_payload() {
  return {{"iss", kIssuer}, {"sub", "alice"},    {"aud", kAudience}, {"iat", kNow},
          {"nbf", kNow},    {"exp", kNow + 300}, {"jti", "x"},       {"access", json::array()}};
}

class JwtTest : public ::testing::Test {
 protected:
  std::expected<TokenClaims, JwtError> verify(const std::string& token, std::int64_t now = kNow,
                                              std::int64_t leeway = 60) const {
    return signer_.verify(token, kIssuer, kAudience, now, leeway);
  }
  std::expected<TokenClaims, JwtError> verify_crafted(const json& header, const json& payload) {
    return verify(sign_with_key_file(key_file_, header, payload));
  }

  TempDir dir_;
  fs::path key_file_ = dir_.path() / "jwt.pem";
  JwtSigner signer_ = JwtSigner::load_or_create(key_file_);
};

// --- round trip ---------------------------------------------------------------

TEST_F(JwtTest, RoundTripsAllClaims) {
  TokenClaims c = sample_claims();
  c.token_id = "0123456789ab";
  auto got = verify(signer_.sign(c));
  ASSERT_TRUE(got) << to_string(got.error());
  EXPECT_EQ(got->issuer, c.issuer);
  EXPECT_EQ(got->subject, c.subject);
  EXPECT_EQ(got->audience, c.audience);
  EXPECT_EQ(got->issued_at, c.issued_at);
  EXPECT_EQ(got->not_before, c.not_before);
  EXPECT_EQ(got->expires_at, c.expires_at);
  EXPECT_EQ(got->id, c.id);
  EXPECT_EQ(got->access, c.access);
  EXPECT_EQ(got->token_id, "0123456789ab");
}

TEST_F(JwtTest, TokenHasTheDocumentedShape) {
  std::string token = signer_.sign(sample_claims());
  Parts p = split(token);
  json header = decode_part(p.header);
  EXPECT_EQ(header["alg"], "ES256");
  EXPECT_EQ(header["typ"], "JWT");
  EXPECT_EQ(header["kid"], signer_.key_id());
  EXPECT_EQ(base64url_decode(p.signature)->size(), 64u);  // raw r || s, not DER
  EXPECT_EQ(p.signature.find('='), std::string::npos);
  json payload = decode_part(p.payload);
  EXPECT_EQ(payload["access"][0]["actions"], json({"pull", "push"}));
  EXPECT_FALSE(payload.contains("drydock_tid"));  // only with a token id
}

TEST_F(JwtTest, SignaturesDifferEachTime) {
  // ECDSA is randomised; both must verify.
  std::string a = signer_.sign(sample_claims());
  std::string b = signer_.sign(sample_claims());
  EXPECT_NE(a, b);
  EXPECT_TRUE(verify(a));
  EXPECT_TRUE(verify(b));
}

TEST_F(JwtTest, KeyIdIsLibtrustStyle) {
  const std::string& kid = signer_.key_id();
  ASSERT_EQ(kid.size(), 48u + 11u);
  for (std::size_t i = 0; i < kid.size(); ++i) {
    if (i % 5 == 4) {
      EXPECT_EQ(kid[i], ':') << kid;
    } else {
      EXPECT_TRUE((kid[i] >= 'A' && kid[i] <= 'Z') || (kid[i] >= '2' && kid[i] <= '7')) << kid;
    }
  }
  EXPECT_NE(JwtSigner::generate().key_id(), kid);
}

TEST_F(JwtTest, AcceptsAnAudienceArrayContainingUs) {
  json payload = sample_payload();
  payload["aud"] = {"other", kAudience};
  auto got = verify_crafted(sample_header(), payload);
  ASSERT_TRUE(got) << to_string(got.error());
  EXPECT_EQ(got->audience, kAudience);
}

TEST_F(JwtTest, CraftedTokenWithTheRightKeyVerifies) {
  // Sanity check of the helper the negative tests below rely on.
  EXPECT_TRUE(verify_crafted(sample_header(), sample_payload()));
}

// --- rejections ---------------------------------------------------------------

TEST_F(JwtTest, RejectsTamperedPayload) {
  Parts p = split(signer_.sign(sample_claims()));
  json payload = decode_part(p.payload);
  payload["sub"] = "root";
  p.payload = encode_json(payload);
  EXPECT_EQ(error_of(verify(join(p))), JwtError::kSignature);
}

TEST_F(JwtTest, RejectsTamperedSignature) {
  Parts p = split(signer_.sign(sample_claims()));
  p.signature[0] = p.signature[0] == 'A' ? 'B' : 'A';
  EXPECT_EQ(error_of(verify(join(p))), JwtError::kSignature);
  p.signature[10] = p.signature[10] == 'A' ? 'B' : 'A';
  EXPECT_EQ(error_of(verify(join(p))), JwtError::kSignature);
}

TEST_F(JwtTest, RejectsSignaturesOfTheWrongLength) {
  Parts p = split(signer_.sign(sample_claims()));
  std::string raw = *base64url_decode(p.signature);
  p.signature = base64url_encode(raw.substr(0, 63));
  EXPECT_EQ(error_of(verify(join(p))), JwtError::kSignature);
  p.signature = base64url_encode(raw + "x");
  EXPECT_EQ(error_of(verify(join(p))), JwtError::kSignature);
  p.signature = "";
  EXPECT_EQ(error_of(verify(join(p))), JwtError::kSignature);
}

TEST_F(JwtTest, RejectsAlgNone) {
  std::string token =
      encode_json({{"alg", "none"}, {"typ", "JWT"}}) + "." + encode_json(sample_payload()) + ".";
  EXPECT_EQ(error_of(verify(token)), JwtError::kAlgorithm);
  // Same, signature part kept from a genuine token.
  Parts p = split(signer_.sign(sample_claims()));
  p.header = encode_json({{"alg", "none"}});
  EXPECT_EQ(error_of(verify(join(p))), JwtError::kAlgorithm);
}

TEST_F(JwtTest, RejectsOtherAlgorithms) {
  Parts p = split(signer_.sign(sample_claims()));
  for (std::string_view alg : {"HS256", "RS256", "ES384", "es256", "ES256 ", ""}) {
    p.header = encode_json({{"alg", alg}, {"typ", "JWT"}});
    EXPECT_EQ(error_of(verify(join(p))), JwtError::kAlgorithm) << alg;
  }
  p.header = encode_json({{"typ", "JWT"}});
  EXPECT_EQ(error_of(verify(join(p))), JwtError::kMalformed);
  p.header = encode_json({{"alg", 256}});
  EXPECT_EQ(error_of(verify(join(p))), JwtError::kMalformed);
}

TEST_F(JwtTest, RejectsCriticalHeaderExtensions) {
  json header = sample_header();
  header["crit"] = {"exp"};
  EXPECT_EQ(error_of(verify_crafted(header, sample_payload())), JwtError::kMalformed);
}

TEST_F(JwtTest, RejectsExpiredTokens) {
  std::string token = signer_.sign(sample_claims());  // exp = kNow + 300
  EXPECT_TRUE(verify(token, kNow + 300 + 59));        // within the leeway
  EXPECT_EQ(error_of(verify(token, kNow + 300 + 60)), JwtError::kExpired);
  EXPECT_EQ(error_of(verify(token, kNow + 300, 0)), JwtError::kExpired);
  EXPECT_TRUE(verify(token, kNow + 299, 0));
}

TEST_F(JwtTest, RejectsTokensNotYetValid) {
  TokenClaims c = sample_claims();
  c.not_before = kNow + 120;
  std::string token = signer_.sign(c);
  EXPECT_EQ(error_of(verify(token)), JwtError::kNotYetValid);
  EXPECT_TRUE(verify(token, kNow + 60));  // nbf - leeway
  EXPECT_EQ(error_of(verify(token, kNow + 119, 0)), JwtError::kNotYetValid);
  EXPECT_TRUE(verify(token, kNow + 120, 0));
}

TEST_F(JwtTest, RejectsWrongAudience) {
  std::string token = signer_.sign(sample_claims());
  EXPECT_EQ(error_of(signer_.verify(token, kIssuer, "other", kNow)), JwtError::kAudience);
  json payload = sample_payload();
  payload["aud"] = {"a", "b"};
  EXPECT_EQ(error_of(verify_crafted(sample_header(), payload)), JwtError::kAudience);
  payload["aud"] = json::array();
  EXPECT_EQ(error_of(verify_crafted(sample_header(), payload)), JwtError::kAudience);
  payload["aud"] = 7;
  EXPECT_EQ(error_of(verify_crafted(sample_header(), payload)), JwtError::kMalformed);
}

TEST_F(JwtTest, RejectsWrongIssuer) {
  std::string token = signer_.sign(sample_claims());
  EXPECT_EQ(error_of(signer_.verify(token, "someone-else", kAudience, kNow)), JwtError::kIssuer);
}

TEST_F(JwtTest, RejectsTokensOfAnotherKey) {
  JwtSigner other = JwtSigner::generate();
  EXPECT_EQ(error_of(verify(other.sign(sample_claims()))), JwtError::kSignature);
}

TEST_F(JwtTest, RejectsMissingOrIllTypedClaims) {
  for (const char* required : {"exp", "iss", "aud"}) {
    json payload = sample_payload();
    payload.erase(required);
    EXPECT_EQ(error_of(verify_crafted(sample_header(), payload)), JwtError::kMalformed) << required;
  }
  const std::pair<const char*, json> ill_typed[] = {{"exp", "tomorrow"},
                                                    {"exp", 1.5e9},
                                                    {"nbf", json::array()},
                                                    {"sub", 42},
                                                    {"iss", nullptr},
                                                    {"access", "x"},
                                                    {"access", json::array({1})},
                                                    {"exp", 18446744073709551615ull}};
  for (const auto& [key, value] : ill_typed) {
    json payload = sample_payload();
    payload[key] = value;
    EXPECT_EQ(error_of(verify_crafted(sample_header(), payload)), JwtError::kMalformed) << key;
  }
}

TEST_F(JwtTest, PayloadMustBeAJsonObject) {
  EXPECT_EQ(error_of(verify_crafted(sample_header(), json::array({1, 2}))), JwtError::kMalformed);
  EXPECT_EQ(error_of(verify_crafted(sample_header(), "exp")), JwtError::kMalformed);
}

TEST_F(JwtTest, RejectsGarbage) {
  std::string genuine = signer_.sign(sample_claims());
  Parts p = split(genuine);
  for (const std::string& bad : {
           std::string(""),
           std::string("."),
           std::string(".."),
           std::string("..."),
           std::string("not a token"),
           p.header + "." + p.payload,
           genuine + ".",
           genuine + "." + p.signature,
           p.header + "!." + p.payload + "." + p.signature,
           p.header + "." + p.payload + "." + p.signature + "=",
           base64url_encode("{not json") + "." + p.payload + "." + p.signature,
           base64url_encode("\"ES256\"") + "." + p.payload + "." + p.signature,
           std::string(100'000, 'a') + "." + p.payload + "." + p.signature,
       }) {
    auto got = verify(bad);
    ASSERT_FALSE(got) << bad.substr(0, 80);
    EXPECT_EQ(error_of(got), JwtError::kMalformed) << bad.substr(0, 80);
  }
}

TEST_F(JwtTest, SurvivesDeeplyNestedJson) {
  Parts p = split(signer_.sign(sample_claims()));
  std::string deep = std::string(40'000, '[') + std::string(40'000, ']');
  EXPECT_EQ(error_of(verify(base64url_encode(deep.substr(0, 40'000)) + "." + p.payload + "." +
                            p.signature)),
            JwtError::kMalformed);
  std::string object = std::string(20'000, '[') + std::string(20'000, ']');
  EXPECT_EQ(error_of(verify(base64url_encode(object) + "." + p.payload + "." + p.signature)),
            JwtError::kMalformed);
}

TEST_F(JwtTest, BadPayloadEncodingIsMalformedOrBadSignature) {
  Parts p = split(signer_.sign(sample_claims()));
  p.payload += "!";
  // The signature covers the payload bytes, so this fails on either count.
  EXPECT_FALSE(verify(join(p)));
}

// --- key files ----------------------------------------------------------------

TEST(JwtKeyFile, IsCreatedPrivateAndReused) {
  TempDir dir;
  fs::path file = dir.path() / "keys" / "sub" / "jwt.pem";
  std::string kid = JwtSigner::load_or_create(file).key_id();
  EXPECT_EQ(mode_of(file), 0600);
  EXPECT_EQ(mode_of(dir.path() / "keys"), 0700);
  EXPECT_EQ(mode_of(dir.path() / "keys" / "sub"), 0700);
  EXPECT_NE(read_file(file).find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  std::string pem = read_file(file);

  JwtSigner again = JwtSigner::load_or_create(file);
  EXPECT_EQ(again.key_id(), kid);
  EXPECT_EQ(read_file(file), pem);  // not rewritten
}

TEST(JwtKeyFile, TokensSurviveARestart) {
  TempDir dir;
  fs::path file = dir.path() / "jwt.pem";
  std::string token = JwtSigner::load_or_create(file).sign(sample_claims());
  JwtSigner reloaded = JwtSigner::load_or_create(file);
  EXPECT_TRUE(reloaded.verify(token, kIssuer, kAudience, kNow));
}

TEST(JwtKeyFile, CorruptFileThrows) {
  TempDir dir;
  fs::path file = dir.path() / "jwt.pem";
  write_file(file, "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n");
  EXPECT_THROW(JwtSigner::load_or_create(file), std::runtime_error);
  write_file(file, "");
  EXPECT_THROW(JwtSigner::load_or_create(file), std::runtime_error);
  EXPECT_EQ(read_file(file), "");  // left alone, not replaced by a new key
}

TEST(JwtKeyFile, OtherKeyTypesThrow) {
  TempDir dir;
  fs::path file = dir.path() / "p384.pem";
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  ASSERT_NE(key, nullptr);
  BIO* bio = BIO_new_file(file.c_str(), "w");
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  BIO_free(bio);
  EVP_PKEY_free(key);
  EXPECT_THROW(JwtSigner::load_or_create(file), std::runtime_error);
}

TEST(JwtKeyFile, MovedSignerStillWorks) {
  JwtSigner a = JwtSigner::generate();
  std::string kid = a.key_id();
  JwtSigner b = std::move(a);
  EXPECT_EQ(b.key_id(), kid);
  EXPECT_TRUE(b.verify(b.sign(sample_claims()), kIssuer, kAudience, kNow));
}

}  // namespace
}  // namespace drydock::auth
