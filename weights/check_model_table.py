#!/usr/bin/env python3
"""Check shadercam's model table (crates/shadercam-loader/src/models.rs) against its sources.

    pip install torch torchvision timm      # CPU wheels are enough; no download happens
    python weights/check_model_table.py

For every `spec!(...)` entry it compares, with the installed libraries (nothing is downloaded):
- torchvision: the weights enum's URL, `num_params`, ImageNet-1k acc@1, and `transforms()`
  (resize_size, crop_size, bilinear interpolation, mean, std); bare names = `Weights.DEFAULT`;
- timm: `pretrained_cfg` of `<arch>.<tag>_in1k` names the hub repository `timm/<arch>.<tag>_in1k`,
  the same torchvision URL, and evaluates at `test_input_size` (else `input_size`) with
  `floor(size / test_crop_pct)` (else crop_pct) as the resize, bilinear, same mean and std.
Exits 1 and lists every difference.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

TABLE = Path(__file__).resolve().parent.parent / "crates/shadercam-loader/src/models.rs"
ENTRY = re.compile(
    r'spec!\(\s*"(?P<name>[^"]+)",\s*"(?P<arch>[^"]+)",\s*"(?P<weights>[^"]+)",\s*"(?P<repo>[^"]+)",\s*'
    r'"(?P<url>[^"]+)",\s*(?P<params>[\d_]+),\s*(?P<top1>[\d.]+),\s*(?P<resize>\d+)\s*\)'
)


def main() -> int:
    try:
        import timm
        from timm.models import get_pretrained_cfg
        from torchvision.models import get_model_weights
    except ImportError as e:
        print(f"error: {e}; install with `pip install torch torchvision timm`", file=sys.stderr)
        return 1
    text = TABLE.read_text()
    entries = [m.groupdict() for m in ENTRY.finditer(text)]
    if not entries:
        print(f"error: no spec!(...) entries found in {TABLE}", file=sys.stderr)
        return 1
    problems = []

    def expect(what, got, want):
        if got != want:
            problems.append(f"{what}: table has {got!r}, source has {want!r}")

    for e in entries:
        name, arch = e["name"], e["arch"]
        w = get_model_weights(arch)[e["weights"]]
        t = w.transforms()
        expect(f"{name} url", e["url"], w.url)
        expect(f"{name} params", int(e["params"].replace("_", "")), w.meta["num_params"])
        expect(f"{name} top1", float(e["top1"]), w.meta["_metrics"]["ImageNet-1K"]["acc@1"])
        expect(f"{name} resize", int(e["resize"]), t.resize_size[0])
        expect(f"{name} crop", 224, t.crop_size[0])
        expect(f"{name} interpolation", "bilinear", t.interpolation.value)
        expect(f"{name} mean", [0.485, 0.456, 0.406], list(t.mean))
        expect(f"{name} std", [0.229, 0.224, 0.225], list(t.std))
        tag = name.split(".", 1)[1]
        cfg = get_pretrained_cfg(f"{arch}.{tag}_in1k")
        expect(f"{name} hub repo", e["repo"], cfg.hf_hub_id)
        expect(f"{name} timm url", e["url"], cfg.url)
        size = (cfg.test_input_size or cfg.input_size)[-1]
        pct = cfg.test_crop_pct or cfg.crop_pct
        expect(f"{name} timm crop", 224, size)
        expect(f"{name} timm resize", int(e["resize"]), math.floor(size / pct))
        expect(f"{name} timm interpolation", "bilinear", cfg.interpolation)
        expect(f"{name} timm mean", (0.485, 0.456, 0.406), tuple(cfg.mean))
        expect(f"{name} timm std", (0.229, 0.224, 0.225), tuple(cfg.std))
    archs = sorted({e["arch"] for e in entries})
    for arch in archs:
        default = get_model_weights(arch).DEFAULT.name
        have = [e["weights"] for e in entries if e["arch"] == arch]
        bare = "IMAGENET1K_V2" if "IMAGENET1K_V2" in have else "IMAGENET1K_V1"
        expect(f"{arch} default", bare, default)
    import torchvision

    print(f"checked {len(entries)} entries against torchvision {torchvision.__version__}, timm {timm.__version__}")
    for p in problems:
        print("MISMATCH", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
