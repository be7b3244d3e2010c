"""`warpaint bench adain-refine`: "Refine for this style" at its default budget.

For each style, the shipped decoder is refined on one photo (astronaut,
512 px) for the default 60 s of training, then both decoders are judged
(`filter_judge`: style and high-pass distance ratios to the photo's own,
luminance SSIM, all at 256 px) on the photo it was refined on and on
held-out pairs with the same style: the photo's centre at twice the scale
(a crop it never saw whole) and two other photos. Then the job is cancelled
and resumed three times: the cancel latency (cancel asked -> the call has
returned, its state saved) and the resume latency (call -> first step done)
beside a fresh start's (call -> first step done).
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warpaint.engine.neural.bench_images import fit_rgb
from warpaint.engine.neural.bench_images import to_batch as _t
from warpaint.engine.runtime.bench import benchmark

if TYPE_CHECKING:
    import numpy as np
    import torch

    from warpaint.engine.features.arbitrary_style.refine import RefineConfig

CONTENT = "astronaut"
HELD_OUT_PHOTOS: tuple[str, ...] = ("chelsea", "coffee")
STYLES: tuple[str, ...] = ("strokes", "ihc-photo", "corpus-0")
CONTENT_SIDE = 512
LATENCY_ROUNDS = 3


class _Stop(Exception):
    """The benchmark's stand-in for a job's cancellation."""


def _styles(side: int, quick: bool) -> dict[str, np.ndarray]:
    from warpaint.engine.features.arbitrary_style.bench import held_out_styles

    every = held_out_styles(side)
    return {name: every[name] for name in (STYLES[:1] if quick else STYLES)}


def _photo(name: str, side: int) -> np.ndarray:
    from skimage import data

    return fit_rgb(getattr(data, name)(), side)


def held_out_pairs(content: np.ndarray, quick: bool) -> dict[str, np.ndarray]:
    """Contents the refinement did not train on as they are judged: the
    photo's centre half at full scale, and other photos."""
    h, w = content.shape[:2]
    centre = content[h // 4 : h // 4 + h // 2, w // 4 : w // 4 + w // 2]
    pairs = {"centre-crop": centre}
    for name in HELD_OUT_PHOTOS[:1] if quick else HELD_OUT_PHOTOS:
        pairs[name] = _photo(name, 256)
    return pairs


def refine_and_judge(
    content: np.ndarray,
    style: np.ndarray,
    name: str,
    config: RefineConfig,
    device: str,
    quick: bool = False,
) -> dict[str, Any]:
    """One refinement at `config` in a throwaway folder, judged on the photo
    and the held-out pairs (shipped -> refined)."""
    from warpaint.engine.features.arbitrary_style.effect import load_decoder
    from warpaint.engine.features.arbitrary_style.refine import judged, refine_decoder

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = refine_decoder(
            _t(content, device),
            _t(style, device),
            name,
            config,
            device=device,
            work_root=Path(tmp) / "work",
            output_dir=Path(tmp) / "models",
        )
        wall = time.perf_counter() - t0
    shipped = load_decoder(None, device)
    held = {}
    for pair, c in held_out_pairs(content, quick).items():
        before = judged(shipped, _t(c, device), _t(style, device))
        after = judged(result.decoder.to(device), _t(c, device), _t(style, device))
        held[pair] = {"before": before, "after": after}
    first, last = result.history[0], result.history[-1]
    return {
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "wall_seconds": round(wall, 1),
        "steps_per_second": round(result.steps / max(result.seconds, 1e-9), 2),
        "loss_first_last": [first["total"], last["total"]],
        "trained_image": {"before": result.before, "after": result.after},
        "held_out": held,
    }


def _gains(rows: dict[str, dict[str, Any]], where: str) -> dict[str, float]:
    """Mean before/after of each judged figure over styles (and held-out pairs)."""
    pairs: list[dict[str, Any]] = []
    for row in rows.values():
        pairs += [row["trained_image"]] if where == "trained" else list(row["held_out"].values())
    out = {}
    for key in ("style_ratio", "high_pass_ratio", "content_ssim"):
        out[f"{key}_before"] = round(statistics.fmean(p["before"][key] for p in pairs), 4)
        out[f"{key}_after"] = round(statistics.fmean(p["after"][key] for p in pairs), 4)
    return out


def latencies(
    content: torch.Tensor, style: torch.Tensor, config: RefineConfig, device: str, run_s: float
) -> dict[str, Any]:
    """Cancel and resume latency: a refinement started, cancelled after about
    `run_s` s of steps, resumed, ... `LATENCY_ROUNDS` times (the first start
    is a fresh one). Cancel: the flag set -> the call has returned (the state
    saved). Start: the call -> its first step done."""
    from warpaint.engine.features.arbitrary_style.refine import refine_decoder

    cancel, stepped = threading.Event(), threading.Event()
    starts: list[tuple[float, int]] = []  # (call -> first step, resumed_from)
    cancels: list[float] = []
    steps_at_cancel: list[int] = []

    def check() -> None:
        if cancel.is_set():
            raise _Stop

    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(LATENCY_ROUNDS):
            cancel.clear()
            stepped.clear()
            box: dict[str, Any] = {}

            def progress(_fraction: float, info: dict[str, Any], box: dict[str, Any] = box) -> None:
                if "first" not in box:
                    box["first"] = time.perf_counter() - box["t0"]
                    box["resumed_from"] = info["resumed_from"]
                    stepped.set()
                box["step"] = info["step"]

            def work(box: dict[str, Any] = box) -> None:
                box["t0"] = time.perf_counter()
                try:
                    refine_decoder(
                        content,
                        style,
                        "latency",
                        config,
                        device=device,
                        check=check,
                        progress=progress,
                        work_root=Path(tmp) / "work",
                        output_dir=Path(tmp) / "models",
                        judge=False,
                    )
                except _Stop:
                    box["stopped"] = time.perf_counter()

            thread = threading.Thread(target=work)
            thread.start()
            stepped.wait()
            time.sleep(run_s)
            asked = time.perf_counter()
            cancel.set()
            thread.join()
            cancels.append(box["stopped"] - asked)
            starts.append((box["first"], box["resumed_from"]))
            steps_at_cancel.append(box["step"])
    resumes = [t for t, since in starts if since > 0]
    return {
        "rounds": LATENCY_ROUNDS,
        "cancel_s": [round(t, 3) for t in cancels],
        "median_cancel_s": round(statistics.median(cancels), 3),
        "fresh_start_to_first_step_s": round(starts[0][0], 3),
        "resume_to_first_step_s": [round(t, 3) for t in resumes],
        "median_resume_to_first_step_s": round(statistics.median(resumes), 3) if resumes else None,
        "resumed_from_steps": [since for _, since in starts],
        "steps_at_cancel": steps_at_cancel,
    }


@benchmark(
    "adain-refine",
    "Refine for this style: judged gain at the default 60 s budget, cancel and resume latency",
)
def bench_adain_refine(quick: bool, device: str | None) -> dict[str, Any]:
    """The default `RefineConfig` (quick: 4 s, 64 px crops, one style, 128 px
    photo) on astronaut with the held-out styles strokes, the IHC photo and
    corpus 0 (the fine textures AdaIN misses most); figures before (shipped
    decoder) and after (refined), on the photo and on held-out pairs, then
    cancel/resume latency on the first style."""
    import dataclasses

    import torch

    from warpaint.engine.features.arbitrary_style.refine import RefineConfig
    from warpaint.engine.runtime.device import choose_device

    dev = choose_device(device)
    config = RefineConfig()
    side = CONTENT_SIDE
    if quick:
        config = dataclasses.replace(config, seconds=4.0, crop=64, pool_side=128)
        side = 128
    content = _photo(CONTENT, side)
    styles = _styles(side, quick)
    rows = {}
    for name, style in styles.items():
        rows[name] = refine_and_judge(content, style, name, config, dev, quick)
    first = next(iter(styles.values()))
    latency = latencies(_t(content, dev), _t(first, dev), config, dev, run_s=0.5 if quick else 2.0)
    return {
        "device": dev,
        "torch_threads": torch.get_num_threads(),
        "config": dataclasses.asdict(config),
        "content": f"{CONTENT} {side} px",
        "styles": list(styles),
        "results": rows,
        "trained_image_mean": _gains(rows, "trained"),
        "held_out_mean": _gains(rows, "held_out"),
        "latency": latency,
    }
