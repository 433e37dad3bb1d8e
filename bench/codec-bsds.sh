#!/usr/bin/env bash
# hrvq against JPEG on the 200 BSDS500 test photos: rate, PSNR and speed of hrvq at every
# --layers k (bench/codec_bench.cpp) and of libjpeg-turbo's cjpeg/djpeg at several
# qualities. Writes docs/codec-bsds.json, docs/codec-bsds.md and docs/rd-bsds.png.
#
# Usage: bench/codec-bsds.sh [MODEL]      (default models/photo.hrvqm)
# Environment: BUILD (build folder, default build-bench), DATA (default
#   ../shared/data/bsds500), QUALITIES (default "2 3 5 10 15 20 30 40 50 60 75 90"),
#   JPEG_FLAGS (extra cjpeg flags, default -optimize); for quick trials LIMIT and
#   TRAIN_LIMIT (first N test / training images only); HRVQ_RESULT=FILE reuses a
#   codec_bench --json result (or a previous docs/codec-bsds.json) instead of running it.
# Timings are only meaningful on an otherwise idle machine: re-run it there.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/photo.hrvqm}
# Until a trained model is copied into models/, the training output will do.
[ $# -gt 0 ] || [ -f "$MODEL" ] || [ ! -f out/photo.hrvqm ] || MODEL=out/photo.hrvqm
BUILD=${BUILD:-build-bench}
DATA=${DATA:-../shared/data/bsds500}
# Below 5 libjpeg-turbo needs quantizers over 255 (valid, not baseline): they reach
# down to the rate of hrvq's first layer.
QUALITIES=${QUALITIES:-"2 3 5 10 15 20 30 40 50 60 75 90"}
JPEG_FLAGS=${JPEG_FLAGS--optimize}
LIMIT=${LIMIT:-0}
TRAIN_LIMIT=${TRAIN_LIMIT:-0}
PY=/usr/bin/python3

die() { echo "codec-bsds: $*" >&2; exit 1; }
[ -f "$MODEL" ] || die "$MODEL: no such model (train one with tools/train-photo-model.sh or pass a path)"
for d in test train val; do [ -d "$DATA/$d" ] || die "$DATA/$d: missing (set DATA to the bsds500 folder)"; done
command -v cjpeg >/dev/null && command -v djpeg >/dev/null || die "cjpeg/djpeg missing: run tools/install-deps.sh (libjpeg-turbo-progs)"
$PY -c "import numpy, matplotlib" 2>/dev/null || die "$PY lacks numpy/matplotlib: run tools/install-deps.sh (python3-matplotlib)"

if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DHRVQ_BUILD_TESTS=OFF >/dev/null || die "cmake failed"
fi
ninja -C "$BUILD" codec_bench >/dev/null || die "building codec_bench failed"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p docs

if [ -n "${HRVQ_RESULT:-}" ]; then
  echo "codec-bsds: hrvq results from $HRVQ_RESULT" >&2
  $PY -c "
import json, sys
d = json.load(open(sys.argv[1]))
json.dump(d.get('hrvq', d), open(sys.argv[2], 'w'))" "$HRVQ_RESULT" "$TMP/hrvq.json" || die "$HRVQ_RESULT: unreadable"
  MODEL=$($PY -c "import json, sys; print(json.load(open(sys.argv[1]))['model'])" "$TMP/hrvq.json")
else
  echo "codec-bsds: hrvq ($MODEL)" >&2
  "$BUILD/codec_bench" -m "$MODEL" -i "$DATA/test" --train "$DATA/train" --train "$DATA/val" --limit "$LIMIT" \
    --train-limit "$TRAIN_LIMIT" --json "$TMP/hrvq.json" | tee "$TMP/hrvq.txt" >&2
fi

echo "codec-bsds: JPEG (qualities $QUALITIES, flags '$JPEG_FLAGS')" >&2
# One cjpeg and one djpeg process per image, run one after another as a user would.
# The reference is the original JPEG decoded by djpeg (the same libjpeg-turbo decode
# hrvq's reader does), so both codecs are measured against the same RGB pixels.
$PY - "$DATA/test" "$TMP" "$LIMIT" "$JPEG_FLAGS" $QUALITIES >"$TMP/jpeg.json" <<'EOF'
import json, os, resource, subprocess, sys, time
import numpy as np

test, tmp, limit, flags = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
qualities = [int(q) for q in sys.argv[5:]]

def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:  # magic, width, height, maxval; '#' comments skipped
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        sys.exit(f"codec-bsds: {path}: expected an 8-bit binary PPM from djpeg -rgb")
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data, np.uint8, w * h * 3, pos + 1).reshape(h, w, 3)

def run(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode:
        sys.exit(f"codec-bsds: {' '.join(cmd)}: {r.stderr.decode(errors='replace').strip()}")
    return time.perf_counter() - t

def cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime

names = sorted(n for n in os.listdir(test) if n.lower().endswith((".jpg", ".jpeg")))
if limit:
    names = names[:limit]
refs, pixels = [], 0
for n in names:
    ppm = os.path.join(tmp, os.path.splitext(n)[0] + ".ppm")
    run(["djpeg", "-rgb", "-pnm", "-outfile", ppm, os.path.join(test, n)])
    img = read_ppm(ppm)
    refs.append((ppm, img))
    pixels += img.shape[0] * img.shape[1]

# Untimed first run: the timed loop should not pay for loading the program.
run(["cjpeg", "-quality", "50", "-outfile", os.devnull, refs[0][0]])
out = {"images": len(names), "pixels": pixels, "flags": " ".join(flags), "version": subprocess.run(
    ["cjpeg", "-version"], capture_output=True, text=True).stderr.strip(), "qualities": []}
for q in qualities:
    size = 0
    psnrs, mses = [], []
    enc = {"wall_s": 0.0, "process_s": 0.0, "cpu_s": 0.0}
    dec = dict(enc)
    for ppm, ref in refs:
        jpg, back = ppm[:-4] + f".q{q}.jpg", ppm[:-4] + f".q{q}.ppm"
        for stats, cmd in ((enc, ["cjpeg", "-quality", str(q), *flags, "-outfile", jpg, ppm]),
                           (dec, ["djpeg", "-rgb", "-pnm", "-outfile", back, jpg])):
            c, t = cpu(), time.perf_counter()
            stats["process_s"] += run(cmd)
            stats["wall_s"] += time.perf_counter() - t
            stats["cpu_s"] += cpu() - c
        size += os.path.getsize(jpg)
        err = np.mean((read_ppm(back).astype(np.float64) - ref) ** 2)
        mses.append(err)
        psnrs.append(10 * np.log10(255.0 ** 2 / err) if err > 0 else float("inf"))
        os.remove(jpg)
        os.remove(back)
    row = {"quality": q, "bpp": 8.0 * size / pixels, "psnr_mean": float(np.mean(psnrs)),
           "psnr_of_mean_mse": float(10 * np.log10(255.0 ** 2 / np.mean(mses)))}
    for name, s in (("encode", enc), ("decode", dec)):
        row[name] = {**s, "images_per_s": len(refs) / s["wall_s"], "mp_per_s": pixels / 1e6 / s["wall_s"]}
    out["qualities"].append(row)
    print(f"codec-bsds: JPEG q={q}: {row['bpp']:.4f} bpp, PSNR {row['psnr_mean']:.3f} dB", file=sys.stderr)
json.dump(out, sys.stdout)
EOF

# Combined JSON, markdown and plot.
$PY - "$TMP/hrvq.json" "$TMP/jpeg.json" "$MODEL" "$(nproc)" "$(uptime)" "${HRVQ_RESULT:-}" <<'EOF'
import json, sys
import numpy as np

hrvq = json.load(open(sys.argv[1]))
jpeg = json.load(open(sys.argv[2]))
model, cores, uptime, reused = sys.argv[3], sys.argv[4], sys.argv[5].strip(), sys.argv[6]
rows = hrvq["per_layers"]
coders = list(rows[0]["bpp"])
best = "rans-ctx" if "rans-ctx" in coders else ("rans" if "rans" in coders else coders[0])

# JPEG's PSNR at hrvq's rates, linear in bpp between the measured qualities.
jq = sorted(jpeg["qualities"], key=lambda r: r["bpp"])
jb = np.array([r["bpp"] for r in jq])
def compare_at(coder):
    points = []
    for r in rows:
        b = r["bpp"][coder]
        entry = {"k": r["k"], "bpp": b, "hrvq_psnr": r["psnr_mean"], "jpeg_psnr": None, "delta_db": None}
        if jb[0] <= b <= jb[-1]:
            j = float(np.interp(b, jb, [x["psnr_mean"] for x in jq]))
            entry.update(jpeg_psnr=j, delta_db=r["psnr_mean"] - j)
        points.append(entry)
    return points
by_coder = {c: compare_at(c) for c in coders if c != "raw"}
compare = by_coder[best]
result = {"model": model, "cores": int(cores), "load_at_run": uptime, "hrvq": hrvq, "jpeg": jpeg,
          "comparison": {"coder": best, "metric": "mean per-image PSNR, RGB", "points": compare,
                         "by_coder": by_coder}}
json.dump(result, open("docs/codec-bsds.json", "w"), indent=1)

f = lambda v, d=4: "-" if v is None else f"{v:.{d}f}"
md = []
w = md.append
w("# hrvq vs JPEG on BSDS500 test\n")
w(f"Generated by `bench/codec-bsds.sh {model}`: {hrvq['images']} images, {hrvq['pixels']/1e6:.2f} MP, "
  f"RGB 8-bit. Model `{model}`: {hrvq['quantizer']} quantizer, n={hrvq['layers']} layers, m={hrvq['codes']} codes. "
  f"bpp = whole file bits / image pixels; PSNR against the original JPEG decoded to RGB. "
  f"Machine: {cores} cores, `{uptime}` when it finished — timings are only meaningful when it was otherwise idle."
  + (f" hrvq's numbers were taken from an earlier run ({reused})." if reused else "") + "\n")
w("## Rate-distortion\n")
w("![PSNR vs bpp](rd-bsds.png)\n")
w("At hrvq's rates, JPEG's PSNR interpolated linearly in bpp between its measured qualities "
  f"(mean per-image PSNR; {best} is the codec's default coder):\n")
w("| layers k | hrvq PSNR (dB) | " + " | ".join(f"{c} bpp | JPEG PSNR at that bpp | hrvq − JPEG (dB)" for c in by_coder) + " |")
w("|---|---|" + "---|---|---|" * len(by_coder))
for i, r in enumerate(rows):
    cells = []
    for c, pts in by_coder.items():
        p = pts[i]
        if p["delta_db"] is None:
            cells.append(f"{f(p['bpp'])} | outside JPEG's {f(jb[0])}..{f(jb[-1])} bpp | -")
        else:
            cells.append(f"{f(p['bpp'])} | {f(p['jpeg_psnr'], 2)} | {p['delta_db']:+.2f}")
    w(f"| {r['k']} | {f(r['psnr_mean'], 2)} | " + " | ".join(cells) + " |")
w("")
w("### hrvq per layers\n")
w("CE = cross-entropy of the index maps under the model's stored code counts with the coder's contexts "
  "(quantized: the 16-bit tables rANS uses; exact: add-one smoothed counts). rans overhead = rANS payload over "
  "exact CE. Payload = without the 40-byte header and 8-byte segment headers. n·log2 m = uncoded indices.\n")
head = "| k | " + " | ".join(f"{c} bpp" for c in coders) + " | " + " | ".join(f"{c} payload" for c in coders)
w(head + " | n·log2 m | CE quantized | CE exact | rans overhead | PSNR mean | PSNR of mean MSE |")
w("|" + "---|" * (1 + 2 * len(coders) + 6))
for r in rows:
    w(f"| {r['k']} | " + " | ".join(f(r["bpp"][c]) for c in coders) + " | " +
      " | ".join(f(r["payload_bpp"][c]) for c in coders) +
      f" | {f(r['ideal_raw_bpp'])} | {f(r['ce_bpp'])} | {f(r['ce_exact_bpp'])} | "
      f"{'-' if r['rans_overhead_pct'] is None else '%+.2f%%' % r['rans_overhead_pct']} | "
      f"{f(r['psnr_mean'], 3)} | {f(r['psnr_of_mean_mse'], 3)} |")
w("")
w(f"### JPEG (libjpeg-turbo cjpeg{(' ' + jpeg['flags']) if jpeg['flags'] else ''}, 4:2:0 default)\n")
w("| quality | bpp | PSNR mean | PSNR of mean MSE |")
w("|---|---|---|---|")
for r in jpeg["qualities"]:
    w(f"| {r['quality']} | {f(r['bpp'])} | {f(r['psnr_mean'], 3)} | {f(r['psnr_of_mean_mse'], 3)} |")
w("")
w("## Throughput\n")
w(f"hrvq: one process, images in memory to bytes and back, one image at a time, LibTorch on "
  f"{hrvq['torch_threads']} threads (CPU), model loading ({hrvq['model_load_s']:.2f} s) excluded; encode is the "
  "same for every k (the network dominates), timed writing all layers. "
  "JPEG: one cjpeg/djpeg process per image, run one after another, file to file, process start included; "
  "s = Σ per-process wall time, CPU = Σ user+sys of the processes.\n")
w("| codec | encode images/s | encode MP/s | decode images/s | decode MP/s | encode s (CPU s) | decode s (CPU s) |")
w("|---|---|---|---|---|---|---|")
e = hrvq["encode"][best]
for r in rows:
    w(f"| hrvq --layers {r['k']} ({best}) | {e['images_per_s']:.2f} | {e['mp_per_s']:.3f} | "
      f"{r['decode_images_per_s']:.2f} | {r['decode_mp_per_s']:.3f} | {e['s']:.2f} | {r['decode_s']:.2f} |")
for c, e in hrvq["encode"].items():
    if c != best:
        w(f"| hrvq encode with {c} | {e['images_per_s']:.2f} | {e['mp_per_s']:.3f} | | | {e['s']:.2f} | |")
for r in jpeg["qualities"]:
    e, d = r["encode"], r["decode"]
    w(f"| JPEG q={r['quality']} | {e['images_per_s']:.1f} | {e['mp_per_s']:.2f} | {d['images_per_s']:.1f} | "
      f"{d['mp_per_s']:.2f} | {e['process_s']:.2f} ({e['cpu_s']:.2f}) | {d['process_s']:.2f} ({d['cpu_s']:.2f}) |")
w("")
sp = hrvq.get("spatial")
if sp:
    w("## Would spatial context pay?\n")
    w(f"Empirical conditional entropy of each layer's local codes, counts from {sp['train_images']} training images "
      f"(BSDS500 train + val), add-one smoothed as the coder does, evaluated on the test images (bits per pixel). "
      "\"model tables\" is what the coder achieves with the model's stored counts; \"parent\" the same context "
      "with counts from these training images; left/above are the neighbours' local codes in the same layer. "
      "In brackets: the same on the training images themselves (in-sample, optimistic).\n")
    w("| layer | model tables | parent | parent+left | parent+left+above | change left | change left+above | "
      "contexts (p / p+l / p+l+a) |")
    w("|---|---|---|---|---|---|---|---|")
    tot = {k: 0.0 for k in ("parent", "parent_left", "parent_left_above")}
    tot_model = 0.0
    for l in sp["layers"]:
        p, pl, pla = (l[k]["test_bpp"] for k in ("parent", "parent_left", "parent_left_above"))
        for k in tot:
            tot[k] += l[k]["test_bpp"]
        tot_model += l["model_tables_bpp"] or 0
        w(f"| {l['layer']} | {f(l['model_tables_bpp'])} | {f(p)} ({f(l['parent']['train_bpp'])}) | "
          f"{f(pl)} ({f(l['parent_left']['train_bpp'])}) | {f(pla)} ({f(l['parent_left_above']['train_bpp'])}) | "
          f"{100 * (pl - p) / p:+.1f}% | {100 * (pla - p) / p:+.1f}% | "
          f"{l['parent']['contexts']} / {l['parent_left']['contexts']} / {l['parent_left_above']['contexts']} |")
    p, pl, pla = tot["parent"], tot["parent_left"], tot["parent_left_above"]
    w(f"| all | {f(tot_model)} | {f(p)} | {f(pl)} | {f(pla)} | {100 * (pl - p) / p:+.1f}% | "
      f"{100 * (pla - p) / p:+.1f}% | |")
    w("")
open("docs/codec-bsds.md", "w").write("\n".join(md))
EOF

$PY bench/plot_rd.py docs/codec-bsds.json docs/rd-bsds.png
echo "codec-bsds: wrote docs/codec-bsds.json, docs/codec-bsds.md, docs/rd-bsds.png" >&2
