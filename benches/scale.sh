#!/usr/bin/env bash
# Scale bench: a generated 10,000-example dataset and a SIMBA run on the sim
# model with the release binary, for several step counts (default 10 25 50),
# printing peak RSS (from /usr/bin/time -v) and wall time per step (from
# run.json). Peak RSS that grows with the step count means something is kept
# per step; the target is under 150 MB at 50 steps.
#
#   benches/scale.sh              # 10, 25 and 50 steps
#   benches/scale.sh 50           # one run
#   ROWS=20000 benches/scale.sh 50
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(10 25 50)
rows=${ROWS:-10000}
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release --quiet --bin simba-run)
bin=$target/release/simba-run
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$root/benches/scale/gen_data.py" "$work/data" "$rows"
cp "$root/benches/scale/scale.simba" "$work/scale.simba"
printf '%-6s %-8s %-12s %-10s %-12s %-10s\n' steps rows peak_rss_mb wall_s s_per_step final_s
for n in "${steps[@]}"; do
    rm -rf "$work/out"
    /usr/bin/time -v "$bin" "$work/scale.simba" --quiet --no-cache --set "qa.max_steps=$n" \
        2>"$work/time.txt" >/dev/null || { cat "$work/time.txt" >&2; exit 1; }
    rss_kb=$(grep 'Maximum resident set size' "$work/time.txt" | grep -Eo '[0-9]+$')
    python3 - "$work/out/qa/run.json" "$n" "$rows" "$rss_kb" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
steps = run["step_durations_ms"]
per_step = sum(steps) / len(steps) / 1000 if steps else 0.0
print(f"{sys.argv[2]:<6} {sys.argv[3]:<8} {int(sys.argv[4]) / 1024:<12.1f} "
      f"{run['duration_ms'] / 1000:<10.2f} {per_step:<12.3f} {run['final_eval_ms'] / 1000:<10.2f}")
PY
done
