#!/usr/bin/env bash
# Cheap checks of the project's conventions, run before the build:
# - every C++ file is clang-formatted (.clang-format: Google style);
# - the engine includes no gRPC/protobuf header, and every part includes only
#   the parts the layering table in docs/architecture.md allows.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
if command -v clang-format >/dev/null; then
  if ! git ls-files -z '*.cc' '*.h' | xargs -0 clang-format --dry-run -Werror; then
    echo "style: run clang-format -i on the files above" >&2
    status=1
  fi
else
  echo "style: clang-format not installed; formatting not checked"
fi
if grep -rnE '#include *[<"](grpcpp|grpc\+\+|grpc/|google/protobuf|mlp/v1)' server/engine; then
  echo "layering: server/engine must not include gRPC or protobuf headers" >&2
  status=1
fi
# Layering: what each part may include of the project. The rules are read
# from the table under "### Allowed arrows" in docs/architecture.md (one row
# per part: `part` | `allowed`, `allowed` ...; words in parentheses are
# commentary), so the document and the check cannot drift apart. External
# headers (Abseil, Eigen, gRPC, ...) are checked above for the engine only.
doc=docs/architecture.md
mapfile -t layers < <(
  awk '/^### Allowed arrows/ {on = 1; next} on && /^#/ {exit} on && /^\| `/' "$doc" |
    while IFS='|' read -r _ part allowed _; do
      part=$(echo "$part" | tr -d ' `')
      allowed=$(echo "$allowed" | sed -E 's/\([^)]*\)//g' | grep -oE '`[^`]+`' |
                tr -d '`' | tr '\n' ' ')
      echo "$part|${allowed% }"
    done)
if [[ ${#layers[@]} -lt 2 ]]; then
  echo "layering: no table found under '### Allowed arrows' in $doc" >&2
  exit 1
fi
for rule in "${layers[@]}"; do
  part=${rule%%|*}
  allowed=" ${rule#*|} "
  files=$(git ls-files -- "$part" | grep -E '\.(cc|h)$' || true)
  for f in $files; do
    while IFS= read -r inc; do
      [[ -z "$inc" ]] && continue
      # base/x.h -> base; server/engine/x.h -> server/engine; mlp/v1/.. -> mlp
      case "$inc" in
        server/*) target=$(echo "$inc" | cut -d/ -f1-2) ;;
        *) target=${inc%%/*} ;;
      esac
      if [[ "$allowed" != *" $target "* ]]; then
        echo "layering: $f includes $inc; $part may include only:${allowed% }" >&2
        status=1
      fi
    done < <(grep -oE '^#include "(base|client|mlp|server/[a-z_]+|tests)/[^"]*"' "$f" |
             sed -E 's/^#include "//; s/"$//')
  done
done
# Every source file of base/, server/ and client/ belongs to a row.
while IFS= read -r f; do
  covered=0
  for rule in "${layers[@]}"; do
    part=${rule%%|*}
    if [[ "$f" == "$part"* ]]; then covered=1; break; fi
  done
  if [[ $covered == 0 ]]; then
    echo "layering: $f belongs to no row of the table in $doc" >&2
    status=1
  fi
done < <(git ls-files -- base server client | grep -E '\.(cc|h)$')
exit $status
