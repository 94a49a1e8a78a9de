#include "storage/digest.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "storage/error.hpp"

namespace drydock::storage {
namespace {

constexpr std::string_view kSha256Empty =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view kSha256Abc =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr std::string_view kSha512Empty =
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
constexpr std::string_view kSha512Abc =
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
// FIPS 180-2 test vector: one million repetitions of 'a'.
constexpr std::string_view kSha256MillionA =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

TEST(DigestTest, KnownSha256Values) {
  EXPECT_EQ(digest_of("").hex, kSha256Empty);
  EXPECT_EQ(digest_of("abc").hex, kSha256Abc);
  EXPECT_EQ(digest_of("abc").algorithm, DigestAlgorithm::kSha256);
  EXPECT_EQ(digest_of("abc").str(), "sha256:" + std::string(kSha256Abc));
}

TEST(DigestTest, KnownSha512Values) {
  EXPECT_EQ(digest_of("", DigestAlgorithm::kSha512).hex, kSha512Empty);
  Digest d = digest_of("abc", DigestAlgorithm::kSha512);
  EXPECT_EQ(d.hex, kSha512Abc);
  EXPECT_EQ(d.str(), "sha512:" + std::string(kSha512Abc));
}

TEST(DigestTest, IncrementalMatchesOneShot) {
  std::string million(1'000'000, 'a');
  Hasher h;
  for (std::size_t i = 0; i < million.size(); i += 7) {
    h.update(std::string_view(million).substr(i, 7));
  }
  EXPECT_EQ(h.current().hex, kSha256MillionA);
  EXPECT_EQ(digest_of(million).hex, kSha256MillionA);

  Hasher h512(DigestAlgorithm::kSha512);
  h512.update("a");
  h512.update("");
  h512.update("bc");
  EXPECT_EQ(h512.current().hex, kSha512Abc);
  EXPECT_EQ(h512.algorithm(), DigestAlgorithm::kSha512);
}

TEST(DigestTest, CurrentDoesNotFinishTheHasher) {
  Hasher h;
  EXPECT_EQ(h.current().hex, kSha256Empty);
  h.update("ab");
  Digest first = h.current();
  EXPECT_EQ(h.current(), first);
  h.update("c");
  EXPECT_EQ(h.current().hex, kSha256Abc);
}

TEST(DigestTest, CopiesAreIndependent) {
  Hasher h;
  h.update("ab");
  Hasher copy(h);
  h.update("c");
  copy.update("x");
  EXPECT_EQ(h.current().hex, kSha256Abc);
  EXPECT_EQ(copy.current(), digest_of("abx"));

  Hasher assigned(DigestAlgorithm::kSha512);
  assigned.update("zzz");
  assigned = h;  // takes both the state and the algorithm
  EXPECT_EQ(assigned.algorithm(), DigestAlgorithm::kSha256);
  assigned.update("d");
  EXPECT_EQ(assigned.current(), digest_of("abcd"));
  EXPECT_EQ(h.current().hex, kSha256Abc);
}

TEST(DigestTest, MovesCarryTheState) {
  Hasher h(DigestAlgorithm::kSha512);
  h.update("ab");
  Hasher moved(std::move(h));
  moved.update("c");
  EXPECT_EQ(moved.current().hex, kSha512Abc);

  Hasher target;
  target = std::move(moved);
  EXPECT_EQ(target.current().hex, kSha512Abc);
}

TEST(DigestTest, ParsesValidDigests) {
  auto d = parse_digest("sha256:" + std::string(kSha256Abc));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->algorithm, DigestAlgorithm::kSha256);
  EXPECT_EQ(d->hex, kSha256Abc);
  EXPECT_EQ(*d, digest_of("abc"));

  auto d512 = parse_digest("sha512:" + std::string(kSha512Abc));
  ASSERT_TRUE(d512.has_value());
  EXPECT_EQ(d512->algorithm, DigestAlgorithm::kSha512);
  EXPECT_EQ(d512->str(), "sha512:" + std::string(kSha512Abc));
}

TEST(DigestTest, RejectsMalformedDigests) {
  std::string hex(kSha256Abc);
  std::string upper = hex;
  upper[0] = 'B';
  const std::string bad[] = {
      "",
      "sha256:",
      "sha256",
      hex,
      "sha256:" + hex.substr(1),
      "sha256:" + hex + "0",
      "sha256:" + upper,
      "SHA256:" + hex,
      "sha256:" + hex.substr(1) + "g",
      "sha256: " + hex.substr(1),
      "md5:" + hex,
      "sha384:" + hex,
      "sha512:" + hex,  // sha512 needs 128 hex digits
      "sha256:" + std::string(kSha512Abc),
      " sha256:" + hex,
  };
  for (const std::string& s : bad) EXPECT_FALSE(parse_digest(s).has_value()) << s;
}

TEST(DigestTest, OrderingAndNames) {
  EXPECT_EQ(to_string(DigestAlgorithm::kSha256), "sha256");
  EXPECT_EQ(to_string(DigestAlgorithm::kSha512), "sha512");
  EXPECT_NE(digest_of("a"), digest_of("b"));
  EXPECT_NE(digest_of("a"), digest_of("a", DigestAlgorithm::kSha512));
}

TEST(StorageErrorTest, EveryErrorHasADistinctName) {
  const StorageError all[] = {
      StorageError::kNotFound,     StorageError::kDigestMismatch,   StorageError::kSizeMismatch,
      StorageError::kInvalidRange, StorageError::kMissingReference, StorageError::kIo,
      StorageError::kDatabase,     StorageError::kTooLarge,
  };
  std::set<std::string_view> names;
  for (StorageError e : all) names.insert(to_string(e));
  EXPECT_EQ(names.size(), std::size(all));
  EXPECT_EQ(to_string(StorageError::kDigestMismatch), "digest mismatch");
}

}  // namespace
}  // namespace drydock::storage
