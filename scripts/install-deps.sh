#!/usr/bin/env bash
# Installs the Debian 12 packages mlp-serve needs to build, run and test.
#   scripts/install-deps.sh          build + run + test dependencies
#   scripts/install-deps.sh --build  build + run dependencies only
# Runs apt-get only when something is missing. Needs root (or sudo).
set -euo pipefail

build_packages=(
  cmake g++ make pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libeigen3-dev libabsl-dev libcli11-dev nlohmann-json3-dev zlib1g-dev
  libopenblas-dev libmicrohttpd-dev prometheus-cpp-dev
)
test_packages=(
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-grpcio python3-protobuf python3-numpy
  clang libclang-rt-14-dev clang-format
  dataset-fashion-mnist openssl prometheus
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
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
