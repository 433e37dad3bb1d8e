#!/usr/bin/env bash
# hrvq against JPEG, WebP and AVIF on the 200 BSDS500 test photos: rate, PSNR, MS-SSIM
# and speed of hrvq at every index-map prefix k = 1..n (bench/codec_bench.cpp) and of
# libjpeg-turbo cjpeg/djpeg, cwebp/dwebp and avifenc/avifdec at several settings each
# (bench/peers.py); a summary at 0.25/0.5/1/1.5 bpp and Bjøntegaard BD-rates
# (bench/codec_report.py, bench/bd_rate.py) and a two-panel plot (bench/plot_rd.py).
#
# Usage: bench/codec-bsds.sh [MODEL]      (default models/photo.hrvqm)
#
# Writes, in OUT_DIR (default docs/):
#   codec-bsds.json        everything: hrvq's codec_bench result, the peers', the curves,
#                          the summary, BD-rates and speeds
#   codec-bsds.md          the report
#   rd-bsds.png            PSNR and MS-SSIM vs bpp
#   codec-bsds-peers.json  JPEG/WebP/AVIF results with per-image values (only when they
#                          were measured, i.e. PEERS_RESULT unset): they do not depend on
#                          the model, so pass this file as PEERS_RESULT to re-run hrvq alone.
#
# Environment:
#   OUT_DIR        where the files above go (default docs; use a scratch folder for trials)
#   BUILD          build folder (default build-bench), configured here if it is not yet;
#                  BUILD_JOBS=J builds with ninja -jJ (default: ninja's own choice)
#   DATA           the bsds500 folder (default ../shared/data/bsds500)
#   LIMIT          first N test images only (0 = all 200); TRAIN_LIMIT likewise for the
#                  train+val images codec_bench's spatial-context statistics use (0 = all 300)
#   HRVQ_RESULT    reuse a codec_bench --json result (or an earlier codec-bsds.json) instead
#                  of running codec_bench
#   PEERS_RESULT   reuse an earlier codec-bsds-peers.json (or codec-bsds.json) instead of
#                  measuring JPEG/WebP/AVIF; it must cover the same images as hrvq
#   PEER_CODECS    which of them to measure (default "jpeg webp avif")
#   QUALITIES      cjpeg -quality values (default "2 3 5 10 15 20 30 40 50 60 75 90"),
#                  JPEG_FLAGS extra cjpeg flags (default -optimize)
#   WEBP_QUALITIES cwebp -q values (default "0 5 10 20 30 40 50 60 70 80 90 93"),
#                  WEBP_FLAGS (default "-m 6")
#   AVIF_QUANTIZERS avifenc --min Q --max Q values, 0..63, low = better (default
#                  "62 58 54 50 46 42 38 34 30 26 22 18 14 10 6"), AVIF_FLAGS (default
#                  "-y 420": 4:2:0 like the others; avifenc's default for PNG input is 4:4:4;
#                  otherwise avifenc's defaults: speed 6, aom, one thread)
#   SUMMARY_BPP    rates of the summary tables (default "0.25 0.5 1 1.5")
#   THREADS        LibTorch threads of codec_bench (default 0 = one per core; 1 gives steadier
#                  timings when something else is using a core)
# The defaults span about 0.05..2.5 bpp for every codec on BSDS500 test.
#
# Time, measured at LIMIT=3 on 2 cores with a training job busy on one of them: the peers
# about 4.7 s per test image with the default settings (about 16 min for all 200);
# codec_bench with THREADS=1 about 2.9 s per test image for a 16-map model of the photo
# preset's size (96 channels; it decodes every prefix: n decodes per image) plus 0.15 s
# per train+val image, about 11 min, or 0.7 s per test image (3 min) for the 4-map model.
# Full run about 30 min; with PEERS_RESULT only codec_bench's share. With THREADS=0 and
# the other core busy, LibTorch's two threads wait on each other: hrvq ran ~10x slower.
# Timings are only meaningful on an otherwise idle machine: re-run it there.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/photo.hrvqm}
# Until a trained model is copied into models/, the training output will do.
[ $# -gt 0 ] || [ -f "$MODEL" ] || [ ! -f out/photo.hrvqm ] || MODEL=out/photo.hrvqm
BUILD=${BUILD:-build-bench}
BUILD_JOBS=${BUILD_JOBS:-}
DATA=${DATA:-../shared/data/bsds500}
OUT_DIR=${OUT_DIR:-docs}
# Below 5 libjpeg-turbo needs quantizers over 255 (valid, not baseline): they reach
# down to the rate of hrvq's first maps.
QUALITIES=${QUALITIES:-"2 3 5 10 15 20 30 40 50 60 75 90"}
JPEG_FLAGS=${JPEG_FLAGS--optimize}
WEBP_QUALITIES=${WEBP_QUALITIES:-"0 5 10 20 30 40 50 60 70 80 90 93"}
WEBP_FLAGS=${WEBP_FLAGS--m 6}
AVIF_QUANTIZERS=${AVIF_QUANTIZERS:-"62 58 54 50 46 42 38 34 30 26 22 18 14 10 6"}
AVIF_FLAGS=${AVIF_FLAGS--y 420}
PEER_CODECS=${PEER_CODECS:-"jpeg webp avif"}
SUMMARY_BPP=${SUMMARY_BPP:-"0.25 0.5 1 1.5"}
LIMIT=${LIMIT:-0}
TRAIN_LIMIT=${TRAIN_LIMIT:-0}
THREADS=${THREADS:-0}
PY=/usr/bin/python3

die() { echo "codec-bsds: $*" >&2; exit 1; }
[ -n "${HRVQ_RESULT:-}" ] || [ -f "$MODEL" ] || die "$MODEL: no such model (train one with tools/train-photo-model.sh or pass a path)"
for d in test train val; do [ -d "$DATA/$d" ] || die "$DATA/$d: missing (set DATA to the bsds500 folder)"; done
$PY -c "import numpy, matplotlib" 2>/dev/null || die "$PY lacks numpy/matplotlib: run tools/install-deps.sh (python3-matplotlib)"
[ -z "${HRVQ_RESULT:-}" ] || [ -f "$HRVQ_RESULT" ] || die "HRVQ_RESULT=$HRVQ_RESULT: no such file"
[ -z "${PEERS_RESULT:-}" ] || [ -f "$PEERS_RESULT" ] || die "PEERS_RESULT=$PEERS_RESULT: no such file"

# What has to be built: codec_bench unless hrvq is reused, hrvq (for `hrvq eval image`)
# unless the peers are.
targets=()
[ -n "${HRVQ_RESULT:-}" ] || targets+=(codec_bench)
[ -n "${PEERS_RESULT:-}" ] || targets+=(hrvq)
if [ ${#targets[@]} -gt 0 ]; then
  if [ ! -f "$BUILD/build.ninja" ]; then
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHRVQ_BUILD_TESTS=OFF >/dev/null || die "cmake failed"
  fi
  ninja -C "$BUILD" ${BUILD_JOBS:+-j"$BUILD_JOBS"} "${targets[@]}" >/dev/null || die "building ${targets[*]} failed"
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT_DIR"
start=$SECONDS

if [ -n "${HRVQ_RESULT:-}" ]; then
  echo "codec-bsds: hrvq results from $HRVQ_RESULT" >&2
  $PY -c "
import json, sys
d = json.load(open(sys.argv[1]))
json.dump(d.get('hrvq', d), open(sys.argv[2], 'w'))" "$HRVQ_RESULT" "$TMP/hrvq.json" || die "$HRVQ_RESULT: unreadable"
  MODEL=$($PY -c "import json, sys; print(json.load(open(sys.argv[1]))['model'])" "$TMP/hrvq.json")
else
  echo "codec-bsds: hrvq ($MODEL)" >&2
  "$BUILD/codec_bench" -m "$MODEL" -i "$DATA/test" --train "$DATA/train" --train "$DATA/val" --limit "$LIMIT" \
    --train-limit "$TRAIN_LIMIT" --threads "$THREADS" --json "$TMP/hrvq.json" | tee "$TMP/hrvq.txt" >&2
fi
hrvq_s=$((SECONDS - start))

if [ -n "${PEERS_RESULT:-}" ]; then
  echo "codec-bsds: JPEG/WebP/AVIF results from $PEERS_RESULT" >&2
  PEERS_JSON=$PEERS_RESULT
else
  PEERS_JSON=$OUT_DIR/codec-bsds-peers.json
  echo "codec-bsds: peers ($PEER_CODECS): JPEG q $QUALITIES ('$JPEG_FLAGS'); WebP q $WEBP_QUALITIES ('$WEBP_FLAGS');" \
    "AVIF Q $AVIF_QUANTIZERS ('$AVIF_FLAGS')" >&2
  $PY bench/peers.py --images "$DATA/test" --hrvq "$BUILD/hrvq" --out "$PEERS_JSON" --limit "$LIMIT" \
    --codecs "$PEER_CODECS" --jpeg-qualities "$QUALITIES" --jpeg-flags="$JPEG_FLAGS" \
    --webp-qualities "$WEBP_QUALITIES" --webp-flags="$WEBP_FLAGS" \
    --avif-quantizers "$AVIF_QUANTIZERS" --avif-flags="$AVIF_FLAGS" || die "measuring the peers failed"
fi
peers_s=$((SECONDS - start - hrvq_s))

command="bench/codec-bsds.sh $MODEL"
[ "$LIMIT" = 0 ] || command="LIMIT=$LIMIT $command"
[ -z "${PEERS_RESULT:-}" ] || command="PEERS_RESULT=$PEERS_RESULT $command"
[ -z "${HRVQ_RESULT:-}" ] || command="HRVQ_RESULT=$HRVQ_RESULT $command"
$PY bench/codec_report.py --hrvq "$TMP/hrvq.json" --peers "$PEERS_JSON" --out-dir "$OUT_DIR" --model "$MODEL" \
  --cores "$(nproc)" --uptime "$(uptime)" --hrvq-reused "${HRVQ_RESULT:-}" --peers-reused "${PEERS_RESULT:-}" \
  --command "$command" --targets "$SUMMARY_BPP" || die "writing the report failed"
$PY bench/plot_rd.py "$OUT_DIR/codec-bsds.json" "$OUT_DIR/rd-bsds.png" || die "plotting failed"
echo "codec-bsds: wrote $OUT_DIR/codec-bsds.json, $OUT_DIR/codec-bsds.md, $OUT_DIR/rd-bsds.png" \
  "(hrvq ${hrvq_s} s, peers ${peers_s} s)" >&2
