"""Level of detail: reduced copies of document states for zoomed-out views and previews.

Level L shows the canvas at 1 / 2**L. Each stored tile of a layer is reduced
by a box filter (alpha-weighted for RGBA, so transparent pixels do not darken
edges) and cached by tile identity: tiles are immutable and shared between
states, so after an edit only the changed tiles are reduced again. The
reduced layers form an ordinary `DocState` that `compositing.composite`
flattens, so a zoomed-out view composites a few tiles, not the whole image.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from warpaint.engine.core.compositing import affects_composite
from warpaint.engine.core.document import DocState, Group, Layer, Node
from warpaint.engine.core.tiles import TILE, Rect, TiledImage

MAX_LEVEL = 6
DEFAULT_CACHE_BYTES = 512 * 2**20


def level_for_scale(scale: float) -> int:
    """The coarsest level whose resolution is still at least `scale` (display px per image px)."""
    level = 0
    while level < MAX_LEVEL and scale * 2 ** (level + 1) <= 1.0:
        level += 1
    return level


def level_for_side(side: int, max_side: int) -> int:
    """The coarsest level at which an image `side` pixels long keeps >= `max_side` pixels."""
    if side <= max_side:
        return 0
    return min(MAX_LEVEL, int(math.floor(math.log2(side / max_side))))


def reduced_size(size: int, factor: int) -> int:
    return max(1, -(-size // factor))


def _block_sums(array: np.ndarray, factor: int, dtype: type) -> np.ndarray:
    """Sums over factor x factor blocks of an (H*f, W*f, C) array, in two cheap passes."""
    h, w, c = array.shape
    rows = array.reshape(h, w // factor, factor, c).sum(axis=2, dtype=dtype)
    return rows.reshape(h // factor, factor, w // factor, c).sum(axis=1, dtype=dtype)


def reduce_block(array: np.ndarray, factor: int) -> np.ndarray:
    """Box-reduce an (h, w, C) array by `factor`, keeping its dtype.

    Partial blocks at the right and bottom edges average only their real
    pixels. With C = 4 the colour is averaged weighted by alpha. Integer
    images are summed in integers (exact, and several times faster than
    converting to float first).
    """
    h, w, c = array.shape
    if array.dtype == np.uint8 and c in (1, 4):
        return _reduce_uint8(array, factor)
    H, W = reduced_size(h, factor), reduced_size(w, factor)
    integer = array.dtype.kind == "u"
    acc: Any = (np.uint64 if array.dtype == np.uint16 else np.uint32) if integer else np.float64
    if H * factor != h or W * factor != w:
        array = np.pad(array, ((0, H * factor - h), (0, W * factor - w), (0, 0)))
    weighted = c == 4 and not (integer and array[:h, :w, 3].min() == np.iinfo(array.dtype).max)
    rows = np.minimum(factor, h - np.arange(H) * factor)
    cols = np.minimum(factor, w - np.arange(W) * factor)
    count = (rows[:, None] * cols[None, :])[..., None]
    if weighted:
        alpha = array[..., 3:4].astype(acc)
        colour_sums = _block_sums(array[..., :3].astype(acc) * alpha, factor, acc)
        alpha_sums = _block_sums(alpha, factor, acc)
        out = np.empty((H, W, 4), np.float64)
        np.divide(colour_sums, alpha_sums, out=out[..., :3], where=alpha_sums > 0)
        out[..., :3][np.broadcast_to(alpha_sums == 0, (H, W, 3))] = 0
        out[..., 3:4] = alpha_sums / count
    else:
        sums = _block_sums(array, factor, acc)
        if integer:
            return ((sums + count // 2) // count).astype(array.dtype)
        out = sums / count
    if integer:
        return np.clip(np.rint(out), 0, np.iinfo(array.dtype).max).astype(array.dtype)
    return out.astype(array.dtype)


def _reduce_uint8(array: np.ndarray, factor: int) -> np.ndarray:
    """Pillow's C box reduction for 8-bit RGBA (premultiplied: mode 'RGBa') and masks.

    About four times faster than the numpy path; premultiplying in 8 bits
    costs at most up to about 3 levels in translucent colours, which is
    invisible at display resolution.
    """
    if array.shape[2] == 1:
        return np.asarray(Image.fromarray(array[..., 0], "L").reduce(factor))[..., None]
    image = Image.fromarray(array, "RGBA").convert("RGBa").reduce(factor).convert("RGBA")
    return np.asarray(image)


class LevelOfDetail:
    """Reduced copies of document states; tile reductions cached by tile identity.

    Thread-safe: the canvas and preview jobs share one instance.
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._tiles: OrderedDict[tuple[int, int], tuple[weakref.ref[np.ndarray], np.ndarray]] = (
            OrderedDict()
        )
        self._bytes = 0
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        # Per level: the whole-layer reductions the latest whole-canvas call made,
        # source image/layer id -> (source, reduced), to hand out again unchanged.
        self._stable: dict[int, tuple[dict[int, tuple[Any, Any]], dict[int, tuple[Any, Any]]]] = {}
        self._stable_lock = threading.Lock()

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def state_at(self, state: DocState, level: int, region: Rect | None = None) -> DocState:
        """`state` reduced by 2**level (level 0 returns it unchanged).

        With `region` (canvas pixels at full size) only the parts of layers that
        touch it are reduced; the rest of the reduced layers reads as transparent.
        A document with a multiresolution layer is always reduced whole: its
        spline spans the canvas, so a partly blank layer would change what shows
        inside the region too. Whole reductions hand out the same reduced layer
        and image objects as the previous call wherever the source did not
        change, so caches keyed by layer identity (the multiresolution spline's
        pyramids) keep hitting on reduced states. Hidden layers are left out.
        """
        if level == 0:
            return state
        if region is not None and not _has_canvas_mode(state):
            return self._reduced(
                state,
                level,
                lambda layer, image: self.image_at(
                    image, level, region.translated(-layer.x, -layer.y)
                ),
            )
        with self._stable_lock:
            old_images, old_layers = self._stable.get(level, ({}, {}))
            images: dict[int, tuple[Any, Any]] = {}
            layers: dict[int, tuple[Any, Any]] = {}

            def image(layer: Layer, source: TiledImage) -> TiledImage:
                hit = old_images.get(id(source)) or images.get(id(source))
                if hit is None or hit[0] is not source:
                    hit = (source, self.image_at(source, level))
                images[id(source)] = hit
                return hit[1]  # type: ignore[no-any-return]

            def layer_at(layer: Layer) -> Layer:
                hit = old_layers.get(id(layer))
                if hit is None or hit[0] is not layer:
                    hit = (layer, self._layer_at(layer, level, image))
                else:
                    image(layer, layer.pixels)
                    if layer.mask is not None:
                        image(layer, layer.mask)
                layers[id(layer)] = hit
                return hit[1]  # type: ignore[no-any-return]

            def group_at(group: Group, build: Callable[[], Group]) -> Group:
                # An unchanged group (the same object) has unchanged children.
                hit = old_layers.get(id(group))
                if hit is None or hit[0] is not group:
                    hit = (group, build())
                layers[id(group)] = hit
                return hit[1]  # type: ignore[no-any-return]

            out = self._reduced(state, level, None, layer_at, group_at)
            self._stable[level] = (images, layers)
        return out

    def _layer_at(self, layer: Layer, level: int, image: Any) -> Layer:
        factor = 2**level
        mask = image(layer, layer.mask) if layer.mask is not None else None
        return layer.with_(
            pixels=image(layer, layer.pixels), mask=mask, x=layer.x // factor, y=layer.y // factor
        )

    def _reduced(
        self,
        state: DocState,
        level: int,
        image: Any,
        layer_at: Any = None,
        group_at: Any = None,
    ) -> DocState:
        factor = 2**level

        def reduce_group(node: Group) -> Group:
            mask = node.mask
            if mask is not None:
                # Group masks are few: reduced whole, cached by tile.
                mask = self.image_at(mask, level)
            return node.with_(
                children=reduce(node.children), mask=mask, x=node.x // factor, y=node.y // factor
            )

        def reduce(nodes: tuple[Node, ...]) -> tuple[Node, ...]:
            out: list[Node] = []
            for node in nodes:
                if not affects_composite(node):
                    continue
                if isinstance(node, Group):
                    if group_at is not None:
                        out.append(group_at(node, lambda n=node: reduce_group(n)))
                    else:
                        out.append(reduce_group(node))
                elif layer_at is not None:
                    out.append(layer_at(node))
                else:
                    out.append(self._layer_at(node, level, image))
            return tuple(out)

        return DocState(
            reduced_size(state.width, factor),
            reduced_size(state.height, factor),
            reduce(state.root),
            state.meta,
        )

    def image_at(self, image: TiledImage, level: int, region: Rect | None = None) -> TiledImage:
        """`image` reduced by 2**level, built only over `region` (image pixels) if given."""
        if level == 0:
            return image
        factor = 2**level
        step = TILE // factor
        width, height = reduced_size(image.width, factor), reduced_size(image.height, factor)
        area = image.bounds if region is None else region.intersect(image.bounds)
        tiles: dict[tuple[int, int], np.ndarray] = {}
        if not area.empty:
            for lty in range(area.y // factor // TILE, (area.bottom - 1) // factor // TILE + 1):
                for ltx in range(area.x // factor // TILE, (area.right - 1) // factor // TILE + 1):
                    th = min(TILE, height - lty * TILE)
                    tw = min(TILE, width - ltx * TILE)
                    out: np.ndarray | None = None
                    for sty in range(lty * factor, min((lty + 1) * factor, image.tiles_y)):
                        for stx in range(ltx * factor, min((ltx + 1) * factor, image.tiles_x)):
                            source = image.tile(stx, sty)
                            if source is None:
                                continue
                            small = self._tile_at(source, level)
                            if out is None:
                                out = np.zeros((th, tw, image.channels), image.dtype)
                            oy, ox = (sty - lty * factor) * step, (stx - ltx * factor) * step
                            out[oy : oy + small.shape[0], ox : ox + small.shape[1]] = small
                    if out is not None:
                        out.flags.writeable = False
                        tiles[(ltx, lty)] = out
        return TiledImage(width, height, image.channels, image.dtype, tiles)

    def _tile_at(self, tile: np.ndarray, level: int) -> np.ndarray:
        key = (id(tile), level)
        with self._lock:
            hit = self._tiles.get(key)
            # A weak reference tells a live tile from a new one that reuses a dead one's id.
            if hit is not None and hit[0]() is tile:
                self._tiles.move_to_end(key)
                return hit[1]
        small = reduce_block(tile, 2**level)
        small.flags.writeable = False
        with self._lock:
            old = self._tiles.pop(key, None)
            if old is not None:
                self._bytes -= old[1].nbytes
            self._tiles[key] = (weakref.ref(tile), small)
            self._bytes += small.nbytes
            while self._bytes > self.max_bytes and len(self._tiles) > 1:
                _, (_, dropped) = self._tiles.popitem(last=False)
                self._bytes -= dropped.nbytes
        return small


def _has_canvas_mode(state: DocState) -> bool:
    from warpaint.engine.core.compositing import CANVAS_MODES

    return any(layer.blend_mode in CANVAS_MODES and layer.visible for layer in state.layers)


_shared: LevelOfDetail | None = None
_shared_lock = threading.Lock()


def shared_lod() -> LevelOfDetail:
    """The process-wide cache, shared by the canvas and effect previews."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LevelOfDetail()
        return _shared
