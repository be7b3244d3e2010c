"""The `batch` benchmark: one `warpaint batch` against a `warpaint apply
--recipe` per file, for a fast-style recipe and a splining recipe (each
photo splined into a second generated picture along a half-plane mask, both
files beside the recipe and named by relative path).

Start: each command's process start; stop: its exit. Both include starting
Python and importing torch, which is what a per-file loop pays every time
and a batch once. The batch runs over every photo, with one process (the
default) and with two worker processes (`--jobs 2`), to show whether workers
help on this machine. The per-file cost does not depend on how many files
there are, so the full run times `apply` on an evenly spaced sample (every
`APPLY_EVERY`-th photo, 40 of 200) and the quick run on all 20.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from warpaint.engine.runtime.bench import benchmark

# The splining recipe's second picture and mask, written beside the recipe.
OTHER_NAME = "splining-other.jpg"
MASK_NAME = "splining-mask.png"
RECIPES: dict[str, dict[str, Any]] = {
    "fast-style": {
        "warpaint_recipe": 1,
        "steps": [{"effect": "fast-style", "params": {"strength": 0.8}, "target": "replace"}],
    },
    "splining": {
        "warpaint_recipe": 1,
        "steps": [
            {
                "effect": "splining",
                "params": {"other": OTHER_NAME, "mask": MASK_NAME},
                "target": "replace",
            }
        ],
    },
}
# The full run times `apply` on every APPLY_EVERY-th photo.
APPLY_EVERY = 5


def photos(folder: Path, count: int, side: int, seed: int = 7) -> list[Path]:
    """`count` side x side JPEGs: smooth colour fields with grain, photo-like
    in size and in how they compress."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    paths = []
    for i in range(count):
        a, b, c = rng.uniform(0.5, 4.0, 3)
        base = np.stack(
            [np.sin(a * x + i), np.cos(b * y - i), np.sin(c * (x + y) + 0.3 * i)], axis=-1
        )
        grain = rng.normal(0.0, 0.04, (side, side, 3)).astype(np.float32)
        pixels = np.clip((base * 0.5 + 0.5 + grain) * 255, 0, 255).astype(np.uint8)
        path = folder / f"photo{i:03d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def splining_files(folder: Path, side: int) -> None:
    """The splining recipe's files: a second picture (another generated
    photo) and a mask, white on the left half (the photo shows) and black on
    the right (the second picture shows)."""
    from PIL import Image

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        (made,) = photos(Path(tmp), 1, side, seed=11)
        made.replace(folder / OTHER_NAME)
    mask = np.zeros((side, side), np.uint8)
    mask[:, : side // 2] = 255
    Image.fromarray(mask).save(folder / MASK_NAME)


def apply_sample(files: list[Path], quick: bool) -> list[Path]:
    """The photos `apply` is timed on: all of them in a quick run, else every
    `APPLY_EVERY`-th (evenly spaced)."""
    return files if quick else files[::APPLY_EVERY]


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


@benchmark("batch", "images/s: one `warpaint batch` vs `warpaint apply --recipe` per file")
def bench_batch(quick: bool, device: str | None) -> dict[str, Any]:
    from warpaint.engine.runtime.device import choose_device

    count = 20 if quick else 200
    side = 1024
    dev = choose_device(device)
    cli = [sys.executable, "-m", "warpaint.app.cli"]
    result: dict[str, Any] = {"device": dev, "images": count, "image": f"{side}x{side} JPEG"}
    with tempfile.TemporaryDirectory(prefix="warpaint-bench-batch-") as tmp:
        root = Path(tmp)
        inputs = root / "in"
        inputs.mkdir()
        files = photos(inputs, count, side)
        sample = apply_sample(files, quick)
        result["apply_timed_on"] = (
            f"all {count} photos"
            if len(sample) == count
            else f"every {APPLY_EVERY}th photo ({len(sample)} of {count}); "
            "the per-file cost does not depend on the batch size"
        )
        splining_files(root, side)
        for name, data in RECIPES.items():
            recipe = root / f"{name}.json"
            recipe.write_text(json.dumps(data))
            per_file = 0.0
            out = root / f"{name}-apply"
            out.mkdir()
            for path in sample:
                per_file += _timed(
                    [*cli, "apply", "--recipe", str(recipe), str(path), "-o", str(out / path.name)]
                    + ["--device", dev]
                )
            apply_rate = len(sample) / per_file
            figures = {"apply_per_file_images_per_s": round(apply_rate, 3)}
            for jobs in (1, 2):
                out = root / f"{name}-batch{jobs}"
                seconds = _timed(
                    [*cli, "batch", str(recipe), str(inputs), "-o", str(out)]
                    + ["--jobs", str(jobs), "--device", dev]
                )
                figures[f"batch_jobs{jobs}_images_per_s"] = round(count / seconds, 3)
                figures[f"batch_jobs{jobs}_ratio"] = round(count / seconds / apply_rate, 2)
            result[name] = figures
    return result


def steady_rate(outputs: list[Path]) -> float | None:
    """images/s between the first and the last output written, start-up left
    out: an output keeps the time its worker finished writing it (the commit
    renames it), so this is the workers' throughput once they run."""
    times = sorted(path.stat().st_mtime for path in outputs)
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return (len(times) - 1) / (times[-1] - times[0])


def bench_batch_cluster(quick: bool, device: str | None, address: str) -> dict[str, Any]:
    """`warpaint bench batch --cluster ADDRESS`: the local batch (one process)
    against the same batch on a cluster: with "local", one and two worker
    processes on this machine (`--cluster local --jobs N`), else the
    cluster at ADDRESS as it is. Each figure is images/s from process start
    to exit (start-up included: a local cluster's takes seconds) and
    `steady`, between the first and the last output written."""
    from warpaint.engine.runtime.device import choose_device

    count = 12 if quick else 100
    side = 512 if quick else 1024
    dev = choose_device(device)
    cli = [sys.executable, "-m", "warpaint.app.cli"]
    runs: dict[str, list[str]] = {"local": ["--device", dev]}
    if address == "local":
        for jobs in (1, 2):
            runs[f"cluster_local_{jobs}_workers"] = ["--cluster", "local", "--jobs", str(jobs)]
    else:
        runs["cluster"] = ["--cluster", address, "--device", device or "auto"]
    result: dict[str, Any] = {"device": dev, "images": count, "image": f"{side}x{side} JPEG"}
    with tempfile.TemporaryDirectory(prefix="warpaint-bench-cluster-") as tmp:
        root = Path(tmp)
        inputs = root / "in"
        inputs.mkdir()
        photos(inputs, count, side)
        splining_files(root, side)
        for name, data in RECIPES.items():
            recipe = root / f"{name}.json"
            recipe.write_text(json.dumps(data))
            figures: dict[str, Any] = {}
            for run, options in runs.items():
                out = root / f"{name}-{run}"
                seconds = _timed(
                    [*cli, "batch", str(recipe), str(inputs), "-o", str(out), *options]
                )
                steady = steady_rate(sorted(out.glob("*.jpg")))
                figures[f"{run}_images_per_s"] = round(count / seconds, 3)
                figures[f"{run}_steady_images_per_s"] = round(steady, 3) if steady else None
            result[name] = figures
    return result
