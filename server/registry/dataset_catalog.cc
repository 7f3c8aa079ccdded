#include "server/registry/dataset_catalog.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/common/escape.h"
#include "server/engine/network.h"
#include "server/registry/store_errors.h"
#include "server/registry/store_records.h"

namespace mlp::registry {
namespace {

absl::Status NotFound(const std::string& name) {
  // Any string a caller sent: quoted escaped and bounded.
  return absl::NotFoundError(
      absl::StrCat("dataset ", common::Quote(name), " not found"));
}

// What failed when an upload's store call fails (store_errors.h).
std::string StoreWhat(const std::string& name) {
  return absl::StrCat("cannot store dataset ", common::Quote(name));
}

}  // namespace

// --------------------------------------------------------------- uploads

DatasetUpload::~DatasetUpload() {
  if (writer_ != nullptr) catalog_->EndUpload(name_, std::nullopt);
}

absl::Status DatasetUpload::Append(const float* inputs, const float* targets,
                                   uint64_t n) {
  // n is bounded by a message's size: the sum cannot wrap.
  const uint64_t rows = writer_->rows() + n;
  if (rows > catalog_->max_rows_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("dataset '", name_, "' would have ", rows,
                     " rows, over the server's limit of ", catalog_->max_rows_,
                     " (--max_dataset_rows)"));
  }
  if (const uint64_t bytes = writer_->StoredBytes(rows);
      bytes > catalog_->max_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "dataset '", name_, "' would take ", bytes,
        " bytes on the server with these ", rows, " rows, over its limit of ",
        catalog_->max_bytes_, " bytes (--max_dataset_bytes)"));
  }
  if (absl::Status appended = writer_->Append(inputs, targets, n);
      !appended.ok()) {
    return StoreErrorForCaller(appended, StoreWhat(name_));
  }
  return absl::OkStatus();
}

absl::StatusOr<DatasetInfo> DatasetUpload::Commit() {
  if (writer_->rows() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset '", name_,
                     "' has no rows: send chunks after "
                     "the header"));
  }
  absl::StatusOr<store::DatasetMeta> meta = writer_->Commit();
  if (!meta.ok()) return StoreErrorForCaller(meta.status(), StoreWhat(name_));
  writer_.reset();
  DatasetInfo info = internal::FromMeta(*meta);
  catalog_->EndUpload(name_, info);
  return info;
}

// --------------------------------------------------------------- catalog

DatasetCatalog::DatasetCatalog(const Limits& limits, store::DatasetStore* store,
                               const std::vector<store::DatasetMeta>& stored)
    : max_rows_(limits.max_dataset_rows),
      max_bytes_(limits.max_dataset_bytes),
      store_(store) {
  absl::MutexLock lock(&mu_);
  for (const store::DatasetMeta& meta : stored) {
    datasets_.emplace(meta.name, internal::FromMeta(meta));
  }
}

size_t DatasetCatalog::size() const {
  absl::MutexLock lock(&mu_);
  return datasets_.size();
}

void DatasetCatalog::EndUpload(const std::string& name,
                               std::optional<DatasetInfo> committed) {
  absl::MutexLock lock(&mu_);
  uploading_.erase(name);
  if (committed.has_value()) datasets_[name] = *std::move(committed);
}

void DatasetCatalog::Mirror(std::vector<DatasetInfo> datasets) {
  std::map<std::string, DatasetInfo> fresh;
  for (DatasetInfo& info : datasets) {
    std::string name = info.name;
    fresh.emplace(std::move(name), std::move(info));
  }
  absl::MutexLock lock(&mu_);
  datasets_.swap(fresh);
}

absl::StatusOr<std::unique_ptr<DatasetUpload>> DatasetCatalog::BeginUpload(
    const std::string& name, uint32_t input_size, uint32_t target_size) {
  MLP_RETURN_IF_ERROR(CheckWritable(store_->read_only(), "store datasets"));
  MLP_RETURN_IF_ERROR(ValidateName(name, "header.name"));
  // No model takes rows wider than kMaxLayerWidth, and the writer allocates
  // one row up front: refuse absurd widths before any allocation.
  const uint32_t widest = static_cast<uint32_t>(engine::kMaxLayerWidth);
  if (input_size == 0 || input_size > widest) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header.input_size is ", input_size, ", expected 1 to ", widest));
  }
  if (target_size == 0 || target_size > widest) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header.target_size is ", target_size, ", expected 1 to ", widest));
  }
  {
    absl::MutexLock lock(&mu_);
    if (datasets_.count(name) != 0 || uploading_.count(name) != 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("dataset '", name, "' already exists"));
    }
    uploading_.insert(name);
  }
  absl::StatusOr<std::unique_ptr<store::DatasetWriter>> writer =
      store_->BeginWrite(name, input_size, target_size);
  if (!writer.ok()) {
    EndUpload(name, std::nullopt);
    return StoreErrorForCaller(writer.status(), StoreWhat(name));
  }
  return std::unique_ptr<DatasetUpload>(new DatasetUpload(
      this, name, input_size, target_size, *std::move(writer)));
}

std::vector<DatasetInfo> DatasetCatalog::ListDatasets() const {
  absl::MutexLock lock(&mu_);
  std::vector<DatasetInfo> out;
  for (const auto& [name, info] : datasets_) out.push_back(info);
  return out;
}

absl::StatusOr<DatasetInfo> DatasetCatalog::GetDataset(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = datasets_.find(name);
  if (it == datasets_.end()) return NotFound(name);
  return it->second;
}

absl::StatusOr<std::shared_ptr<const engine::Dataset>>
DatasetCatalog::LoadDataset(const std::string& name) {
  absl::Time created_at;
  {
    absl::MutexLock lock(&mu_);
    auto it = datasets_.find(name);
    if (it == datasets_.end()) return NotFound(name);
    created_at = it->second.created_at;
    if (auto cached = cache_[name].lock()) return cached;
  }
  // Read outside the lock: large files take a while. Two concurrent first
  // loads may both read; either result is the same rows.
  absl::StatusOr<engine::Dataset> data = store_->Read(name);
  if (!data.ok()) {
    // Deleted since it was looked up: the caller's unknown name after all.
    if (absl::IsNotFound(data.status())) return NotFound(name);
    return StoreErrorForCaller(
        data.status(),
        absl::StrCat("cannot read dataset ", common::Quote(name)));
  }
  auto shared = std::make_shared<const engine::Dataset>(*std::move(data));
  absl::MutexLock lock(&mu_);
  // Cache only if the name still means the dataset that was read: it may
  // have been deleted and uploaded again meanwhile.
  auto it = datasets_.find(name);
  if (it != datasets_.end() && it->second.created_at == created_at) {
    cache_[name] = shared;
  }
  return shared;
}

absl::Status DatasetCatalog::DeleteDataset(const std::string& name) {
  MLP_RETURN_IF_ERROR(CheckWritable(store_->read_only(), "delete datasets"));
  DatasetInfo info;
  {
    absl::MutexLock lock(&mu_);
    auto it = datasets_.find(name);
    if (it == datasets_.end()) return NotFound(name);
    info = std::move(it->second);
    datasets_.erase(it);
    cache_.erase(name);
  }
  const absl::Status status = store_->Delete(name);
  if (status.ok()) return status;
  if (absl::IsNotFound(status)) return NotFound(name);
  {
    // The file is still there: keep listing it.
    absl::MutexLock lock(&mu_);
    datasets_.emplace(name, std::move(info));
  }
  return StoreErrorForCaller(
      status, absl::StrCat("cannot delete dataset ", common::Quote(name)));
}

}  // namespace mlp::registry
