#!/usr/bin/env python3
"""Rate-distortion plot of hrvq (one point per index-map prefix k) against JPEG, WebP and
AVIF (one point per quality setting): two panels, PSNR vs bpp and MS-SSIM vs bpp (as
-10 log10(1 - MS-SSIM) dB), log-scaled bpp axis from 0.05 bpp (or hrvq's lowest rate) to 2.5 bpp.

Usage: plot_rd.py OUT_DIR/codec-bsds.json OUT.png   (the JSON bench/codec-bsds.sh writes)
"""
import json
import math
import sys

import matplotlib

matplotlib.use("Agg")  # no display on the machines this runs on
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

STYLE = {"hrvq": ("o-", "tab:red"), "jpeg": ("s-", "tab:blue"), "webp": ("^-", "tab:green"),
         "avif": ("D-", "tab:purple")}
XMIN, XMAX = 0.05, 2.5


def annotate_which(xs):
    """Indices of the hrvq points to label: the first, the last and about six between,
    none closer than 0.08 decades of bpp to the previous label."""
    n = len(xs)
    step = 1 if n <= 8 else max(1, round((n - 1) / 7))
    keep = []
    for i in sorted(set(range(0, n, step)) | {n - 1}):
        close = keep and math.log10(xs[i] / xs[keep[-1]]) < 0.08
        if not close:
            keep.append(i)
        elif i == n - 1:
            keep[-1] = i  # the last point (all maps) is always labelled
    return keep


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot_rd.py RESULTS.json OUT.png")
    try:
        data = json.load(open(sys.argv[1]))
        curves = data["curves"]
        coder = data["summary"]["coder"]
        images = data["hrvq"]["images"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"plot_rd: {sys.argv[1]}: not a codec-bsds result ({e})")
    peers = data.get("peers", {}).get("codecs", {})

    # Left edge: 0.05 bpp, or lower when a codec (hrvq's first maps) starts lower.
    lowest = min((p["bpp"] for cv in curves.values() for p in cv["points"] if p["bpp"] > 0), default=XMIN)
    xmin = min(XMIN, lowest / 1.25)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), dpi=120)
    panels = (("psnr", "PSNR (dB, RGB, mean over images)"),
              ("ms_ssim_db", "MS-SSIM as −10·log10(1 − MS-SSIM) (dB, RGB, mean MS-SSIM)"))
    for ax, (key, ylabel) in zip(axes, panels):
        visible = []
        for c, cv in curves.items():
            pts = [p for p in cv["points"] if p.get(key) is not None and p["bpp"] > 0]
            if not pts:
                continue
            style, color = STYLE.get(c, (".-", None))
            x = [p["bpp"] for p in pts]
            y = [p[key] for p in pts]
            if c == "hrvq":
                label = f"hrvq ({coder}, k = 1..{len(pts)} maps)"
            else:
                tool = peers.get(c, {}).get("tool", "").split(";")[0]
                label = f"{cv['name']} ({tool})" if tool else cv["name"]
            ax.plot(x, y, style, color=color, markersize=4 if c != "hrvq" else 5, linewidth=1.2, label=label)
            visible += [v for b, v in zip(x, y) if xmin <= b <= XMAX]
            if c == "hrvq":
                for i in annotate_which(x):
                    ax.annotate(f"k={pts[i]['k']}", (x[i], y[i]), textcoords="offset points", xytext=(4, -11),
                                fontsize=7, color=color)
            else:
                # The two ends and the middle setting, so the parameter range is readable.
                for i in sorted({0, len(pts) // 2, len(pts) - 1}):
                    ax.annotate(pts[i]["label"], (x[i], y[i]), textcoords="offset points", xytext=(4, 3), fontsize=6,
                                color=color, alpha=0.8)
        ax.set_xscale("log")
        ax.set_xlim(xmin, XMAX)
        ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2) if t >= xmin]
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        if visible:
            lo, hi = min(visible), max(visible)
            pad = 0.04 * (hi - lo) if hi > lo else 1
            ax.set_ylim(math.floor(lo - pad), math.ceil(hi + pad))
        ax.set_xlabel("bits per pixel (whole file, log scale)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(f"BSDS500 test ({images} images): {data['model']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(sys.argv[2])


if __name__ == "__main__":
    main()
