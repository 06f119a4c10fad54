# shellcheck shell=bash disable=SC2034  # the settings and BIN, LOAD, RADDB, ... are for the caller
# Sourced by the RADIUS benchmarks (bench/radius-vs-freeradius.sh, bench/radius-callgrind.sh):
# the build, both servers' configurations and the helpers they share, in one place, so that the
# storm and the instruction count always measure the same two servers.
#
#   source bench/radius-setup.sh
#   radius_build                           # release build; sets BIN (binaries) and LOAD (load tool)
#   tessera_config DIR PORT                # DIR/tessera.toml; sets TESSERA_TOML
#   tessera_enroll DIR USERS PASSWORDS     # init the store, enroll; DIR/users.txt
#   freeradius_config DIR PORT USERS_FILE  # DIR/raddb; sets RADDB
#   wait_status ADDR TRIES                 # until ADDR answers a Status-Server
#   bench_start NAME                       # TMP (a new directory), PIDS (killed at exit), syslog
#
# Both servers log every decision: tessera-radiusd a line per decision to stderr and an audit
# message per decision to syslog (authpriv, /dev/log), FreeRADIUS its authentication log
# (`auth = yes`: an `Auth:` line per accept and reject in its log file; `auth_goodpass` and
# `auth_badpass` stay off, they would log the passwords).

RADIUS_SECRET="bench-shared-secret-0123456789"
# The core's Argon2id parameters for the first factor (OWASP's; packaging/tessera.toml's).
ARGON2_MEMORY_KIB=19456
ARGON2_ITERATIONS=2
ARGON2_PARALLELISM=1
TESSERA_MAX_IN_FLIGHT=1024
# 0: one per CPU (at least 2), the shipped default.
TESSERA_WORKERS=0
FR_MAX_REQUESTS=65536
# The Argon2 phase's password checks in flight, from this many clients (NASes): a client may have
# at most 8 slow requests per worker queued or being decided (16 with the minimum of 2 workers),
# so 200 in flight take 13 clients, 127.0.0.2 to 127.0.0.14; ARGON2_BIND lists their addresses.
ARGON2_IN_FLIGHT=200
ARGON2_CLIENTS=13
ARGON2_BIND=$(seq -s, -f '127.0.0.%g' 2 $((ARGON2_CLIENTS + 1)))

radius_build() {
  command -v freeradius >/dev/null || { echo "freeradius is not installed (scripts/install-deps.sh)" >&2; return 1; }
  cargo build --release --locked -q -p tessera-cli -p tessera-radiusd --bins
  cargo build --release --locked -q -p tessera-tests --example radius_load
  local target
  target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  BIN=$target/release
  LOAD=$BIN/examples/radius_load
}

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

tessera_config() {
  local dir=$1 port=$2
  TESSERA_TOML=$dir/tessera.toml
  cat > "$TESSERA_TOML" <<TOML
[store]
path = "$dir/db/tessera.db"
key_file = "$dir/tessera.key"

[argon2]
memory_kib = $ARGON2_MEMORY_KIB
iterations = $ARGON2_ITERATIONS
parallelism = $ARGON2_PARALLELISM

[radius]
listen = ["127.0.0.1:$port"]
# The storm: the VPN checked the password (otp-only with first_factor = "password" would want
# an SCRV1: answer carrying it). The Argon2 phase reloads with "password".
first_factor = "none"
max_in_flight = $TESSERA_MAX_IN_FLIGHT
workers = $TESSERA_WORKERS

# The storm: the VPN checked the password, Tessera checks the code (one store write per login).
[[radius.clients]]
name = "storm"
address = "127.0.0.1"
secret = "$RADIUS_SECRET"
mode = "otp-only"

TOML
  # The Argon2 phase: password + code in one field.
  local i
  for i in $(seq "$ARGON2_CLIENTS"); do
    cat >> "$TESSERA_TOML" <<TOML

[[radius.clients]]
name = "argon2-$i"
address = "127.0.0.$((i + 1))"
secret = "$RADIUS_SECRET"
mode = "append"
TOML
  done
  # The secret is inline: only root may read the file (the server warns otherwise).
  chmod 600 "$TESSERA_TOML"
}

# bench0..bench{USERS-1}, the first PASSWORDS of them with the password "pw"; "name secret" lines
# in DIR/users.txt.
tessera_enroll() {
  local dir=$1 users=$2 passwords=$3
  "$BIN/tessera" --config "$dir/tessera.toml" init >/dev/null
  echo "enrolling $users users ($passwords with an Argon2id password)..." >&2
  "$LOAD" setup "$dir/tessera.toml" "$users" "$dir/users.txt" --passwords "$passwords"
}

freeradius_config() {
  local dir=$1 port=$2 users=$3
  RADDB="$dir/raddb"
  cp -a /etc/freeradius/3.0 "$RADDB"
  rm -f "$RADDB"/sites-enabled/*
  # Only the modules this test needs.
  find "$RADDB/mods-enabled" -mindepth 1 ! -name pap ! -name files ! -name always ! -name expr -delete
  ln -s ../mods-available/totp "$RADDB/mods-enabled/totp"
  # Runs as root from the temp dir; logs every accept and reject (`auth`), never a password.
  sed -i -e 's/^\(\s*\)user = freerad/\1#user = freerad/' -e 's/^\(\s*\)group = freerad/\1#group = freerad/' \
    -e "s|^\(\s*\)logdir = .*|\1logdir = $dir|" -e "s|^\(\s*\)run_dir = .*|\1run_dir = $dir|" \
    -e 's/^\(\s*\)auth = no$/\1auth = yes/' \
    -e 's/^\(\s*\)auth_badpass = .*/\1auth_badpass = no/' -e 's/^\(\s*\)auth_goodpass = .*/\1auth_goodpass = no/' \
    -e 's/^\(\s*\)max_requests = .*/\1max_requests = '"$FR_MAX_REQUESTS"'/' "$RADDB/radiusd.conf"
  grep -q '^\s*auth = yes$' "$RADDB/radiusd.conf" || { echo "could not turn on FreeRADIUS's auth log" >&2; return 1; }
  cat > "$RADDB/clients.conf" <<CONF
client bench {
    ipaddr = 127.0.0.1
    secret = $RADIUS_SECRET
    require_message_authenticator = yes
}
CONF
  cat > "$RADDB/sites-enabled/bench" <<CONF
server bench {
listen {
    type = auth
    ipaddr = 127.0.0.1
    port = $port
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
  awk '{print $1" Cleartext-Password := \"pw\", TOTP-Secret := \""$2"\""}' "$users" \
    > "$RADDB/mods-config/files/authorize"
}

# FreeRADIUS's thread pool and request limit, as its configuration has them.
freeradius_settings() {
  awk '/^thread pool \{/ { pool = 1 } pool && /^\}/ { pool = 0 }
       pool && $1 ~ /^(start_servers|max_servers|min_spare_servers|max_spare_servers)$/ { printf "%s %s, ", $1, $3 }
       /^max_requests =/ { req = $3 }
       END { printf "max_requests %s", req }' "$RADDB/radiusd.conf"
}

wait_status() {
  local addr=$1 tries=$2
  for _ in $(seq "$tries"); do
    if "$LOAD" status "$addr" "$RADIUS_SECRET" --count 1 --interval-ms 0 2>/dev/null | grep -q "lost=0"; then
      return 0
    fi
    sleep 0.2
  done
  echo "$addr did not answer a Status-Server" >&2
  return 1
}

# The version of the tessera-radiusd built here, and the commit it was built from.
tessera_version() {
  printf '%s (%s)' "$("$BIN/tessera-radiusd" --version)" "$(git describe --always --dirty 2>/dev/null || echo 'no git')"
}

# A temporary directory (TMP) removed at exit, the servers started (PIDS, each added by the
# caller) stopped at exit, and a syslog daemon whose lines we can count: one on /dev/log if none
# listens, else one of our own that the servers see as /dev/log (a shared machine).
bench_start() {
  TMP=$(mktemp -d "/tmp/tessera-$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
  ensure_syslog "$TMP"
  [ -n "$SYSLOG_FILE" ] || private_syslog "$TMP" || true
}

bench_cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  stop_syslog "$TMP"
  rm -rf "$TMP"
}
