#include "server/common/random_seed.h"

#include <random>

namespace mlp::common {

uint64_t RandomSeed() {
  std::random_device device;
  uint64_t seed = 0;
  while (seed == 0) seed = (uint64_t{device()} << 32) | device();
  return seed;
}

}  // namespace mlp::common
