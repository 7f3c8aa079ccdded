#include "server/registry/registry.h"

#include <deque>
#include <random>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/common/log.h"

namespace mlp::registry {

// One model's state. Lives as long as anyone holds it (a lease, a request).
struct ModelEntry {
  ModelEntry(std::string name, absl::Time created_at)
      : name(std::move(name)), created_at(created_at) {}

  // Constant after construction.
  const std::string name;
  const absl::Time created_at;

  // Held while a version is written or the model's files are removed, so a
  // commit and a deletion never interleave. Readers never take it.
  absl::Mutex commit_mu ABSL_ACQUIRED_BEFORE(mu);

  absl::Mutex mu;
  // Committed versions kept, ascending; never empty.
  std::deque<std::shared_ptr<const store::VersionRecord>> versions
      ABSL_GUARDED_BY(mu);
  // Set while a training holds its lease.
  std::shared_ptr<std::atomic<bool>> training_cancel ABSL_GUARDED_BY(mu);
  bool deleted ABSL_GUARDED_BY(mu) = false;
};

namespace {

ModelSnapshot Snapshot(ModelEntry& entry) {
  absl::MutexLock lock(&entry.mu);
  const store::VersionRecord& latest = *entry.versions.back();
  ModelSnapshot out;
  out.name = entry.name;
  out.spec = latest.network->spec();
  out.created_at = entry.created_at;
  out.updated_at = latest.committed_at;
  out.version = latest.version;
  out.training = entry.training_cancel != nullptr;
  for (const auto& v : entry.versions) {
    out.available_versions.push_back(v->version);
    if (v->summary.has_value()) out.last_training = v->summary;
  }
  return out;
}

uint64_t RandomSeed() {
  std::random_device device;
  uint64_t seed = 0;
  while (seed == 0) seed = (uint64_t{device()} << 32) | device();
  return seed;
}

}  // namespace

absl::Status ValidateName(absl::string_view name, absl::string_view field) {
  if (name.empty() || name.size() > 63) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be 1-63 characters, got ", name.size()));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (alnum || (i > 0 && (c == '.' || c == '_' || c == '-'))) continue;
    return absl::InvalidArgumentError(absl::StrCat(
        field, " '", name, "' has '", std::string(1, c), "' at position ", i,
        "; expected [a-z0-9] first, then [a-z0-9._-]"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- leases

TrainingLease::~TrainingLease() { registry_->EndTraining(*entry_); }

const std::string& TrainingLease::model_name() const { return entry_->name; }

absl::StatusOr<uint64_t> TrainingLease::Commit(
    engine::Network network, const store::TrainingSummary& summary,
    const std::atomic<bool>* abandoned) {
  const auto check_abandoned = [&]() -> absl::Status {
    if (abandoned != nullptr && abandoned->load()) {
      return absl::CancelledError(absl::StrCat(
          "training of '", entry_->name, "' was cancelled by the caller"));
    }
    return absl::OkStatus();
  };
  MLP_RETURN_IF_ERROR(check_abandoned());  // before writing anything
  absl::MutexLock commit_lock(&entry_->commit_mu);
  uint64_t latest;
  {
    absl::MutexLock lock(&entry_->mu);
    if (entry_->deleted) {
      return absl::CancelledError(
          absl::StrCat("model '", entry_->name, "' was deleted"));
    }
    latest = entry_->versions.back()->version;
  }
  auto record = std::make_shared<store::VersionRecord>();
  record->version = latest + 1;
  record->committed_at = absl::Now();
  record->summary = summary;
  record->network = std::make_shared<const engine::Network>(std::move(network));
  // The caller's cancel is checked last just before the rename that makes
  // the version durable: one that lands before it leaves only a temp file
  // (removed), one that lands after it is too late and the version stands.
  MLP_RETURN_IF_ERROR(registry_->model_store_->WriteVersion(
      entry_->name, *record, check_abandoned));
  std::vector<uint64_t> pruned;
  {
    absl::MutexLock lock(&entry_->mu);
    entry_->versions.push_back(record);
    while (entry_->versions.size() >
           static_cast<size_t>(registry_->limits_.keep_versions)) {
      pruned.push_back(entry_->versions.front()->version);
      entry_->versions.pop_front();
    }
  }
  for (uint64_t version : pruned) {
    if (absl::Status s =
            registry_->model_store_->DeleteVersion(entry_->name, version);
        !s.ok()) {
      MLP_LOG(WARNING) << "model '" << entry_->name
                       << "': cannot prune version " << version << ": "
                       << s.message();
    }
  }
  return record->version;
}

void Registry::EndTraining(ModelEntry& entry) {
  absl::MutexLock lock(&mu_);
  --active_trainings_;
  absl::MutexLock entry_lock(&entry.mu);
  entry.training_cancel.reset();
}

// --------------------------------------------------------------- uploads

DatasetUpload::~DatasetUpload() {
  if (writer_ != nullptr) registry_->EndUpload(name_, std::nullopt);
}

absl::Status DatasetUpload::Append(const float* inputs, const float* targets,
                                   uint64_t n) {
  const uint64_t limit = registry_->limits_.max_dataset_rows;
  if (writer_->rows() + n > limit) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "dataset '", name_, "' would have ", writer_->rows() + n,
        " rows, over the server's limit of ", limit, " (--max_dataset_rows)"));
  }
  return writer_->Append(inputs, targets, n);
}

absl::StatusOr<store::DatasetMeta> DatasetUpload::Commit() {
  if (writer_->rows() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset '", name_,
                     "' has no rows: send chunks after "
                     "the header"));
  }
  MLP_ASSIGN_OR_RETURN(store::DatasetMeta meta, writer_->Commit());
  writer_.reset();
  registry_->EndUpload(name_, meta);
  return meta;
}

void Registry::EndUpload(const std::string& name,
                         std::optional<store::DatasetMeta> committed) {
  absl::MutexLock lock(&mu_);
  uploading_.erase(name);
  if (committed.has_value()) datasets_[name] = *std::move(committed);
}

// -------------------------------------------------------------- registry

Registry::Registry(Limits limits, std::unique_ptr<store::DirectoryLock> lock,
                   std::unique_ptr<store::ModelStore> models,
                   std::unique_ptr<store::DatasetStore> datasets)
    : limits_(limits),
      lock_(std::move(lock)),
      model_store_(std::move(models)),
      dataset_store_(std::move(datasets)) {}

Registry::~Registry() = default;

absl::StatusOr<std::unique_ptr<Registry>> Registry::Open(
    const std::string& data_dir, const Limits& limits) {
  if (limits.keep_versions < 1 || limits.max_concurrent_trainings < 1 ||
      limits.max_parameters < 1 || limits.max_dataset_rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "limits must be >= 1, got keep_versions=", limits.keep_versions,
        " max_concurrent_trainings=", limits.max_concurrent_trainings,
        " max_parameters=", limits.max_parameters,
        " max_dataset_rows=", limits.max_dataset_rows));
  }
  MLP_ASSIGN_OR_RETURN(std::unique_ptr<store::DirectoryLock> dir_lock,
                       store::DirectoryLock::Acquire(data_dir));
  MLP_ASSIGN_OR_RETURN(std::unique_ptr<store::ModelStore> models,
                       store::ModelStore::Open(data_dir));
  MLP_ASSIGN_OR_RETURN(std::unique_ptr<store::DatasetStore> datasets,
                       store::DatasetStore::Open(data_dir));
  std::unique_ptr<Registry> registry(new Registry(
      limits, std::move(dir_lock), std::move(models), std::move(datasets)));
  absl::MutexLock lock(&registry->mu_);
  for (store::ModelRecord& record : registry->model_store_->LoadAll()) {
    auto entry = std::make_shared<ModelEntry>(record.name, record.created_at);
    absl::MutexLock entry_lock(&entry->mu);
    for (store::VersionRecord& v : record.versions) {
      entry->versions.push_back(
          std::make_shared<const store::VersionRecord>(std::move(v)));
    }
    registry->models_.emplace(record.name, std::move(entry));
  }
  for (store::DatasetMeta& meta : registry->dataset_store_->LoadAll()) {
    registry->datasets_.emplace(meta.name, std::move(meta));
  }
  MLP_LOG(INFO) << "data directory '" << data_dir
                << "': " << registry->models_.size() << " models, "
                << registry->datasets_.size() << " datasets";
  return registry;
}

absl::StatusOr<std::shared_ptr<ModelEntry>> Registry::Find(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' not found"));
  }
  return it->second;
}

absl::StatusOr<ModelSnapshot> Registry::CreateModel(const std::string& name,
                                                    engine::NetworkSpec spec) {
  MLP_RETURN_IF_ERROR(ValidateName(name, "name"));
  MLP_RETURN_IF_ERROR(engine::ValidateSpec(spec));
  const int64_t parameters = engine::ParameterCount(spec);
  if (parameters > limits_.max_parameters) {
    return absl::ResourceExhaustedError(
        absl::StrCat("model '", name, "' has ", parameters,
                     " parameters, over the server's limit of ",
                     limits_.max_parameters, " (--max_parameters)"));
  }
  {
    absl::MutexLock lock(&mu_);
    if (models_.count(name) != 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("model '", name, "' already exists"));
    }
    if (!busy_model_names_.insert(name).second) {
      return absl::FailedPreconditionError(absl::StrCat(
          "model '", name, "' is being created or deleted; retry"));
    }
  }
  if (spec.seed == 0) spec.seed = RandomSeed();
  absl::StatusOr<engine::Network> network = engine::Network::Create(spec);
  std::shared_ptr<ModelEntry> entry;
  absl::Status status = network.status();
  if (status.ok()) {
    auto first = std::make_shared<store::VersionRecord>();
    first->version = 1;
    first->committed_at = absl::Now();
    first->network =
        std::make_shared<const engine::Network>(*std::move(network));
    entry = std::make_shared<ModelEntry>(name, first->committed_at);
    status = model_store_->CreateModel(name, entry->created_at, *first);
    absl::MutexLock entry_lock(&entry->mu);
    entry->versions.push_back(std::move(first));
  }
  {
    absl::MutexLock lock(&mu_);
    busy_model_names_.erase(name);
    if (status.ok()) models_.emplace(name, entry);
  }
  MLP_RETURN_IF_ERROR(status);
  return Snapshot(*entry);
}

absl::StatusOr<ModelSnapshot> Registry::GetModel(
    const std::string& name) const {
  MLP_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, Find(name));
  return Snapshot(*entry);
}

std::vector<ModelSnapshot> Registry::ListModels() const {
  std::vector<std::shared_ptr<ModelEntry>> entries;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, entry] : models_) entries.push_back(entry);
  }
  std::vector<ModelSnapshot> out;
  out.reserve(entries.size());
  for (const auto& entry : entries) out.push_back(Snapshot(*entry));
  return out;
}

absl::Status Registry::DeleteModel(const std::string& name) {
  std::shared_ptr<ModelEntry> entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it == models_.end()) {
      return absl::NotFoundError(absl::StrCat("model '", name, "' not found"));
    }
    entry = it->second;
    models_.erase(it);
    busy_model_names_.insert(name);
  }
  absl::Status status;
  {
    // Under commit_mu no Commit can interleave; the training is cancelled
    // only once the files are gone, so a failed delete changes nothing.
    absl::MutexLock commit_lock(&entry->commit_mu);
    status = model_store_->DeleteModel(name);
    if (status.ok()) {
      absl::MutexLock lock(&entry->mu);
      entry->deleted = true;
      if (entry->training_cancel) entry->training_cancel->store(true);
    }
  }
  absl::MutexLock lock(&mu_);
  busy_model_names_.erase(name);
  if (!status.ok()) models_.emplace(name, entry);  // still on disk: keep it
  return status;
}

absl::StatusOr<std::shared_ptr<const store::VersionRecord>>
Registry::GetVersion(const std::string& name, uint64_t version) const {
  MLP_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, Find(name));
  absl::MutexLock lock(&entry->mu);
  if (version == 0) return entry->versions.back();
  for (const auto& v : entry->versions) {
    if (v->version == version) return v;
  }
  return absl::NotFoundError(
      absl::StrCat("model '", name, "' has no version ", version,
                   " (kept: ", entry->versions.front()->version, " to ",
                   entry->versions.back()->version, ")"));
}

absl::StatusOr<std::unique_ptr<TrainingLease>> Registry::BeginTraining(
    const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) {
    return absl::UnavailableError("server is shutting down");
  }
  auto it = models_.find(name);
  if (it == models_.end()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' not found"));
  }
  ModelEntry& entry = *it->second;
  absl::MutexLock entry_lock(&entry.mu);
  if (entry.training_cancel != nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", name, "' is already training"));
  }
  if (active_trainings_ >= limits_.max_concurrent_trainings) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "server is running its maximum of ", limits_.max_concurrent_trainings,
        " concurrent trainings (--max_concurrent_trainings)"));
  }
  ++active_trainings_;
  entry.training_cancel = std::make_shared<std::atomic<bool>>(false);
  return std::unique_ptr<TrainingLease>(new TrainingLease(
      this, it->second, entry.versions.back(), entry.training_cancel));
}

void Registry::CancelAllTrainings() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  for (const auto& [name, entry] : models_) {
    absl::MutexLock entry_lock(&entry->mu);
    if (entry->training_cancel) entry->training_cancel->store(true);
  }
}

absl::StatusOr<std::unique_ptr<DatasetUpload>> Registry::BeginUpload(
    const std::string& name, uint32_t input_size, uint32_t target_size) {
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
      dataset_store_->BeginWrite(name, input_size, target_size);
  if (!writer.ok()) {
    EndUpload(name, std::nullopt);
    return writer.status();
  }
  return std::unique_ptr<DatasetUpload>(new DatasetUpload(
      this, name, input_size, target_size, *std::move(writer)));
}

std::vector<store::DatasetMeta> Registry::ListDatasets() const {
  absl::MutexLock lock(&mu_);
  std::vector<store::DatasetMeta> out;
  for (const auto& [name, meta] : datasets_) out.push_back(meta);
  return out;
}

absl::StatusOr<store::DatasetMeta> Registry::GetDataset(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = datasets_.find(name);
  if (it == datasets_.end()) {
    return absl::NotFoundError(absl::StrCat("dataset '", name, "' not found"));
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<const engine::Dataset>> Registry::LoadDataset(
    const std::string& name) {
  absl::Time created_at;
  {
    absl::MutexLock lock(&mu_);
    auto it = datasets_.find(name);
    if (it == datasets_.end()) {
      return absl::NotFoundError(
          absl::StrCat("dataset '", name, "' not found"));
    }
    created_at = it->second.created_at;
    if (auto cached = dataset_cache_[name].lock()) return cached;
  }
  // Read outside the lock: large files take a while. Two concurrent first
  // loads may both read; either result is the same rows.
  MLP_ASSIGN_OR_RETURN(engine::Dataset data, dataset_store_->Read(name));
  auto shared = std::make_shared<const engine::Dataset>(std::move(data));
  absl::MutexLock lock(&mu_);
  // Cache only if the name still means the dataset that was read: it may
  // have been deleted and uploaded again meanwhile.
  auto it = datasets_.find(name);
  if (it != datasets_.end() && it->second.created_at == created_at) {
    dataset_cache_[name] = shared;
  }
  return shared;
}

absl::Status Registry::DeleteDataset(const std::string& name) {
  store::DatasetMeta meta;
  {
    absl::MutexLock lock(&mu_);
    auto it = datasets_.find(name);
    if (it == datasets_.end()) {
      return absl::NotFoundError(
          absl::StrCat("dataset '", name, "' not found"));
    }
    meta = std::move(it->second);
    datasets_.erase(it);
    dataset_cache_.erase(name);
  }
  absl::Status status = dataset_store_->Delete(name);
  if (!status.ok() && !absl::IsNotFound(status)) {
    // The file is still there: keep listing it.
    absl::MutexLock lock(&mu_);
    datasets_.emplace(name, std::move(meta));
  }
  return status;
}

}  // namespace mlp::registry
