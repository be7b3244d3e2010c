"""Automatic eye localisation, offline: Haar boxes refined by a landmark regressor.

1. `face_candidates.py` finds faces with OpenCV's Haar cascades (shipped in
   opencv-python-headless 4.x): a search of reduced and turned copies of the
   image, then a check of each find in an upright crop at full resolution,
   where the eye cascades also find eye boxes. A missing eye is put where
   face proportions say it is (mirrored from the other eye, or from the face
   box alone).
2. Each eye box gives rough corners (a Haar eye box is ~1.4x the corner
   distance, centred on the eye); the line between the two eyes gives the
   roll.
3. The landmark regressor (`landmarks.py`, trained on the procedural renderer)
   looks at the canonical crop from those corners and says where corners,
   lids and iris really are; re-cropping at its answer and asking again
   converges in a few passes. Without the model file the rough corners stay
   and lids/iris come from the renderer's average eye.
4. Each refined eye is checked against its face: on small blurred eyes the
   regressor can shrink an eye to half its width, which zooms the gaze
   crop in. An eye whose corner distance is off the width its face box
   implies by more than `WIDTH_TOLERANCE` is reframed: the regressor's eye
   centre is kept, its corners are set that width apart along the line the
   rough corners give, and one more pass finds lids and iris between them.
5. Each refined eye is moved onto the dark iris disc the image shows near it,
   where the disc stands out (`iris_fit.py`): on blurred real eyes the
   regressor puts some eyes' centres a few pixels high or toward the nose.

`eyes_from_points` builds the same landmarks from corners a user clicked, so
everything downstream works with no detector at all.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from warpaint.engine.features.eyes.align import (
    crop_matrix,
    extract_crop,
    invert_affine,
    transform_points,
)
from warpaint.engine.features.eyes.render import EyeAppearance, EyeLandmarks, EyeLook, landmarks
from warpaint.engine.runtime.errors import BadInputError

# Refinement passes of the regressor (each re-crops at the previous answer).
PASSES = 3
# Corner distance / Haar eye-box width, measured on the astronaut sample (0.67, 0.8).
BOX_TO_CORNERS = 0.72
# A refined eye may move at most this many corner distances from its Haar box
# and change its size at most this factor; beyond that the box wins.
MAX_SHIFT = 0.6
MAX_RESIZE = 1.8
# Corner distance / width of the detected face box, measured on the labelled real
# eyes (astronaut 0.22 and 0.23; LFW faces 0.19-0.23).
EYE_TO_FACE = 0.215
# A refined eye narrower or wider than this factor of EYE_TO_FACE x face width is reframed
# (the astronaut's eyes come out 0.96 and 1.11 of it and stay as found).
WIDTH_TOLERANCE = 1.15
# Only a blurred eye is reframed: the regressor shrinks eyes blurred by
# enlargement (the LFW eyes measure 1.4-2.4 px of blur, `eye_blur`), while on a
# sharp eye its width is the better evidence; a face box's proportion fits
# few faces closely (Grace Hopper's narrowed eyes behind glasses, 0.5-0.6 px,
# are half of it). The astronaut's eyes measure 0.7 px.
SHARP_EYE_BLUR = 1.0


@dataclass(frozen=True)
class Eye:
    """One eye's landmarks in image pixel coordinates (x, y)."""

    corners: np.ndarray  # (2, 2): [inner corner, outer corner]
    upper_lid: np.ndarray  # (K, 2) from the inner to the outer corner
    lower_lid: np.ndarray  # (K, 2)
    iris_centre: np.ndarray  # (2,)
    iris_radius: float
    # True for the eye on the image's left (the subject's right eye): its crop
    # is mirrored so that it looks like a left eye in the canonical frame.
    mirror: bool

    @property
    def width(self) -> float:
        """Corner distance in pixels."""
        return float(np.linalg.norm(self.corners[1] - self.corners[0]))

    def crop(self, image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(crop, (2, 3) matrix) of this eye in the canonical frame (see `align.extract_crop`)."""
        return extract_crop(image, self.corners, size, self.mirror)


@dataclass(frozen=True)
class Face:
    """A face box (x, y, w, h) in pixels and its eyes: (image-left eye, image-right eye)."""

    box: tuple[int, int, int, int]
    eyes: tuple[Eye, Eye]
    # How the eyes were found: "haar" (both boxes), "partial" (one box), "face" (face box only).
    source: str = "haar"
    # Roll of the head in degrees, counter-clockwise in the image (0 upright); the
    # detector searches turned copies of the image, so this is 0 or +-25.
    roll: float = 0.0


def _eye_from_crop_landmarks(lm: EyeLandmarks, matrix: np.ndarray, mirror: bool) -> Eye:
    inv = invert_affine(matrix)
    scale = float(np.sqrt(abs(np.linalg.det(inv[:, :2]))))
    return Eye(
        corners=transform_points(inv, lm.corners),
        upper_lid=transform_points(inv, lm.upper_lid),
        lower_lid=transform_points(inv, lm.lower_lid),
        iris_centre=transform_points(inv, lm.iris_centre),
        iris_radius=lm.iris_radius * scale,
        mirror=mirror,
    )


def _average_eye(corners: np.ndarray, mirror: bool) -> Eye:
    """Landmarks of the renderer's average eye, looking ahead, between `corners`."""
    from warpaint.engine.features.eyes.landmarks import CROP_SIZE

    matrix = crop_matrix(corners, CROP_SIZE, mirror)
    eye = _eye_from_crop_landmarks(landmarks(EyeAppearance(), EyeLook(), CROP_SIZE), matrix, mirror)
    # Exactly the given corners (the mapping reproduces them up to rounding).
    return Eye(
        np.asarray(corners, np.float64),
        eye.upper_lid,
        eye.lower_lid,
        eye.iris_centre,
        eye.iris_radius,
        mirror,
    )


def _rgb_channels(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) in the image's own dtype from grey, RGB or RGBA (a view where it can be)."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4) or min(img.shape[:2]) < 8:
        raise BadInputError(f"expected an (H, W, 3) image, got shape {np.asarray(image).shape}")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return img[..., :3]


def _as_rgb01(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] from uint8/uint16/float, grey, RGB or RGBA."""
    img = _rgb_channels(image)
    if np.issubdtype(img.dtype, np.integer):
        return img.astype(np.float32) / float(np.iinfo(img.dtype).max)
    return np.clip(img.astype(np.float32), 0.0, 1.0)


def _eye_crop(
    image: np.ndarray, corners: np.ndarray, size: tuple[int, int], mirror: bool
) -> tuple[np.ndarray, np.ndarray]:
    """`extract_crop` of an eye from a window of the image around it: the crop
    converts its source to float, which for a whole 12 MP photo costs 30 ms an eye.
    A uint8 image is read as value / 255, the window only."""
    span = float(np.linalg.norm(corners[1] - corners[0])) * 2.0 + 4.0
    lo = np.maximum(np.floor(corners.min(axis=0) - span), 0).astype(int)
    hi = np.ceil(corners.max(axis=0) + span).astype(int) + 1
    window = image[lo[1] : hi[1], lo[0] : hi[0]]
    if min(window.shape[:2]) < 2:
        return extract_crop(_unit_float(image), corners, size, mirror)
    crop, matrix = extract_crop(_unit_float(window), corners - lo, size, mirror)
    matrix = matrix.copy()
    matrix[:, 2] -= matrix[:, :2] @ lo
    return crop, matrix


def _unit_float(image: np.ndarray) -> np.ndarray:
    """A uint8 image as float32 in [0, 1] (as `_as_rgb01` makes it); others as they are."""
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image


def _predict(
    regressor: object, image: np.ndarray, corners: list[np.ndarray], mirrors: list[bool]
) -> list[Eye]:
    """One regressor pass: crop every eye at `corners`, predict, map back to the image."""
    from warpaint.engine.features.eyes.landmarks import CROP_SIZE, vector_to_landmarks

    crops, matrices = [], []
    for c, mirror in zip(corners, mirrors, strict=True):
        crop, matrix = _eye_crop(image, np.asarray(c, np.float64), CROP_SIZE, mirror)
        crops.append(crop)
        matrices.append(matrix)
    vectors = regressor.predict(np.clip(np.stack(crops), 0.0, 1.0))  # type: ignore[attr-defined]
    return [
        _eye_from_crop_landmarks(vector_to_landmarks(v, CROP_SIZE), m, mirror)
        for v, m, mirror in zip(vectors, matrices, mirrors, strict=True)
    ]


def refine_eyes(
    image: np.ndarray,
    rough: list[tuple[np.ndarray, bool]],
    passes: int = PASSES,
    keep_corners: bool = False,
) -> list[Eye]:
    """Landmarks for eyes given rough [inner, outer] corners and their mirror flags.

    `image` is (H, W, 3) float32 in [0, 1], or uint8 (read as value / 255 in
    the windows around the eyes only). Each pass re-crops at the corners
    the previous pass found; an eye stops early when a pass moves its corners
    less than 0.3 px, and a pass that moves them more than the one before
    (diverging: hair or a shadow pulling a corner away) is undone. With
    `keep_corners` the given corners are kept (a user placed them) and one
    pass finds lids and iris. Without the regressor's weights file the
    average eye is returned.
    """
    from warpaint.engine.features.eyes.landmarks import default_regressor

    regressor = default_regressor()
    if regressor is None or not rough:
        return [_average_eye(c, m) for c, m in rough]
    mirrors = [m for _, m in rough]
    given = [np.asarray(c, np.float64) for c, _ in rough]
    if keep_corners:
        eyes = _predict(regressor, image, given, mirrors)
        return [
            Eye(c, e.upper_lid, e.lower_lid, e.iris_centre, e.iris_radius, e.mirror)
            for c, e in zip(given, eyes, strict=True)
        ]
    eyes = _predict(regressor, image, given, mirrors)
    steps = [float(np.abs(e.corners - c).max()) for e, c in zip(eyes, given, strict=True)]
    active = [True] * len(eyes)
    for _ in range(max(1, passes) - 1):
        todo = [i for i, a in enumerate(active) if a and steps[i] >= 0.3]
        if not todo:
            break
        again = _predict(
            regressor, image, [eyes[i].corners for i in todo], [mirrors[i] for i in todo]
        )
        for i, new in zip(todo, again, strict=True):
            step = float(np.abs(new.corners - eyes[i].corners).max())
            if step > steps[i]:
                active[i] = False  # diverging: keep the previous answer
                continue
            eyes[i], steps[i] = new, step
    return eyes


def eyes_from_points(points: np.ndarray, image: np.ndarray | None = None) -> list[Eye]:
    """Eyes from manual corner points: (2N, 2) (x, y), two consecutive points per eye.

    Either order works within an eye: with two or more eyes, an eye left of
    its nearest neighbour is the subject's right eye (mirrored; its inner
    corner is its right-hand point), one right of it a left eye (inner corner
    on the left), so several faces' eyes can be given at once.
    A single eye is taken as given: first point inner corner, second outer,
    mirrored when the inner corner is right of the outer one.
    With `image`, lids and iris are found by the regressor (corners kept);
    without it they come from the renderer's average eye.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 2 or len(pts) % 2:
        raise BadInputError(
            f"eye points must be pairs of (x, y) corners, two per eye; got shape {pts.shape}"
        )
    if not np.all(np.isfinite(pts)):
        raise BadInputError("eye points must be finite numbers")
    pairs = pts.reshape(-1, 2, 2)
    for i, pair in enumerate(pairs):
        if np.linalg.norm(pair[1] - pair[0]) < 2.0:
            raise BadInputError(f"eye {i + 1}: its two corners are less than 2 px apart")
    rough: list[tuple[np.ndarray, bool]] = []
    if len(pairs) == 1:
        inner, outer = pairs[0]
        rough.append((pairs[0].copy(), bool(inner[0] > outer[0])))
    else:
        centres = pairs.mean(axis=1)
        for i, pair in enumerate(pairs):
            # An eye's partner is the nearest other eye: left of it means the
            # subject's right eye (this also holds with several faces).
            dist = np.linalg.norm(centres - centres[i], axis=1)
            dist[i] = np.inf
            image_left = bool(centres[i, 0] < centres[int(np.argmin(dist)), 0])
            # Image-left eye: inner corner is the right-hand point; image-right eye: the left one.
            order = np.argsort(pair[:, 0])
            inner, outer = (order[1], order[0]) if image_left else (order[0], order[1])
            rough.append((np.stack([pair[inner], pair[outer]]), bool(image_left)))
    if image is None:
        return [_average_eye(c, m) for c, m in rough]
    return refine_eyes(_as_rgb01(image), rough, keep_corners=True)


def _rough_corners(
    face: tuple[int, int, int, int], boxes: np.ndarray
) -> tuple[list[tuple[np.ndarray, bool]], str, list[tuple[np.ndarray, float]]]:
    """Rough corners of (image-left eye, image-right eye) from a face box and eye boxes.

    Also returns (centre, corner distance) of each eye's prior, for sanity checks.
    """
    x, y, w, h = face
    cx = x + w / 2.0
    left: list[tuple[float, np.ndarray, float]] = []
    right: list[tuple[float, np.ndarray, float]] = []
    for ex, ey, ew, eh in boxes:
        c = np.array([ex + ew / 2.0, ey + eh / 2.0])
        # Eyes sit in the face's upper half, about 0.2-0.55 of its height.
        if not (y + 0.15 * h < c[1] < y + 0.6 * h):
            continue
        score = abs((c[1] - y) / h - 0.4) + abs(ew / w - 0.25)
        (left if c[0] < cx else right).append((score, c, float(ew)))
    best_l = min(left, key=lambda t: t[0]) if left else None
    best_r = min(right, key=lambda t: t[0]) if right else None
    if best_l and best_r:
        source = "haar"
        (_, cl, wl), (_, cr, wr) = best_l, best_r
    elif best_l or best_r:
        source = "partial"
        _, c, ew = best_l or best_r  # type: ignore[misc]
        mirrored = np.array([2 * cx - c[0], c[1]])
        (cl, wl), (cr, wr) = ((c, ew), (mirrored, ew)) if best_l else ((mirrored, ew), (c, ew))
    else:
        source = "face"
        cl, cr = np.array([x + 0.3 * w, y + 0.4 * h]), np.array([x + 0.7 * w, y + 0.4 * h])
        wl = wr = 0.25 * w
    axis = cr - cl
    norm = float(np.linalg.norm(axis))
    d = axis / norm if norm > 1e-6 else np.array([1.0, 0.0])
    half_l, half_r = 0.5 * BOX_TO_CORNERS * wl, 0.5 * BOX_TO_CORNERS * wr
    left_eye = np.stack([cl + half_l * d, cl - half_l * d])  # inner is toward the nose (right)
    right_eye = np.stack([cr - half_r * d, cr + half_r * d])
    priors = [(cl, 2 * half_l), (cr, 2 * half_r)]
    return [(left_eye, True), (right_eye, False)], source, priors


def eye_blur(image: np.ndarray, eye: Eye) -> float:
    """The picture's blur around `eye` (`lid.picture_blur`, px) in `image` (H, W, 3),
    uint8 or float in [0, 1]: a box as wide as the eye on each side of its middle."""
    import torch

    from warpaint.engine.features.eyes.lid import picture_blur

    mid, w = eye.corners.mean(axis=0), max(eye.width, 4.0)
    x0, x1 = int(max(0, mid[0] - w)), int(min(image.shape[1], mid[0] + w + 1))
    y0, y1 = int(max(0, mid[1] - 0.6 * w)), int(min(image.shape[0], mid[1] + 0.6 * w + 1))
    patch = np.ascontiguousarray(image[y0:y1, x0:x1, :3], np.float32)
    if image.dtype == np.uint8:
        patch /= 255.0
    return picture_blur(torch.from_numpy(patch).permute(2, 0, 1))


def implausible_width(width: float, face_width: float) -> bool:
    """Whether an eye `width` px between its corners is off the width a face
    box `face_width` px wide implies (`EYE_TO_FACE`) by more than `WIDTH_TOLERANCE`."""
    expected = EYE_TO_FACE * face_width
    return not (expected / WIDTH_TOLERANCE <= width <= expected * WIDTH_TOLERANCE)


def reframed_corners(eye: Eye, rough: np.ndarray, face_width: float) -> np.ndarray:
    """(2, 2) [inner, outer] corners `EYE_TO_FACE * face_width` px apart about
    `eye`'s corner midpoint, along the inner-to-outer direction of `rough`."""
    axis = rough[1] - rough[0]
    norm = float(np.linalg.norm(axis))
    d = axis / norm if norm > 1e-6 else np.array([1.0, 0.0])
    half = 0.5 * EYE_TO_FACE * face_width
    mid = eye.corners.mean(axis=0)
    return np.stack([mid - half * d, mid + half * d])


def detect_faces(image: np.ndarray, refine: bool = True) -> list[Face]:
    """Faces with both eyes' landmarks, largest first; [] when no face is found.

    `image` is (H, W, 3) (or grey, or RGBA) uint8 or float in [0, 1]. Faces
    from `face_candidates.MIN_FACE` (60) px wide, frontal to three-quarter,
    with heads tilted up to about 40 degrees, are found (`face_candidates`
    says how). With `refine` False the eyes are the rough Haar-box estimates
    with the average eye's lids and iris.
    """
    import cv2

    from warpaint.engine.features.eyes.face_candidates import find_faces
    from warpaint.engine.features.eyes.iris_fit import fit_eye

    # A uint8 image is searched and refined as it is: converting a 12 MP photo
    # to float and back costs more than a second.
    rgb = _rgb_channels(image)
    if rgb.dtype == np.uint8:
        pixels = np.ascontiguousarray(rgb)
    else:
        rgb = _as_rgb01(image)
        pixels = np.round(rgb * 255.0).astype(np.uint8)
    found = []
    for cand in find_faces(pixels):
        # Eyes are placed in the upright crop the check looked at, then mapped
        # back to the image (the crop is turned for a tilted head).
        to_image = cv2.invertAffineTransform(cand.matrix)
        zoom = float(np.hypot(*cand.matrix[0, :2]))
        crop_rough, source, crop_priors = _rough_corners(cand.box, cand.eyes)
        rough = [(transform_points(to_image, c), m) for c, m in crop_rough]
        priors = [(transform_points(to_image, c), w / zoom) for c, w in crop_priors]
        found.append((cand, source, rough, priors))
    # One regressor batch for every face's eyes.
    everyone = [eye for _, _, rough, _ in found for eye in rough]
    refined = refine_eyes(rgb, everyone) if refine else [_average_eye(c, m) for c, m in everyone]
    checked: list[Eye] = []
    regressed: list[bool] = []
    reframe: list[tuple[int, np.ndarray, bool]] = []
    for i, (cand, _source, rough, priors) in enumerate(found):
        for eye, (corners, mirror), (centre, width) in zip(
            refined[2 * i : 2 * i + 2], rough, priors, strict=True
        ):
            moved = np.linalg.norm(eye.corners.mean(axis=0) - centre) / width
            resized = eye.width / width
            fell_back = moved > MAX_SHIFT or not (1 / MAX_RESIZE < resized < MAX_RESIZE)
            if fell_back:
                eye = _average_eye(corners, mirror)
            elif (
                refine
                and implausible_width(eye.width, cand.width)
                and eye_blur(rgb, eye) >= SHARP_EYE_BLUR
            ):
                reframe.append((len(checked), reframed_corners(eye, corners, cand.width), mirror))
            checked.append(eye)
            regressed.append(refine and not fell_back)
    if reframe:
        # One batch for every reframed eye: corners kept, lids and iris found.
        again = refine_eyes(rgb, [(c, m) for _, c, m in reframe], keep_corners=True)
        for (k, _, _), eye in zip(reframe, again, strict=True):
            checked[k] = eye
    # The iris the image shows moves each regressed eye onto it (`iris_fit`).
    checked = [fit_eye(rgb, e) if r else e for e, r in zip(checked, regressed, strict=True)]
    faces: list[Face] = []
    for i, (cand, source, _rough, _priors) in enumerate(found):
        half = cand.width / 2.0
        box = (
            int(round(cand.centre[0] - half)),
            int(round(cand.centre[1] - half)),
            int(round(cand.width)),
            int(round(cand.width)),
        )
        faces.append(Face(box, (checked[2 * i], checked[2 * i + 1]), source, 0.0 - cand.angle))
    return faces


class DetectionCache:
    """`detect_faces` answers for the last few images, keyed by a hash of all their pixels.

    The attributes and gaze panels both look for eyes when they open, and the
    gaze effect again on every run without points: one detection per layer
    content serves them all. The key is the shape, dtype and a SHA-256 digest
    of every byte, read in place (18 ms for a 1920x1080 float RGBA layer on
    the development CPU, which hashes SHA-256 in hardware; BLAKE2 of a copy of
    the RGB channels took 54 ms), against a detection's 0.15-2.4 s, so
    any edit of the layer detects again.
    """

    def __init__(self, capacity: int = 4) -> None:
        self._items: OrderedDict[tuple[Any, ...], tuple[Face, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.capacity = capacity
        self.detections = 0  # how many times the detector really ran

    @staticmethod
    def key(image: np.ndarray) -> tuple[Any, ...]:
        whole = np.ascontiguousarray(image)  # no copy for a layer's own array
        digest = hashlib.sha256(whole.data.cast("B")).hexdigest()
        return (image.shape, image.dtype.str, digest)

    def faces(self, image: np.ndarray) -> list[Face]:
        """`detect_faces(image)`, from the cache when this image was seen."""
        key = self.key(image)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return list(hit)
        found = tuple(detect_faces(image))
        with self._lock:
            self.detections += 1
            self._items[key] = found
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return list(found)


_CACHE = DetectionCache()


def detect_faces_cached(image: np.ndarray) -> list[Face]:
    """`detect_faces` through the process-wide `DetectionCache` (the panels' and
    effects' eye detection)."""
    return _CACHE.faces(image)
