#include "server/image_cli.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "auth/secrets.hpp"
#include "server/cli_http_client.hpp"
#include "storage/posix_io.hpp"

namespace drydock::server {
namespace {

using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr std::size_t kPiece = 1 << 20;

constexpr const char* kImageUsage =
    R"(Usage: drydock image COMMAND [options]

Moves images in and out of a drydock server as tar archives, as docker save
and docker load do, and lists, inspects and removes them.

Commands:
  export NAME[:TAG]|NAME@DIGEST [-o FILE] [--format docker|oci]
         [--platform OS/ARCH[/VARIANT]] [--name REF]
      Writes the image as a tar to FILE (or stdout, not a terminal).
      docker (default): what `docker load` reads; RepoTags is NAME:TAG as
      stored here, without a registry host, unless --name REF gives another
      (e.g. localhost:5000/team/app:1). A multi-platform image exports one
      platform: --platform, default linux/amd64.
      oci: an OCI image layout (oci-layout, index.json, blobs/), the whole
      index with every platform; skopeo and podman read it as oci-archive:.
  import FILE|- [--repository NAME[:TAG]]
      Stores the images of a `docker save` tarball (one or several images;
      plain or gzip) or an OCI layout tar, and tags them by their RepoTags
      (a registry host is dropped: localhost:5000/team/app:1 is stored as
      team/app:1). --repository names images the archive leaves unnamed.
      Needs push access to every repository it tags; nothing is stored if
      one is refused, or if a tag it would move is immutable.
  ls [REPOSITORY] [--json]
      Repositories, tags, digests, platforms and sizes. A size is bytes as
      stored (layers as pushed, usually compressed), each blob of an image
      counted once; the total counts layers shared by images once.
  inspect NAME[:TAG]|NAME@DIGEST [--platform OS/ARCH[/VARIANT]]
      The image's config and layers, as `docker image inspect` shows them.
  rm NAME[:TAG]|NAME@DIGEST...
      Removes the tag; the last tag of a manifest deletes the manifest (as
      docker rmi). By digest: the manifest and every tag on it. The space
      comes back when garbage collection runs.

Options for every command:
  --server URL     the server (default $DRYDOCK_SERVER, else
                   http://127.0.0.1:5000)
  --ca-cert FILE   also trust this PEM CA bundle ($DRYDOCK_CA_CERT)
  --user NAME      authenticate as NAME ($DRYDOCK_USER) with the password or
                   access token in $DRYDOCK_PASSWORD
  -h, --help       this text

Exit status: 0 done; 1 the server refused or the transfer failed (the
reason is printed); 2 usage error, or the server could not be reached.
)";

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ImageArgs {
  std::string command;
  std::vector<std::string> operands;
  std::optional<std::string> output, format, platform, name, repository;
  std::optional<std::string> server, ca_cert, user;
  bool json = false;
  bool help = false;
};

CliHttpOptions client_options(const ImageArgs& a) {
  auto o = cli_connection(a.server, a.ca_cert, a.user);
  if (!o) throw UsageError(o.error());
  return *std::move(o);
}

ImageArgs parse_args(const std::vector<std::string>& args) {
  ImageArgs a;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw UsageError(arg + " needs a value");
      return args[++i];
    };
    std::optional<std::string>* slot = nullptr;
    if (arg == "-h" || arg == "--help") {
      a.help = true;
    } else if (arg == "--json") {
      a.json = true;
    } else if (arg == "-o" || arg == "--output") {
      slot = &a.output;
    } else if (arg == "--format") {
      slot = &a.format;
    } else if (arg == "--platform") {
      slot = &a.platform;
    } else if (arg == "--name") {
      slot = &a.name;
    } else if (arg == "--repository") {
      slot = &a.repository;
    } else if (arg == "--server") {
      slot = &a.server;
    } else if (arg == "--ca-cert") {
      slot = &a.ca_cert;
    } else if (arg == "--user") {
      slot = &a.user;
    } else if (arg.size() > 1 && arg[0] == '-') {
      throw UsageError("unknown option " + arg);
    } else if (a.command.empty()) {
      a.command = arg;
    } else {
      a.operands.push_back(arg);
    }
    if (slot != nullptr) *slot = value();
  }
  return a;
}



// The exit status for a failed or refused request, after saying why.
int report_failure(const CliHttpResult<CliHttpReply>& reply, std::string_view what) {
  if (!reply) {
    std::fprintf(stderr, "drydock image %s: %s\n", std::string(what).c_str(),
                 reply.error().message.c_str());
    return reply.error().code == CliHttpErrc::kUnreachable ? kExitUsage : kExitFailed;
  }
  std::fprintf(stderr, "drydock image %s: %s\n", std::string(what).c_str(),
               describe_error(*reply).c_str());
  if (reply->status == 401) {
    std::fputs("drydock: give --user NAME (or DRYDOCK_USER) and DRYDOCK_PASSWORD\n", stderr);
  }
  return kExitFailed;
}

bool ok(const CliHttpResult<CliHttpReply>& r) { return r && r->status / 100 == 2; }

std::string one_operand(const ImageArgs& a, const char* what) {
  if (a.operands.size() != 1) throw UsageError(a.command + " takes one " + what);
  return a.operands[0];
}

bool write_all(int fd, const char* data, std::size_t n) {
  return storage::posix::write_all(fd, data, n) == 0;
}

int run_export(CliHttpClient& client, const ImageArgs& a) {
  std::string ref = one_operand(a, "image");
  std::string target =
      "/images/" + ref + "/export?format=" + url_encode(a.format.value_or("docker"));
  if (a.format && *a.format != "docker" && *a.format != "oci") {
    throw UsageError("--format must be docker or oci");
  }
  if (a.platform) target += "&platform=" + url_encode(*a.platform);
  if (a.name) target += "&name=" + url_encode(*a.name);
  // To FILE through FILE.part, renamed once complete: a broken transfer
  // never leaves a file that looks whole.
  int fd = STDOUT_FILENO;
  std::string part;
  if (a.output && *a.output != "-") {
    part = *a.output + ".part";
    fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw UsageError("cannot create " + part + ": " + std::strerror(errno));
  } else if (::isatty(STDOUT_FILENO)) {
    throw UsageError("refusing to write a tar to a terminal: use -o FILE or redirect stdout");
  }
  bool written = true;
  auto reply = client.get_streaming(target, [&](std::string_view data) {
    written = written && write_all(fd, data.data(), data.size());
  });
  bool done = ok(reply) && written;
  if (!part.empty()) {
    done = ::fsync(fd) == 0 && done;
    ::close(fd);
    if (done) {
      std::filesystem::rename(part, *a.output);
    } else {
      ::unlink(part.c_str());
    }
  }
  if (!ok(reply)) return report_failure(reply, "export");
  if (!written || !done) {
    std::fprintf(stderr, "drydock image export: cannot write the archive: %s\n",
                 std::strerror(errno));
    return kExitFailed;
  }
  return kExitOk;
}

int run_import(CliHttpClient& client, const ImageArgs& a) {
  std::string file = one_operand(a, "file (or -)");
  int fd = STDIN_FILENO;
  if (file == "-" && ::isatty(STDIN_FILENO)) {
    throw UsageError("import - reads the archive from stdin, which is a terminal");
  }
  if (file != "-") {
    fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw UsageError("cannot open " + file + ": " + std::strerror(errno));
  }
  std::string target = "/images/import";
  if (a.repository) target += "?repository=" + url_encode(*a.repository);
  auto reply = client.post_chunked(
      target, "application/x-tar", [&](const BodyWriter& send) -> std::expected<void, std::string> {
        std::vector<std::byte> buf(kPiece);
        for (;;) {
          ssize_t n = ::read(fd, buf.data(), buf.size());
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) return std::unexpected("reading " + file + ": " + std::strerror(errno));
          if (n == 0) return {};
          if (auto r = send({buf.data(), static_cast<std::size_t>(n)}); !r) return r;
        }
      });
  if (fd != STDIN_FILENO) ::close(fd);
  if (!ok(reply)) return report_failure(reply, "import");
  json doc = json::parse(reply->body, nullptr, false);
  for (const auto& img : doc.value("images", json::array())) {
    std::printf("Loaded image: %s (%s)\n", img.value("name", "").c_str(),
                img.value("digest", "").c_str());
  }
  return kExitOk;
}

// Bytes as docker shows them (SI units): "4.26MB".
std::string human_size(std::uint64_t n) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.3g%s", v, units[u]);
  return buf;
}

std::string short_digest(const std::string& d) {
  auto colon = d.find(':');
  return colon == std::string::npos ? d : d.substr(colon + 1, 12);
}

int run_ls(CliHttpClient& client, const ImageArgs& a) {
  if (a.operands.size() > 1) throw UsageError("ls takes at most one repository");
  std::string target = "/images";
  if (!a.operands.empty()) target += "?repository=" + url_encode(a.operands[0]);
  auto reply = client.request("GET", target);
  if (!ok(reply)) return report_failure(reply, "ls");
  if (a.json) {
    std::printf("%s\n", reply->body.c_str());
    return kExitOk;
  }
  json doc = json::parse(reply->body, nullptr, false);
  std::printf("%-40s %-20s %-14s %-28s %10s\n", "REPOSITORY", "TAG", "DIGEST", "PLATFORMS", "SIZE");
  std::size_t tags = 0, repos = 0;
  for (const auto& r : doc.value("repositories", json::array())) {
    ++repos;
    for (const auto& t : r.value("tags", json::array())) {
      ++tags;
      std::string platforms;
      for (const auto& p : t.value("platforms", json::array())) {
        if (!platforms.empty()) platforms += ",";
        platforms += p.get<std::string>();
      }
      std::printf("%-40s %-20s %-14s %-28s %10s\n", r.value("name", "").c_str(),
                  t.value("tag", "").c_str(), short_digest(t.value("digest", "")).c_str(),
                  platforms.empty() ? "-" : platforms.c_str(),
                  human_size(t.value("size", 0ULL)).c_str());
    }
  }
  std::printf("%zu tags in %zu repositories, %s in all (layers shared by images counted once)\n",
              tags, repos, human_size(doc.value("size", 0ULL)).c_str());
  return kExitOk;
}

int run_inspect(CliHttpClient& client, const ImageArgs& a) {
  std::string ref = one_operand(a, "image");
  std::string target = "/images/" + ref + "/json";
  if (a.platform) target += "?platform=" + url_encode(*a.platform);
  auto reply = client.request("GET", target);
  if (!ok(reply)) return report_failure(reply, "inspect");
  json doc = json::parse(reply->body, nullptr, false);
  std::printf("%s\n", json::array({doc}).dump(4).c_str());
  return kExitOk;
}

int run_rm(CliHttpClient& client, const ImageArgs& a) {
  if (a.operands.empty()) throw UsageError("rm takes at least one image");
  int status = kExitOk;
  for (const auto& ref : a.operands) {
    auto reply = client.request("DELETE", "/images/" + ref);
    if (!ok(reply)) {
      int s = report_failure(reply, "rm");
      status = std::max(status, s);
      continue;
    }
    json doc = json::parse(reply->body, nullptr, false);
    for (const auto& u : doc.value("untagged", json::array())) {
      std::printf("Untagged: %s\n", u.get<std::string>().c_str());
    }
    for (const auto& d : doc.value("deleted", json::array())) {
      std::printf("Deleted: %s\n", d.get<std::string>().c_str());
    }
  }
  return status;
}

int run(const ImageArgs& a) {
  using Command = int (*)(CliHttpClient&, const ImageArgs&);
  const std::pair<const char*, Command> commands[] = {
      {"export", run_export}, {"save", run_export}, {"import", run_import},   {"load", run_import},
      {"ls", run_ls},         {"list", run_ls},     {"inspect", run_inspect}, {"rm", run_rm}};
  for (const auto& [name, fn] : commands) {
    if (a.command != name) continue;
    std::signal(SIGPIPE, SIG_IGN);
    CliHttpClient client(client_options(a));
    return fn(client, a);
  }
  throw UsageError(a.command.empty() ? "a command is needed" : "unknown command " + a.command);
}

}  // namespace

int run_image_command(const std::vector<std::string>& args) {
  try {
    ImageArgs a = parse_args(args);
    if (a.help) {
      std::fputs(kImageUsage, stdout);
      return kExitOk;
    }
    return run(a);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "drydock image: %s (see drydock image --help)\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drydock image: %s\n", e.what());
    return kExitUsage;
  }
}

}  // namespace drydock::server
