"""pytorch-grad-cam's picture helpers, without OpenCV: `show_cam_on_image` colours the map with
OpenCV's JET table (the one shadercam's overlay shader uses, checked against OpenCV) and blends
it exactly as pytorch-grad-cam 1.5.7 does."""

from typing import Sequence

import numpy as np

from ... import _native

COLORMAP_JET = 2  # cv2.COLORMAP_JET
_JET_RGB = np.frombuffer(_native.jet_lut(), dtype=np.uint8).reshape(256, 3)


def show_cam_on_image(
    img: np.ndarray,
    mask: np.ndarray,
    use_rgb: bool = False,
    colormap: int = COLORMAP_JET,
    image_weight: float = 0.5,
) -> np.ndarray:
    """`img` float [H, W, 3] in [0, 1], `mask` float [H, W] in [0, 1] -> uint8 [H, W, 3]:
    `(1 - image_weight) * jet(uint8(255 * mask)) / 255 + image_weight * img`, divided by its
    maximum, `uint8(255 * x)`. BGR unless `use_rgb`, as OpenCV's colour maps are."""
    if colormap != COLORMAP_JET:
        raise NotImplementedError("only cv2.COLORMAP_JET (2), pytorch-grad-cam's default")
    heatmap = _JET_RGB[np.uint8(255 * mask)]
    if not use_rgb:
        heatmap = heatmap[..., ::-1]
    heatmap = np.float32(heatmap) / 255
    if np.max(img) > 1:
        raise Exception("The input image should np.float32 in the range [0, 1]")
    if image_weight < 0 or image_weight > 1:
        raise Exception(f"image_weight should be in the range [0, 1]. Got: {image_weight}")
    cam = (1 - image_weight) * heatmap + image_weight * img
    cam = cam / np.max(cam)
    return np.uint8(255 * cam)


def preprocess_image(
    img: np.ndarray,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.5, 0.5, 0.5),
):
    """`img` float [H, W, 3] -> [1, 3, H, W] normalised with `mean` and `std`: a torch tensor
    where torch is installed (as pytorch-grad-cam returns), else a numpy float32 array."""
    x = (np.asarray(img, dtype=np.float32) - np.float32(mean)) / np.float32(std)
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    try:
        import torch  # only to return what pytorch-grad-cam returns; never needed
    except ImportError:
        return x
    return torch.from_numpy(x)


def deprocess_image(img: np.ndarray) -> np.ndarray:
    """pytorch-grad-cam's visualisation of a gradient image: standardise, scale by 0.1, centre
    at 0.5, clip to [0, 1], `uint8(255 * x)`."""
    img = img - np.mean(img)
    img = img / (np.std(img) + 1e-5)
    img = img * 0.1
    img = img + 0.5
    img = np.clip(img, 0, 1)
    return np.uint8(img * 255)
