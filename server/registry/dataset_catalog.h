// DatasetCatalog: the stored datasets by name, their uploads, and a cache of
// the loaded rows shared by the trainings that use them.
//
// I/O errors reach callers named after the dataset, never a server path
// (store_errors.h); the path goes to the log.
//
// Thread-safety: all methods are safe to call concurrently. A DatasetUpload
// calls back into its catalog when destroyed: it must not outlive it.
#ifndef MLP_SERVER_REGISTRY_DATASET_CATALOG_H_
#define MLP_SERVER_REGISTRY_DATASET_CATALOG_H_

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
#include "server/engine/train_options.h"
#include "server/registry/types.h"
#include "server/store/dataset_store.h"

namespace mlp::registry {

class DatasetCatalog;

// One dataset upload in progress. Destroying it uncommitted leaves nothing.
class DatasetUpload {
 public:
  ~DatasetUpload();
  DatasetUpload(const DatasetUpload&) = delete;
  DatasetUpload& operator=(const DatasetUpload&) = delete;

  uint32_t input_size() const { return input_size_; }
  uint32_t target_size() const { return target_size_; }
  uint64_t rows() const { return writer_->rows(); }
  // RESOURCE_EXHAUSTED past Limits::max_dataset_rows or past
  // Limits::max_dataset_bytes (the file the rows would make); file system
  // errors. A refused append writes nothing.
  absl::Status Append(const float* inputs, const float* targets, uint64_t n);
  // INVALID_ARGUMENT for an upload without rows; ALREADY_EXISTS; I/O errors.
  absl::StatusOr<DatasetInfo> Commit();

 private:
  friend class DatasetCatalog;
  DatasetUpload(DatasetCatalog* catalog, std::string name, uint32_t input_size,
                uint32_t target_size,
                std::unique_ptr<store::DatasetWriter> writer)
      : catalog_(catalog),
        name_(std::move(name)),
        input_size_(input_size),
        target_size_(target_size),
        writer_(std::move(writer)) {}

  DatasetCatalog* const catalog_;
  const std::string name_;
  const uint32_t input_size_;
  const uint32_t target_size_;
  std::unique_ptr<store::DatasetWriter> writer_;
};

class DatasetCatalog {
 public:
  // Serves the datasets in `stored` (the store's readable ones), writing
  // through `store`, which must outlive the catalog. Uploads are bounded by
  // limits.max_dataset_rows and limits.max_dataset_bytes.
  DatasetCatalog(const Limits& limits, store::DatasetStore* store,
                 const std::vector<store::DatasetMeta>& stored);
  DatasetCatalog(const DatasetCatalog&) = delete;
  DatasetCatalog& operator=(const DatasetCatalog&) = delete;

  // INVALID_ARGUMENT (name; sizes outside 1..engine::kMaxLayerWidth),
  // ALREADY_EXISTS (name taken or being uploaded), I/O errors.
  absl::StatusOr<std::unique_ptr<DatasetUpload>> BeginUpload(
      const std::string& name, uint32_t input_size, uint32_t target_size);
  // Sorted by name.
  std::vector<DatasetInfo> ListDatasets() const;
  // NOT_FOUND.
  absl::StatusOr<DatasetInfo> GetDataset(const std::string& name) const;
  // The rows, loaded once and shared while in use. NOT_FOUND, DATA_LOSS.
  absl::StatusOr<std::shared_ptr<const engine::Dataset>> LoadDataset(
      const std::string& name);
  // NOT_FOUND.
  absl::Status DeleteDataset(const std::string& name);

  // A replica's: the datasets the repository holds now (any order). Uploads
  // and deletions are FAILED_PRECONDITION over a read-only store.
  void Mirror(std::vector<DatasetInfo> datasets);

  size_t size() const;

 private:
  friend class DatasetUpload;
  void EndUpload(const std::string& name, std::optional<DatasetInfo> committed);

  // Constant after construction.
  const uint64_t max_rows_;
  const uint64_t max_bytes_;
  store::DatasetStore* const store_;

  mutable absl::Mutex mu_;
  std::map<std::string, DatasetInfo> datasets_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> uploading_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::weak_ptr<const engine::Dataset>> cache_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace mlp::registry

#endif  // MLP_SERVER_REGISTRY_DATASET_CATALOG_H_
