#include "tests/server/oci_client.hpp"

#include <sqlite3.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "tests/server/process_harness.hpp"

namespace drydock::testing {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string str(std::string_view s) { return std::string(s); }

void expect_status(const Response& r, unsigned want, std::string_view what) {
  if (r.status != want) {
    throw ProtocolError(str(what) + ": HTTP " + std::to_string(r.status) + " (want " +
                        std::to_string(want) + ") " + r.body.substr(0, 300));
  }
}

json descriptor(std::string_view media_type, const BlobRef& b) {
  return json{{"mediaType", media_type}, {"digest", b.digest}, {"size", b.size}};
}

bool is_hex(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// Checks one file under blobs/<alg>/<fanout>/.
std::string audit_blob_file(const fs::path& file, std::string_view alg, std::string_view fanout) {
  std::string name = file.filename().string();
  std::size_t hex_len = alg == "sha256" ? 64 : 128;
  if (!fs::is_regular_file(fs::symlink_status(file))) return "not a regular file: " + file.string();
  if (name.size() != hex_len || !is_hex(name) || name.substr(0, 2) != fanout) {
    return "stray file among blobs: " + file.string();
  }
  if (alg != "sha256") return {};  // only sha256 is pushed by these tests
  std::string content = read_file(file);
  std::string actual = sha256_of(content);
  if (actual != "sha256:" + name) return "blob does not hash to its name: " + file.string();
  return {};
}

// --- read-only SQLite ---------------------------------------------------------

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

// Runs `sql`, calling `row` with the text of each column of each row.
std::string query(sqlite3* db, const char* sql,
                  const std::function<void(const std::vector<std::string>&)>& row) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    return std::string("prepare '") + sql + "': " + sqlite3_errmsg(db);
  }
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    std::vector<std::string> cols;
    for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
      const unsigned char* t = sqlite3_column_text(stmt, i);
      cols.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
    }
    row(cols);
  }
  std::string err =
      rc == SQLITE_DONE ? "" : std::string("step '") + sql + "': " + sqlite3_errmsg(db);
  sqlite3_finalize(stmt);
  return err;
}

// A referenced blob file must exist, with `size` bytes if size is not "".
std::string expect_blob_file(const fs::path& data, const std::string& digest,
                             const std::string& size, const std::string& who) {
  std::error_code ec;
  fs::path p = blob_path(data, digest);
  auto actual = fs::file_size(p, ec);
  if (ec) return who + " -> " + digest + ": no blob file";
  if (!size.empty() && std::to_string(actual) != size) {
    return who + " -> " + digest + ": file has " + std::to_string(actual) + " bytes, row says " +
           size;
  }
  return {};
}

}  // namespace

// --- pushing --------------------------------------------------------------------------

std::string with_digest(std::string_view location, std::string_view digest) {
  std::string s(location);
  s += location.find('?') == std::string_view::npos ? '?' : '&';
  return s + "digest=" + str(digest);
}

BlobRef push_blob_monolithic(Client& c, std::string_view repo, std::string_view data) {
  BlobRef b{sha256_of(data), data.size()};
  Response r = c.post("/v2/" + str(repo) + "/blobs/uploads/?digest=" + b.digest, str(data),
                      {{"Content-Type", "application/octet-stream"}});
  expect_status(r, 201, "monolithic blob POST");
  return b;
}

BlobRef push_blob_chunked(Client& c, std::string_view repo, std::string_view data,
                          std::size_t chunk) {
  BlobRef b{sha256_of(data), data.size()};
  Response post = c.post("/v2/" + str(repo) + "/blobs/uploads/");
  expect_status(post, 202, "upload POST");
  std::string loc = post.header("Location");
  for (std::size_t off = 0; off < data.size(); off += chunk) {
    std::size_t n = std::min(chunk, data.size() - off);
    std::string range = std::to_string(off) + "-" + std::to_string(off + n - 1);
    Response p = c.patch(loc, str(data.substr(off, n)),
                         {{"Content-Range", range}, {"Content-Type", "application/octet-stream"}});
    expect_status(p, 202, "upload PATCH");
    if (p.header("Range") != "0-" + std::to_string(off + n - 1)) {
      throw ProtocolError("upload PATCH: Range " + p.header("Range") + " after " + range);
    }
    loc = p.header("Location");
  }
  Response put = c.put(with_digest(loc, b.digest), "");
  expect_status(put, 201, "upload PUT");
  return b;
}

std::string image_manifest(const BlobRef& config, const std::vector<BlobRef>& layers) {
  json l = json::array();
  for (const auto& layer : layers) l.push_back(descriptor(kOciLayerType, layer));
  json m{{"schemaVersion", 2},
         {"mediaType", kOciManifestType},
         {"config", descriptor(kOciConfigType, config)},
         {"layers", l}};
  return m.dump();
}

std::string push_manifest(Client& c, std::string_view repo, std::string_view tag,
                          std::string_view body) {
  Response r = c.put("/v2/" + str(repo) + "/manifests/" + str(tag), str(body),
                     {{"Content-Type", str(kOciManifestType)}});
  expect_status(r, 201, "manifest PUT");
  std::string digest = sha256_of(body);
  if (r.header("Docker-Content-Digest") != digest) {
    throw ProtocolError("manifest PUT: Docker-Content-Digest " + r.header("Docker-Content-Digest") +
                        ", want " + digest);
  }
  return digest;
}

// --- pulling -------------------------------------------------------------------------

std::string check_blob(Client& c, std::string_view repo, const BlobRef& blob) {
  Response r = c.get("/v2/" + str(repo) + "/blobs/" + blob.digest);
  std::string where = str(repo) + "@" + blob.digest;
  if (r.status != 200) return where + ": GET " + std::to_string(r.status);
  if (r.body.size() != blob.size) {
    return where + ": " + std::to_string(r.body.size()) + " bytes, want " +
           std::to_string(blob.size);
  }
  if (sha256_of(r.body) != blob.digest) return where + ": content does not match the digest";
  return {};
}

std::string check_pull(Client& c, const PushedManifest& m, std::string_view ref) {
  Response r =
      c.get("/v2/" + m.repo + "/manifests/" + str(ref), {{"Accept", str(kOciManifestType)}});
  std::string where = m.repo + ":" + str(ref);
  if (r.status != 200) return where + ": manifest GET " + std::to_string(r.status);
  if (r.body != m.body) return where + ": manifest bytes differ from those pushed";
  if (r.header("Docker-Content-Digest") != m.digest) return where + ": wrong digest header";
  for (const auto& b : m.blobs) {
    if (auto bad = check_blob(c, m.repo, b); !bad.empty()) return where + ": " + bad;
  }
  return {};
}

// --- audits --------------------------------------------------------------------------

std::vector<std::string> audit_over_http(Client& c, std::size_t& tags) {
  std::vector<std::string> problems;
  tags = 0;
  Response cat = c.get("/v2/_catalog?n=10000");
  if (cat.status != 200) return {"catalog: HTTP " + std::to_string(cat.status)};
  std::map<std::string, bool> verified;  // "repo@digest" -> intact
  json catalog = cat.json();             // named: a range-for over a temporary's member dangles
  if (!catalog.is_object() || !catalog["repositories"].is_array()) {
    return {"catalog: not a repository list: " + cat.body.substr(0, 200)};
  }
  for (const auto& repo_json : catalog["repositories"]) {
    std::string repo = repo_json.get<std::string>();
    Response tl = c.get("/v2/" + repo + "/tags/list?n=10000");
    if (tl.status != 200) {
      problems.push_back(repo + ": tags/list HTTP " + std::to_string(tl.status));
      continue;
    }
    json tag_list = tl.json()["tags"];
    if (!tag_list.is_array()) continue;  // null: a repository with blobs only
    for (const auto& t : tag_list) {
      ++tags;
      std::string tag = t.get<std::string>();
      Response m = c.get("/v2/" + repo + "/manifests/" + tag, {{"Accept", str(kOciManifestType)}});
      std::string where = repo + ":" + tag;
      if (m.status != 200) {
        problems.push_back(where + ": manifest GET " + std::to_string(m.status));
        continue;
      }
      if (m.header("Docker-Content-Digest") != sha256_of(m.body)) {
        problems.push_back(where + ": manifest bytes do not match their digest");
      }
      json doc = json::parse(m.body, nullptr, false);
      if (!doc.is_object() || !doc.contains("config") || !doc.contains("layers")) {
        problems.push_back(where + ": not an image manifest");
        continue;
      }
      std::vector<json> descs{doc["config"]};
      for (const auto& l : doc["layers"]) descs.push_back(l);
      for (const auto& d : descs) {
        BlobRef b{d["digest"].get<std::string>(), d["size"].get<std::uint64_t>()};
        auto [it, fresh] = verified.try_emplace(repo + "@" + b.digest, true);
        if (!fresh) continue;
        if (auto bad = check_blob(c, repo, b); !bad.empty()) problems.push_back(where + ": " + bad);
      }
    }
  }
  return problems;
}

std::vector<std::string> audit_blob_files(const fs::path& data, std::size_t& files) {
  std::vector<std::string> problems;
  files = 0;
  for (const auto& alg_dir : fs::directory_iterator(data / "blobs")) {
    std::string alg = alg_dir.path().filename().string();
    if (!alg_dir.is_directory() || (alg != "sha256" && alg != "sha512")) {
      problems.push_back("stray entry in blobs/: " + alg_dir.path().string());
      continue;
    }
    for (const auto& fan_dir : fs::directory_iterator(alg_dir.path())) {
      std::string fanout = fan_dir.path().filename().string();
      if (!fan_dir.is_directory() || fanout.size() != 2 || !is_hex(fanout)) {
        problems.push_back("stray entry in blobs/" + alg + "/: " + fan_dir.path().string());
        continue;
      }
      for (const auto& f : fs::directory_iterator(fan_dir.path())) {
        ++files;
        if (auto bad = audit_blob_file(f.path(), alg, fanout); !bad.empty()) {
          problems.push_back(bad);
        }
      }
    }
  }
  return problems;
}

std::vector<std::string> audit_metadata(const fs::path& data) {
  std::vector<std::string> problems;
  sqlite3* raw = nullptr;
  fs::path file = data / "metadata.db";
  int rc = sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) return {"cannot open " + file.string() + " read-only"};
  sqlite3_busy_timeout(db.get(), 10000);
  auto note = [&](const std::string& err) {
    if (!err.empty()) problems.push_back(err);
  };
  note(query(db.get(), "PRAGMA integrity_check", [&](const auto& row) {
    if (row[0] != "ok") problems.push_back("integrity_check: " + row[0]);
  }));
  note(query(db.get(), "PRAGMA foreign_key_check", [&](const auto& row) {
    problems.push_back("foreign key violation in " + row[0] + " rowid " + row[1]);
  }));
  note(query(db.get(),
             "SELECT r.name, m.digest, m.size FROM manifests m JOIN repositories r"
             " ON r.id = m.repo_id",
             [&](const auto& row) {
               note(expect_blob_file(data, row[1], row[2], "manifest row " + row[0]));
             }));
  note(query(db.get(),
             "SELECT r.name, mr.manifest, mr.ref FROM manifest_refs mr JOIN repositories r"
             " ON r.id = mr.repo_id WHERE mr.kind = 0",
             [&](const auto& row) {
               note(expect_blob_file(data, row[2], "", "manifest_refs " + row[0] + "@" + row[1]));
             }));
  note(query(db.get(),
             "SELECT r.name, b.digest, b.size FROM repo_blobs b JOIN repositories r"
             " ON r.id = b.repo_id",
             [&](const auto& row) {
               note(expect_blob_file(data, row[1], row[2], "repo_blobs " + row[0]));
             }));
  return problems;
}

std::string join(const std::vector<std::string>& items, std::size_t max) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < max; ++i) {
    if (i) out += "; ";
    out += items[i];
  }
  if (items.size() > max) out += "; ... (" + std::to_string(items.size()) + " in all)";
  return out;
}

}  // namespace drydock::testing
