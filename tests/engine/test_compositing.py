"""Compositing: every blend mode against hand-computed pixels, alpha included."""

import numpy as np
import pytest

from warpaint.engine.compositing import BLEND_MODES, composite, composite_over, flatten
from warpaint.engine.document import DocState, Layer
from warpaint.engine.tiles import Rect

CB = (0.2, 0.4, 0.8)
CS = (0.6, 0.3, 0.5)
# B(Cb, Cs) per W3C Compositing Level 1, worked by hand for CB and CS above.
HAND_BLEND = {
    "normal": (0.6, 0.3, 0.5),
    "multiply": (0.12, 0.12, 0.40),
    "screen": (0.68, 0.58, 0.90),
    "overlay": (0.24, 0.24, 0.80),  # Cb <= .5: 2 Cb Cs; Cb = .8: 1 - 2 (1-.8)(1-.5)
    "darken": (0.2, 0.3, 0.5),
    "lighten": (0.6, 0.4, 0.8),
    "difference": (0.4, 0.1, 0.3),
}


def pixel(rgb, alpha):
    return np.array([[[*rgb, alpha]]], np.float32)


def test_every_blend_mode_is_checked_by_hand():
    assert set(HAND_BLEND) == set(BLEND_MODES)


@pytest.mark.parametrize("mode", sorted(HAND_BLEND))
def test_opaque_source_over_opaque_backdrop_gives_the_blend_function(mode):
    out = composite_over(pixel(CB, 1.0), pixel(CS, 1.0), mode)
    np.testing.assert_allclose(out[0, 0, :3], HAND_BLEND[mode], atol=1e-6)
    assert out[0, 0, 3] == pytest.approx(1.0)


@pytest.mark.parametrize("mode", sorted(HAND_BLEND))
def test_translucent_source_over_translucent_backdrop(mode):
    # ab = 0.5; as = 1.0 pixel alpha * 0.8 opacity.
    # Cs' = 0.5 Cs + 0.5 B;  co = 0.8 Cs' + 0.2 * 0.5 Cb;  ao = 0.9;  Co = co / 0.9
    b = np.array(HAND_BLEND[mode])
    expected = (0.8 * (0.5 * np.array(CS) + 0.5 * b) + 0.1 * np.array(CB)) / 0.9
    out = composite_over(pixel(CB, 0.5), pixel(CS, 1.0), mode, opacity=0.8)
    np.testing.assert_allclose(out[0, 0, :3], expected, atol=1e-6)
    assert out[0, 0, 3] == pytest.approx(0.9)


def test_normal_worked_example_literal_values():
    out = composite_over(pixel(CB, 0.5), pixel(CS, 1.0), "normal", opacity=0.8)
    np.testing.assert_allclose(out[0, 0], [0.5 / 0.9, 0.28 / 0.9, 0.48 / 0.9, 0.9], atol=1e-6)


def test_multiply_worked_example_literal_values():
    out = composite_over(pixel(CB, 0.5), pixel(CS, 1.0), "multiply", opacity=0.8)
    np.testing.assert_allclose(out[0, 0], [0.308 / 0.9, 0.208 / 0.9, 0.44 / 0.9, 0.9], atol=1e-6)


def test_source_over_transparent_backdrop_is_the_source_itself():
    for mode in BLEND_MODES:
        out = composite_over(pixel(CB, 0.0), pixel(CS, 0.6), mode)
        np.testing.assert_allclose(out[0, 0], [*CS, 0.6], atol=1e-6)


def test_transparent_source_leaves_backdrop_unchanged():
    for mode in BLEND_MODES:
        out = composite_over(pixel(CB, 0.7), pixel(CS, 0.0), mode)
        np.testing.assert_allclose(out[0, 0], [*CB, 0.7], atol=1e-6)


def test_nothing_over_nothing_is_transparent_black():
    out = composite_over(pixel(CB, 0.0), pixel(CS, 0.0), "screen")
    np.testing.assert_array_equal(out, np.zeros((1, 1, 4), np.float32))


def test_mask_scales_source_alpha():
    mask = np.full((1, 1, 1), 0.5, np.float32)
    masked = composite_over(pixel(CB, 1.0), pixel(CS, 1.0), "normal", mask=mask)
    halfway = composite_over(pixel(CB, 1.0), pixel(CS, 1.0), "normal", opacity=0.5)
    np.testing.assert_allclose(masked, halfway)
    np.testing.assert_allclose(masked[0, 0, :3], [0.4, 0.35, 0.65], atol=1e-6)


def test_unknown_blend_mode_is_an_error():
    with pytest.raises(ValueError, match="unknown blend mode"):
        composite_over(pixel(CB, 1.0), pixel(CS, 1.0), "dodge-ish")


def _solid(w, h, rgba):
    return np.broadcast_to(np.array(rgba, np.uint8), (h, w, 4)).copy()


def test_document_composite_places_layers_by_offset_and_skips_hidden():
    bottom = Layer.from_array("bg", _solid(4, 4, (0, 0, 255, 255)))
    top = Layer.from_array("red", _solid(2, 2, (255, 0, 0, 255)), x=1, y=2)
    hidden = Layer.from_array("green", _solid(4, 4, (0, 255, 0, 255)), visible=False)
    state = DocState(4, 4, (bottom, top, hidden))
    out = flatten(state)
    assert out.dtype == np.uint8
    assert tuple(out[2, 1]) == (255, 0, 0, 255)
    assert tuple(out[3, 2]) == (255, 0, 0, 255)
    assert tuple(out[0, 0]) == (0, 0, 255, 255)
    assert tuple(out[2, 3]) == (0, 0, 255, 255)
    region = composite(state, Rect(1, 2, 2, 2))
    np.testing.assert_allclose(region[..., 0], 1.0)


def test_layer_mask_hides_parts_of_a_layer():
    bottom = Layer.from_array("bg", _solid(2, 1, (0, 0, 0, 255)))
    mask = np.array([[[255], [0]]], np.uint8)
    top = Layer.from_array("white", _solid(2, 1, (255, 255, 255, 255)))
    top = top.with_(mask=top.pixels.from_array(mask))
    out = flatten(DocState(2, 1, (bottom, top)))
    assert tuple(out[0, 0]) == (255, 255, 255, 255)
    assert tuple(out[0, 1]) == (0, 0, 0, 255)


def test_flatten_in_strips_equals_one_piece():
    rng = np.random.default_rng(3)
    layers = tuple(
        Layer.from_array(f"l{i}", rng.integers(0, 256, (37, 53, 4), dtype=np.uint8), blend_mode=m)
        for i, m in enumerate(["normal", "overlay", "difference"])
    )
    state = DocState(53, 37, layers)
    np.testing.assert_array_equal(flatten(state, rows=5), flatten(state, rows=1000))


def test_sixteen_bit_flatten_keeps_precision():
    value = np.array([[[1000, 30000, 65535, 65535]]], np.uint16)
    out = flatten(DocState(1, 1, (Layer.from_array("l", value),)), dtype=np.uint16)
    np.testing.assert_array_equal(out, value)


def test_stack_composite_equals_chained_pairwise_composites():
    rng = np.random.default_rng(4)
    modes = list(BLEND_MODES)
    layers = tuple(
        Layer.from_array(
            f"l{i}", rng.random((9, 11, 4), dtype=np.float32), blend_mode=m, opacity=0.3 + 0.1 * i
        )
        for i, m in enumerate(modes)
    )
    expected = np.zeros((9, 11, 4), np.float32)
    for layer in layers:
        expected = composite_over(
            expected, layer.pixels.read_float(), layer.blend_mode, layer.opacity
        )
    np.testing.assert_allclose(composite(DocState(11, 9, layers)), expected, atol=2e-6)
