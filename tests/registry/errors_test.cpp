#include "registry/errors.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace drydock::registry {
namespace {

using nlohmann::json;

struct Row {
  ErrorCode code;
  std::string_view json_code;
  unsigned status;
  std::string_view message;
};

// Straight from the comments in errors.hpp and the distribution-spec table.
const std::vector<Row> kExpected = {
    {ErrorCode::kBlobUnknown, "BLOB_UNKNOWN", 404, "blob unknown to registry"},
    {ErrorCode::kBlobUploadInvalid, "BLOB_UPLOAD_INVALID", 400, "blob upload invalid"},
    {ErrorCode::kBlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"},
    {ErrorCode::kDigestInvalid, "DIGEST_INVALID", 400,
     "provided digest did not match uploaded content"},
    {ErrorCode::kManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", 404,
     "manifest references a manifest or blob unknown to registry"},
    {ErrorCode::kManifestInvalid, "MANIFEST_INVALID", 400, "manifest invalid"},
    {ErrorCode::kManifestUnknown, "MANIFEST_UNKNOWN", 404, "manifest unknown to registry"},
    {ErrorCode::kNameInvalid, "NAME_INVALID", 400, "invalid repository name"},
    {ErrorCode::kNameUnknown, "NAME_UNKNOWN", 404, "repository name not known to registry"},
    {ErrorCode::kSizeInvalid, "SIZE_INVALID", 400, "provided length did not match content length"},
    {ErrorCode::kUnauthorized, "UNAUTHORIZED", 401, "authentication required"},
    {ErrorCode::kDenied, "DENIED", 403, "requested access to the resource is denied"},
    {ErrorCode::kUnsupported, "UNSUPPORTED", 415, "the operation is unsupported"},
    {ErrorCode::kTooManyRequests, "TOOMANYREQUESTS", 429, "too many requests"},
    {ErrorCode::kRangeInvalid, "BLOB_UPLOAD_INVALID", 416, ""},
    {ErrorCode::kManifestTooLarge, "SIZE_INVALID", 413, ""},
    {ErrorCode::kPaginationInvalid, "UNSUPPORTED", 400, "invalid number of results requested"},
    {ErrorCode::kMethodNotAllowed, "UNSUPPORTED", 405, ""},
    {ErrorCode::kNotFound, "UNSUPPORTED", 404, ""},
    {ErrorCode::kBuildInvalid, "BUILD_INVALID", 400, ""},
    {ErrorCode::kBuildUnknown, "BUILD_UNKNOWN", 404, ""},
    {ErrorCode::kContextTooLarge, "SIZE_INVALID", 413, ""},
    {ErrorCode::kUnavailable, "UNAVAILABLE", 503, ""},
    {ErrorCode::kImageInvalid, "IMAGE_INVALID", 400, ""},
    {ErrorCode::kInternal, "INTERNAL_ERROR", 500, ""},
};

TEST(ErrorTable, EveryCodeHasItsStringStatusAndMessage) {
  for (const Row& row : kExpected) {
    SCOPED_TRACE(std::string(row.json_code));
    EXPECT_EQ(code_string(row.code), row.json_code);
    EXPECT_EQ(http_status(row.code), row.status);
    EXPECT_FALSE(default_message(row.code).empty());
    // Rows with an empty expectation are ours, not the spec's: any message.
    if (!row.message.empty()) {
      EXPECT_EQ(default_message(row.code), row.message);
    }
  }
}

TEST(ErrorTable, CoversEveryEnumerator) {
  std::set<ErrorCode> seen;
  for (const Row& row : kExpected) seen.insert(row.code);
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(ErrorCode::kInternal) + 1);
}

TEST(ErrorTable, CodeStringsAreUppercaseAndUnderscore) {
  // distribution-spec: "code ... containing only uppercase alphabetic
  // characters and underscores".
  for (const Row& row : kExpected) {
    for (char c : code_string(row.code)) {
      EXPECT_TRUE((c >= 'A' && c <= 'Z') || c == '_') << code_string(row.code);
    }
  }
}

json parse_body(const Error& e) {
  json j = json::parse(error_body(e), nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << error_body(e);
  return j;
}

TEST(ErrorBody, DefaultMessageWithoutDetail) {
  const json j = parse_body(Error{.code = ErrorCode::kBlobUnknown});
  ASSERT_TRUE(j["errors"].is_array());
  ASSERT_EQ(j["errors"].size(), 1u);
  const json& e = j["errors"][0];
  EXPECT_EQ(e["code"], "BLOB_UNKNOWN");
  EXPECT_EQ(e["message"], "blob unknown to registry");
  EXPECT_FALSE(e.contains("detail"));
  EXPECT_EQ(j.size(), 1u);
}

TEST(ErrorBody, ExactShape) {
  EXPECT_EQ(error_body(Error{.code = ErrorCode::kDenied, .message = "no"}),
            R"({"errors":[{"code":"DENIED","message":"no"}]})");
}

TEST(ErrorBody, CustomMessageIsEscaped) {
  const std::string nasty = "quote \" backslash \\ newline \n tab \t nul-ish \x01 </script>";
  const json j = parse_body(Error{.code = ErrorCode::kManifestInvalid, .message = nasty});
  EXPECT_EQ(j["errors"][0]["message"], nasty);
  EXPECT_EQ(j["errors"][0]["code"], "MANIFEST_INVALID");
}

TEST(ErrorBody, InvalidUtf8InMessageDoesNotThrowAndStaysValidJson) {
  const std::string bad = "bad \xff\xfe bytes";
  std::string body;
  EXPECT_NO_THROW(body = error_body(Error{.code = ErrorCode::kNameInvalid, .message = bad}));
  EXPECT_FALSE(json::parse(body, nullptr, false).is_discarded());
}

TEST(ErrorBody, DetailObjectIsEmbeddedAsJson) {
  const json j = parse_body(
      Error{.code = ErrorCode::kManifestBlobUnknown, .detail_json = R"({"digest":"sha256:abc"})"});
  ASSERT_TRUE(j["errors"][0]["detail"].is_object());
  EXPECT_EQ(j["errors"][0]["detail"]["digest"], "sha256:abc");
}

TEST(ErrorBody, DetailScalarsAndArrays) {
  EXPECT_EQ(parse_body(Error{.detail_json = "42"})["errors"][0]["detail"], 42);
  EXPECT_EQ(parse_body(Error{.detail_json = R"("text")"})["errors"][0]["detail"], "text");
  EXPECT_EQ(parse_body(Error{.detail_json = "[1,2]"})["errors"][0]["detail"].size(), 2u);
  EXPECT_TRUE(parse_body(Error{.detail_json = "null"})["errors"][0]["detail"].is_null());
}

TEST(ErrorBody, InvalidDetailBecomesAString) {
  const json j = parse_body(Error{.code = ErrorCode::kInternal, .detail_json = "{not json"});
  EXPECT_EQ(j["errors"][0]["detail"], "{not json");
  EXPECT_EQ(j["errors"][0]["code"], "INTERNAL_ERROR");
}

TEST(ErrorBody, DefaultErrorIsInternal) {
  const json j = parse_body(Error{});
  EXPECT_EQ(j["errors"][0]["code"], "INTERNAL_ERROR");
  EXPECT_EQ(j["errors"][0]["message"], std::string(default_message(ErrorCode::kInternal)));
}

}  // namespace
}  // namespace drydock::registry
