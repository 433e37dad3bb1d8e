#!/usr/bin/env bash
# The encoder's beam search against the greedy quantizer, at equal rate: for each beam
# width and each -q, the mean bits per pixel and PSNR/MS-SSIM over the first N BSDS500
# test photos, and the encode time. Beam changes only the encoder; every file decodes
# with the same decoder. Prints a markdown table (and JSON with --json).
#
# Usage: bench/beam-gain.sh [N=30] [MODEL=models/photo.hrvqm]
# Environment: HRVQ (default build/hrvq), DATA (default ../shared/data/bsds500),
#   BEAMS (default "1 2 4 8"), QUALITIES (default "25 50 75 100").
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-30}
MODEL=${2:-models/photo.hrvqm}
HRVQ=${HRVQ:-build/hrvq}
DATA=${DATA:-../shared/data/bsds500}
BEAMS=${BEAMS:-"1 2 4 8"}
QUALITIES=${QUALITIES:-"25 50 75 100"}
JSON=${JSON:-0}
[ -x "$HRVQ" ] || { echo "beam-gain: $HRVQ missing (run tools/build.sh)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mapfile -t photos < <(ls "$DATA"/test/*.jpg | sort | head -n "$N")
for beam in $BEAMS; do
  for q in $QUALITIES; do
    out="$TMP/b${beam}q${q}"
    mkdir -p "$out/enc" "$out/dec"
    t0=$(date +%s.%N)
    "$HRVQ" -q encode -m "$MODEL" --beam "$beam" -q "$q" "${photos[@]}" -d "$out/enc"
    t1=$(date +%s.%N)
    "$HRVQ" -q decode -m "$MODEL" "$out"/enc/*.hrvq -d "$out/dec"
    for p in "${photos[@]}"; do
      b=$(basename "$p" .jpg)
      "$HRVQ" eval image "$p" "$out/dec/$b.png" --json |
        python3 -c "import json,sys,os; r=json.load(sys.stdin)['images'][0]; print(os.path.getsize('$out/enc/$b.hrvq')*8/(r['width']*r['height']), r['psnr'], r['ms_ssim'], r['width']*r['height'])"
    done >"$out/rows"
    echo "$beam $q $(echo "$t1 - $t0" | bc)" >"$out/time"
  done
done
python3 - "$TMP" "$BEAMS" "$QUALITIES" "$JSON" <<'PY'
import json, os, sys
tmp, beams, qs, as_json = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4] == "1"
rows = []
for b in beams:
    for q in qs:
        d = os.path.join(tmp, f"b{b}q{q}")
        vals = [list(map(float, l.split())) for l in open(os.path.join(d, "rows"))]
        secs = float(open(os.path.join(d, "time")).read().split()[2])
        px = sum(v[3] for v in vals)
        rows.append({"beam": int(b), "quality": int(q), "images": len(vals),
                     "bpp": sum(v[0] for v in vals) / len(vals), "psnr": sum(v[1] for v in vals) / len(vals),
                     "ms_ssim": sum(v[2] for v in vals) / len(vals), "encode_mp_s": px / 1e6 / secs})
if as_json:
    print(json.dumps(rows, indent=1))
    sys.exit()
greedy = {r["quality"]: r for r in rows if r["beam"] == 1}
print("| beam | -q | bpp | PSNR (dB) | MS-SSIM | vs greedy: bpp | vs greedy: PSNR | encode MP/s (files, incl. I/O) |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    g = greedy[r["quality"]]
    print(f"| {r['beam']} | {r['quality']} | {r['bpp']:.4f} | {r['psnr']:.3f} | {r['ms_ssim']:.4f} | "
          f"{100 * (r['bpp'] / g['bpp'] - 1):+.1f}% | {r['psnr'] - g['psnr']:+.3f} dB | {r['encode_mp_s']:.2f} |")
PY
