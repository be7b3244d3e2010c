"""Tiled, immutable pixel storage at source precision.

A `TiledImage` is an (H, W, C) raster cut into TILE x TILE numpy tiles of one
dtype (uint8, uint16 or float32). Tiles are read-only and shared: editing a
region returns a new `TiledImage` that reuses every untouched tile. That makes
document snapshots free, undo bit-exact, and history memory proportional to
the tiles a step really changed. Tiles that were never written are implicit
zeros (fully transparent) and cost nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

TILE = 256

SUPPORTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


def dtype_max(dtype: np.dtype) -> float:
    """The value that means 1.0 for a storage dtype."""
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    return 1.0


def to_float(array: np.ndarray) -> np.ndarray:
    """Storage array (any supported dtype) -> float32 in [0, 1], a new array."""
    if array.dtype == np.float32:
        return array.astype(np.float32, copy=True)
    return array.astype(np.float32) * np.float32(1.0 / dtype_max(array.dtype))


def from_float(array: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """float32 in [0, 1] -> storage dtype, rounded to nearest and clipped."""
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return np.ascontiguousarray(array, dtype=np.float32)
    scale = dtype_max(dtype)
    return np.clip(np.rint(array * scale), 0, scale).astype(dtype)


@dataclass(frozen=True)
class Rect:
    """An axis-aligned pixel rectangle; x, y may be negative, w, h >= 0."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    @property
    def empty(self) -> bool:
        return self.w <= 0 or self.h <= 0

    def intersect(self, other: Rect) -> Rect:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.right, other.right), min(self.bottom, other.bottom)
        return Rect(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def translated(self, dx: int, dy: int) -> Rect:
        return Rect(self.x + dx, self.y + dy, self.w, self.h)

    @staticmethod
    def bounding(rects: Iterable[Rect]) -> Rect:
        """The smallest rectangle holding every non-empty one of `rects`
        (an empty rectangle at the origin when there is none)."""
        rects = [r for r in rects if not r.empty]
        if not rects:
            return Rect(0, 0, 0, 0)
        x0, y0 = min(r.x for r in rects), min(r.y for r in rects)
        x1, y1 = max(r.right for r in rects), max(r.bottom for r in rects)
        return Rect(x0, y0, x1 - x0, y1 - y0)


class TiledImage:
    """An immutable (height, width, channels) raster stored as shared tiles."""

    __slots__ = ("width", "height", "channels", "dtype", "_tiles")

    def __init__(
        self,
        width: int,
        height: int,
        channels: int,
        dtype: np.dtype | type,
        tiles: dict[tuple[int, int], np.ndarray] | None = None,
    ) -> None:
        dtype = np.dtype(dtype)
        if dtype not in SUPPORTED_DTYPES:
            raise ValueError(f"unsupported pixel type {dtype}")
        if width < 1 or height < 1 or channels < 1:
            raise ValueError(f"bad raster size {width}x{height}x{channels}")
        self.width = int(width)
        self.height = int(height)
        self.channels = int(channels)
        self.dtype = dtype
        self._tiles: dict[tuple[int, int], np.ndarray] = dict(tiles or {})

    # -- construction -------------------------------------------------
    @classmethod
    def from_array(cls, array: np.ndarray) -> TiledImage:
        """(H, W, C) or (H, W) array of a supported dtype -> TiledImage (copies)."""
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise ValueError(f"expected an (H, W, C) array, got shape {array.shape}")
        h, w, c = array.shape
        image = cls(w, h, c, array.dtype)
        image._tiles = dict(_cut_tiles(array, skip_zero=True))
        return image

    @classmethod
    def blank(cls, width: int, height: int, channels: int, dtype: np.dtype | type) -> TiledImage:
        return cls(width, height, channels, dtype)

    @classmethod
    def filled(
        cls, width: int, height: int, value: tuple[float, ...], dtype: np.dtype | type
    ) -> TiledImage:
        """Every pixel set to `value` (floats in [0, 1]); all tiles share one array."""
        image = cls(width, height, len(value), dtype)
        full = from_float(np.asarray(value, np.float32), image.dtype)
        if not np.any(full):
            return image
        for ty in range(image.tiles_y):
            for tx in range(image.tiles_x):
                th, tw = image.tile_shape(tx, ty)
                tile = np.empty((th, tw, image.channels), image.dtype)
                tile[...] = full
                tile.flags.writeable = False
                image._tiles[(tx, ty)] = tile
        return image

    # -- geometry -----------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)

    @property
    def tiles_x(self) -> int:
        return -(-self.width // TILE)

    @property
    def tiles_y(self) -> int:
        return -(-self.height // TILE)

    @property
    def bounds(self) -> Rect:
        return Rect(0, 0, self.width, self.height)

    def tile_shape(self, tx: int, ty: int) -> tuple[int, int]:
        return (min(TILE, self.height - ty * TILE), min(TILE, self.width - tx * TILE))

    def tile_keys(self) -> Iterator[tuple[int, int]]:
        """Keys of the tiles that hold data (absent tiles are zeros)."""
        return iter(self._tiles)

    def tile(self, tx: int, ty: int) -> np.ndarray | None:
        return self._tiles.get((tx, ty))

    def tile_ids(self) -> dict[int, int]:
        """id(tile) -> nbytes for every stored tile (for history accounting)."""
        return {id(t): t.nbytes for t in self._tiles.values()}

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self._tiles.values())

    # -- reading ------------------------------------------------------
    def read(self, rect: Rect | None = None) -> np.ndarray:
        """Pixels of `rect` (clipped to the image) at storage dtype, (h, w, C) copy.

        Parts of `rect` outside the image read as zeros.
        """
        rect = rect or self.bounds
        out = np.zeros((max(rect.h, 0), max(rect.w, 0), self.channels), self.dtype)
        inside = rect.intersect(self.bounds)
        if inside.empty:
            return out
        tx0, tx1 = inside.x // TILE, (inside.right - 1) // TILE
        ty0, ty1 = inside.y // TILE, (inside.bottom - 1) // TILE
        for ty in range(ty0, ty1 + 1):
            for tx in range(tx0, tx1 + 1):
                tile = self._tiles.get((tx, ty))
                if tile is None:
                    continue
                trect = Rect(tx * TILE, ty * TILE, tile.shape[1], tile.shape[0])
                part = trect.intersect(inside)
                out[
                    part.y - rect.y : part.bottom - rect.y, part.x - rect.x : part.right - rect.x
                ] = tile[
                    part.y - trect.y : part.bottom - trect.y,
                    part.x - trect.x : part.right - trect.x,
                ]
        return out

    def read_float(self, rect: Rect | None = None) -> np.ndarray:
        """Like `read` but float32 in [0, 1]."""
        return to_float(self.read(rect))

    def to_array(self) -> np.ndarray:
        return self.read()

    # -- writing (returns new images) ---------------------------------
    def with_region(self, x: int, y: int, pixels: np.ndarray) -> TiledImage:
        """A new image with `pixels` (h, w, C) written at (x, y); clipped.

        `pixels` of another dtype are converted through float. Only tiles the
        region touches are replaced; all others are shared with `self`.
        """
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if pixels.shape[2] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {pixels.shape[2]}")
        if pixels.dtype != self.dtype:
            pixels = from_float(
                pixels if pixels.dtype == np.float32 else to_float(pixels), self.dtype
            )
        region = Rect(x, y, pixels.shape[1], pixels.shape[0]).intersect(self.bounds)
        result = TiledImage(self.width, self.height, self.channels, self.dtype, self._tiles)
        if region.empty:
            return result
        for ty in range(region.y // TILE, (region.bottom - 1) // TILE + 1):
            for tx in range(region.x // TILE, (region.right - 1) // TILE + 1):
                th, tw = self.tile_shape(tx, ty)
                trect = Rect(tx * TILE, ty * TILE, tw, th)
                part = trect.intersect(region)
                old = self._tiles.get((tx, ty))
                tile = np.zeros((th, tw, self.channels), self.dtype) if old is None else old.copy()
                tile[
                    part.y - trect.y : part.bottom - trect.y,
                    part.x - trect.x : part.right - trect.x,
                ] = pixels[part.y - y : part.bottom - y, part.x - x : part.right - x]
                if np.any(tile):
                    tile.flags.writeable = False
                    result._tiles[(tx, ty)] = tile
                else:
                    result._tiles.pop((tx, ty), None)
        return result

    def equals(self, other: TiledImage) -> bool:
        """Same size, channels, dtype and bit-identical pixels."""
        if (self.shape, self.dtype) != (other.shape, other.dtype):
            return False
        for key in set(self._tiles) | set(other._tiles):
            a, b = self._tiles.get(key), other._tiles.get(key)
            if a is b:
                continue
            if a is None or b is None:
                if np.any(a if a is not None else b):
                    return False
                continue
            if not np.array_equal(a, b):
                return False
        return True


def _cut_tiles(array: np.ndarray, skip_zero: bool) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
    h, w = array.shape[:2]
    for ty in range(-(-h // TILE)):
        for tx in range(-(-w // TILE)):
            tile = np.array(array[ty * TILE : (ty + 1) * TILE, tx * TILE : (tx + 1) * TILE])
            if skip_zero and not np.any(tile):
                continue
            tile.flags.writeable = False
            yield (tx, ty), tile
