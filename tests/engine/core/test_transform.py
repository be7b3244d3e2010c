"""Image-wide geometry and selections."""

import numpy as np
import pytest

from warpaint.engine.core.compositing import flatten
from warpaint.engine.core.document import DocState, Document, Layer
from warpaint.engine.core.selection import Selection
from warpaint.engine.core.tiles import Rect
from warpaint.engine.core.transform import crop, flip, resize_canvas, resize_image, rotate
from warpaint.engine.runtime.errors import BadInputError


@pytest.fixture
def state():
    rng = np.random.default_rng(0)
    bg = Layer.from_array("bg", rng.integers(0, 256, (30, 40, 4), dtype=np.uint8))
    patch = Layer.from_array("patch", rng.integers(0, 256, (5, 7, 4), dtype=np.uint8), x=3, y=11)
    return DocState(40, 30, (bg, patch))


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotation_turns_the_flattened_image_exactly(state, degrees):
    rotated = rotate(state, degrees)
    expected = np.rot90(flatten(state), k=-degrees // 90)
    np.testing.assert_array_equal(flatten(rotated), expected)


def test_four_quarter_turns_give_back_the_same_document(state):
    s = state
    for _ in range(4):
        s = rotate(s, 90)
    np.testing.assert_array_equal(flatten(s), flatten(state))
    assert [(lay.x, lay.y) for lay in s.layers] == [(lay.x, lay.y) for lay in state.layers]


@pytest.mark.parametrize("horizontal", [True, False])
def test_flip_mirrors_the_flattened_image(state, horizontal):
    expected = flatten(state)[:, ::-1] if horizontal else flatten(state)[::-1]
    np.testing.assert_array_equal(flatten(flip(state, horizontal)), expected)


def test_crop_keeps_the_pixels_inside_the_rectangle(state):
    cropped = crop(state, Rect(5, 8, 20, 10))
    assert (cropped.width, cropped.height) == (20, 10)
    np.testing.assert_array_equal(flatten(cropped), flatten(state)[8:18, 5:25])


def test_crop_outside_the_image_is_refused(state):
    with pytest.raises(BadInputError):
        crop(state, Rect(100, 100, 5, 5))


def test_canvas_resize_anchors_the_old_canvas(state):
    bigger = resize_canvas(state, 60, 50, "center")
    out = flatten(bigger)
    np.testing.assert_array_equal(out[10:40, 10:50], flatten(state))
    assert out[0, 0, 3] == 0


def test_resize_image_scales_layers_and_offsets(state):
    half = resize_image(state, 20, 15)
    assert (half.width, half.height) == (20, 15)
    patch = half.layers[1]
    assert (patch.x, patch.y) == (2, 6) or (patch.x, patch.y) == (1, 6)
    assert patch.pixels.dtype == np.uint8


def test_resize_of_a_constant_image_keeps_its_colour():
    d = Document.new(33, 21, background=(0.2, 0.4, 0.6, 1.0))
    out = flatten(resize_image(d.state, 70, 9))
    assert out.shape == (9, 70, 4)
    assert np.abs(out.astype(int) - np.array([51, 102, 153, 255])).max() <= 1


def test_transform_is_one_undoable_step(state):
    d = Document(state)
    d.commit("Rotate 90°", rotate(d.state, 90))
    assert (d.state.width, d.state.height) == (30, 40)
    d.undo()
    assert (d.state.width, d.state.height) == (40, 30)


def test_rectangle_selection_is_one_inside_and_zero_outside():
    mask = Selection("rectangle", 2, 3, 4, 5).mask(10, 10)
    assert mask.shape == (10, 10)
    assert mask[3:8, 2:6].min() == 1.0
    assert mask.sum() == pytest.approx(20.0)


def test_feathered_selection_fades_across_its_edge():
    mask = Selection("rectangle", 10, 0, 20, 10, feather=8).mask(40, 10)
    row = mask[5]
    assert row[0] == 0.0 and row[20] == 1.0
    assert 0.3 < row[10] < 0.7, "half coverage on the edge"
    assert np.all(np.diff(row[:20]) >= 0)


def test_ellipse_selection_area_and_inversion():
    mask = Selection("ellipse", 0, 0, 100, 60).mask(100, 60)
    assert mask.sum() == pytest.approx(np.pi * 50 * 30, rel=0.01)
    inverted = Selection("ellipse", 0, 0, 100, 60, inverted=True).mask(100, 60)
    np.testing.assert_allclose(mask + inverted, 1.0)
