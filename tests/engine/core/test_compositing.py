"""Compositing: every blend mode and operator against hand-computed pixels, alpha included."""

import numpy as np
import pytest

from warpaint.engine.core.compositing import (
    BLEND_MODES,
    COMPOSITE_OPS,
    blend_mode_names,
    composite,
    composite_over,
    flatten,
)
from warpaint.engine.core.document import DocState, Layer
from warpaint.engine.core.tiles import Rect

CB = (0.2, 0.4, 0.8)
CS = (0.6, 0.3, 0.5)
# B(Cb, Cs) per W3C Compositing Level 1, worked by hand for CB and CS above.
# Non-separable modes: Lum(CB) = .3*.2 + .59*.4 + .11*.8 = .384,
# Lum(CS) = .18 + .177 + .055 = .412, Sat(CB) = .8 - .2 = .6, Sat(CS) = .6 - .3 = .3.
HAND_BLEND = {
    "normal": (0.6, 0.3, 0.5),
    "multiply": (0.12, 0.12, 0.40),
    "screen": (0.68, 0.58, 0.90),
    "overlay": (0.24, 0.24, 0.80),  # Cb <= .5: 2 Cb Cs; Cb = .8: 1 - 2 (1-.8)(1-.5)
    "darken": (0.2, 0.3, 0.5),
    "lighten": (0.6, 0.4, 0.8),
    "difference": (0.4, 0.1, 0.3),
    # min(1, Cb / (1 - Cs)): .2/.4, .4/.7, .8/.5 = 1.6 -> 1
    "color-dodge": (0.5, 0.4 / 0.7, 1.0),
    # 1 - min(1, (1 - Cb) / Cs): .8/.6 -> 1, .6/.3 -> 1, .2/.5 = .4
    "color-burn": (0.0, 0.0, 0.6),
    # Cs = .6 > .5: screen(.2, .2) = .36; Cs = .3: .4 * .6; Cs = .5: .8 * 1
    "hard-light": (0.36, 0.24, 0.8),
    # Cs = .6: D(.2) = ((3.2 - 12) .2 + 4) .2 = .448, .2 + .2 (.448 - .2) = .2496;
    # Cs = .3: .4 - .4 * .4 * .6 = .304; Cs = .5: Cb unchanged
    "soft-light": (0.2496, 0.304, 0.8),
    # Cb + Cs - 2 Cb Cs
    "exclusion": (0.56, 0.46, 0.5),
    # SetSat(CS, .6) = (.6, 0, .4), Lum .224; SetLum to .384 adds .16
    "hue": (0.76, 0.16, 0.56),
    # SetSat(CB, .3) = (0, .1, .3), Lum .092; SetLum to .384 adds .292
    "saturation": (0.292, 0.392, 0.592),
    # SetLum(CS, .384) adds -.028
    "color": (0.572, 0.272, 0.472),
    # SetLum(CB, .412) adds .028
    "luminosity": (0.228, 0.428, 0.828),
}

# Porter-Duff operators (B = normal): co = as Fa Cs + ab Fb Cb, ao = as Fa + ab Fb,
# worked by hand as straight (R, G, B, A) for three backdrop/source alphas.
# plus: Fa = Fb = 1, clamped to 1; dst-in: Fa = 0, Fb = as; dst-out: Fa = 0,
# Fb = 1 - as; src-atop: Fa = ab, Fb = 1 - as; dst-atop: Fa = 1 - ab, Fb = as.
HAND_OPS = {
    # opaque backdrop (ab = 1), source alpha .6
    (1.0, 0.6): {
        "plus": (0.56, 0.58, 1.0, 1.0),  # .6 CS + CB = (.56, .58, 1.1 -> 1), alpha 1.6 -> 1
        "dst-in": (*CB, 0.6),
        "dst-out": (*CB, 0.4),
        "src-atop": (0.44, 0.34, 0.62, 1.0),  # .6 CS + .4 CB
        "dst-atop": (*CB, 0.6),  # Fa = 0: only .6 of the backdrop stays
    },
    # half-transparent backdrop (ab = .5), source alpha .8
    (0.5, 0.8): {
        "plus": (0.58, 0.44, 0.8, 1.0),  # .8 CS + .5 CB; alpha 1.3 -> 1
        "dst-in": (*CB, 0.4),
        "dst-out": (*CB, 0.1),
        "src-atop": (0.52, 0.32, 0.56, 0.5),  # (.4 CS + .1 CB) / .5
        "dst-atop": (0.4, 0.35, 0.65, 0.8),  # (.4 CS + .4 CB) / .8
    },
    # transparent backdrop, source alpha .6
    (0.0, 0.6): {
        "plus": (*CS, 0.6),
        "dst-in": (0.0, 0.0, 0.0, 0.0),
        "dst-out": (0.0, 0.0, 0.0, 0.0),
        "src-atop": (0.0, 0.0, 0.0, 0.0),
        "dst-atop": (*CS, 0.6),
    },
}


def pixel(rgb, alpha):
    return np.array([[[*rgb, alpha]]], np.float32)


def test_every_blend_mode_and_operator_is_checked_by_hand():
    assert set(HAND_BLEND) == set(BLEND_MODES)
    for table in HAND_OPS.values():
        assert set(table) == set(COMPOSITE_OPS)
    assert set(blend_mode_names()) == set(BLEND_MODES) | set(COMPOSITE_OPS) | {"multiresolution"}


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


def _one_pixel_document(backdrop, source, mode, opacity=1.0):
    layers = (
        Layer.from_array("backdrop", backdrop),
        Layer.from_array("source", source, blend_mode=mode, opacity=opacity),
    )
    return composite(DocState(1, 1, layers))


@pytest.mark.parametrize("mode", sorted(HAND_BLEND))
def test_document_stack_gives_the_hand_computed_blend(mode):
    # The accumulating document path, not just the pairwise formula.
    out = _one_pixel_document(pixel(CB, 0.5), pixel(CS, 1.0), mode, opacity=0.8)
    expected = 0.8 * (0.5 * np.array(CS) + 0.5 * np.array(HAND_BLEND[mode])) + 0.1 * np.array(CB)
    np.testing.assert_allclose(out[0, 0], [*(expected / 0.9), 0.9], atol=1e-6)


@pytest.mark.parametrize("alphas", sorted(HAND_OPS))
@pytest.mark.parametrize("mode", sorted(COMPOSITE_OPS))
def test_operator_against_hand_computed_pixels(mode, alphas):
    ab, a_s = alphas
    expected = HAND_OPS[alphas][mode]
    # The source alpha may come from the pixel, the layer opacity or the mask.
    by_pixel = composite_over(pixel(CB, ab), pixel(CS, a_s), mode)
    by_opacity = composite_over(pixel(CB, ab), pixel(CS, 1.0), mode, opacity=a_s)
    by_mask = composite_over(
        pixel(CB, ab), pixel(CS, 1.0), mode, mask=np.full((1, 1, 1), a_s, np.float32)
    )
    in_document = _one_pixel_document(pixel(CB, ab), pixel(CS, 1.0), mode, opacity=a_s)
    for out in (by_pixel, by_opacity, by_mask, in_document):
        np.testing.assert_allclose(out[0, 0], expected, atol=1e-6)


def test_plus_clamps_only_what_passes_one():
    # ab = .5, as = .3: co = .3 CS + .5 CB = (.28, .29, .55), ao = .8, nothing clamped.
    out = composite_over(pixel(CB, 0.5), pixel(CS, 0.3), "plus")
    np.testing.assert_allclose(out[0, 0], [0.28 / 0.8, 0.29 / 0.8, 0.55 / 0.8, 0.8], atol=1e-6)


def test_color_dodge_and_burn_edge_cases_follow_the_spec_order():
    # dodge: Cb = 0 gives 0 even where Cs = 1; Cs = 1 gives 1 for any other Cb.
    out = composite_over(pixel((0.0, 0.3, 0.0), 1.0), pixel((1.0, 1.0, 0.0), 1.0), "color-dodge")
    np.testing.assert_allclose(out[0, 0, :3], [0.0, 1.0, 0.0], atol=1e-6)
    # burn: Cb = 1 gives 1 even where Cs = 0; Cs = 0 gives 0 for any other Cb.
    out = composite_over(pixel((1.0, 0.7, 1.0), 1.0), pixel((0.0, 0.0, 1.0), 1.0), "color-burn")
    np.testing.assert_allclose(out[0, 0, :3], [1.0, 0.0, 1.0], atol=1e-6)


def test_soft_light_above_a_quarter_uses_the_square_root():
    # Cb = .64, Cs = .75: D(Cb) = sqrt(.64) = .8; Cb + (2 Cs - 1)(D - Cb) = .64 + .5 * .16
    out = composite_over(
        pixel((0.64, 0.64, 0.64), 1.0), pixel((0.75, 0.75, 0.75), 1.0), "soft-light"
    )
    np.testing.assert_allclose(out[0, 0, :3], [0.72] * 3, atol=1e-6)


def test_clip_color_pulls_a_too_bright_colour_towards_its_luminosity():
    # luminosity(red, grey .9): SetLum((1, 0, 0), .9) = (1.6, .6, .6), L = .9, max 1.6 > 1:
    # C = .9 + (C - .9) * .1 / .7 = (1, 6/7, 6/7)
    out = composite_over(pixel((1.0, 0.0, 0.0), 1.0), pixel((0.9, 0.9, 0.9), 1.0), "luminosity")
    np.testing.assert_allclose(out[0, 0, :3], [1.0, 6 / 7, 6 / 7], atol=1e-6)


def test_clip_color_pulls_a_negative_colour_towards_its_luminosity():
    # color(grey .05, blue): SetLum((0, 0, 1), .05) = (-.06, -.06, .94), L = .05, min -.06 < 0:
    # C = .05 + (C - .05) * .05 / .11 = (0, 0, 5/11)
    out = composite_over(pixel((0.05, 0.05, 0.05), 1.0), pixel((0.0, 0.0, 1.0), 1.0), "color")
    np.testing.assert_allclose(out[0, 0, :3], [0.0, 0.0, 5 / 11], atol=1e-6)


def test_color_of_a_grey_source_over_black_is_black_not_nan():
    # SetLum(grey, 0) lands a rounding step below 0 with L = min: ClipColor's
    # 0 / 0 must not happen. B = (0, 0, 0), so with ab = .6, as = .3 and Cs = .7:
    # co = as (1 - ab) Cs = .3 * .4 * .7 = .084, ao = .3 + .6 * .7 = .72
    out = composite_over(pixel((0.0, 0.0, 0.0), 0.6), pixel((0.7, 0.7, 0.7), 0.3), "color")
    np.testing.assert_allclose(out[0, 0], [0.084 / 0.72] * 3 + [0.72], atol=1e-6)
    for grey in (116 / 255, 251 / 255, 0.7):
        out = composite_over(pixel((0.0, 0.0, 0.0), 1.0), pixel((grey,) * 3, 1.0), "color")
        np.testing.assert_allclose(out[0, 0], [0.0, 0.0, 0.0, 1.0], atol=1e-6)


def test_hue_of_a_grey_source_is_the_backdrop_luminosity_in_grey():
    # SetSat(grey, s) = 0 (no hue to stretch), then SetLum(., Lum(CB) = .384).
    out = composite_over(pixel(CB, 1.0), pixel((0.5, 0.5, 0.5), 1.0), "hue")
    np.testing.assert_allclose(out[0, 0, :3], [0.384] * 3, atol=1e-6)


def test_source_over_transparent_backdrop_is_the_source_itself():
    for mode in BLEND_MODES:
        out = composite_over(pixel(CB, 0.0), pixel(CS, 0.6), mode)
        np.testing.assert_allclose(out[0, 0], [*CS, 0.6], atol=1e-6)


def test_transparent_source_leaves_backdrop_unchanged():
    for mode in [*BLEND_MODES, "plus", "dst-out", "src-atop"]:
        out = composite_over(pixel(CB, 0.7), pixel(CS, 0.0), mode)
        np.testing.assert_allclose(out[0, 0], [*CB, 0.7], atol=1e-6, err_msg=mode)


def test_transparent_source_clears_the_backdrop_for_dst_in_and_dst_atop():
    # Fb = as = 0: nothing of the backdrop is kept where the layer has no pixels.
    for mode in ("dst-in", "dst-atop"):
        out = composite_over(pixel(CB, 0.7), pixel(CS, 0.0), mode)
        np.testing.assert_array_equal(out, np.zeros((1, 1, 4), np.float32))


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
    modes = [m for m in blend_mode_names() if m != "multiresolution"]
    layers = tuple(
        Layer.from_array(
            f"l{i}", rng.random((9, 11, 4), dtype=np.float32), blend_mode=m, opacity=0.3 + 0.03 * i
        )
        for i, m in enumerate(modes)
    )
    expected = np.zeros((9, 11, 4), np.float32)
    for layer in layers:
        expected = composite_over(
            expected, layer.pixels.read_float(), layer.blend_mode, layer.opacity
        )
    np.testing.assert_allclose(composite(DocState(11, 9, layers)), expected, atol=2e-6)
