// The registry: one data directory served as models and datasets.
//
// Registry::Open locks the directory for this process, opens the store and
// loads every readable model and dataset; models() and datasets() are the
// catalogs that serve them (model_catalog.h, dataset_catalog.h). The
// registry hands out its own values (types.h), never the store's records.
//
// Registry::OpenReplica serves a data directory that a primary writes: no
// lock, nothing written, the catalogs kept equal to the directory by a
// RepositoryFollower (repository_follower.h), every write refused.
//
// Thread-safety: the catalogs are; the Registry itself is constant after
// Open. Leases and uploads must not outlive it.
#ifndef MLP_SERVER_REGISTRY_REGISTRY_H_
#define MLP_SERVER_REGISTRY_REGISTRY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/common/file_io.h"
#include "server/registry/dataset_catalog.h"
#include "server/registry/model_catalog.h"
#include "server/registry/repository_follower.h"
#include "server/registry/types.h"
#include "server/store/dataset_store.h"
#include "server/store/model_store.h"

namespace mlp::registry {

class Registry {
 public:
  // Opens (creating if needed) the data directory, locks it for this process
  // and loads every readable model and dataset; unreadable files are
  // quarantined and logged. Errors: INVALID_ARGUMENT for bad limits;
  // FAILED_PRECONDITION if another server holds the directory; the file
  // system's.
  static absl::StatusOr<std::unique_ptr<Registry>> Open(
      const std::string& data_dir, const Limits& limits);

  // A replica's: the directory need not exist yet (it is followed into
  // being); the first pass runs on the follower's thread, which starts here
  // and polls every `poll_interval`. INVALID_ARGUMENT for bad limits or a
  // poll interval <= 0.
  static absl::StatusOr<std::unique_ptr<Registry>> OpenReplica(
      const std::string& data_dir, const Limits& limits,
      absl::Duration poll_interval);

  // A replica's follower; null for a primary.
  RepositoryFollower* follower() { return follower_.get(); }
  const RepositoryFollower* follower() const { return follower_.get(); }

  ModelCatalog& models() { return models_; }
  const ModelCatalog& models() const { return models_; }
  DatasetCatalog& datasets() { return datasets_; }
  const DatasetCatalog& datasets() const { return datasets_; }

 private:
  Registry(const Limits& limits, std::unique_ptr<common::DirectoryLock> lock,
           std::unique_ptr<store::ModelStore> model_store,
           std::unique_ptr<store::DatasetStore> dataset_store);

  // Declared in construction order: the lock first, the catalogs (which
  // write through the stores) last.
  const std::unique_ptr<common::DirectoryLock> lock_;
  const std::unique_ptr<store::ModelStore> model_store_;
  const std::unique_ptr<store::DatasetStore> dataset_store_;
  ModelCatalog models_;
  DatasetCatalog datasets_;
  // Replicas only. Declared last, so destroyed first: the follower's thread
  // stops before the catalogs it writes go.
  std::unique_ptr<RepositoryFollower> follower_;
};

}  // namespace mlp::registry

#endif  // MLP_SERVER_REGISTRY_REGISTRY_H_
