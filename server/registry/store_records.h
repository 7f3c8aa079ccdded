// Internal to the registry: its values to and from the store's records.
#ifndef MLP_SERVER_REGISTRY_STORE_RECORDS_H_
#define MLP_SERVER_REGISTRY_STORE_RECORDS_H_

#include <optional>

#include "server/registry/types.h"
#include "server/store/dataset_store.h"
#include "server/store/model_store.h"

namespace mlp::registry::internal {

inline ModelVersion FromRecord(store::VersionRecord record) {
  ModelVersion out;
  out.version = record.version;
  out.committed_at = record.committed_at;
  if (record.summary.has_value()) {
    out.summary =
        TrainingSummary{record.summary->epochs, record.summary->final_loss,
                        record.summary->stop_reason};
  }
  out.network = std::move(record.network);
  return out;
}

inline store::VersionRecord ToRecord(const ModelVersion& version) {
  store::VersionRecord out;
  out.version = version.version;
  out.committed_at = version.committed_at;
  if (version.summary.has_value()) {
    out.summary = store::TrainingSummary{version.summary->epochs,
                                         version.summary->final_loss,
                                         version.summary->stop_reason};
  }
  out.network = version.network;
  return out;
}

inline DatasetInfo FromMeta(const store::DatasetMeta& meta) {
  return DatasetInfo{meta.name,        meta.rows,       meta.input_size,
                     meta.target_size, meta.created_at, meta.size_bytes};
}

}  // namespace mlp::registry::internal

#endif  // MLP_SERVER_REGISTRY_STORE_RECORDS_H_
