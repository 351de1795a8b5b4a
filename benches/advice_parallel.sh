#!/usr/bin/env bash
# Parallel advice: how long a step's advice phase takes on the sim model with
# 100 ms latency per call and concurrency 16, with only `append_rule`, so
# every bucket asks the prompt model for advice (up to num_candidates + 1 = 7
# requests per step). Sequential requests would take ~7 x 100 ms per step;
# concurrent ones about one latency.
#
# Usage: benches/advice_parallel.sh [path/to/simba-run]   (default: release build)
# The advice phase is timed from the event stream (--json): from the last
# sampling progress event to the first candidate-evaluation one.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-}"
if [[ -z "$bin" ]]; then
  cargo build --release --bin simba-run --manifest-path "$root/Cargo.toml" >&2
  bin="${CARGO_TARGET_DIR:-$root/target}/release/simba-run"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$root/examples/quickstart/." "$work/"
sed -i 's/provider = "sim"/provider = "sim"\n  latency = 100ms\n  concurrency = 16/' "$work/quickstart.simba"
cd "$work"
"$bin" quickstart.simba --json --out "$work/out" \
  --set qa.max_steps=3 --set qa.concurrency=16 --set 'qa.strategies=[append_rule]' \
  | python3 -c '
import json, sys, time
last_sampling = {}
phases = []
advice = {}
for line in sys.stdin:
    now = time.monotonic()
    e = json.loads(line)
    if e["event"] == "progress" and e["phase"] == "sampling":
        last_sampling[e["step"]] = now
    elif e["event"] == "candidate_built":
        if (e.get("strategy") or "") == "append_rule":
            advice[e["step"]] = advice.get(e["step"], 0) + 1
    elif e["event"] == "progress" and e["phase"] == "evaluating" and e["done"] == 0:
        phases.append((e["step"], now - last_sampling[e["step"]]))
for step, secs in phases:
    n = advice.get(step, 0)
    print(f"step {step}: {n} advice requests applied, advice phase {secs * 1000:.0f} ms "
          f"(one-by-one would be ~{max(n, 1) * 100} ms)")
'
