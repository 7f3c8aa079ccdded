// The service end to end: an in-process MlpServer on a loopback port, called
// over a real gRPC channel.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/service/server.h"
#include "tests/testing/api.h"
#include "tests/testing/files.h"
#include "tests/testing/server_process.h"

namespace mlp {
namespace {

using ::mlp::testing::ContextWithDeadline;
using ::mlp::testing::MakeTensor;
using ::mlp::testing::SeedSpec;
using ::mlp::testing::SeedTrainRequest;
using ::mlp::testing::UploadSeedDataset;
using ::testing::HasSubstr;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }

  void StartServer(registry::Limits limits = {},
                   int max_message_bytes = 64 << 20,
                   std::string auth_token = "") {
    server_.reset();
    service::ServerOptions options;
    options.address = "127.0.0.1:0";
    options.http_address = "";
    options.data_dir = dir_.path();
    options.limits = limits;
    options.max_message_bytes = max_message_bytes;
    options.auth_tokens = std::move(auth_token);
    options.stalled_stream_seconds = stalled_stream_seconds_;
    absl::StatusOr<std::unique_ptr<service::MlpServer>> server =
        service::MlpServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    address_ = "127.0.0.1:" + std::to_string(server_->port());
    stub_ = testing::MakeStub(address_);
  }

  double stalled_stream_seconds_ = 60;

  grpc::Status Create(const std::string& name, const v1::ModelSpec& spec,
                      v1::ModelInfo* info = nullptr) {
    return testing::CreateModel(stub_.get(), name, spec, info);
  }

  // Runs a Train call to the end; returns its status and messages.
  grpc::Status TrainAll(const v1::TrainRequest& request,
                        std::vector<v1::TrainProgress>* messages) {
    auto context = ContextWithDeadline(120);
    auto reader = stub_->Train(context.get(), request);
    v1::TrainProgress progress;
    while (reader->Read(&progress)) messages->push_back(progress);
    return reader->Finish();
  }

  grpc::Status Predict(const std::string& model, const std::vector<float>& x,
                       int64_t rows, v1::PredictResponse* response,
                       uint64_t version = 0) {
    v1::PredictRequest request;
    request.set_model(model);
    request.set_version(version);
    *request.mutable_inputs() =
        MakeTensor({rows, static_cast<int64_t>(x.size()) / rows}, x);
    return stub_->Predict(ContextWithDeadline().get(), request, response);
  }

  grpc::Status GetWeights(const std::string& model, uint64_t version,
                          v1::GetWeightsResponse* weights) {
    v1::GetWeightsRequest request;
    request.set_model(model);
    request.set_version(version);
    return stub_->GetWeights(ContextWithDeadline().get(), request, weights);
  }

  grpc::Status GetModel(const std::string& name, v1::ModelInfo* info) {
    v1::GetModelRequest request;
    request.set_name(name);
    return stub_->GetModel(ContextWithDeadline().get(), request, info);
  }

  testing::TempDir dir_;
  std::unique_ptr<service::MlpServer> server_;
  std::string address_;
  std::unique_ptr<v1::ModelService::Stub> stub_;
};

// Forward pass written independently of the engine: the API's row-major
// [inputs, units] weights applied to one row.
std::vector<float> ReferenceForward(const v1::GetWeightsResponse& weights,
                                    std::vector<float> x) {
  for (const v1::LayerWeights& layer : weights.layers()) {
    const int64_t inputs = layer.weights().shape(0);
    const int64_t units = layer.weights().shape(1);
    std::vector<float> y(units, 0.0f);
    for (int64_t u = 0; u < units; ++u) {
      double sum = layer.bias().values_size() > 0 ? layer.bias().values(u) : 0;
      for (int64_t i = 0; i < inputs; ++i) {
        sum += double(x[i]) * layer.weights().values(i * units + u);
      }
      y[u] = static_cast<float>(sum);
      if (layer.activation() == v1::RELU) y[u] = std::max(0.0f, y[u]);
    }
    x = std::move(y);
  }
  return x;
}

TEST_F(ServiceTest, ASecondServerCannotTakeATakenPort) {
  testing::TempDir other;
  service::ServerOptions options;
  options.address = address_;  // the running server's port
  options.http_address = "";
  options.data_dir = other.path();
  absl::StatusOr<std::unique_ptr<service::MlpServer>> second =
      service::MlpServer::Start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("cannot listen on '" + address_ + "'"));
  // The first still answers, alone.
  EXPECT_TRUE(Create("still-mine", SeedSpec(1)).ok());
}

TEST_F(ServiceTest, SeedExperimentEndToEnd) {
  v1::ModelInfo info;
  ASSERT_TRUE(Create("xnor", SeedSpec(1), &info).ok());
  EXPECT_EQ(info.version(), 1u);
  EXPECT_EQ(info.parameter_count(), 16u);
  EXPECT_EQ(info.state(), v1::READY);

  std::vector<v1::TrainProgress> messages;
  ASSERT_TRUE(TrainAll(SeedTrainRequest("xnor"), &messages).ok());
  ASSERT_GE(messages.size(), 10u);
  // One message per epoch, numbered 1..n; only the last is done.
  for (size_t i = 0; i < messages.size(); ++i) {
    EXPECT_EQ(messages[i].epoch(), i + 1);
    EXPECT_EQ(messages[i].done(), i + 1 == messages.size());
  }
  const v1::TrainProgress& done = messages.back();
  EXPECT_EQ(done.stop_reason(), v1::TARGET_LOSS);
  EXPECT_EQ(done.version(), 2u);
  EXPECT_LE(done.loss(), 0.001);
  EXPECT_LT(done.loss(), messages.front().loss() / 10);
  EXPECT_LT(messages.size(), 1000u);

  v1::PredictResponse prediction;
  ASSERT_TRUE(Predict("xnor", testing::kSeedInputs, 4, &prediction).ok());
  EXPECT_EQ(prediction.version(), 2u);
  ASSERT_THAT(prediction.outputs().shape(), ::testing::ElementsAre(4, 1));
  // An epoch loss (mean over the 4 samples of the squared error) <= 0.001
  // allows each output at most sqrt(4 * 0.001) = 0.063 from its target.
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(prediction.outputs().values(i), testing::kSeedTargets[i], 0.07);
  }

  v1::GetWeightsRequest request;
  request.set_model("xnor");
  v1::GetWeightsResponse weights;
  ASSERT_TRUE(
      stub_->GetWeights(ContextWithDeadline().get(), request, &weights).ok());
  ASSERT_EQ(weights.layers_size(), 2);
  EXPECT_THAT(weights.layers(0).weights().shape(),
              ::testing::ElementsAre(3, 4));
  EXPECT_THAT(weights.layers(1).weights().shape(),
              ::testing::ElementsAre(4, 1));
  EXPECT_EQ(weights.layers(0).bias().values_size(), 0);
  for (int row = 0; row < 4; ++row) {
    const std::vector<float> x(testing::kSeedInputs.begin() + 3 * row,
                               testing::kSeedInputs.begin() + 3 * row + 3);
    EXPECT_NEAR(ReferenceForward(weights, x)[0],
                prediction.outputs().values(row), 1e-5);
  }

  v1::GetModelRequest get;
  get.set_name("xnor");
  ASSERT_TRUE(stub_->GetModel(ContextWithDeadline().get(), get, &info).ok());
  EXPECT_EQ(info.version(), 2u);
  EXPECT_EQ(info.last_training().stop_reason(), v1::TARGET_LOSS);
  EXPECT_EQ(info.last_training().epochs(), messages.size());
}

TEST_F(ServiceTest, ReportEveryThinsTheStream) {
  ASSERT_TRUE(Create("m", SeedSpec(1)).ok());
  v1::TrainRequest request = SeedTrainRequest("m");
  request.mutable_options()->set_target_loss(0);
  request.mutable_options()->set_max_epochs(100);
  request.mutable_options()->set_report_every(10);
  std::vector<v1::TrainProgress> messages;
  ASSERT_TRUE(TrainAll(request, &messages).ok());
  ASSERT_EQ(messages.size(), 10u);
  EXPECT_EQ(messages[0].epoch(), 10u);
  EXPECT_EQ(messages.back().epoch(), 100u);
  EXPECT_TRUE(messages.back().done());
  EXPECT_EQ(messages.back().stop_reason(), v1::MAX_EPOCHS);
}

TEST_F(ServiceTest, EarlyStoppingReportsTheEpochItKept) {
  ASSERT_TRUE(Create("m", SeedSpec(1)).ok());
  // No bias, zero inputs, zero targets: the loss is 0 from epoch 1 and never
  // improves strictly, so patience 3 stops after epoch 4 keeping epoch 1.
  v1::TrainRequest request = SeedTrainRequest("m");
  v1::Tensor* inputs = request.mutable_inline_data()->mutable_inputs();
  for (float& v : *inputs->mutable_values()) v = 0.0f;
  v1::Tensor* targets = request.mutable_inline_data()->mutable_targets();
  for (float& v : *targets->mutable_values()) v = 0.0f;
  request.mutable_options()->set_target_loss(0);
  request.mutable_options()->set_max_epochs(100);
  request.mutable_options()->set_early_stopping_patience(3);
  std::vector<v1::TrainProgress> messages;
  ASSERT_TRUE(TrainAll(request, &messages).ok());
  ASSERT_EQ(messages.size(), 4u);  // epochs 1-3, then done
  const v1::TrainProgress& done = messages.back();
  EXPECT_TRUE(done.done());
  EXPECT_EQ(done.stop_reason(), v1::EARLY_STOPPING);
  EXPECT_EQ(done.epoch(), 1u);
  EXPECT_EQ(done.epochs_run(), 4u);
  EXPECT_EQ(done.version(), 2u);
  EXPECT_EQ(messages[2].epochs_run(), 0u);  // progress messages leave it 0
  // GetModel reports the same stop: the kept epoch's figures.
  v1::ModelInfo info;
  ASSERT_TRUE(GetModel("m", &info).ok());
  EXPECT_EQ(info.version(), 2u);
  EXPECT_EQ(info.last_training().stop_reason(), v1::EARLY_STOPPING);
  EXPECT_EQ(info.last_training().final_loss(), done.loss());
}

// 3 -> 1 linear, MSE, no bias: nothing clips the output (a ReLU layer
// would go dead instead of diverging).
v1::ModelSpec LinearSpec(uint64_t seed) {
  v1::ModelSpec spec = SeedSpec(seed);
  spec.clear_layers();
  spec.add_layers()->set_units(1);
  spec.mutable_layers(0)->set_activation(v1::LINEAR);
  return spec;
}

// A learning rate so large that the first step makes the next sample's
// output overflow float: the first epoch's loss is not finite. Training stops
// with DIVERGED, and the version it commits holds the starting weights
// (no epoch ended finite), as the stream and GetModel say.
TEST_F(ServiceTest, DivergenceStopsTrainingAndKeepsTheLastFiniteWeights) {
  ASSERT_TRUE(Create("m", LinearSpec(1)).ok());
  v1::GetWeightsResponse before;
  ASSERT_TRUE(GetWeights("m", 1, &before).ok());
  v1::TrainRequest request = SeedTrainRequest("m", 100);
  request.mutable_options()->set_target_loss(0);
  request.mutable_options()->set_learning_rate(1e30f);
  std::vector<v1::TrainProgress> messages;
  ASSERT_TRUE(TrainAll(request, &messages).ok());
  ASSERT_EQ(messages.size(), 1u);
  const v1::TrainProgress& done = messages.back();
  EXPECT_TRUE(done.done());
  EXPECT_EQ(done.stop_reason(), v1::DIVERGED);
  EXPECT_EQ(done.version(), 2u);
  EXPECT_EQ(done.epochs_run(), 0u);

  v1::ModelInfo info;
  ASSERT_TRUE(GetModel("m", &info).ok());
  EXPECT_EQ(info.version(), 2u);
  EXPECT_EQ(info.state(), v1::READY);
  EXPECT_EQ(info.last_training().stop_reason(), v1::DIVERGED);
  v1::GetWeightsResponse after;
  ASSERT_TRUE(GetWeights("m", 2, &after).ok());
  ASSERT_EQ(after.layers_size(), before.layers_size());
  for (int l = 0; l < after.layers_size(); ++l) {
    EXPECT_THAT(
        after.layers(l).weights().values(),
        ::testing::ElementsAreArray(before.layers(l).weights().values()))
        << "layer " << l;
  }
}

// Per-sample SGD on a linear model at learning rate 1.5 multiplies the
// weights' error by up to 7 per epoch of the tutorial's four rows (the
// spectral radius of the product of the four steps I - lr x x^T): the loss
// grows for some twenty epochs until float overflows. The committed weights
// are those of the last epoch that ended finite.
TEST_F(ServiceTest, DivergenceAfterSomeEpochsCommitsFiniteWeights) {
  ASSERT_TRUE(Create("m", LinearSpec(1)).ok());
  v1::TrainRequest request = SeedTrainRequest("m", 1000);
  request.mutable_options()->set_target_loss(0);
  request.mutable_options()->set_learning_rate(1.5f);
  std::vector<v1::TrainProgress> messages;
  ASSERT_TRUE(TrainAll(request, &messages).ok());
  const v1::TrainProgress& done = messages.back();
  EXPECT_EQ(done.stop_reason(), v1::DIVERGED);
  EXPECT_EQ(done.version(), 2u);
  EXPECT_LT(messages.size(), 1000u);
  ASSERT_GT(messages.size(), 5u);  // some epochs ended finite, loss growing
  EXPECT_GT(messages[5].loss(), 100 * messages[1].loss());
  v1::GetWeightsResponse weights;
  ASSERT_TRUE(GetWeights("m", 2, &weights).ok());
  for (const v1::LayerWeights& layer : weights.layers()) {
    for (float w : layer.weights().values()) EXPECT_TRUE(std::isfinite(w));
  }
  v1::ModelInfo info;
  ASSERT_TRUE(GetModel("m", &info).ok());
  EXPECT_EQ(info.last_training().stop_reason(), v1::DIVERGED);
}

// `reinitialize` starts from fresh weights drawn from the model's seed, not
// from the latest version, and commits the next version.
TEST_F(ServiceTest, ReinitializeStartsAgainFromTheSeedsWeights) {
  ASSERT_TRUE(Create("r", SeedSpec(3)).ok());
  v1::TrainRequest request = SeedTrainRequest("r", 20);
  request.mutable_options()->set_target_loss(0);
  std::vector<v1::TrainProgress> messages;
  ASSERT_TRUE(TrainAll(request, &messages).ok());  // v1 -> v2
  ASSERT_EQ(messages.back().version(), 2u);
  messages.clear();
  ASSERT_TRUE(TrainAll(request, &messages).ok());  // v2 -> v3, continued
  ASSERT_EQ(messages.back().version(), 3u);
  v1::TrainRequest again = request;
  again.mutable_options()->set_reinitialize(true);
  messages.clear();
  ASSERT_TRUE(TrainAll(again, &messages).ok());  // seed weights -> v4
  EXPECT_EQ(messages.back().version(), 4u);

  // v4 is v2 again (same start, data and options), bit for bit; v3, which
  // went on from v2, differs.
  v1::GetWeightsResponse v2, v3, v4;
  ASSERT_TRUE(GetWeights("r", 2, &v2).ok());
  ASSERT_TRUE(GetWeights("r", 3, &v3).ok());
  ASSERT_TRUE(GetWeights("r", 4, &v4).ok());
  EXPECT_EQ(v4.version(), 4u);
  for (int l = 0; l < 2; ++l) {
    EXPECT_THAT(v4.layers(l).weights().values(),
                ::testing::ElementsAreArray(v2.layers(l).weights().values()))
        << "layer " << l;
  }
  EXPECT_THAT(v3.layers(0).weights().values(),
              ::testing::Not(::testing::ElementsAreArray(
                  v2.layers(0).weights().values())));
  v1::ModelInfo info;
  ASSERT_TRUE(GetModel("r", &info).ok());
  EXPECT_EQ(info.version(), 4u);
  EXPECT_EQ(info.spec().seed(), 3u);
}

// 64 rows of the tutorial's data: two batches of the default 32.
v1::TrainRequest SixtyFourRows(const std::string& model) {
  std::vector<float> x, t;
  for (int i = 0; i < 64; ++i) {
    for (int j = 0; j < 3; ++j)
      x.push_back(testing::kSeedInputs[i % 4 * 3 + j]);
    t.push_back(testing::kSeedTargets[i % 4]);
  }
  v1::TrainRequest request;
  request.set_model(model);
  *request.mutable_inline_data()->mutable_inputs() = MakeTensor({64, 3}, x);
  *request.mutable_inline_data()->mutable_targets() = MakeTensor({64, 1}, t);
  return request;
}

// A Train with no options runs as the API's defaults say: SGD, learning
// rate 0.01, batches of 32, 10 epochs, a message per epoch; MOMENTUM's
// momentum is 0.9. Same weights, bit for bit, as the defaults spelt out; a
// different batch size gives different weights, so the comparison tells.
TEST_F(ServiceTest, UnsetTrainOptionsTakeTheDocumentedDefaults) {
  for (const char* name :
       {"implicit", "explicit", "batch-64", "momentum", "momentum-0.9"}) {
    ASSERT_TRUE(Create(name, SeedSpec(4)).ok()) << name;
  }
  std::vector<v1::TrainProgress> implicit;
  ASSERT_TRUE(TrainAll(SixtyFourRows("implicit"), &implicit).ok());
  ASSERT_EQ(implicit.size(), 10u);
  for (size_t i = 0; i < implicit.size(); ++i) {
    EXPECT_EQ(implicit[i].epoch(), i + 1);
  }
  EXPECT_TRUE(implicit.back().done());
  EXPECT_EQ(implicit.back().stop_reason(), v1::MAX_EPOCHS);
  EXPECT_EQ(implicit.back().version(), 2u);

  auto train = [&](const std::string& model, v1::Optimizer optimizer,
                   float momentum, uint32_t batch_size) {
    v1::TrainRequest request = SixtyFourRows(model);
    request.mutable_options()->set_optimizer(optimizer);
    request.mutable_options()->set_learning_rate(0.01f);
    request.mutable_options()->set_batch_size(batch_size);
    request.mutable_options()->set_max_epochs(10);
    request.mutable_options()->set_report_every(1);
    request.mutable_options()->set_momentum(momentum);
    std::vector<v1::TrainProgress> messages;
    EXPECT_TRUE(TrainAll(request, &messages).ok()) << model;
    return messages;
  };
  std::vector<v1::TrainProgress> spelt = train("explicit", v1::SGD, 0, 32);
  ASSERT_EQ(spelt.size(), 10u);
  EXPECT_EQ(spelt.back().loss(), implicit.back().loss());
  train("batch-64", v1::SGD, 0, 64);
  v1::TrainRequest momentum_only = SixtyFourRows("momentum");
  momentum_only.mutable_options()->set_optimizer(v1::MOMENTUM);
  std::vector<v1::TrainProgress> ignored;
  ASSERT_TRUE(TrainAll(momentum_only, &ignored).ok());
  train("momentum-0.9", v1::MOMENTUM, 0.9f, 32);

  auto weights_of = [&](const std::string& model) {
    v1::GetWeightsResponse weights;
    EXPECT_TRUE(GetWeights(model, 2, &weights).ok()) << model;
    std::vector<float> all;
    for (const v1::LayerWeights& layer : weights.layers()) {
      all.insert(all.end(), layer.weights().values().begin(),
                 layer.weights().values().end());
    }
    return all;
  };
  EXPECT_EQ(weights_of("implicit"), weights_of("explicit"));
  EXPECT_NE(weights_of("implicit"), weights_of("batch-64"));
  EXPECT_EQ(weights_of("momentum"), weights_of("momentum-0.9"));
  EXPECT_NE(weights_of("momentum"), weights_of("implicit"));
}

TEST_F(ServiceTest, SeedIsReportedAndReplaysBitForBit) {
  v1::ModelInfo info;
  ASSERT_TRUE(Create("a", SeedSpec(0), &info).ok());
  EXPECT_NE(info.spec().seed(), 0u);
  ASSERT_TRUE(Create("b", SeedSpec(info.spec().seed())).ok());
  std::vector<v1::TrainProgress> ma, mb;
  ASSERT_TRUE(TrainAll(SeedTrainRequest("a", 50), &ma).ok());
  ASSERT_TRUE(TrainAll(SeedTrainRequest("b", 50), &mb).ok());
  v1::PredictResponse pa, pb;
  ASSERT_TRUE(Predict("a", testing::kSeedInputs, 4, &pa).ok());
  ASSERT_TRUE(Predict("b", testing::kSeedInputs, 4, &pb).ok());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(pa.outputs().values(i), pb.outputs().values(i));
  }
}

TEST_F(ServiceTest, PredictionsDuringTrainingComeFromCommittedVersions) {
  // A model whose training lasts long enough to overlap with the readers.
  v1::ModelSpec spec;
  spec.set_input_size(64);
  spec.add_layers()->set_units(128);
  spec.mutable_layers(0)->set_activation(v1::RELU);
  spec.add_layers()->set_units(4);
  spec.mutable_layers(1)->set_activation(v1::LINEAR);
  spec.set_loss(v1::MSE);
  spec.set_seed(3);
  ASSERT_TRUE(Create("busy", spec).ok());
  const int rows = 2000;
  std::vector<float> x(rows * 64), t(rows * 4);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 7919) % 100) / 100;
  for (size_t i = 0; i < t.size(); ++i) t[i] = float((i * 31) % 10) / 10;
  v1::TrainRequest request;
  request.set_model("busy");
  *request.mutable_inline_data()->mutable_inputs() = MakeTensor({rows, 64}, x);
  *request.mutable_inline_data()->mutable_targets() = MakeTensor({rows, 4}, t);
  request.mutable_options()->set_batch_size(1);
  request.mutable_options()->set_max_epochs(15);
  request.mutable_options()->set_seed(1);

  std::vector<float> probe(64, 0.5f);
  v1::PredictResponse before;
  ASSERT_TRUE(Predict("busy", probe, 1, &before).ok());

  // Each reader predicts until the training is over and it has been
  // answered by version 2 (or a generous deadline passes): every answer
  // comes from version 1 (bit for bit the prediction before) until the
  // commit, and from version 2 after it, never 1 again.
  std::atomic<bool> training_done{false};
  std::atomic<int> failures{0}, calls{0}, readers_answered_by_v2{0};
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  std::vector<std::thread> readers;
  for (int i = 0; i < 8; ++i) {
    readers.emplace_back([&] {
      auto stub = testing::MakeStub(address_);
      bool answered_by_v2 = false;
      while ((!training_done.load() || !answered_by_v2) &&
             absl::Now() < deadline) {
        v1::PredictRequest p;
        p.set_model("busy");
        *p.mutable_inputs() = MakeTensor({1, 64}, probe);
        v1::PredictResponse r;
        grpc::Status s = stub->Predict(ContextWithDeadline().get(), p, &r);
        ++calls;
        if (!s.ok() || (r.version() != 1 && r.version() != 2)) ++failures;
        // Version 1 answers must equal the version-1 prediction exactly.
        if (s.ok() && r.version() == 1 &&
            (answered_by_v2 ||
             r.outputs().values(0) != before.outputs().values(0))) {
          ++failures;
        }
        if (s.ok() && r.version() == 2) answered_by_v2 = true;
      }
      if (answered_by_v2) ++readers_answered_by_v2;
    });
  }
  std::vector<v1::TrainProgress> messages;
  grpc::Status status = TrainAll(request, &messages);
  training_done.store(true);
  for (std::thread& t : readers) t.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(messages.back().version(), 2u);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(calls.load(), 8 * 5);
  EXPECT_EQ(readers_answered_by_v2.load(), 8);
  v1::PredictResponse after;
  ASSERT_TRUE(Predict("busy", probe, 1, &after).ok());
  EXPECT_EQ(after.version(), 2u);
}

TEST_F(ServiceTest, CancelledTrainingCommitsNothingAndFreesTheModel) {
  ASSERT_TRUE(Create("c", SeedSpec(1)).ok());
  v1::TrainRequest request = SeedTrainRequest("c", 100000000);
  request.mutable_options()->set_target_loss(0);
  grpc::ClientContext context;
  auto reader = stub_->Train(&context, request);
  v1::TrainProgress progress;
  ASSERT_TRUE(reader->Read(&progress));
  // A second training of the same model is refused while the first runs.
  std::vector<v1::TrainProgress> ignored;
  grpc::Status second = TrainAll(SeedTrainRequest("c"), &ignored);
  EXPECT_EQ(second.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(second.error_message(), HasSubstr("already training"));

  context.TryCancel();
  while (reader->Read(&progress)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The stream's end is the event; the model's state follows it, so poll
  // it with a generous deadline.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  v1::ModelInfo info;
  do {
    v1::GetModelRequest get;
    get.set_name("c");
    ASSERT_TRUE(stub_->GetModel(ContextWithDeadline().get(), get, &info).ok());
  } while (info.state() != v1::READY && absl::Now() < deadline);
  EXPECT_EQ(info.state(), v1::READY);
  EXPECT_EQ(info.version(), 1u);
}

TEST_F(ServiceTest, SlowReaderHoldsTheTrainingBack) {
  // Epochs of 4 samples take a few microseconds; a reader that pauses must
  // hold the training back rather than let progress messages pile up.
  ASSERT_TRUE(Create("fast", SeedSpec(1)).ok());
  v1::TrainRequest request = SeedTrainRequest("fast", 100000000);
  request.mutable_options()->set_target_loss(0);
  grpc::ClientContext context;
  auto reader = stub_->Train(&context, request);
  v1::TrainProgress progress;
  ASSERT_TRUE(reader->Read(&progress));
  const double pause_seconds = 3.0;
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));
  // Messages produced while the reader slept carry elapsed_seconds below the
  // pause. Held back, only what the server's queue and HTTP/2's flow-control
  // window (grown by gRPC up to a few MB: ~100k small messages) hold;
  // unthrottled, one per epoch all along (~150k a second even on a loaded
  // machine).
  int before_resume = 0;
  while (reader->Read(&progress) &&
         progress.elapsed_seconds() < pause_seconds &&
         before_resume < 2000000) {
    ++before_resume;
  }
  context.TryCancel();
  while (reader->Read(&progress)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_LT(before_resume, 250000);
}

// A reader that never reads cannot hold a training slot: once the training
// has waited --stalled_stream_seconds for it, the call is cancelled as if
// the caller had cancelled it (nothing committed) and the slot is free.
TEST_F(ServiceTest, AStalledReaderLosesItsTrainingSlot) {
  registry::Limits limits;
  limits.max_concurrent_trainings = 1;
  stalled_stream_seconds_ = 1;
  StartServer(limits);
  ASSERT_TRUE(Create("stalled", SeedSpec(1)).ok());
  ASSERT_TRUE(Create("next", SeedSpec(2)).ok());
  v1::TrainRequest request = SeedTrainRequest("stalled", 100000000);
  request.mutable_options()->set_target_loss(0);
  grpc::ClientContext stalled_context;
  auto stalled = stub_->Train(&stalled_context, request);  // never read

  // The slot is taken while the stalled call trains, then freed.
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + absl::Seconds(30);
  grpc::Status next_status;
  std::vector<v1::TrainProgress> next_messages;
  do {
    absl::SleepFor(absl::Milliseconds(100));
    next_messages.clear();
    next_status = TrainAll(SeedTrainRequest("next", 5), &next_messages);
  } while (next_status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
           absl::Now() < deadline);
  ASSERT_TRUE(next_status.ok()) << next_status.error_message();
  ASSERT_FALSE(next_messages.empty());
  EXPECT_TRUE(next_messages.back().done());
  EXPECT_EQ(next_messages.back().version(), 2u);
  // Not before the stall time: a reader is given that long.
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));

  v1::GetModelRequest get;
  get.set_name("stalled");
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModel(ContextWithDeadline().get(), get, &info).ok());
  EXPECT_EQ(info.version(), 1u);  // nothing committed
  EXPECT_EQ(info.state(), v1::READY);
  v1::TrainProgress progress;
  while (stalled->Read(&progress)) {
  }
  EXPECT_EQ(stalled->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(ServiceTest, DeleteCancelsTraining) {
  ASSERT_TRUE(Create("d", SeedSpec(1)).ok());
  v1::TrainRequest request = SeedTrainRequest("d", 100000000);
  request.mutable_options()->set_target_loss(0);
  auto context = ContextWithDeadline(60);
  auto reader = stub_->Train(context.get(), request);
  v1::TrainProgress progress;
  ASSERT_TRUE(reader->Read(&progress));
  v1::DeleteModelRequest del;
  del.set_name("d");
  v1::DeleteModelResponse deleted;
  ASSERT_TRUE(
      stub_->DeleteModel(ContextWithDeadline().get(), del, &deleted).ok());
  v1::TrainProgress last;
  while (reader->Read(&progress)) last = progress;
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(last.done());
  EXPECT_EQ(last.stop_reason(), v1::CANCELLED);
  EXPECT_EQ(last.version(), 0u);
  v1::GetModelRequest get;
  get.set_name("d");
  v1::ModelInfo info;
  EXPECT_EQ(
      stub_->GetModel(ContextWithDeadline().get(), get, &info).error_code(),
      grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, ConcurrentTrainingLimit) {
  registry::Limits limits;
  limits.max_concurrent_trainings = 1;
  StartServer(limits);
  ASSERT_TRUE(Create("one", SeedSpec(1)).ok());
  ASSERT_TRUE(Create("two", SeedSpec(1)).ok());
  v1::TrainRequest request = SeedTrainRequest("one", 100000000);
  request.mutable_options()->set_target_loss(0);
  grpc::ClientContext context;
  auto reader = stub_->Train(&context, request);
  v1::TrainProgress progress;
  ASSERT_TRUE(reader->Read(&progress));
  std::vector<v1::TrainProgress> ignored;
  grpc::Status status = TrainAll(SeedTrainRequest("two"), &ignored);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("max_concurrent_trainings"));
  context.TryCancel();
  while (reader->Read(&progress)) {
  }
  reader->Finish();
}

// 1 -> `hidden` ReLU -> `outputs` linear, MSE.
v1::ModelSpec WideSpec(uint32_t hidden, uint32_t outputs) {
  v1::ModelSpec spec;
  spec.set_input_size(1);
  spec.add_layers()->set_units(hidden);
  spec.mutable_layers(0)->set_activation(v1::RELU);
  spec.add_layers()->set_units(outputs);
  spec.mutable_layers(1)->set_activation(v1::LINEAR);
  spec.set_loss(v1::MSE);
  spec.set_seed(1);
  return spec;
}

TEST_F(ServiceTest, OversizedBatchIsRefusedBeforeAllocation) {
  // 3M parameters is a legal model; a batch of 100k rows through its
  // million-wide layer would need terabytes of buffers.
  ASSERT_TRUE(Create("wide", WideSpec(1000000, 1)).ok());
  const int rows = 100000;
  v1::TrainRequest request;
  request.set_model("wide");
  *request.mutable_inline_data()->mutable_inputs() =
      MakeTensor({rows, 1}, std::vector<float>(rows, 0.5f));
  *request.mutable_inline_data()->mutable_targets() =
      MakeTensor({rows, 1}, std::vector<float>(rows, 1.0f));
  request.mutable_options()->set_batch_size(rows);
  std::vector<v1::TrainProgress> messages;
  grpc::Status status = TrainAll(request, &messages);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("options.batch_size"));
  EXPECT_THAT(status.error_message(), HasSubstr("--max_batch_values"));
  EXPECT_TRUE(messages.empty());

  // Many rows through the wide layer still predict, in bounded memory: one
  // row per slice here (kPredictSliceValues / 10^6 rounds down to 1), so 64
  // rows run as 64 slices (more would only make a sanitizer build slow).
  v1::PredictResponse response;
  ASSERT_TRUE(
      Predict("wide", std::vector<float>(64, 0.25f), 64, &response).ok());
  ASSERT_EQ(response.outputs().values_size(), 64);
  EXPECT_EQ(response.outputs().values(0), response.outputs().values(63));
}

TEST_F(ServiceTest, ResponsesOverTheMessageLimitAreRefusedByName) {
  // 2 MiB messages; the server accepts only models whose weights fit in one
  // (ServerOptions::Validate): 2^18 parameters.
  registry::Limits limits;
  limits.max_parameters = 1 << 18;
  StartServer(limits, 2 << 20);
  // The largest model it accepts can be read back whole.
  ASSERT_TRUE(Create("big", WideSpec(87000, 1)).ok());  // 261001 parameters
  v1::GetWeightsRequest request;
  request.set_model("big");
  v1::GetWeightsResponse weights;
  grpc::Status status =
      stub_->GetWeights(ContextWithDeadline().get(), request, &weights);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Create("bigger", WideSpec(90000, 1)).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  // Outputs of 600 x 1000 floats (2.4 MB) cannot travel in 2 MiB messages.
  ASSERT_TRUE(Create("many-outputs", WideSpec(4, 1000)).ok());
  v1::PredictResponse response;
  status =
      Predict("many-outputs", std::vector<float>(600, 1.0f), 600, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("outputs would take"));
  EXPECT_THAT(status.error_message(), HasSubstr("--max_message_bytes"));
  EXPECT_TRUE(
      Predict("many-outputs", std::vector<float>(100, 1.0f), 100, &response)
          .ok());
}

// Many short streams race the training thread's last message against gRPC's
// write completions; under ASan this catches a reactor touched after Finish.
TEST_F(ServiceTest, ManyShortTrainingsStreamAndCommitCleanly) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 40;
  registry::Limits limits;
  limits.max_concurrent_trainings = kThreads;
  StartServer(limits);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(Create("short-" + std::to_string(t), SeedSpec(t + 1)).ok());
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto stub = testing::MakeStub(address_);
      for (int round = 0; round < kRounds; ++round) {
        v1::TrainRequest request =
            SeedTrainRequest("short-" + std::to_string(t), 3);
        request.mutable_options()->set_target_loss(0);
        auto context = ContextWithDeadline(60);
        auto reader = stub->Train(context.get(), request);
        v1::TrainProgress progress;
        int messages = 0;
        bool done = false;
        while (reader->Read(&progress)) {
          ++messages;
          done = progress.done();
        }
        if (!reader->Finish().ok() || messages != 3 || !done ||
            progress.version() != uint64_t(round + 2)) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(ServiceTest, ListsAndVersions) {
  ASSERT_TRUE(Create("b-model", SeedSpec(1)).ok());
  ASSERT_TRUE(Create("a-model", SeedSpec(2)).ok());
  EXPECT_EQ(Create("a-model", SeedSpec(2)).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  v1::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(ContextWithDeadline().get(), {}, &list).ok());
  ASSERT_EQ(list.models_size(), 2);
  EXPECT_EQ(list.models(0).name(), "a-model");
  EXPECT_EQ(list.models(1).name(), "b-model");

  std::vector<v1::TrainProgress> messages;
  ASSERT_TRUE(TrainAll(SeedTrainRequest("a-model", 20), &messages).ok());
  v1::PredictResponse v1_answer, v2_answer;
  ASSERT_TRUE(Predict("a-model", {1, 1, 1}, 1, &v1_answer, 1).ok());
  ASSERT_TRUE(Predict("a-model", {1, 1, 1}, 1, &v2_answer, 2).ok());
  EXPECT_EQ(v1_answer.version(), 1u);
  EXPECT_EQ(v2_answer.version(), 2u);
  EXPECT_NE(v1_answer.outputs().values(0), v2_answer.outputs().values(0));
  v1::PredictResponse missing;
  grpc::Status status = Predict("a-model", {1, 1, 1}, 1, &missing, 9);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("version 9"));
}

struct BadInput {
  std::string name;
  std::function<void(v1::PredictRequest*)> mutate;
  grpc::StatusCode code;
  std::string message;
};

TEST_F(ServiceTest, BadPredictInputsAreRefusedWithTheirField) {
  ASSERT_TRUE(Create("m", SeedSpec(1)).ok());
  const std::vector<BadInput> cases = {
      {"unknown model", [](v1::PredictRequest* r) { r->set_model("nope"); },
       grpc::StatusCode::NOT_FOUND, "model 'nope' not found"},
      {"wrong width",
       [](v1::PredictRequest* r) {
         *r->mutable_inputs() = MakeTensor({1, 4}, {1, 2, 3, 4});
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "inputs.shape[1] is 4, expected the model's input_size 3"},
      {"rank 1",
       [](v1::PredictRequest* r) {
         *r->mutable_inputs() = MakeTensor({3}, {1, 2, 3});
       },
       grpc::StatusCode::INVALID_ARGUMENT, "inputs.shape must be [N, 3]"},
      {"zero rows",
       [](v1::PredictRequest* r) {
         *r->mutable_inputs() = MakeTensor({0, 3}, {});
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "inputs.shape[0] (rows) must be >= 1"},
      {"too few values",
       [](v1::PredictRequest* r) {
         *r->mutable_inputs() = MakeTensor({2, 3}, {1, 2, 3});
       },
       grpc::StatusCode::INVALID_ARGUMENT, "inputs has 3 values"},
      {"absurd shape",
       [](v1::PredictRequest* r) {
         *r->mutable_inputs() = MakeTensor({int64_t{1} << 40, 3}, {1, 2, 3});
       },
       grpc::StatusCode::INVALID_ARGUMENT, "inputs has 3 values"},
      {"nan",
       [](v1::PredictRequest* r) {
         *r->mutable_inputs() = MakeTensor({1, 3}, {1, NAN, 3});
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "inputs.values[1] (row 0, column 1)"},
      {"infinity",
       [](v1::PredictRequest* r) {
         *r->mutable_inputs() = MakeTensor({1, 3}, {1, 2, INFINITY});
       },
       grpc::StatusCode::INVALID_ARGUMENT, "values must be finite"},
  };
  for (const BadInput& c : cases) {
    SCOPED_TRACE(c.name);
    v1::PredictRequest request;
    request.set_model("m");
    *request.mutable_inputs() = MakeTensor({1, 3}, {1, 1, 1});
    c.mutate(&request);
    v1::PredictResponse response;
    grpc::Status status =
        stub_->Predict(ContextWithDeadline().get(), request, &response);
    EXPECT_EQ(status.error_code(), c.code);
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
  }
}

TEST_F(ServiceTest, BadSpecsAreRefusedAndCreateNothing) {
  struct Case {
    std::string name;
    std::string model_name;
    std::function<void(v1::ModelSpec*)> mutate;
    grpc::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"bad name", "Bad Name", [](v1::ModelSpec*) {},
       grpc::StatusCode::INVALID_ARGUMENT, "name 'Bad Name'"},
      {"long name", std::string(64, 'a'), [](v1::ModelSpec*) {},
       grpc::StatusCode::INVALID_ARGUMENT, "1-63 characters, got 64"},
      {"no layers", "m", [](v1::ModelSpec* s) { s->clear_layers(); },
       grpc::StatusCode::INVALID_ARGUMENT, "spec.layers"},
      {"zero inputs", "m", [](v1::ModelSpec* s) { s->set_input_size(0); },
       grpc::StatusCode::INVALID_ARGUMENT, "spec.input_size"},
      {"zero units", "m",
       [](v1::ModelSpec* s) { s->mutable_layers(0)->set_units(0); },
       grpc::StatusCode::INVALID_ARGUMENT, "spec.layers[0].units"},
      {"unspecified activation", "m",
       [](v1::ModelSpec* s) {
         s->mutable_layers(1)->set_activation(v1::ACTIVATION_UNSPECIFIED);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "spec.layers[1].activation"},
      {"unspecified loss", "m",
       [](v1::ModelSpec* s) { s->set_loss(v1::LOSS_UNSPECIFIED); },
       grpc::StatusCode::INVALID_ARGUMENT, "spec.loss"},
      {"cross-entropy without softmax", "m",
       [](v1::ModelSpec* s) { s->set_loss(v1::CROSS_ENTROPY); },
       grpc::StatusCode::INVALID_ARGUMENT, "SOFTMAX"},
      {"softmax hidden", "m",
       [](v1::ModelSpec* s) {
         s->mutable_layers(0)->set_activation(v1::SOFTMAX);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "softmax"},
      {"too many parameters", "m",
       [](v1::ModelSpec* s) {
         s->set_input_size(1 << 20);
         s->mutable_layers(0)->set_units(1 << 20);
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED, "max_parameters"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::ModelSpec spec = SeedSpec(1);
    c.mutate(&spec);
    grpc::Status status = Create(c.model_name, spec);
    EXPECT_EQ(status.error_code(), c.code);
    EXPECT_THAT(absl::AsciiStrToLower(status.error_message()),
                HasSubstr(absl::AsciiStrToLower(c.message)));
  }
  v1::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(ContextWithDeadline().get(), {}, &list).ok());
  EXPECT_EQ(list.models_size(), 0);
}

TEST_F(ServiceTest, BadTrainRequestsAreRefusedAndCommitNothing) {
  ASSERT_TRUE(Create("m", SeedSpec(1)).ok());
  struct Case {
    std::string name;
    std::function<void(v1::TrainRequest*)> mutate;
    grpc::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"no data", [](v1::TrainRequest* r) { r->clear_data(); },
       grpc::StatusCode::INVALID_ARGUMENT, "data is not set"},
      {"unknown dataset", [](v1::TrainRequest* r) { r->set_dataset("nope"); },
       grpc::StatusCode::NOT_FOUND, "dataset 'nope' not found"},
      {"rows differ",
       [](v1::TrainRequest* r) {
         *r->mutable_inline_data()->mutable_targets() =
             MakeTensor({3, 1}, {1, 0, 1});
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "inline_data.targets.shape must be [4, 1]"},
      {"nan target",
       [](v1::TrainRequest* r) {
         *r->mutable_inline_data()->mutable_targets() =
             MakeTensor({4, 1}, {1, 0, NAN, 0});
       },
       grpc::StatusCode::INVALID_ARGUMENT, "inline_data.targets.values[2]"},
      {"negative learning rate",
       [](v1::TrainRequest* r) { r->mutable_options()->set_learning_rate(-1); },
       grpc::StatusCode::INVALID_ARGUMENT, "learning_rate"},
      {"validation fraction 1",
       [](v1::TrainRequest* r) {
         r->mutable_options()->set_validation_fraction(1);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "validation_fraction"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::TrainRequest request = SeedTrainRequest("m");
    c.mutate(&request);
    std::vector<v1::TrainProgress> messages;
    grpc::Status status = TrainAll(request, &messages);
    EXPECT_EQ(status.error_code(), c.code);
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
    EXPECT_TRUE(messages.empty());
  }
  v1::GetModelRequest get;
  get.set_name("m");
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModel(ContextWithDeadline().get(), get, &info).ok());
  EXPECT_EQ(info.version(), 1u);
  EXPECT_EQ(info.state(), v1::READY);
}

TEST_F(ServiceTest, UploadedDatasetTrainsLikeInlineData) {
  v1::DatasetInfo info;
  ASSERT_TRUE(UploadSeedDataset(stub_.get(), "xnor-data", 4, 3, &info).ok());
  EXPECT_EQ(info.rows(), 4u);
  EXPECT_EQ(info.input_size(), 3u);
  EXPECT_EQ(info.target_size(), 1u);
  EXPECT_EQ(
      UploadSeedDataset(stub_.get(), "xnor-data", 4, 3, &info).error_code(),
      grpc::StatusCode::ALREADY_EXISTS);

  ASSERT_TRUE(Create("inline", SeedSpec(5)).ok());
  ASSERT_TRUE(Create("from-dataset", SeedSpec(5)).ok());
  std::vector<v1::TrainProgress> a, b;
  ASSERT_TRUE(TrainAll(SeedTrainRequest("inline"), &a).ok());
  v1::TrainRequest request = SeedTrainRequest("from-dataset");
  request.set_dataset("xnor-data");
  ASSERT_TRUE(TrainAll(request, &b).ok());
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a.back().loss(), b.back().loss());

  v1::ListDatasetsResponse list;
  ASSERT_TRUE(stub_->ListDatasets(ContextWithDeadline().get(), {}, &list).ok());
  ASSERT_EQ(list.datasets_size(), 1);
  v1::DeleteDatasetRequest del;
  del.set_name("xnor-data");
  v1::DeleteDatasetResponse deleted;
  ASSERT_TRUE(
      stub_->DeleteDataset(ContextWithDeadline().get(), del, &deleted).ok());
  EXPECT_EQ(stub_->DeleteDataset(ContextWithDeadline().get(), del, &deleted)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, BadUploadsLeaveNothing) {
  v1::DatasetInfo info;
  {
    // A chunk before the header.
    auto context = ContextWithDeadline();
    auto writer = stub_->UploadDataset(context.get(), &info);
    v1::UploadDatasetRequest chunk;
    *chunk.mutable_chunk()->mutable_inputs() = MakeTensor({1, 3}, {1, 1, 1});
    *chunk.mutable_chunk()->mutable_targets() = MakeTensor({1, 1}, {1});
    writer->Write(chunk);
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                HasSubstr("first message must be a header"));
  }
  {
    // A ragged chunk after good ones.
    auto context = ContextWithDeadline();
    auto writer = stub_->UploadDataset(context.get(), &info);
    v1::UploadDatasetRequest header;
    header.mutable_header()->set_name("ragged");
    header.mutable_header()->set_input_size(3);
    header.mutable_header()->set_target_size(1);
    writer->Write(header);
    v1::UploadDatasetRequest chunk;
    *chunk.mutable_chunk()->mutable_inputs() = MakeTensor({1, 3}, {1, 1, 1});
    *chunk.mutable_chunk()->mutable_targets() = MakeTensor({1, 1}, {1});
    writer->Write(chunk);
    *chunk.mutable_chunk()->mutable_inputs() = MakeTensor({1, 2}, {1, 1});
    writer->Write(chunk);
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(
        status.error_message(),
        HasSubstr(
            "chunk 1 inputs.shape[1] is 2, expected header.input_size 3"));
  }
  {
    // A cancelled upload.
    grpc::ClientContext context;
    auto writer = stub_->UploadDataset(&context, &info);
    v1::UploadDatasetRequest header;
    header.mutable_header()->set_name("cancelled");
    header.mutable_header()->set_input_size(3);
    header.mutable_header()->set_target_size(1);
    writer->Write(header);
    v1::UploadDatasetRequest chunk;
    *chunk.mutable_chunk()->mutable_inputs() = MakeTensor({1, 3}, {1, 1, 1});
    *chunk.mutable_chunk()->mutable_targets() = MakeTensor({1, 1}, {1});
    writer->Write(chunk);
    context.TryCancel();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // Nothing was committed, and the names are free again.
  v1::ListDatasetsResponse list;
  ASSERT_TRUE(stub_->ListDatasets(ContextWithDeadline().get(), {}, &list).ok());
  EXPECT_EQ(list.datasets_size(), 0);
  EXPECT_TRUE(UploadSeedDataset(stub_.get(), "ragged", 4, 4, &info).ok());
}

// An upload past --max_dataset_bytes is refused with the limit named, and
// leaves no dataset and no file.
TEST_F(ServiceTest, UploadOverTheByteLimitIsRefusedAndLeavesNothing) {
  registry::Limits limits;
  // The seed dataset's rows are 3 + 1 float32 (16 bytes), the trailer 40:
  // three rows fit, four do not.
  limits.max_dataset_bytes = 40 + 3 * 16;
  StartServer(limits);
  v1::DatasetInfo info;
  const grpc::Status status =
      UploadSeedDataset(stub_.get(), "too-big", 4, 1, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("--max_dataset_bytes"));
  EXPECT_THAT(status.error_message(), HasSubstr("dataset 'too-big'"));
  v1::ListDatasetsResponse list;
  ASSERT_TRUE(stub_->ListDatasets(ContextWithDeadline().get(), {}, &list).ok());
  EXPECT_EQ(list.datasets_size(), 0);
  EXPECT_THAT(testing::Names(dir_.path() + "/datasets"), ::testing::IsEmpty());
  EXPECT_TRUE(UploadSeedDataset(stub_.get(), "fits", 3, 1, &info).ok());
}

// An upload of more rows than --max_dataset_rows is refused with the limit
// named, and leaves no dataset and no file.
TEST_F(ServiceTest, UploadOverTheRowLimitIsRefusedAndLeavesNothing) {
  registry::Limits limits;
  limits.max_dataset_rows = 3;
  StartServer(limits);
  v1::DatasetInfo info;
  const grpc::Status status =
      UploadSeedDataset(stub_.get(), "too-long", 4, 2, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(),
              HasSubstr("dataset 'too-long' would have 4 rows, over the "
                        "server's limit of 3 (--max_dataset_rows)"));
  v1::ListDatasetsResponse list;
  ASSERT_TRUE(stub_->ListDatasets(ContextWithDeadline().get(), {}, &list).ok());
  EXPECT_EQ(list.datasets_size(), 0);
  EXPECT_THAT(testing::Names(dir_.path() + "/datasets"), ::testing::IsEmpty());
  ASSERT_TRUE(UploadSeedDataset(stub_.get(), "fits", 3, 2, &info).ok());
  EXPECT_EQ(info.rows(), 3u);
}

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// --keep_versions=2: after versions 1-4 only 3 and 4 are kept; older ones
// are NOT_FOUND everywhere a version is taken. created_at is the creation
// time and stays; updated_at is the latest commit's time.
TEST_F(ServiceTest, KeepVersionsPrunesAndTimestampsFollowTheCommits) {
  registry::Limits limits;
  limits.keep_versions = 2;
  StartServer(limits);
  const absl::Time before_create = absl::Now();
  v1::ModelInfo created;
  ASSERT_TRUE(Create("kept", SeedSpec(1), &created).ok());
  const absl::Time after_create = absl::Now();
  EXPECT_GE(TimeOf(created.created_at()), before_create);
  EXPECT_LE(TimeOf(created.created_at()), after_create);
  EXPECT_EQ(TimeOf(created.updated_at()), TimeOf(created.created_at()));
  EXPECT_THAT(created.available_versions(), ::testing::ElementsAre(1));

  absl::Time before_last, after_last;
  for (uint64_t version = 2; version <= 4; ++version) {
    before_last = absl::Now();
    std::vector<v1::TrainProgress> messages;
    ASSERT_TRUE(TrainAll(SeedTrainRequest("kept", 3), &messages).ok());
    after_last = absl::Now();
    ASSERT_EQ(messages.back().version(), version);
  }

  v1::ModelInfo info;
  ASSERT_TRUE(GetModel("kept", &info).ok());
  EXPECT_EQ(info.version(), 4u);
  EXPECT_THAT(info.available_versions(), ::testing::ElementsAre(3, 4));
  EXPECT_EQ(TimeOf(info.created_at()), TimeOf(created.created_at()));
  EXPECT_GE(TimeOf(info.updated_at()), before_last);
  EXPECT_LE(TimeOf(info.updated_at()), after_last);
  EXPECT_GT(TimeOf(info.updated_at()), TimeOf(info.created_at()));
  v1::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(ContextWithDeadline().get(), {}, &list).ok());
  ASSERT_EQ(list.models_size(), 1);
  EXPECT_THAT(list.models(0).available_versions(),
              ::testing::ElementsAre(3, 4));
  EXPECT_EQ(TimeOf(list.models(0).updated_at()), TimeOf(info.updated_at()));

  for (uint64_t pruned : {1, 2}) {
    SCOPED_TRACE(pruned);
    v1::GetWeightsResponse weights;
    grpc::Status status = GetWeights("kept", pruned, &weights);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(status.error_message(),
                HasSubstr("has no version " + std::to_string(pruned)));
    v1::PredictResponse response;
    EXPECT_EQ(Predict("kept", {1, 1, 1}, 1, &response, pruned).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  for (uint64_t kept : {3, 4}) {
    v1::GetWeightsResponse weights;
    ASSERT_TRUE(GetWeights("kept", kept, &weights).ok());
    EXPECT_EQ(weights.version(), kept);
  }
  EXPECT_THAT(
      testing::Names(dir_.path() + "/models/kept"),
      ::testing::ElementsAre("model.meta", "v000003.ver", "v000004.ver"));
}

TEST_F(ServiceTest, TokenIsRequiredWhenConfigured) {
  StartServer({}, 64 << 20, "s3cret-token");
  auto call = [&](const std::string& authorization) {
    auto context = ContextWithDeadline();
    if (!authorization.empty()) {
      context->AddMetadata("authorization", authorization);
    }
    v1::ListModelsResponse list;
    return stub_->ListModels(context.get(), {}, &list);
  };
  grpc::Status missing = call("");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(missing.error_message(), HasSubstr("Bearer"));
  EXPECT_EQ(call("Basic s3cret-token").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("Bearer wrong").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(call("Bearer s3cret-toke").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(call("Bearer s3cret-token").ok());

  // Streams are guarded too, and refused before they change anything.
  std::vector<v1::TrainProgress> messages;
  EXPECT_EQ(TrainAll(SeedTrainRequest("m"), &messages).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::DatasetInfo info;
  EXPECT_EQ(UploadSeedDataset(stub_.get(), "d", 4, 4, &info).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // Health stays open for orchestrators.
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(
      health->Check(ContextWithDeadline().get(), request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

// Least privilege: a reader may predict and read, a trainer may also create,
// train and upload, only an admin may delete; a refused call changes nothing.
TEST_F(ServiceTest, RolesLimitWhatATokenMayDo) {
  StartServer({}, 64 << 20,
              "root-t admin\nci-t trainer\n# dashboards\nview-t reader\n");
  auto as = [](const std::string& token) {
    auto context = ContextWithDeadline();
    context->AddMetadata("authorization", "Bearer " + token);
    return context;
  };
  v1::CreateModelRequest create;
  create.set_name("m");
  *create.mutable_spec() = SeedSpec(1);
  v1::ModelInfo info;
  grpc::Status status = stub_->CreateModel(as("view-t").get(), create, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(),
              HasSubstr("role is reader; CreateModel needs trainer"));
  ASSERT_TRUE(stub_->CreateModel(as("ci-t").get(), create, &info).ok());

  // The trainer trains; the reader predicts and reads, but cannot train.
  auto train = [&](const std::string& token) {
    auto context = as(token);
    auto reader = stub_->Train(context.get(), SeedTrainRequest("m", 3));
    v1::TrainProgress progress;
    while (reader->Read(&progress)) {
    }
    return reader->Finish();
  };
  EXPECT_EQ(train("view-t").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(train("ci-t").ok());
  v1::PredictRequest predict;
  predict.set_model("m");
  *predict.mutable_inputs() = MakeTensor({4, 3}, testing::kSeedInputs);
  v1::PredictResponse outputs;
  EXPECT_TRUE(stub_->Predict(as("view-t").get(), predict, &outputs).ok());
  v1::ListModelsResponse list;
  EXPECT_TRUE(stub_->ListModels(as("view-t").get(), {}, &list).ok());

  // Only the admin deletes; the refused deletes left the model in place.
  v1::DeleteModelRequest del;
  del.set_name("m");
  v1::DeleteModelResponse deleted;
  for (const char* token : {"view-t", "ci-t"}) {
    EXPECT_EQ(stub_->DeleteModel(as(token).get(), del, &deleted).error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << token;
  }
  v1::GetModelRequest get;
  get.set_name("m");
  ASSERT_TRUE(stub_->GetModel(as("view-t").get(), get, &info).ok());
  EXPECT_EQ(info.version(), 2u);
  EXPECT_TRUE(stub_->DeleteModel(as("root-t").get(), del, &deleted).ok());
  EXPECT_EQ(stub_->DeleteModel(as("nobody").get(), del, &deleted).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(ServiceTest, HealthReportsServing) {
  auto channel =
      grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const std::string service : {"", "mlp.v1.ModelService"}) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(
        health->Check(ContextWithDeadline().get(), request, &response).ok());
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::SERVING);
  }
}

}  // namespace
}  // namespace mlp
