// The numerical engine's network: a stack of fully connected layers.
//
// Layout (the one picture to keep in mind): one sample per COLUMN.
//   input batch  X  : [input_size x N]
//   layer l      W_l: [units_l x inputs_l], b_l: [units_l]
//                Z_l = W_l * A_{l-1} + b_l (broadcast over columns)
//                A_l = activation_l(Z_l)
//   output       A_L: [output_size x N]
// A column-major [units x inputs] matrix is byte for byte the API's row-major
// [inputs, units] weights, and a column-major [F x N] batch is byte for byte a
// row-major [N, F] request tensor, so no transposes happen at the boundary.
//
// Depends on Eigen and Abseil only: no gRPC, protobuf, threads, logging or
// files. Deterministic given a seed.
//
// Thread-safety: a const Network is safe to share between threads (Predict is
// const and mutates nothing); mutation needs exclusive access.
#ifndef MLP_SERVER_ENGINE_NETWORK_H_
#define MLP_SERVER_ENGINE_NETWORK_H_

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mlp::engine {

// Column-major float32 matrix; one sample per column.
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;
using Vector = Eigen::Matrix<float, Eigen::Dynamic, 1>;

enum class Activation { kLinear, kRelu, kSigmoid, kTanh, kSoftmax };
enum class Loss { kMse, kCrossEntropy, kBinaryCrossEntropy };
// Initial weights, drawn from one std::mt19937_64 seeded with spec.seed, layer
// by layer from the input side, each weight matrix in memory order (= row by
// row of the API's [inputs, units], numpy's random((inputs, units)) order):
//   kUniform01     U[0, 1) (24-bit), the tutorial's
//   kXavierUniform U(-a, a), a = sqrt(6 / (inputs + units))
//   kHeNormal      N(0, 2 / inputs) (Box-Muller)
//   kAuto          He normal for ReLU layers, Xavier uniform otherwise.
// Biases start at 0. The transforms are the engine's own, so a seed gives the
// same weights with any standard library.
enum class Init { kAuto, kUniform01, kXavierUniform, kHeNormal };

// Lower-case names for messages ("relu", "cross_entropy", ...).
absl::string_view ActivationName(Activation activation);
absl::string_view LossName(Loss loss);

struct LayerSpec {
  int units = 0;  // >= 1
  Activation activation = Activation::kLinear;
};

struct NetworkSpec {
  int input_size = 0;             // >= 1
  std::vector<LayerSpec> layers;  // input side first; >= 1 layer
  Loss loss = Loss::kMse;
  bool bias = true;
  Init init = Init::kAuto;
  uint64_t seed = 1;  // seeds the initial weights
};

// Upper bounds that keep a spec's sizes far from integer overflow.
inline constexpr int kMaxLayerWidth = 1 << 20;
inline constexpr int kMaxLayers = 1024;

// OK, or INVALID_ARGUMENT naming the field and the expected vs actual value:
// sizes out of range, SOFTMAX on a hidden layer, CROSS_ENTROPY without a
// SOFTMAX output, BINARY_CROSS_ENTROPY without a SIGMOID output.
absl::Status ValidateSpec(const NetworkSpec& spec);

// Weights plus biases of a spec. Only meaningful for a spec that passed
// ValidateSpec (then it cannot overflow).
int64_t ParameterCount(const NetworkSpec& spec);

struct Layer {
  Matrix weights;  // [units x inputs]
  Vector bias;     // [units]; size 0 when the network has no biases
  Activation activation = Activation::kLinear;
};

class Network {
 public:
  // A network with weights initialised from spec.init and spec.seed.
  // INVALID_ARGUMENT if ValidateSpec fails.
  static absl::StatusOr<Network> Create(const NetworkSpec& spec);

  // A network with the given weights (deserialisation, tests). INVALID_ARGUMENT
  // if the spec is invalid, a shape disagrees with it, or a value is NaN/Inf.
  static absl::StatusOr<Network> FromLayers(const NetworkSpec& spec,
                                            std::vector<Layer> layers);

  const NetworkSpec& spec() const { return spec_; }
  const std::vector<Layer>& layers() const { return layers_; }
  std::vector<Layer>& mutable_layers() { return layers_; }
  int input_size() const { return spec_.input_size; }
  int output_size() const { return spec_.layers.back().units; }
  int64_t parameter_count() const { return ParameterCount(spec_); }

  // Forward pass. inputs: [input_size x N], N >= 1; returns [output_size x N]
  // (softmax columns sum to 1). Thread-safe (const); allocates its result and
  // two activation buffers. Large batches run on the compute pool
  // (SetComputeThreads).
  // INVALID_ARGUMENT if inputs.rows() != input_size or N == 0; inputs are not
  // checked for NaN/Inf (they propagate to the outputs).
  absl::StatusOr<Matrix> Predict(const Eigen::Ref<const Matrix>& inputs) const;

 private:
  Network(NetworkSpec spec, std::vector<Layer> layers)
      : spec_(std::move(spec)), layers_(std::move(layers)) {}

  NetworkSpec spec_;
  std::vector<Layer> layers_;
};

// Threads used by the engine's large matrix products (training batches and
// large Predict batches), counting the thread that asks for the product.
// PROCESS-WIDE: the engine has one compute pool per process (compute_pool.h),
// so this is a setting for the program's startup (a server flag), not per
// call. Until it is called the pool has 1 thread. OpenBLAS itself always runs
// single-threaded, whatever OPENBLAS_NUM_THREADS says. The thread count never
// changes results (the reproducibility contract, docs/architecture.md), only
// speed. Concurrent trainings share the pool: each computes its own blocks and
// idle threads help whichever has blocks left. threads < 1 is taken as 1.
// Thread-safe; a call waits for the pool's running blocks.
void SetComputeThreads(int threads);
int ComputeThreads();

}  // namespace mlp::engine

#endif  // MLP_SERVER_ENGINE_NETWORK_H_
