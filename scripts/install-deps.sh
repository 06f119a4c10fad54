#!/usr/bin/env bash
# Install the Debian packages Tessera's build, tests and demo need. Safe to re-run: it only calls
# apt-get when something is missing. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  # build
  pkg-config libpam0g-dev libudev-dev
  # test peers
  oathtool pamtester libpam-wrapper libnss-wrapper freeradius-utils openssh-server openssh-client
  python3-pexpect python3-aiosmtpd openssl expect libpam-google-authenticator
  # benchmark peers, and the syslog daemon the benchmarks start when /dev/log has none
  freeradius rsyslog valgrind
)

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
