// Authentication and authorization over a real socket: the server in this
// process with auth on, a real user store (SQLite) and a real signing key.

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "auth/auth_store.hpp"
#include "auth/authenticator.hpp"
#include "auth/jwt.hpp"
#include "auth/secrets.hpp"
#include "storage/clock.hpp"
#include "tests/server/api_fixture.hpp"

namespace drydock::testing {
namespace {

using nlohmann::json;

std::string basic(std::string_view user, std::string_view secret) {
  return "Basic " + auth::base64_encode(std::string(user) + ":" + std::string(secret));
}

Headers with_auth(const std::string& authorization, Headers h = {}) {
  if (!authorization.empty()) h.emplace_back("Authorization", authorization);
  return h;
}

class AuthApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& data = temp_.path();
    blobs_ = std::make_unique<storage::FsBlobStore>(data);
    meta_ = std::make_unique<storage::MetadataStore>(data / "metadata.db");
    uploads_ = std::make_unique<storage::UploadStore>(data / "uploads", *blobs_, *meta_);
    registry_ = std::make_unique<registry::Registry>(*blobs_, *meta_, *uploads_,
                                                     registry::RegistryOptions{});
    store_ = std::make_unique<auth::AuthStore>(data / "metadata.db", auth::KdfCost{10, 8, 1});
    signer_ = std::make_unique<auth::JwtSigner>(auth::JwtSigner::generate());
    auth::AuthOptions o;
    o.anonymous_pull = {"public/**"};
    o.login_cache_seconds = 0;  // so that revocations show at once
    authenticator_ = std::make_unique<auth::Authenticator>(o, *store_, *signer_);
    add_user("root", true, {});
    add_user("alice", false, {{"team/**", "pull,push"}});
    add_user("reader", false, {{"team/**", "pull"}});
    add_user("deleter", false, {{"team/**", "pull,delete"}});
    add_user("bob", false, {{"bob/*", "pull,push"}});
    auto c = ApiTest_config();
    server_ = std::make_unique<server::Server>(c, *registry_, authenticator_.get());
    port_ = server_->start();
    http_.emplace(port_);
  }
  void TearDown() override {
    http_.reset();
    server_->stop();
  }

  static config::ServerConfig ApiTest_config() {
    config::ServerConfig c;
    c.listen_host = "127.0.0.1";
    c.listen_port = 0;
    c.io_threads = 2;
    c.worker_threads = 2;
    c.access_log = true;
    return c;
  }

  void add_user(const std::string& name, bool admin,
                std::vector<std::pair<std::string, std::string>> grants) {
    ASSERT_TRUE(store_->add_user(name, name + "-pw", admin));
    for (auto& [pattern, actions] : grants) {
      ASSERT_TRUE(store_->grant(name, pattern, *auth::ActionSet::parse(actions)));
    }
  }
  std::string creds(const std::string& user) { return basic(user, user + "-pw"); }

  Client& http() { return *http_; }
  // The token endpoint as the test client reaches it: its Host header says
  // "127.0.0.1" (see http_client.cpp).
  std::string realm() const { return "http://127.0.0.1/token"; }

  // Monolithic push of `content` as `authorization`; the response.
  Response push_blob(const std::string& repo, const std::string& content,
                     const std::string& authorization) {
    return http().post("/v2/" + repo + "/blobs/uploads/?digest=" + sha256(content), content,
                       with_auth(authorization));
  }

  // Pushes a one-layer image as `authorization` (expects success); its digest.
  std::string push_image(const std::string& repo, const std::string& tag,
                         const std::string& authorization, std::uint32_t seed = 1) {
    std::string config = json{{"architecture", "amd64"}, {"os", "linux"}, {"seed", seed}}.dump();
    std::string layer = random_bytes(2000, seed);
    EXPECT_EQ(push_blob(repo, config, authorization).status, 201u);
    EXPECT_EQ(push_blob(repo, layer, authorization).status, 201u);
    std::string manifest = image_manifest(
        kOciManifest, descriptor(kOciConfig, sha256(config), config.size()),
        json::array({descriptor(kOciLayer, sha256(layer), layer.size())}));
    auto r = http().put("/v2/" + repo + "/manifests/" + tag, manifest,
                        with_auth(authorization, {{"Content-Type", std::string(kOciManifest)}}));
    EXPECT_EQ(r.status, 201u) << r.body;
    return sha256(manifest);
  }

  // GET /token as `authorization` for `scopes`; the JSON answer (checked 200).
  json token(const std::string& authorization, std::vector<std::string> scopes,
             bool offline = false) {
    std::string target = "/token?service=drydock";
    for (auto& s : scopes) target += "&scope=" + registry::url_encode(s);
    if (offline) target += "&offline_token=true";
    auto r = http().get(target, with_auth(authorization));
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.json();
  }
  std::string bearer(const std::string& authorization, std::vector<std::string> scopes) {
    return "Bearer " + token(authorization, std::move(scopes))["token"].get<std::string>();
  }

  TempDir temp_;
  std::unique_ptr<storage::FsBlobStore> blobs_;
  std::unique_ptr<storage::MetadataStore> meta_;
  std::unique_ptr<storage::UploadStore> uploads_;
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<auth::AuthStore> store_;
  std::unique_ptr<auth::JwtSigner> signer_;
  std::unique_ptr<auth::Authenticator> authenticator_;
  std::unique_ptr<server::Server> server_;
  std::uint16_t port_ = 0;
  std::optional<Client> http_;
};

TEST_F(AuthApiTest, BaseChallengesWithTheTokenRealm) {
  auto r = http().get("/v2/");
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.error_code(), "UNAUTHORIZED");
  EXPECT_EQ(r.header("WWW-Authenticate"),
            "Bearer realm=\"" + realm() + "\",service=\"drydock\"");
  // The realm follows the Host the client used, with nothing that could
  // break out of the quoted value.
  r = http().get("/v2/", {{"Host", "registry.example:5000\",x=\"y"}});
  EXPECT_EQ(r.header("WWW-Authenticate"),
            "Bearer realm=\"http://registry.example:5000xy/token\",service=\"drydock\"");
  EXPECT_EQ(http().get("/v2/", with_auth(creds("alice"))).status, 200u);
  EXPECT_EQ(http().get("/v2/", with_auth(basic("alice", "wrong"))).status, 401u);
  EXPECT_EQ(http().get("/v2/", with_auth("Bearer not.a.token")).status, 401u);
}

// Every endpoint as: nobody, wrong password, pull-only, push, delete.
TEST_F(AuthApiTest, EveryEndpointByRole) {
  std::string digest = push_image("team/app", "v1", creds("root"));
  std::string config = json{{"architecture", "amd64"}, {"os", "linux"}, {"seed", 1}}.dump();
  std::string blob = sha256(config);
  auto upload = http().post("/v2/team/app/blobs/uploads/", "", with_auth(creds("root")));
  ASSERT_EQ(upload.status, 202u);
  std::string location = upload.header("Location");

  struct Case {
    std::string method, target;
    unsigned anonymous, wrong, reader, pusher, deleter;  // expected status
  };
  const std::string m = "/v2/team/app/manifests/";
  const std::string b = "/v2/team/app/blobs/";
  // 0 = "allowed": anything but 401/403 (the outcome itself is tested elsewhere).
  std::vector<Case> cases = {
      {"GET", "/v2/", 401, 401, 200, 200, 200},
      {"GET", "/v2/_catalog", 401, 401, 200, 200, 200},
      {"GET", "/v2/team/app/tags/list", 401, 401, 200, 200, 200},
      {"GET", m + "v1", 401, 401, 200, 200, 200},
      {"HEAD", m + "v1", 401, 401, 200, 200, 200},
      {"GET", b + blob, 401, 401, 200, 200, 200},
      {"HEAD", b + blob, 401, 401, 200, 200, 200},
      {"GET", "/v2/team/app/referrers/" + digest, 401, 401, 200, 200, 200},
      {"POST", "/v2/team/app/blobs/uploads/", 401, 401, 403, 202, 403},
      {"GET", location, 401, 401, 403, 204, 403},
      {"PATCH", location, 401, 401, 403, 0, 403},
      {"PUT", m + "v2", 401, 401, 403, 0, 403},
      {"DELETE", b + sha256("nothing"), 401, 401, 403, 403, 0},
      {"DELETE", m + "nothing", 401, 401, 403, 403, 0},
  };
  // Wrong credentials use a new name each time: the rate limiter, tested
  // below, would otherwise answer 429 after a few.
  int wrong_count = 0;
  std::vector<std::pair<std::string, std::string>> who = {
      {"anonymous", ""},
      {"wrong", ""},
      {"reader", creds("reader")},
      {"pusher", creds("alice")},
      {"deleter", creds("deleter")},
  };
  for (const auto& c : cases) {
    unsigned want[] = {c.anonymous, c.wrong, c.reader, c.pusher, c.deleter};
    for (std::size_t i = 0; i < who.size(); ++i) {
      Request req;
      req.method = c.method;
      req.target = c.target;
      req.headers = with_auth(who[i].first == "wrong"
                                  ? basic("stranger" + std::to_string(wrong_count++), "nope")
                                  : who[i].second);
      auto r = http().send(req);
      std::string what = c.method + " " + c.target + " as " + who[i].first + ": " + r.body;
      if (want[i] == 0) {
        EXPECT_NE(r.status, 401u) << what;
        EXPECT_NE(r.status, 403u) << what;
      } else {
        EXPECT_EQ(r.status, want[i]) << what;
      }
      if (r.status == 401) {
        if (c.method != "HEAD") {
          EXPECT_EQ(r.error_code(), "UNAUTHORIZED") << what;
        }
        EXPECT_TRUE(r.header("WWW-Authenticate").starts_with("Bearer realm=")) << what;
      }
      if (r.status == 403 && c.method != "HEAD") {
        EXPECT_EQ(r.error_code(), "DENIED") << what;
      }
    }
  }
  // The refused delete changed nothing; the allowed one worked.
  EXPECT_EQ(http().get(m + "v1", with_auth(creds("reader"))).status, 200u);
  EXPECT_EQ(http().del(m + digest, with_auth(creds("deleter"))).status, 202u);
  EXPECT_EQ(http().get(m + "v1", with_auth(creds("reader"))).status, 404u);
}

TEST_F(AuthApiTest, ChallengeCarriesTheScopeTheRequestNeeds) {
  auto r = http().post("/v2/team/app/blobs/uploads/", "");
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer realm=\"" + realm() +
                                              "\",service=\"drydock\",scope=\"repository:team/"
                                              "app:push\"");
  r = http().get("/v2/_catalog");
  EXPECT_NE(r.header("WWW-Authenticate").find("scope=\"registry:catalog:*\""), std::string::npos);
}

TEST_F(AuthApiTest, TokenFlowPushAndPull) {
  auto t = token(creds("alice"), {"repository:team/app:pull,push"});
  ASSERT_TRUE(t["token"].is_string());
  EXPECT_EQ(t["access_token"], t["token"]);
  EXPECT_EQ(t["expires_in"], 300);
  EXPECT_TRUE(t["issued_at"].is_string());
  EXPECT_FALSE(t.contains("refresh_token"));
  std::string b = "Bearer " + t["token"].get<std::string>();
  std::string digest = push_image("team/app", "v1", b);
  auto r = http().get("/v2/team/app/manifests/v1",
                      with_auth(b, {{"Accept", std::string(kOciManifest)}}));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("Docker-Content-Digest"), digest);
  EXPECT_EQ(http().get("/v2/", with_auth(b)).status, 200u);
  // The token names team/app only: another repository alice may push to
  // sends her back to the token endpoint for that scope.
  r = http().post("/v2/team/other/blobs/uploads/", "", with_auth(b));
  EXPECT_EQ(r.status, 401u);
  EXPECT_NE(r.header("WWW-Authenticate").find("error=\"insufficient_scope\""), std::string::npos);
  EXPECT_NE(r.header("WWW-Authenticate").find("scope=\"repository:team/other:push\""),
            std::string::npos);
}

TEST_F(AuthApiTest, PartialGrantIsIntersectedNotRefused) {
  auto t = token(creds("reader"), {"repository:team/app:pull,push,delete", "repository:x/y:pull"});
  auto claims = signer_->verify(t["token"].get<std::string>(), "drydock", "drydock",
                                storage::unix_now());
  ASSERT_TRUE(claims);
  ASSERT_EQ(claims->access.size(), 2u);
  EXPECT_EQ(claims->access[0].name, "team/app");
  EXPECT_EQ(claims->access[0].actions, std::vector<std::string>{"pull"});
  EXPECT_TRUE(claims->access[1].actions.empty());
  // The reader's token cannot push, and her account cannot either: denied.
  std::string b = "Bearer " + t["token"].get<std::string>();
  auto r = http().post("/v2/team/app/blobs/uploads/", "", with_auth(b));
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(r.error_code(), "DENIED");
}

TEST_F(AuthApiTest, TokenForRepoACannotPushToRepoB) {
  std::string b = bearer(creds("alice"), {"repository:team/a:pull,push"});
  EXPECT_EQ(push_blob("team/a", "x", b).status, 201u);
  EXPECT_EQ(push_blob("team/b", "x", b).status, 401u);
  // An access token (robot) limited to team/a, used as a password.
  auto made = store_->create_token("alice", {{"team/a", auth::ActionSet::all()}}, 0, "ci");
  ASSERT_TRUE(made);
  std::string robot = basic("alice", made->secret);
  EXPECT_EQ(push_blob("team/a", "y", robot).status, 201u);
  auto r = push_blob("team/b", "y", robot);
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(r.error_code(), "DENIED");
  // At the token endpoint too, the robot gets team/a only.
  auto t = token(robot, {"repository:team/b:push", "repository:team/a:push"});
  auto claims = signer_->verify(t["token"].get<std::string>(), "drydock", "drydock",
                                storage::unix_now());
  ASSERT_TRUE(claims);
  EXPECT_TRUE(claims->access[0].actions.empty());
  EXPECT_EQ(claims->access[1].actions, std::vector<std::string>{"push"});
  // Revoked: the secret no longer logs in.
  ASSERT_TRUE(store_->revoke_token(made->info.id));
  EXPECT_EQ(push_blob("team/a", "z", robot).status, 401u);
  EXPECT_EQ(http().get("/token?service=drydock", with_auth(robot)).status, 401u);
}

TEST_F(AuthApiTest, TamperedExpiredAndForeignTokensAreRefused) {
  std::string t = token(creds("alice"), {"repository:team/app:pull"})["token"];
  std::string tampered = t;
  tampered[tampered.find('.') + 5] ^= 1;
  auto r = http().get("/v2/team/app/tags/list", with_auth("Bearer " + tampered));
  EXPECT_EQ(r.status, 401u);
  EXPECT_NE(r.header("WWW-Authenticate").find("invalid_token"), std::string::npos);
  auth::TokenClaims c;
  c.issuer = c.audience = "drydock";
  c.subject = "alice";
  c.issued_at = c.not_before = storage::unix_now() - 1000;
  c.expires_at = storage::unix_now() - 500;
  c.access = {{"repository", "team/app", {"pull"}}};
  EXPECT_EQ(http().get("/v2/team/app/tags/list", with_auth("Bearer " + signer_->sign(c))).status,
            401u);
  c.expires_at = storage::unix_now() + 500;
  auto other = auth::JwtSigner::generate();
  EXPECT_EQ(http().get("/v2/team/app/tags/list", with_auth("Bearer " + other.sign(c))).status,
            401u);
  c.audience = "someone-else";
  EXPECT_EQ(http().get("/v2/team/app/tags/list", with_auth("Bearer " + signer_->sign(c))).status,
            401u);
}

TEST_F(AuthApiTest, OAuthPasswordAndRefreshGrants) {
  auto form = [&](const std::string& body) {
    return http().post("/token", body,
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
  };
  auto r = form(
      "grant_type=password&username=alice&password=alice-pw&service=drydock&client_id=docker&"
      "access_type=offline&scope=repository%3Ateam%2Fapp%3Apull%2Cpush");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("Cache-Control"), "no-store");
  std::string refresh = r.json()["refresh_token"];
  ASSERT_FALSE(refresh.empty());
  EXPECT_EQ(push_blob("team/app", "z", "Bearer " + r.json()["access_token"].get<std::string>())
                .status,
            201u);
  r = form("grant_type=refresh_token&refresh_token=" + refresh +
           "&service=drydock&client_id=docker&scope=repository%3Ateam%2Fapp%3Apull");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.json()["token"].is_string());
  EXPECT_EQ(form("grant_type=refresh_token&refresh_token=bogus&service=drydock").status, 401u);
  EXPECT_EQ(form("grant_type=password&username=alice&password=bad&service=drydock").status, 401u);
  EXPECT_EQ(form("grant_type=magic&service=drydock").status, 400u);
  // GET with offline_token=true also hands out a refresh token.
  EXPECT_TRUE(token(creds("alice"), {}, true).contains("refresh_token"));
  // A new password logs every refresh token out.
  ASSERT_TRUE(store_->set_password("alice", "new-pw"));
  EXPECT_EQ(form("grant_type=refresh_token&refresh_token=" + refresh + "&service=drydock").status,
            401u);
}

TEST_F(AuthApiTest, AnonymousPullOnlyWherePatternsAllow) {
  push_image("public/tools", "v1", creds("root"));
  push_image("team/app", "v1", creds("root"));
  auto r = http().get("/v2/public/tools/manifests/v1", {{"Accept", std::string(kOciManifest)}});
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(http().get("/v2/team/app/manifests/v1").status, 401u);
  EXPECT_EQ(http().post("/v2/public/tools/blobs/uploads/", "").status, 401u);
  // The anonymous token flow (no credentials at /token) grants the same.
  auto t = token("", {"repository:public/tools:pull,push", "repository:team/app:pull"});
  auto claims = signer_->verify(t["token"].get<std::string>(), "drydock", "drydock",
                                storage::unix_now());
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->subject, "");
  EXPECT_EQ(claims->access[0].actions, std::vector<std::string>{"pull"});
  EXPECT_TRUE(claims->access[1].actions.empty());
}

TEST_F(AuthApiTest, CatalogListsOnlyPullableRepositories) {
  push_image("team/app", "v1", creds("root"));
  push_image("bob/tool", "v1", creds("root"));
  push_image("secret/x", "v1", creds("root"));
  auto list = [&](const std::string& authorization, const std::string& q = "") {
    auto r = http().get("/v2/_catalog" + q, with_auth(authorization));
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.json()["repositories"];
  };
  EXPECT_EQ(list(creds("root")), json({"bob/tool", "secret/x", "team/app"}));
  EXPECT_EQ(list(creds("alice")), json({"team/app"}));
  EXPECT_EQ(list(creds("bob")), json({"bob/tool"}));
  // Pagination runs over the filtered list.
  auto r = http().get("/v2/_catalog?n=1", with_auth(creds("bob")));
  EXPECT_EQ(r.json()["repositories"], json({"bob/tool"}));
  EXPECT_FALSE(r.has("Link"));
  // With a bearer token for the catalog: the account's rights decide.
  std::string b = bearer(creds("alice"), {"registry:catalog:*"});
  EXPECT_EQ(list(b), json({"team/app"}));
}

TEST_F(AuthApiTest, UsageShowsOnlyWhatTheCallerMayPull) {
  auto link = [&](const std::string& repo, std::string_view content) {
    ASSERT_TRUE(meta_->link_blob(repo, storage::BlobInfo{storage::digest_of(content),
                                                         content.size()}));
  };
  link("team/app", "team bytes");
  link("team/secret", "more team bytes");
  link("bob/tool", "bob");
  link("public/lib", "public bytes");
  storage::QuotaLimits q;
  q.namespaces["quiet"] = 1000;
  meta_->set_quotas(q);
  auto shown = [&](const std::string& authorization) {
    auto r = http().get("/usage", with_auth(authorization));
    EXPECT_EQ(r.status, 200u) << r.body;
    json doc = r.json();
    json out = json::object();
    for (const auto& ns : doc["namespaces"]) {
      json repos = json::array();
      for (const auto& repo : ns["repositories"]) repos.push_back(repo["name"]);
      out[ns["name"].get<std::string>()] = repos;
    }
    return out;
  };
  EXPECT_EQ(shown(creds("root")), json({{"bob", {"bob/tool"}},
                                        {"public", {"public/lib"}},
                                        {"quiet", json::array()},
                                        {"team", {"team/app", "team/secret"}}}));
  EXPECT_EQ(shown(creds("alice")), json({{"public", {"public/lib"}},
                                         {"team", {"team/app", "team/secret"}}}));
  EXPECT_EQ(shown(creds("bob")), json({{"bob", {"bob/tool"}}, {"public", {"public/lib"}}}));
  // Anonymous callers are challenged, as for the catalog.
  EXPECT_EQ(http().get("/usage").status, 401u);
  ASSERT_TRUE(store_->add_user("narrow", "narrow-pw", false));
  ASSERT_TRUE(store_->grant("narrow", "team/app", auth::Action::kPull));
  json narrow = http().get("/usage", with_auth(creds("narrow"))).json();
  json team;
  for (const auto& ns : narrow["namespaces"]) {
    if (ns["name"] == "team") team = ns;
  }
  ASSERT_TRUE(team.is_object()) << narrow.dump();
  EXPECT_EQ(team["repositories"].size(), 1u);
  // The namespace's figure is the whole namespace's: what its quota counts.
  EXPECT_EQ(team["used"], std::string("team bytes").size() + std::string("more team bytes").size());
  EXPECT_EQ(http().get("/usage", with_auth(basic("alice", "wrong"))).status, 401u);
}

TEST_F(AuthApiTest, MountNeedsPullOnTheSource) {
  push_image("secret/x", "v1", creds("root"));
  std::string config = json{{"architecture", "amd64"}, {"os", "linux"}, {"seed", 1}}.dump();
  std::string d = sha256(config);
  ASSERT_TRUE(store_->grant("alice", "public/**", auth::Action::kPull));
  push_image("public/y", "v1", creds("root"));
  // No pull on secret/x: not mountable, a plain upload session instead.
  auto r = http().post("/v2/team/app/blobs/uploads/?mount=" + d + "&from=secret/x", "",
                       with_auth(creds("alice")));
  EXPECT_EQ(r.status, 202u);
  EXPECT_EQ(http().head("/v2/team/app/blobs/" + d, with_auth(creds("alice"))).status, 404u);
  r = http().post("/v2/team/app/blobs/uploads/?mount=" + d + "&from=public/y", "",
                  with_auth(creds("alice")));
  EXPECT_EQ(r.status, 201u);
  EXPECT_EQ(http().head("/v2/team/app/blobs/" + d, with_auth(creds("alice"))).status, 200u);
}

TEST_F(AuthApiTest, BruteForceIsSlowedPerUserWithoutBlockingOthers) {
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(http().get("/v2/", with_auth(basic("alice", "guess" + std::to_string(i)))).status,
              401u);
  }
  auto r = http().get("/v2/", with_auth(creds("alice")));
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.error_code(), "TOOMANYREQUESTS");
  EXPECT_TRUE(r.has("Retry-After"));
  r = http().get("/token?service=drydock", with_auth(creds("alice")));
  EXPECT_EQ(r.status, 429u);
  // Another user, from the same address, is not affected.
  EXPECT_EQ(http().get("/v2/", with_auth(creds("bob"))).status, 200u);
  // Guessing across many names from one address slows the address down.
  unsigned last = 0;
  for (int i = 0; i < 25 && last != 429; ++i) {
    last = http().get("/v2/", with_auth(basic("ghost" + std::to_string(i), "x"))).status;
  }
  EXPECT_EQ(last, 429u);
}

// No password, access token or JWT ever reaches the log (stderr).
TEST_F(AuthApiTest, SecretsNeverLogged) {
  std::string log_path = (temp_.path() / "stderr.log").string();
  int saved = ::dup(2);
  int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ::dup2(fd, 2);
  auto made = store_->create_token("alice", {{"team/**", auth::ActionSet::all()}}, 0, "ci");
  auto t = token(basic("alice", made->secret), {"repository:team/app:push"}, true);
  push_image("team/app", "v1", "Bearer " + t["token"].get<std::string>());
  http().get("/v2/", with_auth(basic("alice", "alice-wrong-pw")));
  http().post("/token", "grant_type=password&username=alice&password=alice-pw&service=drydock");
  ::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(fd);
  std::ifstream in(log_path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string log = ss.str();
  EXPECT_NE(log.find("access:"), std::string::npos) << "the access log was on";
  for (const std::string& secret :
       {made->secret, std::string("alice-pw"), std::string("alice-wrong-pw"),
        t["token"].get<std::string>(), t["refresh_token"].get<std::string>()}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << secret;
  }
}

}  // namespace
}  // namespace drydock::testing
