#!/usr/bin/env bash
# Generates the Python client from proto/ into a temporary directory and runs
# xnor.py against the server at $1 (default: $MLP_SERVER or 127.0.0.1:50051).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
protoc -I "$here/../../proto" --python_out="$gen" --grpc_python_out="$gen" \
  --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" \
  mlp/v1/mlp.proto
PYTHONPATH=$gen /usr/bin/python3 "$here/xnor.py" "$@"
