"""The analytic gaze baseline: slide the iris inside the eye opening.

No learning: the iris disc (known from landmarks) is translated by the
pixel shift a rotating eyeball of radius `gain * iris_radius` would give,
clipped to the eye opening between the lids; the part of the old iris the
shift uncovers is filled with the eye white's colour (the median of the eye
opening outside the iris). Lids and skin never move. It is the baseline the
learned warp must beat (see `warpaint bench gaze`).
"""

from __future__ import annotations

import numpy as np

# Eyeball radius over iris radius for a human eye (about 12 mm / 6 mm); the
# benchmark may fit its own gain on training pairs.
DEFAULT_GAIN = 2.0


def eye_opening_mask(
    upper_lid: np.ndarray, lower_lid: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """(H, W) float32 in {0, 1}: pixels between the upper and lower lid curves.

    The lids are (K, 2) polylines of (x, y) points from corner to corner; each
    column between the corners is open from the upper to the lower curve.
    """
    h, w = size
    xs = np.arange(w, dtype=np.float32)
    ys = np.arange(h, dtype=np.float32)[:, None]
    up = upper_lid[np.argsort(upper_lid[:, 0])]
    lo = lower_lid[np.argsort(lower_lid[:, 0])]
    left = max(up[0, 0], lo[0, 0])
    right = min(up[-1, 0], lo[-1, 0])
    top = np.interp(xs, up[:, 0], up[:, 1])
    bottom = np.interp(xs, lo[:, 0], lo[:, 1])
    inside = (ys >= top) & (ys <= bottom) & (xs >= left) & (xs <= right)
    return inside.astype(np.float32)


def iris_shift(
    angle: tuple[float, float], iris_radius: float, gain: float = DEFAULT_GAIN
) -> tuple[float, float]:
    """(dx, dy) pixels for a (dyaw, dpitch) redirection in degrees (+pitch is up, so dy < 0)."""
    radius = gain * iris_radius
    return (
        radius * float(np.sin(np.radians(angle[0]))),
        -radius * float(np.sin(np.radians(angle[1]))),
    )


def redirect(
    image: np.ndarray,
    iris_centre: np.ndarray,
    iris_radius: float,
    upper_lid: np.ndarray,
    lower_lid: np.ndarray,
    angle: tuple[float, float],
    gain: float = DEFAULT_GAIN,
) -> np.ndarray:
    """(H, W, 3) eye crop with the iris moved by `angle` = (dyaw, dpitch) degrees.

    Landmarks are crop pixel coordinates. Pixels outside the eye opening are
    returned unchanged.
    """
    h, w = image.shape[:2]
    opening = eye_opening_mask(upper_lid, lower_lid, (h, w))
    dx, dy = iris_shift(angle, iris_radius, gain)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = float(iris_centre[0]), float(iris_centre[1])
    # Soft 1-pixel disc edges avoid a jagged iris rim.
    r = iris_radius + 0.5
    old_disc = np.clip(r - np.hypot(xx - cx, yy - cy), 0.0, 1.0)
    new_disc = np.clip(r - np.hypot(xx - cx - dx, yy - cy - dy), 0.0, 1.0)
    white_pixels = image[(opening > 0) & (old_disc == 0)]
    white = (
        np.median(white_pixels, axis=0)
        if len(white_pixels)
        else np.array([0.85, 0.85, 0.85], np.float32)
    )
    # The iris disc read from its old place (bilinear), over the eye white
    # where the old iris was uncovered; both only inside the opening.
    moved = _sample(image, xx - dx, yy - dy)
    base = image * (1 - old_disc[..., None]) + white * old_disc[..., None]
    inside = (new_disc * opening)[..., None]
    result = base * (1 - inside) + moved * inside
    keep = opening[..., None]
    return (result * keep + image * (1 - keep)).astype(np.float32)


def _sample(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of (H, W, C) `image` at float coordinates, clamped at the border."""
    h, w = image.shape[:2]
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy  # type: ignore[no-any-return]
