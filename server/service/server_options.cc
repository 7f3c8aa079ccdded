#include "server/service/server_options.h"

#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "server/common/escape.h"
#include "server/common/file_io.h"
#include "server/service/auth.h"
#include "server/service/limits.h"

namespace mlp::service {
namespace {

absl::Status Invalid(absl::string_view flag, absl::string_view rule,
                     absl::string_view got) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, " must be ", rule, ", got ", got));
}

}  // namespace

absl::Status ServerOptions::Validate() const {
  if (address.empty()) return Invalid("address", "host:port", "''");
  if (data_dir.empty()) return Invalid("data_dir", "a directory", "''");
  MLP_RETURN_IF_ERROR(ValidateMode());
  MLP_RETURN_IF_ERROR(ValidateHttp());
  if (max_message_bytes < 1024) {
    return Invalid("max_message_bytes", ">= 1024",
                   absl::StrCat(max_message_bytes));
  }
  if (max_batch_values < 1) {
    return Invalid("max_batch_values", ">= 1", absl::StrCat(max_batch_values));
  }
  if (limits.max_parameters < 1) {
    return Invalid("max_parameters", ">= 1",
                   absl::StrCat(limits.max_parameters));
  }
  if (limits.max_parameters > (int64_t{1} << 40)) {
    return Invalid("max_parameters", "<= 2^40",
                   absl::StrCat(limits.max_parameters));
  }
  if (limits.max_parameters > max_message_bytes / 4 ||
      limits.max_parameters * 4 + kResponseHeadroomBytes > max_message_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_parameters=", limits.max_parameters,
        " needs --max_message_bytes >= ",
        limits.max_parameters * 4 + kResponseHeadroomBytes,
        " so that a model's weights fit in one GetWeights response"));
  }
  if (limits.max_dataset_rows < 1) {
    return Invalid("max_dataset_rows", ">= 1",
                   absl::StrCat(limits.max_dataset_rows));
  }
  if (limits.max_dataset_bytes < 1) {
    return Invalid("max_dataset_bytes", ">= 1",
                   absl::StrCat(limits.max_dataset_bytes));
  }
  if (limits.max_concurrent_trainings < 1) {
    return Invalid("max_concurrent_trainings", ">= 1",
                   absl::StrCat(limits.max_concurrent_trainings));
  }
  if (limits.keep_versions < 1) {
    return Invalid("keep_versions", ">= 1", absl::StrCat(limits.keep_versions));
  }
  if (compute_threads < 0) {
    return Invalid("compute_threads", ">= 0 (0 = one per core)",
                   absl::StrCat(compute_threads));
  }
  if (!(memory_trim_seconds >= 0)) {
    return Invalid("memory_trim_seconds", ">= 0 (0 = never)",
                   absl::StrCat(memory_trim_seconds));
  }
  if (!(stalled_stream_seconds > 0) || stalled_stream_seconds > 1e6) {
    return Invalid("stalled_stream_seconds", "> 0 and <= 1e6",
                   absl::StrCat(stalled_stream_seconds));
  }
  if (!auth_tokens.empty()) {
    if (absl::Status parsed = ParseCredentials(auth_tokens).status();
        !parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--auth_token_file: ", parsed.message()));
    }
  }
  MLP_RETURN_IF_ERROR(ValidateTls());
  if (LogFormat format; !ParseLogFormat(log_format, &format)) {
    return Invalid("log_format", "text or json", common::Quote(log_format, 40));
  }
  if (!(shutdown_grace_seconds >= 0)) {
    return Invalid("shutdown_grace_seconds", ">= 0",
                   absl::StrCat(shutdown_grace_seconds));
  }
  return absl::OkStatus();
}

absl::Status ServerOptions::ValidateMode() const {
  if (mode != "primary" && mode != "replica") {
    return Invalid("mode", "primary or replica", common::Quote(mode, 40));
  }
  if (!(repository_poll_seconds >= 0.01) || repository_poll_seconds > 3600) {
    return Invalid("repository_poll_seconds", ">= 0.01 and <= 3600",
                   absl::StrCat(repository_poll_seconds));
  }
  if (!primary_address.empty() && !replica()) {
    return absl::InvalidArgumentError(
        "--primary_address names a replica's primary: it needs "
        "--mode=replica");
  }
  return absl::OkStatus();
}

absl::Status ServerOptions::ValidateHttp() const {
  if (http_threads < 0 || http_threads > 256) {
    return Invalid("http_threads", "0 (one per core) to 256",
                   absl::StrCat(http_threads));
  }
  if (http_max_connections < 1) {
    return Invalid("http_max_connections", ">= 1",
                   absl::StrCat(http_max_connections));
  }
  if (http_idle_timeout_seconds < 1) {
    return Invalid("http_idle_timeout_seconds", ">= 1",
                   absl::StrCat(http_idle_timeout_seconds));
  }
  return absl::OkStatus();
}

absl::Status ServerOptions::ValidateTls() const {
  if (tls_cert_file.empty() != tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file go together: set both or neither");
  }
  if (!tls_client_ca_file.empty() && tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca_file (mutual TLS) needs --tls_cert_file and "
        "--tls_key_file");
  }
  if (tls_reload_seconds < 1) {
    return Invalid("tls_reload_seconds", ">= 1",
                   absl::StrCat(tls_reload_seconds));
  }
  // Read now, so that a wrong path is a start-up error rather than failed
  // handshakes later.
  for (const auto& [flag, path] :
       {std::pair<const char*, const std::string*>{"tls_cert_file",
                                                   &tls_cert_file},
        {"tls_key_file", &tls_key_file},
        {"tls_client_ca_file", &tls_client_ca_file}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> pem = common::ReadFile(*path);
    if (!pem.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": ", pem.status().message()));
    }
    if (!absl::StrContains(*pem, "-----BEGIN ")) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " '", *path, "' holds no PEM block"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadAuthTokenFile(const std::string& path) {
  // Like ssh with a private key: a secret others can read is refused.
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    return common::ErrnoStatus("stat", path, errno);
  }
  if ((info.st_mode & 077) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--auth_token_file '", path, "' is readable or writable by group or ",
        "others (mode ", absl::StrFormat("0%03o", info.st_mode & 0777),
        "); make it the owner's only: chmod 600 '", path, "'"));
  }
  absl::StatusOr<std::string> text = common::ReadFile(path);
  if (!text.ok()) return text.status();
  if (absl::Status parsed = ParseCredentials(*text).status(); !parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth_token_file '", path, "': ", parsed.message()));
  }
  return text;
}

}  // namespace mlp::service
