"""Explain a folder of pictures on Ray Data and write the results as parquet.

    pip install . "ray[data]"
    python examples/ray_explain.py tests/fixtures/images cams.parquet --actors 2

On a cluster, `ray.init(address="auto")` connects to it and `--gpus 1` gives each actor a GPU
(one actor per GPU); here, without --gpus, the actors share the machine's adapter (lavapipe on a
CPU-only machine). README: "Many images, many machines".
"""

import argparse
import time

import ray

import shadercam.ray


def main():
    p = argparse.ArgumentParser()
    p.add_argument("images", help="a folder of pictures (or anything ray.data.read_images reads)")
    p.add_argument("out", help="where the parquet files go")
    p.add_argument("--actors", type=int, default=1, help="explainers (one per GPU on a cluster)")
    p.add_argument("--gpus", type=float, default=0, help="GPUs per actor")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--method", default="gradcam")
    p.add_argument("--address", default=None, help="a Ray cluster's address (default: start one here)")
    a = p.parse_args()
    # A local cluster gets a logical CPU per actor on top of the machine's, so that reading the
    # pictures can run beside the actors even on a 2-core machine.
    if a.address is None:
        import os

        ray.init(num_cpus=(os.cpu_count() or 1) + a.actors, include_dashboard=False)
    else:
        ray.init(address=a.address)
    t = time.perf_counter()
    ds = ray.data.read_images(a.images, include_paths=True, mode="RGB")
    out = ds.map_batches(
        shadercam.ray.Explain,
        fn_constructor_kwargs={"method": a.method, "overlay_png": True},
        batch_size=a.batch_size,
        concurrency=a.actors,
        num_gpus=a.gpus,
    )
    out = out.drop_columns(["image"])
    out.write_parquet(a.out)
    n = ray.data.read_parquet(a.out).count()
    print(f"{n} images explained by {a.actors} actor(s) in {time.perf_counter() - t:.1f} s -> {a.out}")


if __name__ == "__main__":
    main()
