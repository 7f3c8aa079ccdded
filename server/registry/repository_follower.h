// RepositoryFollower: how a replica keeps its catalogs equal to a data
// directory that a primary mlp-server writes (docs/scaling.md).
//
// A pass lists models/ and datasets/ and brings the catalogs to what they
// hold: new models and versions are read and published, pruned versions and
// deleted models dropped (a call that holds a dropped version finishes with
// it), datasets listed. Only what changed is read: a version already loaded
// is never read again, and a model directory whose inode and status-change
// time are the same keeps its creation time. A file that cannot be read
// (being replaced, corrupt) is skipped, logged once and counted, and read
// again at every pass until it loads or disappears. Nothing is ever written.
//
// Passes run on the follower's own thread: one at start, then every
// `poll_interval`, and as soon as inotify reports a change in a watched
// directory (models/, each model's directory, datasets/). Notification is
// an accelerator only: network file systems deliver none, so the poll is
// what bounds the lag.
//
// Thread-safety: stats() and OnLoaded from any thread; SyncOnce is
// serialised with the follower's own passes.
#ifndef MLP_SERVER_REGISTRY_REPOSITORY_FOLLOWER_H_
#define MLP_SERVER_REGISTRY_REPOSITORY_FOLLOWER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/directory_watch.h"
#include "server/registry/dataset_catalog.h"
#include "server/registry/model_catalog.h"
#include "server/store/dataset_store.h"
#include "server/store/model_store.h"

namespace mlp::registry {

struct FollowerStats {
  uint64_t passes = 0;         // complete passes
  uint64_t failed_passes = 0;  // the repository could not be listed
  // Files skipped by the last pass because they could not be read.
  int unreadable_files = 0;
  bool loaded = false;        // a complete pass has happened
  absl::Time last_pass;       // end of the last complete pass
  bool notification = false;  // inotify is watching
};

class RepositoryFollower {
 public:
  // Follows the stores (read-only ones) into the catalogs; all must outlive
  // the follower. `start_thread` false: passes run only through SyncOnce
  // (tests).
  RepositoryFollower(const store::ModelStore* model_store,
                     const store::DatasetStore* dataset_store,
                     ModelCatalog* models, DatasetCatalog* datasets,
                     absl::Duration poll_interval, bool start_thread = true);
  // Stops and joins the thread.
  ~RepositoryFollower();
  RepositoryFollower(const RepositoryFollower&) = delete;
  RepositoryFollower& operator=(const RepositoryFollower&) = delete;

  // One pass. OK when the repository was listed whole (files that could not
  // be read are reported and retried); the listing's error otherwise, with
  // the catalogs unchanged.
  absl::Status SyncOnce();

  // Runs `callback` once the first complete pass has happened: at once (on
  // this thread) if it has, else on the follower's thread after it.
  void OnLoaded(std::function<void()> callback);

  FollowerStats stats() const;
  // Whether a complete pass has happened (cheap: for every call).
  bool loaded() const { return loaded_.load(std::memory_order_acquire); }

  // Stops following and joins the thread; no OnLoaded callback runs after
  // it returns. Idempotent; the catalogs keep what they hold.
  void Stop();

 private:
  struct KnownModel {
    uint64_t directory_id = 0;
    int64_t directory_changed_ns = 0;
    absl::Time created_at;
    std::map<uint64_t, std::shared_ptr<const ModelVersion>> versions;
    // What could not be read, reported again while the directory is as is.
    std::vector<std::pair<std::string, std::string>> problems;
  };
  struct KnownDataset {
    uint64_t file_id = 0;
    uint64_t size_bytes = 0;
    DatasetInfo info;
  };

  void Run();
  // Brings one listed model up to date in known_ and the catalog.
  void SyncModel(const store::ModelListing& listing)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  absl::Status SyncModels() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  absl::Status SyncDatasets() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  // Logs `why` for `what` unless the same was logged last pass; counted in
  // stats().unreadable_files.
  // `also`, if set, gets the same entry.
  void Report(const std::string& what, const absl::Status& why,
              std::vector<std::pair<std::string, std::string>>* also = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  void Watch(const std::string& dir) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);

  const store::ModelStore* const model_store_;
  const store::DatasetStore* const dataset_store_;
  ModelCatalog* const models_;
  DatasetCatalog* const datasets_;
  const absl::Duration poll_interval_;
  std::unique_ptr<common::DirectoryWatch> watch_;  // null: poll only

  absl::Mutex sync_mu_;  // one pass at a time
  std::map<std::string, KnownModel> known_models_ ABSL_GUARDED_BY(sync_mu_);
  std::map<std::string, KnownDataset> known_datasets_ ABSL_GUARDED_BY(sync_mu_);
  // What could not be read at the last pass ("model 'x' version 3") and why.
  std::map<std::string, std::string> reported_ ABSL_GUARDED_BY(sync_mu_);
  std::map<std::string, std::string> reported_now_ ABSL_GUARDED_BY(sync_mu_);
  bool watch_failed_ ABSL_GUARDED_BY(sync_mu_) = false;
  std::string last_failure_ ABSL_GUARDED_BY(sync_mu_);

  mutable absl::Mutex mu_;
  // The counts; stats() adds `loaded` and `notification`, read from loaded_
  // and watch_.
  FollowerStats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> on_loaded_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set once, under mu_ (so OnLoaded and the first pass agree); read
  // without it by every call (loaded()).
  std::atomic<bool> loaded_{false};

  absl::Mutex join_mu_;  // Stop from several threads
  std::thread thread_;   // last: started once everything above exists
};

}  // namespace mlp::registry

#endif  // MLP_SERVER_REGISTRY_REPOSITORY_FOLLOWER_H_
