#!/usr/bin/python3
"""Would another order of the index maps give a better rate ladder? (issue 8)

The bitstream's map order is layer by layer (map j = layer j // G of group j % G), and a
file holds a prefix of it. Any order in which each group's layers stay in sequence can
be decoded by the same network (a group's missing layers contribute nothing). This
grows a ladder greedily from map 0: at each step it adds the next layer of the group
whose map buys the most PSNR per bit, PSNR measured by decoding (mean of per-image
values), bits from --map-bpp (each map's mean bits per pixel with the default coder,
e.g. the increments of docs/codec-bsds.md's rans-ctx column), and prints the ladder
beside the fixed order's. Run it on photos that are not BSDS500 test.

Usage: map_order_study.py --model M --images DIR [--limit N] --map-bpp B0,B1,...
"""
import argparse
import glob
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import codec_speed_pytorch as peer  # noqa: E402
import hrvqm  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--map-bpp", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    cfg, tensors = hrvqm.load(a.model)
    codec = peer.Codec(cfg, tensors)
    G, n, m, D, f = codec.G, codec.n, codec.m, codec.D, codec.d
    bits = [float(x) for x in a.map_bpp.split(",")]
    if len(bits) != G * n:
        raise SystemExit(f"--map-bpp: {len(bits)} values, the model has {G * n} maps")
    paths = sorted(glob.glob(os.path.join(a.images, "*.jpg")) + glob.glob(os.path.join(a.images, "*.png")))
    paths = paths[:a.limit] if a.limit else paths
    imgs = [peer.read_image(p, 3) for p in paths]

    def decode(maps, H, W, counts):
        _, h, w = maps[0].shape
        parts = []
        for g in range(G):
            total, parent = torch.zeros(h * w, D // G), None
            for i in range(counts[g]):
                local = maps[i * G + g].reshape(-1)
                glob_ = parent * m + local if i > 0 else local
                total = total + codec.books[g][i].index_select(0, glob_)
                parent = glob_
            parts.append(total)
        y = torch.cat(parts, 1).view(1, h, w, D).permute(0, 3, 1, 2)
        return (codec.decoder(y)[:, :, :H, :W] + 0.5).clamp(0, 1).mul(255).round()

    with torch.no_grad():
        all_maps = [codec.encode(im) for im in imgs]

        def score(counts):
            s = 0.0
            for im, maps in zip(imgs, all_maps):
                y = decode(maps, im.shape[2], im.shape[3], counts)
                s += 10 * math.log10(255 ** 2 / ((y - im.float()) ** 2).mean().item())
            return s / len(imgs)

        print(f"{len(imgs)} images from {a.images}")
        print("| k | fixed order: layers per group | bpp | PSNR | greedy: layers per group | added map | bpp | PSNR |")
        print("|---|---|---|---|---|---|---|---|")
        greedy = [1] + [0] * (G - 1)
        g_psnr, g_bpp = score(greedy), bits[0]
        for k in range(1, G * n + 1):
            fixed = [len(range(g, k, G)) for g in range(G)]
            f_psnr, f_bpp = score(fixed), sum(bits[:k])
            added = "0 (layer 1, group 1)"
            if k > 1:
                best = None
                for g in range(G):
                    if greedy[g] >= n:
                        continue
                    trial = list(greedy)
                    trial[g] += 1
                    j = greedy[g] * G + g
                    p = score(trial)
                    gain = (p - g_psnr) / bits[j]
                    if best is None or gain > best[0]:
                        best = (gain, g, p, j)
                _, g, g_psnr, j = best
                greedy[g] += 1
                g_bpp += bits[j]
                added = f"{j} (layer {j // G + 1}, group {g + 1})"
            print(f"| {k} | {fixed} | {f_bpp:.4f} | {f_psnr:.3f} | {list(greedy)} | {added} | {g_bpp:.4f} | {g_psnr:.3f} |",
                  flush=True)


if __name__ == "__main__":
    main()
