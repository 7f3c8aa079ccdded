#!/usr/bin/env bash
# Cheap checks of the project's conventions, run before the build:
# - every C++ file is clang-formatted (.clang-format: Google style);
# - the engine includes no gRPC/protobuf header, and every part includes only
#   the parts the layering table in docs/architecture.md allows.
#   scripts/check-style.sh                  everything
#   scripts/check-style.sh --layering-only  the include rules only
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [[ "${1:-}" == --layering-only ]]; then
  :
elif command -v clang-format >/dev/null; then
  if ! git ls-files -z '*.cc' '*.h' | xargs -0 clang-format --dry-run -Werror; then
    echo "style: run clang-format -i on the files above" >&2
    status=1
  fi
else
  echo "style: clang-format not installed; formatting not checked"
fi
if grep -rnE '#include *[<"](grpcpp|grpc\+\+|grpc/|google/protobuf|mlp/v1|inference/)' server/engine; then
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
# One pass: every project include of every source file of base/, server/
# and client/ against its row; a file that belongs to no row is refused too.
# base/x.h -> base; server/engine/x.h -> server/engine; mlp/v1/... -> mlp;
# inference/... -> inference.
git ls-files -- base server client | grep -E '\.(cc|h)$' >"$tmp/files"
# Every file once with an empty include (so files without any are seen),
# then its includes.
{
  sed 's/$/:/' "$tmp/files"
  xargs grep -HoE '^#include "(base|client|inference|mlp|server/[a-z_]+|tests)/[^"]*"' \
    <"$tmp/files" | sed -E 's/:#include "/:/; s/"$//' || true
} | awk -F: -v doc="$doc" -v rules="$(printf '%s\n' "${layers[@]}")" '
  BEGIN {
    n = split(rules, lines, "\n")
    for (i = 1; i <= n; i++) {
      split(lines[i], r, "|"); part[i] = r[1]; allowed[i] = " " r[2] " "
    }
  }
  {
    file = $1; inc = $2; row = 0
    for (i = 1; i <= n; i++) if (part[i] != "" && index(file, part[i]) == 1) { row = i; break }
    if (row == 0) {
      if (!(file in reported)) print "layering: " file " belongs to no row of the table in " doc
      reported[file] = 1; bad = 1; next
    }
    if (inc == "") next
    split(inc, p, "/")
    target = (p[1] == "server") ? p[1] "/" p[2] : p[1]
    if (index(allowed[row], " " target " ") == 0) {
      sub(/ $/, "", allowed[row])
      print "layering: " file " includes " inc "; " part[row] " may include only:" allowed[row]
      allowed[row] = allowed[row] " "; bad = 1
    }
  }
  END { exit bad }' >&2 || status=1
exit $status
