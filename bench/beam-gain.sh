#!/usr/bin/env bash
# The encoder's search options against the greedy quantizer: for each beam width, each
# RDO lambda and each -q, the mean bits per pixel and PSNR/MS-SSIM over the first N
# BSDS500 test photos, the encode speed, and the BD-rate of every setting's curve (over
# the -q values) against greedy's. Both change only the encoder; every file decodes with
# the same decoder. Prints a markdown table (JSON=1: JSON).
#
# Usage: bench/beam-gain.sh [N=30] [MODEL=models/photo.hrvqm]
# Environment: HRVQ (default build/hrvq), DATA (default ../shared/data/bsds500),
#   BEAMS (default "1 2 4 8"), RDOS (lambdas, default "0"), QUALITIES (default
#   "25 50 75 100").
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-30}
MODEL=${2:-models/photo.hrvqm}
HRVQ=${HRVQ:-build/hrvq}
DATA=${DATA:-../shared/data/bsds500}
BEAMS=${BEAMS:-"1 2 4 8"}
RDOS=${RDOS:-"0"}
QUALITIES=${QUALITIES:-"25 50 75 100"}
JSON=${JSON:-0}
[ -x "$HRVQ" ] || { echo "beam-gain: $HRVQ missing (run tools/build.sh)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mapfile -t photos < <(ls "$DATA"/test/*.jpg | sort | head -n "$N")
for beam in $BEAMS; do
 for rdo in $RDOS; do
  for q in $QUALITIES; do
    out="$TMP/b${beam}r${rdo}q${q}"
    mkdir -p "$out/enc" "$out/dec"
    t0=$(date +%s.%N)
    "$HRVQ" -q encode -m "$MODEL" --beam "$beam" --rdo "$rdo" -q "$q" "${photos[@]}" -d "$out/enc"
    t1=$(date +%s.%N)
    "$HRVQ" -q decode -m "$MODEL" "$out"/enc/*.hrvq -d "$out/dec"
    for p in "${photos[@]}"; do
      b=$(basename "$p" .jpg)
      "$HRVQ" eval image "$p" "$out/dec/$b.png" --json |
        /usr/bin/python3 -c "import json,sys,os; r=json.load(sys.stdin)['images'][0]; print(os.path.getsize('$out/enc/$b.hrvq')*8/(r['width']*r['height']), r['psnr'], r['ms_ssim'], r['width']*r['height'])"
    done >"$out/rows"
    /usr/bin/python3 -c "print($t1 - $t0)" >"$out/time"
  done
 done
done
/usr/bin/python3 - "$TMP" "$BEAMS" "$RDOS" "$QUALITIES" "$JSON" <<'PY'
import json, os, sys
sys.path.insert(0, "bench")
tmp, beams, rdos, qs, as_json = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split(), sys.argv[5] == "1"
rows = []
for b in beams:
  for r in rdos:
    for q in qs:
        d = os.path.join(tmp, f"b{b}r{r}q{q}")
        vals = [list(map(float, l.split())) for l in open(os.path.join(d, "rows"))]
        secs = float(open(os.path.join(d, "time")).read())
        px = sum(v[3] for v in vals)
        rows.append({"beam": int(b), "rdo": float(r), "quality": int(q), "images": len(vals),
                     "bpp": sum(v[0] for v in vals) / len(vals), "psnr": sum(v[1] for v in vals) / len(vals),
                     "ms_ssim": sum(v[2] for v in vals) / len(vals), "encode_mp_s": px / 1e6 / secs})
if as_json:
    print(json.dumps(rows, indent=1))
    sys.exit()
greedy = {r["quality"]: r for r in rows if r["beam"] == 1 and r["rdo"] == 0}
try:
    from bd_rate import bd_rate
except Exception:
    bd_rate = None
def curve(b, r):
    pts = sorted((x["bpp"], x["psnr"]) for x in rows if x["beam"] == b and x["rdo"] == r)
    return [p[0] for p in pts], [p[1] for p in pts]
print("| beam | RDO lambda | -q | bpp | PSNR (dB) | MS-SSIM | vs greedy: bpp | vs greedy: PSNR | encode MP/s (files, incl. I/O) |")
print("|---|---|---|---|---|---|---|---|---|")
for x in rows:
    g = greedy[x["quality"]]
    print(f"| {x['beam']} | {x['rdo']:g} | {x['quality']} | {x['bpp']:.4f} | {x['psnr']:.3f} | {x['ms_ssim']:.4f} | "
          f"{100 * (x['bpp'] / g['bpp'] - 1):+.1f}% | {x['psnr'] - g['psnr']:+.3f} dB | {x['encode_mp_s']:.2f} |")
if bd_rate and len(qs) >= 4:
    print()
    print("| beam | RDO lambda | BD-rate vs greedy (over the -q curve) |")
    print("|---|---|---|")
    gr, gp = curve(1, 0.0)
    for b in beams:
        for r in rdos:
            if int(b) == 1 and float(r) == 0:
                continue
            rr, pp = curve(int(b), float(r))
            v = bd_rate(list(zip(gr, gp)), list(zip(rr, pp)))
            print(f"| {b} | {r} | {'n/a' if v is None else f'{v:+.2f}%'} |")
PY
