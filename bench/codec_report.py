#!/usr/bin/env python3
"""Combines codec_bench's hrvq result and bench/peers.py's JPEG/WebP/AVIF result into the
JSON and markdown report bench/codec-bsds.sh writes (OUT_DIR/codec-bsds.json and .md).

Every codec is one curve of (bpp, mean per-image PSNR, mean per-image MS-SSIM) points:
hrvq one per index-map prefix k, the others one per quality setting. "At x bpp" values
are read off each codec's own curve, piecewise-linearly in log(bpp) (n/a outside its
measured range); BD-rates are Bjøntegaard's (bench/bd_rate.py).

Usage: codec_report.py --hrvq HRVQ.json --peers PEERS.json --out-dir DIR --model M
                       [--cores N] [--uptime TEXT] [--hrvq-reused FILE] [--peers-reused FILE]
                       [--command TEXT] [--targets "0.25 0.5 1 1.5"]
"""
import argparse
import copy
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bd_rate as bd  # noqa: E402

ORDER = ["hrvq", "jpeg", "webp", "avif"]


def ms_db(x):
    """MS-SSIM in dB: -10 log10(1 - MS-SSIM); None when unknown or exactly 1."""
    if x is None or not x < 1:
        return None
    return -10 * math.log10(1 - x)


def from_db(d):
    return None if d is None else 1 - 10 ** (-d / 10)


def f(v, d=4, signed=False):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:+.{d}f}" if signed else f"{v:.{d}f}"


def pct(v):
    return "n/a" if v is None else f"{v:+.1f}%"


def load(path, key):
    try:
        d = json.load(open(path))
    except (OSError, ValueError) as e:
        sys.exit(f"codec_report: {path}: {e}")
    return d.get(key, d) if isinstance(d, dict) else d


def hrvq_coder(hrvq):
    coders = list(hrvq["per_layers"][0]["bpp"])
    return "rans-ctx" if "rans-ctx" in coders else ("rans" if "rans" in coders else coders[0])


def curves_of(hrvq, peers):
    coder = hrvq_coder(hrvq)
    curves = {"hrvq": {"name": "hrvq", "points": []}}
    for r in hrvq["per_layers"]:
        ms = r.get("ms_ssim_mean")
        curves["hrvq"]["points"].append({"label": f"k={r['k']}", "k": r["k"], "bpp": r["bpp"][coder],
                                         "psnr": r["psnr_mean"], "ms_ssim": ms, "ms_ssim_db": ms_db(ms)})
    for c, d in peers["codecs"].items():
        pts = [{"label": s["label"], "setting": s["setting"], "bpp": s["bpp"], "psnr": s["psnr_mean"],
                "ms_ssim": s["ms_ssim_mean"], "ms_ssim_db": ms_db(s["ms_ssim_mean"])} for s in d["settings"]]
        curves[c] = {"name": d["name"], "points": sorted(pts, key=lambda p: p["bpp"])}
    # hrvq, JPEG, WebP, AVIF first, anything else after them.
    return coder, {c: curves[c] for c in sorted(curves, key=lambda c: (ORDER + [c]).index(c))}


def read_off(curve, key, bpp):
    pts = [p for p in curve["points"] if p[key] is not None]
    return bd.value_at([p["bpp"] for p in pts], [p[key] for p in pts], bpp)


def diff(a, b):
    return None if a is None or b is None else a - b


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hrvq", required=True)
    p.add_argument("--peers", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--cores", default="?")
    p.add_argument("--uptime", default="")
    p.add_argument("--hrvq-reused", default="")
    p.add_argument("--peers-reused", default="")
    p.add_argument("--command", default="bench/codec-bsds.sh")
    p.add_argument("--targets", default="0.25 0.5 1 1.5")
    a = p.parse_args()

    hrvq = load(a.hrvq, "hrvq")
    peers = copy.deepcopy(load(a.peers, "peers"))
    if "codecs" not in peers:
        sys.exit(f"codec_report: {a.peers}: not a bench/peers.py result")
    if peers["images"] != hrvq["images"] or abs(peers["pixels"] - hrvq["pixels"]) > 0.5:
        sys.exit(f"codec_report: the peers were measured on {peers['images']} images ({peers['pixels']} pixels), "
                 f"hrvq on {hrvq['images']} ({hrvq['pixels']:.0f}): rerun one of them (LIMIT, PEERS_RESULT)")
    for d in peers["codecs"].values():
        for s in d["settings"]:
            s.pop("per_image", None)  # kept in the peers cache only

    coder, curves = curves_of(hrvq, peers)
    targets = [float(t) for t in a.targets.split()]

    summary = []
    for t in targets:
        row = {"bpp": t, "psnr": {}, "ms_ssim": {}, "ms_ssim_db": {}}
        for c, cv in curves.items():
            row["psnr"][c] = read_off(cv, "psnr", t)
            row["ms_ssim_db"][c] = read_off(cv, "ms_ssim_db", t)
            row["ms_ssim"][c] = from_db(row["ms_ssim_db"][c])
        for other in ("jpeg", "webp", "avif"):
            row[f"hrvq_minus_{other}_psnr_db"] = diff(row["psnr"].get("hrvq"), row["psnr"].get(other))
            row[f"hrvq_minus_{other}_ms_ssim_db"] = diff(row["ms_ssim_db"].get("hrvq"), row["ms_ssim_db"].get(other))
        summary.append(row)

    def pts(c, key):
        return [(p["bpp"], p[key]) for p in curves[c]["points"] if p[key] is not None]

    bds = []
    for test, anchor in (("hrvq", "jpeg"), ("webp", "jpeg"), ("avif", "jpeg"), ("hrvq", "webp"), ("hrvq", "avif")):
        if test not in curves or anchor not in curves:
            continue
        r, rr = bd.bd_rate(pts(anchor, "psnr"), pts(test, "psnr"), with_range=True)
        rp = bd.bd_rate(pts(anchor, "psnr"), pts(test, "psnr"), "pchip")
        q, qr = bd.bd_quality(pts(anchor, "psnr"), pts(test, "psnr"), with_range=True)
        m, mr = bd.bd_rate(pts(anchor, "ms_ssim_db"), pts(test, "ms_ssim_db"), with_range=True)
        mp = bd.bd_rate(pts(anchor, "ms_ssim_db"), pts(test, "ms_ssim_db"), "pchip")
        bds.append({"test": test, "anchor": anchor, "bd_rate_psnr_pct": r, "psnr_range_db": rr,
                    "bd_rate_psnr_pchip_pct": rp, "bd_psnr_db": q, "bd_psnr_bpp_range": qr,
                    "bd_rate_ms_ssim_pct": m, "ms_ssim_db_range": mr, "bd_rate_ms_ssim_pchip_pct": mp})

    # Speed: one figure per codec and direction over all its settings (Σ pixels / Σ s).
    P = hrvq["pixels"]
    speed = {}
    enc = hrvq["encode"][coder]
    dec_s = [r["decode_s"] for r in hrvq["per_layers"]]
    speed["hrvq"] = {"encode_mp_per_s": enc["mp_per_s"], "decode_mp_per_s": len(dec_s) * P / 1e6 / sum(dec_s),
                     "decode_mp_per_s_range": [min(r["decode_mp_per_s"] for r in hrvq["per_layers"]),
                                               max(r["decode_mp_per_s"] for r in hrvq["per_layers"])],
                     "encode_mp_per_s_range": [enc["mp_per_s"], enc["mp_per_s"]]}
    for c, d in peers["codecs"].items():
        ss = d["settings"]
        speed[c] = {f"{k}_mp_per_s": len(ss) * P / 1e6 / sum(s[k]["wall_s"] for s in ss) for k in ("encode", "decode")}
        for k in ("encode", "decode"):
            speed[c][f"{k}_mp_per_s_range"] = [min(s[k]["mp_per_s"] for s in ss), max(s[k]["mp_per_s"] for s in ss)]

    # hrvq's prefixes against every other codec at the same rate (and, for JPEG, per coder
    # as the earlier report had it).
    per_k = []
    for pnt in curves["hrvq"]["points"]:
        e = {"k": pnt["k"], "bpp": pnt["bpp"], "hrvq_psnr": pnt["psnr"], "hrvq_ms_ssim": pnt["ms_ssim"]}
        for c in curves:
            if c == "hrvq":
                continue
            e[f"{c}_psnr"] = read_off(curves[c], "psnr", pnt["bpp"])
            e[f"{c}_ms_ssim_db"] = read_off(curves[c], "ms_ssim_db", pnt["bpp"])
            e[f"hrvq_minus_{c}_psnr_db"] = diff(pnt["psnr"], e[f"{c}_psnr"])
        per_k.append(e)
    by_coder = {}
    if "jpeg" in curves:
        for cd in hrvq["per_layers"][0]["bpp"]:
            if cd == "raw":
                continue
            by_coder[cd] = []
            for r in hrvq["per_layers"]:
                j = read_off(curves["jpeg"], "psnr", r["bpp"][cd])
                by_coder[cd].append({"k": r["k"], "bpp": r["bpp"][cd], "hrvq_psnr": r["psnr_mean"], "jpeg_psnr": j,
                                     "delta_db": diff(r["psnr_mean"], j)})

    result = {"model": a.model, "cores": a.cores, "load_at_run": a.uptime, "command": a.command,
              "hrvq_reused_from": a.hrvq_reused or None, "peers_reused_from": a.peers_reused or None,
              "hrvq": hrvq, "peers": peers, "jpeg": peers["codecs"].get("jpeg"),
              "curves": curves,
              "definitions": {
                  "bpp": "whole file bits / image pixels, summed over the images",
                  "psnr": "mean over images of per-image PSNR, 8-bit RGB, against the original JPEG decoded by djpeg -rgb",
                  "ms_ssim": "mean over images of per-image MS-SSIM (include/hrvq/ms_ssim.hpp, pytorch_msssim "
                             "definition, RGB); ms_ssim_db = -10 log10(1 - mean MS-SSIM)",
                  "read_off": "piecewise-linear in log(bpp) between a codec's own points; null outside its range",
                  "bd_rate": "Bjøntegaard: cubic least-squares fit of ln(bpp) against quality per curve, mean "
                             "difference over the common quality range, exp(d) - 1; negative = fewer bits than the "
                             "anchor; *_pchip = the same with monotone piecewise-cubic interpolation"},
              "summary": {"coder": coder, "targets": summary}, "bd": bds, "speed": speed,
              "comparison": {"coder": coder, "metric": "mean per-image PSNR, RGB", "points": per_k,
                             "by_coder": by_coder}}
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "codec-bsds.json"), "w") as fh:
        json.dump(result, fh, indent=1)
    with open(os.path.join(a.out_dir, "codec-bsds.md"), "w") as fh:
        fh.write(markdown(a, hrvq, peers, coder, curves, summary, bds, speed, per_k))


def markdown(a, hrvq, peers, coder, curves, summary, bds, speed, per_k):
    md = []
    w = md.append
    names = {c: curves[c]["name"] for c in curves}
    others = [c for c in curves if c != "hrvq"]
    n, groups = hrvq["layers"], hrvq.get("groups", 1)
    P = hrvq["pixels"]
    header_bytes = hrvq.get("header_bytes")
    w(f"# hrvq vs {', '.join(names[c] for c in others)} on BSDS500 test\n")
    depth = f" ({groups} channel groups × {n // groups} layers)" if groups > 1 else ""
    w(f"Generated by `{a.command}`: {hrvq['images']} images, {P / 1e6:.2f} MP, RGB 8-bit. Model `{a.model}`: "
      f"{hrvq['quantizer']} quantizer, n={n} index maps{depth}, m={hrvq['codes']} codes; hrvq's coder {coder}. "
      "bpp = whole-file bits / image pixels; PSNR and MS-SSIM are means over the images of per-image values, "
      "8-bit RGB, against the original JPEG decoded by `djpeg -rgb`, all measured by the same code "
      "(hrvq's `ms_ssim`/`measure_quality`: in codec_bench for hrvq, via `hrvq eval image` for the others). "
      "MS-SSIM (dB) = −10·log10(1 − MS-SSIM). "
      f"Machine: {a.cores} cores, `{a.uptime}` when it finished — timings are only meaningful when it was "
      "otherwise idle."
      + (f" hrvq's numbers were taken from an earlier run ({a.hrvq_reused})." if a.hrvq_reused else "")
      + (f" The other codecs' numbers were taken from an earlier run ({a.peers_reused})." if a.peers_reused else "")
      + "\n")
    w("![PSNR and MS-SSIM vs bpp](rd-bsds.png)\n")

    w("## Summary\n")
    w("Each codec's quality at a given rate is read off its own curve, piecewise-linearly in log(bpp) between "
      "its measured points; n/a where the rate is outside the codec's measured range.\n")
    w("### PSNR (dB) at fixed rates\n")
    diffs = [c for c in ("jpeg", "webp", "avif") if c in curves]
    w("| bpp | " + " | ".join(names[c] for c in curves) + " | " +
      " | ".join(f"hrvq − {names[c]}" for c in diffs) + " |")
    w("|---|" + "---|" * (len(curves) + len(diffs)))
    for r in summary:
        w(f"| {r['bpp']:g} | " + " | ".join(f(r["psnr"][c], 2) for c in curves) + " | " +
          " | ".join(f(r[f"hrvq_minus_{c}_psnr_db"], 2, True) for c in diffs) + " |")
    w("")
    w("### MS-SSIM at fixed rates (in brackets: dB)\n")
    w("| bpp | " + " | ".join(names[c] for c in curves) + " | " +
      " | ".join(f"hrvq − {names[c]} (dB)" for c in diffs) + " |")
    w("|---|" + "---|" * (len(curves) + len(diffs)))
    for r in summary:
        cells = []
        for c in curves:
            v = r["ms_ssim"][c]
            cells.append("n/a" if v is None else f"{v:.4f} ({r['ms_ssim_db'][c]:.2f})")
        w(f"| {r['bpp']:g} | " + " | ".join(cells) + " | " +
          " | ".join(f(r[f"hrvq_minus_{c}_ms_ssim_db"], 2, True) for c in diffs) + " |")
    w("")
    w("### BD-rate\n")
    w("Bjøntegaard delta rate (bench/bd_rate.py): per curve a cubic least-squares fit of ln(bpp) against the "
      "quality, averaged over the quality range both curves cover; the rate change at equal quality, negative = "
      "fewer bits than the anchor. \"pchip\" is the same with monotone piecewise-cubic interpolation through the "
      "points, a cross-check (the two disagree when a cubic does not fit a long curve well). BD-PSNR is the "
      "mean PSNR difference at equal rate over the common rate range.\n")
    w("| codec | anchor | BD-rate (PSNR) | pchip | over PSNR | BD-PSNR | over bpp | BD-rate (MS-SSIM dB) | pchip | "
      "over MS-SSIM dB |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    rng = lambda r, d=2, unit=" dB": "n/a" if r is None else f"{r[0]:.{d}f}..{r[1]:.{d}f}{unit}"
    db = lambda v: "n/a" if v is None else f"{v:+.2f} dB"
    for b in bds:
        w(f"| {names[b['test']]} | {names[b['anchor']]} | {pct(b['bd_rate_psnr_pct'])} | "
          f"{pct(b['bd_rate_psnr_pchip_pct'])} | {rng(b['psnr_range_db'])} | {db(b['bd_psnr_db'])} | "
          f"{rng(b['bd_psnr_bpp_range'], 3, '')} | {pct(b['bd_rate_ms_ssim_pct'])} | "
          f"{pct(b['bd_rate_ms_ssim_pchip_pct'])} | {rng(b['ms_ssim_db_range'])} |")
    w("")
    w("### Speed\n")
    w("Megapixels per second over all of a codec's settings (Σ pixels / Σ wall time; in brackets the slowest and "
      "fastest setting). hrvq: one process, image in memory to bytes and back, LibTorch on "
      f"{hrvq['torch_threads']} thread{'s' if hrvq['torch_threads'] != 1 else ''} (CPU), model loading excluded; encode timed writing all maps (the network "
      "dominates, so it is the same for every k). The others: one encoder/decoder process per image and setting, "
      "file to file, process start included, single-threaded (cjpeg, cwebp, avifenc and avifdec default to one "
      "thread).\n")
    w("| codec | encode MP/s | decode MP/s |")
    w("|---|---|---|")
    for c in curves:
        s = speed[c]
        er, dr = s["encode_mp_per_s_range"], s["decode_mp_per_s_range"]
        span = lambda r: "" if f"{r[0]:.3g}" == f"{r[1]:.3g}" else f" ({r[0]:.3g}..{r[1]:.3g})"
        w(f"| {names[c]} | {s['encode_mp_per_s']:.3g}{span(er)} | {s['decode_mp_per_s']:.3g}{span(dr)} |")
    w("")

    w("## hrvq at each prefix against the others at the same rate\n")
    w(f"k = index maps decoded (`--layers k`; `-q Q` writes k = 1 + round(Q/100·(n−1))); bpp with {coder}. "
      "The others' PSNR read off their curves at hrvq's rate.\n")
    w("| k | bpp | hrvq PSNR | hrvq MS-SSIM | " + " | ".join(f"{names[c]} PSNR" for c in others) + " | " +
      " | ".join(f"hrvq − {names[c]}" for c in others) + " |")
    w("|---|---|---|---|" + "---|" * (2 * len(others)))
    for e in per_k:
        w(f"| {e['k']} | {f(e['bpp'])} | {f(e['hrvq_psnr'], 2)} | {f(e['hrvq_ms_ssim'], 4)} | " +
          " | ".join(f(e[f"{c}_psnr"], 2) for c in others) + " | " +
          " | ".join(f(e[f"hrvq_minus_{c}_psnr_db"], 2, True) for c in others) + " |")
    w("")

    rows = hrvq["per_layers"]
    coders = list(rows[0]["bpp"])
    w("## hrvq per prefix\n")
    hb = f"{header_bytes}-byte header" if header_bytes else "header"
    w("CE = cross-entropy of the index maps under the model's stored code counts with the coder's contexts "
      "(quantized: the 16-bit tables rANS uses; exact: add-one smoothed counts). rans overhead = static rANS payload "
      f"over exact CE. Payload = without the {hb} and {hrvq.get('segment_header_bytes', 8)}-byte segment headers. "
      "n·log2 m = uncoded indices.\n")
    head = "| k | " + " | ".join(f"{c} bpp" for c in coders) + " | " + " | ".join(f"{c} payload" for c in coders)
    w(head + " | n·log2 m | CE quantized | CE exact | rans overhead | PSNR mean | PSNR of mean MSE | MS-SSIM mean |")
    w("|" + "---|" * (1 + 2 * len(coders) + 7))
    for r in rows:
        ov = r.get("rans_overhead_pct")
        w(f"| {r['k']} | " + " | ".join(f(r["bpp"][c]) for c in coders) + " | " +
          " | ".join(f(r["payload_bpp"][c]) for c in coders) +
          f" | {f(r['ideal_raw_bpp'])} | {f(r['ce_bpp'])} | {f(r['ce_exact_bpp'])} | "
          f"{'n/a' if ov is None else '%+.2f%%' % ov} | "
          f"{f(r['psnr_mean'], 3)} | {f(r['psnr_of_mean_mse'], 3)} | {f(r.get('ms_ssim_mean'), 5)} |")
    w("")
    for c in others:
        d = peers["codecs"][c]
        w(f"## {d['name']} ({d['tool']}; {d['chroma']})\n")
        if d.get("version"):
            w(f"Version: `{d['version']}`.\n")
        w(f"| {d['param']} | bpp | PSNR mean | PSNR of mean MSE | MS-SSIM mean | MS-SSIM dB (of mean) | "
          "encode MP/s | decode MP/s | encode s (CPU s) | decode s (CPU s) |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        for s in sorted(d["settings"], key=lambda s: s["bpp"]):
            e, dd = s["encode"], s["decode"]
            w(f"| {s['setting']} | {f(s['bpp'])} | {f(s['psnr_mean'], 3)} | {f(s['psnr_of_mean_mse'], 3)} | "
              f"{f(s['ms_ssim_mean'], 5)} | {f(ms_db(s['ms_ssim_mean']), 2)} | {e['mp_per_s']:.3g} | "
              f"{dd['mp_per_s']:.3g} | {e['process_s']:.2f} ({e['cpu_s']:.2f}) | "
              f"{dd['process_s']:.2f} ({dd['cpu_s']:.2f}) |")
        w("")

    w("## hrvq throughput\n")
    w("s = wall time of the step over all images.\n")
    w("| step | images/s | MP/s | s |")
    w("|---|---|---|---|")
    an = hrvq.get("analyze")
    if an:
        w(f"| analyze (network encoder only) | {an['images_per_s']:.2f} | {an['mp_per_s']:.3f} | {an['s']:.2f} |")
    for cd, e in hrvq["encode"].items():
        w(f"| encode, {cd}, all maps | {e['images_per_s']:.2f} | {e['mp_per_s']:.3f} | {e['s']:.2f} |")
    for cd, e in (hrvq.get("entropy_coding") or {}).items():
        w(f"| entropy coding only, {cd}, all maps | {e['images_per_s']:.1f} | {e['mp_per_s']:.2f} | {e['s']:.3f} |")
    for r in rows:
        w(f"| decode, {coders[0]}, --layers {r['k']} | {r['decode_images_per_s']:.2f} | {r['decode_mp_per_s']:.3f} | "
          f"{r['decode_s']:.2f} |")
    w("")

    sp = hrvq.get("spatial")
    if sp:
        w("## Would spatial context pay?\n")
        w(f"Empirical conditional entropy of each map's local codes, counts from {sp['train_images']} training images "
          f"(BSDS500 train + val), add-one smoothed as the coder does, evaluated on the test images (bits per pixel). "
          "\"model tables\" is what the static coder achieves with the model's stored counts; \"parent\" the same "
          "context with counts from these training images; left/above are the neighbours' local codes in the same "
          "map. In brackets: the same on the training images themselves (in-sample, optimistic).\n")
        w("| map | model tables | parent | parent+left | parent+left+above | change left | change left+above | "
          "contexts (p / p+l / p+l+a) |")
        w("|---|---|---|---|---|---|---|---|")
        tot = {k: 0.0 for k in ("parent", "parent_left", "parent_left_above")}
        tot_model = 0.0
        for l in sp["layers"]:
            p, pl, pla = (l[k]["test_bpp"] for k in ("parent", "parent_left", "parent_left_above"))
            for k in tot:
                tot[k] += l[k]["test_bpp"]
            tot_model += l["model_tables_bpp"] or 0
            w(f"| {l['layer']} | {f(l['model_tables_bpp'])} | {f(p)} ({f(l['parent']['train_bpp'])}) | "
              f"{f(pl)} ({f(l['parent_left']['train_bpp'])}) | {f(pla)} ({f(l['parent_left_above']['train_bpp'])}) | "
              f"{100 * (pl - p) / p:+.1f}% | {100 * (pla - p) / p:+.1f}% | "
              f"{l['parent']['contexts']} / {l['parent_left']['contexts']} / {l['parent_left_above']['contexts']} |")
        p, pl, pla = tot["parent"], tot["parent_left"], tot["parent_left_above"]
        w(f"| all | {f(tot_model)} | {f(p)} | {f(pl)} | {f(pla)} | {100 * (pl - p) / p:+.1f}% | "
          f"{100 * (pla - p) / p:+.1f}% | |")
        w("")
    return "\n".join(md)


if __name__ == "__main__":
    main()
