#!/usr/bin/env bash
# Run the benchmark suite: scripts/bench.sh [--quick] [decode robustness latency journal idle footprint]
# One JSON object per line on stdout; progress on stderr. Needs mosquitto (apt install mosquitto).
# On a Pi, run it on an otherwise idle device; a full run takes a few minutes.
# With BENCH_OUT=file the lines are also written to that file.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
export GPIOZERO_PIN_FACTORY=mock
if [ -n "${BENCH_OUT:-}" ]; then
  "$PY" -m bench "$@" | tee "$BENCH_OUT"
else
  exec "$PY" -m bench "$@"
fi
