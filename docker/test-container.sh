#!/usr/bin/env bash
# docker/test-container.sh - build the mlp-serve image and test a container of
# it from the host, the way a user runs it.
#
# Usage (from anywhere inside the repository):
#   docker/test-container.sh [PATH_TO_HOST_MLP_CLI]
#
# Steps: build the image (docker/Dockerfile); check it holds no compiler and no
# build tree and is under the size limit; start a container with a named
# volume on /data and ports 50051 and 8000 published on 127.0.0.1 (free ports
# chosen by the engine); wait for SERVING; run "mlp demo" and a Predict from
# the host; call the HTTP /v2 endpoints (ready, metadata, infer);
# check the server runs as PID 1 and not as root; restart the container and
# check the model, its weights and its predictions are identical; check the
# health status becomes "healthy"; time "stop" (< 10 s, exit code 0); start a
# new container on the same volume and check the model once more. Everything
# it creates (containers, volume) is removed on exit, also on failure or
# Ctrl-C. The image is kept (tag $IMAGE); re-running reuses its build cache.
#
# Uses docker when a Docker engine answers ("docker info"), Podman otherwise.
#
# Environment:
#   MLP_BIN           host-built CLI (default: first argument, else build/client/mlp)
#   CONTAINER_ENGINE  docker | podman (default: auto-detect as above)
#   IMAGE             image tag to build and test (default: mlp-serve)
#   BUILD_NETWORK     network for the build's apt-get (e.g. host); by default
#                     the build is retried with --network=host when apt inside
#                     the build cannot reach the archive
#   BUILD_ARGS        extra arguments for the build (e.g. "--build-arg JOBS=4")
#   SKIP_BUILD=1      test an already built $IMAGE
#   MAX_IMAGE_MB      image size limit in MB (default 150)
#   KEEP_ON_FAILURE=1 leave the container and volume for inspection on failure
#
# Exit status 0 and a final "PASS" line when every check passed, else 1 and a
# "FAIL" line naming the failed check.

set -euo pipefail
export LC_ALL=C
# The original stdout/stderr, for messages from traps that may fire while a
# command's output is redirected.
exec 3>&1 4>&2

T0=$EPOCHREALTIME
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${IMAGE:-mlp-serve}
MAX_IMAGE_MB=${MAX_IMAGE_MB:-150}
STOP_LIMIT_S=10
RUN_ID="mlp-serve-test-$$-${RANDOM}"
CONTAINER="$RUN_ID"
VOLUME="$RUN_ID-data"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlp-serve-test.XXXXXX")
CREATED_CONTAINERS=()
CREATED_VOLUME=""
STEP="setup"
FAILED=0

# The tutorial's four training inputs.
# shellcheck disable=SC2054
INPUTS=(--input 0,0,1 --input 1,1,1 --input 1,0,1 --input 0,1,1)

log()  { printf '[container-test] %s\n' "$*"; }
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }'; }

fail() {
  FAILED=1
  log "FAILED at step '$STEP': $*"
  if [ ${#CREATED_CONTAINERS[@]} -gt 0 ] && [ -n "${ENGINE:-}" ]; then
    local c
    for c in "${CREATED_CONTAINERS[@]}"; do
      if "$ENGINE" container inspect "$c" >/dev/null 2>&1; then
        log "--- logs of container $c (last 40 lines) ---"
        "$ENGINE" logs --tail 40 "$c" 2>&1 | grep -v 'systemd connection' || true
      fi
    done
  fi
  exit 1
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  set +e
  exec 1>&3 2>&4
  if [ "$FAILED" = 1 ] || [ "$rc" != 0 ]; then
    FAILED=1
  fi
  if [ "$FAILED" = 1 ] && [ "${KEEP_ON_FAILURE:-0}" = 1 ]; then
    log "KEEP_ON_FAILURE=1: leaving containers ${CREATED_CONTAINERS[*]:-none} and volume ${CREATED_VOLUME:-none}"
  elif [ -n "${ENGINE:-}" ]; then
    local c
    for c in "${CREATED_CONTAINERS[@]}"; do
      "$ENGINE" rm -f "$c" >/dev/null 2>&1
    done
    if [ -n "$CREATED_VOLUME" ]; then
      "$ENGINE" volume rm -f "$CREATED_VOLUME" >/dev/null 2>&1
    fi
  fi
  rm -rf "$WORK"
  if [ "$FAILED" = 1 ]; then
    echo "FAIL: container test ($IMAGE, ${ENGINE:-no engine}) at step '$STEP' after $(elapsed) s"
    exit 1
  fi
  echo "PASS: container test ($IMAGE, $ENGINE) in $(elapsed) s"
  exit 0
}
trap cleanup EXIT
trap 'FAILED=1; log "interrupted" >&3; exit 1' INT TERM HUP

# Runs a command with its output in $WORK/out; on failure shows the output.
run_quiet() {
  if ! "$@" >"$WORK/out" 2>&1; then
    grep -v 'systemd connection' "$WORK/out" | tail -n 40 >&2
    return 1
  fi
}

############################################################################
STEP="prerequisites"
MLP_BIN=${1:-${MLP_BIN:-$REPO/build/client/mlp}}
case "$MLP_BIN" in /*) ;; *) MLP_BIN="$PWD/$MLP_BIN" ;; esac
[ -x "$MLP_BIN" ] || fail "host CLI not found or not executable: $MLP_BIN (pass its path as argument or MLP_BIN)"

if [ -n "${CONTAINER_ENGINE:-}" ]; then
  ENGINE=$CONTAINER_ENGINE
elif command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; then
  ENGINE=docker
  # A "docker" that is Podman underneath (podman-docker, or Podman's Docker
  # API) builds OCI images, which drop HEALTHCHECK, and runs no health checks
  # without systemd: use the podman CLI itself when it is here.
  server=$(timeout 20 docker version --format '{{range .Server.Components}}{{.Name}} {{end}}' 2>/dev/null || true)
  client=$(docker --version 2>/dev/null || true)
  if [[ "$server $client" == *[Pp]odman* ]] && command -v podman >/dev/null 2>&1; then
    log "docker answers but is Podman underneath; using the podman CLI"
    ENGINE=podman
  fi
elif command -v podman >/dev/null 2>&1; then
  ENGINE=podman
else
  ENGINE=
  fail "neither a Docker engine (docker info) nor podman is available"
fi
command -v "$ENGINE" >/dev/null 2>&1 || fail "$ENGINE not found"
log "engine: $ENGINE ($("$ENGINE" --version 2>/dev/null | head -n1)), image: $IMAGE, host CLI: $MLP_BIN"

mlp() { timeout --foreground "${MLP_TIMEOUT:-60}" "$MLP_BIN" --server="127.0.0.1:$PORT" "$@"; }

############################################################################
STEP="build"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  OLD_ID=$("$ENGINE" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
  build() {
    local args=(build -f "$REPO/docker/Dockerfile" -t "$IMAGE")
    [ "$ENGINE" = podman ] && args+=(--format docker)   # keeps HEALTHCHECK
    [ -n "${1:-}" ] && args+=("--network=$1")
    # shellcheck disable=SC2206
    [ -n "${BUILD_ARGS:-}" ] && args+=($BUILD_ARGS)
    "$ENGINE" "${args[@]}" "$REPO" >"$WORK/build.log" 2>&1
  }
  t=$EPOCHREALTIME
  log "building $IMAGE (a few minutes when the sources changed) ..."
  if ! build "${BUILD_NETWORK:-}"; then
    if [ -z "${BUILD_NETWORK:-}" ] && grep -qE "Temporary failure resolving|Could not resolve|Could not connect|Unable to connect|Failed to fetch|Unable to locate package|Network is unreachable" "$WORK/build.log"; then
      log "apt inside the build could not reach the archive; retrying with --network=host"
      build host || { tail -n 60 "$WORK/build.log"; fail "image build failed (also with --network=host)"; }
    else
      tail -n 60 "$WORK/build.log"
      fail "image build failed"
    fi
  fi
  log "built in $(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s"
  NEW_ID=$("$ENGINE" image inspect --format '{{.Id}}' "$IMAGE")
  # The previous build of this tag, now untagged: remove it so that repeated
  # runs do not pile up images (ignored when something still uses it).
  if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$NEW_ID" ]; then
    "$ENGINE" rmi "$OLD_ID" >/dev/null 2>&1 || true
  fi
else
  "$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1 || fail "SKIP_BUILD=1 but image $IMAGE does not exist"
fi

############################################################################
STEP="image contents"
size=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE")
size_mb=$(( (size + 500000) / 1000000 ))
log "image size: $size_mb MB ($size bytes)"
[ "$size_mb" -lt "$MAX_IMAGE_MB" ] || fail "image is $size_mb MB, limit $MAX_IMAGE_MB MB"
hc=$("$ENGINE" image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
case "$hc" in *'"mlp"'*'"health"'*) ;; *) fail "image has no HEALTHCHECK running 'mlp health' (got: $hc)" ;; esac
user=$("$ENGINE" image inspect --format '{{.Config.User}}' "$IMAGE")
case "$user" in ""|root|0|root:*|0:*) fail "image runs as root (USER '$user')" ;; esac
# shellcheck disable=SC2016
tools=$("$ENGINE" run --rm --entrypoint sh "$IMAGE" -c \
  'for t in g++ gcc cc c++ cmake make ld as protoc; do command -v "$t"; done; for d in /src /build /out; do [ -e "$d" ] && echo "$d"; done; true' 2>&1 \
  | grep -v 'systemd connection' || true)
[ -z "$tools" ] || fail "image holds build tools or build tree: ${tools//$'\n'/ }"
log "ok: $size_mb MB, HEALTHCHECK, USER $user, no compiler or build tree"

############################################################################
STEP="start"
# start_container NAME [ENGINE_ARGS...] [-- SERVER_FLAGS...]: ports 50051
# and 8000 published on free loopback ports.
start_container() {
  local name=$1 engine_args=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do engine_args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  run_quiet "$ENGINE" run -d --name "$name" -p 127.0.0.1::50051 -p 127.0.0.1::8000 \
    "${engine_args[@]}" "$IMAGE" "$@" \
    || fail "could not start container $name"
  CREATED_CONTAINERS+=("$name")
}
run_container() { start_container "$1" -v "$VOLUME:/data"; }

# Sets PORT to the host port published for 50051 and waits until the server
# answers SERVING through it (from the host).
wait_serving() {
  local c=$1 deadline=$((SECONDS + 60)) p
  PORT=
  while [ $SECONDS -lt $deadline ]; do
    state=$("$ENGINE" container inspect --format '{{.State.Status}}' "$c" 2>/dev/null || true)
    [ "$state" = exited ] || [ "$state" = dead ] && fail "container $c exited during start-up"
    p=$("$ENGINE" port "$c" 50051/tcp 2>/dev/null | grep -m1 '^127\.0\.0\.1:' || true)
    if [ -n "$p" ]; then
      PORT=${p##*:}
      if MLP_TIMEOUT=10 mlp health >/dev/null 2>&1; then
        return 0
      fi
    fi
    sleep 0.5
  done
  fail "server in $c did not answer SERVING on 127.0.0.1:${PORT:-?} within 60 s"
}

run_quiet "$ENGINE" volume create "$VOLUME" || fail "could not create volume $VOLUME"
CREATED_VOLUME=$VOLUME
run_container "$CONTAINER"
wait_serving "$CONTAINER"
log "ok: $CONTAINER serving on 127.0.0.1:$PORT (volume $VOLUME on /data)"

############################################################################
STEP="process"
uid=$("$ENGINE" exec "$CONTAINER" id -u 2>/dev/null | tr -d '\r') || fail "exec id -u failed"
if [ -z "$uid" ] || [ "$uid" = 0 ]; then fail "processes in the container run as uid '$uid'"; fi
pid1=$("$ENGINE" exec "$CONTAINER" cat /proc/1/comm 2>/dev/null | tr -d '\r') || fail "exec failed"
[ "$pid1" = mlp-server ] || fail "PID 1 in the container is '$pid1', expected mlp-server"
# shellcheck disable=SC2016
pid1_uid=$("$ENGINE" exec "$CONTAINER" awk '/^Uid:/ { print $2 }' /proc/1/status 2>/dev/null | tr -d '\r')
if [ -z "$pid1_uid" ] || [ "$pid1_uid" = 0 ]; then fail "mlp-server (PID 1) runs as uid '$pid1_uid'"; fi
log "ok: mlp-server is PID 1, uid $pid1_uid"

############################################################################
STEP="demo"
MLP_TIMEOUT=600 mlp demo >"$WORK/demo.out" 2>&1 || { tail -n 40 "$WORK/demo.out"; fail "mlp demo failed"; }
mlp list --json >"$WORK/list.json" 2>&1 || { cat "$WORK/list.json"; fail "mlp list --json failed"; }
MODEL=$(grep -oE '"name" *: *"[^"]+"' "$WORK/list.json" | head -n1 | sed -E 's/.*"([^"]+)"$/\1/')
[ -n "$MODEL" ] || { cat "$WORK/list.json"; fail "no model listed after mlp demo"; }
log "ok: mlp demo trained model '$MODEL'"

STEP="predict"
snapshot() {  # $1 = output prefix
  mlp predict "$MODEL" "${INPUTS[@]}" --json >"$1.predict" 2>&1 || { cat "$1.predict"; fail "mlp predict $MODEL failed"; }
  mlp show "$MODEL" --json >"$1.show" 2>&1 || { cat "$1.show"; fail "mlp show $MODEL failed"; }
  mlp weights "$MODEL" --json >"$1.weights" 2>&1 || { cat "$1.weights"; fail "mlp weights $MODEL failed"; }
}
snapshot "$WORK/before"
mlp predict "$MODEL" "${INPUTS[@]}" >"$WORK/predict.txt" 2>&1 || true
log "ok: Predict from the host:"
sed 's/^/    /' "$WORK/predict.txt"

############################################################################
# The Open Inference Protocol's HTTP/REST port (8000), published too: ready,
# the model's metadata, and an inference whose outputs are mlp predict's.
STEP="http"
http_port=$("$ENGINE" port "$CONTAINER" 8000/tcp 2>/dev/null | grep -m1 '^127\.0\.0\.1:' || true)
[ -n "$http_port" ] || fail "port 8000 of $CONTAINER is not published"
http_port=${http_port##*:}
python3 - "$http_port" "$MODEL" "$WORK/before.predict" <<'PY' || fail "the HTTP /v2 endpoints did not answer as expected"
import http.client, json, sys
port, model, predict_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def call(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body)
    r = c.getresponse()
    return r.status, r.read()
status, _ = call("GET", "/v2/health/ready")
assert status == 200, status
status, body = call("GET", "/v2/models/" + model)
assert status == 200, body
meta = json.loads(body)
width = meta["inputs"][0]["shape"][1]
status, body = call("POST", "/v2/models/%s/infer" % model, json.dumps(
    {"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, width],
                 "data": [0.5] * (2 * width)}]}))
assert status == 200, body
output = json.loads(body)["outputs"][0]
assert output["shape"] == [2, meta["outputs"][0]["shape"][1]], output
print("    GET /v2/models/%s: versions %s; infer: %s" %
      (model, meta["versions"], output["shape"]))
PY
log "ok: HTTP /v2 on 127.0.0.1:$http_port (ready, metadata, infer)"

############################################################################
compare() {  # $1 = what
  local k
  for k in predict show weights; do
    if ! cmp -s "$WORK/before.$k" "$WORK/after.$k"; then
      diff "$WORK/before.$k" "$WORK/after.$k" | head -n 20
      fail "$k of $MODEL differs after $1"
    fi
  done
}

STEP="restart"
run_quiet "$ENGINE" restart "$CONTAINER" || fail "restart failed"
wait_serving "$CONTAINER"
snapshot "$WORK/after"
compare "restart"
log "ok: after restart the model, its weights and its predictions are identical"

############################################################################
STEP="health status"
deadline=$((SECONDS + 90))
status=
while [ $SECONDS -lt $deadline ]; do
  if [ "$ENGINE" = podman ]; then
    # Without systemd Podman does not run health checks on a timer; run the
    # image's HEALTHCHECK once (this also updates the status).
    podman healthcheck run "$CONTAINER" >/dev/null 2>&1 || true
  fi
  status=$("$ENGINE" container inspect --format '{{.State.Health.Status}}' "$CONTAINER" 2>/dev/null || true)
  [ "$status" = healthy ] && break
  sleep 2
done
[ "$status" = healthy ] || fail "health status is '$status', expected healthy"
log "ok: health status healthy"

############################################################################
STEP="stop"
t=$EPOCHREALTIME
run_quiet "$ENGINE" stop -t "$STOP_LIMIT_S" "$CONTAINER" || fail "stop failed"
stop_s=$(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
code=$("$ENGINE" container inspect --format '{{.State.ExitCode}}' "$CONTAINER")
awk -v s="$stop_s" -v l="$STOP_LIMIT_S" 'BEGIN { exit !(s < l) }' || fail "stop took $stop_s s (limit $STOP_LIMIT_S s)"
[ "$code" = 0 ] || fail "mlp-server exited with code $code on SIGTERM (137 = killed after the grace period)"
log "ok: stopped in $stop_s s, exit code 0"

############################################################################
STEP="new container on the same volume"
run_container "$CONTAINER-2"
wait_serving "$CONTAINER-2"
snapshot "$WORK/after"
compare "a new container on the same volume"
run_quiet "$ENGINE" stop -t "$STOP_LIMIT_S" "$CONTAINER-2" || fail "stop failed"
log "ok: a new container on the volume serves the same model"

############################################################################
# The scaling topology's core (docs/scaling.md): a primary writing the
# volume and a replica that mounts it read-only, as Kubernetes and
# deploy/compose run them.
STEP="replica on a read-only mount"
run_container "$CONTAINER-primary"
wait_serving "$CONTAINER-primary"
PRIMARY_PORT=$PORT
start_container "$CONTAINER-replica" -v "$VOLUME:/data:ro" -- \
  --mode=replica --primary_address=primary.example:50051 \
  --repository_poll_seconds=0.5
wait_serving "$CONTAINER-replica"
REPLICA_PORT=$PORT
snapshot "$WORK/after"
compare "loading on a replica"
if mlp delete "$MODEL" >"$WORK/out" 2>&1; then fail "a replica deleted $MODEL"; fi
grep -q "FAILED_PRECONDITION: this server is a read-only replica: send DeleteModel to the primary at primary.example:50051" "$WORK/out" \
  || { cat "$WORK/out"; fail "a write to the replica was not refused naming the primary"; }
PORT=$PRIMARY_PORT
version=$(mlp show "$MODEL" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
printf '0,0,1,0\n1,1,1,1\n1,0,1,0\n0,1,1,1\n' >"$WORK/train.csv"
run_quiet "$MLP_BIN" --server="127.0.0.1:$PRIMARY_PORT" train "$MODEL" \
  --data "$WORK/train.csv" --targets -1 --epochs 2 \
  || fail "training on the primary failed"
PORT=$REPLICA_PORT
deadline=$((SECONDS + 30))
seen=
while [ $SECONDS -lt $deadline ]; do
  seen=$(mlp show "$MODEL" --json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])' 2>/dev/null || true)
  [ "$seen" = $((version + 1)) ] && break
  sleep 0.2
done
[ "$seen" = $((version + 1)) ] || fail "the replica serves version '$seen' of $MODEL, expected $((version + 1)) within 30 s of the commit"
run_quiet "$ENGINE" stop -t "$STOP_LIMIT_S" "$CONTAINER-replica" "$CONTAINER-primary" || fail "stop failed"
log "ok: a replica on the volume mounted read-only serves the model, refuses writes and follows a training"

############################################################################
# TLS as docker/compose.tls.yaml runs it: a certificates directory mounted
# read-only, the flags, and MLP_TLS_CA for the container's own health check.
STEP="TLS with mounted certificates"
certs=$WORK/certs
mkdir -p "$certs"
run_quiet openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mlp-test-ca \
  -keyout "$certs/ca.key" -out "$certs/ca.pem" || fail "openssl: CA"
run_quiet openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
  -keyout "$certs/server.key" -out "$certs/server.csr" || fail "openssl: request"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$certs/san.ext"
run_quiet openssl x509 -req -in "$certs/server.csr" -CA "$certs/ca.pem" \
  -CAkey "$certs/ca.key" -CAcreateserial -days 2 -extfile "$certs/san.ext" \
  -out "$certs/server.pem" || fail "openssl: sign"
rm -f "$certs/ca.key"
chmod 755 "$certs"
# The server runs as uid 10001 and must read its key (compose.tls.yaml's
# header): its owner as root; a throwaway key in a private directory
# otherwise (rootless engines map uid 10001 elsewhere).
if [ "$(id -u)" = 0 ]; then chown 10001 "$certs/server.key"; else chmod 644 "$certs/server.key"; fi
chmod 644 "$certs/server.pem" "$certs/ca.pem"
start_container "$CONTAINER-tls" -v "$VOLUME:/data" -v "$certs:/certs:ro" \
  -e MLP_TLS_CA=/certs/ca.pem -- \
  --tls_cert_file=/certs/server.pem --tls_key_file=/certs/server.key
MLP_TLS_CA=$certs/ca.pem wait_serving "$CONTAINER-tls"
MLP_TLS_CA=$certs/ca.pem mlp predict "$MODEL" "${INPUTS[@]}" --json >"$WORK/tls.predict" 2>&1 \
  || { cat "$WORK/tls.predict"; fail "Predict over TLS failed"; }
if MLP_TIMEOUT=10 mlp list >"$WORK/out" 2>&1; then fail "a plaintext client was served by a TLS-only server"; fi
run_quiet "$ENGINE" exec "$CONTAINER-tls" mlp health \
  || fail "the container's own health check (mlp health with MLP_TLS_CA) failed"
tls_http=$("$ENGINE" port "$CONTAINER-tls" 8000/tcp 2>/dev/null | grep -m1 '^127\.0\.0\.1:' || true)
python3 - "${tls_http##*:}" "$certs/ca.pem" <<'PY' || fail "HTTPS /v2/health/ready did not answer 200 with the CA"
import http.client, ssl, sys
context = ssl.create_default_context(cafile=sys.argv[2])
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), timeout=30, context=context)
c.request("GET", "/v2/health/ready")
assert c.getresponse().status == 200
PY
run_quiet "$ENGINE" stop -t "$STOP_LIMIT_S" "$CONTAINER-tls" || fail "stop failed"
log "ok: TLS with certificates mounted read-only: Predict, HTTPS, the health check inside, plaintext refused"

STEP="done"
