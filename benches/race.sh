#!/usr/bin/env bash
# final = race vs final = full on the offline sim model, DSPy's default
# configuration (bsize 32, num_candidates 6, max_steps 8), 10 seeds: the LM
# calls of the final selection, whether both return the same program, and
# each returned program's devset score (`simba-run eval`, 200 examples).
# Data: benches/scale/gen_data.py (ROWS training rows, default 1000). The
# block names no devset, so every call after the loop is the selection's.
# Not a test: a comparison (docs/optimizer.md, "Racing the final selection").
#
# Usage: benches/race.sh [path/to/simba-run] [ROWS]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-}"
rows="${2:-1000}"
if [[ -z "$bin" ]]; then
  cargo build --release --bin simba-run --manifest-path "$root/Cargo.toml" >&2
  bin="${CARGO_TARGET_DIR:-$root/target}/release/simba-run"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 "$root/benches/scale/gen_data.py" "$work/data" "$rows"
# The scale spec with DSPy's 8 steps and no devset in the block.
sed -e 's/max_steps      = 50/max_steps      = 8/' -e '/devset   = big.dev/d' \
  "$root/benches/scale/scale.simba" > "$work/race.simba"
cd "$work"

final_calls() { # output folder -> LM calls after the loop
  python3 -c '
import json, sys
d = sys.argv[1]
run = json.load(open(d + "/run.json"))
loop = sum(json.loads(l)["usage"]["lm_calls"] for l in open(d + "/trials.jsonl"))
print(run["usage"]["lm_calls"] - loop)
' "$1"
}
dev_score() { # output folder -> mean devset score of its program.json
  "$bin" eval race.simba --program "$1/program.json" --split dev --json 2>/dev/null |
    python3 -c 'import json, sys; s = [json.loads(l)["score"] for l in sys.stdin]; print(sum(s) / len(s))'
}

for seed in 0 1 2 3 4 5 6 7 8 9; do
  for mode in full race; do
    "$bin" race.simba --quiet --out "out-$mode-$seed" --set "qa.seed=$seed" --set "qa.final=$mode"
  done
  same=no
  cmp -s "out-full-$seed/program.json" "out-race-$seed/program.json" && same=yes
  echo "$seed $(final_calls "out-full-$seed") $(final_calls "out-race-$seed") $same $(dev_score "out-full-$seed") $(dev_score "out-race-$seed")"
done | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin]
print("%4s %10s %10s %7s %5s %9s %9s" % ("seed", "full calls", "race calls", "saved", "same", "full dev", "race dev"))
for seed, f, r, same, fd, rd in rows:
    print(f"{seed:>4} {f:>10} {r:>10} {1 - int(r) / int(f):>7.1%} {same:>5} {float(fd):>9.3f} {float(rd):>9.3f}")
f = sum(int(r[1]) for r in rows); r = sum(int(r[2]) for r in rows)
print()
print(f"final-selection calls: full {f}, race {r}, {1 - r / f:.1%} fewer")
same = sum(r[3] == "yes" for r in rows)
print(f"same program: {same} of {len(rows)}")
print(f"mean dev: full {statistics.mean(float(r[4]) for r in rows):.3f}, race {statistics.mean(float(r[5]) for r in rows):.3f}")
'
