#!/usr/bin/env bash
# Training speed of the cifar10 preset (batch 64, 32x32, HR-VQVAE n=3 m=8): hrvq against
# the same network run eagerly by Debian's python3-torch with the same thread count, and
# hrvq under each OpenBLAS thread setting. Prints a markdown table.
# Usage: bench/train-speed.sh [STEPS]   (run on an otherwise idle machine)
set -euo pipefail
cd "$(dirname "$0")/.."
HRVQ=${HRVQ:-build/hrvq}
STEPS=${1:-100}
THREADS=$(nproc)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# A CIFAR-10 binary batch of 2,048 random images: the speed does not depend on content.
/usr/bin/python3 -c "
import os; n=2048
with open('$TMP/data_batch_1.bin','wb') as f: f.write(os.urandom(n*3073))"
hrvq_run() {  # $1 = OpenBLAS threads, then extra train flags
  local blas=$1
  shift
  HRVQ_OPENBLAS_THREADS=$blas /usr/bin/time -f "%M" -o "$TMP/rss" "$HRVQ" -q --threads "$THREADS" train --preset cifar10 "$@" \
    --data "$TMP" --steps $((STEPS + 20)) --log-every 20 --checkpoint-every 100000 --count-images 64 \
    --device cpu -o "$TMP/m.hrvqm" --log "$TMP/log.jsonl"
  # Throughput over the steps after the first 20 (warm-up excluded).
  /usr/bin/python3 -c "
import json; rows=[json.loads(l) for l in open('$TMP/log.jsonl')][1:]
print(sum(r['images_per_s'] for r in rows)/len(rows), int(open('$TMP/rss').read())/1024)"
}
read -r ips1 rss1 < <(hrvq_run 1)
read -r ips2 rss2 < <(hrvq_run "$THREADS")
read -r ips3 rss3 < <(hrvq_run 1 --upsample transpose)
read -r ips4 rss4 < <(hrvq_run 1 --precision bf16)
py=$(OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_speed_pytorch.py "$THREADS" "$STEPS" 64)
py_bf16=$(OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_speed_pytorch.py "$THREADS" "$STEPS" 64 bf16)
py_default=$(/usr/bin/python3 bench/train_speed_pytorch.py "$THREADS" "$STEPS" 64)
echo "| run ($THREADS threads, batch 64, 32x32) | images/s | peak RSS (MiB) |"
echo "|---|---|---|"
printf "| hrvq, OpenBLAS 1 thread (default) | %.0f | %.0f |\n" "$ips1" "$rss1"
printf "| hrvq, OpenBLAS %s threads | %.0f | %.0f |\n" "$THREADS" "$ips2" "$rss2"
printf "| hrvq, OpenBLAS 1 thread, transposed-conv upsampling | %.0f | %.0f |\n" "$ips3" "$rss3"
printf "| hrvq, --precision bf16 (autocast; quantizer fp32) | %.0f | %.0f |\n" "$ips4" "$rss4"
/usr/bin/python3 -c "
import json; a=json.loads('$py'); b=json.loads('$py_default'); c=json.loads('$py_bf16')
print('| PyTorch eager, OPENBLAS_NUM_THREADS=1 | %.0f | %.0f |' % (a['images_per_s'], a['peak_rss_mib']))
print('| PyTorch eager, bf16 autocast (quantizer fp32), OPENBLAS_NUM_THREADS=1 | %.0f | %.0f |' % (c['images_per_s'], c['peak_rss_mib']))
print('| PyTorch eager, OpenBLAS default | %.0f | %.0f |' % (b['images_per_s'], b['peak_rss_mib']))"
