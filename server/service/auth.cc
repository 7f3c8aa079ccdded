#include "server/service/auth.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace mlp::service {
namespace {

constexpr absl::string_view kBearer = "Bearer ";

struct Permission {
  absl::string_view method;
  Role least;
};

// The one permission table: the least role each method needs.
constexpr Permission kPermissions[] = {
    {"Predict", Role::kReader},
    {"GetModel", Role::kReader},
    {"ListModels", Role::kReader},
    {"GetWeights", Role::kReader},
    {"ListDatasets", Role::kReader},
    {"CreateModel", Role::kTrainer},
    {"Train", Role::kTrainer},
    {"UploadDataset", Role::kTrainer},
    {"DeleteModel", Role::kAdmin},
    {"DeleteDataset", Role::kAdmin},
    // The Open Inference Protocol (ServerLive and ServerReady are open).
    {"ModelInfer", Role::kReader},
    {"ModelMetadata", Role::kReader},
    {"ModelReady", Role::kReader},
    {"ServerMetadata", Role::kReader},
    {"Metrics", Role::kReader},
};

// Compares in time independent of where the strings differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

bool ParseRole(absl::string_view text, Role* role) {
  for (Role r : {Role::kReader, Role::kTrainer, Role::kAdmin}) {
    if (text == RoleName(r)) {
      *role = r;
      return true;
    }
  }
  return false;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kTrainer:
      return "trainer";
    case Role::kAdmin:
      return "admin";
  }
  return "admin";
}

Role RequiredRole(absl::string_view method) {
  for (const Permission& p : kPermissions) {
    if (p.method == method) return p.least;
  }
  return Role::kAdmin;
}

absl::StatusOr<std::vector<Credential>> ParseCredentials(
    absl::string_view text) {
  std::vector<Credential> out;
  std::set<std::string> seen;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    Credential credential;
    credential.token = std::string(words[0]);
    if (words.size() > 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number,
                       ": expected '<token>' or '<token> <role>', got ",
                       words.size(), " words"));
    }
    if (words.size() == 2 && !ParseRole(words[1], &credential.role)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_number, ": the role must be reader, trainer or admin"));
    }
    if (!seen.insert(credential.token).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": a token is listed twice"));
    }
    out.push_back(std::move(credential));
  }
  if (out.empty()) return absl::InvalidArgumentError("it holds no token");
  return out;
}

absl::Status Authorizer::Check(const grpc::ServerContextBase& context,
                               absl::string_view method) const {
  if (credentials_.empty()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return CheckAuthorization(std::nullopt, method, "metadata");
  }
  return CheckAuthorization(
      absl::string_view(it->second.data(), it->second.size()), method,
      "metadata");
}

absl::Status Authorizer::CheckAuthorization(
    std::optional<absl::string_view> authorization, absl::string_view method,
    absl::string_view carrier) const {
  if (credentials_.empty()) return absl::OkStatus();
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat("missing 'authorization: Bearer <token>' ", carrier,
                     "; this server requires a token"));
  }
  const absl::string_view value = *authorization;
  if (!absl::StartsWith(value, kBearer)) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the 'authorization' ", carrier, " must be 'Bearer <token>'"));
  }
  const absl::string_view token = value.substr(kBearer.size());
  // Every credential is compared, so the time taken says nothing about
  // which one (if any) matched.
  const Credential* match = nullptr;
  for (const Credential& c : credentials_) {
    if (ConstantTimeEquals(token, c.token)) match = &c;
  }
  if (match == nullptr) return absl::PermissionDeniedError("wrong token");
  const Role needed = RequiredRole(method);
  if (match->role < needed) {
    return absl::PermissionDeniedError(
        absl::StrCat("this token's role is ", RoleName(match->role), "; ",
                     method, " needs ", RoleName(needed)));
  }
  return absl::OkStatus();
}

}  // namespace mlp::service
