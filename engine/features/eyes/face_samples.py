"""Pictures with known faces for the face-detection tests and `warpaint bench faces`.

Everything is built at run time from images scikit-image ships (nothing is
copied into the repository):

- `group_picture`: real face crops from `skimage.data.lfw_subset()` (Labeled
  Faces in the Wild, grey 25x25), upscaled, tinted with a skin tone and pasted
  with soft edges on a real background (the brick and gravel textures, the
  coffee cup, Chelsea the cat); some are turned by up to 30 degrees and some
  are half in shadow. The boxes are known from the placement.
- `false_face_picture`: no human face at all: lfw_subset's 100 non-face crops,
  the brick, gravel and grass textures, the coffee cup, the rocket and the cat.

The face labels of the real photos (astronaut, camera) were drawn by eye and
live with the tests (`tests/data/faces/labels.json`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Skin tones (RGB multipliers of the grey crop), light to dark.
SKIN_TONES = (
    (1.0, 0.84, 0.72),
    (0.98, 0.78, 0.62),
    (0.86, 0.64, 0.48),
    (0.66, 0.46, 0.33),
    (0.48, 0.33, 0.24),
)
# (lfw face index, size as a fraction of the base size, angle in degrees, half in shadow)
# The detector was tuned on these; `random_faces` draws others from HELD_OUT.
GROUP_FACES = (
    (0, 1.0, 0.0, False),
    (3, 1.1, 15.0, False),
    (7, 0.9, -30.0, False),
    (12, 1.2, 0.0, True),
    (21, 1.0, 25.0, False),
    (33, 0.95, -12.0, False),
    (45, 1.15, 0.0, False),
    (58, 1.05, 30.0, True),
)


HELD_OUT = range(60, 100)


def random_faces(seed: int, count: int = 8) -> tuple[tuple[int, float, float, bool], ...]:
    """`count` faces like GROUP_FACES drawn from the LFW faces the detector was not
    tuned on: turned by 0, +-10, +-20 or +-30 degrees, a quarter half in shadow."""
    rng = np.random.default_rng(seed)
    index = rng.choice(np.asarray(HELD_OUT), count, replace=False)
    angle = rng.choice([0.0, 0.0, -30.0, -20.0, -10.0, 10.0, 20.0, 30.0], count)
    shadow = rng.random(count) < 0.25
    return tuple(
        (int(i), float(rng.uniform(0.9, 1.2)), float(a), bool(d))
        for i, a, d in zip(index, angle, shadow, strict=True)
    )


@dataclass(frozen=True)
class SampleFace:
    """A placed face: box (x, y, w, h) around its centre at its upright size, its angle."""

    box: tuple[int, int, int, int]
    angle: float
    shadow: bool


def _rgb(grey: np.ndarray, tint: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    g = np.asarray(grey, np.float32)
    if g.max() > 1.0:
        g = g / 255.0
    return np.clip(g[..., None] * np.asarray(tint, np.float32), 0.0, 1.0)


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    return cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)


def _background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A wall of brick above a gravel floor, with the coffee cup and the cat on it."""
    from skimage import data

    bg = np.zeros((height, width, 3), np.float32)
    wall_h = int(height * 0.6)
    brick = _rgb(data.brick(), (0.85, 0.55, 0.45))
    tile = max(64, width // 5)
    brick = _resize(brick, tile, tile)
    for y in range(0, wall_h, tile):
        for x in range(0, width, tile):
            part = brick[: min(tile, wall_h - y), : min(tile, width - x)]
            bg[y : y + part.shape[0], x : x + part.shape[1]] = part
    gravel = _resize(_rgb(data.gravel(), (0.75, 0.7, 0.6)), width, height - wall_h)
    bg[wall_h:] = gravel
    for picture, frac, pos in (
        (data.coffee(), 0.22, (0.05, 0.68)),
        (data.chelsea(), 0.25, (0.7, 0.65)),
    ):
        pw = int(width * frac)
        ph = int(pw * picture.shape[0] / picture.shape[1])
        x, y = int(pos[0] * width), min(height - ph, int(pos[1] * height))
        bg[y : y + ph, x : x + pw] = _resize(picture.astype(np.float32) / 255.0, pw, ph)
    noise = rng.normal(0.0, 0.01, bg.shape).astype(np.float32)
    return np.clip(bg + noise, 0.0, 1.0)


def _paste(
    canvas: np.ndarray, patch: np.ndarray, centre: tuple[float, float], angle: float
) -> None:
    """Blend `patch` (h, w, 3) onto `canvas`, turned by `angle` degrees about `centre`."""
    import cv2

    h, w = patch.shape[:2]
    feather = max(2, w // 12)
    alpha = np.ones((h, w), np.float32)
    ramp = np.linspace(0.0, 1.0, feather, dtype=np.float32)
    alpha[:feather] *= ramp[:, None]
    alpha[-feather:] *= ramp[::-1, None]
    alpha[:, :feather] *= ramp[None, :]
    alpha[:, -feather:] *= ramp[None, ::-1]
    side = int(np.ceil(np.hypot(w, h))) + 2
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    m[:, 2] += (side - w) / 2.0, (side - h) / 2.0
    big = cv2.warpAffine(patch, m, (side, side), flags=cv2.INTER_LINEAR)
    big_a = cv2.warpAffine(alpha, m, (side, side), flags=cv2.INTER_LINEAR)[..., None]
    x0, y0 = int(round(centre[0] - side / 2.0)), int(round(centre[1] - side / 2.0))
    region = canvas[y0 : y0 + side, x0 : x0 + side]
    region[:] = region * (1.0 - big_a) + big * big_a


def group_picture(
    width: int = 1600,
    height: int = 1000,
    face_size: int = 120,
    seed: int = 0,
    faces: tuple[tuple[int, float, float, bool], ...] = GROUP_FACES,
) -> tuple[np.ndarray, list[SampleFace]]:
    """(H, W, 3) uint8 picture of LFW faces on a real background, and their boxes.

    Faces are about `face_size` px wide (times their size fraction), in two
    rows; with the default `faces` three are turned by 25-30 degrees, two by
    12-15, two are half in shadow.
    """
    from skimage import data

    rng = np.random.default_rng(seed)
    lfw = data.lfw_subset()
    canvas = _background(width, height, rng)
    placed: list[SampleFace] = []
    cols = (len(faces) + 1) // 2
    for i, (index, frac, angle, shadow) in enumerate(faces):
        row, col = divmod(i, cols)
        size = int(round(face_size * frac))
        tone = SKIN_TONES[(index + i) % len(SKIN_TONES)]
        patch = _resize(_rgb(lfw[index], tone), size, size)
        if shadow:
            patch[:, : size // 2] *= 0.35
        cx = (col + 0.5 + rng.uniform(-0.15, 0.15)) * width / cols
        cy = (0.3 + 0.38 * row + rng.uniform(-0.04, 0.04)) * height
        _paste(canvas, patch, (cx, cy), angle)
        box = (int(round(cx - size / 2)), int(round(cy - size / 2)), size, size)
        placed.append(SampleFace(box, angle, shadow))
    return np.round(canvas * 255.0).astype(np.uint8), placed


def false_face_picture() -> np.ndarray:
    """(H, W, 3) uint8 picture with no human face: LFW non-faces, textures, objects, a cat."""
    from skimage import data

    lfw = data.lfw_subset()[100:]
    tile = 80
    canvas = np.zeros((1200, 1800, 3), np.float32)
    for i, crop in enumerate(lfw):
        r, c = divmod(i, 10)
        tone = SKIN_TONES[i % len(SKIN_TONES)]
        canvas[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = _resize(
            _rgb(crop, tone), tile, tile
        )
    x0 = 10 * tile
    for k, (tex, tint) in enumerate(
        (
            (data.brick(), (0.85, 0.55, 0.45)),
            (data.gravel(), (0.8, 0.75, 0.65)),
            (data.grass(), (0.6, 0.8, 0.5)),
        )
    ):
        canvas[k * 400 : (k + 1) * 400, x0 : x0 + 400] = _resize(_rgb(tex, tint), 400, 400)
    x1 = x0 + 400
    for k, picture in enumerate((data.coffee(), data.rocket(), data.chelsea())):
        canvas[k * 400 : (k + 1) * 400, x1 : x1 + 600] = _resize(
            picture.astype(np.float32) / 255.0, 600, 400
        )
    canvas[800:1200, :x0] = _resize(_rgb(data.camera()[300:], (0.9, 0.9, 0.9)), x0, 400)
    return np.round(canvas * 255.0).astype(np.uint8)
