// echo_server: the transport floor for the Predict benchmark.
//
// A callback-API gRPC server with one unary method that parses the request
// and answers with a payload of the requested size (or the request's own
// payload). It does what the Predict path does minus the model: same
// ServerBuilder settings, same message sizes, no logging, no computation.
//
//   echo_server --address=127.0.0.1:0 --port_file=FILE
//
// Serves until SIGTERM/SIGINT, then exits 0.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "echo.grpc.pb.h"

ABSL_FLAG(std::string, address, "127.0.0.1:0",
          "Address to listen on, host:port (port 0 picks a free port)");
ABSL_FLAG(std::string, port_file, "",
          "If set, write the bound port here once serving");
ABSL_FLAG(int, max_message_bytes, 64 << 20,
          "Largest request or response message, in bytes (as mlp-server)");

namespace {

// Stateless, so safe for concurrent calls.
class EchoService final : public mlp::bench::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const mlp::bench::EchoRequest* request,
                                 mlp::bench::EchoReply* reply) override {
    if (request->reply_bytes() == 0) {
      *reply->mutable_payload() = request->payload();
    } else {
      reply->mutable_payload()->assign(request->reply_bytes(), '\0');
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

int Run() {
  // As mlp-server does at start-up: Debian's Abseil otherwise checks every
  // lock acquisition (gRPC's too) for lock-order cycles.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  EchoService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_address),
                           grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_message_bytes));
  builder.SetMaxSendMessageSize(absl::GetFlag(FLAGS_max_message_bytes));
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "echo_server: cannot listen on '%s'\n",
                 absl::GetFlag(FLAGS_address).c_str());
    return 1;
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    // Written to a temporary name and renamed, so a reader never sees half.
    const std::string tmp = port_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << port << "\n";
    }
    if (std::rename(tmp.c_str(), port_file.c_str()) != 0) {
      std::fprintf(stderr, "echo_server: cannot write --port_file\n");
      return 1;
    }
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return Run();
}
