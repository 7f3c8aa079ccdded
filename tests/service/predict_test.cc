// PredictInto: the response holds the network's outputs row by row, whether
// the batch runs in one slice or many.
#include "server/service/predict.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace mlp::service {
namespace {

using ::mlp::testing::IsOk;

engine::Network Wide(int width, int outputs) {
  engine::NetworkSpec spec;
  spec.input_size = 3;
  spec.layers = {{width, engine::Activation::kTanh},
                 {outputs, engine::Activation::kLinear}};
  spec.seed = 7;
  absl::StatusOr<engine::Network> network = engine::Network::Create(spec);
  EXPECT_THAT(network, IsOk());
  return *std::move(network);
}

void ExpectSameAsPredict(const engine::Network& network, int64_t n) {
  const engine::Matrix inputs = engine::Matrix::Random(3, n);
  v1::Tensor out;
  ASSERT_THAT(PredictInto(network, inputs, &out), IsOk());
  ASSERT_EQ(out.shape_size(), 2);
  EXPECT_EQ(out.shape(0), n);
  EXPECT_EQ(out.shape(1), network.output_size());
  ASSERT_EQ(out.values_size(), n * network.output_size());
  // Row r of the response is sample r's outputs; each slice's columns are
  // compared with a forward pass over that sample alone.
  for (int64_t r : {int64_t{0}, n / 2, n - 1}) {
    absl::StatusOr<engine::Matrix> one = network.Predict(inputs.col(r));
    ASSERT_THAT(one, IsOk());
    for (int k = 0; k < network.output_size(); ++k) {
      EXPECT_NEAR(out.values(static_cast<int>(r * network.output_size() + k)),
                  (*one)(k, 0), 1e-5)
          << "row " << r << ", output " << k;
    }
  }
}

TEST(PredictTest, OneSlice) { ExpectSameAsPredict(Wide(8, 2), 5); }

TEST(PredictTest, ManySlices) {
  // 4096 units: a slice holds kPredictSliceValues / 4096 = 256 samples, so
  // 1000 samples run in 4 slices, the last one short.
  ExpectSameAsPredict(Wide(4096, 3), 1000);
}

// A large batch asks between slices whether to go on, and stops at the
// first "no" with that status: an expired or cancelled call stops working.
TEST(PredictTest, StopsBetweenSlicesWhenTold) {
  const engine::Network network = Wide(4096, 3);  // 256 samples a slice
  const engine::Matrix inputs = engine::Matrix::Random(3, 1000);
  int asked = 0;
  v1::Tensor out;
  const absl::Status status =
      PredictInto(network, inputs, &out, [&]() -> absl::Status {
        ++asked;
        if (asked == 2) return absl::DeadlineExceededError("deadline passed");
        return absl::OkStatus();
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(asked, 2);  // before slices 2 and 3; slice 4 never ran
  int calls = 0;
  v1::Tensor whole;
  ASSERT_THAT(PredictInto(network, inputs, &whole,
                          [&]() -> absl::Status {
                            ++calls;
                            return absl::OkStatus();
                          }),
              IsOk());
  EXPECT_EQ(calls, 3);  // asked before each slice after the first
}

}  // namespace
}  // namespace mlp::service
