#!/usr/bin/env bash
# Scale: tessera-radiusd's login storm on a store of USERS enrolled users (default 1 000 000)
# beside the same storm on the benchmark's usual store (60 000 users: 3 runs of 20 000), in the
# same run. Reports for each store: the server's start-up time (exec to the first answered
# Status-Server), its RSS when idle after start, and per storm run the CPU per request, the
# requests per second and the latencies, as min / median / max over RUNS runs (default 3), then
# the ratio of the per-request CPU (large store / usual store; target: within 1.2).
#
#   bench/radius-scale.sh [USERS]
#
# Enrolling a million users takes about ten minutes (straight through the core library, one
# transaction per user). Every request is a user of its own with a valid code (fresh users per
# run), logged to stderr and syslog as in bench/radius-vs-freeradius.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/syslog.sh
source bench/radius-setup.sh

BIG=${1:-1000000}
RUNS=${RUNS:-3}
PER_RUN=${PER_RUN:-20000}
SMALL=$((RUNS * PER_RUN))
WINDOW=${WINDOW:-32}
SOCKETS=${SOCKETS:-4}

radius_build
bench_start scale

echo "== tessera-radiusd at scale: $BIG enrolled users against $SMALL ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "machine: nproc $(nproc), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$SYSLOG_NOTE"
echo "settings: $RUNS runs x $PER_RUN logins per store, $SOCKETS sockets x $WINDOW outstanding, otp-only client, first_factor none"

# store NAME USERS: a store of its own with USERS users; prints how long enrolling took.
store() {
  local name=$1 users=$2 port
  mkdir -p "$TMP/$name"
  port=$(free_port)
  tessera_config "$TMP/$name" "$port"
  "$BIN/tessera" --config "$TMP/$name/tessera.toml" init >/dev/null
  echo "enrolling $users users into the $name store..." >&2
  "$LOAD" setup "$TMP/$name/tessera.toml" "$users" "$TMP/$name/users.txt" --passwords 0 2>&1 | tail -1
  echo "$port" > "$TMP/$name/port"
}

# measure NAME: start the server on the store, time its start, then RUNS storms.
measure() {
  local name=$1 port pid t0 t1 r skip
  port=$(cat "$TMP/$name/port")
  t0=$(date +%s%N)
  syslog_run "$BIN/tessera-radiusd" --config "$TMP/$name/tessera.toml" 2>"$TMP/$name/radiusd.log" &
  pid=$!
  PIDS+=("$pid")
  # Ready when it says it listens (checked every 5 ms), then answering.
  until grep -q "listening on" "$TMP/$name/radiusd.log" 2>/dev/null; do sleep 0.005; done
  t1=$(date +%s%N)
  wait_status "127.0.0.1:$port" 100
  echo "$name store: start-up $(( (t1 - t0) / 1000000 )) ms from exec to listening;" \
    "RSS when idle $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status"); database $(du -h "$TMP/$name/db/tessera.db" | cut -f1)"
  for r in $(seq 0 $((RUNS - 1))); do
    skip=$((r * PER_RUN))
    "$LOAD" load "127.0.0.1:$port" "$RADIUS_SECRET" "$TMP/$name/users.txt" --style otp --window "$WINDOW" \
      --sockets "$SOCKETS" --pid "$pid" --skip "$skip" --first "$PER_RUN" | tee -a "$TMP/$name/runs"
  done
  echo "$name store: peak RSS $(awk '/VmHWM/ {print $2, $3}' "/proc/$pid/status")"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

store usual "$SMALL"
store large "$BIG"
measure usual
measure large

python3 - "$TMP/usual/runs" "$TMP/large/runs" <<'PY'
import statistics, sys
def runs(path):
    return [dict(kv.split("=") for kv in line.split()) for line in open(path) if "rps=" in line]
usual, large = runs(sys.argv[1]), runs(sys.argv[2])
def spread(rs, k):
    xs = [float(r[k]) for r in rs]
    return "%.1f / %.1f / %.1f" % (min(xs), statistics.median(xs), max(xs))
print("== summary: min / median / max over runs")
for k in ("server_cpu_us_per_req", "rps", "p50_ms", "p99_ms"):
    print("%-22s usual store %-28s large store %s" % (k, spread(usual, k), spread(large, k)))
for name, rs in (("usual", usual), ("large", large)):
    print("%s store: accepts %d of %d" % (name, sum(int(r["accepts"]) for r in rs), sum(int(r["requests"]) for r in rs)))
u = statistics.median(float(r["server_cpu_us_per_req"]) for r in usual)
l = statistics.median(float(r["server_cpu_us_per_req"]) for r in large)
print("ratio of CPU per request, large store / usual store (medians): %.2f (target <= 1.20)" % (l / u if u else float("nan")))
PY
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
