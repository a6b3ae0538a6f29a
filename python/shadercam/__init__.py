"""shadercam from Python: class activation maps of ResNets, computed in WGSL compute shaders.

    import shadercam
    ex = shadercam.Explainer()                       # the embedded shapes model, f32, Grad-CAM
    out = ex.explain("cat.png")                      # or a PIL image, an HxWx3 uint8 array, a list
    out[0].heatmap                                   # float32 [224, 224], pytorch-grad-cam's map
    out[0].label, out[0].score, out[0].overlay       # the top class, its softmax, uint8 [224, 224, 3]

Pictures are decoded and preprocessed exactly as the `shadercam` CLI does (Pillow's RGB
conversion, torchvision's resize and centre crop). The GPU work runs with the GIL released.
Errors: FileNotFoundError / ValueError naming the file and the problem, RuntimeError for GPU
failures (and for any internal Rust panic, which never aborts the interpreter).
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any, Iterable, List, Optional, Sequence, Union

import numpy as np

from . import _native

__all__ = ["Explainer", "Explanation", "models", "EMBEDDED_WEIGHTS"]

EMBEDDED_WEIGHTS = _native.EMBEDDED_WEIGHTS


def models() -> List[dict]:
    """The published ImageNet ResNets `Explainer(model=...)` fetches (as `shadercam models`)."""
    return [
        {"name": n, "arch": a, "top1": t, "params": p, "default": d}
        for (n, a, t, p, d) in _native.models()
    ]


_SAFETENSORS_DTYPES = {
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("float64"): "F64",
    np.dtype("int64"): "I64",
}


def _as_numpy(t: Any) -> np.ndarray:
    """A tensor of a state dict as numpy: numpy arrays as they are, torch tensors through
    `.detach().cpu().numpy()` (bfloat16 widened to float32); torch is never imported here."""
    if isinstance(t, np.ndarray):
        return t
    if hasattr(t, "detach") and hasattr(t, "cpu"):
        t = t.detach().cpu()
        if str(getattr(t, "dtype", "")) == "torch.bfloat16":
            t = t.float()
        return t.numpy()
    if hasattr(t, "__dlpack__"):
        return np.from_dlpack(t)
    raise TypeError(f"state dict value of type {type(t).__name__} is not an array or tensor")


def _state_dict_bytes(state: dict) -> bytes:
    """A state dict (name -> numpy array or torch tensor) as a safetensors file in memory, for the
    loader, which names, shape-checks and folds it as it does a file. Integer tensors such as
    BatchNorm's `num_batches_tracked` are kept; the loader ignores them."""
    header: dict = {}
    blobs = []
    offset = 0
    for name, value in state.items():
        a = np.ascontiguousarray(_as_numpy(value))
        if a.dtype not in _SAFETENSORS_DTYPES:
            raise ValueError(f"state dict tensor {name!r}: dtype {a.dtype} is not supported")
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {
            "dtype": _SAFETENSORS_DTYPES[a.dtype],
            "shape": list(a.shape),
            "data_offsets": [offset, offset + len(b)],
        }
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


class Explanation:
    """One image's result.

    heatmap: float32 [crop, crop], values in [0, 1] (the first target's; `heatmaps` has all);
    raw_map: float32 [h, w], the map before ReLU and scaling; logits: float32 [classes];
    targets: the explained classes; label, score: the top class's name and softmax;
    box: the CAM box in original pixels [x0, y0, x1, y1] (or None); peak: (x, y);
    overlay: uint8 [crop, crop, 3]; overlay_original: uint8 [H, W, 3] (the heat over the whole
    picture, outside the crop dimmed); metrics: None (not computed from Python yet).
    to_dict(): the record the CLI prints with --json for this image.
    """

    def __init__(self, d: dict):
        self.name: str = d["name"]
        self._record = json.loads(d["record"])
        crop = d["crop"]
        h, w = d["map_size"]
        self.heatmaps = [np.frombuffer(b, dtype="<f4").reshape(crop, crop) for b in d["heatmaps"]]
        self.raw_maps = [np.frombuffer(b, dtype="<f4").reshape(h, w) for b in d["raw"]]
        self.overlays = [np.frombuffer(b, dtype=np.uint8).reshape(crop, crop, 3) for b in d["overlays"]]
        self.heatmap = self.heatmaps[0]
        self.raw_map = self.raw_maps[0]
        self.overlay = self.overlays[0]
        self.logits = np.asarray(d["logits"], dtype=np.float32)
        self.targets = list(d["targets"])
        self.overlay_original = None
        if "original" in d:
            px, ow, oh = d["original"]
            self.overlay_original = np.frombuffer(px, dtype=np.uint8).reshape(oh, ow, 3)
        top = self._record["predictions"][0] if self._record.get("predictions") else {}
        self.label = top.get("label")
        self.score = top.get("score")
        self.box = self._record.get("box")
        p = self._record.get("peak")
        self.peak = (p["x"], p["y"]) if p else None
        self.metrics = None
        self.error = None

    def to_dict(self) -> dict:
        return dict(self._record)

    def __repr__(self) -> str:
        return f"Explanation({self.name!r}, label={self.label!r}, score={self.score:.3f}, targets={self.targets})"


class Failure:
    """A bad input under `errors="skip"`: `name` and `error` (the message the CLI prints)."""

    def __init__(self, name: str, error: str):
        self.name = name
        self.error = error
        self.heatmap = None

    def to_dict(self) -> dict:
        return {"image": self.name, "error": self.error}

    def __repr__(self) -> str:
        return f"Failure({self.name!r}, {self.error!r})"


ImageLike = Union[str, os.PathLike, np.ndarray, Any]


def _item(x: ImageLike, i: int):
    """One input as the native module takes it: (name, None, 0, 0) for a path, or
    (name, rgb bytes, width, height) for a decoded picture."""
    if isinstance(x, (str, os.PathLike)):
        return (os.fspath(x), None, 0, 0)
    if hasattr(x, "convert") and hasattr(x, "size") and not isinstance(x, np.ndarray):
        # A PIL image: Pillow's own RGB conversion, as the CLI's decoder follows it.
        name = getattr(x, "filename", "") or f"<PIL image {i}>"
        x = np.asarray(x.convert("RGB"))
        a = x
    else:
        name = f"<array {i}>"
        a = x
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"image {i}: expected a path, a PIL.Image or an HxWx3 uint8 numpy array, got {type(x).__name__}"
        )
    if a.dtype != np.uint8:
        raise ValueError(f"image {i}: expected dtype uint8 (0..255), got {a.dtype}")
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"image {i}: expected shape (H, W, 3), got {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"image {i}: empty picture {a.shape}")
    h, w = a.shape[:2]
    return (name, np.ascontiguousarray(a).tobytes(), w, h)


class Explainer:
    """A ResNet on the GPU and a CAM method.

    weights: a checkpoint path (.safetensors, .pth), or a state dict (name -> numpy array or
    torch tensor; read through numpy, torch is never imported), or None for the embedded shapes
    model. model: a published model's name (see `models()`), fetched once into the Hugging Face
    cache. method: a pytorch-grad-cam method name ("gradcam", "gradcam++", "eigencam", ...).
    precision: "f32", "f16w", "f16" or "auto". batch: images per GPU batch (default: 4 on a
    software adapter, 32 on a GPU, capped by the adapter). classes: names for the classes.
    """

    def __init__(
        self,
        weights: Union[None, str, os.PathLike, dict] = None,
        model: Optional[str] = None,
        method: str = "gradcam",
        precision: str = "f32",
        batch: Optional[int] = None,
        classes: Optional[Sequence[str]] = None,
    ):
        path = data = None
        if isinstance(weights, dict):
            data = _state_dict_bytes(weights)
        elif weights is not None:
            path = os.fspath(weights)
        if batch is not None and batch < 1:
            raise ValueError(f"batch={batch}: must be at least 1")
        self._native = _native.NativeExplainer(
            weights=path,
            weights_bytes=data,
            model=model,
            method=method,
            precision=precision,
            batch=batch,
            classes=list(classes) if classes is not None else None,
        )
        info = self._native.info()
        self.adapter: str = info["adapter"]
        self.precision: str = info["precision"]
        self.conv_kernel: str = info["conv_kernel"]
        self.batch: int = info["batch"]
        self.crop: int = info["crop"]
        self.method: str = info["method"]
        self.classes: List[str] = info["classes"]
        self.weights: str = info["weights"]

    def __repr__(self) -> str:
        return (
            f"shadercam.Explainer(weights={self.weights!r}, method={self.method!r}, "
            f"precision={self.precision!r}, adapter={self.adapter!r})"
        )

    def explain(
        self,
        images: Union[ImageLike, Iterable[ImageLike]],
        targets: Optional[Sequence[int]] = None,
        top_k: int = 1,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
        metrics: Optional[Sequence[str]] = None,
        errors: str = "raise",
    ) -> List[Union[Explanation, Failure]]:
        """Explains one image or a list of them; returns one result per image, in order.

        targets: classes to explain in every image (default: each image's top_k best).
        errors: "raise" (default) raises on the first bad image, naming it; "skip" returns a
        `Failure` record (name, error) in its place and the other images' results.
        """
        if errors not in ("raise", "skip"):
            raise ValueError(f'errors={errors!r}: expected "raise" or "skip"')
        if metrics:
            raise NotImplementedError(
                "metrics= is not available from Python yet; use `shadercam explain --metrics ... --json`"
            )
        if top_k < 1:
            raise ValueError(f"top_k={top_k}: must be at least 1")
        if targets is not None:
            targets = [int(t) for t in targets]
            bad = [t for t in targets if not 0 <= t < len(self.classes)]
            if bad:
                raise ValueError(f"targets: class {bad[0]} is out of range for {len(self.classes)} classes")
        single = isinstance(images, (str, os.PathLike, np.ndarray)) or hasattr(images, "convert")
        seq = [images] if single else list(images)
        items = [_item(x, i) for i, x in enumerate(seq)]
        out: List[Union[Explanation, Failure]] = []
        for d in self._native.explain(items, targets, top_k, aug_smooth, eigen_smooth):
            if "error" in d:
                if errors == "raise":
                    cls = FileNotFoundError if d["error_kind"] == "not_found" else ValueError
                    raise cls(d["error"])
                out.append(Failure(d["name"], d["error"]))
            else:
                out.append(Explanation(d))
        return out

    def classify(self, images: Union[ImageLike, Iterable[ImageLike]]) -> List[dict]:
        """The top class, its score and the logits of each image (the CLI's `classify`)."""
        return [
            {"image": e.name, "label": e.label, "score": e.score, "logits": e.logits}
            for e in self.explain(images)
        ]

    def explain_tensor(
        self,
        x: np.ndarray,
        targets: Optional[Sequence[int]] = None,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
    ):
        """Heatmaps float32 [N, H, W] and logits float32 [N, classes] of a batch that is already
        normalised (what torchvision's transforms give): float32 [N, 3, H, W], H == W.
        targets: one class per image (default: each image's top-1)."""
        if hasattr(x, "detach") and hasattr(x, "cpu"):
            x = x.detach().cpu().numpy()
        x = np.asarray(x)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a float32 array [N, 3, H, W], got shape {x.shape}")
        if x.shape[2] != x.shape[3]:
            raise ValueError(f"expected square images (H == W), got {x.shape[2]}x{x.shape[3]}")
        if x.dtype != np.float32:
            raise ValueError(f"expected dtype float32, got {x.dtype}")
        if not np.isfinite(x).all():
            raise ValueError("the input holds NaN or infinite values")
        n, size = x.shape[0], x.shape[2]
        t = None if targets is None else [int(c) for c in targets]
        heat, logits, classes = self._native.explain_tensor(
            np.ascontiguousarray(x).astype("<f4", copy=False).tobytes(), n, size, t, aug_smooth, eigen_smooth
        )
        return (
            np.frombuffer(heat, dtype="<f4").reshape(n, size, size).copy(),
            np.frombuffer(logits, dtype="<f4").reshape(n, classes).copy(),
        )
