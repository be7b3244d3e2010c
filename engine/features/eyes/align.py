"""The canonical eye crop frame and crop extraction (numpy); the gaze effect
pastes results back with `apply_flow`.

The eye's two corners sit at fixed fractions of the crop: the inner corner at
(0.2 W, 0.55 H), the outer at (0.8 W, 0.55 H), so the inner corner is on the
crop's left. That is how a subject's LEFT eye (on the image's right) looks in a
photo; a subject's right eye (image left, inner corner on its right) is
mirrored into the same frame (`mirror=True`), so one network serves both eyes.

Coordinates are pixel coordinates with pixel centres at integers (x, y), the
same convention as the renderer's landmarks. A crop matrix is a (2, 3) affine
from image pixel coordinates to crop pixel coordinates: a similarity (scale +
rotation), or a similarity composed with a reflection when mirrored.
"""

from __future__ import annotations

import numpy as np

from warpaint.engine.features.eyes.render import INNER_CORNER, OUTER_CORNER
from warpaint.engine.runtime.errors import BadInputError


def canonical_corners(size: tuple[int, int]) -> np.ndarray:
    """(2, 2) [inner, outer] corner positions (x, y) in a crop of `size` = (H, W)."""
    h, w = size
    return np.array(
        [[INNER_CORNER[0] * w, INNER_CORNER[1] * h], [OUTER_CORNER[0] * w, OUTER_CORNER[1] * h]],
        dtype=np.float64,
    )


def crop_matrix(corners: np.ndarray, size: tuple[int, int], mirror: bool) -> np.ndarray:
    """(2, 3) affine from image pixel coords to crop pixel coords.

    `corners` is (2, 2) [inner, outer] (x, y) in the image; they land on
    `canonical_corners(size)`. `mirror` reflects the image so that a right
    eye looks like a left one (the crop keeps "up" up). BadInputError for
    corners that are not two distinct finite points.
    """
    c = np.asarray(corners, dtype=np.float64)
    if c.shape != (2, 2) or not np.all(np.isfinite(c)):
        raise BadInputError(f"eye corners must be two finite (x, y) points, got shape {c.shape}")
    d = c[1] - c[0]
    n2 = float(d @ d)
    if n2 < 1e-12:
        raise BadInputError("the two eye corners coincide")
    target = canonical_corners(size)
    t = target[1] - target[0]  # horizontal: (tx, 0)
    tx = float(t[0])
    if mirror:
        # [[a, b], [b, -a]] (a reflection-similarity) with A d = t.
        a, b = tx * d[0] / n2, tx * d[1] / n2
        lin = np.array([[a, b], [b, -a]])
    else:
        # [[a, -b], [b, a]] (a rotation-similarity) with A d = t.
        a, b = tx * d[0] / n2, -tx * d[1] / n2
        lin = np.array([[a, -b], [b, a]])
    offset = target[0] - lin @ c[0]
    return np.concatenate([lin, offset[:, None]], axis=1)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """(2, 3) inverse of a (2, 3) affine."""
    m = np.asarray(matrix, dtype=np.float64)
    lin = np.linalg.inv(m[:, :2])
    return np.concatenate([lin, (-lin @ m[:, 2])[:, None]], axis=1)


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(..., 2) points mapped by a (2, 3) affine."""
    p = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    return p @ m[:, :2].T + m[:, 2]


def _bilinear(src: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample (H, W, C) float `src` at float coords, clamped to the edges -> (..., C)."""
    h, w = src.shape[:2]
    x = np.clip(x, 0.0, w - 1.0)
    y = np.clip(y, 0.0, h - 1.0)
    x0 = np.minimum(np.floor(x).astype(np.intp), w - 2) if w > 1 else np.zeros_like(x, np.intp)
    y0 = np.minimum(np.floor(y).astype(np.intp), h - 2) if h > 1 else np.zeros_like(y, np.intp)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    top = src[y0, x0] * (1 - fx) + src[y0, x1] * fx
    bottom = src[y1, x0] * (1 - fx) + src[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def extract_crop(
    image: np.ndarray, corners: np.ndarray, size: tuple[int, int], mirror: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, C) crop (bilinear) and its (2, 3) matrix.

    `image` is (H, W, C) or (H, W) of any numeric dtype; the crop is float32
    in the image's own units (a uint8 image gives values in 0..255), and 2-D
    images give 2-D crops. Samples outside the image repeat its edge.
    """
    img = np.asarray(image)
    if img.ndim not in (2, 3) or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {img.shape}")
    matrix = crop_matrix(corners, size, mirror)
    inv = invert_affine(matrix)
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    sx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    sy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    src = img.astype(np.float32) if img.ndim == 3 else img.astype(np.float32)[..., None]
    crop = _bilinear(src, sx, sy).astype(np.float32)
    return (crop if img.ndim == 3 else crop[..., 0]), matrix
