#!/usr/bin/env bash
# Builds every tests/fuzz/*_fuzz.cpp with libFuzzer, AddressSanitizer and UBSan (clang,
# torch-free core only, in build-fuzz/) and runs each for SECONDS (default 60) on a copy
# of its seed corpus testdata/fuzz/<name without _fuzz>/. Exits non-zero if any fuzzer
# finds a crash, leak, timeout or sanitizer report; reproducers land in
# build-fuzz/artifacts/.
#
#   tools/fuzz.sh [SECONDS]
set -euo pipefail

seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -lt 1 ]]; then
  echo "usage: tools/fuzz.sh [SECONDS]" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
# fuzzer-no-link instruments the library too, so coverage guides the fuzzer into it.
sanitize="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer -g"

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHRVQ_CORE_ONLY=ON -DHRVQ_FUZZ=ON -DHRVQ_BUILD_TESTS=OFF \
  -DCMAKE_C_FLAGS="$sanitize" -DCMAKE_CXX_FLAGS="$sanitize" >/dev/null

names=()
for src in "$root"/tests/fuzz/*_fuzz.cpp; do
  [[ -e $src ]] || continue
  names+=("$(basename "$src" .cpp)")
done
if [[ ${#names[@]} -eq 0 ]]; then
  echo "fuzz.sh: no tests/fuzz/*_fuzz.cpp" >&2
  exit 1
fi
ninja -C "$build" "${names[@]}"

mkdir -p "$build/artifacts"
failed=()
for name in "${names[@]}"; do
  seeds="$root/testdata/fuzz/${name%_fuzz}"
  corpus="$build/corpus/${name%_fuzz}"
  mkdir -p "$corpus"
  # Work on a copy: libFuzzer adds every new input to the corpus it is given.
  if [[ -d $seeds ]]; then cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true; fi
  echo "== $name: ${seconds}s, corpus $corpus"
  if ! UBSAN_OPTIONS=print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
      "$build/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-" "$corpus" \
      >"$build/$name.log" 2>&1; then
    failed+=("$name")
    tail -n 40 "$build/$name.log" >&2
  else
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|cov: " "$build/$name.log" | tail -n 3
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: FAILED: ${failed[*]} (see $build/*.log, $build/artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: all ${#names[@]} fuzzers ran ${seconds}s without findings"
