"""`shadercam.pytorch_grad_cam`, the drop-in for pytorch-grad-cam 1.5.7, without torch: the model
is a stand-in with what the drop-in reads of a torchvision ResNet (`state_dict()`, `eval()`, the
attributes `conv1` .. `fc`, `layer4[-1]`), holding the embedded checkpoint's tensors as numpy
arrays. Maps and pictures are compared with pytorch-grad-cam's own in tests/fixtures
(reference.safetensors: `gradcam` from `GradCAM(target_layers=[model.layer4[-1]])`, `overlay`
from `show_cam_on_image(crop, gradcam, use_rgb=True)`).

The seed sample itself (a torchvision model, torch tensors) needs torch, which this suite does
not install yet (README, "shadercam from Python").
"""

import json

import numpy as np
import pytest

from shadercam.pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus
from shadercam.pytorch_grad_cam.utils.image import (
    deprocess_image,
    preprocess_image,
    show_cam_on_image,
)
from shadercam.pytorch_grad_cam.utils.model_targets import (
    ClassifierOutputSoftmaxTarget,
    ClassifierOutputTarget,
)
from test_api import FIX, GRADCAM_ABS, ROOT, read_safetensors

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


class StandInResNet:
    """The parts of a torchvision ResNet the drop-in reads."""

    def __init__(self, state):
        self._state = state
        self.training = True
        for part in ("conv1", "bn1", "layer1", "layer2", "layer3", "fc"):
            setattr(self, part, object())
        self.layer3 = [object() for _ in range(6)]
        self.layer4 = [object() for _ in range(3)]

    def state_dict(self):
        return dict(self._state)

    def eval(self):
        self.training = False
        return self


@pytest.fixture(scope="module")
def model():
    weights = read_safetensors(ROOT / "weights" / "resnet50-shapes.safetensors")
    state = {k: v.astype(np.float32) for k, v in weights.items()}
    return StandInResNet(state)


@pytest.fixture(scope="module")
def labels():
    return json.loads((FIX / "labels.json").read_text())


@pytest.fixture(scope="module")
def refs():
    return read_safetensors(FIX / "reference.safetensors")


NAMES = ["photo_chelsea", "shape_001", "shape_004"]


def test_grad_cam_as_the_seed_calls_it_gives_pytorch_grad_cams_maps(model, refs):
    x = np.stack([refs[f"{n}.input"] for n in NAMES])
    classes = [int(np.argmax(refs[f"{n}.logits"])) for n in NAMES]
    with GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
        assert not model.training, "the drop-in calls model.eval(), as pytorch-grad-cam does"
        g = cam(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in classes])
        g_default = cam(input_tensor=x)  # targets=None: each image's top class
    assert g.dtype == np.float32 and g.shape == (3, 224, 224)
    np.testing.assert_array_equal(g, g_default)
    for i, n in enumerate(NAMES):
        err = np.abs(g[i] - refs[f"{n}.gradcam"]).max()
        assert err <= GRADCAM_ABS, f"{n}: {err:.2e}"


def test_show_cam_on_image_is_pytorch_grad_cams_to_the_bit(refs, labels):
    for n in sorted(labels["images"]):
        # What the seed sample and make_fixtures.py draw on: the normalised input un-normalised
        # in float32, clamped to [0, 1], HWC.
        vis = (refs[f"{n}.input"] * STD + MEAN).clip(0, 1).transpose(1, 2, 0)
        got = show_cam_on_image(vis, refs[f"{n}.gradcam"], use_rgb=True)
        want = refs[f"{n}.overlay"]
        assert got.dtype == np.uint8 and got.shape == want.shape
        np.testing.assert_array_equal(got, want, err_msg=n)
    # BGR unless use_rgb, as OpenCV's colour maps are.
    m = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    img = np.zeros((64, 64, 3), dtype=np.float32)
    np.testing.assert_array_equal(show_cam_on_image(img, m), show_cam_on_image(img, m, use_rgb=True)[..., ::-1])


def test_other_methods_and_smoothing_run_through_the_same_call(model, refs):
    x = refs["shape_002.input"][None]
    with GradCAMPlusPlus(model=model, target_layers=[model.layer4[-1]]) as cam:
        pp = cam(input_tensor=x)
    with GradCAM(model=model, target_layers=[model.layer4]) as cam:
        plain = cam(input_tensor=x)
        smooth = cam(input_tensor=x, aug_smooth=True)
        eigen = cam(input_tensor=x, eigen_smooth=True)
    with EigenCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
        e = cam(input_tensor=x)
    for m in (pp, smooth, eigen, e):
        assert m.shape == (1, 224, 224) and 0.0 <= m.min() and m.max() <= 1.0
        assert not np.array_equal(m, plain)


def test_what_the_drop_in_refuses_it_refuses_with_a_reason(model, refs):
    with pytest.raises(NotImplementedError, match=r"layer4\[-1\]"):
        GradCAM(model=model, target_layers=[model.layer3[-1]])
    with pytest.raises(NotImplementedError, match="gradients"):
        GradCAM(model=model, target_layers=[model.layer3[-1], model.layer4[-1]])
    with pytest.raises(TypeError, match="torchvision-layout ResNets"):
        GradCAM(model=object(), target_layers=[])
    x = refs["shape_000.input"][None]
    cam = GradCAM(model=model, target_layers=[model.layer4[-1]])
    with pytest.raises(NotImplementedError, match="ClassifierOutputTarget"):
        cam(input_tensor=x, targets=[ClassifierOutputSoftmaxTarget(1)])
    with pytest.raises(ValueError, match="2 targets for a batch of 1"):
        cam(input_tensor=x, targets=[ClassifierOutputTarget(1), ClassifierOutputTarget(2)])
    with cam:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        cam(input_tensor=x)


def test_the_image_helpers_follow_pytorch_grad_cam():
    img = np.random.default_rng(0).random((8, 6, 3), dtype=np.float32)
    x = np.asarray(preprocess_image(img, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]))
    assert x.shape == (1, 3, 8, 6) and x.dtype == np.float32
    np.testing.assert_allclose(x[0] * STD + MEAN, img.transpose(2, 0, 1), atol=1e-6)
    d = deprocess_image(np.linspace(-3, 3, 30).reshape(5, 6))
    assert d.dtype == np.uint8 and d.min() >= 0 and abs(int(d.mean()) - 127) <= 2
    # The targets read model outputs as pytorch-grad-cam's do.
    out = np.array([[1.0, 2.0, 3.0]])
    assert ClassifierOutputTarget(2)(out)[0] == 3.0
    assert abs(ClassifierOutputSoftmaxTarget(2)(out[0]) - np.exp(3) / np.exp([1, 2, 3]).sum()) < 1e-12
