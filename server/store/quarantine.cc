#include "server/store/quarantine.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/common/file_io.h"
#include "server/common/log.h"

namespace mlp::store {

using common::Dirname;
using common::SyncDirectoryAfterCommit;
using common::UniqueSuffix;

void MoveToQuarantine(const std::string& path,
                      const std::string& quarantine_dir,
                      const absl::Status& why) {
  const std::filesystem::path from(path);
  const std::string target =
      (std::filesystem::path(quarantine_dir) /
       absl::StrCat(
           absl::FormatTime("%Y%m%dT%H%M%S", absl::Now(), absl::UTCTimeZone()),
           "-", UniqueSuffix(), "-", from.parent_path().filename().string(),
           "-", from.filename().string()))
          .string();
  if (::rename(path.c_str(), target.c_str()) != 0) {
    MLP_LOG(ERROR) << "cannot read '" << path << "' (" << why.message()
                   << ") and cannot move it aside: " << std::strerror(errno)
                   << "; left in place";
    return;
  }
  SyncDirectoryAfterCommit(Dirname(path));
  SyncDirectoryAfterCommit(quarantine_dir);
  MLP_LOG(ERROR) << "cannot read '" << path << "': " << why.message()
                 << "; moved to '" << target << "'";
}

}  // namespace mlp::store
