#!/usr/bin/env bash
# Install the Debian packages Tessera needs. Safe to re-run: it only calls apt-get when
# something is missing. Needs root (or sudo).
#
#   scripts/install-deps.sh demo    # build dependencies and what the demo's commands use
#   scripts/install-deps.sh         # all of that, plus the test and benchmark peers
#
# Test peers that are daemons (openssh-server, freeradius, rsyslog) are installed for the tests
# to start by hand on loopback ports: they are never started by the install, and the ones this
# script installs are disabled at boot again (FreeRADIUS would take UDP 1812 after a reboot).
set -euo pipefail
WHAT=${1:-test}

PACKAGES=(
  # build
  pkg-config libpam0g-dev libudev-dev
  # the demo's RADIUS client, PAM driver and code generator
  oathtool pamtester libpam-wrapper freeradius-utils
)
if [ "$WHAT" = test ]; then
  PACKAGES+=(
    # test peers
    libnss-wrapper openssh-server openssh-client python3-pexpect python3-aiosmtpd openssl
    expect libpam-google-authenticator lintian
    # benchmark peers, and the syslog daemon the benchmarks start when /dev/log has none
    freeradius rsyslog valgrind
  )
elif [ "$WHAT" != demo ]; then
  echo "usage: $0 [demo|test]" >&2
  exit 2
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}" >&2
# Installing openssh-server or freeradius would start system daemons: keep them off.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

# Every service the packages just installed brought is disabled at boot; services that were
# there before (a machine's own sshd) are left as they were.
for p in "${missing[@]}"; do
  dpkg -L "$p" 2>/dev/null | grep -E '^/(usr/)?lib/systemd/system/[^/]+\.(service|socket)$' |
    while read -r unit; do
      name=${unit##*/}
      case $name in *@.*) continue ;; esac
      if systemctl is-enabled --quiet "$name" 2>/dev/null; then
        echo "disabling $name at boot (installed only as a test peer)" >&2
        $SUDO systemctl disable --quiet "$name" 2>/dev/null || true
      fi
    done
done
