#!/usr/bin/env bash
# One command that installs what is missing, builds and runs every test:
#   1. Release build with warnings as errors; all ctest tests (C++ and Python,
#      the slow Fashion-MNIST test included);
#   2. a clang build with AddressSanitizer + UndefinedBehaviorSanitizer and
#      -Wthread-safety; ctest without the slow label;
#   3. the container test (docker/test-container.sh) when Docker or Podman is
#      available (MLP_REQUIRE_CONTAINER=1 makes its absence an error).
# MLP_SKIP_SANITIZERS=1 / MLP_SKIP_CONTAINER=1 skip steps 2 / 3.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

echo "== style and layering checks"
scripts/check-style.sh

echo "== release build"
BUILD_DIR=build scripts/build.sh -DMLP_WERROR=ON
(cd build && ctest --output-on-failure -j2 --timeout 900)

if [[ "${MLP_SKIP_SANITIZERS:-0}" != 1 ]]; then
  echo "== asan/ubsan build (clang, -Wthread-safety)"
  CC=clang CXX=clang++ BUILD_DIR=build-asan BUILD_TYPE=RelWithDebInfo \
    scripts/build.sh -DMLP_WERROR=ON -DMLP_SANITIZE=address,undefined \
    -DMLP_BUILD_BENCHMARKS=OFF
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j2 -LE slow --timeout 900)
fi

if [[ "${MLP_SKIP_CONTAINER:-0}" != 1 ]]; then
  if command -v podman >/dev/null || docker info >/dev/null 2>&1; then
    echo "== container test"
    MLP_BIN=build/client/mlp docker/test-container.sh
  elif [[ "${MLP_REQUIRE_CONTAINER:-0}" == 1 ]]; then
    echo "container test: no Docker engine or Podman found" >&2
    exit 1
  else
    echo "== container test skipped: no Docker engine or Podman found"
  fi
fi
echo "all tests passed"
