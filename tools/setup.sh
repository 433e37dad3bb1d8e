#!/usr/bin/env bash
# README's first command: installs what is missing, builds hrvq, then compresses and
# decompresses a bundled photo with the bundled default model, printing the size, bits
# per pixel and PSNR.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
mkdir -p out/demo
photo=testdata/photos/bsds500-test-108004.jpg
echo
echo "== hrvq encode / decode $photo (bundled default model: models/photo.hrvqm)"
echo "   (both codecs below are measured against the same pixels: the original as decoded by libjpeg-turbo)"
build/hrvq -v encode "$photo" -o out/demo/photo.hrvq --force
build/hrvq -v decode out/demo/photo.hrvq -o out/demo/photo.png --force
echo
build/hrvq info out/demo/photo.hrvq
echo
build/hrvq eval image "$photo" out/demo/photo.png | sed 1d | awk -v b="$(stat -c %s out/demo/photo.hrvq)" \
  '{printf "hrvq:                  %d bytes, PSNR %s dB, MS-SSIM %s (decoded image: out/demo/photo.png)\n", b, $5, $6}'
tools/jpeg-same-size.sh "$photo" "$(stat -c %s out/demo/photo.hrvq)" out/demo/jpeg-same-size.jpg
# The same rate with a depth per 16-pixel tile: no larger, better, slower to encode.
build/hrvq encode --adaptive "$photo" -o out/demo/photo-adaptive.hrvq --force
build/hrvq decode out/demo/photo-adaptive.hrvq -o out/demo/photo-adaptive.png --force
build/hrvq eval image "$photo" out/demo/photo-adaptive.png | sed 1d | awk -v b="$(stat -c %s out/demo/photo-adaptive.hrvq)" \
  '{printf "hrvq --adaptive:       %d bytes, PSNR %s dB, MS-SSIM %s (out/demo/photo-adaptive.png)\n", b, $5, $6}'
echo "original: $(stat -c %s "$photo") bytes (JPEG)"
