#!/usr/bin/env bash
# Whole PAM authentications per second: pam_tessera.so against pam_google_authenticator.so
# (Debian's libpam-google-authenticator), measured in the same run on the same machine.
#
# Usage: bench/pam-vs-google-authenticator.sh [AUTHS_PER_ROUND] [ROUNDS]   (default 200 3)
#
# What is measured: `pamtester SERVICE USER authenticate` run end to end (process start,
# pam_wrapper, libpam, the module, one code typed on stdin), AUTHS_PER_ROUND times per module
# per round, the two modules alternating round by round so that drift in machine load hits
# both. A third stack with only pam_permit.so gives the cost of everything that is not a module;
# the script also prints each module's own time per authentication (total minus that baseline).
#
# Fairness:
#  - The same kind of secret: every user gets one random 160-bit TOTP secret (SHA1, 6 digits,
#    30 s), written as a google-authenticator file and imported into Tessera from that very file
#    (`tessera import google-authenticator`), so both modules check the same codes.
#  - Replay protection on in both: google-authenticator with DISALLOW_REUSE (it rewrites its file
#    after every login), Tessera always (a compare-and-set of the time step in SQLite). A code is
#    therefore good for one login per user and time step, so every authentication uses its own
#    user: ROUNDS * AUTHS_PER_ROUND users per module, each logging in once with a fresh valid
#    code computed by oathtool before the timed loop. Windows match (WINDOW_SIZE 3 = Tessera's
#    default window of one step either side), no rate limit in either.
#  - Both modules read their state as root from files on the same filesystem (google-
#    authenticator with `secret=DIR/${USER} user=root`, so no home directories are involved).
#  - pam_tessera is a release build. Argon2 is configured small because the TOTP path never runs
#    it (it only makes the fixture set-up fast).
#  - No syslog daemon: both modules' log lines are dropped the same way.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-200}
ROUNDS=${2:-3}
USERS=$((N * ROUNDS))

for tool in pamtester oathtool; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh" >&2; exit 1; }
done
GA_MODULE=/lib/x86_64-linux-gnu/security/pam_google_authenticator.so
[ -e "$GA_MODULE" ] || GA_MODULE=$(find /lib /usr/lib -name pam_google_authenticator.so 2>/dev/null | head -1)
[ -n "$GA_MODULE" ] && [ -e "$GA_MODULE" ] || { echo "missing libpam-google-authenticator" >&2; exit 1; }
WRAPPER=$(find /usr/lib /lib -name libpam_wrapper.so 2>/dev/null | head -1)
[ -n "$WRAPPER" ] || { echo "missing libpam-wrapper" >&2; exit 1; }

echo "building pam_tessera.so (release) and the tessera CLI..." >&2
cargo build --release --locked -p pam-tessera -q
cargo build --locked -p tessera-cli -q
MODULE=$PWD/target/release/libpam_tessera.so
TESSERA=$PWD/target/debug/tessera

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
chmod 700 "$WORK"
mkdir -m 700 "$WORK/ga" "$WORK/svc"
cat > "$WORK/tessera.toml" <<TOML
[store]
path = "$WORK/db/tessera.db"
key_file = "$WORK/tessera.key"

[argon2]
memory_kib = 256
iterations = 1
TOML
"$TESSERA" --config "$WORK/tessera.toml" init >/dev/null

echo "creating $USERS users for each module..." >&2
for i in $(seq 0 $((USERS - 1))); do
  secret=$(head -c 20 /dev/urandom | base32 | tr -d '=\n')
  echo "$secret" > "$WORK/secret.$i"
  # google-authenticator's user (g$i) and Tessera's (t$i) share the secret.
  printf '%s\n" WINDOW_SIZE 3\n" DISALLOW_REUSE\n" TOTP_AUTH\n' "$secret" > "$WORK/ga/g$i"
  chmod 600 "$WORK/ga/g$i"
  "$TESSERA" --config "$WORK/tessera.toml" import google-authenticator "$WORK/ga/g$i" --user "t$i" >/dev/null
done

echo "auth required $MODULE config=$WORK/tessera.toml" > "$WORK/svc/tessera"
echo "auth required $GA_MODULE secret=$WORK/ga/\${USER} user=root" > "$WORK/svc/ga"
echo "auth required pam_permit.so" > "$WORK/svc/permit"

# run SERVICE USER_PREFIX FIRST_INDEX: one round of N timed authentications; prints seconds.
run() {
  local svc=$1 prefix=$2 first=$3 i codes=()
  for i in $(seq "$first" $((first + N - 1))); do
    codes+=("$(oathtool --totp --base32 "$(cat "$WORK/secret.$i")")")
  done
  local start end k=0
  start=$(date +%s.%N)
  for i in $(seq "$first" $((first + N - 1))); do
    if ! LD_PRELOAD=$WRAPPER PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$WORK/svc" \
        pamtester "$svc" "$prefix$i" authenticate <<<"${codes[$k]}" >/dev/null 2>&1; then
      echo "authentication of $prefix$i through $svc failed" >&2
      exit 1
    fi
    k=$((k + 1))
  done
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f\n", b - a }'
}

# Warm the page cache and the dynamic loader for all three stacks.
LD_PRELOAD=$WRAPPER PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$WORK/svc" pamtester permit nobody authenticate </dev/null >/dev/null 2>&1 || true

t_tessera=0; t_ga=0; t_permit=0
for r in $(seq 0 $((ROUNDS - 1))); do
  first=$((r * N))
  s=$(run tessera t "$first"); t_tessera=$(awk -v a="$t_tessera" -v b="$s" 'BEGIN { printf "%.6f", a + b }')
  s=$(run ga g "$first"); t_ga=$(awk -v a="$t_ga" -v b="$s" 'BEGIN { printf "%.6f", a + b }')
  s=$(run permit p "$first"); t_permit=$(awk -v a="$t_permit" -v b="$s" 'BEGIN { printf "%.6f", a + b }')
  echo "round $((r + 1))/$ROUNDS done" >&2
done

total=$((N * ROUNDS))
awk -v n="$total" -v tt="$t_tessera" -v tg="$t_ga" -v tp="$t_permit" 'BEGIN {
  printf "authentications per module: %d (whole pamtester runs, pam_wrapper)\n", n
  printf "%-28s %10s %14s %16s\n", "stack", "auth/s", "ms per auth", "ms over permit"
  printf "%-28s %10.1f %14.3f %16s\n", "pam_permit (baseline)", n / tp, 1000 * tp / n, "-"
  printf "%-28s %10.1f %14.3f %16.3f\n", "pam_google_authenticator", n / tg, 1000 * tg / n, 1000 * (tg - tp) / n
  printf "%-28s %10.1f %14.3f %16.3f\n", "pam_tessera", n / tt, 1000 * tt / n, 1000 * (tt - tp) / n
  printf "ratio (time per auth, tessera / google-authenticator): %.3f (target <= 1.5)\n", tt / tg
  if (tg > tp) printf "ratio of module time over the baseline: %.3f\n", (tt - tp) / (tg - tp)
}'
