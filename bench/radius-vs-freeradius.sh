#!/usr/bin/env bash
# Login storm: tessera-radiusd against FreeRADIUS 3.2.1 (PAP + rlm_totp), same load tool, same
# run, loopback only. Every request is one enrolled user logging in once with a valid code.
#
#   bench/radius-vs-freeradius.sh [USERS]          (default 20000)
#
# Reports, for both servers: Access-Requests per second, server CPU µs per request (utime+stime
# from /proc), latency p50/p99 and peak RSS (VmHWM); then the ratios; then tessera-radiusd's
# Argon2 first-factor throughput and its Status-Server latency while 200 Argon2 password checks
# are in flight. Needs: freeradius (Debian 3.2.x), a release build (done here).
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${1:-20000}
WINDOW=${WINDOW:-32}
SOCKETS=${SOCKETS:-4}
SECRET="bench-shared-secret-0123456789"
command -v freeradius >/dev/null || { echo "freeradius is not installed (scripts/install-deps.sh)" >&2; exit 1; }

cargo build --release --locked -q -p tessera-cli -p tessera-radiusd --bins
cargo build --release --locked -q -p tessera-tests --example radius_load
BIN=target/release
LOAD=$BIN/examples/radius_load

TMP=$(mktemp -d /tmp/tessera-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
OUR_PORT=$(free_port)
FR_PORT=$(free_port)

# ---- Tessera -------------------------------------------------------------------------------
cat > "$TMP/tessera.toml" <<TOML
[store]
path = "$TMP/db/tessera.db"
key_file = "$TMP/tessera.key"

[radius]
listen = ["127.0.0.1:$OUR_PORT"]
# The storm: the VPN checked the password (otp-only with first_factor = "password" would want
# an SCRV1: answer carrying it). The Argon2 phase below reloads with "password".
first_factor = "none"
max_in_flight = 1024

# The storm: the VPN checked the password, Tessera checks the code (one store write per login).
[[radius.clients]]
name = "storm"
address = "127.0.0.1"
secret = "$SECRET"
mode = "otp-only"

# The Argon2 phase: password + code in one field.
[[radius.clients]]
name = "argon2"
address = "127.0.0.2"
secret = "$SECRET"
mode = "append"
TOML
$BIN/tessera --config "$TMP/tessera.toml" init >/dev/null
echo "enrolling $USERS users..." >&2
$LOAD setup "$TMP/tessera.toml" "$USERS" "$TMP/users.txt"

# ---- FreeRADIUS ----------------------------------------------------------------------------
RADDB="$TMP/raddb"
cp -a /etc/freeradius/3.0 "$RADDB"
rm -f "$RADDB"/sites-enabled/*
# Only the modules this test needs.
find "$RADDB/mods-enabled" -mindepth 1 ! -name pap ! -name files ! -name always ! -name expr -delete
ln -s ../mods-available/totp "$RADDB/mods-enabled/totp"
sed -i -e 's/^\(\s*\)user = freerad/\1#user = freerad/' -e 's/^\(\s*\)group = freerad/\1#group = freerad/' \
  -e "s|^\(\s*\)logdir = .*|\1logdir = $TMP|" -e "s|^\(\s*\)run_dir = .*|\1run_dir = $TMP|" \
  -e 's/^\(\s*\)auth = yes/\1auth = no/' \
  -e 's/^\(\s*\)max_requests = .*/\1max_requests = 65536/' "$RADDB/radiusd.conf"
cat > "$RADDB/clients.conf" <<CONF
client bench {
    ipaddr = 127.0.0.1
    secret = $SECRET
    require_message_authenticator = yes
}
CONF
cat > "$RADDB/sites-enabled/bench" <<CONF
server bench {
listen {
    type = auth
    ipaddr = 127.0.0.1
    port = $FR_PORT
}
authorize {
    # Password and code arrive in one User-Password: split off the 6-digit code.
    if (&User-Password =~ /^(.*)([0-9]{6})\$/) {
        update request {
            &TOTP-Password := "%{2}"
            &User-Password := "%{1}"
        }
    }
    else {
        reject
    }
    files
    pap
}
authenticate {
    Auth-Type PAP {
        pap
        totp
    }
}
post-auth {
}
}
CONF
awk '{print $1" Cleartext-Password := \"pw\", TOTP-Secret := \""$2"\""}' "$TMP/users.txt" \
  > "$RADDB/mods-config/files/authorize"

# ---- Run -----------------------------------------------------------------------------------
$BIN/tessera-radiusd --config "$TMP/tessera.toml" 2>"$TMP/radiusd.log" &
OUR_PID=$!; PIDS+=("$OUR_PID")
freeradius -f -d "$RADDB" -l "$TMP/freeradius.log" &
FR_PID=$!; PIDS+=("$FR_PID")
for i in $(seq 100); do
  if $LOAD status "127.0.0.1:$OUR_PORT" "$SECRET" --count 1 --interval-ms 0 2>/dev/null | grep -q "lost=0" &&
     $LOAD status "127.0.0.1:$FR_PORT" "$SECRET" --count 1 --interval-ms 0 2>/dev/null | grep -q "lost=0"; then
    break
  fi
  sleep 0.2
done

field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

echo "== login storm: $USERS users, each logs in once with a valid code ($SOCKETS sockets x $WINDOW outstanding)"
OURS=$($LOAD load "127.0.0.1:$OUR_PORT" "$SECRET" "$TMP/users.txt" --style otp --window "$WINDOW" --sockets "$SOCKETS" --pid "$OUR_PID")
echo "tessera-radiusd (otp-only, replay-protected store write + audit row): $OURS"
THEIRS=$($LOAD load "127.0.0.1:$FR_PORT" "$SECRET" "$TMP/users.txt" --style append --window "$WINDOW" --sockets "$SOCKETS" --pid "$FR_PID")
echo "freeradius 3.2 (PAP + rlm_totp, no replay protection):          $THEIRS"
python3 - "$OURS" "$THEIRS" <<'PY'
import sys
def parse(s): return dict(kv.split("=") for kv in s.split())
a, b = parse(sys.argv[1]), parse(sys.argv[2])
print("ratios tessera/freeradius: rps %.2f  cpu_us_per_req %.2f  p50 %.2f  p99 %.2f  vmhwm %.2f" % (
    float(a["rps"]) / float(b["rps"]),
    float(a["server_cpu_us_per_req"]) / float(b["server_cpu_us_per_req"]),
    float(a["p50_ms"]) / float(b["p50_ms"]),
    float(a["p99_ms"]) / float(b["p99_ms"]),
    float(a["server_vmhwm_kib"]) / float(b["server_vmhwm_kib"])))
PY

echo "== Argon2 first factor: 200 password checks in flight (m=19456 KiB, t=2, p=1), Status-Server meanwhile"
sed -i 's/^first_factor = "none"$/first_factor = "password"/' "$TMP/tessera.toml"
kill -HUP "$OUR_PID"
for i in $(seq 50); do grep -q "configuration reloaded" "$TMP/radiusd.log" && break; sleep 0.1; done
$LOAD status "127.0.0.1:$OUR_PORT" "$SECRET" --count 1 --interval-ms 0 >/dev/null
( sleep 0.2; $LOAD status "127.0.0.1:$OUR_PORT" "$SECRET" --count 200 --interval-ms 5 > "$TMP/status.txt" ) &
STATUS_JOB=$!
ARGON=$($LOAD load "127.0.0.1:$OUR_PORT" "$SECRET" "$TMP/users.txt" --style append --password wrong-password \
  --first 200 --window 200 --sockets 1 --bind 127.0.0.2 --pid "$OUR_PID")
wait "$STATUS_JOB"
echo "argon2 phase (every check fails on the password): $ARGON"
echo "argon2 checks per second: $(field rps "$ARGON")"
echo "status-server during the argon2 phase: $(cat "$TMP/status.txt")"
