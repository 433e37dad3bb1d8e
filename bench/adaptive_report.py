#!/usr/bin/python3
"""Report of bench/adaptive-bsds.sh: hrvq --adaptive against hrvq's one depth per image,
JPEG, WebP and AVIF.

Usage: adaptive_report.py --bench ADAPTIVE.json --peers PEERS.json [--uniform CODEC-BSDS.json]
                          --out-dir DIR [--command TEXT]
ADAPTIVE.json is adaptive_bench's result; PEERS.json bench/peers.py's (same images);
CODEC-BSDS.json, when given, supplies hrvq's full one-depth curve (every prefix k) from
bench/codec-bsds.sh, else the one-depth rows of ADAPTIVE.json are the curve. Writes
DIR/adaptive-bsds.md, DIR/adaptive-bsds.json and DIR/rd-adaptive.png.
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bd_rate as bd  # noqa: E402

TARGETS = [0.25, 0.5, 1.0, 1.5]


def ms_db(x):
    return None if x is None or x >= 1 else -10 * math.log10(1 - x)


def curve(points):
    pts = sorted(points, key=lambda p: p["bpp"])
    return {"bpp": [p["bpp"] for p in pts], "psnr": [p["psnr"] for p in pts],
            "ms_ssim_db": [ms_db(p["ms_ssim"]) for p in pts]}


def at(c, key, bpp):
    return bd.value_at(c["bpp"], c[key], bpp)


def pairs(c, key):
    return [(r, v) for r, v in zip(c["bpp"], c[key]) if v is not None]


def fmt(v, d=3, signed=False):
    if v is None:
        return "n/a"
    return f"{v:+.{d}f}" if signed else f"{v:.{d}f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bench", required=True)
    p.add_argument("--peers", required=True)
    p.add_argument("--uniform")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--command", default="bench/adaptive-bsds.sh")
    a = p.parse_args()
    bench = json.load(open(a.bench))
    peers = json.load(open(a.peers))
    if peers["images"] != bench["images"] or abs(peers["pixels"] - bench["pixels"]) > 0.5:
        sys.exit(f"adaptive_report: peers on {peers['images']} images, adaptive_bench on {bench['images']}")
    rows = {(r["quality"], r["mode"]): r for r in bench["rows"]}
    qualities = sorted({r["quality"] for r in bench["rows"]})

    def mode_points(mode):
        return [{"bpp": rows[(q, mode)]["bpp"], "psnr": rows[(q, mode)]["psnr_mean"],
                 "ms_ssim": rows[(q, mode)]["ms_ssim_mean"]} for q in qualities]

    curves = {"adaptive": curve(mode_points("adaptive")), "uniform": curve(mode_points("uniform"))}
    uniform_source = "adaptive_bench's one-depth rows"
    if a.uniform:
        u = json.load(open(a.uniform))
        pts = u["curves"]["hrvq"]["points"]
        curves["uniform"] = curve([{"bpp": x["bpp"], "psnr": x["psnr"], "ms_ssim": x["ms_ssim"]} for x in pts])
        uniform_source = f"{a.uniform} (every prefix k)"
    for c, d in peers["codecs"].items():
        curves[c] = curve([{"bpp": s["bpp"], "psnr": s["psnr_mean"], "ms_ssim": s["ms_ssim_mean"]}
                           for s in d["settings"]])
    names = {"adaptive": "hrvq --adaptive", "uniform": "hrvq (one depth)", "jpeg": "JPEG", "webp": "WebP",
             "avif": "AVIF"}
    order = [c for c in ["adaptive", "uniform", "jpeg", "webp", "avif"] if c in curves]

    targets = []
    for t in TARGETS:
        row = {"bpp": t, "psnr": {c: at(curves[c], "psnr", t) for c in order},
               "ms_ssim_db": {c: at(curves[c], "ms_ssim_db", t) for c in order}}
        for other in order[1:]:
            pa, po = row["psnr"]["adaptive"], row["psnr"][other]
            row[f"adaptive_minus_{other}_psnr_db"] = None if pa is None or po is None else pa - po
            ma, mo = row["ms_ssim_db"]["adaptive"], row["ms_ssim_db"][other]
            row[f"adaptive_minus_{other}_ms_ssim_db"] = None if ma is None or mo is None else ma - mo
        targets.append(row)
    bds = []
    for test, anchor in (("adaptive", "jpeg"), ("uniform", "jpeg"), ("adaptive", "uniform"), ("adaptive", "webp"),
                         ("adaptive", "avif")):
        if test in curves and anchor in curves:
            bds.append({"test": test, "anchor": anchor,
                        "bd_rate_psnr_pct": bd.bd_rate(pairs(curves[anchor], "psnr"), pairs(curves[test], "psnr")),
                        "bd_psnr_db": bd.bd_quality(pairs(curves[anchor], "psnr"), pairs(curves[test], "psnr")),
                        "bd_rate_ms_ssim_pct": bd.bd_rate(pairs(curves[anchor], "ms_ssim_db"),
                                                          pairs(curves[test], "ms_ssim_db"))})

    os.makedirs(a.out_dir, exist_ok=True)
    result = {"command": a.command, "bench": bench, "uniform_curve_from": uniform_source, "curves": curves,
              "targets": targets, "bd": bds,
              "definitions": {"bpp": "whole file bits / image pixels, summed over the images",
                              "psnr": "mean of per-image PSNR, 8-bit RGB",
                              "ms_ssim_db": "-10 log10(1 - mean MS-SSIM)",
                              "read_off": "piecewise-linear in log(bpp) between a codec's own points",
                              "bd_rate": "Bjøntegaard, cubic fit, over the common range (bench/bd_rate.py)"}}
    json.dump(result, open(os.path.join(a.out_dir, "adaptive-bsds.json"), "w"), indent=1)

    L = []
    w = L.append
    w("# hrvq --adaptive (per-tile depth) on BSDS500 test\n")
    w(f"Generated by `{a.command}`: {bench['images']} images ({bench['images_dir']}), {bench['pixels'] / 1e6:.2f} MP, "
      f"model `{bench['model']}`, tiles of {bench['tile']}x{bench['tile']} latent positions, "
      + (f"{bench['decodes']} whole-image decodes per encode (`--adaptive-decodes`), " if 'decodes' in bench else "")
      + f"{bench['torch_threads']} torch thread(s). PSNR: mean of per-image PSNR on 8-bit RGB; bpp: file bits / pixels. "
      f"The peers (JPEG `cjpeg -optimize`, WebP `cwebp -m 6`, AVIF) come from {a.peers}, measured on the same images. "
      f"hrvq's one-depth curve: {uniform_source}.\n")
    w("## At each -q: the same size, per-tile depth against one depth per image\n")
    w("`--adaptive` meets the size of the uniform `-q` file, so each row compares quality at (nearly) equal bits. "
      "Encode and decode speeds are whole-run figures of this run (images in memory, one image at a time).\n")
    w("| -q | bpp one depth | bpp adaptive | PSNR one depth | PSNR adaptive | gain (dB) | MS-SSIM one depth | "
      "MS-SSIM adaptive | files with a depth map | encode MP/s one depth / adaptive | decode MP/s one depth / adaptive |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for q in qualities:
        u, d = rows[(q, "uniform")], rows[(q, "adaptive")]
        w(f"| {q} | {u['bpp']:.4f} | {d['bpp']:.4f} | {u['psnr_mean']:.3f} | {d['psnr_mean']:.3f} | "
          f"{d['psnr_mean'] - u['psnr_mean']:+.3f} | {u['ms_ssim_mean']:.4f} | {d['ms_ssim_mean']:.4f} | "
          f"{d['files_with_depth_map']:.0f}/{bench['images']} | {u['encode_mp_per_s']:.2f} / {d['encode_mp_per_s']:.2f} | "
          f"{u['decode_mp_per_s']:.2f} / {d['decode_mp_per_s']:.2f} |")
    w("\n## Read off each codec's own curve\n")
    w("| bpp | " + " | ".join(f"{names[c]} PSNR" for c in order) + " | adaptive − JPEG | adaptive − WebP | "
      + " | ".join(f"{names[c]} MS-SSIM (dB)" for c in order) + " |")
    w("|---|" + "---|" * (2 * len(order) + 2))
    for r in targets:
        w(f"| {r['bpp']:g} | " + " | ".join(fmt(r["psnr"][c], 2) for c in order) + " | "
          + fmt(r.get("adaptive_minus_jpeg_psnr_db"), 2, True) + " | " + fmt(r.get("adaptive_minus_webp_psnr_db"), 2, True)
          + " | " + " | ".join(fmt(r["ms_ssim_db"][c], 2) for c in order) + " |")
    w("\n## Bjøntegaard deltas\n")
    w("| test | anchor | BD-rate, PSNR | BD-PSNR (dB) | BD-rate, MS-SSIM |")
    w("|---|---|---|---|---|")
    for b in bds:
        w(f"| {names[b['test']]} | {names[b['anchor']]} | {fmt(b['bd_rate_psnr_pct'], 1, True)}% | "
          f"{fmt(b['bd_psnr_db'], 2, True)} | {fmt(b['bd_rate_ms_ssim_pct'], 1, True)}% |")
    w("")
    open(os.path.join(a.out_dir, "adaptive-bsds.md"), "w").write("\n".join(L))

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("adaptive_report: no matplotlib, no plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, key, label in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ms_ssim_db", "MS-SSIM (dB)")):
        for c in order:
            pts = [(r, v) for r, v in pairs(curves[c], key) if r <= 2.0]
            ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", ms=3, label=names[c],
                    lw=2.2 if c == "adaptive" else 1.2)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"BSDS500 test, {bench['images']} photos: hrvq --adaptive, hrvq one depth, JPEG, WebP, AVIF")
    fig.tight_layout()
    fig.savefig(os.path.join(a.out_dir, "rd-adaptive.png"), dpi=110)


if __name__ == "__main__":
    main()
