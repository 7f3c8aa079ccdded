// Token files and the permission table: what each role may call.
#include "server/service/auth.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace mlp::service {
namespace {

using ::mlp::testing::IsOk;
using ::mlp::testing::StatusIs;
using ::testing::HasSubstr;

TEST(AuthTest, OneTokenAloneIsAnAdmin) {
  absl::StatusOr<std::vector<Credential>> c = ParseCredentials("  s3cret\n");
  ASSERT_THAT(c, IsOk());
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].token, "s3cret");
  EXPECT_EQ((*c)[0].role, Role::kAdmin);
}

TEST(AuthTest, TokensWithRolesCommentsAndBlankLines) {
  absl::StatusOr<std::vector<Credential>> c = ParseCredentials(
      "# operators\nroot-token admin\n\nci-token trainer\n"
      "dashboard-token\treader\n");
  ASSERT_THAT(c, IsOk());
  ASSERT_EQ(c->size(), 3u);
  EXPECT_EQ((*c)[1].token, "ci-token");
  EXPECT_EQ((*c)[1].role, Role::kTrainer);
  EXPECT_EQ((*c)[2].role, Role::kReader);
}

TEST(AuthTest, BadFilesNameTheLine) {
  EXPECT_THAT(ParseCredentials("a admin\nb superuser\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 2: the role must be")));
  EXPECT_THAT(ParseCredentials("a reader extra\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 1: expected '<token>'")));
  EXPECT_THAT(ParseCredentials("a reader\na admin\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 2: a token is listed twice")));
  EXPECT_THAT(ParseCredentials(" \n# only a comment\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("holds no token")));
}

TEST(AuthTest, ThePermissionTable) {
  for (const char* m :
       {"Predict", "GetModel", "ListModels", "GetWeights", "ListDatasets"}) {
    EXPECT_EQ(RequiredRole(m), Role::kReader) << m;
  }
  for (const char* m : {"CreateModel", "Train", "UploadDataset"}) {
    EXPECT_EQ(RequiredRole(m), Role::kTrainer) << m;
  }
  for (const char* m : {"DeleteModel", "DeleteDataset", "SomethingNew"}) {
    EXPECT_EQ(RequiredRole(m), Role::kAdmin) << m;
  }
}

}  // namespace
}  // namespace mlp::service
