#pragma once

// The image configuration a build reads from its base image and writes for
// its result: the OCI image-spec config ("application/vnd.oci.image.config.v1+json",
// image-spec config.md) plus the Docker extensions `docker build` writes
// into `config` (Healthcheck, OnBuild, Shell, ArgsEscaped).

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace drydock::builder {

// HEALTHCHECK. Durations in nanoseconds, as Docker stores them; `test` is
// ["NONE"], ["CMD", args...] or ["CMD-SHELL", command].
struct Healthcheck {
  std::vector<std::string> test;
  std::int64_t interval_ns = 0;
  std::int64_t timeout_ns = 0;
  std::int64_t start_period_ns = 0;
  std::int64_t start_interval_ns = 0;
  int retries = 0;
  bool operator==(const Healthcheck&) const = default;
};

// One entry of `history` (image-spec config.md "history").
struct HistoryEntry {
  std::string created;  // RFC 3339
  std::string created_by;
  std::string comment;
  bool empty_layer = false;
  bool operator==(const HistoryEntry&) const = default;
};

// The runtime part (`config` in the JSON). Absent lists/maps are empty;
// `cmd`/`entrypoint` distinguish "not set" (nullopt) from "set to []".
struct RunConfig {
  std::string user;
  std::vector<std::string> exposed_ports;  // "80/tcp", sorted, unique
  std::vector<std::string> env;            // "K=V", in order, one per key
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::vector<std::string> volumes;  // sorted, unique
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::string stop_signal;
  std::optional<Healthcheck> healthcheck;
  std::vector<std::string> on_build;  // ONBUILD triggers, as written
  std::vector<std::string> shell;     // SHELL; empty: the default ["/bin/sh", "-c"]
  bool args_escaped = false;
  bool operator==(const RunConfig&) const = default;

  // The value of environment variable `key`, if set.
  std::optional<std::string> getenv(std::string_view key) const;
  // Sets `key` to `value`, replacing an earlier value in place (Docker keeps
  // the original position).
  void setenv(std::string_view key, std::string_view value);
};

struct ImageConfig {
  std::string created;  // RFC 3339, empty: absent
  std::string architecture = "amd64";
  std::string os = "linux";
  std::string variant;
  RunConfig config;
  std::vector<std::string> diff_ids;  // rootfs.diff_ids, "sha256:..."
  std::vector<HistoryEntry> history;
  bool operator==(const ImageConfig&) const = default;
};

// Reads a config blob (OCI or Docker v2 image config; Docker's upper-case
// keys inside `config` are the same in both). Unknown fields are ignored.
// An error message for anything that is not a config object or has
// ill-typed known fields.
std::expected<ImageConfig, std::string> parse_image_config(std::string_view json);

// The config blob: compact JSON with keys in a fixed order, so the same
// config always hashes to the same digest. Empty optional fields are
// omitted as `docker build` omits them.
std::string to_json(const ImageConfig& c);

// The default shell of RUN/CMD/ENTRYPOINT in shell form on Linux.
const std::vector<std::string>& default_shell();

}  // namespace drydock::builder
