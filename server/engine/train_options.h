// The value types of a training: its options (TrainOptions), the rows it
// trains on (Dataset) and the figures it reports (EpochStats, TrainResult).
// The epoch loop that uses them is RunEpochs (epoch_loop.h); one optimiser
// step is BatchStepper::Step (batch_stepper.h).
#ifndef MLP_SERVER_ENGINE_TRAIN_OPTIONS_H_
#define MLP_SERVER_ENGINE_TRAIN_OPTIONS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/engine/network.h"

namespace mlp::engine {

enum class Optimizer { kSgd, kMomentum, kAdam };
enum class StopReason {
  kMaxEpochs,
  kTargetLoss,
  kEarlyStopping,
  kCancelled,
  kDiverged,
};

absl::string_view OptimizerName(Optimizer optimizer);

// Training rows as the epoch loop takes them (a stored dataset, loaded).
struct Dataset {
  Matrix inputs;   // [input_size x N]
  Matrix targets;  // [target_size x N]
};

struct TrainOptions {
  Optimizer optimizer = Optimizer::kSgd;
  float learning_rate = 0.01f;       // > 0
  int batch_size = 32;               // >= 1; 1 = online SGD
  int max_epochs = 10;               // >= 1
  float target_loss = 0.0f;          // stop at epoch loss <= this; <= 0 = off
  bool shuffle = false;              // reshuffle the rows every epoch
  uint64_t seed = 1;                 // shuffling and validation split
  float validation_fraction = 0.0f;  // [0, 1)
  int early_stopping_patience = 0;   // epochs without improvement; 0 = off
  float l2 = 0.0f;                   // weight decay on weights (not biases)
  int report_every = 1;              // callback every this many epochs
  float momentum = 0.9f;             // kMomentum
  float adam_beta1 = 0.9f;
  float adam_beta2 = 0.999f;
  float adam_epsilon = 1e-8f;
};

// OK, or INVALID_ARGUMENT naming the option and its bad value.
absl::Status ValidateOptions(const TrainOptions& options);

// Figures of one epoch, as streamed to callers.
struct EpochStats {
  int epoch = 0;          // 1-based
  double loss = 0.0;      // mean per-sample training loss
  double accuracy = 0.0;  // classification losses only
  bool has_accuracy = false;
  double validation_loss = 0.0;
  double validation_accuracy = 0.0;
  bool has_validation = false;
  int64_t samples = 0;              // training samples of this epoch
  double samples_per_second = 0.0;  // training samples of this epoch
  double elapsed_seconds = 0.0;     // since RunEpochs started
  // True when no epoch follows this one (max_epochs, target loss, early
  // stopping or divergence decided after this epoch). The service sends this
  // epoch's message as the stream's last, `done` one.
  bool final = false;
  // On the final figures: the epochs that ran. After early stopping the
  // final figures (epoch, losses, accuracies) are those of the best epoch,
  // whose weights are the ones kept, so epochs_run > epoch there.
  int epochs_run = 0;
};

struct TrainResult {
  int epochs = 0;           // epochs completed
  double final_loss = 0.0;  // loss of the kept weights' epoch (see `last`)
  StopReason stop_reason = StopReason::kMaxEpochs;
  // Figures of the last completed epoch, or of the best one after early
  // stopping (the weights kept).
  EpochStats last;
};

}  // namespace mlp::engine

#endif  // MLP_SERVER_ENGINE_TRAIN_OPTIONS_H_
