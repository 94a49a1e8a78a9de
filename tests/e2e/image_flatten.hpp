#pragma once
// The flattened filesystem of an image, read from a `docker export` tar, and a
// field-by-field comparison of two of them (used by build_diff_test.cpp).
#include <expected>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace drydock::e2e {

// One path of a flattened filesystem.
struct FsEntry {
  char type = '?';    // 'f' file, 'd' directory, 'l' symlink, 'c'/'b' device, 'p' fifo
  unsigned mode = 0;  // permission bits with setuid, setgid and sticky
  long long uid = 0;
  long long gid = 0;
  long long size = 0;  // regular files only
  std::string sha256;  // regular files only, hex
  std::string link;    // symlink target
  // Other paths that are hard links to the same file, sorted, joined by ' '.
  // Tar names one of them the file and the rest links; which one depends on walk
  // order, so the group is kept instead.
  std::string hardlinks;
  std::map<std::string, std::string> xattrs;  // name -> value
  long long mtime = 0;                        // seconds
  bool operator==(const FsEntry&) const = default;
};

// Absolute path ("/etc/hostname", "/" never appears) -> entry.
using FlatFs = std::map<std::string, FsEntry>;

// Reads a tar (as `docker export` writes it) into a FlatFs; hashes file contents.
std::expected<FlatFs, std::string> read_flat_fs(const std::filesystem::path& tar);

// One differing field of one path: `field` is "presence", "type", "mode", "owner",
// "size", "sha256", "link", "hardlinks", "xattrs" or "mtime"; left/right as text.
struct FsDifference {
  std::string path;
  std::string field;
  std::string left;
  std::string right;
};

// Every difference between `left` and `right`, in path order. Modification times are
// compared only for non-directories where one side has `kept_mtime` (the time the
// inputs were given, which COPY and ADD keep); elsewhere they are the build's.
std::vector<FsDifference> compare_fs(const FlatFs& left, const FlatFs& right, long long kept_mtime);

// "f 0644 0:0 12 sha256:ab12.." style one-line summary, for messages.
std::string describe(const FsEntry& entry);

}  // namespace drydock::e2e
