#!/usr/bin/python3
"""hrvq's codec network run by eager PyTorch as a user would write it: the peer for
bench/codec-speed.sh (issue 10's encode/decode speed target).

The model is read from the .hrvqm file with bench/hrvqm.py into plain torch.nn modules
(Conv2d, ReLU, pixel_shuffle; default NCHW memory format unless --channels-last),
under torch.no_grad with torch.set_num_threads(T). Only the hr and rvq quantizers are
built (the bundled photo model and the presets that bench/codec-speed.sh measures).

  encode = image/255, edge-replicated to the grid factor, -0.5; encoder; pre_quant (1x1
           conv); per channel group, per layer, the m candidates of the parent's codebook
           (hr) or the whole codebook (rvq; hr layer 0): ||e||^2 - 2 e.x, argmin, as
           hrvq's select_codes. Output: the local index maps, in hrvq's map order.
  decode = code vectors looked up and summed per group, groups concatenated, decoder,
           cropped, +0.5, clamped, *255, rounded to uint8 (as hrvq's codec does).
No entropy coding on either side (hrvq's codec does rans-ctx coding in its encode and
decode; bench/codec-speed.sh says which hrvq figure includes it).

Images are decoded (PIL) before timing and held in memory as uint8 tensors. One timed
pass encodes every image once, one at a time, then decodes every image once; --runs R
passes are made after one warm-up image, and the JSON gives each pass and the medians.

Checks (--check-raw DIR): DIR holds `hrvq encode --coder raw` bitstreams of the same
images (NAME.hrvq for NAME.png/.jpg); this peer's maps are compared index by index with
them (mismatching positions are counted), and hrvq's maps are decoded by this peer.
--check-decoded DIR: `hrvq decode` PNGs of those bitstreams, compared pixel by pixel
with this peer's decoding of the same maps (max |difference| and PSNR between them).

Usage: codec_speed_pytorch.py --model M IMAGE... [--threads 2] [--runs 3]
       [--channels-last | --nchw] [--jit] [--json FILE] [--check-raw DIR] [--check-decoded DIR]
"""
import argparse
import json
import math
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hrvqm  # noqa: E402


class ResBlock(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.conv3 = nn.Conv2d(c, r, 3, padding=1)
        self.conv1 = nn.Conv2d(r, c, 1)

    def forward(self, x):
        return x + self.conv1(F.relu(self.conv3(F.relu(x))))


class SubpixelUp(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.conv = nn.Conv2d(i, o * 4, 3, padding=1)

    def forward(self, x):
        return F.pixel_shuffle(self.conv(x), 2)


class Encoder(nn.Module):
    def __init__(self, cin, c, blocks, rc, stride):
        super().__init__()
        half, layers = c // 2, []
        if stride == 2:
            layers += [nn.Conv2d(cin, half, 4, 2, 1), nn.ReLU(), nn.Conv2d(half, c, 3, padding=1)]
        else:
            steps = 2 if stride == 4 else 3
            prev = cin
            for s in range(steps):
                out = c if s + 1 == steps else half
                layers += [nn.Conv2d(prev, out, 4, 2, 1), nn.ReLU()]
                prev = out
            layers.append(nn.Conv2d(c, c, 3, padding=1))
        layers += [ResBlock(c, rc) for _ in range(blocks)] + [nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, cin, cout, c, blocks, rc, stride, upsample):
        super().__init__()
        layers = [nn.Conv2d(cin, c, 3, padding=1)] + [ResBlock(c, rc) for _ in range(blocks)] + [nn.ReLU()]
        steps = {2: 1, 4: 2, 8: 3}[stride]
        prev = c
        for s in range(steps):
            last = s + 1 == steps
            out = cout if last else c // 2
            layers.append(SubpixelUp(prev, out) if upsample == "subpixel" else nn.ConvTranspose2d(prev, out, 4, 2, 1))
            if not last:
                layers.append(nn.ReLU())
            prev = out
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Codec(nn.Module):
    """Encoder, pre_quant and decoder as torch.nn modules (their state_dict names are the
    model file's tensor names); the codebooks of every group as plain tensors."""

    def __init__(self, cfg, tensors):
        super().__init__()
        q = cfg["hrvq.quantizer"]
        if cfg["hrvq.architecture"] != "hrvq-autoencoder" or q not in ("hr", "rvq"):
            raise SystemExit(f"this peer builds hr and rvq hrvq-autoencoders, not {cfg['hrvq.architecture']}/{q}")
        self.hr = q == "hr"
        ic, c, blocks, rc = cfg["hrvq.image_channels"], cfg["hrvq.channels"], cfg["hrvq.res_blocks"], cfg["hrvq.res_channels"]
        self.D, self.d, self.n, self.m = cfg["hrvq.embed_dim"], cfg["hrvq.downsample"], cfg["hrvq.layers"], cfg["hrvq.codes"]
        self.G = cfg.get("hrvq.groups", 1)
        self.image_channels = ic
        self.encoder = Encoder(ic, c, blocks, rc, self.d)
        self.pre_quant = nn.Conv2d(c, self.D, 1)
        self.decoder = Decoder(self.D, ic, c, blocks, rc, self.d, cfg["hrvq.upsample"])
        # Every network tensor must be in the file with the shape this configuration
        # gives it (strict: no missing, none extra among encoder/pre_quant/decoder).
        net = {k: v for k, v in tensors.items() if k.split(".")[0] in ("encoder", "pre_quant", "decoder")}
        self.load_state_dict(net, strict=True)
        dg = self.D // self.G
        self.books, self.norms = [], []
        for g in range(self.G):
            prefix = "quantizer" if g == 0 else f"quantizer_g{g}"
            books = []
            for i in range(self.n):
                t = tensors[f"{prefix}.codebook_{i}"]
                rows = self.m ** (i + 1) if self.hr else self.m
                if tuple(t.shape) != (rows, dg):
                    raise SystemExit(f"{prefix}.codebook_{i} has shape {list(t.shape)}, expected {[rows, dg]}")
                books.append(t.float().contiguous())
            self.books.append(books)
            self.norms.append([b.pow(2).sum(1) for b in books])  # ||e||^2 per row, as select_codes computes it
        self.bf16 = False
        self.eval()

    # --- encode -------------------------------------------------------------------
    def search(self, g, x):
        """Greedy code search of group g for the latents x (P, D/G): local index per layer."""
        m, locals_ = self.m, []
        parent = torch.zeros(x.shape[0], dtype=torch.long)
        res = x
        for i, (table, norms) in enumerate(zip(self.books[g], self.norms[g])):
            parents = table.shape[0] // m
            if parents == 1:
                local = (norms.unsqueeze(0) - 2 * torch.matmul(res, table.t())).argmin(1)
            else:
                cand = table.view(parents, m, -1).index_select(0, parent)           # (P, m, D/G)
                cn = norms.view(parents, m).index_select(0, parent)                 # (P, m)
                local = (cn - 2 * torch.bmm(cand, res.unsqueeze(2)).squeeze(2)).argmin(1)
            glob = parent * m + local if self.hr else local
            res = res - table.index_select(0, glob)
            if self.hr:
                parent = glob
            locals_.append(local)
        return locals_

    def encode(self, img, channels_last=False):
        """img: (1, C, H, W) uint8. Returns the N = n*G local index maps (1, h, w) in map
        order (map j: layer j // G, group j % G)."""
        H, W = img.shape[2], img.shape[3]
        f = self.d
        x = img.float() / 255
        ph, pw = (f - H % f) % f, (f - W % f) % f
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        x = x - 0.5
        if self.bf16:
            # As hrvq --precision bf16: a bf16 channels-last encoder, fp32 from pre_quant on.
            x = x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
            return self.search_maps(self.pre_quant(self.encoder(x).float()))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        z = self.pre_quant(self.encoder(x))
        return self.search_maps(z)

    def search_maps(self, z):
        B, D, h, w = z.shape
        zf = z.permute(0, 2, 3, 1).reshape(-1, D)
        parts = zf.chunk(self.G, 1) if self.G > 1 else [zf]
        per_group = [self.search(g, p.contiguous()) for g, p in enumerate(parts)]
        return [per_group[g][i].view(B, h, w) for i in range(self.n) for g in range(self.G)]

    def use_bf16(self):
        """Encoder and decoder weights in bfloat16 (what hrvq --precision bf16 runs);
        pre_quant, the codebooks and the search stay fp32."""
        self.bf16 = True
        self.encoder.to(torch.bfloat16)
        self.decoder.to(torch.bfloat16)

    # --- decode -------------------------------------------------------------------
    def decode(self, maps, H, W, channels_last=False, nchw=False):
        """maps: the N local index maps (1, h, w). Returns (1, C, H, W) uint8."""
        B, h, w = maps[0].shape
        parts = []
        for g in range(self.G):
            total, parent = None, None
            for i in range(self.n):
                local = maps[i * self.G + g].reshape(-1)
                glob = parent * self.m + local if (self.hr and i > 0) else local
                e = self.books[g][i].index_select(0, glob)
                total = e if total is None else total + e
                parent = glob
            parts.append(total)
        q = torch.cat(parts, 1) if self.G > 1 else parts[0]
        y = q.view(B, h, w, self.D).permute(0, 3, 1, 2)
        # As written (and as hrvq's decode writes it) y is a permuted view whose strides
        # are those of channels_last, and torch 1.13's oneDNN convolution follows its
        # input's suggested memory format: the decoder then runs channels_last although
        # nobody asked. nchw=True makes it contiguous NCHW first (--nchw).
        if channels_last:
            y = y.contiguous(memory_format=torch.channels_last)
        elif nchw:
            y = y.contiguous()
        out = (self.decoder(y.to(torch.bfloat16)).float() if self.bf16 else self.decoder(y))[:, :, :H, :W] + 0.5
        return out.clamp(0, 1).mul(255).round().to(torch.uint8)


def read_image(path, channels):
    from PIL import Image
    im = Image.open(path)
    im = im.convert("RGB" if channels == 3 else "L")
    a = np.asarray(im, dtype=np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    return torch.from_numpy(a.copy()).permute(2, 0, 1).unsqueeze(0).contiguous()


def read_raw_bitstream(path):
    """Index maps of an `hrvq encode --coder raw` file (format/bitstream.md): a list of
    numpy arrays (grid_h, grid_w), one per segment, in map order."""
    b = open(path, "rb").read()
    if b[:4] != b"HRVQ":
        raise SystemExit(f"{path}: not an hrvq bitstream")
    hlen = struct.unpack_from("<H", b, 6)[0]
    gw, gh = struct.unpack_from("<HH", b, 24)
    quant, coder = b[30], b[31]
    m = struct.unpack_from("<H", b, 32)[0]
    present = b[35]
    if coder != 0:
        raise SystemExit(f"{path}: coder {coder}, not raw (encode with --coder raw)")
    rb = max(1, math.ceil(math.log2(m)))
    P = gw * gh
    pos, maps = hlen, []
    for _ in range(present):
        ln = struct.unpack_from("<I", b, pos)[0]
        payload = np.frombuffer(b, dtype=np.uint8, count=ln, offset=pos + 8)
        pos += 8 + ln
        bits = np.unpackbits(payload)[:P * rb].reshape(P, rb).astype(np.int64)
        idx = (bits << np.arange(rb - 1, -1, -1)).sum(1)
        maps.append(idx.reshape(gh, gw))
    return maps


def psnr(a, b):
    mse = float(((a.double() - b.double()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("images", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--channels-last", action="store_true", help="model and inputs in channels_last")
    ap.add_argument("--nchw", action="store_true",
                    help="decoder input made contiguous NCHW (otherwise a permuted view, which torch runs channels_last)")
    ap.add_argument("--jit", action="store_true",
                    help="encoder and decoder compiled by torch.jit.script, freeze and optimize_for_inference "
                         "(what hrvq's frozen graphs are built with; not eager)")
    ap.add_argument("--bf16", action="store_true",
                    help="encoder and decoder in bfloat16, channels_last input (as hrvq --precision bf16)")
    ap.add_argument("--json")
    ap.add_argument("--check-raw")
    ap.add_argument("--check-decoded")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg, tensors = hrvqm.load(a.model)
    codec = Codec(cfg, tensors)
    cl, nchw = a.channels_last, a.nchw and not a.channels_last
    if cl:
        codec = codec.to(memory_format=torch.channels_last)
    if a.bf16:
        codec.use_bf16()
    if a.jit:
        # As a user compiles a model for CPU inference in PyTorch 1.13: scripted, frozen
        # (weights become constants) and optimised (oneDNN layouts, prepacked weights).
        with torch.no_grad():
            for name in ("encoder", "decoder"):
                setattr(codec, name, torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(getattr(codec, name)))))
        # No re-optimisation per input shape afterwards, as in hrvq (frozen_network.cpp);
        # off only after compiling, which needs the optimiser (freeze inlines the submodules).
        torch._C._set_graph_executor_optimize(False)
    imgs = [read_image(p, codec.image_channels) for p in a.images]
    pixels = sum(i.shape[2] * i.shape[3] for i in imgs)
    res = {"label": a.label, "model": a.model, "threads": torch.get_num_threads(), "channels_last": cl, "nchw_decoder_input": nchw,
           "bf16": a.bf16, "jit": a.jit,
           "images": len(imgs), "megapixels": pixels / 1e6, "torch": torch.__version__,
           "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS")}
    with torch.no_grad():
        # Warm-up: the first image once each way (oneDNN primitive creation, allocator).
        codec.decode(codec.encode(imgs[0], cl), imgs[0].shape[2], imgs[0].shape[3], cl, nchw)
        enc_s, dec_s = [], []
        maps = [None] * len(imgs)
        for _ in range(a.runs):
            t0 = time.perf_counter()
            for k, im in enumerate(imgs):
                maps[k] = codec.encode(im, cl)
            enc_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for k, im in enumerate(imgs):
                codec.decode(maps[k], im.shape[2], im.shape[3], cl, nchw)
            dec_s.append(time.perf_counter() - t0)
        res.update({"encode_s": enc_s, "decode_s": dec_s,
                    "encode_mp_per_s": pixels / 1e6 / statistics.median(enc_s),
                    "decode_mp_per_s": pixels / 1e6 / statistics.median(dec_s)})

        if a.check_raw:
            positions = mismatched = images_differing = 0
            pix_max, pix_sq, pix_n, recon_psnr = 0, 0.0, 0, []
            for k, (p, im) in enumerate(zip(a.images, imgs)):
                stem = os.path.splitext(os.path.basename(p))[0]
                theirs = read_raw_bitstream(os.path.join(a.check_raw, stem + ".hrvq"))
                ours = [t[0].numpy() for t in maps[k]]
                if len(theirs) != len(ours) or any(x.shape != y.shape for x, y in zip(theirs, ours)):
                    raise SystemExit(f"{p}: hrvq wrote {len(theirs)} maps of {theirs[0].shape}, "
                                     f"the peer {len(ours)} of {ours[0].shape}")
                diff = sum(int((x != y).sum()) for x, y in zip(theirs, ours))
                positions += sum(x.size for x in ours)
                mismatched += diff
                images_differing += diff > 0
                # This peer's decoding of hrvq's own maps, against the original and
                # (--check-decoded) against hrvq's decoding of the same file.
                tmaps = [torch.from_numpy(x).unsqueeze(0) for x in theirs]
                y = codec.decode(tmaps, im.shape[2], im.shape[3], cl, nchw)
                recon_psnr.append(psnr(y, im))
                if a.check_decoded:
                    ref = read_image(os.path.join(a.check_decoded, stem + ".png"), codec.image_channels)
                    d = (y.int() - ref.int()).abs()
                    pix_max = max(pix_max, int(d.max()))
                    pix_sq += float((d.double() ** 2).sum())
                    pix_n += d.numel()
            res["check"] = {"positions": positions, "mismatched_positions": mismatched,
                            "images_with_a_mismatch": images_differing,
                            "peer_decoding_of_hrvq_maps_psnr_db_mean": statistics.mean(recon_psnr)}
            if a.check_decoded:
                res["check"].update({"max_abs_pixel_diff_vs_hrvq_decode": pix_max,
                                     "psnr_db_vs_hrvq_decode": None if pix_sq == 0 else
                                     10 * math.log10(255 ** 2 * pix_n / pix_sq)})
    text = json.dumps(res)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
