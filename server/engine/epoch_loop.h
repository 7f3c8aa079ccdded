// The epoch loop: RunEpochs trains a network in place for up to max_epochs
// epochs, one optimiser step per batch (BatchStepper, batch_stepper.h), with
// an optional validation split, shuffling, target loss, early stopping and
// cancellation, and reports each epoch's figures.
//
// Contract in short: an epoch's training loss and accuracy come from each
// batch's forward pass before its update; a run stops at the first of
// max_epochs, the target loss, early stopping (which restores the best epoch's
// weights), the callback or the stop predicate (cancelled), or divergence
// (which restores the last finite weights). Given one binary and CPU kernel
// set, the same spec, seed, data and options give bitwise identical weights for
// any thread count. The full semantics (losses and their gradients, stopping
// rules, randomness, the reproducibility contract, threads) are in
// docs/architecture.md, "Training semantics".
//
// Thread-safety: RunEpochs mutates only the network it is given; callers must
// not share that network with other threads while it runs.
#ifndef MLP_SERVER_ENGINE_EPOCH_LOOP_H_
#define MLP_SERVER_ENGINE_EPOCH_LOOP_H_

#include <functional>

#include "absl/status/statusor.h"
#include "server/engine/network.h"
#include "server/engine/train_options.h"

namespace mlp::engine {

// Called every report_every epochs and after the last epoch. Returning false
// stops training (StopReason::kCancelled).
using EpochCallback = std::function<bool(const EpochStats&)>;
// Polled between batches: at least every 64 samples, every batch for
// batch_size >= 64; returning true stops training (StopReason::kCancelled),
// dropping the running epoch from the figures. Must be cheap: an atomic load
// is ideal.
using StopPredicate = std::function<bool()>;

// Trains `network` in place.
//   inputs:  [input_size x N]
//   targets: [output_size x N], or for CROSS_ENTROPY [1 x N] class indices
//            (whole numbers in [0, output_size)) when output_size > 1.
// Errors: INVALID_ARGUMENT for bad options, shape mismatches, N == 0,
// NaN/Inf values or bad class indices; the network is untouched then.
// A loss that becomes NaN/Inf ends with kDiverged and the weights of the last
// epoch that ended finite (the starting weights if none did).
// Callbacks may be empty. They run on the calling thread.
// Allocates its buffers once (a BatchStepper, server/engine/batch_stepper.h,
// plus one batch of gathered columns and copies of the weights for divergence
// and early stopping); nothing is allocated after the first batch.
absl::StatusOr<TrainResult> RunEpochs(Network& network,
                                      const Eigen::Ref<const Matrix>& inputs,
                                      const Eigen::Ref<const Matrix>& targets,
                                      const TrainOptions& options,
                                      const EpochCallback& on_epoch = {},
                                      const StopPredicate& should_stop = {});

}  // namespace mlp::engine

#endif  // MLP_SERVER_ENGINE_EPOCH_LOOP_H_
