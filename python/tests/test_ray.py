"""`shadercam.ray.Explain` on a local Ray cluster with two actors over the ci fixtures, and the
example script (examples/ray_explain.py): the rows equal what `Explainer.explain` (the CLI's
code path) gives for the same files. Needs `ray[data]` (`.ci/run` installs it).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import ray

import shadercam
import shadercam.ray
from test_api import FIX, ROOT


@pytest.fixture(scope="module")
def cluster():
    # Logical CPUs: two for the actors and two for reading the pictures (with only the
    # machine's two, the actors would hold both and the reads never run).
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_two_actors_explain_the_fixtures_as_the_cli_does(cluster):
    import ray.data

    ds = ray.data.read_images(str(FIX / "images"), include_paths=True, mode="RGB")
    out = ds.map_batches(
        shadercam.ray.Explain,
        fn_constructor_kwargs={"overlay_png": True},
        batch_size=3,
        concurrency=2,
        num_cpus=1,
    )
    rows = sorted(out.take_all(), key=lambda r: r["path"])
    files = sorted(FIX.glob("images/*"))
    assert [os.path.basename(r["path"]) for r in rows] == [f.name for f in files]
    want = shadercam.Explainer().explain(files)
    for r, w in zip(rows, want):
        assert r["label"] == w.label and r["target"] == w.targets[0]
        np.testing.assert_array_equal(r["heatmap"], w.heatmap)
        np.testing.assert_array_equal(r["logits"], w.logits)
        assert abs(r["score"] - w.score) < 1e-6
        assert r["overlay_png"][:8] == b"\x89PNG\r\n\x1a\n"
        assert r["image"].shape[2] == 3  # the batch's own columns pass through


def test_a_column_of_paths_works_too(cluster):
    import ray.data

    files = sorted(str(f) for f in FIX.glob("images/shape_00[0-2].png"))
    ds = ray.data.from_items([{"path": f, "id": i} for i, f in enumerate(files)])
    rows = sorted(ds.map_batches(shadercam.ray.Explain, batch_size=2, concurrency=1).take_all(), key=lambda r: r["id"])
    want = shadercam.Explainer().explain(files)
    assert [r["id"] for r in rows] == [0, 1, 2]
    for r, w in zip(rows, want):
        np.testing.assert_array_equal(r["heatmap"], w.heatmap)


def test_a_batch_without_pictures_is_refused():
    with pytest.raises(ValueError, match="neither an 'image' column"):
        shadercam.ray.Explain()({"x": np.zeros(2)})


def test_the_example_writes_parquet(tmp_path):
    out = tmp_path / "cams"
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ray_explain.py"), str(FIX / "images"), str(out), "--actors", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "8 images explained by 2 actor(s)" in run.stdout, run.stdout
