// Training by backpropagation: optimisers, the epoch loop, stopping rules.
//
// Backpropagation as in the tutorial, batched (one sample per column):
//   delta_L = dLoss/dZ_L                                  [out x B]
//   delta_l = (W_{l+1}^T * delta_{l+1}) .* act_l'(Z_l)    [units_l x B]
//   dW_l    = delta_l * A_{l-1}^T / B,  db_l = rowsum(delta_l) / B
// With batch_size 1, SGD and no bias this is exactly the tutorial's online
// per-sample update.
//
// Losses. The REPORTED per-sample loss (EpochStats.loss, TrainResult) is:
//   MSE                  mean over outputs of (y - t)^2
//   CROSS_ENTROPY        -log softmax(z)[target] (log-sum-exp on the logits)
//   BINARY_CROSS_ENTROPY mean over outputs of -t log y - (1-t) log(1-y),
//                        computed from the logits (no log of 0)
// The gradient that training follows is that of the same loss, except for MSE,
// where it is the gradient of HALF of it: dL/dy = (y - t) / outputs. With one
// output this is the tutorial's delta = (y - t) with no factor 2, which is
// what makes its learning rate 0.1 behave as in the tutorial (the seed
// experiment in tests/engine/seed_experiment_test.cc). L2 adds l2 * W to the
// weights' gradient (l2/2 * |W|^2 to the objective; never to the reported
// loss). Accuracy (CE, BCE only): argmax against the target class; for BCE
// the 0.5 threshold, per output (the share of right outputs per sample).
// Training loss and accuracy are summed over the epoch from each batch's
// forward pass, BEFORE that batch's update (the tutorial's running error), so
// they describe the weights during the epoch, not after it; the validation
// figures are computed after the epoch.
//
// Stopping rules, checked after every epoch in this order: the epoch loss at
// or under target_loss (TARGET_LOSS); early stopping (EARLY_STOPPING); the
// callback returning false (CANCELLED). should_stop is polled before a batch
// whenever at least 64 samples have been trained since the last poll, and
// before each epoch's first batch: every batch for batch_size >= 64, every 64
// samples below that (for batch 1, one poll per 64 steps keeps a ~100 ns step
// cheap while a cancellation still lands within microseconds). A stop through
// should_stop drops the running epoch from the figures (TrainResult counts
// completed epochs) but keeps its updates in the weights.
//
// Early stopping monitors the validation loss when there is a validation
// split, the training loss otherwise; after `patience` epochs without a
// strict improvement it stops and RESTORES the weights of the best epoch, and
// the final figures are that epoch's (EpochStats::epochs_run says how many
// ran).
//
// Divergence: a batch or epoch loss that is NaN/Inf, or weights that are not
// finite at the end of an epoch, end training with DIVERGED and the weights of
// the last epoch that ended finite (the starting weights if none did).
//
// Randomness: shuffling and the validation split come from one
// std::mt19937_64 seeded with options.seed; the validation rows are a seeded
// random subset, fixed for the whole run, and both subsets keep the data's
// order when shuffle is off.
//
// The reproducibility contract. Promised: the same binary, on the same CPU
// kernel selection (the OpenBLAS kernel set the CPU or OPENBLAS_CORETYPE
// picks), given the same spec, seed, data and options, produces bitwise
// identical weights, for ANY SetComputeThreads value (1, 2, 3, 4, 8, ...),
// however the blocks of a product are scheduled on the threads, and whatever
// OPENBLAS_NUM_THREADS or OMP_NUM_THREADS say. This holds by construction:
// every large product is cut into blocks of output rows or columns whose
// bounds depend on the product's shape alone, and each block is one
// single-threaded call (gemm.h, compute_pool.h), so every output element is
// summed by one thread in one order. Tested in child processes under every
// kernel set the CPU can run (tests/engine/determinism_test.cc).
// NOT promised: the same weights on another CPU, under another kernel set
// (Haswell and SkylakeX kernels round differently), with another OpenBLAS or
// Eigen version, or from a build without OpenBLAS. Those give different, but
// equally valid, roundings.
//
// Threads: the large products run on the engine's compute pool, whose size is
// the process-wide SetComputeThreads (network.h); the calling thread computes
// blocks too.
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
// Polled between batches (see "Stopping rules" above: at least every 64
// samples, every batch for batch_size >= 64); returning true stops training
// (StopReason::kCancelled). Must be cheap: an atomic load is ideal.
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
