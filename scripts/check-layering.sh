#!/usr/bin/env bash
# Checks the layering rules: the engine includes no gRPC/protobuf header and
# the CLI includes nothing from server/ (see docs/architecture.md).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
if grep -rnE '#include *[<"](grpcpp|grpc\+\+|grpc/|google/protobuf|mlp/v1)' server/engine; then
  echo "layering: server/engine must not include gRPC or protobuf headers" >&2
  status=1
fi
if grep -rnE '#include *"server/' client; then
  echo "layering: client/ must not include server/ headers" >&2
  status=1
fi
exit $status
