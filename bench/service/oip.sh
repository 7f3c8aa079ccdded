#!/usr/bin/env bash
# The Open Inference Protocol's cost, measured side by side on one server:
# gRPC ModelInfer (raw) against mlp.v1 Predict (same model, same rows), then
# HTTP infer (JSON, and the binary tensor extension) at 64 connections as a
# ratio of gRPC ModelInfer at 64 calls in flight. The server is pinned to one
# core, the load generators to another.
#
#   bench/service/oip.sh [BUILD_DIR]          (default: build)
#
# Needs mlp-server and service_load in BUILD_DIR, and wrk (Debian's wrk) for
# the HTTP rows. Environment knobs:
#   SERVER_CPU=0 LOAD_CPU=1   cores for the server and for the load
#   CELL_SECONDS=2            measured seconds per round
#   ROUNDS=3                  rounds per gRPC cell (medians)
#   HTTP_SECONDS=5            wrk's duration per HTTP row
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
CELL_SECONDS=${CELL_SECONDS:-2}
ROUNDS=${ROUNDS:-3}
HTTP_SECONDS=${HTTP_SECONDS:-5}
SERVER_BIN=$BUILD/server/mlp-server
LOAD_BIN=$BUILD/bench/service/service_load
for bin in "$SERVER_BIN" "$LOAD_BIN"; do
  [[ -x $bin ]] || { echo "missing $bin: build mlp-server service_load" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 2; }

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT


machine_line
echo "server on core $SERVER_CPU, load on core $LOAD_CPU; $(uptime | sed 's/.*load average/load average/')"

# --compute_threads=1: the server has one core. Request lines at warning:
# the figures are of the protocols, not of the log.
taskset -c "$SERVER_CPU" "$SERVER_BIN" --compute_threads=1 --log_level=warning \
  --address=127.0.0.1:0 --port_file="$tmp/port" \
  --http_address=127.0.0.1:0 --http_port_file="$tmp/http_port" \
  --data_dir="$tmp/data" 2>"$tmp/server.log" &
server_pid=$!
wait_for_file "$tmp/port" "$server_pid" 10
wait_for_file "$tmp/http_port" "$server_pid" 10
port=$(cat "$tmp/port")
http_port=$(cat "$tmp/http_port")
load() { taskset -c "$LOAD_CPU" "$LOAD_BIN" --server="127.0.0.1:$port" "$@"; }

# gRPC: Predict vs ModelInfer, 1 and 64 in flight, both models, batch 1.
load --create_models --infer --models=seed,mnist --batches=1 \
  --concurrency=1,64 --seconds="$CELL_SECONDS" --rounds="$ROUNDS" \
  --server_pid="$server_pid" | tee "$tmp/grpc.txt"

# The gRPC ModelInfer calls/s at 64 in flight of `model` (field 9).
grpc_qps() {
  awk -F'|' -v m="$1" '$2 ~ "^ " m " " && $4 + 0 == 64 { gsub(/ /, "", $9); print $9 }' "$tmp/grpc.txt"
}

# wrk's Lua: POST the body file, with the binary extension's header when
# asked. wrk counts answers outside 2xx/3xx itself (errors.status); they fail
# the row.
cat >"$tmp/post.lua" <<'LUA'
-- BODY_FILE and HEADER_LENGTH come from the environment.
wrk.method = "POST"
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local header_length = os.getenv("HEADER_LENGTH")
if header_length ~= nil and header_length ~= "" then
  wrk.headers["Inference-Header-Content-Length"] = header_length
  wrk.headers["Content-Type"] = "application/octet-stream"
end
function done(summary, latency, requests)
  io.write(string.format("WRK %.0f %.0f %d %d\n", summary.requests / (summary.duration / 1e6),
                         latency:percentile(50), summary.errors.status,
                         summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

echo
echo "HTTP infer, wrk -t1 -c64 -d${HTTP_SECONDS}s (64 keep-alive connections), batch 1; ratio to gRPC ModelInfer at 64 in flight above"
echo
echo "| model | encoding | request bytes | req/s | p50 (us) | gRPC ModelInfer calls/s | ratio |"
echo "|---|---|---:|---:|---:|---:|---:|"
status=0
for model in seed mnist; do
  sizes=$(load --write_http_bodies="$tmp" --body_model=$model --body_batch=1)
  read -r json_bytes bin_bytes <<<"$sizes"
  grpc=$(grpc_qps "$model")
  for encoding in json binary; do
    if [[ $encoding == json ]]; then
      args=("$tmp/infer.json" ""); bytes=$json_bytes
    else
      args=("$tmp/infer.bin" "$(cat "$tmp/infer.bin.header_length")"); bytes=$bin_bytes
    fi
    out=$(BODY_FILE=${args[0]} HEADER_LENGTH=${args[1]} taskset -c "$LOAD_CPU" \
      wrk -t1 -c64 -d"${HTTP_SECONDS}s" -s "$tmp/post.lua" \
      "http://127.0.0.1:$http_port/v2/models/bench-$model/infer")
    read -r _ rps p50 bad socket_errors <<<"$(grep '^WRK ' <<<"$out" || echo "WRK 0 0 1 1")"
    if ((bad > 0 || socket_errors > 0)); then
      echo "$out" >&2
      echo "wrk: $bad non-200 answers, $socket_errors socket errors" >&2
      status=1
    fi
    ratio=$(awk -v h="$rps" -v g="$grpc" 'BEGIN { printf "%.2f", (g > 0 ? h / g : 0) }')
    echo "| $model | $encoding | $bytes | $rps | $p50 | $grpc | $ratio |"
  done
done
exit $status
