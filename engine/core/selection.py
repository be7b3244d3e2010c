"""Selections as masks: rectangles, ellipses and freehand polygons with a feathered edge.

A selection is described by its shape and geometry (so the GUI can draw
handles) and rendered on demand into a canvas-sized (H, W) float32 mask in
[0, 1], which effects use to restrict where they apply.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from warpaint.engine.core.tiles import Rect, TiledImage, from_float

SHAPES = ("rectangle", "ellipse", "polygon")
SUPERSAMPLE = 4  # polygon edges are antialiased from a 4x4 grid per pixel


@dataclass(frozen=True)
class Selection:
    shape: str  # 'rectangle' or 'ellipse'
    x: float
    y: float
    w: float
    h: float
    feather: float = 0.0  # pixels over which the edge fades
    inverted: bool = False
    # 'polygon' only: the outline's vertices as offsets from (x, y), so moving
    # the selection (a new x, y) moves the outline with it.
    points: tuple[tuple[float, float], ...] = ()

    @classmethod
    def polygon(
        cls,
        points: list[tuple[float, float]] | tuple[tuple[float, float], ...],
        feather: float = 0.0,
        inverted: bool = False,
    ) -> Selection:
        """A freehand (lasso) selection from its outline in image coordinates."""
        if len(points) == 0:
            return cls("polygon", 0.0, 0.0, 0.0, 0.0, feather, inverted)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x0, y0 = min(xs), min(ys)
        local = tuple((px - x0, py - y0) for px, py in points)
        return cls("polygon", x0, y0, max(xs) - x0, max(ys) - y0, feather, inverted, local)

    def outline(self) -> list[tuple[float, float]]:
        """The polygon's vertices in image coordinates (empty for other shapes)."""
        return [(self.x + px, self.y + py) for px, py in self.points]

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown selection shape {self.shape!r}")

    @property
    def empty(self) -> bool:
        return self.w < 1 or self.h < 1

    def mask(self, width: int, height: int) -> np.ndarray:
        """(height, width) float32 coverage in [0, 1] of the canvas pixels."""
        if self.shape == "polygon":
            mask = _polygon_coverage(self.outline(), self.feather, width, height)
            return 1.0 - mask if self.inverted else mask
        ys = np.arange(height, dtype=np.float32)[:, None] + 0.5
        xs = np.arange(width, dtype=np.float32)[None, :] + 0.5
        if self.shape == "rectangle":
            # Signed distance inside the rectangle (positive inside).
            inside = np.minimum(
                np.minimum(xs - self.x, self.x + self.w - xs),
                np.minimum(ys - self.y, self.y + self.h - ys),
            )
        else:
            rx, ry = max(self.w / 2, 1e-3), max(self.h / 2, 1e-3)
            cx, cy = self.x + rx, self.y + ry
            norm = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
            # Approximate distance to the ellipse edge in pixels.
            inside = (1.0 - norm) * min(rx, ry)
        if self.feather > 0:
            mask = np.clip(inside / self.feather + 0.5, 0.0, 1.0)
        else:
            mask = np.clip(inside + 0.5, 0.0, 1.0)
        mask = mask.astype(np.float32)
        return 1.0 - mask if self.inverted else mask

    def bounds(self) -> tuple[int, int, int, int]:
        """Integer (x, y, w, h) enclosing the selection (before feathering)."""
        x0, y0 = int(np.floor(self.x)), int(np.floor(self.y))
        x1, y1 = int(np.ceil(self.x + self.w)), int(np.ceil(self.y + self.h))
        return x0, y0, x1 - x0, y1 - y0


# -- layer masks from other sources ------------------------------------------
# A layer mask is an (h, w, 1) `TiledImage` the size of its layer, 1 where the
# layer shows; these make one at a given storage dtype.

LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def layer_mask_from_selection(
    selection: Selection, layer_rect: Rect, dtype: np.dtype
) -> TiledImage:
    """The selection's coverage cut to a layer's canvas rectangle: (h, w, 1)."""
    local = replace(selection, x=selection.x - layer_rect.x, y=selection.y - layer_rect.y)
    mask = local.mask(layer_rect.w, layer_rect.h)[..., None]
    return TiledImage.from_array(from_float(mask, dtype))


def mask_from_alpha(pixels: TiledImage) -> TiledImage:
    """A layer's alpha channel as its mask: (h, w, 4) -> (h, w, 1), same dtype."""
    return TiledImage.from_array(pixels.read()[..., 3:4])


def inverted_mask(mask: TiledImage) -> TiledImage:
    """1 - mask, at the mask's dtype (exact for integer masks)."""
    return TiledImage.from_array(from_float(1.0 - mask.read_float(), mask.dtype))


def mask_from_image(image: np.ndarray, width: int, height: int, dtype: np.dtype) -> TiledImage:
    """An image as a mask: luminance x alpha, resized (bilinear) to width x height.

    image: (h, w, C) float32 in [0, 1] with C = 1 (used as is), 3 or 4.
    """
    from warpaint.engine.core.resample import resize

    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] == 1:
        weight = image
    else:
        weight = (image[..., :3] @ LUMA)[..., None]
        if image.shape[2] == 4:
            weight = weight * image[..., 3:4]
    if weight.shape[:2] != (height, width):
        weight = resize(np.ascontiguousarray(weight, np.float32), width, height, "bilinear")
        if weight.ndim == 2:
            weight = weight[..., None]
    return TiledImage.from_array(from_float(np.clip(weight, 0.0, 1.0), dtype))


def _polygon_coverage(
    outline: list[tuple[float, float]], feather: float, width: int, height: int
) -> np.ndarray:
    """(height, width) float32 coverage of a polygon (even-odd fill), feathered.

    The polygon is filled on a 4x finer grid and averaged per pixel
    (antialiased edges). A feather blurs it with a box `feather` pixels wide in
    x then in y, which turns a straight edge into the same linear ramp
    centred on the edge that rectangles get. Only the polygon's bounding box
    (grown by the feather) is rasterised, not the whole canvas.
    """
    out = np.zeros((height, width), np.float32)
    if len(outline) < 3:
        return out
    pad = int(np.ceil(feather)) + 1
    x0 = max(0, int(np.floor(min(p[0] for p in outline))) - pad)
    y0 = max(0, int(np.floor(min(p[1] for p in outline))) - pad)
    x1 = min(width, int(np.ceil(max(p[0] for p in outline))) + pad)
    y1 = min(height, int(np.ceil(max(p[1] for p in outline))) + pad)
    # Rasterise a margin beyond the canvas too, so a feather near the canvas edge
    # fades as if the polygon went on (matching rectangles and ellipses).
    bx0, by0 = x0 - pad, y0 - pad
    bw, bh = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
    if x1 <= x0 or y1 <= y0:
        return out
    s = SUPERSAMPLE
    fine = _even_odd_fill([((px - bx0) * s, (py - by0) * s) for px, py in outline], bw * s, bh * s)
    fine = fine.reshape(bh, s, bw, s).mean(axis=(1, 3))
    if feather > 0:
        fine = _box_blur(_box_blur(fine, feather, axis=1), feather, axis=0)
    out[y0:y1, x0:x1] = np.clip(fine[pad : pad + y1 - y0, pad : pad + x1 - x0], 0.0, 1.0)
    return out


def _even_odd_fill(outline: list[tuple[float, float]], width: int, height: int) -> np.ndarray:
    """(height, width) float32: 1 where a pixel's centre is inside the polygon (even-odd rule).

    Every row crosses the edges at some x; a pixel is inside when an odd number
    of crossings lies left of its centre. Edges are half-open in y, so a
    vertex on a row is counted once.
    """
    pts = np.asarray(outline, np.float64)
    x0, y0 = pts[:, 0], pts[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    rows = np.arange(height, dtype=np.float64)[:, None] + 0.5
    crosses = (y0[None, :] <= rows) != (y1[None, :] <= rows)
    dy = np.where(y1 == y0, 1.0, y1 - y0)
    xs = x0[None, :] + (rows - y0[None, :]) * ((x1 - x0) / dy)[None, :]
    # The first pixel whose centre lies at or right of the crossing.
    first = np.clip(np.ceil(xs - 0.5), 0, width).astype(np.int64)
    r, e = np.nonzero(crosses)
    toggles = np.zeros((height, width + 1), np.int32)
    np.add.at(toggles, (r, first[r, e]), 1)
    inside: np.ndarray = (np.cumsum(toggles, axis=1)[:, :width] % 2).astype(np.float32)
    return inside


def _box_blur(array: np.ndarray, width: float, axis: int) -> np.ndarray:
    """Mean over a window `width` pixels wide (fractional ends weighted) along `axis`."""
    half = width / 2
    n = int(np.ceil(half - 0.5))
    taps = np.arange(-n, n + 1, dtype=np.float32)
    # Each tap covers [t - 0.5, t + 0.5]; weight = its overlap with [-half, half].
    weights = np.clip(np.minimum(taps + 0.5, half) - np.maximum(taps - 0.5, -half), 0.0, 1.0)
    weights /= weights.sum()
    moved = np.moveaxis(array, axis, -1)
    padded = np.pad(moved, [(0, 0)] * (moved.ndim - 1) + [(n, n)], mode="edge")
    acc = np.zeros_like(moved)
    for i, w in enumerate(weights):
        acc += w * padded[..., i : i + moved.shape[-1]]
    return np.moveaxis(acc, -1, axis)
