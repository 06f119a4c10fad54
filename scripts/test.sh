#!/usr/bin/env bash
# Run the whole test suite: installs what it needs, builds the workspace (the end-to-end tests
# drive the built binaries and pam_tessera.so), then runs every unit and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --workspace --locked
cargo test --workspace --locked "$@"
