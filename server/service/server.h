// MlpServer: the registry, mlp.v1, the Open Inference Protocol, health and
// reflection behind one gRPC server, and the protocol's HTTP/REST endpoints
// on a second port (ServerOptions::http_address). main() parses flags into
// ServerOptions and calls Start; tests start it in-process on "127.0.0.1:0" and
// read the chosen port back.
//
// Thread-safety: Shutdown may be called from any thread, more than once.
#ifndef MLP_SERVER_SERVICE_SERVER_H_
#define MLP_SERVER_SERVICE_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/memory_trimmer.h"
#include "server/http/http_server.h"
#include "server/registry/registry.h"
#include "server/service/http_endpoints.h"
#include "server/service/inference_http.h"
#include "server/service/inference_service.h"
#include "server/service/metrics.h"
#include "server/service/model_service.h"
#include "server/service/server_options.h"

namespace mlp::service {

class MlpServer {
 public:
  // Validates the options, applies the process-wide ones (log level and
  // format, compute threads), loads the data directory, listens, writes the
  // port file and starts the memory trimmer. Errors: INVALID_ARGUMENT
  // (options), the registry's (file system), UNAVAILABLE if the address cannot
  // be bound, the port file's.
  static absl::StatusOr<std::unique_ptr<MlpServer>> Start(
      const ServerOptions& options);
  ~MlpServer();

  // The port actually bound (useful with port 0).
  int port() const { return port_; }
  // The HTTP port bound, 0 without HTTP.
  int http_port() const { return http_ ? http_->port() : 0; }

  // Graceful stop: health reports NOT_SERVING (HTTP: /v2/health/ready 503),
  // trainings are cancelled (their
  // streams end with a CANCELLED `done` message), no new calls are accepted,
  // calls in flight get `grace` to finish and are cancelled after it.
  void Shutdown(absl::Duration grace = absl::Seconds(3));

 private:
  MlpServer(std::unique_ptr<registry::Registry> registry,
            std::unique_ptr<ModelServiceImpl> service,
            std::unique_ptr<InferenceServiceImpl> inference,
            std::unique_ptr<grpc::Server> server, int port);
  // The HTTP endpoints and their listener (Start, when HTTP is on).
  absl::Status StartHttp(const ServerOptions& options,
                         const ServiceLimits& limits,
                         std::vector<Credential> credentials);
  // Health, ServerReady and /v2/health/ready (a replica's, once loaded);
  // nothing after Shutdown.
  void SetServing(bool serving);
  static absl::StatusOr<std::unique_ptr<grpc::Server>> Listen(
      const ServerOptions& options, ModelServiceImpl* service,
      InferenceServiceImpl* inference, int* port);

  // Constant after construction; destroyed in reverse order: the gRPC server
  // first, then the services (mlp.v1's joins trainings), then the registry.
  std::unique_ptr<registry::Registry> registry_;
  // Set by Start (null with --metrics=false); outlives every user.
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<ModelServiceImpl> service_;
  std::unique_ptr<InferenceServiceImpl> inference_;
  std::unique_ptr<grpc::Server> server_;
  const int port_;
  // Set by Start when HTTP is on; the listener stops before its handler
  // goes.
  std::unique_ptr<InferenceHttp> http_handler_;
  std::unique_ptr<HttpEndpoints> http_endpoints_;
  std::unique_ptr<http::HttpServer> http_;
  std::optional<MemoryTrimmer> trimmer_;

  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_SERVER_H_
