"""`warpaint bench fast-style`: judged quality next to Gatys, and 1080p speed
next to a Johnson-architecture reference in the same process."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from warpaint.engine.runtime.bench import benchmark
from warpaint.engine.runtime.device import machine_info


def _timed(fn: Callable[[], Any], runs: int, sync: Callable[[], None]) -> list[float]:
    fn()  # warm-up
    sync()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return times


def johnson_net() -> Any:
    """Johnson et al. 2016's residual generator (the common fast_neural_style
    architecture) with instance norm and random weights, the speed reference:
    9x9 conv 32, stride-2 3x3 convs 64 and 128, 5 residual blocks of 128, two
    x2 nearest-upsampling 3x3 convs, 9x9 conv. (N, 3, H, W) in [0, 1] in and
    out. Built in a function so that registering benchmarks imports no torch."""
    import torch
    from torch import nn

    def conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Module:
        return nn.Conv2d(cin, cout, k, stride, k // 2, padding_mode="reflect")

    def norm(c: int) -> nn.Module:
        return nn.InstanceNorm2d(c, affine=True)

    class JohnsonNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Sequential(
                conv(3, 32, 9), norm(32), nn.ReLU(),
                conv(32, 64, 3, 2), norm(64), nn.ReLU(),
                conv(64, 128, 3, 2), norm(128), nn.ReLU(),
            )  # fmt: skip  # one layer (conv, norm, activation) per line
            self.res = nn.ModuleList(
                nn.Sequential(conv(128, 128, 3), norm(128), nn.ReLU(), conv(128, 128, 3), norm(128))
                for _ in range(5)
            )
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"), conv(128, 64, 3), norm(64), nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="nearest"), conv(64, 32, 3), norm(32), nn.ReLU(),
                conv(32, 3, 9),
            )  # fmt: skip  # one upsampling stage per line

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.head(x)
            for block in self.res:
                y = y + block(y)
            return torch.sigmoid(self.up(y))[..., : x.shape[-2], : x.shape[-1]]

    return JohnsonNet()


def conv_macs(net: Any, height: int, width: int) -> int:
    """Multiply-accumulates of every Conv2d in `net` for a (1, 3, height, width)
    input, counted from the shapes seen in one forward pass on a small copy
    scaled up by area (exact for fully convolutional nets with these strides)."""
    import torch
    from torch import nn

    from warpaint.engine.features.fast_style.generator import StyleGenerator

    probe = 64
    macs = 0

    def hook(module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal macs
        assert isinstance(module, nn.Conv2d)
        k = module.kernel_size[0] * module.kernel_size[1]
        macs += output.numel() * k * module.in_channels // module.groups

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            x = torch.rand(1, 3, probe, probe)
            if isinstance(net, StyleGenerator):
                net(x, torch.ones(net.config.styles) / net.config.styles)
            else:
                net(x)
    finally:
        for h in handles:
            h.remove()
    return round(macs * (height * width) / (probe * probe))


def speed(device: str, quick: bool) -> dict[str, Any]:
    """1920x1080 (quick: 960x540) through the shipped generator's architecture
    and the Johnson reference: medians of runs after a warm-up, same process,
    alternating so both see the same machine load."""
    import torch

    from warpaint.engine.features.fast_style.effect import halo, load_generator
    from warpaint.engine.features.fast_style.generator import GeneratorConfig, StyleGenerator
    from warpaint.engine.neural.feedforward import tiled_forward
    from warpaint.engine.runtime.errors import BadInputError

    h, w = (540, 960) if quick else (1080, 1920)
    runs = 3 if quick else 5
    try:
        gen, styles = load_generator(None, device)
        trained = True
    except BadInputError:
        gen, trained = StyleGenerator(GeneratorConfig(styles=9)).to(device), False
        styles = tuple(str(i) for i in range(9))
    gen.set_style(torch.ones(len(styles), device=device) / len(styles))
    johnson = johnson_net().eval().to(device)
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    fast_times: list[float] = []
    ref_times: list[float] = []
    with torch.inference_mode():
        context = halo(gen)
        tiled_forward(gen, gen, x, halo=context, align=4)
        johnson(x)
        for _ in range(runs):
            fast_times += _timed(lambda: tiled_forward(gen, gen, x, halo=context, align=4), 1, sync)
            ref_times += _timed(lambda: johnson(x), 1, sync)
    fast, ref = statistics.median(fast_times), statistics.median(ref_times)
    out: dict[str, Any] = {
        "image": f"{w}x{h}",
        "generator": gen.config.to_json() | {"trained": trained},
        "generator_gmac": round(conv_macs(gen.cpu(), h, w) / 1e9, 2),
        "johnson_gmac": round(conv_macs(johnson.cpu(), h, w) / 1e9, 2),
        "generator_s_median": round(fast, 4),
        "johnson_s_median": round(ref, 4),
        "generator_s_all": [round(t, 4) for t in fast_times],
        "ratio": round(fast / ref, 3),
        "goal_ratio_max": 0.2,
        "goal_s_max": 1.0 if device == "cpu" else 0.002,
    }
    gen.to(device)
    if device == "cuda":
        # Half precision, channels-last, eager (no compile on the user's first click).
        half = StyleGenerator(gen.config).to(device).half().to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # missing from torch's stubs
        half.load_state_dict(gen.state_dict())
        half.set_style(torch.ones(len(styles), device=device, dtype=torch.half) / len(styles))
        xh = x.half().contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            times = _timed(lambda: half(xh), 2 * runs, sync)
        out["generator_fp16_channels_last_s_median"] = round(statistics.median(times), 5)
        out.update(_cuda_graph_time(half, xh, runs, sync))
        out.update(_effect_cuda_time(gen, x, len(styles), runs, sync))
    return out


# How long the benchmark waits for the background compilation of the generator.
COMPILE_WAIT_S = 300.0


def _effect_cuda_time(
    gen: Any, x: Any, styles: int, runs: int, sync: Callable[[], None]
) -> dict[str, Any]:
    """What the effect does on CUDA (`fast_style.stylize`): start with the float32
    image on the device, stop with the float32 result there (synchronised).
    The first call, which records the CUDA graph for this size, is timed apart.
    Then the same once the background compilation it queued is ready."""
    import torch

    from warpaint.engine.features.fast_style.effect import _cuda_runner, stylize
    from warpaint.engine.neural.cuda_graphs import COMPILE_MODE

    mix = [1.0 / styles] * styles
    with torch.inference_mode():
        first = _timed(lambda: stylize(gen, x, mix), 1, sync)[0]
        times = _timed(lambda: stylize(gen, x, mix), 2 * runs, sync)
    runner = _cuda_runner(gen)
    graphed = runner.graphed
    out: dict[str, Any] = {
        "effect_cuda_first_call_s": round(first, 4),
        "effect_cuda_s_median": round(statistics.median(times), 5),
        "effect_cuda_s_all": [round(t, 5) for t in times],
        "effect_cuda_path": "half precision, CUDA graph"
        if graphed.recorded and not graphed.failed
        else "float32 eager (graph not recorded)",
    }
    # The compiled network (queued by the first call, compiled in the
    # background): how long until it serves, then the same timing.
    compiled = runner.compiled
    if compiled is None:
        return out | {"effect_cuda_compiled": "off (WARPAINT_COMPILE=0 or no Triton)"}
    t0 = time.perf_counter()
    finished = compiled.wait(COMPILE_WAIT_S)
    out["effect_cuda_compile_wait_s"] = round(time.perf_counter() - t0, 1)
    if not finished or compiled.failed or not compiled.ready_shapes:
        return out | {"effect_cuda_compiled": compiled.failed or "not ready in time"}
    with torch.inference_mode():
        times = _timed(lambda: stylize(gen, x, mix), 2 * runs, sync)
    return out | {
        "effect_cuda_compiled_s_median": round(statistics.median(times), 5),
        "effect_cuda_compiled_s_all": [round(t, 5) for t in times],
        "effect_cuda_compile_mode": COMPILE_MODE,
    }


def _cuda_graph_time(net: Any, x: Any, runs: int, sync: Callable[[], None]) -> dict[str, Any]:
    """The same fp16 call recorded once as a CUDA graph and replayed: what a
    live preview at a fixed size could use, since the light generator is
    bound by kernel launches on a GPU. Reported, not yet used by the effect."""
    import torch

    try:
        static_in = x.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.inference_mode(), torch.cuda.stream(side):
            for _ in range(3):  # warm-up outside the capture (allocator, cuDNN choices)
                net(static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            net(static_in)
        times = _timed(graph.replay, 2 * runs, sync)
    except Exception as exc:  # noqa: BLE001 - a capture failure is a result to report
        return {"generator_fp16_cuda_graph_error": f"{type(exc).__name__}: {exc}"}
    return {"generator_fp16_cuda_graph_s_median": round(statistics.median(times), 5)}


def quality(device: str, quick: bool) -> dict[str, Any]:
    """Each preset on astronaut, chelsea, coffee (256 px; quick: astronaut at
    128 px): the judged style distance against the preset's source image and
    the luminance SSIM to the content, for the fast network and for Gatys
    (`recipes.SLIM_VGG_48`, the earlier stylize defaults) on the same pair, and the strength of a
    pattern repeating every 4 px (`lattice_levels`) in both and, on a flat
    sky-blue input, in the fast result against the preset's source, with the
    regularity of its marks' spacing there (`packing`). With
    $WARPAINT_BENCH_IMAGES set, also writes content | style | Gatys | fast
    sheets (three presets each) there."""
    import torch
    from skimage import data, transform

    from warpaint.engine.features.fast_style.effect import load_generator, style_mix, stylize
    from warpaint.engine.features.stylize.recipes import SLIM_VGG_48
    from warpaint.engine.neural.bench_images import fit_rgb, to_batch
    from warpaint.engine.neural.style_judge import judge, lattice_levels, packing
    from warpaint.engine.neural.style_samples import PRESET_STYLES

    side = 128 if quick else 256
    gen, styles = load_generator(None, device)
    # The Gatys side is pinned by name (the earlier stylize defaults, which the
    # presets were distilled from), so these figures stay comparable.
    reference = SLIM_VGG_48
    net = reference.loss_network(device)

    def fit(a: np.ndarray) -> np.ndarray:
        return fit_rgb(a, side)

    def t(a: np.ndarray) -> torch.Tensor:
        return to_batch(a, device)

    def host(x: torch.Tensor) -> np.ndarray:
        return x[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy()

    contents = {"astronaut": data.astronaut(), "chelsea": data.chelsea(), "coffee": data.coffee()}
    if quick:
        contents = {"astronaut": contents["astronaut"]}
    contents = {k: fit(v) for k, v in contents.items()}
    rows = []
    # Side-by-side pictures (content | style | Gatys | fast) when asked for.
    picture_dir = os.environ.get("WARPAINT_BENCH_IMAGES")
    # Comparing several models: the Gatys side is the same for all of them.
    gatys_cache = (
        Path(os.environ["WARPAINT_BENCH_GATYS_CACHE"])
        if os.environ.get("WARPAINT_BENCH_GATYS_CACHE")
        else None
    )
    if gatys_cache is not None:
        gatys_cache.mkdir(parents=True, exist_ok=True)
    strips: list[np.ndarray] = []
    flat = np.broadcast_to(np.array([0.55, 0.7, 0.9], np.float32), (side, side, 3)).copy()
    lattice_flat, packing_flat = {}, {}
    for name in styles:
        if name not in PRESET_STYLES:
            continue
        style = PRESET_STYLES[name](side)
        with torch.inference_mode():
            on_flat = host(stylize(gen, t(flat), style_mix(styles, name)))
        lattice_flat[name] = {"fast": lattice_levels(on_flat), "source": lattice_levels(style)}
        packing_flat[name] = {"fast": packing(on_flat), "source": packing(style)}
        for cname, c in contents.items():
            with torch.inference_mode():
                fast = host(stylize(gen, t(c), style_mix(styles, name)))
            cached = gatys_cache / f"{name}-{cname}-{side}-{device}.npy" if gatys_cache else None
            if cached is not None and cached.is_file():
                gatys = np.load(cached)
            else:
                gatys = host(reference.stylize(net, t(c), [(t(style), 1.0)], side=side))
                if cached is not None:
                    np.save(cached, gatys)
            jf, jg = judge(fast, style, c), judge(gatys, style, c)
            if picture_dir:
                shown = transform.resize(style, c.shape[:2], anti_aliasing=True)
                strips.append(np.concatenate([c, shown, gatys, fast], axis=1))
            rows.append(
                {
                    "preset": name,
                    "content": cname,
                    "fast_style_distance": jf["style_distance"],
                    "fast_ssim": jf["content_ssim"],
                    "gatys_style_distance": jg["style_distance"],
                    "gatys_ssim": jg["content_ssim"],
                    "ratio": round(jf["style_distance"] / jg["style_distance"], 3),
                    "ssim_minus_gatys": round(jf["content_ssim"] - jg["content_ssim"], 4),
                    "fast_lattice": lattice_levels(fast),
                    "gatys_lattice": lattice_levels(gatys),
                    "content_only_style_distance": judge(c, style, c)["style_distance"],
                }
            )
    if picture_dir and strips:
        from PIL import Image

        os.makedirs(picture_dir, exist_ok=True)
        per_content = len(contents)
        for i in range(0, len(strips), 3 * per_content):
            sheet = np.concatenate(strips[i : i + 3 * per_content], axis=0)
            name = os.path.join(picture_dir, f"fast-style-{i // (3 * per_content) + 1}.png")
            Image.fromarray((np.clip(sheet, 0, 1) * 255 + 0.5).astype(np.uint8)).save(name)
    per_preset = {}
    for name in dict.fromkeys(r["preset"] for r in rows):
        mine = [r for r in rows if r["preset"] == name]
        per_preset[name] = {
            "ratio_mean": round(statistics.mean(r["ratio"] for r in mine), 3),
            "ssim_minus_gatys_mean": round(statistics.mean(r["ssim_minus_gatys"] for r in mine), 4),
            "fast_lattice_mean": round(statistics.mean(r["fast_lattice"] for r in mine), 2),
            "gatys_lattice_mean": round(statistics.mean(r["gatys_lattice"] for r in mine), 2),
            "flat_lattice": lattice_flat[name],
            "flat_packing": packing_flat[name],
        }
    return {
        "size": side,
        "gatys_settings": reference.settings(),
        "results": rows,
        "per_preset": per_preset,
        "median_ratio": round(statistics.median(r["ratio"] for r in rows), 3) if rows else None,
        "presets_meeting_goal": sum(
            1
            for p in per_preset.values()
            if p["ratio_mean"] <= 1.25 and p["ssim_minus_gatys_mean"] >= 0
        ),
        "goal": "ratio <= 1.25 at ssim_minus_gatys >= 0",
        "lattice_unit": "RMS of the 4x4 phase means about their mean, in 8-bit levels",
        "packing_unit": "RMS of the 3x3 high-pass's normalised autocorrelation at 3-12 px lags",
    }


@benchmark("fast-style", "fast-style presets: judged quality vs Gatys, 1080p speed vs Johnson")
def bench_fast_style(quick: bool, device: str | None) -> dict[str, Any]:
    """Speed: start with the (1, 3, H, W) tensor on the device, stop with the
    result on it (synchronised on CUDA); the generator path is the effect's
    (`tiled_forward`, which runs 1080p in one pass). Quality: see `quality`;
    skipped with a reason when the presets' model is not installed."""
    from warpaint.engine.features.fast_style.effect import shipped_model_path
    from warpaint.engine.runtime.device import choose_device

    dev = choose_device(device)
    result: dict[str, Any] = {"device": dev, "machine": machine_info(dev)}
    result["speed"] = speed(dev, quick)
    if shipped_model_path().is_file():
        result["quality"] = quality(dev, quick)
    else:
        result["quality"] = f"skipped: {shipped_model_path()} is not installed"
    return result
