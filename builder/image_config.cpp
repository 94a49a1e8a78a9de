#include "builder/image_config.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace drydock::builder {

namespace {

using nlohmann::json;

// Thrown inside this file only, turned into the expected's error.
struct BadConfig {
  std::string what;
};

template <class T>
void read(const json& obj, const char* key, T& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return;
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    throw BadConfig{std::string("bad value for ") + key};
  }
}

// Docker writes sets as objects with empty values: {"80/tcp": {}}.
std::vector<std::string> read_set(const json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_object()) throw BadConfig{std::string(key) + " must be an object"};
  for (const auto& [k, v] : it->items()) out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::vector<std::string>> read_list(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  std::vector<std::string> out;
  read(obj, key, out);
  return out;
}

Healthcheck read_healthcheck(const json& h) {
  if (!h.is_object()) throw BadConfig{"Healthcheck must be an object"};
  Healthcheck out;
  read(h, "Test", out.test);
  read(h, "Interval", out.interval_ns);
  read(h, "Timeout", out.timeout_ns);
  read(h, "StartPeriod", out.start_period_ns);
  read(h, "StartInterval", out.start_interval_ns);
  read(h, "Retries", out.retries);
  return out;
}

RunConfig read_run_config(const json& c) {
  if (!c.is_object()) throw BadConfig{"config must be an object"};
  RunConfig r;
  read(c, "User", r.user);
  r.exposed_ports = read_set(c, "ExposedPorts");
  read(c, "Env", r.env);
  r.entrypoint = read_list(c, "Entrypoint");
  r.cmd = read_list(c, "Cmd");
  r.volumes = read_set(c, "Volumes");
  read(c, "WorkingDir", r.working_dir);
  read(c, "Labels", r.labels);
  read(c, "StopSignal", r.stop_signal);
  if (auto it = c.find("Healthcheck"); it != c.end() && !it->is_null()) {
    r.healthcheck = read_healthcheck(*it);
  }
  read(c, "OnBuild", r.on_build);
  read(c, "Shell", r.shell);
  read(c, "ArgsEscaped", r.args_escaped);
  return r;
}

std::vector<HistoryEntry> read_history(const json& doc) {
  std::vector<HistoryEntry> out;
  auto it = doc.find("history");
  if (it == doc.end() || it->is_null()) return out;
  if (!it->is_array()) throw BadConfig{"history must be an array"};
  for (const auto& h : *it) {
    if (!h.is_object()) throw BadConfig{"history entries must be objects"};
    HistoryEntry e;
    read(h, "created", e.created);
    read(h, "created_by", e.created_by);
    read(h, "comment", e.comment);
    read(h, "empty_layer", e.empty_layer);
    out.push_back(std::move(e));
  }
  return out;
}

json set_json(const std::vector<std::string>& keys) {
  json out = json::object();
  for (const auto& k : keys) out[k] = json::object();
  return out;
}

json run_config_json(const RunConfig& r) {
  json c = json::object();
  if (!r.user.empty()) c["User"] = r.user;
  if (!r.exposed_ports.empty()) c["ExposedPorts"] = set_json(r.exposed_ports);
  if (!r.env.empty()) c["Env"] = r.env;
  if (r.entrypoint) c["Entrypoint"] = *r.entrypoint;
  if (r.cmd) c["Cmd"] = *r.cmd;
  if (!r.volumes.empty()) c["Volumes"] = set_json(r.volumes);
  if (!r.working_dir.empty()) c["WorkingDir"] = r.working_dir;
  if (!r.labels.empty()) c["Labels"] = r.labels;
  if (!r.stop_signal.empty()) c["StopSignal"] = r.stop_signal;
  if (r.healthcheck) {
    const auto& h = *r.healthcheck;
    json hj{{"Test", h.test}};
    if (h.interval_ns) hj["Interval"] = h.interval_ns;
    if (h.timeout_ns) hj["Timeout"] = h.timeout_ns;
    if (h.start_period_ns) hj["StartPeriod"] = h.start_period_ns;
    if (h.start_interval_ns) hj["StartInterval"] = h.start_interval_ns;
    if (h.retries) hj["Retries"] = h.retries;
    c["Healthcheck"] = std::move(hj);
  }
  if (!r.on_build.empty()) c["OnBuild"] = r.on_build;
  if (!r.shell.empty()) c["Shell"] = r.shell;
  if (r.args_escaped) c["ArgsEscaped"] = true;
  return c;
}

}  // namespace

std::optional<std::string> RunConfig::getenv(std::string_view key) const {
  for (const auto& kv : env) {
    auto eq = kv.find('=');
    std::string_view k = std::string_view(kv).substr(0, eq);
    if (k == key) return eq == std::string::npos ? std::string() : kv.substr(eq + 1);
  }
  return std::nullopt;
}

void RunConfig::setenv(std::string_view key, std::string_view value) {
  std::string entry = std::string(key) + "=" + std::string(value);
  for (auto& kv : env) {
    if (std::string_view(kv).substr(0, kv.find('=')) == key) {
      kv = std::move(entry);
      return;
    }
  }
  env.push_back(std::move(entry));
}

std::expected<ImageConfig, std::string> parse_image_config(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return std::unexpected("image config is not a JSON object");
  }
  try {
    ImageConfig c;
    read(doc, "created", c.created);
    read(doc, "architecture", c.architecture);
    read(doc, "os", c.os);
    read(doc, "variant", c.variant);
    if (auto it = doc.find("config"); it != doc.end() && !it->is_null()) {
      c.config = read_run_config(*it);
    }
    if (auto it = doc.find("rootfs"); it != doc.end() && !it->is_null()) {
      if (!it->is_object()) throw BadConfig{"rootfs must be an object"};
      read(*it, "diff_ids", c.diff_ids);
    }
    c.history = read_history(doc);
    return c;
  } catch (const BadConfig& e) {
    return std::unexpected("image config: " + e.what);
  }
}

std::string to_json(const ImageConfig& c) {
  json doc = json::object();
  if (!c.created.empty()) doc["created"] = c.created;
  doc["architecture"] = c.architecture;
  doc["os"] = c.os;
  if (!c.variant.empty()) doc["variant"] = c.variant;
  doc["config"] = run_config_json(c.config);
  doc["rootfs"] = json{{"type", "layers"}, {"diff_ids", c.diff_ids}};
  json history = json::array();
  for (const auto& h : c.history) {
    json e = json::object();
    if (!h.created.empty()) e["created"] = h.created;
    if (!h.created_by.empty()) e["created_by"] = h.created_by;
    if (!h.comment.empty()) e["comment"] = h.comment;
    if (h.empty_layer) e["empty_layer"] = true;
    history.push_back(std::move(e));
  }
  if (!history.empty()) doc["history"] = std::move(history);
  return doc.dump();
}

const std::vector<std::string>& default_shell() {
  static const std::vector<std::string> kShell = {"/bin/sh", "-c"};
  return kShell;
}

}  // namespace drydock::builder
