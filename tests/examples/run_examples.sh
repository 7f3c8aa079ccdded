#!/usr/bin/env bash
# Runs every program in examples/ as a user would, against a real mlp-server
# on a free loopback port: each must exit 0 (all four XNOR rows right).
#
#   tests/examples/run_examples.sh PATH_TO_MLP_SERVER
#
# The Node.js example needs examples/node/node_modules (npm ci, which
# scripts/install-deps.sh runs).
set -euo pipefail
server_bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n $pid ]]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$server_bin" --address=127.0.0.1:0 --port_file="$tmp/port" --http_address= \
  --data_dir="$tmp/data" 2>"$tmp/server.log" &
pid=$!
for _ in $(seq 1 200); do [[ -s $tmp/port ]] && break; sleep 0.05; done
[[ -s $tmp/port ]] || { cat "$tmp/server.log"; echo "FAIL: mlp-server did not start"; exit 1; }
address=127.0.0.1:$(cat "$tmp/port")

status=0
echo "== examples/python/run.sh $address"
"$root/examples/python/run.sh" "$address" || { echo "FAIL: the Python example"; status=1; }
echo "== examples/node/xnor.js $address"
if [[ ! -d $root/examples/node/node_modules ]]; then
  echo "FAIL: examples/node/node_modules is missing (cd examples/node && npm ci)"
  status=1
elif ! command -v node >/dev/null; then
  echo "FAIL: node is not installed"
  status=1
else
  node "$root/examples/node/xnor.js" "$address" || { echo "FAIL: the Node.js example"; status=1; }
fi
exit $status
