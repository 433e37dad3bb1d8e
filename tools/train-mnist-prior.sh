#!/usr/bin/env bash
# Reproduces models/mnist-prior.hrvqm, the code prior of models/mnist.hrvqm: trained on the
# codes of MNIST t10k images 0:8000, measured on 8000:10000 (held-out bits per code and
# per image, against the model's count-based entropy model), then 64 samples drawn into
# docs/mnist-samples.png.
# Usage: tools/train-mnist-prior.sh [extra hrvq train-prior flags...]
#   HRVQ (default build/hrvq), MODEL, OUT, WORK (checkpoint, log and the held-out NLL as
#   mnist-prior.eval.json, which README's NLL table is read from; default /tmp/hrvq-mnist-prior)
set -euo pipefail
cd "$(dirname "$0")/.."
HRVQ=${HRVQ:-build/hrvq}
MODEL=${MODEL:-models/mnist.hrvqm}
OUT=${OUT:-models/mnist-prior.hrvqm}
WORK=${WORK:-/tmp/hrvq-mnist-prior}
DATA=../shared/data/mnist/t10k-images-idx3-ubyte.gz
mkdir -p "$WORK" docs
# One compute thread: convolutions over 7x7 maps are too small to split, and on a busy
# machine a second thread mostly waits (6x slower training, 25x slower sampling here).
# 32-wide stacks, 6 gated layers per code layer (enough to see all of a 7x7 grid's past):
# about 0.55 M parameters, 2.2 MB.
"$HRVQ" --threads 1 train-prior -m "$MODEL" --data "$DATA" --subset 0:8000 --holdout 8000:10000 -o "$OUT" \
  --channels 32 --layers 6 --embed 16 --cond-channels 32 --cond-blocks 2 \
  --steps 3000 --batch 64 --lr 1e-3 --seed 1 --checkpoint-every 1000 --log-every 50 \
  --checkpoint "$WORK/mnist-prior.ckpt" --log "$WORK/mnist-prior.log.jsonl" "$@"
"$HRVQ" --threads 1 train-prior -m "$MODEL" --data "$DATA" --holdout 8000:10000 -o "$OUT" --eval-only --json \
  | tee "$WORK/mnist-prior.eval.json"
"$HRVQ" --threads 1 sample -m "$MODEL" --prior "$OUT" -n 64 --seed 1 -o docs/mnist-samples.png
