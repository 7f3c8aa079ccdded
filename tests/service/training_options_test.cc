// OptionsFromProto: the API's defaults for zero fields, and a named error for
// every value the engine would refuse.
#include "server/service/training_options.h"

#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace mlp::service {
namespace {

using ::mlp::testing::IsOk;
using ::mlp::testing::StatusIs;
using ::testing::HasSubstr;

TEST(TrainingOptionsTest, ZeroFieldsGetTheApiDefaults) {
  absl::StatusOr<engine::TrainOptions> o = OptionsFromProto({});
  ASSERT_THAT(o, IsOk());
  // The API's words (API.md): SGD, learning_rate 0.01, batch_size 32,
  // max_epochs 10, report_every 1, momentum 0.9; the rest off.
  EXPECT_EQ(o->optimizer, engine::Optimizer::kSgd);
  EXPECT_EQ(o->learning_rate, 0.01f);
  EXPECT_EQ(o->batch_size, 32);
  EXPECT_EQ(o->max_epochs, 10);
  EXPECT_EQ(o->report_every, 1);
  EXPECT_EQ(o->momentum, 0.9f);
  EXPECT_EQ(o->target_loss, 0.0f);
  EXPECT_EQ(o->validation_fraction, 0.0f);
  EXPECT_EQ(o->early_stopping_patience, 0);
  EXPECT_EQ(o->l2, 0.0f);
  EXPECT_FALSE(o->shuffle);
  // Seed 0 = pick one; the pick is never 0 (which would mean "pick" again).
  EXPECT_NE(o->seed, 0u);
}

TEST(TrainingOptionsTest, SetFieldsAreKept) {
  v1::TrainOptions in;
  in.set_optimizer(v1::ADAM);
  in.set_learning_rate(0.5f);
  in.set_batch_size(1);
  in.set_max_epochs(300);
  in.set_report_every(7);
  in.set_momentum(0.5f);
  in.set_seed(42);
  in.set_shuffle(true);
  in.set_validation_fraction(0.25f);
  in.set_early_stopping_patience(3);
  in.set_l2(0.001f);
  in.set_target_loss(0.01f);
  absl::StatusOr<engine::TrainOptions> o = OptionsFromProto(in);
  ASSERT_THAT(o, IsOk());
  EXPECT_EQ(o->optimizer, engine::Optimizer::kAdam);
  EXPECT_EQ(o->learning_rate, 0.5f);
  EXPECT_EQ(o->batch_size, 1);
  EXPECT_EQ(o->max_epochs, 300);
  EXPECT_EQ(o->report_every, 7);
  EXPECT_EQ(o->momentum, 0.5f);
  EXPECT_EQ(o->seed, 42u);
  EXPECT_TRUE(o->shuffle);
  EXPECT_EQ(o->validation_fraction, 0.25f);
  EXPECT_EQ(o->early_stopping_patience, 3);
  EXPECT_EQ(o->l2, 0.001f);
  EXPECT_EQ(o->target_loss, 0.01f);
}

TEST(TrainingOptionsTest, BadValuesNameTheirField) {
  v1::TrainOptions unknown;
  unknown.set_optimizer(static_cast<v1::Optimizer>(99));
  EXPECT_THAT(OptionsFromProto(unknown),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("options.optimizer")));
  v1::TrainOptions huge;
  huge.set_batch_size(std::numeric_limits<uint32_t>::max());
  EXPECT_THAT(
      OptionsFromProto(huge),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("batch_size")));
  v1::TrainOptions negative;
  negative.set_learning_rate(-1.0f);
  EXPECT_THAT(
      OptionsFromProto(negative),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("learning_rate")));
  v1::TrainOptions split;
  split.set_validation_fraction(1.0f);
  EXPECT_THAT(OptionsFromProto(split),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("validation_fraction")));
}

}  // namespace
}  // namespace mlp::service
