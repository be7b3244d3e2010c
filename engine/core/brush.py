"""Round soft brushes for painting one-channel masks.

A stroke places round dabs along the pointer's path, `spacing * size` pixels
apart. Within one stroke the dabs accumulate by maximum into a coverage map
in [0, 1], and the painted mask is

    mask = base + (target - base) * opacity * coverage

with target 1 when painting and 0 when erasing. So overlapping dabs never
build up beyond the stroke's opacity (a second pass needs a second stroke),
and the result is recomputed from the untouched base, never accumulated.

Pixel (row i, column j) has its centre at (j + 0.5, i + 0.5), as in
`selection.Selection.mask`. The mask keeps its storage dtype (uint8, uint16
or float32) and only the tiles a stroke touched are rewritten, so a stroke
costs history memory in proportion to its area.
"""

from __future__ import annotations

import math

import numpy as np

from warpaint.engine.core.tiles import TILE, Rect, TiledImage, from_float, to_float

MIN_SPACING_PX = 0.5


def dab(rect: Rect, cx: float, cy: float, size: float, hardness: float = 0.5) -> np.ndarray:
    """(rect.h, rect.w) float32 coverage in [0, 1] of one round dab over `rect`.

    The dab is centred at image point (cx, cy) with diameter `size`. It is 1
    within `hardness * size / 2` of the centre and falls to 0 at the rim with a
    smoothstep over the rest of the radius (at least one pixel wide, so a hard
    brush is still antialiased): at distance d from the centre, with radius r
    and falloff width f = max(r * (1 - hardness), 1),

        t = clip((d - (r - f)) / f, 0, 1),   coverage = 1 - t^2 (3 - 2t).
    """
    if size <= 0:
        raise ValueError(f"brush size must be positive, got {size}")
    if not 0.0 <= hardness <= 1.0:
        raise ValueError(f"hardness {hardness} outside [0, 1]")
    r = size / 2
    width = max(r * (1.0 - hardness), 1.0)
    xs = np.arange(rect.x, rect.right, dtype=np.float32) + np.float32(0.5 - cx)
    ys = np.arange(rect.y, rect.bottom, dtype=np.float32) + np.float32(0.5 - cy)
    d = np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2)
    t = np.clip((d - np.float32(r - width)) / np.float32(width), 0.0, 1.0)
    out: np.ndarray = (1.0 - t * t * (3.0 - 2.0 * t)).astype(np.float32)
    return out


def dab_bounds(cx: float, cy: float, size: float) -> Rect:
    """The pixel rectangle outside which a dab at (cx, cy) is zero."""
    r = size / 2
    x0, y0 = math.floor(cx - r), math.floor(cy - r)
    x1, y1 = math.ceil(cx + r), math.ceil(cy + r)
    return Rect(x0, y0, x1 - x0, y1 - y0)


class MaskStroke:
    """One stroke of a brush on a (h, w, 1) mask; `mask` is the result so far.

    base: the mask before the stroke (a one-channel `TiledImage`).
    size: diameter in mask pixels; hardness, opacity in [0, 1]; erase paints
    towards 0 instead of 1; spacing: distance between dabs as a fraction of
    `size` (at least half a pixel).
    """

    def __init__(
        self,
        base: TiledImage,
        size: float,
        hardness: float = 0.5,
        opacity: float = 1.0,
        erase: bool = False,
        spacing: float = 0.1,
    ) -> None:
        if base.channels != 1:
            raise ValueError(f"a mask has one channel, got {base.channels}")
        if size <= 0:
            raise ValueError(f"brush size must be positive, got {size}")
        if not 0.0 <= opacity <= 1.0:
            raise ValueError(f"opacity {opacity} outside [0, 1]")
        if not 0.0 <= hardness <= 1.0:
            raise ValueError(f"hardness {hardness} outside [0, 1]")
        self.base = base
        self.size = float(size)
        self.hardness = float(hardness)
        self.opacity = float(opacity)
        self.erase = erase
        self.step = max(MIN_SPACING_PX, spacing * self.size)
        self._mask = base
        self._coverage: dict[tuple[int, int], np.ndarray] = {}
        self._last: tuple[float, float] | None = None
        self._travel = 0.0  # distance walked since the last dab
        self._changed: Rect | None = None
        self.dabs = 0

    @property
    def mask(self) -> TiledImage:
        """The base with this stroke applied; untouched tiles are shared with the base."""
        return self._mask

    @property
    def changed(self) -> Rect | None:
        """The mask area this stroke has touched so far (None before the first dab)."""
        return self._changed

    def add(self, x: float, y: float) -> Rect | None:
        """The pointer reached image point (x, y); returns the area repainted, if any.

        The first point places a dab; later points place dabs every `step`
        pixels along the segment from the previous point.
        """
        centres: list[tuple[float, float]] = []
        if self._last is None:
            centres.append((x, y))
        else:
            lx, ly = self._last
            length = math.hypot(x - lx, y - ly)
            distance = self.step - self._travel
            while distance <= length:
                f = distance / length
                centres.append((lx + (x - lx) * f, ly + (y - ly) * f))
                distance += self.step
            self._travel = length - (distance - self.step)
        self._last = (x, y)
        if not centres:
            return None
        return self._stamp(centres)

    def _stamp(self, centres: list[tuple[float, float]]) -> Rect | None:
        area: Rect | None = None
        for cx, cy in centres:
            box = dab_bounds(cx, cy, self.size).intersect(self.base.bounds)
            if box.empty:
                continue
            self.dabs += 1
            for tx, ty in _tiles_of(box):
                trect = Rect(tx * TILE, ty * TILE, *reversed(self.base.tile_shape(tx, ty)))
                part = box.intersect(trect)
                cov = self._coverage.get((tx, ty))
                if cov is None:
                    cov = np.zeros((trect.h, trect.w), np.float32)
                    self._coverage[(tx, ty)] = cov
                view = cov[
                    part.y - trect.y : part.bottom - trect.y,
                    part.x - trect.x : part.right - trect.x,
                ]
                np.maximum(view, dab(part, cx, cy, self.size, self.hardness), out=view)
            area = box if area is None else _union(area, box)
        if area is None:
            return None
        self._changed = area if self._changed is None else _union(self._changed, area)
        self._apply(area)
        return area

    def _apply(self, area: Rect) -> None:
        """Recompute the result over the tiles `area` touches, from the base."""
        target = 0.0 if self.erase else 1.0
        for tx, ty in _tiles_of(area):
            th, tw = self.base.tile_shape(tx, ty)
            trect = Rect(tx * TILE, ty * TILE, tw, th)
            part = area.intersect(trect)
            sl = (
                slice(part.y - trect.y, part.bottom - trect.y),
                slice(part.x - trect.x, part.right - trect.x),
            )
            base = to_float(self.base.read(part))
            cov = self._coverage[(tx, ty)][sl][..., None]
            mixed = base + (np.float32(target) - base) * (np.float32(self.opacity) * cov)
            self._mask = self._mask.with_region(part.x, part.y, from_float(mixed, self.base.dtype))


def _tiles_of(rect: Rect) -> list[tuple[int, int]]:
    return [
        (tx, ty)
        for ty in range(rect.y // TILE, (rect.bottom - 1) // TILE + 1)
        for tx in range(rect.x // TILE, (rect.right - 1) // TILE + 1)
    ]


def _union(a: Rect, b: Rect) -> Rect:
    x0, y0 = min(a.x, b.x), min(a.y, b.y)
    return Rect(x0, y0, max(a.right, b.right) - x0, max(a.bottom, b.bottom) - y0)
