"""A user preset from one style image: a long, resumable training job.

The recipe is the shipped presets' (`warpaint train style`, docs/fast-style.md):
Gatys targets of content crops from the offline photos, then a one-style
generator distilled from them; only the budget is smaller (`PresetBudget`),
chosen to finish within half an hour on a 2-core CPU (about 18 minutes).

The job runs in any job context (`check()` and `report(fraction, preview,
data)`: the GUI's long lane, the command line's `warpaint train preset`).
Its state lives in the preset's work folder (`user_presets.work_dir`):

- `job.json`: the name, the style image's sha256 and file name, the budget,
  the last saved step and the seconds spent so far;
- `style.png`: the style image as the job reads it (composited on white,
  fitted to the budget's side), so a resume needs no original;
- `targets.safetensors`: the content crops and the Gatys targets finished so
  far, saved after each batch of crops;
- `checkpoint.safetensors`: the generator and its optimiser, saved every
  `CHECKPOINT_SECONDS` and when the job is cancelled or interrupted.

Starting the job again with the same name resumes from that state (the same
style image and budget; anything else is refused with the way out). The
finished preset is written to `user_presets.preset_path(name)` with the style
image's sha256, the budget and the seconds taken in its metadata, and the
work folder is removed.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from warpaint.engine.features.fast_style.user_presets import (
    MODEL_KIND,
    check_name,
    file_sha256,
    preset_path,
    presets_dir,
    read_job_state,
    work_dir,
)
from warpaint.engine.runtime.errors import BadInputError, JobCancelled

if TYPE_CHECKING:
    import numpy as np
    import torch

FORMAT = 1
TARGETS_KIND = "fast-style-preset-targets"
# A job killed without a chance to save (power cut, kill -9) loses at most this much work.
CHECKPOINT_SECONDS = 60.0
# A style image bigger than this is refused (it is fitted to a few hundred pixels anyway).
MAX_STYLE_PIXELS = 50_000_000
MAX_STYLE_BYTES = 512 << 20


@dataclass(frozen=True)
class PresetBudget:
    """How much work a preset gets. The defaults are the shipped presets'
    recipe (the same crops, Gatys targets, losses and generator) for one style
    and 1800 steps instead of 4000: 18.3 minutes measured on a quiet 2-core
    CPU, each step's samples on a task pool (`sample_split`), 16.6-18.8
    extrapolated by `warpaint bench preset-job` (docs/fast-style.md, "Your own
    preset", has the figures)."""

    size: int = 256  # side of the content crops and of the style image
    crops: int = 16  # content crops stylised by Gatys
    gatys_evaluations: int = 96  # loss evaluations per Gatys target
    gatys_batch: int = 8  # crops optimised at once (the unit a resume keeps)
    gatys_network: str = "efficientnet-lite0"
    loss_network: str = "efficientnet-lite0"
    steps: int = 1800  # generator steps
    batch: int = 8
    lr: float = 2e-3
    half: int = 16
    quarter: int = 32
    blocks: int = 5
    noise: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size < 16 or self.size % 4:
            raise BadInputError("preset budget: size must be a multiple of 4, at least 16")
        for name in ("crops", "gatys_evaluations", "gatys_batch", "steps", "batch"):
            if getattr(self, name) < 1:
                raise BadInputError(f"preset budget: {name} must be at least 1")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> PresetBudget:
        """The budget a `job.json` records; BadInputError when it is not one."""
        known = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or not set(data) <= known:
            raise BadInputError(f"not a preset budget: {data!r}"[:200])
        try:
            return cls(**data)
        except TypeError as exc:
            raise BadInputError(f"not a preset budget ({exc})") from None

    @property
    def crop(self) -> int:
        """Side of the random views the generator trains on (3/4 of `size`)."""
        return max(16, (self.size * 3 // 4) // 4 * 4)


# Costs on the 2-core x86_64 CPU with EfficientNet-Lite0: seconds per Gatys
# evaluation of one 256 px crop (the shipped presets' training record,
# resources/models/fast-style.json: 606 s of targets for 9 x 16 crops x 96
# evaluations in batches of 8), and per generator step of batch 8 on 192 px
# views (a full default preset job with the samples on a task pool: 1097 s in
# all, about 70 s of targets, so 0.57 s a step; the record's 0.80 was on
# torch's threads). They weigh the two phases in the
# progress fraction and give the ETA until the job has measured its own rate.
SECONDS_PER_EVALUATION_256 = 0.044
SECONDS_PER_STEP_8x192 = 0.57


def estimated_seconds(budget: PresetBudget) -> tuple[float, float]:
    """(targets, training) seconds that `budget` should take on the 2-core CPU."""
    targets = budget.crops * budget.gatys_evaluations * SECONDS_PER_EVALUATION_256
    targets *= (budget.size / 256) ** 2
    training = budget.steps * SECONDS_PER_STEP_8x192 * budget.batch / 8 * (budget.crop / 192) ** 2
    return targets, training


class Context(Protocol):
    """What the job needs from its runner (a `JobContext` is one)."""

    def check(self) -> None: ...

    def report(self, fraction: float, preview: Any = None, data: Any = None) -> None: ...


class _Unwatched:
    """A context for a job that nobody cancels or watches."""

    def check(self) -> None:
        return None

    def report(self, fraction: float, preview: Any = None, data: Any = None) -> None:
        return None


@dataclass(frozen=True)
class Progress:
    """What the job reports as `data` with each fraction."""

    phase: str  # "targets" or "training"
    done: int  # crops with targets, or generator steps
    total: int
    eta_s: float  # seconds left, from the rates measured so far
    resumed_from: int  # the step (or crops) this run started from

    def text(self, name: str) -> str:
        """One line for a status bar or a terminal."""
        what = "Gatys targets" if self.phase == "targets" else "training"
        return f"{name}: {what} {self.done}/{self.total}, about {format_duration(self.eta_s)} left"


class _TargetsProgress:
    """Progress and ETA of the Gatys phase: before each batch of crops, and
    every 2 s inside one (a batch takes a while), from the rate measured so far."""

    EVERY_S = 2.0

    def __init__(
        self, ctx: Context, crops: int, est_targets: float, est_training: float, resumed: int
    ) -> None:
        self.ctx, self.crops, self.resumed = ctx, crops, resumed
        self.est_targets, self.est_training = est_targets, est_training
        self.per_crop = est_targets / crops
        self.t0 = time.perf_counter()
        self.done, self.size = resumed, 0
        self.batch_started = self.last = self.t0

    def start_batch(self, done: int, size: int) -> None:
        now = time.perf_counter()
        if done > self.resumed:
            self.per_crop = (now - self.t0) / (done - self.resumed)
        self.done, self.size = done, size
        self.batch_started = self.last = now
        self.report(0.0)

    def report(self, within: float) -> None:
        """`within`: the part of the current batch done."""
        done = self.done + within * self.size
        eta = self.per_crop * (self.crops - done) + self.est_training
        fraction = self.est_targets / (self.est_targets + self.est_training) * done / self.crops
        data = Progress("targets", self.done, self.crops, eta, self.resumed)
        self.ctx.report(fraction, data=data)

    def check(self) -> None:
        self.ctx.check()
        now = time.perf_counter()
        if now - self.last >= self.EVERY_S:
            self.last = now
            self.report(min(0.95, (now - self.batch_started) / (self.per_crop * self.size)))


def format_duration(seconds: float) -> str:
    """90 -> '1 min 30 s', 4000 -> '1 h 7 min'."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s < 600 else f"{round(s / 60)} min"
    return f"{s // 3600} h {round(s % 3600 / 60)} min"


def read_style_image(path: str | os.PathLike[str]) -> np.ndarray:
    """A style image as (H, W, 3) float32 in [0, 1], composited on white.
    One-line BadInputError for a missing file, a FIFO or device, a file that
    is not an image, or one too big to be a style image."""
    import dataclasses

    import numpy as np

    from warpaint.engine.io import read_image_array
    from warpaint.engine.io.limits import Limits, check_regular_file, human_bytes

    check_regular_file(path)
    size = os.stat(path).st_size
    if size > MAX_STYLE_BYTES:
        raise BadInputError(
            f"{os.fspath(path)}: {human_bytes(size)} is too big for a style image "
            f"(at most {human_bytes(MAX_STYLE_BYTES)})"
        )
    limits = Limits.from_env()
    limits = dataclasses.replace(limits, max_pixels=min(limits.max_pixels, MAX_STYLE_PIXELS))
    a = read_image_array(path, limits)
    return np.clip(a[..., :3] * a[..., 3:] + (1 - a[..., 3:]), 0, 1).astype(np.float32)


def _fitted(rgb: np.ndarray, side: int) -> np.ndarray:
    """(H, W, 3) float -> uint8 with its long side `side` (Lanczos)."""
    import numpy as np
    from PIL import Image

    image = Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from warpaint.engine.io.atomic import atomic_write

    with atomic_write(path, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")


def prepare(
    name: str,
    style: str | os.PathLike[str] | None,
    budget: PresetBudget | None = None,
    *,
    restart: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """The work folder and `job.json` state of preset `name`, new or resumed.

    With `style`, a new job starts from that image, or an unfinished one made
    from the same image (same sha256) with the same budget resumes; without
    it, only an unfinished job can resume (its own copy of the image). A
    different image or budget for an unfinished name is refused unless
    `restart` (which discards the old state). `budget` None: the resumed
    job's own, else the default. A finished preset of that name is refused.
    """
    import numpy as np
    from PIL import Image

    check_name(name)
    if preset_path(name).exists():
        raise BadInputError(
            f"a preset named {name!r} exists ({preset_path(name)}); "
            "remove it or choose another name"
        )
    folder = work_dir(name)
    state = read_job_state(folder)
    if state is not None and restart:
        import shutil

        shutil.rmtree(folder)
        state = None
    if state is not None:
        saved = PresetBudget.from_json(state.get("budget"))
        if budget is not None and budget != saved:
            raise BadInputError(
                f"the unfinished preset {name!r} was started with other settings; "
                "resume it as it was, or start again (--restart)"
            )
        if style is not None:
            read_style_image(style)  # refuse a bad file the same way as for a new job
            if file_sha256(style) != state.get("style_sha256"):
                raise BadInputError(
                    f"the unfinished preset {name!r} was started from another image "
                    f"({state.get('style_file')}); resume it without an image, or start "
                    "again (--restart)"
                )
        if not (folder / "style.png").is_file():
            raise BadInputError(f"{folder}: the unfinished preset's style image is missing")
        return folder, state
    if style is None:
        raise BadInputError(f"no unfinished preset named {name!r}: give a style image")
    budget = budget or PresetBudget()
    rgb = read_style_image(style)
    folder.mkdir(parents=True, exist_ok=True)
    from warpaint.engine.io.atomic import atomic_write

    with atomic_write(folder / "style.png") as fh:
        Image.fromarray(np.ascontiguousarray(_fitted(rgb, budget.size))).save(fh, format="PNG")
    state = {
        "format": FORMAT,
        "name": name,
        "style_file": Path(style).name,
        "style_sha256": file_sha256(style),
        "budget": budget.to_json(),
        "step": 0,
        "crops_done": 0,
        "seconds": 0.0,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_json(folder / "job.json", state)
    return folder, state


def train_preset(
    name: str,
    style: str | os.PathLike[str] | None = None,
    budget: PresetBudget | None = None,
    ctx: Context | None = None,
    *,
    device: str = "cpu",
    restart: bool = False,
    on_step: Callable[[int], None] | None = None,
) -> Path:
    """Train (or resume) preset `name` from the style image `style`; returns
    the finished model file. See `prepare` for what starts and what resumes.

    `ctx` gets progress (`report(fraction, data=Progress)`) and cancellation
    checks between Gatys evaluations and between generator steps; cancelling
    (JobCancelled) or Ctrl+C (KeyboardInterrupt) saves the state first.
    `on_step(step)` is called after each generator step (benchmarks).
    """
    import numpy as np
    import torch
    from PIL import Image

    from warpaint.engine.features.fast_style.distill import (
        DistillLoss,
        content_pool,
        distill_step,
        generator_tensors,
        pool_images,
        random_views,
        style_grams,
        stylize_batch,
    )
    from warpaint.engine.features.fast_style.generator import GeneratorConfig, StyleGenerator
    from warpaint.engine.features.fast_style.train import load_checkpoint, save_checkpoint
    from warpaint.engine.neural.loss_networks import feature_network
    from warpaint.engine.neural.style_losses import resize_to_side
    from warpaint.engine.runtime.models import load_model, save_model

    ctx = ctx or _Unwatched()
    folder, state = prepare(name, style, budget, restart=restart)
    b = PresetBudget.from_json(state["budget"])
    run_started = time.perf_counter()
    spent_before = float(state.get("seconds", 0.0))

    def spent() -> float:
        return spent_before + time.perf_counter() - run_started

    def save_state(**changes: Any) -> None:
        state.update(changes, seconds=round(spent(), 1))
        _write_json(folder / "job.json", state)

    est_targets, est_training = estimated_seconds(b)
    total_est = est_targets + est_training

    with Image.open(folder / "style.png") as image:
        style_rgb = np.asarray(image.convert("RGB"), np.float32) / 255.0
    style_t = torch.from_numpy(np.ascontiguousarray(style_rgb)).permute(2, 0, 1)[None]
    style_t = resize_to_side(style_t.float(), b.size).to(device)
    target_net = feature_network(b.gatys_network, device)
    net = feature_network(b.loss_network, device)

    # -- targets, a batch of crops at a time, each batch saved ----------------
    tpath = folder / "targets.safetensors"
    contents: torch.Tensor | None = None
    done_targets: list[torch.Tensor] = []
    if tpath.is_file():
        tensors, _meta = load_model(tpath, TARGETS_KIND)
        contents = tensors["contents"]
        done_targets = list(tensors["targets"].split(b.gatys_batch))
    if contents is None:
        contents = content_pool(pool_images(None), b.crops, b.size, b.seed)
    contents = contents.to(device)
    crops_done = sum(len(t) for t in done_targets)
    progress = _TargetsProgress(ctx, b.crops, est_targets, est_training, crops_done)
    while crops_done < b.crops:
        chunk = contents[crops_done : crops_done + b.gatys_batch]
        progress.start_batch(crops_done, len(chunk))
        with torch.enable_grad():
            result = stylize_batch(
                target_net, chunk, style_t, evaluations=b.gatys_evaluations, check=progress.check
            )
        done_targets.append(result.detach())
        crops_done += len(chunk)
        save_model(
            tpath,
            {"contents": contents, "targets": torch.cat(done_targets)},
            {"kind": TARGETS_KIND, "format": FORMAT, "crops": crops_done},
        )
        save_state(crops_done=crops_done)
    targets = torch.cat(done_targets).to(device)

    # -- the generator ------------------------------------------------------
    config = GeneratorConfig(
        styles=1, half=b.half, quarter=b.quarter, blocks=b.blocks, noise=b.noise, noise_head=True
    )
    torch.manual_seed(b.seed)
    gen = StyleGenerator(config).to(device)
    optimizer = torch.optim.Adam(gen.parameters(), lr=b.lr)
    ckpt = folder / "checkpoint.safetensors"
    start_step, history = 0, list[float]()
    if ckpt.is_file():
        start_step, history = load_checkpoint(ckpt, gen, optimizer, [name], config)
    grams = style_grams(net, style_t, b.size)
    weights = DistillLoss(feature=1.0, style=0.0, pixel_scale=4, target_style=4.0)
    step = start_step
    last_save = time.perf_counter()
    t0 = time.perf_counter()

    def checkpoint() -> None:
        save_checkpoint(ckpt, gen, optimizer, step, history, [name], config)
        save_state(step=step)

    index = torch.zeros(b.batch, dtype=torch.long, device=device)
    try:
        while step < b.steps:
            per_step = (
                (time.perf_counter() - t0) / (step - start_step)
                if step > start_step
                else est_training / b.steps
            )
            fraction = (est_targets + est_training * step / b.steps) / total_est
            ctx.report(
                fraction,
                data=Progress("training", step, b.steps, per_step * (b.steps - step), start_step),
            )
            for group in optimizer.param_groups:
                group["lr"] = b.lr * 0.5 * (1 + math.cos(math.pi * step / b.steps))
            rng = torch.Generator().manual_seed(b.seed * 1_000_003 + 7919 * step)
            crop_index = torch.randint(0, b.crops, (b.batch,), generator=rng)
            c, t, _corners = random_views(contents[crop_index], targets[crop_index], b.crop, rng)
            spots = torch.randint(0, 1 << 14, (b.batch, 2), generator=rng).tolist()
            origins = [(y, x) for y, x in spots] if gen.reads_origin else None
            with torch.enable_grad():
                parts = distill_step(gen, net, optimizer, c, t, index, grams, weights, 1, origins)
            history.append(parts["total"])
            step += 1
            if on_step is not None:
                on_step(step)
            if time.perf_counter() - last_save >= CHECKPOINT_SECONDS and step < b.steps:
                checkpoint()
                last_save = time.perf_counter()
    except (JobCancelled, KeyboardInterrupt):
        if step > start_step:
            checkpoint()
        raise

    # -- the finished preset ------------------------------------------------
    seconds = round(spent(), 1)
    record = {
        "name": name,
        "style_file": state.get("style_file"),
        "style_sha256": state.get("style_sha256"),
        "budget": b.to_json(),
        "steps": b.steps,
        "seconds": seconds,
        "device": str(device),
        "started": state.get("started"),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "loss_first": round(float(np.mean(history[: max(1, len(history) // 10)])), 5),
        "loss_last": round(float(np.mean(history[-max(1, len(history) // 10) :])), 5),
    }
    meta = {
        "kind": MODEL_KIND,
        "format": FORMAT,
        "styles": [name],
        "config": config.to_json(),
        "size": b.size,
        "preset": record,
    }
    out = preset_path(name)
    presets_dir().mkdir(parents=True, exist_ok=True)
    save_model(out, generator_tensors(gen), meta)
    _write_json(out.with_suffix(".json"), record | {"torch": torch.__version__})
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    return out
