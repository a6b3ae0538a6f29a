"""A drop-in for pytorch-grad-cam 1.5.7 (`pip install grad-cam`): the same import paths,
classes and call signatures, computed by shadercam's shaders from one forward pass.

    from shadercam.pytorch_grad_cam import GradCAM
    from shadercam.pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from shadercam.pytorch_grad_cam.utils.image import show_cam_on_image

    with GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
        grayscale_cam = cam(input_tensor=x, targets=[ClassifierOutputTarget(281)])  # [B, H, W]

`model` is a torchvision-layout ResNet (resnet18 ... resnet152, wide_resnet50_2 / 101_2, or any
model whose `state_dict()` has those names). Its weights are read from `model.state_dict()`
once, when the CAM object is made, through numpy: this package never imports torch. The maps
are eval-mode maps (BatchNorm folded with its running statistics): like pytorch-grad-cam, the
constructor calls `model.eval()`. shadercam explains the last stage's output only, so
`target_layers` must be `[model.layer4[-1]]` (or `[model.layer4]`, the same tensor); earlier
layers need gradients, which shadercam does not compute yet (NotImplementedError).
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np

from .. import Explainer
from .utils.model_targets import ClassifierOutputSoftmaxTarget, ClassifierOutputTarget

__all__ = [
    "BaseCAM",
    "GradCAM",
    "HiResCAM",
    "GradCAMPlusPlus",
    "XGradCAM",
    "LayerCAM",
    "EigenCAM",
    "EigenGradCAM",
    "ScoreCAM",
    "AblationCAM",
    "GradCAMElementWise",
    "FinerCAM",
    "ShapleyCAM",
    "FEM",
    "KPCA_CAM",
    "RandomCAM",
]

_RESNET_PARTS = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc")


def _check_model(model: Any) -> None:
    if not hasattr(model, "state_dict") or not all(hasattr(model, p) for p in _RESNET_PARTS):
        raise TypeError(
            f"shadercam's pytorch-grad-cam drop-in explains torchvision-layout ResNets "
            f"(resnet18, resnet34, resnet50, resnet101, resnet152, wide_resnet50_2, "
            f"wide_resnet101_2, or a model with their state_dict names); "
            f"{type(model).__name__} lacks "
            f"{[p for p in ('state_dict',) + _RESNET_PARTS if not hasattr(model, p)]}"
        )


def _check_layers(model: Any, target_layers: Sequence[Any]) -> None:
    layers = list(target_layers)
    last = model.layer4[-1]
    if len(layers) == 1 and (layers[0] is last or layers[0] is model.layer4):
        return
    raise NotImplementedError(
        "shadercam computes CAMs from the last stage's output only: target_layers="
        "[model.layer4[-1]]. Earlier layers (model.layer3[-1], ...) and several target layers "
        "need gradients, which shadercam does not compute yet."
    )


class BaseCAM:
    """pytorch-grad-cam's `BaseCAM` signature; `method` is shadercam's name for the method."""

    method = "gradcam"

    def __init__(
        self,
        model: Any,
        target_layers: Sequence[Any],
        reshape_transform=None,
        compute_input_gradient: bool = False,
        uses_gradients: bool = True,
        tta_transforms=None,
        detach: bool = True,
        **kwargs: Any,
    ):
        _check_model(model)
        _check_layers(model, target_layers)
        if reshape_transform is not None:
            raise NotImplementedError("reshape_transform is for transformers; shadercam explains ResNets")
        if tta_transforms is not None:
            raise NotImplementedError("custom tta_transforms: aug_smooth=True uses pytorch-grad-cam's default six")
        if hasattr(model, "eval"):
            model.eval()  # as pytorch-grad-cam does: eval-mode maps
        self.model = model
        self.target_layers = list(target_layers)
        self._explainer: Optional[Explainer] = Explainer(
            weights=dict(model.state_dict()), method=self.method
        )

    def _classes(self, targets, n: int) -> Optional[List[int]]:
        if targets is None:
            return None
        targets = list(targets)
        if len(targets) != n:
            raise ValueError(f"{len(targets)} targets for a batch of {n} images")
        out = []
        for t in targets:
            if isinstance(t, ClassifierOutputSoftmaxTarget):
                raise NotImplementedError(
                    "ClassifierOutputSoftmaxTarget: shadercam explains the class logit "
                    "(ClassifierOutputTarget) only so far"
                )
            if not isinstance(t, ClassifierOutputTarget):
                raise NotImplementedError(
                    f"target {type(t).__name__}: shadercam computes its maps without autograd, "
                    "so only ClassifierOutputTarget (a class logit) is supported"
                )
            out.append(int(t.category))
        return out

    def __call__(
        self,
        input_tensor: Any,
        targets: Optional[Sequence[Any]] = None,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
    ) -> np.ndarray:
        """The maps, numpy float32 [B, H, W] in [0, 1], as pytorch-grad-cam returns them."""
        if self._explainer is None:
            raise RuntimeError("this CAM object was closed (used after its `with` block)")
        x = input_tensor
        if hasattr(x, "detach") and hasattr(x, "cpu"):
            x = x.detach().cpu().float().numpy()
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4:
            raise ValueError(f"input_tensor: expected [B, 3, H, W], got shape {x.shape}")
        heat, _ = self._explainer.explain_tensor(
            x,
            targets=self._classes(targets, x.shape[0]),
            aug_smooth=aug_smooth,
            eigen_smooth=eigen_smooth,
        )
        return heat

    forward = __call__

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        self._explainer = None
        return False

    def __del__(self):
        self._explainer = None


def _cam(name: str, method: str, doc: str):
    cls = type(name, (BaseCAM,), {"method": method, "__doc__": doc})
    return cls


GradCAM = _cam("GradCAM", "gradcam", "Grad-CAM: channel weights = mean gradient of the logit.")
HiResCAM = _cam("HiResCAM", "hirescam", "HiResCAM: gradient times activation, summed over channels.")
GradCAMPlusPlus = _cam("GradCAMPlusPlus", "gradcam++", "Grad-CAM++ (closed form for GAP + fc).")
XGradCAM = _cam("XGradCAM", "xgradcam", "XGrad-CAM: activation-weighted gradients.")
LayerCAM = _cam("LayerCAM", "layercam", "LayerCAM: ReLU(gradient) times activation.")
EigenCAM = _cam("EigenCAM", "eigencam", "EigenCAM: first principal component of the maps.")
EigenGradCAM = _cam("EigenGradCAM", "eigengradcam", "EigenGradCAM: principal component of gradient x activation.")
ScoreCAM = _cam("ScoreCAM", "scorecam", "Score-CAM: one masked forward pass per channel.")
AblationCAM = _cam("AblationCAM", "ablationcam", "Ablation-CAM (closed form, no ablated forwards).")
GradCAMElementWise = _cam("GradCAMElementWise", "gradcamelementwise", "Grad-CAM with an element-wise ReLU.")
FinerCAM = _cam("FinerCAM", "finercam", "Finer-CAM (FinerWeightedTarget, alpha 1).")
ShapleyCAM = _cam("ShapleyCAM", "shapleycam", "ShapleyCAM.")
FEM = _cam("FEM", "fem", "FEM: feature explanation method.")
KPCA_CAM = _cam("KPCA_CAM", "kpcacam", "KPCA-CAM: kernel PCA of the maps.")
RandomCAM = _cam("RandomCAM", "randomcam", "RandomCAM: numpy-seeded random channel weights.")
