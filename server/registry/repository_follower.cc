#include "server/registry/repository_follower.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/common/escape.h"
#include "server/common/log.h"
#include "server/registry/store_records.h"

namespace mlp::registry {
namespace {

// Passes started by notifications are at least this far apart (and at least
// one pass's duration), so a burst of changes costs a bounded share of a core.
constexpr absl::Duration kMinGapAfterNotification = absl::Milliseconds(25);

std::string VersionName(const std::string& model, uint64_t version) {
  return absl::StrCat("model ", common::Quote(model), " version ", version);
}

}  // namespace

RepositoryFollower::RepositoryFollower(const store::ModelStore* model_store,
                                       const store::DatasetStore* dataset_store,
                                       ModelCatalog* models,
                                       DatasetCatalog* datasets,
                                       absl::Duration poll_interval,
                                       bool start_thread)
    : model_store_(model_store),
      dataset_store_(dataset_store),
      models_(models),
      datasets_(datasets),
      poll_interval_(poll_interval) {
  absl::StatusOr<std::unique_ptr<common::DirectoryWatch>> watch =
      common::DirectoryWatch::Create();
  if (watch.ok()) {
    watch_ = *std::move(watch);
  } else {
    MLP_LOG(WARNING) << "no change notification (" << watch.status().message()
                     << "): following the repository by polling only";
  }
  if (start_thread) thread_ = std::thread([this] { Run(); });
}

RepositoryFollower::~RepositoryFollower() { Stop(); }

void RepositoryFollower::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (watch_ != nullptr) watch_->Wake();
  absl::MutexLock lock(&join_mu_);
  if (thread_.joinable()) thread_.join();
}

void RepositoryFollower::Run() {
  while (true) {
    const absl::Time started = absl::Now();
    (void)SyncOnce();  // reports its own failures
    const absl::Duration took = absl::Now() - started;
    bool notified = false;
    if (watch_ != nullptr) {
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
      }
      notified = watch_->Wait(poll_interval_);
    }
    absl::MutexLock lock(&mu_);
    if (watch_ == nullptr) {
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), poll_interval_);
    } else if (notified) {
      mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                           std::max(kMinGapAfterNotification, took));
    }
    if (stopping_) return;
  }
}

absl::Status RepositoryFollower::SyncOnce() {
  std::vector<std::function<void()>> callbacks;
  absl::Status status;
  {
    absl::MutexLock sync_lock(&sync_mu_);
    reported_now_.clear();
    status = SyncModels();
    if (status.ok()) status = SyncDatasets();
    if (status.ok()) {
      reported_.swap(reported_now_);
    } else {
      // Keep what was reported: a failed pass read too little to tell.
      for (auto& [what, why] : reported_now_) reported_[what] = why;
    }
    if (!status.ok() && status.ToString() != last_failure_) {
      MLP_LOG(WARNING) << "cannot follow the repository: " << status.message()
                       << "; retrying every "
                       << absl::FormatDuration(poll_interval_);
      last_failure_ = status.ToString();
    } else if (status.ok() && !last_failure_.empty()) {
      MLP_LOG(INFO) << "following the repository again";
      last_failure_.clear();
    }
    absl::MutexLock lock(&mu_);
    if (status.ok()) {
      ++stats_.passes;
      stats_.last_pass = absl::Now();
      stats_.unreadable_files = static_cast<int>(reported_.size());
      if (!loaded_.load(std::memory_order_relaxed)) {
        loaded_.store(true, std::memory_order_release);
        callbacks.swap(on_loaded_);
        MLP_LOG(INFO) << "repository loaded: " << known_models_.size()
                      << " models, " << known_datasets_.size()
                      << " datasets; following it every "
                      << absl::FormatDuration(poll_interval_)
                      << (watch_ != nullptr ? " and on change notifications"
                                            : "");
      }
    } else {
      ++stats_.failed_passes;
    }
  }
  for (auto& callback : callbacks) callback();
  return status;
}

void RepositoryFollower::OnLoaded(std::function<void()> callback) {
  {
    absl::MutexLock lock(&mu_);
    if (!loaded_.load(std::memory_order_relaxed)) {
      on_loaded_.push_back(std::move(callback));
      return;
    }
  }
  callback();
}

FollowerStats RepositoryFollower::stats() const {
  absl::MutexLock lock(&mu_);
  FollowerStats out = stats_;
  out.loaded = loaded();
  out.notification = watch_ != nullptr;
  return out;
}

void RepositoryFollower::Report(
    const std::string& what, const absl::Status& why,
    std::vector<std::pair<std::string, std::string>>* also) {
  const std::string text(why.message());
  if (also != nullptr) also->emplace_back(what, text);
  auto it = reported_.find(what);
  if (it == reported_.end() || it->second != text) {
    MLP_LOG(WARNING) << "skipping " << what << " for now: " << text
                     << " (read again at every pass)";
  }
  reported_now_[what] = text;
}

void RepositoryFollower::Watch(const std::string& dir) {
  if (watch_ == nullptr) return;
  absl::Status watched = watch_->Watch(dir);
  if (!watched.ok() && !absl::IsNotFound(watched) && !watch_failed_) {
    MLP_LOG(WARNING) << "change notification incomplete (" << watched.message()
                     << "): changes there are seen at the next poll";
    watch_failed_ = true;
  }
}

absl::Status RepositoryFollower::SyncModels() {
  MLP_ASSIGN_OR_RETURN(std::vector<store::ModelListing> listing,
                       model_store_->List());
  Watch(model_store_->models_dir());
  std::set<std::string> present;
  for (const store::ModelListing& model : listing) {
    present.insert(model.name);
    SyncModel(model);
  }
  for (auto it = known_models_.begin(); it != known_models_.end();) {
    if (present.count(it->first) != 0) {
      ++it;
      continue;
    }
    models_->Forget(it->first);
    it = known_models_.erase(it);
  }
  return absl::OkStatus();
}

void RepositoryFollower::SyncModel(const store::ModelListing& listing) {
  const std::string& name = listing.name;
  auto known = known_models_.find(name);
  const bool same_directory =
      known != known_models_.end() &&
      known->second.directory_id == listing.directory_id;
  if (same_directory &&
      known->second.directory_changed_ns == listing.directory_changed_ns &&
      known->second.versions.size() == listing.versions.size() &&
      std::equal(
          listing.versions.begin(), listing.versions.end(),
          known->second.versions.begin(),
          [](uint64_t v, const auto& entry) { return v == entry.first; })) {
    // Nothing changed; what could not be read still cannot.
    for (const auto& [what, why] : known->second.problems) {
      reported_now_[what] = why;
    }
    return;
  }
  if (!same_directory) {
    Watch((std::filesystem::path(model_store_->models_dir()) / name).string());
  }
  KnownModel next;
  next.directory_id = listing.directory_id;
  next.directory_changed_ns = listing.directory_changed_ns;
  absl::StatusOr<absl::Time> created_at = model_store_->ReadCreatedAt(name);
  if (absl::IsNotFound(created_at.status())) return;  // deleted meanwhile
  if (!created_at.ok()) {
    Report(absl::StrCat("model ", common::Quote(name), "'s creation time"),
           created_at.status(), &next.problems);
  }
  // The same model (its versions may be reused) unless it was created anew.
  const bool same_model =
      known != known_models_.end() &&
      (created_at.ok() ? *created_at == known->second.created_at
                       : same_directory);
  for (uint64_t v : listing.versions) {
    if (same_model) {
      auto loaded = known->second.versions.find(v);
      if (loaded != known->second.versions.end()) {
        next.versions.emplace(v, loaded->second);
        continue;
      }
    }
    absl::StatusOr<store::VersionRecord> record =
        model_store_->ReadVersion(name, v);
    if (absl::IsNotFound(record.status())) continue;  // pruned meanwhile
    if (!record.ok()) {
      Report(VersionName(name, v), record.status(), &next.problems);
      continue;
    }
    next.versions.emplace(v, std::make_shared<const ModelVersion>(
                                 internal::FromRecord(*std::move(record))));
  }
  if (next.versions.empty()) return;  // nothing to serve yet: next pass
  if (created_at.ok()) {
    next.created_at = *created_at;
  } else if (same_model) {
    next.created_at = known->second.created_at;
  } else {
    // As the primary does with an unreadable meta file.
    next.created_at = next.versions.begin()->second->committed_at;
  }
  std::vector<std::shared_ptr<const ModelVersion>> versions;
  versions.reserve(next.versions.size());
  for (const auto& [v, version] : next.versions) versions.push_back(version);
  models_->Mirror(name, next.created_at, std::move(versions));
  known_models_[name] = std::move(next);
}

absl::Status RepositoryFollower::SyncDatasets() {
  MLP_ASSIGN_OR_RETURN(std::vector<store::DatasetFile> listing,
                       dataset_store_->List());
  Watch(dataset_store_->directory());
  std::map<std::string, KnownDataset> next;
  bool changed = listing.size() != known_datasets_.size();
  for (const store::DatasetFile& file : listing) {
    auto known = known_datasets_.find(file.name);
    if (known != known_datasets_.end() &&
        known->second.file_id == file.file_id &&
        known->second.size_bytes == file.size_bytes) {
      next.emplace(file.name, known->second);
      continue;
    }
    changed = true;
    absl::StatusOr<store::DatasetMeta> meta =
        dataset_store_->ReadMeta(file.name);
    if (absl::IsNotFound(meta.status())) continue;  // deleted meanwhile
    if (!meta.ok()) {
      Report(absl::StrCat("dataset ", common::Quote(file.name)), meta.status());
      continue;
    }
    next.emplace(file.name, KnownDataset{file.file_id, file.size_bytes,
                                         internal::FromMeta(*meta)});
  }
  if (!changed) return absl::OkStatus();
  std::vector<DatasetInfo> infos;
  infos.reserve(next.size());
  for (const auto& [name, dataset] : next) infos.push_back(dataset.info);
  datasets_->Mirror(std::move(infos));
  known_datasets_.swap(next);
  return absl::OkStatus();
}

}  // namespace mlp::registry
