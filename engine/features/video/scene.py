"""A generated moving scene, for the video benchmark and tests: a photo
panned and zoomed under the camera, with a second picture (a disc) moving
across it on its own path, so the flow has an occluding object with its own
motion and uncovered background behind it."""

from __future__ import annotations

from functools import cache

import numpy as np


@cache
def _photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.stereo_motorcycle()[0])


@cache
def _disc_picture() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[20:300, 120:400])


def moving_scene(width: int = 1280, height: int = 720, frames: int = 60) -> list[np.ndarray]:
    """`frames` (height, width, 3) uint8 RGB frames: the camera pans right
    and down across a photo while zooming in by 20 %, and a disc of another
    picture (a quarter of the height across) moves from the left to the
    right on an arc."""
    import cv2

    photo = _photo()
    ph, pw = photo.shape[:2]
    # The photo covers the frame with room to pan at the widest view.
    base = 1.25 * max(width / pw, height / ph)
    disc = _disc_picture()
    radius = max(4, height // 8)
    side = 2 * radius
    disc = cv2.resize(disc, (side, side), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[:side, :side]
    alpha = np.clip(radius - np.hypot(xx - radius + 0.5, yy - radius + 0.5), 0, 1)[..., None]
    out = []
    for t in range(frames):
        s = t / max(1, frames - 1)
        zoom = base * (1.0 + 0.2 * s)
        # The photo's point under the frame's centre moves right and down.
        cx = pw * (0.42 + 0.16 * s)
        cy = ph * (0.45 + 0.10 * s)
        matrix = np.array(
            [[zoom, 0.0, width / 2 - zoom * cx], [0.0, zoom, height / 2 - zoom * cy]],
            dtype=np.float64,
        )
        frame = cv2.warpAffine(
            photo, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
        ).astype(np.float32)
        x = round((0.1 + 0.8 * s) * width) - radius
        y = round((0.65 - 0.35 * np.sin(np.pi * s)) * height) - radius
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(width, x + side), min(height, y + side)
        if x1 > x0 and y1 > y0:
            a = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
            patch = disc[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
            frame[y0:y1, x0:x1] = a * patch + (1 - a) * frame[y0:y1, x0:x1]
        out.append(np.clip(frame + 0.5, 0, 255).astype(np.uint8))
    return out
