#!/usr/bin/env bash
# hrvq encode --adaptive (a depth per 16-pixel tile) against one depth per image and
# against JPEG, WebP and AVIF on the 200 BSDS500 test photos: docs/adaptive-bsds.md,
# docs/adaptive-bsds.json, docs/rd-adaptive.png.
#
# Usage: bench/adaptive-bsds.sh [MODEL]        (default models/photo.hrvqm)
# Env:   IMAGES (default ../shared/data/bsds500/test), LIMIT (0 = all), QUALITY (the -q
#        list, default 7,13,20,33,53,67: 2, 3, 4, 6, 9 and 11 of the bundled model's 16
#        maps, 0.24 to 1.65 bpp), TILE (4), DECODES (--adaptive-decodes, default the
#        encoder's: 0), SSIM_WEIGHT (--adaptive-tune ssim is 0.5; default 0, psnr),
#        THREADS (torch threads, default 1),
#        PEERS (bench/peers.py result for the same images, default
#        docs/codec-bsds-peers.json), UNIFORM (hrvq's full one-depth curve, default
#        docs/codec-bsds.json; empty: the one-depth rows of this run), BENCH_RESULT (reuse
#        an adaptive_bench JSON instead of running it), OUT (docs).
# One thread, the 200 photos at 6 settings: about 30 minutes here with DECODES=0 (each
# setting encodes and decodes every photo twice), about 75 with DECODES=9 (the adaptive
# encode decoding it at up to 9 depths).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/photo.hrvqm}
IMAGES=${IMAGES:-../shared/data/bsds500/test}
QUALITY=${QUALITY:-7,13,20,33,53,67}
TILE=${TILE:-4}
decodes=()
[[ -n ${DECODES:-} ]] && decodes=(--decodes "$DECODES")
[[ -n ${SSIM_WEIGHT:-} ]] && decodes+=(--ssim-weight "$SSIM_WEIGHT")
THREADS=${THREADS:-1}
PEERS=${PEERS:-docs/codec-bsds-peers.json}
UNIFORM=${UNIFORM-docs/codec-bsds.json}
OUT=${OUT:-docs}
PY=/usr/bin/python3
limit=()
[[ ${LIMIT:-0} -gt 0 ]] && limit=(--limit "$LIMIT")
if [[ -z ${BENCH_RESULT:-} ]]; then
  [[ -x build/adaptive_bench ]] || bash tools/build.sh >/dev/null
  ninja -C build adaptive_bench >/dev/null
  BENCH_RESULT=$(mktemp --suffix=.json)
  OMP_WAIT_POLICY=PASSIVE build/adaptive_bench -m "$MODEL" -i "$IMAGES" "${limit[@]}" --threads "$THREADS" \
    --quality "$QUALITY" --tile "$TILE" "${decodes[@]}" --json "$BENCH_RESULT" >&2
fi
uniform=()
[[ -n $UNIFORM ]] && uniform=(--uniform "$UNIFORM")
$PY bench/adaptive_report.py --bench "$BENCH_RESULT" --peers "$PEERS" "${uniform[@]}" --out-dir "$OUT" \
  --command "bench/adaptive-bsds.sh $*"
echo "adaptive-bsds: $OUT/adaptive-bsds.md, $OUT/adaptive-bsds.json, $OUT/rd-adaptive.png" >&2
