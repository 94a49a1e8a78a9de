// The image archive API (/images): GET /images (listing), GET
// /images/<ref>/json (inspect), GET /images/<ref>/export (a tar for docker
// load, or an OCI layout), DELETE /images/<ref> (untag / delete) and POST
// /images/import (a docker save tarball or an OCI layout tar). The formats
// and rules are images/'s; this file checks access, moves bytes and picks
// threads.
//
// g++ 12: never `co_await` inside `?:`, and keep values that live across a
// co_await in named locals (see auth_routes.cpp).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>
#include <filesystem>
#include <variant>

#include "auth/authenticator.hpp"
#include "images/image_catalog.hpp"
#include "images/image_export.hpp"
#include "images/image_import.hpp"
#include "images/image_store.hpp"
#include "images/tar_format.hpp"
#include "server/blocking.hpp"
#include "server/session.hpp"
#include "storage/clock.hpp"

namespace drydock::server {

namespace {

using registry::ErrorCode;
using registry::Reply;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// What an /images path asks for.
struct ImagePath {
  enum class Kind { kList, kImport, kExport, kInspect, kImage, kBad };
  Kind kind = Kind::kBad;
  std::string ref;  // kExport, kInspect, kImage
};

ImagePath parse_image_path(std::string_view path) {
  using Kind = ImagePath::Kind;
  if (path == "/images" || path == "/images/") return {Kind::kList, {}};
  std::string_view rest = path.substr(std::string_view("/images/").size());
  if (rest == "import") return {Kind::kImport, {}};
  for (auto [suffix, kind] : {std::pair{std::string_view("/export"), Kind::kExport},
                              std::pair{std::string_view("/json"), Kind::kInspect}}) {
    if (rest.ends_with(suffix))
      return {kind, std::string(rest.substr(0, rest.size() - suffix.size()))};
  }
  return {Kind::kImage, std::string(rest)};
}

Reply json_reply(std::string body) {
  Reply r;
  r.body = std::move(body);
  r.header("Content-Type", "application/json");
  return r;
}

Reply to_reply(const std::expected<std::string, registry::Error>& r) {
  return r ? json_reply(*r) : registry::error_reply(r.error());
}

// The access a path needs (with auth on): any caller for the listing (it
// is filtered) and imports (checked per repository once the archive is
// read); pull to read an image, delete to remove one.
std::optional<auth::Requirement> image_requirement(const ImagePath& ip, const std::string& repo) {
  using Kind = ImagePath::Kind;
  if (ip.kind == Kind::kList || ip.kind == Kind::kImport || ip.kind == Kind::kBad) {
    return auth::Requirement{auth::Resource::kBase, {}, {}};
  }
  auto action = ip.kind == Kind::kImage ? auth::Action::kDelete : auth::Action::kPull;
  return auth::Requirement{auth::Resource::kRepository, repo, action};
}

// Which methods each path answers.
bool method_fits(ImagePath::Kind kind, http::verb v) {
  using Kind = ImagePath::Kind;
  bool read = v == http::verb::get || v == http::verb::head;
  switch (kind) {
    case Kind::kImport:
      return v == http::verb::post;
    case Kind::kImage:
      return v == http::verb::delete_;
    default:
      return read;
  }
}

// The export's parameters: format=docker|oci, platform=os/arch[/variant], name=.
std::variant<images::ExportRequest, Reply> export_request(images::ImageRef ref,
                                                          const registry::Query& q) {
  images::ExportRequest r;
  r.ref = std::move(ref);
  std::string format = q.get("format").value_or("docker");
  if (format == "oci") {
    r.format = images::ArchiveFormat::kOci;
  } else if (format != "docker") {
    return registry::error_reply(ErrorCode::kImageInvalid, "format must be docker or oci");
  }
  if (auto p = q.get("platform"); p && !p->empty()) {
    r.platform = images::parse_platform(*p);
    if (!r.platform) {
      return registry::error_reply(ErrorCode::kImageInvalid, "platform must be os/arch[/variant]");
    }
  }
  r.name = q.get("name").value_or("");
  return r;
}

// Writes `pending` (then empties it); false if the connection failed.
asio::awaitable<bool> write_pending(Stream& stream, std::string& pending,
                                    std::chrono::seconds timeout) {
  if (pending.empty()) co_return true;
  stream.tcp().expires_after(timeout);
  auto bytes = asio::buffer(pending);
  auto [ec, n] =
      co_await stream.visit([&](auto& s) { return asio::async_write(s, bytes, kTuple); });
  pending.clear();
  co_return !ec;
}

}  // namespace

asio::awaitable<bool> Session::handle_images(RequestParser& p, Exchange& ex, std::string_view path,
                                             const registry::Query& query) {
  using Kind = ImagePath::Kind;
  auto verb = p.get().method();
  ImagePath ip = parse_image_path(path);
  std::optional<images::ImageRef> ref;
  std::optional<Reply> refused;
  if (ctx_.images == nullptr) {
    refused = registry::error_reply(ErrorCode::kUnavailable, "image archives are off here");
  } else if (ip.kind == Kind::kExport || ip.kind == Kind::kInspect || ip.kind == Kind::kImage) {
    auto parsed = images::parse_image_ref(ip.ref);
    if (parsed) {
      ref = std::move(*parsed);
    } else {
      refused = registry::error_reply(parsed.error());
    }
  }
  auth::Principal who;
  if (!refused && ctx_.auth != nullptr) {
    std::optional<auth::Requirement> need = image_requirement(ip, ref ? ref->repository : "");
    std::optional<auth::Principal> allowed = co_await authorize_for(p, ex, need);
    if (!allowed) co_return ex.keep_alive;
    who = std::move(*allowed);
  }
  if (!refused && !method_fits(ip.kind, verb)) {
    refused = registry::error_reply(ErrorCode::kMethodNotAllowed, "method not allowed here");
  }
  if (!refused && ip.kind == Kind::kImport) {
    co_return co_await handle_image_import(p, ex, query, who);
  }
  if (!co_await drain_body(p, kIgnoredBodyLimit)) ex.keep_alive = false;
  if (refused) co_return co_await write_reply(std::move(*refused), ex);
  auto& store = *ctx_.images;
  if (ip.kind == Kind::kExport) {
    auto request = export_request(std::move(*ref), query);
    if (request.index() == 1) co_return co_await write_reply(std::get<1>(std::move(request)), ex);
    auto& req = std::get<0>(request);
    auto plan = co_await run_blocking(
        ctx_.workers, [&] { return images::plan_export(store.meta(), store.blobs(), req); });
    if (!plan) co_return co_await write_reply(registry::error_reply(plan.error()), ex);
    co_return co_await stream_export(ex, *plan);
  }
  images::Visible visible;
  if (ctx_.auth != nullptr) {
    visible = [auth = ctx_.auth, &who](std::string_view repo) {
      return auth->allowed(who, repo).has(auth::Action::kPull);
    };
  }
  std::string platform_text = query.get("platform").value_or("");
  std::string repository = query.get("repository").value_or("");
  Reply reply = co_await run_blocking(ctx_.workers, [&]() -> Reply {
    if (ip.kind == Kind::kList) {
      return to_reply(images::list_images(store.meta(), store.blobs(), repository, visible));
    }
    if (ip.kind == Kind::kImage)
      return to_reply(images::remove_image(store.meta(), store.blobs(), *ref));
    auto platform = images::parse_platform(platform_text);
    if (!platform_text.empty() && !platform) {
      return registry::error_reply(ErrorCode::kImageInvalid, "platform must be os/arch[/variant]");
    }
    return to_reply(images::inspect_image(store.meta(), store.blobs(), *ref, platform));
  });
  co_return co_await write_reply(std::move(reply), ex);
}

asio::awaitable<bool> Session::handle_image_import(RequestParser& p, Exchange& ex,
                                                   const registry::Query& query,
                                                   const auth::Principal& who) {
  auto& store = *ctx_.images;
  std::filesystem::path upload = store.upload_path();
  std::uint64_t limit = store.options().max_import_bytes;
  ContextReceipt receipt = co_await receive_context(p, ex, upload, limit);
  using Outcome = ContextReceipt::Outcome;
  if (receipt.outcome == Outcome::kGone) co_return false;
  if (receipt.outcome != Outcome::kStored) {
    ex.keep_alive = false;
    Reply failed =
        receipt.outcome == Outcome::kTooLarge
            ? registry::error_reply(ErrorCode::kContextTooLarge,
                                    "image archive larger than " + std::to_string(limit) +
                                        " bytes (registry.max_import_bytes)")
            : registry::error_reply(ErrorCode::kInternal, receipt.message);
    co_return co_await write_reply(std::move(failed), ex);
  }
  images::ImportOptions options;
  options.repository = query.get("repository").value_or("");
  options.max_unpacked_bytes = limit;
  options.now = storage::unix_now();
  if (ctx_.auth != nullptr) {
    options.may_push = [auth = ctx_.auth, &who](std::string_view repo) {
      return auth->allowed(who, repo).has(auth::Action::kPush);
    };
  }
  Reply reply = co_await run_blocking(ctx_.workers, [&]() -> Reply {
    std::expected<images::ImportResult, registry::Error> result;
    try {
      result = images::import_archive(store.blobs(), store.meta(), upload, store.options().staging,
                                      options);
    } catch (const std::exception& e) {
      result = std::unexpected(registry::Error{ErrorCode::kInternal, e.what(), {}});
    }
    std::error_code ec;
    std::filesystem::remove(upload, ec);
    if (!result) return registry::error_reply(result.error());
    return json_reply(images::import_result_json(*result));
  });
  co_return co_await write_reply(std::move(reply), ex);
}

// The planned archive as the body: headers and small files from memory,
// blobs straight from their files (sendfile on plain HTTP). The length is
// known, so it goes with a Content-Length; memory stays flat.
asio::awaitable<bool> Session::stream_export(Exchange& ex, images::ExportPlan& plan) {
  http::response<http::empty_body> res{http::status::ok, ex.version};
  res.set(http::field::content_type, "application/x-tar");
  res.set(http::field::content_disposition, "attachment; filename=\"" + plan.file_name + "\"");
  res.set("Drydock-Image-Digest", plan.manifest.str());
  res.keep_alive(ex.keep_alive);
  res.content_length(plan.total_bytes);
  auto timeout = std::chrono::seconds(ctx_.config.body_timeout_seconds);
  stream_.tcp().expires_after(timeout);
  auto [hec, hn] =
      co_await stream_.visit([&](auto& s) { return http::async_write(s, res, kTuple); });
  if (hec) co_return false;
  if (ex.head) {
    log(ex, 200, 0);
    co_return true;
  }
  static const std::string kZeros(images::kTarEndBytes, '\0');
  std::string pending;  // small bytes gathered between two blobs
  auto& blobs = ctx_.images->blobs();
  for (auto& e : plan.entries) {
    pending += e.header;
    if (e.blob) {
      bool sent = co_await write_pending(stream_, pending, timeout);
      if (!sent) co_return false;
      auto fd = blobs.open(*e.blob);
      if (!fd) co_return false;  // gone since planned (GC): the body is cut short
      registry::BlobBody body{std::move(*fd), 0, e.size};
      if (!co_await send_blob(body)) co_return false;
    } else {
      pending += e.data;
    }
    pending.append(kZeros.data(), images::tar_padding(e.size));
  }
  pending += kZeros;
  bool ok = co_await write_pending(stream_, pending, timeout);
  log(ex, 200, plan.total_bytes);
  co_return ok;
}

}  // namespace drydock::server
