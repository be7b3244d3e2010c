"""`warpaint train gaze`: train the DeepWarp gaze network on rendered eye pairs.

Pairs come from the procedural renderer (`warpaint.engine.features.eyes.render`) on the
fly: the same eye (appearance, openness, pupil) at a start gaze and at a
redirected gaze. Batch `step` is drawn from seeds derived from (seed, step),
so a resumed run sees exactly the data an uninterrupted one would. Both
images of a pair get the same photometric augmentation (colour cast,
brightness, contrast, gamma, blur) and the input alone gets sensor noise and
JPEG artefacts, so the network meets photo-like inputs but is asked for clean
warps. The corners the network sees are jittered the way a detector would be
wrong. A fixed, seeded held-out set (`eval_pairs`) measures progress.

Checkpoints: `<output>.ckpt.safetensors` (weights, Adam state, step) every
`--checkpoint-every` steps; `--resume` continues from it. The final model goes
to `--output` with its training record in `<output stem>.json`.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from warpaint.engine.features.eyes.deepwarp import DeepWarp

KIND = "gaze"
HELP = "train the DeepWarp gaze-redirection network on rendered eye pairs"

EVAL_SEED = 9_000_000
EVAL_MAGNITUDES = (5.0, 10.0, 15.0)
# Start gazes and redirections the effect's sliders (+-15 degrees per axis)
# can ask for; the renderer is asked for targets within its +-25 / +-20.
START_YAW, START_PITCH = 15.0, 12.0
MAX_REDIRECT = 22.0
TARGET_YAW, TARGET_PITCH = 25.0, 20.0
IDENTITY_FRACTION = 0.1
CORNER_JITTER_PX = 1.0


# -- data -------------------------------------------------------------------


def _look_pair(rng: np.random.Generator, magnitude: float | None) -> tuple[Any, Any]:
    """Start and target `EyeLook`s sharing openness and pupil size.

    `magnitude` None draws the redirection length from 0..MAX_REDIRECT.
    """
    from warpaint.engine.features.eyes.render import EyeLook

    yaw0 = rng.uniform(-START_YAW, START_YAW)
    pitch0 = rng.uniform(-START_PITCH, START_PITCH)
    length = rng.uniform(0.0, MAX_REDIRECT) if magnitude is None else magnitude
    phi = rng.uniform(0.0, 2.0 * math.pi)
    yaw1 = float(np.clip(yaw0 + length * math.cos(phi), -TARGET_YAW, TARGET_YAW))
    pitch1 = float(np.clip(pitch0 + length * math.sin(phi), -TARGET_PITCH, TARGET_PITCH))
    if magnitude is not None:
        # Clipping would shorten a held-out redirection: keep its length exact
        # by moving the start instead.
        yaw0, pitch0 = yaw1 - length * math.cos(phi), pitch1 - length * math.sin(phi)
    openness = rng.uniform(0.75, 1.15)
    pupil = rng.uniform(0.3, 0.6)
    return (
        EyeLook(yaw=float(yaw0), pitch=float(pitch0), openness=openness, pupil=pupil),
        EyeLook(yaw=yaw1, pitch=pitch1, openness=openness, pupil=pupil),
    )


def render_sample(
    seed: int, magnitude: float | None = None, size: tuple[int, int] | None = None
) -> dict[str, Any]:
    """One pair from `seed`: {"source", "target"} (H, W, 3) float32, "landmarks"
    (the source's `EyeLandmarks`), "angle" (dyaw, dpitch) degrees."""
    from warpaint.engine.features.eyes.deepwarp import CROP_SIZE
    from warpaint.engine.features.eyes.render import EyeAppearance, render_eye

    size = size or CROP_SIZE
    rng = np.random.default_rng([seed, 7])
    appearance = EyeAppearance.random(rng)
    start, end = _look_pair(rng, magnitude)
    # One noise seed for both: pixels the gaze does not move stay identical,
    # as in a real pair of frames of a still face.
    noise_seed = int(rng.integers(2**31 - 1))
    source, marks = render_eye(appearance, start, size, seed=noise_seed)
    target, _ = render_eye(appearance, end, size, seed=noise_seed)
    return {
        "source": source,
        "target": target,
        "landmarks": marks,
        "angle": (end.yaw - start.yaw, end.pitch - start.pitch),
    }


def _augment(
    source: np.ndarray, target: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Photo-like degradations: shared colour changes, input-only noise/JPEG."""
    gains = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    offset = np.float32(rng.uniform(-0.08, 0.08))
    contrast = np.float32(rng.uniform(0.8, 1.2))
    gamma = np.float32(rng.uniform(0.8, 1.25))
    blur = rng.uniform(0.3, 1.0) if rng.random() < 0.3 else 0.0

    def shared(x: np.ndarray) -> np.ndarray:
        x = np.clip(x * gains, 0, 1) ** gamma
        x = np.clip((x - 0.5) * contrast + 0.5 + offset, 0, 1)
        return _blur(x, blur) if blur else x

    source, target = shared(source), shared(target)
    source = source + rng.normal(0.0, rng.uniform(0.0, 0.02), source.shape).astype(np.float32)
    source = np.clip(source, 0, 1)
    if rng.random() < 0.5:
        source = _jpeg(source, int(rng.integers(40, 95)))
    return source.astype(np.float32), target.astype(np.float32)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, int(math.ceil(2 * sigma)))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k = (k / k.sum()).astype(np.float32)
    pad = np.pad(x, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    rows = sum(k[i] * pad[i : i + x.shape[0]] for i in range(len(k)))
    return sum(k[i] * rows[:, i : i + x.shape[1]] for i in range(len(k)))  # type: ignore[return-value]


def _jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((x * 255 + 0.5).astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"), np.float32) / 255.0


class PairPool:
    """Rendered pairs held as uint8 (what photos are), drawn from seeds of a run.

    With `size` 0 every batch renders fresh pairs; otherwise `size` pairs are
    rendered once (deterministically from `seed`) and batches sample them,
    with fresh augmentation each time, which is ~10x cheaper per step.
    """

    def __init__(
        self,
        seed: int,
        size: int,
        log: Callable[[str], None] | None = None,
        workers: int = 1,
    ) -> None:
        self.seed = seed
        self.size = size
        self._pairs: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        seeds = [_pool_seed(seed, i) for i in range(size)]
        if workers > 1 and size:
            # Each pair depends on its seed alone, so processes give the same pool.
            import multiprocessing

            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                self._pairs = pool.map(_render_quantised, seeds, chunksize=64)
        else:
            for i, s in enumerate(seeds):
                self._pairs.append(_render_quantised(s))
                if log and (i + 1) % 1000 == 0:
                    log(f"rendered {i + 1}/{size} pairs ({time.perf_counter() - t0:.0f} s)")
        if log and size:
            log(f"rendered {size} pairs in {time.perf_counter() - t0:.0f} s")

    def draw(self, rng: np.random.Generator) -> dict[str, Any]:
        if not self.size:
            return render_sample(int(rng.integers(2**40)))
        pair = self._pairs[int(rng.integers(self.size))]
        return {
            **pair,
            "source": pair["source"].astype(np.float32) / 255.0,
            "target": pair["target"].astype(np.float32) / 255.0,
        }


def _pool_seed(seed: int, i: int) -> int:
    # Far above the held-out seeds (EVAL_SEED + ...), so the two never meet.
    return (seed + 1) * 10**10 + i


def _render_quantised(seed: int) -> dict[str, Any]:
    return _quantised(render_sample(seed))


def _quantised(sample: dict[str, Any]) -> dict[str, Any]:
    def u8(x: np.ndarray) -> np.ndarray:
        return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)

    return {**sample, "source": u8(sample["source"]), "target": u8(sample["target"])}


def training_batch(
    seed: int, step: int, batch: int, pool: PairPool | None = None, augment: bool = True
) -> dict[str, np.ndarray]:
    """Batch number `step` of a run seeded `seed`, as numpy arrays:
    "source"/"target" (N, 3, H, W), "landmarks" (N, 2, 2) corners, "angle" (N, 2).
    Without a pool the pairs are rendered fresh."""
    rng = np.random.default_rng([seed, step, 1])
    pool = pool or PairPool(seed, 0)
    sources, targets, marks, angles = [], [], [], []
    for _ in range(batch):
        sample = pool.draw(rng)
        source, target = sample["source"], sample["target"]
        angle = np.asarray(sample["angle"], np.float32)
        if rng.random() < IDENTITY_FRACTION:
            # Zero redirection must mean "unchanged", also for noisy inputs.
            target, angle = source, np.zeros(2, np.float32)
        if augment:
            source, target = _augment(source, target, rng)
        sources.append(source.transpose(2, 0, 1))
        targets.append(target.transpose(2, 0, 1))
        corners = np.asarray(sample["landmarks"].corners, np.float32)
        marks.append(corners + rng.normal(0.0, CORNER_JITTER_PX, corners.shape))
        angles.append(angle)
    return {
        "source": np.stack(sources).astype(np.float32),
        "target": np.stack(targets).astype(np.float32),
        "landmarks": np.stack(marks).astype(np.float32),
        "angle": np.stack(angles).astype(np.float32),
    }


def eval_pairs(magnitude: float, count: int = 64, seed: int = EVAL_SEED) -> list[dict[str, Any]]:
    """The fixed held-out pairs at one redirection length (degrees), unaugmented."""
    return [render_sample(seed + 1000 * int(magnitude) + i, magnitude) for i in range(count)]


def stack_pairs(pairs: list[dict[str, Any]], device: str = "cpu") -> dict[str, torch.Tensor]:
    """Pairs as (N, 3, H, W) / (N, 2, 2) / (N, 2) tensors on `device`."""
    import torch

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(device)

    return {
        "source": t(np.stack([p["source"].transpose(2, 0, 1) for p in pairs])),
        "target": t(np.stack([p["target"].transpose(2, 0, 1) for p in pairs])),
        "landmarks": t(np.stack([np.asarray(p["landmarks"].corners) for p in pairs])),
        "angle": t(np.asarray([p["angle"] for p in pairs])),
    }


def learned_mse(model: DeepWarp, batch: dict[str, torch.Tensor]) -> float:
    """Mean squared error of the model's redirections against the targets."""
    import torch

    with torch.inference_mode():
        out = model(batch["source"], batch["landmarks"], batch["angle"])["output"]
        return float(((out - batch["target"]) ** 2).mean())


# -- the command --------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="gaze.safetensors", help="model file to write")
    p.add_argument("--steps", type=int, default=2600, help="optimizer steps in all")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3, help="peak Adam learning rate (cosine)")
    p.add_argument("--tv", type=float, default=0.01, help="weight of the flow smoothness term")
    p.add_argument("--width", type=int, default=32, help="channels per convolution")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--pool",
        type=int,
        default=3000,
        help="pairs rendered once and re-augmented (0: render every batch)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best one)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's)")
    p.add_argument("--workers", type=int, default=1, help="processes rendering the pool")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-count", type=int, default=64, help="held-out pairs per angle")
    p.add_argument("--quiet", action="store_true")


def checkpoint_path(output: Path) -> Path:
    return output.with_name(output.stem + ".ckpt.safetensors")


def record_path(output: Path) -> Path:
    return output.with_suffix(".json")


def learning_rate(step: int, steps: int, peak: float) -> float:
    """Short linear warm-up, then cosine decay to 5 % of the peak."""
    warm = max(1, min(100, steps // 20))
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(1, steps - warm)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def train(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) a training; returns the training record (also written)."""
    import torch

    from warpaint.engine.features.eyes.deepwarp import DeepWarp, loss_terms, model_meta
    from warpaint.engine.runtime.device import choose_device
    from warpaint.engine.runtime.errors import BadInputError
    from warpaint.engine.runtime.models import load_model, save_model

    if args.steps < 1 or args.batch < 1:
        raise BadInputError("--steps and --batch must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    output = Path(args.output)
    ckpt = checkpoint_path(output)
    torch.manual_seed(args.seed)
    model = DeepWarp(width=args.width).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    start, elapsed, history = 0, 0.0, []
    if args.resume:
        if not ckpt.is_file():
            raise BadInputError(f"{ckpt}: no checkpoint to resume from")
        tensors, meta = load_model(ckpt, "gaze-checkpoint")
        if int(meta["width"]) != args.width or int(meta["seed"]) != args.seed:  # type: ignore[call-overload]
            raise BadInputError(f"{ckpt}: written by a run with another --width or --seed")
        _load_state(model, opt, tensors, device)
        start = int(meta["step"])  # type: ignore[call-overload]
        elapsed = float(meta["elapsed_s"])  # type: ignore[arg-type]
        history = list(meta["history"])  # type: ignore[call-overload]
        log(f"resumed at step {start}")
    pool = PairPool(args.seed, args.pool, None if args.quiet else log, args.workers)
    evals = {m: stack_pairs(eval_pairs(m, args.eval_count), device) for m in EVAL_MAGNITUDES}
    t0 = time.perf_counter() - elapsed
    running = 0.0
    for step in range(start, args.steps):
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr)
        data = training_batch(args.seed, step, args.batch, pool)
        batch = {k: torch.from_numpy(v).to(device) for k, v in data.items()}
        model.train()
        terms = loss_terms(
            model, batch["source"], batch["landmarks"], batch["angle"], batch["target"], args.tv
        )
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        running += float(terms["l2"].detach())
        done = step + 1
        if done % 50 == 0 or done == args.steps:
            count = 50 if done % 50 == 0 else done % 50
            history.append([done, round(running / count, 6)])
            running = 0.0
            if not args.quiet:
                log(
                    f"step {done}/{args.steps}  train mse {history[-1][1]:.5f}  "
                    f"{time.perf_counter() - t0:.0f} s"
                )
        if done % args.eval_every == 0 and not args.quiet:
            model.eval()
            scores = {m: learned_mse(model, b) for m, b in evals.items()}
            log("  held-out mse " + "  ".join(f"{m:g} deg {v:.5f}" for m, v in scores.items()))
        if done % args.checkpoint_every == 0 or done == args.steps:
            meta = {
                "kind": "gaze-checkpoint",
                "step": done,
                "seed": args.seed,
                "width": args.width,
                "elapsed_s": time.perf_counter() - t0,
                "history": history,
            }
            save_model(ckpt, _state(model, opt), meta)
    elapsed = time.perf_counter() - t0
    model.eval()
    figures = {}
    for m, b in evals.items():
        identity = float(((b["source"] - b["target"]) ** 2).mean())
        learned = learned_mse(model, b)
        figures[f"{m:g}"] = {
            "learned_mse": round(learned, 6),
            "identity_mse": round(identity, 6),
            "ratio_to_identity": round(learned / identity, 3),
        }
    record = {
        "kind": KIND,
        "command": "warpaint train gaze " + " ".join(sys.argv[3:] if len(sys.argv) > 3 else []),
        "seed": args.seed,
        "steps": args.steps,
        "batch": args.batch,
        "pool": args.pool,
        "lr": args.lr,
        "tv": args.tv,
        "width": args.width,
        "train_time_s": round(elapsed, 1),
        "device": device,
        "threads": torch.get_num_threads(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch": torch.__version__,
        },
        "git_commit": _git_commit(),
        "held_out": {"seed": EVAL_SEED, "pairs_per_angle": args.eval_count, "mse": figures},
        "loss_history": history,
    }
    save_model(
        output,
        model.state_dict(),
        model_meta(model, {"steps": args.steps, "seed": args.seed, "train_time_s": round(elapsed)}),
    )
    record_path(output).write_text(json.dumps(record, indent=1) + "\n")
    log(f"wrote {output} and {record_path(output)} ({elapsed:.0f} s)")
    for angle, fig in figures.items():
        log(f"  {angle} deg: learned {fig['learned_mse']:.5f}  identity {fig['identity_mse']:.5f}")
    return record


def _state(model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    import torch

    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    for i, p in enumerate(p for g in opt.param_groups for p in g["params"]):
        for name, value in opt.state.get(p, {}).items():
            value = value if isinstance(value, torch.Tensor) else torch.tensor(float(value))
            tensors[f"opt.{i}.{name}"] = value.reshape(-1) if value.ndim == 0 else value
    return tensors


def _load_state(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    device: str,
) -> None:
    from warpaint.engine.runtime.errors import BadInputError

    try:
        model.load_state_dict(
            {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
        )
    except RuntimeError as exc:
        raise BadInputError(f"checkpoint does not fit the network ({str(exc)[:120]})") from None
    for i, p in enumerate(p for g in opt.param_groups for p in g["params"]):
        state = {
            name.split(".", 2)[2]: v.to(device)
            for name, v in tensors.items()
            if name.startswith(f"opt.{i}.")
        }
        if "step" in state:
            state["step"] = state["step"].reshape(()).cpu()
        if state:
            opt.state[p] = state


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def run(args: argparse.Namespace) -> int:
    train(args)
    return 0
