#!/usr/bin/python3
"""The network of hrvq's cifar10 preset (HR-VQVAE, n=3, m=8), run eagerly by PyTorch:
the peer for bench/train-speed.sh. Same layers, quantizer search, loss and Adam as hrvq.
Prints images/s over the timed steps and the peak RSS in MiB as JSON."""
import json, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 60
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 64
# "bf16": encoder and decoder under CPU autocast, the quantizer and losses in fp32, as
# hrvq train --precision bf16 runs them.
bf16 = len(sys.argv) > 4 and sys.argv[4] == "bf16"
torch.set_num_threads(threads)
torch.manual_seed(0)
C, R, D, N, M = 128, 32, 64, 3, 8


class Res(nn.Module):
    def __init__(s):
        super().__init__()
        s.c3, s.c1 = nn.Conv2d(C, R, 3, padding=1), nn.Conv2d(R, C, 1)

    def forward(s, x):
        return x + s.c1(F.relu(s.c3(F.relu(x))))


class Up(nn.Module):
    def __init__(s, i, o):
        super().__init__()
        s.c = nn.Conv2d(i, o * 4, 3, padding=1)

    def forward(s, x):
        return F.pixel_shuffle(s.c(x), 2)


enc = nn.Sequential(nn.Conv2d(3, C // 2, 4, 2, 1), nn.ReLU(), nn.Conv2d(C // 2, C, 4, 2, 1), nn.ReLU(),
                    nn.Conv2d(C, C, 3, padding=1), Res(), Res(), nn.ReLU(), nn.Conv2d(C, D, 1))
dec = nn.Sequential(nn.Conv2d(D, C, 3, padding=1), Res(), Res(), nn.ReLU(), Up(C, C // 2), nn.ReLU(), Up(C // 2, 3))
books = nn.ParameterList([nn.Parameter(torch.randn(M ** (i + 1), D) * 0.1) for i in range(N)])
params = list(enc.parameters()) + list(dec.parameters()) + list(books.parameters())
opt = torch.optim.Adam(params, lr=3e-4)


def step(x):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        z = enc(x - 0.5)
    z = z.float()
    zf = z.permute(0, 2, 3, 1).reshape(-1, D)
    xi, parent = zf, torch.zeros(zf.shape[0], dtype=torch.long)
    cb = com = 0
    es = []
    for i in range(N):
        table = books[i]
        res = xi.detach()
        with torch.no_grad():
            g = table.shape[0] // M
            if g == 1:
                local = (table.pow(2).sum(1)[None] - 2 * res @ table.t()).argmin(1)
            else:
                cand = table.view(g, M, D).index_select(0, parent)
                norms = table.pow(2).sum(1).view(g, M).index_select(0, parent)
                local = (norms - 2 * torch.bmm(cand, res.unsqueeze(2)).squeeze(2)).argmin(1)
        glob = parent * M + local if i else local
        e = table.index_select(0, glob)
        cb = cb + F.mse_loss(e, res)
        com = com + 0.25 * F.mse_loss(xi, e.detach())
        es.append(e)
        xi = xi - e
        parent = glob
    ec = sum(es)
    cb = cb + F.mse_loss(ec, zf.detach())
    com = com + 0.25 * F.mse_loss(zf, ec.detach())
    q = zf + (ec - zf).detach()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = dec(q.view(z.shape[0], z.shape[2], z.shape[3], D).permute(0, 3, 1, 2))
    y = y.float() + 0.5
    loss = F.mse_loss(y, x) + cb + com
    opt.zero_grad()
    loss.backward()
    opt.step()


data = torch.randint(0, 256, (batch * 8, 3, 32, 32), dtype=torch.uint8)
for i in range(5):
    step(data[:batch].float() / 255)
t = time.perf_counter()
for i in range(steps):
    j = (i % 8) * batch
    step(data[j:j + batch].float() / 255)
dt = time.perf_counter() - t
print(json.dumps({"images_per_s": steps * batch / dt, "ms_per_step": 1000 * dt / steps,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
