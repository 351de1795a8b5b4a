#!/usr/bin/env bash
# Downloads and installs what the later CI suites need (the DSPy venv, cmake
# and libclang, the SmolLM2 GGUF) while the default Rust suite builds: they
# are network- and disk-bound, the build is CPU-bound (so nothing is compiled here), so overlapping them
# takes minutes off CI. Each suite script still checks and installs on its
# own, so a failure here only costs that time later; it is not fatal.
#   SIMBA_CACHE_DIR  cache folder shared with the suite scripts
cd "$(dirname "$0")/.."
status=0
bash .ci/dspy_roundtrip.sh --prepare || status=1
if ! command -v cmake >/dev/null || ! ldconfig -p 2>/dev/null | grep -q libclang; then
  if command -v apt-get >/dev/null; then
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    { $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq cmake libclang-dev; } || status=1
  fi
fi
.ci/fetch-smollm2.sh >/dev/null || status=1
exit $status
