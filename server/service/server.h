// MlpServer: the registry, the service, health and reflection behind one
// gRPC server. main() parses flags and calls Start; tests start it in-process
// on "127.0.0.1:0" and read the chosen port back.
//
// Thread-safety: Shutdown may be called from any thread, more than once.
#ifndef MLP_SERVER_SERVICE_SERVER_H_
#define MLP_SERVER_SERVICE_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/registry/registry.h"
#include "server/service/model_service.h"

namespace mlp::service {

struct ServerOptions {
  std::string address = "127.0.0.1:50051";
  std::string data_dir = "./mlp-data";
  registry::Limits limits;
  int max_message_bytes = 64 << 20;
  int64_t max_batch_values = int64_t{1} << 28;
  // Non-empty: ModelService calls need "authorization: Bearer <token>".
  std::string auth_token;
};

class MlpServer {
 public:
  // Loads the data directory, then listens. Errors: the registry's (file
  // system), UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MlpServer>> Start(
      const ServerOptions& options);
  ~MlpServer();

  // The port actually bound (useful with port 0).
  int port() const { return port_; }

  // Graceful stop: health reports NOT_SERVING, trainings are cancelled (their
  // streams end with a CANCELLED `done` message), no new calls are accepted,
  // calls in flight get `grace` to finish and are cancelled after it.
  void Shutdown(absl::Duration grace = absl::Seconds(3));

 private:
  MlpServer(std::unique_ptr<registry::Registry> registry,
            std::unique_ptr<ModelServiceImpl> service,
            std::unique_ptr<grpc::Server> server, int port);

  // Constant after construction; destroyed in reverse order: the gRPC server
  // first, then the service (joins trainings), then the registry.
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<ModelServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  const int port_;

  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_SERVER_H_
