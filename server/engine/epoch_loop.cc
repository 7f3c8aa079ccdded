#include "server/engine/epoch_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/engine/batch_stepper.h"
#include "server/engine/random.h"

namespace mlp::engine {
namespace {

// should_stop is polled before a batch once at least this many samples have
// been trained since the last poll (and before the first batch of every
// epoch): every batch for batch_size >= 64, every 64 samples below that, so a
// cancellation lands within max(one batch, 64 samples).
constexpr int64_t kPollSamples = 64;

absl::Status CheckData(const Network& network,
                       const Eigen::Ref<const Matrix>& inputs,
                       const Eigen::Ref<const Matrix>& targets,
                       bool* class_indices) {
  const NetworkSpec& spec = network.spec();
  const int outputs = network.output_size();
  if (inputs.rows() != spec.input_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs has ", inputs.rows(),
                     " rows, expected input_size ", spec.input_size));
  }
  if (inputs.cols() < 1) {
    return absl::InvalidArgumentError(
        "inputs has 0 samples (columns), expected at least 1");
  }
  if (targets.cols() != inputs.cols()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "targets has ", targets.cols(), " samples (columns), expected ",
        inputs.cols(), " as in inputs"));
  }
  *class_indices =
      spec.loss == Loss::kCrossEntropy && targets.rows() == 1 && outputs > 1;
  if (!*class_indices && targets.rows() != outputs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "targets has ", targets.rows(), " rows, expected output_size ", outputs,
        spec.loss == Loss::kCrossEntropy ? " (one-hot) or 1 (class indices)"
                                         : ""));
  }
  for (Eigen::Index j = 0; j < inputs.cols(); ++j) {
    for (Eigen::Index i = 0; i < inputs.rows(); ++i) {
      if (!std::isfinite(inputs(i, j))) {
        return absl::InvalidArgumentError(
            absl::StrCat("inputs[", j, ", ", i, "] (sample, feature) is ",
                         inputs(i, j), ", expected a finite value"));
      }
    }
  }
  for (Eigen::Index j = 0; j < targets.cols(); ++j) {
    for (Eigen::Index i = 0; i < targets.rows(); ++i) {
      const float t = targets(i, j);
      if (!std::isfinite(t)) {
        return absl::InvalidArgumentError(
            absl::StrCat("targets[", j, ", ", i, "] (sample, output) is ", t,
                         ", expected a finite value"));
      }
      if (*class_indices && (t < 0.0f || t >= static_cast<float>(outputs) ||
                             t != std::floor(t))) {
        return absl::InvalidArgumentError(
            absl::StrCat("targets[", j, "] is ", t,
                         ", expected a class index (a whole "
                         "number in [0, ",
                         outputs, "))"));
      }
    }
  }
  return absl::OkStatus();
}

bool AllFinite(const std::vector<Layer>& layers) {
  for (const Layer& layer : layers) {
    if (!layer.weights.allFinite() || !layer.bias.allFinite()) return false;
  }
  return true;
}

// dst := src for same-shaped layer lists, without reallocating.
void CopyLayers(const std::vector<Layer>& src, std::vector<Layer>& dst) {
  for (size_t l = 0; l < src.size(); ++l) {
    dst[l].weights = src[l].weights;
    dst[l].bias = src[l].bias;
  }
}

// Copies the columns `idx[begin, begin + count)` of src into the first count
// columns of dst.
void Gather(const Eigen::Ref<const Matrix>& src,
            const std::vector<int64_t>& idx, size_t begin, int count,
            Matrix& dst) {
  for (int c = 0; c < count; ++c) dst.col(c) = src.col(idx[begin + c]);
}

// Fisher-Yates with the engine's own uniform draw (random.h), so that a seed
// gives the same order on every standard library.
void Shuffle(std::vector<int64_t>& v, std::mt19937_64& gen) {
  for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i) {
    std::swap(v[i], v[internal::UniformIndex(gen, uint64_t(i) + 1)]);
  }
}

// The columns a run trains on and the ones it holds out for validation.
struct RowSplit {
  std::vector<int64_t> train;       // reshuffled every epoch when shuffle is on
  std::vector<int64_t> validation;  // fixed for the whole run
};

// Holds out floor(validation_fraction * n) rows (at least 1 when the fraction
// is not 0): a seeded random subset, drawn from `gen`; both parts keep the
// data's order. INVALID_ARGUMENT when no training row would be left.
absl::StatusOr<RowSplit> SplitRows(int64_t n, float validation_fraction,
                                   std::mt19937_64& gen) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  int64_t n_val = 0;
  if (validation_fraction > 0.0f) {
    n_val = std::max<int64_t>(1, static_cast<int64_t>(std::floor(
                                     double(validation_fraction) * double(n))));
    if (n_val >= n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "validation_fraction ", validation_fraction, " of ", n,
          " samples leaves no training samples, expected at least 1"));
    }
    // A seeded permutation; the first n_val are held out.
    Shuffle(order, gen);
    std::sort(order.begin(), order.begin() + n_val);
    std::sort(order.begin() + n_val, order.end());
  }
  RowSplit split;
  split.validation.assign(order.begin(), order.begin() + n_val);
  split.train.assign(order.begin() + n_val, order.end());
  return split;
}

using Clock = std::chrono::steady_clock;

// Batch figures summed over a pass.
struct PassSums {
  double loss = 0.0;
  double correct = 0.0;
};

// How a training pass over the epoch's batches ended.
enum class PassEnd { kCompleted, kStopped, kDiverged };

// One run of RunEpochs once its inputs are checked: the buffers, allocated
// by the constructor (before the first batch, so that no epoch allocates),
// and the state kept from one epoch to the next.
class EpochLoop {
 public:
  EpochLoop(Network& network, const Eigen::Ref<const Matrix>& inputs,
            const Eigen::Ref<const Matrix>& targets,
            const TrainOptions& options, RowSplit rows, std::mt19937_64 gen,
            BatchStepper stepper)
      : network_(network),
        inputs_(inputs),
        targets_(targets),
        options_(options),
        gen_(std::move(gen)),
        rows_(std::move(rows)),
        stepper_(std::move(stepper)),
        xb_(inputs.rows(), stepper_.max_batch()),
        tb_(targets.rows(), stepper_.max_batch()),
        last_good_(network.layers()) {
    const Loss loss = network.spec().loss;
    has_accuracy_ =
        loss == Loss::kCrossEntropy || loss == Loss::kBinaryCrossEntropy;
    if (options.early_stopping_patience > 0) best_ = network.layers();
  }

  TrainResult Run(Clock::time_point start, const EpochCallback& on_epoch,
                  const StopPredicate& should_stop);

 private:
  PassEnd TrainPass(const StopPredicate& should_stop, PassSums& sums);
  bool KeepIfFinite(PassEnd end, double epoch_loss);
  EpochStats Figures(int epoch, const PassSums& sums, Clock::time_point start,
                     Clock::time_point epoch_start,
                     Clock::time_point train_end);
  void Validate(EpochStats& stats);
  void ApplyStoppingRules(int epoch, EpochStats& stats);
  void TrackEarlyStopping(EpochStats& stats);
  void Report(int epoch, EpochStats& stats, const EpochCallback& on_epoch);
  void Stop(StopReason reason) {
    result_.stop_reason = reason;
    stopped_ = true;
  }

  Network& network_;
  const Eigen::Ref<const Matrix>& inputs_;
  const Eigen::Ref<const Matrix>& targets_;
  const TrainOptions& options_;
  bool has_accuracy_ = false;
  std::mt19937_64 gen_;
  RowSplit rows_;
  BatchStepper stepper_;
  Matrix xb_, tb_;  // one batch of gathered columns (training or validation)
  std::vector<Layer> last_good_;  // the last epoch that ended finite
  // Early stopping: the best epoch's weights and figures.
  std::vector<Layer> best_;
  EpochStats best_stats_;
  double best_monitor_ = INFINITY;
  int epochs_without_improvement_ = 0;
  TrainResult result_;
  bool stopped_ = false;
};

TrainResult EpochLoop::Run(Clock::time_point start,
                           const EpochCallback& on_epoch,
                           const StopPredicate& should_stop) {
  for (int epoch = 1; epoch <= options_.max_epochs && !stopped_; ++epoch) {
    const Clock::time_point epoch_start = Clock::now();
    PassSums sums;
    const PassEnd end = TrainPass(should_stop, sums);
    if (end == PassEnd::kStopped) {
      // Cancelled mid-epoch: the partial epoch is dropped from the figures.
      Stop(StopReason::kCancelled);
      break;
    }
    const Clock::time_point train_end = Clock::now();
    const double epoch_loss =
        sums.loss / double(static_cast<int64_t>(rows_.train.size()));
    if (!KeepIfFinite(end, epoch_loss)) break;
    EpochStats stats = Figures(epoch, sums, start, epoch_start, train_end);
    ApplyStoppingRules(epoch, stats);
    Report(epoch, stats, on_epoch);
  }
  return result_;
}

// One pass over the training rows (reshuffled first when asked), one
// optimiser step per batch. should_stop is polled before the first batch and
// then once kPollSamples have been trained since the last poll.
PassEnd EpochLoop::TrainPass(const StopPredicate& should_stop, PassSums& sums) {
  std::vector<int64_t>& rows = rows_.train;
  const int64_t n = static_cast<int64_t>(rows.size());
  const int max_batch = stepper_.max_batch();
  if (options_.shuffle) Shuffle(rows, gen_);
  int64_t since_poll = kPollSamples;
  for (int64_t begin = 0; begin < n; begin += max_batch) {
    if (should_stop && since_poll >= kPollSamples) {
      since_poll = 0;
      if (should_stop()) return PassEnd::kStopped;
    }
    const int count = static_cast<int>(std::min<int64_t>(max_batch, n - begin));
    Gather(inputs_, rows, static_cast<size_t>(begin), count, xb_);
    Gather(targets_, rows, static_cast<size_t>(begin), count, tb_);
    const BatchStepper::Figures f =
        stepper_.Step(network_, xb_.leftCols(count), tb_.leftCols(count));
    if (!std::isfinite(f.loss_sum)) return PassEnd::kDiverged;
    sums.loss += f.loss_sum;
    sums.correct += f.correct;
    since_poll += count;
  }
  return PassEnd::kCompleted;
}

// Divergence: a non-finite batch or epoch loss, or weights that are not
// finite after the pass, restore the last good weights and end the run
// (false). Otherwise this epoch's weights become the last good ones.
bool EpochLoop::KeepIfFinite(PassEnd end, double epoch_loss) {
  if (end == PassEnd::kDiverged || !std::isfinite(epoch_loss) ||
      !AllFinite(network_.layers())) {
    CopyLayers(last_good_, network_.mutable_layers());
    result_.stop_reason = StopReason::kDiverged;
    return false;
  }
  CopyLayers(network_.layers(), last_good_);
  return true;
}

// The epoch's figures: the training pass's sums, the validation pass and the
// clocks.
EpochStats EpochLoop::Figures(int epoch, const PassSums& sums,
                              Clock::time_point start,
                              Clock::time_point epoch_start,
                              Clock::time_point train_end) {
  const int64_t n_train = static_cast<int64_t>(rows_.train.size());
  EpochStats stats;
  stats.epoch = epoch;
  stats.loss = sums.loss / double(n_train);
  stats.has_accuracy = has_accuracy_;
  if (has_accuracy_) stats.accuracy = sums.correct / double(n_train);
  if (!rows_.validation.empty()) Validate(stats);
  const double train_seconds =
      std::chrono::duration<double>(train_end - epoch_start).count();
  stats.samples = n_train;
  stats.samples_per_second =
      train_seconds > 0.0 ? double(n_train) / train_seconds : 0.0;
  stats.elapsed_seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  return stats;
}

// The forward pass over the validation rows, in chunks of max_batch through
// the training buffers.
void EpochLoop::Validate(EpochStats& stats) {
  const std::vector<int64_t>& rows = rows_.validation;
  const int64_t n = static_cast<int64_t>(rows.size());
  const int max_batch = stepper_.max_batch();
  PassSums sums;
  for (int64_t begin = 0; begin < n; begin += max_batch) {
    const int count = static_cast<int>(std::min<int64_t>(max_batch, n - begin));
    Gather(inputs_, rows, static_cast<size_t>(begin), count, xb_);
    Gather(targets_, rows, static_cast<size_t>(begin), count, tb_);
    const BatchStepper::Figures f =
        stepper_.Evaluate(network_, xb_.leftCols(count), tb_.leftCols(count));
    sums.loss += f.loss_sum;
    sums.correct += f.correct;
  }
  stats.has_validation = true;
  stats.validation_loss = sums.loss / double(n);
  if (has_accuracy_) stats.validation_accuracy = sums.correct / double(n);
}

// The stopping rules after a completed epoch, in their order: the target
// loss, then early stopping.
void EpochLoop::ApplyStoppingRules(int epoch, EpochStats& stats) {
  result_.epochs = epoch;
  result_.final_loss = stats.loss;
  if (options_.target_loss > 0.0f && stats.loss <= options_.target_loss) {
    Stop(StopReason::kTargetLoss);
  }
  if (options_.early_stopping_patience > 0) TrackEarlyStopping(stats);
}

// Keeps the best epoch's weights and figures; after `patience` epochs
// without a strict improvement, stops, restores them and reports them in
// `stats` (with this epoch's clock).
void EpochLoop::TrackEarlyStopping(EpochStats& stats) {
  // Monitors the validation loss when there is a validation split, the
  // training loss otherwise; a non-finite validation loss never improves.
  const double monitor =
      stats.has_validation ? stats.validation_loss : stats.loss;
  if (monitor < best_monitor_) {
    best_monitor_ = monitor;
    epochs_without_improvement_ = 0;
    CopyLayers(network_.layers(), best_);
    best_stats_ = stats;
    return;
  }
  if (++epochs_without_improvement_ < options_.early_stopping_patience ||
      stopped_) {
    return;
  }
  Stop(StopReason::kEarlyStopping);
  CopyLayers(best_, network_.mutable_layers());
  const double elapsed = stats.elapsed_seconds;
  stats = best_stats_;
  stats.elapsed_seconds = elapsed;
  result_.final_loss = stats.loss;
}

// Marks the figures final when no epoch follows, keeps them as the result's
// and hands them to on_epoch every report_every epochs and after the last;
// on_epoch returning false stops the run.
void EpochLoop::Report(int epoch, EpochStats& stats,
                       const EpochCallback& on_epoch) {
  const bool last_epoch = stopped_ || epoch == options_.max_epochs;
  stats.final = last_epoch;
  if (last_epoch) stats.epochs_run = epoch;
  result_.last = stats;
  if (on_epoch && (epoch % options_.report_every == 0 || last_epoch)) {
    if (!on_epoch(stats) && !stopped_) Stop(StopReason::kCancelled);
  }
}

}  // namespace

absl::StatusOr<TrainResult> RunEpochs(Network& network,
                                      const Eigen::Ref<const Matrix>& inputs,
                                      const Eigen::Ref<const Matrix>& targets,
                                      const TrainOptions& options,
                                      const EpochCallback& on_epoch,
                                      const StopPredicate& should_stop) {
  const Clock::time_point start = Clock::now();
  MLP_RETURN_IF_ERROR(ValidateOptions(options));
  bool class_indices = false;
  MLP_RETURN_IF_ERROR(CheckData(network, inputs, targets, &class_indices));
  // One generator for the whole run: the validation split, then the shuffles.
  std::mt19937_64 gen(options.seed);
  MLP_ASSIGN_OR_RETURN(
      RowSplit rows,
      SplitRows(inputs.cols(), options.validation_fraction, gen));
  const int max_batch = static_cast<int>(std::min<int64_t>(
      options.batch_size, static_cast<int64_t>(rows.train.size())));
  MLP_ASSIGN_OR_RETURN(
      BatchStepper stepper,
      BatchStepper::Create(network, options, max_batch, class_indices));
  EpochLoop loop(network, inputs, targets, options, std::move(rows),
                 std::move(gen), std::move(stepper));
  return loop.Run(start, on_epoch, should_stop);
}

}  // namespace mlp::engine
