"""`warpaint bench blur`: Gaussian blur throughput through the effect pipeline."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from warpaint.engine.runtime.bench import benchmark


@benchmark("blur", "full-resolution Gaussian blur through the effect pipeline, device vs CPU")
def bench_blur(quick: bool, device: str | None) -> dict[str, Any]:
    """Start: `run_effect` called with the (H, W, 4) float32 image. Stop: the
    float32 result is back in host memory. Median of runs after one warm-up;
    when the device is not the CPU, the CPU is measured in the same process
    and `ratio` is CPU time / device time.
    """
    from warpaint.engine.runtime.apply import run_effect
    from warpaint.engine.runtime.device import choose_device
    from warpaint.engine.runtime.jobs import Job, JobContext
    from warpaint.engine.runtime.registry import get_effect

    dev = choose_device(device)
    side = 1024 if quick else 4096
    runs = 3 if quick else 5
    image = np.random.default_rng(3).random((side, side, 4), dtype=np.float32)
    spec = get_effect("gaussian-blur")
    params = {"sigma": 8.0}

    def timed(on: str) -> float:
        ctx = JobContext(Job(lambda c: None, device=on))
        run_effect(ctx, spec, image, params)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            run_effect(ctx, spec, image, params)
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    result: dict[str, Any] = {"device": dev, "image": f"{side}x{side} RGBA float32", "sigma": 8.0}
    on_device = timed(dev)
    result[f"{dev}_s_median"] = round(on_device, 4)
    if dev != "cpu":
        on_cpu = timed("cpu")
        result["cpu_s_median"] = round(on_cpu, 4)
        result["ratio"] = round(on_cpu / on_device, 2)
    return result
