// Crc32: the standard CRC-32, computable in pieces.
#include "server/common/crc32.h"

#include "gtest/gtest.h"

namespace mlp::common {
namespace {

TEST(Crc32Test, MatchesTheStandardCheckValue) {
  // CRC-32 (IEEE) of "123456789" is 0xCBF43926 by definition.
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  // Incremental computation equals one pass.
  EXPECT_EQ(Crc32("6789", Crc32("12345")), 0xCBF43926u);
}

}  // namespace
}  // namespace mlp::common
