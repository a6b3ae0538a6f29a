"""The Python API (`import shadercam`) on whatever adapter wgpu finds (Mesa 26 lavapipe in CI),
against the stored PyTorch / pytorch-grad-cam fixtures in tests/fixtures (made by
../shared/reference/make_fixtures.py). Needs numpy and Pillow, no torch.

Run: `pip install . && pip install pytest pillow && pytest python/tests`.
"""

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import shadercam

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
# The CLI's bound on the Grad-CAM map against pytorch-grad-cam (shadercam_kernels::reference::
# GRADCAM_ABS, tests/cam.rs): values in [0, 1].
GRADCAM_ABS = 2e-3


def read_safetensors(path: Path) -> dict:
    """A safetensors file's F32, F16 and U8 tensors as numpy arrays (the format: u64 header size, JSON
    header, raw little-endian data)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    dtypes = {"F32": "<f4", "F16": "<f2", "U8": "u1"}
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] not in dtypes:
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a : 8 + n + b], dtype=dtypes[t["dtype"]]).reshape(t["shape"])
    return out


@pytest.fixture(scope="module")
def ex():
    return shadercam.Explainer()


@pytest.fixture(scope="module")
def labels():
    return json.loads((FIX / "labels.json").read_text())


@pytest.fixture(scope="module")
def refs():
    return read_safetensors(FIX / "reference.safetensors")


def test_the_embedded_model_needs_no_path(ex, labels):
    assert ex.weights == shadercam.EMBEDDED_WEIGHTS
    assert ex.classes == labels["classes"]
    assert ex.crop == 224 and ex.precision == "f32" and ex.method == "gradcam"
    assert ex.adapter


def test_paths_give_pytorch_grad_cams_maps_and_pytorchs_classes(ex, labels, refs):
    names = sorted(labels["images"])
    files = [FIX / "images" / labels["images"][n]["file"] for n in names]
    out = ex.explain(files)
    assert len(out) == len(names)
    for name, e in zip(names, out):
        want = labels["images"][name]
        assert e.heatmap.dtype == np.float32 and e.heatmap.shape == (224, 224)
        assert e.overlay.dtype == np.uint8 and e.overlay.shape == (224, 224, 3)
        assert e.raw_map.shape == (7, 7)
        assert e.overlay_original.shape == (want["height"], want["width"], 3)
        assert e.targets == [int(np.argmax(refs[f"{name}.logits"]))]
        assert e.label == labels["classes"][e.targets[0]]
        np.testing.assert_allclose(e.logits, refs[f"{name}.logits"], atol=1e-3)
        err = np.abs(e.heatmap - refs[f"{name}.gradcam"]).max()
        assert err <= GRADCAM_ABS, f"{name}: Grad-CAM map error {err:.2e}"
        d = e.to_dict()
        assert d["image"] == str(files[names.index(name)])
        assert d["method"] == "gradcam" and d["targets"] == e.targets
        assert d["predictions"][0]["label"] == e.label and 0.0 < e.score <= 1.0


def test_arrays_and_pil_images_are_preprocessed_as_files_are(ex, labels):
    f = FIX / "images" / labels["images"]["shape_002"]["file"]
    img = Image.open(f)
    by_path, by_array, by_pil = ex.explain([f, np.asarray(img.convert("RGB")), img])
    for other in (by_array, by_pil):
        np.testing.assert_array_equal(other.heatmap, by_path.heatmap)
        np.testing.assert_array_equal(other.logits, by_path.logits)


def test_explain_tensor_takes_normalised_batches(ex, refs, labels):
    names = sorted(labels["images"])[:3]
    x = np.stack([refs[f"{n}.input"] for n in names]).astype(np.float32)
    heat, logits = ex.explain_tensor(x)
    assert heat.shape == (3, 224, 224) and logits.shape == (3, len(ex.classes))
    for i, n in enumerate(names):
        np.testing.assert_allclose(logits[i], refs[f"{n}.logits"], atol=1e-3)
        assert np.abs(heat[i] - refs[f"{n}.gradcam"]).max() <= GRADCAM_ABS
    # A different target per image (pytorch-grad-cam #264, #420).
    t = [0, 3, 5]
    heat_t, _ = ex.explain_tensor(x, targets=t)
    for i, n in enumerate(names):
        (alone,) = ex.explain(FIX / "images" / labels["images"][n]["file"], targets=[t[i]])
        assert alone.targets == [t[i]]
        assert np.abs(heat_t[i] - alone.heatmap).max() < 1e-6


def test_top_k_gives_one_map_per_class(ex, labels):
    f = FIX / "images" / labels["images"]["shape_000"]["file"]
    (e,) = ex.explain(f, top_k=3)
    assert len(e.targets) == 3 and len(e.heatmaps) == 3
    assert e.targets == list(np.argsort(-e.logits, kind="stable")[:3])


def test_bad_inputs_raise_python_exceptions_that_name_the_problem(ex, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        ex.explain(tmp_path / "nope.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png"):
        ex.explain(bad)
    with pytest.raises(ValueError, match=r"shape \(H, W, 3\)"):
        ex.explain(np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        ex.explain(np.zeros((8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        ex.explain_tensor(np.zeros((1, 4, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="out of range"):
        ex.explain(FIX / "images" / "shape_000.png", targets=[99])
    with pytest.raises(ValueError, match="method="):
        shadercam.Explainer(method="nonsense")
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        shadercam.Explainer(weights=tmp_path / "missing.safetensors")


def test_skip_keeps_the_good_results_and_reports_the_bad_ones(ex, tmp_path):
    good = FIX / "images" / "shape_000.png"
    out = ex.explain([good, tmp_path / "gone.png", good], errors="skip")
    assert [type(o).__name__ for o in out] == ["Explanation", "Failure", "Explanation"]
    assert "gone.png" in out[1].error
    np.testing.assert_array_equal(out[0].heatmap, out[2].heatmap)


def test_a_state_dict_of_numpy_arrays_is_the_same_network(ex, labels):
    # The embedded checkpoint's tensors, as a state dict in memory (what model.state_dict()
    # gives, here through numpy): same logits as the file.
    raw = (ROOT / "weights" / "resnet50-shapes.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    state = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        assert t["dtype"] == "F16"
        state[name] = np.frombuffer(raw[8 + n + a : 8 + n + b], dtype="<f2").reshape(t["shape"])
    ex2 = shadercam.Explainer(weights=state, classes=labels["classes"])
    assert ex2.weights == "<state dict>"
    f = FIX / "images" / "shape_003.png"
    (a,) = ex.explain(f)
    (b,) = ex2.explain(f)
    np.testing.assert_allclose(b.logits, a.logits, atol=1e-5)
    assert b.label == a.label


def test_models_lists_the_published_resnets():
    names = {m["name"] for m in shadercam.models()}
    assert {"resnet50", "resnet18"} <= {n.split(".")[0] for n in names}


def test_the_gil_is_released_while_the_gpu_works(ex):
    import threading
    import time

    done = threading.Event()
    ticks = 0

    def work():
        ex.explain(FIX / "images" / "shape_000.png")
        done.set()

    t = threading.Thread(target=work)
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    # A forward pass takes about half a second on lavapipe: the main thread ran meanwhile.
    assert ticks > 50, ticks


def test_a_rust_panic_is_a_runtime_error_not_an_abort():
    with pytest.raises(RuntimeError, match="a deliberate panic"):
        shadercam._native._panic_for_test()
