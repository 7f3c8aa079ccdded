// The CLI's connection to an mlp-server: stubs, deadlines and error
// conversion in one place.
#ifndef MLP_CLIENT_CONNECTION_H_
#define MLP_CLIENT_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "mlp/v1/mlp.grpc.pb.h"

namespace mlp::cli {

class InterruptWatcher;

// What the channel's TLS uses, read from the files by ResolveTls.
struct TlsSettings {
  bool enabled = false;     // any --tls-* option (or MLP_TLS_*) given
  std::string root_certs;   // PEM; empty: the system's trusted CAs
  std::string cert_chain;   // PEM; with private_key: a client certificate
  std::string private_key;  // PEM
};

// Options every command takes.
struct GlobalOptions {
  std::string server = "127.0.0.1:50051";
  bool json = false;
  double timeout_seconds = 30;
  // --token-file; read by ResolveToken into `token`.
  std::string token_file;
  // Sent as "authorization: Bearer <token>" when not empty.
  std::string token;
  // --tls-ca, --tls-cert, --tls-key (or MLP_TLS_CA, MLP_TLS_CERT,
  // MLP_TLS_KEY; an option beats its variable): PEM files, read by
  // ResolveTls into `tls`.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  TlsSettings tls;
  // Set by main(); streams register their cancellation with it.
  InterruptWatcher* interrupts = nullptr;
};

// Fills options->token from --token-file, else from $MLP_TOKEN. A local
// error (exit 1) if the file cannot be read or is empty.
absl::Status ResolveToken(GlobalOptions* options);

// Fills options->tls from the --tls-* files. Any of them turns TLS on: the
// server's certificate must be signed by a CA of --tls-ca, or, without it,
// by one the system trusts, and name the host of --server. --tls-cert and
// --tls-key (a client certificate, for a server run with
// --tls_client_ca_file) go together: a usage error (exit 2) names them
// otherwise. A file that cannot be read or holds no PEM block of its kind
// is a local error (exit 1) naming the option and the file.
absl::Status ResolveTls(GlobalOptions* options);

// How long a command waits for the connection to the server (TCP and the
// HTTP/2 handshake) before its first call; the call itself then has
// --timeout. A port that accepts connections but does not speak gRPC would
// otherwise hold every command for gRPC's 20 s handshake timeout.
inline constexpr absl::Duration kConnectTimeout = absl::Seconds(5);

// Thread-compatible. Creating it does not connect; the first call does.
class Connection final {
 public:
  explicit Connection(const GlobalOptions& options);

  mlp::v1::ModelService::Stub& models() { return *models_; }
  grpc::health::v1::Health::Stub& health() { return *health_; }
  InterruptWatcher& interrupts() { return *interrupts_; }
  const std::string& server() const { return server_; }

  // Waits until the channel is connected to a gRPC server, for at most
  // kConnectTimeout (or --timeout if shorter); done once, before the first
  // call. A connection error (see status.h) if it fails: at once when the
  // connection is refused, the name does not resolve or the TLS handshake
  // fails, at the deadline when something accepts connections but no gRPC
  // server answers. The message says what to check: the address, or for
  // TLS the CA, the host name, the client certificate, or whether the
  // server speaks TLS at all.
  absl::Status Connect();

  // A context for one unary call: every unary call has the --timeout
  // deadline, so a stuck server cannot hang a script.
  std::unique_ptr<grpc::ClientContext> UnaryContext() const;

  // A context for a Train or UploadDataset stream. These last as long as the
  // work does, so they get no deadline; Ctrl-C cancels them instead (see
  // interrupt.h). Call Connect() first.
  std::unique_ptr<grpc::ClientContext> StreamContext() const;

  // The server's status as an absl::Status, with a hint where the raw
  // message leaves people guessing (no server at the address, deadline).
  absl::Status Error(const grpc::Status& status) const;

  // One unary call with the --timeout deadline, after Connect():
  //   Call(&Stub::GetModel, request) -> StatusOr<ModelInfo>
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(
      grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                   Response*),
      const Request& request) {
    MLP_RETURN_IF_ERROR(Connect());
    Response response;
    std::unique_ptr<grpc::ClientContext> context = UnaryContext();
    const grpc::Status status =
        (StubFor<Stub>().*method)(context.get(), request, &response);
    if (!status.ok()) return Error(status);
    return response;
  }

 private:
  template <typename Stub>
  Stub& StubFor();
  // Adds the bearer token, if any, to a call's metadata.
  void Authorize(grpc::ClientContext& context) const;

  // The message of a failed connection whose cause gRPC gave as `cause`:
  // what went wrong in words (for TLS: the CA, the host name, the client
  // certificate, plaintext against TLS) and what to check, with `cause`.
  std::string DescribeConnectFailure(const std::string& cause) const;

  const std::string server_;
  const std::string token_;
  const bool tls_;
  const bool system_roots_;  // TLS without --tls-ca
  const bool client_certificate_;
  const absl::Duration timeout_;
  InterruptWatcher* const interrupts_;
  std::shared_ptr<grpc::Channel> channel_;
  bool connected_ = false;
  std::unique_ptr<mlp::v1::ModelService::Stub> models_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

template <>
inline mlp::v1::ModelService::Stub&
Connection::StubFor<mlp::v1::ModelService::Stub>() {
  return *models_;
}
template <>
inline grpc::health::v1::Health::Stub&
Connection::StubFor<grpc::health::v1::Health::Stub>() {
  return *health_;
}

}  // namespace mlp::cli

#endif  // MLP_CLIENT_CONNECTION_H_
