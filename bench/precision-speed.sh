#!/usr/bin/env bash
# Issue 10's fast paths side by side: hrvq's in-memory encode and decode of the bundled
# photo model at --precision fp32 and bf16 (build/codec_bench), against eager PyTorch
# running the same network (bench/codec_speed_pytorch.py) in fp32 as a user writes it
# and with its encoder and decoder in bf16 as hrvq does. Also the cost of bf16 in PSNR
# and bits per pixel (hrvq's own files, all 200 or N photos).
#
# Usage: bench/precision-speed.sh [N]      (N BSDS500 test photos, default 24)
# Environment: ROUNDS (default 3) interleaved rounds; THREADS (default 2) torch threads
#   for every contender; HRVQ_BIN (default build) folder holding codec_bench; MODEL
#   (default models/photo.hrvqm); DATA (default ../shared/data/bsds500); OUT_DIR
#   (default docs): writes precision-speed.json and precision-speed.md.
#
# Each round runs the four contenders one after the other, so a background job slows
# them alike; the table gives medians over the rounds and the spread.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-24}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
BIN=${HRVQ_BIN:-build}
MODEL=${MODEL:-models/photo.hrvqm}
DATA=${DATA:-../shared/data/bsds500}
OUT_DIR=${OUT_DIR:-docs}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1
die() { echo "precision-speed: $*" >&2; exit 1; }
[ -x "$BIN/codec_bench" ] || die "$BIN/codec_bench missing (set HRVQ_BIN)"
[ -d "$DATA/test" ] || die "$DATA/test: missing (set DATA)"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT_DIR" "$TMP/png"
# Both sides read the same pixels: the JPEGs decoded once to PNG.
$PY - "$DATA/test" "$N" "$TMP/png" <<'EOF'
import glob, os, sys
from PIL import Image
for p in sorted(glob.glob(os.path.join(sys.argv[1], "*.jpg")))[:int(sys.argv[2])]:
    Image.open(p).convert("RGB").save(os.path.join(sys.argv[3], os.path.basename(p)[:-4] + ".png"), compress_level=1)
EOF
start=$SECONDS
for r in $(seq 1 "$ROUNDS"); do
  for p in fp32 bf16; do
    echo "precision-speed: round $r/$ROUNDS, hrvq $p" >&2
    "$BIN/codec_bench" -m "$MODEL" -i "$TMP/png" --threads "$THREADS" --precision "$p" --json "$TMP/hrvq-$p-$r.json" \
      >/dev/null 2>"$TMP/hrvq-$p-$r.log" || { cat "$TMP/hrvq-$p-$r.log" >&2; die "codec_bench failed"; }
  done
  for p in fp32 bf16; do
    echo "precision-speed: round $r/$ROUNDS, PyTorch $p" >&2
    flags=()
    [ "$p" = bf16 ] && flags+=(--bf16)
    $PY bench/codec_speed_pytorch.py --model "$MODEL" --threads "$THREADS" --runs 1 "${flags[@]}" \
      --json "$TMP/py-$p-$r.json" "$TMP"/png/*.png >/dev/null
  done
done
elapsed=$((SECONDS - start))

$PY - "$TMP" "$ROUNDS" "$THREADS" "$OUT_DIR" "$N" "$elapsed" "$(uptime)" "$MODEL" <<'EOF'
import json, os, statistics, sys
tmp, rounds, threads, out_dir, n_arg, elapsed, uptime, model = sys.argv[1:9]
rounds = int(rounds)
med = statistics.median
res = {"command": f"bench/precision-speed.sh {n_arg}", "model": model, "threads": int(threads), "rounds": rounds,
       "uptime_after": uptime.strip(), "elapsed_s": int(elapsed), "hrvq": {}, "pytorch": {}}
for p in ("fp32", "bf16"):
    hb = [json.load(open(f"{tmp}/hrvq-{p}-{r}.json")) for r in range(1, rounds + 1)]
    mp = hb[0]["pixels"] / 1e6
    layers = hb[0]["per_layers"]
    res["hrvq"][p] = {
        "encode_mp_per_s": [mp / b["encode"]["rans-ctx"]["s"] for b in hb],
        "decode_mp_per_s": [mp / b["per_layers"][-1]["decode_s"] for b in hb],
        "entropy_encode_mp_per_s": [mp / b["entropy_coding"]["rans-ctx"]["s"] for b in hb],
        "psnr_db": {str(x["k"]): x["psnr_mean"] for x in layers},
        "bpp": {str(x["k"]): x["bpp"]["rans-ctx"] for x in layers},
        "images": hb[0]["images"], "megapixels": mp}
    pr = [json.load(open(f"{tmp}/py-{p}-{r}.json")) for r in range(1, rounds + 1)]
    res["pytorch"][p] = {"encode_mp_per_s": [x["encode_mp_per_s"] for x in pr],
                         "decode_mp_per_s": [x["decode_mp_per_s"] for x in pr]}
def cell(xs):
    return f"{med(xs):.2f} ({min(xs):.2f}..{max(xs):.2f})"
h, q = res["hrvq"], res["pytorch"]
rows = ["| step | hrvq fp32 | hrvq bf16 | PyTorch fp32 | PyTorch bf16 | hrvq / PyTorch, fp32 | hrvq / PyTorch, bf16 | hrvq bf16 / fp32 |",
        "|---|---|---|---|---|---|---|---|"]
for step, key, note in (("encode", "encode_mp_per_s", " (hrvq: + rans-ctx coding)"),
                        ("decode", "decode_mp_per_s", " (hrvq: + rans-ctx decoding)")):
    hf, hb_, pf, pb = (med(h["fp32"][key]), med(h["bf16"][key]), med(q["fp32"][key]), med(q["bf16"][key]))
    rows.append(f"| {step}{note} | {cell(h['fp32'][key])} | {cell(h['bf16'][key])} | {cell(q['fp32'][key])} | "
                f"{cell(q['bf16'][key])} | {hf / pf:.2f}x | {hb_ / pb:.2f}x | {hb_ / hf:.2f}x |")
cost = ["| maps | bpp fp32 | bpp bf16 | PSNR fp32 (dB) | PSNR bf16 (dB) | bf16 − fp32 (dB) |", "|---|---|---|---|---|---|"]
for k in sorted(h["fp32"]["psnr_db"], key=int):
    a, b = h["fp32"]["psnr_db"][k], h["bf16"]["psnr_db"][k]
    cost.append(f"| {k} | {h['fp32']['bpp'][k]:.4f} | {h['bf16']['bpp'][k]:.4f} | {a:.3f} | {b:.3f} | {b - a:+.3f} |")
res["speed_markdown"], res["cost_markdown"] = "\n".join(rows), "\n".join(cost)
json.dump(res, open(os.path.join(out_dir, "precision-speed.json"), "w"), indent=1)
md = f"""# fp32 and bf16, hrvq against eager PyTorch (issue 10)

```sh
{res['command']}
```

Model `{model}`; {h['fp32']['images']} BSDS500 test photos ({h['fp32']['megapixels']:.2f} MP, the first by name);
{threads} torch threads for every contender, OPENBLAS_NUM_THREADS=1, images in memory.
MP/s: median (min..max) of {rounds} interleaved rounds. Load after the run: `{uptime.strip()}`;
run time {int(elapsed) // 60} min.

- hrvq: `build/codec_bench --precision fp32|bf16`: its whole encode (network, code search,
  rans-ctx coding of all 16 maps) and whole decode (rans-ctx decoding, network, 8-bit
  pixels). bf16 = encoder and decoder weights and activations in bfloat16, channels-last
  encoder input; pre_quant, the codebooks and the code search fp32.
- PyTorch: `bench/codec_speed_pytorch.py` (python3-torch 1.13, no_grad): fp32 as a user
  writes it; `--bf16` the same split of precisions as hrvq. No entropy coding.

{res['speed_markdown']}

The cost of bf16 (hrvq's own files and decodes; bpp with rans-ctx):

{res['cost_markdown']}
"""
open(os.path.join(out_dir, "precision-speed.md"), "w").write(md)
print(md)
EOF
