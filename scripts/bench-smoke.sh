#!/usr/bin/env bash
# Short runs of every benchmark script, so that they keep working (CI runs this). At this size
# the figures mean nothing: docs/performance.md has the real runs and the commands for them.
# Each run must finish and print the line that runs are compared by.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

# smoke LINE CMD...: run CMD, show its last lines, fail unless it printed LINE.
smoke() {
  local line=$1 out
  shift
  echo "== bench smoke: $*"
  if ! out=$("$@" 2>&1); then
    echo "$out" | tail -40
    echo "bench smoke: '$*' failed" >&2
    return 1
  fi
  echo "$out" | tail -6
  grep -qF "$line" <<<"$out" || { echo "bench smoke: '$*' printed no '$line'" >&2; return 1; }
}

smoke "ratio (time per auth, tessera / google-authenticator):" bench/pam-vs-google-authenticator.sh 5 3 50
smoke "ratios tessera/freeradius: rps" env RUNS=3 bench/radius-vs-freeradius.sh 2000
smoke "instructions per request: tessera-radiusd" bench/radius-callgrind.sh 50
smoke "ratio of CPU per request, large store / usual store" env RUNS=2 PER_RUN=2000 bench/radius-scale.sh 8000
echo "bench smoke: all ran"
