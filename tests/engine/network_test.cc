#include "server/engine/network.h"

#include <cmath>
#include <cstring>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlp::engine {
namespace {

using ::testing::HasSubstr;

NetworkSpec Spec() {
  NetworkSpec spec;
  spec.input_size = 3;
  spec.layers = {{4, Activation::kRelu}, {2, Activation::kSoftmax}};
  spec.loss = Loss::kCrossEntropy;
  spec.seed = 7;
  return spec;
}

void ExpectInvalid(const NetworkSpec& spec, const std::string& message) {
  const absl::Status s = ValidateSpec(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << message;
  EXPECT_EQ(s.message(), message);
  EXPECT_EQ(Network::Create(spec).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NetworkTest, ValidateSpecNamesFieldAndValues) {
  EXPECT_TRUE(ValidateSpec(Spec()).ok());
  NetworkSpec s = Spec();
  s.input_size = 0;
  ExpectInvalid(s, "input_size is 0, expected 1 to 1048576");
  s = Spec();
  s.layers.clear();
  ExpectInvalid(s, "layers has 0 entries, expected 1 to 1024");
  s = Spec();
  s.layers[0].units = 0;
  ExpectInvalid(s, "layers[0].units is 0, expected 1 to 1048576");
  s = Spec();
  s.layers[0].activation = Activation::kSoftmax;
  ExpectInvalid(
      s,
      "layers[0].activation is softmax, expected softmax on the output "
      "layer only (layer 1)");
  s = Spec();
  s.layers[1].activation = Activation::kSigmoid;
  ExpectInvalid(
      s, "loss cross_entropy expects a softmax output layer, got sigmoid");
  s = Spec();
  s.loss = Loss::kBinaryCrossEntropy;
  ExpectInvalid(
      s,
      "loss binary_cross_entropy expects a sigmoid output layer, got softmax");
  s = Spec();
  s.loss = static_cast<Loss>(17);
  EXPECT_EQ(ValidateSpec(s).code(), absl::StatusCode::kInvalidArgument);
}

TEST(NetworkTest, ParameterCount) {
  NetworkSpec s = Spec();
  EXPECT_EQ(ParameterCount(s), 3 * 4 + 4 + 4 * 2 + 2);
  s.bias = false;
  EXPECT_EQ(ParameterCount(s), 3 * 4 + 4 * 2);
  s.input_size = 784;
  s.bias = true;
  s.layers = {{256, Activation::kRelu},
              {128, Activation::kRelu},
              {10, Activation::kSoftmax}};
  EXPECT_EQ(Network::Create(s).value().parameter_count(), 235146);
}

TEST(NetworkTest, Uniform01FillsInMemoryOrderFromTheSeed) {
  NetworkSpec s = Spec();
  s.init = Init::kUniform01;
  s.bias = false;
  const Network n = Network::Create(s).value();
  std::mt19937_64 gen(7);
  // weights_1 memory = row-major [inputs, units] = numpy random((3, 4)).
  for (const Layer& layer : n.layers()) {
    for (Eigen::Index i = 0; i < layer.weights.size(); ++i) {
      const float expect = static_cast<float>(gen() >> 40) / 16777216.0f;
      EXPECT_EQ(layer.weights.data()[i], expect);
    }
    EXPECT_EQ(layer.bias.size(), 0);
  }
}

TEST(NetworkTest, InitialisationsHaveTheirScale) {
  NetworkSpec s;
  s.input_size = 400;
  s.layers = {{300, Activation::kRelu}, {200, Activation::kTanh}};
  s.seed = 11;
  const Network n = Network::Create(s).value();  // kAuto
  const Matrix& he = n.layers()[0].weights;
  const double he_std = std::sqrt(he.array().square().mean());
  EXPECT_NEAR(he_std, std::sqrt(2.0 / 400), 0.01 * std::sqrt(2.0 / 400) * 3);
  const Matrix& xavier = n.layers()[1].weights;
  const double limit = std::sqrt(6.0 / (300 + 200));
  EXPECT_LE(xavier.cwiseAbs().maxCoeff(), limit);
  EXPECT_GT(xavier.cwiseAbs().maxCoeff(), 0.99 * limit);
  EXPECT_NEAR(xavier.mean(), 0.0, 0.01);
  EXPECT_TRUE(n.layers()[0].bias.isZero());
  // Same seed, same bits; another seed, other weights.
  const Network again = Network::Create(s).value();
  EXPECT_EQ(
      std::memcmp(again.layers()[0].weights.data(), he.data(), he.size() * 4),
      0);
  s.seed = 12;
  EXPECT_NE(Network::Create(s).value().layers()[0].weights, he);
}

TEST(NetworkTest, PredictComputesTheForwardPass) {
  NetworkSpec s = Spec();
  std::vector<Layer> layers(2);
  layers[0].weights.resize(4, 3);
  layers[0].weights << 1, -1, 0.5, 0, 2, -1, -1, 0, 0, 0.25, 0.25, 0.25;
  layers[0].bias = Vector::Constant(4, 0.1f);
  layers[0].activation = Activation::kRelu;
  layers[1].weights = Matrix::Constant(2, 4, 0.3f);
  layers[1].weights(1, 2) = -0.7f;
  layers[1].bias = Vector::Zero(2);
  layers[1].activation = Activation::kSoftmax;
  const Network n = Network::FromLayers(s, layers).value();
  Matrix x(3, 2);
  x << 1, 0, 2, 1, 3, -2;
  const Matrix y = n.Predict(x).value();
  ASSERT_EQ(y.rows(), 2);
  ASSERT_EQ(y.cols(), 2);
  for (int j = 0; j < 2; ++j) {
    const Vector h =
        ((layers[0].weights * x.col(j)) + layers[0].bias).cwiseMax(0.0f);
    const Vector z = layers[1].weights * h;
    const Vector p = z.array().exp() / z.array().exp().sum();
    EXPECT_TRUE(y.col(j).isApprox(p, 1e-6f)) << j;
    EXPECT_NEAR(y.col(j).sum(), 1.0f, 1e-6f);
    // A batch gives the same columns as one sample at a time.
    EXPECT_TRUE(n.Predict(x.col(j)).value().isApprox(y.col(j), 1e-6f));
  }
}

TEST(NetworkTest, PredictRejectsBadShapes) {
  const Network n = Network::Create(Spec()).value();
  absl::StatusOr<Matrix> r = n.Predict(Matrix::Zero(4, 2));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "inputs has 4 rows, expected input_size 3");
  r = n.Predict(Matrix::Zero(3, 0));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("0 samples"));
}

TEST(NetworkTest, FromLayersChecksShapesAndValues) {
  const Network n = Network::Create(Spec()).value();
  std::vector<Layer> layers = n.layers();
  layers[0].weights.resize(4, 2);
  absl::Status s = Network::FromLayers(Spec(), layers).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "layers[0].weights is [2, 4] (inputs, units), expected [3, 4]");
  layers = n.layers();
  layers[1].bias.resize(3);
  EXPECT_EQ(Network::FromLayers(Spec(), layers).status().message(),
            "layers[1].bias has 3 values, expected 2");
  layers = n.layers();
  layers[1].weights(0, 0) = NAN;
  EXPECT_EQ(Network::FromLayers(Spec(), layers).status().code(),
            absl::StatusCode::kInvalidArgument);
  layers = n.layers();
  layers.pop_back();
  EXPECT_EQ(Network::FromLayers(Spec(), layers).status().message(),
            "layers has 1 entries, expected 2 as in the spec");
}

TEST(NetworkTest, Names) {
  EXPECT_EQ(ActivationName(Activation::kRelu), "relu");
  EXPECT_EQ(LossName(Loss::kBinaryCrossEntropy), "binary_cross_entropy");
}

}  // namespace
}  // namespace mlp::engine
