// One optimisation step at a time, with every buffer preallocated: the inner
// loop of RunEpochs, exposed for benchmarks and for callers that drive their
// own loop.
//
// A BatchStepper owns, for batches of up to max_batch samples (B):
//   acts[l], deltas[l]          [units_l x max_batch]   forward / backward
//   grad_w[l], grad_b[l]        [units_l x inputs_l]    (momentum, Adam only)
//   optimiser state             same shapes as the parameters
// After Create, Step and Evaluate do not allocate: neither Eigen (proved by
// tests/engine/no_malloc_test.cc under EIGEN_RUNTIME_NO_MALLOC) nor the BLAS
// products (OpenBLAS keeps its own buffer pool).
//
// Plain SGD (no momentum) fuses the update into the gradient product:
//   W_l := (1 - lr*l2) W_l - (lr/B) delta_l A_{l-1}^T
// so it never materialises dW. Momentum (PyTorch's form):
//   v := mu v + g;  W := W - lr v
// Adam (Kingma & Ba, with bias correction; L2 added to the gradient):
//   m := b1 m + (1-b1) g;  v := b2 v + (1-b2) g^2
//   W := W - lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
// where g = dObjective/dW (see server/engine/backprop.h for the objective;
// for MSE it is half the reported loss, as in the tutorial).
//
// Thread-safety: not thread-safe; one BatchStepper per training. Step mutates
// the network it is given.
#ifndef MLP_SERVER_ENGINE_BATCH_STEPPER_H_
#define MLP_SERVER_ENGINE_BATCH_STEPPER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/network.h"
#include "server/engine/train_options.h"

namespace mlp::engine {

class BatchStepper {
 public:
  // Figures of one batch, measured by the forward pass (before the update).
  struct Figures {
    double loss_sum = 0.0;  // sum over the batch of the per-sample loss
    double correct = 0.0;   // correctly classified samples (CE / BCE only)
  };

  // INVALID_ARGUMENT if the options are invalid (ValidateOptions) or
  // max_batch < 1. class_indices: targets are [1 x B] class indices
  // (CROSS_ENTROPY only).
  static absl::StatusOr<BatchStepper> Create(const Network& network,
                                             const TrainOptions& options,
                                             int max_batch, bool class_indices);

  // One optimiser step on inputs [input_size x B] and targets [target_rows x
  // B], 1 <= B <= max_batch; the caller (RunEpochs) has validated shapes and
  // values, and `network` has the spec the BatchStepper was created for.
  // Columns must be contiguous (a Matrix or a leftCols/middleCols block of
  // one).
  Figures Step(Network& network, const Eigen::Ref<const Matrix>& inputs,
               const Eigen::Ref<const Matrix>& targets);

  // Forward pass only (validation): same shapes as Step; B <= max_batch.
  Figures Evaluate(const Network& network,
                   const Eigen::Ref<const Matrix>& inputs,
                   const Eigen::Ref<const Matrix>& targets);

  int max_batch() const { return max_batch_; }
  int64_t steps() const { return steps_; }

 private:
  BatchStepper() = default;

  // Step's update of one layer, one function per optimiser. delta: the
  // layer's [units x B] dObjective/dZ; a_prev: its input [inputs x B] with
  // leading dimension ld_prev; inv_batch: 1 / B. Momentum and Adam update
  // from the gradient that Gradient leaves in grad_w_[l], grad_b_[l].
  void SgdUpdate(Layer& layer, const Eigen::Ref<const Matrix>& delta,
                 const float* a_prev, int ld_prev, float inv_batch) const;
  void Gradient(size_t l, const Layer& layer,
                const Eigen::Ref<const Matrix>& delta, const float* a_prev,
                int ld_prev, float inv_batch);
  void MomentumUpdate(size_t l, Layer& layer);
  void AdamUpdate(size_t l, Layer& layer, float step_size, float denom_scale);
  void AdamScales(float* step_size, float* denom_scale) const;

  // Constant after construction.
  TrainOptions options_;
  Loss loss_ = Loss::kMse;
  bool class_indices_ = false;
  int max_batch_ = 0;

  // Workspaces, sized once by Create.
  std::vector<Matrix> acts_;
  std::vector<Matrix> deltas_;
  std::vector<Matrix> grad_w_;
  std::vector<Vector> grad_b_;
  std::vector<Matrix> state1_w_, state2_w_;  // momentum velocity; Adam m, v
  std::vector<Vector> state1_b_, state2_b_;
  int64_t steps_ = 0;
};

}  // namespace mlp::engine

#endif  // MLP_SERVER_ENGINE_BATCH_STEPPER_H_
