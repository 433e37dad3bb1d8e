#!/usr/bin/python3
"""Reference fixtures for tests/fid_test.cpp, computed the way pytorch-fid computes FID.

    fid_reference.py fixtures DIR

writes into DIR:
  weights.pth         state_dict of FIDInceptionV3 below with random weights (zip format)
  weights_legacy.pth  the same tensors in the legacy (pre-1.6) torch.save format, as
                      the published pt_inception-2015-12-05-6726825d.pth
  not_tensors.pth     a pickle naming a class the C++ reader must refuse
  images.txt          one line per image: "WIDTH HEIGHT CHANNELS FILE" (raw uint8 HWC)
  features.f32        float32 N x 2048: pool3 features of the images
  frechet_K.txt       "NA NB D FID" for the raw float32 features frechet_K_{a,b}.f32,
                      FID as pytorch-fid's calculate_frechet_distance (scipy sqrtm)
  frechet_K_mu.f64 / frechet_K_sigma.f64: numpy mean / cov of the A features

The network re-implements pytorch-fid's FIDInceptionV3 (torchvision's Inception3 with
the FIDInceptionA/C/E_1/E_2 blocks, num_classes=1008, no aux logits) without
torchvision, with the same module names, so its state_dict has the weight file's keys.
"""
import collections
import datetime
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy import linalg


class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def tf_avg_pool(x):
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    def __init__(self, cin, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(cin, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, kernel_size=1)

    def forward(self, x):
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(tf_avg_pool(x))
        return torch.cat([a, b, c, d], 1)


class InceptionB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([a, b, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionC(nn.Module):
    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x):
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            c = layer(c)
        d = self.branch_pool(tf_avg_pool(x))
        return torch.cat([a, b, c, d], 1)


class InceptionD(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([a, b, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionE(nn.Module):
    """FIDInceptionE_1 (average pool without padding) or, with max_pool, FIDInceptionE_2."""

    def __init__(self, cin, max_pool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(cin, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x):
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], 1)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], 1)
        if self.max_pool:
            p = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            p = tf_avg_pool(x)
        return torch.cat([a, b, c, self.branch_pool(p)], 1)


class FIDInceptionV3(nn.Module):
    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, 128)
        self.Mixed_6c = FIDInceptionC(768, 160)
        self.Mixed_6d = FIDInceptionC(768, 160)
        self.Mixed_6e = FIDInceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, max_pool=False)
        self.Mixed_7c = FIDInceptionE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, inp):
        # pytorch-fid's InceptionV3.forward: resize_input and normalize_input.
        x = F.interpolate(inp, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, "Mixed_" + name)(x)
        return F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)


def randomize(model, gen):
    # Scaled so that activations neither vanish nor explode through 94 layers.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(m.running_var.shape, generator=gen))
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(0.01 * torch.randn(m.weight.shape, generator=gen))
                m.bias.zero_()


def calculate_frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid's formula: scipy.linalg.sqrtm of sigma1 @ sigma2."""
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def fixtures(out):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    rng = np.random.default_rng(42)
    model = FIDInceptionV3().eval()
    randomize(model, gen)
    sd = model.state_dict()
    assert isinstance(sd, collections.OrderedDict)
    torch.save(sd, os.path.join(out, "weights.pth"))
    torch.save(sd, os.path.join(out, "weights_legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(collections.OrderedDict(when=datetime.date(2020, 1, 1)), os.path.join(out, "not_tensors.pth"))
    # Small files for exhaustive truncation and corruption, with the layouts a
    # state_dict can hold: views sharing a storage at an offset, a transposed
    # (non-contiguous) tensor, 0-d tensors and other dtypes.
    base = torch.arange(10, dtype=torch.float32)
    small = collections.OrderedDict(
        view=base[2:5],
        base=base,
        transposed=torch.arange(12, dtype=torch.float32).reshape(3, 4).t(),
        double=torch.tensor([0.5, -1.25], dtype=torch.float64),
        half=torch.tensor([1.5, 2.0], dtype=torch.float16),
        flags=torch.tensor([True, False, True]),
        count=torch.tensor(42),
        empty=torch.zeros(0, 3),
    )
    torch.save(small, os.path.join(out, "small.pth"))
    torch.save(small, os.path.join(out, "small_legacy.pth"), _use_new_zipfile_serialization=False)

    shapes = [(64, 48, 3), (40, 40, 1), (299, 299, 3)]
    inputs = []
    with open(os.path.join(out, "images.txt"), "w") as manifest:
        for k, (w, h, c) in enumerate(shapes):
            img = rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)
            name = "image%d.u8" % k
            img.tofile(os.path.join(out, name))
            manifest.write("%d %d %d %s\n" % (w, h, c, name))
            # torchvision's ToTensor (PIL image converted to RGB, then / 255)
            t = torch.from_numpy(img).permute(2, 0, 1).float().div(255)
            if c == 1:
                t = t.repeat(3, 1, 1)
            inputs.append(t.unsqueeze(0))
    with torch.no_grad():
        feats = torch.cat([model(x) for x in inputs], 0)
    feats.numpy().astype(np.float32).tofile(os.path.join(out, "features.f32"))

    # Fréchet cases: well-conditioned, and singular covariances (fewer samples than dims).
    for k, (na, nb, d) in enumerate([(400, 300, 64), (40, 30, 64)]):
        mix = rng.normal(size=(d, d)) / np.sqrt(d)
        a = (rng.normal(size=(na, d)) @ (np.eye(d) + 0.5 * mix) + 0.3).astype(np.float32)
        b = (rng.normal(size=(nb, d)) * 1.2 + 0.1 * rng.normal(size=d)).astype(np.float32)
        a.tofile(os.path.join(out, "frechet_%d_a.f32" % k))
        b.tofile(os.path.join(out, "frechet_%d_b.f32" % k))
        mu_a, sigma_a = np.mean(a, axis=0), np.cov(a, rowvar=False)
        mu_b, sigma_b = np.mean(b, axis=0), np.cov(b, rowvar=False)
        mu_a.astype(np.float64).tofile(os.path.join(out, "frechet_%d_mu.f64" % k))
        sigma_a.astype(np.float64).tofile(os.path.join(out, "frechet_%d_sigma.f64" % k))
        fid = calculate_frechet_distance(mu_a, sigma_a, mu_b, sigma_b)
        with open(os.path.join(out, "frechet_%d.txt" % k), "w") as f:
            f.write("%d %d %d %.17g\n" % (na, nb, d, fid))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "fixtures":
        torch.set_num_threads(2)
        fixtures(sys.argv[2])
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
