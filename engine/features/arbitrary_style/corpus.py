"""A procedural corpus of painting-like style images, deterministic from an index.

Used to train the arbitrary-style (AdaIN) decoder and to benchmark it on
styles it never saw. No files, no downloads: every image is drawn with
vectorised numpy from `numpy.random.default_rng((CORPUS_SEED, index))`, so
image `i` is the same on every machine and in every process.

Each image is one base layer (a wash, stripes, a geometric pattern or a
mosaic) with up to two overlays (brush strokes, dots, fine grain, hatching)
in a palette drawn at random from a colour harmony (analogous,
complementary, triadic, warm/cool or muted). Indices divisible by
`HELD_OUT_EVERY` are held out: `training_indices` never yields them, so a
benchmark on `held_out_indices` measures styles the decoder never saw.

Images are (side, side, 3) float32 in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

CORPUS_SEED = 20260
HELD_OUT_EVERY = 8
BASES: tuple[str, ...] = ("wash", "stripes", "geometric", "mosaic")
OVERLAYS: tuple[str, ...] = ("strokes", "dots", "grain", "hatching")


def is_held_out(index: int) -> bool:
    """Whether style `index` belongs to the held-out (never trained on) subset."""
    return index % HELD_OUT_EVERY == 0


def training_indices(count: int, start: int = 0) -> list[int]:
    """The first `count` training indices at or after `start` (no held-out ones)."""
    out: list[int] = []
    index = start
    while len(out) < count:
        if not is_held_out(index):
            out.append(index)
        index += 1
    return out


def held_out_indices(count: int) -> list[int]:
    """The first `count` held-out indices (0, 8, 16, ...)."""
    return [i * HELD_OUT_EVERY for i in range(count)]


def style_image(index: int, side: int = 256) -> np.ndarray:
    """Style `index` as a (side, side, 3) float32 image in [0, 1]."""
    if index < 0:
        raise ValueError(f"style indices start at 0, got {index}")
    if side < 8:
        raise ValueError(f"style images need at least 8 px, got {side}")
    rng = np.random.default_rng((CORPUS_SEED, index))
    palette, base, overlays = _recipe(rng)
    image = _BASE_FNS[base](rng, side, palette)
    for overlay in overlays:
        image = _OVERLAY_FNS[overlay](rng, image, palette)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def describe(index: int) -> str:
    """'base + overlay + ...': what style `index` is made of."""
    _, base, overlays = _recipe(np.random.default_rng((CORPUS_SEED, index)))
    return " + ".join((base, *overlays))


def _recipe(rng: np.random.Generator) -> tuple[np.ndarray, str, tuple[str, ...]]:
    """The palette and layer names, drawn before any pixels (so `describe` is cheap)."""
    palette = _palette(rng)
    base = BASES[int(rng.integers(len(BASES)))]
    count = int(rng.choice([0, 1, 1, 2]))
    overlays = tuple(OVERLAYS[int(i)] for i in rng.integers(len(OVERLAYS), size=count))
    return palette, base, overlays


def corpus(indices: list[int], side: int = 256) -> Iterator[np.ndarray]:
    for index in indices:
        yield style_image(index, side)


# -- palettes -------------------------------------------------------------------


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV (all in [0, 1]) -> (..., 3) RGB."""
    i = np.floor(h * 6.0).astype(int) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack(
        [
            np.stack([v, t, p], -1),
            np.stack([q, v, p], -1),
            np.stack([p, v, t], -1),
            np.stack([p, q, v], -1),
            np.stack([t, p, v], -1),
            np.stack([v, p, q], -1),
        ],
        0,
    )
    return np.take_along_axis(table, i[None, ..., None].repeat(3, -1), 0)[0]


def _palette(rng: np.random.Generator) -> np.ndarray:
    """(k, 3) colours from a random harmony, k in 3..6, dark to light."""
    k = int(rng.integers(3, 7))
    harmony = int(rng.integers(5))
    h0 = rng.random()
    if harmony == 0:  # analogous
        hues = h0 + rng.uniform(-0.08, 0.08, k)
    elif harmony == 1:  # complementary
        hues = h0 + 0.5 * rng.integers(0, 2, k) + rng.uniform(-0.04, 0.04, k)
    elif harmony == 2:  # triadic
        hues = h0 + rng.integers(0, 3, k) / 3.0 + rng.uniform(-0.03, 0.03, k)
    elif harmony == 3:  # warm against cool
        hues = np.where(rng.random(k) < 0.5, rng.uniform(-0.05, 0.15, k), rng.uniform(0.5, 0.7, k))
    else:  # anything
        hues = rng.random(k)
    muted = harmony == 4 and rng.random() < 0.5
    sat = rng.uniform(0.15, 0.5, k) if muted else rng.uniform(0.45, 1.0, k)
    val = np.sort(rng.uniform(0.15, 1.0, k))
    # A dark and a light anchor make most palettes span a real tonal range.
    val[0] = min(val[0], rng.uniform(0.05, 0.35))
    val[-1] = max(val[-1], rng.uniform(0.8, 1.0))
    return _hsv_to_rgb(hues % 1.0, sat, val).astype(np.float32)


def _ramp(palette: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Map t in [0, 1] (any shape) through the palette as a piecewise-linear gradient."""
    k = len(palette)
    x = np.clip(t, 0.0, 1.0) * (k - 1)
    lo = np.minimum(np.floor(x).astype(int), k - 2)
    frac = (x - lo)[..., None]
    return palette[lo] * (1 - frac) + palette[lo + 1] * frac


# -- noise ------------------------------------------------------------------------


def _upsample(grid: np.ndarray, side: int) -> np.ndarray:
    """Bilinear upsampling of a (g, g) grid to (side, side)."""
    g = grid.shape[0]
    coords = np.linspace(0, g - 1, side)
    i0 = np.minimum(np.floor(coords).astype(int), g - 2)
    f = coords - i0
    rows = grid[i0] * (1 - f)[:, None] + grid[i0 + 1] * f[:, None]
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i0 + 1] * f[None, :]


def _fractal(rng: np.random.Generator, side: int, cells: int, octaves: int = 4) -> np.ndarray:
    """Smooth value noise in [0, 1] with `octaves` halving amplitudes."""
    out = np.zeros((side, side))
    amp, total = 1.0, 0.0
    for o in range(octaves):
        g = min(side, cells * 2**o) + 2
        out += amp * _upsample(rng.random((g, g)), side)
        total += amp
        amp *= 0.5
    out /= total
    return (out - out.min()) / max(out.max() - out.min(), 1e-6)


def _worley(
    rng: np.random.Generator, side: int, cells: int, angle: np.ndarray | None, stretch: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jittered-grid Voronoi: (nearest cell id, distance to it, gap to the 2nd).

    Each grid cell holds one random point and a pixel only compares the 3x3
    cells around its own, so it costs 9 distances per pixel. With `angle`
    (per-pixel radians) distances are measured in a frame stretched along
    that direction: elongated cells read as brush strokes.
    """
    cell = side / cells
    jitter = rng.random((cells + 2, cells + 2, 2))
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32) + 0.5
    cy, cx = np.floor(ys / cell).astype(int), np.floor(xs / cell).astype(int)
    best = np.full((side, side), np.inf)
    second = np.full((side, side), np.inf)
    ident = np.zeros((side, side), int)
    if angle is not None:
        ca, sa = np.cos(angle), np.sin(angle)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            gy = np.clip(cy + dy, -1, cells) + 1
            gx = np.clip(cx + dx, -1, cells) + 1
            py = (gy - 1 + jitter[gy, gx, 0]) * cell
            px = (gx - 1 + jitter[gy, gx, 1]) * cell
            vy, vx = ys - py, xs - px
            if angle is not None:
                u = vx * ca + vy * sa
                v = -vx * sa + vy * ca
                d = np.sqrt(u * u / stretch + v * v * stretch)
            else:
                d = np.sqrt(vx * vx + vy * vy)
            closer = d < best
            second = np.where(closer, best, np.minimum(second, d))
            ident = np.where(closer, gy * (cells + 2) + gx, ident)
            best = np.where(closer, d, best)
    return ident, best / cell, (second - best) / cell


# -- bases ------------------------------------------------------------------------


def _wash(rng: np.random.Generator, side: int, palette: np.ndarray) -> np.ndarray:
    """Watercolour-like washes: warped smooth noise through the palette, dark rims."""
    t = _fractal(rng, side, int(rng.integers(2, 6)))
    warp = _fractal(rng, side, int(rng.integers(2, 5)))
    t = (t + rng.uniform(0.2, 0.8) * np.sin(6.28 * warp * rng.uniform(1, 3))) * 0.5 + 0.25
    levels = int(rng.integers(0, 6))
    if levels >= 3:  # pooled pigment: posterised bands with soft darker edges
        q = np.round(t * levels) / levels
        rim = np.clip(1 - np.abs(t * levels - np.round(t * levels)) * 4, 0, 1)
        t = q - 0.08 * rim
    return _ramp(palette, (t - t.min()) / max(np.ptp(t), 1e-6))


def _stripes(rng: np.random.Generator, side: int, palette: np.ndarray) -> np.ndarray:
    """Bands, waves or rings, warped by smooth noise."""
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float64) / side
    angle = rng.random() * np.pi
    freq = rng.uniform(3, 25)
    warp = _fractal(rng, side, int(rng.integers(2, 5))) * rng.uniform(0, 1.5)
    if rng.random() < 0.3:
        cy, cx = rng.random(2)
        coord = np.hypot(ys - cy, xs - cx)
    else:
        coord = xs * np.cos(angle) + ys * np.sin(angle)
    phase = 2 * np.pi * (freq * coord + warp)
    t = 0.5 + 0.5 * np.sin(phase)
    if rng.random() < 0.5:  # hard-edged bands
        t = np.floor(t * len(palette) * 0.999) / max(len(palette) - 1, 1)
    return _ramp(palette, t)


def _geometric(rng: np.random.Generator, side: int, palette: np.ndarray) -> np.ndarray:
    """Rotated checkers, triangles or diamonds with palette fills."""
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float64)
    angle = rng.random() * np.pi / 2
    size = side / rng.uniform(3, 16)
    u = (xs * np.cos(angle) + ys * np.sin(angle)) / size
    v = (-xs * np.sin(angle) + ys * np.cos(angle)) / size
    kind = int(rng.integers(3))
    iu, iv = np.floor(u).astype(int), np.floor(v).astype(int)
    if kind == 0:  # checker
        ident = iu * 7 + iv * 13
    elif kind == 1:  # triangles: each square split on its diagonal
        ident = iu * 7 + iv * 13 + ((u - iu) > (v - iv)) * 3
    else:  # diamonds
        ident = np.floor(u + v).astype(int) * 7 + np.floor(u - v).astype(int) * 13
    lookup = rng.integers(0, len(palette), 997)
    image = palette[lookup[ident % 997]]
    if rng.random() < 0.6:  # lines between the tiles
        fu, fv = np.abs(u - np.round(u)), np.abs(v - np.round(v))
        line = np.minimum(fu, fv) < rng.uniform(0.02, 0.08)
        image = np.where(line[..., None], palette[0], image)
    return image


def _mosaic(rng: np.random.Generator, side: int, palette: np.ndarray) -> np.ndarray:
    """Voronoi cells (stained glass or tesserae) with grout lines."""
    cells = int(rng.integers(5, 28))
    ident, _, gap = _worley(rng, side, cells, None, 1.0)
    lookup = rng.integers(0, len(palette), (cells + 2) ** 2)
    shade = rng.uniform(0.75, 1.1, (cells + 2) ** 2)
    image = palette[lookup[ident]] * shade[ident][..., None]
    width = rng.uniform(0.03, 0.15)
    grout = np.clip(gap / width, 0.0, 1.0)[..., None]
    grout_colour = palette[0] if rng.random() < 0.7 else palette[-1]
    return image * grout + grout_colour * (1 - grout)


# -- overlays ---------------------------------------------------------------------


def _strokes(rng: np.random.Generator, image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Elongated, oriented cells following a smooth flow: brush strokes."""
    side = image.shape[0]
    cells = int(rng.integers(12, 48))
    flow = _fractal(rng, side, 2, 2) * np.pi * rng.uniform(0.5, 2.0) + rng.random() * np.pi
    ident, dist, _ = _worley(rng, side, cells, flow, rng.uniform(4, 12))
    lookup = rng.integers(0, len(palette), (cells + 2) ** 2)
    paint = palette[lookup[ident]] * rng.uniform(0.85, 1.15, (cells + 2) ** 2)[ident][..., None]
    # Some strokes take the colour underneath, lightly shifted: impasto over
    # the base rather than a flat second layer.
    keep = rng.random((cells + 2) ** 2) < rng.uniform(0.2, 0.7)
    paint = np.where(keep[ident][..., None], image * rng.uniform(0.8, 1.2), paint)
    coverage = rng.uniform(0.5, 1.0)
    edge = np.clip((coverage - dist) * 6, 0, 1)[..., None]
    return image * (1 - edge) + paint * edge


def _dots(rng: np.random.Generator, image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Pointillist dots of palette colours."""
    side = image.shape[0]
    cells = int(rng.integers(10, 60))
    ident, dist, _ = _worley(rng, side, cells, None, 1.0)
    lookup = rng.integers(0, len(palette), (cells + 2) ** 2)
    radius = rng.uniform(0.2, 0.5)
    edge = np.clip((radius - dist) * 10, 0, 1)[..., None]
    return image * (1 - edge) + palette[lookup[ident]] * edge


def _grain(rng: np.random.Generator, image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Canvas or paper grain: fine multiplicative noise, sometimes woven."""
    side = image.shape[0]
    fine = _fractal(rng, side, max(2, side // 4), 2) - 0.5
    if rng.random() < 0.5:
        ys, xs = np.mgrid[0:side, 0:side]
        period = rng.uniform(2, 5)
        fine = fine + 0.5 * np.sin(xs * 2 * np.pi / period) * np.sin(ys * 2 * np.pi / period)
    return image * (1 + rng.uniform(0.1, 0.35) * fine[..., None])


def _hatching(rng: np.random.Generator, image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Pen hatching in the darkest colour, denser where the image is darker."""
    side = image.shape[0]
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float64)
    angle = rng.random() * np.pi
    period = rng.uniform(3, 9)
    coord = xs * np.cos(angle) + ys * np.sin(angle)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * coord / period)
    darkness = 1 - image.mean(axis=2)
    ink = (wave < darkness * rng.uniform(0.5, 1.0)).astype(np.float64)[..., None]
    return image * (1 - 0.8 * ink) + palette[0] * 0.8 * ink


_BASE_FNS: dict[str, Callable[[np.random.Generator, int, np.ndarray], np.ndarray]] = {
    "wash": _wash,
    "stripes": _stripes,
    "geometric": _geometric,
    "mosaic": _mosaic,
}
_OVERLAY_FNS: dict[str, Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray]] = {
    "strokes": _strokes,
    "dots": _dots,
    "grain": _grain,
    "hatching": _hatching,
}
