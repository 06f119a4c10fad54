#!/usr/bin/env bash
# Login storm: tessera-radiusd against FreeRADIUS 3.2.1 (PAP + rlm_totp), same load tool, same
# machine, loopback only. Every request is one enrolled user logging in once with a valid code.
#
#   [RUNS=3] [WINDOW=32] [SOCKETS=4] bench/radius-vs-freeradius.sh [USERS]   (default 20000)
#
# As on a real host: a syslog daemon listens on /dev/log (bench/syslog.sh starts rsyslogd if
# nothing does), and both servers log every decision (tessera-radiusd to stderr and syslog,
# FreeRADIUS its authentication log); the lines each wrote are counted and printed per run.
#
# The storm runs RUNS times, alternating the servers (tessera, freeradius, tessera, ...) so that
# a drift of the shared machine hits both. A code is single-use (Tessera refuses a replay), so
# RUNS x USERS users are enrolled once and each run logs in a slice of its own, the same slice
# on both servers.
#
# Reports per run, for both servers: Access-Requests per second, server CPU µs per request
# (utime+stime from /proc), latency p50/p99 and peak RSS (VmHWM, since the server started), then
# the ratios; then min / median / max over the runs. Then tessera-radiusd's Argon2 first factor,
# RUNS times with 200 users of its own each: checks per second, and Status-Server latency while
# 200 password checks from 13 clients are in flight (target: p99 under 10 ms in every run). The
# syslog daemon's own CPU is in neither server's figure: it is printed beside them.
# Needs: freeradius (Debian 3.2.x), rsyslog unless something listens on /dev/log; builds a
# release (honours CARGO_TARGET_DIR and CARGO_BUILD_JOBS).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/syslog.sh
source bench/syslog.sh
# shellcheck source=bench/radius-setup.sh
source bench/radius-setup.sh

USERS=${1:-20000}
RUNS=${RUNS:-3}
WINDOW=${WINDOW:-32}
SOCKETS=${SOCKETS:-4}
# Users per Argon2 run: all their password checks in flight at once.
ARGON_USERS=$ARGON2_IN_FLIGHT
[ "$USERS" -ge "$ARGON_USERS" ] || { echo "USERS must be at least $ARGON_USERS (the Argon2 phase's users)" >&2; exit 2; }
[ "$RUNS" -ge 1 ] || { echo "RUNS must be at least 1" >&2; exit 2; }
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

radius_build

bench_start bench

OUR_PORT=$(free_port)
FR_PORT=$(free_port)
tessera_config "$TMP" "$OUR_PORT"
tessera_enroll "$TMP" $((RUNS * USERS)) $((RUNS * ARGON_USERS))
freeradius_config "$TMP" "$FR_PORT" "$TMP/users.txt"

syslog_run "$BIN/tessera-radiusd" --config "$TESSERA_TOML" 2>"$TMP/radiusd.log" &
OUR_PID=$!; PIDS+=("$OUR_PID")
syslog_run freeradius -f -d "$RADDB" -l "$TMP/freeradius.log" &
FR_PID=$!; PIDS+=("$FR_PID")
wait_status "127.0.0.1:$OUR_PORT" 100
wait_status "127.0.0.1:$FR_PORT" 100

field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
# Lines of FILE matching the extended regex PATTERN (0 if none or no file).
count_lines() { grep -cE -- "$2" "$1" 2>/dev/null || true; }
# The same, once the count has stopped growing: the servers write their log lines after the
# replies, and rsyslogd writes behind.
settled_count() {
  local n m
  n=$(count_lines "$1" "$2")
  for _ in $(seq 30); do
    sleep 0.1
    m=$(count_lines "$1" "$2")
    [ "$m" = "$n" ] && break
    n=$m
  done
  echo "$n"
}
OUR_DECISION=': decision client=storm '
OUR_SYSLOG="tessera-radiusd\\[$OUR_PID\\]: service=storm "
FR_AUTH=': Auth: \('
# utime+stime of our rsyslogd in µs (0 if the daemon is not ours).
syslog_cpu_us() {
  if [ -n "$SYSLOG_FILE" ] && [ -e "$TMP/rsyslog.pid" ]; then
    awk '{ print ($14 + $15) * 10000 }' "/proc/$(cat "$TMP/rsyslog.pid")/stat" 2>/dev/null || echo 0
  else
    echo 0
  fi
}
per_request() { awk -v us="$1" -v n="$2" 'BEGIN { printf "%.1f", (n > 0 ? us / n : 0) }'; }
# How many lines a log gained since the last call for the same key: sets GAIN.
declare -A SEEN=([stderr]=0 [syslog]=0 [fr]=0)
log_gain() {
  local key=$1 file=$2 pattern=$3 now
  now=$(settled_count "$file" "$pattern")
  GAIN=$((now - SEEN[$key]))
  SEEN[$key]=$now
}

echo "== tessera-radiusd vs FreeRADIUS: RADIUS login storm on 127.0.0.1 ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "machine: nproc $(nproc), load average at start $LOADAVG_START, before the first run $(cut -d' ' -f1-3 /proc/loadavg)"
echo "peers: $(tessera_version); $(freeradius -v | head -1)"
echo "$SYSLOG_NOTE"
echo "settings: $USERS users per run x $RUNS runs ($((RUNS * USERS)) enrolled), $SOCKETS sockets x $WINDOW outstanding;" \
  "Argon2id m=$ARGON2_MEMORY_KIB KiB t=$ARGON2_ITERATIONS p=$ARGON2_PARALLELISM"
echo "tessera-radiusd: otp-only client, first_factor none (storm) then password (Argon2 phase), max_in_flight $TESSERA_MAX_IN_FLIGHT," \
  "workers $TESSERA_WORKERS ($(sed -n 's/.* \([0-9]*\) workers)$/\1/p' "$TMP/radiusd.log" | head -1) in use);" \
  "logs a decision line per request to stderr and an audit message per request to syslog"
echo "freeradius: $(freeradius_settings); auth log on (auth = yes; auth_goodpass, auth_badpass = no), to its log file"

echo "== login storm: $USERS users per run, each logs in once with a valid code ($SOCKETS sockets x $WINDOW outstanding)"
: > "$TMP/storm.txt"
for run in $(seq "$RUNS"); do
  skip=$(((run - 1) * USERS))
  echo "-- run $run of $RUNS: bench$skip..bench$((skip + USERS - 1))"
  SYSLOG_CPU0=$(syslog_cpu_us)
  OURS=$("$LOAD" load "127.0.0.1:$OUR_PORT" "$RADIUS_SECRET" "$TMP/users.txt" --style otp --skip "$skip" --first "$USERS" \
    --window "$WINDOW" --sockets "$SOCKETS" --pid "$OUR_PID")
  log_gain stderr "$TMP/radiusd.log" "$OUR_DECISION"
  OUR_LINES=$GAIN
  OUR_SYSLOG_LINES="audit messages (syslog) not counted (the host's own daemon)"
  if [ -n "$SYSLOG_FILE" ]; then
    log_gain syslog "$SYSLOG_FILE" "$OUR_SYSLOG"
    OUR_SYSLOG_LINES="$GAIN audit messages (syslog; rsyslogd took $(per_request $(($(syslog_cpu_us) - SYSLOG_CPU0)) "$(field answered "$OURS")") µs CPU per request more)"
  fi
  THEIRS=$("$LOAD" load "127.0.0.1:$FR_PORT" "$RADIUS_SECRET" "$TMP/users.txt" --style append --skip "$skip" --first "$USERS" \
    --window "$WINDOW" --sockets "$SOCKETS" --pid "$FR_PID")
  log_gain fr "$TMP/freeradius.log" "$FR_AUTH"
  FR_LINES=$GAIN
  echo "tessera-radiusd (otp-only, replay-protected store write + audit row): $OURS"
  echo "freeradius 3.2 (PAP + rlm_totp, no replay protection):          $THEIRS"
  python3 - "$OURS" "$THEIRS" <<'PY'
import sys
def parse(s): return dict(kv.split("=") for kv in s.split())
# A short run can measure 0 (CPU time comes in 10 ms ticks): no ratio then.
def q(x, y): return float(x) / float(y) if float(y) else float("nan")
a, b = parse(sys.argv[1]), parse(sys.argv[2])
print("ratios tessera/freeradius: rps %.2f  cpu_us_per_req %.2f  p50 %.2f  p99 %.2f  vmhwm %.2f" % (
    q(a["rps"], b["rps"]),
    q(a["server_cpu_us_per_req"], b["server_cpu_us_per_req"]),
    q(a["p50_ms"], b["p50_ms"]),
    q(a["p99_ms"], b["p99_ms"]),
    q(a["server_vmhwm_kib"], b["server_vmhwm_kib"])))
PY
  echo "log lines: tessera-radiusd $OUR_LINES decision lines (stderr), $OUR_SYSLOG_LINES" \
    "for $(field answered "$OURS") answered; freeradius $FR_LINES Auth: lines (its log) for $(field answered "$THEIRS") answered"
  printf 'tessera %s\nfreeradius %s\n' "$OURS" "$THEIRS" >> "$TMP/storm.txt"
done

echo "== summary over $RUNS runs: min / median / max (VmHWM is each server's peak since it started)"
python3 - "$TMP/storm.txt" <<'PY'
import statistics, sys
runs = {"tessera": [], "freeradius": []}
for line in open(sys.argv[1]):
    who, rest = line.split(" ", 1)
    runs[who].append({k: float(v) for k, v in (kv.split("=") for kv in rest.split())})
figures = [("rps", "rps", "%.0f"), ("cpu_us_per_req", "server_cpu_us_per_req", "%.1f"),
           ("p50_ms", "p50_ms", "%.2f"), ("p99_ms", "p99_ms", "%.2f"),
           ("vmhwm_kib", "server_vmhwm_kib", "%.0f")]
def spread(values, fmt):
    return " / ".join(fmt % v for v in (min(values), statistics.median(values), max(values)))
print("%-16s %-28s %-28s %s" % ("", "tessera-radiusd", "freeradius", "ratio tessera/freeradius"))
for name, key, fmt in figures:
    ours = [r[key] for r in runs["tessera"]]
    theirs = [r[key] for r in runs["freeradius"]]
    ratios = [a / b if b else float("nan") for a, b in zip(ours, theirs)]
    print("%-16s %-28s %-28s %s" % (name, spread(ours, fmt), spread(theirs, fmt), spread(ratios, "%.2f")))
for who in ("tessera", "freeradius"):
    r = runs[who]
    print("%s: accepts %d of %d requests, rejects %d, lost %d (over all runs)" % (
        who, sum(x["accepts"] for x in r), sum(x["requests"] for x in r),
        sum(x["rejects"] for x in r), sum(x["lost"] for x in r)))
PY

echo "== Argon2 first factor: $RUNS runs of $ARGON_USERS password checks in flight from $ARGON2_CLIENTS clients" \
  "(m=$ARGON2_MEMORY_KIB KiB, t=$ARGON2_ITERATIONS, p=$ARGON2_PARALLELISM), Status-Server meanwhile"
echo "(every check fails on the password, so no code is checked or consumed; each run has users of its own, so no throttle)"
sed -i 's/^first_factor = "none"$/first_factor = "password"/' "$TESSERA_TOML"
kill -HUP "$OUR_PID"
for _ in $(seq 50); do grep -q "configuration reloaded" "$TMP/radiusd.log" && break; sleep 0.1; done
grep -q "configuration reloaded" "$TMP/radiusd.log" || { echo "tessera-radiusd did not reload" >&2; exit 1; }
"$LOAD" status "127.0.0.1:$OUR_PORT" "$RADIUS_SECRET" --count 1 --interval-ms 0 >/dev/null
: > "$TMP/argon2.txt"
: > "$TMP/status-runs.txt"
for run in $(seq "$RUNS"); do
  skip=$(((run - 1) * ARGON_USERS))
  ( sleep 0.2; "$LOAD" status "127.0.0.1:$OUR_PORT" "$RADIUS_SECRET" --count 200 --interval-ms 5 > "$TMP/status.txt" ) &
  STATUS_JOB=$!
  ARGON=$("$LOAD" load "127.0.0.1:$OUR_PORT" "$RADIUS_SECRET" "$TMP/users.txt" --style append --password wrong-password \
    --skip "$skip" --first "$ARGON_USERS" --window "$(((ARGON_USERS + ARGON2_CLIENTS - 1) / ARGON2_CLIENTS))" \
    --sockets "$ARGON2_CLIENTS" --bind "$ARGON2_BIND" --pid "$OUR_PID")
  wait "$STATUS_JOB"
  STATUS=$(cat "$TMP/status.txt")
  echo "-- run $run of $RUNS: bench$skip..bench$((skip + ARGON_USERS - 1))"
  echo "argon2 phase (every check fails on the password): $ARGON"
  echo "argon2 checks per second: $(field rps "$ARGON")"
  echo "status-server during the argon2 phase: $STATUS"
  echo "$ARGON" >> "$TMP/argon2.txt"
  echo "$STATUS" >> "$TMP/status-runs.txt"
done
ARGON_SYSLOG=$(if [ -n "$SYSLOG_FILE" ]; then settled_count "$SYSLOG_FILE" "tessera-radiusd\\[$OUR_PID\\]: service=argon2-[0-9]+ .*detail=bad_password"; else echo "not counted"; fi)
echo "log lines: tessera-radiusd $(settled_count "$TMP/radiusd.log" ': decision client=argon2-') decision lines (stderr)," \
  "$ARGON_SYSLOG audit messages (syslog) for the $((RUNS * ARGON_USERS)) password checks"
echo "== Argon2 summary over $RUNS runs: min / median / max"
python3 - "$TMP/argon2.txt" "$TMP/status-runs.txt" <<'PY'
import statistics, sys
def read(path):
    return [{k: float(v) for k, v in (kv.split("=") for kv in line.split())} for line in open(path)]
argon, status = read(sys.argv[1]), read(sys.argv[2])
def spread(runs, key, fmt):
    v = [r[key] for r in runs]
    return " / ".join(fmt % x for x in (min(v), statistics.median(v), max(v)))
print("argon2 checks per second   %s" % spread(argon, "rps", "%.0f"))
print("peak RSS (VmHWM, KiB)      %s" % spread(argon, "server_vmhwm_kib", "%.0f"))
print("status-server p99 ms       %s" % spread(status, "p99_ms", "%.2f"))
print("status-server max ms       %s" % spread(status, "max_ms", "%.2f"))
print("status-server lost         %s" % spread(status, "lost", "%.0f"))
met = sum(1 for r in status if r["p99_ms"] < 10 and r["lost"] == 0)
print("target (Status-Server p99 under 10 ms, none lost): met in %d of %d runs" % (met, len(status)))
PY

echo "== warnings and errors the servers logged (times; client names, addresses, ports and ids folded)"
fold_names() { sed -E 's/^.* : //; s/client "?[A-Za-z0-9.-]+"?/client C/g; s/[0-9]+(\.[0-9]+){3}(:[0-9]+)?/ADDR/g; s/(port|ID:) [0-9]+/\1 N/g; s/[0-9]+ more/N more/'; }
grep -E ': (warning|error): ' "$TMP/radiusd.log" | fold_names | sort | uniq -c | sort -rn | head -10 || echo "tessera-radiusd: none"
grep -E ': (Warning|Error|WARNING|ERROR)' "$TMP/freeradius.log" | fold_names | sort | uniq -c | sort -rn | head -10 || echo "freeradius: none"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
