// Differential build test: every case in build_corpus/ is built by `docker build`
// (BuildKit, local dockerd) and by Drydock (POST /builds), and the two images must have
// the same config fields and the same flattened filesystem (paths, types, modes,
// owners, link targets, hard link groups, xattrs, content hashes), except for the
// builder-defined differences listed, with the reasons, in kBuilderDefined.
//
// The filesystems come from `docker create` + `docker export` on both sides, so both
// carry the same container artefacts (/.dockerenv, /etc/hostname, /etc/hosts,
// /etc/resolv.conf, /etc/mtab, /dev/console, /dev/pts, /dev/shm, /proc, /sys), which
// therefore compare equal.
//
// The suite runs in one process (one CTest test, BuildDiff): dockerd and one Drydock
// server start once, and the busybox base is pushed once. Each case's Dockerfile
// starts `ARG BASE` / `FROM $BASE`; both builders get BASE=localhost:PORT/e2e/busybox:1.
//
// DRYDOCK_E2E_BUILD_DIFF=docker builds the second image with docker too (--no-cache),
// to check the corpus and the comparison themselves. DRYDOCK_E2E_BUILD_DIFF_VERBOSE=1
// prints docker's flattened filesystem of each case and the known differences found.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "build_diff_builders.hpp"

namespace drydock::e2e {
namespace {

namespace fs = std::filesystem;

// The corpus: build_corpus/<name>, each Dockerfile's first comment says what it covers.
const std::vector<BuildCase> kCases = {
    {"from_forms"},
    {"run_forms"},
    {"entrypoint_resets_cmd"},
    {"cmd_entrypoint_stages"},
    {"cmd_then_entrypoint"},
    {"env"},
    {"args", "", {"OVERRIDDEN=from-cli", "FROM_CLI_ONLY=cli", "NOT_DECLARED=ignored"}},
    {"substitution"},
    {"workdir"},
    {"user"},
    {"metadata"},
    {"healthcheck"},
    {"healthcheck_none"},
    {"shell"},
    {"onbuild"},
    {"copy_globs"},
    {"copy_chown_chmod"},
    {"copy_from"},
    {"copy_link"},
    {"add_tar"},
    {"copy_dirs"},
    {"heredocs"},
    {"escape_directive"},
    {"line_continuations"},
    {"multistage_target", "test"},
    {"dockerignore"},
    {"whiteouts"},
    {"links"},
    {"uid_owned"},
};

// A difference the builder may make, with the reason. `item` is a compared config
// field ("Config.Env", "History.created_by") or "<path> <field>" of the filesystem
// ("/proc mode"). Items marked "(not read)" are left out of the comparison altogether and listed
// here for the record.
struct KnownDifference {
  std::string_view case_name;  // empty: every case
  std::string_view item;
  std::string_view reason;
};

// The builder-defined differences.
const std::vector<KnownDifference> kBuilderDefined = {
    {"", "modification times, except files' kept from the context (not read)",
     "what a step makes or changes gets the time it ran. Directories copied from the "
     "context keep their mtime in Drydock (and current BuildKit), while Docker 20.10's "
     "BuildKit leaves them at the copy time"},
    {"", "layer digests, sizes and media types (not read)",
     "tar header details and compression are each builder's own"},
    {"", "created, image ID, Author, ContainerConfig (not read)",
     "timestamps, and fields only docker's legacy builder fills"},
    {"", "History.created_by",
     "Docker 20.10's frontend (dockerfile 1.2) records ENV/LABEL/EXPOSE/HEALTHCHECK/CMD "
     "with values expanded and Go-formatted (\"EXPOSE map[80/tcp:{}]\"), COPY without its "
     "flags and no ONBUILD steps; Drydock records instructions as written, as current "
     "BuildKit does"},
    // heredocs and copy_link: Docker 20.10's built-in BuildKit frontend has neither
    // heredocs nor --link, so docker builds their Dockerfile.docker, the same steps
    // spelled without them. Everything but the history above must still match.
};

const KnownDifference* known(std::string_view case_name, std::string_view item) {
  for (const auto& difference : kBuilderDefined) {
    if ((difference.case_name.empty() || difference.case_name == case_name) &&
        difference.item == item) {
      return &difference;
    }
  }
  return nullptr;
}

bool against_docker() {
  const char* value = std::getenv("DRYDOCK_E2E_BUILD_DIFF");
  return value != nullptr && std::string_view(value) == "docker";
}

// Collects differences, separating the known ones.
class DifferenceReport {
 public:
  explicit DifferenceReport(std::string case_name) : case_name_(std::move(case_name)) {}

  void add(const std::string& item, const std::string& docker, const std::string& drydock) {
    const std::string line = item + ": docker " + docker + " | drydock " + drydock + "\n";
    if (const KnownDifference* reason = known(case_name_, item); reason != nullptr) {
      known_ += "  " + line + "    (known: " + std::string(reason->reason) + ")\n";
    } else {
      unexpected_ += "  " + line;
    }
  }
  const std::string& unexpected() const { return unexpected_; }
  const std::string& known_lines() const { return known_; }

 private:
  std::string case_name_;
  std::string unexpected_;
  std::string known_;
};

class BuildDiff : public ::testing::TestWithParam<BuildCase> {
 public:
  static void SetUpTestSuite() {
    if (const char* registry = std::getenv("DRYDOCK_E2E_REGISTRY");
        registry != nullptr && std::string_view(registry) == "reference") {
      skip_reason_ = "builds need Drydock; DRYDOCK_E2E_REGISTRY=reference";
      return;
    }
    auto suite = start_diff_suite();
    if (!suite) {
      setup_error_ = suite.error();
      return;
    }
    suite_ = std::move(*suite);
  }

  static void TearDownTestSuite() {
    if (!suite_) return;
    remove_images(*suite_, {suite_->base});
    // BuildKit keeps every step's result, and with dockerd's vfs driver each is a full
    // copy of the rootfs: about 2 GB per run of this suite, were it left.
    run_command(suite_->docker + " builder prune -f >/dev/null 2>&1");
    const std::string problem = suite_->registry->stop();
    if (!problem.empty()) std::cout << "drydock did not stop cleanly: " << problem << "\n";
    if (::testing::UnitTest::GetInstance()->failed_test_count() > 0) {
      std::cout << "--- drydock logs ---\n" << suite_->registry->logs();
      std::cout << "kept " << suite_->tmp_dir << "\n";
    } else {
      fs::remove_all(suite_->tmp_dir);
    }
    suite_.reset();
  }

 protected:
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_TRUE(setup_error_.empty()) << "suite setup failed: " << setup_error_;
  }

  void TearDown() override {
    if (suite_ && !images_.empty()) remove_images(*suite_, images_);
  }

  void build_both(const BuildCase& build_case, const PreparedCase& prepared);
  void compare_configs(DifferenceReport* report);
  void compare_filesystems(const fs::path& dir, DifferenceReport* report);

  static inline std::unique_ptr<DiffSuite> suite_;
  static inline std::string setup_error_;
  static inline std::string skip_reason_;
  std::string docker_image_;
  std::string drydock_image_;
  std::vector<std::string> images_;
};

void BuildDiff::build_both(const BuildCase& build_case, const PreparedCase& prepared) {
  const std::string repo_tag = "diff/" + build_case.name + ":1";
  docker_image_ = suite_->image("diff-docker/" + build_case.name + ":1");
  drydock_image_ = suite_->image(repo_tag);
  images_ = {docker_image_, drydock_image_};
  // --no-cache: a cached COPY would bring the mtimes of an earlier run's context.
  auto docker = docker_build(*suite_, build_case, prepared, docker_image_, /*no_cache=*/true);
  ASSERT_TRUE(docker.ok()) << docker.describe();
  if (against_docker()) {
    auto again = docker_build(*suite_, build_case, prepared, drydock_image_, /*no_cache=*/true);
    ASSERT_TRUE(again.ok()) << again.describe();
    return;
  }
  auto drydock = drydock_build(*suite_, build_case, prepared, repo_tag);
  ASSERT_TRUE(drydock) << drydock.error();
}

void BuildDiff::compare_configs(DifferenceReport* report) {
  auto docker = inspect_image(*suite_, docker_image_);
  ASSERT_TRUE(docker) << docker.error();
  auto drydock = inspect_image(*suite_, drydock_image_);
  ASSERT_TRUE(drydock) << drydock.error();
  for (const auto& [field, value] : *docker) {
    const nlohmann::json& other = (*drydock)[field];
    if (value != other) report->add(field, value.dump(), other.dump());
  }
}

void BuildDiff::compare_filesystems(const fs::path& dir, DifferenceReport* report) {
  auto docker = flatten_image(*suite_, docker_image_, dir / "docker-export.tar");
  ASSERT_TRUE(docker) << docker.error();
  auto drydock = flatten_image(*suite_, drydock_image_, dir / "drydock-export.tar");
  ASSERT_TRUE(drydock) << drydock.error();
  ASSERT_GT(docker->size(), 10u) << "suspiciously small export";
  if (std::getenv("DRYDOCK_E2E_BUILD_DIFF_VERBOSE") != nullptr) {
    for (const auto& [path, entry] : *docker) std::cout << path << "  " << describe(entry) << "\n";
  }
  for (const auto& difference : compare_fs(*docker, *drydock, kContextMtime)) {
    report->add(difference.path + " " + difference.field, difference.left, difference.right);
  }
}

TEST_P(BuildDiff, SameImageAsDocker) {
  const BuildCase& build_case = GetParam();
  const auto started = std::chrono::steady_clock::now();
  const fs::path dir = suite_->tmp_dir / build_case.name;
  auto prepared = prepare_case(*suite_, build_case, dir);
  ASSERT_TRUE(prepared) << prepared.error();
  ASSERT_NO_FATAL_FAILURE(build_both(build_case, *prepared));

  DifferenceReport report(build_case.name);
  ASSERT_NO_FATAL_FAILURE(compare_configs(&report));
  ASSERT_NO_FATAL_FAILURE(compare_filesystems(dir, &report));
  if (!report.known_lines().empty() && std::getenv("DRYDOCK_E2E_BUILD_DIFF_VERBOSE") != nullptr) {
    std::cout << "known differences in " << build_case.name << ":\n" << report.known_lines();
  }
  EXPECT_EQ(report.unexpected(), "")
      << "images differ (docker " << docker_image_ << ", drydock " << drydock_image_ << ")";
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  std::cout << build_case.name << " took " << took.count() << " s\n";
}

INSTANTIATE_TEST_SUITE_P(Corpus, BuildDiff, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<BuildCase>& info) {
                           return info.param.name;
                         });

// A directory added to build_corpus/ without an entry in kCases would never run.
TEST(BuildDiffCorpus, EveryDirectoryIsACase) {
  std::set<std::string> listed;
  for (const auto& build_case : kCases) listed.insert(build_case.name);
  std::set<std::string> found;
  for (const auto& entry : fs::directory_iterator(fs::path(E2E_SCRIPTS_DIR) / "build_corpus")) {
    if (entry.is_directory()) found.insert(entry.path().filename().string());
  }
  EXPECT_EQ(found, listed);
  EXPECT_GE(listed.size(), 20u);
}

}  // namespace
}  // namespace drydock::e2e
