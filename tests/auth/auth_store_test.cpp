#include "auth/auth_store.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/metadata_store.hpp"
#include "tests/storage/store_test_util.hpp"
#include "tests/storage/temp_dir.hpp"

namespace drydock::auth {
namespace {

namespace fs = std::filesystem;
using storage::testing::read_file;
using storage::testing::TempDir;

constexpr KdfCost kFast{10, 8, 1};
constexpr std::int64_t kNow = 1'700'000'000;
const ActionSet kPull(Action::kPull);
const ActionSet kPush(Action::kPush);

class AuthStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { reopen(); }
  void reopen() {
    store_.reset();
    store_ = std::make_unique<AuthStore>(db_file_, kFast);
  }
  AuthStore& store() { return *store_; }

  // The principal `user`/`secret` authenticate as, or nullopt.
  std::optional<Principal> login(std::string_view user, std::string_view secret,
                                 std::int64_t now = kNow) {
    StoreResult<std::optional<Principal>> r = store().authenticate(user, secret, now);
    EXPECT_TRUE(r) << to_string(r.error());
    return r ? *r : std::nullopt;
  }

  CreatedToken make_token(std::string_view user, std::vector<Grant> scope,
                          std::int64_t expires = 0) {
    StoreResult<CreatedToken> t = store().create_token(user, std::move(scope), expires, "ci");
    EXPECT_TRUE(t) << to_string(t.error());
    return t ? *t : CreatedToken{};
  }

  TempDir dir_;
  fs::path db_file_ = dir_.path() / "metadata.db";
  std::unique_ptr<AuthStore> store_;
};

// --- users --------------------------------------------------------------------

TEST_F(AuthStoreTest, AddsListsAndFindsUsers) {
  StoreResult<User> bob = store().add_user("bob", "pw-bob", false);
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->name, "bob");
  EXPECT_FALSE(bob->admin);
  EXPECT_GT(bob->created, 0);
  ASSERT_TRUE(store().add_user("alice", "pw-alice", true));

  StoreResult<std::vector<User>> users = store().list_users();
  ASSERT_TRUE(users);
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].name, "alice");  // ordered by name
  EXPECT_TRUE((*users)[0].admin);
  EXPECT_EQ((*users)[1].name, "bob");
  EXPECT_EQ((*users)[1].created, bob->created);

  StoreResult<std::optional<User>> found = store().find_user("alice");
  ASSERT_TRUE(found && *found);
  EXPECT_TRUE((*found)->admin);
  EXPECT_EQ(*store().find_user("carol"), std::nullopt);
  EXPECT_EQ(*store().count_admins(), 1u);
}

TEST_F(AuthStoreTest, DuplicateUserIsRefused) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  EXPECT_EQ(store().add_user("bob", "other", true).error(), StoreError::kExists);
  EXPECT_TRUE(login("bob", "pw"));  // the first one is untouched
  EXPECT_FALSE((*store().find_user("bob"))->admin);
}

TEST_F(AuthStoreTest, ValidatesNamesAndPasswords) {
  for (std::string_view bad :
       {"", "Bob", "-bob", ".bob", "_bob", "bob smith", "bob:x", "bob/x", "bób", "bob\n"}) {
    EXPECT_FALSE(AuthStore::valid_user_name(bad)) << bad;
    EXPECT_EQ(store().add_user(bad, "pw", false).error(), StoreError::kInvalid) << bad;
  }
  EXPECT_FALSE(AuthStore::valid_user_name(std::string(65, 'a')));
  for (std::string_view ok : {"bob", "0bob", "b", "ci-bot.2_x"}) {
    EXPECT_TRUE(AuthStore::valid_user_name(ok)) << ok;
  }
  EXPECT_TRUE(AuthStore::valid_user_name(std::string(64, 'a')));
  EXPECT_EQ(store().add_user("bob", "", false).error(), StoreError::kInvalid);
  EXPECT_EQ(store().add_user("bob", std::string("pw\0", 3), false).error(), StoreError::kInvalid);
  EXPECT_EQ(*store().find_user("bob"), std::nullopt);
}

TEST_F(AuthStoreTest, PasswordsVerifyAndWrongOnesDoNot) {
  ASSERT_TRUE(store().add_user("bob", "s3cret", false));
  std::optional<Principal> p = login("bob", "s3cret");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->user, "bob");
  EXPECT_FALSE(p->admin);
  EXPECT_FALSE(p->token_id);
  EXPECT_FALSE(login("bob", "s3cret "));
  EXPECT_FALSE(login("bob", std::string("s3cret\0", 7)));
  EXPECT_FALSE(login("bob", ""));
  EXPECT_FALSE(login("bob", "S3cret"));
  EXPECT_FALSE(login("nobody", "s3cret"));
  EXPECT_FALSE(login("", "s3cret"));
}

TEST_F(AuthStoreTest, StoresOnlyScryptHashes) {
  ASSERT_TRUE(store().add_user("bob", "plaintext-password-123", false));
  std::string hash = storage::testing::query_text(db_file_, "SELECT password_hash FROM auth_users");
  EXPECT_TRUE(hash.starts_with("$scrypt$ln=10,r=8,p=1$")) << hash;
  EXPECT_TRUE(verify_password("plaintext-password-123", hash));
  store_.reset();  // checkpoint the WAL into the main file
  EXPECT_EQ(read_file(db_file_).find("plaintext-password-123"), std::string::npos);
}

TEST_F(AuthStoreTest, SetPasswordAndAdmin) {
  ASSERT_TRUE(store().add_user("bob", "old", false));
  ASSERT_TRUE(store().set_password("bob", "new"));
  EXPECT_FALSE(login("bob", "old"));
  EXPECT_TRUE(login("bob", "new"));
  EXPECT_EQ(store().set_password("bob", "").error(), StoreError::kInvalid);
  EXPECT_EQ(store().set_password("nobody", "x").error(), StoreError::kNotFound);

  ASSERT_TRUE(store().set_admin("bob", true));
  EXPECT_TRUE(login("bob", "new")->admin);
  EXPECT_EQ(*store().count_admins(), 1u);
  ASSERT_TRUE(store().set_admin("bob", false));
  EXPECT_EQ(*store().count_admins(), 0u);
  EXPECT_EQ(store().set_admin("nobody", true).error(), StoreError::kNotFound);
}

TEST_F(AuthStoreTest, DeleteUserRemovesEverythingOfTheirs) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  ASSERT_TRUE(store().grant("bob", "team/**", kPull));
  CreatedToken t = make_token("bob", {{"team/**", kPull}});
  std::string refresh = *store().create_refresh_token(*login("bob", "pw"), 0);

  ASSERT_TRUE(store().delete_user("bob"));
  EXPECT_EQ(*store().find_user("bob"), std::nullopt);
  EXPECT_EQ(store().delete_user("bob").error(), StoreError::kNotFound);
  EXPECT_EQ(storage::testing::query_text(db_file_, "SELECT COUNT(*) FROM auth_grants"), "0");
  EXPECT_EQ(storage::testing::query_text(db_file_, "SELECT COUNT(*) FROM auth_tokens"), "0");
  EXPECT_EQ(storage::testing::query_text(db_file_, "SELECT COUNT(*) FROM auth_refresh_tokens"), "0");

  // A new user of the same name (likely the same rowid) inherits nothing.
  ASSERT_TRUE(store().add_user("bob", "pw2", false));
  EXPECT_TRUE(store().grants("bob")->empty());
  EXPECT_FALSE(login("bob", t.secret));
  EXPECT_EQ(*store().redeem_refresh_token(refresh, kNow), std::nullopt);
  EXPECT_TRUE(store().list_tokens("bob")->empty());
}

// --- grants -------------------------------------------------------------------

TEST_F(AuthStoreTest, GrantsAreSetReplacedAndRemoved) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  ASSERT_TRUE(store().grant("bob", "team/**", kPull));
  ASSERT_TRUE(store().grant("bob", "team/app", kPull | kPush));
  EXPECT_EQ(*store().grants("bob"),
            (std::vector<Grant>{{"team/**", kPull}, {"team/app", kPull | kPush}}));

  ASSERT_TRUE(store().grant("bob", "team/**", ActionSet::all()));  // replaces
  EXPECT_EQ(*store().grants("bob"),
            (std::vector<Grant>{{"team/**", ActionSet::all()}, {"team/app", kPull | kPush}}));

  ASSERT_TRUE(store().grant("bob", "team/app", ActionSet()));  // removes
  EXPECT_EQ(*store().grants("bob"), (std::vector<Grant>{{"team/**", ActionSet::all()}}));
  EXPECT_TRUE(store().grant("bob", "never/granted", ActionSet()));  // removing nothing is fine

  std::optional<Principal> p = login("bob", "pw");
  ASSERT_TRUE(p);
  EXPECT_EQ(allowed_actions(*p, "team/x"), ActionSet::all());
  EXPECT_EQ(allowed_actions(*p, "other"), ActionSet());
}

TEST_F(AuthStoreTest, GrantValidation) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  EXPECT_EQ(store().grant("bob", "", kPull).error(), StoreError::kInvalid);
  EXPECT_EQ(store().grant("bob", "Team/App", kPull).error(), StoreError::kInvalid);
  EXPECT_EQ(store().grant("bob", "a b", kPull).error(), StoreError::kInvalid);
  EXPECT_EQ(store().grant("nobody", "x", kPull).error(), StoreError::kNotFound);
  EXPECT_EQ(store().grant("nobody", "x", ActionSet()).error(), StoreError::kNotFound);
  EXPECT_EQ(store().grants("nobody").error(), StoreError::kNotFound);
  EXPECT_TRUE(store().grants("bob")->empty());
}

TEST_F(AuthStoreTest, GrantsAreSeparatePerUser) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  ASSERT_TRUE(store().add_user("carol", "pw", false));
  ASSERT_TRUE(store().grant("bob", "shared", kPush));
  ASSERT_TRUE(store().grant("carol", "shared", kPull));
  EXPECT_EQ(*store().grants("bob"), (std::vector<Grant>{{"shared", kPush}}));
  EXPECT_EQ(*store().grants("carol"), (std::vector<Grant>{{"shared", kPull}}));
}

// --- access tokens --------------------------------------------------------------

TEST_F(AuthStoreTest, TokenAuthenticatesWithItsScope) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  ASSERT_TRUE(store().grant("bob", "team/**", ActionSet::all()));
  CreatedToken t = make_token("bob", {{"team/app", kPull | kPush}});
  EXPECT_EQ(t.info.user, "bob");
  EXPECT_EQ(t.info.id.size(), 12u);
  EXPECT_EQ(t.secret.rfind("ddt_" + t.info.id + "_", 0), 0u);
  EXPECT_GT(t.secret.size(), 4u + 12u + 1u + 40u);

  std::optional<Principal> p = login("bob", t.secret);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->user, "bob");
  EXPECT_EQ(p->token_id, t.info.id);
  EXPECT_EQ(p->token_scope, (std::vector<Grant>{{"team/app", kPull | kPush}}));
  EXPECT_EQ(p->grants, (std::vector<Grant>{{"team/**", ActionSet::all()}}));
  EXPECT_EQ(allowed_actions(*p, "team/app"), kPull | kPush);
  EXPECT_EQ(allowed_actions(*p, "team/other"), ActionSet());
  // The password still works alongside, without the token's limits.
  EXPECT_FALSE(login("bob", "pw")->token_id);
}

TEST_F(AuthStoreTest, TokenSecretIsStoredHashed) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  CreatedToken t = make_token("bob", {{"x", kPull}});
  EXPECT_EQ(storage::testing::query_text(db_file_, "SELECT secret_sha256 FROM auth_tokens"), sha256_hex(t.secret));
  EXPECT_EQ(storage::testing::query_text(db_file_, "SELECT scope FROM auth_tokens"),
            R"([{"actions":"pull","pattern":"x"}])");
}

TEST_F(AuthStoreTest, TokenFailsForRevokedExpiredOrOtherUser) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  ASSERT_TRUE(store().add_user("carol", "pw", false));
  CreatedToken revoked = make_token("bob", {{"x", kPull}});
  CreatedToken expiring = make_token("bob", {{"x", kPull}}, kNow + 60);
  CreatedToken good = make_token("bob", {{"x", kPull}});

  ASSERT_TRUE(store().revoke_token(revoked.info.id));
  EXPECT_FALSE(login("bob", revoked.secret));

  EXPECT_TRUE(login("bob", expiring.secret, kNow + 59));
  EXPECT_FALSE(login("bob", expiring.secret, kNow + 60));

  EXPECT_FALSE(login("carol", good.secret));  // bob's token, carol's name
  EXPECT_TRUE(login("bob", good.secret));

  std::string tampered = good.secret;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(login("bob", tampered));
  // Right secret, another token's id.
  std::string swapped = "ddt_" + revoked.info.id + good.secret.substr(16);
  EXPECT_FALSE(login("bob", swapped));
  EXPECT_FALSE(login("bob", "ddt_"));
  EXPECT_FALSE(login("bob", "ddt_000000000000_x"));

  EXPECT_EQ(store().revoke_token("nonexistent").error(), StoreError::kNotFound);
}

TEST_F(AuthStoreTest, APasswordThatLooksLikeATokenStillWorks) {
  ASSERT_TRUE(store().add_user("bob", "ddt_abcdefabcdef_not-a-real-token", false));
  std::optional<Principal> p = login("bob", "ddt_abcdefabcdef_not-a-real-token");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->token_id);
}

TEST_F(AuthStoreTest, TokenValidation) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  EXPECT_EQ(store().create_token("bob", {{"Bad Pattern", kPull}}, 0, "").error(),
            StoreError::kInvalid);
  EXPECT_EQ(store().create_token("nobody", {{"x", kPull}}, 0, "").error(), StoreError::kNotFound);
  EXPECT_TRUE(store().list_tokens(std::nullopt)->empty());
}

TEST_F(AuthStoreTest, ListsTokens) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  ASSERT_TRUE(store().add_user("carol", "pw", false));
  CreatedToken a = make_token("bob", {{"a/**", kPull}}, kNow + 100);
  CreatedToken b = make_token("carol", {{"b", kPush}});
  ASSERT_TRUE(store().revoke_token(a.info.id));

  StoreResult<std::vector<AccessTokenInfo>> all = store().list_tokens(std::nullopt);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, a.info.id);
  EXPECT_EQ((*all)[0].user, "bob");
  EXPECT_EQ((*all)[0].scope, (std::vector<Grant>{{"a/**", kPull}}));
  EXPECT_EQ((*all)[0].description, "ci");
  EXPECT_EQ((*all)[0].expires, kNow + 100);
  EXPECT_EQ((*all)[0].created, a.info.created);
  EXPECT_TRUE((*all)[0].revoked);
  EXPECT_EQ((*all)[1].id, b.info.id);
  EXPECT_FALSE((*all)[1].revoked);

  StoreResult<std::vector<AccessTokenInfo>> carol = store().list_tokens("carol");
  ASSERT_TRUE(carol);
  ASSERT_EQ(carol->size(), 1u);
  EXPECT_EQ((*carol)[0].id, b.info.id);
  EXPECT_EQ(store().list_tokens("nobody").error(), StoreError::kNotFound);
}

// --- principal -----------------------------------------------------------------

TEST_F(AuthStoreTest, PrincipalReflectsCurrentState) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  ASSERT_TRUE(store().grant("bob", "x", kPull));
  CreatedToken t = make_token("bob", {{"x", kPull}}, kNow + 10);

  std::optional<Principal> p = *store().principal("bob", std::nullopt, kNow);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->grants, (std::vector<Grant>{{"x", kPull}}));
  EXPECT_FALSE(p->token_id);

  std::optional<Principal> with_token = *store().principal("bob", t.info.id, kNow);
  ASSERT_TRUE(with_token);
  EXPECT_EQ(with_token->token_id, t.info.id);
  EXPECT_EQ(with_token->token_scope, t.info.scope);

  EXPECT_EQ(*store().principal("bob", t.info.id, kNow + 10), std::nullopt);  // expired
  EXPECT_EQ(*store().principal("bob", "000000000000", kNow), std::nullopt);
  EXPECT_EQ(*store().principal("nobody", std::nullopt, kNow), std::nullopt);
  ASSERT_TRUE(store().add_user("carol", "pw", false));
  EXPECT_EQ(*store().principal("carol", t.info.id, kNow), std::nullopt);  // not hers
}

// --- refresh tokens ---------------------------------------------------------------

TEST_F(AuthStoreTest, RefreshTokensRedeemUntilTheyExpire) {
  ASSERT_TRUE(store().add_user("bob", "pw", true));
  std::optional<Principal> p = login("bob", "pw");
  ASSERT_TRUE(p);
  StoreResult<std::string> secret = store().create_refresh_token(*p, kNow + 3600);
  ASSERT_TRUE(secret);
  EXPECT_EQ(secret->size(), 43u);
  EXPECT_EQ(storage::testing::query_text(db_file_, "SELECT secret_sha256 FROM auth_refresh_tokens"),
            sha256_hex(*secret));

  std::optional<Principal> again = *store().redeem_refresh_token(*secret, kNow + 10);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->user, "bob");
  EXPECT_TRUE(again->admin);
  EXPECT_FALSE(again->token_id);
  EXPECT_TRUE(*store().redeem_refresh_token(*secret, kNow + 20));  // reusable
  EXPECT_EQ(*store().redeem_refresh_token(*secret, kNow + 3600), std::nullopt);
  EXPECT_EQ(*store().redeem_refresh_token("unknown", kNow), std::nullopt);
  EXPECT_EQ(*store().redeem_refresh_token("", kNow), std::nullopt);
}

TEST_F(AuthStoreTest, RefreshTokenNeverExpiringWithZero) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  std::string secret = *store().create_refresh_token(*login("bob", "pw"), 0);
  EXPECT_TRUE(*store().redeem_refresh_token(secret, std::int64_t{1} << 40));
}

TEST_F(AuthStoreTest, RefreshTokenKeepsTheAccessTokenScope) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  CreatedToken t = make_token("bob", {{"ci/**", kPull}});
  std::optional<Principal> p = login("bob", t.secret);
  ASSERT_TRUE(p);
  std::string secret = *store().create_refresh_token(*p, 0);

  std::optional<Principal> again = *store().redeem_refresh_token(secret, kNow);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->token_id, t.info.id);
  EXPECT_EQ(again->token_scope, t.info.scope);

  ASSERT_TRUE(store().revoke_token(t.info.id));  // takes the refresh token with it
  EXPECT_EQ(*store().redeem_refresh_token(secret, kNow), std::nullopt);
}

TEST_F(AuthStoreTest, SetPasswordRevokesRefreshTokens) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  ASSERT_TRUE(store().add_user("carol", "pw", false));
  std::string bobs = *store().create_refresh_token(*login("bob", "pw"), 0);
  std::string carols = *store().create_refresh_token(*login("carol", "pw"), 0);
  ASSERT_TRUE(store().set_password("bob", "new"));
  EXPECT_EQ(*store().redeem_refresh_token(bobs, kNow), std::nullopt);
  EXPECT_TRUE(*store().redeem_refresh_token(carols, kNow));  // others untouched
}

TEST_F(AuthStoreTest, RefreshTokenForUnknownUserIsRefused) {
  Principal ghost;
  ghost.user = "ghost";
  EXPECT_EQ(store().create_refresh_token(ghost, 0).error(), StoreError::kNotFound);
}

TEST_F(AuthStoreTest, ExpiredRefreshTokensArePruned) {
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  Principal bob = *login("bob", "pw");
  std::string old = *store().create_refresh_token(bob, kNow + 10);
  ASSERT_TRUE(store().create_refresh_token(bob, kNow + 1000));
  ASSERT_TRUE(store().create_refresh_token(bob, 0));
  EXPECT_TRUE(*store().redeem_refresh_token(old, kNow));
  EXPECT_EQ(storage::testing::query_text(db_file_, "SELECT COUNT(*) FROM auth_refresh_tokens"), "3");
  // Redeeming at a later time sweeps what expired by then.
  EXPECT_FALSE(*store().redeem_refresh_token(old, kNow + 10));
  EXPECT_EQ(storage::testing::query_text(db_file_, "SELECT COUNT(*) FROM auth_refresh_tokens"),
            "3");  // swept < 1 h ago
  EXPECT_FALSE(*store().redeem_refresh_token(old, kNow + 3600));
  EXPECT_EQ(storage::testing::query_text(db_file_, "SELECT COUNT(*) FROM auth_refresh_tokens"), "1");
}

// --- files and processes ---------------------------------------------------------

TEST_F(AuthStoreTest, DataPersistsAcrossReopening) {
  ASSERT_TRUE(store().add_user("bob", "pw", true));
  ASSERT_TRUE(store().grant("bob", "team/**", kPull));
  CreatedToken t = make_token("bob", {{"team/app", kPull}});
  std::string refresh = *store().create_refresh_token(*login("bob", "pw"), 0);

  reopen();
  EXPECT_TRUE((*store().find_user("bob"))->admin);
  EXPECT_EQ(*store().grants("bob"), (std::vector<Grant>{{"team/**", kPull}}));
  EXPECT_TRUE(login("bob", "pw"));
  EXPECT_EQ(login("bob", t.secret)->token_id, t.info.id);
  EXPECT_TRUE(*store().redeem_refresh_token(refresh, kNow));
}

TEST_F(AuthStoreTest, TwoStoresOnOneFileSeeEachOthersWrites) {
  AuthStore other(db_file_, kFast);
  ASSERT_TRUE(store().add_user("bob", "pw", false));
  EXPECT_TRUE(*other.find_user("bob"));
  ASSERT_TRUE(other.grant("bob", "x", kPush));
  EXPECT_EQ(*store().grants("bob"), (std::vector<Grant>{{"x", kPush}}));
  ASSERT_TRUE(other.set_password("bob", "changed"));
  EXPECT_TRUE(login("bob", "changed"));
  EXPECT_EQ(store().add_user("bob", "pw", false).error(), StoreError::kExists);
  ASSERT_TRUE(other.delete_user("bob"));
  EXPECT_EQ(*store().find_user("bob"), std::nullopt);
}

TEST_F(AuthStoreTest, ConcurrentWritersFromTwoStoresAllLand) {
  AuthStore other(db_file_, kFast);
  auto add = [](AuthStore& s, std::string prefix) {
    for (int i = 0; i < 20; ++i) {
      std::string name = prefix + std::to_string(i);
      EXPECT_TRUE(s.add_user(name, "pw", false)) << name;
      EXPECT_TRUE(s.grant(name, "repo", ActionSet(Action::kPull))) << name;
    }
  };
  std::thread t1(add, std::ref(store()), "a");
  std::thread t2(add, std::ref(other), "b");
  std::thread t3(add, std::ref(store()), "c");
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(store().list_users()->size(), 60u);
  EXPECT_EQ(storage::testing::query_text(db_file_, "SELECT COUNT(*) FROM auth_grants"), "60");
}

TEST_F(AuthStoreTest, SharesTheFileWithMetadataStore) {
  store_.reset();
  fs::path db = dir_.path() / "shared.db";
  storage::MetadataStore meta(db);
  AuthStore auth(db, kFast);
  ASSERT_TRUE(auth.add_user("bob", "pw", false));
  ASSERT_TRUE(meta.list_repositories("", 10));
  storage::MetadataStore meta_again(db);  // its migrations still see a schema it knows
  EXPECT_TRUE(*auth.find_user("bob"));
}

TEST_F(AuthStoreTest, UnknownFileLocationThrows) {
  EXPECT_THROW(AuthStore(dir_.path() / "missing" / "dir" / "x.db", kFast), std::runtime_error);
}

// --- default cost ------------------------------------------------------------------

TEST(AuthStoreDefaultCost, WorksAndUnknownUsersCostTheSame) {
  TempDir dir;
  AuthStore store(dir.path() / "metadata.db");  // production cost, ln=15
  ASSERT_TRUE(store.add_user("bob", "pw", false));
  auto timed = [&](std::string_view user) {
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(*store.authenticate(user, "wrong", kNow));
    return std::chrono::steady_clock::now() - start;
  };
  (void)timed("nobody");  // first miss also makes the dummy hash
  auto known = timed("bob");
  auto unknown = timed("nobody");
  EXPECT_TRUE(*store.authenticate("bob", "pw", kNow));
  // Both run one ln=15 scrypt: well above the microseconds a lookup takes.
  EXPECT_GE(known, std::chrono::milliseconds(5));
  EXPECT_GE(unknown, std::chrono::milliseconds(5));
}

}  // namespace
}  // namespace drydock::auth
