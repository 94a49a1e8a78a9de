#include "auth/scope.hpp"

#include <gtest/gtest.h>

#include "auth/access.hpp"

namespace drydock::auth {
namespace {

using Actions = std::vector<std::string>;

// --- scopes -----------------------------------------------------------------

TEST(ParseScope, ReadsTypeNameAndActions) {
  EXPECT_EQ(parse_scope("repository:team/app:pull,push"),
            (Scope{"repository", "team/app", Actions{"pull", "push"}}));
  EXPECT_EQ(parse_scope("registry:catalog:*"), (Scope{"registry", "catalog", Actions{"*"}}));
}

TEST(ParseScope, DropsTheResourceClass) {
  EXPECT_EQ(parse_scope("repository(plugin):team/app:pull"),
            (Scope{"repository", "team/app", Actions{"pull"}}));
}

TEST(ParseScope, NameMayContainColons) {
  EXPECT_EQ(parse_scope("repository:localhost:5000/app:pull"),
            (Scope{"repository", "localhost:5000/app", Actions{"pull"}}));
}

TEST(ParseScope, DropsEmptyActionsAndKeepsUnknownOnes) {
  EXPECT_EQ(parse_scope("repository:app:"), (Scope{"repository", "app", Actions{}}));
  EXPECT_EQ(parse_scope("repository:app:pull,,push,"),
            (Scope{"repository", "app", Actions{"pull", "push"}}));
  EXPECT_EQ(parse_scope("repository:app:pull,frobnicate"),
            (Scope{"repository", "app", Actions{"pull", "frobnicate"}}));
}

TEST(ParseScope, RejectsMalformedScopes) {
  for (std::string_view bad : {"", "repository", "repository:app", ":app:pull", "repository::pull",
                               "(plugin):app:pull", "::"}) {
    EXPECT_FALSE(parse_scope(bad)) << bad;
  }
}

TEST(ParseScopes, SplitsOnSpacesAndSkipsMalformedEntries) {
  std::vector<Scope> s = parse_scopes("repository:a:pull  bogus repository:b/c:push,pull ");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0], (Scope{"repository", "a", Actions{"pull"}}));
  EXPECT_EQ(s[1], (Scope{"repository", "b/c", Actions{"push", "pull"}}));
  EXPECT_TRUE(parse_scopes("").empty());
  EXPECT_TRUE(parse_scopes("   ").empty());
}

TEST(ScopeToString, RoundTrips) {
  for (std::string_view text : {"repository:team/app:pull,push", "registry:catalog:*",
                                "repository:localhost:5000/x:pull", "repository:app:"}) {
    EXPECT_EQ(to_string(*parse_scope(text)), text);
  }
}

// --- actions ----------------------------------------------------------------

TEST(ActionSet, ParsesNamesStarAndEmpty) {
  EXPECT_EQ(ActionSet::parse("pull"), ActionSet(Action::kPull));
  EXPECT_EQ(ActionSet::parse("push,pull"), ActionSet(Action::kPull) | Action::kPush);
  EXPECT_EQ(ActionSet::parse("*"), ActionSet::all());
  EXPECT_EQ(ActionSet::parse("pull,*"), ActionSet::all());
  EXPECT_EQ(ActionSet::parse(""), ActionSet());
  EXPECT_EQ(ActionSet::parse("delete"), ActionSet(Action::kDelete));
}

TEST(ActionSet, UnknownNamesAreAnErrorUnlessIgnored) {
  EXPECT_FALSE(ActionSet::parse("pull,frobnicate"));
  EXPECT_FALSE(ActionSet::parse("Pull"));
  EXPECT_FALSE(ActionSet::parse(" pull"));
  EXPECT_EQ(ActionSet::parse("pull,frobnicate", ActionSet::Unknown::kIgnore),
            ActionSet(Action::kPull));
  EXPECT_EQ(ActionSet::parse("frobnicate", ActionSet::Unknown::kIgnore), ActionSet());
}

TEST(ActionSet, PrintsInCanonicalOrder) {
  EXPECT_EQ(ActionSet::parse("delete,push,pull")->str(), "pull,push,delete");
  EXPECT_EQ(ActionSet::all().str(), "pull,push,delete");
  EXPECT_EQ((ActionSet(Action::kDelete) | Action::kPull).str(), "pull,delete");
  EXPECT_EQ(ActionSet().str(), "");
  EXPECT_EQ(ActionSet::all().names(), (Actions{"pull", "push", "delete"}));
  EXPECT_TRUE(ActionSet().names().empty());
  for (std::uint8_t b = 0; b < 8; ++b) {
    ActionSet s = ActionSet::from_bits(b);
    EXPECT_EQ(ActionSet::parse(s.str()), s);
  }
}

TEST(ActionSet, SetOperations) {
  ActionSet pull_push = ActionSet(Action::kPull) | Action::kPush;
  EXPECT_TRUE(pull_push.contains(Action::kPull));
  EXPECT_FALSE(pull_push.contains(ActionSet::all()));
  EXPECT_TRUE(ActionSet::all().contains(pull_push));
  EXPECT_EQ(pull_push & ActionSet(Action::kPush), ActionSet(Action::kPush));
  EXPECT_TRUE((pull_push & Action::kDelete).empty());
  EXPECT_EQ(ActionSet::from_bits(0xff), ActionSet::all());
}

// --- patterns ---------------------------------------------------------------

struct MatchCase {
  std::string_view pattern, name;
  bool matches;
};

TEST(PatternMatches, FollowsTheDocumentedRules) {
  const MatchCase cases[] = {
      {"team/app", "team/app", true},
      {"team/app", "team/app2", false},
      {"team/app", "team", false},
      {"team/*", "team/app", true},
      {"team/*", "team/app/api", false},
      {"team/*", "team/", true},
      {"team/*", "team", false},
      {"team/**", "team/app", true},
      {"team/**", "team/app/api", true},
      {"team/**", "teamx/app", false},
      {"team/**", "other/team/app", false},
      {"**", "anything/at/all", true},
      {"**", "x", true},
      {"*", "library", true},
      {"*", "library/ubuntu", false},
      {"*/app", "team/app", true},
      {"*/app", "a/b/app", false},
      {"**/app", "a/b/app", true},
      {"**/app", "app", false},
      {"team/*-dev", "team/web-dev", true},
      {"team/*-dev", "team/web-prod", false},
      {"a*b*c", "aXXbYYc", true},
      {"a*b*c", "aXXbYY/c", false},
      {"a**c", "a/b/c", true},
      {"***", "a/b", true},
      {"team.app", "teamxapp", false},  // '.' is literal
  };
  for (const MatchCase& c : cases) {
    EXPECT_EQ(pattern_matches(c.pattern, c.name), c.matches) << c.pattern << " ~ " << c.name;
  }
}

TEST(PatternMatches, ManyStarsStayFast) {
  std::string pattern;
  for (int i = 0; i < 200; ++i) pattern += "*a";
  pattern += "b";
  std::string name(250, 'a');
  EXPECT_FALSE(pattern_matches(pattern, name));  // exponential if it backtracked
}

TEST(ValidPattern, AcceptsRepositoryCharactersAndStars) {
  for (std::string_view ok : {"team/app", "**", "*", "team/*", "a.b_c-d/e", "0abc"}) {
    EXPECT_TRUE(valid_pattern(ok)) << ok;
  }
  for (std::string_view bad :
       {"", "Team/app", "team app", "team/app\n", "team:app", "a?b", "team/\x01", "caf\xc3\xa9"}) {
    EXPECT_FALSE(valid_pattern(bad)) << bad;
  }
}

// --- allowed_actions --------------------------------------------------------

const ActionSet kPull(Action::kPull);
const ActionSet kPush(Action::kPush);
const ActionSet kDelete(Action::kDelete);

Principal user_with(std::vector<Grant> grants) {
  Principal p;
  p.user = "alice";
  p.grants = std::move(grants);
  return p;
}

TEST(AllowedActions, UnionOfMatchingGrants) {
  Principal p = user_with({{"team/**", kPull}, {"team/app", kPush}, {"other/*", ActionSet::all()}});
  EXPECT_EQ(allowed_actions(p, "team/app"), kPull | kPush);
  EXPECT_EQ(allowed_actions(p, "team/lib"), kPull);
  EXPECT_EQ(allowed_actions(p, "other/x"), ActionSet::all());
  EXPECT_EQ(allowed_actions(p, "other/x/y"), ActionSet());
  EXPECT_EQ(allowed_actions(p, "elsewhere"), ActionSet());
}

TEST(AllowedActions, AnonymousWithoutGrantsGetsNothing) {
  EXPECT_EQ(allowed_actions(Principal{}, "team/app"), ActionSet());
}

TEST(AllowedActions, AdminHasEverything) {
  Principal p;
  p.user = "root";
  p.admin = true;
  EXPECT_EQ(allowed_actions(p, "any/repo"), ActionSet::all());
}

TEST(AllowedActions, TokenScopeIntersectsTheUsersRights) {
  Principal p = user_with({{"team/**", kPull | kPush}});
  p.token_id = "0123456789ab";
  p.token_scope = {{"team/app", ActionSet::all()}, {"team/lib", kPull}, {"other", kPull}};
  EXPECT_EQ(allowed_actions(p, "team/app"), kPull | kPush);  // no delete: the user lacks it
  EXPECT_EQ(allowed_actions(p, "team/lib"), kPull);          // no push: the token lacks it
  EXPECT_EQ(allowed_actions(p, "team/web"), ActionSet());    // outside the token's scope
  EXPECT_EQ(allowed_actions(p, "other"), ActionSet());       // outside the user's rights
}

TEST(AllowedActions, TokenScopeEntriesAreUnitedFirst) {
  Principal p = user_with({{"**", ActionSet::all()}});
  p.token_id = "t";
  p.token_scope = {{"team/**", kPull}, {"team/app", kPush}};
  EXPECT_EQ(allowed_actions(p, "team/app"), kPull | kPush);
}

TEST(AllowedActions, AdminTokenIsLimitedByItsScope) {
  Principal p;
  p.user = "root";
  p.admin = true;
  p.token_id = "t";
  p.token_scope = {{"ci/**", kPull | kPush}};
  EXPECT_EQ(allowed_actions(p, "ci/build"), kPull | kPush);
  EXPECT_EQ(allowed_actions(p, "prod/app"), ActionSet());
}

TEST(AllowedActions, TokenWithEmptyScopeAllowsNothing) {
  Principal p = user_with({{"**", ActionSet::all()}});
  p.token_id = "t";
  EXPECT_EQ(allowed_actions(p, "team/app"), ActionSet());
}

}  // namespace
}  // namespace drydock::auth
