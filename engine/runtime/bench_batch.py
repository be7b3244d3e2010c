"""The `batch` benchmark: one `warpaint batch` against a `warpaint apply
--recipe` per file, for a fast-style recipe and a blur recipe.

Start: each command's process start; stop: its exit. Both include starting
Python and importing torch, which is what a per-file loop pays every time
and a batch once. The batch runs with one process (the default) and with two
worker processes (`--jobs 2`), to show whether workers help on this machine.
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

RECIPES: dict[str, dict[str, Any]] = {
    "fast-style": {
        "warpaint_recipe": 1,
        "steps": [{"effect": "fast-style", "params": {"strength": 0.8}, "target": "replace"}],
    },
    # Splining needs a mask of each picture, which a recipe does not keep: the
    # pyramid-and-blur kind of work is measured with blurs.
    "blur": {
        "warpaint_recipe": 1,
        "steps": [
            {"effect": "gaussian-blur", "params": {"sigma": 3.0}},
            {"effect": "gaussian-blur", "params": {"sigma": 8.0}, "opacity": 0.5},
        ],
    },
}


def photos(folder: Path, count: int, side: int) -> list[Path]:
    """`count` side x side JPEGs: smooth colour fields with grain, photo-like
    in size and in how they compress."""
    from PIL import Image

    rng = np.random.default_rng(7)
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
        for name, data in RECIPES.items():
            recipe = root / f"{name}.json"
            recipe.write_text(json.dumps(data))
            per_file = 0.0
            out = root / f"{name}-apply"
            out.mkdir()
            for path in files:
                per_file += _timed(
                    [*cli, "apply", "--recipe", str(recipe), str(path), "-o", str(out / path.name)]
                    + ["--device", dev]
                )
            figures = {"apply_per_file_images_per_s": round(count / per_file, 3)}
            for jobs in (1, 2):
                out = root / f"{name}-batch{jobs}"
                seconds = _timed(
                    [*cli, "batch", str(recipe), str(inputs), "-o", str(out)]
                    + ["--jobs", str(jobs), "--device", dev]
                )
                figures[f"batch_jobs{jobs}_images_per_s"] = round(count / seconds, 3)
                figures[f"batch_jobs{jobs}_ratio"] = round(per_file / seconds, 2)
            result[name] = figures
    return result
