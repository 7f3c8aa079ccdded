#include "server/engine/network.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/engine/backprop.h"
#include "server/engine/random.h"

namespace mlp::engine {

absl::string_view ActivationName(Activation activation) {
  switch (activation) {
    case Activation::kLinear:
      return "linear";
    case Activation::kRelu:
      return "relu";
    case Activation::kSigmoid:
      return "sigmoid";
    case Activation::kTanh:
      return "tanh";
    case Activation::kSoftmax:
      return "softmax";
  }
  return "unknown";
}

absl::string_view LossName(Loss loss) {
  switch (loss) {
    case Loss::kMse:
      return "mse";
    case Loss::kCrossEntropy:
      return "cross_entropy";
    case Loss::kBinaryCrossEntropy:
      return "binary_cross_entropy";
  }
  return "unknown";
}

namespace {

bool KnownActivation(Activation a) {
  switch (a) {
    case Activation::kLinear:
    case Activation::kRelu:
    case Activation::kSigmoid:
    case Activation::kTanh:
    case Activation::kSoftmax:
      return true;
  }
  return false;
}

}  // namespace

absl::Status ValidateSpec(const NetworkSpec& spec) {
  if (spec.input_size < 1 || spec.input_size > kMaxLayerWidth) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input_size is ", spec.input_size, ", expected 1 to ", kMaxLayerWidth));
  }
  if (spec.layers.empty() || spec.layers.size() > size_t{kMaxLayers}) {
    return absl::InvalidArgumentError(
        absl::StrCat("layers has ", spec.layers.size(),
                     " entries, expected 1 to ", kMaxLayers));
  }
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& layer = spec.layers[i];
    if (layer.units < 1 || layer.units > kMaxLayerWidth) {
      return absl::InvalidArgumentError(
          absl::StrCat("layers[", i, "].units is ", layer.units,
                       ", expected 1 to ", kMaxLayerWidth));
    }
    if (!KnownActivation(layer.activation)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "layers[", i, "].activation is ", static_cast<int>(layer.activation),
          ", expected linear, relu, sigmoid, tanh or softmax"));
    }
    if (layer.activation == Activation::kSoftmax &&
        i + 1 != spec.layers.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("layers[", i,
                       "].activation is softmax, expected softmax on the "
                       "output layer only (layer ",
                       spec.layers.size() - 1, ")"));
    }
  }
  const Activation out = spec.layers.back().activation;
  switch (spec.loss) {
    case Loss::kMse:
      break;
    case Loss::kCrossEntropy:
      if (out != Activation::kSoftmax) {
        return absl::InvalidArgumentError(absl::StrCat(
            "loss cross_entropy expects a softmax output layer, got ",
            ActivationName(out)));
      }
      break;
    case Loss::kBinaryCrossEntropy:
      if (out != Activation::kSigmoid) {
        return absl::InvalidArgumentError(absl::StrCat(
            "loss binary_cross_entropy expects a sigmoid output layer, got ",
            ActivationName(out)));
      }
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "loss is ", static_cast<int>(spec.loss),
          ", expected mse, cross_entropy or binary_cross_entropy"));
  }
  switch (spec.init) {
    case Init::kAuto:
    case Init::kUniform01:
    case Init::kXavierUniform:
    case Init::kHeNormal:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("init is ", static_cast<int>(spec.init),
                       ", expected auto, uniform_0_1, xavier_uniform or "
                       "he_normal"));
  }
  return absl::OkStatus();
}

int64_t ParameterCount(const NetworkSpec& spec) {
  int64_t count = 0;
  int64_t inputs = spec.input_size;
  for (const LayerSpec& layer : spec.layers) {
    count += inputs * layer.units + (spec.bias ? layer.units : 0);
    inputs = layer.units;
  }
  return count;
}

absl::StatusOr<Network> Network::Create(const NetworkSpec& spec) {
  if (absl::Status s = ValidateSpec(spec); !s.ok()) return s;
  // One generator for every layer, input side first; each weight matrix is
  // filled in memory order, i.e. row by row of the API's [inputs, units]
  // (numpy's random((inputs, units)) order).
  std::mt19937_64 gen(spec.seed);
  std::vector<Layer> layers(spec.layers.size());
  int inputs = spec.input_size;
  for (size_t l = 0; l < spec.layers.size(); ++l) {
    const LayerSpec& ls = spec.layers[l];
    Layer& layer = layers[l];
    layer.activation = ls.activation;
    layer.weights.resize(ls.units, inputs);
    float* w = layer.weights.data();
    const Eigen::Index size = layer.weights.size();
    Init init = spec.init;
    if (init == Init::kAuto) {
      init = ls.activation == Activation::kRelu ? Init::kHeNormal
                                                : Init::kXavierUniform;
    }
    switch (init) {
      case Init::kUniform01:
        for (Eigen::Index i = 0; i < size; ++i)
          w[i] = internal::UniformFloat(gen);
        break;
      case Init::kXavierUniform: {
        // U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
        const double limit = std::sqrt(6.0 / double(inputs + ls.units));
        for (Eigen::Index i = 0; i < size; ++i) {
          w[i] = static_cast<float>((2.0 * internal::UniformDouble(gen) - 1.0) *
                                    limit);
        }
        break;
      }
      case Init::kHeNormal:
      case Init::kAuto: {
        // N(0, 2 / fan_in).
        const double stddev = std::sqrt(2.0 / double(inputs));
        for (Eigen::Index i = 0; i < size; ++i) {
          w[i] = static_cast<float>(stddev * internal::StandardNormal(gen));
        }
        break;
      }
    }
    if (spec.bias) {
      layer.bias = Vector::Zero(ls.units);
    }
    inputs = ls.units;
  }
  return Network(spec, std::move(layers));
}

absl::StatusOr<Network> Network::FromLayers(const NetworkSpec& spec,
                                            std::vector<Layer> layers) {
  if (absl::Status s = ValidateSpec(spec); !s.ok()) return s;
  if (layers.size() != spec.layers.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("layers has ", layers.size(), " entries, expected ",
                     spec.layers.size(), " as in the spec"));
  }
  int inputs = spec.input_size;
  for (size_t l = 0; l < layers.size(); ++l) {
    const Layer& layer = layers[l];
    const int units = spec.layers[l].units;
    if (layer.weights.rows() != units || layer.weights.cols() != inputs) {
      return absl::InvalidArgumentError(absl::StrCat(
          "layers[", l, "].weights is [", layer.weights.cols(), ", ",
          layer.weights.rows(), "] (inputs, units), expected [", inputs, ", ",
          units, "]"));
    }
    const int bias_size = spec.bias ? units : 0;
    if (layer.bias.size() != bias_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("layers[", l, "].bias has ", layer.bias.size(),
                       " values, expected ", bias_size));
    }
    if (layer.activation != spec.layers[l].activation) {
      return absl::InvalidArgumentError(absl::StrCat(
          "layers[", l, "].activation is ", ActivationName(layer.activation),
          ", expected ", ActivationName(spec.layers[l].activation),
          " as in the spec"));
    }
    if (!layer.weights.allFinite() || !layer.bias.allFinite()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "layers[", l, "] has a NaN or infinite value, expected finite"));
    }
    inputs = units;
  }
  return Network(spec, std::move(layers));
}

absl::StatusOr<Matrix> Network::Predict(
    const Eigen::Ref<const Matrix>& inputs) const {
  if (inputs.rows() != spec_.input_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs has ", inputs.rows(),
                     " rows, expected input_size ", spec_.input_size));
  }
  if (inputs.cols() < 1) {
    return absl::InvalidArgumentError(
        "inputs has 0 samples (columns), expected at least 1");
  }
  const int batch = static_cast<int>(inputs.cols());
  // Two ping-pong buffers; the last layer writes the result.
  Matrix a, b;
  const float* in = inputs.data();
  int ld = static_cast<int>(inputs.outerStride());
  for (size_t l = 0; l < layers_.size(); ++l) {
    Matrix& out = (l % 2 == 0) ? a : b;
    out.resize(layers_[l].weights.rows(), batch);
    internal::LayerForward<Layer, float>(layers_[l], in, ld, batch, out, true);
    in = out.data();
    ld = static_cast<int>(out.rows());
  }
  return (layers_.size() % 2 == 1) ? std::move(a) : std::move(b);
}

}  // namespace mlp::engine
