// 784-256-128-10 ReLU/softmax trained with Adam on Fashion-MNIST (Debian
// package dataset-fashion-mnist) reaches >= 0.88 test accuracy.
#include <sys/stat.h>

#include <string>

#include "gtest/gtest.h"
#include "server/engine/epoch_loop.h"
#include "server/engine/network.h"
#include "tests/testing/idx.h"

namespace mlp::engine {
namespace {

const char kDir[] = "/usr/share/datasets/fashion-mnist/";

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

TEST(FashionMnistTest, AdamReachesEightyEightPercent) {
  const std::string dir = kDir;
  for (const char* f :
       {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
    if (!Exists(dir + f)) GTEST_SKIP() << dir << f << " is missing";
  }
  const Dataset train =
      mlp::testing::ReadIdxDataset(dir + "train-images-idx3-ubyte.gz",
                                   dir + "train-labels-idx1-ubyte.gz")
          .value();
  const Dataset test =
      mlp::testing::ReadIdxDataset(dir + "t10k-images-idx3-ubyte.gz",
                                   dir + "t10k-labels-idx1-ubyte.gz")
          .value();
  ASSERT_EQ(train.inputs.rows(), 784);
  ASSERT_EQ(train.inputs.cols(), 60000);
  ASSERT_EQ(test.inputs.cols(), 10000);

  NetworkSpec spec;
  spec.input_size = 784;
  spec.layers = {{256, Activation::kRelu},
                 {128, Activation::kRelu},
                 {10, Activation::kSoftmax}};
  spec.loss = Loss::kCrossEntropy;
  spec.seed = 1;
  Network network = Network::Create(spec).value();
  TrainOptions options;
  options.optimizer = Optimizer::kAdam;
  options.learning_rate = 5e-4f;
  options.batch_size = 64;
  options.max_epochs = 20;
  options.shuffle = true;
  options.seed = 1;
  // Hold out 5000 training images; stop when their loss has not improved for
  // 3 epochs and keep the best epoch's weights.
  options.validation_fraction = 1.0f / 12.0f;
  options.early_stopping_patience = 4;
  const TrainResult result =
      RunEpochs(
          network, train.inputs, train.targets, options,
          [](const EpochStats& s) {
            std::printf(
                "epoch %d loss %.4f accuracy %.4f validation %.4f / %.4f, "
                "%.0f samples/s\n",
                s.epoch, s.loss, s.accuracy, s.validation_loss,
                s.validation_accuracy, s.samples_per_second);
            return true;
          })
          .value();
  EXPECT_TRUE(result.stop_reason == StopReason::kMaxEpochs ||
              result.stop_reason == StopReason::kEarlyStopping);

  const Matrix out = network.Predict(test.inputs).value();
  int correct = 0;
  for (Eigen::Index j = 0; j < out.cols(); ++j) {
    Eigen::Index predicted = 0;
    out.col(j).maxCoeff(&predicted);
    if (predicted == static_cast<Eigen::Index>(test.targets(0, j))) ++correct;
  }
  const double accuracy = correct / 10000.0;
  std::printf("test accuracy %.4f\n", accuracy);
  RecordProperty("test_accuracy", std::to_string(accuracy));
  EXPECT_GE(accuracy, 0.88);
}

}  // namespace
}  // namespace mlp::engine
