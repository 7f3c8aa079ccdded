// Where the store puts files it cannot read: never deleted, moved aside
// under <data_dir>/quarantine/ for an operator to inspect.
#ifndef MLP_SERVER_STORE_QUARANTINE_H_
#define MLP_SERVER_STORE_QUARANTINE_H_

#include <string>

#include "absl/status/status.h"

namespace mlp::store {

// Moves an unreadable file or directory into `quarantine_dir` (named after
// the time, its parent and itself) and logs why; logs if it cannot be moved.
// Never deletes anything.
void MoveToQuarantine(const std::string& path,
                      const std::string& quarantine_dir,
                      const absl::Status& why);

}  // namespace mlp::store

#endif  // MLP_SERVER_STORE_QUARANTINE_H_
