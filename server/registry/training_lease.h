// TrainingLease: the exclusive right to train one model, from
// ModelCatalog::BeginTraining until it is destroyed.
//
// Thread-safety: Commit from one thread at a time; cancel_signal() from any.
// Implemented with its catalog (model_catalog.cc), which owns the entries.
// The lease calls back into its catalog when destroyed: it must not outlive
// it.
#ifndef MLP_SERVER_REGISTRY_TRAINING_LEASE_H_
#define MLP_SERVER_REGISTRY_TRAINING_LEASE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/common/cancel_signal.h"
#include "server/engine/network.h"
#include "server/registry/types.h"

namespace mlp::registry {

class ModelCatalog;
struct ModelEntry;

// Destroying it ends the training (the model is READY again and the slot is
// freed).
class TrainingLease {
 public:
  ~TrainingLease();
  TrainingLease(const TrainingLease&) = delete;
  TrainingLease& operator=(const TrainingLease&) = delete;

  // The latest committed version when the training began.
  const std::shared_ptr<const ModelVersion>& base() const { return base_; }
  // Set once the model was deleted or the server is shutting down: polled
  // by the training loop, waited on by whoever relays its progress.
  const std::shared_ptr<common::CancelSignal>& cancel_signal() const {
    return cancel_;
  }

  // Publishes `network` as version latest + 1 and prunes old versions.
  // CANCELLED if the model was deleted meanwhile, or if `abandoned` (the
  // caller's cancel flag, may be null) is set before the version file is
  // renamed into place: nothing is written or published then, so a cancel
  // that lands while the version is being written still commits nothing.
  // The file system's errors otherwise (nothing is published then).
  absl::StatusOr<uint64_t> Commit(engine::Network network,
                                  const TrainingSummary& summary,
                                  const std::atomic<bool>* abandoned = nullptr);

 private:
  friend class ModelCatalog;
  TrainingLease(ModelCatalog* catalog, std::shared_ptr<ModelEntry> entry,
                std::shared_ptr<const ModelVersion> base,
                std::shared_ptr<common::CancelSignal> cancel)
      : catalog_(catalog),
        entry_(std::move(entry)),
        base_(std::move(base)),
        cancel_(std::move(cancel)) {}

  ModelCatalog* const catalog_;
  const std::shared_ptr<ModelEntry> entry_;
  const std::shared_ptr<const ModelVersion> base_;
  const std::shared_ptr<common::CancelSignal> cancel_;
};

}  // namespace mlp::registry

#endif  // MLP_SERVER_REGISTRY_TRAINING_LEASE_H_
