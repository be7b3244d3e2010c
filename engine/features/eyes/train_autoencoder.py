"""`warpaint train autoencoder`: an autoencoder for attribute sliders.

    warpaint train autoencoder FOLDER -o model.safetensors [--size 64|128] [--latent N]
        [--attributes list_attr_celeba.txt] [--device cuda] [--steps N] [--resume]
    warpaint train autoencoder --eyes -o eye-attributes.safetensors     (the shipped default)
    warpaint train autoencoder --from model.safetensors --steps 0 -o out.safetensors \
        --slider smile:WITHOUT_DIR:WITH_DIR --pairs wink:BEFORE_DIR:AFTER_DIR

FOLDER: images, centre-cropped and resized to the crop size; with
`--attributes`, one balanced slider per attribute of the file (see
`warpaint.engine.features.eyes.attributes`). `--eyes`: eye crops (48x64, the canonical eye
frame) from the procedural renderer, and paired sliders for gaze left/right
and up/down, openness, pupil size and iris colour; training then also asks
the decoded difference d(e(x1) + v) - d(e(x1)) to equal x2 - x1 for each
attribute, with v the paired vector of the batch (`--pair-weight`), which
makes those directions behave the same for every eye. `--workers N` renders in N processes (the
crops are the same for any N).

Progress goes to stderr; a checkpoint (`<output>.ckpt.safetensors`: weights,
optimiser moments, step) is written every `--checkpoint-every` steps and
`--resume` continues from it. The finished model gets a training record
`<output stem>.json` (command, seed, steps, time, machine, figures).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from warpaint.engine.runtime.errors import BadInputError

if TYPE_CHECKING:
    import torch

    from warpaint.engine.features.eyes.autoencoder import AttributeModel, ConvAutoencoder
    from warpaint.engine.features.eyes.render import EyeAppearance, EyeLook

KIND = "autoencoder"
HELP = "an autoencoder with attribute sliders (faces from a folder, or the built-in eye model)"
EYE_SIZE = (48, 64)
CHECKPOINT_KIND = "autoencoder-checkpoint"
# The paired-edit loss is an error relative to the identity's (about 0.3-1);
# this scale puts it on the order of the reconstruction MSE.
PAIR_SCALE = 0.005


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", help="folder of training images")
    parser.add_argument("-o", "--output", required=True, help="model file (.safetensors)")
    parser.add_argument(
        "--eyes", action="store_true", help="train the built-in eye model on rendered eyes"
    )
    parser.add_argument(
        "--size",
        type=int,
        choices=(64, 128),
        default=64,
        help="crop side for FOLDER images (eyes use 48x64)",
    )
    parser.add_argument("--latent", type=int, default=0, help="latent size (default 64 eyes, 128)")
    parser.add_argument("--attributes", help="CelebA-style attribute file for FOLDER's images")
    parser.add_argument("--steps", type=int, default=3000, help="optimiser steps (0: no training)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument(
        "--kl", type=float, default=0.0, help="KL weight; > 0 trains a variational autoencoder"
    )
    parser.add_argument(
        "--pair-weight",
        type=float,
        default=1.0,
        help="eyes: weight of the paired-edit loss (0: plain autoencoder)",
    )
    parser.add_argument(
        "--consistency",
        type=float,
        default=0.0,
        help="eyes: weight of the latent-consistency term (pairs' code differences "
        "pulled onto their mean direction), relative to the paired-edit loss",
    )
    parser.add_argument(
        "--separation",
        type=float,
        default=0.0,
        help="eyes: weight of the term that narrows the random eyes' spread along each "
        "slider's direction (Var(z.v)/|v|^4), relative to the paired-edit loss",
    )
    parser.add_argument(
        "--extra-turns",
        default="",
        metavar="NAMES",
        help="eyes: comma-separated attributes that get one more paired-loss turn per cycle",
    )
    parser.add_argument(
        "--eye-samples",
        type=int,
        default=3000,
        help="eyes: rendered single crops for reconstruction",
    )
    parser.add_argument(
        "--eye-pairs", type=int, default=800, help="eyes: rendered pairs per attribute"
    )
    parser.add_argument("--width", type=int, default=32, help="channels of the first stage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    parser.add_argument(
        "--workers", type=int, default=1, help="eyes: processes rendering the training crops"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--from", dest="from_model", help="start from this model file")
    parser.add_argument(
        "--slider",
        action="append",
        default=[],
        metavar="NAME:WITHOUT:WITH",
        help="add an unpaired slider from two folders",
    )
    parser.add_argument(
        "--pairs",
        action="append",
        default=[],
        metavar="NAME:BEFORE:AFTER",
        help="add a paired slider from two folders (matched by sorted name)",
    )
    parser.add_argument("--quiet", action="store_true")


# -- the eye attributes ---------------------------------------------------------


@dataclass(frozen=True)
class EyeAttribute:
    """A slider of the eye model: what one unit (alpha = 1) changes, and its range."""

    name: str
    label: str
    unit: str
    min: float
    max: float


EYE_ATTRIBUTES: tuple[EyeAttribute, ...] = (
    EyeAttribute(
        "gaze_horizontal", "Gaze left/right", "+15 degrees of yaw (toward image right)", -1.5, 1.5
    ),
    EyeAttribute("gaze_vertical", "Gaze up/down", "+10 degrees of pitch (up)", -1.5, 1.5),
    EyeAttribute("openness", "Openness (blink)", "+0.5 openness (1 open, 0 closed)", -2.0, 1.0),
    EyeAttribute("pupil", "Pupil size", "+0.2 pupil/iris radius", -1.25, 1.25),
    EyeAttribute(
        "iris_colour", "Iris colour (brown to blue)", "brown iris to blue iris", -1.0, 1.5
    ),
)

# Iris colours of the two ends of the iris slider (rough sRGB of photographs).
_BROWN = ((0.22, 0.13, 0.07), (0.38, 0.24, 0.12), (0.3, 0.19, 0.1))
_BLUE = ((0.35, 0.45, 0.55), (0.3, 0.42, 0.58), (0.42, 0.52, 0.6))


def _iris(
    rng: np.random.Generator, family: Sequence[tuple[float, float, float]]
) -> tuple[float, float, float]:
    base = np.asarray(family[int(rng.integers(len(family)))])
    c = np.clip(base * rng.uniform(0.85, 1.15) + rng.normal(0, 0.02, 3), 0.0, 1.0)
    return (float(c[0]), float(c[1]), float(c[2]))


def _base_look(rng: np.random.Generator) -> EyeLook:
    from warpaint.engine.features.eyes.render import EyeLook

    return EyeLook(
        yaw=float(rng.uniform(-20, 20)),
        pitch=float(rng.uniform(-12, 12)),
        openness=float(rng.uniform(0.6, 1.15)),
        pupil=float(rng.uniform(0.3, 0.6)),
    )


def eye_pair_looks(
    name: str, rng: np.random.Generator
) -> tuple[EyeAppearance, EyeAppearance, EyeLook, EyeLook]:
    """One random pair for attribute `name`: x2 is x1 with the attribute one unit higher."""
    from warpaint.engine.features.eyes.render import EyeAppearance

    app = EyeAppearance.random(rng)
    look = _base_look(rng)
    app2 = app
    if name == "gaze_horizontal":
        a = float(rng.uniform(-22, 7))
        look, look2 = replace(look, yaw=a), replace(look, yaw=a + 15)
    elif name == "gaze_vertical":
        a = float(rng.uniform(-15, 5))
        look, look2 = replace(look, pitch=a), replace(look, pitch=a + 10)
    elif name == "openness":
        a = float(rng.uniform(0.0, 0.7))
        look, look2 = replace(look, openness=a), replace(look, openness=a + 0.5)
    elif name == "pupil":
        a = float(rng.uniform(0.22, 0.53))
        look, look2 = replace(look, pupil=a), replace(look, pupil=a + 0.2)
    elif name == "iris_colour":
        app = replace(app, iris_colour=_iris(rng, _BROWN))
        app2 = replace(app, iris_colour=_iris(rng, _BLUE))
        look2 = look
    else:
        raise ValueError(f"unknown eye attribute {name!r}")
    return app, app2, look, look2


def eye_labelled_look(
    name: str, positive: bool, rng: np.random.Generator
) -> tuple[EyeAppearance, EyeLook]:
    """A random eye whose attribute `name` is clearly high (`positive`) or low."""
    from warpaint.engine.features.eyes.render import EyeAppearance

    app = EyeAppearance.random(rng)
    look = _base_look(rng)
    s = 1.0 if positive else -1.0
    if name == "gaze_horizontal":
        look = replace(look, yaw=s * float(rng.uniform(5, 22)))
    elif name == "gaze_vertical":
        look = replace(look, pitch=s * float(rng.uniform(4, 15)))
    elif name == "openness":
        look = replace(
            look, openness=float(rng.uniform(0.8, 1.2) if positive else rng.uniform(0.05, 0.5))
        )
    elif name == "pupil":
        look = replace(
            look, pupil=float(rng.uniform(0.5, 0.72) if positive else rng.uniform(0.22, 0.4))
        )
    elif name == "iris_colour":
        app = replace(app, iris_colour=_iris(rng, _BLUE if positive else _BROWN))
    else:
        raise ValueError(f"unknown eye attribute {name!r}")
    return app, look


# Renders are made in chunks with their own random streams, so the data is
# the same whether one process or many (`workers`) render it.
CHUNK = 100


def _pairs_chunk(name: str, n: int, key: list[int], size: tuple[int, int]) -> np.ndarray:
    from warpaint.engine.features.eyes.render import render_eye

    rng = np.random.default_rng(key)
    out = np.empty((2, n, *size, 3), np.uint8)
    for i in range(n):
        app, app2, look, look2 = eye_pair_looks(name, rng)
        noise = int(rng.integers(2**31))
        out[0, i] = _u8(render_eye(app, look, size, noise)[0])
        out[1, i] = _u8(render_eye(app2, look2, size, noise)[0])
    return out


def _singles_chunk(name: str, n: int, key: list[int], size: tuple[int, int]) -> np.ndarray:
    from warpaint.engine.features.eyes.render import EyeAppearance, EyeLook, render_eye

    rng = np.random.default_rng(key)
    out = np.empty((1, n, *size, 3), np.uint8)
    for i in range(n):
        app = EyeAppearance.random(rng)
        if rng.random() < 0.3:
            app = replace(app, iris_colour=_iris(rng, _BLUE if rng.random() < 0.5 else _BROWN))
        look = EyeLook(
            yaw=float(rng.uniform(-25, 25)),
            pitch=float(rng.uniform(-17, 17)),
            openness=float(rng.uniform(0.0, 1.2))
            if rng.random() < 0.4
            else float(rng.uniform(0.6, 1.2)),
            pupil=float(rng.uniform(0.2, 0.75)),
        )
        out[0, i] = _u8(render_eye(app, look, size, int(rng.integers(2**31)))[0])
    return out


def _labelled_chunk(name: str, n: int, key: list[int], size: tuple[int, int]) -> np.ndarray:
    from warpaint.engine.features.eyes.render import render_eye

    rng = np.random.default_rng(key)
    out = np.empty((1, n, *size, 3), np.uint8)
    for i in range(n):
        # Chunks start at multiples of CHUNK (even), so labels alternate +, -.
        app, look = eye_labelled_look(name, i % 2 == 0, rng)
        out[0, i] = _u8(render_eye(app, look, size, int(rng.integers(2**31)))[0])
    return out


def _render(
    chunk_fn: Callable[[str, int, list[int], tuple[int, int]], np.ndarray],
    name: str,
    n: int,
    key: list[int],
    size: tuple[int, int],
    workers: int,
    progress: Callable[[int], None] | None,
) -> np.ndarray:
    """(K, n, H, W, 3) uint8: `chunk_fn` over chunks of CHUNK, in `workers` processes."""
    jobs = [(name, min(CHUNK, n - i), [*key, i // CHUNK], size) for i in range(0, n, CHUNK)]
    parts: list[np.ndarray] = []
    if workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for part in pool.map(chunk_fn, *zip(*jobs, strict=True)):
                parts.append(part)
                if progress is not None:
                    progress(part.shape[0] * part.shape[1])
    else:
        for job in jobs:
            parts.append(chunk_fn(*job))
            if progress is not None:
                progress(parts[-1].shape[0] * parts[-1].shape[1])
    if not parts:
        return np.empty((1, 0, *size, 3), np.uint8)
    return np.concatenate(parts, axis=1)


def render_eye_pairs(
    name: str,
    n: int,
    seed: int,
    size: tuple[int, int] = EYE_SIZE,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """(n, H, W, 3) uint8 x1 and x2 for attribute `name` (same eye, same noise)."""
    out = _render(_pairs_chunk, name, n, [seed, _name_seed(name)], size, workers, progress)
    return out[0], out[1]


def render_eye_singles(
    n: int,
    seed: int,
    size: tuple[int, int] = EYE_SIZE,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> np.ndarray:
    """(n, H, W, 3) uint8 random eyes over the whole range of every attribute."""
    return _render(_singles_chunk, "", n, [seed, 1], size, workers, progress)[0]


def render_eye_labelled(
    name: str, n: int, seed: int, size: tuple[int, int] = EYE_SIZE, workers: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(n, H, W, 3) uint8 eyes and (n,) labels +1/-1 for attribute `name`, half each."""
    key = [seed, _name_seed(name), 7]
    images = _render(_labelled_chunk, name, n, key, size, workers, None)[0]
    labels = np.where(np.arange(n) % 2 == 0, 1, -1).astype(np.int8)
    return images, labels


def _name_seed(name: str) -> int:
    return int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little") % (2**31)


def _u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# -- training -------------------------------------------------------------------


@dataclass
class TrainData:
    """Training crops as uint8 (N, H, W, 3), and paired crops per attribute."""

    images: np.ndarray
    pairs: dict[str, tuple[np.ndarray, np.ndarray]]


def _batch(arr: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
    """(B, 3, H, W) float in [0, 1] from uint8 (N, H, W, 3) crops held on the device."""
    import torch

    x = arr[torch.from_numpy(idx).to(arr.device)]
    return x.permute(0, 3, 1, 2).float().div_(255.0)


def train_steps(
    net: ConvAutoencoder,
    data: TrainData,
    steps: int,
    *,
    start: int = 0,
    stop: int | None = None,
    batch: int = 32,
    lr: float = 2e-3,
    kl: float = 0.0,
    pair_weight: float = 0.0,
    consistency: float = 0.0,
    separation: float = 0.0,
    extra_turns: Sequence[str] = (),
    seed: int = 0,
    device: str = "cpu",
    optimizer: Any = None,
    log: Callable[[int, dict[str, float]], None] | None = None,
    checkpoint: Callable[[int, Any], None] | None = None,
    checkpoint_every: int = 0,
) -> tuple[list[dict[str, float]], Any]:
    """Train `net` from step `start` to `stop` (default `steps`) of a `steps`-step run.

    Returns (per-step losses, optimiser).

    Loss per step: MSE(d(e(x)), x) on a batch, + `kl` * KL (per latent
    number) if variational, + `pair_weight` * (PAIR_SCALE * the paired-edit
    loss of one attribute (cycled) + the reconstruction MSE of its pairs):
    with z_i = e(x_i) and v = mean(z2 - z1) over the batch's pairs, the edit
    error [MSE(d(z1 + v) - d(z1), x2 - x1) + MSE(d(z2 - v) - d(z2), x1 - x2)]
    / (2 MSE(x1, x2)), the relative error the benchmark reports; plus
    `consistency` times the latent-consistency term of the same pairs,
    sum_i |d_i - v|^2 / sum_i |d_i|^2 with d_i = z2_i - z1_i (the share of
    the code differences that the mean direction v does not explain: 0 when
    every pair moves the code the same way); plus `separation` times
    Var(z . v) / |v|^4 over the batch of random eyes: how far the codes
    spread along v, in units of one attribute step (the attribute's own
    range gives a floor; what is above it is other attributes and identity
    leaking onto the slider's direction, which is what lowers the AUC of
    z . v as a classifier). The attributes take turns in sorted order, and each name
    in `extra_turns` gets one more turn per cycle (for attributes that move
    few pixels). Batches are drawn from
    `np.random.default_rng([seed, step])`, so a resumed run draws the same
    batches as an uninterrupted one. The learning rate decays by a cosine
    from `lr` to `lr / 20`.
    """
    import math

    import torch
    import torch.nn.functional as F

    net.to(device).train()
    if optimizer is None:
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    unknown = sorted(set(extra_turns) - set(data.pairs))
    if unknown:
        raise BadInputError(f"no paired data for {', '.join(unknown)}")
    names = sorted(data.pairs) + list(extra_turns)
    # The crops go to the device once (uint8: 9 kB per 48x64 crop); on the
    # CPU this is a view of the numpy arrays, not a copy.
    images = torch.from_numpy(data.images).to(device)
    pairs = {
        k: (torch.from_numpy(a).to(device), torch.from_numpy(b).to(device))
        for k, (a, b) in data.pairs.items()
    }
    history: list[dict[str, float]] = []
    for step in range(start, steps if stop is None else min(stop, steps)):
        rng = np.random.default_rng([seed, step])
        frac = step / max(1, steps - 1)
        for group in optimizer.param_groups:
            group["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        x = _batch(images, rng.integers(len(images), size=batch))
        mean, logvar = net.encode_stats(x)
        z = mean
        losses: dict[str, float] = {}
        total = torch.zeros((), device=device)
        if logvar is not None:
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
            kl_term = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
            total = total + kl * kl_term
            losses["kl"] = kl_term.item()
        rec = F.mse_loss(net.decode(z), x)
        total = total + rec
        losses["recon"] = rec.item()
        if pair_weight > 0 and names:
            name = names[step % len(names)]
            a, b = pairs[name]
            idx = rng.integers(len(a), size=max(4, batch // 2))
            x1, x2 = _batch(a, idx), _batch(b, idx)
            z1, z2 = net.encode(x1), net.encode(x2)
            v = (z2 - z1).mean(0, keepdim=True)
            d1, d2 = net.decode(z1), net.decode(z2)
            # The edit adds d(z + v) - d(z) to the original, so that is what
            # must match x2 - x1: the reconstruction error cancels out.
            step_12 = net.decode(z1 + v) - d1
            step_21 = net.decode(z2 - v) - d2
            err = F.mse_loss(step_12, x2 - x1) + F.mse_loss(step_21, x1 - x2)
            # Relative to leaving the eye alone: a pupil change moves far fewer
            # pixels than a gaze change, and would otherwise hardly be learnt.
            rel = err / (2.0 * F.mse_loss(x1, x2).clamp_min(1e-5))
            pair_rec = 0.5 * (F.mse_loss(d1, x1) + F.mse_loss(d2, x2))
            pair_loss = PAIR_SCALE * rel + pair_rec
            losses["pair"] = rel.item()
            if consistency > 0:
                diff = z2 - z1
                spread = (diff - v).pow(2).sum() / diff.pow(2).sum().clamp_min(1e-8)
                pair_loss = pair_loss + consistency * PAIR_SCALE * spread
                losses["spread"] = spread.item()
            if separation > 0:
                along = (mean @ v[0]).var() / v.pow(2).sum().pow(2).clamp_min(1e-8)
                pair_loss = pair_loss + separation * PAIR_SCALE * along
                losses["along"] = along.item()
            total = total + pair_weight * pair_loss
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        losses["total"] = total.item()
        history.append(losses)
        if log is not None:
            log(step + 1, losses)
        if checkpoint is not None and checkpoint_every and (step + 1) % checkpoint_every == 0:
            checkpoint(step + 1, optimizer)
    net.eval()
    return history, optimizer


def _optimizer_tensors(optimizer: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors = {}
    for idx, entry in state["state"].items():
        for key, value in entry.items():
            tensors[f"opt.{idx}.{key}"] = value.reshape(-1) if value.ndim == 0 else value
    return tensors, {"param_groups": state["param_groups"]}


def _restore_optimizer(
    optimizer: Any, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value.reshape(()) if key == "step" else value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def checkpoint_path(output: Path) -> Path:
    return output.with_name(output.stem + ".ckpt.safetensors")


def record_path(output: Path) -> Path:
    return output.with_suffix(".json")


def save_checkpoint(
    path: Path, net: ConvAutoencoder, optimizer: Any, step: int, settings: dict[str, Any]
) -> None:
    from dataclasses import asdict

    from warpaint.engine.runtime.models import save_model

    opt_tensors, opt_meta = _optimizer_tensors(optimizer)
    tensors = {f"net.{k}": v for k, v in net.state_dict().items()} | opt_tensors
    save_model(
        path,
        tensors,
        {
            "kind": CHECKPOINT_KIND,
            "step": step,
            "config": asdict(net.config),
            "settings": settings,
            **opt_meta,
        },
    )


# -- the command ---------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    import torch

    from warpaint.engine.features.eyes.autoencoder import (
        AttributeModel,
        AutoencoderConfig,
        ConvAutoencoder,
        load_attribute_model,
    )
    from warpaint.engine.runtime.device import choose_device

    output = Path(args.output)
    if output.suffix.lower() != ".safetensors":
        raise BadInputError(f"{output}: the model file must end in .safetensors")
    if args.eyes and args.folder:
        raise BadInputError("give either a FOLDER or --eyes, not both")
    if not args.eyes and not args.folder and not args.from_model:
        raise BadInputError("give a FOLDER of images, --eyes, or --from MODEL")
    if args.attributes and not args.folder:
        raise BadInputError("--attributes needs the FOLDER its filenames are in")
    if args.steps < 0 or args.batch < 1:
        raise BadInputError("--steps must be >= 0 and --batch >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    torch.manual_seed(args.seed)
    say = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    t_start = time.perf_counter()

    if args.from_model:
        model = load_attribute_model(args.from_model)
        config = model.config
        alignment = model.alignment
    else:
        if args.eyes:
            config = AutoencoderConfig(
                *EYE_SIZE,
                latent=args.latent or 64,
                channels=_channels(args.width),
                variational=args.kl > 0,
            )
            alignment = "eye-corners"
        else:
            config = AutoencoderConfig(
                args.size,
                args.size,
                latent=args.latent or 128,
                channels=_channels(args.width),
                variational=args.kl > 0,
            )
            alignment = "centre-crop"
        torch.manual_seed(args.seed)
        model = AttributeModel(ConvAutoencoder(config), alignment)
    size = (config.height, config.width)

    table = None
    if args.attributes:
        from warpaint.engine.features.eyes.attributes import parse_attribute_file

        table = parse_attribute_file(args.attributes)
    data = _training_data(args, size, alignment, say) if args.steps > 0 else None
    settings = {k: v for k, v in vars(args).items() if k != "train_run"}

    ckpt = checkpoint_path(output)
    net = model.net
    start = 0
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    if args.resume:
        from warpaint.engine.runtime.models import load_model

        if not ckpt.is_file():
            raise BadInputError(f"{ckpt}: no checkpoint to resume from")
        tensors, meta = load_model(ckpt, CHECKPOINT_KIND)
        if meta.get("config") != _config_json(config):
            raise BadInputError(f"{ckpt}: the checkpoint is for another network shape")
        try:
            net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
            _restore_optimizer(optimizer, tensors, meta)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise BadInputError(f"{ckpt}: cannot resume from it ({exc})") from None
        start = int(meta["step"])  # type: ignore[call-overload]
        say(f"resuming at step {start}")

    history: list[dict[str, float]] = []
    if data is not None and start < args.steps:
        t0 = time.perf_counter()
        last = [t0]

        def log(step: int, losses: dict[str, float]) -> None:
            now = time.perf_counter()
            if now - last[0] >= 5.0 or step == args.steps:
                last[0] = now
                rate = (step - start) / (now - t0)
                eta = (args.steps - step) / max(rate, 1e-9)
                text = " ".join(f"{k} {v:.5f}" for k, v in losses.items())
                say(f"step {step}/{args.steps} {text} ({rate:.1f} steps/s, {eta:.0f} s left)")

        def save_ckpt(step: int, opt: Any) -> None:
            save_checkpoint(ckpt, net, opt, step, settings)

        history, optimizer = train_steps(
            net,
            data,
            args.steps,
            start=start,
            batch=args.batch,
            lr=args.lr,
            kl=args.kl,
            pair_weight=args.pair_weight if args.eyes else 0.0,
            consistency=args.consistency,
            separation=args.separation,
            extra_turns=[n for n in args.extra_turns.split(",") if n],
            seed=args.seed,
            device=device,
            optimizer=optimizer,
            log=log,
            checkpoint=save_ckpt,
            checkpoint_every=args.checkpoint_every,
        )
        save_checkpoint(ckpt, net, optimizer, args.steps, settings)
    net.to("cpu").eval()
    train_seconds = time.perf_counter() - t_start

    sliders: dict[str, Any] = {}
    if args.eyes:
        say("eye sliders: paired vectors from fresh rendered pairs")
        n_pairs = max(200, args.eye_pairs // 2)
        sliders.update(_eye_sliders(model, args.seed + 1000, n_pairs, max(1, args.workers)))
    if table is not None:
        from warpaint.engine.features.eyes.attributes import slider_name, sliders_from_table

        for name, vec in sliders_from_table(model, table, args.folder).items():
            sliders[slider_name(name)] = ("balanced", vec, "", "")
    for spec in args.slider:
        sliders.update(_folder_slider(model, spec, paired=False))
    for spec in args.pairs:
        sliders.update(_folder_slider(model, spec, paired=True))
    _add_sliders(model, sliders)

    figures: dict[str, Any] = {}
    if args.eyes:
        say("evaluating on held-out rendered eyes")
        figures = evaluate_eye_model(model, n=200, seed=args.seed + 2000)
    model.info = {
        "trained_on": "rendered eyes (warpaint.engine.features.eyes.render)"
        if args.eyes
        else (str(args.folder) if args.folder else model.info.get("trained_on", "")),
        "steps": int(args.steps) + int(model.info.get("steps", 0) if args.from_model else 0),
        "seed": args.seed,
    }
    from warpaint.engine.features.eyes.autoencoder import save_attribute_model

    save_attribute_model(output, model)
    record = {
        "command": "warpaint train autoencoder " + " ".join(_argv_tail()),
        "seed": args.seed,
        "steps": args.steps,
        "resumed_from_step": start if args.resume else None,
        "seconds": round(train_seconds, 1),
        "device": device,
        "machine": _machine(device),
        "config": _config_json(config),
        "alignment": alignment,
        "sliders": sorted(model.attributes),
        "final_losses": _mean_tail(history),
        "figures": figures,
    }
    if args.eyes:
        record["renderer_sha256"] = _renderer_digest()
    record_path(output).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    say(f"wrote {output} and {record_path(output)} ({train_seconds:.0f} s)")
    if figures:
        say(json.dumps(figures))
    return 0


def _renderer_digest() -> str:
    """Which version of the eye renderer made the data (its source's SHA-256, 16 hex)."""
    import hashlib

    from warpaint.engine.features.eyes import render

    return hashlib.sha256(Path(render.__file__).read_bytes()).hexdigest()[:16]


def _channels(width: int) -> tuple[int, ...]:
    if not 4 <= width <= 256:
        raise BadInputError(f"--width {width} must be 4..256")
    return (width, width * 2, width * 3, width * 4)


def _config_json(config: Any) -> dict[str, Any]:
    from dataclasses import asdict

    out = asdict(config)
    out["channels"] = list(out["channels"])
    return out


def _argv_tail() -> list[str]:
    argv = sys.argv[1:]
    return argv[argv.index("autoencoder") + 1 :] if "autoencoder" in argv else argv


def _machine(device: str) -> dict[str, Any]:
    from warpaint.engine.runtime.device import machine_info

    return machine_info(device)


def _mean_tail(history: list[dict[str, float]], n: int = 50) -> dict[str, float]:
    tail = history[-n:]
    if not tail:
        return {}
    return {k: round(float(np.mean([h[k] for h in tail if k in h])), 6) for k in tail[-1]}


def _training_data(
    args: argparse.Namespace, size: tuple[int, int], alignment: str, say: Callable[[str], None]
) -> TrainData:
    if args.eyes:
        total = args.eye_samples + 2 * args.eye_pairs * len(EYE_ATTRIBUTES)
        done = [0]
        t0 = time.perf_counter()
        last = [t0]

        def tick(k: int) -> None:
            done[0] += k
            now = time.perf_counter()
            if now - last[0] >= 5.0:
                last[0] = now
                say(f"rendering eyes {done[0]}/{total}")

        w = max(1, args.workers)
        singles = render_eye_singles(args.eye_samples, args.seed, size, tick, w)
        pairs = {
            a.name: render_eye_pairs(a.name, args.eye_pairs, args.seed, size, tick, w)
            for a in EYE_ATTRIBUTES
        }
        images = np.concatenate([singles, *(x for p in pairs.values() for x in p)])
        say(f"rendered {total} eye crops in {time.perf_counter() - t0:.0f} s")
        return TrainData(images, pairs)
    from warpaint.engine.features.eyes.attributes import list_images, load_crops

    files = list_images(args.folder)
    say(f"loading {len(files)} images from {args.folder}")
    crops = load_crops(files, size, alignment)
    return TrainData(_u8(crops), {})


def _eye_sliders(model: AttributeModel, seed: int, n: int, workers: int = 1) -> dict[str, Any]:
    from warpaint.engine.features.eyes.attributes import slider_from_pairs

    out: dict[str, Any] = {}
    for attr in EYE_ATTRIBUTES:
        x1, x2 = render_eye_pairs(attr.name, n, seed, workers=workers)
        vec = slider_from_pairs(model, x1.astype(np.float32) / 255, x2.astype(np.float32) / 255)
        out[attr.name] = ("paired", vec, attr.label, attr.unit, attr.min, attr.max)
    return out


def _folder_slider(model: AttributeModel, spec: str, paired: bool) -> dict[str, Any]:
    from warpaint.engine.features.eyes.attributes import (
        list_images,
        load_crops,
        model_size,
        slider_from_pairs,
        slider_from_sets,
        slider_name,
    )

    parts = spec.split(":")
    if len(parts) != 3 or not all(parts):
        flag = "--pairs" if paired else "--slider"
        raise BadInputError(f"{flag} {spec!r}: expected NAME:FOLDER1:FOLDER2")
    name, first, second = parts
    a = load_crops(list_images(first), model_size(model), model.alignment)
    b = load_crops(list_images(second), model_size(model), model.alignment)
    if paired:
        return {slider_name(name): ("paired", slider_from_pairs(model, a, b), "", "")}
    return {slider_name(name): ("unpaired", slider_from_sets(model, a, b), "", "")}


def _add_sliders(model: AttributeModel, sliders: dict[str, Any]) -> None:
    from warpaint.engine.features.eyes.autoencoder import Attribute

    for name, item in sliders.items():
        source, vec, label, unit, *rng = item
        lo, hi = rng if rng else (-2.0, 2.0)
        model.add(Attribute(name, vec, label, unit, source, lo, hi))


# -- evaluation (also `warpaint bench attributes`) ----------------------------

HELD_OUT_SEED = 90210  # training uses seeds 0 (crops), 1000 (slider pairs)


def _float(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / 255.0


def evaluate_eye_model(
    model: AttributeModel, n: int = 200, seed: int = HELD_OUT_SEED
) -> dict[str, Any]:
    """Quality figures of an eye model on `n` held-out renders per measurement."""
    import torch

    from warpaint.engine.features.eyes.attributes import encode_crops, roc_auc

    net = model.net.to("cpu").eval()
    out: dict[str, Any] = {"held_out_per_measure": n}
    singles = _float(render_eye_singles(n, seed))
    with torch.inference_mode():
        x = torch.from_numpy(singles).permute(0, 3, 1, 2)
        rec = torch.cat([net(x[i : i + 100]) for i in range(0, n, 100)])
        mse = float(((rec - x) ** 2).mean())
    out["reconstruction_psnr_db"] = round(10 * np.log10(1.0 / max(mse, 1e-12)), 2)
    per: dict[str, dict[str, float]] = {}
    for name, attr in model.attributes.items():
        entry: dict[str, float] = {}
        try:
            images, labels = render_eye_labelled(name, n, seed)
        except ValueError:
            continue  # not an eye attribute: no renderer ground truth for it
        z = encode_crops(model, _float(images))
        entry["roc_auc"] = round(roc_auc((z @ attr.vector).numpy(), labels), 4)
        x1u, x2u = render_eye_pairs(name, n, seed)
        x1 = torch.from_numpy(_float(x1u)).permute(0, 3, 1, 2)
        x2 = torch.from_numpy(_float(x2u)).permute(0, 3, 1, 2)
        with torch.inference_mode():
            z1 = net.encode(x1)
            edit = (x1 + net.decode(z1 + attr.vector[None]) - net.decode(z1)).clamp(0, 1)
            entry["edit_mse"] = float(((edit - x2) ** 2).mean())
            entry["identity_mse"] = float(((x1 - x2) ** 2).mean())
        entry["edit_vs_identity"] = round(entry["edit_mse"] / max(entry["identity_mse"], 1e-12), 4)
        entry["edit_mse"] = round(entry["edit_mse"], 6)
        entry["identity_mse"] = round(entry["identity_mse"], 6)
        per[name] = entry
    out["sliders"] = per
    return out
