"""Real eyes with labelled irises, and how much of an iris a blink covers with lid.

The eyes (labels in `tests/data/faces/eyes.json`, drawn once by eye; the
pictures are built at run time from what scikit-image ships, but for one
public-domain portrait kept beside the labels):

- "astronaut": both eyes of `skimage.data.astronaut()` (512x512, public domain);
- "lfw": eyes of real faces of `skimage.data.lfw_subset()` (grey 25x25
  crops), upscaled to 120 px and tinted with a skin tone as
  `face_samples.group_picture` places them (corner distances about 20 px,
  blurred by the upscale: the small faces of a group photo);
- "hopper": both eyes of matplotlib's sample portrait of Grace Hopper (an
  older woman with glasses, eyes about 25 px wide), public domain, the one
  picture kept in the repository (`tests/data/faces/grace_hopper.jpg`).

Each eye has its corners ([inner, outer], which frame the effect's region
through `attributes.eye_region`), its iris box and a box of its own skin
above the eye (lid or brow skin free of lashes and brow hairs); the
astronaut's also points on their lid margins.

Lid coverage (`lid_coverage`): of the iris's dark pixels before the edit
(luma < 0.25; the darker half of the iris when fewer are that dark), the
share that afterwards looks like lid: skin-toned (chromaticity within
`CHROMA_TOLERANCE` of the skin box's median) and as bright as skin (luma
from `LASH_DARK` times the skin's up to a bright patch's), or lash-dark on the lash
line (the bottom `LASH_ROWS` of the iris box, where the closed lid's edge
lies). What is neither is counted as grey, saturated (off the skin's hue),
bright or dark.

    python -m warpaint.engine.features.eyes.real_eyes OUT.png

writes the contact sheet of docs/attributes.md: every labelled eye at
openness 0, -1 and -2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

EYE_LABELS = Path(__file__).resolve().parents[3] / "tests" / "data" / "faces" / "eyes.json"
# Classification of a pixel after the edit, relative to the skin box's median.
CHROMA_TOLERANCE = 0.04  # Euclidean distance of rgb / (r + g + b)
LASH_DARK = 0.5  # darker than this fraction of the skin's luma is lash-dark
# A bright patch: brighter than BRIGHT times the skin's luma (plus 0.04), or than halfway
# from the skin to white.
BRIGHT = 1.3
DARK_LUMA = 0.25
LASH_ROWS = 0.2  # the lash line: this bottom fraction of the iris box's rows
LFW_FACE_SIZE = 120

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class RealEye:
    """One labelled eye: its picture ((H, W, 3) float32 in [0, 1]) and labels in its pixels."""

    name: str
    image: np.ndarray
    corners: np.ndarray  # (2, 2) [inner, outer] (x, y)
    iris: Box  # x, y, w, h
    skin: Box
    # Points on the lid margins, {"upper": (K, 2), "lower": (K, 2)} (x, y); None: not labelled.
    lids: dict[str, np.ndarray] | None = None

    def region(self) -> tuple[tuple[float, float, float, float], bool]:
        """(region (x, y, w, h), mirror) that frames this eye for the eye model."""
        from warpaint.engine.features.eyes.attributes import eye_region

        return eye_region(self.corners.tolist())


def _box(values: Any) -> Box:
    x, y, w, h = (float(v) for v in values)
    return (x, y, w, h)


def _lids(values: Any) -> dict[str, np.ndarray] | None:
    if not values:
        return None
    return {k: np.asarray(values[k], np.float64).reshape(-1, 2) for k in ("upper", "lower")}


def lfw_face(index: int, tone: int, size: int = LFW_FACE_SIZE) -> np.ndarray:
    """(size, size, 3) float32: LFW face `index` upscaled and tinted as group pictures place it."""
    from skimage import data

    from warpaint.engine.features.eyes.face_samples import SKIN_TONES, _resize, _rgb

    face = _resize(_rgb(data.lfw_subset()[index], SKIN_TONES[tone]), size, size)
    return np.clip(face, 0.0, 1.0).astype(np.float32)


def labelled_picture(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a picture kept beside the labels (a public-domain
    portrait that no installed package ships under a stable name)."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def real_eyes(labels: Path = EYE_LABELS) -> dict[str, list[RealEye]]:
    """{set name: its labelled eyes}; {} when the label file is missing (an installed copy)."""
    from skimage import data

    if not labels.is_file():
        return {}
    sets = json.loads(labels.read_text())["sets"]
    out: dict[str, list[RealEye]] = {}
    for set_name, entry in sets.items():
        eyes: list[RealEye] = []
        for picture in entry["pictures"]:
            if "lfw" in picture:
                image = lfw_face(int(picture["lfw"]), int(picture["tone"]))
                name = f"lfw{picture['lfw']}"
            elif "file" in picture:
                image = labelled_picture(labels.parent / picture["file"]).astype(np.float32) / 255.0
                name = Path(picture["file"]).stem
            else:
                image = np.asarray(getattr(data, picture["skimage"])(), np.float32) / 255.0
                name = str(picture["skimage"])
            for eye in picture["eyes"]:
                eyes.append(
                    RealEye(
                        f"{name}:{eye['side']}",
                        image,
                        np.asarray(eye["corners"], np.float64),
                        _box(eye["iris"]),
                        _box(eye["skin"]),
                        _lids(eye.get("lids")),
                    )
                )
        out[set_name] = eyes
    return out


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114)


def _chroma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb / np.maximum(rgb.sum(axis=-1, keepdims=True), 1e-4))


def iris_mask(shape: tuple[int, int], iris: Box) -> np.ndarray:
    """(H, W) bool: pixel centres inside the ellipse inscribed in the iris box."""
    x, y, w, h = iris
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    u = (xs + 0.5 - (x + w / 2.0)) / (w / 2.0)
    v = (ys + 0.5 - (y + h / 2.0)) / (h / 2.0)
    return np.asarray(u * u + v * v <= 1.0)


def skin_colour(image: np.ndarray, skin: Box) -> np.ndarray:
    """(3,) median colour of the skin box."""
    x, y, w, h = (int(round(v)) for v in skin)
    return np.asarray(np.median(image[y : y + h, x : x + w, :3].reshape(-1, 3), axis=0))


def lid_coverage(before: np.ndarray, after: np.ndarray, iris: Box, skin: Box) -> dict[str, float]:
    """Shares of the iris's dark pixels (see the module's docstring) that after the
    edit are lid ("covered": skin-toned plus lash line), and that are not:
    "grey", "saturated", "bright", "dark". `before`, `after`: (H, W, 3) float."""
    inside = iris_mask(before.shape[:2], iris)
    luma_before = _luma(before[..., :3])
    dark = inside & (luma_before < DARK_LUMA)
    if dark.sum() < 0.5 * inside.sum():
        dark = inside & (luma_before <= np.median(luma_before[inside]))
    ref = skin_colour(before, skin)
    ref_luma, ref_chroma = float(_luma(ref)), _chroma(ref)
    px = after[..., :3][dark]
    luma = _luma(px)
    chroma = _chroma(px)
    off = np.linalg.norm(chroma - ref_chroma, axis=-1)
    hued = off <= CHROMA_TOLERANCE
    too_dark = luma < LASH_DARK * ref_luma
    too_bright = luma > min(BRIGHT * ref_luma + 0.04, 0.5 * (ref_luma + 1.0))
    skin_toned = hued & ~too_dark & ~too_bright
    rows = np.nonzero(dark)[0]
    x, y, w, h = iris
    lash_line = rows + 0.5 >= y + h * (1.0 - LASH_ROWS)
    lash = too_dark & lash_line & ~skin_toned
    # Off the skin's hue: nearer neutral grey than the skin is, or farther from it.
    neutral = np.linalg.norm(chroma - 1.0 / 3.0, axis=-1)
    ref_neutral = float(np.linalg.norm(ref_chroma - 1.0 / 3.0))
    wrong = ~skin_toned & ~lash
    n = max(1, int(dark.sum()))

    def share(mask: np.ndarray) -> float:
        return round(float(mask.sum()) / n, 4)

    return {
        "dark_pixels": int(dark.sum()),
        "covered": share(skin_toned | lash),
        "skin": share(skin_toned),
        "lash": share(lash),
        "grey": share(wrong & ~too_dark & ~too_bright & ~hued & (neutral < ref_neutral)),
        "saturated": share(wrong & ~too_dark & ~too_bright & ~hued & (neutral >= ref_neutral)),
        "bright": share(wrong & too_bright),
        "dark": share(wrong & too_dark),
    }


def blink(eye: RealEye, openness: float, model: Any = None) -> np.ndarray:
    """(H, W, 3) float32: `eye`'s picture with the attributes effect's openness
    slider at `openness` on its region (`model`: an AttributeModel, None for the built-in one)."""
    import torch

    from warpaint.engine.features.eyes.attributes import edit_region

    if model is None:
        from warpaint.engine.features.eyes.effect_attributes import load

        model = load(None, "cpu")
    rgb = torch.from_numpy(np.ascontiguousarray(eye.image[..., :3], np.float32))
    image = torch.cat([rgb.permute(2, 0, 1)[None], torch.ones(1, 1, *rgb.shape[:2])], dim=1)
    region, mirror = eye.region()
    with torch.inference_mode():
        out = edit_region(model, image, region, {"openness": float(openness)}, mirror=mirror)
    return np.ascontiguousarray(out[0, :3].permute(1, 2, 0).numpy())


def blink_coverage(
    eyes: dict[str, list[RealEye]], openness: float = -2.0, model: Any = None
) -> dict[str, dict[str, Any]]:
    """Per eye set: the mean lid coverage at `openness` and each eye's figures."""
    result: dict[str, dict[str, Any]] = {}
    for set_name, members in eyes.items():
        per_eye = {
            eye.name: lid_coverage(eye.image, blink(eye, openness, model), eye.iris, eye.skin)
            for eye in members
        }
        covered = [e["covered"] for e in per_eye.values()]
        result[set_name] = {
            "eyes": len(members),
            "covered_mean": round(float(np.mean(covered)), 3) if covered else None,
            "covered_min": round(float(np.min(covered)), 3) if covered else None,
            "per_eye": per_eye,
        }
    return result


def contact_sheet(
    eyes: list[RealEye],
    openness: tuple[float, ...] = (0.0, -1.0, -2.0),
    tile: tuple[int, int] = (120, 160),
    model: Any = None,
) -> np.ndarray:
    """(H, W, 3) float32: one row per eye, one column per openness value; each tile
    is the eye's region (and a tenth of it around) scaled to `tile` (h, w)."""
    from PIL import Image

    rows = []
    for eye in eyes:
        (x, y, w, h), _ = eye.region()
        ih, iw = eye.image.shape[:2]
        x0, y0 = max(0, int(x - 0.1 * w)), max(0, int(y - 0.1 * h))
        x1, y1 = min(iw, int(np.ceil(x + 1.1 * w))), min(ih, int(np.ceil(y + 1.1 * h)))
        tiles = []
        for value in openness:
            picture = blink(eye, value, model) if value else eye.image
            u8 = (np.clip(picture[y0:y1, x0:x1, :3], 0, 1) * 255 + 0.5).astype(np.uint8)
            big = Image.fromarray(u8).resize((tile[1], tile[0]), Image.Resampling.LANCZOS)
            tiles.append(np.asarray(big, np.float32) / 255.0)
            tiles.append(np.ones((tile[0], 4, 3), np.float32))
        rows.append(np.concatenate(tiles[:-1], axis=1))
        rows.append(np.ones((4, rows[-1].shape[1], 3), np.float32))
    return np.concatenate(rows[:-1], axis=0)


def main(argv: list[str] | None = None) -> int:
    """Write the blink contact sheet (every labelled real eye at openness 0, -1, -2) to a PNG."""
    import argparse

    import torch
    from PIL import Image

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out", help="the PNG to write")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    eyes = [eye for members in real_eyes().values() for eye in members]
    sheet = contact_sheet(eyes)
    Image.fromarray((np.clip(sheet, 0, 1) * 255 + 0.5).astype(np.uint8)).save(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
