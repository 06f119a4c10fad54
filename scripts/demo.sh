#!/usr/bin/env bash
# Tessera demo: install what is needed, build, create a demo installation in ./demo (embedded
# SQLite store, key file, a user "demo" with a RADIUS password and a TOTP factor), prepare a PAM
# service for pam_tessera.so, print how to try both, then run tessera-radiusd in the foreground
# (Ctrl-C stops it). Safe to re-run: the key, the store and the demo user are kept.
#
#   scripts/demo.sh                 # RADIUS on 127.0.0.1:1812
#   TESSERA_DEMO_PORT=18120 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${TESSERA_DEMO_PORT:-1812}
DEMO=$ROOT/demo
BIN=$ROOT/target/release
USER_NAME=demo
PASSWORD=demo-password

scripts/install-deps.sh demo
echo "building (release)..." >&2
cargo build --release --locked -q -p tessera-cli -p tessera-radiusd -p pam-tessera

umask 077
mkdir -p "$DEMO/pam.d"
[ -s "$DEMO/radius.secret" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$DEMO/radius.secret"
SECRET=$(cat "$DEMO/radius.secret")

# The PAM module only trusts a configuration owned by root and not writable by others.
umask 022
cat > "$DEMO/tessera.toml" <<TOML
# Demo configuration written by scripts/demo.sh (every key: packaging/tessera.toml).
[store]
path = "$DEMO/tessera.db"
key_file = "$DEMO/tessera.key"

[radius]
listen = ["127.0.0.1:$PORT"]
first_factor = "password"
mode = "auto"

[[radius.clients]]
name = "localhost"
address = "127.0.0.1"
secret_file = "$DEMO/radius.secret"
TOML
umask 077

T() { "$BIN/tessera" --config "$DEMO/tessera.toml" "$@"; }
T init
if ! T user show "$USER_NAME" >/dev/null 2>&1; then
  T user add "$USER_NAME"
  printf '%s\n' "$PASSWORD" | T user passwd "$USER_NAME" --password-stdin
  # Human output: the QR code to scan, the secret, the recovery codes (shown once; kept here).
  T enroll totp "$USER_NAME" --label demo --no-confirm | tee "$DEMO/enrollment.txt"
else
  echo "demo user exists (delete ./demo to start over)"
fi
TOTP_SECRET=$(sed -n 's/^or enter this secret by hand: //p' "$DEMO/enrollment.txt")

cat > "$DEMO/pam.d/tessera-demo" <<PAM
# A PAM service that asks only for the Tessera code (pam_wrapper loads it from this directory).
auth    required    $BIN/libpam_tessera.so config=$DEMO/tessera.toml
account required    pam_permit.so
PAM

cat <<EOF

==============================================================================================
Tessera demo is ready. User "$USER_NAME", RADIUS password "$PASSWORD", TOTP secret $TOTP_SECRET

RADIUS (in another terminal, while the server below runs) — password and code in one field:
  printf 'User-Name = "$USER_NAME"\nUser-Password = "$PASSWORD%s"\nMessage-Authenticator = 0x00\n' \\
      "\$(oathtool --totp -b $TOTP_SECRET)" | radclient -x 127.0.0.1:$PORT auth $SECRET

  password only: the server answers Access-Challenge; send the code with the State it gave:
  printf 'User-Name = "$USER_NAME"\nUser-Password = "$PASSWORD"\nMessage-Authenticator = 0x00\n' \\
      | radclient -x 127.0.0.1:$PORT auth $SECRET

PAM (pam_tessera.so through pamtester, a private service directory via pam_wrapper):
  LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=$DEMO/pam.d \\
      pamtester tessera-demo $USER_NAME authenticate
  (type the code from: oathtool --totp -b $TOTP_SECRET — each code works once)

Administration:  $BIN/tessera --config $DEMO/tessera.toml audit
==============================================================================================
tessera-radiusd on 127.0.0.1:$PORT (Ctrl-C to stop)
EOF
exec "$BIN/tessera-radiusd" --config "$DEMO/tessera.toml"
