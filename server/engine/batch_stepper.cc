#include "server/engine/batch_stepper.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/engine/backprop.h"
#include "server/engine/gemm.h"

namespace mlp::engine {

absl::StatusOr<BatchStepper> BatchStepper::Create(const Network& network,
                                                  const TrainOptions& options,
                                                  int max_batch,
                                                  bool class_indices) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  if (max_batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch is ", max_batch, ", expected at least 1"));
  }
  BatchStepper t;
  t.options_ = options;
  t.loss_ = network.spec().loss;
  t.class_indices_ = class_indices;
  t.max_batch_ = max_batch;
  const std::vector<Layer>& layers = network.layers();
  internal::AllocateBuffers<Layer, float>(layers, max_batch, t.acts_,
                                          t.deltas_);
  const bool fused = options.optimizer == Optimizer::kSgd;
  const size_t n = layers.size();
  if (!fused) {
    t.grad_w_.resize(n);
    t.grad_b_.resize(n);
    t.state1_w_.resize(n);
    t.state1_b_.resize(n);
    if (options.optimizer == Optimizer::kAdam) {
      t.state2_w_.resize(n);
      t.state2_b_.resize(n);
    }
    for (size_t l = 0; l < n; ++l) {
      const Eigen::Index rows = layers[l].weights.rows();
      const Eigen::Index cols = layers[l].weights.cols();
      const Eigen::Index nb = layers[l].bias.size();
      t.grad_w_[l].resize(rows, cols);
      t.grad_b_[l].resize(nb);
      t.state1_w_[l] = Matrix::Zero(rows, cols);
      t.state1_b_[l] = Vector::Zero(nb);
      if (options.optimizer == Optimizer::kAdam) {
        t.state2_w_[l] = Matrix::Zero(rows, cols);
        t.state2_b_[l] = Vector::Zero(nb);
      }
    }
  }
  return t;
}

BatchStepper::Figures BatchStepper::Evaluate(
    const Network& network, const Eigen::Ref<const Matrix>& inputs,
    const Eigen::Ref<const Matrix>& targets) {
  const internal::BatchFigures f = internal::ForwardBatch<Layer, float>(
      network.layers(), loss_, class_indices_, inputs, targets, acts_);
  return Figures{f.loss_sum, f.correct};
}

BatchStepper::Figures BatchStepper::Step(
    Network& network, const Eigen::Ref<const Matrix>& inputs,
    const Eigen::Ref<const Matrix>& targets) {
  std::vector<Layer>& layers = network.mutable_layers();
  const internal::BatchFigures f = internal::ForwardBatch<Layer, float>(
      layers, loss_, class_indices_, inputs, targets, acts_);
  ++steps_;
  const int batch = static_cast<int>(inputs.cols());
  const float lr = options_.learning_rate;
  const float l2 = options_.l2;
  const float inv_batch = 1.0f / static_cast<float>(batch);
  const Optimizer opt = options_.optimizer;
  // Adam's bias corrections for this step.
  float step_size = lr;
  float denom_scale = 1.0f;
  if (opt == Optimizer::kAdam) {
    const double t = static_cast<double>(steps_);
    const double bc1 = 1.0 - std::pow(double(options_.adam_beta1), t);
    const double bc2 = 1.0 - std::pow(double(options_.adam_beta2), t);
    step_size = static_cast<float>(lr / bc1);
    denom_scale = static_cast<float>(1.0 / std::sqrt(bc2));
  }
  internal::BackwardBatch<Layer, float>(
      layers, loss_, class_indices_, inputs, targets, acts_, deltas_,
      [&](size_t l, const Eigen::Ref<const Matrix>& delta, const float* a_prev,
          int ld_prev) {
        Layer& layer = layers[l];
        const int units = static_cast<int>(layer.weights.rows());
        const int in = static_cast<int>(layer.weights.cols());
        const int ld_delta = static_cast<int>(delta.outerStride());
        const bool has_bias = layer.bias.size() > 0;
        if (opt == Optimizer::kSgd) {
          // W := (1 - lr l2) W - (lr / B) delta A_prev^T, in one product.
          internal::Gemm<float>(internal::Trans::kNo, internal::Trans::kYes,
                                units, in, batch, -lr * inv_batch, delta.data(),
                                ld_delta, a_prev, ld_prev, 1.0f - lr * l2,
                                layer.weights.data(), units);
          if (has_bias) {
            layer.bias.noalias() -= (lr * inv_batch) * delta.rowwise().sum();
          }
          return;
        }
        // g = delta A_prev^T / B + l2 W: [units x inputs].
        Matrix& g = grad_w_[l];
        internal::Gemm<float>(internal::Trans::kNo, internal::Trans::kYes,
                              units, in, batch, inv_batch, delta.data(),
                              ld_delta, a_prev, ld_prev, 0.0f, g.data(), units);
        if (l2 != 0.0f) g += l2 * layer.weights;
        Vector& gb = grad_b_[l];
        if (has_bias) gb.noalias() = inv_batch * delta.rowwise().sum();
        if (opt == Optimizer::kMomentum) {
          const float mu = options_.momentum;
          Matrix& v = state1_w_[l];
          v = mu * v + g;
          layer.weights.noalias() -= lr * v;
          if (has_bias) {
            Vector& vb = state1_b_[l];
            vb = mu * vb + gb;
            layer.bias.noalias() -= lr * vb;
          }
          return;
        }
        // Adam.
        const float b1 = options_.adam_beta1;
        const float b2 = options_.adam_beta2;
        const float eps = options_.adam_epsilon;
        Matrix& m = state1_w_[l];
        Matrix& v = state2_w_[l];
        m = b1 * m + (1.0f - b1) * g;
        v.array() = b2 * v.array() + (1.0f - b2) * g.array().square();
        layer.weights.array() -=
            step_size * m.array() / (v.array().sqrt() * denom_scale + eps);
        if (has_bias) {
          Vector& mb = state1_b_[l];
          Vector& vb = state2_b_[l];
          mb = b1 * mb + (1.0f - b1) * gb;
          vb.array() = b2 * vb.array() + (1.0f - b2) * gb.array().square();
          layer.bias.array() -=
              step_size * mb.array() / (vb.array().sqrt() * denom_scale + eps);
        }
      });
  return Figures{f.loss_sum, f.correct};
}

}  // namespace mlp::engine
