#!/usr/bin/env bash
# Build Debian packages of an earlier Tessera, for an upgrade test from it:
#
#   scripts/previous-debs.sh REV [OUTDIR]      # default OUTDIR: target/debian-previous
#   PREVIOUS_DEBS=target/debian-previous scripts/package-test.sh
#
# REV is a git revision of this repository. A revision that already has packaging
# (packaging/build-debs.sh) is built with it as it was. One from before the first packages
# (0.1.0, e.g. 8e90d63) is built with this tree's packaging laid over it: its own binaries and
# store schema, today's maintainer scripts, metadata and pages, its own version in the package
# versions and in the pin between them. Slow (a release build of that tree in its own target
# directory); run by hand, not by CI (docs/packaging.md, "Tested").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REV=${1:?usage: $0 REV [OUTDIR]}
OUT=$(realpath -m "${2:-target/debian-previous}")

WORK=$(mktemp -d)
trap 'git worktree remove --force "$WORK/tree" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
git worktree add --detach "$WORK/tree" "$REV" >/dev/null
cd "$WORK/tree"
export CARGO_TARGET_DIR=${PREVIOUS_TARGET_DIR:-$ROOT/target/previous}

if [ -x packaging/build-debs.sh ]; then
  packaging/build-debs.sh "$OUT"
  exit 0
fi

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
echo "building Tessera $VERSION ($REV) with this tree's packaging" >&2
for crate in cli pam-module radius-server; do
  sed -n '/^# Debian package/,$p' "$ROOT/$crate/Cargo.toml" |
    sed "s/tessera (= [0-9.]*-1)/tessera (= $VERSION-1)/" | { echo; cat; } >> "$crate/Cargo.toml"
done
rm -rf packaging/debian packaging/pam-configs
cp -r "$ROOT/packaging/debian" "$ROOT/packaging/pam-configs" "$ROOT/packaging/radiusd.toml" \
  "$ROOT/packaging/tessera-radiusd.service" packaging/
# The pages and completions of this tree (the old one has no generator), and the old tree's
# own reference configuration, commented out as the packages ship it.
mkdir -p packaging/build
(cd "$ROOT" && CARGO_TARGET_DIR=$ROOT/target cargo run -q --locked -p xtask -- dist "$WORK/tree/packaging/build")
sed -E 's/^(\[|[a-z_0-9]+ = )/#\1/' packaging/tessera.toml > packaging/build/tessera.toml
# The profile's unprivileged=ignore is newer than the old module, which would refuse it.
sed -i 's/ unprivileged=ignore//' packaging/pam-configs/tessera

cargo build --release --locked -p tessera-cli -p tessera-radiusd -p pam-tessera
mkdir -p "$OUT"
for crate in tessera-cli pam-tessera tessera-radiusd; do
  cargo deb --no-build -p "$crate" --output "$OUT"
done
ls -l "$OUT"
