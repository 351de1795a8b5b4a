#!/usr/bin/env bash
# CI for the `local` feature (provider = "local", in-process llama.cpp):
# system packages, the cached SmolLM2 GGUF, a build with --features local, and
# the tests that run the real model. Call it from .ci/run after the default tests.
# The llama.cpp build takes ~7 minutes on 2 cores; its target folder is cached (below).
set -euo pipefail
cd "$(dirname "$0")/.."

# cmake builds the vendored llama.cpp; libclang generates the bindings.
if ! command -v cmake >/dev/null || ! ldconfig -p 2>/dev/null | grep -q libclang; then
  if command -v apt-get >/dev/null; then
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq cmake libclang-dev
  else
    echo "local.sh: install cmake and libclang (clang) first" >&2
    exit 1
  fi
fi

SIMBA_TEST_GGUF="$(.ci/fetch-smollm2.sh)"
# The feature build (llama.cpp through cmake, ~7 minutes on 2 cores) goes to a
# target folder beside the other CI caches: the next CI run on this machine
# recompiles only what changed. A clean machine builds it all, as before.
[ -n "${SIMBA_CACHE_DIR:-}" ] && export CARGO_TARGET_DIR="$SIMBA_CACHE_DIR/target-local"
export SIMBA_TEST_GGUF
echo "local.sh: model $SIMBA_TEST_GGUF"

# The local:: unit tests (settings, grammar, seeds) are not feature-gated and
# run in the default suite. `cargo test` builds the binary the tests run with
# the feature; a separate `cargo build` would resolve features differently and
# compile the tree a second time.
# The real-model tests; --test-threads=1 keeps the burst test's timing honest on 2 cores.
cargo test --features local --test local_model -- --test-threads=1
