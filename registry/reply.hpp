#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/errors.hpp"
#include "storage/unique_fd.hpp"

namespace drydock::registry {

struct Header {
  std::string name;
  std::string value;
};

// A byte range of an open blob file that the transport streams after the
// headers (sendfile where it can).
struct BlobBody {
  storage::UniqueFd fd;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// A protocol answer, independent of any HTTP library: status, headers and
// either a small in-memory body or a blob range to stream.
struct Reply {
  unsigned status = 200;
  std::vector<Header> headers;
  std::string body;
  std::optional<BlobBody> blob;
  // For HEAD: the Content-Length a GET would have had.
  std::optional<std::uint64_t> content_length;

  Reply& header(std::string name, std::string value) {
    headers.push_back({std::move(name), std::move(value)});
    return *this;
  }
  // The value of the first header with this name (exact case), or empty.
  std::string_view find(std::string_view name) const;
};

// An OCI error reply: status from the error table, JSON body.
Reply error_reply(ErrorCode code, std::string message = {}, std::string detail_json = {});
Reply error_reply(const Error& e);

}  // namespace drydock::registry
