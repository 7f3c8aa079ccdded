// Metrics and the RequestLog that feeds it: what is counted, which labels
// appear, and the in-flight figure as calls come and go.
#include "server/service/metrics.h"

#include <memory>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/registry/registry.h"
#include "server/service/request_log.h"
#include "tests/testing/engine_specs.h"
#include "tests/testing/server_process.h"

namespace mlp::service {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = registry::Registry::Open(dir_.path(), registry::Limits());
    ASSERT_TRUE(opened.ok()) << opened.status();
    registry_ = *std::move(opened);
    metrics_.emplace(registry_.get());
  }

  std::string Scrape() { return metrics_->Scrape(); }
  // Series named after a model exist only while it does.
  void CreateModel(const std::string& name) {
    ASSERT_TRUE(registry_->models()
                    .CreateModel(name, testing::SeedNetworkSpec(1))
                    .ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<registry::Registry> registry_;
  std::optional<Metrics> metrics_;
};

TEST_F(MetricsTest, EveryEndedCallIsCountedByProtocolMethodAndCode) {
  CreateModel("m");
  RequestLog("Predict", "m", &*metrics_).Done(absl::OkStatus());
  RequestLog("Predict", "m", &*metrics_).Done(absl::OkStatus());
  RequestLog("HTTP ModelInfer", "m", &*metrics_)
      .Done(absl::InvalidArgumentError("bad"));
  const std::string text = Scrape();
  EXPECT_THAT(text, HasSubstr("mlp_requests_total{code=\"OK\",method="
                              "\"Predict\",protocol=\"grpc\"} 2"));
  EXPECT_THAT(text, HasSubstr("mlp_requests_total{code=\"INVALID_ARGUMENT\","
                              "method=\"ModelInfer\",protocol=\"http\"} 1"));
  EXPECT_THAT(text, HasSubstr("mlp_inference_duration_seconds_count{method="
                              "\"Predict\",model=\"m\",protocol=\"grpc\"} 2"));
}

TEST_F(MetricsTest, OnlyNamesOfCallsThatSucceededBecomeLabels) {
  // A caller can send any name; a failed call must not create a series.
  RequestLog("Predict", "made-up-name", &*metrics_)
      .Done(absl::NotFoundError("no such model"));
  RequestLog("GetModel", "another-name", &*metrics_).Done(absl::OkStatus());
  const std::string text = Scrape();
  EXPECT_THAT(text, Not(HasSubstr("made-up-name")));
  EXPECT_THAT(text, Not(HasSubstr("another-name")));  // not an inference
  EXPECT_THAT(text, HasSubstr("code=\"NOT_FOUND\",method=\"Predict\""));
}

TEST_F(MetricsTest, InFlightCountsACallUntilItsLastLogCopyGoes) {
  auto log = std::make_unique<RequestLog>("HTTP ModelInfer", "m", &*metrics_);
  EXPECT_THAT(Scrape(),
              HasSubstr("mlp_requests_in_flight{protocol=\"http\"} 1"));
  auto copy = std::make_unique<RequestLog>(*log);  // a reactor keeps one
  log.reset();
  EXPECT_THAT(Scrape(),
              HasSubstr("mlp_requests_in_flight{protocol=\"http\"} 1"));
  copy->Done(absl::OkStatus());
  copy.reset();
  EXPECT_THAT(Scrape(),
              HasSubstr("mlp_requests_in_flight{protocol=\"http\"} 0"));
  EXPECT_THAT(Scrape(),
              HasSubstr("mlp_requests_in_flight{protocol=\"grpc\"} 0"));
}

TEST_F(MetricsTest, EpochsAddUpAndTheLastLossIsKeptPerModel) {
  CreateModel("fashion");
  engine::EpochStats stats;
  stats.samples = 60000;
  stats.loss = 0.5;
  stats.samples_per_second = 1000;
  metrics_->EpochTrained("fashion", stats);
  stats.loss = 0.25;
  metrics_->EpochTrained("fashion", stats);
  const std::string text = Scrape();
  EXPECT_THAT(text, HasSubstr("mlp_training_epochs_total 2\n"));
  EXPECT_THAT(text, HasSubstr("mlp_training_samples_total 120000\n"));
  EXPECT_THAT(text, HasSubstr("mlp_training_last_loss{model=\"fashion\"} "
                              "0.25\n"));
  EXPECT_THAT(text, HasSubstr("mlp_build_info{revision="));
  EXPECT_THAT(text, HasSubstr("mlp_models 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter"));
}

TEST_F(MetricsTest, ADeletedModelsSeriesGoAtTheNextScrape) {
  // Models that come and go (a trainer's token can create and delete any
  // number) must not grow the figures without bound.
  CreateModel("gone");
  CreateModel("kept");
  engine::EpochStats stats;
  stats.samples = 4;
  stats.loss = 0.5;
  for (const char* model : {"gone", "kept"}) {
    RequestLog("Predict", model, &*metrics_).Done(absl::OkStatus());
    RequestLog("HTTP ModelInfer", model, &*metrics_).Done(absl::OkStatus());
    metrics_->EpochTrained(model, stats);
  }
  EXPECT_THAT(Scrape(), HasSubstr("model=\"gone\""));
  ASSERT_TRUE(registry_->models().DeleteModel("gone").ok());
  const std::string text = Scrape();
  EXPECT_THAT(text, Not(HasSubstr("\"gone\"")));
  EXPECT_THAT(text, HasSubstr("mlp_training_last_loss{model=\"kept\"} 0.5"));
  EXPECT_THAT(text, HasSubstr("mlp_inference_duration_seconds_count{method="
                              "\"ModelInfer\",model=\"kept\",protocol="
                              "\"http\"} 1"));
  // A model created again under the name starts new series.
  CreateModel("gone");
  RequestLog("Predict", "gone", &*metrics_).Done(absl::OkStatus());
  EXPECT_THAT(Scrape(), HasSubstr("mlp_inference_duration_seconds_count{method="
                                  "\"Predict\",model=\"gone\",protocol="
                                  "\"grpc\"} 1"));
}

}  // namespace
}  // namespace mlp::service
