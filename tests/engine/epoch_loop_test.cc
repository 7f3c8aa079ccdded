#include "server/engine/epoch_loop.h"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/network.h"
#include "server/engine/serialize.h"

namespace mlp::engine {
namespace {

using ::testing::HasSubstr;

// Three Gaussian blobs in 2-D: [2 x n] inputs, [1 x n] class indices.
void Blobs(int n, uint64_t seed, Matrix* x, Matrix* t) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> noise(0.0f, 0.4f);
  const float cx[3] = {0, 2, -2}, cy[3] = {2, -1, -1};
  x->resize(2, n);
  t->resize(1, n);
  for (int j = 0; j < n; ++j) {
    const int c = j % 3;
    (*x)(0, j) = cx[c] + noise(gen);
    (*x)(1, j) = cy[c] + noise(gen);
    (*t)(0, j) = static_cast<float>(c);
  }
}

NetworkSpec BlobSpec() {
  NetworkSpec spec;
  spec.input_size = 2;
  spec.layers = {{16, Activation::kRelu}, {3, Activation::kSoftmax}};
  spec.loss = Loss::kCrossEntropy;
  spec.seed = 5;
  return spec;
}

TEST(EpochLoopTest, EveryOptimizerLearnsBlobs) {
  Matrix x, t;
  Blobs(600, 1, &x, &t);
  for (Optimizer opt :
       {Optimizer::kSgd, Optimizer::kMomentum, Optimizer::kAdam}) {
    SCOPED_TRACE(OptimizerName(opt));
    Network n = Network::Create(BlobSpec()).value();
    TrainOptions o;
    o.optimizer = opt;
    o.learning_rate = opt == Optimizer::kAdam ? 0.01f : 0.1f;
    o.batch_size = 16;
    o.max_epochs = 20;
    o.shuffle = true;
    o.l2 = 1e-4f;
    const TrainResult r = RunEpochs(n, x, t, o).value();
    EXPECT_EQ(r.stop_reason, StopReason::kMaxEpochs);
    EXPECT_EQ(r.epochs, 20);
    EXPECT_TRUE(r.last.has_accuracy);
    EXPECT_GT(r.last.accuracy, 0.95);
    EXPECT_LT(r.final_loss, 0.2);
  }
}

TEST(EpochLoopTest, OneHotTargetsAndClassIndicesTrainAlike) {
  Matrix x, t;
  Blobs(90, 2, &x, &t);
  Matrix onehot = Matrix::Zero(3, 90);
  for (int j = 0; j < 90; ++j) onehot(static_cast<int>(t(0, j)), j) = 1.0f;
  TrainOptions o;
  o.max_epochs = 3;
  Network a = Network::Create(BlobSpec()).value();
  Network b = Network::Create(BlobSpec()).value();
  const TrainResult ra = RunEpochs(a, x, t, o).value();
  const TrainResult rb = RunEpochs(b, x, onehot, o).value();
  EXPECT_NEAR(ra.final_loss, rb.final_loss, 1e-6);
  EXPECT_TRUE(a.layers()[0].weights.isApprox(b.layers()[0].weights, 1e-6f));
}

TEST(EpochLoopTest, SameInputsGiveBitwiseIdenticalWeights) {
  Matrix x, t;
  Blobs(300, 3, &x, &t);
  TrainOptions o;
  o.optimizer = Optimizer::kAdam;
  o.learning_rate = 0.01f;
  o.batch_size = 7;
  o.max_epochs = 5;
  o.shuffle = true;
  o.validation_fraction = 0.2f;
  o.seed = 99;
  Network a = Network::Create(BlobSpec()).value();
  Network b = Network::Create(BlobSpec()).value();
  const TrainResult ra = RunEpochs(a, x, t, o).value();
  const TrainResult rb = RunEpochs(b, x, t, o).value();
  EXPECT_EQ(SerializeNetwork(a), SerializeNetwork(b));
  EXPECT_EQ(ra.final_loss, rb.final_loss);
  EXPECT_EQ(ra.last.validation_loss, rb.last.validation_loss);
  // Another shuffling seed takes another path.
  o.seed = 100;
  Network c = Network::Create(BlobSpec()).value();
  ASSERT_TRUE(RunEpochs(c, x, t, o).ok());
  EXPECT_NE(SerializeNetwork(a), SerializeNetwork(c));
}

TEST(EpochLoopTest, DivergenceKeepsTheLastGoodWeights) {
  NetworkSpec spec;
  spec.input_size = 2;
  spec.layers = {{8, Activation::kLinear}, {1, Activation::kLinear}};
  spec.seed = 1;
  Matrix x, t;
  Blobs(60, 4, &x, &t);
  x *= 10.0f;
  Network n = Network::Create(spec).value();
  TrainOptions o;
  o.learning_rate = 0.05f;
  o.batch_size = 60;
  o.max_epochs = 1000;
  std::vector<std::string> snapshots;
  const TrainResult r = RunEpochs(n, x, t, o, [&](const EpochStats& s) {
                          EXPECT_TRUE(std::isfinite(s.loss));
                          snapshots.push_back(SerializeNetwork(n));
                          return true;
                        }).value();
  EXPECT_EQ(r.stop_reason, StopReason::kDiverged);
  EXPECT_LT(r.epochs, 1000);
  EXPECT_TRUE(std::isfinite(r.final_loss));
  for (const Layer& l : n.layers()) EXPECT_TRUE(l.weights.allFinite());
  ASSERT_FALSE(snapshots.empty());
  EXPECT_EQ(SerializeNetwork(n), snapshots.back());
  EXPECT_EQ(static_cast<int>(snapshots.size()), r.epochs);
}

TEST(EpochLoopTest, DivergenceInTheFirstEpochKeepsTheStartingWeights) {
  NetworkSpec spec;
  spec.input_size = 1;
  spec.layers = {{1, Activation::kLinear}};
  Network n = Network::Create(spec).value();
  const std::string start = SerializeNetwork(n);
  Matrix x = Matrix::Constant(1, 4, 1e30f);
  Matrix t = Matrix::Constant(1, 4, -1e30f);
  TrainOptions o;
  o.learning_rate = 1.0f;
  const TrainResult r = RunEpochs(n, x, t, o).value();
  EXPECT_EQ(r.stop_reason, StopReason::kDiverged);
  EXPECT_EQ(r.epochs, 0);
  EXPECT_EQ(SerializeNetwork(n), start);
}

TEST(EpochLoopTest, TargetLossStops) {
  Matrix x, t;
  Blobs(300, 5, &x, &t);
  Network n = Network::Create(BlobSpec()).value();
  TrainOptions o;
  o.optimizer = Optimizer::kAdam;
  o.learning_rate = 0.01f;
  o.max_epochs = 500;
  o.target_loss = 0.1f;
  const TrainResult r = RunEpochs(n, x, t, o).value();
  EXPECT_EQ(r.stop_reason, StopReason::kTargetLoss);
  EXPECT_LE(r.final_loss, 0.1);
  EXPECT_LT(r.epochs, 500);
}

TEST(EpochLoopTest, EarlyStoppingWithoutImprovement) {
  // Zero weights and zero targets: the loss is 0 from the first epoch and
  // can never improve.
  NetworkSpec spec;
  spec.input_size = 2;
  spec.layers = {{1, Activation::kLinear}};
  std::vector<Layer> layers(1);
  layers[0].weights = Matrix::Zero(1, 2);
  layers[0].bias = Vector::Zero(1);
  Network n = Network::FromLayers(spec, layers).value();
  TrainOptions o;
  o.max_epochs = 100;
  o.early_stopping_patience = 3;
  const TrainResult r =
      RunEpochs(n, Matrix::Ones(2, 10), Matrix::Zero(1, 10), o).value();
  EXPECT_EQ(r.stop_reason, StopReason::kEarlyStopping);
  EXPECT_EQ(r.epochs, 4);
}

TEST(EpochLoopTest, EarlyStoppingRestoresTheBestValidationWeights) {
  // Noise labels on few samples with a wide network: the validation loss
  // bottoms out and rises.
  std::mt19937_64 gen(6);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const Matrix x = Matrix::NullaryExpr(10, 80, [&] { return normal(gen); });
  Matrix t(1, 80);
  for (int j = 0; j < 80; ++j) t(0, j) = static_cast<float>(gen() % 3);
  NetworkSpec spec;
  spec.input_size = 10;
  spec.layers = {{64, Activation::kRelu}, {3, Activation::kSoftmax}};
  spec.loss = Loss::kCrossEntropy;
  Network n = Network::Create(spec).value();
  TrainOptions o;
  o.optimizer = Optimizer::kAdam;
  o.learning_rate = 0.01f;
  o.batch_size = 8;
  o.max_epochs = 300;
  o.validation_fraction = 0.25f;
  o.early_stopping_patience = 5;
  std::vector<double> val;
  std::vector<std::string> snapshots;
  const TrainResult r = RunEpochs(n, x, t, o, [&](const EpochStats& s) {
                          EXPECT_TRUE(s.has_validation);
                          val.push_back(s.validation_loss);
                          snapshots.push_back(SerializeNetwork(n));
                          return true;
                        }).value();
  ASSERT_EQ(r.stop_reason, StopReason::kEarlyStopping);
  const size_t best = std::min_element(val.begin(), val.end()) - val.begin();
  EXPECT_EQ(val.size(), best + 1 + 5);
  // The callback of the last epoch sees the restored weights already... the
  // snapshot of the best epoch is what the network holds now.
  EXPECT_EQ(SerializeNetwork(n), snapshots[best]);
  // The final figures are the kept (best) epoch's, and say how many ran.
  EXPECT_EQ(r.epochs, static_cast<int>(val.size()));
  EXPECT_EQ(r.last.epoch, static_cast<int>(best) + 1);
  EXPECT_EQ(r.last.epochs_run, r.epochs);
  EXPECT_TRUE(r.last.final);
  EXPECT_EQ(r.last.validation_loss, val[best]);
  EXPECT_EQ(r.final_loss, r.last.loss);
}

TEST(EpochLoopTest, CallbackSeesEveryFieldAndCanStop) {
  Matrix x, t;
  Blobs(200, 7, &x, &t);
  Network n = Network::Create(BlobSpec()).value();
  TrainOptions o;
  o.max_epochs = 10;
  o.report_every = 3;
  o.validation_fraction = 0.1f;
  std::vector<int> epochs;
  double last_elapsed = 0.0;
  const TrainResult r = RunEpochs(n, x, t, o, [&](const EpochStats& s) {
                          epochs.push_back(s.epoch);
                          EXPECT_TRUE(s.has_accuracy);
                          EXPECT_TRUE(s.has_validation);
                          EXPECT_GE(s.accuracy, 0.0);
                          EXPECT_LE(s.accuracy, 1.0);
                          EXPECT_GE(s.validation_accuracy, 0.0);
                          EXPECT_LE(s.validation_accuracy, 1.0);
                          EXPECT_GT(s.loss, 0.0);
                          EXPECT_GT(s.validation_loss, 0.0);
                          EXPECT_GT(s.samples_per_second, 0.0);
                          EXPECT_GE(s.elapsed_seconds, last_elapsed);
                          last_elapsed = s.elapsed_seconds;
                          return true;
                        }).value();
  EXPECT_EQ(epochs, (std::vector<int>{3, 6, 9, 10}));
  EXPECT_EQ(r.stop_reason, StopReason::kMaxEpochs);
  EXPECT_EQ(r.last.epoch, 10);

  Network m = Network::Create(BlobSpec()).value();
  o.report_every = 1;
  const TrainResult stopped = RunEpochs(m, x, t, o, [](const EpochStats& s) {
                                return s.epoch < 4;
                              }).value();
  EXPECT_EQ(stopped.stop_reason, StopReason::kCancelled);
  EXPECT_EQ(stopped.epochs, 4);
}

TEST(EpochLoopTest, ShouldStopCancelsWithinOneBatch) {
  Matrix x, t;
  Blobs(1000, 8, &x, &t);
  Network n = Network::Create(BlobSpec()).value();
  TrainOptions o;
  o.batch_size = 100;
  o.max_epochs = 50;
  int polls = 0;
  bool called = false;
  const TrainResult r = RunEpochs(
                            n, x, t, o,
                            [&](const EpochStats&) {
                              called = true;
                              return true;
                            },
                            [&] { return ++polls == 4; })
                            .value();
  EXPECT_EQ(r.stop_reason, StopReason::kCancelled);
  EXPECT_EQ(r.epochs, 0);
  EXPECT_EQ(polls, 4);  // polled before every batch of 100
  EXPECT_FALSE(called);

  // Batch 1: polled every 64 samples (and at every epoch start).
  Network m = Network::Create(BlobSpec()).value();
  o.batch_size = 1;
  o.max_epochs = 1;
  polls = 0;
  ASSERT_TRUE(RunEpochs(m, x, t, o, {}, [&] {
                ++polls;
                return false;
              }).ok());
  EXPECT_EQ(polls, (1000 + 63) / 64);
}

TEST(EpochLoopTest, BadInputsAreInvalidArgumentAndLeaveTheNetworkAlone) {
  Matrix x, t;
  Blobs(30, 9, &x, &t);
  Network n = Network::Create(BlobSpec()).value();
  const std::string before = SerializeNetwork(n);
  TrainOptions o;
  struct Bad {
    Matrix x, t;
    TrainOptions o;
    std::string message;
  };
  std::vector<Bad> bad;
  bad.push_back(
      {Matrix::Zero(3, 30), t, o, "inputs has 3 rows, expected input_size 2"});
  bad.push_back(
      {Matrix::Zero(2, 0), Matrix::Zero(1, 0), o, "inputs has 0 samples"});
  bad.push_back(
      {x, t.leftCols(29), o, "targets has 29 samples (columns), expected 30"});
  bad.push_back({x, Matrix::Zero(2, 30), o,
                 "targets has 2 rows, expected output_size 3 (one-hot) or 1 "
                 "(class indices)"});
  Matrix nan_x = x;
  nan_x(1, 4) = NAN;
  bad.push_back(
      {nan_x, t, o,
       "inputs[4, 1] (sample, feature) is nan, expected a finite value"});
  Matrix bad_t = t;
  bad_t(0, 2) = 3.0f;
  bad.push_back(
      {x, bad_t, o,
       "targets[2] is 3, expected a class index (a whole number in [0, 3))"});
  bad_t(0, 2) = 0.5f;
  bad.push_back({x, bad_t, o, "targets[2] is 0.5, expected a class index"});
  TrainOptions lr = o;
  lr.learning_rate = 0.0f;
  bad.push_back({x, t, lr, "learning_rate is 0, expected a finite value > 0"});
  TrainOptions bs = o;
  bs.batch_size = 0;
  bad.push_back({x, t, bs, "batch_size is 0, expected at least 1"});
  TrainOptions vf = o;
  vf.validation_fraction = 1.0f;
  bad.push_back(
      {x, t, vf, "validation_fraction is 1, expected a value in [0, 1)"});
  TrainOptions me = o;
  me.max_epochs = 0;
  bad.push_back({x, t, me, "max_epochs is 0, expected at least 1"});
  for (const Bad& b : bad) {
    const absl::Status s = RunEpochs(n, b.x, b.t, b.o).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << b.message;
    EXPECT_THAT(std::string(s.message()), HasSubstr(b.message));
    EXPECT_TRUE(std::islower(static_cast<unsigned char>(s.message()[0])) ||
                s.message()[0] == '[');
  }
  EXPECT_EQ(SerializeNetwork(n), before);
  // One sample and any validation split leaves nothing to train on.
  o.validation_fraction = 0.5f;
  EXPECT_THAT(
      std::string(
          RunEpochs(n, x.leftCols(1), t.leftCols(1), o).status().message()),
      HasSubstr("leaves no training samples"));
}

TEST(EpochLoopTest, BinaryCrossEntropyAccuracyAndMse) {
  // XOR with a sigmoid output and BCE.
  Matrix x(2, 4), t(1, 4);
  x << 0, 0, 1, 1, 0, 1, 0, 1;
  t << 0, 1, 1, 0;
  NetworkSpec spec;
  spec.input_size = 2;
  spec.layers = {{8, Activation::kTanh}, {1, Activation::kSigmoid}};
  spec.loss = Loss::kBinaryCrossEntropy;
  spec.seed = 3;
  Network n = Network::Create(spec).value();
  TrainOptions o;
  o.optimizer = Optimizer::kAdam;
  o.learning_rate = 0.05f;
  o.batch_size = 4;
  o.max_epochs = 500;
  const TrainResult r = RunEpochs(n, x, t, o).value();
  EXPECT_EQ(r.last.accuracy, 1.0);
  EXPECT_LT(r.final_loss, 0.05);
  // MSE reports no accuracy.
  spec.loss = Loss::kMse;
  Network m = Network::Create(spec).value();
  o.max_epochs = 2;
  EXPECT_FALSE(RunEpochs(m, x, t, o).value().last.has_accuracy);
}

}  // namespace
}  // namespace mlp::engine

namespace mlp::engine {
namespace {

// Products large enough to go to OpenBLAS give the same bits with 1 and 2
// threads (OpenBLAS splits the output, not the inner dimension).
// That the compute-thread count (and OpenBLAS's kernel set and thread
// variables) never changes the weights is tested in child processes, one
// environment each: tests/engine/determinism_test.cc.

}  // namespace
}  // namespace mlp::engine
