// Status propagation helpers for absl::Status / absl::StatusOr, for every part
// of the project (server and CLI alike: base/ depends on Abseil only).
//
// Debian 12's Abseil (20220623) ships no status macros, so the project defines
// its own, prefixed MLP_. Both evaluate their expression exactly once.
#ifndef MLP_BASE_STATUS_MACROS_H_
#define MLP_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the current function with the status if it is not OK.
#define MLP_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status mlp_status_ = (expr);       \
    if (!mlp_status_.ok()) return mlp_status_; \
  } while (0)

#define MLP_STATUS_CONCAT_INNER_(a, b) a##b
#define MLP_STATUS_CONCAT_(a, b) MLP_STATUS_CONCAT_INNER_(a, b)

// `MLP_ASSIGN_OR_RETURN(T x, MakeT());` declares (or assigns) `x` from the
// value of a StatusOr, or returns its status from the current function.
#define MLP_ASSIGN_OR_RETURN(lhs, expr)                                        \
  MLP_ASSIGN_OR_RETURN_IMPL_(MLP_STATUS_CONCAT_(mlp_statusor_, __LINE__), lhs, \
                             expr)

#define MLP_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  if (!statusor.ok()) return statusor.status();         \
  lhs = std::move(statusor).value()

#endif  // MLP_BASE_STATUS_MACROS_H_
