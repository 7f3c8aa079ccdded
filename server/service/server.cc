#include "server/service/server.h"

#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/common/file_io.h"
#include "server/common/log.h"
#include "server/engine/network.h"
#include "server/service/library_log.h"

namespace mlp::service {
namespace {

// The memory trimmer returns free heap to the system past this much.
constexpr size_t kMemoryTrimMinFreeBytes = size_t{16} << 20;

// grpc.health.v1 for the whole server and each of its services.
void SetHealth(grpc::Server& server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  health->SetServingStatus("", serving);
  health->SetServingStatus(v1::ModelService::service_full_name(), serving);
  health->SetServingStatus(inference::GRPCInferenceService::service_full_name(),
                           serving);
}

// The TLS files' texts, read afresh at every call; errors name the flag.
absl::StatusOr<http::TlsPem> ReadTlsFiles(const std::string& cert_file,
                                          const std::string& key_file,
                                          const std::string& client_ca_file) {
  http::TlsPem pem;
  for (const auto& [flag, path, text] :
       {std::tuple<const char*, const std::string*, std::string*>{
            "--tls_cert_file", &cert_file, &pem.cert_chain},
        {"--tls_key_file", &key_file, &pem.key},
        {"--tls_client_ca_file", &client_ca_file, &pem.client_ca}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> read = common::ReadFile(*path);
    if (!read.ok()) {
      return absl::Status(read.status().code(),
                          absl::StrCat(flag, ": ", read.status().message()));
    }
    *text = *std::move(read);
  }
  return pem;
}

// The HTTP listener for `handler`, with the gRPC port's certificate when
// TLS is on, re-read as gRPC's is: every --tls_reload_seconds, a changed
// file set that parses is served to the connections accepted from then on.
absl::StatusOr<std::unique_ptr<http::HttpServer>> ListenHttp(
    const ServerOptions& options, const HttpEndpoints* handler) {
  http::HttpOptions http;
  http.address = options.http_address;
  http.threads =
      options.http_threads > 0
          ? options.http_threads
          : std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  http.max_body_bytes = options.max_message_bytes;
  http.max_connections = options.http_max_connections;
  http.idle_timeout_seconds = options.http_idle_timeout_seconds;
  if (!options.tls_cert_file.empty()) {
    http.tls_source = [cert = options.tls_cert_file, key = options.tls_key_file,
                       ca = options.tls_client_ca_file] {
      return ReadTlsFiles(cert, key, ca);
    };
    http.tls_reload_interval = absl::Seconds(options.tls_reload_seconds);
  }
  return http::HttpServer::Start(http, [handler](http::Request& request) {
    return handler->Handle(request);
  });
}

}  // namespace

MlpServer::MlpServer(std::unique_ptr<registry::Registry> registry,
                     std::unique_ptr<ModelServiceImpl> service,
                     std::unique_ptr<InferenceServiceImpl> inference,
                     std::unique_ptr<grpc::Server> server, int port)
    : registry_(std::move(registry)),
      service_(std::move(service)),
      inference_(std::move(inference)),
      server_(std::move(server)),
      port_(port) {}

MlpServer::~MlpServer() {
  Shutdown();
  http_.reset();
  http_endpoints_.reset();
  http_handler_.reset();
  server_.reset();
  inference_.reset();
  service_.reset();
}

absl::StatusOr<std::unique_ptr<MlpServer>> MlpServer::Start(
    const ServerOptions& options) {
  MLP_RETURN_IF_ERROR(options.Validate());
  SetMinLogLevel(options.log_level);
  LogFormat log_format = LogFormat::kText;
  ParseLogFormat(options.log_format, &log_format);  // Validate checked it
  SetLogFormat(log_format);
  RouteLibraryLogs();
  engine::SetComputeThreads(
      options.compute_threads > 0
          ? options.compute_threads
          : static_cast<int>(std::thread::hardware_concurrency()));
  MLP_ASSIGN_OR_RETURN(
      std::unique_ptr<registry::Registry> registry,
      options.replica()
          ? registry::Registry::OpenReplica(
                options.data_dir, options.limits,
                absl::Seconds(options.repository_poll_seconds))
          : registry::Registry::Open(options.data_dir, options.limits));
  std::vector<Credential> credentials;
  if (!options.auth_tokens.empty()) {
    MLP_ASSIGN_OR_RETURN(credentials, ParseCredentials(options.auth_tokens));
  }
  ServiceLimits service_limits;
  service_limits.max_message_bytes = options.max_message_bytes;
  service_limits.max_batch_values = options.max_batch_values;
  service_limits.stalled_stream = absl::Seconds(options.stalled_stream_seconds);
  std::unique_ptr<Metrics> metrics;
  if (options.metrics) metrics = std::make_unique<Metrics>(registry.get());
  auto service = std::make_unique<ModelServiceImpl>(
      registry.get(), options.limits.max_concurrent_trainings, service_limits,
      credentials, metrics.get(), options.primary_address);
  auto inference = std::make_unique<InferenceServiceImpl>(
      registry.get(), service_limits, credentials, metrics.get());
  inference->SetServing(!options.replica());  // a replica: once loaded
  int port = 0;
  MLP_ASSIGN_OR_RETURN(std::unique_ptr<grpc::Server> server,
                       Listen(options, service.get(), inference.get(), &port));
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (!options.replica() && cores > 0 &&
      options.limits.max_concurrent_trainings > cores) {
    MLP_LOG(WARNING) << "--max_concurrent_trainings="
                     << options.limits.max_concurrent_trainings
                     << " is more than the " << cores
                     << " cores: trainings will share them (at low priority, "
                        "so serving still comes first) and each runs slower";
  }
  MLP_LOG(INFO) << "listening on " << options.address << " (port " << port
                << ", " << (options.replica() ? "replica, " : "")
                << (options.tls_cert_file.empty()        ? "plaintext"
                    : options.tls_client_ca_file.empty() ? "TLS"
                                                         : "mutual TLS")
                << ")";
  auto out = std::unique_ptr<MlpServer>(
      new MlpServer(std::move(registry), std::move(service),
                    std::move(inference), std::move(server), port));
  out->metrics_ = std::move(metrics);
  if (!options.http_address.empty()) {
    MLP_RETURN_IF_ERROR(
        out->StartHttp(options, service_limits, std::move(credentials)));
  }
  if (!options.port_file.empty()) {
    absl::Status written = common::WriteFileAtomically(
        options.port_file, absl::StrCat(port, "\n"));
    if (!written.ok()) {
      return absl::Status(written.code(),
                          absl::StrCat("--port_file: ", written.message()));
    }
  }
  if (options.memory_trim_seconds > 0) {
    out->trimmer_.emplace(absl::Seconds(options.memory_trim_seconds),
                          kMemoryTrimMinFreeBytes);
  }
  if (registry::RepositoryFollower* follower = out->registry_->follower()) {
    // Everything said "not serving" from its creation (a replica); the
    // first complete pass turns it on.
    MlpServer* server = out.get();
    // Runs on the follower's thread, which Shutdown stops first.
    follower->OnLoaded([server] { server->SetServing(true); });
  }
  return out;
}

void MlpServer::SetServing(bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  SetHealth(*server_, serving);
  inference_->SetServing(serving);
  if (http_handler_ != nullptr) http_handler_->SetServing(serving);
}

absl::Status MlpServer::StartHttp(const ServerOptions& options,
                                  const ServiceLimits& limits,
                                  std::vector<Credential> credentials) {
  http_handler_ = std::make_unique<InferenceHttp>(registry_.get(), limits,
                                                  credentials, metrics_.get());
  http_handler_->SetServing(!options.replica());  // a replica: once loaded
  http_endpoints_ = std::make_unique<HttpEndpoints>(
      http_handler_.get(), metrics_.get(), std::move(credentials));
  MLP_ASSIGN_OR_RETURN(http_, ListenHttp(options, http_endpoints_.get()));
  MLP_LOG(INFO) << "HTTP/REST (/v2" << (metrics_ ? ", /metrics" : "") << ") on "
                << options.http_address << " (port " << http_port() << ", "
                << (!http_->tls()                        ? "plaintext"
                    : options.tls_client_ca_file.empty() ? "TLS"
                                                         : "mutual TLS")
                << ")";
  if (!options.http_port_file.empty()) {
    absl::Status written = common::WriteFileAtomically(
        options.http_port_file, absl::StrCat(http_port(), "\n"));
    if (!written.ok()) {
      return absl::Status(written.code(), absl::StrCat("--http_port_file: ",
                                                       written.message()));
    }
  }
  return absl::OkStatus();
}

namespace {

// Plaintext, TLS, or mutual TLS; certificates re-read when their files change.
std::shared_ptr<grpc::ServerCredentials> Credentials(
    const ServerOptions& options) {
  if (options.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          options.tls_key_file, options.tls_cert_file,
          options.tls_client_ca_file,
          static_cast<unsigned int>(options.tls_reload_seconds));
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (options.tls_client_ca_file.empty()) {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    tls.watch_root_certs();
    tls.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

}  // namespace

absl::StatusOr<std::unique_ptr<grpc::Server>> MlpServer::Listen(
    const ServerOptions& options, ModelServiceImpl* service,
    InferenceServiceImpl* inference, int* port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // A server owns its port: with SO_REUSEPORT (gRPC's default) a second
  // server on the same port would start and share the connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.address, Credentials(options), port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(service);
  builder.RegisterService(inference);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on '", options.address, "'"));
  }
  // A replica says NOT_SERVING until its repository is loaded (Start).
  SetHealth(*server, !options.replica());
  return server;
}

void MlpServer::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  // The replica's last pass ends (the loaded models keep serving the calls
  // that drain), so that nothing changes readiness from now on.
  if (registry::RepositoryFollower* follower = registry_->follower()) {
    follower->Stop();
  }
  server_->GetHealthCheckService()->Shutdown();
  inference_->SetServing(false);
  if (http_handler_ != nullptr) http_handler_->SetServing(false);
  registry_->models().CancelAllTrainings();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  // HTTP calls in progress finish; idle keep-alive connections are closed.
  if (http_ != nullptr) http_->Stop();
}

}  // namespace mlp::service
