#include "server/engine/epoch_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
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

}  // namespace

absl::StatusOr<TrainResult> RunEpochs(Network& network,
                                      const Eigen::Ref<const Matrix>& inputs,
                                      const Eigen::Ref<const Matrix>& targets,
                                      const TrainOptions& options,
                                      const EpochCallback& on_epoch,
                                      const StopPredicate& should_stop) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  MLP_RETURN_IF_ERROR(ValidateOptions(options));
  bool class_indices = false;
  MLP_RETURN_IF_ERROR(CheckData(network, inputs, targets, &class_indices));

  const int64_t n = inputs.cols();
  std::mt19937_64 gen(options.seed);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  int64_t n_val = 0;
  if (options.validation_fraction > 0.0f) {
    n_val = std::max<int64_t>(
        1, static_cast<int64_t>(
               std::floor(double(options.validation_fraction) * double(n))));
    if (n_val >= n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "validation_fraction ", options.validation_fraction, " of ", n,
          " samples leaves no training samples, expected at least 1"));
    }
    // A seeded Fisher-Yates permutation; the first n_val are held out.
    for (int64_t i = n - 1; i > 0; --i) {
      std::swap(order[i], order[internal::UniformIndex(gen, uint64_t(i) + 1)]);
    }
    std::sort(order.begin(), order.begin() + n_val);
    std::sort(order.begin() + n_val, order.end());
  }
  const std::vector<int64_t> val_idx(order.begin(), order.begin() + n_val);
  std::vector<int64_t> train_idx(order.begin() + n_val, order.end());
  const int64_t n_train = static_cast<int64_t>(train_idx.size());

  const int max_batch =
      static_cast<int>(std::min<int64_t>(options.batch_size, n_train));
  // Validation reuses the training buffers, in chunks of max_batch.
  MLP_ASSIGN_OR_RETURN(
      BatchStepper stepper,
      BatchStepper::Create(network, options, max_batch, class_indices));
  Matrix xb(inputs.rows(), max_batch);
  Matrix tb(targets.rows(), max_batch);
  std::vector<Layer> last_good = network.layers();
  std::vector<Layer> best;
  if (options.early_stopping_patience > 0) best = network.layers();

  const Loss loss = network.spec().loss;
  const bool has_accuracy =
      loss == Loss::kCrossEntropy || loss == Loss::kBinaryCrossEntropy;
  TrainResult result;
  double best_monitor = INFINITY;
  EpochStats best_stats;  // the figures of `best`
  int epochs_without_improvement = 0;
  bool stopped = false;

  for (int epoch = 1; epoch <= options.max_epochs && !stopped; ++epoch) {
    const Clock::time_point epoch_start = Clock::now();
    if (options.shuffle) {
      for (int64_t i = n_train - 1; i > 0; --i) {
        std::swap(train_idx[i],
                  train_idx[internal::UniformIndex(gen, uint64_t(i) + 1)]);
      }
    }
    double loss_sum = 0.0;
    double correct = 0.0;
    int64_t since_poll = kPollSamples;
    bool diverged = false;
    for (int64_t begin = 0; begin < n_train; begin += max_batch) {
      if (should_stop && since_poll >= kPollSamples) {
        since_poll = 0;
        if (should_stop()) {
          result.stop_reason = StopReason::kCancelled;
          stopped = true;
          break;
        }
      }
      const int count =
          static_cast<int>(std::min<int64_t>(max_batch, n_train - begin));
      Gather(inputs, train_idx, static_cast<size_t>(begin), count, xb);
      Gather(targets, train_idx, static_cast<size_t>(begin), count, tb);
      const BatchStepper::Figures f =
          stepper.Step(network, xb.leftCols(count), tb.leftCols(count));
      if (!std::isfinite(f.loss_sum)) {
        diverged = true;
        break;
      }
      loss_sum += f.loss_sum;
      correct += f.correct;
      since_poll += count;
    }
    if (stopped) break;  // cancelled mid-epoch: the partial epoch is dropped
    const Clock::time_point train_end = Clock::now();
    const double epoch_loss = loss_sum / double(n_train);
    if (diverged || !std::isfinite(epoch_loss) ||
        !AllFinite(network.layers())) {
      CopyLayers(last_good, network.mutable_layers());
      result.stop_reason = StopReason::kDiverged;
      break;
    }
    CopyLayers(network.layers(), last_good);

    EpochStats stats;
    stats.epoch = epoch;
    stats.loss = epoch_loss;
    stats.has_accuracy = has_accuracy;
    if (has_accuracy) stats.accuracy = correct / double(n_train);
    if (n_val > 0) {
      double vloss = 0.0;
      double vcorrect = 0.0;
      for (int64_t begin = 0; begin < n_val; begin += max_batch) {
        const int count =
            static_cast<int>(std::min<int64_t>(max_batch, n_val - begin));
        Gather(inputs, val_idx, static_cast<size_t>(begin), count, xb);
        Gather(targets, val_idx, static_cast<size_t>(begin), count, tb);
        const BatchStepper::Figures f =
            stepper.Evaluate(network, xb.leftCols(count), tb.leftCols(count));
        vloss += f.loss_sum;
        vcorrect += f.correct;
      }
      stats.has_validation = true;
      stats.validation_loss = vloss / double(n_val);
      if (has_accuracy) stats.validation_accuracy = vcorrect / double(n_val);
    }
    const double train_seconds =
        std::chrono::duration<double>(train_end - epoch_start).count();
    stats.samples_per_second =
        train_seconds > 0.0 ? double(n_train) / train_seconds : 0.0;
    stats.elapsed_seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    result.epochs = epoch;
    result.final_loss = epoch_loss;

    if (options.target_loss > 0.0f && epoch_loss <= options.target_loss) {
      result.stop_reason = StopReason::kTargetLoss;
      stopped = true;
    }
    if (options.early_stopping_patience > 0) {
      // Monitors the validation loss when there is a validation split, the
      // training loss otherwise; a non-finite validation loss never improves.
      const double monitor =
          stats.has_validation ? stats.validation_loss : stats.loss;
      if (monitor < best_monitor) {
        best_monitor = monitor;
        epochs_without_improvement = 0;
        CopyLayers(network.layers(), best);
        best_stats = stats;
      } else if (++epochs_without_improvement >=
                     options.early_stopping_patience &&
                 !stopped) {
        result.stop_reason = StopReason::kEarlyStopping;
        stopped = true;
        CopyLayers(best, network.mutable_layers());
        // Report what is kept: the best epoch's figures, today's clock.
        const double elapsed = stats.elapsed_seconds;
        stats = best_stats;
        stats.elapsed_seconds = elapsed;
        result.final_loss = stats.loss;
      }
    }
    const bool last_epoch = stopped || epoch == options.max_epochs;
    stats.final = last_epoch;
    if (last_epoch) stats.epochs_run = epoch;
    result.last = stats;
    if (on_epoch && (epoch % options.report_every == 0 || last_epoch)) {
      if (!on_epoch(stats) && !stopped) {
        result.stop_reason = StopReason::kCancelled;
        stopped = true;
      }
    }
  }
  return result;
}

}  // namespace mlp::engine
