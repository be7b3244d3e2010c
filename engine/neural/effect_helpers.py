"""Helpers shared by the neural-optimisation effects (stylize, texture, inversion).

Effects run inside `torch.inference_mode()` (see `apply.run_effect`);
optimisation needs autograd, so these helpers leave it and copy the inputs
out of inference mode. Imported only inside `run`, so it may import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from warpaint.engine.core.tensors import to_numpy

if TYPE_CHECKING:
    from warpaint.engine.runtime.jobs import JobContext


def rgb(image: torch.Tensor) -> torch.Tensor:
    """(1, 4, H, W) straight RGBA -> a normal (non-inference) (1, 3, H, W) copy.

    Transparent pixels become mid-grey so they do not bias the statistics.
    """
    if image.ndim != 4 or image.shape[:2] != (1, 4):
        raise ValueError(f"expected a (1, 4, H, W) RGBA tensor, got {tuple(image.shape)}")
    alpha = image[:, 3:4]
    return (image[:, :3] * alpha + 0.5 * (1.0 - alpha)).float().clone()


def progress_reporter(
    ctx: JobContext, rgba_alpha: torch.Tensor | None = None
) -> Callable[[float, torch.Tensor, dict[str, float]], None]:
    """A `progress` callback for `warpaint.engine.features.stylize.optim` that sends previews.

    The preview is (h, w, 4) float32 at the current optimisation scale (the
    GUI stretches it over the layer); the loss history so far travels as the
    progress `data` ({"losses": [(fraction, {name: value}), ...]}, read from
    `job.data`) for a panel that plots the curves.
    """
    history: list[tuple[float, dict[str, float]]] = []

    def report(fraction: float, x: torch.Tensor, losses: dict[str, float]) -> None:
        history.append((fraction, dict(losses)))
        preview = to_numpy(with_alpha(x, rgba_alpha))
        ctx.report(0.98 * fraction, preview=preview, data={"losses": list(history)})

    return report


def with_alpha(x: torch.Tensor, rgba: torch.Tensor | None) -> torch.Tensor:
    """(1, 3, h, w) RGB + the alpha of `rgba` resized to it (opaque if None)."""
    if rgba is None:
        return torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
    alpha = torch.nn.functional.interpolate(
        rgba[:, 3:4].float(), size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False
    )
    return torch.cat([x, alpha.clamp(0.0, 1.0)], dim=1)


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    up = size[0] > x.shape[-2]
    return torch.nn.functional.interpolate(
        x, size=size, mode="bicubic" if up else "bilinear", align_corners=False, antialias=not up
    ).clamp(0.0, 1.0)
