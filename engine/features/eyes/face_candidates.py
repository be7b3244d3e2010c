"""Finding faces with OpenCV's Haar cascades: a wide search, then a check of each find.

1. Search: a copy of the image, local contrast equalised (CLAHE, so a face
   half in shadow keeps its features), at most `SEARCH_SIDE` px long unless
   that would show a `MIN_FACE` (60 px) face below the cascades' 20 px
   window, is searched by the frontal "alt2" cascade, upright and turned by
   +-25 degrees (each search covers about +-15 degrees of head roll, so a
   head tilted up to 40 degrees is found); the three passes run at once.
2. Merge: candidates whose boxes overlap (intersection over the smaller box
   >= 0.5) are one face; the group keeps the box and angle of its strongest
   member (the most cascade neighbours) and counts its votes.
3. Check: each merged candidate is cut out of the full-resolution image,
   turned upright and scaled so the face is `CHECK_FACE` px wide. There the
   three frontal cascades (default, alt, alt2) vote on a face at that place
   and size, and the eye cascades look for eyes in its upper half: all three
   cascades, or two and an eye, make a face (a lit spoon fooled two cascades;
   a face half in shadow convinces only two). A colour image's face must also
   be at least `MIN_SKIN` skin-coloured in its middle.

The result is a list of `Candidate`s: the face box in the upright crop, the
eye boxes there, and the affine matrix from the image to that crop, so the
caller can place eyes on tilted faces.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

# Smallest face searched for, in full-resolution pixels.
MIN_FACE = 60
# The search copy is SEARCH_SIDE px long, or longer where that would show a
# MIN_FACE face smaller than the cascades' smallest window (SEARCH_WINDOW px).
SEARCH_SIDE = 1000
SEARCH_WINDOW = 20
# Scale factor between the search's window sizes, upright and turned (the check
# then finds the exact size). On `bench faces` 1.15 upright and 1.3 turned find
# what 1.1 and 1.2 found at 0.7x the windows; 1.2 upright lost a face and
# let a false one through.
SEARCH_STEP = 1.15
TURN_STEP = 1.3
# "alt2" found the most faces of the four frontal cascades on the test pictures;
# "default" and the profile cascade (both ways) added none, at 0.4-0.7 s each.
SEARCH_CASCADE = "haarcascade_frontalface_alt2.xml"
# Neighbours a search find needs (OpenCV's minNeighbors): 1 keeps weak finds for
# the check (on LFW faces not used in tuning, 27 of 32 found against 26 with 2,
# no false face either way).
SEARCH_NEIGHBOURS = 1
# Contrast limit of the local equalisation (OpenCV's CLAHE clip limit).
CLAHE_LIMIT = 2.0
# Image turns searched for tilted heads (degrees, OpenCV's counter-clockwise sign).
TURNS = (25.0, -25.0)
# Face width in the upright check crop, and the crop's side as a multiple of it.
CHECK_FACE = 96
CHECK_MARGIN = 1.9
# Candidates overlapping this much (intersection over the smaller box) are one face.
MERGE_OVERLAP = 0.5
# A colour face must have at least this fraction of skin-coloured pixels in its middle.
MIN_SKIN = 0.3


@dataclass(frozen=True)
class Candidate:
    """A checked face: `box` (x, y, w, h) and `eyes` (N, 4) boxes in the upright crop
    that `matrix` ((2, 3), image -> crop) maps the image into; `centre`, `width`
    and `angle` in image pixels and degrees; `votes` of the search."""

    centre: tuple[float, float]
    width: float
    angle: float
    box: tuple[int, int, int, int]
    eyes: np.ndarray
    matrix: np.ndarray
    votes: int


_LOADED = threading.local()
# The turned passes and the checks run beside the upright pass (OpenCV lets go
# of the GIL): on the 12 MP group the three passes took 0.82x their time one
# after another at load average 4.6, and the same at 6 (no core left idle).
_POOL = ThreadPoolExecutor(max_workers=3, thread_name_prefix="face-search")


def cascade(name: str) -> object:
    """An OpenCV Haar cascade shipped with opencv-python-headless 4.x, loaded once per
    thread (a classifier is not safe to use from two threads at once, and the job
    lanes may detect faces at the same time)."""
    import cv2

    loaded: dict[str, object] = _LOADED.__dict__.setdefault("cascades", {})
    if name not in loaded:
        clf = cv2.CascadeClassifier(cv2.data.haarcascades + name)  # type: ignore[attr-defined]
        if clf.empty():
            raise RuntimeError(
                f"OpenCV's {name} did not load (opencv-python-headless 4.x ships it)"
            )
        loaded[name] = clf
    return loaded[name]


def _hits(
    clf_name: str, grey: np.ndarray, min_size: int, neighbours: int = 3, step: float = 1.1
) -> list[tuple[float, float, float, int]]:
    """(centre x, centre y, width, neighbours) of each cascade hit; `step` is the scale
    factor between window sizes."""
    clf = cascade(clf_name)
    boxes, counts = clf.detectMultiScale2(  # type: ignore[attr-defined]
        grey, scaleFactor=step, minNeighbors=neighbours, minSize=(min_size, min_size)
    )
    return [
        (x + w / 2.0, y + h / 2.0, float(w), int(n))
        for (x, y, w, h), n in zip(np.asarray(boxes).reshape(-1, 4), np.ravel(counts), strict=True)
    ]


def _normalise(grey: np.ndarray) -> np.ndarray:
    """Local contrast equalisation (CLAHE): a face in shadow or against a bright
    background gets the contrast the cascades were trained on."""
    import cv2

    tiles = max(2, min(8, min(grey.shape) // 64))
    clahe = cv2.createCLAHE(clipLimit=CLAHE_LIMIT, tileGridSize=(tiles, tiles))
    return clahe.apply(grey)


def _turned(grey: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """`grey` turned by `angle` degrees on a canvas that holds all of it, and the (2, 3) matrix."""
    import cv2

    h, w = grey.shape
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)

    m[:, 2] += np.array([(nw - w) / 2.0, (nh - h) / 2.0])
    return cv2.warpAffine(grey, m, (nw, nh), flags=cv2.INTER_LINEAR), m


def search(grey: np.ndarray) -> list[tuple[float, float, float, float, int]]:
    """Raw candidates (centre x, centre y, width, angle, neighbours) in full-resolution pixels."""
    import cv2

    scale = min(1.0, max(SEARCH_SIDE / max(grey.shape), SEARCH_WINDOW / MIN_FACE))
    small = grey
    if scale < 1.0:
        size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    small = _normalise(small)
    window = max(SEARCH_WINDOW, round(MIN_FACE * scale))
    found: list[tuple[float, float, float, float, int]] = []

    def add(
        hits: list[tuple[float, float, float, int]], m: np.ndarray | None, angle: float
    ) -> None:
        for cx, cy, w, n in hits:
            if m is not None:
                inv = cv2.invertAffineTransform(m)
                cx, cy = inv @ np.array([cx, cy, 1.0])
            found.append((cx / scale, cy / scale, w / scale, angle, n))

    def turned(angle: float) -> tuple[list[tuple[float, float, float, int]], np.ndarray]:
        copy, m = _turned(small, angle)
        return _hits(SEARCH_CASCADE, copy, window, SEARCH_NEIGHBOURS, TURN_STEP), m

    passes = [_POOL.submit(turned, angle) for angle in TURNS]
    add(_hits(SEARCH_CASCADE, small, window, SEARCH_NEIGHBOURS, SEARCH_STEP), None, 0.0)
    for angle, done in zip(TURNS, passes, strict=True):
        add(*done.result(), angle)
    return found


def merge(
    raw: list[tuple[float, float, float, float, int]],
) -> list[tuple[float, float, float, float, int]]:
    """One (centre x, centre y, width, angle, votes) per group of overlapping candidates."""
    order = sorted(raw, key=lambda c: (-c[4], -c[2]))
    groups: list[list[tuple[float, float, float, float, int]]] = []
    for cand in order:
        for group in groups:
            if _overlap(group[0], cand) >= MERGE_OVERLAP:
                group.append(cand)
                break
        else:
            groups.append([cand])
    return [(g[0][0], g[0][1], g[0][2], g[0][3], len(g)) for g in groups]


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over the smaller of two square boxes given by centre and width."""
    ix = min(a[0] + a[2] / 2, b[0] + b[2] / 2) - max(a[0] - a[2] / 2, b[0] - b[2] / 2)
    iy = min(a[1] + a[2] / 2, b[1] + b[2] / 2) - max(a[1] - a[2] / 2, b[1] - b[2] / 2)
    if ix <= 0 or iy <= 0:
        return 0.0
    return ix * iy / min(a[2], b[2]) ** 2


def upright_crop(
    image: np.ndarray, centre: tuple[float, float], width: float, angle: float
) -> tuple[np.ndarray, np.ndarray]:
    """The check crop around a face (turned by `angle`, face `CHECK_FACE` px wide) and
    its (2, 3) image -> crop matrix."""
    import cv2

    side = int(round(CHECK_FACE * CHECK_MARGIN))
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, CHECK_FACE / width)
    m[:, 2] += np.array([side / 2.0 - centre[0], side / 2.0 - centre[1]])
    interp = cv2.INTER_AREA if width > CHECK_FACE else cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, m, (side, side), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    return crop, m


def _skin_fraction(rgb_crop: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Fraction of skin-coloured pixels (YCrCb) in the middle of `box` of a uint8 RGB crop."""
    import cv2

    x, y, w, h = box
    middle = rgb_crop[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4]
    ycc = cv2.cvtColor(np.ascontiguousarray(middle), cv2.COLOR_RGB2YCrCb).astype(np.int16)
    cr, cb = ycc[..., 1], ycc[..., 2]
    skin = (cr > 130) & (cr < 185) & (cb > 70) & (cb < 135)
    return float(skin.mean()) if skin.size else 0.0


def _is_colour(rgb: np.ndarray) -> bool:
    step = max(1, max(rgb.shape[:2]) // 256)
    sample = rgb[::step, ::step].astype(np.int16)
    return bool(np.abs(sample - sample.mean(axis=2, keepdims=True)).mean() > 2.0)


def find_eyes(grey: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(N, 4) eye boxes (x, y, w, h) of the upright face `box` in `grey`.

    The eye cascades look at a band a little wider than the face's upper part
    (they miss eyes that touch the band's edge) and keep boxes centred 0.15-0.6
    of the face's height down, at most two per cascade tried.
    """
    x, y, w, h = box
    top, bottom = max(0, y), min(grey.shape[0], y + int(0.75 * h))
    left, right = max(0, x - w // 10), min(grey.shape[1], x + w + w // 10)
    roi = grey[top:bottom, left:right]
    eyes: list[np.ndarray] = []
    for name in ("haarcascade_eye.xml", "haarcascade_eye_tree_eyeglasses.xml"):
        found = cascade(name).detectMultiScale(  # type: ignore[attr-defined]
            roi,
            scaleFactor=1.05,
            minNeighbors=2,
            minSize=(max(6, w // 10), max(6, w // 10)),
            maxSize=(w // 2, w // 2),
        )
        for bx, by, bw, bh in found:
            cy = by + top + bh / 2.0
            if y + 0.15 * h < cy < y + 0.6 * h and x < bx + left + bw / 2.0 < x + w:
                eyes.append(np.array([bx + left, by + top, bw, bh], np.float64))
        if len(eyes) >= 2:
            break
    return np.array(eyes, np.float64).reshape(-1, 4)


def check(
    rgb: np.ndarray, grey: np.ndarray, cand: tuple[float, float, float, float, int]
) -> Candidate | None:
    """The candidate as a `Candidate` when the check crop confirms a face there, else None.

    `rgb` is the (H, W, 3) uint8 image and `grey` its grey copy at full resolution.
    """
    import cv2

    cx, cy, width, angle, votes = cand
    crop, m = upright_crop(grey, (cx, cy), width, angle)
    crop = _normalise(crop)
    side = crop.shape[0]
    middle = (side / 2.0, side / 2.0, float(CHECK_FACE))
    agree: list[tuple[float, float, float, int]] = []
    for name in (
        "haarcascade_frontalface_default.xml",
        "haarcascade_frontalface_alt.xml",
        "haarcascade_frontalface_alt2.xml",
    ):
        hits = [
            h
            for h in _hits(name, crop, int(CHECK_FACE * 0.6), neighbours=2)
            if _overlap(h, middle) >= 0.5 and 0.6 < h[2] / CHECK_FACE < 1.6
        ]
        if hits:
            agree.append(max(hits, key=lambda h: h[3]))
    if not agree or (len(agree) < 2 and votes < 2):
        return None
    fx, fy, fw = (float(np.median([a[i] for a in agree])) for i in range(3))
    box = (int(round(fx - fw / 2)), int(round(fy - fw / 2)), int(round(fw)), int(round(fw)))
    x, y, w, h = box
    eyes = find_eyes(crop, box)
    if rgb.ndim == 3 and _is_colour(rgb):
        colour, _ = upright_crop(rgb, (cx, cy), width, angle)
        if _skin_fraction(colour, box) < MIN_SKIN:
            return None
    # All three face cascades, or two of them and an eye (a lit spoon fooled two).
    if len(agree) + (1 if len(eyes) else 0) < 3:
        return None
    # The crop's face box back in image pixels: centre and width.
    inv = cv2.invertAffineTransform(m)
    centre = inv @ np.array([fx, fy, 1.0])
    zoom = CHECK_FACE / width
    return Candidate(
        centre=(float(centre[0]), float(centre[1])),
        width=fw / zoom,
        angle=angle,
        box=box,
        eyes=eyes,
        matrix=m,
        votes=votes,
    )


def find_faces(rgb: np.ndarray) -> list[Candidate]:
    """Checked faces of an (H, W, 3) uint8 RGB image, largest first, overlaps removed."""
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    candidates = merge(search(grey))
    checked = [c for c in _POOL.map(lambda cand: check(rgb, grey, cand), candidates) if c]
    checked.sort(key=lambda c: -c.width)
    kept: list[Candidate] = []
    for c in checked:
        sq = (c.centre[0], c.centre[1], c.width)
        if all(_overlap(sq, (k.centre[0], k.centre[1], k.width)) < MERGE_OVERLAP for k in kept):
            kept.append(c)
    return kept
