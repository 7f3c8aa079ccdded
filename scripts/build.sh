#!/usr/bin/env bash
# Configures and builds mlp-serve in Release into build/ (or $BUILD_DIR).
# Extra arguments go to cmake's configure step, e.g. -DMLP_WERROR=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Paths relative to the checkout, so another clone of the same sources
  # (a CI run, a second work tree) hits the same cache entries.
  export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
fi
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "${launcher[@]}" "$@"
cmake --build "$build_dir" -j"${JOBS:-2}"
