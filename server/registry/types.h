// The registry's values: what it hands out about models, versions and
// datasets, and the limits it enforces. Plain values, independent of how the
// store lays them out on disk.
#ifndef MLP_SERVER_REGISTRY_TYPES_H_
#define MLP_SERVER_REGISTRY_TYPES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/engine/network.h"
#include "server/engine/train_options.h"

namespace mlp::registry {

struct Limits {
  int64_t max_parameters = 10'000'000;
  uint64_t max_dataset_rows = 10'000'000;
  // Largest dataset file (rows and trailer) an upload may store: 4 GiB.
  uint64_t max_dataset_bytes = uint64_t{1} << 32;
  int max_concurrent_trainings = 2;
  int keep_versions = 5;  // committed versions kept per model, >= 1
};

// How the training that made a version ended.
struct TrainingSummary {
  uint32_t epochs = 0;
  double final_loss = 0.0;
  engine::StopReason stop_reason = engine::StopReason::kMaxEpochs;
};

// One committed version of a model. Immutable once published: readers share
// it through shared_ptr<const ModelVersion> and run the forward pass on
// `network` with no lock held.
struct ModelVersion {
  uint64_t version = 0;
  absl::Time committed_at;
  std::optional<TrainingSummary> summary;  // absent for the initial weights
  std::shared_ptr<const engine::Network> network;
};

// What GetModel / ListModels report.
struct ModelSnapshot {
  std::string name;
  engine::NetworkSpec spec;  // spec.seed is the seed actually used
  absl::Time created_at;
  absl::Time updated_at;  // commit time of the latest version
  uint64_t version = 0;   // latest committed
  bool training = false;
  std::optional<TrainingSummary> last_training;
  std::vector<uint64_t> available_versions;  // ascending
};

// A stored dataset.
struct DatasetInfo {
  std::string name;
  uint64_t rows = 0;
  uint32_t input_size = 0;
  uint32_t target_size = 0;
  absl::Time created_at;
  uint64_t size_bytes = 0;  // on disk
};

// OK, or INVALID_ARGUMENT naming `field`: 1-63 chars of [a-z0-9._-], starting
// with a letter or digit.
absl::Status ValidateName(absl::string_view name, absl::string_view field);

}  // namespace mlp::registry

#endif  // MLP_SERVER_REGISTRY_TYPES_H_
