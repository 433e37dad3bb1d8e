#!/usr/bin/env python3
"""Bjøntegaard deltas and curve reading for rate-distortion curves, NumPy only.

bd_rate(anchor, test): the average rate difference of `test` against `anchor` at equal
quality, in percent (negative: `test` needs fewer bits). As in VCEG-M33 (Bjøntegaard
2001), each curve's log-rate is fitted as a cubic polynomial of the quality (least
squares when a curve has more than four points), both fits are integrated over the
quality range the two curves have in common, and the mean difference d of the natural
log-rates gives exp(d) - 1. `method="pchip"` replaces the polynomial by a monotone
piecewise-cubic Hermite interpolant through the points (the variant later VCEG/JVET
tools use), which cannot oscillate between points and so is a cross-check when a curve
has many points over a wide range.

bd_quality(anchor, test): the average quality difference at equal rate (BD-PSNR), the
same with the roles of log-rate and quality swapped.

value_at(rates, values, rate): a curve read off at one rate, interpolating piecewise-
linearly in log(rate) between measured points; None outside the measured range.

Curves are sequences of (rate, quality) points in any order; rates must be positive.

Run `bd_rate.py --selftest` to check all of this against curves whose answer is known.
"""
import math
import sys

import numpy as np


def _points(curve):
    pts = [(float(r), float(q)) for r, q in curve if r is not None and q is not None]
    pts = [(r, q) for r, q in pts if r > 0 and math.isfinite(r) and math.isfinite(q)]
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def _strictly_increasing(x, y):
    """Sorted by x, points with equal x merged (their y averaged)."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    ux, inverse = np.unique(x, return_inverse=True)
    uy = np.bincount(inverse, weights=y) / np.bincount(inverse)
    return ux, uy


def _pchip_slopes(x, y):
    """Fritsch-Carlson derivatives (as scipy.interpolate.PchipInterpolator)."""
    h = np.diff(x)
    delta = np.diff(y) / h
    n = len(x)
    d = np.zeros(n)
    if n == 2:
        d[:] = delta[0]
        return d
    for k in range(1, n - 1):
        if delta[k - 1] * delta[k] <= 0:
            d[k] = 0.0
        else:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])

    def end(h0, h1, m0, m1):
        s = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(s) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(s) > abs(3 * m0):
            return 3 * m0
        return s

    d[0] = end(h[0], h[1], delta[0], delta[1])
    d[-1] = end(h[-1], h[-2], delta[-1], delta[-2])
    return d


def _pchip_integral(x, y, lo, hi):
    """Integral from lo to hi (inside [x0, xn]) of the PCHIP interpolant through (x, y)."""
    d = _pchip_slopes(x, y)
    total = 0.0
    for k in range(len(x) - 1):
        a, b = max(lo, x[k]), min(hi, x[k + 1])
        if b <= a:
            continue
        h = x[k + 1] - x[k]
        # Hermite cubic in t = (x - x_k): y_k + d_k t + c2 t^2 + c3 t^3
        m = (y[k + 1] - y[k]) / h
        c2 = (3 * m - 2 * d[k] - d[k + 1]) / h
        c3 = (d[k] + d[k + 1] - 2 * m) / h ** 2
        prim = lambda t: y[k] * t + d[k] * t ** 2 / 2 + c2 * t ** 3 / 3 + c3 * t ** 4 / 4
        total += prim(b - x[k]) - prim(a - x[k])
    return total


def _mean_over(x, y, lo, hi, method):
    """Mean of the fitted y(x) over [lo, hi]."""
    if method == "cubic":
        p = np.polyint(np.polyfit(x, y, 3))
        return (np.polyval(p, hi) - np.polyval(p, lo)) / (hi - lo)
    if method == "pchip":
        xs, ys = _strictly_increasing(x, y)
        return _pchip_integral(xs, ys, lo, hi) / (hi - lo)
    raise ValueError(f"unknown method {method!r} (cubic, pchip)")


def _delta(ax, ay, tx, ty, method):
    """Mean of (test y - anchor y) over the common x range, or None; and that range."""
    need = 4 if method == "cubic" else 2
    if len(ax) < need or len(tx) < need:
        return None, None
    lo, hi = max(ax.min(), tx.min()), min(ax.max(), tx.max())
    if not hi > lo:
        return None, None
    return _mean_over(tx, ty, lo, hi, method) - _mean_over(ax, ay, lo, hi, method), (float(lo), float(hi))


def bd_rate(anchor, test, method="cubic", with_range=False):
    """Percent rate change of `test` over `anchor` at equal quality, or None without
    a common quality range (or fewer than 4 points on a curve for the cubic)."""
    ar, aq = _points(anchor)
    tr, tq = _points(test)
    d, rng = _delta(aq, np.log(ar), tq, np.log(tr), method)
    value = None if d is None else float((math.exp(d) - 1) * 100)
    return (value, rng) if with_range else value


def bd_quality(anchor, test, method="cubic", with_range=False):
    """Mean quality difference (test - anchor, e.g. dB) at equal rate, or None; the
    common range is returned as rates."""
    ar, aq = _points(anchor)
    tr, tq = _points(test)
    d, rng = _delta(np.log(ar), aq, np.log(tr), tq, method)
    value = None if d is None else float(d)
    rng = None if rng is None else (math.exp(rng[0]), math.exp(rng[1]))
    return (value, rng) if with_range else value


def value_at(rates, values, rate):
    """values read off at `rate`, piecewise-linear in log(rate); None outside the curve's
    rate range or when it has no usable points."""
    r, v = _points(zip(rates, values))
    if len(r) == 0:
        return None
    r, v = _strictly_increasing(r, v)
    if not r[0] <= rate <= r[-1]:
        return None
    return float(np.interp(math.log(rate), np.log(r), v))


# ---------------------------------------------------------------- self-check

def selftest():
    failures = []

    def check(what, got, want, tol):
        ok = got is not None and want is not None and abs(got - want) <= tol
        ok = ok or (got is None and want is None)
        print(f"{'ok  ' if ok else 'FAIL'} {what}: got {got}, want {want} (tolerance {tol})")
        if not ok:
            failures.append(what)

    # 1. Log-rate linear in PSNR, test uses 20% fewer bits everywhere: -20% by any method.
    r = np.logspace(np.log10(0.1), np.log10(2), 8)
    anchor = list(zip(r, 30 + 5 * np.log(r)))
    test = list(zip(0.8 * r, 30 + 5 * np.log(r)))
    check("constant ratio 0.8, cubic", bd_rate(anchor, test), -20.0, 1e-9)
    check("constant ratio 0.8, pchip", bd_rate(anchor, test, "pchip"), -20.0, 1e-9)
    check("reverse direction is 1/0.8 - 1", bd_rate(test, anchor), 25.0, 1e-9)
    check("a curve against itself", bd_rate(anchor, anchor), 0.0, 1e-12)

    # 2. Log-rate an arbitrary cubic in PSNR; test sampled at other PSNRs, 25% more bits.
    f = lambda p: -3 + 0.2 * (p - 30) + 0.01 * (p - 30) ** 2 + 0.001 * (p - 30) ** 3
    pa = np.linspace(25, 40, 6)
    pt = np.linspace(24, 38, 7)
    anchor = list(zip(np.exp(f(pa)), pa))
    test = list(zip(1.25 * np.exp(f(pt)), pt))
    value, rng = bd_rate(anchor, test, with_range=True)
    check("cubic log-rate, +25%, different samples", value, 25.0, 1e-8)
    check("common range low end", rng[0], 25.0, 1e-12)
    check("common range high end", rng[1], 38.0, 1e-12)
    check("same with pchip (approximate)", bd_rate(anchor, test, "pchip"), 25.0, 0.5)
    # Points given in any order, rates in other units: same answer.
    check("shuffled points", bd_rate(anchor[::-1], test[3:] + test[:3]), 25.0, 1e-8)

    # 3. Ratio growing with quality: ln r_test = ln r_anchor + 0.02 (p - 30); over the
    #    common range [25, 38] the mean log difference is 0.02 * (31.5 - 30).
    test = list(zip(np.exp(f(pt) + 0.02 * (pt - 30)), pt))
    check("ratio linear in PSNR", bd_rate(anchor, test), (math.exp(0.02 * 1.5) - 1) * 100, 1e-8)

    # 4. BD-PSNR: PSNR linear in log-rate, test 1.5 dB better at every rate.
    anchor = list(zip(r, 30 + 5 * np.log(r)))
    test = list(zip(r, 31.5 + 5 * np.log(r)))
    check("BD-PSNR +1.5 dB, cubic", bd_quality(anchor, test), 1.5, 1e-9)
    check("BD-PSNR +1.5 dB, pchip", bd_quality(anchor, test, "pchip"), 1.5, 1e-9)
    # Equivalent rate view: 1.5 dB at 5 dB per e-fold of rate is exp(-0.3) - 1.
    check("same curves as BD-rate", bd_rate(anchor, test), (math.exp(-1.5 / 5) - 1) * 100, 1e-9)

    # 5. No common range, too few points.
    check("disjoint PSNR ranges", bd_rate([(0.1, 20), (0.2, 21), (0.3, 22), (0.4, 23)],
                                          [(1, 30), (2, 31), (3, 32), (4, 33)]), None, 0)
    check("three points, cubic", bd_rate(anchor[:3], test[:3]), None, 0)

    # 6. Reading a curve: linear in log(rate).
    check("value_at midpoint in log rate", value_at([0.1, 1.0], [20, 30], math.sqrt(0.1)), 25.0, 1e-12)
    check("value_at a measured point", value_at([0.1, 1.0, 2.0], [20, 30, 33], 1.0), 30.0, 1e-12)
    check("value_at outside the range", value_at([0.1, 1.0], [20, 30], 1.5), None, 0)
    check("value_at unsorted input", value_at([1.0, 0.1], [30, 20], 0.5),
          20 + 10 * math.log(5) / math.log(10), 1e-12)

    # 7. The PCHIP integral over partial end intervals: exact for a straight line.
    x = np.array([0.0, 1.0, 3.0, 4.0])
    check("pchip integral of a line", _pchip_integral(x, 2 * x + 1, 0.5, 3.5), (3.5 ** 2 + 3.5) - (0.25 + 0.5), 1e-12)

    print("bd_rate self-test: " + ("all passed" if not failures else f"{len(failures)} FAILED"))
    return not failures


if __name__ == "__main__":
    if sys.argv[1:] == ["--selftest"]:
        sys.exit(0 if selftest() else 1)
    sys.exit(__doc__.strip() + "\n\nusage: bd_rate.py --selftest")
