#!/usr/bin/env python3
"""Export a torchvision ImageNet ResNet to a safetensors file that shadercam loads.

Needs a machine with internet access the first time (torchvision downloads the weights into
~/.cache/torch/hub/checkpoints) and `pip install torch torchvision safetensors` (the CPU wheels
are enough). `--help` works without torch installed.

    python weights/export_torchvision.py --arch resnet50 --weights IMAGENET1K_V2 \
        --out weights/resnet50-imagenet.safetensors
    shadercam explain --weights weights/resnet50-imagenet.safetensors photo.png

The file holds torchvision's own tensor names (`conv1.weight`, `layer1.0.bn1.running_var`,
`fc.bias`, ...) without the integer `num_batches_tracked` counters, as float32 or float16, and
header metadata (`__metadata__`, all JSON strings):

  classes       JSON list of the 1000 class names, `weights.meta["categories"]`
  preprocess    JSON object from `weights.transforms()`: resize_size (256 for IMAGENET1K_V1,
                232 for V2), crop_size 224, interpolation, mean, std
  architecture  e.g. "resnet50"
  num_classes   "1000"
  source        the weights enum and its download URL
  license       the weights' licence note
  eval          torchvision's published ImageNet-1k accuracy of these weights

After writing, the script reads the file back into a fresh model and checks that it gives the
original model's logits (float16 within its rounding), so a file it reports as written loads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "wide_resnet50_2", "wide_resnet101_2")
WEIGHTS = ("IMAGENET1K_V1", "IMAGENET1K_V2", "DEFAULT")

LICENSE = (
    "torchvision model code and weights: BSD-3-Clause (https://github.com/pytorch/vision). "
    "The weights were trained on ImageNet-1k; check the ImageNet terms of access "
    "(https://image-net.org/download) before commercial use."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Export a torchvision ImageNet ResNet to safetensors with the metadata shadercam reads "
        "(classes, preprocess, architecture, source, license).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--arch", choices=ARCHS, default="resnet50", help="torchvision model name")
    p.add_argument(
        "--weights",
        choices=WEIGHTS,
        default="DEFAULT",
        help="torchvision weights: IMAGENET1K_V1 (original recipe, resize 256) or IMAGENET1K_V2 "
        "(new recipe, resize 232; not available for resnet18/resnet34); DEFAULT is the best available",
    )
    p.add_argument("--dtype", choices=("f32", "f16"), default="f32", help="stored precision (f16 halves the file)")
    p.add_argument("--out", type=Path, help="output file (default: ARCH-imagenet[-f16].safetensors in weights/)")
    p.add_argument("--no-check", action="store_true", help="skip reading the file back and comparing logits")
    return p.parse_args(argv)


def preprocess_meta(transforms) -> dict:
    """The `preprocess` metadata from a torchvision `ImageClassification` preset."""

    def first(x):
        # ImageClassification keeps sizes as one-element lists ([232]); accept ints too.
        return int(x[0] if isinstance(x, (list, tuple)) else x)

    interpolation = getattr(transforms, "interpolation", "bilinear")
    return {
        "resize_size": first(transforms.resize_size),
        "crop_size": first(transforms.crop_size),
        "interpolation": getattr(interpolation, "value", str(interpolation)),
        "mean": [float(v) for v in transforms.mean],
        "std": [float(v) for v in transforms.std],
    }


def build_metadata(arch: str, weights) -> dict[str, str]:
    """The file's `__metadata__` (safetensors allows only string values, so JSON strings)."""
    meta = weights.meta
    categories = list(meta["categories"])
    metrics = meta.get("_metrics", {}).get("ImageNet-1K", {})
    pre = preprocess_meta(weights.transforms())
    eval_note = ", ".join(f"{k} {v}" for k, v in metrics.items())
    return {
        "classes": json.dumps(categories),
        "preprocess": json.dumps(pre),
        "architecture": arch,
        "num_classes": str(len(categories)),
        "source": f"torchvision.models.{type(weights).__name__}.{weights.name} ({weights.url})",
        "license": LICENSE,
        "eval": f"ImageNet-1k val ({pre['resize_size']}/{pre['crop_size']}): {eval_note}" if eval_note else "",
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Imported here so that --help works on a machine without torch.
    try:
        import torch
        from safetensors.torch import load_file, save_file
        from torchvision.models import get_model, get_model_weights
    except ImportError as e:
        print(f"error: {e}; install with `pip install torch torchvision safetensors`", file=sys.stderr)
        return 1

    enum = get_model_weights(args.arch)
    try:
        weights = enum[args.weights]
    except KeyError:
        have = ", ".join(w.name for w in enum)
        print(f"error: {args.arch} has no {args.weights} weights (available: {have})", file=sys.stderr)
        return 1
    out = args.out or Path(__file__).resolve().parent / (
        f"{args.arch}-imagenet{'-f16' if args.dtype == 'f16' else ''}.safetensors"
    )

    print(f"loading {args.arch} with {enum.__name__}.{weights.name} ({weights.url})", file=sys.stderr)
    model = get_model(args.arch, weights=weights).eval()
    dtype = torch.float16 if args.dtype == "f16" else torch.float32
    tensors = {
        name: t.detach().to(dtype).contiguous()
        for name, t in model.state_dict().items()
        if not name.endswith("num_batches_tracked")
    }
    metadata = build_metadata(args.arch, weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=metadata)
    size = out.stat().st_size
    print(f"wrote {out} ({size / 1e6:.1f} MB, {len(tensors)} tensors, {args.dtype})", file=sys.stderr)

    if not args.no_check:
        # Read the file back into a fresh model and compare logits with the original.
        fresh = get_model(args.arch, weights=None, num_classes=len(weights.meta["categories"])).eval()
        loaded = {k: v.float() for k, v in load_file(str(out)).items()}
        missing, unexpected = fresh.load_state_dict(loaded, strict=False)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            print(f"error: read-back mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}", file=sys.stderr)
            return 1
        torch.manual_seed(0)
        x = torch.randn(2, 3, 224, 224)
        with torch.no_grad():
            want, got = model(x), fresh(x)
        err = ((got - want).norm() / want.norm()).item()
        # f32 is a bit-exact copy; f16 rounds every weight by up to 2^-11 relative.
        limit = 1e-6 if args.dtype == "f32" else 1e-2
        print(f"read-back check: relative L2 error of the logits {err:.2e} (limit {limit:g})", file=sys.stderr)
        if not err <= limit:
            print("error: the written file does not reproduce the model's logits", file=sys.stderr)
            return 1
    print(f"run: shadercam explain --weights {out} photo.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
