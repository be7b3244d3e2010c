"""The canonical eye crop frame: corners land where the contract says, mirrored
crops are mirror images, and a crop-frame flow (`apply_flow`) moves region
pixels by its image-frame size and never touches a pixel outside the weight's
support."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from warpaint.engine.features.eyes.align import (
    canonical_corners,
    crop_matrix,
    extract_crop,
    invert_affine,
    transform_points,
)
from warpaint.engine.features.eyes.deepwarp import PALETTE
from warpaint.engine.features.eyes.effect_gaze import apply_flow
from warpaint.engine.runtime.errors import BadInputError

SIZE = (48, 64)


def _smooth_image(h: int = 120, w: int = 160) -> np.ndarray:
    """(h, w, 3) float32: slowly varying colours (resampling barely changes them)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack(
        [
            0.5 + 0.4 * np.sin(xs / 17.0),
            0.5 + 0.4 * np.cos(ys / 13.0),
            0.5 + 0.3 * np.sin((xs + ys) / 23.0),
        ],
        axis=2,
    ).astype(np.float32)


def test_canonical_corners_are_the_contract_fractions() -> None:
    assert np.allclose(canonical_corners(SIZE), [[0.2 * 64, 0.55 * 48], [0.8 * 64, 0.55 * 48]])


@pytest.mark.parametrize("mirror", [False, True])
def test_corners_land_on_the_canonical_corners(mirror: bool) -> None:
    corners = np.array([[101.3, 57.2], [70.8, 63.9]]) if mirror else [[40.0, 50.0], [75.5, 44.0]]
    m = crop_matrix(np.asarray(corners), SIZE, mirror)
    assert np.allclose(transform_points(m, np.asarray(corners)), canonical_corners(SIZE))
    det = np.linalg.det(m[:, :2])
    # A similarity: equal scale on both axes, reflected only when mirrored.
    assert (det < 0) == mirror
    lin = m[:, :2]
    assert np.allclose(lin @ lin.T, abs(det) * np.eye(2))
    assert np.allclose(transform_points(invert_affine(m), transform_points(m, corners)), corners)


def test_a_mirrored_crop_is_the_crop_of_the_mirrored_image() -> None:
    image = _smooth_image()
    w = image.shape[1]
    # A right eye (inner corner on its right) and the same eye in the flipped image.
    corners = np.array([[96.0, 60.0], [62.0, 57.0]])
    flipped_corners = np.array([[w - 1 - x, y] for x, y in corners])
    crop_m, _ = extract_crop(image, corners, SIZE, mirror=True)
    crop_f, _ = extract_crop(image[:, ::-1], flipped_corners, SIZE, mirror=False)
    assert np.allclose(crop_m, crop_f, atol=1e-5)


def test_mirrored_crop_keeps_up_up() -> None:
    image = np.zeros((100, 100), np.float32)
    image[:50] = 1.0  # bright top half
    crop, _ = extract_crop(image, np.array([[60.0, 50.0], [40.0, 50.0]]), SIZE, mirror=True)
    assert crop[:10].mean() > 0.99 and crop[-10:].mean() < 0.01


def test_a_crop_has_the_asked_size_and_float_pixels() -> None:
    crop, m = extract_crop(_smooth_image(), np.array([[60.0, 62.0], [100.0, 58.0]]), SIZE, False)
    assert crop.shape == (*SIZE, 3) and crop.dtype == np.float32
    assert m.shape == (2, 3)


def _flow_inputs(
    weight: np.ndarray, flow: tuple[float, float] = (0.0, 0.0), light: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Uniform crop-frame maps for `apply_flow`: (2, h, w) flow, (1, h, w) lightness, weight."""
    h, w = weight.shape
    f = torch.tensor(flow, dtype=torch.float32).view(2, 1, 1).expand(2, h, w).contiguous()
    return f, torch.full((1, h, w), light), torch.from_numpy(weight.astype(np.float32))


def test_zero_flow_and_lightness_give_the_region_back() -> None:
    region = _smooth_image(60, 80)
    m = crop_matrix(np.array([[25.0, 32.0], [55.0, 30.0]]), SIZE, False)
    out = apply_flow(region, m, *_flow_inputs(np.ones(SIZE, np.float32)))
    assert out.shape == region.shape and out.dtype == np.float32
    assert np.abs(out - region).max() < 1e-5


def test_a_crop_frame_flow_moves_region_pixels_by_its_image_frame_size() -> None:
    region = _smooth_image(60, 80)
    # Region -> crop scales by 0.5: a flow of 2 crop pixels is 4 region pixels.
    m = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])
    weight = np.ones((30, 40), np.float32)
    out = apply_flow(region, m, *_flow_inputs(weight, flow=(2.0, 0.0)))
    assert np.abs(out[10:50, 10:60] - region[10:50, 14:64]).max() < 1e-5


def test_full_lightness_paints_the_palette_colour() -> None:
    region = _smooth_image(60, 80)
    m = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])
    out = apply_flow(region, m, *_flow_inputs(np.ones((30, 40), np.float32), light=1.0))
    assert np.allclose(out[10:50, 10:70], PALETTE, atol=1e-6)


def test_pixels_outside_the_weight_come_back_bit_identical() -> None:
    rng = np.random.default_rng(0)
    region = rng.random((90, 130, 3)).astype(np.float32)
    m = crop_matrix(np.array([[52.3, 47.1], [88.9, 41.6]]), SIZE, False)
    weight = np.zeros(SIZE, np.float32)
    yy, xx = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
    weight[((xx - 32) / 20.0) ** 2 + ((yy - 26) / 12.0) ** 2 < 1.0] = 1.0
    out = apply_flow(region, m, *_flow_inputs(weight, flow=(3.0, -1.0), light=0.3))
    # Where each region pixel falls in the crop: farther than 1 px (bilinear
    # reach) from any weighted crop pixel means it must not change.
    ys, xs = np.mgrid[0 : region.shape[0], 0 : region.shape[1]].astype(np.float64)
    c = transform_points(m, np.stack([xs, ys], axis=-1))
    padded = np.pad(weight > 0, 1)  # a ring of "no weight" around the crop
    x0 = np.clip(np.floor(c[..., 0]).astype(int) + 1, 0, SIZE[1] + 1)
    y0 = np.clip(np.floor(c[..., 1]).astype(int) + 1, 0, SIZE[0] + 1)
    x1, y1 = np.minimum(x0 + 1, SIZE[1] + 1), np.minimum(y0 + 1, SIZE[0] + 1)
    near = padded[y0, x0] | padded[y0, x1] | padded[y1, x0] | padded[y1, x1]
    changed = np.any(out != region, axis=2)
    assert changed.any()
    assert not np.any(changed & ~near)
    assert np.array_equal(out[~near], region[~near])


def test_zero_weight_returns_the_region_unchanged() -> None:
    region = np.random.default_rng(1).random((60, 80, 3)).astype(np.float32)
    m = crop_matrix(np.array([[30.0, 30.0], [50.0, 30.0]]), SIZE, False)
    out = apply_flow(region, m, *_flow_inputs(np.zeros(SIZE, np.float32), (5.0, 5.0), 1.0))
    assert np.array_equal(out, region)


def test_crop_near_the_border_repeats_the_edge() -> None:
    image = _smooth_image(40, 50)
    corners = np.array([[2.0, 3.0], [20.0, 3.0]])  # the crop reaches outside the image
    crop, _ = extract_crop(image, corners, SIZE, mirror=False)
    assert np.isfinite(crop).all()


def test_grey_images_give_grey_crops() -> None:
    image = _smooth_image()[..., 0]
    crop, _ = extract_crop(image, np.array([[60.0, 60.0], [100.0, 60.0]]), SIZE, mirror=False)
    assert crop.shape == SIZE


def test_bad_corners_are_refused() -> None:
    with pytest.raises(BadInputError, match="coincide"):
        crop_matrix(np.array([[5.0, 5.0], [5.0, 5.0]]), SIZE, False)
    with pytest.raises(BadInputError):
        crop_matrix(np.array([[5.0, np.nan], [9.0, 5.0]]), SIZE, False)
