"""Mask strokes on a multiresolution layer: incremental re-blend equals a full one."""

import numpy as np
import pytest
import torch

from warpaint.engine.core import compositing
from warpaint.engine.core import pyramid as P
from warpaint.engine.core.compositing import changed_box, clear_multiresolution_cache, composite
from warpaint.engine.core.document import DocState, Layer
from warpaint.engine.core.lod import LevelOfDetail
from warpaint.engine.core.tiles import TILE, Rect, TiledImage


@pytest.mark.parametrize(("size", "levels"), [((37, 53), None), ((300, 517), None), ((96, 64), 3)])
def test_live_spline_after_patches_equals_a_full_blend_of_the_new_mask(size, levels):
    h, w = size
    gen = torch.Generator().manual_seed(1)
    a, b = torch.rand(1, 4, h, w, generator=gen), torch.rand(1, 4, h, w, generator=gen)
    prepared = P.PreparedSpline(a, b, levels)
    mask = (torch.rand(1, 1, h, w, generator=gen) > 0.5).float()
    live = P.LiveSpline(prepared, mask)
    # Patches at the corners, the edges and inside, of odd and single-sample sizes.
    for top, left, ph, pw in [
        (0, 0, 1, 1),
        (h - 5, w - 9, 5, 9),
        (3, w - 2, h - 3, 2),
        (7, 11, 17, 13),
    ]:
        patch = torch.rand(1, 1, ph, pw, generator=gen)
        mask[:, :, top : top + ph, left : left + pw] = patch
        live.update(patch, top, left)
        full = prepared.blend(mask)
        assert (live.region((0, h, 0, w)) - full).abs().max() < 1e-5
        y0, x0 = h // 3, w // 4
        part = live.region((y0, y0 + 9, x0, x0 + 21))
        assert (part - full[:, :, y0 : y0 + 9, x0 : x0 + 21]).abs().max() < 1e-5


def test_changed_box_is_the_bounding_box_of_the_changed_pixels():
    mask = TiledImage.from_array(np.zeros((600, 700, 1), np.uint8))
    assert changed_box(mask, mask.with_region(0, 0, np.zeros((5, 5, 1), np.uint8))) is None
    edited = mask.with_region(250, 240, np.full((30, 20, 1), 9, np.uint8))
    assert changed_box(mask, edited) == Rect(250, 240, 20, 30)


def _document(h=300, w=560):
    rng = np.random.default_rng(4)
    bottom = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    bottom[..., 3] = 255
    top = rng.integers(0, 256, (h - 20, w - 40, 4), dtype=np.uint8)
    top[..., 3] = 255
    mask = np.zeros((h - 20, w - 40, 1), np.uint8)
    mask[:, : (w - 40) // 2] = 255
    layer = Layer(
        "top",
        TiledImage.from_array(top),
        blend_mode="multiresolution",
        mask=TiledImage.from_array(mask),
        x=15,
        y=7,
    )
    return DocState(w, h, (Layer.from_array("bottom", bottom), layer))


def _stroke(state, x, y, value):
    layer = state.layers[-1]
    mask = layer.mask.with_region(x, y, np.full((40, 30, 1), value, np.uint8))
    return state.replace_layer(layer.with_(mask=mask))


def test_mask_stroke_recomposites_incrementally_and_equals_a_full_recompute(monkeypatch):
    clear_multiresolution_cache()
    state = _document()
    tile = Rect(TILE, 0, TILE, TILE)
    composite(state, tile)
    rebuilt = []
    original = P.LiveSpline.__init__
    monkeypatch.setattr(
        P.LiveSpline, "__init__", lambda self, *a: (rebuilt.append(a), original(self, *a))[1]
    )
    strokes = [_stroke(state, 250, 100, 0)]
    strokes.append(_stroke(strokes[-1], 10, 200, 255))
    got = [composite(s, tile) for s in strokes] + [composite(state, tile)]  # the last: undo
    assert rebuilt == [], "the mask's pyramid was patched, not rebuilt"
    monkeypatch.undo()
    for s, g in zip([*strokes, state], got, strict=True):
        clear_multiresolution_cache()
        np.testing.assert_allclose(g, composite(s, tile), atol=1e-5)
    assert np.abs(got[0] - got[2]).max() > 1e-3, "the stroke changed the tile"


def test_reduced_states_reuse_unchanged_layers_and_reduce_multiresolution_documents_whole(
    monkeypatch,
):
    clear_multiresolution_cache()
    state = _document()
    lod = LevelOfDetail()
    region = Rect(0, 0, 64, 64)
    first = lod.state_at(state, 1, region)
    # Whole layers although a region was asked for: the far corner has pixels.
    assert first.layers[0].pixels.read(Rect(250, 120, 10, 10)).any()
    stroked = _stroke(state, 250, 100, 0)
    second = lod.state_at(stroked, 1, region)
    assert second.layers[0] is first.layers[0]
    assert second.layers[1].pixels is first.layers[1].pixels
    assert second.layers[1].mask is not first.layers[1].mask
    composite(first, Rect(0, 0, 128, 128))
    calls = []
    original = compositing._LiveBlend.__init__
    monkeypatch.setattr(
        compositing._LiveBlend, "__init__", lambda self, p: (calls.append(p), original(self, p))[1]
    )
    composite(second, Rect(0, 0, 128, 128))
    assert calls == [], "the reduced images' pyramids were reused"
