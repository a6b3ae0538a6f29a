#!/usr/bin/env python3
"""Makes the fixture that `shadercam selftest` embeds (include_bytes!) from the test fixtures.

    python3 crates/shadercam/selftest/make_fixture.py      # from the repository root

Writes, next to this script:
  shape_002.png                    the fixture image, copied unchanged from tests/fixtures/images
  shape_002.reference.safetensors  its PyTorch float64 logits (`logits`, F32 [8]) and
                                   pytorch-grad-cam's Grad-CAM map (`gradcam`, F32 [224, 224]),
                                   copied bit for bit from tests/fixtures/reference.safetensors
                                   (made by shared/reference/make_fixtures.py; see its metadata),
                                   and `checkpoint.fc.bias` (F32 [8]): the fc bias of
                                   weights/resnet50-shapes.safetensors, the checkpoint those
                                   logits come from, so selftest can tell when --weights names
                                   another one

shape_002 is the image the CLI tests already run end to end from its PNG file, so the PNG ->
preprocess -> forward -> Grad-CAM route is known to stay within the tolerances. Standard
library only (the safetensors format is an 8-byte header length, a JSON header, raw data), so
it runs anywhere; crates/shadercam/tests/selftest.rs checks that the committed files are what
this script makes.
"""
import json
import shutil
import struct
from pathlib import Path

NAME = "shape_002"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def read_safetensors(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    return header, data


def main():
    header, data = read_safetensors(FIXTURES / "reference.safetensors")
    tensors = {}
    for key in ("logits", "gradcam"):
        t = header[f"{NAME}.{key}"]
        assert t["dtype"] == "F32", t
        a, b = t["data_offsets"]
        tensors[key] = (t["shape"], data[a:b])
    # The checkpoint's identity: its fc bias (F16 in the file; f16 -> f32 is exact).
    wh, wdata = read_safetensors(ROOT / "weights" / "resnet50-shapes.safetensors")
    t = wh["fc.bias"]
    a, b = t["data_offsets"]
    if t["dtype"] == "F16":
        vals = struct.unpack(f"<{(b - a) // 2}e", wdata[a:b])
    else:
        assert t["dtype"] == "F32", t
        vals = struct.unpack(f"<{(b - a) // 4}f", wdata[a:b])
    tensors["checkpoint.fc.bias"] = (t["shape"], struct.pack(f"<{len(vals)}f", *vals))
    source_meta = header.get("__metadata__", {})
    meta = {
        "image": f"{NAME}.png",
        "source": f"tests/fixtures/reference.safetensors ({NAME}.logits, {NAME}.gradcam)",
        "generator": "crates/shadercam/selftest/make_fixture.py",
        "checkpoint": "weights/resnet50-shapes.safetensors",
        "logits": source_meta.get("logits", ""),
        "gradcam": source_meta.get("gradcam", ""),
        "preprocess": source_meta.get("preprocess", ""),
    }
    out_header = {"__metadata__": meta}
    blob = b""
    for key in sorted(tensors):  # fixed order: the file is the same on every run
        shape, b = tensors[key]
        out_header[key] = {"dtype": "F32", "shape": shape, "data_offsets": [len(blob), len(blob) + len(b)]}
        blob += b
    text = json.dumps(out_header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors pads the header to 8 bytes
    out = HERE / f"{NAME}.reference.safetensors"
    out.write_bytes(struct.pack("<Q", len(text)) + text + blob)
    shutil.copyfile(FIXTURES / "images" / f"{NAME}.png", HERE / f"{NAME}.png")
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size} bytes) and {NAME}.png")


if __name__ == "__main__":
    main()
