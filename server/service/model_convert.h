// Conversions between the API's model and dataset messages (mlp.v1) and the
// engine / registry types.
//
// Every validation error is INVALID_ARGUMENT and names the request field and
// the expected vs actual value ("spec.layers[1].units must be in [1, 65536],
// got 0").
#ifndef MLP_SERVER_SERVICE_MODEL_CONVERT_H_
#define MLP_SERVER_SERVICE_MODEL_CONVERT_H_

#include "absl/status/statusor.h"
#include "mlp/v1/mlp.pb.h"
#include "server/engine/network.h"
#include "server/registry/types.h"

namespace mlp::service {

// The spec a request asks for, validated (engine::ValidateSpec). An unset
// `bias` means true; INIT_UNSPECIFIED picks the activation's usual init.
absl::StatusOr<engine::NetworkSpec> SpecFromProto(const v1::ModelSpec& spec);
v1::ModelSpec SpecToProto(const engine::NetworkSpec& spec);

v1::StopReason StopReasonToProto(engine::StopReason reason);

void SnapshotToProto(const registry::ModelSnapshot& snapshot,
                     v1::ModelInfo* info);
void DatasetToProto(const registry::DatasetInfo& meta, v1::DatasetInfo* info);
// Every layer's weights ([inputs, units], row-major), bias and activation.
void LayersToProto(const engine::Network& network, v1::GetWeightsResponse* out);

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_MODEL_CONVERT_H_
