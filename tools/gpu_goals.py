"""The three open GPU goals in one short device run, with what is needed to act on a miss.

    python tools/gpu_goals.py OUT_DIR [PART ...]

- stylize: the benchmark's GPU speed part (512 px, 300 L-BFGS evaluations, one scale),
  every evaluation replayed from a CUDA graph as the effect runs; stylize-eager: the same
  launched eagerly, in the same process, for the ratio.
- fast-style: the benchmark's speed part on CUDA at 1920x1080 (eager fp32 / fp16, CUDA
  graph, the effect's path, then the effect once its background compilation is ready);
  fast-style-autotune: the generator compiled with Inductor's autotuning mode.
- splining: the benchmark's GPU part (8192^2 RGB, 7 levels, Triton and convolution
  paths interleaved, CUDA events), a sweep of the Triton kernels' tile shape and warps,
  and the per-kernel device times of one fused spline (torch profiler).

Each part writes OUT_DIR/<part>.json as soon as it ends, so a part that overruns the
time limit loses only itself and those after it. Parts run in the order above.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _write(out: Path, name: str, data: dict[str, Any]) -> None:
    (out / f"{name}.json").write_text(json.dumps(data, indent=1))
    print(name, json.dumps(data)[:3000], flush=True)


def _kernel_table(fn: Callable[[], Any], rows: int = 25) -> dict[str, Any]:
    """Device time per kernel name of one call of fn (after a warm-up)."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    events = [e for e in prof.key_averages() if e.device_time_total > 0]
    events.sort(key=lambda e: -e.device_time_total)
    total = sum(e.device_time_total for e in events)
    return {
        "device_us_total": round(total, 1),
        "kernels": [
            {"name": e.key[:90], "calls": e.count, "us": round(e.device_time_total, 1)}
            for e in events[:rows]
        ],
    }


def splining(out: Path) -> None:
    from warpaint.engine.core import pyramid_triton as PT
    from warpaint.engine.core.pyramid import spline
    from warpaint.engine.features.splining.bench import _splining_cuda

    result: dict[str, Any] = {"bench": _splining_cuda(8192, 7)}
    _write(out, "splining", result)
    side, levels = 8192, 7
    default = PT._BLOCK_H, PT._BLOCK_W, PT._NUM_WARPS
    with torch.inference_mode():
        a = torch.rand(1, 3, side, side, device="cuda")
        b = torch.rand(1, 3, side, side, device="cuda")
        m = (torch.arange(side, device="cuda") < side // 2).float().expand(1, 1, side, side)
        m = m.contiguous()
        ref = spline(a, b, m, levels, backend="torch")
        sweep = []
        shapes = [default, (4, 128, 4), (1, 128, 4), (1, 512, 4), (1, 256, 8), (1, 128, 2)]
        for bh, bw, warps in shapes:
            PT._BLOCK_H, PT._BLOCK_W, PT._NUM_WARPS = bh, bw, warps
            try:
                got = spline(a, b, m, levels, backend="triton")
                diff = (got - ref).abs().max().item()
                times = _event_times(lambda: spline(a, b, m, levels, backend="triton"), 10)
                sweep.append(
                    {
                        "bh": bh,
                        "bw": bw,
                        "warps": warps,
                        "max_diff": float(f"{diff:.3g}"),
                        "ms_median": round(statistics.median(times), 3),
                    }
                )
            except Exception as exc:  # noqa: BLE001 - a failing shape is a result
                sweep.append({"bh": bh, "bw": bw, "warps": warps, "error": repr(exc)[:300]})
        PT._BLOCK_H, PT._BLOCK_W, PT._NUM_WARPS = default
        result["sweep"] = sweep
        result["profile_triton"] = _kernel_table(lambda: spline(a, b, m, levels, backend="triton"))
    _write(out, "splining", result)


def _event_times(fn: Callable[[], Any], runs: int) -> list[float]:
    for _ in range(2):
        fn()
    times = []
    for _ in range(runs):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(stop))
    return times


def _stylize_speed(cuda_graph: bool) -> dict[str, Any]:
    import functools

    from skimage import data

    from warpaint.engine.features.stylize import optim
    from warpaint.engine.features.stylize.bench import _stylize_gpu_speed
    from warpaint.engine.neural.style_samples import STYLES

    content = data.astronaut().astype(np.float32) / 255.0
    style = STYLES["mosaic"](512)
    graphed = optim.optimise
    optim.optimise = functools.partial(graphed, cuda_graph=cuda_graph)  # type: ignore[assignment]
    try:
        return _stylize_gpu_speed(content, style)
    finally:
        optim.optimise = graphed


def stylize(out: Path) -> None:
    """The benchmark's GPU part: each evaluation replayed from a CUDA graph, as
    the effect runs."""
    _write(out, "stylize", _stylize_speed(True))


def stylize_eager(out: Path) -> None:
    """The same, every evaluation launched eagerly (as before the graphs)."""
    _write(out, "stylize-eager", _stylize_speed(False))


def fast_style(out: Path) -> None:
    """The benchmark's speed part (now with the background-compiled effect path)."""
    from warpaint.engine.features.fast_style.bench import speed

    result: dict[str, Any] = {"speed": speed("cuda", False)}
    _write(out, "fast-style", result)


def fast_style_autotune(out: Path) -> None:
    """The generator compiled with Inductor's autotuning mode, replayed from a
    CUDA graph: compile time and replay time at 1920x1080 (the effect's default
    mode is measured by `fast_style`)."""
    import copy

    from warpaint.engine.features.fast_style.effect import load_generator
    from warpaint.engine.features.fast_style.generator import NoiseInputs
    from warpaint.engine.neural.cuda_graphs import GraphedForward

    gen, styles = load_generator(None, "cuda")
    half = copy.deepcopy(gen).half().to(memory_format=torch.channels_last)
    half.set_style(torch.ones(len(styles), device="cuda", dtype=torch.half) / len(styles))
    x = torch.rand(1, 3, 1080, 1920, device="cuda").half()
    x = x.contiguous(memory_format=torch.channels_last)
    # As the effect runs it: the noise planes made once, inputs of the graph.
    noise = half.noise_inputs(1080, 1920, [(0, 0)], "cuda", torch.half)

    def network(x: Any, pixel: Any, coarse: Any) -> Any:
        return half(x, noise=NoiseInputs(pixel, coarse))

    result: dict[str, Any] = {}
    torch._dynamo.reset()
    for mode in ("max-autotune-no-cudagraphs",):
        replay = GraphedForward(torch.compile(network, mode=mode, dynamic=False), max_shapes=1)
        with torch.inference_mode():
            t0 = time.perf_counter()
            replay(x, *noise)
            torch.cuda.synchronize()
            compile_s = time.perf_counter() - t0
            times = []
            for _ in range(10):
                t0 = time.perf_counter()
                replay(x, *noise)
                torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
        result[mode] = {
            "compile_s": round(compile_s, 1),
            "failed": replay.failed,
            "s_median": round(statistics.median(times), 5),
        }
        _write(out, "fast-style-autotune", result)


PARTS = {
    "stylize": stylize,
    "fast-style": fast_style,
    "splining": splining,
    "stylize-eager": stylize_eager,
    "fast-style-autotune": fast_style_autotune,
}


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[2:] or list(PARTS):
        t0 = time.perf_counter()
        try:
            PARTS[name](out)
        except Exception:  # noqa: BLE001 - report and go on to the next part
            (out / f"{name}.error.txt").write_text(traceback.format_exc())
            print(name, "FAILED\n", traceback.format_exc(), flush=True)
        print(f"== {name} {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
