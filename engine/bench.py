"""Benchmarks, run by `warpaint bench NAME [--json]`.

Each benchmark returns a dict of figures. Machines are shared and noisy, so
timings are medians over several runs with their start and stop points
stated, and wherever a reference is measured in the same process the result
carries a `ratio`.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from warpaint.engine.errors import BadInputError


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    fn: Callable[[bool, str | None], dict[str, Any]]


BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str, description: str):  # type: ignore[no-untyped-def]
    def register(fn: Callable[[bool, str | None], dict[str, Any]]):  # type: ignore[no-untyped-def]
        BENCHMARKS[name] = Benchmark(name, description, fn)
        return fn

    return register


def run_benchmark(name: str, quick: bool = False, device: str | None = None) -> dict[str, Any]:
    if name not in BENCHMARKS:
        raise BadInputError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
    result = {"benchmark": name}
    result.update(BENCHMARKS[name].fn(quick, device))
    return result


def machine_info(device: str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if device == "cuda" and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- memory ---------------------------------------------------------------


@benchmark("memory", "8000x8000 document, 5 layers, 20 history steps: resident memory")
def bench_memory(quick: bool, device: str | None) -> dict[str, Any]:
    """Builds the document layer by layer, then makes 20 undoable edits:
    10 brush-sized region edits (512x512), 5 property changes, 5 whole-layer
    pixel replacements (what an effect on a full layer commits). Reports the
    resident set (current and peak) after the steps, and the history's bytes.
    """
    from warpaint.engine.compositing import composite
    from warpaint.engine.document import DocState, Document, Layer
    from warpaint.engine.tiles import Rect, TiledImage

    side = 2000 if quick else 8000
    rng = np.random.default_rng(0)
    start_rss = _rss_mib()
    t0 = time.perf_counter()
    layers = []
    for i in range(5):
        # Layers are filled strip by strip, as a decoder would, so the test
        # measures the document, not a transient full-size numpy copy.
        image = TiledImage.blank(side, side, 4, np.uint8)
        for y in range(0, side, 1024):
            rows = min(1024, side - y)
            strip = rng.integers(0, 256, (rows, side, 4), dtype=np.uint8)
            image = image.with_region(0, y, strip)
        layers.append(Layer(f"Layer {i}", image, blend_mode="normal" if i == 0 else "screen"))
    doc = Document(DocState(side, side, tuple(layers)))
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for step in range(20):
        layer = doc.layers[step % 5]
        kind = step % 4
        if kind in (0, 1) and step < 20:
            x, y = rng.integers(0, side - 512, 2)
            patch = rng.integers(0, 256, (512, 512, 4), dtype=np.uint8)
            doc.set_layer_pixels(layer.id, layer.pixels.with_region(int(x), int(y), patch), "Paint")
        elif kind == 2:
            doc.set_layer_props(layer.id, opacity=0.5 + 0.02 * step)
            doc.history.seal()
        else:
            image = layer.pixels
            for y in range(0, side, 1024):
                rows = min(1024, side - y)
                strip = 255 - image.read(Rect(0, y, side, rows))
                image = image.with_region(0, y, strip)
            doc.set_layer_pixels(layer.id, image, "Invert")
    steps_s = time.perf_counter() - t0
    view = Rect(side // 2 - 512, side // 2 - 512, 1024, 1024)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        composite(doc.state, view)
        times.append(time.perf_counter() - t)
    return {
        "canvas": f"{side}x{side}",
        "layers": 5,
        "history_steps": len(doc.history.labels) - 1,
        "history_mib": round(doc.history.memory_bytes() / 2**20, 1),
        "document_mib": round(sum(layer.pixels.nbytes for layer in doc.layers) / 2**20, 1),
        "rss_mib_before": round(start_rss, 1),
        "rss_mib": round(_rss_mib(), 1),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
        "goal_rss_mib": 6 * 1024,
        "build_s": round(build_s, 2),
        "steps_s": round(steps_s, 2),
        "composite_1024_view_ms_median": round(statistics.median(times) * 1000, 1),
        "note": "rss from /proc/self/statm after the steps; peak from getrusage",
    }


# -- cancel ---------------------------------------------------------------


@benchmark("cancel", "time from Cancel to the job's end, full-resolution blur on the long lane")
def bench_cancel(quick: bool, device: str | None) -> dict[str, Any]:
    """Start: `runner.cancel(job)` 0.3-0.7 s into a Gaussian blur (sigma 20)
    of a large layer. Stop: the job's finished event. Median and max of runs.
    """
    from warpaint.engine.apply import effect_job
    from warpaint.engine.device import choose_device
    from warpaint.engine.document import Document
    from warpaint.engine.jobs import JobRunner, JobState

    side = 1536 if quick else 4096
    runs = 3 if quick else 7
    dev = choose_device(device)
    rng = np.random.default_rng(1)
    doc = Document.from_array(rng.integers(0, 256, (side, side, 4), dtype=np.uint8))
    runner = JobRunner(dev)
    latencies, states = [], []
    try:
        for i in range(runs):
            job = runner.submit(
                effect_job(doc.state, doc.layers[0].id, "gaussian-blur", {"sigma": 20.0})
            )
            time.sleep(0.3 + 0.4 * i / max(1, runs - 1))
            t = time.perf_counter()
            runner.cancel(job)
            job.wait(30)
            latencies.append(time.perf_counter() - t)
            states.append(job.state.value)
    finally:
        runner.shutdown()
    return {
        "device": dev,
        "image": f"{side}x{side}",
        "runs": runs,
        "cancel_latency_s_median": round(statistics.median(latencies), 3),
        "cancel_latency_s_max": round(max(latencies), 3),
        "goal_s": 0.5,
        "states": states,
        "all_cancelled": all(s == JobState.CANCELLED.value for s in states),
    }


# -- preview latency under a long job --------------------------------------


@benchmark("preview-latency", "a preview's latency alone and while a long job runs (ratio)")
def bench_preview_latency(quick: bool, device: str | None) -> dict[str, Any]:
    """Start: `runner.preview(...)`. Stop: the preview job's finished event.
    Reference: the same preview with both lanes idle, in the same process.
    Goal: a long job delays a preview by at most one preview's own time
    (ratio <= 2).
    """
    from warpaint.engine.apply import effect_job
    from warpaint.engine.device import choose_device
    from warpaint.engine.document import Document
    from warpaint.engine.jobs import JobRunner

    dev = choose_device(device)
    side = 1024 if quick else 3072
    runs = 3 if quick else 7
    rng = np.random.default_rng(2)
    doc = Document.from_array(rng.integers(0, 256, (side, side, 4), dtype=np.uint8))
    layer_id = doc.layers[0].id
    runner = JobRunner(dev)

    def preview_time() -> float:
        t = time.perf_counter()
        job = runner.preview(
            ("bench", layer_id),
            effect_job(doc.state, layer_id, "gaussian-blur", {"sigma": 4.0}, 512),
        )
        job.wait(60)
        return time.perf_counter() - t

    try:
        preview_time()  # warm-up (imports, first torch call)
        alone = [preview_time() for _ in range(runs)]
        long_job = runner.submit(effect_job(doc.state, layer_id, "gaussian-blur", {"sigma": 30.0}))
        time.sleep(0.3)
        loaded = [preview_time() for _ in range(runs)]
        runner.cancel(long_job)
        long_job.wait(30)
    finally:
        runner.shutdown()
    a, b = statistics.median(alone), statistics.median(loaded)
    return {
        "device": dev,
        "preview_input": f"{side}x{side} downscaled to 512",
        "preview_alone_ms_median": round(a * 1000, 1),
        "preview_with_long_job_ms_median": round(b * 1000, 1),
        "ratio": round(b / a, 2),
        "goal_ratio_max": 2.0,
    }


# -- blur throughput -----------------------------------------------------------


@benchmark("blur", "full-resolution Gaussian blur through the effect pipeline, device vs CPU")
def bench_blur(quick: bool, device: str | None) -> dict[str, Any]:
    """Start: `run_effect` called with the (H, W, 4) float32 image. Stop: the
    float32 result is back in host memory. Median of runs after one warm-up;
    when the device is not the CPU, the CPU is measured in the same process
    and `ratio` is CPU time / device time.
    """
    from warpaint.engine.apply import run_effect
    from warpaint.engine.device import choose_device
    from warpaint.engine.jobs import Job, JobContext
    from warpaint.engine.registry import get_effect

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
