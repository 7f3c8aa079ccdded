# Shell functions the service benchmarks share: source it, do not run it.
#   source "$(dirname "$0")/lib.sh"

# wait_for_file FILE PID [SECONDS]: until FILE is non-empty (a port file),
# failing if process PID exits first or after SECONDS (default 30).
wait_for_file() {
  local tries=$(( ${3:-30} * 10 ))
  for _ in $(seq 1 "$tries"); do
    [[ -s $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || { echo "process $2 exited early" >&2; return 1; }
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2
  return 1
}

# The machine a figure was measured on, and how busy it was.
machine_line() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); $(uptime | sed 's/.*load average/load average/')"
}

# cpu_ticks PID...: their user + system CPU time in clock ticks
# (getconf CLK_TCK per second); processes that are gone count 0.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] || continue
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}
