// Fuzz target "tar": builder/archive_extract.hpp through its two users,
// build-context intake (builder/context.hpp) and layer unpacking
// (builder/layer_unpack.hpp). Each input is extracted for real into a fresh
// directory under /dev/shm (or $TMPDIR) and removed afterwards; next to it
// lies a canary directory that no archive may touch.

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "builder/context.hpp"
#include "builder/layer_unpack.hpp"
#include "fuzz/fuzz_target.hpp"
#include "storage/unique_fd.hpp"

namespace drydock::fuzz {
namespace {

namespace fs = std::filesystem;
using namespace drydock::builder;

constexpr std::string_view kCanaryText = "canary\n";

// Small caps: a fuzzer input must not fill /dev/shm.
constexpr ExtractLimits kLimits{.max_bytes = 16 << 20, .max_entries = 10'000,
                                .max_path_length = 4096};

// This process's scratch directory, made once and removed at exit.
class Scratch {
 public:
  Scratch() {
    fs::path top = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    dir_ = top / ("drydock-fuzz-tar-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(outside());
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const fs::path& dir() const { return dir_; }
  fs::path outside() const { return dir_ / "outside"; }

 private:
  fs::path dir_;
};

const Scratch& scratch() {
  static const Scratch s;
  return s;
}

// The input as a readable descriptor positioned at its start.
storage::UniqueFd input_fd(Input in) {
  storage::UniqueFd fd(::memfd_create("drydock-fuzz-tar", MFD_CLOEXEC));
  expect(fd.get() >= 0, "memfd_create failed");
  std::size_t done = 0;
  while (done < in.size()) {
    ssize_t n = ::write(fd.get(), in.data() + done, in.size() - done);
    expect(n > 0, "cannot write the input to a memfd");
    done += static_cast<std::size_t>(n);
  }
  expect(::lseek(fd.get(), 0, SEEK_SET) == 0, "lseek failed");
  return fd;
}

void rewind(const storage::UniqueFd& fd) {
  expect(::lseek(fd.get(), 0, SEEK_SET) == 0, "lseek failed");
}

// Removes what an earlier input left (only after a failed check) and puts
// a fresh canary in place.
void reset_scratch() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(scratch().dir())) fs::remove_all(e.path(), ec);
  fs::create_directories(scratch().outside());
  std::ofstream(scratch().outside() / "canary") << kCanaryText;
}

// Nothing outside `root` changed: the scratch directory holds only the
// extraction roots and the canary directory, which holds only the canary,
// unchanged and with no extra hard link.
void check_contained(const std::set<std::string>& roots) {
  for (const auto& e : fs::directory_iterator(scratch().dir())) {
    const std::string name = e.path().filename();
    expect(name == "outside" || roots.contains(name), "an archive wrote outside its root: " + name);
  }
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(scratch().outside())) ++entries;
  expect(entries == 1, "an archive wrote into the canary directory");
  struct stat st {};
  const fs::path canary = scratch().outside() / "canary";
  expect(::lstat(canary.c_str(), &st) == 0 && S_ISREG(st.st_mode), "the canary was replaced");
  expect(st.st_nlink == 1, "an archive hard-linked the canary");
  std::ifstream in(canary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  expect(text == kCanaryText, "an archive changed the canary");
}

// remove_tree() (the cleanup after every failed extraction) removes all.
void clean(const fs::path& root) {
  auto removed = remove_tree(root);
  std::error_code ec;
  const bool gone = !fs::exists(fs::symlink_status(root, ec));
  if (!gone) fs::remove_all(root, ec);
  expect(removed.has_value() && gone, "remove_tree left an extracted tree behind");
}

void check_context(const storage::UniqueFd& fd) {
  const fs::path root = scratch().dir() / "context";
  ContextOptions options;
  options.limits = kLimits;
  options.max_dockerfile_bytes = 1 << 20;
  auto context = extract_context(fd.get(), root, options);
  check_contained({"context"});
  if (context) {
    expect(context->stats.bytes <= kLimits.max_bytes, "extraction went over its byte limit");
    for (const auto& path : context->ignored) {
      std::error_code ec;
      expect(!fs::exists(fs::symlink_status(root / path, ec)), "an ignored path is still there");
    }
    // The same archive again over the context, as a context sync sends it.
    rewind(fd);
    (void)update_context(fd.get(), root, options,
                         [](const std::string& path) { return !path.starts_with("deny"); });
    check_contained({"context"});
  }
  clean(root);
}

void check_layer(const storage::UniqueFd& fd) {
  const fs::path root = scratch().dir() / "layer";
  UnpackOptions options;
  options.limits = kLimits;
  auto unpacked = unpack_layer(fd.get(), root, options);
  check_contained({"layer"});
  if (unpacked) expect(unpacked->archive.bytes <= kLimits.max_bytes, "layer over its byte limit");
  clean(root);
}

}  // namespace

void fuzz_tar(Input in) {
  reset_scratch();
  storage::UniqueFd fd = input_fd(in);
  check_context(fd);
  rewind(fd);
  check_layer(fd);
}

}  // namespace drydock::fuzz
