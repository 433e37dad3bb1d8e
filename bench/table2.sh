#!/usr/bin/env bash
# The paper's Table 2 on this CPU (issue 9): seconds to reconstruct 10,000 MNIST images
# (mnist preset) and 10,000 random 32x32 RGB images (cifar10 preset) with HR-VQVAE,
# VQ-VAE and VQ-VAE-2, and the quantizer search alone (hr n=3 m=8 against flat K = 512
# and 4,096) on latents of the mnist preset's shape. build/recon_speed does the timing
# (see its header); the models are each preset's networks trained for a few steps, as
# the time does not depend on the weights.
#
# Usage: bench/table2.sh
# Environment: THREADS (default 2) torch threads; RUNS (default 5); BIN (build);
#   MNIST (../shared/data/mnist/t10k-images-idx3-ubyte.gz); OUT_DIR (docs): table2.{md,json}.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
RUNS=${RUNS:-5}
BIN=${BIN:-build}
MNIST=${MNIST:-../shared/data/mnist/t10k-images-idx3-ubyte.gz}
OUT_DIR=${OUT_DIR:-docs}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1
die() { echo "table2: $*" >&2; exit 1; }
[ -x "$BIN/recon_speed" ] && [ -x "$BIN/hrvq" ] || die "$BIN/recon_speed or $BIN/hrvq missing (set BIN)"
[ -f "$MNIST" ] || die "$MNIST: missing (set MNIST)"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT_DIR" "$TMP/rgb"
# 64 random RGB images for the cifar10 preset's short training.
$PY - "$TMP/rgb" <<'EOF'
import os, sys
import numpy as np
from PIL import Image
rng = np.random.default_rng(1)
for i in range(64):
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(os.path.join(sys.argv[1], f"{i:02d}.png"))
EOF
train() {  # preset quantizer data dataset out [flags]
  local preset=$1 q=$2 data=$3 ds=$4 out=$5
  shift 5
  "$BIN/hrvq" -q --threads "$THREADS" train --preset "$preset" --quantizer "$q" --data "$data" --dataset "$ds" \
    --steps 20 --log-every 1000 -o "$out" "$@" >/dev/null 2>"$TMP/train.err" || { cat "$TMP/train.err" >&2; die "training $out failed"; }
}
for q in hr vq vq2; do
  flags=()
  case $q in hr) flags=(-n 3 -m 8) ;; vq) flags=(-n 1 -m 512) ;; vq2) flags=(-m 512) ;; esac
  echo "table2: training the mnist and cifar10 $q models (20 steps)" >&2
  train mnist "$q" "$MNIST" mnist "$TMP/mnist-$q.hrvqm" --subset 0:256 "${flags[@]}"
  train cifar10 "$q" "$TMP/rgb" folder "$TMP/cifar-$q.hrvqm" "${flags[@]}"
done
echo "table2: MNIST" >&2
"$BIN/recon_speed" --threads "$THREADS" --runs "$RUNS" --data "$MNIST" --subset 0:10000 --json "$TMP/mnist.json" \
  --model "$TMP/mnist-hr.hrvqm" --model "$TMP/mnist-vq.hrvqm" --model "$TMP/mnist-vq2.hrvqm" > "$TMP/mnist.md"
echo "table2: random 32x32 RGB" >&2
"$BIN/recon_speed" --threads "$THREADS" --runs "$RUNS" --random 10000 --size 32 --json "$TMP/rgb.json" \
  --model "$TMP/cifar-hr.hrvqm" --model "$TMP/cifar-vq.hrvqm" --model "$TMP/cifar-vq2.hrvqm" > "$TMP/rgb.md"

$PY - "$TMP" "$OUT_DIR" "$THREADS" "$RUNS" "$(uptime)" <<'EOF'
import json, sys
tmp, out_dir, threads, runs, uptime = sys.argv[1:6]
res = {"command": "bench/table2.sh", "threads": int(threads), "runs": int(runs), "uptime_after": uptime.strip(),
       "mnist": json.load(open(f"{tmp}/mnist.json")), "random_rgb_32": json.load(open(f"{tmp}/rgb.json"))}
names = {"hr": "HR-VQVAE (n=3, m=8)", "vq": "VQ-VAE (K=512)", "vq2": "VQ-VAE-2 (K=512 top and bottom)"}
md = ["# Table 2 on this CPU: reconstruction time (issue 9)", "", "```sh", "bench/table2.sh", "```", "",
      f"{threads} torch thread(s), OPENBLAS_NUM_THREADS=1, medians (min..max) of {runs} interleaved runs, "
      f"batch 64, encode + quantize + decode under no_grad (build/recon_speed). Load after the run: `{uptime.strip()}`.", "",
      "| data | model | seconds for 10,000 images | images/s | vs HR-VQVAE |", "|---|---|---|---|---|"]
for key, label in (("mnist", "MNIST 28x28 (mnist preset)"), ("random_rgb_32", "random 32x32 RGB (cifar10 preset)")):
    rows = res[key]["reconstruct"]
    hr = rows[0]["median_s"]
    for r in rows:
        s = r["seconds"]
        md.append(f"| {label} | {names[r['quantizer']]} | {r['median_s']:.2f} ({min(s):.2f}..{max(s):.2f}) | "
                  f"{res[key]['images'] / r['median_s']:.0f} | {r['median_s'] / hr:.2f}x |")
md += ["", f"The quantizer search alone: {res['mnist']['search_positions']:,} random latents of dimension "
       f"{res['mnist']['search_dim']} (10,000 images x 49 positions), chunks of one batch, random codebooks.", "",
       "| search | seconds | vs HR |", "|---|---|---|"]
hr = res["mnist"]["search"][0]["median_s"]
for r in res["mnist"]["search"]:
    s = r["seconds"]
    md.append(f"| {r['search']} | {r['median_s']:.3f} ({min(s):.3f}..{max(s):.3f}) | {r['median_s'] / hr:.1f}x |")
open(f"{out_dir}/table2.json", "w").write(json.dumps(res, indent=1) + "\n")
open(f"{out_dir}/table2.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
