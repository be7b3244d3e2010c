"""Layer compositing after W3C Compositing and Blending Level 1.

Colours are sRGB-encoded floats in [0, 1] with straight (non-premultiplied)
alpha. For a source layer (Cs, as) over a backdrop (Cb, ab) with blend
function B, the spec's source-over composite is

    Cs' = (1 - ab) * Cs + ab * B(Cb, Cs)
    co  = as * Cs' + (1 - as) * ab * Cb          (premultiplied result)
    ao  = as + ab * (1 - as)
    Co  = co / ao                                  (straight result, 0 where ao = 0)

where `as` already includes the layer's opacity and mask. This module is the
only place that composites: the canvas, the CLI and every exporter call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
from warpaint.engine.tiles import Rect, from_float

if TYPE_CHECKING:
    from warpaint.engine.document import DocState, Layer

BlendFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _overlay(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    # overlay(Cb, Cs) = hard-light(Cs, Cb): multiply or screen by the backdrop.
    return np.where(cb <= 0.5, 2.0 * cb * cs, 1.0 - 2.0 * (1.0 - cb) * (1.0 - cs))


BLEND_MODES: dict[str, BlendFn] = {
    "normal": lambda cb, cs: cs,
    "multiply": lambda cb, cs: cb * cs,
    "screen": lambda cb, cs: cb + cs - cb * cs,
    "overlay": _overlay,
    "darken": np.minimum,
    "lighten": np.maximum,
    "difference": lambda cb, cs: np.abs(cb - cs),
}


def blend_mode_names() -> list[str]:
    return list(BLEND_MODES)


def composite_over(
    backdrop: np.ndarray,
    source: np.ndarray,
    mode: str = "normal",
    opacity: float = 1.0,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Composite `source` over `backdrop` and return the result.

    backdrop, source: (h, w, 4) float32 straight-alpha RGBA in [0, 1].
    mask: (h, w, 1) or (h, w) float32 in [0, 1], multiplies the source alpha.
    Returns a new (h, w, 4) float32 array.
    """
    try:
        blend = BLEND_MODES[mode]
    except KeyError:
        raise ValueError(f"unknown blend mode {mode!r}") from None
    cb, ab = backdrop[..., :3], backdrop[..., 3:4]
    cs, a_s = source[..., :3], source[..., 3:4] * np.float32(opacity)
    if mask is not None:
        a_s = a_s * (mask if mask.ndim == 3 else mask[..., None])
    mixed = cs if mode == "normal" else (1.0 - ab) * cs + ab * blend(cb, cs)
    co = a_s * mixed + (1.0 - a_s) * ab * cb
    ao = a_s + ab * (1.0 - a_s)
    out = np.empty_like(backdrop, dtype=np.float32)
    np.divide(co, ao, out=out[..., :3], where=ao > 0)
    out[..., :3][np.broadcast_to(ao <= 0, co.shape)] = 0.0
    out[..., 3:4] = ao
    return out


def layer_region(layer: Layer, rect: Rect) -> tuple[np.ndarray, np.ndarray | None]:
    """A layer's RGBA (h, w, 4) float32 and mask (h, w, 1) float32 over canvas `rect`."""
    local = rect.translated(-layer.x, -layer.y)
    pixels = layer.pixels.read_float(local)
    mask = layer.mask.read_float(local) if layer.mask is not None else None
    return pixels, mask


def composite(
    state: DocState, rect: Rect | None = None, background: np.ndarray | None = None
) -> np.ndarray:
    """Flatten the visible layers of `state` over canvas `rect`.

    Returns (h, w, 4) float32 straight-alpha RGBA. `background` (h, w, 4), if
    given, is the backdrop (e.g. for previews); else transparent.

    Same result as chaining `composite_over`, but the running backdrop is kept
    premultiplied, so a normal-mode layer costs no division and the colour is
    divided by alpha once at the end.
    """
    rect = rect or Rect(0, 0, state.width, state.height)
    acc = np.zeros((rect.h, rect.w, 4), np.float32)
    if background is not None:
        acc[...] = background
        acc[..., :3] *= acc[..., 3:4]
    for layer in state.layers:
        if not layer.visible or layer.opacity <= 0.0:
            continue
        if layer.bounds.intersect(rect).empty:
            continue
        pixels, mask = layer_region(layer, rect)
        _accumulate(acc, pixels, layer.blend_mode, layer.opacity, mask)
    alpha = acc[..., 3:4].copy()
    np.divide(acc, alpha, out=acc, where=alpha > 0)
    acc[..., 3:4] = alpha
    return acc


def _accumulate(
    acc: np.ndarray, source: np.ndarray, mode: str, opacity: float, mask: np.ndarray | None
) -> None:
    """In place: premultiplied backdrop `acc` <- straight `source` composited over it.

    Works on whole (h, w, 4) arrays with (h, w, 1) weights: numpy is several
    times faster on contiguous 4-channel arrays than on the strided colour
    slice, and the alpha channel is simply overwritten at the end.
    """
    weight = source[..., 3:4].copy()  # a_s = alpha * opacity * mask
    if opacity != 1.0:
        weight *= np.float32(opacity)
    if mask is not None:
        weight *= mask
    if mode != "normal":
        try:
            blend = BLEND_MODES[mode]
        except KeyError:
            raise ValueError(f"unknown blend mode {mode!r}") from None
        ab = acc[..., 3:4]
        cb = np.divide(acc, ab, out=np.zeros_like(acc), where=ab > 0)
        # Cs' = (1 - ab) Cs + ab B(Cb, Cs) = Cs + ab (B - Cs)
        mixed = blend(cb, source)
        mixed -= source
        mixed *= ab
        source = source + mixed
    else:
        source = source.copy()
    source *= weight
    source[..., 3:4] = weight
    acc *= 1.0 - weight
    acc += source


def strips(height: int, rows: int) -> Iterator[tuple[int, int]]:
    for y in range(0, height, rows):
        yield y, min(rows, height - y)


def flatten(state: DocState, dtype: np.dtype | type = np.uint8, rows: int = 512) -> np.ndarray:
    """The whole canvas flattened to an (H, W, 4) array of `dtype`.

    Works in strips of `rows` so float32 working memory stays bounded on huge
    canvases.
    """
    out = np.empty((state.height, state.width, 4), np.dtype(dtype))
    for y, h in strips(state.height, rows):
        out[y : y + h] = from_float(composite(state, Rect(0, y, state.width, h)), out.dtype)
    return out
