#!/usr/bin/env bash
# Cheap checks of the project's conventions, run before the build:
# - every C++ file is clang-formatted (.clang-format: Google style);
# - the engine includes no gRPC/protobuf header and the CLI includes nothing
#   from server/ (see docs/architecture.md).
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
if grep -rnE '#include *"server/' client; then
  echo "layering: client/ must not include server/ headers" >&2
  status=1
fi
exit $status
