#pragma once

// Helpers for the image archive tests: tars built and read in memory with
// libarchive, and images stored straight through the storage interfaces.

#include <archive.h>
#include <archive_entry.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "storage/blob_store.hpp"
#include "storage/digest.hpp"
#include "storage/metadata_store.hpp"

namespace drydock::images::testing {

using Files = std::vector<std::pair<std::string, std::string>>;

// A tar of `files` (regular files, in order), gzip'd if asked.
inline std::string make_tar(const Files& files, bool gzip = false) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_set_bytes_in_last_block(a, 1);
  std::size_t bytes = 1 << 20;
  for (const auto& f : files) bytes += f.second.size() + 4096;
  std::vector<char> buf(bytes);
  size_t used = 0;
  archive_write_open_memory(a, buf.data(), buf.size(), &used);
  for (const auto& [name, data] : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_write_header(a, e);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buf.data(), used);
}

// gzip of `data` (a layer).
inline std::string gzip(const std::string& data) {
  archive* a = archive_write_new();
  archive_write_set_format_raw(a);
  archive_write_add_filter_gzip(a);
  archive_write_set_bytes_in_last_block(a, 1);
  std::vector<char> buf(data.size() + 4096);
  size_t used = 0;
  archive_write_open_memory(a, buf.data(), buf.size(), &used);
  archive_entry* e = archive_entry_new();
  archive_entry_set_filetype(e, AE_IFREG);
  archive_write_header(a, e);
  archive_write_data(a, data.data(), data.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buf.data(), used);
}

// Every regular file of a tar (compressed or not): name -> content.
inline std::map<std::string, std::string> read_tar(const std::string& tar) {
  std::map<std::string, std::string> out;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_memory(a, tar.data(), tar.size()) != ARCHIVE_OK) {
    archive_read_free(a);
    return out;
  }
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string content;
    char piece[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, piece, sizeof piece)) > 0) content.append(piece, n);
    out[archive_entry_pathname(e)] = content;
  }
  archive_read_free(a);
  return out;
}

// A one-file layer tar.
inline std::string layer_tar(const std::string& file, const std::string& content) {
  return make_tar({{file, content}});
}

inline std::string hex_of(const std::string& data) { return storage::digest_of(data).hex; }

// A docker image config over these uncompressed layers.
inline std::string config_json(const std::vector<std::string>& plain_layers,
                               const std::string& arch = "amd64", const std::string& marker = "") {
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& l : plain_layers) ids.push_back(storage::digest_of(l).str());
  return nlohmann::json{{"architecture", arch},
                        {"os", "linux"},
                        {"created", "2024-01-01T00:00:00Z"},
                        {"config", {{"Cmd", {"/bin/sh"}}, {"Env", {"M=" + marker}}}},
                        {"rootfs", {{"type", "layers"}, {"diff_ids", ids}}}}
      .dump();
}

}  // namespace drydock::images::testing
