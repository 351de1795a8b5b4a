#!/usr/bin/env bash
# The same GGUF file, the same prompts (our adapter), greedy decoding: the
# baseline's dev accuracy in-process (provider = "local") and through
# llama-cpp-python's OpenAI-compatible server (provider = "openai"), on
# examples/local (topic, 30 dev rows) and benches/local_vs_server (sentiment,
# 48 dev rows). Prints one line per task and path: accuracy, parsed replies,
# LM calls (above the row count: JSON-mode retries). A bench step, never CI.
#
#   SIMBA_GGUF      the model (default: .ci/fetch-smollm2.sh's SmolLM2-135M Q4_1)
#   SIMBA_BIN       a simba-run built with --features local (default target/release/simba-run)
#   LLAMAPY         a venv with llama-cpp-python[server]; built there when missing
#                   (compiles llama.cpp: 15-90 minutes on 2 busy cores)
#   PORT            the server's port (default 8089)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
gguf="${SIMBA_GGUF:-$("$root/.ci/fetch-smollm2.sh")}"
bin="${SIMBA_BIN:-$root/target/release/simba-run}"
venv="${LLAMAPY:-/tmp/llamapy}"
port="${PORT:-8089}"
export SIMBA_GGUF="$gguf" SIMBA_SERVER_URL="http://127.0.0.1:$port/v1"

if [ ! -x "$bin" ]; then
  echo "local_vs_server.sh: build first: cargo build --release --features local" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
  python3 -m venv "$venv"
  nice -n 10 "$venv/bin/pip" install --quiet 'llama-cpp-python[server]'
fi

log="$(mktemp)"
"$venv/bin/python" -m llama_cpp.server --model "$gguf" --model_alias smol \
  --n_ctx 2048 --n_threads 2 --port "$port" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null && break
  sleep 1
done

# eval --json: one line per row on stdout, the summary (with LM calls) on stderr.
# Extra arguments go to eval (e.g. --program FILE).
score() {
  local spec="$1" out err
  shift
  out="$(mktemp)"; err="$(mktemp)"
  "$bin" eval "$spec" --split dev --json --no-cache "$@" >"$out" 2>"$err" || true
  python3 - "$out" "$err" <<'PY'
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
calls = re.search(r"LM: (\d+) calls", open(sys.argv[2]).read())
n = len(rows)
acc = sum(r["score"] for r in rows) / n if n else 0.0
parsed = sum(r["error"] is None for r in rows)
print(f"accuracy {acc:.3f}  parsed {parsed}/{n}  LM calls {calls.group(1) if calls else '?'}")
PY
  rm -f "$out" "$err"
}

echo "model: $gguf"
printf '%-10s %-12s %s\n' task path result
printf '%-10s %-12s %s\n' topic in-process "$(score "$root/examples/local/local.simba")"
printf '%-10s %-12s %s\n' topic server "$(score "$root/benches/local_vs_server/topic.server.simba")"
# A program the model does answer with: two demos (a food and a travel
# review from the trainset), the same file on both paths.
demos="$root/benches/local_vs_server/topic-2demos.program.json"
printf '%-10s %-12s %s\n' topic+demos in-process "$(score "$root/examples/local/local.simba" --program "$demos")"
printf '%-10s %-12s %s\n' topic+demos server "$(score "$root/benches/local_vs_server/topic.server.simba" --program "$demos")"
printf '%-10s %-12s %s\n' topic+demos server,rp=1 "$(score "$root/benches/local_vs_server/topic.server.norepeat.simba" --program "$demos")"
printf '%-10s %-12s %s\n' sentiment in-process "$(score "$root/benches/local_vs_server/sentiment.simba")"
printf '%-10s %-12s %s\n' sentiment server "$(score "$root/benches/local_vs_server/sentiment.server.simba")"
