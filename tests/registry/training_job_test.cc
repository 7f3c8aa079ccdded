// The training job: checks before it runs, inline and stored data, progress,
// commit, and the two kinds of cancellation (no gRPC).
#include "server/registry/training_job.h"

#include <atomic>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/serialize.h"
#include "tests/testing/engine_specs.h"
#include "tests/testing/server_process.h"

namespace mlp::registry {
namespace {

using ::mlp::testing::SeedNetworkSpec;
using ::testing::HasSubstr;

// The tutorial's inputs and XNOR targets, one sample per column.
const float kInputs[] = {1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 1, 1};
const float kTargets[] = {1, 0, 1, 0};

class TrainingJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Registry>> r =
        Registry::Open(dir_.path(), Limits());
    ASSERT_TRUE(r.ok()) << r.status();
    registry_ = *std::move(r);
    ASSERT_TRUE(registry_->models().CreateModel("m", SeedNetworkSpec(5)).ok());
  }

  TrainingSpec Inline(int epochs) const {
    TrainingSpec spec;
    spec.model = "m";
    spec.inputs.emplace(kInputs, 3, 4);
    spec.targets.emplace(kTargets, 1, 4);
    spec.options.learning_rate = 0.1f;
    spec.options.batch_size = 1;
    spec.options.max_epochs = epochs;
    spec.max_batch_values = 1 << 20;
    return spec;
  }

  std::string LatestBytes() const {
    return engine::SerializeNetwork(
        *registry_->models().GetVersion("m", 0).value()->network);
  }

  testing::TempDir dir_;
  std::unique_ptr<Registry> registry_;
};

TEST_F(TrainingJobTest, TrainsReportsEveryEpochButTheLastAndCommits) {
  const std::string before = LatestBytes();
  absl::StatusOr<std::unique_ptr<TrainingJob>> job =
      TrainingJob::Begin(registry_.get(), Inline(20));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(registry_->models().GetModel("m")->training);
  std::vector<int> epochs;
  absl::StatusOr<TrainingOutcome> outcome = (*job)->Run(
      [&](const engine::EpochStats& s) { epochs.push_back(s.epoch); }, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(epochs.size(), 19u);
  EXPECT_EQ(epochs.front(), 1);
  EXPECT_EQ(outcome->final_stats.epoch, 20);
  EXPECT_TRUE(outcome->final_stats.final);
  EXPECT_EQ(outcome->stop_reason, engine::StopReason::kMaxEpochs);
  EXPECT_FALSE(outcome->cancelled);
  EXPECT_EQ(outcome->version, 2u);
  // Released before Run returned; the new version is the latest.
  const ModelSnapshot model = registry_->models().GetModel("m").value();
  EXPECT_FALSE(model.training);
  EXPECT_EQ(model.version, 2u);
  ASSERT_TRUE(model.last_training.has_value());
  EXPECT_EQ(model.last_training->epochs, 20u);
  EXPECT_NE(LatestBytes(), before);
}

TEST_F(TrainingJobTest, ReinitializeStartsFromFreshWeightsOfTheSameSeed) {
  // Train twice from the latest, then once reinitialized with as many
  // epochs as the first: the last equals the first.
  ASSERT_TRUE(TrainingJob::Begin(registry_.get(), Inline(5))
                  .value()
                  ->Run([](const engine::EpochStats&) {}, nullptr)
                  .ok());
  const std::string after_first = LatestBytes();
  ASSERT_TRUE(TrainingJob::Begin(registry_.get(), Inline(5))
                  .value()
                  ->Run([](const engine::EpochStats&) {}, nullptr)
                  .ok());
  EXPECT_NE(LatestBytes(), after_first);
  TrainingSpec again = Inline(5);
  again.reinitialize = true;
  absl::StatusOr<TrainingOutcome> outcome =
      TrainingJob::Begin(registry_.get(), again)
          .value()
          ->Run([](const engine::EpochStats&) {}, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->version, 4u);
  EXPECT_EQ(LatestBytes(), after_first);
}

TEST_F(TrainingJobTest, TrainsOnAStoredDataset) {
  std::unique_ptr<DatasetUpload> up =
      registry_->datasets().BeginUpload("xnor", 3, 1).value();
  ASSERT_TRUE(up->Append(kInputs, kTargets, 4).ok());
  ASSERT_TRUE(up->Commit().ok());
  up.reset();
  TrainingSpec spec = Inline(10);
  spec.inputs.reset();
  spec.targets.reset();
  spec.dataset = "xnor";
  // The same rows inline, on a second model with the same seed.
  ASSERT_TRUE(registry_->models().CreateModel("twin", SeedNetworkSpec(5)).ok());
  TrainingSpec twin = Inline(10);
  twin.model = "twin";
  for (TrainingSpec* s : {&spec, &twin}) {
    absl::StatusOr<std::unique_ptr<TrainingJob>> job =
        TrainingJob::Begin(registry_.get(), *s);
    ASSERT_TRUE(job.ok()) << job.status();
    ASSERT_TRUE((*job)->Run([](const engine::EpochStats&) {}, nullptr).ok());
  }
  EXPECT_EQ(engine::SerializeNetwork(
                *registry_->models().GetVersion("m", 0).value()->network),
            engine::SerializeNetwork(
                *registry_->models().GetVersion("twin", 0).value()->network));
}

TEST_F(TrainingJobTest, BeginChecksBeforeTakingTheModel) {
  TrainingSpec unknown = Inline(1);
  unknown.model = "nope";
  EXPECT_EQ(TrainingJob::Begin(registry_.get(), unknown).status().code(),
            absl::StatusCode::kNotFound);

  TrainingSpec no_dataset = Inline(1);
  no_dataset.inputs.reset();
  no_dataset.targets.reset();
  no_dataset.dataset = "missing";
  EXPECT_EQ(TrainingJob::Begin(registry_.get(), no_dataset).status().code(),
            absl::StatusCode::kNotFound);

  std::unique_ptr<DatasetUpload> up =
      registry_->datasets().BeginUpload("narrow", 2, 1).value();
  const float two[] = {1, 0};
  const float one[] = {1};
  ASSERT_TRUE(up->Append(two, one, 1).ok());
  ASSERT_TRUE(up->Commit().ok());
  up.reset();
  TrainingSpec narrow = no_dataset;
  narrow.dataset = "narrow";
  absl::Status status = TrainingJob::Begin(registry_.get(), narrow).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("dataset 'narrow' has 2 inputs per row, the model "
                        "expects 3"));

  TrainingSpec big = Inline(1);
  big.max_batch_values = 10;  // a batch of 1 row needs 3 + 4 * 5 values
  status = TrainingJob::Begin(registry_.get(), big).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("--max_batch_values"));

  // None of these took the model.
  EXPECT_FALSE(registry_->models().GetModel("m")->training);
  absl::StatusOr<std::unique_ptr<TrainingJob>> first =
      TrainingJob::Begin(registry_.get(), Inline(1));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(TrainingJob::Begin(registry_.get(), Inline(1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(TrainingJobTest, CallerCancelCommitsNothing) {
  const std::string before = LatestBytes();
  std::atomic<bool> caller_cancelled{false};
  absl::StatusOr<std::unique_ptr<TrainingJob>> job =
      TrainingJob::Begin(registry_.get(), Inline(1000));
  ASSERT_TRUE(job.ok());
  int reports = 0;
  absl::StatusOr<TrainingOutcome> outcome = (*job)->Run(
      [&](const engine::EpochStats&) {
        if (++reports == 3) caller_cancelled.store(true);
      },
      &caller_cancelled);
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(reports, 3);  // stopped within one batch of the cancel
  const ModelSnapshot model = registry_->models().GetModel("m").value();
  EXPECT_FALSE(model.training);
  EXPECT_EQ(model.version, 1u);
  EXPECT_EQ(LatestBytes(), before);
}

TEST_F(TrainingJobTest, ServerStopCancelsWithAnOutcomeAndCommitsNothing) {
  absl::StatusOr<std::unique_ptr<TrainingJob>> job =
      TrainingJob::Begin(registry_.get(), Inline(1000));
  ASSERT_TRUE(job.ok());
  EXPECT_FALSE((*job)->cancel_signal()->cancelled());
  absl::StatusOr<TrainingOutcome> outcome = (*job)->Run(
      [&](const engine::EpochStats& s) {
        if (s.epoch == 2) registry_->models().CancelAllTrainings();
      },
      nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->cancelled);
  EXPECT_EQ(outcome->version, 0u);
  EXPECT_LE(outcome->final_stats.epoch, 3);
  EXPECT_TRUE((*job)->cancel_signal()->cancelled());
  EXPECT_EQ(registry_->models().GetModel("m")->version, 1u);
}

}  // namespace
}  // namespace mlp::registry
