#!/usr/bin/env bash
# Same-machine comparison on a computer without a GPU: shadercam on lavapipe (Mesa's software
# Vulkan) against PyTorch and pytorch-grad-cam on the same CPU cores, plus the whole-process
# time of `shadercam explain one.png` against the seed script (../shared/reference/seed_cam.py).
# Needs: a release build (cargo build --release -p shadercam), hyperfine (apt-get install
# hyperfine), and PYTHON pointing at a Python with torch, torchvision, grad-cam, safetensors.
# usage: PYTHON=/path/to/python SEED=../shared/reference/seed_cam.py benches/lavapipe_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SEED=${SEED:-../shared/reference/seed_cam.py}
W=weights/resnet50-shapes.safetensors
IMG=tests/fixtures/images/shape_002.png
BIN=target/release/shadercam
echo "== shadercam bench (lavapipe)"
$BIN bench --batch 1 --iters 5 --warmup 1 --json 2>/dev/null
$BIN bench --batch 8 --iters 3 --warmup 1 --json 2>/dev/null
echo "== PyTorch / pytorch-grad-cam on the CPU"
$PYTHON benches/cpu_torch.py $W 1 8
echo "== whole process, one image"
hyperfine -w 1 -r 5 -N "$BIN explain $IMG --out-dir /tmp/shadercam-compare -q" "$PYTHON $SEED $W $IMG /tmp/seed-compare.png"
