#!/usr/bin/python3
"""The network's ceiling (issue 8, "measure first"): the model's autoencoder with its
latents left unquantized, decoder(pre_quant(encoder(x))), against the same images
through all index maps, mean of per-image PSNR on 8-bit RGB. Uses bench/hrvqm.py and
bench/codec_speed_pytorch.py's Codec (hr and rvq models).

Usage: network_ceiling.py MODEL DIR     (DIR: *.jpg / *.png)
"""
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
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.strip().split("\n")[-1])
    torch.set_num_threads(1)
    cfg, tensors = hrvqm.load(sys.argv[1])
    codec = peer.Codec(cfg, tensors)
    paths = sorted(glob.glob(os.path.join(sys.argv[2], "*.jpg")) + glob.glob(os.path.join(sys.argv[2], "*.png")))
    if not paths:
        raise SystemExit(f"{sys.argv[2]}: no images")
    unquantized, quantized = [], []
    with torch.no_grad():
        for p in paths:
            im = peer.read_image(p, codec.image_channels)
            H, W, f = im.shape[2], im.shape[3], codec.d
            x = F.pad(im.float() / 255, (0, (f - W % f) % f, 0, (f - H % f) % f), mode="replicate") - 0.5
            z = codec.pre_quant(codec.encoder(x))
            y = (codec.decoder(z)[:, :, :H, :W] + 0.5).clamp(0, 1).mul(255).round()
            unquantized.append(10 * math.log10(255 ** 2 / ((y - im.float()) ** 2).mean().item()))
            y = codec.decode(codec.search_maps(z), H, W).float()
            quantized.append(10 * math.log10(255 ** 2 / ((y - im.float()) ** 2).mean().item()))
    print(f"{len(paths)} images: unquantized latents {sum(unquantized) / len(paths):.3f} dB, "
          f"all {codec.n * codec.G} maps {sum(quantized) / len(paths):.3f} dB")


if __name__ == "__main__":
    main()
