// RandomSeed: never the API's "pick one" value, and not a constant.
#include "server/common/random_seed.h"

#include <set>

#include "gtest/gtest.h"

namespace mlp::common {
namespace {

TEST(RandomSeedTest, NeverZeroAndVaries) {
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t seed = RandomSeed();
    ASSERT_NE(seed, 0u);
    seen.insert(seed);
  }
  // 64-bit draws: a repeat among 1000 would mean a broken source.
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace mlp::common
