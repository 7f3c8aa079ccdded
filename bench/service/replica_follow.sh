#!/usr/bin/env bash
# What following costs a replica: the CPU an idle replica spends keeping up
# with a repository of MODELS models (nothing changes, so every pass is the
# listing alone), and how long the first load and one pass take.
#
#   bench/service/replica_follow.sh [BUILD_DIR]       (default: build)
#
# Environment knobs:
#   MODELS=1000          models in the repository (3-4-1 each, one version)
#   POLL_SECONDS=2       the replica's --repository_poll_seconds
#   IDLE_SECONDS=60      how long the idle replica is measured
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
MODELS=${MODELS:-1000}
POLL_SECONDS=${POLL_SECONDS:-2}
IDLE_SECONDS=${IDLE_SECONDS:-60}
SERVER_BIN=$BUILD/server/mlp-server
CLI_BIN=$BUILD/client/mlp
for bin in "$SERVER_BIN" "$CLI_BIN"; do
  [[ -x $bin ]] || { echo "missing $bin: build mlp-server and mlp" >&2; exit 2; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT


ticks_per_second=$(getconf CLK_TCK)

machine_line
echo "file system of the repository: $(stat -f -c %T "$tmp")"

"$SERVER_BIN" --log_level=warning --address=127.0.0.1:0 --http_address= \
  --port_file="$tmp/primary.port" --data_dir="$tmp/data" 2>"$tmp/primary.log" &
pids+=($!)
wait_for_file "$tmp/primary.port" "${pids[-1]}"
primary=127.0.0.1:$(cat "$tmp/primary.port")
started=$(date +%s.%N)
for i in $(seq 1 "$MODELS"); do
  "$CLI_BIN" --server="$primary" create "m$i" --input 3 --layer 4:relu \
    --layer 1:linear >/dev/null &
  # 8 creations in flight.
  if (( i % 8 == 0 )); then wait -n; fi
done
while (( $(jobs -rp | wc -l) > ${#pids[@]} )); do wait -n; done
echo "created $MODELS models in $(echo "$(date +%s.%N) - $started" | bc) s"

started=$(date +%s.%N)
"$SERVER_BIN" --mode=replica --repository_poll_seconds="$POLL_SECONDS" \
  --address=127.0.0.1:0 --http_address= --port_file="$tmp/replica.port" \
  --data_dir="$tmp/data" 2>"$tmp/replica.log" &
replica_pid=$!
pids+=($replica_pid)
wait_for_file "$tmp/replica.port" "$replica_pid"
replica=127.0.0.1:$(cat "$tmp/replica.port")
until "$CLI_BIN" --server="$replica" health >/dev/null 2>&1; do sleep 0.05; done
loaded=$(echo "$(date +%s.%N) - $started" | bc)
listed=$("$CLI_BIN" --server="$replica" --json list | grep -o '"name":' | wc -l)
echo "replica serving $listed models ${loaded} s after its start"

before=$(cpu_ticks "$replica_pid")
sleep "$IDLE_SECONDS"
after=$(cpu_ticks "$replica_pid")
passes=$(echo "$IDLE_SECONDS / $POLL_SECONDS" | bc)
awk -v t=$((after - before)) -v hz="$ticks_per_second" -v s="$IDLE_SECONDS" \
    -v p="$passes" -v m="$MODELS" 'BEGIN {
  cpu = t / hz
  printf "idle replica, %d models, poll every %s s: %.3f CPU s in %d s = %.2f%% of a core; %.1f ms per pass (%d passes), %.1f us per model per pass\n",
    m, s / p, cpu, s, 100 * cpu / s, 1000 * cpu / p, p, 1e6 * cpu / p / m
}'
