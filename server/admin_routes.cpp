// The administration API (/admin/...), Drydock's own, for admins only when
// authentication is on:
//
//   POST /admin/gc[?dry_run=1]                                 a collection now
//   POST /admin/prune?untagged=1[&older_than=24h][&dry_run=1]  untagged manifests
//   DELETE /admin/repositories/<name>                          a whole repository
//
// gc and prune answer 200 with the report (server/gc_service.hpp
// gc_report_json); a repository delete 202 (its blobs go at the next
// collection).
// Errors are OCI error documents.

#include "auth/authenticator.hpp"
#include "registry/reference.hpp"
#include "server/blocking.hpp"
#include "server/gc_service.hpp"
#include "server/session.hpp"

namespace drydock::server {

namespace {

using registry::ErrorCode;
using registry::Reply;

bool flag(const registry::Query& q, std::string_view name) {
  auto v = q.get(name);
  return v && (*v == "1" || *v == "true" || v->empty());
}

Reply report_reply(const storage::Result<storage::GcReport>& r) {
  if (!r) {
    return registry::error_reply(ErrorCode::kInternal,
                                 "garbage collection failed: " +
                                     std::string(storage::to_string(r.error())) +
                                     " (the server log says more)");
  }
  Reply reply;
  reply.status = 200;
  reply.header("Content-Type", "application/json");
  reply.body = gc_report_json(*r);
  return reply;
}

constexpr std::string_view kRepositories = "/admin/repositories/";

Reply delete_repository(storage::MetadataStore& meta, std::string_view name) {
  if (!registry::valid_repository_name(name)) {
    return registry::error_reply(ErrorCode::kNameInvalid, "invalid repository name");
  }
  auto deleted = meta.delete_repository(name);
  if (!deleted && deleted.error() == storage::StorageError::kImmutable) {
    return registry::error_reply(ErrorCode::kDenied,
                                 std::string(name) + " has immutable tags (registry.immutable_tags)");
  }
  if (!deleted) {
    return registry::error_reply(ErrorCode::kInternal, std::string(storage::to_string(deleted.error())));
  }
  if (!*deleted) return registry::error_reply(ErrorCode::kNameUnknown, "no such repository");
  Reply r;
  r.status = 202;
  return r;
}

// The reply to an admin request from an admin (or anyone, auth off).
Reply admin_request(GcService& gc, std::string_view path, const registry::Query& query) {
  bool dry_run = flag(query, "dry_run");
  if (path == "/admin/gc") return report_reply(gc.collect(dry_run));
  // /admin/prune
  if (!flag(query, "untagged")) {
    return registry::error_reply(ErrorCode::kUnsupported,
                                 "prune needs untagged=1 (it removes untagged manifests)");
  }
  std::int64_t older_than = 0;
  if (auto text = query.get("older_than")) {
    auto seconds = parse_duration(*text);
    if (!seconds) {
      return registry::error_reply(ErrorCode::kUnsupported,
                                   "older_than must be a duration such as 90s, 30m, 24h or 7d");
    }
    older_than = *seconds;
  }
  return report_reply(gc.prune_untagged(older_than, dry_run));
}

}  // namespace

asio::awaitable<bool> Session::handle_admin(RequestParser& p, Exchange& ex,
                                            std::string_view path,
                                            const registry::Query& query) {
  if (!co_await drain_body(p, kIgnoredBodyLimit)) ex.keep_alive = false;
  bool repository = path.starts_with(kRepositories);
  bool known = path == "/admin/gc" || path == "/admin/prune" || repository;
  if (!known || ctx_.gc == nullptr) {
    co_return co_await write_reply(
        registry::error_reply(ErrorCode::kNotFound, "no such endpoint"), ex);
  }
  if (ctx_.auth != nullptr) {
    std::optional<auth::Requirement> need = auth::Requirement{auth::Resource::kBase, {}, {}};
    std::optional<auth::Principal> who = co_await authorize_for(p, ex, need);
    if (!who) co_return ex.keep_alive;
    if (!who->admin) {
      co_return co_await write_reply(
          registry::error_reply(ErrorCode::kDenied, "only administrators may do this"), ex);
    }
  }
  auto verb = p.get().method();
  if (verb != (repository ? http::verb::delete_ : http::verb::post)) {
    co_return co_await write_reply(
        registry::error_reply(ErrorCode::kMethodNotAllowed, repository ? "use DELETE" : "use POST"),
        ex);
  }
  std::string target(path);
  if (repository) {
    Reply reply = co_await run_blocking(ctx_.workers, [&] {
      return delete_repository(ctx_.gc->metadata(), std::string_view(target).substr(kRepositories.size()));
    });
    co_return co_await write_reply(std::move(reply), ex);
  }
  Reply reply = co_await run_blocking(ctx_.workers,
                                      [&] { return admin_request(*ctx_.gc, target, query); });
  co_return co_await write_reply(std::move(reply), ex);
}

}  // namespace drydock::server
