#!/usr/bin/env bash
# The DSPy round trip (issue 17): DSPy 3.4.1 in a venv cached outside the
# clone, then tests/dspy/decisions.py (SIMBA's decision functions: DSPy's
# answers as recorded for tests/dspy_decisions.rs) and tests/dspy/roundtrip.py
# (every example but `local` optimized on the sim model and loaded into the
# equivalent DSPy program, and DSPy-saved programs evaluated by simba-run).
# Fails when any example stops loading exactly. Call it from .ci/run.
#   SIMBA_CACHE_DIR  cache folder (default: .ci-cache beside the repository root)
# The first run installs DSPy (a few minutes); later runs reuse the venv.
# `--prepare` only installs the venv (.ci/prefetch.sh runs it in the
# background while the Rust suite builds).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
cache="${SIMBA_CACHE_DIR:-$root/.ci-cache}"
# Pinned: the round trip proves parity with this DSPy, on this numpy
# (SIMBA's percentiles are numpy's).
pins=(dspy==3.4.1 numpy==2.4.6)
venv="$cache/venv-dspy-3.4.1"

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "dspy_roundtrip.sh: numpy 2.4.6 (with DSPy 3.4.1) needs Python 3.11 or later" >&2
  exit 1
}
if ! "$venv/bin/python" -c 'import dspy, numpy; assert dspy.__version__ == "3.4.1"' 2>/dev/null; then
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
fi
[ "${1:-}" = "--prepare" ] && exit 0

# The binary as `cargo test` builds it: `cargo build` resolves features
# without the dev-dependencies and would recompile much of the tree after
# the suite (4 minutes of CI on 2 cores). A no-op when the suite ran.
cargo test --workspace --no-run --quiet
# No __pycache__ left in the clone.
export PYTHONDONTWRITEBYTECODE=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd tests/dspy
"$venv/bin/python" decisions.py
"$venv/bin/python" roundtrip.py --bin "$root/target/debug/simba-run" --work "$work"
