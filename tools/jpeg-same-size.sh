#!/usr/bin/env bash
# JPEG at the size of another file: the highest libjpeg-turbo quality (cjpeg -optimize,
# 4:2:0) whose file is no larger than BYTES, and its PSNR and MS-SSIM against the
# original as hrvq measures them (`hrvq eval image`).
# Usage: tools/jpeg-same-size.sh ORIGINAL BYTES OUT.jpg   (prints one line)
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: tools/jpeg-same-size.sh ORIGINAL BYTES OUT.jpg" >&2; exit 2; }
orig=$1 budget=$2 out=$3
[[ $budget =~ ^[0-9]+$ ]] || { echo "jpeg-same-size: BYTES must be a number of bytes, not '$budget'" >&2; exit 2; }
HRVQ=${HRVQ:-build/hrvq}
command -v cjpeg >/dev/null && command -v djpeg >/dev/null || { echo "jpeg-same-size: cjpeg/djpeg missing (libjpeg-turbo-progs)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# cjpeg reads PPM; djpeg gives the original's pixels exactly as hrvq's JPEG reader does.
if [[ "$orig" =~ \.(jpe?g|JPE?G)$ ]]; then djpeg -ppm "$orig" >"$tmp/orig.ppm"; else
  echo "jpeg-same-size: $orig: give a JPEG original" >&2; exit 1; fi
lo=1 hi=100 best=0
while [ $lo -le $hi ]; do  # file size grows with the quality: bisect for the largest that fits
  q=$(( (lo + hi) / 2 ))
  cjpeg -optimize -quality $q "$tmp/orig.ppm" >"$tmp/q.jpg" 2>/dev/null  # below q 25: "too coarse for baseline"
  if [ "$(stat -c %s "$tmp/q.jpg")" -le "$budget" ]; then best=$q; cp "$tmp/q.jpg" "$tmp/best.jpg"; lo=$((q + 1)); else hi=$((q - 1)); fi
done
if [ $best -eq 0 ]; then echo "JPEG cannot be made as small as $budget bytes (quality 1 is larger)"; exit 0; fi
mv "$tmp/best.jpg" "$out"
"$HRVQ" eval image "$orig" "$out" --json | python3 -c "
import json, sys
r = json.load(sys.stdin)['images'][0]
print(f\"JPEG at the same size: cjpeg -optimize -quality $best, {r['bytes']} bytes, {r['bpp']:.4f} bpp, PSNR {r['psnr']:.2f} dB, MS-SSIM {r['ms_ssim']:.4f} ($out)\")"
