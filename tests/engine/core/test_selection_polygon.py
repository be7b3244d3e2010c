"""Freehand (lasso) selections: polygon fill, antialiasing, feather, moving."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from warpaint.engine.core.selection import Selection

SQUARE = [(10.0, 10.0), (40.0, 10.0), (40.0, 30.0), (10.0, 30.0)]


@pytest.mark.parametrize("feather", [0.0, 6.0])
def test_a_square_polygon_matches_the_rectangle_along_its_edges(feather: float) -> None:
    rect = Selection("rectangle", 10, 10, 30, 20, feather).mask(60, 50)
    poly = Selection.polygon(SQUARE, feather).mask(60, 50)
    if feather == 0:
        np.testing.assert_array_equal(poly, rect)
    else:
        # A box feather rounds the corners; the straight edges get the same ramp.
        np.testing.assert_allclose(poly[16:24], rect[16:24], atol=1e-5)
        np.testing.assert_allclose(poly[:, 20:30], rect[:, 20:30], atol=1e-5)


def test_a_triangle_edge_is_antialiased_and_half_covered_on_the_diagonal() -> None:
    mask = Selection.polygon([(0.0, 0.0), (20.0, 0.0), (0.0, 20.0)]).mask(20, 20)
    assert mask[2, 2] == 1.0 and mask[18, 18] == 0.0
    # Pixel (row 5, col 14) straddles the diagonal x + y = 20 symmetrically.
    assert mask[5, 14] == pytest.approx(0.5, abs=0.13)
    assert 0.0 < mask[5, 14] < 1.0


def test_self_intersecting_outline_uses_even_odd() -> None:
    # A bow tie crossing at (10, 10): the left and right triangles are inside,
    # the top and bottom ones (between the crossing diagonals) are not.
    bow = [(0.0, 0.0), (20.0, 20.0), (20.0, 0.0), (0.0, 20.0)]
    mask = Selection.polygon(bow).mask(20, 20)
    assert mask[10, 2] == 1.0 and mask[10, 17] == 1.0
    assert mask[2, 10] == 0.0 and mask[17, 10] == 0.0


def test_moving_and_inverting_a_polygon() -> None:
    sel = Selection.polygon(SQUARE)
    assert sel.bounds() == (10, 10, 30, 20)
    moved = dataclasses.replace(sel, x=0.0, y=0.0)
    assert moved.outline()[2] == (30.0, 20.0)
    assert moved.mask(60, 50)[5, 5] == 1.0 and moved.mask(60, 50)[25, 35] == 0.0
    inv = dataclasses.replace(sel, inverted=True).mask(60, 50)
    np.testing.assert_array_equal(inv, 1.0 - sel.mask(60, 50))


def test_degenerate_polygons_are_empty() -> None:
    assert Selection.polygon([]).empty
    assert not np.any(Selection.polygon([(1.0, 1.0), (5.0, 5.0)]).mask(8, 8))
