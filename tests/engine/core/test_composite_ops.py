"""Every pixel mode in whole documents: tiles, strips and reduced levels agree with
full flattening, Porter-Duff operators act on the whole root stack, .ora keeps them."""

from __future__ import annotations

import zipfile
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from warpaint.engine.core.compositing import (
    COMPOSITE_OPS,
    blend_mode_names,
    composite,
    flatten,
    reach,
)
from warpaint.engine.core.document import DocState, Layer
from warpaint.engine.core.lod import LevelOfDetail
from warpaint.engine.core.tiles import Rect, TiledImage
from warpaint.engine.io import describe, read_ora, write_ora

PIXEL_MODES = [m for m in blend_mode_names() if m != "multiresolution"]


def _stack(mode: str, opacity: float = 0.7, visible: bool = True) -> DocState:
    """A 70 x 50 canvas: an opaque base, a translucent middle layer, and on top a
    30 x 20 layer in `mode` at (13, 7) with a mask, smaller than the canvas."""
    rng = np.random.default_rng(11)
    base = rng.random((50, 70, 4), dtype=np.float32)
    base[..., 3] = 1.0
    middle = rng.random((40, 50, 4), dtype=np.float32)
    top = rng.random((20, 30, 4), dtype=np.float32)
    mask = rng.random((20, 30, 1), dtype=np.float32)
    layers = (
        Layer.from_array("base", base),
        Layer.from_array("middle", middle, x=-6, y=4, blend_mode="screen"),
        Layer(
            "top",
            TiledImage.from_array(top),
            blend_mode=mode,
            opacity=opacity,
            visible=visible,
            mask=TiledImage.from_array(mask),
            x=13,
            y=7,
        ),
    )
    return DocState(70, 50, layers)


@pytest.mark.parametrize("mode", PIXEL_MODES)
def test_any_rect_equals_the_crop_of_the_full_canvas(mode):
    state = _stack(mode)
    full = composite(state)
    # Inside the top layer, across its edge, and wholly outside it.
    for rect in (Rect(15, 9, 8, 8), Rect(0, 0, 32, 32), Rect(40, 20, 30, 30), Rect(0, 30, 10, 20)):
        np.testing.assert_array_equal(
            composite(state, rect), full[rect.y : rect.bottom, rect.x : rect.right], str(rect)
        )
    np.testing.assert_array_equal(flatten(state, rows=7), flatten(state, rows=1000))


@pytest.mark.parametrize("mode", ["dst-in", "dst-atop"])
def test_dst_in_and_dst_atop_clear_everything_below_outside_the_layer(mode):
    full = composite(_stack(mode))
    assert not full[:7].any() and not full[:, :13].any() and not full[27:].any()
    assert full[7:27, 13:43, 3].min() > 0.0
    canvas = Rect(0, 0, 70, 50)
    assert reach(_stack(mode).layers[2], canvas) == canvas
    assert reach(_stack(mode, visible=False).layers[2], canvas) == Rect(13, 7, 30, 20)


@pytest.mark.parametrize("mode", ["plus", "dst-out", "src-atop"])
def test_other_operators_leave_the_backdrop_outside_the_layer(mode):
    full = composite(_stack(mode))
    below = composite(DocState(70, 50, _stack(mode).layers[:2]))
    np.testing.assert_array_equal(full[:7], below[:7])
    np.testing.assert_array_equal(full[27:], below[27:])
    assert np.abs(full[7:27, 13:43] - below[7:27, 13:43]).max() > 0.05
    assert reach(_stack(mode).layers[2], Rect(0, 0, 70, 50)) == Rect(13, 7, 30, 20)


def test_dst_in_at_zero_opacity_clears_the_canvas_and_hidden_does_nothing():
    # as = alpha x opacity x mask = 0 everywhere, so Fb = as keeps nothing below.
    assert not composite(_stack("dst-in", opacity=0.0)).any()
    hidden = composite(_stack("dst-in", visible=False))
    np.testing.assert_array_equal(hidden, composite(DocState(70, 50, _stack("dst-in").layers[:2])))


@pytest.mark.parametrize("mode", ["dst-in", "dst-atop", "dst-out", "plus"])
def test_reduced_tiles_of_a_region_equal_the_whole_reduction(mode):
    # The canvas reduces only the layers' parts in view; a clearing operator
    # must still clear outside its layer there.
    state = _stack(mode)
    lod = LevelOfDetail()
    whole = composite(lod.state_at(state, 1))
    region = Rect(0, 0, 32, 32)
    part = composite(lod.state_at(state, 1, region), Rect(0, 0, 16, 16))
    np.testing.assert_array_equal(part, whole[:16, :16])


def test_reduced_state_keeps_a_zero_opacity_clearing_layer():
    state = _stack("dst-in", opacity=0.0)
    lod = LevelOfDetail()
    assert not composite(lod.state_at(state, 2)).any()
    assert not composite(lod.state_at(state, 1, Rect(0, 0, 32, 32)), Rect(0, 0, 16, 16)).any()


def test_background_goes_under_the_isolated_stack():
    # A dst-out layer punches a hole in the layers; the matte shows through it
    # instead of being punched too.
    base = Layer.from_array("base", np.full((4, 4, 4), 0.5, np.float32))
    hole = Layer.from_array("hole", np.ones((2, 2, 4), np.float32), blend_mode="dst-out", x=1, y=1)
    white = np.ones((4, 4, 4), np.float32)
    out = composite(DocState(4, 4, (base, hole)), background=white)
    np.testing.assert_allclose(out[1:3, 1:3], 1.0)
    # 0.5 grey at alpha 0.5 over white: 0.5 * 0.5 + 0.5 = 0.75
    np.testing.assert_allclose(out[0, 0], [0.75, 0.75, 0.75, 1.0], atol=1e-6)
    # A blend mode over transparent pixels blends with nothing, not with the matte:
    # difference over a transparent canvas is the layer itself, then over white.
    grey = Layer.from_array("grey", np.full((1, 1, 4), 0.25, np.float32), blend_mode="difference")
    out = composite(DocState(1, 1, (grey,)), background=np.ones((1, 1, 4), np.float32))
    np.testing.assert_allclose(out[0, 0], [0.8125, 0.8125, 0.8125, 1.0], atol=1e-6)


def test_ora_round_trip_keeps_every_mode_as_its_svg_op(tmp_path):
    rng = np.random.default_rng(5)
    layers = tuple(
        Layer.from_array(m, rng.integers(0, 256, (6, 5, 4), dtype=np.uint8), blend_mode=m)
        for m in PIXEL_MODES
    )
    state = DocState(5, 6, layers)
    write_ora(state, tmp_path / "ops.ora")
    with zipfile.ZipFile(tmp_path / "ops.ora") as zf:
        root = ET.fromstring(zf.read("stack.xml"))
    ops = {el.get("name"): el.get("composite-op") for el in root.iter("layer")}
    expected = {m: "svg:src-over" if m == "normal" else f"svg:{m}" for m in PIXEL_MODES}
    assert ops == expected
    again = read_ora(tmp_path / "ops.ora")
    assert [layer.blend_mode for layer in again.layers] == PIXEL_MODES
    np.testing.assert_array_equal(flatten(again), flatten(state))
    described = {x["name"]: x["blend_mode"] for x in describe(tmp_path / "ops.ora")["layers"]}
    assert described == {m: m for m in PIXEL_MODES}


def test_every_openraster_operator_has_a_mode():
    assert set(COMPOSITE_OPS) == {"plus", "dst-in", "dst-out", "src-atop", "dst-atop"}
