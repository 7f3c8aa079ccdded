// CheckResponseFits: values plus the headroom must fit the message limit.
#include "server/service/limits.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace mlp::service {
namespace {

using ::mlp::testing::IsOk;
using ::mlp::testing::StatusIs;
using ::testing::HasSubstr;

TEST(LimitsTest, ResponseFitsUpToTheLimitExactly) {
  const int64_t limit = 4 << 20;
  const int64_t fit = (limit - kResponseHeadroomBytes) / 4;
  EXPECT_THAT(CheckResponseFits("outputs", fit, limit), IsOk());
  EXPECT_THAT(CheckResponseFits("outputs", fit + 1, limit),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("outputs would take")));
  EXPECT_THAT(CheckResponseFits("weights", fit + 1, limit),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("--max_message_bytes")));
}

}  // namespace
}  // namespace mlp::service
