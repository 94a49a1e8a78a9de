#include "builder/tar_writer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>

#include <string_view>

namespace drydock::builder {
namespace {

// libarchive buffers output into blocks of this size before calling us.
constexpr int kBlockSize = 64 * 1024;

// libarchive converts names from the thread's locale charset to UTF-8 for PAX
// records; in the "C" locale any non-ASCII name fails that conversion (and
// archive_entry_pathname() returns NULL). Linux names are UTF-8 bytes, so each
// call runs under C.UTF-8 for this thread only, whatever the process locale:
// the same tree gives the same bytes. Names that are not valid UTF-8 still go
// through, as raw bytes with hdrcharset=BINARY.
class Utf8LocaleScope {
 public:
  Utf8LocaleScope() {
    static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    if (utf8 != static_cast<locale_t>(0)) previous_ = uselocale(utf8);
  }
  ~Utf8LocaleScope() {
    if (previous_ != static_cast<locale_t>(0)) uselocale(previous_);
  }
  Utf8LocaleScope(const Utf8LocaleScope&) = delete;
  Utf8LocaleScope& operator=(const Utf8LocaleScope&) = delete;

 private:
  locale_t previous_ = static_cast<locale_t>(0);
};

struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using EntryPtr = std::unique_ptr<archive_entry, EntryDeleter>;

EntryPtr make_entry(const TarHeader& h) {
  EntryPtr e(archive_entry_new());
  bool is_dir = h.type == S_IFDIR;
  // Directories end in '/', as containerd writes them.
  std::string name = is_dir ? h.name + "/" : h.name;
  archive_entry_copy_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), h.type);
  archive_entry_set_perm(e.get(), h.perm & 07777);
  archive_entry_set_uid(e.get(), h.owner.uid);
  archive_entry_set_gid(e.get(), h.owner.gid);
  archive_entry_set_mtime(e.get(), h.mtime, 0);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(h.size));
  if (!h.hardlink.empty()) {
    archive_entry_copy_hardlink(e.get(), h.hardlink.c_str());
    archive_entry_set_size(e.get(), 0);
  } else if (h.type == S_IFLNK) {
    archive_entry_copy_symlink(e.get(), h.symlink.c_str());
  } else if (h.type == S_IFCHR || h.type == S_IFBLK) {
    archive_entry_set_rdevmajor(e.get(), h.dev_major);
    archive_entry_set_rdevminor(e.get(), h.dev_minor);
  }
  for (const auto& [key, value] : h.xattrs) {
    archive_entry_xattr_add_entry(e.get(), key.c_str(), value.data(), value.size());
  }
  return e;
}

}  // namespace

struct TarWriter::Impl {
  archive* a = nullptr;
  std::function<LayerResult<void>(std::span<const std::byte>)> out;
  std::optional<LayerError> stream_error;  // what the output callback hit
  bool discard = false;                    // tearing down after a failure
  bool closed = false;

  static la_ssize_t on_write(archive*, void* self, const void* buf, size_t n) {
    auto* impl = static_cast<Impl*>(self);
    if (impl->discard) return -1;
    auto r = impl->out(std::span(static_cast<const std::byte*>(buf), n));
    if (!r) {
      impl->stream_error = r.error();
      return -1;
    }
    return static_cast<la_ssize_t>(n);
  }

  // The stream's own error if it caused the failure, else libarchive's.
  std::unexpected<LayerError> failure(std::string_view what, std::string_view name) {
    if (stream_error) return std::unexpected(*stream_error);
    const char* msg = archive_error_string(a);
    std::string text = std::string(what) + " " + std::string(name) + ": " +
                       (msg != nullptr ? msg : "libarchive failed");
    return std::unexpected(LayerError{LayerErrorCode::kArchive, std::move(text)});
  }

  ~Impl() {
    if (a == nullptr) return;
    Utf8LocaleScope locale;
    if (!closed) discard = true;
    archive_write_free(a);
  }
};

TarWriter::TarWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TarWriter::~TarWriter() = default;

LayerResult<std::unique_ptr<TarWriter>> TarWriter::open(GzipHashStream& out) {
  return open_with([&out](std::span<const std::byte> bytes) { return out.write(bytes); });
}

LayerResult<std::unique_ptr<TarWriter>> TarWriter::open(LayerSink& out) {
  return open_with([&out](std::span<const std::byte> bytes) { return out.write(bytes); });
}

LayerResult<std::unique_ptr<TarWriter>> TarWriter::open_with(
    std::function<LayerResult<void>(std::span<const std::byte>)> out) {
  Utf8LocaleScope locale;
  auto impl = std::make_unique<Impl>();
  impl->out = std::move(out);
  impl->a = archive_write_new();
  if (impl->a == nullptr) {
    return std::unexpected(LayerError{LayerErrorCode::kArchive, "archive_write_new failed"});
  }
  archive* a = impl->a;
  bool ok = archive_write_set_format_pax_restricted(a) == ARCHIVE_OK &&
            // Only SCHILY.xattr.* records (what Go and GNU tar read), not the
            // LIBARCHIVE.xattr.* duplicates libarchive would add by default.
            archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY") == ARCHIVE_OK &&
            archive_write_set_bytes_per_block(a, kBlockSize) == ARCHIVE_OK &&
            archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK &&
            archive_write_open(a, impl.get(), nullptr, &Impl::on_write, nullptr) == ARCHIVE_OK;
  if (!ok) return impl->failure("open", "tar writer");
  return std::unique_ptr<TarWriter>(new TarWriter(std::move(impl)));
}

LayerResult<void> TarWriter::write_header(const TarHeader& header) {
  Utf8LocaleScope locale;
  EntryPtr e = make_entry(header);
  // ARCHIVE_WARN (e.g. a name that is not valid UTF-8, stored as binary) is
  // not a failure: the entry was written.
  if (archive_write_header(impl_->a, e.get()) < ARCHIVE_WARN) {
    return impl_->failure("write tar header for", header.name);
  }
  return {};
}

LayerResult<void> TarWriter::write_data(std::span<const std::byte> bytes) {
  Utf8LocaleScope locale;
  while (!bytes.empty()) {
    la_ssize_t n = archive_write_data(impl_->a, bytes.data(), bytes.size());
    if (n <= 0) return impl_->failure("write tar data", "");
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

LayerResult<void> TarWriter::close() {
  Utf8LocaleScope locale;
  impl_->closed = true;
  if (archive_write_close(impl_->a) != ARCHIVE_OK) return impl_->failure("close", "tar writer");
  return {};
}

}  // namespace drydock::builder
