// The step cache inside a build: keys, lookups, hits and stores.
//
// A key is a hash over the step's kind, the stage's filesystem below it (the
// diff_ids of its layers, in order: content addressed, so equal ids mean
// equal trees), and the step's own inputs:
//   RUN      the command (and heredoc script), environment with build args,
//            working dir, user, network mode, and the build args BuildKit
//            records in history;
//   COPY/ADD what the layer would hold: every path with its type, mode,
//            owner, link target and content hash (not mtimes), after globs,
//            --chown, --chmod, tar extraction and .dockerignore;
//   WORKDIR  the directory it would create.
// Metadata instructions (ENV, LABEL, CMD...) are not steps of their own: they
// matter to a RUN only through its environment, working dir and user, as in
// BuildKit, so changing a LABEL does not rebuild the RUNs after it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "builder/executor_steps.hpp"
#include "storage/clock.hpp"

namespace drydock::builder::exec_detail {

namespace {

bool stage_filtered(const BuildCtx& b, const StageCtx& st) {
  const std::string& name = b.df.stages[st.index].name;
  for (const auto& f : b.req.no_cache_filter) {
    if ((!name.empty() && f == name) || f == std::to_string(st.index)) return true;
  }
  return false;
}

std::expected<void, std::string> hash_file(CacheKey& k, const std::filesystem::path& p,
                                           std::uint64_t size) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return std::unexpected("open " + p.string() + ": " + std::strerror(errno));
  k.add(size);
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return std::unexpected("read " + p.string() + ": " + std::strerror(err));
    }
    if (n == 0) break;
    k.feed(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return {};
}

void add_owner(CacheKey& k, const Owner& o) { k.add(std::uint64_t{o.uid}).add(std::uint64_t{o.gid}); }

}  // namespace

CacheKey fs_key(std::string_view kind, const StageCtx& st) {
  CacheKey k(kind);
  k.add(static_cast<std::uint64_t>(st.state.image.diff_ids.size()));
  for (const auto& d : st.state.image.diff_ids) k.add(d);
  return k;
}

std::expected<void, std::string> hash_plan(CacheKey& k, const LayerPlan& plan) {
  k.add(static_cast<std::uint64_t>(plan.size()));
  for (const auto& [path, e] : plan.entries()) {
    k.add(path).add(static_cast<std::uint64_t>(e.origin)).add(std::uint64_t{e.type});
    switch (e.origin) {
      case EntryOrigin::kSource: {
        struct stat sb {};
        if (::lstat(e.source.c_str(), &sb) != 0) {
          return std::unexpected("stat " + e.source.string() + ": " + std::strerror(errno));
        }
        k.add(std::uint64_t{sb.st_mode & S_IFMT});
        bool link = S_ISLNK(sb.st_mode);
        k.add(std::uint64_t{link ? 0777u : e.attrs.mode.value_or(sb.st_mode & 07777)});
        add_owner(k, e.attrs.owner.value_or(Owner{sb.st_uid, sb.st_gid}));
        if (link) {
          std::error_code ec;
          auto target = std::filesystem::read_symlink(e.source, ec);
          if (ec) return std::unexpected("readlink " + e.source.string() + ": " + ec.message());
          k.add(target.string());
        } else if (S_ISREG(sb.st_mode)) {
          if (auto h = hash_file(k, e.source, static_cast<std::uint64_t>(sb.st_size)); !h) return h;
        }
        break;
      }
      case EntryOrigin::kMadeFile:
        k.add(e.content);
        [[fallthrough]];
      case EntryOrigin::kMadeDir:
        k.add(std::uint64_t{e.made.mode});
        add_owner(k, e.made.owner);
        k.add(static_cast<std::uint64_t>(e.made.mtime.value_or(0)));
        break;
      case EntryOrigin::kImplicitDir:
        add_owner(k, e.attrs.owner.value_or(Owner{}));
        break;
      case EntryOrigin::kWhiteout:
      case EntryOrigin::kOpaqueMarker:
        break;
    }
  }
  return {};
}

std::optional<CacheEntry> cache_lookup(BuildCtx& b, const StageCtx& st, const std::string& key) {
  if (b.env.cache == nullptr || b.req.no_cache || stage_filtered(b, st)) return std::nullopt;
  auto hit = b.env.cache->lookup(key, storage::unix_now());
  if (!hit || !*hit) return std::nullopt;
  // A layer blob that went away (deleted, collected) makes the entry useless.
  if ((*hit)->layer && !b.env.blobs.stat((*hit)->layer->digest)) {
    (void)b.env.cache->forget(key);
    return std::nullopt;
  }
  return std::move(**hit);
}

void apply_cached(BuildCtx& b, StageCtx& st, std::string created_by, const CacheEntry& hit) {
  b.log("#" + std::to_string(st.step) + " CACHED\n");
  std::optional<WrittenLayer> layer;
  if (hit.layer) layer = WrittenLayer{*hit.layer, hit.diff_id};
  add_history(st, b, std::move(created_by), layer, hit.created);
}

void cache_store(BuildCtx& b, const std::string& key, const std::optional<WrittenLayer>& layer,
                 const StageCtx& st) {
  if (b.env.cache == nullptr) return;
  CacheEntry e;
  if (layer) {
    e.layer = layer->blob;
    e.diff_id = layer->diff_id;
  }
  if (!st.state.image.history.empty()) e.created = st.state.image.history.back().created;
  // A cache that cannot be written only costs the next build time.
  (void)b.env.cache->put(key, e, storage::unix_now());
}

StepRes<void> ensure_chain(BuildCtx& b, const ImageState& img) {
  for (std::size_t i = 0; i < img.layers.size() && i < img.image.diff_ids.size(); ++i) {
    const std::string& id = img.image.diff_ids[i];
    if (b.env.snapshots.exists(id)) continue;
    if (auto r = ensure_snapshot(b.env, img.layers[i], id); !r) {
      return step_error(BuildErrc::kInternal, r.error());
    }
  }
  return {};
}

}  // namespace drydock::builder::exec_detail
