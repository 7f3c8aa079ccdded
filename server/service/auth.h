// Optional bearer-token authentication and role-based authorisation for
// mlp.v1.ModelService.
//
// With tokens configured (mlp-server --auth_token_file), every call must
// carry the metadata "authorization: Bearer <token>", and the token's role
// must allow the method (the one permission table is kPermissions in
// auth.cc):
//   reader   Predict, GetModel, ListModels, GetWeights, ListDatasets, and
//            the Open Inference Protocol's ModelInfer, ModelMetadata,
//            ModelReady and ServerMetadata, and GET /metrics
//   trainer  the reader's, and CreateModel, Train, UploadDataset
//   admin    everything, DeleteModel and DeleteDataset included
// Health, reflection and the protocol's ServerLive and ServerReady stay open,
// so that orchestrators' health checks need no secret. Use it behind TLS on
// untrusted networks: the token travels in clear text over an insecure
// channel.
//
// The token file: one token per line, optionally followed by its role
// ("<token> reader"); a token without a role is an admin (so a file holding
// one token, as before roles existed, is an admin's). Blank lines and lines
// starting with '#' are ignored.
//
// Thread-safety: immutable after construction.
#ifndef MLP_SERVER_SERVICE_AUTH_H_
#define MLP_SERVER_SERVICE_AUTH_H_

#include <grpcpp/server_context.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mlp::service {

// Ordered: each role may do everything the ones before it may.
enum class Role { kReader = 0, kTrainer = 1, kAdmin = 2 };

const char* RoleName(Role role);

struct Credential {
  std::string token;
  Role role = Role::kAdmin;
};

// The credentials of a token file's text (format above). INVALID_ARGUMENT
// naming the line for an unknown role, extra words, a token used twice or a
// file without any token.
absl::StatusOr<std::vector<Credential>> ParseCredentials(
    absl::string_view text);

// The least role that may call ModelService method `method` ("Predict");
// admin for a name not in the table.
Role RequiredRole(absl::string_view method);

class Authorizer {
 public:
  // No credentials allow every call.
  explicit Authorizer(std::vector<Credential> credentials)
      : credentials_(std::move(credentials)) {}

  // OK; UNAUTHENTICATED without a bearer token; PERMISSION_DENIED for an
  // unknown token or one whose role may not call `method`.
  absl::Status Check(const grpc::ServerContextBase& context,
                     absl::string_view method) const;
  // The same rule for a front end without gRPC metadata: `authorization` is
  // the value of its Authorization header (nullopt if absent); `carrier`
  // names it in messages ("header").
  absl::Status CheckAuthorization(
      std::optional<absl::string_view> authorization, absl::string_view method,
      absl::string_view carrier) const;

 private:
  const std::vector<Credential> credentials_;
};

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_AUTH_H_
