"""Image evidence for an eye's place: the dark iris disc near where the regressor put it.

The landmark regressor (`landmarks.py`) is trained on renders only; on small,
blurred real eyes it places some eyes' centres 2-3 px high or toward the nose
at 20 px eye width (docs/gaze.md). This module looks for the iris in the
image itself: in the canonical crop between the regressor's corners, the
disc of radius `IRIS_RADIUS` corner distances whose surrounding ring
(`RING` radii) is brightest relative to it, searched on a 0.5 px grid within
`SEARCH` corner distances of where a straight-looking eye's iris sits (the
corner line's middle, `IRIS_ABOVE` above it), a squared-distance prior of
weight `PRIOR` keeping it near there. Where the disc is at least
`MIN_CONTRAST` darker than its ring (in luma, 0-1), at most `MAX_DARKNESS`
of the crop's median luma, clearly more of a dark disc than the one at the
regressor's iris (`MIN_GAIN`), and more than `AGREE` corner distances from
it, the eye is moved: its
iris centre becomes the disc's centre, and its corners and lids move by the
offset of the disc from where the iris of a straight-looking eye would be,
fully across the eye's axis and by `ALONG_WEIGHT` along it (an iris off the
middle is also a gaze to the side, which the corners must keep), at most
`MAX_MOVE` corner distances. Width and angle are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from warpaint.engine.features.eyes.align import canonical_corners, invert_affine, transform_points

if TYPE_CHECKING:
    from warpaint.engine.features.eyes.detect import Eye

# The crop the search runs in, (H, W): corners 38.4 px apart.
CROP = (48, 64)
# Iris radius / corner distance (labelled real eyes: 0.19-0.24; renders: 0.2).
IRIS_RADIUS = 0.18
# The ring the disc is compared with: from 1 to RING iris radii.
RING = 1.6
# Search half-size, in corner distances, along and across the eye's axis.
SEARCH = 0.15
# A straight-looking eye's iris centre is this many corner distances above the
# corners' middle (labelled real eyes: 0-0.04).
IRIS_ABOVE = 0.02
# Weight of the squared offset (in corner distances) from that place, in luma.
PRIOR = 0.5
# The least luma by which the ring must be brighter than the disc.
MIN_CONTRAST = 0.03
# An eye whose iris is already within this many corner distances of the disc
# stays as found (on a sharp eye such as the astronaut's the regressor is right
# to under a pixel, and the corneal highlight pulls the disc aside).
AGREE = 0.05
# The found disc's contrast must beat that of a disc at the regressor's iris
# by this share of itself: on renders, where the regressor is right, no eye
# then moves (240 of 240 kept, 40 renders at 20 px from six starts each).
MIN_GAIN = 0.35
# The disc's mean luma must be at most this share of the crop's median (mostly
# skin): a light iris in dark skin is not the darkest disc there (on renders
# the lash line then wins, 2.5-2.8 px off; real eyes here: 0.40-0.64).
MAX_DARKNESS = 0.75
# Share of the disc's offset along the eye's axis that moves the corners.
ALONG_WEIGHT = 0.5
# The most the corners move, in corner distances.
MAX_MOVE = 0.3
# Grid step of the search, crop pixels.
STEP = 0.5


@dataclass(frozen=True)
class IrisFit:
    """The darkest disc found: its centre (x, y) in image pixels, and by how much
    (luma) its ring is brighter than it."""

    centre: np.ndarray
    contrast: float
    # The same contrast for a disc centred at the point `find_iris` was given (nan: none).
    contrast_at: float = np.nan
    # The disc's mean luma / the crop's median luma (mostly skin).
    darkness: float = np.nan


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114)


@cache
def _kernels(phase_x: float, phase_y: float) -> tuple[np.ndarray, np.ndarray]:
    """(disc, ring) mean kernels for a centre `phase` px right of and below a pixel centre."""
    width = (canonical_corners(CROP)[1, 0] - canonical_corners(CROP)[0, 0]).item()
    r = IRIS_RADIUS * width
    reach = int(np.ceil(RING * r)) + 1
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1].astype(np.float64)
    d = np.hypot(dx - phase_x, dy - phase_y)
    disc = (d <= r).astype(np.float32)
    ring = ((d > r) & (d <= RING * r)).astype(np.float32)
    return disc / disc.sum(), ring / ring.sum()


def find_iris(
    image: np.ndarray, corners: np.ndarray, mirror: bool, at: np.ndarray | None = None
) -> IrisFit:
    """The iris disc of the eye between `corners` ((2, 2) [inner, outer] x, y).

    `image` is (H, W, 3) float in [0, 1] or uint8 (read as value / 255, a
    window around the eye only). The disc is searched as the module's
    docstring says; its centre comes back in image pixels.
    """
    import cv2

    from warpaint.engine.features.eyes.detect import _eye_crop

    corners = np.asarray(corners, np.float64)
    crop, matrix = _eye_crop(image, corners, CROP, mirror)
    luma = np.ascontiguousarray(_luma(np.clip(crop[..., :3], 0.0, 1.0)), np.float32)
    ref = canonical_corners(CROP)
    width = float(ref[1, 0] - ref[0, 0])
    u0, v0 = float(ref[:, 0].mean()), float(ref[0, 1]) - IRIS_ABOVE * width
    half = SEARCH * width
    best = (-np.inf, 0.0, u0, v0)  # (prior-weighted score, contrast, u, v)
    for phase_x in (0.0, STEP):
        for phase_y in (0.0, STEP):
            disc, ring = _kernels(phase_x, phase_y)
            contrast = cv2.filter2D(luma, -1, ring) - cv2.filter2D(luma, -1, disc)
            us = np.arange(CROP[1]) + phase_x
            vs = np.arange(CROP[0]) + phase_y
            du, dv = us[None] - u0, vs[:, None] - v0
            inside = (np.abs(du) <= half) & (np.abs(dv) <= half)
            score = np.where(inside, contrast - PRIOR * (du**2 + dv**2) / width**2, -np.inf)
            j, i = np.unravel_index(int(np.argmax(score)), score.shape)
            if score[j, i] > best[0]:
                best = (float(score[j, i]), float(contrast[j, i]), float(us[i]), float(vs[j]))
    _, contrast_best, u, v = best
    centre = transform_points(invert_affine(matrix), np.array([u, v]))
    there = np.nan
    if at is not None:
        pu, pv = transform_points(matrix, np.asarray(at, np.float64))
        iu, iv = int(np.floor(pu / STEP + 0.5)), int(np.floor(pv / STEP + 0.5))
        phase_x, phase_y = (iu % 2) * STEP, (iv % 2) * STEP
        x, y = int(np.floor(iu * STEP)), int(np.floor(iv * STEP))
        if 0 <= x < CROP[1] and 0 <= y < CROP[0]:
            disc, ring = _kernels(phase_x, phase_y)
            there = float(cv2.filter2D(luma, -1, ring)[y, x] - cv2.filter2D(luma, -1, disc)[y, x])
    disc, _ = _kernels(u % 1.0, v % 1.0)
    x, y = int(np.floor(u)), int(np.floor(v))
    darkness = float(cv2.filter2D(luma, -1, disc)[y, x]) / max(float(np.median(luma)), 1e-6)
    return IrisFit(np.asarray(centre, np.float64), contrast_best, there, darkness)


def fit_eye(image: np.ndarray, eye: Eye) -> Eye:
    """`eye` moved onto the iris the image shows (`find_iris`), or `eye` itself
    where the evidence is weak: the disc found is less than `MIN_CONTRAST`
    darker than its ring, brighter than `MAX_DARKNESS` of the crop's median,
    not `MIN_GAIN` more of a dark disc than the one at `eye`'s iris centre, or
    within `AGREE` corner distances of it.

    The iris centre becomes the disc's; corners and lids move by the disc's
    offset from a straight-looking eye's iris place, across the axis fully and
    along it by `ALONG_WEIGHT`, at most `MAX_MOVE` corner distances.
    """
    fit = find_iris(image, eye.corners, eye.mirror, eye.iris_centre)
    width = eye.width
    agrees = float(np.linalg.norm(fit.centre - eye.iris_centre)) < AGREE * width
    gain = (fit.contrast - fit.contrast_at) / max(fit.contrast, 1e-6)
    dark = fit.darkness <= MAX_DARKNESS
    if agrees or not fit.contrast >= MIN_CONTRAST or not gain >= MIN_GAIN or not dark:
        return eye
    axis = (eye.corners[1] - eye.corners[0]) / width
    normal = np.array([axis[1], -axis[0]])
    if normal[1] > 0:  # the normal that points up in the image
        normal = -normal
    expected = eye.corners.mean(axis=0) + IRIS_ABOVE * width * normal
    offset = fit.centre - expected
    along = float(offset @ axis)
    move = offset - (1.0 - ALONG_WEIGHT) * along * axis
    length = float(np.linalg.norm(move))
    if length > MAX_MOVE * width:
        move *= MAX_MOVE * width / length
    return replace(
        eye,
        corners=eye.corners + move,
        upper_lid=eye.upper_lid + move,
        lower_lid=eye.lower_lid + move,
        iris_centre=fit.centre,
    )
