#!/usr/bin/env bash
# Issue 9's MNIST study: HR-VQVAE against VQ-VAE, VQ-VAE-2 and flat residual VQ with the
# same encoder/decoder (the mnist preset), trained on images 0..7999 of the real MNIST test
# file with the cosine learning-rate schedule, and measured on the held-out 8000..9999.
#
# Every run is trained in resumed segments of a tenth of its steps (resuming is exact), and
# the checkpoint at the end of each segment is evaluated on the held-out images: that is the
# held-out MSE curve of the plot. A run whose eval.json exists is skipped, a run interrupted
# mid-way continues from its last checkpoint, so the script can be stopped and rerun at will.
#
# Usage: bench/mnist-study.sh [STAGE|RUN ...]        (default: every stage, then report)
#   stages: main      hr, vq, vq2, rvq at 20,000 steps, seed 1 (the four-way table)
#           converge  the same four at 10,000 steps (does doubling the steps change MSE < 2%?)
#           budget    hr 8^5 (735 raw bits, VQ-VAE-2's budget is 720) and VQ-VAE-2 with K=45
#                     (439 raw bits, HR 8^3's is 441), 20,000 steps
#           seeds     hr, vq and vq2 with seeds 2 and 3, 20,000 steps (VQ-VAE is the best
#                     baseline at equal bits, VQ-VAE-2 the lowest MSE at 1.6x the bits)
#           growth    the codebook-growth runs: vq K=4096, hr 16^3, 20,000 steps
#           long      hr at 40,000 steps (the convergence check one doubling further)
#           report    docs/mnist-study.md, docs/mnist-study.json, docs/mnist-heldout.png
#   a RUN is QUANT-STEPS-sSEED, e.g. vq2-20000-s1 (QUANT: a key of FLAGS below)
# Env: HRVQ (default build/hrvq), OUT (default out/mnist9), DATA, DOCS (default docs).
# Runs are one at a time, one compute thread, niced, as on the shared development machine.
set -euo pipefail
cd "$(dirname "$0")/.."
HRVQ=${HRVQ:-build/hrvq}
DATA=${DATA:-../shared/data/mnist/t10k-images-idx3-ubyte.gz}
OUT=${OUT:-out/mnist9}
DOCS=${DOCS:-docs}
RUN=(env OMP_WAIT_POLICY=PASSIVE nice -n 10 "$HRVQ" --threads 1)
# vq is given -n 1 so the model file records one layer; hrvq now builds VQ-VAE as one
# codebook whatever -n says (before commit "model: VQ-VAE and each VQ-VAE-2 level are one
# codebook", the preset's n=3 gave 3 residual layers and crashed at encoding).
declare -A FLAGS=(
  [hr]="--quantizer hr -n 3 -m 8"
  [rvq]="--quantizer rvq -n 3 -m 8"
  [vq]="--quantizer vq -n 1 -m 512"
  [vq2]="--quantizer vq2 -m 512"
  [hr5]="--quantizer hr -n 5 -m 8"
  [hr16]="--quantizer hr -n 3 -m 16"
  [vq4096]="--quantizer vq -n 1 -m 4096"
  [vq2k45]="--quantizer vq2 -m 45"
)

ckpt_step() {  # the step a checkpoint is at (0 when there is none)
  if [[ -f $1 ]]; then "$HRVQ" info "$1" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["train_steps"])'
  else echo 0; fi
}

train_run() {  # QUANT-STEPS-sSEED
  local id=$1 q steps seed
  IFS=- read -r q steps seed <<< "$id"; seed=${seed#s}
  [[ -n ${FLAGS[$q]:-} && $steps =~ ^[0-9]+$ && $seed =~ ^[0-9]+$ ]] || { echo "unknown run '$id'" >&2; exit 2; }
  local dir=$OUT/$id
  local model=$dir/model.hrvqm ckpt=$dir/model.hrvqm.ckpt
  if [[ -f $dir/eval.json ]]; then echo "== $id: done, skipped"; return; fi
  mkdir -p "$dir"
  # shellcheck disable=SC2206
  local cmd=(train --preset mnist --data "$DATA" --subset 0:8000 --steps "$steps" ${FLAGS[$q]}
             --lr-schedule cosine --seed "$seed" --log-every 500 -o "$model")
  echo "${cmd[*]}" > "$dir/command.txt"
  local seg=$((steps / 10)) s
  for ((s = seg; s <= steps; s += seg)); do
    local at resume=() stop=() t0 t1
    [[ $s -lt $steps && -f $dir/heldout-$s.json ]] && continue
    at=$(ckpt_step "$ckpt")
    [[ $s -lt $steps && $at -gt $s ]] && continue  # past this point already: its eval is lost
    [[ $at -gt 0 ]] && resume=(--resume)
    [[ $s -lt $steps ]] && stop=(--stop-after "$s")
    if [[ $at -eq $s && ( $s -lt $steps || -f $model ) ]]; then :  # trained to s; only the eval is missing
    else
      echo "== $id: training to step $s (from $at) $(date -u +%H:%M:%S)"
      t0=$(date +%s.%N)
      # A run stopped by --stop-after exits with 130, as on Ctrl-C.
      local rc=0
      "${RUN[@]}" "${cmd[@]}" "${resume[@]}" "${stop[@]}" 2>> "$dir/train.log" || rc=$?
      [[ $rc -eq 0 || ( $rc -eq 130 && $s -lt $steps ) ]] || { echo "$id: hrvq train failed ($rc)" >&2; exit 1; }
      t1=$(date +%s.%N)
      echo "$at $s $(/usr/bin/python3 -c "print(round($t1 - $t0, 2))")" >> "$dir/train_seconds.txt"
    fi
    if [[ $s -lt $steps ]]; then
      "${RUN[@]}" -q eval recon -m "$ckpt" --data "$DATA" --subset 8000:10000 --json > "$dir/heldout-$s.json.tmp"
      mv "$dir/heldout-$s.json.tmp" "$dir/heldout-$s.json"
    fi
  done
  "$HRVQ" info "$model" --size 28x28 --json > "$dir/info.json"
  # Entropy-coded bits with the static per-parent rANS coder, which takes any codebook
  # size; rans-ctx (the codec's default) takes at most 256 codes per codebook, so K=512
  # rows have no rans-ctx figure.
  if [[ ! -f $dir/eval-ctx.json ]]; then
    "${RUN[@]}" -q eval recon -m "$model" --data "$DATA" --subset 8000:10000 --json --bits > "$dir/eval-ctx.json.tmp" \
      && mv "$dir/eval-ctx.json.tmp" "$dir/eval-ctx.json" || rm -f "$dir/eval-ctx.json.tmp"
  fi
  "${RUN[@]}" -q eval recon -m "$model" --data "$DATA" --subset 8000:10000 --json --bits --coder rans > "$dir/eval.json.tmp"
  mv "$dir/eval.json.tmp" "$dir/eval.json"
  echo "== $id: $(cat "$dir/eval.json")"
}

report() {
  /usr/bin/python3 bench/mnist_study_report.py "$OUT" "$DOCS"
}

stage() {
  case $1 in
    main) for r in hr vq vq2 rvq; do train_run "$r-20000-s1"; done ;;
    converge) for r in hr vq vq2 rvq; do train_run "$r-10000-s1"; done ;;
    budget) train_run hr5-20000-s1; train_run vq2k45-20000-s1 ;;
    seeds) for s in 2 3; do for q in hr vq vq2; do train_run "$q-20000-s$s"; done; done ;;
    growth) train_run vq4096-20000-s1; train_run hr16-20000-s1 ;;
    long) train_run hr-40000-s1 ;;
    report) report ;;
    *) train_run "$1" ;;
  esac
}

if [[ $# -eq 0 ]]; then set -- main converge budget seeds growth long report; fi
for a in "$@"; do stage "$a"; done
