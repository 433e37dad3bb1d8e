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
build/hrvq -v encode "$photo" -o out/demo/photo.hrvq --force
build/hrvq -v decode out/demo/photo.hrvq -o out/demo/photo.png --force
echo
build/hrvq info out/demo/photo.hrvq
echo
echo "original $(stat -c %s "$photo") bytes (JPEG); decoded image: out/demo/photo.png"
