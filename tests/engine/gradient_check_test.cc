// Analytic gradients (the engine's own backward pass, run in double) against
// central finite differences of the objective, for every activation and loss;
// then the float training step against the double gradient.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/engine/backprop.h"
#include "server/engine/batch_stepper.h"
#include "server/engine/network.h"
#include "server/engine/train_options.h"

namespace mlp::engine {
namespace {

using internal::LayerT;
using MatrixD = internal::MatrixT<double>;

std::vector<LayerT<double>> RandomLayers(int inputs,
                                         const std::vector<LayerSpec>& specs,
                                         bool bias, std::mt19937_64& gen) {
  std::normal_distribution<double> normal(0.0, 0.7);
  std::vector<LayerT<double>> layers;
  for (const LayerSpec& s : specs) {
    LayerT<double> layer;
    layer.activation = s.activation;
    layer.weights =
        MatrixD::NullaryExpr(s.units, inputs, [&] { return normal(gen); });
    if (bias) {
      layer.bias = internal::VectorT<double>::NullaryExpr(
          s.units, [&] { return normal(gen); });
    }
    layers.push_back(std::move(layer));
    inputs = s.units;
  }
  return layers;
}

struct Case {
  std::string name;
  Activation hidden;
  Activation output;
  Loss loss;
  int outputs;
  bool class_indices;
};

// ||a - n|| / (||a|| + ||n||) over one parameter block.
double RelativeError(const MatrixD& analytic, const MatrixD& numeric) {
  const double denom = analytic.norm() + numeric.norm();
  return denom == 0.0 ? 0.0 : (analytic - numeric).norm() / denom;
}

void CheckCase(const Case& c) {
  SCOPED_TRACE(c.name);
  std::mt19937_64 gen(42);
  const int inputs = 4, batch = 5;
  const std::vector<LayerSpec> specs = {
      {6, c.hidden}, {5, c.hidden}, {c.outputs, c.output}};
  std::vector<LayerT<double>> layers = RandomLayers(inputs, specs, true, gen);
  std::normal_distribution<double> normal(0.0, 1.0);
  const MatrixD x =
      MatrixD::NullaryExpr(inputs, batch, [&] { return normal(gen); });
  MatrixD t;
  if (c.class_indices) {
    t.resize(1, batch);
    for (int j = 0; j < batch; ++j) t(0, j) = j % c.outputs;
  } else if (c.loss == Loss::kCrossEntropy) {
    t = MatrixD::Zero(c.outputs, batch);
    for (int j = 0; j < batch; ++j) t((j * 2) % c.outputs, j) = 1.0;
  } else if (c.loss == Loss::kBinaryCrossEntropy) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    t = MatrixD::NullaryExpr(c.outputs, batch,
                             [&] { return u(gen) < 0.5 ? 0.0 : 1.0; });
  } else {
    t = MatrixD::NullaryExpr(c.outputs, batch, [&] { return normal(gen); });
  }
  const double l2 = 0.03;
  std::vector<LayerT<double>> grads;
  internal::ObjectiveAndGradient<double>(layers, c.loss, c.class_indices, l2, x,
                                         t, &grads);
  const double h = 1e-6;
  for (size_t l = 0; l < layers.size(); ++l) {
    MatrixD numeric_w(layers[l].weights.rows(), layers[l].weights.cols());
    for (Eigen::Index i = 0; i < layers[l].weights.size(); ++i) {
      double& w = layers[l].weights.data()[i];
      const double saved = w;
      w = saved + h;
      const double up = internal::ObjectiveAndGradient<double>(
          layers, c.loss, c.class_indices, l2, x, t, nullptr);
      w = saved - h;
      const double down = internal::ObjectiveAndGradient<double>(
          layers, c.loss, c.class_indices, l2, x, t, nullptr);
      w = saved;
      numeric_w.data()[i] = (up - down) / (2 * h);
    }
    EXPECT_LT(RelativeError(grads[l].weights, numeric_w), 1e-4)
        << "layer " << l << " weights";
    MatrixD numeric_b(layers[l].bias.size(), 1);
    for (Eigen::Index i = 0; i < layers[l].bias.size(); ++i) {
      double& b = layers[l].bias(i);
      const double saved = b;
      b = saved + h;
      const double up = internal::ObjectiveAndGradient<double>(
          layers, c.loss, c.class_indices, l2, x, t, nullptr);
      b = saved - h;
      const double down = internal::ObjectiveAndGradient<double>(
          layers, c.loss, c.class_indices, l2, x, t, nullptr);
      b = saved;
      numeric_b(i) = (up - down) / (2 * h);
    }
    EXPECT_LT(RelativeError(grads[l].bias, numeric_b), 1e-4)
        << "layer " << l << " bias";
  }
}

TEST(GradientCheckTest, EveryActivationWithMse) {
  for (Activation a : {Activation::kLinear, Activation::kRelu,
                       Activation::kSigmoid, Activation::kTanh}) {
    CheckCase({"mse hidden " + std::string(ActivationName(a)), a,
               Activation::kLinear, Loss::kMse, 3, false});
    CheckCase({"mse output " + std::string(ActivationName(a)),
               Activation::kTanh, a, Loss::kMse, 3, false});
  }
  CheckCase({"mse softmax output", Activation::kSigmoid, Activation::kSoftmax,
             Loss::kMse, 4, false});
}

TEST(GradientCheckTest, CrossEntropyOneHotAndClassIndices) {
  CheckCase({"ce one-hot", Activation::kRelu, Activation::kSoftmax,
             Loss::kCrossEntropy, 4, false});
  CheckCase({"ce class indices", Activation::kTanh, Activation::kSoftmax,
             Loss::kCrossEntropy, 4, true});
}

TEST(GradientCheckTest, BinaryCrossEntropy) {
  CheckCase({"bce one output", Activation::kRelu, Activation::kSigmoid,
             Loss::kBinaryCrossEntropy, 1, false});
  CheckCase({"bce three outputs", Activation::kSigmoid, Activation::kSigmoid,
             Loss::kBinaryCrossEntropy, 3, false});
}

// The float training step (fused SGD, momentum, Adam) moves the weights as the
// double gradient says.
TEST(GradientCheckTest, FloatStepFollowsTheGradient) {
  NetworkSpec spec;
  spec.input_size = 5;
  spec.layers = {{7, Activation::kTanh}, {3, Activation::kSoftmax}};
  spec.loss = Loss::kCrossEntropy;
  spec.seed = 3;
  const Network start = Network::Create(spec).value();
  std::mt19937_64 gen(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const Matrix x = Matrix::NullaryExpr(5, 8, [&] { return normal(gen); });
  Matrix t(1, 8);
  for (int j = 0; j < 8; ++j) t(0, j) = static_cast<float>(j % 3);

  std::vector<LayerT<double>> layers;
  for (const Layer& l : start.layers()) {
    layers.push_back(
        {l.weights.cast<double>(), l.bias.cast<double>(), l.activation});
  }
  const float l2 = 0.01f;
  std::vector<LayerT<double>> grads;
  internal::ObjectiveAndGradient<double>(
      layers, spec.loss, true, l2, x.cast<double>(), t.cast<double>(), &grads);
  for (Optimizer opt :
       {Optimizer::kSgd, Optimizer::kMomentum, Optimizer::kAdam}) {
    SCOPED_TRACE(OptimizerName(opt));
    Network network = start;
    TrainOptions options;
    options.optimizer = opt;
    options.learning_rate = 0.05f;
    options.l2 = l2;
    BatchStepper stepper =
        BatchStepper::Create(network, options, 8, true).value();
    stepper.Step(network, x, t);
    for (size_t l = 0; l < layers.size(); ++l) {
      const MatrixD moved =
          (start.layers()[l].weights - network.layers()[l].weights)
              .cast<double>();
      const internal::VectorT<double> moved_b =
          (start.layers()[l].bias - network.layers()[l].bias).cast<double>();
      if (opt == Optimizer::kAdam) {
        // First Adam step: lr * g / (|g| + eps), i.e. lr * sign(g).
        const MatrixD expect =
            options.learning_rate * grads[l].weights.array().sign().matrix();
        EXPECT_LT((moved - expect).cwiseAbs().maxCoeff(), 1e-4);
      } else {
        // First SGD / momentum step: lr * g.
        EXPECT_LT((moved - options.learning_rate * grads[l].weights)
                      .cwiseAbs()
                      .maxCoeff(),
                  1e-6);
        EXPECT_LT((moved_b - options.learning_rate * grads[l].bias)
                      .cwiseAbs()
                      .maxCoeff(),
                  1e-6);
      }
    }
  }
}

}  // namespace
}  // namespace mlp::engine
