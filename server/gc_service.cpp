#include "server/gc_service.hpp"

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "auth/access.hpp"
#include "storage/clock.hpp"
#include "storage/quota.hpp"

namespace drydock::server {
namespace {

struct CompiledRule {
  config::RetentionRule rule;
  std::regex keep_tags;
};

storage::RetentionRules retention_rules(const std::vector<config::RetentionRule>& rules) {
  if (rules.empty()) return nullptr;
  auto compiled = std::make_shared<std::vector<CompiledRule>>();
  for (const auto& r : rules) compiled->push_back({r, std::regex(r.keep_tags)});
  return [compiled](std::string_view repo) -> std::optional<storage::RetentionPolicy> {
    for (const auto& c : *compiled) {
      if (!auth::pattern_matches(c.rule.repositories, repo)) continue;
      storage::RetentionPolicy p;
      p.keep_last = c.rule.keep_last;
      if (c.rule.keep_days) p.keep_younger_seconds = std::int64_t{*c.rule.keep_days} * 86400;
      if (!c.rule.keep_tags.empty()) {
        p.keep_tag = [&re = c.keep_tags](std::string_view tag) {
          return std::regex_match(tag.begin(), tag.end(), re);
        };
      }
      return p;
    }
    return std::nullopt;
  };
}

}  // namespace

struct GcService::Impl {
  storage::MetadataStore& meta;
  storage::FsBlobStore& blobs;
  config::GcConfig config;
  Roots roots;
  storage::RetentionRules retention;
  std::mutex run_mu;  // one collection at a time
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread schedule;

  storage::GcOptions options(bool dry_run) const {
    storage::GcOptions o;
    o.now = storage::unix_now();
    o.grace_seconds = config.grace_seconds;
    o.upload_session_seconds = std::int64_t{config.upload_session_hours} * 3600;
    if (config.untagged_retention_hours) {
      o.untagged_retention_seconds = std::int64_t{*config.untagged_retention_hours} * 3600;
    }
    o.retention = retention;
    o.dry_run = dry_run;
    o.extra_roots = roots;
    return o;
  }

  storage::Result<storage::GcReport> run(const storage::GcOptions& o, const char* what) {
    std::lock_guard lock(run_mu);
    storage::Result<storage::GcReport> r = storage::collect_garbage(meta, blobs, o);
    if (!r) {
      std::fprintf(stderr, "drydock: %s failed: %s\n", what,
                   std::string(storage::to_string(r.error())).c_str());
      return r;
    }
    std::fprintf(stderr,
                 "drydock: %s%s: %zu tag(s), %zu manifest(s), %llu link(s), %llu blob(s) %s "
                 "(%s) in %.2f s; %llu blob(s), %s remain\n",
                 what, o.dry_run ? " (dry run)" : "", r->tags_deleted.size(),
                 r->manifests_deleted.size(), static_cast<unsigned long long>(r->links_removed),
                 static_cast<unsigned long long>(r->blobs_deleted),
                 o.dry_run ? "would be freed" : "freed", storage::human_bytes(r->bytes_freed).c_str(),
                 r->seconds, static_cast<unsigned long long>(r->blobs_remaining),
                 storage::human_bytes(r->bytes_remaining).c_str());
    return r;
  }

  void loop() {
    auto every = std::chrono::minutes(config.interval_minutes);
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, every, [this] { return stop; })) {
      lock.unlock();
      (void)run(options(false), "gc");
      lock.lock();
    }
  }
};

GcService::GcService(storage::MetadataStore& meta, storage::FsBlobStore& blobs,
                     config::GcConfig config, Roots roots)
    : impl_(new Impl{meta, blobs, std::move(config), std::move(roots), nullptr}) {
  impl_->retention = retention_rules(impl_->config.retention);
}

GcService::~GcService() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->schedule.joinable()) impl_->schedule.join();
}

void GcService::start() {
  if (impl_->config.interval_minutes == 0 || impl_->schedule.joinable()) return;
  impl_->schedule = std::thread([this] { impl_->loop(); });
}

storage::Result<storage::GcReport> GcService::collect(bool dry_run) {
  return impl_->run(impl_->options(dry_run), "gc");
}

storage::Result<storage::GcReport> GcService::prune_untagged(std::int64_t older_than,
                                                             bool dry_run) {
  storage::GcOptions o = impl_->options(dry_run);
  o.untagged_retention_seconds = std::max<std::int64_t>(older_than, 0);
  o.retention = nullptr;
  return impl_->run(o, "prune");
}

storage::MetadataStore& GcService::metadata() { return impl_->meta; }

std::string gc_report_json(const storage::GcReport& r) {
  nlohmann::json j = {{"dry_run", r.dry_run},
                      {"tags_deleted", r.tags_deleted},
                      {"tags_kept_immutable", r.tags_kept_immutable},
                      {"manifests_deleted", r.manifests_deleted},
                      {"links_removed", r.links_removed},
                      {"blobs_deleted", r.blobs_deleted},
                      {"bytes_freed", r.bytes_freed},
                      {"blobs_remaining", r.blobs_remaining},
                      {"bytes_remaining", r.bytes_remaining},
                      {"seconds", r.seconds}};
  return j.dump();
}

std::optional<std::int64_t> parse_duration(std::string_view text) {
  std::int64_t unit = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: unit = 0;  // a bare number of seconds
    }
    if (unit != 0) text.remove_suffix(1);
  }
  if (text.empty() || text.size() > 12) return std::nullopt;
  std::int64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n * (unit == 0 ? 1 : unit);
}

}  // namespace drydock::server
