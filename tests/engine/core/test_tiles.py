"""Tiled storage: reads, region writes that share untouched tiles, sparse zeros."""

import numpy as np
import pytest

from warpaint.engine.core.tiles import TILE, Rect, TiledImage, from_float, to_float


def test_round_trip_of_an_odd_sized_array():
    rng = np.random.default_rng(0)
    array = rng.integers(0, 65536, (TILE + 17, 2 * TILE + 3, 4), dtype=np.uint16)
    image = TiledImage.from_array(array)
    assert image.shape == array.shape and image.dtype == np.uint16
    np.testing.assert_array_equal(image.to_array(), array)


def test_read_outside_the_image_gives_zeros():
    image = TiledImage.from_array(np.full((4, 4, 1), 7, np.uint8))
    out = image.read(Rect(-2, -2, 4, 4))
    assert out.shape == (4, 4, 1)
    assert out[:2].sum() == 0 and out[:, :2].sum() == 0
    assert (out[2:, 2:] == 7).all()


def test_region_write_shares_untouched_tiles_and_leaves_original_unchanged():
    array = np.ones((3 * TILE, 3 * TILE, 4), np.uint8)
    image = TiledImage.from_array(array)
    edited = image.with_region(10, 10, np.full((5, 5, 4), 200, np.uint8))
    assert image.read(Rect(10, 10, 1, 1))[0, 0, 0] == 1
    assert edited.read(Rect(10, 10, 1, 1))[0, 0, 0] == 200
    assert edited.tile(0, 0) is not image.tile(0, 0)
    shared = [k for k in image.tile_keys() if edited.tile(*k) is image.tile(*k)]
    assert len(shared) == 8


def test_tiles_are_read_only():
    image = TiledImage.from_array(np.ones((8, 8, 4), np.uint8))
    with pytest.raises(ValueError):
        image.tile(0, 0)[0, 0, 0] = 5


def test_blank_tiles_cost_nothing():
    image = TiledImage.blank(8000, 8000, 4, np.uint8)
    assert image.nbytes == 0
    painted = image.with_region(0, 0, np.full((10, 10, 4), 9, np.uint8))
    assert painted.nbytes == TILE * TILE * 4


def test_float_conversion_round_trips_every_8_and_16_bit_value():
    for dtype, top in ((np.uint8, 255), (np.uint16, 65535)):
        values = np.arange(top + 1, dtype=dtype)
        np.testing.assert_array_equal(from_float(to_float(values), dtype), values)


def test_equals_compares_pixels_not_identity():
    a = TiledImage.from_array(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))
    b = TiledImage.from_array(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))
    assert a.equals(b)
    assert not a.equals(b.with_region(0, 0, np.zeros((1, 1, 3), np.uint8)))
