#include "client/connection.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/status.h"

namespace mlp::cli {

absl::Status ResolveToken(GlobalOptions* options) {
  if (options->token_file.empty()) {
    const char* from_environment = std::getenv("MLP_TOKEN");
    if (from_environment != nullptr) options->token = from_environment;
    return absl::OkStatus();
  }
  std::ifstream in(options->token_file, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("--token-file: cannot read '", options->token_file, "'"));
  }
  options->token = std::string(absl::StripAsciiWhitespace(contents.str()));
  if (options->token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--token-file: '", options->token_file, "' is empty"));
  }
  return absl::OkStatus();
}

Connection::Connection(const GlobalOptions& options)
    : server_(options.server),
      token_(options.token),
      timeout_(absl::Seconds(options.timeout_seconds)),
      interrupts_(options.interrupts) {
  grpc::ChannelArguments arguments;
  // The server bounds what it sends (weights, predictions); the client does
  // not second-guess it with gRPC's 4 MiB default.
  arguments.SetMaxReceiveMessageSize(-1);
  channel_ = grpc::CreateCustomChannel(
      server_, grpc::InsecureChannelCredentials(), arguments);
  models_ = mlp::v1::ModelService::NewStub(channel_);
  health_ = grpc::health::v1::Health::NewStub(channel_);
}

absl::Status Connection::Connect() {
  if (connected_) return absl::OkStatus();
  const absl::Duration wait = std::min(kConnectTimeout, timeout_);
  const auto deadline =
      std::chrono::system_clock::now() + absl::ToChronoMilliseconds(wait);
  grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE ||
        state == GRPC_CHANNEL_SHUTDOWN) {
      // The channel knows why (refused, unresolvable name) but says so only
      // to a call, which fails at once in this state.
      grpc::ClientContext probe;
      probe.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(1));
      grpc::health::v1::HealthCheckResponse ignored;
      const grpc::Status why = health_->Check(
          &probe, grpc::health::v1::HealthCheckRequest(), &ignored);
      return ConnectionError(
          absl::StatusCode::kUnavailable,
          absl::StrCat("cannot connect to ", server_, ": ",
                       why.ok() ? "connection failed" : why.error_message(),
                       " (is mlp-server running there? set --server or "
                       "MLP_SERVER)"));
    }
    if (!channel_->WaitForStateChange(state, deadline)) {
      return ConnectionError(
          absl::StatusCode::kUnavailable,
          absl::StrCat("no gRPC server answered at ", server_, " within ",
                       absl::FormatDuration(wait),
                       ": something accepts connections there but does not "
                       "speak gRPC, or the network is slow (check --server "
                       "or MLP_SERVER)"));
    }
    state = channel_->GetState(/*try_to_connect=*/true);
  }
  connected_ = true;
  return absl::OkStatus();
}

std::unique_ptr<grpc::ClientContext> Connection::UnaryContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoMilliseconds(timeout_));
  Authorize(*context);
  return context;
}

std::unique_ptr<grpc::ClientContext> Connection::StreamContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  Authorize(*context);
  return context;
}

void Connection::Authorize(grpc::ClientContext& context) const {
  if (!token_.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token_));
  }
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
