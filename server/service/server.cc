#include "server/service/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/common/log.h"

namespace mlp::service {

MlpServer::MlpServer(std::unique_ptr<registry::Registry> registry,
                     std::unique_ptr<ModelServiceImpl> service,
                     std::unique_ptr<grpc::Server> server, int port)
    : registry_(std::move(registry)),
      service_(std::move(service)),
      server_(std::move(server)),
      port_(port) {}

MlpServer::~MlpServer() {
  Shutdown();
  server_.reset();
  service_.reset();
}

absl::StatusOr<std::unique_ptr<MlpServer>> MlpServer::Start(
    const ServerOptions& options) {
  MLP_ASSIGN_OR_RETURN(
      std::unique_ptr<registry::Registry> registry,
      registry::Registry::Open(options.data_dir, options.limits));
  ServiceLimits service_limits;
  service_limits.max_message_bytes = options.max_message_bytes;
  service_limits.max_batch_values = options.max_batch_values;
  auto service = std::make_unique<ModelServiceImpl>(
      registry.get(), options.limits.max_concurrent_trainings, service_limits,
      options.auth_token);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.address, grpc::InsecureServerCredentials(),
                           &port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on '", options.address, "'"));
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus("", true);
  health->SetServingStatus(v1::ModelService::service_full_name(), true);
  MLP_LOG(INFO) << "listening on " << options.address << " (port " << port
                << ")";
  return std::unique_ptr<MlpServer>(new MlpServer(
      std::move(registry), std::move(service), std::move(server), port));
}

void MlpServer::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  server_->GetHealthCheckService()->Shutdown();
  registry_->CancelAllTrainings();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
}

}  // namespace mlp::service
