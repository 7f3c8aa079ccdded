#!/usr/bin/env bash
# scripts/check-style.sh fails on a planted layering violation and names it,
# and passes on the same tree without it (the include rules only: the
# formatting check is the real run's). Runs on a copy of the checkout's
# files (a throwaway git repository), never on the checkout itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
git ls-files -z | xargs -0 cp --parents -t "$work"
cd "$work"
git init -q .
git add -A
fail() { echo "FAIL: $*" >&2; exit 1; }

expect_violation() {  # file, include line, expected message
  local file=$1 include=$2 expected=$3
  mkdir -p "$(dirname "$file")"
  printf '%s\n' "$include" >"$file"
  git add "$file"
  local out rc=0
  out=$(scripts/check-style.sh --layering-only 2>&1) || rc=$?
  [[ $rc != 0 ]] || fail "$file with '$include' passed"
  [[ "$out" == *"$expected"* ]] || fail "$file: expected '$expected' in: $out"
  git rm -q --cached "$file"
  rm -f "$file"
  echo "ok: $file / $include refused"
}

scripts/check-style.sh --layering-only >/dev/null 2>&1 ||
  fail "the clean tree does not pass"
echo "ok: clean tree passes"
expect_violation server/engine/planted.h '#include "server/store/record.h"' \
  "server/engine/planted.h includes server/store/record.h"
expect_violation server/engine/planted.h '#include <grpcpp/grpcpp.h>' \
  "server/engine must not include gRPC"
expect_violation server/store/planted.h '#include "server/registry/types.h"' \
  "server/store/planted.h includes server/registry/types.h"
expect_violation server/service/planted.h '#include "server/store/record.h"' \
  "server/service/planted.h includes server/store/record.h"
expect_violation server/main.cc '#include "server/registry/registry.h"' \
  "server/main.cc includes server/registry/registry.h"
expect_violation client/planted.h '#include "server/engine/network.h"' \
  "client/planted.h includes server/engine/network.h"
expect_violation server/newpart/planted.h '#include "base/status_macros.h"' \
  "server/newpart/planted.h belongs to no row"
echo "all planted violations were refused"
