#include "server/engine/batch_stepper.h"

#include <cmath>

#include "absl/base/attributes.h"
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

// The updates of one layer, one function per optimiser. They are forced
// inline into Step's per-layer callback, where they were written before: on a
// small network (the seed network's step) a call per layer is a visible share
// of the step.

// W := (1 - lr l2) W - (lr / B) delta A_prev^T, in one product, so that dW is
// never materialised.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void BatchStepper::SgdUpdate(
    Layer& layer, const Eigen::Ref<const Matrix>& delta, const float* a_prev,
    int ld_prev, float inv_batch) const {
  const int units = static_cast<int>(layer.weights.rows());
  const int in = static_cast<int>(layer.weights.cols());
  const int batch = static_cast<int>(delta.cols());
  const float lr = options_.learning_rate;
  internal::Gemm<float>(internal::Trans::kNo, internal::Trans::kYes, units, in,
                        batch, -lr * inv_batch, delta.data(),
                        static_cast<int>(delta.outerStride()), a_prev, ld_prev,
                        1.0f - lr * options_.l2, layer.weights.data(), units);
  if (layer.bias.size() > 0) {
    layer.bias.noalias() -= (lr * inv_batch) * delta.rowwise().sum();
  }
}

// grad_w_[l] = delta A_prev^T / B + l2 W: [units x inputs]; grad_b_[l] =
// rowsum(delta) / B.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void BatchStepper::Gradient(
    size_t l, const Layer& layer, const Eigen::Ref<const Matrix>& delta,
    const float* a_prev, int ld_prev, float inv_batch) {
  const int units = static_cast<int>(layer.weights.rows());
  const int in = static_cast<int>(layer.weights.cols());
  const int batch = static_cast<int>(delta.cols());
  const float l2 = options_.l2;
  Matrix& g = grad_w_[l];
  internal::Gemm<float>(internal::Trans::kNo, internal::Trans::kYes, units, in,
                        batch, inv_batch, delta.data(),
                        static_cast<int>(delta.outerStride()), a_prev, ld_prev,
                        0.0f, g.data(), units);
  if (l2 != 0.0f) g += l2 * layer.weights;
  if (layer.bias.size() > 0) {
    grad_b_[l].noalias() = inv_batch * delta.rowwise().sum();
  }
}

// v := mu v + g;  W := W - lr v (PyTorch's form), from Gradient's g.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void BatchStepper::MomentumUpdate(
    size_t l, Layer& layer) {
  const float lr = options_.learning_rate;
  const float mu = options_.momentum;
  Matrix& v = state1_w_[l];
  v = mu * v + grad_w_[l];
  layer.weights.noalias() -= lr * v;
  if (layer.bias.size() > 0) {
    Vector& vb = state1_b_[l];
    vb = mu * vb + grad_b_[l];
    layer.bias.noalias() -= lr * vb;
  }
}

// m := b1 m + (1-b1) g;  v := b2 v + (1-b2) g^2;
// W := W - step_size m / (sqrt(v) denom_scale + eps), from Gradient's g, with
// the bias corrections folded into step_size and denom_scale (AdamScales).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void BatchStepper::AdamUpdate(
    size_t l, Layer& layer, float step_size, float denom_scale) {
  const float b1 = options_.adam_beta1;
  const float b2 = options_.adam_beta2;
  const float eps = options_.adam_epsilon;
  const Matrix& g = grad_w_[l];
  Matrix& m = state1_w_[l];
  Matrix& v = state2_w_[l];
  m = b1 * m + (1.0f - b1) * g;
  v.array() = b2 * v.array() + (1.0f - b2) * g.array().square();
  layer.weights.array() -=
      step_size * m.array() / (v.array().sqrt() * denom_scale + eps);
  if (layer.bias.size() > 0) {
    const Vector& gb = grad_b_[l];
    Vector& mb = state1_b_[l];
    Vector& vb = state2_b_[l];
    mb = b1 * mb + (1.0f - b1) * gb;
    vb.array() = b2 * vb.array() + (1.0f - b2) * gb.array().square();
    layer.bias.array() -=
        step_size * mb.array() / (vb.array().sqrt() * denom_scale + eps);
  }
}

// Adam's bias corrections at this step t: step_size = lr / (1 - b1^t),
// denom_scale = 1 / sqrt(1 - b2^t).
void BatchStepper::AdamScales(float* step_size, float* denom_scale) const {
  const double t = static_cast<double>(steps_);
  const double bc1 = 1.0 - std::pow(double(options_.adam_beta1), t);
  const double bc2 = 1.0 - std::pow(double(options_.adam_beta2), t);
  *step_size = static_cast<float>(options_.learning_rate / bc1);
  *denom_scale = static_cast<float>(1.0 / std::sqrt(bc2));
}

BatchStepper::Figures BatchStepper::Step(
    Network& network, const Eigen::Ref<const Matrix>& inputs,
    const Eigen::Ref<const Matrix>& targets) {
  std::vector<Layer>& layers = network.mutable_layers();
  const internal::BatchFigures f = internal::ForwardBatch<Layer, float>(
      layers, loss_, class_indices_, inputs, targets, acts_);
  ++steps_;
  const float inv_batch = 1.0f / static_cast<float>(inputs.cols());
  const Optimizer opt = options_.optimizer;
  float step_size = 0.0f;
  float denom_scale = 0.0f;
  if (opt == Optimizer::kAdam) AdamScales(&step_size, &denom_scale);
  internal::BackwardBatch<Layer, float>(
      layers, loss_, class_indices_, inputs, targets, acts_, deltas_,
      [&](size_t l, const Eigen::Ref<const Matrix>& delta, const float* a_prev,
          int ld_prev) {
        Layer& layer = layers[l];
        switch (opt) {
          case Optimizer::kSgd:
            SgdUpdate(layer, delta, a_prev, ld_prev, inv_batch);
            return;
          case Optimizer::kMomentum:
            Gradient(l, layer, delta, a_prev, ld_prev, inv_batch);
            MomentumUpdate(l, layer);
            return;
          case Optimizer::kAdam:
            Gradient(l, layer, delta, a_prev, ld_prev, inv_batch);
            AdamUpdate(l, layer, step_size, denom_scale);
            return;
        }
      });
  return Figures{f.loss_sum, f.correct};
}

}  // namespace mlp::engine
