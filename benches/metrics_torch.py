"""pytorch-grad-cam's faithfulness metrics on this machine's CPU, then `shadercam eval --metrics`
on the same images, back to back: the time per image of each.

usage: /tmp/venv/bin/python benches/metrics_torch.py [--images N] [--steps S] [--metrics LIST]
                                                      [--shadercam PATH] [--skip-shadercam]

Same weights (weights/resnet50-shapes.safetensors, float32), same inputs (the ci fixtures'
`NAME.input` from tests/fixtures/reference.safetensors, the first N in sorted order), the same
GradCAM maps (the library's, top-1 class), ClassifierOutputTarget. The library's metrics run as
its users call them, one image per call:
  cam-mult    CamMultImageConfidenceChange (drop and increase are the same forwards)
  road        ROADCombined (percentiles 10..90: 18 imputations with scipy's spsolve, 18 forwards)
  complexity  Complexity
  coherency   Coherency (GradCAM again on x * cam)
  arcc        ARCC (its own ROADCombined at 20, 40, 60, 80, plus Complexity and Coherency)
  deletion    RISE's CausalMetric('del', step = ceil(HW / S), substrate zeros) — RISE's code, inline
  insertion   RISE's CausalMetric('ins', blur substrate gkern(11, 5))
shadercam: `shadercam eval LABELS --metrics LIST --steps S --json` over a labels file naming the
same N images (written to a temporary folder), timed as a whole process (model load included;
the per-image figure divides by N).
Prints one JSON line per measurement, then a table.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

import numpy as np
import torch, torchvision
from safetensors.torch import load_file
from scipy.ndimage import gaussian_filter
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.metrics.arcc import ARCC, Coherency, Complexity
from pytorch_grad_cam.metrics.cam_mult_image import CamMultImageConfidenceChange
from pytorch_grad_cam.metrics.road import ROADCombined
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gkern(klen, nsig):
    inp = np.zeros((klen, klen))
    inp[klen // 2, klen // 2] = 1
    k = gaussian_filter(inp, nsig)
    kern = np.zeros((3, 3, klen, klen))
    for c in range(3):
        kern[c, c] = k
    return torch.from_numpy(kern.astype("float32"))


def rise(model, x, expl, mode, step, c):
    """RISE's CausalMetric.single_run (softmax model, class c), returning the AUC."""
    hw = x.shape[-1] * x.shape[-2]
    n_steps = (hw + step - 1) // step
    kern = gkern(11, 5)
    if mode == "del":
        start, finish = x.clone(), torch.zeros_like(x)
    else:
        start = torch.nn.functional.conv2d(x, kern, padding=5)
        finish = x.clone()
    scores = np.empty(n_steps + 1)
    order = np.flip(np.argsort(expl.reshape(-1, hw), axis=1), axis=-1)
    for i in range(n_steps + 1):
        with torch.no_grad():
            scores[i] = torch.softmax(model(start), 1)[0, c]
        if i < n_steps:
            coords = order[:, step * i:step * (i + 1)]
            start.numpy().reshape(1, 3, hw)[0, :, coords] = finish.numpy().reshape(1, 3, hw)[0, :, coords]
    return (scores.sum() - scores[0] / 2 - scores[-1] / 2) / (scores.shape[0] - 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--steps", type=int, default=224)
    ap.add_argument("--metrics", default="cam-mult,road,complexity,coherency,arcc,deletion,insertion")
    ap.add_argument("--shadercam", default=os.path.join(ROOT, "target/release/shadercam"))
    ap.add_argument("--skip-shadercam", action="store_true")
    a = ap.parse_args()
    metrics = a.metrics.split(",")

    sd = {k: v.float() for k, v in load_file(os.path.join(ROOT, "weights/resnet50-shapes.safetensors")).items()
          if k.startswith(("conv", "bn", "layer", "fc"))}
    model = torchvision.models.resnet50(num_classes=sd["fc.weight"].shape[0])
    model.load_state_dict(sd)
    model.eval()
    labels = json.load(open(os.path.join(ROOT, "tests/fixtures/labels.json")))
    names = sorted(labels["images"])[: a.images]
    ref = load_file(os.path.join(ROOT, "tests/fixtures/reference.safetensors"))
    cam = GradCAM(model=model, target_layers=[model.layer4[-1]])
    hw = 224 * 224
    step = (hw + a.steps - 1) // a.steps
    times = {m: [] for m in metrics}
    for name in names:
        x = ref[f"{name}.input"].float().unsqueeze(0)
        with torch.no_grad():
            c = int(model(x).argmax())
        targets = [ClassifierOutputTarget(c)]
        g = cam(input_tensor=x, targets=targets)
        for m in metrics:
            t = time.perf_counter()
            if m == "cam-mult":
                CamMultImageConfidenceChange()(x, g, targets, model)
            elif m == "road":
                ROADCombined(percentiles=[10, 20, 30, 40, 50, 60, 70, 80, 90])(x, g, targets, model)
            elif m == "complexity":
                Complexity()(g)
            elif m == "coherency":
                Coherency()(x, g, targets, model, cam)
            elif m == "arcc":
                ARCC(cam)(x, g, targets, model)
            elif m == "deletion":
                rise(model, x, g, "del", step, c)
            elif m == "insertion":
                rise(model, x, g, "ins", step, c)
            else:
                continue
            times[m].append(time.perf_counter() - t)
    torch_row = {m: sum(v) / len(v) for m, v in times.items() if v}
    print(json.dumps({"what": "pytorch_grad_cam_metrics", "device": "cpu", "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "images": len(names), "steps": a.steps,
                      "s_per_image": {m: round(v, 3) for m, v in torch_row.items()},
                      "total_s_per_image": round(sum(torch_row.values()), 3)}), flush=True)

    ours = {}
    if not a.skip_shadercam:
        d = tempfile.mkdtemp(prefix="metrics-bench-")
        os.makedirs(os.path.join(d, "images"))
        for n in names:
            f = labels["images"][n]["file"]
            shutil.copy(os.path.join(ROOT, "tests/fixtures/images", f), os.path.join(d, "images", f))
        json.dump({"images": {n: labels["images"][n] for n in names}}, open(os.path.join(d, "labels.json"), "w"))
        for m in metrics:
            cmd = [a.shadercam, "eval", os.path.join(d, "labels.json"), "--quiet", "--json",
                   "--metrics", m, "--steps", str(a.steps)]
            t = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True)
            dt = time.perf_counter() - t
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                sys.exit(1)
            ours[m] = dt / len(names)
        # The model load and adapter start, once per process: measured with a metric-free eval.
        t = time.perf_counter()
        subprocess.run([a.shadercam, "eval", os.path.join(d, "labels.json"), "--quiet", "--json"],
                       capture_output=True, check=True)
        base = (time.perf_counter() - t) / len(names)
        shutil.rmtree(d)
        print(json.dumps({"what": "shadercam_eval_metrics", "images": len(names), "steps": a.steps,
                          "s_per_image_process": {m: round(v, 3) for m, v in ours.items()},
                          "s_per_image_eval_without_metrics": round(base, 3)}), flush=True)

    print(f"\n| metric | pytorch-grad-cam CPU s/image | shadercam eval s/image (process) | ratio |")
    print("| --- | --- | --- | --- |")
    for m in metrics:
        tv = torch_row.get(m)
        ov = ours.get(m)
        ratio = f"{tv / ov:.2f}x" if tv and ov else "n/a"
        print(f"| {m} | {tv:.2f} | {ov:.2f} | {ratio} |" if ov else f"| {m} | {tv:.2f} | n/a | n/a |")


if __name__ == "__main__":
    main()
