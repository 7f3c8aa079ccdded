#include "server/registry/training_job.h"

#include <algorithm>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/engine/epoch_loop.h"

namespace mlp::registry {

absl::Status CheckDatasetFits(const DatasetInfo& dataset,
                              const engine::NetworkSpec& spec) {
  const int64_t outputs = spec.layers.back().units;
  if (dataset.input_size != static_cast<uint32_t>(spec.input_size)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset '", dataset.name, "' has ", dataset.input_size,
                     " inputs per row, the model expects ", spec.input_size));
  }
  const bool indices =
      spec.loss == engine::Loss::kCrossEntropy && dataset.target_size == 1;
  if (!indices && dataset.target_size != outputs) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset '", dataset.name, "' has ", dataset.target_size,
                     " targets per row, the model has ", outputs, " outputs"));
  }
  return absl::OkStatus();
}

absl::Status CheckTrainingFits(const engine::NetworkSpec& spec,
                               int64_t batch_rows, int64_t max_values) {
  int64_t per_row = spec.input_size;
  // Pre-activations, activations and deltas of every layer, and a spare.
  for (const engine::LayerSpec& layer : spec.layers) per_row += 4 * layer.units;
  // batch_rows <= rows of a validated request or dataset: no overflow.
  if (batch_rows > max_values / per_row) {
    return absl::ResourceExhaustedError(
        absl::StrCat("options.batch_size: a batch of ", batch_rows,
                     " rows needs ", batch_rows * per_row,
                     " values of buffers for this model, over the "
                     "server's limit of ",
                     max_values, " (--max_batch_values)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TrainingJob>> TrainingJob::Begin(
    Registry* registry, TrainingSpec spec) {
  MLP_ASSIGN_OR_RETURN(std::shared_ptr<const ModelVersion> latest,
                       registry->models().GetVersion(spec.model, 0));
  const engine::NetworkSpec& net = latest->network->spec();
  int64_t rows = 0;
  if (spec.inputs.has_value()) {
    if (!spec.targets.has_value()) {
      return absl::InvalidArgumentError("inputs without targets");
    }
    rows = spec.inputs->cols();
  } else {
    MLP_ASSIGN_OR_RETURN(DatasetInfo meta,
                         registry->datasets().GetDataset(spec.dataset));
    MLP_RETURN_IF_ERROR(CheckDatasetFits(meta, net));
    rows = static_cast<int64_t>(meta.rows);
  }
  MLP_RETURN_IF_ERROR(
      CheckTrainingFits(net, std::min<int64_t>(spec.options.batch_size, rows),
                        spec.max_batch_values));
  MLP_ASSIGN_OR_RETURN(std::unique_ptr<TrainingLease> lease,
                       registry->models().BeginTraining(spec.model));
  return std::unique_ptr<TrainingJob>(
      new TrainingJob(registry, std::move(spec), std::move(lease)));
}

TrainingJob::TrainingJob(Registry* registry, TrainingSpec spec,
                         std::unique_ptr<TrainingLease> lease)
    : registry_(registry),
      spec_(std::move(spec)),
      lease_(std::move(lease)),
      cancel_(lease_->cancel_signal()) {}

TrainingJob::~TrainingJob() = default;

absl::StatusOr<TrainingOutcome> TrainingJob::Run(
    const ProgressFn& on_progress, const std::atomic<bool>* caller_cancelled) {
  absl::StatusOr<TrainingOutcome> outcome =
      TrainAndCommit(on_progress, caller_cancelled);
  lease_.reset();  // READY before the caller learns the outcome
  dataset_.reset();
  return outcome;
}

absl::StatusOr<TrainingOutcome> TrainingJob::TrainAndCommit(
    const ProgressFn& on_progress, const std::atomic<bool>* caller_cancelled) {
  auto caller_gone = [caller_cancelled] {
    return caller_cancelled != nullptr &&
           caller_cancelled->load(std::memory_order_relaxed);
  };
  if (!spec_.inputs.has_value()) {
    MLP_ASSIGN_OR_RETURN(dataset_,
                         registry_->datasets().LoadDataset(spec_.dataset));
    spec_.inputs.emplace(dataset_->inputs.data(), dataset_->inputs.rows(),
                         dataset_->inputs.cols());
    spec_.targets.emplace(dataset_->targets.data(), dataset_->targets.rows(),
                          dataset_->targets.cols());
  }
  const engine::Network& base = *lease_->base()->network;
  MLP_ASSIGN_OR_RETURN(engine::Network network,
                       spec_.reinitialize
                           ? engine::Network::Create(base.spec())
                           : absl::StatusOr<engine::Network>(base));
  absl::StatusOr<engine::TrainResult> result;
  try {
    result = engine::RunEpochs(
        network, *spec_.inputs, *spec_.targets, spec_.options,
        [&](const engine::EpochStats& stats) {
          // The final figures are the outcome's (TrainResult::last).
          if (!stats.final) on_progress(stats);
          return true;
        },
        [&] { return caller_gone() || cancel_->cancelled(); });
  } catch (const std::bad_alloc&) {
    // CheckTrainingFits bounds the buffers; this is the machine running out
    // of memory for other reasons.
    return absl::ResourceExhaustedError(
        "out of memory while training; try a smaller batch_size");
  }
  MLP_RETURN_IF_ERROR(result.status());
  if (caller_gone()) {
    return absl::CancelledError("training cancelled by the caller");
  }
  TrainingOutcome outcome;
  outcome.final_stats = result->last;
  outcome.stop_reason = result->stop_reason;
  if (cancel_->cancelled()) {
    outcome.cancelled = true;  // deleted, or the server is stopping
    return outcome;
  }
  TrainingSummary summary;
  summary.epochs = static_cast<uint32_t>(result->epochs);
  summary.final_loss = result->final_loss;
  summary.stop_reason = result->stop_reason;
  absl::StatusOr<uint64_t> version =
      lease_->Commit(std::move(network), summary, caller_cancelled);
  if (absl::IsCancelled(version.status())) {
    if (caller_gone()) {
      return absl::CancelledError("training cancelled by the caller");
    }
    outcome.cancelled = true;  // deleted while committing
    return outcome;
  }
  MLP_RETURN_IF_ERROR(version.status());
  outcome.version = *version;
  return outcome;
}

}  // namespace mlp::registry
