"""Image optimisation against a loss network: Gatys style transfer, texture
synthesis, feature inversion, sharing one optimiser loop.

Functional core: `stylize_image`, `synthesize_texture`, `invert_features`
take and return (1, 3, H, W) float32 RGB in [0, 1] on any device. They run
coarse to fine (each scale starts from the previous result, upsampled), call
`progress(fraction, image, losses)` every few evaluations and `check()` inside
every network pass, so a job's Cancel acts within one layer's work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import torch
from torch.nn import functional as F

from warpaint.engine.neural.cuda_graphs import GraphedLossGrad
from warpaint.engine.neural.loss_networks import LossNetwork
from warpaint.engine.neural.style_losses import (
    content_loss,
    gram,
    gram_loss,
    match_colour_statistics,
    resize_to_side,
    tv_beta,
)

OPTIMIZERS: tuple[str, ...] = (
    "lbfgs",
    "adam",
    "sgd-momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adadelta",
)
# Step sizes in pixel units ([0, 1] intensities); first-order methods see
# gradients scaled to unit RMS (see `_normalised`) so these fit any loss scale.
_LEARNING_RATES = {
    "adam": 0.02,
    "sgd-momentum": 0.01,
    "nesterov": 0.01,
    "adagrad": 0.05,
    "rmsprop": 0.005,
    "adadelta": 5.0,
}
PREVIEW_INTERVAL_S = 0.5

Progress = Callable[[float, torch.Tensor, dict[str, float]], None]
LossFn = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]


class RowsLossFn(Protocol):
    """A batch's loss (`gatys_loss`) that can also be asked for some of its
    images': `img` holds the batch's images `rows`."""

    def __call__(
        self, img: torch.Tensor, rows: slice = ...
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


# Applied to each style layer's features before its Gram matrix
# (`feature_transform.SoftmaxTransform`); None: the plain Gram.
StyleTransform = Callable[[torch.Tensor], torch.Tensor] | None


def _noop() -> None:
    return None


@dataclass(frozen=True)
class Schedule:
    """Long sides and evaluations per scale, coarse to fine."""

    sides: tuple[int, ...]
    evaluations: tuple[int, ...]

    def cost(self) -> float:
        """Work in units of one evaluation at the finest side."""
        top = self.sides[-1] ** 2
        return sum(n * s * s / top for s, n in zip(self.sides, self.evaluations, strict=True))


def coarse_to_fine(side: int, evaluations: int, scales: int = 3, min_side: int = 64) -> Schedule:
    """A schedule ending at `side`: each coarser scale halves the side.

    `evaluations` counts evaluations at the finest side; a scale k halvings
    down costs 4^-k as much, so the coarse scales get most of the iterations:
    half the budget at the coarsest scale, a quarter at the next, ...
    and at least 10 % at the finest (which is what fixes fine detail).
    """
    sides = [side]
    while len(sides) < scales and sides[0] // 2 >= min_side:
        sides.insert(0, sides[0] // 2)
    if len(sides) == 1:
        return Schedule((side,), (evaluations,))
    # Split a cost budget: fine 1/3, the rest shared equally by coarser scales.
    fine = max(1, round(evaluations / 3))
    rest = evaluations - fine
    coarse = [
        max(1, round(rest / (len(sides) - 1) * 4 ** (len(sides) - 1 - i)))
        for i in range(len(sides) - 1)
    ]
    return Schedule(tuple(sides), (*coarse, fine))


def optimise(
    x: torch.Tensor,
    loss_fn: LossFn,
    optimizer: str = "lbfgs",
    evaluations: int = 100,
    on_chunk: Callable[[int, torch.Tensor, dict[str, float]], None] | None = None,
    learning_rate: float | None = None,
    check: Callable[[], None] = _noop,
    cuda_graph: bool = True,
) -> torch.Tensor:
    """Minimise `loss_fn` over the pixels of `x` for `evaluations` loss evaluations.

    Returns the optimised image clamped to [0, 1]. `on_chunk(done, x, losses)`
    is called after every chunk of about 5 evaluations, `check()` before every
    evaluation (it raises to cancel). `cuda_graph`: on CUDA, replay each
    evaluation from a recorded graph (same values; eager when recording fails).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r} (choose from {', '.join(OPTIMIZERS)})")
    x = x.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    done = 0
    last: dict[str, torch.Tensor] = {}
    # Every optimiser here changes x in place, so on CUDA one recorded graph
    # of the loss and its gradient serves every evaluation (`cuda_graphs`).
    evaluate = GraphedLossGrad(x, loss_fn) if cuda_graph and x.is_cuda else None

    def closure() -> torch.Tensor:
        nonlocal done, last
        opt.zero_grad(set_to_none=True)
        if evaluate is None:
            total, parts = loss_fn(x)
            if total.requires_grad:  # else the loss put its gradient in x.grad itself
                total.backward()
        else:
            check()  # a replay never calls the network's own checks
            total, parts, grad = evaluate()
            x.grad = grad
            total = total.clone()
        done += 1
        last = parts | {"total": total.detach()}
        if optimizer != "lbfgs" and x.grad is not None:
            x.grad = _normalised(x.grad)
        return total

    chunk = 5
    if optimizer == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            [x],
            lr=1.0,
            max_iter=1,
            max_eval=chunk,
            history_size=50,
            tolerance_grad=1e-9,
            tolerance_change=1e-12,
            line_search_fn="strong_wolfe",
        )
    else:
        opt = _first_order(optimizer, x, learning_rate)
    with _tf32_matmuls(x.device):
        while done < evaluations:
            before = done
            if optimizer == "lbfgs":
                # One iteration per step: its line search usually takes 1-2
                # evaluations, so the count stays close to `evaluations`.
                while done - before < chunk and done < evaluations:
                    start = done
                    opt.param_groups[0]["max_eval"] = evaluations - done
                    opt.step(closure)  # type: ignore[arg-type]
                    if done == start:
                        break
            else:
                for _ in range(min(chunk, evaluations - done)):
                    opt.step(closure)  # type: ignore[arg-type]
                    with torch.no_grad():
                        x.clamp_(0.0, 1.0)
            if on_chunk is not None:
                on_chunk(done, x.detach(), {k: float(v) for k, v in last.items()})
            if done == before:  # converged: L-BFGS made no evaluation
                break
    return x.detach().clamp(0.0, 1.0)


@contextmanager
def _tf32_matmuls(device: torch.device) -> Iterator[None]:
    """On CUDA, TF32 for float32 matrix products (the Gram matrices), as cuDNN
    already uses for the convolutions by default: Ampere and later GPUs run
    them several times faster, and a stylization does not need the last bits.
    The setting is process-wide; it is restored afterwards."""
    if device.type != "cuda":
        yield
        return
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def _normalised(grad: torch.Tensor) -> torch.Tensor:
    return grad / grad.square().mean().sqrt().clamp_min(1e-12)


def _first_order(name: str, x: torch.Tensor, lr: float | None) -> torch.optim.Optimizer:
    rate = lr if lr is not None else _LEARNING_RATES[name]
    if name == "adam":
        return torch.optim.Adam([x], lr=rate)
    if name == "sgd-momentum":
        return torch.optim.SGD([x], lr=rate, momentum=0.9)
    if name == "nesterov":
        return torch.optim.SGD([x], lr=rate, momentum=0.9, nesterov=True)
    if name == "adagrad":
        return torch.optim.Adagrad([x], lr=rate)
    if name == "rmsprop":
        return torch.optim.RMSprop([x], lr=rate)
    return torch.optim.Adadelta([x], lr=rate)


@dataclass
class _Reporter:
    """Turns per-scale progress into overall progress, throttled in time."""

    progress: Progress | None
    schedule: Schedule
    stage: int = 0
    last: float = 0.0

    def __call__(self, done: int, x: torch.Tensor, losses: dict[str, float]) -> None:
        if self.progress is None:
            return
        costs = [
            n * s * s for s, n in zip(self.schedule.sides, self.schedule.evaluations, strict=True)
        ]
        side = self.schedule.sides[self.stage]
        finished = (
            sum(costs[: self.stage])
            + min(done, self.schedule.evaluations[self.stage]) * side * side
        )
        now = time.monotonic()
        if now - self.last >= PREVIEW_INTERVAL_S or done >= self.schedule.evaluations[self.stage]:
            self.last = now
            self.progress(min(1.0, finished / sum(costs)), x.clamp(0.0, 1.0), losses)


def _resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(image.shape[-2:]) == size:
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)


def _fit(shape: Sequence[int], side: int) -> tuple[int, int]:
    h, w = shape[-2:]
    scale = side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def style_targets(
    net: LossNetwork,
    styles: Sequence[tuple[torch.Tensor, float]],
    side: int,
    check: Callable[[], None] = _noop,
    transform: StyleTransform = None,
) -> dict[str, torch.Tensor]:
    """Weighted mean of the styles' Gram matrices per style layer, each style
    resized so its long side is `side`. Weights are normalised to sum 1.
    `transform` maps each layer's features before the Gram."""
    total = sum(w for _, w in styles)
    if total <= 0:
        raise ValueError("style weights must sum to more than zero")
    targets: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for image, weight in styles:
            feats = net.module(resize_to_side(image, side), net.style_layers, check)
            for name in net.style_layers:
                f = feats[name] if transform is None else transform(feats[name])
                g = gram(f) * (weight / total)
                targets[name] = targets[name] + g if name in targets else g
    return targets


def gatys_loss(
    net: LossNetwork,
    content: torch.Tensor,
    targets: dict[str, torch.Tensor],
    style_weight: float,
    content_weight: float = 1.0,
    tv_weight: float = 0.0,
    check: Callable[[], None] = _noop,
    transform: StyleTransform = None,
) -> RowsLossFn:
    """The Gatys loss of an image against style Gram `targets` and the
    features of `content` (N, 3, H, W): weighted Gram losses on the style
    layers + content loss (+ TV). For a batch, each image's Gram is compared
    with the targets, so the images are stylised independently. `transform`
    maps the style layers' features before the Gram, as for the targets.

    The loss is the mean of the images' own losses; `loss_fn(img, rows)`
    gives that of the batch's images `rows` (`img` holds just those), for
    `engine.neural.sample_split`."""
    tf = (lambda f: f) if transform is None else transform
    with torch.no_grad():
        c_target = net.module(content, [net.content_layer], check)[net.content_layer]
    layers = (*net.style_layers, net.content_layer)

    def loss_fn(
        img: torch.Tensor, rows: slice = slice(None)
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        feats = net.module(img, layers, check)
        ls = sum(
            w * gram_loss(tf(feats[name]), targets[name])
            for name, w in zip(net.style_layers, net.style_weights, strict=True)
        )
        lc = content_loss(feats[net.content_layer], c_target[rows])
        total = style_weight * ls + content_weight * lc
        if tv_weight > 0:
            total = total + tv_weight * tv_beta(img)
        return total, {"style": ls.detach(), "content": lc.detach()}  # type: ignore[union-attr]

    return loss_fn


def stylize_image(
    net: LossNetwork,
    content: torch.Tensor,
    styles: Sequence[tuple[torch.Tensor, float]],
    *,
    side: int,
    evaluations: int = 100,
    style_weight: float = 1e3,
    content_weight: float = 1.0,
    tv_weight: float = 0.0,
    optimizer: str = "lbfgs",
    init: str = "content",
    scales: int = 3,
    seed: int = 0,
    preserve_colours: str = "off",
    style_scale: float = 1.0,
    progress: Progress | None = None,
    check: Callable[[], None] = _noop,
    learning_rate: float | None = None,
    style_transform: StyleTransform = None,
    shading: float = 0.0,
    shading_scale: float = 1 / 32,
) -> torch.Tensor:
    """Gatys et al. style transfer of `content` (1, 3, H, W) at long side `side`.

    styles: [(image (1, 3, h, w), weight)], mixed by their Gram matrices.
    preserve_colours: 'off', 'luminance' (the style's luminance pattern on the
    content's colours, Gatys et al. 2016) or 'histogram' (the style's colours
    mapped to the content's mean and covariance first).
    style_scale: each style is resized to long side `side * style_scale` at
    every scale, so its patterns keep their size relative to the image.
    style_transform: applied to the style layers' features before their Gram
    matrices (`feature_transform.SoftmaxTransform`; None: plain Gram).
    shading: after the optimisation, how far the result's luminance below
    `shading_scale` x `side` (a Gaussian's sigma) moves towards the
    content's (`shading.restore_shading`; 0: not at all).
    Returns (1, 3, h', w') with long side `side` (the caller resizes).
    """
    from warpaint.engine.neural.style_losses import luminance, match_luminance, with_chroma_of

    if content.ndim != 4 or content.shape[:2] != (1, 3):
        raise ValueError(f"content must be (1, 3, H, W), got {tuple(content.shape)}")
    original = content
    if preserve_colours == "luminance":
        c_luma = luminance(content)
        content = c_luma.expand(-1, 3, -1, -1).contiguous()
        styles = [
            (match_luminance(luminance(s), c_luma).expand(-1, 3, -1, -1).contiguous(), w)
            for s, w in styles
        ]
    elif preserve_colours == "histogram":
        styles = [(match_colour_statistics(s, content), w) for s, w in styles]
    elif preserve_colours != "off":
        raise ValueError(f"unknown colour mode {preserve_colours!r}")
    schedule = coarse_to_fine(side, evaluations, scales)
    report = _Reporter(progress, schedule)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    x: torch.Tensor | None = None
    for stage, (s, n) in enumerate(zip(schedule.sides, schedule.evaluations, strict=True)):
        report.stage = stage
        size = _fit(content.shape, s)
        c = _resize(content, size)
        if x is None:
            x = c.clone() if init == "content" else _noise(c, generator)
        else:
            x = _resize(x, size)
        targets = style_targets(
            net, styles, max(16, round(s * style_scale)), check, style_transform
        )
        loss_fn = gatys_loss(
            net, c, targets, style_weight, content_weight, tv_weight, check, style_transform
        )
        x = optimise(x, loss_fn, optimizer, n, report, learning_rate, check)
    assert x is not None
    if shading > 0:
        from warpaint.engine.features.stylize.shading import restore_shading

        x = restore_shading(x, content, shading, shading_scale * max(x.shape[-2:]))
    if preserve_colours == "luminance":
        x = with_chroma_of(x, _resize(original, tuple(x.shape[-2:])))  # type: ignore[arg-type]
    return x


def _noise(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    noise = torch.rand(like.shape, generator=generator, dtype=torch.float32)
    # Mid-grey noise of small amplitude: a neutral start the optimiser moves easily.
    return (0.5 + 0.2 * (noise - 0.5)).to(like.device)


def synthesize_texture(
    net: LossNetwork,
    sample: torch.Tensor,
    size: tuple[int, int],
    *,
    evaluations: int = 100,
    tileable: bool = False,
    scales: int = 3,
    seed: int = 0,
    sample_side: int | None = None,
    progress: Progress | None = None,
    check: Callable[[], None] = _noop,
) -> torch.Tensor:
    """Gram-matrix texture synthesis (Gatys et al. 2015) from noise.

    sample: (1, 3, h, w); size: (H, W) of the result. The sample keeps its
    pixel scale (`sample_side` caps its long side) at the finest scale and is
    halved with the result at coarser ones. `tileable` pads circularly
    inside the network, so the result wraps around seamlessly.
    Returns (1, 3, H, W).
    """
    side = max(size)
    schedule = coarse_to_fine(side, evaluations, scales)
    report = _Reporter(progress, schedule)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    base_side = min(max(sample.shape[-2:]), sample_side or max(sample.shape[-2:]))
    net.module.set_padding("circular" if tileable else "zeros")
    x: torch.Tensor | None = None
    try:
        for stage, (s, n) in enumerate(zip(schedule.sides, schedule.evaluations, strict=True)):
            report.stage = stage
            factor = s / side
            shape = (max(1, round(size[0] * factor)), max(1, round(size[1] * factor)))
            x = (
                _noise(sample[:, :, : shape[0], : shape[1]].new_empty(1, 3, *shape), generator)
                if x is None
                else _resize(x, shape)
            )
            targets = style_targets(net, [(sample, 1.0)], max(8, round(base_side * factor)), check)

            def loss_fn(
                img: torch.Tensor, targets: dict[str, torch.Tensor] = targets
            ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
                feats = net.module(img, net.style_layers, check)
                ls = sum(
                    w * gram_loss(feats[name], targets[name])
                    for name, w in zip(net.style_layers, net.style_weights, strict=True)
                )
                return ls, {"style": ls.detach()}  # type: ignore[return-value,union-attr]

            x = optimise(x, loss_fn, "lbfgs", n, report, check=check)
    finally:
        net.module.set_padding("zeros")
    assert x is not None
    return x


def invert_features(
    net: LossNetwork,
    image: torch.Tensor,
    layer: str,
    *,
    evaluations: int = 200,
    tv_weight: float = 1e-2,
    beta: float = 2.0,
    seed: int = 0,
    progress: Progress | None = None,
    check: Callable[[], None] = _noop,
) -> torch.Tensor:
    """Mahendran & Vedaldi: an image whose `layer` features match `image`'s,
    from noise, with the TV-beta regulariser. Same size as `image`."""
    schedule = Schedule((max(image.shape[-2:]),), (evaluations,))
    report = _Reporter(progress, schedule)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        target = net.module(image, [layer], check)[layer]

    def loss_fn(img: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        lc = content_loss(net.module(img, [layer], check)[layer], target)
        tv = tv_beta(img, beta)
        return lc + tv_weight * tv, {"feature": lc.detach(), "tv": tv.detach()}

    return optimise(_noise(image, generator), loss_fn, "lbfgs", evaluations, report, check=check)
