// Fuzz target "dockerfile": builder/dockerfile.hpp and builder/shell_words.hpp.

#include <algorithm>
#include <variant>

#include "builder/dockerfile.hpp"
#include "builder/shell_words.hpp"
#include "fuzz/fuzz_target.hpp"

namespace drydock::fuzz {
namespace {

using namespace drydock::builder;

const Variables& variables() {
  static const Variables vars = {{"A", "a b"}, {"EMPTY", ""}, {"PATH", "/usr/bin:/bin"},
                                 {"NESTED", "${A}"}, {"Q", "'\"\\"}};
  return vars;
}

// Expansion never fails differently from its contract and never yields an
// empty word; text with nothing to expand comes back unchanged.
void check_expansion(std::string_view text, char escape) {
  const WordOptions options{.escape = escape};
  auto word = expand_word(text, variables(), options);
  auto words = expand_words(text, variables(), options);
  if (words) {
    expect(std::ranges::none_of(*words, [](const std::string& w) { return w.empty(); }),
           "expand_words returned an empty word");
  }
  const bool plain = text.find_first_of("$'\"") == std::string_view::npos &&
                     text.find(escape) == std::string_view::npos;
  if (plain) expect(word && *word == text, "expand_word changed text with nothing to expand");
  (void)expand_heredoc(text, variables());
  (void)expand_word(text, variables(), WordOptions{.escape = escape, .keep_quotes = true,
                                                   .keep_escapes = true, .keep_unset = true});
}

void check_instruction(const Instruction& ins, int lines, char escape) {
  expect(ins.start_line >= 1 && ins.start_line <= ins.end_line && ins.end_line <= lines,
         "instruction lines out of range");
  if (expands_variables(ins.keyword)) check_expansion(ins.original, escape);
  if (const auto* env = std::get_if<EnvCommand>(&ins.command)) {
    for (const auto& kv : env->pairs) check_expansion(kv.value, escape);
  }
  if (const auto* run = std::get_if<RunCommand>(&ins.command)) {
    for (const auto& doc : run->heredocs) (void)expand_heredoc(doc.body(), variables());
  }
  if (const auto* onbuild = std::get_if<OnbuildCommand>(&ins.command)) {
    expect(onbuild->trigger != nullptr, "ONBUILD without a parsed trigger");
  }
}

void check_dockerfile(const Dockerfile& df, std::string_view text) {
  const int lines = static_cast<int>(std::ranges::count(text, '\n')) + 1;
  expect(!df.stages.empty(), "a parsed Dockerfile with no stage");
  for (const auto& arg : df.global_args) check_instruction(arg, lines, df.escape);
  for (std::size_t i = 0; i < df.stages.size(); ++i) {
    const Stage& stage = df.stages[i];
    expect(stage.from.keyword == Keyword::kFrom, "a stage that does not start with FROM");
    check_instruction(stage.from, lines, df.escape);
    for (const auto& ins : stage.instructions) {
      expect(ins.keyword != Keyword::kFrom, "FROM inside a stage");
      check_instruction(ins, lines, df.escape);
    }
    expect(df.find_stage(std::to_string(i)) == i, "find_stage(index) misses its stage");
    if (!stage.name.empty()) {
      const auto found = df.find_stage(stage.name);
      expect(found && df.stages[*found].name == stage.name, "find_stage(name) misses its stage");
    }
  }
}

}  // namespace

void fuzz_dockerfile(Input in) {
  const std::string_view text = as_text(in);
  auto parsed = parse_dockerfile(text);
  if (parsed) {
    check_dockerfile(*parsed, text);
  } else {
    expect(parsed.error().line >= 0, "an error on a negative line");
    (void)parsed.error().to_string();
  }
  // The same text as one ONBUILD trigger, and as words to expand.
  if (auto trigger = parse_trigger(text)) {
    expect(trigger->keyword != Keyword::kFrom && trigger->keyword != Keyword::kOnbuild &&
               trigger->keyword != Keyword::kMaintainer,
           "parse_trigger accepted a forbidden trigger");
  }
  check_expansion(text, '\\');
  check_expansion(text, '`');
}

}  // namespace drydock::fuzz
