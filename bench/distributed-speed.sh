#!/usr/bin/env bash
# Data-parallel training on this machine: one process with 2 compute threads and batch B
# against two torchrun ranks with 1 thread and batch B/2 each (the same global batch), the
# ranks once with the gradient all-reduce overlapped with the backward pass (the default)
# and once after it (--dist-overlap off), for the cifar10 and photo presets' networks.
# Prints images/s (median over the logging windows after the first, median of REPS runs,
# the set-ups alternating so load drifts hit all of them), the gradient all-reduce time
# per step that the backward pass did not hide, and the bytes all-reduced per step;
# writes the same as JSON to OUT/distributed-speed.json.
# The data is made so that decoding it costs next to nothing beside the networks: random
# 32x32 CIFAR-10-format images for cifar10 (as bench/train-speed.sh does) and 300 crops of
# 96x96 from BSDS500 train, as PNG, for photo (random 64x64 crops of those).
# Usage: bench/distributed-speed.sh [OUT]   (env: HRVQ, REPS=3, STEPS_CIFAR=200, STEPS_PHOTO=120)
set -euo pipefail
cd "$(dirname "$0")/.."
HRVQ=$(realpath "${HRVQ:-build/hrvq}")
OUT=${1:-out/distributed-speed}
REPS=${REPS:-3}
mkdir -p "$OUT/cifar" "$OUT/photo"
OUT=$(realpath "$OUT")
/usr/bin/python3 - "$OUT" ../shared/data/bsds500/train <<'PY'
import glob, os, random, sys
from PIL import Image
out, bsds = sys.argv[1], sys.argv[2]
if not os.path.exists(f"{out}/cifar/data_batch_1.bin"):
    random.seed(1)
    with open(f"{out}/cifar/data_batch_1.bin", "wb") as f:
        f.write(bytes(random.getrandbits(8) for _ in range(5000 * 3073)))
for i, path in enumerate(sorted(glob.glob(f"{bsds}/*.jpg"))):
    dst = f"{out}/photo/{i:03d}.png"
    if not os.path.exists(dst):
        im = Image.open(path).convert("RGB")
        im.crop((100, 80, 196, 176)).save(dst)
PY
command -v torchrun >/dev/null || { echo "distributed-speed: torchrun not found (python3-torch)" >&2; exit 1; }
export OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1

run() {  # preset batch steps mode rep
  local preset=$1 batch=$2 steps=$3 mode=$4 rep=$5 tag="$OUT/$1-$4-$5"
  local flags=(train --preset "$preset" --data "$OUT/$([ "$preset" = cifar10 ] && echo cifar || echo photo)"
               --batch "$batch" --steps "$steps" --log-every 10 --checkpoint-every 100000 --count-images 16
               --loader-threads 1 --json -o "$tag.hrvqm")
  rm -f "$tag".hrvqm*
  if [ "$mode" = 1x2 ]; then
    "$HRVQ" --threads 2 "${flags[@]}" > "$tag.json" 2> "$tag.err"
  else
    [ "$mode" = 2x1-after ] && flags+=(--dist-overlap off)
    # Debian's torchrun (torch 1.13 on Python 3.11) needs --redirects/--tee to start.
    torchrun --no_python --nproc_per_node 2 --master_port $((29500 + RANDOM % 2000)) --redirects 1 --tee 1 \
      "$HRVQ" --threads 1 "${flags[@]}" > "$tag.json" 2> "$tag.err"
  fi
}

for rep in $(seq "$REPS"); do
  for preset in cifar10 photo; do
    if [ "$preset" = cifar10 ]; then B=64 S=${STEPS_CIFAR:-200}; else B=16 S=${STEPS_PHOTO:-120}; fi
    echo "distributed-speed: $preset run $rep/$REPS" >&2
    run "$preset" "$B" "$S" 1x2 "$rep"
    run "$preset" $((B / 2)) "$S" 2x1 "$rep"
    run "$preset" $((B / 2)) "$S" 2x1-after "$rep"
  done
done

/usr/bin/python3 - "$OUT" "$REPS" <<'PY'
import json, re, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
rows = []
for preset, batch in (("cifar10", 64), ("photo", 16)):
    for mode in ("1x2", "2x1", "2x1-after"):
        ips, ar_ms, nbytes = [], [], 0
        for rep in range(1, reps + 1):
            tag = f"{out}/{preset}-{mode}-{rep}"
            windows = [json.loads(l)["images_per_s"] for l in open(tag + ".hrvqm.log.jsonl") if l.startswith("{")]
            ips.append(statistics.median(windows[1:] or windows))
            text = open(tag + ".json").read()
            # torchrun prefixes worker lines with "[rank]:"; rank 0 alone prints the summary.
            summary = json.loads(text[text.index("{"):text.rindex("}") + 1])
            steps = summary["steps"]
            ar_ms.append(1e3 * summary.get("allreduce_seconds", 0) / max(steps, 1))
            nbytes = summary.get("allreduce_bytes_per_step", 0)
        setup = {"1x2": "1 process x 2 threads", "2x1": "2 ranks x 1 thread, all-reduce overlapped",
                 "2x1-after": "2 ranks x 1 thread, all-reduce after backward"}[mode]
        rows.append({"preset": preset, "setup": setup,
                     "global_batch": batch, "images_per_s": statistics.median(ips), "images_per_s_runs": ips,
                     "allreduce_ms_per_step": statistics.median(ar_ms) if mode != "1x2" else None,
                     "allreduce_bytes_per_step": nbytes if mode != "1x2" else 0})
print("| preset | set-up | global batch | images/s (median) | runs | gradient all-reduce per step (not hidden) | bytes all-reduced per step |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    ar = f"{r['allreduce_ms_per_step']:.2f} ms" if r["allreduce_ms_per_step"] is not None else "-"
    nb = f"{r['allreduce_bytes_per_step']/1e6:.2f} MB" if r["allreduce_bytes_per_step"] else "-"
    runs = ", ".join(f"{x:.0f}" for x in r["images_per_s_runs"])
    print(f"| {r['preset']} | {r['setup']} | {r['global_batch']} | {r['images_per_s']:.0f} | {runs} | {ar} | {nb} |")
json.dump(rows, open(f"{out}/distributed-speed.json", "w"), indent=1)
PY
