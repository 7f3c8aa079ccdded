#include "server/registry/store_errors.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/common/escape.h"
#include "server/common/file_io.h"
#include "server/common/log.h"

namespace mlp::registry {

absl::Status StoreErrorForCaller(const absl::Status& error,
                                 absl::string_view what) {
  MLP_LOG(ERROR) << what << ": " << common::EscapeControls(error.message());
  absl::StatusCode code = error.code();
  std::string cause;
  switch (code) {
    case absl::StatusCode::kResourceExhausted:
      cause = "the server's disk is full";
      break;
    case absl::StatusCode::kDataLoss:
      cause = "its stored file is corrupt";
      break;
    case absl::StatusCode::kAlreadyExists:
      cause = "its files already exist on the server's disk";
      break;
    default:
      if (code == absl::StatusCode::kNotFound) {
        code = absl::StatusCode::kInternal;
      }
      cause = "the server could not read or write its files";
  }
  if (const int err = common::ErrnoOf(error); err != 0) {
    absl::StrAppend(&cause, " (", std::strerror(err), ")");
  }
  return absl::Status(code, absl::StrCat(what, ": ", cause,
                                         "; the server log has the details"));
}

absl::Status CheckWritable(bool store_read_only, absl::string_view what) {
  if (!store_read_only) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("this server is a read-only replica: it cannot ", what));
}

}  // namespace mlp::registry
