"""Image helpers the quality benchmarks share (not a benchmark: `_` keeps it out of discovery)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def fit_rgb(image: np.ndarray, side: int) -> np.ndarray:
    """(h, w, 3) float32 in [0, 1], long side `side`: an image (uint8 or float, RGB
    or RGBA) resized with anti-aliasing, as every judged pair is prepared."""
    from skimage import transform

    a = image[..., :3] / 255.0 if image.dtype == np.uint8 else image[..., :3]
    h, w = a.shape[:2]
    s = side / max(h, w)
    size = (round(h * s), round(w * s))
    return transform.resize(a, size, anti_aliasing=True).astype(np.float32)


def to_batch(a: np.ndarray, device: str) -> torch.Tensor:
    """(H, W, C) array -> (1, C, H, W) tensor on `device`."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].to(device)
