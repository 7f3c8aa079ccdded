#include "server/registry/types.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/common/escape.h"

namespace mlp::registry {

absl::Status ValidateName(absl::string_view name, absl::string_view field) {
  if (name.empty() || name.size() > 63) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be 1-63 characters, got ", name.size()));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (alnum || (i > 0 && (c == '.' || c == '_' || c == '-'))) continue;
    return absl::InvalidArgumentError(absl::StrCat(
        field, " ", common::Quote(name), " has ",
        common::Quote(absl::string_view(&name[i], 1)), " at position ", i,
        "; expected [a-z0-9] first, then [a-z0-9._-]"));
  }
  return absl::OkStatus();
}

}  // namespace mlp::registry
