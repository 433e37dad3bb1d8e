#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every unit and CLI test
# (ctest), after each libFuzzer target has run for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
tools/fuzz.sh "${HRVQ_FUZZ_SECONDS:-30}"
(cd build && ctest -j"$(nproc)" --output-on-failure --timeout 600)
