"""Generate the small test images in this folder and Pillow's expected results (expected.json).

Run from anywhere:  pip install pillow numpy && python make_test_images.py
Made with Pillow 13.0.0 / libjpeg-turbo 3.x / numpy 2.4 (recorded in expected.json).

For every image, expected.json records what the reference pipeline sees:
  mode        Pillow's mode after Image.open (e.g. "I;16" for 16-bit grey PNG)
  size        [w, h]
  rgb_fnv     FNV-1a 64 of np.asarray(Image.open(p).convert("RGB")).tobytes()
  crop_fnv    FNV-1a 64 of the uint8 crop torchvision's ImageClassification(256, 224) makes:
              img.resize((rw, rh), Image.BILINEAR) then crop at (left, top), exactly as
              torchvision's F_pil.resize / F.center_crop do for PIL images (no torch needed)
  crop_sample the crop's RGB at a few (x, y) positions, to make a failure readable
For JPEGs, where the image crate's decoder (zune-jpeg) may differ from libjpeg-turbo by a
level or two, NAME.pillow.rgb holds Pillow's decoded RGB bytes so the test can measure the
difference instead of requiring equality.
"""
import io
import json
import os
import struct
import zlib

import numpy as np
import PIL
from PIL import Image, JpegImagePlugin, features

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.RandomState(1234)


def fnv64(b: bytes) -> str:
    h = 0xCBF29CE484222325
    for x in b:
        h ^= x
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def fnv64_np(a: np.ndarray) -> str:
    # Vectorised enough for the 5000x3 image: process in Python but over bytes once.
    return fnv64(a.tobytes())


def smooth(h, w, c, seed_scale=1.0):
    """Smooth-ish pattern plus mild noise: compresses well, still exercises the filters."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for k in range(c):
        v = 127.5 + 100 * np.sin(x / (3.0 + k) + k) * np.cos(y / (2.5 + k)) + rng.normal(0, 12 * seed_scale, (h, w))
        chans.append(np.clip(v, 0, 255))
    return np.stack(chans, -1).round().astype(np.uint8)


def png_write16(path, arr, color_type):
    """Minimal PNG writer for 16-bit images (Pillow cannot write 16-bit RGB/RGBA/LA)."""
    h, w = arr.shape[:2]
    rows = arr.reshape(h, -1).astype(">u2")
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def torchvision_crop(img: Image.Image, resize_size=256, crop=224) -> np.ndarray:
    w, h = img.size
    short, long_ = (w, h) if w <= h else (h, w)
    new_long = int(resize_size * long_ / short)
    rw, rh = (resize_size, new_long) if w <= h else (new_long, resize_size)
    if (rw, rh) != (w, h):
        img = img.resize((rw, rh), Image.BILINEAR)
    left = int(round((rw - crop) / 2.0))
    top = int(round((rh - crop) / 2.0))
    return np.asarray(img.crop((left, top, left + crop, top + crop)))


def make():
    files = {}

    def save(name, im, **kw):
        im.save(os.path.join(HERE, name), **kw)
        files[name] = True

    a = smooth(21, 33, 4)
    save("gray_l.png", Image.fromarray(a[..., 0], "L"))
    save("gray_la.png", Image.fromarray(a[..., :2], "LA"))
    rgba = a.copy()
    rgba[::3, ::2, 3] = 0  # fully transparent pixels keep their colour in convert("RGB")
    save("rgba.png", Image.fromarray(rgba, "RGBA"))
    save("one.png", Image.fromarray(np.array([[[10, 128, 250]]], np.uint8), "RGB"))
    wide = smooth(3, 5000, 3, seed_scale=0.0)
    save("wide_5000x3.png", Image.fromarray(wide, "RGB"), optimize=True)
    tall = smooth(700, 2, 3)
    save("tall_2x700.png", Image.fromarray(tall, "RGB"))

    pal = Image.fromarray(a[..., :3], "RGB").quantize(colors=40)
    save("palette_trns.png", pal, transparency=5)
    pal16 = Image.fromarray(a[..., :3], "RGB").quantize(colors=16)
    save("palette_4bit.png", pal16, bits=4)
    save("bilevel.png", Image.fromarray(a[..., 0] > 127).convert("1"))

    g16 = rng.randint(0, 65536, (19, 27)).astype(np.uint16)
    g16[:, :9] = rng.randint(0, 256, (19, 9))  # low values survive Pillow's I;16 -> RGB clamp
    png_write16(os.path.join(HERE, "gray16.png"), g16, 0)
    files["gray16.png"] = True
    png_write16(os.path.join(HERE, "rgb16.png"), rng.randint(0, 65536, (17, 23, 3)), 2)
    files["rgb16.png"] = True
    png_write16(os.path.join(HERE, "rgba16.png"), rng.randint(0, 65536, (17, 23, 4)), 6)
    files["rgba16.png"] = True
    png_write16(os.path.join(HERE, "la16.png"), rng.randint(0, 65536, (17, 23, 2)), 4)
    files["la16.png"] = True

    b = smooth(40, 48, 4)
    save("baseline420.jpg", Image.fromarray(b[..., :3], "RGB"), quality=90, subsampling=2)
    save("baseline444.jpg", Image.fromarray(b[..., :3], "RGB"), quality=90, subsampling=0)
    save("progressive.jpg", Image.fromarray(b[..., :3], "RGB"), quality=85, progressive=True)
    save("gray.jpg", Image.fromarray(b[..., 0], "L"), quality=90)
    save("cmyk.jpg", Image.fromarray(b, "CMYK"), quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW": must be ignored, as torchvision ignores it
    save("exif_orientation6.jpg", Image.fromarray(b[:, :40, :3], "RGB"), quality=90, exif=exif)

    frames = [Image.fromarray(smooth(24, 30, 3), "RGB").quantize(colors=32) for _ in range(2)]
    frames[0].save(os.path.join(HERE, "anim.gif"), save_all=True, append_images=frames[1:],
                   transparency=3, duration=100, loop=0, disposal=2)
    files["anim.gif"] = True

    c = smooth(18, 26, 3)
    save("rgb.bmp", Image.fromarray(c, "RGB"))
    save("rgb.tiff", Image.fromarray(c, "RGB"))
    save("rgb_lossless.webp", Image.fromarray(c, "RGB"), lossless=True)

    expected = {"_generator": {"pillow": PIL.__version__, "libjpeg": features.version("jpg"),
                               "numpy": np.__version__, "resize_size": 256, "crop_size": 224},
                "images": {}}
    for name in sorted(files):
        path = os.path.join(HERE, name)
        im = Image.open(path)
        mode = im.mode
        rgb = im.convert("RGB")
        arr = np.asarray(rgb)
        crop = torchvision_crop(rgb)
        pts = [(0, 0), (223, 0), (0, 223), (223, 223), (112, 112), (37, 181)]
        e = {"mode": mode, "size": list(im.size), "rgb_fnv": fnv64_np(arr), "crop_fnv": fnv64_np(crop),
             "crop_sample": [[x, y, *map(int, crop[y, x])] for x, y in pts],
             "bytes": os.path.getsize(path)}
        if name.endswith(".jpg"):
            with open(path + ".pillow.rgb", "wb") as f:
                f.write(arr.tobytes())
            e["pillow_rgb"] = name + ".pillow.rgb"
            # 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0, -1 = not YCbCr (grey, CMYK)
            e["jpeg_subsampling"] = JpegImagePlugin.get_sampling(im)
        expected["images"][name] = e
        print(f"{name:24} {mode:6} {im.size} {os.path.getsize(path)} bytes")
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


if __name__ == "__main__":
    make()
