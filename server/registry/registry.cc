#include "server/registry/registry.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/common/log.h"

namespace mlp::registry {

Registry::Registry(const Limits& limits,
                   std::unique_ptr<common::DirectoryLock> lock,
                   std::unique_ptr<store::ModelStore> model_store,
                   std::unique_ptr<store::DatasetStore> dataset_store)
    : lock_(std::move(lock)),
      model_store_(std::move(model_store)),
      dataset_store_(std::move(dataset_store)),
      models_(limits, model_store_.get(), model_store_->LoadAll()),
      datasets_(limits, dataset_store_.get(), dataset_store_->LoadAll()) {}

namespace {

absl::Status ValidateLimits(const Limits& limits) {
  if (limits.keep_versions < 1 || limits.max_concurrent_trainings < 1 ||
      limits.max_parameters < 1 || limits.max_dataset_rows < 1 ||
      limits.max_dataset_bytes < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "limits must be >= 1, got keep_versions=", limits.keep_versions,
        " max_concurrent_trainings=", limits.max_concurrent_trainings,
        " max_parameters=", limits.max_parameters,
        " max_dataset_rows=", limits.max_dataset_rows,
        " max_dataset_bytes=", limits.max_dataset_bytes));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Registry>> Registry::Open(
    const std::string& data_dir, const Limits& limits) {
  MLP_RETURN_IF_ERROR(ValidateLimits(limits));
  MLP_ASSIGN_OR_RETURN(std::unique_ptr<common::DirectoryLock> dir_lock,
                       common::DirectoryLock::Acquire(data_dir));
  MLP_ASSIGN_OR_RETURN(std::unique_ptr<store::ModelStore> model_store,
                       store::ModelStore::Open(data_dir));
  MLP_ASSIGN_OR_RETURN(std::unique_ptr<store::DatasetStore> dataset_store,
                       store::DatasetStore::Open(data_dir));
  std::unique_ptr<Registry> registry(new Registry(limits, std::move(dir_lock),
                                                  std::move(model_store),
                                                  std::move(dataset_store)));
  MLP_LOG(INFO) << "data directory '" << data_dir
                << "': " << registry->models_.size() << " models, "
                << registry->datasets_.size() << " datasets";
  return registry;
}

absl::StatusOr<std::unique_ptr<Registry>> Registry::OpenReplica(
    const std::string& data_dir, const Limits& limits,
    absl::Duration poll_interval) {
  MLP_RETURN_IF_ERROR(ValidateLimits(limits));
  if (poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the poll interval must be > 0, got ",
                     absl::FormatDuration(poll_interval)));
  }
  std::unique_ptr<Registry> registry(
      new Registry(limits, nullptr, store::ModelStore::OpenReadOnly(data_dir),
                   store::DatasetStore::OpenReadOnly(data_dir)));
  registry->follower_ = std::make_unique<RepositoryFollower>(
      registry->model_store_.get(), registry->dataset_store_.get(),
      &registry->models_, &registry->datasets_, poll_interval);
  MLP_LOG(INFO) << "data directory '" << data_dir
                << "': read-only replica, following its primary";
  return registry;
}

}  // namespace mlp::registry
