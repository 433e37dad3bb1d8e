#!/usr/bin/env bash
# Issue 10's end-to-end batch: `hrvq encode -d` and `hrvq decode -d` over a folder of
# photos, files to files, one command each (the model loaded once), against
# libjpeg-turbo's cjpeg/djpeg run once per file in a shell loop and under `xargs -P 2`.
# hrvq runs as a user runs it (no -j: on a CPU, one job per core, each with one torch
# thread), with -j 1 (one image at a time, torch's convolutions on every core), and as
# the default with --precision bf16.
#
# Usage: bench/batch-speed.sh [N]      (the first N BSDS500 test photos by name; default 200)
# Environment: ROUNDS (default 3) interleaved rounds; HRVQ (default build/hrvq); MODEL
#   (default the bundled model); QUALITY (default 40: hrvq's default -q; cjpeg gets
#   -quality 40 -optimize, which lands near the same bits per pixel on these photos);
#   DATA (../shared/data/bsds500); OUT_DIR (docs): batch-speed.{md,json}.
#
# Inputs: hrvq reads PNG (zlib level 1) and writes PNG at its default --png-level; cjpeg
# reads binary PPM and djpeg writes it (libjpeg-turbo reads and writes no PNG). So each
# side reads and writes the uncompressed-ish format its tools take; the file work is a
# small part of hrvq's time and most of cjpeg's.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
ROUNDS=${ROUNDS:-3}
HRVQ=${HRVQ:-build/hrvq}
MODEL=${MODEL:-models/photo.hrvqm}
QUALITY=${QUALITY:-40}
DATA=${DATA:-../shared/data/bsds500}
OUT_DIR=${OUT_DIR:-docs}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1
die() { echo "batch-speed: $*" >&2; exit 1; }
[ -x "$HRVQ" ] || die "$HRVQ missing (set HRVQ)"
[ -d "$DATA/test" ] || die "$DATA/test: missing (set DATA)"
command -v cjpeg >/dev/null && command -v djpeg >/dev/null || die "cjpeg/djpeg missing (apt-get install libjpeg-turbo-progs)"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT_DIR" "$TMP/png" "$TMP/ppm"
ls "$DATA"/test/*.jpg | sort | head -n "$N" > "$TMP/list"
while read -r f; do
  stem=$(basename "$f" .jpg)
  djpeg -rgb -outfile "$TMP/ppm/$stem.ppm" "$f"
done < "$TMP/list"
$PY - "$TMP/ppm" "$TMP/png" <<'EOF'
import glob, os, sys
from PIL import Image
for p in sorted(glob.glob(os.path.join(sys.argv[1], "*.ppm"))):
    Image.open(p).save(os.path.join(sys.argv[2], os.path.basename(p)[:-4] + ".png"), compress_level=1)
EOF
pixels=$($PY -c "
import glob, sys
from PIL import Image
print(sum(Image.open(p).size[0] * Image.open(p).size[1] for p in glob.glob('$TMP/png/*.png')))")

# Seconds of wall time for one command.
timed() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; die "failed: $*"; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
enc_loop() { for f in "$TMP"/ppm/*.ppm; do cjpeg -quality "$QUALITY" -optimize -outfile "$TMP/jpg/$(basename "$f" .ppm).jpg" "$f"; done; }
dec_loop() { for f in "$TMP"/jpg/*.jpg; do djpeg -outfile "$TMP/ppm-out/$(basename "$f" .jpg).ppm" "$f"; done; }
enc_xargs() { ls "$TMP"/ppm/*.ppm | xargs -P 2 -I{} sh -c 'cjpeg -quality "$1" -optimize -outfile "$2/$(basename "$3" .ppm).jpg" "$3"' _ "$QUALITY" "$TMP/jpg" {}; }
dec_xargs() { ls "$TMP"/jpg/*.jpg | xargs -P 2 -I{} sh -c 'djpeg -outfile "$2/$(basename "$3" .jpg).ppm" "$3"' _ _ "$TMP/ppm-out" {}; }
export TMP QUALITY

: > "$TMP/times"
start=$SECONDS
for r in $(seq 1 "$ROUNDS"); do
  echo "batch-speed: round $r/$ROUNDS" >&2
  rm -rf "$TMP/hrvq" "$TMP/hrvq-bf16" "$TMP/hrvq-png" "$TMP/jpg" "$TMP/ppm-out"
  mkdir -p "$TMP/hrvq" "$TMP/hrvq-bf16" "$TMP/hrvq-png" "$TMP/jpg" "$TMP/ppm-out"
  echo "hrvq-enc $(timed "$HRVQ" -q encode -m "$MODEL" -q "$QUALITY" -f -d "$TMP/hrvq" "$TMP"/png/*.png)" >> "$TMP/times"
  echo "hrvq-dec $(timed "$HRVQ" -q decode -m "$MODEL" -f -d "$TMP/hrvq-png" "$TMP"/hrvq/*.hrvq)" >> "$TMP/times"
  echo "hrvq-enc-j1 $(timed "$HRVQ" -q encode -m "$MODEL" -q "$QUALITY" -j 1 -f -d "$TMP/hrvq" "$TMP"/png/*.png)" >> "$TMP/times"
  echo "hrvq-dec-j1 $(timed "$HRVQ" -q decode -m "$MODEL" -j 1 -f -d "$TMP/hrvq-png" "$TMP"/hrvq/*.hrvq)" >> "$TMP/times"
  echo "hrvq-enc-bf16 $(timed "$HRVQ" -q encode -m "$MODEL" -q "$QUALITY" --precision bf16 -f -d "$TMP/hrvq-bf16" "$TMP"/png/*.png)" >> "$TMP/times"
  echo "hrvq-dec-bf16 $(timed "$HRVQ" -q decode -m "$MODEL" --precision bf16 -f -d "$TMP/hrvq-png" "$TMP"/hrvq-bf16/*.hrvq)" >> "$TMP/times"
  echo "jpeg-enc-loop $(timed enc_loop)" >> "$TMP/times"
  echo "jpeg-dec-loop $(timed dec_loop)" >> "$TMP/times"
  echo "jpeg-enc-xargs $(timed enc_xargs)" >> "$TMP/times"
  echo "jpeg-dec-xargs $(timed dec_xargs)" >> "$TMP/times"
done
elapsed=$((SECONDS - start))
hrvq_bytes=$(cat "$TMP"/hrvq/*.hrvq | wc -c)
jpeg_bytes=$(cat "$TMP"/jpg/*.jpg | wc -c)

$PY - "$TMP/times" "$pixels" "$N" "$ROUNDS" "$elapsed" "$(uptime)" "$MODEL" "$QUALITY" \
  "$hrvq_bytes" "$jpeg_bytes" "$OUT_DIR" "$(nproc)" <<'EOF'
import json, statistics, sys
(times, pixels, n, rounds, elapsed, uptime, model, quality,
 hb, jb, out_dir, cores) = sys.argv[1:13]
pixels, hb, jb = int(pixels), int(hb), int(jb)
runs = {}
for line in open(times):
    k, v = line.split()
    runs.setdefault(k, []).append(float(v))
mp = pixels / 1e6
def mps(k):
    xs = [mp / t for t in runs[k]]
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "seconds": runs[k]}
rows = [(f"hrvq, one command, default (no -j: {cores} jobs of one torch thread)", "hrvq-enc", "hrvq-dec"),
        ("hrvq, one command, -j 1 (one image at a time, torch on every core)", "hrvq-enc-j1", "hrvq-dec-j1"),
        ("hrvq, one command, default, --precision bf16", "hrvq-enc-bf16", "hrvq-dec-bf16"),
        ("libjpeg-turbo, cjpeg/djpeg per file, shell loop", "jpeg-enc-loop", "jpeg-dec-loop"),
        ("libjpeg-turbo, cjpeg/djpeg per file, xargs -P 2", "jpeg-enc-xargs", "jpeg-dec-xargs")]
res = {"command": f"bench/batch-speed.sh {n}", "model": model, "quality": int(quality),
       "images": int(n), "megapixels": mp, "rounds": int(rounds), "cores": int(cores), "uptime_after": uptime.strip(),
       "elapsed_s": int(elapsed), "hrvq_bpp": 8 * hb / pixels, "jpeg_bpp": 8 * jb / pixels, "rows": {}}
def cell(d):
    return f"{d['median']:.2f} ({d['min']:.2f}..{d['max']:.2f})"
md = [f"# Batch encode and decode, files to files (issue 10)", "",
      "```sh", f"bench/batch-speed.sh {n}", "```", "",
      f"The first {n} BSDS500 test photos ({mp:.2f} MP), model `{model}`, "
      f"{cores} cores, OPENBLAS_NUM_THREADS=1. hrvq `-q {quality}` ({8 * hb / pixels:.3f} bpp, fp32); cjpeg `-quality {quality} -optimize` "
      f"({8 * jb / pixels:.3f} bpp). hrvq reads PNG and writes PNG; cjpeg reads and djpeg writes binary PPM. "
      f"MP/s over the whole folder: median (min..max) of {rounds} interleaved rounds. Load after the run: "
      f"`{uptime.strip()}`; run time {int(elapsed) // 60} min.", "",
      "| contender | encode MP/s | decode MP/s |", "|---|---|---|"]
for label, e, d in rows:
    res["rows"][label] = {"encode_mp_per_s": mps(e), "decode_mp_per_s": mps(d)}
    md.append(f"| {label} | {cell(mps(e))} | {cell(mps(d))} |")
open(f"{out_dir}/batch-speed.json", "w").write(json.dumps(res, indent=1) + "\n")
open(f"{out_dir}/batch-speed.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
