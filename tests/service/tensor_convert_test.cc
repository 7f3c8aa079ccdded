// Request tensors as engine matrices: shapes and values checked by field
// name, the bytes viewed in place.
#include "server/service/tensor_convert.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/api.h"
#include "tests/testing/status_matchers.h"

namespace mlp::service {
namespace {

using ::mlp::testing::IsOk;
using ::mlp::testing::MakeTensor;
using ::mlp::testing::StatusIs;
using ::testing::HasSubstr;

TEST(TensorConvertTest, RowsBecomeColumnsWithoutACopy) {
  const v1::Tensor t = MakeTensor({2, 3}, {1, 2, 3, 4, 5, 6});
  absl::StatusOr<MatrixView> view = InputsView(t, "inputs", 3);
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->rows(), 3);
  EXPECT_EQ(view->cols(), 2);
  EXPECT_EQ(view->data(), t.values().data());
  EXPECT_EQ((*view)(2, 1), 6.0f);  // row 1, column 2 of the request
}

TEST(TensorConvertTest, InputErrorsNameFieldAndExpectation) {
  EXPECT_THAT(
      InputsView(MakeTensor({2, 4}, std::vector<float>(8)), "inputs", 3),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("inputs.shape[1] is 4, expected the model's "
                         "input_size 3")));
  EXPECT_THAT(InputsView(MakeTensor({6}, std::vector<float>(6)), "inputs", 3),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("inputs.shape must be [N, 3]")));
  EXPECT_THAT(
      InputsView(MakeTensor({0, 3}, {}), "inputs", 3),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must be >= 1")));
  EXPECT_THAT(
      InputsView(MakeTensor({2, 3}, {1, 2, 3}), "inputs", 3),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has 3 values")));
  EXPECT_THAT(
      InputsView(MakeTensor({1, 3}, {1, NAN, 3}), "inputs", 3),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("finite")));
  // An absurd shape is refused from its numbers, before any allocation.
  EXPECT_THAT(
      InputsView(MakeTensor({int64_t{1} << 40, 3}, {}), "inputs", 3),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has 0 values")));
}

TEST(TensorConvertTest, TargetsMayBeClassIndicesForCrossEntropy) {
  const v1::Tensor indices = MakeTensor({3}, {0, 2, 1});
  absl::StatusOr<MatrixView> view =
      TargetsView(indices, "targets", 3, 3, engine::Loss::kCrossEntropy);
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ(view->rows(), 1);
  EXPECT_EQ(view->cols(), 3);
  EXPECT_THAT(TargetsView(MakeTensor({3}, {0, 3, 1}), "targets", 3, 3,
                          engine::Loss::kCrossEntropy),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("whole numbers in [0, 3)")));
  EXPECT_THAT(TargetsView(indices, "targets", 3, 3, engine::Loss::kMse),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("targets.shape must be [3, 3]")));
  EXPECT_THAT(TargetsView(MakeTensor({2, 3}, std::vector<float>(6)), "targets",
                          3, 3, engine::Loss::kMse),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("rows must match the inputs")));
}

TEST(TensorConvertTest, MatrixToTensorIsRowMajorOfTheTranspose) {
  engine::Matrix m(2, 3);  // 2 outputs x 3 samples
  m << 1, 2, 3, 4, 5, 6;
  v1::Tensor t;
  MatrixToTensor(m, &t);
  EXPECT_THAT(t.shape(), ::testing::ElementsAre(3, 2));
  EXPECT_THAT(t.values(), ::testing::ElementsAre(1, 4, 2, 5, 3, 6));
}

}  // namespace
}  // namespace mlp::service
