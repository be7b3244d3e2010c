"""Layer compositing after W3C Compositing and Blending Level 1.

Colours are sRGB-encoded floats in [0, 1] with straight (non-premultiplied)
alpha. For a source layer (Cs, as) over a backdrop (Cb, ab) with blend
function B, the spec's source-over composite is

    Cs' = (1 - ab) * Cs + ab * B(Cb, Cs)
    co  = as * Cs' + (1 - as) * ab * Cb          (premultiplied result)
    ao  = as + ab * (1 - as)
    Co  = co / ao                                  (straight result, 0 where ao = 0)

where `as` already includes the layer's opacity and mask. Blend modes
(`BLEND_MODES`: the spec's separable and non-separable B) all use
source-over. The Porter-Duff modes (`COMPOSITE_OPS`: plus, dst-in, dst-out,
src-atop, dst-atop) use B = normal with another operator, in the spec's
general form co = as Fa Cs + ab Fb Cb, ao = as Fa + ab Fb. Without groups
they act on everything below them: the root stack, an isolated group as in
OpenRaster. dst-in and dst-atop clear the backdrop where the layer has no
pixels, so such a layer reaches the whole canvas (`reach`). This module is
the only place that composites: the canvas, the CLI and every exporter call it.

One mode is not per pixel: "multiresolution" splines the layer into what is
below it (Burt & Adelson; `warpaint.engine.core.pyramid`). A = the layer laid
normally over the backdrop (so outside the layer A equals the backdrop and
adds nothing), B = the backdrop, weight = mask x opacity (1 where the layer
has no mask); result = spline(A, B, weight), premultiplied, over the whole
canvas. Because the coarsest band spans the canvas, it is computed once for
the full canvas and cached by the identity of the (immutable) layers
involved; any rect is a crop of it, so tiles and whole-canvas flattening agree
exactly. A mask edit keeps the cached image pyramid (`PreparedSpline`) and
patches the mask's pyramid only around the pixels that changed (`LiveSpline`);
the blended canvas is then collapsed per 256 px tile as tiles are asked for,
so a brush dab on a big canvas costs the tiles in view, not the canvas.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from warpaint.engine.core.tiles import TILE, Rect, TiledImage, from_float

if TYPE_CHECKING:
    from warpaint.engine.core.document import DocState, Group, Layer, Node

BlendFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


# -- separable blend functions: B(Cb, Cs) per channel ---------------------
# Each takes (..., C) arrays and works on every channel, so the compositor can
# pass whole RGBA pixels (contiguous, faster) and ignore the alpha result.


def _overlay(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    # overlay(Cb, Cs) = hard-light(Cs, Cb): multiply or screen by the backdrop.
    return np.where(cb <= 0.5, 2.0 * cb * cs, 1.0 - 2.0 * (1.0 - cb) * (1.0 - cs))


def _hard_light(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    # Cs <= 0.5: multiply(Cb, 2 Cs); else screen(Cb, 2 Cs - 1).
    two = 2.0 * cs
    screen = two - 1.0
    screen += cb - cb * screen
    return np.where(cs <= 0.5, cb * two, screen)


def _color_dodge(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    # 0 where Cb = 0 (even if Cs = 1), 1 where Cs = 1, else min(1, Cb / (1 - Cs)).
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.minimum(np.float32(1.0), cb / (1.0 - cs))
    out = np.where(cs >= 1.0, np.float32(1.0), out)
    return np.where(cb <= 0.0, np.float32(0.0), out)


def _color_burn(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    # 1 where Cb = 1 (even if Cs = 0), 0 where Cs = 0, else 1 - min(1, (1 - Cb) / Cs).
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - np.minimum(np.float32(1.0), (1.0 - cb) / cs)
    out = np.where(cs <= 0.0, np.float32(0.0), out)
    return np.where(cb >= 1.0, np.float32(1.0), out)


def _soft_light(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    # W3C's form: D(Cb) = ((16 Cb - 12) Cb + 4) Cb for Cb <= 0.25, else sqrt(Cb);
    # Cs <= 0.5: Cb - (1 - 2 Cs) Cb (1 - Cb); else Cb + (2 Cs - 1) (D(Cb) - Cb).
    d = np.where(cb <= 0.25, ((16.0 * cb - 12.0) * cb + 4.0) * cb, np.sqrt(np.maximum(cb, 0.0)))
    darker = cb - (1.0 - 2.0 * cs) * cb * (1.0 - cb)
    lighter = cb + (2.0 * cs - 1.0) * (d - cb)
    return np.where(cs <= 0.5, darker, lighter)


# -- non-separable blend functions: on the colour as a whole --------------
# W3C's Lum, ClipColor, SetLum, Sat and SetSat on (..., 3) colours.


def _max3(c: np.ndarray) -> np.ndarray:
    # Element-wise over the three channels: a reduction along a length-3 last
    # axis is about 13 times slower in numpy.
    return np.maximum(np.maximum(c[..., 0:1], c[..., 1:2]), c[..., 2:3])


def _min3(c: np.ndarray) -> np.ndarray:
    return np.minimum(np.minimum(c[..., 0:1], c[..., 1:2]), c[..., 2:3])


def _lum(c: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 1): 0.3 R + 0.59 G + 0.11 B."""
    return 0.3 * c[..., 0:1] + 0.59 * c[..., 1:2] + 0.11 * c[..., 2:3]


def _clip_color(c: np.ndarray) -> np.ndarray:
    # Pulls an out-of-range colour towards its luminosity (grey) until it fits.
    # n and x are both taken before either correction, as the spec writes it.
    # A grey a rounding step outside [0, 1] has L = n (or x): its scale stays 1
    # instead of 0 / 0, and the caller's clip brings it back.
    lum = _lum(c)
    n = _min3(c)
    x = _max3(c)
    below, above = lum - n, x - lum
    pull_up, pull_down = (n < 0.0) & (below > 0.0), (x > 1.0) & (above > 0.0)
    low = np.divide(lum, below, out=np.ones_like(lum), where=pull_up)
    high = np.divide(1.0 - lum, above, out=np.ones_like(lum), where=pull_down)
    c = np.where(pull_up, lum + (c - lum) * low, c)
    return np.where(pull_down, lum + (c - lum) * high, c)


def _set_lum(c: np.ndarray, lum: np.ndarray) -> np.ndarray:
    return _clip_color(c + (lum - _lum(c)))


def _sat(c: np.ndarray) -> np.ndarray:
    return _max3(c) - _min3(c)


def _set_sat(c: np.ndarray, sat: np.ndarray) -> np.ndarray:
    # Cmax -> s, Cmin -> 0, Cmid scaled between them; a grey stays black.
    low = _min3(c)
    spread = _max3(c) - low
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (c - low) * sat / spread
    return np.where(spread > 0.0, out, np.float32(0.0))


def _non_separable(fn: BlendFn) -> BlendFn:
    """Lift a blend function of (..., 3) colours to (..., C >= 3) pixels."""

    def blend(cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
        out = cs.astype(np.float32, copy=True)
        # ClipColor keeps the result in [0, 1] up to float rounding; the clip
        # keeps that rounding from leaving the range.
        out[..., :3] = np.clip(fn(cb[..., :3], cs[..., :3]), 0.0, 1.0)
        return out

    return blend


BLEND_MODES: dict[str, BlendFn] = {
    "normal": lambda cb, cs: cs,
    "multiply": lambda cb, cs: cb * cs,
    "screen": lambda cb, cs: cb + cs - cb * cs,
    "overlay": _overlay,
    "darken": np.minimum,
    "lighten": np.maximum,
    "color-dodge": _color_dodge,
    "color-burn": _color_burn,
    "hard-light": _hard_light,
    "soft-light": _soft_light,
    "difference": lambda cb, cs: np.abs(cb - cs),
    "exclusion": lambda cb, cs: cb + cs - 2.0 * cb * cs,
    "hue": _non_separable(lambda cb, cs: _set_lum(_set_sat(cs, _sat(cb)), _lum(cb))),
    "saturation": _non_separable(lambda cb, cs: _set_lum(_set_sat(cb, _sat(cs)), _lum(cb))),
    "color": _non_separable(lambda cb, cs: _set_lum(cs, _lum(cb))),
    "luminosity": _non_separable(lambda cb, cs: _set_lum(cb, _lum(cs))),
}


# -- compositing operators ------------------------------------------------


@dataclass(frozen=True)
class CompositeOp:
    """A Porter-Duff operator in W3C's general form

        co = as Fa Cs' + ab Fb Cb,    ao = as Fa + ab Fb

    with Fa = fa[0] + fa[1] * ab and Fb = fb[0] + fb[1] * as (every operator
    OpenRaster names has factors of that shape). `clamp` caps the premultiplied
    result at 1, as plus-lighter does.
    """

    fa: tuple[float, float]
    fb: tuple[float, float]
    clamp: bool = False

    @property
    def clears_outside(self) -> bool:
        """Whether the backdrop changes where the source is transparent
        (Fb < 1 at as = 0), i.e. outside the layer's own pixels."""
        return self.fb[0] != 1.0


SOURCE_OVER = CompositeOp(fa=(1.0, 0.0), fb=(1.0, -1.0))

# Modes that composite the layer itself (B = normal) with another operator
# than source-over. With no groups they act on everything below in the root
# stack, which OpenRaster makes an isolated group.
COMPOSITE_OPS: dict[str, CompositeOp] = {
    "plus": CompositeOp(fa=(1.0, 0.0), fb=(1.0, 0.0), clamp=True),
    "dst-in": CompositeOp(fa=(0.0, 0.0), fb=(0.0, 1.0)),
    "dst-out": CompositeOp(fa=(0.0, 0.0), fb=(1.0, -1.0)),
    "src-atop": CompositeOp(fa=(0.0, 1.0), fb=(1.0, -1.0)),
    "dst-atop": CompositeOp(fa=(1.0, -1.0), fb=(0.0, 1.0)),
}


MULTIRESOLUTION = "multiresolution"
# Modes whose result at a pixel depends on the whole canvas, not on that pixel.
CANVAS_MODES = (MULTIRESOLUTION,)

_LABELS = {
    "dst-in": "Destination in",
    "dst-out": "Destination out",
    "src-atop": "Source atop",
    "dst-atop": "Destination atop",
}


def blend_mode_names() -> list[str]:
    """Every mode a layer may have, blend modes first, in menu order."""
    return list(BLEND_MODES) + list(COMPOSITE_OPS) + list(CANVAS_MODES)


def blend_mode_label(name: str) -> str:
    """A mode's name for people: "color-dodge" -> "Color dodge"."""
    return _LABELS.get(name) or name.replace("-", " ").capitalize()


def is_blend_mode(name: str) -> bool:
    """Whether `name` is one of `blend_mode_names()`."""
    return name in BLEND_MODES or name in COMPOSITE_OPS or name in CANVAS_MODES


def _mode(name: str) -> tuple[BlendFn | None, CompositeOp]:
    """A pixel mode's blend function (None for normal) and operator."""
    op = COMPOSITE_OPS.get(name)
    if op is not None:
        return None, op
    try:
        blend = BLEND_MODES[name]
    except KeyError:
        if name in CANVAS_MODES:
            raise ValueError(
                f"blend mode {name!r} needs the whole canvas (use composite)"
            ) from None
        raise ValueError(f"unknown blend mode {name!r}") from None
    return (None if name == "normal" else blend), SOURCE_OVER


def _is_group(node: Node) -> bool:
    return hasattr(node, "children")


def affects_composite(layer: Node) -> bool:
    """Whether a layer or group can change any pixel of the composite: it is
    visible and has some opacity, or its operator clears the backdrop where
    it has no pixels (dst-in and dst-atop at opacity 0 clear everything below)."""
    if not layer.visible:
        return False
    if _is_group(layer) and not layer.isolated:  # type: ignore[union-attr]
        return layer.opacity > 0.0
    op = COMPOSITE_OPS.get(layer.blend_mode)
    return layer.opacity > 0.0 or (op is not None and op.clears_outside)


def reach(layer: Node, canvas: Rect) -> Rect:
    """The canvas area that a layer or group can change: its own bounds, or
    all of `canvas` for a visible node whose operator clears outside its
    pixels. An isolated group's children act within the group's own result
    (their bounds); a pass-through group's act on what lies below (their reach)."""
    op = COMPOSITE_OPS.get(layer.blend_mode)
    if _is_group(layer):
        if layer.visible and _splines_inside(layer):  # type: ignore[arg-type]
            return canvas  # a spline's result spans the canvas
        if not layer.isolated:  # type: ignore[union-attr]
            op = None
    if layer.visible and op is not None and op.clears_outside:
        return canvas
    if _is_group(layer) and not layer.isolated:  # type: ignore[union-attr]
        return Rect.bounding(reach(child, canvas) for child in layer.children)  # type: ignore[union-attr]
    return layer.bounds


def composite_over(
    backdrop: np.ndarray,
    source: np.ndarray,
    mode: str = "normal",
    opacity: float = 1.0,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Composite `source` onto `backdrop` with `mode` and return the result.

    backdrop, source: (h, w, 4) float32 straight-alpha RGBA in [0, 1].
    mask: (h, w, 1) or (h, w) float32 in [0, 1], multiplies the source alpha.
    Returns a new (h, w, 4) float32 array. The spec's formulas written out
    directly, as the reference the accumulating `composite` is checked against.
    """
    blend, op = _mode(mode)
    cb, ab = backdrop[..., :3], backdrop[..., 3:4]
    cs, a_s = source[..., :3], source[..., 3:4] * np.float32(opacity)
    if mask is not None:
        a_s = a_s * (mask if mask.ndim == 3 else mask[..., None])
    mixed = cs if blend is None else (1.0 - ab) * cs + ab * blend(cb, cs)
    fa = op.fa[0] + op.fa[1] * ab
    fb = op.fb[0] + op.fb[1] * a_s
    co = a_s * fa * mixed + ab * fb * cb
    ao = a_s * fa + ab * fb
    if op.clamp:
        co, ao = np.minimum(co, 1.0), np.minimum(ao, 1.0)
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
    """Flatten the visible layers and groups of `state` over canvas `rect`.

    Returns (h, w, 4) float32 straight-alpha RGBA. `background` (h, w, 4), if
    given, goes under the flattened layers (a matte for formats without alpha).

    Same result as chaining `composite_over`, but the running backdrop is kept
    premultiplied, so a normal-mode layer costs no division and the colour is
    divided by alpha once at the end.
    """
    rect = rect or Rect(0, 0, state.width, state.height)
    acc = np.zeros((rect.h, rect.w, 4), np.float32)
    _composite_nodes(state.root, rect, acc, (), (state.width, state.height), empty=True)
    if background is not None:
        # Under the finished stack: the root stack is an isolated group, so
        # neither blend modes nor operators see the background.
        back = np.array(background, np.float32, copy=True)
        back[..., :3] *= back[..., 3:4]
        back *= 1.0 - acc[..., 3:4]
        acc += back
    _unpremultiply(acc)
    return acc


def _unpremultiply(acc: np.ndarray) -> None:
    alpha = acc[..., 3:4].copy()
    np.divide(acc, alpha, out=acc, where=alpha > 0)
    acc[..., 3:4] = alpha


def group_content(state: DocState, group: Group, rect: Rect) -> np.ndarray:
    """A group's children composited on their own (from transparent) over
    canvas `rect`, before the group's own mode, opacity and mask: (h, w, 4)
    float32 straight alpha."""
    acc = np.zeros((rect.h, rect.w, 4), np.float32)
    _composite_nodes(group.children, rect, acc, (), (state.width, state.height), empty=True)
    _unpremultiply(acc)
    return acc


def _composite_nodes(
    nodes: tuple[Node, ...],
    rect: Rect,
    acc: np.ndarray,
    before: tuple[Node, ...],
    size: tuple[int, int],
    empty: bool = False,
) -> None:
    """In place: a stack of layers and groups composited onto `acc`.

    acc: (h, w, 4) float32 premultiplied, over canvas `rect`. before: nodes
    that, composited as a stack from transparent, give `acc` as it stands
    (over the whole canvas): what a multiresolution layer in `nodes` splines
    into. size: the canvas (width, height). empty: `acc` is all zero.
    """
    start = 0
    top = _top_canvas_mode_layer(nodes)
    if top is not None:
        # Everything up to and including the topmost multiresolution layer
        # comes from the cached full-canvas result.
        full = _multiresolution_canvas(size, before + nodes[:top], nodes[top])  # type: ignore[arg-type]
        acc[...] = 0.0
        part = rect.intersect(Rect(0, 0, *size))
        if not part.empty:
            acc[part.y - rect.y : part.bottom - rect.y, part.x - rect.x : part.right - rect.x] = (
                full.read(part)
            )
        start, empty = top + 1, False
    for i in range(start, len(nodes)):
        node = nodes[i]
        if not affects_composite(node):
            continue
        if _is_group(node):
            _composite_group(node, rect, acc, before + nodes[:i], size, empty)  # type: ignore[arg-type]
            empty = False
            continue
        if node.opacity <= 0.0 or node.bounds.intersect(rect).empty:
            _no_source(acc, _mode(node.blend_mode)[1])
            continue
        pixels, mask = layer_region(node, rect)  # type: ignore[arg-type]
        _accumulate(acc, pixels, node.blend_mode, node.opacity, mask, empty)
        empty = False


def stack_before(state: DocState, node_id: int) -> tuple[Node, ...]:
    """The nodes that, composited as a stack from transparent, give the
    backdrop a node is composited onto: what lies below it in its group, and
    below a pass-through group also what lies below the group."""
    before: tuple[Node, ...] = ()
    nodes = state.root
    path = state.path_of(node_id)
    for depth, i in enumerate(path):
        before += nodes[:i]
        if depth < len(path) - 1:
            group = nodes[i]
            if group.isolated:  # type: ignore[union-attr]
                before = ()
            nodes = group.children  # type: ignore[union-attr]
    return before


def _splines_inside(group: Group) -> bool:
    """Whether a shown multiresolution layer lies anywhere in `group`."""
    from warpaint.engine.core.document import iter_nodes

    return any(
        not _is_group(n) and n.blend_mode in CANVAS_MODES and n.visible and n.opacity > 0.0
        for n in iter_nodes(group.children)
    )


def _no_source(acc: np.ndarray, op: CompositeOp) -> None:
    """In place: a source with nothing here (as = 0): only the operator's
    Fb(0) acts on the backdrop (dst-in and dst-atop clear it)."""
    if op.fb[0] != 1.0:
        acc *= np.float32(op.fb[0])


def _composite_group(
    group: Group,
    rect: Rect,
    acc: np.ndarray,
    before: tuple[Node, ...],
    size: tuple[int, int],
    empty: bool = False,
) -> None:
    """In place: one visible group composited onto `acc` (see `Group`)."""
    mask = None
    if group.mask is not None:
        mask = group.mask.read_float(rect.translated(-group.x, -group.y))
    if not group.isolated:
        fade = group.opacity != 1.0 or mask is not None
        prior = acc.copy() if fade else None
        _composite_nodes(group.children, rect, acc, before, size, empty)
        if prior is not None:
            weight = np.full((rect.h, rect.w, 1), np.float32(group.opacity))
            if mask is not None:
                weight *= mask
            acc -= prior
            acc *= weight
            acc += prior
        return
    blend, op = _mode(group.blend_mode)
    if reach(group, Rect(0, 0, *size)).intersect(rect).empty:
        _no_source(acc, op)
        return
    inner = np.zeros_like(acc)
    _composite_nodes(group.children, rect, inner, (), size, empty=True)
    if blend is None and op is SOURCE_OVER:
        # Normal mode: the premultiplied content goes straight over, as in
        # `_accumulate` without dividing by alpha and multiplying again.
        if group.opacity != 1.0:
            inner *= np.float32(group.opacity)
        if mask is not None:
            inner *= mask
        acc *= 1.0 - inner[..., 3:4]
        acc += inner
        return
    _unpremultiply(inner)
    _accumulate(acc, inner, group.blend_mode, group.opacity, mask, empty)


def _accumulate(
    acc: np.ndarray,
    source: np.ndarray,
    mode: str,
    opacity: float,
    mask: np.ndarray | None,
    empty: bool = False,
) -> None:
    """In place: premultiplied backdrop `acc` <- straight `source` composited onto it.

    acc: (h, w, 4) float32 premultiplied; source: (h, w, 4) float32 straight;
    mask: (h, w, 1) or None. Works on whole 4-channel arrays with (h, w, 1)
    weights: numpy is several times faster on contiguous 4-channel arrays than
    on the strided colour slice, and the alpha channel is simply overwritten.
    empty: `acc` is all zero (the start of a stack). Then no blend function
    runs: over a transparent backdrop Cs' = (1 - ab) Cs + ab B = Cs, and the
    result is as Fa(0) Cs, the same numbers the general path gives.
    """
    blend, op = _mode(mode)
    weight = source[..., 3:4].copy()  # a_s = alpha * opacity * mask
    if opacity != 1.0:
        weight *= np.float32(opacity)
    if mask is not None:
        weight *= mask
    if empty:
        np.multiply(source, weight, out=acc)
        acc[..., 3:4] = weight
        if op.fa[0] != 1.0:
            acc *= np.float32(op.fa[0])
        return
    ab = acc[..., 3:4]
    if blend is not None:
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
    if op is SOURCE_OVER:
        acc *= 1.0 - weight
        acc += source
        return
    # as Fa Cs' with Fa read from the backdrop before acc is overwritten.
    if op.fa != (1.0, 0.0):
        source *= op.fa[0] + op.fa[1] * ab
    acc *= op.fb[0] + op.fb[1] * weight
    acc += source
    if op.clamp:
        np.minimum(acc, 1.0, out=acc)


# -- multiresolution layers ----------------------------------------------

# Entries: prepared image pyramids (one per set of layers below and layer
# pixels, with the live mask state) and blended results (one per mask); a
# mask stroke adds a result, undo and redo go back to older ones.
_CACHE_ENTRIES = 8
_cache_lock = threading.RLock()  # re-entered: a backdrop may hold a multiresolution layer
# key -> (objects kept alive so ids stay unique, value)
_spline_cache: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()
# A mask change over more than this share of the canvas is blended from scratch.
_INCREMENTAL_MAX_SHARE = 0.4


def _top_canvas_mode_layer(nodes: tuple[Node, ...]) -> int | None:
    """The index of the topmost shown multiresolution layer among `nodes`
    (not inside groups), if any."""
    for i in range(len(nodes) - 1, -1, -1):
        layer = nodes[i]
        if (
            not _is_group(layer)
            and layer.blend_mode in CANVAS_MODES
            and layer.visible
            and layer.opacity > 0.0
        ):
            return i
    return None


def _cached(key: tuple[Any, ...], keep: Any, make: Callable[[], Any]) -> Any:
    """An LRU of a few entries; `make` runs under the lock so concurrent tiles
    wait for one computation instead of each doing it."""
    with _cache_lock:
        hit = _spline_cache.get(key)
        if hit is not None:
            _spline_cache.move_to_end(key)
            return hit[1]
        value = make()
        _spline_cache[key] = (keep, value)
        while len(_spline_cache) > _CACHE_ENTRIES:
            _spline_cache.popitem(last=False)
        return value


def clear_multiresolution_cache() -> None:
    with _cache_lock:
        _spline_cache.clear()


def changed_box(before: TiledImage, after: TiledImage) -> Rect | None:
    """The bounding box of the pixels that differ between two images of one
    size (None if none): unshared tiles are compared, shared ones skipped."""
    y0 = x0 = 1 << 62
    y1 = x1 = -1
    for key in set(before.tile_keys()) | set(after.tile_keys()):
        old, new = before.tile(*key), after.tile(*key)
        if old is new:
            continue
        shape = before.tile_shape(*key)
        differs = np.not_equal(old if old is not None else 0, new if new is not None else 0)
        diff = np.asarray(np.broadcast_to(differs, (*shape, before.channels)).any(axis=2))
        rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
        if rows.size == 0:
            continue
        ty, tx = key[1] * TILE, key[0] * TILE
        y0, y1 = min(y0, ty + int(rows[0])), max(y1, ty + int(rows[-1]) + 1)
        x0, x1 = min(x0, tx + int(cols[0])), max(x1, tx + int(cols[-1]) + 1)
    if y1 < 0:
        return None
    return Rect(x0, y0, x1 - x0, y1 - y0)


class _LiveBlend:
    """The prepared spline of one multiresolution layer over its backdrop and
    the mask state it is blended with now (`engine.pyramid.LiveSpline`); a
    new mask moves that state by re-reading only the box that differs."""

    def __init__(self, prepared: Any) -> None:
        self.prepared = prepared
        self.live: Any = None
        self.mask: TiledImage | None = None
        self.opacity = np.float32(-1.0)

    def region(self, layer: Layer, canvas: Rect, box: Rect) -> np.ndarray:
        """The premultiplied blend for `layer`'s mask and opacity over `box`:
        (h, w, 4) float32, clipped to valid premultiplied values."""
        import torch

        from warpaint.engine.core.tensors import to_numpy

        with torch.inference_mode():
            self._move_to(layer, canvas)
            out = to_numpy(self.live.region((box.y, box.bottom, box.x, box.right)))
        np.clip(out, 0.0, 1.0, out=out)
        np.minimum(out[..., :3], out[..., 3:4], out=out[..., :3])
        return out

    def _move_to(self, layer: Layer, canvas: Rect) -> None:
        from warpaint.engine.core.pyramid import LiveSpline
        from warpaint.engine.core.tensors import to_tensor

        mask, opacity = layer.mask, np.float32(layer.opacity)
        if self.live is not None and mask is self.mask and opacity == self.opacity:
            return
        if (
            self.live is not None
            and mask is not None
            and self.mask is not None
            and opacity == self.opacity
        ):
            box = changed_box(self.mask, mask)
            box = None if box is None else box.translated(layer.x, layer.y).intersect(canvas)
            if box is None or box.empty:
                self.mask = mask
                return
            if box.w * box.h <= _INCREMENTAL_MAX_SHARE * canvas.w * canvas.h:
                patch = mask.read_float(box.translated(-layer.x, -layer.y))
                if opacity != 1.0:
                    patch *= opacity
                self.live.update(to_tensor(patch), box.y, box.x)
                self.mask = mask
                return
        if mask is not None:
            weight = mask.read_float(canvas.translated(-layer.x, -layer.y))
        else:
            weight = np.zeros((canvas.h, canvas.w, 1), np.float32)
            inside = layer.bounds.intersect(canvas)
            weight[inside.y : inside.bottom, inside.x : inside.right] = 1.0
        if opacity != 1.0:
            weight *= opacity
        self.live = LiveSpline(self.prepared, to_tensor(weight))
        self.mask, self.opacity = mask, opacity


class _SplinedCanvas:
    """The blended canvas for one state of a multiresolution layer, computed
    per 256 px tile on demand (a view shows a few tiles) and kept."""

    def __init__(self, blend: _LiveBlend, layer: Layer, canvas: Rect) -> None:
        self._blend, self._layer, self._canvas = blend, layer, canvas
        self._tiles: dict[tuple[int, int], np.ndarray] = {}

    def read(self, rect: Rect) -> np.ndarray:
        """(h, w, 4) float32 premultiplied over `rect` (inside the canvas)."""
        tx0, tx1 = rect.x // TILE, (rect.right - 1) // TILE
        ty0, ty1 = rect.y // TILE, (rect.bottom - 1) // TILE
        keys = [(tx, ty) for ty in range(ty0, ty1 + 1) for tx in range(tx0, tx1 + 1)]
        with _cache_lock:
            missing = [k for k in keys if k not in self._tiles]
            if missing:
                # One region for all missing tiles: the coarse levels are shared.
                x0, x1 = min(k[0] for k in missing) * TILE, (max(k[0] for k in missing) + 1) * TILE
                y0, y1 = min(k[1] for k in missing) * TILE, (max(k[1] for k in missing) + 1) * TILE
                box = Rect(x0, y0, x1 - x0, y1 - y0).intersect(self._canvas)
                block = self._blend.region(self._layer, self._canvas, box)
                for tx, ty in missing:
                    tile = Rect(tx * TILE, ty * TILE, TILE, TILE).intersect(box)
                    self._tiles[(tx, ty)] = block[
                        tile.y - box.y : tile.bottom - box.y, tile.x - box.x : tile.right - box.x
                    ]
        out = np.empty((rect.h, rect.w, 4), np.float32)
        for tx, ty in keys:
            tile = Rect(tx * TILE, ty * TILE, TILE, TILE)
            part = tile.intersect(rect)
            out[part.y - rect.y : part.bottom - rect.y, part.x - rect.x : part.right - rect.x] = (
                self._tiles[(tx, ty)][
                    part.y - tile.y : part.bottom - tile.y, part.x - tile.x : part.right - tile.x
                ]
            )
        return out


def _multiresolution_canvas(
    size: tuple[int, int], below: tuple[Node, ...], layer: Layer
) -> _SplinedCanvas:
    """A multiresolution `layer` splined into the stack `below` (composited
    from transparent): (H, W, 4) float32 premultiplied over the whole canvas."""
    from warpaint.engine.core.document import DocState

    width, height = size
    canvas = Rect(0, 0, width, height)
    basis_key: tuple[Any, ...] = (
        "basis",
        width,
        height,
        tuple(map(id, below)),
        id(layer.pixels),
        layer.x,
        layer.y,
    )
    key = basis_key + (id(layer.mask), layer.opacity)

    def make_basis() -> _LiveBlend:
        import torch

        from warpaint.engine.core.pyramid import PreparedSpline
        from warpaint.engine.core.tensors import to_tensor

        local = canvas.translated(-layer.x, -layer.y)
        backdrop = composite(DocState(width, height, below), canvas)
        over = composite_over(backdrop, layer.pixels.read_float(local))
        for img in (backdrop, over):
            img[..., :3] *= img[..., 3:4]
        with torch.inference_mode():
            return _LiveBlend(PreparedSpline(to_tensor(over), to_tensor(backdrop)))

    def make() -> _SplinedCanvas:
        return _SplinedCanvas(_cached(basis_key, (below, layer.pixels), make_basis), layer, canvas)

    return _cached(key, (below, layer), make)  # type: ignore[no-any-return]


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
