// mlp-server: hosts named multi-layer perceptrons over gRPC (mlp.v1).
//
// main() only parses the flags into ServerOptions (whose defaults they show),
// validates them (exit 2 on a bad one), starts the server and waits for
// SIGTERM/SIGINT, on which it drains (see MlpServer::Shutdown) and exits 0.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "mlp_version.h"
#include "server/common/log.h"
#include "server/service/server.h"
#include "server/service/server_options.h"

namespace {
// The defaults: ServerOptions is their one source.
const mlp::service::ServerOptions kDefaults;
}  // namespace

ABSL_FLAG(std::string, address, kDefaults.address,
          "Address to listen on, host:port (port 0 picks a free port)");
ABSL_FLAG(std::string, data_dir, kDefaults.data_dir,
          "Directory holding models, versions and datasets");
ABSL_FLAG(std::string, mode, kDefaults.mode,
          "primary: the one server that writes --data_dir; replica: serve a "
          "--data_dir that a primary writes (shared storage) read-only, "
          "following its changes; write calls are refused (docs/scaling.md)");
ABSL_FLAG(double, repository_poll_seconds, kDefaults.repository_poll_seconds,
          "A replica looks for its primary's changes this often (and at once "
          "when the file system notifies it)");
ABSL_FLAG(std::string, primary_address, kDefaults.primary_address,
          "A replica's primary (host:port), named to callers of write "
          "methods");
ABSL_FLAG(std::string, port_file, kDefaults.port_file,
          "If set, write the bound port here once serving");
ABSL_FLAG(std::string, http_address, kDefaults.http_address,
          "Open Inference Protocol over HTTP/REST (/v2/...), host:port (port 0 "
          "picks a free port); empty turns HTTP off");
ABSL_FLAG(bool, metrics, kDefaults.metrics,
          "Serve Prometheus metrics at GET /metrics on the HTTP port");
ABSL_FLAG(std::string, http_port_file, kDefaults.http_port_file,
          "If set, write the bound HTTP port here once serving");
ABSL_FLAG(int, http_threads, kDefaults.http_threads,
          "HTTP threads, each serving its share of the connections; 0 = one "
          "per core");
ABSL_FLAG(int, http_max_connections, kDefaults.http_max_connections,
          "Most HTTP connections open at once; later ones are closed");
ABSL_FLAG(int, http_idle_timeout_seconds, kDefaults.http_idle_timeout_seconds,
          "An HTTP connection that sends nothing for this long is closed");
ABSL_FLAG(int, max_message_bytes, kDefaults.max_message_bytes,
          "Largest request or response message, in bytes");
ABSL_FLAG(int64_t, max_parameters, kDefaults.limits.max_parameters,
          "Largest model, in weights plus biases; its weights must fit in "
          "--max_message_bytes (4 bytes each)");
ABSL_FLAG(int64_t, max_batch_values, kDefaults.max_batch_values,
          "Largest training batch, in float values of buffers (a batch of B "
          "rows needs B * (inputs + 4 * all units))");
ABSL_FLAG(uint64_t, max_dataset_rows, kDefaults.limits.max_dataset_rows,
          "Largest dataset, in rows");
ABSL_FLAG(uint64_t, max_dataset_bytes, kDefaults.limits.max_dataset_bytes,
          "Largest dataset, in bytes of its file on the server (rows of "
          "float32 inputs and targets, plus 40); a larger upload is refused");
ABSL_FLAG(int, max_concurrent_trainings,
          kDefaults.limits.max_concurrent_trainings,
          "Trainings that may run at once (one thread each)");
ABSL_FLAG(int, compute_threads, kDefaults.compute_threads,
          "Threads for the engine's large matrix products, one pool shared "
          "by all trainings and predictions (0 = one per core); results do "
          "not depend on it; 1 leaves the other cores to concurrent "
          "trainings and requests");
ABSL_FLAG(double, memory_trim_seconds, kDefaults.memory_trim_seconds,
          "Every this many seconds, free heap memory of 16 MB or more is "
          "returned to the system (after bursts of large requests); 0 = "
          "never");
ABSL_FLAG(int, keep_versions, kDefaults.limits.keep_versions,
          "Committed versions kept per model");
ABSL_FLAG(double, stalled_stream_seconds, kDefaults.stalled_stream_seconds,
          "A Train stream whose reader takes no message for this long, while "
          "the training waits for room, is cancelled (nothing committed) and "
          "its training slot freed");
ABSL_FLAG(double, shutdown_grace_seconds, kDefaults.shutdown_grace_seconds,
          "On SIGTERM/SIGINT, how long calls in flight may take to finish");
ABSL_FLAG(std::string, auth_token_file, "",
          "If set, a file (the owner's only) of tokens, one per line, each "
          "optionally followed by its role: reader (predict, read), trainer "
          "(also create, train, upload) or admin (everything; the default). "
          "Every ModelService call must carry 'authorization: Bearer "
          "<token>' metadata (health and reflection stay open)");
ABSL_FLAG(std::string, tls_cert_file, "",
          "TLS: the server's certificate chain (PEM); with --tls_key_file the "
          "port speaks TLS only. Re-read when the file changes");
ABSL_FLAG(std::string, tls_key_file, "",
          "TLS: the server's private key (PEM); re-read when it changes");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "Mutual TLS: every client must present a certificate this CA "
          "bundle (PEM) verifies");
ABSL_FLAG(int, tls_reload_seconds, kDefaults.tls_reload_seconds,
          "How often the TLS files are checked for changes");
ABSL_FLAG(std::string, log_level, mlp::LogLevelName(kDefaults.log_level),
          "Lowest level logged: debug, info, warning or error");
ABSL_FLAG(std::string, log_format, kDefaults.log_format,
          "How log lines are written: text, or json (one JSON object per "
          "line: time, level, file, line, message) for log collectors");

namespace {

// Self-pipe: the handler writes the signal number, main reads it. Further
// signals while draining are written too and ignored.
int stop_pipe[2] = {-1, -1};

extern "C" void OnStopSignal(int signal_number) {
  const int saved_errno = errno;
  const char byte = static_cast<char>(signal_number);
  ssize_t ignored = ::write(stop_pipe[1], &byte, 1);
  (void)ignored;
  errno = saved_errno;
}

bool InstallStopSignalHandlers() {
  if (::pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return false;
  // Reads block; only the write end must never block in the handler.
  ::fcntl(stop_pipe[0], F_SETFL, 0);
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  return ::sigaction(SIGTERM, &action, nullptr) == 0 &&
         ::sigaction(SIGINT, &action, nullptr) == 0;
}

int WaitForStopSignal() {
  char byte = 0;
  while (::read(stop_pipe[0], &byte, 1) != 1) {
    if (errno != EINTR) return SIGTERM;
  }
  return byte;
}

// The flags as validated ServerOptions, or the usage error (INVALID_ARGUMENT).
absl::StatusOr<mlp::service::ServerOptions> OptionsFromFlags() {
  mlp::service::ServerOptions o;
  o.address = absl::GetFlag(FLAGS_address);
  o.data_dir = absl::GetFlag(FLAGS_data_dir);
  o.mode = absl::GetFlag(FLAGS_mode);
  o.repository_poll_seconds = absl::GetFlag(FLAGS_repository_poll_seconds);
  o.primary_address = absl::GetFlag(FLAGS_primary_address);
  o.port_file = absl::GetFlag(FLAGS_port_file);
  o.http_address = absl::GetFlag(FLAGS_http_address);
  o.http_port_file = absl::GetFlag(FLAGS_http_port_file);
  o.metrics = absl::GetFlag(FLAGS_metrics);
  o.http_threads = absl::GetFlag(FLAGS_http_threads);
  o.http_max_connections = absl::GetFlag(FLAGS_http_max_connections);
  o.http_idle_timeout_seconds = absl::GetFlag(FLAGS_http_idle_timeout_seconds);
  o.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  o.max_batch_values = absl::GetFlag(FLAGS_max_batch_values);
  o.limits.max_parameters = absl::GetFlag(FLAGS_max_parameters);
  o.limits.max_dataset_rows = absl::GetFlag(FLAGS_max_dataset_rows);
  o.limits.max_dataset_bytes = absl::GetFlag(FLAGS_max_dataset_bytes);
  o.limits.max_concurrent_trainings =
      absl::GetFlag(FLAGS_max_concurrent_trainings);
  o.limits.keep_versions = absl::GetFlag(FLAGS_keep_versions);
  o.compute_threads = absl::GetFlag(FLAGS_compute_threads);
  o.memory_trim_seconds = absl::GetFlag(FLAGS_memory_trim_seconds);
  o.stalled_stream_seconds = absl::GetFlag(FLAGS_stalled_stream_seconds);
  o.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  o.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  o.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  o.tls_reload_seconds = absl::GetFlag(FLAGS_tls_reload_seconds);
  o.shutdown_grace_seconds = absl::GetFlag(FLAGS_shutdown_grace_seconds);
  o.log_format = absl::GetFlag(FLAGS_log_format);
  if (!mlp::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &o.log_level)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_level must be debug, info, warning or error, "
                     "got '",
                     absl::CHexEscape(absl::GetFlag(FLAGS_log_level)), "'"));
  }
  if (const std::string path = absl::GetFlag(FLAGS_auth_token_file);
      !path.empty()) {
    absl::StatusOr<std::string> tokens = mlp::service::ReadAuthTokenFile(path);
    if (!tokens.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--auth_token_file: ", tokens.status().message()));
    }
    o.auth_tokens = *std::move(tokens);
  }
  if (absl::Status valid = o.Validate(); !valid.ok()) return valid;
  return o;
}

// Parse, validate, start, wait for SIGTERM/SIGINT, drain.
int Run() {
  absl::StatusOr<mlp::service::ServerOptions> options = OptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }
  // Debian's Abseil checks every lock acquisition for lock-order cycles,
  // a measurable share of a busy server's CPU (docs/performance.md). The
  // tests and the clang -Wthread-safety build keep the locking honest.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // From here on a stop signal, on whichever thread it lands (libraries
  // start threads before main), is recorded; it is acted on once serving.
  if (!InstallStopSignalHandlers()) {
    MLP_LOG(ERROR) << "cannot install signal handlers: "
                   << std::strerror(errno);
    return 1;
  }
  absl::StatusOr<std::unique_ptr<mlp::service::MlpServer>> server =
      mlp::service::MlpServer::Start(*options);
  if (!server.ok()) {
    MLP_LOG(ERROR) << "cannot start: " << server.status().message();
    return 1;
  }
  const int signal_number = WaitForStopSignal();
  MLP_LOG(INFO) << "received "
                << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
                << ", shutting down";
  (*server)->Shutdown(absl::Seconds(options->shutdown_grace_seconds));
  server->reset();
  MLP_LOG(INFO) << "stopped";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves named multi-layer perceptrons over gRPC (mlp.v1.ModelService).\n"
      "Usage: mlp-server [--address=127.0.0.1:50051] [--data_dir=./mlp-data]");
  // --help lists this file's flags (Abseil matches the program's name
  // against the defining file's otherwise, and mlp-server is main.cc).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags =
      usage.contains_helpshort_flags = [](absl::string_view path) {
        return absl::EndsWith(path, "server/main.cc");
      };
  usage.version_string = [] {
    return std::string("mlp-server " MLP_VERSION " (git " MLP_GIT_REVISION
                       ")\n");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  return Run();
}
