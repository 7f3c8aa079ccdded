#include "client/connection.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "client/status.h"

namespace mlp::cli {

Connection::Connection(const GlobalOptions& options)
    : server_(options.server),
      timeout_(absl::Seconds(options.timeout_seconds)),
      interrupts_(options.interrupts) {
  grpc::ChannelArguments arguments;
  // The server bounds what it sends (weights, predictions); the client does
  // not second-guess it with gRPC's 4 MiB default.
  arguments.SetMaxReceiveMessageSize(-1);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      server_, grpc::InsecureChannelCredentials(), arguments);
  models_ = mlp::v1::ModelService::NewStub(channel);
  health_ = grpc::health::v1::Health::NewStub(channel);
}

std::unique_ptr<grpc::ClientContext> Connection::UnaryContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoMilliseconds(timeout_));
  return context;
}

std::unique_ptr<grpc::ClientContext> Connection::StreamContext() const {
  return std::make_unique<grpc::ClientContext>();
}

absl::Status Connection::Error(const grpc::Status& status) const {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return FromGrpc(grpc::Status(
          status.error_code(),
          absl::StrCat(status.error_message(), " (is mlp-server running at ",
                       server_, "? set --server or MLP_SERVER)")));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return FromGrpc(grpc::Status(
          status.error_code(),
          absl::StrCat(status.error_message(), " (no answer within --timeout ",
                       absl::FormatDuration(timeout_), ")")));
    default:
      return FromGrpc(status);
  }
}

}  // namespace mlp::cli
