"""Level-of-detail document states for zoomed-out views of big images.

Level L shows the canvas at 1 / 2**L. Each stored tile of a layer is reduced
once per level with the engine's box resampler and cached by tile identity
(tiles are immutable and shared between states, so an edit only reduces the
tiles it changed); the reduced layers form an ordinary `DocState` that the
engine's `composite` flattens. No pixel math happens here beyond calling the
engine.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import numpy as np
from warpaint.engine.document import DocState, Layer
from warpaint.engine.resample import resize
from warpaint.engine.tiles import TILE, Rect, TiledImage, from_float, to_float

MAX_LEVEL = 6


def level_for_scale(device_scale: float) -> int:
    """The coarsest level whose resolution is still at least the display's."""
    level = 0
    while level < MAX_LEVEL and device_scale * 2 ** (level + 1) <= 1.0:
        level += 1
    return level


def _reduced(size: int, factor: int) -> int:
    return max(1, -(-size // factor))


class LevelOfDetail:
    """Reduced copies of document states; tile reductions are cached by tile identity."""

    def __init__(self, max_tiles: int = 20_000) -> None:
        self._tiles: OrderedDict[tuple[int, int], tuple[weakref.ref[np.ndarray], np.ndarray]] = (
            OrderedDict()
        )
        self._max_tiles = max_tiles
        self._lock = threading.Lock()

    def state_at(self, state: DocState, level: int, region: Rect | None = None) -> DocState:
        """`state` reduced by 2**level (level 0 returns it unchanged).

        With `region` (canvas pixels at full size) only the parts of layers that
        touch it are reduced; the rest of the reduced layers reads as transparent.
        """
        if level == 0:
            return state
        factor = 2**level
        layers: list[Layer] = []
        for layer in state.layers:
            if not layer.visible or layer.opacity <= 0.0:
                continue
            local = None if region is None else region.translated(-layer.x, -layer.y)
            pixels = self.image_at(layer.pixels, level, local)
            mask = self.image_at(layer.mask, level, local) if layer.mask is not None else None
            layers.append(
                layer.with_(pixels=pixels, mask=mask, x=layer.x // factor, y=layer.y // factor)
            )
        return DocState(
            _reduced(state.width, factor), _reduced(state.height, factor), tuple(layers), state.meta
        )

    def image_at(self, image: TiledImage, level: int, region: Rect | None = None) -> TiledImage:
        """`image` reduced by 2**level, built only over `region` (image pixels) if given."""
        if level == 0:
            return image
        factor = 2**level
        step = TILE // factor
        reduced = TiledImage(
            _reduced(image.width, factor),
            _reduced(image.height, factor),
            image.channels,
            image.dtype,
        )
        area = image.bounds if region is None else region.intersect(image.bounds)
        if area.empty:
            return reduced
        tiles: dict[tuple[int, int], np.ndarray] = {}
        for lty in range(area.y // factor // TILE, (area.bottom - 1) // factor // TILE + 1):
            for ltx in range(area.x // factor // TILE, (area.right - 1) // factor // TILE + 1):
                th, tw = reduced.tile_shape(ltx, lty)
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
        return TiledImage(reduced.width, reduced.height, image.channels, image.dtype, tiles)

    def _tile_at(self, tile: np.ndarray, level: int) -> np.ndarray:
        key = (id(tile), level)
        with self._lock:
            hit = self._tiles.get(key)
            if hit is not None and hit[0]() is tile:
                self._tiles.move_to_end(key)
                return hit[1]
        factor = 2**level
        h, w = tile.shape[:2]
        small = resize(to_float(tile), _reduced(w, factor), _reduced(h, factor), method="box")
        small = from_float(small, tile.dtype)
        with self._lock:
            # A weak reference tells a live tile from a new one that reuses a dead one's id.
            self._tiles[key] = (weakref.ref(tile), small)
            while len(self._tiles) > self._max_tiles:
                self._tiles.popitem(last=False)
        return small
