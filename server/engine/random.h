// Private to the engine: reproducible random numbers from a seeded
// std::mt19937_64. The standard distributions are implementation-defined, so
// the transforms are written out here: the same seed gives the same numbers
// with any standard library.
#ifndef MLP_SERVER_ENGINE_RANDOM_H_
#define MLP_SERVER_ENGINE_RANDOM_H_

#include <cmath>
#include <cstdint>
#include <random>

namespace mlp::engine::internal {

// Uniform in [0, 1) with 24 random bits: every value is exactly a float.
inline float UniformFloat(std::mt19937_64& gen) {
  return static_cast<float>(gen() >> 40) * (1.0f / 16777216.0f);
}

// Uniform in [0, 1) with 53 random bits.
inline double UniformDouble(std::mt19937_64& gen) {
  return static_cast<double>(gen() >> 11) * (1.0 / 9007199254740992.0);
}

// Standard normal by Box-Muller (one of the pair; two draws per value).
inline double StandardNormal(std::mt19937_64& gen) {
  const double u1 = 1.0 - UniformDouble(gen);  // (0, 1]: log is finite
  const double u2 = UniformDouble(gen);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Uniform integer in [0, n), n >= 1, without modulo bias (rejection).
inline uint64_t UniformIndex(std::mt19937_64& gen, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x = gen();
  while (x >= limit) x = gen();
  return x % n;
}

}  // namespace mlp::engine::internal

#endif  // MLP_SERVER_ENGINE_RANDOM_H_
