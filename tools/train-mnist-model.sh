#!/usr/bin/env bash
# Reproduces the bundled models/mnist.hrvqm: HR-VQVAE (n=3, m=8, the mnist preset) trained
# on images 0..7999 of the real MNIST test file; 8000..9999 stay held out for evaluation.
# The same run as the "hr" row of bench/mnist-baselines.sh.
# Usage: tools/train-mnist-model.sh [OUTPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
HRVQ=${HRVQ:-build/hrvq}
OUT=${1:-models/mnist.hrvqm}
"$HRVQ" train --preset mnist --data ../shared/data/mnist/t10k-images-idx3-ubyte.gz --subset 0:8000 \
  --steps 1000 --quantizer hr -n 3 -m 8 -o "$OUT"
"$HRVQ" eval recon -m "$OUT" --data ../shared/data/mnist/t10k-images-idx3-ubyte.gz --subset 8000:10000
