#!/usr/bin/env python3
"""PSNR-vs-bpp plot of hrvq (one point per --layers k) and JPEG (one per quality).

Usage: plot_rd.py docs/codec-bsds.json docs/rd-bsds.png   (the JSON bench/codec-bsds.sh writes)
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")  # no display on the machines this runs on
import matplotlib.pyplot as plt


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot_rd.py RESULTS.json OUT.png")
    try:
        data = json.load(open(sys.argv[1]))
        hrvq, jpeg = data["hrvq"], data["jpeg"]
        coder = data["comparison"]["coder"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"plot_rd: {sys.argv[1]}: not a codec-bsds result ({e})")

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    rows = hrvq["per_layers"]
    hx = [r["bpp"][coder] for r in rows]
    hy = [r["psnr_mean"] for r in rows]
    ax.plot(hx, hy, "o-", color="tab:red", label=f"hrvq ({coder}, layers 1..{len(rows)})")
    for r, x, y in zip(rows, hx, hy):
        ax.annotate(f"k={r['k']}", (x, y), textcoords="offset points", xytext=(5, -12), fontsize=8, color="tab:red")
    jq = sorted(jpeg["qualities"], key=lambda r: r["bpp"])
    jx = [r["bpp"] for r in jq]
    jy = [r["psnr_mean"] for r in jq]
    flags = f" {jpeg['flags']}" if jpeg.get("flags") else ""
    ax.plot(jx, jy, "s-", color="tab:blue", label=f"JPEG (cjpeg{flags})")
    for r, x, y in zip(jq, jx, jy):
        ax.annotate(f"q{r['quality']}", (x, y), textcoords="offset points", xytext=(5, 3), fontsize=8, color="tab:blue")
    # JPEG's high qualities would squeeze hrvq's range into a corner.
    right = min(max(jx), 2.5 * max(hx))
    visible = [y for x, y in zip(hx + jx, hy + jy) if x <= right * 1.05]
    ax.set_xlim(0, right * 1.05)
    ax.set_ylim(min(visible) - 1, max(visible) + 1)
    ax.set_xlabel("bits per pixel (whole file)")
    ax.set_ylabel("PSNR (dB, RGB, mean over images)")
    ax.set_title(f"BSDS500 test ({hrvq['images']} images): {data['model']}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(sys.argv[2])


if __name__ == "__main__":
    main()
