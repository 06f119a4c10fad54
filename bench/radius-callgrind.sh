#!/usr/bin/env bash
# Instructions per Access-Request, tessera-radiusd against FreeRADIUS 3.2.1, counted by valgrind
# (callgrind): the same from run to run whatever the load on the machine, unlike the timings of
# bench/radius-vs-freeradius.sh, whose configuration (bench/radius-setup.sh) this shares, logging
# included.
#
#   [WARMUP=300] [WINDOW=8] [SOCKETS=1] bench/radius-callgrind.sh [REQUESTS]   (default 2000)
#
# Each server runs under `valgrind --tool=callgrind` (about 50 times slower, hence the small
# window); once it answers Status-Server it gets WARMUP logins, its counters are zeroed
# (callgrind_control -z), it gets REQUESTS logins (each a user of its own with a valid code;
# the load tool never retransmits, and every one must be accepted), the counters are dumped
# (callgrind_control -d) and it is stopped. Instructions per request = the dump's total / REQUESTS,
# every thread of the server included; the syslog daemon's work and the kernel's (system calls,
# UDP, the file system) are not counted, for either server.
#
# Then where tessera-radiusd's instructions go, by category (decode/encode, MAC, TOTP, store,
# log, send/receive, other), each instruction counted once, with the top functions of each and
# the inclusive cost of the main steps; and FreeRADIUS's split by library and its main steps. The release build is used as it is
# shipped: it has symbols but no debug info, so code inlined into a function counts as that
# function's.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/syslog.sh
source bench/syslog.sh
# shellcheck source=bench/radius-setup.sh
source bench/radius-setup.sh

REQUESTS=${1:-2000}
WARMUP=${WARMUP:-300}
WINDOW=${WINDOW:-8}
SOCKETS=${SOCKETS:-1}
for tool in valgrind callgrind_control; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install valgrind)" >&2; exit 1; }
done

radius_build

bench_start callgrind

OUR_PORT=$(free_port)
FR_PORT=$(free_port)
tessera_config "$TMP" "$OUR_PORT"
tessera_enroll "$TMP" $((WARMUP + REQUESTS)) 0
freeradius_config "$TMP" "$FR_PORT" "$TMP/users.txt"

field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

echo "== instructions per Access-Request under callgrind ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "machine: nproc $(nproc), load average $(cut -d' ' -f1-3 /proc/loadavg) (instruction counts do not depend on it)"
echo "peers: $(tessera_version); $(freeradius -v | head -1); $(valgrind --version)"
echo "$SYSLOG_NOTE"
echo "settings: $WARMUP warm-up logins, then $REQUESTS counted, $SOCKETS socket(s) x $WINDOW outstanding; each login a user of its own" \
  "with a valid code; the storm's configuration (bench/radius-setup.sh): tessera otp-only, max_in_flight $TESSERA_MAX_IN_FLIGHT," \
  "workers $TESSERA_WORKERS; freeradius PAP + rlm_totp, auth log on, max_requests $FR_MAX_REQUESTS"

# measure NAME PORT STYLE CMD...: run CMD under callgrind (its stderr to $TMP/NAME.stderr) and
# count REQUESTS logins; sets OUT (the dump) and RESULT (the load tool's line for them).
measure() {
  local name=$1 port=$2 style=$3 pid warm zero dump
  shift 3
  syslog_run valgrind --tool=callgrind --callgrind-out-file="$TMP/$name.%p.out" --log-file="$TMP/$name.%p.valgrind" \
    "$@" 2>"$TMP/$name.stderr" &
  pid=$!; PIDS+=("$pid")
  wait_status "127.0.0.1:$port" 150
  warm=$("$LOAD" load "127.0.0.1:$port" "$RADIUS_SECRET" "$TMP/users.txt" --style "$style" --first "$WARMUP" \
    --window "$WINDOW" --sockets "$SOCKETS")
  [ "$(field accepts "$warm")" = "$WARMUP" ] || { echo "$name: warm-up not all accepted: $warm" >&2; return 1; }
  # Let the warm-up's log lines be written before zeroing, and the storm's before dumping.
  sleep 1
  zero=$(callgrind_control -z "$pid" 2>&1)
  grep -q "OK" <<<"$zero" || { echo "$name: callgrind_control -z failed: $zero" >&2; return 1; }
  RESULT=$("$LOAD" load "127.0.0.1:$port" "$RADIUS_SECRET" "$TMP/users.txt" --style "$style" --skip "$WARMUP" \
    --first "$REQUESTS" --window "$WINDOW" --sockets "$SOCKETS")
  sleep 1
  dump=$(callgrind_control -d "$pid" 2>&1)
  grep -q "OK" <<<"$dump" || { echo "$name: callgrind_control -d failed: $dump" >&2; return 1; }
  kill "$pid"
  wait "$pid" || true
  OUT=$TMP/$name.$pid.out.1
  [ -s "$OUT" ] || { echo "$name: no dump in $OUT" >&2; return 1; }
  if [ "$(field accepts "$RESULT")" != "$REQUESTS" ] || [ "$(field lost "$RESULT")" != 0 ]; then
    echo "$name: not every counted request was accepted, the count would be wrong: $RESULT" >&2
    return 1
  fi
}

measure tessera "$OUR_PORT" otp "$BIN/tessera-radiusd" --config "$TESSERA_TOML"
OUR_OUT=$OUT
echo "tessera-radiusd: $RESULT"
measure freeradius "$FR_PORT" append freeradius -f -d "$RADDB" -l "$TMP/freeradius.log"
FR_OUT=$OUT
echo "freeradius:      $RESULT"
echo "(no request retransmitted: the load tool never resends, and every counted request got its Access-Accept)"
OUR_SYSLOG="not counted (the host's own daemon)"
if [ -n "$SYSLOG_FILE" ]; then
  OUR_SYSLOG=$(grep -c 'tessera-radiusd\[[0-9]*\]: service=storm ' "$SYSLOG_FILE" || true)
fi
echo "logged over warm-up and count: tessera-radiusd $(grep -c ': decision client=storm ' "$TMP/tessera.stderr" || true) decision lines (stderr)," \
  "$OUR_SYSLOG audit messages (syslog); freeradius $(grep -c ': Auth: (' "$TMP/freeradius.log" || true) Auth: lines" \
  "(of $((WARMUP + REQUESTS)) logins each)"

python3 - "$OUR_OUT" "$FR_OUT" "$REQUESTS" <<'PY'
import collections, re, sys

sys.setrecursionlimit(100000)


def parse(path):
    """Self cost per function, inclusive cost and count per call edge, and each function's object,
    from a callgrind dump (only the Ir event is recorded)."""
    self_cost, calls, count, obj = collections.Counter(), collections.Counter(), collections.Counter(), {}
    names = {"ob": {}, "fl": {}, "fn": {}}
    space = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl", "cfi": "fl", "cfl": "fl",
             "fn": "fn", "cfn": "fn"}
    positions, ob, cob, fn, cfn, in_call = 1, None, None, None, None, False
    spec = re.compile(r"^(ob|cob|fl|fi|fe|cfi|cfl|fn|cfn)=(?:\((\d+)\))?\s*(.*)$")
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if not line:
            continue
        if line[0].isdigit() or line[0] in "+-*":
            parts = line.split()
            ir = int(parts[positions]) if len(parts) > positions else 0
            if fn is None:
                continue
            if in_call:
                calls[(fn, cfn)] += ir
                in_call = False
            else:
                self_cost[fn] += ir
            continue
        m = spec.match(line)
        if m:
            kind, ident, name = m.groups()
            table = names[space[kind]]
            if ident is not None:
                if name:
                    table[ident] = name
                name = table.get(ident, ident)
            if kind == "ob":
                ob = name
            elif kind == "cob":
                cob = name
            elif kind == "fn":
                fn = name
                obj[fn] = ob
            elif kind == "cfn":
                cfn = name
                obj.setdefault(cfn, cob or ob)
        elif line.startswith("calls="):
            in_call, cob = True, None
            count[(fn, cfn)] += int(line[6:].split()[0])
        elif line.startswith("positions:"):
            positions = len(line.split()) - 1
    inclusive = collections.Counter(self_cost)
    for (a, b), v in calls.items():
        if a != b:
            inclusive[a] += v
    called = collections.Counter()
    for (a, b), k in count.items():
        if a != b:
            called[b] += k
    return self_cost, calls, obj, inclusive, called


def attribute(self_cost, calls, category):
    """Instructions per label, each counted once: a function's own instructions go to its label
    (`category(f)`); an unlabelled function's (memcpy, malloc, SQLite's internals, generic hashing
    and formatting) to its callers' labels, in proportion to what each call cost."""
    callers = collections.defaultdict(list)
    for (a, b), v in calls.items():
        if a != b and v > 0:
            callers[b].append((a, v))
    memo = {}

    def dist(f, active):
        if f in memo:
            return memo[f]
        c = category(f)
        if c:
            d = {c: 1.0}
        else:
            d = collections.defaultdict(float)
            active.add(f)
            edges = [(a, v) for a, v in callers.get(f, []) if a not in active]
            total = sum(v for _, v in edges)
            for a, v in edges:
                for k, w in dist(a, active).items():
                    d[k] += w * v / total
            active.discard(f)
            if not d:
                d = {UNATTRIBUTED: 1.0}
        memo[f] = d
        return d

    out = collections.Counter()
    for f, v in self_cost.items():
        for k, w in dist(f, set()).items():
            out[k] += v * w
    return out


UNATTRIBUTED = "other: unattributed"
# First match wins. The crypto leaves are named for what they serve: SHA-1 only in TOTP, MD5
# only in RADIUS's authenticators and User-Password hiding.
CATEGORIES = [
    ("decode/encode", "packet parsing and encoding (radius-server codec, radius crate), less its MD5"),
    ("MAC", "MD5, HMAC-MD5: Message-Authenticator, request/response authenticators, User-Password"),
    ("TOTP", "HMAC-SHA1, code generation and compare, secret unsealing (ChaCha20-Poly1305)"),
    ("store", "rusqlite, SQLite, the store's queries"),
    ("log", "syslog messages (formatting, send), stderr decision lines"),
    ("send/receive", "UDP socket calls (tokio, mio, std, libc wrappers)"),
    ("other: user names", "name_key: Unicode NFKC and case folding of the User-Name"),
    ("other: auth and policy", "tessera_common's login flow, lockout, audit events; the handler"),
    ("other: packet loop", "dedup cache (keyed digest of each request), admission, batching, replies"),
    ("other: runtime", "tokio, threads, channels, locks"),
    (UNATTRIBUTED, "code no categorised function called (thread starts)"),
]
PATTERNS = [
    ("TOTP", r"sha1::|totp_rs::|tessera_common::otp|tessera_common::factor::totp|MasterKey>?::unseal|"
             r"tessera_common::base::secret|chacha20|poly1305|aead::|as aead::|cipher::"),
    ("MAC", r"md5::|md_5::|verify_message_authenticator|encode_user_password"),
    ("other: user names", r"tessera_common::base::names::|unicode_normalization::|caseless::"),
    ("log", r"syslog::|SyslogSink|AuditEvent as core::fmt::Display|tessera_radiusd::log::|decision_line|"
            r"std::io::stdio|Printable"),
    ("store", r"^sqlite3|rusqlite::|libsqlite3_sys::|tessera_common::store::"),
    ("decode/encode", r"tessera_radiusd::codec::|radius::core::"),
    ("send/receive", r"tokio::net::udp|mio::net::udp|std::net::udp|std::sys::net::|socket2::|UdpSocket"),
    ("other: auth and policy", r"tessera_common::|tessera_radiusd::handler"),
    ("other: packet loop", r"tessera_radiusd::"),
    ("other: runtime", r"tokio::|mio::|std::sync|std::thread|std::sys::sync|std::sys::thread|crossbeam|"
                       r"futex|pthread_|__lll_|std::sys::pal::unix::thread"),
]
COMPILED = [(name, re.compile(p)) for name, p in PATTERNS]


def category(f):
    for name, p in COMPILED:
        if p.search(f):
            return name
    return None


ours, theirs, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
o_self, o_calls, o_obj, o_incl, o_called = parse(ours)
t_self, t_calls, t_obj, t_incl, t_called = parse(theirs)
o_total, t_total = sum(o_self.values()), sum(t_self.values())
print("instructions per request: tessera-radiusd %.0f  freeradius %.0f  ratio %.2f" % (
    o_total / n, t_total / n, o_total / t_total))
print("(every thread of each server; not counted: the syslog daemon's work and the kernel's, "
      "system calls, UDP and file writes included)")

print()
print("== where tessera-radiusd's instructions go (per request; each instruction counted once)")
by_cat = attribute(o_self, o_calls, category)
print("%-24s %10s %7s  %s" % ("category", "instr/req", "share", "what"))
for name, what in CATEGORIES:
    v = by_cat.get(name, 0)
    print("%-24s %10.0f %6.1f%%  %s" % (name, v / n, 100 * v / o_total, what))
print("(a function's own instructions count in its category; those of uncategorised helpers "
      "(memcpy, malloc, SQLite's internals, generic hashing and formatting) in their callers' "
      "categories, pro rata)")

print()
print("== tessera-radiusd's top functions per category: own instructions and their helpers' (adds up to the category)")
by_fn = attribute(o_self, o_calls, lambda f: f if category(f) else None)
per_cat = collections.defaultdict(list)
for f, v in by_fn.items():
    per_cat[category(f) or UNATTRIBUTED].append((v, f))
for name, _ in CATEGORIES[:-1]:
    for v, f in sorted(per_cat.get(name, []), reverse=True)[:4]:
        print("%-24s %10.0f %6.1f%%  %s" % (name, v / n, 100 * v / o_total, f[:120]))

print()
print("== tessera-radiusd's steps, by inclusive cost (with all they call: these overlap), and calls per request")
STEPS = [
    (r"^tessera_radiusd::server::receive::<impl tessera_radiusd::server::Server>::datagram$", "Server::datagram",
     "packet loop: a datagram checked and handed on"),
    (r"^tessera_radiusd::codec::parse$", "codec::parse", "decode"),
    (r"^tessera_radiusd::codec::Request::verify_message_authenticator$", "verify_message_authenticator",
     "MAC: Message-Authenticator"),
    (r"^tessera_radiusd::codec::Request::user_password$", "Request::user_password", "decode: User-Password (MD5)"),
    (r"^tessera_radiusd::cache::digest$", "cache::digest", "packet loop: the dedup cache's digest"),
    (r"^tessera_radiusd::handler::Handler::decide_batch$", "Handler::decide_batch",
     "deciding a batch (store transaction, TOTP, audit, syslog)"),
    (r"^tessera_common::base::names::name_key$", "names::name_key", "user names: NFKC + case fold"),
    (r"^tessera_common::factor::totp::check$", "factor::totp::check", "TOTP: the check (unsealing, HMAC-SHA1, compare)"),
    (r"^tessera_common::base::secret::MasterKey::unseal$", "MasterKey::unseal", "TOTP: unsealing the secret"),
    (r"UserStore for tessera_common::store::sqlite::SqliteStore>::login_data$", "SqliteStore::login_data",
     "store: the login's reads"),
    (r"commit_answer::\{\{closure\}\}$", "commit_answer closure", "store: the write (step claimed, audit row)"),
    (r"as tessera_common::store::Tx>::append_audit$", "SqliteTx::append_audit", "store: the audit row"),
    (r"^sqlite3_step$", "sqlite3_step", "store: SQLite executing statements"),
    (r"^tessera_common::audit::SyslogSink::send$", "SyslogSink::send", "log: a syslog message"),
    (r"^<syslog::format::Formatter3164 as", "Formatter3164::format", "log: RFC 3164 formatting (syslog crate)"),
    (r"^tessera_radiusd::server::Server::respond_logged$", "Server::respond_logged",
     "encode, send and the stderr decision line"),
    (r"^tessera_radiusd::codec::encode_response$", "codec::encode_response", "encode + MAC: the reply"),
    (r"^tokio::net::udp::UdpSocket::try_send_to$", "UdpSocket::try_send_to", "send (the system call is the kernel's)"),
]
for pattern, short, what in STEPS:
    p = re.compile(pattern)
    found = [(o_incl[f], f) for f in o_incl if p.search(f)]
    if found:
        v, f = max(found)
        print("  %-30s %10.0f %6.1f%%  %5.2f calls/req  %s" % (
            short, v / n, 100 * v / o_total, o_called.get(f, 0) / n, what))

print()
print("== freeradius: instructions per request by library (own instructions; libc's and talloc's go to their callers, pro rata)")
HELPERS = re.compile(r"libc\.so|libtalloc|ld-linux|^\?\?\?$|^None$")
def fr_library(f):
    lib = (t_obj.get(f) or "???").split("/")[-1]
    return None if HELPERS.search(lib) else lib
fr_cat = attribute(t_self, t_calls, fr_library)
raw = collections.Counter()
for f, v in t_self.items():
    raw[(t_obj.get(f) or "???").split("/")[-1]] += v
for lib, v in fr_cat.most_common():
    print("%-32s %10.0f %6.1f%%   (own code alone: %.1f%%)" % (
        lib if lib != UNATTRIBUTED else "unattributed", v / n, 100 * v / t_total, 100 * raw.get(lib, 0) / t_total))
print("%-32s %10s %6.1f%% of all instructions ran in libc, %.1f%% in talloc" % (
    "", "", 100 * sum(v for k, v in raw.items() if "libc.so" in k) / t_total,
    100 * sum(v for k, v in raw.items() if "libtalloc" in k) / t_total))
print("freeradius's named steps, by inclusive cost (these overlap):")
for f, what in [("rad_decode", "decode (with User-Password)"), ("rad_pwdecode", "  User-Password (MD5)"),
                ("rad_verify", "MAC: Message-Authenticator and request checks"),
                ("rad_sign", "MAC: response authenticator, Message-Authenticator"),
                ("fr_hmac_sha1", "TOTP: HMAC-SHA1 (rlm_totp)"), ("radlog_request", "log: debug/auth lines"),
                ("vradlog", "log: writing lines (auth log)"), ("rad_authenticate", "the whole authorize/authenticate"),
                ("rad_postauth", "post-auth (the Auth: line is written here)")]:
    if f in t_incl:
        print("  %-22s %10.0f %6.1f%%  %s" % (f, t_incl[f] / n, 100 * t_incl[f] / t_total, what))
PY
