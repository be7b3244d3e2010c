"""`warpaint bench splining`: Laplacian-pyramid splining against OpenCV's blender."""

from __future__ import annotations

import importlib
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from warpaint.engine.runtime.bench import benchmark, rss_mib, sampled_peak_rss


def spline_workload(side: int, levels: int) -> tuple[Callable[[], Any], Callable[[], Any] | None]:
    """Two side x side RGB uint8 images and a half mask: (Warpaint's spline
    from the uint8 arrays to the float blend, OpenCV's `detail_MultiBandBlender`
    on the same arrays, or None without OpenCV)."""
    import torch

    from warpaint.engine.core.pyramid import spline

    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    m = np.zeros((side, side), np.uint8)
    m[:, : side // 2] = 255

    def warpaint() -> Any:
        with torch.inference_mode():
            ta = torch.from_numpy(a).permute(2, 0, 1)[None].float().div_(255.0)
            tb = torch.from_numpy(b).permute(2, 0, 1)[None].float().div_(255.0)
            tm = torch.from_numpy(m)[None, None].float().div_(255.0)
            return spline(ta, tb, tm, levels)

    try:
        cv2: Any = importlib.import_module("cv2")
    except ImportError:
        return warpaint, None

    def opencv() -> Any:
        blender = cv2.detail_MultiBandBlender(0, levels)
        blender.prepare((0, 0, side, side))
        blender.feed(a, m, (0, 0))
        blender.feed(b, 255 - m, (0, 0))
        return blender.blend(None, None)[0]

    return warpaint, opencv


@benchmark("splining", "Laplacian-pyramid spline of two 4096^2 RGB images vs OpenCV's blender")
def bench_splining(quick: bool, device: str | None) -> dict[str, Any]:
    """Two side x side RGB uint8 images (decoded, in memory) and a half mask,
    7 levels. Warpaint: start with the uint8 arrays, stop with the float32
    blend in memory (conversion to float, both pyramids included). OpenCV:
    `cv2.detail_MultiBandBlender` with 7 bands (int16 inside), start with
    the same arrays, stop with its int16 blend. Medians of interleaved runs
    after a warm-up; ratio = warpaint / opencv. Then peak memory of an
    8192^2 RGB float32 spline on the CPU (relative to its inputs), and with a
    CUDA device an 8192^2 RGB spline with inputs already on it (CUDA events).
    """
    import torch

    from warpaint.engine.core.pyramid import spline
    from warpaint.engine.runtime.device import choose_device

    side = 1024 if quick else 4096
    runs = 3 if quick else 5
    levels = 7
    warpaint, opencv = spline_workload(side, levels)

    def warpaint_1thread() -> Any:
        # torch's OpenMP threads spin at barriers; on a loaded 2-core machine
        # one thread can be faster, so both are measured.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return warpaint()
        finally:
            torch.set_num_threads(threads)

    timers: dict[str, Callable[[], Any]] = {"warpaint": warpaint}
    if torch.get_num_threads() > 1:
        timers["warpaint_1thread"] = warpaint_1thread
    result: dict[str, Any] = {
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "image": f"{side}x{side} RGB uint8 x2, half mask",
        "levels": levels,
        "torch_threads": torch.get_num_threads(),
    }
    if opencv is not None:
        cv2: Any = importlib.import_module("cv2")
        timers["opencv"] = opencv
        result["opencv_version"] = cv2.__version__
        result["opencv_threads"] = cv2.getNumThreads()
    else:
        result["opencv"] = "not installed (pip install opencv-python-headless)"
    times: dict[str, list[float]] = {name: [] for name in timers}
    for fn in timers.values():
        fn()  # warm-up
    for _ in range(runs):
        for name, fn in timers.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    for name, values in times.items():
        result[f"{name}_cpu_s_median"] = round(statistics.median(values), 3)
        result[f"{name}_cpu_s_all"] = [round(v, 3) for v in values]
    if "opencv" in times:
        result["ratio"] = round(
            statistics.median(times["warpaint"]) / statistics.median(times["opencv"]), 3
        )
        if "warpaint_1thread" in times:
            result["ratio_1thread"] = round(
                statistics.median(times["warpaint_1thread"]) / statistics.median(times["opencv"]),
                3,
            )
        result["goal_ratio_max"] = 1.0

    big = 2048 if quick else 8192
    base_rss = rss_mib()
    with torch.inference_mode():
        ga = torch.rand(1, 3, big, big)
        gb = torch.rand(1, 3, big, big)
        gm = (torch.arange(big) < big // 2).float().expand(1, 1, big, big).contiguous()
        inputs_mib = (ga.nbytes + gb.nbytes + gm.nbytes) / 2**20
        t = time.perf_counter()
        _, peak = sampled_peak_rss(lambda: spline(ga, gb, gm))
        big_s = time.perf_counter() - t
    result["large_image"] = f"{big}x{big} RGB float32, auto levels, CPU"
    result["large_s"] = round(big_s, 2)
    result["large_inputs_mib"] = round(inputs_mib, 1)
    result["large_peak_rss_over_start_mib"] = round(peak - base_rss, 1)
    result["large_peak_over_inputs"] = round((peak - base_rss) / inputs_mib, 2)
    result["goal_peak_over_inputs_max"] = 4.0

    dev = choose_device(device)
    result["device"] = dev
    if dev == "cuda":
        result.update(_splining_cuda(2048 if quick else 8192, levels))
    return result


def _splining_cuda(side: int, levels: int) -> dict[str, Any]:
    """Spline of two side^2 RGB float32 images already on the GPU: CUDA-event
    times from the call to the result on the device, median of 10 after 3
    warm-ups, for the fused Triton kernels (the default on CUDA) and the
    convolution path, interleaved; the first call of the fused path in this
    process (its check and, with a cold Triton cache, its compilation) is
    timed apart."""
    import torch

    from warpaint.engine.core.pyramid import spline, triton_ready

    result: dict[str, Any] = {}
    with torch.inference_mode():
        ga = torch.rand(1, 3, side, side, device="cuda")
        gb = torch.rand(1, 3, side, side, device="cuda")
        gm = (torch.arange(side, device="cuda") < side // 2).float()
        gm = gm.expand(1, 1, side, side).contiguous()
        t0 = time.perf_counter()
        fused = triton_ready(torch.device("cuda"), 3)
        result["gpu_triton_first_use_s"] = round(time.perf_counter() - t0, 2)
        backends = ["triton", "torch"] if fused else ["torch"]
        outs = {name: spline(ga, gb, gm, levels, backend=name) for name in backends}
        if fused:
            diff = (outs["triton"] - outs["torch"]).abs().max().item()
            result["gpu_triton_vs_torch_max_abs_diff"] = float(f"{diff:.3g}")
        del outs
        for _ in range(3):
            for name in backends:
                spline(ga, gb, gm, levels, backend=name)
        times: dict[str, list[float]] = {name: [] for name in backends}
        for _ in range(10):
            for name in backends:
                start = torch.cuda.Event(enable_timing=True)
                stop = torch.cuda.Event(enable_timing=True)
                start.record()
                spline(ga, gb, gm, levels, backend=name)
                stop.record()
                torch.cuda.synchronize()
                times[name].append(start.elapsed_time(stop))
        for name in backends:
            result[f"gpu_{name}_ms_median"] = round(statistics.median(times[name]), 2)
            result[f"gpu_{name}_ms_all"] = [round(v, 2) for v in times[name]]
        result["gpu_backend_default"] = backends[0]
        result["gpu_ms_median"] = result[f"gpu_{backends[0]}_ms_median"]
    # Streamed (inputs and pyramids in host memory, row bands on the GPU, as
    # the effect does when the GPU's memory is short): wall time, median of 3.
    with torch.inference_mode():
        ha, hb, hm = ga.cpu(), gb.cpu(), gm.cpu()
        del ga, gb, gm
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        streamed = []
        for _ in range(3):
            t0 = time.perf_counter()
            spline(ha, hb, hm, levels, compute="cuda")
            torch.cuda.synchronize()
            streamed.append(time.perf_counter() - t0)
        peak = torch.cuda.max_memory_allocated() / 2**20
    return result | {
        "gpu": torch.cuda.get_device_name(0),
        "gpu_image": f"{side}x{side} RGB float32 on the device, {levels} levels",
        "gpu_goal_ms_max": 15.0,
        "gpu_streamed_from_host_s_median": round(statistics.median(streamed), 3),
        "gpu_streamed_peak_device_mib": round(peak, 1),
        "gpu_streamed_inputs_mib": round((2 * ha.numel() + hm.numel()) * 4 / 2**20, 1),
    }
