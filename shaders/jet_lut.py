"""Prints OpenCV's COLORMAP_JET as the packed-RGB WGSL table used in cam_overlay.wgsl.

pytorch-grad-cam's show_cam_on_image colours the map with cv2.applyColorMap(..., COLORMAP_JET);
this dumps that exact 256-entry lookup table (pip install opencv-python-headless numpy).
"""
import cv2
import numpy as np

lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), cv2.COLORMAP_JET)[:, 0, ::-1]
packed = [int(r) | (int(g) << 8) | (int(b) << 16) for r, g, b in lut]
rows = [", ".join(f"0x{v:06x}u" for v in packed[i:i + 8]) for i in range(0, 256, 8)]
print(f"// OpenCV {cv2.__version__} COLORMAP_JET, entry i = r | g << 8 | b << 16 (shaders/jet_lut.py)")
print("const JET: array<u32, 256> = array<u32, 256>(\n    " + ",\n    ".join(rows) + "\n);")
