#!/usr/bin/env bash
# softmax vs thompson selection on the sim quickstart: 10 seeds each, the same
# LM-call budget (stop.max_lm_calls, default 1200, the final selection
# included), and the final program's dev score. Prints per-seed scores, then
# mean and standard deviation per selection. Not a test: a comparison.
#
# Usage: benches/selection_compare.sh [path/to/simba-run] [budget]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-}"
budget="${2:-1200}"
if [[ -z "$bin" ]]; then
  cargo build --release --bin simba-run --manifest-path "$root/Cargo.toml" >&2
  bin="${CARGO_TARGET_DIR:-$root/target}/release/simba-run"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$root/examples/quickstart/." "$work/"
cd "$work"
for sel in softmax thompson; do
  for seed in 0 1 2 3 4 5 6 7 8 9; do
    out="$work/out-$sel-$seed"
    "$bin" quickstart.simba --quiet --out "$out" --set "qa.seed=$seed" \
      --set "qa.selection=$sel" --set "qa.max_steps=20" \
      --set "qa.stop.max_lm_calls=$budget"
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(sys.argv[2], sys.argv[3], r["best"]["dev"], r["baseline"]["dev"], r["usage"]["lm_calls"], r["steps_run"], r["stop_reason"])
' "$out/run.json" "$sel" "$seed"
  done
done | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin]
print("%-10s %4s %9s %9s %6s %5s  stop" % ("selection", "seed", "best dev", "base dev", "calls", "steps"))
for sel, seed, dev, base, calls, steps, stop in rows:
    print(f"{sel:<10} {seed:>4} {float(dev):>9.3f} {float(base):>9.3f} {calls:>6} {steps:>5}  {stop}")
print()
print("%-10s %9s %7s %7s %7s %10s" % ("selection", "mean dev", "sd", "min", "max", "mean calls"))
for sel in ("softmax", "thompson"):
    d = [float(r[2]) for r in rows if r[0] == sel]
    c = [int(r[4]) for r in rows if r[0] == sel]
    print(f"{sel:<10} {statistics.mean(d):>9.3f} {statistics.stdev(d):>7.3f} {min(d):>7.3f} {max(d):>7.3f} {statistics.mean(c):>10.0f}")
'
