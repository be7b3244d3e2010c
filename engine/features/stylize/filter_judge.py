"""A fixed judge of stylization results by random filter banks, for benchmarks.

Fixed before any tuning and never used as a loss: its filters are drawn once
from `numpy.random.RandomState(20261207)`, a stream no loss network uses, so
an effect optimised against a network cannot game it (it shares only the
idea of a Gram matrix). Two views of an image, each at 3 octaves:

- `style`: 32 random 5x5 filters over the RGB image (centred at 0.5), ReLU;
- `high_pass`: 32 random 5x5 filters over the RGB detail (the image minus a
  binomial 5x5 blur), ReLU: the strokes, cells and edges that make a texture.

A view's distance is the mean over octaves of ||G(a) - G(b)||^2 / ||G(b)||^2
(Gram matrices of the filter responses, divided by the number of positions).
Each is reported as a ratio to the content photo's own distance to the style:
0 is the style's statistics, 1 is no closer than the photo. Content is the
luminance SSIM of `style_judge.content_similarity`.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
from torch.nn import functional as F

OCTAVES = 3
FILTERS = 32
KERNEL = 5


@cache
def _banks() -> tuple[torch.Tensor, torch.Tensor]:
    """Two (FILTERS, 3, KERNEL, KERNEL) float32 banks, zero-mean, unit norm."""
    rng = np.random.RandomState(20261207)
    banks = []
    for _ in range(2):
        w = rng.standard_normal((FILTERS, 3, KERNEL, KERNEL))
        w -= w.mean(axis=(1, 2, 3), keepdims=True)
        w /= np.sqrt((w**2).sum(axis=(1, 2, 3), keepdims=True))
        banks.append(torch.from_numpy(w.astype(np.float32)))
    return banks[0], banks[1]


def _blur(x: torch.Tensor) -> torch.Tensor:
    taps = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype) / 16.0
    kernel = (taps[:, None] * taps[None, :]).expand(3, 1, 5, 5).contiguous()
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel, groups=3)


def _grams(image: np.ndarray) -> dict[str, list[torch.Tensor]]:
    """(H, W, 3|4) float in [0, 1] -> per view, one (FILTERS, FILTERS) Gram per octave."""
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3|4) image, got {image.shape}")
    rgb = np.clip(image[..., :3].astype(np.float32), 0.0, 1.0)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous()
    style_bank, detail_bank = _banks()
    out: dict[str, list[torch.Tensor]] = {"style": [], "high_pass": []}
    with torch.no_grad():
        for _ in range(OCTAVES):
            for view, inp, bank in (
                ("style", x - 0.5, style_bank),
                ("high_pass", x - _blur(x), detail_bank),
            ):
                r = F.relu(F.conv2d(inp, bank)).flatten(2)[0].double()
                out[view].append(r @ r.T / r.shape[1])
            if min(x.shape[-2:]) < 32:
                break
            x = F.avg_pool2d(_blur(x), 2)
    return out


def _distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    n = min(len(a), len(b))
    return float(
        np.mean(
            [
                float((a[i] - b[i]).square().sum() / b[i].square().sum().clamp_min(1e-20))
                for i in range(n)
            ]
        )
    )


def filter_judge(result: np.ndarray, style: np.ndarray, content: np.ndarray) -> dict[str, float]:
    """Judged figures of one stylization, all (H, W, 3|4) float images in [0, 1].

    Returns style_ratio and high_pass_ratio (lower is closer to the style;
    each the result's distance over the content's own) and content_ssim.
    """
    from warpaint.engine.neural.style_judge import content_similarity

    r, s, c = _grams(result), _grams(style), _grams(content)
    figures = {}
    for view in ("style", "high_pass"):
        own = _distance(c[view], s[view])
        figures[f"{view}_ratio"] = round(_distance(r[view], s[view]) / max(own, 1e-20), 4)
    figures["content_ssim"] = round(content_similarity(result, content), 4)
    return figures
