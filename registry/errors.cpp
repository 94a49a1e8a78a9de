#include "registry/errors.hpp"

#include <array>
#include <cstddef>
#include <nlohmann/json.hpp>

namespace drydock::registry {
namespace {

struct ErrorInfo {
  ErrorCode code;
  std::string_view json_code;
  unsigned status;
  std::string_view message;
};

// The one table from error codes to wire format. Codes and messages follow the
// distribution-spec "Error Codes" table; the extra rows reuse the closest spec
// code with the HTTP status the situation calls for (as CNCF distribution does).
constexpr std::array kErrorTable = {
    ErrorInfo{ErrorCode::kBlobUnknown, "BLOB_UNKNOWN", 404, "blob unknown to registry"},
    ErrorInfo{ErrorCode::kBlobUploadInvalid, "BLOB_UPLOAD_INVALID", 400, "blob upload invalid"},
    ErrorInfo{ErrorCode::kBlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404,
              "blob upload unknown to registry"},
    ErrorInfo{ErrorCode::kDigestInvalid, "DIGEST_INVALID", 400,
              "provided digest did not match uploaded content"},
    ErrorInfo{ErrorCode::kManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", 404,
              "manifest references a manifest or blob unknown to registry"},
    ErrorInfo{ErrorCode::kManifestInvalid, "MANIFEST_INVALID", 400, "manifest invalid"},
    ErrorInfo{ErrorCode::kManifestUnknown, "MANIFEST_UNKNOWN", 404, "manifest unknown to registry"},
    ErrorInfo{ErrorCode::kNameInvalid, "NAME_INVALID", 400, "invalid repository name"},
    ErrorInfo{ErrorCode::kNameUnknown, "NAME_UNKNOWN", 404,
              "repository name not known to registry"},
    ErrorInfo{ErrorCode::kSizeInvalid, "SIZE_INVALID", 400,
              "provided length did not match content length"},
    ErrorInfo{ErrorCode::kUnauthorized, "UNAUTHORIZED", 401, "authentication required"},
    ErrorInfo{ErrorCode::kDenied, "DENIED", 403, "requested access to the resource is denied"},
    ErrorInfo{ErrorCode::kUnsupported, "UNSUPPORTED", 415, "the operation is unsupported"},
    ErrorInfo{ErrorCode::kTooManyRequests, "TOOMANYREQUESTS", 429, "too many requests"},
    ErrorInfo{ErrorCode::kRangeInvalid, "BLOB_UPLOAD_INVALID", 416,
              "invalid content range: chunk out of order"},
    ErrorInfo{ErrorCode::kManifestTooLarge, "SIZE_INVALID", 413, "manifest too large"},
    ErrorInfo{ErrorCode::kPaginationInvalid, "UNSUPPORTED", 400,
              "invalid number of results requested"},
    ErrorInfo{ErrorCode::kMethodNotAllowed, "UNSUPPORTED", 405, "method not allowed"},
    ErrorInfo{ErrorCode::kNotFound, "UNSUPPORTED", 404, "no such endpoint"},
    ErrorInfo{ErrorCode::kBuildInvalid, "BUILD_INVALID", 400, "invalid build request"},
    ErrorInfo{ErrorCode::kBuildUnknown, "BUILD_UNKNOWN", 404, "build unknown"},
    ErrorInfo{ErrorCode::kContextTooLarge, "SIZE_INVALID", 413, "build context too large"},
    ErrorInfo{ErrorCode::kUnavailable, "UNAVAILABLE", 503, "service unavailable"},
    ErrorInfo{ErrorCode::kImageInvalid, "IMAGE_INVALID", 400, "invalid image archive or request"},
    ErrorInfo{ErrorCode::kInternal, "INTERNAL_ERROR", 500, "internal server error"},
};

const ErrorInfo& info(ErrorCode c) {
  for (const auto& row : kErrorTable) {
    if (row.code == c) return row;
  }
  return kErrorTable.back();  // kInternal: an out-of-range enum value is our bug
}

}  // namespace

std::string_view code_string(ErrorCode c) { return info(c).json_code; }

unsigned http_status(ErrorCode c) { return info(c).status; }

std::string_view default_message(ErrorCode c) { return info(c).message; }

std::string error_body(const Error& e) {
  using nlohmann::json;
  json entry = json::object();
  entry["code"] = std::string(code_string(e.code));
  entry["message"] = e.message.empty() ? std::string(default_message(e.code)) : e.message;
  if (!e.detail_json.empty()) {
    json detail = json::parse(e.detail_json, nullptr, false);
    // A detail that is not valid JSON is still reported, as a string, rather
    // than producing a body clients cannot parse.
    entry["detail"] = detail.is_discarded() ? json(e.detail_json) : std::move(detail);
  }
  json body = {{"errors", json::array({std::move(entry)})}};
  // `replace`: messages may carry client bytes that are not UTF-8; dump must
  // neither throw nor emit invalid JSON.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace drydock::registry
