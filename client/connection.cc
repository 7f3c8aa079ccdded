#include "client/connection.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
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

namespace {

// Whether `text` has a PEM block whose label ends with `kind`:
// "-----BEGIN CERTIFICATE-----", or for "PRIVATE KEY" also "EC PRIVATE KEY"
// and the like (a key file may begin with "EC PARAMETERS").
bool HasPemBlock(absl::string_view text, absl::string_view kind) {
  constexpr absl::string_view kBegin = "-----BEGIN ";
  for (size_t at = text.find(kBegin); at != absl::string_view::npos;
       at = text.find(kBegin, at + 1)) {
    const size_t label = at + kBegin.size();
    const size_t end = text.find("-----", label);
    if (end == absl::string_view::npos) return false;
    if (absl::EndsWith(text.substr(label, end - label), kind)) return true;
  }
  return false;
}

// The PEM file of `option` (a --tls-* option), which must hold a block of
// `kind` ("CERTIFICATE", "PRIVATE KEY"). Local errors naming both.
absl::StatusOr<std::string> ReadPemFile(absl::string_view option,
                                        const std::string& path,
                                        absl::string_view kind) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return absl::NotFoundError(absl::StrCat(option, ": cannot read ",
                                            Quote(path, 200), ": ",
                                            std::strerror(errno)));
  }
  std::stringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(
        absl::StrCat(option, ": cannot read ", Quote(path, 200)));
  }
  const std::string text = contents.str();
  if (!HasPemBlock(text, kind)) {
    return absl::InvalidArgumentError(absl::StrCat(
        option, ": ", Quote(path, 200), " is not a PEM file holding a ",
        absl::AsciiStrToLower(kind), " (a '-----BEGIN ", kind,
        "-----' block)"));
  }
  return text;
}

}  // namespace

absl::Status ResolveTls(GlobalOptions* options) {
  const bool cert = !options->tls_cert_file.empty();
  const bool key = !options->tls_key_file.empty();
  if (cert != key) {
    return UsageError(
        cert ? "--tls-cert (or MLP_TLS_CERT) needs --tls-key (or "
               "MLP_TLS_KEY): a client certificate goes with its private key"
             : "--tls-key (or MLP_TLS_KEY) needs --tls-cert (or "
               "MLP_TLS_CERT): a private key goes with its client "
               "certificate");
  }
  TlsSettings tls;
  tls.enabled = cert || !options->tls_ca_file.empty();
  if (!options->tls_ca_file.empty()) {
    MLP_ASSIGN_OR_RETURN(
        tls.root_certs,
        ReadPemFile("--tls-ca", options->tls_ca_file, "CERTIFICATE"));
  }
  if (cert) {
    MLP_ASSIGN_OR_RETURN(
        tls.cert_chain,
        ReadPemFile("--tls-cert", options->tls_cert_file, "CERTIFICATE"));
    MLP_ASSIGN_OR_RETURN(
        tls.private_key,
        ReadPemFile("--tls-key", options->tls_key_file, "PRIVATE KEY"));
  }
  options->tls = std::move(tls);
  return absl::OkStatus();
}

Connection::Connection(const GlobalOptions& options)
    : server_(options.server),
      token_(options.token),
      tls_(options.tls.enabled),
      system_roots_(options.tls.root_certs.empty()),
      client_certificate_(!options.tls.cert_chain.empty()),
      timeout_(absl::Seconds(options.timeout_seconds)),
      interrupts_(options.interrupts) {
  grpc::ChannelArguments arguments;
  // The server bounds what it sends (weights, predictions); the client does
  // not second-guess it with gRPC's 4 MiB default.
  arguments.SetMaxReceiveMessageSize(-1);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (tls_) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls.root_certs;  // empty: the system's
    ssl.pem_cert_chain = options.tls.cert_chain;
    ssl.pem_private_key = options.tls.private_key;
    credentials = grpc::SslCredentials(ssl);
  }
  channel_ = grpc::CreateCustomChannel(server_, credentials, arguments);
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
          DescribeConnectFailure(why.ok() ? "connection failed"
                                          : why.error_message()));
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

std::string Connection::DescribeConnectFailure(const std::string& cause) const {
  const std::string lower = absl::AsciiStrToLower(cause);
  const auto says = [&lower](std::initializer_list<absl::string_view> words) {
    return std::any_of(words.begin(), words.end(), [&lower](auto word) {
      return absl::StrContains(lower, word);
    });
  };
  const std::string prefix = absl::StrCat("cannot connect to ", server_, ": ");
  if (says({"connection refused", "dns resolution", "name or service",
            "no address"})) {
    return absl::StrCat(prefix, cause,
                        " (is mlp-server running there? set --server or "
                        "MLP_SERVER)");
  }
  const bool closed =
      says({"socket closed", "connection reset", "end of file", "broken pipe"});
  if (!tls_) {
    if (closed) {
      return absl::StrCat(
          prefix,
          "the server closed the connection at once: a server run "
          "with --tls_cert_file speaks only TLS; give the CA that "
          "signed its certificate with --tls-ca (or MLP_TLS_CA) (",
          cause, ")");
    }
    return absl::StrCat(prefix, cause,
                        " (is mlp-server running there? set --server or "
                        "MLP_SERVER)");
  }
  // gRPC's words for a failed handshake are terse; say what to check.
  std::string what;
  if (says({"not in peer certificate"})) {
    what =
        "the server's certificate does not name the host in --server; "
        "connect by a name it holds, or issue it for this "
        "host";
  } else if (says({"certificate verify failed", "unable to get local issuer",
                   "self signed", "self-signed", "certificate has expired"})) {
    what = system_roots_
               ? "the server's certificate is not signed by a CA this system "
                 "trusts (or has expired); give the CA that signed it with "
                 "--tls-ca"
               : "the server's certificate is not signed by --tls-ca (or has "
                 "expired); is --tls-ca the CA that signed mlp-server's "
                 "--tls_cert_file?";
  } else if (says({"wrong version number", "packet length too long",
                   "http_request", "unknown protocol"})) {
    what =
        "the server does not speak TLS; leave out --tls-ca, --tls-cert and "
        "--tls-key (and MLP_TLS_*), or run mlp-server with --tls_cert_file "
        "and --tls_key_file";
  } else if (closed && !client_certificate_) {
    what =
        "the server closed the connection; a server run with "
        "--tls_client_ca_file (mutual TLS) wants a client certificate: give "
        "--tls-cert and --tls-key";
  } else if (closed) {
    what =
        "the server closed the connection; is --tls-cert signed by a CA in "
        "the server's --tls_client_ca_file?";
  } else {
    what =
        "is the server's certificate signed by --tls-ca, and does it name "
        "the host in --server?";
  }
  return absl::StrCat(prefix, "TLS handshake failed: ", what, " (", cause, ")");
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
