// The tutorial's seed experiment (issue 2): inputs [[1,1,1],[1,1,0],[0,1,0],
// [0,1,1]], targets [1,0,1,0], UNIFORM_0_1 init, no bias, MSE, SGD alpha 0.1,
// batch 1 (online updates in the data's order).
#include <algorithm>
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "server/engine/epoch_loop.h"
#include "server/engine/network.h"

namespace mlp::engine {
namespace {

// [3 x 4]: one sample per column.
Matrix Inputs() {
  Matrix x(3, 4);
  x << 1, 1, 0, 0,  //
      1, 1, 1, 1,   //
      1, 0, 0, 1;
  return x;
}

Matrix Targets() {
  Matrix t(1, 4);
  t << 1, 0, 1, 0;
  return t;
}

NetworkSpec SeedSpec(std::vector<LayerSpec> layers, uint64_t seed) {
  NetworkSpec spec;
  spec.input_size = 3;
  spec.layers = std::move(layers);
  spec.loss = Loss::kMse;
  spec.bias = false;
  spec.init = Init::kUniform01;
  spec.seed = seed;
  return spec;
}

TrainOptions TutorialOptions(int max_epochs) {
  TrainOptions options;
  options.optimizer = Optimizer::kSgd;
  options.learning_rate = 0.1f;
  options.batch_size = 1;
  options.max_epochs = max_epochs;
  options.target_loss = 0.001f;
  options.shuffle = false;
  return options;
}

// Every output within `tolerance` of its target.
bool AllWithin(const Network& network, float tolerance) {
  const Matrix y = network.Predict(Inputs()).value();
  return ((y - Targets()).array().abs() < tolerance).all();
}

// Every sample on the right side of 0.5.
bool AllWithinHalf(const Network& network) { return AllWithin(network, 0.5f); }

TEST(SeedExperimentTest, NoHiddenLayerNeverGetsEverySampleRight) {
  // The first input column (1 for targets 1 and 0 alike) makes the data not
  // linearly separable without a hidden layer... through the origin: the
  // best linear fit leaves at least one sample on the wrong side of 0.5.
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Network network =
        Network::Create(SeedSpec({{1, Activation::kLinear}}, seed)).value();
    TrainOptions options = TutorialOptions(2000);
    options.target_loss = 0.0f;
    bool ever_all_right = false;
    const TrainResult result = RunEpochs(network, Inputs(), Targets(), options,
                                         [&](const EpochStats&) {
                                           if (AllWithinHalf(network))
                                             ever_all_right = true;
                                           return true;
                                         })
                                   .value();
    EXPECT_FALSE(ever_all_right) << "seed " << seed;
    EXPECT_EQ(result.stop_reason, StopReason::kMaxEpochs);
    EXPECT_EQ(result.epochs, 2000);
    EXPECT_TRUE(std::isfinite(result.final_loss));
    EXPECT_GT(result.final_loss, 0.001);
  }
}

TEST(SeedExperimentTest, HiddenReluLayerConvergesForMostSeeds) {
  std::vector<int> converged_epochs;
  int stalled = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    Network network =
        Network::Create(
            SeedSpec({{4, Activation::kRelu}, {1, Activation::kLinear}}, seed))
            .value();
    const TrainResult result =
        RunEpochs(network, Inputs(), Targets(), TutorialOptions(1000)).value();
    ASSERT_TRUE(std::isfinite(result.final_loss)) << "seed " << seed;
    if (result.stop_reason == StopReason::kTargetLoss) {
      EXPECT_LE(result.final_loss, 0.001);
      // An epoch loss (mean over the 4 samples of the squared error) <=
      // 0.001 allows each output at most sqrt(4 * 0.001) = 0.063 off.
      EXPECT_TRUE(AllWithin(network, 0.07f)) << "seed " << seed;
      converged_epochs.push_back(result.epochs);
    } else {
      // A stall in a local minimum ends as MAX_EPOCHS with a finite loss.
      EXPECT_EQ(result.stop_reason, StopReason::kMaxEpochs) << "seed " << seed;
      EXPECT_EQ(result.epochs, 1000);
      ++stalled;
    }
  }
  ASSERT_GE(converged_epochs.size(), 75u);
  std::sort(converged_epochs.begin(), converged_epochs.end());
  const int median = converged_epochs[converged_epochs.size() / 2];
  // README's figure: "about 150-250 epochs" (measured: 81 of seeds 1-100
  // converge, median 172).
  EXPECT_GE(median, 150);
  EXPECT_LE(median, 250);
  RecordProperty("converged", static_cast<int>(converged_epochs.size()));
  RecordProperty("median_epochs", median);
  RecordProperty("slowest_epochs", converged_epochs.back());
  std::printf(
      "converged %zu/100, median %d epochs (quartiles %d, %d), slowest %d, "
      "stalled %d\n",
      converged_epochs.size(), median,
      converged_epochs[converged_epochs.size() / 4],
      converged_epochs[converged_epochs.size() * 3 / 4],
      converged_epochs.back(), stalled);
}

}  // namespace
}  // namespace mlp::engine
