// Request tensors as engine matrices and engine matrices as response tensors,
// without copying where the bytes already agree: a row-major [N, F] tensor is
// byte for byte a column-major F x N matrix (one sample per column).
//
// Every validation error is INVALID_ARGUMENT and names the request field and
// the expected vs actual value, e.g.
//   "inputs.shape[1] is 4, expected the model's input_size 3".
// The shape is checked before anything is allocated, so an absurd shape
// (2^40 elements) costs nothing.
#ifndef MLP_SERVER_SERVICE_TENSOR_CONVERT_H_
#define MLP_SERVER_SERVICE_TENSOR_CONVERT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "mlp/v1/mlp.pb.h"
#include "server/engine/network.h"
#include "server/registry/training_job.h"

namespace mlp::service {

// A read-only view of request values as an engine matrix, one sample per
// column. Points into the request: valid while the request lives.
using MatrixView = registry::MatrixView;

// Request rows [N, F] as an [F x N] view. F must equal `input_size` (called
// `expected_name` in messages), N >= 1, values finite and exactly N * F of
// them.
absl::StatusOr<MatrixView> InputsView(
    const v1::Tensor& tensor, absl::string_view field, int64_t input_size,
    absl::string_view expected_name = "the model's input_size");

// Training targets for a model with `outputs` outputs and loss `loss`, for
// `rows` samples: [N, outputs] as [outputs x N]; for CROSS_ENTROPY with more
// than one output also [N] or [N, 1] class indices as [1 x N] (whole numbers
// in [0, outputs)).
absl::StatusOr<MatrixView> TargetsView(const v1::Tensor& tensor,
                                       absl::string_view field, int64_t rows,
                                       int64_t outputs, engine::Loss loss);

// [rows x cols] row-major tensor from a column-major [cols x rows] matrix
// (the same bytes).
void MatrixToTensor(const engine::Matrix& m, v1::Tensor* tensor);

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_TENSOR_CONVERT_H_
