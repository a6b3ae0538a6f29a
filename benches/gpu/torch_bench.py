"""PyTorch eager and pytorch-grad-cam timings of ResNet-50 on a CUDA GPU, for
benches/gpu/device-check.sh (and compare.sh).

Same method as shared/reference/anchors.py (the project's recorded anchors): CUDA events around
each call, 8 warm-up calls, median of 30 (GradCAM: wall clock after synchronize, median of 10).
The model is torchvision's resnet50(num_classes=8), the architecture of the shapes weights that
`shadercam bench` runs (random weights: timing does not depend on them).

Usage: python3 torch_bench.py --batches 1 64 --out torch.json
       python3 torch_bench.py --dry-run --batches 1 2 --out torch.json
--dry-run writes the same JSON without torch or a GPU: every row's ms is a placeholder (1 ms per
image), so that device-check.sh --dry-run exercises its table in CI. Never report those rows.
"""
import argparse
import json
import time

# The rows, in order: name prefix -> what it times.
ROWS = ["torch_fp32_strict", "torch_fp32_tf32", "torch_cam_strict", "grad_cam_lib"]


def bench(fn, iters=30, warm=8):
    import torch


    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(iters):
        s = torch.cuda.Event(enable_timing=True)
        e = torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        ts.append(s.elapsed_time(e))
    ts.sort()
    return ts[len(ts) // 2]


def set_tf32(on):
    import torch

    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--out", default="torch.json")
    ap.add_argument("--dry-run", action="store_true", help="placeholder rows, no torch, no GPU")
    args = ap.parse_args()

    if args.dry_run:
        res = {"device": "none (--dry-run: placeholder rows, not measurements)", "torch": None, "dry_run": True, "rows": {}}
        for name in ROWS:
            for bs in args.batches:
                res["rows"][f"{name}_bs{bs}"] = {"batch": bs, "ms": float(bs), "images_per_s": 1000.0}
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
        return

    import torch
    import torchvision

    dev = "cuda"
    torch.backends.cudnn.benchmark = True
    res = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": {}}

    def row(name, bs, ms):
        res["rows"][name] = {"batch": bs, "ms": round(ms, 3), "images_per_s": round(bs * 1000 / ms, 1)}
        print(name, res["rows"][name], flush=True)

    model = torchvision.models.resnet50(num_classes=8).to(dev).eval()

    # Forward only, fp32 with TF32 off ("strict", what shadercam computes) and on (PyTorch's
    # default for convolutions).
    for tf32 in (False, True):
        set_tf32(tf32)
        for bs in args.batches:
            x = torch.randn(bs, 3, 224, 224, device=dev)

            def fwd():
                with torch.no_grad():
                    model(x)

            row(f"torch_fp32_{'tf32' if tf32 else 'strict'}_bs{bs}", bs, bench(fwd))

    # Forward + CAM in PyTorch (hook on layer4, fc-weighted sum, bilinear upsample, ReLU,
    # max-normalise), strict fp32: the same work as `shadercam bench --method cam`.
    set_tf32(False)
    feats = {}
    hook = model.layer4.register_forward_hook(lambda m, i, o: feats.__setitem__("f", o))
    for bs in args.batches:
        x = torch.randn(bs, 3, 224, 224, device=dev)

        def cam_fwd():
            with torch.no_grad():
                logits = model(x)
                c = logits.argmax(1)
                cam = torch.einsum("nc,nchw->nhw", model.fc.weight[c], feats["f"])[:, None]
                cam = torch.nn.functional.interpolate(cam, size=(224, 224), mode="bilinear", align_corners=False)
                cam = cam.relu()
                mx = cam.flatten(1).max(1).values.view(-1, 1, 1, 1)
                return cam / (mx + 1e-7)

        row(f"torch_cam_strict_bs{bs}", bs, bench(cam_fwd))
    hook.remove()

    # pytorch-grad-cam GradCAM as a user runs it (default settings: TF32 convolutions on).
    set_tf32(True)
    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        cam = GradCAM(model=model, target_layers=[model.layer4[-1]])
        for bs in args.batches:
            x = torch.randn(bs, 3, 224, 224, device=dev)
            tg = [ClassifierOutputTarget(0)] * bs
            for _ in range(3):
                cam(input_tensor=x, targets=tg)
            torch.cuda.synchronize()
            ts = []
            for _ in range(10):
                t = time.perf_counter()
                cam(input_tensor=x, targets=tg)
                torch.cuda.synchronize()
                ts.append((time.perf_counter() - t) * 1000)
            ts.sort()
            row(f"grad_cam_lib_bs{bs}", bs, ts[len(ts) // 2])
    except Exception as e:  # not installed, or it failed: say so in the table
        res["grad_cam_lib_error"] = repr(e)
        print("pytorch-grad-cam failed:", repr(e), flush=True)

    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
