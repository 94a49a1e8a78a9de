#include "builder/context_sync.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "builder/archive_extract.hpp"
#include "builder/dockerignore.hpp"
#include "builder/mount.hpp"
#include "storage/unique_fd.hpp"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using storage::UniqueFd;

constexpr std::size_t kMaxPath = 4096;
constexpr std::size_t kMaxKey = 128;
constexpr const char* kManifest = "manifest.json";
constexpr const char* kInUse = "in-use";

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

bool valid_key(std::string_view key) {
  return !key.empty() && key.size() <= kMaxKey &&
         std::all_of(key.begin(), key.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
         });
}

bool valid_path(std::string_view p) {
  return !p.empty() && p.size() <= kMaxPath && p.find('\0') == std::string_view::npos &&
         p.front() != '/' && p != "." && p != ".." && !p.starts_with("../") &&
         clean_path(p) == p;
}

std::string_view parent_of(std::string_view p) {
  auto slash = p.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : p.substr(0, slash);
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<std::string> read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// One entry of a manifest document, checked on its own.
std::expected<SyncEntry, std::string> entry_from(const json& j) {
  if (!j.is_object()) return std::unexpected("not an object");
  auto str = [&](const char* k) -> const json* {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? &*it : nullptr;
  };
  auto uint = [&](const char* k, std::uint64_t max) -> std::optional<std::uint64_t> {
    auto it = j.find(k);
    if (it == j.end()) return 0;
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > max) return std::nullopt;
    return it->get<std::uint64_t>();
  };
  SyncEntry e;
  const json* p = str("p");
  const json* t = str("t");
  if (p == nullptr) return std::unexpected("no path");
  e.path = p->get<std::string>();
  if (!valid_path(e.path)) return std::unexpected("the path is not clean and relative");
  std::string type = t == nullptr ? "" : t->get<std::string>();
  if (type.size() != 1 || std::string_view("fdlhp").find(type[0]) == std::string_view::npos) {
    return std::unexpected("type must be one of f, d, l, h, p");
  }
  e.type = type[0];
  auto mode = uint("m", 07777);
  auto uid = uint("u", UINT32_MAX);
  auto gid = uint("g", UINT32_MAX);
  auto size = uint("s", UINT64_MAX);
  if (!mode || !uid || !gid || !size) return std::unexpected("a number is out of range");
  e.mode = static_cast<std::uint32_t>(*mode);
  e.uid = static_cast<std::uint32_t>(*uid);
  e.gid = static_cast<std::uint32_t>(*gid);
  e.size = *size;
  if (e.size != 0 && e.type != 'f') return std::unexpected("only files have a size");
  if (auto n = j.find("n"); n != j.end()) {
    if (!n->is_number_integer()) return std::unexpected("the mtime is not an integer");
    e.mtime_ns = n->get<std::int64_t>();
  }
  if (const json* l = str("l")) e.link = l->get<std::string>();
  bool linked = e.type == 'l' || e.type == 'h';
  if (linked != !e.link.empty() || e.link.size() > kMaxPath ||
      e.link.find('\0') != std::string::npos) {
    return std::unexpected("symlinks and hard links, and only they, have a target");
  }
  return e;
}

}  // namespace

SyncEntry sync_entry(const PackedEntry& e) {
  SyncEntry s{.path = e.name,
              .mode = e.perm & 07777,
              .uid = e.uid,
              .gid = e.gid,
              .mtime_ns = e.mtime_ns,
              .size = 0};
  if (!e.hardlink.empty()) {
    s.type = 'h';
    s.link = e.hardlink;
  } else if (e.type == S_IFDIR) {
    s.type = 'd';
  } else if (e.type == S_IFLNK) {
    s.type = 'l';
    s.link = e.symlink;
  } else if (e.type == S_IFIFO) {
    s.type = 'p';
  } else {
    s.type = 'f';
    s.size = e.size;
  }
  return s;
}

std::string manifest_json(const std::vector<SyncEntry>& entries) {
  json list = json::array();
  for (const auto& e : entries) {
    json j = {{"p", e.path}, {"t", std::string(1, e.type)}, {"m", e.mode},
              {"u", e.uid},  {"g", e.gid},                  {"n", e.mtime_ns}};
    if (e.type == 'f') j["s"] = e.size;
    if (!e.link.empty()) j["l"] = e.link;
    list.push_back(std::move(j));
  }
  return json{{"entries", std::move(list)}}.dump(-1, ' ', false,
                                                 json::error_handler_t::replace);
}

std::expected<std::vector<SyncEntry>, std::string> parse_manifest(std::string_view text,
                                                                  std::uint64_t max_entries) {
  json doc = json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("entries") || !doc["entries"].is_array()) {
    return std::unexpected(std::string("the manifest must be {\"entries\":[...]}"));
  }
  const json& list = doc["entries"];
  if (list.size() > max_entries) {
    return std::unexpected("the manifest has more than " + std::to_string(max_entries) +
                           " entries");
  }
  std::vector<SyncEntry> out;
  out.reserve(list.size());
  std::unordered_map<std::string, char> seen;
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto e = entry_from(list[i]);
    auto wrong = [&](const std::string& why) {
      std::string name = e ? " (\"" + e->path + "\")" : "";
      return std::unexpected("manifest entry " + std::to_string(i) + name + ": " + why);
    };
    if (!e) return wrong(e.error());
    std::string_view parent = parent_of(e->path);
    if (!parent.empty()) {
      auto it = seen.find(std::string(parent));
      if (it == seen.end() || it->second != 'd') return wrong("its directory is not listed before it");
    }
    if (e->type == 'h') {
      auto it = seen.find(e->link);
      if (it == seen.end() || it->second != 'f') return wrong("a hard link must name an earlier file");
    }
    if (!seen.emplace(e->path, e->type).second) return wrong("listed twice");
    out.push_back(std::move(*e));
  }
  return out;
}

struct ContextSync::Impl {
  struct Session {
    std::string owner;
    std::string name;  // the tree's directory name
    std::vector<SyncEntry> entries;
    std::unordered_set<std::string> need;
    std::chrono::steady_clock::time_point begun;
    bool completing = false;
  };
  struct Tree {
    std::uint64_t bytes = 0;
    std::int64_t used = 0;  // ns since the epoch
    bool busy = false;
  };

  explicit Impl(ContextSyncOptions o) : options(std::move(o)) {}

  fs::path dir(const std::string& name) const { return options.root / name; }

  // Moves a tree's directory to trash/ (under the lock: cheap) and returns
  // where it went, for delete_trash() outside the lock.
  fs::path set_aside(const std::string& name) {
    fs::path from = dir(name);
    fs::path to = options.root / "trash" / (name + "." + random_hex(4));
    if (::rename(from.c_str(), to.c_str()) == 0) return to;
    (void)remove_tree(from);
    return {};
  }

  // Drops sessions not completed in time; under the lock.
  void expire() {
    auto deadline = std::chrono::steady_clock::now() - options.session_timeout;
    for (auto it = sessions.begin(); it != sessions.end();) {
      auto& s = *it->second;
      if (!s.completing && s.begun < deadline) {
        trees[s.name].busy = false;  // without a manifest: wiped at the next begin
        it = sessions.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Sets aside trees so that the rest fit max_bytes; under the lock.
  void evict() {
    std::uint64_t total = 0;
    for (const auto& [name, t] : trees) total += t.bytes;
    while (total > options.max_bytes ||
           (options.max_bytes == 0 && std::any_of(trees.begin(), trees.end(), [](const auto& kv) {
              return !kv.second.busy;
            }))) {
      auto victim = trees.end();
      for (auto it = trees.begin(); it != trees.end(); ++it) {
        if (!it->second.busy && (victim == trees.end() || it->second.used < victim->second.used)) {
          victim = it;
        }
      }
      if (victim == trees.end()) break;
      total -= victim->second.bytes;
      set_aside(victim->first);
      trees.erase(victim);
    }
  }

  std::expected<void, SyncError> prepare(Session& s, std::vector<SyncEntry>& entries,
                                         SyncPlan& plan);
  std::expected<void, SyncError> verify(const Session& s, const fs::path& tree,
                                        const ExtractedContext& ctx);

  ContextSyncOptions options;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<Session>, std::less<>> sessions;
  std::map<std::string, Tree, std::less<>> trees;
};

namespace {

void delete_all(const std::vector<fs::path>& paths) {
  for (const auto& p : paths) {
    if (!p.empty()) (void)remove_tree(p);
  }
}

SyncError io_failure(std::string what, int err) {
  return {SyncError::Kind::kIo, what + ": " + std::strerror(err)};
}

// Removes `path` (of type `type`) below the tree, resolving its parent inside
// the tree. A path that is not there is fine.
std::expected<void, SyncError> remove_entry(int tree_fd, const std::string& path, char type) {
  std::string parent(parent_of(path));
  std::string name = parent.empty() ? path : path.substr(parent.size() + 1);
  UniqueFd dir(archive_detail::open_in_root(tree_fd, parent.empty() ? "." : parent,
                                            O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) {
    if (errno == ENOENT || errno == ENOTDIR) return {};
    return std::unexpected(io_failure("open the directory of \"" + path + "\"", errno));
  }
  if (::unlinkat(dir.get(), name.c_str(), type == 'd' ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT) {
    return std::unexpected(io_failure("remove \"" + path + "\"", errno));
  }
  return {};
}

}  // namespace

// Compares the manifest with the tree's last one, deletes what is gone and
// fills the plan and the session's needs.
std::expected<void, SyncError> ContextSync::Impl::prepare(Session& s,
                                                          std::vector<SyncEntry>& entries,
                                                          SyncPlan& plan) {
  fs::path d = dir(s.name);
  fs::path tree = d / "tree";
  std::error_code ec;
  fs::create_directories(d, ec);
  std::vector<SyncEntry> old;
  if (auto text = read_text(d / kManifest)) {
    if (auto parsed = parse_manifest(*text, UINT64_MAX)) old = std::move(*parsed);
  }
  // From here on the tree no longer matches a manifest until complete().
  if (::unlink((d / kManifest).c_str()) != 0 && errno != ENOENT) {
    return std::unexpected(io_failure("remove " + (d / kManifest).string(), errno));
  }
  if (old.empty()) {
    if (auto r = remove_tree(tree); !r) return std::unexpected(SyncError{SyncError::Kind::kIo, r.error().message});
  }
  if (::mkdir(tree.c_str(), 0700) != 0 && errno != EEXIST) {
    return std::unexpected(io_failure("create " + tree.string(), errno));
  }
  std::unordered_map<std::string_view, const SyncEntry*> before;
  for (const auto& e : old) before.emplace(e.path, &e);
  std::unordered_map<std::string_view, std::size_t> index;
  std::vector<bool> needed(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    index.emplace(e.path, i);
    auto it = before.find(e.path);
    bool changed = it == before.end() || !(*it->second == e);
    // A hard link follows its file: a new file means a new link.
    if (!changed && e.type == 'h') changed = needed[index.at(e.link)];
    needed[i] = changed;
  }
  std::vector<const SyncEntry*> gone;
  for (const auto& e : old) {
    if (!index.contains(e.path)) gone.push_back(&e);
  }
  // Directories above anything written or removed change their times.
  auto touch_parents = [&](std::string_view p) {
    for (p = parent_of(p); !p.empty(); p = parent_of(p)) {
      if (auto it = index.find(p); it != index.end()) needed[it->second] = true;
    }
  };
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (needed[i]) touch_parents(entries[i].path);
  }
  for (const auto* e : gone) touch_parents(e->path);
  // Children before their directories.
  std::sort(gone.begin(), gone.end(),
            [](const SyncEntry* a, const SyncEntry* b) { return a->path > b->path; });
  UniqueFd tree_fd(::open(tree.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!tree_fd.valid()) return std::unexpected(io_failure("open " + tree.string(), errno));
  for (const auto* e : gone) {
    if (auto r = remove_entry(tree_fd.get(), e->path, e->type); !r) return r;
  }
  plan.deleted = gone.size();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (!needed[i]) continue;
    plan.need.push_back(i);
    plan.need_bytes += entries[i].size;
    s.need.insert(entries[i].path);
  }
  s.entries = std::move(entries);
  return {};
}

// Every needed entry that the ignore file did not remove is in the tree as
// the manifest says.
std::expected<void, SyncError> ContextSync::Impl::verify(const Session& s, const fs::path& tree,
                                                         const ExtractedContext& ctx) {
  std::unordered_set<std::string_view> ignored(ctx.ignored.begin(), ctx.ignored.end());
  auto is_ignored = [&](std::string_view p) {
    for (; !p.empty(); p = parent_of(p)) {
      if (ignored.contains(p)) return true;
    }
    return false;
  };
  UniqueFd tree_fd(::open(tree.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!tree_fd.valid()) return std::unexpected(io_failure("open " + tree.string(), errno));
  auto stat_of = [&](const std::string& p, struct stat& st) {
    std::string parent(parent_of(p));
    UniqueFd dirfd(archive_detail::open_in_root(tree_fd.get(), parent.empty() ? "." : parent,
                                                O_PATH | O_DIRECTORY | O_CLOEXEC));
    std::string name = parent.empty() ? p : p.substr(parent.size() + 1);
    return dirfd.valid() &&
           ::fstatat(dirfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  };
  for (const auto& e : s.entries) {
    if (!s.need.contains(e.path) || is_ignored(e.path)) continue;
    struct stat st {};
    bool ok = stat_of(e.path, st);
    switch (e.type) {
      case 'f':
        ok = ok && S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) == e.size;
        break;
      case 'd':
        ok = ok && S_ISDIR(st.st_mode);
        break;
      case 'p':
        ok = ok && S_ISFIFO(st.st_mode);
        break;
      case 'h': {
        struct stat target {};
        ok = ok && S_ISREG(st.st_mode) && stat_of(e.link, target) && target.st_ino == st.st_ino &&
             target.st_dev == st.st_dev;
        break;
      }
      case 'l': {
        ok = ok && S_ISLNK(st.st_mode);
        if (ok) {
          std::string parent(parent_of(e.path));
          UniqueFd dirfd(archive_detail::open_in_root(tree_fd.get(), parent.empty() ? "." : parent,
                                                      O_PATH | O_DIRECTORY | O_CLOEXEC));
          std::string name = parent.empty() ? e.path : e.path.substr(parent.size() + 1);
          std::string target(e.link.size() + 1, '\0');
          ssize_t n = dirfd.valid() ? ::readlinkat(dirfd.get(), name.c_str(), target.data(),
                                                   target.size())
                                    : -1;
          ok = n >= 0 && std::string_view(target.data(), static_cast<std::size_t>(n)) == e.link;
        }
        break;
      }
      default:
        ok = false;
    }
    if (!ok) {
      return std::unexpected(SyncError{
          SyncError::Kind::kInvalid,
          "build context: \"" + e.path + "\" was asked for but did not come as the manifest says"});
    }
  }
  return {};
}

std::unique_ptr<ContextSync> ContextSync::open(ContextSyncOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  const fs::path& root = impl->options.root;
  std::error_code ec;
  fs::create_directories(root / "trash", ec);
  if (ec) throw std::runtime_error("create " + (root / "trash").string() + ": " + ec.message());
  const bool unclean = fs::exists(root / kInUse, ec);
  {
    std::ofstream mark(root / kInUse);
    if (!mark) throw std::runtime_error("cannot write " + (root / kInUse).string());
  }
  std::vector<fs::path> gone;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    std::string name = e.path().filename().string();
    if (name == "trash" || name == kInUse) continue;
    std::optional<std::vector<SyncEntry>> entries;
    if (!unclean && e.is_directory()) {
      if (auto text = read_text(e.path() / kManifest)) {
        if (auto parsed = parse_manifest(*text, UINT64_MAX)) entries = std::move(*parsed);
      }
    }
    if (!entries) {
      gone.push_back(impl->set_aside(name));
      continue;
    }
    Impl::Tree t;
    for (const auto& s : *entries) t.bytes += s.size;
    auto mtime = fs::last_write_time(e.path() / kManifest, ec);
    if (!ec) {
      t.used = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::file_clock::to_sys(mtime).time_since_epoch())
                   .count();
    }
    impl->trees.emplace(name, t);
  }
  for (const auto& e : fs::directory_iterator(root / "trash", ec)) gone.push_back(e.path());
  delete_all(gone);
  return std::unique_ptr<ContextSync>(new ContextSync(std::move(impl)));
}

ContextSync::ContextSync(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ContextSync::~ContextSync() {
  // The manifests were written without a flush: flush once, then say the
  // trees can be trusted at the next open().
  UniqueFd root(::open(impl_->options.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.valid() && ::syncfs(root.get()) == 0) {
    ::unlink((impl_->options.root / kInUse).c_str());
  }
}

std::expected<SyncPlan, SyncError> ContextSync::begin(std::string_view owner, std::string_view key,
                                                      std::vector<SyncEntry> entries) {
  auto& i = *impl_;
  if (!valid_key(key)) {
    return std::unexpected(SyncError{SyncError::Kind::kInvalid,
                                     "the context key must be 1 to 128 of A-Z a-z 0-9 . _ -"});
  }
  auto session = std::make_shared<Impl::Session>();
  session->owner = owner;
  session->name = sha256_hex(std::string(owner) + '\0' + std::string(key));
  session->begun = std::chrono::steady_clock::now();
  SyncPlan plan;
  plan.session = random_hex(16);
  {
    std::lock_guard lock(i.mu);
    i.expire();
    if (i.sessions.size() >= i.options.max_sessions) {
      return std::unexpected(
          SyncError{SyncError::Kind::kBusy, "too many context updates in progress"});
    }
    auto& tree = i.trees[session->name];
    if (tree.busy) {
      return std::unexpected(SyncError{
          SyncError::Kind::kBusy, "the kept context \"" + std::string(key) + "\" is in use"});
    }
    tree.busy = true;
    tree.bytes = 0;
    i.sessions.emplace(plan.session, session);
  }
  if (auto r = i.prepare(*session, entries, plan); !r) {
    std::vector<fs::path> gone;
    {
      std::lock_guard lock(i.mu);
      gone.push_back(i.set_aside(session->name));
      i.trees.erase(session->name);
      i.sessions.erase(plan.session);
    }
    delete_all(gone);
    return std::unexpected(r.error());
  }
  return plan;
}

std::expected<SyncedContext, SyncError> ContextSync::complete(std::string_view id,
                                                              std::string_view owner,
                                                              const fs::path& archive,
                                                              const ContextOptions& options) {
  auto& i = *impl_;
  std::shared_ptr<Impl::Session> s;
  {
    std::lock_guard lock(i.mu);
    auto it = i.sessions.find(id);
    if (it == i.sessions.end() || it->second->owner != owner || it->second->completing) {
      return std::unexpected(SyncError{
          SyncError::Kind::kInvalid,
          "unknown context session \"" + std::string(id) + "\" (it may have expired)"});
    }
    s = it->second;
    s->completing = true;
  }
  fs::path d = i.dir(s->name);
  fs::path tree = d / "tree";
  auto fail = [&](SyncError e) -> std::expected<SyncedContext, SyncError> {
    std::vector<fs::path> gone;
    {
      std::lock_guard lock(i.mu);
      gone.push_back(i.set_aside(s->name));
      i.trees.erase(s->name);
      i.sessions.erase(std::string(id));
    }
    delete_all(gone);
    return std::unexpected(std::move(e));
  };
  UniqueFd fd(::open(archive.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return fail(io_failure("open " + archive.string(), errno));
  auto ctx = update_context(fd.get(), tree, options,
                            [&s](const std::string& p) { return s->need.contains(p); });
  if (!ctx) {
    auto kind = ctx.error().code == ArchiveErrc::kIo ? SyncError::Kind::kIo
                                                      : SyncError::Kind::kInvalid;
    return fail(SyncError{kind, "build context: " + ctx.error().message});
  }
  if (auto ok = i.verify(*s, tree, *ctx); !ok) return fail(ok.error());
  // What the tree holds now: the manifest less what the ignore file removed.
  std::unordered_set<std::string_view> ignored(ctx->ignored.begin(), ctx->ignored.end());
  std::vector<SyncEntry> kept;
  std::uint64_t bytes = 0;
  for (const auto& e : s->entries) {
    bool dropped = false;
    for (std::string_view p = e.path; !p.empty() && !dropped; p = parent_of(p)) {
      dropped = ignored.contains(p);
    }
    if (dropped) continue;
    bytes += e.size;
    kept.push_back(e);
  }
  fs::path tmp = d / (std::string(kManifest) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << manifest_json(kept);
    if (!out.flush()) return fail(SyncError{SyncError::Kind::kIo, "cannot write " + tmp.string()});
  }
  if (::rename(tmp.c_str(), (d / kManifest).c_str()) != 0) {
    return fail(io_failure("rename " + tmp.string(), errno));
  }
  {
    std::lock_guard lock(i.mu);
    auto& t = i.trees[s->name];
    t.bytes = bytes;
    t.used = now_ns();
  }
  return SyncedContext{tree, std::move(*ctx)};
}

void ContextSync::release(std::string_view id, std::string_view owner) {
  auto& i = *impl_;
  std::lock_guard lock(i.mu);
  auto it = i.sessions.find(id);
  if (it == i.sessions.end() || it->second->owner != owner) return;
  auto& t = i.trees[it->second->name];
  t.busy = false;
  t.used = now_ns();
  i.sessions.erase(it);
  i.evict();
}

void ContextSync::empty_trash() {
  std::error_code ec;
  std::vector<fs::path> gone;
  for (const auto& e : fs::directory_iterator(impl_->options.root / "trash", ec)) {
    gone.push_back(e.path());
  }
  delete_all(gone);
}

}  // namespace drydock::builder
