#!/usr/bin/env bash
# shadercam vs PyTorch eager vs pytorch-grad-cam on the lent NVIDIA machine (H100/H200).
#
# NOT RUN YET: written in a session without a lent GPU. Run it from the project root on the
# device machine (see ../../../shared/device/README.md), with these carried, ignored folders:
#   .gl/   Debian bookworm amd64 .debs: libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2
#          (the NVIDIA Vulkan ICD needs libglvnd; with libvulkan1 alone wgpu finds no adapter)
#   .bin/  the release CLI: `cargo build --release -p shadercam && mkdir -p .bin && cp target/release/shadercam .bin/`
#   .whl/  optional, for the GradCAM rows: `pip download --no-deps grad-cam ttach -d .whl`
# e.g. run(command="bash benches/gpu/compare.sh", carry=[".gl", ".bin", ".whl"], timeout_s=420).
#
# It runs `shadercam bench --batch N --json` for N in $BATCHES (default "1 64"), then
# torch_bench.py (PyTorch eager fp32, TF32 off and on, forward+CAM in PyTorch, pytorch-grad-cam
# GradCAM) on the same GPU, and prints one table with ratios. Raw JSON lands in $OUT (or
# ./gpu-bench-out), so the numbers can be copied into benches/README.md with the card's name.
set -euo pipefail

cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/gpu-bench-out}"
BATCHES="${BATCHES:-1 64}"
ITERS="${ITERS:-30}"
mkdir -p "$OUT"

if [ -d .gl ]; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
if [ -d .whl ] && ls .whl/* >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site .whl/*
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
BIN="${SHADERCAM_BIN:-.bin/shadercam}"
[ -x "$BIN" ] || { echo "no $BIN: build it here and carry .bin (see the header of $0)" >&2; exit 2; }

nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt" || true

for b in $BATCHES; do
    echo "== shadercam bench --batch $b" >&2
    "$BIN" bench --batch "$b" --iters "$ITERS" --json > "$OUT/shadercam_bs$b.json"
    cat "$OUT/shadercam_bs$b.json" >&2
done

echo "== PyTorch" >&2
# shellcheck disable=SC2086
python3 benches/gpu/torch_bench.py --batches $BATCHES --out "$OUT/torch.json"

python3 - "$OUT" $BATCHES <<'PY'
import json, sys, os
out, batches = sys.argv[1], [int(b) for b in sys.argv[2:]]
torch = json.load(open(os.path.join(out, "torch.json")))
rows = torch["rows"]
print(f"\nGPU: {torch['device']}  (torch {torch['torch']})")
if "grad_cam_lib_error" in torch:
    print("pytorch-grad-cam:", torch["grad_cam_lib_error"])
hdr = f"{'batch':>5}  {'what':<36} {'ms':>9} {'img/s':>9} {'shadercam speedup':>18}"
print(hdr); print("-" * len(hdr))
for b in batches:
    sc = json.load(open(os.path.join(out, f"shadercam_bs{b}.json")))
    fwd, tot = sc["forward_ms_median"], sc["total_ms_median"]
    print(f"{b:>5}  {'shadercam forward (' + sc['adapter'][:14] + ')':<36} {fwd:>9.3f} {b * 1000 / fwd:>9.1f} {'':>18}")
    print(f"{b:>5}  {'shadercam forward+CAM':<36} {tot:>9.3f} {sc['images_per_s']:>9.1f} {'':>18}")
    for name, ref in [("torch_fp32_strict", fwd), ("torch_fp32_tf32", fwd), ("torch_cam_strict", tot), ("grad_cam_lib", tot)]:
        r = rows.get(f"{name}_bs{b}")
        if r is None:
            continue
        # > 1: shadercam is faster than this PyTorch row (forward rows vs shadercam forward,
        # CAM rows vs shadercam forward+CAM).
        print(f"{b:>5}  {name:<36} {r['ms']:>9.3f} {r['images_per_s']:>9.1f} {r['ms'] / ref:>17.2f}x")
PY
