#!/usr/bin/env bash
# PNG writing: size and speed at each zlib level and row-filter set against libpng's
# defaults, on what hrvq writes: the first N BSDS500 test photos decoded by the bundled
# model at the default quality. Prints the table of build/png_write_bench and writes
# OUT/png-write.json. It chose hrvq's default PNG level (include/hrvq/image.hpp).
# Usage: bench/png-write.sh [OUT]   (env: HRVQ, BENCH, N=24, REPS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
HRVQ=${HRVQ:-build/hrvq}
BENCH=${BENCH:-build/png_write_bench}
OUT=${1:-out/png-write}
N=${N:-24}
mkdir -p "$OUT/decoded"
for f in $(ls ../shared/data/bsds500/test/*.jpg | head -n "$N"); do
  b=$(basename "$f" .jpg)
  [ -s "$OUT/decoded/$b.png" ] && continue
  "$HRVQ" -q encode "$f" -o "$OUT/$b.hrvq" --force
  "$HRVQ" -q decode "$OUT/$b.hrvq" -o "$OUT/decoded/$b.png" --force --png-level 9
  rm -f "$OUT/$b.hrvq"
done
"$BENCH" "$OUT/decoded" "${REPS:-3}"
"$BENCH" "$OUT/decoded" "${REPS:-3}" --json > "$OUT/png-write.json"
