// The access decision without a socket: real store (SQLite in a temp dir),
// real signing key, explicit clocks.
#include "auth/authenticator.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "auth/secrets.hpp"
#include "tests/storage/temp_dir.hpp"

namespace drydock::auth {
namespace {

using Kind = Decision::Kind;

class AuthenticatorTest : public ::testing::Test {
 protected:
  AuthenticatorTest()
      : store_(dir_.path() / "metadata.db", KdfCost{10, 8, 1}),
        signer_(JwtSigner::generate()),
        auth_(options(), store_, signer_) {
    EXPECT_TRUE(store_.add_user("alice", "pw", false));
    EXPECT_TRUE(store_.grant("alice", "team/**", *ActionSet::parse("pull,push")));
  }
  static AuthOptions options() {
    AuthOptions o;
    o.anonymous_pull = {"public/*"};
    return o;
  }
  static std::string basic(std::string_view u, std::string_view p) {
    return "Basic " + base64_encode(std::string(u) + ":" + std::string(p));
  }
  std::string bearer(std::int64_t now, const std::string& scope) {
    TokenRequest req;
    req.scopes = {scope};
    auto reply = auth_.token_get(basic("alice", "pw"), "10.0.0.1", req, "realm", now);
    EXPECT_EQ(reply.status, 200u) << reply.body;
    return "Bearer " + nlohmann::json::parse(reply.body)["token"].get<std::string>();
  }
  static Requirement repo(std::string name, ActionSet a) {
    return Requirement{Resource::kRepository, std::move(name), a};
  }

  storage::testing::TempDir dir_;
  AuthStore store_;
  JwtSigner signer_;
  Authenticator auth_;
};

TEST_F(AuthenticatorTest, CachedBearerTokensStillExpire) {
  const std::int64_t t0 = 1'000'000;
  std::string b = bearer(t0, "repository:team/app:pull");
  auto need = repo("team/app", Action::kPull);
  EXPECT_EQ(auth_.authorize(b, "10.0.0.1", need, "realm", t0 + 1).kind, Kind::kAllow);
  EXPECT_EQ(auth_.authorize(b, "10.0.0.1", need, "realm", t0 + 2).kind, Kind::kAllow);
  // ttl 300 s + 60 s leeway: refused afterwards, cached or not.
  auto late = auth_.authorize(b, "10.0.0.1", need, "realm", t0 + 300 + 61);
  EXPECT_EQ(late.kind, Kind::kChallenge);
  EXPECT_NE(late.challenge.find("invalid_token"), std::string::npos);
}

TEST_F(AuthenticatorTest, AnonymousPullPatternsApplyToEveryone) {
  Principal nobody;
  EXPECT_TRUE(auth_.allowed(nobody, "public/tools").has(Action::kPull));
  EXPECT_FALSE(auth_.allowed(nobody, "public/tools").has(Action::kPush));
  EXPECT_FALSE(auth_.allowed(nobody, "public/a/b").has(Action::kPull)) << "* stays in a segment";
  EXPECT_EQ(auth_.authorize("", "10.0.0.1", repo("public/tools", Action::kPull), "r", 1).kind,
            Kind::kAllow);
  auto push = auth_.authorize("", "10.0.0.1", repo("public/tools", Action::kPush), "r", 1);
  EXPECT_EQ(push.kind, Kind::kChallenge);
  EXPECT_EQ(push.challenge,
            "Bearer realm=\"r\",service=\"drydock\",scope=\"repository:public/tools:push\"");
}

TEST_F(AuthenticatorTest, BasicCallersAreDeniedNotChallenged) {
  auto d = auth_.authorize(basic("alice", "pw"), "10.0.0.1", repo("other/x", Action::kPull), "r",
                           1);
  EXPECT_EQ(d.kind, Kind::kDeny);
  EXPECT_EQ(auth_.authorize(basic("alice", "pw"), "10.0.0.1", repo("team/x", Action::kPush), "r", 1)
                .kind,
            Kind::kAllow);
  EXPECT_EQ(auth_.authorize(basic("alice", "no"), "10.0.0.1", repo("team/x", Action::kPull), "r", 1)
                .kind,
            Kind::kChallenge);
  EXPECT_EQ(auth_.authorize("Basic !!!notbase64", "10.0.0.1", repo("team/x", Action::kPull), "r", 1)
                .kind,
            Kind::kChallenge);
}

TEST_F(AuthenticatorTest, GrantsChangeTakesEffectDespiteTheLoginCache) {
  auto need = repo("team/app", Action::kPush);
  EXPECT_EQ(auth_.authorize(basic("alice", "pw"), "10.0.0.1", need, "r", 1).kind, Kind::kAllow);
  ASSERT_TRUE(store_.grant("alice", "team/**", Action::kPull));
  EXPECT_EQ(auth_.authorize(basic("alice", "pw"), "10.0.0.1", need, "r", 2).kind, Kind::kDeny);
  ASSERT_TRUE(store_.delete_user("alice"));
  EXPECT_EQ(auth_.authorize(basic("alice", "pw"), "10.0.0.1", need, "r", 3).kind,
            Kind::kChallenge);
}

}  // namespace
}  // namespace drydock::auth
