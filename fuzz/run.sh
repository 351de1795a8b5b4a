#!/usr/bin/env bash
# Runs every fuzz target (or those named after SECONDS) for SECONDS each, one
# at a time, and appends a line per target to fuzz/results.tsv: date, target,
# seconds, executions, crash files. Needs cargo-fuzz; the machine has only a
# stable toolchain, so the fuzz build alone uses RUSTC_BOOTSTRAP=1.
#
#   fuzz/run.sh 60                 # every target, 60 s each
#   fuzz/run.sh 1800 spec reply    # two targets, 30 min each
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(spec reply dataset artifacts plugin_payload checkpoint h1_response)
fi
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target}
./seed.sh >/dev/null
# No sanitizer: the code under test is safe Rust (the plugin ABI's unsafe
# calls are not reached here); debug assertions catch overflows.
flags=(--sanitizer none --debug-assertions)
# FUZZ_BUILD=dev: an unoptimized build, for a smoke run (CI) where build time
# counts more than executions per second.
[ "${FUZZ_BUILD:-release}" = dev ] && flags+=(--dev)
cargo fuzz build "${flags[@]}"
status=0
for t in "${targets[@]}"; do
    log=$(mktemp)
    mkdir -p "artifacts/$t"
    set +e
    cargo fuzz run "${flags[@]}" "$t" "corpus/$t" -- \
        -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
    crashes=$(find "artifacts/$t" -type f | wc -l)
    printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$secs" "${execs:-?}" "$crashes" | tee -a results.tsv
    if [ $rc -ne 0 ]; then
        echo "fuzz target $t failed (exit $rc); last lines:" >&2
        tail -30 "$log" >&2
        status=1
    fi
    rm -f "$log"
done
exit $status
