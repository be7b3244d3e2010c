"""Resampling of engine images (numpy, (H, W, C) float32), alpha-correct.

Colour is resampled premultiplied by alpha so transparent pixels do not bleed
their (invisible) colour into edges.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}


def resize(image: np.ndarray, width: int, height: int, method: str = "lanczos") -> np.ndarray:
    """(H, W, C) float32 -> (height, width, C) float32; C = 4 is treated as RGBA."""
    if width < 1 or height < 1:
        raise ValueError(f"bad target size {width}x{height}")
    if (image.shape[1], image.shape[0]) == (width, height):
        return image.astype(np.float32, copy=True)
    rgba = image.shape[2] == 4
    work = image.astype(np.float32, copy=True)
    if rgba:
        work[..., :3] *= work[..., 3:4]
    resample = FILTERS[method]
    out = np.empty((height, width, image.shape[2]), np.float32)
    for c in range(image.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(work[..., c]), mode="F")
        out[..., c] = np.asarray(plane.resize((width, height), resample), np.float32)
    np.clip(out, 0.0, 1.0, out=out)
    if rgba:
        alpha = out[..., 3:4]
        np.divide(out[..., :3], alpha, out=out[..., :3], where=alpha > 1e-6)
        out[..., :3][np.broadcast_to(alpha <= 1e-6, out[..., :3].shape)] = 0.0
        np.clip(out, 0.0, 1.0, out=out)
    return out


def fit_scale(width: int, height: int, max_side: int) -> float:
    """The factor (<= 1) that makes the longer side at most `max_side`."""
    return min(1.0, max_side / max(width, height))
