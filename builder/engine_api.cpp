#include "builder/engine_api.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <regex>

namespace drydock::builder {

namespace {

using json = nlohmann::json;

// Invalid UTF-8 in build output (a RUN printing binary) is replaced, not
// thrown on: the stream must go on.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// dockerd's stream formatter ends each JSON message with CRLF.
std::string message(const json& j) { return dump(j) + "\r\n"; }

bool truthy(const std::vector<std::string>& v) {
  return !v.empty() && (v.back() == "1" || v.back() == "true" || v.back() == "True");
}

// A JSON object of strings (buildargs, labels) as pairs, sorted by key; null
// values (`--build-arg K` with K unset in the client's environment) dropped,
// as dockerd does.
std::expected<std::vector<std::pair<std::string, std::string>>, std::string> string_map(
    const std::vector<std::string>& values, std::string_view name) {
  std::vector<std::pair<std::string, std::string>> out;
  if (values.empty() || values.back().empty()) return out;
  json j = json::parse(values.back(), nullptr, false);
  if (!j.is_object()) return std::unexpected(std::string(name) + " must be a JSON object");
  for (const auto& [k, v] : j.items()) {
    if (v.is_null()) continue;
    if (!v.is_string()) return std::unexpected(std::string(name) + "." + k + " must be a string");
    out.emplace_back(k, v.get<std::string>());
  }
  return out;
}

// Docker's rule (reference.splitDockerDomain): the first path component is
// a registry host when it has a '.' or ':' or is "localhost" or has capitals.
std::string_view without_host(std::string_view ref) {
  auto slash = ref.find('/');
  if (slash == std::string_view::npos) return ref;
  auto first = ref.substr(0, slash);
  bool host = first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
              std::any_of(first.begin(), first.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
  return host ? ref.substr(slash + 1) : ref;
}

}  // namespace

std::optional<EngineEndpoint> engine_endpoint(std::string_view path) {
  static const std::regex kVersioned(R"(/v1\.[0-9]+(/.*))");
  std::string rest(path);
  std::cmatch m;
  bool versioned = std::regex_match(path.begin(), path.end(), m, kVersioned);
  if (versioned) rest = m[1].str();
  if (rest == "/_ping") return EngineEndpoint::kPing;
  if (rest == "/version") return EngineEndpoint::kVersion;
  if (rest == "/build") return EngineEndpoint::kBuild;
  if (rest == "/session" || rest == "/grpc") return EngineEndpoint::kBuildKit;
  if (versioned) return EngineEndpoint::kUnknown;
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> ping_headers() {
  return {{"Api-Version", std::string(kEngineApiVersion)},
          {"Ostype", "linux"},
          {"Docker-Experimental", "false"},
          // "1": the classic builder. A client that defaults to BuildKit
          // still needs DOCKER_BUILDKIT=0 (README).
          {"Builder-Version", "1"},
          {"Cache-Control", "no-cache, no-store, must-revalidate"},
          {"Pragma", "no-cache"}};
}

std::string version_json(std::string_view server_version) {
  json engine = {{"Name", "Engine"},
                 {"Version", server_version},
                 {"Details",
                  {{"ApiVersion", kEngineApiVersion},
                   {"MinAPIVersion", kEngineMinApiVersion},
                   {"Os", "linux"},
                   {"Arch", "amd64"}}}};
  json j = {{"Platform", {{"Name", "Drydock"}}},
            {"Components", json::array({engine})},
            {"Version", server_version},
            {"ApiVersion", kEngineApiVersion},
            {"MinAPIVersion", kEngineMinApiVersion},
            {"GitCommit", ""},
            {"GoVersion", ""},
            {"Os", "linux"},
            {"Arch", "amd64"},
            {"KernelVersion", ""},
            {"BuildTime", ""}};
  return dump(j);
}

std::string engine_error_json(std::string_view message) { return dump(json{{"message", message}}); }

std::string engine_tag(std::string_view reference) {
  if (reference.find('@') != std::string_view::npos) return {};
  std::string_view name = without_host(reference);
  auto colon = name.rfind(':');
  auto slash = name.rfind('/');
  std::string repo(name), tag = "latest";
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    repo = name.substr(0, colon);
    tag = name.substr(colon + 1);
  }
  if (repo.empty()) return {};
  return repo + ":" + tag;
}

std::expected<EngineBuild, std::string> parse_engine_build(const QueryValues& query) {
  EngineBuild b;
  auto one = [&](std::string_view k) {
    auto v = query(k);
    return v.empty() ? std::string() : v.back();
  };
  if (one("version") == "2") {
    return std::unexpected(
        "BuildKit is not supported by this server: build with DOCKER_BUILDKIT=0");
  }
  if (!one("remote").empty()) return std::unexpected("remote build contexts are not supported");
  if (auto p = one("platform"); !p.empty() && !p.starts_with("linux/amd64")) {
    return std::unexpected("platform " + p + " is not supported (linux/amd64 only)");
  }
  for (const auto& t : query("t")) {
    auto tag = engine_tag(t);
    if (tag.empty()) return std::unexpected("invalid tag t=" + t);
    b.params.tags.push_back(tag);
    // The form docker prints: the reference as given, with its tag.
    auto name = without_host(t);
    bool tagged = name.rfind(':') != std::string_view::npos &&
                  (name.rfind('/') == std::string_view::npos || name.rfind(':') > name.rfind('/'));
    b.shown_tags.push_back(tagged ? t : t + ":latest");
  }
  if (auto d = one("dockerfile"); !d.empty()) b.params.dockerfile = d;
  b.params.target = one("target");
  b.params.no_cache = truthy(query("nocache"));
  b.quiet = truthy(query("q"));
  auto args = string_map(query("buildargs"), "buildargs");
  if (!args) return std::unexpected(args.error());
  b.params.build_args = std::move(*args);
  auto labels = string_map(query("labels"), "labels");
  if (!labels) return std::unexpected(labels.error());
  b.params.labels = std::move(*labels);
  return b;
}

std::expected<void, std::string> complete_tar(const std::filesystem::path& path) {
  constexpr std::size_t kBlock = 512;
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::unexpected(path.string() + ": " + std::strerror(errno));
  std::array<char, kBlock> head{};
  ssize_t n = ::pread(fd, head.data(), head.size(), 0);
  off_t size = ::lseek(fd, 0, SEEK_END);
  // POSIX ustar and GNU tar both have "ustar" at offset 257 (a compressed
  // context does not).
  bool tar = n == static_cast<ssize_t>(kBlock) && std::memcmp(head.data() + 257, "ustar", 5) == 0;
  std::string error;
  if (tar && size > 0) {
    std::size_t pad = (kBlock - static_cast<std::size_t>(size) % kBlock) % kBlock + 2 * kBlock;
    std::string zeros(pad, '\0');
    if (::pwrite(fd, zeros.data(), zeros.size(), size) != static_cast<ssize_t>(zeros.size())) {
      error = path.string() + ": " + std::strerror(errno);
    }
  }
  ::close(fd);
  if (!error.empty()) return std::unexpected(error);
  return {};
}

std::string BuildMessages::stream(std::string_view text) {
  if (quiet_ || text.empty()) return {};
  return message(json{{"stream", text}});
}

std::string BuildMessages::line(std::string_view text) {
  static const std::regex kStep(R"(#([0-9]+) \[([^\]]*) ([0-9]+)/([0-9]+)\] (.*)\n)");
  static const std::regex kCached(R"(#[0-9]+ CACHED\n)");
  static const std::regex kOther(R"(#([0-9]+) \[[^\]]*\] (.*)\n)");
  std::string out;
  if (!held_error_.empty()) out = stream(std::exchange(held_error_, {}));
  if (text.starts_with("#done image config ")) {
    auto id = text.substr(std::string_view("#done image config ").size());
    if (id.ends_with('\n')) id.remove_suffix(1);
    image_id_ = id;
    return out;
  }
  if (text.starts_with("#done ")) return out;  // "writing image", "naming to": said at the end
  if (text.starts_with("ERROR: ")) {
    held_error_ = text;
    return out;
  }
  // Only short '#' lines can be the service's (std::regex recurses per
  // character: never run it over a long output line).
  constexpr std::size_t kMaxStepLine = 8192;
  if (!text.starts_with('#') || text.size() > kMaxStepLine) return out + stream(text);
  std::cmatch m;
  if (std::regex_match(text.begin(), text.end(), m, kStep)) {
    // Classic docker numbers steps over the whole file; the log numbers
    // them per stage, so other stages say which step of theirs it is.
    std::string n = m[1].str(), k = m[3].str(), total = m[4].str();
    std::string head = n == k ? "Step " + k + "/" + total
                              : "Step " + n + " [" + m[2].str() + " " + k + "/" + total + "]";
    return out + stream(head + " : " + m[5].str() + "\n");
  }
  if (std::regex_match(text.begin(), text.end(), m, kCached)) {
    return out + stream(" ---> Using cache\n");  // dockerd's words for a cache hit
  }
  if (std::regex_match(text.begin(), text.end(), m, kOther)) {
    return out + stream("Step " + m[1].str() + " : " + m[2].str() + "\n");
  }
  return out + stream(text);
}

std::string BuildMessages::feed(std::string_view log_piece) {
  std::string out;
  partial_.append(log_piece);
  std::size_t start = 0;
  for (auto nl = partial_.find('\n'); nl != std::string::npos; nl = partial_.find('\n', start)) {
    out += line(std::string_view(partial_).substr(start, nl + 1 - start));
    start = nl + 1;
  }
  partial_.erase(0, start);
  return out;
}

std::string BuildMessages::flush() {
  if (partial_.empty() || partial_.starts_with('#') || partial_.starts_with("ERROR: ")) return {};
  return line(std::exchange(partial_, {}));
}

std::string BuildMessages::succeeded(const std::vector<std::string>& shown_tags) {
  std::string out;
  if (!partial_.empty()) out = line(std::exchange(partial_, {}));
  if (!held_error_.empty()) out += stream(std::exchange(held_error_, {}));
  if (image_id_.empty()) return out;
  out += message(json{{"aux", {{"ID", image_id_}}}});
  // dockerd, with q: the image ID is the whole output.
  if (quiet_) return out + message(json{{"stream", image_id_ + "\n"}});
  auto hex = image_id_.substr(image_id_.find(':') + 1);
  out += stream("Successfully built " + hex.substr(0, 12) + "\n");
  for (const auto& t : shown_tags) out += stream("Successfully tagged " + t + "\n");
  return out;
}

std::string BuildMessages::failed(std::string_view error) {
  std::string out;
  if (!partial_.empty()) out = line(std::exchange(partial_, {}));
  held_error_.clear();  // the service's own last line: the error says it
  return out + message(json{{"errorDetail", {{"message", error}}}, {"error", error}});
}

}  // namespace drydock::builder
