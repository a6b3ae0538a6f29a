"""PyTorch and pytorch-grad-cam on the CPU of this machine, for the same-run comparison with
shadercam on lavapipe (benches/lavapipe_compare.sh). Same weights, same input size.

usage: python benches/cpu_torch.py WEIGHTS [BATCH ...]   (pip install torch torchvision grad-cam safetensors)
Prints one JSON line per measurement: median milliseconds over a few runs after a warm-up.
"""
import json, sys, time
import torch, torchvision
from safetensors.torch import load_file
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget


def median_ms(fn, iters=5, warm=2):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    return ts[len(ts) // 2]


weights = sys.argv[1]
batches = [int(b) for b in sys.argv[2:]] or [1, 8]
sd = {k: v.float() for k, v in load_file(weights).items()}
model = torchvision.models.resnet50(num_classes=sd["fc.weight"].shape[0])
model.load_state_dict(sd)
model.eval()
cam = GradCAM(model=model, target_layers=[model.layer4[-1]])
for b in batches:
    x = torch.randn(b, 3, 224, 224)

    def fwd():
        with torch.no_grad():
            model(x)

    def gradcam():
        cam(input_tensor=x, targets=[ClassifierOutputTarget(0)] * b)

    for name, fn in (("pytorch_eager_fp32_forward", fwd), ("pytorch_grad_cam_gradcam", gradcam)):
        ms = median_ms(fn)
        print(json.dumps({"what": name, "device": "cpu", "threads": torch.get_num_threads(), "torch": torch.__version__,
                          "batch": b, "ms_median": round(ms, 1), "images_per_s": round(b * 1e3 / ms, 2)}), flush=True)
