// Private to the engine (and its tests): the forward and backward passes,
// written once as templates on the scalar type so that training runs them in
// float and the gradient check runs the very same code in double.
//
// Shapes (one sample per column, B = samples in the batch):
//   x        [inputs_0 x B]           acts[l]   [units_l x B]  (A_l; Z_l first)
//   W_l      [units_l x inputs_l]     deltas[l] [units_l x B] (dObjective/dZ_l)
// Buffers are allocated for a maximum batch and used through .leftCols(B), so
// no step allocates once they exist.
//
// The OBJECTIVE that the gradients belong to is, per sample,
//   MSE:                  1/2 * mean_k (y_k - t_k)^2   (half the reported loss:
//                         dObj/dy = (y - t) / outputs, which with one output,
//                         batch 1 and SGD is the tutorial's update
//                         w -= alpha * x^T (y - t) with no factor 2)
//   CROSS_ENTROPY:        -sum_k t_k log softmax(z)_k   (= the reported loss)
//   BINARY_CROSS_ENTROPY: mean_k of -t log y - (1-t) log(1-y) (= reported)
// averaged over the batch, plus l2/2 * sum of squared weights (not biases).
//
// Thread-safety: free functions over caller-owned buffers; no shared state.
#ifndef MLP_SERVER_ENGINE_BACKPROP_H_
#define MLP_SERVER_ENGINE_BACKPROP_H_

#include <Eigen/Core>
#include <cmath>
#include <vector>

#include "server/engine/gemm.h"
#include "server/engine/network.h"

namespace mlp::engine::internal {

template <typename S>
using MatrixT = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
template <typename S>
using VectorT = Eigen::Matrix<S, Eigen::Dynamic, 1>;

// Parameters of one layer in scalar type S; mlp::engine::Layer is the float
// instance's twin (same member names), and every template below takes either.
template <typename S>
struct LayerT {
  MatrixT<S> weights;  // [units x inputs]
  VectorT<S> bias;     // [units] or empty
  Activation activation = Activation::kLinear;
};

// 1/2 for MSE (see the header comment), 1 otherwise.
inline double ObjectiveScale(Loss loss) {
  return loss == Loss::kMse ? 0.5 : 1.0;
}

// a := act(a), elementwise or per column. a: [units x B]. Softmax subtracts
// each column's maximum first, so it never overflows.
template <typename S>
void ActivateInPlace(Activation act, Eigen::Ref<MatrixT<S>> a) {
  switch (act) {
    case Activation::kLinear:
      return;
    case Activation::kRelu:
      a = a.cwiseMax(S(0));
      return;
    case Activation::kSigmoid:
      a = (S(1) + (-a.array()).exp()).inverse().matrix();
      return;
    case Activation::kTanh:
      a = a.array().tanh().matrix();
      return;
    case Activation::kSoftmax:
      for (Eigen::Index j = 0; j < a.cols(); ++j) {
        const S m = a.col(j).maxCoeff();
        a.col(j) = (a.col(j).array() - m).exp().matrix();
        a.col(j) /= a.col(j).sum();
      }
      return;
  }
}

// d := d .* act'(z), with the derivative written in terms of a = act(z), the
// only thing kept. For softmax this is the Jacobian-vector product
// d_j := a_j .* (d_j - a_j . d_j) per column. a, d: [units x B].
template <typename S>
void MultiplyByDerivative(Activation act, const Eigen::Ref<const MatrixT<S>>& a,
                          Eigen::Ref<MatrixT<S>> d) {
  switch (act) {
    case Activation::kLinear:
      return;
    case Activation::kRelu:
      d = (a.array() > S(0)).select(d.array(), S(0)).matrix();
      return;
    case Activation::kSigmoid:
      d.array() *= a.array() * (S(1) - a.array());
      return;
    case Activation::kTanh:
      d.array() *= S(1) - a.array().square();
      return;
    case Activation::kSoftmax:
      for (Eigen::Index j = 0; j < a.cols(); ++j) {
        const S dot = a.col(j).dot(d.col(j));
        d.col(j).array() = a.col(j).array() * (d.col(j).array() - dot);
      }
      return;
  }
}

// Figures of a forward pass over a batch.
struct BatchFigures {
  double loss_sum = 0.0;  // sum over samples of the reported per-sample loss
  double correct = 0.0;   // samples classified right (fractional for BCE
                          // with several outputs: the share of outputs)
};

// Output layer: on entry `a` holds Z_L, on exit A_L = act(Z_L). Returns the
// summed per-sample loss (computed from the logits for CROSS_ENTROPY, with
// log-sum-exp, and for BINARY_CROSS_ENTROPY, as max(z,0) - z t + log1p(e^-|z|),
// so that neither takes the log of 0) and the correct count for the
// classification losses. a: [K x B]; t: [K x B], or [1 x B] class indices.
template <typename S>
BatchFigures OutputForward(Activation act, Loss loss, bool class_indices,
                           Eigen::Ref<MatrixT<S>> a,
                           const Eigen::Ref<const MatrixT<S>>& t) {
  BatchFigures f;
  const Eigen::Index k = a.rows();
  if (loss == Loss::kCrossEntropy) {  // act is softmax (ValidateSpec)
    for (Eigen::Index j = 0; j < a.cols(); ++j) {
      Eigen::Index predicted = 0;
      const S m = a.col(j).maxCoeff(&predicted);
      const S sum = (a.col(j).array() - m).exp().sum();
      const double lse = double(m) + std::log(double(sum));
      Eigen::Index target = 0;
      if (class_indices) {
        target = static_cast<Eigen::Index>(t(0, j));
        f.loss_sum += lse - double(a(target, j));
      } else {
        t.col(j).maxCoeff(&target);
        f.loss_sum +=
            lse * double(t.col(j).sum()) - double(t.col(j).dot(a.col(j)));
      }
      if (predicted == target) f.correct += 1.0;
      a.col(j) = ((a.col(j).array() - m).exp() / sum).matrix();
    }
    return f;
  }
  if (loss == Loss::kBinaryCrossEntropy) {  // act is sigmoid (ValidateSpec)
    const double sum = (a.array().max(S(0)) - a.array() * t.array() +
                        (-a.array().abs()).exp().log1p())
                           .sum();
    f.loss_sum = sum / double(k);
    const double right = ((a.array() >= S(0)) == (t.array() >= S(0.5))).count();
    f.correct = right / double(k);
    ActivateInPlace<S>(act, a);
    return f;
  }
  ActivateInPlace<S>(act, a);
  f.loss_sum = double((a - t).squaredNorm()) / double(k);
  return f;
}

// delta := dObjective/dZ_L per sample (not yet divided by B), from A_L and the
// targets. a, delta: [K x B]; t as in OutputForward.
template <typename S>
void OutputDelta(Activation act, Loss loss, bool class_indices,
                 const Eigen::Ref<const MatrixT<S>>& a,
                 const Eigen::Ref<const MatrixT<S>>& t,
                 Eigen::Ref<MatrixT<S>> delta) {
  const S inv_k = S(1) / S(a.rows());
  switch (loss) {
    case Loss::kCrossEntropy:
      // d/dz of -sum t log softmax(z) = softmax(z) * sum(t) - t.
      if (class_indices) {
        delta = a;
        for (Eigen::Index j = 0; j < a.cols(); ++j) {
          delta(static_cast<Eigen::Index>(t(0, j)), j) -= S(1);
        }
      } else {
        for (Eigen::Index j = 0; j < a.cols(); ++j) {
          delta.col(j) = a.col(j) * t.col(j).sum() - t.col(j);
        }
      }
      return;
    case Loss::kBinaryCrossEntropy:
      // Sigmoid and BCE together: d/dz = (y - t), then the mean over outputs.
      delta = (a - t) * inv_k;
      return;
    case Loss::kMse:
      delta = (a - t) * inv_k;
      MultiplyByDerivative<S>(act, a, delta);
      return;
  }
}

// Z_l = W_l * input + b_l into out (then act_l unless it is the output layer,
// whose activation OutputForward applies). input: [inputs_l x B] at `in` with
// leading dimension ld_in; out: [units_l x B] block.
template <typename L, typename S>
void LayerForward(const L& layer, const S* in, int ld_in, int batch,
                  Eigen::Ref<MatrixT<S>> out, bool apply_activation) {
  const int units = static_cast<int>(layer.weights.rows());
  const int inputs = static_cast<int>(layer.weights.cols());
  // Bias and activation on each block of the output as soon as it is
  // computed, on the same thread (elementwise: the same bits however the
  // product is cut).
  const bool has_bias = layer.bias.size() > 0;
  Gemm<S>(Trans::kNo, Trans::kNo, units, batch, inputs, S(1),
          layer.weights.data(), units, in, ld_in, S(0), out.data(),
          static_cast<int>(out.outerStride()),
          [&](int row, int rows, int col, int cols) {
            auto block = out.block(row, col, rows, cols);
            if (has_bias) block.colwise() += layer.bias.segment(row, rows);
            if (apply_activation) ActivateInPlace<S>(layer.activation, block);
          });
}

// Forward pass over a batch into acts (each [units_l x >= B]); returns the
// output figures. x: [inputs x B].
template <typename L, typename S>
BatchFigures ForwardBatch(const std::vector<L>& layers, Loss loss,
                          bool class_indices,
                          const Eigen::Ref<const MatrixT<S>>& x,
                          const Eigen::Ref<const MatrixT<S>>& t,
                          std::vector<MatrixT<S>>& acts) {
  const int batch = static_cast<int>(x.cols());
  const size_t n = layers.size();
  for (size_t l = 0; l < n; ++l) {
    const S* in = l == 0 ? x.data() : acts[l - 1].data();
    const int ld =
        static_cast<int>(l == 0 ? x.outerStride() : acts[l - 1].rows());
    LayerForward<L, S>(layers[l], in, ld, batch, acts[l].leftCols(batch),
                       l + 1 < n);
  }
  return OutputForward<S>(layers.back().activation, loss, class_indices,
                          acts.back().leftCols(batch), t);
}

// Backward pass after ForwardBatch: fills deltas (each [units_l x >= B]) from
// the output down, and calls update(l, delta_l, a_prev, ld_prev) for every
// layer l from the output down, AFTER delta_{l-1} has been computed from the
// still unchanged W_l, so that update may change layer l's parameters in place
// (the tutorial's order). delta_l is the per-sample dObjective/dZ_l block
// [units_l x B]; a_prev points at the layer's input [inputs_l x B].
template <typename L, typename S, typename Update>
void BackwardBatch(const std::vector<L>& layers, Loss loss, bool class_indices,
                   const Eigen::Ref<const MatrixT<S>>& x,
                   const Eigen::Ref<const MatrixT<S>>& t,
                   const std::vector<MatrixT<S>>& acts,
                   std::vector<MatrixT<S>>& deltas, Update&& update) {
  const int batch = static_cast<int>(x.cols());
  const size_t n = layers.size();
  OutputDelta<S>(layers.back().activation, loss, class_indices,
                 acts.back().leftCols(batch), t, deltas.back().leftCols(batch));
  for (size_t l = n; l-- > 0;) {
    const int units = static_cast<int>(layers[l].weights.rows());
    const int inputs = static_cast<int>(layers[l].weights.cols());
    if (l > 0) {
      // delta_{l-1} = (W_l^T delta_l) .* act'_{l-1}: [inputs x B].
      // The derivative on each block as soon as it is computed.
      const Activation prev_act = layers[l - 1].activation;
      const MatrixT<S>& a_prev = acts[l - 1];
      MatrixT<S>& d_prev = deltas[l - 1];
      Gemm<S>(Trans::kYes, Trans::kNo, inputs, batch, units, S(1),
              layers[l].weights.data(), units, deltas[l].data(),
              static_cast<int>(deltas[l].rows()), S(0), d_prev.data(),
              static_cast<int>(d_prev.rows()),
              [&](int row, int rows, int col, int cols) {
                MultiplyByDerivative<S>(prev_act,
                                        a_prev.block(row, col, rows, cols),
                                        d_prev.block(row, col, rows, cols));
              });
    }
    const S* a_prev = l == 0 ? x.data() : acts[l - 1].data();
    const int ld_prev =
        static_cast<int>(l == 0 ? x.outerStride() : acts[l - 1].rows());
    update(l, deltas[l].leftCols(batch), a_prev, ld_prev);
  }
}

// Allocates acts / deltas for batches of up to max_batch samples.
template <typename L, typename S>
void AllocateBuffers(const std::vector<L>& layers, int max_batch,
                     std::vector<MatrixT<S>>& acts,
                     std::vector<MatrixT<S>>& deltas) {
  acts.resize(layers.size());
  deltas.resize(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    acts[l].resize(layers[l].weights.rows(), max_batch);
    deltas[l].resize(layers[l].weights.rows(), max_batch);
  }
}

// The objective (see the header comment) of a batch and, when grads is not
// null, its exact gradient: grads[l].weights = dObj/dW_l, .bias = dObj/db_l.
// For tests (the gradient check) and reference; allocates.
template <typename S>
double ObjectiveAndGradient(const std::vector<LayerT<S>>& layers, Loss loss,
                            bool class_indices, double l2,
                            const Eigen::Ref<const MatrixT<S>>& x,
                            const Eigen::Ref<const MatrixT<S>>& t,
                            std::vector<LayerT<S>>* grads) {
  std::vector<MatrixT<S>> acts, deltas;
  const int batch = static_cast<int>(x.cols());
  AllocateBuffers<LayerT<S>, S>(layers, batch, acts, deltas);
  const BatchFigures f =
      ForwardBatch<LayerT<S>, S>(layers, loss, class_indices, x, t, acts);
  double penalty = 0.0;
  for (const LayerT<S>& layer : layers)
    penalty += double(layer.weights.squaredNorm());
  const double objective =
      ObjectiveScale(loss) * f.loss_sum / batch + 0.5 * l2 * penalty;
  if (grads == nullptr) return objective;
  grads->assign(layers.size(), LayerT<S>());
  BackwardBatch<LayerT<S>, S>(
      layers, loss, class_indices, x, t, acts, deltas,
      [&](size_t l, const Eigen::Ref<const MatrixT<S>>& delta, const S* a_prev,
          int ld_prev) {
        const LayerT<S>& layer = layers[l];
        LayerT<S>& g = (*grads)[l];
        g.activation = layer.activation;
        g.weights.resize(layer.weights.rows(), layer.weights.cols());
        Gemm<S>(Trans::kNo, Trans::kYes, static_cast<int>(layer.weights.rows()),
                static_cast<int>(layer.weights.cols()), batch, S(1) / S(batch),
                delta.data(), static_cast<int>(delta.outerStride()), a_prev,
                ld_prev, S(0), g.weights.data(),
                static_cast<int>(g.weights.rows()));
        g.weights += S(l2) * layer.weights;
        if (layer.bias.size() > 0) {
          g.bias = delta.rowwise().sum() / S(batch);
        }
      });
  return objective;
}

}  // namespace mlp::engine::internal

#endif  // MLP_SERVER_ENGINE_BACKPROP_H_
