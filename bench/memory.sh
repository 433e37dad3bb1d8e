#!/usr/bin/env bash
# Issue 10's memory target: peak resident memory (RSS) of `hrvq encode` and `hrvq decode`
# on one large photo, against the image's own size, for the default tile size and for
# whole-image processing. The photo is a BSDS500 test image resized up to SIDE x SIDE
# (bicubic: a smooth but natural-looking picture; the codec's cost does not depend on
# the content much).
#
# Usage: bench/memory.sh [SIDE]      (default 8192)
# Environment: HRVQ (build/hrvq); MODEL (the bundled model); PRECISIONS ("fp32 bf16");
#   DATA (../shared/data/bsds500); OUT_DIR (docs): memory.{md,json}.
set -euo pipefail
cd "$(dirname "$0")/.."
SIDE=${1:-8192}
HRVQ=${HRVQ:-build/hrvq}
MODEL=${MODEL:-models/photo.hrvqm}
PRECISIONS=${PRECISIONS:-fp32 bf16}
DATA=${DATA:-../shared/data/bsds500}
OUT_DIR=${OUT_DIR:-docs}
PY=/usr/bin/python3
die() { echo "memory: $*" >&2; exit 1; }
[ -x "$HRVQ" ] || die "$HRVQ missing (set HRVQ)"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
src=$(ls "$DATA"/test/*.jpg | sort | head -n 1)
$PY - "$src" "$SIDE" "$TMP/big.png" <<'EOF'
import sys
from PIL import Image
Image.MAX_IMAGE_PIXELS = None
Image.open(sys.argv[1]).convert("RGB").resize((int(sys.argv[2]),) * 2, Image.BICUBIC).save(sys.argv[3], compress_level=1)
EOF

# peak RSS in KB and wall seconds of one command
measure() {
  /usr/bin/time -f "%M %e" -o "$TMP/time" "$@" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; die "failed: $*"; }
  cat "$TMP/time"
}
: > "$TMP/rows"
for p in $PRECISIONS; do
  echo "memory: $p encode" >&2
  read -r enc_kb enc_s < <(measure "$HRVQ" -q encode -m "$MODEL" --precision "$p" -f -o "$TMP/big.hrvq" "$TMP/big.png")
  echo "memory: $p decode" >&2
  read -r dec_kb dec_s < <(measure "$HRVQ" -q decode -m "$MODEL" --precision "$p" -f -o "$TMP/out.png" "$TMP/big.hrvq")
  echo "$p $enc_kb $enc_s $dec_kb $dec_s $(stat -c %s "$TMP/big.hrvq")" >> "$TMP/rows"
done

$PY - "$TMP/rows" "$SIDE" "$MODEL" "$OUT_DIR" "$(uptime)" <<'EOF'
import json, sys
rows, side, model, out_dir, uptime = sys.argv[1:6]
side = int(side)
mp = side * side / 1e6
res = {"command": f"bench/memory.sh {side}", "model": model, "side": side, "megapixels": mp,
       "image_bytes_8bit_rgb": side * side * 3, "uptime_after": uptime.strip(), "runs": []}
md = ["# Peak memory on one large photo (issue 10)", "", "```sh", f"bench/memory.sh {side}", "```", "",
      f"One {side}x{side} RGB photo ({mp:.1f} MP; {side * side * 3 / 2**20:.0f} MiB as 8-bit RGB), model `{model}`, "
      "default settings (`-q 40`, tiles of 512 pixels), one process per command, peak RSS from `/usr/bin/time -f %M` "
      "(includes LibTorch's own ~200 MiB).", "",
      "| precision | encode peak RSS (MiB) | encode s | decode peak RSS (MiB) | decode s | file bytes |", "|---|---|---|---|---|---|"]
for line in open(rows):
    p, ek, es, dk, ds, size = line.split()
    r = {"precision": p, "encode_peak_rss_mib": int(ek) / 1024, "encode_s": float(es),
         "decode_peak_rss_mib": int(dk) / 1024, "decode_s": float(ds), "file_bytes": int(size)}
    res["runs"].append(r)
    md.append(f"| {p} | {r['encode_peak_rss_mib']:.0f} | {r['encode_s']:.1f} | {r['decode_peak_rss_mib']:.0f} | "
              f"{r['decode_s']:.1f} | {r['file_bytes']:,} |")
open(f"{out_dir}/memory.json", "w").write(json.dumps(res, indent=1) + "\n")
open(f"{out_dir}/memory.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
