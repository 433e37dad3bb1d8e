#!/usr/bin/python3
"""Go/no-go study for spatially adaptive rate (issue 8, "per tile if it pays").

Today one prefix length k (index maps 0..k-1 of the bitstream's map order) holds for a
whole image. Here each tile of T x T latent positions gets its own k >= 1, chosen by a
Lagrangian, k_t = argmin_k D_t(k) + lambda * R_t(k), and the image is decoded from
latents in which every position sums only the maps below its tile's k. The decoder
network is the bundled one, unchanged; the encoder's codes are the greedy ones.

  R_t(k): bits of maps 0..k-1 at the tile's positions under the model's static
          per-parent code counts (what the "rans" coder spends; rans-ctx spends 8-40%
          less); the file also pays the tiles' k: log2(N+1) uncoded bits per tile, or
          (--side zlib) the zlib -9 size of the k bytes.
  D_t(k): --decide pixels: squared error of the tile's pixels in the image decoded
          with one k everywhere (N decodes per image; tile boundaries ignored when
          deciding, not when measuring); --decide latent: squared error between the
          encoder's latent and the sum of the first k maps' code vectors at the tile's
          positions (free: no decode).
The result is measured on the decoded mixed-k image (true PSNR, boundaries included)
and set against the one-k curve of the same images and the same rate measure, read at
the same bpp piecewise-linearly in log(bpp) (as bench/codec_report.py does).

The model is read by bench/hrvqm.py and run by bench/codec_speed_pytorch.py's Codec.
Run it on photos that are not BSDS500 test (the default is the validation split).

--coder-bin build/masked_rate also measures every file's maps as hrvq's coders code
them (rans-ctx and rans, payload bytes, encode_index_map_masked: absent positions are not
coded and rans-ctx reads them as the border), and reports the gain on that rate too.

Usage: adaptive_rate_study.py --model M --images DIR [--limit N] [--tile T]
       [--decide pixels|latent] [--lambdas L,L,...] [--coder-bin B] [--json FILE]
"""
import argparse
import glob
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import zlib

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
    ap.add_argument("--tile", type=int, default=4, help="tile side in latent positions")
    ap.add_argument("--decide", choices=("pixels", "latent"), default="pixels")
    ap.add_argument("--lambdas", default="")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--side", choices=("uncoded", "zlib"), default="uncoded",
                    help="bits of the tiles' k: log2(N+1) each, or their zlib -9 size")
    ap.add_argument("--coder-bin")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg, tensors = hrvqm.load(a.model)
    codec = peer.Codec(cfg, tensors)
    G, n, m, D, f = codec.G, codec.n, codec.m, codec.D, codec.d
    N, T = G * n, a.tile
    if not codec.hr:
        raise SystemExit("this study builds hr models only")
    lambdas = [float(x) for x in a.lambdas.split(",")] if a.lambdas else (
        [100, 200, 400, 800, 1600, 3200] if a.decide == "pixels" else [0.0003, 0.001, 0.002, 0.004, 0.008])
    paths = sorted(glob.glob(os.path.join(a.images, "*.jpg")) + glob.glob(os.path.join(a.images, "*.png")))
    if a.limit:
        paths = paths[:a.limit]
    if not paths:
        raise SystemExit(f"{a.images}: no images")
    costs = []
    for j in range(N):
        c = tensors[f"counts.layer{j}"].double().view(-1, m) + 1
        costs.append(-(c / c.sum(1, keepdim=True)).log2())  # bits of local code s given parent

    def latents(maps, kmap):
        """(1, D, h, w): at each position the sum of maps j < kmap (map j = layer j//G, group j%G)."""
        _, h, w = maps[0].shape
        parts = []
        for g in range(G):
            total, parent = torch.zeros(h * w, D // G), None
            for i in range(n):
                local = maps[i * G + g].reshape(-1)
                glob_ = parent * m + local if i > 0 else local
                keep = (kmap.reshape(-1) > i * G + g).float().unsqueeze(1)
                total = total + codec.books[g][i].index_select(0, glob_) * keep
                parent = glob_
            parts.append(total)
        return torch.cat(parts, 1).view(1, h, w, D).permute(0, 3, 1, 2)

    def decode(y, H, W):
        return (codec.decoder(y)[:, :, :H, :W] + 0.5).clamp(0, 1).mul(255).round()

    def psnr(y, im):
        return 10 * math.log10(255 ** 2 / ((y - im) ** 2).mean().item())

    uniform = [[0.0, 0.0] for _ in range(N)]
    adaptive = {lam: [0.0, 0.0, [0] * (N + 1)] for lam in lambdas}
    coded_uniform = [0.0] * N  # rans-ctx bpp (with --coder-bin)
    coded_adaptive = {lam: 0.0 for lam in lambdas}
    tmp = tempfile.mkdtemp()

    def coded_bytes(maps, kmaps):
        """rans-ctx payload bytes of the maps under each per-position k map."""
        _, h, w = maps[0].shape
        codes = torch.stack([mp.reshape(h, w) for mp in maps]).to(torch.int32).numpy().astype("<u2").tobytes()
        files = []
        for i, km in enumerate(kmaps):
            path = os.path.join(tmp, f"{i}.bin")
            with open(path, "wb") as fh:
                fh.write(struct.pack("<III", N, h, w) + codes + km.to(torch.uint8).numpy().tobytes())
            files.append(path)
        out = subprocess.run([a.coder_bin, "--model", a.model] + files, check=True, capture_output=True, text=True).stdout
        return [int(line.split()[1]) for line in out.strip().split("\n")]
    with torch.no_grad():
        for p in paths:
            im = peer.read_image(p, 3).float()
            H, W = im.shape[2], im.shape[3]
            x = F.pad(im / 255, (0, (f - W % f) % f, 0, (f - H % f) % f), mode="replicate") - 0.5
            z = codec.pre_quant(codec.encoder(x))
            maps = codec.search_maps(z)
            _, h, w = maps[0].shape
            bits = torch.zeros(N, h, w, dtype=torch.float64)
            for g in range(G):
                parent = torch.zeros(h * w, dtype=torch.long)
                for i in range(n):
                    local = maps[i * G + g].reshape(-1)
                    bits[i * G + g] = costs[i * G + g][parent, local].view(h, w)
                    parent = parent * m + local
            cum = torch.cat([torch.zeros(1, h, w, dtype=torch.float64), bits.cumsum(0)])  # k = 0..N
            th, tw = -(-h // T), -(-w // T)

            def per_tile(t, scale):
                # sums over tiles of T*scale x T*scale cells of a (rows, cols) map
                r, c = th * T * scale, tw * T * scale
                t = F.pad(t, (0, c - t.shape[1], 0, r - t.shape[0]))
                return t.view(th, T * scale, tw, T * scale).sum((1, 3))

            dist = torch.zeros(N + 1, th, tw, dtype=torch.float64)
            rate = torch.zeros(N + 1, th, tw, dtype=torch.float64)
            for k in range(1, N + 1):
                full = torch.full((h, w), k)
                y = decode(latents(maps, full), H, W)  # the one-k curve, whichever way tiles decide
                uniform[k - 1][0] += psnr(y, im)
                uniform[k - 1][1] += cum[k].sum().item() / (H * W)
                if a.decide == "pixels":
                    dist[k] = per_tile(((y - im) ** 2).sum(1)[0].double(), f)
                else:
                    dist[k] = per_tile(((z - latents(maps, full)) ** 2).sum(1)[0].double(), 1)
                rate[k] = per_tile(cum[k], 1)
            kmaps, sides = {}, {}
            for lam in lambdas:
                kt = (dist + lam * rate)[1:].argmin(0) + 1
                kmap = kt.repeat_interleave(T, 0).repeat_interleave(T, 1)[:h, :w]
                kmaps[lam] = kmap
                # The tiles' k: uncoded (log2(N+1) bits each) or deflated (zlib level 9, as
                # a stand-in for the zstd a format would use), whichever --side says.
                sides[lam] = (th * tw * math.log2(N + 1) if a.side == "uncoded" else
                              8 * len(zlib.compress(kt.to(torch.uint8).numpy().tobytes(), 9)))
                y = decode(latents(maps, kmap), H, W)
                total = torch.gather(cum, 0, kmap.unsqueeze(0)).sum().item() + sides[lam]
                adaptive[lam][0] += psnr(y, im)
                adaptive[lam][1] += total / (H * W)
                for k in kt.reshape(-1).tolist():
                    adaptive[lam][2][k] += 1
            if a.coder_bin:
                got = coded_bytes(maps, [torch.full((h, w), k) for k in range(1, N + 1)] + [kmaps[lam] for lam in lambdas])
                for k in range(N):
                    coded_uniform[k] += 8 * got[k] / (H * W)
                for i, lam in enumerate(lambdas):
                    coded_adaptive[lam] += (8 * got[N + i] + sides[lam]) / (H * W)
            print(f"adaptive_rate_study: {os.path.basename(p)}", file=sys.stderr, flush=True)
    P = len(paths)
    curve = [(b / P, q / P) for q, b in uniform]

    coded_curve = [(b / P, q / P) for (q, _), b in zip(uniform, coded_uniform)]

    def at(bpp, curve=curve):
        for (b0, p0), (b1, p1) in zip(curve, curve[1:]):
            if b0 <= bpp <= b1:
                return p0 + (p1 - p0) * math.log(bpp / b0) / math.log(b1 / b0)
        return None

    res = {"model": a.model, "images": P, "image_dir": a.images, "tile_latents": T, "tile_pixels": T * f,
           "decide": a.decide, "side": a.side,
           "rate": "static per-parent counts + the tiles' k (" + a.side + ")",
           "uniform": [{"k": k + 1, "bpp": b, "psnr_db": q} for k, (b, q) in enumerate(curve)], "adaptive": []}
    print(f"{P} images, tiles of {T}x{T} latents ({T * f} px), decided on {a.decide}, tiles' k {a.side}")
    coded = bool(a.coder_bin)
    head = "| lambda | bpp | PSNR (dB) | one k at that bpp | gain (dB) |"
    if coded:
        head += " rans-ctx bpp | one k at that rans-ctx bpp | gain (dB) |"
    print(head + " tiles per k (1..N) |")
    print("|---" * (head.count("|") - 1 + 1) + "|")
    def cell(u, q):
        return ("n/a", "n/a") if u is None else (f"{u:.3f}", f"{q - u:+.3f}")
    for lam in lambdas:
        q, b, hist = adaptive[lam][0] / P, adaptive[lam][1] / P, adaptive[lam][2][1:]
        u = at(b)
        row = {"lambda": lam, "bpp": b, "psnr_db": q, "uniform_psnr_db_at_bpp": u,
               "gain_db": None if u is None else q - u, "tiles_per_k": hist}
        line = f"| {lam:g} | {b:.4f} | {q:.3f} | {cell(u, q)[0]} | {cell(u, q)[1]} |"
        if coded:
            cb = coded_adaptive[lam] / P
            cu = at(cb, coded_curve)
            row.update({"rans_ctx_bpp": cb, "uniform_psnr_db_at_rans_ctx_bpp": cu,
                        "rans_ctx_gain_db": None if cu is None else q - cu})
            line += f" {cb:.4f} | {cell(cu, q)[0]} | {cell(cu, q)[1]} |"
        res["adaptive"].append(row)
        print(line + f" {' '.join(map(str, hist))} |")
    if coded:
        res["uniform_rans_ctx"] = [{"k": k + 1, "bpp": b, "psnr_db": q} for k, (b, q) in enumerate(coded_curve)]
    if a.json:
        with open(a.json, "w") as fh:
            fh.write(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
