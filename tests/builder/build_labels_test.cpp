#include "builder/build_labels.hpp"

#include <gtest/gtest.h>

#include "builder/dockerfile.hpp"
#include "builder/shell_words.hpp"

namespace drydock::builder {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// The labels of stage `i`'s LABEL instructions, expanded as the executor does.
Pairs labels_of(const std::string& text, std::size_t i) {
  auto df = parse_dockerfile(text, "Dockerfile");
  EXPECT_TRUE(df) << text;
  Pairs out;
  if (!df) return out;
  Variables vars;
  vars["y"] = "EXPANDED";
  WordOptions o;
  o.escape = df->escape;
  for (const auto& ins : df->stages.at(i).instructions) {
    if (const auto* l = std::get_if<LabelCommand>(&ins.command)) {
      for (const auto& kv : l->pairs) {
        out.emplace_back(*expand_word(kv.key, vars, o), *expand_word(kv.value, vars, o));
      }
    }
  }
  return out;
}

TEST(DockerfileWithLabels, AppendedToTheLastStage) {
  auto t = dockerfile_with_labels("FROM a AS one\nRUN x\nFROM b\nRUN y", "Dockerfile", "",
                                  {{"k", "v"}, {"org.x", "two words"}});
  ASSERT_TRUE(t);
  EXPECT_EQ(labels_of(*t, 1), (Pairs{{"k", "v"}, {"org.x", "two words"}}));
  EXPECT_TRUE(labels_of(*t, 0).empty());
}

TEST(DockerfileWithLabels, TheTargetStageGetsThem) {
  auto t = dockerfile_with_labels("FROM a AS one\nRUN x\n\n# next\nFROM b\nRUN y\n", "Dockerfile",
                                  "one", {{"k", "v"}});
  ASSERT_TRUE(t);
  EXPECT_EQ(labels_of(*t, 0), (Pairs{{"k", "v"}}));
  EXPECT_TRUE(labels_of(*t, 1).empty());
}

TEST(DockerfileWithLabels, NothingIsExpanded) {
  Pairs tricky{{"a", "$y ${y} \"q\" back\\slash"}, {"$y", "x"}};
  auto t = dockerfile_with_labels("FROM a\n", "Dockerfile", "", tricky);
  ASSERT_TRUE(t);
  EXPECT_EQ(labels_of(*t, 0), tricky);
  auto b = dockerfile_with_labels("# escape=`\nFROM a\n", "Dockerfile", "", tricky);
  ASSERT_TRUE(b);
  EXPECT_EQ(labels_of(*b, 0), tricky);
}

TEST(DockerfileWithLabels, UnchangedWithoutLabelsOrWhenTheBuildWillFail) {
  EXPECT_EQ(*dockerfile_with_labels("FROM a\n", "Dockerfile", "", {}), "FROM a\n");
  EXPECT_EQ(*dockerfile_with_labels("FROM a\n", "Dockerfile", "nope", {{"k", "v"}}), "FROM a\n");
  EXPECT_EQ(*dockerfile_with_labels("RUN x\n", "Dockerfile", "", {{"k", "v"}}), "RUN x\n");
}

TEST(DockerfileWithLabels, LineBreaksRefused) {
  EXPECT_FALSE(dockerfile_with_labels("FROM a\n", "Dockerfile", "", {{"k", "a\nb"}}));
  EXPECT_FALSE(dockerfile_with_labels("FROM a\n", "Dockerfile", "", {{"", "v"}}));
}

}  // namespace
}  // namespace drydock::builder
