#include "server/service/tensor_convert.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "server/service/status.h"

namespace mlp::service {
namespace {

std::string ShapeString(const v1::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.shape(), ", "), "]");
}

// Checks that `t` holds exactly rows * cols finite values.
absl::Status CheckValues(const v1::Tensor& t, absl::string_view field,
                         int64_t rows, int64_t cols) {
  const int64_t have = t.values_size();
  // rows, cols >= 1 here; compare without overflowing.
  if (rows > have / cols || rows * cols != have) {
    return InvalidField(
        field, absl::StrCat(" has ", have, " values, but shape ",
                            ShapeString(t), " needs ", rows, " x ", cols));
  }
  for (int64_t i = 0; i < have; ++i) {
    if (!std::isfinite(t.values(static_cast<int>(i)))) {
      return InvalidField(
          field, absl::StrCat(".values[", i, "] (row ", i / cols, ", column ",
                              i % cols, ") is ", t.values(static_cast<int>(i)),
                              "; values must be finite"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MatrixView> InputsView(const v1::Tensor& tensor,
                                      absl::string_view field,
                                      int64_t input_size,
                                      absl::string_view expected_name) {
  if (tensor.shape_size() != 2) {
    return InvalidField(field, absl::StrCat(".shape must be [N, ", input_size,
                                            "], got ", ShapeString(tensor)));
  }
  const int64_t rows = tensor.shape(0);
  const int64_t cols = tensor.shape(1);
  if (rows < 1) {
    return InvalidField(
        field, absl::StrCat(".shape[0] (rows) must be >= 1, got ", rows));
  }
  if (cols != input_size) {
    return InvalidField(
        field, absl::StrCat(".shape[1] is ", cols, ", expected ", expected_name,
                            " ", input_size));
  }
  MLP_RETURN_IF_ERROR(CheckValues(tensor, field, rows, cols));
  return MatrixView(tensor.values().data(), cols, rows);
}

absl::StatusOr<MatrixView> TargetsView(const v1::Tensor& tensor,
                                       absl::string_view field, int64_t rows,
                                       int64_t outputs, engine::Loss loss) {
  const bool indices_allowed =
      loss == engine::Loss::kCrossEntropy && outputs > 1;
  const bool as_indices =
      indices_allowed && (tensor.shape_size() == 1 ||
                          (tensor.shape_size() == 2 && tensor.shape(1) == 1));
  const int64_t cols = as_indices ? 1 : outputs;
  const bool shape_ok =
      as_indices || (tensor.shape_size() == 2 && tensor.shape(1) == outputs);
  if (!shape_ok || tensor.shape(0) != rows) {
    return InvalidField(
        field, absl::StrCat(".shape must be [", rows, ", ", outputs, "]",
                            indices_allowed
                                ? absl::StrCat(" or class indices [", rows, "]")
                                : "",
                            " (rows must match the inputs), got ",
                            ShapeString(tensor)));
  }
  MLP_RETURN_IF_ERROR(CheckValues(tensor, field, rows, cols));
  if (as_indices) {
    for (int i = 0; i < tensor.values_size(); ++i) {
      const float v = tensor.values(i);
      if (v != std::floor(v) || v < 0 || v >= static_cast<float>(outputs)) {
        return InvalidField(field, absl::StrCat(".values[", i, "] is ", v,
                                                "; class indices must be whole "
                                                "numbers in [0, ",
                                                outputs, ")"));
      }
    }
  }
  return MatrixView(tensor.values().data(), cols, rows);
}

void MatrixToTensor(const engine::Matrix& m, v1::Tensor* tensor) {
  tensor->add_shape(m.cols());
  tensor->add_shape(m.rows());
  tensor->mutable_values()->Resize(static_cast<int>(m.size()), 0.0f);
  std::copy_n(m.data(), m.size(), tensor->mutable_values()->mutable_data());
}

}  // namespace mlp::service
