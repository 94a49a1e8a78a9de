#pragma once

#include <string>
#include <string_view>

namespace drydock::registry {

// OCI distribution-spec error codes ("Error Codes" table), plus the few the
// registry needs beyond it. A 4xx JSON body's code MUST be one of the spec's
// codes, so the extra conditions reuse them (UNSUPPORTED, BLOB_UPLOAD_INVALID,
// SIZE_INVALID) with their own status and message. One table (errors.cpp) maps each to its JSON
// code string and HTTP status.
enum class ErrorCode {
  kBlobUnknown,          // BLOB_UNKNOWN            404
  kBlobUploadInvalid,    // BLOB_UPLOAD_INVALID     400
  kBlobUploadUnknown,    // BLOB_UPLOAD_UNKNOWN     404
  kDigestInvalid,        // DIGEST_INVALID          400
  kManifestBlobUnknown,  // MANIFEST_BLOB_UNKNOWN   404
  kManifestInvalid,      // MANIFEST_INVALID        400
  kManifestUnknown,      // MANIFEST_UNKNOWN        404
  kNameInvalid,          // NAME_INVALID            400
  kNameUnknown,          // NAME_UNKNOWN            404
  kSizeInvalid,          // SIZE_INVALID            400
  kUnauthorized,         // UNAUTHORIZED            401
  kDenied,               // DENIED                  403
  kUnsupported,          // UNSUPPORTED             415
  kTooManyRequests,      // TOOMANYREQUESTS         429
  kRangeInvalid,         // BLOB_UPLOAD_INVALID     416 (chunk out of order)
  kManifestTooLarge,     // SIZE_INVALID            413
  kPaginationInvalid,    // UNSUPPORTED             400 (bad n)
  kMethodNotAllowed,     // UNSUPPORTED             405
  kNotFound,             // UNSUPPORTED             404 (no such endpoint)
  // The build API (/builds) is Drydock's own, not the distribution spec's:
  kBuildInvalid,         // BUILD_INVALID           400 (bad parameter or context)
  kBuildUnknown,         // BUILD_UNKNOWN           404
  kContextTooLarge,      // SIZE_INVALID            413 (context over the limit)
  kUnavailable,          // UNAVAILABLE             503 (builds off, queue full, shutting down)
  // Image archives (/images, docker save/load) are Drydock's own too:
  kImageInvalid,         // IMAGE_INVALID           400 (bad archive, or platform not in the index)
  kInternal,             // INTERNAL_ERROR          500
};

// The JSON `code` string, e.g. "BLOB_UNKNOWN".
std::string_view code_string(ErrorCode c);
// The HTTP status to answer with.
unsigned http_status(ErrorCode c);
// The spec's default message for the code.
std::string_view default_message(ErrorCode c);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;      // empty: default_message(code)
  std::string detail_json;  // a JSON value, or empty for none
};

// {"errors":[{"code":"...","message":"...","detail":...}]}
std::string error_body(const Error& e);

}  // namespace drydock::registry
