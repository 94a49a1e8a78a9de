// docker/Dockerfile, the image that runs Drydock itself, must parse with Drydock's own
// parser and keep the properties docker/README.md promises: a build and a runtime stage,
// a pinned Debian base, a non-root user, the data volume, port 5000 and a health check.
// (Building and running it is tests/e2e/drydock_image_test.cpp; this only reads the file.)

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "builder/dockerfile.hpp"

namespace drydock::builder {
namespace {

std::string read_repo_file(const std::string& relative) {
  std::ifstream in(std::string(DRYDOCK_SOURCE_ROOT) + "/" + relative, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The first instruction of type T in `stage`, if any.
template <typename T>
std::optional<T> find_command(const Stage& stage) {
  for (const Instruction& instruction : stage.instructions) {
    if (const T* command = std::get_if<T>(&instruction.command)) return *command;
  }
  return std::nullopt;
}

// The blank-separated words of `text`, sorted.
std::vector<std::string> sorted_words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  std::sort(words.begin(), words.end());
  return words;
}

// The packages a stage installs: `pkgs="..."` in its first RUN.
std::vector<std::string> stage_packages(const Stage& stage) {
  auto run = find_command<RunCommand>(stage);
  if (!run || run->command.args.empty()) return {};
  static const std::regex kPackages(R"re(pkgs="([^"]*)")re");
  std::smatch match;
  if (!std::regex_search(run->command.args[0], match, kPackages)) return {};
  return sorted_words(match[1]);
}

// The words of the bash array `name=( ... )` in scripts/deps.
std::vector<std::string> deps_array(const std::string& deps, const std::string& name) {
  std::smatch match;
  if (!std::regex_search(deps, match, std::regex("\n" + name + "=\\(([^)]*)\\)"))) return {};
  return sorted_words(match[1]);
}

TEST(DockerDockerfile, ParsesWithTwoStagesOnAPinnedBase) {
  const std::string text = read_repo_file("docker/Dockerfile");
  ASSERT_FALSE(text.empty()) << "docker/Dockerfile not found under " << DRYDOCK_SOURCE_ROOT;
  auto parsed = parse_dockerfile(text, "docker/Dockerfile");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_string();
  const Dockerfile& dockerfile = *parsed;
  EXPECT_TRUE(dockerfile.warnings.empty());

  ASSERT_EQ(dockerfile.stages.size(), 2u);
  EXPECT_EQ(dockerfile.stages[0].name, "build");
  EXPECT_EQ(dockerfile.stages[1].name, "runtime");
  EXPECT_EQ(dockerfile.stages[0].base_name, "${BUILD_BASE}");
  EXPECT_EQ(dockerfile.stages[1].base_name, "${RUNTIME_BASE}");

  // DEBIAN is a dated Debian 12 tag, never `latest` or an untagged name, and both
  // stages' bases default to it (the end-to-end test overrides them).
  std::vector<ArgDefinition> args;
  for (const Instruction& instruction : dockerfile.global_args) {
    for (const ArgDefinition& arg : std::get<ArgCommand>(instruction.command).args) {
      args.push_back(arg);
    }
  }
  ASSERT_EQ(args.size(), 3u);
  EXPECT_EQ(args[0].name, "DEBIAN");
  ASSERT_TRUE(args[0].default_value.has_value());
  EXPECT_TRUE(args[0].default_value->starts_with("debian:bookworm-2")) << *args[0].default_value;
  EXPECT_EQ(args[0].default_value->find("latest"), std::string::npos);
  EXPECT_EQ(args[1].name, "BUILD_BASE");
  EXPECT_EQ(args[1].default_value, "${DEBIAN}");
  EXPECT_EQ(args[2].name, "RUNTIME_BASE");
  EXPECT_EQ(args[2].default_value, "${DEBIAN}");
}

TEST(DockerDockerfile, RuntimeStageIsNonRootWithVolumePortAndHealthcheck) {
  auto parsed = parse_dockerfile(read_repo_file("docker/Dockerfile"), "docker/Dockerfile");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_string();
  ASSERT_EQ(parsed->stages.size(), 2u);
  const Stage& runtime = parsed->stages[1];

  auto user = find_command<UserCommand>(runtime);
  ASSERT_TRUE(user.has_value());
  EXPECT_EQ(user->user, "10001:10001");

  auto volume = find_command<VolumeCommand>(runtime);
  ASSERT_TRUE(volume.has_value());
  EXPECT_EQ(volume->paths, std::vector<std::string>{"/var/lib/drydock"});

  auto expose = find_command<ExposeCommand>(runtime);
  ASSERT_TRUE(expose.has_value());
  EXPECT_EQ(expose->ports, std::vector<std::string>{"5000"});

  auto health = find_command<HealthcheckCommand>(runtime);
  ASSERT_TRUE(health.has_value());
  ASSERT_GE(health->test.size(), 2u);
  EXPECT_EQ(health->test[0], "CMD");
  EXPECT_TRUE(std::any_of(health->test.begin(), health->test.end(), [](const std::string& arg) {
    return arg.find("/v2/") != std::string::npos;
  }));
  EXPECT_GT(health->interval.count(), 0);
  EXPECT_EQ(health->retries, 3);

  auto copy_from_build = find_command<CopyCommand>(runtime);
  ASSERT_TRUE(copy_from_build.has_value());
  EXPECT_EQ(copy_from_build->from, "build");
}

// scripts/deps makes the end-to-end test's bases (tests/e2e/drydock_image_test.cpp) with
// these packages so that the stages need no apt-get there; a package added on one side
// only would send that test's build to the network, which it does not have.
TEST(DockerDockerfile, StagePackagesMatchTheTestBasesInScriptsDeps) {
  auto parsed = parse_dockerfile(read_repo_file("docker/Dockerfile"), "docker/Dockerfile");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_string();
  ASSERT_EQ(parsed->stages.size(), 2u);
  const std::string deps = read_repo_file("scripts/deps");
  ASSERT_FALSE(deps.empty()) << "scripts/deps not found under " << DRYDOCK_SOURCE_ROOT;

  const auto build = stage_packages(parsed->stages[0]);
  const auto runtime = stage_packages(parsed->stages[1]);
  EXPECT_FALSE(build.empty());
  EXPECT_FALSE(runtime.empty());
  EXPECT_EQ(build, deps_array(deps, "image_build_pkgs"));
  EXPECT_EQ(runtime, deps_array(deps, "image_runtime_pkgs"));
}

// The build stage copies each source folder CMakeLists.txt adds, and the
// ignore file lets it into the context (a new library left out of either
// fails only in the container build).
TEST(DockerDockerfile, BuildStageCopiesEverySourceFolderCMakeAdds) {
  auto parsed = parse_dockerfile(read_repo_file("docker/Dockerfile"), "docker/Dockerfile");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_string();
  std::set<std::string> copied;
  for (const Instruction& instruction : parsed->stages[0].instructions) {
    if (const auto* copy = std::get_if<CopyCommand>(&instruction.command)) {
      for (const auto& source : copy->spec.sources) copied.insert(source);
    }
  }
  const std::string ignore = read_repo_file("docker/Dockerfile.dockerignore");
  const std::string cmake = read_repo_file("CMakeLists.txt");
  std::regex subdirectory(R"(add_subdirectory\((\w+)\))");
  std::size_t folders = 0;
  for (std::sregex_iterator it(cmake.begin(), cmake.end(), subdirectory), end; it != end; ++it) {
    std::string folder = (*it)[1];
    if (folder == "tests") continue;  // BUILD_TESTING=OFF in the image
    ++folders;
    EXPECT_TRUE(copied.contains(folder + "/")) << "docker/Dockerfile does not COPY " << folder;
    EXPECT_NE(ignore.find("\n!" + folder + "/\n"), std::string::npos)
        << "docker/Dockerfile.dockerignore does not let " << folder << "/ into the context";
  }
  EXPECT_GE(folders, 7u);
}

}  // namespace
}  // namespace drydock::builder
