#pragma once

// The metadata database's schema and every statement MetadataStore runs
// (internal to storage/; included by metadata_store.cpp only).

#include <array>
#include <cstddef>
#include <string_view>

namespace drydock::storage::metadata_sql {

// Schema migrations, applied in order; PRAGMA user_version counts how many
// have run. Never edit a released step: append a new one.
//
// Digests are stored as "sha256:<hex>" text. Text compares with the default
// BINARY collation, i.e. byte order, which is what the distribution spec's
// pagination (`last`, `n`) wants for tags and repositories.
// Quota accounting (step 3): what each namespace and repository holds, kept
// by triggers on repo_blobs so that every writer of links (pushes, builds,
// deletes, fsck --repair, GC) keeps it exact in the same transaction.
// namespace_blobs: the distinct blobs of a namespace and how many of its
// repositories link each; namespace_usage and repo_usage: their sums. A
// namespace is its repositories' first path component.
#define DRYDOCK_NAMESPACE_OF(name) \
  "CASE WHEN instr(" name ", '/') > 0 THEN substr(" name ", 1, instr(" name ", '/') - 1)" \
  " ELSE " name " END"
#define DRYDOCK_NAMESPACE_OF_REPO(id) \
  "(SELECT " DRYDOCK_NAMESPACE_OF("name") " FROM repositories WHERE id = " id ")"
constexpr std::string_view kQuotaAccountingMigration =
    "CREATE TABLE namespace_blobs ("
    "  namespace TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,"
    "  links INTEGER NOT NULL, PRIMARY KEY (namespace, digest)) WITHOUT ROWID;"
    "CREATE TABLE namespace_usage ("
    "  namespace TEXT PRIMARY KEY, bytes INTEGER NOT NULL, blobs INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE repo_usage ("
    "  repo_id INTEGER PRIMARY KEY, bytes INTEGER NOT NULL, blobs INTEGER NOT NULL);"
    // What the database already holds.
    "INSERT INTO namespace_blobs(namespace, digest, size, links)"
    "  SELECT " DRYDOCK_NAMESPACE_OF("r.name") ", b.digest, max(b.size), count(*)"
    "  FROM repo_blobs b JOIN repositories r ON r.id = b.repo_id GROUP BY 1, 2;"
    "INSERT INTO namespace_usage(namespace, bytes, blobs)"
    "  SELECT namespace, sum(size), count(*) FROM namespace_blobs GROUP BY namespace;"
    "INSERT INTO repo_usage(repo_id, bytes, blobs)"
    "  SELECT repo_id, sum(size), count(*) FROM repo_blobs GROUP BY repo_id;"
    // A new link: counted in its repository, and in its namespace unless
    // another repository of the namespace links the digest already.
    "CREATE TRIGGER repo_blobs_usage_insert AFTER INSERT ON repo_blobs BEGIN"
    "  INSERT INTO repo_usage(repo_id, bytes, blobs) VALUES (NEW.repo_id, NEW.size, 1)"
    "    ON CONFLICT(repo_id) DO UPDATE SET bytes = bytes + excluded.bytes, blobs = blobs + 1;"
    "  INSERT INTO namespace_usage(namespace, bytes, blobs)"
    "    SELECT " DRYDOCK_NAMESPACE_OF_REPO("NEW.repo_id") ", NEW.size, 1"
    "    WHERE NOT EXISTS (SELECT 1 FROM namespace_blobs WHERE digest = NEW.digest"
    "      AND namespace = " DRYDOCK_NAMESPACE_OF_REPO("NEW.repo_id") ")"
    "    ON CONFLICT(namespace) DO UPDATE SET bytes = bytes + excluded.bytes, blobs = blobs + 1;"
    "  INSERT INTO namespace_blobs(namespace, digest, size, links)"
    "    SELECT " DRYDOCK_NAMESPACE_OF_REPO("NEW.repo_id") ", NEW.digest, NEW.size, 1 WHERE 1"
    "    ON CONFLICT(namespace, digest) DO UPDATE SET links = links + 1;"
    "END;"
    // A removed link: uncounted; the namespace's copy goes with its last link.
    "CREATE TRIGGER repo_blobs_usage_delete AFTER DELETE ON repo_blobs BEGIN"
    "  UPDATE repo_usage SET bytes = bytes - OLD.size, blobs = blobs - 1"
    "    WHERE repo_id = OLD.repo_id;"
    "  DELETE FROM repo_usage WHERE repo_id = OLD.repo_id AND blobs <= 0;"
    "  UPDATE namespace_blobs SET links = links - 1 WHERE digest = OLD.digest"
    "    AND namespace = " DRYDOCK_NAMESPACE_OF_REPO("OLD.repo_id") ";"
    "  UPDATE namespace_usage SET bytes = bytes - (SELECT size FROM namespace_blobs"
    "      WHERE namespace = namespace_usage.namespace AND digest = OLD.digest), blobs = blobs - 1"
    "    WHERE namespace = " DRYDOCK_NAMESPACE_OF_REPO("OLD.repo_id") " AND EXISTS (SELECT 1"
    "      FROM namespace_blobs WHERE namespace = namespace_usage.namespace"
    "      AND digest = OLD.digest AND links <= 0);"
    "  DELETE FROM namespace_blobs WHERE digest = OLD.digest AND links <= 0"
    "    AND namespace = " DRYDOCK_NAMESPACE_OF_REPO("OLD.repo_id") ";"
    "  DELETE FROM namespace_usage WHERE blobs <= 0"
    "    AND namespace = " DRYDOCK_NAMESPACE_OF_REPO("OLD.repo_id") ";"
    "END;"
    // A link whose size changed (a re-link upserts it): the new size counts.
    "CREATE TRIGGER repo_blobs_usage_resize AFTER UPDATE OF size ON repo_blobs"
    "  WHEN OLD.size != NEW.size BEGIN"
    "  UPDATE repo_usage SET bytes = bytes - OLD.size + NEW.size WHERE repo_id = NEW.repo_id;"
    "  UPDATE namespace_usage SET bytes = bytes + NEW.size - (SELECT size FROM namespace_blobs"
    "      WHERE namespace = namespace_usage.namespace AND digest = NEW.digest)"
    "    WHERE namespace = " DRYDOCK_NAMESPACE_OF_REPO("NEW.repo_id") ";"
    "  UPDATE namespace_blobs SET size = NEW.size WHERE digest = NEW.digest"
    "    AND namespace = " DRYDOCK_NAMESPACE_OF_REPO("NEW.repo_id") ";"
    "END;"
    "CREATE TRIGGER repositories_usage_delete AFTER DELETE ON repositories BEGIN"
    "  DELETE FROM repo_usage WHERE repo_id = OLD.id;"
    "END;";

constexpr std::array<std::string_view, 3> kMigrations = {
    R"sql(
CREATE TABLE repositories (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
-- Per-repository visibility of blobs (pushed, mounted or a manifest's own bytes).
CREATE TABLE repo_blobs (
  repo_id INTEGER NOT NULL REFERENCES repositories(id),
  digest  TEXT NOT NULL,
  size    INTEGER NOT NULL,
  PRIMARY KEY (repo_id, digest)
) WITHOUT ROWID;
CREATE TABLE manifests (
  repo_id       INTEGER NOT NULL REFERENCES repositories(id),
  digest        TEXT NOT NULL,
  media_type    TEXT NOT NULL,
  size          INTEGER NOT NULL,
  subject       TEXT,
  artifact_type TEXT NOT NULL DEFAULT '',
  annotations   TEXT NOT NULL DEFAULT '{}',
  created       INTEGER NOT NULL,
  PRIMARY KEY (repo_id, digest)
) WITHOUT ROWID;
-- Referrers API lookups (OCI distribution-spec 1.1 "Listing Referrers").
CREATE INDEX manifests_by_subject ON manifests(repo_id, subject) WHERE subject IS NOT NULL;
-- What each manifest points at: kind 0 = blob, 1 = manifest (index children).
CREATE TABLE manifest_refs (
  repo_id  INTEGER NOT NULL,
  manifest TEXT NOT NULL,
  ref      TEXT NOT NULL,
  kind     INTEGER NOT NULL,
  PRIMARY KEY (repo_id, manifest, ref),
  FOREIGN KEY (repo_id, manifest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX manifest_refs_by_ref ON manifest_refs(repo_id, ref);
CREATE TABLE tags (
  repo_id INTEGER NOT NULL,
  name    TEXT NOT NULL,
  digest  TEXT NOT NULL,
  PRIMARY KEY (repo_id, name),
  FOREIGN KEY (repo_id, digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX tags_by_digest ON tags(repo_id, digest);
CREATE TABLE uploads (
  id      TEXT PRIMARY KEY,
  repo    TEXT NOT NULL,
  created INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 2: times and the flag garbage collection reads. repo_blobs.linked and
    // tags.updated: Unix time of the last link / tag write; manifests.pushed:
    // of the last PUT of the manifest (created stays the first). released: 1
    // once an index referenced the manifest or retention untagged it, so that
    // when nothing references or tags it any more it is garbage, whatever
    // gc.untagged_retention_hours says about manifests pushed on their own.
    R"sql(
ALTER TABLE repo_blobs ADD COLUMN linked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tags ADD COLUMN updated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE manifests ADD COLUMN pushed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE manifests ADD COLUMN released INTEGER NOT NULL DEFAULT 0;
UPDATE manifests SET pushed = created;
UPDATE manifests SET released = 1 WHERE EXISTS (SELECT 1 FROM manifest_refs r
  WHERE r.repo_id = manifests.repo_id AND r.ref = manifests.digest AND r.kind = 1);
UPDATE tags SET updated = coalesce((SELECT m.created FROM manifests m
  WHERE m.repo_id = tags.repo_id AND m.digest = tags.digest), 0);
CREATE INDEX repo_blobs_by_digest ON repo_blobs(digest);
)sql",
    kQuotaAccountingMigration,
};

// Every statement the store runs, prepared once per connection on first use.
enum Sql : std::size_t {
  kRepoId,
  kRepoInsert,
  kRepoExists,
  kRepoList,
  kBlobLink,
  kBlobSize,
  kBlobLinked,
  kBlobUnlink,
  kBlobUnlinkById,
  kManifestExists,
  kManifestUpsert,
  kManifestGet,
  kManifestDelete,
  kRefsDelete,
  kRefInsert,
  kManifestRelease,
  kTagSet,
  kTagResolve,
  kTagDelete,
  kTagsDeleteForManifest,
  kTagsForManifest,
  kTagList,
  kReferrers,
  kUploadAdd,
  kUploadGet,
  kUploadRemove,
  kUploadsBefore,
  kGcRepos,
  kGcManifests,
  kGcRefs,
  kGcTags,
  kGcLinks,
  kGcUploadRepos,
  kGcDeleteManifest,
  kGcUnlink,
  kGcUntag,
  kGcReleaseIfUntagged,
  kBlobLinkedAnywhere,
  kLinkedDigests,
  kRepoTags,
  kRepoDeleteTags,
  kRepoDeleteRefs,
  kRepoDeleteManifests,
  kRepoDeleteLinks,
  // Quotas and usage.
  kQuotaBlobInNamespace,
  kQuotaNamespaceUsed,
  kQuotaNamespaceLargest,
  kUsageNamespaces,
  kUsageRepositories,
  kSqlCount,
};

#define DRYDOCK_REPO_HAS_CONTENT                               \
  "(EXISTS(SELECT 1 FROM repo_blobs WHERE repo_id = r.id) OR " \
  " EXISTS(SELECT 1 FROM manifests WHERE repo_id = r.id) OR "  \
  " EXISTS(SELECT 1 FROM tags WHERE repo_id = r.id))"
#define DRYDOCK_MANIFEST_COLUMNS \
  "m.digest, m.media_type, m.size, m.subject, m.artifact_type, m.annotations, m.created"

constexpr std::array<std::string_view, kSqlCount> kSqlText = {
    "SELECT id FROM repositories WHERE name = ?1",
    "INSERT INTO repositories(name) VALUES (?1) ON CONFLICT(name) DO NOTHING",
    "SELECT 1 FROM repositories r WHERE r.name = ?1 AND " DRYDOCK_REPO_HAS_CONTENT,
    "SELECT r.name FROM repositories r WHERE r.name > ?1 AND " DRYDOCK_REPO_HAS_CONTENT
    " ORDER BY r.name LIMIT ?2",
    "INSERT INTO repo_blobs(repo_id, digest, size, linked) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT(repo_id, digest) DO UPDATE SET size = excluded.size, linked = excluded.linked",
    "SELECT b.size FROM repo_blobs b JOIN repositories r ON r.id = b.repo_id"
    " WHERE r.name = ?1 AND b.digest = ?2",
    "SELECT 1 FROM repo_blobs WHERE repo_id = ?1 AND digest = ?2",
    "DELETE FROM repo_blobs WHERE repo_id = (SELECT id FROM repositories WHERE name = ?1)"
    " AND digest = ?2",
    "DELETE FROM repo_blobs WHERE repo_id = ?1 AND digest = ?2",
    "SELECT 1 FROM manifests WHERE repo_id = ?1 AND digest = ?2",
    "INSERT INTO manifests(repo_id, digest, media_type, size, subject, artifact_type,"
    " annotations, created, pushed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    " ON CONFLICT(repo_id, digest) DO UPDATE SET media_type = excluded.media_type,"
    " size = excluded.size, subject = excluded.subject, artifact_type = excluded.artifact_type,"
    " annotations = excluded.annotations, pushed = excluded.pushed",
    "SELECT " DRYDOCK_MANIFEST_COLUMNS
    " FROM manifests m JOIN repositories r ON r.id = m.repo_id"
    " WHERE r.name = ?1 AND m.digest = ?2",
    "DELETE FROM manifests WHERE repo_id = ?1 AND digest = ?2",
    "DELETE FROM manifest_refs WHERE repo_id = ?1 AND manifest = ?2",
    "INSERT OR IGNORE INTO manifest_refs(repo_id, manifest, ref, kind) VALUES (?1, ?2, ?3, ?4)",
    "UPDATE manifests SET released = 1 WHERE repo_id = ?1 AND digest = ?2",
    "INSERT INTO tags(repo_id, name, digest, updated) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT(repo_id, name) DO UPDATE SET digest = excluded.digest,"
    " updated = excluded.updated",
    "SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id"
    " WHERE r.name = ?1 AND t.name = ?2",
    "DELETE FROM tags WHERE repo_id = (SELECT id FROM repositories WHERE name = ?1)"
    " AND name = ?2",
    "DELETE FROM tags WHERE repo_id = ?1 AND digest = ?2",
    "SELECT name FROM tags WHERE repo_id = ?1 AND digest = ?2",
    "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id"
    " WHERE r.name = ?1 AND t.name > ?2 ORDER BY t.name LIMIT ?3",
    "SELECT " DRYDOCK_MANIFEST_COLUMNS
    " FROM manifests m JOIN repositories r ON r.id = m.repo_id"
    " WHERE r.name = ?1 AND m.subject = ?2 ORDER BY m.digest",
    "INSERT INTO uploads(id, repo, created) VALUES (?1, ?2, ?3)",
    "SELECT repo, created FROM uploads WHERE id = ?1",
    "DELETE FROM uploads WHERE id = ?1",
    "SELECT id, repo, created FROM uploads WHERE created < ?1 ORDER BY created LIMIT ?2",
    // Garbage collection: the whole graph, read in one read transaction...
    "SELECT id, name FROM repositories",
    "SELECT repo_id, digest, size, subject, pushed, released FROM manifests",
    "SELECT repo_id, manifest, ref, kind FROM manifest_refs",
    "SELECT repo_id, name, digest, updated FROM tags",
    "SELECT repo_id, digest, size, linked FROM repo_blobs",
    "SELECT repo, max(created) FROM uploads GROUP BY repo",
    // ...and deletes that re-check, in the write transaction, what made the
    // row garbage when the graph was read: a push in between wins.
    "DELETE FROM manifests WHERE repo_id = ?1 AND digest = ?2 AND pushed < ?3"
    " AND NOT EXISTS(SELECT 1 FROM tags t WHERE t.repo_id = ?1 AND t.digest = ?2)"
    " AND NOT EXISTS(SELECT 1 FROM manifest_refs r WHERE r.repo_id = ?1 AND r.ref = ?2)"
    " AND (subject IS NULL OR NOT EXISTS(SELECT 1 FROM manifests s"
    "      WHERE s.repo_id = ?1 AND s.digest = manifests.subject))"
    " AND (released = 1 OR subject IS NOT NULL OR pushed < ?4)",
    "DELETE FROM repo_blobs WHERE repo_id = ?1 AND digest = ?2 AND linked < ?3"
    " AND NOT EXISTS(SELECT 1 FROM manifest_refs r WHERE r.repo_id = ?1 AND r.ref = ?2)"
    " AND NOT EXISTS(SELECT 1 FROM manifests m WHERE m.repo_id = ?1 AND m.digest = ?2)"
    " AND NOT EXISTS(SELECT 1 FROM uploads u JOIN repositories p ON p.name = u.repo"
    "      WHERE p.id = ?1 AND u.created >= ?4)",
    "DELETE FROM tags WHERE repo_id = ?1 AND name = ?2 AND digest = ?3 AND updated = ?4",
    "UPDATE manifests SET released = 1 WHERE repo_id = ?1 AND digest = ?2"
    " AND NOT EXISTS(SELECT 1 FROM tags t WHERE t.repo_id = ?1 AND t.digest = ?2)",
    "SELECT 1 FROM repo_blobs WHERE digest = ?1 LIMIT 1",
    "SELECT DISTINCT digest FROM repo_blobs",
    // Deleting a whole repository.
    "SELECT name FROM tags WHERE repo_id = ?1",
    "DELETE FROM tags WHERE repo_id = ?1",
    "DELETE FROM manifest_refs WHERE repo_id = ?1",
    "DELETE FROM manifests WHERE repo_id = ?1",
    "DELETE FROM repo_blobs WHERE repo_id = ?1",
    // Quotas and usage: ?1 a namespace ("" for every one where it says so).
    "SELECT 1 FROM namespace_blobs WHERE namespace = ?1 AND digest = ?2",
    "SELECT bytes FROM namespace_usage WHERE namespace = ?1",
    "SELECT coalesce(max(size), 0) FROM namespace_blobs WHERE namespace = ?1",
    "SELECT namespace, bytes, blobs FROM namespace_usage WHERE ?1 = '' OR namespace = ?1"
    " ORDER BY namespace",
    // The repositories of a namespace are a range of the name index:
    // "ns" itself and "ns/" up to "ns0" ('0' follows '/').
    "SELECT r.name, u.bytes, u.blobs FROM repo_usage u JOIN repositories r ON r.id = u.repo_id"
    " WHERE ?1 = '' OR r.name = ?1 OR (r.name >= ?1 || '/' AND r.name < ?1 || '0')"
    " ORDER BY r.name",
};

#undef DRYDOCK_REPO_HAS_CONTENT
#undef DRYDOCK_NAMESPACE_OF
#undef DRYDOCK_NAMESPACE_OF_REPO
#undef DRYDOCK_MANIFEST_COLUMNS

}  // namespace drydock::storage::metadata_sql
