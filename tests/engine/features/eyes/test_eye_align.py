"""The canonical eye crop frame: corners land where the contract says, mirrored
crops are mirror images, crops paste back where they came from, and pasting
never touches a pixel outside the weight's support."""

from __future__ import annotations

import numpy as np
import pytest

from warpaint.engine.features.eyes.align import (
    canonical_corners,
    crop_matrix,
    extract_crop,
    invert_affine,
    paste_crop,
    transform_points,
)
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


def test_crop_then_paste_reproduces_the_image() -> None:
    image = _smooth_image()
    corners = np.array([[60.0, 62.0], [100.0, 58.0]])
    crop, m = extract_crop(image, corners, SIZE, mirror=False)
    assert crop.shape == (*SIZE, 3) and crop.dtype == np.float32
    weight = np.zeros(SIZE, np.float32)
    weight[4:-4, 4:-4] = 1.0
    out = paste_crop(image, crop, m, weight)
    assert out.dtype == image.dtype and out.shape == image.shape
    assert np.abs(out - image).max() < 0.01  # two bilinear resamplings of a smooth image


def test_paste_replaces_the_region_by_the_crop() -> None:
    image = _smooth_image()
    corners = np.array([[100.0, 60.0], [64.0, 66.0]])
    _, m = extract_crop(image, corners, SIZE, mirror=True)
    red = np.zeros((*SIZE, 3), np.float32)
    red[..., 0] = 1.0
    weight = np.zeros(SIZE, np.float32)
    weight[10:38, 12:52] = 1.0
    out = paste_crop(image, red, m, weight)
    # The eye's middle (between the corners) is now the crop's colour.
    cx, cy = np.round(corners.mean(axis=0)).astype(int)
    assert np.allclose(out[cy, cx], [1.0, 0.0, 0.0])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_paste_leaves_pixels_outside_the_weight_bit_identical(dtype: type) -> None:
    rng = np.random.default_rng(0)
    info_max = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    image = (rng.random((90, 130, 3)) * info_max).astype(dtype)
    corners = np.array([[52.3, 47.1], [88.9, 41.6]])
    crop, m = extract_crop(image, corners, SIZE, mirror=False)
    crop = crop * 0.5 + 0.25 * info_max  # something different to paste
    weight = np.zeros(SIZE, np.float32)
    yy, xx = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
    weight[((xx - 32) / 20.0) ** 2 + ((yy - 26) / 12.0) ** 2 < 1.0] = 1.0
    out = paste_crop(image, crop, m, weight)
    assert out.dtype == image.dtype
    # Where each image pixel falls in the crop: farther than 1 px (bilinear
    # reach) from any weighted crop pixel means it must not change.
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(np.float64)
    c = transform_points(m, np.stack([xs, ys], axis=-1))
    padded = np.pad(weight > 0, 1)  # a ring of "no weight" around the crop
    x0 = np.clip(np.floor(c[..., 0]).astype(int) + 1, 0, SIZE[1] + 1)
    y0 = np.clip(np.floor(c[..., 1]).astype(int) + 1, 0, SIZE[0] + 1)
    x1, y1 = np.minimum(x0 + 1, SIZE[1] + 1), np.minimum(y0 + 1, SIZE[0] + 1)
    near = padded[y0, x0] | padded[y0, x1] | padded[y1, x0] | padded[y1, x1]
    changed = np.any(out != image, axis=2)
    assert changed.any()
    assert not np.any(changed & ~near)
    assert np.array_equal(out[~near], image[~near])


def test_zero_weight_returns_an_identical_copy() -> None:
    image = (np.random.default_rng(1).random((60, 80, 3)) * 255).astype(np.uint8)
    crop, m = extract_crop(image, np.array([[30.0, 30.0], [50.0, 30.0]]), SIZE, mirror=False)
    out = paste_crop(image, crop + 40, m, np.zeros(SIZE, np.float32))
    assert np.array_equal(out, image) and out is not image


def test_crop_near_the_border_repeats_the_edge_and_pastes_inside_only() -> None:
    image = _smooth_image(40, 50)
    corners = np.array([[2.0, 3.0], [20.0, 3.0]])  # the crop reaches outside the image
    crop, m = extract_crop(image, corners, SIZE, mirror=False)
    assert np.isfinite(crop).all()
    out = paste_crop(image, crop, m, np.ones(SIZE, np.float32))
    assert out.shape == image.shape


def test_grey_images_give_grey_crops() -> None:
    image = _smooth_image()[..., 0]
    crop, m = extract_crop(image, np.array([[60.0, 60.0], [100.0, 60.0]]), SIZE, mirror=False)
    assert crop.shape == SIZE
    out = paste_crop(image, crop, m, np.ones(SIZE, np.float32))
    assert out.shape == image.shape and np.abs(out - image).max() < 0.01


def test_bad_corners_and_weights_are_refused() -> None:
    image = _smooth_image()
    with pytest.raises(BadInputError, match="coincide"):
        crop_matrix(np.array([[5.0, 5.0], [5.0, 5.0]]), SIZE, False)
    with pytest.raises(BadInputError):
        crop_matrix(np.array([[5.0, np.nan], [9.0, 5.0]]), SIZE, False)
    crop, m = extract_crop(image, np.array([[60.0, 60.0], [100.0, 60.0]]), SIZE, mirror=False)
    with pytest.raises(ValueError, match="weight shape"):
        paste_crop(image, crop, m, np.ones((10, 10), np.float32))
