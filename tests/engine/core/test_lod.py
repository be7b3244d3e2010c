"""Level of detail: box reduction, alpha weighting, tile caching, reduced states."""

import numpy as np
import pytest

from warpaint.engine.core.compositing import composite, flatten
from warpaint.engine.core.document import DocState, Layer
from warpaint.engine.core.lod import LevelOfDetail, level_for_scale, level_for_side, reduce_block
from warpaint.engine.core.tiles import TILE, TiledImage


def naive_reduce(array, f):
    """Straightforward reference: alpha-weighted mean of each f x f block."""
    a = array.astype(np.float64)
    h, w, c = a.shape
    out = np.zeros((-(-h // f), -(-w // f), c))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            block = a[i * f : (i + 1) * f, j * f : (j + 1) * f].reshape(-1, c)
            if c == 4:
                alpha = block[:, 3]
                out[i, j, 3] = alpha.mean()
                if alpha.sum() > 0:
                    out[i, j, :3] = (block[:, :3] * alpha[:, None]).sum(0) / alpha.sum()
            else:
                out[i, j] = block.mean(0)
    return out


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 4])
def test_reduce_matches_the_alpha_weighted_block_mean(dtype, channels):
    rng = np.random.default_rng(0)
    top = 1.0 if dtype == np.float32 else np.iinfo(dtype).max
    array = (rng.random((37, 50, channels)) * top).astype(dtype)
    out = reduce_block(array, 4)
    assert out.shape == (10, 13, channels) and out.dtype == dtype
    # 8-bit goes through Pillow's premultiplied 8-bit path: within 3 levels.
    tolerance = {np.uint8: 3.01, np.uint16: 1.0, np.float32: 1e-5}[dtype]
    np.testing.assert_allclose(out.astype(np.float64), naive_reduce(array, 4), atol=tolerance)


def test_transparent_pixels_do_not_darken_the_reduced_colour():
    array = np.zeros((4, 4, 4), np.uint8)
    array[:2] = (200, 100, 50, 255)  # top half opaque orange, bottom transparent black
    out = reduce_block(array, 4)
    np.testing.assert_allclose(out[0, 0, :3], (200, 100, 50), atol=1)
    assert out[0, 0, 3] in (127, 128)


def test_levels_for_scales_and_sides():
    assert level_for_scale(1.0) == 0
    assert level_for_scale(0.5) == 1
    assert level_for_scale(0.3) == 1
    assert level_for_scale(0.01) == 6
    assert level_for_side(8000, 1024) == 2  # 2000 px >= 1024 > 1000
    assert level_for_side(800, 1024) == 0


def test_reduced_state_composites_like_a_reduced_flattened_image():
    rng = np.random.default_rng(1)
    base = Layer.from_array("a", rng.integers(0, 256, (512, 768, 4), dtype=np.uint8))
    top = Layer.from_array("b", np.full((256, 256, 4), 200, np.uint8), x=256, y=128)
    state = DocState(768, 512, (base.with_(pixels=base.pixels), top))
    lod = LevelOfDetail()
    reduced = lod.state_at(state, 2)
    assert (reduced.width, reduced.height) == (192, 128)
    assert (reduced.layers[1].x, reduced.layers[1].y) == (64, 32)
    expected = reduce_block(flatten(state), 4)
    got = (composite(reduced) * 255).round()
    # Opaque top layer over the base: reduce-then-composite equals composite-then-reduce.
    np.testing.assert_allclose(got[40:60, 70:120], expected[40:60, 70:120], atol=2)


def test_tile_reductions_are_cached_and_edits_reduce_only_changed_tiles():
    rng = np.random.default_rng(2)
    image = TiledImage.from_array(rng.integers(0, 256, (2 * TILE, 2 * TILE, 4), dtype=np.uint8))
    lod = LevelOfDetail()
    first = lod.image_at(image, 1)
    again = lod.image_at(image, 1)
    assert first.tile(0, 0) is not None
    np.testing.assert_array_equal(first.to_array(), again.to_array())
    cached = lod.cached_bytes
    edited = image.with_region(0, 0, np.zeros((8, 8, 4), np.uint8))
    lod.image_at(edited, 1)
    assert lod.cached_bytes == cached + (TILE // 2) ** 2 * 4, "one new tile reduced"


def test_cache_respects_its_byte_bound():
    rng = np.random.default_rng(3)
    lod = LevelOfDetail(max_bytes=3 * (TILE // 2) ** 2 * 4)
    image = TiledImage.from_array(rng.integers(0, 256, (2 * TILE, 4 * TILE, 4), dtype=np.uint8))
    lod.image_at(image, 1)
    assert lod.cached_bytes <= lod.max_bytes
