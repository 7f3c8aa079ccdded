#include "server/service/predict.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "base/status_macros.h"

namespace mlp::service {

absl::Status PredictRows(const engine::Network& network,
                         const Eigen::Ref<const engine::Matrix>& inputs,
                         float* out, const KeepGoing& keep_going) {
  int64_t width = network.input_size();
  for (const engine::LayerSpec& layer : network.spec().layers) {
    width = std::max<int64_t>(width, layer.units);
  }
  const int64_t slice = std::max<int64_t>(1, kPredictSliceValues / width);
  const int64_t n = inputs.cols();
  const int64_t k = network.output_size();
  for (int64_t begin = 0; begin < n; begin += slice) {
    if (begin > 0 && keep_going) MLP_RETURN_IF_ERROR(keep_going());
    const int64_t count = std::min(slice, n - begin);
    // [k x count], column-major: the rows [begin, begin + count) of the
    // row-major [n, k] answer.
    MLP_ASSIGN_OR_RETURN(engine::Matrix y,
                         network.Predict(inputs.middleCols(begin, count)));
    std::memcpy(out + begin * k, y.data(), sizeof(float) * y.size());
  }
  return absl::OkStatus();
}

absl::Status PredictInto(const engine::Network& network,
                         const Eigen::Ref<const engine::Matrix>& inputs,
                         v1::Tensor* outputs, const KeepGoing& keep_going) {
  const int64_t n = inputs.cols();
  const int64_t k = network.output_size();
  outputs->add_shape(n);
  outputs->add_shape(k);
  outputs->mutable_values()->Resize(static_cast<int>(n * k), 0.0f);
  return PredictRows(network, inputs, outputs->mutable_values()->mutable_data(),
                     keep_going);
}

KeepGoing WhileTheCallerWaits(const grpc::ServerContextBase* context) {
  return [context]() -> absl::Status {
    if (context->IsCancelled()) {
      return absl::CancelledError("the caller cancelled the call");
    }
    if (std::chrono::system_clock::now() > context->deadline()) {
      return absl::DeadlineExceededError(
          "the call's deadline passed while predicting");
    }
    return absl::OkStatus();
  };
}

}  // namespace mlp::service
