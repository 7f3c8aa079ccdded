#!/usr/bin/env bash
# Smoke run of the service benchmark (ctest bench_service_load_smoke): the
# same programs as bench/service/run.sh, a fraction of a second per cell, to
# prove they build, talk to each other and measure without failed calls. No
# figure is checked: that is run.sh's job, on a quiet machine.
#
#   bench/service/smoke.sh MLP_SERVER ECHO_SERVER SERVICE_LOAD
#
# Exits non-zero if a server does not start, if service_load fails (it does
# on any failed call, or when ModelInfer does not answer Predict's bytes) or
# if mlp-server does not exit 0 on SIGTERM.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [[ $# != 3 ]]; then
  echo "usage: $0 MLP_SERVER ECHO_SERVER SERVICE_LOAD" >&2
  exit 2
fi
server_bin=$1 echo_bin=$2 load_bin=$3

tmp=$(mktemp -d)
server_pid=""
echo_pid=""
cleanup() {
  for pid in $server_pid $echo_pid; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT


"$echo_bin" --address=127.0.0.1:0 --port_file="$tmp/echo-port" \
  2>"$tmp/echo.log" &
echo_pid=$!
"$server_bin" --address=127.0.0.1:0 --data_dir="$tmp/data" \
  --port_file="$tmp/port" --http_address= --compute_threads=1 \
  --log_level=warning 2>"$tmp/server.log" &
server_pid=$!
wait_for_file "$tmp/echo-port" "$echo_pid" 20
wait_for_file "$tmp/port" "$server_pid" 20
server=127.0.0.1:$(cat "$tmp/port")
echo=127.0.0.1:$(cat "$tmp/echo-port")

# Predict against the echo floor, both models, one and eight in flight.
"$load_bin" --server="$server" --echo="$echo" --create_models \
  --models=seed,mnist --batches=1 --concurrency=1,8 --seconds=0.2 \
  --warmup_seconds=0 --label=smoke
# Predict against ModelInfer (it first checks that both answer the same).
"$load_bin" --server="$server" --infer --models=seed --batches=1 \
  --concurrency=1 --rounds=1 --seconds=0.2 --warmup_seconds=0

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
if [[ $status != 0 ]]; then
  echo "mlp-server exited with $status after SIGTERM; its log:" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi
echo "service benchmark smoke run: passed"
