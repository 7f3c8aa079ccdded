#include "server/engine/serialize.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace mlp::engine {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the format stores float32 in little-endian byte order");

constexpr char kMagic[4] = {'M', 'L', 'P', 'N'};
// The version written. Version 1 was the same layout followed by a u32 CRC-32
// of every byte before it; it is still read, and its CRC is not checked again
// (see serialize.h).
constexpr uint32_t kFormatVersion = 2;
constexpr uint32_t kFormatVersionWithCrc = 1;

// Layout, all integers little-endian:
//   "MLPN" u32 version
//   u32 input_size  u32 layer_count  { u32 units  u32 activation } * count
//   u32 loss  u8 bias  u32 init  u64 seed
//   per layer: f32 weights[units * inputs] (column-major [units x inputs],
//              i.e. row-major [inputs, units]), f32 bias[units] if bias
//   (version 1 only: u32 CRC-32 of every byte before it)

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutFloats(std::string& out, const float* data, Eigen::Index count) {
  if (count == 0) return;  // data() of an empty vector is null
  out.append(reinterpret_cast<const char*>(data),
             static_cast<size_t>(count) * sizeof(float));
}

// Bounds-checked little-endian reader; every failure is DATA_LOSS.
class Reader {
 public:
  explicit Reader(absl::string_view bytes) : bytes_(bytes) {}
  bool U8(uint8_t* v) {
    if (pos_ + 1 > bytes_.size()) return false;
    *v = static_cast<uint8_t>(bytes_[pos_++]);
    return true;
  }
  bool U32(uint32_t* v) {
    if (pos_ + 4 > bytes_.size()) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      *v |= uint32_t{static_cast<uint8_t>(bytes_[pos_ + i])} << (8 * i);
    }
    pos_ += 4;
    return true;
  }
  bool U64(uint64_t* v) {
    if (pos_ + 8 > bytes_.size()) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) {
      *v |= uint64_t{static_cast<uint8_t>(bytes_[pos_ + i])} << (8 * i);
    }
    pos_ += 8;
    return true;
  }
  bool Floats(float* out, Eigen::Index count) {
    const size_t size = static_cast<size_t>(count) * sizeof(float);
    if (pos_ + size > bytes_.size()) return false;
    if (size > 0) std::memcpy(out, bytes_.data() + pos_, size);
    pos_ += size;
    return true;
  }
  size_t remaining() const { return bytes_.size() - pos_; }
  // Ends the bytes `count` earlier; false if fewer remain.
  bool DropLast(size_t count) {
    if (remaining() < count) return false;
    bytes_.remove_suffix(count);
    return true;
  }

 private:
  absl::string_view bytes_;
  size_t pos_ = 0;
};

absl::Status Truncated(absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("serialized network is truncated in ", what));
}

// The spec, after the format version. DATA_LOSS when truncated;
// INVALID_ARGUMENT when a value is out of range or the spec is invalid.
absl::StatusOr<NetworkSpec> ReadSpec(Reader& r) {
  NetworkSpec spec;
  uint32_t input_size = 0, count = 0;
  if (!r.U32(&input_size) || !r.U32(&count)) return Truncated("the spec");
  if (input_size > uint32_t{kMaxLayerWidth} || count > uint32_t{kMaxLayers}) {
    return absl::InvalidArgumentError(absl::StrCat(
        "serialized network has input_size ", input_size, " and ", count,
        " layers, expected at most ", kMaxLayerWidth, " and ", kMaxLayers));
  }
  spec.input_size = static_cast<int>(input_size);
  spec.layers.resize(count);
  for (LayerSpec& layer : spec.layers) {
    uint32_t units = 0, activation = 0;
    if (!r.U32(&units) || !r.U32(&activation)) return Truncated("the layers");
    if (units > uint32_t{kMaxLayerWidth} || activation > 64) {
      return absl::InvalidArgumentError(absl::StrCat(
          "serialized layer has units ", units, " and activation ", activation,
          ", expected at most ", kMaxLayerWidth, " and a known activation"));
    }
    layer.units = static_cast<int>(units);
    layer.activation = static_cast<Activation>(activation);
  }
  uint32_t loss = 0, init = 0;
  uint8_t bias = 0;
  if (!r.U32(&loss) || !r.U8(&bias) || !r.U32(&init) || !r.U64(&spec.seed)) {
    return Truncated("the spec");
  }
  if (loss > 64 || init > 64 || bias > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("serialized spec has loss ", loss, ", bias ", int{bias},
                     ", init ", init, ", expected known values"));
  }
  spec.loss = static_cast<Loss>(loss);
  spec.bias = bias != 0;
  spec.init = static_cast<Init>(init);
  if (absl::Status s = ValidateSpec(spec); !s.ok()) return s;
  return spec;
}

// The weights and biases of a valid spec: exactly the rest of the bytes
// (DATA_LOSS otherwise, checked before anything is allocated).
absl::StatusOr<Network> ReadLayers(Reader& r, NetworkSpec spec) {
  const uint64_t expected = static_cast<uint64_t>(ParameterCount(spec)) * 4;
  if (r.remaining() != expected) {
    return absl::DataLossError(
        absl::StrCat("serialized network has ", r.remaining(),
                     " bytes of weights, expected ", expected));
  }
  std::vector<Layer> layers(spec.layers.size());
  int inputs = spec.input_size;
  for (size_t l = 0; l < layers.size(); ++l) {
    Layer& layer = layers[l];
    layer.activation = spec.layers[l].activation;
    layer.weights.resize(spec.layers[l].units, inputs);
    if (!r.Floats(layer.weights.data(), layer.weights.size())) {
      return Truncated("the weights");
    }
    if (spec.bias) {
      layer.bias.resize(spec.layers[l].units);
      if (!r.Floats(layer.bias.data(), layer.bias.size())) {
        return Truncated("the biases");
      }
    }
    inputs = spec.layers[l].units;
  }
  return Network::FromLayers(spec, std::move(layers));
}

}  // namespace

std::string SerializeNetwork(const Network& network) {
  const NetworkSpec& spec = network.spec();
  std::string out;
  out.reserve(64 + static_cast<size_t>(network.parameter_count()) * 4);
  out.append(kMagic, 4);
  PutU32(out, kFormatVersion);
  PutU32(out, static_cast<uint32_t>(spec.input_size));
  PutU32(out, static_cast<uint32_t>(spec.layers.size()));
  for (const LayerSpec& layer : spec.layers) {
    PutU32(out, static_cast<uint32_t>(layer.units));
    PutU32(out, static_cast<uint32_t>(layer.activation));
  }
  PutU32(out, static_cast<uint32_t>(spec.loss));
  out.push_back(spec.bias ? 1 : 0);
  PutU32(out, static_cast<uint32_t>(spec.init));
  PutU64(out, spec.seed);
  for (const Layer& layer : network.layers()) {
    PutFloats(out, layer.weights.data(), layer.weights.size());
    PutFloats(out, layer.bias.data(), layer.bias.size());
  }
  return out;
}

absl::StatusOr<Network> ParseNetwork(absl::string_view bytes) {
  if (bytes.size() < 4 || std::memcmp(bytes.data(), kMagic, 4) != 0) {
    return absl::DataLossError(absl::StrCat(
        "serialized network has ", bytes.size(),
        " bytes without the magic 'MLPN', expected a serialized network"));
  }
  Reader r(bytes.substr(4));
  uint32_t version = 0;
  if (!r.U32(&version)) return Truncated("the format version");
  if (version == kFormatVersionWithCrc) {
    // Drop the trailing CRC-32: the container's checksum covers these bytes.
    if (!r.DropLast(4)) return Truncated("the checksum");
  } else if (version != kFormatVersion) {
    return absl::DataLossError(absl::StrCat(
        "serialized network format version is ", version, ", expected ",
        kFormatVersionWithCrc, " or ", kFormatVersion));
  }
  MLP_ASSIGN_OR_RETURN(NetworkSpec spec, ReadSpec(r));
  return ReadLayers(r, std::move(spec));
}

}  // namespace mlp::engine
