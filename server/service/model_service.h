// mlp.v1.ModelService on gRPC's callback API.
//
// Handlers validate, call the registry, convert back and finish; internal
// statuses become gRPC statuses in ToGrpcStatus only. Trainings run on a
// dedicated pool (ServiceOptions::training_threads), never on gRPC's threads,
// and stream their progress back through a write reactor.
//
// Thread-safety: all handlers may run concurrently.
#ifndef MLP_SERVER_SERVICE_MODEL_SERVICE_H_
#define MLP_SERVER_SERVICE_MODEL_SERVICE_H_

#include <memory>

#include "mlp/v1/mlp.grpc.pb.h"
#include "server/common/thread_pool.h"
#include "server/registry/registry.h"
#include "server/service/auth.h"
#include "server/service/metrics.h"

namespace mlp::service {

class RequestLog;

// Bounds on what one call may make the server allocate or send.
struct ServiceLimits {
  // Set from ServerOptions (whose defaults are the server's).
  // Largest response; Predict and GetWeights refuse answers that would not
  // fit (RESOURCE_EXHAUSTED) instead of failing on the wire.
  int64_t max_message_bytes = 0;
  // Largest number of float values the buffers of one training batch may
  // hold (every layer's pre-activations, activations and deltas plus the
  // gathered inputs); a larger batch_size is RESOURCE_EXHAUSTED.
  int64_t max_batch_values = 0;
  // A Train stream whose reader takes no message for this long while the
  // training waits for room is cancelled (nothing committed, slot freed).
  absl::Duration stalled_stream = absl::Minutes(1);
};

// Serving first: training threads run at this nice value, so that under
// contention for the cores gRPC's threads (Predict, new connections) come
// before trainings, however many run (docs/performance.md has the test's
// figures). An idle server trains at full speed.
inline constexpr int kTrainingNice = 19;

class ModelServiceImpl final : public v1::ModelService::CallbackService {
 public:
  // `registry` must outlive the service. `training_threads` >= 1 workers run
  // trainings, at kTrainingNice (the registry's limit decides how many may
  // be admitted).
  // Non-empty `credentials` make every call need a token whose role allows
  // it (see auth.h). Over a replica's registry, every method that needs more
  // than a reader's role is FAILED_PRECONDITION naming `primary_address`
  // (if set), and the others UNAVAILABLE until the repository is loaded.
  ModelServiceImpl(registry::Registry* registry, int training_threads,
                   const ServiceLimits& limits,
                   std::vector<Credential> credentials = {},
                   Metrics* metrics = nullptr,
                   std::string primary_address = "");
  // Joins the training pool: call after the gRPC server has shut down.
  ~ModelServiceImpl() override;

  grpc::ServerUnaryReactor* CreateModel(grpc::CallbackServerContext* context,
                                        const v1::CreateModelRequest* request,
                                        v1::ModelInfo* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context,
                                     const v1::GetModelRequest* request,
                                     v1::ModelInfo* response) override;
  grpc::ServerUnaryReactor* ListModels(
      grpc::CallbackServerContext* context,
      const v1::ListModelsRequest* request,
      v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteModel(
      grpc::CallbackServerContext* context,
      const v1::DeleteModelRequest* request,
      v1::DeleteModelResponse* response) override;
  grpc::ServerWriteReactor<v1::TrainProgress>* Train(
      grpc::CallbackServerContext* context,
      const v1::TrainRequest* request) override;
  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const v1::PredictRequest* request,
                                    v1::PredictResponse* response) override;
  grpc::ServerUnaryReactor* GetWeights(
      grpc::CallbackServerContext* context,
      const v1::GetWeightsRequest* request,
      v1::GetWeightsResponse* response) override;
  grpc::ServerReadReactor<v1::UploadDatasetRequest>* UploadDataset(
      grpc::CallbackServerContext* context, v1::DatasetInfo* response) override;
  grpc::ServerUnaryReactor* ListDatasets(
      grpc::CallbackServerContext* context,
      const v1::ListDatasetsRequest* request,
      v1::ListDatasetsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteDataset(
      grpc::CallbackServerContext* context,
      const v1::DeleteDatasetRequest* request,
      v1::DeleteDatasetResponse* response) override;

 private:
  // Checks the caller's token, runs `body` and finishes the call with its
  // status, logging one line.
  template <typename Body>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                  const RequestLog& log, Body body) const;

  // OK unless this is a replica that must not or cannot yet serve `method`.
  absl::Status CheckServes(absl::string_view method) const;
  // The caller's token, then CheckServes.
  absl::Status Admit(const grpc::ServerContextBase& context,
                     absl::string_view method) const;

  registry::Registry* const registry_;
  const ServiceLimits limits_;
  const Authorizer auth_;
  Metrics* const metrics_;  // may be null
  const std::string primary_address_;
  ThreadPool training_pool_;
};

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_MODEL_SERVICE_H_
