#!/usr/bin/env python3
"""Rate, distortion and speed of the conventional codecs hrvq is compared with.

JPEG (libjpeg-turbo cjpeg/djpeg), WebP (cwebp/dwebp) and AVIF (avifenc/avifdec) at
several settings each, on a folder of JPEG photos (bench/codec-bsds.sh runs it on the
BSDS500 test set). The results do not depend on any hrvq model, so the script caches them
(codec-bsds.sh: PEERS_RESULT) and a new model only needs codec_bench re-run.

Per image:
  reference  the original JPEG decoded by `djpeg -rgb` (the same libjpeg-turbo decode
             hrvq's own reader does), 8-bit RGB; cjpeg and cwebp read it as a PPM,
             avifenc as a PNG written here (avifenc 0.11 reads no PPM);
  encode     one encoder process per image and setting, file to file, timed
             (process start and reading the input included);
  decode     djpeg -rgb -pnm, dwebp -ppm, avifdec --png-compress 0 (it writes nothing
             else that holds RGB), one process per file, timed likewise;
  quality    `hrvq eval image REF DECODED... --json` (PSNR and MS-SSIM of 8-bit RGB,
             include/hrvq/ms_ssim.hpp), one call per reference image for all its decoded
             versions, so every codec, hrvq included, is measured by the same code. PPM
             outputs are re-written as PNG for it (untimed), and their PSNR is checked
             against one computed here with NumPy.
bpp = file bytes x 8 / pixels, summed over the images (the same as the mean per-image bpp
when, as in BSDS500, every image has the same number of pixels).

Usage: peers.py --images DIR --hrvq BUILD/hrvq --out FILE.json [--limit N]
                [--codecs jpeg,webp,avif] [--jpeg-qualities "2 5 ..."] [--jpeg-flags "-optimize"]
                [--webp-qualities "..."] [--webp-flags "-m 6"] [--avif-quantizers "..."]
                [--avif-flags "-y 420"]
"""
import argparse
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

PROG = "peers"


def die(msg):
    sys.exit(f"{PROG}: {msg}")


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
        die(f"{path}: expected an 8-bit binary RGB PPM")
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data, np.uint8, w * h * 3, pos + 1).reshape(h, w, 3)


def write_png(path, img):
    """8-bit RGB PNG, filter 0, zlib level 1: quick to write and to read."""
    h, w, _ = img.shape
    raw = np.zeros((h, 1 + 3 * w), np.uint8)
    raw[:, 1:] = img.reshape(h, 3 * w)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw.tobytes(), 1)) + chunk(b"IEND", b""))


def run(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode:
        die(f"{' '.join(cmd)}: {r.stderr.decode(errors='replace').strip()}")
    return time.perf_counter() - t


def cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def version(cmd, stream="stdout"):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError:
        return None
    text = (r.stdout if stream == "stdout" else r.stderr).strip() or (r.stdout + r.stderr).strip()
    return text.splitlines()[0] if text else None


def psnr_of_mse(m):
    return float(10 * np.log10(255.0 ** 2 / m)) if m > 0 else float("inf")


# Each codec: how to encode the reference at one setting and decode the result.
#   enc(setting, ref_ppm, ref_png, out) -> argv;  dec(inp, out) -> argv
def codec_table(a):
    jf, wf, af = a.jpeg_flags.split(), a.webp_flags.split(), a.avif_flags.split()
    return {
        "jpeg": {
            "name": "JPEG", "ext": ".jpg", "dec_ext": ".ppm", "param": "quality",
            "settings": [int(q) for q in a.jpeg_qualities.split()],
            "label": lambda q: f"q={q}",
            "enc": lambda q, ppm, png, out: ["cjpeg", "-quality", str(q), *jf, "-outfile", out, ppm],
            "dec": lambda inp, out: ["djpeg", "-rgb", "-pnm", "-outfile", out, inp],
            "tool": f"libjpeg-turbo cjpeg -quality Q {a.jpeg_flags}".strip() + "; djpeg -rgb -pnm",
            "flags": a.jpeg_flags,
            "version": version(["cjpeg", "-version"], "stderr"),
            "chroma": "4:2:0 (cjpeg default)",
        },
        "webp": {
            "name": "WebP", "ext": ".webp", "dec_ext": ".ppm", "param": "quality",
            "settings": [int(q) for q in a.webp_qualities.split()],
            "label": lambda q: f"q={q}",
            "enc": lambda q, ppm, png, out: ["cwebp", "-quiet", *wf, "-q", str(q), ppm, "-o", out],
            "dec": lambda inp, out: ["dwebp", "-quiet", inp, "-ppm", "-o", out],
            "tool": f"cwebp {a.webp_flags} -q Q".replace("  ", " ") + "; dwebp -ppm",
            "flags": a.webp_flags,
            "version": version(["cwebp", "-version"]),
            "chroma": "4:2:0 (lossy WebP is always 4:2:0)",
        },
        "avif": {
            "name": "AVIF", "ext": ".avif", "dec_ext": ".png", "param": "quantizer",
            # Low quantizer = high quality: listed from high to low rate as given.
            "settings": [int(q) for q in a.avif_quantizers.split()],
            "label": lambda q: f"Q={q}",
            "enc": lambda q, ppm, png, out: ["avifenc", *af, "--min", str(q), "--max", str(q), png, out],
            "dec": lambda inp, out: ["avifdec", "--png-compress", "0", inp, out],
            "tool": f"avifenc {a.avif_flags} --min Q --max Q".replace("  ", " ") + "; avifdec --png-compress 0",
            "flags": a.avif_flags,
            "version": version(["avifenc", "--version"]),
            "chroma": "4:2:0" if "420" in a.avif_flags else "avifenc default for PNG input (4:4:4)",
        },
    }


def eval_quality(hrvq, ref_png, paths):
    """{path: (psnr, ms_ssim, mse, width, height)} from one `hrvq eval image` call."""
    r = subprocess.run([hrvq, "eval", "image", ref_png, *paths, "--json"], capture_output=True, text=True)
    if r.returncode:
        die(f"hrvq eval image {ref_png} ...: {r.stderr.strip()}")
    try:
        rows = json.loads(r.stdout)["images"]
    except (ValueError, KeyError) as e:
        die(f"hrvq eval image: unexpected output ({e}): {r.stdout[:200]}")
    return {row["image"]: row for row in rows}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", required=True)
    p.add_argument("--hrvq", required=True, help="the hrvq program (for `hrvq eval image`)")
    p.add_argument("--out", required=True)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--codecs", default="jpeg,webp,avif")
    p.add_argument("--jpeg-qualities", default="2 3 5 10 15 20 30 40 50 60 75 90")
    p.add_argument("--jpeg-flags", default="-optimize")
    p.add_argument("--webp-qualities", default="0 5 10 20 30 40 50 60 70 80 90 93")
    p.add_argument("--webp-flags", default="-m 6")
    p.add_argument("--avif-quantizers", default="62 58 54 50 46 42 38 34 30 26 22 18 14 10 6")
    p.add_argument("--avif-flags", default="-y 420")
    a = p.parse_args()

    table = codec_table(a)
    wanted = [c.strip() for c in a.codecs.replace(",", " ").split() if c.strip()]
    for c in wanted:
        if c not in table:
            die(f"unknown codec '{c}' (jpeg, webp, avif)")
    tools = {"jpeg": ("cjpeg", "djpeg"), "webp": ("cwebp", "dwebp"), "avif": ("avifenc", "avifdec")}
    for c in wanted:
        for t in tools[c]:
            if not shutil.which(t):
                die(f"{t} missing: install {'libjpeg-turbo-progs' if c == 'jpeg' else 'webp' if c == 'webp' else 'libavif-bin'}"
                    f" (tools/install-deps.sh) or leave {c} out of PEER_CODECS")
    if not os.access(a.hrvq, os.X_OK):
        die(f"{a.hrvq}: not an executable (build the hrvq target)")

    names = sorted(n for n in os.listdir(a.images) if n.lower().endswith((".jpg", ".jpeg")))
    if a.limit:
        names = names[:a.limit]
    if not names:
        die(f"{a.images}: no JPEG images")
    tmp = tempfile.mkdtemp(prefix="peers-")
    try:
        results = measure(a, table, wanted, names, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(a.out + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
    os.replace(a.out + ".tmp", a.out)


def measure(a, table, wanted, names, tmp):
    start = time.perf_counter()
    acc = {}
    for c in wanted:
        acc[c] = [{"setting": s, "bytes": [], "psnr": [], "ms_ssim": [], "mse": [],
                   "encode": {"wall_s": 0.0, "process_s": 0.0, "cpu_s": 0.0},
                   "decode": {"wall_s": 0.0, "process_s": 0.0, "cpu_s": 0.0}} for s in table[c]["settings"]]
    pixels = 0
    sizes = []
    max_psnr_diff = 0.0
    warmed = False
    for i, n in enumerate(names):
        stem = os.path.join(tmp, os.path.splitext(n)[0])
        ref_ppm, ref_png = stem + ".ppm", stem + ".ref.png"
        run(["djpeg", "-rgb", "-pnm", "-outfile", ref_ppm, os.path.join(a.images, n)])
        ref = read_ppm(ref_ppm)
        write_png(ref_png, ref)
        h, w, _ = ref.shape
        pixels += w * h
        sizes.append([w, h])
        if not warmed:  # untimed first runs: the timed loop should not pay for loading the programs
            for c in wanted:
                t = table[c]
                out = stem + ".warm" + t["ext"]
                run(t["enc"](t["settings"][0], ref_ppm, ref_png, out))
                run(t["dec"](out, stem + ".warm" + t["dec_ext"]))
            warmed = True
        pending = []  # (codec, setting index, decoded png, numpy psnr or None)
        for c in wanted:
            t = table[c]
            for j, s in enumerate(t["settings"]):
                row = acc[c][j]
                enc_out = f"{stem}.{c}{s}{t['ext']}"
                dec_out = f"{stem}.{c}{s}.dec{t['dec_ext']}"
                for stats, cmd in ((row["encode"], t["enc"](s, ref_ppm, ref_png, enc_out)),
                                   (row["decode"], t["dec"](enc_out, dec_out))):
                    c0, t0 = cpu(), time.perf_counter()
                    stats["process_s"] += run(cmd)
                    stats["wall_s"] += time.perf_counter() - t0
                    stats["cpu_s"] += cpu() - c0
                row["bytes"].append(os.path.getsize(enc_out))
                os.remove(enc_out)
                check = None
                if dec_out.endswith(".ppm"):
                    back = read_ppm(dec_out)
                    if back.shape != ref.shape:
                        die(f"{n}: {c} {s} decoded to {back.shape}, not {ref.shape}")
                    check = psnr_of_mse(float(np.mean((back.astype(np.float64) - ref) ** 2)))
                    os.remove(dec_out)
                    dec_out = dec_out[:-4] + ".png"
                    write_png(dec_out, back)
                pending.append((c, j, dec_out, check))
        quality = eval_quality(a.hrvq, ref_png, [d for _, _, d, _ in pending])
        for c, j, dec_out, check in pending:
            q = quality.get(dec_out)
            if q is None:
                die(f"hrvq eval image gave no result for {dec_out}")
            if (q["width"], q["height"]) != (w, h):
                die(f"{n}: {c} decoded to {q['width']}x{q['height']}, not {w}x{h}")
            psnr = float("inf") if q["psnr"] is None else q["psnr"]
            if check is not None and np.isfinite(check):
                diff = abs(check - psnr)
                max_psnr_diff = max(max_psnr_diff, diff)
                if diff > 1e-3:
                    die(f"{n}: {c} {table[c]['settings'][j]}: hrvq eval says PSNR {psnr:.5f} dB, NumPy {check:.5f} dB")
            row = acc[c][j]
            row["psnr"].append(psnr)
            row["ms_ssim"].append(q["ms_ssim"])
            row["mse"].append(q["mse"])
            os.remove(dec_out)
        for f in (ref_ppm, ref_png):
            os.remove(f)
        if (i + 1) % 10 == 0 or i + 1 == len(names):
            el = time.perf_counter() - start
            print(f"{PROG}: {i + 1}/{len(names)} images, {el:.0f} s ({el / (i + 1):.2f} s per image)", file=sys.stderr)

    out = {"images": len(names), "pixels": pixels, "image_names": names, "image_sizes": sizes,
           "images_dir": a.images, "reference": "original JPEG decoded by djpeg -rgb (8-bit RGB)",
           "metric": "hrvq eval image: PSNR (RGB, 8-bit) and MS-SSIM (include/hrvq/ms_ssim.hpp)",
           "numpy_psnr_check_max_abs_db": max_psnr_diff, "elapsed_s": time.perf_counter() - start,
           "codecs": {}}
    for c in wanted:
        t = table[c]
        rows = []
        for row in acc[c]:
            size = sum(row["bytes"])
            ms = np.array(row["ms_ssim"], np.float64)
            r = {"setting": row["setting"], "label": t["label"](row["setting"]), t["param"]: row["setting"],
                 "bpp": 8.0 * size / pixels, "bytes": size, "psnr_mean": float(np.mean(row["psnr"])),
                 "psnr_of_mean_mse": psnr_of_mse(float(np.mean(row["mse"]))),
                 "ms_ssim_mean": float(np.mean(ms)),
                 "ms_ssim_db_mean": float(np.mean(-10 * np.log10(np.maximum(1 - ms, 1e-10))))}
            for name in ("encode", "decode"):
                s = row[name]
                r[name] = {**s, "images_per_s": len(names) / s["wall_s"], "mp_per_s": pixels / 1e6 / s["wall_s"]}
            r["per_image"] = {"bytes": row["bytes"], "psnr": row["psnr"], "ms_ssim": row["ms_ssim"]}
            rows.append(r)
            print(f"{PROG}: {t['name']} {r['label']}: {r['bpp']:.4f} bpp, PSNR {r['psnr_mean']:.3f} dB, "
                  f"MS-SSIM {r['ms_ssim_mean']:.5f}", file=sys.stderr)
        out["codecs"][c] = {"name": t["name"], "tool": t["tool"], "flags": t["flags"], "version": t["version"],
                            "chroma": t["chroma"], "param": t["param"], "settings": rows}
    return out


if __name__ == "__main__":
    main()
