// The Train stream: validates a TrainRequest, begins a registry::TrainingJob,
// runs it on the training pool and relays its progress to the caller, one
// write in flight, blocking the training while a slow reader lets 256
// messages queue up, and cancelling the call when the reader stalls. The job
// (server/registry/training_job.h) is the training; this file is only the
// stream.
#ifndef MLP_SERVER_SERVICE_TRAIN_STREAM_H_
#define MLP_SERVER_SERVICE_TRAIN_STREAM_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "mlp/v1/mlp.grpc.pb.h"
#include "server/common/thread_pool.h"
#include "server/registry/registry.h"
#include "server/service/model_service.h"

namespace mlp::service {

// The reactor of one Train call (gRPC deletes it when the call is done).
// `auth` is the caller's authorization: an error finishes the call with it.
// `registry`, `pool`, `context` and `request` must outlive the call.
// A reader that takes no message for limits.stalled_stream while the
// training waits for room gets the call cancelled (as if it had cancelled).
grpc::ServerWriteReactor<v1::TrainProgress>* StartTrainStream(
    registry::Registry* registry, ThreadPool* pool, const ServiceLimits& limits,
    Metrics* metrics, grpc::CallbackServerContext* context,
    const v1::TrainRequest* request, const absl::Status& auth);

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_TRAIN_STREAM_H_
