#!/usr/bin/env bash
# Issue 10's codec-speed target: hrvq's in-memory encode and decode (build/codec_bench)
# against the same network run by eager PyTorch as a user writes it
# (bench/codec_speed_pytorch.py: torch.nn modules, no_grad, same thread count), default
# memory format, with channels_last, and compiled with torch.jit (freeze +
# optimize_for_inference, how hrvq's frozen graphs are made). hrvq runs twice: its default
# frozen graphs and --eager (the eager modules, the reference path).
# Two networks: the bundled photo model and a cifar10-preset network (trained here for a
# few steps on random CIFAR-format data: speed does not depend on the weights), both
# measured on the same N BSDS500 test photos (481x321).
#
# Usage: bench/codec-speed.sh [N]      (N photos, default 24)
# Environment: ROUNDS (default 3) interleaved rounds; THREADS (default 2) torch threads
#   for every contender; HRVQ_BIN (default build) folder of hrvq and codec_bench (copy
#   them elsewhere first if the build folder is being rebuilt); DATA (default
#   ../shared/data/bsds500); CIFAR_STEPS (default 20); OUT_DIR (default docs): writes
#   codec-speed.json and codec-speed.md there; WORK_DIR keeps the intermediate files
#   there, and SUMMARY_ONLY=1 with the same WORK_DIR only summarizes the complete rounds
#   it holds (e.g. after an interrupted run; the report says how many rounds).
#
# Side by side: each round runs, for each model, codec_bench once and the PyTorch peer
# once per variant, one after the other, so a background job slows them alike; the
# table gives medians over the rounds. OPENBLAS_NUM_THREADS=1 for all (hrvq sets it
# itself). Before timing, both read the same pixels: the JPEGs are decoded once (PIL)
# to PNG and both sides read those PNGs.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-24}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
BIN=${HRVQ_BIN:-build}
DATA=${DATA:-../shared/data/bsds500}
CIFAR_STEPS=${CIFAR_STEPS:-20}
OUT_DIR=${OUT_DIR:-docs}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1
die() { echo "codec-speed: $*" >&2; exit 1; }
[ -x "$BIN/hrvq" ] && [ -x "$BIN/codec_bench" ] || die "$BIN/hrvq or $BIN/codec_bench missing (set HRVQ_BIN)"
[ -d "$DATA/test" ] || die "$DATA/test: missing (set DATA)"
if [ -n "${WORK_DIR:-}" ]; then  # kept: SUMMARY_ONLY=1 re-summarizes the rounds it holds
  TMP=$WORK_DIR
  mkdir -p "$TMP"
else
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
fi
mkdir -p "$OUT_DIR" "$TMP/png"

if [ -z "${SUMMARY_ONLY:-}" ]; then
# The photos, decoded once to PNG so that hrvq and PyTorch see identical pixels.
$PY - "$DATA/test" "$N" "$TMP/png" <<'EOF'
import glob, os, sys
from PIL import Image
paths = sorted(glob.glob(os.path.join(sys.argv[1], "*.jpg")))[:int(sys.argv[2])]
for p in paths:
    Image.open(p).convert("RGB").save(os.path.join(sys.argv[3], os.path.basename(p)[:-4] + ".png"), compress_level=1)
EOF
n_png=$(ls "$TMP/png" | wc -l)
[ "$n_png" -gt 0 ] || die "no photos"

# A cifar10-preset network: CIFAR-10 binary batch of random images, a few steps.
mkdir -p "$TMP/cifar"
$PY -c "
import os
with open('$TMP/cifar/data_batch_1.bin', 'wb') as f: f.write(os.urandom(512 * 3073))"
echo "codec-speed: training a cifar10-preset network for $CIFAR_STEPS steps" >&2
"$BIN/hrvq" -q --threads "$THREADS" train --preset cifar10 --data "$TMP/cifar" --steps "$CIFAR_STEPS" \
  --log-every 10 --checkpoint-every 100000 --count-images 64 --device cpu -o "$TMP/cifar10.hrvqm" \
  --log "$TMP/cifar.log" >/dev/null
MODELS=(photo cifar10)
declare -A MODEL_PATH=([photo]=models/photo.hrvqm [cifar10]="$TMP/cifar10.hrvqm")

# Same codes and pixels: hrvq's raw-coded maps of every photo, and hrvq's decoding of them.
for m in "${MODELS[@]}"; do
  layers=$($PY -c "
import sys; sys.path.insert(0, 'bench'); import hrvqm
c, _ = hrvqm.load(sys.argv[1], as_numpy=True); print(c['hrvq.layers'] * c.get('hrvq.groups', 1))" "${MODEL_PATH[$m]}")
  mkdir -p "$TMP/raw-$m" "$TMP/dec-$m"
  "$BIN/hrvq" -q --threads "$THREADS" encode -m "${MODEL_PATH[$m]}" --coder raw --layers "$layers" -f -d "$TMP/raw-$m" "$TMP"/png/*.png
  "$BIN/hrvq" -q --threads "$THREADS" decode -m "${MODEL_PATH[$m]}" -f -d "$TMP/dec-$m" "$TMP"/raw-$m/*.hrvq
done

# Interleaved rounds.
HRVQ_VARIANTS=(frozen eager glibc_malloc)
GLIBC_MALLOC=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824
PY_VARIANTS=(default channels_last jit jit_malloc)
start=$SECONDS
for r in $(seq 1 "$ROUNDS"); do
  for m in "${MODELS[@]}"; do
    for v in "${HRVQ_VARIANTS[@]}"; do
      echo "codec-speed: round $r/$ROUNDS, $m: hrvq $v" >&2
      flags=()
      [ "$v" = eager ] && flags+=(--eager)
      envs=()
      [ "$v" = glibc_malloc ] && envs+=(HRVQ_MALLOC=default)
      env "${envs[@]}" "$BIN/codec_bench" -m "${MODEL_PATH[$m]}" -i "$TMP/png" --threads "$THREADS" "${flags[@]}" \
        --json "$TMP/hrvq-$m-$v-$r.json" >/dev/null 2>"$TMP/hrvq-$m-$v-$r.log" ||
        { cat "$TMP/hrvq-$m-$v-$r.log" >&2; die "codec_bench failed"; }
    done
    for v in "${PY_VARIANTS[@]}"; do
      echo "codec-speed: round $r/$ROUNDS, $m: PyTorch $v" >&2
      flags=()
      [ "$v" = channels_last ] && flags+=(--channels-last)
      envs=()
      [ "$v" = jit ] && flags+=(--jit)
      # hrvq's malloc settings (src/runtime.cpp) given to PyTorch through glibc's tunables.
      [ "$v" = jit_malloc ] && flags+=(--jit) && envs+=("GLIBC_TUNABLES=$GLIBC_MALLOC")
      # The check runs after the timed pass, in the first round only.
      [ "$r" = 1 ] && flags+=(--check-raw "$TMP/raw-$m" --check-decoded "$TMP/dec-$m")
      env "${envs[@]}" $PY bench/codec_speed_pytorch.py --model "${MODEL_PATH[$m]}" --threads "$THREADS" --runs 1 --label "$m/$v" \
        "${flags[@]}" --json "$TMP/py-$m-$v-$r.json" "$TMP"/png/*.png >/dev/null
    done
  done
done
elapsed=$((SECONDS - start))
echo "$elapsed" >"$TMP/elapsed"
uptime >"$TMP/uptime"
fi
elapsed=$(cat "$TMP/elapsed" 2>/dev/null || echo 0)
# Complete rounds: every file of the round present.
done_rounds=0
for r in $(seq 1 "$ROUNDS"); do
  ok=1
  for m in photo cifar10; do
    for v in frozen eager glibc_malloc; do [ -f "$TMP/hrvq-$m-$v-$r.json" ] || ok=0; done
    for v in default channels_last jit jit_malloc; do [ -f "$TMP/py-$m-$v-$r.json" ] || ok=0; done
  done
  [ $ok = 1 ] || break
  done_rounds=$r
done
[ "$done_rounds" -gt 0 ] || die "no complete round in $TMP"
[ "$done_rounds" = "$ROUNDS" ] || echo "codec-speed: only $done_rounds of $ROUNDS rounds complete: summarizing those" >&2

$PY - "$TMP" "$done_rounds" "$THREADS" "$OUT_DIR" "$N" "$elapsed" "$(cat "$TMP/uptime" 2>/dev/null || uptime)" "$CIFAR_STEPS" <<'EOF'
import glob, json, os, statistics, sys, subprocess
tmp, rounds, threads, out_dir, n_arg, elapsed, uptime, cifar_steps = sys.argv[1:9]
rounds = int(rounds)
med = statistics.median
models = ["photo", "cifar10"]
hv_names = ["frozen", "eager", "glibc_malloc"]
variants = ["default", "channels_last", "jit", "jit_malloc"]
res = {"command": "bench/codec-speed.sh %s" % n_arg + ("" if rounds == 3 else " (%d complete rounds)" % rounds),
       "threads": int(threads), "rounds": rounds, "uptime_after": uptime.strip(), "elapsed_s": int(elapsed),
       "cifar10_training_steps": int(cifar_steps), "models": {}}
rows = []
for m in models:
    h = {}
    for hv in hv_names:
        hb = [json.load(open(f"{tmp}/hrvq-{m}-{hv}-{r}.json")) for r in range(1, rounds + 1)]
        mp = hb[0]["pixels"] / 1e6
        h[hv] = {"analyze_mp_per_s": [mp / b["analyze"]["s"] for b in hb],
                 "encode_mp_per_s": [mp / b["encode"]["rans-ctx"]["s"] for b in hb],
                 "entropy_encode_only_mp_per_s": [mp / b["entropy_coding"]["rans-ctx"]["s"] for b in hb],
                 # Network half of hrvq's encode: its whole encode minus its rans-ctx coding of the same maps.
                 "encode_network_only_mp_per_s": [mp / (b["encode"]["rans-ctx"]["s"] - b["entropy_coding"]["rans-ctx"]["s"])
                                                  for b in hb],
                 "decode_mp_per_s": [mp / b["per_layers"][-1]["decode_s"] for b in hb],
                 "psnr_all_maps_db": hb[0]["per_layers"][-1]["psnr_mean"], "maps": hb[0]["layers"],
                 "images": hb[0]["images"], "megapixels": mp, "torch_threads": hb[0]["torch_threads"]}
    p = {}
    for v in variants:
        pr = [json.load(open(f"{tmp}/py-{m}-{v}-{r}.json")) for r in range(1, rounds + 1)]
        p[v] = {"encode_mp_per_s": [x["encode_mp_per_s"] for x in pr], "decode_mp_per_s": [x["decode_mp_per_s"] for x in pr],
                "check": pr[0].get("check")}
    res["models"][m] = {"hrvq": h, "pytorch": p}
    for step, hk, pk in (("encode (hrvq: network + search + rans-ctx coding)", "encode_mp_per_s", "encode_mp_per_s"),
                         ("encode, network + search only (hrvq: encode minus its rans-ctx coding)",
                          "encode_network_only_mp_per_s", "encode_mp_per_s"),
                         ("decode (hrvq: rans-ctx decoding + network, to uint8)", "decode_mp_per_s", "decode_mp_per_s")):
        rows.append((m, step, [med(h[hv][hk]) for hv in hv_names], [med(p[v][pk]) for v in variants]))
lines = ["| model | step | hrvq MP/s | hrvq --eager MP/s | hrvq, glibc's default malloc MP/s | PyTorch default MP/s | PyTorch channels_last MP/s "
         "| PyTorch jit MP/s | PyTorch jit, hrvq's malloc settings MP/s | hrvq / default | hrvq / channels_last "
         "| hrvq / jit | hrvq / jit with hrvq's malloc | hrvq --eager / default |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
for m, step, (hf, he, hg), (d, c, j, jm) in rows:
    lines.append(f"| {m} | {step} | **{hf:.2f}** | {he:.2f} | {hg:.2f} | {d:.2f} | {c:.2f} | {j:.2f} | {jm:.2f} "
                 f"| **{hf / d:.2f}x** | {hf / c:.2f}x | {hf / j:.2f}x | {hf / jm:.2f}x | {he / d:.2f}x |")
lines.append("")
per_round = []
for m in models:
    h, p = res["models"][m]["hrvq"]["frozen"], res["models"][m]["pytorch"]["default"]
    for what, k in (("encode", "encode_mp_per_s"), ("decode", "decode_mp_per_s")):
        per_round.append(f"{m} {what} " + ", ".join(f"{x / y:.2f}" for x, y in zip(h[k], p[k])))
res["per_round_ratio_vs_default"] = per_round
lines.append("hrvq / PyTorch default per round (round 1, 2, ...): " + "; ".join(per_round) + ".")
table = "\n".join(lines)
checks = ["| model | PyTorch variant | maps per image | positions | mismatched positions | max pixel diff vs `hrvq decode` "
          "| PSNR vs `hrvq decode` | PSNR vs original (hrvq's maps, PyTorch decoder) |",
          "|---|---|---|---|---|---|---|---|"]
for m in models:
    for v in variants:
        c = res["models"][m]["pytorch"][v]["check"]
        pv = c["psnr_db_vs_hrvq_decode"]
        checks.append(f"| {m} | {v} | {res['models'][m]['hrvq']['frozen']['maps']} | {c['positions']} | "
                      f"{c['mismatched_positions']} | {c['max_abs_pixel_diff_vs_hrvq_decode']} | "
                      f"{'identical' if pv is None else '%.2f dB' % pv} | "
                      f"{c['peer_decoding_of_hrvq_maps_psnr_db_mean']:.4f} dB |")
checks = "\n".join(checks)
ed = ["| model | hrvq encode / decode | hrvq encode (network only) / decode | hrvq --eager encode / decode "
      "| PyTorch default encode / decode | PyTorch channels_last encode / decode | PyTorch jit encode / decode "
      "| PyTorch jit, hrvq's malloc: encode / decode |",
      "|---|---|---|---|---|---|---|---|"]
for m in models:
    h, p = res["models"][m]["hrvq"], res["models"][m]["pytorch"]
    r = lambda d, e="encode_mp_per_s": med(d[e]) / med(d["decode_mp_per_s"])
    ed.append(f"| {m} | {r(h['frozen']):.2f} | {r(h['frozen'], 'encode_network_only_mp_per_s'):.2f} | {r(h['eager']):.2f} "
              f"| {r(p['default']):.2f} | {r(p['channels_last']):.2f} | {r(p['jit']):.2f} | {r(p['jit_malloc']):.2f} |")
enc_dec = "\n".join(ed)
res["encode_vs_decode_markdown"] = enc_dec
res["table_markdown"], res["checks_markdown"] = table, checks
json.dump(res, open(os.path.join(out_dir, "codec-speed.json"), "w"), indent=1)
print(table)
print()
print(enc_dec)
print()
print(checks)
h0 = res["models"]["photo"]["hrvq"]["frozen"]
md = f"""# Codec speed against eager PyTorch (issue 10)

```sh
{res['command']}
```

{h0['images']} BSDS500 test photos ({h0['megapixels']:.2f} MP, 481x321 and 321x481; the first {h0['images']} by name),
{threads} torch threads for every contender, OPENBLAS_NUM_THREADS=1, CPU, images in memory.
Medians of {rounds} interleaved rounds (each round: for each model, hrvq's `codec_bench` with
its frozen graphs and with `--eager`, then each PyTorch variant, one after the other). The
machine has 2 cores (load after the run: `{uptime.strip()}`); absolute MP/s on this VM are
noisy; the ratios are what the side-by-side run is for. Run time {int(elapsed) // 60} min.

{table}

Encode speed as a fraction of decode speed (issue 10: encode at least as fast as decode),
from the medians above:

{enc_dec}

## What is measured

- **hrvq**: `build/codec_bench -m MODEL -i PNGS --threads {threads}` (no `--train`), whose JSON gives, per run:
  `encode.rans-ctx` (the library's whole encode of every image with all maps and the default
  rans-ctx coder, second pass), `entropy_coding.rans-ctx` (rans-ctx coding of the same maps alone;
  "encode minus its rans-ctx coding" subtracts it) and `per_layers[n-1].decode_s` (the
  library's whole decode of those bitstreams with all maps: rans-ctx decoding, code lookup,
  decoder, rounding to 8-bit pixels). One image at a time, each image in one tile
  (tile 512 > 481). *hrvq* is the default: the decoder compiled when the model is loaded
  into a frozen TorchScript graph passed through optimize_for_inference
  (src/frozen_network.cpp: oneDNN weights prepacked once, activations kept in oneDNN's
  blocked layout between convolutions), the encoder eager with channels-last input;
  *hrvq --eager* runs the torch::nn decoder too (decoder input contiguous NCHW), so its
  encode is the same code as the default's and the two encode columns differ by noise; *hrvq, glibc's default malloc* is
  the default run with `HRVQ_MALLOC=default`, which leaves glibc's adaptive trimming on
  (src/runtime.cpp otherwise fixes its thresholds so freed memory is kept for reuse).
- **PyTorch** (`bench/codec_speed_pytorch.py`, python3-torch 1.13): the model read from the
  .hrvqm file by `bench/hrvqm.py` into torch.nn modules; `torch.no_grad()`,
  `torch.set_num_threads({threads})`. encode = /255, edge padding to the grid, -0.5, encoder, pre_quant,
  per group and layer the m candidates of the parent's codebook (gathered with index_select,
  bmm, argmin, as hrvq's select_codes); decode = codebook rows looked up and summed per group,
  groups concatenated, decoder, crop, clamp, x255, round, uint8. No entropy coding. One
  warm-up image, then one timed pass over every image per process.
  Variants: *default* (as a user writes it: default memory format; the decoder input is the
  permuted view `e.view(B,h,w,D).permute(0,3,1,2)`, whose strides are channels_last, which
  torch 1.13's oneDNN convolution follows); *channels_last* (`--channels-last`: model and
  inputs converted, so the encoder too); *jit* (`--jit`: encoder and decoder through
  `torch.jit.script`, `torch.jit.freeze` and `torch.jit.optimize_for_inference`, with
  re-optimisation per shape off as in hrvq; the same compilation hrvq does, so this is the
  peer that shows what is left of hrvq's lead once a PyTorch user compiles too);
  *jit with hrvq's malloc settings* (the jit variant run with
  `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824`,
  what hrvq sets through mallopt in src/runtime.cpp: glibc keeps freed memory for the next
  call instead of returning it to the kernel; the strongest peer a Python user could run).
- **cifar10 preset network**: `hrvq train --preset cifar10` for {cifar_steps} steps on random CIFAR-10
  binaries (speed does not depend on the weights): HR-VQVAE n=3 m=8, 128 channels, 2 residual
  blocks of 32, D=64; run here on the same photos (fully convolutional), not on 32x32.
- MP/s = pixels of the original images / seconds. Image file decoding is outside all timings.

## Same codes, same pixels

Both sides read the same PNGs (the JPEGs decoded once by PIL). `hrvq encode --coder raw
--layers n` wrote every photo's maps; the peer compares its own maps with them index by
index, decodes hrvq's maps with its decoder and compares the pixels with `hrvq decode`'s
PNGs of the same files (first round):

{checks}

A mismatch is a position whose index differs from hrvq's (its default, frozen graphs).
Convolutions that block or order their sums differently round differently, and a code
whose two nearest candidates are all but equally near can flip; the decoded pixels can
differ by one level where a value sits at a rounding boundary.
"""
open(os.path.join(out_dir, "codec-speed.md"), "w").write(md)
print(f"\ncodec-speed: wrote {out_dir}/codec-speed.json and {out_dir}/codec-speed.md", file=sys.stderr)
EOF
