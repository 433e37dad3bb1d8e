#!/usr/bin/env bash
# Would more context pay in rans-ctx? Adaptive code length (rans-ctx's count update, no
# model prior) of every index map of N BSDS500 validation photos under three context
# keys: (parent, left, above) as coded today; plus the co-located code of the previous
# channel group's same layer; and (parent, left, co-located) instead of above.
# Usage: bench/context-study.sh [N=25] [MODEL=models/photo.hrvqm]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-25}
MODEL=${2:-models/photo.hrvqm}
HRVQ=${HRVQ:-build/hrvq}
DATA=${DATA:-../shared/data/bsds500}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$HRVQ" -q encode -m "$MODEL" --coder raw -q 100 $(ls "$DATA"/val/*.jpg | sort | head -n "$N") -d "$TMP"
/usr/bin/python3 - "$TMP" <<'PY'
# Adaptive code length of each map under rans-ctx's rule (counts start uniform 1, +16 per symbol, halve above 4096;
# no model prior here, same for both variants) with key (parent, left, above) vs (parent, left, above, co-located
# code of the previous group's same layer) vs (parent, left, co-located) - measured, not coded.
import glob, math, struct, sys
from collections import defaultdict
def parse(path):
    b = open(path, 'rb').read()
    hl = b[6] | b[7] << 8
    gw, gh = struct.unpack_from('<HH', b, 24); m = struct.unpack_from('<H', b, 32)[0]
    L, k, G = b[34], b[35], b[36]
    pos = hl; maps = []
    rb = max(1, math.ceil(math.log2(m)))
    for j in range(k):
        n = struct.unpack_from('<I', b, pos)[0]; pay = b[pos + 8: pos + 8 + n]; pos += 8 + n
        bits = ''.join(f'{x:08b}' for x in pay)
        maps.append([int(bits[i * rb:(i + 1) * rb], 2) for i in range(gw * gh)])
    return maps, gw, gh, m, G
def cost(maps, W, H, m, G, variant):
    total = [0.0] * len(maps)
    parents = [[0] * (W * H) for _ in range(G)]
    for j, s in enumerate(maps):
        g = j % G
        par = parents[g] if j >= G else [0] * (W * H)
        tables = defaultdict(lambda: [1] * m)
        for q in range(W * H):
            x, y = q % W, q // W
            left = s[q - 1] if x > 0 else m
            above = s[q - W] if y > 0 else m
            co = maps[j - 1][q] if g > 0 else m
            key = (par[q], left, above) if variant == 0 else (par[q], left, above, co) if variant == 1 else (par[q], left, co)
            t = tables[key]; tot = sum(t)
            total[j] += -math.log2(t[s[q]] / tot)
            t[s[q]] += 16
            if sum(t) > 4096: tables[key] = [(c + 1) // 2 for c in t]
        parents[g] = [p * m + v for p, v in zip(par, s)]
    return total
res = [[0.0] * 16 for _ in range(3)]; px = 0
for f in sorted(glob.glob(sys.argv[1] + '/*.hrvq')):
    maps, W, H, m, G = parse(f)
    for v in range(3):
        c = cost(maps, W, H, m, G, v)
        for j, x in enumerate(c): res[v][j] += x
    px += W * H * 16
for v, name in enumerate(['parent,left,above', '+co-located prev group', 'parent,left,co-located']):
    print(f'{name:28s} total {sum(res[v]) / px:.4f} bpp  per map ' + ' '.join(f'{x / px:.3f}' for x in res[v]))
PY
