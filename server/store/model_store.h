// Models on disk, under <data_dir>/models/:
//
//   models/<name>/model.meta        creation time            (MLPM record)
//   models/<name>/v<000001>.ver     one committed version    (MLPV record:
//                                   version, commit time, training summary,
//                                   the serialised network)
//
// Every file is written atomically (server/common/file_io.h). A model is
// created by writing a complete directory under a temporary name (".new-...")
// and renaming it; it is deleted by renaming it to ".del-..." before removing
// it. Temporary directories start with '.', which no model name can, and files
// being written are named "<final>.tmp.<pid>-<n>"; both are removed when the
// store opens. Files that exist under a final name but cannot be
// read are moved to <data_dir>/quarantine/ and reported, never deleted.
//
// A read-only store (OpenReadOnly, for a replica that follows a primary's
// directory) never writes, renames or removes anything: it creates no
// directory, leaves temporaries and unreadable files where they are (callers
// report them), and its write methods are FAILED_PRECONDITION.
//
// Thread-safety: the store itself keeps no state beyond its paths; callers
// (the registry) serialise writes to one model.
#ifndef MLP_SERVER_STORE_MODEL_STORE_H_
#define MLP_SERVER_STORE_MODEL_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/engine/network.h"
#include "server/engine/train_options.h"

namespace mlp::store {

struct TrainingSummary {
  uint32_t epochs = 0;
  double final_loss = 0.0;
  engine::StopReason stop_reason = engine::StopReason::kMaxEpochs;
};

// One committed version of a model. Immutable once built.
struct VersionRecord {
  uint64_t version = 0;
  absl::Time committed_at;
  std::optional<TrainingSummary> summary;  // absent for the initial weights
  std::shared_ptr<const engine::Network> network;
};

struct ModelRecord {
  std::string name;
  absl::Time created_at;
  std::vector<VersionRecord> versions;  // ascending by version, >= 1 entry
};

// What a model directory holds now, read without opening its versions.
struct ModelListing {
  std::string name;
  // The directory's inode and status-change time (nanoseconds): both stay
  // the same until a version file is added or removed, or the model is
  // deleted and created again under the same name.
  uint64_t directory_id = 0;
  int64_t directory_changed_ns = 0;
  std::vector<uint64_t> versions;  // committed version files, ascending
};

class ModelStore {
 public:
  // Creates <data_dir>/models and quarantine if missing and removes leftover
  // temporary files. Errors: the file system's (see server/common/file_io.h).
  static absl::StatusOr<std::unique_ptr<ModelStore>> Open(
      const std::string& data_dir);

  // A store over a directory another process writes: nothing is created,
  // cleaned or moved. The directory need not exist yet (List reports it).
  static std::unique_ptr<ModelStore> OpenReadOnly(const std::string& data_dir);

  bool read_only() const { return read_only_; }
  // <data_dir>/models.
  const std::string& models_dir() const { return models_dir_; }

  // Every model that can be read. Unreadable files are moved to quarantine
  // and logged; a model with no readable version is moved there whole.
  // Not for a read-only store (it returns nothing).
  std::vector<ModelRecord> LoadAll();

  // Reading without side effects (a read-only store's way to load).
  // Every committed model directory and its version files, by name. NOT_FOUND
  // if models/ does not exist; the file system's errors.
  absl::StatusOr<std::vector<ModelListing>> List() const;
  // The model's creation time. NOT_FOUND, DATA_LOSS (unreadable meta file).
  absl::StatusOr<absl::Time> ReadCreatedAt(const std::string& name) const;
  // One committed version. NOT_FOUND (pruned, deleted), DATA_LOSS.
  absl::StatusOr<VersionRecord> ReadVersion(const std::string& name,
                                            uint64_t version) const;

  // Writes a new model directory with its first version, atomically.
  // ALREADY_EXISTS if the directory exists.
  absl::Status CreateModel(const std::string& name, absl::Time created_at,
                           const VersionRecord& first);
  // Writes one more version of an existing model. `before_rename` as in
  // common::WriteFileAtomically: it may still call the write off.
  absl::Status WriteVersion(
      const std::string& name, const VersionRecord& version,
      const std::function<absl::Status()>& before_rename = nullptr);
  // Removes one version's file (pruning). Missing files are fine.
  absl::Status DeleteVersion(const std::string& name, uint64_t version);
  // Removes the model's directory; durable once this returns.
  absl::Status DeleteModel(const std::string& name);

 private:
  ModelStore(std::string models_dir, std::string quarantine_dir, bool read_only)
      : models_dir_(std::move(models_dir)),
        quarantine_dir_(std::move(quarantine_dir)),
        read_only_(read_only) {}
  absl::Status CheckWritable() const;

  std::string ModelDir(const std::string& name) const;
  std::string VersionPath(const std::string& name, uint64_t version) const;
  absl::Status WriteVersionFile(
      const std::string& dir, const VersionRecord& version,
      const std::function<absl::Status()>& before_rename = nullptr) const;
  std::optional<ModelRecord> LoadModel(const std::string& name);
  void Quarantine(const std::string& path, const absl::Status& why);

  const std::string models_dir_;
  const std::string quarantine_dir_;
  const bool read_only_;
};

// Encoding of a version file; exposed for tests.
std::string EncodeVersion(const VersionRecord& version);
absl::StatusOr<VersionRecord> DecodeVersion(absl::string_view bytes,
                                            absl::string_view what);

}  // namespace mlp::store

#endif  // MLP_SERVER_STORE_MODEL_STORE_H_
