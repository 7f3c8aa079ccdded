#include "server/registry/model_catalog.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/common/escape.h"
#include "server/common/log.h"
#include "server/common/random_seed.h"
#include "server/registry/store_errors.h"
#include "server/registry/store_records.h"

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
  std::deque<std::shared_ptr<const ModelVersion>> versions ABSL_GUARDED_BY(mu);
  // Set while a training holds its lease.
  std::shared_ptr<common::CancelSignal> training_cancel ABSL_GUARDED_BY(mu);
  bool deleted ABSL_GUARDED_BY(mu) = false;
};

namespace {

ModelSnapshot Snapshot(ModelEntry& entry) {
  absl::MutexLock lock(&entry.mu);
  const ModelVersion& latest = *entry.versions.back();
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

absl::Status NotFound(const std::string& name) {
  // Any string a caller sent: quoted escaped and bounded.
  return absl::NotFoundError(
      absl::StrCat("model ", common::Quote(name), " not found"));
}

}  // namespace

// ---------------------------------------------------------------- leases

TrainingLease::~TrainingLease() { catalog_->EndTraining(*entry_); }

absl::StatusOr<uint64_t> TrainingLease::Commit(
    engine::Network network, const TrainingSummary& summary,
    const std::atomic<bool>* abandoned) {
  return catalog_->Commit(*entry_, std::move(network), summary, abandoned);
}

// --------------------------------------------------------------- catalog

ModelCatalog::ModelCatalog(const Limits& limits, store::ModelStore* store,
                           std::vector<store::ModelRecord> records)
    : limits_(limits), store_(store) {
  absl::MutexLock lock(&mu_);
  for (store::ModelRecord& record : records) {
    auto entry = std::make_shared<ModelEntry>(record.name, record.created_at);
    absl::MutexLock entry_lock(&entry->mu);
    for (store::VersionRecord& v : record.versions) {
      entry->versions.push_back(std::make_shared<const ModelVersion>(
          internal::FromRecord(std::move(v))));
    }
    models_.emplace(record.name, std::move(entry));
  }
}

ModelCatalog::~ModelCatalog() = default;

size_t ModelCatalog::size() const {
  absl::MutexLock lock(&mu_);
  return models_.size();
}

absl::StatusOr<std::shared_ptr<ModelEntry>> ModelCatalog::Find(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return NotFound(name);
  return it->second;
}

absl::StatusOr<ModelSnapshot> ModelCatalog::CreateModel(
    const std::string& name, engine::NetworkSpec spec) {
  MLP_RETURN_IF_ERROR(CheckWritable(store_->read_only(), "create models"));
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
    if (!busy_names_.insert(name).second) {
      return absl::FailedPreconditionError(absl::StrCat(
          "model '", name, "' is being created or deleted; retry"));
    }
  }
  if (spec.seed == 0) spec.seed = common::RandomSeed();
  absl::StatusOr<engine::Network> network = engine::Network::Create(spec);
  std::shared_ptr<ModelEntry> entry;
  absl::Status status = network.status();
  if (status.ok()) {
    auto first = std::make_shared<ModelVersion>();
    first->version = 1;
    first->committed_at = absl::Now();
    first->network =
        std::make_shared<const engine::Network>(*std::move(network));
    entry = std::make_shared<ModelEntry>(name, first->committed_at);
    status = store_->CreateModel(name, entry->created_at,
                                 internal::ToRecord(*first));
    if (!status.ok()) {
      status = StoreErrorForCaller(
          status, absl::StrCat("cannot create model ", common::Quote(name)));
    }
    absl::MutexLock entry_lock(&entry->mu);
    entry->versions.push_back(std::move(first));
  }
  {
    absl::MutexLock lock(&mu_);
    busy_names_.erase(name);
    if (status.ok()) models_.emplace(name, entry);
  }
  MLP_RETURN_IF_ERROR(status);
  return Snapshot(*entry);
}

absl::StatusOr<ModelSnapshot> ModelCatalog::GetModel(
    const std::string& name) const {
  MLP_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, Find(name));
  return Snapshot(*entry);
}

std::vector<ModelSnapshot> ModelCatalog::ListModels() const {
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

absl::Status ModelCatalog::DeleteModel(const std::string& name) {
  MLP_RETURN_IF_ERROR(CheckWritable(store_->read_only(), "delete models"));
  std::shared_ptr<ModelEntry> entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return NotFound(name);
    entry = it->second;
    models_.erase(it);
    busy_names_.insert(name);
  }
  absl::Status status;
  {
    // Under commit_mu no Commit can interleave; the training is cancelled
    // only once the files are gone, so a failed delete changes nothing.
    absl::MutexLock commit_lock(&entry->commit_mu);
    status = store_->DeleteModel(name);
    if (!status.ok()) {
      status = StoreErrorForCaller(
          status, absl::StrCat("cannot delete model ", common::Quote(name)));
    }
    if (status.ok()) {
      absl::MutexLock lock(&entry->mu);
      entry->deleted = true;
      if (entry->training_cancel) entry->training_cancel->Cancel();
    }
  }
  absl::MutexLock lock(&mu_);
  busy_names_.erase(name);
  if (!status.ok()) models_.emplace(name, entry);  // still on disk: keep it
  return status;
}

absl::StatusOr<std::shared_ptr<const ModelVersion>> ModelCatalog::GetVersion(
    const std::string& name, uint64_t version) const {
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

absl::StatusOr<std::unique_ptr<TrainingLease>> ModelCatalog::BeginTraining(
    const std::string& name) {
  MLP_RETURN_IF_ERROR(CheckWritable(store_->read_only(), "train"));
  absl::MutexLock lock(&mu_);
  if (shutting_down_) {
    return absl::UnavailableError("server is shutting down");
  }
  auto it = models_.find(name);
  if (it == models_.end()) return NotFound(name);
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
  entry.training_cancel = std::make_shared<common::CancelSignal>();
  return std::unique_ptr<TrainingLease>(new TrainingLease(
      this, it->second, entry.versions.back(), entry.training_cancel));
}

void ModelCatalog::CancelAllTrainings() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  for (const auto& [name, entry] : models_) {
    absl::MutexLock entry_lock(&entry->mu);
    if (entry->training_cancel) entry->training_cancel->Cancel();
  }
}

absl::StatusOr<uint64_t> ModelCatalog::Commit(
    ModelEntry& entry, engine::Network network, const TrainingSummary& summary,
    const std::atomic<bool>* abandoned) {
  const auto check_abandoned = [&]() -> absl::Status {
    if (abandoned != nullptr && abandoned->load()) {
      return absl::CancelledError(absl::StrCat(
          "training of '", entry.name, "' was cancelled by the caller"));
    }
    return absl::OkStatus();
  };
  MLP_RETURN_IF_ERROR(check_abandoned());  // before writing anything
  absl::MutexLock commit_lock(&entry.commit_mu);
  uint64_t latest;
  {
    absl::MutexLock lock(&entry.mu);
    if (entry.deleted) {
      return absl::CancelledError(
          absl::StrCat("model '", entry.name, "' was deleted"));
    }
    latest = entry.versions.back()->version;
  }
  auto version = std::make_shared<ModelVersion>();
  version->version = latest + 1;
  version->committed_at = absl::Now();
  version->summary = summary;
  version->network =
      std::make_shared<const engine::Network>(std::move(network));
  // The caller's cancel is checked last just before the rename that makes
  // the version durable: one that lands before it leaves only a temp file
  // (removed), one that lands after it is too late and the version stands.
  bool called_off = false;
  if (absl::Status written =
          store_->WriteVersion(entry.name, internal::ToRecord(*version),
                               [&]() -> absl::Status {
                                 absl::Status abandoned_now = check_abandoned();
                                 called_off = !abandoned_now.ok();
                                 return abandoned_now;
                               });
      !written.ok()) {
    if (called_off) return written;  // the caller's cancel, as is
    return StoreErrorForCaller(
        written, absl::StrCat("cannot store version ", version->version,
                              " of model ", common::Quote(entry.name)));
  }
  std::vector<uint64_t> pruned;
  {
    absl::MutexLock lock(&entry.mu);
    entry.versions.push_back(version);
    while (entry.versions.size() > static_cast<size_t>(limits_.keep_versions)) {
      pruned.push_back(entry.versions.front()->version);
      entry.versions.pop_front();
    }
  }
  for (uint64_t v : pruned) {
    if (absl::Status s = store_->DeleteVersion(entry.name, v); !s.ok()) {
      MLP_LOG(WARNING) << "model '" << entry.name << "': cannot prune version "
                       << v << ": " << s.message();
    }
  }
  return version->version;
}

void ModelCatalog::Mirror(
    const std::string& name, absl::Time created_at,
    std::vector<std::shared_ptr<const ModelVersion>> versions) {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it != models_.end() && it->second->created_at == created_at) {
    absl::MutexLock entry_lock(&it->second->mu);
    it->second->versions.assign(versions.begin(), versions.end());
    return;
  }
  auto entry = std::make_shared<ModelEntry>(name, created_at);
  {
    absl::MutexLock entry_lock(&entry->mu);
    entry->versions.assign(versions.begin(), versions.end());
  }
  models_[name] = std::move(entry);
}

void ModelCatalog::Forget(const std::string& name) {
  absl::MutexLock lock(&mu_);
  models_.erase(name);
}

void ModelCatalog::EndTraining(ModelEntry& entry) {
  absl::MutexLock lock(&mu_);
  --active_trainings_;
  absl::MutexLock entry_lock(&entry.mu);
  entry.training_cancel.reset();
}

}  // namespace mlp::registry
