#!/usr/bin/env python3
"""Writes the seed corpora for the fuzz targets (standard library only).

    python3 make_seeds.py CHECKPOINT_DIR IMAGE_DIR

checkpoint_header: small .safetensors files built here that reach successively deeper code:
a bare classifier, torchvision and Hugging Face name skeletons (naming detection, block
counting), a checkpoint whose stem conv + BatchNorm are valid (BatchNorm folding runs, the
first block's shape check fails), odd dtypes and metadata.

image_preprocess: the small decoder fixtures of crates/shadercam-image/tests/data (PNG in
several modes, JPEG baseline/progressive/CMYK, GIF, BMP, WebP, TIFF), the smallest picture of
tests/fixtures/images, and a few tiny files in other formats the `image` crate reads.
"""

import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SIZES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "F64": 8, "BOOL": 1, "U8": 1}


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape); data is a deterministic ramp (finite values)."""
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, *fill in tensors:
        n = 1
        for d in shape:
            n *= d
        if dtype == "F32":
            value = fill[0] if fill else None
            blob = b"".join(struct.pack("<f", value if value is not None else 0.5 + (i % 7) / 8) for i in range(n))
        elif dtype == "F16":
            blob = struct.pack("<e", 1.0) * n
        elif dtype == "BF16":
            value = fill[0] if fill else 1.0
            blob = struct.pack("<f", value)[2:] * n  # bf16 = high half of the f32
        else:
            blob = bytes(n * SIZES[dtype])
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors pads the header to 8 bytes
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def checkpoint_seeds():
    seeds = {}
    seeds["tiny_fc"] = safetensors(
        [("fc.weight", "F32", [2, 2]), ("fc.bias", "F32", [2])],
        {"classes": '["a","b"]', "preprocess": '{"resize_size":256,"crop_size":224}'},
    )
    skel = ["conv1.weight", "bn1.weight"] + [f"layer{l}.0.conv1.weight" for l in range(1, 5)]
    seeds["tv_basic_skeleton"] = safetensors([(n, "F16", [1]) for n in skel] + [("fc.weight", "F16", [2, 1]), ("fc.bias", "F16", [2])])
    seeds["tv_bottleneck_skeleton"] = safetensors(
        [(n, "F32", [1]) for n in skel + ["layer1.0.conv3.weight", "layer1.1.conv1.weight", "layer1.0.downsample.0.weight"]]
    )
    seeds["tv_prefixed"] = safetensors(
        [("module." + n, "BF16", [1, 1]) for n in skel] + [("module.bn1.num_batches_tracked", "I64", [])]
    )
    hf = [
        "resnet.embedder.embedder.convolution.weight",
        "resnet.embedder.embedder.normalization.weight",
        "resnet.encoder.stages.0.layers.0.layer.0.convolution.weight",
        "resnet.encoder.stages.0.layers.0.shortcut.convolution.weight",
        "classifier.1.weight",
        "classifier.1.bias",
    ]
    seeds["hf_skeleton"] = safetensors([(n, "F32", [2]) for n in hf])
    seeds["dtypes"] = safetensors(
        [("a.f64", "F64", [2]), ("b.bool", "BOOL", [3]), ("c.u8", "U8", [0]), ("d", "F32", [0, 5]), ("e.scalar", "F32", [])],
        {"note": "x"},
    )
    # A valid stem (conv1 + bn1, BF16 to stay small) and four stages' first conv: from_checkpoint
    # folds the stem's BatchNorm, then refuses layer1.0.conv1's shape.
    stem = [("conv1.weight", "BF16", [64, 3, 7, 7]), ("bn1.weight", "F32", [64]), ("bn1.bias", "F32", [64]),
            ("bn1.running_mean", "F32", [64]), ("bn1.running_var", "F32", [64], 1.0)]
    seeds["tv_valid_stem"] = safetensors(stem + [(f"layer{l}.0.conv1.weight", "F32", [1]) for l in range(1, 5)])
    return seeds


def tiny_images():
    rgb = bytes(range(12))
    return {
        "p6.ppm": b"P6\n2 2\n255\n" + rgb,
        "p5.pgm": b"P5 3 1 65535 " + bytes(6),
        "p1.pbm": b"P1\n3 2\n1 0 1\n0 1 0\n",
        "ff.farbfeld": b"farbfeld" + struct.pack(">II", 1, 2) + bytes(range(16)),
        "tga.tga": bytes([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]) + struct.pack("<HH", 2, 1) + bytes([24, 0]) + bytes(range(6)),
        "qoi.qoi": b"qoif" + struct.pack(">II", 1, 1) + bytes([3, 0]) + bytes([0xFE, 10, 20, 30]) + bytes(7) + b"\x01",
    }


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ck_dir, img_dir = sys.argv[1], sys.argv[2]
    os.makedirs(ck_dir, exist_ok=True)
    os.makedirs(img_dir, exist_ok=True)
    for name, data in checkpoint_seeds().items():
        with open(os.path.join(ck_dir, f"seed_{name}.safetensors"), "wb") as f:
            f.write(data)
    data_dir = os.path.join(ROOT, "crates", "shadercam-image", "tests", "data")
    for name in sorted(os.listdir(data_dir)):
        if name.rsplit(".", 1)[-1] in ("png", "jpg", "gif", "bmp", "webp", "tiff"):
            shutil.copy(os.path.join(data_dir, name), os.path.join(img_dir, "seed_" + name))
    shutil.copy(os.path.join(ROOT, "tests", "fixtures", "images", "shape_000.png"), os.path.join(img_dir, "seed_shape_000.png"))
    for name, data in tiny_images().items():
        with open(os.path.join(img_dir, "seed_" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
