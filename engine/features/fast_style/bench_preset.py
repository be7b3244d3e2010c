"""`warpaint bench preset-job`: what a user preset costs, and how fast its job
stops and starts again.

- *Cost*: seconds per Gatys evaluation of one crop and per generator step, at
  the default budget's sizes and networks, measured on a few of each and
  extrapolated to the whole default job (`PresetBudget()`).
- *Cancel latency*: seconds from Cancel (the lane's `cancel`) to the job having
  stopped (its state saved), once in the Gatys phase and once in training.
- *Resume latency*: seconds from submitting the stopped job again to its first
  generator step done (networks, targets and checkpoint loaded, one step).
- *Quality*, with `WARPAINT_PRESET_MODEL` (a preset's file) and
  `WARPAINT_PRESET_STYLE` (its style image) set: `judged`.

The jobs run on a real `JobRunner` long lane in a throwaway model folder, with
the default budget's crop size, networks and batch, and fewer crops,
evaluations and steps (the latencies depend on the work per check, not on how
many checks there are).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from warpaint.engine.runtime.bench import benchmark
from warpaint.engine.runtime.device import machine_info


def _style_image(folder: Path) -> Path:
    """A procedural style of the project's (the shipped 'swirls' preset's source)."""
    import numpy as np
    from PIL import Image

    from warpaint.engine.neural.style_samples import PRESET_STYLES

    name = "swirls" if "swirls" in PRESET_STYLES else next(iter(PRESET_STYLES))
    rgb = PRESET_STYLES[name](256)
    path = folder / "style.png"
    Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path)
    return path


def _costs(budget: Any, device: str, quick: bool) -> dict[str, float]:
    """Seconds per Gatys evaluation of one crop and per generator step."""
    import torch

    from warpaint.engine.features.fast_style.distill import (
        DistillLoss,
        content_pool,
        distill_step,
        pool_images,
        style_grams,
        stylize_batch,
    )
    from warpaint.engine.features.fast_style.generator import GeneratorConfig, StyleGenerator
    from warpaint.engine.neural.loss_networks import feature_network

    net = feature_network(budget.loss_network, device)
    target_net = feature_network(budget.gatys_network, device)
    contents = content_pool(pool_images(None), budget.gatys_batch, budget.size, 0).to(device)
    style = contents[:1].flip(-1)
    evaluations = 4 if quick else 16
    with torch.enable_grad():
        stylize_batch(target_net, contents, style, evaluations=2)  # warm-up
        t = time.perf_counter()
        stylize_batch(target_net, contents, style, evaluations=evaluations)
        per_evaluation = (time.perf_counter() - t) / evaluations / len(contents)
    config = GeneratorConfig(
        styles=1,
        half=budget.half,
        quarter=budget.quarter,
        blocks=budget.blocks,
        noise=budget.noise,
        noise_head=True,
    )
    gen = StyleGenerator(config).to(device)
    opt = torch.optim.Adam(gen.parameters(), lr=budget.lr)
    grams = style_grams(net, style, budget.size)
    weights = DistillLoss(feature=1.0, style=0.0, pixel_scale=4, target_style=4.0)
    views = contents[torch.arange(budget.batch) % len(contents), :, : budget.crop, : budget.crop]
    index = torch.zeros(budget.batch, dtype=torch.long, device=device)
    origins = [(0, 64 * i) for i in range(budget.batch)]
    steps = 3 if quick else 10
    with torch.enable_grad():
        distill_step(gen, net, opt, views, views, index, grams, weights, 1, origins)
        t = time.perf_counter()
        for _ in range(steps):
            distill_step(gen, net, opt, views, views, index, grams, weights, 1, origins)
        per_step = (time.perf_counter() - t) / steps
    return {"seconds_per_evaluation_per_crop": per_evaluation, "seconds_per_step": per_step}


def _latencies(budget: Any, style: Path, device: str) -> dict[str, float]:
    """Cancel latency in each phase, and resume latency, on a real long lane."""
    from warpaint.engine.features.fast_style.preset_job import train_preset
    from warpaint.engine.runtime.jobs import JobRunner, JobState

    runner = JobRunner(device)
    first_step = threading.Event()
    steps_seen: list[int] = []
    first_report: list[float] = []

    def on_step(step: int) -> None:
        steps_seen.append(step)
        first_step.set()

    def on_progress(_job: Any, _fraction: float, _preview: Any) -> None:
        if not first_report:
            first_report.append(time.perf_counter())

    def submit(name: str, image: Path | None, job_budget: Any = budget) -> Any:
        first_step.clear()
        first_report.clear()
        steps_seen.clear()
        return runner.submit(
            lambda ctx: train_preset(name, image, job_budget, ctx, device=device, on_step=on_step),
            f"preset {name}",
            on_progress,
        )

    def cancel_when(job: Any, ready: Any) -> float:
        while not ready():
            if job.wait(0.01):
                raise RuntimeError(f"the job ended before it could be cancelled: {job.state}")
        t = time.perf_counter()
        runner.cancel(job)
        job.wait()
        if job.state is not JobState.CANCELLED:
            raise RuntimeError(f"cancelled job ended as {job.state}: {job.error_message}")
        return time.perf_counter() - t

    try:
        # Gatys phase: cancel half a second into the first batch of crops.
        job = submit("gatys", style, replace(budget, gatys_evaluations=64))

        def in_gatys() -> bool:
            if steps_seen:
                raise RuntimeError("the Gatys phase ended before it could be cancelled")
            return bool(first_report) and time.perf_counter() - first_report[0] > 0.5

        cancel_gatys = cancel_when(job, in_gatys)
        # Training: cancel after two steps, resume, time the first step.
        job = submit("train", style)
        cancel_training = cancel_when(job, lambda: len(steps_seen) >= 2)
        stopped_at = steps_seen[-1]
        t = time.perf_counter()
        job = submit("train", None)
        while not first_step.wait(0.01):
            if job.wait(0):
                raise RuntimeError(f"the resumed job ended as {job.state}: {job.error_message}")
        resume = time.perf_counter() - t
        resumed_at = steps_seen[-1]
        runner.cancel(job)
        job.wait()
    finally:
        runner.shutdown(wait=5.0)
    return {
        "cancel_in_gatys_s": round(cancel_gatys, 3),
        "cancel_in_training_s": round(cancel_training, 3),
        "resume_to_first_step_s": round(resume, 3),
        "stopped_at_step": stopped_at,
        "first_step_after_resume": resumed_at,
    }


def judged(model: str, style_path: str, device: str) -> dict[str, Any]:
    """A finished preset against Gatys (`SLIM_VGG_48`, as `warpaint bench
    fast-style` judges the shipped presets) on astronaut, chelsea and coffee at
    256 px: judged style distance to its style image as a ratio to Gatys', and
    luminance SSIM to the photo, each photo and the mean."""
    import statistics

    import numpy as np
    import torch
    from skimage import data

    from warpaint.engine.features.fast_style.effect import load_generator, style_mix, stylize
    from warpaint.engine.features.fast_style.preset_job import read_style_image
    from warpaint.engine.features.stylize.recipes import SLIM_VGG_48
    from warpaint.engine.neural.bench_images import fit_rgb, to_batch
    from warpaint.engine.neural.style_judge import judge

    side = 256
    style = fit_rgb(read_style_image(style_path), side)
    gen, styles = load_generator(model, device)
    net = SLIM_VGG_48.loss_network(device)
    rows = []
    photos = {"astronaut": data.astronaut(), "chelsea": data.chelsea(), "coffee": data.coffee()}
    for name, photo in photos.items():
        c = fit_rgb(photo, side)
        with torch.inference_mode():
            out = stylize(gen, to_batch(c, device), style_mix(styles, styles[0]))
        gatys = SLIM_VGG_48.stylize(
            net, to_batch(c, device), [(to_batch(style, device), 1.0)], side=side
        )
        mine = judge(np.asarray(out[0].permute(1, 2, 0).clamp(0, 1).cpu()), style, c)
        ref = judge(np.asarray(gatys[0].permute(1, 2, 0).clamp(0, 1).cpu()), style, c)
        rows.append(
            {
                "content": name,
                "ratio": round(mine["style_distance"] / ref["style_distance"], 3),
                "ssim": mine["content_ssim"],
                "gatys_ssim": ref["content_ssim"],
            }
        )
    return {
        "model": model,
        "style": style_path,
        "gatys_settings": SLIM_VGG_48.settings(),
        "results": rows,
        "ratio_mean": round(statistics.mean(r["ratio"] for r in rows), 3),
        "ssim_minus_gatys_mean": round(
            statistics.mean(r["ssim"] - r["gatys_ssim"] for r in rows), 4
        ),
        "goal": "ratio <= 1.25 at ssim_minus_gatys >= 0",
    }


@benchmark("preset-job", "user preset job: cost per step extrapolated, cancel and resume latency")
def bench_preset_job(quick: bool, device: str | None) -> dict[str, Any]:
    from warpaint.engine.features.fast_style.preset_job import PresetBudget, estimated_seconds
    from warpaint.engine.runtime.device import choose_device

    dev = choose_device(device)
    full = PresetBudget()
    budget = replace(full, size=64, gatys_evaluations=4) if quick else full
    result: dict[str, Any] = {"device": dev, "machine": machine_info(dev), "budget": full.to_json()}
    costs = _costs(budget, dev, quick)
    targets = full.crops * full.gatys_evaluations * costs["seconds_per_evaluation_per_crop"]
    training = full.steps * costs["seconds_per_step"]
    estimated = estimated_seconds(full)
    result["cost"] = {
        **{k: round(v, 4) for k, v in costs.items()},
        "measured_at_size": budget.size,
        "extrapolated_targets_s": round(targets),
        "extrapolated_training_s": round(training),
        "extrapolated_total_min": round((targets + training) / 60, 1),
        "job_estimate_min": round(sum(estimated) / 60, 1),
    }
    with tempfile.TemporaryDirectory() as tmp:
        previous = os.environ.get("XDG_DATA_HOME")
        os.environ["XDG_DATA_HOME"] = tmp
        try:
            small = replace(budget, crops=budget.gatys_batch, gatys_evaluations=8, steps=1000)
            result["latency"] = _latencies(small, _style_image(Path(tmp)), dev)
        finally:
            if previous is None:
                del os.environ["XDG_DATA_HOME"]
            else:
                os.environ["XDG_DATA_HOME"] = previous
    # A preset made before (`warpaint train preset`), judged with its style image.
    model, style = os.environ.get("WARPAINT_PRESET_MODEL"), os.environ.get("WARPAINT_PRESET_STYLE")
    if model and style:
        result["judged"] = judged(model, style, dev)
    return result
