// COPY and ADD: sources from the context, another stage or an image, written
// straight into a layer (no container); and WORKDIR's directory.
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <memory>
#include <system_error>

#include "builder/archive_extract.hpp"
#include "builder/executor_steps.hpp"
#include "builder/layer_unpack.hpp"

namespace drydock::builder::exec_detail {
namespace fs = std::filesystem;

namespace {

struct ScratchDirs {
  std::vector<fs::path> dirs;
  ~ScratchDirs() {
    for (const auto& d : dirs) (void)remove_tree(d);
  }
};

StepRes<std::string> expand(const StageCtx& st, const BuildCtx& b, std::string_view word) {
  auto r = expand_word(word, st.vars(), WordOptions{.escape = b.df.escape});
  if (!r) return step_error(BuildErrc::kDockerfile, r.error().message);
  return *r;
}

// An absolute destination against the stage's WORKDIR, as a layer path.
StepRes<std::string> layer_dest(const StageCtx& st, const std::string& dest) {
  std::string abs = dest;
  if (abs.empty() || abs.front() != '/') {
    std::string wd =
        st.state.image.config.working_dir.empty() ? "/" : st.state.image.config.working_dir;
    abs = wd + "/" + abs;
  }
  auto clean = clean_layer_path(abs);
  if (!clean) return step_error(BuildErrc::kDockerfile, clean.error().message);
  return *clean;
}

StepRes<std::optional<Owner>> parse_chown(const std::string& spec, const fs::path& rootfs) {
  if (spec.empty()) return std::optional<Owner>{};
  // A bare number is uid and gid at once (BuildKit), whatever /etc/passwd says.
  std::uint32_t id = 0;
  auto [end, ec] = std::from_chars(spec.data(), spec.data() + spec.size(), id);
  if (ec == std::errc() && end == spec.data() + spec.size()) {
    return std::optional<Owner>(Owner{id, id});
  }
  auto u = resolve_user(spec, rootfs);
  if (!u)
    return step_error(BuildErrc::kDockerfile,
                      "unable to resolve --chown=" + spec + ": " + u.error().message);
  return std::optional<Owner>(Owner{u->uid, u->gid});
}

StepRes<std::optional<mode_t>> parse_chmod(const std::string& spec) {
  if (spec.empty()) return std::optional<mode_t>{};
  if (spec.size() > 4 || spec.find_first_not_of("01234567") != std::string::npos) {
    return step_error(BuildErrc::kDockerfile,
                      "invalid --chmod=" + spec + ": only octal modes are supported");
  }
  unsigned mode = 0;
  std::from_chars(spec.data(), spec.data() + spec.size(), mode, 8);
  return std::optional<mode_t>(static_cast<mode_t>(mode));
}

bool is_url(std::string_view s) {
  return s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@");
}

StepRes<std::string> resolve_in_root(const fs::path& root, const std::string& path,
                                     bool follow_last);

// Paths under `root` matching source `src` (a glob); `..` may not climb out.
// Symlinks among the matches are resolved later, inside `root` (add_match).
StepRes<std::vector<fs::path>> match_source(const fs::path& root, const std::string& src) {
  fs::path rel = fs::path(src).relative_path().lexically_normal();
  if (!rel.empty() && *rel.begin() == "..") {
    return step_error(BuildErrc::kContext, "forbidden path outside the build context: " + src);
  }
  std::string pattern = (root / rel).string();
  while (pattern.size() > 1 && pattern.back() == '/') pattern.pop_back();
  glob_t g{};
  int rc = ::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g);
  std::vector<fs::path> out;
  if (rc == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  std::sort(out.begin(), out.end());
  if (out.empty()) return step_error(BuildErrc::kContext, "\"" + src + "\": not found");
  return out;
}

bool looks_like_archive(const fs::path& p) {
  std::array<unsigned char, 512> buf{};
  FILE* f = std::fopen(p.c_str(), "rb");
  if (!f) return false;
  std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
  std::fclose(f);
  auto starts = [&](std::initializer_list<unsigned char> m) {
    return n >= m.size() && std::equal(m.begin(), m.end(), buf.begin());
  };
  return starts({0x1f, 0x8b}) || starts({'B', 'Z', 'h'}) ||
         starts({0xfd, '7', 'z', 'X', 'Z', 0x00}) || starts({0x28, 0xb5, 0x2f, 0xfd}) ||
         (n >= 262 && std::memcmp(buf.data() + 257, "ustar", 5) == 0);
}

// Resolves layer path `path` inside `root` as the container would see it:
// symlinks in parents (and in the last component when `follow_last`) are
// followed, absolute targets from `root`, never above it. Returns a layer path.
StepRes<std::string> resolve_in_root(const fs::path& root, const std::string& path,
                                     bool follow_last) {
  std::vector<std::string> todo;
  for (const auto& part : fs::path(path)) todo.push_back(part.string());
  std::reverse(todo.begin(), todo.end());
  std::vector<std::string> done;
  int hops = 0;
  while (!todo.empty()) {
    std::string part = todo.back();
    todo.pop_back();
    if (part.empty() || part == "." || part == "/") continue;
    if (part == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    fs::path here = root;
    for (const auto& d : done) here /= d;
    here /= part;
    struct stat st {};
    bool last = todo.empty();
    if ((!last || follow_last) && ::lstat(here.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      if (++hops > 40) return step_error(BuildErrc::kDockerfile, "too many symlinks in " + path);
      std::error_code ec;
      fs::path link = fs::read_symlink(here, ec);
      if (ec) return step_error(BuildErrc::kInternal, "readlink " + here.string());
      if (link.is_absolute()) done.clear();
      std::vector<std::string> parts;
      for (const auto& p : link) parts.push_back(p.string());
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.push_back(*it);
      continue;
    }
    done.push_back(part);
  }
  std::string out;
  for (const auto& d : done) out += (out.empty() ? "" : "/") + d;
  return out;
}

struct CopySources {
  fs::path root;  // context dir or a mounted view
  std::unique_ptr<MountedView> view;
};

StepRes<CopySources> copy_root(BuildCtx& b, const std::string& from) {
  if (from.empty()) return CopySources{b.req.context_dir, nullptr};
  const ImageState* src = nullptr;
  std::optional<ImageState> image;
  if (auto idx = b.df.find_stage(from)) {
    if (!b.built[*idx])
      return step_error(BuildErrc::kDockerfile,
                        "stage \"" + from + "\" is not built before this one");
    src = &*b.built[*idx];
  } else {
    auto loaded = load_image(b.env, from);
    if (!loaded) return step_error(BuildErrc::kBaseImage, loaded.error());
    image = std::move(*loaded);
    src = &*image;
  }
  if (auto e = ensure_chain(b, *src); !e) return std::unexpected(e.error());
  auto view = MountedView::mount(b.env, src->chain);
  if (!view) return step_error(BuildErrc::kInternal, view.error());
  fs::path root = (*view)->path();
  return CopySources{root, std::move(*view)};
}

struct CopyPlanCtx {
  BuildCtx& b;
  StageCtx& st;
  const CopySpec& spec;
  bool is_add;
  const fs::path& stage_root;
  CopyAttrs attrs;
  LayerPlan plan;
  ScratchDirs scratch;
  fs::path src_root;  // context dir or the --from view
};

StepRes<void> add_match(CopyPlanCtx& c, const fs::path& src, const std::string& dest,
                        bool dest_dir) {
  // A source that is a symlink is followed (BuildKit copies with FollowSymlinks),
  // inside the source root: a link cannot lead out of the context or stage.
  auto rel = resolve_in_root(c.src_root, src.lexically_relative(c.src_root).string(), true);
  if (!rel) return std::unexpected(rel.error());
  fs::path real = c.src_root / *rel;
  struct stat st {};
  if (::lstat(real.c_str(), &st) != 0) {
    return step_error(BuildErrc::kContext, src.filename().string() + ": not found");
  }
  LayerResult<void> r;
  if (S_ISDIR(st.st_mode)) {
    r = c.plan.add_contents(real, dest, c.attrs);
  } else if (c.is_add && S_ISREG(st.st_mode) && looks_like_archive(real)) {
    fs::path tmp = c.b.env.work_dir / unique_name("add");
    c.scratch.dirs.push_back(tmp);
    auto u = unpack_layer(real, tmp);
    if (!u)
      return step_error(BuildErrc::kContext,
                        "extract " + src.filename().string() + ": " + u.error().message);
    r = c.plan.add_contents(tmp, dest, c.attrs);
  } else {
    std::string to = dest_dir ? (dest.empty() ? "" : dest + "/") + src.filename().string() : dest;
    r = c.plan.add_path(real, to, c.attrs);
  }
  if (!r) return step_error(BuildErrc::kInternal, r.error().message);
  return {};
}

StepRes<void> plan_sources(CopyPlanCtx& c, const fs::path& root, const std::string& dest_raw,
                           const std::string& dest_in) {
  c.src_root = root;
  std::vector<fs::path> matches;
  for (const auto& s : c.spec.sources) {
    auto src = expand(c.st, c.b, s);
    if (!src) return std::unexpected(src.error());
    if (is_url(*src))
      return step_error(BuildErrc::kContext, "network sources are not supported: " + *src);
    auto m = match_source(root, *src);
    if (!m) return std::unexpected(m.error());
    matches.insert(matches.end(), m->begin(), m->end());
  }
  if (c.spec.sources.size() + c.spec.inline_sources.size() > 1 && !dest_raw.ends_with('/')) {
    return step_error(BuildErrc::kDockerfile,
                      "When using COPY with more than one source file, the destination must be "
                      "a directory and end with a /");
  }
  bool dest_dir = dest_raw.ends_with('/') || matches.size() > 1;
  // Symlinks on the way are followed inside the stage rootfs (/bin -> usr/bin).
  auto resolved = resolve_in_root(c.stage_root, dest_in, false);
  if (!resolved) return std::unexpected(resolved.error());
  std::string dest = *resolved;
  auto target = resolve_in_root(c.stage_root, dest, true);
  struct stat st {};
  if (target && ::lstat((c.stage_root / *target).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    dest_dir = true;
    dest = *target;
  }
  if (dest.empty()) dest_dir = true;
  for (const auto& m : matches) {
    if (auto r = add_match(c, m, dest, dest_dir); !r) return r;
  }
  for (const auto& in : c.spec.inline_sources) {
    std::string data = in.data;
    if (in.expand) {
      auto e = expand_heredoc(in.data, c.st.vars());
      if (!e) return step_error(BuildErrc::kDockerfile, e.error().message);
      data = *e;
    }
    std::string to = dest_dir ? (dest.empty() ? "" : dest + "/") + in.name : dest;
    MadeAttrs made{.mode = c.attrs.mode.value_or(0644), .owner = c.attrs.owner.value_or(Owner{})};
    if (auto r = c.plan.add_file(to, std::move(data), made); !r)
      return step_error(BuildErrc::kInternal, r.error().message);
  }
  return {};
}

}  // namespace

StepRes<void> copy_step(BuildCtx& b, StageCtx& st, const Instruction& ins, const CopySpec& spec,
                        const std::string& from, bool is_add) {
  if (!spec.excludes.empty())
    return step_error(BuildErrc::kDockerfile, "--exclude is not supported");
  if (auto e = ensure_chain(b, st.state); !e) return std::unexpected(e.error());
  auto stage_view = MountedView::mount(b.env, st.state.chain);
  if (!stage_view) return step_error(BuildErrc::kInternal, stage_view.error());
  const fs::path& stage_root = (*stage_view)->path();
  auto from_name = expand(st, b, from);
  if (!from_name) return std::unexpected(from_name.error());
  auto sources = copy_root(b, *from_name);
  if (!sources) return std::unexpected(sources.error());
  auto dest_raw = expand(st, b, spec.dest);
  if (!dest_raw) return std::unexpected(dest_raw.error());
  auto dest = layer_dest(st, *dest_raw);
  if (!dest) return std::unexpected(dest.error());
  CopyPlanCtx c{b, st, spec, is_add, stage_root, {}, {}, {}, {}};
  auto chown = expand(st, b, spec.chown);
  if (!chown) return std::unexpected(chown.error());
  auto owner = parse_chown(*chown, stage_root);
  if (!owner) return std::unexpected(owner.error());
  auto chmod = expand(st, b, spec.chmod);
  if (!chmod) return std::unexpected(chmod.error());
  auto mode = parse_chmod(*chmod);
  if (!mode) return std::unexpected(mode.error());
  c.attrs = CopyAttrs{*owner, *mode};
  if (auto r = plan_sources(c, sources->root, *dest_raw, *dest); !r) return r;
  std::string created_by = ins.original + " # buildkit";
  // The cache key: the filesystem below, and what the layer would hold
  // (paths, types, modes, owners, link targets, contents; not mtimes).
  CacheKey k = fs_key(is_add ? "ADD" : "COPY", st);
  if (auto h = hash_plan(k, c.plan); !h) return step_error(BuildErrc::kInternal, h.error());
  const std::string key = k.str();
  if (auto hit = cache_lookup(b, st, key)) {
    apply_cached(b, st, std::move(created_by), *hit);
    return {};
  }
  LayerOptions options;
  options.parent_lookup = lookup_in_rootfs(stage_root);
  auto layer = store_layer(b.env, c.plan, options);
  if (!layer) return step_error(BuildErrc::kInternal, layer.error());
  // The layer is unpacked into a snapshot only when a later step needs the
  // filesystem (ensure_chain): a final COPY never pays for it.
  add_history(st, b, std::move(created_by), *layer);
  cache_store(b, key, *layer, st);
  return {};
}

StepRes<std::string> expand_step_word(const StageCtx& st, const BuildCtx& b,
                                      std::string_view word) {
  return expand(st, b, word);
}

StepRes<SourceRoot> source_root(BuildCtx& b, const std::string& from) {
  auto r = copy_root(b, from);
  if (!r) return std::unexpected(r.error());
  return SourceRoot{std::move(r->root), std::move(r->view)};
}

StepRes<std::string> resolve_inside(const fs::path& root, const std::string& path,
                                    bool follow_last) {
  return resolve_in_root(root, path, follow_last);
}

StepRes<void> workdir_step(BuildCtx& b, StageCtx& st, const std::string& path) {
  auto dest = layer_dest(st, path);
  if (!dest) return std::unexpected(dest.error());
  st.state.image.config.working_dir = "/" + *dest;
  if (auto e = ensure_chain(b, st.state); !e) return std::unexpected(e.error());
  auto view = MountedView::mount(b.env, st.state.chain);
  if (!view) return step_error(BuildErrc::kInternal, view.error());
  std::optional<WrittenLayer> written;
  auto real = resolve_in_root((*view)->path(), *dest, true);
  if (!real) return std::unexpected(real.error());
  struct stat sb {};
  if (!real->empty() && ::lstat(((*view)->path() / *real).c_str(), &sb) != 0) {
    Owner owner;
    if (!st.state.image.config.user.empty()) {
      if (auto u = resolve_user(st.state.image.config.user, (*view)->path()))
        owner = Owner{u->uid, u->gid};
    }
    LayerPlan plan;
    if (auto r = plan.add_directory(*real, MadeAttrs{.mode = 0755, .owner = owner}); !r) {
      return step_error(BuildErrc::kInternal, r.error().message);
    }
    // Cached like COPY: the directory's mtime would otherwise make a new
    // layer, and new keys for every later step, on each build.
    CacheKey k = fs_key("WORKDIR", st);
    if (auto h = hash_plan(k, plan); !h) return step_error(BuildErrc::kInternal, h.error());
    const std::string key = k.str();
    if (auto hit = cache_lookup(b, st, key)) {
      apply_cached(b, st, "WORKDIR " + st.state.image.config.working_dir, *hit);
      return {};
    }
    LayerOptions options;
    options.parent_lookup = lookup_in_rootfs((*view)->path());
    auto layer = store_layer(b.env, plan, options);
    if (!layer) return step_error(BuildErrc::kInternal, layer.error());
    written = *layer;
    add_history(st, b, "WORKDIR " + st.state.image.config.working_dir, written);
    cache_store(b, key, written, st);
    return {};
  }
  add_history(st, b, "WORKDIR " + st.state.image.config.working_dir, written);
  return {};
}

}  // namespace drydock::builder::exec_detail
