"""The style's fine texture carried onto a decoded AdaIN result, in pixels.

The decoder paints from relu3_1 features at a quarter of the resolution and
its thin full-resolution layers draw little fine detail: strokes, cells and
grain arrive as colour fields. This step gives the decoded result the
style's detail statistics directly, in two passes (Heeger & Bergen's
texture synthesis, started from the result instead of from noise):

1. Spectrum: in the style's colour principal axes, the result's power
   spectrum (Welch: Hann-windowed 64 px tiles) is equalised to the style's,
   frequency by frequency (one FFT of the result with mirrored margins),
   above 0.08 cycles/px (the gain within 1/`MAX_GAIN`..`MAX_GAIN`). The
   style's orientations come with it: a hatching's direction is a ridge in
   its spectrum.
2. Marginals: the result's three finest Laplacian bands, per principal
   axis, are mapped to the style's same band's quantiles (piecewise linear
   between 31 quantiles), which brings the style's sparse marks and hard
   edges rather than only their energy.

The change is taken in full in the chroma and at `LUMA_SHARE` in the
luminance (YIQ), so the subject's light and shade keep their shapes, and
scaled by `amount`. Nothing is trained; the style's part is computed once
per style (`style_texture`) and the step costs a few FFTs and three
Laplacian levels per image.

Images are (1, 3, H, W) RGB float tensors in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from warpaint.engine.core.pyramid import collapse, laplacian_pyramid, max_levels

LEVELS = 3  # Laplacian bands remapped: detail up to about 8 px
TILE = 64  # Welch tile side: frequency resolution 1/64 cycles/px
LOW_CUT = 0.08  # below this (cycles/px) the spectrum is kept; full gain from twice it
MAX_GAIN = 8.0
# The luminance's share of the change: 0.5 was chosen on the three reference
# pairs; 0.65 met the texture goal on 15 of 24 pairs not chosen on (14 at 0.5)
# and then on 20 of 24 new ones (19), the reference pairs still met
# (docs/arbitrary-style.md, "The luminance's share").
LUMA_SHARE = 0.65
# Quantile levels: dense in the tails, where a sparse texture's marks are.
QUANTILES = (0.0, 0.002, 0.01, 0.03, *(0.06 + 0.04 * i for i in range(23)), 0.97, 0.99, 0.998, 1.0)
# Subsampling strides per band when measuring quantiles (the result is
# measured every run, the style once).
_RESULT_STRIDE = (4, 2, 1)
_STYLE_STRIDE = (2, 1, 1)
_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))
_LUT_BINS = 1024


@dataclass(frozen=True)
class StyleTexture:
    """What the texture step needs of a style (or a mix of styles).

    basis: (3, 3) colour principal axes, columns; band_quantiles: per
    Laplacian band, (3, Q) quantiles of the band on those axes; spectrum:
    (3, TILE, TILE // 2 + 1) Welch power spectrum on those axes, or None for
    a style smaller than a tile.
    """

    basis: torch.Tensor
    band_quantiles: tuple[torch.Tensor, ...]
    spectrum: torch.Tensor | None


def _check(image: torch.Tensor, name: str) -> None:
    if image.ndim != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"{name}: expected a (1, 3, H, W) image, got {tuple(image.shape)}")


def _project(image: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) RGB -> (1, 3, H, W) coordinates on the basis' columns."""
    return (basis.T @ image.reshape(3, -1)).view(image.shape)


def _unproject(coords: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    return (basis @ coords.reshape(3, -1)).view(coords.shape)


def _levels(*images: torch.Tensor) -> int:
    return min(LEVELS, *(max_levels(x.shape[-2], x.shape[-1]) for x in images))


def _quantiles(band: torch.Tensor, stride: int) -> torch.Tensor:
    """(3, h, w) -> (3, Q) quantiles of a strided subsample."""
    sample = band[:, ::stride, ::stride].reshape(band.shape[0], -1)
    n = sample.shape[1]
    index = [round(q * (n - 1)) for q in QUANTILES]
    if sample.device.type == "cpu":
        # numpy's sort is many times faster than torch's on the CPU here
        # (0.5 ms against 12-50 ms for 3 x 16k values).
        values = np.sort(sample.detach().float().numpy(), axis=1)[:, index]
        return torch.from_numpy(values).to(band.dtype)
    return sample.sort(dim=1).values[:, torch.tensor(index, device=band.device)]


def _remap(band: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(3, h, w) values mapped piecewise-linearly from `source` knots to
    `target` knots, (3, Q) each, through a per-channel table of `_LUT_BINS`
    bins (nearest bin: a step of 1/1024 of the band's range)."""
    lo, hi = source[:, :1], source[:, -1:]
    span = (hi - lo).clamp_min(1e-12)
    steps = torch.linspace(0.0, 1.0, _LUT_BINS, device=band.device, dtype=band.dtype)
    grid = (lo + span * steps).contiguous()
    i = torch.searchsorted(source.contiguous(), grid).clamp(1, source.shape[1] - 1)
    x0, x1 = source.gather(1, i - 1), source.gather(1, i)
    y0, y1 = target.gather(1, i - 1), target.gather(1, i)
    table = y0 + (grid - x0) / (x1 - x0).clamp_min(1e-12) * (y1 - y0)
    scale = (_LUT_BINS - 1) / span
    index = torch.addcmul(0.5 - lo * scale, band.reshape(3, -1), scale)
    index = index.clamp_(0, _LUT_BINS - 1).long()
    return table.gather(1, index).view_as(band)


def _welch(coords: torch.Tensor, stride: int) -> torch.Tensor:
    """(1, 3, H, W) -> (3, TILE, TILE // 2 + 1) mean power of windowed tiles."""
    tiles = coords.unfold(2, TILE, stride).unfold(3, TILE, stride)
    tiles = tiles - tiles.mean((-1, -2), keepdim=True)
    window = torch.hann_window(TILE, periodic=False, dtype=coords.dtype, device=coords.device)
    power = torch.fft.rfft2(tiles * (window[:, None] * window[None, :])).abs().square()
    return power.mean((0, 2, 3))


def _gain(style: torch.Tensor, result: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The (3, h, w // 2 + 1) rfft2 gain that moves `result`'s Welch spectrum
    to `style`'s: 1 below LOW_CUT, the ratio of amplitudes above 2 LOW_CUT."""
    ratio = ((style + 1e-10) / (result + 1e-10)).sqrt().clamp(1.0 / MAX_GAIN, MAX_GAIN)
    centred = torch.fft.fftshift(ratio, dim=1)  # rows from -1/2 up, columns 0..1/2
    fy = torch.fft.fftfreq(h, device=result.device)[:, None].expand(h, w // 2 + 1)
    fx = torch.fft.rfftfreq(w, device=result.device)[None, :].expand(h, -1)
    grid = torch.stack(
        [fx * TILE / (TILE // 2) * 2 - 1, (fy * TILE + TILE // 2) / (TILE - 1) * 2 - 1], -1
    )
    gain = F.grid_sample(
        centred[None], grid[None].to(ratio.dtype), align_corners=True, padding_mode="border"
    )[0]
    ramp = (((fy.square() + fx.square()).sqrt() - LOW_CUT) / LOW_CUT).clamp(0.0, 1.0)
    return 1.0 + (gain - 1.0) * ramp.to(gain.dtype)


def style_texture(styles: Sequence[tuple[torch.Tensor, float]]) -> StyleTexture:
    """The texture statistics of (1, 3, h, w) styles mixed by weight.

    The colour axes are the principal axes of the weighted mix's colours;
    each style's band quantiles and spectrum are measured on them and mixed
    by weight (quantiles mixed are the displacement interpolation of the
    bands' distributions).
    """
    if not styles:
        raise ValueError("style_texture needs at least one style")
    for style, _ in styles:
        _check(style, "style")
    total = float(sum(w for _, w in styles))
    if total <= 0:
        raise ValueError("style weights must add up to more than zero")
    weights = [float(w) / total for _, w in styles]
    flats = [s[0].reshape(3, -1).double() for s, _ in styles]
    mean = sum(w * f.mean(1, keepdim=True) for f, w in zip(flats, weights, strict=True))
    cov = sum(
        w * (f - mean) @ (f - mean).T / f.shape[1] for f, w in zip(flats, weights, strict=True)
    )
    basis = torch.linalg.eigh(cov)[1].to(styles[0][0].dtype)  # type: ignore[arg-type]
    coords = [_project(s, basis) for s, _ in styles]
    levels = _levels(*coords)
    quantiles: list[torch.Tensor] = [torch.zeros(())] * levels
    for c, w in zip(coords, weights, strict=True):
        bands = laplacian_pyramid(c, levels)
        for level in range(levels):
            band = _quantiles(bands[level][0], _STYLE_STRIDE[level])
            quantiles[level] = quantiles[level] + w * band
    spectrum = None
    if min(min(c.shape[-2:]) for c in coords) >= TILE:
        spectrum = sum(w * _welch(c, TILE // 2) for c, w in zip(coords, weights, strict=True))
    return StyleTexture(basis, tuple(quantiles), spectrum)  # type: ignore[arg-type]


def carry_texture(
    result: torch.Tensor,
    texture: StyleTexture,
    amount: float = 1.0,
    luma_share: float = LUMA_SHARE,
) -> torch.Tensor:
    """(1, 3, H, W) decoded result -> (1, 3, H, W) in [0, 1] with the style's
    detail statistics, the change scaled by `amount` (0 returns `result`) and
    its luminance by `luma_share`."""
    _check(result, "result")
    if amount == 0.0:
        return result
    basis = texture.basis.to(result)
    h, w = result.shape[-2:]
    coords = _project(result, basis)
    if texture.spectrum is not None and min(h, w) >= TILE:
        # Mirrored margins: the FFT sees the image as periodic, and the jump
        # from one side to the other would be amplified into streaks.
        m = TILE // 2
        padded = F.pad(coords, (m, m, m, m), mode="reflect")
        ph, pw = h + 2 * m, w + 2 * m
        gain = _gain(texture.spectrum.to(result), _welch(coords, TILE), ph, pw)
        coords = torch.fft.irfft2(torch.fft.rfft2(padded) * gain, s=(ph, pw))[..., m:-m, m:-m]
        # Back inside the colour cube before the bands' marginals are matched.
        coords = _project(_unproject(coords, basis).clamp(0.0, 1.0), basis)
    levels = min(_levels(coords), len(texture.band_quantiles))
    if levels:
        bands = laplacian_pyramid(coords, levels)
        for level in range(levels):
            band = bands[level][0]
            source = _quantiles(band, _RESULT_STRIDE[min(level, len(_RESULT_STRIDE) - 1)])
            bands[level] = _remap(band, source, texture.band_quantiles[level].to(band))[None]
        coords = collapse(bands)
    # Removing (1 - luma_share) of the change's luminance along RGB's grey
    # axis leaves its I and Q (grey has none) and scales its Y: one 3x3 map.
    y = torch.tensor(_YIQ[0], dtype=result.dtype, device=result.device)
    keep = torch.eye(3, dtype=result.dtype, device=result.device) - (1.0 - luma_share) * y[None, :]
    change = (keep @ basis) @ coords.reshape(3, -1) - keep @ result.reshape(3, -1)
    out = result.reshape(3, -1) + amount * change
    return out.clamp_(0.0, 1.0).view(result.shape)
