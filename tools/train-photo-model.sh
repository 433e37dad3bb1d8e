#!/usr/bin/env bash
# Reproduces the bundled default model models/photo.hrvqm: the photo preset trained on
# BSDS500 train+val (300 photographs, random 64x64 crops, flips, prefix dropout; never the
# test split). The preset holds the whole recipe (src/config.cpp); a run can be split
# across sessions with --resume, which continues exactly.
# Usage: tools/train-photo-model.sh [OUTPUT] [extra hrvq train flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
HRVQ=${HRVQ:-build/hrvq}
OUT=${1:-models/photo.hrvqm}
shift || true
DATA=$(mktemp -d)
trap 'rm -rf "$DATA"' EXIT
# train/ and val/ as one folder of links, so --data sees the 300 images in a fixed order.
for split in train val; do
  for f in ../shared/data/bsds500/$split/*.jpg; do ln -s "$(realpath "$f")" "$DATA/${split}_$(basename "$f")"; done
done
# One compute thread, as the bundled model was trained: the result then does not depend
# on the machine's core count, and the other core stays free.
"$HRVQ" --threads 1 train --preset photo --data "$DATA" --dataset folder --loader-threads 1 -o "$OUT" "$@"
