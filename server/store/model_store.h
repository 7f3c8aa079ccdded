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

class ModelStore {
 public:
  // Creates <data_dir>/models and quarantine if missing and removes leftover
  // temporary files. Errors: the file system's (see server/common/file_io.h).
  static absl::StatusOr<std::unique_ptr<ModelStore>> Open(
      const std::string& data_dir);

  // Every model that can be read. Unreadable files are moved to quarantine
  // and logged; a model with no readable version is moved there whole.
  std::vector<ModelRecord> LoadAll();

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
  ModelStore(std::string models_dir, std::string quarantine_dir)
      : models_dir_(std::move(models_dir)),
        quarantine_dir_(std::move(quarantine_dir)) {}

  std::string ModelDir(const std::string& name) const;
  std::string VersionPath(const std::string& name, uint64_t version) const;
  absl::Status WriteVersionFile(
      const std::string& dir, const VersionRecord& version,
      const std::function<absl::Status()>& before_rename = nullptr) const;
  std::optional<ModelRecord> LoadModel(const std::string& name);
  void Quarantine(const std::string& path, const absl::Status& why);

  const std::string models_dir_;
  const std::string quarantine_dir_;
};

// Encoding of a version file; exposed for tests.
std::string EncodeVersion(const VersionRecord& version);
absl::StatusOr<VersionRecord> DecodeVersion(absl::string_view bytes,
                                            absl::string_view what);

}  // namespace mlp::store

#endif  // MLP_SERVER_STORE_MODEL_STORE_H_
