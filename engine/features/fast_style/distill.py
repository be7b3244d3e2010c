"""Distilling Gatys stylization into the feed-forward generator.

Trained against the random VGG's Gram loss directly (the perceptual-loss
recipe), the generator finds patterns that satisfy the random network's
statistics without looking like the style (docs/fast-style.md). Gatys
optimisation with the same network does look like the style, so the recipe
here is:

1. `content_pool`: content crops from the offline photos (or a folder), with
   augmentation (scale, crop, flips, tint);
2. `stylize_batch`: optimise those crops once per style with the project's
   Gatys loss and schedule (`warpaint.engine.features.stylize.optim`), a batch at a time; for
   styles with big marks from the photo plus the generator's coarse noise
   (`mark_seeds`), so the generator can see where those marks form;
3. `distill_step`: train the generator to reproduce those targets from the
   contents, on random sub-crops with flips applied to both: L1 on pixels
   (optionally on K x K means), a feature loss, a Gram loss against the style
   and one against each target's own Gram (`DistillLoss` weighs them). What
   the shipped presets use (EfficientNet-Lite0 targets and losses, 4x4 means,
   the targets' own Gram) is in docs/fast-style.md, "What drew the texture".

Tensors are float32 (N, 3, S, S) in [0, 1] on one device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from warpaint.engine.features.fast_style.generator import StyleGenerator, lattice_noise
from warpaint.engine.features.stylize.optim import (
    LossFn,
    RowsLossFn,
    coarse_to_fine,
    gatys_loss,
    optimise,
    style_targets,
)
from warpaint.engine.neural.loss_networks import LossNetwork
from warpaint.engine.neural.sample_split import backward_by_sample, samples_per_task
from warpaint.engine.neural.style_losses import content_loss, gram, resize_to_side
from warpaint.engine.runtime.errors import BadInputError

# Offline photos for the default content pool. The benchmark's contents
# (astronaut, chelsea, coffee) are left out so the benchmark measures unseen images.
# Colour photos first; a few grey ones add shapes and textures (text and flat
# diagrams were left out: they teach the generator little).
POOL_IMAGES: tuple[str, ...] = (
    "rocket",
    "stereo_motorcycle",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "colorwheel",
    "camera",
    "moon",
    "brick",
    "grass",
    "gravel",
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
# Gatys settings of the targets: the stylize effect's CPU defaults (docs/stylization.md).
GATYS_NETWORK = "vgg19-random-slim"
GATYS_STYLE_WEIGHT = 5.0
FEATURE_LAYERS = ("relu2_1", "relu3_1")

_noop: Callable[[], None] = lambda: None  # noqa: E731


def _to_rgb_float(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.float32)
    elif a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    a = a.astype(np.float32)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.shape[2] == 4:  # composite over white
        a = a[..., :3] * a[..., 3:] + (1.0 - a[..., 3:])
    return np.clip(a[..., :3], 0.0, 1.0)


def pool_images(folder: str | Path | None = None) -> list[np.ndarray]:
    """The content photos: every image in `folder`, or the offline scikit-image
    photos (POOL_IMAGES). Each (H, W, 3) float32 in [0, 1]."""
    if folder is None:
        from skimage import data

        images = []
        for name in POOL_IMAGES:
            a = getattr(data, name)()
            images.append(_to_rgb_float(a[0] if isinstance(a, tuple) else a))
        return images
    from warpaint.engine.io import read_image_array

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise BadInputError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
    return [_to_rgb_float(read_image_array(str(p))) for p in files]


def content_pool(images: Sequence[np.ndarray], count: int, size: int, seed: int) -> torch.Tensor:
    """`count` augmented square crops (count, 3, size, size): a random image,
    a random scale (the crop covers 35-100 % of the short side), a random
    position, flips, and for colour photos a mild random tint."""
    from PIL import Image

    rng = np.random.RandomState(seed)
    crops = []
    for _ in range(count):
        a = images[rng.randint(len(images))]
        h, w = a.shape[:2]
        side = max(8, int(min(h, w) * rng.uniform(0.35, 1.0)))
        y, x = rng.randint(0, h - side + 1), rng.randint(0, w - side + 1)
        piece = Image.fromarray((a[y : y + side, x : x + side] * 255).astype(np.uint8))
        crop = np.asarray(piece.resize((size, size), Image.Resampling.LANCZOS), np.float32) / 255.0
        if rng.rand() < 0.5:
            crop = crop[:, ::-1]
        if rng.rand() < 0.2:
            crop = crop[::-1]
        crop = np.clip(crop * rng.uniform(0.9, 1.1, 3).astype(np.float32), 0, 1)
        crops.append(np.ascontiguousarray(crop))
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()


def mark_seeds(
    side: int, places: Sequence[tuple[int, int]], cell: int, device: torch.device | str
) -> torch.Tensor:
    """(B, 3, side, side) in [-1, 1): the first three channels of the generator's
    coarse noise (`lattice_noise`, blobs about `cell` px wide) over crops whose
    top-left pixels sit at `places` in the virtual image the noise is tied to.

    Added to the contents where the Gatys targets start, they decide where the
    targets' big marks form; a generator that reads the same noise at the same
    places (its `coarse_noise` input) can then learn where to put them, which
    it cannot when the marks land wherever the optimisation's chaos puts them."""
    planes = [lattice_noise(side, side, top, left, 3, cell, 1, device) for top, left in places]
    return torch.cat(planes) * 2 - 1


def stylize_batch(
    net: LossNetwork,
    contents: torch.Tensor,
    style: torch.Tensor,
    *,
    evaluations: int = 48,
    scales: int = 2,
    style_weight: float = GATYS_STYLE_WEIGHT,
    start: torch.Tensor | None = None,
    check: Callable[[], None] = _noop,
) -> torch.Tensor:
    """Gatys stylization of a batch (B, 3, S, S) with one style (1, 3, h, w),
    the stylize effect's loss and coarse-to-fine schedule, from the contents
    or from `start` (B, 3, S, S) (the content loss still compares with the contents).

    The batch is one optimisation problem whose loss is the mean of the
    images' own losses (each image's Gram against the style's), so every
    image gets its own stylization; L-BFGS shares only its step sizes.
    Returns (B, 3, S, S).
    """
    side = contents.shape[-1]
    schedule = coarse_to_fine(side, evaluations, scales)
    x: torch.Tensor | None = None
    for s, n in zip(schedule.sides, schedule.evaluations, strict=True):
        c = resize_to_side(contents, s)
        if x is None:
            x = c.clone() if start is None else resize_to_side(start, s).contiguous()
        else:
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
        targets = style_targets(net, [(style, 1.0)], s, check)
        loss_fn = gatys_loss(net, c, targets, style_weight, check=check)
        x = optimise(x, by_sample(loss_fn), "lbfgs", n, check=check)
    assert x is not None
    return x


def by_sample(loss_fn: RowsLossFn, workers: int | None = None) -> LossFn:
    """`loss_fn` over a batch whose images' losses and gradients are computed
    one image at a time on a task pool of `workers` (`sample_split`); it
    leaves the gradient in the image's `.grad` and returns the loss detached."""

    def split(img: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        def loss_of(rows: slice) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            return loss_fn(img[rows], rows)

        per_task = samples_per_task(img.shape[-2] * img.shape[-1])
        return backward_by_sample(loss_of, len(img), [img], workers, per_task)

    return split


@dataclass
class DistillLoss:
    """Weights of the distillation loss terms (pixel L1 is weight 1)."""

    feature: float = 1.0
    style: float = 0.5
    # The pixel L1 compares the output and the target average-pooled by this
    # factor: above 1 it matches colours and layout but not the exact texture,
    # which a generator cannot predict (Gatys' fine texture is chaotic in its
    # start) and which the Gram term and a noise input then supply.
    pixel_scale: int = 1
    # Gram loss against each target's own Gram (its texture statistics, free
    # of where each dot sits), at the style layers.
    target_style: float = 0.0


def style_grams(net: LossNetwork, styles: torch.Tensor, side: int) -> list[dict[str, torch.Tensor]]:
    """Per style (N, 3, h, w): its Gram targets at long side `side`."""
    return [style_targets(net, [(styles[i : i + 1], 1.0)], side) for i in range(len(styles))]


def random_views(
    contents: torch.Tensor,
    targets: torch.Tensor,
    crop: int,
    generator: torch.Generator,
    *,
    flip: bool | Sequence[bool] = True,
    grid: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
    """The same random crop (crop x crop) and, where `flip` (one for all or one
    per pair) allows, the same random flip of each content/target pair; also
    each crop's top-left corner (y, x), a multiple of `grid`."""
    b, _, s, _ = contents.shape
    out_c, out_t, corners = [], [], []
    flips = [flip] * b if isinstance(flip, bool) else list(flip)
    for i in range(b):
        y, x = (torch.randint(0, (s - crop) // grid + 1, (2,), generator=generator) * grid).tolist()
        c = contents[i : i + 1, :, y : y + crop, x : x + crop]
        t = targets[i : i + 1, :, y : y + crop, x : x + crop]
        if flips[i] and torch.rand((), generator=generator) < 0.5:
            c, t = c.flip(-1), t.flip(-1)
        out_c.append(c)
        out_t.append(t)
        corners.append((y, x))
    return torch.cat(out_c), torch.cat(out_t), corners


def feature_layers(net: LossNetwork) -> tuple[str, ...]:
    """The layers of the feature loss: relu2_1 and relu3_1 on a VGG, else the
    network's content layer."""
    if all(name in net.layer_names for name in FEATURE_LAYERS):
        return FEATURE_LAYERS
    return (net.content_layer,)


def distill_loss(
    net: LossNetwork,
    output: torch.Tensor,
    target: torch.Tensor,
    grams: Sequence[dict[str, torch.Tensor]],
    style_index: torch.Tensor,
    weights: DistillLoss,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of generator `output` (B, 3, s, s) against Gatys `target` (same);
    `grams[k]` is style k's Gram targets, `style_index` (B,) each sample's style."""
    if weights.pixel_scale > 1:
        k = weights.pixel_scale
        pixel = (F.avg_pool2d(output, k) - F.avg_pool2d(target, k)).abs().mean()
    else:
        pixel = (output - target).abs().mean()
    content_layers = feature_layers(net)
    layers = tuple(dict.fromkeys((*content_layers, *net.style_layers)))
    b = output.shape[0]
    feats = net.module(torch.cat([output, target]), layers)  # the output's, then the target's
    feature = sum(content_loss(feats[n][:b], feats[n][b:].detach()) for n in content_layers)
    # Layer weights scaled to sum to 1, so the loss weights mean the same for
    # every network (EfficientNet's sum to 100 for the stylize effect).
    pairs = zip(net.style_layers, net.style_weights, strict=True)
    layer_weights = {name: w / sum(net.style_weights) for name, w in pairs}
    out_grams = {name: gram(feats[name][:b]) for name in net.style_layers}  # (B, C, C) each
    style = output.new_zeros(())
    for k in style_index.unique().tolist():
        rows = style_index == k
        for name, w in layer_weights.items():
            g, t = out_grams[name][rows], grams[k][name]
            style = style + w * (g - t).square().mean() / t.square().mean().clamp_min(1e-12)
    style = style / max(1, len(style_index.unique()))
    target_style = output.new_zeros(())
    if weights.target_style:
        for name, w in layer_weights.items():
            g, t = out_grams[name], gram(feats[name][b : 2 * b]).detach()
            scale = t.square().mean(dim=(1, 2)).clamp_min(1e-12)
            per_image = (g - t).square().mean(dim=(1, 2)) / scale
            target_style = target_style + w * per_image.mean()
    total = pixel + weights.feature * feature + weights.style * style
    total = total + weights.target_style * target_style
    return total, {  # type: ignore[return-value]
        "pixel": float(pixel.detach()),
        "feature": float(feature.detach()),  # type: ignore[union-attr]
        "style": float(style.detach()),
        "target_style": float(target_style.detach()),
        "total": float(total.detach()),
    }


def one_hot(index: torch.Tensor, styles: int) -> torch.Tensor:
    """(B,) style indices -> (B, styles) float mix vectors."""
    return F.one_hot(index, styles).float()


def distill_step(
    gen: torch.nn.Module,
    net: LossNetwork,
    optimizer: torch.optim.Optimizer,
    contents: torch.Tensor,
    targets: torch.Tensor,
    style_index: torch.Tensor,
    grams: Sequence[dict[str, torch.Tensor]],
    weights: DistillLoss,
    styles: int,
    origins: list[tuple[int, int]] | None = None,
    workers: int | None = None,
) -> dict[str, float]:
    """One optimiser step on a batch: contents/targets (B, 3, s, s), style_index (B,).
    `gen` may be a DistributedDataParallel wrapper of a StyleGenerator;
    `origins` place each crop in a virtual whole image (for the noise input);
    `workers`: the samples' task pool (None: `sample_split.training_workers`,
    1: the whole batch at once).

    Every term of the loss is a mean over the samples (the style term only
    while the batch has one style), so on the CPU the samples' forward and
    backward passes run as tasks of `sample_split` (not for a
    DistributedDataParallel wrapper, whose hooks expect the whole batch)."""
    optimizer.zero_grad(set_to_none=True)
    mix = one_hot(style_index, styles).to(contents.device)

    def loss_of(rows: slice) -> tuple[torch.Tensor, dict[str, float]]:
        where = origins[rows] if origins is not None else None
        if where is None:
            out = gen(contents[rows], mix[rows])
        else:
            out = gen(contents[rows], mix[rows], origin=where)
        return distill_loss(net, out, targets[rows], grams, style_index[rows], weights)

    one_style = weights.style == 0 or len(style_index.unique()) == 1
    split = one_style and not isinstance(gen, torch.nn.parallel.DistributedDataParallel)
    params = [p for p in gen.parameters() if p.requires_grad]
    per_task = samples_per_task(contents.shape[-2] * contents.shape[-1])
    _loss, parts = backward_by_sample(
        loss_of, len(contents), params, workers if split else 1, per_task
    )
    optimizer.step()
    return parts


def generator_tensors(gen: StyleGenerator) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in gen.state_dict().items()}
