// The registry: model names -> committed versions, datasets, and the rules
// of concurrency between predictions, trainings and deletions.
//
// Readers (Predict, GetWeights) take a shared_ptr to an immutable committed
// version under a short lock and run the forward pass without any lock. A
// training holds a TrainingLease: it works on its own copy of the network and
// publishes a new version atomically with Commit, so readers see either the
// old version or the new one. One training per model; at most
// Limits::max_concurrent_trainings in total.
//
// Thread-safety: all methods are safe to call concurrently.
// Locks: Registry::mu_ may be held while taking a ModelEntry::mu, never the
// other way round. ModelEntry::commit_mu is never taken under either; it is
// held across disk I/O (a commit's fsync, a deletion's file removal) and
// taken before ModelEntry::mu. TrainingLease and DatasetUpload call back
// into the registry from their destructors: they must not outlive it.
#ifndef MLP_SERVER_REGISTRY_REGISTRY_H_
#define MLP_SERVER_REGISTRY_REGISTRY_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine/network.h"
#include "server/store/dataset_store.h"
#include "server/store/file_util.h"
#include "server/store/model_store.h"

namespace mlp::registry {

struct Limits {
  int64_t max_parameters = 10'000'000;
  uint64_t max_dataset_rows = 10'000'000;
  int max_concurrent_trainings = 2;
  int keep_versions = 5;  // committed versions kept per model, >= 1
};

// What GetModel / ListModels report.
struct ModelSnapshot {
  std::string name;
  engine::NetworkSpec spec;  // spec.seed is the seed actually used
  absl::Time created_at;
  absl::Time updated_at;  // commit time of the latest version
  uint64_t version = 0;   // latest committed
  bool training = false;
  std::optional<store::TrainingSummary> last_training;
  std::vector<uint64_t> available_versions;  // ascending
};

// OK, or INVALID_ARGUMENT naming `field`: 1-63 chars of [a-z0-9._-], starting
// with a letter or digit.
absl::Status ValidateName(absl::string_view name, absl::string_view field);

class Registry;
struct ModelEntry;

// Exclusive right to train one model. Destroying it ends the training (the
// model is READY again and the slot is freed).
class TrainingLease {
 public:
  ~TrainingLease();
  TrainingLease(const TrainingLease&) = delete;
  TrainingLease& operator=(const TrainingLease&) = delete;

  const std::string& model_name() const;
  // The latest committed version when the training began.
  const std::shared_ptr<const store::VersionRecord>& base() const {
    return base_;
  }
  // True once the model was deleted or the server is shutting down.
  bool cancelled() const { return cancel_->load(std::memory_order_relaxed); }
  // The flag behind cancelled(), for polling from the training loop.
  const std::shared_ptr<std::atomic<bool>>& cancel_flag() const {
    return cancel_;
  }

  // Publishes `network` as version latest + 1 and prunes old versions.
  // CANCELLED if the model was deleted meanwhile, or if `abandoned` (the
  // caller's cancel flag, may be null) is set before the version file is
  // renamed into place: nothing is written or published then, so a cancel
  // that lands while the version is being written still commits nothing.
  // The file system's errors otherwise (nothing is published then).
  absl::StatusOr<uint64_t> Commit(engine::Network network,
                                  const store::TrainingSummary& summary,
                                  const std::atomic<bool>* abandoned = nullptr);

 private:
  friend class Registry;
  TrainingLease(Registry* registry, std::shared_ptr<ModelEntry> entry,
                std::shared_ptr<const store::VersionRecord> base,
                std::shared_ptr<std::atomic<bool>> cancel)
      : registry_(registry),
        entry_(std::move(entry)),
        base_(std::move(base)),
        cancel_(std::move(cancel)) {}

  Registry* const registry_;
  const std::shared_ptr<ModelEntry> entry_;
  const std::shared_ptr<const store::VersionRecord> base_;
  const std::shared_ptr<std::atomic<bool>> cancel_;
};

// One dataset upload in progress. Destroying it uncommitted leaves nothing.
class DatasetUpload {
 public:
  ~DatasetUpload();
  DatasetUpload(const DatasetUpload&) = delete;
  DatasetUpload& operator=(const DatasetUpload&) = delete;

  uint32_t input_size() const { return input_size_; }
  uint32_t target_size() const { return target_size_; }
  uint64_t rows() const { return writer_->rows(); }
  // RESOURCE_EXHAUSTED past Limits::max_dataset_rows; file system errors.
  absl::Status Append(const float* inputs, const float* targets, uint64_t n);
  // INVALID_ARGUMENT for an upload without rows; ALREADY_EXISTS; I/O errors.
  absl::StatusOr<store::DatasetMeta> Commit();

 private:
  friend class Registry;
  DatasetUpload(Registry* registry, std::string name, uint32_t input_size,
                uint32_t target_size,
                std::unique_ptr<store::DatasetWriter> writer)
      : registry_(registry),
        name_(std::move(name)),
        input_size_(input_size),
        target_size_(target_size),
        writer_(std::move(writer)) {}

  Registry* const registry_;
  const std::string name_;
  const uint32_t input_size_;
  const uint32_t target_size_;
  std::unique_ptr<store::DatasetWriter> writer_;
};

class Registry {
 public:
  // Opens (creating if needed) the data directory, locks it for this process
  // and loads every readable model and dataset; unreadable files are
  // quarantined and logged. Errors: INVALID_ARGUMENT for bad limits;
  // FAILED_PRECONDITION if another server holds the directory; the file
  // system's.
  static absl::StatusOr<std::unique_ptr<Registry>> Open(
      const std::string& data_dir, const Limits& limits);

  ~Registry();

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
  absl::StatusOr<std::shared_ptr<const store::VersionRecord>> GetVersion(
      const std::string& name, uint64_t version) const;
  // NOT_FOUND, FAILED_PRECONDITION (already training), RESOURCE_EXHAUSTED
  // (too many trainings), UNAVAILABLE (shutting down).
  absl::StatusOr<std::unique_ptr<TrainingLease>> BeginTraining(
      const std::string& name);
  // Cancels every training and refuses new ones (shutdown).
  void CancelAllTrainings();

  // INVALID_ARGUMENT (name; sizes outside 1..engine::kMaxLayerWidth),
  // ALREADY_EXISTS (name taken or being uploaded), I/O errors.
  absl::StatusOr<std::unique_ptr<DatasetUpload>> BeginUpload(
      const std::string& name, uint32_t input_size, uint32_t target_size);
  // Sorted by name.
  std::vector<store::DatasetMeta> ListDatasets() const;
  // NOT_FOUND.
  absl::StatusOr<store::DatasetMeta> GetDataset(const std::string& name) const;
  // The rows, loaded once and shared while in use. NOT_FOUND, DATA_LOSS.
  absl::StatusOr<std::shared_ptr<const engine::Dataset>> LoadDataset(
      const std::string& name);
  // NOT_FOUND.
  absl::Status DeleteDataset(const std::string& name);

  const Limits& limits() const { return limits_; }

 private:
  friend class TrainingLease;
  friend class DatasetUpload;

  Registry(Limits limits, std::unique_ptr<store::DirectoryLock> lock,
           std::unique_ptr<store::ModelStore> models,
           std::unique_ptr<store::DatasetStore> datasets);
  absl::StatusOr<std::shared_ptr<ModelEntry>> Find(
      const std::string& name) const;
  void EndTraining(ModelEntry& entry);
  void EndUpload(const std::string& name,
                 std::optional<store::DatasetMeta> committed);

  // Constant after construction.
  const Limits limits_;
  const std::unique_ptr<store::DirectoryLock> lock_;
  const std::unique_ptr<store::ModelStore> model_store_;
  const std::unique_ptr<store::DatasetStore> dataset_store_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<ModelEntry>> models_
      ABSL_GUARDED_BY(mu_);
  // Names being created or deleted: taken, but not visible.
  std::set<std::string> busy_model_names_ ABSL_GUARDED_BY(mu_);
  int active_trainings_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, store::DatasetMeta> datasets_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> uploading_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::weak_ptr<const engine::Dataset>> dataset_cache_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace mlp::registry

#endif  // MLP_SERVER_REGISTRY_REGISTRY_H_
