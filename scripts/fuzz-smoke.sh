#!/usr/bin/env bash
# Build every cargo-fuzz target in fuzz/ and run each for a short while (CI's smoke test; see
# docs/fuzzing.md for the long runs). A crash fails the script and leaves the input in
# fuzz/artifacts/<target>/.
#
#   scripts/fuzz-smoke.sh [SECONDS]     default 20 per target (FUZZ_SECONDS also works)
#   FUZZ_TARGETS="config otpauth" scripts/fuzz-smoke.sh
#
# The committed corpus in fuzz/corpus/<target>/ is read, never written: what the fuzzer finds
# goes to a temporary directory, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-${FUZZ_SECONDS:-20}}

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# cargo-fuzz needs nightly's sanitizer flags; without a nightly toolchain, stable can be told
# to accept them.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The RADIUS handler target builds its store in a temporary directory: keep it in ours.
export TMPDIR=$work

targets=${FUZZ_TARGETS:-$("${fuzz[@]}" list)}
"${fuzz[@]}" build
for t in $targets; do
    mkdir -p "$work/$t" "corpus/$t"
    echo "fuzz-smoke: $t for ${seconds}s"
    start=$SECONDS
    # New inputs go to the first directory (temporary); the committed corpus is only read.
    "${fuzz[@]}" run "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 2>"$work/$t.log" || {
        tail -n 40 "$work/$t.log"
        echo "fuzz-smoke: $t FAILED (input in fuzz/artifacts/$t/)" >&2
        exit 1
    }
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || true)
    cov=$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -n 1 || true)
    echo "fuzz-smoke: $t ok: ${runs:-?} runs, ${cov:-cov: ?} in $((SECONDS - start))s"
done
echo "fuzz-smoke: all targets ok"
