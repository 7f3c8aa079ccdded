// Seeds for runs that asked for "any seed".
#ifndef MLP_SERVER_COMMON_RANDOM_SEED_H_
#define MLP_SERVER_COMMON_RANDOM_SEED_H_

#include <cstdint>

namespace mlp::common {

// A seed from std::random_device, never 0: the API reads a seed of 0 as
// "pick one", so a picked seed must be one a caller can send back to repeat
// the run.
uint64_t RandomSeed();

}  // namespace mlp::common

#endif  // MLP_SERVER_COMMON_RANDOM_SEED_H_
