// mlp-server: hosts named multi-layer perceptrons over gRPC (mlp.v1).
//
// main() only parses flags, starts the server and waits for SIGTERM/SIGINT,
// on which it drains (see MlpServer::Shutdown) and exits 0.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/common/log.h"
#include "server/common/memory_trimmer.h"
#include "server/engine/network.h"
#include "server/service/server.h"
#include "server/store/file_util.h"

ABSL_FLAG(std::string, address, "127.0.0.1:50051",
          "Address to listen on, host:port (port 0 picks a free port)");
ABSL_FLAG(std::string, data_dir, "./mlp-data",
          "Directory holding models, versions and datasets");
ABSL_FLAG(std::string, port_file, "",
          "If set, write the bound port here once serving");
ABSL_FLAG(int, max_message_bytes, 64 << 20,
          "Largest request or response message, in bytes");
ABSL_FLAG(int64_t, max_parameters, 10'000'000,
          "Largest model, in weights plus biases; its weights must fit in "
          "--max_message_bytes (4 bytes each)");
ABSL_FLAG(int64_t, max_batch_values, int64_t{1} << 28,
          "Largest training batch, in float values of buffers (a batch of B "
          "rows needs B * (inputs + 4 * all units))");
ABSL_FLAG(uint64_t, max_dataset_rows, 10'000'000, "Largest dataset, in rows");
ABSL_FLAG(int, max_concurrent_trainings, 2,
          "Trainings that may run at once (one thread each)");
ABSL_FLAG(int, compute_threads, 1,
          "Threads for the engine's large matrix products, one pool shared "
          "by all trainings and predictions (0 = one per core); results do "
          "not depend on it; 1 leaves the other cores to concurrent "
          "trainings and requests");
ABSL_FLAG(double, memory_trim_seconds, 10,
          "Every this many seconds, free heap memory of 16 MB or more is "
          "returned to the system (after bursts of large requests); 0 = "
          "never");
ABSL_FLAG(int, keep_versions, 5, "Committed versions kept per model");
ABSL_FLAG(double, shutdown_grace_seconds, 3.0,
          "On SIGTERM/SIGINT, how long calls in flight may take to finish");
ABSL_FLAG(std::string, auth_token_file, "",
          "If set, a file holding a token that every ModelService call must "
          "carry as 'authorization: Bearer <token>' metadata (health and "
          "reflection stay open)");
ABSL_FLAG(std::string, log_level, "info",
          "Lowest level logged: debug, info, warning or error");

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

int Run() {
  mlp::LogLevel level;
  if (!mlp::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::fprintf(stderr,
                 "--log_level must be debug, info, warning or error, "
                 "got '%s'\n",
                 absl::GetFlag(FLAGS_log_level).c_str());
    return 2;
  }
  mlp::SetMinLogLevel(level);
  // Debian's Abseil checks every lock acquisition for lock-order cycles,
  // which costs about 5% of a busy server's CPU (measured with perf). The
  // tests and the clang -Wthread-safety build keep the locking honest.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (absl::GetFlag(FLAGS_max_message_bytes) < 1024) {
    std::fprintf(stderr, "--max_message_bytes must be >= 1024, got %d\n",
                 absl::GetFlag(FLAGS_max_message_bytes));
    return 2;
  }
  // GetWeights returns a whole model in one message.
  const int64_t weight_bytes = absl::GetFlag(FLAGS_max_parameters) * 4;
  if (weight_bytes + (1 << 20) > absl::GetFlag(FLAGS_max_message_bytes)) {
    std::fprintf(stderr,
                 "--max_parameters=%lld needs --max_message_bytes >= %lld so "
                 "that a model's weights fit in one GetWeights response\n",
                 static_cast<long long>(absl::GetFlag(FLAGS_max_parameters)),
                 static_cast<long long>(weight_bytes + (1 << 20)));
    return 2;
  }
  if (absl::GetFlag(FLAGS_max_batch_values) < 1) {
    std::fprintf(stderr, "--max_batch_values must be >= 1\n");
    return 2;
  }

  if (absl::GetFlag(FLAGS_compute_threads) < 0) {
    std::fprintf(stderr, "--compute_threads must be >= 0, got %d\n",
                 absl::GetFlag(FLAGS_compute_threads));
    return 2;
  }
  {
    int threads = absl::GetFlag(FLAGS_compute_threads);
    if (threads == 0) {
      threads = static_cast<int>(std::thread::hardware_concurrency());
    }
    mlp::engine::SetComputeThreads(threads);
  }

  if (absl::GetFlag(FLAGS_memory_trim_seconds) < 0) {
    std::fprintf(stderr, "--memory_trim_seconds must be >= 0, got %g\n",
                 absl::GetFlag(FLAGS_memory_trim_seconds));
    return 2;
  }

  mlp::service::ServerOptions options;
  options.address = absl::GetFlag(FLAGS_address);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.max_batch_values = absl::GetFlag(FLAGS_max_batch_values);
  if (const std::string path = absl::GetFlag(FLAGS_auth_token_file);
      !path.empty()) {
    absl::StatusOr<std::string> token = mlp::store::ReadFile(path);
    if (!token.ok()) {
      std::fprintf(stderr, "--auth_token_file: %s\n",
                   std::string(token.status().message()).c_str());
      return 2;
    }
    options.auth_token = std::string(absl::StripAsciiWhitespace(*token));
    if (options.auth_token.empty()) {
      std::fprintf(stderr, "--auth_token_file '%s' is empty\n", path.c_str());
      return 2;
    }
  }
  options.limits.max_parameters = absl::GetFlag(FLAGS_max_parameters);
  options.limits.max_dataset_rows = absl::GetFlag(FLAGS_max_dataset_rows);
  options.limits.max_concurrent_trainings =
      absl::GetFlag(FLAGS_max_concurrent_trainings);
  options.limits.keep_versions = absl::GetFlag(FLAGS_keep_versions);

  // From here on a stop signal, on whichever thread it lands (libraries
  // start threads before main), is recorded; it is acted on once serving.
  if (!InstallStopSignalHandlers()) {
    MLP_LOG(ERROR) << "cannot install signal handlers: "
                   << std::strerror(errno);
    return 1;
  }

  absl::StatusOr<std::unique_ptr<mlp::service::MlpServer>> server =
      mlp::service::MlpServer::Start(options);
  if (!server.ok()) {
    MLP_LOG(ERROR) << "cannot start: " << server.status().message();
    return 1;
  }
  std::optional<mlp::MemoryTrimmer> trimmer;
  if (const double seconds = absl::GetFlag(FLAGS_memory_trim_seconds);
      seconds > 0) {
    trimmer.emplace(absl::Seconds(seconds), size_t{16} << 20);
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    absl::Status written = mlp::store::WriteFileAtomically(
        port_file, absl::StrCat((*server)->port(), "\n"));
    if (!written.ok()) {
      MLP_LOG(ERROR) << "cannot write --port_file: " << written.message();
      return 1;
    }
  }

  const int signal_number = WaitForStopSignal();
  MLP_LOG(INFO) << "received "
                << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
                << ", shutting down";
  (*server)->Shutdown(
      absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_seconds)));
  server->reset();
  MLP_LOG(INFO) << "stopped";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves named multi-layer perceptrons over gRPC (mlp.v1.ModelService).\n"
      "Usage: mlp-server [--address=127.0.0.1:50051] [--data_dir=./mlp-data]");
  absl::ParseCommandLine(argc, argv);
  return Run();
}
