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
  HRVQ_OPENBLAS_THREADS=$blas HRVQ_MALLOC=${HRVQ_MALLOC:-} /usr/bin/time -f "%M" -o "$TMP/rss" "$HRVQ" -q --threads "$THREADS" train --preset cifar10 "$@" \
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
read -r ips5 rss5 < <(HRVQ_MALLOC=default hrvq_run 1)
# bf16 convolutions need AVX-512 BF16 (or AMX); elsewhere hrvq refuses --precision bf16.
bf16=$(grep -qw avx512_bf16 /proc/cpuinfo && echo 1 || echo 0)
[ "$bf16" = 1 ] && read -r ips4 rss4 < <(hrvq_run 1 --precision bf16)
GLIBC_MALLOC=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824
py=$(OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_speed_pytorch.py "$THREADS" "$STEPS" 64)
py_malloc=$(GLIBC_TUNABLES=$GLIBC_MALLOC OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_speed_pytorch.py "$THREADS" "$STEPS" 64)
py_bf16='{"images_per_s": 0, "peak_rss_mib": 0}'
[ "$bf16" = 1 ] && py_bf16=$(OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_speed_pytorch.py "$THREADS" "$STEPS" 64 bf16)
py_default=$(/usr/bin/python3 bench/train_speed_pytorch.py "$THREADS" "$STEPS" 64)
echo "| run ($THREADS threads, batch 64, 32x32) | images/s | peak RSS (MiB) |"
echo "|---|---|---|"
printf "| hrvq, OpenBLAS 1 thread (default) | %.0f | %.0f |\n" "$ips1" "$rss1"
printf "| hrvq, OpenBLAS %s threads | %.0f | %.0f |\n" "$THREADS" "$ips2" "$rss2"
printf "| hrvq, OpenBLAS 1 thread, transposed-conv upsampling | %.0f | %.0f |\n" "$ips3" "$rss3"
printf "| hrvq, glibc's default malloc (HRVQ_MALLOC=default) | %.0f | %.0f |\n" "$ips5" "$rss5"
[ "$bf16" = 1 ] && printf "| hrvq, --precision bf16 (autocast; quantizer fp32) | %.0f | %.0f |\n" "$ips4" "$rss4"
/usr/bin/python3 -c "
import json; a=json.loads('$py'); b=json.loads('$py_default'); c=json.loads('$py_bf16'); d=json.loads('$py_malloc')
print('| PyTorch eager, OPENBLAS_NUM_THREADS=1 | %.0f | %.0f |' % (a['images_per_s'], a['peak_rss_mib']))
print('| PyTorch eager, OPENBLAS_NUM_THREADS=1, hrvq\\'s malloc settings (GLIBC_TUNABLES) | %.0f | %.0f |' % (d['images_per_s'], d['peak_rss_mib']))
if c['images_per_s']:
    print('| PyTorch eager, bf16 autocast (quantizer fp32), OPENBLAS_NUM_THREADS=1 | %.0f | %.0f |' % (c['images_per_s'], c['peak_rss_mib']))
print('| PyTorch eager, OpenBLAS default | %.0f | %.0f |' % (b['images_per_s'], b['peak_rss_mib']))"
