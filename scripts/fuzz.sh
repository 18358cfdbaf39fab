#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer) for FUZZ_SECONDS each (default 60),
# after one build of them all. Fails when a target finds a crash, printing the artifact and the
# command that reproduces it. cargo-fuzz needs nightly features: they are switched on for the
# stable toolchain with RUSTC_BOOTSTRAP=1, here only.
#
# When cargo-fuzz cannot be installed the run is skipped (with the reason), except under CI=true,
# where that fails.
#
#   scripts/fuzz.sh                      # every target, 60 s each
#   FUZZ_SECONDS=20 scripts/fuzz.sh      # what CI runs
#   scripts/fuzz.sh cidr permission      # some targets
#   FUZZ_SANITIZER=none scripts/fuzz.sh  # without AddressSanitizer (faster; panics still count)
set -uo pipefail

CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
SANITIZER=${FUZZ_SANITIZER:-address}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz" || exit 1
export RUSTC_BOOTSTRAP=1
export PATH="$HOME/.cargo/bin:$PATH"

skip() {
    if [ "${CI:-}" = true ]; then
        echo "fuzz: FAILED: $1 (a skip is not allowed under CI=true)" >&2
        exit 1
    fi
    echo "fuzz: SKIPPED: $1"
    exit 0
}

started=$(date +%s)
if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked \
        || skip "cargo-fuzz $CARGO_FUZZ_VERSION could not be installed"
fi
installed=$(date +%s)

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets" >&2; exit 1; }

echo "fuzz: building ${#targets[@]} targets (sanitizer: $SANITIZER)"
if [ $# -gt 0 ]; then
    for t in "${targets[@]}"; do
        cargo fuzz build --sanitizer "$SANITIZER" "$t" || { echo "fuzz: build of $t failed" >&2; exit 1; }
    done
else
    cargo fuzz build --sanitizer "$SANITIZER" || { echo "fuzz: build failed" >&2; exit 1; }
fi
built=$(date +%s)

# The targets run as built (not through `cargo fuzz run`, which would rebuild first if a source
# changed meanwhile): libFuzzer's own options, as cargo-fuzz would pass them.
bin_dir="target/$(rustc -vV | sed -n 's/^host: //p')/release"
mkdir -p target/logs
failed=()
for t in "${targets[@]}"; do
    # New inputs go to target/corpus/<t> (kept between local runs, never committed); the seeds in
    # corpus/<t> are read only.
    mkdir -p "target/corpus/$t" "corpus/$t" "artifacts/$t"
    log="target/logs/$t.log"
    dict=()
    [ -f "dicts/$t.dict" ] && dict=(-dict="dicts/$t.dict")
    t0=$(date +%s)
    "$bin_dir/$t" -artifact_prefix="artifacts/$t/" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
        -rss_limit_mb=4096 -print_final_stats=1 "${dict[@]}" "target/corpus/$t" "corpus/$t" \
        >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    echo "fuzz: $t: exit $rc, ${runs:-?} runs in $(($(date +%s) - t0)) s"
    if [ $rc -ne 0 ]; then
        failed+=("$t")
        # The panic (or sanitizer report), not all of libFuzzer's output.
        grep -m1 -A12 -E 'panicked at|ERROR: (AddressSanitizer|libFuzzer)' "$log" | sed "s/^/  $t | /"
        for artifact in $(grep -o 'Test unit written to [^ ]*' "$log" | awk '{print $5}'); do
            echo "fuzz: $t found a crash: fuzz/$artifact"
            echo "  reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $SANITIZER $t $artifact)"
            echo "  the input: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz fmt $t $artifact)"
        done
    fi
done
finished=$(date +%s)

echo "fuzz: install $((installed - started)) s, build $((built - installed)) s, runs $((finished - built)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (full logs in fuzz/target/logs/)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${FUZZ_SECONDS} s each without a crash"
