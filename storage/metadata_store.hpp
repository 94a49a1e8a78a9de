#pragma once

#include <functional>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "storage/blob_store.hpp"
#include "storage/digest.hpp"
#include "storage/error.hpp"
#include "storage/quota.hpp"

namespace drydock::storage {

// One manifest as stored for one repository. The manifest's bytes live in the
// BlobStore under `digest`.
struct ManifestRecord {
  std::string repository;
  Digest digest;
  std::string media_type;
  std::uint64_t size = 0;
  std::optional<Digest> subject;  // OCI 1.1 `subject` field, if any
  std::string artifact_type;      // artifactType, or config.mediaType for
                                  // image manifests (referrers API rule)
  std::string annotations_json;   // "{}" or the manifest's annotations object
  std::int64_t created_unix = 0;
};

// What a manifest points at; checked to exist in the same repository.
enum class RefKind { kBlob, kManifest };
struct ManifestRef {
  Digest digest;
  RefKind kind = RefKind::kBlob;
};

struct PutManifestOutcome {
  // Non-empty when some references are missing from the repository; in that
  // case nothing was written.
  std::vector<Digest> missing;
  // Set when the tag is immutable and points at another manifest: the rule
  // that says so. Nothing was written.
  std::optional<std::string> immutable_rule;
  // Set when linking the manifest's bytes would take the namespace over its
  // quota. Nothing was written.
  std::optional<QuotaRefusal> quota;
};

// Which tags may not be moved or removed: the rule (for messages) that makes
// `tag` of `repository` immutable, or nullopt.
using TagRules = std::function<std::optional<std::string>(std::string_view repository,
                                                          std::string_view tag)>;

// The metadata graph as garbage collection reads it (storage/gc.hpp), in one
// consistent read. `repo` fields are the repositories' row ids.
struct GcSnapshot {
  struct Manifest {
    std::int64_t repo = 0;
    Digest digest;
    std::uint64_t size = 0;
    std::optional<Digest> subject;
    std::int64_t pushed = 0;  // Unix time of its last PUT
    bool released = false;    // an index referenced it or retention untagged it
  };
  struct Ref {
    std::int64_t repo = 0;
    Digest manifest;
    Digest ref;
    bool is_manifest = false;  // an index's child (else a blob)
  };
  struct Tag {
    std::int64_t repo = 0;
    std::string name;
    Digest digest;
    std::int64_t updated = 0;  // Unix time the tag was last written
  };
  struct Link {
    std::int64_t repo = 0;
    Digest digest;
    std::uint64_t size = 0;
    std::int64_t linked = 0;  // Unix time of the last link
  };
  std::vector<std::pair<std::int64_t, std::string>> repositories;
  std::vector<Manifest> manifests;
  std::vector<Ref> refs;
  std::vector<Tag> tags;
  std::vector<Link> links;
  // Repositories with an open upload session, and when the newest started.
  std::vector<std::pair<std::string, std::int64_t>> uploading;
};

struct UploadRecord {
  std::string id;
  std::string repository;
  std::int64_t created_unix = 0;
};

// Registry metadata in SQLite (WAL mode). Thread-safe: one writer connection
// behind a mutex, reads through a small pool of reader connections, every
// statement prepared once per connection.
//
// Schema (storage/metadata_schema.hpp): repositories, blob links per
// repository, manifests per repository, manifest references, tags, upload
// sessions.
class MetadataStore {
 public:
  // Opens (creating if needed) the database at `db_file` and migrates the
  // schema. Throws std::runtime_error on failure (startup only).
  explicit MetadataStore(const std::filesystem::path& db_file);
  ~MetadataStore();
  MetadataStore(const MetadataStore&) = delete;
  MetadataStore& operator=(const MetadataStore&) = delete;

  // --- repositories -----------------------------------------------------
  // True if the repository has any blob link, manifest or tag.
  Result<bool> repository_exists(std::string_view repo) const;
  // Repository names in byte order, strictly after `after` (empty: from the
  // start), at most `limit`.
  Result<std::vector<std::string>> list_repositories(std::string_view after,
                                                     std::size_t limit) const;

  // Deletes every tag, manifest and blob link of the repository (its blobs
  // become garbage unless other repositories link them). false if it had
  // nothing; kImmutable (nothing deleted) if an immutable tag exists in it.
  Result<bool> delete_repository(std::string_view repo);

  // --- blob links (per-repository visibility) ----------------------------
  // Links a committed blob to a repository (creating the repository row).
  // Idempotent. kQuotaExceeded (nothing written) if the blob is new to the
  // repository's namespace and would take it over its quota.
  Result<void> link_blob(std::string_view repo, const BlobInfo& blob);
  // Size of the blob if it is linked to the repository, else nullopt.
  Result<std::optional<std::uint64_t>> linked_blob_size(std::string_view repo,
                                                        const Digest& d) const;
  // Removes the link; false if there was none.
  Result<bool> unlink_blob(std::string_view repo, const Digest& d);

  // --- manifests and tags -------------------------------------------------
  // Makes the tags `rules` names immutable: put_manifest refuses to point one
  // that exists at another manifest, delete_tag to remove one, and
  // delete_manifest to delete a manifest one points at (kImmutable). Set it
  // before serving.
  void set_immutable_tags(TagRules rules);
  // The rule that makes pointing `tag` at `digest` a refused move, if any
  // (the tag exists, is immutable and points elsewhere).
  Result<std::optional<std::string>> immutable_move(std::string_view repo, std::string_view tag,
                                                    const Digest& digest) const;
  // In one transaction: checks every ref exists in the repository (blobs as
  // links, manifests as manifest rows), then inserts/updates the manifest row,
  // its references, links the manifest digest, and points `tag` (if given) at
  // it. If refs are missing, writes nothing and reports them; likewise if
  // the manifest's bytes would take the namespace over its quota.
  Result<PutManifestOutcome> put_manifest(const ManifestRecord& m,
                                          std::span<const ManifestRef> refs,
                                          std::optional<std::string_view> tag);
  Result<std::optional<ManifestRecord>> get_manifest(std::string_view repo, const Digest& d) const;
  Result<std::optional<Digest>> resolve_tag(std::string_view repo, std::string_view tag) const;
  // Deletes the manifest row, its references and every tag pointing at it.
  // false if it did not exist.
  Result<bool> delete_manifest(std::string_view repo, const Digest& d);
  // Removes only the tag; the manifest stays. false if there was no such tag.
  Result<bool> delete_tag(std::string_view repo, std::string_view tag);
  // Tags in byte order strictly after `after`, at most `limit`.
  Result<std::vector<std::string>> list_tags(std::string_view repo, std::string_view after,
                                             std::size_t limit) const;
  // Manifests in `repo` whose subject is `subject`, ordered by digest.
  Result<std::vector<ManifestRecord>> referrers(std::string_view repo, const Digest& subject) const;

  // --- garbage collection (storage/gc.hpp) ---------------------------------
  // Each delete below re-checks, in its write transaction, that the row is
  // still garbage, and does nothing (false) if a push made it live since the
  // snapshot was read.
  Result<GcSnapshot> gc_snapshot() const;
  // Deletes an untagged manifest nothing references, pushed before
  // `pushed_before`, whose subject (if any) is gone, and which is released or
  // a referrer or pushed before `standalone_before`; with its references and
  // the link of its own bytes.
  Result<bool> gc_delete_manifest(std::int64_t repo, const Digest& d, std::int64_t pushed_before,
                                  std::int64_t standalone_before);
  // Removes a blob link no manifest of the repository uses, made before
  // `linked_before`, while the repository has no upload session started at
  // or after `sessions_since`.
  Result<bool> gc_unlink(std::int64_t repo, const Digest& d, std::int64_t linked_before,
                         std::int64_t sessions_since);
  // Removes tag `tag` of repository `repo` (named `repo_name`) if it still
  // points at `d` and was last written at `updated`; kImmutable if it is
  // immutable. The manifest, once untagged, is released.
  Result<bool> gc_untag(std::int64_t repo, std::string_view repo_name, std::string_view tag,
                        const Digest& d, std::int64_t updated);
  // Whether `tag` of `repo` is immutable (the rule), for reports.
  std::optional<std::string> immutable_rule(std::string_view repo, std::string_view tag) const;
  // True if any repository links the blob.
  Result<bool> blob_linked_anywhere(const Digest& d) const;
  // Every digest some repository links.
  Result<std::unordered_set<std::string>> linked_digests() const;

  // --- quotas and usage (storage/quota.hpp) ---------------------------------
  // Usage is kept by triggers on the repo_blobs table, so any statement that
  // adds or removes links (GC included) keeps it exact; nothing to call.
  //
  // The byte limits link_blob, link_blobs and put_manifest enforce, checked
  // inside their write transaction. Set them before serving.
  void set_quotas(QuotaLimits limits);
  const QuotaLimits& quotas() const;
  // Links all `blobs` to the repository in one transaction, or none of them
  // (kQuotaExceeded if together they would take the namespace over its
  // quota, counting each digest new to the namespace once).
  Result<void> link_blobs(std::string_view repo, std::span<const BlobInfo> blobs);
  // What linking `blobs` to `repo` would be refused for, if anything, as of
  // now (read-only: for early checks and for the message after a refusal).
  Result<std::optional<QuotaRefusal>> quota_check(std::string_view repo,
                                                  std::span<const BlobInfo> blobs) const;
  // The same for an upload of `size` bytes whose digest is not known yet:
  // refused only when it cannot fit and is bigger than every blob the
  // namespace holds (a blob it holds already would cost nothing).
  Result<std::optional<QuotaRefusal>> quota_check_upload(std::string_view repo,
                                                         std::uint64_t size) const;
  // Namespaces that hold blobs or have a configured limit, in byte order;
  // only `ns` if given.
  Result<std::vector<NamespaceUsage>> namespace_usage(std::string_view ns = {}) const;
  // Repositories that hold blobs, in byte order; only those of namespace
  // `ns` if given.
  Result<std::vector<RepositoryUsage>> repository_usage(std::string_view ns = {}) const;

  // --- upload sessions -----------------------------------------------------
  Result<void> add_upload(const UploadRecord& u);
  Result<std::optional<UploadRecord>> get_upload(std::string_view id) const;
  Result<void> remove_upload(std::string_view id);
  // Sessions started before `before_unix`, oldest first, at most `limit`.
  Result<std::vector<UploadRecord>> uploads_started_before(std::int64_t before_unix,
                                                           std::size_t limit) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drydock::storage
