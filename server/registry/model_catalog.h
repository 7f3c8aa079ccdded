// ModelCatalog: model names -> committed versions, and the rules of
// concurrency between predictions, trainings and deletions.
//
// Readers (Predict, GetWeights) take a shared_ptr to an immutable committed
// version under a short lock and run the forward pass without any lock. A
// training holds a TrainingLease: it works on its own copy of the network and
// publishes a new version atomically with Commit, so readers see either the
// old version or the new one. One training per model; at most
// Limits::max_concurrent_trainings in total.
//
// A replica's catalog (over a read-only store) changes only through Mirror
// and Forget, called by its RepositoryFollower; CreateModel, DeleteModel and
// BeginTraining are FAILED_PRECONDITION there.
//
// I/O errors reach callers named after the model, never a server path
// (store_errors.h); the path goes to the log.
//
// Thread-safety: all methods are safe to call concurrently.
// Locks: ModelCatalog::mu_ may be held while taking a ModelEntry::mu, never
// the other way round. ModelEntry::commit_mu is never taken under either; it
// is held across disk I/O (a commit's fsync, a deletion's file removal) and
// taken before ModelEntry::mu.
#ifndef MLP_SERVER_REGISTRY_MODEL_CATALOG_H_
#define MLP_SERVER_REGISTRY_MODEL_CATALOG_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/engine/network.h"
#include "server/registry/training_lease.h"
#include "server/registry/types.h"
#include "server/store/model_store.h"

namespace mlp::registry {

class ModelCatalog {
 public:
  // Serves the models in `records` (the store's readable ones), writing
  // through `store`, which must outlive the catalog.
  ModelCatalog(const Limits& limits, store::ModelStore* store,
               std::vector<store::ModelRecord> records);
  ~ModelCatalog();
  ModelCatalog(const ModelCatalog&) = delete;
  ModelCatalog& operator=(const ModelCatalog&) = delete;

  // A new model with version 1 = fresh weights. spec.seed 0 picks a seed.
  // INVALID_ARGUMENT (name, spec), ALREADY_EXISTS, RESOURCE_EXHAUSTED
  // (parameters), FAILED_PRECONDITION (name being deleted), I/O errors.
  absl::StatusOr<ModelSnapshot> CreateModel(const std::string& name,
                                            engine::NetworkSpec spec);
  // NOT_FOUND if unknown.
  absl::StatusOr<ModelSnapshot> GetModel(const std::string& name) const;
  // Sorted by name.
  std::vector<ModelSnapshot> ListModels() const;
  // Removes the model and its files; cancels its training. NOT_FOUND.
  absl::Status DeleteModel(const std::string& name);
  // A committed version (0 = latest). NOT_FOUND for an unknown model or a
  // pruned / unknown version.
  absl::StatusOr<std::shared_ptr<const ModelVersion>> GetVersion(
      const std::string& name, uint64_t version) const;
  // NOT_FOUND, FAILED_PRECONDITION (already training), RESOURCE_EXHAUSTED
  // (too many trainings), UNAVAILABLE (shutting down).
  absl::StatusOr<std::unique_ptr<TrainingLease>> BeginTraining(
      const std::string& name);
  // Cancels every training and refuses new ones (shutdown).
  void CancelAllTrainings();

  // A replica's: `name` as the repository holds it now, `versions`
  // ascending and not empty. The same model (same creation time) keeps its
  // entry, so readers see the new versions; another creation time replaces
  // it. A version dropped here stays alive for the calls that hold it.
  void Mirror(const std::string& name, absl::Time created_at,
              std::vector<std::shared_ptr<const ModelVersion>> versions);
  // A replica's: `name` is no longer in the repository.
  void Forget(const std::string& name);

  size_t size() const;

 private:
  friend class TrainingLease;

  absl::StatusOr<std::shared_ptr<ModelEntry>> Find(
      const std::string& name) const;
  // TrainingLease::Commit and the lease's end.
  absl::StatusOr<uint64_t> Commit(ModelEntry& entry, engine::Network network,
                                  const TrainingSummary& summary,
                                  const std::atomic<bool>* abandoned);
  void EndTraining(ModelEntry& entry);

  // Constant after construction.
  const Limits limits_;
  store::ModelStore* const store_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<ModelEntry>> models_
      ABSL_GUARDED_BY(mu_);
  // Names being created or deleted: taken, but not visible.
  std::set<std::string> busy_names_ ABSL_GUARDED_BY(mu_);
  int active_trainings_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mlp::registry

#endif  // MLP_SERVER_REGISTRY_MODEL_CATALOG_H_
