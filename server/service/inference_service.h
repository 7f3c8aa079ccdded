// inference.GRPCInferenceService, the Open Inference Protocol over gRPC, on
// gRPC's callback API and the same port as mlp.v1. What it answers is
// inference.h's; this file is the wire: requests in, responses out.
//
// ModelInfer answers in the encoding it was asked in: raw input
// (raw_input_contents, what tritonclient always sends) gets raw output
// (raw_output_contents), typed input gets contents.fp32_contents.
//
// Tokens: ServerLive and ServerReady are open like the health service (they
// are probes); the other calls need a reader's token when tokens are
// configured (auth.h).
//
// Thread-safety: all handlers may run concurrently; SetServing from any
// thread.
#ifndef MLP_SERVER_SERVICE_INFERENCE_SERVICE_H_
#define MLP_SERVER_SERVICE_INFERENCE_SERVICE_H_

#include <atomic>
#include <memory>

#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/registry/registry.h"
#include "server/service/auth.h"
#include "server/service/metrics.h"
#include "server/service/model_service.h"

namespace mlp::service {

class InferenceServiceImpl final
    : public inference::GRPCInferenceService::CallbackService {
 public:
  // `registry` must outlive the service.
  InferenceServiceImpl(registry::Registry* registry,
                       const ServiceLimits& limits,
                       std::vector<Credential> credentials = {},
                       Metrics* metrics = nullptr);

  // While false (a replica loading, a server stopping), ServerReady says
  // false and ModelInfer is UNAVAILABLE.
  void SetServing(bool serving) { serving_.store(serving); }

  grpc::ServerUnaryReactor* ServerLive(
      grpc::CallbackServerContext* context,
      const inference::ServerLiveRequest* request,
      inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(
      grpc::CallbackServerContext* context,
      const inference::ServerReadyRequest* request,
      inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(
      grpc::CallbackServerContext* context,
      const inference::ModelReadyRequest* request,
      inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(
      grpc::CallbackServerContext* context,
      const inference::ServerMetadataRequest* request,
      inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(
      grpc::CallbackServerContext* context,
      const inference::ModelMetadataRequest* request,
      inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(
      grpc::CallbackServerContext* context,
      const inference::ModelInferRequest* request,
      inference::ModelInferResponse* response) override;

 private:
  absl::Status Infer(grpc::CallbackServerContext* context,
                     const inference::ModelInferRequest& request,
                     inference::ModelInferResponse* response) const;

  registry::Registry* const registry_;
  const ServiceLimits limits_;
  const Authorizer auth_;
  Metrics* const metrics_;  // may be null
  std::atomic<bool> serving_{true};
};

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_INFERENCE_SERVICE_H_
