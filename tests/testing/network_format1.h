// The engine's network blob in its format 1 (server/engine/serialize.h), as
// the engine wrote it before format 2: magic "MLPN", u32 version 1, the spec,
// the weights and biases as float32, then a u32 CRC-32 (zlib's) of every byte
// before it. Written out here, independently of the engine's writer, for the
// tests that check that blobs and model files of that format still load.
// Header-only; the test links zlib.
#ifndef MLP_TESTS_TESTING_NETWORK_FORMAT1_H_
#define MLP_TESTS_TESTING_NETWORK_FORMAT1_H_

#include <zlib.h>

#include <cstdint>
#include <string>

#include "server/engine/network.h"

namespace mlp::testing {

inline void PutLittleEndian(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

// The body of format 1, without its CRC (for tests that corrupt it first).
inline std::string EncodeNetworkFormat1Body(const engine::Network& network) {
  const engine::NetworkSpec& spec = network.spec();
  std::string out = "MLPN";
  PutLittleEndian(out, 1, 4);
  PutLittleEndian(out, static_cast<uint32_t>(spec.input_size), 4);
  PutLittleEndian(out, spec.layers.size(), 4);
  for (const engine::LayerSpec& layer : spec.layers) {
    PutLittleEndian(out, static_cast<uint32_t>(layer.units), 4);
    PutLittleEndian(out, static_cast<uint32_t>(layer.activation), 4);
  }
  PutLittleEndian(out, static_cast<uint32_t>(spec.loss), 4);
  PutLittleEndian(out, spec.bias ? 1 : 0, 1);
  PutLittleEndian(out, static_cast<uint32_t>(spec.init), 4);
  PutLittleEndian(out, spec.seed, 8);
  for (const engine::Layer& layer : network.layers()) {
    out.append(reinterpret_cast<const char*>(layer.weights.data()),
               layer.weights.size() * sizeof(float));
    if (layer.bias.size() > 0) {
      out.append(reinterpret_cast<const char*>(layer.bias.data()),
                 layer.bias.size() * sizeof(float));
    }
  }
  return out;
}

// Appends format 1's trailing CRC-32 of `body`.
inline std::string WithFormat1Crc(std::string body) {
  const uLong crc =
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(body.data()),
            static_cast<uInt>(body.size()));
  PutLittleEndian(body, crc, 4);
  return body;
}

inline std::string EncodeNetworkFormat1(const engine::Network& network) {
  return WithFormat1Crc(EncodeNetworkFormat1Body(network));
}

}  // namespace mlp::testing

#endif  // MLP_TESTS_TESTING_NETWORK_FORMAT1_H_
