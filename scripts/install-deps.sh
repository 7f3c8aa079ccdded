#!/usr/bin/env bash
# Installs the Debian 12 packages mlp-serve needs to build, run and test.
#   scripts/install-deps.sh          build + run + test dependencies
#   scripts/install-deps.sh --build  build + run dependencies only
# Runs apt-get only when something is missing. Needs root (or sudo). With
# the test dependencies it also installs the Node.js example's libraries
# (npm ci in examples/node, from the npm registry).
set -euo pipefail
cd "$(dirname "$0")/.."

build_packages=(
  cmake g++ make pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libeigen3-dev libabsl-dev libcli11-dev nlohmann-json3-dev zlib1g-dev
  libopenblas-dev libmicrohttpd-dev prometheus-cpp-dev
)
test_packages=(
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-grpcio python3-protobuf python3-numpy python3-yaml
  clang libclang-rt-14-dev clang-format
  dataset-fashion-mnist openssl prometheus
  nginx
)

packages=("${build_packages[@]}")
if [[ "${1:-}" != "--build" ]]; then
  packages+=("${test_packages[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
# The Node.js example (examples/node) needs node and npm; a machine may have
# them from elsewhere than Debian's packages, so only their absence counts.
if [[ "${1:-}" != "--build" ]] && ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
# kubectl renders deploy/k8s (kubectl kustomize, offline). A newer one from
# elsewhere is kept; Debian's kubernetes-client only when there is none.
if [[ "${1:-}" != "--build" ]] && ! command -v kubectl >/dev/null; then
  missing+=(kubernetes-client)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: run as root" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "install-deps: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The Node.js example's libraries, from the npm registry, at the versions
# examples/node/package-lock.json pins.
if [[ "${1:-}" != "--build" && ! -d examples/node/node_modules ]]; then
  echo "install-deps: npm ci in examples/node"
  (cd examples/node && npm ci --no-audit --no-fund --loglevel=error)
fi
