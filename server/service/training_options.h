// The API's training options (mlp.v1.TrainOptions) as the engine's, with the
// API's defaults for fields left at zero. The defaults are the API's
// (API.md, mlp.proto), named here; the engine's own struct defaults play no
// part in what a caller gets.
#ifndef MLP_SERVER_SERVICE_TRAINING_OPTIONS_H_
#define MLP_SERVER_SERVICE_TRAINING_OPTIONS_H_

#include "absl/status/statusor.h"
#include "mlp/v1/mlp.pb.h"
#include "server/engine/train_options.h"

namespace mlp::service {

// What a zero field of TrainOptions means. target_loss, validation_fraction,
// early_stopping_patience and l2 are off at zero; a zero seed is replaced by
// a random non-zero one.
inline constexpr engine::Optimizer kDefaultOptimizer = engine::Optimizer::kSgd;
inline constexpr float kDefaultLearningRate = 0.01f;
inline constexpr int kDefaultBatchSize = 32;
inline constexpr int kDefaultMaxEpochs = 10;
inline constexpr int kDefaultReportEvery = 1;
inline constexpr float kDefaultMomentum = 0.9f;

// The engine's options for `options`, defaults applied, validated
// (engine::ValidateOptions). INVALID_ARGUMENT names the field.
absl::StatusOr<engine::TrainOptions> OptionsFromProto(
    const v1::TrainOptions& options);

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_TRAINING_OPTIONS_H_
