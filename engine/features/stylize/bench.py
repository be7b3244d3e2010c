"""`warpaint bench stylize`: Gatys stylization time, judged style distance and content SSIM."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from warpaint.engine.runtime.bench import benchmark


@benchmark("stylize", "Gatys stylization: time, judged style distance and content SSIM")
def bench_stylize(quick: bool, device: str | None) -> dict[str, Any]:
    """Start: `stylize_image` called with tensors on the device (network
    built and warmed up before). Stop: the result is back on the host.
    Contents: astronaut, chelsea, coffee (scikit-image); styles: the
    project's procedural mosaic, strokes, waves and the immunohistochemistry
    photo. Every setting is the effect's default (network, iterations,
    scales, strength). Each result is scored by `style_judge.judge` (fixed,
    non-neural, never a loss). A long reference run (the full `vgg19-random`
    network, 600 evaluations, one scale, same size and strength; 100 in
    quick mode) on astronaut x mosaic gives `ratio_to_reference` (goal
    <= 1.2) and `ssim_minus_reference` (goal >= 0: no worse content).
    """
    import torch
    from skimage import data

    from warpaint.engine.features.stylize.effect import BASE_STYLE_WEIGHT, SPEC
    from warpaint.engine.features.stylize.optim import stylize_image
    from warpaint.engine.neural.bench_images import fit_rgb, to_batch
    from warpaint.engine.neural.loss_networks import feature_network
    from warpaint.engine.neural.style_judge import judge
    from warpaint.engine.neural.style_samples import STYLES
    from warpaint.engine.runtime.device import choose_device

    dev = choose_device(device)
    side = 96 if quick else 256
    defaults = SPEC.defaults()

    def rgb(a: np.ndarray) -> np.ndarray:
        return fit_rgb(a, side)

    def t(a: np.ndarray) -> torch.Tensor:
        return to_batch(a, dev)

    contents = {"astronaut": data.astronaut(), "chelsea": data.chelsea(), "coffee": data.coffee()}
    styles = {name: fn(side) for name, fn in STYLES.items()}
    styles["ihc-photo"] = data.immunohistochemistry()
    contents = {k: rgb(v) for k, v in contents.items()}
    styles = {k: rgb(v) for k, v in styles.items()}
    if quick:
        contents = {"astronaut": contents["astronaut"]}
    net = feature_network(defaults["network"], dev)
    reference_net = feature_network("vgg19-random", dev)
    strength = float(defaults["strength"])

    def stylise(
        c: np.ndarray, s: np.ndarray, evaluations: int, scales: int, reference: bool = False
    ) -> tuple:
        if dev == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = stylize_image(
            reference_net if reference else net,
            t(c),
            [(t(s), 1.0)],
            side=side,
            evaluations=evaluations,
            style_weight=BASE_STYLE_WEIGHT * strength,
            scales=scales,
        )
        result = out[0].permute(1, 2, 0).cpu().numpy()
        return result, time.perf_counter() - t0

    stylise(contents["astronaut"], styles["mosaic"], 2, 1)  # warm-ups
    stylise(contents["astronaut"], styles["mosaic"], 2, 1, reference=True)
    rows = []
    for cname, c in contents.items():
        for sname, s in styles.items():
            result, seconds = stylise(c, s, defaults["iterations"], defaults["scales"])
            rows.append(
                {"content": cname, "style": sname, "seconds": round(seconds, 2)}
                | judge(result, s, c)
                | {"content_only_style_distance": judge(c, s, c)["style_distance"]}
            )
    ref_evals = 100 if quick else 600
    ref, ref_s = stylise(contents["astronaut"], styles["mosaic"], ref_evals, 1, reference=True)
    ref_j = judge(ref, styles["mosaic"], contents["astronaut"])
    default_row = rows[0]
    return {
        "device": dev,
        "size": side,
        "settings": {
            "network": defaults["network"],
            "iterations": defaults["iterations"],
            "scales": defaults["scales"],
            "strength": strength,
        },
        "results": rows,
        "median_seconds": round(statistics.median(r["seconds"] for r in rows), 2),
        "median_style_distance_ratio": round(
            statistics.median(r["style_distance"] / r["content_only_style_distance"] for r in rows),
            3,
        ),
        "reference": {"network": "vgg19-random", "evaluations": ref_evals, "scales": 1}
        | {"seconds": round(ref_s, 2)}
        | ref_j,
        "ratio_to_reference": round(default_row["style_distance"] / ref_j["style_distance"], 3),
        "ssim_minus_reference": round(default_row["content_ssim"] - ref_j["content_ssim"], 4),
        "goal_cpu_256_seconds": 30.0,
        "goal_ratio_to_reference_max": 1.2,
    } | (_stylize_gpu_speed(contents["astronaut"], styles["mosaic"]) if dev == "cuda" else {})


def _stylize_gpu_speed(content: np.ndarray, style: np.ndarray) -> dict[str, Any]:
    """The GPU goal: 512 px, 300 L-BFGS evaluations, one scale. Start:
    tensors on the device, network built; stop: result synchronised on the
    device. Median of 3 after a warm-up, per variant: the full random VGG-19
    (the network of the naive 5.1 s probe) planar and channels-last, and the
    effect's default network. Every variant runs as the effect does, with
    TF32 matrix products on CUDA (`optim.optimise`)."""
    import torch
    from skimage import transform

    from warpaint.engine.features.stylize.effect import BASE_STYLE_WEIGHT
    from warpaint.engine.features.stylize.effect import SPEC as STYLIZE
    from warpaint.engine.features.stylize.optim import stylize_image
    from warpaint.engine.neural.loss_networks import feature_network

    def t(a: np.ndarray, memory_format: Any) -> torch.Tensor:
        a = transform.resize(a, (512, 512), anti_aliasing=True).astype(np.float32)
        x = torch.from_numpy(a).permute(2, 0, 1)[None].to("cuda")
        return x.contiguous(memory_format=memory_format)

    default = str(STYLIZE.defaults()["network"])
    variants = {
        "vgg19_random": ("vgg19-random", torch.contiguous_format),
        "vgg19_random_channels_last": ("vgg19-random", torch.channels_last),
        "default_network": (default, torch.contiguous_format),
    }
    out: dict[str, Any] = {"gpu": torch.cuda.get_device_name(0), "default_network": default}
    for name, (network, fmt) in variants.items():
        net = feature_network(network, "cuda")
        c, s = t(content, fmt), t(style, fmt)
        times = []
        for i in range(4):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            stylize_image(
                net,
                c,
                [(s, 1.0)],
                side=512,
                evaluations=300 if i else 10,
                style_weight=BASE_STYLE_WEIGHT,
                scales=1,
            )
            torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
        out[f"gpu_512px_300_evals_s_{name}"] = round(statistics.median(times), 2)
    out["gpu_goal_512px_300_evals_s_max"] = 3.0
    return out
