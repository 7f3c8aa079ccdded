#include "client/status.h"

#include <grpcpp/support/status.h>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace mlp::cli {
namespace {

// Payload keys; the payload content is irrelevant, only its presence counts.
constexpr char kServerErrorUrl[] = "mlp.cli/server-error";
constexpr char kUsageErrorUrl[] = "mlp.cli/usage-error";
constexpr char kConnectionErrorUrl[] = "mlp.cli/connection-error";

}  // namespace

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status result(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
  result.SetPayload(kServerErrorUrl, absl::Cord());
  return result;
}

bool IsServerError(const absl::Status& status) {
  return status.GetPayload(kServerErrorUrl).has_value();
}

absl::Status ConnectionError(absl::StatusCode code, absl::string_view message) {
  absl::Status result(code, message);
  result.SetPayload(kConnectionErrorUrl, absl::Cord());
  return result;
}

bool IsConnectionError(const absl::Status& status) {
  return status.GetPayload(kConnectionErrorUrl).has_value();
}

absl::Status UsageError(absl::string_view message) {
  absl::Status result = absl::InvalidArgumentError(message);
  result.SetPayload(kUsageErrorUrl, absl::Cord());
  return result;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsageErrorUrl).has_value();
}

namespace {

// Bytes of the UTF-8 sequence at the start of `text`, or 0 if it is not one
// (ASCII bytes included: they are handled apart).
size_t Utf8SequenceLength(absl::string_view text) {
  const auto lead = static_cast<unsigned char>(text[0]);
  const size_t length = lead >= 0xf0 && lead <= 0xf4   ? 4
                        : lead >= 0xe0                 ? 3
                        : lead >= 0xc2 && lead <= 0xdf ? 2
                                                       : 0;
  if (length == 0 || text.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xc0) != 0x80) return 0;
  }
  // U+0080-U+009F are control characters too (some terminals act on them).
  if (lead == 0xc2 && static_cast<unsigned char>(text[1]) < 0xa0) return 0;
  return length;
}

}  // namespace

std::string Quote(absl::string_view text, size_t max_chars) {
  std::string out = "'";
  size_t chars = 0;
  size_t i = 0;
  while (i < text.size() && chars < max_chars) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x7f) {
      out += static_cast<char>(byte);
      ++i;
    } else if (const size_t length = Utf8SequenceLength(text.substr(i));
               length > 0) {
      absl::StrAppend(&out, text.substr(i, length));
      i += length;
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(byte, absl::kZeroPad2));
      ++i;
    }
    ++chars;
  }
  if (i < text.size()) {
    absl::StrAppend(&out, "...' (", text.size(), " bytes)");
  } else {
    out += "'";
  }
  return out;
}

std::string FormatError(const absl::Status& status) {
  // Server errors carry the code name because scripts and people look for
  // it (NOT_FOUND, ALREADY_EXISTS); local errors already say what and where.
  if (IsServerError(status) || IsConnectionError(status)) {
    return absl::StrCat("error: ", absl::StatusCodeToString(status.code()),
                        ": ", status.message());
  }
  return absl::StrCat("error: ", status.message());
}

std::string FormatErrorJson(const absl::Status& status) {
  const nlohmann::json error = {
      {"error",
       {{"code", absl::StatusCodeToString(status.code())},
        {"message", std::string(status.message())},
        {"source", IsServerError(status)       ? "server"
                   : IsConnectionError(status) ? "connection"
                   : IsUsageError(status)      ? "usage"
                                               : "local"}}}};
  // Messages may quote file names and CSV fields, which need not be UTF-8:
  // such bytes become U+FFFD instead of failing.
  return error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int ExitCode(const absl::Status& status, bool interrupted) {
  if (status.ok()) return kExitOk;
  if (interrupted && status.code() == absl::StatusCode::kCancelled) {
    return kExitInterrupted;
  }
  return IsUsageError(status) ? kExitUsage : kExitError;
}

}  // namespace mlp::cli
