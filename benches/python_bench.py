"""Python overhead and memory of the `shadercam` package (issue 18, item 8).

  python benches/python_bench.py overhead [--batch 8] [--iters 5]
      `Explainer.explain_tensor` on a batch of random normalised inputs, median ms, against
      `shadercam bench --batch N --json`'s total (upload + forward + CAM + readback, one submit:
      the same work) run right after in the same process tree. Needs the CLI binary
      (SHADERCAM_BIN, default target/release/shadercam or target/debug/shadercam).
  python benches/python_bench.py memory [--calls 2000] [--size 64]
      `explain_tensor` called in a loop on one image of size x size, resident memory (VmRSS)
      every 100 calls: flat means no leak (pytorch-grad-cam #195 leaked over ImageNet's 50k).

Results go in benches/README.md ("Python").
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import shadercam

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def overhead(a):
    ex = shadercam.Explainer(batch=a.batch)
    x = np.random.default_rng(0).standard_normal((a.batch, 3, 224, 224), dtype=np.float32)
    ex.explain_tensor(x)  # warm-up: pipelines, plan
    times = []
    for _ in range(a.iters):
        t = time.perf_counter()
        ex.explain_tensor(x)
        times.append((time.perf_counter() - t) * 1e3)
    py_ms = float(np.median(times))
    del ex
    bin_ = os.environ.get("SHADERCAM_BIN") or next(
        (str(p) for p in (ROOT / "target/release/shadercam", ROOT / "target/debug/shadercam") if p.exists()), None
    )
    runner = os.environ.get("SHADERCAM_RUNNER")
    cmd = ([runner] if runner else []) + [bin_, "bench", "--batch", str(a.batch), "--iters", str(a.iters), "--warmup", "1", "--json"]
    b = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    cli_ms = b["total_ms_median"]
    print(json.dumps({
        "adapter": b["adapter"], "driver": b["driver"], "batch": a.batch, "iters": a.iters,
        "python_explain_tensor_ms_median": py_ms, "cli_bench_total_ms_median": cli_ms,
        "python_overhead_percent": 100 * (py_ms / cli_ms - 1),
    }))


def memory(a):
    ex = shadercam.Explainer(batch=1)
    x = np.random.default_rng(0).standard_normal((1, 3, a.size, a.size), dtype=np.float32)
    samples = []
    t = time.perf_counter()
    for i in range(a.calls + 1):
        if i % 100 == 0:
            samples.append((i, round(rss_mb(), 1)))
        if i < a.calls:
            ex.explain_tensor(x)
    secs = time.perf_counter() - t
    first, last = samples[1][1], samples[-1][1]  # after 100 calls (caches filled) and at the end
    print(json.dumps({
        "adapter": ex.adapter, "calls": a.calls, "size": a.size, "seconds": round(secs, 1),
        "rss_mb_every_100_calls": samples, "rss_growth_mb_after_warmup": round(last - first, 1),
    }))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="what", required=True)
    o = sub.add_parser("overhead")
    o.add_argument("--batch", type=int, default=8)
    o.add_argument("--iters", type=int, default=5)
    m = sub.add_parser("memory")
    m.add_argument("--calls", type=int, default=2000)
    m.add_argument("--size", type=int, default=64)
    a = p.parse_args()
    {"overhead": overhead, "memory": memory}[a.what](a)


if __name__ == "__main__":
    sys.exit(main())
