"""Make the JPEG parity fixtures in tests/fixtures/jpeg/ with Pillow, torchvision and pytorch-grad-cam.

usage: python weights/make_jpeg_fixtures.py [--rocket PATH]
(from the repository root; pip install pillow torch torchvision grad-cam safetensors)

Encodes three ci images (tests/fixtures/images/*.png, first shrunk with Pillow's BILINEAR resize
to keep the fixtures under 2 MB) with Pillow's JPEG encoder (libjpeg-turbo) at 4:4:4 and 4:2:0
chroma, baseline and progressive, quality 75 and 95, and copies a real camera JPEG (4:2:2,
--rocket, default ../shared/fixtures/public/images/photo_rocket.jpg) beside them. For every
NAME.jpg it stores what the reference pipeline sees:

  NAME.jpg              the JPEG file
  DECODE.pillow.png     np.asarray(Image.open(NAME.jpg).convert("RGB")), lossless
  DECODE.overlay.png    show_cam_on_image(crop, gradcam, use_rgb=True), u8 224x224x3, lossless,
                        where gradcam = pytorch_grad_cam.GradCAM on layer4[-1], target = top-1
  jpeg.json             per file: source, quality, subsampling, progressive, size, its DECODE
                        name, the top-1 class and the float64 logits; Pillow / libjpeg-turbo versions

A progressive file holds the same quantised coefficients as the baseline file made with the same
quality and subsampling, so Pillow decodes both to the same pixels (checked here): they share one
DECODE (SOURCE_SUBSAMPLING_QUALITY) and one overlay.

The model is weights/resnet50-shapes.safetensors (float16 on disk, identical to
../shared/weights/resnet50-shapes-f16.safetensors) run in float64, with the preprocessing its
metadata names (torchvision ImageClassification(resize_size, crop_size), bilinear, antialias),
the same pipeline as ../shared/reference/make_fixtures.py.
"""
import json
import os
import shutil
import sys

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image, features
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from safetensors import safe_open
from safetensors.torch import load_file
from torchvision.transforms._presets import ImageClassification

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests/fixtures/jpeg")
WEIGHTS = os.path.join(ROOT, "weights/resnet50-shapes.safetensors")
rocket = (sys.argv[sys.argv.index("--rocket") + 1] if "--rocket" in sys.argv
          else os.path.join(ROOT, "../shared/fixtures/public/images/photo_rocket.jpg"))

# (source image, quality, subsampling (Pillow: 0 = 4:4:4, 2 = 4:2:0), progressive)
CASES = [("photo_chelsea", q, s, p) for s in (0, 2) for p in (False, True) for q in (75, 95)]
CASES += [("photo_astronaut", 95, 0, False), ("photo_astronaut", 75, 2, True),
          ("shape_002", 75, 2, False), ("shape_002", 95, 0, True)]
# Sizes the sources are shrunk to before encoding (the preprocessing then enlarges them to 256).
SIZES = {"photo_chelsea": (300, 200), "photo_astronaut": (256, 256), "shape_002": (256, 256)}
SUB = {0: "444", 1: "422", 2: "420"}

os.makedirs(OUT, exist_ok=True)
files = {}
for src, q, s, p in CASES:
    name = f"{src}_{SUB[s]}_{'prog' if p else 'base'}_q{q}"
    im = Image.open(os.path.join(ROOT, "tests/fixtures/images", f"{src}.png")).convert("RGB")
    im = im.resize(SIZES[src], Image.BILINEAR)
    im.save(os.path.join(OUT, f"{name}.jpg"), "JPEG", quality=q, subsampling=s, progressive=p)
    files[name] = {"source": f"tests/fixtures/images/{src}.png", "quality": q, "subsampling": SUB[s],
                   "progressive": p, "decode": f"{src}_{SUB[s]}_q{q}"}
if os.path.exists(rocket):
    shutil.copy(rocket, os.path.join(OUT, "photo_rocket.jpg"))
    files["photo_rocket"] = {"source": "a camera JPEG (../shared/fixtures/public/images/photo_rocket.jpg)",
                             "decode": "photo_rocket"}

meta = safe_open(WEIGHTS, "pt").metadata()
pre = json.loads(meta["preprocess"])
assert pre["interpolation"] == "bilinear", pre
preprocess = ImageClassification(crop_size=pre["crop_size"], resize_size=pre["resize_size"],
                                  mean=pre["mean"], std=pre["std"])
sd = {k: v.double() for k, v in load_file(WEIGHTS).items()}
model = torchvision.models.resnet50(num_classes=sd["fc.weight"].shape[0]).double()
model.load_state_dict(sd)
model.eval()
cam_tool = GradCAM(model=model, target_layers=[model.layer4[-1]])
mean = torch.tensor(pre["mean"], dtype=torch.float64).view(3, 1, 1)
std = torch.tensor(pre["std"], dtype=torch.float64).view(3, 1, 1)

decoded, overlays = {}, {}
for name in sorted(files):
    path = os.path.join(OUT, f"{name}.jpg")
    opened = Image.open(path)
    info = files[name]
    info["bytes"] = os.path.getsize(path)
    info["size"] = list(opened.size)
    info["sampling"] = [list(c[1:3]) for c in opened.layer]  # (h, v) per component
    info["progressive"] = bool(opened.info.get("progressive", 0))
    pil = opened.convert("RGB")
    rgb = np.asarray(pil)
    key = info["decode"]
    if key in decoded:
        assert np.array_equal(decoded[key], rgb), f"{name} decodes unlike {key}"
    else:
        decoded[key] = rgb
        Image.fromarray(rgb).save(os.path.join(OUT, f"{key}.pillow.png"), optimize=True)
    x = preprocess(pil).double()
    with torch.no_grad():
        logits = model(x[None])[0]
    top = int(logits.argmax())
    gc = cam_tool(input_tensor=x[None], targets=[ClassifierOutputTarget(top)])[0]
    vis = (x * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()
    overlay = show_cam_on_image(vis, gc, use_rgb=True)
    if key in overlays:
        assert np.array_equal(overlays[key], overlay), f"{name}: overlay unlike {key}'s"
    else:
        overlays[key] = overlay
        Image.fromarray(overlay).save(os.path.join(OUT, f"{key}.overlay.png"), optimize=True)
    info["top1"] = top
    info["logits"] = [round(float(v), 6) for v in logits]
    print(f"{name:34} {info['size']} {info['sampling']} {info['bytes']:7} B  top1 {top}")

json.dump({"pillow": PIL.__version__, "libjpeg_turbo": features.version("libjpeg_turbo"),
           "torch": torch.__version__,
           "model": "weights/resnet50-shapes.safetensors in float64; GradCAM from pytorch-grad-cam",
           "files": files},
          open(os.path.join(OUT, "jpeg.json"), "w"), indent=1)
total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
print(f"wrote {len(files)} JPEGs, {total} bytes in {OUT}")
