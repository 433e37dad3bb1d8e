#!/usr/bin/env bash
# Trains HR-VQVAE and the three baselines with the same encoder/decoder, latent grid and
# steps on real MNIST (images 0..7999 of the official test file), evaluates each on the
# held-out images 8000..9999, and prints a markdown table: the quick 1,000-step snapshot
# (about 4 min here, constant learning rate), where nothing has converged. README's
# converged comparison, with bits per image, the held-out curves and the convergence
# check, is bench/mnist-study.sh. Usage: bench/mnist-baselines.sh [STEPS] [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
HRVQ=${HRVQ:-build/hrvq}
DATA=${DATA:-../shared/data/mnist/t10k-images-idx3-ubyte.gz}
STEPS=${1:-1000}
OUT=${2:-out/mnist}
mkdir -p "$OUT"
declare -A FLAGS=(
  [hr]="--quantizer hr -n 3 -m 8"
  [rvq]="--quantizer rvq -n 3 -m 8"
  [vq]="--quantizer vq -n 1 -m 512"   # -n 1: the model file then records VQ-VAE's one layer
  [vq2]="--quantizer vq2 -m 512"
)
for q in ${MODELS:-hr vq vq2 rvq}; do
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$HRVQ" -q train --preset mnist --data "$DATA" --subset 0:8000 --steps "$STEPS" ${FLAGS[$q]} -o "$OUT/$q.hrvqm"
  end=$(date +%s)
  echo "$((end - start))" > "$OUT/$q.train_seconds"
  "$HRVQ" -q eval recon -m "$OUT/$q.hrvqm" --data "$DATA" --subset 8000:10000 --json > "$OUT/$q.eval.json"
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
print("| model | quantizer | held-out MSE | PSNR (dB) | MSE by layers | codes used (per layer) | perplexity | train time |")
print("|---|---|---|---|---|---|---|---|")
names = {"hr": "HR-VQVAE (n=3, m=8)", "vq": "VQ-VAE (K=512)", "vq2": "VQ-VAE-2 (K=512 top+bottom)", "rvq": "flat residual VQ (3x8)"}
for q in ["hr", "vq", "vq2", "rvq"]:
    p = os.path.join(out, q + ".eval.json")
    if not os.path.exists(p):
        continue
    r = json.load(open(p))
    secs = int(open(os.path.join(out, q + ".train_seconds")).read())
    used = ", ".join(f"{u}/{c}" for u, c in zip(r["codes_used"], r["codes"]))
    ppl = ", ".join(f"{x:.1f}" for x in r["perplexity"])
    mbl = ", ".join(f"{x:.5f}" for x in r["mse_by_layers"])
    print(f"| {names[q]} | {q} | {r['mse']:.5f} | {r['psnr']:.2f} | {mbl} | {used} | {ppl} | {secs//60}m{secs%60:02d}s |")
PY
