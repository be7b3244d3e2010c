"""Procedural colour style images the project makes (no files, no downloads).

Used by the stylize benchmark, the demo and tests. Each function returns an
(H, W, 3) float32 array in [0, 1], deterministic for its seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def mosaic(side: int = 256, cells: int = 60, seed: int = 0) -> np.ndarray:
    """Stained-glass cells: saturated flat colours with dark lead lines."""
    rng = np.random.RandomState(seed)
    points = rng.rand(cells, 2) * side
    palette = np.array(
        [[0.85, 0.15, 0.1], [0.95, 0.75, 0.1], [0.1, 0.35, 0.8], [0.1, 0.6, 0.3], [0.6, 0.2, 0.7]]
    )
    colours = palette[rng.randint(0, len(palette), cells)] * (0.8 + 0.2 * rng.rand(cells, 1))
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    d = (ys[..., None] - points[:, 0]) ** 2 + (xs[..., None] - points[:, 1]) ** 2
    order = np.argsort(d, axis=2)
    nearest, second = order[..., 0], order[..., 1]
    d1 = np.sqrt(np.take_along_axis(d, nearest[..., None], 2)[..., 0])
    d2 = np.sqrt(np.take_along_axis(d, second[..., None], 2)[..., 0])
    image = colours[nearest]
    edge = np.clip((d2 - d1) / 3.0, 0.0, 1.0)[..., None]
    return (image * edge + 0.08 * (1 - edge)).astype(np.float32)


def strokes(side: int = 256, count: int = 900, seed: int = 1) -> np.ndarray:
    """Short diagonal brush strokes in warm and cool paint on a canvas tone."""
    rng = np.random.RandomState(seed)
    image = np.ones((side, side, 3), np.float32) * np.array([0.93, 0.88, 0.75], np.float32)
    palette = np.array(
        [[0.1, 0.2, 0.55], [0.95, 0.8, 0.2], [0.2, 0.45, 0.75], [0.9, 0.45, 0.1], [0.05, 0.1, 0.2]],
        np.float32,
    )
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    for _ in range(count):
        cy, cx = rng.rand(2) * side
        angle = 0.7 + 0.4 * rng.randn()
        length, width = 6 + 10 * rng.rand(), 1.5 + 1.5 * rng.rand()
        u = (xs - cx) * np.cos(angle) + (ys - cy) * np.sin(angle)
        v = -(xs - cx) * np.sin(angle) + (ys - cy) * np.cos(angle)
        inside = (np.abs(u) < length) & (np.abs(v) < width)
        colour = palette[rng.randint(0, len(palette))] * (0.85 + 0.3 * rng.rand())
        image[inside] = np.clip(colour, 0, 1)
    return image


def waves(side: int = 256, seed: int = 2) -> np.ndarray:
    """Curling bands of deep blue, teal and foam white."""
    rng = np.random.RandomState(seed)
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32) / side
    phase = rng.rand() * 6.28
    field = np.sin(18 * ys + 3 * np.sin(9 * xs + phase) + 2 * np.sin(23 * xs * ys))
    t = (field + 1) / 2
    deep = np.array([0.05, 0.12, 0.4], np.float32)
    teal = np.array([0.1, 0.55, 0.65], np.float32)
    foam = np.array([0.95, 0.95, 0.9], np.float32)
    image = np.where(t[..., None] < 0.5, deep + (teal - deep) * (2 * t[..., None]), teal)
    crest = np.clip((t - 0.85) / 0.1, 0, 1)[..., None]
    return (image * (1 - crest) + foam * crest).astype(np.float32)


STYLES: dict[str, Callable[[int], np.ndarray]] = {
    "mosaic": mosaic,
    "strokes": strokes,
    "waves": waves,
}
