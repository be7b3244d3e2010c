"""`warpaint train adain`: train the arbitrary-style (AdaIN) decoder.

Content: the offline scikit-image photos (plus any folder given with
`--content`), augmented by random crops at random scales, flips and mild
colour jitter. Styles: the procedural corpus (`style_corpus`, training
indices only) plus offline colour/texture images; the held-out corpus
styles, the immunohistochemistry photo and `style_samples`' mosaic, strokes
and waves never take part, so the benchmark measures unseen styles.

Loss (Huang & Belongie 2017): with t = AdaIN(enc(c), enc(s)) and g = dec(t),
content = ||enc(g) - t||^2 and style = sum over relu1_1..relu4_1 of the
squared differences of the per-channel means and standard deviations of g's
and s's features. Each term is divided by its target's mean square, the
project's scale-free convention, so one style weight fits any network.

Data for step k are drawn from a generator seeded by (seed, k), so a resumed
run sees exactly the batches an uninterrupted one would. Checkpoints are
safetensors (decoder, Adam moments, step) written atomically; nothing is
ever pickled.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from warpaint.engine.features.arbitrary_style.adain import Decoder

KIND = "adain"
HELP = "train the arbitrary-style (AdaIN) decoder on offline photos and the style corpus"
CHECKPOINT_KIND = "adain-checkpoint"
CONTENT_PHOTOS: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
STYLE_PHOTOS: tuple[str, ...] = ("hubble_deep_field", "colorwheel", "brick", "grass", "gravel")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")


def default_output() -> Path:
    from warpaint.engine.features.arbitrary_style.effect import MODEL_FILE
    from warpaint.engine.runtime.models import shipped_model_path

    return shipped_model_path(MODEL_FILE)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    size: int = 256
    batch: int = 8
    styles: int = 600
    lr: float = 5e-4
    style_weight: float = 2.0
    recon_weight: float = 1.0
    seed: int = 0
    checkpoint_every: int = 500
    max_minutes: float = 0.0  # 0: no time limit
    content_dir: str | None = None
    init: str | None = None  # a decoder to start from (fine-tuning)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="model file (default: the shipped resources/models/adain-decoder)",
    )
    parser.add_argument(
        "--content", dest="content_dir", default=None, help="a folder of extra content photos"
    )
    parser.add_argument("--steps", type=int, default=d.steps)
    parser.add_argument("--size", type=int, default=d.size, help="training crop side (px)")
    parser.add_argument("--batch", type=int, default=d.batch)
    parser.add_argument(
        "--styles", type=int, default=d.styles, help="procedural corpus styles to train on"
    )
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--style-weight", type=float, default=d.style_weight)
    parser.add_argument(
        "--recon-weight",
        type=float,
        default=d.recon_weight,
        help="weight of the pixel reconstruction loss",
    )
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=d.max_minutes,
        help="stop (and save) after this long even before --steps",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: best)")
    parser.add_argument(
        "--init", default=None, help="fine-tune from this decoder (a model file or checkpoint)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from the checkpoint next to the output file"
    )
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")


# -- data ---------------------------------------------------------------------------


def _float_rgb(array: np.ndarray) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    a = a[..., :3]
    return (a / 255.0 if a.dtype == np.uint8 else a).astype(np.float32)


def _skimage(name: str) -> np.ndarray:
    from skimage import data

    image = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    return _float_rgb(image)


def _fit(image: np.ndarray, side: int) -> np.ndarray:
    """Downscale (never up, antialiased) so the longer side is at most `side`."""
    import torch
    from torch.nn import functional as F

    h, w = image.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    t = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=True)
    return t[0].permute(1, 2, 0).clamp(0, 1).numpy()


def content_images(folder: str | None, side: int) -> list[np.ndarray]:
    """The offline photos (and a folder's images), each fitted to `side` px."""
    from warpaint.engine.io import read_image_array
    from warpaint.engine.runtime.errors import BadInputError

    images = [_fit(_skimage(name), side) for name in CONTENT_PHOTOS]
    if folder:
        path = Path(folder)
        if not path.is_dir():
            raise BadInputError(f"{folder}: no such folder of content photos")
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise BadInputError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in it")
        for file in files:
            images.append(_fit(read_image_array(str(file))[..., :3], side))
    return images


def style_images(count: int, side: int) -> list[np.ndarray]:
    """`count` training styles of the corpus plus the offline style photos."""
    from warpaint.engine.features.arbitrary_style.corpus import style_image, training_indices

    styles = [style_image(i, side) for i in training_indices(count)]
    styles += [_fit(_skimage(name), 2 * side) for name in STYLE_PHOTOS]
    return styles


def _crops(
    pool: list[torch.Tensor],
    count: int,
    size: int,
    rng: np.random.Generator,
    jitter: bool,
) -> torch.Tensor:
    """(count, 3, size, size) random crops, at random scales, flipped at random.

    Each pool image is (1, 3, H, W) on the training device; the crop covers
    30-100 % of its shorter side, so patterns appear at several scales.
    """
    import torch
    from torch.nn import functional as F

    out = []
    for _ in range(count):
        image = pool[int(rng.integers(len(pool)))]
        h, w = image.shape[-2:]
        side = max(8, int(min(h, w) * rng.uniform(0.3, 1.0)))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = image[..., y : y + side, x : x + side]
        crop = F.interpolate(
            crop, size=(size, size), mode="bilinear", align_corners=False, antialias=side > size
        )
        if rng.random() < 0.5:
            crop = crop.flip(-1)
        if jitter:
            # Brightness, contrast and saturation within +-15 %: more content
            # variety from few photos without changing what they show.
            grey = crop.mean(1, keepdim=True)
            sat, con, bri = rng.uniform(0.85, 1.15, 3)
            crop = grey + (crop - grey) * sat
            crop = (crop - crop.mean()) * con + crop.mean() * bri
        out.append(crop.clamp(0, 1))
    return torch.cat(out)


# -- loss ---------------------------------------------------------------------------


def adain_losses(
    decoder: Decoder,
    content: torch.Tensor,
    style: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(content loss, style loss, reconstruction loss, decoded images) for a batch.

    content, style: (N, 3, S, S) in [0, 1]. The loss network is the encoder's
    own network taken deeper (relu4_1), as in the paper. The reconstruction
    loss (pixel MSE of dec(enc(c)) against c, over c's variance) is not in
    Huang & Belongie: it is the universal-style-transfer decoders' objective
    (Li et al. 2017), and it teaches colour and detail in hundreds of steps
    where the feature losses alone need tens of thousands, which is what
    makes a CPU-sized training budget work.
    """
    import torch

    from warpaint.engine.features.arbitrary_style.adain import (
        ENCODER_LAYER,
        STYLE_LAYERS,
        adain,
        encoder,
        mean_std,
    )

    net = encoder(content.device)
    layers = sorted(set(STYLE_LAYERS) | {ENCODER_LAYER})
    with torch.no_grad():
        content_features = net(content, [ENCODER_LAYER])[ENCODER_LAYER]
        style_features = net(style, layers)
        target = adain(content_features, *mean_std(style_features[ENCODER_LAYER]))
    both = decoder(torch.cat([target, content_features]))
    decoded, rebuilt = both[: len(content)], both[len(content) :]
    recon_loss = (rebuilt - content).square().mean() / content.var().clamp_min(1e-4)
    out = net(decoded, layers)
    content_loss = (out[ENCODER_LAYER] - target).square().mean() / target.square().mean()
    style_loss = decoded.new_zeros(())
    for name in STYLE_LAYERS:
        gm, gs = mean_std(out[name])
        sm, ss = mean_std(style_features[name])
        scale = (sm.square().mean() + ss.square().mean()).clamp_min(1e-8)
        style_loss = style_loss + ((gm - sm).square().mean() + (gs - ss).square().mean()) / scale
    return content_loss, style_loss / len(STYLE_LAYERS), recon_loss, decoded


# -- training -------------------------------------------------------------------------


@dataclass
class TrainState:
    step: int
    history: list[dict[str, float]]
    seconds: float


def _checkpoint_path(output: Path) -> Path:
    return output.with_name(output.stem + ".ckpt.safetensors")


def checkpoint_tensors(decoder: Decoder, optimizer: torch.optim.Adam) -> dict[str, torch.Tensor]:
    """The decoder's weights (`decoder.*`) and Adam's moments (`adam.<param>.*`) to save."""
    tensors = {f"decoder.{k}": v for k, v in decoder.state_dict().items()}
    for name, param in decoder.named_parameters():
        moments = optimizer.state.get(param, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in moments:
                tensors[f"adam.{name}.{key}"] = moments[key]
    return tensors


def restore_adam(
    decoder: Decoder, optimizer: torch.optim.Adam, tensors: dict[str, torch.Tensor], step: int
) -> None:
    """Put Adam's saved moments (`checkpoint_tensors`) back, as after `step` steps."""
    import torch

    for name, param in decoder.named_parameters():
        avg, sq = tensors.get(f"adam.{name}.exp_avg"), tensors.get(f"adam.{name}.exp_avg_sq")
        if avg is not None and sq is not None:
            optimizer.state[param] = {
                "step": torch.tensor(float(step)),
                "exp_avg": avg.to(param.device),
                "exp_avg_sq": sq.to(param.device),
            }


def _save_checkpoint(
    path: Path,
    decoder: Decoder,
    optimizer: torch.optim.Adam,
    state: TrainState,
    config: TrainConfig,
) -> None:
    from warpaint.engine.runtime.models import save_model

    tensors = checkpoint_tensors(decoder, optimizer)
    meta = {
        "kind": CHECKPOINT_KIND,
        "step": state.step,
        "seconds": state.seconds,
        "history": state.history[-200:],
        "config": asdict(config),
    }
    save_model(path, tensors, meta)


def _load_checkpoint(
    path: Path, decoder: Decoder, optimizer: torch.optim.Adam, config: TrainConfig
) -> TrainState:

    from warpaint.engine.runtime.errors import BadInputError
    from warpaint.engine.runtime.models import load_model

    tensors, meta = load_model(path, CHECKPOINT_KIND)
    saved = meta.get("config")
    if not isinstance(saved, dict):
        raise BadInputError(f"{path}: checkpoint without its training settings")
    for key in ("size", "batch", "styles", "seed", "style_weight", "recon_weight"):
        if saved.get(key) != getattr(config, key):
            raise BadInputError(
                f"{path}: was trained with {key}={saved.get(key)}, not {getattr(config, key)}; "
                "resume with the same settings"
            )
    weights = {
        k.removeprefix("decoder."): v for k, v in tensors.items() if k.startswith("decoder.")
    }
    try:
        decoder.load_state_dict(weights)
    except RuntimeError:
        raise BadInputError(f"{path}: its decoder does not match this decoder") from None
    step = int(meta["step"])  # type: ignore[call-overload]
    restore_adam(decoder, optimizer, tensors, step)
    history = meta.get("history")
    return TrainState(
        step,
        list(history) if isinstance(history, list) else [],
        float(meta.get("seconds", 0.0)),  # type: ignore[arg-type]
    )


def _initial_weights(path: Path) -> dict[str, torch.Tensor]:
    """Decoder weights from a model file (kind 'adain') or a training checkpoint."""
    from warpaint.engine.features.arbitrary_style.adain import KIND, decoder_from_model
    from warpaint.engine.runtime.errors import BadInputError
    from warpaint.engine.runtime.models import load_model

    try:
        tensors, meta = load_model(path, CHECKPOINT_KIND)
        return {
            k.removeprefix("decoder."): v for k, v in tensors.items() if k.startswith("decoder.")
        }
    except BadInputError:
        tensors, meta = load_model(path, KIND)
        try:
            return decoder_from_model(tensors, meta).state_dict()
        except ValueError as exc:
            raise BadInputError(f"{path}: not a usable AdaIN decoder ({exc})") from None


def learning_rate(config: TrainConfig, step: int, seconds: float = 0.0) -> float:
    """Linear warm-up over 100 steps, then cosine decay to 5 % of `lr`.

    With a time limit the decay follows whichever runs out first, steps or
    time, so a run cut short by `max_minutes` still ends at the low rate.
    """
    warm = min(1.0, (step + 1) / 100)
    progress = step / max(1, config.steps)
    if config.max_minutes > 0:
        progress = max(progress, seconds / (60 * config.max_minutes))
    progress = min(1.0, progress)
    return config.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_decoder(
    config: TrainConfig,
    device: str = "cpu",
    checkpoint: Path | None = None,
    resume: bool = False,
    log: Callable[[str], None] = print,
    stop_at: int | None = None,
) -> tuple[Decoder, TrainState]:
    """Train a decoder; returns it (eval mode, CPU) and the run's state.

    With `checkpoint`, saves there every `checkpoint_every` steps and at the
    end; with `resume`, starts from it. `stop_at` ends the run early at that
    step (the schedule still spans `config.steps`), to train in parts.
    """
    import torch

    from warpaint.engine.features.arbitrary_style.adain import Decoder

    torch.manual_seed(config.seed)
    decoder = Decoder()
    if config.init:
        decoder.load_state_dict(_initial_weights(Path(config.init)))
    decoder = decoder.to(device).train()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=config.lr)
    state = TrainState(0, [], 0.0)
    if resume:
        if checkpoint is None or not checkpoint.is_file():
            from warpaint.engine.runtime.errors import BadInputError

            raise BadInputError(f"--resume: no checkpoint at {checkpoint}")
        state = _load_checkpoint(checkpoint, decoder, optimizer, config)
        log(f"resumed at step {state.step}")

    pool_side = max(2 * config.size, 384)
    t0 = time.perf_counter()

    def to_t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].to(device)

    contents = [to_t(a) for a in content_images(config.content_dir, pool_side)]
    styles = [to_t(a) for a in style_images(config.styles, config.size * 3 // 2)]
    log(
        f"data: {len(contents)} content photos, {len(styles)} styles "
        f"({time.perf_counter() - t0:.1f} s)"
    )

    start = time.perf_counter() - state.seconds
    log_every = max(1, min(50, config.steps // 20))
    window: list[tuple[float, float, float]] = []
    end = config.steps if stop_at is None else min(stop_at, config.steps)
    while state.step < end:
        rng = np.random.default_rng((config.seed, state.step))
        content = _crops(contents, config.batch, config.size, rng, jitter=True)
        style = _crops(styles, config.batch, config.size, rng, jitter=False)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, state.step, state.seconds)
        c_loss, s_loss, r_loss, _ = adain_losses(decoder, content, style)
        loss = c_loss + config.style_weight * s_loss + config.recon_weight * r_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        state.step += 1
        window.append((float(c_loss.detach()), float(s_loss.detach()), float(r_loss.detach())))
        state.seconds = time.perf_counter() - start
        if state.step % log_every == 0 or state.step == config.steps:
            c, s, r = np.mean(window, axis=0)
            window.clear()
            state.history.append(
                {
                    "step": state.step,
                    "content": round(float(c), 5),
                    "style": round(float(s), 5),
                    "recon": round(float(r), 5),
                    "seconds": round(state.seconds, 1),
                }
            )
            rate = state.step / max(state.seconds, 1e-6)
            eta = (config.steps - state.step) / max(rate, 1e-9)
            log(
                f"step {state.step}/{config.steps}  content {c:.4f}  style {s:.4f}  recon {r:.4f}  "
                f"{rate:.2f} steps/s  eta {eta / 60:.1f} min"
            )
        if checkpoint is not None and state.step % config.checkpoint_every == 0:
            _save_checkpoint(checkpoint, decoder, optimizer, state, config)
        if config.max_minutes > 0 and state.seconds > 60 * config.max_minutes:
            log(f"time limit reached at step {state.step}")
            break
    if checkpoint is not None:
        _save_checkpoint(checkpoint, decoder, optimizer, state, config)
    return decoder.cpu().eval().requires_grad_(False), state


def save_decoder(
    path: Path, decoder: Decoder, state: TrainState, config: TrainConfig, device: str, command: str
) -> None:
    """The model file (decoder + metadata) and its training record `<name>.json`."""
    import torch

    from warpaint.engine.features.arbitrary_style.adain import decoder_meta
    from warpaint.engine.io.atomic import atomic_write
    from warpaint.engine.runtime.models import save_model

    meta = decoder_meta(decoder) | {"steps": state.step, "size": config.size}
    save_model(path, dict(decoder.state_dict()), meta)
    record = {
        "model": path.name,
        "kind": meta["kind"],
        "command": command,
        "config": asdict(config),
        "steps_done": state.step,
        "seconds": round(state.seconds, 1),
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else device,
        "torch": torch.__version__,
        "content_photos": list(CONTENT_PHOTOS),
        "style_photos": list(STYLE_PHOTOS),
        "style_corpus": f"style_corpus training indices, first {config.styles}",
        "final_losses": state.history[-1] if state.history else None,
        "history": state.history,
    }
    with atomic_write(path.with_suffix(".json")) as f:
        f.write(json.dumps(record, indent=1).encode())


def run(args: argparse.Namespace) -> int:
    import torch

    from warpaint.engine.runtime.device import choose_device
    from warpaint.engine.runtime.errors import BadInputError

    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("steps", "size", "batch", "styles", "checkpoint_every"):
        if getattr(args, name) < 1:
            raise BadInputError(f"--{name.replace('_', '-')} must be at least 1")
    if args.size % 4:
        raise BadInputError("--size must be a multiple of 4 (the encoder pools twice)")
    config = TrainConfig(
        steps=args.steps,
        size=args.size,
        batch=args.batch,
        styles=args.styles,
        lr=args.lr,
        style_weight=args.style_weight,
        recon_weight=args.recon_weight,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        max_minutes=args.max_minutes,
        content_dir=args.content_dir,
        init=args.init,
    )
    output = Path(args.output) if args.output else default_output()
    if output.suffix.lower() != ".safetensors":
        raise BadInputError(f"{output}: the model file must end in .safetensors")
    device = choose_device(args.device)
    command = "warpaint train adain " + " ".join(sys.argv[3:] if len(sys.argv) > 3 else [])
    print(f"training the AdaIN decoder on {device}: {config}", flush=True)
    os.makedirs(output.parent, exist_ok=True)
    decoder, state = train_decoder(
        config,
        device,
        _checkpoint_path(output),
        args.resume,
        log=lambda line: print(line, flush=True),
    )
    save_decoder(output, decoder, state, config, device, command.strip())
    print(f"wrote {output} ({state.step} steps, {state.seconds / 60:.1f} min)")
    return 0
