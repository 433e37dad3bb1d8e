#!/usr/bin/env bash
# Reproduces the bundled models/mnist.hrvqm: HR-VQVAE (n=3, m=8, the mnist preset) trained
# 20,000 steps with the cosine learning-rate schedule (1e-3 down to 1e-5), seed 1, one
# compute thread, on images 0..7999 of the real MNIST test file; 8000..9999 stay held out.
# The same training as the "hr-20000-s1" run of bench/mnist-study.sh (which trains it in
# resumed segments to evaluate its checkpoints; resuming is exact). About 24 min here.
# Usage: tools/train-mnist-model.sh [OUTPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
HRVQ=${HRVQ:-build/hrvq}
OUT=${1:-models/mnist.hrvqm}
DATA=../shared/data/mnist/t10k-images-idx3-ubyte.gz
# One thread: the result is bit-identical run to run; thread count changes the
# floating-point reduction order. bench/mnist-study.sh's hr-20000-s1 rerun (in resumed
# segments) gave byte-identical weights, code counts and held-out MSE; its file differs
# only in the recorded checkpoint interval (the preset's 1000), hence its fingerprint.
"$HRVQ" --threads 1 train --preset mnist --data "$DATA" --subset 0:8000 \
  --steps 20000 --quantizer hr -n 3 -m 8 --lr-schedule cosine --seed 1 --log-every 500 --checkpoint-every 2000 -o "$OUT"
"$HRVQ" info "$OUT" --size 28x28      # fingerprint cccf50cb3385c3a3 for the bundled model
"$HRVQ" --threads 1 eval recon -m "$OUT" --data "$DATA" --subset 8000:10000 --bits
