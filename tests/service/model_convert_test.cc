// Model messages <-> engine specs: every field survives the round trip, and
// a bad field is refused by name.
#include "server/service/model_convert.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/api.h"
#include "tests/testing/status_matchers.h"

namespace mlp::service {
namespace {

using ::mlp::testing::IsOk;
using ::mlp::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::ModelSpec Classifier() {
  v1::ModelSpec spec;
  spec.set_input_size(4);
  v1::LayerSpec* hidden = spec.add_layers();
  hidden->set_units(5);
  hidden->set_activation(v1::TANH);
  v1::LayerSpec* out = spec.add_layers();
  out->set_units(3);
  out->set_activation(v1::SOFTMAX);
  spec.set_loss(v1::CROSS_ENTROPY);
  spec.set_init(v1::XAVIER_UNIFORM);
  spec.set_seed(11);
  return spec;
}

TEST(ModelConvertTest, SpecRoundTrips) {
  absl::StatusOr<engine::NetworkSpec> spec = SpecFromProto(Classifier());
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->input_size, 4);
  ASSERT_EQ(spec->layers.size(), 2u);
  EXPECT_EQ(spec->layers[1].activation, engine::Activation::kSoftmax);
  EXPECT_EQ(spec->loss, engine::Loss::kCrossEntropy);
  EXPECT_TRUE(spec->bias);  // unset means true
  EXPECT_EQ(spec->init, engine::Init::kXavierUniform);
  EXPECT_EQ(spec->seed, 11u);
  v1::ModelSpec back = SpecToProto(*spec);
  v1::ModelSpec expected = Classifier();
  expected.set_bias(true);
  EXPECT_EQ(back.SerializeAsString(), expected.SerializeAsString());
}

TEST(ModelConvertTest, BadSpecFieldsAreNamed) {
  v1::ModelSpec no_input = Classifier();
  no_input.set_input_size(0);
  EXPECT_THAT(SpecFromProto(no_input),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("spec.input_size must be in [1, ")));
  v1::ModelSpec bad_units = Classifier();
  bad_units.mutable_layers(1)->set_units(0);
  EXPECT_THAT(SpecFromProto(bad_units),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("spec.layers[1].units")));
  v1::ModelSpec bad_activation = Classifier();
  bad_activation.mutable_layers(0)->set_activation(
      static_cast<v1::Activation>(42));
  EXPECT_THAT(SpecFromProto(bad_activation),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("spec.layers[0].activation")));
  v1::ModelSpec no_layers = Classifier();
  no_layers.clear_layers();
  EXPECT_THAT(SpecFromProto(no_layers),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("spec.layers must have 1 to")));
  v1::ModelSpec bad_loss = Classifier();
  bad_loss.set_loss(v1::LOSS_UNSPECIFIED);
  EXPECT_THAT(
      SpecFromProto(bad_loss),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("spec.loss")));
}

TEST(ModelConvertTest, WeightsAreInputsByUnitsRowMajor) {
  absl::StatusOr<engine::NetworkSpec> spec = SpecFromProto(Classifier());
  ASSERT_THAT(spec, IsOk());
  absl::StatusOr<engine::Network> network = engine::Network::Create(*spec);
  ASSERT_THAT(network, IsOk());
  v1::GetWeightsResponse out;
  LayersToProto(*network, &out);
  ASSERT_EQ(out.layers_size(), 2);
  EXPECT_THAT(out.layers(0).weights().shape(), ElementsAre(4, 5));
  EXPECT_THAT(out.layers(0).bias().shape(), ElementsAre(5));
  EXPECT_EQ(out.layers(1).activation(), v1::SOFTMAX);
  // Row i, column j of the API's [inputs, units] matrix is the weight from
  // input i to unit j.
  const engine::Matrix& w = network->layers()[0].weights;  // [units x inputs]
  EXPECT_EQ(out.layers(0).weights().values(2 * 5 + 3), w(3, 2));
}

TEST(ModelConvertTest, SnapshotCarriesVersionsAndLastTraining) {
  registry::ModelSnapshot snapshot;
  snapshot.name = "m";
  absl::StatusOr<engine::NetworkSpec> spec = SpecFromProto(Classifier());
  ASSERT_THAT(spec, IsOk());
  snapshot.spec = *spec;
  snapshot.version = 3;
  snapshot.available_versions = {2, 3};
  snapshot.training = true;
  snapshot.created_at = absl::FromUnixSeconds(100);
  snapshot.updated_at = absl::FromUnixMillis(200'500);
  snapshot.last_training =
      registry::TrainingSummary{7, 0.25, engine::StopReason::kEarlyStopping};
  v1::ModelInfo info;
  SnapshotToProto(snapshot, &info);
  EXPECT_EQ(info.name(), "m");
  EXPECT_EQ(info.version(), 3u);
  EXPECT_THAT(info.available_versions(), ElementsAre(2, 3));
  EXPECT_EQ(info.state(), v1::TRAINING);
  EXPECT_EQ(info.parameter_count(), 4u * 5 + 5 + 5 * 3 + 3);
  EXPECT_EQ(info.created_at().seconds(), 100);
  EXPECT_EQ(info.updated_at().seconds(), 200);
  EXPECT_EQ(info.updated_at().nanos(), 500'000'000);
  EXPECT_EQ(info.last_training().epochs(), 7u);
  EXPECT_EQ(info.last_training().stop_reason(), v1::EARLY_STOPPING);
}

}  // namespace
}  // namespace mlp::service
