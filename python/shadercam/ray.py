"""shadercam on Ray Data: one `Explainer` per actor, batches of pictures in, maps out.

    import ray, shadercam.ray
    ds = ray.data.read_images("photos/", include_paths=True, mode="RGB")
    out = ds.map_batches(
        shadercam.ray.Explain,
        fn_constructor_kwargs={"method": "gradcam"},   # Explainer's arguments; none: embedded model
        batch_size=32, concurrency=2, num_gpus=1,      # one actor per GPU
    )
    out.write_parquet("cams/")

`Explain` is a callable class, as Ray's batch-inference guide has them: the constructor loads
the network onto the actor's GPU once, each call explains one batch (numpy format). It takes an
`image` column (what `read_images` gives; the pictures may differ in size) or, without one, a
`path` column of file names, decoded as the CLI decodes them. It adds `heatmap` (float32
[crop, crop]), `label`, `score`, `target` and `logits`, and with `overlay_png=True` an
`overlay_png` column of PNG bytes (the crop with the heat over it). Every other column of the
batch (the `path` that `include_paths=True` adds, ids, ...) is passed through. This module does
not import ray: Ray imports it.
"""

from typing import Any, Dict, Optional, Sequence

import numpy as np

from . import Explainer, _native

__all__ = ["Explain"]


class Explain:
    def __init__(
        self,
        weights: Any = None,
        model: Optional[str] = None,
        method: str = "gradcam",
        precision: str = "f32",
        batch: Optional[int] = None,
        classes: Optional[Sequence[str]] = None,
        top_k: int = 1,
        overlay_png: bool = False,
        image_column: str = "image",
        path_column: str = "path",
    ):
        self.explainer = Explainer(
            weights=weights, model=model, method=method, precision=precision, batch=batch, classes=classes
        )
        self.top_k = top_k
        self.overlay_png = overlay_png
        self.image_column = image_column
        self.path_column = path_column

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        if self.image_column in batch:
            images = [np.asarray(im) for im in batch[self.image_column]]
        elif self.path_column in batch:
            images = [str(p) for p in batch[self.path_column]]
        else:
            raise ValueError(
                f"shadercam.ray.Explain: the batch has neither an {self.image_column!r} column "
                f"(ray.data.read_images) nor a {self.path_column!r} column of file names; it has "
                f"{sorted(batch)}"
            )
        outs = self.explainer.explain(images, top_k=self.top_k)
        out = dict(batch)
        out["heatmap"] = np.stack([o.heatmap for o in outs])
        out["label"] = np.array([o.label for o in outs])
        out["score"] = np.array([o.score for o in outs], dtype=np.float32)
        out["target"] = np.array([o.targets[0] for o in outs], dtype=np.int64)
        out["logits"] = np.stack([o.logits for o in outs])
        if self.overlay_png:
            out["overlay_png"] = np.array(
                [_native.encode_png(o.overlay.tobytes(), o.overlay.shape[1], o.overlay.shape[0]) for o in outs],
                dtype=object,
            )
        return out
