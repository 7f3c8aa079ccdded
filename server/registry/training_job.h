// One training of one model, below the wire. A front end (the gRPC Train
// stream today) describes the training, starts it with TrainingJob::Begin on
// its own thread, runs TrainingJob::Run on a training thread and relays the
// progress; the job decides everything else: which rows it trains on, the
// network it starts from, the engine's epoch loop, and whether the result is
// committed as the model's next version.
//
// Cancellation: two signals stop a training within one batch. The caller's
// (`caller_cancelled`, e.g. the client went away) makes Run return CANCELLED
// and commits nothing, even when it lands while the version is being
// written. The model's (cancel_signal(): the model was deleted or the server is
// stopping) makes Run return an outcome with `cancelled` set and nothing
// committed.
//
// Thread-safety: Begin and Run may run on different threads, one after the
// other; Run once. The job must not outlive the registry.
#ifndef MLP_SERVER_REGISTRY_TRAINING_JOB_H_
#define MLP_SERVER_REGISTRY_TRAINING_JOB_H_

#include <Eigen/Core>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/common/cancel_signal.h"
#include "server/engine/network.h"
#include "server/engine/train_options.h"
#include "server/registry/registry.h"

namespace mlp::registry {

// A read-only view of caller-owned values as an engine matrix, one sample per
// column.
using MatrixView = Eigen::Map<const engine::Matrix>;

struct TrainingSpec {
  std::string model;
  // The rows: `inputs` and `targets` (already checked against the model by
  // the front end, which names its own fields in errors; they must stay
  // valid until Run returns), or else the stored dataset named `dataset`.
  std::optional<MatrixView> inputs;   // [input_size x N]
  std::optional<MatrixView> targets;  // [outputs x N], or [1 x N] indices
  std::string dataset;
  engine::TrainOptions options;  // validated
  bool reinitialize = false;     // start from fresh weights, not the latest
  // RESOURCE_EXHAUSTED when one batch needs more floats of buffers.
  int64_t max_batch_values = 0;
};

struct TrainingOutcome {
  engine::EpochStats final_stats;  // the last epoch's figures
  engine::StopReason stop_reason = engine::StopReason::kMaxEpochs;
  // The model was deleted, or the server is stopping: nothing committed.
  bool cancelled = false;
  uint64_t version = 0;  // the committed version; 0 when cancelled
};

class TrainingJob {
 public:
  // Called with each epoch's figures except the last one's, which Run
  // returns in the outcome. May block (a slow reader): the training waits.
  using ProgressFn = std::function<void(const engine::EpochStats&)>;

  // Checks what can be checked before the training runs and takes the
  // model's training lease. NOT_FOUND (model, dataset); INVALID_ARGUMENT (a
  // dataset that does not suit the model, no data); RESOURCE_EXHAUSTED (a
  // batch over max_batch_values, too many trainings); FAILED_PRECONDITION
  // (already training); UNAVAILABLE (shutting down).
  static absl::StatusOr<std::unique_ptr<TrainingJob>> Begin(Registry* registry,
                                                            TrainingSpec spec);

  ~TrainingJob();
  TrainingJob(const TrainingJob&) = delete;
  TrainingJob& operator=(const TrainingJob&) = delete;

  // Loads the data, trains, commits; releases the model (READY again)
  // before it returns. CANCELLED when `caller_cancelled` (may be null) was
  // set; RESOURCE_EXHAUSTED when memory ran out; the store's errors.
  absl::StatusOr<TrainingOutcome> Run(
      const ProgressFn& on_progress, const std::atomic<bool>* caller_cancelled);

  // Set when the model is deleted or the server stops; valid for the job's
  // whole life (also after Run released the model).
  const std::shared_ptr<common::CancelSignal>& cancel_signal() const {
    return cancel_;
  }

 private:
  TrainingJob(Registry* registry, TrainingSpec spec,
              std::unique_ptr<TrainingLease> lease);
  absl::StatusOr<TrainingOutcome> TrainAndCommit(
      const ProgressFn& on_progress, const std::atomic<bool>* caller_cancelled);

  Registry* const registry_;
  TrainingSpec spec_;
  std::unique_ptr<TrainingLease> lease_;
  const std::shared_ptr<common::CancelSignal> cancel_;
  std::shared_ptr<const engine::Dataset> dataset_;  // held while training
};

// Whether a dataset's target width suits a model: `outputs` values per row,
// or 1 (class index) for CROSS_ENTROPY. INVALID_ARGUMENT otherwise.
absl::Status CheckDatasetFits(const DatasetInfo& dataset,
                              const engine::NetworkSpec& spec);

// RESOURCE_EXHAUSTED if a training batch of `batch_rows` rows needs more
// than `max_values` floats of buffers for this network.
absl::Status CheckTrainingFits(const engine::NetworkSpec& spec,
                               int64_t batch_rows, int64_t max_values);

}  // namespace mlp::registry

#endif  // MLP_SERVER_REGISTRY_TRAINING_JOB_H_
