#include "storage/fsck.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "storage/posix_io.hpp"
#include "storage/sqlite_db.hpp"

namespace drydock::storage {
namespace {

namespace fs = std::filesystem;
using sqlite::Connection;
using sqlite::Query;

// The statements fsck runs, over the schema in metadata_schema.hpp. Reads run
// inside one read transaction so that they see one consistent snapshot even
// while a server writes.
enum FsckSql : std::size_t {
  kRepoCount,
  kAllLinks,
  kAllManifests,
  kAllRefs,
  kAllTags,
  kUnlinkEverywhere,
  kFsckSqlCount,
};
constexpr std::array<std::string_view, kFsckSqlCount> kFsckSqlText = {
    "SELECT count(*) FROM repositories",
    "SELECT r.name, b.digest, b.size FROM repo_blobs b JOIN repositories r ON r.id = b.repo_id",
    "SELECT r.name, m.digest, m.media_type, m.size FROM manifests m"
    " JOIN repositories r ON r.id = m.repo_id",
    "SELECT r.name, f.manifest, f.ref, f.kind FROM manifest_refs f"
    " JOIN repositories r ON r.id = f.repo_id",
    "SELECT r.name, t.name, t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id",
    "DELETE FROM repo_blobs WHERE digest = ?1",
};

constexpr std::size_t kHashBuffer = 1u << 20;

Query query(Connection& c, FsckSql id) { return Query(c, c.statement(id, kFsckSqlText[id])); }

// --- the database snapshot ---------------------------------------------------

struct ManifestRow {
  std::string media_type;
  std::uint64_t size = 0;
  std::vector<ManifestRef> refs;
  std::vector<std::string> tags;
};

struct Snapshot {
  std::size_t repositories = 0;
  // repository -> digest text -> recorded size
  std::map<std::string, std::map<std::string, std::uint64_t>> links;
  std::map<std::string, std::map<std::string, ManifestRow>> manifests;
  std::vector<std::array<std::string, 3>> tags;  // repository, tag, digest
};

void bad_row(FsckReport& report, std::string_view repo, std::string_view table,
             std::string_view text) {
  report.issues.push_back(FsckIssue{FsckFinding::kBadRow, std::string(repo), std::string(text),
                                    "malformed digest in table " + std::string(table)});
}

// Calls `each(q)` for every row of `id`.
template <class Fn>
Result<void> for_rows(Connection& c, FsckSql id, Fn&& each) {
  Query q = query(c, id);
  for (;;) {
    Result<bool> row = q.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
    each(q);
  }
}

Result<void> read_links(Connection& c, Snapshot& s, FsckReport& report) {
  return for_rows(c, kAllLinks, [&](const Query& q) {
    std::string repo(q.text(0));
    if (!parse_digest(q.text(1))) return bad_row(report, repo, "repo_blobs", q.text(1));
    s.links[repo][std::string(q.text(1))] = static_cast<std::uint64_t>(q.int64(2));
  });
}

Result<void> read_manifests(Connection& c, Snapshot& s, FsckReport& report) {
  Result<void> r = for_rows(c, kAllManifests, [&](const Query& q) {
    std::string repo(q.text(0));
    if (!parse_digest(q.text(1))) return bad_row(report, repo, "manifests", q.text(1));
    ManifestRow& m = s.manifests[repo][std::string(q.text(1))];
    m.media_type = std::string(q.text(2));
    m.size = static_cast<std::uint64_t>(q.int64(3));
  });
  if (!r) return r;
  return for_rows(c, kAllRefs, [&](const Query& q) {
    std::string repo(q.text(0));
    std::optional<Digest> ref = parse_digest(q.text(2));
    if (!ref) return bad_row(report, repo, "manifest_refs", q.text(2));
    auto repo_it = s.manifests.find(repo);
    if (repo_it == s.manifests.end()) return;
    auto m = repo_it->second.find(std::string(q.text(1)));
    if (m == repo_it->second.end()) return;  // refs cascade with their manifest
    RefKind kind = q.int64(3) == 1 ? RefKind::kManifest : RefKind::kBlob;
    m->second.refs.push_back(ManifestRef{*std::move(ref), kind});
  });
}

Result<void> read_tags(Connection& c, Snapshot& s, FsckReport& report) {
  return for_rows(c, kAllTags, [&](const Query& q) {
    std::string repo(q.text(0));
    if (!parse_digest(q.text(2))) return bad_row(report, repo, "tags", q.text(2));
    s.tags.push_back({repo, std::string(q.text(1)), std::string(q.text(2))});
  });
}

Result<Snapshot> read_snapshot(Connection& c, FsckReport& report) {
  Snapshot s;
  sqlite::Transaction read(c);
  if (Result<void> r = read.begin(sqlite::Transaction::Mode::kDeferred); !r) {
    return std::unexpected(r.error());
  }
  Result<void> r = for_rows(c, kRepoCount, [&](const Query& q) {
    s.repositories = static_cast<std::size_t>(q.int64(0));
  });
  if (r) r = read_links(c, s, report);
  if (r) r = read_manifests(c, s, report);
  if (r) r = read_tags(c, s, report);
  if (!r) return std::unexpected(r.error());
  if (r = read.commit(); !r) return std::unexpected(r.error());
  for (auto& [repo, tag, digest] : s.tags) {
    auto repo_it = s.manifests.find(repo);
    if (repo_it == s.manifests.end()) continue;
    auto m = repo_it->second.find(digest);
    if (m != repo_it->second.end()) m->second.tags.push_back(tag);
  }
  return s;
}

// --- blob files --------------------------------------------------------------

enum class FileState { kGood, kCorrupt, kUnreadable };

struct BlobFile {
  fs::path path;
  std::uint64_t size = 0;
  FileState state = FileState::kGood;
};

// digest text -> the file under blobs/
using FileIndex = std::map<std::string, BlobFile>;

// Hashes a file in bounded memory; nullopt (errno logged) if it cannot be read.
std::optional<Digest> hash_file(const fs::path& p, DigestAlgorithm a, std::vector<char>& buf) {
  UniqueFd fd = posix::open_fd(p, O_RDONLY);
  if (!fd.valid()) {
    posix::log_errno("open", p, errno);
    return std::nullopt;
  }
  Hasher h(a);
  for (std::uint64_t offset = 0;;) {
    ssize_t n = posix::pread_full(fd.get(), buf.data(), buf.size(), offset);
    if (n < 0) {
      posix::log_errno("read", p, static_cast<int>(-n));
      return std::nullopt;
    }
    h.update(buf.data(), static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
    if (static_cast<std::size_t>(n) < buf.size()) return h.current();
  }
}

bool is_hex(std::string_view s) {
  return std::ranges::all_of(s, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

void stray(FsckReport& report, const fs::path& p, std::string_view why) {
  std::error_code ec;
  std::uint64_t size = fs::is_regular_file(fs::symlink_status(p, ec)) ? fs::file_size(p, ec) : 0;
  report.issues.push_back(
      FsckIssue{FsckFinding::kStrayFile, "", p.string(), std::string(why), ec ? 0 : size});
}

void check_file(const fs::path& p, const Digest& d, FileIndex& files, FsckReport& report,
                std::vector<char>& buf) {
  std::error_code ec;
  BlobFile f{p, fs::file_size(p, ec), FileState::kGood};
  std::optional<Digest> actual = hash_file(p, d.algorithm, buf);
  std::string name = d.str();
  if (!actual) {
    f.state = FileState::kUnreadable;
    report.issues.push_back(FsckIssue{FsckFinding::kUnreadableBlob, "", name,
                                      "blob file cannot be read: " + p.string(), f.size});
  } else if (*actual != d) {
    f.state = FileState::kCorrupt;
    report.issues.push_back(FsckIssue{
        FsckFinding::kCorruptBlob, "", name,
        "blob file hashes to " + actual->str() + " (" + std::to_string(f.size) + " bytes)",
        f.size});
  }
  ++report.blob_files;
  report.blob_bytes += f.size;
  files.emplace(std::move(name), std::move(f));
}

// blobs/<alg>/<2 hex>/<hex>: anything else there is reported as stray.
void scan_fanout(const fs::path& dir, DigestAlgorithm a, FileIndex& files, FsckReport& report,
                 std::vector<char>& buf) {
  std::size_t hex_len = a == DigestAlgorithm::kSha512 ? 128 : 64;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    std::error_code sec;
    if (e.symlink_status(sec).type() != fs::file_type::regular) {
      stray(report, e.path(), "not a regular file");
    } else if (name.size() != hex_len || !is_hex(name) || !name.starts_with(dir.filename().string())) {
      stray(report, e.path(), "name is not a digest of this directory");
    } else {
      check_file(e.path(), Digest{a, name}, files, report, buf);
    }
  }
  if (ec) stray(report, dir, "cannot be listed: " + ec.message());
}

Result<FileIndex> scan_blobs(const fs::path& data, FsckReport& report) {
  FileIndex files;
  std::vector<char> buf(kHashBuffer);
  std::error_code ec;
  for (const auto& alg_dir : fs::directory_iterator(data / "blobs", ec)) {
    std::string alg = alg_dir.path().filename().string();
    std::optional<DigestAlgorithm> a;
    if (alg == "sha256") a = DigestAlgorithm::kSha256;
    if (alg == "sha512") a = DigestAlgorithm::kSha512;
    if (!a || !alg_dir.is_directory()) {
      stray(report, alg_dir.path(), "not a digest algorithm directory");
      continue;
    }
    std::error_code fec;
    for (const auto& fan : fs::directory_iterator(alg_dir.path(), fec)) {
      std::string f = fan.path().filename().string();
      std::error_code sec;
      if (f.size() != 2 || !is_hex(f) || !fan.is_directory(sec) || fan.is_symlink(sec)) {
        stray(report, fan.path(), "not a fan-out directory");
        continue;
      }
      scan_fanout(fan.path(), *a, files, report, buf);
    }
    if (fec) stray(report, alg_dir.path(), "cannot be listed: " + fec.message());
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    posix::log_errno("list", data / "blobs", ec.value());
    return std::unexpected(StorageError::kIo);
  }
  return files;
}

// --- cross checks ------------------------------------------------------------

std::string_view state_word(const BlobFile* f) {
  if (f == nullptr) return "missing";
  return f->state == FileState::kCorrupt ? "corrupt" : "unreadable";
}

const BlobFile* find_file(const FileIndex& files, const std::string& digest) {
  auto it = files.find(digest);
  return it == files.end() ? nullptr : &it->second;
}

void check_links(const Snapshot& s, const FileIndex& files, FsckReport& report) {
  for (const auto& [repo, links] : s.links) {
    for (const auto& [digest, size] : links) {
      ++report.blob_links;
      const BlobFile* f = find_file(files, digest);
      if (f == nullptr) {
        report.issues.push_back(FsckIssue{FsckFinding::kMissingBlob, repo, digest,
                                          "linked in the database, but its file is missing",
                                          size});
      } else if (f->state == FileState::kGood && f->size != size) {
        report.issues.push_back(FsckIssue{
            FsckFinding::kSizeMismatch, repo, digest,
            "database says " + std::to_string(size) + " bytes, file has " + std::to_string(f->size),
            f->size});
      }
    }
  }
}

void check_orphans(const Snapshot& s, const FileIndex& files,
                   const std::vector<Digest>& extra_roots, FsckReport& report) {
  std::set<std::string_view> used;
  for (const auto& [repo, links] : s.links) {
    for (const auto& [digest, size] : links) used.insert(digest);
  }
  for (const auto& [repo, manifests] : s.manifests) {
    for (const auto& [digest, m] : manifests) used.insert(digest);
  }
  std::set<std::string> held;
  for (const Digest& d : extra_roots) held.insert(d.str());
  for (const auto& [digest, f] : files) {
    if (used.contains(digest)) continue;
    if (held.contains(digest)) {
      ++report.extra_roots;
      continue;
    }
    report.issues.push_back(FsckIssue{FsckFinding::kOrphanBlob, "", digest,
                                      "no repository links this blob file", f.size});
  }
}

std::string manifest_label(const std::string& digest, const ManifestRow& m) {
  std::string out = "manifest " + digest;
  for (const std::string& t : m.tags) out += (&t == &m.tags.front() ? " (tags: " : ", ") + t;
  return m.tags.empty() ? out : out + ")";
}

bool linked(const Snapshot& s, const std::string& repo, const std::string& digest) {
  auto it = s.links.find(repo);
  return it != s.links.end() && it->second.contains(digest);
}

bool has_manifest(const Snapshot& s, const std::string& repo, const std::string& digest) {
  auto it = s.manifests.find(repo);
  return it != s.manifests.end() && it->second.contains(digest);
}

void check_refs(const Snapshot& s, const FileIndex& files, const std::string& repo,
                const std::string& digest, const ManifestRow& m, FsckReport& report) {
  for (const ManifestRef& ref : m.refs) {
    std::string r = ref.digest.str();
    std::string why;
    if (ref.kind == RefKind::kManifest) {
      if (!has_manifest(s, repo, r)) why = "child manifest " + r + " is not in the repository";
    } else if (!linked(s, repo, r)) {
      why = "blob " + r + " is not linked in the repository";
    } else if (const BlobFile* f = find_file(files, r); f == nullptr || f->state != FileState::kGood) {
      why = "blob " + r + " is " + std::string(state_word(f));
    }
    if (why.empty()) continue;
    report.issues.push_back(FsckIssue{FsckFinding::kMissingReference, repo, digest,
                                      manifest_label(digest, m) + ": " + why});
  }
}

// Reads a manifest's bytes (a file already checked to hash right), bounded.
std::optional<std::string> read_small(const fs::path& p, std::uint64_t size, std::uint64_t max) {
  if (size > max) return std::nullopt;
  UniqueFd fd = posix::open_fd(p, O_RDONLY);
  if (!fd.valid()) return std::nullopt;
  std::string out(size, '\0');
  ssize_t n = posix::pread_full(fd.get(), out.data(), out.size(), 0);
  if (n < 0 || static_cast<std::uint64_t>(n) != size) return std::nullopt;
  return out;
}

// Re-parses a manifest's bytes and compares its references with the rows.
void check_parse(const FsckOptions& o, const std::string& repo, const std::string& digest,
                 const ManifestRow& m, const BlobFile& f, FsckReport& report) {
  auto bad = [&](std::string why) {
    report.issues.push_back(FsckIssue{FsckFinding::kBadManifest, repo, digest,
                                      manifest_label(digest, m) + ": " + why, f.size});
  };
  std::optional<std::string> bytes = read_small(f.path, f.size, o.max_manifest_bytes);
  if (!bytes) return bad("cannot be read (or larger than " + std::to_string(o.max_manifest_bytes) + " bytes)");
  auto parsed = o.parse_manifest(m.media_type, *bytes);
  if (!parsed) return bad("does not parse: " + parsed.error());
  for (const ManifestRef& ref : *parsed) {
    bool recorded = std::ranges::any_of(m.refs, [&](const ManifestRef& r) {
      return r.digest == ref.digest && r.kind == ref.kind;
    });
    if (!recorded) bad("the database lacks its reference to " + ref.digest.str());
  }
}

void check_manifests(const FsckOptions& o, const Snapshot& s, const FileIndex& files,
                     FsckReport& report) {
  for (const auto& [repo, manifests] : s.manifests) {
    for (const auto& [digest, m] : manifests) {
      ++report.manifests;
      const BlobFile* f = find_file(files, digest);
      // A linked manifest with no file is reported once, by check_links.
      if (f == nullptr && !linked(s, repo, digest)) {
        report.issues.push_back(FsckIssue{FsckFinding::kMissingBlob, repo, digest,
                                          manifest_label(digest, m) + ": its bytes are missing",
                                          m.size});
      }
      if (f != nullptr && f->state == FileState::kGood && o.parse_manifest) {
        check_parse(o, repo, digest, m, *f, report);
      }
      check_refs(s, files, repo, digest, m, report);
    }
  }
}

void check_tags(const Snapshot& s, FsckReport& report) {
  for (const auto& [repo, tag, digest] : s.tags) {
    ++report.tags;
    if (has_manifest(s, repo, digest)) continue;
    report.issues.push_back(FsckIssue{FsckFinding::kDanglingTag, repo, "tag:" + tag,
                                      "points at manifest " + digest + ", which is not stored"});
  }
}

// --- repair ------------------------------------------------------------------

std::string quarantine_name(const std::string& digest) {
  std::string name = digest;
  std::ranges::replace(name, ':', '-');
  return name + "." + std::to_string(::time(nullptr));
}

// Under the database write lock (so no push can link the digest meanwhile):
// moves a corrupt file aside, then drops every link to the digest. A missing
// file's links are dropped only if the file is still missing (a push may have
// healed it since the scan).
Result<std::string> repair_digest(Connection& c, const fs::path& data, const std::string& digest,
                                  const BlobFile* corrupt) {
  sqlite::Transaction tx(c);
  if (Result<void> r = tx.begin(); !r) return std::unexpected(r.error());
  std::string done;
  if (corrupt != nullptr) {
    fs::path dir = data / "quarantine";
    std::error_code ec;
    fs::create_directories(dir, ec);
    fs::path target = dir / quarantine_name(digest);
    if (::rename(corrupt->path.c_str(), target.c_str()) != 0) {
      posix::log_errno("rename", corrupt->path, errno);
      return std::unexpected(StorageError::kIo);
    }
    (void)posix::fsync_dir(dir);
    (void)posix::fsync_dir(corrupt->path.parent_path());
    done = "moved to " + target.string() + "; ";
  } else if (std::optional<Digest> d = parse_digest(digest); d) {
    std::error_code ec;
    fs::path p = data / "blobs" / std::string(to_string(d->algorithm)) / d->hex.substr(0, 2) / d->hex;
    if (fs::exists(p, ec)) return std::unexpected(StorageError::kNotFound);  // healed meanwhile
  }
  Query q = query(c, kUnlinkEverywhere);
  q.bind(1, std::string_view(digest));
  Result<int> removed = q.run();
  if (!removed) return std::unexpected(removed.error());
  if (Result<void> r = tx.commit(); !r) return std::unexpected(r.error());
  return done + std::to_string(*removed) + " repository link(s) removed: push it again";
}

void repair(Connection& c, const FsckOptions& o, const FileIndex& files, FsckReport& report) {
  std::map<std::string, Result<std::string>> outcome;
  for (const FsckIssue& i : report.issues) {
    bool corrupt = i.finding == FsckFinding::kCorruptBlob;
    if ((!corrupt && i.finding != FsckFinding::kMissingBlob) || outcome.contains(i.what)) continue;
    outcome.emplace(i.what, repair_digest(c, o.data_dir, i.what, corrupt ? find_file(files, i.what) : nullptr));
  }
  for (FsckIssue& i : report.issues) {
    auto it = outcome.find(i.what);
    bool fixable = i.finding == FsckFinding::kCorruptBlob || i.finding == FsckFinding::kMissingBlob;
    if (!fixable || it == outcome.end() || !it->second) continue;
    i.repaired = true;
    i.repair = *it->second;
  }
}

}  // namespace

std::string_view to_string(FsckFinding f) {
  switch (f) {
    case FsckFinding::kCorruptBlob: return "corrupt-blob";
    case FsckFinding::kUnreadableBlob: return "unreadable-blob";
    case FsckFinding::kMissingBlob: return "missing-blob";
    case FsckFinding::kSizeMismatch: return "size-mismatch";
    case FsckFinding::kBadManifest: return "bad-manifest";
    case FsckFinding::kMissingReference: return "missing-reference";
    case FsckFinding::kDanglingTag: return "dangling-tag";
    case FsckFinding::kBadRow: return "bad-row";
    case FsckFinding::kOrphanBlob: return "orphan-blob";
    case FsckFinding::kStrayFile: return "stray-file";
  }
  return "unknown";
}

bool is_problem(FsckFinding f) {
  return f != FsckFinding::kOrphanBlob && f != FsckFinding::kStrayFile;
}

std::size_t FsckReport::problems() const {
  return static_cast<std::size_t>(
      std::ranges::count_if(issues, [](const FsckIssue& i) { return is_problem(i.finding); }));
}

std::size_t FsckReport::warnings() const { return issues.size() - problems(); }

std::size_t FsckReport::repaired() const {
  return static_cast<std::size_t>(
      std::ranges::count_if(issues, [](const FsckIssue& i) { return i.repaired; }));
}

Result<FsckReport> run_fsck(const FsckOptions& o) {
  fs::path db = o.data_dir / "metadata.db";
  std::error_code ec;
  if (!fs::is_regular_file(db, ec)) return std::unexpected(StorageError::kNotFound);
  std::optional<Connection> c;
  try {
    c.emplace(db, kFsckSqlCount);
    c->exec_or_throw("PRAGMA busy_timeout = 5000");
    if (o.mode == FsckMode::kCheck) c->exec_or_throw("PRAGMA query_only = ON");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return std::unexpected(StorageError::kDatabase);
  }
  FsckReport report;
  Result<Snapshot> s = read_snapshot(*c, report);
  if (!s) return std::unexpected(s.error());
  report.repositories = s->repositories;
  Result<FileIndex> files = scan_blobs(o.data_dir, report);
  if (!files) return std::unexpected(files.error());
  check_links(*s, *files, report);
  check_manifests(o, *s, *files, report);
  check_tags(*s, report);
  std::vector<Digest> extra;
  if (o.extra_roots) {
    Result<std::vector<Digest>> roots = o.extra_roots();
    if (!roots) return std::unexpected(roots.error());
    extra = *std::move(roots);
  }
  check_orphans(*s, *files, extra, report);
  if (o.mode == FsckMode::kRepair) repair(*c, o, *files, report);
  std::ranges::stable_sort(report.issues, [](const FsckIssue& a, const FsckIssue& b) {
    return std::tuple(!is_problem(a.finding), a.finding, a.repository, a.what) <
           std::tuple(!is_problem(b.finding), b.finding, b.repository, b.what);
  });
  return report;
}

}  // namespace drydock::storage
