// The Predict path: a committed network's forward pass written straight into
// the response.
#ifndef MLP_SERVER_SERVICE_PREDICT_H_
#define MLP_SERVER_SERVICE_PREDICT_H_

#include <Eigen/Core>
#include <functional>

#include "absl/status/status.h"
#include "mlp/v1/mlp.pb.h"
#include "server/engine/network.h"

namespace mlp::service {

// The forward pass of `inputs` ([F x N]) written into `outputs` as a
// [N, outputs] tensor. Runs in slices of columns so that intermediate results
// stay small (about kPredictSliceValues floats) whatever N is. Before each
// slice after the first it asks `keep_going` (may be null): a non-OK status
// (the call's deadline passed, the caller cancelled) stops the work and is
// returned, so an abandoned large Predict stops burning the CPU.
inline constexpr int64_t kPredictSliceValues = int64_t{1} << 20;
absl::Status PredictInto(const engine::Network& network,
                         const Eigen::Ref<const engine::Matrix>& inputs,
                         v1::Tensor* outputs,
                         const std::function<absl::Status()>& keep_going = {});

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_PREDICT_H_
