// Engine-level specs shared by tests below the wire (registry, training job).
// Header-only: it adds no link dependency to mlp_testing.
#ifndef MLP_TESTS_TESTING_ENGINE_SPECS_H_
#define MLP_TESTS_TESTING_ENGINE_SPECS_H_

#include <cstdint>

#include "server/engine/network.h"

namespace mlp::testing {

// The tutorial's network: 3 inputs, 4 ReLU, 1 linear output, no biases,
// weights uniform in [0, 1) from `seed` (the engine-level twin of SeedSpec in
// tests/testing/api.h).
inline engine::NetworkSpec SeedNetworkSpec(uint64_t seed) {
  engine::NetworkSpec spec;
  spec.input_size = 3;
  spec.layers = {{4, engine::Activation::kRelu},
                 {1, engine::Activation::kLinear}};
  spec.bias = false;
  spec.init = engine::Init::kUniform01;
  spec.seed = seed;
  return spec;
}

}  // namespace mlp::testing

#endif  // MLP_TESTS_TESTING_ENGINE_SPECS_H_
