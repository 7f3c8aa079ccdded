// Store errors on their way to a caller. The store's messages name the
// server's files ("create '/srv/mlp-data/models/xor/v000003.ver.tmp.12-3':
// No space left on device"): the operator's business, not a caller's, who
// should learn neither where the data directory is nor how it is laid out.
// StoreErrorForCaller logs the store's message, path and all, and returns
// a message in the caller's terms instead:
//
//   StoreErrorForCaller(error, "cannot store version 3 of model 'xor'")
//   RESOURCE_EXHAUSTED: cannot store version 3 of model 'xor': the server's
//   disk is full (No space left on device); the server log has the details
//
// Thread-safe.
#ifndef MLP_SERVER_REGISTRY_STORE_ERRORS_H_
#define MLP_SERVER_REGISTRY_STORE_ERRORS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace mlp::registry {

// `error` (not OK, from server/store or server/common/file_io) as the caller
// sees it: "<what>: <cause>; the server log has the details", where `what`
// names the model or dataset and says what failed, and the cause is said in
// words (with the system's error text when there is one). The code is kept
// (RESOURCE_EXHAUSTED for a full disk, DATA_LOSS for a corrupt file,
// INTERNAL for other I/O failures), except NOT_FOUND, which becomes
// INTERNAL: a file missing under the server is the server's fault, not an
// unknown name. Logs `what` and the store's message at ERROR.
absl::Status StoreErrorForCaller(const absl::Status& error,
                                 absl::string_view what);

// OK over a store that may be written; FAILED_PRECONDITION "this server is a
// read-only replica: it cannot <what>" over a replica's read-only one. The
// catalogs check it before any work, so a write never reaches the store.
absl::Status CheckWritable(bool store_read_only, absl::string_view what);

}  // namespace mlp::registry

#endif  // MLP_SERVER_REGISTRY_STORE_ERRORS_H_
