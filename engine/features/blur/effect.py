"""Gaussian blur: the reference effect that carries the pipeline end to end.

Separable convolution with a sampled, normalised Gaussian, on premultiplied
alpha (so transparent pixels do not darken edges), reflect padding at the
image border. Work is done in row bands so Cancel acts quickly on huge images.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warpaint.engine.runtime.params import Param, ParamType
from warpaint.engine.runtime.registry import EffectSpec

if TYPE_CHECKING:
    import torch

    from warpaint.engine.runtime.jobs import JobContext

MAX_SIGMA = 50.0

SPEC = EffectSpec(
    id="gaussian-blur",
    title="Gaussian blur",
    category="Blur",
    description="Soften the layer with a Gaussian of the given standard deviation.",
    preview_on_open=True,
    params=(
        Param(
            "sigma",
            "Radius (sigma, px)",
            ParamType.NUMBER,
            default=3.0,
            min=0.0,
            max=MAX_SIGMA,
            step=0.1,
            spatial=True,
        ),
    ),
    # 3 sigma holds 99.7 % of the kernel; tiles with this halo are exact.
    tile_halo=int(3 * MAX_SIGMA) + 1,
)

BAND_ROWS = 128
# Multiply-adds per band (~50 ms on one modest core): bands shrink as the
# kernel and the image width grow, so Cancel is honoured within 0.5 s.
BAND_WORK = 5e7


def gaussian_kernel1d(sigma: float, device: Any = "cpu") -> torch.Tensor:
    """(2r+1,) float32 normalised Gaussian with r = ceil(3 sigma)."""
    import torch

    radius = max(1, int(torch.tensor(3.0 * sigma).ceil().item()))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(image: torch.Tensor, sigma: float, ctx: JobContext | None = None) -> torch.Tensor:
    """Blur (N, C, H, W) float32 per channel; sigma in pixels (0 returns a copy).

    Borders reflect (needs H, W > radius; smaller images fall back to
    replicate padding).
    """
    import torch.nn.functional as F

    if image.ndim != 4:
        raise ValueError(f"expected (N, C, H, W), got {tuple(image.shape)}")
    if sigma <= 0:
        return image.clone()
    n, c, h, w = image.shape
    k = gaussian_kernel1d(sigma, image.device).to(image.dtype)
    r = k.numel() // 2
    mode = "reflect" if h > r and w > r else "replicate"
    kx = k.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    ky = k.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    padded = F.pad(image, (r, r, r, r), mode=mode)
    if ctx is not None:
        ctx.check()
    out = image.new_empty(image.shape)
    band_rows = max(4, min(BAND_ROWS, int(BAND_WORK / (2 * n * c * (w + 2 * r) * k.numel()))))
    for y in range(0, h, band_rows):
        if ctx is not None:
            ctx.report(y / h)  # a cancellation point too
        rows = min(band_rows, h - y)
        band = padded[:, :, y : y + rows + 2 * r]
        band = F.conv2d(band, ky, groups=c)
        out[:, :, y : y + rows] = F.conv2d(band, kx, groups=c)
    return out


def run(ctx: JobContext, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    from warpaint.engine.core.tensors import premultiply, unpremultiply

    # A check between whole-image steps too: on a 4096^2 layer each costs ~0.1 s.
    weighted = premultiply(image)
    ctx.check()
    blurred = gaussian_blur(weighted, float(params["sigma"]), ctx)
    ctx.check()
    return unpremultiply(blurred)
