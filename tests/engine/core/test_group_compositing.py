"""Groups in the compositor: isolated groups composite their children on their
own and then blend, pass-through groups let their children blend into what lies
below and fade by their opacity and mask; tiles, strips and reduced levels agree
with whole flattening, multiresolution layers spline within their group."""

from __future__ import annotations

import numpy as np
import pytest

from warpaint.engine.core.compositing import (
    blend_mode_names,
    composite,
    composite_over,
    group_content,
    reach,
    stack_before,
)
from warpaint.engine.core.document import DocState, Group, Layer
from warpaint.engine.core.lod import LevelOfDetail
from warpaint.engine.core.tiles import Rect, TiledImage

PIXEL_MODES = [m for m in blend_mode_names() if m != "multiresolution"]


def _solid(name: str, rgba: tuple[float, ...], w: int = 4, h: int = 4, **props) -> Layer:
    return Layer.from_array(name, np.full((h, w, 4), rgba, np.float32), **props)


def _px(state: DocState) -> np.ndarray:
    return composite(state)[0, 0]


# -- hand-computed pixels ----------------------------------------------------------

GREY = (0.5, 0.5, 0.5, 1.0)
TINT = (0.5, 0.2, 1.0, 1.0)


def test_multiply_in_a_pass_through_group_multiplies_what_lies_below():
    child = _solid("tint", TINT, blend_mode="multiply")
    state = DocState(4, 4, (_solid("grey", GREY), Group("g", (child,), isolated=False)))
    np.testing.assert_allclose(_px(state), (0.25, 0.1, 0.5, 1.0), atol=1e-6)


def test_multiply_in_an_isolated_group_sees_only_the_group():
    # Onto the group's own transparent start, multiply leaves the colour as it is
    # (W3C: Cs' = (1 - ab) Cs + ab B = Cs where ab = 0); the group then lies over grey.
    child = _solid("tint", TINT, blend_mode="multiply")
    state = DocState(4, 4, (_solid("grey", GREY), Group("g", (child,), isolated=True)))
    np.testing.assert_allclose(_px(state), TINT, atol=1e-6)


def test_an_isolated_group_blends_its_result_with_its_own_mode():
    child = _solid("tint", TINT)
    group = Group("g", (child,), blend_mode="multiply")
    state = DocState(4, 4, (_solid("grey", GREY), group))
    np.testing.assert_allclose(_px(state), (0.25, 0.1, 0.5, 1.0), atol=1e-6)


def test_isolated_group_opacity_fades_its_result():
    child = _solid("white", (1.0, 1.0, 1.0, 1.0))
    state = DocState(4, 4, (_solid("black", (0, 0, 0, 1.0)), Group("g", (child,), opacity=0.25)))
    np.testing.assert_allclose(_px(state), (0.25, 0.25, 0.25, 1.0), atol=1e-6)


def test_pass_through_group_opacity_fades_between_before_and_after():
    # Difference of white over grey 0.5 is 0.5; over black it is 1. Faded by 0.5
    # between black (before) and white (after): 0.5.
    child = _solid("white", (1.0, 1.0, 1.0, 1.0), blend_mode="difference")
    group = Group("g", (child,), isolated=False, opacity=0.5)
    state = DocState(4, 4, (_solid("black", (0, 0, 0, 1.0)), group))
    np.testing.assert_allclose(_px(state), (0.5, 0.5, 0.5, 1.0), atol=1e-6)


def test_dst_in_clips_within_an_isolated_group_only():
    # A clipping group: the dst-in layer at alpha 0.5 halves the paint inside the
    # group, and the grey below the group stays untouched where the paint is not.
    paint = _solid("paint", (1.0, 0.0, 0.0, 1.0), w=2)
    clip = _solid("clip", (0.0, 0.0, 0.0, 0.5), blend_mode="dst-in")
    state = DocState(4, 4, (_solid("grey", GREY), Group("g", (paint, clip))))
    out = composite(state)
    np.testing.assert_allclose(out[0, 0], (0.75, 0.25, 0.25, 1.0), atol=1e-6)
    np.testing.assert_allclose(out[0, 3], GREY, atol=1e-6)


def test_dst_in_in_a_pass_through_group_cuts_what_lies_below():
    clip = _solid("clip", (0.0, 0.0, 0.0, 0.5), blend_mode="dst-in")
    state = DocState(4, 4, (_solid("grey", GREY), Group("g", (clip,), isolated=False)))
    np.testing.assert_allclose(_px(state), (0.5, 0.5, 0.5, 0.5), atol=1e-6)


def test_a_group_mask_hides_the_group_where_it_is_zero():
    mask = np.zeros((4, 4, 1), np.float32)
    mask[:, :2] = 1.0
    group = Group(
        "g", (_solid("white", (1, 1, 1, 1.0)),), mask=TiledImage.from_array(mask), x=0, y=0
    )
    out = composite(DocState(4, 4, (_solid("black", (0, 0, 0, 1.0)), group)))
    np.testing.assert_allclose(out[0, 0], (1, 1, 1, 1), atol=1e-6)
    np.testing.assert_allclose(out[0, 3], (0, 0, 0, 1), atol=1e-6)


def test_a_hidden_group_hides_everything_in_it():
    group = Group("g", (_solid("white", (1, 1, 1, 1.0)),), visible=False)
    np.testing.assert_allclose(
        _px(DocState(4, 4, (_solid("black", (0, 0, 0, 1.0)), group))), (0, 0, 0, 1), atol=1e-6
    )


# -- every mode against the spec's formulas -------------------------------------------


def _random(seed: int, w: int, h: int, opaque: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.random((h, w, 4), dtype=np.float32)
    if opaque:
        a[..., 3] = 1.0
    return a


@pytest.mark.parametrize("mode", PIXEL_MODES)
@pytest.mark.parametrize("isolated", [True, False])
def test_every_mode_inside_a_group_follows_the_spec(mode, isolated):
    """A translucent backdrop, a group of one normal layer and one layer in `mode`,
    group at opacity 0.6 with a mask: the result is the spec's formulas
    (`composite_over`) applied in the order the group's isolation says."""
    back, first, top = _random(1, 6, 5), _random(2, 6, 5), _random(3, 6, 5)
    mask = _random(4, 6, 5)[..., :1]
    group = Group(
        "g",
        (Layer.from_array("first", first), Layer.from_array("top", top, blend_mode=mode)),
        opacity=0.6,
        isolated=isolated,
        mask=TiledImage.from_array(mask),
    )
    state = DocState(6, 5, (Layer.from_array("back", back), group))
    if isolated:
        inner = composite_over(composite_over(np.zeros_like(back), first), top, mode)
        expected = composite_over(back, inner, "normal", 0.6, mask)
    else:
        after = composite_over(composite_over(back, first), top, mode)
        weight = 0.6 * mask
        premul = [np.concatenate([a[..., :3] * a[..., 3:], a[..., 3:]], 2) for a in (back, after)]
        mixed = premul[0] + (premul[1] - premul[0]) * weight
        alpha = mixed[..., 3:]
        colour = np.divide(
            mixed[..., :3], alpha, out=np.zeros_like(mixed[..., :3]), where=alpha > 0
        )
        expected = np.concatenate([colour, alpha], 2)
    np.testing.assert_allclose(composite(state), expected, atol=2e-5)


# -- structure-wide agreement ---------------------------------------------------------


def _tree(spline: bool = False) -> DocState:
    """Three levels: root > isolated "outer" (screen, 0.8) > pass-through "inner"
    holding a dst-atop layer; a masked group; layers at offsets past the edges."""
    inner = Group(
        "inner",
        (
            Layer.from_array("a", _random(5, 30, 20), x=10, y=5, blend_mode="overlay"),
            Layer.from_array("b", _random(6, 20, 20), x=25, y=12, blend_mode="dst-atop"),
        ),
        isolated=False,
        opacity=0.7,
    )
    middle: tuple = (Layer.from_array("c", _random(7, 40, 30), x=-5, y=-3), inner)
    if spline:
        middle += (
            Layer.from_array("spline", _random(8, 20, 15, True), x=20, y=10,
                             blend_mode="multiresolution"),
        )  # fmt: skip
    outer = Group("outer", middle, blend_mode="screen", opacity=0.8)
    masked = Group(
        "masked",
        (Layer.from_array("d", _random(9, 25, 25), x=40, y=20, blend_mode="hue"),),
        mask=TiledImage.from_array(_random(10, 30, 30)[..., :1]),
        x=35,
        y=15,
    )
    return DocState(70, 50, (Layer.from_array("base", _random(11, 70, 50, True)), outer, masked))


@pytest.mark.parametrize("spline", [False, True])
def test_any_rect_of_a_tree_equals_the_crop_of_the_full_canvas(spline):
    state = _tree(spline)
    full = composite(state)
    for rect in (Rect(0, 0, 32, 32), Rect(15, 9, 8, 8), Rect(40, 20, 30, 30), Rect(60, 40, 10, 10)):
        np.testing.assert_array_equal(
            composite(state, rect), full[rect.y : rect.bottom, rect.x : rect.right]
        )


def test_a_multiresolution_layer_splines_into_what_lies_below_it_in_its_group():
    """Inside an isolated group the spline's backdrop is the group's own content:
    the group composites exactly as the same layers alone in a document."""
    state = _tree(spline=True)
    outer = state.root[1]
    alone = DocState(70, 50, outer.children)
    np.testing.assert_array_equal(group_content(state, outer, state.bounds), composite(alone))
    spline = state.layers[-2]
    assert spline.name == "spline"
    assert stack_before(state, spline.id) == outer.children[:2]


def test_stack_before_reaches_through_pass_through_groups():
    state = _tree()
    b = state.layers[3]
    assert b.name == "b"
    outer = state.root[1]
    inner = outer.children[1]
    # b's backdrop: what lies below "inner" in "outer" (isolated) and "a" in "inner".
    assert stack_before(state, b.id) == (outer.children[0], inner.children[0])


def test_reduced_levels_of_a_tree_match_a_reduced_flatten():
    state = _tree()
    lod = LevelOfDetail()
    reduced = lod.state_at(state, 1)
    assert [g.name for g in reduced.groups] == ["outer", "inner", "masked"]
    assert reduced.groups[2].mask.width == 15 and reduced.groups[2].x == 17
    full = composite(reduced)
    part = lod.state_at(state, 1, Rect(0, 0, 40, 40))
    np.testing.assert_array_equal(composite(part, Rect(0, 0, 20, 20)), full[:20, :20])


def test_reach_of_groups():
    canvas = Rect(0, 0, 70, 50)
    state = _tree()
    outer, masked = state.root[1], state.root[2]
    inner = outer.children[1]
    # dst-atop clears outside its pixels: within a pass-through group that is
    # the whole canvas; an isolated group keeps it to its children's bounds.
    assert reach(inner, canvas) == canvas
    assert reach(outer, canvas) == Rect(-5, -3, 50, 35)
    assert reach(masked, canvas) == Rect(40, 20, 25, 25)


@pytest.mark.parametrize("turn", ["rotate 90", "rotate 180", "flip h", "flip v", "crop"])
def test_image_geometry_moves_group_masks_with_the_pixels(turn):
    from warpaint.engine.core import transform

    state = _tree()
    full = composite(state)
    if turn.startswith("rotate"):
        degrees = int(turn.split()[1])
        moved = transform.rotate(state, degrees)
        expected = np.rot90(full, k=-degrees // 90)
    elif turn.startswith("flip"):
        horizontal = turn.endswith("h")
        moved = transform.flip(state, horizontal)
        expected = full[:, ::-1] if horizontal else full[::-1]
    else:
        moved = transform.crop(state, Rect(10, 5, 40, 30))
        expected = full[5:35, 10:50]
    assert moved.groups[2].mask is not None
    np.testing.assert_allclose(composite(moved), expected, atol=1e-6)


def test_a_multiresolution_layer_in_a_pass_through_group_splines_into_everything_below():
    """A pass-through group at full opacity is the same as its children laid
    inline, multiresolution layers included: their backdrop reaches out of it."""
    base = Layer.from_array("base", _random(20, 48, 40, True))
    under = Layer.from_array("under", _random(21, 30, 20), x=4, y=6, blend_mode="multiply")
    spline = Layer.from_array(
        "spline", _random(22, 24, 16, True), x=10, y=12, blend_mode="multiresolution"
    )
    grouped = DocState(48, 40, (base, Group("g", (under, spline), isolated=False)))
    inline = DocState(48, 40, (base, under, spline))
    assert stack_before(grouped, spline.id) == (base, under)
    full = composite(grouped)
    np.testing.assert_allclose(full, composite(inline), atol=1e-6)
    np.testing.assert_array_equal(composite(grouped, Rect(5, 5, 20, 20)), full[5:25, 5:25])
