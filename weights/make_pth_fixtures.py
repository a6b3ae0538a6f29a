#!/usr/bin/env python3
"""Make the PyTorch checkpoint fixtures in tests/fixtures/pth/ (run once; the tests need no Python).

    pip install torch torchvision safetensors      # CPU wheels are enough
    python weights/make_pth_fixtures.py             # writes tests/fixtures/pth/*

Every file is written by `torch.save` itself (PyTorch >= 1.6 zip format) unless said otherwise:

  resnet10-wrapped-f16.pth   A training checkpoint as pytorch/examples' imagenet `main.py` saves it:
                             {"epoch", "arch", "state_dict", "best_acc1", "optimizer", "scheduler"},
                             the state dict taken from `nn.DataParallel(model)` (every name starts
                             with `module.`), float16. The network is torchvision's
                             `ResNet(BasicBlock, [1, 1, 1, 1], num_classes=8)` ("resnet10": the
                             smallest network shadercam's loader accepts, 4.9M parameters).
                             To keep the file under 5 MB, every convolution weight is a VIEW into
                             one shared float16 buffer of 2.4M values, at its own offset (views
                             overlap), and layer3/layer4's weights are `channels_last` views
                             (non-contiguous strides) — so offsets and strides are exercised on a
                             whole network. BatchNorm statistics are calibrated on the input
                             (one forward pass in train mode with momentum 1), so activations
                             stay near unit scale and the logits are well conditioned.
  resnet10-wrapped-f16.logits.safetensors
                             `input` [2, 3, 64, 64] float32 and `logits` [2, 8]: PyTorch's float64
                             forward pass of the checkpoint's exact float16 values.
  dtypes.pth                 A plain state dict (an OrderedDict with `_metadata`, as
                             `module.state_dict()` returns) of small float32/float16/bfloat16
                             tensors stored as views: contiguous, transposed, a slice at an offset,
                             `expand` (stride 0), `channels_last`, a strided slice, two views of
                             one storage, a 0-d and an empty tensor, plus an int64
                             `num_batches_tracked` that loaders skip.
  dtypes.safetensors         The same tensors as contiguous float32 (what the reader must produce).
  float64.pth                A state dict with a float64 tensor (refused: not f32/f16/bf16).
  whole-module.pth           `torch.save(nn.Linear(2, 2))`: a whole module, which pickles its
                             Python class (`torch.nn.modules.linear.Linear`): refused.
  torchscript.pt             `torch.jit.script(nn.Linear(2, 2)).save(...)`: refused.
  legacy.pth                 `torch.save(..., _use_new_zipfile_serialization=False)`: the pre-1.6
                             format, refused with advice.
  resnet50-shapes-f16.pth    The embedded default model, weights/resnet50-shapes.safetensors, as a
                             plain float16 state dict written by torch.save (46 MB): the loader
                             must fold it to exactly the weights the safetensors file gives, so
                             the logits are the same (tests/pth.rs).
  unsafe-global.pth          NOT written by torch.save: a torch.save archive whose data.pkl was
                             replaced by a hand-assembled pickle that calls `os.system("echo
                             pwned")` on load. The bytes are written out literally below; this
                             script never unpickles them. shadercam must refuse the file and name
                             `os.system`.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "pth"

# The shared buffer's length: the largest weight (layer4.0.conv2, 512*512*3*3) plus a margin.
FLAT = 2_400_000


def resnet10():
    from torchvision.models.resnet import BasicBlock, ResNet

    return ResNet(BasicBlock, [1, 1, 1, 1], num_classes=8)


def channels_last_strides(shape):
    o, i, h, w = shape
    return (h * w * i, 1, w * i, i)


def make_resnet(out: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from torch import nn

    torch.manual_seed(0)
    model = resnet10().double()
    flat = ((torch.rand(FLAT, dtype=torch.float64) * 2 - 1) * 0.05).half()
    views = {}
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    for k, (name, conv) in enumerate(convs):
        shape = tuple(conv.weight.shape)
        numel = conv.weight.numel()
        # Deterministic, overlapping offsets spread over the buffer.
        offset = (k * 104_729) % (FLAT - numel + 1)
        if name.startswith(("layer3", "layer4")):
            v = torch.as_strided(flat, shape, channels_last_strides(shape), offset)
        else:
            v = flat[offset : offset + numel].view(shape)
        views[name] = v
        with torch.no_grad():
            conv.weight.copy_(v.double())

    x = torch.randn(2, 3, 64, 64).float()  # the stored input, float32
    # Random affine BatchNorm parameters; running statistics from one train-mode pass.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
            m.momentum = 1.0
    with torch.no_grad():
        nn.init.normal_(model.fc.weight, std=0.05)
        nn.init.uniform_(model.fc.bias, -0.1, 0.1)
        model.train()
        model(x.double())
        model.eval()

    # The float16 model as saved: BatchNorm and fc rounded to float16, conv weights the views.
    half = resnet10().half()
    sd16 = {k: v.half() for k, v in model.state_dict().items() if v.is_floating_point()}
    half.load_state_dict({**model.state_dict(), **sd16})
    for name, conv in [(n, m) for n, m in half.named_modules() if isinstance(m, nn.Conv2d)]:
        conv.weight = nn.Parameter(views[name], requires_grad=False)
    state_dict = nn.DataParallel(half).state_dict()
    assert next(iter(state_dict)).startswith("module."), "DataParallel prefixes every name"
    assert state_dict["module.layer4.0.conv2.weight"].untyped_storage().data_ptr() == flat.untyped_storage().data_ptr()
    assert not state_dict["module.layer4.0.conv2.weight"].is_contiguous()

    # PyTorch's reference: float64 forward of exactly the saved values.
    ref = resnet10().double().eval()
    ref.load_state_dict({k.removeprefix("module."): v.double() for k, v in state_dict.items()})
    with torch.no_grad():
        logits = ref(x.double())

    optimizer = torch.optim.SGD(half.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    checkpoint = {
        "epoch": 90,
        "arch": "resnet10",
        "state_dict": state_dict,
        "best_acc1": torch.tensor(75.25),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
    }
    path = out / "resnet10-wrapped-f16.pth"
    torch.save(checkpoint, path)
    save_file(
        {"input": x.contiguous(), "logits": logits.float().contiguous()},
        str(out / "resnet10-wrapped-f16.logits.safetensors"),
        metadata={"source": "weights/make_pth_fixtures.py: PyTorch float64 forward of resnet10-wrapped-f16.pth"},
    )
    # The file must load back in PyTorch with the safe loader, to the same logits.
    back = torch.load(path, weights_only=True)
    ref2 = resnet10().double().eval()
    ref2.load_state_dict({k.removeprefix("module."): v.double() for k, v in back["state_dict"].items()})
    with torch.no_grad():
        assert torch.equal(ref2(x.double()), logits)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB), logits {logits.flatten()[:4].tolist()} ...")


def make_dtypes(out: Path) -> None:
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(1)
    sd = OrderedDict()
    sd["f32.contiguous"] = torch.randn(3, 4)
    sd["f32.transposed"] = torch.randn(4, 3).t()
    sd["f32.offset_slice"] = torch.randn(20)[5:17].view(3, 4)
    sd["f32.expanded"] = torch.randn(1, 4).expand(3, 4)
    sd["f16.channels_last"] = torch.randn(2, 3, 2, 2).half().to(memory_format=torch.channels_last)
    sd["bf16.strided"] = torch.randn(6, 8).bfloat16()[::2, 1::3]
    shared = torch.randn(9).half()
    sd["f16.shared_a"] = shared[:6].view(2, 3)
    sd["f16.shared_b"] = shared[3:9]
    sd["f32.scalar"] = torch.tensor(3.5)
    sd["f32.empty"] = torch.zeros(0, 3)
    sd["bn.num_batches_tracked"] = torch.tensor(7)
    # What nn.Module.state_dict() attaches (pickled with a BUILD opcode).
    sd._metadata = OrderedDict({"": {"version": 1}, "bn": {"version": 2}})
    assert not sd["f32.transposed"].is_contiguous() and sd["f32.expanded"].stride()[0] == 0
    torch.save(sd, out / "dtypes.pth")
    expected = {k: v.float().contiguous() for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    save_file(expected, str(out / "dtypes.safetensors"))
    print(f"wrote {out / 'dtypes.pth'} and dtypes.safetensors ({len(expected)} tensors)")


def make_refused(out: Path) -> None:
    import torch
    from torch import nn

    torch.manual_seed(2)
    torch.save({"w": torch.randn(2, 2, dtype=torch.float64)}, out / "float64.pth")
    torch.save(nn.Linear(2, 2), out / "whole-module.pth")
    torch.jit.script(nn.Linear(2, 2)).save(str(out / "torchscript.pt"))
    torch.save({"w": torch.randn(2, 2)}, out / "legacy.pth", _use_new_zipfile_serialization=False)

    # A torch.save archive whose data.pkl is replaced by a pickle that would run
    # os.system("echo pwned") when unpickled. Assembled byte by byte (protocol 2):
    #   PROTO 2; GLOBAL 'os system'; SHORT_BINUNICODE 'echo pwned'; TUPLE1; REDUCE; STOP
    # Written, never loaded.
    evil = b"\x80\x02" + b"cos\nsystem\n" + b"\x8c\x0aecho pwned" + b"\x85" + b"R" + b"."
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    path = out / "unsafe-global.pth"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = evil if info.filename.endswith("/data.pkl") else src.read(info)
            dst.writestr(info.filename, data)
    print(f"wrote float64.pth, whole-module.pth, torchscript.pt, legacy.pth, {path.name}")


def make_shapes(out: Path) -> None:
    """The embedded shapes model, loaded into torchvision's resnet50 and saved by torch.save."""
    import torch
    import torchvision
    from safetensors.torch import load_file

    sd = load_file(str(ROOT / "weights" / "resnet50-shapes.safetensors"))
    model = torchvision.models.resnet50(num_classes=8).half()
    missing, unexpected = model.load_state_dict(sd, strict=False)
    # torchvision's state dict also has num_batches_tracked counters; the file has none.
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, out / "resnet50-shapes-f16.pth")
    print("wrote resnet50-shapes-f16.pth")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT, help="output folder")
    p.add_argument("--only", choices=["resnet", "dtypes", "refused", "shapes"], help="make one group only")
    args = p.parse_args(argv)
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
        import safetensors  # noqa: F401
    except ImportError as e:
        print(f"error: {e}; install with `pip install torch torchvision safetensors`", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    makers = {"resnet": make_resnet, "dtypes": make_dtypes, "refused": make_refused, "shapes": make_shapes}
    for name, make in makers.items():
        if args.only in (None, name):
            make(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
