#!/usr/bin/env bash
# Predict through the standard proxy (nginx with deploy/k8s/proxy/
# mlp-routes.conf) to one and to two replicas, against a direct connection to
# one replica, in one run; and the CPU each part spends per call, which is
# what docs/scaling.md's capacity arithmetic uses.
#
#   bench/service/topology.sh [BUILD_DIR]      (default: build)
#
# Needs mlp-server, mlp and service_load in BUILD_DIR, and nginx (Debian's).
# Environment knobs:
#   MODEL=mnist           service_load's model: mnist (784-256-128-10) or seed
#   CONCURRENCY=64        calls kept in flight
#   SECONDS_PER_CELL=5    measured seconds per cell
#   ROUNDS=3              rounds of the three cells (each row: the median)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
MODEL=${MODEL:-mnist}
CONCURRENCY=${CONCURRENCY:-64}
SECONDS_PER_CELL=${SECONDS_PER_CELL:-5}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUTES=${ROUTES:-$ROOT/deploy/k8s/proxy/mlp-routes.conf}
SERVER_BIN=$BUILD/server/mlp-server
CLI_BIN=$BUILD/client/mlp
LOAD_BIN=$BUILD/bench/service/service_load
for bin in "$SERVER_BIN" "$CLI_BIN" "$LOAD_BIN"; do
  [[ -x $bin ]] || { echo "missing $bin: build mlp-server, mlp, service_load" >&2; exit 2; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || { echo "nginx not found (apt-get install nginx)" >&2; exit 2; }

tmp=$(mktemp -d)
chmod 755 "$tmp"
pids=()
nginx_pid=""
stop_nginx() {
  if [[ -n $nginx_pid ]]; then
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    nginx_pid=""
  fi
}
cleanup() {
  stop_nginx
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT


# A server in the background: start_server NAME FLAGS...; sets $port.
start_server() {
  local name=$1
  shift
  "$SERVER_BIN" --log_level=warning --compute_threads=1 --address=127.0.0.1:0 \
    --port_file="$tmp/$name.port" --http_address=127.0.0.1:0 \
    --http_port_file="$tmp/$name.http" --data_dir="$tmp/data" "$@" \
    2>"$tmp/$name.log" &
  pids+=($!)
  wait_for_file "$tmp/$name.port" "$!"
  wait_for_file "$tmp/$name.http" "$!"
  port=$(cat "$tmp/$name.port")
}

# nginx in front of the replicas given as gRPC:HTTP port pairs.
start_nginx() {
  stop_nginx
  local grpc_servers="" http_servers=""
  for pair in "$@"; do
    grpc_servers+="        server 127.0.0.1:${pair%%:*} max_fails=1 fail_timeout=5s;"$'\n'
    http_servers+="        server 127.0.0.1:${pair##*:} max_fails=1 fail_timeout=5s;"$'\n'
  done
  proxy_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  local user=""
  [[ $(id -u) == 0 ]] && user="user root;"
  mkdir -p "$tmp/nginx"
  cat > "$tmp/nginx/nginx.conf" <<CONF
daemon off;
$user
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    client_body_temp_path $tmp/nginx/client_body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    access_log off;
    upstream mlp_primary { server 127.0.0.1:$primary_port; keepalive 8; }
    upstream mlp_replicas {
$grpc_servers        keepalive 64;
    }
    upstream mlp_replicas_http {
$http_servers        keepalive 16;
    }
    server {
        listen 127.0.0.1:$proxy_port http2;
        include $ROUTES;
    }
}
CONF
  "$NGINX" -e stderr -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" 2>"$tmp/nginx.log" &
  nginx_pid=$!
  for _ in $(seq 1 100); do
    "$CLI_BIN" --server="127.0.0.1:$proxy_port" --timeout=1 list >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "nginx did not come up:" >&2
  cat "$tmp/nginx.log" >&2
  return 1
}

nginx_pids() {
  [[ -n $nginx_pid ]] || return 0
  echo "$nginx_pid $(pgrep -P "$nginx_pid" | tr '\n' ' ')"
}
hz=$(getconf CLK_TCK)

machine_line
nginx -v 2>&1

start_server primary
primary_port=$port
"$LOAD_BIN" --server="127.0.0.1:$primary_port" --create_models --models="$MODEL" \
  --batches=1 --concurrency=1 --seconds=0.2 --warmup_seconds=0 >/dev/null
start_server replica_a --mode=replica --primary_address="127.0.0.1:$primary_port"
a_pid=${pids[-1]}; a_pair="$port:$(cat "$tmp/replica_a.http")"; a_port=$port
start_server replica_b --mode=replica --primary_address="127.0.0.1:$primary_port"
b_pid=${pids[-1]}; b_pair="$port:$(cat "$tmp/replica_b.http")"
for p in "$a_port" "${b_pair%%:*}"; do
  until "$CLI_BIN" --server="127.0.0.1:$p" health >/dev/null 2>&1; do sleep 0.05; done
done

# One cell: cell LABEL ADDRESS; appends "label qps p50 p99 server_us proxy_us".
cell() {
  local label=$1 address=$2 out before_s before_p after_s after_p calls
  before_s=$(cpu_ticks "$a_pid" "$b_pid")
  before_p=$(cpu_ticks $(nginx_pids))
  out=$("$LOAD_BIN" --server="$address" --models="$MODEL" --batches=1 \
    --concurrency="$CONCURRENCY" --seconds="$SECONDS_PER_CELL" --warmup_seconds=0)
  after_s=$(cpu_ticks "$a_pid" "$b_pid")
  after_p=$(cpu_ticks $(nginx_pids))
  # The table row: | model | batch | in flight | mean | p50 | p99 | calls/s | ...
  echo "$out" | awk -F'|' -v l="$label" -v s=$((after_s - before_s)) \
      -v p=$((after_p - before_p)) -v hz="$hz" -v t="$SECONDS_PER_CELL" '
    $4 + 0 > 0 && $8 + 0 > 0 {
      gsub(/ /, "", $6); gsub(/ /, "", $7); gsub(/ /, "", $8)
      calls = $8 * t
      printf "%s %s %s %s %.1f %.1f\n", l, $8, $6, $7, 1e6 * s / hz / calls, 1e6 * p / hz / calls
    }' >> "$tmp/cells.txt"
}

for round in $(seq 1 "$ROUNDS"); do
  stop_nginx
  cell direct "127.0.0.1:$a_port"
  start_nginx "$a_pair"
  cell proxy-1 "127.0.0.1:$proxy_port"
  start_nginx "$a_pair" "$b_pair"
  cell proxy-2 "127.0.0.1:$proxy_port"
done

for label in direct proxy-1 proxy-2; do
  grep -q "^$label " "$tmp/cells.txt" || { echo "no figures for $label (service_load failed?)" >&2; exit 1; }
done

echo
echo "Predict, $MODEL, batch 1, $CONCURRENCY in flight, ${SECONDS_PER_CELL} s per cell, median of $ROUNDS rounds (calls/s, latency in us, CPU per call in us: the replicas', nginx's)"
echo
echo "| path | calls/s | p50 | p99 | replica CPU/call | nginx CPU/call | calls/s vs direct |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for label in direct proxy-1 proxy-2; do
  grep "^$label " "$tmp/cells.txt" | sort -k2 -n | awk -v n="$ROUNDS" '
    { rows[NR] = $0 } END { split(rows[int((n + 1) / 2)], f, " "); print f[1], f[2], f[3], f[4], f[5], f[6] }'
done | awk '
  NR == 1 { direct = $2 }
  { printf "| %s | %d | %d | %d | %.1f | %.1f | %.2fx |\n", $1, $2, $3, $4, $5, $6, $2 / direct }'
