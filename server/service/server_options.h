// ServerOptions: everything an mlp-server is started with, and the one place
// where the defaults live. mlp-server's flags take their defaults from a
// default-constructed ServerOptions (server/main.cc); in-process servers
// (tests) fill one in directly. MlpServer::Start validates it either way.
//
// Thread-safety: a plain value.
#ifndef MLP_SERVER_SERVICE_SERVER_OPTIONS_H_
#define MLP_SERVER_SERVICE_SERVER_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/common/log.h"
#include "server/registry/types.h"

namespace mlp::service {

struct ServerOptions {
  // host:port; port 0 picks a free port (read it back with MlpServer::port).
  std::string address = "127.0.0.1:50051";
  std::string data_dir = "./mlp-data";
  // "primary": the one server that writes data_dir (it locks it).
  // "replica": serves a data_dir that a primary writes (shared storage),
  // read-only, following its changes (docs/scaling.md); every write call is
  // FAILED_PRECONDITION naming primary_address.
  std::string mode = "primary";
  // A replica looks for the primary's changes this often (and at once when
  // the file system notifies it).
  double repository_poll_seconds = 2;
  // A replica's primary (host:port), named to callers of write methods.
  std::string primary_address;
  // Non-empty: the bound port is written there (atomically) once serving.
  std::string port_file;
  // Largest request or response message. GetWeights returns a whole model
  // in one message, so max_parameters * 4 bytes plus kResponseHeadroomBytes
  // (limits.h) must fit.
  int max_message_bytes = 64 << 20;
  // Largest number of float values the buffers of one training batch may hold
  // (a batch of B rows needs B * (inputs + 4 * all units)).
  int64_t max_batch_values = int64_t{1} << 28;
  // Models, datasets, concurrent trainings, versions kept (defaults there).
  registry::Limits limits;
  // Threads of the engine's compute pool (process-wide); 0 = one per core.
  int compute_threads = 1;
  // Every this many seconds, free heap of 16 MB or more goes back to the
  // system; 0 = never.
  double memory_trim_seconds = 10;
  // A Train stream whose reader takes no message for this long, while the
  // training waits for room, is cancelled (nothing committed, slot freed).
  double stalled_stream_seconds = 60;
  // How long calls in flight may take to finish on a graceful stop.
  double shutdown_grace_seconds = 3.0;
  // The token file's text (format in auth.h: one token per line, each with
  // an optional role). Non-empty: ModelService calls need
  // "authorization: Bearer <token>" with a role that allows them.
  std::string auth_tokens;
  LogLevel log_level = LogLevel::kInfo;
  // How log lines are written: "text" (for people) or "json" (one object per
  // line, for log collectors; see server/common/log.h).
  std::string log_format = LogFormatName(LogFormat::kText);
  // The Open Inference Protocol over HTTP/REST (inference_http.h), host:port;
  // port 0 picks a free port; empty: no HTTP listener.
  std::string http_address = "127.0.0.1:8000";
  // Prometheus figures (metrics.h) at GET /metrics on the HTTP port.
  bool metrics = true;
  // Non-empty: the bound HTTP port is written there (atomically).
  std::string http_port_file;
  // HTTP threads, each serving its share of the connections; 0 = one per
  // core.
  int http_threads = 0;
  int http_max_connections = 1000;
  // An HTTP connection that sends nothing for this long is closed.
  int http_idle_timeout_seconds = 60;
  // TLS. Both set: the port speaks TLS only, with this certificate chain and
  // private key (PEM), re-read when the files change (checked every
  // tls_reload_seconds) without a restart.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Set (with the two above): mutual TLS, every client must present a
  // certificate that this CA bundle (PEM) verifies.
  std::string tls_client_ca_file;
  int tls_reload_seconds = 10;

  bool replica() const { return mode == "replica"; }

  // OK, or INVALID_ARGUMENT naming the first bad option as its flag
  // ("--max_message_bytes must be >= 1024, got 12").
  absl::Status Validate() const;

 private:
  absl::Status ValidateHttp() const;
  absl::Status ValidateMode() const;
  absl::Status ValidateTls() const;
};

// The text of the token file at `path`. The file system's errors;
// INVALID_ARGUMENT if group or others may read or write it (as ssh refuses
// such a private key) or if it holds no valid credentials (auth.h).
absl::StatusOr<std::string> ReadAuthTokenFile(const std::string& path);

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_SERVER_OPTIONS_H_
