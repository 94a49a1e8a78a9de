#include "storage/gc.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace drydock::storage {
namespace {

// Times are whole seconds: what is exactly grace_seconds old may go, so with
// a grace of 0 even what was written this second is garbage.
std::int64_t cutoff_for(const GcOptions& o) { return o.now - o.grace_seconds + 1; }

// A manifest or link of one repository: (repository id, digest text).
using Key = std::pair<std::int64_t, std::string>;

struct Node {
  const GcSnapshot::Manifest* row = nullptr;
  unsigned incoming = 0;  // references from manifests still alive
  unsigned tags = 0;      // tags still pointing at it
  bool released = false;
  bool deleted = false;
  std::vector<Key> children;   // manifests it references
  std::vector<Key> referrers;  // manifests whose subject it is
};

struct Plan {
  struct Untag {
    std::int64_t repo;
    std::string repo_name;
    const GcSnapshot::Tag* tag;
  };
  std::vector<Untag> untag;
  std::vector<Key> manifests;  // parents before children
  std::vector<Key> links;
};

class Planner {
 public:
  Planner(const GcSnapshot& s, MetadataStore& meta, const GcOptions& o) : s_(s), meta_(meta), o_(o) {
    grace_cutoff_ = cutoff_for(o);
    session_cutoff_ = o.now - std::max(o.upload_session_seconds, o.grace_seconds) + 1;
    standalone_cutoff_ = o.untagged_retention_seconds
                             ? o.now - *o.untagged_retention_seconds + 1
                             : std::numeric_limits<std::int64_t>::min();
    for (const auto& [id, name] : s.repositories) names_[id] = name;
  }

  Plan plan(GcReport& report) {
    build_graph();
    retention(report);
    sweep_manifests();
    sweep_links();
    return std::move(plan_);
  }

  std::int64_t grace_cutoff() const { return grace_cutoff_; }
  std::int64_t session_cutoff() const { return session_cutoff_; }
  std::int64_t standalone_cutoff() const { return standalone_cutoff_; }
  const std::string& name(std::int64_t repo) const { return names_.at(repo); }

 private:
  void build_graph() {
    for (const auto& m : s_.manifests) {
      Node& n = nodes_[{m.repo, m.digest.str()}];
      n.row = &m;
      n.released = m.released;
    }
    for (const auto& r : s_.refs) {
      if (!r.is_manifest) continue;
      Key parent{r.repo, r.manifest.str()}, child{r.repo, r.ref.str()};
      if (!nodes_.contains(parent) || !nodes_.contains(child)) continue;
      nodes_[parent].children.push_back(child);
      ++nodes_[child].incoming;
    }
    for (const auto& m : s_.manifests) {
      if (!m.subject) continue;
      auto subject = nodes_.find({m.repo, m.subject->str()});
      if (subject != nodes_.end()) subject->second.referrers.push_back({m.repo, m.digest.str()});
    }
    for (const auto& t : s_.tags) {
      auto n = nodes_.find({t.repo, t.digest.str()});
      if (n != nodes_.end()) ++n->second.tags;
    }
  }

  // Retention untags; the manifests it leaves untagged are released.
  void retention(GcReport& report) {
    if (!o_.retention) return;
    std::map<std::int64_t, std::vector<const GcSnapshot::Tag*>> by_repo;
    for (const auto& t : s_.tags) by_repo[t.repo].push_back(&t);
    for (auto& [repo, tags] : by_repo) {
      auto policy = o_.retention(name(repo));
      if (!policy) continue;
      std::ranges::sort(tags, [](const auto* a, const auto* b) {
        return a->updated != b->updated ? a->updated > b->updated : a->name < b->name;
      });
      for (std::size_t i = 0; i < tags.size(); ++i) {
        const auto* t = tags[i];
        bool keep = (policy->keep_last && i < *policy->keep_last) ||
                    (policy->keep_tag && policy->keep_tag(t->name)) ||
                    (policy->keep_younger_seconds &&
                     t->updated >= o_.now - *policy->keep_younger_seconds);
        if (keep) continue;
        if (auto rule = meta_.immutable_rule(name(repo), t->name)) {
          report.tags_kept_immutable.push_back(name(repo) + ":" + t->name + " (" + *rule + ")");
          continue;
        }
        plan_.untag.push_back({repo, name(repo), t});
        auto n = nodes_.find({repo, t->digest.str()});
        if (n != nodes_.end() && --n->second.tags == 0) n->second.released = true;
      }
    }
  }

  bool subject_alive(const Node& n) const {
    if (!n.row->subject) return false;
    auto s = nodes_.find({n.row->repo, n.row->subject->str()});
    return s != nodes_.end() && !s->second.deleted;
  }

  // The same rule as MetadataStore::gc_delete_manifest's SQL.
  bool garbage(const Node& n) const {
    if (n.deleted || n.tags > 0 || n.incoming > 0 || n.row->pushed >= grace_cutoff_) return false;
    if (subject_alive(n)) return false;
    return n.released || n.row->subject || n.row->pushed < standalone_cutoff_;
  }

  void sweep_manifests() {
    std::deque<Key> work;
    for (const auto& [key, n] : nodes_) {
      if (garbage(n)) work.push_back(key);
    }
    while (!work.empty()) {
      Key key = std::move(work.front());
      work.pop_front();
      Node& n = nodes_[key];
      if (!garbage(n)) continue;
      n.deleted = true;
      plan_.manifests.push_back(key);
      for (const Key& c : n.children) {
        Node& child = nodes_[c];
        --child.incoming;
        if (garbage(child)) work.push_back(c);
      }
      for (const Key& r : n.referrers) {
        if (garbage(nodes_[r])) work.push_back(r);
      }
    }
  }

  void sweep_links() {
    std::set<Key> used;
    for (const auto& [key, n] : nodes_) {
      if (!n.deleted) used.insert(key);
    }
    for (const auto& r : s_.refs) {
      auto owner = nodes_.find({r.repo, r.manifest.str()});
      if (owner != nodes_.end() && !owner->second.deleted) used.insert({r.repo, r.ref.str()});
    }
    std::unordered_set<std::string> uploading;
    for (const auto& [repo, newest] : s_.uploading) {
      if (newest >= session_cutoff_) uploading.insert(repo);
    }
    for (const auto& l : s_.links) {
      Key key{l.repo, l.digest.str()};
      if (used.contains(key) || l.linked >= grace_cutoff_) continue;
      if (uploading.contains(name(l.repo))) continue;
      plan_.links.push_back(std::move(key));
    }
  }

  const GcSnapshot& s_;
  MetadataStore& meta_;
  const GcOptions& o_;
  std::int64_t grace_cutoff_ = 0;
  std::int64_t session_cutoff_ = 0;
  std::int64_t standalone_cutoff_ = 0;
  std::map<std::int64_t, std::string> names_;
  std::map<Key, Node> nodes_;
  Plan plan_;
};

Result<Digest> key_digest(const Key& k) {
  auto d = parse_digest(k.second);
  if (!d) return std::unexpected(StorageError::kDatabase);
  return *std::move(d);
}

// Applies the metadata part of the plan; each delete re-checks its rule.
Result<void> apply(MetadataStore& meta, const Planner& p, const Plan& plan, GcReport& report) {
  for (const auto& u : plan.untag) {
    auto done = meta.gc_untag(u.repo, u.repo_name, u.tag->name, u.tag->digest, u.tag->updated);
    if (!done && done.error() == StorageError::kImmutable) continue;  // a rule added meanwhile
    if (!done) return std::unexpected(done.error());
    if (*done) report.tags_deleted.push_back(u.repo_name + ":" + u.tag->name);
  }
  for (const Key& k : plan.manifests) {
    auto d = key_digest(k);
    if (!d) return std::unexpected(d.error());
    auto done = meta.gc_delete_manifest(k.first, *d, p.grace_cutoff(), p.standalone_cutoff());
    if (!done) return std::unexpected(done.error());
    if (*done) report.manifests_deleted.push_back(p.name(k.first) + "@" + k.second);
  }
  for (const Key& k : plan.links) {
    auto d = key_digest(k);
    if (!d) return std::unexpected(d.error());
    auto done = meta.gc_unlink(k.first, *d, p.grace_cutoff(), p.session_cutoff());
    if (!done) return std::unexpected(done.error());
    if (*done) ++report.links_removed;
  }
  return {};
}

Result<std::unordered_set<std::string>> roots(const GcOptions& o) {
  std::unordered_set<std::string> out;
  if (!o.extra_roots) return out;
  auto listed = o.extra_roots();
  if (!listed) return std::unexpected(listed.error());
  for (const Digest& d : *listed) out.insert(d.str());
  return out;
}

// Blob files no link keeps: with `linked` the digests still linked after the
// plan (dry run) or now (after apply).
Result<void> sweep_files(MetadataStore& meta, FsBlobStore& blobs, const GcOptions& o,
                         const std::unordered_set<std::string>& linked,
                         const std::unordered_set<std::string>& extra, GcReport& report) {
  auto files = blobs.list();
  if (!files) return std::unexpected(files.error());
  std::int64_t cutoff = cutoff_for(o);
  for (const auto& f : *files) {
    std::string key = f.digest.str();
    bool candidate = !linked.contains(key) && !extra.contains(key) && f.written < cutoff;
    std::uint64_t freed = 0;
    if (candidate && o.dry_run) freed = f.size;
    if (candidate && !o.dry_run) {
      auto r = blobs.collect(f.digest, cutoff, [&]() -> Result<bool> {
        auto l = meta.blob_linked_anywhere(f.digest);
        if (!l) return std::unexpected(l.error());
        return !*l;
      });
      if (!r) return std::unexpected(r.error());
      freed = *r;
    }
    if (freed > 0) {
      ++report.blobs_deleted;
      report.bytes_freed += freed;
    } else {
      ++report.blobs_remaining;
      report.bytes_remaining += f.size;
    }
  }
  return {};
}

}  // namespace

Result<GcReport> collect_garbage(MetadataStore& meta, FsBlobStore& blobs, const GcOptions& o) {
  auto started = std::chrono::steady_clock::now();
  GcReport report;
  report.dry_run = o.dry_run;
  auto extra = roots(o);
  if (!extra) return std::unexpected(extra.error());
  auto snapshot = meta.gc_snapshot();
  if (!snapshot) return std::unexpected(snapshot.error());
  Planner planner(*snapshot, meta, o);
  Plan plan = planner.plan(report);

  std::unordered_set<std::string> linked;
  if (o.dry_run) {
    for (const auto& u : plan.untag) report.tags_deleted.push_back(u.repo_name + ":" + u.tag->name);
    for (const Key& k : plan.manifests) {
      report.manifests_deleted.push_back(planner.name(k.first) + "@" + k.second);
    }
    report.links_removed = plan.links.size();
    std::set<Key> gone(plan.links.begin(), plan.links.end());
    gone.insert(plan.manifests.begin(), plan.manifests.end());  // their own-bytes links
    for (const auto& l : snapshot->links) {
      if (!gone.contains({l.repo, l.digest.str()})) linked.insert(l.digest.str());
    }
  } else {
    if (auto r = apply(meta, planner, plan, report); !r) return std::unexpected(r.error());
    auto after = meta.linked_digests();
    if (!after) return std::unexpected(after.error());
    linked = *std::move(after);
  }
  if (auto r = sweep_files(meta, blobs, o, linked, *extra, report); !r) {
    return std::unexpected(r.error());
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace drydock::storage
