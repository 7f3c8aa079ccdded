#!/usr/bin/env bash
# A/B of mlp.v1 Predict between two server set-ups: two binaries (a change's
# before and after) or one binary with two sets of flags (e.g. --metrics=true
# and --metrics=false). Rounds alternate A and B, each on a fresh server
# pinned to one core with the load on another; every figure is the median of
# its rounds.
#
#   A_BIN=old/mlp-server B_BIN=build/server/mlp-server bench/service/ab.sh
#   A_FLAGS=--metrics=true B_FLAGS=--metrics=false bench/service/ab.sh
#
# Environment: A_BIN, B_BIN (default build/server/mlp-server), A_FLAGS,
# B_FLAGS, A_NAME, B_NAME (column labels), LOAD_BIN (service_load, default
# build/bench/service/service_load), ROUNDS=5, CELL_SECONDS=2,
# SERVER_CPU=0, LOAD_CPU=1. Cells: models seed and mnist, batch 1, 1 and 64
# calls in flight.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

A_BIN=${A_BIN:-build/server/mlp-server}
B_BIN=${B_BIN:-build/server/mlp-server}
A_FLAGS=${A_FLAGS:-}
B_FLAGS=${B_FLAGS:-}
A_NAME=${A_NAME:-A}
B_NAME=${B_NAME:-B}
LOAD_BIN=${LOAD_BIN:-build/bench/service/service_load}
ROUNDS=${ROUNDS:-5}
CELL_SECONDS=${CELL_SECONDS:-2}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
for bin in "$A_BIN" "$B_BIN" "$LOAD_BIN"; do
  [[ -x $bin ]] || { echo "missing $bin" >&2; exit 2; }
done

tmp=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n $pid ]]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# One round of side $1 (A or B): a fresh server, the two models, the cells.
round() {
  local side=$1 bin flags extra=()
  if [[ $side == A ]]; then bin=$A_BIN; flags=$A_FLAGS; else bin=$B_BIN; flags=$B_FLAGS; fi
  # No HTTP listener where the binary has one: the default port may be taken.
  if "$bin" --help 2>&1 | grep -q -- '--http_address'; then extra=(--http_address=); fi
  rm -rf "$tmp/data" "$tmp/port"
  # shellcheck disable=SC2086
  taskset -c "$SERVER_CPU" "$bin" --compute_threads=1 --log_level=warning \
    --address=127.0.0.1:0 --port_file="$tmp/port" --data_dir="$tmp/data" \
    "${extra[@]}" $flags 2>>"$tmp/server.log" &
  pid=$!
  for _ in $(seq 1 100); do [[ -s $tmp/port ]] && break; sleep 0.1; done
  [[ -s $tmp/port ]] || { echo "server $bin did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }
  taskset -c "$LOAD_CPU" "$LOAD_BIN" --server="127.0.0.1:$(cat "$tmp/port")" \
    --create_models --models=seed,mnist --batches=1 --concurrency=1,64 \
    --seconds="$CELL_SECONDS" --server_pid="$pid" |
    awk -F'|' -v side="$side" '/^\| (seed|mnist) / {
      split($2, m, " "); gsub(/ /, "", $4); gsub(/ /, "", $6); gsub(/ /, "", $8); gsub(/ /, "", $9)
      print side, m[1], $4, $6, $8, $9 }' >>"$tmp/rows"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

machine_line
echo "A ($A_NAME): $A_BIN $A_FLAGS"
echo "B ($B_NAME): $B_BIN $B_FLAGS"
for ((r = 1; r <= ROUNDS; r++)); do round A; round B; done

echo
echo "Predict, batch 1: medians of $ROUNDS rounds of ${CELL_SECONDS} s (p50 in us, server CPU per call in us)"
echo
echo "| model | in flight | $A_NAME p50 | $A_NAME calls/s | $A_NAME CPU/call | $B_NAME p50 | $B_NAME calls/s | $B_NAME CPU/call | calls/s $B_NAME / $A_NAME |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for model in seed mnist; do
  for inflight in 1 64; do
    row=()
    for side in A B; do
      for col in 4 5 6; do
        # rows: side model in-flight p50 calls/s CPU/call (fields 4-6)
        v=$(awk -v s=$side -v m=$model -v f=$inflight -v c=$col \
          '$1 == s && $2 == m && $3 == f { print $c }' "$tmp/rows" | sort -g |
          awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
        row+=("$v")
      done
    done
    ratio=$(awk -v a="${row[1]}" -v b="${row[4]}" 'BEGIN { printf "%.3f", (a > 0 ? b / a : 0) }')
    echo "| $model | $inflight | ${row[0]} | ${row[1]} | ${row[2]} | ${row[3]} | ${row[4]} | ${row[5]} | $ratio |"
  done
done
