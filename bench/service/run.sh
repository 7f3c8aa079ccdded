#!/usr/bin/env bash
# Predict round-trip benchmark: mlp-server next to a plain gRPC echo server
# (the transport floor), both on loopback, both pinned to one core, the load
# generators (service_load, then h2load) pinned to another.
#
#   bench/service/run.sh [BUILD_DIR]          (default: build)
#
# Needs the targets mlp-server, echo_server and service_load in BUILD_DIR and
# h2load (Debian nghttp2-client) on the PATH; without h2load that part is
# skipped. Environment knobs:
#   SERVER_CPU=0 LOAD_CPU=1     cores for the servers and for the load
#   CELL_SECONDS=2              measured seconds per cell and target
#   WARMUP_SECONDS=0.5          unmeasured warm-up per cell and target
#   LOG_LEVELS="warning info"   server log levels to run the matrix at
#   SERVER_BIN=...              another mlp-server binary (before/after runs)
#   TRIM_WAIT_SECONDS=12        wait before the last RSS reading (memory trim)
#
# Prints: server RSS (idle, with the two models, after the load and once the
# freed heap has been trimmed), one table per
# log level (service_load: Predict vs echo, same message sizes) and one h2load
# table (unary calls, 1 connection, 64 streams in flight).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
CELL_SECONDS=${CELL_SECONDS:-2}
WARMUP_SECONDS=${WARMUP_SECONDS:-0.5}
LOG_LEVELS=${LOG_LEVELS:-"warning info"}
TRIM_WAIT_SECONDS=${TRIM_WAIT_SECONDS:-12}

SERVER_BIN=${SERVER_BIN:-$BUILD/server/mlp-server}
ECHO_BIN=$BUILD/bench/service/echo_server
LOAD_BIN=$BUILD/bench/service/service_load
for bin in "$SERVER_BIN" "$ECHO_BIN" "$LOAD_BIN"; do
  [[ -x $bin ]] || { echo "missing $bin: build mlp-server echo_server service_load" >&2; exit 2; }
done

tmp=$(mktemp -d)
server_pid=""
echo_pid=""

stop() {  # stop PID: SIGTERM, then wait for it
  local pid=$1
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$server_pid"
  stop "$echo_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT


rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
mb() { awk -v kb="$1" 'BEGIN {printf "%.1f MB", kb / 1024}'; }

# --compute_threads=1: the server has one core; large products must not start
# a second BLAS thread on it.
# No HTTP listener where the binary has one (an older binary does not).
http_off=()
if "$SERVER_BIN" --help 2>&1 | grep -q -- '--http_address'; then
  http_off=(--http_address=)
fi
start_server() {  # start_server LOG_LEVEL
  rm -f "$tmp/port"
  taskset -c "$SERVER_CPU" "$SERVER_BIN" --compute_threads=1 \
    --address=127.0.0.1:0 --data_dir="$tmp/data" --port_file="$tmp/port" \
    "${http_off[@]}" --log_level="$1" 2>>"$tmp/server-$1.log" &
  server_pid=$!
  wait_for_file "$tmp/port" "$server_pid" 10
  server_port=$(cat "$tmp/port")
}

load() { taskset -c "$LOAD_CPU" "$LOAD_BIN" "$@"; }

machine_line
echo "servers on core $SERVER_CPU, load on core $LOAD_CPU; $(uptime | sed 's/.*load average/load average/')"

taskset -c "$SERVER_CPU" "$ECHO_BIN" --address=127.0.0.1:0 \
  --port_file="$tmp/echo-port" 2>"$tmp/echo.log" &
echo_pid=$!
wait_for_file "$tmp/echo-port" "$echo_pid" 10
echo_port=$(cat "$tmp/echo-port")

first_level=${LOG_LEVELS%% *}
start_server "$first_level"
sleep 1
idle_rss=$(rss_kb "$server_pid")
echo_rss=$(rss_kb "$echo_pid")
load --server="127.0.0.1:$server_port" --create_models \
  --write_h2load_body="$tmp/probe-seed" --body_model=seed >/dev/null
load --server="127.0.0.1:$server_port" \
  --write_h2load_body="$tmp/probe-mnist" --body_model=mnist >/dev/null
sleep 0.5
models_rss=$(rss_kb "$server_pid")
echo
echo "RSS: mlp-server idle, no models: $(mb "$idle_rss");" \
  "with the two models after one Predict each: $(mb "$models_rss");" \
  "echo_server idle: $(mb "$echo_rss")"

have_h2load=1
command -v h2load >/dev/null || have_h2load=0

# h2load: N unary calls, 1 connection, 64 streams in flight. It counts HTTP
# statuses, not grpc-status, so every body is first checked by a real Predict
# (service_load --write_h2load_body fails otherwise).
h2() {  # h2 PATH BODY N -> "req/s mean_latency"
  local out
  out=$(taskset -c "$LOAD_CPU" h2load -n "$3" -c 1 -m 64 \
    -H 'content-type: application/grpc' -H 'te: trailers' -d "$2" \
    "$1")
  if ! grep -q "$3 succeeded, 0 failed, 0 errored" <<<"$out"; then
    echo "$out" >&2
    echo "h2load: not every request succeeded" >&2
    return 1
  fi
  local rps mean
  rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
  mean=$(awk '/^time for request:/ {print $6}' <<<"$out")
  echo "$rps $mean"
}

h2load_table() {  # h2load_table LEVEL
  echo
  echo "h2load -n N -c 1 -m 64 (unary, 64 in flight), mlp-server --log_level=$1"
  echo
  echo "| model | batch | N | Predict req/s | Predict mean | echo req/s | echo mean | req/s ratio |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for model in seed mnist; do
    for batch in 1 256; do
      case $model/$batch in  # N: a short run for every cell
        seed/1) n=100000 ;;
        seed/256) n=60000 ;;
        mnist/1) n=40000 ;;
        *) n=2000 ;;
      esac
      load --server="127.0.0.1:$server_port" --write_h2load_body="$tmp/p.bin" \
        --body_model=$model --body_batch=$batch --body_target=predict >/dev/null
      load --server="127.0.0.1:$server_port" --write_h2load_body="$tmp/e.bin" \
        --body_model=$model --body_batch=$batch --body_target=echo >/dev/null
      p_res=$(h2 "http://127.0.0.1:$server_port/mlp.v1.ModelService/Predict" "$tmp/p.bin" $n)
      e_res=$(h2 "http://127.0.0.1:$echo_port/mlp.bench.Echo/Echo" "$tmp/e.bin" $n)
      read -r p_rps p_mean <<<"$p_res"
      read -r e_rps e_mean <<<"$e_res"
      ratio=$(awk -v p="$p_rps" -v e="$e_rps" 'BEGIN {printf "%.2f", p / e}')
      echo "| $model | $batch | $n | ${p_rps%.*} | $p_mean | ${e_rps%.*} | $e_mean | $ratio |"
    done
  done
}

for level in $LOG_LEVELS; do
  if [[ $level != "$first_level" ]]; then
    stop "$server_pid"
    start_server "$level"  # same data directory: the models load from disk
  fi
  load --server="127.0.0.1:$server_port" --echo="127.0.0.1:$echo_port" \
    --seconds="$CELL_SECONDS" --warmup_seconds="$WARMUP_SECONDS" \
    --server_pid="$server_pid" --echo_pid="$echo_pid" \
    --label="mlp-server --log_level=$level"
  echo
  if ((have_h2load)); then
    h2load_table "$level"
  else
    echo "h2load not found (apt-get install nghttp2-client): skipped"
  fi
  echo
  echo "RSS after the load ($level): $(mb "$(rss_kb "$server_pid")"), peak $(mb "$(hwm_kb "$server_pid")")"
  # mlp-server's --memory_trim_seconds (default 10) returns the freed heap.
  sleep "$TRIM_WAIT_SECONDS"
  echo "RSS ${TRIM_WAIT_SECONDS} s later ($level): $(mb "$(rss_kb "$server_pid")")"
done

