#!/usr/bin/env bash
# Whole PAM authentications: pam_tessera.so against pam_google_authenticator.so (Debian's
# libpam-google-authenticator), measured in the same run on the same machine.
#
# Usage: bench/pam-vs-google-authenticator.sh [AUTHS_PER_ROUND] [ROUNDS] [HISTORY]
#        (default 200 3 100000)
#
# What is measured: `pamtester SERVICE USER authenticate` run end to end (process start,
# pam_wrapper, libpam, the module, one code typed on stdin), AUTHS_PER_ROUND times per stack
# per round. Four stacks, in an order that rotates every round so that drift in machine load
# hits all of them:
#  - pam_permit.so alone: the cost of everything that is not a module (the baseline);
#  - pam_google_authenticator;
#  - pam_tessera on a store with 10 earlier logins ("fresh");
#  - pam_tessera on a store with HISTORY earlier logins ("aged": HISTORY more users, each of
#    whom logged in once through the core's login flow, so the store holds their steps and
#    HISTORY audit rows).
# Each round is one run: every figure is printed per round and as min / median / max.
#
# Fairness:
#  - A real host's syslog: a listener on /dev/log (bench/syslog.sh starts rsyslogd if there is
#    none and says so). Both modules log every decision there. Without a listener,
#    google-authenticator (LOG_CONS) writes every line to /dev/console instead and looks slow.
#  - The same kind of secret: every user gets one random 160-bit TOTP secret (SHA1, 6 digits,
#    30 s), written as a google-authenticator file and imported into Tessera from that very file
#    (`tessera import google-authenticator`), so both modules check the same codes.
#  - Replay protection on in both: google-authenticator with DISALLOW_REUSE (it rewrites its file
#    after every login), Tessera always (a compare-and-set of the time step in SQLite). A code is
#    therefore good for one login per user and time step, so every authentication uses its own
#    user, each logging in once with a fresh valid code computed by oathtool before the timed
#    loop. Windows match (WINDOW_SIZE 3 = Tessera's default window of one step either side), no
#    rate limit in either.
#  - The users are accounts, as on a real host, where sshd or sudo has looked the account up
#    before PAM runs: nss_wrapper (Debian's libnss-wrapper) serves a passwd file with root and
#    the users of the round. Without it, pam_tessera's passwd lookup of a name that is no
#    account falls through nsswitch's `files` to `systemd` and loads libnss_systemd on every
#    login (0.4 M instructions), a cost no real login has; google-authenticator looks up only
#    `root` (its `user=` option).
#  - Both modules read their state as root from files on the same filesystem (google-
#    authenticator with `secret=DIR/${USER} user=root`, so no home directories are involved).
#  - pam_tessera is a release build. Argon2 is configured small because the TOTP path never runs
#    it (it only makes the fixture set-up fast).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/syslog.sh

N=${1:-200}
ROUNDS=${2:-3}
HISTORY=${3:-100000}
USERS=$((N * ROUNDS))

for tool in pamtester oathtool python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh" >&2; exit 1; }
done
GA_MODULE=/lib/x86_64-linux-gnu/security/pam_google_authenticator.so
[ -e "$GA_MODULE" ] || GA_MODULE=$(find /lib /usr/lib -name pam_google_authenticator.so 2>/dev/null | head -1)
if [ -z "$GA_MODULE" ] || [ ! -e "$GA_MODULE" ]; then echo "missing libpam-google-authenticator" >&2; exit 1; fi
WRAPPER=$(find /usr/lib /lib -name libpam_wrapper.so 2>/dev/null | head -1)
[ -n "$WRAPPER" ] || { echo "missing libpam-wrapper" >&2; exit 1; }
NSS_WRAPPER=$(find /usr/lib /lib -name libnss_wrapper.so 2>/dev/null | head -1)
[ -n "$NSS_WRAPPER" ] || { echo "missing libnss-wrapper" >&2; exit 1; }

echo "building pam_tessera.so, the tessera CLI and the history tool (release)..." >&2
cargo build --release --locked -q -p pam-tessera -p tessera-cli
cargo build --release --locked -q -p tessera-tests --example login_history
MODULE=$PWD/target/release/libpam_tessera.so
TESSERA=$PWD/target/release/tessera
HISTORY_TOOL=$PWD/target/release/examples/login_history

WORK=$(mktemp -d)
cleanup() { stop_syslog "$WORK"; rm -rf "$WORK"; }
trap cleanup EXIT
chmod 700 "$WORK"
mkdir -m 700 "$WORK/ga" "$WORK/svc"
ensure_syslog "$WORK"

version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
echo "== pam_tessera against pam_google_authenticator: $N authentications per stack per round, $ROUNDS rounds"
echo "machine: $(nproc) cores, $(uname -r), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$SYSLOG_NOTE"
echo "peers: pam_tessera $(git describe --always --dirty 2>/dev/null || echo '?') ($(rustc --version | cut -d' ' -f2), release)," \
  "libpam-google-authenticator $(version libpam-google-authenticator), pamtester $(version pamtester)," \
  "libpam-wrapper $(version libpam-wrapper), libnss-wrapper $(version libnss-wrapper), libpam $(version libpam0g)"
echo "settings: google-authenticator WINDOW_SIZE 3 DISALLOW_REUSE TOTP_AUTH, secret=DIR/\${USER} user=root;" \
  "pam_tessera defaults (window 1 step either side, replay guard and audit row in SQLite WAL, synchronous=NORMAL)"

# A Tessera store with its own key: STORE_NAME EARLIER_LOGINS.
make_store() {
  local name=$1 earlier=$2
  cat > "$WORK/$name.toml" <<TOML
[store]
path = "$WORK/$name/tessera.db"
key_file = "$WORK/$name.key"

[argon2]
memory_kib = 256
iterations = 1
TOML
  "$TESSERA" --config "$WORK/$name.toml" init >/dev/null
  "$HISTORY_TOOL" "$WORK/$name.toml" "$earlier" 2> "$WORK/$name.history"
  echo "auth required $MODULE config=$WORK/$name.toml" > "$WORK/svc/$name"
}

echo "making the stores: 10 earlier logins (fresh), $HISTORY earlier logins (aged)..." >&2
make_store fresh 10
make_store aged "$HISTORY"
echo "aged store: $(cat "$WORK/aged.history"); $(du -h "$WORK/aged/tessera.db" | cut -f1) on disk"

echo "creating $USERS users for each stack..." >&2
for i in $(seq 0 $((USERS - 1))); do
  secret=$(head -c 20 /dev/urandom | base32 | tr -d '=\n')
  echo "$secret" > "$WORK/secret.$i"
  # google-authenticator's user (g$i) and Tessera's (t$i, in both stores) share the secret.
  printf '%s\n" WINDOW_SIZE 3\n" DISALLOW_REUSE\n" TOTP_AUTH\n' "$secret" > "$WORK/ga/g$i"
  chmod 600 "$WORK/ga/g$i"
  for store in fresh aged; do
    "$TESSERA" --config "$WORK/$store.toml" import google-authenticator "$WORK/ga/g$i" --user "t$i" >/dev/null
  done
done

echo "auth required $GA_MODULE secret=$WORK/ga/\${USER} user=root" > "$WORK/svc/ga"
echo "auth required pam_permit.so" > "$WORK/svc/permit"
grep '^root:' /etc/group > "$WORK/group"

# run SERVICE USER_PREFIX FIRST_INDEX: one round of N timed authentications; prints seconds.
run() {
  local svc=$1 prefix=$2 first=$3 i codes=()
  for i in $(seq "$first" $((first + N - 1))); do
    codes+=("$(oathtool --totp --base32 "$(cat "$WORK/secret.$i")")")
  done
  # The accounts of this round: root and its N users.
  grep '^root:' /etc/passwd > "$WORK/passwd"
  for i in $(seq "$first" $((first + N - 1))); do
    echo "$prefix$i:x:$((20000 + i)):$((20000 + i))::/nonexistent:/usr/sbin/nologin"
  done >> "$WORK/passwd"
  local start end k=0
  start=$(date +%s.%N)
  for i in $(seq "$first" $((first + N - 1))); do
    if ! LD_PRELOAD="$WRAPPER $NSS_WRAPPER" NSS_WRAPPER_PASSWD="$WORK/passwd" NSS_WRAPPER_GROUP="$WORK/group" \
        PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$WORK/svc" pamtester "$svc" "$prefix$i" authenticate <<<"${codes[$k]}" >/dev/null 2>&1; then
      echo "authentication of $prefix$i through $svc failed" >&2
      exit 1
    fi
    k=$((k + 1))
  done
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f\n", b - a }'
}

# Warm the page cache and the dynamic loader for every stack.
for svc in permit ga fresh aged; do
  LD_PRELOAD=$WRAPPER PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$WORK/svc" pamtester "$svc" nobody authenticate </dev/null >/dev/null 2>&1 || true
done

# Lines the timed rounds write (set-up wrote some too: the imports are audited).
logged_before=0
[ -n "${SYSLOG_FILE:-}" ] && logged_before=$(wc -l < "$SYSLOG_FILE")
STACKS=(permit ga fresh aged)
PREFIX=([0]=p [1]=g [2]=t [3]=t)
: > "$WORK/times"
for r in $(seq 0 $((ROUNDS - 1))); do
  first=$((r * N))
  for k in 0 1 2 3; do
    j=$(((k + r) % 4))
    s=$(run "${STACKS[$j]}" "${PREFIX[$j]}" "$first")
    echo "$r ${STACKS[$j]} $s" >> "$WORK/times"
  done
  echo "round $((r + 1))/$ROUNDS done" >&2
done
logged=""
if [ -n "${SYSLOG_FILE:-}" ]; then
  tail -n +$((logged_before + 1)) "$SYSLOG_FILE" > "$WORK/rounds.log"
  logged=$(printf 'syslog lines written during the timed rounds: pam_tessera %s for %d logins, pam_google_authenticator %s for %d' \
    "$(grep -c ' pam_tessera\[' "$WORK/rounds.log" || true)" "$((2 * USERS))" "$(grep -c 'google_authenticator' "$WORK/rounds.log" || true)" "$USERS")
fi

python3 - "$WORK/times" "$N" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
n = int(sys.argv[2])
rounds = sorted({int(r[0]) for r in rows})
ms = {}  # stack -> [ms per auth per round]
for r, stack, secs in rows:
    ms.setdefault(stack, [None] * len(rounds))[int(r)] = 1000 * float(secs) / n
def spread(xs):
    return "%8.3f %8.3f %8.3f" % (min(xs), statistics.median(xs), max(xs))
over = {s: [a - b for a, b in zip(ms[s], ms["permit"])] for s in ("ga", "fresh", "aged")}
names = {"permit": "pam_permit (baseline)", "ga": "pam_google_authenticator",
         "fresh": "pam_tessera (10 earlier)", "aged": "pam_tessera (aged store)"}
print("per round, ms per authentication (whole pamtester process):")
print("  %-28s %s" % ("stack", " ".join("%8s" % ("r%d" % (r + 1)) for r in rounds)))
for s in ("permit", "ga", "fresh", "aged"):
    print("  %-28s %s" % (names[s], " ".join("%8.3f" % x for x in ms[s])))
print("over %d rounds (min / median / max):" % len(rounds))
print("  %-28s %26s %26s %10s" % ("stack", "ms per auth", "ms over permit", "auth/s"))
for s in ("permit", "ga", "fresh", "aged"):
    o = spread(over[s]) if s in over else "%26s" % "-"
    print("  %-28s %s %s %10.1f" % (names[s], spread(ms[s]), o, 1000 / statistics.median(ms[s])))
ratio = [a / b for a, b in zip(ms["fresh"], ms["ga"])]
mod = [a / b if b > 0 else float("inf") for a, b in zip(over["fresh"], over["ga"])]
aged = [a / b for a, b in zip(ms["aged"], ms["ga"])]
aged_mod = [a / b if b > 0 else float("inf") for a, b in zip(over["aged"], over["ga"])]
age = [a / b if b > 0 else float("nan") for a, b in zip(over["aged"], over["fresh"])]
print("ratio (time per auth, tessera / google-authenticator): %.3f (min %.3f, max %.3f; target <= 1.0)" % (
    statistics.median(ratio), min(ratio), max(ratio)))
print("ratio of module time over the baseline: %.3f (min %.3f, max %.3f; target <= 1.0 in every round)" % (
    statistics.median(mod), min(mod), max(mod)))
print("aged store: ratio (time per auth) %.3f (min %.3f, max %.3f), module time %.3f (min %.3f, max %.3f)" % (
    statistics.median(aged), min(aged), max(aged), statistics.median(aged_mod), min(aged_mod), max(aged_mod)))
print("module time, aged store / fresh store: %.3f (min %.3f, max %.3f; target ~1.0)" % (
    statistics.median(age), min(age), max(age)))
PY
if [ -n "$logged" ]; then echo "$logged"; fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
