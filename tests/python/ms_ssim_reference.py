#!/usr/bin/python3
"""Reference SSIM / MS-SSIM for tests/core/ms_ssim_test.cpp, written independently of
src/core/ms_ssim.cpp with NumPy and SciPy, following pytorch_msssim (ssim / ms_ssim with
data_range=255, win_size=11, win_sigma=1.5, K=(0.01, 0.03), the default weights).

    ms_ssim_reference.py REFERENCE DISTORTED

REFERENCE and DISTORTED are binary PGM (P5, gray) or PPM (P6, RGB) files with maxval 255.
Prints one line: "MS_SSIM SSIM" (each %.17g).

Definition (see include/hrvq/ms_ssim.hpp): per channel, in float64,
  - local statistics by an 11x11 Gaussian (sigma 1.5) applied as a 'valid' convolution;
  - cs = (2 s_xy + C2) / (s_xx + s_yy + C2), l = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1);
  - downsampling as torch.nn.functional.avg_pool2d(kernel_size=2, stride=2,
    padding=(H % 2, W % 2), count_include_pad=True);
  - MS-SSIM = prod_{j<M} relu(mean cs_j)^w_j * relu(mean (l cs)_M)^w_M, averaged over
    channels. M = 5 when the smaller side is > 160; smaller images use the largest M with
    smaller side > 10 * 2^(M-1) and the first M weights renormalised to sum to 1.
"""
import sys

import numpy as np
from scipy import signal

WIN_SIZE = 11
WIN_SIGMA = 1.5
DATA_RANGE = 255.0
K1, K2 = 0.01, 0.03
WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333], dtype=np.float64)


def read_pnm(path):
    with open(path, "rb") as f:
        data = f.read()
    tokens = []
    pos = 0
    while len(tokens) < 4:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            while pos < len(data) and data[pos:pos + 1] not in (b"\n", b"\r"):
                pos += 1
            continue
        start = pos
        while pos < len(data) and not data[pos:pos + 1].isspace():
            pos += 1
        tokens.append(data[start:pos])
    pos += 1  # the single whitespace byte after maxval
    magic, width, height, maxval = tokens[0], int(tokens[1]), int(tokens[2]), int(tokens[3])
    if magic not in (b"P5", b"P6") or maxval != 255:
        raise SystemExit(f"{path}: not an 8-bit binary PGM/PPM")
    channels = 1 if magic == b"P5" else 3
    pixels = np.frombuffer(data, dtype=np.uint8, count=width * height * channels, offset=pos)
    return pixels.reshape(height, width, channels).astype(np.float64)


def gaussian_window():
    coords = np.arange(WIN_SIZE, dtype=np.float64) - WIN_SIZE // 2
    g = np.exp(-(coords ** 2) / (2 * WIN_SIGMA ** 2))
    g /= g.sum()
    return np.outer(g, g)  # the 2-D window, applied in one convolution


def blur(plane, win):
    return signal.convolve2d(plane, win, mode="valid")


def ssim_and_cs(x, y, win):
    c1 = (K1 * DATA_RANGE) ** 2
    c2 = (K2 * DATA_RANGE) ** 2
    mu1, mu2 = blur(x, win), blur(y, win)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 ** 2, mu2 ** 2, mu1 * mu2
    sigma1_sq = blur(x * x, win) - mu1_sq
    sigma2_sq = blur(y * y, win) - mu2_sq
    sigma12 = blur(x * y, win) - mu1_mu2
    cs_map = (2 * sigma12 + c2) / (sigma1_sq + sigma2_sq + c2)
    ssim_map = ((2 * mu1_mu2 + c1) / (mu1_sq + mu2_sq + c1)) * cs_map
    return ssim_map.mean(), cs_map.mean()


def avg_pool2d(x):
    """torch avg_pool2d, kernel 2, stride 2, padding (H%2, W%2) on both sides, zeros counted."""
    ph, pw = x.shape[0] % 2, x.shape[1] % 2
    padded = np.pad(x, ((ph, ph), (pw, pw)), mode="constant", constant_values=0.0)
    out_h = (x.shape[0] + 2 * ph - 2) // 2 + 1
    out_w = (x.shape[1] + 2 * pw - 2) // 2 + 1
    out = np.zeros((out_h, out_w), dtype=np.float64)
    for dy in (0, 1):
        for dx in (0, 1):
            out += padded[dy:dy + 2 * out_h:2, dx:dx + 2 * out_w:2]
    return out / 4.0


def num_scales(height, width):
    side = min(height, width)
    levels = 0
    while levels < len(WEIGHTS) and side > (WIN_SIZE - 1) * 2 ** levels:
        levels += 1
    return levels


def ms_ssim(ref, dist):
    win = gaussian_window()
    levels = num_scales(ref.shape[0], ref.shape[1])
    if levels == 0:
        raise SystemExit("image smaller than the 11x11 window")
    weights = WEIGHTS if levels == len(WEIGHTS) else WEIGHTS[:levels] / WEIGHTS[:levels].sum()
    per_channel = []
    for c in range(ref.shape[2]):
        x, y = ref[:, :, c], dist[:, :, c]
        values = []
        for j in range(levels):
            s, cs = ssim_and_cs(x, y, win)
            if j < levels - 1:
                values.append(max(cs, 0.0))
                x, y = avg_pool2d(x), avg_pool2d(y)
            else:
                values.append(max(s, 0.0))
        per_channel.append(np.prod(np.array(values) ** weights))
    return float(np.mean(per_channel))


def ssim(ref, dist):
    win = gaussian_window()
    return float(np.mean([ssim_and_cs(ref[:, :, c], dist[:, :, c], win)[0] for c in range(ref.shape[2])]))


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    ref, dist = read_pnm(sys.argv[1]), read_pnm(sys.argv[2])
    if ref.shape != dist.shape:
        raise SystemExit("images differ in size")
    print("%.17g %.17g" % (ms_ssim(ref, dist), ssim(ref, dist)))


if __name__ == "__main__":
    main()
