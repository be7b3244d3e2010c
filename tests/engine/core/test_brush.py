"""Brush dabs and mask strokes: hand-checked values, eraser, opacity cap, spacing, tile sharing."""

from __future__ import annotations

import numpy as np
import pytest

from warpaint.engine.core.brush import MaskStroke, dab, dab_bounds
from warpaint.engine.core.tiles import TILE, Rect, TiledImage


def test_soft_dab_matches_the_smoothstep_by_hand() -> None:
    # size 10 -> r = 5; hardness 0 -> falloff over the whole radius.
    cov = dab(Rect(0, 10, 20, 1), cx=10.0, cy=10.5, size=10, hardness=0.0)[0]
    # Column 10: d = 0.5, t = 0.1, 1 - 0.01 * 2.8 = 0.972.
    assert cov[10] == pytest.approx(0.972, abs=1e-6)
    # Column 12: d = 2.5, t = 0.5 -> 0.5 exactly.
    assert cov[12] == pytest.approx(0.5, abs=1e-6)
    # Column 7: d = 2.5 on the other side: symmetric.
    assert cov[7] == pytest.approx(0.5, abs=1e-6)
    # Column 15: d = 5.5 > r -> nothing.
    assert cov[15] == 0.0 and cov[4] == 0.0


def test_hard_dab_is_solid_inside_and_antialiased_over_one_pixel() -> None:
    cov = dab(Rect(0, 10, 20, 1), cx=10.0, cy=10.5, size=10, hardness=1.0)[0]
    assert cov[10] == 1.0 and cov[13] == 1.0  # d = 0.5 and 3.5 <= r - 1
    assert cov[14] == pytest.approx(0.5, abs=1e-6)  # d = 4.5: half-way through the rim pixel
    assert cov[15] == 0.0


def test_dab_bounds_cover_the_dab() -> None:
    box = dab_bounds(10.0, 10.5, 10)
    assert box == Rect(5, 5, 10, 11)
    inside = dab(box, 10.0, 10.5, 10, 0.3)
    outside = dab(Rect(box.x - 3, box.y - 3, box.w + 6, box.h + 6), 10.0, 10.5, 10, 0.3)
    assert outside.sum() == pytest.approx(inside.sum(), rel=1e-6)


def test_a_stroke_paints_at_source_precision_and_keeps_the_base() -> None:
    base = TiledImage.blank(40, 30, 1, np.uint8)
    stroke = MaskStroke(base, size=10, hardness=0.0)
    assert stroke.add(10.0, 10.5) == Rect(5, 5, 10, 11)
    out = stroke.mask.read()
    assert out.dtype == np.uint8 and out.shape == (30, 40, 1)
    assert out[10, 12, 0] == 128  # 0.5 * 255 = 127.5, rounded to nearest even
    assert out[10, 10, 0] == round(0.972 * 255)
    assert not np.any(base.read())  # the base is immutable


def test_eraser_paints_towards_zero() -> None:
    base = TiledImage.filled(40, 30, (1.0,), np.float32)
    stroke = MaskStroke(base, size=10, hardness=1.0, erase=True)
    stroke.add(20.0, 15.5)  # on row 15's centre line
    out = stroke.mask.read()[..., 0]
    assert out[15, 20] == 0.0
    assert out[15, 24] == pytest.approx(0.5, abs=1e-6)  # d = 4.5: the rim pixel
    assert out[0, 0] == 1.0


def test_opacity_never_exceeds_the_stroke_opacity_within_one_stroke() -> None:
    base = TiledImage.blank(64, 64, 1, np.float32)
    stroke = MaskStroke(base, size=16, hardness=1.0, opacity=0.4, spacing=0.05)
    for x in (10.0, 50.0, 10.0, 50.0, 30.0):  # scrub back and forth over the same pixels
        stroke.add(x, 32.0)
    out = stroke.mask.read()
    assert out.max() == pytest.approx(0.4, abs=1e-6)
    assert out[32, 30, 0] == pytest.approx(0.4, abs=1e-6)
    # A second stroke builds on the first: 0.4 + 0.6 * 0.4.
    again = MaskStroke(stroke.mask, size=16, hardness=1.0, opacity=0.4)
    again.add(30.0, 32.0)
    assert again.mask.read()[32, 30, 0] == pytest.approx(0.64, abs=1e-6)


def test_dabs_are_spaced_along_the_path() -> None:
    base = TiledImage.blank(128, 16, 1, np.uint8)
    stroke = MaskStroke(base, size=20, spacing=0.25)  # a dab every 5 px
    stroke.add(0.0, 8.0)
    stroke.add(50.0, 8.0)
    assert stroke.dabs == 11  # x = 0, 5, ..., 50
    assert stroke.add(52.0, 8.0) is None  # 2 px since the last dab
    assert stroke.add(55.0, 8.0) is not None  # 5 px: one more
    assert stroke.dabs == 12


def test_only_the_touched_tiles_are_rewritten() -> None:
    base = TiledImage.filled(3 * TILE, 2 * TILE, (0.5,), np.uint8)
    stroke = MaskStroke(base, size=20, erase=True)
    stroke.add(30.0, 30.0)
    stroke.add(60.0, 40.0)
    out = stroke.mask
    assert out.tile(0, 0) is not base.tile(0, 0)
    for tx, ty in [(1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]:
        assert out.tile(tx, ty) is base.tile(tx, ty)
    assert stroke.changed is not None and stroke.changed.right <= TILE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, "size"),
        ({"size": 5, "opacity": 1.5}, "opacity"),
        ({"size": 5, "hardness": -0.1}, "hardness"),
    ],
)
def test_bad_brush_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MaskStroke(TiledImage.blank(8, 8, 1, np.uint8), **kwargs)  # type: ignore[arg-type]


def test_a_mask_must_have_one_channel() -> None:
    with pytest.raises(ValueError, match="one channel"):
        MaskStroke(TiledImage.blank(8, 8, 4, np.uint8), size=4)
