"""Benchmarks, run by `warpaint bench NAME [--json]`.

Each benchmark returns a dict of figures. Machines are shared and noisy, so
timings are medians over several runs with their start and stop points
stated, and wherever a reference is measured in the same process the result
carries a `ratio`.
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from warpaint.engine.runtime.errors import BadInputError


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


def load_all() -> dict[str, Benchmark]:
    """Every benchmark: those defined here, the runtime's `bench_*` modules and
    each feature's `bench*` modules."""
    import warpaint.engine.runtime.bench_batch  # noqa: F401
    from warpaint.engine.runtime.features import feature_modules

    feature_modules("bench")
    return BENCHMARKS


def run_benchmark(name: str, quick: bool = False, device: str | None = None) -> dict[str, Any]:
    load_all()
    if name not in BENCHMARKS:
        raise BadInputError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
    result = {"benchmark": name}
    result.update(BENCHMARKS[name].fn(quick, device))
    return result


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def sampled_peak_rss(fn: Callable[[], Any]) -> tuple[Any, float]:
    """fn() and the peak resident set (MiB) seen while it ran, sampled every 5 ms."""
    import threading

    peak = [rss_mib()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss_mib())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = fn()
    finally:
        done.set()
        thread.join()
    return result, max(peak[0], rss_mib())


# -- memory ---------------------------------------------------------------


@benchmark("memory", "8000x8000 document, 5 layers, 20 history steps: resident memory")
def bench_memory(quick: bool, device: str | None) -> dict[str, Any]:
    """Builds the document layer by layer, then makes 20 undoable edits:
    10 brush-sized region edits (512x512), 5 property changes, 5 whole-layer
    pixel replacements (what an effect on a full layer commits). Reports the
    resident set (current and peak) after the steps, and the history's bytes.

    Then the same again with the five layers in a three-level group tree
    (isolated, pass-through, isolated at 90 %; the groups in normal mode, the
    layers in their own modes), after the flat document is freed:
    its history bytes and resident set; then the time to composite a 1024^2
    view of those layers flat and as the tree, alternating, 7 times each
    (medians and their ratio).
    """
    side = 2000 if quick else 8000
    start_rss = rss_mib()
    flat = _memory_run(side, tree=False)
    flat_rss, flat_peak = rss_mib(), peak_rss_mib()
    del flat["doc"]
    gc.collect()
    before_tree = rss_mib()
    tree = _memory_run(side, tree=True)
    # The flat run's pages may be reused rather than returned: the resident
    # set after the tree run is compared whole, not as an increase.
    tree_rss = rss_mib()
    # Composite time, flat vs tree, on the very same layers (the tree's, laid
    # flat: no pixels copied), alternating so load on the machine hits both.
    from warpaint.engine.core.compositing import composite
    from warpaint.engine.core.document import DocState
    from warpaint.engine.core.tiles import Rect

    tree_state = tree.pop("doc").state
    flat_state = DocState(side, side, tree_state.layers)
    view = Rect(side // 2 - 512, side // 2 - 512, 1024, 1024)
    flat_ms: list[float] = []
    tree_ms: list[float] = []
    for _ in range(7):
        for state, times in ((flat_state, flat_ms), (tree_state, tree_ms)):
            t = time.perf_counter()
            composite(state, view)
            times.append((time.perf_counter() - t) * 1000)
    flat_view, tree_view = statistics.median(flat_ms), statistics.median(tree_ms)
    return {
        "canvas": f"{side}x{side}",
        "layers": 5,
        "history_steps": flat["steps"],
        "history_mib": flat["history_mib"],
        "document_mib": flat["document_mib"],
        "rss_mib_before": round(start_rss, 1),
        "rss_mib": round(flat_rss, 1),
        "peak_rss_mib": round(flat_peak, 1),
        "goal_rss_mib": 6 * 1024,
        "build_s": flat["build_s"],
        "steps_s": flat["steps_s"],
        "composite_1024_view_ms_median": round(flat_view, 1),
        "tree_history_mib": tree["history_mib"],
        "tree_rss_mib": round(tree_rss, 1),
        "rss_mib_between_runs": round(before_tree, 1),
        "tree_vs_flat_rss": round(tree_rss / flat_rss, 2),
        "tree_composite_1024_view_ms_median": round(tree_view, 1),
        "tree_vs_flat_composite": round(tree_view / flat_view, 2),
        "tree_vs_flat_history": round(tree["history_mib"] / flat["history_mib"], 2),
        "note": "rss from /proc/self/statm after the steps; peak from getrusage (whole run)",
    }


def _memory_run(side: int, tree: bool) -> dict[str, Any]:
    from warpaint.engine.core.document import DocState, Document, Group, Layer
    from warpaint.engine.core.tiles import Rect, TiledImage

    rng = np.random.default_rng(0)
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
    root: tuple[Any, ...] = tuple(layers)
    if tree:
        inner = Group("Inner", (layers[3], layers[4]), opacity=0.9)
        middle = Group("Middle", (layers[2], inner), isolated=False)
        root = (layers[0], Group("Outer", (layers[1], middle)))
    doc = Document(DocState(side, side, root))
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
    return {
        "doc": doc,
        "steps": len(doc.history.labels) - 1,
        "history_mib": round(doc.history.memory_bytes() / 2**20, 1),
        "document_mib": round(sum(layer.pixels.nbytes for layer in doc.layers) / 2**20, 1),
        "build_s": round(build_s, 2),
        "steps_s": round(steps_s, 2),
    }


# -- cancel ---------------------------------------------------------------


@benchmark("cancel", "time from Cancel to the job's end, full-resolution blur on the long lane")
def bench_cancel(quick: bool, device: str | None) -> dict[str, Any]:
    """Start: `runner.cancel(job)` 0.3-0.7 s into a Gaussian blur (sigma 40)
    of a large layer. Stop: the job's finished event. Median and max of runs.
    """
    from warpaint.engine.core.document import Document
    from warpaint.engine.runtime.apply import effect_job
    from warpaint.engine.runtime.device import choose_device
    from warpaint.engine.runtime.jobs import JobRunner, JobState

    side = 2048 if quick else 4096
    runs = 3 if quick else 7
    dev = choose_device(device)
    rng = np.random.default_rng(1)
    doc = Document.from_array(rng.integers(0, 256, (side, side, 4), dtype=np.uint8))
    runner = JobRunner(dev)
    latencies, states = [], []
    try:
        for i in range(runs):
            job = runner.submit(
                effect_job(doc.state, doc.layers[0].id, "gaussian-blur", {"sigma": 40.0})
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
    from warpaint.engine.core.document import Document
    from warpaint.engine.runtime.apply import effect_job
    from warpaint.engine.runtime.device import choose_device
    from warpaint.engine.runtime.jobs import JobRunner

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


# -- mask stroke on a multiresolution layer ------------------------------------


def _mask_stroke_document(side: int) -> Any:
    """A side^2 document: a textured opaque backdrop and a multiresolution
    layer over it whose mask shows its left half (uint8, as painted)."""
    from warpaint.engine.core.document import DocState, Layer
    from warpaint.engine.core.tiles import TiledImage

    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    bottom = np.empty((side, side, 4), np.uint8)
    top = np.empty((side, side, 4), np.uint8)
    for c in range(3):
        smooth = 0.5 + 0.3 * np.sin(6.0 * xx + 2.0 * c) * np.cos(5.0 * yy)
        bottom[..., c] = np.clip(255 * (smooth + 0.1 * rng.random((side, side))), 0, 255)
        top[..., c] = np.clip(255 * (1.0 - smooth + 0.1 * rng.random((side, side))), 0, 255)
    bottom[..., 3] = top[..., 3] = 255
    mask = np.zeros((side, side, 1), np.uint8)
    mask[:, : side // 2] = 255
    layers = (
        Layer.from_array("backdrop", bottom),
        Layer(
            "pasted",
            TiledImage.from_array(top),
            blend_mode="multiresolution",
            mask=TiledImage.from_array(mask),
        ),
    )
    return DocState(side, side, layers)


def _stroke(state: Any, cx: int, cy: int, radius: int, paint: bool) -> Any:
    """`state` with a hard disc of the mask painted (255) or erased (0)."""
    from warpaint.engine.core.tiles import Rect

    layer = state.layers[-1]
    box = Rect(cx - radius, cy - radius, 2 * radius, 2 * radius)
    patch = layer.mask.read(box)
    yy, xx = np.mgrid[0 : box.h, 0 : box.w]
    inside = (yy + 0.5 - radius) ** 2 + (xx + 0.5 - radius) ** 2 <= radius**2
    patch[inside] = 255 if paint else 0
    return state.replace_layer(layer.with_(mask=layer.mask.with_region(box.x, box.y, patch)))


@benchmark("mask-stroke", "Re-composite after a mask stroke on a 2048^2 multiresolution layer")
def bench_mask_stroke(quick: bool, device: str | None) -> dict[str, Any]:
    """A 2048^2 document (backdrop + multiresolution layer with a uint8 mask).
    Each run paints (or erases) a 120 px disc of the mask across the mask's
    edge, then times, from the new state to the last tile's float RGBA in
    memory, what the canvas does: at 100 % zoom `composite` of the 256 px
    tiles of a 1024x1024 view around the stroke; fitted (level 1) the level
    of detail's reduced state plus `composite` of every tile of the 1024^2
    reduced canvas. Median of 7 after a warm-up that builds the pyramids.
    """
    from warpaint.engine.core.compositing import clear_multiresolution_cache, composite
    from warpaint.engine.core.lod import LevelOfDetail
    from warpaint.engine.core.tiles import TILE, Rect

    side = 512 if quick else 2048
    runs = 7
    radius = 60
    state = _mask_stroke_document(side)
    view = side // 2
    x0 = y0 = (side - view) // 2
    view_tiles = [
        Rect(x, y, TILE, TILE)
        for y in range(y0, y0 + view, TILE)
        for x in range(x0, x0 + view, TILE)
    ]
    offsets = ((0, 0), (-90, 130), (70, -150), (-40, -60), (110, 40), (-120, 20), (30, 170))
    positions = [(side // 2 + dx, side // 2 + dy) for dx, dy in offsets]

    def timed_strokes(render: Callable[[Any], Any]) -> list[float]:
        nonlocal state
        render(state)  # warm-up: pyramids of the images and the first mask
        times = []
        for i in range(runs):
            cx, cy = positions[i % len(positions)]
            state = _stroke(state, cx, cy, radius, paint=i % 2 == 0)
            t = time.perf_counter()
            render(state)
            times.append(time.perf_counter() - t)
        return times

    def full_zoom(s: Any) -> None:
        for rect in view_tiles:
            composite(s, rect)

    lod = LevelOfDetail()

    def fitted(s: Any) -> None:
        reduced = lod.state_at(s, 1)
        for y in range(0, reduced.height, TILE):
            for x in range(0, reduced.width, TILE):
                composite(reduced, Rect(x, y, TILE, TILE).intersect(reduced.bounds))

    result: dict[str, Any] = {
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "document": f"{side}x{side} RGBA uint8, multiresolution layer, uint8 mask",
        "stroke": f"{2 * radius} px hard disc, paint/erase alternately, {runs} runs",
    }
    for name, render in (("zoom_100", full_zoom), ("fitted_level1", fitted)):
        clear_multiresolution_cache()
        times = timed_strokes(render)
        result[f"{name}_ms_median"] = round(1000 * statistics.median(times), 1)
        result[f"{name}_ms_all"] = [round(1000 * v, 1) for v in times]
    result["view_100"] = f"{len(view_tiles)} tiles of {TILE} px ({view}x{view})"
    result["goal_ms_max"] = 100.0
    clear_multiresolution_cache()
    return result
