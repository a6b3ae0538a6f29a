"""Reference maps and metrics for the CAM methods of issue 13, made with pytorch-grad-cam itself.

usage (from the repository root):
    python weights/make_method_refs.py [--weights PATH] [--metrics-images N]
                                       [--skip-methods] [--skip-metrics] [--checks]
    --checks prints the verification numbers quoted in the docs (FEM ties, eigen signs, KPCA
    closed form, OpenCV integer rules) and writes nothing; the main run prints a VERIFY block.

Needs: torch, torchvision, grad-cam==1.5.7 (pytorch_grad_cam), ttach, scikit-learn, scipy,
opencv-python, safetensors, numpy:
    pip install torch torchvision grad-cam==1.5.7 safetensors
CPU only: about 35 minutes for the maps and 35 for the metrics on two busy cores (the two parts
can run as separate processes: --skip-metrics / --skip-methods --metric-cams FILE).
Weights: --weights, default tests/fixtures/pth/resnet50-shapes-f16.pth (the shapes ResNet-50;
tensor-for-tensor equal to shared/weights/resnet50-shapes-f16.safetensors, which the committed
fixtures were made from; a .safetensors file works too).

Reads  tests/fixtures/reference.safetensors (`NAME.input`, so the inputs are bit-identical to
       the ones the Rust tests use) and tests/fixtures/images (the list of names).
Writes tests/fixtures/methods.safetensors and tests/fixtures/metrics.json (names: see the
       module constants below and /work/coord/refs.md).

Everything runs on a float64 copy of the network (model.double()): target_layers =
[model.layer4[-1]]. Raw maps are what the library's own `get_cam_image` returns (captured by
wrapping the method object's bound `get_cam_image`, so the library computes them); heat maps
are the library's `__call__` output. Places where the library itself rounds to float32:
AblationCAM's scores (np.float32 before the subtraction), get_2d_projection /
get_2d_projection_kernel (np.float32 result), scale_cam_image (cv2.resize on float32), the
metrics' scores (np.float32) and the ROAD imputer's solution (torch.float).

One exactness-preserving speed-up: AblationCAM replaces layer4[-1] by an AblationLayer whose
output ignores its input, so the ResNet forward below skips conv1..layer4[-2] while that layer
is installed (same scores; 2048 ablated forwards per image would otherwise take ~an hour on CPU).
ROAD's imputer is memoised on (image, mask) with its noise set to 0 (deterministic).
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np
import torch
import torchvision
from safetensors.numpy import save_file
from safetensors.torch import load_file

import pytorch_grad_cam as pgc
from pytorch_grad_cam import (AblationCAM, EigenCAM, EigenGradCAM, FEM, FinerCAM, GradCAM,
                              GradCAMElementWise, GradCAMPlusPlus, HiResCAM, KPCA_CAM, LayerCAM,
                              RandomCAM, ShapleyCAM, XGradCAM)
from pytorch_grad_cam.ablation_layer import AblationLayer
from pytorch_grad_cam.metrics import road as road_mod
from pytorch_grad_cam.metrics.arcc import ARCC, Coherency, Complexity
from pytorch_grad_cam.metrics.cam_mult_image import (CamMultImageConfidenceChange,
                                                     DropInConfidence, IncreaseInConfidence)
from pytorch_grad_cam.metrics.road import (ROADCombined, ROADLeastRelevantFirst,
                                           ROADMostRelevantFirst)
from pytorch_grad_cam.sobel_cam import sobel_cam
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection
from pytorch_grad_cam.utils.model_targets import (ClassifierOutputReST,
                                                  ClassifierOutputSoftmaxTarget,
                                                  ClassifierOutputTarget)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
HEAT_IMAGE = "shape_002"
AUG_IMAGES = ["shape_002", "photo_chelsea"]
AUG_METHODS = ["gradcam", "eigencam", "layercam"]
PERCENTILES = [10, 20, 30, 40, 50, 60, 70, 80, 90]
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


METADATA = {
    "made_by": "weights/make_method_refs.py",
    "library": "pytorch-grad-cam 1.5.7, float64 model, target_layers=[layer4[-1]]",
    "raw": "library get_cam_image output (before ReLU), top-1 target",
    "heat": "library __call__ output (ReLU, min-max, cv2 resize, min-max)",
    "metric_cam": "the grayscale cam scored in metrics.json"}


class AblationShortcutResNet(torchvision.models.ResNet):
    """torchvision's ResNet; while AblationCAM has put its AblationLayer in place of
    layer4[-1], the layers before it are skipped (the AblationLayer returns its stored
    activations and ignores its input, so the logits are unchanged)."""

    def _forward_impl(self, x):
        if isinstance(self.layer4[-1], AblationLayer):
            h = self.layer4[-1](None)
            return self.fc(torch.flatten(self.avgpool(h), 1))
        return super()._forward_impl(x)


def load_model(path):
    if path.endswith(".safetensors"):
        sd = load_file(path)
    else:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    model = torchvision.models.resnet50(num_classes=sd["fc.weight"].shape[0])
    model.__class__ = AblationShortcutResNet
    model.load_state_dict({k: v.double() for k, v in sd.items()})
    return model.double().eval()


class Capture:
    """Wraps bound methods of a CAM object so every call's result (and arguments) is kept."""

    def __init__(self, obj, *names):
        self.obj, self.names, self.calls = obj, names, {n: [] for n in names}

    def __enter__(self):
        for n in self.names:
            orig = getattr(self.obj, n)

            def wrapped(*a, _orig=orig, _n=n, **k):
                r = _orig(*a, **k)
                self.calls[_n].append((a, k, r))
                return r
            setattr(self.obj, n, wrapped)
        return self

    def __exit__(self, *exc):
        for n in self.names:
            delattr(self.obj, n)

    def last(self, name):
        return self.calls[name][-1][2]


def np64(r):
    return r.detach().cpu().numpy() if isinstance(r, torch.Tensor) else np.asarray(r)


# The methods whose library class is a BaseCAM; key = our CLI name.
CLASSES = {
    "gradcam": GradCAM, "hirescam": HiResCAM, "xgradcam": XGradCAM,
    "gradcamplusplus": GradCAMPlusPlus, "layercam": LayerCAM, "eigencam": EigenCAM,
    "ablationcam": AblationCAM, "eigengradcam": EigenGradCAM,
    "gradcamelementwise": GradCAMElementWise, "kpcacam": KPCA_CAM, "fem": FEM,
}
# get_cam_image honours eigen_smooth (BaseCAM's own, or an override that checks the flag).
EIGEN_SMOOTH = ["gradcam", "hirescam", "xgradcam", "gradcamplusplus", "layercam", "ablationcam",
                "gradcamelementwise", "finercam", "shapleycam", "shapleycam_logit", "randomcam"]


def run_cam(model, method, x, targets, eigen_smooth=False, aug_smooth=False):
    """Library heat map [N,224,224] and the raw maps its get_cam_image returned (list)."""
    if method == "finercam":
        cam = FinerCAM(model, [model.layer4[-1]])
        with Capture(cam.base_cam, "get_cam_image", "compute_cam_per_layer") as cap:
            heat = cam(x, targets=None, eigen_smooth=eigen_smooth)
        fin = cap.calls["compute_cam_per_layer"][-1][0][1]
        classes = [[t.main_category] + list(t.comparison_categories) for t in fin]
        return heat, [np64(c[2]) for c in cap.calls["get_cam_image"]], classes, \
            eigen_smooth_raw(cam.base_cam, cap.calls["get_cam_image"][-1], None)
    if method in ("shapleycam", "shapleycam_logit"):
        cam = ShapleyCAM(model, [model.layer4[-1]])
        if method == "shapleycam":
            top = model(x).argmax(-1).tolist()
            targets = [ClassifierOutputReST(c) for c in top]
    elif method == "randomcam":
        cam = RandomCAM(model, [model.layer4[-1]])
    else:
        cam = CLASSES[method](model, [model.layer4[-1]])
    names = ["get_cam_image"] + (["get_cam_weights"] if hasattr(type(cam), "get_cam_weights")
                                 and method not in ("eigencam", "eigengradcam", "kpcacam",
                                                    "fem", "layercam", "hirescam",
                                                    "gradcamelementwise") else [])
    with Capture(cam, *names) as cap:
        heat = cam(x, targets, aug_smooth=aug_smooth, eigen_smooth=eigen_smooth)
    raws = [np64(c[2]) for c in cap.calls["get_cam_image"]]
    weights = [np64(c[2]) for c in cap.calls.get("get_cam_weights", [])]
    es = eigen_smooth_raw(cam, cap.calls["get_cam_image"][-1], weights[-1] if weights else None)
    cam.activations_and_grads.release()
    return heat, raws, weights, es


def eigen_smooth_raw(cam, call, weights):
    """What the same get_cam_image call returns with eigen_smooth=True, without recomputing
    the weights (AblationCAM's 2048 forwards, RandomCAM's draws, ShapleyCAM's freed graph):
    BaseCAM.get_cam_image's eigen_smooth branch, get_2d_projection(weights * activations), for
    the weight methods; the method's own get_cam_image (pure numpy) for the elementwise ones."""
    args, kwargs, _ = call
    if weights is None and type(cam).get_cam_image is not pgc.base_cam.BaseCAM.get_cam_image:
        if type(cam) in (LayerCAM, HiResCAM, GradCAMElementWise):
            a = list(args)
            a[5] = True  # eigen_smooth
            return np64(type(cam).get_cam_image(cam, *a))
        return None  # EigenCAM, EigenGradCAM, KPCA-CAM, FEM ignore the flag
    if weights is None:  # GradCAM family: weights from the captured grads
        a = args
        weights = cam.get_cam_weights(a[0], a[1], a[2], a[3], a[4])
    acts = np64(args[3])
    return get_2d_projection(weights[:, :, None, None] * acts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=os.path.join(FIX, "pth", "resnet50-shapes-f16.pth"))
    ap.add_argument("--metrics-images", type=int, default=8)
    ap.add_argument("--skip-metrics", action="store_true")
    ap.add_argument("--skip-methods", action="store_true")
    ap.add_argument("--metric-cams", help="write the metric cams to this file instead of "
                    "merging them into methods.safetensors (for running the parts in parallel)")
    ap.add_argument("--checks", action="store_true", help="print the refs.md checks and exit")
    ap.add_argument("--only", help="smoke test: one image, nothing written")
    args = ap.parse_args()
    torch.set_grad_enabled(True)
    model = load_model(args.weights)
    refs = load_file(os.path.join(FIX, "reference.safetensors"))
    names = sorted(os.path.splitext(f)[0] for f in os.listdir(os.path.join(FIX, "images")))
    if args.only:
        names = [args.only]
    inputs = {n: refs[f"{n}.input"].double()[None] for n in names}
    if args.checks:
        extra_checks(model, names, inputs)
        return
    out = {}
    verify = {}
    if not args.skip_methods:
        methods_refs(model, names, inputs, refs, out, verify)
        if args.only:
            print("VERIFY " + json.dumps(verify, indent=1))
            return
        save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()},
                  os.path.join(FIX, "methods.safetensors"), metadata=METADATA)
        print("VERIFY " + json.dumps(verify, indent=1))
    if not args.skip_metrics:
        first = [k for k in ("photo_chelsea", "shape_002") if k in names]
        mnames = sorted((first + [k for k in names if k not in first])[:args.metrics_images])
        metrics_refs(model, mnames, inputs, out)
        path = args.metric_cams or os.path.join(FIX, "methods.safetensors")
        old = load_file(path) if os.path.exists(path) else {}
        old = {k: v.numpy() for k, v in old.items() if not k.endswith(".metric_cam")}
        old.update({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()
                    if k.endswith(".metric_cam")})
        save_file(old, path, metadata=METADATA)


def methods_refs(model, names, inputs, refs, out, verify):
    W = model.fc.weight.detach().numpy()
    b = model.fc.bias.detach().numpy()
    feats = {}
    h = model.layer4.register_forward_hook(lambda m, i, o: feats.__setitem__("A", o.detach()))
    logits, acts = {}, {}
    with torch.no_grad():
        for n in names:
            logits[n] = model(inputs[n])[0].numpy()
            acts[n] = feats["A"][0].numpy()
    h.remove()
    per_image = ["gradcam", "hirescam", "xgradcam", "gradcamplusplus", "layercam", "eigencam",
                 "ablationcam", "eigengradcam", "gradcamelementwise", "kpcacam", "fem",
                 "finercam", "shapleycam", "shapleycam_logit"]
    new = {"ablationcam", "eigengradcam", "gradcamelementwise", "kpcacam", "fem", "finercam",
           "shapleycam", "shapleycam_logit", "randomcam"}
    rep = verify.setdefault("max_abs_diff", {})

    def note(key, val):
        rep[key] = max(rep.get(key, 0.0), float(val))

    for n in names:
        x = inputs[n]
        y, A = logits[n], acts[n]
        top = int(y.argmax())
        hw = A.shape[1] * A.shape[2]
        targets = [ClassifierOutputTarget(top)]
        raw_of = {}
        for m in per_image:
            print(n, m, flush=True)
            res = run_cam(model, m, x, None if m == "finercam" else targets)
            heat, raws = res[0], res[1]
            raw_of[m] = raws[-1][0]
            out[f"{n}.{m}.raw"] = raws[-1][0]
            if n == HEAT_IMAGE and m in new:
                out[f"{n}.{m}.heat"] = heat[0]
            if m == "finercam":
                cls = res[2][0]
                out[f"{n}.finercam.classes"] = np.array(cls, dtype=np.float32)
                verify.setdefault("finercam_classes", {})[n] = cls
                # closed form of FinerWeightedTarget's gradient w.r.t. the logits
                g = finer_logit_grad(y, cls[0], cls[1:], 1.0)
                alpha = g @ W / hw
                note("finercam_closed_form_raw", np.abs(np.einsum("k,khw->hw", alpha, A)
                                                        - raw_of[m]).max())
            if m == "ablationcam":
                wl = res[2][-1][0]
                closed = W[top] * A.reshape(A.shape[0], -1).mean(1) / y[top]
                note("ablationcam_weights_vs_closed_form", np.abs(wl - closed).max())
                note("ablationcam_weights_rel_to_max", np.abs(wl - closed).max() / np.abs(closed).max())
                note("ablationcam_raw_vs_closed_form",
                     np.abs(np.einsum("k,khw->hw", closed, A) - raw_of[m]).max())
                verify.setdefault("ablation_min_A", {})[n] = float(A.min())
            if m == "shapleycam":
                p = np.exp(y - y.max()); p /= p.sum()
                gr = (2 * W[top] - W.T @ p) / hw
                H = np.diag(p) - np.outer(p, p)
                hvp = -(W.T @ (H @ (y - b))) / hw
                alpha = gr - 0.5 * hvp
                note("shapleycam_rest_closed_form_raw",
                     np.abs(np.einsum("k,khw->hw", alpha, A) - raw_of[m]).max())
                note("shapleycam_rest_weights_vs_closed_form",
                     np.abs(res[2][-1][0] - alpha).max())
            if m in EIGEN_SMOOTH:
                out[f"{n}.{m}.eigen_smooth.raw"] = res[3][0]
                if n == HEAT_IMAGE and m in ("gradcam", "layercam", "ablationcam"):
                    # check the shortcut against the library's own eigen_smooth=True call
                    full = run_cam(model, m, x, targets, eigen_smooth=True)
                    note("eigen_smooth_shortcut_vs_library", np.abs(full[1][-1][0] - res[3][0]).max())
            if n in AUG_IMAGES and m in AUG_METHODS:
                au = run_cam(model, m, x, None, aug_smooth=True)
                out[f"{n}.{m}.aug_smooth.heat"] = au[0][0]
        note("shapleycam_logit_vs_gradcam_raw",
             np.abs(raw_of["shapleycam_logit"] - raw_of["gradcam"]).max())
        note("gradcam_raw_vs_cam7", np.abs(raw_of["gradcam"] * hw - refs[f"{n}.cam7"].numpy()).max())
        # EigenCAM/EigenGradCAM/KPCA sign vs "largest magnitude positive"
        for m in ("eigencam", "eigengradcam", "kpcacam"):
            r = raw_of[m].ravel()
            verify.setdefault(f"{m}_largest_magnitude_positive", {})[n] = bool(r[np.abs(r).argmax()] > 0)
        # sobelcam: uint8 crop of the input tensor
        crop = np.clip(np.round((refs[f"{n}.input"].double().numpy().transpose(1, 2, 0) * STD + MEAN)
                                * 255), 0, 255).astype(np.uint8)
        out[f"{n}.sobelcam.u8"] = sobel_cam(crop).astype(np.float32)
    # randomcam: all images in one batch, sorted names, seed 0
    xb = torch.cat([inputs[n] for n in names])
    tb = [ClassifierOutputTarget(int(logits[n].argmax())) for n in names]
    np.random.seed(0)
    heat, raws, weights, es = run_cam(model, "randomcam", xb, tb)
    for j, n in enumerate(names):
        out[f"{n}.randomcam.raw"] = raws[-1][j]
        out[f"{n}.randomcam.eigen_smooth.raw"] = es[j]
        if n == HEAT_IMAGE:
            out[f"{n}.randomcam.heat"] = heat[j]
    np.random.seed(0)
    draws = np.random.uniform(-1, 1, size=(len(names), 2048))
    note("randomcam_weights_vs_seed0_draws", np.abs(weights[-1] - draws).max())
    np.random.seed(0)
    full = run_cam(model, "randomcam", xb, tb, eigen_smooth=True)
    note("eigen_smooth_shortcut_vs_library", np.abs(full[1][-1] - es).max())


def extra_checks(model, names, inputs):
    """Numbers for /work/coord/refs.md: FEM float32 threshold ties, the eigen-family sign rules,
    KPCA-CAM reproduced from its parameters, OpenCV's grey/Sobel/addWeighted integer rules."""
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_kernel
    feats, rep = {}, {}
    h = model.layer4.register_forward_hook(lambda m, i, o: feats.__setitem__("A", o.detach()))
    for n in names:
        with torch.no_grad():
            model(inputs[n])
        A = feats["A"][0].numpy()
        C = A.shape[0]
        flat = A.reshape(C, -1)
        # FEM: mask computed in float64 vs float32; elements within 1e-6 (relative) of th_k
        th64 = flat.mean(1) + 2 * flat.std(1)
        f32 = flat.astype(np.float32)
        th32 = f32.mean(1) + np.float32(2) * f32.std(1)
        m64, m32 = flat > th64[:, None], f32 > th32[:, None]
        live = flat.std(1) > 0
        gap = np.abs(flat[live] - th64[live, None]) / np.abs(th64[live, None])
        rep.setdefault("fem", {})[n] = {"mask_f64_vs_f32_differ": int((m64 != m32).sum()),
                                        "constant_channels": int((~live).sum()),
                                        "constant_channels_nonzero": int(((~live) & (flat[:, 0] != 0)).sum()),
                                        "live_within_1e-6_rel_of_threshold": int((gap <= 1e-6).sum()),
                                        "live_min_rel_gap": float(gap.min())}
        # EigenCAM: numpy SVD sign vs "largest-magnitude value positive"
        X = flat.T - flat.T.mean(0)
        proj = get_2d_projection(A[None])[0].ravel()
        U, S, VT = np.linalg.svd(X, full_matrices=True)
        p0 = X @ VT[0]
        rep.setdefault("eigencam_sign", {})[n] = {
            "numpy_largest_magnitude_positive": bool(proj[np.abs(proj).argmax()] > 0),
            "numpy_sum_positive": bool(proj.sum() > 0),
            "numpy_vt0_largest_magnitude_positive": bool(VT[0][np.abs(VT[0]).argmax()] > 0),
            "numpy_vt0_sum_positive": bool(VT[0].sum() > 0),
            "numpy_u0_first_positive": bool(U[0, 0] > 0),
            "numpy_vt0_first_nonzero_positive": bool(VT[0][np.flatnonzero(VT[0])[0]] > 0),
            "same_as_full_svd_rerun": bool(np.allclose(p0, proj, atol=1e-6)),
            "sigma1_over_sigma2": float(S[0] / S[1])}
        # KPCA-CAM from its parameters: sigmoid kernel tanh(X X^T / C + 1), double centring,
        # top eigenvector of scipy eigh, svd_flip (largest |entry| positive), times sqrt(lambda)
        K = np.tanh(X @ X.T / C + 1.0)
        n_ = K.shape[0]
        J = np.eye(n_) - 1.0 / n_
        Kc = J @ K @ J
        lam, V = np.linalg.eigh(Kc)
        v = V[:, -1]
        v = v * np.sign(v[np.abs(v).argmax()])
        mine = v * np.sqrt(lam[-1])
        lib = get_2d_projection_kernel(A[None])[0].ravel()
        rep.setdefault("kpcacam", {})[n] = {
            "max_abs_diff_closed_form_vs_library": float(np.abs(mine - lib).max()),
            "max_abs_library": float(np.abs(lib).max()),
            "lambda1_over_lambda2": float(lam[-1] / lam[-2])}
    h.remove()
    # OpenCV integer rules, exhaustively / on random data
    rng = np.random.RandomState(0)
    a, b = np.meshgrid(np.arange(256), np.arange(256))
    aw = cv2.addWeighted(a.astype(np.uint8), 0.5, b.astype(np.uint8), 0.5, 0)
    rep["cv2_addWeighted_is_round_half_even"] = bool((aw == np.round((a + b) / 2)).all())
    R, G, B = np.meshgrid(np.arange(256), np.arange(256), np.arange(256), indexing="ij")
    img = np.stack([R, G, B], -1).astype(np.uint8).reshape(4096, 4096, 3)
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.int64).reshape(256, 256, 256)
    rep["cv2_rgb2gray_is_(9798R+19235G+3735B+16384)>>15_all_colours"] = bool(
        (g == (R * 9798 + G * 19235 + B * 3735 + 16384) >> 15).all())
    ok = True
    for w in (1, 2, 7, 8, 15, 16, 17, 31, 33, 224):
        im = rng.randint(0, 256, (9, w, 3)).astype(np.uint8)
        r_, g_, b_ = [im[..., i].astype(np.int64) for i in range(3)]
        ok &= bool((cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) ==
                    (r_ * 9798 + g_ * 19235 + b_ * 3735 + 16384) >> 15).all())
        gray = cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)
        if w >= 2:
            p = np.pad(gray.astype(np.int64), 1, mode="reflect")
            dx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
            dy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
            mine = np.round((np.minimum(np.abs(dx), 255) + np.minimum(np.abs(dy), 255)) / 2)
            ok &= bool((sobel_cam(im) == mine).all())
    rep["sobel_cam_closed_form_all_widths"] = ok
    print("CHECKS " + json.dumps(rep, indent=1))


def finer_logit_grad(y, c, comp, alpha, eps=1e-9):
    """d s / d y for FinerWeightedTarget: s = sum_C p_j (y_c - alpha y_j) / (sum_C p_j + eps)."""
    p = np.exp(y - y.max()); p /= p.sum()
    inC = np.zeros_like(y); inC[comp] = 1.0
    D = y[c] - alpha * y
    N = (p * inC * D).sum()
    S = (p * inC).sum()
    dN = p * (inC * D - N) - alpha * p * inC
    dN[c] += S
    dS = p * inC - p * S
    return (dN * (S + eps) - N * dS) / (S + eps) ** 2


class CachedForward(torch.nn.Module):
    """The model with its no-grad outputs memoised on the input's bytes: the metrics forward the
    unperturbed image once per metric call and ROADCombined repeats the per-percentile
    imputations; the cached logits are the same float64 numbers the model returned."""

    def __init__(self, model):
        super().__init__()
        self.model, self.cache = model, {}

    def forward(self, x):
        if torch.is_grad_enabled():
            return self.model(x)
        key = (tuple(x.shape), x.detach().cpu().numpy().tobytes())
        if key not in self.cache:
            self.cache[key] = self.model(x).clone()
        return self.cache[key].clone()


def patch_imputer():
    """ROAD with the NoisyLinearImputer's noise set to 0 (deterministic), memoised on
    (image, mask): ROADCombined and ARCC re-impute the same masks as the per-percentile calls.
    The imputation runs on the float32 image (the library's own dtype there)."""
    road_mod.NoisyLinearImputer.__init__.__defaults__ = (0.0, road_mod.neighbors_weights)
    orig = road_mod.NoisyLinearImputer.__call__
    memo = {}

    def call(self, img, mask):
        assert self.noise == 0.0
        key = (img.numpy().tobytes(), mask.numpy().tobytes())
        if key not in memo:
            # the library casts the solution to torch.float and writes it into a clone of the
            # image, which fails for a float64 image: impute on the float32 image (lossless,
            # the inputs are f32 tensors) and hand the result to the float64 model.
            memo[key] = orig(self, img.float(), mask).to(img.dtype)
        return memo[key].clone()
    road_mod.NoisyLinearImputer.__call__ = call


def metrics_refs(model, names, inputs, out):
    """tests/fixtures/metrics.json: the library's metric classes on the float64 model."""
    patch_imputer()
    cached = CachedForward(model).eval()
    refs = load_file(os.path.join(FIX, "reference.safetensors"))
    result = {
        "made_by": "weights/make_method_refs.py (pytorch-grad-cam 1.5.7 metric classes, float64 model)",
        "percentiles": PERCENTILES,
        "arcc_road_percentiles": [20, 40, 60, 80],
        "road_noise": 0.0,
        "cams": "gradcam: reference.safetensors NAME.gradcam (the shipped GradCAM map); eigencam: "
                "methods.safetensors NAME.eigencam.metric_cam (library EigenCAM __call__, float64 model). "
                "Metric target = ClassifierOutputTarget(top1) ('logit') or "
                "ClassifierOutputSoftmaxTarget(top1) ('softmax'); coherency/arcc re-run the same "
                "method class with that metric target on the masked image.",
        "images": {},
    }
    for n in names:
        x = inputs[n]
        with torch.no_grad():
            top = int(model(x)[0].argmax())
        entry = result["images"][n] = {"top1": top}
        for m in ("gradcam", "eigencam"):
            base = CLASSES[m](model, [model.layer4[-1]])
            if m == "gradcam":
                cams = refs[f"{n}.gradcam"].numpy()[None].astype(np.float32)
            else:
                cams = base(x, [ClassifierOutputTarget(top)])
                out[f"{n}.eigencam.metric_cam"] = cams[0]
            entry[m] = {}
            for tname, tcls in (("logit", ClassifierOutputTarget),
                                ("softmax", ClassifierOutputSoftmaxTarget)):
                print("metrics", n, m, tname, flush=True)
                t = [tcls(top)]
                with torch.no_grad():
                    score = float(t[0](cached(x)[0]))
                r = {"score": score}
                r["cam_mult_change"] = float(CamMultImageConfidenceChange()(x, cams, t, cached)[0])
                r["drop_in_confidence"] = float(DropInConfidence()(x, cams, t, cached)[0])
                r["increase_in_confidence"] = float(IncreaseInConfidence()(x, cams, t, cached)[0])
                r["road_morf"] = {str(p): float(ROADMostRelevantFirst(p)(x, cams, t, cached)[0])
                                  for p in PERCENTILES}
                r["road_lerf"] = {str(p): float(ROADLeastRelevantFirst(p)(x, cams, t, cached)[0])
                                  for p in PERCENTILES}
                r["road_combined"] = float(ROADCombined(PERCENTILES)(x, cams, t, cached)[0])
                r["complexity"] = float(Complexity()(cams)[0])
                r["coherency"] = float(Coherency()(x, cams, t, cached, base)[0])
                r["arcc"] = float(ARCC(base)(x, cams, t, cached)[0])
                entry[m][tname] = r
            base.activations_and_grads.release()
    with open(os.path.join(FIX, "metrics.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
