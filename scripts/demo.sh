#!/usr/bin/env bash
# One command from a fresh clone to a trained, answering model:
# installs what is missing, builds, starts mlp-server on 127.0.0.1:50051 with
# ./mlp-data, runs `mlp demo` against it and leaves the server running.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --build
scripts/build.sh -DMLP_BUILD_TESTS=OFF -DMLP_BUILD_BENCHMARKS=OFF

address=${MLP_SERVER:-127.0.0.1:50051}
server_log=mlp-data.log
if build/client/mlp --server="$address" health >/dev/null 2>&1; then
  echo "demo: a server already answers on $address; using it"
else
  nohup build/server/mlp-server --address="$address" --data_dir=./mlp-data \
    >"$server_log" 2>&1 &
  echo $! > mlp-server.pid
  for _ in $(seq 100); do
    build/client/mlp --server="$address" health >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "demo: mlp-server started on $address (pid $(cat mlp-server.pid), log $server_log)"
fi

build/client/mlp --server="$address" demo

cat <<MSG

The server keeps running for the CLI tour (see README.md), e.g.:
  build/client/mlp list
  build/client/mlp predict demo-xnor --input 1,0,1
Stop it with:  kill \$(cat mlp-server.pid)
MSG
