#!/usr/bin/env bash
# HTTP bench: DSPy's default SIMBA configuration (bsize 32, 6 candidates,
# 8 steps; about 4,200 LM calls on the generated 60-row trainset) with an
# openai model served by an instant local OpenAI-compatible server
# (benches/http/instant_openai.rs, answering like the sim model). Runs the
# release binary with the response cache cold, warm and off (--no-cache),
# RUNS times each (default 5), and prints the medians: wall time, the time
# simba-run's threads stood waiting for a CPU (what other work on a shared
# machine cost the run), simba-run CPU time (user + sys), CPU per LM call,
# requests sent, and the cache folder's size on disk (`du`).
#
# A last row, "floor", is benches/http/bare_client sending as many requests
# as the cold run sent, over as many connections (16, simba-run's default
# concurrency), with no other work: what the HTTP exchanges alone cost on
# this machine. Its CPU per call divides by the cold run's LM calls, so it
# reads against the other rows.
#
# INSTRUCTIONS=1 counts instead of timing: one cold, one warm and one
# --no-cache run under valgrind's callgrind, printing user-space
# instructions per LM call. Counts barely move with the machine's load, so
# they compare builds where times on a shared machine cannot. The software
# SHA-256 that valgrind forces (it hides the CPU's SHA instructions) is
# shown apart and left out of the per-call figure. Needs valgrind.
#
#   benches/http_run.sh
#   RUNS=3 ROWS=100 benches/http_run.sh
#   BIN=/other/build/simba-run benches/http_run.sh   # another build, same server
#   INSTRUCTIONS=1 benches/http_run.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-5}
rows=${ROWS:-60}
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release --quiet --bin simba-run --example instant_openai \
    --example bare_client)
bin=${BIN:-$target/release/simba-run}
server_bin=$target/release/examples/instant_openai
bare_bin=$target/release/examples/bare_client
work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
python3 "$root/benches/scale/gen_data.py" "$work/data" "$rows"
cp "$root/benches/http/http.simba" "$root/benches/http/oracle.simba" "$work/"

# The server prints its URL first; it stops by itself after 30 minutes.
mkfifo "$work/url"
"$server_bin" "$work/oracle.simba" sim 1800 >"$work/url" &
server_pid=$!
read -r url <"$work/url"
export SIMBA_BENCH_URL=$url

# One run under callgrind: prints "mode instructions sha256 calls per_call".
count() {
    local mode=$1
    shift
    rm -rf "$work/out"
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.$mode" \
        "$bin" "$work/http.simba" --quiet --out "$work/out" "$@" >/dev/null 2>"$work/valgrind.log" ||
        { cat "$work/valgrind.log" >&2; exit 1; }
    callgrind_annotate --threshold=100 "$work/callgrind.$mode" >"$work/annotate.txt"
    python3 - "$mode" "$work/annotate.txt" "$work/out/run.json" <<'PY'
import json, re, sys
mode, annotate, run_file = sys.argv[1:]
total = sha = 0
for line in open(annotate):
    number = re.match(r"\s*([\d,]+)", line)
    if not number:
        continue
    value = int(number.group(1).replace(",", ""))
    if "PROGRAM TOTALS" in line:
        total = value
    elif "sha2::sha256::compress256" in line or "sha2::sha256::soft" in line:
        sha += value
calls = json.load(open(run_file))["usage"]["lm_calls"]
print(f"{mode:<9} {total / 1e6:>9.1f} {sha / 1e6:>8.1f} {calls:>6} {(total - sha) / calls / 1e3:>9.1f}")
PY
}

if [ -n "${INSTRUCTIONS:-}" ]; then
    command -v valgrind >/dev/null || { echo "INSTRUCTIONS=1 needs valgrind" >&2; exit 1; }
    printf "%-9s %9s %8s %6s %9s\n" mode instr_M sha256_M calls k/call
    echo "(k/call: thousands of instructions per LM call, SHA-256 left out)" >&2
    rm -rf "$work/.simba-cache"
    count cold
    count warm
    count no-cache --no-cache
    exit 0
fi

# One run: appends "mode wall user sys rq_wait calls requests cache_bytes" to results.
measure() {
    local mode=$1
    shift
    rm -rf "$work/out"
    python3 "$root/benches/http/measure.py" \
        "$bin" "$work/http.simba" --quiet --out "$work/out" "$@" >"$work/time.txt"
    local cache_bytes=0
    if [ "$mode" != no-cache ] && [ -d "$work/.simba-cache" ]; then
        cache_bytes=$(du -sb "$work/.simba-cache" | cut -f1)
    fi
    python3 - "$mode" "$work/time.txt" "$work/out/run.json" "$cache_bytes" >>"$work/results" <<'PY'
import json, sys
mode, time_file, run_file, cache_bytes = sys.argv[1:]
wall, user, sys_, rq_wait = open(time_file).read().split()
usage = json.load(open(run_file))["usage"]
print(mode, wall, user, sys_, rq_wait, usage["lm_calls"], usage["requests"], cache_bytes)
PY
}

# One run of the bare client: the same columns, its LM calls those of the
# last cold run (it makes none of its own) and no cache.
measure_floor() {
    local calls requests
    read -r calls requests < <(awk '$1 == "cold" { c = $6; r = $7 } END { print c, r }' "$work/results")
    python3 "$root/benches/http/measure.py" \
        "$bare_bin" "$url" "$work/data/train.jsonl" "$requests" 16 >"$work/time.txt"
    echo "floor $(cat "$work/time.txt") $calls $requests 0" >>"$work/results"
}

for _ in $(seq "$runs"); do
    rm -rf "$work/.simba-cache"
    measure cold
    measure warm
    measure no-cache --no-cache
    measure_floor
done

python3 - "$work/results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
print(f"{'mode':<9} {'wall_s':>7} {'rq_wait':>7} {'cpu_s':>6} {'user_s':>6} {'sys_s':>6} "
      f"{'cpu_us/call':>11} {'calls':>6} {'requests':>8} {'cache_MB':>8}")
for mode in ["cold", "warm", "no-cache", "floor"]:
    mine = [r for r in rows if r[0] == mode]
    med = lambda i: statistics.median(float(r[i]) for r in mine)
    wall, user, sys_, rq_wait = med(1), med(2), med(3), med(4)
    calls, requests, cache = med(5), med(6), med(7)
    # CPU is the median of each run's user + sys, not the sum of the two
    # medians (which can pair one run's user time with another's sys).
    cpu = statistics.median(float(r[2]) + float(r[3]) for r in mine)
    per_call = statistics.median((float(r[2]) + float(r[3])) / float(r[5]) for r in mine)
    size = f"{cache / 1e6:.2f}" if mode in ("cold", "warm") else "-"
    print(f"{mode:<9} {wall:>7.2f} {rq_wait:>7.2f} {cpu:>6.2f} {user:>6.2f} {sys_:>6.2f} "
          f"{per_call * 1e6:>11.0f} {calls:>6.0f} {requests:>8.0f} {size:>8}")
print(f"medians of {len(rows) // 4} runs each")
PY
