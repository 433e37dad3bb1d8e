#!/usr/bin/python3
"""Tables and plot of bench/mnist-study.sh from its run directories.

Usage: mnist_study_report.py OUT DOCS
Reads OUT/<run>/{eval.json,info.json,heldout-*.json,train_seconds.txt,model.hrvqm.log.jsonl,
command.txt} and writes DOCS/mnist-study.md, DOCS/mnist-study.json, DOCS/mnist-heldout.png.
Runs that are not finished appear in the "not finished" list with their last held-out point.
A finished run whose directory is gone (another machine, a fresh checkout) is kept from the
previous DOCS/mnist-study.json and marked so; its command reruns it.
"""
import glob
import json
import math
import os
import re
import sys

out, docs = sys.argv[1], sys.argv[2]
NAMES = {
    "hr": "HR-VQVAE (n=3, m=8)",
    "vq": "VQ-VAE (K=512)",
    "vq2": "VQ-VAE-2 (K=512 top and bottom)",
    "rvq": "flat residual VQ (3x8)",
    "hr5": "HR-VQVAE (n=5, m=8)",
    "hr16": "HR-VQVAE (n=3, m=16)",
    "vq4096": "VQ-VAE (K=4096)",
    "vq2k45": "VQ-VAE-2 (K=45 top and bottom)",
}
COLORS = {"hr": "C0", "vq": "C1", "vq2": "C2", "rvq": "C3", "hr5": "C4", "vq2k45": "C5", "hr16": "C6", "vq4096": "C7"}


def load(path):
    with open(path) as f:
        return json.load(f)


runs = {}
carried = set()
previous = os.path.join(docs, "mnist-study.json")
if os.path.exists(previous):
    for rid, r in load(previous).items():
        if r.get("done"):
            runs[rid] = r
            carried.add(rid)
for d in sorted(glob.glob(os.path.join(out, "*-*-s*"))):
    rid = os.path.basename(d)
    m = re.fullmatch(r"([a-z0-9]+)-(\d+)-s(\d+)", rid)
    if not m or m.group(1) not in NAMES:
        continue
    r = {"id": rid, "quantizer": m.group(1), "steps": int(m.group(2)), "seed": int(m.group(3))}
    if os.path.exists(os.path.join(d, "command.txt")):
        r["command"] = "hrvq --threads 1 " + open(os.path.join(d, "command.txt")).read().strip()
    held = []
    for p in glob.glob(os.path.join(d, "heldout-*.json")):
        step = int(re.search(r"heldout-(\d+)\.json$", p).group(1))
        held.append((step, load(p)["mse"]))
    secs = 0.0
    if os.path.exists(os.path.join(d, "train_seconds.txt")):
        for line in open(os.path.join(d, "train_seconds.txt")):
            secs += float(line.split()[2])
    r["train_seconds"] = round(secs, 1)
    log = os.path.join(d, "model.hrvqm.log.jsonl")
    if os.path.exists(log):
        rows = [json.loads(l) for l in open(log) if l.strip()]
        r["train_batch_mse"] = [(x["step"], x["mse"]) for x in rows]
    if os.path.exists(os.path.join(d, "eval.json")):
        e = load(os.path.join(d, "eval.json"))
        info = load(os.path.join(d, "info.json"))
        held.append((r["steps"], e["mse"]))
        # Spatial latent positions: hr/rvq layers (and groups) share one grid; vq2's top and
        # bottom maps are two grids.
        grids = [int(a) * int(b) for a, b in (g.split("x") for g in info["latent_grid"])]
        positions = sum(grids) if info["quantizer"] == "vq2" else grids[0]
        r.update({
            "done": True, "mse": e["mse"], "psnr": e["psnr"], "mse_by_layers": e["mse_by_layers"],
            "codes_used": e["codes_used"], "codes": e["codes"], "perplexity": e["perplexity"],
            "latent_positions": positions, "latent_grid": info["latent_grid"],
            "raw_bits_per_image": e["raw_bits_per_image"],
            "rans_payload_bits": e["payload_bits_by_layers"][-1],
            "rans_file_bits": e["file_bits_by_layers"][-1],
            "parameters": info["parameters"], "fingerprint": info["fingerprint"],
        })
        ctx = os.path.join(d, "eval-ctx.json")
        if os.path.exists(ctx):
            c = load(ctx)
            r["rans_ctx_payload_bits"] = c["payload_bits_by_layers"][-1]
            r["rans_ctx_file_bits"] = c["file_bits_by_layers"][-1]
    else:
        r["done"] = False
    r["heldout_mse"] = sorted(held)
    if rid in carried and not r["done"]:
        continue  # a rerun in progress does not hide the finished result
    carried.discard(rid)
    runs[rid] = r


def fmt_time(s):
    s = int(round(s))
    return f"{s // 60}m{s % 60:02d}s"


def row(r):
    used = ", ".join(f"{u}/{c}" for u, c in zip(r["codes_used"], r["codes"]))
    ppl = ", ".join(f"{x:.1f}" for x in r["perplexity"])
    mbl = ", ".join(f"{x:.5f}" for x in r["mse_by_layers"])
    ctx = f"{r['rans_ctx_payload_bits']:.0f}" if "rans_ctx_payload_bits" in r else "n/a (K > 256)"
    return (f"| {NAMES[r['quantizer']]} | {r['steps']} | {r['seed']} | {r['mse']:.5f} | {r['psnr']:.2f} | {mbl} | {used} | "
            f"{ppl} | {r['latent_positions']} | {r['raw_bits_per_image']:.0f} | {r['rans_payload_bits']:.0f} | {ctx} "
            f"| {r['parameters']:,} | {fmt_time(r['train_seconds'])} |")


HEAD = ("| model | steps | seed | held-out MSE | PSNR (dB) | MSE after each layer | codes used per layer | perplexity "
        "| latent positions | raw index bits/image | coded bits/image, static rANS | coded bits/image, rans-ctx | parameters | train time |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")

md = ["# MNIST study (bench/mnist-study.sh)", "",
      "Real MNIST test file: images 0-7999 train, 8000-9999 held out. Every run: the mnist preset "
      "encoder/decoder, batch 64, Adam from 1e-3 with the cosine schedule to 1e-5, dead-code reseeding after "
      "200 steps, one compute thread on a shared 2-core machine (train times are wall-clock, niced).",
      "Coded bits: the index payload per image from `hrvq eval recon --bits`, with the static per-parent "
      "rANS coder (`--coder rans`, any codebook size) and with the codec's default rans-ctx (at most 256 codes "
      "per codebook). A whole .hrvq file adds its header to that (file bits are in mnist-study.json).",
      "Train time: wall clock of the training segments (startup included, evaluations excluded).", ""]


def table(title, ids, note=None):
    rs = [runs[i] for i in ids if i in runs and runs[i]["done"]]
    if not rs:
        return
    md.extend([f"## {title}", ""])
    if note:
        md.extend([note, ""])
    md.append(HEAD)
    md.extend(row(r) for r in rs)
    md.append("")


table("The four quantizers at 20,000 steps", [f"{q}-20000-s1" for q in ["hr", "vq", "vq2", "rvq"]])
table("Equal bit budgets", ["hr-20000-s1", "hr5-20000-s1", "vq2-20000-s1", "vq2k45-20000-s1"],
      "VQ-VAE-2 has 4x4 + 8x8 = 80 latent positions per 28x28 image (the image is padded to 32 for its extra "
      "stride), the others 7x7 = 49. HR n=5 m=8 (15 bits x 49 = 735) is at VQ-VAE-2's 720 raw bits; VQ-VAE-2 "
      "with K=45 (80 x 5.49 = 439) is at HR n=3 m=8's 441.")
table("Codebook growth", ["vq-20000-s1", "vq4096-20000-s1", "hr-20000-s1", "hr16-20000-s1", "hr5-20000-s1"])

# Convergence: the same configuration at N and 2N steps (each its own cosine schedule).
conv = []
for r in runs.values():
    if r["seed"] != 1 or not r["done"]:
        continue
    d = runs.get(f"{r['quantizer']}-{2 * r['steps']}-s1")
    if d and d["done"]:
        conv.append((r, d))
if conv:
    md.extend(["## Convergence: held-out MSE when the steps double", "",
               "Each row: two separate runs, each with its own full cosine schedule. Issue 9's criterion for "
               "converged: the MSE improves by less than 2%.", "",
               "| model | steps N | MSE at N | MSE at 2N | change |", "|---|---|---|---|---|"])
    for a, b in sorted(conv, key=lambda p: (p[0]["quantizer"], p[0]["steps"])):
        ch = (b["mse"] - a["mse"]) / a["mse"] * 100
        md.append(f"| {NAMES[a['quantizer']]} | {a['steps']} | {a['mse']:.5f} | {b['mse']:.5f} | {ch:+.1f}% |")
    md.append("")

# Seeds: mean and spread over every seed of a 20,000-step configuration with more than one.
groups = {}
for r in runs.values():
    if r["done"] and r["steps"] == 20000:
        groups.setdefault(r["quantizer"], []).append(r)
multi = {q: rs for q, rs in groups.items() if len(rs) > 1}
if multi:
    md.extend(["## Seeds (20,000 steps)", "", "| model | seeds | held-out MSE per seed | mean | spread (max-min) |",
               "|---|---|---|---|---|"])
    for q, rs in sorted(multi.items()):
        rs.sort(key=lambda r: r["seed"])
        v = [r["mse"] for r in rs]
        md.append(f"| {NAMES[q]} | {', '.join(str(r['seed']) for r in rs)} | {', '.join(f'{x:.5f}' for x in v)} | "
                  f"{sum(v) / len(v):.5f} | {max(v) - min(v):.5f} |")
    md.append("")

unfinished = [r for r in runs.values() if not r["done"]]
if unfinished:
    md.extend(["## Not finished when this report was written", ""])
    for r in unfinished:
        last = r["heldout_mse"][-1] if r["heldout_mse"] else None
        md.append(f"- {r['id']}: " + (f"held-out MSE {last[1]:.5f} at step {last[0]}" if last else "no checkpoint yet"))
    md.append("")

if carried:
    md.extend(["Kept from the previous report (their run directories were not on the machine that wrote this "
               "one; the commands below rerun them): " + ", ".join(sorted(carried)) + ".", ""])
md.extend(["## Commands", ""] + [f"- {r['id']}: `{r['command']}`" for r in runs.values() if "command" in r] + [""])

os.makedirs(docs, exist_ok=True)
with open(os.path.join(docs, "mnist-study.md"), "w") as f:
    f.write("\n".join(md))
with open(os.path.join(docs, "mnist-study.json"), "w") as f:
    json.dump(runs, f, indent=1)
print("\n".join(md))

# Plot: the 20,000-step seed-1 runs of the four (and any other 20k seed-1 run).
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
for q in ["hr", "vq", "vq2", "rvq", "hr5", "vq2k45"]:
    r = runs.get(f"{q}-20000-s1")
    if not r:
        continue
    c = COLORS[q]
    if r["heldout_mse"]:
        xs, ys = zip(*r["heldout_mse"])
        ax.plot(xs, ys, "o-", color=c, ms=4, lw=1.6, label=f"{NAMES[q]}: held-out")
    if r.get("train_batch_mse"):
        xs, ys = zip(*r["train_batch_mse"])
        ax.plot(xs, ys, "--", color=c, lw=0.8, alpha=0.7)
    r10 = runs.get(f"{q}-10000-s1")
    if r10 and r10["done"]:
        ax.plot([r10["steps"]], [r10["mse"]], "s", mfc="none", color=c, ms=8)
ax.set_yscale("log")
ax.set_xlabel("training step (batch 64)")
ax.set_ylabel("MSE (pixels in [0, 1])")
ax.set_title("MNIST, 20,000-step cosine runs\n"
             "solid: held-out MSE (8000:10000) of the checkpoint at that step; dashed: training-batch MSE, "
             "mean of the last 500 steps;\nhollow square: held-out MSE of a separate 10,000-step run", fontsize=8)
ax.grid(True, which="both", alpha=0.3)
ax.set_ylim(top=0.02)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(docs, "mnist-heldout.png"))
