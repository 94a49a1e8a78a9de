#include "registry/reply.hpp"

namespace drydock::registry {

std::string_view Reply::find(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

Reply error_reply(ErrorCode code, std::string message, std::string detail_json) {
  return error_reply(Error{code, std::move(message), std::move(detail_json)});
}

Reply error_reply(const Error& e) {
  Reply r;
  r.status = http_status(e.code);
  r.body = error_body(e);
  r.header("Content-Type", "application/json");
  return r;
}

}  // namespace drydock::registry
