"""Procedural colour style images the project makes (no files, no downloads).

Used by the stylize benchmark, the demo, tests and the fast-style presets.
Each function returns an (H, W, 3) float32 array in [0, 1], deterministic for
its seed (numpy's frozen `RandomState` stream).
"""

from __future__ import annotations

import functools
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


def _grid(side: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    return ys, xs


def _smooth_noise(side: int, rng: np.random.RandomState, cells: int) -> np.ndarray:
    """(side, side) value noise in [0, 1]: a cells x cells random grid, bicubic-ish upsampled."""
    from PIL import Image

    grid = (rng.rand(cells + 1, cells + 1) * 255).astype(np.uint8)
    up = Image.fromarray(grid).resize((side, side), Image.Resampling.BICUBIC)
    return np.asarray(up, np.float32) / 255.0


def tiles(side: int = 256, cell: int = 12, seed: int = 3) -> np.ndarray:
    """A Roman floor mosaic: small square tesserae in terracotta, ochre and
    slate along concentric bands, with pale grout lines."""
    rng = np.random.RandomState(seed)
    ys, xs = _grid(side)
    palette = np.array(
        [
            [0.72, 0.3, 0.16],
            [0.86, 0.64, 0.25],
            [0.25, 0.3, 0.38],
            [0.9, 0.86, 0.76],
            [0.5, 0.16, 0.12],
        ],
        np.float32,
    )
    cy, cx = ys // cell, xs // cell
    centre = side / cell / 2
    ring = np.sqrt((cy - centre) ** 2 + (cx - centre) ** 2)
    band = (ring // 2).astype(int) % len(palette)
    jitter = rng.randint(0, 3, (side // cell + 2, side // cell + 2))
    index = (band + (jitter[cy.astype(int), cx.astype(int)] == 0)) % len(palette)
    shade = 0.85 + 0.3 * rng.rand(side // cell + 2, side // cell + 2)
    image = palette[index] * shade[cy.astype(int), cx.astype(int)][..., None]
    gx, gy = xs % cell, ys % cell
    grout = ((gx < 2) | (gy < 2))[..., None]
    return np.clip(np.where(grout, np.float32(0.8), image), 0, 1).astype(np.float32)


def ink_wash(side: int = 256, seed: int = 4, scale: float = 1.0) -> np.ndarray:
    """Ink wash on warm paper: soft layered washes of blue-black ink with
    darker pooled edges and a few dry-brush strokes. `scale` < 1 makes the
    washes and strokes smaller (and the strokes more numerous)."""
    rng = np.random.RandomState(seed)
    paper = np.array([0.95, 0.92, 0.84], np.float32)
    ink = np.array([0.1, 0.12, 0.2], np.float32)
    density = np.zeros((side, side), np.float32)
    for level, cells in ((0.35, 3), (0.3, 6), (0.25, 12)):
        n = _smooth_noise(side, rng, max(1, round(cells / scale)))
        wash = np.clip((n - 0.55) * 6, 0, 1)
        # Pooled pigment at the wash's edge: where it is partly on.
        edge = np.clip(1 - np.abs(wash - 0.5) * 2, 0, 1) ** 2
        density += level * wash + 0.25 * edge
    ys, xs = _grid(side)
    for _ in range(round(14 / scale**2)):
        y0, x0 = rng.rand(2) * side
        angle = rng.rand() * np.pi
        u = (xs - x0) * np.cos(angle) + (ys - y0) * np.sin(angle)
        v = -(xs - x0) * np.sin(angle) + (ys - y0) * np.cos(angle)
        length = side * scale * (0.1 + 0.2 * rng.rand())
        width = max(1.0, scale * (2 + 4 * rng.rand()))
        bristles = 0.5 + 0.5 * np.sin(v * 2.7 + rng.rand() * 6)
        stroke = (np.abs(u) < length) & (np.abs(v) < width)
        density += 0.7 * stroke * bristles
    t = np.clip(density, 0, 1)[..., None]
    return (paper * (1 - t) + ink * t).astype(np.float32)


def pointillism(side: int = 256, dots: int = 5000, seed: int = 5) -> np.ndarray:
    """Seurat-like dots of pure colour over a sunny landscape: the dot colours
    are drawn around a smooth underlying scene (sky, trees, grass)."""
    rng = np.random.RandomState(seed)
    ys, xs = _grid(side)
    image = np.full((side, side, 3), 0.96, np.float32)
    horizon = 0.45 + 0.08 * np.sin(xs / side * 7)
    scene = np.where(
        (ys / side < horizon)[..., None],
        np.array([0.45, 0.7, 0.95], np.float32),
        np.array([0.3, 0.65, 0.2], np.float32),
    )
    trees = _smooth_noise(side, rng, 5) > 0.62
    scene = np.where(trees[..., None], np.array([0.12, 0.35, 0.2], np.float32), scene)
    pure = np.array(
        [
            [0.95, 0.85, 0.1],
            [0.9, 0.3, 0.1],
            [0.1, 0.4, 0.9],
            [0.2, 0.7, 0.3],
            [0.95, 0.5, 0.7],
            [0.5, 0.2, 0.7],
        ],
        np.float32,
    )
    radius = max(1.5, side / 110)
    pos = rng.rand(dots, 2) * side
    picks = rng.randint(0, len(pure), dots)
    mix = rng.rand(dots, 1) * 0.6
    r = int(np.ceil(radius))
    oy, ox = np.mgrid[-r : r + 1, -r : r + 1]
    disc = (oy**2 + ox**2) <= radius**2
    for (py, px), k, m in zip(pos, picks, mix, strict=True):
        iy, ix = int(py), int(px)
        base = scene[iy, ix]
        colour = base * (1 - m) + pure[k] * m
        yy, xx = iy + oy[disc], ix + ox[disc]
        ok = (yy >= 0) & (yy < side) & (xx >= 0) & (xx < side)
        image[yy[ok], xx[ok]] = colour
    return image


def swirls(side: int = 256, count: int = 1400, seed: int = 6) -> np.ndarray:
    """Swirling night sky: short thick strokes that follow vortices, yellow
    and white over deep and cobalt blue (after the post-impressionists)."""
    rng = np.random.RandomState(seed)
    image = np.zeros((side, side, 3), np.float32) + np.array([0.08, 0.12, 0.35], np.float32)
    centres = rng.rand(4, 2) * side
    spin = rng.choice([-1.0, 1.0], 4)
    palette = np.array(
        [
            [0.1, 0.2, 0.55],
            [0.2, 0.35, 0.75],
            [0.95, 0.85, 0.3],
            [0.9, 0.95, 0.95],
            [0.35, 0.55, 0.8],
            [0.05, 0.08, 0.25],
        ],
        np.float32,
    )
    length, width = side / 28, side / 110
    r = int(length + width) + 1
    oy, ox = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
    for _ in range(count):
        py, px = rng.rand(2) * side
        # Flow direction: the sum of the vortices' tangents, weighted by nearness.
        vy = vx = 0.0
        for (cy, cx), s in zip(centres, spin, strict=True):
            dy, dx = py - cy, px - cx
            d2 = dy * dy + dx * dx + (side / 10) ** 2
            vy, vx = vy + s * dx / d2, vx - s * dy / d2
        angle = np.arctan2(vy, vx)
        u = ox * np.cos(angle) + oy * np.sin(angle)
        v = -ox * np.sin(angle) + oy * np.cos(angle)
        mask = (np.abs(u) < length) & (np.abs(v) < width)
        yy, xx = (oy[mask] + int(py)).astype(int), (ox[mask] + int(px)).astype(int)
        ok = (yy >= 0) & (yy < side) & (xx >= 0) & (xx < side)
        near = min(np.hypot(py - cy, px - cx) for cy, cx in centres) / side
        k = rng.choice(len(palette), p=_swirl_weights(near))
        image[yy[ok], xx[ok]] = palette[k] * (0.85 + 0.3 * rng.rand())
    return np.clip(image, 0, 1)


def _swirl_weights(near: float) -> np.ndarray:
    # Light strokes gather close to the vortex centres, dark ones far away.
    light = float(np.clip(0.7 - 2.5 * near, 0.1, 0.7))
    w = np.array([0.3, 0.3, light, light * 0.5, 0.3, 0.2])
    return w / w.sum()


def cubist(side: int = 256, shards: int = 110, seed: int = 7, scale: float = 1.0) -> np.ndarray:
    """Facets: overlapping flat triangles in ochre, umber, olive and grey-blue
    with dark outlines, shaded across each facet. `scale` < 1 makes the
    facets smaller and `shards / scale^2` of them cover the image."""
    rng = np.random.RandomState(seed)
    ys, xs = _grid(side)
    palette = np.array(
        [
            [0.78, 0.6, 0.3],
            [0.45, 0.3, 0.18],
            [0.55, 0.55, 0.35],
            [0.4, 0.48, 0.55],
            [0.85, 0.78, 0.6],
            [0.25, 0.2, 0.15],
        ],
        np.float32,
    )
    image = np.zeros((side, side, 3), np.float32) + palette[4]
    for _ in range(round(shards / scale**2)):
        pts = (rng.rand(1, 2) * 1.2 - 0.1) * side + (rng.rand(3, 2) - 0.5) * side * 0.45 * scale
        inside = np.ones((side, side), bool)
        edge = np.full((side, side), np.inf, np.float32)
        for a, b in ((0, 1), (1, 2), (2, 0)):
            (y0, x0), (y1, x1) = pts[a], pts[b]
            cross = (x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0)
            sign = np.sign(
                (x1 - x0) * (pts[3 - a - b][0] - y0) - (y1 - y0) * (pts[3 - a - b][1] - x0)
            )
            inside &= cross * sign >= 0
            edge = np.minimum(edge, np.abs(cross) / (np.hypot(x1 - x0, y1 - y0) + 1e-6))
        colour = palette[rng.randint(0, len(palette))]
        tilt = (xs - pts[0][1]) * rng.randn() + (ys - pts[0][0]) * rng.randn()
        shade = 0.75 + 0.5 * tilt / (side * scale)
        fill = colour * np.clip(shade, 0.6, 1.25)[..., None]
        line = (edge < 1.6)[..., None]
        image = np.where(inside[..., None], np.where(line, np.float32(0.12), fill), image)
    return np.clip(image, 0, 1).astype(np.float32)


def watercolour(side: int = 256, blobs: int = 40, seed: int = 8) -> np.ndarray:
    """Transparent watercolour blots: pastel pigments that multiply where they
    overlap, with darker dried edges and paper grain."""
    rng = np.random.RandomState(seed)
    ys, xs = _grid(side)
    image = np.ones((side, side, 3), np.float32) * np.array([0.98, 0.96, 0.92], np.float32)
    pigments = np.array(
        [
            [0.95, 0.45, 0.55],
            [0.35, 0.6, 0.9],
            [0.98, 0.8, 0.3],
            [0.45, 0.8, 0.55],
            [0.7, 0.5, 0.85],
            [0.95, 0.6, 0.3],
        ],
        np.float32,
    )
    wobble = _smooth_noise(side, rng, 8)
    for _ in range(blobs):
        cy, cx = rng.rand(2) * side
        radius = side * (0.06 + 0.12 * rng.rand())
        d = np.hypot(ys - cy, xs - cx) / radius + 0.6 * (wobble - 0.5)
        body = np.clip((1.0 - d) * 4, 0, 1)
        rim = np.exp(-(((d - 0.95) / 0.06) ** 2))
        alpha = (0.35 * body + 0.35 * rim)[..., None]
        tint = pigments[rng.randint(0, len(pigments))]
        image = image * (1 - alpha + alpha * tint)
    grain = 0.97 + 0.03 * rng.rand(side, side, 1).astype(np.float32)
    return np.clip(image * grain, 0, 1).astype(np.float32)


STYLES: dict[str, Callable[[int], np.ndarray]] = {
    "mosaic": mosaic,
    "strokes": strokes,
    "waves": waves,
}

# The fast-style presets' sources: the stylize benchmark's three plus six more.
# Mosaic, cubist and ink wash are drawn with smaller marks than the benchmark's
# (cells about 16 px instead of 33, facets and washes at half size): the
# generator sees about 55 px around a pixel, and trained on the larger marks it
# only recoloured (docs/fast-style.md, "Mark size").
PRESET_STYLES: dict[str, Callable[[int], np.ndarray]] = {
    "mosaic": functools.partial(mosaic, cells=240),
    "strokes": strokes,
    "waves": waves,
    "tiles": tiles,
    "ink-wash": functools.partial(ink_wash, scale=0.5),
    "pointillism": pointillism,
    "swirls": swirls,
    "cubist": functools.partial(cubist, scale=0.5),
    "watercolour": watercolour,
}

# Presets whose Gatys targets start from the photo plus this much of the
# generator's coarse noise (`warpaint train style --seed-marks`): their marks
# are too big and too irregular to draw from texture statistics alone, and
# seeded, where each mark forms is something the generator reads
# (docs/fast-style.md, "Seeded marks").
PRESET_MARK_SEEDS: dict[str, float] = {"mosaic": 0.5, "ink-wash": 0.5, "cubist": 0.5}
