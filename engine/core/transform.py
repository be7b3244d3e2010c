"""Image-wide geometry: crop, resize image, resize canvas, rotate, flip.

Each function maps a `DocState` to a new one (pure), so the document commits
the result as one undoable step. Layers keep their own size where the
operation allows (crop and canvas resize move offsets instead of cutting
pixels, so nothing outside the canvas is lost until the user merges).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from warpaint.engine.core.document import DocState, Layer, Node
from warpaint.engine.core.resample import resize
from warpaint.engine.core.tiles import Rect, TiledImage, from_float
from warpaint.engine.runtime.errors import BadInputError

ANCHORS = {
    "top-left": (0.0, 0.0), "top": (0.5, 0.0), "top-right": (1.0, 0.0),
    "left": (0.0, 0.5), "center": (0.5, 0.5), "right": (1.0, 0.5),
    "bottom-left": (0.0, 1.0), "bottom": (0.5, 1.0), "bottom-right": (1.0, 1.0),
}  # fmt: skip  # the 3x3 anchor grid as it looks


def crop(state: DocState, rect: Rect) -> DocState:
    """Canvas becomes `rect` (clipped to the canvas); layers are shifted, not cut."""
    rect = rect.intersect(state.bounds)
    if rect.empty:
        raise BadInputError("the crop rectangle lies outside the image")
    moved = _shift(state, -rect.x, -rect.y)
    return replace(moved, width=rect.w, height=rect.h)


def resize_canvas(state: DocState, width: int, height: int, anchor: str = "center") -> DocState:
    """New canvas size; the old canvas is placed by `anchor`, layers shift with it."""
    _check_size(width, height)
    ax, ay = ANCHORS[anchor]
    dx, dy = round((width - state.width) * ax), round((height - state.height) * ay)
    return replace(_shift(state, dx, dy), width=width, height=height)


def resize_image(state: DocState, width: int, height: int, method: str = "lanczos") -> DocState:
    """Scale the whole image (every layer, mask and offset) to width x height."""
    _check_size(width, height)
    sx, sy = width / state.width, height / state.height

    def scaled(layer: Layer) -> Layer:
        w = max(1, round(layer.pixels.width * sx))
        h = max(1, round(layer.pixels.height * sy))
        pixels = _retile(resize(layer.pixels.read_float(), w, h, method), layer.pixels.dtype)
        mask = None
        if layer.mask is not None:
            mask = _retile(resize(layer.mask.read_float(), w, h, method), layer.mask.dtype)
        return layer.with_(pixels=pixels, mask=mask, x=round(layer.x * sx), y=round(layer.y * sy))

    return replace(_map_all(state, scaled), width=width, height=height)


def rotate(state: DocState, degrees: int) -> DocState:
    """Rotate the image clockwise by 90, 180 or 270 degrees (exact, no resampling)."""
    if degrees % 90 or degrees % 360 == 0:
        raise BadInputError("rotation must be 90, 180 or 270 degrees")
    turns = (degrees // 90) % 4
    W, H = state.width, state.height

    def turned(layer: Layer) -> Layer:
        w, h = layer.pixels.width, layer.pixels.height
        if turns == 1:
            x, y = H - (layer.y + h), layer.x
        elif turns == 2:
            x, y = W - (layer.x + w), H - (layer.y + h)
        else:
            x, y = layer.y, W - (layer.x + w)
        return _map_layer(layer, lambda a: np.rot90(a, k=-turns), x, y)

    size = (H, W) if turns % 2 else (W, H)
    return replace(_map_all(state, turned), width=size[0], height=size[1])


def flip(state: DocState, horizontal: bool) -> DocState:
    """Mirror the image left-right (`horizontal`) or top-bottom."""

    def flipped(layer: Layer) -> Layer:
        if horizontal:
            x, y = state.width - (layer.x + layer.pixels.width), layer.y
            return _map_layer(layer, lambda a: a[:, ::-1], x, y)
        x, y = layer.x, state.height - (layer.y + layer.pixels.height)
        return _map_layer(layer, lambda a: a[::-1], x, y)

    return _map_all(state, flipped)


def _shift(state: DocState, dx: int, dy: int) -> DocState:
    """Every layer and group mask moved by (dx, dy)."""
    return _map_all(state, lambda lay: lay.with_(x=lay.x + dx, y=lay.y + dy))


def _map_all(state: DocState, fn: Callable[[Layer], Layer]) -> DocState:
    """`fn` applied to every layer and, through a stand-in layer carrying it,
    to every group's mask, so masks follow the geometry of the pixels."""

    def node(n: Node) -> Node:
        if isinstance(n, Layer):
            return fn(n)
        children = tuple(node(c) for c in n.children)
        if n.mask is None:
            return n.with_(children=children)
        blank = TiledImage(n.mask.width, n.mask.height, 4, np.uint8, {})
        carrier = fn(Layer("mask", blank, mask=n.mask, x=n.x, y=n.y))
        return n.with_(children=children, mask=carrier.mask, x=carrier.x, y=carrier.y)

    return state.with_root(tuple(node(n) for n in state.root))


def _map_layer(layer: Layer, fn, x: int, y: int) -> Layer:  # type: ignore[no-untyped-def]
    pixels = TiledImage.from_array(np.ascontiguousarray(fn(layer.pixels.read())))
    mask = None
    if layer.mask is not None:
        mask = TiledImage.from_array(np.ascontiguousarray(fn(layer.mask.read())))
    return layer.with_(pixels=pixels, mask=mask, x=x, y=y)


def _retile(image: np.ndarray, dtype: np.dtype) -> TiledImage:
    return TiledImage.from_array(from_float(image, dtype))


def _check_size(width: int, height: int) -> None:
    if not (1 <= width <= 100_000 and 1 <= height <= 100_000):
        raise BadInputError(f"size {width}x{height} must be between 1 and 100000 pixels a side")
