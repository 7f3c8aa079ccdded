// Conversions between the public API (mlp.v1 protos) and the engine /
// registry types, with the validation that belongs at the boundary.
//
// Every validation error is INVALID_ARGUMENT and names the request field and
// the expected vs actual value, e.g.
//   "inputs.shape[1] is 4, expected the model's input_size 3".
// Tensor checks run on the shape before anything is allocated, so an absurd
// shape (2^40 elements) costs nothing.
#ifndef MLP_SERVER_SERVICE_CONVERT_H_
#define MLP_SERVER_SERVICE_CONVERT_H_

#include <Eigen/Core>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "mlp/v1/mlp.pb.h"
#include "server/engine/network.h"
#include "server/engine/train_options.h"
#include "server/registry/registry.h"
#include "server/registry/training_job.h"
#include "server/store/dataset_store.h"

namespace mlp::service {

// A read-only view of request values as an engine matrix, one sample per
// column. Points into the request: valid while the request lives.
using MatrixView = registry::MatrixView;

absl::StatusOr<engine::NetworkSpec> SpecFromProto(const v1::ModelSpec& spec);
v1::ModelSpec SpecToProto(const engine::NetworkSpec& spec);

// Applies the API's defaults to zero fields and validates the result.
absl::StatusOr<engine::TrainOptions> OptionsFromProto(
    const v1::TrainOptions& options);

v1::StopReason StopReasonToProto(engine::StopReason reason);

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

// RESOURCE_EXHAUSTED naming `what` if a response carrying `values` floats
// would exceed `max_message_bytes`.
absl::Status CheckResponseFits(absl::string_view what, int64_t values,
                               int64_t max_message_bytes);

// The forward pass of `inputs` ([F x N]) written straight into `outputs` as
// a [N, outputs] tensor. Runs in slices of columns so that intermediate
// results stay small whatever N is.
absl::Status PredictInto(const engine::Network& network,
                         const Eigen::Ref<const engine::Matrix>& inputs,
                         v1::Tensor* outputs);

// [rows x cols] row-major tensor from a column-major [cols x rows] matrix
// (the same bytes).
void MatrixToTensor(const engine::Matrix& m, v1::Tensor* tensor);

void SnapshotToProto(const registry::ModelSnapshot& snapshot,
                     v1::ModelInfo* info);
void DatasetToProto(const store::DatasetMeta& meta, v1::DatasetInfo* info);
void LayersToProto(const engine::Network& network, v1::GetWeightsResponse* out);

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_CONVERT_H_
