// The Predict path, shared by mlp.v1 Predict and the Open Inference Protocol's
// ModelInfer: a committed network's forward pass written straight into the
// response's buffer.
#ifndef MLP_SERVER_SERVICE_PREDICT_H_
#define MLP_SERVER_SERVICE_PREDICT_H_

#include <grpcpp/server_context.h>

#include <Eigen/Core>
#include <functional>

#include "absl/status/status.h"
#include "mlp/v1/mlp.pb.h"
#include "server/engine/network.h"

namespace mlp::service {

// Asked between slices of a large forward pass: a non-OK status stops it.
using KeepGoing = std::function<absl::Status()>;

// The forward pass of `inputs` ([F x N]) written into `out` as N rows of
// network.output_size() floats (row-major [N, K], the same bytes as a
// column-major [K x N] matrix); `out` must hold N * K floats. Runs in slices
// of columns so that intermediate results stay small (about
// kPredictSliceValues floats) whatever N is. Before each slice after the
// first it asks `keep_going` (may be null): a non-OK status (the call's
// deadline passed, the caller cancelled) stops the work and is returned, so
// an abandoned large Predict stops burning the CPU.
inline constexpr int64_t kPredictSliceValues = int64_t{1} << 20;
absl::Status PredictRows(const engine::Network& network,
                         const Eigen::Ref<const engine::Matrix>& inputs,
                         float* out, const KeepGoing& keep_going = {});

// PredictRows into `outputs` as a [N, K] tensor.
absl::Status PredictInto(const engine::Network& network,
                         const Eigen::Ref<const engine::Matrix>& inputs,
                         v1::Tensor* outputs, const KeepGoing& keep_going = {});

// CANCELLED once the caller cancels `context`'s call, DEADLINE_EXCEEDED once
// its deadline has passed, OK before. `context` must outlive the result.
KeepGoing WhileTheCallerWaits(const grpc::ServerContextBase* context);

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_PREDICT_H_
