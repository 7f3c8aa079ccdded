#!/usr/bin/env bash
# Builds in Release and runs the benchmarks recorded in docs/performance.md:
#   scripts/bench.sh            the engine (Google Benchmark, engine_bench)
#   scripts/bench.sh service    the service load test against an echo floor
#   scripts/bench.sh torch      the engine against PyTorch in one run (needs
#                               Debian's python3-torch, a benchmark-only
#                               dependency: apt-get install python3-torch)
# Run on an otherwise idle machine; see docs/performance.md for how to read
# the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD_DIR=build scripts/build.sh
case "${1:-engine}" in
  engine)
    build/bench/engine/engine_bench --benchmark_min_time=0.3 \
      --benchmark_repetitions=3 --benchmark_report_aggregates_only=true ;;
  service)
    bench/service/run.sh build ;;
  torch)
    /usr/bin/python3 bench/torch_reference.py --batch 128 \
      --engine-bench build/bench/engine/engine_bench ;;
  *)
    echo "usage: scripts/bench.sh [engine|service|torch]" >&2; exit 2 ;;
esac
