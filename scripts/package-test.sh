#!/usr/bin/env bash
# The Debian packages, installed on this machine and used as a sysadmin would (CI runs it):
#
#   build the .debs (packaging/build-debs.sh), lintian them (no errors), install them with
#   apt-get, check what the install made; `tessera init` (postinst) and an enrollment; the
#   pam-auth-update profile enabled, pamtester through the common-auth it wrote (a code; a wrong
#   one; an unenrolled user; an ordinary user, as a screen locker runs), disabled again; the
#   installed server started the way its unit starts it, asked by radclient; systemd-analyze;
#   an upgrade over the installed packages (PREVIOUS_DEBS=DIR installs those first); then
#   dpkg -r and dpkg -P, each followed by a check that what remains is what docs/packaging.md
#   says.
#
# It changes this machine's PAM configuration for the length of the run: it refuses to start if
# a Tessera package, /etc/tessera or the test account already exists, and puts everything back
# on exit, failed or not. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEBS=$ROOT/target/debian
PORT=${TESSERA_PKG_PORT:-18142}
TESTER=tessera-pkgtest
PASSWORD='pkg-test-Passw0rd'
SERVICE=tessera-pkgtest

step() { printf '\n=== %s\n' "$*"; }
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }
mode_of() { stat -c '%a %U:%G' "$1"; }

[ "$(id -u)" -eq 0 ] || fail "needs root (it installs packages)"
# One run at a time on a machine.
exec 9>/run/lock/tessera-package-test.lock
flock -n 9 || fail "another package test runs on this machine"
# Never near a real installation: everything the clean-up removes must not exist yet.
for p in tessera libpam-tessera tessera-radiusd; do
  state=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  case $state in "" | not-installed) ;; *) fail "package $p is $state on this machine: not touching a real installation" ;; esac
done
for path in /etc/tessera /var/lib/tessera /var/lib/tessera-radiusd /usr/share/pam-configs/tessera \
  "/etc/pam.d/$SERVICE"; do
  [ ! -e "$path" ] || fail "$path exists: not touching a real installation"
done
for account in tessera-radiusd "$TESTER" "$TESTER-2" "$TESTER-0"; do
  ! getent passwd "$account" >/dev/null || fail "account $account exists"
  ! getent group "$account" >/dev/null || fail "group $account exists"
done
grep -q pam_tessera /etc/pam.d/common-* && fail "/etc/pam.d/common-* already name pam_tessera"

SUDO_POLICY_CREATED=
cleanup() {
  set +e
  if [ -n "${SERVER_PID:-}" ]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  if command -v pam-auth-update >/dev/null && [ -e /usr/share/pam-configs/tessera ]; then
    pam-auth-update --package --remove tessera
  fi
  # Whatever happened above, no stack may name a module that is about to go.
  if grep -q pam_tessera /etc/pam.d/common-*; then
    echo "package-test: taking pam_tessera out of /etc/pam.d/common-* by hand" >&2
    sed -i '/pam_tessera\.so/d' /etc/pam.d/common-*
  fi
  dpkg -P tessera-radiusd libpam-tessera tessera >/dev/null 2>&1
  rm -rf /etc/tessera /var/lib/tessera /var/lib/tessera-radiusd "/etc/pam.d/$SERVICE"
  getent passwd tessera-radiusd >/dev/null && deluser --quiet --system tessera-radiusd 2>/dev/null
  getent group tessera-radiusd >/dev/null && delgroup --quiet --system tessera-radiusd
  getent passwd "$TESTER" >/dev/null && userdel -r "$TESTER" 2>/dev/null
  getent passwd "$TESTER-2" >/dev/null && userdel -r "$TESTER-2" 2>/dev/null
  getent passwd "$TESTER-0" >/dev/null && userdel -r "$TESTER-0" 2>/dev/null
  [ -n "$SUDO_POLICY_CREATED" ] && rm -f /usr/sbin/policy-rc.d
}
trap cleanup EXIT

step "system packages"
scripts/install-deps.sh
if ! command -v lintian >/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends lintian
fi

step "build the packages"
packaging/build-debs.sh "$DEBS"
VERSION=$(dpkg-deb -f "$DEBS"/tessera_*_amd64.deb Version)
UPSTREAM=${VERSION%-*}
DEB_FILES=("$DEBS/tessera_${VERSION}_amd64.deb" "$DEBS/libpam-tessera_${VERSION}_amd64.deb"
  "$DEBS/tessera-radiusd_${VERSION}_amd64.deb")

step "lintian (no errors)"
lintian --fail-on error --no-tag-display-limit "${DEB_FILES[@]}"

if [ -n "${PREVIOUS_DEBS:-}" ]; then
  step "install the previous packages from $PREVIOUS_DEBS, and enroll a user with them"
  PREVIOUS_DEBS=$(realpath "$PREVIOUS_DEBS")
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$PREVIOUS_DEBS"/*.deb
  tessera --version
  useradd --create-home --shell /bin/bash "$TESTER-0"
  printf '%s-0:%s\n' "$TESTER" "$PASSWORD" | chpasswd
  tessera user add "$TESTER-0"
  SECRET0=$(tessera --json enroll totp "$TESTER-0" --no-confirm |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
fi

step "install with apt-get"
# A start of the server during the install would be a bug (it is not enabled until a client
# is configured). Where this script may, its own policy-rc.d records every request it denies.
STARTS=$(mktemp)
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\necho "$*" >> %s\nexit 101\n' "$STARTS" > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  SUDO_POLICY_CREATED=1
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${DEB_FILES[@]}"
if grep tessera "$STARTS"; then
  fail "the install asked to start tessera-radiusd"
fi

step "what the install made"
expect_eq "$(tessera --version)" "tessera $UPSTREAM (store schema $(tessera --version | sed -n 's/.*schema \([0-9]*\)).*/\1/p'))" "tessera --version"
tessera --version
tessera-radiusd --version
expect_eq "$(mode_of /etc/tessera/tessera.toml)" "640 root:root" "/etc/tessera/tessera.toml"
if grep -vnE '^[[:space:]]*(#|$)' /etc/tessera/tessera.toml; then
  fail "/etc/tessera/tessera.toml sets a key (every key must be commented out)"
fi
expect_eq "$(mode_of /etc/tessera/tessera.key)" "600 root:root" "the key file"
expect_eq "$(mode_of /var/lib/tessera)" "700 root:root" "/var/lib/tessera"
expect_eq "$(mode_of /var/lib/tessera/tessera.db)" "600 root:root" "the store"
getent passwd tessera-radiusd | grep -q ':/var/lib/tessera-radiusd:/usr/sbin/nologin$' ||
  fail "tessera-radiusd: not a system account with home /var/lib/tessera-radiusd and no shell"
expect_eq "$(mode_of /var/lib/tessera-radiusd)" "700 tessera-radiusd:tessera-radiusd" "/var/lib/tessera-radiusd"
expect_eq "$(mode_of /var/lib/tessera-radiusd/tessera.db)" "600 tessera-radiusd:tessera-radiusd" "the server's store"
expect_eq "$(mode_of /var/lib/tessera-radiusd/tessera.key)" "600 tessera-radiusd:tessera-radiusd" "the server's key"
expect_eq "$(mode_of /etc/tessera/radiusd.toml)" "640 root:tessera-radiusd" "/etc/tessera/radiusd.toml"
grep -q pam_tessera /etc/pam.d/common-auth && fail "installing enabled the PAM profile (Default must be no)"
[ ! -e /etc/systemd/system/multi-user.target.wants/tessera-radiusd.service ] ||
  fail "the server was enabled at install (it must wait for a client)"
for page in tessera.1 tessera.toml.5 pam_tessera.8 tessera-radiusd.8; do
  man -w "${page%.*}" >/dev/null 2>&1 || [ -e "/usr/share/man/man${page##*.}/$page.gz" ] ||
    fail "man page $page not installed"
done
for f in /usr/share/bash-completion/completions/tessera /usr/share/zsh/vendor-completions/_tessera \
  /usr/share/fish/vendor_completions.d/tessera.fish; do
  [ -s "$f" ] || fail "completion $f missing"
done
bash -c 'source /usr/share/bash-completion/completions/tessera && complete -p tessera' >/dev/null ||
  fail "the bash completion does not register for tessera"

step "systemd-analyze"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/tessera-radiusd.service
  score=$(systemd-analyze security --offline=yes /lib/systemd/system/tessera-radiusd.service |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  echo "systemd-analyze security: exposure $score (docs/packaging.md quotes 1.2)"
  awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' ||
    fail "the unit's exposure level is '$score', more than 2.0"
fi

step "enroll a user (the first enrollment, as README shows it)"
useradd --create-home --shell /bin/bash "$TESTER"
useradd --create-home --shell /bin/bash "$TESTER-2"
printf '%s:%s\n%s-2:%s\n' "$TESTER" "$PASSWORD" "$TESTER" "$PASSWORD" | chpasswd
tessera user add "$TESTER"
SECRET=$(tessera --json enroll totp "$TESTER" --no-confirm |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
tessera user show "$TESTER"

step "pam-auth-update --enable tessera: common-auth"
pam-auth-update --package --enable tessera
grep -E 'pam_tessera\.so' /etc/pam.d/common-auth ||
  fail "common-auth does not name pam_tessera.so after --enable"
grep -qE 'pam_tessera\.so nullok unprivileged=ignore' /etc/pam.d/common-auth ||
  fail "common-auth lacks nullok unprivileged=ignore"
printf 'auth include common-auth\naccount include common-account\n' > "/etc/pam.d/$SERVICE"

converse() { # converse USER RESULT_REGEX STEP... (JSON steps), as root unless AS= is set
  local user=$1 want=$2; shift 2
  local steps
  steps=$(printf '%s,' "$@")
  local script="{\"timeout\": 20, \"steps\": [${steps%,}, [\"expect\", \"$want\"]]}"
  if [ -n "${AS:-}" ]; then
    runuser -u "$AS" -- /usr/bin/python3 "$ROOT/tests/scripts/converse.py" "$script" -- pamtester "$SERVICE" "$user" authenticate
  else
    /usr/bin/python3 "$ROOT/tests/scripts/converse.py" "$script" -- pamtester "$SERVICE" "$user" authenticate
  fi
}
pw='["expect", "[Pp]assword: "], ["send", "'"$PASSWORD"'"]'
step "pamtester: password and a code"
converse "$TESTER" "successfully authenticated" "$pw" \
  '["expect", "Verification code: "]' "[\"send\", \"$(oathtool --totp -b "$SECRET")\"]"
step "pamtester: password and a wrong code is refused"
# A code ten minutes away: outside the accepted window.
WRONG=$(oathtool --totp -b "$SECRET" --now "$(date -u -d '+10 minutes' '+%Y-%m-%d %H:%M:%S UTC')")
out=$(converse "$TESTER" "Authentication failure" "$pw" '["expect", "Verification code: "]' \
  "[\"send\", \"$WRONG\"]" 2>&1) || true
echo "$out" | grep -q "Authentication failure" || { echo "$out"; fail "a wrong code was not refused"; }
tessera audit --user "$TESTER" --limit 3 | grep -qi "bad" || fail "the wrong code was not audited"
step "pamtester: a user with no factor passes on the password (nullok)"
converse "$TESTER-2" "successfully authenticated" "$pw"
step "pamtester as an ordinary user (a screen locker): the password alone, the module steps aside"
AS=$TESTER converse "$TESTER" "successfully authenticated" "$pw"

if [ -n "${PREVIOUS_DEBS:-}" ]; then
  step "pamtester: the user the previous release enrolled, after the upgrade"
  converse "$TESTER-0" "successfully authenticated" "$pw" \
    '["expect", "Verification code: "]' "[\"send\", \"$(oathtool --totp -b "$SECRET0")\"]"
fi

step "pam-auth-update --disable tessera"
pam-auth-update --package --disable tessera
grep -q pam_tessera /etc/pam.d/common-auth && fail "common-auth still names pam_tessera after --disable"
converse "$TESTER" "successfully authenticated" "$pw"

step "the installed server, started as its unit starts it"
SECRET_FILE=/etc/tessera/localhost.secret
install -m 0600 -o tessera-radiusd -g tessera-radiusd /dev/null "$SECRET_FILE"
head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$SECRET_FILE"
cat >> /etc/tessera/radiusd.toml <<TOML

# --- added by scripts/package-test.sh
[[radius.clients]]
name = "localhost"
address = "127.0.0.1"
secret_file = "$SECRET_FILE"
TOML
sed -i "s|^#listen = .*|listen = [\"127.0.0.1:$PORT\"]|" /etc/tessera/radiusd.toml
R() { runuser -u tessera-radiusd -- tessera --config /etc/tessera/radiusd.toml "$@"; }
R user add radius-user
printf 'radius-Passw0rd\n' | R user passwd radius-user --password-stdin
RSECRET=$(R --json enroll totp radius-user --no-confirm |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
UNIT=/lib/systemd/system/tessera-radiusd.service
unit_value() { sed -n "s/^$1=//p" "$UNIT" | head -1; }
UNIT_USER=$(unit_value User)
UNIT_GROUP=$(unit_value Group)
UNIT_UMASK=$(unit_value UMask)
read -r -a PRE <<<"$(unit_value ExecStartPre)"
read -r -a START <<<"$(unit_value ExecStart)"
# systemd's User=, Group=, UMask=, NoNewPrivileges= and CapabilityBoundingSet= (empty), and an
# empty environment. One subshell that execs: $! is the server itself.
AS_UNIT=(setpriv --reuid="$UNIT_USER" --regid="$UNIT_GROUP" --init-groups --no-new-privs
  --inh-caps=-all --bounding-set=-all env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin)
(umask "$UNIT_UMASK" && exec "${AS_UNIT[@]}" "${PRE[@]}")
(umask "$UNIT_UMASK" && exec "${AS_UNIT[@]}" "${START[@]}") &
SERVER_PID=$!
for _ in $(seq 50); do
  ss -uln | grep -q "127.0.0.1:$PORT " && break
  sleep 0.1
done
RS=$(cat "$SECRET_FILE")
radius_try() {
  printf 'User-Name = "radius-user"\nUser-Password = "%s"\nMessage-Authenticator = 0x00\n' "$1" |
    radclient -x -r 1 -t 3 "127.0.0.1:$PORT" auth "$RS" 2>&1 || true
}
out=$(radius_try "radius-Passw0rd$(oathtool --totp -b "$RSECRET")")
echo "$out" | grep -q "Received Access-Accept" || { echo "$out"; fail "radclient: no Access-Accept"; }
out=$(radius_try "radius-Passw0rd000000")
# mode auto: the right password with a wrong code is refused with a retry (a challenge).
echo "$out" | grep -qE "Received Access-Reject|Reply-Message = \"Invalid code" ||
  { echo "$out"; fail "radclient: a wrong code was not refused"; }
echo "radclient: Access-Accept for password + code; a wrong code refused"
kill "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=

step "upgrade over the installed packages (maintainer scripts' upgrade path)"
tessera user add "$TESTER-2" >/dev/null
SECRET2=$(tessera --json enroll totp "$TESTER-2" --no-confirm |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
before=$(sha256sum /etc/tessera/tessera.key /var/lib/tessera-radiusd/tessera.key)
echo "# local change kept across the upgrade" >> /etc/tessera/tessera.toml
DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "${DEB_FILES[@]}"
expect_eq "$(sha256sum /etc/tessera/tessera.key /var/lib/tessera-radiusd/tessera.key)" "$before" "the keys across the upgrade"
grep -q "local change kept" /etc/tessera/tessera.toml || fail "the upgrade replaced the changed configuration"
tessera migrate
tessera user show "$TESTER" >/dev/null
pam-auth-update --package --enable tessera
converse "$TESTER-2" "successfully authenticated" "$pw" \
  '["expect", "Verification code: "]' "[\"send\", \"$(oathtool --totp -b "$SECRET2")\"]"
pam-auth-update --package --disable tessera

step "dpkg -r: the programs go, the configuration and every piece of data stay"
dpkg -r tessera-radiusd libpam-tessera tessera
for f in /usr/sbin/tessera /usr/sbin/tessera-radiusd /lib/x86_64-linux-gnu/security/pam_tessera.so \
  /usr/share/pam-configs/tessera "$UNIT"; do
  [ ! -e "$f" ] || fail "$f is still there after dpkg -r"
done
grep -q pam_tessera /etc/pam.d/common-auth && fail "common-auth names pam_tessera after dpkg -r"
for f in /etc/tessera/tessera.toml /etc/tessera/radiusd.toml /etc/tessera/tessera.key \
  /var/lib/tessera/tessera.db /var/lib/tessera-radiusd/tessera.db /var/lib/tessera-radiusd/tessera.key; do
  [ -e "$f" ] || fail "$f was deleted by dpkg -r"
done

step "dpkg -P: the configuration goes; the keys, the stores and the account stay"
dpkg -P tessera-radiusd libpam-tessera tessera
for f in /etc/tessera/tessera.toml /etc/tessera/radiusd.toml; do
  [ ! -e "$f" ] || fail "$f is still there after dpkg -P"
done
for f in /etc/tessera/tessera.key /var/lib/tessera/tessera.db /var/lib/tessera-radiusd/tessera.db \
  /var/lib/tessera-radiusd/tessera.key; do
  [ -e "$f" ] || fail "$f was deleted by dpkg -P (data go only by the administrator's hand)"
done
getent passwd tessera-radiusd >/dev/null || fail "dpkg -P removed the tessera-radiusd account"
dpkg-statoverride --list /etc/tessera/radiusd.toml && fail "a statoverride is left after dpkg -P"
echo "left after purge (as docs/packaging.md says):"
left=$(find /etc/tessera /var/lib/tessera /var/lib/tessera-radiusd -mindepth 1 | sort)
echo "$left"
# The keys, the stores (with SQLite's -wal/-shm beside them) and the client secret this test
# put in /etc/tessera itself; nothing else.
unexpected=$(echo "$left" | grep -vxE '/etc/tessera/(tessera\.key|localhost\.secret)|/var/lib/tessera(-radiusd)?/tessera\.db(-wal|-shm|\.schema-[0-9]+-[0-9]+)?|/var/lib/tessera-radiusd/tessera\.key' || true)
[ -z "$unexpected" ] || fail "left after purge, not in the docs: $unexpected"
echo "package-test: all green"
