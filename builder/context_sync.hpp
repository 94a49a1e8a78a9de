#pragma once
// Kept build contexts: the server keeps the last context a client sent for a
// directory, so the next build of it sends only what changed, as BuildKit's
// fsutil sync does for `docker build`. The build service uses it; HTTP is in
// server/build_routes.cpp, the client in server/build_cli.cpp.
//
// The exchange:
//   1. POST /builds/contexts?key=KEY, body: the client's manifest of the
//      context (manifest_json: every entry with type, mode, owner, mtime in
//      nanoseconds, size, link target; no contents) -> begin(). The server
//      compares it with the manifest of the last completed sync of
//      (owner, KEY), deletes what is gone, and answers a session id and the
//      entries it needs: new or changed ones (any field differs), hard links
//      whose file is needed, and the directories above anything needed or
//      deleted (their times change).
//   2. POST /builds?...&context=SESSION, body: a tar of exactly those
//      entries (context_pack's `send` filter) -> complete(). The entries
//      are written into the kept tree with the guards of an upload; one that
//      was not asked for fails the update. Each needed entry is checked to be
//      there with its type, size and link target; then the Dockerfile is
//      read and the ignore file applied as for an uploaded context.
//   3. The build runs on the kept tree; release() after it frees the tree.
//
// One session at a time per tree: a second begin() for a busy tree fails
// (kBusy) and the client sends its whole context instead. A session not
// completed within the timeout is dropped.
//
// Trust: the server trusts its own tree to match the stored manifest, and a
// file whose type, mode, owner, size and mtime are unchanged to have
// unchanged content (BuildKit's rule too). Trees are kept per owner (the
// authenticated user), so no one is ever given another user's files.
//
// On disk, under the root (DATA/builder/kept):
//   <sha256(owner NUL key)>/tree           the context as last sent
//   <sha256(owner NUL key)>/manifest.json  present only while tree matches it:
//                                          removed when a sync begins, written
//                                          when it completes
//   in-use                                 marks an open ContextSync; found at
//                                          open(), the last process stopped
//                                          uncleanly and every tree is dropped
//                                          (manifest writes are not flushed)
//   trash/                                 trees being deleted
// Trees are evicted least recently used once their files pass max_bytes.

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "builder/context.hpp"
#include "builder/context_pack.hpp"

namespace drydock::builder {

// One entry of a context manifest.
struct SyncEntry {
  std::string path;  // clean, relative, '/'-separated
  char type = 'f';   // 'f' file, 'd' directory, 'l' symlink, 'h' hard link, 'p' fifo
  std::uint32_t mode = 0;  // permission bits (07777)
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t size = 0;  // files only
  std::string link;        // symlink target, or the path a hard link names
  friend bool operator==(const SyncEntry&, const SyncEntry&) = default;
};

// The manifest entry for a packed entry (the client's side).
SyncEntry sync_entry(const PackedEntry& e);

// {"entries":[{"p":PATH,"t":TYPE,"m":MODE,"u":UID,"g":GID,"n":MTIME_NS,
// "s":SIZE,"l":LINK},...]}; "s" and "l" only where they apply.
std::string manifest_json(const std::vector<SyncEntry>& entries);

// Parses and checks a manifest: at most `max_entries` entries; paths clean,
// relative, unique, at most 4096 bytes, each after its parent directory,
// which must be a "d" entry; known types; symlinks and hard links with a
// target, a hard link naming an earlier file entry. The error says which
// entry is wrong.
std::expected<std::vector<SyncEntry>, std::string> parse_manifest(std::string_view json,
                                                                  std::uint64_t max_entries);

struct ContextSyncOptions {
  std::filesystem::path root;                // DATA/builder/kept
  std::uint64_t max_bytes = 4ULL << 30;      // file bytes of all kept trees; 0: keep none
  std::chrono::seconds session_timeout{600}; // begin() to complete()
  std::size_t max_sessions = 100;            // sessions begun and not yet released
};

// What the server needs for a session.
struct SyncPlan {
  std::string session;
  std::vector<std::size_t> need;  // indices into the manifest, ascending
  std::uint64_t need_bytes = 0;   // file bytes among them
  std::uint64_t deleted = 0;      // entries removed from the kept tree
};

struct SyncError {
  enum class Kind {
    kInvalid,  // the manifest, the key, the session or the update is wrong
    kBusy,     // the tree is in use, or too many sessions
    kIo,
  };
  Kind kind = Kind::kIo;
  std::string message;
};

// A completed session: the tree to build from, held until release().
struct SyncedContext {
  std::filesystem::path tree;
  ExtractedContext context;
};

class ContextSync {
 public:
  // Creates the layout, drops trees left by an unclean stop or an
  // unfinished sync, empties trash/. Throws std::runtime_error if it cannot.
  static std::unique_ptr<ContextSync> open(ContextSyncOptions options);
  ~ContextSync();
  ContextSync(const ContextSync&) = delete;
  ContextSync& operator=(const ContextSync&) = delete;

  // Starts a session for `owner`'s tree `key` (1 to 128 of [A-Za-z0-9._-])
  // with the client's manifest (parse_manifest'ed). Deletes what the
  // manifest no longer has. Blocking.
  std::expected<SyncPlan, SyncError> begin(std::string_view owner, std::string_view key,
                                           std::vector<SyncEntry> entries);

  // Applies the update archive at `archive` (a tar, maybe compressed) to the
  // session's tree and checks it; the session must be `owner`'s. On failure
  // the session is released and its tree dropped. Blocking.
  std::expected<SyncedContext, SyncError> complete(std::string_view session,
                                                   std::string_view owner,
                                                   const std::filesystem::path& archive,
                                                   const ContextOptions& options);

  // Ends `owner`'s session (completed or not) and frees its tree; sets aside
  // trees past max_bytes, least recently used first, for empty_trash().
  // Unknown sessions, and other owners', are ignored. Quick: renames only.
  void release(std::string_view session, std::string_view owner);

  // Deletes the trees set aside. Blocking (one unlink per file).
  void empty_trash();

 private:
  struct Impl;
  explicit ContextSync(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace drydock::builder
