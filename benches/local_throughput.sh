#!/usr/bin/env bash
# Figures for provider = "local" with SmolLM2-135M (fetched into the CI cache if
# missing): load time, requests/second one at a time vs 8 in flight, the gain of
# prompt-prefix reuse, and the dev-set parse rate with and without the grammar.
#   SIMBA_TEST_GGUF      use this GGUF instead of SmolLM2
#   SIMBA_BENCH_THREADS  llama.cpp threads (default 2)
# Uses the dev profile: llama.cpp itself is always compiled optimised (see the
# profile override in Cargo.toml), and this avoids a second 7-minute build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SIMBA_TEST_GGUF:-}" ]; then
  SIMBA_TEST_GGUF="$(.ci/fetch-smollm2.sh)"
  export SIMBA_TEST_GGUF
fi
cargo bench --profile dev --features local --bench local_throughput "$@"
