#!/usr/bin/env bash
# Build the Debian packages libpam-tessera, tessera and tessera-radiusd with cargo-deb.
#
#   packaging/build-debs.sh [OUTDIR]        # default: target/debian
#
# One release build of the three crates (the same `cargo build --release --locked` CI and the
# Dockerfile run), the man pages and shell completions generated from the clap definitions
# (xtask), the configuration file with every key commented out, then one .deb per package.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/debian}
CARGO_DEB_VERSION=3.8.0

VERSION=$(cargo metadata --no-deps --format-version 1 --locked |
  /usr/bin/python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "tessera-cli"))')
# libpam-tessera and tessera-radiusd need the very same tessera (one store schema).
for crate in pam-module radius-server; do
  if ! grep -q "tessera (= $VERSION-1)" "$crate/Cargo.toml"; then
    echo "$crate/Cargo.toml: [package.metadata.deb] depends must pin tessera (= $VERSION-1)" >&2
    exit 1
  fi
done

if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi

B=packaging/build
rm -rf "$B"
mkdir -p "$B"
cargo run -q --locked -p xtask -- dist "$B"
# /etc/tessera/tessera.toml: the reference with every key and section commented out, so that the
# defaults (and whatever a later version makes them) apply until the administrator sets one.
sed -E 's/^(\[|[a-z_0-9]+ = )/#\1/' packaging/tessera.toml > "$B/tessera.toml"
if grep -vqE '^[[:space:]]*(#|$)' "$B/tessera.toml"; then
  echo "$B/tessera.toml: a line is not commented out" >&2
  exit 1
fi

cargo build --release --locked -p tessera-cli -p tessera-radiusd -p pam-tessera
mkdir -p "$OUT"
for crate in tessera-cli pam-tessera tessera-radiusd; do
  cargo deb --locked --no-build -p "$crate" --output "$OUT"
done
ls -l "$OUT"/*_"$VERSION"-1_*.deb
